/**
 * ETags and conditional requests (RFC 9110 §13): resources carry an opaque version; `If-Match`
 * makes a write conditional on it, `If-None-Match` a create conditional on absence.
 */
import { preconditionFailed, type DomainError } from '../errors.js';

/**
 * A parsed `If-Match` / `If-None-Match`: `*` (any current representation), or the list of strong
 * entity tags given. Weak tags never match under the strong comparison RFC 9110 requires for
 * `If-Match`, so they are dropped; a list of nothing but weak or malformed tags matches nothing.
 */
export type EtagCondition = '*' | readonly string[];

/** The header value for a row's etag column. */
export function etagHeader(etag: string): string {
  return `"${etag}"`;
}

/** Parses an `If-Match` or `If-None-Match` header; `undefined` when absent (a GET's weak comparison is `notModified`). */
export function parseEtagCondition(header: string | null): EtagCondition | undefined {
  if (header === null) return undefined;
  if (header.trim() === '*') return '*';
  const tags: string[] = [];
  for (const m of header.matchAll(/(W\/)?"([\x21\x23-\x7e\x80-\uffff]*)"/g)) if (!m[1] && m[2] !== undefined) tags.push(m[2]);
  return tags;
}

/** True when a resource whose current etag is `current` (absent: `undefined`) satisfies `If-Match`. */
export function matches(condition: EtagCondition, current: string | undefined): boolean {
  if (current === undefined) return false;
  return condition === '*' || condition.includes(current);
}

/**
 * The 412 for a conditional write that found its row changed between the read and the write (the
 * `where etag = …` matched nothing): another writer won.
 */
export function concurrentlyChanged(what: string): DomainError {
  return preconditionFailed(`The ${what} changed concurrently; read it again.`);
}

/** Throws 412 when `If-Match` was given and the resource (`current`, absent: `undefined`) does not satisfy it. */
export function checkEtag(ifMatch: EtagCondition | undefined, current: string | undefined): void {
  if (ifMatch !== undefined && !matches(ifMatch, current)) {
    throw preconditionFailed(current === undefined ? 'The resource does not exist.' : 'The resource has changed since it was read (ETag mismatch).');
  }
}

/** Throws 412 when `If-None-Match` was given and the resource (`current`) satisfies it (exists, for `*`). */
export function checkAbsent(ifNoneMatch: EtagCondition | undefined, current: string | undefined): void {
  if (ifNoneMatch !== undefined && matches(ifNoneMatch, current)) {
    throw preconditionFailed(ifNoneMatch === '*' ? 'The resource already exists.' : 'The resource matches If-None-Match.');
  }
}

/**
 * True when a GET's `If-None-Match` header names `etag` (or is `*`): the client's copy is current
 * and the answer is 304. RFC 9110 §13.1.2 compares weakly here, so `W/"x"` matches `"x"`.
 */
export function notModified(header: string | null, etag: string): boolean {
  if (header === null) return false;
  if (header.trim() === '*') return true;
  for (const m of header.matchAll(/(?:W\/)?"([\x21\x23-\x7e\x80-\uffff]*)"/g)) if (m[1] === etag) return true;
  return false;
}
