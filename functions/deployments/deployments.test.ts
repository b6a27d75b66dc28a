/**
 * The deployments service through its HTTP routes, on the real composition (test/app.ts) with
 * Azurite for Blob storage (the real `@azure/storage-blob` client). Configuration, scaling and
 * secrets are not part of this app yet: where a test needs their versions it plugs a stand-in into
 * the service's ports with those services' exact signatures, and says so.
 */
import { BlobServiceClient } from '@azure/storage-blob';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAzurite, type AzuriteServer } from '../../emulator/azurite.js';
import { expectApiError, startTestApp, type TestApp } from '../../test/app.js';
import type { CatalogInstance } from '../catalog/api.js';
import type { DeploymentsInstance } from './api.js';
import { RETENTION_SCHEDULE } from './index.js';
import { DEPLOYMENT_RETENTION_DAYS } from './retention.js';
import { CLIENT_TRANSITIONS, TRANSITIONS } from './service.js';
import { storageMap } from '../../shared/storage-map.js';

const DAY = 24 * 60 * 60 * 1000;
const T0 = new Date('2026-03-01T08:00:00.000Z');
let clock = T0;
const tick = (ms = 1000) => (clock = new Date(clock.getTime() + ms));

const digest = (n: number) => `sha256:${n.toString(16).padStart(64, '0')}`;
const image = (n: number) => `contoso.azurecr.io/checkout@${digest(n)}`;

let t: TestApp;
let azurite: AzuriteServer;
let container: ReturnType<BlobServiceClient['getContainerClient']>;
const inst = () => t.instance<DeploymentsInstance>('deployments');

beforeAll(async () => {
  azurite = await startAzurite({ blobPort: 0, queuePort: 0, tablePort: 0 });
  container = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient('deployment-artifacts');
  await container.createIfNotExists();
  t = await startTestApp({ now: () => clock, env: { STORAGE_CONNECTION_STRING: azurite.connectionString } });
}, 120_000);
afterAll(async () => {
  await t?.close();
  await azurite?.stop();
});

interface Env {
  tenant: string;
  token: string;
  env: string;
  svc: string;
  base: string;
}

async function setup(tenant: string, kind: 'prod' | 'dev' = 'prod', extra: Record<string, unknown> = {}): Promise<Env> {
  await t.createTenant(tenant, `${tenant}-admin`, extra);
  const token = await t.token(`${tenant}-admin`);
  const e = await t.call('POST', `tenants/${tenant}/environments`, { token, body: { name: 'main', kind, region: 'westeurope' } });
  expect(e.status).toBe(201);
  const s = await t.call('POST', `tenants/${tenant}/environments/${e.body.id}/services`, { token, body: { name: 'api', owner: 'team' } });
  expect(s.status).toBe(201);
  return { tenant, token, env: e.body.id, svc: s.body.id, base: `tenants/${tenant}/environments/${e.body.id}/deployments` };
}

async function addService(e: Env, name: string): Promise<string> {
  const s = await t.call('POST', `tenants/${e.tenant}/environments/${e.env}/services`, { token: e.token, body: { name, owner: 'team' } });
  expect(s.status).toBe(201);
  return s.body.id;
}

async function deploy(e: Env, n: number, svc = e.svc): Promise<string> {
  tick();
  const r = await t.call('POST', e.base, { token: e.token, body: { serviceId: svc, image: image(n) } });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body.id;
}

const move = (e: Env, id: string, to: string, reason?: string) => {
  tick();
  return t.call('POST', `${e.base}/${id}/transitions`, { token: e.token, body: { to, ...(reason ? { reason } : {}) } });
};

async function succeed(e: Env, id: string): Promise<void> {
  expect((await move(e, id, 'in_progress')).status).toBe(200);
  expect((await move(e, id, 'succeeded')).status).toBe(200);
}

/** Drives a fresh deployment to `status` (through legal transitions; rollback for the last two). */
async function inStatus(e: Env, status: string, svc: string): Promise<string> {
  if (status === 'rolling_back' || status === 'rolled_back') {
    const first = await deploy(e, 1, svc);
    await succeed(e, first);
    const second = await deploy(e, 2, svc);
    await succeed(e, second);
    const rb = await t.call('POST', `${e.base}/${second}/rollback`, { token: e.token, body: {} });
    expect(rb.status).toBe(201);
    if (status === 'rolled_back') await succeed(e, rb.body.id);
    return second;
  }
  const id = await deploy(e, 9, svc);
  const path: Record<string, string[]> = {
    pending: [],
    in_progress: ['in_progress'],
    succeeded: ['in_progress', 'succeeded'],
    failed: ['in_progress', 'failed'],
    cancelled: ['cancelled'],
  };
  for (const to of path[status]!) expect((await move(e, id, to)).status).toBe(200);
  return id;
}

