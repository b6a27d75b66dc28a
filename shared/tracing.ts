/**
 * Operations telemetry: a request per function invocation and a dependency per call the app makes,
 * as OpenTelemetry spans, which the Application Insights SDK exports as `requests` and
 * `dependencies` under one operation id. Without the SDK (telemetry off, tests) the OpenTelemetry
 * API is a no-op and this costs a function call.
 *
 * - Requests: the registrar wraps every function it registers (`traceInvocation`), whatever its
 *   trigger. Custom dimensions: `invocationId`, `functionName`, `trigger`, `service`, and
 *   `tenantId` for tenant-scoped work (see `annotateTenant`). HTTP requests also carry the method,
 *   the route template (never ids: `GET /api/tenants/{tenantId}`), and the status code as
 *   `resultCode`; other triggers answer `0`, and fail when their function throws.
 * - Dependencies: PostgreSQL statements are spanned by the SQL layer (`traceStatement`), because
 *   `pg` is bundled into the app, where the SDK's `pg` instrumentation cannot reach it. Blob, Queue
 *   and Key Vault calls are spanned by the Azure SDKs themselves, through the SDK's Azure SDK
 *   instrumentation (`@azure/core-tracing`), under the same active span. `@azure/cosmos` 4.x
 *   creates no spans of its own, so its network requests are spanned here (`traceHttpCall`,
 *   plugged in by `clients.ts`).
 * - Exceptions: `recordFailure` adds an exception (with its `code`, scrubbed of secrets) to the
 *   invocation's operation.
 *
 * In Azure the Functions host also writes a request of its own per invocation (the `requests` rows
 * without a `trigger` dimension); the SDK continues the host's trace, so both share the operation
 * id and ours is the child of the host's.
 */
import { context, createContextKey, SpanKind, SpanStatusCode, trace, type Attributes, type Span } from '@opentelemetry/api';
import type { InvocationContext } from '@azure/functions';
import { TENANT_ID_PATTERN } from './ids.js';
import { errorCode, scrubText } from './telemetry-scrub.js';

const tracer = () => trace.getTracer('runtime-platform');

/** The trigger kinds the registrar knows: the values of the requests' `trigger` dimension. */
export const TRIGGER_KINDS = ['http', 'timer', 'queue', 'orchestration', 'activity', 'entity'] as const;
export type TriggerKind = (typeof TRIGGER_KINDS)[number];

/** What the registrar knows about a function. */
export interface TracedFunction {
  name: string;
  service: string;
  trigger: TriggerKind;
  method?: string;
  route?: string;
}

/** The custom dimensions of requests (and of their exceptions). */
export const REQUEST_DIMENSIONS = {
  invocationId: 'invocationId',
  functionName: 'functionName',
  trigger: 'trigger',
  service: 'service',
  tenantId: 'tenantId',
  /** More than one tenant was touched (a timer over tenants): how many; `tenantId` is then absent. */
  tenantCount: 'tenantCount',
  /** The error code of a failed invocation (HTTP: the `x-ms-error-code` of a 5xx answer). */
  errorCode: 'errorCode',
} as const;

/** The invocation a context belongs to: its request span, and the tenants it has touched. */
interface Invocation {
  span: Span;
  functionName: string;
  invocationId: string;
  tenants: Set<string>;
}
const INVOCATION = createContextKey('runtime-platform.invocation');
const current = (): Invocation | undefined => context.active().getValue(INVOCATION) as Invocation | undefined;

type Handler = (triggerInput: unknown, context: InvocationContext) => Promise<unknown>;

/**
 * Wraps a function's handler in a request span: the span is active while the handler runs, so
 * dependencies and telemetry items it produces belong to its operation.
 */
