/**
 * Starting the local host in a child process, so that the app's environment (settings,
 * NODE_EXTRA_CA_CERTS for the local TLS stand-ins) applies from process start, exactly as when
 * the Functions host starts a worker.
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { BindingInfo } from './core-types.js';
import type { RegisteredFunction } from './functions-core.js';

/** A registered function without its callback (what crosses the process boundary). */
export interface FunctionSummary {
  name: string;
  functionId: string;
  bindings: Record<string, BindingInfo>;
  trigger: BindingInfo & { name: string };
}

/** Messages from the host process over IPC. */
export type HostMessage = { type: 'ready'; url: string; port: number; functions: FunctionSummary[] } | { type: 'error'; message: string };

/** Strips a registration down to its metadata. */
export function summarize(fn: RegisteredFunction): FunctionSummary {
  return { name: fn.name, functionId: fn.functionId, bindings: { ...fn.bindings }, trigger: { ...fn.trigger } };
}

/** Options of {@link startHost}. */
export interface StartHostOptions {
  /** The app's entry module, e.g. `dist/main.js`. */
  entry: string;
  /** Port; 0 picks a free one. Default: local.settings.json `Host.LocalHttpPort`, else 7071. */
  port?: number;
  /** Interface to bind. Default 127.0.0.1. */
  hostname?: string;
  /** Variables for the host process, over this process's environment (undefined removes one). */
  env?: Record<string, string | undefined>;
  /** Directory holding host.json and local.settings.json. Default: the current directory. */
  functionAppDirectory?: string;
  /** Receives each line the host prints. Default: copied to this process's stdout/stderr. */
  onOutput?: (line: string, stream: 'stdout' | 'stderr') => void;
  verbose?: boolean;
  /** Run timers on their schedules. Default true. */
  runTimers?: boolean;
  /** How long to wait for the host to listen. Default 60 s. */
  readyTimeoutMs?: number;
  /** How long an HTTP response may take to start before a 500 (Azure: 230 s). For tests. */
  httpResponseLimitMs?: number;
  /** Where monitored timer schedules keep their status between runs (npm start: `.local/timers`). */
  timerStatusDir?: string;
}

/** A host running in a child process. */
export interface StartedHost {
  /** Base URL, e.g. `http://127.0.0.1:7071`. */
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  /** The enabled functions, as the host indexed them. */
  readonly functions: readonly FunctionSummary[];
  /** Resolves with the exit code when the process ends. */
  readonly exited: Promise<number | null>;
  /** Stops the host (SIGTERM, then SIGKILL after 10 s) and waits for it to exit. */
  stop(): Promise<void>;
}

const cliPath = fileURLToPath(new URL('./cli.ts', import.meta.url));

/**
 * Starts the local host for `entry` in a child process and resolves once it listens. Rejects with
 * the host's own message when it cannot start (port taken, entry missing, app threw on load).
 */
export async function startHost(options: StartHostOptions): Promise<StartedHost> {
  const tsxLoader = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  const args = [
    '--enable-source-maps',
    '--import',
    tsxLoader,
    cliPath,
    '--entry',
    path.resolve(options.entry),
    '--dir',
    path.resolve(options.functionAppDirectory ?? '.'),
    '--host',
    options.hostname ?? '127.0.0.1',
  ];
  if (options.port !== undefined) args.push('--port', String(options.port));
  if (options.verbose) args.push('--verbose');
  if (options.runTimers === false) args.push('--no-timers');
  if (options.timerStatusDir !== undefined) args.push('--timer-status-dir', path.resolve(options.timerStatusDir));
  if (options.httpResponseLimitMs !== undefined) args.push('--http-response-limit-ms', String(options.httpResponseLimitMs));

  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries({ ...process.env, ...options.env })) if (value !== undefined) env[key] = value;

  const child = spawn(process.execPath, args, {
    cwd: path.resolve(options.functionAppDirectory ?? '.'),
    env,
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  const output =
    options.onOutput ?? ((line: string, stream: 'stdout' | 'stderr') => (stream === 'stdout' ? process.stdout : process.stderr).write(`${line}\n`));
  const recent: string[] = [];
  for (const stream of ['stdout', 'stderr'] as const) {
    const input = child[stream];
    if (!input) continue;
    createInterface({ input }).on('line', (line) => {
      recent.push(line);
      if (recent.length > 40) recent.shift();
      output(line, stream);
    });
  }
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  const ready = await new Promise<Extract<HostMessage, { type: 'ready' }>>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`The host did not start within ${options.readyTimeoutMs ?? 60_000} ms:\n${recent.join('\n')}`));
    }, options.readyTimeoutMs ?? 60_000);
    child.on('message', (message: HostMessage) => {
      if (message.type === 'ready') {
        clearTimeout(timer);
        resolve(message);
      } else if (message.type === 'error') {
        clearTimeout(timer);
        reject(new Error(message.message));
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`The host exited (code ${code}) before it was ready:\n${recent.join('\n')}`));
    });
  });

  let stopping: Promise<void> | undefined;
  return {
    url: ready.url,
    port: ready.port,
    pid: child.pid ?? -1,
    functions: ready.functions,
    exited,
    stop() {
      stopping ??= (async () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.kill('SIGTERM');
        const force = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(force);
      })();
      return stopping;
    },
  };
}
