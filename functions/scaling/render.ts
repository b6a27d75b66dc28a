/**
 * Compiles a scaling policy for its target: a Kubernetes HorizontalPodAutoscaler (autoscaling/v2), a
 * KEDA ScaledObject (keda.sh/v1alpha1), or the Azure Container Apps `template.scale` block. Pure:
 * no I/O, the clock is an argument. What a target cannot express is refused with every such part
 * named ({@link targetCannotExpress}), never dropped: the support matrix is in docs/services.md.
 *
 * Field names follow the targets' published schemas (test/fixtures/schemas/, checked by
 * manifest.test.ts) and KEDA's scalers (`pkg/scalers/*`): cpu/memory take `metricType` and
 * `metadata.value`; azure-queue `queueName`, `queueLength`, `accountName`; azure-servicebus
 * `namespace`, `queueName` or `topicName`+`subscriptionName`, `messageCount`; cron `timezone`,
 * `start`, `end`, `desiredReplicas`. Metadata values are strings, as all three targets require.
 */
import { targetCannotExpress, type Unexpressible } from './errors.js';
import type { ManifestTarget, PolicySpecDto, TriggerDto } from './schemas.js';

/** What a manifest names besides the policy. */
export interface RenderContext {
  tenantId: string;
  environmentId: string;
  serviceId: string;
  /** The catalog's name of the service: the manifest's name and the default workload's. */
  serviceName: string;
  policyId: string;
  version: number;
}

/** Container Apps' largest replica count per revision. */
export const ACA_MAX_REPLICAS = 1000;

type Json = Record<string, unknown>;
type Trigger<T extends TriggerDto['type']> = Extract<TriggerDto, { type: T }>;

/** The pause in force at `now`, if any. */
export function activePause(spec: Pick<PolicySpecDto, 'pause'>, now: Date): NonNullable<PolicySpecDto['pause']> | undefined {
  const p = spec.pause;
  return p && Date.parse(p.until) > now.getTime() ? p : undefined;
}

/** The policy compiled for `target`; throws `TargetCannotExpress` listing everything it cannot express. */
export function renderManifest(target: ManifestTarget, spec: PolicySpecDto, ctx: RenderContext, now: Date): Json {
  const problems: Unexpressible[] = [];
  const out = target === 'hpa' ? hpa(spec, ctx, now, problems) : target === 'keda' ? keda(spec, ctx, now, problems) : aca(spec, now, problems);
  if (problems.length > 0) throw targetCannotExpress(target, problems);
  return out;
}

const str = (n: number) => String(n);
const refuse = (problems: Unexpressible[], t: TriggerDto, message: string) => problems.push({ target: `triggers.${t.name}`, message });

/** Labels and annotations of the Kubernetes objects: where they come from, and a pause in force. */
function metadata(spec: PolicySpecDto, ctx: RenderContext, now: Date, pauseAnnotations: Record<string, string> = {}): Json {
  const pause = activePause(spec, now);
  const annotations = pause ? { 'runtime-platform/paused-until': new Date(pause.until).toISOString(), ...pauseAnnotations } : {};
  return {
    name: ctx.serviceName,
    labels: {
      'app.kubernetes.io/name': ctx.serviceName,
      'app.kubernetes.io/managed-by': 'runtime-platform',
      'runtime-platform/tenant': ctx.tenantId,
      'runtime-platform/environment': ctx.environmentId,
      'runtime-platform/service': ctx.serviceId,
      'runtime-platform/policy': ctx.policyId,
      'runtime-platform/policy-version': str(ctx.version),
    },
    ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
  };
}

function scaleTargetRef(spec: PolicySpecDto, ctx: RenderContext): Json {
  return { apiVersion: 'apps/v1', kind: spec.workload?.kind ?? 'Deployment', name: spec.workload?.name ?? ctx.serviceName };
}

/** The HPA behaviour block (also KEDA's `advanced.horizontalPodAutoscalerConfig.behavior`). */
function behavior(spec: PolicySpecDto): Json | undefined {
  const b = spec.behavior;
  if (!b || (!b.scaleUp && !b.scaleDown)) return undefined;
  return { ...(b.scaleUp ? { scaleUp: { ...b.scaleUp } } : {}), ...(b.scaleDown ? { scaleDown: { ...b.scaleDown } } : {}) };
}

