/**
 * `Repeatability-Request-ID`: a request is "the same" when its tenant, caller, method, path, query
 * and body are; the host name it arrived at is not part of it (a retry through another host name
 * or gateway replays), the caller is (another caller reusing an id is refused).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectApiError, startTestApp, type TestApp } from './app.js';

let t: TestApp;
let ida: string;
let ivo: string;

beforeAll(async () => {
  t = await startTestApp();
  await t.createTenant('idem', 'ida');
  await t.addMember('idem', 'ivo', 'operator');
  ida = await t.token('ida');
  ivo = await t.token('ivo');
});
afterAll(() => t?.close());

const env = (name: string) => ({ name, kind: 'dev', region: 'westeurope' });

describe('Repeatability-Request-ID', () => {
  it('replays a retry that arrives through another host name, once', async () => {
    const headers = { 'repeatability-request-id': 'via-two-hosts' };
    const first = await t.call('POST', 'tenants/idem/environments', { token: ida, body: env('two-hosts'), headers, origin: 'https://api.example.com' });
    expect(first.status).toBe(201);
    const retry = await t.call('POST', 'tenants/idem/environments', { token: ida, body: env('two-hosts'), headers, origin: 'https://rp-prod.azurewebsites.net' });
    expect(retry.status).toBe(201);
    expect(retry.headers.get('repeatability-result')).toBe('accepted');
    expect(retry.body).toEqual(first.body);
    const list = await t.call('GET', 'tenants/idem/environments?namePrefix=two-hosts', { token: ida });
    expect(list.body.value).toHaveLength(1);
  });

  it('refuses the same id for another body, or from another caller', async () => {
    const headers = { 'repeatability-request-id': 'one-request' };
    expect((await t.call('POST', 'tenants/idem/environments', { token: ida, body: env('first-body'), headers })).status).toBe(201);
    expectApiError(await t.call('POST', 'tenants/idem/environments', { token: ida, body: env('other-body'), headers }), 409, 'RepeatabilityConflict');
    expectApiError(await t.call('POST', 'tenants/idem/environments', { token: ivo, body: env('first-body'), headers }), 409, 'RepeatabilityConflict');
    const list = await t.call('GET', 'tenants/idem/environments?namePrefix=other-body', { token: ida });
    expect(list.body.value).toHaveLength(0);
  });
});
