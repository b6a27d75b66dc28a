/**
 * The drift service through the real composition (test/app.ts), on the local stand-ins: the
 * snapshot store and the topology pull adapter use the real Cosmos DB and Blob SDKs against the
 * Cosmos DB stand-in and Azurite (their clients here trust the stand-in's certificate through their
 * own agent, as emulator/cosmos.test.ts does; the app's own clients need NODE_EXTRA_CA_CERTS at
 * process start). Scans run through the same steps as the orchestration, in this process (the
 * harness has no Durable client; scan-host.test.ts runs them as orchestrations on the local host).
 */
import { CosmosClient, type Container } from '@azure/cosmos';
import { BlobServiceClient } from '@azure/storage-blob';
import { sql } from 'kysely';
import { mkdtemp, rm } from 'node:fs/promises';
import { Agent } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectApiError, startTestApp, type TestApp } from '../../test/app.js';
import { services } from '../../composition/services.js';
import { ensureLocalCert } from '../../emulator/certs.js';
import { startCosmos, type CosmosServer } from '../../emulator/cosmos.js';
import { startAzurite, type AzuriteServer } from '../../emulator/azurite.js';
import { DRIFT_SNAPSHOT_TTL_SECONDS, storageMap } from '../../shared/storage-map.js';
import { noTelemetry, type TelemetryEvent } from '../../shared/telemetry.js';
import { agentObservations, storageTopologySource } from './actual.js';
import type { DriftInstance } from './api.js';
import { cosmosSnapshots } from './snapshots.js';
import { DRIFT_SCAN_FINISHED, DRIFT_SCAN_STARTED } from './telemetry.js';

let t: TestApp;
let dir: string;
let cosmos: CosmosServer;
let azurite: AzuriteServer;
let agent: Agent;
let client: CosmosClient;
let snapshots: Container;
let clock = new Date('2026-03-01T10:00:00.000Z');
const events: TelemetryEvent[] = [];
const tick = (ms = 61_000) => (clock = new Date(clock.getTime() + ms));

let alice: string;
let bob: string;
let env: string;
const A = 'tenants/drift-a';
const DB = 'runtime-platform';
const SNAP = storageMap.driftSnapshots.container;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'drift-test-'));
  const cert = await ensureLocalCert(join(dir, 'certs'));
  [cosmos, azurite] = await Promise.all([startCosmos({ tls: cert }), startAzurite({ blobPort: 0, queuePort: 0, tablePort: 0 })]);
  agent = new Agent({ ca: cert.cert, keepAlive: true });
  client = new CosmosClient({ endpoint: cosmos.endpoint, key: cosmos.key, agent });
  const { database } = await client.databases.createIfNotExists({ id: DB });
  // What the local stack and the infrastructure program provision (emulator/stack.ts, infra/src/cosmos.ts).
  ({ container: snapshots } = await database.containers.createIfNotExists({ id: SNAP, partitionKey: { paths: ['/tenantId'] }, defaultTtl: DRIFT_SNAPSHOT_TTL_SECONDS }));
  const blob = BlobServiceClient.fromConnectionString(azurite.connectionString);
  await blob.getContainerClient('deployment-artifacts').createIfNotExists();

  // The drift events, recorded through the kernel's telemetry port (the SDK's own output is tested in emulator/appinsights).
  t = await startTestApp({ now: () => clock, telemetry: { ...noTelemetry, trackEvent: (e) => void events.push(e) } });
  const drift = t.instance<DriftInstance>('drift');
  drift.ports.snapshots = cosmosSnapshots(async () => snapshots);
  drift.ports.actualSources = [
    agentObservations(t.kernel),
    storageTopologySource(t.kernel, { blob: async () => blob, cosmos: async () => client, cosmosDatabase: DB }),
  ];

  await t.createTenant('drift-a', 'alice');
  await t.createTenant('drift-b', 'bob');
  await t.addMember('drift-a', 'rita', 'reader');
  alice = await t.token('alice');
  bob = await t.token('bob');
  const e = await t.call('POST', `${A}/environments`, {
    token: alice,
    body: {
      name: 'prod',
      kind: 'prod',
      region: 'westeurope',
      storageTopology: {
        resources: [
          // Every service's schema (each is named as its service), with row-level security forced.
          { kind: 'postgresql', name: 'pooled', schemas: services.filter((s) => s.sql).map((s) => s.name).sort() },
          { kind: 'blobContainer', name: 'deployment-artifacts', coolAfterDays: 90, deleteAfterDays: 365 },
          { kind: 'cosmosContainer', name: SNAP, partitionKey: '/tenantId', defaultTtlSeconds: DRIFT_SNAPSHOT_TTL_SECONDS },
        ],
      },
    },
  });
  env = e.body.id;
  for (const name of ['api', 'web']) expect((await t.call('POST', `${A}/environments/${env}/services`, { token: alice, body: { name, owner: 'team' } })).status).toBe(201);
}, 120_000);

