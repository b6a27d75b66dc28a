/**
 * tenants — TenantRuntimeIsolationService: tenant bindings (isolation model, silo database),
 * status, quotas and members. Its `api.ts` is the access check every tenant-scoped request runs.
 *
 * <!-- functions:tenants -->
 *   POST    /api/tenants                                   tenantCreate        platform admin
 *   GET     /api/tenants                                   tenantList          any caller: its own tenants (platform admins: all)
 *   GET     /api/tenants/{tenantId}                        tenantGet           tenant reader
 *   PATCH   /api/tenants/{tenantId}                        tenantPatch         platform admin
 *   GET     /api/tenants/{tenantId}/members                tenantMemberList    tenant admin
 *   PUT     /api/tenants/{tenantId}/members/{principalId}  tenantMemberPut     tenant admin (checked fresh)
 *   DELETE  /api/tenants/{tenantId}/members/{principalId}  tenantMemberDelete  tenant admin (checked fresh)
 * <!-- /functions -->
 */
import { defineService, lazyRoutes } from '../../shared/service.js';
import type { TenantsInstance } from './api.js';

const routes = lazyRoutes((self: TenantsInstance, kernel) =>
  import('./handlers.js').then((m) => m.tenantHandlers({ api: self.api, schemas: self.schemas, siloExists: (n) => kernel.sql.hasSilo(n) })),
);

export const tenants = defineService({
  name: 'tenants',
  sql: () => import('./sql.js').then((m) => m.TENANTS_SQL),
  migrations: () => import('./migrations/index.js').then((m) => m.migrations),
  // The rate quota is enforced by the HTTP pipeline for every tenant-scoped request. The next two
  // are declared here until their owning services land; each moves to its owner's descriptor then.
  quotas: {
    requestsPerMinute: { default: 6000, max: 1_000_000, description: 'Requests per minute, per instance (HTTP 429 beyond)' },
  },
  needs: [],
  create: async ({ kernel, app }) => (await import('./api.js')).createTenants(kernel, app.quotas),
  register(r) {
    r.http('tenantCreate', 'POST', 'tenants', routes('create'));
    r.http('tenantList', 'GET', 'tenants', routes('list'));
    r.http('tenantGet', 'GET', 'tenants/{tenantId}', routes('get'));
    r.http('tenantPatch', 'PATCH', 'tenants/{tenantId}', routes('patch'));
    r.http('tenantMemberList', 'GET', 'tenants/{tenantId}/members', routes('listMembers'));
    r.http('tenantMemberPut', 'PUT', 'tenants/{tenantId}/members/{principalId}', routes('putMember'));
    r.http('tenantMemberDelete', 'DELETE', 'tenants/{tenantId}/members/{principalId}', routes('deleteMember'));
  },
});
