/**
 * Retention of health results: 30 days (the storage map's "Health results (recent)"), by whole
 * partitions. The daily timer, in every database (the pooled one and each silo):
 *
 * 1. creates the partitions of yesterday, today and the next {@link PARTITIONS_AHEAD_DAYS} days
 *    (an ingest also creates a missing day itself, so a late timer never refuses results);
 * 2. drops every partition of `results` and `transitions` whose whole UTC day is older than
 *    `now − 30 days` — a `DROP TABLE`, no row deletes, no vacuum debt;
 * 3. per tenant (the shared tenant sweep), deletes the rows of the two small tables older than the
 *    cut-off: `latest` rows of services that sent nothing for 30 days, and `batches` records (one
 *    row per batch), in batches of {@link BATCH}, at most {@link MAX_BATCHES} a tenant a run.
 *
 * Partition DDL runs through the migrator-owned `SECURITY DEFINER` functions (see the migration),
 * the only DDL the service role can cause. A database that fails is reported and its tenants are
 * left for the next run; a tenant that fails is reported, and the others proceed.
 */
import type { InvocationContext, Timer } from '@azure/functions';
import type { SqlDatabases } from '../../shared/sql/database.js';
import type { Placement } from '../../shared/sql/service-db.js';
import { deleteInBatches, sweepTenants, type TenantFailure } from '../../shared/tenant-sweep.js';
import type { TenantsApi } from '../tenants/api.js';
import { addDays, PARTITIONS_AHEAD_DAYS, retentionCutoff, utcDay } from './service.js';
import { HEALTH_SQL } from './sql.js';
import * as store from './store.js';

const BATCH = 5_000;
/** Batches per tenant per run: a tenant with more left over finishes on the next runs. */
const MAX_BATCHES = 100;

/** What a run did in one database. */
export interface DatabaseRetention {
  database: string;
  created: number;
  dropped: string[];
  expiredRows: number;
  /** Tenants whose expiry stopped at {@link MAX_BATCHES} (the rest waits for the next run). */
  unfinishedTenants: number;
  error?: string;
}

/** The summary of a run. */
export interface RetentionSummary {
  cutoff: string;
  databases: DatabaseRetention[];
  /** Databases whose partition work failed. */
  failed: string[];
  /** Tenants whose small-table expiry failed (the other tenants were done). */
  failedTenants: TenantFailure[];
}

const key = (p: Placement) => (p.model === 'pooled' ? 'pooled' : p.database);

/** One run at `now` over every database and every tenant. */
export async function runRetention(deps: { sql: SqlDatabases; now: Date; tenants: Pick<TenantsApi, 'listTenants'> }): Promise<RetentionSummary> {
  const cutoff = retentionCutoff(deps.now);
  const today = utcDay(deps.now);
  const out = new Map<string, DatabaseRetention>();
  for (const { name, placement } of deps.sql.all()) {
    const r: DatabaseRetention = { database: name, created: 0, dropped: [], expiredRows: 0, unfinishedTenants: 0 };
    out.set(name, r);
    try {
      await deps.sql.run({ platform: true, placement }, HEALTH_SQL, async (trx) => {
        r.created = await store.ensurePartitions(trx, addDays(today, -1), addDays(today, PARTITIONS_AHEAD_DAYS));
        r.dropped = await store.dropPartitions(trx, cutoff);
      });
    } catch (e) {
      r.error = e instanceof Error ? e.message : String(e);
    }
  }
  const { failures } = await sweepTenants(deps.tenants, { label: 'health retention' }, async (tenant) => {
    const r = out.get(key(tenant.placement));
    // Its database could not be reached for the partitions: left for the next run.
    if (!r || r.error !== undefined) return;
    const { deleted, unfinished } = await deleteInBatches(
      () => deps.sql.run(tenant, HEALTH_SQL, (trx) => store.expireSmallTables(trx, tenant.tenantId, cutoff, BATCH)),
      BATCH,
      MAX_BATCHES,
    );
    r.expiredRows += deleted;
    if (unfinished) r.unfinishedTenants++;
  });
  const databases = [...out.values()];
  return { cutoff: cutoff.toISOString(), databases, failed: databases.filter((d) => d.error !== undefined).map((d) => d.database), failedTenants: failures };
}

/** The timer's handler: runs, logs the summary, and logs an error for each database that failed. */
export function retentionTimerHandler(run: () => Promise<RetentionSummary>) {
  return async (_timer: Timer, context: InvocationContext): Promise<RetentionSummary> => {
    const summary = await run();
    const dropped = summary.databases.reduce((n, d) => n + d.dropped.length, 0);
    context.log(`health retention: cut-off ${summary.cutoff}, ${dropped} partition(s) dropped, ${summary.databases.reduce((n, d) => n + d.created, 0)} created`);
    for (const d of summary.databases) if (d.error !== undefined) context.error(`health retention failed in database ${d.database}: ${d.error}`);
    for (const f of summary.failedTenants) context.error(`health retention: tenant ${f.tenantId} failed: ${f.message}`);
    return summary;
  };
}
