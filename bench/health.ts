/**
 * Health benchmarks (storage map row "Health results (recent)": append + latest-by-service reads).
 * One tenant, one environment, 10,000 catalog services seeded in bulk as the database owner; then:
 *
 * 1. Ingest: 200 batches of 1,000 results (200,000 results) through the whole handler pipeline
 *    (JWT, tenant access, validation, the catalog's one-query check of the batch's service ids, the
 *    quota, the batch record, the partition check, the results insert, the latest table and the
 *    transitions) against raw multi-row `INSERT`s of the same rows into the same table
 *    (`health.results`, as the owner), batch for batch, alternating. Target: the handler's rate at
 *    least 0.5x the raw rate, i.e. median time per batch at most 2x.
 * 2. Latest-by-service: the latest status of one of the 10,000 services through the pipeline,
 *    against a raw primary-key lookup of one `health.latest` row. Target: at most 2x.
 *
 * `npm run bench -- health`, or on its own: `npx tsx bench/health.ts` (PGlite by default;
 * BENCH_DATABASE_URL or TEST_DATABASE_URL for a PostgreSQL server).
 */
import { sql } from 'kysely';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import { startTestApp } from '../test/app.js';
import { compare, report, type BenchResult } from './stats.js';

/** A result's status: about 3% unhealthy and 2% degraded, spread pseudo-randomly (probes mostly see healthy services). */
function statusOf(n: number): 'healthy' | 'degraded' | 'unhealthy' {
  const h = Math.imul(n ^ 0x9e3779b9, 0x85ebca6b) >>> 0;
  const p = h % 100;
  return p < 3 ? 'unhealthy' : p < 5 ? 'degraded' : 'healthy';
}

/** Runs both benchmarks; sizes can be shrunk for the smoke test. */
export async function benchHealth(opts: { services?: number; batches?: number; batchSize?: number; reads?: number; warmup?: number } = {}): Promise<BenchResult[]> {
  const services = opts.services ?? 10_000;
  const batches = opts.batches ?? 200;
  const batchSize = opts.batchSize ?? 1_000;
  const reads = opts.reads ?? 2_000;
  const t = await startTestApp({ env: { TENANT_CACHE_TTL_MS: '5000' }, contract: false });
  const pool = new pg.Pool({ connectionString: t.db.url, max: 4 });
  try {
    await t.createTenant('bench', 'agent-1', { quotas: { requestsPerMinute: 1_000_000, healthResultsPerMinute: 10_000_000, maxServicesPerEnvironment: 100_000 } });
    const token = await t.token('agent-1');
    const env = await t.call('POST', 'tenants/bench/environments', { token, body: { name: 'main', kind: 'prod', region: 'westeurope' } });
    const environmentId: string = env.body.id;
    const svc = (i: number) => `svc_${i.toString(16).padStart(16, '0')}`;
    await sql`
      insert into catalog.services (tenant_id, id, environment_id, name, owner, lifecycle, labels, created_at, updated_at)
      select 'bench', 'svc_' || lpad(to_hex(g), 16, '0'), ${environmentId}, 'svc-' || g, 'team', 'production', '{}'::jsonb, now(), now()
      from generate_series(1, ${services}) g`.execute(t.owner.forPlacement({ model: 'pooled' }));

    // Batch b: results of services b*batchSize.. (wrapping), one minute apart per batch, ending now.
    const start = Date.now() - (batches + 10) * 60_000;
    const results = (b: number) =>
      Array.from({ length: batchSize }, (_, i) => {
        const n = b * batchSize + i;
        const status = statusOf(n);
        return {
          serviceId: svc(1 + (n % services)),
          check: 'http',
          status,
          latencyMs: 5 + (n % 300),
          observedAt: new Date(start + b * 60_000 + (i % 1000)).toISOString(),
          ...(status === 'healthy' ? {} : { message: `GET /healthz answered 503 after ${n % 300} ms` }),
        };
      });
    // The partitions of the whole run exist before timing starts (as the daily timer makes them), for both sides alike.
    const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
    await sql`select health.ensure_partitions(${day(start)}::date, ${day(Date.now())}::date)`.execute(t.owner.forPlacement({ model: 'pooled' }));
    const path = `tenants/bench/environments/${environmentId}/health-results`;
    let hb = 0;
    let rb = 0;
    const columns = '(tenant_id, service_id, observed_at, batch_id, ord, environment_id, check_name, status, latency_ms, message, received_at)';
    const ingest = await compare(
      `ingest ${batches} batches of ${batchSize} health results: handler vs raw multi-row INSERT (${t.db.engine})`,
      2,
      async () => {
        const b = rb++;
        const rows = results(b);
        const values: unknown[] = [];
        const tuples = rows.map((r, i) => {
          const o = values.length;
          values.push('bench', r.serviceId, r.observedAt, `raw-${b}`, i, environmentId, r.check, r.status, r.latencyMs, r.message ?? null, new Date());
          return `(${Array.from({ length: 11 }, (_, k) => `$${o + k + 1}`).join(', ')})`;
        });
        await pool.query(`insert into health.results ${columns} values ${tuples.join(', ')}`, values);
      },
      async () => {
        const b = hb++;
        const r = await t.call('POST', path, { token, body: { batchId: `batch-${b}`, results: results(b) } });
        if (r.status !== 200 || r.body.accepted !== batchSize) throw new Error(`ingest: ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
      },
      { iterations: batches, warmup: 0, notes: '' },
    );
    const transitions = (await sql<{ n: number }>`select count(*)::int as n from health.transitions where tenant_id = 'bench'`.execute(t.owner.forPlacement({ model: 'pooled' }))).rows[0]!.n;
    ingest.notes =
      `results per second: raw ${Math.round((batchSize * 1000) / ingest.baselineMedianMs)}, handler ${Math.round((batchSize * 1000) / ingest.medianMs)} ` +
      `(rate ${(1 / ingest.ratio).toFixed(2)}x the raw rate); ${transitions} transitions recorded (first results included)`;

    const latestRows = (await sql<{ n: number }>`select count(*)::int as n from health.latest where tenant_id = 'bench'`.execute(t.owner.forPlacement({ model: 'pooled' }))).rows[0]!.n;
    let i = 0;
    const pick = () => svc(1 + ((i++ * 7919) % Math.min(services, batches * batchSize)));
    const read = await compare(
      `latest health of one of ${latestRows} services: pipeline vs raw primary-key lookup (${t.db.engine})`,
      2,
      async () => {
        const r = await pool.query('select * from health.latest where tenant_id = $1 and service_id = $2', ['bench', pick()]);
        if (r.rows.length !== 1) throw new Error('missing latest row');
      },
      async () => {
        const r = await t.call('GET', `tenants/bench/environments/${environmentId}/services/${pick()}/health`, { token });
        if (r.status !== 200) throw new Error(`latest: ${r.status} ${JSON.stringify(r.body)}`);
      },
      { iterations: reads, warmup: opts.warmup ?? 200 },
    );
    return [ingest, read];
  } finally {
    await pool.end();
    await t.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  if (process.env.BENCH_DATABASE_URL) process.env.TEST_DATABASE_URL = process.env.BENCH_DATABASE_URL;
  process.exit(report(await benchHealth()) ? 0 : 1);
}
