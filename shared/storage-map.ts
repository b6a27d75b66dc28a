/**
 * The storage map, declared once. Retention timers, the infrastructure program (Blob lifecycle
 * rule, Cosmos default TTL) and the docs all read it; a test keeps the docs' table equal to it.
 * Pure data: no imports, so the Pulumi program can import it without pulling the app in.
 */

/** Owning service folder under `functions/`. */
export type OwnerService =
  | 'tenants'
  | 'environments'
  | 'catalog'
  | 'deployments'
  | 'configuration'
  | 'secrets'
  | 'scaling'
  | 'health'
  | 'drift';

export type Store =
  | 'PostgreSQL'
  | 'Azure Key Vault'
  | 'Application Insights'
  | 'Azure Blob Storage'
  | 'Cosmos DB (NoSQL API)'
  | 'Azure Container Registry';

/** One row of the storage map. `retentionDays` is absent when data lives for the tenant's lifetime. */
export interface StorageMapEntry {
  key: string;
  data: string;
  store: Store;
  owners: OwnerService[];
  /** The product's owning service names, as the design documents spell them. */
  ownerNames: string[];
  accessPattern: string;
  retention: string;
  retentionDays?: number;
  /** Inventory: days after retirement before a retired service is purged. */
  purgeRetiredAfterDays?: number;
  /** Blob: days after creation before a blob moves from the hot to the cool tier. */
  coolAfterDays?: number;
  /** Blob or Cosmos DB container that holds this data (declared by the infrastructure program). */
  container?: string;
  /** Cosmos DB: the container's partition key path. */
  partitionKey?: string;
  notes?: string;
}

const DAY = 1;

export const storageMap = {
  inventory: {
    key: 'inventory',
    data: 'Runtime environments & inventory',
    store: 'PostgreSQL',
    owners: ['environments', 'catalog'],
    ownerNames: ['RuntimeEnvironmentService', 'ServiceCatalogRuntimeService'],
    accessPattern: 'read-heavy point + range queries by environment/tenant',
    retention: 'lifetime; retired services purged 90 days after retirement',
    purgeRetiredAfterDays: 90 * DAY,
    notes: 'system of record, tenant-scoped',
  },
  deployments: {
    key: 'deployments',
    data: 'Deployment metadata & history',
    store: 'PostgreSQL',
    owners: ['deployments'],
    ownerNames: ['DeploymentService'],
    accessPattern: 'write on rollout, read for status/rollback',
    retention: '1 year',
    retentionDays: 365 * DAY,
  },
  configuration: {
    key: 'configuration',
    data: 'Runtime configuration',
    store: 'PostgreSQL',
    owners: ['configuration'],
    ownerNames: ['RuntimeConfigurationService'],
    accessPattern: 'versioned writes, read on sync',
    retention: '1 year, all versions',
    retentionDays: 365 * DAY,
  },
  secretBindings: {
    key: 'secretBindings',
    data: 'Secret bindings (metadata)',
    store: 'PostgreSQL',
    owners: ['secrets'],
    ownerNames: ['SecretBindingService'],
    accessPattern: 'low-volume CRUD',
    retention: '1 year',
    retentionDays: 365 * DAY,
  },
  secretMaterial: {
    key: 'secretMaterial',
    data: 'Secret material',
    store: 'Azure Key Vault',
    owners: ['secrets'],
    ownerNames: ['SecretBindingService'],
    accessPattern: 'resolved by managed identity at runtime',
    retention: 'per rotation policy',
  },
  scaling: {
    key: 'scaling',
    data: 'Scaling policies & history',
    store: 'PostgreSQL',
    owners: ['scaling'],
    ownerNames: ['RuntimeScalingService'],
    accessPattern: 'read on evaluation, append scaling events',
    retention: '1 year',
    retentionDays: 365 * DAY,
  },
  tenants: {
    key: 'tenants',
    data: 'Tenant bindings & quotas',
    store: 'PostgreSQL',
    owners: ['tenants'],
    ownerNames: ['TenantRuntimeIsolationService'],
    accessPattern: 'read on every tenant-scoped operation',
    retention: 'lifetime',
  },
  healthRecent: {
    key: 'healthRecent',
    data: 'Health results (recent)',
    store: 'PostgreSQL',
    owners: ['health'],
    ownerNames: ['RuntimeHealthService'],
    accessPattern: 'append + latest-by-service reads',
    retention: '30 days',
    retentionDays: 30 * DAY,
  },
  healthTelemetry: {
    key: 'healthTelemetry',
    data: 'Health telemetry (detail)',
    store: 'Application Insights',
    owners: ['health'],
    ownerNames: ['RuntimeHealthService'],
    accessPattern: 'time-series ingest + KQL query',
    retention: 'App Insights policy',
  },
  deploymentArtifacts: {
    key: 'deploymentArtifacts',
    data: 'Deployment artifacts & logs',
    store: 'Azure Blob Storage',
    owners: ['deployments'],
    ownerNames: ['DeploymentService'],
    accessPattern: 'write on rollout, read on demand',
    retention: '90 days hot, then cool tier',
    retentionDays: 365 * DAY,
    coolAfterDays: 90 * DAY,
    container: 'deployment-artifacts',
    notes: 'moved to the cool tier after 90 days by a lifecycle rule; deleted with their deployment records',
  },
  driftFindings: {
    key: 'driftFindings',
    data: 'Drift findings',
    store: 'PostgreSQL',
    owners: ['drift'],
    ownerNames: ['RuntimeDriftDetectionService'],
    accessPattern: 'append + query by environment',
    retention: 'resolved: 1 year; open: indefinite',
    retentionDays: 365 * DAY,
  },
  driftSnapshots: {
    key: 'driftSnapshots',
    data: 'Drift state snapshots',
    store: 'Cosmos DB (NoSQL API)',
    owners: ['drift'],
    ownerNames: ['RuntimeDriftDetectionService'],
    accessPattern: 'high-churn document writes/reads',
    retention: '30 days rolling (container TTL)',
    retentionDays: 30 * DAY,
    container: 'drift-snapshots',
    partitionKey: '/tenantId',
    notes: 'partitioned by tenant; expired natively by the container default TTL',
  },
  containerImages: {
    key: 'containerImages',
    data: 'Container images',
    store: 'Azure Container Registry',
    owners: ['deployments'],
    ownerNames: ['DeploymentService (consumer)'],
    accessPattern: 'pull on deploy',
    retention: "registry's policy",
  },
} as const satisfies Record<string, StorageMapEntry>;

/** Seconds, for Cosmos `defaultTtl` on the drift-snapshot container. */
export const DRIFT_SNAPSHOT_TTL_SECONDS = storageMap.driftSnapshots.retentionDays * 24 * 60 * 60;

/** Rows of the storage map in display order. */
export const storageMapRows: readonly StorageMapEntry[] = Object.values(storageMap);

/**
 * The storage map as a Markdown table, the form the README and docs embed between
 * `<!-- storage-map:start -->` and `<!-- storage-map:end -->`.
 */
export function storageMapMarkdown(): string {
  const head = '| Data | Store | Owner service | Access pattern | Retention |\n|---|---|---|---|---|';
  const rows = storageMapRows.map(
    (r) => `| ${r.data} | ${r.store} | ${r.ownerNames.join(', ')} | ${r.accessPattern} | ${r.retention} |`,
  );
  return [head, ...rows].join('\n');
}
