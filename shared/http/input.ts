/**
 * Reading a request's input: path parameters, query string and JSON body, each validated with the
 * route's zod schema. Every failure is a 4xx in the error format, never an exception from deeper
 * down (a body too large, a wrong media type, bytes that are not UTF-8 or JSON, a NUL character
 * or an unpaired surrogate PostgreSQL cannot store, nesting deeper than any schema accepts).
 */
import type { HttpRequest } from '@azure/functions';
import { z } from 'zod';
import { apiError, invalid, notFound, type DomainError, type ErrorDetail } from '../errors.js';
import { pageQuery } from './pagination.js';
import type { ObjectSchema, RouteImpl } from './route.js';

/** Deeper than any schema of this API nests; refused before anything walks the value. */
export const MAX_JSON_DEPTH = 64;

/** The route's query schema: its own parameters, plus paging on paged lists; unknown ones are refused. */
export function querySchema(def: Pick<RouteImpl, 'query' | 'paged'>, maxPageSize: number): ObjectSchema {
  return z.strictObject({ ...(def.query?.shape ?? {}), ...(def.paged ? pageQuery(maxPageSize) : {}) });
}

/** The validated input of a request. */
export interface Input {
  params: Record<string, unknown>;
  query: Record<string, unknown>;
  body: unknown;
}

/** Validates the path, query and body of `request` against the route's schemas. */
export async function readInput(request: HttpRequest, def: RouteImpl, query: ObjectSchema, maxBodyBytes: number): Promise<Input> {
  // A malformed id in the path names nothing that can exist: 404.
  const params = def.params ? def.params.safeParse(request.params) : { success: true as const, data: {} };
  if (!params.success) throw notFound('The resource', params.error.issues[0]?.path.join('.'));
  const q = query.safeParse(Object.fromEntries(request.query.entries()));
  if (!q.success) throw validationError('The query string is invalid.', q.error, 'query');
  rejectUnstorableText(q.data, 'query');
  let body: unknown = undefined;
  if (def.body) {
    const parsed = def.body.schema.safeParse(await readJson(request, maxBodyBytes, def.body.contentType));
    if (!parsed.success) throw validationError('The request body is invalid.', parsed.error, 'body');
    body = parsed.data;
  }
  if (def.stream) checkStreamHeaders(request, def.stream.mediaTypes, def.stream.maxBytes);
  return { params: params.data, query: q.data, body };
}

