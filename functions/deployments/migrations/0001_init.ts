/**
 * Deployments, their transitions, steps and artifacts. `tenant_id` leads every key and index.
 *
 * - `deployments_one_in_progress`: a partial unique index, so two deployments of one service in one
 *   environment can never both be `in_progress`, whatever the application code does.
 * - History pages are read newest first: `(tenant_id, environment_id, created_at desc, id desc)` and
 *   the same per service; `(tenant_id, created_at)` serves the per-day quota and the retention sweep.
 * - Artifacts and step logs live in Blob storage; a row here is written only after its blob is.
 */
import { sql, type Kysely } from 'kysely';
import { createKernelTables, enableTenantRls } from '../../../shared/sql/migrator.js';

const STATUSES = `'pending', 'in_progress', 'succeeded', 'failed', 'cancelled', 'rolling_back', 'rolled_back'`;

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create table deployments (
      tenant_id              text not null,
      id                     text collate "C" not null,
      environment_id         text collate "C" not null,
      service_id             text collate "C" not null,
      revision               integer not null,
      kind                   text not null check (kind in ('rollout', 'rollback')),
      image                  text not null,
      image_digest           text,
      configuration_version  integer,
      scaling_policy_id      text,
      scaling_policy_version integer,
      secret_versions        jsonb not null default '{}'::jsonb check (jsonb_typeof(secret_versions) = 'object'),
      status                 text not null check (status in (${sql.raw(STATUSES)})),
      rollback_of            text collate "C",
      restores               text collate "C",
      created_by             text not null,
      created_at             timestamptz not null,
      updated_at             timestamptz not null,
      started_at             timestamptz,
      finished_at            timestamptz,
      finished_by            text,
      constraint deployments_pk primary key (tenant_id, id),
      constraint deployments_revision unique (tenant_id, environment_id, service_id, revision)
    )`.execute(db);
  await sql`create unique index deployments_one_in_progress on deployments (tenant_id, environment_id, service_id) where status = 'in_progress'`.execute(db);
  await sql`create index deployments_by_environment on deployments (tenant_id, environment_id, created_at desc, id desc)`.execute(db);
  await sql`create index deployments_by_service on deployments (tenant_id, service_id, created_at desc, id desc)`.execute(db);
  await sql`create index deployments_by_created on deployments (tenant_id, created_at, id)`.execute(db);
  await enableTenantRls(db, 'deployments');

  await sql`
    create table transitions (
      tenant_id     text not null,
      deployment_id text collate "C" not null,
      seq           integer not null,
      from_status   text,
      to_status     text not null,
      at            timestamptz not null,
      by            text not null,
      reason        text,
      constraint transitions_pk primary key (tenant_id, deployment_id, seq),
      constraint transitions_deployment foreign key (tenant_id, deployment_id) references deployments (tenant_id, id) on delete cascade
    )`.execute(db);
  await enableTenantRls(db, 'transitions');

  await sql`
    create table steps (
      tenant_id     text not null,
      deployment_id text collate "C" not null,
      name          text collate "C" not null,
      status        text not null check (status in ('running', 'succeeded', 'failed')),
      message       text,
      started_at    timestamptz not null,
      updated_at    timestamptz not null,
      constraint steps_pk primary key (tenant_id, deployment_id, name),
      constraint steps_deployment foreign key (tenant_id, deployment_id) references deployments (tenant_id, id) on delete cascade
    )`.execute(db);
  await enableTenantRls(db, 'steps');

  await sql`
    create table artifacts (
      tenant_id     text not null,
      deployment_id text collate "C" not null,
      name          text collate "C" not null,
      kind          text not null check (kind in ('log', 'manifest', 'other')),
      step          text collate "C",
      blob_name     text not null,
      content_type  text not null,
      bytes         bigint not null,
      created_at    timestamptz not null,
      updated_at    timestamptz not null,
      constraint artifacts_pk primary key (tenant_id, deployment_id, name),
      constraint artifacts_deployment foreign key (tenant_id, deployment_id) references deployments (tenant_id, id) on delete cascade
    )`.execute(db);
  await enableTenantRls(db, 'artifacts');

  await createKernelTables(db);
}
