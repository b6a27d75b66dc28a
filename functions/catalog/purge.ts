/**
 * Retention of the catalog: services retired more than `storageMap.inventory.purgeRetiredAfterDays`
 * ago (by the kernel's clock) are deleted, tenant by tenant, in bounded batches, each tenant in its
 * own scoped transactions in its own database. Before a batch is deleted every registered
 * reference checker is asked about it; a service still referenced is skipped and reported (log +
 * a `ServicePurgeSkipped` event), never forced, and is asked about again on the next run.
 *
 * Each tenant's run first repairs retire cascades cut short (an environment retired but its
 * services not: the catalog has no record of the cascade) so nothing stays live in a retired
 * environment for more than a day.
 */
import { sweepTenants, type TenantFailure } from '../../shared/tenant-sweep.js';
import type { InvocationContext, Timer } from '@azure/functions';
import type { Kernel } from '../../shared/kernel.js';
import { emit } from '../../shared/events/outbox.js';
import { storageMap } from '../../shared/storage-map.js';
import type { TenantRef } from '../../shared/sql/service-db.js';
import type { EnvironmentsApi } from '../environments/api.js';
import type { TenantsApi } from '../tenants/api.js';
import type { EnvironmentCascade } from './cascade.js';
import type { CatalogPlugs } from './plugs.js';
import * as store from './store.js';
import { CATALOG_SQL } from './sql.js';

const DAY_MS = 24 * 60 * 60 * 1000;
/** Skipped services listed in a summary (all are logged and get an event). */
export const MAX_REPORTED = 1000;

/** Knobs of one run; defaults suit the daily timer. */
export interface PurgeOptions {
  /** Candidates examined (and at most deleted) per transaction. Default 500. */
  batchSize?: number;
  /** Batches per tenant per run, so one large tenant cannot hold the timer. Default 20. */
  maxBatchesPerTenant?: number;
  /** Only these tenants (default: every tenant the tenants service lists). */
  tenantIds?: string[];
  log?: (message: string) => void;
}

/** One skipped service. */
export interface PurgeSkip {
  tenantId: string;
  environmentId: string;
  serviceId: string;
  reasons: string[];
}

/** What a run did. */
export interface PurgeSummary {
  /** Services retired at or before this instant were due. */
  cutoff: string;
  tenants: number;
  examined: number;
  purged: number;
  /** How many were skipped as still referenced; `skipped` lists the first {@link MAX_REPORTED}. */
  skippedCount: number;
  skipped: PurgeSkip[];
  /** Environments whose cascade the run completed. */
  repairedEnvironments: number;
  /** Tenants whose run failed (the others went on). */
  failures: TenantFailure[];
}

/** The purge's dependencies (all public APIs, plus the catalog's own plug registry and cascade). */
export interface PurgeDeps {
  kernel: Kernel;
  tenants: Pick<TenantsApi, 'listTenants'>;
  environments: Pick<EnvironmentsApi, 'listRetiredEnvironments'>;
  plugs: CatalogPlugs;
  cascade: EnvironmentCascade;
}

/** Days after retirement before a retired service is purged: the storage map's figure. */
export const PURGE_RETIRED_AFTER_DAYS = storageMap.inventory.purgeRetiredAfterDays;

/** Builds the purge run. */
export function createPurge(deps: PurgeDeps): (opts?: PurgeOptions) => Promise<PurgeSummary> {
  const { kernel } = deps;
  return async (opts = {}) => {
    const batchSize = opts.batchSize ?? 500;
    const maxBatches = opts.maxBatchesPerTenant ?? 20;
    const log = opts.log ?? (() => undefined);
    const cutoff = new Date(kernel.now().getTime() - PURGE_RETIRED_AFTER_DAYS * DAY_MS);
    const summary: PurgeSummary = { cutoff: cutoff.toISOString(), tenants: 0, examined: 0, purged: 0, skippedCount: 0, skipped: [], repairedEnvironments: 0, failures: [] };
    const { tenants, failures } = await sweepTenants(deps.tenants, { ...opts, log, label: 'catalog purge' }, async (tenant) => {
      summary.repairedEnvironments += await repairCascades(deps, tenant, log);
      await purgeTenant(deps, tenant, cutoff, batchSize, maxBatches, summary, log);
    });
    summary.tenants = tenants;
    summary.failures = failures;
    return summary;
  };
}

