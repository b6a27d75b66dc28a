/**
 * Runs the Pulumi program under Pulumi's mocks: no cloud, no CLI, no engine. Every resource the
 * program registers is recorded with its resolved inputs; provider functions answer with a fixed
 * client configuration. Mock ids are shaped like ARM ids so scopes can be asserted as strings.
 */
import * as pulumi from '@pulumi/pulumi';

export const SUBSCRIPTION = '00000000-0000-0000-0000-0000000000aa';
export const TENANT = '00000000-0000-0000-0000-0000000000bb';
export const DEPLOYER_OBJECT_ID = '00000000-0000-0000-0000-0000000000cc';
export const APP_PRINCIPAL_ID = '00000000-0000-0000-0000-0000000000dd';
export const INSTRUMENTATION_KEY = '00000000-0000-0000-0000-0000000000ee';

/** A resource as the program registered it. */
export interface Recorded {
  type: string;
  name: string;
  id: string;
  inputs: Record<string, any>;
}

/** Everything recorded during one run. */
export interface Recording {
  resources: Recorded[];
  calls: string[];
}

/** ARM path of each resource type the program uses: provider segment and the input naming it. */
const arm: Record<string, { path: string; nameKey: string; parent?: string }> = {
  'azure-native:storage:StorageAccount': { path: 'Microsoft.Storage/storageAccounts', nameKey: 'accountName' },
  'azure-native:storage:BlobContainer': { path: 'blobServices/default/containers', nameKey: 'containerName', parent: 'accountName:Microsoft.Storage/storageAccounts' },
  'azure-native:storage:Queue': { path: 'queueServices/default/queues', nameKey: 'queueName', parent: 'accountName:Microsoft.Storage/storageAccounts' },
  'azure-native:storage:ManagementPolicy': { path: 'managementPolicies', nameKey: 'managementPolicyName', parent: 'accountName:Microsoft.Storage/storageAccounts' },
  'azure-native:operationalinsights:Workspace': { path: 'Microsoft.OperationalInsights/workspaces', nameKey: 'workspaceName' },
  'azure-native:monitor:ActionGroup': { path: 'Microsoft.Insights/actionGroups', nameKey: 'actionGroupName' },
  'azure-native:monitor:ScheduledQueryRule': { path: 'Microsoft.Insights/scheduledQueryRules', nameKey: 'ruleName' },
  'azure-native:applicationinsights:Component': { path: 'Microsoft.Insights/components', nameKey: 'resourceName' },
  'azure-native:dbforpostgresql:Server': { path: 'Microsoft.DBforPostgreSQL/flexibleServers', nameKey: 'serverName' },
  'azure-native:dbforpostgresql:Database': { path: 'databases', nameKey: 'databaseName', parent: 'serverName:Microsoft.DBforPostgreSQL/flexibleServers' },
  'azure-native:dbforpostgresql:FirewallRule': { path: 'firewallRules', nameKey: 'firewallRuleName', parent: 'serverName:Microsoft.DBforPostgreSQL/flexibleServers' },
  'azure-native:dbforpostgresql:Administrator': { path: 'administrators', nameKey: 'objectId', parent: 'serverName:Microsoft.DBforPostgreSQL/flexibleServers' },
  'azure-native:cosmosdb:DatabaseAccount': { path: 'Microsoft.DocumentDB/databaseAccounts', nameKey: 'accountName' },
  'azure-native:cosmosdb:SqlResourceSqlDatabase': { path: 'sqlDatabases', nameKey: 'databaseName', parent: 'accountName:Microsoft.DocumentDB/databaseAccounts' },
  'azure-native:cosmosdb:SqlResourceSqlContainer': { path: 'containers', nameKey: 'containerName', parent: 'accountName:Microsoft.DocumentDB/databaseAccounts' },
  'azure-native:cosmosdb:SqlResourceSqlRoleAssignment': { path: 'sqlRoleAssignments', nameKey: 'roleAssignmentId', parent: 'accountName:Microsoft.DocumentDB/databaseAccounts' },
  'azure-native:cosmosdb:SqlResourceSqlRoleDefinition': { path: 'sqlRoleDefinitions', nameKey: 'roleDefinitionId', parent: 'accountName:Microsoft.DocumentDB/databaseAccounts' },
  'azure-native:keyvault:Vault': { path: 'Microsoft.KeyVault/vaults', nameKey: 'vaultName' },
  'azure-native:containerregistry:Registry': { path: 'Microsoft.ContainerRegistry/registries', nameKey: 'registryName' },
  'azure-native:web:AppServicePlan': { path: 'Microsoft.Web/serverfarms', nameKey: 'name' },
  'azure-native:web:WebApp': { path: 'Microsoft.Web/sites', nameKey: 'name' },
  'azure-native:web:WebAppApplicationSettings': { path: 'config/appsettings', nameKey: 'name', parent: 'name:Microsoft.Web/sites' },
  'azure-native:web:WebAppFtpAllowed': { path: 'basicPublishingCredentialsPolicies/ftp', nameKey: 'name', parent: 'name:Microsoft.Web/sites' },
  'azure-native:web:WebAppScmAllowed': { path: 'basicPublishingCredentialsPolicies/scm', nameKey: 'name', parent: 'name:Microsoft.Web/sites' },
};

