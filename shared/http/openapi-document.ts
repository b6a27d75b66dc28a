/**
 * Adds a route to the OpenAPI document: its operation, parameters, body, answers and example.
 *
 * A route declares its successful answers and its own domain errors (`responses`); every other
 * error it can answer is derived here from the rest of its declaration, so no route writes them
 * by hand and none is missing from the contract:
 *
 * | Declared | Answers added |
 * |---|---|
 * | any route (its query string is strict) | 400 |
 * | access other than anonymous | 401, 503 |
 * | `platformAdmin` | 403 |
 * | `tenantRole` | 404 (the tenant), 429; 403 unless a `reader` GET |
 * | `params` | 404 |
 * | `body` | 400, 411, 413, 415 |
 * | `idempotent` | 400, 409 `RepeatabilityConflict`; the `Repeatability-Request-ID` header |
 * | PUT, PATCH, DELETE, or a declared 412 | 412; the `If-Match` header |
 * | GET whose 200 has an `etag`, or a declared 304 | 304; the `If-None-Match` header; `ETag` on the 304 |
 *
 * Each error answer carries the `ErrorResponse` schema and `x-ms-error-code`; 401 carries
 * `WWW-Authenticate`, 429 and 503 `Retry-After`. Successful answers carry `ETag` when their schema
 * has an `etag` property, `Location` when they are a POST's 201, and `Operation-Location` with
 * `Retry-After` when they are a 202.
 */
import { z } from 'zod';
import { KERNEL_ERRORS, type KernelErrorCode } from '../errors.js';
import { ErrorResponse, type OpenApi, type ResponseHeader } from './openapi.js';
import { pageQuery } from './pagination.js';
import { TENANT_ROLES, type HttpMethod, type RouteImpl } from './route.js';

/** Why a route can answer an error status: the code, and when. */
export interface ErrorReason {
  status: number;
  code: KernelErrorCode;
  why: string;
}

/** True when the route honours `If-Match` (a write of an existing resource). */
export function isConditional(method: HttpMethod, def: Pick<RouteImpl, 'responses'>): boolean {
  return method === 'PUT' || method === 'PATCH' || method === 'DELETE' || 412 in def.responses;
}

/** True when the route answers 304 to a matching `If-None-Match` (a GET of a resource with an ETag). */
export function isCacheable(method: HttpMethod, def: Pick<RouteImpl, 'responses'>): boolean {
  const schema = def.responses[200]?.schema;
  return method === 'GET' && schema instanceof z.ZodObject && 'etag' in schema.shape;
}

/** The error answers the kernel gives for a route, derived from its declaration. */
export function kernelErrors(method: HttpMethod, def: RouteImpl): ErrorReason[] {
  const out: ErrorReason[] = [];
  const add = (code: KernelErrorCode, why: string) => out.push({ status: KERNEL_ERRORS[code], code, why });
  const access = def.access;
  add('InvalidRequest', 'an unknown or malformed query parameter');
  if (def.body) {
    add('InvalidRequest', 'the body does not match its schema, or holds a NUL character');
    add('InvalidJson', 'the body is empty, or not UTF-8 JSON');
    add('PayloadTooLarge', 'the body is larger than the limit');
    add('UnsupportedMediaType', `the body is not \`${def.body.contentType ?? 'application/json'}\``);
  }
  if (def.stream) {
    add('InvalidRequest', 'the Content-Length header is not a number');
    add('LengthRequired', "the request has no Content-Length (an upload's size is checked before it starts)");
    add('PayloadTooLarge', `the body is larger than ${def.stream.maxBytes} bytes`);
    add('UnsupportedMediaType', `the body is not one of ${def.stream.mediaTypes.map((m) => `\`${m}\``).join(', ')}`);
  }
  if (def.idempotent) {
    add('InvalidRequest', 'a malformed `Repeatability-Request-ID`');
    add('RepeatabilityConflict', 'the `Repeatability-Request-ID` was used before for a different request');
  }
  if (!('anonymous' in access)) add('Unauthorized', 'the bearer token is missing, invalid or expired');
  if ('platformAdmin' in access) add('Forbidden', 'the caller is not a platform administrator');
  if ('tenantRole' in access) {
    if (access.tenantRole !== TENANT_ROLES[0]) add('Forbidden', `the caller's role in the tenant is weaker than \`${access.tenantRole}\``);
    if (method !== 'GET') add('TenantSuspended', 'the tenant is suspended: only reads are allowed');
    add('NotFound', 'the tenant does not exist, or the caller is not a member of it');
    add('TooManyRequests', "the tenant's request-rate quota is used up; retry after `Retry-After` seconds");
  }
  if (def.params) add('NotFound', 'what the path names does not exist (or its id is malformed)');
  if (isConditional(method, def)) add('PreconditionFailed', '`If-Match` is not the current ETag of the resource, or is not a strong ETag');
  if (!('anonymous' in access)) add('ServiceUnavailable', 'a dependency (the database, the token issuer) is unavailable; retry after `Retry-After` seconds');
  return out;
}

/** Kernel codes that share a status with another code: a route's own text does not imply them. */
const sharedStatuses = new Set<number>(Object.values(KERNEL_ERRORS).filter((s, i, all) => all.indexOf(s) !== i));

