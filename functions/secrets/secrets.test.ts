/** Secret bindings over HTTP: CRUD, consumers, quota under concurrency, cross-tenant ids, the catalog plugs. */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectApiError, startTestApp, type TestApp } from '../../test/app.js';
import type { CatalogInstance } from '../catalog/api.js';
import type { SecretsInstance } from './api.js';

let t: TestApp;
let clock = new Date('2026-03-01T00:00:00.000Z');
const tick = (ms = 1000) => (clock = new Date(clock.getTime() + ms));
let a: { token: string; environmentId: string; serviceId: string };
let b: { token: string; environmentId: string; serviceId: string };
let rita: string;
const A = 'tenants/tenant-a/secret-bindings';
const B = 'tenants/tenant-b/secret-bindings';
const policy = { intervalDays: 30, overlapHours: 24, generator: { kind: 'random', length: 32, alphabet: 'alphanumeric' } };
const body = (name: string, extra: Record<string, unknown> = {}) => ({ name, secretName: name, rotation: policy, initialValue: 'generate', ...extra });

beforeAll(async () => {
  t = await startTestApp({ now: () => clock });
  a = await t.seedTenant('tenant-a', 'alice');
  b = await t.seedTenant('tenant-b', 'bob');
  await t.addMember('tenant-a', 'rita', 'reader');
  rita = await t.token('rita');
});
afterAll(() => t?.close());

describe('secret bindings', () => {
  it('creates, reads, lists, patches with If-Match and deletes a binding; never a value', async () => {
    tick();
    const c = await t.call('POST', A, { token: a.token, body: body('db-password', { consumers: [{ environmentId: a.environmentId }] }) });
    expect(c.status, JSON.stringify(c.body)).toBe(201);
    const id: string = c.body.id;
    expect(id).toMatch(/^sb_[0-9a-f]{16}$/);
    expect(c.headers.get('location')).toBe(`/api/${A}/${id}`);
    expect(c.body).toMatchObject({
      name: 'db-password',
      secretName: 'db-password',
      consumers: [{ environmentId: a.environmentId }],
      rotation: policy,
      nextRotationAt: new Date(clock.getTime() + 30 * 86_400_000).toISOString(),
      lastRotatedAt: null,
      previousVersion: null,
    });
    expect(Object.keys(c.body)).not.toContain('value');
    expect((await t.call('GET', `${A}/${id}`, { token: rita })).body).toEqual(c.body);

    const list = await t.call('GET', `${A}?environmentId=${a.environmentId}`, { token: rita });
    expect(list.body.value.map((x: { id: string }) => x.id)).toEqual([id]);
    expect((await t.call('GET', `${A}?namePrefix=zz`, { token: rita })).body.value).toEqual([]);

    const stale = await t.call('PATCH', `${A}/${id}`, { token: a.token, body: { consumers: [] }, headers: { 'if-match': '"00000000-0000-0000-0000-000000000000"' } });
    expectApiError(stale, 412, 'PreconditionFailed');
    tick();
    const p = await t.call('PATCH', `${A}/${id}`, {
      token: a.token,
      body: { consumers: [{ environmentId: a.environmentId, serviceId: a.serviceId }], rotation: { ...policy, intervalDays: null } },
      headers: { 'if-match': c.headers.get('etag')! },
    });
    expect(p.status, JSON.stringify(p.body)).toBe(200);
    expect(p.body).toMatchObject({ consumers: [{ environmentId: a.environmentId, serviceId: a.serviceId }], nextRotationAt: null });
    expect(p.body.etag).not.toBe(c.body.etag);

    expectApiError(await t.call('DELETE', `${A}/${id}`, { token: rita }), 403);
    expect((await t.call('DELETE', `${A}/${id}`, { token: a.token })).status).toBe(204);
    expectApiError(await t.call('GET', `${A}/${id}`, { token: rita }), 404, 'NotFound');
    // The name and the secret are free again once the binding is deleted.
    expect((await t.call('POST', A, { token: a.token, body: body('db-password') })).status).toBe(201);
  });

  it('refuses a taken name or secret, unknown consumers, another vault and bad policies', async () => {
    await t.call('POST', A, { token: a.token, body: body('taken') });
    expectApiError(await t.call('POST', A, { token: a.token, body: body('taken', { secretName: 'other' }) }), 409, 'Conflict');
    expectApiError(await t.call('POST', A, { token: a.token, body: body('fresh', { secretName: 'taken' }) }), 409, 'Conflict');
    const noEnv = await t.call('POST', A, { token: a.token, body: body('c1', { consumers: [{ environmentId: 'env_0000000000000000' }] }) });
    expectApiError(noEnv, 400, 'InvalidRequest');
    expect(noEnv.body.error.target).toBe('consumers[0].environmentId');
    // Tenant B's real environment and service are no consumers of tenant A's bindings.
    expectApiError(await t.call('POST', A, { token: a.token, body: body('c2', { consumers: [{ environmentId: b.environmentId }] }) }), 400);
    expectApiError(await t.call('POST', A, { token: a.token, body: body('c3', { consumers: [{ environmentId: a.environmentId, serviceId: b.serviceId }] }) }), 400);
    expectApiError(await t.call('POST', A, { token: a.token, body: body('bad-secret', { secretName: 'a--b' }) }), 400);
    expectApiError(await t.call('POST', A, { token: a.token, body: body('short', { rotation: { ...policy, generator: { kind: 'random', length: 4, alphabet: 'hex' } } }) }), 400);
  });

  it('keeps the quota under concurrent creates', async () => {
    await t.createTenant('quota-sb', 'quinn', { quotas: { maxSecretBindings: 3 } });
    const quinn = await t.token('quinn');
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => t.call('POST', 'tenants/quota-sb/secret-bindings', { token: quinn, body: body(`q${i}`) })));
    expect(results.filter((r) => r.status === 201)).toHaveLength(3);
    for (const r of results.filter((x) => x.status !== 201)) expectApiError(r, 409, 'QuotaExceeded');
    const n = await sql<{ n: number }>`select count(*)::int as n from secrets.bindings where tenant_id = 'quota-sb' and deleted_at is null`.execute(t.owner.forPlacement({ model: 'pooled' }));
    expect(n.rows[0]?.n).toBe(3);
  });

  it("answers 404 for tenant A's real binding ids on tenant B's paths, and changes nothing", async () => {
    const c = await t.call('POST', A, { token: a.token, body: body('cross', { consumers: [{ environmentId: a.environmentId }] }) });
    const before = await t.snapshot();
    const path = `${B}/${c.body.id}`;
    expectApiError(await t.call('GET', path, { token: b.token }), 404, 'NotFound');
    expectApiError(await t.call('PATCH', path, { token: b.token, body: { consumers: [] } }), 404, 'NotFound');
    expectApiError(await t.call('DELETE', path, { token: b.token }), 404, 'NotFound');
    expect((await t.call('GET', B, { token: b.token })).body.value).toEqual([]);
    expect(await t.snapshot()).toEqual(before);
  });
});

