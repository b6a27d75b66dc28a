/** Environment rules: ids, quota, names, the declared storage topology, updates and retirement. */
import type { z } from 'zod';
import { conflict, notFound, quotaExceeded } from '../../shared/errors.js';
import { checkEtag, concurrentlyChanged, type EtagCondition } from '../../shared/http/etag.js';
import { mergeLabels } from '../../shared/labels.js';
import { emit } from '../../shared/events/outbox.js';
import { newId } from '../../shared/ids.js';
import type { Placement, TenantRef } from '../../shared/sql/service-db.js';
import { storageMapRows } from '../../shared/storage-map.js';
import { environmentRetired } from './errors.js';
import * as store from './store.js';
import type { CreateEnvironment, EnvironmentDto, PatchEnvironment, StorageTopologyDto } from './schemas.js';

export function toEnvironmentDto(r: store.EnvironmentRow): EnvironmentDto {
  return {
    id: r.id,
    name: r.name,
    displayName: r.display_name,
    description: r.description,
    kind: r.kind,
    region: r.region,
    status: r.retired_at ? 'retired' : 'active',
    labels: r.labels,
    storageTopology: r.storage_topology,
    createdAt: r.created_at.toISOString(),
    updatedAt: r.updated_at.toISOString(),
    retiredAt: r.retired_at ? r.retired_at.toISOString() : null,
    etag: r.etag,
  };
}

/**
 * What the infrastructure program provisions, read from the storage map (the same source the
 * Pulumi program reads): the tenant's PostgreSQL database with a schema per owning service, and
 * every Blob and Cosmos DB container with its retention. Used when a create names no topology.
 */
export function defaultStorageTopology(placement: Placement): StorageTopologyDto {
  const schemas = [...new Set(storageMapRows.filter((r) => r.store === 'PostgreSQL').flatMap((r) => r.owners))]
    // The tenant registry always stays in the pooled database.
    .filter((s) => placement.model === 'pooled' || s !== 'tenants')
    .sort();
  const resources: StorageTopologyDto['resources'] = [
    { kind: 'postgresql', name: placement.model === 'siloed' ? placement.database : 'pooled', schemas },
  ];
  for (const r of storageMapRows) {
    if (r.store === 'Azure Blob Storage' && r.container) {
      resources.push({
        kind: 'blobContainer',
        name: r.container,
        ...(r.coolAfterDays !== undefined ? { coolAfterDays: r.coolAfterDays } : {}),
        ...(r.retentionDays !== undefined ? { deleteAfterDays: r.retentionDays } : {}),
      });
    }
    if (r.store === 'Cosmos DB (NoSQL API)' && r.container && r.partitionKey) {
      resources.push({
        kind: 'cosmosContainer',
        name: r.container,
        partitionKey: r.partitionKey,
        ...(r.retentionDays !== undefined ? { defaultTtlSeconds: r.retentionDays * 24 * 60 * 60 } : {}),
      });
    }
  }
  return { resources };
}

/**
 * Creates an environment. The tenant's environments are locked for the transaction, so the quota
 * count and the insert cannot interleave with another create (no quota overrun under concurrency).
 */
export async function createEnvironment(
  trx: store.Tx,
  tenant: TenantRef & { maxEnvironments: number },
  input: z.output<typeof CreateEnvironment>,
  now: Date,
): Promise<store.EnvironmentRow> {
  await store.lockTenant(trx, tenant.tenantId);
  const live = await store.countLive(trx, tenant.tenantId);
  if (live >= tenant.maxEnvironments) {
    throw quotaExceeded(`The tenant has ${live} environments; its quota is ${tenant.maxEnvironments}.`, 'maxEnvironments');
  }
  const row = await store.insertEnvironment(trx, {
    tenant_id: tenant.tenantId,
    id: newId('env'),
    name: input.name,
    display_name: input.displayName ?? null,
    description: input.description ?? null,
    kind: input.kind,
    region: input.region,
    labels: input.labels ?? {},
    storage_topology: input.storageTopology ?? defaultStorageTopology(tenant.placement),
    created_at: now,
    updated_at: now,
  });
  if (!row) throw conflict(`An environment named '${input.name}' already exists in the tenant.`, 'name');
  await emit(trx, tenant.tenantId, {
    type: 'EnvironmentCreated',
    subject: `tenants/${tenant.tenantId}/environments/${row.id}`,
    data: { name: row.name, kind: row.kind, region: row.region },
  });
  return row;
}

