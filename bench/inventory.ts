/**
 * Inventory benchmarks (storage map row "Runtime environments & inventory": read-heavy point and
 * range queries by environment and tenant). Two tenants of the same size, each with 1,000
 * environments and 100,000 services, seeded in bulk as the database owner; then, timed through the
 * whole handler pipeline (JWT, tenant access, validation, scoped read as `rp_catalog` under
 * row-level security, response shaping) against raw `pg` queries returning the same rows:
 *
 * 1. one environment's services, page by page (100 services, 25 a page);
 * 2. a creation-time range across the tenant (200 services, 100 a page).
 *
 * Target: median at most 2x. The plans of both queries are printed (EXPLAIN, run as the service's
 * role in the tenant's scope) to show they use the tenant-first indexes.
 *
 * `npm run bench inventory`, or on its own: `npx tsx bench/inventory.ts` (PGlite by default;
 * BENCH_DATABASE_URL or TEST_DATABASE_URL for a PostgreSQL server).
 */
import { CompiledQuery, sql, type Kysely } from 'kysely';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import { startTestApp, type TestApp } from '../test/app.js';
import { inScope } from '../shared/sql/database.js';
import { compare, report, type BenchResult } from './stats.js';

const ENVIRONMENTS = 1_000;
const SERVICES = 100_000;
const TENANTS = ['inv-a', 'inv-b'];
const BASE = new Date('2025-01-01T00:00:00.000Z');
const CATALOG = { service: 'catalog', schema: 'catalog', role: 'rp_catalog' };

const hex = (n: number) => n.toString(16).padStart(16, '0');
/** Environment `e` (1-based) of tenant index `ti`. */
const envId = (ti: number, e: number) => `env_${hex(ti * 1_000_000 + e)}`;

/** Seeds one tenant: environments, then services round-robin across them, one a second. */
async function seed(db: Kysely<any>, tenant: string, ti: number, environments: number, services: number): Promise<void> {
  await sql`
    insert into environments.environments (tenant_id, id, name, kind, region, labels, storage_topology, created_at, updated_at)
    select ${tenant}, 'env_' || lpad(to_hex(${ti * 1_000_000} + g), 16, '0'), 'env-' || lpad(g::text, 4, '0'),
           (array['dev', 'test', 'staging', 'prod'])[1 + g % 4], 'westeurope',
           jsonb_build_object('team', 'team-' || (g % 10)), '{"resources": []}'::jsonb,
           ${BASE}::timestamptz + g * interval '1 millisecond', ${BASE}::timestamptz + g * interval '1 millisecond'
    from generate_series(1, ${environments}) g`.execute(db);
  await sql`
    insert into catalog.services (tenant_id, id, environment_id, name, owner, lifecycle, labels, created_at, updated_at)
    select ${tenant}, 'svc_' || lpad(to_hex(${ti * 10_000_000} + g), 16, '0'),
           'env_' || lpad(to_hex(${ti * 1_000_000} + 1 + (g - 1) % ${environments}), 16, '0'),
           'svc-' || lpad(((g - 1) / ${environments})::text, 3, '0'), 'team-' || (g % 20),
           (array['experimental', 'production', 'deprecated'])[1 + g % 3],
           jsonb_build_object('app', 'app-' || (g % 50), 'tier', (array['web', 'api', 'db'])[1 + g % 3]),
           ${BASE}::timestamptz + g * interval '1 second', ${BASE}::timestamptz + g * interval '1 second'
    from generate_series(1, ${services}) g`.execute(db);
}

/** Walks every page of `path` through the pipeline; returns the ids in order. */
export async function walk(t: TestApp, token: string, path: string): Promise<string[]> {
  const ids: string[] = [];
  let next: string | undefined = path;
  while (next) {
    const r = await t.call('GET', next, { token });
    if (r.status !== 200) throw new Error(`GET ${next}: ${r.status} ${JSON.stringify(r.body)}`);
    ids.push(...(r.body.value as { id: string }[]).map((s) => s.id));
    const link = r.body.nextLink as string | undefined;
    next = link ? link.slice(link.indexOf('/api/') + 5) : undefined;
  }
  return ids;
}

