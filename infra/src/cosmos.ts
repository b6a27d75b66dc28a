/**
 * Cosmos DB (NoSQL API) for drift-state snapshots. Keys are disabled (`disableLocalAuth`): the app
 * reaches it with its managed identity and a data-plane role scoped to one database. The
 * container's partition key and default TTL come from the storage map.
 */
import * as pulumi from '@pulumi/pulumi';
import { DatabaseAccount, SqlResourceSqlContainer, SqlResourceSqlDatabase } from '@pulumi/azure-native/cosmosdb/index.js';
import { DRIFT_SNAPSHOT_TTL_SECONDS, storageMap } from '../../shared/storage-map.js';
import type { PlatformConfig } from './config.js';
import type { Placement } from './monitoring.js';

/** Cosmos DB resources. */
export interface PlatformCosmos {
  account: DatabaseAccount;
  database: SqlResourceSqlDatabase;
  driftSnapshots: SqlResourceSqlContainer;
}

/** Creates the account, the database and the drift-snapshot container. */
export function createCosmos(at: Placement, config: PlatformConfig, opts: pulumi.CustomResourceOptions): PlatformCosmos {
  const account = new DatabaseAccount(
    'cosmos',
    {
      resourceGroupName: at.resourceGroupName,
      location: at.location,
      tags: at.tags,
      kind: 'GlobalDocumentDB',
      databaseAccountOfferType: 'Standard',
      locations: [{ locationName: at.location, failoverPriority: 0, isZoneRedundant: false }],
      consistencyPolicy: { defaultConsistencyLevel: 'Session' },
      capabilities: config.cosmos.serverless ? [{ name: 'EnableServerless' }] : [],
      disableLocalAuth: true,
      disableKeyBasedMetadataWriteAccess: true,
      minimalTlsVersion: 'Tls12',
    },
    opts,
  );
  const database = new SqlResourceSqlDatabase(
    'cosmos-db',
    {
      resourceGroupName: at.resourceGroupName,
      accountName: account.name,
      databaseName: config.cosmos.database,
      resource: { id: config.cosmos.database },
    },
    opts,
  );
  const snapshots = storageMap.driftSnapshots;
  const driftSnapshots = new SqlResourceSqlContainer(
    'cosmos-drift-snapshots',
    {
      resourceGroupName: at.resourceGroupName,
      accountName: account.name,
      databaseName: database.name,
      containerName: snapshots.container,
      resource: {
        id: snapshots.container,
        partitionKey: { paths: [snapshots.partitionKey], kind: 'Hash', version: 2 },
        defaultTtl: DRIFT_SNAPSHOT_TTL_SECONDS,
      },
    },
    opts,
  );
  return { account, database, driftSnapshots };
}