/** The replica bounds while a pause holds a count, or the policy's own. */
function bounds(spec: PolicySpecDto, now: Date): { min: number; max: number; held: boolean } {
  const pause = activePause(spec, now);
  if (pause?.replicas !== undefined) return { min: pause.replicas, max: pause.replicas, held: true };
  return { min: spec.minReplicas, max: spec.maxReplicas, held: false };
}

/** A pause must hold a replica count where the target has no pause of its own. */
function checkPause(spec: PolicySpecDto, now: Date, problems: Unexpressible[], what: string): void {
  const pause = activePause(spec, now);
  if (!pause) return;
  if (pause.replicas === undefined) problems.push({ target: 'pause', message: `${what} has no pause of its own; give pause.replicas to hold a replica count while paused.` });
  else if (pause.replicas === 0) problems.push({ target: 'pause.replicas', message: `${what} cannot hold zero replicas.` });
}

function hpa(spec: PolicySpecDto, ctx: RenderContext, now: Date, problems: Unexpressible[]): Json {
  const metrics: Json[] = [];
  for (const t of spec.triggers) {
    if (t.type === 'cpu' || t.type === 'memory') {
      metrics.push({ type: 'Resource', resource: { name: t.type, target: { type: 'Utilization', averageUtilization: t.targetUtilization } } });
    } else {
      refuse(problems, t, `A HorizontalPodAutoscaler has no ${t.type} trigger without a metrics adapter; render it for keda or aca.`);
    }
  }
  checkPause(spec, now, problems, 'A HorizontalPodAutoscaler');
  const { min, max } = bounds(spec, now);
  if (min < 1 && !activePause(spec, now)) problems.push({ target: 'minReplicas', message: 'A HorizontalPodAutoscaler cannot scale to zero (minReplicas is at least 1).' });
  const b = behavior(spec);
  return {
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: metadata(spec, ctx, now),
    spec: { scaleTargetRef: scaleTargetRef(spec, ctx), minReplicas: min, maxReplicas: max, metrics, ...(b ? { behavior: b } : {}) },
  };
}

function kedaTrigger(t: TriggerDto, problems: Unexpressible[]): Json | undefined {
  const authRef = 'triggerAuthentication' in t && t.triggerAuthentication ? { authenticationRef: { name: t.triggerAuthentication } } : {};
  const needsAuth = (x: Trigger<'azureQueue'> | Trigger<'serviceBus'>) => {
    if (!x.triggerAuthentication) refuse(problems, x, 'KEDA needs a TriggerAuthentication (triggerAuthentication) to reach the queue; connection strings are never kept here.');
  };
  switch (t.type) {
    case 'cpu':
    case 'memory':
      return { type: t.type, name: t.name, metricType: 'Utilization', metadata: { value: str(t.targetUtilization) } };
    case 'azureQueue':
      needsAuth(t);
      return {
        type: 'azure-queue',
        name: t.name,
        metadata: { queueName: t.queueName, queueLength: str(t.queueLength), accountName: t.accountName, ...(t.activationQueueLength !== undefined ? { activationQueueLength: str(t.activationQueueLength) } : {}) },
        ...authRef,
      };
    case 'serviceBus':
      needsAuth(t);
      return { type: 'azure-servicebus', name: t.name, metadata: serviceBusMetadata(t), ...authRef };
    case 'cron':
      return { type: 'cron', name: t.name, metadata: cronMetadata(t) };
    case 'keda':
      return { type: t.scaler.type, name: t.name, metadata: { ...t.scaler.metadata }, ...authRef };
    case 'httpConcurrency':
      refuse(problems, t, 'KEDA has no built-in HTTP concurrency scaler (it needs the HTTP add-on); render it for aca, or use a keda trigger.');
      return undefined;
  }
}

