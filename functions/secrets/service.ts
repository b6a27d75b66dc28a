/** Secret binding rules: ids, quota, names, the vault a binding may name, consumers, updates and deletion. */
import type { z } from 'zod';
import { conflict, invalid, notFound, quotaExceeded, UnavailableError } from '../../shared/errors.js';
import { checkEtag, concurrentlyChanged, type EtagCondition } from '../../shared/http/etag.js';
import { emit } from '../../shared/events/outbox.js';
import { vaultSecretExists, vaultSecretMissing } from './errors.js';
import type { ValueProviders } from './generator.js';
import * as store from './store.js';
import { newestEnabled, TAG_BINDING, TAG_ROTATION, vaultSecretName, type SecretVault } from './vault.js';
import type { BindingDto, ConsumerDto, CreateBinding, PatchBinding, RotationPolicyDto } from './schemas.js';

const DAY_MS = 86_400_000;

/** A row and its consumers as the API shows them. */
export function toBindingDto(r: store.BindingRow, consumers: readonly store.ConsumerRow[]): BindingDto {
  return {
    id: r.id,
    name: r.name,
    keyVaultRef: r.key_vault_ref,
    secretName: r.secret_name,
    currentVersion: r.current_version,
    previousVersion: r.previous_version,
    previousDisableAt: r.previous_disable_at?.toISOString() ?? null,
    consumers: consumers.filter((c) => c.binding_id === r.id).map(toConsumerDto),
    rotation: r.rotation,
    nextRotationAt: r.next_rotation_at?.toISOString() ?? null,
    lastRotatedAt: r.last_rotated_at?.toISOString() ?? null,
    createdAt: r.created_at.toISOString(),
    updatedAt: r.updated_at.toISOString(),
    etag: r.etag,
  };
}

function toConsumerDto(c: store.ConsumerRow): ConsumerDto {
  return c.service_id ? { environmentId: c.environment_id, serviceId: c.service_id } : { environmentId: c.environment_id };
}

/** A vault URL in one spelling: lower-case, no trailing slash. */
export function normaliseVaultUrl(url: string): string {
  return url.replace(/\/+$/, '').toLowerCase();
}

/**
 * The vault a binding names: this deployment's own (the only one its identity is granted), which
 * is also the default. A request naming another vault is refused rather than stored unusable.
 */
export function resolveVault(requested: string | undefined, configured: string | undefined): string {
  if (!configured) throw new UnavailableError('Key Vault is not configured on this instance.', 60);
  const own = normaliseVaultUrl(configured);
  if (requested !== undefined && normaliseVaultUrl(requested) !== own) throw invalid(`This deployment reaches only the vault ${own}.`, 'keyVaultRef');
  return own;
}

/**
 * The version a new binding starts at. `existing`: the newest enabled version of the tenant's
 * secret (409 VaultSecretMissing when there is none). `generate`: a value from the generator,
 * written straight to the vault and tagged with the binding; a secret the vault already holds is
 * never overwritten (409 VaultSecretExists), except the version an earlier attempt of this same
 * create wrote (its tag says so), which is adopted rather than written twice.
 */
export async function initialVersion(
  vault: SecretVault,
  providers: Pick<ValueProviders, 'generate'>,
  tenantId: string,
  bindingId: string,
  input: Pick<z.output<typeof CreateBinding>, 'name' | 'secretName' | 'rotation' | 'initialValue'>,
): Promise<string> {
  const name = vaultSecretName(tenantId, input.secretName);
  const versions = await vault.versions(name);
  if ((input.initialValue ?? 'existing') === 'existing') {
    const newest = newestEnabled(versions);
    if (!newest) throw vaultSecretMissing(input.secretName);
    return newest.version;
  }
  const mark = `${tenantId}/${input.name}`;
  if (versions.length > 0) {
    const own = versions.find((v) => v.tags[TAG_BINDING] === mark && v.tags[TAG_ROTATION] === undefined && v.enabled);
    if (own && versions.length === 1) return own.version;
    throw vaultSecretExists(input.secretName);
  }
  const value = await providers.generate(input.rotation.generator, { tenantId, bindingId, secretName: input.secretName });
  return vault.write(name, value, { [TAG_BINDING]: mark });
}

/** When a binding with this policy is next due, counted from `from` (creation or last rotation). */
export function nextRotation(policy: RotationPolicyDto, from: Date): Date | null {
  return policy.intervalDays === null ? null : new Date(from.getTime() + policy.intervalDays * DAY_MS);
}

/** What a create needs beyond the request: the tenant and its quota, the vault, and the version the vault holds. */
export interface CreateContext {
  tenantId: string;
  maxSecretBindings: number;
  keyVaultRef: string;
  currentVersion: string | null;
  id: string;
}

/**
 * Checks that a binding could be created (quota, free name and secret) without writing: asked
 * before the vault is touched, so a refused create writes nothing there. The create re-checks
 * under the tenant's lock.
 */