describe('creating a deployment', () => {
  let e: Env;
  beforeAll(async () => {
    e = await setup('dep-create');
  });

  it('creates a pending deployment by digest, with its first transition recorded and an event', async () => {
    const r = await t.call('POST', e.base, { token: e.token, body: { serviceId: e.svc, image: image(1), reason: 'release 1' } });
    expect(r.status).toBe(201);
    expect(r.headers.get('location')).toBe(`/api/${e.base}/${r.body.id}`);
    expect(r.body).toMatchObject({
      environmentId: e.env,
      serviceId: e.svc,
      revision: 1,
      kind: 'rollout',
      image: image(1),
      imageDigest: digest(1),
      // Configuration, scaling and secrets are not part of this app yet: not available, not invented.
      configurationVersion: null,
      scalingPolicy: null,
      secretVersions: {},
      status: 'pending',
      createdBy: 'dep-create-admin',
    });
    const got = await t.call('GET', `${e.base}/${r.body.id}`, { token: e.token });
    expect(got.body.transitions).toEqual([{ from: null, to: 'pending', at: clock.toISOString(), by: 'dep-create-admin', reason: 'release 1' }]);
    const events = await sql<{ type: string; data: { to: string } }>`select type, data from deployments.outbox where tenant_id = 'dep-create'`.execute(t.owner.forPlacement({ model: 'pooled' }));
    expect(events.rows).toEqual([{ type: 'DeploymentStatusChanged', data: expect.objectContaining({ from: null, to: 'pending', serviceId: e.svc }) }]);
  });

  it('refuses malformed images and a mutable tag in prod (no resolver answered), takes a tag in dev', async () => {
    const before = await t.snapshot();
    for (const bad of ['checkout:1.0', 'contoso.azurecr.io/Checkout@' + digest(1), 'contoso.azurecr.io/checkout@sha256:abc', 'contoso.azurecr.io/checkout', 'http://contoso.azurecr.io/x:1']) {
      expectApiError(await t.call('POST', e.base, { token: e.token, body: { serviceId: e.svc, image: bad } }), 400, 'InvalidRequest');
    }
    const tag = await t.call('POST', e.base, { token: e.token, body: { serviceId: e.svc, image: 'contoso.azurecr.io/checkout:1.4.2' } });
    expectApiError(tag, 422, 'ImageDigestRequired');
    expect(await t.snapshot()).toEqual(before);

    const dev = await setup('dep-dev', 'dev');
    const r = await t.call('POST', dev.base, { token: dev.token, body: { serviceId: dev.svc, image: 'contoso.azurecr.io/checkout:1.4.2' } });
    expect(r.status).toBe(201);
    expect(r.body.imageDigest).toBeNull();
  });

  it('takes a tag in prod when the resolver resolves it, and records the digest', async () => {
    const ports = inst().ports;
    const real = ports.resolver;
    // A resolver that knows one tag (the OCI adapter against a real registry: oci-registry.test.ts).
    ports.resolver = { resolve: async (ref) => (ref.tag === '2.0.0' ? digest(20) : undefined) };
    try {
      const r = await t.call('POST', e.base, { token: e.token, body: { serviceId: e.svc, image: 'contoso.azurecr.io/checkout:2.0.0' } });
      expect(r.status).toBe(201);
      expect(r.body).toMatchObject({ image: 'contoso.azurecr.io/checkout:2.0.0', imageDigest: digest(20) });
      expectApiError(await t.call('POST', e.base, { token: e.token, body: { serviceId: e.svc, image: 'contoso.azurecr.io/checkout:2.0.1' } }), 422, 'ImageDigestRequired');
    } finally {
      ports.resolver = real;
    }
  });

  it('records the versions configuration, scaling and secrets answer (stand-ins with their exact signatures)', async () => {
    const ports = inst().ports;
    ports.configuration = { latestVersion: async () => ({ version: 7, publishedAt: clock, publishedBy: 'cfg' }) };
    ports.scaling = { currentPolicy: async () => ({ policyId: 'pol_1', version: 3, minReplicas: 1, maxReplicas: 4, pausedUntil: null }) };
    ports.secrets = {
      bindingVersions: async () => [
        { bindingId: 'sb_1', name: 'db-password', keyVaultRef: 'https://kv.vault.azure.net/secrets/db', currentVersion: 'v2', lastRotatedAt: null },
        { bindingId: 'sb_2', name: 'unset', keyVaultRef: 'https://kv.vault.azure.net/secrets/u', currentVersion: null, lastRotatedAt: null },
      ],
    };
    try {
      const svc = await addService(e, 'versioned');
      const r = await t.call('POST', e.base, { token: e.token, body: { serviceId: svc, image: image(3) } });
      expect(r.body).toMatchObject({ configurationVersion: 7, scalingPolicy: { policyId: 'pol_1', version: 3 }, secretVersions: { 'db-password': 'v2' } });
    } finally {
      ports.configuration = ports.scaling = ports.secrets = undefined;
    }
  });

  it('refuses a service of another environment, a retired service and a retired environment', async () => {
    const other = await t.call('POST', `tenants/${e.tenant}/environments`, { token: e.token, body: { name: 'other', kind: 'dev', region: 'westeurope' } });
    expectApiError(await t.call('POST', `tenants/${e.tenant}/environments/${other.body.id}/deployments`, { token: e.token, body: { serviceId: e.svc, image: image(1) } }), 404, 'NotFound');
    const svc = await addService(e, 'retiring');
    expect((await t.call('POST', `tenants/${e.tenant}/environments/${e.env}/services/${svc}/retire`, { token: e.token })).status).toBe(200);
    expectApiError(await t.call('POST', e.base, { token: e.token, body: { serviceId: svc, image: image(1) } }), 409, 'ServiceRetired');
    await t.call('POST', `tenants/${e.tenant}/environments/${other.body.id}/retire`, { token: e.token });
    expectApiError(await t.call('POST', `tenants/${e.tenant}/environments/${other.body.id}/deployments`, { token: e.token, body: { serviceId: e.svc, image: image(1) } }), 409, 'EnvironmentRetired');
  });

  it('enforces maxDeploymentsPerDay under concurrency, per UTC day, rollbacks included', async () => {
    const q = await setup('dep-quota', 'prod', { quotas: { maxDeploymentsPerDay: 3 } });
    const results = await Promise.all([1, 2, 3, 4, 5].map((n) => t.call('POST', q.base, { token: q.token, body: { serviceId: q.svc, image: image(n) } })));
    expect(results.filter((r) => r.status === 201)).toHaveLength(3);
    for (const r of results.filter((x) => x.status !== 201)) expectApiError(r, 409, 'QuotaExceeded');
    const revisions = results.filter((r) => r.status === 201).map((r) => r.body.revision).sort();
    expect(revisions).toEqual([1, 2, 3]);
    const saved = clock;
    clock = new Date(Date.UTC(saved.getUTCFullYear(), saved.getUTCMonth(), saved.getUTCDate() + 1));
    expect((await t.call('POST', q.base, { token: q.token, body: { serviceId: q.svc, image: image(6) } })).status).toBe(201);
    clock = saved;
  });
});

