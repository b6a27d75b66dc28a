/** Request/response schemas of the health service (zod). */
import { z } from '../../shared/http/openapi.js';
import { listOf, resourceId, SAFE_LINE_PATTERN, SAFE_TEXT_PATTERN, TenantParams } from '../../shared/http/vocabulary.js';
import { isStorableInstant } from '../../shared/http/keyset.js';

export { TenantParams };

export const ServiceId = resourceId('svc', 'svc_8c1e5a2f90b3d476');
export const EnvironmentId = resourceId('env', 'env_3f9a1c07d2b84e65');
export const EnvironmentParams = TenantParams.extend({ environmentId: EnvironmentId });
export const ServiceParams = EnvironmentParams.extend({ serviceId: ServiceId });

/** Results per batch, at most. */
export const MAX_BATCH_RESULTS = 5000;
/** Characters of a failure excerpt, at most (after redaction it can only be shorter or equal in spirit). */
export const MAX_EXCERPT_CHARS = 1024;

export const HealthStatus = z.enum(['healthy', 'degraded', 'unhealthy']).openapi('HealthStatus');
export type HealthStatusValue = z.infer<typeof HealthStatus>;

/** The batch id an agent chooses: a replay of the same id inserts nothing. */
export const BatchId = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/)
  .openapi({ description: 'Chosen by the sender, unique per batch in the tenant: sending a batch again with its id inserts nothing', example: 'probe-weu-1:2026-03-01T12:00:00Z' });

/** A check's name, as the probe calls it (`http`, `db`, `queue/orders`). */
export const CheckName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:/-]{0,99}$/)
  .openapi({ example: 'http' });

const instant = (description: string) =>
  z.iso
    .datetime({ offset: true })
    .refine((s) => isStorableInstant(Date.parse(s)), { message: 'Instants must lie between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999Z' })
    .openapi({ description });

export const HealthResultInput = z
  .strictObject({
    serviceId: ServiceId,
    check: CheckName,
    status: HealthStatus,
    latencyMs: z.number().min(0).max(3_600_000),
    observedAt: instant('When the probe observed it (ISO 8601); within the retention window, and not in the future beyond a small clock skew'),
    message: z
      .string()
      .max(MAX_EXCERPT_CHARS)
      .regex(SAFE_TEXT_PATTERN, { message: 'No control or bidirectional-override characters' })
      .optional()
      .openapi({ description: 'A short failure excerpt; bearer tokens, JWTs and connection-string passwords are redacted before it is stored or sent on' }),
  })
  .openapi('HealthResultInput');

export const AppendHealthResults = z
  .strictObject({
    batchId: BatchId,
    results: z.array(HealthResultInput).min(1).max(MAX_BATCH_RESULTS),
  })
  .openapi('AppendHealthResults');

export const APPEND_EXAMPLE: z.input<typeof AppendHealthResults> = {
  batchId: 'probe-weu-1:2026-03-01T12:00:00Z',
  results: [
    { serviceId: 'svc_8c1e5a2f90b3d476', check: 'http', status: 'healthy', latencyMs: 42, observedAt: '2026-03-01T12:00:00Z' },
    {
      serviceId: 'svc_8c1e5a2f90b3d476',
      check: 'db',
      status: 'unhealthy',
      latencyMs: 5003.5,
      observedAt: '2026-03-01T12:00:00Z',
      message: 'connect ETIMEDOUT 10.0.0.5:5432',
    },
  ],
};

export const BatchAccepted = z
  .object({
    batchId: z.string(),
    accepted: z.number().int().openapi({ description: 'Results stored by this batch' }),
    replayed: z.boolean().openapi({ description: 'True when the batch id was seen before: nothing was inserted this time' }),
  })
  .openapi('HealthBatchAccepted');

const text = z.string().regex(SAFE_LINE_PATTERN);

export const ServiceHealth = z
  .object({
    serviceId: z.string(),
    environmentId: z.string(),
    status: HealthStatus,
    check: text,
    latencyMs: z.number(),
    message: z.string().optional(),
    observedAt: z.string().openapi({ description: 'ISO 8601: the newest result' }),
    changedAt: z.string().openapi({ description: 'ISO 8601: since when the service has this status' }),
  })
  .openapi('ServiceHealth');
export const ServiceHealthList = listOf(ServiceHealth, 'ServiceHealthList');

export const HealthResult = z
  .object({
    serviceId: z.string(),
    check: z.string(),
    status: HealthStatus,
    latencyMs: z.number(),
    message: z.string().optional(),
    observedAt: z.string(),
    batchId: z.string(),
  })
  .openapi('HealthResult');
export const HealthResultList = listOf(HealthResult, 'HealthResultList');

export const HealthTransition = z
  .object({
    serviceId: z.string(),
    // Inline, not the named HealthStatus: a nullable reference loses its null in the document.
    from: z.enum(['healthy', 'degraded', 'unhealthy']).nullable().openapi({ description: 'null: the first result of the service' }),
    to: HealthStatus,
    at: z.string(),
    check: z.string(),
    message: z.string().optional(),
  })
  .openapi('HealthTransition');
export const HealthTransitionList = listOf(HealthTransition, 'HealthTransitionList');

export const LatestQuery = z.object({ status: HealthStatus.optional().openapi({ description: 'Only services with this status' }) });

const rangeBound = (description: string) => instant(description).optional();
/** `[from, to)` by observed time; newest first. */
export const RangeQuery = z.object({
  from: rangeBound('Only results (or transitions) at or after this instant'),
  to: rangeBound('Only results (or transitions) before this instant'),
});
