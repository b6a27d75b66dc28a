/** The scaling service's SQL (its own schema only; `search_path` is set by the transaction). */
import { sql, type Generated, type Kysely, type Selectable, type Transaction } from 'kysely';
import type { PolicySpecDto } from './schemas.js';

interface PolicyVersionTable {
  tenant_id: string;
  service_id: string;
  version: number;
  environment_id: string;
  policy_id: string;
  deleted: Generated<boolean>;
  spec: PolicySpecDto | null;
  min_replicas: number | null;
  max_replicas: number | null;
  paused_until: Date | null;
  pause_replicas: number | null;
  etag: Generated<string>;
  created_at: Date;
  created_by: string;
}

interface ScalingEventTable {
  tenant_id: string;
  id: string;
  environment_id: string;
  service_id: string;
  at: Date;
  from_replicas: number;
  to_replicas: number;
  trigger: string | null;
  source: string;
  policy_version: number | null;
  deployment_id: string | null;
  recorded_at: Date;
  recorded_by: string;
}

export interface ScalingDb {
  policy_versions: PolicyVersionTable;
  scaling_events: ScalingEventTable;
}

export type PolicyVersionRow = Selectable<PolicyVersionTable>;
export type ScalingEventRow = Selectable<ScalingEventTable>;
export type Tx = Transaction<ScalingDb>;
type Reader = Kysely<ScalingDb>;