describe('the state machine', () => {
  let e: Env;
  beforeAll(async () => {
    e = await setup('dep-sm');
  });

  it('takes every legal transition and refuses every illegal one with 409 InvalidTransition, changing nothing', async () => {
    const statuses = Object.keys(TRANSITIONS);
    const targets = ['in_progress', 'succeeded', 'failed', 'cancelled'];
    let i = 0;
    for (const from of statuses) {
      for (const to of targets) {
        const svc = await addService(e, `sm-${i++}`);
        const id = await inStatus(e, from, svc);
        const before = await t.snapshot();
        const r = await move(e, id, to, `${from} to ${to}`);
        if (CLIENT_TRANSITIONS[from as keyof typeof TRANSITIONS].includes(to as never)) {
          expect(r.status, `${from} -> ${to}`).toBe(200);
          expect(r.body.status).toBe(to);
          const got = await t.call('GET', `${e.base}/${id}`, { token: e.token });
          expect(got.body.transitions.at(-1)).toEqual({ from, to, at: clock.toISOString(), by: 'dep-sm-admin', reason: `${from} to ${to}` });
        } else {
          expectApiError(r, 409, 'InvalidTransition');
          expect(await t.snapshot(), `${from} -> ${to}`).toEqual(before);
        }
      }
    }
  }, 240_000);

  it('lets only one deployment of a service be in progress in an environment', async () => {
    const svc = await addService(e, 'one-at-a-time');
    const a = await deploy(e, 1, svc);
    const b = await deploy(e, 2, svc);
    expect((await move(e, a, 'in_progress')).status).toBe(200);
    expectApiError(await move(e, b, 'in_progress'), 409, 'DeploymentInProgress');
    // Another service is not held up.
    const other = await deploy(e, 3, await addService(e, 'unrelated'));
    expect((await move(e, other, 'in_progress')).status).toBe(200);
    expect((await move(e, a, 'succeeded')).status).toBe(200);
    expect((await move(e, b, 'in_progress')).status).toBe(200);
  });

  it('lets exactly one of two concurrent transitions win', async () => {
    for (let round = 0; round < 3; round++) {
      const svc = await addService(e, `race-${round}`);
      const id = await deploy(e, 1, svc);
      expect((await move(e, id, 'in_progress')).status).toBe(200);
      const [x, y] = await Promise.all([move(e, id, 'succeeded'), move(e, id, 'failed')]);
      expect([x.status, y.status].sort()).toEqual([200, 409]);
      const got = await t.call('GET', `${e.base}/${id}`, { token: e.token });
      expect(got.body.transitions.map((tr: { to: string }) => tr.to)).toEqual(['pending', 'in_progress', got.body.status]);
      // Two pending deployments of one service started at once: one starts.
      const p = await deploy(e, 2, svc);
      const q = await deploy(e, 3, svc);
      const started = await Promise.all([move(e, p, 'in_progress'), move(e, q, 'in_progress')]);
      expect(started.map((r) => r.status).sort()).toEqual([200, 409]);
      expect(started.find((r) => r.status === 409)?.body.error.code).toBe('DeploymentInProgress');
    }
  });

  it('backs the one-in-progress rule with a partial unique index', async () => {
    const svc = await addService(e, 'index');
    const a = await deploy(e, 1, svc);
    const b = await deploy(e, 2, svc);
    await move(e, a, 'in_progress');
    await expect(
      sql`update deployments.deployments set status = 'in_progress' where tenant_id = 'dep-sm' and id = ${b}`.execute(t.owner.forPlacement({ model: 'pooled' })),
    ).rejects.toMatchObject({ code: '23505' });
  });
});

