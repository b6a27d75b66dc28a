/**
 * The configuration service through the real composition: versions and their ETags, the sync read
 * (If-None-Match → 304) and what it records, writers under concurrency, the secret rules, diffs,
 * consumers, events, the catalog's plugs (fact sheet, purge) and the public API. Cross-tenant cases
 * use real ids of another tenant's data through the caller's own tenant path.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectApiError, startTestApp, type TestApp } from '../../test/app.js';
import type { CatalogInstance } from '../catalog/api.js';
import type { ConfigurationInstance } from './api.js';

let t: TestApp;
let clock = new Date('2026-03-01T00:00:00.000Z');
const tick = (ms = 1000) => (clock = new Date(clock.getTime() + ms));
const pooled = { model: 'pooled' } as const;

let a: { token: string; environmentId: string; serviceId: string };
let b: { token: string; environmentId: string; serviceId: string };
const path = (x: { environmentId: string; serviceId: string }, tenant = 'cfg-a') => `tenants/${tenant}/environments/${x.environmentId}/services/${x.serviceId}/configuration`;

beforeAll(async () => {
  t = await startTestApp({ now: () => clock });
  a = await t.seedTenant('cfg-a', 'ada');
  b = await t.seedTenant('cfg-b', 'bob');
});
afterAll(() => t?.close());

/** A service of its own in tenant A's environment, so tests do not share a configuration. */
async function newService(name: string) {
  const r = await t.call('POST', `tenants/cfg-a/environments/${a.environmentId}/services`, { token: a.token, body: { name, owner: 'team' } });
  expect(r.status).toBe(201);
  return { token: a.token, environmentId: a.environmentId, serviceId: r.body.id as string };
}

async function put(x: { environmentId: string; serviceId: string }, settings: Record<string, unknown>, headers: Record<string, string> = {}, token = a.token, tenant = 'cfg-a') {
  tick();
  return t.call('PUT', path(x, tenant), { token, body: { settings }, headers });
}

