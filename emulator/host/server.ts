/**
 * The local Functions host: serves a loaded app (see `loadFunctionsApp`) on one HTTP port and drives
 * it. This file puts the host together and owns its lifecycle (listen, the function listing, stop);
 * the parts are:
 *
 *   dispatch.ts   HTTP routing: HTTP triggers under the route prefix, the admin API, the Durable
 *                 Functions HTTP API, the landing page and 404s
 *   timers.ts     timer triggers on their NCRONTAB schedules
 *   admin.ts      the admin API (`POST /admin/functions/<name>`, ...)
 *   bindings.ts   the bindings the host provides besides triggers (durable client, HTTP output)
 *   durable/      the in-memory task hub that runs orchestrations, and its HTTP API
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { createAdminApi } from './admin.js';
import type { FunctionsApp, InvocationInput } from './app.js';
import { inputBindings, warnUnsupportedBindings } from './bindings.js';
import type { RpcInvocationResponse, RpcLogCategory, RpcLogLevel } from './core-types.js';
import { createDispatcher, errorJson, functionUrl, httpResponseLimitMs, httpRoutes, methodsOf } from './dispatch.js';
import { LocalTaskHub, validateTaskHubName } from './durable/task-hub.js';
import type { RegisteredFunction } from './functions-core.js';
import { isFunctionDisabled, readHostConfig, type HostConfig } from './host-config.js';
import { createTimers } from './timers.js';

type Env = Record<string, string | undefined>;

/** Options of {@link serveFunctionsApp}. */
export interface ServeOptions {
  /** Port to listen on; 0 picks a free one. Default 7071. */
  port?: number;
  /** Interface to bind. Default 127.0.0.1. */
  hostname?: string;
  /** App settings, for `%NAME%` references and `AzureWebJobs.<fn>.Disabled`. Default process.env. */
  env?: Env;
  /** Where host log lines go. Default: stdout. */
  log?: (line: string) => void;
  /** Also print the worker's debug/trace lines. */
  verbose?: boolean;
  /** Run timer triggers on their schedules (runOnStartup included). Default true. */
  runTimers?: boolean;
  /**
   * How long an HTTP response may take to start before the caller gets a 500, as from Azure's front
   * end. Default 230 seconds; tests pass a shorter limit.
   */
  httpResponseLimitMs?: number;
  /**
   * Where monitored timer schedules keep their status (Last/Next) between runs of the host, so an
   * occurrence missed while the host was down runs at start with isPastDue. In memory when unset.
   */
  timerStatusDir?: string;
}

/** A running local host. */
export interface FunctionsHost {
  /** Base URL, e.g. `http://127.0.0.1:7071`. */
  readonly url: string;
  readonly port: number;
  readonly config: HostConfig;
  /** The enabled functions the host serves. */
  readonly functions: readonly RegisteredFunction[];
  readonly taskHub: LocalTaskHub;
  /** The Core Tools-style listing of functions and their URLs. */
  describe(): string;
  /** Stops listening, stops timers and the task hub, runs `appTerminate` hooks. */
  stop(): Promise<void>;
}

const allMethods = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS', 'TRACE'];

function timestamp(): string {
  return new Date().toISOString();
}

/** An invocation that ran past host.json `functionTimeout`. */
export class FunctionTimeoutError extends Error {
  override name = 'FunctionTimeoutException';
}

/** A duration as .NET prints a TimeSpan: `hh:mm:ss` (with `d.` and a fraction when needed). */
export function formatTimeSpan(ms: number): string {
  const totalSeconds = Math.floor(ms / 1000);
  const days = Math.floor(totalSeconds / 86_400);
  const pad = (n: number) => String(n).padStart(2, '0');
  const hms = `${pad(Math.floor(totalSeconds / 3600) % 24)}:${pad(Math.floor(totalSeconds / 60) % 60)}:${pad(totalSeconds % 60)}`;
  const fraction = ms % 1000 ? `.${String(ms % 1000).padStart(3, '0')}0000` : '';
  return `${days ? `${days}.` : ''}${hms}${fraction}`;
}

function describeError(error: unknown): string {
  const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
  const cut = text.indexOf('\n\n$OutOfProcData$:');
  return cut >= 0 ? text.slice(0, cut) : text;
}

/**
 * Serves a loaded app (see `loadFunctionsApp`). Resolves once listening; rejects with a message
 * naming the port when it is taken.
 */
