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
 */
import type { Kernel, ServiceModule } from '../../shared/kernel.js';
import { createTenantsApi, type TenantsApi } from './api.js';
import { tenantHandlers } from './handlers.js';
import { migrations } from './migrations/index.js';
import { TENANTS_SQL } from './service.js';

/** Registers the tenants functions and wires the kernel's tenant access check to this service. */
export function register(kernel: Kernel): TenantsApi {
  const api = createTenantsApi(kernel);
  kernel.tenantAccess = api;
  const h = tenantHandlers(kernel, api);
  const r = kernel.routes;
  r.define({ name: 'tenantCreate', method: 'POST', route: 'tenants', ...h.create });
  r.define({ name: 'tenantList', method: 'GET', route: 'tenants', ...h.list });
  r.define({ name: 'tenantGet', method: 'GET', route: 'tenants/{tenantId}', ...h.get });
  r.define({ name: 'tenantPatch', method: 'PATCH', route: 'tenants/{tenantId}', ...h.patch });
  r.define({ name: 'tenantMemberList', method: 'GET', route: 'tenants/{tenantId}/members', ...h.listMembers });
  r.define({ name: 'tenantMemberPut', method: 'PUT', route: 'tenants/{tenantId}/members/{principalId}', ...h.putMember });
  r.define({ name: 'tenantMemberDelete', method: 'DELETE', route: 'tenants/{tenantId}/members/{principalId}', ...h.deleteMember });
  return api;
}

export const tenants = { sql: { ...TENANTS_SQL, migrations }, register } satisfies ServiceModule;
