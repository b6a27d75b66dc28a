/**
 * The steps of one environment's scan, each a Durable Functions activity (orchestrations.ts) and
 * each safe to run twice: begin (claim the environment), load the desired state, load the actual
 * state, diff and write the snapshot (Cosmos DB, created once), apply the findings and finish. A
 * failure marks the scan failed. `DriftScanStarted` / `DriftScanFinished` go to Application Insights.
 */
import { createHash } from 'node:crypto';
import { sweepTenants } from '../../shared/tenant-sweep.js';
import type { Kernel } from '../../shared/kernel.js';
import type { TenantRef } from '../../shared/sql/service-db.js';
import { loadActual, type ActualSource, type ActualState } from './actual.js';
import { diffStates, type DiffResult } from './diff.js';
import type { SnapshotStore } from './snapshots.js';
import { loadDesired, likelyCause, type ChangeRef, type DesiredState, type DriftNeeds } from './sources.js';
import { applyDiff, livePlaces, newDifferences, placeOf, type ApplySummary } from './service.js';
import * as store from './store.js';
import { DRIFT_SQL } from './sql.js';
import { DRIFT_SCAN_FINISHED, DRIFT_SCAN_STARTED } from './telemetry.js';

/** The ports a scan uses. */
export interface ScanPorts {
  kernel: Kernel;
  deps: DriftNeeds;
  actualSources: readonly ActualSource[];
  snapshots: SnapshotStore;
  log: (message: string) => void;
}

/** One environment's scan, as the orchestration carries it. */
export interface ScanInput {
  tenant: TenantRef;
  environmentId: string;
  scanId: string;
  instanceId: string;
  trigger: 'manual' | 'schedule';
  by: string;
}

/** What a finished scan reports (the orchestration's output). */
export interface ScanResult {
  scanId: string;
  environmentId: string;
  tenantId: string;
  status: 'succeeded' | 'failed' | 'skipped';
  differences?: number;
  opened?: number;
  resolved?: number;
  message?: string;
}

/** The instance id of an environment's scan in a time slot: one scan per environment and slot. */
export const scanInstanceId = (tenantId: string, environmentId: string, slot: string) => `drift:${tenantId}:${environmentId}:${slot}`;
/** A scan's id, derived from its instance id (so a retried start names the same scan). */
export const scanIdOf = (instanceId: string) => `dscan_${createHash('sha256').update(instanceId).digest('hex').slice(0, 16)}`;

const inDrift = <T>(p: ScanPorts, tenant: TenantRef, fn: (trx: store.Tx) => Promise<T>) => p.kernel.sql.run(tenant, DRIFT_SQL, fn);

function track(p: ScanPorts, name: string, input: ScanInput, extra: Record<string, string> = {}): void {
  p.kernel.telemetry.trackEvent({ name, properties: { tenantId: input.tenant.tenantId, scanId: input.scanId, environmentId: input.environmentId, ...extra } });
}

/**
 * Claims the environment for this scan: its row is created (or found, on a retry or when the HTTP
 * start created it) as running. Another scan already running on the environment makes this one
 * `skipped`, so overlapping starts never scan an environment twice at once.
 */
export async function beginScan(p: ScanPorts, input: ScanInput): Promise<{ proceed: boolean; reason?: string }> {
  const now = p.kernel.now();
  const outcome = await inDrift(p, input.tenant, async (trx) => {
    const existing = await store.getScan(trx, input.tenant.tenantId, input.scanId);
    if (existing) return existing.status === 'running' ? { proceed: true, created: existing.phase === 'queued' } : { proceed: false, reason: `already ${existing.status}` };
    const running = await store.runningScan(trx, input.tenant.tenantId, input.environmentId);
    const row = running
      ? undefined
      : await store.insertScan(trx, {
          tenant_id: input.tenant.tenantId,
          id: input.scanId,
          environment_id: input.environmentId,
          instance_id: input.instanceId,
          trigger: input.trigger,
          requested_by: input.by,
          started_at: now,
        });
    if (!row) return { proceed: false, reason: `scan ${running?.id ?? 'another'} is running on the environment` };
    return { proceed: true, created: true };
  });
  if (outcome.proceed && outcome.created) {
    await inDrift(p, input.tenant, (trx) => store.updateScan(trx, input.tenant.tenantId, input.scanId, { phase: 'started' }));
    track(p, DRIFT_SCAN_STARTED, input);
  }
  return outcome.proceed ? { proceed: true } : { proceed: false, reason: outcome.reason ?? 'skipped' };
}

const phase = (p: ScanPorts, input: ScanInput, name: string) => inDrift(p, input.tenant, (trx) => store.updateScan(trx, input.tenant.tenantId, input.scanId, { phase: name }));

export async function loadDesiredStep(p: ScanPorts, input: ScanInput): Promise<DesiredState> {
  await phase(p, input, 'desired');
  return loadDesired(p.deps, input.tenant, input.environmentId, p.kernel.now(), p.log);
}

export async function loadActualStep(p: ScanPorts, input: ScanInput, desired: DesiredState): Promise<ActualState> {
  await phase(p, input, 'actual');
  return loadActual(p.actualSources, input.tenant, input.environmentId, desired, p.kernel.now());
}

