/**
 * The scaling service's rules: a policy's own consistency, its versions (every write is a new
 * version; a deletion too), conditional writes, the tenant's replica quota, and scaling events.
 * Times come from the caller (the kernel's clock); events go through the outbox in the same
 * transaction as the change.
 */
import { DomainError, invalid, notFound, quotaExceeded, type ErrorDetail } from '../../shared/errors.js';
import { emit } from '../../shared/events/outbox.js';
import { checkAbsent, checkEtag, type EtagCondition } from '../../shared/http/etag.js';
import { newId } from '../../shared/ids.js';
import { storageMap } from '../../shared/storage-map.js';
import { activePause } from './render.js';
import { MAX_PAUSE_DAYS, type PolicySpecDto, type ScalingEventDto, type ScalingPolicyDto } from './schemas.js';
import * as store from './store.js';

const DAY_MS = 86_400_000;
/** Days scaling events and replaced policy versions are kept: the storage map's figure. */
export const SCALING_RETENTION_DAYS = storageMap.scaling.retentionDays ?? 365;
/** How far ahead of the clock an event's time may lie (clock skew between evaluators and us). */
export const EVENT_CLOCK_SKEW_MS = 5 * 60_000;

const subjectOf = (tenantId: string, environmentId: string, serviceId: string) =>
  `tenants/${tenantId}/environments/${environmentId}/services/${serviceId}/scaling-policy`;

/**
 * The ETag of a version as clients see it: it changes when a pause ends by itself, since the
 * policy's `status` does, so a client holding a copy from the pause gets the active one (no 304).
 */
export function effectiveEtag(row: Pick<store.PolicyVersionRow, 'etag' | 'paused_until'>, now: Date): string {
  return row.paused_until && row.paused_until.getTime() > now.getTime() ? `${row.etag}.paused` : row.etag;
}

// Keys and values a KEDA trigger would read as secret material. References are fine: `…FromEnv`
// names an environment variable, a TriggerAuthentication names where KEDA finds the secret.
const SECRET_KEYS = /^(connection|connectionstring|password|passwd|secret|apikey|api-key|token|accesstoken|accountkey|sastoken|sharedaccesskey|clientsecret|key)$/i;
const SECRET_VALUES = /(SharedAccessKey=|AccountKey=|SharedAccessSignature=|[?&]sig=|password=|-----BEGIN)/i;

/** The policy's own rules, beyond each field's shape; every broken one is listed. */
export function checkSpec(spec: PolicySpecDto, now: Date): void {
  const details: ErrorDetail[] = [];
  const bad = (target: string, message: string) => details.push({ code: 'InvalidValue', message, target: `body.${target}` });
  if (spec.minReplicas > spec.maxReplicas) bad('minReplicas', 'minReplicas must not exceed maxReplicas.');
  const names = new Set<string>();
  for (const [i, t] of spec.triggers.entries()) {
    if (names.has(t.name)) bad(`triggers.${i}.name`, `Trigger names are unique in a policy ('${t.name}' is used twice).`);
    names.add(t.name);
    if (t.type === 'cron' && t.desiredReplicas > spec.maxReplicas) bad(`triggers.${i}.desiredReplicas`, 'A cron window cannot ask for more than maxReplicas.');
    if (t.type === 'serviceBus' && (t.queueName === undefined) === (t.topicName === undefined || t.subscriptionName === undefined)) {
      bad(`triggers.${i}`, 'A Service Bus trigger names a queue (queueName), or a topic and a subscription (topicName, subscriptionName).');
    }
    if (t.type === 'keda') {
      for (const [k, v] of Object.entries(t.scaler.metadata)) {
        if (SECRET_KEYS.test(k) || SECRET_VALUES.test(v)) {
          bad(`triggers.${i}.scaler.metadata.${k}`, 'Secret values are never kept here: reference them (a TriggerAuthentication, an identity, or a …FromEnv setting).');
        }
      }
    }
  }
  // A replica count of zero is woken up by an event source; CPU and memory cannot wake anything.
  if (spec.minReplicas === 0 && spec.triggers.every((t) => t.type === 'cpu' || t.type === 'memory')) {
    bad('minReplicas', 'Scaling to zero needs a trigger other than cpu or memory to scale up again.');
  }
  if (spec.pause) {
    const until = Date.parse(spec.pause.until);
    if (until <= now.getTime()) bad('pause.until', 'A pause ends in the future.');
    if (until > now.getTime() + MAX_PAUSE_DAYS * DAY_MS) bad('pause.until', `A pause lasts at most ${MAX_PAUSE_DAYS} days.`);
    if (spec.pause.replicas !== undefined && spec.pause.replicas > spec.maxReplicas) bad('pause.replicas', 'A pause cannot hold more than maxReplicas.');
  }
  if (details.length > 0) throw invalid(details[0]!.message, details[0]!.target, details);
}

