/**
 * The DriftDetectionWorker's orchestrations. Deterministic generators: no I/O, no clock of their
 * own (`context.df.currentUtcDateTime`), ids derived from their input; every side effect is an
 * activity (scan.ts).
 *
 * - `driftScanEnvironment`: one environment — begin, desired, actual, diff + snapshot, findings.
 *   Custom status: `{ environmentsDone, environmentsTotal, phase }`.
 * - `driftScanSweep`: every live environment of the named tenants (or of all tenants), as
 *   sub-orchestrations with deterministic instance ids (`drift:<tenant>:<environment>:<slot>`),
 *   at most `parallelism` at a time; custom status `{ environmentsDone, environmentsTotal }`; its
 *   output sums the scans up.
 */
import type { OrchestrationContext, OrchestrationHandler } from 'durable-functions';
import type { TenantRef } from '../../shared/sql/service-db.js';
import { scanIdOf, scanInstanceId, type ScanInput, type ScanResult } from './scan.js';

/** Environments scanned at once by a sweep. */
export const DEFAULT_SWEEP_PARALLELISM = 8;

/** The input of a sweep. */
export interface SweepInput {
  /** The slot the sweep scans (e.g. the hour, `2026-03-01T10`): one scan per environment and slot. */
  slot: string;
  tenantIds?: string[];
  parallelism?: number;
  trigger: 'manual' | 'schedule';
  by: string;
}

/** What a sweep reports. */
export interface SweepSummary {
  slot: string;
  environments: number;
  succeeded: number;
  failed: number;
  skipped: number;
  differences: number;
  opened: number;
  resolved: number;
  failures: { tenantId: string; environmentId: string; scanId: string }[];
}

export function summariseSweep(slot: string, results: readonly ScanResult[]): SweepSummary {
  const s: SweepSummary = { slot, environments: results.length, succeeded: 0, failed: 0, skipped: 0, differences: 0, opened: 0, resolved: 0, failures: [] };
  for (const r of results) {
    s[r.status]++;
    s.differences += r.differences ?? 0;
    s.opened += r.opened ?? 0;
    s.resolved += r.resolved ?? 0;
    if (r.status === 'failed') s.failures.push({ tenantId: r.tenantId, environmentId: r.environmentId, scanId: r.scanId });
  }
  return s;
}

export const scanEnvironmentOrchestrator: OrchestrationHandler = function* (context: OrchestrationContext) {
  const input = context.df.getInput<ScanInput>();
  const status = (phase: string, done = 0) => context.df.setCustomStatus({ environmentsDone: done, environmentsTotal: 1, phase });
  status('started');
  const begun = (yield context.df.callActivity('driftScanBegin', input)) as { proceed: boolean; reason?: string };
  if (!begun.proceed) {
    status('skipped', 1);
    const skipped: ScanResult = { scanId: input.scanId, environmentId: input.environmentId, tenantId: input.tenant.tenantId, status: 'skipped', message: begun.reason ?? 'skipped' };
    return skipped;
  }
  try {
    status('desired');
    const desired: unknown = yield context.df.callActivity('driftScanLoadDesired', input);
    status('actual');
    const actual: unknown = yield context.df.callActivity('driftScanLoadActual', { input, desired });
    status('diff');
    const diff: unknown = yield context.df.callActivity('driftScanDiff', { input, desired, actual });
    status('findings');
    const result = (yield context.df.callActivity('driftScanApply', { input, diff })) as ScanResult;
    status('done', 1);
    return result;
  } catch (e) {
    const failed = (yield context.df.callActivity('driftScanFail', { input, message: e instanceof Error ? e.message : String(e) })) as ScanResult;
    status('failed', 1);
    return failed;
  }
};

export const sweepOrchestrator: OrchestrationHandler = function* (context: OrchestrationContext) {
  const input = context.df.getInput<SweepInput>();
  const parallelism = Math.max(1, Math.min(64, input.parallelism ?? DEFAULT_SWEEP_PARALLELISM));
  const targets = (yield context.df.callActivity('driftScanTargets', { tenantIds: input.tenantIds ?? null })) as { tenant: TenantRef; environmentId: string }[];
  const results: ScanResult[] = [];
  context.df.setCustomStatus({ environmentsDone: 0, environmentsTotal: targets.length });
  for (let i = 0; i < targets.length; i += parallelism) {
    const batch = targets.slice(i, i + parallelism).map((t) => {
      const instanceId = scanInstanceId(t.tenant.tenantId, t.environmentId, input.slot);
      const scan: ScanInput = { tenant: t.tenant, environmentId: t.environmentId, scanId: scanIdOf(instanceId), instanceId, trigger: input.trigger, by: input.by };
      return context.df.callSubOrchestrator('driftScanEnvironment', scan, instanceId);
    });
    results.push(...((yield context.df.Task.all(batch)) as ScanResult[]));
    context.df.setCustomStatus({ environmentsDone: results.length, environmentsTotal: targets.length });
  }
  return summariseSweep(input.slot, results);
};
