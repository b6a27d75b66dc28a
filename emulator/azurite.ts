/**
 * Azurite (Blob, Queue, Table): the local stand-in for Azure Storage, used by the app (artifacts,
 * events queue) and by Durable Functions' Azure Storage task hub.
 *
 * It runs as a child process of Azurite's own CLI rather than in this process: Azurite's server
 * classes are internal (no types, configuration through long positional constructors, global
 * logger state), while its command line is its supported interface. The child learns the ports it
 * actually got from its own "listening at" lines, so port 0 works, and it stops itself if this
 * process dies (its IPC channel closes), so no Azurite is left behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';

/** The development storage account (public, the same in every Azurite and emulator). */
export const DEV_ACCOUNT_NAME = 'devstoreaccount1';
export const DEV_ACCOUNT_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

/** Options for {@link startAzurite}. */
export interface AzuriteOptions {
  /** Directory for Azurite's data. Omitted: in memory, gone when stopped. */
  location?: string;
  /** Default `127.0.0.1`. */
  host?: string;
  /** Ports; 0 means any free port. Defaults: the standard 10000, 10001, 10002. */
  blobPort?: number;
  queuePort?: number;
  tablePort?: number;
  /** Azurite's console output, line by line. */
  log?: (line: string) => void;
  /** How long to wait for Azurite to listen. Default 30 s. */
  startTimeoutInMs?: number;
}

/** A running Azurite. */
export interface AzuriteServer {
  blobPort: number;
  queuePort: number;
  tablePort: number;
  blobEndpoint: string;
  queueEndpoint: string;
  tableEndpoint: string;
  /** The development-storage connection string for the actual ports. */
  connectionString: string;
  stop(): Promise<void>;
}

/** Raised when Azurite cannot start; `code` is `EADDRINUSE` when a port is taken. */
export class AzuriteStartError extends Error {
  override name = 'AzuriteStartError';
  constructor(
    message: string,
    readonly code?: string,
    readonly port?: number,
  ) {
    super(message);
  }
}

const require = createRequire(import.meta.url);
/**
 * Loaded into the child before Azurite: when the IPC channel closes (this process stopped it, or
 * died) the child sends itself SIGTERM, on which Azurite closes its servers and saves its data.
 * Closing the channel is also how {@link stopChild} stops it: an open channel would keep the
 * child alive after Azurite's shutdown.
 */
const WATCH_PARENT = "data:text/javascript,process.on('disconnect',()=>process.kill(process.pid,'SIGTERM'))";
const LISTENING = /Azurite (Blob|Queue|Table) service is successfully listening at https?:\/\/\S+?:(\d+)/;

/** Starts Azurite and resolves once all three services listen. */
export async function startAzurite(options: AzuriteOptions = {}): Promise<AzuriteServer> {
  const host = options.host ?? '127.0.0.1';
  const args = [
    '--blobHost', host, '--blobPort', String(options.blobPort ?? 10000),
    '--queueHost', host, '--queuePort', String(options.queuePort ?? 10001),
    '--tableHost', host, '--tablePort', String(options.tablePort ?? 10002),
    '--silent', '--skipApiVersionCheck', '--loose', '--disableTelemetry',
  ];
  if (options.location) {
    await mkdir(options.location, { recursive: true });
    args.push('--location', options.location);
  } else {
    args.push('--inMemoryPersistence');
  }

  const bin = require.resolve('azurite/dist/src/azurite.js');
  const child = spawn(process.execPath, ['--import', WATCH_PARENT, bin, ...args], {
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    env: { ...process.env, AZURITE_DB: undefined },
  });
  // The IPC channel exists only to tell the child when this process goes away.
  child.unref();
  child.channel?.unref();

  const ports = await waitUntilListening(child, options);
  const urlHost = host.includes(':') ? `[${host}]` : host;
  const endpoint = (port: number) => `http://${urlHost}:${port}/${DEV_ACCOUNT_NAME}`;
  const blobEndpoint = endpoint(ports.Blob);
  const queueEndpoint = endpoint(ports.Queue);
  const tableEndpoint = endpoint(ports.Table);
  return {
    blobPort: ports.Blob,
    queuePort: ports.Queue,
    tablePort: ports.Table,
    blobEndpoint,
    queueEndpoint,
    tableEndpoint,
    connectionString:
      `DefaultEndpointsProtocol=http;AccountName=${DEV_ACCOUNT_NAME};AccountKey=${DEV_ACCOUNT_KEY};` +
      `BlobEndpoint=${blobEndpoint};QueueEndpoint=${queueEndpoint};TableEndpoint=${tableEndpoint};`,
    stop: () => stopChild(child),
  };
}

type Service = 'Blob' | 'Queue' | 'Table';

function waitUntilListening(child: ChildProcess, options: AzuriteOptions): Promise<Record<Service, number>> {
  return new Promise((resolve, reject) => {
    const ports: Partial<Record<Service, number>> = {};
    const output: string[] = [];
    let settled = false;
    const fail = (error: AzuriteStartError) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      void stopChild(child).finally(() => reject(error));
    };
    const timer = setTimeout(
      () => fail(new AzuriteStartError(`Azurite did not start within ${(options.startTimeoutInMs ?? 30_000) / 1000}s:\n${output.join('\n')}`)),
      options.startTimeoutInMs ?? 30_000,
    );
    const onLine = (line: string) => {
      if (!line.trim()) return;
      options.log?.(line);
      if (!settled) output.push(line);
      const inUse = /EADDRINUSE.*?:(\d+)/.exec(line);
      if (inUse) {
        const port = Number(inUse[1]);
        fail(new AzuriteStartError(`Azurite: port ${port} is already in use`, 'EADDRINUSE', port));
        return;
      }
      const m = LISTENING.exec(line);
      if (!m) return;
      ports[m[1] as Service] = Number(m[2]);
      if (ports.Blob && ports.Queue && ports.Table && !settled) {
        settled = true;
        clearTimeout(timer);
        resolve(ports as Record<Service, number>);
      }
    };
    lines(child.stdout, onLine);
    lines(child.stderr, onLine);
    child.once('error', (error) => fail(new AzuriteStartError(`Azurite could not be started: ${error.message}`)));
    child.once('exit', (code, signal) =>
      fail(new AzuriteStartError(`Azurite exited during start (${signal ?? `code ${code}`}):\n${output.join('\n')}`)),
    );
  });
}

/** Asks Azurite to shut down (closing the IPC channel, see WATCH_PARENT); kills it after 10 s. */
function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  child.ref(); // keep this process alive until Azurite has saved its data and exited
  return new Promise((resolve) => {
    const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => {
      clearTimeout(killer);
      resolve();
    });
    if (child.connected) child.disconnect();
    else child.kill('SIGTERM');
  });
}

function lines(stream: NodeJS.ReadableStream | null, onLine: (line: string) => void): void {
  if (!stream) return;
  let rest = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    const parts = (rest + chunk).split(/\r?\n/);
    rest = parts.pop() ?? '';
    parts.forEach(onLine);
  });
  stream.on('end', () => rest && onLine(rest));
}
