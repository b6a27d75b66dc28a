import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectApiError, startTestApp, type CallResult, type TestApp } from '../../test/app.js';
import type { CatalogInstance } from './api.js';
import { assembleFacts } from './facts.js';
import { CatalogPlugs } from './plugs.js';
import { CATALOG_SQL } from './sql.js';
import { getService } from './store.js';

let t: TestApp;
let clock = new Date('2026-03-01T00:00:00.000Z');
let alice: string; // admin of tenant-a
let bob: string; // admin of tenant-b
let olga: string; // operator of tenant-a
let rita: string; // reader of tenant-a
let envA: string;
let envA2: string;
let envB: string;

const tick = (ms = 1000) => (clock = new Date(clock.getTime() + ms));
const pooled = { model: 'pooled' } as const;
const svc = (name: string, extra: Record<string, unknown> = {}) => ({ name, owner: 'team-a', ...extra });


async function createEnv(tenant: string, token: string, name: string): Promise<string> {
  const r = await t.call('POST', `tenants/${tenant}/environments`, { token, body: { name, kind: 'dev', region: 'westeurope' } });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body.id as string;
}

async function register(tenant: string, env: string, token: string, b: Record<string, unknown>): Promise<CallResult> {
  tick();
  return t.call('POST', `tenants/${tenant}/environments/${env}/services`, { token, body: b });
}

beforeAll(async () => {
  t = await startTestApp({ now: () => clock, env: { HTTP_MAX_BODY_BYTES: '4096' } });
  await t.createTenant('tenant-a', 'alice', { quotas: { maxServicesPerEnvironment: 50 } });
  await t.createTenant('tenant-b', 'bob');
  await t.addMember('tenant-a', 'olga', 'operator');
  await t.addMember('tenant-a', 'rita', 'reader');
  alice = await t.token('alice');
  bob = await t.token('bob');
  olga = await t.token('olga');
  rita = await t.token('rita');
  envA = await createEnv('tenant-a', olga, 'a-main');
  envA2 = await createEnv('tenant-a', olga, 'a-other');
  envB = await createEnv('tenant-b', bob, 'b-main');
});
afterAll(() => t?.close());

describe('the live-service check another service runs in its write', () => {
  it('answers live, retired or missing, and holds the service: a retirement waits for the write to end (on a PostgreSQL server)', async () => {
    const catalog = t.instance<CatalogInstance>('catalog').api;
    const scope = { tenantId: 'tenant-a', placement: pooled };
    const id = (await register('tenant-a', envA, olga, svc('held'))).body.id as string;
    const state = (environmentId: string, serviceId: string) =>
      t.kernel.sql.onceAfter(scope, catalog.liveServiceCheck(scope, environmentId, serviceId).statement, CATALOG_SQL, (db) => ({
        compile: () => sql<{ s: string }>`select current_setting('app.catalog_service_state', true) as s`.compile(db),
      }));
    expect((await state(envA, id))[0]?.s).toBe('live');
    expect((await state(envA2, id))[0]?.s).toBe('missing');
    expect((await state(envA, 'svc_0000000000000000'))[0]?.s).toBe('missing');
    expect(catalog.liveServiceCheck(scope, envA, id).refusalOf([{ state: 'retired' }])).toMatchObject({ code: 'ServiceRetired' });
    expect(catalog.liveServiceCheck(scope, envA, id).refusalOf([{ state: 'missing' }])).toMatchObject({ code: 'NotFound' });
    // PGlite serves one session at a time: there is no second writer to wait.
    if (t.db.engine === 'pglite') return;

    // A write of another service holds the check's lock, its transaction still open.
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    let held!: () => void;
    const holding = new Promise<void>((r) => (held = r));
    const write = t.kernel.sql.run(scope, CATALOG_SQL, async (trx) => {
      const { leadIn } = await import('../../shared/sql/database.js');
      const rows = await leadIn(trx, scope, catalog.liveServiceCheck(scope, envA, id).statement, CATALOG_SQL);
      held();
      await released;
      return rows;
    });
    await holding;
    let retiredAt: number | undefined;
    const retire = t.call('POST', `tenants/tenant-a/environments/${envA}/services/${id}/retire`, { token: olga }).then((r) => ((retiredAt = Date.now()), r));
    // The retirement is waiting on the row lock (seen in pg_stat_activity), not done.
    const waiting = async () =>
      (await sql<{ n: number }>`select count(*)::int as n from pg_stat_activity where wait_event_type = 'Lock' and query like '%services%'`.execute(t.owner.forPlacement(pooled))).rows[0]!.n;
    for (let i = 0; i < 200 && (await waiting()) === 0; i++) await new Promise((r) => setTimeout(r, 25));
    expect(await waiting()).toBe(1);
    expect(retiredAt).toBeUndefined();
    const releasedAt = Date.now();
    release();
    expect(await write).toEqual([{ state: 'live' }]);
    expect((await retire).status).toBe(200);
    expect(retiredAt!).toBeGreaterThanOrEqual(releasedAt);
    expect((await state(envA, id))[0]?.s).toBe('retired');
  });
});