/** The headers of a streamed body (the handler reads the bytes): a length within bounds, a media type allowed. */
function checkStreamHeaders(request: HttpRequest, mediaTypes: readonly string[], maxBytes: number): void {
  const length = request.headers.get('content-length');
  if (length === null) throw apiError('LengthRequired', 'An upload needs a Content-Length header: its size is checked before it starts.');
  if (!/^[0-9]{1,15}$/.test(length.trim())) throw invalid('The Content-Length header is not a number of bytes.', 'Content-Length');
  if (Number(length) > maxBytes) throw apiError('PayloadTooLarge', `The request body exceeds ${maxBytes} bytes.`);
  const type = (request.headers.get('content-type') ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  if (!mediaTypes.includes(type)) throw apiError('UnsupportedMediaType', `The request body must be one of ${mediaTypes.join(', ')}.`, { target: 'Content-Type' });
}

/**
 * Reads and parses a JSON body with a size bound; bad media type, size, UTF-8 or JSON are 4xx. The
 * body is read as it streams in (HTTP streaming is on: a chunked body arrives too), and reading
 * stops at the bound, whatever Content-Length says or does not say.
 */
export async function readJson(request: HttpRequest, maxBytes: number, contentType = 'application/json'): Promise<unknown> {
  const length = request.headers.get('content-length');
  if (length !== null && Number(length) > maxBytes) throw apiError('PayloadTooLarge', `The request body exceeds ${maxBytes} bytes.`);
  const type = (request.headers.get('content-type') ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== contentType && type !== 'application/json') {
    throw apiError('UnsupportedMediaType', `The request body must be ${contentType}.`, { target: 'Content-Type' });
  }
  const bytes = await readBounded(request, maxBytes);
  if (bytes.byteLength === 0) throw apiError('InvalidJson', 'The request body is empty.');
  let text: string;
  try {
    text = UTF8.decode(bytes);
  } catch {
    throw apiError('InvalidJson', 'The request body is not valid UTF-8.');
  }
  if (mayNestDeeperThan(text, MAX_JSON_DEPTH) && nestingDepth(text) > MAX_JSON_DEPTH) {
    throw apiError('InvalidJson', `The request body nests deeper than ${MAX_JSON_DEPTH} levels.`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw apiError('InvalidJson', 'The request body is not valid JSON.');
  }
  // Valid UTF-8 holds no lone surrogate, and JSON holds no raw NUL: only an escape can spell
  // either, so a text without such an escape needs no walk of its value.
  if (UNSTORABLE_ESCAPE.test(text)) rejectUnstorableText(value, 'body');
  return value;
}

/** The body's bytes, read until the end or until more than `maxBytes` arrived (then 413, the rest unread). */
async function readBounded(request: HttpRequest, maxBytes: number): Promise<Uint8Array> {
  const body = request.body;
  if (!body) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of body as AsyncIterable<Uint8Array>) {
    total += chunk.byteLength;
    if (total > maxBytes) {
      await body.cancel().catch(() => undefined);
      throw apiError('PayloadTooLarge', `The request body exceeds ${maxBytes} bytes.`);
    }
    chunks.push(chunk);
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total);
}

/** Decodes UTF-8, refusing malformed bytes (stateless for whole buffers, so one serves all). */
const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** An escape that may spell U+0000 or a surrogate (a superset: `\\u0000` matches too, and then the walk decides). */
const UNSTORABLE_ESCAPE = /\\u(?:0000|[dD][89a-fA-F])/;

/** False when `text` has at most `max` opening brackets in all, so it cannot nest deeper (found with `indexOf`, no character loop). */
function mayNestDeeperThan(text: string, max: number): boolean {
  let n = 0;
  for (const open of ['{', '[']) {
    for (let i = text.indexOf(open); i !== -1; i = text.indexOf(open, i + 1)) if (++n > max) return true;
  }
  return false;
}

/** The deepest bracket nesting of a JSON text, counted without parsing (strings are skipped). */
function nestingDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) max = Math.max(max, ++depth);
    else if (c === 0x5d || c === 0x7d) depth--;
  }
  return max;
}

// A surrogate that is not half of a pair (JSON can spell one: "\ud800").
const UNPAIRED_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * PostgreSQL text cannot hold U+0000 or an unpaired surrogate: the first fails in the database, the
 * second the driver would silently store as U+FFFD. Both are refused at the edge, in keys too.
 */
export function rejectUnstorableText(value: unknown, target: string): void {
  // Iterative, so no input can exhaust the stack.
  const stack: [unknown, string][] = [[value, target]];
  while (stack.length > 0) {
    const [v, path] = stack.pop()!;
    if (typeof v === 'string') {
      if (v.includes('\u0000')) throw invalid('Strings must not contain the NUL character.', path);
      if (UNPAIRED_SURROGATE.test(v)) throw invalid('Strings must be well-formed Unicode (no unpaired surrogates).', path);
    } else if (Array.isArray(v)) v.forEach((x, i) => stack.push([x, `${path}[${i}]`]));
    else if (v && typeof v === 'object') {
      for (const [key, x] of Object.entries(v)) stack.push([key, path], [x, `${path}.${key}`]);
    }
  }
}

/** A 400 listing the first issues zod found, each with its target. */
export function validationError(message: string, error: z.ZodError, where: string): DomainError {
  const details: ErrorDetail[] = error.issues.slice(0, 20).map((i) => ({
    code: i.code === 'unrecognized_keys' ? 'UnknownField' : 'InvalidValue',
    message: i.message,
    target: [where, ...i.path.map(String), ...(i.code === 'unrecognized_keys' ? [i.keys.join(',')] : [])].join('.'),
  }));
  return invalid(message, details[0]?.target ?? where, details);
}
