/**
 * The secrets service's timers, tenant by tenant (each in its own scoped transactions, in its own
 * database; a tenant that fails is logged and the others proceed):
 *
 * - rotation: starts one orchestration per due binding (deterministic instance id, so a second
 *   start for the same due time is a no-op and a failed one is retried on the next run), asks
 *   again for rotations still marked running long after they started (a start lost between the
 *   history row and the orchestration), and disables previous versions whose overlap has ended;
 * - retention: removes bindings deleted, and rotation history finished, longer ago than the
 *   storage map's figure for "Secret bindings (metadata)".
 */
import { sweepTenants } from '../../shared/tenant-sweep.js';
import type { Kernel } from '../../shared/kernel.js';
import type { TenantRef } from '../../shared/sql/service-db.js';
import { storageMap } from '../../shared/storage-map.js';
import type { SecretsNeeds } from './api.js';
import { ROTATION, rotationInput, type RotationInput } from './rotation.js';
import * as store from './store.js';
import { SECRETS_SQL } from './sql.js';
import { vaultSecretName, type SecretVault } from './vault.js';

const DAY_MS = 86_400_000;
const BATCH = 200;
/** A rotation still marked running this long after it started is started again (a no-op if it runs). */
export const STALE_RUNNING_MS = 15 * 60_000;

/** Starts an orchestration unless one with the id exists (the orchestration port's `start`). */
export type StartRotation = (name: string, instanceId: string, input: RotationInput) => Promise<{ started: boolean }>;

/** What one rotation run did. */
export interface RotationSweep {
  started: number;
  alreadyRunning: number;
  disabled: number;
  failedTenants: string[];
}

/** What the timers use. */
export interface ScheduleDeps {
  kernel: Pick<Kernel, 'sql' | 'now'>;
  tenants: SecretsNeeds['tenants'];
  vault: SecretVault;
  log: (message: string) => void;
}

async function eachTenant(deps: ScheduleDeps, fn: (tenant: TenantRef) => Promise<void>): Promise<string[]> {
  const { failures } = await sweepTenants(deps.tenants, { label: 'secrets', log: deps.log }, fn);
  return failures.map((f) => f.tenantId);
}

/** One run of the rotation timer over every tenant. */
export async function sweepRotations(deps: ScheduleDeps, start: StartRotation): Promise<RotationSweep> {
  const out: RotationSweep = { started: 0, alreadyRunning: 0, disabled: 0, failedTenants: [] };
  out.failedTenants = await eachTenant(deps, async (tenant) => {
    const run = <T>(fn: (trx: store.Tx) => Promise<T>) => deps.kernel.sql.run(tenant, SECRETS_SQL, fn);
    const now = deps.kernel.now();
    const due = await run((trx) => store.dueBindings(trx, tenant.tenantId, now, BATCH));
    const inputs = due.map((b) => rotationInput(tenant, b.id, b.next_rotation_at ?? now, 'schedule'));
    const stuck = await run((trx) => store.staleRunning(trx, tenant.tenantId, new Date(now.getTime() - STALE_RUNNING_MS), BATCH));
    for (const r of stuck) inputs.push({ tenantId: tenant.tenantId, placement: tenant.placement, bindingId: r.binding_id, instanceId: r.instance_id, rotationId: r.id, trigger: r.trigger });
    for (const input of inputs) {
      const { started } = await start(ROTATION.orchestrator, input.instanceId, input);
      if (started) out.started++;
      else out.alreadyRunning++;
    }
    for (const b of await run((trx) => store.expiredOverlaps(trx, tenant.tenantId, now, BATCH))) {
      if (!b.previous_version) continue;
      if (b.previous_version !== b.current_version) await deps.vault.setEnabled(vaultSecretName(tenant.tenantId, b.secret_name), b.previous_version, false);
      await run((trx) => store.clearPrevious(trx, tenant.tenantId, b.id, b.previous_version ?? ''));
      out.disabled++;
    }
  });
  return out;
}

/** What one retention run removed. */
export interface RetentionSummary {
  cutoff: string;
  bindings: number;
  rotations: number;
  failedTenants: string[];
}

/** The retention cut-off at `now`: the storage map's figure for secret binding metadata. */
export function retentionCutoff(now: Date): Date {
  return new Date(now.getTime() - storageMap.secretBindings.retentionDays * DAY_MS);
}

/** One run of the retention timer over every tenant, in bounded batches. */
export async function purgeExpired(deps: ScheduleDeps): Promise<RetentionSummary> {
  const cutoff = retentionCutoff(deps.kernel.now());
  const out: RetentionSummary = { cutoff: cutoff.toISOString(), bindings: 0, rotations: 0, failedTenants: [] };
  out.failedTenants = await eachTenant(deps, async (tenant) => {
    for (;;) {
      const n = await deps.kernel.sql.run(tenant, SECRETS_SQL, (trx) => store.purgeDeleted(trx, tenant.tenantId, cutoff, BATCH));
      out.bindings += n;
      if (n < BATCH) break;
    }
    for (;;) {
      const n = await deps.kernel.sql.run(tenant, SECRETS_SQL, (trx) => store.purgeRotations(trx, tenant.tenantId, cutoff, BATCH));
      out.rotations += n;
      if (n < BATCH) break;
    }
  });
  return out;
}
