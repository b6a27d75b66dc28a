/**
 * Rotation of a binding's secret as a Durable Functions orchestration. The orchestrator is a thin,
 * deterministic generator; each step is an idempotent activity, so a crash between any two steps
 * resumes without a second new version and without losing the event:
 *
 *   1. begin         record the rotation in the history table (one row per instance id)
 *   2. writeVersion  create the new version in Key Vault, tagged with the rotation id; a retry
 *                    finds the tagged version instead of writing another
 *   3. commit        move `currentVersion`, keep the previous version for the overlap window, mark
 *                    the rotation succeeded and emit `SecretRotated` — one transaction; a second
 *                    commit of the same rotation changes nothing
 *   4. disable       disable versions whose overlap has ended (an earlier rotation's previous one)
 *
 * A failure records the rotation as failed and sends `SecretRotationFailed` (telemetry.ts) from an
 * activity (an orchestrator replays, so it must not send anything itself). The previous version of
 * a successful rotation is disabled when its overlap window ends, by the rotation timer, or by the
 * next rotation, whichever comes first.
 *
 * Instance ids are deterministic: `rotate:<tenant>:<binding>:<due time>` (the due time of a
 * scheduled rotation, the request time of one on demand), so a second start is a no-op.
 */
import { createHash } from 'node:crypto';
import type { InvocationContext } from '@azure/functions';
import type { OrchestrationContext, OrchestrationHandler } from 'durable-functions';
import { isDomainError, isUnavailableError, notFound } from '../../shared/errors.js';
import { emit } from '../../shared/events/outbox.js';
import type { Kernel } from '../../shared/kernel.js';
import type { Placement, TenantRef } from '../../shared/sql/service-db.js';
import type { ValueProviders } from './generator.js';
import { nextRotation } from './service.js';
import * as store from './store.js';
import { SECRETS_SQL } from './sql.js';
import { SECRET_ROTATION_FAILED } from './telemetry.js';
import { TAG_BINDING, TAG_ROTATION, vaultSecretName, type SecretVault } from './vault.js';

const HOUR_MS = 3_600_000;

/** The orchestration's and activities' function names. */
export const ROTATION = {
  orchestrator: 'secretRotationRun',
  begin: 'secretRotationBegin',
  writeVersion: 'secretRotationWriteVersion',
  commit: 'secretRotationCommit',
  disable: 'secretRotationDisable',
  fail: 'secretRotationFail',
} as const;

/** What an orchestration is started with. */
export interface RotationInput {
  tenantId: string;
  placement: Placement;
  bindingId: string;
  instanceId: string;
  rotationId: string;
  trigger: 'schedule' | 'manual';
}

/** The deterministic instance id of a rotation due (or asked for) at `due`. */
export function rotationInstanceId(tenantId: string, bindingId: string, due: Date): string {
  return `rotate:${tenantId}:${bindingId}:${due.toISOString()}`;
}

/** The rotation's id in the history table, derived from its instance id (known before it starts). */
export function rotationIdOf(instanceId: string): string {
  return `rot_${createHash('sha256').update(instanceId).digest('hex').slice(0, 16)}`;
}

/** The input of the rotation of `bindingId` due at `due`. */
export function rotationInput(tenant: TenantRef, bindingId: string, due: Date, trigger: RotationInput['trigger']): RotationInput {
  const instanceId = rotationInstanceId(tenant.tenantId, bindingId, due);
  return { tenantId: tenant.tenantId, placement: tenant.placement, bindingId, instanceId, rotationId: rotationIdOf(instanceId), trigger };
}

export type BeginResult = { skip: string } | { done: true; toVersion: string | null } | { done: false; fromVersion: string | null };
export interface CommitResult {
  /** Versions to disable now: an earlier rotation's previous version, or this one's when there is no overlap. */
  stale: string[];
}

/** What the activities use. */
export interface RotationDeps {
  kernel: Pick<Kernel, 'sql' | 'now' | 'telemetry'>;
  vault: SecretVault;
  providers: ValueProviders;
}

/** A failure's stable code, carried in the activity's error message (`<Code>: …`) to the orchestrator. */
function failure(e: unknown): Error {
  const code = isDomainError(e) ? e.code : isUnavailableError(e) ? 'VaultUnavailable' : 'RotationStepFailed';
  return new Error(`${code}: the rotation step did not complete`);
}

