/**
 * Deployment rules: the state machine, creation under the tenant's per-day quota, the one
 * deployment in progress per service and environment, rollback, and the retire cascades. Functions
 * over a transaction; times come from the caller (the kernel's clock).
 *
 *     pending ──► in_progress ──► succeeded ──► rolling_back ──► rolled_back
 *        │             │                              │
 *        └─► cancelled ◄┘──► failed ◄─────────────────┘
 *
 * `rolling_back` and what follows it are driven by the rollback deployment: rolling back a
 * succeeded deployment X creates a deployment R restoring an earlier one and moves X to
 * `rolling_back`; when R succeeds X becomes `rolled_back`, when R fails or is cancelled X becomes
 * `failed`. Clients move deployments only along the first row (the transitions route).
 */
import { notFound, quotaExceeded } from '../../shared/errors.js';
import { emit } from '../../shared/events/outbox.js';
import { newId } from '../../shared/ids.js';
import { deploymentInProgress, invalidRollback, invalidTransition } from './errors.js';
import type { DeploymentDto } from './schemas.js';
import * as store from './store.js';

type Status = store.DeploymentStatus;

/** Every legal transition. */
export const TRANSITIONS: Readonly<Record<Status, readonly Status[]>> = {
  pending: ['in_progress', 'cancelled'],
  in_progress: ['succeeded', 'failed', 'cancelled'],
  succeeded: ['rolling_back'],
  rolling_back: ['rolled_back', 'failed'],
  failed: [],
  cancelled: [],
  rolled_back: [],
};

/** The transitions a client asks for; the others follow from a rollback. */
export const CLIENT_TRANSITIONS: Readonly<Record<Status, readonly Status[]>> = {
  ...TRANSITIONS,
  succeeded: [],
  rolling_back: [],
};

const FINISHED: readonly Status[] = ['succeeded', 'failed', 'cancelled', 'rolled_back'];

export function toDeploymentDto(r: store.DeploymentRow): DeploymentDto {
  return {
    id: r.id,
    environmentId: r.environment_id,
    serviceId: r.service_id,
    revision: r.revision,
    kind: r.kind,
    image: r.image,
    imageDigest: r.image_digest,
    configurationVersion: r.configuration_version,
    scalingPolicy: r.scaling_policy_id !== null && r.scaling_policy_version !== null ? { policyId: r.scaling_policy_id, version: r.scaling_policy_version } : null,
    secretVersions: r.secret_versions,
    status: r.status,
    rollbackOf: r.rollback_of,
    restores: r.restores,
    createdBy: r.created_by,
    createdAt: r.created_at.toISOString(),
    updatedAt: r.updated_at.toISOString(),
    startedAt: r.started_at?.toISOString() ?? null,
    finishedAt: r.finished_at?.toISOString() ?? null,
    finishedBy: r.finished_by,
  };
}

const subject = (r: Pick<store.DeploymentRow, 'tenant_id' | 'environment_id' | 'id'>) => `tenants/${r.tenant_id}/environments/${r.environment_id}/deployments/${r.id}`;

/** Records a change of status and emits `DeploymentStatusChanged` (same transaction). */
async function record(trx: store.Tx, row: store.DeploymentRow, from: Status | null, by: string, reason: string | null, at: Date): Promise<void> {
  await store.insertTransition(trx, { tenant_id: row.tenant_id, deployment_id: row.id, from_status: from, to_status: row.status, at, by, reason });
  await emit(trx, row.tenant_id, {
    type: 'DeploymentStatusChanged',
    subject: subject(row),
    data: { serviceId: row.service_id, revision: row.revision, kind: row.kind, from, to: row.status, by, reason, at: at.toISOString() },
  });
}

/** What a new deployment rolls out: the image and the versions of everything else it carries. */
export interface Rollout {
  serviceId: string;
  image: string;
  imageDigest: string | null;
  configurationVersion: number | null;
  scalingPolicy: { policyId: string; version: number } | null;
  secretVersions: Record<string, string>;
  kind: 'rollout' | 'rollback';
  rollbackOf?: string;
  restores?: string;
}

/** The UTC day `now` falls in starts at this instant. */
export const dayStart = (now: Date) => new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));

