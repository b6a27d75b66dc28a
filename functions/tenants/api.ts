/**
 * The tenants service's public in-process contract. Other services reach tenants only through
 * this module: the access check the HTTP pipeline runs on every tenant-scoped request, and the
 * tenant list maintenance timers iterate.
 */
import { perKernel, type Kernel } from '../../shared/kernel.js';
import type { Principal } from '../../shared/auth/authenticate.js';
import type { TenantAccess, TenantAccessPort } from '../../shared/http/pipeline.js';
import type { Kysely } from 'kysely';
import type { Placement } from '../../shared/sql/database.js';
import * as store from './store.js';
import { TENANTS_SQL, toAccess } from './service.js';

export type { TenantAccess, TenantQuotas } from '../../shared/http/pipeline.js';

/** What other services may ask of the tenants service. */
export interface TenantsApi extends TenantAccessPort {
  /** Every tenant (active and suspended) with its placement, page by page; for maintenance timers. */
  listTenants(): AsyncGenerator<{ tenantId: string; placement: Placement; status: 'active' | 'suspended' }>;
  /** Drops cached access for a tenant on this instance (after its binding or members changed). */
  invalidate(tenantId: string): void;
}

const MAX_CACHE_ENTRIES = 10_000;

/** The tenants API of this app instance (one per kernel, so its cache is shared by every caller). */
export const tenantsApi = perKernel((kernel) => createTenantsApi(kernel));

/**
 * Builds the API. Access answers are cached per (principal, tenant) for `TENANT_CACHE_TTL_MS`
 * (default 5 s): a removed member or a suspension is seen by every instance within that time, and
 * at once by the instance that made the change.
 */
function createTenantsApi(kernel: Kernel): TenantsApi {
  const cache = new Map<string, { value: TenantAccess | null; expires: number }>();
  const ttl = kernel.settings.tenantCacheTtlMs;
  const pooled = { model: 'pooled' } as const;

  // One round trip: the tenant row and the caller's membership, read in the tenant's own scope.
  const load = async (principal: Principal, tenantId: string) => {
    const [row] = await kernel.sql.read({ tenantId, placement: pooled }, TENANTS_SQL, (db: Kysely<store.TenantsDb>) =>
      store.selectTenantWithRole(db, tenantId, principal.id),
    );
    return row ? toAccess(row, principal, row.role) : null;
  };

  return {
    async resolve(principal, tenantId) {
      if (ttl === 0) return load(principal, tenantId);
      const key = `${tenantId}\u0001${principal.id}\u0001${principal.isPlatformAdmin ? 1 : 0}`;
      const now = Date.now();
      const hit = cache.get(key);
      if (hit && hit.expires > now) return hit.value;
      const value = await load(principal, tenantId);
      if (cache.size >= MAX_CACHE_ENTRIES) cache.clear();
      cache.set(key, { value, expires: now + ttl });
      return value;
    },
    invalidate(tenantId) {
      for (const key of cache.keys()) if (key.startsWith(`${tenantId}\u0001`)) cache.delete(key);
    },
    async *listTenants() {
      let after: string | undefined;
      for (;;) {
        const rows = await kernel.sql.read({ platform: true, placement: pooled }, TENANTS_SQL, (db: Kysely<store.TenantsDb>) =>
          store.selectTenants(db, { limit: 200, ...(after !== undefined ? { after } : {}) }),
        );
        for (const r of rows) {
          yield {
            tenantId: r.tenant_id,
            status: r.status,
            placement: r.silo_database ? { model: 'siloed', database: r.silo_database } : pooled,
          };
        }
        if (rows.length < 200) return;
        after = rows.at(-1)?.tenant_id;
      }
    },
  };
}
