/**
 * Secret bindings: references to Key Vault secrets (vault, secret name, current version), never
 * values. `tenant_id` leads every primary key and index. Bindings are soft-deleted (`deleted_at`)
 * and removed with their rotation history by the retention timer once older than the storage map's
 * figure ("Secret bindings (metadata)").
 */
import { sql, type Kysely } from 'kysely';
import { createKernelTables, enableTenantRls } from '../../../shared/sql/migrator.js';

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create table bindings (
      tenant_id           text not null,
      id                  text collate "C" not null,
      name                text collate "C" not null,
      key_vault_ref       text not null,
      secret_name         text collate "C" not null,
      current_version     text,
      previous_version    text,
      previous_disable_at timestamptz,
      rotation            jsonb not null check (jsonb_typeof(rotation) = 'object'),
      next_rotation_at    timestamptz,
      last_rotated_at     timestamptz,
      etag                uuid not null default gen_random_uuid(),
      created_at          timestamptz not null,
      updated_at          timestamptz not null,
      deleted_at          timestamptz,
      constraint bindings_pk primary key (tenant_id, id)
    )`.execute(db);
  // A name, and a vault secret, belong to one live binding of the tenant at a time.
  await sql`create unique index bindings_live_name on bindings (tenant_id, name) where deleted_at is null`.execute(db);
  await sql`create unique index bindings_live_secret on bindings (tenant_id, key_vault_ref, secret_name) where deleted_at is null`.execute(db);
  await sql`create index bindings_by_name on bindings (tenant_id, name, id)`.execute(db);
  await sql`create index bindings_by_created on bindings (tenant_id, created_at, id)`.execute(db);
  await sql`create index bindings_due on bindings (tenant_id, next_rotation_at) where deleted_at is null`.execute(db);
  await sql`create index bindings_deleted on bindings (tenant_id, deleted_at) where deleted_at is not null`.execute(db);
  await enableTenantRls(db, 'bindings');

  // Who consumes a binding: a whole environment (service_id '') or one catalog service in it.
  await sql`
    create table binding_consumers (
      tenant_id      text not null,
      binding_id     text collate "C" not null,
      environment_id text collate "C" not null,
      service_id     text collate "C" not null default '',
      constraint binding_consumers_pk primary key (tenant_id, binding_id, environment_id, service_id)
    )`.execute(db);
  await sql`create index binding_consumers_by_target on binding_consumers (tenant_id, environment_id, service_id)`.execute(db);
  await enableTenantRls(db, 'binding_consumers');

  // Rotation history: one row per orchestration instance (its deterministic id is unique).
  await sql`
    create table rotations (
      tenant_id     text not null,
      id            text collate "C" not null,
      binding_id    text collate "C" not null,
      instance_id   text collate "C" not null,
      trigger       text not null check (trigger in ('schedule', 'manual')),
      from_version  text,
      to_version    text,
      started_at    timestamptz not null,
      finished_at   timestamptz,
      outcome       text not null check (outcome in ('running', 'succeeded', 'failed')),
      error_code    text,
      -- What the commit found to disable, so a commit run twice answers the same.
      stale_versions jsonb not null default '[]'::jsonb check (jsonb_typeof(stale_versions) = 'array'),
      constraint rotations_pk primary key (tenant_id, id)
    )`.execute(db);
  await sql`create unique index rotations_instance on rotations (tenant_id, instance_id)`.execute(db);
  await sql`create index rotations_by_binding on rotations (tenant_id, binding_id, started_at, id)`.execute(db);
  await sql`create index rotations_by_started on rotations (tenant_id, started_at)`.execute(db);
  await enableTenantRls(db, 'rotations');

  await createKernelTables(db);
}
