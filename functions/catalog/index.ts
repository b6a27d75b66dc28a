/**
 * catalog — ServiceCatalogRuntimeService: the services running in a tenant's environments, their
 * owner, lifecycle and labels, and a fact sheet per service assembled from the services that own
 * each part. Storage map row: "Runtime environments & inventory" — PostgreSQL, schema `catalog`,
 * role `rp_catalog`; retired services are purged `storageMap.inventory.purgeRetiredAfterDays`
 * (90) days after retirement.
 *
 * <!-- functions:catalog -->
 *   POST   /api/tenants/{tenantId}/environments/{environmentId}/services                     catalogServiceRegister  tenant operator
 *   GET    /api/tenants/{tenantId}/environments/{environmentId}/services                     catalogServiceList      tenant reader
 *   GET    /api/tenants/{tenantId}/services                                                  catalogServiceListAll   tenant reader
 *   GET    /api/tenants/{tenantId}/environments/{environmentId}/services/{serviceId}         catalogServiceGet       tenant reader
 *   PATCH  /api/tenants/{tenantId}/environments/{environmentId}/services/{serviceId}         catalogServicePatch     tenant operator
 *   POST   /api/tenants/{tenantId}/environments/{environmentId}/services/{serviceId}/retire  catalogServiceRetire    tenant operator
 *   GET    /api/tenants/{tenantId}/environments/{environmentId}/services/{serviceId}/facts   catalogServiceFacts     tenant reader
 *   timer  0 30 2 * * *                                                                      catalogPurgeRetired
 * <!-- /functions -->
 *
 * Rules and decisions, and why: docs/services.md.
 */
import type { Kernel } from '../../shared/kernel.js';
import type { ErrorTable } from '../../shared/errors.js';
import { defineService, lazyRoutes } from '../../shared/service.js';
import type { EnvironmentsApi } from '../environments/api.js';
import type { TenantsApi } from '../tenants/api.js';
import type { CatalogInstance } from './api.js';

/** Daily at 02:30 UTC (NCRONTAB, with seconds). */
export const PURGE_SCHEDULE = '0 30 2 * * *';

const routes = lazyRoutes((self: CatalogInstance, kernel) =>
  import('./handlers.js').then((m) => m.catalogHandlers({ now: kernel.now, environments: self.environments, plugs: self.plugs, serviceRetired: self.serviceRetired })),
);

/** This service's error codes and their HTTP status (thrown from errors.ts). */
export const CATALOG_ERRORS = { ServiceRetired: 409 } as const satisfies ErrorTable;

export const catalog = defineService({
  name: 'catalog',
  sql: () => import('./sql.js').then((m) => m.CATALOG_SQL),
  migrations: () => import('./migrations/index.js').then((m) => m.migrations),
  errors: CATALOG_ERRORS,
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
