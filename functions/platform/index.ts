/**
 * platform — the app's own plumbing, no tenant data of its own:
 *
 *   GET  /api/openapi.json      openapiDocument   anonymous   the OpenAPI 3.1 document
 *   GET  /api/health            platformHealth    anonymous   liveness (no dependency calls)
 *   timer, every 10 s         outboxPublish                 publishes pending outbox events
 *   timer, daily 03:15 UTC    platformHousekeeping          expires published events and idempotency records
 */
import type { Registrar } from '../../shared/registrar.js';

export function register(r: Registrar): void {
  r.http('openapiDocument', 'GET', 'openapi.json', async (k) => ({
    summary: 'The OpenAPI 3.1 document of this API',
    tags: ['platform'],
    access: { anonymous: true },
    responses: { 200: { description: 'OpenAPI document' } },
    handler: async () => {
      await k.loadAllRoutes();
      return { status: 200, body: k.openapi.document() };
    },
  }));
  r.http('platformHealth', 'GET', 'health', async () => ({
    summary: 'Liveness of this instance',
    tags: ['platform'],
    access: { anonymous: true },
    responses: { 200: { description: 'Alive' } },
    handler: async () => ({ status: 200, body: { status: 'ok' } }),
  }));
  r.timer('outboxPublish', '*/10 * * * * *', async (k) => {
    const { publishOutboxes } = await import('./outbox.js');
    return async (_timer, context) => {
      const n = await publishOutboxes(k, k.outboxes, context);
      if (n > 0) context.log(`published ${n} events`);
    };
  });
  r.timer('platformHousekeeping', '0 15 3 * * *', async (k) => {
    const { expireKernelRecords } = await import('./housekeeping.js');
    return async (_timer, context) => {
      const n = await expireKernelRecords(k, k.outboxes);
      context.log(`expired ${n.outbox} published events and ${n.idempotency} idempotency records`);
    };
  });
}
