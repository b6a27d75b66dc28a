/**
 * The HTTP pipeline around every handler: authenticate, resolve and authorize the tenant, validate
 * input, run the handler (optionally idempotent), map errors. Routes are declared once with
 * {@link HttpRoutes.define}; that registers the Azure Function, the OpenAPI path, and the route
 * table tests and the local host use.
 */
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { createHash } from 'node:crypto';
import { sql, type Compilable, type Kysely, type Transaction } from 'kysely';
import { z } from 'zod';
import { apiError, invalid, isApiError, notFound, type ApiError, type ErrorDetail } from '../errors.js';
import type { Authenticator, Principal } from '../auth/authenticate.js';
import { isTransientDbError, scopeFor, type Placement, type ServiceSql, type SqlDatabases, type SqlScope } from '../sql/database.js';
import { ErrorResponse, type OpenApi } from './openapi.js';
import { expectedEtag, etagHeader } from './etag.js';
import { pageQuery, toPage, type Page } from './pagination.js';
import { TenantRateLimiter } from './rate-limit.js';

/** Per-tenant roles, weakest first. */
export const TENANT_ROLES = ['reader', 'operator', 'admin'] as const;
export type TenantRole = (typeof TENANT_ROLES)[number];

/** Quota names every tenant carries. */
export interface TenantQuotas {
  maxEnvironments: number;
  maxServicesPerEnvironment: number;
  maxDeploymentsPerDay: number;
  maxReplicasPerService: number;
  maxSecretBindings: number;
  requestsPerMinute: number;
}

/** What the pipeline knows about the tenant of a request once it is authorized. */
export interface TenantAccess {
  tenantId: string;
  placement: Placement;
  status: 'active' | 'suspended';
  quotas: TenantQuotas;
  /** The caller's role; platform admins act as `admin` in every tenant. */
  role: TenantRole;
}

/**
 * Port implemented by the tenants service: the tenant as `principal` may see it, or `null` when
 * the tenant does not exist or the principal is not a member (both look like 404 to the caller).
 */
export interface TenantAccessPort {
  resolve(principal: Principal, tenantId: string): Promise<TenantAccess | null>;
}

/** Who may call a route. */
export type RouteAccess = { platformAdmin: true } | { tenantRole: TenantRole } | { authenticated: true } | { anonymous: true };

/** A handler's answer. */
export interface Reply {
  status: number;
  body?: unknown;
  etag?: string;
  headers?: Record<string, string>;
}

/** Everything a handler gets. */
export interface RouteContext<P, Q, B> {
  params: P;
  query: Q;
  body: B;
  principal: Principal;
  /** The tenant of a tenant-scoped route (`tenantRole` access); for other routes, the platform scope. */
  tenant: TenantAccess;
  /** The ETag an update must match (from `If-Match`), if any. */
  ifMatch: string | undefined;
  request: HttpRequest;
  invocation: InvocationContext;
  /** Page size for lists (`maxpagesize`, bounded). */
  pageSize: number;
  /** Runs `fn` in this request's scope as `svc`'s role; reuses the idempotency transaction if any. */
  tx<T, DB = any>(svc: ServiceSql, fn: (trx: Transaction<DB>) => Promise<T>): Promise<T>;
  /**
   * Runs one read-only statement in this request's scope as `svc`'s role, in one round trip (see
   * `sql/scoped-read.ts`). `build` gets a query creator whose tables are `svc`'s.
   */
  read<Row, DB = any>(svc: ServiceSql, build: (db: Kysely<DB>) => Compilable<Row>): Promise<Row[]>;
  /** Shapes rows fetched with `limit pageSize + 1` into a page with `nextLink`. */
  page<Row, T>(rows: Row[], cursorOf: (last: Row) => unknown, map: (row: Row) => T): Page<T>;
  /** What the route's `prepare` returned (undefined without one). */
  prepared: unknown;
}

type AnyObject = z.ZodObject<z.ZodRawShape>;