describe('catalog', () => {
  it('registers, reads, patches with If-Match and retires a service', async () => {
    const base = `tenants/tenant-a/environments/${envA}/services`;
    const c = await register('tenant-a', envA, olga, svc('checkout', { lifecycle: 'production', labels: { app: 'shop' } }));
    expect(c.status).toBe(201);
    const id: string = c.body.id;
    expect(id).toMatch(/^svc_[0-9a-f]{16}$/);
    expect(c.headers.get('location')).toBe(`/api/${base}/${id}`);
    expect(c.body).toMatchObject({ environmentId: envA, name: 'checkout', owner: 'team-a', lifecycle: 'production', status: 'active', createdAt: clock.toISOString() });

    const g = await t.call('GET', `${base}/${id}`, { token: rita });
    expect(g.status).toBe(200);
    expect(g.body).toEqual(c.body);
    expect(g.headers.get('etag')).toBe(`"${c.body.etag}"`);
    // The same id under another environment of the tenant is not there.
    expectApiError(await t.call('GET', `tenants/tenant-a/environments/${envA2}/services/${id}`, { token: rita }), 404, 'NotFound');

    expectApiError(await t.call('PATCH', `${base}/${id}`, { token: olga, body: { owner: 'x' }, headers: { 'if-match': '"00000000-0000-0000-0000-000000000000"' } }), 412);
    const p = await t.call('PATCH', `${base}/${id}`, {
      token: olga,
      body: { owner: 'team-b', lifecycle: 'deprecated', labels: { app: null, tier: 'web' }, description: 'Orders' },
      headers: { 'if-match': c.headers.get('etag')! },
    });
    expect(p.status).toBe(200);
    expect(p.body).toMatchObject({ owner: 'team-b', lifecycle: 'deprecated', labels: { tier: 'web' }, description: 'Orders' });
    expectApiError(await t.call('PATCH', `${base}/${id}`, { token: olga, body: { environmentId: envA2 } }), 400, 'InvalidRequest');

    expectApiError(await t.call('POST', `${base}/${id}/retire`, { token: rita }), 403, 'Forbidden');
    expectApiError(await t.call('POST', `${base}/${id}/retire`, { token: olga, headers: { 'if-match': c.headers.get('etag')! } }), 412);
    tick();
    const r = await t.call('POST', `${base}/${id}/retire`, { token: olga, headers: { 'if-match': p.headers.get('etag')! } });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ status: 'retired', retiredAt: clock.toISOString() });
    expect((await t.call('POST', `${base}/${id}/retire`, { token: olga })).body).toEqual(r.body);
    expectApiError(await t.call('PATCH', `${base}/${id}`, { token: olga, body: { owner: 'x' } }), 409, 'ServiceRetired');

    const events = await sql<{ type: string }>`select type from catalog.outbox where subject like ${`%/services/${id}`}`.execute(t.owner.forPlacement(pooled));
    expect(events.rows.map((e) => e.type).sort()).toEqual(['ServiceRegistered', 'ServiceRetired', 'ServiceUpdated']);
    // The in-process API sees it too.
    const api = t.instance<CatalogInstance>('catalog').api;
    expect(await api.getService({ tenantId: 'tenant-a', placement: pooled }, id)).toMatchObject({ serviceId: id, environmentId: envA, status: 'retired' });
    expect(await api.getService({ tenantId: 'tenant-b', placement: pooled }, id)).toBeUndefined();
  });

  it('keeps names unique per environment among live services', async () => {
    expect((await register('tenant-a', envA, olga, svc('cart'))).status).toBe(201);
    expectApiError(await register('tenant-a', envA, olga, svc('cart')), 409, 'Conflict');
    expect((await register('tenant-a', envA2, olga, svc('cart'))).status).toBe(201);
    const other = await register('tenant-a', envA, olga, svc('cart-2'));
    expectApiError(await t.call('PATCH', `tenants/tenant-a/environments/${envA}/services/${other.body.id}`, { token: olga, body: { name: 'cart' } }), 409, 'Conflict');
  });

  it('refuses a registration in an unknown or retired environment', async () => {
    expectApiError(await register('tenant-a', 'env_0000000000000000', olga, svc('x')), 404, 'NotFound');
    const env = await createEnv('tenant-a', olga, 'soon-retired');
    await t.call('POST', `tenants/tenant-a/environments/${env}/retire`, { token: alice });
    expectApiError(await register('tenant-a', env, olga, svc('late')), 409, 'EnvironmentRetired');
  });

  it('enforces maxServicesPerEnvironment, also under concurrent registrations', async () => {
    await t.createTenant('quota-svc', 'quinn', { quotas: { maxServicesPerEnvironment: 4 } });
    const quinn = await t.token('quinn');
    const env = await createEnv('quota-svc', quinn, 'q-env');
    const env2 = await createEnv('quota-svc', quinn, 'q-env-2');
    const rs = await Promise.all(Array.from({ length: 10 }, (_, i) => register('quota-svc', env, quinn, svc(`s${i}`))));
    expect(rs.filter((r) => r.status === 201)).toHaveLength(4);
    for (const r of rs.filter((x) => x.status !== 201)) expectApiError(r, 409, 'QuotaExceeded');
    const n = await sql<{ n: number }>`select count(*)::int as n from catalog.services where tenant_id = 'quota-svc' and environment_id = ${env} and retired_at is null`.execute(
      t.owner.forPlacement(pooled),
    );
    expect(n.rows[0]?.n).toBe(4);
    // The quota is per environment.
    expect((await register('quota-svc', env2, quinn, svc('s0'))).status).toBe(201);
    // Retiring one frees a slot.
    const one = rs.find((r) => r.status === 201)!.body.id as string;
    await t.call('POST', `tenants/quota-svc/environments/${env}/services/${one}/retire`, { token: quinn });
    expect((await register('quota-svc', env, quinn, svc('s-after'))).status).toBe(201);
  });

  it('replays an idempotent registration from its record, even after the environment was retired', async () => {
    const env = await createEnv('tenant-a', olga, 'idem-env');
    const h = { 'repeatability-request-id': 'svc-create-1' };
    const a = await t.call('POST', `tenants/tenant-a/environments/${env}/services`, { token: olga, body: svc('idem'), headers: h });
    const b = await t.call('POST', `tenants/tenant-a/environments/${env}/services`, { token: olga, body: svc('idem'), headers: h });
    expect(a.status).toBe(201);
    expect(b.status).toBe(201);
    expect(b.body).toEqual(a.body);
    expect(b.headers.get('repeatability-result')).toBe('accepted');
    await t.call('POST', `tenants/tenant-a/environments/${env}/retire`, { token: alice });
    const c = await t.call('POST', `tenants/tenant-a/environments/${env}/services`, { token: olga, body: svc('idem'), headers: h });
    expect(c.status).toBe(201);
    expect(c.body).toEqual(a.body);
    const other = { 'repeatability-request-id': 'svc-create-2' };
    expectApiError(await t.call('POST', `tenants/tenant-a/environments/${env}/services`, { token: olga, body: svc('idem-2'), headers: other }), 409, 'EnvironmentRetired');
  });
});

