/**
 * The Pulumi program under Pulumi's mocks: what it declares, checked property by property against
 * the storage map, the app's own settings parser and the least-privilege access list.
 */
import * as pulumi from '@pulumi/pulumi';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadSettings } from '../../shared/settings.js';
import { DRIFT_SNAPSHOT_TTL_SECONDS, storageMap } from '../../shared/storage-map.js';
import { readConfig, type PlatformConfig } from '../src/config.js';
import type { Platform } from '../src/platform.js';
import { COSMOS_READ_METADATA } from '../src/access.js';
import { entraOnly, NODE_RUNTIME_VERSION } from '../src/function-app.js';
import { GUID } from '../src/guid.js';
import { builtInRoles, cosmosBuiltInRoles } from '../src/roles.js';
import {
  APP_PRINCIPAL_ID,
  DEPLOYER_OBJECT_ID,
  installMocks,
  settled,
  SUBSCRIPTION,
  TENANT,
  valueOf,
  type Recorded,
  type Recording,
} from './harness.js';

/** The API application's client id (the `aud` of Entra v2.0 tokens). */
const API_CLIENT_ID = '00000000-0000-0000-0000-0000000000ff';

let recording: Recording;
let platform: Platform;
let config: PlatformConfig;
let settings: Record<string, string>;

const of = (type: string) => recording.resources.filter((r) => r.type === `azure-native:${type}`);
const one = (type: string): Recorded => {
  const found = of(type);
  expect(found, type).toHaveLength(1);
  return found[0]!;
};
const byName = (name: string): Recorded => {
  const found = recording.resources.find((r) => r.name === name);
  if (!found) throw new Error(`no resource named ${name}`);
  return found;
};

beforeAll(async () => {
  recording = await installMocks('staging');
  pulumi.runtime.setAllConfig({
    'azure-native:location': 'westeurope',
    'runtime-platform:deployerPrincipalName': 'runtime-platform-pipeline',
    'runtime-platform:siloDatabases': JSON.stringify(['acme', 'big-corp']),
    'runtime-platform:platformAdmins': JSON.stringify(['00000000-0000-0000-0000-000000000123']),
    'runtime-platform:authClientId': API_CLIENT_ID,
  });
  config = readConfig();
  // Imported after the mocks are in place, as Pulumi's unit-testing guide asks.
  const { createPlatform } = await import('../src/platform.js');
  platform = createPlatform(config);
  const count = await settled(platform);
  // Every resource the program made is reachable from what it returns (nothing hidden).
  expect(recording.resources).toHaveLength(count);
  settings = one('web:WebAppApplicationSettings').inputs['properties'] as Record<string, string>;
});

describe('configuration', () => {
  it('defaults per stack: names, sizes and the pooled database', () => {
    expect(config.environment).toBe('staging');
    expect(config.resourceGroupName).toBe('rg-runtime-platform-staging');
    expect(config.functionApp.name).toBe('func-runtime-platform-staging');
    expect(config.postgres.database).toBe('runtime_platform');
    expect(config.postgres.silos).toEqual(['acme', 'big-corp']);
  });
});

describe('retention comes from the storage map', () => {
  it('tiers deployment artifacts to cool after the storage map’s days, in their container only', () => {
    const policy = one('storage:ManagementPolicy');
    const rules = policy.inputs['policy'].rules as any[];
    expect(rules).toHaveLength(1);
    const rule = rules[0];
    expect(rule.enabled).toBe(true);
    expect(rule.definition.actions.baseBlob.tierToCool.daysAfterModificationGreaterThan).toBe(
      storageMap.deploymentArtifacts.coolAfterDays,
    );
    expect(storageMap.deploymentArtifacts.coolAfterDays).toBe(90);
    // Deletion happens with the deployment records, not by age.
    expect(rule.definition.actions.baseBlob.delete).toBeUndefined();
    expect(rule.definition.filters.prefixMatch).toEqual([`${storageMap.deploymentArtifacts.container}/`]);
    expect(policy.inputs['accountName']).toBe(byName('rpdata').inputs['name'] ?? 'rpdata');
  });

  it('expires drift snapshots with the container default TTL, partitioned by tenant', () => {
    const container = one('cosmosdb:SqlResourceSqlContainer');
    expect(container.inputs['resource'].id).toBe('drift-snapshots');
    expect(container.inputs['resource'].defaultTtl).toBe(DRIFT_SNAPSHOT_TTL_SECONDS);
    expect(DRIFT_SNAPSHOT_TTL_SECONDS).toBe(storageMap.driftSnapshots.retentionDays * 86_400);
    expect(container.inputs['resource'].partitionKey).toEqual({ paths: ['/tenantId'], kind: 'Hash', version: 2 });
  });

  it('declares the artifacts container and events queue the app is told about', () => {
    expect(byName('deployment-artifacts').inputs['containerName']).toBe(settings['ARTIFACTS_CONTAINER']);
    expect(byName('events').inputs['queueName']).toBe(settings['EVENTS_QUEUE']);
  });
});

