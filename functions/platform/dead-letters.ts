/**
 * The outbox's dead letters, for platform admins: events that failed to send
 * `DELIVERY_POLICY.maxAttempts` times (shared/events/outbox.ts), across every service and every
 * database. The list shows what and why — type, subject, attempts, the sink's last error — never
 * the event's data. A re-drive puts events back to pending with a fresh count of attempts: one
 * event, or every dead letter of a service (in one database or all).
 *
 * A database that cannot be reached is reported in `unavailable` and the others are still
 * listed or re-driven.
 */
import type { Transaction } from 'kysely';
import { z } from '../../shared/http/openapi.js';
import { route } from '../../shared/http/route.js';
import { decodeCursor } from '../../shared/http/pagination.js';
import { invalid, notFound } from '../../shared/errors.js';
import type { Kernel } from '../../shared/kernel.js';
import { inScope, servicesIn, type Placement, type ServiceSql } from '../../shared/sql/database.js';
import { listDeadLettered, redriveDeadLettered, type DeadLetteredEvent } from '../../shared/events/outbox.js';

const TAGS = ['platform'];

const ServiceName = z.string().regex(/^[a-z][a-z0-9-]{0,62}$/).openapi({ description: 'A service that keeps data in PostgreSQL', example: 'catalog' });
const DatabaseName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,62}$/)
  .openapi({ description: '`pooled`, or the name of a silo', example: 'pooled' });

const Unavailable = z.object({ database: z.string(), service: z.string(), message: z.string() }).openapi('OutboxDatabaseUnavailable');

export const DeadLetter = z
  .object({
    database: z.string(),
    service: z.string(),
    tenantId: z.string(),
    id: z.string(),
    type: z.string(),
    subject: z.string(),
    attempts: z.number().int(),
    lastError: z.string().nullable(),
    createdAt: z.string(),
    deadLetteredAt: z.string(),
  })
  .openapi('OutboxDeadLetter');

const DeadLetterList = z
  .object({ value: z.array(DeadLetter), nextLink: z.string().optional(), unavailable: z.array(Unavailable).optional() })
  .openapi('OutboxDeadLetterList');

const ListQuery = z.object({ service: ServiceName.optional(), database: DatabaseName.optional() });

const Redrive = z
  .strictObject({
    service: ServiceName,
    database: DatabaseName.optional().openapi({ description: 'Only this database (default: every database)' }),
    eventId: z.uuid().optional().openapi({ description: 'Only this event (default: every dead letter of the service)' }),
  })
  .openapi('OutboxRedrive');

const RedriveResult = z
  .object({
    redriven: z.number().int(),
    databases: z.array(z.object({ database: z.string(), redriven: z.number().int() })),
    unavailable: z.array(Unavailable).optional(),
  })
  .openapi('OutboxRedriveResult');

const Cursor = z.object({ d: z.string().max(63), s: z.string().max(63), q: z.number().int().min(0) });

/** What the handlers use. */
export interface DeadLetterDeps {
  kernel: Kernel;
  services: readonly ServiceSql[];
}

/** One service's outbox in one database. */
interface Outbox {
  database: string;
  placement: Placement;
  svc: ServiceSql;
  run<T>(fn: (trx: Transaction<unknown>) => Promise<T>): Promise<T>;
}

type Failure = z.infer<typeof Unavailable>;

/** Every outbox, databases in the kernel's order (pooled, then silos), services in list order. */
function outboxes(deps: DeadLetterDeps, filter: { service?: string | undefined; database?: string | undefined }): Outbox[] {
  if (filter.service !== undefined && !deps.services.some((s) => s.service === filter.service)) {
    throw invalid(`There is no service '${filter.service}' with an outbox.`, 'service');
  }
  const all = deps.kernel.sql.all();
  if (filter.database !== undefined && !all.some((d) => d.name === filter.database)) {
    throw invalid(`There is no database '${filter.database}' on this deployment.`, 'database');
  }
  return all
    .filter((d) => filter.database === undefined || d.name === filter.database)
    .flatMap(({ name, placement, db }) =>
      servicesIn(placement, deps.services)
        .filter((svc) => filter.service === undefined || svc.service === filter.service)
        .map((svc) => ({
          database: name,
          placement,
          svc,
          run: <T>(fn: (trx: Transaction<unknown>) => Promise<T>) => inScope(db, { platform: true, placement }, svc, fn),
        })),
    );
}