describe('versions', () => {
  it('publishes numbered versions, each with its own ETag, and answers the latest', async () => {
    const s = await newService('versions');
    expectApiError(await t.call('GET', path(s), { token: a.token }), 404, 'NotFound');
    const v1 = await put(s, { logLevel: 'info', port: 8080 });
    expect(v1.status).toBe(201);
    expect(v1.body).toMatchObject({ version: 1, settings: { logLevel: 'info', port: 8080 }, settingCount: 2, secretRefs: [], publishedBy: 'ada' });
    expect(v1.headers.get('etag')).toBe(`"${v1.body.etag}"`);
    // Once it exists, a write must say which version it builds on.
    expectApiError(await put(s, { logLevel: 'debug' }), 428, 'PreconditionRequired');
    expectApiError(await put(s, { logLevel: 'debug' }, { 'if-match': '"00000000-0000-0000-0000-000000000000"' }), 412, 'PreconditionFailed');
    expectApiError(await put(s, { logLevel: 'debug' }, { 'if-none-match': '*' }), 412, 'PreconditionFailed');
    const v2 = await put(s, { logLevel: 'debug', limits: { a: 1, b: [1, { x: 1, y: 2 }] } }, { 'if-match': v1.headers.get('etag')! });
    expect(v2.status).toBe(200);
    expect(v2.body.version).toBe(2);
    expect(v2.body.etag).not.toBe(v1.body.etag);
    // The same settings again (keys in another order) publish nothing.
    const same = await put(s, { limits: { b: [1, { y: 2, x: 1 }], a: 1 }, logLevel: 'debug' }, { 'if-match': '*' });
    expect([same.status, same.body.version, same.body.etag]).toEqual([200, 2, v2.body.etag]);

    const latest = await t.call('GET', path(s), { token: a.token });
    expect([latest.status, latest.body.version, latest.headers.get('etag')]).toEqual([200, 2, v2.headers.get('etag')]);
    const one = await t.call('GET', `${path(s)}/versions/1`, { token: a.token });
    expect([one.status, one.body.settings, one.headers.get('etag')]).toEqual([200, { logLevel: 'info', port: 8080 }, v1.headers.get('etag')]);
    expectApiError(await t.call('GET', `${path(s)}/versions/3`, { token: a.token }), 404);
    expectApiError(await t.call('GET', `${path(s)}/versions/0`, { token: a.token }), 404);

    const events = await sql<{ type: string; data: { version: number; previousVersion: number | null } }>`
      select type, data from configuration.outbox where subject = ${`tenants/cfg-a/environments/${s.environmentId}/services/${s.serviceId}/configuration`} order by seq`.execute(t.owner.forPlacement(pooled));
    expect(events.rows.map((e) => [e.type, e.data.version, e.data.previousVersion])).toEqual([
      ['ConfigurationVersionPublished', 1, null],
      ['ConfigurationVersionPublished', 2, 1],
    ]);
  });

  it('lists versions newest first, page by page, and diffs any two', async () => {
    const s = await newService('history');
    let etag: string | undefined;
    for (let i = 1; i <= 5; i++) {
      const r = await put(s, { n: i, ...(i % 2 ? { odd: true } : {}), nested: { v: i > 3 ? 'new' : 'old' } }, etag ? { 'if-match': etag } : {});
      etag = r.headers.get('etag')!;
    }
    const seen: number[] = [];
    let next: string | undefined = `${path(s)}/versions?maxpagesize=2`;
    while (next) {
      const r = await t.call('GET', next.replace(/^.*\/api\//, ''), { token: a.token });
      expect(r.status).toBe(200);
      expect(r.body.value[0]).not.toHaveProperty('settings');
      seen.push(...r.body.value.map((v: { version: number }) => v.version));
      next = r.body.nextLink;
    }
    expect(seen).toEqual([5, 4, 3, 2, 1]);

    const d = await t.call('GET', `${path(s)}/diff?from=3&to=5`, { token: a.token });
    expect(d.body).toEqual({ from: 3, to: 5, added: [], removed: [], changed: [{ path: '/n', from: 3, to: 5 }, { path: '/nested/v', from: 'old', to: 'new' }] });
    const latest = await t.call('GET', `${path(s)}/diff`, { token: a.token });
    expect(latest.body).toMatchObject({ from: 4, to: 5, added: [{ path: '/odd', value: true }] });
    const first = await t.call('GET', `${path(s)}/diff?to=1`, { token: a.token });
    expect(first.body.added.map((x: { path: string }) => x.path)).toEqual(['/n', '/nested', '/odd']);
    expectApiError(await t.call('GET', `${path(s)}/diff?from=9`, { token: a.token }), 404);
    expectApiError(await t.call('GET', `${path(s)}/diff?from=01`, { token: a.token }), 400);
  });

  it('never loses a concurrent writer’s change: one of several with the same ETag wins, numbers stay gapless', async () => {
    const s = await newService('race');
    const v1 = await put(s, { n: 0 });
    const tag = v1.headers.get('etag')!;
    const racing = await Promise.all([1, 2, 3, 4, 5].map((n) => t.call('PUT', path(s), { token: a.token, body: { settings: { n } }, headers: { 'if-match': tag } })));
    expect(racing.map((r) => r.status).sort()).toEqual([200, 412, 412, 412, 412]);
    // Writers that each publish over whatever is latest all get in, one after another.
    const blind = await Promise.all([6, 7, 8, 9].map((n) => t.call('PUT', path(s), { token: a.token, body: { settings: { n } }, headers: { 'if-match': '*' } })));
    expect(blind.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    const versions = await t.call('GET', `${path(s)}/versions`, { token: a.token });
    expect(versions.body.value.map((v: { version: number }) => v.version)).toEqual([6, 5, 4, 3, 2, 1]);
    // Concurrent first writers: one creates, the other builds on nothing and must say so.
    const fresh = await newService('race-first');
    const firsts = await Promise.all([1, 2].map((n) => t.call('PUT', path(fresh), { token: a.token, body: { settings: { n } }, headers: { 'if-none-match': '*' } })));
    expect(firsts.map((r) => r.status).sort()).toEqual([201, 412]);
  });

  it('refuses writes for a service that is retired, unknown, or of another environment', async () => {
    const s = await newService('retired');
    await put(s, { a: 1 });
    expect((await t.call('POST', `tenants/cfg-a/environments/${s.environmentId}/services/${s.serviceId}/retire`, { token: a.token })).status).toBe(200);
    expectApiError(await put(s, { a: 2 }, { 'if-match': '*' }), 409, 'ServiceRetired');
    expect((await t.call('GET', path(s), { token: a.token })).body.settings).toEqual({ a: 1 });
    expectApiError(await put({ environmentId: a.environmentId, serviceId: 'svc_0000000000000000' }, { a: 1 }), 404);
    const env2 = await t.call('POST', 'tenants/cfg-a/environments', { token: a.token, body: { name: 'other', kind: 'dev', region: 'westeurope' } });
    expectApiError(await put({ environmentId: env2.body.id, serviceId: a.serviceId }, { a: 1 }), 404);
  });

  it('needs the operator role to write and the reader role to read', async () => {
    await t.addMember('cfg-a', 'rita', 'reader');
    const rita = await t.token('rita');
    expectApiError(await put(a, { x: 1 }, {}, rita), 403, 'Forbidden');
    expect((await put(a, { x: 1 })).status).toBe(201);
    expect((await t.call('GET', path(a), { token: rita })).status).toBe(200);
  });
});

describe('no secret values', () => {
  it('refuses values that look like secrets with a 400 naming the setting, never the value, and stores nothing', async () => {
    const s = await newService('secrets');
    const before = await t.snapshot();
    const cases: [Record<string, unknown>, string][] = [
      [{ db: { connection: 'Server=db;User ID=app;Password=Sup3rS3cret!;' } }, '/settings/db/connection'],
      [{ auth: { header: 'Bearer eyJabc.eyJdef.ghi-Sup3rS3cret' } }, '/settings/auth/header'],
      [{ smtp: { password: 'Sup3rS3cret' } }, '/settings/smtp/password'],
      [{ list: ['ok', { apiKey: 'Sup3rS3cretQ8Jv0b9G6pDk' }] }, '/settings/list/1/apiKey'],
    ];
    for (const [settings, target] of cases) {
      const r = await put(s, settings);
      expectApiError(r, 400, 'SecretValueRefused');
      expect(r.body.error.target).toBe(target);
      expect(r.body.error.message).toContain(target.replace('/settings', ''));
      expect(JSON.stringify(r.body)).not.toContain('Sup3rS3cret');
    }
    const badName = await put(s, { 'a b': 1 });
    expectApiError(badName, 400, 'InvalidRequest');
    const badRef = await put(s, { db: { password: { secretRef: 'Bad Name' } } });
    expectApiError(badRef, 400, 'InvalidRequest');
    expect(badRef.body.error.target).toBe('/settings/db/password');
    expect(await t.snapshot()).toEqual(before);
  });

  it('takes references to secret bindings usable in the environment, and refuses others, naming them', async () => {
    const s = await newService('refs');
    const binding = (name: string, consumers: unknown[]) =>
      t.call('POST', 'tenants/cfg-a/secret-bindings', {
        token: a.token,
        body: { name, secretName: name, consumers, initialValue: 'generate', rotation: { intervalDays: 30, generator: { kind: 'random', length: 32, alphabet: 'hex' } } },
      });
    expect((await binding('orders-db-password', [{ environmentId: s.environmentId }])).status).toBe(201);
    const env2 = await t.call('POST', 'tenants/cfg-a/environments', { token: a.token, body: { name: 'elsewhere', kind: 'dev', region: 'westeurope' } });
    expect((await binding('elsewhere-key', [{ environmentId: env2.body.id }])).status).toBe(201);
    const before = await t.snapshot();
    const r = await put(s, { db: { password: { secretRef: 'orders-db-password' } }, api: { secretRef: 'missing-too' }, other: { secretRef: 'elsewhere-key' } });
    expectApiError(r, 400, 'UnknownSecretBinding');
    expect(r.body.error.message).toContain("'elsewhere-key', 'missing-too'");
    expect(r.body.error.message).not.toContain('orders-db-password');
    expect(await t.snapshot()).toEqual(before);
    const ok = await put(s, { db: { password: { secretRef: 'orders-db-password' } } });
    expect([ok.status, ok.body.secretRefs]).toEqual([201, ['orders-db-password']]);
  });

  it("gives the secrets service's blast radius the versions that reference a binding and who synced since its rotation", async () => {
    const s = await newService('radius');
    const created = await t.call('POST', 'tenants/cfg-a/secret-bindings', {
      token: a.token,
      body: { name: 'radius-key', secretName: 'radius-key', consumers: [{ environmentId: s.environmentId }], initialValue: 'generate', rotation: { intervalDays: 30, generator: { kind: 'random', length: 32, alphabet: 'hex' } } },
    });
    expect(created.status).toBe(201);
    const v1 = await put(s, { key: { secretRef: 'radius-key' } });
    await t.call('GET', `${path(s)}?consumer=early`, { token: a.token });
    const rotatedAt = tick();
    tick();
    const v2 = await put(s, { key: { secretRef: 'radius-key' }, more: 1 }, { 'if-match': v1.headers.get('etag')! });
    await put(s, { more: 2 }, { 'if-match': v2.headers.get('etag')! });
    // "late" syncs now and gets version 3; "early" still runs version 1.
    await t.call('GET', `${path(s)}?consumer=late`, { token: a.token, headers: { 'if-none-match': v2.headers.get('etag')! } });
    const api = t.instance<ConfigurationInstance>('configuration').api;
    const refs = await api.referencesToBinding({ tenantId: 'cfg-a', placement: pooled }, 'radius-key', rotatedAt);
    expect(refs.configurationVersions).toEqual([
      { environmentId: s.environmentId, serviceId: s.serviceId, version: 2, latest: false },
      { environmentId: s.environmentId, serviceId: s.serviceId, version: 1, latest: false },
    ]);
    // Version 3 no longer references it: "late" (on 3) does not need it; "early" (on 1) still does.
    expect(refs.consumers.map((c) => [c.consumer, c.syncedVersion, c.syncedAfterRotation])).toEqual([['early', 1, false]]);
    const radius = await t.call('GET', `tenants/cfg-a/secret-bindings/${created.body.id}/blast-radius`, { token: a.token });
    // The binding was never rotated, so every consumer counts as synced after its (no) rotation.
    expect(radius.body.configuration).toMatchObject({ available: true, syncedAfterRotation: [{ consumer: 'early', syncedVersion: 1 }], notSyncedAfterRotation: [] });
    expect(radius.body.configuration.configurationVersions).toHaveLength(2);
  });
});

describe('read on sync', () => {
  it('answers 304 to a current If-None-Match (weak or in a list) and the new version after a change', async () => {
    const s = await newService('sync');
    const v1 = await put(s, { a: 1 });
    const tag = v1.headers.get('etag')!;
    for (const held of [tag, `W/${tag}`, `"x", ${tag}`, '*']) {
      const r = await t.call('GET', path(s), { token: a.token, headers: { 'if-none-match': held } });
      expect([r.status, r.body, r.headers.get('etag')], held).toEqual([304, undefined, tag]);
    }
    const v2 = await put(s, { a: 2 }, { 'if-match': tag });
    const r = await t.call('GET', path(s), { token: a.token, headers: { 'if-none-match': tag } });
    expect([r.status, r.body.version, r.headers.get('etag')]).toEqual([200, 2, v2.headers.get('etag')]);
  });

  it('records the version each consumer syncs, and lists who runs an older one', async () => {
    const s = await newService('consumers');
    await t.addMember('cfg-a', 'agent', 'reader');
    const agent = await t.token('agent', { kind: 'app' });
    const v1 = await put(s, { a: 1 });
    const sync = (consumer: string, etag?: string) =>
      t.call('GET', `${path(s)}?consumer=${encodeURIComponent(consumer)}`, { token: agent, headers: etag ? { 'if-none-match': etag } : {} });
    expect((await sync('node-1')).status).toBe(200);
    expect((await sync('node-2')).status).toBe(200);
    // A plain read (no consumer) records nothing.
    await t.call('GET', path(s), { token: a.token });
    tick();
    const v2 = await put(s, { a: 2 }, { 'if-match': v1.headers.get('etag')! });
    tick();
    expect((await sync('node-1', v1.headers.get('etag')!)).status).toBe(200);
    // node-3 already holds version 2 (say, from before it was renamed): a 304 records it too.
    expect((await sync('node-3', v2.headers.get('etag')!)).status).toBe(304);

    const all = await t.call('GET', `${path(s)}/consumers`, { token: a.token });
    expect(all.body.value.map((c: { consumer: string; version: number; behind: boolean; syncedBy: string }) => [c.consumer, c.version, c.behind, c.syncedBy])).toEqual([
      ['node-1', 2, false, 'agent'],
      ['node-2', 1, true, 'agent'],
      ['node-3', 2, false, 'agent'],
    ]);
    const behind = await t.call('GET', `${path(s)}/consumers?olderThanLatest=true`, { token: a.token });
    expect(behind.body.value.map((c: { consumer: string }) => c.consumer)).toEqual(['node-2']);
    const page = await t.call('GET', `${path(s)}/consumers?maxpagesize=2`, { token: a.token });
    expect(page.body.value).toHaveLength(2);
    const rest = await t.call('GET', page.body.nextLink.replace(/^.*\/api\//, ''), { token: a.token });
    expect(rest.body.value.map((c: { consumer: string }) => c.consumer)).toEqual(['node-3']);
    expectApiError(await t.call('GET', `${path(s)}?consumer=${encodeURIComponent('bad name')}`, { token: agent }), 400);
  });

  it('keeps the steady-state 304 a read: nothing is written while the consumer is current and was seen lately', async () => {
    const s = await newService('steady');
    const v1 = await put(s, { a: 1 });
    const q = `${path(s)}?consumer=steady-1`;
    expect((await t.call('GET', q, { token: a.token })).status).toBe(200);
    const seen = async () =>
      (await sql<{ last_seen_at: Date }>`select last_seen_at from configuration.configuration_consumers where consumer = 'steady-1'`.execute(t.owner.forPlacement(pooled))).rows[0]?.last_seen_at.getTime();
    const first = await seen();
    tick(60_000);
    const before = await t.snapshot();
    expect((await t.call('GET', q, { token: a.token, headers: { 'if-none-match': v1.headers.get('etag')! } })).status).toBe(304);
    expect(await t.snapshot()).toEqual(before);
    // After an hour, the poll refreshes when it was last seen.
    tick(60 * 60 * 1000);
    expect((await t.call('GET', q, { token: a.token, headers: { 'if-none-match': v1.headers.get('etag')! } })).status).toBe(304);
    expect(await seen()).toBeGreaterThan(first!);
  });
});

describe('tenant isolation', () => {
  it("answers 404 for another tenant's real ids through the caller's own tenant path, and changes nothing", async () => {
    const v = await put(b, { owner: 'b' }, {}, b.token, 'cfg-b');
    expect(v.status).toBe(201);
    const before = await t.snapshot();
    const foreign = path(b, 'cfg-a');
    for (const [method, p] of [
      ['GET', foreign],
      ['GET', `${foreign}/versions`],
      ['GET', `${foreign}/versions/1`],
      ['GET', `${foreign}/diff`],
      ['GET', `${foreign}/consumers`],
      ['PUT', foreign],
    ] as const) {
      const r = await t.call(method, p, { token: a.token, ...(method === 'PUT' ? { body: { settings: { x: 1 } }, headers: { 'if-match': '*' } } : {}) });
      expectApiError(r, 404, 'NotFound');
    }
    expect(await t.snapshot()).toEqual(before);
  });
});

describe('plugged into the catalog', () => {
  it("gives the fact sheet's configuration part: version and who synced it", async () => {
    const s = await newService('facts');
    const base = `tenants/cfg-a/environments/${s.environmentId}/services/${s.serviceId}`;
    expect((await t.call('GET', `${base}/facts`, { token: a.token })).body.parts.configuration).toBeNull();
    await put(s, { a: 1 });
    await t.call('GET', `${path(s)}?consumer=facts-1`, { token: a.token });
    const facts = await t.call('GET', `${base}/facts`, { token: a.token });
    expect(facts.body.parts.configuration).toMatchObject({ version: 1, publishedBy: 'ada', consumersOnLatest: 1, consumersBehind: 0, consumers: [{ consumer: 'facts-1', version: 1 }] });
  });

  it('keeps a retired service from the purge while the latest configuration of another service names it', async () => {
    const target = await newService('named');
    const other = await newService('naming');
    const v1 = await put(other, { upstream: target.serviceId });
    expect((await t.call('POST', `tenants/cfg-a/environments/${target.environmentId}/services/${target.serviceId}/retire`, { token: a.token })).status).toBe(200);
    const purge = (opts = {}) => t.instance<CatalogInstance>('catalog').purge({ tenantIds: ['cfg-a'], ...opts });
    tick(100 * 24 * 60 * 60 * 1000);
    const kept = await purge();
    expect(kept.skipped.find((x) => x.serviceId === target.serviceId)?.reasons).toEqual([`configuration: the latest configuration (version 1) of service ${other.serviceId} names it`]);
    // Once the latest version no longer names it, it goes.
    await put(other, { upstream: 'none' }, { 'if-match': v1.headers.get('etag')! });
    const gone = await purge();
    expect(gone.skipped.find((x) => x.serviceId === target.serviceId)).toBeUndefined();
    expect((await t.call('GET', `tenants/cfg-a/environments/${target.environmentId}/services/${target.serviceId}`, { token: a.token })).status).toBe(404);
  });
});

describe('the public API', () => {
  it('answers the latest version and the last change before an instant', async () => {
    const api = t.instance<ConfigurationInstance>('configuration').api;
    const tenant = { tenantId: 'cfg-a', placement: pooled };
    const s = await newService('api-client');
    expect(await api.latestVersion(tenant, s.environmentId, s.serviceId)).toBeUndefined();
    const v1 = await put(s, { a: 1 });
    const at1 = clock;
    await put(s, { a: 2 }, { 'if-match': v1.headers.get('etag')! });
    expect(await api.latestVersion(tenant, s.environmentId, s.serviceId)).toEqual({ version: 2, publishedAt: clock, publishedBy: 'ada' });
    expect(await api.lastChangeBefore(tenant, s.environmentId, s.serviceId, at1)).toEqual({
      kind: 'configuration',
      id: `${s.serviceId}/configuration/versions/1`,
      at: at1,
      serviceId: s.serviceId,
      environmentId: s.environmentId,
    });
    expect(await api.lastChangeBefore(tenant, s.environmentId, s.serviceId, new Date(at1.getTime() - 1))).toBeUndefined();
    expect((await api.lastChangeBefore(tenant, s.environmentId, undefined, clock))?.at).toEqual(clock);
    // Another tenant's view of the same ids is empty.
    expect(await api.latestVersion({ tenantId: 'cfg-b', placement: pooled }, s.environmentId, s.serviceId)).toBeUndefined();
  });
});
