/**
 * The drift service's public in-process contract and its factory. It plugs the catalog's `drift`
 * fact (open findings of a service, by severity) and builds the ports its scans use: the desired
 * state's sources (sources.ts), the actual state's sources (actual.ts) and the snapshot store
 * (snapshots.ts).
 */
import type { InvocationContext } from '@azure/functions';
import type { Kernel } from '../../shared/kernel.js';
import type { OrchestrationPort } from '../../shared/orchestration.js';
import type { TenantRef } from '../../shared/sql/service-db.js';
import { storageMap } from '../../shared/storage-map.js';
import { deleteInBatches, sweepTenants } from '../../shared/tenant-sweep.js';
import { agentObservations, storageTopologySource } from './actual.js';
import { SEVERITIES, type Severity } from './diff.js';
import type { ScanPorts } from './scan.js';
import { cosmosSnapshots, kernelSnapshotContainer } from './snapshots.js';
import type { DriftNeeds } from './sources.js';
import * as store from './store.js';
import { DRIFT_SQL } from './sql.js';

export type { ChangeRef, DriftNeeds } from './sources.js';

/** What other services may ask of the drift service. */
export interface DriftApi {
  /** Open findings of a service, counted by severity. */
  openFindingsBySeverity(tenant: TenantRef, serviceId: string): Promise<Record<Severity, number>>;
}

/** The drift service of one app instance. */
export interface DriftInstance {
  api: DriftApi;
  /** What scans use; a test may replace the snapshot store or the actual-state sources with adapters of its own. */
  ports: ScanPorts;
  /**
   * The orchestration port of an invocation: Durable Functions where the invocation has the durable
   * client binding (in Azure and on the local host always), `undefined` outside any Functions host.
   */
  orchestrations(invocation: InvocationContext): Promise<OrchestrationPort | undefined>;
  /** One retention run over every tenant (what the daily timer runs). */
  purgeResolved(log?: (m: string) => void): Promise<{ cutoff: string; tenants: number; deleted: number; failures: string[] }>;
}

const DAY_MS = 86_400_000;
/** Resolved findings are kept this long (the storage map's figure); open ones indefinitely. */
export const RESOLVED_RETENTION_DAYS = storageMap.driftFindings.retentionDays;
const PURGE_BATCH = 1_000;
/** Batches per tenant per purge run (the rest waits for the next run). */
const PURGE_MAX_BATCHES = 500;

/** Builds the service and plugs its fact provider into the catalog. */
export function createDrift(kernel: Kernel, deps: DriftNeeds): DriftInstance {
  const run = <T>(tenant: TenantRef, fn: (trx: store.Tx) => Promise<T>) => kernel.sql.run(tenant, DRIFT_SQL, fn);

  const ports: ScanPorts = {
    kernel,
    deps,
    actualSources: [agentObservations(kernel), storageTopologySource(kernel)],
    snapshots: cosmosSnapshots(kernelSnapshotContainer(kernel)),
    log: (m) => console.warn(m),
  };

  const api: DriftApi = {
    async openFindingsBySeverity(tenant, serviceId) {
      const counts = await run(tenant, (trx) => store.countOpenBySeverity(trx, tenant.tenantId, serviceId));
      return Object.fromEntries(SEVERITIES.map((s) => [s, counts[s] ?? 0])) as Record<Severity, number>;
    },
  };

  deps.catalog.addFactProvider('drift', 'drift', async (tenant, service) => {
    const [bySeverity, rows] = await Promise.all([api.openFindingsBySeverity(tenant, service.serviceId), run(tenant, (trx) => store.openFindingsOfService(trx, tenant.tenantId, service.serviceId, 50))]);
    return {
      openFindings: Object.values(bySeverity).reduce((a, b) => a + b, 0),
      bySeverity,
      findings: rows.map((r) => ({ id: r.id, kind: r.kind, severity: r.severity, path: `${r.resource}${r.path}`, detectedAt: r.created_at.toISOString() })),
    };
  });

  return {
    api,
    ports,
    async orchestrations(invocation) {
      if (!invocation.options.extraInputs.some((i) => i.type === 'durableClient')) return undefined;
      const { durableOrchestrations } = await import('../../shared/orchestration.js');
      return durableOrchestrations(invocation);
    },
    async purgeResolved(log = () => undefined) {
      const cutoff = new Date(kernel.now().getTime() - RESOLVED_RETENTION_DAYS * DAY_MS);
      const out = { cutoff: cutoff.toISOString(), tenants: 0, deleted: 0, failures: [] as string[] };
      const swept = await sweepTenants(deps.tenants, { log, label: 'drift retention' }, async (tenant) => {
        const { deleted } = await deleteInBatches(() => run(tenant, (trx) => store.deleteResolvedBefore(trx, tenant.tenantId, cutoff, PURGE_BATCH)), PURGE_BATCH, PURGE_MAX_BATCHES);
        out.deleted += deleted;
      });
      out.tenants = swept.tenants;
      out.failures = swept.failures.map((f) => f.tenantId);
      return out;
    },
  };
}
