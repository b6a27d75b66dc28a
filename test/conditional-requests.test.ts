/**
 * Conditional requests as RFC 9110 §13 defines them: `If-Match: *` (the resource must exist),
 * lists of entity tags (any may match), weak tags (never match a strong comparison),
 * `If-None-Match: *` on a create-or-replace, and a retry of an applied state change (retire)
 * with the tag the client read before succeeding instead of failing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectApiError, startTestApp, type TestApp } from './app.js';

let t: TestApp;
let root: string;
let ada: string;

beforeAll(async () => {
  t = await startTestApp();
  await t.createTenant('cond', 'ada');
  root = await t.token('platform-admin', { admin: true });
  ada = await t.token('ada');
});
afterAll(() => t?.close());

describe('If-Match and If-None-Match', () => {
  it('If-Match: * changes a member that exists and refuses to create one that does not', async () => {
    expectApiError(await t.call('PUT', 'tenants/cond/members/nobody', { token: ada, body: { role: 'reader' }, headers: { 'if-match': '*' } }), 412, 'PreconditionFailed');
    expect((await t.call('GET', 'tenants/cond/members', { token: ada })).body.value.map((m: { principalId: string }) => m.principalId)).toEqual(['ada']);
    await t.addMember('cond', 'bea', 'reader');
    const changed = await t.call('PUT', 'tenants/cond/members/bea', { token: ada, body: { role: 'operator' }, headers: { 'if-match': '*' } });
    expect(changed.status).toBe(200);
    expect(changed.body.role).toBe('operator');
    // Removing a member that does not exist is a 204 without a condition, a 412 with one.
    expect((await t.call('DELETE', 'tenants/cond/members/nobody', { token: ada })).status).toBe(204);
    expectApiError(await t.call('DELETE', 'tenants/cond/members/nobody', { token: ada, headers: { 'if-match': '*' } }), 412);
  });

  it('If-None-Match: * adds a member only when it is not one yet', async () => {
    const added = await t.call('PUT', 'tenants/cond/members/cy', { token: ada, body: { role: 'reader' }, headers: { 'if-none-match': '*' } });
    expect(added.status).toBe(201);
    expectApiError(await t.call('PUT', 'tenants/cond/members/cy', { token: ada, body: { role: 'admin' }, headers: { 'if-none-match': '*' } }), 412);
    expect((await t.call('GET', 'tenants/cond/members', { token: ada })).body.value.find((m: { principalId: string }) => m.principalId === 'cy').role).toBe('reader');
  });

  it('matches any tag of a list, and never a weak one', async () => {
    const got = await t.call('GET', 'tenants/cond', { token: ada });
    const current = got.headers.get('etag')!;
    const stale = '"00000000-0000-0000-0000-000000000000"';
    const p = await t.call('PATCH', 'tenants/cond', { token: root, body: { displayName: 'Listed' }, headers: { 'if-match': `${stale}, ${current}` } });
    expect(p.status).toBe(200);
    expectApiError(await t.call('PATCH', 'tenants/cond', { token: root, body: { displayName: 'Weak' }, headers: { 'if-match': `W/${p.headers.get('etag')!}` } }), 412);
    expectApiError(await t.call('PATCH', 'tenants/cond', { token: root, body: { displayName: 'Stale' }, headers: { 'if-match': `${stale}, ${current}` } }), 412);
    expect((await t.call('GET', 'tenants/cond', { token: ada })).body.displayName).toBe('Listed');
  });

  it('answers a GET 304, with the ETag and no body, when If-None-Match names the current ETag (weakly compared)', async () => {
    const got = await t.call('GET', 'tenants/cond', { token: ada });
    const tag = got.headers.get('etag')!;
    for (const header of [tag, `W/${tag}`, `"other", ${tag}`, '*']) {
      const r = await t.call('GET', 'tenants/cond', { token: ada, headers: { 'if-none-match': header } });
      expect([r.status, r.text, r.headers.get('etag')], header).toEqual([304, undefined, tag]);
    }
    expect((await t.call('GET', 'tenants/cond', { token: ada, headers: { 'if-none-match': '"other"' } })).status).toBe(200);
    // A list has no ETag: If-None-Match changes nothing there.
    expect((await t.call('GET', 'tenants/cond/members', { token: ada, headers: { 'if-none-match': '*' } })).status).toBe(200);
  });

  it('a retried retire with the tag read before it succeeds and re-runs the cascade', async () => {
    const env = await t.call('POST', 'tenants/cond/environments', { token: ada, body: { name: 'retry-me', kind: 'dev', region: 'westeurope' } });
    const tag = env.headers.get('etag')!;
    const svc = await t.call('POST', `tenants/cond/environments/${env.body.id}/services`, { token: ada, body: { name: 'api', owner: 'team' } });
    const svcTag = svc.headers.get('etag')!;
    const first = await t.call('POST', `tenants/cond/environments/${env.body.id}/retire`, { token: ada, headers: { 'if-match': tag } });
    expect(first.status).toBe(200);
    const retry = await t.call('POST', `tenants/cond/environments/${env.body.id}/retire`, { token: ada, headers: { 'if-match': tag } });
    expect(retry.status).toBe(200);
    expect(retry.body).toEqual(first.body);
    // The service was retired by the cascade; its own retire, retried with its old tag, succeeds too.
    const again = await t.call('POST', `tenants/cond/environments/${env.body.id}/services/${svc.body.id}/retire`, { token: ada, headers: { 'if-match': svcTag } });
    expect(again.status).toBe(200);
    expect(again.body.status).toBe('retired');
    // A live resource still refuses a stale tag.
    const live = await t.call('POST', 'tenants/cond/environments', { token: ada, body: { name: 'live', kind: 'dev', region: 'westeurope' } });
    await t.call('PATCH', `tenants/cond/environments/${live.body.id}`, { token: ada, body: { description: 'changed' } });
    expectApiError(await t.call('POST', `tenants/cond/environments/${live.body.id}/retire`, { token: ada, headers: { 'if-match': live.headers.get('etag')! } }), 412);
  });
});
