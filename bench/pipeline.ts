/**
 * Foundation benchmarks:
 * 1. A tenant-scoped point read through the whole handler pipeline (JWT verification, tenant
 *    access check, validation, scoped transaction, response shaping) against the same read as a raw
 *    `pg` query. Target: median at most 2x.
 * 2. Cold import of the app's built entry against a one-function Functions app. Target: at most 3x.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import { startTestApp } from '../test/app.js';
import { compare, median, type BenchResult } from './stats.js';

/** Point read: pipeline vs raw pg. */
export async function benchPointRead(opts: { iterations?: number; warmup?: number } = {}): Promise<BenchResult[]> {
  // The production default for the access cache, so the pipeline pays what it pays in Azure.
  const t = await startTestApp({ env: { TENANT_CACHE_TTL_MS: '5000' }, contract: false });
  try {
    await t.createTenant('bench', 'reader-1', { quotas: { requestsPerMinute: 1_000_000 } });
    const token = await t.token('reader-1');
    const pool = new pg.Pool({ connectionString: t.db.url, max: 4 });
    const ok = async (p: Promise<{ status: number }>) => {
      const r = await p;
      if (r.status !== 200) throw new Error(`unexpected ${r.status}`);
    };
    const result = await compare(
      `tenant point read through the pipeline vs raw pg (${t.db.engine})`,
      2,
      async () => {
        const r = await pool.query('select * from tenants.tenants where tenant_id = $1', ['bench']);
        if (r.rows.length !== 1) throw new Error('missing row');
      },
      () => ok(t.call('GET', 'tenants/bench', { token })),
      { iterations: opts.iterations ?? 2000, warmup: opts.warmup ?? 200 },
    );
    await pool.end();
    return [result];
  } finally {
    await t.close();
  }
}

/** Cold import: the built app entry vs a one-function app, each in fresh processes. */
export async function benchColdImport(runs = 15, entry = resolve('dist/main.js')): Promise<BenchResult[]> {
  const dir = mkdtempSync(join(tmpdir(), 'rp-cold-'));
  const oneFn = join(dir, 'one-function.mjs');
  // Loaded through require, as the app's bundle loads it, so both sides pay the same for it.
  const functionsPath = createRequire(import.meta.url).resolve('@azure/functions');
  writeFileSync(
    oneFn,
    `import { createRequire } from 'node:module';\nconst { app } = createRequire(import.meta.url)(${JSON.stringify(functionsPath)});\n` +
      `app.http('hello', { methods: ['GET'], handler: async () => ({ body: 'hi' }) });\n`,
  );
  const probe = join(dir, 'probe.mjs');
  // Times only the import, inside a fresh process, so node's own start-up is not counted.
  writeFileSync(
    probe,
    `const t0 = performance.now(); await import(process.argv[2]); process.stdout.write('\\n' + (performance.now() - t0));`,
  );
  const env = {
    ...process.env,
    SQL_CONNECTION_STRING: 'postgres://postgres@127.0.0.1:1/none',
    AUTH_MODE: 'dev',
    AUTH_DEV_ALLOW: 'local',
  };
  // The figure is the last line: the library may print before it (`app.setup` announces HTTP streaming).
  const time = (file: string) =>
    Number(execFileSync(process.execPath, [probe, pathToFileURL(file).href], { env, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim().split('\n').at(-1));
  const a: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < runs; i++) {
    b.push(time(oneFn));
    a.push(time(entry));
  }
  rmSync(dir, { recursive: true, force: true });
  const base = median(b);
  const app = median(a);
  return [{ name: 'cold import of dist/main.js vs a one-function app', baselineMedianMs: base, medianMs: app, ratio: app / base, target: 3 }];
}
