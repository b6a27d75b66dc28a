/** Request/response schemas of the environments service (zod). */
import { z } from '../../shared/http/openapi.js';
import { createdRangeQuery } from '../../shared/http/keyset.js';
import { LabelSelectorParam, Labels, LabelsPatch } from '../../shared/labels.js';

/** Server-generated: `env_` and 16 hex characters (64 random bits). */
export const ENVIRONMENT_ID_PATTERN = /^env_[0-9a-f]{16}$/;
/** Names are DNS labels, unique in the tenant among environments that are not retired. */
export const NAME_PATTERN = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const TENANT_ID_PATTERN = /^[a-z0-9][a-z0-9-]{1,62}$/;

/** No control characters and no bidirectional overrides (which can make text display as something else). */
const SAFE_LINE = /^[^\p{Cc}\u202A-\u202E\u2066-\u2069]*$/u;
const SAFE_TEXT = /^(?:[^\p{Cc}\u202A-\u202E\u2066-\u2069]|[\t\n\r])*$/u;

export const EnvironmentId = z.string().regex(ENVIRONMENT_ID_PATTERN).openapi({ example: 'env_3f9a1c07d2b84e65' });
export const EnvironmentName = z
  .string()
  .regex(NAME_PATTERN, { message: 'Names are 1-63 of a-z, 0-9 and -, alphanumeric at both ends' })
  .openapi({ example: 'prod-weu' });
export const EnvironmentKind = z.enum(['dev', 'test', 'staging', 'prod']).openapi('EnvironmentKind');
export const EnvironmentStatus = z.enum(['active', 'retired']).openapi('EnvironmentStatus');
/** Azure region names (`westeurope`, `eastus2`). */
export const Region = z.string().regex(/^[a-z][a-z0-9]{1,39}$/).openapi({ example: 'westeurope' });
export const DisplayName = z.string().trim().min(1).max(200).regex(SAFE_LINE, { message: 'No control or bidirectional-override characters' });
export const Description = z.string().max(2000).regex(SAFE_TEXT, { message: 'No control or bidirectional-override characters' });

const dnsish = (max: number) => new RegExp(`^[a-z0-9](?!.*--)[a-z0-9-]{1,${max - 2}}[a-z0-9]$`);
const days = z.number().int().min(0).max(36_500);

/** One store an environment expects the infrastructure program to provision. */
export const TopologyResource = z
  .discriminatedUnion('kind', [
    z.strictObject({
      kind: z.literal('postgresql'),
      /** `pooled`, or the silo the tenant's data lives in. */
      name: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/),
      schemas: z.array(z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/)).max(64).optional(),
    }),
    z.strictObject({ kind: z.literal('blobContainer'), name: z.string().regex(dnsish(63)), coolAfterDays: days.optional(), deleteAfterDays: days.optional() }),
    z.strictObject({
      kind: z.literal('cosmosContainer'),
      name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,254}$/),
      partitionKey: z.string().regex(/^(\/[A-Za-z0-9_]{1,100}){1,3}$/),
      defaultTtlSeconds: z.number().int().min(-1).max(2_147_483_647).optional(),
    }),
    z.strictObject({ kind: z.literal('storageQueue'), name: z.string().regex(dnsish(63)) }),
    z.strictObject({ kind: z.literal('keyVault'), name: z.string().regex(/^[a-zA-Z](?!.*--)[a-zA-Z0-9-]{1,22}[a-zA-Z0-9]$/) }),
  ])
  .openapi('StorageTopologyResource');

export const StorageTopology = z
  .strictObject({ resources: z.array(TopologyResource).max(100) })
  .refine((t) => new Set(t.resources.map((r) => `${r.kind}/${r.name}`)).size === t.resources.length, {
    message: 'Each (kind, name) may appear once',
    path: ['resources'],
  })
  .openapi('StorageTopology', {
    description:
      'The stores this environment expects the infrastructure program to provision; the drift worker compares it with what exists. Defaults to the storage map.',
  });

const TOPOLOGY_EXAMPLE: z.input<typeof StorageTopology> = {
  resources: [
    { kind: 'postgresql', name: 'pooled', schemas: ['environments', 'catalog'] },
    { kind: 'blobContainer', name: 'deployment-artifacts', coolAfterDays: 90, deleteAfterDays: 365 },
    { kind: 'cosmosContainer', name: 'drift-snapshots', partitionKey: '/tenantId', defaultTtlSeconds: 2_592_000 },
  ],
};

export const CreateEnvironment = z
  .strictObject({
    name: EnvironmentName,
    displayName: DisplayName.optional(),
    description: Description.optional(),
    kind: EnvironmentKind,
    region: Region,
    labels: Labels.optional(),
    storageTopology: StorageTopology.optional(),
  })
  .openapi('CreateEnvironment');

export const CREATE_EXAMPLE: z.input<typeof CreateEnvironment> = {
  name: 'prod-weu',
  displayName: 'Production (West Europe)',
  kind: 'prod',
  region: 'westeurope',
  labels: { team: 'core', 'app.example.com/tier': 'gold' },
  storageTopology: TOPOLOGY_EXAMPLE,
};

export const PatchEnvironment = z
  .strictObject({
    name: EnvironmentName.optional(),
    displayName: DisplayName.nullable().optional(),
    description: Description.nullable().optional(),
    labels: LabelsPatch.optional(),
    storageTopology: StorageTopology.optional(),
  })
  .openapi('PatchEnvironment', {
    description: 'JSON merge patch: null clears displayName/description or removes a label; storageTopology is replaced whole. Kind and region are fixed at creation.',
  });

export const Environment = z
  .object({
    id: EnvironmentId,
    name: z.string(),
    displayName: z.string().nullable(),
    description: z.string().nullable(),
    kind: EnvironmentKind,
    region: z.string(),
    status: EnvironmentStatus,
    labels: z.record(z.string(), z.string()),
    storageTopology: StorageTopology,
    createdAt: z.string(),
    updatedAt: z.string(),
    retiredAt: z.string().nullable(),
    etag: z.string(),
  })
  .openapi('Environment');

export const EnvironmentList = z.object({ value: z.array(Environment), nextLink: z.string().optional() }).openapi('EnvironmentList');

export const TenantParams = z.object({ tenantId: z.string().regex(TENANT_ID_PATTERN) });
export const EnvironmentParams = z.object({ tenantId: z.string().regex(TENANT_ID_PATTERN), environmentId: EnvironmentId });

/** Which statuses a list shows: `active` (the default), `retired`, or `all`. */
export const StatusFilter = z.enum(['active', 'retired', 'all']);

export const ListEnvironmentsQuery = z.object({
  kind: EnvironmentKind.optional(),
  region: Region.optional(),
  status: StatusFilter.optional().openapi({ description: 'active (default), retired or all' }),
  namePrefix: z.string().regex(/^[a-z0-9-]{1,63}$/).optional().openapi({ description: 'Only names starting with this' }),
  labelSelector: LabelSelectorParam.optional(),
  ...createdRangeQuery,
});

export type EnvironmentDto = z.infer<typeof Environment>;
export type StorageTopologyDto = z.infer<typeof StorageTopology>;
