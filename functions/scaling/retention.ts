/**
 * Retention of scaling history (storage map row "Scaling policies & history"): scaling events that
 * happened more than `storageMap.scaling.retentionDays` ago (by the kernel's clock), and policy
 * versions a newer version replaced that long ago, are deleted tenant by tenant, each tenant in
 * its own database and its own bounded transactions. A service's newest version (its policy, or
 * its deletion) is never deleted. A tenant that fails is reported and the others go on.
 */
import type { InvocationContext, Timer } from '@azure/functions';
import type { Kernel } from '../../shared/kernel.js';
import { deleteInBatches, sweepTenants, type TenantFailure } from '../../shared/tenant-sweep.js';
import type { TenantsApi } from '../tenants/api.js';
import { SCALING_RETENTION_DAYS } from './service.js';
import { SCALING_SQL } from './sql.js';
import * as store from './store.js';

/** Knobs of one run; defaults suit the daily timer. */
export interface RetentionOptions {
  /** Rows deleted per transaction. Default 5,000. */
  batchSize?: number;
  /** Batches per tenant per run, so one large tenant cannot hold the timer (the rest waits a day). Default 50. */
  maxBatchesPerTenant?: number;
  /** Only these tenants (default: every tenant). */
  tenantIds?: string[];
}

/** What a run did. */
export interface RetentionSummary {
  /** Events at or after this instant were kept. */
  cutoff: string;
  tenants: number;
  events: number;
  versions: number;
  failures: TenantFailure[];
}

export interface RetentionDeps {
  kernel: Kernel;
  tenants: Pick<TenantsApi, 'listTenants'>;
}

/** Builds the retention run. */
export function createRetention({ kernel, tenants }: RetentionDeps): (opts?: RetentionOptions) => Promise<RetentionSummary> {
  return async (opts = {}) => {
    const batch = opts.batchSize ?? 5_000;
    const maxBatches = opts.maxBatchesPerTenant ?? 50;
    const cutoff = new Date(kernel.now().getTime() - SCALING_RETENTION_DAYS * 86_400_000);
    const summary: RetentionSummary = { cutoff: cutoff.toISOString(), tenants: 0, events: 0, versions: 0, failures: [] };
    const { tenants: visited, failures } = await sweepTenants(tenants, { ...opts, label: 'scaling retention' }, async (tenant) => {
      for (const [key, drop] of [
        ['events', store.deleteEventsBefore],
        ['versions', store.deleteVersionsSupersededBefore],
      ] as const) {
        const once = async () => {
          const n = await kernel.sql.run(tenant, SCALING_SQL, (trx) => drop(trx, tenant.tenantId, cutoff, batch));
          summary[key] += n;
          return n;
        };
        await deleteInBatches(once, batch, maxBatches);
      }
    });
    summary.tenants = visited;
    summary.failures = failures;
    return summary;
  };
}

/** The timer's handler: one run with the defaults, logged. */
export function retentionTimerHandler(run: (opts?: RetentionOptions) => Promise<RetentionSummary>) {
  return async (_timer: Timer, context: InvocationContext): Promise<RetentionSummary> => {
    const s = await run();
    context.log(`scaling retention (before ${s.cutoff}): ${s.tenants} tenants, ${s.events} events and ${s.versions} replaced policy versions deleted, ${s.failures.length} tenant failures`);
    for (const f of s.failures) context.error(`scaling retention failed for tenant ${f.tenantId}: ${f.message}`);
    return s;
  };
}
