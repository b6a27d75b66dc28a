/**
 * The whole stack, in memory on free ports: the settings it returns work with the app's settings
 * loader and the real SDKs, what the app expects exists, child processes trust the certificate
 * through NODE_EXTRA_CA_CERTS, and a taken port or a running stack fail by name.
 */
import { CosmosClient } from '@azure/cosmos';
import type { TokenCredential } from '@azure/identity';
import { SecretClient } from '@azure/keyvault-secrets';
import { BlobServiceClient } from '@azure/storage-blob';
import { QueueServiceClient } from '@azure/storage-queue';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { Agent } from 'node:https';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSettings } from '../shared/settings.js';
import { DRIFT_SNAPSHOT_TTL_SECONDS } from '../shared/storage-map.js';
import { startStack, type Stack } from './stack.js';
import { wipeLocalState } from './wipe.js';

const anyToken: TokenCredential = { getToken: async () => ({ token: 'local', expiresOnTimestamp: Date.now() + 3_600_000 }) };
const ALL_PORTS_FREE = { postgres: 0, blob: 0, queue: 0, table: 0, cosmos: 0, keyVault: 0, appInsights: 0 };

let dir: string;
let stack: Stack;
let ca: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'stack-test-'));
  await writeFile(join(dir, 'local.settings.json'), JSON.stringify({ IsEncrypted: false, Values: { MY_OWN: 'kept' } }));
  stack = await startStack({
    stateDir: join(dir, 'state'),
    cacheDir: '.local/cache',
    persistent: false,
    ports: ALL_PORTS_FREE,
    postgres: 'pglite',
    localSettingsFile: join(dir, 'local.settings.json'),
    log: () => undefined,
  });
  ca = await readFile(stack.env.NODE_EXTRA_CA_CERTS ?? '', 'utf8');
});

