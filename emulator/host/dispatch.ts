/**
 * The host's HTTP dispatch. A request goes to the Durable Functions HTTP API
 * (`/runtime/webhooks/durabletask/...`), to the admin API (`/admin/...`), or to the HTTP-triggered
 * function whose route template matches under the route prefix — routes tried in ASP.NET
 * precedence order, methods honoured. `GET /` answers the host's landing text; anything else is an
 * empty 404, as the Functions host answers it.
 *
 * An HTTP invocation reaches the function as the host sends it (RPC http data, route values, trigger
 * metadata, a W3C trace context) and its response is written back from the RPC http data; with
 * `app.setup({ enableHttpStream: true })` the request and response are piped through the library's
 * HTTP proxy instead.
 */
import { overlaps, parseTemplate, RouteTemplateError } from '../../shared/http/route-template.js';
import { randomBytes, randomUUID } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { FunctionsApp, InvocationInput } from './app.js';
import { httpOutput, type InputBindings } from './bindings.js';
import type { RpcInvocationResponse, RpcTypedData } from './core-types.js';
import { durableWebhookPath } from './durable/client-binding.js';
import { handleDurableRequest } from './durable/http-api.js';
import type { LocalTaskHub, TaskHubHost } from './durable/task-hub.js';
import type { RegisteredFunction } from './functions-core.js';
import type { HostConfig } from './host-config.js';
import { headerRecord, toRpcHttp, writeRpcHttp } from './http-trigger.js';
import { parseRouteTemplate, type RouteTemplate } from './routes.js';

/** The reason logged for invocations the host starts for a caller (HTTP requests, the admin API). */
export const programmaticReason = 'This function was programmatically called via the host APIs.';
/** The host's limit on a request body. */
export const maxRequestBodyBytes = 100 * 1024 * 1024;
/**
 * "Regardless of the function app timeout setting, 230 seconds is the maximum amount of time that
 * an HTTP triggered function can take to respond to a request", because of the Azure Load
 * Balancer's idle timeout (MicrosoftDocs/azure-docs, includes/functions-timeout-duration.md).
 */
export const httpResponseLimitMs = 230_000;

/**
 * What the caller gets when no response has started within {@link httpResponseLimitMs}. The
 * documentation gives the limit, not the answer; App Service's front end is reported to answer
 * "500 - The request timed out." (some setups with a gateway in front report 502/504).
 */
