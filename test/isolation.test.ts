/**
 * Tenant isolation, for every tenant-scoped route the app registers (new services are covered as
 * they land): a member of tenant A gets 404 on tenant B and B's data is unchanged; inside A's
 * transaction an unfiltered query sees only A's rows; app roles are neither owner, superuser nor
 * BYPASSRLS and every table has row-level security forced (the isolation check's own proof); a
 * siloed tenant's rows land in its own database only.
 */
import { sql, type Kysely, type RawBuilder } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APP_LOGIN, startTestApp, type TestApp } from './app.js';
import { inScope, servicesIn } from '../shared/sql/database.js';
import { emit } from '../shared/events/outbox.js';
import { services } from '../composition/services.js';
import { loadDatabaseServices } from '../composition/app.js';
import { z } from '../shared/http/openapi.js';
import { route } from '../shared/http/route.js';
import { createKernelTables } from '../shared/sql/migrator.js';
import { checkDatabase } from '../functions/platform/isolation-check.js';

let t: TestApp;
const databaseServices = await loadDatabaseServices(services);
const tenantsSql = () => databaseServices.find((s) => s.service === 'tenants')!;

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
    const scoped = t.app.routes.routes.filter((r) => r.route.startsWith('tenants/{tenantId}'));
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

  it("answers 404 when a member of A names B's real ids through A's own path, on every route with ids, and changes nothing", async () => {
    // B's data: an environment, a service, and whatever the services that own more data keep of it.
    const bob = await t.token('bob');
    const env = await t.call('POST', 'tenants/tenant-b/environments', { token: bob, body: { name: 'b-env', kind: 'prod', region: 'westeurope' } });
    const svc = await t.call('POST', `tenants/tenant-b/environments/${env.body.id}/services`, { token: bob, body: { name: 'b-svc', owner: 'team-b' } });
    const bService = `tenants/tenant-b/environments/${env.body.id}/services/${svc.body.id}`;
    const policy = await t.call('PUT', `${bService}/scaling-policy`, { token: bob, body: { minReplicas: 1, maxReplicas: 3, triggers: [{ type: 'cpu', name: 'cpu', targetUtilization: 60 }] } });
    const event = await t.call('POST', `${bService}/scaling-events`, { token: bob, body: { at: new Date().toISOString(), fromReplicas: 1, toReplicas: 2, trigger: 'cpu', source: 'hpa' } });
    expect([env.status, svc.status, policy.status, event.status]).toEqual([201, 201, 201, 201]);
    const real: Record<string, string> = { environmentId: env.body.id, serviceId: svc.body.id, eventId: event.body.id, version: '1' };

    const alice = await t.token('alice');
    const withIds = t.app.routes.routes.filter((r) => r.route.startsWith('tenants/{tenantId}/') && Object.keys(real).some((k) => r.route.includes(`{${k}}`)));
    expect(withIds.length).toBeGreaterThan(5);
    const before = await t.snapshot();
    for (const r of withIds) {
      const path = r.route.replace('{tenantId}', 'tenant-a').replace(/\{(\w+)\??(:[^}]*)?\}/g, (_, name: string) => real[name] ?? 'x1');
      const query = r.name === 'scalingPolicyManifest' ? '?target=keda' : '';
      const example = t.kernel.openapi.examples.get(r.name)?.example;
      const res = await t.call(r.method, `${path}${query}`, { token: alice, ...(example !== undefined ? { body: example } : {}) });
      expect([res.status, res.body?.error?.code], `${r.method} ${path}`).toEqual([404, 'NotFound']);
    }
    expect(await t.snapshot()).toEqual(before);
  });

  it('lets B see its own tenant', async () => {
    expect((await t.call('GET', 'tenants/tenant-b', { token: await t.token('bob') })).status).toBe(200);
    expect((await t.call('GET', 'tenants/tenant-b', { token: await t.token('alice') })).status).toBe(404);
  });
});