export async function checkCreate(trx: store.Tx, c: Pick<CreateContext, 'tenantId' | 'maxSecretBindings' | 'keyVaultRef'>, input: Pick<z.output<typeof CreateBinding>, 'name' | 'secretName'>): Promise<void> {
  const live = await store.countLive(trx, c.tenantId);
  if (live >= c.maxSecretBindings) throw quotaExceeded(`The tenant has ${live} secret bindings; its quota is ${c.maxSecretBindings}.`, 'maxSecretBindings');
  const clash = await store.findLiveClash(trx, c.tenantId, input.name, c.keyVaultRef, input.secretName);
  if (clash) throw clashError(clash.name === input.name, input);
}

function clashError(byName: boolean, input: Pick<z.output<typeof CreateBinding>, 'name' | 'secretName'>) {
  return byName
    ? conflict(`A secret binding named '${input.name}' already exists in the tenant.`, 'name')
    : conflict(`The secret '${input.secretName}' is already bound in the tenant.`, 'secretName');
}

/**
 * Creates a binding. The tenant's bindings are locked for the transaction, so the quota count and
 * the insert cannot interleave with another create (no quota overrun under concurrency).
 */
export async function createBinding(trx: store.Tx, c: CreateContext, input: z.output<typeof CreateBinding>, now: Date): Promise<{ row: store.BindingRow; consumers: store.ConsumerRow[] }> {
  await store.lockTenant(trx, c.tenantId);
  await checkCreate(trx, c, input);
  const row = await store.insertBinding(trx, {
    tenant_id: c.tenantId,
    id: c.id,
    name: input.name,
    key_vault_ref: c.keyVaultRef,
    secret_name: input.secretName,
    current_version: c.currentVersion,
    previous_version: null,
    previous_disable_at: null,
    rotation: input.rotation,
    next_rotation_at: nextRotation(input.rotation, now),
    last_rotated_at: null,
    created_at: now,
    updated_at: now,
  });
  if (!row) throw clashError(true, input);
  const consumers = input.consumers ?? [];
  await store.setConsumers(trx, c.tenantId, row.id, consumers);
  await emit(trx, c.tenantId, {
    type: 'SecretBindingCreated',
    subject: `tenants/${c.tenantId}/secret-bindings/${row.id}`,
    data: { name: row.name, keyVaultRef: row.key_vault_ref, secretName: row.secret_name, currentVersion: row.current_version },
  });
  return { row, consumers: await store.selectConsumers(trx, c.tenantId, [row.id]).execute() };
}

/** Applies a merge patch; with `If-Match` the update is conditional (412 when stale). */
export async function patchBinding(
  trx: store.Tx,
  tenantId: string,
  id: string,
  patch: z.output<typeof PatchBinding>,
  ifMatch: EtagCondition | undefined,
  now: Date,
): Promise<{ row: store.BindingRow; consumers: store.ConsumerRow[] }> {
  const current = await store.getBinding(trx, tenantId, id, { forUpdate: true });
  if (!current) throw notFound(`Secret binding '${id}'`, 'bindingId');
  checkEtag(ifMatch, current.etag);
  const row = await store.updateBinding(trx, tenantId, id, current.etag, {
    ...(patch.rotation !== undefined
      ? { rotation: patch.rotation, next_rotation_at: nextRotation(patch.rotation, current.last_rotated_at ?? current.created_at) }
      : {}),
    updated_at: now,
  });
  if (!row) throw concurrentlyChanged('secret binding');
  if (patch.consumers !== undefined) await store.setConsumers(trx, tenantId, id, patch.consumers);
  await emit(trx, tenantId, { type: 'SecretBindingUpdated', subject: `tenants/${tenantId}/secret-bindings/${id}`, data: { fields: Object.keys(patch) } });
  return { row, consumers: await store.selectConsumers(trx, tenantId, [id]).execute() };
}

/**
 * Deletes a binding: the reference goes (soft-deleted, removed with its history after the
 * storage map's retention); the secret stays in the vault, which is not the binding's to destroy.
 */
export async function deleteBinding(trx: store.Tx, tenantId: string, id: string, ifMatch: EtagCondition | undefined, now: Date): Promise<void> {
  const current = await store.getBinding(trx, tenantId, id, { forUpdate: true });
  if (!current) throw notFound(`Secret binding '${id}'`, 'bindingId');
  checkEtag(ifMatch, current.etag);
  const row = await store.updateBinding(trx, tenantId, id, current.etag, { deleted_at: now, next_rotation_at: null, updated_at: now });
  if (!row) throw concurrentlyChanged('secret binding');
  await emit(trx, tenantId, { type: 'SecretBindingDeleted', subject: `tenants/${tenantId}/secret-bindings/${id}`, data: { name: row.name } });
}
