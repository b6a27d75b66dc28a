/** Request/response schemas of the drift service (zod). */
import { z } from '../../shared/http/openapi.js';
import { isStorableInstant } from '../../shared/http/keyset.js';
import { createdRangeQuery, listOf, resourceId, SAFE_LINE_PATTERN, TenantId, TenantParams } from '../../shared/http/vocabulary.js';
import { SEVERITIES } from './diff.js';

export { TenantParams };

export const EnvironmentId = resourceId('env', 'env_3f9a1c07d2b84e65');
export const ServiceId = resourceId('svc', 'svc_8c1e5a2f90b3d476');
/** Server-generated scan ids are derived from the scan's orchestration instance id. */
export const ScanId = resourceId('dscan', 'dscan_5b0e2c9a71d3f846');
export const FindingId = resourceId('dfnd', 'dfnd_0a7c3e5f91b2d468');
export const RuleId = resourceId('dign', 'dign_9d2f4b6a80c1e357');

/** An ISO 8601 instant with an offset, within the years 0001-9999. */
const Instant = z.iso
  .datetime({ offset: true })
  .refine((s) => isStorableInstant(Date.parse(s)), { message: 'Instants must lie between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999Z' })
  .openapi({ example: '2026-03-01T12:00:00Z' });

export const Severity = z.enum(SEVERITIES).openapi('DriftSeverity');
export const Mode = z.enum(['detect-only', 'detect-and-request-remediation']).openapi('DriftMode');
export const FindingStatus = z.enum(['open', 'suppressed', 'accepted', 'resolved']).openapi('DriftFindingStatus');

export const EnvironmentParams = TenantParams.extend({ environmentId: EnvironmentId });
export const ScanParams = EnvironmentParams.extend({ scanId: ScanId });
export const FindingParams = TenantParams.extend({ findingId: FindingId });
export const RuleParams = TenantParams.extend({ ruleId: RuleId });

// ---- Observed state ------------------------------------------------------------------------------

/** Resource kinds: `service`, `postgresql`, `blobContainer`, `cosmosContainer`, … */
const Kind = z.string().regex(/^[a-z][A-Za-z0-9]{0,39}$/).openapi({ example: 'service' });
const ResourceName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,252}$/).openapi({ example: 'checkout-api' });
/** The most resources one observation may carry. */
export const MAX_OBSERVED_RESOURCES = 2_000;

export const ObservedState = z
  .strictObject({
    source: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/).openapi({ description: 'The agent that observed (one stored observation per agent)', example: 'cluster-agent-weu' }),
    observedAt: Instant,
    kinds: z.array(Kind).max(20).optional().openapi({ description: 'Kinds the agent speaks for completely (a desired resource of such a kind it does not report is missing); the kinds of its resources are always included' }),
    resources: z
      .array(z.strictObject({ kind: Kind, name: ResourceName, properties: z.record(z.string().max(200), z.unknown()) }))
      .max(MAX_OBSERVED_RESOURCES),
  })
  .refine((o) => new Set(o.resources.map((r) => `${r.kind}/${r.name}`)).size === o.resources.length, { message: 'Each (kind, name) may appear once', path: ['resources'] })
  .openapi('ObservedState');

export const OBSERVED_EXAMPLE: z.input<typeof ObservedState> = {
  source: 'cluster-agent-weu',
  observedAt: '2026-03-01T12:00:00Z',
  kinds: ['service'],
  resources: [{ kind: 'service', name: 'checkout-api', properties: { image: 'registry.example.com/checkout:1.4.2', replicas: 3, configurationVersion: 7 } }],
};

export const ObservationReceipt = z
  .object({ source: z.string(), observedAt: z.string(), resources: z.number().int(), outcome: z.enum(['stored', 'unchanged', 'older']) })
  .openapi('ObservationReceipt', { description: 'stored; unchanged (a repeat of the stored observation); older (an older observation than the stored one, ignored)' });

// ---- Settings ------------------------------------------------------------------------------------

export const PutSettings = z
  .strictObject({
    mode: Mode,
    observationMaxAgeMinutes: z.number().int().min(1).max(10_080).optional().openapi({ description: 'Observations older than this are stale (unknown, not drift); default 30' }),
  })
  .openapi('PutDriftSettings');

export const Settings = z
  .object({ environmentId: z.string(), mode: Mode, observationMaxAgeMinutes: z.number().int(), updatedAt: z.string().nullable(), updatedBy: z.string().nullable(), etag: z.string() })
  .openapi('DriftSettings');

// ---- Ignore rules --------------------------------------------------------------------------------

const PathPattern = z
  .string()
  .max(500)
  .regex(SAFE_LINE_PATTERN)
  .regex(/^(\/[^/]*)+$|^$/, { message: 'A JSON Pointer, or a pattern of /-separated segments with * (one segment) and ** (any number)' })
  .openapi({ example: '/replicas' });

