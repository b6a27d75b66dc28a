/**
 * How a service declares an HTTP route: {@link route} takes the route's schemas and infers the
 * types its handler sees (`ctx.params`, `ctx.query`, `ctx.body`, `ctx.prepared`), so handlers
 * never cast. The pipeline (`pipeline.ts`) runs the declaration; `index.ts` gives it its name,
 * method and path.
 */
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import type { Compilable, Kysely, Transaction } from 'kysely';
import type { z } from 'zod';
import type { Principal } from '../auth/authenticate.js';
import type { LeadStatement, Placement, ServiceDb } from '../sql/database.js';
import type { Page } from './pagination.js';
import type { EtagCondition } from './etag.js';

/** Per-tenant roles, weakest first. */
export const TENANT_ROLES = ['reader', 'operator', 'admin'] as const;
export type TenantRole = (typeof TENANT_ROLES)[number];

/**
 * A tenant's quotas by name. The tenants service owns the set (its schema, exported through its
 * `api.ts`); a service declares the quota it enforces in its descriptor.
 */
export type TenantQuotas = Readonly<Record<string, number>>;

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
 * Answers may come from a per-instance cache (`TENANT_CACHE_TTL_MS`); `fresh` reads the database.
 */
export interface TenantAccessPort {
  resolve(principal: Principal, tenantId: string, opts?: { fresh?: boolean }): Promise<TenantAccess | null>;
}

/**
 * Who may call a route, and the SQL scope its queries run in (`shared/sql/service-db.ts`):
 * - `platformAdmin`: platform admins only; the platform scope (every tenant's registry rows).
 * - `tenantRole`: members of the path's tenant with at least that role (platform admins act as
 *   `admin`); the tenant's scope. `fresh: true` checks the caller's access against the database
 *   instead of the per-instance cache: routes that change who may do what (memberships, roles)
 *   declare it, so access removed on another instance is never used to change access.
 * - `authenticated`: any valid token; the principal scope, which sees no tenant's rows except the
 *   caller's own memberships and the tenants they name. `platformAdminsSeeAll: true` runs
 *   platform admins in the platform scope instead (lists of every tenant).
 * - `anonymous`: no token; a scope that sees nothing.
 */
export type RouteAccess =
  | { platformAdmin: true }
  | { tenantRole: TenantRole; fresh?: true }
  | { authenticated: true; platformAdminsSeeAll?: true }
  | { anonymous: true };

/** A handler's answer. */
export interface Reply {
  status: number;
  body?: unknown;
  /** A body the handler serialized itself, in a media type it negotiated (sent instead of `body` as JSON). */
  raw?: { contentType: string; text: string };
  etag?: string;
  headers?: Record<string, string>;
  /** A binary answer streamed as it is read (a download), instead of a JSON `body`. */
  stream?: { body: AsyncIterable<Uint8Array>; contentType: string; length?: number };
}

/**
 * A request body the handler reads itself, as a stream (`ctx.request.body`), neither parsed nor
 * buffered by the pipeline: large uploads. The pipeline checks only its headers: a Content-Length
 * (the upload's size is checked before it starts) of at most `maxBytes`, and one of `mediaTypes`.
 */
export interface StreamBody {
  mediaTypes: readonly string[];
  maxBytes: number;
  /** The example the OpenAPI document shows (and the fuzz suite starts from). */
  example: string;
}

/** The query parameters every paged list accepts (added by `paged: true`). */
export interface PageParams {
  maxpagesize?: number | undefined;
  skipToken?: string | undefined;
}

