/**
 * drift — RuntimeDriftDetectionService and its DriftDetectionWorker: compares the desired state of
 * each environment (assembled from the services that own it) with its actual state (agents' pushed
 * observations and pull adapters over the stores), keeps findings with their likely cause and the
 * actions taken on them, and writes a snapshot of every scan. Storage map rows: "Drift findings" —
 * PostgreSQL, schema `drift`, role `rp_drift`, resolved findings kept
 * `storageMap.driftFindings.retentionDays` (365) days, open ones indefinitely; "Drift state
 * snapshots" — Cosmos DB container `drift-snapshots`, partition key `/tenantId`, expired by the
 * container's default TTL (`DRIFT_SNAPSHOT_TTL_SECONDS`, 30 days).
 *
 * <!-- functions:drift -->
 *   POST           /api/tenants/{tenantId}/environments/{environmentId}/observed-state                 driftObservedStatePush  tenant operator
 *   POST           /api/tenants/{tenantId}/environments/{environmentId}/drift-scans                    driftScanStart          tenant operator
 *   GET            /api/tenants/{tenantId}/environments/{environmentId}/drift-scans                    driftScanList           tenant reader
 *   GET            /api/tenants/{tenantId}/environments/{environmentId}/drift-scans/{scanId}           driftScanGet            tenant reader
 *   GET            /api/tenants/{tenantId}/environments/{environmentId}/drift-scans/{scanId}/snapshot  driftSnapshotGet        tenant reader
 *   GET            /api/tenants/{tenantId}/environments/{environmentId}/drift-settings                 driftSettingsGet        tenant reader
 *   PUT            /api/tenants/{tenantId}/environments/{environmentId}/drift-settings                 driftSettingsPut        tenant admin
 *   GET            /api/tenants/{tenantId}/drift-findings                                              driftFindingList        tenant reader
 *   GET            /api/tenants/{tenantId}/drift-findings/{findingId}                                  driftFindingGet         tenant reader
 *   POST           /api/tenants/{tenantId}/drift-findings/{findingId}/actions                          driftFindingAct         tenant operator
 *   POST           /api/tenants/{tenantId}/drift-ignore-rules                                          driftIgnoreRuleCreate   tenant operator
 *   GET            /api/tenants/{tenantId}/drift-ignore-rules                                          driftIgnoreRuleList     tenant reader
 *   GET            /api/tenants/{tenantId}/drift-ignore-rules/{ruleId}                                 driftIgnoreRuleGet      tenant reader
 *   DELETE         /api/tenants/{tenantId}/drift-ignore-rules/{ruleId}                                 driftIgnoreRuleDelete   tenant operator
 *   timer          0 20 * * * *                                                                        driftScanSchedule
 *   orchestration                                                                                      driftScanSweep
 *   orchestration                                                                                      driftScanEnvironment
 *   activity                                                                                           driftScanTargets
 *   activity                                                                                           driftScanBegin
 *   activity                                                                                           driftScanLoadDesired
 *   activity                                                                                           driftScanLoadActual
 *   activity                                                                                           driftScanDiff
 *   activity                                                                                           driftScanApply
 *   activity                                                                                           driftScanFail
 *   timer          0 40 3 * * *                                                                        driftRetention
 * <!-- /functions -->
 *
 * Rules and decisions, and why: docs/services.md.
 */
import type { InvocationContext } from '@azure/functions';
import type { Kernel } from '../../shared/kernel.js';
import type { ErrorTable } from '../../shared/errors.js';
import { durableClientInput } from '../../shared/registrar.js';
import { defineService, lazyRoutes } from '../../shared/service.js';
import type { DriftInstance, DriftNeeds } from './api.js';
import type * as ScanSteps from './scan.js';
import type { ScanInput, ScanPorts } from './scan.js';

type ScanModule = typeof ScanSteps;
import type { SweepInput } from './orchestrations.js';

/** Hourly, at twenty past: a sweep over every tenant's live environments. */
export const SCAN_SCHEDULE = '0 20 * * * *';
/** Daily at 03:40 UTC: resolved findings past retention are deleted. */
export const RETENTION_SCHEDULE = '0 40 3 * * *';

const routes = lazyRoutes((self: DriftInstance, kernel) =>
  import('./handlers.js').then((m) => m.driftHandlers({ now: kernel.now, environments: self.ports.deps.environments, drift: self })),
);

/** This service's error codes (it raises only the kernel's). */
export const DRIFT_ERRORS = {} as const satisfies ErrorTable;

/** An activity over the scan steps: its input, and the scan ports logging to the activity's invocation. */
const step = <I>(run: (m: ScanModule, ports: ScanPorts, input: I) => Promise<unknown>) =>
  async (self: DriftInstance) => {
    const m = await import('./scan.js');
    return async (input: unknown, context: InvocationContext) => run(m, { ...self.ports, log: (line) => context.warn(line) }, input as I);
  };

