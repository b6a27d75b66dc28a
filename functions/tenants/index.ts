/**
 * tenants — TenantRuntimeIsolationService: tenant bindings (isolation model, silo database),
 * status, quotas and members. Its `api.ts` is the access check every tenant-scoped request runs.
 *
 *   POST   /api/tenants                                   tenantCreate        platform admin
 *   GET    /api/tenants                                   tenantList          platform admin
 *   GET    /api/tenants/{tenantId}                        tenantGet           tenant reader
 *   PATCH  /api/tenants/{tenantId}                        tenantPatch         platform admin
 *   GET    /api/tenants/{tenantId}/members                tenantMemberList    tenant admin
 *   PUT    /api/tenants/{tenantId}/members/{principalId}  tenantMemberPut     tenant admin
 *   DELETE /api/tenants/{tenantId}/members/{principalId}  tenantMemberDelete  tenant admin
 *
 * Handlers load on first use (see shared/registrar.ts).
 */
import type { Kernel } from '../../shared/kernel.js';
import type { Registrar } from '../../shared/registrar.js';

const h = (k: Kernel) => import('./handlers.js').then((m) => m.tenantHandlers(k));

export function register(r: Registrar): void {
  r.http('tenantCreate', 'POST', 'tenants', async (k) => (await h(k)).create);
  r.http('tenantList', 'GET', 'tenants', async (k) => (await h(k)).list);
  r.http('tenantGet', 'GET', 'tenants/{tenantId}', async (k) => (await h(k)).get);
  r.http('tenantPatch', 'PATCH', 'tenants/{tenantId}', async (k) => (await h(k)).patch);
  r.http('tenantMemberList', 'GET', 'tenants/{tenantId}/members', async (k) => (await h(k)).listMembers);
  r.http('tenantMemberPut', 'PUT', 'tenants/{tenantId}/members/{principalId}', async (k) => (await h(k)).putMember);
  r.http('tenantMemberDelete', 'DELETE', 'tenants/{tenantId}/members/{principalId}', async (k) => (await h(k)).deleteMember);
}