/** The activities, each safe to run twice. */
export function rotationActivities({ kernel, vault, providers }: RotationDeps) {
  const tenantOf = (i: RotationInput): TenantRef => ({ tenantId: i.tenantId, placement: i.placement });
  const run = <T>(i: RotationInput, fn: (trx: store.Tx) => Promise<T>) => kernel.sql.run(tenantOf(i), SECRETS_SQL, fn);
  const guarded =
    <I, T>(f: (input: I) => Promise<T>) =>
    async (input: I): Promise<T> => {
      try {
        return await f(input);
      } catch (e) {
        throw failure(e);
      }
    };

  const loadBinding = async (i: RotationInput) => {
    const b = await run(i, (trx) => store.getBinding(trx, i.tenantId, i.bindingId));
    if (!b) throw notFound(`Secret binding '${i.bindingId}'`, 'bindingId');
    return b;
  };

  return {
    /** Records the rotation (or finds it); a failed one is being retried, a succeeded one is done. */
    begin: guarded(async (i: RotationInput): Promise<BeginResult> =>
      run(i, async (trx) => {
        const b = await store.getBinding(trx, i.tenantId, i.bindingId, { forUpdate: true });
        if (!b) {
          // A rotation asked for before the binding was deleted ends here, not in a retry loop.
          const rot = await store.getRotation(trx, i.tenantId, i.rotationId, { forUpdate: true });
          if (rot?.outcome === 'running') await store.updateRotation(trx, i.tenantId, rot.id, { outcome: 'failed', finished_at: kernel.now(), error_code: 'NotFound' });
          return { skip: 'the binding was deleted' };
        }
        const now = kernel.now();
        const row = await store.upsertRotation(trx, {
          tenant_id: i.tenantId,
          id: i.rotationId,
          binding_id: i.bindingId,
          instance_id: i.instanceId,
          trigger: i.trigger,
          from_version: b.current_version,
          to_version: null,
          started_at: now,
          finished_at: null,
          outcome: 'running',
          error_code: null,
        });
        if (row.outcome === 'succeeded') return { done: true, toVersion: row.to_version };
        if (row.outcome === 'failed') await store.updateRotation(trx, i.tenantId, row.id, { outcome: 'running', finished_at: null, error_code: null });
        return { done: false, fromVersion: row.from_version };
      }),
    ),

    /** The rotation's version in the vault: the one tagged with its id, or a new one written now. */
    writeVersion: guarded(async (i: RotationInput): Promise<string> => {
      const b = await loadBinding(i);
      const name = vaultSecretName(i.tenantId, b.secret_name);
      const mine = (await vault.versions(name)).find((v) => v.tags[TAG_ROTATION] === i.rotationId);
      if (mine) return mine.version;
      const value = await providers.generate(b.rotation.generator, { tenantId: i.tenantId, bindingId: b.id, secretName: b.secret_name });
      return vault.write(name, value, { [TAG_BINDING]: `${i.tenantId}/${b.name}`, [TAG_ROTATION]: i.rotationId });
    }),

    /** Moves the binding to the new version and emits SecretRotated, once. */
    commit: guarded(async (i: RotationInput & { toVersion: string }): Promise<CommitResult> =>
      run(i, async (trx) => {
        const rot = await store.getRotation(trx, i.tenantId, i.rotationId, { forUpdate: true });
        if (rot?.outcome === 'succeeded') return { stale: rot.stale_versions };
        const b = await store.getBinding(trx, i.tenantId, i.bindingId, { forUpdate: true });
        if (!b || !rot) throw notFound(`Secret binding '${i.bindingId}'`, 'bindingId');
        const now = kernel.now();
        const stale: string[] = [];
        if (b.current_version !== i.toVersion) {
          if (b.previous_version && b.previous_version !== i.toVersion) stale.push(b.previous_version);
          const overlap = b.rotation.overlapHours > 0 && b.current_version !== null;
          if (!overlap && b.current_version) stale.push(b.current_version);
          const row = await store.updateBinding(trx, i.tenantId, i.bindingId, b.etag, {
            current_version: i.toVersion,
            previous_version: overlap ? b.current_version : null,
            previous_disable_at: overlap ? new Date(now.getTime() + b.rotation.overlapHours * HOUR_MS) : null,
            last_rotated_at: now,
            next_rotation_at: nextRotation(b.rotation, now),
            updated_at: now,
          });
          if (!row) throw new Error('the binding changed under its row lock');
        }
        await store.updateRotation(trx, i.tenantId, i.rotationId, { outcome: 'succeeded', to_version: i.toVersion, finished_at: now, error_code: null, stale_versions: stale });
        await emit(trx, i.tenantId, {
          type: 'SecretRotated',
          subject: `tenants/${i.tenantId}/secret-bindings/${i.bindingId}`,
          data: { rotationId: i.rotationId, name: b.name, keyVaultRef: b.key_vault_ref, secretName: b.secret_name, fromVersion: rot.from_version, toVersion: i.toVersion, rotatedAt: now.toISOString() },
        });
        return { stale };
      }),
    ),

    /** Disables versions of the binding's secret, never its current one. */
    disable: guarded(async (i: RotationInput & { versions: string[] }): Promise<number> => {
      const b = await run(i, (trx) => store.getBinding(trx, i.tenantId, i.bindingId));
      if (!b) return 0;
      const targets = i.versions.filter((v) => v !== b.current_version);
      for (const v of targets) await vault.setEnabled(vaultSecretName(i.tenantId, b.secret_name), v, false);
      return targets.length;
    }),

    /** Records the failure (unless the rotation succeeded meanwhile) and sends SecretRotationFailed. */
    fail: async (i: RotationInput & { code: string }, context?: Pick<InvocationContext, 'error'>): Promise<void> => {
      await run(i, async (trx) => {
        const rot = await store.getRotation(trx, i.tenantId, i.rotationId, { forUpdate: true });
        if (rot && rot.outcome !== 'succeeded') await store.updateRotation(trx, i.tenantId, i.rotationId, { outcome: 'failed', finished_at: kernel.now(), error_code: i.code });
      });
      // The error line carries the name too: the host sends it as a trace even with the SDK off.
      context?.error(`${SECRET_ROTATION_FAILED}: rotation ${i.rotationId} of ${i.tenantId}/${i.bindingId} (${i.instanceId}) failed: ${i.code}`);
      kernel.telemetry.trackEvent({
        name: SECRET_ROTATION_FAILED,
        properties: { tenantId: i.tenantId, bindingId: i.bindingId, instanceId: i.instanceId, code: i.code },
      });
    },
  };
}

