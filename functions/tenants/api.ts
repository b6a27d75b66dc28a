/**
 * The tenants service's public in-process contract. Other services reach tenants only through
 * this module: the access check the HTTP pipeline runs on every tenant-scoped request, the tenant
 * list maintenance timers iterate, and the quota set every tenant carries.
 */
import type { Kernel } from '../../shared/kernel.js';
import type { Principal } from '../../shared/auth/authenticate.js';
import type { TenantAccess, TenantAccessPort } from '../../shared/http/route.js';
import type { Placement } from '../../shared/sql/service-db.js';
import * as store from './store.js';
import { toAccess } from './service.js';
import { TENANTS_SQL } from './sql.js';
import { tenantSchemas, type QuotaCatalog, type TenantSchemas } from './schemas.js';

export type { TenantAccess, TenantQuotas } from '../../shared/http/route.js';
export type { QuotaCatalog } from './schemas.js';

/** What other services may ask of the tenants service. */
export interface TenantsApi extends TenantAccessPort {
  /** Every tenant (active and suspended) with its placement, page by page; for maintenance timers. */
  listTenants(): AsyncGenerator<{ tenantId: string; placement: Placement; status: 'active' | 'suspended' }>;
  /** Drops cached access for a tenant on this instance (after its binding or members changed). */
  invalidate(tenantId: string): void;
  /** The quota schema (zod) and defaults every tenant carries. */
  quotas: Pick<TenantSchemas, 'Quotas' | 'defaults'>;
}

/** The tenants service of one app instance: its API, and the schemas its handlers use. */
export interface TenantsInstance {
  api: TenantsApi;
  schemas: TenantSchemas;
}

const MAX_CACHE_ENTRIES = 10_000;

/**
 * Builds the service. Access answers are cached per (principal, tenant) for `TENANT_CACHE_TTL_MS`
 * (default 5 s): a removed member or a suspension is seen by every instance within that time, and
 * at once by the instance that made the change. `resolve(…, { fresh: true })` reads the database
 * (and refreshes the entry): routes that change access ask that way, so a member removed on one
 * instance can read on another for at most the TTL, but never use its stale access to change
 * memberships or roles.
 */
export function createTenants(kernel: Kernel, quotaCatalog: QuotaCatalog): TenantsInstance {
  const schemas = tenantSchemas(quotaCatalog);
  const cache = new Map<string, { value: TenantAccess | null; expires: number }>();
  const ttl = kernel.settings.tenantCacheTtlMs;
  const pooled = { model: 'pooled' } as const;

  // One round trip: the tenant row and the caller's membership, read in the tenant's own scope.
  const load = async (principal: Principal, tenantId: string) => {
    const [row] = await kernel.sql.read({ tenantId, placement: pooled }, TENANTS_SQL, (db) => store.selectTenantWithRole(db, tenantId, principal.id));
    return row ? toAccess(row, principal, row.role, schemas.defaults) : null;
  };

  const api: TenantsApi = {
    quotas: schemas,
    async resolve(principal, tenantId, opts) {
      if (ttl === 0) return load(principal, tenantId);
      const key = `${tenantId}\u0001${principal.id}\u0001${principal.isPlatformAdmin ? 1 : 0}`;
      const now = Date.now();
      const hit = opts?.fresh ? undefined : cache.get(key);
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
        const rows = await kernel.sql.read({ platform: true, placement: pooled }, TENANTS_SQL, (db) =>
          store.selectTenants(db, { limit: 200, ...(after !== undefined ? { after } : {}) }),
        );
        for (const r of rows) {
          yield { tenantId: r.tenant_id, status: r.status, placement: r.silo_database ? { model: 'siloed', database: r.silo_database } : pooled };
        }
        if (rows.length < 200) return;
        after = rows.at(-1)?.tenant_id;
      }
    },
  };
  return { api, schemas };
}
