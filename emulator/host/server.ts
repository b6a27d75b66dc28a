/**
 * The local Functions host: serves a loaded app's HTTP triggers under the route prefix, runs its
 * timers on their NCRONTAB schedules, answers the admin API (`POST /admin/functions/<name>`) and
 * the Durable Functions HTTP API, and drives orchestrations through the in-memory task hub.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { FunctionsApp, InvocationInput } from './app.js';
import type { RpcInvocationResponse, RpcLogCategory, RpcLogLevel, RpcParameterBinding, RpcTypedData } from './core-types.js';
import { clientInputData, durableWebhookPath } from './durable/client-binding.js';
import { handleDurableRequest } from './durable/http-api.js';
import { LocalTaskHub } from './durable/task-hub.js';
import { hostVersion, type RegisteredFunction } from './functions-core.js';
import { isFunctionDisabled, readHostConfig, resolveSettingRefs, type HostConfig } from './host-config.js';
import { headerRecord, toRpcHttp, writeRpcHttp } from './http-trigger.js';
import { parseSchedule, type TimerSchedule } from './ncrontab.js';
import { parseRouteTemplate, type RouteTemplate } from './routes.js';

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

const programmaticReason = 'This function was programmatically called via the host APIs.';
const maxRequestBodyBytes = 100 * 1024 * 1024;
const allMethods = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS', 'TRACE'];

interface HttpRoute {
  fn: RegisteredFunction;
  template: RouteTemplate;
  methods: string[] | undefined;
}

function timestamp(): string {
  return new Date().toISOString();
}

function errorJson(res: ServerResponse, status: number, code: string, message: string): void {
  const body = JSON.stringify({ error: { code, message } });
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'x-ms-error-code': code, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function describeError(error: unknown): string {
  const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
  const cut = text.indexOf('\n\n$OutOfProcData$:');
  return cut >= 0 ? text.slice(0, cut) : text;
}

async function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxRequestBodyBytes) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** W3C trace context for an invocation: the caller's trace id when it sent one, a new span id. */
function traceContextFor(req: IncomingMessage | undefined): InvocationInput['traceContext'] {
  const incoming = req?.headers.traceparent;
  const match = typeof incoming === 'string' ? /^00-([0-9a-f]{32})-[0-9a-f]{16}-([0-9a-f]{2})$/.exec(incoming) : null;
  const traceId = match?.[1] ?? randomBytes(16).toString('hex');
  const state = req?.headers.tracestate;
  return {
    traceParent: `00-${traceId}-${randomBytes(8).toString('hex')}-${match?.[2] ?? '01'}`,
    traceState: typeof state === 'string' ? state : '',
    attributes: {},
  };
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
  const warned = new Set<string>();
  for (const fn of functions) {
    for (const [bindingName, binding] of Object.entries(fn.bindings)) {
      const type = binding.type.toLowerCase();
      const known =
        binding === fn.bindings[fn.trigger.name] ||
        type === 'http' ||
        ((type === 'durableclient' || type === 'orchestrationclient') && binding.direction === 'in');
      if (!known && !warned.has(`${fn.name}/${bindingName}`)) {
        warned.add(`${fn.name}/${bindingName}`);
        log(`Warning: ${fn.name}: the local host does not provide '${binding.type}' ${binding.direction} bindings (binding '${bindingName}' is ignored).`);
      }
    }
  }

  let port = options.port ?? 7071;
  const hostname = options.hostname ?? '127.0.0.1';
  const publicOrigin = () => (env.WEBSITE_HOSTNAME ? `http://${env.WEBSITE_HOSTNAME}` : `http://localhost:${port}`);
  const rpcHost = hostname === '0.0.0.0' || hostname === '::' ? '127.0.0.1' : hostname.includes(':') ? `[${hostname}]` : hostname;

  const run = async (fn: RegisteredFunction, request: InvocationInput, reason: string): Promise<RpcInvocationResponse> => {
    const invocationId = request.invocationId ?? randomUUID();
    log(`Executing 'Functions.${fn.name}' (Reason='${reason}', Id=${invocationId})`);
    const started = performance.now();
    const duration = () => Math.round(performance.now() - started);
    try {
      const response = await app.invoke(fn, { ...request, invocationId });
      log(`Executed 'Functions.${fn.name}' (Succeeded, Id=${invocationId}, Duration=${duration()}ms)`);
      return response;
    } catch (error) {
      log(`Executed 'Functions.${fn.name}' (Failed, Id=${invocationId}, Duration=${duration()}ms)`);
      log(`Exception while executing function: Functions.${fn.name}. Result: Failure\nException: ${describeError(error)}`);
      throw error;
    }
  };

  const taskHub = new LocalTaskHub(
    { getFunction: findFunction, listFunctions: () => functions, run, log },
    { hubName: config.durable.hubName, overridableExistingInstanceStates: config.durable.overridableExistingInstanceStates },
  );

  /** Data of the non-trigger input bindings the host provides (the durable client). */
  const extraInputs = (fn: RegisteredFunction): RpcParameterBinding[] => {
    const out: RpcParameterBinding[] = [];
    for (const [name, binding] of Object.entries(fn.bindings)) {
      const type = binding.type.toLowerCase();
      if (binding.direction !== 'in' || name === fn.trigger.name) continue;
      if (type === 'durableclient' || type === 'orchestrationclient') {
        const data = clientInputData({
          publicOrigin: publicOrigin(),
          rpcOrigin: `http://${rpcHost}:${port}`,
          taskHubName: typeof binding.taskHub === 'string' && binding.taskHub ? binding.taskHub : taskHub.hubName,
          connectionName: config.durable.connectionName,
        });
        out.push({ name, data: { string: JSON.stringify(data) } });
      }
    }
    return out;
  };

  // ---- HTTP routes ------------------------------------------------------------------------------
  const routes: HttpRoute[] = [];
  for (const fn of functions) {
    if (fn.trigger.type.toLowerCase() !== 'httptrigger') continue;
    const route = typeof fn.trigger.route === 'string' ? fn.trigger.route : fn.name;
    const methods = Array.isArray(fn.trigger.methods) && fn.trigger.methods.length > 0 ? fn.trigger.methods.map((m) => String(m).toUpperCase()) : undefined;
    routes.push({ fn, template: parseRouteTemplate(route), methods });
  }
  routes.sort((a, b) => a.template.precedence - b.template.precedence);

  const httpOutput = (fn: RegisteredFunction, response: RpcInvocationResponse): RpcTypedData | null | undefined => {
    const ret = fn.bindings.$return;
    if (ret?.type.toLowerCase() === 'http') return response.returnValue;
    const named = response.outputData?.find((o) => o.name && fn.bindings[o.name]?.type.toLowerCase() === 'http');
    return named?.data;
  };

  const triggerMetadataFor = (req: IncomingMessage, url: URL, params: Record<string, string>): Record<string, RpcTypedData> => {
    const meta: Record<string, RpcTypedData> = {};
    for (const [key, value] of Object.entries(params)) meta[key] = { string: value };
    meta.Query = { json: JSON.stringify(Object.fromEntries(url.searchParams)) };
    meta.Headers = { json: JSON.stringify(headerRecord(req)) };
    return meta;
  };

  const invokeHttp = async (route: HttpRoute, req: IncomingMessage, res: ServerResponse, url: URL, params: Record<string, string>) => {
    const { fn } = route;
    const invocationId = randomUUID();
    const request: InvocationInput = {
      invocationId,
      triggerMetadata: triggerMetadataFor(req, url, params),
      traceContext: traceContextFor(req),
    };
    if (app.httpProxyUri) {
      await invokeStreamed(fn, req, res, url, request);
      return;
    }
    const body = await readBody(req);
    if (!body) {
      errorJson(res, 413, 'PayloadTooLarge', `Request body exceeds ${maxRequestBodyBytes} bytes.`);
      return;
    }
    request.inputData = [{ name: fn.trigger.name, data: { http: toRpcHttp(req, url, body, params) } }, ...extraInputs(fn)];
    let response: RpcInvocationResponse;
    try {
      response = await run(fn, request, programmaticReason);
    } catch {
      // Like the host: an unhandled error in an HTTP function is a bare 500.
      res.statusCode = 500;
      res.setHeader('content-length', 0);
      res.end();
      return;
    }
    const output = httpOutput(fn, response);
    if (!output?.http) {
      res.statusCode = 204;
      res.end();
      return;
    }
    writeRpcHttp(res, output.http, req.method ?? 'GET');
  };

  /** HTTP streaming (`app.setup({ enableHttpStream: true })`): the request goes through the library's proxy. */
  const invokeStreamed = async (fn: RegisteredFunction, req: IncomingMessage, res: ServerResponse, url: URL, request: InvocationInput) => {
    const invocationId = request.invocationId ?? randomUUID();
    const target = new URL(`${url.pathname}${url.search}`, app.httpProxyUri);
    const headers: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(req.headers)) if (value !== undefined) headers[name] = value;
    headers['x-ms-invocation-id'] = invocationId;
    headers['x-forwarded-host'] = req.headers.host ?? `${hostname}:${port}`;
    headers['x-forwarded-proto'] = 'http';
    let answered = false;
    let onAnswer: () => void = () => undefined;
    const answer = new Promise<void>((resolve) => (onAnswer = resolve));
    const proxyReq = http.request(target, { method: req.method, headers });
    proxyReq.on('response', (proxyRes) => {
      answered = true;
      onAnswer();
      const raw: string[] = [];
      for (let i = 0; i + 1 < proxyRes.rawHeaders.length; i += 2) {
        const name = proxyRes.rawHeaders[i] ?? '';
        if (!/^(connection|keep-alive|transfer-encoding)$/i.test(name)) raw.push(name, proxyRes.rawHeaders[i + 1] ?? '');
      }
      res.writeHead(proxyRes.statusCode ?? 200, raw);
      proxyRes.pipe(res);
    });
    proxyReq.on('error', () => {
      if (!answered && !res.headersSent) {
        res.statusCode = 500;
        res.end();
      }
    });
    req.pipe(proxyReq);
    request.inputData = [{ name: fn.trigger.name, data: { http: {} } }, ...extraInputs(fn)];
    let failed = false;
    try {
      await run(fn, { ...request, invocationId }, programmaticReason);
    } catch {
      failed = true;
    }
    if (!failed && !answered) {
      // The library has written its response to the proxy by now; it is on its way over loopback.
      // A function that returned nothing sends none, hence the bound on the wait.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([answer, new Promise<void>((resolve) => (timer = setTimeout(resolve, 2_000)))]);
      clearTimeout(timer);
    }
    if (!answered) {
      proxyReq.destroy();
      if (!res.headersSent) {
        res.statusCode = failed ? 500 : 204;
        res.setHeader('content-length', 0);
        res.end();
      }
    }
  };

  // ---- Timers -----------------------------------------------------------------------------------
  const timerHandles = new Set<NodeJS.Timeout>();
  const lastRun = new Map<string, Date>();
  let stopping = false;
  const timerInfo = (fn: RegisteredFunction, scheduled: Date, next: Date | undefined, isPastDue: boolean) => {
    const last = lastRun.get(fn.name);
    return {
      Schedule: { AdjustForDST: true },
      ScheduleStatus: { Last: (last ?? new Date(0)).toISOString(), Next: (next ?? scheduled).toISOString(), LastUpdated: new Date().toISOString() },
      IsPastDue: isPastDue,
    };
  };
  const invokeTimer = async (fn: RegisteredFunction, reason: string, info: unknown) => {
    try {
      await run(fn, { inputData: [{ name: fn.trigger.name, data: { json: JSON.stringify(info) } }, ...extraInputs(fn)] }, reason);
    } catch {
      // Logged by run(); a failing timer keeps its schedule.
    } finally {
      lastRun.set(fn.name, new Date());
    }
  };
  const schedules = new Map<string, TimerSchedule>();
  for (const fn of functions) {
    if (fn.trigger.type.toLowerCase() !== 'timertrigger') continue;
    const raw = typeof fn.trigger.schedule === 'string' ? fn.trigger.schedule : '';
    const expression = resolveSettingRefs(raw, env);
    try {
      if (expression === undefined) throw new Error(`schedule "${raw}" names a setting that is not set`);
      schedules.set(fn.name, parseSchedule(expression));
    } catch (error) {
      log(`Error: ${fn.name}: ${(error as Error).message}. The timer will not run on a schedule.`);
    }
  }
  const armTimer = (fn: RegisteredFunction, schedule: TimerSchedule) => {
    if (stopping) return;
    const due = schedule.next(new Date());
    const wait = () => {
      const remaining = due.getTime() - Date.now();
      const handle = setTimeout(
        () => {
          timerHandles.delete(handle);
          if (due.getTime() > Date.now()) return wait();
          const isPastDue = Date.now() - due.getTime() > 1000;
          void invokeTimer(fn, `Timer fired at ${new Date().toISOString()}`, timerInfo(fn, due, schedule.next(due), isPastDue)).then(() =>
            armTimer(fn, schedule),
          );
        },
        Math.max(0, Math.min(remaining, 2 ** 31 - 1)),
      );
      timerHandles.add(handle);
    };
    wait();
  };

  // ---- Admin API ----------------------------------------------------------------------------------
  const functionUrl = (fn: RegisteredFunction) => {
    const route = typeof fn.trigger.route === 'string' ? fn.trigger.route : fn.name;
    return `${publicOrigin()}/${[config.routePrefix, route.replace(/^\/+/, '')].filter(Boolean).join('/')}`;
  };
  const handleAdmin = async (req: IncomingMessage, res: ServerResponse, url: URL) => {
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    const method = req.method ?? 'GET';
    if (parts[1]?.toLowerCase() === 'host' && parts[2]?.toLowerCase() === 'status') {
      const body = JSON.stringify({ id: 'local', state: 'Running', version: hostVersion, processUptime: Math.round(process.uptime() * 1000) });
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
      res.end(body);
      return;
    }
    if (parts[1]?.toLowerCase() !== 'functions') return errorJson(res, 404, 'NotFound', `No admin endpoint at ${url.pathname}.`);
    if (parts.length === 2 && method === 'GET') {
      const list = functions.map((f) => ({
        name: f.name,
        config: { bindings: Object.entries(f.bindings).map(([name, b]) => ({ ...b, name })) },
        invoke_url_template: f.trigger.type.toLowerCase() === 'httptrigger' ? functionUrl(f) : null,
        isDisabled: false,
      }));
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
      res.end(JSON.stringify(list));
      return;
    }
    const fn = parts[2] ? findFunction(parts[2]) : undefined;
    if (!fn || parts.length !== 3) return errorJson(res, 404, 'NotFound', `Function '${parts[2] ?? ''}' not found.`);
    if (method !== 'POST') return errorJson(res, 405, 'MethodNotAllowed', 'Use POST to invoke a function.');
    const body = (await readBody(req)) ?? Buffer.alloc(0);
    let input: unknown = '';
    if (body.length > 0) {
      try {
        input = (JSON.parse(body.toString('utf8')) as { input?: unknown }).input ?? '';
      } catch {
        return errorJson(res, 400, 'BadRequest', 'The body must be JSON: {"input": "..."}.');
      }
    }
    const type = fn.trigger.type.toLowerCase();
    if (type === 'httptrigger' || type === 'orchestrationtrigger' || type === 'activitytrigger' || type === 'entitytrigger') {
      return errorJson(res, 400, 'BadRequest', `'${fn.name}' has a ${fn.trigger.type} and cannot be invoked through the admin API.`);
    }
    res.statusCode = 202;
    res.setHeader('content-length', 0);
    res.end();
    if (type === 'timertrigger') {
      void invokeTimer(fn, programmaticReason, timerInfo(fn, new Date(), undefined, false));
    } else {
      const data: RpcTypedData = { string: typeof input === 'string' ? input : JSON.stringify(input) };
      void run(fn, { inputData: [{ name: fn.trigger.name, data }, ...extraInputs(fn)] }, programmaticReason).catch(() => undefined);
    }
  };

  // ---- Request dispatch -----------------------------------------------------------------------------
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', `http://${req.headers.host ?? `${hostname}:${port}`}`);
    const pathname = url.pathname;
    const lower = pathname.toLowerCase();
    if (lower === durableWebhookPath || lower.startsWith(`${durableWebhookPath}/`)) {
      const body = (await readBody(req)) ?? Buffer.alloc(0);
      const answer = await handleDurableRequest(taskHub, config.durable.connectionName, {
        method: req.method ?? 'GET',
        path: pathname.slice(durableWebhookPath.length),
        query: url.searchParams,
        contentType: req.headers['content-type'],
        body,
        origin: url.origin,
        url: url.href,
      });
      res.writeHead(answer.status, { ...answer.headers, 'content-length': Buffer.byteLength(answer.body ?? '') });
      res.end(answer.body);
      return;
    }
    if (lower === '/admin' || lower.startsWith('/admin/')) return handleAdmin(req, res, url);

    let routePath: string | undefined = pathname;
    if (config.routePrefix !== '') {
      const prefix = `/${config.routePrefix.toLowerCase()}`;
      if (lower === prefix || lower === `${prefix}/`) routePath = '';
      else if (lower.startsWith(`${prefix}/`)) routePath = pathname.slice(prefix.length + 1);
      else routePath = undefined;
    }
    if (routePath !== undefined) {
      const method = (req.method ?? 'GET').toUpperCase();
      for (const route of routes) {
        if (route.methods && !route.methods.includes(method)) continue;
        const params = route.template.match(routePath);
        if (params) return invokeHttp(route, req, res, url, params);
      }
    }
    if (pathname === '/') {
      // The host's landing page, handy as a liveness check.
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
      res.end('Your Functions 4.0 app is up and running\n');
      return;
    }
    errorJson(res, 404, 'NotFound', `No function is registered for ${req.method ?? 'GET'} ${pathname}.`);
  };

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

  if (options.runTimers !== false) {
    for (const fn of functions) {
      const schedule = schedules.get(fn.name);
      if (!schedule) continue;
      if (fn.trigger.runOnStartup === true) {
        // After the caller has printed the function list, as the host does.
        setImmediate(() => {
          if (!stopping) void invokeTimer(fn, 'Timer fired at startup (runOnStartup)', timerInfo(fn, new Date(), schedule.next(new Date()), false));
        });
      }
      armTimer(fn, schedule);
    }
  }

  const describe = () => {
    const lines = ['', 'Functions:', ''];
    for (const fn of functions) {
      if (fn.trigger.type.toLowerCase() === 'httptrigger') {
        const methods = Array.isArray(fn.trigger.methods) && fn.trigger.methods.length > 0 ? fn.trigger.methods.map((m) => String(m).toUpperCase()) : allMethods;
        lines.push(`        ${fn.name}: [${methods.join(',')}] ${functionUrl(fn)}`, '');
      } else {
        const schedule = schedules.get(fn.name);
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
      stopping = true;
      for (const handle of timerHandles) clearTimeout(handle);
      timerHandles.clear();
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
