/**
 * The access cache across app instances. Each instance caches a caller's access to a tenant for
 * TENANT_CACHE_TTL_MS; the instance that changes members drops its own entries at once, others
 * keep theirs until they expire. A removed member may therefore still READ on another instance
 * for at most the TTL — but routes that change access check afresh, so it can never use that
 * stale access to grant itself (or anyone) access again.
 */
import azureFunctions from '@azure/functions';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../../test/app.js';
import { createKernel, type Kernel } from '../../shared/kernel.js';
import { Registrar, type App } from '../../shared/registrar.js';
import { registerAll, services } from '../../composition/services.js';
import { composeApp } from '../../composition/app.js';

const { HttpRequest, InvocationContext } = azureFunctions;

/** Another instance of the app on the same database, with its own cache. */
interface Instance {
  kernel: Kernel;
  app: App;
  call(name: string, method: string, params: Record<string, string>, token: string, body?: unknown): Promise<{ status: number; body: any }>;
}

async function instance(t: TestApp, tenantCacheTtlMs: number): Promise<Instance> {
  const kernel = createKernel({ ...t.kernel.settings, tenantCacheTtlMs });
  const registrar = new Registrar((r) => composeApp(kernel, r, services));
  registerAll(registrar);
  const app = await registrar.loadRoutes();
  return {
    kernel,
    app,
    async call(name, method, params, token, body) {
      const route = app.routes.routes.find((r) => r.name === name)!;
      const path = Object.entries(params).reduce((p, [k, v]) => p.replace(`{${k}}`, v), route.route);
      const json = body === undefined ? undefined : JSON.stringify(body);
      const res = await route.handler(
        new HttpRequest({
          method,
          url: `http://127.0.0.1/api/${path}`,
          params,
          headers: { authorization: `Bearer ${token}`, ...(json ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(json)) } : {}) },
          ...(json ? { body: { string: json } } : {}),
        }),
        new InvocationContext({ functionName: name, invocationId: randomUUID(), logHandler: () => undefined }),
      );
      return { status: res.status ?? 200, body: typeof res.body === 'string' ? JSON.parse(res.body) : undefined };
    },
  };
}

let t: TestApp;
const others: Instance[] = [];

beforeAll(async () => {
  // This file's app is "instance 1"; it caches too.
  t = await startTestApp({ env: { TENANT_CACHE_TTL_MS: '60000' } });
});
afterAll(async () => {
  for (const o of others) await o.kernel.sql.close();
  await t?.close();
});

describe('access cached on another instance', () => {
  it('lets a removed member read there until the TTL, but never change access with it', async () => {
    await t.createTenant('cached', 'ann');
    await t.addMember('cached', 'mal', 'admin');
    const other = await instance(t, 60_000);
    others.push(other);
    const [ann, mal] = [await t.token('ann'), await t.token('mal')];

    // Instance 2 caches mal's admin access.
    expect((await other.call('tenantGet', 'GET', { tenantId: 'cached' }, mal)).status).toBe(200);
    // Instance 1 removes mal (and drops its own cache entries for the tenant).
    expect((await t.call('DELETE', 'tenants/cached/members/mal', { token: ann })).status).toBe(204);
    expect((await t.call('GET', 'tenants/cached', { token: mal })).status).toBe(404);

    // Instance 2 still serves mal's reads from its cache: the documented bound (the TTL).
    expect((await other.call('tenantGet', 'GET', { tenantId: 'cached' }, mal)).status).toBe(200);
    // But every change of access checks afresh: mal cannot re-add itself, add others, or remove ann.
    const readd = await other.call('tenantMemberPut', 'PUT', { tenantId: 'cached', principalId: 'mal' }, mal, { role: 'admin' });
    expect(readd.status, JSON.stringify(readd.body)).toBe(404);
    expect((await other.call('tenantMemberPut', 'PUT', { tenantId: 'cached', principalId: 'eve' }, mal, { role: 'reader' })).status).toBe(404);
    expect((await other.call('tenantMemberDelete', 'DELETE', { tenantId: 'cached', principalId: 'ann' }, mal)).status).toBe(404);
    // The fresh check also refreshed instance 2's entry: mal's reads stop there too.
    expect((await other.call('tenantGet', 'GET', { tenantId: 'cached' }, mal)).status).toBe(404);

    const members = await t.call('GET', 'tenants/cached/members', { token: ann });
    expect(members.body.value.map((m: { principalId: string }) => m.principalId)).toEqual(['ann']);
  });

  it('stops serving a removed member once the TTL has passed', async () => {
    await t.createTenant('expiring', 'ivy');
    await t.addMember('expiring', 'jon', 'reader');
    const other = await instance(t, 300);
    others.push(other);
    const jon = await t.token('jon');
    expect((await other.call('tenantGet', 'GET', { tenantId: 'expiring' }, jon)).status).toBe(200);
    expect((await t.call('DELETE', 'tenants/expiring/members/jon', { token: await t.token('ivy') })).status).toBe(204);
    await new Promise((r) => setTimeout(r, 400));
    expect((await other.call('tenantGet', 'GET', { tenantId: 'expiring' }, jon)).status).toBe(404);
  });
});