/** Applies a merge patch; with `If-Match` the update is conditional (412 when stale). */
export async function patchEnvironment(
  trx: store.Tx,
  tenantId: string,
  id: string,
  patch: z.output<typeof PatchEnvironment>,
  ifMatch: EtagCondition | undefined,
  now: Date,
): Promise<store.EnvironmentRow> {
  if (patch.name !== undefined) await store.lockTenant(trx, tenantId);
  const current = await store.getEnvironment(trx, tenantId, id, { forUpdate: true });
  if (!current) throw notFound(`Environment '${id}'`, 'environmentId');
  checkEtag(ifMatch, current.etag);
  if (current.retired_at) throw environmentRetired(id);
  if (patch.name !== undefined && patch.name !== current.name) {
    const taken = await store.findLiveByName(trx, tenantId, patch.name);
    if (taken) throw conflict(`An environment named '${patch.name}' already exists in the tenant.`, 'name');
  }
  const row = await store.updateEnvironment(trx, tenantId, id, current.etag, {
    ...(patch.name !== undefined ? { name: patch.name } : {}),
    ...(patch.displayName !== undefined ? { display_name: patch.displayName } : {}),
    ...(patch.description !== undefined ? { description: patch.description } : {}),
    ...(patch.labels !== undefined ? { labels: mergeLabels(current.labels, patch.labels) } : {}),
    ...(patch.storageTopology !== undefined ? { storage_topology: patch.storageTopology } : {}),
    updated_at: now,
  });
  if (!row) throw concurrentlyChanged('environment');
  await emit(trx, tenantId, {
    type: 'EnvironmentUpdated',
    subject: `tenants/${tenantId}/environments/${id}`,
    data: { fields: Object.keys(patch) },
  });
  return row;
}

/**
 * Retires an environment (never deletes it). Retiring a retired environment changes nothing and
 * answers the same, whatever its `If-Match`, so a client can retry until the cascade to its
 * services has finished.
 */
export async function retireEnvironment(
  trx: store.Tx,
  tenantId: string,
  id: string,
  ifMatch: EtagCondition | undefined,
  now: Date,
): Promise<{ row: store.EnvironmentRow; changed: boolean }> {
  const current = await store.getEnvironment(trx, tenantId, id, { forUpdate: true });
  if (!current) throw notFound(`Environment '${id}'`, 'environmentId');
  // Already retired: the change the client asked for has been applied (a retry, perhaps after a
  // lost answer, carrying the tag it had read before), so it succeeds (RFC 9110 §13.1.1).
  if (current.retired_at) return { row: current, changed: false };
  checkEtag(ifMatch, current.etag);
  const row = await store.updateEnvironment(trx, tenantId, id, current.etag, { retired_at: now, updated_at: now });
  if (!row) throw concurrentlyChanged('environment');
  await emit(trx, tenantId, {
    type: 'EnvironmentRetired',
    subject: `tenants/${tenantId}/environments/${id}`,
    data: { name: row.name, retiredAt: now.toISOString() },
  });
  return { row, changed: true };
}

/** Callback run after an environment is retired (the catalog retires the environment's services). */
export type EnvironmentRetiredListener = (tenant: TenantRef, environmentId: string, retiredAt: Date) => Promise<void>;

/** The retire listeners of one app instance; run in registration order, each idempotent. */
export class RetireListeners {
  private readonly listeners: EnvironmentRetiredListener[] = [];

  add(listener: EnvironmentRetiredListener): void {
    this.listeners.push(listener);
  }

  async notify(tenant: TenantRef, environmentId: string, retiredAt: Date): Promise<void> {
    for (const l of this.listeners) await l(tenant, environmentId, retiredAt);
  }
}
