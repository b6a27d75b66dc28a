/**
 * Key Vault for secret material. RBAC authorization (no access policies), soft delete and purge
 * protection: a deleted secret can be recovered for 90 days and nobody can purge it early.
 */
import * as pulumi from '@pulumi/pulumi';
import { Vault } from '@pulumi/azure-native/keyvault/index.js';
import type { Placement } from './monitoring.js';

/** Days a deleted vault or secret stays recoverable (the maximum). */
export const SOFT_DELETE_RETENTION_DAYS = 90;

/** Creates the vault. */
export function createVault(at: Placement, tenantId: pulumi.Input<string>, opts: pulumi.CustomResourceOptions): Vault {
  return new Vault(
    'rpkv',
    {
      resourceGroupName: at.resourceGroupName,
      location: at.location,
      tags: at.tags,
      properties: {
        tenantId,
        sku: { family: 'A', name: 'standard' },
        enableRbacAuthorization: true,
        enableSoftDelete: true,
        softDeleteRetentionInDays: SOFT_DELETE_RETENTION_DAYS,
        enablePurgeProtection: true,
        enabledForDeployment: false,
        enabledForDiskEncryption: false,
        enabledForTemplateDeployment: false,
        publicNetworkAccess: 'Enabled',
      },
    },
    opts,
  );
}
