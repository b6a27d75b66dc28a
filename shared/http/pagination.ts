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

/**
 * Decodes and validates a cursor; a malformed or foreign one is a 400. The decoded text is the
 * client's, not ours, whatever its shape: a string in it that holds a control character (U+0000
 * above all, which PostgreSQL text cannot hold) or half a surrogate pair is not a key this API ever
 * wrote, and is refused here, before it can reach SQL.
 */
export function decodeCursor<T>(token: string | undefined, schema: z.ZodType<T>): T | undefined {
  if (token === undefined) return undefined;
  const bad = () => invalid('The skipToken is malformed or does not belong to this list.', 'skipToken');
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    throw bad();
  }
  if (!onlyPrintableStrings(decoded)) throw bad();
  const parsed = schema.safeParse(decoded);
  if (!parsed.success) throw bad();
  return parsed.data;
}

// C0 and C1 controls and DEL, or a surrogate that is not half of a pair.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** True when no string (or key) in `value` holds a character of {@link UNPRINTABLE}. Iterative. */
function onlyPrintableStrings(value: unknown): boolean {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v === 'string') {
      if (UNPRINTABLE.test(v)) return false;
    } else if (Array.isArray(v)) for (const x of v as unknown[]) stack.push(x);
    else if (v !== null && typeof v === 'object') {
      for (const [key, x] of Object.entries(v)) stack.push(key, x);
    }
  }
  return true;
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
