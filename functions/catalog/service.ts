/** Catalog rules: registration under the environment lock and quota, updates, retirement, the cascade. */
import type { z } from 'zod';
import { conflict, notFound, quotaExceeded } from '../../shared/errors.js';
import { checkEtag, concurrentlyChanged, type EtagCondition } from '../../shared/http/etag.js';
import { mergeLabels } from '../../shared/labels.js';
import { emit } from '../../shared/events/outbox.js';
import { newId } from '../../shared/ids.js';
import type { TenantRef } from '../../shared/sql/service-db.js';
import { environmentRetired } from '../environments/api.js';
import { serviceRetired } from './errors.js';
import * as store from './store.js';
import type { PatchService, RegisterService, ServiceDto } from './schemas.js';

export function toServiceDto(r: store.ServiceRow): ServiceDto {
  return {
    id: r.id,
    environmentId: r.environment_id,
    name: r.name,
    displayName: r.display_name,
    description: r.description,
    owner: r.owner,
    lifecycle: r.lifecycle,
    status: r.retired_at ? 'retired' : 'active',
    labels: r.labels,
    createdAt: r.created_at.toISOString(),
    updatedAt: r.updated_at.toISOString(),
    retiredAt: r.retired_at ? r.retired_at.toISOString() : null,
    etag: r.etag,
  };
}

const subject = (tenantId: string, environmentId: string, id: string) => `tenants/${tenantId}/environments/${environmentId}/services/${id}`;


/**
 * Registers a service. The caller has checked with the environments service that the environment
 * exists and is active; under the environment lock this re-checks the catalog's own record of
 * retired environments (written by the cascade under the same lock), so a service cannot slip into
 * an environment whose cascade has already run. Quota: live services of the environment are
 * counted under the lock, so concurrent registrations cannot exceed `maxServicesPerEnvironment`.
 */
export async function registerService(
  trx: store.Tx,
  tenant: TenantRef & { maxServicesPerEnvironment: number },
  environmentId: string,
  input: z.output<typeof RegisterService>,
  now: Date,
): Promise<store.ServiceRow> {
  const { tenantId } = tenant;
  await store.lockEnvironment(trx, tenantId, environmentId);
  if (await store.isEnvironmentRetired(trx, tenantId, environmentId)) throw environmentRetired(environmentId);
  const live = await store.countLiveInEnvironment(trx, tenantId, environmentId);
  if (live >= tenant.maxServicesPerEnvironment) {
    throw quotaExceeded(`The environment has ${live} services; the tenant's quota is ${tenant.maxServicesPerEnvironment} per environment.`, 'maxServicesPerEnvironment');
  }
  const row = await store.insertService(trx, {
    tenant_id: tenantId,
    id: newId('svc'),
    environment_id: environmentId,
    name: input.name,
    display_name: input.displayName ?? null,
    description: input.description ?? null,
    owner: input.owner,
    lifecycle: input.lifecycle ?? 'experimental',
    labels: input.labels ?? {},
    created_at: now,
    updated_at: now,
  });
  if (!row) throw conflict(`A service named '${input.name}' already exists in the environment.`, 'name');
  await emit(trx, tenantId, {
    type: 'ServiceRegistered',
    subject: subject(tenantId, environmentId, row.id),
    data: { name: row.name, owner: row.owner, lifecycle: row.lifecycle },
  });
  return row;
}

/** Applies a merge patch; with `If-Match` the update is conditional (412 when stale). */
export async function patchService(
  trx: store.Tx,
  tenantId: string,
  environmentId: string,
  id: string,
  patch: z.output<typeof PatchService>,
  ifMatch: EtagCondition | undefined,
  now: Date,
): Promise<store.ServiceRow> {
  if (patch.name !== undefined) await store.lockEnvironment(trx, tenantId, environmentId);
  const current = await store.getService(trx, tenantId, id, { environmentId, forUpdate: true });
  if (!current) throw notFound(`Service '${id}'`, 'serviceId');
  checkEtag(ifMatch, current.etag);
  if (current.retired_at) throw serviceRetired(id);
  if (patch.name !== undefined && patch.name !== current.name && (await store.findLiveByName(trx, tenantId, environmentId, patch.name))) {
    throw conflict(`A service named '${patch.name}' already exists in the environment.`, 'name');
  }
  const row = await store.updateService(trx, tenantId, id, current.etag, {
    ...(patch.name !== undefined ? { name: patch.name } : {}),
    ...(patch.displayName !== undefined ? { display_name: patch.displayName } : {}),
    ...(patch.description !== undefined ? { description: patch.description } : {}),
    ...(patch.owner !== undefined ? { owner: patch.owner } : {}),
    ...(patch.lifecycle !== undefined ? { lifecycle: patch.lifecycle } : {}),
    ...(patch.labels !== undefined ? { labels: mergeLabels(current.labels, patch.labels) } : {}),
    updated_at: now,
  });
  if (!row) throw concurrentlyChanged('service');
  await emit(trx, tenantId, { type: 'ServiceUpdated', subject: subject(tenantId, environmentId, id), data: { fields: Object.keys(patch) } });
  return row;
}

/** Retires a service (kept, read-only, purged after the storage map's retention). Retrying is a no-op. */
export async function retireService(
  trx: store.Tx,
  tenantId: string,
  environmentId: string,
  id: string,
  ifMatch: EtagCondition | undefined,
  now: Date,
): Promise<store.ServiceRow> {
  const current = await store.getService(trx, tenantId, id, { environmentId, forUpdate: true });
  if (!current) throw notFound(`Service '${id}'`, 'serviceId');
  // Already retired: a retry of the same change succeeds, whatever its If-Match (RFC 9110 §13.1.1).
  if (current.retired_at) return current;
  checkEtag(ifMatch, current.etag);
  const row = await store.updateService(trx, tenantId, id, current.etag, { retired_at: now, updated_at: now });
  if (!row) throw concurrentlyChanged('service');
  await emit(trx, tenantId, {
    type: 'ServiceRetired',
    subject: subject(tenantId, environmentId, id),
    data: { name: row.name, reason: 'retired', retiredAt: now.toISOString() },
  });
  return row;
}

/**
 * The cascade of an environment's retirement: under the environment lock, records the environment
 * as retired (so no registration gets in afterwards) and retires its live services with the
 * environment's retirement time. Idempotent: a second run finds nothing live.
 */
export async function retireServicesOfEnvironment(
  trx: store.Tx,
  tenantId: string,
  environmentId: string,
  retiredAt: Date,
  now: Date,
): Promise<number> {
  await store.lockEnvironment(trx, tenantId, environmentId);
  const rows = await store.retireEnvironmentServices(trx, tenantId, environmentId, retiredAt, now);
  await store.recordRetiredEnvironment(trx, { tenant_id: tenantId, environment_id: environmentId, retired_at: retiredAt, services_retired: rows.length, recorded_at: now });
  for (const r of rows) {
    await emit(trx, tenantId, {
      type: 'ServiceRetired',
      subject: subject(tenantId, environmentId, r.id),
      data: { name: r.name, reason: 'environmentRetired', retiredAt: retiredAt.toISOString() },
    });
  }
  return rows.length;
}
