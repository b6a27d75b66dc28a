/**
 * Drift scans as Durable Functions orchestrations, end to end on the local stack: the built app
 * served by the local host, whose task hub runs the real orchestrator code through
 * durable-functions' replay engine (every activity result replays the generator from the start),
 * against the stand-ins (PGlite, Azurite, the Cosmos DB server) through the app's own clients.
 */
import { CosmosClient } from '@azure/cosmos';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { Agent } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../../emulator/stack.js';
import { startHost, type StartedHost } from '../../emulator/host/index.js';
import { buildApp } from '../../scripts/build.js';
import { runMigrations } from '../../scripts/migrate.js';
import { mintDevToken, readDevIssuer } from '../../shared/auth/dev-issuer.js';
import { DRIFT_SNAPSHOT_TTL_SECONDS, storageMap } from '../../shared/storage-map.js';
import { services } from '../../composition/services.js';

let stack: Stack;
let host: StartedHost;
let dir: string;
let out: string;
let admin: string;
const ports = { postgres: 0, blob: 0, queue: 0, table: 0, cosmos: 0, keyVault: 0 };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rp-drift-host-'));
  stack = await startStack({ stateDir: dir, persistent: false, ports, localSettingsFile: false, log: () => undefined });
  await runMigrations(stack.env);
  out = join(process.cwd(), '.local', `drift-host-${process.pid}`);
  const entry = join(out, 'dist', 'main.js');
  await buildApp({ outfile: entry });
  host = await startHost({ entry, port: 0, env: stack.env, runTimers: false, onOutput: () => undefined, functionAppDirectory: process.cwd() });
  const keys = await readDevIssuer(stack.env.AUTH_DEV_KEY_FILE!);
  admin = await mintDevToken(keys, { subject: 'ada', audience: 'api://runtime-platform', admin: true });
}, 180_000);

afterAll(async () => {
  await host?.stop();
  await stack?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
  if (out) await rm(out, { recursive: true, force: true });
});

