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
 *
 * PostgreSQL access is not an Azure role: the app logs in with an Entra token as its own database
 * role, created by the pipeline and granted the service roles by the migrations.
 */
import * as pulumi from '@pulumi/pulumi';
import { RoleAssignment } from '@pulumi/azure-native/authorization/index.js';
import { SqlResourceSqlRoleAssignment } from '@pulumi/azure-native/cosmosdb/index.js';
import type { PlatformCosmos } from './cosmos.js';
import { COSMOS_DATA_CONTRIBUTOR_ROLE, roleDefinitionId, type BuiltInRole } from './roles.js';

/** One Azure RBAC grant to the app. */
export interface Grant {
  key: string;
  role: BuiltInRole;
  scope: pulumi.Input<string>;
}

/** The app's role assignments. */
export interface AppAccess {
  roleAssignments: RoleAssignment[];
  cosmosRoleAssignment: SqlResourceSqlRoleAssignment;
}

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
  const cosmosRoleAssignment = new SqlResourceSqlRoleAssignment(
    'app-cosmos-data',
    {
      resourceGroupName,
      accountName: cosmos.account.name,
      principalId,
      roleDefinitionId: pulumi.interpolate`${cosmos.account.id}/sqlRoleDefinitions/${COSMOS_DATA_CONTRIBUTOR_ROLE}`,
      scope: pulumi.interpolate`${cosmos.account.id}/dbs/${cosmos.database.name}`,
    },
    opts,
  );
  return { roleAssignments, cosmosRoleAssignment };
}
