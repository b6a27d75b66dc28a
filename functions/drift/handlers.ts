/** HTTP handlers of the drift service: validate (schemas), call the service, shape the response. */
import { route, type TenantAccess } from '../../shared/http/route.js';
import { conflict, notFound, quotaExceeded, UnavailableError } from '../../shared/errors.js';
import { checkEtag } from '../../shared/http/etag.js';
import { createdRange, decodeKeyset, keysetOf } from '../../shared/http/keyset.js';
import { decodeCursor } from '../../shared/http/pagination.js';
import { newId } from '../../shared/ids.js';
import type { TenantRef } from '../../shared/sql/service-db.js';
import { z } from '../../shared/http/openapi.js';
import type { EnvironmentsApi } from '../environments/api.js';
import type { DriftInstance } from './api.js';
import { DEFAULT_OBSERVATION_MAX_AGE_MINUTES } from './actual.js';
import { runScanInProcess, scanIdOf, scanInstanceId, type ScanInput } from './scan.js';
import * as schemas from './schemas.js';
import { actOnFinding, ingestObservation } from './service.js';
import * as store from './store.js';
import { DRIFT_SQL } from './sql.js';

/** What the drift handlers use. */
export interface DriftHandlerDeps {
  now: () => Date;
  environments: Pick<EnvironmentsApi, 'getEnvironment'>;
  drift: Pick<DriftInstance, 'ports' | 'orchestrations'>;
}

const TAGS = ['drift'];
/** The version of an environment's default settings (before any are set). */
const DEFAULT_SETTINGS_ETAG = '00000000-0000-0000-0000-000000000000';
/** Ignore rules a tenant may keep. */
export const MAX_IGNORE_RULES = 500;
const tenantOf = ({ tenant }: { tenant: TenantAccess }): TenantRef => ({ tenantId: tenant.tenantId, placement: tenant.placement });
const scanPath = (tenantId: string, environmentId: string, scanId: string) => `/api/tenants/${tenantId}/environments/${environmentId}/drift-scans/${scanId}`;
const iso = (d: Date | null) => (d ? d.toISOString() : null);

function toScanDto(r: store.ScanRow): schemas.ScanDto {
  const status = ({ running: 'Running', succeeded: 'Succeeded', failed: 'Failed', skipped: 'Skipped' } as const)[r.status];
  return {
    id: r.id,
    environmentId: r.environment_id,
    status,
    phase: r.phase,
    progress: { environmentsDone: r.status === 'running' ? 0 : 1, environmentsTotal: 1 },
    trigger: r.trigger,
    requestedBy: r.requested_by,
    startedAt: r.started_at.toISOString(),
    finishedAt: iso(r.finished_at),
    differences: r.differences,
    unknown: r.unknown,
    suppressed: r.suppressed,
    opened: r.opened,
    resolved: r.resolved,
    snapshot: r.snapshot_written ? `${scanPath(r.tenant_id, r.environment_id, r.id)}/snapshot` : null,
    error: r.error,
  };
}

function toFindingDto(r: store.FindingRow, actions?: store.FindingActionRow[]): schemas.FindingDto {
  return {
    id: r.id,
    environmentId: r.environment_id,
    resource: r.resource,
    path: r.path,
    serviceId: r.service_id,
    kind: r.kind,
    severity: r.severity,
    status: r.status,
    desired: r.desired,
    actual: r.actual,
    suppressedUntil: iso(r.suppressed_until),
    seenCount: r.seen_count,
    firstSeenAt: r.created_at.toISOString(),
    lastSeenAt: r.last_seen_at.toISOString(),
    resolvedAt: iso(r.resolved_at),
    firstScanId: r.first_scan_id,
    lastScanId: r.last_scan_id,
    likelyCause: r.cause,
    likelyCauseStatus: r.cause ? 'found' : 'unknown',
    ...(actions ? { actions: actions.map((a) => ({ id: a.id, action: a.action, by: a.by, at: a.at.toISOString(), note: a.note, until: iso(a.until), result: a.result })) } : {}),
    etag: r.etag,
  };
}

