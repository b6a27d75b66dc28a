/** ETags and `If-Match`: resources carry an opaque version; a stale `If-Match` is a 412. */
import { apiError, type ApiError } from '../errors.js';

/** The header value for a row's etag column. */
export function etagHeader(etag: string): string {
  return `"${etag}"`;
}

/**
 * The etag a conditional update must match, or `undefined` when the request has no `If-Match`
 * (or `*`, which any existing resource matches). Weak validators never match (RFC 9110).
 */
export function expectedEtag(ifMatch: string | null): string | undefined {
  if (ifMatch === null || ifMatch.trim() === '*') return undefined;
  const tags = ifMatch.split(',').map((t) => t.trim());
  const strong = tags.find((t) => /^"[^"]*"$/.test(t));
  if (!strong) throw apiError('PreconditionFailed', 'If-Match must hold a strong ETag of the resource.', { target: 'If-Match' });
  return strong.slice(1, -1);
}

/**
 * The 412 for a conditional write that found its row changed between the read and the write (the
 * `where etag = …` matched nothing): another writer won.
 */
export function concurrentlyChanged(what: string): ApiError {
  return apiError('PreconditionFailed', `The ${what} changed concurrently; read it again.`, { target: 'If-Match' });
}

/** Throws 412 when `expected` is set and differs from `current`. */
export function checkEtag(expected: string | undefined, current: string): void {
  if (expected !== undefined && expected !== current) {
    throw apiError('PreconditionFailed', 'The resource has changed since it was read (ETag mismatch).', {
      target: 'If-Match',
    });
  }
}
