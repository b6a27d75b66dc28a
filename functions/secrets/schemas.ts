/** Request/response schemas of the secrets service (zod). No schema here carries a secret value. */
import { z } from '../../shared/http/openapi.js';
import { createdRangeQuery, dnsName, listOf, resourceId, TenantParams } from '../../shared/http/vocabulary.js';

export { TenantParams };

/** Server-generated: `sb_` and 16 hex characters (see shared/ids.ts). */
export const BindingId = resourceId('sb', 'sb_5d0c3b7e9a1f2468');
export const EnvironmentId = resourceId('env', 'env_3f9a1c07d2b84e65');
export const ServiceId = resourceId('svc', 'svc_8c1e5a2f90b3d476');
/** Names are DNS labels, unique in the tenant among live bindings; configurations refer to them. */
export const BindingName = dnsName('db-password');
/**
 * The secret's name within the tenant: lower-case letters, digits and `-` (Key Vault names are
 * case-insensitive, so one spelling per secret), no `--`, at most 62 characters. In the vault it
 * is stored as `<tenantId>--<secretName>`, so one tenant can never name another tenant's secret.
 */
export const SecretName = z
  .string()
  .regex(/^[a-z0-9](?!.*--)([a-z0-9-]{0,60}[a-z0-9])?$/, { message: 'Secret names are 1-62 of a-z, 0-9 and -, alphanumeric at both ends, without --' })
  .openapi({ example: 'orders-db-password' });
/** The vault's URL (`https://<vault>.vault.azure.net`): the vault this deployment's identity reaches. */
export const KeyVaultRef = z
  .string()
  .max(200)
  .regex(/^https:\/\/[A-Za-z0-9.-]{1,180}(:[0-9]{1,5})?\/?$/, { message: 'A vault URL: https://<vault>.vault.azure.net' })
  .openapi({ example: 'https://kv-contoso.vault.azure.net' });
/** A Key Vault secret version id (32 hex characters in Azure). */
export const SecretVersion = z.string().openapi({ example: '4387e9f3d6e14c459867679a90fd0f79' });

export const Consumer = z
  .strictObject({
    environmentId: EnvironmentId,
    serviceId: ServiceId.optional().openapi({ description: 'One catalog service of the environment; absent: every service of the environment' }),
  })
  .openapi('SecretBindingConsumer');

/** How a new value is produced. Random values are generated in the app and written straight to the vault. */
export const Generator = z
  .discriminatedUnion('kind', [
    z.strictObject({
      kind: z.literal('random'),
      length: z.number().int().min(16).max(4096),
      alphabet: z.enum(['alphanumeric', 'hex', 'base64url', 'printable']).openapi({ description: 'printable: ASCII 0x21-0x7E' }),
    }),
    z.strictObject({
      kind: z.literal('external'),
      provider: dnsName('test-provider').openapi({ description: 'A registered value provider (see docs/services.md)' }),
    }),
  ])
  .openapi('SecretGenerator');

export const RotationPolicy = z
  .strictObject({
    intervalDays: z.number().int().min(1).max(3650).nullable().openapi({ description: 'Days between rotations; null: on demand only' }),
    overlapHours: z.number().int().min(0).max(720).default(24).openapi({ description: 'How long the previous version stays enabled after a rotation' }),
    generator: Generator,
  })
  .openapi('SecretRotationPolicy');

const consumers = z
  .array(Consumer)
  .max(100)
  .refine((cs) => new Set(cs.map((c) => `${c.environmentId}/${c.serviceId ?? ''}`)).size === cs.length, { message: 'Each consumer may appear once' });

export const CreateBinding = z
  .strictObject({
    name: BindingName,
    keyVaultRef: KeyVaultRef.optional().openapi({ description: "Defaults to this deployment's vault, the only one it may name" }),
    secretName: SecretName,
    consumers: consumers.optional(),
    rotation: RotationPolicy,
    initialValue: z
      .enum(['existing', 'generate'])
      .optional()
      .openapi({ description: 'existing (default): bind a secret already in the vault; generate: write a new value from the generator straight to the vault (never returned)' }),
  })
  .openapi('CreateSecretBinding');

export const CREATE_EXAMPLE: z.input<typeof CreateBinding> = {
  name: 'orders-db-password',
  secretName: 'orders-db-password',
  rotation: { intervalDays: 30, overlapHours: 24, generator: { kind: 'random', length: 32, alphabet: 'alphanumeric' } },
  initialValue: 'generate',
};