/** The write's conditions: `If-Match` (required to replace a policy) and `If-None-Match: *` (create only). */
export interface WriteConditions {
  ifMatch: EtagCondition | undefined;
  ifNoneMatch: EtagCondition | undefined;
}

export interface PolicyTarget {
  tenantId: string;
  environmentId: string;
  serviceId: string;
  /** The tenant quota `maxReplicasPerService`. */
  maxReplicasPerService: number;
}

/** Sets a service's policy: a new version. `created` when there was none (or it was deleted). */
export async function putPolicy(
  trx: store.Tx,
  t: PolicyTarget,
  spec: PolicySpecDto,
  cond: WriteConditions,
  by: string,
  now: Date,
): Promise<{ row: store.PolicyVersionRow; created: boolean }> {
  checkSpec(spec, now);
  if (spec.maxReplicas > t.maxReplicasPerService) {
    throw quotaExceeded(`maxReplicas ${spec.maxReplicas} is above the tenant quota maxReplicasPerService (${t.maxReplicasPerService}).`, 'maxReplicasPerService');
  }
  await store.lockPolicy(trx, t.tenantId, t.serviceId);
  const [latest] = await store.selectLatest(trx, t.tenantId, t.environmentId, t.serviceId).execute();
  const live = latest && !latest.deleted ? latest : undefined;
  const current = live ? effectiveEtag(live, now) : undefined;
  checkAbsent(cond.ifNoneMatch, current);
  if (live && cond.ifMatch === undefined && cond.ifNoneMatch === undefined) {
    throw new DomainError('PreconditionRequired', 'Replacing a scaling policy needs If-Match with the ETag of its current version.', 'If-Match');
  }
  checkEtag(cond.ifMatch, current);
  const version = (latest?.version ?? 0) + 1;
  const row = await store.insertVersion(trx, {
    tenant_id: t.tenantId,
    service_id: t.serviceId,
    environment_id: t.environmentId,
    version,
    policy_id: latest?.policy_id ?? newId('scp'),
    spec,
    min_replicas: spec.minReplicas,
    max_replicas: spec.maxReplicas,
    paused_until: spec.pause ? new Date(spec.pause.until) : null,
    pause_replicas: spec.pause?.replicas ?? null,
    created_at: now,
    created_by: by,
  });
  await emit(trx, t.tenantId, {
    type: 'ScalingPolicyPublished',
    subject: subjectOf(t.tenantId, t.environmentId, t.serviceId),
    data: { policyId: row.policy_id, version, minReplicas: spec.minReplicas, maxReplicas: spec.maxReplicas, pausedUntil: spec.pause ? row.paused_until?.toISOString() : null },
  });
  return { row, created: !live };
}

/** Deletes a service's policy: a deletion version (the history stays). Deleting nothing is a no-op. */
export async function deletePolicy(trx: store.Tx, t: Omit<PolicyTarget, 'maxReplicasPerService'>, ifMatch: EtagCondition | undefined, by: string, now: Date): Promise<void> {
  await store.lockPolicy(trx, t.tenantId, t.serviceId);
  const [latest] = await store.selectLatest(trx, t.tenantId, t.environmentId, t.serviceId).execute();
  const live = latest && !latest.deleted ? latest : undefined;
  checkEtag(ifMatch, live ? effectiveEtag(live, now) : undefined);
  if (!latest || !live) return;
  const version = latest.version + 1;
  await store.insertVersion(trx, {
    tenant_id: t.tenantId,
    service_id: t.serviceId,
    environment_id: t.environmentId,
    version,
    policy_id: latest.policy_id,
    deleted: true,
    spec: null,
    min_replicas: null,
    max_replicas: null,
    paused_until: null,
    pause_replicas: null,
    created_at: now,
    created_by: by,
  });
  await emit(trx, t.tenantId, { type: 'ScalingPolicyDeleted', subject: subjectOf(t.tenantId, t.environmentId, t.serviceId), data: { policyId: latest.policy_id, version } });
}