/** Everything a handler gets. */
export interface RouteContext<P, Q, B, Prep = undefined> {
  params: P;
  query: Q;
  body: B;
  principal: Principal;
  /** The tenant of a tenant-scoped route (`tenantRole` access); for other routes, no tenant (id ''). */
  tenant: TenantAccess;
  /** `If-Match`: what a write requires of the current resource (`*` or strong tags), if given. */
  ifMatch: EtagCondition | undefined;
  /** `If-None-Match`: what a create-or-replace requires to be absent (`*`: the resource), if given. */
  ifNoneMatch: EtagCondition | undefined;
  request: HttpRequest;
  invocation: InvocationContext;
  /** Page size for lists (`maxpagesize`, bounded). */
  pageSize: number;
  /**
   * Runs `fn` in this request's scope as `svc`'s role; reuses the idempotency transaction if any.
   * With `lead` (another service's check, such as the catalog's `liveServiceCheck(…).statement`),
   * the transaction first runs that statement under its own service's role and hands its rows to
   * `fn`: what it locks stays locked until this transaction ends.
   */
  tx<DB, T>(svc: ServiceDb<DB>, fn: (trx: Transaction<DB>, lead: readonly unknown[]) => Promise<T>, opts?: { lead?: LeadStatement }): Promise<T>;
  /**
   * Runs one read-only statement in this request's scope as `svc`'s role, in one round trip (see
   * `sql/scoped-read.ts`). `build` gets a query creator whose tables are `svc`'s.
   */
  read<DB, Row>(svc: ServiceDb<DB>, build: (db: Kysely<DB>) => Compilable<Row>): Promise<Row[]>;
  /** Shapes rows fetched with `limit pageSize + 1` into a page with `nextLink`. */
  page<Row, T>(rows: Row[], cursorOf: (last: Row) => unknown, map: (row: Row) => T): Page<T>;
  /** What the route's `prepare` returned. */
  prepared: Prep;
}

/** Schemas of path parameters and query strings are objects. */
export type ObjectSchema = z.ZodObject<z.ZodRawShape>;
type EmptyObject = z.ZodObject<Record<never, never>>;

/** The query a handler sees: the route's own, plus the paging parameters on paged lists. */
export type QueryOf<Q extends ObjectSchema> = z.output<Q> & PageParams;

/** A route's declaration, typed by its schemas. */
export interface RouteSpec<P extends ObjectSchema, Q extends ObjectSchema, B extends z.ZodType, Prep> {
  summary: string;
  tags: string[];
  access: RouteAccess;
  params?: P;
  query?: Q;
  /** Adds `maxpagesize` and `skipToken` to the query. */
  paged?: boolean;
  body?: { schema: B; example: z.input<B>; contentType?: string };
  /** A raw body streamed to the handler (see {@link StreamBody}); exclusive with `body`. */
  stream?: StreamBody;
  /**
   * Answers by status: a JSON `schema` (sent as any of `mediaTypes`, default `application/json`, each
   * with `schema`), or `binary` media types for a streamed answer.
   */
  responses: Record<number, { description: string; schema?: z.ZodType; mediaTypes?: readonly string[]; binary?: readonly string[] }>;
  /** Enables `Repeatability-Request-ID`: the create runs in `svc`'s transaction with its record. */
  idempotent?: ServiceDb<unknown>;
  /**
   * Runs before the handler and outside its transaction (before an idempotent route takes its
   * record): the place to ask other services' APIs, each of which runs its own transaction, so a
   * request never holds one connection while it waits for another (PGlite serves one session at a
   * time; a pool can run dry). Its result is `ctx.prepared`. A replay of a completed idempotent
   * request answers from its record without running it.
   */
  prepare?(ctx: RouteContext<z.output<P>, QueryOf<Q>, z.output<B>, unknown>): Promise<Prep>;
  handler(ctx: RouteContext<z.output<P>, QueryOf<Q>, z.output<B>, Prep>): Promise<Reply>;
}

/** A route declaration with its types erased, as the pipeline and the registrar hold it. */
export type RouteImpl = RouteSpec<ObjectSchema, ObjectSchema, z.ZodType, unknown>;

/**
 * Declares a route. The types of `ctx` in `prepare` and `handler` come from `params`, `query`,
 * `body` and `prepare`'s result; nothing is cast.
 */
export function route<P extends ObjectSchema = EmptyObject, Q extends ObjectSchema = EmptyObject, B extends z.ZodType = z.ZodUndefined, Prep = undefined>(
  spec: RouteSpec<P, Q, B, Prep>,
): RouteImpl {
  return spec;
}

/** A route as registered: its name, method and path, and the composed handler. */
export interface RegisteredRoute {
  name: string;
  method: HttpMethod;
  route: string;
  access: RouteAccess;
  summary: string;
  handler: (request: HttpRequest, context: InvocationContext) => Promise<HttpResponseInit>;
}

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
