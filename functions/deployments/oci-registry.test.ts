/**
 * The image resolver's registry adapter against a real OCI Distribution server: the CNCF
 * distribution registry (Debian's `docker-registry`), started on a loopback port. The test pushes a
 * small image through the API and resolves its tag to the digest, through the adapter and through
 * a deployment of a `prod` environment. Where the binary is missing it is skipped, loudly, outside
 * CI; in CI (`CI` set) it must run (`.ci/run` installs it).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findRegistryBinary, pushTestImage, startRegistry, type RegistryServer } from '../../emulator/registry.js';
import { startTestApp, type TestApp } from '../../test/app.js';
import { ociRegistryResolver } from './oci-registry.js';

const binary = await findRegistryBinary();
if (!binary) {
  const message = 'docker-registry is not installed: the OCI registry adapter tests are SKIPPED (apt-get install -y docker-registry)';
  if (process.env.CI || process.env.REQUIRE_DOCKER_REGISTRY) throw new Error(`${message}; CI must run them`);
  console.warn(`\n${'!'.repeat(100)}\n${message}\n${'!'.repeat(100)}\n`);
}

describe.skipIf(!binary)('the OCI registry adapter against docker-registry', () => {
  let registry: RegistryServer;
  let digest: string;
  beforeAll(async () => {
    registry = await startRegistry({ binary: binary! });
    digest = await pushTestImage(registry.host, 'team/checkout', '1.4.2');
  }, 60_000);
  afterAll(() => registry?.stop());

  it('resolves a pushed tag to the manifest digest, and nothing else', async () => {
    const resolver = ociRegistryResolver({ allowed: [registry.host] });
    expect(digest).toMatch(/^sha256:[a-f0-9]{64}$/);
    expect(await resolver.resolve({ registry: registry.host, repository: 'team/checkout', tag: '1.4.2' })).toBe(digest);
    expect(await resolver.resolve({ registry: registry.host, repository: 'team/checkout', tag: 'nope' })).toBeUndefined();
    expect(await resolver.resolve({ registry: registry.host, repository: 'team/unknown', tag: '1.4.2' })).toBeUndefined();
    // A tag moved to another image resolves to the new digest.
    const moved = await pushTestImage(registry.host, 'team/checkout', '1.4.2', 'another layer');
    expect(moved).not.toBe(digest);
    expect(await resolver.resolve({ registry: registry.host, repository: 'team/checkout', tag: '1.4.2' })).toBe(moved);
    digest = moved;
  });

  it('contacts only the registries it is allowed, and says when one is down', async () => {
    expect(await ociRegistryResolver({ allowed: ['other.example:5000'] }).resolve({ registry: registry.host, repository: 'team/checkout', tag: '1.4.2' })).toBeUndefined();
    const down = ociRegistryResolver({ allowed: ['127.0.0.1:9'], timeoutInMs: 2000 });
    await expect(down.resolve({ registry: '127.0.0.1:9', repository: 'team/checkout', tag: '1.4.2' })).rejects.toMatchObject({ name: 'UnavailableError' });
  });

  it('lets a prod deployment name a tag the registry resolves, recording the digest', async () => {
    const t: TestApp = await startTestApp({ env: { IMAGE_REGISTRIES: registry.host } });
    try {
      const s = await t.seedTenant('oci', 'olga');
      const base = `tenants/oci/environments/${s.environmentId}/deployments`;
      const ok = await t.call('POST', base, { token: s.token, body: { serviceId: s.serviceId, image: `${registry.host}/team/checkout:1.4.2` } });
      expect(ok.status, JSON.stringify(ok.body)).toBe(201);
      expect(ok.body.imageDigest).toBe(digest);
      const missing = await t.call('POST', base, { token: s.token, body: { serviceId: s.serviceId, image: `${registry.host}/team/checkout:9.9.9` } });
      expect(missing.status).toBe(422);
      expect(missing.body.error.code).toBe('ImageDigestRequired');
    } finally {
      await t.close();
    }
  }, 60_000);
});

