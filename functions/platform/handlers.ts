/** HTTP handlers of the platform service: the OpenAPI document, liveness, the isolation check. */
import { z } from '../../shared/http/openapi.js';
import { route } from '../../shared/http/route.js';
import type { Kernel } from '../../shared/kernel.js';
import type { AppPorts } from '../../shared/service.js';
import { IsolationReportSchema, reportIsolation, runIsolationCheck } from './isolation-check.js';

/** What the platform handlers use. */
export interface PlatformHandlerDeps {
  app: Pick<AppPorts, 'loadAllRoutes' | 'databaseServices'>;
  kernel: Kernel;
}

/** The handlers, keyed by operation; `index.ts` gives each its name, method and route. */
export function platformHandlers({ app, kernel }: PlatformHandlerDeps) {
  const { openapi } = kernel;
  const openapiDocument = route({
    summary: 'The OpenAPI 3.1 document of this API',
    tags: ['platform'],
    access: { anonymous: true },
    responses: { 200: { description: 'OpenAPI document', schema: z.looseObject({ openapi: z.string() }) } },
    handler: async () => {
      await app.loadAllRoutes();
      return { status: 200, body: openapi.document() };
    },
  });

  const health = route({
    summary: 'Liveness of this instance',
    tags: ['platform'],
    access: { anonymous: true },
    responses: { 200: { description: 'Alive', schema: z.object({ status: z.literal('ok') }) } },
    handler: async () => ({ status: 200, body: { status: 'ok' } }),
  });

  const isolationCheck = route({
    summary: 'Runs the tenant isolation check now in every database and answers its report',
    tags: ['platform'],
    access: { platformAdmin: true },
    responses: { 200: { description: 'The report; `ok` is false when isolation is not proven (also logged and sent as IsolationCheckFailed)', schema: IsolationReportSchema } },
    handler: async (ctx) => {
      const report = await runIsolationCheck(kernel, app.databaseServices);
      reportIsolation(report, { log: ctx.invocation, telemetry: kernel.telemetry });
      return { status: 200, body: report };
    },
  });

  return { openapi: openapiDocument, health, isolationCheck };
}