/** The headers of an error answer. */
function errorHeaders(status: number): ResponseHeader[] {
  const out: ResponseHeader[] = ['x-ms-request-id', 'x-ms-error-code'];
  if (status === 401) out.push('WWW-Authenticate');
  if (status === 429 || status === 503) out.push('Retry-After');
  return out;
}

/** The headers of a successful answer. */
function successHeaders(method: HttpMethod, status: number, schema: z.ZodType | undefined, def: RouteImpl): ResponseHeader[] {
  const out: ResponseHeader[] = ['x-ms-request-id'];
  // A 304 carries the ETag the client's `If-None-Match` matched (RFC 9110 §15.4.5).
  if ((schema instanceof z.ZodObject && 'etag' in schema.shape) || status === 304) out.push('ETag');
  if (method === 'POST' && status === 201) out.push('Location');
  // Long work (shared/orchestration.ts `accepted`): where to poll, and how soon.
  if (status === 202) out.push('Operation-Location', 'Retry-After');
  if (def.idempotent) out.push('Repeatability-Result');
  return out;
}

type Response = { description: string; headers: Record<string, { $ref: string }>; content?: Record<string, { schema: z.ZodType }> };

const NOT_MODIFIED = 'Not modified: `If-None-Match` names the current ETag; no body';
/** Bytes, as a streamed body is documented. */
const BINARY = z.string().openapi({ format: 'binary' });

/** Every answer of the operation: the route's own, and the kernel's errors (see the table above). */
function responsesOf(o: OpenApi, method: HttpMethod, def: RouteImpl): Record<string, Response> {
  const json = (schema: z.ZodType) => ({ 'application/json': { schema } });
  const declared = new Map(Object.entries(def.responses).map(([s, r]) => [Number(s), r]));
  if (isCacheable(method, def) && !declared.has(304)) declared.set(304, { description: NOT_MODIFIED });
  const reasons = new Map<number, string[]>();
  for (const { status, code, why } of kernelErrors(method, def)) {
    const own = declared.get(status)?.description;
    // A route's own text for a status stands; a code it does not name is added to it.
    if (own !== undefined && (own.includes(code) || !sharedStatuses.has(status))) continue;
    reasons.set(status, [...(reasons.get(status) ?? []), `\`${code}\`: ${why}`]);
  }
  const statuses = [...new Set([...declared.keys(), ...reasons.keys()])].sort((a, b) => a - b);
  const out: Record<string, Response> = {};
  for (const status of statuses) {
    const own = declared.get(status);
    if (status < 400) {
      const schema = own?.schema;
      const types = own?.mediaTypes ?? ['application/json'];
      out[status] = {
        description: own?.description ?? '',
        headers: o.headers(status === 304 ? ['x-ms-request-id', 'ETag'] : successHeaders(method, status, schema, def)),
        ...(own?.binary
          ? { content: Object.fromEntries(own.binary.map((m) => [m, { schema: BINARY }])) }
          : schema
            ? { content: Object.fromEntries(types.map((t) => [t, { schema }])) }
            : {}),
      };
      continue;
    }
    const lines = [...(own ? [own.description] : []), ...(reasons.get(status) ?? [])];
    out[status] = {
      description: lines.length === 1 ? lines[0]! : lines.map((l) => `- ${l}`).join('\n'),
      headers: o.headers(errorHeaders(status)),
      content: json(own?.schema ?? ErrorResponse),
    };
  }
  out.default = { description: '`InternalError`, or any other error', headers: o.headers(errorHeaders(500)), content: json(ErrorResponse) };
  return out;
}

/** Registers the operation `name` (`method /route`) described by `def`. */
export function documentRoute(o: OpenApi, name: string, method: HttpMethod, path: string, def: RouteImpl, maxPageSize: number): void {
  const query = z.object({ ...(def.query?.shape ?? {}), ...(def.paged ? pageQuery(maxPageSize) : {}) });
  const headers = [
    ...(isConditional(method, def) ? [o.parameters.ifMatch] : []),
    ...(isCacheable(method, def) || 304 in def.responses ? [o.parameters.ifNoneMatch] : []),
    ...(def.idempotent ? [o.parameters.repeatabilityRequestId] : []),
  ];
  if (def.body) o.examples.set(name, { schema: def.body.schema, example: def.body.example });
  o.registry.registerPath({
    operationId: name,
    method: method.toLowerCase() as Lowercase<HttpMethod>,
    path: `/${path}`,
    summary: def.summary,
    tags: def.tags,
    ...('anonymous' in def.access ? { security: [] } : {}),
    ...(headers.length ? { parameters: headers } : {}),
    request: {
      ...(def.params ? { params: def.params } : {}),
      ...(Object.keys(query.shape).length ? { query } : {}),
      ...(def.body
        ? { body: { required: true, content: { [def.body.contentType ?? 'application/json']: { schema: def.body.schema, example: def.body.example } } } }
        : def.stream
          ? { body: { required: true, content: Object.fromEntries(def.stream.mediaTypes.map((m) => [m, { schema: BINARY, example: def.stream!.example }])) } }
          : {}),
    },
    responses: responsesOf(o, method, def),
  });
}
