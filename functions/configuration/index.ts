/**
 * configuration — RuntimeConfigurationService: per tenant, environment and catalog service, a JSON
 * document of settings with immutable numbered versions; agents sync it with conditional GETs
 * (304 when nothing changed) and the service records which version each consumer runs. Settings
 * never hold secret values, only references to secret bindings. Storage map row: "Runtime
 * configuration" — PostgreSQL, schema `configuration`, role `rp_configuration`; every version
 * kept `storageMap.configuration.retentionDays` (1 year), the latest of each configuration always.
 *
 * <!-- functions:configuration -->
 *   PUT    /api/tenants/{tenantId}/environments/{environmentId}/services/{serviceId}/configuration                     configurationPut           tenant operator
 *   GET    /api/tenants/{tenantId}/environments/{environmentId}/services/{serviceId}/configuration                     configurationGet           tenant reader
 *   GET    /api/tenants/{tenantId}/environments/{environmentId}/services/{serviceId}/configuration/versions            configurationVersionList   tenant reader
 *   GET    /api/tenants/{tenantId}/environments/{environmentId}/services/{serviceId}/configuration/versions/{version}  configurationVersionGet    tenant reader
 *   GET    /api/tenants/{tenantId}/environments/{environmentId}/services/{serviceId}/configuration/diff                configurationDiff          tenant reader
 *   GET    /api/tenants/{tenantId}/environments/{environmentId}/services/{serviceId}/configuration/consumers           configurationConsumerList  tenant reader
 *   timer  0 45 2 * * *                                                                                                configurationRetention
 * <!-- /functions -->
 *
 * Rules and decisions, and why: docs/services.md.
 */
import type { Kernel } from '../../shared/kernel.js';
import type { ErrorTable } from '../../shared/errors.js';
import { defineService, lazyRoutes } from '../../shared/service.js';
import type { CatalogApi } from '../catalog/api.js';
import type { TenantsApi } from '../tenants/api.js';
import type { SecretsApi } from '../secrets/api.js';
import type { ConfigurationInstance } from './api.js';

/** Daily at 02:45 UTC (NCRONTAB, with seconds). */
export const RETENTION_SCHEDULE = '0 45 2 * * *';

const routes = lazyRoutes((self: ConfigurationInstance, kernel) =>
  import('./handlers.js').then((m) => m.configurationHandlers({ now: kernel.now, sql: kernel.sql, catalog: self.needs.catalog, secrets: self.needs.secrets })),
);

/** This service's error codes and their HTTP status (thrown from errors.ts). */
export const CONFIGURATION_ERRORS = { SecretValueRefused: 400, UnknownSecretBinding: 400 } as const satisfies ErrorTable;

export const configuration = defineService({
  name: 'configuration',
  sql: () => import('./sql.js').then((m) => m.CONFIGURATION_SQL),
  migrations: () => import('./migrations/index.js').then((m) => m.migrations),
  errors: CONFIGURATION_ERRORS,
  needs: ['tenants', 'catalog', 'secrets'],
  create: async ({ kernel, deps }: { kernel: Kernel; deps: { tenants: TenantsApi; catalog: CatalogApi; secrets: SecretsApi } }) =>
    (await import('./api.js')).createConfiguration(kernel, deps),
  register(r) {
    const one = 'tenants/{tenantId}/environments/{environmentId}/services/{serviceId}/configuration';
    r.http('configurationPut', 'PUT', one, routes('put'));
    r.http('configurationGet', 'GET', one, routes('get'));
    r.http('configurationVersionList', 'GET', `${one}/versions`, routes('listVersions'));
    r.http('configurationVersionGet', 'GET', `${one}/versions/{version}`, routes('getVersion'));
    r.http('configurationDiff', 'GET', `${one}/diff`, routes('diff'));
    r.http('configurationConsumerList', 'GET', `${one}/consumers`, routes('listConsumers'));
    r.timer('configurationRetention', RETENTION_SCHEDULE, 'Deletes configuration versions older than the storage map’s retention (never a latest one), and consumers not seen as long', async (self) => {
      const { retentionTimerHandler } = await import('./retention.js');
      const run = retentionTimerHandler((opts) => self.retention(opts));
      return async (timer, context) => void (await run(timer, context));
    });
  },
});
