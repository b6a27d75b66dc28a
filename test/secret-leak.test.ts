/**
 * No secret value anywhere but Key Vault. The whole local stack (PGlite, Azurite, Cosmos DB, the
 * Key Vault stand-in) and the built app on the local host, with Application Insights pointed at a
 * local capture endpoint: bindings are created with generated initial values and for an existing
 * secret, every secret is rotated (on demand, and by the rotation timer), one rotation fails, and
 * every timer of the app runs. Then every value every secret ever had is read back from the vault
 * through the real client, and searched for in every table of every schema, every blob and queue
 * message in Azurite, every Cosmos DB document, every rotation orchestration's Durable history
 * (inputs and outputs included), every line the host printed and every telemetry item sent: no hit. A canary planted in each store proves the search can find what is there.
 */
import { CosmosClient } from '@azure/cosmos';
import type { TokenCredential } from '@azure/identity';
import { SecretClient } from '@azure/keyvault-secrets';
import { BlobServiceClient } from '@azure/storage-blob';
import { QueueServiceClient } from '@azure/storage-queue';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, Agent, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureLocalCert, type LocalCert } from '../emulator/certs.js';
import { startHost, type StartedHost } from '../emulator/host/index.js';
import { startStack, type Stack } from '../emulator/stack.js';
import { buildApp } from '../scripts/build.js';
import { runMigrations } from '../scripts/migrate.js';
import { mintDevToken, readDevIssuer } from '../shared/auth/dev-issuer.js';

let stack: Stack;
let host: StartedHost;
let dir: string;
let cert: LocalCert;
let capture: Server;
const telemetry: string[] = [];
const logs: string[] = [];
const out = join(process.cwd(), '.local', `secret-leak-${process.pid}`);
const CANARY = `canary-${Math.random().toString(36).slice(2)}-not-a-secret`;
const anyToken: TokenCredential = { getToken: async () => ({ token: 't', expiresOnTimestamp: Date.now() + 3_600_000 }) };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rp-leak-'));
  const ports = { postgres: 0, blob: 0, queue: 0, table: 0, cosmos: 0, keyVault: 0 };
  stack = await startStack({ stateDir: dir, persistent: false, ports, localSettingsFile: false, log: () => undefined });
  cert = await ensureLocalCert(dirname(stack.env.NODE_EXTRA_CA_CERTS!));
  // Application Insights' ingestion endpoint, captured: whatever the app sends as telemetry.
  capture = createServer({ cert: cert.cert, key: cert.key }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      telemetry.push((req.headers['content-encoding'] === 'gzip' ? gunzipSync(body) : body).toString('utf8'));
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ itemsReceived: 1, itemsAccepted: 1, errors: [] }));
    });
  });
  await new Promise<void>((resolve) => capture.listen(0, '127.0.0.1', resolve));
  const ingestion = `https://127.0.0.1:${(capture.address() as AddressInfo).port}/`;
  await runMigrations(stack.env);
  await buildApp({ outfile: join(out, 'dist', 'main.js') });
  host = await startHost({
    entry: join(out, 'dist', 'main.js'),
    port: 0,
    env: { ...stack.env, APPLICATIONINSIGHTS_CONNECTION_STRING: `InstrumentationKey=00000000-0000-0000-0000-000000000001;IngestionEndpoint=${ingestion}` },
    runTimers: false,
    verbose: true,
    onOutput: (line) => void logs.push(line),
    functionAppDirectory: process.cwd(),
  });
}, 240_000);

afterAll(async () => {
  await host?.stop();
  await stack?.stop();
  await new Promise<void>((resolve) => (capture ? capture.close(() => resolve()) : resolve()));
  if (dir) await rm(dir, { recursive: true, force: true });
  await rm(out, { recursive: true, force: true });
});