export const drift = defineService({
  name: 'drift',
  sql: () => import('./sql.js').then((m) => m.DRIFT_SQL),
  migrations: () => import('./migrations/index.js').then((m) => m.migrations),
  errors: DRIFT_ERRORS,
  needs: ['tenants', 'environments', 'catalog', 'secrets', 'configuration', 'scaling', 'deployments'],
  create: async ({ kernel, deps }: { kernel: Kernel; deps: DriftNeeds }) => (await import('./api.js')).createDrift(kernel, deps),
  register(r) {
    const env = 'tenants/{tenantId}/environments/{environmentId}';
    const scans = `${env}/drift-scans`;
    r.http('driftObservedStatePush', 'POST', `${env}/observed-state`, routes('pushObserved'));
    r.http('driftScanStart', 'POST', scans, routes('startScan'), { extraInputs: [durableClientInput] });
    r.http('driftScanList', 'GET', scans, routes('listScans'));
    r.http('driftScanGet', 'GET', `${scans}/{scanId}`, routes('getScan'));
    r.http('driftSnapshotGet', 'GET', `${scans}/{scanId}/snapshot`, routes('getSnapshot'));
    r.http('driftSettingsGet', 'GET', `${env}/drift-settings`, routes('getSettings'));
    r.http('driftSettingsPut', 'PUT', `${env}/drift-settings`, routes('putSettings'));
    r.http('driftFindingList', 'GET', 'tenants/{tenantId}/drift-findings', routes('listFindings'));
    r.http('driftFindingGet', 'GET', 'tenants/{tenantId}/drift-findings/{findingId}', routes('getFinding'));
    r.http('driftFindingAct', 'POST', 'tenants/{tenantId}/drift-findings/{findingId}/actions', routes('act'));
    r.http('driftIgnoreRuleCreate', 'POST', 'tenants/{tenantId}/drift-ignore-rules', routes('createRule'));
    r.http('driftIgnoreRuleList', 'GET', 'tenants/{tenantId}/drift-ignore-rules', routes('listRules'));
    r.http('driftIgnoreRuleGet', 'GET', 'tenants/{tenantId}/drift-ignore-rules/{ruleId}', routes('getRule'));
    r.http('driftIgnoreRuleDelete', 'DELETE', 'tenants/{tenantId}/drift-ignore-rules/{ruleId}', routes('deleteRule'));

    r.timer(
      'driftScanSchedule',
      SCAN_SCHEDULE,
      "Starts the hour's drift sweep over every tenant's live environments (one sweep per hour)",
      async (_self, kernel) => {
        const { durableOrchestrations } = await import('../../shared/orchestration.js');
        return async (_timer, context) => {
          const slot = kernel.now().toISOString().slice(0, 13);
          const input: SweepInput = { slot, trigger: 'schedule', by: 'drift-schedule' };
          const { instanceId, started } = await durableOrchestrations(context).start('driftScanSweep', `drift-sweep:${slot}`, input);
          context.log(`drift sweep ${instanceId}: ${started ? 'started' : 'already running or done'}`);
        };
      },
      { durableClient: true },
    );
    r.orchestration('driftScanSweep', "Fans out one environment scan per live environment (bounded parallelism) and fans in a summary", async () =>
      (await import('./orchestrations.js')).sweepOrchestrator,
    );
    r.orchestration('driftScanEnvironment', 'Scans one environment: desired, actual, diff + snapshot, findings', async () =>
      (await import('./orchestrations.js')).scanEnvironmentOrchestrator,
    );
    r.activity('driftScanTargets', "Lists the live environments a sweep covers", step<{ tenantIds: string[] | null }>((m, p, i) => m.scanTargets(p, i.tenantIds ?? undefined)));
    r.activity('driftScanBegin', 'Claims the environment for the scan (a running scan of it makes this one skipped)', step<ScanInput>((m, p, i) => m.beginScan(p, i)));
    r.activity('driftScanLoadDesired', 'Assembles the desired state from the owning services', step<ScanInput>((m, p, i) => m.loadDesiredStep(p, i)));
    r.activity('driftScanLoadActual', 'Reads the actual state from the observations and pull adapters', step<{ input: ScanInput; desired: never }>((m, p, i) => m.loadActualStep(p, i.input, i.desired)));
    r.activity('driftScanDiff', 'Diffs desired against actual and writes the snapshot once', step<{ input: ScanInput; desired: never; actual: never }>((m, p, i) => m.diffStep(p, i.input, i.desired, i.actual)));
    r.activity('driftScanApply', 'Opens, updates and resolves findings; finishes the scan', step<{ input: ScanInput; diff: never }>((m, p, i) => m.applyStep(p, i.input, i.diff)));
    r.activity('driftScanFail', 'Marks a scan failed', step<{ input: ScanInput; message: string }>((m, p, i) => m.failScan(p, i.input, i.message)));
    r.timer('driftRetention', RETENTION_SCHEDULE, "Deletes resolved findings older than the storage map's retention; open findings stay", async (self) => async (_timer, context) => {
      const s = await self.purgeResolved((m) => context.warn(m));
      context.log(`drift retention (resolved at or before ${s.cutoff}): ${s.deleted} findings deleted over ${s.tenants} tenants, ${s.failures.length} failures`);
    });
  },
});
