/**
 * OpenAPI 3.1, generated from the same zod schemas the pipeline validates with. Every route the
 * pipeline registers is added here (`openapi-document.ts`); `GET /api/openapi.json` serves the
 * document. The document is the contract: the test harness validates every answer the test suite
 * receives against it, and `npm run lint` lints it with Redocly.
 */
import { OpenAPIRegistry, OpenApiGeneratorV31, extendZodWithOpenApi, type ResponseConfig } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { REPEATABILITY_REQUEST_ID } from './headers.js';

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

type HeaderObject = Exclude<NonNullable<ResponseConfig['headers']>, z.ZodObject>[string];

/** Response headers the API sends, declared once under `components/headers`; each is sent wherever it is documented. */
const RESPONSE_HEADERS = {
  'x-ms-request-id': { required: true, description: 'The id of this request (the invocation id), for support', schema: { type: 'string' } },
  'x-ms-error-code': { required: true, description: 'The error code, the same as `error.code` in the body', schema: { type: 'string' } },
  ETag: { required: true, description: 'The strong ETag of the resource; send it back in `If-Match` to update it conditionally', schema: { type: 'string' } },
  Location: { required: true, description: 'The URL of the created resource', schema: { type: 'string' } },
  'Operation-Location': { required: true, description: 'The URL of the operation started (its status, polled until it finishes)', schema: { type: 'string' } },
  'Retry-After': { required: true, description: 'Seconds to wait before retrying', schema: { type: 'integer', minimum: 0 } },
  'WWW-Authenticate': { required: true, description: 'The bearer challenge', schema: { type: 'string' } },
  'Repeatability-Result': {
    description: '`accepted`: the answer of a request sent with `Repeatability-Request-ID` (the first answer, when the id was seen before)',
    schema: { type: 'string', enum: ['accepted'] },
  },
} satisfies Record<string, HeaderObject>;

export type ResponseHeader = keyof typeof RESPONSE_HEADERS;

/** Collects paths; one per app instance. */
export class OpenApi {
  readonly registry = new OpenAPIRegistry();
  /** Request-body examples by route name, so a test can check each against its schema. */
  readonly examples = new Map<string, { schema: z.ZodType; example: unknown }>();
  /** Request headers, as references to their components (`components/parameters`). */
  readonly parameters = {
    ifMatch: this.registry.registerComponent('parameters', 'IfMatch', {
      name: 'If-Match',
      in: 'header',
      required: false,
      description: 'Update only if the resource still has this strong ETag (or `*`); otherwise 412',
      schema: { type: 'string' },
      example: '"3f2a9c"',
    }).ref,
    repeatabilityRequestId: this.registry.registerComponent('parameters', 'RepeatabilityRequestId', {
      name: 'Repeatability-Request-ID',
      in: 'header',
      required: false,
      description: 'Makes the create safe to retry: a request sent again with the same id answers what the first one answered',
      schema: { type: 'string', pattern: REPEATABILITY_REQUEST_ID.source },
      example: '6f1c2b1e-4c8e-4a53-9d0b-2f1f6d1c7a10',
    }).ref,
  };
  private readonly headerRefs = new Map<ResponseHeader, { $ref: string }>();

  constructor() {
    this.registry.registerComponent('securitySchemes', 'bearer', { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' });
    for (const [name, header] of Object.entries(RESPONSE_HEADERS) as [ResponseHeader, (typeof RESPONSE_HEADERS)[ResponseHeader]][]) {
      this.headerRefs.set(name, this.registry.registerComponent('headers', componentName(name), header).ref);
    }
  }

  /** The response headers `names`, as references to their components. */
  headers(names: readonly ResponseHeader[]): Record<string, { $ref: string }> {
    return Object.fromEntries(names.map((n) => [n, this.headerRefs.get(n)!]));
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

/** `x-ms-request-id` → `XMsRequestId`: a component name of letters only. */
function componentName(header: string): string {
  return header
    .split('-')
    .map((p) => p.charAt(0).toUpperCase() + p.slice(1))
    .join('');
}

export { z };
