/** The secrets service's SQL (its own schema only; `search_path` is set by the transaction). */
import { sql, type Generated, type Kysely, type Selectable, type Transaction } from 'kysely';
import { keysetPage, type CreatedRange, type KeysetPosition } from '../../shared/http/keyset.js';
import type { RotationPolicyDto } from './schemas.js';

interface BindingTable {
  tenant_id: string;
  id: string;
  name: string;
  key_vault_ref: string;
  secret_name: string;
  current_version: string | null;
  previous_version: string | null;
  previous_disable_at: Date | null;
  rotation: RotationPolicyDto;
  next_rotation_at: Date | null;
  last_rotated_at: Date | null;
  etag: Generated<string>;
  created_at: Date;
  updated_at: Date;
  deleted_at: Date | null;
}

interface ConsumerTable {
  tenant_id: string;
  binding_id: string;
  environment_id: string;
  /** '' when the whole environment consumes the binding. */
  service_id: string;
}

interface RotationTable {
  tenant_id: string;
  id: string;
  binding_id: string;
  instance_id: string;
  trigger: 'schedule' | 'manual';
  from_version: string | null;
  to_version: string | null;
  started_at: Date;
  finished_at: Date | null;
  outcome: 'running' | 'succeeded' | 'failed';
  error_code: string | null;
  stale_versions: Generated<string[]>;
}

export interface SecretsDb {
  bindings: BindingTable;
  binding_consumers: ConsumerTable;
  rotations: RotationTable;
}

export type BindingRow = Selectable<BindingTable>;
export type ConsumerRow = Selectable<ConsumerTable>;
export type RotationRow = Selectable<RotationTable>;
export type Tx = Transaction<SecretsDb>;
type Db = Kysely<SecretsDb> | Tx;

/**
 * `exists` a consumer of the binding behind `alias` in the environment — for `serviceId`, the
 * service itself or the whole environment. Plain SQL: the same filter in four queries.
 */
function consumedIn(alias: 'b' | 'r' | 'bindings', environmentId: string, serviceId?: string) {
  const binding = sql.ref(alias === 'r' ? 'r.binding_id' : `${alias}.id`);
  const service = serviceId === undefined ? sql`` : sql` and c.service_id in ('', ${serviceId})`;
  return sql<boolean>`exists (select 1 from binding_consumers c where c.tenant_id = ${sql.ref(`${alias}.tenant_id`)} and c.binding_id = ${binding} and c.environment_id = ${environmentId}${service})`;
}

