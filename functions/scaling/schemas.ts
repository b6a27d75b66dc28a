/** Request/response schemas of the scaling service (zod): the policy, its versions, manifests and scaling events. */
import { z } from '../../shared/http/openapi.js';
import { instantParam } from '../../shared/http/keyset.js';
import { dnsName, listOf, resourceId, SAFE_LINE_PATTERN, TenantParams } from '../../shared/http/vocabulary.js';

export const EnvironmentId = resourceId('env', 'env_3f9a1c07d2b84e65');
export const ServiceId = resourceId('svc', 'svc_8c1e5a2f90b3d476');
/** Server-generated, one per service: `scp_` and 16 hex characters. */
export const PolicyId = resourceId('scp', 'scp_51d0c3a9e27b4f86');
/** Server-generated: `sce_` and 16 hex characters. */
export const ScalingEventId = resourceId('sce', 'sce_0a4b7c9d2e1f3a5b');

export const ServiceParams = TenantParams.extend({ environmentId: EnvironmentId, serviceId: ServiceId });
export const VersionParams = ServiceParams.extend({ version: z.coerce.number().int().min(1).max(2_147_483_647).openapi({ example: 3 }) });
export const EventParams = ServiceParams.extend({ eventId: ScalingEventId });

/** The largest replica count a policy may name (the tenant quota `maxReplicasPerService` is lower by default). */
export const MAX_REPLICAS = 10_000;
/** The longest a pause may last: it always ends by itself. */
export const MAX_PAUSE_DAYS = 30;

const replicas = z.number().int().min(0).max(MAX_REPLICAS);
const TriggerName = dnsName('cpu');
/** Azure resource names as KEDA and Container Apps take them: storage accounts, queues, Service Bus entities. */
const StorageAccount = z.string().regex(/^[a-z0-9]{3,24}$/).openapi({ example: 'ordersstore' });
const QueueName = z.string().regex(/^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$/).openapi({ example: 'orders' });
const ServiceBusNamespace = z.string().regex(/^[A-Za-z][A-Za-z0-9-]{4,48}[A-Za-z0-9]$/).openapi({ example: 'contoso-bus' });
const ServiceBusEntity = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._/-]{0,259}$/).openapi({ example: 'orders' });
/** A managed identity for Container Apps: `system`, or a user-assigned identity's resource id. */
const Identity = z
  .string()
  .max(512)
  .regex(/^(system|\/subscriptions\/[0-9a-fA-F-]{36}\/resourceGroups\/[A-Za-z0-9._()-]{1,90}\/providers\/Microsoft\.ManagedIdentity\/userAssignedIdentities\/[A-Za-z0-9_-]{3,128})$/)
  .openapi({ description: 'Container Apps: the managed identity the rule authenticates with (`system` or a user-assigned identity id)', example: 'system' });
/** KEDA: the TriggerAuthentication (workload identity, never a secret value) the trigger authenticates with. */
const TriggerAuthentication = dnsName('orders-reader').openapi({ description: 'KEDA: the name of the TriggerAuthentication the trigger uses (e.g. workload identity)' });

const auth = { identity: Identity.optional(), triggerAuthentication: TriggerAuthentication.optional() };

/** A 5-field cron expression (minute hour day-of-month month day-of-week), as KEDA's cron scaler reads it. */
const CronExpression = z
  .string()
  .max(100)
  .regex(/^[0-9A-Za-z*,/-]+( [0-9A-Za-z*,/-]+){4}$/, { message: 'A cron expression has 5 fields: minute hour day-of-month month day-of-week' })
  .openapi({ example: '0 8 * * 1-5' });
const TimeZone = z
  .string()
  .max(64)
  .regex(/^[A-Za-z][A-Za-z0-9_+/-]{0,63}$/)
  .refine(isTimeZone, { message: 'An IANA time zone name (Europe/Amsterdam)' })
  .openapi({ example: 'Europe/Amsterdam' });

function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** KEDA metadata keys and values of the escape hatch: plain settings, never secret material (see service.ts). */
const MetadataKey = z.string().regex(/^[A-Za-z][A-Za-z0-9_.-]{0,63}$/);
const MetadataValue = z.string().max(1024).regex(SAFE_LINE_PATTERN);

