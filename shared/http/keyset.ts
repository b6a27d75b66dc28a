/**
 * Lists readable in two orders: by name (the default, stable for browsing) or by creation time
 * (when the caller asks for a creation-time range with `createdAfter` / `createdBefore`). Both are
 * keyset orders with the row id as tie-breaker, so each page is one index range scan whatever its
 * depth. The cursor names its order and carries the last row's key in it; a skipToken taken from
 * one order is refused in the other.
 *
 * Creation times are kept at millisecond precision (what a JavaScript `Date` holds), so the key a
 * cursor carries is exactly the stored value.
 */
import { sql, type SelectQueryBuilder } from 'kysely';
import { invalid } from '../errors.js';
import { z } from './openapi.js';
import { decodeCursor } from './pagination.js';

/** The order of a list page. */
export type ListOrder = 'name' | 'created';

/** Query parameters of a creation-time range: `[createdAfter, createdBefore)`. */
export const createdRangeQuery = {
  createdAfter: z.iso
    .datetime({ offset: true })
    .optional()
    .openapi({ description: 'Only items created at or after this instant (ISO 8601); switches the order to creation time' }),
  createdBefore: z.iso
    .datetime({ offset: true })
    .optional()
    .openapi({ description: 'Only items created before this instant (ISO 8601); switches the order to creation time' }),
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

/** Decodes a skipToken of a list in `order`; a token of the other order (or malformed) is a 400. */
export function decodeKeyset(token: string | undefined, order: ListOrder): KeysetPosition | undefined {
  const c = decodeCursor(token, CursorSchema);
  if (!c) return undefined;
  if (c.o !== order || (order === 'created' && Number.isNaN(Date.parse(c.k)))) {
    throw invalid('The skipToken is malformed or does not belong to this list.', 'skipToken');
  }
  return { key: c.k, id: c.i };
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