const failure = (o: Outbox, e: unknown): Failure => ({ database: o.database, service: o.svc.service, message: e instanceof Error ? e.message : String(e) });

type Row = DeadLetteredEvent & { database: string; service: string };

const toDto = (r: Row): z.infer<typeof DeadLetter> => ({
  database: r.database,
  service: r.service,
  tenantId: r.tenant_id,
  id: r.id,
  type: r.type,
  subject: r.subject,
  attempts: r.attempts,
  lastError: r.last_error,
  createdAt: new Date(r.created_at).toISOString(),
  deadLetteredAt: new Date(r.dead_lettered_at).toISOString(),
});

/** The handlers, keyed by operation; `index.ts` gives each its name, method and route. */
export function deadLetterHandlers(deps: DeadLetterDeps) {
  const list = route({
    summary: 'List dead-lettered outbox events of every service and database (no event data)',
    tags: TAGS,
    access: { platformAdmin: true },
    query: ListQuery,
    paged: true,
    responses: { 200: { description: 'A page of dead-lettered events', schema: DeadLetterList } },
    handler: async (ctx) => {
      const targets = outboxes(deps, ctx.query);
      const cursor = decodeCursor(ctx.query.skipToken, Cursor);
      let start = 0;
      if (cursor) {
        start = targets.findIndex((o) => o.database === cursor.d && o.svc.service === cursor.s);
        if (start < 0) throw invalid('The skipToken is malformed or does not belong to this list.', 'skipToken');
      }
      const rows: Row[] = [];
      const unavailable: Failure[] = [];
      for (let i = start; i < targets.length && rows.length <= ctx.pageSize; i++) {
        const o = targets[i]!;
        const after = i === start ? cursor?.q : undefined;
        try {
          const got = await o.run((trx) => listDeadLettered(trx, after, ctx.pageSize + 1 - rows.length));
          rows.push(...got.map((r) => ({ ...r, database: o.database, service: o.svc.service })));
        } catch (e) {
          unavailable.push(failure(o, e));
        }
      }
      const page = ctx.page(rows, (last) => ({ d: last.database, s: last.service, q: last.seq }), toDto);
      return { status: 200, body: unavailable.length > 0 ? { ...page, unavailable } : page };
    },
  });

  const redrive = route({
    summary: 'Re-drive dead-lettered outbox events: one, or every one of a service',
    tags: TAGS,
    access: { platformAdmin: true },
    body: { schema: Redrive, example: { service: 'catalog', database: 'pooled', eventId: '0b7e6a52-53a4-4c55-9a56-3c1f4f4a2d10' } },
    responses: {
      200: { description: 'The events are pending again; the publisher sends them on its next run', schema: RedriveResult },
      404: { description: 'No dead-lettered event with that id in that service (NotFound)' },
    },
    handler: async (ctx) => {
      const { service, database, eventId } = ctx.body;
      const now = deps.kernel.now();
      const databases: { database: string; redriven: number }[] = [];
      const unavailable: Failure[] = [];
      for (const o of outboxes(deps, { service, database })) {
        try {
          databases.push({ database: o.database, redriven: await o.run((trx) => redriveDeadLettered(trx, now, eventId)) });
        } catch (e) {
          unavailable.push(failure(o, e));
        }
      }
      const redriven = databases.reduce((n, d) => n + d.redriven, 0);
      if (eventId !== undefined && redriven === 0 && unavailable.length === 0) throw notFound(`The dead-lettered event '${eventId}'`, 'eventId');
      ctx.invocation.log(
        `outbox re-drive by ${ctx.principal.id}: ${redriven} events of ${service}${database ? `@${database}` : ''}${eventId ? ` (event ${eventId})` : ''}`,
      );
      return { status: 200, body: { redriven, databases, ...(unavailable.length > 0 ? { unavailable } : {}) } };
    },
  });

  return { list, redrive };
}
