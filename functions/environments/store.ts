/** The environments service's SQL (its own schema only; `search_path` is set by the transaction). */
import { sql, type Generated, type Kysely, type Selectable, type Transaction } from 'kysely';
import { keysetPage, type CreatedRange, type KeysetPosition } from '../../shared/http/keyset.js';
import { labelSelectorSql, type LabelRequirement } from '../../shared/labels.js';
import type { StorageTopologyDto } from './schemas.js';

interface EnvironmentTable {
  tenant_id: string;
  id: string;
  name: string;
  display_name: string | null;
  description: string | null;
  kind: 'dev' | 'test' | 'staging' | 'prod';
  region: string;
  labels: Record<string, string>;
  storage_topology: StorageTopologyDto;
  etag: Generated<string>;
  created_at: Date;
  updated_at: Date;
  retired_at: Date | null;
}

export interface EnvironmentsDb {
  environments: EnvironmentTable;
}

export type EnvironmentRow = Selectable<EnvironmentTable>;
export type Tx = Transaction<EnvironmentsDb>;

/** Serialises the environment rows of one tenant: quota counts and creates never interleave. */
export async function lockTenant(trx: Tx, tenantId: string): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtextextended(${`environments:${tenantId}`}, 0))`.execute(trx);
}

export async function countLive(trx: Tx, tenantId: string): Promise<number> {
  const r = await trx
    .selectFrom('environments')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('tenant_id', '=', tenantId)
    .where('retired_at', 'is', null)
    .executeTakeFirstOrThrow();
  return Number(r.n);
}

/** Inserts unless a live environment has the name (then `undefined`). */
export async function insertEnvironment(trx: Tx, row: Omit<EnvironmentRow, 'etag' | 'retired_at'>): Promise<EnvironmentRow | undefined> {
  return trx
    .insertInto('environments')
    .values({ ...row, labels: JSON.stringify(row.labels) as never, storage_topology: JSON.stringify(row.storage_topology) as never })
    .onConflict((oc) => oc.columns(['tenant_id', 'name']).where('retired_at', 'is', null).doNothing())
    .returningAll()
    .executeTakeFirst();
}

/** One environment (a query, for `ctx.read` or a transaction). */
export function selectEnvironment(db: Kysely<EnvironmentsDb>, tenantId: string, id: string) {
  return db.selectFrom('environments').selectAll().where('tenant_id', '=', tenantId).where('id', '=', id);
}

export async function getEnvironment(trx: Tx, tenantId: string, id: string, opts: { forUpdate?: boolean } = {}): Promise<EnvironmentRow | undefined> {
  const q = selectEnvironment(trx, tenantId, id);
  return (opts.forUpdate ? q.forUpdate() : q).executeTakeFirst();
}

/** The live environment with this name, if any. */
export async function findLiveByName(trx: Tx, tenantId: string, name: string): Promise<Pick<EnvironmentRow, 'id'> | undefined> {
  return trx.selectFrom('environments').select('id').where('tenant_id', '=', tenantId).where('name', '=', name).where('retired_at', 'is', null).executeTakeFirst();
}

/** Filters of a list. */
export interface ListFilter {
  kind?: EnvironmentRow['kind'];
  region?: string;
  status: 'active' | 'retired' | 'all';
  namePrefix?: string;
  labels: LabelRequirement[];
  range: CreatedRange;
  after?: KeysetPosition;
  limit: number;
}

/** A page of a tenant's environments (a query, for `ctx.read` or a transaction). */
export function selectEnvironments(db: Kysely<EnvironmentsDb>, tenantId: string, f: ListFilter) {
  let q = db.selectFrom('environments').selectAll().where('tenant_id', '=', tenantId);
  if (f.status === 'active') q = q.where('retired_at', 'is', null);
  if (f.status === 'retired') q = q.where('retired_at', 'is not', null);
  if (f.kind) q = q.where('kind', '=', f.kind);
  if (f.region) q = q.where('region', '=', f.region);
  // The prefix is [a-z0-9-] only (validated), so it holds no LIKE wildcards.
  if (f.namePrefix) q = q.where('name', 'like', `${f.namePrefix}%`);
  if (f.labels.length) q = q.where(labelSelectorSql('labels', f.labels));
  return keysetPage(q, f.range, f.after, f.limit);
}

/** Conditional update on the etag read before; `undefined` when another writer came first. */
export async function updateEnvironment(
  trx: Tx,
  tenantId: string,
  id: string,
  expectedEtag: string,
  patch: Partial<Pick<EnvironmentRow, 'name' | 'display_name' | 'description' | 'labels' | 'storage_topology' | 'retired_at'>> & { updated_at: Date },
): Promise<EnvironmentRow | undefined> {
  return trx
    .updateTable('environments')
    .set({
      ...patch,
      ...(patch.labels ? { labels: JSON.stringify(patch.labels) as never } : {}),
      ...(patch.storage_topology ? { storage_topology: JSON.stringify(patch.storage_topology) as never } : {}),
      etag: sql`gen_random_uuid()`,
    })
    .where('tenant_id', '=', tenantId)
    .where('id', '=', id)
    .where(sql<boolean>`etag = ${expectedEtag}::uuid`)
    .returningAll()
    .executeTakeFirst();
}

/** Retired environments of a tenant, in id order after `after` (for the catalog's repair sweep). */
export async function listRetired(trx: Tx, tenantId: string, after: string | undefined, limit: number): Promise<Pick<EnvironmentRow, 'id' | 'retired_at'>[]> {
  let q = trx
    .selectFrom('environments')
    .select(['id', 'retired_at'])
    .where('tenant_id', '=', tenantId)
    .where('retired_at', 'is not', null)
    .orderBy('id')
    .limit(limit);
  if (after !== undefined) q = q.where('id', '>', after);
  return q.execute();
}

/** Live environments of a tenant, in id order after `after`. */
export async function listLive(trx: Tx, tenantId: string, after: string | undefined, limit: number): Promise<Pick<EnvironmentRow, 'id' | 'name' | 'kind' | 'region'>[]> {
  let q = trx
    .selectFrom('environments')
    .select(['id', 'name', 'kind', 'region'])
    .where('tenant_id', '=', tenantId)
    .where('retired_at', 'is', null)
    .orderBy('id')
    .limit(limit);
  if (after !== undefined) q = q.where('id', '>', after);
  return q.execute();
}
