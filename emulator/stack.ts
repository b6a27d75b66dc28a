/**
 * The local stack: every Azure dependency of the app, replaced by a local stand-in that speaks the
 * real protocol to the real SDK, started together, with the app settings that point at them.
 *
 *   PostgreSQL  PGlite over the wire protocol (or any PostgreSQL: SQL_CONNECTION_STRING)   :54329
 *   Storage     Azurite Blob / Queue / Table (artifacts, events queue, Durable task hub)  :10000-10002
 *   Cosmos DB   @vercel/cosmosdb-server over HTTPS                                        :8081
 *   Key Vault   the project's secrets stand-in over HTTPS                                 :8443
 *   Registry    docker-registry (CNCF distribution 2.8, OCI Distribution API), when installed :5000
 *   App Insights a capture server for the telemetry ingestion API over HTTPS               :8444
 *
 * State lives under `.local/` (git-ignored): `pglite/`, `azurite/`, `keyvault/`, the TLS
 * certificate in `certs/`, the dev issuer's key, and `appinsights/telemetry.jsonl` (what the app
 * sent to Application Insights in the current run). Cosmos DB keeps nothing across restarts. A lock
 * file (`.local/stack.lock`) says a stack is using that state; `npm run local:wipe` refuses to
 * delete it while the stack runs. docs/local-stack.md has the details and the stand-ins' limits.
 */
import { CosmosClient } from '@azure/cosmos';
import { BlobServiceClient } from '@azure/storage-blob';
import { QueueServiceClient } from '@azure/storage-queue';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { Agent } from 'node:https';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { ensureDevIssuer } from '../shared/auth/dev-issuer.js';
import { loadSettings, type Settings } from '../shared/settings.js';
import { storageMap, DRIFT_SNAPSHOT_TTL_SECONDS } from '../shared/storage-map.js';
import { startAppInsightsCapture, type AppInsightsCapture } from './appinsights/server.js';
import { startAzurite, type AzuriteServer } from './azurite.js';
import { ensureLocalCert, type LocalCert } from './certs.js';
import { startCosmos, type CosmosServer } from './cosmos.js';
import { startKeyVaultServer, type KeyVaultServer } from './keyvault/server.js';
import { startPglite, type PgliteServer } from './pglite.js';
import { ensureRegistryBinary, startRegistry } from './registry.js';

/** The stand-ins' ports. 0 means any free port (tests). */
export interface StackPorts {
  postgres: number;
  blob: number;
  queue: number;
  table: number;
  cosmos: number;
  keyVault: number;
  appInsights: number;
}

/** Default ports: Azurite's and the Cosmos DB emulator's standard ones; PostgreSQL off 5432. */
export const DEFAULT_PORTS: Readonly<StackPorts> = {
  postgres: 54329,
  blob: 10000,
  queue: 10001,
  table: 10002,
  cosmos: 8081,
  keyVault: 8443,
  appInsights: 8444,
};

/** Options for {@link startStack}. */
export interface StackOptions {
  /** Where state lives. Default `.local`. */
  stateDir?: string;
  /** Where caches live (PGlite's initdb template). Default `<stateDir>/cache`. */
  cacheDir?: string;
  /**
   * Keep data on disk under `stateDir` (default). `false`: PGlite, Azurite and Key Vault keep
   * everything in memory (tests); only the certificate and the dev issuer key are written.
   */
  persistent?: boolean;
  /**
   * Ports to listen on; missing ones take {@link DEFAULT_PORTS} — except when every port given is
   * 0 (tests asking for free ports): then the missing ones are free ports too.
   */
  ports?: Partial<StackPorts>;
  /**
   * The PostgreSQL to use: `'pglite'` (embedded), or a server's connection string. Default: the
   * `SQL_CONNECTION_STRING` environment variable if set, else PGlite.
   */
  postgres?: 'pglite' | { connectionString: string };
  /**
   * Where to write the Core Tools settings file (`func start` reads it), or `false` for none.
   * Default `local.settings.json` when persistent, none otherwise.
   */
  localSettingsFile?: string | false;
  /** Where the stand-ins' addresses and warnings go. Default: stdout. */
  log?: (line: string) => void;
  /**
   * The container registry's port (0: any free port), or `false` for none. Default 5000 when
   * persistent, 0 otherwise. Without the `docker-registry` binary the stack runs without one.
   */
  registryPort?: number | false;
}

/** A running stack. */
export interface Stack {
  /** Every app setting pointing at the stand-ins (names as in shared/settings.ts). */
  env: Record<string, string>;
  /** The ports actually used (0 for PostgreSQL when an external server is used). */
  ports: StackPorts;
  /** What the app sent to Application Insights (the capture server behind the connection string). */
  appInsights: AppInsightsCapture;
  /** Stops everything this stack started and releases the state directory. */
  stop(): Promise<void>;
}

