/**
 * Shaping answers: a handler's {@link Reply} into the Functions response, and anything thrown into
 * the error format. Domain errors get the status their code is declared with (the kernel's table
 * and every service's); an undeclared code is our bug and answers 500 like any other system error.
 */
import type { HttpResponseInit, InvocationContext } from '@azure/functions';
import { errorBody, isApiError, isDomainError, isUnavailableError, KERNEL_ERRORS, type ErrorBody } from '../errors.js';
import { isTransientDbError } from '../sql/database.js';
import { recordFailure } from '../tracing.js';
import { etagHeader } from './etag.js';
import type { Reply } from './route.js';

/** HTTP status by error code: the kernel's codes and every service's declared ones. */
export type ErrorStatuses = ReadonlyMap<string, number>;

/** The kernel's table merged with services' tables; a code declared twice with two statuses is refused. */
export function errorStatuses(tables: readonly { owner: string; table: Readonly<Record<string, number>> }[]): ErrorStatuses {
  const out = new Map<string, number>(Object.entries(KERNEL_ERRORS));
  const owners = new Map<string, string>(Object.keys(KERNEL_ERRORS).map((c) => [c, 'kernel']));
  for (const { owner, table } of tables) {
    for (const [code, status] of Object.entries(table)) {
      const known = out.get(code);
      if (known !== undefined && known !== status) {
        throw new Error(`Error code '${code}' is declared as ${status} by ${owner} but as ${known} by ${owners.get(code)}`);
      }
      out.set(code, status);
      owners.set(code, owner);
    }
  }
  return out;
}

/** A handler's reply as the Functions response. */
export function toResponse(reply: Reply, invocation: InvocationContext): HttpResponseInit {
  const headers: Record<string, string> = { 'x-ms-request-id': invocation.invocationId, ...reply.headers };
  if (reply.etag) headers.ETag = etagHeader(reply.etag);
  if (reply.raw) return { status: reply.status, headers: { ...headers, 'Content-Type': `${reply.raw.contentType}; charset=utf-8` }, body: reply.raw.text };
  if (reply.stream) {
    headers['Content-Type'] = reply.stream.contentType;
    if (reply.stream.length !== undefined) headers['Content-Length'] = String(reply.stream.length);
    return { status: reply.status, headers, body: reply.stream.body };
  }
  if (reply.body === undefined) return { status: reply.status, headers };
  headers['Content-Type'] = 'application/json; charset=utf-8';
  return { status: reply.status, headers, body: JSON.stringify(reply.body) };
}

/** Maps anything thrown to the error format. Client errors are logged as such; ours with a reference. */
export function errorResponse(e: unknown, invocation: InvocationContext, statuses: ErrorStatuses): HttpResponseInit {
  const { status, body, headers } = classify(e, invocation, statuses);
  const code = body.error.code;
  if (status < 500) invocation.log(`user error ${status} ${code} in ${invocation.functionName}`);
  else if (code !== 'InternalError') invocation.warn(`dependency error ${status} ${code} in ${invocation.functionName}`);
  // A server-side failure is an exception of the invocation's operation, with its code.
  if (status >= 500) recordFailure(e, code);
  return {
    status,
    headers: { 'Content-Type': 'application/json; charset=utf-8', 'x-ms-error-code': code, 'x-ms-request-id': invocation.invocationId, ...headers },
    body: JSON.stringify(body),
  };
}

function classify(e: unknown, invocation: InvocationContext, statuses: ErrorStatuses): { status: number; body: ErrorBody; headers?: Record<string, string> } {
  if (isApiError(e)) return { status: e.status, body: e.toBody(), ...(e.extra.headers ? { headers: e.extra.headers } : {}) };
  if (isDomainError(e)) {
    const status = statuses.get(e.code);
    if (status !== undefined) return { status, body: errorBody(e.code, e.message, e.target, e.details) };
  }
  if (isUnavailableError(e)) {
    return { status: 503, body: errorBody('ServiceUnavailable', e.message), headers: { 'Retry-After': String(e.retryAfterSeconds) } };
  }
  if (isTransientDbError(e)) {
    return { status: 503, body: errorBody('ServiceUnavailable', 'A dependency is unavailable; retry later.'), headers: { 'Retry-After': '5' } };
  }
  invocation.error(`system error in ${invocation.functionName}:`, e instanceof Error ? (e.stack ?? e.message) : String(e));
  return { status: 500, body: errorBody('InternalError', `An internal error occurred. Reference: ${invocation.invocationId}.`) };
}
