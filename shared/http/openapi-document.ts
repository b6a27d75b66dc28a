/** Adds a route to the OpenAPI document: its operation, parameters, body, answers and example. */
import { z } from 'zod';
import { ErrorResponse, type OpenApi } from './openapi.js';
import { pageQuery } from './pagination.js';
import type { HttpMethod, RouteImpl } from './route.js';

/** Registers the operation `name` (`method /route`) described by `def`. */
export function documentRoute(o: OpenApi, name: string, method: HttpMethod, path: string, def: RouteImpl, maxPageSize: number): void {
  const query = z.object({ ...(def.query?.shape ?? {}), ...(def.paged ? pageQuery(maxPageSize) : {}) });
  const responses: Record<string, { description: string; content?: Record<string, { schema: z.ZodType }> }> = {};
  for (const [status, r] of Object.entries(def.responses)) {
    responses[status] = { description: r.description, ...(r.schema ? { content: { 'application/json': { schema: r.schema } } } : {}) };
  }
  responses.default = { description: 'Error', content: { 'application/json': { schema: ErrorResponse } } };
  if (def.body) o.examples.set(name, { schema: def.body.schema, example: def.body.example });
  o.registry.registerPath({
    operationId: name,
    method: method.toLowerCase() as Lowercase<HttpMethod>,
    path: `/${path}`,
    summary: def.summary,
    tags: def.tags,
    ...('anonymous' in def.access ? { security: [] } : {}),
    request: {
      ...(def.params ? { params: def.params } : {}),
      ...(Object.keys(query.shape).length ? { query } : {}),
      ...(def.body
        ? { body: { required: true, content: { [def.body.contentType ?? 'application/json']: { schema: def.body.schema, example: def.body.example } } } }
        : {}),
    },
    responses,
  });
}
