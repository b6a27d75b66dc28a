/**
 * The transactional outbox: a service writes its events into `<schema>.outbox` in the same
 * transaction as the change; a timer publishes pending rows as CloudEvents 1.0 to the events queue,
 * at least once. Consumers de-duplicate by the event `id`.
 */
import { randomUUID } from 'node:crypto';
import { sql, type Kysely, type Transaction } from 'kysely';
import { inScope, type Placement, type ServiceSql } from '../sql/database.js';
import { enableTenantRls } from '../sql/rls.js';

/** A domain event before it is wrapped as a CloudEvent. */
export interface DomainEvent {
  /** e.g. `SecretRotated`; published as `RuntimePlatform.<type>`. */
  type: string;
  /** The resource the event is about, e.g. `tenants/t1/environments/e1`. */
  subject: string;
  data: Record<string, unknown>;
}

/** CloudEvents 1.0 structured-mode JSON. */
export interface CloudEvent {
  specversion: '1.0';
  id: string;
  source: string;
  type: string;
  subject: string;
  time: string;
  datacontenttype: 'application/json';
  tenantid: string;
  data: Record<string, unknown>;
}

/** Port: where published events go (the Azure Storage queue). */
export interface EventSink {
  send(event: CloudEvent): Promise<void>;
}

/** Writes an event in the caller's transaction (which runs as the emitting service's role). */
export async function emit(trx: Transaction<any>, tenantId: string, event: DomainEvent): Promise<string> {
  const id = randomUUID();
  await sql`insert into outbox (tenant_id, id, type, subject, data)
            values (${tenantId}, ${id}, ${event.type}, ${event.subject}, ${JSON.stringify(event.data)}::jsonb)`.execute(trx);
  return id;
}

/**
 * Publishes up to `limit` pending events of one service in one database. Rows are locked
 * (`SKIP LOCKED`) so concurrent publishers on other instances take other rows; a row is marked
 * published only after the sink accepted it, so a crash in between re-sends it (at least once).
 */
export async function publishPending(
  db: Kysely<any>,
  placement: Placement,
  svc: ServiceSql,
  sink: EventSink,
  limit = 100,
): Promise<{ published: number; failed: number }> {
  return inScope(db, { platform: true, placement }, svc, async (trx) => {
    const rows = await sql<{ tenant_id: string; id: string; type: string; subject: string; data: Record<string, unknown>; created_at: Date }>`
      select tenant_id, id, type, subject, data, created_at from outbox
      where published_at is null order by created_at limit ${limit} for update skip locked`.execute(trx);
    let published = 0;
    for (const r of rows.rows) {
      try {
        await sink.send({
          specversion: '1.0',
          id: r.id,
          source: `/runtime-platform/${svc.service}`,
          type: `RuntimePlatform.${r.type}`,
          subject: r.subject,
          time: new Date(r.created_at).toISOString(),
          datacontenttype: 'application/json',
          tenantid: r.tenant_id,
          data: r.data,
        });
      } catch {
        await sql`update outbox set attempts = attempts + 1 where tenant_id = ${r.tenant_id} and id = ${r.id}`.execute(trx);
        return { published, failed: rows.rows.length - published };
      }
      await sql`update outbox set published_at = now() where tenant_id = ${r.tenant_id} and id = ${r.id}`.execute(trx);
      published++;
    }
    return { published, failed: 0 };
  });
}

/** Creates the outbox table in the service's schema (called from its first migration). */
export async function createOutboxTable(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('outbox')
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('id', 'uuid', (c) => c.notNull())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('subject', 'text', (c) => c.notNull())
    .addColumn('data', 'jsonb', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('published_at', 'timestamptz')
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addPrimaryKeyConstraint('outbox_pk', ['tenant_id', 'id'])
    .execute();
  await sql`create index outbox_pending on outbox (created_at) where published_at is null`.execute(db);
  await enableTenantRls(db, 'outbox', { platformScope: true });
}

/** Deletes up to `limit` events published before `cutoff`, in the caller's (platform-scope) transaction. */
export async function expirePublished(trx: Transaction<unknown>, cutoff: Date, limit: number): Promise<number> {
  const r = await sql`delete from outbox where ctid in (
      select ctid from outbox where published_at is not null and published_at < ${cutoff} limit ${limit})`.execute(trx);
  return Number(r.numAffectedRows ?? 0);
}