export async function serveFunctionsApp(app: FunctionsApp, options: ServeOptions = {}): Promise<FunctionsHost> {
  const env = options.env ?? process.env;
  const print = options.log ?? ((line: string) => process.stdout.write(`${line}\n`));
  const log = (line: string) => print(`[${timestamp()}] ${line}`);
  const config = readHostConfig(app.functionAppDirectory, env);
  for (const warning of config.warnings) log(`Warning: ${warning}`);

  app.setLogSink((level: RpcLogLevel, category: RpcLogCategory, message: string) => {
    if (category === 'user' || options.verbose || level === 'warning' || level === 'error' || level === 'critical') log(message);
  });

  const functions = app.functions.filter((f) => !isFunctionDisabled(f.name, env));
  const findFunction = (name: string) => functions.find((f) => f.name.toLowerCase() === name.toLowerCase());
  warnUnsupportedBindings(functions, log);

  let port = options.port ?? 7071;
  const hostname = options.hostname ?? '127.0.0.1';
  const publicOrigin = () => (env.WEBSITE_HOSTNAME ? `http://${env.WEBSITE_HOSTNAME}` : `http://localhost:${port}`);
  const rpcHost = hostname === '0.0.0.0' || hostname === '::' ? '127.0.0.1' : hostname.includes(':') ? `[${hostname}]` : hostname;

  const run = async (fn: RegisteredFunction, request: InvocationInput, reason: string): Promise<RpcInvocationResponse> => {
    const invocationId = request.invocationId ?? randomUUID();
    log(`Executing 'Functions.${fn.name}' (Reason='${reason}', Id=${invocationId})`);
    const started = performance.now();
    const duration = () => Math.round(performance.now() - started);
    // host.json functionTimeout, enforced as the WebJobs SDK's FunctionExecutor does: past the
    // limit the invocation fails with "Timeout value of <span> was exceeded by function:
    // Functions.<name>" (Azure/azure-webjobs-sdk, src/Microsoft.Azure.WebJobs.Host/Executors/FunctionExecutor.cs).
    // Azure then restarts the worker process; here the function's promise is abandoned instead.
    const limit = config.functionTimeoutMs;
    let timer: NodeJS.Timeout | undefined;
    const timedOut =
      limit === undefined
        ? undefined
        : new Promise<never>((_resolve, reject) => {
            timer = setTimeout(() => {
              const span = formatTimeSpan(limit);
              log(`Timeout value of ${span} exceeded by function 'Functions.${fn.name}' (Id: '${invocationId}'). Initiating cancellation.`);
              reject(new FunctionTimeoutError(`Timeout value of ${span} was exceeded by function: Functions.${fn.name}`));
            }, limit);
          });
    try {
      const invocation = app.invoke(fn, { ...request, invocationId });
      const response = timedOut ? await Promise.race([invocation, timedOut]) : await invocation;
      log(`Executed 'Functions.${fn.name}' (Succeeded, Id=${invocationId}, Duration=${duration()}ms)`);
      return response;
    } catch (error) {
      if (error instanceof FunctionTimeoutError) {
        log(`Executed 'Functions.${fn.name}' (Failed, Id=${invocationId}, Duration=${duration()}ms)`);
        log(`${error.message}. (The local host cannot stop the function's code; Azure restarts the worker process.)`);
        throw error;
      }
      log(`Executed 'Functions.${fn.name}' (Failed, Id=${invocationId}, Duration=${duration()}ms)`);
      log(`Exception while executing function: Functions.${fn.name}. Result: Failure\nException: ${describeError(error)}`);
      throw error;
    } finally {
      clearTimeout(timer);
    }
  };

  // Azure's Durable extension refuses to start with a task hub name Azure Storage cannot hold, and
  // with it the host: so does the local host, when the app uses Durable Functions.
  const durableTypes = new Set(['orchestrationtrigger', 'activitytrigger', 'entitytrigger', 'durableclient', 'orchestrationclient']);
  if (functions.some((f) => Object.values(f.bindings).some((b) => durableTypes.has(String(b.type).toLowerCase())))) {
    validateTaskHubName(config.durable.hubName);
  }
  const taskHub = new LocalTaskHub(
    { getFunction: findFunction, listFunctions: () => functions, run, log },
    { hubName: config.durable.hubName, overridableExistingInstanceStates: config.durable.overridableExistingInstanceStates },
  );
  const bindings = inputBindings({
    publicOrigin,
    rpcOrigin: () => `http://${rpcHost}:${port}`,
    taskHubName: taskHub.hubName,
    connectionName: config.durable.connectionName,
  });
  const routes = httpRoutes(functions);
  const timers = createTimers({ functions, env, run, inputBindings: bindings, log, statusDir: options.timerStatusDir });
  const urlOf = (fn: RegisteredFunction) => functionUrl(fn, publicOrigin(), config.routePrefix);
  const admin = createAdminApi({ functions, findFunction, functionUrl: urlOf, run, inputBindings: bindings, timers });
  const handle = createDispatcher({
    app,
    config,
    routes,
    taskHub,
    run,
    inputBindings: bindings,
    admin,
    hostname,
    port: () => port,
    httpResponseLimitMs: options.httpResponseLimitMs ?? httpResponseLimitMs,
  });

  const server = http.createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      log(`Error: ${describeError(error)}`);
      if (!res.headersSent) errorJson(res, 500, 'InternalError', 'The local host failed to handle the request.');
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 5_000;

  await new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      server.off('listening', onListening);
      if (error.code === 'EADDRINUSE') reject(new Error(`Port ${port} on ${hostname} is already in use (is another host running?)`));
      else reject(error);
    };
    const onListening = () => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, hostname);
  });
  port = (server.address() as AddressInfo).port;

  if (options.runTimers !== false) timers.start();

  const describe = () => {
    const lines = ['', 'Functions:', ''];
    for (const fn of functions) {
      if (fn.trigger.type.toLowerCase() === 'httptrigger') {
        const methods = methodsOf(fn) ?? allMethods;
        lines.push(`        ${fn.name}: [${methods.join(',')}] ${urlOf(fn)}`, '');
      } else {
        const schedule = timers.schedules.get(fn.name);
        lines.push(`        ${fn.name}: ${fn.trigger.type}${schedule ? ` (${schedule.expression})` : ''}`, '');
      }
    }
    const disabled = app.functions.filter((f) => !functions.includes(f));
    for (const fn of disabled) lines.push(`        ${fn.name}: disabled (AzureWebJobs.${fn.name}.Disabled)`, '');
    return lines.join('\n');
  };

  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= (async () => {
      timers.stop();
      taskHub.stop();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      // Requests still in flight (a long poll, a hung function) get a moment, then are cut.
      const force = setTimeout(() => server.closeAllConnections(), 2_000);
      await closed;
      clearTimeout(force);
      await app.terminate();
    })();
    return stopped;
  };

  return {
    url: `http://${rpcHost}:${port}`,
    get port() {
      return port;
    },
    config,
    functions,
    taskHub,
    describe,
    stop,
  };
}
