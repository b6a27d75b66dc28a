/**
 * The shape every per-tenant housekeeping run shares (retention timers, purges): visit each tenant
 * the tenants service lists, one at a time, each in its own scoped transactions; a tenant that
 * fails is logged and recorded and never stops the others; deletes go in bounded batches so one
 * large tenant cannot hold the timer. Services keep their own queries and summaries; only the loop
 * lives here.
 */
import type { Placement, TenantRef } from './sql/service-db.js';

/** Where the tenants come from (the tenants service's `listTenants`, structurally). */
export interface TenantSource {
  listTenants(): AsyncIterable<{ tenantId: string; placement: Placement }>;
}

/** A tenant whose work failed, and why (the error's message; never a value it carried). */
export interface TenantFailure {
  tenantId: string;
  message: string;
}

/** What a sweep did over the tenants. */
export interface SweepResult {
  tenants: number;
  failures: TenantFailure[];
}

/**
 * Runs `work` for every tenant `source` lists (only those of `tenantIds` when given), one after
 * another. A failure is logged as `<label>: tenant <id> failed: <message>` and recorded.
 */
export async function sweepTenants(
  source: TenantSource,
  opts: { tenantIds?: readonly string[]; log?: (message: string) => void; label: string },
  work: (tenant: TenantRef) => Promise<void>,
): Promise<SweepResult> {
  const only = opts.tenantIds ? new Set(opts.tenantIds) : undefined;
  const result: SweepResult = { tenants: 0, failures: [] };
  for await (const t of source.listTenants()) {
    if (only && !only.has(t.tenantId)) continue;
    result.tenants++;
    try {
      await work({ tenantId: t.tenantId, placement: t.placement });
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      opts.log?.(`${opts.label}: tenant ${t.tenantId} failed: ${message}`);
      result.failures.push({ tenantId: t.tenantId, message });
    }
  }
  return result;
}

/**
 * Calls `batch` (one transaction that deletes at most `size` rows and answers how many) until it
 * deletes fewer than `size` or `maxBatches` ran. Answers the rows deleted and whether the limit cut
 * the work short (the rest is left for the next run).
 */
export async function deleteInBatches(batch: () => Promise<number>, size: number, maxBatches: number): Promise<{ deleted: number; unfinished: boolean }> {
  let deleted = 0;
  for (let i = 0; i < maxBatches; i++) {
    const n = await batch();
    deleted += n;
    if (n < size) return { deleted, unfinished: false };
  }
  return { deleted, unfinished: true };
}