export function traceInvocation(fn: TracedFunction, handler: Handler): Handler {
  return (input, invocation) => {
    const attributes: Attributes = {
      [REQUEST_DIMENSIONS.invocationId]: invocation.invocationId,
      [REQUEST_DIMENSIONS.functionName]: fn.name,
      [REQUEST_DIMENSIONS.trigger]: fn.trigger,
      [REQUEST_DIMENSIONS.service]: fn.service,
    };
    if (fn.trigger === 'http') {
      const route = `/api/${fn.route ?? ''}`;
      attributes['http.request.method'] = fn.method ?? 'GET';
      attributes['http.route'] = route;
      attributes['url.full'] = urlWithoutQuery((input as { url?: string } | undefined)?.url) ?? route;
    }
    const span = tracer().startSpan(fn.name, { kind: SpanKind.SERVER, attributes });
    const inv: Invocation = { span, functionName: fn.name, invocationId: invocation.invocationId, tenants: new Set() };
    const tenant = tenantOfInput(fn.trigger, input);
    if (tenant) inv.tenants.add(tenant);
    const ctx = trace.setSpan(context.active(), span).setValue(INVOCATION, inv);
    return context.with(ctx, async () => {
      try {
        const result = await handler(input, invocation);
        if (fn.trigger === 'http') {
          const status = (result as { status?: number } | undefined)?.status ?? 200;
          span.setAttribute('http.response.status_code', status);
          if (status >= 500) {
            const code = headerOf(result, 'x-ms-error-code');
            if (code) span.setAttribute(REQUEST_DIMENSIONS.errorCode, code);
          }
          span.setStatus({ code: status >= 500 ? SpanStatusCode.ERROR : SpanStatusCode.OK });
        } else {
          span.setStatus({ code: SpanStatusCode.OK });
        }
        return result;
      } catch (error) {
        recordOn(inv, error);
        if (fn.trigger === 'http') span.setAttribute('http.response.status_code', 500);
        span.setStatus({ code: SpanStatusCode.ERROR });
        throw error;
      } finally {
        if (inv.tenants.size === 1) span.setAttribute(REQUEST_DIMENSIONS.tenantId, [...inv.tenants][0]!);
        else if (inv.tenants.size > 1) span.setAttribute(REQUEST_DIMENSIONS.tenantCount, inv.tenants.size);
        span.end();
      }
    });
  };
}

/**
 * Says the current invocation works for `tenantId` (the HTTP pipeline once the tenant is
 * authorized; the SQL layer for every tenant-scoped transaction). An invocation that touches one
 * tenant carries it as `tenantId`; one that touches several, `tenantCount`.
 */
export function annotateTenant(tenantId: string): void {
  if (tenantId) current()?.tenants.add(tenantId);
}

/**
 * Adds an exception to the current invocation's operation: scrubbed message and stack, the
 * error's `code` (or the `code` given), the function and the invocation. A no-op outside an
 * invocation, and with telemetry off.
 */
export function recordFailure(error: unknown, code?: string): void {
  const inv = current();
  if (!inv) return;
  recordOn(inv, error, code);
  const c = code ?? errorCode(error);
  if (c) inv.span.setAttribute(REQUEST_DIMENSIONS.errorCode, c);
}

/** What a dependency is: its kind, a name for the portal, and where it goes. */
export interface TracedStatement {
  /** The logical database (`pooled` or the silo's name). */
  database: string;
  /** Host (and port) of the server. */
  server: string;
  /** The statement, parameterized (`$1`, never values). */
  sql: string;
}

/** Runs one PostgreSQL statement in a dependency span (type `postgresql`). */
export function traceStatement<T>(s: TracedStatement, run: () => Promise<T>): Promise<T> {
  const active = trace.getActiveSpan();
  if (!active?.isRecording()) return run();
  const verb = /^\s*(\w+)/.exec(s.sql)?.[1]?.toUpperCase() ?? 'SQL';
  const table = /\b(?:from|into|update|table)\s+"?([\w.]+)"?/i.exec(s.sql)?.[1];
  const attributes: Attributes = {
    'db.system': 'postgresql',
    'db.name': s.database,
    'db.statement': scrubText(s.sql.length > 2000 ? `${s.sql.slice(0, 2000)}…` : s.sql),
    'db.operation': verb,
    'peer.service': s.server,
  };
  return tracer().startActiveSpan(table ? `${verb} ${table}` : verb, { kind: SpanKind.CLIENT, attributes }, async (span) => {
    try {
      const result = await run();
      span.setStatus({ code: SpanStatusCode.OK });
      return result;
    } catch (error) {
      const code = errorCode(error);
      if (code) span.setAttribute('db.response.status_code', code);
      span.setStatus({ code: SpanStatusCode.ERROR, message: code ?? 'failed' });
      throw error;
    } finally {
      span.end();
    }
  });
}

