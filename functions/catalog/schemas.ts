/** Request/response schemas of the catalog service (zod), including the fact-sheet parts. */
import { z } from '../../shared/http/openapi.js';
import {
  createdRangeQuery,
  Description,
  DisplayName,
  dnsName,
  LabelSelectorParam,
  Labels,
  LabelsPatch,
  listOf,
  LiveStatus,
  resourceId,
  StatusFilter,
  TenantParams,
} from '../../shared/http/vocabulary.js';

export { TenantParams };

/** Server-generated: `svc_` and 16 hex characters (see shared/ids.ts). */
export const ServiceId = resourceId('svc', 'svc_8c1e5a2f90b3d476');
export const EnvironmentId = resourceId('env', 'env_3f9a1c07d2b84e65');
/** Names are DNS labels, unique in the environment among services that are not retired. */
export const ServiceName = dnsName('checkout-api');
/** A team or principal that owns the service (`team-payments`, `group:payments`, a principal id). */
export const Owner = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._@:-]{0,127}$/)
  .openapi({ example: 'team-payments' });
/** The owner's declared stage of the service (as in Backstage's catalog). */
export const Lifecycle = z.enum(['experimental', 'production', 'deprecated']).openapi('ServiceLifecycle');
export const ServiceStatus = LiveStatus.openapi('ServiceStatus');

export const RegisterService = z
  .strictObject({
    name: ServiceName,
    displayName: DisplayName.optional(),
    description: Description.optional(),
    owner: Owner,
    lifecycle: Lifecycle.optional().openapi({ description: 'Defaults to experimental' }),
    labels: Labels.optional(),
  })
  .openapi('RegisterService');

export const REGISTER_EXAMPLE: z.input<typeof RegisterService> = {
  name: 'checkout-api',
  displayName: 'Checkout API',
  description: 'Takes orders and payments.',
  owner: 'team-payments',
  lifecycle: 'production',
  labels: { app: 'checkout', tier: 'frontend' },
};

export const PatchService = z
  .strictObject({
    name: ServiceName.optional(),
    displayName: DisplayName.nullable().optional(),
    description: Description.nullable().optional(),
    owner: Owner.optional(),
    lifecycle: Lifecycle.optional(),
    labels: LabelsPatch.optional(),
  })
  .openapi('PatchService', { description: 'JSON merge patch: null clears displayName/description or removes a label. A service cannot move between environments.' });

export const Service = z
  .object({
    id: ServiceId,
    environmentId: EnvironmentId,
    name: z.string(),
    displayName: z.string().nullable(),
    description: z.string().nullable(),
    owner: z.string(),
    lifecycle: Lifecycle,
    status: ServiceStatus,
    labels: z.record(z.string(), z.string()),
    createdAt: z.string(),
    updatedAt: z.string(),
    retiredAt: z.string().nullable(),
    etag: z.string(),
  })
  .openapi('Service');

export const ServiceList = listOf(Service, 'ServiceList');

export const EnvironmentParams = TenantParams.extend({ environmentId: EnvironmentId });
export const ServiceParams = EnvironmentParams.extend({ serviceId: ServiceId });

const filters = {
  owner: Owner.optional(),
  lifecycle: Lifecycle.optional(),
  status: StatusFilter.optional(),
  namePrefix: z.string().regex(/^[a-z0-9-]{1,63}$/).optional().openapi({ description: 'Only names starting with this' }),
  labelSelector: LabelSelectorParam.optional(),
  ...createdRangeQuery,
};
export const ListServicesQuery = z.object(filters);
export const ListTenantServicesQuery = z.object({ environmentId: EnvironmentId.optional(), ...filters });

// ---- Fact sheet --------------------------------------------------------------------------------
// Each part is what the catalog asks of the service that owns it. Providers' answers are parsed
// with these schemas: unknown fields are dropped, so a provider cannot leak anything else (a secret
// value, say) through the fact sheet, and a malformed answer is reported as a failed part.

const instant = z.string().openapi({ description: 'ISO 8601' });

