/**
 * The two storage accounts. `host` belongs to the Functions runtime (AzureWebJobsStorage, the
 * Durable Functions task hub, the Flex Consumption deployment package); `data` holds what the
 * services own: the deployment-artifact container (tiered by a lifecycle rule read from the
 * storage map) and the event queue. Keeping them apart lets the app's roles on `data` be scoped to
 * one container and one queue. Shared-key access is off on both: identities only.
 */
import * as pulumi from '@pulumi/pulumi';
import { BlobContainer, ManagementPolicy, Queue, StorageAccount } from '@pulumi/azure-native/storage/index.js';
import { storageMap } from '../../shared/storage-map.js';
import type { PlatformConfig } from './config.js';
import type { Placement } from './monitoring.js';

/** Storage resources the rest of the program refers to. */
export interface PlatformStorage {
  host: StorageAccount;
  /** Blob container the Flex Consumption host pulls the app's package from. */
  deploymentContainer: BlobContainer;
  data: StorageAccount;
  artifactsContainer: BlobContainer;
  artifactsLifecycle: ManagementPolicy;
  eventsQueue: Queue;
}

/** Name of the lifecycle rule that tiers deployment artifacts. */
export const ARTIFACTS_TIERING_RULE = 'deployment-artifacts-to-cool';

const accountDefaults = {
  kind: 'StorageV2',
  accessTier: 'Hot',
  allowBlobPublicAccess: false,
  allowSharedKeyAccess: false,
  defaultToOAuthAuthentication: true,
  enableHttpsTrafficOnly: true,
  minimumTlsVersion: 'TLS1_2',
} as const;

/** Creates both accounts, their containers, the queue and the lifecycle rule. */
export function createStorage(at: Placement, config: PlatformConfig, opts: pulumi.CustomResourceOptions): PlatformStorage {
  const common = { resourceGroupName: at.resourceGroupName, location: at.location, tags: at.tags };

  const host = new StorageAccount('rphost', { ...common, ...accountDefaults, sku: { name: config.storage.replication } }, opts);
  const deploymentContainer = new BlobContainer(
    'app-package',
    { resourceGroupName: at.resourceGroupName, accountName: host.name, containerName: 'app-package', publicAccess: 'None' },
    opts,
  );

  const data = new StorageAccount('rpdata', { ...common, ...accountDefaults, sku: { name: config.storage.replication } }, opts);
  const artifacts = storageMap.deploymentArtifacts;
  const artifactsContainer = new BlobContainer(
    'deployment-artifacts',
    { resourceGroupName: at.resourceGroupName, accountName: data.name, containerName: artifacts.container, publicAccess: 'None' },
    opts,
  );
  // Tiering is Azure's job, not ours (design: retention is declared once and done natively).
  // Artifacts are written once, so "days since modification" is "days since creation". They are
  // deleted by DeploymentService together with their deployment records, so no delete action here.
  const artifactsLifecycle = new ManagementPolicy(
    'deployment-artifacts-lifecycle',
    {
      resourceGroupName: at.resourceGroupName,
      accountName: data.name,
      managementPolicyName: 'default',
      policy: {
        rules: [
          {
            name: ARTIFACTS_TIERING_RULE,
            enabled: true,
            type: 'Lifecycle',
            definition: {
              filters: { blobTypes: ['blockBlob'], prefixMatch: [`${artifacts.container}/`] },
              actions: { baseBlob: { tierToCool: { daysAfterModificationGreaterThan: artifacts.coolAfterDays } } },
            },
          },
        ],
      },
    },
    { ...opts, dependsOn: [artifactsContainer] },
  );
  const eventsQueue = new Queue(
    'events',
    { resourceGroupName: at.resourceGroupName, accountName: data.name, queueName: config.storage.eventsQueue },
    opts,
  );

  return { host, deploymentContainer, data, artifactsContainer, artifactsLifecycle, eventsQueue };
}
