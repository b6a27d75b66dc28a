/**
 * The local stack end to end, over HTTP on a real port: the stand-ins (PGlite, Azurite, Cosmos DB,
 * Key Vault), migrations, the built dist/main.js served by the local host exactly as Azure would
 * index it, bearer tokens from the dev issuer, and the outbox publishing CloudEvents to the real
 * Storage queue.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QueueClient } from '@azure/storage-queue';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../emulator/stack.js';
import { startHost, type StartedHost } from '../emulator/host/index.js';
import { buildApp } from '../scripts/build.js';
import { runMigrations } from '../scripts/migrate.js';
import { callApi, stackToken } from './http-client.js';
import { registerAll } from '../composition/services.js';
import { Registrar } from '../shared/registrar.js';

let stack: Stack;
let host: StartedHost;
let dir: string;
let distEntry: string;

const ports = { postgres: 0, blob: 0, queue: 0, table: 0, cosmos: 0, keyVault: 0 };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rp-e2e-'));
  stack = await startStack({ stateDir: dir, persistent: false, ports, localSettingsFile: false, log: () => undefined });
  await runMigrations(stack.env);
  // Built inside the checkout (git-ignored) so the bundle resolves node_modules like dist/ does.
  distEntry = join(process.cwd(), '.local', `e2e-${process.pid}`, 'dist', 'main.js');
  await buildApp({ outfile: distEntry });
  host = await startHost({ entry: distEntry, port: 0, env: stack.env, runTimers: false, onOutput: () => undefined, functionAppDirectory: process.cwd() });
}, 180_000);

afterAll(async () => {
  await host?.stop();
  await stack?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
  await rm(join(process.cwd(), '.local', `e2e-${process.pid}`), { recursive: true, force: true });
});

const token = (sub: string, admin = false) => stackToken(stack.env.AUTH_DEV_KEY_FILE!, sub, admin);
const call = (method: string, path: string, opts: { token?: string; body?: unknown } = {}) => callApi(host.url, method, path, opts);

describe('function metadata', () => {
  it('is what the registry declares, as the Functions host indexes it', () => {
    // The registry's own declarations, recorded without any host.
    const registrar = new Registrar(() => Promise.reject(new Error('metadata only')));
    registerAll(registrar);
    const declared = registrar.entries;
    expect(host.functions.map((f) => f.name).sort()).toEqual(declared.map((d) => d.name).sort());
    for (const d of declared) {
      const fn = host.functions.find((f) => f.name === d.name)!;
      if (d.trigger === 'http') {
        expect(fn.trigger, d.name).toMatchObject({ type: 'httpTrigger', direction: 'in', methods: [d.method], route: d.route, authLevel: 'anonymous' });
        expect(Object.values(fn.bindings).some((b) => b.type === 'http' && b.direction === 'out'), d.name).toBe(true);
      } else if (d.trigger === 'timer') {
        expect(fn.trigger, d.name).toMatchObject({ type: 'timerTrigger', direction: 'in', schedule: d.schedule });
      } else {
        expect(fn.trigger, d.name).toMatchObject({ type: `${d.trigger}Trigger`, direction: 'in' });
      }
    }
  });
});

describe('the local stack over HTTP', () => {
  it('serves the API with the api prefix to bearer tokens of the dev issuer', async () => {
    const root = await token('e2e-admin', true);
    expect((await call('GET', 'health')).body).toEqual({ status: 'ok' });
    expect((await call('GET', 'tenants')).status).toBe(401);
    const created = await call('POST', 'tenants', { token: root, body: { id: 'e2e', displayName: 'End to end' } });
    expect(created.status).toBe(201);
    expect(created.headers.get('etag')).toBe(`"${created.body.etag}"`);
    expect((await call('PUT', 'tenants/e2e/members/erin', { token: root, body: { role: 'admin' } })).status).toBe(201);
    const erin = await token('erin');
    const got = await call('GET', 'tenants/e2e', { token: erin });
    expect(got.status).toBe(200);
    expect(got.body).toMatchObject({ id: 'e2e', status: 'active', isolation: { model: 'pooled' } });
    expect((await call('GET', 'tenants/e2e', { token: await token('stranger') })).status).toBe(404);
    const bad = await call('POST', 'tenants', { token: root, body: { id: 'Bad Id!', displayName: 'x' } });
    expect(bad.status).toBe(400);
    expect(bad.headers.get('x-ms-error-code')).toBe('InvalidRequest');
    const doc = await call('GET', 'openapi.json');
    expect(doc.body.paths['/tenants/{tenantId}'].get.operationId).toBe('tenantGet');
  });

  it('reads a JSON body sent chunked (no Content-Length) through the host, as HTTP streaming passes it on', async () => {
    const root = await token('e2e-admin', true);
    const text = new TextEncoder().encode(JSON.stringify({ id: 'e2e-chunked', displayName: 'Sent in chunks' }));
    // A body stream: fetch sends it with Transfer-Encoding: chunked.
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 0; i < text.length; i += 7) c.enqueue(text.subarray(i, i + 7));
        c.close();
      },
    });
    const r = await fetch(`${host.url}/api/tenants`, { method: 'POST', headers: { authorization: `Bearer ${root}`, 'content-type': 'application/json' }, body, duplex: 'half' });
    expect(r.status, await r.clone().text()).toBe(201);
    expect((await call('GET', 'tenants/e2e-chunked', { token: root })).body).toMatchObject({ id: 'e2e-chunked', displayName: 'Sent in chunks' });
  });

  it('answers an unknown route with an empty 404, as the Functions host does', async () => {
    const r = await call('GET', 'no/such/route');
    expect(r.status).toBe(404);
    expect(r.body).toBeUndefined();
    expect(r.headers.get('x-ms-error-code')).toBeNull();
  });

  it('streams a deployment step log of several MiB through the host and back (HTTP streaming on)', async () => {
    const erin = await token('erin');
    const env = await call('POST', 'tenants/e2e/environments', { token: erin, body: { name: 'stream', kind: 'dev', region: 'westeurope' } });
    const svc = await call('POST', `tenants/e2e/environments/${env.body.id}/services`, { token: erin, body: { name: 'stream', owner: 'team' } });
    const deployments = `tenants/e2e/environments/${env.body.id}/deployments`;
    const d = await call('POST', deployments, { token: erin, body: { serviceId: svc.body.id, image: `contoso.azurecr.io/api@sha256:${'e'.repeat(64)}` } });
    expect(d.status).toBe(201);
    const log = Buffer.alloc(8 * 1024 * 1024, 'a line of the step log\n');
    const auth = { authorization: `Bearer ${erin}` };
    const up = await fetch(`${host.url}/api/${deployments}/${d.body.id}/steps/apply/log`, { method: 'PUT', headers: { ...auth, 'content-type': 'text/plain' }, body: log });
    expect(up.status, await up.clone().text()).toBeLessThan(300);
    const down = await fetch(`${host.url}/api/${deployments}/${d.body.id}/artifacts/apply.log`, { headers: auth });
    expect(down.status).toBe(200);
    expect(Buffer.from(await down.arrayBuffer()).equals(log)).toBe(true);
  });

  it('publishes outbox events as CloudEvents to the Storage queue when the timer runs', async () => {
    const queue = new QueueClient(stack.env.STORAGE_CONNECTION_STRING!, stack.env.EVENTS_QUEUE ?? 'runtime-events');
    await queue.createIfNotExists();
    const ran = await fetch(`${host.url}/admin/functions/outboxPublish`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(ran.status).toBe(202);
    const events: { type: string; subject: string; id: string; specversion: string; tenantid: string }[] = [];
    for (let i = 0; i < 50 && !events.some((e) => e.type === 'RuntimePlatform.TenantMemberSet'); i++) {
      const got = await queue.receiveMessages({ numberOfMessages: 32, visibilityTimeout: 60 });
      for (const m of got.receivedMessageItems) events.push(JSON.parse(Buffer.from(m.messageText, 'base64').toString('utf8')));
      if (got.receivedMessageItems.length === 0) await new Promise((r) => setTimeout(r, 100));
    }
    const created = events.find((e) => e.type === 'RuntimePlatform.TenantCreated' && e.subject === 'tenants/e2e');
    expect(created).toMatchObject({ specversion: '1.0', tenantid: 'e2e' });
    expect(created!.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(events.some((e) => e.type === 'RuntimePlatform.TenantMemberSet' && e.subject === 'tenants/e2e/members/erin')).toBe(true);
  });

  it('runs the daily housekeeping as an orchestration that fans out over the databases, once a day', async () => {
    const day = new Date().toISOString().slice(0, 10);
    const status = () => fetch(`${host.url}/runtime/webhooks/durabletask/instances/${encodeURIComponent(`housekeeping:${day}`)}`);
    const ran = await fetch(`${host.url}/admin/functions/platformHousekeeping`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(ran.status).toBe(202);
    let done: { runtimeStatus: string; createdTime?: string; output?: { databases: { database: string }[]; failed: string[] } } | undefined;
    for (let i = 0; i < 200; i++) {
      const r = await status();
      if (r.status === 200) {
        done = (await r.json()) as typeof done;
        if (done?.runtimeStatus === 'Completed' || done?.runtimeStatus === 'Failed') break;
      }
      await new Promise((res) => setTimeout(res, 50));
    }
    expect(done?.runtimeStatus).toBe('Completed');
    expect(done?.output?.databases.map((d) => d.database)).toEqual(['pooled']);
    expect(done?.output?.failed).toEqual([]);
    // A second start the same day is a no-op (deterministic instance id): the instance is not run
    // again. (The local host refuses instance listing with 501, so this watches the one instance.)
    const again = await fetch(`${host.url}/admin/functions/platformHousekeeping`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(again.status).toBe(202);
    for (let i = 0; i < 20; i++) {
      const r = (await (await status()).json()) as { runtimeStatus: string; createdTime: string };
      expect(r).toMatchObject({ runtimeStatus: 'Completed', createdTime: done?.createdTime });
      await new Promise((res) => setTimeout(res, 50));
    }
  });
});
