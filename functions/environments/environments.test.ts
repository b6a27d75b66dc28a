import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectApiError, startTestApp, type CallResult, type TestApp } from '../../test/app.js';

let t: TestApp;
let clock = new Date('2026-03-01T00:00:00.000Z');
let alice: string; // admin of tenant-a
let bob: string; // admin of tenant-b
let olga: string; // operator of tenant-a
let rita: string; // reader of tenant-a

const tick = (ms = 1000) => (clock = new Date(clock.getTime() + ms));
const A = 'tenants/tenant-a/environments';
const B = 'tenants/tenant-b/environments';
const body = (name: string, extra: Record<string, unknown> = {}) => ({ name, kind: 'dev', region: 'westeurope', ...extra });

beforeAll(async () => {
  t = await startTestApp({ now: () => clock, env: { HTTP_MAX_BODY_BYTES: '4096' } });
  await t.createTenant('tenant-a', 'alice', { quotas: { maxEnvironments: 50 } });
  await t.createTenant('tenant-b', 'bob');
  await t.addMember('tenant-a', 'olga', 'operator');
  await t.addMember('tenant-a', 'rita', 'reader');
  alice = await t.token('alice');
  bob = await t.token('bob');
  olga = await t.token('olga');
  rita = await t.token('rita');
});
afterAll(() => t?.close());

async function create(path: string, token: string, b: Record<string, unknown>): Promise<CallResult> {
  tick();
  return t.call('POST', path, { token, body: b });
}