/** A scaling event as posted, and what the caller knows of the deployment. */
export interface EventInput {
  at: Date;
  fromReplicas: number;
  toReplicas: number;
  trigger: string | null;
  source: string;
  deploymentId: string | null;
}

/** Appends a scaling event, with the policy version in force at its time. */
export async function recordEvent(
  trx: store.Tx,
  t: Omit<PolicyTarget, 'maxReplicasPerService'>,
  input: EventInput,
  by: string,
  now: Date,
): Promise<store.ScalingEventRow> {
  checkEventTime(input.at, now);
  const inForce = await store.versionAt(trx, t.tenantId, t.serviceId, input.at);
  return store.insertEvent(trx, {
    tenant_id: t.tenantId,
    id: newId('sce'),
    environment_id: t.environmentId,
    service_id: t.serviceId,
    at: input.at,
    from_replicas: input.fromReplicas,
    to_replicas: input.toReplicas,
    trigger: input.trigger,
    source: input.source,
    policy_version: inForce && !inForce.deleted ? inForce.version : null,
    deployment_id: input.deploymentId,
    recorded_at: now,
    recorded_by: by,
  });
}

/** An event lies between the retention cut-off (it would be dropped at once) and a little after now. */
export function checkEventTime(at: Date, now: Date): void {
  if (at.getTime() > now.getTime() + EVENT_CLOCK_SKEW_MS) throw invalid('A scaling event cannot lie in the future.', 'body.at');
  if (at.getTime() < now.getTime() - SCALING_RETENTION_DAYS * DAY_MS) {
    throw invalid(`A scaling event older than the retention (${SCALING_RETENTION_DAYS} days) is not kept.`, 'body.at');
  }
}

/** 404 for a service that has no policy (or whose policy was deleted). */
export function requireLive(row: store.PolicyVersionRow | undefined, serviceId: string): store.PolicyVersionRow & { spec: PolicySpecDto } {
  if (!row || row.deleted || !row.spec) throw notFound(`A scaling policy of service '${serviceId}'`, 'serviceId');
  return row as store.PolicyVersionRow & { spec: PolicySpecDto };
}

export function toPolicyDto(row: store.PolicyVersionRow & { spec: PolicySpecDto }, now: Date): ScalingPolicyDto {
  return {
    ...row.spec,
    pause: row.spec.pause ?? null,
    policyId: row.policy_id,
    environmentId: row.environment_id,
    serviceId: row.service_id,
    version: row.version,
    status: activePause(row.spec, now) ? 'paused' : 'active',
    updatedAt: row.created_at.toISOString(),
    updatedBy: row.created_by,
    etag: effectiveEtag(row, now),
  };
}

export function toVersionDto(row: store.PolicyVersionRow, latest: number) {
  return {
    policyId: row.policy_id,
    environmentId: row.environment_id,
    serviceId: row.service_id,
    version: row.version,
    change: row.deleted ? ('deleted' as const) : ('set' as const),
    current: row.version === latest,
    spec: row.spec,
    createdAt: row.created_at.toISOString(),
    createdBy: row.created_by,
  };
}

export function toEventDto(r: store.ScalingEventRow): ScalingEventDto {
  return {
    id: r.id,
    environmentId: r.environment_id,
    serviceId: r.service_id,
    at: r.at.toISOString(),
    fromReplicas: r.from_replicas,
    toReplicas: r.to_replicas,
    trigger: r.trigger,
    source: r.source,
    policyVersion: r.policy_version,
    deploymentId: r.deployment_id,
    recordedAt: r.recorded_at.toISOString(),
    recordedBy: r.recorded_by,
  };
}