describe('retiring an environment', () => {
  it('retires its services, keeps them, and is safe to retry', async () => {
    const env = await createEnv('tenant-a', olga, 'cascade');
    const ids: string[] = [];
    for (const n of ['one', 'two', 'three']) ids.push((await register('tenant-a', env, olga, svc(n))).body.id);
    await t.call('POST', `tenants/tenant-a/environments/${env}/services/${ids[0]}/retire`, { token: olga });
    const retiredFirst = clock.toISOString();
    tick(5000);
    const r = await t.call('POST', `tenants/tenant-a/environments/${env}/retire`, { token: alice });
    expect(r.status).toBe(200);
    const list = await t.call('GET', `tenants/tenant-a/environments/${env}/services?status=all`, { token: rita });
    expect(list.body.value.map((s: { name: string; status: string; retiredAt: string }) => [s.name, s.status, s.retiredAt])).toEqual([
      ['one', 'retired', retiredFirst],
      ['three', 'retired', r.body.retiredAt],
      ['two', 'retired', r.body.retiredAt],
    ]);
    expect((await t.call('GET', `tenants/tenant-a/environments/${env}/services`, { token: rita })).body.value).toEqual([]);
    const events = await sql<{ n: number }>`select count(*)::int as n from catalog.outbox where type = 'ServiceRetired' and data->>'reason' = 'environmentRetired' and subject like ${`%/environments/${env}/%`}`.execute(
      t.owner.forPlacement(pooled),
    );
    expect(events.rows[0]?.n).toBe(2);
    expect((await t.call('POST', `tenants/tenant-a/environments/${env}/retire`, { token: alice })).status).toBe(200);
  });

  it('closes the race with a registration: once the cascade ran, a registration that passed the environment check is refused', async () => {
    // The environments service still says "active" (its retire committed after our check, say),
    // but the catalog's cascade has run: the registration must not slip in.
    const env = await createEnv('tenant-a', olga, 'racing');
    expect((await register('tenant-a', env, olga, svc('early'))).status).toBe(201);
    await t.instance<CatalogInstance>('catalog').api.retireServicesOfEnvironment({ tenantId: 'tenant-a', placement: pooled }, env, clock);
    expectApiError(await register('tenant-a', env, olga, svc('late')), 409, 'EnvironmentRetired');
    const list = await t.call('GET', `tenants/tenant-a/environments/${env}/services?status=all`, { token: rita });
    expect(list.body.value.map((s: { name: string; status: string }) => [s.name, s.status])).toEqual([['early', 'retired']]);
  });
});