/** A route declaration. */
export interface RouteDef<P extends AnyObject, Q extends AnyObject, B extends z.ZodType> {
  /** Function name (unique in the app). */
  name: string;
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Route without the `api` prefix, e.g. `tenants/{tenantId}/environments/{environmentId}`. */
  route: string;
  summary: string;
  tags: string[];
  access: RouteAccess;
  params?: P;
  query?: Q;
  /** Adds `maxpagesize` and `skipToken` to the query. */
  paged?: boolean;
  body?: { schema: B; example: z.input<B>; contentType?: string };
  responses: Record<number, { description: string; schema?: z.ZodType }>;
  /** Enables `Repeatability-Request-ID`: the create runs in `svc`'s transaction with its record. */
  idempotent?: ServiceSql;
  /**
   * Runs before the handler and outside its transaction (before an idempotent route takes its
   * record): the place to ask other services' APIs, each of which runs its own transaction, so a
   * request never holds one connection while it waits for another (PGlite serves one session at a
   * time; a pool can run dry). Its result is `ctx.prepared`. A replay of a completed idempotent
   * request answers from its record without running it.
   */
  prepare?(ctx: RouteContext<z.output<P>, z.output<Q>, z.output<B>>): Promise<unknown>;
  handler(ctx: RouteContext<z.output<P>, z.output<Q>, z.output<B>>): Promise<Reply>;
}

/** What a service's handlers module provides for one route; its name, method and route are in `index.ts`. */
export type RouteImpl = Omit<RouteDef<any, any, any>, 'name' | 'method' | 'route'>;

/** A route as registered: the wiring and the composed handler. */
export interface RegisteredRoute {
  name: string;
  method: string;
  route: string;
  access: RouteAccess;
  handler: (request: HttpRequest, context: InvocationContext) => Promise<HttpResponseInit>;
}

/** What the pipeline needs from the composition root. */
export interface HttpKernel {
  authenticator: Authenticator;
  tenantAccess: TenantAccessPort;
  sql: SqlDatabases;
  openapi: OpenApi;
  http: { maxBodyBytes: number; maxPageSize: number };
}

const TENANT_ID = /^[a-z0-9][a-z0-9-]{1,62}$/;
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const PLATFORM_TENANT: Omit<TenantAccess, 'role'> = {
  tenantId: '',
  placement: { model: 'pooled' },
  status: 'active',
  quotas: {
    maxEnvironments: 0,
    maxServicesPerEnvironment: 0,
    maxDeploymentsPerDay: 0,
    maxReplicasPerService: 0,
    maxSecretBindings: 0,
    requestsPerMinute: 0,
  },
};

/** The app's route table. One per app instance. */
export class HttpRoutes {
  readonly routes: RegisteredRoute[] = [];
  private readonly limiter = new TenantRateLimiter();

  constructor(private readonly kernel: HttpKernel) {}

  /**
   * Adds a route to the table and the OpenAPI document and returns its composed handler. The
   * Functions registration itself is the registrar's (`shared/registrar.ts`), done at import with
   * a handler that loads the route on first use.
   */
  add<P extends AnyObject, Q extends AnyObject, B extends z.ZodType>(def: RouteDef<P, Q, B>): RegisteredRoute['handler'] {
    const existing = this.routes.find((r) => r.name === def.name);
    if (existing) return existing.handler;
    const handler = this.compose(def);
    this.routes.push({ name: def.name, method: def.method, route: def.route, access: def.access, handler });
    this.document(def);
    return handler;
  }

  private compose<P extends AnyObject, Q extends AnyObject, B extends z.ZodType>(def: RouteDef<P, Q, B>) {
    const k = this.kernel;
    const querySchema = z.strictObject({
      ...(def.query?.shape ?? {}),
      ...(def.paged ? pageQuery(k.http.maxPageSize) : {}),
    });
    return async (request: HttpRequest, invocation: InvocationContext): Promise<HttpResponseInit> => {
      try {
        const reply = await this.run(def, querySchema, request, invocation);
        return toResponse(reply, invocation);
      } catch (e) {
        return errorResponse(e, invocation);
      }
    };
  }

