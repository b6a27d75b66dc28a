/**
 * OpenAPI 3.1, generated from the same zod schemas the pipeline validates with. Every route the
 * pipeline registers is added here; `GET /api/openapi.json` serves the document.
 */
import { OpenAPIRegistry, OpenApiGeneratorV31, extendZodWithOpenApi } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';

extendZodWithOpenApi(z);

/** The error body, shared by every error response. */
export const ErrorResponse = z
  .object({
    error: z.object({
      code: z.string(),
      message: z.string(),
      target: z.string().optional(),
      details: z.array(z.object({ code: z.string(), message: z.string(), target: z.string().optional() })).optional(),
    }),
  })
  .openapi('ErrorResponse');

/** Collects paths; one per app instance. */
export class OpenApi {
  readonly registry = new OpenAPIRegistry();
  /** Request-body examples by route name, so a test can check each against its schema. */
  readonly examples = new Map<string, { schema: z.ZodType; example: unknown }>();

  constructor() {
    this.registry.registerComponent('securitySchemes', 'bearer', { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' });
  }

  /** The whole document. */
  document(): ReturnType<OpenApiGeneratorV31['generateDocument']> {
    return new OpenApiGeneratorV31(this.registry.definitions).generateDocument({
      openapi: '3.1.0',
      info: {
        title: 'Runtime Platform control plane',
        version: '1.0.0',
        description:
          'Multi-tenant control plane for runtime environments. Errors follow the Microsoft REST API guidelines.',
      },
      servers: [{ url: '/api' }],
      security: [{ bearer: [] }],
    });
  }
}

export { z };