function armId(type: string, name: string, inputs: Record<string, any>): string {
  const rg = `/subscriptions/${SUBSCRIPTION}/resourceGroups/${String(inputs['resourceGroupName'])}`;
  if (type === 'azure-native:resources:ResourceGroup') return `/subscriptions/${SUBSCRIPTION}/resourceGroups/${String(inputs['resourceGroupName'] ?? name)}`;
  if (type === 'azure-native:authorization:RoleAssignment') return `${String(inputs['scope'])}/providers/Microsoft.Authorization/roleAssignments/${name}`;
  if (type === 'azure-native:monitor:DiagnosticSetting') return `${String(inputs['resourceUri'])}/providers/Microsoft.Insights/diagnosticSettings/${String(inputs['name'] ?? name)}`;
  const spec = arm[type];
  if (!spec) throw new Error(`harness: no ARM id shape for ${type}; add it to the table`);
  if (!spec.parent) return `${rg}/providers/${spec.path}/${String(inputs[spec.nameKey] ?? name)}`;
  if (spec.path.startsWith('basicPublishingCredentialsPolicies/') || spec.path.startsWith('config/')) {
    return `${rg}/providers/Microsoft.Web/sites/${String(inputs['name'])}/${spec.path}`;
  }
  const [parentKey, parentPath] = spec.parent.split(':') as [string, string];
  const parent = `${rg}/providers/${parentPath}/${String(inputs[parentKey])}`;
  // Cosmos containers live under their database.
  if (type === 'azure-native:cosmosdb:SqlResourceSqlContainer') {
    return `${parent}/sqlDatabases/${String(inputs['databaseName'])}/containers/${String(inputs['containerName'] ?? name)}`;
  }
  return `${parent}/${spec.path}/${String(inputs[spec.nameKey] ?? name)}`;
}

/** Outputs Azure computes, for the types whose outputs the program reads. */
function computed(type: string, physical: string, inputs: Record<string, any>): Record<string, unknown> {
  switch (type) {
    case 'azure-native:storage:StorageAccount':
      return {
        primaryEndpoints: {
          blob: `https://${physical}.blob.core.windows.net/`,
          queue: `https://${physical}.queue.core.windows.net/`,
          table: `https://${physical}.table.core.windows.net/`,
        },
      };
    case 'azure-native:keyvault:Vault':
      return { properties: { ...inputs['properties'], vaultUri: `https://${physical}.vault.azure.net/` } };
    case 'azure-native:dbforpostgresql:Server':
      return { fullyQualifiedDomainName: `${physical}.postgres.database.azure.com` };
    case 'azure-native:cosmosdb:DatabaseAccount':
      return { documentEndpoint: `https://${physical}.documents.azure.com:443/` };
    case 'azure-native:applicationinsights:Component':
      return {
        connectionString: `InstrumentationKey=${INSTRUMENTATION_KEY};IngestionEndpoint=https://westeurope-5.in.applicationinsights.azure.com/;LiveEndpoint=https://westeurope.livediagnostics.monitor.azure.com/;ApplicationId=00000000-0000-0000-0000-000000000001`,
      };
    case 'azure-native:web:WebApp':
      return {
        identity: { type: 'SystemAssigned', principalId: APP_PRINCIPAL_ID, tenantId: TENANT },
        defaultHostName: `${physical}.azurewebsites.net`,
      };
    case 'azure-native:containerregistry:Registry':
      return { loginServer: `${physical}.azurecr.io` };
    default:
      return {};
  }
}

/**
 * Installs the mocks and returns the live recording. Call before creating any resource; one run
 * per test file (the mocks are process-wide).
 */
export async function installMocks(stack = 'test'): Promise<Recording> {
  const recording: Recording = { resources: [], calls: [] };
  await pulumi.runtime.setMocks(
    {
      newResource(args) {
        const inputs = args.inputs as Record<string, any>;
        const nameKey = args.type === 'azure-native:resources:ResourceGroup' ? 'resourceGroupName' : arm[args.type]?.nameKey;
        // Autonamed resources get their logical name; Azure would add a random suffix.
        const physical = String((nameKey ? inputs[nameKey] : undefined) ?? args.name);
        const id = armId(args.type, args.name, inputs);
        recording.resources.push({ type: args.type, name: args.name, id, inputs });
        return { id, state: { ...inputs, name: physical, ...computed(args.type, physical, inputs) } };
      },
      call(args) {
        recording.calls.push(args.token);
        if (args.token === 'azure-native:authorization:getClientConfig') {
          return { clientId: 'pipeline-client', objectId: DEPLOYER_OBJECT_ID, subscriptionId: SUBSCRIPTION, tenantId: TENANT };
        }
        throw new Error(`unexpected provider function ${args.token}`);
      },
    },
    'runtime-platform',
    stack,
    false,
  );
  return recording;
}

/** The value of an output, once resolved. */
export function valueOf<T>(output: pulumi.Input<T> | pulumi.Output<T>): Promise<T> {
  return new Promise((resolve) => pulumi.output(output).apply((v) => resolve(v as T)));
}

/** Every resource reachable from `root` (objects, arrays, records), each once. */
export function resourcesIn(root: unknown, out = new Set<pulumi.Resource>()): Set<pulumi.Resource> {
  if (pulumi.Resource.isInstance(root)) {
    out.add(root);
  } else if (Array.isArray(root)) {
    for (const item of root) resourcesIn(item, out);
  } else if (root !== null && typeof root === 'object' && !pulumi.Output.isInstance(root)) {
    for (const value of Object.values(root)) resourcesIn(value, out);
  }
  return out;
}

/** Waits until every resource in `root` has been registered (its URN resolved). */
export async function settled(root: unknown): Promise<number> {
  const all = [...resourcesIn(root)];
  await Promise.all(all.map((r) => valueOf(r.urn)));
  return all.length;
}
