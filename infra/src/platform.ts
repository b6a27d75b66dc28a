/**
 * The whole environment, composed. `createPlatform` declares every resource the app needs and
 * returns them all, so the entry point can export what the pipeline reads and the tests can see
 * every resource the program made.
 */
import * as pulumi from '@pulumi/pulumi';
import { getClientConfigOutput } from '@pulumi/azure-native/authorization/index.js';
import { ResourceGroup } from '@pulumi/azure-native/resources/index.js';
import type { DiagnosticSetting } from '@pulumi/azure-native/monitor/index.js';
import type { Registry } from '@pulumi/azure-native/containerregistry/index.js';
import type { Vault } from '@pulumi/azure-native/keyvault/index.js';
import { grantAppAccess, type AppAccess } from './access.js';
import { createAlerts, type PlatformAlerts } from './alerts.js';
import type { PlatformConfig } from './config.js';
import { createCosmos, type PlatformCosmos } from './cosmos.js';
import { createDatabase, type PlatformDatabase } from './database.js';
import { appSettings, createFunctionApp, type PlatformFunctionApp } from './function-app.js';
import { createMonitoring, sendDiagnostics, type Monitoring, type Placement } from './monitoring.js';
import { createRegistry } from './registry.js';
import { createStorage, type PlatformStorage } from './storage.js';
import { createVault } from './vault.js';

/** Every resource of one environment. */
export interface Platform {
  resourceGroup: ResourceGroup;
  monitoring: Monitoring;
  storage: PlatformStorage;
  database: PlatformDatabase;
  cosmos: PlatformCosmos;
  vault: Vault;
  registry: Registry;
  functionApp: PlatformFunctionApp;
  access: AppAccess;
  diagnostics: DiagnosticSetting[];
  alerts: PlatformAlerts;
}

/** Declares the environment described by `config`. */
export function createPlatform(config: PlatformConfig, opts: pulumi.CustomResourceOptions = {}): Platform {
  const client = getClientConfigOutput();

  const resourceGroup = new ResourceGroup(
    'rg',
    { resourceGroupName: config.resourceGroupName, location: config.location, tags: config.tags },
    opts,
  );
  const at: Placement = { resourceGroupName: resourceGroup.name, location: config.location, tags: config.tags };

  const monitoring = createMonitoring(at, config, opts);
  const storage = createStorage(at, config, opts);
  const database = createDatabase(at, config, { tenantId: client.tenantId, objectId: client.objectId }, opts);
  const cosmos = createCosmos(at, config, opts);
  const vault = createVault(at, client.tenantId, opts);
  const registry = createRegistry(at, config, opts);

  const settings = appSettings(config, {
    tenantId: client.tenantId,
    hostStorageAccountName: storage.host.name,
    dataBlobEndpoint: storage.data.primaryEndpoints.blob,
    dataQueueEndpoint: storage.data.primaryEndpoints.queue,
    artifactsContainer: storage.artifactsContainer.name,
    eventsQueue: storage.eventsQueue.name,
    postgresHost: database.server.fullyQualifiedDomainName,
    cosmosEndpoint: cosmos.account.documentEndpoint,
    keyVaultUrl: vault.properties.apply((p) => p.vaultUri ?? ''),
    appInsightsConnectionString: monitoring.appInsights.connectionString,
  });
  const deploymentContainerUrl = pulumi.interpolate`${storage.host.primaryEndpoints.blob}${storage.deploymentContainer.name}`;
  const functionApp = createFunctionApp(at, config, deploymentContainerUrl, settings, opts);

  const principalId = functionApp.app.identity.apply((i) => {
    if (!i?.principalId) throw new Error('the Function App has no system-assigned identity');
    return i.principalId;
  });
  const access = grantAppAccess(
    principalId,
    client.subscriptionId,
    [
      { key: 'host-blob-owner', role: 'storageBlobDataOwner', scope: storage.host.id },
      { key: 'host-queue-contributor', role: 'storageQueueDataContributor', scope: storage.host.id },
      { key: 'host-table-contributor', role: 'storageTableDataContributor', scope: storage.host.id },
      { key: 'artifacts-blob-contributor', role: 'storageBlobDataContributor', scope: storage.artifactsContainer.id },
      { key: 'events-queue-contributor', role: 'storageQueueDataContributor', scope: storage.eventsQueue.id },
      { key: 'vault-secrets-officer', role: 'keyVaultSecretsOfficer', scope: vault.id },
      { key: 'registry-pull', role: 'acrPull', scope: registry.id },
    ],
    cosmos,
    resourceGroup.name,
    opts,
  );

  const ws = monitoring.workspace;
  const diagnostics = [
    sendDiagnostics('host-account', storage.host.id, 'storageAccount', ws, opts),
    ...(['blob', 'queue', 'table'] as const).map((svc) =>
      sendDiagnostics(`host-${svc}`, pulumi.interpolate`${storage.host.id}/${svc}Services/default`, 'storageService', ws, opts),
    ),
    sendDiagnostics('data-account', storage.data.id, 'storageAccount', ws, opts),
    ...(['blob', 'queue'] as const).map((svc) =>
      sendDiagnostics(`data-${svc}`, pulumi.interpolate`${storage.data.id}/${svc}Services/default`, 'storageService', ws, opts),
    ),
    sendDiagnostics('postgres', database.server.id, 'postgres', ws, opts),
    sendDiagnostics('cosmos', cosmos.account.id, 'cosmos', ws, opts),
    sendDiagnostics('vault', vault.id, 'keyVault', ws, opts),
    sendDiagnostics('registry', registry.id, 'registry', ws, opts),
    sendDiagnostics('function-app', functionApp.app.id, 'functionApp', ws, opts),
  ];

  const alerts = createAlerts(at, config, monitoring.appInsights, opts);

  return { resourceGroup, monitoring, storage, database, cosmos, vault, registry, functionApp, access, diagnostics, alerts };
}
