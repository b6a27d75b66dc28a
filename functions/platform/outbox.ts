/** The outbox publisher behind the `outboxPublish` timer. */
import type { InvocationContext } from '@azure/functions';
import type { Kernel } from '../../shared/kernel.js';
import { servicesIn, type ServiceSql } from '../../shared/sql/database.js';
import { publishPending } from '../../shared/events/outbox.js';

/** Publishes every service's pending events in every database; returns how many went out. */
export async function publishOutboxes(kernel: Kernel, services: readonly ServiceSql[], context?: InvocationContext): Promise<number> {
  const sink = kernel.clients.eventSink();
  let total = 0;
  for (const { name, placement, db } of kernel.sql.all()) {
    for (const svc of servicesIn(placement, services)) {
      const r = await publishPending(db, placement, svc, sink);
      total += r.published;
      if (r.failed > 0) context?.warn(`outbox ${svc.service}@${name}: ${r.failed} events not published yet; will retry`);
    }
  }
  return total;
}
