/**
 * Azure Container Registry: the images DeploymentService rolls out. No admin user and no
 * anonymous pull: pulls are made by identities holding AcrPull.
 */
import * as pulumi from '@pulumi/pulumi';
import { Registry } from '@pulumi/azure-native/containerregistry/index.js';
import type { PlatformConfig } from './config.js';
import type { Placement } from './monitoring.js';

/** Creates the registry. */
export function createRegistry(at: Placement, config: PlatformConfig, opts: pulumi.CustomResourceOptions): Registry {
  return new Registry(
    'rpacr',
    {
      resourceGroupName: at.resourceGroupName,
      location: at.location,
      tags: at.tags,
      sku: { name: config.registry.sku },
      adminUserEnabled: false,
      anonymousPullEnabled: false,
    },
    opts,
  );
}
