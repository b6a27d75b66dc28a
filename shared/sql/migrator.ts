/**
 * Per-service migrations. Each service owns a schema, a role and a history table in its schema
 * (`<schema>.migrations`); `migrateAll` applies every service's migrations to one database,
 * followed by the kernel's migrations of the kernel tables in that schema (`kernel-migrations.ts`).
 * Runs as the database owner (the deployment identity), never as the app's roles.
 */
import { Migrator, sql, type Kysely, type Migration, type MigrationResult } from 'kysely';
import type { ServiceSql } from './database.js';
import { createOutboxTable } from '../events/outbox.js';
import { createIdempotencyTable } from '../http/idempotency.js';
import { KERNEL_MIGRATION_PREFIX, kernelMigrations } from './kernel-migrations.js';

export { enableTenantRls } from './rls.js';

/** A service's migrations, keyed by name (`0001_init`), applied in name order. */
export interface ServiceMigrations extends ServiceSql {
  migrations: Record<string, Migration>;
}

/** What `migrateAll` did for one service. */
export interface MigrationReport {
  service: string;
  applied: string[];
}

/** Raised when a migration fails; names the service and migration. */
export class MigrationError extends Error {
  override name = 'MigrationError';
}

/**
 * Applies every service's migrations to `db`: creates the schema and the service role (no login,
 * not superuser, no BYPASSRLS), runs pending migrations, then grants the role DML on its own
 * schema only.
 */
export async function migrateAll(db: Kysely<any>, services: ServiceMigrations[]): Promise<MigrationReport[]> {
  const reports: MigrationReport[] = [];
  for (const svc of services) {
    await ensureRole(db, svc.role);
    await sql`create schema if not exists ${sql.id(svc.schema)}`.execute(db);
    const migrations = withKernelMigrations(svc);
    checkOrder(svc.service, Object.keys(migrations), await appliedMigrations(db, svc.schema));
    const migrator = new Migrator({
      db,
      provider: { getMigrations: async () => inSchema(svc.schema, migrations) },
      migrationTableSchema: svc.schema,
      migrationTableName: 'migrations',
      migrationLockTableName: 'migrations_lock',
      // The service's list and the kernel's interleave by name; each is kept in order by `checkOrder`.
      allowUnorderedMigrations: true,
    });
    const { error, results } = await migrator.migrateToLatest();
    const failed = results?.find((r: MigrationResult) => r.status === 'Error');
    if (error) {
      throw new MigrationError(
        `${svc.service}: migration ${failed?.migrationName ?? '?'} failed: ${error instanceof Error ? error.message : JSON.stringify(error)}`,
      );
    }
    await grantServiceRole(db, svc);
    reports.push({ service: svc.service, applied: (results ?? []).map((r) => r.migrationName) });
  }
  return reports;
}

/** The service's migrations followed by the kernel's; a service migration may not use the kernel's prefix. */
function withKernelMigrations(svc: ServiceMigrations): Record<string, Migration> {
  const clash = Object.keys(svc.migrations).find((name) => name.startsWith(KERNEL_MIGRATION_PREFIX));
  if (clash) throw new MigrationError(`${svc.service}: migration ${clash} uses the kernel's prefix '${KERNEL_MIGRATION_PREFIX}'`);
  return { ...svc.migrations, ...kernelMigrations };
}

/** Names of the migrations already applied to the schema (none before its history table exists). */
async function appliedMigrations(db: Kysely<any>, schema: string): Promise<string[]> {
  const exists = await sql<{ t: string | null }>`select to_regclass(${`${schema}.migrations`})::text as t`.execute(db);
  if (!exists.rows[0]?.t) return [];
  const r = await sql<{ name: string }>`select name from ${sql.table(`${schema}.migrations`)}`.execute(db);
  return r.rows.map((x) => x.name);
}

/**
 * Each list (the service's, the kernel's) is applied in name order: a migration that is new but
 * sorts before one of its own list already applied is refused, as the migrator does for one list.
 */
export function checkOrder(service: string, names: string[], applied: string[]): void {
  const done = new Set(applied);
  for (const kernel of [false, true]) {
    const list = names.filter((n) => n.startsWith(KERNEL_MIGRATION_PREFIX) === kernel).sort();
    const lastApplied = list.findLastIndex((n) => done.has(n));
    if (lastApplied < 0) continue;
    const skipped = list.slice(0, lastApplied).find((n) => !done.has(n));
    if (skipped) {
      throw new MigrationError(
        `${service}: migration ${skipped} is new but sorts before ${list[lastApplied]}, which is already applied; name new migrations after the last applied one`,
      );
    }
  }
}

/** Runs each migration with `search_path` set to the service's schema (transaction-local). */
function inSchema(schema: string, migrations: Record<string, Migration>): Record<string, Migration> {
  const wrap = (fn: Migration['up']): Migration['up'] => async (db) => {
    await sql`select set_config('search_path', ${schema}, true)`.execute(db);
    await fn(db);
  };
  return Object.fromEntries(
    Object.entries(migrations).map(([name, m]) => [
      name,
      { up: wrap((db) => m.up(db)), ...(m.down ? { down: wrap((db) => m.down!(db)) } : {}) },
    ]),
  );
}

async function ensureRole(db: Kysely<any>, role: string): Promise<void> {
  const exists = await sql<{ n: number }>`select count(*)::int as n from pg_roles where rolname = ${role}`.execute(db);
  if ((exists.rows[0]?.n ?? 0) > 0) return;
  try {
    await sql`create role ${sql.id(role)} nologin nosuperuser nocreatedb nocreaterole nobypassrls`.execute(db);
  } catch (e) {
    // Roles are cluster-wide: another database's migration may have created it meanwhile.
    const code = (e as { code?: string }).code;
    if (code !== '42710' && code !== '23505') throw e;
  }
}

async function grantServiceRole(db: Kysely<any>, svc: ServiceSql): Promise<void> {
  const schema = sql.id(svc.schema);
  const role = sql.id(svc.role);
  await sql`grant usage on schema ${schema} to ${role}`.execute(db);
  await sql`grant select, insert, update, delete on all tables in schema ${schema} to ${role}`.execute(db);
  await sql`grant usage, select on all sequences in schema ${schema} to ${role}`.execute(db);
  // The history tables are the migrator's, not the app's.
  await sql`revoke all on ${schema}.migrations, ${schema}.migrations_lock from ${role}`.execute(db);
}

/**
 * Creates the kernel's per-service tables, in their first version, in the service's schema: the
 * event outbox and the idempotency records for `Repeatability-Request-ID`. Every service that keeps
 * data in PostgreSQL calls this from its first migration (the kernel migrations, which the migrator
 * applies to every service's schema after it, build on these tables). Later changes to the tables
 * are kernel migrations (`kernel-migrations.ts`), never edits here.
 */
export async function createKernelTables(db: Kysely<any>): Promise<void> {
  await createOutboxTable(db);
  await createIdempotencyTable(db);
}