/** Serialises the writes of one service's policy: version numbers never collide. */
export async function lockPolicy(trx: Tx, tenantId: string, serviceId: string): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtextextended(${`scaling:${tenantId}:${serviceId}`}, 0))`.execute(trx);
}

/**
 * The newest version of a service's policy (a deletion included): one backward probe of the primary
 * key. The environment is checked on the row, so a service id under another environment finds nothing.
 */
export function selectLatest(db: Reader, tenantId: string, environmentId: string, serviceId: string) {
  return db
    .selectFrom('policy_versions')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('service_id', '=', serviceId)
    .where('environment_id', '=', environmentId)
    .orderBy('version', 'desc')
    .limit(1);
}

export async function insertVersion(trx: Tx, row: Omit<PolicyVersionRow, 'etag' | 'deleted'> & { deleted?: boolean }): Promise<PolicyVersionRow> {
  return trx
    .insertInto('policy_versions')
    .values({ ...row, spec: row.spec === null ? null : (JSON.stringify(row.spec) as never) })
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** One version of a service's policy. */
export function selectVersion(db: Reader, tenantId: string, environmentId: string, serviceId: string, version: number) {
  return db
    .selectFrom('policy_versions')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('service_id', '=', serviceId)
    .where('environment_id', '=', environmentId)
    .where('version', '=', version);
}

/** Versions, newest first, below `beforeVersion`; with the current version number (for `current`). */
export function selectVersions(db: Reader, tenantId: string, environmentId: string, serviceId: string, beforeVersion: number | undefined, limit: number) {
  let q = db
    .selectFrom('policy_versions')
    .selectAll()
    .select(
      sql<number>`(select max(v.version) from policy_versions v where v.tenant_id = policy_versions.tenant_id and v.service_id = policy_versions.service_id)`.as(
        'latest',
      ),
    )
    .where('tenant_id', '=', tenantId)
    .where('service_id', '=', serviceId)
    .where('environment_id', '=', environmentId);
  if (beforeVersion !== undefined) q = q.where('version', '<', beforeVersion);
  return q.orderBy('version', 'desc').limit(limit);
}

/** The version in force at `at` (the newest created at or before it), if any. */
export async function versionAt(trx: Tx, tenantId: string, serviceId: string, at: Date): Promise<Pick<PolicyVersionRow, 'version' | 'deleted'> | undefined> {
  return trx
    .selectFrom('policy_versions')
    .select(['version', 'deleted'])
    .where('tenant_id', '=', tenantId)
    .where('service_id', '=', serviceId)
    .where('created_at', '<=', at)
    .orderBy('version', 'desc')
    .limit(1)
    .executeTakeFirst();
}

/** Of `serviceIds`, those whose newest version is a policy (not a deletion), with that version. */
export async function activePolicies(trx: Tx, tenantId: string, serviceIds: readonly string[]): Promise<Pick<PolicyVersionRow, 'service_id' | 'policy_id' | 'version'>[]> {
  if (serviceIds.length === 0) return [];
  const latest = await trx
    .selectFrom('policy_versions')
    .distinctOn('service_id')
    .select(['service_id', 'policy_id', 'version', 'deleted'])
    .where('tenant_id', '=', tenantId)
    .where('service_id', 'in', [...serviceIds])
    .orderBy('service_id')
    .orderBy('version', 'desc')
    .execute();
  return latest.filter((r) => !r.deleted);
}

/** The newest policy version of an environment (or one service of it) created at or before `before`. */
export async function lastVersionBefore(trx: Tx, tenantId: string, environmentId: string, serviceId: string | undefined, before: Date) {
  let q = trx
    .selectFrom('policy_versions')
    .select(['policy_id', 'version', 'service_id', 'created_at'])
    .where('tenant_id', '=', tenantId)
    .where('environment_id', '=', environmentId)
    .where('created_at', '<=', before);
  if (serviceId !== undefined) q = q.where('service_id', '=', serviceId);
  return q.orderBy('created_at', 'desc').orderBy('version', 'desc').limit(1).executeTakeFirst();
}

// ---- Scaling events -------------------------------------------------------------------------------

export async function insertEvent(trx: Tx, row: ScalingEventRow): Promise<ScalingEventRow> {
  return trx.insertInto('scaling_events').values(row).returningAll().executeTakeFirstOrThrow();
}

export function selectEvent(db: Reader, tenantId: string, environmentId: string, serviceId: string, id: string) {
  return db
    .selectFrom('scaling_events')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('id', '=', id)
    .where('service_id', '=', serviceId)
    .where('environment_id', '=', environmentId);
}

/** A page of a service's events in `[from, to)`, in `(at, id)` order after `after`. */
export function selectEvents(
  db: Reader,
  tenantId: string,
  environmentId: string,
  serviceId: string,
  f: { from?: Date; to?: Date; after?: { at: Date; id: string }; limit: number },
) {
  let q = db
    .selectFrom('scaling_events')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('service_id', '=', serviceId)
    .where('environment_id', '=', environmentId);
  if (f.from) q = q.where('at', '>=', f.from);
  if (f.to) q = q.where('at', '<', f.to);
  if (f.after) q = q.where(sql<boolean>`(at, id) > (${f.after.at}::timestamptz, ${f.after.id})`);
  return q.orderBy('at').orderBy('id').limit(f.limit);
}

/** The newest event of an environment (or one service of it) at or before `before`. */
export async function lastEventBefore(trx: Tx, tenantId: string, environmentId: string, serviceId: string | undefined, before: Date) {
  let q = trx
    .selectFrom('scaling_events')
    .select(['id', 'service_id', 'at'])
    .where('tenant_id', '=', tenantId)
    .where('environment_id', '=', environmentId)
    .where('at', '<=', before);
  if (serviceId !== undefined) q = q.where('service_id', '=', serviceId);
  return q.orderBy('at', 'desc').limit(1).executeTakeFirst();
}

// ---- Retention -----------------------------------------------------------------------------------

/** Deletes up to `limit` of the tenant's events that happened before `cutoff`, oldest first; returns how many. */
export async function deleteEventsBefore(trx: Tx, tenantId: string, cutoff: Date, limit: number): Promise<number> {
  const r = await sql`
    delete from scaling_events where tenant_id = ${tenantId} and id in (
      select id from scaling_events where tenant_id = ${tenantId} and at < ${cutoff} order by at limit ${limit})`.execute(trx);
  return Number(r.numAffectedRows ?? 0);
}

/**
 * Deletes up to `limit` policy versions that a newer version replaced before `cutoff` (the newest
 * version of a service is never deleted); returns how many.
 */
export async function deleteVersionsSupersededBefore(trx: Tx, tenantId: string, cutoff: Date, limit: number): Promise<number> {
  const r = await sql`
    delete from policy_versions p where p.tenant_id = ${tenantId} and (p.service_id, p.version) in (
      select o.service_id, o.version from policy_versions o
      where o.tenant_id = ${tenantId} and exists (
        select 1 from policy_versions n
        where n.tenant_id = o.tenant_id and n.service_id = o.service_id and n.version = o.version + 1 and n.created_at < ${cutoff})
      limit ${limit})`.execute(trx);
  return Number(r.numAffectedRows ?? 0);
}