  private async run<P extends AnyObject, Q extends AnyObject, B extends z.ZodType>(
    def: RouteDef<P, Q, B>,
    querySchema: AnyObject,
    request: HttpRequest,
    invocation: InvocationContext,
  ): Promise<Reply> {
    const k = this.kernel;
    const rawParams = request.params as Record<string, string>;

    // 1. Authenticate.
    const principal: Principal =
      'anonymous' in def.access
        ? { id: 'anonymous', kind: 'user', isPlatformAdmin: false }
        : await k.authenticator.authenticate(request.headers.get('authorization'));

    // 2. Resolve and authorize the tenant before any tenant data is touched.
    let tenant: TenantAccess = { ...PLATFORM_TENANT, role: principal.isPlatformAdmin ? 'admin' : 'reader' };
    if ('platformAdmin' in def.access && !principal.isPlatformAdmin) {
      throw apiError('Forbidden', 'This operation needs a platform administrator.');
    }
    if ('tenantRole' in def.access) {
      const tenantId = rawParams.tenantId ?? '';
      const access = TENANT_ID.test(tenantId) ? await k.tenantAccess.resolve(principal, tenantId) : null;
      if (!access) throw notFound(`Tenant '${printable(tenantId)}'`, 'tenantId');
      if (rank(access.role) < rank(def.access.tenantRole)) {
        throw apiError('Forbidden', `This operation needs the '${def.access.tenantRole}' role in the tenant.`);
      }
      if (access.status === 'suspended' && def.method !== 'GET' && !principal.isPlatformAdmin) {
        throw apiError('TenantSuspended', 'The tenant is suspended; only reads are allowed.');
      }
      const wait = principal.isPlatformAdmin ? 0 : this.limiter.take(access.tenantId, access.quotas.requestsPerMinute);
      if (wait > 0) {
        throw apiError('TooManyRequests', "The tenant's request rate quota is exhausted; retry later.", {
          headers: { 'Retry-After': String(wait) },
        });
      }
      tenant = access;
    }

    // 3. Validate input. A malformed id in the path names nothing that can exist: 404.
    const params = def.params ? def.params.safeParse(rawParams) : { success: true as const, data: {} };
    if (!params.success) throw notFound('The resource', params.error.issues[0]?.path.join('.'));
    const query = querySchema.safeParse(Object.fromEntries(request.query.entries()));
    if (!query.success) throw validationError('The query string is invalid.', query.error, 'query');
    rejectNul(query.data, 'query');
    let body: unknown = undefined;
    if (def.body) {
      body = await readJson(request, k.http.maxBodyBytes, def.body.contentType);
      const parsed = def.body.schema.safeParse(body);
      if (!parsed.success) throw validationError('The request body is invalid.', parsed.error, 'body');
      body = parsed.data;
    }
    const q = query.data as Record<string, unknown>;
    const pageSize = typeof q.maxpagesize === 'number' ? q.maxpagesize : Math.min(50, k.http.maxPageSize);
    const ifMatch = expectedEtag(request.headers.get('if-match'));

    const scope: SqlScope =
      'tenantRole' in def.access
        ? { tenantId: tenant.tenantId, placement: tenant.placement }
        : { platform: true, placement: { model: 'pooled' } };
    let outer: { svc: ServiceSql; trx: Transaction<any> } | undefined;
    const ctx: RouteContext<any, any, any> = {
      params: params.data,
      query: q,
      body,
      principal,
      tenant,
      ifMatch,
      request,
      invocation,
      pageSize,
      tx: (svc, fn) => {
        if (outer) {
          if (outer.svc.schema !== svc.schema) throw new Error(`idempotent route ${def.name} used two services`);
          return fn(outer.trx);
        }
        return k.sql.run(scope, svc, fn);
      },
      read: async (svc, build) => {
        if (!outer) return k.sql.read(scope, svc, build);
        const query = build(k.sql.forPlacement(scopeFor(svc, scope).placement)).compile();
        return (await ctx.tx(svc, (trx) => trx.executeQuery(query))).rows;
      },
      page: (rows, cursorOf, map) => toPage(rows, pageSize, request.url, cursorOf, map),
      prepared: undefined,
    };

    // 4. Run, idempotently when asked and the client sent Repeatability-Request-ID.
    const requestId = request.headers.get('repeatability-request-id');
    if (!def.idempotent || requestId === null) {
      if (def.prepare) ctx.prepared = await def.prepare(ctx);
      return def.handler(ctx);
    }
    if (!REQUEST_ID.test(requestId)) {
      throw invalid('Repeatability-Request-ID must be 1-128 characters of [A-Za-z0-9._:-].', 'Repeatability-Request-ID');
    }
    const svc = def.idempotent;
    const key = 'tenantId' in scope ? scope.tenantId : '';
    const hash = createHash('sha256').update(`${def.name}\n${request.url}\n${JSON.stringify(body ?? null)}`).digest('hex');
    if (def.prepare) {
      // A completed request replays from its record without preparing again.
      const row = await k.sql.run(scope, svc, (trx) => idempotencyRecord(trx, key, requestId));
      if (row?.response && row.request_hash === hash) return withHeader(row.response, 'Repeatability-Result', 'accepted');
      ctx.prepared = await def.prepare(ctx);
    }
    return k.sql.run(scope, svc, async (trx) => {
      outer = { svc, trx };
      const inserted = await sql<{ request_id: string }>`
        insert into idempotency (tenant_id, request_id, operation, request_hash)
        values (${key}, ${requestId}, ${def.name}, ${hash})
        on conflict do nothing returning request_id`.execute(trx);
      if (inserted.rows.length === 0) {
        const row = await idempotencyRecord(trx, key, requestId);
        if (!row || row.request_hash !== hash || !row.response) {
          throw apiError('RepeatabilityConflict', 'This Repeatability-Request-ID was already used for a different request.', {
            target: 'Repeatability-Request-ID',
          });
        }
        return withHeader(row.response, 'Repeatability-Result', 'accepted');
      }
      const reply = await def.handler(ctx);
      await sql`update idempotency set status = ${reply.status}, response = ${JSON.stringify(reply)}::jsonb
                where tenant_id = ${key} and request_id = ${requestId}`.execute(trx);
      return withHeader(reply, 'Repeatability-Result', 'accepted');
    });
  }

