/**
 * The Key Vault stand-in driven by the real `SecretClient`. The client trusts the stand-in's
 * self-signed certificate through its own `tlsOptions.ca`; nothing turns TLS verification off.
 */
import type { AccessToken, TokenCredential } from '@azure/identity';
import { SecretClient } from '@azure/keyvault-secrets';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureLocalCert, type LocalCert } from '../certs.js';
import { startKeyVaultServer, type KeyVaultServer } from './server.js';

/** Counts token requests and remembers the scopes and tenant the challenge asked for. */
class RecordingCredential implements TokenCredential {
  calls: { scopes: string[]; tenantId: string | undefined }[] = [];
  async getToken(scopes: string | string[], options?: { tenantId?: string }): Promise<AccessToken> {
    this.calls.push({ scopes: [scopes].flat(), tenantId: options?.tenantId });
    return { token: 'any-token', expiresOnTimestamp: Date.now() + 3_600_000 };
  }
}

let dir: string;
let cert: LocalCert;
let vault: KeyVaultServer;
let credential: RecordingCredential;
let client: SecretClient;

const newClient = (url: string, cred: TokenCredential = credential): SecretClient =>
  new SecretClient(url, cred, { disableChallengeResourceVerification: true, tlsOptions: { ca: cert.cert } });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kv-test-'));
  cert = await ensureLocalCert(join(dir, 'certs'));
  vault = await startKeyVaultServer({ tls: cert, stateFile: join(dir, 'keyvault.json'), tenantId: 'tenant-1' });
  credential = new RecordingCredential();
  client = newClient(vault.url);
});