describe('listing services', () => {
  let env: string;
  let t0: Date;
  beforeAll(async () => {
    await t.createTenant('lister', 'lena');
    const lena = await t.token('lena');
    env = await createEnv('lister', lena, 'main');
    const other = await createEnv('lister', lena, 'other');
    tick(60_000);
    t0 = clock;
    const specs: [string, string, string, Record<string, string>][] = [
      ['web-a', 'team-web', 'production', { app: 'web', tier: 'frontend' }],
      ['web-b', 'team-web', 'experimental', { app: 'web', tier: 'frontend', canary: 'true' }],
      ['db', 'team-data', 'production', { app: 'db', tier: 'db' }],
      ['batch', 'team-data', 'deprecated', { app: 'batch' }],
      ['old', 'team-web', 'production', {}],
    ];
    for (const [name, owner, lifecycle, labels] of specs) {
      const r = await register('lister', env, lena, { name, owner, lifecycle, labels });
      expect(r.status).toBe(201);
      if (name === 'old') await t.call('POST', `tenants/lister/environments/${env}/services/${r.body.id}/retire`, { token: lena });
    }
    await register('lister', other, lena, { name: 'web-z', owner: 'team-web', labels: { app: 'web' } });
  });

  const names = async (query: string, path = `tenants/lister/environments/${env}/services`) => {
    const r = await t.call('GET', `${path}${query}`, { token: await t.token('lena') });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    return r.body.value.map((e: { name: string }) => e.name);
  };

  it('filters by owner, lifecycle, status, name prefix and labels', async () => {
    expect(await names('')).toEqual(['batch', 'db', 'web-a', 'web-b']);
    expect(await names('?owner=team-web')).toEqual(['web-a', 'web-b']);
    expect(await names('?lifecycle=production')).toEqual(['db', 'web-a']);
    expect(await names('?status=retired')).toEqual(['old']);
    expect(await names('?status=all&owner=team-web')).toEqual(['old', 'web-a', 'web-b']);
    expect(await names('?namePrefix=web')).toEqual(['web-a', 'web-b']);
    expect(await names(`?labelSelector=${encodeURIComponent('app=web,!canary')}`)).toEqual(['web-a']);
    expect(await names(`?labelSelector=${encodeURIComponent('tier notin (frontend)')}`)).toEqual(['batch', 'db']);
    expect(await names(`?labelSelector=${encodeURIComponent('app in (db,batch),tier')}`)).toEqual(['db']);
  });

  it('answers creation-time ranges in creation order, page by page, per environment and across the tenant', async () => {
    const iso = (d: Date) => encodeURIComponent(d.toISOString());
    expect(await names(`?createdAfter=${iso(new Date(t0.getTime() + 2000))}&createdBefore=${iso(new Date(t0.getTime() + 4000))}`)).toEqual(['web-b', 'db']);
    expect(await names(`?createdAfter=${iso(t0)}&maxpagesize=10`, 'tenants/lister/services')).toEqual(['web-a', 'web-b', 'db', 'batch', 'web-z']);
    expect(await names(`?environmentId=${env}&namePrefix=web`, 'tenants/lister/services')).toEqual(['web-a', 'web-b']);
    expect(await names('?labelSelector=app%3Dweb', 'tenants/lister/services')).toEqual(['web-a', 'web-b', 'web-z']);

    const lena = await t.token('lena');
    const seen: string[] = [];
    let path: string | undefined = `tenants/lister/environments/${env}/services?createdAfter=${iso(t0)}&status=all&maxpagesize=2`;
    while (path) {
      const r: CallResult = await t.call('GET', path, { token: lena });
      expect(r.body.value.length).toBeLessThanOrEqual(2);
      seen.push(...r.body.value.map((e: { name: string }) => e.name));
      const next: string | undefined = r.body.nextLink;
      path = next ? next.slice(next.indexOf('/api/') + 5) : undefined;
    }
    expect(seen).toEqual(['web-a', 'web-b', 'db', 'batch', 'old']);
  });

  it('answers 404 for the services of an unknown environment and an empty page for an empty one', async () => {
    expectApiError(await t.call('GET', 'tenants/lister/environments/env_0000000000000000/services', { token: await t.token('lena') }), 404, 'NotFound');
    const empty = await createEnv('lister', await t.token('lena'), 'empty');
    expect(await names('', `tenants/lister/environments/${empty}/services`)).toEqual([]);
  });
});

