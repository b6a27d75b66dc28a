/**
 * Azure built-in roles the platform assigns, by their fixed definition ids. Only data-plane roles
 * appear here: the Function App never gets a control-plane role (no Contributor, no Reader).
 */

/** Built-in Azure RBAC role definition ids (the same in every tenant). */
export const builtInRole = {
  /** Host storage: the Functions host and the Flex deployment package need to own their blobs. */
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b',
  /** Read, write and delete blobs in a container. */
  storageBlobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe',
  /** Send, peek, receive and delete queue messages. */
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88',
  /** Durable Functions' Azure Storage provider keeps its instance and history tables here. */
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3',
  /** Create, read, update and delete secrets (and their versions) in one vault; no keys, no certificates. */
  keyVaultSecretsOfficer: 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7',
  /** Pull images from a registry. */
  acrPull: '7f951dff-4ed4-4ae6-a6a6-07d46d1d7c3d',
} as const;

export type BuiltInRole = keyof typeof builtInRole;

/** The subscription-scoped resource id of a built-in role definition. */
export function roleDefinitionId(subscriptionId: string, role: BuiltInRole): string {
  return `/subscriptions/${subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${builtInRole[role]}`;
}

/**
 * Cosmos DB data-plane role "Cosmos DB Built-in Data Contributor": read and write items, no
 * account or database management. Cosmos data-plane roles are not Azure RBAC roles; they are
 * assigned on the account with a scope inside it (here, one database).
 */
export const COSMOS_DATA_CONTRIBUTOR_ROLE = '00000000-0000-0000-0000-000000000002';
