/**
 * The health service's public in-process contract. Other services reach health results only
 * through this module; each call runs its own tenant-scoped read as `rp_health` in the tenant's
 * database. `createHealth` also plugs the `health` part of the catalog's fact sheet in.
 */
import type { Kernel } from '../../shared/kernel.js';
import { TenantRateLimiter } from '../../shared/http/rate-limit.js';
import type { TenantRef } from '../../shared/sql/service-db.js';
import type { CatalogApi } from '../catalog/api.js';
import type { EnvironmentsApi } from '../environments/api.js';
import type { TenantsApi } from '../tenants/api.js';
import { runRetention, type RetentionSummary } from './retention.js';
import type { HealthStatusValue } from './schemas.js';
import { KnownPartitions } from './service.js';
import { HEALTH_SQL } from './sql.js';
import * as store from './store.js';

/** A service's current health as other services see it. */
export interface LatestStatus {
  status: HealthStatusValue;
  /** The newest result's observation time. */
  observedAt: Date;
  /** Since when the service has had this status. */
  changedAt: Date;
  /** The newest result's (redacted) excerpt, if it had one. */
  message?: string;
}

/** What other services may ask of the health service. */
export interface HealthApi {
  /** The service's latest status, or `undefined` when it has no result in the retention window (or is not the tenant's). */
  latestStatus(tenant: TenantRef, environmentId: string, serviceId: string): Promise<LatestStatus | undefined>;
}

/** What the health service needs from other services. */
export interface HealthNeeds {
  tenants: Pick<TenantsApi, 'listTenants'>;
  environments: Pick<EnvironmentsApi, 'getEnvironment'>;
  catalog: Pick<CatalogApi, 'getService' | 'requireService' | 'getServices' | 'addFactProvider'>;
}

/** The health service of one app instance: its API, what its handlers use, and its retention run. */
export interface HealthInstance {
  api: HealthApi;
  needs: HealthNeeds;
  /** The per-instance bucket of the tenant quota `healthResultsPerMinute`. */
  limiter: TenantRateLimiter;
  /** The partitions this instance has seen exist. */
  partitions: KnownPartitions;
  /** One retention run over every database and tenant (what the daily timer runs). */
  retention(): Promise<RetentionSummary>;
}

/** Builds the service and plugs the `health` fact-sheet part into the catalog. */
export function createHealth(kernel: Kernel, needs: HealthNeeds): HealthInstance {
  const api: HealthApi = {
    async latestStatus(tenant, environmentId, serviceId) {
      const [row] = await kernel.sql.read(tenant, HEALTH_SQL, (db) => store.selectLatest(db, tenant.tenantId, serviceId));
      if (!row || row.environment_id !== environmentId) return undefined;
      return { status: row.status, observedAt: row.observed_at, changedAt: row.changed_at, ...(row.message !== null ? { message: row.message } : {}) };
    },
  };
  needs.catalog.addFactProvider('health', 'health', async (tenant, service) => {
    const s = await api.latestStatus(tenant, service.environmentId, service.serviceId);
    if (!s) return null;
    return { status: s.status, checkedAt: s.observedAt.toISOString(), changedAt: s.changedAt.toISOString(), ...(s.message !== undefined ? { message: s.message } : {}) };
  });
  return {
    api,
    needs,
    limiter: new TenantRateLimiter(),
    partitions: new KnownPartitions(kernel.now),
    retention: () => runRetention({ sql: kernel.sql, now: kernel.now(), tenants: needs.tenants }),
  };
}