export const Trigger = z
  .discriminatedUnion('type', [
    z.strictObject({ type: z.literal('cpu'), name: TriggerName, targetUtilization: z.number().int().min(1).max(1000).openapi({ description: 'Average CPU use across replicas, in % of requests' }) }),
    z.strictObject({ type: z.literal('memory'), name: TriggerName, targetUtilization: z.number().int().min(1).max(1000).openapi({ description: 'Average memory use across replicas, in % of requests' }) }),
    z.strictObject({ type: z.literal('httpConcurrency'), name: TriggerName, concurrentRequests: z.number().int().min(1).max(100_000).openapi({ description: 'Concurrent requests per replica' }) }),
    z.strictObject({
      type: z.literal('azureQueue'),
      name: TriggerName,
      accountName: StorageAccount,
      queueName: QueueName,
      queueLength: z.number().int().min(1).max(1_000_000).openapi({ description: 'Target messages per replica' }),
      activationQueueLength: z.number().int().min(0).max(1_000_000).optional(),
      ...auth,
    }),
    z.strictObject({
      type: z.literal('serviceBus'),
      name: TriggerName,
      namespace: ServiceBusNamespace,
      queueName: ServiceBusEntity.optional(),
      topicName: ServiceBusEntity.optional(),
      subscriptionName: ServiceBusEntity.optional(),
      messageCount: z.number().int().min(1).max(1_000_000).openapi({ description: 'Target messages per replica' }),
      activationMessageCount: z.number().int().min(0).max(1_000_000).optional(),
      ...auth,
    }),
    z.strictObject({
      type: z.literal('cron'),
      name: TriggerName,
      timezone: TimeZone,
      start: CronExpression,
      end: CronExpression,
      desiredReplicas: replicas,
    }),
    z.strictObject({
      type: z.literal('keda'),
      name: TriggerName,
      scaler: z
        .strictObject({
          type: z.string().regex(/^[a-z][a-z0-9-]{0,62}$/).openapi({ example: 'redis' }),
          metadata: z.record(MetadataKey, MetadataValue).refine((m) => Object.keys(m).length <= 32, { message: 'At most 32 metadata entries' }),
        })
        .openapi({ description: 'Any KEDA scaler, as KEDA names it (`type`) with its trigger metadata; references to secrets only (`…FromEnv`, a TriggerAuthentication), never secret values' }),
      ...auth,
    }),
  ])
  .openapi('ScalingTrigger');

const HpaPolicy = z.strictObject({
  type: z.enum(['Pods', 'Percent']),
  value: z.number().int().min(1).max(100_000),
  periodSeconds: z.number().int().min(1).max(1800),
});
export const ScalingRules = z
  .strictObject({
    stabilizationWindowSeconds: z.number().int().min(0).max(3600).optional(),
    selectPolicy: z.enum(['Max', 'Min', 'Disabled']).optional(),
    policies: z.array(HpaPolicy).min(1).max(10).optional(),
  })
  .openapi('ScalingRules', { description: 'Behaviour in one direction: stabilization window and step policies (as the HorizontalPodAutoscaler reads them)' });

export const Pause = z
  .strictObject({
    until: z.iso.datetime({ offset: true }).openapi({ description: `When the pause ends by itself (at most ${MAX_PAUSE_DAYS} days ahead)` }),
    replicas: replicas.optional().openapi({ description: 'Hold this many replicas while paused (otherwise: keep what runs, KEDA only)' }),
    reason: z.string().trim().min(1).max(200).regex(SAFE_LINE_PATTERN).optional(),
  })
  .openapi('ScalingPause');

const specShape = {
    minReplicas: replicas,
    maxReplicas: replicas.min(1),
    workload: z
      .strictObject({ kind: z.enum(['Deployment', 'StatefulSet']), name: dnsName('checkout-api').optional() })
      .optional()
      .openapi({ description: 'What Kubernetes manifests scale; defaults to the Deployment named as the service' }),
    triggers: z.array(Trigger).min(1).max(20),
    behavior: z.strictObject({ scaleUp: ScalingRules.optional(), scaleDown: ScalingRules.optional() }).optional(),
    cooldownSeconds: z.number().int().min(0).max(86_400).optional().openapi({ description: 'After the last trigger was active, wait this long before scaling to zero (KEDA and Container Apps cooldownPeriod)' }),
    pause: z.union([Pause, z.null()]).optional(),
};
export const PolicySpec = z.strictObject(specShape).openapi('ScalingPolicySpec');

export const POLICY_EXAMPLE: z.input<typeof PolicySpec> = {
  minReplicas: 2,
  maxReplicas: 20,
  triggers: [
    { type: 'cpu', name: 'cpu', targetUtilization: 70 },
    { type: 'azureQueue', name: 'orders', accountName: 'ordersstore', queueName: 'orders', queueLength: 50, identity: 'system', triggerAuthentication: 'orders-reader' },
  ],
  behavior: { scaleDown: { stabilizationWindowSeconds: 300, policies: [{ type: 'Percent', value: 50, periodSeconds: 60 }] } },
  cooldownSeconds: 300,
};

const instant = z.string().openapi({ description: 'ISO 8601' });