/** Counts the tenant's deployments of the day under the tenant lock (no overrun under concurrency). */
async function checkQuota(trx: store.Tx, tenantId: string, maxPerDay: number, now: Date): Promise<void> {
  await store.lockTenant(trx, tenantId);
  const today = await store.countCreatedSince(trx, tenantId, dayStart(now));
  if (today >= maxPerDay) {
    throw quotaExceeded(`The tenant has created ${today} deployments today (UTC); its quota is ${maxPerDay} per day.`, 'maxDeploymentsPerDay');
  }
}

async function insert(trx: store.Tx, tenantId: string, environmentId: string, r: Rollout, by: string, reason: string | null, now: Date): Promise<store.DeploymentRow> {
  await store.lockService(trx, tenantId, environmentId, r.serviceId);
  const row = await store.insertDeployment(trx, {
    tenant_id: tenantId,
    id: newId('dep'),
    environment_id: environmentId,
    service_id: r.serviceId,
    revision: await store.nextRevision(trx, tenantId, environmentId, r.serviceId),
    kind: r.kind,
    image: r.image,
    image_digest: r.imageDigest,
    configuration_version: r.configurationVersion,
    scaling_policy_id: r.scalingPolicy?.policyId ?? null,
    scaling_policy_version: r.scalingPolicy?.version ?? null,
    secret_versions: r.secretVersions,
    status: 'pending',
    rollback_of: r.rollbackOf ?? null,
    restores: r.restores ?? null,
    created_by: by,
    created_at: now,
    updated_at: now,
    started_at: null,
    finished_at: null,
    finished_by: null,
  });
  await record(trx, row, null, by, reason, now);
  return row;
}

/** Creates a pending deployment (counts against `maxDeploymentsPerDay`). */
export async function createDeployment(
  trx: store.Tx,
  tenant: { tenantId: string; maxDeploymentsPerDay: number },
  environmentId: string,
  rollout: Rollout,
  by: string,
  reason: string | null,
  now: Date,
): Promise<store.DeploymentRow> {
  await checkQuota(trx, tenant.tenantId, tenant.maxDeploymentsPerDay, now);
  return insert(trx, tenant.tenantId, environmentId, rollout, by, reason, now);
}

/**
 * Moves `row` (locked by the caller under its service lock) to `to`. The update is conditional on
 * the status read, so two concurrent transitions of one deployment cannot both win.
 */
async function move(trx: store.Tx, row: store.DeploymentRow, to: Status, by: string, reason: string | null, now: Date): Promise<store.DeploymentRow> {
  if (!TRANSITIONS[row.status].includes(to)) throw invalidTransition(row.id, row.status, to);
  const moved = await store.updateStatus(trx, row.tenant_id, row.id, row.status, {
    status: to,
    updated_at: now,
    ...(to === 'in_progress' ? { started_at: now } : {}),
    ...(FINISHED.includes(to) ? { finished_at: now, finished_by: by } : {}),
  });
  if (!moved) throw invalidTransition(row.id, row.status, to);
  await record(trx, moved, row.status, by, reason, now);
  return moved;
}

/**
 * A client's transition of a deployment. Under the service lock: only one deployment of the
 * service can be in progress in the environment (the partial unique index is the backstop). When a
 * rollback deployment finishes, the deployment it rolls back follows it.
 */
export async function transition(
  trx: store.Tx,
  tenantId: string,
  environmentId: string,
  id: string,
  to: Status,
  by: string,
  reason: string | null,
  now: Date,
): Promise<store.DeploymentRow> {
  const seen = await store.getDeployment(trx, tenantId, id, { environmentId });
  if (!seen) throw notFound(`Deployment '${id}'`, 'deploymentId');
  await store.lockService(trx, tenantId, environmentId, seen.service_id);
  const row = (await store.getDeployment(trx, tenantId, id, { environmentId, forUpdate: true }))!;
  if (!CLIENT_TRANSITIONS[row.status].includes(to)) throw invalidTransition(id, row.status, to);
  if (to === 'in_progress') {
    const running = await store.findInProgress(trx, tenantId, environmentId, row.service_id);
    if (running) throw deploymentInProgress(running.id);
  }
  const moved = await move(trx, row, to, by, reason, now);
  if (moved.kind === 'rollback' && moved.rollback_of && FINISHED.includes(to)) {
    const previous = await store.getDeployment(trx, tenantId, moved.rollback_of, { forUpdate: true });
    if (previous?.status === 'rolling_back') {
      await move(trx, previous, to === 'succeeded' ? 'rolled_back' : 'failed', by, `rollback ${moved.id} ${to}`, now);
    }
  }
  return moved;
}

