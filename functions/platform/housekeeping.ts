/**
 * Kernel tables' retention, behind the daily `platformHousekeeping` timer: published outbox events
 * and idempotency records are kept for {@link KERNEL_RECORD_RETENTION_DAYS} days (long enough for
 * any consumer's de-duplication window and any client's retry), then deleted in bounded batches.
 */
import { sql } from 'kysely';
import type { Kernel } from '../../shared/kernel.js';
import { inScope, servicesIn, type ServiceSql } from '../../shared/sql/database.js';

export const KERNEL_RECORD_RETENTION_DAYS = 7;
const BATCH = 5_000;

/** Deletes expired kernel records of every service in every database; returns how many went. */
export async function expireKernelRecords(kernel: Kernel, services: ServiceSql[]): Promise<{ outbox: number; idempotency: number }> {
  const cutoff = new Date(kernel.now().getTime() - KERNEL_RECORD_RETENTION_DAYS * 86_400_000);
  const total = { outbox: 0, idempotency: 0 };
  for (const { placement, db } of kernel.sql.all()) {
    for (const svc of servicesIn(placement, services)) {
      for (;;) {
        const n = await inScope(db, { platform: true, placement }, svc, async (trx) => {
          const o = await sql`delete from outbox where ctid in (
              select ctid from outbox where published_at is not null and published_at < ${cutoff} limit ${BATCH})`.execute(trx);
          const i = await sql`delete from idempotency where ctid in (
              select ctid from idempotency where created_at < ${cutoff} limit ${BATCH})`.execute(trx);
          total.outbox += Number(o.numAffectedRows ?? 0);
          total.idempotency += Number(i.numAffectedRows ?? 0);
          return Number(o.numAffectedRows ?? 0) + Number(i.numAffectedRows ?? 0);
        });
        if (n < BATCH) break;
      }
    }
  }
  return total;
}
