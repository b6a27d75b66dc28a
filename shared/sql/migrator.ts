/**
 * Per-service migrations. Each service owns a schema, a role and a history table in its schema
 * (`<schema>.migrations`); `migrateAll` applies every service's migrations to one database.
 * Runs as the database owner (the deployment identity), never as the app's roles.
 */
import { Migrator, sql, type Kysely, type Migration, type MigrationResult } from 'kysely';
import type { ServiceSql } from './database.js';

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
    const migrator = new Migrator({
      db,
      provider: { getMigrations: async () => inSchema(svc.schema, svc.migrations) },
      migrationTableSchema: svc.schema,
      migrationTableName: 'migrations',
      migrationLockTableName: 'migrations_lock',
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
 * Turns on row-level security for a tenant table: `FORCE` so even the owner is filtered, and one
 * policy that admits only rows of the transaction's tenant. `platformScope` additionally admits
 * every row when the transaction runs in the platform scope (tenant registry, outbox publisher).
 */
export async function enableTenantRls(
  db: Kysely<any>,
  table: string,
  opts: { platformScope?: boolean } = {},
): Promise<void> {
  const t = sql.id(table);
  await sql`alter table ${t} enable row level security`.execute(db);
  await sql`alter table ${t} force row level security`.execute(db);
  const platform = opts.platformScope ? sql` or current_setting('app.scope', true) = 'platform'` : sql``;
  await sql`create policy tenant_isolation on ${t}
            using (tenant_id = current_setting('app.tenant_id', true)${platform})
            with check (tenant_id = current_setting('app.tenant_id', true)${platform})`.execute(db);
}

/**
 * Creates the kernel's per-service tables in the service's schema: the event outbox and the
 * idempotency records for `Repeatability-Request-ID`. Every service that emits events or accepts
 * idempotent creates calls this from its first migration.
 */
export async function createKernelTables(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('outbox')
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('id', 'uuid', (c) => c.notNull())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('subject', 'text', (c) => c.notNull())
    .addColumn('data', 'jsonb', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('published_at', 'timestamptz')
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addPrimaryKeyConstraint('outbox_pk', ['tenant_id', 'id'])
    .execute();
  await sql`create index outbox_pending on outbox (created_at) where published_at is null`.execute(db);
  await enableTenantRls(db, 'outbox', { platformScope: true });

  await db.schema
    .createTable('idempotency')
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('request_id', 'text', (c) => c.notNull())
    .addColumn('operation', 'text', (c) => c.notNull())
    .addColumn('request_hash', 'text', (c) => c.notNull())
    .addColumn('status', 'integer')
    .addColumn('response', 'jsonb')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('idempotency_pk', ['tenant_id', 'request_id'])
    .execute();
  await enableTenantRls(db, 'idempotency', { platformScope: true });
}
