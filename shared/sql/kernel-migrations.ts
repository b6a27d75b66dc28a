/**
 * The kernel's migrations: changes to the tables the kernel keeps in every service's schema (the
 * event outbox, the idempotency records). Those tables are created, in their first version, by
 * `createKernelTables` from each service's first migration; every later change is listed here,
 * once, and the migrator appends this list to every service's own list (`migrator.ts`), so each
 * schema — in the pooled database and in every silo, old or new — gets it exactly once, recorded
 * in the service's own history table like the service's migrations.
 *
 * Names start with {@link KERNEL_MIGRATION_PREFIX} (no service migration may), and sort after a
 * service's `0001_…` migration that creates the tables. The two lists are each applied in name
 * order; between them, order does not matter (a kernel migration touches kernel tables only), so a
 * service may add `0002_…` after `kernel_0001_…` was applied.
 *
 * To change a kernel table: add `kernel_<next number>_<what>` below. Never edit
 * `createKernelTables` or a migration that has shipped.
 */
import type { Migration } from 'kysely';
import { migrateOutboxDelivery } from '../events/outbox.js';

/** What every kernel migration's name starts with. */
export const KERNEL_MIGRATION_PREFIX = 'kernel_';

/** Every kernel migration, by name. */
export const kernelMigrations: Readonly<Record<string, Migration>> = Object.freeze({
  kernel_0001_outbox_delivery: { up: migrateOutboxDelivery },
});
