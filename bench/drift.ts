/**
 * Drift benchmarks (storage map rows "Drift findings" and "Drift state snapshots"):
 *
 * 1. The diff of one environment of 10,000 resources with 1% drifted (`diffStates`: JSON Pointer
 *    paths, severities, unknown and suppressed places) against a plain deep-equal walk of the same
 *    data. Target: median at most 2x.
 * 2. Scans end to end, in this process through the same steps as the orchestration activities
 *    (desired state from the environments and catalog APIs, the agents' observations, the diff,
 *    the snapshot written to the Cosmos DB stand-in with the real SDK, findings upserted with their
 *    outbox events): 10 and then 100 environments of 100 services each, 1% drifted (one service the
 *    agent does not report), 8 at a time as
 *    the sweep does. Printed: environments per second for each; the ratio is the time per
 *    environment at 100 against at 10 (target: at most 1.5x, i.e. it scales about linearly).
 *
 * `npm run bench -- drift`, or on its own: `npx tsx bench/drift.ts` (PGlite by default;
 * BENCH_DATABASE_URL or TEST_DATABASE_URL for a PostgreSQL server).
 */
import { CosmosClient } from '@azure/cosmos';
import { sql } from 'kysely';
import { mkdtemp, rm } from 'node:fs/promises';
import { Agent } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ensureLocalCert } from '../emulator/certs.js';
import { startCosmos } from '../emulator/cosmos.js';
import { DRIFT_SNAPSHOT_TTL_SECONDS, storageMap } from '../shared/storage-map.js';
import { startTestApp } from '../test/app.js';
import { agentObservations } from '../functions/drift/actual.js';
import type { DriftInstance } from '../functions/drift/api.js';
import { deepEqual, diffStates, type ActualResource, type DesiredResource } from '../functions/drift/diff.js';
import { runScanInProcess, scanIdOf, scanInstanceId } from '../functions/drift/scan.js';
import { cosmosSnapshots } from '../functions/drift/snapshots.js';
import { compare, report, type BenchResult } from './stats.js';

/** An environment's desired and actual resources: `n` services, every hundredth drifted. */
export function environmentOf(n: number): { desired: Record<string, DesiredResource>; actual: Record<string, ActualResource> } {
  const desired: Record<string, DesiredResource> = {};
  const actual: Record<string, ActualResource> = {};
  for (let i = 0; i < n; i++) {
    const name = `svc-${i}`;
    const properties = () => ({
      image: `registry.example.com/${name}:1.${i % 7}.0`,
      configurationVersion: 7,
      env: { LOG_LEVEL: 'info', REGION: 'westeurope', FEATURE_X: i % 2 === 0 },
      ports: [80, 443],
      secrets: { 'db-password': 'v3', 'api-key': 'v1' },
    });
    desired[`service/${name}`] = { kind: 'service', name, properties: properties() };
    const a = properties();
    if (i % 100 === 42) a.image = `registry.example.com/${name}:9.9.9`;
    actual[`service/${name}`] = { kind: 'service', name, properties: a };
  }
  return { desired, actual };
}

/** The baseline: a plain deep-equal walk that tells which resources differ (no paths, no severities). */
function deepEqualWalk(desired: Record<string, DesiredResource>, actual: Record<string, ActualResource>): string[] {
  const differ: string[] = [];
  for (const key in desired) {
    const a = actual[key];
    if (!a || !deepEqual(desired[key]!.properties, a.properties)) differ.push(key);
  }
  for (const key in actual) if (!(key in desired)) differ.push(key);
  return differ;
}

export async function benchDiff(opts: { resources?: number; iterations?: number; warmup?: number } = {}): Promise<BenchResult> {
  const { resources = 10_000, iterations = 60, warmup = 10 } = opts;
  const { desired, actual } = environmentOf(resources);
  const coverage = { service: { status: 'fresh' as const, source: 'agent:bench' } };
  const found = diffStates(desired, actual, coverage).differences.length;
  const walk = deepEqualWalk(desired, actual).length;
  if (found !== walk) throw new Error(`the diff found ${found} differences, the walk ${walk}`);
  return compare(
    `drift diff (${resources.toLocaleString('en')} resources, 1% drifted) vs deep-equal walk`,
    2,
    async () => deepEqualWalk(desired, actual),
    async () => diffStates(desired, actual, coverage),
    { iterations, warmup, notes: `${found} differences found by both` },
  );
}

