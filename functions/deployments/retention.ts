/**
 * Retention of deployment history: records created more than `storageMap.deployments.retentionDays`
 * (365) days ago by the kernel's clock are deleted, tenant by tenant, in bounded batches (each its
 * own transaction in the tenant's database), with their transitions, steps and artifact rows; then
 * their blobs (`<tenantId>/<deploymentId>/…`). Records go first, so no record ever names a missing
 * blob; a blob whose delete fails is left to the container's lifecycle rule (it deletes blobs at the
 * same age, the storage map's `deploymentArtifacts.retentionDays`) and logged.
 */
import type { InvocationContext, Timer } from '@azure/functions';
import type { Kernel } from '../../shared/kernel.js';
import { deleteInBatches, sweepTenants, type TenantFailure } from '../../shared/tenant-sweep.js';
import { storageMap } from '../../shared/storage-map.js';
import type { TenantsApi } from '../tenants/api.js';
import { deploymentPrefix, type ArtifactBlobs } from './blobs.js';
import * as store from './store.js';
import { DEPLOYMENTS_SQL } from './sql.js';

const DAY_MS = 24 * 60 * 60 * 1000;
/** Days a deployment record is kept: the storage map's figure. */
export const DEPLOYMENT_RETENTION_DAYS = storageMap.deployments.retentionDays;

/** Knobs of one run; defaults suit the daily timer. */
export interface RetentionOptions {
  /** Deployments deleted per transaction. Default 500. */
  batchSize?: number;
  /** Batches per tenant per run, so one large tenant cannot hold the timer. Default 20. */
  maxBatchesPerTenant?: number;
  tenantIds?: string[];
  log?: (message: string) => void;
}

/** What a run did. */
export interface RetentionSummary {
  cutoff: string;
  tenants: number;
  deleted: number;
  blobsDeleted: number;
  /** Deployments whose blobs could not be deleted (left to the lifecycle rule). */
  blobFailures: number;
  failures: TenantFailure[];
}

/** Builds the retention run. */
export function createRetention(deps: { kernel: Kernel; tenants: Pick<TenantsApi, 'listTenants'>; blobs: ArtifactBlobs }) {
  const { kernel, blobs } = deps;
  return async (opts: RetentionOptions = {}): Promise<RetentionSummary> => {
    const batchSize = opts.batchSize ?? 500;
    const maxBatches = opts.maxBatchesPerTenant ?? 20;
    const log = opts.log ?? (() => undefined);
    const cutoff = new Date(kernel.now().getTime() - DEPLOYMENT_RETENTION_DAYS * DAY_MS);
    const summary: RetentionSummary = { cutoff: cutoff.toISOString(), tenants: 0, deleted: 0, blobsDeleted: 0, blobFailures: 0, failures: [] };
    const { tenants, failures } = await sweepTenants(deps.tenants, { ...opts, log, label: 'deployment retention' }, async (tenant) => {
      // Records first (in the batch's transaction), then their blobs: a blob whose delete fails is
      // logged and left to the container's lifecycle rule, never a record pointing at nothing.
      const batch = async () => {
        const gone = await kernel.sql.run(tenant, DEPLOYMENTS_SQL, async (trx) => {
          const rows = await store.expired(trx, tenant.tenantId, cutoff, batchSize);
          await store.deleteDeployments(trx, tenant.tenantId, rows.map((r) => r.id));
          return rows;
        });
        summary.deleted += gone.length;
        for (const d of gone) {
          try {
            summary.blobsDeleted += await blobs.deletePrefix(deploymentPrefix(tenant.tenantId, d.id));
          } catch (e) {
            summary.blobFailures++;
            log(`deployment retention: blobs of ${tenant.tenantId}/${d.id} not deleted (left to the lifecycle rule): ${e instanceof Error ? e.message : String(e)}`);
          }
        }
        return gone.length;
      };
      await deleteInBatches(batch, batchSize, maxBatches);
    });
    summary.tenants = tenants;
    summary.failures = failures;
    return summary;
  };
}

/** The timer's handler: one run with the defaults, logged. */
export function retentionTimerHandler(run: (opts?: RetentionOptions) => Promise<RetentionSummary>) {
  return async (_timer: Timer, context: InvocationContext): Promise<RetentionSummary> => {
    const s = await run({ log: (m) => context.warn(m) });
    context.log(
      `deployment retention (created before ${s.cutoff}): ${s.tenants} tenants, ${s.deleted} deployments and ${s.blobsDeleted} blobs deleted, ` +
        `${s.blobFailures} blob deletes left to the lifecycle rule, ${s.failures.length} tenant failures`,
    );
    if (s.failures.length > 0) context.error(`deployment retention failed for tenants: ${s.failures.map((f) => f.tenantId).join(', ')}`);
    return s;
  };
}