/** Diffs (with the environment's ignore rules) and writes the snapshot once. */
export async function diffStep(p: ScanPorts, input: ScanInput, desired: DesiredState, actual: ActualState): Promise<DiffResult> {
  const now = p.kernel.now();
  const rules = await inDrift(p, input.tenant, async (trx) => {
    await store.updateScan(trx, input.tenant.tenantId, input.scanId, { phase: 'diff' });
    return store.activeRules(trx, input.tenant.tenantId, input.environmentId, now);
  });
  const diff = diffStates(desired.resources, actual.resources, actual.coverage, rules);
  await p.snapshots.create({ id: input.scanId, tenantId: input.tenant.tenantId, environmentId: input.environmentId, takenAt: now.toISOString(), desired, actual, diff });
  await inDrift(p, input.tenant, (trx) => store.updateScan(trx, input.tenant.tenantId, input.scanId, { phase: 'snapshot', snapshot_written: true }));
  return diff;
}

/**
 * Upserts the findings and finishes the scan. Likely causes are asked of the owning services
 * before the transaction (each runs its own), only for differences that open a finding.
 */
export async function applyStep(p: ScanPorts, input: ScanInput, diff: DiffResult): Promise<ScanResult> {
  const { tenant, environmentId, scanId } = input;
  const now = p.kernel.now();
  const live = await inDrift(p, tenant, async (trx) => {
    const rows = await trx.selectFrom('findings').selectAll().where('tenant_id', '=', tenant.tenantId).where('environment_id', '=', environmentId).where('status', '<>', 'resolved').execute();
    const settings = await store.selectSettings(trx, tenant.tenantId, environmentId).executeTakeFirst();
    const scan = await store.getScan(trx, tenant.tenantId, scanId);
    return { places: livePlaces(rows), mode: settings?.mode ?? 'detect-only', status: scan?.status };
  });
  if (live.status !== 'running') return { scanId, environmentId, tenantId: tenant.tenantId, status: live.status === 'succeeded' ? 'succeeded' : 'skipped' };
  const causes = new Map<string, ChangeRef | undefined>();
  for (const d of newDifferences(diff, live.places)) causes.set(placeOf(d.resource, d.path), await likelyCause(p.deps, tenant, environmentId, d.serviceId, now));
  const sum: ApplySummary = await inDrift(p, tenant, async (trx) => {
    const s = await applyDiff(trx, { tenantId: tenant.tenantId, environmentId, scanId, mode: live.mode }, diff, causes, now);
    await store.updateScan(trx, tenant.tenantId, scanId, {
      status: 'succeeded',
      phase: 'done',
      finished_at: now,
      differences: diff.differences.length,
      unknown: diff.unknown.length,
      suppressed: diff.suppressed.length,
      opened: s.opened,
      resolved: s.resolved,
    });
    return s;
  });
  track(p, DRIFT_SCAN_FINISHED, input, { outcome: 'succeeded' });
  return { scanId, environmentId, tenantId: tenant.tenantId, status: 'succeeded', differences: diff.differences.length, opened: sum.opened, resolved: sum.resolved };
}

/** Marks the scan failed (the orchestration's catch); the reason is logged, the row keeps a short one. */
export async function failScan(p: ScanPorts, input: ScanInput, message: string): Promise<ScanResult> {
  p.log(`drift: scan ${input.scanId} of ${input.tenant.tenantId}/${input.environmentId} failed: ${message}`);
  await inDrift(p, input.tenant, (trx) =>
    trx
      .updateTable('scans')
      .set({ status: 'failed', phase: 'failed', finished_at: p.kernel.now(), error: 'The scan failed; see the logs for its invocation.' })
      .where('tenant_id', '=', input.tenant.tenantId)
      .where('id', '=', input.scanId)
      .where('status', '=', 'running')
      .execute(),
  );
  track(p, DRIFT_SCAN_FINISHED, input, { outcome: 'failed' });
  return { scanId: input.scanId, environmentId: input.environmentId, tenantId: input.tenant.tenantId, status: 'failed', message: 'failed' };
}

/**
 * The same steps in this process, in order, without Durable Functions: where no durable client
 * is bound (outside any Functions host — the in-process test harness and the benchmark).
 */
export async function runScanInProcess(p: ScanPorts, input: ScanInput): Promise<ScanResult> {
  const begun = await beginScan(p, input);
  if (!begun.proceed) return { scanId: input.scanId, environmentId: input.environmentId, tenantId: input.tenant.tenantId, status: 'skipped', message: begun.reason ?? 'skipped' };
  try {
    const desired = await loadDesiredStep(p, input);
    const actual = await loadActualStep(p, input, desired);
    const diff = await diffStep(p, input, desired, actual);
    return await applyStep(p, input, diff);
  } catch (e) {
    return failScan(p, input, e instanceof Error ? e.message : String(e));
  }
}

/**
 * The live environments a sweep covers: every active tenant's, or only the named tenants'. A
 * tenant whose environments cannot be listed (its silo is down) is logged and left out of this
 * sweep; the other tenants' environments are listed all the same.
 */
export async function scanTargets(p: Pick<ScanPorts, 'deps' | 'log'>, tenantIds?: readonly string[]): Promise<{ tenant: TenantRef; environmentId: string }[]> {
  const out: { tenant: TenantRef; environmentId: string }[] = [];
  const active = { listTenants: async function* () {
    for await (const t of p.deps.tenants.listTenants()) if (t.status === 'active') yield t;
  } };
  await sweepTenants(active, { ...(tenantIds ? { tenantIds } : {}), log: p.log, label: 'drift sweep targets' }, async (tenant) => {
    const found: { tenant: TenantRef; environmentId: string }[] = [];
    for await (const e of p.deps.environments.listEnvironments(tenant)) found.push({ tenant, environmentId: e.id });
    out.push(...found);
  });
  return out;
}