function respondTimedOut(res: ServerResponse): void {
  const body = '500 - The request timed out.\r\nThe web server failed to respond within the specified time.';
  res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/** An HTTP-triggered function with its parsed route and the methods it accepts (any when undefined). */
export interface HttpRoute {
  fn: RegisteredFunction;
  template: RouteTemplate;
  methods: string[] | undefined;
}

/** The route template of an HTTP trigger: its `route`, else the function's name. */
export function routeOf(fn: RegisteredFunction): string {
  return typeof fn.trigger.route === 'string' ? fn.trigger.route : fn.name;
}

/** The methods an HTTP trigger accepts, upper-cased; undefined when it names none (any method). */
export function methodsOf(fn: RegisteredFunction): string[] | undefined {
  return Array.isArray(fn.trigger.methods) && fn.trigger.methods.length > 0 ? fn.trigger.methods.map((m) => String(m).toUpperCase()) : undefined;
}

/**
 * The HTTP routes of `functions`, in the order they are tried. The Functions host matches routes in
 * the order it registered them and takes the first match, not the most specific one (see
 * https://github.com/peterdol/azure-functions-route-priority and Azure/azure-functions-host
 * `WebJobsRouter`), so two routes of one method that can match the same path would answer
 * differently there than under any local rule: the local host refuses to start with such a pair,
 * as the app's registrar refuses to register one (shared/http/route-template.ts). What is left has
 * no ambiguity, so the order tried here (ASP.NET precedence) cannot change an answer.
 */
export function httpRoutes(functions: readonly RegisteredFunction[]): HttpRoute[] {
  const routes: HttpRoute[] = [];
  for (const fn of functions) {
    if (fn.trigger.type.toLowerCase() !== 'httptrigger') continue;
    const route: HttpRoute = { fn, template: parseRouteTemplate(routeOf(fn)), methods: methodsOf(fn) };
    for (const other of routes) {
      const shared = !route.methods || !other.methods || route.methods.some((m) => other.methods?.includes(m));
      if (shared && overlaps(parseTemplate(routeOf(fn)), parseTemplate(routeOf(other.fn)))) {
        throw new RouteTemplateError(
          `Functions '${other.fn.name}' (${routeOf(other.fn)}) and '${fn.name}' (${routeOf(fn)}) can match the same path with the same method; ` +
            'the Functions host takes the first registered match, so give them distinct routes',
        );
      }
    }
    routes.push(route);
  }
  routes.sort((a, b) => a.template.precedence - b.template.precedence);
  return routes;
}

/** The URL an HTTP-triggered function is served at, as Core Tools lists it. */
export function functionUrl(fn: RegisteredFunction, origin: string, routePrefix: string): string {
  return `${origin}/${[routePrefix, routeOf(fn).replace(/^\/+/, '')].filter(Boolean).join('/')}`;
}

/** Answers with the project's error format: `{"error":{"code","message"}}` and `x-ms-error-code`. */
export function errorJson(res: ServerResponse, status: number, code: string, message: string): void {
  const body = JSON.stringify({ error: { code, message } });
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'x-ms-error-code': code, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/** The whole request body, or undefined when it exceeds {@link maxRequestBodyBytes}. */
export async function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
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

/** The trigger metadata of an HTTP invocation: route values, `Query` and `Headers`. */
function triggerMetadataFor(req: IncomingMessage, url: URL, params: Record<string, string>): Record<string, RpcTypedData> {
  const meta: Record<string, RpcTypedData> = {};
  for (const [key, value] of Object.entries(params)) meta[key] = { string: value };
  meta.Query = { json: JSON.stringify(Object.fromEntries(url.searchParams)) };
  meta.Headers = { json: JSON.stringify(headerRecord(req)) };
  return meta;
}

/** Options of {@link createDispatcher}. */
export interface DispatchOptions {
  app: FunctionsApp;
  config: HostConfig;
  /** The HTTP routes, in precedence order (see {@link httpRoutes}). */
  routes: readonly HttpRoute[];
  taskHub: LocalTaskHub;
  /** Invokes a function the way the host does (logging it). */
  run: TaskHubHost['run'];
  inputBindings: InputBindings;
  /** Handles every request under `/admin` (see admin.ts). */
  admin: (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<void>;
  /** The interface the host listens on. */
  hostname: string;
  /** The port the host listens on (known once it listens). */
  port: () => number;
  /** See {@link httpResponseLimitMs}. */
  httpResponseLimitMs: number;
}

/** The host's request handler. */
export function createDispatcher(options: DispatchOptions): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const { app, config, routes, taskHub, run, inputBindings, admin, hostname, port } = options;
  const responseLimit = options.httpResponseLimitMs;

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
    // The host copies a body into the RPC request only when `request.ContentLength > 0`, so a body
    // sent without Content-Length (Transfer-Encoding: chunked) reaches the function EMPTY
    // (Azure/azure-functions-host, src/WebJobs.Script.Grpc/MessageExtensions/GrpcMessageConversionExtensions.cs, ToRpcHttp).
    const declared = Number(req.headers['content-length'] ?? 0);
    const passed = Number.isFinite(declared) && declared > 0 ? body : Buffer.alloc(0);
    request.inputData = [{ name: fn.trigger.name, data: { http: toRpcHttp(req, url, passed, params) } }, ...inputBindings(fn)];
    let response: RpcInvocationResponse | 'late';
    let limitTimer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => (limitTimer = setTimeout(() => resolve('late'), responseLimit)));
    try {
      response = await Promise.race([run(fn, request, programmaticReason), late]);
      if (response === 'late') {
        // The front end gives up; the function runs on (until functionTimeout) and its answer is dropped.
        respondTimedOut(res);
        return;
      }
    } catch {
      // Like the host: an unhandled error in an HTTP function (a functionTimeout included) is a bare 500.
      res.statusCode = 500;
      res.setHeader('content-length', 0);
      res.end();
      return;
    } finally {
      clearTimeout(limitTimer);
    }
    const output = httpOutput(fn, response);
    if (!output?.http) {
      // Nothing returned: the host binds no output value (WorkerFunctionInvoker.BindOutputsAsync
      // skips null values), so no response is set and FunctionInvocationMiddleware falls back to
      // `new OkResult()`: 200 with an empty body (Azure/azure-functions-host,
      // src/WebJobs.Script/Description/Workers/WorkerFunctionInvoker.cs and
      // src/WebJobs.Script.WebHost/Middleware/FunctionInvocationMiddleware.cs). The 204 in the HTTP
      // binding docs is the in-process .NET behaviour, not the Node.js worker's.
      res.statusCode = 200;
      res.setHeader('content-length', 0);
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
    headers['x-forwarded-host'] = req.headers.host ?? `${hostname}:${port()}`;
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
    const limitTimer = setTimeout(() => {
      if (answered || res.headersSent) return;
      answered = true;
      proxyReq.destroy();
      respondTimedOut(res);
    }, responseLimit);
    res.once('close', () => clearTimeout(limitTimer));
    request.inputData = [{ name: fn.trigger.name, data: { http: {} } }, ...inputBindings(fn)];
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
        // No response from the function: 200 (OkResult), as above.
        res.statusCode = failed ? 500 : 200;
        res.setHeader('content-length', 0);
        res.end();
      }
    }
  };

  return async (req, res) => {
    const url = new URL(req.url ?? '/', `http://${req.headers.host ?? `${hostname}:${port()}`}`);
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
    if (lower === '/admin' || lower.startsWith('/admin/')) return admin(req, res, url);

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
    // No function matches: the host's routing answers a bare 404 (no body). Its
    // FunctionInvocationMiddleware returns NotFoundResult when no function descriptor was resolved
    // (Azure/azure-functions-host, src/WebJobs.Script.WebHost/Middleware/FunctionInvocationMiddleware.cs).
    res.statusCode = 404;
    res.setHeader('content-length', 0);
    res.end();
  };
}
