/**
 * Kernel tables' retention, run daily as a Durable Functions orchestration that fans out one
 * activity per database (the pooled one and every silo) and fans in a summary: published outbox
 * events and idempotency records are kept for {@link KERNEL_RECORD_RETENTION_DAYS} days (long enough
 * for any consumer's de-duplication window and any client's retry), then deleted in bounded
 * batches. A database that fails is reported in the summary and the others proceed.
 */
import type { OrchestrationContext, OrchestrationHandler } from 'durable-functions';
import type { Kernel } from '../../shared/kernel.js';
import { expireRecords, IDEMPOTENCY_RETENTION_DAYS } from '../../shared/http/idempotency.js';
import { expirePublished } from '../../shared/events/outbox.js';
import { inScope, servicesIn, type ServiceSql } from '../../shared/sql/database.js';

export const KERNEL_RECORD_RETENTION_DAYS = IDEMPOTENCY_RETENTION_DAYS;
const BATCH = 5_000;

/** What one database's run did. */
export interface DatabaseHousekeeping {
  database: string;
  outbox: number;
  idempotency: number;
  /** Set when the database could not be cleaned; the others still were. */
  error?: string;
}

/** The summary of a run over every database. */
export interface HousekeepingSummary {
  cutoff: string;
  databases: DatabaseHousekeeping[];
  outbox: number;
  idempotency: number;
  failed: string[];
}

/** The cut-off of a run at `now`. */
export function housekeepingCutoff(now: Date): Date {
  return new Date(now.getTime() - KERNEL_RECORD_RETENTION_DAYS * 86_400_000);
}

/** The databases a run covers, by name (the activity `platformHousekeepingDatabases`). */
export function housekeepingDatabases(kernel: Kernel): string[] {
  return kernel.sql.all().map((d) => d.name);
}

/** Deletes expired kernel records of every service in one database (the activity `platformHousekeepingExpire`). */
export async function expireDatabase(kernel: Kernel, services: readonly ServiceSql[], database: string, cutoff: Date): Promise<DatabaseHousekeeping> {
  const out: DatabaseHousekeeping = { database, outbox: 0, idempotency: 0 };
  const target = kernel.sql.all().find((d) => d.name === database);
  if (!target) return { ...out, error: 'not configured on this instance' };
  try {
    for (const svc of servicesIn(target.placement, services)) {
      for (;;) {
        const n = await inScope(target.db, { platform: true, placement: target.placement }, svc, async (trx) => {
          const o = await expirePublished(trx, cutoff, BATCH);
          const i = await expireRecords(trx, cutoff, BATCH);
          out.outbox += o;
          out.idempotency += i;
          return Math.max(o, i);
        });
        if (n < BATCH) break;
      }
    }
  } catch (e) {
    return { ...out, error: e instanceof Error ? e.message : String(e) };
  }
  return out;
}

/** Sums the databases' results. */
export function summarise(cutoff: Date, databases: DatabaseHousekeeping[]): HousekeepingSummary {
  return {
    cutoff: cutoff.toISOString(),
    databases,
    outbox: databases.reduce((n, d) => n + d.outbox, 0),
    idempotency: databases.reduce((n, d) => n + d.idempotency, 0),
    failed: databases.filter((d) => d.error !== undefined).map((d) => d.database),
  };
}

/**
 * The orchestrator: deterministic (the cut-off comes from the orchestration's own clock), no I/O of
 * its own; the databases are listed and cleaned by activities, in parallel.
 */
export const housekeepingOrchestrator: OrchestrationHandler = function* (context: OrchestrationContext) {
  const cutoff = housekeepingCutoff(context.df.currentUtcDateTime);
  const databases = (yield context.df.callActivity('platformHousekeepingDatabases')) as string[];
  const results = (yield context.df.Task.all(
    databases.map((database) => context.df.callActivity('platformHousekeepingExpire', { database, cutoff: cutoff.toISOString() })),
  )) as DatabaseHousekeeping[];
  return summarise(cutoff, results);
};

/** Every database in one process, without an orchestration (tests and the migrate-style commands). */
export async function expireKernelRecords(kernel: Kernel, services: readonly ServiceSql[]): Promise<HousekeepingSummary> {
  const cutoff = housekeepingCutoff(kernel.now());
  const results: DatabaseHousekeeping[] = [];
  for (const database of housekeepingDatabases(kernel)) results.push(await expireDatabase(kernel, services, database, cutoff));
  return summarise(cutoff, results);
}
