/**
 * The environments service's public in-process contract. Other services reach environments only
 * through this module. Each call runs its own tenant-scoped transaction as `rp_environments` in
 * the tenant's database: a caller's transaction runs as the caller's role and cannot read this
 * service's schema (the boundary is enforced by the database, not only by the code).
 */
import type { Kernel } from '../../shared/kernel.js';
import type { TenantRef } from '../../shared/sql/service-db.js';
import * as store from './store.js';
import { RetireListeners, type EnvironmentRetiredListener } from './service.js';
import { ENVIRONMENTS_SQL } from './sql.js';
import type { StorageTopologyDto } from './schemas.js';

export type { EnvironmentRetiredListener } from './service.js';
export type { StorageTopologyDto as StorageTopology } from './schemas.js';
export { environmentRetired } from './errors.js';

/** What other services may know of an environment. */
export interface EnvironmentSummary {
  id: string;
  name: string;
  kind: 'dev' | 'test' | 'staging' | 'prod';
  region: string;
  status: 'active' | 'retired';
  retiredAt: Date | null;
}

/** What other services may ask of the environments service. */
export interface EnvironmentsApi {
  /** The environment in the tenant, or `undefined` when it does not exist there (other tenants' look absent). */
  getEnvironment(tenant: TenantRef, environmentId: string): Promise<EnvironmentSummary | undefined>;
  /** The storage topology the environment declares (for the drift worker), or `undefined` when absent. */
  getStorageTopology(tenant: TenantRef, environmentId: string): Promise<StorageTopologyDto | undefined>;
  /** Every live (not retired) environment of the tenant, in id order, page by page (the drift worker's fan-out). */
  listEnvironments(tenant: TenantRef): AsyncGenerator<EnvironmentSummary>;
  /** Every retired environment of the tenant, in id order, page by page. */
  listRetiredEnvironments(tenant: TenantRef): AsyncGenerator<{ id: string; retiredAt: Date }>;
  /**
   * Runs `listener` after an environment is retired (and again on every retried retire of it, so
   * listeners must be idempotent). A service that keeps data per environment plugs in here.
   */
  onEnvironmentRetired(listener: EnvironmentRetiredListener): void;
}

/** The environments service of one app instance: its API, and the retire listeners its handlers notify. */
export interface EnvironmentsInstance {
  api: EnvironmentsApi;
  listeners: RetireListeners;
}

const PAGE = 500;

/** Builds the service. */
export function createEnvironments(kernel: Kernel): EnvironmentsInstance {
  const listeners = new RetireListeners();
  const run = <T>(tenant: TenantRef, fn: (trx: store.Tx) => Promise<T>) => kernel.sql.run(tenant, ENVIRONMENTS_SQL, fn);

  const api: EnvironmentsApi = {
    async getEnvironment(tenant, environmentId) {
      // One round trip: other services ask this before their writes.
      const [r] = await kernel.sql.read(tenant, ENVIRONMENTS_SQL, (db) => store.selectEnvironment(db, tenant.tenantId, environmentId));
      return r
        ? { id: r.id, name: r.name, kind: r.kind, region: r.region, status: r.retired_at ? 'retired' : 'active', retiredAt: r.retired_at }
        : undefined;
    },
    async getStorageTopology(tenant, environmentId) {
      const r = await run(tenant, (trx) => store.getEnvironment(trx, tenant.tenantId, environmentId));
      return r?.storage_topology;
    },
    async *listEnvironments(tenant) {
      let after: string | undefined;
      for (;;) {
        const rows = await run(tenant, (trx) => store.listLive(trx, tenant.tenantId, after, PAGE));
        for (const r of rows) yield { id: r.id, name: r.name, kind: r.kind, region: r.region, status: 'active', retiredAt: null };
        if (rows.length < PAGE) return;
        after = rows.at(-1)?.id;
      }
    },
    async *listRetiredEnvironments(tenant) {
      let after: string | undefined;
      for (;;) {
        const rows = await run(tenant, (trx) => store.listRetired(trx, tenant.tenantId, after, PAGE));
        for (const r of rows) if (r.retired_at) yield { id: r.id, retiredAt: r.retired_at };
        if (rows.length < PAGE) return;
        after = rows.at(-1)?.id;
      }
    },
    onEnvironmentRetired(listener) {
      listeners.add(listener);
    },
  };
  return { api, listeners };
}