/** The settings of an environment (its defaults until set), with their ETag. */
function settingsReply(environmentId: string, row: store.SettingsRow | undefined) {
  const etag = row?.etag ?? DEFAULT_SETTINGS_ETAG;
  const body: z.infer<typeof schemas.Settings> = row
    ? { environmentId, mode: row.mode, observationMaxAgeMinutes: row.observation_max_age_minutes, updatedAt: row.updated_at.toISOString(), updatedBy: row.updated_by, etag }
    : { environmentId, mode: 'detect-only', observationMaxAgeMinutes: DEFAULT_OBSERVATION_MAX_AGE_MINUTES, updatedAt: null, updatedBy: null, etag };
  return { status: 200, body, etag };
}

function toRuleDto(r: store.IgnoreRuleRow): schemas.RuleDto {
  return {
    id: r.id,
    environmentId: r.environment_id,
    resource: r.resource,
    path: r.path,
    reason: r.reason,
    expiresAt: iso(r.expires_at),
    createdAt: r.created_at.toISOString(),
    createdBy: r.created_by,
  };
}

/** The handlers, keyed by operation; `index.ts` gives each its name, method and route. */
export function driftHandlers({ now, environments, drift }: DriftHandlerDeps) {
  /** The environment must exist in the tenant (asked of its owner, in its own transaction). */
  const requireEnvironment = async (tenant: TenantRef, environmentId: string, live = false) => {
    const env = await environments.getEnvironment(tenant, environmentId);
    if (!env) throw notFound(`Environment '${environmentId}'`, 'environmentId');
    if (live && env.status === 'retired') throw conflict(`Environment '${environmentId}' is retired.`, 'environmentId');
    return env;
  };

  const pushObserved = route({
    summary: "Push an agent's observed state of an environment (idempotent; the newest observation per agent wins)",
    tags: TAGS,
    access: { tenantRole: 'operator' },
    params: schemas.EnvironmentParams,
    body: { schema: schemas.ObservedState, example: schemas.OBSERVED_EXAMPLE },
    prepare: async (ctx) => void (await requireEnvironment(tenantOf(ctx), ctx.params.environmentId, true)),
    responses: {
      200: { description: 'Received', schema: schemas.ObservationReceipt },
      409: { description: 'The environment is retired, or another observation by the agent at the same instant is stored (Conflict)' },
    },
    handler: async (ctx) => {
      const { environmentId } = ctx.params;
      const outcome = await ctx.tx(DRIFT_SQL, (trx) => ingestObservation(trx, ctx.tenant.tenantId, environmentId, ctx.body, now()));
      return { status: 200, body: { source: ctx.body.source, observedAt: new Date(ctx.body.observedAt).toISOString(), resources: ctx.body.resources.length, outcome } };
    },
  });

  const startScan = route({
    summary: 'Start a drift scan of an environment (202; a scan already running on it is answered instead of starting another)',
    tags: TAGS,
    access: { tenantRole: 'operator' },
    params: schemas.EnvironmentParams,
    prepare: async (ctx) => void (await requireEnvironment(tenantOf(ctx), ctx.params.environmentId, true)),
    responses: {
      202: { description: 'The scan (Operation-Location: its status)', schema: schemas.Scan },
      409: { description: 'The environment is retired (Conflict)' },
    },
    handler: async (ctx) => {
      const tenant = tenantOf(ctx);
      const { environmentId } = ctx.params;
      const at = now();
      // A running scan of the environment is answered as is; otherwise a new one starts.
      const instanceId = scanInstanceId(tenant.tenantId, environmentId, `manual-${at.toISOString()}`);
      const input: ScanInput = { tenant, environmentId, scanId: scanIdOf(instanceId), instanceId, trigger: 'manual', by: ctx.principal.id };
      const { row, fresh } = await ctx.tx(DRIFT_SQL, async (trx) => {
        const running = await store.runningScan(trx, tenant.tenantId, environmentId);
        if (running) return { row: running, fresh: false };
        const existing = await store.getScan(trx, tenant.tenantId, input.scanId);
        if (existing) return { row: existing, fresh: false };
        const inserted = await store.insertScan(trx, { tenant_id: tenant.tenantId, id: input.scanId, environment_id: environmentId, instance_id: instanceId, trigger: 'manual', requested_by: input.by, started_at: at });
        if (!inserted) throw conflict('Another scan of the environment started at the same moment; retry.', 'environmentId');
        await store.updateScan(trx, tenant.tenantId, input.scanId, { phase: 'queued' });
        return { row: { ...inserted, phase: 'queued' }, fresh: true };
      });
      let current = row;
      if (fresh) {
        const port = await drift.orchestrations(ctx.invocation);
        if (port) {
          try {
            await port.start('driftScanEnvironment', instanceId, input);
          } catch (e) {
            ctx.invocation.error(`drift: starting scan ${input.scanId} failed: ${e instanceof Error ? e.message : String(e)}`);
            await ctx.tx(DRIFT_SQL, (trx) => store.updateScan(trx, tenant.tenantId, input.scanId, { status: 'failed', phase: 'failed', finished_at: now(), error: 'The scan could not be started.' }));
            throw new UnavailableError('The orchestration service did not accept the scan; retry.');
          }
        } else {
          await runScanInProcess({ ...drift.ports, log: (m) => ctx.invocation.warn(m) }, input);
          const [after] = await ctx.read(DRIFT_SQL, (db) => store.selectScan(db, tenant.tenantId, input.scanId));
          if (after) current = after;
        }
      }
      const location = scanPath(tenant.tenantId, environmentId, current.id);
      return { status: 202, body: toScanDto(current), headers: { 'Operation-Location': location, 'Retry-After': '2' } };
    },
  });

  const getScan = route({
    summary: 'A drift scan: status, progress (environments done / total), counts and its snapshot link',
    tags: TAGS,
    access: { tenantRole: 'reader' },
    params: schemas.ScanParams,
    responses: { 200: { description: 'The scan', schema: schemas.Scan } },
    handler: async (ctx) => {
      const { environmentId, scanId } = ctx.params;
      const [row] = await ctx.read(DRIFT_SQL, (db) => store.selectScan(db, ctx.tenant.tenantId, scanId, environmentId));
      if (!row) throw notFound(`Drift scan '${scanId}'`, 'scanId');
      return { status: 200, body: toScanDto(row) };
    },
  });

  const listScans = route({
    summary: "An environment's drift scans, newest first",
    tags: TAGS,
    access: { tenantRole: 'reader' },
    params: schemas.EnvironmentParams,
    paged: true,
    responses: { 200: { description: 'A page of scans', schema: schemas.ScanList } },
    handler: async (ctx) => {
      const { environmentId } = ctx.params;
      const c = decodeCursor(ctx.query.skipToken, z.object({ at: z.iso.datetime(), id: z.string().max(64) }));
      const rows = await ctx.read(DRIFT_SQL, (db) => store.selectScans(db, ctx.tenant.tenantId, environmentId, c ? { at: new Date(c.at), id: c.id } : undefined, ctx.pageSize + 1));
      if (rows.length === 0) await requireEnvironment(tenantOf(ctx), environmentId);
      return { status: 200, body: ctx.page(rows, (r) => ({ at: r.started_at.toISOString(), id: r.id }), toScanDto) };
    },
  });

  const getSnapshot = route({
    summary: "A scan's snapshot: the full desired state, actual state and diff (from Cosmos DB; expired by the container's TTL)",
    tags: TAGS,
    access: { tenantRole: 'reader' },
    params: schemas.ScanParams,
    responses: { 200: { description: 'The snapshot', schema: schemas.Snapshot } },
    handler: async (ctx) => {
      const { environmentId, scanId } = ctx.params;
      const [row] = await ctx.read(DRIFT_SQL, (db) => store.selectScan(db, ctx.tenant.tenantId, scanId, environmentId));
      if (!row?.snapshot_written) throw notFound(`Snapshot of drift scan '${scanId}'`, 'scanId');
      const doc = await drift.ports.snapshots.get(ctx.tenant.tenantId, scanId);
      if (!doc) throw notFound(`Snapshot of drift scan '${scanId}' (expired)`, 'scanId');
      return { status: 200, body: doc };
    },
  });

  const listFindings = route({
    summary: 'Drift findings: by environment, service, status, severity and first-seen time; keyset-paginated',
    tags: TAGS,
    access: { tenantRole: 'reader' },
    params: schemas.TenantParams,
    query: schemas.ListFindingsQuery,
    paged: true,
    responses: { 200: { description: 'A page of findings, by resource and path (or by first-seen time when a range is given)', schema: schemas.FindingList } },
    handler: async (ctx) => {
      const q = ctx.query;
      const range = createdRange(q);
      const after = decodeKeyset(q.skipToken, range.order);
      const rows = await ctx.read(DRIFT_SQL, (db) =>
        store.selectFindings(db, ctx.tenant.tenantId, {
          ...(q.environmentId ? { environmentId: q.environmentId } : {}),
          ...(q.serviceId ? { serviceId: q.serviceId } : {}),
          ...(q.status ? { status: q.status } : {}),
          ...(q.severity ? { severity: q.severity } : {}),
          range,
          ...(after ? { after } : {}),
          limit: ctx.pageSize + 1,
        }),
      );
      return { status: 200, body: ctx.page(rows, (r) => keysetOf(range.order, r), (r) => toFindingDto(r)) };
    },
  });

  const getFinding = route({
    summary: 'A drift finding with its likely cause and the actions taken on it',
    tags: TAGS,
    access: { tenantRole: 'reader' },
    params: schemas.FindingParams,
    responses: { 200: { description: 'The finding', schema: schemas.Finding } },
    handler: async (ctx) => {
      const { findingId } = ctx.params;
      const [row] = await ctx.read(DRIFT_SQL, (db) => store.selectFinding(db, ctx.tenant.tenantId, findingId));
      if (!row) throw notFound(`Drift finding '${findingId}'`, 'findingId');
      const actions = await ctx.read(DRIFT_SQL, (db) => store.selectActions(db, ctx.tenant.tenantId, findingId));
      return { status: 200, body: toFindingDto(row, actions), etag: row.etag };
    },
  });

  const act = route({
    summary: 'Act on a drift finding: accept as the new desired state, suppress until a date, request remediation, or record a remediation result',
    tags: TAGS,
    access: { tenantRole: 'operator' },
    params: schemas.FindingParams,
    body: { schema: schemas.FindingActionInput, example: { action: 'suppress', until: '2027-01-01T00:00:00Z', note: 'Known: migration in progress' } },
    responses: {
      200: { description: 'The finding after the action', schema: schemas.Finding },
      409: { description: 'The finding is resolved, or already accepted (Conflict)' },
    },
    handler: async (ctx) => {
      const { findingId } = ctx.params;
      const row = await ctx.tx(DRIFT_SQL, (trx) => actOnFinding(trx, ctx.tenant.tenantId, findingId, ctx.body, ctx.principal.id, now()));
      const actions = await ctx.read(DRIFT_SQL, (db) => store.selectActions(db, ctx.tenant.tenantId, findingId));
      return { status: 200, body: toFindingDto(row, actions), etag: row.etag };
    },
  });

  const getSettings = route({
    summary: "An environment's drift settings: mode (detect only, or detect and request remediation) and when observations go stale",
    tags: TAGS,
    access: { tenantRole: 'reader' },
    params: schemas.EnvironmentParams,
    responses: { 200: { description: 'The settings (defaults until set)', schema: schemas.Settings } },
    handler: async (ctx) => {
      const { environmentId } = ctx.params;
      const [row] = await ctx.read(DRIFT_SQL, (db) => store.selectSettings(db, ctx.tenant.tenantId, environmentId));
      if (!row) await requireEnvironment(tenantOf(ctx), environmentId);
      return settingsReply(environmentId, row);
    },
  });

  const putSettings = route({
    summary: "Set an environment's drift settings",
    tags: TAGS,
    access: { tenantRole: 'admin' },
    params: schemas.EnvironmentParams,
    body: { schema: schemas.PutSettings, example: { mode: 'detect-and-request-remediation', observationMaxAgeMinutes: 30 } },
    prepare: async (ctx) => void (await requireEnvironment(tenantOf(ctx), ctx.params.environmentId)),
    responses: { 200: { description: 'The settings', schema: schemas.Settings }, 412: { description: 'If-Match does not match the current ETag' } },
    handler: async (ctx) => {
      const { environmentId } = ctx.params;
      const row = await ctx.tx(DRIFT_SQL, async (trx) => {
        if (ctx.ifMatch) {
          const current = await store.selectSettings(trx, ctx.tenant.tenantId, environmentId).forUpdate().executeTakeFirst();
          checkEtag(ctx.ifMatch, current?.etag ?? DEFAULT_SETTINGS_ETAG);
        }
        return store.upsertSettings(trx, {
          tenant_id: ctx.tenant.tenantId,
          environment_id: environmentId,
          mode: ctx.body.mode,
          observation_max_age_minutes: ctx.body.observationMaxAgeMinutes ?? DEFAULT_OBSERVATION_MAX_AGE_MINUTES,
          updated_at: now(),
          updated_by: ctx.principal.id,
        });
      });
      return settingsReply(environmentId, row);
    },
  });

  const createRule = route({
    summary: 'Create a drift ignore rule for the tenant or one environment (JSON Pointer or path pattern, reason, optional expiry)',
    tags: TAGS,
    access: { tenantRole: 'operator' },
    params: schemas.TenantParams,
    body: { schema: schemas.CreateRule, example: schemas.RULE_EXAMPLE },
    idempotent: DRIFT_SQL,
    prepare: async (ctx) => {
      if (ctx.body.environmentId) await requireEnvironment(tenantOf(ctx), ctx.body.environmentId);
    },
    responses: { 201: { description: 'Created', schema: schemas.Rule }, 409: { description: 'The tenant has the most rules it may keep (QuotaExceeded)' } },
    handler: async (ctx) => {
      const { tenantId } = ctx.tenant;
      const b = ctx.body;
      const row: store.IgnoreRuleRow = {
        tenant_id: tenantId,
        id: newId('dign'),
        environment_id: b.environmentId ?? null,
        resource: b.resource ?? null,
        path: b.path,
        reason: b.reason,
        expires_at: b.expiresAt ? new Date(b.expiresAt) : null,
        created_at: now(),
        created_by: ctx.principal.id,
      };
      await ctx.tx(DRIFT_SQL, async (trx) => {
        if ((await store.countRules(trx, tenantId)) >= MAX_IGNORE_RULES) throw quotaExceeded(`The tenant keeps at most ${MAX_IGNORE_RULES} ignore rules.`, 'driftIgnoreRules');
        await store.insertRule(trx, row);
      });
      return { status: 201, body: toRuleDto(row), headers: { Location: `/api/tenants/${tenantId}/drift-ignore-rules/${row.id}` } };
    },
  });

  const listRules = route({
    summary: "The tenant's drift ignore rules, by id",
    tags: TAGS,
    access: { tenantRole: 'reader' },
    params: schemas.TenantParams,
    query: schemas.ListRulesQuery,
    paged: true,
    responses: { 200: { description: 'A page of rules', schema: schemas.RuleList } },
    handler: async (ctx) => {
      const c = decodeCursor(ctx.query.skipToken, z.object({ id: z.string().max(64) }));
      const rows = await ctx.read(DRIFT_SQL, (db) =>
        store.selectRules(db, ctx.tenant.tenantId, {
          ...(ctx.query.environmentId ? { environmentId: ctx.query.environmentId } : {}),
          ...(c ? { afterId: c.id } : {}),
          limit: ctx.pageSize + 1,
        }),
      );
      return { status: 200, body: ctx.page(rows, (r) => ({ id: r.id }), toRuleDto) };
    },
  });

  const getRule = route({
    summary: 'A drift ignore rule',
    tags: TAGS,
    access: { tenantRole: 'reader' },
    params: schemas.RuleParams,
    responses: { 200: { description: 'The rule', schema: schemas.Rule } },
    handler: async (ctx) => {
      const [row] = await ctx.read(DRIFT_SQL, (db) => store.selectRule(db, ctx.tenant.tenantId, ctx.params.ruleId));
      if (!row) throw notFound(`Drift ignore rule '${ctx.params.ruleId}'`, 'ruleId');
      return { status: 200, body: toRuleDto(row) };
    },
  });

  const deleteRule = route({
    summary: 'Delete a drift ignore rule',
    tags: TAGS,
    access: { tenantRole: 'operator' },
    params: schemas.RuleParams,
    responses: { 204: { description: 'Deleted' } },
    handler: async (ctx) => {
      const gone = await ctx.tx(DRIFT_SQL, (trx) => store.deleteRule(trx, ctx.tenant.tenantId, ctx.params.ruleId));
      if (!gone) throw notFound(`Drift ignore rule '${ctx.params.ruleId}'`, 'ruleId');
      return { status: 204 };
    },
  });

  return { pushObserved, startScan, getScan, listScans, getSnapshot, listFindings, getFinding, act, getSettings, putSettings, createRule, listRules, getRule, deleteRule };
}
