/**
 * The transactional outbox: a service writes its events into `<schema>.outbox` in the same
 * transaction as the change; a timer publishes them as CloudEvents 1.0 to the events queue, at
 * least once. Consumers de-duplicate by the event `id`.
 *
 * Delivery is per event, and a send never happens while rows are locked:
 *
 * 1. **Claim** (a short transaction): due events are leased to this publisher — `claimed_until`
 *    is set {@link DeliveryPolicy.leaseMs} ahead and `claim_token` to the publisher's token — and
 *    the transaction commits.
 * 2. **Send**, outside any transaction, in `seq` order.
 * 3. **Settle** (a second short transaction), only rows still carrying this publisher's token:
 *    sent events are marked published; a failed one counts an attempt and backs off
 *    exponentially (`next_attempt_at`), and after {@link DeliveryPolicy.maxAttempts} attempts it
 *    is dead-lettered (`dead_lettered_at`); events not tried are released.
 *
 * A publisher that dies between 1 and 3 loses nothing: its lease expires and the events are
 * claimed again (and possibly sent twice — at least once).
 *
 * Order is kept per aggregate: an event waits while an earlier open event (pending, leased or
 * backing off — not published, not dead-lettered) of the same tenant and `subject` exists that it
 * cannot be sent with. A dead-lettered event no longer holds its subject back; an event of another
 * subject is never held back. Claims of one service in one database are serialised by a
 * transaction-level advisory lock, so two instances never lease two events of one subject at once.
 *
 * States (derived from the columns, see `kernel-migrations.ts` for the schema):
 *
 * | State | Columns |
 * |---|---|
 * | pending (due or backing off) | `published_at` and `dead_lettered_at` null; due when `next_attempt_at` ≤ now |
 * | leased | pending, and `claimed_until` > now (`claim_token` names the publisher) |
 * | published | `published_at` set (deleted after the retention, see housekeeping) |
 * | dead-lettered | `dead_lettered_at` set; `attempts`, `last_error` say why; re-driven by a platform admin |
 */
import { randomUUID } from 'node:crypto';
import { sql, type Kysely, type RawBuilder, type Transaction } from 'kysely';
import { inScope, type Placement, type ServiceSql } from '../sql/database.js';
import { enableTenantRls } from '../sql/rls.js';