export const CreateRule = z
  .strictObject({
    environmentId: EnvironmentId.optional().openapi({ description: 'Absent: every environment of the tenant' }),
    resource: z.string().regex(/^[A-Za-z0-9*][A-Za-z0-9._:*/-]{0,300}$/).optional().openapi({ description: '<kind>/<name>, * matches within a segment; absent: every resource', example: 'service/*' }),
    path: PathPattern,
    reason: z.string().trim().min(1).max(500).regex(SAFE_LINE_PATTERN),
    expiresAt: Instant.optional(),
  })
  .openapi('CreateDriftIgnoreRule');

export const RULE_EXAMPLE: z.input<typeof CreateRule> = { resource: 'service/*', path: '/labels/**', reason: 'Labels are managed by the cluster', expiresAt: '2027-01-01T00:00:00Z' };

export const Rule = z
  .object({
    id: RuleId,
    environmentId: z.string().nullable(),
    resource: z.string().nullable(),
    path: z.string(),
    reason: z.string(),
    expiresAt: z.string().nullable(),
    createdAt: z.string(),
    createdBy: z.string(),
  })
  .openapi('DriftIgnoreRule');
export const RuleList = listOf(Rule, 'DriftIgnoreRuleList');
export const ListRulesQuery = z.object({ environmentId: EnvironmentId.optional() });

// ---- Scans ---------------------------------------------------------------------------------------

export const Scan = z
  .object({
    id: ScanId,
    environmentId: z.string(),
    status: z.enum(['Running', 'Succeeded', 'Failed', 'Skipped']),
    phase: z.string(),
    progress: z.object({ environmentsDone: z.number().int(), environmentsTotal: z.number().int() }),
    trigger: z.enum(['manual', 'schedule']),
    requestedBy: z.string(),
    startedAt: z.string(),
    finishedAt: z.string().nullable(),
    differences: z.number().int(),
    unknown: z.number().int(),
    suppressed: z.number().int(),
    opened: z.number().int(),
    resolved: z.number().int(),
    snapshot: z.string().nullable().openapi({ description: 'Where the scan snapshot is, once written' }),
    error: z.string().nullable(),
  })
  .openapi('DriftScan');
export const ScanList = listOf(Scan, 'DriftScanList');

export const Snapshot = z
  .object({
    id: z.string(),
    tenantId: TenantId,
    environmentId: z.string(),
    takenAt: z.string(),
    desired: z.record(z.string(), z.unknown()),
    actual: z.record(z.string(), z.unknown()),
    diff: z.record(z.string(), z.unknown()),
  })
  .openapi('DriftSnapshot', { description: 'The full desired state, actual state and diff of one scan (kept by the Cosmos DB container TTL)' });

// ---- Findings ------------------------------------------------------------------------------------

const Cause = z
  .object({ kind: z.enum(['deployment', 'configuration', 'rotation', 'scaling']), id: z.string(), at: z.string(), serviceId: z.string().optional(), environmentId: z.string() })
  .openapi('DriftLikelyCause');

export const FindingAction = z
  .object({ id: z.string(), action: z.string(), by: z.string(), at: z.string(), note: z.string().nullable(), until: z.string().nullable(), result: z.string().nullable() })
  .openapi('DriftFindingAction');

export const Finding = z
  .object({
    id: FindingId,
    environmentId: z.string(),
    resource: z.string(),
    path: z.string().openapi({ description: "JSON Pointer into the resource's properties ('' for the whole resource)" }),
    serviceId: z.string().nullable(),
    kind: z.enum(['changed', 'missing', 'unexpected']),
    severity: Severity,
    status: FindingStatus,
    desired: z.unknown(),
    actual: z.unknown(),
    suppressedUntil: z.string().nullable(),
    seenCount: z.number().int(),
    firstSeenAt: z.string(),
    lastSeenAt: z.string(),
    resolvedAt: z.string().nullable(),
    firstScanId: z.string(),
    lastScanId: z.string(),
    likelyCause: Cause.nullable(),
    likelyCauseStatus: z.enum(['found', 'unknown']),
    actions: z.array(FindingAction).optional(),
    etag: z.string(),
  })
  .openapi('DriftFinding');
export const FindingList = listOf(Finding, 'DriftFindingList');

export const ListFindingsQuery = z.object({
  environmentId: EnvironmentId.optional(),
  serviceId: ServiceId.optional(),
  status: FindingStatus.optional(),
  severity: Severity.optional(),
  ...createdRangeQuery,
});

const Note = z.string().trim().min(1).max(1000).regex(SAFE_LINE_PATTERN).optional();
export const FindingActionInput = z
  .discriminatedUnion('action', [
    z.strictObject({ action: z.literal('accept'), note: Note }),
    z.strictObject({ action: z.literal('suppress'), until: Instant, note: Note }),
    z.strictObject({ action: z.literal('request-remediation'), note: Note }),
    z.strictObject({ action: z.literal('remediation-result'), result: z.enum(['succeeded', 'failed']), note: Note }),
  ])
  .openapi('DriftFindingActionInput', {
    description: 'accept (the actual value becomes the accepted state), suppress until a date, request remediation (sends DriftRemediationRequested), or record a remediation result',
  });

export type FindingDto = z.infer<typeof Finding>;
export type ScanDto = z.infer<typeof Scan>;
export type RuleDto = z.infer<typeof Rule>;