type Row = { id: string; name: string; created_at: Date };

/** The same pages as raw keyset queries (same filters, order and page size + 1). */
async function rawWalk(pool: pg.Pool, page: (after: Row | undefined) => { text: string; values: unknown[] }, size: number): Promise<string[]> {
  const ids: string[] = [];
  let after: Row | undefined;
  for (;;) {
    const q = page(after);
    const rows = (await pool.query<Row>(q.text, q.values)).rows;
    const shown = rows.slice(0, size);
    ids.push(...shown.map((r) => r.id));
    if (rows.length <= size) return ids;
    after = shown.at(-1);
  }
}

/** EXPLAIN of `query` as `rp_catalog` in the tenant's scope (row-level security on); returns the plan's lines. */
async function explain(t: TestApp, tenant: string, query: { sql: string; parameters: readonly unknown[] }): Promise<string[]> {
  const placement = { model: 'pooled' } as const;
  const r = await inScope(t.kernel.sql.forPlacement(placement), { tenantId: tenant, placement }, CATALOG, (trx) =>
    trx.executeQuery<{ 'QUERY PLAN': string }>(CompiledQuery.raw(`explain (costs off) ${query.sql}`, [...query.parameters])),
  );
  return r.rows.map((x) => x['QUERY PLAN']);
}

/** The index a plan scans, and whether it leads with tenant_id. */
async function indexOf(t: TestApp, plan: string[]): Promise<{ index: string; tenantFirst: boolean }> {
  const index = plan.map((l) => /Index (?:Only )?Scan(?: Backward)? using (\w+)/.exec(l)?.[1]).find(Boolean) ?? '(none)';
  const r = await sql<{ first: string }>`
    select a.attname as first from pg_index i join pg_class c on c.oid = i.indexrelid
    join pg_attribute a on a.attrelid = i.indrelid and a.attnum = i.indkey[0]
    join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'catalog' and c.relname = ${index}`.execute(t.kernel.sql.forPlacement({ model: 'pooled' }));
  return { index, tenantFirst: r.rows[0]?.first === 'tenant_id' };
}

/**
 * Runs both inventory benchmarks; prints the plans; returns the results. `environments` shrinks the
 * seed (tests run it tiny); each environment always has 100 services.
 */
