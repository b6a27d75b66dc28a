/**
 * The service catalog. `tenant_id` leads the primary key and every btree index; names, ids and
 * owners use the "C" collation (byte order: `name like 'prefix%'` can use the index whatever the
 * database's default collation). Lists by environment and by tenant each have a by-name and a
 * by-creation-time index, the purge has a partial index on retired rows. The GIN index on labels
 * cannot lead with `tenant_id` (that needs btree_gin, which PGlite lacks and Azure must allow-list);
 * label selectors are always ANDed with a tenant-first range.
 *
 * `retired_environments` is the catalog's own record that an environment was retired and its
 * services retired with it (written in the same transaction as the cascade). A registration checks
 * it under the same per-environment lock the cascade takes, which closes the race between "the
 * environment is active" (asked of the environments service) and the insert.
 */
import { sql, type Kysely } from 'kysely';
import { createKernelTables, enableTenantRls } from '../../../shared/sql/migrator.js';

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create table services (
      tenant_id       text not null,
      id              text collate "C" not null,
      environment_id  text collate "C" not null,
      name            text collate "C" not null,
      display_name    text,
      description     text,
      owner           text collate "C" not null,
      lifecycle       text not null check (lifecycle in ('experimental', 'production', 'deprecated')),
      labels          jsonb not null default '{}'::jsonb check (jsonb_typeof(labels) = 'object'),
      etag            uuid not null default gen_random_uuid(),
      created_at      timestamptz not null default date_trunc('milliseconds', now()),
      updated_at      timestamptz not null default date_trunc('milliseconds', now()),
      retired_at      timestamptz,
      constraint services_pk primary key (tenant_id, id)
    )`.execute(db);
  // Names are unique in an environment among services that are not retired.
  await sql`create unique index services_live_name on services (tenant_id, environment_id, name) where retired_at is null`.execute(db);
  await sql`create index services_env_by_name on services (tenant_id, environment_id, name, id)`.execute(db);
  await sql`create index services_env_by_created on services (tenant_id, environment_id, created_at, id)`.execute(db);
  await sql`create index services_by_name on services (tenant_id, name, id)`.execute(db);
  await sql`create index services_by_created on services (tenant_id, created_at, id)`.execute(db);
  await sql`create index services_retired on services (tenant_id, retired_at, id) where retired_at is not null`.execute(db);
  await sql`create index services_labels on services using gin (labels)`.execute(db);
  await enableTenantRls(db, 'services');

  await sql`
    create table retired_environments (
      tenant_id       text not null,
      environment_id  text collate "C" not null,
      retired_at      timestamptz not null,
      services_retired integer not null,
      recorded_at     timestamptz not null,
      constraint retired_environments_pk primary key (tenant_id, environment_id)
    )`.execute(db);
  await enableTenantRls(db, 'retired_environments');

  await createKernelTables(db);
}
