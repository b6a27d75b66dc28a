/**
 * The scaling service's public in-process contract. Each call runs its own tenant-scoped
 * transaction as `rp_scaling` in the tenant's database. It also plugs the service into the
 * catalog: the fact sheet's `scaling` part, and a reference check that keeps the purge from
 * deleting a service whose policy is still in force.
 */
import type { Kernel } from '../../shared/kernel.js';
import type { TenantRef } from '../../shared/sql/service-db.js';
import type { CatalogApi } from '../catalog/api.js';
import type { TenantsApi } from '../tenants/api.js';
import { activePause } from './render.js';
import { createRetention, type RetentionOptions, type RetentionSummary } from './retention.js';
import { SCALING_SQL } from './sql.js';
import * as store from './store.js';

/** What most recently changed something of an environment/service (drift's "likely cause"). */
export interface ChangeRef {
  kind: 'deployment' | 'configuration' | 'rotation' | 'scaling';
  id: string;
  at: Date;
  serviceId?: string;
  environmentId: string;
}

/** The current policy as an evaluator needs it. */
export interface CurrentPolicy {
  policyId: string;
  version: number;
  minReplicas: number;
  maxReplicas: number;
  /** When the pause in force ends; null when none is (an ended pause reads as null, with no write). */
  pausedUntil: Date | null;
}

/**
 * Where the deployment running a service comes from (the deployments service's `currentDeployment`).
 * The deployments service comes after this one in the service list, so it is plugged in rather than
 * needed: until it is, scaling events carry the deployment their caller names, or none.
 */
export interface DeploymentSource {
  currentDeployment(tenant: TenantRef, environmentId: string, serviceId: string): Promise<{ deploymentId: string; finishedAt: Date } | undefined>;
}

/** What other services may ask of the scaling service. */
export interface ScalingApi {
  /** The service's policy in force, or `undefined` when it has none (or it was deleted). */
  currentPolicy(tenant: TenantRef, environmentId: string, serviceId: string): Promise<CurrentPolicy | undefined>;
  /** The newest policy version or scaling event of the environment (or one service) at or before `before`. */
  lastChangeBefore(tenant: TenantRef, environmentId: string, serviceId: string | undefined, before: Date): Promise<ChangeRef | undefined>;
  /** Plugs in where scaling events learn the deployment running at the time (one source). */
  setDeploymentSource(source: DeploymentSource): void;
}

/** What the scaling service needs from others. */
export interface ScalingNeeds {
  tenants: Pick<TenantsApi, 'listTenants'>;
  catalog: Pick<CatalogApi, 'getService' | 'requireService' | 'liveServiceCheck' | 'addFactProvider' | 'addReferenceChecker'>;
}

/** The scaling service of one app instance. */
export interface ScalingInstance {
  api: ScalingApi;
  catalog: ScalingNeeds['catalog'];
  /** The deployment source, once plugged in. */
  deployments: () => DeploymentSource | undefined;
  /** One retention run over every tenant (what the daily timer runs). */
  retention: (opts?: RetentionOptions) => Promise<RetentionSummary>;
}

/** Builds the service and plugs it into the catalog. */
export function createScaling(kernel: Kernel, deps: ScalingNeeds): ScalingInstance {
  let deployments: DeploymentSource | undefined;
  const run = <T>(tenant: TenantRef, fn: (trx: store.Tx) => Promise<T>) => kernel.sql.run(tenant, SCALING_SQL, fn);

  const api: ScalingApi = {
    async currentPolicy(tenant, environmentId, serviceId) {
      const [row] = await kernel.sql.read(tenant, SCALING_SQL, (db) => store.selectLatest(db, tenant.tenantId, environmentId, serviceId));
      if (!row || row.deleted || !row.spec) return undefined;
      const pause = activePause(row.spec, kernel.now());
      return {
        policyId: row.policy_id,
        version: row.version,
        minReplicas: row.min_replicas ?? row.spec.minReplicas,
        maxReplicas: row.max_replicas ?? row.spec.maxReplicas,
        pausedUntil: pause ? new Date(pause.until) : null,
      };
    },
    async lastChangeBefore(tenant, environmentId, serviceId, before) {
      const [version, event] = await run(tenant, async (trx) => [
        await store.lastVersionBefore(trx, tenant.tenantId, environmentId, serviceId, before),
        await store.lastEventBefore(trx, tenant.tenantId, environmentId, serviceId, before),
      ] as const);
      const fromVersion = version && { kind: 'scaling' as const, id: `${version.policy_id}@${version.version}`, at: version.created_at, serviceId: version.service_id, environmentId };
      const fromEvent = event && { kind: 'scaling' as const, id: event.id, at: event.at, serviceId: event.service_id, environmentId };
      if (!fromVersion) return fromEvent;
      if (!fromEvent) return fromVersion;
      return fromEvent.at.getTime() > fromVersion.at.getTime() ? fromEvent : fromVersion;
    },
    setDeploymentSource(source) {
      if (deployments) throw new Error('A deployment source is already plugged into the scaling service');
      deployments = source;
    },
  };

  deps.catalog.addFactProvider('scaling', 'scaling', async (tenant, service) => {
    const p = await api.currentPolicy(tenant, service.environmentId, service.serviceId);
    return p ? { policyId: p.policyId, version: p.version, minReplicas: p.minReplicas, maxReplicas: p.maxReplicas, pausedUntil: p.pausedUntil?.toISOString() ?? null } : null;
  });
  deps.catalog.addReferenceChecker('scaling', async (tenant, serviceIds) => {
    const active = await run(tenant, (trx) => store.activePolicies(trx, tenant.tenantId, serviceIds));
    return new Map(active.map((p) => [p.service_id, [`scaling policy ${p.policy_id} (version ${p.version}) is in force; delete it to let the service go`]]));
  });

  const retention = createRetention({ kernel, tenants: deps.tenants });
  return { api, catalog: deps.catalog, deployments: () => deployments, retention };
}
