/**
 * platform — the app's own plumbing, no tenant data of its own: the OpenAPI document, liveness,
 * the outbox publisher and its dead letters, the daily housekeeping of the kernel's tables (an
 * orchestration that fans out over the databases), and the hourly isolation check. Every timer
 * that works over the databases treats each on its own: one that fails is logged and reported,
 * and the others proceed.
 *
 * <!-- functions:platform -->
 *   GET            /api/openapi.json                          openapiDocument                anonymous
 *   GET            /api/health                                platformHealth                 anonymous
 *   timer          *\/10 * * * * *                            outboxPublish
 *   GET            /api/platform/outbox/dead-letters          outboxDeadLetterList           platform admin
 *   POST           /api/platform/outbox/dead-letters/redrive  outboxDeadLetterRedrive        platform admin
 *   timer          0 7 * * * *                                isolationCheck
 *   GET            /api/platform/isolation-check              platformIsolationCheck         platform admin
 *   timer          0 15 3 * * *                               platformHousekeeping
 *   orchestration                                             platformHousekeepingRun
 *   activity                                                  platformHousekeepingDatabases
 *   activity                                                  platformHousekeepingExpire
 * <!-- /functions -->
 */
import { defineService, lazyRoutes, type AppPorts } from '../../shared/service.js';

/** The platform service's instance: it offers no API; its functions work over the whole app. */
export interface PlatformInstance {
  api: Record<never, never>;
  app: AppPorts;
}

/** Daily at 03:15 UTC. */
export const HOUSEKEEPING_SCHEDULE = '0 15 3 * * *';
/** Hourly, at seven minutes past. */
export const ISOLATION_CHECK_SCHEDULE = '0 7 * * * *';

const deadLetters = lazyRoutes((self: PlatformInstance, kernel) =>
  import('./dead-letters.js').then((m) => m.deadLetterHandlers({ kernel, services: self.app.databaseServices })),
);

const routes = lazyRoutes((self: PlatformInstance, kernel) =>
  import('./handlers.js').then((m) => m.platformHandlers({ app: self.app, kernel })),
);

export const platform = defineService({
  name: 'platform',
  needs: [],
  create: async ({ app }): Promise<PlatformInstance> => ({ api: {}, app }),
  register(r) {
    r.http('openapiDocument', 'GET', 'openapi.json', routes('openapi'));
    r.http('platformHealth', 'GET', 'health', routes('health'));
    r.timer('outboxPublish', '*/10 * * * * *', "Publishes every service's due outbox events as CloudEvents to the events queue, each database on its own", async (self, kernel) => {
      const { publishOutboxes } = await import('./outbox.js');
      return async (_timer, context) => {
        const s = await publishOutboxes(kernel, self.app.databaseServices, context);
        if (s.published + s.retrying + s.deadLettered > 0 || s.failures.length > 0) {
          context.log(`outbox: ${s.published} published, ${s.retrying} retrying, ${s.deadLettered} dead-lettered, ${s.failures.length} outboxes failed`);
        }
      };
    });
    r.http('outboxDeadLetterList', 'GET', 'platform/outbox/dead-letters', deadLetters('list'));
    r.http('outboxDeadLetterRedrive', 'POST', 'platform/outbox/dead-letters/redrive', deadLetters('redrive'));
    r.timer('isolationCheck', ISOLATION_CHECK_SCHEDULE, 'Proves tenant isolation in every database; a failure is logged and sent as IsolationCheckFailed', async (self, kernel) => {
      const { reportIsolation, runIsolationCheck } = await import('./isolation-check.js');
      return async (_timer, context) => reportIsolation(await runIsolationCheck(kernel, self.app.databaseServices), { log: context, telemetry: kernel.telemetry });
    });
    r.http('platformIsolationCheck', 'GET', 'platform/isolation-check', routes('isolationCheck'));
    r.timer(
      'platformHousekeeping',
      HOUSEKEEPING_SCHEDULE,
      'Starts the day’s housekeeping orchestration (one instance per day)',
      async (_self, kernel) => {
        const { durableOrchestrations } = await import('../../shared/orchestration.js');
        return async (_timer, context) => {
          const day = kernel.now().toISOString().slice(0, 10);
          const { instanceId, started } = await durableOrchestrations(context).start('platformHousekeepingRun', `housekeeping:${day}`, null);
          context.log(`housekeeping ${instanceId}: ${started ? 'started' : 'already ran today'}`);
        };
      },
      { durableClient: true },
    );
    r.orchestration('platformHousekeepingRun', 'Expires published outbox events and idempotency records, one activity per database', async () =>
      (await import('./housekeeping.js')).housekeepingOrchestrator,
    );
    r.activity('platformHousekeepingDatabases', 'Lists the databases housekeeping covers (pooled and every silo)', async (_self, kernel) => {
      const { housekeepingDatabases } = await import('./housekeeping.js');
      return async () => housekeepingDatabases(kernel);
    });
    r.activity('platformHousekeepingExpire', "Expires one database's kernel records (safe to run twice)", async (self, kernel) => {
      const { expireDatabase } = await import('./housekeeping.js');
      return async (input: unknown) => {
        const { database, cutoff } = input as { database: string; cutoff: string };
        return expireDatabase(kernel, self.app.databaseServices, database, new Date(cutoff));
      };
    });
  },
});