export async function benchScans(opts: { environments?: number[]; services?: number } = {}): Promise<BenchResult> {
  const sizes = opts.environments ?? [10, 100];
  const services = opts.services ?? 100;
  const dir = await mkdtemp(join(tmpdir(), 'drift-bench-'));
  const cert = await ensureLocalCert(join(dir, 'certs'));
  const cosmos = await startCosmos({ tls: cert });
  const agent = new Agent({ ca: cert.cert, keepAlive: true });
  const client = new CosmosClient({ endpoint: cosmos.endpoint, key: cosmos.key, agent });
  const t = await startTestApp({ env: { TENANT_CACHE_TTL_MS: '5000' }, contract: false });
  try {
    const { database } = await client.databases.createIfNotExists({ id: 'runtime-platform' });
    const { container } = await database.containers.createIfNotExists({ id: storageMap.driftSnapshots.container, partitionKey: { paths: ['/tenantId'] }, defaultTtl: DRIFT_SNAPSHOT_TTL_SECONDS });
    const drift = t.instance<DriftInstance>('drift');
    drift.ports.snapshots = cosmosSnapshots(async () => container);
    drift.ports.actualSources = [agentObservations(t.kernel)];
    drift.ports.log = () => undefined;

    const tenant = 'drift-bench';
    const total = Math.max(...sizes);
    await t.createTenant(tenant, 'bench', { quotas: { maxEnvironments: 10_000, maxServicesPerEnvironment: 100_000, requestsPerMinute: 1_000_000 } });
    const owner = t.owner.forPlacement({ model: 'pooled' });
    const t0 = performance.now();
    // Seeded as the owner: environments, their services, and one agent observation each (1% drifted).
    await sql`
      insert into environments.environments (tenant_id, id, name, kind, region, labels, storage_topology, created_at, updated_at)
      select ${tenant}, 'env_' || lpad(to_hex(g), 16, '0'), 'env-' || g, 'prod', 'westeurope', '{}'::jsonb, '{"resources": []}'::jsonb, now(), now()
      from generate_series(1, ${total}) g`.execute(owner);
    await sql`
      insert into catalog.services (tenant_id, id, environment_id, name, owner, lifecycle, labels, created_at, updated_at)
      select ${tenant}, 'svc_' || lpad(to_hex(e * 1000 + s), 16, '0'), 'env_' || lpad(to_hex(e), 16, '0'), 'svc-' || s, 'team', 'production', '{}'::jsonb, now(), now()
      from generate_series(1, ${total}) e, generate_series(0, ${services - 1}) s`.execute(owner);
    // The agent does not report one service in a hundred (a missing resource: one finding each).
    const { actual } = environmentOf(services);
    const observed = JSON.stringify(Object.values(actual).filter((r) => !r.name.endsWith('-42')));
    await sql`
      insert into drift.observations (tenant_id, environment_id, source, observed_at, received_at, digest, kinds, resources)
      select ${tenant}, 'env_' || lpad(to_hex(g), 16, '0'), 'agent', now(), now(), 'bench', '["service"]'::jsonb, ${observed}::jsonb
      from generate_series(1, ${total}) g`.execute(owner);
    console.log(`drift: seeded ${total} environments x ${services} services in ${((performance.now() - t0) / 1000).toFixed(1)} s (${t.db.engine})`);

    const tenantRef = { tenantId: tenant, placement: { model: 'pooled' as const } };
    const perEnv: number[] = [];
    const notes: string[] = [];
    // A warm-up round (not counted): the first scans load the modules and fill the caches.
    for (const [round, n] of [Math.min(5, total), ...sizes].entries()) {
      const envs = Array.from({ length: n }, (_, i) => `env_${(i + 1).toString(16).padStart(16, '0')}`);
      const queue = [...envs];
      const started = performance.now();
      let failed = 0;
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          for (let e = queue.shift(); e; e = queue.shift()) {
            const instanceId = scanInstanceId(tenant, e, `bench-${round}`);
            const r = await runScanInProcess(drift.ports, { tenant: tenantRef, environmentId: e, scanId: scanIdOf(instanceId), instanceId, trigger: 'schedule', by: 'bench' });
            if (r.status !== 'succeeded') failed++;
          }
        }),
      );
      const ms = performance.now() - started;
      if (failed > 0) throw new Error(`${failed} scans did not succeed`);
      if (round === 0) continue;
      perEnv.push(ms / n);
      notes.push(`${n} environments in ${(ms / 1000).toFixed(2)} s = ${((n * 1000) / ms).toFixed(1)} environments/s`);
    }
    const findings = await sql<{ n: number }>`select count(*)::int as n from drift.findings where tenant_id = ${tenant} and status = 'open'`.execute(owner);
    notes.push(`${findings.rows[0]?.n} open findings (1 per environment scanned)`);
    const [small, large] = [perEnv[0]!, perEnv.at(-1)!];
    return {
      name: `drift scans end to end (${sizes.join(' then ')} environments x ${services} resources): time per environment, ${total} vs ${sizes[0]}`,
      baselineMedianMs: small,
      medianMs: large,
      ratio: large / small,
      target: 1.5,
      notes: notes.join('; '),
    };
  } finally {
    await t.close();
    client.dispose();
    agent.destroy();
    await cosmos.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Both drift benchmarks. */
export async function benchDrift(): Promise<BenchResult[]> {
  return [await benchDiff(), await benchScans()];
}



if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const ok = report(await benchDrift());
  process.exit(ok ? 0 : 1);
}
