/**
 * Scaling benchmarks (storage map row "Scaling policies & history": read on evaluation):
 *
 * 1. Rendering one policy for each target (HorizontalPodAutoscaler, KEDA ScaledObject, Container
 *    Apps scale), serialized as the route sends it (JSON, and YAML for KEDA), against
 *    `JSON.stringify` of the policy itself in the same run. Each sample times a batch of calls;
 *    the per-call time is printed. Target: at most 25x the baseline (a render is a handful of
 *    object literals; the ratio says what it costs over serializing the policy at all). YAML is
 *    written by functions/scaling/yaml.ts: the general `yaml` library took ~560 µs a manifest
 *    here (525x), the plain-data writer ~8 µs.
 * 2. The read an evaluator makes on every decision — `GET …/scaling-policy` through the whole
 *    pipeline (JWT, tenant access, validation, scoped one-round-trip read as `rp_scaling` under
 *    row-level security, ETag, response shaping) — against the same lookup as a raw `pg` query, on
 *    a table of 2,000 services with 5 versions each, seeded in bulk as the database owner. Target:
 *    median at most 2x.
 *
 * `npm run bench scaling` (PGlite by default; BENCH_DATABASE_URL or TEST_DATABASE_URL for a server).
 */
import { sql } from 'kysely';
import pg from 'pg';
import { renderManifest, type RenderContext } from '../functions/scaling/render.js';
import type { PolicySpecDto } from '../functions/scaling/schemas.js';
import { toYaml } from '../functions/scaling/yaml.js';
import { startTestApp } from '../test/app.js';
import { compare, type BenchResult } from './stats.js';

const POLICY: PolicySpecDto = {
  minReplicas: 2,
  maxReplicas: 40,
  triggers: [
    { type: 'cpu', name: 'cpu', targetUtilization: 70 },
    { type: 'memory', name: 'memory', targetUtilization: 80 },
    { type: 'cron', name: 'office-hours', timezone: 'Europe/Amsterdam', start: '0 8 * * 1-5', end: '0 18 * * 1-5', desiredReplicas: 6 },
  ],
  cooldownSeconds: 300,
};
const CTX: RenderContext = { tenantId: 'bench', environmentId: 'env_0000000000000001', serviceId: 'svc_0000000000000001', serviceName: 'checkout-api', policyId: 'scp_0000000000000001', version: 3 };

/** Rendering for each target vs serializing the policy; per-call times in the notes. */
export async function benchRender(opts: { iterations?: number; warmup?: number; batch?: number } = {}): Promise<BenchResult[]> {
  const batch = opts.batch ?? 200;
  const now = new Date('2026-03-01T00:00:00.000Z');
  // HPA has no cron trigger: it gets the policy without it (it would refuse it, by design).
  const hpaPolicy = { ...POLICY, triggers: POLICY.triggers.filter((t) => t.type !== 'cron') };
  const cases: [string, () => string][] = [
    ['hpa (JSON)', () => JSON.stringify(renderManifest('hpa', hpaPolicy, CTX, now))],
    ['keda (JSON)', () => JSON.stringify(renderManifest('keda', POLICY, CTX, now))],
    ['aca (JSON)', () => JSON.stringify(renderManifest('aca', POLICY, CTX, now))],
    ['keda (YAML)', () => toYaml(renderManifest('keda', POLICY, CTX, now))],
  ];
  let sink = 0;
  const repeat = (f: () => string) => async () => {
    for (let i = 0; i < batch; i++) sink += f().length;
  };
  const out: BenchResult[] = [];
  for (const [name, render] of cases) {
    const r = await compare(`render a scaling policy: ${name} vs JSON.stringify of the policy`, 25, repeat(() => JSON.stringify(POLICY)), repeat(render), {
      iterations: opts.iterations ?? 300,
      warmup: opts.warmup ?? 30,
    });
    r.notes = `${((r.medianMs / batch) * 1000).toFixed(2)} µs per render (baseline ${((r.baselineMedianMs / batch) * 1000).toFixed(2)} µs per stringify)`;
    out.push(r);
  }
  if (sink < 0) console.log(sink);
  return out;
}

/** The evaluator's read: the pipeline vs the raw lookup. */
export async function benchPolicyRead(opts: { services?: number; iterations?: number; warmup?: number } = {}): Promise<BenchResult[]> {
  const services = opts.services ?? 2_000;
  const t = await startTestApp({ env: { TENANT_CACHE_TTL_MS: '5000' }, contract: false });
  try {
    const seeded = await t.seedTenant('bench', 'reader-1', { quotas: { requestsPerMinute: 1_000_000 } });
    const owner = t.owner.forPlacement({ model: 'pooled' });
    // Other services' versions around the one read, as a real table would hold them.
    await sql`
      insert into scaling.policy_versions (tenant_id, service_id, version, environment_id, policy_id, spec, min_replicas, max_replicas, created_at, created_by)
      select 'bench', 'svc_' || lpad(to_hex(s), 16, '0'), v, ${seeded.environmentId}, 'scp_' || lpad(to_hex(s), 16, '0'),
             ${JSON.stringify(POLICY)}::jsonb, 2, 40, now() - (6 - v) * interval '1 day', 'seed'
      from generate_series(1, ${services}) s, generate_series(1, 5) v`.execute(owner);
    const path = `tenants/bench/environments/${seeded.environmentId}/services/${seeded.serviceId}/scaling-policy`;
    let etag = '';
    for (let v = 0; v < 5; v++) {
      const r = await t.call('PUT', path, { token: seeded.token, body: { ...POLICY, maxReplicas: 10 + v }, headers: etag ? { 'if-match': etag } : {} });
      if (r.status >= 300) throw new Error(`seed policy: ${r.status} ${JSON.stringify(r.body)}`);
      etag = r.headers.get('etag') ?? '';
    }
    await sql`analyze scaling.policy_versions`.execute(owner);
    const pool = new pg.Pool({ connectionString: t.db.url, max: 4 });
    const raw = {
      text: 'select * from scaling.policy_versions where tenant_id = $1 and service_id = $2 and environment_id = $3 order by version desc limit 1',
      values: ['bench', seeded.serviceId, seeded.environmentId],
    };
    const result = await compare(
      `scaling policy read on evaluation through the pipeline vs raw pg (${t.db.engine}, ${services} services x 5 versions)`,
      2,
      async () => {
        const r = await pool.query(raw);
        if (r.rows.length !== 1) throw new Error('missing row');
      },
      async () => {
        const r = await t.call('GET', path, { token: seeded.token });
        if (r.status !== 200) throw new Error(`unexpected ${r.status}`);
      },
      { iterations: opts.iterations ?? 2000, warmup: opts.warmup ?? 200 },
    );
    await pool.end();
    return [result];
  } finally {
    await t.close();
  }
}