afterAll(async () => {
  await t?.close();
  client?.dispose();
  agent?.destroy();
  await Promise.all([cosmos?.stop(), azurite?.stop()]);
  if (dir) await rm(dir, { recursive: true, force: true });
});

const push = (resources: { kind: string; name: string; properties: Record<string, unknown> }[], observedAt = clock.toISOString(), source = 'agent-1') =>
  t.call('POST', `${A}/environments/${env}/observed-state`, { token: alice, body: { source, observedAt, kinds: ['service'], resources } });
const scan = async () => {
  tick();
  const r = await t.call('POST', `${A}/environments/${env}/drift-scans`, { token: alice });
  expect(r.status, JSON.stringify(r.body)).toBe(202);
  // The scan runs as its orchestration on the in-process task hub: wait for it to finish, then
  // answer what its status location says.
  await t.durable.settle();
  const status = await t.call('GET', r.headers.get('operation-location')!.replace(/^\/api\//, ''), { token: alice });
  expect(status.status).toBe(200);
  return { ...r, body: status.body };
};
const findings = async (q = '') => (await t.call('GET', `${A}/drift-findings?environmentId=${env}${q}`, { token: alice })).body.value as { id: string; resource: string; path: string; status: string; severity: string; kind: string }[];
const live = async () => (await findings()).filter((f) => f.status !== 'resolved').map((f) => `${f.resource}#${f.path} ${f.kind} ${f.status}`).sort();
const outbox = async (type: string) =>
  (await sql<{ n: number }>`select count(*)::int as n from drift.outbox where tenant_id = 'drift-a' and type = ${type}`.execute(t.owner.forPlacement({ model: 'pooled' }))).rows[0]?.n;

describe('observed state', () => {
  it('is idempotent, keeps the newest observation per agent, and refuses a rewrite of the same instant', async () => {
    const body = [{ kind: 'service', name: 'api', properties: { image: 'a:1' } }];
    const at = clock.toISOString();
    expect((await push(body, at)).body).toMatchObject({ outcome: 'stored', resources: 1 });
    expect((await push(body, at)).body.outcome).toBe('unchanged');
    expect((await push(body, new Date(clock.getTime() - 60_000).toISOString())).body.outcome).toBe('older');
    expectApiError(await push([{ kind: 'service', name: 'api', properties: { image: 'other' } }], at), 409, 'Conflict');
    // Bounded: too many resources, or two of the same (kind, name), are refused.
    const many = Array.from({ length: 2001 }, (_, i) => ({ kind: 'service', name: `s${i}`, properties: {} }));
    expectApiError(await push(many), 400, 'InvalidRequest');
    expectApiError(await push([body[0]!, body[0]!]), 400, 'InvalidRequest');
  });
});

describe('scans', () => {
  it('opens findings for missing and extra resources, with the real topology of the stand-ins in agreement', async () => {
    tick();
    await push([
      { kind: 'service', name: 'api', properties: { image: 'a:1' } },
      { kind: 'service', name: 'rogue', properties: {} },
    ]);
    const r = await scan();
    expect(r.headers.get('operation-location')).toBe(`/api/${A}/environments/${env}/drift-scans/${r.body.id}`);
    expect(r.body).toMatchObject({ status: 'Succeeded', progress: { environmentsDone: 1, environmentsTotal: 1 }, opened: 2 });
    expect(await live()).toEqual(['service/rogue# unexpected open', 'service/web# missing open']);
    const status = await t.call('GET', r.headers.get('operation-location')!.replace('/api/', ''), { token: await t.token('rita') });
    expect(status.body).toMatchObject({ id: r.body.id, status: 'Succeeded', phase: 'done' });
    expect(await outbox('DriftDetected')).toBe(2);
    expect(events.filter((e) => e.name === DRIFT_SCAN_STARTED).at(-1)?.properties).toEqual({ tenantId: 'drift-a', scanId: r.body.id, environmentId: env });
    expect(events.filter((e) => e.name === DRIFT_SCAN_FINISHED).at(-1)?.properties).toMatchObject({ scanId: r.body.id, outcome: 'succeeded' });
  });

  it("writes the scan's snapshot to Cosmos DB once, in the container whose default TTL is the storage map's", async () => {
    const r = await scan();
    const snap = await t.call('GET', `${A}/environments/${env}/drift-scans/${r.body.id}/snapshot`, { token: alice });
    expect(snap.status).toBe(200);
    expect(snap.body).toMatchObject({ id: r.body.id, tenantId: 'drift-a', environmentId: env });
    expect(Object.keys(snap.body.desired.resources).sort()).toEqual(['blobContainer/deployment-artifacts', `cosmosContainer/${SNAP}`, 'postgresql/pooled', 'service/api', 'service/web']);
    expect(snap.body.desired.sources).toMatchObject({ catalog: 'available', storageTopology: 'available', deployments: 'available', configuration: 'available', secrets: 'available', scaling: 'available' });
    expect(snap.body.actual.resources[`cosmosContainer/${SNAP}`].properties).toEqual({ partitionKey: '/tenantId', defaultTtlSeconds: DRIFT_SNAPSHOT_TTL_SECONDS });
    expect(snap.body.actual.resources['postgresql/pooled'].properties.schemas.drift).toEqual({ rowLevelSecurity: 'forced' });
    // The container keeps the storage map's TTL (expiry itself is Cosmos DB's; the stand-in does not expire).
    expect((await snapshots.read()).resource?.defaultTtl).toBe(DRIFT_SNAPSHOT_TTL_SECONDS);
    expect(DRIFT_SNAPSHOT_TTL_SECONDS).toBe(30 * 86_400);
    // Written once: a second write of the same scan (a retried activity) leaves the document as it was.
    const before = (await snapshots.item(r.body.id, 'drift-a').read()).resource;
    const drift = t.instance<DriftInstance>('drift');
    expect(await drift.ports.snapshots.create({ ...snap.body, takenAt: '2099-01-01T00:00:00.000Z' })).toBe('exists');
    const after = (await snapshots.item(r.body.id, 'drift-a').read()).resource;
    expect(after?._etag).toBe(before?._etag);
    expect(after?.takenAt).toBe(before?.takenAt);
  });

  it('sees a change made to a stand-in: the Cosmos container TTL drifts', async () => {
    const { resource } = await snapshots.read();
    await snapshots.replace({ ...resource!, id: SNAP, partitionKey: { paths: ['/tenantId'] }, defaultTtl: 3600 });
    try {
      await scan();
      const ttl = (await findings()).find((f) => f.resource === `cosmosContainer/${SNAP}`);
      expect(ttl).toMatchObject({ path: '/defaultTtlSeconds', kind: 'changed', severity: 'medium', status: 'open' });
    } finally {
      await snapshots.replace({ ...resource!, id: SNAP, partitionKey: { paths: ['/tenantId'] }, defaultTtl: DRIFT_SNAPSHOT_TTL_SECONDS });
    }
    const r = await scan();
    expect(r.body.resolved).toBe(1);
    expect((await findings('&status=resolved')).some((f) => f.resource === `cosmosContainer/${SNAP}`)).toBe(true);
  });

  it('updates persisting findings, resolves the ones no longer seen, and leaves stale ones unknown', async () => {
    const [rogue] = (await findings('&status=open')).filter((f) => f.resource === 'service/rogue');
    const before = await t.call('GET', `${A}/drift-findings/${rogue!.id}`, { token: alice });
    await scan();
    const again = await t.call('GET', `${A}/drift-findings/${rogue!.id}`, { token: alice });
    expect(again.body.seenCount).toBeGreaterThan(before.body.seenCount);
    expect(again.body.lastSeenAt).not.toBe(before.body.lastSeenAt);
    expect(again.body.likelyCauseStatus).toBe('unknown');

    // The agent's observation goes stale: services are unknown, their findings stay as they are.
    tick(31 * 60_000);
    const stale = await scan();
    expect(stale.body.unknown).toBeGreaterThan(0);
    expect(await live()).toEqual(['service/rogue# unexpected open', 'service/web# missing open']);

    await push([
      { kind: 'service', name: 'api', properties: {} },
      { kind: 'service', name: 'web', properties: {} },
    ]);
    const r = await scan();
    expect(r.body.resolved).toBe(2);
    expect(await live()).toEqual([]);
    expect(await outbox('DriftResolved')).toBeGreaterThanOrEqual(3);
  });

  it('answers the running scan instead of starting a second one', async () => {
    // A scan row left running (as while an orchestration works) is what a new start answers.
    await sql`insert into drift.scans (tenant_id, id, environment_id, instance_id, trigger, status, phase, requested_by, started_at)
              values ('drift-a', 'dscan_00000000000000aa', ${env}, 'x', 'schedule', 'running', 'diff', 'drift-schedule', now())`.execute(t.owner.forPlacement({ model: 'pooled' }));
    try {
      const r = await scan();
      expect(r.body).toMatchObject({ id: 'dscan_00000000000000aa', status: 'Running', progress: { environmentsDone: 0, environmentsTotal: 1 } });
    } finally {
      await sql`delete from drift.scans where id = 'dscan_00000000000000aa'`.execute(t.owner.forPlacement({ model: 'pooled' }));
    }
  });
});

describe('findings: ignore rules, actions, mode, retention', () => {
  it('suppresses what an ignore rule matches until it expires, and lists rules', async () => {
    tick();
    await push([
      { kind: 'service', name: 'api', properties: { image: 'x' } },
      { kind: 'service', name: 'web', properties: {} },
      { kind: 'service', name: 'debug-pod', properties: {} },
    ]);
    const rule = await t.call('POST', `${A}/drift-ignore-rules`, {
      token: alice,
      body: { environmentId: env, resource: 'service/debug-*', path: '', reason: 'Debug pods come and go', expiresAt: new Date(clock.getTime() + 10 * 60_000).toISOString() },
    });
    expect(rule.status).toBe(201);
    const r = await scan();
    expect(r.body).toMatchObject({ differences: 0 });
    expect(r.body.suppressed).toBeGreaterThan(0);
    expect((await t.call('GET', `${A}/drift-ignore-rules?environmentId=${env}`, { token: alice })).body.value.map((x: { id: string }) => x.id)).toEqual([rule.body.id]);
    tick(11 * 60_000);
    await push([
      { kind: 'service', name: 'api', properties: {} },
      { kind: 'service', name: 'web', properties: {} },
      { kind: 'service', name: 'debug-pod', properties: {} },
    ]);
    await scan();
    expect(await live()).toEqual(['service/debug-pod# unexpected open']);
    expect((await t.call('DELETE', `${A}/drift-ignore-rules/${rule.body.id}`, { token: alice })).status).toBe(204);
    expectApiError(await t.call('GET', `${A}/drift-ignore-rules/${rule.body.id}`, { token: alice }), 404, 'NotFound');
  });

  it('records actions with who and when: suppress, accept, request remediation (an event), result', async () => {
    const [f] = (await findings('&status=open')).filter((x) => x.resource === 'service/debug-pod');
    const path = `${A}/drift-findings/${f!.id}/actions`;
    expectApiError(await t.call('POST', path, { token: alice, body: { action: 'suppress', until: new Date(clock.getTime() - 1000).toISOString() } }), 400, 'InvalidRequest');
    expectApiError(await t.call('POST', path, { token: await t.token('rita'), body: { action: 'accept' } }), 403, 'Forbidden');
    const s = await t.call('POST', path, { token: alice, body: { action: 'suppress', until: new Date(clock.getTime() + 5 * 60_000).toISOString(), note: 'Known' } });
    expect(s.body).toMatchObject({ status: 'suppressed', actions: [{ action: 'suppress', by: 'alice', at: clock.toISOString(), note: 'Known' }] });
    await scan();
    expect((await t.call('GET', `${A}/drift-findings/${f!.id}`, { token: alice })).body.status).toBe('suppressed');
    tick(6 * 60_000);
    await push([
      { kind: 'service', name: 'api', properties: {} },
      { kind: 'service', name: 'web', properties: {} },
      { kind: 'service', name: 'debug-pod', properties: {} },
    ]);
    await scan();
    expect((await t.call('GET', `${A}/drift-findings/${f!.id}`, { token: alice })).body.status).toBe('open');

    const req = await t.call('POST', path, { token: alice, body: { action: 'request-remediation' } });
    expect(req.body.actions.map((a: { action: string }) => a.action)).toEqual(['suppress', 'request-remediation']);
    expect(await outbox('DriftRemediationRequested')).toBe(1);
    await t.call('POST', path, { token: alice, body: { action: 'remediation-result', result: 'failed', note: 'pod is protected' } });
    const acc = await t.call('POST', path, { token: alice, body: { action: 'accept' } });
    expect(acc.body).toMatchObject({ status: 'accepted' });
    expectApiError(await t.call('POST', path, { token: alice, body: { action: 'accept' } }), 409, 'Conflict');
    // Accepted: the same actual state is not drift any more.
    const r = await scan();
    expect(r.body.opened).toBe(0);
    expect((await t.call('GET', `${A}/drift-findings/${f!.id}`, { token: alice })).body.status).toBe('accepted');
  });

  it('requests remediation automatically in detect-and-request-remediation mode', async () => {
    expect((await t.call('GET', `${A}/environments/${env}/drift-settings`, { token: alice })).body).toMatchObject({ mode: 'detect-only', observationMaxAgeMinutes: 30 });
    const put = await t.call('PUT', `${A}/environments/${env}/drift-settings`, { token: alice, body: { mode: 'detect-and-request-remediation', observationMaxAgeMinutes: 60 } });
    expect(put.body).toMatchObject({ mode: 'detect-and-request-remediation', updatedBy: 'alice' });
    expectApiError(await t.call('PUT', `${A}/environments/${env}/drift-settings`, { token: alice, body: { mode: 'detect-only' }, headers: { 'if-match': '"00000000-0000-0000-0000-000000000000"' } }), 412);
    const before = await outbox('DriftRemediationRequested');
    await push([
      { kind: 'service', name: 'api', properties: {} },
      { kind: 'service', name: 'debug-pod', properties: {} },
    ]);
    const r = await scan();
    expect(r.body.opened).toBe(1); // web is missing again
    expect(await outbox('DriftRemediationRequested')).toBe((before ?? 0) + 1);
    await t.call('PUT', `${A}/environments/${env}/drift-settings`, { token: alice, body: { mode: 'detect-only' } });
  });

  it("lists by status, severity and first-seen time, page by page; the catalog's fact sheet shows open findings by severity", async () => {
    const high = await findings('&severity=high&status=open');
    expect(high.map((f) => f.resource)).toEqual(['service/web']);
    const from = encodeURIComponent(new Date('2026-01-01T00:00:00Z').toISOString());
    const seen: string[] = [];
    let next: string | undefined = `${A}/drift-findings?createdAfter=${from}&maxpagesize=2`;
    while (next) {
      const page = await t.call('GET', next, { token: alice });
      seen.push(...page.body.value.map((f: { id: string }) => f.id));
      next = page.body.nextLink ? page.body.nextLink.replace(/^.*\/api\//, '') : undefined;
    }
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen.length).toBe((await findings()).length);

    const svcs = await t.call('GET', `${A}/environments/${env}/services`, { token: alice });
    const web = svcs.body.value.find((s: { name: string }) => s.name === 'web');
    const facts = await t.call('GET', `${A}/environments/${env}/services/${web.id}/facts`, { token: alice });
    expect(facts.body.available).toContain('drift');
    expect(facts.body.parts.drift).toMatchObject({ openFindings: 1, bySeverity: { high: 1, low: 0, medium: 0, critical: 0 }, findings: [{ kind: 'missing', severity: 'high', path: 'service/web' }] });
  });

  it('deletes resolved findings older than the retention figure; open ones stay', async () => {
    const db = t.owner.forPlacement({ model: 'pooled' });
    const count = async (status: string) => (await sql<{ n: number }>`select count(*)::int as n from drift.findings where tenant_id = 'drift-a' and status = ${status}`.execute(db)).rows[0]?.n ?? 0;
    const resolved = await count('resolved');
    const open = await count('open');
    expect(resolved).toBeGreaterThan(1);
    // Age all but one resolved finding past retention, and every open one too.
    await sql`update drift.findings set resolved_at = resolved_at - interval '366 days' where tenant_id = 'drift-a' and status = 'resolved'
              and id <> (select min(id) from drift.findings where tenant_id = 'drift-a' and status = 'resolved')`.execute(db);
    await sql`update drift.findings set created_at = created_at - interval '400 days' where tenant_id = 'drift-a' and status = 'open'`.execute(db);
    const s = await t.instance<DriftInstance>('drift').purgeResolved();
    expect(s.deleted).toBe(resolved - 1);
    expect(await count('resolved')).toBe(1);
    expect(await count('open')).toBe(open);
  });
});

describe('desired-state sources: the services that own them', () => {
  it('adds the deployment, configuration, secret versions and scaling range to the desired state, suppresses replicas inside the range, and links findings to their likely cause', async () => {
    const svcs = (await t.call('GET', `${A}/environments/${env}/services`, { token: alice })).body.value as { id: string; name: string }[];
    const api = svcs.find((s) => s.name === 'api')!.id;
    const service = `${A}/environments/${env}/services/${api}`;
    const ok = (r: { status: number; body: unknown }, what: string) => {
      expect(r.status, `${what}: ${JSON.stringify(r.body)}`).toBeLessThan(300);
      return r;
    };
    // Each owning service, through its own routes: a succeeded deployment, a configuration, a
    // secret binding the service consumes, then (the most recent change) a scaling policy.
    tick();
    const image = `contoso.azurecr.io/api@sha256:${'c'.repeat(64)}`;
    const d: any = ok(await t.call('POST', `${A}/environments/${env}/deployments`, { token: alice, body: { serviceId: api, image } }), 'deployment');
    for (const to of ['in_progress', 'succeeded']) ok(await t.call('POST', `${A}/environments/${env}/deployments/${d.body.id}/transitions`, { token: alice, body: { to } }), to);
    tick();
    ok(await t.call('PUT', `${service}/configuration`, { token: alice, body: { settings: { logLevel: 'info' } } }), 'configuration');
    tick();
    const rotation = { intervalDays: 30, generator: { kind: 'random', length: 32, alphabet: 'hex' } };
    const b: any = ok(
      await t.call('POST', `${A}/secret-bindings`, { token: alice, body: { name: 'db-password', secretName: 'db-password', consumers: [{ environmentId: env, serviceId: api }], rotation, initialValue: 'generate' } }),
      'binding',
    );
    tick();
    const policy = { minReplicas: 2, maxReplicas: 5, triggers: [{ type: 'cpu', name: 'cpu', targetUtilization: 60 }] };
    const p: any = ok(await t.call('PUT', `${service}/scaling-policy`, { token: alice, body: policy }), 'policy');
    tick();

    const observed = (props: Record<string, unknown>) => [
      { kind: 'service', name: 'api', properties: { configurationVersion: 1, secrets: { 'db-password': b.body.currentVersion }, ...props } },
      { kind: 'service', name: 'web', properties: {} },
      { kind: 'service', name: 'debug-pod', properties: {} },
    ];
    await push(observed({ image: 'contoso.azurecr.io/api:old', imageDigest: 'sha256:old', replicas: 4 }));
    const r = await scan();
    const snap = await t.call('GET', `${A}/environments/${env}/drift-scans/${r.body.id}/snapshot`, { token: alice });
    expect(snap.body.desired.sources).toMatchObject({ deployments: 'available', configuration: 'available', secrets: 'available', scaling: 'available' });
    expect(snap.body.desired.resources['service/api'].properties).toMatchObject({
      image,
      configurationVersion: 1,
      secrets: { 'db-password': b.body.currentVersion },
      replicas: { min: 2, max: 5 },
    });
    // Replicas 4 lie inside the policy's 2..5: expected, not drift.
    expect(snap.body.diff.suppressed).toContainEqual({ resource: 'service/api', path: '/replicas', reason: `Inside scaling policy ${p.body.policyId} v1 (2..5)` });
    const drifted = (await findings('&status=open')).find((f) => f.resource === 'service/api' && f.path === '/image');
    const one = await t.call('GET', `${A}/drift-findings/${drifted!.id}`, { token: alice });
    // The most recent change to the service before the drift was first seen: the scaling policy.
    expect(one.body).toMatchObject({ serviceId: api, likelyCauseStatus: 'found', likelyCause: { kind: 'scaling', serviceId: api, environmentId: env } });

    // Back on the desired image, replicas outside the range: only the replica count drifts now.
    tick();
    await push(observed({ image, imageDigest: `sha256:${'c'.repeat(64)}`, replicas: 9 }));
    await scan();
    const open = (await findings('&status=open')).filter((f) => f.resource === 'service/api');
    expect(open.map((f) => [f.path, f.kind])).toEqual([['/replicas', 'changed']]);
  });
});

describe('cross-tenant access with real ids', () => {
  it("answers 404 to a member of another tenant asking through its own tenant's path, and changes nothing", async () => {
    const [f] = await findings();
    const scans = await t.call('GET', `${A}/environments/${env}/drift-scans`, { token: alice });
    const scanId = scans.body.value[0].id;
    const rule = await t.call('POST', `${A}/drift-ignore-rules`, { token: alice, body: { path: '/x', reason: 'r' } });
    const B = 'tenants/drift-b';
    const before = await t.snapshot();
    const tries: [string, string, unknown?][] = [
      ['GET', `${B}/drift-findings/${f!.id}`],
      ['POST', `${B}/drift-findings/${f!.id}/actions`, { action: 'accept' }],
      ['GET', `${B}/environments/${env}/drift-scans`],
      ['GET', `${B}/environments/${env}/drift-scans/${scanId}`],
      ['GET', `${B}/environments/${env}/drift-scans/${scanId}/snapshot`],
      ['POST', `${B}/environments/${env}/drift-scans`],
      ['POST', `${B}/environments/${env}/observed-state`, { source: 'x', observedAt: clock.toISOString(), resources: [] }],
      ['GET', `${B}/environments/${env}/drift-settings`],
      ['PUT', `${B}/environments/${env}/drift-settings`, { mode: 'detect-only' }],
      ['GET', `${B}/drift-ignore-rules/${rule.body.id}`],
      ['DELETE', `${B}/drift-ignore-rules/${rule.body.id}`],
      ['POST', `${B}/drift-ignore-rules`, { environmentId: env, path: '/x', reason: 'r' }],
    ];
    for (const [method, path, body] of tries) expectApiError(await t.call(method, path, { token: bob, ...(body !== undefined ? { body } : {}) }), 404, 'NotFound');
    expect((await t.call('GET', `${B}/drift-findings?environmentId=${env}`, { token: bob })).body.value).toEqual([]);
    expect((await t.call('GET', `${B}/drift-ignore-rules`, { token: bob })).body.value).toEqual([]);
    expect(await t.snapshot()).toEqual(before);
  });
});
