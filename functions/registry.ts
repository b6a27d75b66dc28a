/**
 * Every service, in dependency order. The composition root registers them; the migrate command
 * applies their migrations. Adding a service means adding it here.
 */
import type { Kernel } from '../shared/kernel.js';
import type { ServiceMigrations } from '../shared/sql/migrator.js';
import { tenants } from './tenants/index.js';
import { environments } from './environments/index.js';
import { catalog } from './catalog/index.js';
import * as platform from './platform/index.js';

/** Migrations of every service that owns a schema. */
export const serviceMigrations: ServiceMigrations[] = [tenants.sql, environments.sql, catalog.sql];

/** Registers every function of the app. */
export function registerAll(kernel: Kernel): void {
  const tenantsApi = tenants.register(kernel);
  const environmentsApi = environments.register(kernel);
  catalog.register(kernel, { tenants: tenantsApi, environments: environmentsApi });
  platform.register(kernel, serviceMigrations);
}