export const DeploymentFact = z
  .object({
    deploymentId: z.string(),
    revision: z.number().int().optional(),
    image: z.string(),
    imageDigest: z.string().nullable().optional(),
    configurationVersion: z.number().int().nullable().optional(),
    scalingPolicyVersion: z.number().int().nullable().optional(),
    status: z.string(),
    deployedAt: instant,
    deployedBy: z.string().optional(),
  })
  .openapi('DeploymentFact', { description: 'Current deployment and image (DeploymentService)' });
export const ConfigurationFact = z
  .object({
    version: z.number().int(),
    updatedAt: instant,
    publishedBy: z.string(),
    consumersOnLatest: z.number().int().openapi({ description: 'Consumers that synced the current version' }),
    consumersBehind: z.number().int().openapi({ description: 'Consumers that still run an older version' }),
    consumers: z
      .array(z.object({ consumer: z.string(), version: z.number().int(), syncedAt: instant, lastSeenAt: instant }))
      .max(50)
      .openapi({ description: 'The consumers seen most recently, with the version each runs' }),
  })
  .openapi('ConfigurationFact', { description: 'Current configuration version and who synced it (RuntimeConfigurationService)' });
export const SecretBindingsFact = z
  .object({
    bindings: z.array(z.object({ name: z.string(), keyVaultRef: z.string(), currentVersion: z.string().nullable(), lastRotatedAt: instant.nullable() })),
  })
  .openapi('SecretBindingsFact', { description: 'Secret binding versions — references only, never values (SecretBindingService)' });
export const ScalingFact = z
  .object({
    policyId: z.string(),
    version: z.number().int(),
    minReplicas: z.number().int(),
    maxReplicas: z.number().int(),
    pausedUntil: instant.nullable().openapi({ description: 'When the pause in force ends; null when none is' }),
  })
  .openapi('ScalingFact', { description: 'Scaling policy in force: version, replica bounds, pause (RuntimeScalingService)' });
export const HealthFact = z
  .object({
    status: z.string(),
    checkedAt: instant.openapi({ description: 'ISO 8601: when the newest result was observed' }),
    changedAt: instant.openapi({ description: 'ISO 8601: since when the service has had this status' }),
    message: z.string().optional(),
  })
  .openapi('HealthFact', { description: 'Latest health result and when the status last changed (RuntimeHealthService)' });
export const DriftFact = z
  .object({
    openFindings: z.number().int(),
    bySeverity: z.object({ low: z.number().int(), medium: z.number().int(), high: z.number().int(), critical: z.number().int() }),
    findings: z.array(z.object({ id: z.string(), kind: z.string(), severity: z.string(), path: z.string(), detectedAt: instant })).max(50),
  })
  .openapi('DriftFact', { description: 'Open drift findings (RuntimeDriftDetectionService)' });

/** Every part of a fact sheet, with the schema its provider's answer must satisfy. */
export const FACT_PARTS = {
  deployment: DeploymentFact,
  configuration: ConfigurationFact,
  secretBindings: SecretBindingsFact,
  scaling: ScalingFact,
  health: HealthFact,
  drift: DriftFact,
} as const;

export type FactPart = keyof typeof FACT_PARTS;
export const FactPartName = z.enum(Object.keys(FACT_PARTS) as [FactPart, ...FactPart[]]).openapi('FactPart');

export const ServiceFacts = z
  .object({
    service: Service,
    parts: z
      .object({
        deployment: DeploymentFact.nullable().optional(),
        configuration: ConfigurationFact.nullable().optional(),
        secretBindings: SecretBindingsFact.nullable().optional(),
        scaling: ScalingFact.nullable().optional(),
        health: HealthFact.nullable().optional(),
        drift: DriftFact.nullable().optional(),
      })
      .openapi({ description: 'A part is present when its owning service is wired in (null: it has nothing for this service yet), absent otherwise' }),
    available: z.array(FactPartName).openapi({ description: 'Parts whose owning service answered' }),
    missing: z.array(FactPartName).openapi({ description: 'Parts whose owning service is not part of this deployment yet' }),
    failed: z.array(z.object({ part: FactPartName, message: z.string() })).openapi({ description: 'Parts whose owning service failed to answer' }),
    asOf: instant,
  })
  .openapi('ServiceFacts');

export type ServiceDto = z.infer<typeof Service>;
export type ServiceFactsDto = z.infer<typeof ServiceFacts>;
export type FactParts = { [K in FactPart]: z.infer<(typeof FACT_PARTS)[K]> };
