/**
 * Drift detection: settings per environment, agents' observations, ignore rules, scans, findings
 * and the actions taken on them. `tenant_id` leads every primary key and index. Findings are kept
 * while open and for `storageMap.driftFindings.retentionDays` after they are resolved (the daily
 * retention timer); snapshots live in Cosmos DB, not here.
 */
import { sql, type Kysely } from 'kysely';
import { createKernelTables, enableTenantRls } from '../../../shared/sql/migrator.js';

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create table settings (
      tenant_id      text not null,
      environment_id text collate "C" not null,
      mode           text not null check (mode in ('detect-only', 'detect-and-request-remediation')),
      observation_max_age_minutes integer not null check (observation_max_age_minutes between 1 and 10080),
      etag           uuid not null default gen_random_uuid(),
      updated_at     timestamptz not null,
      updated_by     text not null,
      constraint settings_pk primary key (tenant_id, environment_id)
    )`.execute(db);

  // The newest observation of each agent (source) per environment.
  await sql`
    create table observations (
      tenant_id      text not null,
      environment_id text collate "C" not null,
      source         text collate "C" not null,
      observed_at    timestamptz not null,
      received_at    timestamptz not null,
      digest         text not null,
      kinds          jsonb not null,
      resources      jsonb not null,
      constraint observations_pk primary key (tenant_id, environment_id, source)
    )`.execute(db);

  await sql`
    create table ignore_rules (
      tenant_id      text not null,
      id             text collate "C" not null,
      environment_id text collate "C",
      resource       text,
      path           text not null,
      reason         text not null,
      expires_at     timestamptz,
      created_at     timestamptz not null,
      created_by     text not null,
      constraint ignore_rules_pk primary key (tenant_id, id)
    )`.execute(db);
  await sql`create index ignore_rules_by_environment on ignore_rules (tenant_id, environment_id)`.execute(db);

  await sql`
    create table scans (
      tenant_id          text not null,
      id                 text collate "C" not null,
      environment_id     text collate "C" not null,
      instance_id        text not null,
      trigger            text not null check (trigger in ('manual', 'schedule')),
      status             text not null check (status in ('running', 'succeeded', 'failed', 'skipped')),
      phase              text not null,
      requested_by       text not null,
      started_at         timestamptz not null,
      finished_at        timestamptz,
      differences        integer not null default 0,
      unknown            integer not null default 0,
      suppressed         integer not null default 0,
      opened             integer not null default 0,
      resolved           integer not null default 0,
      snapshot_written   boolean not null default false,
      error              text,
      constraint scans_pk primary key (tenant_id, id)
    )`.execute(db);
  // One running scan per environment: an overlapping start finds it and does not scan again.
  await sql`create unique index scans_one_running on scans (tenant_id, environment_id) where status = 'running'`.execute(db);
  await sql`create index scans_by_environment on scans (tenant_id, environment_id, started_at)`.execute(db);

  await sql`
    create table findings (
      tenant_id        text not null,
      id               text collate "C" not null,
      environment_id   text collate "C" not null,
      resource         text collate "C" not null,
      path             text collate "C" not null,
      name             text collate "C" not null,
      service_id       text,
      kind             text not null check (kind in ('changed', 'missing', 'unexpected')),
      severity         text not null check (severity in ('low', 'medium', 'high', 'critical')),
      status           text not null check (status in ('open', 'suppressed', 'accepted', 'resolved')),
      desired          jsonb,
      actual           jsonb,
      accepted_actual  jsonb,
      suppressed_until timestamptz,
      seen_count       integer not null default 1,
      created_at       timestamptz not null,
      last_seen_at     timestamptz not null,
      resolved_at      timestamptz,
      first_scan_id    text not null,
      last_scan_id     text not null,
      cause            jsonb,
      etag             uuid not null default gen_random_uuid(),
      constraint findings_pk primary key (tenant_id, id)
    )`.execute(db);
  // At most one finding per place that is not resolved; a resolved one stays as history.
  await sql`create unique index findings_live on findings (tenant_id, environment_id, resource, path) where status <> 'resolved'`.execute(db);
  await sql`create index findings_by_name on findings (tenant_id, environment_id, name, id)`.execute(db);
  await sql`create index findings_by_created on findings (tenant_id, created_at, id)`.execute(db);
  await sql`create index findings_resolved on findings (tenant_id, resolved_at) where status = 'resolved'`.execute(db);
  await sql`create index findings_by_service on findings (tenant_id, service_id) where status <> 'resolved'`.execute(db);

  await sql`
    create table finding_actions (
      tenant_id  text not null,
      id         text collate "C" not null,
      finding_id text collate "C" not null,
      action     text not null check (action in ('accept', 'suppress', 'request-remediation', 'remediation-result')),
      by         text not null,
      at         timestamptz not null,
      note       text,
      until      timestamptz,
      result     text check (result in ('succeeded', 'failed')),
      constraint finding_actions_pk primary key (tenant_id, id)
    )`.execute(db);
  await sql`create index finding_actions_by_finding on finding_actions (tenant_id, finding_id, at)`.execute(db);

  for (const t of ['settings', 'observations', 'ignore_rules', 'scans', 'findings', 'finding_actions']) await enableTenantRls(db, t);
  await createKernelTables(db);
}