describe("another tenant's real ids through the caller's own tenant path", () => {
  /** Ids whose routes are proven with real ids in their service's own suite (they need a finished scan). */
  const provenElsewhere: Record<string, string> = {
    findingId: 'functions/drift/drift.test.ts',
    scanId: 'functions/drift/drift.test.ts',
  };

  it('answers 404 on every route that names an id, given B\'s real ids through A\'s path, and changes nothing', async () => {
    // Tenant B's real data, one of each kind of id a route names.
    const bob = await t.token('bob');
    const must = async (method: string, path: string, body?: unknown) => {
      const r = await t.call(method, `tenants/tenant-b/${path}`, { token: bob, ...(body !== undefined ? { body } : {}) });
      expect(r.status, `${method} ${path}: ${JSON.stringify(r.body)}`).toBeLessThan(300);
      return r;
    };
    const env = (await must('POST', 'environments', { name: 'real-ids', kind: 'dev', region: 'westeurope' })).body.id as string;
    const svc = (await must('POST', `environments/${env}/services`, { name: 'real-ids', owner: 'team' })).body.id as string;
    const service = `environments/${env}/services/${svc}`;
    await must('PUT', `${service}/configuration`, { settings: { a: 1 } });
    await must('PUT', `${service}/scaling-policy`, { minReplicas: 1, maxReplicas: 3, triggers: [{ type: 'cpu', name: 'cpu', targetUtilization: 60 }] });
    const event = (await must('POST', `${service}/scaling-events`, { at: new Date().toISOString(), fromReplicas: 1, toReplicas: 2, trigger: 'cpu', source: 'hpa' })).body.id as string;
    const binding = (
      await must('POST', 'secret-bindings', {
        name: 'real-ids',
        secretName: 'real-ids',
        consumers: [{ environmentId: env }],
        rotation: { intervalDays: 30, generator: { kind: 'random', length: 32, alphabet: 'hex' } },
        initialValue: 'generate',
      })
    ).body.id as string;
    const rotate = await must('POST', `secret-bindings/${binding}/rotate`);
    const rotation = /rotations\/([^/?]+)$/.exec(rotate.headers.get('operation-location') ?? '')?.[1];
    expect(rotation).toBeDefined();
    const deployment = (await must('POST', `environments/${env}/deployments`, { serviceId: svc, image: `contoso.azurecr.io/api@sha256:${'b'.repeat(64)}` })).body.id as string;
    const rule = (await must('POST', 'drift-ignore-rules', { environmentId: env, path: '/x', reason: 'known' })).body.id as string;
    const real: Record<string, string> = {
      environmentId: env,
      serviceId: svc,
      version: '1',
      eventId: event,
      bindingId: binding,
      rotationId: rotation!,
      deploymentId: deployment,
      ruleId: rule,
      // Names within a deployment: the deployment's id is B's, so A's path finds nothing to name.
      artifactName: 'manifest.yaml',
      step: 'apply',
    };
    const queries: Record<string, string> = { scalingPolicyManifest: '?target=keda' };

    const alice = await t.token('alice');
    const withIds = t.app.routes.routes.filter((r) => r.route.startsWith('tenants/{tenantId}/') && /\{(?!tenantId)\w+/.test(r.route));
    const params = new Set(withIds.flatMap((r) => [...r.route.matchAll(/\{(\w+)/g)].map((m) => m[1]!)).filter((p) => p !== 'tenantId'));
    // A new route's id joins this test: it needs a real id of B's here (or a service test that proves it).
    expect([...params].filter((p) => !(p in real) && !(p in provenElsewhere) && p !== 'principalId')).toEqual([]);
    const before = await t.snapshot();
    let tried = 0;
    for (const r of withIds) {
      const names = [...r.route.matchAll(/\{(\w+)/g)].map((m) => m[1]!);
      if (names.some((n) => n in provenElsewhere) || names.includes('principalId')) continue;
      const path = r.route.replace('{tenantId}', 'tenant-a').replace(/\{(\w+)\??(:[^}]*)?\}/g, (_, name: string) => real[name] ?? 'x1');
      const example = t.kernel.openapi.examples.get(r.name)?.example;
      // A JSON route gets its example; a streamed upload (a log, an artifact) a few bytes.
      const upload = example === undefined && (r.method === 'PUT' || r.method === 'POST') && /\/(log|artifacts\/)/.test(r.route);
      const res = await t.call(r.method, `${path}${queries[r.name] ?? ''}`, {
        token: alice,
        headers: { 'if-match': '*', ...(upload ? { 'content-type': 'text/plain' } : {}) },
        ...(example !== undefined ? { body: example } : upload ? { rawBody: 'x' } : {}),
      });
      expect([res.status, res.body?.error?.code], `${r.method} ${path}`).toEqual([404, 'NotFound']);
      tried++;
    }
    expect(tried).toBeGreaterThan(40);
    expect(await t.snapshot()).toEqual(before);
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

  it("runs two services' statements in one round trip, each as its own role in the same scope, all or nothing", async () => {
    const scope = { tenantId: 'tenant-a', placement: { model: 'pooled' } } as const;
    const catalog = databaseServices.find((s) => s.service === 'catalog')!;
    const raw = <Row>(q: RawBuilder<Row>) => (db: Kysely<any>) => ({ compile: () => q.compile(db) });
    const lead = { svc: tenantsSql(), build: raw(sql`select set_config('app.test_lead', current_user, true)`) };
    const [row] = await t.kernel.sql.onceAfter(scope, lead, catalog, raw(sql<{ u: string; lead: string; tenant: string; path: string }>`
      select current_user as u, current_setting('app.test_lead', true) as lead, current_setting('app.tenant_id', true) as tenant, current_setting('search_path') as path`));
    expect(row).toEqual({ u: 'rp_catalog', lead: 'rp_tenants', tenant: 'tenant-a', path: 'catalog' });

    // The second statement fails: the first one's write is gone with it.
    const outbox = () => sql<{ n: number }>`select count(*)::int as n from tenants.outbox`.execute(t.owner.forPlacement(scope.placement)).then((r) => r.rows[0]?.n);
    const before = await outbox();
    const write = { svc: tenantsSql(), build: raw(sql`insert into outbox (tenant_id, id, type, subject, data) values ('tenant-a', gen_random_uuid(), 'Test', 'x', '{}')`) };
    await expect(t.kernel.sql.onceAfter(scope, write, catalog, raw(sql`select 1 / 0`))).rejects.toMatchObject({ code: '22012' });
    expect(await outbox()).toBe(before);
    // The first one fails (another tenant's row, refused by row-level security): the second never runs.
    const refused = { svc: tenantsSql(), build: raw(sql`insert into outbox (tenant_id, id, type, subject, data) values ('tenant-b', gen_random_uuid(), 'Test', 'x', '{}')`) };
    await expect(t.kernel.sql.onceAfter(scope, refused, tenantsSql(), raw(sql`insert into outbox (tenant_id, id, type, subject, data) values ('tenant-a', gen_random_uuid(), 'Test', 'y', '{}')`))).rejects.toMatchObject({ code: '42501' });
    expect(await outbox()).toBe(before);
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

  it('runs every service as a role that is not owner, superuser or BYPASSRLS, on tables with row-level security forced (the isolation check)', async () => {
    // The same proof the hourly isolation check runs in production (functions/platform/isolation-check.ts).
    for (const { name, db, placement } of t.kernel.sql.all()) {
      const { relations, findings } = await checkDatabase(db, name, placement, servicesIn(placement, databaseServices));
      expect(relations, name).toBeGreaterThan(0);
      expect(findings, name).toEqual([]);
    }
  });
});

describe('the principal scope (routes that are not tenant-scoped)', () => {
  const pooled = { model: 'pooled' } as const;
  const inPrincipal = <T>(principal: string, fn: Parameters<typeof inScope<unknown, T>>[3]) =>
    inScope(t.kernel.sql.forPlacement(pooled), { principal, placement: pooled }, tenantsSql(), fn);

  it("shows a principal its own memberships and the tenants they name, and nothing else", async () => {
    const seen = await inPrincipal('bob', async (trx) => ({
      tenants: (await sql<{ tenant_id: string }>`select tenant_id from tenants order by 1`.execute(trx)).rows.map((r) => r.tenant_id),
      members: (await sql<{ tenant_id: string; principal_id: string }>`select tenant_id, principal_id from members order by 1, 2`.execute(trx)).rows,
      outbox: (await sql<{ n: number }>`select count(*)::int as n from outbox`.execute(trx)).rows[0]?.n,
    }));
    expect(seen.tenants).toEqual(['tenant-b']);
    // Its own membership row only: not the other members of its tenant.
    expect(seen.members).toEqual([{ tenant_id: 'tenant-b', principal_id: 'bob' }]);
    const stored = await sql<{ n: number }>`select count(*)::int as n from tenants.outbox`.execute(t.owner.forPlacement(pooled));
    expect(stored.rows[0]?.n).toBeGreaterThan(0);
    expect(seen.outbox).toBe(0);
    for (const nobody of ['', 'stranger']) {
      const none = await inPrincipal(nobody, async (trx) => [
        (await sql<{ n: number }>`select count(*)::int as n from tenants`.execute(trx)).rows[0]?.n,
        (await sql<{ n: number }>`select count(*)::int as n from members`.execute(trx)).rows[0]?.n,
      ]);
      expect(none, `principal '${nobody}'`).toEqual([0, 0]);
    }
  });

  it('admits no write, not even to the principal\'s own rows', async () => {
    await expect(
      inPrincipal('bob', (trx) => sql`insert into members (tenant_id, principal_id, role) values ('tenant-b', 'mallory', 'admin')`.execute(trx)),
    ).rejects.toMatchObject({ code: '42501' });
    const changed = await inPrincipal('bob-reader', async (trx) => [
      Number((await sql`update members set role = 'admin' where principal_id = 'bob-reader'`.execute(trx)).numAffectedRows),
      Number((await sql`update tenants set display_name = 'x'`.execute(trx)).numAffectedRows),
      Number((await sql`delete from members`.execute(trx)).numAffectedRows),
    ]);
    expect(changed).toEqual([0, 0, 0]);
  });

  it('is where authenticated and anonymous routes run; only platform-admin routes see every tenant', async () => {
    const probe = (name: string, access: Parameters<typeof route>[0]['access']) => {
      t.app.routes.add(name, 'GET', `test-scope/${name}`, route({
        summary: 'test only',
        tags: ['test'],
        access,
        responses: { 200: { description: 'ok', schema: z.array(z.string()) } },
        handler: async (ctx) => {
          const rows = await ctx.tx(tenantsSql(), (trx) => sql<{ tenant_id: string }>`select tenant_id from tenants order by 1`.execute(trx));
          return { status: 200, body: rows.rows.map((r) => r.tenant_id) };
        },
      }));
      return `test-scope/${name}`;
    };
    const authenticated = probe('testScopeAuthenticated', { authenticated: true });
    const anonymous = probe('testScopeAnonymous', { anonymous: true });
    const admin = probe('testScopePlatformAdmin', { platformAdmin: true });
    const root = await t.token('platform-admin', { admin: true });
    expect((await t.call('GET', authenticated, { token: await t.token('alice') })).body).toEqual(['tenant-a']);
    expect((await t.call('GET', authenticated, { token: await t.token('stranger') })).body).toEqual([]);
    // A platform admin on a route that did not ask for the platform scope sees its memberships only.
    expect((await t.call('GET', authenticated, { token: root })).body).toEqual([]);
    expect((await t.call('GET', anonymous, {})).body).toEqual([]);
    expect((await t.call('GET', admin, { token: root })).body).toEqual(['tenant-a', 'tenant-b', 'tenant-s']);
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
    t.app.routes.add('testSiloWrite', 'POST', 'tenants/{tenantId}/test-silo-write', route({
      summary: 'test only',
      tags: ['test'],
      access: { tenantRole: 'operator' },
      responses: { 204: { description: 'ok' } },
      handler: async (ctx) => {
        await ctx.tx(probe, (trx) => emit(trx, ctx.tenant.tenantId, { type: 'Probe', subject: 'probe', data: {} }));
        return { status: 204 };
      },
    }));
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
    const pool = t.kernel.sql.poolFor({ model: 'pooled' });
    const q = sql<{ tenant_id: string; principal_id: string }>`select tenant_id, principal_id from members`;
    const rows = await t.kernel.sql.read({ tenantId: 'tenant-b', placement: { model: 'pooled' } }, tenantsSql(), (db) => ({ compile: () => q.compile(db) }));
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