describe('app settings hold no secret', () => {
  const secretValue = /AccountKey=|SharedAccessKey|SharedAccessSignature|[?&]sig=|Password=|password=|\bpwd=|ClientSecret|-----BEGIN/i;
  const secretName = /(KEY|SECRET|PASSWORD|PWD|TOKEN|SAS)$/i;

  it('no value carries a key, password or SAS; no name is a key or password setting', () => {
    for (const [name, value] of Object.entries(settings)) {
      expect(value, name).not.toMatch(secretValue);
      expect(name, name).not.toMatch(secretName);
    }
    for (const name of ['COSMOS_KEY', 'STORAGE_CONNECTION_STRING', 'SQL_CONNECTION_STRING', 'AzureWebJobsStorage', 'AUTH_DEV_KEY_FILE']) {
      expect(settings, name).not.toHaveProperty(name);
    }
  });

  it('the only connection string is Application Insights’, and it holds identifiers and endpoints only', () => {
    const connectionStrings = Object.keys(settings).filter((n) => /CONNECTION_?STRING/i.test(n));
    expect(connectionStrings).toEqual(['APPLICATIONINSIGHTS_CONNECTION_STRING']);
    const parts = settings['APPLICATIONINSIGHTS_CONNECTION_STRING']!.split(';').map((p) => p.split('=')[0]);
    expect(new Set(parts)).toEqual(new Set(['InstrumentationKey', 'IngestionEndpoint', 'LiveEndpoint', 'ApplicationId']));
  });

  it('host storage is identity-based', () => {
    expect(settings['AzureWebJobsStorage__accountName']).toBe('rphost');
    const fac = one('web:WebApp').inputs['functionAppConfig'];
    expect(fac.deployment.storage.authentication).toEqual({ type: 'SystemAssignedIdentity' });
  });

  it('the program never reads a key, a SAS or publishing credentials from Azure', () => {
    expect(recording.calls.filter((c) => /list.*(Keys|SAS|Credentials|Secrets|ConnectionStrings)/i.test(c))).toEqual([]);
  });

  it('parse with the app’s own settings module as an Azure deployment using Entra ID everywhere', () => {
    const parsed = loadSettings({ ...settings, WEBSITE_SITE_NAME: config.functionApp.name });
    expect(parsed.inAzure).toBe(true);
    expect(parsed.auth).toMatchObject({
      mode: 'entra',
      issuer: `https://login.microsoftonline.com/${TENANT}/v2.0`,
      jwksUri: `https://login.microsoftonline.com/${TENANT}/discovery/v2.0/keys`,
      audience: 'api://runtime-platform',
      audiences: ['api://runtime-platform', API_CLIENT_ID],
      platformAdmins: ['00000000-0000-0000-0000-000000000123'],
    });
    expect(parsed.sql.pooled).toEqual({
      kind: 'entra',
      host: 'postgres.postgres.database.azure.com',
      port: 5432,
      database: 'runtime_platform',
      user: 'func-runtime-platform-staging',
      ssl: true,
    });
    expect(parsed.sql.silos).toEqual({
      acme: { kind: 'entra', host: 'postgres.postgres.database.azure.com', port: 5432, database: 'silo_acme', user: 'func-runtime-platform-staging', ssl: true },
      'big-corp': { kind: 'entra', host: 'postgres.postgres.database.azure.com', port: 5432, database: 'silo_big_corp', user: 'func-runtime-platform-staging', ssl: true },
    });
    expect(parsed.storage).toMatchObject({
      connectionString: undefined,
      blobUrl: 'https://rpdata.blob.core.windows.net/',
      queueUrl: 'https://rpdata.queue.core.windows.net/',
    });
    expect(parsed.cosmos).toEqual({ endpoint: 'https://cosmos.documents.azure.com:443/', key: undefined, database: 'runtime-platform' });
    expect(parsed.keyVault.url).toBe('https://rpkv.vault.azure.net/');
    expect(parsed.durableTaskHub).toMatch(/^[A-Za-z][A-Za-z0-9]{2,44}$/);
  });

  it('never enable the local dev issuer, and the program refuses settings that would', () => {
    expect(settings['AUTH_MODE']).toBe('entra');
    expect(Object.keys(settings).filter((k) => k.startsWith('AUTH_DEV_'))).toEqual([]);
    expect(() => entraOnly({ ...settings, AUTH_DEV_ALLOW: 'local' })).toThrow(/AUTH_DEV_ALLOW/);
    expect(() => entraOnly({ ...settings, AUTH_MODE: 'dev' })).toThrow(/AUTH_MODE/);
    // Even an opt-in added by hand is refused by the app on the Azure host.
    expect(() => loadSettings({ ...settings, AUTH_MODE: 'dev', AUTH_DEV_ALLOW: 'local', WEBSITE_SITE_NAME: config.functionApp.name })).toThrow(
      /never accepted when running in Azure/,
    );
  });
});

