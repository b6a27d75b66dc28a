/** HTTP handlers of the platform service: the OpenAPI document and liveness. */
import { z } from '../../shared/http/openapi.js';
import { route } from '../../shared/http/route.js';
import type { OpenApi } from '../../shared/http/openapi.js';
import type { AppPorts } from '../../shared/service.js';

/** What the platform handlers use. */
export interface PlatformHandlerDeps {
  app: Pick<AppPorts, 'loadAllRoutes'>;
  openapi: Pick<OpenApi, 'document'>;
}

/** The handlers, keyed by operation; `index.ts` gives each its name, method and route. */
export function platformHandlers({ app, openapi }: PlatformHandlerDeps) {
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

  return { openapi: openapiDocument, health };
}
