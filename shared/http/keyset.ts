/**
 * Lists readable in two orders: by name (the default, stable for browsing) or by creation time
 * (when the caller asks for a creation-time range with `createdAfter` / `createdBefore`). Both are
 * keyset orders with the row id as tie-breaker, so each page is one index range scan whatever its
 * depth. The cursor names its order and carries the last row's key in it; a skipToken taken from
 * one order is refused in the other.
 *
 * Creation times are kept at millisecond precision (what a JavaScript `Date` holds), so the key a
 * cursor carries is exactly the stored value. Every instant a request names (a range bound, a
 * cursor's key) lies in the years 0001-9999 UTC: what an ISO 8601 string without an expanded year
 * and PostgreSQL `timestamptz` both hold (PostgreSQL has no year 0000, and reads neither `+010000`
 * nor a year past 9999 that an offset pushed a bound into); anything else is a 400 before SQL.
 */
import { sql, type SelectQueryBuilder } from 'kysely';
import { invalid } from '../errors.js';
import { z } from './openapi.js';
import { decodeCursor } from './pagination.js';

/** The order of a list page. */
export type ListOrder = 'name' | 'created';

/** The first and last instants (epoch milliseconds) a range bound or a cursor may name. */
export const MIN_INSTANT = Date.parse('0001-01-01T00:00:00.000Z');
export const MAX_INSTANT = Date.parse('9999-12-31T23:59:59.999Z');

/** True for epoch milliseconds in [{@link MIN_INSTANT}, {@link MAX_INSTANT}] (false for NaN). */
export function isStorableInstant(ms: number): boolean {
  return ms >= MIN_INSTANT && ms <= MAX_INSTANT;
}

/** A query parameter holding an ISO 8601 instant with an offset, within the years 0001-9999 once the offset is applied. */
export function instantParam(description: string) {
  return z.iso
    .datetime({ offset: true })
    .refine((s) => isStorableInstant(Date.parse(s)), { message: 'Instants must lie between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999Z' })
    .optional()
    .openapi({ description: `${description} (ISO 8601, between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999Z)` });
}

/** Query parameters of a creation-time range: `[createdAfter, createdBefore)`. */
export const createdRangeQuery = {
  createdAfter: instantParam('Only items created at or after this instant; switches the order to creation time'),
  createdBefore: instantParam('Only items created before this instant; switches the order to creation time'),
};

/** A validated range and the order it implies. */
export interface CreatedRange {
  order: ListOrder;
  after?: Date;
  before?: Date;
}

/** Reads `createdAfter` / `createdBefore`; a range that is empty by construction is a 400. */
export function createdRange(q: { createdAfter?: string | undefined; createdBefore?: string | undefined }): CreatedRange {
  const after = q.createdAfter !== undefined ? new Date(q.createdAfter) : undefined;
  const before = q.createdBefore !== undefined ? new Date(q.createdBefore) : undefined;
  if (after && before && after.getTime() >= before.getTime()) {
    throw invalid('createdAfter must be earlier than createdBefore.', 'createdAfter');
  }
  return { order: after || before ? 'created' : 'name', ...(after ? { after } : {}), ...(before ? { before } : {}) };
}

const CursorSchema = z.object({ o: z.enum(['name', 'created']), k: z.string().max(1024), i: z.string().max(128) });

/** The position after which a page starts. */
export interface KeysetPosition {
  key: string;
  id: string;
}

/**
 * Decodes a skipToken of a list in `order`; a token of the other order (or malformed) is a 400. A
 * creation-time key must be exactly what {@link keysetOf} wrote (`toISOString` of a storable
 * instant), so nothing `Date.parse` merely tolerates reaches SQL.
 */
export function decodeKeyset(token: string | undefined, order: ListOrder): KeysetPosition | undefined {
  const c = decodeCursor(token, CursorSchema);
  if (!c) return undefined;
  if (c.o !== order || (order === 'created' && !isCursorInstant(c.k))) {
    throw invalid('The skipToken is malformed or does not belong to this list.', 'skipToken');
  }
  return { key: c.k, id: c.i };
}

function isCursorInstant(k: string): boolean {
  const ms = Date.parse(k);
  return isStorableInstant(ms) && new Date(ms).toISOString() === k;
}

/** The cursor value of `row` in `order` (what `ctx.page` encodes into `nextLink`). */
export function keysetOf(order: ListOrder, row: { name: string; created_at: Date; id: string }): z.infer<typeof CursorSchema> {
  return { o: order, k: order === 'name' ? row.name : row.created_at.toISOString(), i: row.id };
}

/**
 * Adds the range, the keyset position and the order to a query over a table with `name`,
 * `created_at` and `id` columns. The caller adds its own equality filters first (tenant first), so
 * an index on `(tenant_id, …, name, id)` or `(tenant_id, …, created_at, id)` serves the page.
 */
export function keysetPage<DB, TB extends keyof DB, O>(
  qb: SelectQueryBuilder<DB, TB, O>,
  range: CreatedRange,
  after: KeysetPosition | undefined,
  limit: number,
): SelectQueryBuilder<DB, TB, O> {
  let q = qb;
  if (range.after) q = q.where(sql<boolean>`created_at >= ${range.after}`);
  if (range.before) q = q.where(sql<boolean>`created_at < ${range.before}`);
  if (range.order === 'created') {
    if (after) q = q.where(sql<boolean>`(created_at, id) > (${new Date(after.key)}::timestamptz, ${after.id})`);
    return q.orderBy(sql`created_at`).orderBy(sql`id`).limit(limit);
  }
  if (after) q = q.where(sql<boolean>`(name, id) > (${after.key}, ${after.id})`);
  return q.orderBy(sql`name`).orderBy(sql`id`).limit(limit);
}
