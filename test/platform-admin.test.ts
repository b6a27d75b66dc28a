/**
 * Every platform-admin route the app registers (new ones are covered as they land) refuses anyone
 * else — a tenant's admin, a workload identity without the role, no token — in the error format,
 * and changes nothing. (The cross-tenant suite covers tenant-scoped paths; these live elsewhere,
 * e.g. `platform/…`.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectApiError, startTestApp, type TestApp } from './app.js';

let t: TestApp;

beforeAll(async () => {
  t = await startTestApp();
  await t.createTenant('tenant-a', 'alice');
});
afterAll(() => t?.close());

describe('platform-admin routes', () => {
  it('refuse a tenant admin and a workload identity (403) and an anonymous caller (401), changing nothing', async () => {
    const admin = t.app.routes.routes.filter((r) => 'platformAdmin' in r.access);
    expect(admin.map((r) => r.name)).toEqual(expect.arrayContaining(['tenantCreate', 'outboxDeadLetterList', 'outboxDeadLetterRedrive', 'platformIsolationCheck']));
    const callers = { alice: await t.token('alice'), app: await t.token('pipeline', { kind: 'app' }) };
    const before = await t.snapshot();
    for (const r of admin) {
      const path = r.route.replace('{tenantId}', 'tenant-a').replace(/\{(\w+)\??(:[^}]*)?\}/g, 'x1');
      const example = t.kernel.openapi.examples.get(r.name)?.example;
      const body = example !== undefined ? { body: example } : {};
      for (const token of Object.values(callers)) expectApiError(await t.call(r.method, path, { token, ...body }), 403, 'Forbidden');
      expectApiError(await t.call(r.method, path, body), 401, 'Unauthorized');
    }
    expect(await t.snapshot()).toEqual(before);
  });
});