describe('environments', () => {
  it('creates, reads, patches with If-Match and retires an environment', async () => {
    const c = await create(A, olga, body('life', { displayName: 'Life', labels: { team: 'core' } }));
    expect(c.status).toBe(201);
    const id: string = c.body.id;
    expect(id).toMatch(/^env_[0-9a-f]{16}$/);
    expect(c.headers.get('location')).toBe(`/api/${A}/${id}`);
    expect(c.headers.get('etag')).toBe(`"${c.body.etag}"`);
    expect(c.body).toMatchObject({ name: 'life', kind: 'dev', region: 'westeurope', status: 'active', retiredAt: null, createdAt: clock.toISOString() });
    // No topology given: the storage map's stores, in the tenant's (pooled) database.
    const kinds = c.body.storageTopology.resources.map((r: { kind: string; name: string }) => `${r.kind}/${r.name}`);
    expect(kinds).toEqual(['postgresql/pooled', 'blobContainer/deployment-artifacts', 'cosmosContainer/drift-snapshots']);
    expect(c.body.storageTopology.resources[1]).toMatchObject({ coolAfterDays: 90, deleteAfterDays: 365 });

    const g = await t.call('GET', `${A}/${id}`, { token: rita });
    expect(g.status).toBe(200);
    expect(g.body).toEqual(c.body);

    const stale = await t.call('PATCH', `${A}/${id}`, { token: olga, body: { displayName: 'X' }, headers: { 'if-match': '"00000000-0000-0000-0000-000000000000"' } });
    expectApiError(stale, 412, 'PreconditionFailed');
    tick();
    const p = await t.call('PATCH', `${A}/${id}`, {
      token: olga,
      body: { displayName: null, description: 'Where it lives', labels: { team: null, tier: 'gold' } },
      headers: { 'if-match': c.headers.get('etag')! },
    });
    expect(p.status).toBe(200);
    expect(p.body).toMatchObject({ displayName: null, description: 'Where it lives', labels: { tier: 'gold' }, updatedAt: clock.toISOString() });
    expect(p.body.etag).not.toBe(c.body.etag);
    expectApiError(await t.call('PATCH', `${A}/${id}`, { token: olga, body: { region: 'eastus' } }), 400, 'InvalidRequest');

    expectApiError(await t.call('POST', `${A}/${id}/retire`, { token: olga }), 403, 'Forbidden');
    expectApiError(await t.call('POST', `${A}/${id}/retire`, { token: alice, headers: { 'if-match': c.headers.get('etag')! } }), 412);
    tick();
    const r = await t.call('POST', `${A}/${id}/retire`, { token: alice, headers: { 'if-match': p.headers.get('etag')! } });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ status: 'retired', retiredAt: clock.toISOString() });
    // Retrying is harmless; a retired environment is read-only.
    expect((await t.call('POST', `${A}/${id}/retire`, { token: alice })).body).toEqual(r.body);
    expectApiError(await t.call('PATCH', `${A}/${id}`, { token: olga, body: { description: 'x' } }), 409, 'EnvironmentRetired');
    expect((await t.call('GET', `${A}/${id}`, { token: rita })).body.status).toBe('retired');

    const events = await sql<{ type: string }>`select type from environments.outbox where tenant_id = 'tenant-a' and subject = ${`tenants/tenant-a/environments/${id}`} order by created_at, type`.execute(
      t.owner.forPlacement({ model: 'pooled' }),
    );
    expect(events.rows.map((e) => e.type).sort()).toEqual(['EnvironmentCreated', 'EnvironmentRetired', 'EnvironmentUpdated']);
  });

  it('keeps names unique among live environments, and frees a retired name', async () => {
    const first = await create(A, olga, body('dup'));
    expect(first.status).toBe(201);
    expectApiError(await create(A, olga, body('dup', { kind: 'prod' })), 409, 'Conflict');
    const other = await create(A, olga, body('dup-2'));
    expectApiError(await t.call('PATCH', `${A}/${other.body.id}`, { token: olga, body: { name: 'dup' } }), 409, 'Conflict');
    await t.call('POST', `${A}/${first.body.id}/retire`, { token: alice });
    const again = await create(A, olga, body('dup'));
    expect(again.status).toBe(201);
    expect(again.body.id).not.toBe(first.body.id);
    // Another tenant may use the same name.
    expect((await create(B, bob, body('dup'))).status).toBe(201);
  });

  it('replays an idempotent create', async () => {
    const h = { 'repeatability-request-id': 'env-create-1' };
    const a = await t.call('POST', A, { token: olga, body: body('idem'), headers: h });
    const b = await t.call('POST', A, { token: olga, body: body('idem'), headers: h });
    expect(a.status).toBe(201);
    expect(b.body).toEqual(a.body);
    expect(b.headers.get('repeatability-result')).toBe('accepted');
  });

  it('enforces maxEnvironments, also under concurrent creates', async () => {
    await t.createTenant('quota-env', 'quinn', { quotas: { maxEnvironments: 5 } });
    const quinn = await t.token('quinn');
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => t.call('POST', 'tenants/quota-env/environments', { token: quinn, body: body(`q${i}`) })));
    expect(results.filter((r) => r.status === 201)).toHaveLength(5);
    for (const r of results.filter((x) => x.status !== 201)) expectApiError(r, 409, 'QuotaExceeded');
    const live = await sql<{ n: number }>`select count(*)::int as n from environments.environments where tenant_id = 'quota-env' and retired_at is null`.execute(
      t.owner.forPlacement({ model: 'pooled' }),
    );
    expect(live.rows[0]?.n).toBe(5);
    // Retiring one frees a slot.
    const list = await t.call('GET', 'tenants/quota-env/environments', { token: quinn });
    await t.call('POST', `tenants/quota-env/environments/${list.body.value[0].id}/retire`, { token: quinn });
    expect((await t.call('POST', 'tenants/quota-env/environments', { token: quinn, body: body('q-after') })).status).toBe(201);
    expectApiError(await t.call('POST', 'tenants/quota-env/environments', { token: quinn, body: body('q-over') }), 409, 'QuotaExceeded');
  });

  it('enforces roles: readers read, operators write, admins retire', async () => {
    expectApiError(await create(A, rita, body('by-reader')), 403, 'Forbidden');
    expect((await t.call('GET', A, { token: rita })).status).toBe(200);
  });
});

