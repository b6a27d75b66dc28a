/**
 * Runtime configuration. One head row per configuration (tenant, environment, catalog service)
 * holds the latest version's number, ETag and settings hash: writers lock it (`for update`), which
 * serialises them and keeps version numbers gapless, and the sync read ("has anything changed?")
 * is one primary-key lookup of it. Versions are immutable rows under the head; the binding names
 * and service ids their settings reference are kept beside them (tenant-first btree indexes, for
 * the secrets service's blast radius and the catalog's purge). Consumers are the agents that sync
 * a configuration, with the version each last synced. `tenant_id` leads every key and index.
 */
import { sql, type Kysely } from 'kysely';
import { createKernelTables, enableTenantRls } from '../../../shared/sql/migrator.js';

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create table configurations (
      tenant_id       text not null,
      environment_id  text collate "C" not null,
      service_id      text collate "C" not null,
      latest_version  integer not null check (latest_version >= 0),
      latest_etag     uuid,
      settings_hash   text,
      created_at      timestamptz not null,
      updated_at      timestamptz not null,
      constraint configurations_pk primary key (tenant_id, environment_id, service_id)
    )`.execute(db);
  await enableTenantRls(db, 'configurations');

  await sql`
    create table configuration_versions (
      tenant_id       text not null,
      environment_id  text collate "C" not null,
      service_id      text collate "C" not null,
      version         integer not null check (version >= 1),
      etag            uuid not null default gen_random_uuid(),
      settings        jsonb not null check (jsonb_typeof(settings) = 'object'),
      setting_count   integer not null,
      secret_refs     jsonb not null default '[]'::jsonb check (jsonb_typeof(secret_refs) = 'array'),
      comment         text,
      published_at    timestamptz not null,
      published_by    text not null,
      constraint configuration_versions_pk primary key (tenant_id, environment_id, service_id, version),
      constraint configuration_versions_head foreign key (tenant_id, environment_id, service_id)
        references configurations on delete cascade
    )`.execute(db);
  // Retention (oldest first, per tenant) and "what changed before t" per environment and service.
  await sql`create index configuration_versions_by_published on configuration_versions (tenant_id, published_at)`.execute(db);
  await sql`create index configuration_versions_env_published on configuration_versions (tenant_id, environment_id, published_at)`.execute(db);
  await sql`create index configuration_versions_svc_published on configuration_versions (tenant_id, environment_id, service_id, published_at)`.execute(db);
  await enableTenantRls(db, 'configuration_versions');

  await sql`
    create table configuration_secret_refs (
      tenant_id       text not null,
      binding_name    text collate "C" not null,
      environment_id  text collate "C" not null,
      service_id      text collate "C" not null,
      version         integer not null,
      constraint configuration_secret_refs_pk primary key (tenant_id, binding_name, environment_id, service_id, version),
      constraint configuration_secret_refs_version foreign key (tenant_id, environment_id, service_id, version)
        references configuration_versions on delete cascade
    )`.execute(db);
  await sql`create index configuration_secret_refs_by_version on configuration_secret_refs (tenant_id, environment_id, service_id, version)`.execute(db);
  await enableTenantRls(db, 'configuration_secret_refs');

  await sql`
    create table configuration_service_refs (
      tenant_id         text not null,
      target_service_id text collate "C" not null,
      environment_id    text collate "C" not null,
      service_id        text collate "C" not null,
      version           integer not null,
      constraint configuration_service_refs_pk primary key (tenant_id, target_service_id, environment_id, service_id, version),
      constraint configuration_service_refs_version foreign key (tenant_id, environment_id, service_id, version)
        references configuration_versions on delete cascade
    )`.execute(db);
  await sql`create index configuration_service_refs_by_version on configuration_service_refs (tenant_id, environment_id, service_id, version)`.execute(db);
  await enableTenantRls(db, 'configuration_service_refs');

  await sql`
    create table configuration_consumers (
      tenant_id       text not null,
      environment_id  text collate "C" not null,
      service_id      text collate "C" not null,
      consumer        text collate "C" not null,
      version         integer not null,
      synced_at       timestamptz not null,
      synced_by       text not null,
      last_seen_at    timestamptz not null,
      constraint configuration_consumers_pk primary key (tenant_id, environment_id, service_id, consumer),
      constraint configuration_consumers_head foreign key (tenant_id, environment_id, service_id)
        references configurations on delete cascade
    )`.execute(db);
  await sql`create index configuration_consumers_by_seen on configuration_consumers (tenant_id, last_seen_at)`.execute(db);
  await enableTenantRls(db, 'configuration_consumers');

  await createKernelTables(db);
}
