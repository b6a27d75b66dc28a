/** Tenant rules: creation, updates, memberships, and the access check every service relies on. */
import { conflict, DomainError, invalid, notFound, preconditionFailed } from '../../shared/errors.js';
import { checkAbsent, checkEtag, concurrentlyChanged, type EtagCondition } from '../../shared/http/etag.js';
import type { TenantAccess } from '../../shared/http/route.js';
import type { Principal } from '../../shared/auth/authenticate.js';
import { emit } from '../../shared/events/outbox.js';
import * as store from './store.js';
import type { CreateTenantInput, MemberDto, PatchTenantInput, QuotasDto, TenantDto } from './schemas.js';

export function toTenantDto(r: store.TenantRow, defaults: QuotasDto): TenantDto {
  return {
    id: r.tenant_id,
    displayName: r.display_name,
    isolation: r.isolation_model === 'siloed' ? { model: 'siloed', database: r.silo_database ?? '' } : { model: 'pooled' },
    status: r.status,
    quotas: { ...defaults, ...r.quotas },
    createdAt: r.created_at.toISOString(),
    updatedAt: r.updated_at.toISOString(),
    etag: r.etag,
  };
}

export function toMemberDto(r: store.MemberRow): MemberDto {
  return { principalId: r.principal_id, role: r.role, createdAt: r.created_at.toISOString(), updatedAt: r.updated_at.toISOString(), etag: r.etag };
}

/** Creates a tenant; a siloed tenant must name a silo this deployment has configured. */
export async function createTenant(
  trx: store.Tx,
  input: CreateTenantInput,
  siloExists: (name: string) => boolean,
  defaults: QuotasDto,
): Promise<store.TenantRow> {
  const isolation = input.isolation ?? { model: 'pooled' as const };
  if (isolation.model === 'siloed' && !siloExists(isolation.database)) {
    throw invalid(`No silo database named '${isolation.database}' is configured.`, 'isolation.database');
  }
  const row = await store.insertTenant(trx, {
    tenant_id: input.id,
    display_name: input.displayName,
    isolation_model: isolation.model,
    silo_database: isolation.model === 'siloed' ? isolation.database : null,
    status: 'active',
    quotas: { ...defaults, ...(input.quotas as QuotasDto | undefined) },
  });
  if (!row) throw conflict(`A tenant with id '${input.id}' already exists.`, 'id');
  await emit(trx, row.tenant_id, { type: 'TenantCreated', subject: `tenants/${row.tenant_id}`, data: { isolation: isolation.model } });
  return row;
}

/** Applies a merge patch; with an expected ETag the update is conditional (412 when stale). */
export async function patchTenant(
  trx: store.Tx,
  tenantId: string,
  patch: PatchTenantInput,
  expectedEtag: EtagCondition | undefined,
  defaults: QuotasDto,
): Promise<store.TenantRow> {
  const current = await store.getTenant(trx, tenantId);
  if (!current) throw notFound(`Tenant '${tenantId}'`, 'tenantId');
  checkEtag(expectedEtag, current.etag);
  const quotas: QuotasDto | undefined = patch.quotas ? { ...defaults, ...current.quotas, ...(patch.quotas as QuotasDto) } : undefined;
  const row = await store.updateTenant(
    trx,
    tenantId,
    {
      ...(patch.displayName !== undefined ? { display_name: patch.displayName } : {}),
      ...(patch.status !== undefined ? { status: patch.status } : {}),
      ...(quotas ? { quotas } : {}),
    },
    current.etag,
  );
  // The row changed between our read and write: another writer won.
  if (!row) throw concurrentlyChanged('tenant');
  await emit(trx, tenantId, { type: 'TenantUpdated', subject: `tenants/${tenantId}`, data: { fields: Object.keys(patch) } });
  return row;
}

/** Who is changing a tenant's members: checked again under the tenant's lock. */
export interface Actor {
  id: string;
  isPlatformAdmin: boolean;
}

/**
 * Starts a membership change of `tenantId`: locks the tenant's row for the rest of the
 * transaction (so the membership changes of one tenant run one at a time, each reading what the
 * one before it committed), then checks afresh, under that lock, that `actor` may still change
 * members: a platform admin, or an admin of an active tenant. The pipeline has checked this
 * before the transaction (`fresh`); checking again here closes the gap between that check and the
 * write, in which a concurrent request may have removed or demoted the actor.
 */
