/** The outbox publisher behind the `outboxPublish` timer. */
import type { InvocationContext } from '@azure/functions';
import type { Kernel } from '../../shared/kernel.js';
import { servicesIn, type ServiceSql } from '../../shared/sql/database.js';
import { publishPending } from '../../shared/events/outbox.js';

/** What a pass over every database did. */
export interface OutboxPassSummary {
  published: number;
  retrying: number;
  deadLettered: number;
  failures: { database: string; service: string; message: string }[];
}

/** Publishes every service's due events in every database. */
export async function publishOutboxes(kernel: Kernel, services: readonly ServiceSql[], context?: InvocationContext): Promise<OutboxPassSummary> {
  const sink = kernel.clients.eventSink();
  const summary: OutboxPassSummary = { published: 0, retrying: 0, deadLettered: 0, failures: [] };
  for (const { name, placement, db } of kernel.sql.all()) {
    for (const svc of servicesIn(placement, services)) {
      const r = await publishPending(db, placement, svc, sink, { now: kernel.now });
      summary.published += r.published;
      summary.retrying += r.retrying;
      summary.deadLettered += r.deadLettered;
      if (r.retrying > 0) context?.warn(`outbox ${svc.service}@${name}: ${r.retrying} events failed to send; retrying after backoff`);
      if (r.deadLettered > 0) context?.error(`OutboxEventsDeadLettered: outbox ${svc.service}@${name}: ${r.deadLettered} events dead-lettered`);
    }
  }
  return summary;
}
