/**
 * health — RuntimeHealthService: health results that agents and probes append in batches, each
 * service's latest status and its transitions, and the same results as Application Insights
 * availability telemetry. Storage map rows: "Health results (recent)" — PostgreSQL, schema
 * `health`, role `rp_health`, kept `storageMap.healthRecent.retentionDays` (30) days by dropping
 * daily partitions; "Health telemetry (detail)" — Application Insights.
 *
 * <!-- functions:health -->
 *   POST   /api/tenants/{tenantId}/environments/{environmentId}/health-results                           healthResultsAppend       tenant operator
 *   GET    /api/tenants/{tenantId}/environments/{environmentId}/health                                   healthEnvironmentLatest   tenant reader
 *   GET    /api/tenants/{tenantId}/environments/{environmentId}/services/{serviceId}/health              healthServiceLatest       tenant reader
 *   GET    /api/tenants/{tenantId}/environments/{environmentId}/services/{serviceId}/health-results      healthServiceResults      tenant reader
 *   GET    /api/tenants/{tenantId}/environments/{environmentId}/services/{serviceId}/health-transitions  healthServiceTransitions  tenant reader
 *   timer  0 45 0 * * *                                                                                  healthRetention
 * <!-- /functions -->
 *
 * Rules and decisions, and why: docs/services.md.
 */
import type { Kernel } from '../../shared/kernel.js';
import type { ErrorTable } from '../../shared/errors.js';
import { defineService, lazyRoutes } from '../../shared/service.js';
import type { CatalogApi } from '../catalog/api.js';
import type { EnvironmentsApi } from '../environments/api.js';
import type { TenantsApi } from '../tenants/api.js';
import type { HealthInstance } from './api.js';

/** Daily at 00:45 UTC (NCRONTAB, with seconds): upcoming partitions created, expired ones dropped. */
export const RETENTION_SCHEDULE = '0 45 0 * * *';

const routes = lazyRoutes((self: HealthInstance, kernel) =>
  import('./handlers.js').then((m) =>
    m.healthHandlers({ now: kernel.now, telemetry: kernel.telemetry, limiter: self.limiter, partitions: self.partitions, environments: self.needs.environments, catalog: self.needs.catalog }),
  ),
);

/** This service's error codes (none of its own: it throws the kernel's). */
export const HEALTH_ERRORS = {} as const satisfies ErrorTable;

export const health = defineService({
  name: 'health',
  sql: () => import('./sql.js').then((m) => m.HEALTH_SQL),
  migrations: () => import('./migrations/index.js').then((m) => m.migrations),
  errors: HEALTH_ERRORS,
  quotas: {
    healthResultsPerMinute: { default: 120_000, max: 10_000_000, description: 'Health results a tenant may append per minute (per instance, like requestsPerMinute)' },
  },
  needs: ['tenants', 'environments', 'catalog'],
  create: async ({ kernel, deps }: { kernel: Kernel; deps: { tenants: TenantsApi; environments: EnvironmentsApi; catalog: CatalogApi } }) =>
    (await import('./api.js')).createHealth(kernel, deps),
  register(r) {
    const env = 'tenants/{tenantId}/environments/{environmentId}';
    const svc = `${env}/services/{serviceId}`;
    r.http('healthResultsAppend', 'POST', `${env}/health-results`, routes('append'));
    r.http('healthEnvironmentLatest', 'GET', `${env}/health`, routes('latestList'));
    r.http('healthServiceLatest', 'GET', `${svc}/health`, routes('latest'));
    r.http('healthServiceResults', 'GET', `${svc}/health-results`, routes('history'));
    r.http('healthServiceTransitions', 'GET', `${svc}/health-transitions`, routes('transitions'));
    r.timer('healthRetention', RETENTION_SCHEDULE, 'Creates upcoming daily partitions of health results and drops those older than the retention window', async (self) => {
      const { retentionTimerHandler } = await import('./retention.js');
      const run = retentionTimerHandler(() => self.retention());
      return async (timer, context) => void (await run(timer, context));
    });
  },
});