/** An HTTP call of an Azure SDK that does not span its own calls (Cosmos DB). */
export interface TracedHttpCall {
  method: string;
  /** The URL without its query string. */
  url: string;
  /** The Azure resource provider, e.g. `Microsoft.DocumentDB` (the `az.namespace` attribute). */
  namespace: string;
}

/** Runs one HTTP call in a dependency span (type `Http`, target the host); `statusOf` reads the answer's status. */
export function traceHttpCall<T>(c: TracedHttpCall, run: () => Promise<T>, statusOf: (result: T) => number | undefined): Promise<T> {
  if (!trace.getActiveSpan()?.isRecording()) return run();
  const url = urlWithoutQuery(c.url) ?? c.url;
  const attributes: Attributes = { 'http.request.method': c.method, 'url.full': scrubText(url), 'az.namespace': c.namespace };
  return tracer().startActiveSpan(`${c.method} ${pathOf(url)}`, { kind: SpanKind.CLIENT, attributes }, async (span) => {
    try {
      const result = await run();
      span.setAttribute('http.response.status_code', statusOf(result) ?? 200);
      span.setStatus({ code: SpanStatusCode.OK });
      return result;
    } catch (error) {
      const status = (error as { code?: unknown; statusCode?: unknown } | null)?.code;
      if (typeof status === 'number') span.setAttribute('http.response.status_code', status);
      span.setStatus({ code: SpanStatusCode.ERROR, message: errorCode(error) ?? 'failed' });
      throw error;
    } finally {
      span.end();
    }
  });
}

// ---- internals -------------------------------------------------------------------------------

/** The tenant an activity's or orchestration's input names (`{ tenantId }`), when it is a tenant id. */
function tenantOfInput(trigger: TriggerKind, input: unknown): string | undefined {
  let value: unknown;
  if (trigger === 'activity') value = (input as { tenantId?: unknown } | null)?.tenantId;
  else if (trigger === 'orchestration') value = (input as { input?: { tenantId?: unknown } | null } | null)?.input?.tenantId;
  return typeof value === 'string' && TENANT_ID_PATTERN.test(value) ? value : undefined;
}

function recordOn(inv: Invocation, error: unknown, code?: string): void {
  const e = error instanceof Error ? error : new Error(String(error));
  const c = code ?? errorCode(e);
  inv.span.addEvent('exception', {
    'exception.type': e.name,
    'exception.message': scrubText(e.message),
    'exception.stacktrace': scrubText(e.stack ?? `${e.name}: ${e.message}`),
    ...(c ? { code: c } : {}),
    [REQUEST_DIMENSIONS.functionName]: inv.functionName,
    [REQUEST_DIMENSIONS.invocationId]: inv.invocationId,
  });
}

function urlWithoutQuery(url: string | undefined): string | undefined {
  if (!url) return undefined;
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}`;
  } catch {
    return undefined;
  }
}

function pathOf(url: string): string {
  try {
    return new URL(url).pathname;
  } catch {
    return url;
  }
}

function headerOf(result: unknown, name: string): string | undefined {
  const headers = (result as { headers?: unknown } | undefined)?.headers;
  if (!headers) return undefined;
  if (headers instanceof Headers) return headers.get(name) ?? undefined;
  const entry = Object.entries(headers as Record<string, unknown>).find(([k]) => k.toLowerCase() === name);
  return typeof entry?.[1] === 'string' ? entry[1] : undefined;
}