describe('listing environments', () => {
  const ids: Record<string, string> = {};
  let t0: Date;

  beforeAll(async () => {
    await t.createTenant('lister', 'lena', { quotas: { maxEnvironments: 100 } });
    const lena = await t.token('lena');
    tick(60_000);
    t0 = clock;
    const specs: [string, string, string, Record<string, string>][] = [
      ['web-dev', 'dev', 'westeurope', { app: 'web', tier: 'frontend' }],
      ['web-test', 'test', 'westeurope', { app: 'web', tier: 'frontend', canary: 'true' }],
      ['web-prod', 'prod', 'northeurope', { app: 'web', tier: 'frontend' }],
      ['db-prod', 'prod', 'northeurope', { app: 'db', tier: 'db' }],
      ['batch-staging', 'staging', 'eastus2', { app: 'batch' }],
      ['misc', 'dev', 'eastus2', {}],
    ];
    for (const [name, kind, region, labels] of specs) {
      const r = await create('tenants/lister/environments', lena, { name, kind, region, labels });
      expect(r.status).toBe(201);
      ids[name] = r.body.id;
    }
    await t.call('POST', `tenants/lister/environments/${ids.misc}/retire`, { token: lena });
  });

  const names = async (query: string) => {
    const r = await t.call('GET', `tenants/lister/environments${query}`, { token: await t.token('lena') });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    return r.body.value.map((e: { name: string }) => e.name);
  };

  it('filters by kind, region, status and name prefix, ordered by name', async () => {
    expect(await names('')).toEqual(['batch-staging', 'db-prod', 'web-dev', 'web-prod', 'web-test']);
    expect(await names('?kind=prod')).toEqual(['db-prod', 'web-prod']);
    expect(await names('?region=northeurope&kind=prod')).toEqual(['db-prod', 'web-prod']);
    expect(await names('?status=retired')).toEqual(['misc']);
    expect(await names('?status=all')).toEqual(['batch-staging', 'db-prod', 'misc', 'web-dev', 'web-prod', 'web-test']);
    expect(await names('?namePrefix=web-')).toEqual(['web-dev', 'web-prod', 'web-test']);
  });

  it('selects by labels: equality, inequality, sets and existence', async () => {
    const q = (s: string) => names(`?labelSelector=${encodeURIComponent(s)}`);
    expect(await q('app=web')).toEqual(['web-dev', 'web-prod', 'web-test']);
    expect(await q('app==web,canary')).toEqual(['web-test']);
    expect(await q('app=web,!canary')).toEqual(['web-dev', 'web-prod']);
    // `!=` and `notin` match objects without the key, as in Kubernetes.
    expect(await q('tier!=frontend')).toEqual(['batch-staging', 'db-prod']);
    expect(await q('app in (db, batch)')).toEqual(['batch-staging', 'db-prod']);
    expect(await q('app notin (web)')).toEqual(['batch-staging', 'db-prod']);
    expect(await q('tier')).toEqual(['db-prod', 'web-dev', 'web-prod', 'web-test']);
  });

  it('answers creation-time ranges in creation order, page by page', async () => {
    const iso = (d: Date) => encodeURIComponent(d.toISOString());
    const second = new Date(t0.getTime() + 2000); // web-test's creation time
    const fifth = new Date(t0.getTime() + 5000); // batch-staging's
    // [createdAfter, createdBefore): web-test, web-prod, db-prod.
    expect(await names(`?createdAfter=${iso(second)}&createdBefore=${iso(fifth)}`)).toEqual(['web-test', 'web-prod', 'db-prod']);
    expect(await names(`?createdAfter=${iso(fifth)}`)).toEqual(['batch-staging']);

    const lena = await t.token('lena');
    const seen: string[] = [];
    let path: string | undefined = `tenants/lister/environments?createdAfter=${iso(t0)}&status=all&maxpagesize=2`;
    let pages = 0;
    while (path) {
      const r: CallResult = await t.call('GET', path, { token: lena });
      expect(r.status).toBe(200);
      expect(r.body.value.length).toBeLessThanOrEqual(2);
      seen.push(...r.body.value.map((e: { name: string }) => e.name));
      const next: string | undefined = r.body.nextLink;
      path = next ? next.slice(next.indexOf('/api/') + 5) : undefined;
      pages++;
    }
    expect(seen).toEqual(['web-dev', 'web-test', 'web-prod', 'db-prod', 'batch-staging', 'misc']);
    expect(pages).toBe(3);
  });

  it('pages by name too, and refuses a cursor from the other order', async () => {
    const lena = await t.token('lena');
    const first = await t.call('GET', 'tenants/lister/environments?maxpagesize=2', { token: lena });
    expect(first.body.value.map((e: { name: string }) => e.name)).toEqual(['batch-staging', 'db-prod']);
    const next = new URL(first.body.nextLink as string);
    const second = await t.call('GET', `tenants/lister/environments${next.search}`, { token: lena });
    expect(second.body.value.map((e: { name: string }) => e.name)).toEqual(['web-dev', 'web-prod']);
    const token = next.searchParams.get('skipToken')!;
    const mixed = await t.call('GET', `tenants/lister/environments?createdAfter=${encodeURIComponent(t0.toISOString())}&skipToken=${token}`, { token: lena });
    expectApiError(mixed, 400, 'InvalidRequest');
    expect(mixed.body.error.target).toBe('skipToken');
  });
});