  private document<P extends AnyObject, Q extends AnyObject, B extends z.ZodType>(def: RouteDef<P, Q, B>): void {
    const o = this.kernel.openapi;
    const query = z.object({ ...(def.query?.shape ?? {}), ...(def.paged ? pageQuery(this.kernel.http.maxPageSize) : {}) });
    const responses: Record<string, { description: string; content?: Record<string, { schema: z.ZodType }> }> = {};
    for (const [status, r] of Object.entries(def.responses)) {
      responses[status] = { description: r.description, ...(r.schema ? { content: { 'application/json': { schema: r.schema } } } : {}) };
    }
    responses.default = { description: 'Error', content: { 'application/json': { schema: ErrorResponse } } };
    if (def.body) o.examples.set(def.name, { schema: def.body.schema, example: def.body.example });
    o.registry.registerPath({
      operationId: def.name,
      method: def.method.toLowerCase() as 'get',
      path: `/${def.route}`,
      summary: def.summary,
      tags: def.tags,
      ...('anonymous' in def.access ? { security: [] } : {}),
      request: {
        ...(def.params ? { params: def.params } : {}),
        ...(Object.keys(query.shape).length ? { query } : {}),
        ...(def.body
          ? {
              body: {
                required: true,
                content: { [def.body.contentType ?? 'application/json']: { schema: def.body.schema, example: def.body.example } },
              },
            }
          : {}),
      },
      responses,
    });
  }
}

/** The stored outcome of an idempotent request, if any. */
async function idempotencyRecord(trx: Transaction<any>, tenantKey: string, requestId: string) {
  const r = await sql<{ request_hash: string; response: Reply | null }>`
    select request_hash, response from idempotency where tenant_id = ${tenantKey} and request_id = ${requestId}`.execute(trx);
  return r.rows[0];
}

function rank(role: TenantRole): number {
  return TENANT_ROLES.indexOf(role);
}

