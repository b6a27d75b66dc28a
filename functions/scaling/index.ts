/**
 * scaling — RuntimeScalingService: one versioned scaling policy per catalog service (replica
 * bounds, triggers, behaviour, cooldown, a pause that ends by itself), compiled on request for a
 * Kubernetes HorizontalPodAutoscaler, a KEDA ScaledObject or Azure Container Apps, and the history
 * of scaling events. Storage map row: "Scaling policies & history" — PostgreSQL, schema `scaling`,
 * role `rp_scaling`; events and replaced versions are kept `storageMap.scaling.retentionDays` (365).
 *
 * <!-- functions:scaling -->
 *   PUT     /api/tenants/{tenantId}/environments/{environmentId}/services/{serviceId}/scaling-policy                     scalingPolicyPut          tenant operator
 *   GET     /api/tenants/{tenantId}/environments/{environmentId}/services/{serviceId}/scaling-policy                     scalingPolicyGet          tenant reader
 *   DELETE  /api/tenants/{tenantId}/environments/{environmentId}/services/{serviceId}/scaling-policy                     scalingPolicyDelete       tenant operator
 *   GET     /api/tenants/{tenantId}/environments/{environmentId}/services/{serviceId}/scaling-policy/versions            scalingPolicyVersionList  tenant reader
 *   GET     /api/tenants/{tenantId}/environments/{environmentId}/services/{serviceId}/scaling-policy/versions/{version}  scalingPolicyVersionGet   tenant reader
 *   GET     /api/tenants/{tenantId}/environments/{environmentId}/services/{serviceId}/scaling-policy/manifest            scalingPolicyManifest     tenant reader
 *   POST    /api/tenants/{tenantId}/environments/{environmentId}/services/{serviceId}/scaling-events                     scalingEventRecord        tenant operator
 *   GET     /api/tenants/{tenantId}/environments/{environmentId}/services/{serviceId}/scaling-events                     scalingEventList          tenant reader
 *   GET     /api/tenants/{tenantId}/environments/{environmentId}/services/{serviceId}/scaling-events/{eventId}           scalingEventGet           tenant reader
 *   timer   0 10 3 * * *                                                                                                 scalingRetention
 * <!-- /functions -->
 *
 * Rules and decisions, and why: docs/services.md.
 */
import type { Kernel } from '../../shared/kernel.js';
import type { ErrorTable } from '../../shared/errors.js';
import { defineService, lazyRoutes } from '../../shared/service.js';
import type { CatalogApi } from '../catalog/api.js';
import type { TenantsApi } from '../tenants/api.js';
import type { ScalingInstance } from './api.js';

/** Daily at 03:10 UTC (NCRONTAB, with seconds). */
export const RETENTION_SCHEDULE = '0 10 3 * * *';

const routes = lazyRoutes((self: ScalingInstance, kernel) =>
  import('./handlers.js').then((m) => m.scalingHandlers({ now: kernel.now, catalog: self.catalog, deployments: self.deployments })),
);

/** This service's error codes and their HTTP status (thrown from errors.ts). */
export const SCALING_ERRORS = { TargetCannotExpress: 422 } as const satisfies ErrorTable;

export const scaling = defineService({
  name: 'scaling',
  sql: () => import('./sql.js').then((m) => m.SCALING_SQL),
  migrations: () => import('./migrations/index.js').then((m) => m.migrations),
  errors: SCALING_ERRORS,
  quotas: { maxReplicasPerService: { default: 50, max: 10_000, description: "Highest maxReplicas of a service's scaling policy" } },
  needs: ['tenants', 'catalog'],
  create: async ({ kernel, deps }: { kernel: Kernel; deps: { tenants: TenantsApi; catalog: CatalogApi } }) => (await import('./api.js')).createScaling(kernel, deps),
  register(r) {
    const service = 'tenants/{tenantId}/environments/{environmentId}/services/{serviceId}';
    const policy = `${service}/scaling-policy`;
    const events = `${service}/scaling-events`;
    r.http('scalingPolicyPut', 'PUT', policy, routes('put'));
    r.http('scalingPolicyGet', 'GET', policy, routes('get'));
    r.http('scalingPolicyDelete', 'DELETE', policy, routes('remove'));
    r.http('scalingPolicyVersionList', 'GET', `${policy}/versions`, routes('versions'));
    r.http('scalingPolicyVersionGet', 'GET', `${policy}/versions/{version}`, routes('version'));
    r.http('scalingPolicyManifest', 'GET', `${policy}/manifest`, routes('manifest'));
    r.http('scalingEventRecord', 'POST', events, routes('recordEvent'));
    r.http('scalingEventList', 'GET', events, routes('listEvents'));
    r.http('scalingEventGet', 'GET', `${events}/{eventId}`, routes('getEvent'));
    r.timer('scalingRetention', RETENTION_SCHEDULE, "Deletes scaling events and replaced policy versions older than the storage map's retention", async (self) => {
      const { retentionTimerHandler } = await import('./retention.js');
      const run = retentionTimerHandler((opts) => self.retention(opts));
      return async (timer, context) => void (await run(timer, context));
    });
  },
});
