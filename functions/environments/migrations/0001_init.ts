/**
 * Runtime environments. `tenant_id` leads the primary key and every btree index, so each query of
 * a tenant is one index range; names and ids use the "C" collation so `name like 'prefix%'` can use
 * the same index whatever the database's default collation. The one index that cannot lead with
 * `tenant_id` is the GIN index on labels (that needs the btree_gin extension, which PGlite lacks and
 * Azure has to allow-list): label selectors are always ANDed with the tenant-first range, and the
 * planner combines the two (BitmapAnd) or filters the tenant's rows.
 */
import { sql, type Kysely } from 'kysely';
import { createKernelTables, enableTenantRls } from '../../../shared/sql/migrator.js';

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create table environments (
      tenant_id        text not null,
      id               text collate "C" not null,
      name             text collate "C" not null,
      display_name     text,
      description      text,
      kind             text not null check (kind in ('dev', 'test', 'staging', 'prod')),
      region           text not null,
      labels           jsonb not null default '{}'::jsonb check (jsonb_typeof(labels) = 'object'),
      storage_topology jsonb not null,
      etag             uuid not null default gen_random_uuid(),
      created_at       timestamptz not null default date_trunc('milliseconds', now()),
      updated_at       timestamptz not null default date_trunc('milliseconds', now()),
      retired_at       timestamptz,
      constraint environments_pk primary key (tenant_id, id)
    )`.execute(db);
  // Names are unique among environments that are not retired; a retired name can be reused.
  await sql`create unique index environments_live_name on environments (tenant_id, name) where retired_at is null`.execute(db);
  await sql`create index environments_by_name on environments (tenant_id, name, id)`.execute(db);
  await sql`create index environments_by_created on environments (tenant_id, created_at, id)`.execute(db);
  await sql`create index environments_labels on environments using gin (labels)`.execute(db);
  await enableTenantRls(db, 'environments');

  await createKernelTables(db);
}
