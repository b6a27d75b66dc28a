/** Request/response schemas of the environments service (zod). */
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
  TenantId,
  TenantParams,
} from '../../shared/http/vocabulary.js';

export { StatusFilter, TenantParams };

/** Server-generated: `env_` and 16 hex characters (see shared/ids.ts). */
export const EnvironmentId = resourceId('env', 'env_3f9a1c07d2b84e65');
/** Names are DNS labels, unique in the tenant among environments that are not retired. */
export const EnvironmentName = dnsName('prod-weu');
export const EnvironmentKind = z.enum(['dev', 'test', 'staging', 'prod']).openapi('EnvironmentKind');
export const EnvironmentStatus = LiveStatus.openapi('EnvironmentStatus');
/** Azure region names (`westeurope`, `eastus2`). */
export const Region = z.string().regex(/^[a-z][a-z0-9]{1,39}$/).openapi({ example: 'westeurope' });

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

export const EnvironmentList = listOf(Environment, 'EnvironmentList');

export const EnvironmentParams = z.object({ tenantId: TenantId, environmentId: EnvironmentId });

export const ListEnvironmentsQuery = z.object({
  kind: EnvironmentKind.optional(),
  region: Region.optional(),
  status: StatusFilter.optional(),
  namePrefix: z.string().regex(/^[a-z0-9-]{1,63}$/).optional().openapi({ description: 'Only names starting with this' }),
  labelSelector: LabelSelectorParam.optional(),
  ...createdRangeQuery,
});

export type EnvironmentDto = z.infer<typeof Environment>;
export type StorageTopologyDto = z.infer<typeof StorageTopology>;
