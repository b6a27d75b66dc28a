/** Request/response schemas of the deployments service (zod). */
import { z } from '../../shared/http/openapi.js';
import { createdRangeQuery, Description, listOf, resourceId, TenantParams } from '../../shared/http/vocabulary.js';

export { TenantParams };

/** Server-generated: `dep_` and 16 hex characters (see shared/ids.ts). */
export const DeploymentId = resourceId('dep', 'dep_5b2e9c10a4f36d87');
export const EnvironmentId = resourceId('env', 'env_3f9a1c07d2b84e65');
export const ServiceId = resourceId('svc', 'svc_8c1e5a2f90b3d476');

export const STATUSES = ['pending', 'in_progress', 'succeeded', 'failed', 'cancelled', 'rolling_back', 'rolled_back'] as const;
export const DeploymentStatus = z.enum(STATUSES).openapi('DeploymentStatus');

/**
 * `registry/repository@sha256:<64 hex>` (immutable), or `registry/repository:tag` (mutable: refused
 * in `prod` environments unless the registry resolves it to a digest). The registry is a host name
 * with a dot or a port, or `localhost`; repository path components are lowercase, as OCI requires.
 */
export const IMAGE_PATTERN =
  /^((?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*(?::[0-9]{1,5})?)\/([a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)(?::([A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?(?:@(sha256:[a-f0-9]{64}))?$/;
export const Image = z
  .string()
  .max(512)
  .regex(IMAGE_PATTERN, { message: 'An image is registry/repository@sha256:<64 hex> or registry/repository:tag' })
  .refine((s) => IMAGE_PATTERN.exec(s)?.[3] !== undefined || IMAGE_PATTERN.exec(s)?.[4] !== undefined, { message: 'The image names neither a digest nor a tag' })
  .refine((s) => (IMAGE_PATTERN.exec(s)?.[1] ?? '').includes('.') || (IMAGE_PATTERN.exec(s)?.[1] ?? '').includes(':') || IMAGE_PATTERN.exec(s)?.[1] === 'localhost', {
    message: 'The image must name its registry (a host with a dot or a port, or localhost)',
  })
  .openapi({ example: 'contoso.azurecr.io/checkout-api@sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae' });

/** Why a change was made; free text, shown in the history. */
export const Reason = Description.max(500);

export const CreateDeployment = z
  .strictObject({
    serviceId: ServiceId,
    image: Image,
    reason: Reason.optional(),
  })
  .openapi('CreateDeployment');

export const CREATE_EXAMPLE: z.input<typeof CreateDeployment> = {
  serviceId: 'svc_8c1e5a2f90b3d476',
  image: 'contoso.azurecr.io/checkout-api@sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae',
  reason: 'Release 1.4.2',
};

/** The statuses a client may move a deployment to; rolling back is its own route. */
export const TransitionTarget = z.enum(['in_progress', 'succeeded', 'failed', 'cancelled']).openapi('DeploymentTransitionTarget');
export const Transition = z.strictObject({ to: TransitionTarget, reason: Reason.optional() }).openapi('DeploymentTransitionRequest');

export const Rollback = z
  .strictObject({
    targetDeploymentId: DeploymentId.optional().openapi({ description: 'A succeeded deployment of the same service and environment; default: the one before this' }),
    reason: Reason.optional(),
  })
  .openapi('RollbackRequest');

const instant = z.string().openapi({ description: 'ISO 8601' });

export const TransitionRecord = z
  .object({ from: z.enum(STATUSES).nullable().openapi({ description: 'null for the creation' }), to: DeploymentStatus, at: instant, by: z.string(), reason: z.string().nullable() })
  .openapi('DeploymentTransition');

export const StepStatus = z.enum(['running', 'succeeded', 'failed']).openapi('DeploymentStepStatus');
export const Step = z.object({ name: z.string(), status: StepStatus, message: z.string().nullable(), startedAt: instant, updatedAt: instant }).openapi('DeploymentStep');

export const Deployment = z
  .object({
    id: DeploymentId,
    environmentId: EnvironmentId,
    serviceId: ServiceId,
    revision: z.number().int().openapi({ description: 'Per service and environment: 1, 2, 3 …' }),
    kind: z.enum(['rollout', 'rollback']),
    image: z.string(),
    imageDigest: z.string().nullable().openapi({ description: 'sha256:…; null when a mutable tag was not resolved (not allowed in prod)' }),
    configurationVersion: z.number().int().nullable(),
    scalingPolicy: z.object({ policyId: z.string(), version: z.number().int() }).nullable(),
    secretVersions: z.record(z.string(), z.string()).openapi({ description: 'Secret binding name → Key Vault version (references, never values)' }),
    status: DeploymentStatus,
    rollbackOf: DeploymentId.nullable().openapi({ description: 'For a rollback: the deployment it rolls back' }),
    restores: DeploymentId.nullable().openapi({ description: 'For a rollback: the deployment whose state it restores' }),
    createdBy: z.string(),
    createdAt: instant,
    updatedAt: instant,
    startedAt: instant.nullable(),
    finishedAt: instant.nullable(),
    finishedBy: z.string().nullable(),
  })
  .openapi('Deployment');

export const DeploymentDetail = Deployment.extend({ transitions: z.array(TransitionRecord), steps: z.array(Step) }).openapi('DeploymentDetail');
export const DeploymentList = listOf(Deployment, 'DeploymentList');

export const RollbackTarget = z
  .object({
    deploymentId: DeploymentId,
    revision: z.number().int(),
    image: z.string(),
    imageDigest: z.string().nullable(),
    configurationVersion: z.number().int().nullable(),
    scalingPolicy: z.object({ policyId: z.string(), version: z.number().int() }).nullable(),
    secretVersions: z.record(z.string(), z.string()),
    succeededAt: instant,
    by: z.string(),
    current: z.boolean().openapi({ description: 'The deployment running now (not a target of its own rollback)' }),
  })
  .openapi('RollbackTarget');
export const RollbackTargetList = listOf(RollbackTarget, 'RollbackTargetList');

export const EnvironmentParams = TenantParams.extend({ environmentId: EnvironmentId });
export const DeploymentParams = EnvironmentParams.extend({ deploymentId: DeploymentId });
export const ServiceParams = EnvironmentParams.extend({ serviceId: ServiceId });

export const ListDeploymentsQuery = z.object({
  serviceId: ServiceId.optional(),
  status: z
    .string()
    .regex(new RegExp(`^(all|(${STATUSES.join('|')})(,(${STATUSES.join('|')})){0,6})$`))
    .optional()
    .openapi({ description: 'One status or several, comma-separated; all (the default) for every status' }),
  ...createdRangeQuery,
});

// ---- Steps and artifacts -----------------------------------------------------------------------

/** Step and artifact names: 1-100 of a-z, 0-9, `.`, `_`, `-`, starting alphanumeric (no path separators). */
export const ArtifactName = z.string().regex(/^[a-z0-9][a-z0-9._-]{0,99}$/).openapi({ example: 'manifest.yaml' });
export const StepName = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/).openapi({ example: 'apply' });
export const ArtifactParams = DeploymentParams.extend({ artifactName: ArtifactName });
export const StepParams = DeploymentParams.extend({ step: StepName });

/** Media types an artifact or log may be uploaded (and is downloaded) as. */
export const ARTIFACT_MEDIA = ['application/octet-stream', 'text/plain', 'application/json', 'application/yaml', 'application/gzip'] as const;

export const UploadArtifactQuery = z.object({ kind: z.enum(['manifest', 'other']).optional().openapi({ description: 'Default other' }) });
export const StepLogQuery = z.object({
  status: StepStatus.optional().openapi({ description: "The step's status after this write (default: running for an append, succeeded for a whole log)" }),
});

export const Artifact = z
  .object({
    name: z.string(),
    kind: z.enum(['log', 'manifest', 'other']),
    step: z.string().nullable(),
    contentType: z.string(),
    bytes: z.number().int(),
    createdAt: instant,
    updatedAt: instant,
    etag: z.string().openapi({ description: 'Changes with every write; PUT honours If-Match and If-None-Match' }),
  })
  .openapi('DeploymentArtifact');
export const ArtifactList = listOf(Artifact, 'DeploymentArtifactList');
export const ArtifactLink = z.object({ url: z.string(), expiresOn: instant }).openapi('DeploymentArtifactLink', {
  description: 'A read-only, short-lived URL of the blob (a user-delegation SAS in Azure)',
});
export const StepLogWritten = z.object({ step: Step, artifact: Artifact }).openapi('DeploymentStepLog');

export type DeploymentDto = z.infer<typeof Deployment>;
export type ArtifactDto = z.infer<typeof Artifact>;