describe('bad input on environment routes', () => {
  let id: string;
  beforeAll(async () => {
    id = (await create(A, olga, body('victim', { description: 'untouched' }))).body.id;
  });

  it('refuses malformed bodies with a 4xx in the error format, changing nothing', async () => {
    const before = await t.snapshot();
    const cases: [string, Parameters<TestApp['call']>[2]][] = [
      ['malformed JSON', { rawBody: '{"name": "x",' }],
      ['wrong types', { body: { name: 42, kind: 'dev', region: 'westeurope' } }],
      ['unknown kind', { body: body('ok-name', { kind: 'qa' }) }],
      ['unknown field', { body: body('ok-name', { color: 'red' }) }],
      ['oversize', { body: body('ok-name', { description: 'x'.repeat(5000) }) }],
      ['emoji name', { body: body('web-🚀') }],
      ['RTL name', { body: body('مرحبا') }],
      ['upper-case name', { body: body('Web') }],
      ['NUL', { body: body('ok-name', { description: 'a\u0000b' }) }],
      ['bidi override in display name', { body: body('ok-name', { displayName: '\u202Eevil' }) }],
      ['bad label key', { body: body('ok-name', { labels: { 'bad key': 'x' } }) }],
      ['bad label value', { body: body('ok-name', { labels: { app: "x' OR '1'='1" } }) }],
      ['injection name', { body: body("x'; drop table environments; --") }],
      ['duplicate topology', { body: body('ok-name', { storageTopology: { resources: [{ kind: 'storageQueue', name: 'abc' }, { kind: 'storageQueue', name: 'abc' }] } }) }],
    ];
    for (const [what, o] of cases) {
      const r = await t.call('POST', A, { token: olga, ...o });
      expect(r.status, what).toBeGreaterThanOrEqual(400);
      expect(r.status, what).toBeLessThan(500);
      expect(r.headers.get('x-ms-error-code'), what).toBe(r.body.error.code);
      const p = await t.call('PATCH', `${A}/${id}`, { token: olga, ...o });
      expect(p.status, `patch: ${what}`).toBeGreaterThanOrEqual(400);
      expect(p.status, `patch: ${what}`).toBeLessThan(500);
    }
    expect(await t.snapshot()).toEqual(before);
  });

  it('keeps unicode text (emoji, RTL, combining marks) in display names and descriptions', async () => {
    const text = { displayName: 'Prod 🚀 مرحبا', description: 'e\u0301 — שלום\nline two' };
    const r = await create(A, olga, body('unicode', text));
    expect(r.status).toBe(201);
    expect((await t.call('GET', `${A}/${r.body.id}`, { token: rita })).body).toMatchObject(text);
  });

  it('refuses hostile filters with a 400 and no 5xx', async () => {
    const before = await t.snapshot();
    const hostile = ["' OR '1'='1", "'; DROP TABLE environments.environments; --", '%', '_', '\\', '🚀', 'a\u0000b', 'x'.repeat(2000)];
    for (const s of hostile) {
      for (const param of ['namePrefix', 'labelSelector', 'region', 'kind', 'status', 'createdAfter', 'skipToken']) {
        const r = await t.call('GET', `${A}?${param}=${encodeURIComponent(s)}`, { token: rita });
        expect(r.status, `${param}=${s.slice(0, 20)}`).toBe(400);
        expect(r.body.error.code).toBe('InvalidRequest');
      }
    }
    for (const sel of ['app=', 'app in ()', 'app in (a', '=x', 'a,,b', 'a=b=c', '!', 'app notin (a,b))', 'app=x y']) {
      const r = await t.call('GET', `${A}?labelSelector=${encodeURIComponent(sel)}`, { token: rita });
      // `app=` is valid (empty value); the rest are not.
      if (sel === 'app=') expect(r.status).toBe(200);
      else expectApiError(r, 400, 'InvalidRequest');
    }
    expectApiError(await t.call('GET', `${A}?createdAfter=2026-01-02T00:00:00Z&createdBefore=2026-01-01T00:00:00Z`, { token: rita }), 400);
    expect((await t.call('GET', `${A}/${id}`, { token: rita })).body.description).toBe('untouched');
    expect(await t.snapshot()).toEqual(before);
  });

  it('answers a malformed or unknown environment id with 404', async () => {
    for (const bad of ['env_0000000000000000', "env_' or 1=1", 'ENV_ABC', '🚀']) {
      expectApiError(await t.call('GET', `${A}/${encodeURIComponent(bad)}`, { token: rita }), 404, 'NotFound');
      expectApiError(await t.call('PATCH', `${A}/${encodeURIComponent(bad)}`, { token: olga, body: { description: 'x' } }), 404, 'NotFound');
      expectApiError(await t.call('POST', `${A}/${encodeURIComponent(bad)}/retire`, { token: alice }), 404, 'NotFound');
    }
  });
});