/**
 * Rolls back the service's current deployment `id`: creates a deployment restoring `targetId` (or
 * the succeeded deployment before `id`) and moves `id` to `rolling_back`, in one transaction.
 */
export async function rollback(
  trx: store.Tx,
  tenant: { tenantId: string; maxDeploymentsPerDay: number },
  environmentId: string,
  id: string,
  targetId: string | undefined,
  by: string,
  reason: string | null,
  now: Date,
): Promise<{ rollback: store.DeploymentRow; rolledBack: store.DeploymentRow }> {
  const { tenantId } = tenant;
  const seen = await store.getDeployment(trx, tenantId, id, { environmentId });
  if (!seen) throw notFound(`Deployment '${id}'`, 'deploymentId');
  await checkQuota(trx, tenantId, tenant.maxDeploymentsPerDay, now);
  await store.lockService(trx, tenantId, environmentId, seen.service_id);
  const row = (await store.getDeployment(trx, tenantId, id, { environmentId, forUpdate: true }))!;
  if (row.status !== 'succeeded') throw invalidTransition(id, row.status, 'rolling_back');
  const current = await store.current(trx, tenantId, environmentId, row.service_id);
  if (current?.id !== row.id) throw invalidRollback(`Deployment '${id}' is not the current deployment of its service (that is '${current?.id}'); roll that back.`);
  let target: store.DeploymentRow | undefined;
  if (targetId !== undefined) {
    target = await store.getDeployment(trx, tenantId, targetId, { environmentId });
    if (!target || target.service_id !== row.service_id) throw invalidRollback(`Deployment '${targetId}' is not a deployment of this service in this environment.`, 'body.targetDeploymentId');
    if (target.id === row.id || target.status !== 'succeeded') {
      throw invalidRollback(`Deployment '${targetId}' is not a rollback target (an earlier succeeded deployment).`, 'body.targetDeploymentId');
    }
  } else {
    [target] = await store.selectSucceeded(trx, tenantId, environmentId, row.service_id, 1, { createdAt: row.finished_at!, id: row.id }).execute();
    if (!target) throw invalidRollback(`The service has no succeeded deployment before '${id}' to roll back to.`);
  }
  const rolledBack = await move(trx, row, 'rolling_back', by, reason, now);
  const created = await insert(
    trx,
    tenantId,
    environmentId,
    {
      serviceId: target.service_id,
      image: target.image,
      imageDigest: target.image_digest,
      configurationVersion: target.configuration_version,
      scalingPolicy: target.scaling_policy_id !== null && target.scaling_policy_version !== null ? { policyId: target.scaling_policy_id, version: target.scaling_policy_version } : null,
      secretVersions: target.secret_versions,
      kind: 'rollback',
      rollbackOf: row.id,
      restores: target.id,
    },
    by,
    reason ?? `rollback of ${row.id} to ${target.id}`,
    now,
  );
  return { rollback: created, rolledBack };
}

/** Cancels the pending deployments of a retired environment (or of one retired service); idempotent. */
export async function cancelPending(trx: store.Tx, tenantId: string, environmentId: string, serviceId: string | undefined, reason: string, now: Date): Promise<number> {
  const rows = await store.pendingOf(trx, tenantId, environmentId, serviceId);
  for (const r of rows) await move(trx, r, 'cancelled', 'system', reason, now);
  return rows.length;
}

/** The step's new status after a log write; a finished step's log can still grow (late output). */
export function stepStatusAfter(requested: store.StepStatus | undefined, append: boolean): store.StepStatus {
  return requested ?? (append ? 'running' : 'succeeded');
}

