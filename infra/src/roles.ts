/**
 * Every role id the platform uses, in one table. Role ids are fixed by Microsoft and the same in
 * every tenant; a wrong one is only noticed by `pulumi up` (ARM answers "role definition does not
 * exist"), so `infra/test/roles.test.ts` checks each entry, name and id, against extracts of the
 * published lists kept in `infra/test/data/`:
 *
 * - Azure built-in roles: https://learn.microsoft.com/azure/role-based-access-control/built-in-roles
 *   (MicrosoftDocs/azure-docs, articles/role-based-access-control/built-in-roles.md).
 * - Cosmos DB data plane built-in roles:
 *   https://learn.microsoft.com/azure/cosmos-db/nosql/security/reference-data-plane-roles
 *   (MicrosoftDocs/azure-databases-docs, articles/cosmos-db/nosql/security/reference-data-plane-roles.md).
 */

/** A built-in role: the name Microsoft publishes it under, and its definition id. */
export interface RoleRef {
  name: string;
  id: string;
}

/** Azure RBAC built-in roles (the same definition ids in every tenant). */
export const builtInRoles = {
  // The Function App's identity: data-plane roles only (see access.ts).
  /** Host storage: the Functions host and the Flex deployment package need to own their blobs. */
  storageBlobDataOwner: { name: 'Storage Blob Data Owner', id: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b' },
  /** Read, write and delete blobs in a container. */
  storageBlobDataContributor: { name: 'Storage Blob Data Contributor', id: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe' },
  /** Send, peek, receive and delete queue messages. */
  storageQueueDataContributor: { name: 'Storage Queue Data Contributor', id: '974c5e8b-45b9-4653-ba55-5f855dd0fb88' },
  /** Durable Functions' Azure Storage provider keeps its instance and history tables here. */
  storageTableDataContributor: { name: 'Storage Table Data Contributor', id: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3' },
  /** Create, read, update and delete secrets (and their versions) in one vault; no keys, no certificates. */
  keyVaultSecretsOfficer: { name: 'Key Vault Secrets Officer', id: 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7' },
  /** Pull images from a registry. (Was `7f951dff-…`, which is no role: `pulumi up` failed on it.) */
  acrPull: { name: 'AcrPull', id: '7f951dda-4ed3-4680-a7ca-43fe172d538d' },

  // The pipeline identity and the Pulumi state: granted by hand at bootstrap
  // (docs/infrastructure.md), listed here so the ids the docs give are checked too.
  contributor: { name: 'Contributor', id: 'b24988ac-6180-42a0-ab88-20f7382dd24c' },
  roleBasedAccessControlAdministrator: { name: 'Role Based Access Control Administrator', id: 'f58310d9-a9f6-439a-9e8d-f62e7b41a168' },
  keyVaultCryptoUser: { name: 'Key Vault Crypto User', id: '12338af0-0e69-4776-bea7-57ae8d297424' },
} as const satisfies Record<string, RoleRef>;

export type BuiltInRole = keyof typeof builtInRoles;

/** The Azure roles the Function App's identity may be given: data-plane roles, nothing else. */
export const APP_ROLES = [
  'storageBlobDataOwner',
  'storageBlobDataContributor',
  'storageQueueDataContributor',
  'storageTableDataContributor',
  'keyVaultSecretsOfficer',
  'acrPull',
] as const satisfies readonly BuiltInRole[];

export type AppRole = (typeof APP_ROLES)[number];

/** The subscription-scoped resource id of a built-in role definition. */
export function roleDefinitionId(subscriptionId: string, role: BuiltInRole): string {
  return `/subscriptions/${subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${builtInRoles[role].id}`;
}

/**
 * Cosmos DB for NoSQL data-plane built-in roles. They are not Azure RBAC roles: each exists inside
 * every database account, so the definition id to assign is
 * `<account id>/sqlRoleDefinitions/<id>` (account-scoped), and the assignment's `scope` is the
 * account, a database (`<account id>/dbs/<db>`) or a container inside it.
 */
export const cosmosBuiltInRoles = {
  dataReader: { name: 'Cosmos DB Built-in Data Reader', id: '00000000-0000-0000-0000-000000000001' },
  /** Read and write items and run queries; no account or database management. */
  dataContributor: { name: 'Cosmos DB Built-in Data Contributor', id: '00000000-0000-0000-0000-000000000002' },
} as const satisfies Record<string, RoleRef>;

export type CosmosBuiltInRole = keyof typeof cosmosBuiltInRoles;

/** The account-scoped id of a Cosmos DB data-plane built-in role definition. */
export function cosmosRoleDefinitionId(accountId: string, role: CosmosBuiltInRole): string {
  return `${accountId}/sqlRoleDefinitions/${cosmosBuiltInRoles[role].id}`;
}
