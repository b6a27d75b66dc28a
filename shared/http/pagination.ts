/**
 * Keyset pagination: `{"value":[...],"nextLink":"..."}`. The cursor is the last row's sort key,
 * opaque to clients (base64url JSON); `nextLink` is absent on the last page.
 */
import { z } from 'zod';
import { invalid } from '../errors.js';

/** Query parameters every list accepts. */
export function pageQuery(maxPageSize: number) {
  return {
    maxpagesize: z.coerce.number().int().min(1).max(maxPageSize).optional(),
    skipToken: z.string().max(2048).optional(),
  };
}

/** Encodes a cursor. */
export function encodeCursor(key: unknown): string {
  return Buffer.from(JSON.stringify(key), 'utf8').toString('base64url');
}

/** Decodes and validates a cursor; a malformed or foreign one is a 400. */
export function decodeCursor<T>(token: string | undefined, schema: z.ZodType<T>): T | undefined {
  if (token === undefined) return undefined;
  try {
    return schema.parse(JSON.parse(Buffer.from(token, 'base64url').toString('utf8')));
  } catch {
    throw invalid('The skipToken is malformed or does not belong to this list.', 'skipToken');
  }
}

/** A page of a list response. */
export interface Page<T> {
  value: T[];
  nextLink?: string;
}

/**
 * Shapes `rows` (fetched with `limit size + 1`) into a page; `nextLink` carries the request's own
 * query with the cursor of the last row shown.
 */
export function toPage<Row, T>(
  rows: Row[],
  size: number,
  requestUrl: string,
  cursorOf: (last: Row) => unknown,
  map: (row: Row) => T,
): Page<T> {
  const shown = rows.slice(0, size);
  const page: Page<T> = { value: shown.map(map) };
  const last = shown.at(-1);
  if (rows.length > size && last !== undefined) {
    const url = new URL(requestUrl);
    url.searchParams.set('skipToken', encodeCursor(cursorOf(last)));
    page.nextLink = url.toString();
  }
  return page;
}