async function beginMembershipChange(trx: store.Tx, tenantId: string, actor: Actor): Promise<void> {
  const tenant = await store.lockTenant(trx, tenantId);
  if (!tenant) throw notFound(`Tenant '${tenantId}'`, 'tenantId');
  if (actor.isPlatformAdmin) return;
  const me = await store.getMember(trx, tenantId, actor.id);
  // As in the pipeline: a tenant one is not a member of looks like one that does not exist.
  if (!me) throw notFound(`Tenant '${tenantId}'`, 'tenantId');
  if (me.role !== 'admin') throw new DomainError('Forbidden', "This operation needs the 'admin' role in the tenant.");
  if (tenant.status === 'suspended') throw new DomainError('TenantSuspended', 'The tenant is suspended; only reads are allowed.');
}

/**
 * Grants or changes a member's role. Demoting the last admin is refused so the tenant stays
 * manageable. Runs under the tenant's lock: the If-Match check, the last-admin count and the
 * write see one consistent state, and the write is conditional on the version read.
 */
export async function setMember(
  trx: store.Tx,
  tenantId: string,
  principalId: string,
  role: store.MemberRow['role'],
  expectedEtag: EtagCondition | undefined,
  ifNoneMatch: EtagCondition | undefined,
  actor: Actor,
): Promise<store.MemberRow & { created: boolean }> {
  await beginMembershipChange(trx, tenantId, actor);
  const current = await store.getMember(trx, tenantId, principalId);
  // If-Match: * means "only if it exists"; If-None-Match: * means "only if it does not".
  checkEtag(expectedEtag, current?.etag);
  checkAbsent(ifNoneMatch, current?.etag);
  if (current?.role === 'admin' && role !== 'admin' && (await store.countAdmins(trx, tenantId)) <= 1) {
    throw conflict('The last admin of a tenant cannot be demoted; add another admin first.', 'role');
  }
  const row = current ? await store.updateMemberRole(trx, tenantId, principalId, role, current.etag) : await store.insertMember(trx, tenantId, principalId, role);
  // Cannot happen under the lock; if a writer ever bypasses it, refuse rather than overwrite.
  if (!row) throw concurrentlyChanged('member');
  await emit(trx, tenantId, { type: 'TenantMemberSet', subject: `tenants/${tenantId}/members/${principalId}`, data: { role } });
  return { ...row, created: !current };
}

/**
 * Removes a member (idempotent: removing a non-member is a 204 too, unless If-Match names a
 * version). Runs under the tenant's lock, like {@link setMember}.
 */
export async function removeMember(trx: store.Tx, tenantId: string, principalId: string, expectedEtag: EtagCondition | undefined, actor: Actor): Promise<void> {
  await beginMembershipChange(trx, tenantId, actor);
  const current = await store.getMember(trx, tenantId, principalId);
  if (!current) {
    if (expectedEtag !== undefined) throw preconditionFailed('The member does not exist.');
    return;
  }
  checkEtag(expectedEtag, current.etag);
  if (current.role === 'admin' && (await store.countAdmins(trx, tenantId)) <= 1) {
    throw conflict('The last admin of a tenant cannot be removed; add another admin first.', 'principalId');
  }
  if ((await store.deleteMember(trx, tenantId, principalId, current.etag)) !== 1) throw concurrentlyChanged('member');
  await emit(trx, tenantId, { type: 'TenantMemberRemoved', subject: `tenants/${tenantId}/members/${principalId}`, data: {} });
}

/** Maps a tenant row and the caller's role to the pipeline's {@link TenantAccess}. */
export function toAccess(row: store.TenantRow, principal: Principal, memberRole: store.MemberRow['role'] | null, defaults: QuotasDto): TenantAccess | null {
  const role = principal.isPlatformAdmin ? 'admin' : memberRole;
  if (!role) return null;
  return {
    tenantId: row.tenant_id,
    placement: row.isolation_model === 'siloed' && row.silo_database ? { model: 'siloed', database: row.silo_database } : { model: 'pooled' },
    status: row.status,
    quotas: { ...defaults, ...row.quotas },
    role,
  };
}