/** The timer's handler: one run with the defaults, logged. */
export function purgeTimerHandler(purge: (opts?: PurgeOptions) => Promise<PurgeSummary>) {
  return async (_timer: Timer, context: InvocationContext): Promise<PurgeSummary> => {
    const s = await purge({ log: (m) => context.warn(m) });
    context.log(
      `catalog purge (retired at or before ${s.cutoff}): ${s.tenants} tenants, ${s.examined} examined, ${s.purged} purged, ` +
        `${s.skippedCount} skipped as still referenced, ${s.repairedEnvironments} environment cascades repaired, ${s.failures.length} tenant failures`,
    );
    if (s.failures.length > 0) context.error(`catalog purge failed for tenants: ${s.failures.map((f) => f.tenantId).join(', ')}`);
    return s;
  };
}

async function repairCascades(deps: PurgeDeps, tenant: TenantRef, log: (m: string) => void): Promise<number> {
  const recorded = await inCatalog(deps.kernel, tenant, (trx) => store.retiredEnvironmentIds(trx, tenant.tenantId));
  let repaired = 0;
  for await (const env of deps.environments.listRetiredEnvironments(tenant)) {
    if (recorded.has(env.id)) continue;
    const n = await deps.cascade(tenant, env.id, env.retiredAt);
    log(`catalog purge: completed the retire cascade of ${tenant.tenantId}/${env.id} (${n} services retired)`);
    repaired++;
  }
  return repaired;
}

async function purgeTenant(
  deps: PurgeDeps,
  tenant: TenantRef,
  cutoff: Date,
  batchSize: number,
  maxBatches: number,
  summary: PurgeSummary,
  log: (m: string) => void,
): Promise<void> {
  const { kernel, plugs } = deps;
  let after: { retiredAt: Date; id: string } | undefined;
  for (let batch = 0; batch < maxBatches; batch++) {
    const candidates = await inCatalog(kernel, tenant, (trx) => store.purgeCandidates(trx, tenant.tenantId, cutoff, after, batchSize));
    if (candidates.length === 0) return;
    const last = candidates.at(-1);
    if (last?.retired_at) after = { retiredAt: last.retired_at, id: last.id };
    summary.examined += candidates.length;

    // Ask every owning service; an unanswered question keeps the whole batch.
    const ids = candidates.map((c) => c.id);
    const reasons = new Map<string, string[]>();
    for (const [owner, check] of plugs.referenceCheckers()) {
      let found: ReadonlyMap<string, readonly string[]>;
      try {
        found = await check(tenant, ids);
      } catch (e) {
        log(`catalog purge: reference check by ${owner} failed for ${tenant.tenantId}: ${e instanceof Error ? e.message : String(e)}`);
        found = new Map(ids.map((id) => [id, ['reference check failed; kept until it answers']]));
      }
      for (const [id, why] of found) {
        if (why.length === 0) continue;
        reasons.set(id, [...(reasons.get(id) ?? []), ...why.map((w) => `${owner}: ${w}`)]);
      }
    }

    const skipped = candidates.filter((c) => reasons.has(c.id));
    const due = candidates.filter((c) => !reasons.has(c.id)).map((c) => c.id);
    const deleted = await inCatalog(kernel, tenant, async (trx) => {
      const gone = await store.deleteRetired(trx, tenant.tenantId, due, cutoff);
      for (const g of gone) {
        await emit(trx, tenant.tenantId, {
          type: 'ServicePurged',
          subject: `tenants/${tenant.tenantId}/environments/${g.environment_id}/services/${g.id}`,
          data: { retainedDays: PURGE_RETIRED_AFTER_DAYS },
        });
      }
      for (const s of skipped) {
        await emit(trx, tenant.tenantId, {
          type: 'ServicePurgeSkipped',
          subject: `tenants/${tenant.tenantId}/environments/${s.environment_id}/services/${s.id}`,
          data: { reasons: reasons.get(s.id) ?? [] },
        });
      }
      return gone.length;
    });
    summary.purged += deleted;
    for (const s of skipped) {
      const why = reasons.get(s.id) ?? [];
      summary.skippedCount++;
      if (summary.skipped.length < MAX_REPORTED) summary.skipped.push({ tenantId: tenant.tenantId, environmentId: s.environment_id, serviceId: s.id, reasons: why });
      log(`catalog purge: kept ${tenant.tenantId}/${s.id} (${s.name}), still referenced: ${why.join('; ')}`);
    }
    if (candidates.length < batchSize) return;
  }
}

function inCatalog<T>(kernel: Kernel, tenant: TenantRef, fn: (trx: store.Tx) => Promise<T>): Promise<T> {
  return kernel.sql.run(tenant, CATALOG_SQL, fn);
}
