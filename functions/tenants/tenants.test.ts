import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../../test/app.js';

let t: TestApp;
let root: string;

beforeAll(async () => {
  t = await startTestApp();
  root = await t.token('platform-admin', { admin: true });
});
afterAll(() => t?.close());

describe('tenants', () => {
  it('creates, reads, lists and patches a tenant with ETags', async () => {
    const c = await t.call('POST', 'tenants', { token: root, body: { id: 'acme', displayName: 'Acme', quotas: { maxEnvironments: 3 } } });
    expect(c.status).toBe(201);
    expect(c.headers.get('location')).toBe('/api/tenants/acme');
    expect(c.body).toMatchObject({ id: 'acme', isolation: { model: 'pooled' }, status: 'active', quotas: { maxEnvironments: 3, maxServicesPerEnvironment: 200 } });
    const etag = c.headers.get('etag');
    expect(etag).toBe(`"${c.body.etag}"`);

    const g = await t.call('GET', 'tenants/acme', { token: root });
    expect(g.status).toBe(200);
    expect(g.headers.get('etag')).toBe(etag);

    const stale = await t.call('PATCH', 'tenants/acme', { token: root, body: { displayName: 'X' }, headers: { 'if-match': '"00000000-0000-0000-0000-000000000000"' } });
    expect(stale.status).toBe(412);
    expect(stale.headers.get('x-ms-error-code')).toBe('PreconditionFailed');

    const p = await t.call('PATCH', 'tenants/acme', { token: root, body: { displayName: 'Acme Corp', quotas: { maxEnvironments: 5 } }, headers: { 'if-match': etag! } });
    expect(p.status).toBe(200);
    expect(p.body).toMatchObject({ displayName: 'Acme Corp', quotas: { maxEnvironments: 5 } });
    expect(p.headers.get('etag')).not.toBe(etag);

    const again = await t.call('PATCH', 'tenants/acme', { token: root, body: { displayName: 'Y' }, headers: { 'if-match': etag! } });
    expect(again.status).toBe(412);
    expect((await t.call('GET', 'tenants/acme', { token: root })).body.displayName).toBe('Acme Corp');
  });

  it('rejects a duplicate id with 409 and an unknown silo with 400', async () => {
    await t.call('POST', 'tenants', { token: root, body: { id: 'dup', displayName: 'Dup' } });
    const d = await t.call('POST', 'tenants', { token: root, body: { id: 'dup', displayName: 'Dup' } });
    expect(d.status).toBe(409);
    const s = await t.call('POST', 'tenants', { token: root, body: { id: 'silo1', displayName: 'S', isolation: { model: 'siloed', database: 'nope' } } });
    expect(s.status).toBe(400);
    expect(s.body.error.target).toBe('isolation.database');
  });

  it('pages the tenant list with nextLink until the last page', async () => {
    for (const id of ['p-a', 'p-b', 'p-c', 'p-d', 'p-e']) {
      await t.call('POST', 'tenants', { token: root, body: { id, displayName: id } });
    }
    const seen: string[] = [];
    let path: string | undefined = 'tenants?maxpagesize=2';
    let pages = 0;
    while (path) {
      const r = await t.call('GET', path, { token: root });
      expect(r.status).toBe(200);
      expect(r.body.value.length).toBeLessThanOrEqual(2);
      seen.push(...r.body.value.map((x: { id: string }) => x.id));
      path = r.body.nextLink ? new URL(r.body.nextLink).pathname.replace('/api/', '') + new URL(r.body.nextLink).search : undefined;
      pages++;
    }
    expect(seen.filter((s) => s.startsWith('p-'))).toEqual(['p-a', 'p-b', 'p-c', 'p-d', 'p-e']);
    expect(new Set(seen).size).toBe(seen.length);
    expect(pages).toBeGreaterThan(2);
  });

  it('replays an idempotent create and rejects the same id with another body', async () => {
    const h = { 'repeatability-request-id': 'req-1' };
    const a = await t.call('POST', 'tenants', { token: root, body: { id: 'idem', displayName: 'Idem' }, headers: h });
    const b = await t.call('POST', 'tenants', { token: root, body: { id: 'idem', displayName: 'Idem' }, headers: h });
    expect(a.status).toBe(201);
    expect(b.status).toBe(201);
    expect(b.body).toEqual(a.body);
    expect(b.headers.get('repeatability-result')).toBe('accepted');
    const c = await t.call('POST', 'tenants', { token: root, body: { id: 'idem2', displayName: 'Other' }, headers: h });
    expect(c.status).toBe(409);
    expect(c.body.error.code).toBe('RepeatabilityConflict');
    expect((await t.call('GET', 'tenants/idem2', { token: root })).status).toBe(404);
  });

  it('manages members and enforces roles', async () => {
    await t.createTenant('roles', 'alice');
    const alice = await t.token('alice');
    const bob = await t.token('bob');
    expect((await t.call('GET', 'tenants/roles', { token: bob })).status).toBe(404);
    expect((await t.call('PUT', 'tenants/roles/members/bob', { token: alice, body: { role: 'reader' } })).status).toBe(201);
    expect((await t.call('GET', 'tenants/roles', { token: bob })).status).toBe(200);
    const forbidden = await t.call('PUT', 'tenants/roles/members/carol', { token: bob, body: { role: 'admin' } });
    expect(forbidden.status).toBe(403);
    expect(forbidden.body.error.code).toBe('Forbidden');
    expect((await t.call('PATCH', 'tenants/roles', { token: alice, body: { displayName: 'no' } })).status).toBe(403);
    const list = await t.call('GET', 'tenants/roles/members', { token: alice });
    expect(list.body.value.map((m: { principalId: string }) => m.principalId)).toEqual(['alice', 'bob']);
    const last = await t.call('DELETE', 'tenants/roles/members/alice', { token: alice });
    expect(last.status).toBe(409);
    expect((await t.call('DELETE', 'tenants/roles/members/bob', { token: alice })).status).toBe(204);
    expect((await t.call('GET', 'tenants/roles', { token: bob })).status).toBe(404);
  });

  it('blocks writes in a suspended tenant for members but not reads', async () => {
    await t.createTenant('susp', 'sam');
    const sam = await t.token('sam');
    expect((await t.call('PATCH', 'tenants/susp', { token: root, body: { status: 'suspended' } })).status).toBe(200);
    expect((await t.call('GET', 'tenants/susp', { token: sam })).status).toBe(200);
    const w = await t.call('PUT', 'tenants/susp/members/x', { token: sam, body: { role: 'reader' } });
    expect(w.status).toBe(403);
    expect(w.body.error.code).toBe('TenantSuspended');
  });

  it('requires a valid bearer token', async () => {
    const none = await t.call('GET', 'tenants', {});
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toContain('Bearer');
    const bad = await t.call('GET', 'tenants', { token: 'abc.def.ghi' });
    expect(bad.status).toBe(401);
    const user = await t.token('someone');
    expect((await t.call('POST', 'tenants', { token: user, body: { id: 'nope', displayName: 'Nope' } })).status).toBe(403);
  });
});

