/**
 * The outbox publisher behind the `outboxPublish` timer: every service's due events in every
 * database (the pooled one and each silo). Each database, and each service in it, is published on
 * its own: one that fails (a silo down, a schema missing) is logged and reported, and the others
 * proceed. A failing event never stops the pass either — it backs off on its own (see
 * shared/events/outbox.ts).
 */
import type { InvocationContext } from '@azure/functions';
import type { Kernel } from '../../shared/kernel.js';
import { isTransientDbError, servicesIn, type ServiceSql } from '../../shared/sql/database.js';
import { publishPending, type EventSink, type PublishOptions } from '../../shared/events/outbox.js';

/** The log prefix and custom event of events dead-lettered by a pass (see docs/operations.md). */
export const OUTBOX_DEAD_LETTERED = 'OutboxEventsDeadLettered';

/** One service's outbox in one database that could not be published. */
export interface OutboxFailure {
  database: string;
  service: string;
  message: string;
}

/** What a pass over every database did. */
export interface OutboxPassSummary {
  published: number;
  /** Events that failed and will be retried after their backoff. */
  retrying: number;
  /** Events that failed for the last allowed time (listed by the dead-letter route). */
  deadLettered: number;
  /** Databases (or services in them) that failed; the others were published. */
  failures: OutboxFailure[];
}

/** Logging the pass reports to (the invocation's context in the timer). */
type PassLog = Pick<InvocationContext, 'warn' | 'error'>;

/** Publishes every service's due events in every database. */
export async function publishOutboxes(
  kernel: Kernel,
  services: readonly ServiceSql[],
  log?: PassLog,
  opts: { sink?: EventSink } & PublishOptions = {},
): Promise<OutboxPassSummary> {
  const { sink = kernel.clients.eventSink(), ...publish } = opts;
  const summary: OutboxPassSummary = { published: 0, retrying: 0, deadLettered: 0, failures: [] };
  for (const { name, placement, db } of kernel.sql.all()) {
    for (const svc of servicesIn(placement, services)) {
      try {
        const r = await publishPending(db, placement, svc, sink, { now: kernel.now, ...publish });
        summary.published += r.published;
        summary.retrying += r.retrying;
        summary.deadLettered += r.deadLettered;
        if (r.retrying > 0) log?.warn(`outbox ${svc.service}@${name}: ${r.retrying} events failed to send; retrying after backoff`);
        if (r.deadLettered > 0) {
          log?.error(`${OUTBOX_DEAD_LETTERED}: outbox ${svc.service}@${name}: ${r.deadLettered} events dead-lettered`);
          kernel.telemetry.trackEvent({ name: OUTBOX_DEAD_LETTERED, properties: { database: name, service: svc.service }, measurements: { events: r.deadLettered } });
        }
      } catch (e) {
        const message = e instanceof Error ? e.message : String(e);
        summary.failures.push({ database: name, service: svc.service, message });
        log?.error(`outbox ${svc.service}@${name}: not published: ${message}`);
        // A database that cannot be reached fails each of its services the same way: skip the rest.
        if (isTransientDbError(e)) break;
      }
    }
  }
  return summary;
}