afterAll(async () => {
  await stack?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('local stack', () => {
  it('returns every app setting, accepted by the app’s settings loader', () => {
    expect(Object.keys(stack.env).sort()).toEqual(
      [
        'APPLICATIONINSIGHTS_CONNECTION_STRING',
        'ARTIFACTS_CONTAINER',
        'AUTH_AUDIENCE',
        'AUTH_DEV_ALLOW',
        'AUTH_DEV_KEY_FILE',
        'AUTH_MODE',
        'AzureWebJobsStorage',
        'COSMOS_DATABASE',
        'COSMOS_ENDPOINT',
        'COSMOS_KEY',
        'DURABLE_TASK_HUB',
        'EVENTS_QUEUE',
        'FUNCTIONS_WORKER_RUNTIME',
        'IMAGE_REGISTRIES',
        'KEYVAULT_URL',
        'NODE_EXTRA_CA_CERTS',
        'SQL_CONNECTION_STRING',
        'STORAGE_CONNECTION_STRING',
      ].sort(),
    );
    const settings = loadSettings(stack.env);
    expect(settings.auth.mode).toBe('dev');
    expect(stack.env.FUNCTIONS_WORKER_RUNTIME).toBe('node');
    expect(stack.env.SQL_CONNECTION_STRING).toBe(`postgres://postgres@127.0.0.1:${stack.ports.postgres}/postgres`);
    expect(stack.env.KEYVAULT_URL).toBe(`https://127.0.0.1:${stack.ports.keyVault}`);
    expect(stack.env.APPLICATIONINSIGHTS_CONNECTION_STRING).toBe(
      `InstrumentationKey=${stack.appInsights.instrumentationKey};IngestionEndpoint=https://127.0.0.1:${stack.ports.appInsights}/`,
    );
  });

  it('writes local.settings.json in the Core Tools format, keeping values added by hand', async () => {
    const file = JSON.parse(await readFile(join(dir, 'local.settings.json'), 'utf8')) as { IsEncrypted: boolean; Values: Record<string, string> };
    expect(file.IsEncrypted).toBe(false);
    expect(file.Values).toMatchObject({ ...stack.env, MY_OWN: 'kept' });
  });

  it('creates the dev issuer key', async () => {
    expect((await stat(stack.env.AUTH_DEV_KEY_FILE ?? '')).isFile()).toBe(true);
  });

  it('has created the Cosmos database and container, the Blob container and the events queue', async () => {
    const settings = loadSettings(stack.env);
    const agent = new Agent({ ca });
    const cosmos = new CosmosClient({ endpoint: settings.cosmos.endpoint ?? '', key: settings.cosmos.key, agent });
    try {
      const { resource } = await cosmos.database(settings.cosmos.database).container('drift-snapshots').read();
      expect(resource?.defaultTtl).toBe(DRIFT_SNAPSHOT_TTL_SECONDS);
    } finally {
      cosmos.dispose();
      agent.destroy();
    }
    const storage = settings.storage.connectionString ?? '';
    expect(await BlobServiceClient.fromConnectionString(storage).getContainerClient(settings.storage.artifactsContainer).exists()).toBe(true);
    expect(await QueueServiceClient.fromConnectionString(storage).getQueueClient(settings.storage.eventsQueue).exists()).toBe(true);
  });

  it('serves PostgreSQL and Key Vault to the real clients', async () => {
    const client = new pg.Client({ connectionString: stack.env.SQL_CONNECTION_STRING });
    await client.connect();
    expect((await client.query<{ one: number }>('select 1 as one')).rows[0]?.one).toBe(1);
    await client.end();

    const secrets = new SecretClient(stack.env.KEYVAULT_URL ?? '', anyToken, {
      disableChallengeResourceVerification: true,
      tlsOptions: { ca },
    });
    await secrets.setSecret('stack-probe', 'v');
    expect((await secrets.getSecret('stack-probe')).value).toBe('v');
  });

  it('lets a process started with its env trust the stand-ins’ certificate through NODE_EXTRA_CA_CERTS', async () => {
    const probe = `
      const https = require('node:https');
      const get = (u) => new Promise((ok, fail) => https.get(u, (r) => { r.resume(); ok(r.statusCode); }).on('error', fail));
      const ingestion = /IngestionEndpoint=([^;]+)/.exec(process.env.APPLICATIONINSIGHTS_CONNECTION_STRING)[1];
      Promise.all([get(process.env.KEYVAULT_URL + '/secrets?api-version=7.5'), get(process.env.COSMOS_ENDPOINT), get(ingestion)])
        .then((s) => console.log(s.join(' ')), (e) => { console.log(e.code); process.exit(1); });`;
    const { stdout } = await promisify(execFile)(process.execPath, ['-e', probe], { env: { PATH: process.env.PATH, ...stack.env } });
    // 401: the vault's authentication challenge; Cosmos answers the account read; the telemetry
    // capture server its summary. All over verified TLS.
    expect(stdout.trim()).toMatch(/^401 \d{3} 200$/);
  });

  it('fails by name when a port is taken', async () => {
    const blocker: Server = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    try {
      const attempt = startStack({
        stateDir: join(dir, 'other'),
        persistent: false,
        ports: { ...ALL_PORTS_FREE, cosmos: port },
        postgres: 'pglite',
        log: () => undefined,
      });
      await expect(attempt).rejects.toMatchObject({ code: 'PORT_IN_USE', port });
      await expect(attempt).rejects.toThrow(new RegExp(`Port ${port} \\(Cosmos DB stand-in\\) is already in use\\. Another local stack may be running`));
    } finally {
      blocker.close();
    }
  });

  it('refuses a second stack on the same state, and wipe refuses while it runs', async () => {
    const state = join(dir, 'locked');
    await mkdir(state, { recursive: true });
    const lock = { pid: process.pid, startedAt: new Date().toISOString(), ports: ALL_PORTS_FREE };
    await writeFile(join(state, 'stack.lock'), JSON.stringify(lock));

    await expect(startStack({ stateDir: state, ports: ALL_PORTS_FREE })).rejects.toMatchObject({ code: 'STACK_RUNNING' });
    await expect(wipeLocalState(state)).rejects.toThrow(/A local stack is running/);
    expect((await stat(state)).isDirectory()).toBe(true);

    // A lock left by a process that is gone does not count.
    const { pid } = await new Promise<{ pid: number }>((resolve) => {
      const child = execFile(process.execPath, ['-e', '']);
      child.once('exit', () => resolve({ pid: child.pid ?? 0 }));
    });
    await writeFile(join(state, 'stack.lock'), JSON.stringify({ ...lock, pid }));
    expect(await wipeLocalState(state)).toBe(true);
    await expect(stat(state)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
