/**
 * The error model (Microsoft REST API guidelines): every failure a client sees is
 * `{"error":{"code","message","target"?,"details"?}}` with `x-ms-error-code` equal to `code`.
 *
 * Two kinds of error carry a code:
 * - {@link DomainError}: thrown by services' domain code and by the kernel's building blocks. It
 *   names a stable code and never an HTTP status: the status of every code is declared once —
 *   the kernel's in {@link KERNEL_ERRORS}, each service's in its descriptor (`errors`, a plain
 *   {@link ErrorTable} in its index.ts) — and the HTTP pipeline maps it (`shared/http/responses.ts`).
 * - {@link ApiError}: raised by the HTTP edge itself (authentication, rate limit, media type), where
 *   the answer needs headers such as `WWW-Authenticate` or `Retry-After`.
 * A dependency that is down raises {@link UnavailableError} (503 with `Retry-After`).
 */

/** One entry of `error.details`. */
export interface ErrorDetail {
  code: string;
  message: string;
  target?: string;
}

/** The kernel's codes and their HTTP status. Services declare theirs in their descriptor. */
export const KERNEL_ERRORS = {
  InvalidRequest: 400,
  InvalidJson: 400,
  UnsupportedMediaType: 415,
  Unauthorized: 401,
  Forbidden: 403,
  NotFound: 404,
  MethodNotAllowed: 405,
  Conflict: 409,
  PreconditionFailed: 412,
  PreconditionRequired: 428,
  LengthRequired: 411,
  PayloadTooLarge: 413,
  RepeatabilityConflict: 409,
  QuotaExceeded: 409,
  TenantSuspended: 403,
  TooManyRequests: 429,
  ServiceUnavailable: 503,
  InternalError: 500,
} as const;

export type KernelErrorCode = keyof typeof KERNEL_ERRORS;

/** A service's error codes and the HTTP status of each (4xx only: a domain rule is the client's). */
export type ErrorTable = Readonly<Record<string, 400 | 403 | 404 | 409 | 412 | 422 | 428>>;

/**
 * A rule of the domain was broken: a stable code, a safe message, the input it concerns. A service
 * names its codes' type after its table (`DomainError<keyof typeof ENVIRONMENT_ERRORS>`), so a
 * code it throws is always one it declared.
 */
export class DomainError<C extends string = string> extends Error {
  override name = 'DomainError';
  constructor(
    readonly code: C,
    message: string,
    readonly target?: string,
    readonly details?: ErrorDetail[],
  ) {
    super(message);
  }
}

/** Recognises a {@link DomainError} by name, not `instanceof` (bundles may hold two copies). */
export function isDomainError(e: unknown): e is DomainError {
  return e instanceof Error && e.name === 'DomainError' && typeof (e as DomainError).code === 'string';
}

/** An error meant for the client, raised by the HTTP edge: status, stable code, safe message, headers. */
export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly extra: { target?: string; details?: ErrorDetail[]; headers?: Record<string, string> } = {},
  ) {
    super(message);
  }

  /** The response body. */
  toBody(): ErrorBody {
    return errorBody(this.code, this.message, this.extra.target, this.extra.details);
  }
}

/** The error response body. */
export interface ErrorBody {
  error: { code: string; message: string; target?: string; details?: ErrorDetail[] };
}

/** Builds the error response body. */
export function errorBody(code: string, message: string, target?: string, details?: ErrorDetail[]): ErrorBody {
  return { error: { code, message, ...(target ? { target } : {}), ...(details?.length ? { details } : {}) } };
}

/** Builds an {@link ApiError} for a kernel code, with its status from {@link KERNEL_ERRORS}. */
export function apiError(code: KernelErrorCode, message: string, extra?: ConstructorParameters<typeof ApiError>[3]): ApiError {
  return new ApiError(KERNEL_ERRORS[code], code, message, extra);
}

/** Recognises an {@link ApiError} by name, not `instanceof` (bundles may hold two copies). */
export function isApiError(e: unknown): e is ApiError {
  return e instanceof Error && e.name === 'ApiError' && typeof (e as ApiError).status === 'number';
}

/**
 * A dependency (a database, a silo this instance has no connection for, a key endpoint) cannot
 * be reached now; the client may retry after `retryAfterSeconds`. Raised below the HTTP layer.
 */
export class UnavailableError extends Error {
  override name = 'UnavailableError';
  constructor(
    message: string,
    readonly retryAfterSeconds = 5,
  ) {
    super(message);
  }
}

/** Recognises an {@link UnavailableError} by name. */
export function isUnavailableError(e: unknown): e is UnavailableError {
  return e instanceof Error && e.name === 'UnavailableError';
}

/** The kernel's domain errors, used across services. */
export const notFound = (what: string, target?: string): DomainError => new DomainError('NotFound', `${what} was not found.`, target);
export const conflict = (message: string, target?: string): DomainError => new DomainError('Conflict', message, target);
export const invalid = (message: string, target?: string, details?: ErrorDetail[]): DomainError =>
  new DomainError('InvalidRequest', message, target, details);
export const quotaExceeded = (message: string, quota: string): DomainError => new DomainError('QuotaExceeded', message, quota);
export const preconditionFailed = (message: string): DomainError => new DomainError('PreconditionFailed', message, 'If-Match');
