/**
 * What the Function App's managed identity may do: data-plane roles only, each on the narrowest
 * scope that works. This list is the whole of the app's access; the tests hold it to exactly this.
 *
 * | Role | Scope | Why |
 * |---|---|---|
 * | Storage Blob Data Owner | host account | Functions host leases and keys, Durable Functions, the Flex deployment package |
 * | Storage Queue Data Contributor | host account | Durable Functions control and work-item queues |
 * | Storage Table Data Contributor | host account | Durable Functions instance and history tables |
 * | Storage Blob Data Contributor | deployment-artifacts container | DeploymentService writes and reads artifacts |
 * | Storage Queue Data Contributor | events queue | the outbox publishes events; consumers receive them |
 * | Key Vault Secrets Officer | the vault | rotation writes new secret versions; bindings are checked |
 * | AcrPull | the registry | DeploymentService resolves images it rolls out |
 * | Cosmos DB Built-in Data Contributor (data plane) | the Cosmos database | drift snapshots |
 * | account metadata reader (data plane, custom: `readMetadata` only) | the Cosmos account | the SDK's account reads |
 *
 * PostgreSQL access is not an Azure role: the app logs in with an Entra token as its own database
 * role, created by the pipeline and granted the service roles by the migrations.
 *
 * Cosmos DB data-plane role assignments (`sqlRoleAssignments/{roleAssignmentId}`) must be named by
 * a GUID ("The GUID for the Role Assignment", Azure/azure-rest-api-specs
 * specification/cosmos-db/resource-manager/Microsoft.DocumentDB/DocumentDB/stable/2025-10-15/rbac.json).
 * azure-native does not generate one for that parameter: its auto-namer gives a GUID only to
 * parameters named `roleAssignmentName`/`roleDefinitionId` or with `format: uuid`, and would name
 * this assignment after its logical name (pulumi/pulumi-azure-native
 * provider/pkg/resources/resources.go, `AutoNamer.AutoName`). The program therefore names both
 * assignments and the custom definition with name-based GUIDs (guid.ts).
 *
 * The data role is scoped to the one database the app uses. Reading the account's own metadata
 * (the SDK's first request, for endpoint discovery) is granted separately at account scope with a
 * role holding only `Microsoft.DocumentDB/databaseAccounts/readMetadata`. Metadata reads above the
 * assignment's scope are refused (Azure/azure-cosmos-dotnet-v3#3638: a container-scoped role could
 * not read its database's metadata; #4662: a database-scoped reader failed where an account-scoped
 * one worked). Whether the JavaScript SDK's account read passes with a database-scoped role alone
 * could not be verified offline. `readMetadata` can only be granted by a Cosmos DB data-plane role,
 * not by an Azure RBAC one (MicrosoftDocs/azure-docs#120729).
 */
import * as pulumi from '@pulumi/pulumi';
import { RoleAssignment } from '@pulumi/azure-native/authorization/index.js';
import { SqlResourceSqlRoleAssignment, SqlResourceSqlRoleDefinition } from '@pulumi/azure-native/cosmosdb/index.js';
import type { PlatformCosmos } from './cosmos.js';
import { nameBasedGuid } from './guid.js';
import { cosmosRoleDefinitionId, roleDefinitionId, type AppRole } from './roles.js';

/** One Azure RBAC grant to the app. */
export interface Grant {
  key: string;
  role: AppRole;
  scope: pulumi.Input<string>;
}

/** The app's role assignments. */
export interface AppAccess {
  roleAssignments: RoleAssignment[];
  /** Cosmos DB Built-in Data Contributor on the platform database. */
  cosmosRoleAssignment: SqlResourceSqlRoleAssignment;
  /** The account-metadata-only data-plane role, and its assignment on the account. */
  cosmosMetadataRole: SqlResourceSqlRoleDefinition;
  cosmosMetadataAssignment: SqlResourceSqlRoleAssignment;
}

/** The only data action of the account-metadata role. */
export const COSMOS_READ_METADATA = 'Microsoft.DocumentDB/databaseAccounts/readMetadata';

/** Assigns each grant to the app's identity, and its Cosmos DB data-plane role. */
export function grantAppAccess(
  principalId: pulumi.Input<string>,
  subscriptionId: pulumi.Input<string>,
  grants: Grant[],
  cosmos: PlatformCosmos,
  resourceGroupName: pulumi.Input<string>,
  opts: pulumi.CustomResourceOptions,
): AppAccess {
  const roleAssignments = grants.map(
    (g) =>
      new RoleAssignment(
        `app-${g.key}`,
        {
          principalId,
          principalType: 'ServicePrincipal',
          roleDefinitionId: pulumi.output(subscriptionId).apply((sub) => roleDefinitionId(sub, g.role)),
          scope: g.scope,
        },
        opts,
      ),
  );
  const cosmosAssignment = (
    logicalName: string,
    definitionId: pulumi.Input<string>,
    scope: pulumi.Input<string>,
    o: pulumi.CustomResourceOptions,
  ) => {
    const ids = pulumi.all([cosmos.account.id, definitionId, principalId, scope]);
    return new SqlResourceSqlRoleAssignment(
      logicalName,
      {
        resourceGroupName,
        accountName: cosmos.account.name,
        roleAssignmentId: ids.apply((parts) => nameBasedGuid('cosmos-role-assignment', ...parts)),
        principalId,
        roleDefinitionId: definitionId,
        scope,
      },
      o,
    );
  };
  const cosmosRoleAssignment = cosmosAssignment(
    'app-cosmos-data',
    cosmos.account.id.apply((account) => cosmosRoleDefinitionId(account, 'dataContributor')),
    pulumi.interpolate`${cosmos.account.id}/dbs/${cosmos.database.name}`,
    opts,
  );
  const cosmosMetadataRole = new SqlResourceSqlRoleDefinition(
    'cosmos-account-metadata-reader',
    {
      resourceGroupName,
      accountName: cosmos.account.name,
      roleDefinitionId: cosmos.account.id.apply((account) => nameBasedGuid('cosmos-role-definition', account, 'account-metadata-reader')),
      roleName: 'Account metadata reader (runtime-platform)',
      type: 'CustomRole',
      assignableScopes: [cosmos.account.id],
      permissions: [{ dataActions: [COSMOS_READ_METADATA] }],
    },
    opts,
  );
  const cosmosMetadataAssignment = cosmosAssignment('app-cosmos-metadata', cosmosMetadataRole.id, cosmos.account.id, opts);
  return { roleAssignments, cosmosRoleAssignment, cosmosMetadataRole, cosmosMetadataAssignment };
}
