/** The configuration service's SQL (its own schema only; `search_path` is set by the transaction). */
import { sql, type Generated, type Kysely, type RawBuilder, type Selectable, type Transaction } from 'kysely';
import type { ServiceState } from '../catalog/api.js';
import { emitFrom } from '../../shared/events/outbox.js';
import { prepared } from '../../shared/sql/prepared.js';

interface ConfigurationTable {
  tenant_id: string;
  environment_id: string;
  service_id: string;
  latest_version: number;
  latest_etag: string | null;
  /** `jsonb_hash_extended(settings, 0)` of the latest version (see `publish`); compared in SQL only (int8 reads back as a double). */
  settings_hash: number | null;
  created_at: Date;
  updated_at: Date;
}

interface VersionTable {
  tenant_id: string;
  environment_id: string;
  service_id: string;
  version: number;
  etag: Generated<string>;
  settings: Record<string, unknown>;
  setting_count: number;
  secret_refs: string[];
  comment: string | null;
  published_at: Date;
  published_by: string;
}

interface SecretRefTable {
  tenant_id: string;
  binding_name: string;
  environment_id: string;
  service_id: string;
  version: number;
}

interface ServiceRefTable {
  tenant_id: string;
  target_service_id: string;
  environment_id: string;
  service_id: string;
  version: number;
}

interface ConsumerTable {
  tenant_id: string;
  environment_id: string;
  service_id: string;
  consumer: string;
  version: number;
  synced_at: Date;
  synced_by: string;
  last_seen_at: Date;
}

export interface ConfigurationDb {
  configurations: ConfigurationTable;
  configuration_versions: VersionTable;
  configuration_secret_refs: SecretRefTable;
  configuration_service_refs: ServiceRefTable;
  configuration_consumers: ConsumerTable;
}

export type HeadRow = Selectable<ConfigurationTable>;
export type VersionRow = Selectable<VersionTable>;
export type VersionSummaryRow = Omit<VersionRow, 'settings'>;
export type ConsumerRow = Selectable<ConsumerTable>;
export type Tx = Transaction<ConfigurationDb>;
type Db = Kysely<ConfigurationDb>;

/** One configuration: tenant, environment, catalog service. */
export interface ConfigKey {
  tenantId: string;
  environmentId: string;
  serviceId: string;
}

const SUMMARY = ['tenant_id', 'environment_id', 'service_id', 'version', 'etag', 'setting_count', 'secret_refs', 'comment', 'published_at', 'published_by'] as const;

/**
 * The sync read: the latest version's number and ETag (the head's primary key) and, for a named
 * consumer, what it last synced (the consumers' primary key). One statement, two index probes,
 * compiled once (the hottest statement of the service).
 */
const syncState = prepared((db: Db, a: ConfigKey & { consumer: string }) =>
  db
    .selectFrom('configurations as h')
    .leftJoin('configuration_consumers as c', (j) =>
      j.onRef('c.tenant_id', '=', 'h.tenant_id').onRef('c.environment_id', '=', 'h.environment_id').onRef('c.service_id', '=', 'h.service_id').on('c.consumer', '=', a.consumer),
    )
    .select(['h.latest_version', 'h.latest_etag', 'c.version as synced_version', 'c.last_seen_at'])
    .where('h.tenant_id', '=', a.tenantId)
    .where('h.environment_id', '=', a.environmentId)
    .where('h.service_id', '=', a.serviceId)
    .where('h.latest_version', '>', sql.lit(0)),
);

export function selectSyncState(db: Db, k: ConfigKey, consumer: string | undefined) {
  return syncState(db, { tenantId: k.tenantId, environmentId: k.environmentId, serviceId: k.serviceId, consumer: consumer ?? '' });
}

/** One version, settings included. */
export function selectVersion(db: Db, k: ConfigKey, version: number) {
  return db
    .selectFrom('configuration_versions')
    .selectAll()
    .where('tenant_id', '=', k.tenantId)
    .where('environment_id', '=', k.environmentId)
    .where('service_id', '=', k.serviceId)
    .where('version', '=', version);
}