describe('rollback', () => {
  let e: Env;
  beforeAll(async () => {
    e = await setup('dep-rb');
  });

  it('captures every succeeded deployment as a target and restores all of it', async () => {
    const ports = inst().ports;
    let cfg = 1;
    ports.configuration = { latestVersion: async () => ({ version: cfg, publishedAt: clock, publishedBy: 'c' }) };
    ports.secrets = { bindingVersions: async () => [{ bindingId: 'sb_1', name: 'db', keyVaultRef: 'kv/db', currentVersion: `v${cfg}`, lastRotatedAt: null }] };
    try {
      const a = await deploy(e, 1);
      await succeed(e, a);
      cfg = 2;
      const b = await deploy(e, 2);
      await succeed(e, b);
      const targets = await t.call('GET', `tenants/${e.tenant}/environments/${e.env}/services/${e.svc}/rollback-targets`, { token: e.token });
      expect(targets.body.value.map((x: { deploymentId: string; current: boolean }) => [x.deploymentId, x.current])).toEqual([
        [b, true],
        [a, false],
      ]);
      expect(targets.body.value[1]).toMatchObject({ imageDigest: digest(1), configurationVersion: 1, secretVersions: { db: 'v1' }, revision: 1 });

      cfg = 3;
      const r = await t.call('POST', `${e.base}/${b}/rollback`, { token: e.token, body: { reason: 'errors' } });
      expect(r.status).toBe(201);
      // The rollback restores a's image digest, configuration and secret versions, not today's.
      expect(r.body).toMatchObject({ kind: 'rollback', rollbackOf: b, restores: a, image: image(1), imageDigest: digest(1), configurationVersion: 1, secretVersions: { db: 'v1' }, revision: 3, status: 'pending' });
      expect((await t.call('GET', `${e.base}/${b}`, { token: e.token })).body.status).toBe('rolling_back');
      await succeed(e, r.body.id);
      const rolled = await t.call('GET', `${e.base}/${b}`, { token: e.token });
      expect(rolled.body.status).toBe('rolled_back');
      expect(rolled.body.transitions.map((x: { to: string }) => x.to)).toEqual(['pending', 'in_progress', 'succeeded', 'rolling_back', 'rolled_back']);
      const current = await inst().api.currentDeployment({ tenantId: e.tenant, placement: { model: 'pooled' } }, e.env, e.svc);
      expect(current).toMatchObject({ deploymentId: r.body.id, imageDigest: digest(1), configurationVersion: 1, secretVersions: { db: 'v1' }, by: 'dep-rb-admin' });
    } finally {
      ports.configuration = ports.secrets = undefined;
    }
  });

  it('rolls back to a named earlier deployment, and refuses what is not a target', async () => {
    const svc = await addService(e, 'named');
    const [a, b, c] = [await deploy(e, 11, svc), await deploy(e, 12, svc), await deploy(e, 13, svc)];
    for (const id of [a, b, c]) await succeed(e, id);
    const failed = await deploy(e, 14, svc);
    await move(e, failed, 'cancelled');
    expectApiError(await t.call('POST', `${e.base}/${b}/rollback`, { token: e.token, body: {} }), 409, 'InvalidRollback');
    expectApiError(await t.call('POST', `${e.base}/${failed}/rollback`, { token: e.token, body: {} }), 409, 'InvalidTransition');
    expectApiError(await t.call('POST', `${e.base}/${c}/rollback`, { token: e.token, body: { targetDeploymentId: failed } }), 409, 'InvalidRollback');
    expectApiError(await t.call('POST', `${e.base}/${c}/rollback`, { token: e.token, body: { targetDeploymentId: c } }), 409, 'InvalidRollback');
    const other = await deploy(e, 15);
    expectApiError(await t.call('POST', `${e.base}/${c}/rollback`, { token: e.token, body: { targetDeploymentId: other } }), 409, 'InvalidRollback');
    const r = await t.call('POST', `${e.base}/${c}/rollback`, { token: e.token, body: { targetDeploymentId: a } });
    expect(r.body).toMatchObject({ restores: a, imageDigest: digest(11) });
    // The rollback fails: the deployment rolled back ends failed.
    await move(e, r.body.id, 'in_progress');
    await move(e, r.body.id, 'failed', 'image pull failed');
    expect((await t.call('GET', `${e.base}/${c}`, { token: e.token })).body.status).toBe('failed');
  });

  it('refuses a rollback with no earlier succeeded deployment', async () => {
    const svc = await addService(e, 'lonely');
    const a = await deploy(e, 1, svc);
    await succeed(e, a);
    expectApiError(await t.call('POST', `${e.base}/${a}/rollback`, { token: e.token, body: {} }), 409, 'InvalidRollback');
  });
});

