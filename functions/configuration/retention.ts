/**
 * Retention of runtime configuration (storage map row "Runtime configuration": all versions kept
 * `storageMap.configuration.retentionDays`, 1 year): versions published before *now − 1 year* (the
 * kernel's clock) are deleted, except the latest version of each configuration, which stays
 * whatever its age (it is what runs). Consumers not seen for as long are forgotten too. Tenant by
 * tenant, each in its own scoped transactions in its own database, in bounded batches.
 */
import type { InvocationContext, Timer } from '@azure/functions';
import type { Kernel } from '../../shared/kernel.js';
import { storageMap } from '../../shared/storage-map.js';
import { deleteInBatches, sweepTenants, type TenantFailure } from '../../shared/tenant-sweep.js';
import type { TenantsApi } from '../tenants/api.js';
import * as store from './store.js';
import { CONFIGURATION_SQL } from './sql.js';

const DAY_MS = 24 * 60 * 60 * 1000;
/** Days a version is kept (unless it is its configuration's latest): the storage map's figure. */
export const RETENTION_DAYS = storageMap.configuration.retentionDays;

/** Knobs of one run; defaults suit the daily timer. */
export interface RetentionOptions {
  /** Rows deleted per transaction. Default 500. */
  batchSize?: number;
  /** Batches per tenant per run, so one large tenant cannot hold the timer. Default 20. */
  maxBatchesPerTenant?: number;
  /** Only these tenants (default: every tenant the tenants service lists). */
  tenantIds?: string[];
  log?: (message: string) => void;
}

/** What a run did. */
export interface RetentionSummary {
  /** Versions published before this instant were due. */
  cutoff: string;
  tenants: number;
  versionsDeleted: number;
  consumersDeleted: number;
  /** Tenants whose run stopped at the batch limit (the rest is left for the next run). */
  unfinished: string[];
  failures: TenantFailure[];
}

/** Builds the retention run. */
export function createRetention(deps: { kernel: Kernel; tenants: Pick<TenantsApi, 'listTenants'> }): (opts?: RetentionOptions) => Promise<RetentionSummary> {
  const { kernel } = deps;
  return async (opts = {}) => {
    const batchSize = opts.batchSize ?? 500;
    const maxBatches = opts.maxBatchesPerTenant ?? 20;
    const log = opts.log ?? (() => undefined);
    const cutoff = new Date(kernel.now().getTime() - RETENTION_DAYS * DAY_MS);
    const summary: RetentionSummary = { cutoff: cutoff.toISOString(), tenants: 0, versionsDeleted: 0, consumersDeleted: 0, unfinished: [], failures: [] };
    const { tenants, failures } = await sweepTenants(deps.tenants, { ...opts, log, label: 'configuration retention' }, async (tenant) => {
      const run = <T>(fn: (trx: store.Tx) => Promise<T>) => kernel.sql.run(tenant, CONFIGURATION_SQL, fn);
      // One budget of batches per tenant, shared by the versions and then the consumers.
      const counted = (count: (n: number) => void, delete_: () => Promise<number>) => async () => {
        const n = await delete_();
        count(n);
        return n;
      };
      const versions = await deleteInBatches(
        counted(
          (n) => (summary.versionsDeleted += n),
          () => run(async (trx) => store.deleteVersions(trx, tenant.tenantId, await store.expiredVersions(trx, tenant.tenantId, cutoff, batchSize))),
        ),
        batchSize,
        maxBatches,
      );
      // The versions took one batch per full batch (the short last one is not counted).
      const left = maxBatches - Math.floor(versions.deleted / batchSize);
      const consumers = versions.unfinished
        ? { deleted: 0, unfinished: true }
        : await deleteInBatches(
            counted((n) => (summary.consumersDeleted += n), () => run((trx) => store.deleteStaleConsumers(trx, tenant.tenantId, cutoff, batchSize))),
            batchSize,
            left,
          );
      if (consumers.unfinished) summary.unfinished.push(tenant.tenantId);
    });
    summary.tenants = tenants;
    summary.failures = failures;
    return summary;
  };
}

/** The timer's handler: one run with the defaults, logged. */
export function retentionTimerHandler(retention: (opts?: RetentionOptions) => Promise<RetentionSummary>) {
  return async (_timer: Timer, context: InvocationContext): Promise<RetentionSummary> => {
    const s = await retention({ log: (m) => context.warn(m) });
    context.log(
      `configuration retention (published before ${s.cutoff}, latest versions kept): ${s.tenants} tenants, ` +
        `${s.versionsDeleted} versions and ${s.consumersDeleted} stale consumers deleted, ${s.unfinished.length} tenants left for the next run, ${s.failures.length} tenant failures`,
    );
    if (s.failures.length > 0) context.error(`configuration retention failed for tenants: ${s.failures.map((f) => f.tenantId).join(', ')}`);
    return s;
  };
}