/** Serialises the binding creates of one tenant: quota counts and inserts never interleave. */
export async function lockTenant(trx: Tx, tenantId: string): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtextextended(${`secrets:${tenantId}`}, 0))`.execute(trx);
}

export async function countLive(trx: Tx, tenantId: string): Promise<number> {
  const r = await trx
    .selectFrom('bindings')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('tenant_id', '=', tenantId)
    .where('deleted_at', 'is', null)
    .executeTakeFirstOrThrow();
  return Number(r.n);
}

/** Inserts unless a live binding has the name or the secret (then `undefined`). */
export async function insertBinding(trx: Tx, row: Omit<BindingRow, 'etag' | 'deleted_at'>): Promise<BindingRow | undefined> {
  return trx
    .insertInto('bindings')
    .values({ ...row, rotation: JSON.stringify(row.rotation) as never })
    .onConflict((oc) => oc.doNothing())
    .returningAll()
    .executeTakeFirst();
}

/** The live binding with this name or this vault secret, if any. */
export async function findLiveClash(trx: Tx, tenantId: string, name: string, keyVaultRef: string, secretName: string): Promise<Pick<BindingRow, 'id' | 'name'> | undefined> {
  return trx
    .selectFrom('bindings')
    .select(['id', 'name'])
    .where('tenant_id', '=', tenantId)
    .where('deleted_at', 'is', null)
    .where((eb) => eb.or([eb('name', '=', name), eb.and([eb('key_vault_ref', '=', keyVaultRef), eb('secret_name', '=', secretName)])]))
    .executeTakeFirst();
}

/** One live binding (a query, for `ctx.read` or a transaction). */
export function selectBinding(db: Kysely<SecretsDb>, tenantId: string, id: string) {
  return db.selectFrom('bindings').selectAll().where('tenant_id', '=', tenantId).where('id', '=', id).where('deleted_at', 'is', null);
}

export async function getBinding(trx: Tx, tenantId: string, id: string, opts: { forUpdate?: boolean } = {}): Promise<BindingRow | undefined> {
  const q = selectBinding(trx, tenantId, id);
  return (opts.forUpdate ? q.forUpdate() : q).executeTakeFirst();
}

/** Filters of a list. */
export interface ListFilter {
  namePrefix?: string;
  environmentId?: string;
  range: CreatedRange;
  after?: KeysetPosition;
  limit: number;
}

/** A page of a tenant's live bindings (a query, for `ctx.read` or a transaction). */
export function selectBindings(db: Kysely<SecretsDb>, tenantId: string, f: ListFilter) {
  let q = db.selectFrom('bindings').selectAll().where('tenant_id', '=', tenantId).where('deleted_at', 'is', null);
  // The prefix is [a-z0-9-] only (validated), so it holds no LIKE wildcards.
  if (f.namePrefix) q = q.where('name', 'like', `${f.namePrefix}%`);
  if (f.environmentId) q = q.where(consumedIn('bindings', f.environmentId));
  return keysetPage(q, f.range, f.after, f.limit);
}

/** The consumers of some bindings. */
export function selectConsumers(db: Db, tenantId: string, bindingIds: readonly string[]) {
  return db
    .selectFrom('binding_consumers')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('binding_id', 'in', bindingIds.length > 0 ? [...bindingIds] : [''])
    .orderBy('binding_id')
    .orderBy('environment_id')
    .orderBy('service_id');
}

/** Replaces a binding's consumers. */
export async function setConsumers(trx: Tx, tenantId: string, bindingId: string, consumers: readonly { environmentId: string; serviceId?: string | undefined }[]): Promise<void> {
  await trx.deleteFrom('binding_consumers').where('tenant_id', '=', tenantId).where('binding_id', '=', bindingId).execute();
  if (consumers.length === 0) return;
  await trx
    .insertInto('binding_consumers')
    .values(consumers.map((c) => ({ tenant_id: tenantId, binding_id: bindingId, environment_id: c.environmentId, service_id: c.serviceId ?? '' })))
    .execute();
}

/** Conditional update on the etag read before; `undefined` when another writer came first. */
export async function updateBinding(
  trx: Tx,
  tenantId: string,
  id: string,
  expectedEtag: string,
  patch: Partial<Omit<BindingRow, 'tenant_id' | 'id' | 'etag' | 'created_at'>> & { updated_at: Date },
): Promise<BindingRow | undefined> {
  return trx
    .updateTable('bindings')
    .set({ ...patch, ...(patch.rotation ? { rotation: JSON.stringify(patch.rotation) as never } : {}), etag: sql`gen_random_uuid()` })
    .where('tenant_id', '=', tenantId)
    .where('id', '=', id)
    .where(sql<boolean>`etag = ${expectedEtag}::uuid`)
    .returningAll()
    .executeTakeFirst();
}

/** Live bindings a service consumes, directly or through its environment. */
export function selectBindingsOfService(db: Db, tenantId: string, environmentId: string, serviceId: string) {
  return db
    .selectFrom('bindings as b')
    .selectAll('b')
    .where('b.tenant_id', '=', tenantId)
    .where('b.deleted_at', 'is', null)
    .where(consumedIn('b', environmentId, serviceId))
    .orderBy('b.name');
}

/** Live bindings usable in an environment (consumed by it or by one of its services), by name. */
export function selectLiveNamesInEnvironment(db: Db, tenantId: string, environmentId: string, names: readonly string[]) {
  return db
    .selectFrom('bindings as b')
    .select('b.name')
    .where('b.tenant_id', '=', tenantId)
    .where('b.deleted_at', 'is', null)
    .where('b.name', 'in', names.length > 0 ? [...names] : [''])
    .where(consumedIn('b', environmentId));
}

/** Which of these services a live binding names as consumer, with the binding names. */
export function selectConsumingBindings(db: Db, tenantId: string, serviceIds: readonly string[]) {
  return db
    .selectFrom('binding_consumers as c')
    .innerJoin('bindings as b', (j) => j.onRef('b.tenant_id', '=', 'c.tenant_id').onRef('b.id', '=', 'c.binding_id'))
    .select(['c.service_id', 'b.name', 'b.id'])
    .where('c.tenant_id', '=', tenantId)
    .where('b.deleted_at', 'is', null)
    .where('c.service_id', 'in', serviceIds.length > 0 ? [...serviceIds] : [''])
    .orderBy('c.service_id')
    .orderBy('b.name');
}

/**
 * The latest succeeded rotation, finished at or before `before`, of a live or deleted binding that
 * the service (or, without one, anything in the environment) consumes.
 */
export async function latestRotationBefore(trx: Tx, tenantId: string, environmentId: string, serviceId: string | undefined, before: Date): Promise<RotationRow | undefined> {
  return trx
    .selectFrom('rotations as r')
    .selectAll('r')
    .where('r.tenant_id', '=', tenantId)
    .where('r.outcome', '=', 'succeeded')
    .where('r.finished_at', '<=', before)
    .where(consumedIn('r', environmentId, serviceId))
    .orderBy('r.finished_at', 'desc')
    .orderBy('r.id', 'desc')
    .limit(1)
    .executeTakeFirst();
}

/** Records a rotation unless the instance already has one; returns the instance's row either way. */
export async function upsertRotation(trx: Tx, row: Omit<RotationRow, 'stale_versions'>): Promise<RotationRow> {
  await trx.insertInto('rotations').values(row).onConflict((oc) => oc.doNothing()).execute();
  return trx.selectFrom('rotations').selectAll().where('tenant_id', '=', row.tenant_id).where('instance_id', '=', row.instance_id).forUpdate().executeTakeFirstOrThrow();
}

export async function getRotation(trx: Tx, tenantId: string, id: string, opts: { forUpdate?: boolean } = {}): Promise<RotationRow | undefined> {
  const q = trx.selectFrom('rotations').selectAll().where('tenant_id', '=', tenantId).where('id', '=', id);
  return (opts.forUpdate ? q.forUpdate() : q).executeTakeFirst();
}

export async function updateRotation(trx: Tx, tenantId: string, id: string, patch: Partial<Omit<RotationRow, 'tenant_id' | 'id' | 'instance_id' | 'binding_id'>>): Promise<void> {
  await trx
    .updateTable('rotations')
    .set({ ...patch, ...(patch.stale_versions ? { stale_versions: JSON.stringify(patch.stale_versions) as never } : {}) }).where('tenant_id', '=', tenantId).where('id', '=', id).execute();
}

/** A binding's rotations, newest first (a query, for `ctx.read`). */
export function selectRotations(db: Kysely<SecretsDb>, tenantId: string, bindingId: string, before: { startedAt: Date; id: string } | undefined, limit: number) {
  let q = db.selectFrom('rotations').selectAll().where('tenant_id', '=', tenantId).where('binding_id', '=', bindingId);
  if (before) q = q.where(sql<boolean>`(started_at, id) < (${before.startedAt}::timestamptz, ${before.id})`);
  return q.orderBy('started_at', 'desc').orderBy('id', 'desc').limit(limit);
}

/** One rotation of a binding (a query, for `ctx.read`). */
export function selectRotation(db: Kysely<SecretsDb>, tenantId: string, bindingId: string, id: string) {
  return db.selectFrom('rotations').selectAll().where('tenant_id', '=', tenantId).where('binding_id', '=', bindingId).where('id', '=', id);
}

/** The rotation of a binding still running, if any (the newest). */
export async function runningRotation(trx: Tx, tenantId: string, bindingId: string): Promise<RotationRow | undefined> {
  return trx
    .selectFrom('rotations')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('binding_id', '=', bindingId)
    .where('outcome', '=', 'running')
    .orderBy('started_at', 'desc')
    .limit(1)
    .executeTakeFirst();
}

/** Live bindings whose rotation is due at `now`, oldest due first. */
export async function dueBindings(trx: Tx, tenantId: string, now: Date, limit: number): Promise<Pick<BindingRow, 'id' | 'next_rotation_at'>[]> {
  return trx
    .selectFrom('bindings')
    .select(['id', 'next_rotation_at'])
    .where('tenant_id', '=', tenantId)
    .where('deleted_at', 'is', null)
    .where('next_rotation_at', '<=', now)
    .orderBy('next_rotation_at')
    .limit(limit)
    .execute();
}

/** Rotations still marked running that started before `before` (their orchestration is asked again). */
export async function staleRunning(trx: Tx, tenantId: string, before: Date, limit: number): Promise<RotationRow[]> {
  return trx.selectFrom('rotations').selectAll().where('tenant_id', '=', tenantId).where('outcome', '=', 'running').where('started_at', '<', before).limit(limit).execute();
}

/** Bindings (live or deleted) whose previous version's overlap window has ended. */
export async function expiredOverlaps(trx: Tx, tenantId: string, now: Date, limit: number): Promise<BindingRow[]> {
  return trx.selectFrom('bindings').selectAll().where('tenant_id', '=', tenantId).where('previous_disable_at', '<=', now).limit(limit).execute();
}

/** Clears a binding's previous version once it is disabled (unless another rotation moved it meanwhile). */
export async function clearPrevious(trx: Tx, tenantId: string, id: string, version: string): Promise<void> {
  await trx
    .updateTable('bindings')
    .set({ previous_version: null, previous_disable_at: null })
    .where('tenant_id', '=', tenantId)
    .where('id', '=', id)
    .where('previous_version', '=', version)
    .execute();
}

/** Deletes bindings deleted before `cutoff`, with their consumers and rotations; returns how many bindings. */
export async function purgeDeleted(trx: Tx, tenantId: string, cutoff: Date, limit: number): Promise<number> {
  const ids = (
    await trx.selectFrom('bindings').select('id').where('tenant_id', '=', tenantId).where('deleted_at', '<', cutoff).where('previous_version', 'is', null).limit(limit).execute()
  ).map((r) => r.id);
  if (ids.length === 0) return 0;
  await trx.deleteFrom('rotations').where('tenant_id', '=', tenantId).where('binding_id', 'in', ids).execute();
  await trx.deleteFrom('binding_consumers').where('tenant_id', '=', tenantId).where('binding_id', 'in', ids).execute();
  await trx.deleteFrom('bindings').where('tenant_id', '=', tenantId).where('id', 'in', ids).execute();
  return ids.length;
}

/** Deletes rotation history that finished before `cutoff`; returns how many rows. */
export async function purgeRotations(trx: Tx, tenantId: string, cutoff: Date, limit: number): Promise<number> {
  const r = await sql<{ n: number }>`
    with gone as (
      delete from rotations where tenant_id = ${tenantId} and (tenant_id, id) in (
        select tenant_id, id from rotations where tenant_id = ${tenantId} and outcome <> 'running' and finished_at < ${cutoff} limit ${limit})
      returning 1)
    select count(*)::int as n from gone`.execute(trx);
  return r.rows[0]?.n ?? 0;
}
