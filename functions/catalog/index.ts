/**
 * catalog — ServiceCatalogRuntimeService: the services running in a tenant's environments, their
 * owner, lifecycle and labels, and a fact sheet per service assembled from the services that own
 * each part. Storage map row: "Runtime environments & inventory" — PostgreSQL, schema `catalog`,
 * role `rp_catalog`; retired services are purged `storageMap.inventory.purgeRetiredAfterDays`
 * (90) days after retirement.
 *
 * <!-- functions:catalog -->
 * <!-- /functions -->
 *
 * Decisions, and why:
 * - Ids are server-generated (`svc_` + 16 hex characters), never reused; the name is unique in its
 *   environment among services that are not retired. A service never moves between environments.
 * - The environment is reached only through environments/api.ts, in that service's own transaction
 *   (a catalog transaction runs as `rp_catalog`, which cannot read the environments schema). The
 *   race "environment retired while a service registers" is closed without holding two
 *   connections at once: registration asks the environments service first (404 / 409), then, in the
 *   catalog transaction, takes the per-environment lock the retire cascade also takes and checks
 *   the catalog's own record of retired environments, which the cascade writes under that lock.
 *   Either the cascade runs first (the registration sees the record: 409), or the registration
 *   commits first (the cascade, waiting on the lock, then retires the new service too).
 * - Retiring an environment retires its services: composition/wiring.ts plugs the catalog's
 *   `retireServicesOfEnvironment` into the environments API's retire listener (no import cycle:
 *   environments never imports the catalog). If the process
 *   dies between the two transactions, retrying the environment retire, or the daily timer's
 *   repair step, completes the cascade. Services are retired, never deleted early.
 * - Quota: `maxServicesPerEnvironment` live services, counted under the same per-environment lock
 *   as the insert (`pg_advisory_xact_lock`, in the tenant's database, so across instances too).
 * - The purge timer iterates tenants from the tenants API and runs per-tenant scoped transactions
 *   (no cross-tenant reads, so no platform-scope RLS policy on catalog tables). Referenced services
 *   are skipped and reported through the reference-checker plug point in api.ts; the fact sheet
 *   uses the fact-provider plug point. Neither has a registration yet: the owning services
 *   (deployments, configuration, secrets, scaling, health, drift) register theirs as they land.
 * - Roles: reads need `reader`; register, update and retire of a service need `operator` (a service
 *   retire is undone by registering again and its data stays 90 days).
 */
import type { Kernel } from '../../shared/kernel.js';
import { defineService, lazyRoutes } from '../../shared/service.js';
import type { EnvironmentsApi } from '../environments/api.js';
import type { TenantsApi } from '../tenants/api.js';
import type { CatalogInstance } from './api.js';
import { errors } from './errors.js';
import { CATALOG_SQL } from './sql.js';

/** Daily at 02:30 UTC (NCRONTAB, with seconds). */
export const PURGE_SCHEDULE = '0 30 2 * * *';

const routes = lazyRoutes((self: CatalogInstance, kernel) =>
  import('./handlers.js').then((m) => m.catalogHandlers({ now: kernel.now, environments: self.environments, plugs: self.plugs })),
);

export const catalog = defineService({
  name: 'catalog',
  sql: CATALOG_SQL,
  migrations: () => import('./migrations/index.js').then((m) => m.migrations),
  errors: errors.table,
  quotas: { maxServicesPerEnvironment: { default: 200, max: 100_000, description: 'Live (not retired) services per environment' } },
  needs: ['tenants', 'environments'],
  create: async ({ kernel, deps }: { kernel: Kernel; deps: { tenants: TenantsApi; environments: EnvironmentsApi } }) =>
    (await import('./api.js')).createCatalog(kernel, deps),
  register(r) {
    const services = 'tenants/{tenantId}/environments/{environmentId}/services';
    const one = `${services}/{serviceId}`;
    r.http('catalogServiceRegister', 'POST', services, routes('register'));
    r.http('catalogServiceList', 'GET', services, routes('list'));
    r.http('catalogServiceListAll', 'GET', 'tenants/{tenantId}/services', routes('listTenant'));
    r.http('catalogServiceGet', 'GET', one, routes('get'));
    r.http('catalogServicePatch', 'PATCH', one, routes('patch'));
    r.http('catalogServiceRetire', 'POST', `${one}/retire`, routes('retire'));
    r.http('catalogServiceFacts', 'GET', `${one}/facts`, routes('facts'));
    r.timer('catalogPurgeRetired', PURGE_SCHEDULE, "Purges services retired longer ago than the storage map's retention, skipping referenced ones", async (self) => {
      const { purgeTimerHandler } = await import('./purge.js');
      const run = purgeTimerHandler((opts) => self.purge(opts));
      return async (timer, context) => void (await run(timer, context));
    });
  },
});