/** Raised when the stack cannot start; the message says what to do. */
export class StackError extends Error {
  override name = 'StackError';
  constructor(
    message: string,
    /** `PORT_IN_USE` or `STACK_RUNNING`. */
    readonly code: 'PORT_IN_USE' | 'STACK_RUNNING',
    readonly port?: number,
  ) {
    super(message);
  }
}

/** The lock file a running stack keeps in its state directory. */
export interface StackLock {
  pid: number;
  startedAt: string;
  ports: StackPorts;
}

const LOCK_FILE = 'stack.lock';
const SERVICE_NAMES: Record<keyof StackPorts, string> = {
  postgres: 'PostgreSQL, PGlite',
  blob: 'Azurite Blob',
  queue: 'Azurite Queue',
  table: 'Azurite Table',
  cosmos: 'Cosmos DB stand-in',
  keyVault: 'Key Vault stand-in',
  appInsights: 'Application Insights capture server',
};
const HOST = '127.0.0.1';

/**
 * Starts the stand-ins, creates what the app expects to exist (Cosmos database and container,
 * Blob container, events queue), creates the dev issuer's key, and returns the app settings.
 * Fails with a {@link StackError} naming the port when one is taken, or when another stack uses
 * the same state directory. On failure, whatever had started is stopped again.
 */
export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const log = options.log ?? ((line: string) => process.stdout.write(`${line}\n`));
  const persistent = options.persistent ?? true;
  const stateDir = resolve(options.stateDir ?? '.local');
  const given = Object.values(options.ports ?? {});
  const anyFree = given.length > 0 && given.every((p) => p === 0);
  const defaults: StackPorts = anyFree ? { postgres: 0, blob: 0, queue: 0, table: 0, cosmos: 0, keyVault: 0, appInsights: 0 } : DEFAULT_PORTS;
  const wanted: StackPorts = { ...defaults, ...options.ports };
  const postgres = options.postgres ?? (process.env.SQL_CONNECTION_STRING ? { connectionString: process.env.SQL_CONNECTION_STRING } : 'pglite');

  await mkdir(stateDir, { recursive: true });
  if (persistent) await acquireLock(stateDir);
  const stops: (() => Promise<void>)[] = persistent ? [() => rm(join(stateDir, LOCK_FILE), { force: true })] : [];
  const stopAll = once(async () => {
    const errors: unknown[] = [];
    for (const stop of stops.reverse()) await stop().catch((e: unknown) => errors.push(e));
    if (errors.length) throw new AggregateError(errors, 'Some local stand-ins did not stop cleanly');
  });

  try {
    await assertPortsFree(postgres === 'pglite' ? wanted : { ...wanted, postgres: 0 });
    const cert = await ensureLocalCert(join(stateDir, 'certs'));
    const devKeyFile = join(stateDir, 'dev-issuer.jwk.json');
    await ensureDevIssuer(devKeyFile);

    const started = await Promise.allSettled([
      postgres === 'pglite'
        ? startPglite({
            host: HOST,
            port: wanted.postgres,
            dataDir: persistent ? join(stateDir, 'pglite') : undefined,
            templateCacheDir: options.cacheDir ?? join(stateDir, 'cache'),
            log,
          })
        : Promise.resolve(undefined),
      startAzurite({
        host: HOST,
        blobPort: wanted.blob,
        queuePort: wanted.queue,
        tablePort: wanted.table,
        location: persistent ? join(stateDir, 'azurite') : undefined,
      }),
      startCosmos({ tls: cert, host: HOST, port: wanted.cosmos }),
      startKeyVaultServer({ tls: cert, host: HOST, port: wanted.keyVault, stateFile: persistent ? join(stateDir, 'keyvault', 'state.json') : undefined }),
      startTelemetryCapture(cert, wanted.appInsights, persistent ? join(stateDir, 'appinsights', 'telemetry.jsonl') : undefined),
    ]);
    for (const s of started) {
      const service = s.status === 'fulfilled' ? s.value : undefined;
      if (service) stops.push(() => service.stop());
    }
    const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw explain(failed.reason, wanted);
    const [pg, azurite, cosmos, vault, appInsights] = started.map((s) => (s as PromiseFulfilledResult<unknown>).value) as [
      PgliteServer | undefined,
      AzuriteServer,
      CosmosServer,
      KeyVaultServer,
      AppInsightsCapture,
    ];

    const defaults = appDefaults();
    const env: Record<string, string> = {
      FUNCTIONS_WORKER_RUNTIME: 'node',
      AzureWebJobsStorage: azurite.connectionString,
      NODE_EXTRA_CA_CERTS: cert.certFile,
      SQL_CONNECTION_STRING: pg ? pg.connectionString : (postgres as { connectionString: string }).connectionString,
      STORAGE_CONNECTION_STRING: azurite.connectionString,
      ARTIFACTS_CONTAINER: defaults.storage.artifactsContainer,
      EVENTS_QUEUE: defaults.storage.eventsQueue,
      COSMOS_ENDPOINT: cosmos.endpoint,
      COSMOS_KEY: cosmos.key,
      COSMOS_DATABASE: defaults.cosmos.database,
      KEYVAULT_URL: vault.url,
      APPLICATIONINSIGHTS_CONNECTION_STRING: appInsights.connectionString,
      AUTH_MODE: 'dev',
      AUTH_DEV_ALLOW: 'local',
      AUTH_AUDIENCE: defaults.auth.audience,
      AUTH_DEV_KEY_FILE: devKeyFile,
      // host.json names the task hub as %DURABLE_TASK_HUB%, which Core Tools needs to find set.
      DURABLE_TASK_HUB: defaults.durableTaskHub,
    };
    // The container registry (optional: a native binary): image tags resolve against it.
    env.IMAGE_REGISTRIES = '';
    const registryPort = options.registryPort ?? (persistent ? 5000 : 0);
    if (registryPort !== false) {
      const binary = await ensureRegistryBinary(log);
      if (binary) {
        const registry = await startRegistry({ binary, port: registryPort });
        stops.push(() => registry.stop());
        env.IMAGE_REGISTRIES = registry.host;
        log(`Registry     http://${registry.host} (docker-registry, no authentication)`);
      } else {
        log('Registry     none: docker-registry is not installed, so image tags are not resolved (prod deployments take digests only)');
      }
    }
    const settings = loadSettings(env); // the app must accept exactly these settings

    await provision(settings, env, cert.cert);

    const ports: StackPorts = {
      postgres: pg?.port ?? 0,
      blob: azurite.blobPort,
      queue: azurite.queuePort,
      table: azurite.tablePort,
      cosmos: cosmos.port,
      keyVault: vault.port,
      appInsights: appInsights.port,
    };
    if (persistent) await writeLock(stateDir, ports);

    const settingsFile = options.localSettingsFile ?? (persistent ? 'local.settings.json' : false);
    if (settingsFile) await writeLocalSettings(settingsFile, env);

    log(`PostgreSQL   ${env.SQL_CONNECTION_STRING}${pg ? ` (PGlite, ${persistent ? 'data in .local/pglite' : 'in memory'})` : ''}`);
    log(`Blob         ${azurite.blobEndpoint}`);
    log(`Queue        ${azurite.queueEndpoint}`);
    log(`Table        ${azurite.tableEndpoint}`);
    log(`Cosmos DB    ${cosmos.endpoint} (in memory)`);
    log(`Key Vault    ${vault.url}`);
    log(`App Insights ${appInsights.url} (captured: ${persistent ? `.local/appinsights/telemetry.jsonl, ` : ''}GET ${appInsights.url}envelopes)`);
    if (settingsFile) log(`Settings     ${settingsFile}`);

    return { env, ports, appInsights, stop: stopAll };
  } catch (error) {
    await stopAll().catch(() => undefined);
    throw error;
  }
}

