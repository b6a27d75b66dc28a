/**
 * deployments — DeploymentService: rollouts of a catalog service's image into an environment, as an
 * explicit state machine with every transition recorded; rollback to any earlier succeeded
 * deployment, restoring image digest, configuration version, secret-binding versions and scaling
 * policy version together; history; step logs, manifests and other artifacts in Blob storage.
 * Storage map rows: "Deployment metadata & history" — PostgreSQL, schema `deployments`, role
 * `rp_deployments`, 1 year; "Deployment artifacts & logs" — Blob, container `ARTIFACTS_CONTAINER`,
 * `<tenantId>/<deploymentId>/…`, 90 days hot then cool; "Container images" — ACR, consumed.
 *
 * <!-- functions:deployments -->
 *   POST   /api/tenants/{tenantId}/environments/{environmentId}/deployments                                               deploymentCreate            tenant operator
 *   GET    /api/tenants/{tenantId}/environments/{environmentId}/deployments                                               deploymentList              tenant reader
 *   GET    /api/tenants/{tenantId}/environments/{environmentId}/deployments/{deploymentId}                                deploymentGet               tenant reader
 *   POST   /api/tenants/{tenantId}/environments/{environmentId}/deployments/{deploymentId}/transitions                    deploymentTransition        tenant operator
 *   POST   /api/tenants/{tenantId}/environments/{environmentId}/deployments/{deploymentId}/rollback                       deploymentRollback          tenant operator
 *   GET    /api/tenants/{tenantId}/environments/{environmentId}/services/{serviceId}/rollback-targets                     deploymentRollbackTargets   tenant reader
 *   PUT    /api/tenants/{tenantId}/environments/{environmentId}/deployments/{deploymentId}/steps/{step}/log               deploymentStepLogWrite      tenant operator
 *   POST   /api/tenants/{tenantId}/environments/{environmentId}/deployments/{deploymentId}/steps/{step}/log               deploymentStepLogAppend     tenant operator
 *   PUT    /api/tenants/{tenantId}/environments/{environmentId}/deployments/{deploymentId}/artifacts/{artifactName}       deploymentArtifactUpload    tenant operator
 *   GET    /api/tenants/{tenantId}/environments/{environmentId}/deployments/{deploymentId}/artifacts                      deploymentArtifactList      tenant reader
 *   GET    /api/tenants/{tenantId}/environments/{environmentId}/deployments/{deploymentId}/artifacts/{artifactName}       deploymentArtifactDownload  tenant reader
 *   GET    /api/tenants/{tenantId}/environments/{environmentId}/deployments/{deploymentId}/artifacts/{artifactName}/link  deploymentArtifactLink      tenant reader
 *   timer  0 45 3 * * *                                                                                                   deploymentRetention
 * <!-- /functions -->
 *
 * Rules and decisions, and why: docs/services.md.
 */
import type { ErrorTable } from '../../shared/errors.js';
import type { Kernel } from '../../shared/kernel.js';
import { defineService, lazyRoutes } from '../../shared/service.js';
import type { DeploymentsInstance, DeploymentsNeeds } from './api.js';

/** Daily at 03:45 UTC (NCRONTAB, with seconds), after the platform's housekeeping. */
export const RETENTION_SCHEDULE = '0 45 3 * * *';

const routes = lazyRoutes((self: DeploymentsInstance, kernel) =>
  import('./handlers.js').then((m) => m.deploymentHandlers({ now: kernel.now, ports: self.ports })),
);

/** This service's error codes and their HTTP status (thrown from errors.ts). */
export const DEPLOYMENT_ERRORS = {
  InvalidTransition: 409,
  DeploymentInProgress: 409,
  InvalidRollback: 409,
  ImageDigestRequired: 422,
} as const satisfies ErrorTable;

export const deployments = defineService({
  name: 'deployments',
  sql: () => import('./sql.js').then((m) => m.DEPLOYMENTS_SQL),
  migrations: () => import('./migrations/index.js').then((m) => m.migrations),
  errors: DEPLOYMENT_ERRORS,
  quotas: { maxDeploymentsPerDay: { default: 500, max: 1_000_000, description: 'Deployments (rollbacks included) created per UTC day' } },
  needs: ['tenants', 'environments', 'catalog', 'secrets', 'configuration', 'scaling'],
  create: async ({ kernel, deps }: { kernel: Kernel; deps: DeploymentsNeeds }) => (await import('./api.js')).createDeployments(kernel, deps),
  register(r) {
    const env = 'tenants/{tenantId}/environments/{environmentId}';
    const list = `${env}/deployments`;
    const one = `${list}/{deploymentId}`;
    r.http('deploymentCreate', 'POST', list, routes('create'));
    r.http('deploymentList', 'GET', list, routes('list'));
    r.http('deploymentGet', 'GET', one, routes('get'));
    r.http('deploymentTransition', 'POST', `${one}/transitions`, routes('transition'));
    r.http('deploymentRollback', 'POST', `${one}/rollback`, routes('rollback'));
    r.http('deploymentRollbackTargets', 'GET', `${env}/services/{serviceId}/rollback-targets`, routes('rollbackTargets'));
    r.http('deploymentStepLogWrite', 'PUT', `${one}/steps/{step}/log`, routes('writeLog'));
    r.http('deploymentStepLogAppend', 'POST', `${one}/steps/{step}/log`, routes('appendLog'));
    r.http('deploymentArtifactUpload', 'PUT', `${one}/artifacts/{artifactName}`, routes('upload'));
    r.http('deploymentArtifactList', 'GET', `${one}/artifacts`, routes('listArtifacts'));
    r.http('deploymentArtifactDownload', 'GET', `${one}/artifacts/{artifactName}`, routes('download'));
    r.http('deploymentArtifactLink', 'GET', `${one}/artifacts/{artifactName}/link`, routes('link'));
    r.timer('deploymentRetention', RETENTION_SCHEDULE, "Deletes deployment records older than the storage map's retention, and their blobs", async (self) => {
      const { retentionTimerHandler } = await import('./retention.js');
      const run = retentionTimerHandler((opts) => self.retention(opts));
      return async (timer, context) => void (await run(timer, context));
    });
  },
});