function serviceBusMetadata(t: Trigger<'serviceBus'>): Record<string, string> {
  return {
    namespace: t.namespace,
    ...(t.queueName !== undefined ? { queueName: t.queueName } : {}),
    ...(t.topicName !== undefined ? { topicName: t.topicName } : {}),
    ...(t.subscriptionName !== undefined ? { subscriptionName: t.subscriptionName } : {}),
    messageCount: str(t.messageCount),
    ...(t.activationMessageCount !== undefined ? { activationMessageCount: str(t.activationMessageCount) } : {}),
  };
}

function cronMetadata(t: Trigger<'cron'>): Record<string, string> {
  return { timezone: t.timezone, start: t.start, end: t.end, desiredReplicas: str(t.desiredReplicas) };
}

function keda(spec: PolicySpecDto, ctx: RenderContext, now: Date, problems: Unexpressible[]): Json {
  const triggers = spec.triggers.map((t) => kedaTrigger(t, problems)).filter((t): t is Json => t !== undefined);
  const pause = activePause(spec, now);
  // KEDA pauses itself: at a replica count, or wherever the workload stands.
  const paused: Record<string, string> = pause
    ? pause.replicas !== undefined
      ? { 'autoscaling.keda.sh/paused-replicas': str(pause.replicas) }
      : { 'autoscaling.keda.sh/paused': 'true' }
    : {};
  const b = behavior(spec);
  return {
    apiVersion: 'keda.sh/v1alpha1',
    kind: 'ScaledObject',
    metadata: metadata(spec, ctx, now, paused),
    spec: {
      scaleTargetRef: scaleTargetRef(spec, ctx),
      minReplicaCount: spec.minReplicas,
      maxReplicaCount: spec.maxReplicas,
      ...(spec.cooldownSeconds !== undefined ? { cooldownPeriod: spec.cooldownSeconds } : {}),
      ...(b ? { advanced: { horizontalPodAutoscalerConfig: { behavior: b } } } : {}),
      triggers,
    },
  };
}

function acaRule(t: TriggerDto, problems: Unexpressible[]): Json {
  const identity = 'identity' in t && t.identity ? { identity: t.identity } : {};
  const needsIdentity = (x: Trigger<'azureQueue'> | Trigger<'serviceBus'>) => {
    if (!x.identity) refuse(problems, x, 'Container Apps needs a managed identity (identity) to reach the queue; secrets are never kept here.');
  };
  switch (t.type) {
    case 'cpu':
    case 'memory':
      // Container Apps scales on CPU and memory through KEDA's scalers, as custom rules.
      return { name: t.name, custom: { type: t.type, metadata: { type: 'Utilization', value: str(t.targetUtilization) } } };
    case 'httpConcurrency':
      return { name: t.name, http: { metadata: { concurrentRequests: str(t.concurrentRequests) } } };
    case 'azureQueue':
      needsIdentity(t);
      return { name: t.name, azureQueue: { accountName: t.accountName, queueName: t.queueName, queueLength: t.queueLength, ...identity } };
    case 'serviceBus':
      needsIdentity(t);
      return { name: t.name, custom: { type: 'azure-servicebus', metadata: serviceBusMetadata(t), ...identity } };
    case 'cron':
      return { name: t.name, custom: { type: 'cron', metadata: cronMetadata(t) } };
    case 'keda':
      return { name: t.name, custom: { type: t.scaler.type, metadata: { ...t.scaler.metadata }, ...identity } };
  }
}

function aca(spec: PolicySpecDto, now: Date, problems: Unexpressible[]): Json {
  const rules = spec.triggers.map((t) => acaRule(t, problems));
  if (behavior(spec)) problems.push({ target: 'behavior', message: 'Container Apps has no stabilization windows or step policies; render it for hpa or keda.' });
  if (spec.maxReplicas > ACA_MAX_REPLICAS) problems.push({ target: 'maxReplicas', message: `Container Apps runs at most ${ACA_MAX_REPLICAS} replicas per revision.` });
  checkPause(spec, now, problems, 'Container Apps');
  const { min, max } = bounds(spec, now);
  return { minReplicas: min, maxReplicas: max, ...(spec.cooldownSeconds !== undefined ? { cooldownPeriod: spec.cooldownSeconds } : {}), rules };
}