/** The latest version's summary (no settings). */
export function selectLatest(db: Db, k: ConfigKey) {
  return db
    .selectFrom('configurations as h')
    .innerJoin('configuration_versions as v', (j) =>
      j.onRef('v.tenant_id', '=', 'h.tenant_id').onRef('v.environment_id', '=', 'h.environment_id').onRef('v.service_id', '=', 'h.service_id').onRef('v.version', '=', 'h.latest_version'),
    )
    .select(['v.tenant_id', 'v.environment_id', 'v.service_id', 'v.version', 'v.etag', 'v.setting_count', 'v.secret_refs', 'v.comment', 'v.published_at', 'v.published_by'])
    .where('h.tenant_id', '=', k.tenantId)
    .where('h.environment_id', '=', k.environmentId)
    .where('h.service_id', '=', k.serviceId);
}

/** How a publish's `If-Match` / `If-None-Match` constrain the latest version (see service.ts). */
export type Precondition = { kind: 'absent' } | { kind: 'any' } | { kind: 'tags'; tags: readonly string[] };

/** What a publish found (the latest version before it) and whether it wrote version `written`. */
export interface PublishOutcome {
  v0: number;
  etag0: string | null;
  /** The settings equal the latest version's (jsonb equality: key order and number spelling aside). */
  same: boolean;
  written: number | null;
  /** The guard's state of the service (see `publish`). */
  service_state: ServiceState | null;
}

/** Another service's say in a publish: SQL that holds when it may write, and SQL naming the state it found. */
export interface PublishGuard {
  isLive: RawBuilder<boolean>;
  state: RawBuilder<ServiceState>;
}

/**
 * Publishes version latest + 1 in one statement, or nothing: `publish_version` (migration 0002)
 * locks the head (writers of one configuration run one after another), compares the settings
 * with the latest version's (equal: nothing is written), checks the precondition and, only when
 * the write is allowed, the settings differ and the precondition holds, writes the version, its
 * references and the head; the same statement puts the event in the outbox when a version was
 * written. Nothing is written either unless `guard.isLive` holds (the catalog's check that the
 * service is live, run ahead of this statement in its transaction); the outcome names the state
 * it found. `settingsJson` is `row.settings` as JSON text.
 */
export function publish(
  db: Db,
  row: Omit<VersionRow, 'version'>,
  settingsJson: string,
  refs: { secretRefs: readonly string[]; serviceRefs: readonly string[] },
  pre: Precondition,
  event: { type: string; subject: string },
  guard: PublishGuard,
) {
  const t = row.tenant_id;
  const tags = pre.kind === 'tags' ? JSON.stringify(pre.tags) : '[]';
  const secretRefs = JSON.stringify(refs.secretRefs);
  const q = sql<PublishOutcome>`
    with p as (
      select * from publish_version(${t}, ${row.environment_id}, ${row.service_id}, ${row.etag}::uuid, ${settingsJson}::jsonb, ${row.setting_count}::integer,
        ${secretRefs}::jsonb, ${JSON.stringify(refs.serviceRefs)}::jsonb, ${row.comment}::text, ${row.published_at}::timestamptz, ${row.published_by}::text,
        ${pre.kind}::text, ${tags}::jsonb, ${guard.isLive})
    ), ev as (
      ${emitFrom(
        t,
        event,
        sql`p where p.written is not null`,
        sql`jsonb_build_object('version', p.written, 'previousVersion', nullif(p.v0, 0), 'settingCount', ${row.setting_count}::integer,
                               'secretRefs', ${secretRefs}::jsonb, 'publishedBy', ${row.published_by}::text)`,
      )}
    )
    select p.v0, p.etag0, p.same, p.written, ${guard.state} as service_state from p`;
  return { compile: () => q.compile(db) };
}

/** A page of version summaries, newest first, below `before` (a version number). */
export function selectVersions(db: Db, k: ConfigKey, before: number | undefined, limit: number) {
  let q = db
    .selectFrom('configuration_versions')
    .select([...SUMMARY])
    .where('tenant_id', '=', k.tenantId)
    .where('environment_id', '=', k.environmentId)
    .where('service_id', '=', k.serviceId);
  if (before !== undefined) q = q.where('version', '<', before);
  return q.orderBy('version', 'desc').limit(limit);
}

