/** The catalog service's SQL (its own schema only; `search_path` is set by the transaction). */
import { sql, type Generated, type Kysely, type Selectable, type Transaction } from 'kysely';
import { keysetPage, type CreatedRange, type KeysetPosition } from '../../shared/http/keyset.js';
import { labelSelectorSql, type LabelRequirement } from '../../shared/labels.js';

interface ServiceTable {
  tenant_id: string;
  id: string;
  environment_id: string;
  name: string;
  display_name: string | null;
  description: string | null;
  owner: string;
  lifecycle: 'experimental' | 'production' | 'deprecated';
  labels: Record<string, string>;
  etag: Generated<string>;
  created_at: Date;
  updated_at: Date;
  retired_at: Date | null;
}

interface RetiredEnvironmentTable {
  tenant_id: string;
  environment_id: string;
  retired_at: Date;
  services_retired: number;
  recorded_at: Date;
}

export interface CatalogDb {
  services: ServiceTable;
  retired_environments: RetiredEnvironmentTable;
}

export type ServiceRow = Selectable<ServiceTable>;
export type Tx = Transaction<CatalogDb>;

/**
 * Serialises registrations and the retire cascade of one environment: quota counts and inserts
 * never interleave, and a cascade sees every registration that got in before it.
 */
export async function lockEnvironment(trx: Tx, tenantId: string, environmentId: string): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtextextended(${`catalog:${tenantId}:${environmentId}`}, 0))`.execute(trx);
}

export async function isEnvironmentRetired(trx: Tx, tenantId: string, environmentId: string): Promise<boolean> {
  const r = await trx
    .selectFrom('retired_environments')
    .select('environment_id')
    .where('tenant_id', '=', tenantId)
    .where('environment_id', '=', environmentId)
    .executeTakeFirst();
  return r !== undefined;
}

export async function countLiveInEnvironment(trx: Tx, tenantId: string, environmentId: string): Promise<number> {
  const r = await trx
    .selectFrom('services')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('tenant_id', '=', tenantId)
    .where('environment_id', '=', environmentId)
    .where('retired_at', 'is', null)
    .executeTakeFirstOrThrow();
  return Number(r.n);
}

/** Inserts unless a live service of the environment has the name (then `undefined`). */
export async function insertService(trx: Tx, row: Omit<ServiceRow, 'etag' | 'retired_at'>): Promise<ServiceRow | undefined> {
  return trx
    .insertInto('services')
    .values({ ...row, labels: JSON.stringify(row.labels) as never })
    .onConflict((oc) => oc.columns(['tenant_id', 'environment_id', 'name']).where('retired_at', 'is', null).doNothing())
    .returningAll()
    .executeTakeFirst();
}

/** A service by id; with `environmentId`, only when it belongs to that environment. */
export function selectService(db: Kysely<CatalogDb>, tenantId: string, id: string, environmentId?: string) {
  const q = db.selectFrom('services').selectAll().where('tenant_id', '=', tenantId).where('id', '=', id);
  return environmentId !== undefined ? q.where('environment_id', '=', environmentId) : q;
}

/**
 * Sets `setting` (transaction-local) to the state of service `id` of `environmentId`: 'live',
 * 'retired' or 'missing', share-locking its row so that no retirement commits before the
 * transaction ends (see `liveServiceCheck` in api.ts).
 */
export function checkServiceState(db: Kysely<CatalogDb>, tenantId: string, environmentId: string, id: string, setting: string) {
  const q = sql<{ state: string }>`select set_config(${setting}, coalesce((
      select case when retired_at is null then 'live' else 'retired' end from services
      where tenant_id = ${tenantId} and id = ${id} and environment_id = ${environmentId}
      for share), 'missing'), true) as state`;
  return { compile: () => q.compile(db) };
}

/** Services of the tenant with one of these ids (a query, for `ctx.read` or a transaction). */
export function selectServicesById(db: Kysely<CatalogDb>, tenantId: string, ids: readonly string[]) {
  return db
    .selectFrom('services')
    .select(['id', 'environment_id', 'name', 'owner', 'retired_at'])
    .where('tenant_id', '=', tenantId)
    .where('id', 'in', ids.length > 0 ? [...ids] : ['']);
}

export async function getService(
  trx: Tx,
  tenantId: string,
  id: string,
  opts: { environmentId?: string; forUpdate?: boolean } = {},
): Promise<ServiceRow | undefined> {
  const q = selectService(trx, tenantId, id, opts.environmentId);
  return (opts.forUpdate ? q.forUpdate() : q).executeTakeFirst();
}

/** Every live service of an environment, in name order (bounded by the maxServicesPerEnvironment quota). */
export async function listLiveInEnvironment(trx: Tx, tenantId: string, environmentId: string): Promise<ServiceRow[]> {
  return trx
    .selectFrom('services')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('environment_id', '=', environmentId)
    .where('retired_at', 'is', null)
    .orderBy('name')
    .orderBy('id')
    .execute();
}

export async function findLiveByName(trx: Tx, tenantId: string, environmentId: string, name: string): Promise<Pick<ServiceRow, 'id'> | undefined> {
  return trx
    .selectFrom('services')
    .select('id')
    .where('tenant_id', '=', tenantId)
    .where('environment_id', '=', environmentId)
    .where('name', '=', name)
    .where('retired_at', 'is', null)
    .executeTakeFirst();
}

/** Filters of a list. */
export interface ListFilter {
  environmentId?: string;
  owner?: string;
  lifecycle?: ServiceRow['lifecycle'];
  status: 'active' | 'retired' | 'all';
  namePrefix?: string;
  labels: LabelRequirement[];
  range: CreatedRange;
  after?: KeysetPosition;
  limit: number;
}

/** A page of a tenant's services (a query, for `ctx.read` or a transaction). */
export function selectServices(db: Kysely<CatalogDb>, tenantId: string, f: ListFilter) {
  let q = db.selectFrom('services').selectAll().where('tenant_id', '=', tenantId);
  if (f.environmentId !== undefined) q = q.where('environment_id', '=', f.environmentId);
  if (f.status === 'active') q = q.where('retired_at', 'is', null);
  if (f.status === 'retired') q = q.where('retired_at', 'is not', null);
  if (f.owner) q = q.where('owner', '=', f.owner);
  if (f.lifecycle) q = q.where('lifecycle', '=', f.lifecycle);
  // The prefix is [a-z0-9-] only (validated), so it holds no LIKE wildcards.
  if (f.namePrefix) q = q.where('name', 'like', `${f.namePrefix}%`);
  if (f.labels.length) q = q.where(labelSelectorSql('labels', f.labels));
  return keysetPage(q, f.range, f.after, f.limit);
}

/** Conditional update on the etag read before; `undefined` when another writer came first. */
export async function updateService(
  trx: Tx,
  tenantId: string,
  id: string,
  expectedEtag: string,
  patch: Partial<Pick<ServiceRow, 'name' | 'display_name' | 'description' | 'owner' | 'lifecycle' | 'labels' | 'retired_at'>> & { updated_at: Date },
): Promise<ServiceRow | undefined> {
  return trx
    .updateTable('services')
    .set({ ...patch, ...(patch.labels ? { labels: JSON.stringify(patch.labels) as never } : {}), etag: sql`gen_random_uuid()` })
    .where('tenant_id', '=', tenantId)
    .where('id', '=', id)
    .where(sql<boolean>`etag = ${expectedEtag}::uuid`)
    .returningAll()
    .executeTakeFirst();
}

/** Retires every live service of an environment; returns what it retired. */
export async function retireEnvironmentServices(
  trx: Tx,
  tenantId: string,
  environmentId: string,
  retiredAt: Date,
  now: Date,
): Promise<Pick<ServiceRow, 'id' | 'name'>[]> {
  return trx
    .updateTable('services')
    .set({ retired_at: retiredAt, updated_at: now, etag: sql`gen_random_uuid()` })
    .where('tenant_id', '=', tenantId)
    .where('environment_id', '=', environmentId)
    .where('retired_at', 'is', null)
    .returning(['id', 'name'])
    .execute();
}

export async function recordRetiredEnvironment(trx: Tx, row: Selectable<RetiredEnvironmentTable>): Promise<void> {
  await trx
    .insertInto('retired_environments')
    .values(row)
    .onConflict((oc) => oc.columns(['tenant_id', 'environment_id']).doUpdateSet({ services_retired: sql`retired_environments.services_retired + excluded.services_retired` }))
    .execute();
}

export async function retiredEnvironmentIds(trx: Tx, tenantId: string): Promise<Set<string>> {
  const rows = await trx.selectFrom('retired_environments').select('environment_id').where('tenant_id', '=', tenantId).execute();
  return new Set(rows.map((r) => r.environment_id));
}

/** Retired services whose retirement is at or before `cutoff`, in (retired_at, id) order after `after`. */
export async function purgeCandidates(
  trx: Tx,
  tenantId: string,
  cutoff: Date,
  after: { retiredAt: Date; id: string } | undefined,
  limit: number,
): Promise<Pick<ServiceRow, 'id' | 'environment_id' | 'name' | 'retired_at'>[]> {
  let q = trx
    .selectFrom('services')
    .select(['id', 'environment_id', 'name', 'retired_at'])
    .where('tenant_id', '=', tenantId)
    .where('retired_at', 'is not', null)
    .where('retired_at', '<=', cutoff)
    .orderBy('retired_at')
    .orderBy('id')
    .limit(limit);
  if (after) q = q.where(sql<boolean>`(retired_at, id) > (${after.retiredAt}, ${after.id})`);
  return q.execute();
}

/** Deletes the given services if they are still retired at or before `cutoff`; returns the ids deleted. */
export async function deleteRetired(trx: Tx, tenantId: string, ids: string[], cutoff: Date): Promise<Pick<ServiceRow, 'id' | 'environment_id'>[]> {
  if (ids.length === 0) return [];
  return trx
    .deleteFrom('services')
    .where('tenant_id', '=', tenantId)
    .where('id', 'in', ids)
    .where('retired_at', 'is not', null)
    .where('retired_at', '<=', cutoff)
    .returning(['id', 'environment_id'])
    .execute();
}