/** The telemetry capture server; a persistent stack's file holds the current run only. */
async function startTelemetryCapture(cert: LocalCert, port: number, file: string | undefined): Promise<AppInsightsCapture> {
  if (file) await rm(file, { force: true });
  return startAppInsightsCapture({ tls: cert, host: HOST, port, ...(file ? { file } : {}) });
}

/** The app's own defaults for the settings the stack writes out explicitly. */
function appDefaults(): Settings {
  return loadSettings({ AUTH_MODE: 'dev', AUTH_DEV_ALLOW: 'local', SQL_CONNECTION_STRING: 'postgres://defaults@127.0.0.1/defaults' });
}

/** Creates the Cosmos database and container, the Blob container and the events queue if missing. */
async function provision(settings: Settings, env: Record<string, string>, caCert: string): Promise<void> {
  const agent = new Agent({ ca: caCert, keepAlive: true });
  const cosmos = new CosmosClient({ endpoint: env.COSMOS_ENDPOINT ?? '', key: env.COSMOS_KEY ?? '', agent });
  try {
    const snapshots = storageMap.driftSnapshots;
    const { database } = await cosmos.databases.createIfNotExists({ id: settings.cosmos.database });
    await database.containers.createIfNotExists({
      id: snapshots.container,
      partitionKey: { paths: [snapshots.partitionKey] },
      defaultTtl: DRIFT_SNAPSHOT_TTL_SECONDS,
    });
    const storage = settings.storage.connectionString ?? '';
    await Promise.all([
      BlobServiceClient.fromConnectionString(storage).getContainerClient(settings.storage.artifactsContainer).createIfNotExists(),
      QueueServiceClient.fromConnectionString(storage).getQueueClient(settings.storage.eventsQueue).createIfNotExists(),
    ]);
  } finally {
    cosmos.dispose();
    agent.destroy();
  }
}