describe('fact sheet', () => {
  it('asks every owning service for its part, and none makes one up for a service with no data yet', async () => {
    const s = await register('tenant-a', envA, olga, svc('facts'));
    const f = await t.call('GET', `tenants/tenant-a/environments/${envA}/services/${s.body.id}/facts`, { token: rita });
    expect(f.status).toBe(200);
    expect(f.body).toEqual({
      service: s.body,
      parts: {
        deployment: null,
        configuration: null,
        secretBindings: { bindings: [] },
        scaling: null,
        health: null,
        drift: { openFindings: 0, bySeverity: { critical: 0, high: 0, medium: 0, low: 0 }, findings: [] },
      },
      available: ['deployment', 'configuration', 'secretBindings', 'scaling', 'health', 'drift'],
      missing: [],
      failed: [],
      asOf: clock.toISOString(),
    });
    // One provider per part: a second one is refused.
    expect(() => t.instance<CatalogInstance>('catalog').api.addFactProvider('health', 'other', async () => null)).toThrow(/already registered/);
  });

  it('assembles the parts providers answer, drops unknown fields, and reports failed and missing parts', async () => {
    // Test providers on a registry of their own (the app's has the real services' providers).
    const plugs = new CatalogPlugs();
    const seen: string[] = [];
    plugs.addFactProvider('deployment', 'deployments', async (tenant, service) => {
      seen.push(`${tenant.tenantId}/${service.serviceId}/${service.environmentId}`);
      return { deploymentId: 'dep_1', image: 'registry.example/checkout:1.2.3', status: 'running', deployedAt: '2026-02-01T00:00:00.000Z', secretValue: 'hunter2' } as never;
    });
    plugs.addFactProvider('configuration', 'configuration', async () => null);
    plugs.addFactProvider('scaling', 'scaling', async () => ({ policyId: 'p1' }) as never);
    plugs.addFactProvider('health', 'health', async () => {
      throw new Error('database on fire');
    });
    const s = await register('tenant-a', envA, olga, svc('facts-2'));
    const tenant = { tenantId: 'tenant-a', placement: { model: 'pooled' } } as const;
    const row = await t.kernel.sql.run(tenant, CATALOG_SQL, (trx) => getService(trx, 'tenant-a', s.body.id));
    const f = await assembleFacts(plugs, tenant, row!, clock);
    expect(seen).toEqual([`tenant-a/${s.body.id}/${envA}`]);
    expect(f.parts).toEqual({
      deployment: { deploymentId: 'dep_1', image: 'registry.example/checkout:1.2.3', status: 'running', deployedAt: '2026-02-01T00:00:00.000Z' },
      configuration: null,
    });
    expect(f.available).toEqual(['deployment', 'configuration']);
    expect(f.missing).toEqual(['secretBindings', 'drift']);
    expect(f.failed).toEqual([
      { part: 'scaling', message: 'scaling answered in an unexpected shape.' },
      { part: 'health', message: 'health did not answer.' },
    ]);
    expect(JSON.stringify(f)).not.toContain('hunter2');
    expect(JSON.stringify(f)).not.toContain('on fire');
  });
});