afterAll(async () => {
  await vault?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** A raw HTTPS request, to see exactly what the server answers. */
function raw(method: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, unknown>; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = request(`${vault.url}${path}`, { method, headers, ca: cert.cert }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text ? JSON.parse(text) : undefined }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('Key Vault stand-in', () => {
  it('answers a request without a token with the Key Vault challenge', async () => {
    const res = await raw('GET', '/secrets?api-version=7.5');
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toBe(
      'Bearer authorization="https://login.microsoftonline.com/tenant-1", resource="https://vault.azure.net"',
    );
    expect(res.body).toMatchObject({ error: { code: 'Unauthorized' } });
  });

  it('completes the challenge flow with the SDK and asks for the vault scope', async () => {
    const cred = new RecordingCredential();
    const fresh = newClient(vault.url, cred);
    const set = await fresh.setSecret('challenge-flow', 'v');
    expect(set.value).toBe('v');
    expect(cred.calls[0]).toEqual({ scopes: ['https://vault.azure.net/.default'], tenantId: 'tenant-1' });
  });

  it('sets, gets, lists versions and updates properties', async () => {
    const first = await client.setSecret('db-password', 'one', { contentType: 'text/plain', tags: { owner: 'secrets' } });
    const second = await client.setSecret('db-password', 'two');
    expect(first.properties.version).toMatch(/^[0-9a-f]{32}$/);
    expect(second.properties.version).not.toBe(first.properties.version);
    expect(second.properties.vaultUrl).toBe(vault.url);

    expect((await client.getSecret('db-password')).value).toBe('two');
    expect((await client.getSecret('DB-PASSWORD', { version: first.properties.version })).value).toBe('one');

    const versions: string[] = [];
    for await (const p of client.listPropertiesOfSecretVersions('db-password')) versions.push(p.version ?? '');
    expect(versions.sort()).toEqual([first.properties.version, second.properties.version].sort());

    const updated = await client.updateSecretProperties('db-password', first.properties.version ?? '', {
      enabled: false,
      tags: { owner: 'secrets', rotated: 'yes' },
    });
    expect(updated.enabled).toBe(false);
    expect(updated.tags).toEqual({ owner: 'secrets', rotated: 'yes' });
    await expect(client.getSecret('db-password', { version: first.properties.version })).rejects.toMatchObject({
      statusCode: 403,
      code: 'Forbidden',
    });
  });

  it('serves what a rotation needs: tagged versions listed with their state, one version disabled, expiry kept', async () => {
    const v1 = await client.setSecret('rotated', 'first', { tags: { 'rp-binding': 't/b' } });
    const v2 = await client.setSecret('rotated', 'second', { tags: { 'rp-binding': 't/b', 'rp-rotation': 'rot_1' } });
    const listed = async () => {
      const out: { version?: string; enabled?: boolean; tags?: Record<string, string>; expiresOn?: Date }[] = [];
      for await (const p of client.listPropertiesOfSecretVersions('rotated')) out.push({ version: p.version, enabled: p.enabled, tags: p.tags, expiresOn: p.expiresOn });
      return out;
    };
    // A retry finds its version by tag, without reading any value.
    expect((await listed()).find((p) => p.tags?.['rp-rotation'] === 'rot_1')?.version).toBe(v2.properties.version);
    // The previous version stays readable through the overlap, then is disabled on its own.
    expect((await client.getSecret('rotated', { version: v1.properties.version })).value).toBe('first');
    await client.updateSecretProperties('rotated', v1.properties.version!, { enabled: false });
    expect((await listed()).map((p) => [p.version, p.enabled]).sort()).toEqual(
      [[v1.properties.version, false], [v2.properties.version, true]].sort(),
    );
    await expect(client.getSecret('rotated', { version: v1.properties.version })).rejects.toMatchObject({ statusCode: 403 });
    expect((await client.getSecret('rotated')).value).toBe('second');
    // Expiry is kept and returned; Key Vault does not refuse to read an expired secret, nor does the stand-in.
    const past = new Date(Date.now() - 60_000);
    await client.updateSecretProperties('rotated', v2.properties.version!, { expiresOn: past });
    expect((await listed()).find((p) => p.version === v2.properties.version)?.expiresOn?.getTime()).toBe(Math.floor(past.getTime() / 1000) * 1000);
    expect((await client.getSecret('rotated')).value).toBe('second');
  });

  it('answers a missing secret with SecretNotFound', async () => {
    await expect(client.getSecret('does-not-exist')).rejects.toMatchObject({ statusCode: 404, code: 'SecretNotFound' });
    const res = await raw('GET', '/secrets/does-not-exist?api-version=7.5', { authorization: 'Bearer x' });
    expect(res.body).toMatchObject({ error: { code: 'SecretNotFound' } });
  });

  it('pages through secrets with nextLink', async () => {
    await Promise.all(Array.from({ length: 7 }, (_, i) => client.setSecret(`paged-${i}`, `v${i}`)));
    const pages: number[] = [];
    for await (const page of client.listPropertiesOfSecrets().byPage({ maxPageSize: 3 })) pages.push(page.length);
    expect(pages.length).toBeGreaterThan(2);
    expect(pages.slice(0, -1).every((n) => n === 3)).toBe(true);
    const names: string[] = [];
    for await (const p of client.listPropertiesOfSecrets()) names.push(p.name);
    expect(names.filter((n) => n.startsWith('paged-')).sort()).toEqual(Array.from({ length: 7 }, (_, i) => `paged-${i}`));
  });

  it('soft-deletes through the SDK poller, then recovers and purges', async () => {
    await client.setSecret('rotating', 'v1');
    const poller = await client.beginDeleteSecret('rotating', { intervalInMs: 10 });
    const deleted = await poller.pollUntilDone();
    expect(deleted.properties.recoveryId).toBe(`${vault.url}/deletedsecrets/rotating`);
    expect(deleted.properties.deletedOn).toBeInstanceOf(Date);
    expect(deleted.value).toBeUndefined();

    await expect(client.getSecret('rotating')).rejects.toMatchObject({ statusCode: 404 });
    await expect(client.setSecret('rotating', 'v2')).rejects.toMatchObject({ statusCode: 409, code: 'Conflict' });
    const listed: string[] = [];
    for await (const d of client.listDeletedSecrets()) listed.push(d.name);
    expect(listed).toContain('rotating');

    const recover = await client.beginRecoverDeletedSecret('rotating', { intervalInMs: 10 });
    await recover.pollUntilDone();
    expect((await client.getSecret('rotating')).value).toBe('v1');

    await (await client.beginDeleteSecret('rotating', { intervalInMs: 10 })).pollUntilDone();
    await client.purgeDeletedSecret('rotating');
    await expect(client.getDeletedSecret('rotating')).rejects.toMatchObject({ statusCode: 404 });
    expect((await client.setSecret('rotating', 'fresh')).value).toBe('fresh');
  });

  it('backs up and restores a secret with its versions', async () => {
    await client.setSecret('backed-up', 'a');
    await client.setSecret('backed-up', 'b');
    const blob = await client.backupSecret('backed-up');
    await (await client.beginDeleteSecret('backed-up', { intervalInMs: 10 })).pollUntilDone();
    await client.purgeDeletedSecret('backed-up');
    await client.restoreSecretBackup(blob ?? new Uint8Array());
    expect((await client.getSecret('backed-up')).value).toBe('b');
  });

  it('rejects bad names and oversized values in Key Vault error format', async () => {
    await expect(client.setSecret('bad_name', 'v')).rejects.toMatchObject({ statusCode: 400, code: 'BadParameter' });
    await expect(client.setSecret('too-big', 'x'.repeat(26 * 1024))).rejects.toMatchObject({ statusCode: 400 });
  });

  it('keeps its state across restarts, in a file only the owner can read', async () => {
    await client.setSecret('survivor', 'still-here');
    await vault.stop();
    const file = join(dir, 'keyvault.json');
    expect((await stat(file)).mode & 0o077).toBe(0);
    expect(JSON.parse(await readFile(file, 'utf8'))).toHaveProperty('secrets');
    vault = await startKeyVaultServer({ tls: cert, stateFile: file, port: vault.port });
    client = newClient(vault.url);
    expect((await client.getSecret('survivor')).value).toBe('still-here');
  });

  it('does not log secret values', async () => {
    const lines: string[] = [];
    const logged = await startKeyVaultServer({ tls: cert, log: (l) => lines.push(l) });
    try {
      const c = newClient(logged.url);
      await c.setSecret('logged', 'super-secret-value');
      await c.getSecret('logged');
      expect(lines.length).toBeGreaterThan(0);
      expect(lines.join('\n')).not.toContain('super-secret-value');
    } finally {
      await logged.stop();
    }
  });
});
