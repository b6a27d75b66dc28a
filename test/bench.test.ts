/**
 * Every benchmark of `npm run bench`, at a tiny size, so a benchmark that stops working (an API it
 * drives changed, a permission, its seed, the build it imports) fails here instead of on the day
 * someone runs it. Nothing about speed is asserted: benchmarks print ratios for people to read,
 * and timings on a shared machine are no pass/fail signal (docs/performance.md). On a PostgreSQL
 * server (TEST_DATABASE_URL) the database benchmarks run against it, as `npm run bench` does with
 * BENCH_DATABASE_URL.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { benchInventory } from '../bench/inventory.js';
import { benchConfiguration } from '../bench/configuration.js';
import { benchDeployments } from '../bench/deployments.js';
import { benchHealth } from '../bench/health.js';
import { benchDiff, benchScans } from '../bench/drift.js';
import { benchColdImport, benchPointRead } from '../bench/pipeline.js';
import { benchPolicyRead, benchRender } from '../bench/scaling.js';
import type { BenchResult } from '../bench/stats.js';
import { buildApp } from '../scripts/build.js';

/** Each result is a measurement: finite, non-negative medians and ratio, a target. */
function expectMeasured(results: BenchResult[], count: number): void {
  expect(results).toHaveLength(count);
  for (const r of results) {
    expect(r.name).toBeTruthy();
    for (const v of [r.baselineMedianMs, r.medianMs, r.ratio]) {
      expect(Number.isFinite(v), `${r.name}: ${v}`).toBe(true);
      expect(v).toBeGreaterThanOrEqual(0);
    }
    expect(r.target).toBeGreaterThanOrEqual(0);
  }
}

// Built inside the checkout (git-ignored) so the bundle resolves node_modules like dist/ does.
const buildDir = join(process.cwd(), '.local', `bench-${process.pid}`);
afterAll(() => rm(buildDir, { recursive: true, force: true }));

describe('benchmarks at a tiny size', () => {
  it('pipeline: a point read through the pipeline and as raw pg', async () => {
    expectMeasured(await benchPointRead({ iterations: 3, warmup: 1 }), 1);
  });

  it('inventory: seeds as the owner, pages through the pipeline and raw SQL alike, prints the plans', async () => {
    const log = console.log;
    console.log = () => undefined;
    try {
      expectMeasured(await benchInventory({ environments: 4, iterations: 2, warmup: 1 }), 2);
    } finally {
      console.log = log;
    }
  });

  it('configuration: the sync read (304) and a 500-setting version, through the pipeline and as raw SQL', async () => {
    expectMeasured(await benchConfiguration({ iterations: 3, warmup: 1, writes: 3 }), 2);
  });

  it('scaling: renders for every target, reads the policy through the pipeline and as raw pg', async () => {
    expectMeasured(await benchRender({ iterations: 2, warmup: 1, batch: 2 }), 4);
    expectMeasured(await benchPolicyRead({ services: 3, iterations: 2, warmup: 1 }), 1);
  });
  it('deployments: uploads a log through the handler and raw, pages history through the pipeline and raw SQL alike', async () => {
    expectMeasured(await benchDeployments({ logMiB: 1, deployments: 250, iterations: 2, warmup: 1 }), 2);
  }, 120_000);

  it('health: ingests batches through the handler and as raw INSERTs, reads the latest status both ways', async () => {
    expectMeasured(await benchHealth({ services: 50, batches: 3, batchSize: 20, reads: 3, warmup: 1 }), 2);
  });

  it('drift: the diff against a deep-equal walk, and scans end to end on the Cosmos DB stand-in', async () => {
    const log = console.log;
    console.log = () => undefined;
    try {
      expectMeasured([await benchDiff({ resources: 200, iterations: 2, warmup: 1 }), await benchScans({ environments: [2, 4], services: 5 })], 2);
    } finally {
      console.log = log;
    }
  });

  it('cold: imports a fresh build of the app and a one-function app in new processes', async () => {
    const { outfile } = await buildApp({ outfile: join(buildDir, 'dist', 'main.js') });
    expectMeasured(await benchColdImport(2, outfile), 1);
  });
});
