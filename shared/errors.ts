/**
 * The error model (Microsoft REST API guidelines): every failure a client sees is
 * `{"error":{"code","message","target"?,"details"?}}` with `x-ms-error-code` equal to `code`.
 * Codes are stable strings; the HTTP status for each lives in one place, here.
 */

/** One entry of `error.details`. */
export interface ErrorDetail {
  code: string;
  message: string;
  target?: string;
}

/** Codes the kernel raises, and their HTTP status. Services add their own via {@link ApiError}. */
export const ErrorCodes = {
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
  PayloadTooLarge: 413,
  RepeatabilityConflict: 409,
  QuotaExceeded: 409,
  TenantSuspended: 403,
  TooManyRequests: 429,
  ServiceUnavailable: 503,
  InternalError: 500,
} as const;

export type KernelErrorCode = keyof typeof ErrorCodes;

/** An error meant for the client: status, stable code, safe message. */
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
  toBody(): { error: { code: string; message: string; target?: string; details?: ErrorDetail[] } } {
    return {
      error: {
        code: this.code,
        message: this.message,
        ...(this.extra.target ? { target: this.extra.target } : {}),
        ...(this.extra.details?.length ? { details: this.extra.details } : {}),
      },
    };
  }
}

/** Builds an {@link ApiError} for a kernel code, with its status from {@link ErrorCodes}. */
export function apiError(
  code: KernelErrorCode,
  message: string,
  extra?: ConstructorParameters<typeof ApiError>[3],
): ApiError {
  return new ApiError(ErrorCodes[code], code, message, extra);
}

/** Recognises an {@link ApiError} by name, not `instanceof` (bundles may hold two copies). */
export function isApiError(e: unknown): e is ApiError {
  return e instanceof Error && e.name === 'ApiError' && typeof (e as ApiError).status === 'number';
}

/** Shorthands used across services. */
export const notFound = (what: string, target?: string): ApiError =>
  apiError('NotFound', `${what} was not found.`, target ? { target } : {});
export const conflict = (message: string, target?: string): ApiError =>
  apiError('Conflict', message, target ? { target } : {});
export const invalid = (message: string, target?: string, details?: ErrorDetail[]): ApiError =>
  apiError('InvalidRequest', message, { ...(target ? { target } : {}), ...(details ? { details } : {}) });
