/** Dependency failures and rate limits answer in the error format with Retry-After, never as 500. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from './app.js';
import { createKernel } from '../shared/kernel.js';
import { loadSettings, SettingsError } from '../shared/settings.js';
import { registerAll, services } from '../composition/services.js';
import { composeApp } from '../composition/app.js';
import { Registrar } from '../shared/registrar.js';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t?.close());

describe('error model', () => {
  it('answers 503 with Retry-After when the database is down', async () => {
    // Same app, but its database is a port nothing listens on.
    const env = { SQL_CONNECTION_STRING: 'postgres://postgres@127.0.0.1:1/none', AUTH_MODE: 'dev', AUTH_DEV_ALLOW: 'local', AUTH_DEV_KEY_FILE: t.kernel.settings.auth.devKeyFile };
    const kernel = createKernel(loadSettings(env));
    const registrar = new Registrar((r) => composeApp(kernel, r, services));
    registerAll(registrar);
    const app = await registrar.loadRoutes();
    const route = app.routes.routes.find((r) => r.name === 'tenantGet')!;
    const { HttpRequest, InvocationContext } = (await import('@azure/functions')).default;
    const res = await route.handler(
      new HttpRequest({ method: 'GET', url: 'http://127.0.0.1/api/tenants/x1', params: { tenantId: 'x1' }, headers: { authorization: `Bearer ${await t.token('u1')}` } }),
      new InvocationContext({ functionName: 'tenantGet', logHandler: () => undefined }),
    );
    expect(res.status).toBe(503);
    expect((res.headers as Record<string, string>)['Retry-After']).toBe('5');
    expect((res.headers as Record<string, string>)['x-ms-error-code']).toBe('ServiceUnavailable');
    expect(JSON.parse(res.body as string).error.message).not.toMatch(/127\.0\.0\.1|ECONNREFUSED/);
    await kernel.sql.close();
  });

  it("answers 429 with Retry-After once a tenant's request rate quota is spent", async () => {
    await t.createTenant('limited', 'lee');
    const root = await t.token('platform-admin', { admin: true });
    await t.call('PATCH', 'tenants/limited', { token: root, body: { quotas: { requestsPerMinute: 3 } } });
    const lee = await t.token('lee');
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await t.call('GET', 'tenants/limited', { token: lee })).status);
    expect(statuses.slice(0, 3)).toEqual([200, 200, 200]);
    const limited = await t.call('GET', 'tenants/limited', { token: lee });
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(limited.body.error.code).toBe('TooManyRequests');
    // Platform admins are not throttled by a tenant's quota.
    expect((await t.call('GET', 'tenants/limited', { token: root })).status).toBe(200);
  });
});

describe('settings', () => {
  it('names every bad or missing setting', () => {
    expect(() => loadSettings({})).toThrow(/SQL_CONNECTION_STRING/);
    expect(() => loadSettings({ SQL_CONNECTION_STRING: 'not a url', AUTH_MODE: 'dev' })).toThrow(/SQL_CONNECTION_STRING/);
    expect(() => loadSettings({ SQL_CONNECTION_STRING: 'postgres://x@h/db', AUTH_MODE: 'dev', SQL_POOL_MAX: 'lots' })).toThrow(/SQL_POOL_MAX/);
    expect(() => loadSettings({ SQL_CONNECTION_STRING: 'postgres://x@h/db' })).toThrow(/AUTH_ISSUER and AUTH_JWKS_URI/);
    expect(() => loadSettings({ SQL_CONNECTION_STRING: 'postgres://x@h/db', AUTH_MODE: 'dev', SQL_SILOS: '{"Bad Name": 1}' })).toThrow(/SQL_SILOS/);
  });

  it('refuses the dev issuer when running in Azure', () => {
    const e = (() => {
      try {
        loadSettings({ SQL_CONNECTION_STRING: 'postgres://x@h/db', AUTH_MODE: 'dev', WEBSITE_INSTANCE_ID: 'abc' });
      } catch (err) {
        return err;
      }
      return undefined;
    })();
    expect(e).toBeInstanceOf(SettingsError);
    expect(String((e as Error).message)).toMatch(/never accepted when running in Azure/);
  });

  it('accepts a complete Azure configuration without secrets', () => {
    const s = loadSettings({
      WEBSITE_SITE_NAME: 'app',
      SQL_HOST: 'pg.postgres.database.azure.com',
      SQL_USER: 'app-identity',
      SQL_SILOS: '{"silo-a":{"host":"pg2.postgres.database.azure.com","database":"tenant_a"}}',
      AUTH_ISSUER: 'https://login.microsoftonline.com/tid/v2.0',
      AUTH_JWKS_URI: 'https://login.microsoftonline.com/tid/discovery/v2.0/keys',
    });
    expect(s.inAzure).toBe(true);
    expect(s.sql.pooled).toMatchObject({ kind: 'entra', host: 'pg.postgres.database.azure.com', ssl: true });
    expect(s.sql.silos['silo-a']).toMatchObject({ kind: 'entra', database: 'tenant_a' });
  });
});