async function call(method: string, path: string, token: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${host.url}/api/${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
}

async function until<T>(f: () => Promise<T>, ok: (v: T) => boolean, what: string, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const runTimer = async (name: string) => {
  const r = await fetch(`${host.url}/admin/functions/${name}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  expect(r.status, name).toBe(202);
};

/** Every value every secret of the vault ever had (disabled versions are enabled for the read, then disabled again). */
async function vaultValues(vault: SecretClient): Promise<string[]> {
  const values: string[] = [];
  for await (const s of vault.listPropertiesOfSecrets()) {
    for await (const v of vault.listPropertiesOfSecretVersions(s.name)) {
      if (v.enabled === false) await vault.updateSecretProperties(s.name, v.version!, { enabled: true });
      const got = await vault.getSecret(s.name, { version: v.version! });
      if (v.enabled === false) await vault.updateSecretProperties(s.name, v.version!, { enabled: false });
      if (got.value) values.push(got.value);
    }
  }
  return values;
}

/** Everything the stores, the host and telemetry hold, as text, by where it was found. */
async function everything(): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  // Every table of every schema.
  const db = new pg.Client({ connectionString: stack.env.SQL_CONNECTION_STRING });
  await db.connect();
  try {
    const tables = await db.query<{ s: string; t: string }>(
      `select table_schema as s, table_name as t from information_schema.tables where table_type = 'BASE TABLE' and table_schema not in ('pg_catalog', 'information_schema')`,
    );
    for (const { s, t } of tables.rows) {
      const rows = await db.query<{ r: string }>(`select t::text as r from ${pg.escapeIdentifier(s)}.${pg.escapeIdentifier(t)} t`);
      found.set(`sql:${s}.${t}`, rows.rows.map((r) => r.r).join('\n'));
    }
  } finally {
    await db.end();
  }
  // Every blob and every queue message in Azurite.
  const blobs = BlobServiceClient.fromConnectionString(stack.env.STORAGE_CONNECTION_STRING!);
  for await (const c of blobs.listContainers()) {
    const container = blobs.getContainerClient(c.name);
    for await (const b of container.listBlobsFlat()) found.set(`blob:${c.name}/${b.name}`, (await container.getBlobClient(b.name).downloadToBuffer()).toString('utf8'));
  }
  const queues = QueueServiceClient.fromConnectionString(stack.env.STORAGE_CONNECTION_STRING!);
  for await (const q of queues.listQueues()) {
    const messages = await queues.getQueueClient(q.name).peekMessages({ numberOfMessages: 32 });
    found.set(`queue:${q.name}`, messages.peekedMessageItems.map((m) => `${m.messageText}\n${Buffer.from(m.messageText, 'base64').toString('utf8')}`).join('\n'));
  }
  // Every Cosmos DB document.
  const agent = new Agent({ ca: cert.cert });
  const cosmos = new CosmosClient({ endpoint: stack.env.COSMOS_ENDPOINT!, key: stack.env.COSMOS_KEY!, agent });
  try {
    const { resources: dbs } = await cosmos.databases.readAll().fetchAll();
    for (const d of dbs) {
      const { resources: containers } = await cosmos.database(d.id).containers.readAll().fetchAll();
      for (const c of containers) {
        const { resources: items } = await cosmos.database(d.id).container(c.id).items.readAll().fetchAll();
        found.set(`cosmos:${d.id}/${c.id}`, JSON.stringify(items));
      }
    }
  } finally {
    cosmos.dispose();
    agent.destroy();
  }
  // Every rotation orchestration's history, inputs and outputs as the Durable runtime keeps them.
  const db2 = new pg.Client({ connectionString: stack.env.SQL_CONNECTION_STRING });
  await db2.connect();
  const instances = (await db2.query<{ i: string }>('select instance_id as i from secrets.rotations')).rows.map((r) => r.i);
  await db2.end();
  for (const id of instances) {
    const r = await fetch(`${host.url}/runtime/webhooks/durabletask/instances/${encodeURIComponent(id)}?showHistory=true&showHistoryOutput=true&showInput=true`);
    found.set(`durable:${id}`, await r.text());
  }
  found.set('logs', logs.join('\n'));
  found.set('telemetry', telemetry.join('\n'));
  return found;
}

describe('secret values', () => {
  it('appear nowhere but in Key Vault', async () => {
    const keys = await readDevIssuer(stack.env.AUTH_DEV_KEY_FILE!);
    const root = await mintDevToken(keys, { subject: 'leak-root', audience: 'api://runtime-platform', admin: true });
    expect((await call('POST', 'tenants', root, { id: 'leak', displayName: 'Leak' })).status).toBe(201);
    const env = await call('POST', 'tenants/leak/environments', root, { name: 'prod', kind: 'prod', region: 'westeurope' });
    const svc = await call('POST', `tenants/leak/environments/${env.body.id}/services`, root, { name: 'api', owner: 'team' });
    const vault = new SecretClient(stack.env.KEYVAULT_URL!, anyToken, { disableChallengeResourceVerification: true, tlsOptions: { ca: cert.cert } });

    // Bindings: generated initial values of every alphabet, and secrets that already exist.
    const consumers = [{ environmentId: env.body.id }, { environmentId: env.body.id, serviceId: svc.body.id }];
    const bindings: { id: string; name: string }[] = [];
    for (const [i, alphabet] of (['alphanumeric', 'hex', 'base64url', 'printable'] as const).entries()) {
      const name = `generated-${i}`;
      const r = await call('POST', 'tenants/leak/secret-bindings', root, {
        name,
        secretName: name,
        consumers,
        rotation: { intervalDays: 1, overlapHours: i % 2, generator: { kind: 'random', length: 32 + i * 8, alphabet } },
        initialValue: 'generate',
      });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      bindings.push({ id: r.body.id, name });
    }
    for (const name of ['existing-a', 'existing-doomed']) {
      await vault.setSecret(`leak--${name}`, `operator-set-${name}-${Math.random().toString(36).slice(2)}`);
      const r = await call('POST', 'tenants/leak/secret-bindings', root, {
        name,
        secretName: name,
        consumers,
        rotation: { intervalDays: null, generator: { kind: 'random', length: 48, alphabet: 'printable' } },
      });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      bindings.push({ id: r.body.id, name });
    }

    // Rotate every binding on demand, twice; one fails (its secret is gone from the vault).
    await (await vault.beginDeleteSecret('leak--existing-doomed', { intervalInMs: 10 })).pollUntilDone();
    for (let round = 0; round < 2; round++) {
      for (const b of bindings) {
        const r = await call('POST', `tenants/leak/secret-bindings/${b.id}/rotate`, root);
        expect(r.status, JSON.stringify(r.body)).toBe(202);
        const op = r.headers.get('operation-location')!.replace('/api/', '');
        const done = await until(() => call('GET', op, root), (x) => x.body?.status !== 'Running', `rotation of ${b.name}`);
        expect(done.body.status, b.name).toBe(b.name === 'existing-doomed' ? 'Failed' : 'Succeeded');
      }
    }

    // Every timer of the app (the outbox publisher, the rotation sweep, retention, housekeeping …).
    for (const f of host.functions.filter((x) => x.trigger.type === 'timerTrigger')) await runTimer(f.name);
    await until(async () => (await everything()).get('queue:' + (stack.env.EVENTS_QUEUE ?? 'runtime-events')) ?? '', (q) => q.includes('SecretRotated'), 'published events');

    // ---- Configurations -------------------------------------------------------------------------
    // Configurations referencing these bindings (`{"secretRef": "<name>"}`), published, synced and
    // diffed; every value the vault holds offered as a setting under a password-like name is
    // refused, and not repeated in the answer.
    const cfg = `tenants/leak/environments/${env.body.id}/services/${svc.body.id}/configuration`;
    const refs = Object.fromEntries(bindings.map((b) => [b.name, { secretRef: b.name }]));
    const v1 = await call('PUT', cfg, root, { settings: { logLevel: 'info', secrets: refs } });
    expect(v1.status, JSON.stringify(v1.body)).toBe(201);
    for (const value of await vaultValues(vault)) {
      for (const settings of [{ db: { password: value } }, { smtp: { pass: value } }]) {
        const r = await call('PUT', cfg, root, { settings }, { 'if-match': v1.headers.get('etag')! });
        expect(r.status).toBe(400);
        expect(r.body.error.code).toBe('SecretValueRefused');
        expect(JSON.stringify(r.body).includes(value)).toBe(false);
      }
    }
    expect((await call('GET', `${cfg}?consumer=leak-agent`, root)).status).toBe(200);
    const v2 = await call('PUT', cfg, root, { settings: { logLevel: 'debug', secrets: refs } }, { 'if-match': v1.headers.get('etag')! });
    expect(v2.status, JSON.stringify(v2.body)).toBe(200);
    expect((await call('GET', `${cfg}?consumer=leak-agent`, root, undefined, { 'if-none-match': v1.headers.get('etag')! })).status).toBe(200);
    expect((await call('GET', `${cfg}?consumer=leak-agent`, root, undefined, { 'if-none-match': v2.headers.get('etag')! })).status).toBe(304);
    expect((await call('GET', `${cfg}/diff`, root)).body.changed).toEqual([{ path: '/logLevel', from: 'info', to: 'debug' }]);
    const radius = await call('GET', `tenants/leak/secret-bindings/${bindings[0]!.id}/blast-radius`, root);
    expect(radius.body.configuration.configurationVersions).toHaveLength(2);
    // ----------------------------------------------------------------------------------------------

    await until(async () => telemetry.join('\n'), (t) => t.includes('SecretRotationFailed'), 'the SecretRotationFailed telemetry', 60_000);

    // Plant a canary in each store: the search must find it.
    await BlobServiceClient.fromConnectionString(stack.env.STORAGE_CONNECTION_STRING!).getContainerClient('deployment-artifacts').getBlockBlobClient('canary.txt').upload(CANARY, CANARY.length);
    const values = await vaultValues(vault);
    expect(values.length, 'values read back from the vault').toBeGreaterThanOrEqual(bindings.length * 2);

    const found = await everything();
    expect([...found.keys()].filter((k) => k.startsWith('sql:secrets.')).sort()).toEqual(
      expect.arrayContaining(['sql:secrets.bindings', 'sql:secrets.rotations', 'sql:secrets.outbox']),
    );
    expect(found.get('sql:secrets.rotations')).toContain('succeeded');
    expect(found.get('sql:configuration.configuration_versions')).toContain('secretRef');
    expect([...found.keys()].filter((k) => k.startsWith('durable:rotate:leak:')).length).toBe(bindings.length * 2);
    expect([...found].find(([k]) => k.startsWith('durable:'))?.[1]).toContain('secretRotationWriteVersion');
    expect(found.get('telemetry')).toContain('SecretRotationFailed');
    expect(found.get('logs')!.length).toBeGreaterThan(0);
    const hits = (needle: string) => [...found].filter(([, text]) => text.includes(needle)).map(([where]) => where);
    expect(hits(CANARY)).toEqual(['blob:deployment-artifacts/canary.txt']);
    const leaks = values.flatMap((v) => hits(v).map((where) => `${where} holds a value of length ${v.length}`));
    expect(leaks).toEqual([]);
  }, 300_000);
});
