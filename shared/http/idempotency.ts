/**
 * `Repeatability-Request-ID` (OASIS Repeatable Requests, as the Microsoft REST API guidelines use
 * it): a create sent again with the same id answers what the first one answered, once. The record
 * lives in the owning service's schema (`<schema>.idempotency`) and is written in the same
 * transaction as the change, so a request either happened with its record or not at all.
 * Everything about the record is here: its table, its fingerprint, its reads and writes, its expiry.
 */
import type { HttpRequest } from '@azure/functions';
import { createHash } from 'node:crypto';
import { sql, type Kysely, type Transaction } from 'kysely';
import { apiError, invalid } from '../errors.js';
import type { Principal } from '../auth/authenticate.js';
import { enableTenantRls } from '../sql/rls.js';
import type { Reply } from './route.js';
import { REPEATABILITY_REQUEST_ID } from './headers.js';


/** The client's request id, validated; `undefined` when the request has none. */
export function repeatabilityId(request: HttpRequest): string | undefined {
  const id = request.headers.get('repeatability-request-id');
  if (id === null) return undefined;
  if (!REPEATABILITY_REQUEST_ID.test(id)) throw invalid('Repeatability-Request-ID must be 1-128 characters of [A-Za-z0-9._:-].', 'Repeatability-Request-ID');
  return id;
}

/**
 * What makes two requests "the same": tenant, caller, operation, path, query and body — not the
 * host name, so a retry through another host name or gateway replays instead of conflicting.
 */
export function fingerprint(operation: string, tenantKey: string, principal: Principal, request: HttpRequest, body: unknown): string {
  const url = new URL(request.url);
  const query = [...url.searchParams.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return createHash('sha256')
    .update(JSON.stringify([operation, tenantKey, principal.id, request.method, url.pathname, query, body ?? null]))
    .digest('hex');
}

/** The stored outcome of an idempotent request, if any. */
export async function findRecord(trx: Transaction<unknown>, tenantKey: string, requestId: string) {
  const r = await sql<{ request_hash: string; response: Reply | null }>`
    select request_hash, response from idempotency where tenant_id = ${tenantKey} and request_id = ${requestId}`.execute(trx);
  return r.rows[0];
}

/** The stored reply, if `record` is the completed record of the same request. */
export function replayOf(record: { request_hash: string; response: Reply | null } | undefined, hash: string): Reply | undefined {
  return record?.response && record.request_hash === hash ? markReplayable(record.response) : undefined;
}

/**
 * Runs `handle` once per request id, in `trx`: takes the record, runs, stores the reply. A request
 * id already used answers the stored reply, or 409 `RepeatabilityConflict` when it was used for a
 * different request.
 */
export async function runOnce(
  trx: Transaction<unknown>,
  key: { tenantKey: string; requestId: string; operation: string; hash: string },
  handle: () => Promise<Reply>,
): Promise<Reply> {
  const inserted = await sql<{ request_id: string }>`
    insert into idempotency (tenant_id, request_id, operation, request_hash)
    values (${key.tenantKey}, ${key.requestId}, ${key.operation}, ${key.hash})
    on conflict do nothing returning request_id`.execute(trx);
  if (inserted.rows.length === 0) {
    const replay = replayOf(await findRecord(trx, key.tenantKey, key.requestId), key.hash);
    if (!replay) {
      throw apiError('RepeatabilityConflict', 'This Repeatability-Request-ID was already used for a different request.', {
        target: 'Repeatability-Request-ID',
      });
    }
    return replay;
  }
  const reply = await handle();
  await sql`update idempotency set status = ${reply.status}, response = ${JSON.stringify(reply)}::jsonb
            where tenant_id = ${key.tenantKey} and request_id = ${key.requestId}`.execute(trx);
  return markReplayable(reply);
}

function markReplayable(reply: Reply): Reply {
  return { ...reply, headers: { ...reply.headers, 'Repeatability-Result': 'accepted' } };
}

/** Creates the idempotency table in the service's schema (called from its first migration). */
export async function createIdempotencyTable(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('idempotency')
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('request_id', 'text', (c) => c.notNull())
    .addColumn('operation', 'text', (c) => c.notNull())
    .addColumn('request_hash', 'text', (c) => c.notNull())
    .addColumn('status', 'integer')
    .addColumn('response', 'jsonb')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('idempotency_pk', ['tenant_id', 'request_id'])
    .execute();
  await enableTenantRls(db, 'idempotency', { platformScope: true });
}

/** Records are kept this long: longer than any client retries a create. */
export const IDEMPOTENCY_RETENTION_DAYS = 7;

/** Deletes up to `limit` records created before `cutoff`, in the caller's (platform-scope) transaction. */
export async function expireRecords(trx: Transaction<unknown>, cutoff: Date, limit: number): Promise<number> {
  const r = await sql`delete from idempotency where ctid in (
      select ctid from idempotency where created_at < ${cutoff} limit ${limit})`.execute(trx);
  return Number(r.numAffectedRows ?? 0);
}
