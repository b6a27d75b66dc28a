/**
 * environments — RuntimeEnvironmentService: a tenant's runtime environments (dev, test, staging,
 * prod …), their region, labels and the storage topology each expects the infrastructure program
 * to provision (the drift worker compares it with what exists). Storage map row: "Runtime
 * environments & inventory" — PostgreSQL, schema `environments`, role `rp_environments`, kept for
 * the tenant's lifetime (environments are retired, never deleted).
 *
 * <!-- functions:environments -->
 *   POST   /api/tenants/{tenantId}/environments                         environmentCreate  tenant operator
 *   GET    /api/tenants/{tenantId}/environments                         environmentList    tenant reader
 *   GET    /api/tenants/{tenantId}/environments/{environmentId}         environmentGet     tenant reader
 *   PATCH  /api/tenants/{tenantId}/environments/{environmentId}         environmentPatch   tenant operator
 *   POST   /api/tenants/{tenantId}/environments/{environmentId}/retire  environmentRetire  tenant admin
 * <!-- /functions -->
 *
 * Rules and decisions, and why: docs/services.md.
 */
import type { ErrorTable } from '../../shared/errors.js';
import { defineService, lazyRoutes } from '../../shared/service.js';
import type { EnvironmentsInstance } from './api.js';

const routes = lazyRoutes((self: EnvironmentsInstance, kernel) =>
  import('./handlers.js').then((m) => m.environmentHandlers({ now: kernel.now, listeners: self.listeners })),
);

/** This service's error codes and their HTTP status (thrown from errors.ts). */
export const ENVIRONMENT_ERRORS = { EnvironmentRetired: 409 } as const satisfies ErrorTable;

export const environments = defineService({
  name: 'environments',
  sql: () => import('./sql.js').then((m) => m.ENVIRONMENTS_SQL),
  migrations: () => import('./migrations/index.js').then((m) => m.migrations),
  errors: ENVIRONMENT_ERRORS,
  quotas: { maxEnvironments: { default: 20, max: 10_000, description: 'Live (not retired) environments' } },
  needs: [],
  create: async ({ kernel }) => (await import('./api.js')).createEnvironments(kernel),
  register(r) {
    const list = 'tenants/{tenantId}/environments';
    const one = `${list}/{environmentId}`;
    r.http('environmentCreate', 'POST', list, routes('create'));
    r.http('environmentList', 'GET', list, routes('list'));
    r.http('environmentGet', 'GET', one, routes('get'));
    r.http('environmentPatch', 'PATCH', one, routes('patch'));
    r.http('environmentRetire', 'POST', `${one}/retire`, routes('retire'));
  },
});