export const PatchBinding = z
  .strictObject({
    consumers: consumers.optional(),
    rotation: RotationPolicy.optional(),
  })
  .openapi('PatchSecretBinding', { description: 'JSON merge patch: consumers and rotation are replaced as a whole' });

export const Binding = z
  .object({
    id: BindingId,
    name: z.string(),
    keyVaultRef: z.string(),
    secretName: z.string(),
    currentVersion: z.string().nullable(),
    previousVersion: z.string().nullable().openapi({ description: 'Kept enabled until previousDisableAt (the overlap window)' }),
    previousDisableAt: z.string().nullable(),
    consumers: z.array(Consumer),
    rotation: RotationPolicy,
    nextRotationAt: z.string().nullable(),
    lastRotatedAt: z.string().nullable(),
    createdAt: z.string(),
    updatedAt: z.string(),
    etag: z.string(),
  })
  .openapi('SecretBinding');

export const BindingList = listOf(Binding, 'SecretBindingList');

export const BindingParams = TenantParams.extend({ bindingId: BindingId });
export const ListBindingsQuery = z.object({
  namePrefix: z.string().regex(/^[a-z0-9-]{1,63}$/).optional().openapi({ description: 'Only names starting with this' }),
  environmentId: EnvironmentId.optional().openapi({ description: 'Only bindings an environment (or a service of it) consumes' }),
  ...createdRangeQuery,
});

export type BindingDto = z.infer<typeof Binding>;
export type ConsumerDto = z.infer<typeof Consumer>;
export type RotationPolicyDto = z.output<typeof RotationPolicy>;
export type GeneratorDto = z.infer<typeof Generator>;

// ---- Rotation ------------------------------------------------------------------------------------

/** `rot_` and 16 hex characters, derived from the orchestration's instance id. */
export const RotationId = resourceId('rot', 'rot_0a1b2c3d4e5f6789');
export const RotationParams = BindingParams.extend({ rotationId: RotationId });

/** One rotation, as its history row records it; also the status resource of a rotation asked for. */
export const Rotation = z
  .object({
    id: RotationId,
    bindingId: BindingId,
    trigger: z.enum(['schedule', 'manual']),
    status: z.enum(['Running', 'Succeeded', 'Failed']).openapi({ description: 'Running until the new version is current (Succeeded) or the rotation gave up (Failed)' }),
    fromVersion: z.string().nullable(),
    toVersion: z.string().nullable(),
    startedAt: z.string(),
    finishedAt: z.string().nullable(),
    error: z.object({ code: z.string() }).optional().openapi({ description: 'Why a failed rotation failed (a code; never the vault’s text)' }),
  })
  .openapi('SecretRotation');

export const RotationList = listOf(Rotation, 'SecretRotationList');

// ---- Blast radius --------------------------------------------------------------------------------

const ConfigurationReferences = z
  .discriminatedUnion('available', [
    z.object({
      available: z.literal(true),
      configurationVersions: z.array(z.object({ environmentId: z.string(), serviceId: z.string(), version: z.number().int(), latest: z.boolean() })),
      syncedAfterRotation: z.array(z.object({ consumer: z.string(), environmentId: z.string(), serviceId: z.string(), syncedVersion: z.number().int(), syncedAt: z.string() })),
      notSyncedAfterRotation: z.array(z.object({ consumer: z.string(), environmentId: z.string(), serviceId: z.string(), syncedVersion: z.number().int(), syncedAt: z.string() })),
    }),
    z.object({
      available: z.literal(false),
      reason: z.string().openapi({ description: 'Why the configuration side is not shown (the configuration service is not part of this deployment, or did not answer)' }),
    }),
  ])
  .openapi('SecretBindingConfigurationReferences');

export const BlastRadius = z
  .object({
    bindingId: BindingId,
    name: z.string(),
    currentVersion: z.string().nullable(),
    lastRotatedAt: z.string().nullable(),
    declaredConsumers: z.array(Consumer).openapi({ description: "The binding's own consumers (always known to this service)" }),
    configuration: ConfigurationReferences.openapi({
      description:
        'Configuration versions that reference the binding by name, and which consumers have (or have not) synced a configuration since the last rotation — from the configuration service; `available: false` when it cannot say',
    }),
    asOf: z.string(),
  })
  .openapi('SecretBindingBlastRadius');

export type RotationDto = z.infer<typeof Rotation>;
export type BlastRadiusDto = z.infer<typeof BlastRadius>;