/** A domain event before it is wrapped as a CloudEvent. */
export interface DomainEvent {
  /** e.g. `SecretRotated`; published as `RuntimePlatform.<type>`. */
  type: string;
  /** The resource the event is about, e.g. `tenants/t1/environments/e1`; events of one subject are published in order. */
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

/** How events are retried and leased. */
export interface DeliveryPolicy {
  /** Attempts before an event is dead-lettered. */
  maxAttempts: number;
  /** Wait after the first failed attempt; doubled after each further one. */
  backoffBaseMs: number;
  /** The longest wait between two attempts. */
  backoffMaxMs: number;
  /** How long a claim holds its events; past it they are claimable again. */
  leaseMs: number;
  /** No send starts later than this before the lease ends (the rest are released). */
  leaseMarginMs: number;
  /**
   * Consecutive failures, with no success yet in the batch, after which the sink is taken to be
   * down: the rest of the batch is released without counting an attempt against it.
   */
  sinkDownAfter: number;
}

/**
 * The defaults: waits of 10 s, 20 s, 40 s … doubling up to 1 h, dead-lettered after the 12th
 * failed attempt — about 3 h 25 min after the first failure.
 */
export const DELIVERY_POLICY: DeliveryPolicy = Object.freeze({
  maxAttempts: 12,
  backoffBaseMs: 10_000,
  backoffMaxMs: 3_600_000,
  leaseMs: 120_000,
  leaseMarginMs: 15_000,
  sinkDownAfter: 3,
});

/** The wait after the `attempts`-th failed attempt (1-based). */
export function backoffDelayMs(attempts: number, policy: Pick<DeliveryPolicy, 'backoffBaseMs' | 'backoffMaxMs'> = DELIVERY_POLICY): number {
  return Math.min(policy.backoffMaxMs, policy.backoffBaseMs * 2 ** Math.max(0, attempts - 1));
}

/** Longest `last_error` kept (the sink's message, never event data). */
const MAX_ERROR_LENGTH = 500;

/** Writes an event in the caller's transaction (which runs as the emitting service's role). */
export async function emit(trx: Transaction<any>, tenantId: string, event: DomainEvent): Promise<string> {
  const id = randomUUID();
  await sql`insert into outbox (tenant_id, id, type, subject, data)
            values (${tenantId}, ${id}, ${event.type}, ${event.subject}, ${JSON.stringify(event.data)}::jsonb)`.execute(trx);
  return id;
}

/**
 * {@link emit} as SQL to embed in a larger statement (a data-modifying CTE): one event for each row
 * of `source`, its `data` an SQL expression over that row. For a write that must stay one statement.
 */
export function emitFrom(tenantId: string, event: Omit<DomainEvent, 'data'>, source: RawBuilder<unknown>, data: RawBuilder<unknown>): RawBuilder<unknown> {
  return sql`insert into outbox (tenant_id, id, type, subject, data)
             select ${tenantId}, gen_random_uuid(), ${event.type}, ${event.subject}, ${data} from ${source}`;
}

/** Options of one publishing pass. */
export interface PublishOptions {
  /** Events claimed per pass. Default 100. */
  limit?: number;
  /** The clock (the kernel's); leases and backoff are measured with it. */
  now?: () => Date;
  policy?: Partial<DeliveryPolicy>;
}

/** What one pass did. */
export interface PublishResult {
  claimed: number;
  published: number;
  /** Failed and backing off. */
  retrying: number;
  /** Failed for the last allowed time. */
  deadLettered: number;
  /** Claimed but not tried (an earlier event of the subject failed, the sink looked down, the lease ran short). */
  released: number;
}

/** A claimed event, as the publisher sends it. */
export interface ClaimedRow {
  tenant_id: string;
  id: string;
  seq: number;
  type: string;
  subject: string;
  data: Record<string, unknown>;
  created_at: Date;
  attempts: number;
}

type Outcome = { id: string; kind: 'published' | 'released' } | { id: string; kind: 'failed'; error: string };

/** Events leased to one publisher: its token, when the lease ends (ms since the epoch), the events in `seq` order. */
export interface Claim {
  token: string;
  leaseEnd: number;
  rows: ClaimedRow[];
}

/**
 * Step 1: leases up to `limit` due events that nothing holds back, in a short transaction of its
 * own, and answers them. Until the lease ends no other publisher claims them.
 */
export async function claimDue(
  db: Kysely<any>,
  placement: Placement,
  svc: ServiceSql,
  opts: { now: () => Date; limit: number; leaseMs?: number },
): Promise<Claim> {
  const token = randomUUID();
  const claimedAt = opts.now();
  const leaseEnd = claimedAt.getTime() + (opts.leaseMs ?? DELIVERY_POLICY.leaseMs);
  const rows = await inScope(db, { platform: true, placement }, svc, (trx) => claim(trx, svc.schema, token, claimedAt, new Date(leaseEnd), opts.limit));
  return { token, leaseEnd, rows };
}

/**
 * Publishes up to `limit` due events of one service in one database: claim, send, settle (see the
 * module comment). Never throws for a failed send; throws when the database fails.
 */
export async function publishPending(
  db: Kysely<any>,
  placement: Placement,
  svc: ServiceSql,
  sink: EventSink,
  opts: PublishOptions = {},
): Promise<PublishResult> {
  const policy: DeliveryPolicy = { ...DELIVERY_POLICY, ...opts.policy };
  const now = opts.now ?? (() => new Date());
  const { token, leaseEnd, rows } = await claimDue(db, placement, svc, { now, limit: opts.limit ?? 100, leaseMs: policy.leaseMs });
  const result: PublishResult = { claimed: rows.length, published: 0, retrying: 0, deadLettered: 0, released: 0 };
  if (rows.length === 0) return result;

  // Step 2: send, outside any transaction.
  const outcomes: Outcome[] = [];
  const failedSubjects = new Set<string>();
  let sent = 0;
  let failures = 0;
  for (const r of rows) {
    const subject = `${r.tenant_id}\u0000${r.subject}`;
    const sinkDown = sent === 0 && failures >= policy.sinkDownAfter;
    if (sinkDown || failedSubjects.has(subject) || now().getTime() > leaseEnd - policy.leaseMarginMs) {
      outcomes.push({ id: r.id, kind: 'released' });
      continue;
    }
    try {
      await sink.send(toCloudEvent(svc, r));
      outcomes.push({ id: r.id, kind: 'published' });
      sent++;
    } catch (e) {
      failedSubjects.add(subject);
      failures++;
      outcomes.push({ id: r.id, kind: 'failed', error: describeError(e) });
    }
  }

  // Step 3: settle, in a second short transaction.
  const settled = await inScope(db, { platform: true, placement }, svc, (trx) => settle(trx, token, outcomes, now(), policy));
  return { ...result, ...settled };
}

/** Leases the due events that nothing holds back, in `seq` order. */
async function claim(trx: Transaction<unknown>, schema: string, token: string, now: Date, until: Date, limit: number): Promise<ClaimedRow[]> {
  // One claimer at a time per service and database: claims are short, and a claim must see the
  // leases of the one before it to keep a subject's events on one publisher.
  await sql`select pg_advisory_xact_lock(hashtextextended(${`outbox-claim:${schema}`}, 0))`.execute(trx);
  const r = await sql<ClaimedRow>`
    update outbox o set claimed_until = ${until}, claim_token = ${token}
    where (o.tenant_id, o.id) in (
      select c.tenant_id, c.id from outbox c
      where c.published_at is null and c.dead_lettered_at is null
        and c.next_attempt_at <= ${now}
        and (c.claimed_until is null or c.claimed_until <= ${now})
        and not exists (
          select 1 from outbox e
          where e.tenant_id = c.tenant_id and e.subject = c.subject and e.seq < c.seq
            and e.published_at is null and e.dead_lettered_at is null
            and (e.next_attempt_at > ${now} or e.claimed_until > ${now}))
      order by c.seq
      limit ${limit})
    returning o.tenant_id, o.id, o.seq, o.type, o.subject, o.data, o.created_at, o.attempts`.execute(trx);
  return r.rows.sort((a, b) => a.seq - b.seq);
}

/** Records the pass's outcomes on the rows this publisher still holds. */
async function settle(
  trx: Transaction<unknown>,
  token: string,
  outcomes: Outcome[],
  now: Date,
  policy: DeliveryPolicy,
): Promise<Pick<PublishResult, 'published' | 'retrying' | 'deadLettered' | 'released'>> {
  const ids = (kind: Outcome['kind']) => outcomes.filter((o) => o.kind === kind).map((o) => o.id);
  const out = { published: 0, retrying: 0, deadLettered: 0, released: 0 };
  const published = ids('published');
  if (published.length > 0) {
    const r = await sql`update outbox set published_at = ${now}, claimed_until = null, claim_token = null
                        where claim_token = ${token} and id = any(${published}::uuid[])`.execute(trx);
    out.published = Number(r.numAffectedRows ?? 0);
  }
  const released = ids('released');
  if (released.length > 0) {
    const r = await sql`update outbox set claimed_until = null, claim_token = null
                        where claim_token = ${token} and id = any(${released}::uuid[])`.execute(trx);
    out.released = Number(r.numAffectedRows ?? 0);
  }
  for (const o of outcomes) {
    if (o.kind !== 'failed') continue;
    const r = await sql<{ dead: boolean }>`
      update outbox set
        attempts = attempts + 1,
        last_error = ${o.error},
        next_attempt_at = ${now}::timestamptz + least(${policy.backoffMaxMs}::float8, ${policy.backoffBaseMs}::float8 * power(2, attempts)) * interval '1 millisecond',
        dead_lettered_at = case when attempts + 1 >= ${policy.maxAttempts} then ${now}::timestamptz end,
        claimed_until = null, claim_token = null
      where claim_token = ${token} and id = ${o.id}
      returning dead_lettered_at is not null as dead`.execute(trx);
    for (const row of r.rows) {
      if (row.dead) out.deadLettered++;
      else out.retrying++;
    }
  }
  return out;
}

function toCloudEvent(svc: ServiceSql, r: ClaimedRow): CloudEvent {
  return {
    specversion: '1.0',
    id: r.id,
    source: `/runtime-platform/${svc.service}`,
    type: `RuntimePlatform.${r.type}`,
    subject: r.subject,
    time: new Date(r.created_at).toISOString(),
    datacontenttype: 'application/json',
    tenantid: r.tenant_id,
    data: r.data,
  };
}

/** The sink's error as stored in `last_error`: its name and message, bounded. */
function describeError(e: unknown): string {
  const text = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  return text.length > MAX_ERROR_LENGTH ? `${text.slice(0, MAX_ERROR_LENGTH - 1)}…` : text;
}

/** A dead-lettered event as the admin list shows it: what and why, never its data. */
export interface DeadLetteredEvent {
  seq: number;
  tenant_id: string;
  id: string;
  type: string;
  subject: string;
  attempts: number;
  last_error: string | null;
  created_at: Date;
  dead_lettered_at: Date;
}

/** Dead-lettered events of the transaction's service after `afterSeq`, in `seq` order (platform scope). */
export async function listDeadLettered(trx: Transaction<unknown>, afterSeq: number | undefined, limit: number): Promise<DeadLetteredEvent[]> {
  const r = await sql<DeadLetteredEvent>`
    select seq, tenant_id, id, type, subject, attempts, last_error, created_at, dead_lettered_at from outbox
    where dead_lettered_at is not null and seq > ${afterSeq ?? 0}
    order by seq limit ${limit}`.execute(trx);
  return r.rows;
}

/**
 * Puts dead-lettered events back to pending with a fresh count of attempts, due at `now`: one
 * (`id`) or all of the transaction's service. Answers how many. A re-driven event holds later
 * events of its subject back again until it is published or dead-lettered once more.
 */
export async function redriveDeadLettered(trx: Transaction<unknown>, now: Date, id?: string): Promise<number> {
  const one = id === undefined ? sql`` : sql` and id = ${id}`;
  const r = await sql`update outbox set dead_lettered_at = null, attempts = 0, next_attempt_at = ${now},
                             claimed_until = null, claim_token = null
                      where dead_lettered_at is not null${one}`.execute(trx);
  return Number(r.numAffectedRows ?? 0);
}

/**
 * Creates the outbox table in the service's schema (called from its first migration, through
 * `createKernelTables`). This is the table's first version and stays as it is; later changes are
 * kernel migrations (`shared/sql/kernel-migrations.ts`), so a new database and an old one end up
 * with the same table.
 */
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

/**
 * Kernel migration `kernel_0001_outbox_delivery`: per-event delivery state. `seq` orders events
 * (existing ones numbered by creation time) — `created_at` cannot, as events of one transaction
 * share it; `next_attempt_at`, `claimed_until`, `claim_token`, `last_error`, `dead_lettered_at`
 * carry the state machine of the module comment.
 */
export async function migrateOutboxDelivery(db: Kysely<any>): Promise<void> {
  await sql`alter table outbox
              add column seq bigint,
              add column next_attempt_at timestamptz not null default now(),
              add column claimed_until timestamptz,
              add column claim_token uuid,
              add column last_error text,
              add column dead_lettered_at timestamptz`.execute(db);
  await sql`create sequence outbox_seq as bigint owned by outbox.seq`.execute(db);
  await sql`update outbox o set seq = n.seq
            from (select tenant_id, id, row_number() over (order by created_at, id) as seq from outbox) n
            where o.tenant_id = n.tenant_id and o.id = n.id`.execute(db);
  await sql`select setval('outbox_seq', (select coalesce(max(seq), 0) + 1 from outbox), false)`.execute(db);
  await sql`alter table outbox alter column seq set default nextval('outbox_seq'), alter column seq set not null`.execute(db);
  await sql`drop index outbox_pending`.execute(db);
  // Due events in order; a subject's open events (the hold-back check); dead letters for the list.
  await sql`create index outbox_open on outbox (seq) where published_at is null and dead_lettered_at is null`.execute(db);
  await sql`create index outbox_open_subject on outbox (tenant_id, subject, seq) where published_at is null and dead_lettered_at is null`.execute(db);
  await sql`create index outbox_dead on outbox (seq) where dead_lettered_at is not null`.execute(db);
}

/** Deletes up to `limit` events published before `cutoff`, in the caller's (platform-scope) transaction. */
export async function expirePublished(trx: Transaction<unknown>, cutoff: Date, limit: number): Promise<number> {
  const r = await sql`delete from outbox where ctid in (
      select ctid from outbox where published_at is not null and published_at < ${cutoff} limit ${limit})`.execute(trx);
  return Number(r.numAffectedRows ?? 0);
}
