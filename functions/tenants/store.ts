/** The tenants service's SQL (its own schema only; `search_path` is set by the transaction). */
import { sql, type Generated, type Kysely, type Selectable, type Transaction } from 'kysely';
import { prepared } from '../../shared/sql/prepared.js';
import type { QuotasDto } from './schemas.js';

interface TenantTable {
  tenant_id: string;
  display_name: string;
  isolation_model: 'pooled' | 'siloed';
  silo_database: string | null;
  status: 'active' | 'suspended';
  quotas: QuotasDto;
  etag: Generated<string>;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

interface MemberTable {
  tenant_id: string;
  principal_id: string;
  role: 'reader' | 'operator' | 'admin';
  etag: Generated<string>;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

export interface TenantsDb {
  tenants: TenantTable;
  members: MemberTable;
}

export type TenantRow = Selectable<TenantTable>;
export type MemberRow = Selectable<MemberTable>;

export type Tx = Transaction<TenantsDb>;

export async function insertTenant(trx: Tx, row: Omit<TenantRow, 'etag' | 'created_at' | 'updated_at'>): Promise<TenantRow | undefined> {
  return trx
    .insertInto('tenants')
    .values({ ...row, quotas: JSON.stringify(row.quotas) as never })
    .onConflict((oc) => oc.column('tenant_id').doNothing())
    .returningAll()
    .executeTakeFirst();
}

/** Reads build queries on any query creator, so they run in a transaction or as one-shot reads. */
type Q = Kysely<TenantsDb> | Tx;

/** A tenant by id, compiled once (the tenant read is the pipeline's reference point read). */
export const readTenant = prepared((db: Kysely<TenantsDb>, a: { tenantId: string }) => db.selectFrom('tenants').selectAll().where('tenant_id', '=', a.tenantId));

export async function getTenant(trx: Tx, tenantId: string): Promise<TenantRow | undefined> {
  return (await trx.executeQuery(readTenant(trx, { tenantId }).compile())).rows[0];
}

/** Tenant row plus the principal's membership role, in one round trip. */
export function selectTenantWithRole(db: Q, tenantId: string, principalId: string) {
  return db
    .selectFrom('tenants as t')
    .leftJoin('members as m', (j) => j.onRef('m.tenant_id', '=', 't.tenant_id').on('m.principal_id', '=', principalId))
    .selectAll('t')
    .select('m.role')
    .where('t.tenant_id', '=', tenantId);
}

/** Options of a keyset page of tenants, in `tenant_id` order. */
export interface TenantPage {
  after?: string | undefined;
  limit: number;
  status?: TenantRow['status'] | undefined;
}

/** Every tenant the scope admits (the platform scope: all of them). */
export function selectTenants(db: Q, opts: TenantPage) {
  let q = db.selectFrom('tenants').selectAll().orderBy('tenant_id').limit(opts.limit);
  if (opts.after !== undefined) q = q.where('tenant_id', '>', opts.after);
  if (opts.status) q = q.where('status', '=', opts.status);
  return q;
}

/**
 * The tenants `principalId` is a member of, with its role in each. Meant for the principal scope,
 * whose policies admit exactly these rows; the join on the principal says the same in the query.
 */
export function selectTenantsOfPrincipal(db: Q, principalId: string, opts: TenantPage) {
  let q = db
    .selectFrom('members as m')
    .innerJoin('tenants as t', 't.tenant_id', 'm.tenant_id')
    .selectAll('t')
    .select('m.role')
    .where('m.principal_id', '=', principalId)
    .orderBy('t.tenant_id')
    .limit(opts.limit);
  if (opts.after !== undefined) q = q.where('t.tenant_id', '>', opts.after);
  if (opts.status) q = q.where('t.status', '=', opts.status);
  return q;
}

/**
 * Locks the tenant's row until the transaction ends (`for update`) and returns it. Every
 * membership change takes this lock first, so the changes of one tenant run one at a time and
 * each reads what the previous one committed.
 */
export async function lockTenant(trx: Tx, tenantId: string): Promise<Pick<TenantRow, 'tenant_id' | 'status'> | undefined> {
  return trx.selectFrom('tenants').select(['tenant_id', 'status']).where('tenant_id', '=', tenantId).forUpdate().executeTakeFirst();
}

/** Updates only when `expectedEtag` (if given) still matches; returns the new row or undefined. */
export async function updateTenant(
  trx: Tx,
  tenantId: string,
  patch: Partial<Pick<TenantRow, 'display_name' | 'status' | 'quotas'>>,
  expectedEtag: string | undefined,
): Promise<TenantRow | undefined> {
  let q = trx
    .updateTable('tenants')
    .set({
      ...patch,
      ...(patch.quotas ? { quotas: JSON.stringify(patch.quotas) as never } : {}),
      etag: sql`gen_random_uuid()`,
      updated_at: sql`now()`,
    })
    .where('tenant_id', '=', tenantId);
  if (expectedEtag !== undefined) q = q.where(sql`etag::text`, '=', expectedEtag);
  return q.returningAll().executeTakeFirst();
}

/** Adds a member; undefined when the row exists already (someone else added it). */
export async function insertMember(trx: Tx, tenantId: string, principalId: string, role: MemberRow['role']): Promise<MemberRow | undefined> {
  return trx
    .insertInto('members')
    .values({ tenant_id: tenantId, principal_id: principalId, role })
    .onConflict((oc) => oc.columns(['tenant_id', 'principal_id']).doNothing())
    .returningAll()
    .executeTakeFirst();
}

/** Changes a member's role only if its row is still at `expectedEtag`; undefined otherwise. */
export async function updateMemberRole(
  trx: Tx,
  tenantId: string,
  principalId: string,
  role: MemberRow['role'],
  expectedEtag: string,
): Promise<MemberRow | undefined> {
  return trx
    .updateTable('members')
    .set({ role, etag: sql`gen_random_uuid()`, updated_at: sql`now()` })
    .where('tenant_id', '=', tenantId)
    .where('principal_id', '=', principalId)
    .where(sql`etag::text`, '=', expectedEtag)
    .returningAll()
    .executeTakeFirst();
}

export async function getMember(trx: Tx, tenantId: string, principalId: string): Promise<MemberRow | undefined> {
  return trx.selectFrom('members').selectAll().where('tenant_id', '=', tenantId).where('principal_id', '=', principalId).executeTakeFirst();
}

export async function deleteMember(trx: Tx, tenantId: string, principalId: string, expectedEtag: string | undefined): Promise<number> {
  let q = trx.deleteFrom('members').where('tenant_id', '=', tenantId).where('principal_id', '=', principalId);
  if (expectedEtag !== undefined) q = q.where(sql`etag::text`, '=', expectedEtag);
  const r = await q.executeTakeFirst();
  return Number(r.numDeletedRows);
}

export function selectMembers(db: Q, tenantId: string, opts: { after?: string | undefined; limit: number }) {
  let q = db.selectFrom('members').selectAll().where('tenant_id', '=', tenantId).orderBy('principal_id').limit(opts.limit);
  if (opts.after !== undefined) q = q.where('principal_id', '>', opts.after);
  return q;
}

export async function countAdmins(trx: Tx, tenantId: string): Promise<number> {
  const r = await trx
    .selectFrom('members')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('tenant_id', '=', tenantId)
    .where('role', '=', 'admin')
    .executeTakeFirstOrThrow();
  return Number(r.n);
}