describe('tenant isolation of environments', () => {
  it("answers 404 to a member of tenant A on every route of tenant B's environments, and changes nothing", async () => {
    const b = await create(B, bob, body('b-secret', { labels: { app: 'web' } }));
    expect(b.status).toBe(201);
    const bid: string = b.body.id;
    const before = await t.snapshot();
    const attempts: [string, string, Record<string, unknown> | undefined][] = [
      ['GET', `${B}/${bid}`, undefined],
      ['GET', B, undefined],
      ['POST', B, body('intruder')],
      ['PATCH', `${B}/${bid}`, { description: 'pwned' }],
      ['POST', `${B}/${bid}/retire`, undefined],
      // B's environment id under A's own tenant path: row-level security and the tenant filter hide it.
      ['GET', `${A}/${bid}`, undefined],
      ['PATCH', `${A}/${bid}`, { description: 'pwned' }],
      ['POST', `${A}/${bid}/retire`, undefined],
    ];
    for (const [method, path, b2] of attempts) {
      const r = await t.call(method, path, { token: alice, ...(b2 ? { body: b2 } : {}) });
      expectApiError(r, 404, 'NotFound');
    }
    // A's list never shows B's rows, whatever the filter.
    const list = await t.call('GET', `${A}?status=all&labelSelector=app%3Dweb&maxpagesize=100`, { token: alice });
    expect(list.body.value.map((e: { id: string }) => e.id)).not.toContain(bid);
    expect(await t.snapshot()).toEqual(before);
    expect((await t.call('GET', `${B}/${bid}`, { token: bob })).body).toMatchObject({ status: 'active', description: null });
  });
});

describe('siloed tenants', () => {
  it("keeps a siloed tenant's environments in its silo database only", async () => {
    const s = await startTestApp({ silos: ['silo-a'], now: () => clock });
    try {
      await s.createTenant('siloed', 'sue', { isolation: { model: 'siloed', database: 'silo-a' } });
      await s.createTenant('pooled-one', 'pat');
      const sue = await s.token('sue');
      const r = await s.call('POST', 'tenants/siloed/environments', { token: sue, body: body('in-silo') });
      expect(r.status).toBe(201);
      expect(r.body.storageTopology.resources[0]).toMatchObject({ kind: 'postgresql', name: 'silo-a' });
      expect((await s.call('POST', 'tenants/pooled-one/environments', { token: await s.token('pat'), body: body('in-pool') })).status).toBe(201);
      const count = async (placement: Parameters<typeof s.kernel.sql.forPlacement>[0], tenant: string) =>
        (
          await sql<{ n: number }>`select count(*)::int as n from environments.environments where tenant_id = ${tenant}`.execute(
            s.owner.forPlacement(placement),
          )
        ).rows[0]?.n;
      expect(await count({ model: 'siloed', database: 'silo-a' }, 'siloed')).toBe(1);
      expect(await count({ model: 'pooled' }, 'siloed')).toBe(0);
      expect(await count({ model: 'pooled' }, 'pooled-one')).toBe(1);
      expect(await count({ model: 'siloed', database: 'silo-a' }, 'pooled-one')).toBe(0);
      expect((await s.call('GET', `tenants/siloed/environments/${r.body.id}`, { token: sue })).status).toBe(200);
    } finally {
      await s.close();
    }
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
      where n.nspname = 'environments' and tb.relname = 'environments'`.execute(t.owner.forPlacement({ model: 'pooled' }));
    expect(rows.rows.length).toBeGreaterThan(4);
    for (const r of rows.rows) {
      if (r.method === 'gin') expect(r.index).toBe('environments_labels');
      else expect(r.first, r.index).toBe('tenant_id');
    }
  });
});
