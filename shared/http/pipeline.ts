/**
 * The HTTP pipeline around every handler: access (authenticate, resolve and authorize the tenant),
 * input (validate), run the handler (optionally idempotent), answer (or map the error). Each step
 * lives in its own module; this one only puts them in order. Routes are declared with `route()`
 * (`route.ts`) and registered by the registrar, which adds them here on first use.
 */
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import type { Transaction } from 'kysely';
import type { Authenticator } from '../auth/authenticate.js';
import { leadIn, type ServiceDb, type SqlDatabases, type SqlScope } from '../sql/database.js';
import { AccessControl, type Access } from './access.js';
import { notModified, parseEtagCondition } from './etag.js';
import { fingerprint, findRecord, repeatabilityId, replayOf, runOnce } from './idempotency.js';
import { querySchema, readInput, type Input } from './input.js';
import type { OpenApi } from './openapi.js';
import { documentRoute } from './openapi-document.js';
import { toPage } from './pagination.js';
import { annotateTenant } from '../tracing.js';
import { errorResponse, toResponse, type ErrorStatuses } from './responses.js';
import type { HttpMethod, ObjectSchema, RegisteredRoute, Reply, RouteContext, RouteImpl, TenantAccessPort } from './route.js';

export type * from './route.js';
export { route, TENANT_ROLES } from './route.js';

/** What the pipeline needs from the composition root. */
export interface HttpKernel {
  authenticator: Authenticator;
  tenantAccess: TenantAccessPort;
  sql: SqlDatabases;
  openapi: OpenApi;
  errors: ErrorStatuses;
  http: { maxBodyBytes: number; maxPageSize: number };
}

/** The app's route table. One per app instance. */
export class HttpRoutes {
  readonly routes: RegisteredRoute[] = [];
  private readonly access: AccessControl;

  constructor(private readonly kernel: HttpKernel) {
    this.access = new AccessControl(kernel.authenticator, kernel.tenantAccess);
  }

  /**
   * Adds a route to the table and the OpenAPI document and returns its composed handler. The
   * Functions registration itself is the registrar's (`shared/registrar.ts`), done at import with
   * a handler that loads the route on first use.
   */
  add(name: string, method: HttpMethod, path: string, def: RouteImpl): RegisteredRoute['handler'] {
    const existing = this.routes.find((r) => r.name === name);
    if (existing) return existing.handler;
    const query = querySchema(def, this.kernel.http.maxPageSize);
    const handler = async (request: HttpRequest, invocation: InvocationContext): Promise<HttpResponseInit> => {
      try {
        return toResponse(await this.run(name, method, def, query, request, invocation), invocation);
      } catch (e) {
        return errorResponse(e, invocation, this.kernel.errors);
      }
    };
    this.routes.push({ name, method, route: path, access: def.access, summary: def.summary, handler });
    documentRoute(this.kernel.openapi, name, method, path, def, this.kernel.http.maxPageSize);
    return handler;
  }

  private async run(name: string, method: HttpMethod, def: RouteImpl, query: ObjectSchema, request: HttpRequest, invocation: InvocationContext): Promise<Reply> {
    const reply = await this.answer(name, method, def, query, request, invocation);
    // A GET whose client already holds the current representation gets 304 and no body.
    if (method === 'GET' && reply.status === 200 && reply.etag !== undefined && notModified(request.headers.get('if-none-match'), reply.etag)) {
      return { status: 304, etag: reply.etag, ...(reply.headers ? { headers: reply.headers } : {}) };
    }
    return reply;
  }

  private async answer(name: string, method: HttpMethod, def: RouteImpl, query: ObjectSchema, request: HttpRequest, invocation: InvocationContext): Promise<Reply> {
    const access = await this.access.check(request, method, def.access);
    annotateTenant(access.tenant.tenantId);
    const input = await readInput(request, def, query, this.kernel.http.maxBodyBytes);
    const requestId = def.idempotent ? repeatabilityId(request) : undefined;
    const ctx = this.context(access, input, request, invocation);
    if (!def.idempotent || requestId === undefined) {
      if (def.prepare) ctx.prepared = await def.prepare(ctx);
      return def.handler(ctx);
    }
    // Idempotent: the handler runs in the service's transaction together with its record.
    const svc = def.idempotent;
    const tenantKey = 'tenantId' in access.scope ? access.scope.tenantId : '';
    const key = { tenantKey, requestId, operation: name, hash: fingerprint(name, tenantKey, access.principal, request, input.body) };
    if (def.prepare) {
      // A completed request replays from its record without preparing again.
      const replay = replayOf(await this.kernel.sql.run(access.scope, svc, (trx) => findRecord(trx, tenantKey, requestId)), key.hash);
      if (replay) return replay;
      ctx.prepared = await def.prepare(ctx);
    }
    return this.kernel.sql.run(access.scope, svc, (trx) => {
      ctx.bind(svc, trx);
      return runOnce(trx, key, () => def.handler(ctx));
    });
  }

  /** The handler's context: validated input, access, and this request's SQL scope. */
  private context(access: Access, input: Input, request: HttpRequest, invocation: InvocationContext) {
    const { sql, http } = this.kernel;
    const scope: SqlScope = access.scope;
    const q = input.query;
    const pageSize = typeof q.maxpagesize === 'number' ? q.maxpagesize : Math.min(50, http.maxPageSize);
    // Set while an idempotent request's transaction is open: the handler's statements join it.
    let outer: { svc: ServiceDb<unknown>; trx: Transaction<unknown> } | undefined;
    const joined = <DB>(svc: ServiceDb<DB>) => {
      if (!outer) return undefined;
      if (outer.svc.schema !== svc.schema) throw new Error(`an idempotent route used two services (${outer.svc.service}, ${svc.service})`);
      return outer.trx as Transaction<DB>;
    };
    const ctx: RouteContext<Record<string, unknown>, Record<string, unknown>, unknown, unknown> & {
      bind(svc: ServiceDb<unknown>, trx: Transaction<unknown>): void;
    } = {
      params: input.params,
      query: q,
      body: input.body,
      principal: access.principal,
      tenant: access.tenant,
      ifMatch: parseEtagCondition(request.headers.get('if-match')),
      ifNoneMatch: parseEtagCondition(request.headers.get('if-none-match')),
      request,
      invocation,
      pageSize,
      tx: (svc, fn, opts) => {
        const trx = joined(svc);
        const lead = opts?.lead;
        if (!lead) return trx ? fn(trx, []) : sql.run(scope, svc, (t) => fn(t, []));
        return trx ? leadIn(trx, scope, lead, svc).then((rows) => fn(trx, rows)) : sql.run(scope, svc, async (t) => fn(t, await leadIn(t, scope, lead, svc)));
      },
      read: async (svc, build) => {
        const trx = joined(svc);
        if (!trx) return sql.read(scope, svc, build);
        const query = build(trx).compile();
        return (await trx.executeQuery(query)).rows;
      },
      page: (rows, cursorOf, map) => toPage(rows, pageSize, request.url, cursorOf, map),
      prepared: undefined,
      bind: (svc, trx) => void (outer = { svc, trx }),
    };
    return ctx;
  }
}