/** Records that `consumer` runs `version` (its first sync of it sets `synced_at`) and was seen now. */
export async function recordSync(trx: Tx, k: ConfigKey, consumer: string, version: number, principal: string, now: Date): Promise<void> {
  await trx
    .insertInto('configuration_consumers')
    .values({ tenant_id: k.tenantId, environment_id: k.environmentId, service_id: k.serviceId, consumer, version, synced_at: now, synced_by: principal, last_seen_at: now })
    .onConflict((oc) =>
      oc.columns(['tenant_id', 'environment_id', 'service_id', 'consumer']).doUpdateSet({
        version,
        synced_at: sql`case when configuration_consumers.version = ${version} then configuration_consumers.synced_at else ${now}::timestamptz end`,
        synced_by: sql`case when configuration_consumers.version = ${version} then configuration_consumers.synced_by else ${principal} end`,
        last_seen_at: now,
      }),
    )
    .execute();
}

/** A page of a configuration's consumers by name, with the latest version; optionally only those behind it. */
export function selectConsumers(db: Db, k: ConfigKey, f: { olderThanLatest: boolean; after?: string; limit: number }) {
  let q = db
    .selectFrom('configuration_consumers as c')
    .innerJoin('configurations as h', (j) =>
      j.onRef('h.tenant_id', '=', 'c.tenant_id').onRef('h.environment_id', '=', 'c.environment_id').onRef('h.service_id', '=', 'c.service_id'),
    )
    .select(['c.consumer', 'c.version', 'c.synced_at', 'c.synced_by', 'c.last_seen_at', 'h.latest_version'])
    .where('c.tenant_id', '=', k.tenantId)
    .where('c.environment_id', '=', k.environmentId)
    .where('c.service_id', '=', k.serviceId);
  if (f.olderThanLatest) q = q.whereRef('c.version', '<', 'h.latest_version');
  if (f.after !== undefined) q = q.where('c.consumer', '>', f.after);
  return q.orderBy('c.consumer').limit(f.limit);
}

/** Consumers by when they synced, most recent first (for the fact sheet). */
export function selectRecentConsumers(db: Db, k: ConfigKey, limit: number) {
  return db
    .selectFrom('configuration_consumers')
    .select(['consumer', 'version', 'synced_at', 'last_seen_at'])
    .where('tenant_id', '=', k.tenantId)
    .where('environment_id', '=', k.environmentId)
    .where('service_id', '=', k.serviceId)
    .orderBy('last_seen_at', 'desc')
    .orderBy('consumer')
    .limit(limit);
}

/** How many consumers run the latest version, and how many an older one. */
export function countConsumers(db: Db, k: ConfigKey) {
  return db
    .selectFrom('configuration_consumers as c')
    .innerJoin('configurations as h', (j) =>
      j.onRef('h.tenant_id', '=', 'c.tenant_id').onRef('h.environment_id', '=', 'c.environment_id').onRef('h.service_id', '=', 'c.service_id'),
    )
    .select([sql<number>`count(*) filter (where c.version >= h.latest_version)::int`.as('on_latest'), sql<number>`count(*) filter (where c.version < h.latest_version)::int`.as('behind')])
    .where('c.tenant_id', '=', k.tenantId)
    .where('c.environment_id', '=', k.environmentId)
    .where('c.service_id', '=', k.serviceId);
}

/** Versions whose settings reference binding `name`, with whether each is its configuration's latest. */
export function selectBindingReferences(db: Db, tenantId: string, name: string, limit: number) {
  return db
    .selectFrom('configuration_secret_refs as r')
    .innerJoin('configurations as h', (j) =>
      j.onRef('h.tenant_id', '=', 'r.tenant_id').onRef('h.environment_id', '=', 'r.environment_id').onRef('h.service_id', '=', 'r.service_id'),
    )
    .select(['r.environment_id', 'r.service_id', 'r.version', sql<boolean>`r.version = h.latest_version`.as('latest')])
    .where('r.tenant_id', '=', tenantId)
    .where('r.binding_name', '=', name)
    .orderBy('r.environment_id')
    .orderBy('r.service_id')
    .orderBy('r.version', 'desc')
    .limit(limit);
}

/**
 * Consumers that need binding `name`: those of a configuration whose latest version references it,
 * and those still running an older version that does.
 */