function withHeader(reply: Reply, name: string, value: string): Reply {
  return { ...reply, headers: { ...reply.headers, [name]: value } };
}

/** Reads and parses a JSON body with a size bound; bad media type, size, UTF-8 or JSON are 4xx. */
async function readJson(request: HttpRequest, maxBytes: number, contentType = 'application/json'): Promise<unknown> {
  const declared = Number(request.headers.get('content-length') ?? '0');
  if (declared > maxBytes) throw apiError('PayloadTooLarge', `The request body exceeds ${maxBytes} bytes.`);
  const type = (request.headers.get('content-type') ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== contentType && type !== 'application/json') {
    throw apiError('UnsupportedMediaType', `The request body must be ${contentType}.`, { target: 'Content-Type' });
  }
  const bytes = new Uint8Array(await request.arrayBuffer());
  if (bytes.byteLength > maxBytes) throw apiError('PayloadTooLarge', `The request body exceeds ${maxBytes} bytes.`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw apiError('InvalidJson', 'The request body is not valid UTF-8.');
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw apiError('InvalidJson', 'The request body is not valid JSON.');
  }
  rejectNul(value, 'body');
  return value;
}

/** PostgreSQL text cannot hold U+0000; refuse it at the edge rather than fail in the database. */
function rejectNul(value: unknown, target: string): void {
  const walk = (v: unknown, path: string): void => {
    if (typeof v === 'string') {
      if (v.includes('\u0000')) throw invalid('Strings must not contain the NUL character.', path);
    } else if (Array.isArray(v)) v.forEach((x, i) => walk(x, `${path}[${i}]`));
    else if (v && typeof v === 'object') {
      for (const [key, x] of Object.entries(v)) {
        walk(key, path);
        walk(x, `${path}.${key}`);
      }
    }
  };
  walk(value, target);
}

function validationError(message: string, error: z.ZodError, where: string): ApiError {
  const details: ErrorDetail[] = error.issues.slice(0, 20).map((i) => ({
    code: i.code === 'unrecognized_keys' ? 'UnknownField' : 'InvalidValue',
    message: i.message,
    target: [where, ...i.path.map(String), ...(i.code === 'unrecognized_keys' ? [i.keys.join(',')] : [])].join('.'),
  }));
  return invalid(message, details[0]?.target ?? where, details);
}

function printable(s: string): string {
  return s.length > 64 || /[^\x20-\x7e]/.test(s) ? '(invalid id)' : s;
}

function toResponse(reply: Reply, invocation: InvocationContext): HttpResponseInit {
  const headers: Record<string, string> = { 'x-ms-request-id': invocation.invocationId, ...reply.headers };
  if (reply.etag) headers.ETag = etagHeader(reply.etag);
  if (reply.body === undefined) return { status: reply.status, headers };
  headers['Content-Type'] = 'application/json; charset=utf-8';
  return { status: reply.status, headers, body: JSON.stringify(reply.body) };
}

/** Maps anything thrown to the error format. Client errors are logged as such; ours with a reference. */
function errorResponse(e: unknown, invocation: InvocationContext): HttpResponseInit {
  let err: ApiError;
  if (isApiError(e)) err = e;
  else if (isTransientDbError(e)) {
    err = apiError('ServiceUnavailable', 'A dependency is unavailable; retry later.', { headers: { 'Retry-After': '5' } });
  } else {
    invocation.error(`system error in ${invocation.functionName}:`, e instanceof Error ? (e.stack ?? e.message) : String(e));
    err = apiError('InternalError', `An internal error occurred. Reference: ${invocation.invocationId}.`);
  }
  if (err.status < 500) invocation.log(`user error ${err.status} ${err.code} in ${invocation.functionName}`);
  else if (err.code !== 'InternalError') invocation.warn(`dependency error ${err.status} ${err.code} in ${invocation.functionName}`);
  return {
    status: err.status,
    headers: {
      'Content-Type': 'application/json; charset=utf-8',
      'x-ms-error-code': err.code,
      'x-ms-request-id': invocation.invocationId,
      ...err.extra.headers,
    },
    body: JSON.stringify(err.toBody()),
  };
}