describe('history', () => {
  it('lists by environment, service, status and time range, newest first, page by page', async () => {
    const e = await setup('dep-hist');
    const s2 = await addService(e, 'second');
    const ids: { id: string; svc: string; at: string }[] = [];
    for (let i = 0; i < 12; i++) {
      const svc = i % 2 ? s2 : e.svc;
      const id = await deploy(e, i, svc);
      ids.push({ id, svc, at: clock.toISOString() });
      if (i % 3 === 0) await move(e, id, 'cancelled');
    }
    const all = async (query: string) => {
      const out: string[] = [];
      let next: string | undefined = `${e.base}?maxpagesize=5${query}`;
      while (next) {
        const r = await t.call('GET', next, { token: e.token });
        expect(r.status, JSON.stringify(r.body)).toBe(200);
        expect(r.body.value.length).toBeLessThanOrEqual(5);
        out.push(...r.body.value.map((d: { id: string }) => d.id));
        next = r.body.nextLink ? new URL(r.body.nextLink).pathname.replace(/^\/api\//, '') + new URL(r.body.nextLink).search : undefined;
      }
      return out;
    };
    const newest = [...ids].reverse();
    expect(await all('')).toEqual(newest.map((x) => x.id));
    expect(await all(`&serviceId=${s2}`)).toEqual(newest.filter((x) => x.svc === s2).map((x) => x.id));
    expect(await all('&status=cancelled')).toEqual(newest.filter((_, i) => (11 - i) % 3 === 0).map((x) => x.id));
    expect(await all('&status=pending,cancelled')).toHaveLength(12);
    expect(await all(`&createdAfter=${ids[3]!.at}&createdBefore=${ids[7]!.at}`)).toEqual(newest.slice(5, 9).map((x) => x.id));
    expectApiError(await t.call('GET', `${e.base}?status=bogus`, { token: e.token }), 400);
    expectApiError(await t.call('GET', `tenants/${e.tenant}/environments/env_0000000000000000/deployments`, { token: e.token }), 404, 'NotFound');
  });
});

describe('artifacts and logs in Blob storage', () => {
  let e: Env;
  let dep: string;
  beforeAll(async () => {
    e = await setup('dep-blob');
    dep = await deploy(e, 1);
  });
  const put = (path: string, body: string | Uint8Array, type = 'text/plain', method = 'PUT') =>
    t.call(method, `${e.base}/${dep}/${path}`, { token: e.token, rawBody: body, headers: { 'content-type': type } });

  it('uploads, lists and downloads artifacts, tagged with tenant and deployment, under <tenant>/<deployment>/', async () => {
    const manifest = 'apiVersion: apps/v1\nkind: Deployment\n';
    const up = await put('artifacts/manifest.yaml?kind=manifest', manifest, 'application/yaml');
    expect(up.status, JSON.stringify(up.body)).toBe(200);
    expect(up.body).toMatchObject({ name: 'manifest.yaml', kind: 'manifest', contentType: 'application/yaml', bytes: manifest.length });
    const bin = new Uint8Array(5 * 1024 * 1024 + 7).map((_, i) => i % 251);
    expect((await put('artifacts/bundle.tgz', bin, 'application/gzip')).body.bytes).toBe(bin.byteLength);
    const list = await t.call('GET', `${e.base}/${dep}/artifacts?maxpagesize=1`, { token: e.token });
    expect(list.body.value.map((a: { name: string }) => a.name)).toEqual(['bundle.tgz']);
    expect(list.body.nextLink).toBeDefined();
    const d = await t.call('GET', `${e.base}/${dep}/artifacts/manifest.yaml`, { token: e.token });
    expect(d.status).toBe(200);
    expect(d.headers.get('content-type')).toBe('application/octet-stream');
    expect(d.bytes?.toString('utf8')).toBe(manifest);
    expect(Buffer.compare((await t.call('GET', `${e.base}/${dep}/artifacts/bundle.tgz`, { token: e.token })).bytes!, Buffer.from(bin))).toBe(0);

    const blobs = [];
    for await (const b of container.listBlobsFlat({ prefix: `${e.tenant}/${dep}/`, includeTags: true })) blobs.push(b);
    expect(blobs).toHaveLength(2);
    for (const b of blobs) expect(b.tags).toEqual({ tenant: e.tenant, deployment: dep });
    // Replacing an artifact leaves one blob for it.
    expect((await put('artifacts/manifest.yaml', 'v2', 'application/yaml')).status).toBe(200);
    expect((await t.call('GET', `${e.base}/${dep}/artifacts/manifest.yaml`, { token: e.token })).bytes?.toString()).toBe('v2');
    const after = [];
    for await (const b of container.listBlobsFlat({ prefix: `${e.tenant}/${dep}/` })) after.push(b.name);
    expect(after).toHaveLength(2);
    // Conditional writes: If-None-Match: * only creates, If-Match names the version read.
    const cond = (headers: Record<string, string>) =>
      t.call('PUT', `${e.base}/${dep}/artifacts/manifest.yaml`, { token: e.token, rawBody: 'v3', headers: { 'content-type': 'text/plain', ...headers } });
    expectApiError(await cond({ 'if-none-match': '*' }), 412, 'PreconditionFailed');
    expectApiError(await cond({ 'if-match': '"stale.2"' }), 412, 'PreconditionFailed');
    const current = (await t.call('GET', `${e.base}/${dep}/artifacts`, { token: e.token })).body.value.find((a: { name: string }) => a.name === 'manifest.yaml');
    const ok = await cond({ 'if-match': `"${current.etag}"` });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('etag')).toBe(`"${ok.body.etag}"`);
    expect(ok.body.etag).not.toBe(current.etag);
  });

  it('writes and appends step logs; the step is running until told otherwise', async () => {
    const a = await put('steps/apply/log', 'line 1\n', 'text/plain', 'POST');
    expect(a.status, JSON.stringify(a.body)).toBe(200);
    expect(a.body.step).toMatchObject({ name: 'apply', status: 'running' });
    await put('steps/apply/log', 'line 2\n', 'text/plain', 'POST');
    const done = await put('steps/apply/log?status=succeeded', 'line 3\n', 'text/plain', 'POST');
    expect(done.body).toMatchObject({ step: { status: 'succeeded' }, artifact: { name: 'apply.log', kind: 'log', step: 'apply', bytes: 21 } });
    expect((await t.call('GET', `${e.base}/${dep}/artifacts/apply.log`, { token: e.token })).bytes?.toString()).toBe('line 1\nline 2\nline 3\n');
    // Concurrent appends: all land, none lost.
    const appends = await Promise.all(['a\n', 'b\n', 'c\n', 'd\n'].map((x) => put('steps/apply/log', x, 'text/plain', 'POST')));
    expect(appends.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    const text = (await t.call('GET', `${e.base}/${dep}/artifacts/apply.log`, { token: e.token })).bytes!.toString();
    expect(text.startsWith('line 1\nline 2\nline 3\n')).toBe(true);
    expect(text.slice(21).split('\n').filter(Boolean).sort()).toEqual(['a', 'b', 'c', 'd']);
    const whole = await put('steps/build/log?status=failed', 'compile error\n');
    expect(whole.body.step).toMatchObject({ name: 'build', status: 'failed' });
    const got = await t.call('GET', `${e.base}/${dep}`, { token: e.token });
    expect(got.body.steps.map((s: { name: string; status: string }) => [s.name, s.status]).sort()).toEqual([
      ['apply', 'running'],
      ['build', 'failed'],
    ]);
    expectApiError(await put('artifacts/sneaky.log', 'x'), 400, 'InvalidRequest');
  });

  it('downloads after the blob moved to the cool tier, streamed and through a short-lived link', async () => {
    expect((await put('artifacts/report.json', '{"ok":true}', 'application/json')).status).toBe(200);
    const [row] = (
      await sql<{ blob_name: string }>`select blob_name from deployments.artifacts where tenant_id = ${e.tenant} and name = 'report.json'`.execute(t.owner.forPlacement({ model: 'pooled' }))
    ).rows;
    await container.getBlockBlobClient(row!.blob_name).setAccessTier('Cool');
    expect((await inst().ports.blobs.describe(row!.blob_name)).tier).toBe('Cool');
    expect((await t.call('GET', `${e.base}/${dep}/artifacts/report.json`, { token: e.token })).bytes?.toString()).toBe('{"ok":true}');
    const link = await t.call('GET', `${e.base}/${dep}/artifacts/report.json/link`, { token: e.token });
    expect(link.status).toBe(200);
    expect(new Date(link.body.expiresOn).getTime() - clock.getTime()).toBe(15 * 60 * 1000);
    // The link is signed for the kernel's clock, which these tests hold at 2026: fetch it with a
    // link made for now, as a client would get it.
    const fresh = await inst().ports.blobs.link(row!.blob_name, new Date());
    const res = await fetch(fresh.url);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('{"ok":true}');
    expect(fresh.url).toContain('sp=r');
    expect((await fetch(fresh.url.replace('sp=r', 'sp=rw'))).status).toBe(403);
  });

  it('refuses a body shorter than its Content-Length and writes nothing', async () => {
    const before = await t.snapshot();
    const r = await t.call('PUT', `${e.base}/${dep}/artifacts/short.txt`, { token: e.token, rawBody: 'abc', headers: { 'content-type': 'text/plain', 'content-length': '10' } });
    expectApiError(r, 400, 'InvalidRequest');
    expect(await t.snapshot()).toEqual(before);
    expectApiError(await t.call('PUT', `${e.base}/${dep}/artifacts/x.txt`, { token: e.token, rawBody: 'abc', headers: { 'content-type': 'image/png' } }), 415);
    expectApiError(await t.call('PUT', `${e.base}/${dep}/artifacts/x.txt`, { token: e.token, rawBody: 'abc', chunked: true, headers: { 'content-type': 'text/plain' } }), 411);
  });
});

describe('plugged into the catalog and the environments service', () => {
  let e: Env;
  const ref = () => ({ tenantId: e.tenant, placement: { model: 'pooled' as const } });
  beforeAll(async () => {
    e = await setup('dep-plug');
  });

  it("answers the catalog's deployment fact", async () => {
    const none = await t.call('GET', `tenants/${e.tenant}/environments/${e.env}/services/${e.svc}/facts`, { token: e.token });
    expect(none.body.parts.deployment).toBeNull();
    const a = await deploy(e, 5);
    await succeed(e, a);
    const f = await t.call('GET', `tenants/${e.tenant}/environments/${e.env}/services/${e.svc}/facts`, { token: e.token });
    expect(f.body.parts.deployment).toEqual({
      deploymentId: a,
      revision: 1,
      image: image(5),
      imageDigest: digest(5),
      configurationVersion: null,
      scalingPolicyVersion: null,
      status: 'succeeded',
      deployedAt: clock.toISOString(),
      deployedBy: 'dep-plug-admin',
    });
  });

  it('keeps a retired service with a current or running deployment out of the purge', async () => {
    const catalog = t.instance<CatalogInstance>('catalog');
    const [cur, running, idle, cancelled] = [await addService(e, 'cur'), await addService(e, 'running'), await addService(e, 'idle'), await addService(e, 'cancelled')];
    await succeed(e, await deploy(e, 1, cur));
    await move(e, await deploy(e, 2, running), 'in_progress');
    await move(e, await deploy(e, 3, cancelled), 'cancelled');
    const checker = catalog.plugs.referenceCheckers().find(([owner]) => owner === 'deployments')![1];
    const found = await checker(ref(), [cur, running, idle, cancelled]);
    expect([...found.keys()].sort()).toEqual([cur, running].sort());
    expect(found.get(running)?.[0]).toMatch(/is in progress$/);
    expect(found.get(cur)?.[0]).toMatch(/is the current deployment$/);
  });

  it('cancels pending deployments when their service or environment is retired', async () => {
    const svc = await addService(e, 'doomed');
    const p = await deploy(e, 1, svc);
    const running = await deploy(e, 2, e.svc);
    await move(e, running, 'in_progress');
    const keep = await deploy(e, 3, e.svc);
    expect((await t.call('POST', `tenants/${e.tenant}/environments/${e.env}/services/${svc}/retire`, { token: e.token })).status).toBe(200);
    const got = await t.call('GET', `${e.base}/${p}`, { token: e.token });
    expect(got.body.status).toBe('cancelled');
    expect(got.body.transitions.at(-1)).toMatchObject({ from: 'pending', to: 'cancelled', by: 'system', reason: 'service retired' });
    expect((await t.call('GET', `${e.base}/${keep}`, { token: e.token })).body.status).toBe('pending');
    expect((await t.call('POST', `tenants/${e.tenant}/environments/${e.env}/retire`, { token: e.token })).status).toBe(200);
    expect((await t.call('GET', `${e.base}/${keep}`, { token: e.token })).body.status).toBe('cancelled');
    // Only pending ones: the running one is left to its pipeline.
    expect((await t.call('GET', `${e.base}/${running}`, { token: e.token })).body.status).toBe('in_progress');
  });

  it('answers currentDeployment and lastChangeBefore', async () => {
    const api = inst().api;
    const cur = await api.currentDeployment(ref(), e.env, e.svc);
    expect(cur?.imageDigest).toBe(digest(5));
    expect(await api.currentDeployment(ref(), e.env, 'svc_0000000000000000')).toBeUndefined();
    const change = await api.lastChangeBefore(ref(), e.env, undefined, clock);
    expect(change).toMatchObject({ kind: 'deployment', environmentId: e.env });
    expect(await api.lastChangeBefore(ref(), e.env, e.svc, T0)).toBeUndefined();
    // Another tenant's view of the same ids is empty.
    expect(await api.currentDeployment({ tenantId: 'dep-create', placement: { model: 'pooled' } }, e.env, e.svc)).toBeUndefined();
  });
});

describe('tenant isolation', () => {
  it("answers 404 to a member of tenant A on every deployments route with tenant B's real ids, and changes nothing", async () => {
    const b = await setup('dep-iso-b');
    const bDep = await deploy(b, 1);
    expect((await t.call('PUT', `${b.base}/${bDep}/artifacts/m.yaml`, { token: b.token, rawBody: 'x', headers: { 'content-type': 'text/plain' } })).status).toBe(200);
    const a = await setup('dep-iso-a');
    const before = await t.snapshot();
    const aWithB = `tenants/${a.tenant}/environments/${b.env}/deployments`;
    const paths = (base: string, env: string): [string, string, unknown, string?][] => [
      ['POST', base, { serviceId: b.svc, image: image(1) }],
      ['GET', base, undefined],
      ['GET', `${base}/${bDep}`, undefined],
      ['POST', `${base}/${bDep}/transitions`, { to: 'cancelled' }],
      ['POST', `${base}/${bDep}/rollback`, {}],
      ['GET', `tenants/${base.split('/')[1]}/environments/${env}/services/${b.svc}/rollback-targets`, undefined],
      ['PUT', `${base}/${bDep}/steps/apply/log`, 'x', 'text/plain'],
      ['POST', `${base}/${bDep}/steps/apply/log`, 'x', 'text/plain'],
      ['PUT', `${base}/${bDep}/artifacts/m.yaml`, 'x', 'text/plain'],
      ['GET', `${base}/${bDep}/artifacts`, undefined],
      ['GET', `${base}/${bDep}/artifacts/m.yaml`, undefined],
      ['GET', `${base}/${bDep}/artifacts/m.yaml/link`, undefined],
    ];
    const attempts = [...paths(b.base, b.env), ...paths(aWithB, b.env), ...paths(a.base, a.env).filter(([, p]) => p.includes(bDep))];
    expect(new Set(attempts.map(([m, p]) => `${m} ${p.replace(/dep_[0-9a-f]+/, 'D')}`)).size).toBeGreaterThanOrEqual(12);
    for (const [method, path, body, type] of attempts) {
      const opts = type ? { rawBody: body as string, headers: { 'content-type': type } } : body !== undefined ? { body } : {};
      const r = await t.call(method, path, { token: a.token, ...opts });
      expectApiError(r, 404, 'NotFound');
    }
    expect(await t.snapshot()).toEqual(before);
    const blobs = [];
    for await (const x of container.listBlobsFlat({ prefix: `${b.tenant}/` })) blobs.push(x.name);
    expect(blobs).toHaveLength(1);
  });
});

describe('retention', () => {
  it('takes its figure from the storage map and runs daily', () => {
    expect(DEPLOYMENT_RETENTION_DAYS).toBe(storageMap.deployments.retentionDays);
    expect(t.registrar.entries.find((x) => x.name === 'deploymentRetention')).toMatchObject({ trigger: 'timer', schedule: RETENTION_SCHEDULE });
  });

  it('deletes records older than the retention in bounded batches, and their blobs', async () => {
    const saved = clock;
    clock = new Date(saved.getTime() + 10 * DAY);
    const e = await setup('dep-ret');
    const old = [await deploy(e, 1), await deploy(e, 2), await deploy(e, 3)];
    for (const id of old) await t.call('PUT', `${e.base}/${id}/steps/apply/log`, { token: e.token, rawBody: 'log', headers: { 'content-type': 'text/plain' } });
    clock = new Date(clock.getTime() + 200 * DAY);
    const young = await deploy(e, 4);
    clock = new Date(old.length && clock.getTime() + (DEPLOYMENT_RETENTION_DAYS - 200) * DAY + 60_000);
    const first = await inst().retention({ tenantIds: [e.tenant], batchSize: 2, maxBatchesPerTenant: 1 });
    expect(first).toMatchObject({ tenants: 1, deleted: 2, blobsDeleted: 2, failures: [] });
    const second = await inst().retention({ tenantIds: [e.tenant], batchSize: 2 });
    expect(second).toMatchObject({ deleted: 1, blobsDeleted: 1 });
    for (const id of old) expectApiError(await t.call('GET', `${e.base}/${id}`, { token: e.token }), 404);
    expect((await t.call('GET', `${e.base}/${young}`, { token: e.token })).status).toBe(200);
    const left = [];
    for await (const x of container.listBlobsFlat({ prefix: `${e.tenant}/` })) left.push(x.name);
    expect(left).toEqual([]);
    const rows = await sql<{ n: number }>`select count(*)::int as n from deployments.transitions where tenant_id = ${e.tenant}`.execute(t.owner.forPlacement({ model: 'pooled' }));
    expect(rows.rows[0]?.n).toBe(1);
    clock = saved;
  });
});

// Last: stops the storage stand-in.
describe('when Blob storage fails', () => {
  it('answers 503 with Retry-After, writes no record pointing at a missing blob, and marks the step failed', async () => {
    const e = await setup('dep-down');
    const dep = await deploy(e, 1);
    const call = (method: string, path: string) => t.call(method, `${e.base}/${dep}/${path}`, { token: e.token, rawBody: 'data\n', headers: { 'content-type': 'text/plain' } });
    expect((await call('POST', 'steps/apply/log')).status).toBe(200);
    const artifactsBefore = await sql`select name, bytes, blob_name from deployments.artifacts where tenant_id = ${e.tenant} order by name`.execute(t.owner.forPlacement({ model: 'pooled' }));
    await azurite.stop();

    const up = await call('PUT', 'artifacts/manifest.yaml');
    expectApiError(up, 503, 'ServiceUnavailable');
    expect(up.headers.get('retry-after')).toBe('5');
    const log = await call('PUT', 'steps/build/log');
    expectApiError(log, 503, 'ServiceUnavailable');
    const app = await call('POST', 'steps/apply/log');
    expectApiError(app, 503, 'ServiceUnavailable');
    expectApiError(await t.call('GET', `${e.base}/${dep}/artifacts/apply.log`, { token: e.token }), 503, 'ServiceUnavailable');

    const after = await sql`select name, bytes, blob_name from deployments.artifacts where tenant_id = ${e.tenant} order by name`.execute(t.owner.forPlacement({ model: 'pooled' }));
    expect(after.rows).toEqual(artifactsBefore.rows);
    const got = await t.call('GET', `${e.base}/${dep}`, { token: e.token });
    expect(got.status).toBe(200);
    expect(got.body.steps.map((s: { name: string; status: string; message: string | null }) => [s.name, s.status, s.message]).sort()).toEqual([
      ['apply', 'failed', 'The log could not be written to storage.'],
      ['build', 'failed', 'The log could not be written to storage.'],
    ]);
    // The rest of the service goes on without Blob storage.
    expect((await t.call('POST', `${e.base}/${dep}/transitions`, { token: e.token, body: { to: 'in_progress' } })).status).toBe(200);
  });
});