export function selectBindingConsumers(db: Db, tenantId: string, name: string, limit: number) {
  return db
    .selectFrom('configuration_consumers as c')
    .innerJoin('configurations as h', (j) =>
      j.onRef('h.tenant_id', '=', 'c.tenant_id').onRef('h.environment_id', '=', 'c.environment_id').onRef('h.service_id', '=', 'c.service_id'),
    )
    .select(['c.consumer', 'c.environment_id', 'c.service_id', 'c.version', 'c.synced_at'])
    .where('c.tenant_id', '=', tenantId)
    .where((eb) =>
      eb.exists(
        eb
          .selectFrom('configuration_secret_refs as r')
          .select('r.version')
          .whereRef('r.tenant_id', '=', 'c.tenant_id')
          .where('r.binding_name', '=', name)
          .whereRef('r.environment_id', '=', 'c.environment_id')
          .whereRef('r.service_id', '=', 'c.service_id')
          .where((w) => w.or([w('r.version', '=', w.ref('h.latest_version')), w('r.version', '=', w.ref('c.version'))])),
      ),
    )
    .orderBy('c.environment_id')
    .orderBy('c.service_id')
    .orderBy('c.consumer')
    .limit(limit);
}

/** Of `serviceIds`, those the latest version of some configuration names, and which configuration does. */
export function selectServiceReferences(db: Db, tenantId: string, serviceIds: readonly string[]) {
  return db
    .selectFrom('configuration_service_refs as r')
    .innerJoin('configurations as h', (j) =>
      j
        .onRef('h.tenant_id', '=', 'r.tenant_id')
        .onRef('h.environment_id', '=', 'r.environment_id')
        .onRef('h.service_id', '=', 'r.service_id')
        .onRef('h.latest_version', '=', 'r.version'),
    )
    .select(['r.target_service_id', 'r.environment_id', 'r.service_id', 'r.version'])
    .where('r.tenant_id', '=', tenantId)
    .where('r.target_service_id', 'in', serviceIds);
}

/** The latest version published at or before `before`, of one service or (without one) of any in the environment. */
export function selectLastChangeBefore(db: Db, tenantId: string, environmentId: string, serviceId: string | undefined, before: Date) {
  let q = db
    .selectFrom('configuration_versions')
    .select(['service_id', 'version', 'published_at'])
    .where('tenant_id', '=', tenantId)
    .where('environment_id', '=', environmentId)
    .where('published_at', '<=', before);
  if (serviceId !== undefined) q = q.where('service_id', '=', serviceId);
  return q.orderBy('published_at', 'desc').orderBy('version', 'desc').limit(1);
}

/** Versions published before `cutoff` that are not their configuration's latest, oldest first. */
export async function expiredVersions(trx: Tx, tenantId: string, cutoff: Date, limit: number): Promise<Pick<VersionRow, 'environment_id' | 'service_id' | 'version'>[]> {
  return trx
    .selectFrom('configuration_versions as v')
    .innerJoin('configurations as h', (j) =>
      j.onRef('h.tenant_id', '=', 'v.tenant_id').onRef('h.environment_id', '=', 'v.environment_id').onRef('h.service_id', '=', 'v.service_id'),
    )
    .select(['v.environment_id', 'v.service_id', 'v.version'])
    .where('v.tenant_id', '=', tenantId)
    .where('v.published_at', '<', cutoff)
    .whereRef('v.version', '<', 'h.latest_version')
    .orderBy('v.published_at')
    .limit(limit)
    .execute();
}

/** Deletes the given versions (their references go with them); returns how many. */
export async function deleteVersions(trx: Tx, tenantId: string, keys: readonly Pick<VersionRow, 'environment_id' | 'service_id' | 'version'>[]): Promise<number> {
  if (keys.length === 0) return 0;
  const r = await trx
    .deleteFrom('configuration_versions')
    .where('tenant_id', '=', tenantId)
    .where((eb) => eb.or(keys.map((x) => eb.and([eb('environment_id', '=', x.environment_id), eb('service_id', '=', x.service_id), eb('version', '=', x.version)]))))
    .executeTakeFirst();
  return Number(r.numDeletedRows);
}

/** Deletes consumers not seen since `cutoff`, at most `limit`; returns how many. */
export async function deleteStaleConsumers(trx: Tx, tenantId: string, cutoff: Date, limit: number): Promise<number> {
  const r = await sql`
    delete from configuration_consumers
    where (tenant_id, environment_id, service_id, consumer) in (
      select tenant_id, environment_id, service_id, consumer from configuration_consumers
      where tenant_id = ${tenantId} and last_seen_at < ${cutoff} order by last_seen_at limit ${limit})`.execute(trx);
  return Number(r.numAffectedRows ?? 0);
}
