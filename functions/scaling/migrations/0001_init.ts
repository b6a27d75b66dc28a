/**
 * Scaling policies and scaling events. `tenant_id` leads every primary key and index.
 *
 * `policy_versions` keeps every version of a service's policy (a deletion is a version too, with no
 * spec); the current policy is the highest version, so the read an evaluator makes on every
 * decision is one backward probe of the primary key `(tenant_id, service_id, version)` (service ids
 * are unique in the tenant; the environment is checked on the row). `policy_versions_by_env` serves
 * "the last change in an environment" (drift's likely cause).
 *
 * `scaling_events` are appended by evaluators; listed per service by `(at, id)`, asked for the last
 * one of an environment before an instant, and dropped by the daily retention timer by `at`.
 */
import { sql, type Kysely } from 'kysely';
import { createKernelTables, enableTenantRls } from '../../../shared/sql/migrator.js';

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create table policy_versions (
      tenant_id       text not null,
      service_id      text collate "C" not null,
      version         integer not null check (version >= 1),
      environment_id  text collate "C" not null,
      policy_id       text collate "C" not null,
      deleted         boolean not null default false,
      spec            jsonb check (deleted or jsonb_typeof(spec) = 'object'),
      min_replicas    integer,
      max_replicas    integer,
      paused_until    timestamptz,
      pause_replicas  integer,
      etag            uuid not null default gen_random_uuid(),
      created_at      timestamptz not null,
      created_by      text not null,
      constraint policy_versions_pk primary key (tenant_id, service_id, version)
    )`.execute(db);
  await sql`create index policy_versions_by_env on policy_versions (tenant_id, environment_id, created_at)`.execute(db);
  await enableTenantRls(db, 'policy_versions');

  await sql`
    create table scaling_events (
      tenant_id       text not null,
      id              text collate "C" not null,
      environment_id  text collate "C" not null,
      service_id      text collate "C" not null,
      at              timestamptz not null,
      from_replicas   integer not null,
      to_replicas     integer not null,
      trigger         text,
      source          text not null,
      policy_version  integer,
      deployment_id   text,
      recorded_at     timestamptz not null,
      recorded_by     text not null,
      constraint scaling_events_pk primary key (tenant_id, id)
    )`.execute(db);
  await sql`create index scaling_events_by_service on scaling_events (tenant_id, service_id, at, id)`.execute(db);
  await sql`create index scaling_events_by_env on scaling_events (tenant_id, environment_id, at)`.execute(db);
  await sql`create index scaling_events_by_at on scaling_events (tenant_id, at)`.execute(db);
  await enableTenantRls(db, 'scaling_events');

  await createKernelTables(db);
}