describe('tenant isolation of the catalog', () => {
  it("answers 404 to a member of tenant A on every route of tenant B's services, and changes nothing", async () => {
    const b = await register('tenant-b', envB, bob, svc('b-secret', { labels: { app: 'web' } }));
    expect(b.status).toBe(201);
    const sid: string = b.body.id;
    const before = await t.snapshot();
    const bBase = `tenants/tenant-b/environments/${envB}/services`;
    const aWithB = `tenants/tenant-a/environments/${envB}/services`;
    const attempts: [string, string, Record<string, unknown> | undefined][] = [
      ['POST', bBase, svc('intruder')],
      ['GET', bBase, undefined],
      ['GET', 'tenants/tenant-b/services', undefined],
      ['GET', `${bBase}/${sid}`, undefined],
      ['PATCH', `${bBase}/${sid}`, { owner: 'mallory' }],
      ['POST', `${bBase}/${sid}/retire`, undefined],
      ['GET', `${bBase}/${sid}/facts`, undefined],
      // B's ids under A's own tenant path.
      ['POST', aWithB, svc('intruder')],
      ['GET', aWithB, undefined],
      ['GET', `${aWithB}/${sid}`, undefined],
      ['PATCH', `${aWithB}/${sid}`, { owner: 'mallory' }],
      ['POST', `${aWithB}/${sid}/retire`, undefined],
      ['GET', `${aWithB}/${sid}/facts`, undefined],
      ['GET', `tenants/tenant-a/environments/${envA}/services/${sid}`, undefined],
    ];
    for (const [method, path, body] of attempts) {
      expectApiError(await t.call(method, path, { token: alice, ...(body ? { body } : {}) }), 404, 'NotFound');
    }
    const mine = await t.call('GET', `tenants/tenant-a/services?status=all&environmentId=${envB}`, { token: alice });
    expect(mine.body.value).toEqual([]);
    const all = await t.call('GET', 'tenants/tenant-a/services?status=all&labelSelector=app%3Dweb&maxpagesize=100', { token: alice });
    expect(all.body.value.map((s: { id: string }) => s.id)).not.toContain(sid);
    expect(await t.snapshot()).toEqual(before);
    expect((await t.call('GET', `${bBase}/${sid}`, { token: bob })).body).toMatchObject({ owner: 'team-a', status: 'active' });
  });
});