// ---- Ports ---------------------------------------------------------------------------------------

/** Checks every fixed port before starting anything, so a taken one fails fast and by name. */
async function assertPortsFree(ports: StackPorts): Promise<void> {
  for (const [key, port] of Object.entries(ports) as [keyof StackPorts, number][]) {
    if (port === 0) continue;
    const free = await new Promise<boolean>((done) => {
      const probe = createServer();
      probe.once('error', () => done(false));
      probe.listen(port, HOST, () => probe.close(() => done(true)));
    });
    if (!free) throw portInUse(key, port);
  }
}

function portInUse(key: keyof StackPorts, port: number): StackError {
  return new StackError(
    `Port ${port} (${SERVICE_NAMES[key]}) is already in use. Another local stack may be running ` +
      `(\`npm start\` or \`npm run stack\`): stop it, or start this one on other ports.`,
    'PORT_IN_USE',
    port,
  );
}

/** Turns a stand-in's listen error into a {@link StackError} naming the port. */
function explain(error: unknown, wanted: StackPorts): unknown {
  const e = error as { code?: string; port?: number; message?: string };
  if (e?.code !== 'EADDRINUSE') return error;
  const port = e.port ?? Number(/:(\d+)\b/.exec(e.message ?? '')?.[1]);
  const key = (Object.keys(wanted) as (keyof StackPorts)[]).find((k) => wanted[k] === port);
  return key ? portInUse(key, port) : error;
}

// ---- Lock file -----------------------------------------------------------------------------------

/** Reads the lock of a stack that is still running on `stateDir`, if any (stale locks are ignored). */
export async function readStackLock(stateDir = '.local'): Promise<StackLock | undefined> {
  let lock: StackLock;
  try {
    lock = JSON.parse(await readFile(join(resolve(stateDir), LOCK_FILE), 'utf8')) as StackLock;
  } catch {
    return undefined;
  }
  return typeof lock.pid === 'number' && isAlive(lock.pid) ? lock : undefined;
}

/** Takes the state directory's lock (created exclusively); a stale lock of a dead process is replaced. */
async function acquireLock(stateDir: string): Promise<void> {
  const file = join(stateDir, LOCK_FILE);
  const lock: StackLock = {
    pid: process.pid,
    startedAt: new Date().toISOString(),
    ports: { postgres: 0, blob: 0, queue: 0, table: 0, cosmos: 0, keyVault: 0, appInsights: 0 },
  };
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await writeFile(file, JSON.stringify(lock, null, 2), { flag: 'wx' });
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const running = await readStackLock(stateDir);
    if (running) {
      throw new StackError(
        `A local stack is already running on ${stateDir} (pid ${running.pid}, since ${running.startedAt}). ` +
          `Stop it first (Ctrl-C in its terminal). If no stack is running, delete ${file}.`,
        'STACK_RUNNING',
      );
    }
    await rm(file, { force: true }); // left behind by a stack that did not stop cleanly
  }
  throw new StackError(`Could not take the lock ${file}: another stack is starting on ${stateDir}.`, 'STACK_RUNNING');
}

async function writeLock(stateDir: string, ports: StackPorts): Promise<void> {
  const lock: StackLock = { pid: process.pid, startedAt: new Date().toISOString(), ports };
  await writeAtomically(join(stateDir, LOCK_FILE), JSON.stringify(lock, null, 2));
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

// ---- local.settings.json -------------------------------------------------------------------------

/**
 * Writes the Core Tools settings file. Values the stack does not manage (added by hand) are kept;
 * the stack's own values are replaced with the current ones.
 */
async function writeLocalSettings(file: string, env: Record<string, string>): Promise<void> {
  let existing: { Values?: Record<string, string> } & Record<string, unknown> = {};
  try {
    existing = JSON.parse(await readFile(file, 'utf8')) as typeof existing;
  } catch {
    // missing or unreadable: start from scratch
  }
  const content = { ...existing, IsEncrypted: false, Values: { ...existing.Values, ...env } };
  await writeAtomically(file, `${JSON.stringify(content, null, 2)}\n`);
}

async function writeAtomically(file: string, text: string): Promise<void> {
  const scratch = `${file}.${process.pid}.tmp`;
  await writeFile(scratch, text);
  await rename(scratch, file);
}

function once(fn: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | undefined;
  return () => (running ??= fn());
}