export async function benchInventory(
  opts: { iterations?: number; warmup?: number; environments?: number } = {},
): Promise<BenchResult[]> {
  const { iterations = 200, warmup = 20, environments = ENVIRONMENTS } = opts;
  const services = (SERVICES / ENVIRONMENTS) * environments;
  if (environments < 4) throw new Error('the creation-time range needs at least 4 environments (400 services)');
  const t = await startTestApp({ env: { TENANT_CACHE_TTL_MS: '5000' }, contract: false });
  try {
    const quotas = { requestsPerMinute: 1_000_000, maxEnvironments: 10_000, maxServicesPerEnvironment: 100_000 };
    for (const tenant of TENANTS) await t.createTenant(tenant, `${tenant}-reader`, { quotas });
    // As the owner: the app's login may only act through the service roles, under row-level security.
    const owner = t.owner.forPlacement({ model: 'pooled' });
    const t0 = performance.now();
    for (const [i, tenant] of TENANTS.entries()) await seed(owner, tenant, i + 1, environments, services);
    await sql`analyze environments.environments`.execute(owner);
    await sql`analyze catalog.services`.execute(owner);
    const seeded = ((performance.now() - t0) / 1000).toFixed(1);
    console.log(`inventory: seeded ${TENANTS.length} x (${environments} environments, ${services} services) in ${seeded} s (${t.db.engine})`);

    const tenant = TENANTS[0]!;
    const token = await t.token(`${tenant}-reader`);
    const pool = new pg.Pool({ connectionString: t.db.url, max: 4 });
    const results: BenchResult[] = [];
    try {
      // 1. One environment's services, 25 a page.
      const env = envId(1, Math.ceil(environments / 2));
      const envPath = `tenants/${tenant}/environments/${env}/services?maxpagesize=25`;
      const envRaw = (after: Row | undefined) => ({
        text:
          `select * from catalog.services where tenant_id = $1 and environment_id = $2 and retired_at is null` +
          (after ? ` and (name, id) > ($3, $4)` : '') +
          ` order by name, id limit 26`,
        values: after ? [tenant, env, after.name, after.id] : [tenant, env],
      });
      const viaApi = await walk(t, token, envPath);
      const viaSql = await rawWalk(pool, envRaw, 25);
      if (viaApi.length !== 100 || JSON.stringify(viaApi) !== JSON.stringify(viaSql)) throw new Error('environment pages differ from the raw query');

      // 2. A creation-time range across the tenant: 200 services, 100 a page.
      const from = new Date(BASE.getTime() + (services / 2) * 1000);
      const to = new Date(from.getTime() + 200_000);
      const rangePath = `tenants/${tenant}/services?createdAfter=${from.toISOString()}&createdBefore=${to.toISOString()}&maxpagesize=100`;
      const rangeRaw = (after: Row | undefined) => ({
        text:
          `select * from catalog.services where tenant_id = $1 and retired_at is null and created_at >= $2 and created_at < $3` +
          (after ? ` and (created_at, id) > ($4, $5)` : '') +
          ` order by created_at, id limit 101`,
        values: after ? [tenant, from, to, after.created_at, after.id] : [tenant, from, to],
      });
      const rangeApi = await walk(t, token, rangePath);
      const rangeSql = await rawWalk(pool, rangeRaw, 100);
      if (rangeApi.length !== 200 || JSON.stringify(rangeApi) !== JSON.stringify(rangeSql)) throw new Error('range pages differ from the raw query');

      // The plans, as the service runs them (its role, its tenant, row-level security on).
      const { selectServices } = await import('../functions/catalog/store.js');
      const db = t.kernel.sql.forPlacement({ model: 'pooled' });
      const envPlan = await explain(
        t,
        tenant,
        selectServices(db, tenant, { environmentId: env, status: 'active', labels: [], range: { order: 'name' }, limit: 26 }).compile(),
      );
      const rangePlan = await explain(
        t,
        tenant,
        selectServices(db, tenant, { status: 'active', labels: [], range: { order: 'created', after: from, before: to }, limit: 101 }).compile(),
      );
      console.log(`\nplan: one environment's services, by name\n  ${envPlan.join('\n  ')}`);
      console.log(`\nplan: creation-time range across the tenant\n  ${rangePlan.join('\n  ')}\n`);
      const envIndex = await indexOf(t, envPlan);
      const rangeIndex = await indexOf(t, rangePlan);
      const note = (i: { index: string; tenantFirst: boolean }) => `plan uses ${i.index}${i.tenantFirst ? ' (tenant_id first)' : ' — NOT a tenant-first index'}`;

      results.push(
        await compare(
          `inventory: one environment's 100 services, 4 pages (${t.db.engine})`,
          2,
          () => rawWalk(pool, envRaw, 25),
          () => walk(t, token, envPath),
          { iterations, warmup, notes: note(envIndex) },
        ),
      );
      results.push(
        await compare(
          `inventory: creation-time range of 200 services across the tenant, 2 pages (${t.db.engine})`,
          2,
          () => rawWalk(pool, rangeRaw, 100),
          () => walk(t, token, rangePath),
          { iterations, warmup, notes: note(rangeIndex) },
        ),
      );
      if (!envIndex.tenantFirst || !rangeIndex.tenantFirst) for (const r of results) r.target = 0;
    } finally {
      await pool.end();
    }
    return results;
  } finally {
    await t.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  if (process.env.BENCH_DATABASE_URL) process.env.TEST_DATABASE_URL = process.env.BENCH_DATABASE_URL;
  const results = await benchInventory();
  process.exit(report(results) ? 0 : 1);
}
