/**
 * Runtime wiring, done once when the kernel boots (on the first invocation): the services' public
 * APIs plugged into the kernel and into each other.
 */
import type { Kernel } from '../shared/kernel.js';
import { tenantsApi } from '../functions/tenants/api.js';
import { environmentsApi } from '../functions/environments/api.js';
import { catalogApi } from '../functions/catalog/api.js';
import { serviceMigrations } from './migrations.js';

export function wire(kernel: Kernel): Kernel {
  kernel.tenantAccess = tenantsApi(kernel);
  kernel.outboxes = serviceMigrations;
  // Retiring an environment retires its services (the catalog's cascade, in its own transaction).
  environmentsApi(kernel).onEnvironmentRetired(async (tenant, id, at) => void (await catalogApi(kernel).retireServicesOfEnvironment(tenant, id, at)));
  return kernel;
}
