/**
 * The host's admin API, as Core Tools answers it:
 *
 *   GET  /admin/host/status          the host's state (`Running`)
 *   GET  /admin/functions            every enabled function with its bindings and invoke URL
 *   POST /admin/functions/<name>     202, then runs the function (body `{"input": "..."}`,
 *                                    optional) — the way to run a timer now. HTTP and Durable
 *                                    triggers cannot be invoked this way (400).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { InputBindings } from './bindings.js';
import type { RpcTypedData } from './core-types.js';
import { errorJson, programmaticReason, readBody } from './dispatch.js';
import type { TaskHubHost } from './durable/task-hub.js';
import { hostVersion, type RegisteredFunction } from './functions-core.js';
import type { HostTimers } from './timers.js';

/** Options of {@link createAdminApi}. */
export interface AdminApiOptions {
  /** The enabled functions. */
  functions: readonly RegisteredFunction[];
  /** Looks up an enabled function by name (case-insensitive). */
  findFunction: (name: string) => RegisteredFunction | undefined;
  /** The URL an HTTP-triggered function is served at. */
  functionUrl: (fn: RegisteredFunction) => string;
  /** Invokes a function the way the host does (logging it). */
  run: TaskHubHost['run'];
  inputBindings: InputBindings;
  timers: Pick<HostTimers, 'invokeNow'>;
}

/** The handler of every request under `/admin`. */
export function createAdminApi(options: AdminApiOptions): (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<void> {
  const { functions, findFunction, functionUrl, run, inputBindings, timers } = options;
  return async (req, res, url) => {
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
      void timers.invokeNow(fn, programmaticReason);
    } else {
      const data: RpcTypedData = { string: typeof input === 'string' ? input : JSON.stringify(input) };
      void run(fn, { inputData: [{ name: fn.trigger.name, data }, ...inputBindings(fn)] }, programmaticReason).catch(() => undefined);
    }
  };
}