describe('the contract other services use', () => {
  it('answers existingBindings, bindingVersions and lastChangeBefore from live bindings only', async () => {
    const api = t.instance<SecretsInstance>('secrets').api;
    const tenant = { tenantId: 'tenant-a', placement: { model: 'pooled' } as const };
    await t.call('POST', A, { token: a.token, body: body('env-wide', { consumers: [{ environmentId: a.environmentId }] }) });
    await t.call('POST', A, { token: a.token, body: body('svc-only', { consumers: [{ environmentId: a.environmentId, serviceId: a.serviceId }] }) });
    await t.call('POST', A, { token: a.token, body: body('unused') });
    expect([...(await api.existingBindings(tenant, a.environmentId, ['env-wide', 'svc-only', 'unused', 'nope']))].sort()).toEqual(['env-wide', 'svc-only']);
    const versions = await api.bindingVersions(tenant, a.environmentId, a.serviceId);
    expect(versions.map((v) => v.name)).toEqual(expect.arrayContaining(['env-wide', 'svc-only']));
    expect(versions.map((v) => v.name)).not.toContain('unused');
    expect(await api.lastChangeBefore(tenant, a.environmentId, a.serviceId, clock)).toBeUndefined();
    // Tenant B sees none of them.
    expect((await api.existingBindings({ ...tenant, tenantId: 'tenant-b' }, a.environmentId, ['env-wide'])).size).toBe(0);
  });

  it("plugs a reference checker into the catalog's purge and the secretBindings fact", async () => {
    const svc = await t.call('POST', `tenants/tenant-a/environments/${a.environmentId}/services`, { token: a.token, body: { name: 'consumer', owner: 'team' } });
    const c = await t.call('POST', A, { token: a.token, body: body('for-purge', { consumers: [{ environmentId: a.environmentId, serviceId: svc.body.id }] }) });
    const catalog = t.instance<CatalogInstance>('catalog');
    const [, check] = catalog.plugs.referenceCheckers().find(([owner]) => owner === 'secrets')!;
    const tenant = { tenantId: 'tenant-a', placement: { model: 'pooled' } as const };
    expect([...(await check(tenant, [svc.body.id, a.serviceId]))].map(([k]) => k)).toContain(svc.body.id);
    const facts = await t.call('GET', `tenants/tenant-a/environments/${a.environmentId}/services/${svc.body.id}/facts`, { token: rita });
    expect(facts.body.parts.secretBindings.bindings).toContainEqual({ name: 'for-purge', keyVaultRef: c.body.keyVaultRef, currentVersion: c.body.currentVersion, lastRotatedAt: null });
    await t.call('DELETE', `${A}/${c.body.id}`, { token: a.token });
    expect((await check(tenant, [svc.body.id])).get(svc.body.id) ?? []).toEqual([]);
  });
});

describe("the catalog's purge", () => {
  it('keeps a retired service that a live binding names as consumer, and purges it once the binding is gone', async () => {
    const svc = await t.call('POST', `tenants/tenant-a/environments/${a.environmentId}/services`, { token: a.token, body: { name: 'retiring', owner: 'team' } });
    const c = await t.call('POST', A, { token: a.token, body: body('keeps-it', { consumers: [{ environmentId: a.environmentId, serviceId: svc.body.id }] }) });
    expect((await t.call('POST', `tenants/tenant-a/environments/${a.environmentId}/services/${svc.body.id}/retire`, { token: a.token })).status).toBe(200);
    clock = new Date(clock.getTime() + 91 * 86_400_000);
    const catalog = t.instance<CatalogInstance>('catalog');
    const first = await catalog.purge({ tenantIds: ['tenant-a'] });
    expect(JSON.stringify(first)).toContain(`secret binding ${c.body.id} (keeps-it) names it as a consumer`);
    expect(await catalog.api.getService({ tenantId: 'tenant-a', placement: { model: 'pooled' } }, svc.body.id)).toBeDefined();
    expect((await t.call('DELETE', `${A}/${c.body.id}`, { token: a.token })).status).toBe(204);
    await catalog.purge({ tenantIds: ['tenant-a'] });
    expect(await catalog.api.getService({ tenantId: 'tenant-a', placement: { model: 'pooled' } }, svc.body.id)).toBeUndefined();
  });
});