/** What the orchestration answers when it ends. */
export interface RotationResult {
  outcome: 'succeeded' | 'skipped';
  rotationId: string;
  toVersion?: string | null;
  reason?: string;
}

/** The code an activity's failure carries (see {@link failure}). */
export function failureCode(e: unknown): string {
  const message = e instanceof Error ? e.message : String(e);
  return /\b([A-Z][A-Za-z]{2,60}): the rotation step did not complete/.exec(message)?.[1] ?? 'RotationStepFailed';
}

/** The orchestrator: deterministic, no I/O of its own; every step is an activity. */
export const rotationOrchestrator: OrchestrationHandler = function* (context: OrchestrationContext) {
  const input = context.df.getInput<RotationInput>();
  try {
    const begun = (yield context.df.callActivity(ROTATION.begin, input)) as BeginResult;
    if ('skip' in begun) return { outcome: 'skipped', rotationId: input.rotationId, reason: begun.skip } satisfies RotationResult;
    if (begun.done) return { outcome: 'succeeded', rotationId: input.rotationId, toVersion: begun.toVersion } satisfies RotationResult;
    const toVersion = (yield context.df.callActivity(ROTATION.writeVersion, input)) as string;
    const committed = (yield context.df.callActivity(ROTATION.commit, { ...input, toVersion })) as CommitResult;
    if (committed.stale.length > 0) yield context.df.callActivity(ROTATION.disable, { ...input, versions: committed.stale });
    return { outcome: 'succeeded', rotationId: input.rotationId, toVersion } satisfies RotationResult;
  } catch (e) {
    yield context.df.callActivity(ROTATION.fail, { ...input, code: failureCode(e) });
    throw new Error(`Rotation ${input.rotationId} failed (${failureCode(e)})`);
  }
};
