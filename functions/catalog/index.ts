/**
 * catalog — ServiceCatalogRuntimeService: the services running in a tenant's environments, their
 * owner, lifecycle and labels, and a fact sheet per service assembled from the services that own
 * each part. Storage map row: "Runtime environments & inventory" — PostgreSQL, schema `catalog`,
 * role `rp_catalog`; retired services are purged `storageMap.inventory.purgeRetiredAfterDays`
 * (90) days after retirement.
 *
 *   POST  /api/tenants/{tenantId}/environments/{environmentId}/services                     catalogServiceRegister  operator
 *   GET   /api/tenants/{tenantId}/environments/{environmentId}/services                     catalogServiceList      reader
 *   GET   /api/tenants/{tenantId}/services                                                  catalogServiceListAll   reader
 *   GET   /api/tenants/{tenantId}/environments/{environmentId}/services/{serviceId}         catalogServiceGet       reader
 *   PATCH /api/tenants/{tenantId}/environments/{environmentId}/services/{serviceId}         catalogServicePatch     operator
 *   POST  /api/tenants/{tenantId}/environments/{environmentId}/services/{serviceId}/retire  catalogServiceRetire    operator
 *   GET   /api/tenants/{tenantId}/environments/{environmentId}/services/{serviceId}/facts   catalogServiceFacts     reader
 *   timer 0 30 2 * * * (daily, 02:30 UTC)                                                    catalogPurgeRetired
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
 * - Retiring an environment retires its services: the catalog registers a listener with the
 *   environments API (no import cycle: environments never imports the catalog). If the process
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
import { app } from '@azure/functions';
import type { Kernel } from '../../shared/kernel.js';
import type { ServiceMigrations } from '../../shared/sql/migrator.js';
import type { EnvironmentsApi } from '../environments/api.js';
import type { TenantsApi } from '../tenants/api.js';
import { createCatalogApi, type CatalogApi } from './api.js';
import { createCascade } from './cascade.js';
import { catalogHandlers } from './handlers.js';
import { migrations } from './migrations/index.js';
import { CatalogPlugs } from './plugs.js';
import { createPurge, purgeTimerHandler } from './purge.js';
import { CATALOG_SQL } from './service.js';

/** Daily at 02:30 UTC (NCRONTAB, with seconds). */
export const PURGE_SCHEDULE = '0 30 2 * * *';

/** The services the catalog depends on, through their public APIs. */
export interface CatalogDeps {
  tenants: Pick<TenantsApi, 'listTenants'>;
  environments: EnvironmentsApi;
}

/** Registers the catalog functions, wires the environment-retire cascade, returns the API. */
export function register(kernel: Kernel, deps: CatalogDeps): CatalogApi {
  const plugs = new CatalogPlugs();
  const api = createCatalogApi(kernel, plugs);
  const cascade = createCascade(kernel);
  deps.environments.onEnvironmentRetired(async (tenant, environmentId, retiredAt) => {
    await cascade(tenant, environmentId, retiredAt);
  });

  const h = catalogHandlers(kernel, deps.environments, plugs);
  const r = kernel.routes;
  const services = 'tenants/{tenantId}/environments/{environmentId}/services';
  const one = `${services}/{serviceId}`;
  r.define({ name: 'catalogServiceRegister', method: 'POST', route: services, ...h.register });
  r.define({ name: 'catalogServiceList', method: 'GET', route: services, ...h.list });
  r.define({ name: 'catalogServiceListAll', method: 'GET', route: 'tenants/{tenantId}/services', ...h.listTenant });
  r.define({ name: 'catalogServiceGet', method: 'GET', route: one, ...h.get });
  r.define({ name: 'catalogServicePatch', method: 'PATCH', route: one, ...h.patch });
  r.define({ name: 'catalogServiceRetire', method: 'POST', route: `${one}/retire`, ...h.retire });
  r.define({ name: 'catalogServiceFacts', method: 'GET', route: `${one}/facts`, ...h.facts });

  const purge = createPurge({ kernel, tenants: deps.tenants, environments: deps.environments, plugs, cascade });
  const onTimer = purgeTimerHandler(purge);
  app.timer('catalogPurgeRetired', {
    schedule: PURGE_SCHEDULE,
    handler: async (timer, context) => {
      await onTimer(timer, context);
    },
  });
  return api;
}

export const catalog = { sql: { ...CATALOG_SQL, migrations } satisfies ServiceMigrations, register };