describe("listing one's own tenants", () => {
  /** Every page of `GET /api/tenants` as `token`, following nextLink; the items and the page sizes. */
  async function listAll(token: string, query = '') {
    const items: { id: string; role: string }[] = [];
    const sizes: number[] = [];
    let path: string | undefined = `tenants${query}`;
    while (path) {
      const r = await t.call('GET', path, { token });
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      items.push(...r.body.value);
      sizes.push(r.body.value.length);
      path = r.body.nextLink ? new URL(r.body.nextLink).pathname.replace('/api/', '') + new URL(r.body.nextLink).search : undefined;
    }
    return { items, sizes };
  }

  beforeAll(async () => {
    await t.createTenant('own-a', 'olga');
    await t.createTenant('own-b', 'boris');
    await t.createTenant('own-c', 'carl');
    await t.addMember('own-b', 'olga', 'reader');
    await t.addMember('own-b', 'mo', 'operator');
    for (const id of ['many-1', 'many-2', 'many-3', 'many-4', 'many-5']) {
      await t.createTenant(id, 'pat');
    }
  });

  it('shows a member of A and B exactly A and B, with its role in each', async () => {
    const { items } = await listAll(await t.token('olga'));
    expect(items.map((x) => [x.id, x.role])).toEqual([
      ['own-a', 'admin'],
      ['own-b', 'reader'],
    ]);
    expect(items[0]).toMatchObject({ id: 'own-a', displayName: 'own-a', isolation: { model: 'pooled' }, status: 'active' });
    expect((await listAll(await t.token('mo'))).items.map((x) => [x.id, x.role])).toEqual([['own-b', 'operator']]);
  });

  it('shows a stranger no tenant', async () => {
    const r = await t.call('GET', 'tenants', { token: await t.token('stranger') });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ value: [] });
    // An app-only (workload) identity without memberships likewise.
    expect((await t.call('GET', 'tenants', { token: await t.token('agent-1', { kind: 'app' }) })).body).toEqual({ value: [] });
  });

  it('shows a platform admin every tenant, as admin', async () => {
    const stored = await sql<{ tenant_id: string }>`select tenant_id from tenants.tenants order by tenant_id`.execute(t.owner.forPlacement({ model: 'pooled' }));
    const { items } = await listAll(root, '?maxpagesize=7');
    expect(items.map((x) => x.id)).toEqual(stored.rows.map((r) => r.tenant_id));
    expect(new Set(items.map((x) => x.role))).toEqual(new Set(['admin']));
  });

  it('pages a member through its tenants only, at and across page boundaries', async () => {
    const pat = await t.token('pat');
    const all = ['many-1', 'many-2', 'many-3', 'many-4', 'many-5'];
    const two = await listAll(pat, '?maxpagesize=2');
    expect(two.items.map((x) => x.id)).toEqual(all);
    expect(two.sizes).toEqual([2, 2, 1]);
    // Five on pages of five: one page, and no nextLink pointing at an empty one.
    expect((await listAll(pat, '?maxpagesize=5')).sizes).toEqual([5]);
    expect((await listAll(pat, '?maxpagesize=1')).sizes).toEqual([1, 1, 1, 1, 1]);
    // A cursor before every tenant, or another caller's cursor, still shows only the caller's tenants.
    const forged = Buffer.from(JSON.stringify('')).toString('base64url');
    expect((await t.call('GET', `tenants?skipToken=${forged}`, { token: pat })).body.value.map((x: { id: string }) => x.id)).toEqual(all);
    const first = await t.call('GET', 'tenants?maxpagesize=1', { token: pat });
    const patsCursor = new URL(first.body.nextLink).searchParams.get('skipToken')!;
    const olga = await t.call('GET', `tenants?skipToken=${patsCursor}`, { token: await t.token('olga') });
    expect(olga.body.value.map((x: { id: string }) => x.id)).toEqual(['own-a', 'own-b']);
  });

  it('filters by status, and drops a tenant once the caller is removed from it', async () => {
    expect((await t.call('PATCH', 'tenants/many-3', { token: root, body: { status: 'suspended' } })).status).toBe(200);
    const pat = await t.token('pat');
    expect((await listAll(pat, '?status=suspended')).items.map((x) => x.id)).toEqual(['many-3']);
    expect((await listAll(pat, '?status=active')).items.map((x) => x.id)).toEqual(['many-1', 'many-2', 'many-4', 'many-5']);
    expect((await t.call('DELETE', 'tenants/own-b/members/olga', { token: await t.token('boris') })).status).toBe(204);
    expect((await listAll(await t.token('olga'))).items.map((x) => x.id)).toEqual(['own-a']);
  });
});