describe('stores', () => {
  it('Key Vault: RBAC authorization, soft delete and purge protection', () => {
    const p = one('keyvault:Vault').inputs['properties'];
    expect(p.enableRbacAuthorization).toBe(true);
    expect(p.enableSoftDelete).toBe(true);
    expect(p.softDeleteRetentionInDays).toBe(90);
    expect(p.enablePurgeProtection).toBe(true);
    expect(p.accessPolicies ?? []).toEqual([]);
    expect(p.tenantId).toBe(TENANT);
  });

  it('storage accounts: no shared keys, no public blobs, TLS 1.2', () => {
    const accounts = of('storage:StorageAccount');
    expect(accounts.map((a) => a.name).sort()).toEqual(['rpdata', 'rphost']);
    for (const a of accounts) {
      expect(a.inputs).toMatchObject({ allowSharedKeyAccess: false, allowBlobPublicAccess: false, minimumTlsVersion: 'TLS1_2' });
    }
  });

  it('PostgreSQL: Entra authentication only, the deployer as administrator, pooled and siloed databases', () => {
    const server = one('dbforpostgresql:Server');
    expect(server.inputs['authConfig']).toEqual({ activeDirectoryAuth: 'Enabled', passwordAuth: 'Disabled', tenantId: TENANT });
    expect(server.inputs['administratorLoginPassword']).toBeUndefined();
    expect(of('dbforpostgresql:Administrator').map((a) => a.inputs)).toEqual([
      expect.objectContaining({ objectId: DEPLOYER_OBJECT_ID, principalName: 'runtime-platform-pipeline', principalType: 'ServicePrincipal' }),
    ]);
    expect(of('dbforpostgresql:Database').map((d) => d.inputs['databaseName']).sort()).toEqual([
      'runtime_platform',
      'silo_acme',
      'silo_big_corp',
    ]);
  });

  it('Cosmos DB: keys disabled, database from settings', () => {
    expect(one('cosmosdb:DatabaseAccount').inputs['disableLocalAuth']).toBe(true);
    expect(one('cosmosdb:SqlResourceSqlDatabase').inputs['resource']).toEqual({ id: settings['COSMOS_DATABASE'] });
  });

  it('Container Registry: no admin user, no anonymous pull', () => {
    expect(one('containerregistry:Registry').inputs).toMatchObject({ adminUserEnabled: false, anonymousPullEnabled: false });
  });

  it('Function App: Flex Consumption, Node 22, system-assigned identity, no basic-auth publishing', () => {
    expect(one('web:AppServicePlan').inputs['sku']).toEqual({ name: 'FC1', tier: 'FlexConsumption' });
    const app = one('web:WebApp').inputs;
    expect(app['identity']).toEqual({ type: 'SystemAssigned' });
    expect(NODE_RUNTIME_VERSION).toBe('22');
    expect(app['functionAppConfig'].runtime).toEqual({ name: 'node', version: '22' });
    expect(app['httpsOnly']).toBe(true);
    // Flex Consumption takes the runtime from functionAppConfig; these settings are rejected there.
    expect(settings).not.toHaveProperty('FUNCTIONS_WORKER_RUNTIME');
    expect(settings).not.toHaveProperty('FUNCTIONS_EXTENSION_VERSION');
    expect(of('web:WebAppFtpAllowed').map((r) => r.inputs['allow'])).toEqual([false]);
    expect(of('web:WebAppScmAllowed').map((r) => r.inputs['allow'])).toEqual([false]);
  });

  it('Function App: no siteConfig at all (the SDK would add netFrameworkVersion, which Flex rejects); settings in their own resource', () => {
    const app = one('web:WebApp');
    // As registered with the engine, after the SDK's own defaults: nothing under siteConfig.
    expect(app.inputs).not.toHaveProperty('siteConfig');
    expect(JSON.stringify(app.inputs)).not.toMatch(/netFrameworkVersion|ftpsState|use32BitWorkerProcess|functionsRuntimeScaleMonitoringEnabled/i);
    const appSettings = one('web:WebAppApplicationSettings');
    expect(appSettings.inputs['name']).toBe(app.inputs['name']);
    expect(appSettings.inputs['resourceGroupName']).toBe(app.inputs['resourceGroupName']);
    expect(appSettings.id).toBe(`${app.id}/config/appsettings`);
    expect(Object.keys(settings).sort()).toEqual(Object.keys(platform.functionApp.settings).sort());
  });
});

