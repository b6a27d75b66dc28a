/**
 * What an operator sees in Application Insights, proven through the local stack's capture server:
 * the built app on the local host, Application Insights on (the stack's connection string, the
 * certificate trusted through NODE_EXTRA_CA_CERTS), every trigger kind exercised.
 *
 * - every invocation — HTTP, timer, orchestration, activity — is a request carrying its invocation
 *   id, function name, trigger and service, and the tenant id for tenant-scoped work;
 * - its PostgreSQL statements and Blob, Queue, Cosmos DB and Key Vault calls are dependencies with
 *   the request's operation id;
 * - a failure is an exception of that operation with the error's code, and nothing sent holds a
 *   token, a secret value or a connection string.
 *
 * The host runs with the batch processors' export delay shortened (OTEL_BSP_SCHEDULE_DELAY,
 * OTEL_BLRP_SCHEDULE_DELAY), so what an invocation produced arrives shortly after it; the test
 * waits for it on the capture server. The stores probe runs the app's kernel in a child process
 * that flushes (`Telemetry.flush`) before it exits, so there nothing is waited for.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CapturedEnvelope } from '../emulator/appinsights/server.js';
import { startHost, type StartedHost } from '../emulator/host/index.js';
import { startStack, type Stack } from '../emulator/stack.js';
import { buildApp } from '../scripts/build.js';
import { runMigrations } from '../scripts/migrate.js';
import { startTestDatabase, type TestDatabase } from './database.js';
import { callApi, closedPort, stackToken } from './http-client.js';

let stack: Stack;
let host: StartedHost;
let dir: string;
let database: TestDatabase | undefined;
const out = join(process.cwd(), '.local', `ops-telemetry-${process.pid}`);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rp-ops-telemetry-'));
  // On a PostgreSQL server when TEST_DATABASE_URL names one (a fresh database), else on PGlite.
  if (process.env.TEST_DATABASE_URL) database = await startTestDatabase('rp_ops');
  const ports = { postgres: 0, blob: 0, queue: 0, table: 0, cosmos: 0, keyVault: 0, appInsights: 0 };
  stack = await startStack({ stateDir: dir, persistent: false, ports, postgres: database ? { connectionString: database.url } : 'pglite', localSettingsFile: false, log: () => undefined });
  await runMigrations(stack.env);
  const { outfile } = await buildApp({ outfile: join(out, 'dist', 'main.js') });
  const env = {
    ...stack.env,
    // The silo `down` is configured at a port nothing listens on: a database that is down.
    SQL_SILOS: JSON.stringify({ down: `postgres://rp@127.0.0.1:${await closedPort()}/rp` }),
    OTEL_BSP_SCHEDULE_DELAY: '100',
    OTEL_BLRP_SCHEDULE_DELAY: '100',
  };
  host = await startHost({ entry: outfile, port: 0, env, runTimers: false, onOutput: () => undefined, functionAppDirectory: process.cwd() });
}, 180_000);

afterAll(async () => {
  await host?.stop();
  await stack?.stop();
  await database?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
  await rm(out, { recursive: true, force: true });
});

const token = (sub: string, admin = false) => stackToken(stack.env.AUTH_DEV_KEY_FILE!, sub, admin);
/** A call, with the invocation id the answer names (`x-ms-request-id`). */
async function call(method: string, path: string, opts: { token?: string; body?: unknown } = {}) {
  const r = await callApi(host.url, method, path, opts);
  return { ...r, invocationId: r.headers.get('x-ms-request-id') ?? '' };
}

const props = (e: CapturedEnvelope) => e.data?.baseData?.properties ?? {};
const opId = (e: CapturedEnvelope) => e.tags?.['ai.operation.id'] ?? '';

/** The request of one invocation, once it has arrived. */
async function requestOf(invocationId: string): Promise<CapturedEnvelope> {
  const [r] = await stack.appInsights.waitFor({ type: 'Request', properties: { invocationId } }, { timeoutInMs: 20_000 });
  return r!;
}

/** The dependencies of an operation (what has arrived of them). */
const dependenciesOf = (operationId: string) => stack.appInsights.envelopes({ type: 'RemoteDependency', operationId });