async function call(method: string, path: string, body?: unknown) {
  const res = await fetch(`${host.url}/api/${path}`, {
    method,
    headers: { authorization: `Bearer ${admin}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
}

async function until<T>(f: () => Promise<T>, ok: (t: T) => boolean, what: string): Promise<T> {
  let last: T | undefined;
  for (let i = 0; i < 400; i++) {
    last = await f();
    if (ok(last)) return last;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}: ${JSON.stringify(last)}`);
}

const durableStatus = async (instanceId: string) => {
  const r = await fetch(`${host.url}/runtime/webhooks/durabletask/instances/${encodeURIComponent(instanceId)}`);
  return r.status === 200 ? ((await r.json()) as { runtimeStatus: string; customStatus: unknown; output: unknown; createdTime: string }) : undefined;
};

/** A tenant with one environment (topology = what the stack provisions) and two services. */
async function seed(tenant: string): Promise<string> {
  expect((await call('POST', 'tenants', { id: tenant, displayName: tenant })).status).toBe(201);
  const env = await call('POST', `tenants/${tenant}/environments`, {
    name: 'prod',
    kind: 'prod',
    region: 'westeurope',
    storageTopology: {
      resources: [
        { kind: 'postgresql', name: 'pooled', schemas: services.filter((s) => s.sql).map((s) => s.name).sort() },
        { kind: 'blobContainer', name: 'deployment-artifacts' },
        { kind: 'cosmosContainer', name: storageMap.driftSnapshots.container, partitionKey: '/tenantId', defaultTtlSeconds: DRIFT_SNAPSHOT_TTL_SECONDS },
      ],
    },
  });
  expect(env.status).toBe(201);
  for (const name of ['api', 'web']) expect((await call('POST', `tenants/${tenant}/environments/${env.body.id}/services`, { name, owner: 'team' })).status).toBe(201);
  const pushed = await call('POST', `tenants/${tenant}/environments/${env.body.id}/observed-state`, {
    source: 'agent',
    observedAt: new Date().toISOString(),
    kinds: ['service'],
    resources: [{ kind: 'service', name: 'api', properties: {} }],
  });
  expect(pushed.body.outcome).toBe('stored');
  return env.body.id;
}

describe('drift scans on the local host', () => {
  let env1: string;

  it('starts a scan with 202, reports its progress, and runs it as an orchestration to findings and a Cosmos DB snapshot', async () => {
    env1 = await seed('dh1');
    const r = await call('POST', `tenants/dh1/environments/${env1}/drift-scans`);
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    const location = r.headers.get('operation-location')!;
    expect(location).toBe(`/api/tenants/dh1/environments/${env1}/drift-scans/${r.body.id}`);
    expect(r.body).toMatchObject({ status: 'Running', progress: { environmentsDone: 0, environmentsTotal: 1 } });
    const done = await until(() => call('GET', location.replace('/api/', '')), (s) => s.body?.status !== 'Running', 'the scan');
    expect(done.body).toMatchObject({ status: 'Succeeded', phase: 'done', progress: { environmentsDone: 1, environmentsTotal: 1 }, opened: 1 });
    const findings = await call('GET', `tenants/dh1/drift-findings?environmentId=${env1}`);
    // The declared topology agrees with the stand-ins; the one difference is the unreported service.
    expect(findings.body.value.map((f: { resource: string; kind: string }) => `${f.resource} ${f.kind}`)).toEqual(['service/web missing']);
    const snap = await call('GET', `${done.body.snapshot.replace('/api/', '')}`);
    expect(snap.status).toBe(200);
    expect(snap.body.actual.resources[`cosmosContainer/${storageMap.driftSnapshots.container}`].properties.defaultTtlSeconds).toBe(DRIFT_SNAPSHOT_TTL_SECONDS);
  });

  it("sees a stand-in changed under it: the snapshot container's TTL", async () => {
    const cert = await readFile(stack.env.NODE_EXTRA_CA_CERTS!, 'utf8');
    const agent = new Agent({ ca: cert, keepAlive: true });
    const client = new CosmosClient({ endpoint: stack.env.COSMOS_ENDPOINT!, key: stack.env.COSMOS_KEY!, agent });
    const container = client.database(stack.env.COSMOS_DATABASE!).container(storageMap.driftSnapshots.container);
    const { resource } = await container.read();
    try {
      await container.replace({ ...resource!, id: storageMap.driftSnapshots.container, partitionKey: { paths: ['/tenantId'] }, defaultTtl: 600 });
      const r = await call('POST', `tenants/dh1/environments/${env1}/drift-scans`);
      await until(() => call('GET', r.headers.get('operation-location')!.replace('/api/', '')), (s) => s.body?.status === 'Succeeded', 'the scan');
      const f = await call('GET', `tenants/dh1/drift-findings?environmentId=${env1}&status=open&severity=medium`);
      expect(f.body.value).toMatchObject([{ resource: `cosmosContainer/${storageMap.driftSnapshots.container}`, path: '/defaultTtlSeconds', kind: 'changed', desired: DRIFT_SNAPSHOT_TTL_SECONDS, actual: 600 }]);
    } finally {
      await container.replace({ ...resource!, id: storageMap.driftSnapshots.container, partitionKey: { paths: ['/tenantId'] }, defaultTtl: DRIFT_SNAPSHOT_TTL_SECONDS });
      client.dispose();
      agent.destroy();
    }
  });

  it('marks a scan failed when a step fails (the orchestrator catches the activity failure on replay), without leaking why', async () => {
    const cert = await readFile(stack.env.NODE_EXTRA_CA_CERTS!, 'utf8');
    const agent = new Agent({ ca: cert, keepAlive: true });
    const client = new CosmosClient({ endpoint: stack.env.COSMOS_ENDPOINT!, key: stack.env.COSMOS_KEY!, agent });
    const database = client.database(stack.env.COSMOS_DATABASE!);
    try {
      // No snapshot container: the snapshot cannot be written, so the scan cannot finish.
      await database.container(storageMap.driftSnapshots.container).delete();
      const r = await call('POST', `tenants/dh1/environments/${env1}/drift-scans`);
      const failed = await until(() => call('GET', r.headers.get('operation-location')!.replace('/api/', '')), (s) => s.body?.status !== 'Running', 'the scan');
      expect(failed.body).toMatchObject({ status: 'Failed', phase: 'failed', snapshot: null, error: 'The scan failed; see the logs for its invocation.' });
      // Its findings were left as they were, and the next scan may run.
      expect((await call('GET', `tenants/dh1/drift-findings?environmentId=${env1}&status=open`)).body.value.length).toBeGreaterThan(0);
    } finally {
      await database.containers.createIfNotExists({ id: storageMap.driftSnapshots.container, partitionKey: { paths: ['/tenantId'] }, defaultTtl: DRIFT_SNAPSHOT_TTL_SECONDS });
      client.dispose();
      agent.destroy();
    }
  });

  it("runs the hour's sweep over every tenant's environments with bounded fan-out, once per hour", async () => {
    const env2 = await seed('dh2');
    const slot = new Date().toISOString().slice(0, 13);
    const run = () => fetch(`${host.url}/admin/functions/driftScanSchedule`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect((await run()).status).toBe(202);
    const sweep = await until(() => durableStatus(`drift-sweep:${slot}`), (s) => s?.runtimeStatus === 'Completed' || s?.runtimeStatus === 'Failed', 'the sweep');
    expect(sweep?.runtimeStatus).toBe('Completed');
    expect(sweep?.customStatus).toEqual({ environmentsDone: 2, environmentsTotal: 2 });
    expect(sweep?.output).toMatchObject({ slot, environments: 2, succeeded: 2, failed: 0, skipped: 0 });
    // Each environment ran as its own sub-orchestration with a deterministic id.
    for (const [tenant, env] of [['dh1', env1], ['dh2', env2]] as const) {
      const child = await durableStatus(`drift:${tenant}:${env}:${slot}`);
      expect(child).toMatchObject({ runtimeStatus: 'Completed', customStatus: { environmentsDone: 1, environmentsTotal: 1, phase: 'done' } });
    }
    // An overlapping start in the same hour does not scan again.
    expect((await run()).status).toBe(202);
    for (let i = 0; i < 10; i++) {
      expect(await durableStatus(`drift-sweep:${slot}`)).toMatchObject({ runtimeStatus: 'Completed', createdTime: sweep?.createdTime });
      await new Promise((r) => setTimeout(r, 50));
    }
    const scans = await call('GET', `tenants/dh2/environments/${env2}/drift-scans`);
    expect(scans.body.value).toHaveLength(1);
  });
});
