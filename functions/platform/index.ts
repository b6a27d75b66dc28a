/**
 * platform — the app's own plumbing, no tenant data of its own:
 *
 *   GET  /api/openapi.json      openapiDocument   anonymous   the OpenAPI 3.1 document
 *   GET  /api/health            platformHealth    anonymous   liveness (no dependency calls)
 *   timer every 10 s            outboxPublish                 publishes pending outbox events
 */
import { app, type InvocationContext } from '@azure/functions';
import type { Kernel } from '../../shared/kernel.js';
import type { ServiceSql } from '../../shared/sql/database.js';
import { publishPending } from '../../shared/events/outbox.js';
import { z } from '../../shared/http/openapi.js';

/** Publishes every service's pending events in every database; returns how many went out. */
export async function publishOutboxes(kernel: Kernel, services: ServiceSql[], context?: InvocationContext): Promise<number> {
  const sink = kernel.clients.eventSink();
  let total = 0;
  for (const { name, placement, db } of kernel.sql.all()) {
    for (const svc of services) {
      const r = await publishPending(db, placement, svc, sink);
      total += r.published;
      if (r.failed > 0) context?.warn(`outbox ${svc.service}@${name}: ${r.failed} events not published yet; will retry`);
    }
  }
  return total;
}

export function register(kernel: Kernel, services: ServiceSql[]): void {
  kernel.routes.define({
    name: 'openapiDocument',
    method: 'GET',
    route: 'openapi.json',
    summary: 'The OpenAPI 3.1 document of this API',
    tags: ['platform'],
    access: { anonymous: true },
    responses: { 200: { description: 'OpenAPI document' } },
    handler: async () => ({ status: 200, body: kernel.openapi.document() }),
  });
  kernel.routes.define({
    name: 'platformHealth',
    method: 'GET',
    route: 'health',
    summary: 'Liveness of this instance',
    tags: ['platform'],
    access: { anonymous: true },
    responses: { 200: { description: 'Alive', schema: z.object({ status: z.literal('ok') }) } },
    handler: async () => ({ status: 200, body: { status: 'ok' } }),
  });
  app.timer('outboxPublish', {
    schedule: '*/10 * * * * *',
    handler: async (_timer, context) => {
      const n = await publishOutboxes(kernel, services, context);
      if (n > 0) context.log(`published ${n} events`);
    },
  });
}
