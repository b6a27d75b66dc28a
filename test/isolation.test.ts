/**
 * Tenant isolation, for every tenant-scoped route the app registers (new services are covered as
 * they land): a member of tenant A gets 404 on tenant B and B's data is unchanged; inside A's
 * transaction an unfiltered query sees only A's rows; app roles are neither owner, superuser nor
 * BYPASSRLS; a siloed tenant's rows land in its own database only.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APP_LOGIN, startTestApp, type TestApp } from './app.js';
import { inScope, servicesIn } from '../shared/sql/database.js';
import { emit } from '../shared/events/outbox.js';
import { serviceMigrations } from '../composition/migrations.js';
import { createKernelTables } from '../shared/sql/migrator.js';

let t: TestApp;
const tenantsSql = () => serviceMigrations.find((s) => s.service === 'tenants')!;

beforeAll(async () => {
  t = await startTestApp({ silos: ['silo-a'] });
  await t.createTenant('tenant-a', 'alice');
  await t.createTenant('tenant-b', 'bob');
  const root = await t.token('platform-admin', { admin: true });
  await t.call('PUT', 'tenants/tenant-b/members/bob-reader', { token: root, body: { role: 'reader' } });
  await t.createTenant('tenant-s', 'sue', { isolation: { model: 'siloed', database: 'silo-a' } });
});
afterAll(() => t?.close());

describe('cross-tenant access', () => {
  it("answers 404 for every tenant-scoped route of another tenant (403 on platform-admin routes), and changes nothing", async () => {
    const alice = await t.token('alice');
    const scoped = t.kernel.routes.routes.filter((r) => r.route.startsWith('tenants/{tenantId}'));
    expect(scoped.length).toBeGreaterThan(3);
    const before = await t.snapshot();
    for (const r of scoped) {
      const path = r.route.replace('{tenantId}', 'tenant-b').replace(/\{(\w+)\??(:[^}]*)?\}/g, 'x1');
      const example = t.kernel.openapi.examples.get(r.name)?.example;
      const res = await t.call(r.method, path, { token: alice, ...(example !== undefined ? { body: example } : {}) });
      // Platform-admin routes refuse every non-admin alike, so existence does not leak either.
      const expected = 'platformAdmin' in r.access ? ['Forbidden', 403] : ['NotFound', 404];
      expect([res.body.error.code, res.status], `${r.method} ${path}`).toEqual(expected);
      expect(res.headers.get('x-ms-error-code')).toBe(expected[0]);
    }
    expect(await t.snapshot()).toEqual(before);
  });

  it('lets B see its own tenant', async () => {
    expect((await t.call('GET', 'tenants/tenant-b', { token: await t.token('bob') })).status).toBe(200);
    expect((await t.call('GET', 'tenants/tenant-b', { token: await t.token('alice') })).status).toBe(404);
  });
});

describe('row-level security', () => {
  it("shows only the transaction's tenant to an unfiltered query", async () => {
    const db = t.kernel.sql.forPlacement({ model: 'pooled' });
    const rows = await inScope(db, { tenantId: 'tenant-a', placement: { model: 'pooled' } }, tenantsSql(), async (trx) => ({
      members: (await sql<{ tenant_id: string }>`select tenant_id from members`.execute(trx)).rows,
      tenants: (await sql<{ tenant_id: string }>`select tenant_id from tenants`.execute(trx)).rows,
      user: (await sql<{ u: string }>`select current_user as u`.execute(trx)).rows[0]?.u,
    }));
    expect(rows.user).toBe('rp_tenants');
    expect(rows.tenants.map((r) => r.tenant_id)).toEqual(['tenant-a']);
    expect(rows.members.length).toBeGreaterThan(0);
    expect(new Set(rows.members.map((r) => r.tenant_id))).toEqual(new Set(['tenant-a']));
  });

  it("refuses to write another tenant's row and sees nothing without a tenant", async () => {
    const db = t.kernel.sql.forPlacement({ model: 'pooled' });
    await expect(
      inScope(db, { tenantId: 'tenant-a', placement: { model: 'pooled' } }, tenantsSql(), (trx) =>
        sql`insert into members (tenant_id, principal_id, role) values ('tenant-b', 'mallory', 'admin')`.execute(trx),
      ),
    ).rejects.toMatchObject({ code: '42501' });
    const none = await inScope(db, { tenantId: '', placement: { model: 'pooled' } }, tenantsSql(), (trx) =>
      sql<{ n: number }>`select count(*)::int as n from members`.execute(trx),
    );
    expect(none.rows[0]?.n).toBe(0);
    expect((await t.call('GET', 'tenants/tenant-b/members', { token: await t.token('bob') })).body.value.map((m: { principalId: string }) => m.principalId)).not.toContain('mallory');
  });

  it('connects as a login that is not superuser or BYPASSRLS and owns nothing (on a PostgreSQL server)', async () => {
    const who = await sql<{ u: string; rolsuper: boolean; rolbypassrls: boolean; owns: number }>`
      select current_user as u, r.rolsuper, r.rolbypassrls,
             (select count(*)::int from pg_class c where c.relowner = r.oid) as owns
      from pg_roles r where r.rolname = current_user`.execute(t.kernel.sql.forPlacement({ model: 'pooled' }));
    // PGlite has a single session user (the owner); there the service roles carry the boundary.
    if (t.db.engine === 'pglite') return;
    expect(who.rows[0]).toEqual({ u: APP_LOGIN, rolsuper: false, rolbypassrls: false, owns: 0 });
  });

  it('runs every service as a role that is not owner, superuser or BYPASSRLS', async () => {
    for (const { db, placement } of t.owner.all()) {
      for (const svc of servicesIn(placement, serviceMigrations)) {
        const role = await sql<{ rolsuper: boolean; rolbypassrls: boolean; rolcanlogin: boolean }>`
          select rolsuper, rolbypassrls, rolcanlogin from pg_roles where rolname = ${svc.role}`.execute(db);
        expect(role.rows, svc.role).toHaveLength(1);
        expect(role.rows[0]).toEqual({ rolsuper: false, rolbypassrls: false, rolcanlogin: false });
        const owned = await sql<{ n: number }>`
          select count(*)::int as n from pg_tables where tableowner = ${svc.role}
          union all select count(*)::int from pg_namespace n join pg_roles r on r.oid = n.nspowner where r.rolname = ${svc.role}`.execute(db);
        expect(owned.rows.map((r) => r.n), `${svc.role} owns nothing`).toEqual([0, 0]);
        const tables = await sql<{ relname: string; relrowsecurity: boolean; relforcerowsecurity: boolean; first: string }>`
          select c.relname, c.relrowsecurity, c.relforcerowsecurity,
                 (select a.attname from pg_index i join pg_attribute a on a.attrelid = i.indrelid and a.attnum = i.indkey[0]
                   where i.indrelid = c.oid and i.indisprimary) as first
          from pg_class c join pg_namespace n on n.oid = c.relnamespace
          where n.nspname = ${svc.schema} and c.relkind = 'r' and c.relname not like 'migrations%'`.execute(db);
        expect(tables.rows.length).toBeGreaterThan(0);
        for (const tb of tables.rows) {
          expect(tb, `${svc.schema}.${tb.relname}`).toMatchObject({ relrowsecurity: true, relforcerowsecurity: true, first: 'tenant_id' });
        }
      }
    }
  });
});

describe('siloed tenants', () => {
  it("routes a siloed tenant's transactions to its own database only", async () => {
    const sue = await t.token('sue');
    // A probe service with its own schema and role, deployed like a real one: migrated into every
    // database, then granted to the app's login.
    const probe = { service: 'probe', schema: 'probe', role: 'rp_probe' };
    await t.addService({ ...probe, migrations: { '0001_init': { up: (db) => createKernelTables(db) } } });
    // A route of the real pipeline writing through ctx.tx, as every service does.
    t.kernel.routes.add({
      name: 'testSiloWrite',
      method: 'POST',
      route: 'tenants/{tenantId}/test-silo-write',
      summary: 'test only',
      tags: ['test'],
      access: { tenantRole: 'operator' },
      responses: { 204: { description: 'ok' } },
      handler: async (ctx) => {
        await ctx.tx(probe, (trx) => emit(trx, ctx.tenant.tenantId, { type: 'Probe', subject: 'probe', data: {} }));
        return { status: 204 };
      },
    });
    expect((await t.call('POST', 'tenants/tenant-s/test-silo-write', { token: sue })).status).toBe(204);
    const count = async (placement: Parameters<typeof t.kernel.sql.forPlacement>[0]) =>
      (
        await sql<{ n: number }>`select count(*)::int as n from probe.outbox where tenant_id = 'tenant-s' and type = 'Probe'`.execute(
          t.owner.forPlacement(placement),
        )
      ).rows[0]?.n;
    expect(await count({ model: 'siloed', database: 'silo-a' })).toBe(1);
    expect(await count({ model: 'pooled' })).toBe(0);
    // The tenant registry itself stays in the pooled database: silos do not even have its schema.
    const reg = await sql<{ n: number }>`select count(*)::int as n from pg_namespace where nspname = 'tenants'`.execute(
      t.owner.forPlacement({ model: 'siloed', database: 'silo-a' }),
    );
    expect(reg.rows[0]?.n).toBe(0);
  });
});

describe('one-round-trip scoped reads', () => {
  it('see only the scope tenant and leave nothing behind on the pooled connection', async () => {
    const { scopedRead } = await import('../shared/sql/scoped-read.js');
    const pool = t.kernel.sql.poolFor({ model: 'pooled' });
    const db = t.kernel.sql.forPlacement({ model: 'pooled' });
    const q = sql<{ tenant_id: string; principal_id: string }>`select tenant_id, principal_id from members`.compile(db);
    const rows = await scopedRead(pool, { tenantId: 'tenant-b', placement: { model: 'pooled' } }, tenantsSql(), q);
    expect(new Set(rows.map((r) => r.tenant_id))).toEqual(new Set(['tenant-b']));
    expect(rows.map((r) => r.principal_id).sort()).toEqual(['bob', 'bob-reader']);
    // Every pooled connection is back to the login role with no tenant set.
    const after = await Promise.all(
      Array.from({ length: 4 }, () =>
        pool.query<{ u: string; t: string | null }>("select current_user as u, current_setting('app.tenant_id', true) as t"),
      ),
    );
    for (const r of after) {
      expect([APP_LOGIN, 'postgres']).toContain(r.rows[0]?.u);
      expect(r.rows[0]?.t ?? '').toBe('');
    }
  });
});
