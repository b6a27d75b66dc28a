/**
 * The pipeline's own scripts: the secrets-provider check and the post-deploy smoke test (run
 * against a local stand-in for the deployed app).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { secretsProviderProblems } from '../ci/secrets-provider.js';
import { ABSENT_TENANT, runSmoke } from '../ci/smoke.js';

const KV = 'azurekeyvault://rp-state.vault.azure.net/keys/pulumi';

describe('secrets provider check', () => {
  const cloudState = (url: string, resources: unknown[] = [{}]) => ({
    deployment: { resources, secrets_providers: { type: 'cloud', state: { url } } },
  });

  it('accepts a stack whose state uses the Key Vault key, with or without the provider in its stack file', () => {
    expect(secretsProviderProblems({ expected: KV, stackFile: 'config: {}\n', state: cloudState(KV) })).toEqual([]);
    const recorded = `secretsprovider: ${KV}\nencryptedkey: abc=\nconfig: {}\n`;
    expect(secretsProviderProblems({ expected: KV, stackFile: recorded, state: cloudState(KV) })).toEqual([]);
    // A stack created just now has no resources and may not name a provider yet.
    expect(secretsProviderProblems({ expected: KV, stackFile: 'config: {}\n', state: { deployment: {} } })).toEqual([]);
  });

  it('refuses passphrase, another key, or a provider without its encrypted data key', () => {
    expect(secretsProviderProblems({ expected: KV, stackFile: 'encryptionsalt: v1:abc\n' })).toEqual([
      expect.stringMatching(/passphrase/),
    ]);
    expect(
      secretsProviderProblems({ expected: KV, state: { deployment: { secrets_providers: { type: 'passphrase' } } } }),
    ).toEqual([expect.stringMatching(/"passphrase" secrets provider/)]);
    expect(secretsProviderProblems({ expected: KV, state: cloudState('azurekeyvault://other.vault.azure.net/keys/k') })).toHaveLength(1);
    expect(secretsProviderProblems({ expected: KV, stackFile: `secretsprovider: ${KV}\n` })).toEqual([
      expect.stringMatching(/without its encryptedkey/),
    ]);
    expect(secretsProviderProblems({ expected: KV, state: { deployment: { resources: [{}] } } })).toHaveLength(1);
    expect(secretsProviderProblems({ expected: '' })).toEqual([expect.stringMatching(/PULUMI_SECRETS_PROVIDER/)]);
  });
});

/** A stand-in for the deployed app, answering like the real pipeline (shared/http/pipeline.ts). */
function fakeApp(behaviour: { openTenants?: boolean; unknownIs200?: boolean; tenants?: string[] } = {}) {
  const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
    res.end(JSON.stringify(body));
  };
  const unauthorized = (res: ServerResponse) =>
    json(res, 401, { error: { code: 'Unauthorized', message: 'A bearer token is required.' } }, {
      'x-ms-error-code': 'Unauthorized',
      'www-authenticate': 'Bearer error="invalid_token"',
    });
  const tenants = behaviour.tenants ?? [];
  return createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const authed = req.headers.authorization === 'Bearer good-token';
    if (path === '/api/health') return json(res, 200, { status: 'ok' });
    const m = /^\/api\/tenants(?:\/([^/]+)\/(environments|services))?$/.exec(path);
    if (!m) {
      if (behaviour.unknownIs200) return json(res, 200, {});
      res.writeHead(404);
      return res.end();
    }
    if (!authed && !(behaviour.openTenants && !m[1])) return unauthorized(res);
    if (!m[1]) return json(res, 200, { value: tenants.map((id) => ({ id })) });
    if (!tenants.includes(m[1])) {
      return json(res, 404, { error: { code: 'NotFound', message: `Tenant '${m[1]}' was not found.` } }, { 'x-ms-error-code': 'NotFound' });
    }
    return json(res, 200, { value: [] });
  });
}

async function withApp<T>(app: ReturnType<typeof fakeApp>, run: (base: string) => Promise<T>): Promise<T> {
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  try {
    return await run(`http://127.0.0.1:${(app.address() as AddressInfo).port}`);
  } finally {
    await new Promise<void>((r) => app.close(() => r()));
  }
}

describe('post-deploy smoke test', () => {
  let down: ReturnType<typeof createServer>;
  let downBase: string;
  beforeAll(async () => {
    down = createServer((_req, res) => {
      res.writeHead(503);
      res.end();
    });
    await new Promise<void>((r) => down.listen(0, '127.0.0.1', r));
    downBase = `http://127.0.0.1:${(down.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => down.close(() => r())));

  it('without a token: health, an unknown route, and one 401 in the error format per service', async () => {
    const results = await withApp(fakeApp(), (base) => runSmoke({ base, attempts: 1 }));
    expect(results.map((r) => r.name)).toEqual([
      'GET /api/health',
      'GET an unknown route',
      'tenants: GET /api/tenants without a token',
      `environments: GET /api/tenants/${ABSENT_TENANT}/environments without a token`,
      `catalog: GET /api/tenants/${ABSENT_TENANT}/services without a token`,
    ]);
    expect(results.filter((r) => !r.ok)).toEqual([]);
  });

  it('fails when a service answers without a token, or an unknown route answers 200', async () => {
    const open = await withApp(fakeApp({ openTenants: true }), (base) => runSmoke({ base, attempts: 1 }));
    expect(open.filter((r) => !r.ok).map((r) => r.name)).toEqual(['tenants: GET /api/tenants without a token']);
    const catchAll = await withApp(fakeApp({ unknownIs200: true }), (base) => runSmoke({ base, attempts: 1 }));
    expect(catchAll.filter((r) => !r.ok).map((r) => r.name)).toEqual(['GET an unknown route']);
  });

  it('with a token: real reads of the first tenant, or NotFound for an absent one when there is none', async () => {
    const withTenant = await withApp(fakeApp({ tenants: ['acme'] }), (base) => runSmoke({ base, token: 'good-token', attempts: 1 }));
    expect(withTenant.filter((r) => !r.ok)).toEqual([]);
    expect(withTenant.map((r) => r.name)).toContain('environments: GET /api/tenants/acme/environments');
    const empty = await withApp(fakeApp(), (base) => runSmoke({ base, token: 'good-token', attempts: 1 }));
    expect(empty.filter((r) => !r.ok)).toEqual([]);
    const badToken = await withApp(fakeApp(), (base) => runSmoke({ base, token: 'expired', attempts: 1 }));
    expect(badToken.filter((r) => !r.ok).length).toBeGreaterThan(0);
  });

  it('gives up on an app that never becomes healthy', async () => {
    const results = await runSmoke({ base: downBase, attempts: 2, delayMs: 1 });
    expect(results).toEqual([expect.objectContaining({ name: 'GET /api/health', ok: false })]);
  });
});