describe('bad input on catalog routes', () => {
  let sid: string;
  beforeAll(async () => {
    sid = (await register('tenant-a', envA, olga, svc('victim', { description: 'untouched' }))).body.id;
  });

  it('refuses malformed bodies with a 4xx in the error format, changing nothing', async () => {
    const before = await t.snapshot();
    const cases: [string, Parameters<TestApp['call']>[2]][] = [
      ['malformed JSON', { rawBody: '{"name": "x",' }],
      ['wrong types', { body: { name: 42, owner: ['x'] } }],
      ['unknown lifecycle', { body: svc('ok-name', { lifecycle: 'sunset' }) }],
      ['unknown field', { body: svc('ok-name', { environmentId: envA2 }) }],
      ['oversize', { body: svc('ok-name', { description: 'x'.repeat(5000) }) }],
      ['emoji name', { body: svc('api-🚀') }],
      ['RTL name', { body: svc('שלום') }],
      ['RTL owner', { body: svc('ok-name', { owner: 'فريق' }) }],
      ['NUL', { body: svc('ok-name', { displayName: 'a\u0000b' }) }],
      ['injection owner', { body: svc('ok-name', { owner: "x' OR '1'='1" }) }],
      ['injection label', { body: svc('ok-name', { labels: { "a'; drop table catalog.services; --": 'x' } }) }],
      ['too many labels', { body: svc('ok-name', { labels: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v'])) }) }],
    ];
    for (const [what, o] of cases) {
      const r = await t.call('POST', `tenants/tenant-a/environments/${envA}/services`, { token: olga, ...o });
      expect(r.status, what).toBeGreaterThanOrEqual(400);
      expect(r.status, what).toBeLessThan(500);
      expect(r.headers.get('x-ms-error-code'), what).toBe(r.body.error.code);
      const p = await t.call('PATCH', `tenants/tenant-a/environments/${envA}/services/${sid}`, { token: olga, ...o });
      expect(p.status, `patch: ${what}`).toBeGreaterThanOrEqual(400);
      expect(p.status, `patch: ${what}`).toBeLessThan(500);
    }
    expect(await t.snapshot()).toEqual(before);
  });

  it('keeps unicode text in display names and descriptions', async () => {
    const text = { displayName: 'Kasse 🛒 مرحبا', description: 'ü — עברית' };
    const r = await register('tenant-a', envA, olga, svc('unicode', text));
    expect(r.status).toBe(201);
    expect((await t.call('GET', `tenants/tenant-a/environments/${envA}/services/${r.body.id}`, { token: rita })).body).toMatchObject(text);
  });

  it('refuses hostile filters and ids with a 4xx and no 5xx', async () => {
    const before = await t.snapshot();
    const hostile = ["' OR '1'='1", "'; DROP TABLE catalog.services; --", '%', '_', '\\', '🚀', 'a\u0000b', 'x'.repeat(2000)];
    for (const s of hostile) {
      for (const base of [`tenants/tenant-a/environments/${envA}/services`, 'tenants/tenant-a/services']) {
        for (const param of ['owner', 'lifecycle', 'status', 'namePrefix', 'labelSelector', 'createdBefore', 'skipToken']) {
          const r = await t.call('GET', `${base}?${param}=${encodeURIComponent(s)}`, { token: rita });
          expect(r.status, `${base} ${param}=${s.slice(0, 20)}`).toBe(400);
        }
      }
      expectApiError(await t.call('GET', `tenants/tenant-a/services?environmentId=${encodeURIComponent(s)}`, { token: rita }), 400);
      const id = encodeURIComponent(s);
      expectApiError(await t.call('GET', `tenants/tenant-a/environments/${envA}/services/${id}`, { token: rita }), 404);
      expectApiError(await t.call('GET', `tenants/tenant-a/environments/${envA}/services/${id}/facts`, { token: rita }), 404);
      expectApiError(await t.call('POST', `tenants/tenant-a/environments/${id}/services/${sid}/retire`, { token: olga }), 404);
      expectApiError(await t.call('PATCH', `tenants/tenant-a/environments/${envA}/services/${id}`, { token: olga, body: { owner: 'x' } }), 404);
    }
    expect((await t.call('GET', `tenants/tenant-a/environments/${envA}/services/${sid}`, { token: rita })).body.description).toBe('untouched');
    expect(await t.snapshot()).toEqual(before);
  });
});

describe('schema', () => {
  it('leads every btree index of its tables with tenant_id (the labels GIN index is the documented exception)', async () => {
    const rows = await sql<{ index: string; method: string; first: string }>`
      select c.relname as index, am.amname as method, a.attname as first
      from pg_index i
      join pg_class c on c.oid = i.indexrelid
      join pg_class tb on tb.oid = i.indrelid
      join pg_namespace n on n.oid = tb.relnamespace
      join pg_am am on am.oid = c.relam
      left join pg_attribute a on a.attrelid = i.indrelid and a.attnum = i.indkey[0]
      where n.nspname = 'catalog' and tb.relname in ('services', 'retired_environments')`.execute(t.owner.forPlacement(pooled));
    expect(rows.rows.length).toBeGreaterThan(7);
    for (const r of rows.rows) {
      if (r.method === 'gin') expect(r.index).toBe('services_labels');
      else expect(r.first, r.index).toBe('tenant_id');
    }
  });
});