describe('operations telemetry', () => {
  it('makes every HTTP invocation a request with its invocation id, function name and tenant, its SQL statements dependencies of its operation', async () => {
    const root = await token('ops-admin', true);
    const created = await call('POST', 'tenants', { token: root, body: { id: 'ops', displayName: 'Operations' } });
    expect(created.status).toBe(201);
    expect((await call('PUT', 'tenants/ops/members/olga', { token: root, body: { role: 'admin' } })).status).toBe(201);
    const env = await call('POST', 'tenants/ops/environments', { token: await token('olga'), body: { name: 'main', kind: 'prod', region: 'westeurope' } });
    expect(env.status).toBe(201);

    const request = await requestOf(env.invocationId);
    expect(request.data?.baseData).toMatchObject({
      name: 'POST /api/tenants/{tenantId}/environments',
      responseCode: '201',
      success: true,
      url: `${host.url}/api/tenants/ops/environments`,
    });
    expect(props(request)).toMatchObject({ invocationId: env.invocationId, functionName: 'environmentCreate', trigger: 'http', service: 'environments', tenantId: 'ops' });
    // The statements of the invocation: PostgreSQL dependencies of its operation, children of its request.
    const sqlCalls = dependenciesOf(opId(request)).filter((d) => d.data?.baseData?.type === 'postgresql');
    expect(sqlCalls.length).toBeGreaterThan(0);
    expect(sqlCalls.some((d) => /^INSERT /.test(String(d.data?.baseData?.name)))).toBe(true);
    for (const d of sqlCalls) {
      expect(d.data?.baseData?.target).toMatch(/^127\.0\.0\.1:\d+\|pooled$/);
      expect(String(d.data?.baseData?.data)).not.toMatch(/'ops'|olga/); // statements are parameterized
    }

    // A platform route: no tenant; a client error: its status, no exception.
    const tenantCreate = await requestOf(created.invocationId);
    expect(props(tenantCreate)).toMatchObject({ functionName: 'tenantCreate', trigger: 'http', service: 'tenants' });
    const bad = await call('POST', 'tenants/ops/environments', { token: await token('olga'), body: { name: '' } });
    expect(bad.status).toBe(400);
    const badRequest = await requestOf(bad.invocationId);
    expect(badRequest.data?.baseData).toMatchObject({ responseCode: '400', success: true });
    expect(stack.appInsights.envelopes({ type: 'Exception', operationId: opId(badRequest) })).toEqual([]);
  });

  it('makes a 503 from a database that is down a failed request with an exception carrying the error code, and nothing secret', async () => {
    const root = await token('ops-admin', true);
    expect((await call('POST', 'tenants', { token: root, body: { id: 'ops-silo', displayName: 'Siloed', isolation: { model: 'siloed', database: 'down' } } })).status).toBe(201);
    const r = await call('GET', 'tenants/ops-silo/environments', { token: root });
    expect(r.status).toBe(503);
    const request = await requestOf(r.invocationId);
    expect(request.data?.baseData).toMatchObject({ responseCode: '503', success: false });
    expect(props(request)).toMatchObject({ functionName: 'environmentList', tenantId: 'ops-silo', errorCode: 'ServiceUnavailable' });
    const [exception] = await stack.appInsights.waitFor({ type: 'Exception', operationId: opId(request) }, { timeoutInMs: 20_000 });
    expect(props(exception!)).toMatchObject({ code: 'ServiceUnavailable', functionName: 'environmentList', invocationId: r.invocationId });
    expect(JSON.stringify(exception)).not.toContain(await token('ops-admin', true));
  });

  it('makes a timer invocation a request, with the queue message it sends and its statements as dependencies', async () => {
    const since = stack.appInsights.mark();
    const ran = await fetch(`${host.url}/admin/functions/outboxPublish`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(ran.status).toBe(202);
    const [request] = await stack.appInsights.waitFor({ since, type: 'Request', properties: { functionName: 'outboxPublish' } }, { timeoutInMs: 20_000 });
    expect(request!.data?.baseData).toMatchObject({ name: 'outboxPublish', success: true });
    expect(props(request!)).toMatchObject({ trigger: 'timer', service: 'platform' });
    expect(props(request!).invocationId).toMatch(/\S/);
    // The earlier tests' events went out to the Storage queue: Azure SDK dependencies of this operation.
    await expect.poll(() => dependenciesOf(opId(request!)).filter((d) => String(d.data?.baseData?.target).includes(`:${stack.ports.queue}`)).length, { timeout: 20_000 }).toBeGreaterThan(0);
    expect(dependenciesOf(opId(request!)).some((d) => d.data?.baseData?.type === 'postgresql')).toBe(true);
  });

  it('makes each orchestration episode and each activity a request of its own', async () => {
    const since = stack.appInsights.mark();
    const ran = await fetch(`${host.url}/admin/functions/platformHousekeeping`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(ran.status).toBe(202);
    const orchestration = await stack.appInsights.waitFor({ since, type: 'Request', properties: { functionName: 'platformHousekeepingRun' } }, { timeoutInMs: 20_000 });
    expect(props(orchestration[0]!)).toMatchObject({ trigger: 'orchestration', service: 'platform' });
    const activities = await stack.appInsights.waitFor({ since, type: 'Request', properties: { functionName: 'platformHousekeepingExpire' } }, { count: 2, timeoutInMs: 20_000 });
    for (const a of activities) expect(props(a)).toMatchObject({ trigger: 'activity', service: 'platform' });
    // One activity per database (pooled, and the silo that is down): the pooled one ran its statements.
    const pooled = () => activities.filter((a) => dependenciesOf(opId(a)).some((d) => String(d.data?.baseData?.target).endsWith('|pooled')));
    await expect.poll(() => pooled().length, { timeout: 20_000 }).toBe(1);
    const invocations = new Set([...orchestration, ...activities].map((r) => props(r).invocationId));
    expect(invocations.size).toBe(orchestration.length + activities.length);
  });

  it('makes calls to PostgreSQL, Blob, Queue, Cosmos DB and Key Vault dependencies of the invocation, delivered by flush, without the secret value', async () => {
    const since = stack.appInsights.mark();
    const env = { ...process.env, ...stack.env };
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'test/fixtures/dependencies-probe.ts'], { env, timeout: 90_000 });
    expect(stdout.trim()).toBe('flushed probe-stores-1 probe-missing-1');
    // Flushed before the process exited: everything is here, nothing is waited for.
    const [request] = stack.appInsights.envelopes({ since, type: 'Request', properties: { invocationId: 'probe-stores-1' } });
    expect(props(request!)).toMatchObject({ functionName: 'probeTouchStores', trigger: 'activity', tenantId: 'contoso' });
    const deps = dependenciesOf(opId(request!));
    const targets = deps.map((d) => `${String(d.data?.baseData?.type)} ${String(d.data?.baseData?.target)}`);
    const port = (p: number) => targets.some((t) => t.includes(`:${p}`));
    expect(targets.some((t) => t.startsWith('postgresql '))).toBe(true);
    expect(port(stack.ports.blob), targets.join('\n')).toBe(true);
    expect(port(stack.ports.queue), targets.join('\n')).toBe(true);
    expect(port(stack.ports.cosmos), targets.join('\n')).toBe(true);
    expect(port(stack.ports.keyVault), targets.join('\n')).toBe(true);
    expect(stack.appInsights.envelopes({ since, type: 'Event', operationId: opId(request!) }).map((e) => e.data?.baseData?.name)).toEqual(['ProbeStoresTouched']);

    const [failed] = stack.appInsights.envelopes({ since, type: 'Request', properties: { invocationId: 'probe-missing-1' } });
    expect(failed!.data?.baseData).toMatchObject({ success: false });
    const exceptions = stack.appInsights.envelopes({ since, type: 'Exception', operationId: opId(failed!) });
    expect(exceptions.some((e) => props(e).code === 'SecretNotFound' && props(e).functionName === 'probeMissingSecret')).toBe(true);

    const everything = JSON.stringify(stack.appInsights.envelopes());
    expect(everything).not.toContain('pr0be-secret-value-never-sent');
    expect(everything).not.toContain(stack.env.COSMOS_KEY!);
    expect(everything).not.toContain('Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq');
    expect(everything).not.toMatch(/Bearer (?!\[redacted\])/);
    expect(everything).not.toMatch(/eyJ[\w-]{10,}\.[\w-]{10,}\./);
  });
});