describe('diagnostics', () => {
  it('every data store sends its logs and metrics to the Log Analytics workspace', () => {
    const workspace = one('operationalinsights:Workspace');
    const diagnostics = of('monitor:DiagnosticSetting');
    for (const d of diagnostics) expect(d.inputs['workspaceId'], d.name).toBe(workspace.id);

    const stores = [
      ...of('storage:StorageAccount'),
      one('dbforpostgresql:Server'),
      one('cosmosdb:DatabaseAccount'),
      one('keyvault:Vault'),
      one('containerregistry:Registry'),
    ];
    for (const store of stores) {
      const mine = diagnostics.filter((d) => d.inputs['resourceUri'] === store.id || String(d.inputs['resourceUri']).startsWith(`${store.id}/`));
      expect(mine.length, `${store.name} has no diagnostic setting`).toBeGreaterThan(0);
      expect(mine.some((d) => (d.inputs['metrics'] ?? []).length > 0), `${store.name} sends no metrics`).toBe(true);
      if (!store.type.endsWith('StorageAccount')) {
        expect(mine.some((d) => (d.inputs['logs'] ?? []).some((l: any) => l.categoryGroup === 'allLogs')), `${store.name} sends no logs`).toBe(true);
      }
    }
    // Storage logs come from each service the app uses.
    const host = byName('rphost').id;
    const data = byName('rpdata').id;
    const serviceLogs = diagnostics.filter((d) => (d.inputs['logs'] ?? []).length > 0).map((d) => d.inputs['resourceUri']);
    expect(serviceLogs).toEqual(
      expect.arrayContaining([
        `${host}/blobServices/default`,
        `${host}/queueServices/default`,
        `${host}/tableServices/default`,
        `${data}/blobServices/default`,
        `${data}/queueServices/default`,
      ]),
    );
  });
});