export const ScalingPolicy = z.object({
  ...specShape,
  policyId: PolicyId,
  environmentId: EnvironmentId,
  serviceId: ServiceId,
  version: z.number().int(),
  status: z.enum(['active', 'paused']).openapi({ description: 'paused while `pause.until` lies ahead; active again afterwards by itself' }),
  pause: z.union([Pause, z.null()]),
  updatedAt: instant,
  updatedBy: z.string(),
  etag: z.string(),
}).openapi('ScalingPolicy');

export const ScalingPolicyVersion = z
  .object({
    policyId: PolicyId,
    environmentId: EnvironmentId,
    serviceId: ServiceId,
    version: z.number().int(),
    change: z.enum(['set', 'deleted']),
    current: z.boolean(),
    /** The policy this version set; null for a deletion. */
    spec: z.union([PolicySpec, z.null()]),
    createdAt: instant,
    createdBy: z.string(),
  })
  .openapi('ScalingPolicyVersion');
export const ScalingPolicyVersionList = listOf(ScalingPolicyVersion, 'ScalingPolicyVersionList');

export const MANIFEST_TARGETS = ['hpa', 'keda', 'aca'] as const;
export type ManifestTarget = (typeof MANIFEST_TARGETS)[number];
export const ManifestQuery = z.object({
  target: z.enum(MANIFEST_TARGETS).openapi({ description: 'hpa: HorizontalPodAutoscaler autoscaling/v2; keda: ScaledObject keda.sh/v1alpha1; aca: Container Apps template.scale' }),
});
export const MANIFEST_MEDIA_TYPES = ['application/json', 'application/yaml'] as const;

const K8sObject = z.object({
  apiVersion: z.enum(['autoscaling/v2', 'keda.sh/v1alpha1']),
  kind: z.enum(['HorizontalPodAutoscaler', 'ScaledObject']),
  metadata: z.object({ name: z.string(), labels: z.record(z.string(), z.string()), annotations: z.record(z.string(), z.string()).optional() }),
  spec: z.record(z.string(), z.unknown()),
});
const AcaScale = z.object({
  minReplicas: z.number().int(),
  maxReplicas: z.number().int(),
  cooldownPeriod: z.number().int().optional(),
  rules: z.array(z.record(z.string(), z.unknown())),
});
export const Manifest = z
  .union([K8sObject, AcaScale])
  .openapi('ScalingManifest', {
    description:
      'The policy for its target: a Kubernetes HorizontalPodAutoscaler (autoscaling/v2), a KEDA ScaledObject (keda.sh/v1alpha1), or the Container Apps `template.scale` block; tests validate each against the schema its target publishes',
  });

// ---- Scaling events ------------------------------------------------------------------------------

const Source = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$/).openapi({ example: 'keda-operator/aks-weu-1' });

export const RecordScalingEvent = z
  .strictObject({
    at: z.iso.datetime({ offset: true }).openapi({ description: 'When the replica count changed (not in the future, not older than the retention)' }),
    fromReplicas: replicas,
    toReplicas: replicas,
    trigger: TriggerName.nullable().openapi({ description: 'The trigger that fired (its name in the policy), or null (manual, pause)' }),
    source: Source,
    deploymentId: resourceId('dep', 'dep_7e2c91a0b4d35f68').nullable().optional().openapi({
      description: 'The deployment running then, when the deployments service cannot tell (it wins when it can)',
    }),
  })
  .openapi('RecordScalingEvent');

export const EVENT_EXAMPLE: z.input<typeof RecordScalingEvent> = {
  at: '2026-03-01T10:15:00Z',
  fromReplicas: 2,
  toReplicas: 5,
  trigger: 'orders',
  source: 'keda-operator/aks-weu-1',
};

export const ScalingEvent = z
  .object({
    id: ScalingEventId,
    environmentId: EnvironmentId,
    serviceId: ServiceId,
    at: instant,
    fromReplicas: z.number().int(),
    toReplicas: z.number().int(),
    trigger: z.string().nullable(),
    source: z.string(),
    policyVersion: z.number().int().nullable().openapi({ description: 'The policy version in force at `at` (null: none)' }),
    deploymentId: z.string().nullable(),
    recordedAt: instant,
    recordedBy: z.string(),
  })
  .openapi('ScalingEvent');
export const ScalingEventList = listOf(ScalingEvent, 'ScalingEventList');

export const ListEventsQuery = z.object({
  from: instantParam('Only events at or after this instant'),
  to: instantParam('Only events before this instant'),
});

export type PolicySpecDto = z.output<typeof PolicySpec>;
export type TriggerDto = z.output<typeof Trigger>;
export type ScalingPolicyDto = z.infer<typeof ScalingPolicy>;
export type ScalingEventDto = z.infer<typeof ScalingEvent>;