describe('access: least privilege', () => {
  const role = (guid: string) => `/subscriptions/${SUBSCRIPTION}/providers/Microsoft.Authorization/roleDefinitions/${guid}`;

  it('the app holds exactly these Azure roles, each on the narrowest scope', () => {
    const host = byName('rphost').id;
    const artifacts = byName('deployment-artifacts').id;
    const queue = byName('events').id;
    const vault = one('keyvault:Vault').id;
    const registry = one('containerregistry:Registry').id;
    const assignments = of('authorization:RoleAssignment').map((r) => ({
      principalId: r.inputs['principalId'],
      principalType: r.inputs['principalType'],
      role: r.inputs['roleDefinitionId'],
      scope: r.inputs['scope'],
    }));
    const expected = [
      { role: builtInRoles.storageBlobDataOwner.id, scope: host },
      { role: builtInRoles.storageQueueDataContributor.id, scope: host },
      { role: builtInRoles.storageTableDataContributor.id, scope: host },
      { role: builtInRoles.storageBlobDataContributor.id, scope: artifacts },
      { role: builtInRoles.storageQueueDataContributor.id, scope: queue },
      { role: builtInRoles.keyVaultSecretsOfficer.id, scope: vault },
      { role: builtInRoles.acrPull.id, scope: registry },
    ].map((e) => ({ principalId: APP_PRINCIPAL_ID, principalType: 'ServicePrincipal', role: role(e.role), scope: e.scope }));
    expect(assignments).toHaveLength(expected.length);
    expect(assignments).toEqual(expect.arrayContaining(expected));
    // AcrPull is the published built-in role, not the id the program used to carry.
    expect(builtInRoles.acrPull.id).toBe('7f951dda-4ed3-4680-a7ca-43fe172d538d');
    // Scopes are resources inside the environment's resource group, never the group or subscription.
    const rg = one('resources:ResourceGroup').id;
    for (const a of assignments) expect(String(a.scope).startsWith(`${rg}/providers/`), String(a.scope)).toBe(true);
    expect(artifacts).toMatch(/\/blobServices\/default\/containers\/deployment-artifacts$/);
    expect(queue).toMatch(/\/queueServices\/default\/queues\/runtime-events$/);
  });

  it('every role definition the program assigns is a role of the checked table', () => {
    const known = new Set(Object.values(builtInRoles).map((r) => role(r.id)));
    for (const r of of('authorization:RoleAssignment')) expect(known.has(r.inputs['roleDefinitionId']), r.name).toBe(true);
  });

  it('the Key Vault role lets the app set secrets only in its own vault', () => {
    const kv = of('authorization:RoleAssignment').filter((r) => String(r.inputs['roleDefinitionId']).endsWith(builtInRoles.keyVaultSecretsOfficer.id));
    expect(kv.map((r) => r.inputs['scope'])).toEqual([one('keyvault:Vault').id]);
  });

  it('Cosmos DB: the built-in data contributor role (account-scoped definition) on the platform database only', () => {
    const account = one('cosmosdb:DatabaseAccount').id;
    const assignment = byName('app-cosmos-data').inputs;
    expect(assignment['principalId']).toBe(APP_PRINCIPAL_ID);
    // Built-in Cosmos data-plane roles live in every account: `<account>/sqlRoleDefinitions/<id>`.
    expect(assignment['roleDefinitionId']).toBe(`${account}/sqlRoleDefinitions/${cosmosBuiltInRoles.dataContributor.id}`);
    expect(cosmosBuiltInRoles.dataContributor.id).toBe('00000000-0000-0000-0000-000000000002');
    expect(assignment['scope']).toBe(`${account}/dbs/runtime-platform`);
  });

  it('Cosmos DB: account metadata through a readMetadata-only role on the account, nothing more', () => {
    const account = one('cosmosdb:DatabaseAccount').id;
    const definition = one('cosmosdb:SqlResourceSqlRoleDefinition');
    expect(definition.inputs).toMatchObject({
      type: 'CustomRole',
      assignableScopes: [account],
      permissions: [{ dataActions: [COSMOS_READ_METADATA] }],
    });
    expect(COSMOS_READ_METADATA).toBe('Microsoft.DocumentDB/databaseAccounts/readMetadata');
    const assignment = byName('app-cosmos-metadata').inputs;
    expect(assignment).toMatchObject({ principalId: APP_PRINCIPAL_ID, roleDefinitionId: definition.id, scope: account });
    expect(of('cosmosdb:SqlResourceSqlRoleAssignment')).toHaveLength(2);
  });

  it('Cosmos DB: role assignments and the custom definition are named by GUIDs, stable across runs', async () => {
    const names = [
      ...of('cosmosdb:SqlResourceSqlRoleAssignment').map((r) => r.inputs['roleAssignmentId']),
      one('cosmosdb:SqlResourceSqlRoleDefinition').inputs['roleDefinitionId'],
    ];
    for (const n of names) expect(n).toMatch(GUID);
    expect(new Set(names).size).toBe(names.length);
    // Same inputs, same name: what `pulumi up` computes is what the next run computes.
    const { nameBasedGuid } = await import('../src/guid.js');
    expect(nameBasedGuid('a', 'b')).toBe(nameBasedGuid('a', 'b'));
    expect(nameBasedGuid('a', 'b')).not.toBe(nameBasedGuid('a', 'c'));
  });

  it('the app is never a PostgreSQL administrator', () => {
    for (const admin of of('dbforpostgresql:Administrator')) expect(admin.inputs['objectId']).not.toBe(APP_PRINCIPAL_ID);
  });
});

describe('outputs the pipeline reads', () => {
  it('SQL_SILOS names the siloed databases on the server', async () => {
    expect(JSON.parse(await valueOf(platform.functionApp.settings['SQL_SILOS']!))).toEqual({
      acme: { host: 'postgres.postgres.database.azure.com', database: 'silo_acme' },
      'big-corp': { host: 'postgres.postgres.database.azure.com', database: 'silo_big_corp' },
    });
  });
});
