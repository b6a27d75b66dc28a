/**
 * The rotation orchestrator run deterministically, step by step, by a small driver that plays the
 * Durable runtime's part: it calls the real orchestrator function (durable-functions' own replay
 * engine, built by the registrar exactly as the Functions host invokes it) with the recorded
 * history, turns the actions it returns into history, and runs the real activities against the
 * Key Vault stand-in and the database.
 *
 * The history is persisted (as JSON) after every checkpoint, so the flow can be killed between
 * any two steps and resumed from what was recorded, as a host restart would:
 * - killed after an activity's side effects but before its completion was recorded: the runtime
 *   delivers the activity again on resume (at-least-once), so it runs twice;
 * - killed after the completion was recorded but before the orchestrator's next episode: the
 *   orchestrator replays the history and carries on.
 * Either way the rotation must end with one new Key Vault version, the binding on it, one
 * `SecretRotated` event and a succeeded history row. A completed history replayed once more must
 * give the same result and schedule nothing new.
 */
import azureFunctions from '@azure/functions';
import type { TokenCredential } from '@azure/identity';
import { SecretClient } from '@azure/keyvault-secrets';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { historyEvent, type HistoryEvent } from '../../emulator/host/durable/history.js';
import { startTestApp, type TestApp } from '../../test/app.js';
import { ROTATION, rotationInput, type RotationInput } from './rotation.js';
import { vaultSecretName } from './vault.js';

const { InvocationContext } = azureFunctions;
let t: TestApp;
let clock = new Date('2026-05-01T00:00:00.000Z');
let a: { token: string; environmentId: string; serviceId: string };
let vault: SecretClient;
const anyToken: TokenCredential = { getToken: async () => ({ token: 't', expiresOnTimestamp: Date.now() + 3_600_000 }) };
const tenant = { tenantId: 'replay', placement: { model: 'pooled' } as const };

beforeAll(async () => {
  t = await startTestApp({ now: () => clock });
  a = await t.seedTenant('replay', 'rhea');
  vault = new SecretClient(t.keyVault!.url, anyToken, { disableChallengeResourceVerification: true });
});
afterAll(() => t?.close());

interface Action {
  actionType: number;
  functionName?: string;
  input?: unknown;
}
interface OrchestratorState {
  isDone?: boolean;
  actions?: Action[][];
  output?: unknown;
  error?: string;
}

/** Where a run is killed: around one activity (by its position in the run, from 0). */
interface Kill {
  step: number;
  when: 'before-completion-recorded' | 'before-next-episode';
}
class Killed extends Error {}

/** What the runtime keeps of an instance: the history, and the activities it still owes. */
interface Persisted {
  history: HistoryEvent[];
  known: number;
  nextId: number;
  /** Scheduled activities without a recorded completion, in order. */
  owed: { id: number; name: string; input: string }[];
  /** A recorded completion the orchestrator has not seen yet. */
  inbox: HistoryEvent[];
}

const ctx = (name: string) => new InvocationContext({ functionName: name, invocationId: `${name}-${Math.random()}`, logHandler: () => undefined });

/** Runs (or resumes) an instance until it finishes or `kill` strikes; every checkpoint is saved to `store`. */
async function drive(instanceId: string, input: RotationInput, store: { saved?: string }, kill?: Kill): Promise<{ done: boolean; output?: unknown; error?: string; activities: string[] }> {
  const orchestrator = await t.registrar.handler(ROTATION.orchestrator);
  const state: Persisted = store.saved
    ? (JSON.parse(store.saved) as Persisted)
    : { history: [], known: 0, nextId: 0, owed: [], inbox: [historyEvent('ExecutionStarted', clock, { Name: ROTATION.orchestrator, Input: JSON.stringify(input), OrchestrationInstance: { InstanceId: instanceId, ExecutionId: 'e1' } })] };
  const save = () => (store.saved = JSON.stringify(state));
  const ran: string[] = [];
  let step = 0;
  for (;;) {
    // The orchestrator's episode: the recorded history (played) plus one new event.
    const event = state.inbox.shift();
    if (event) {
      const started = historyEvent('OrchestratorStarted', clock);
      const payload = {
        history: [...state.history.map((e) => ({ ...e, IsPlayed: true })), started, event],
        input,
        instanceId,
        isReplaying: false,
        parentInstanceId: null,
        upperSchemaVersion: 1,
        upperSchemaVersionNew: 2,
        longRunningTimerIntervalDuration: '3.00:00:00',
        maximumShortTimerDuration: '6.00:00:00',
        defaultHttpAsyncRequestSleepTimeMillseconds: 30_000,
      };
      let result: OrchestratorState;
      try {
        result = (await orchestrator(payload, ctx(ROTATION.orchestrator))) as OrchestratorState;
      } catch (e) {
        state.history.push(started, event);
        save();
        return { done: true, error: e instanceof Error ? e.message : String(e), activities: ran };
      }
      state.history.push(started, event);
      const actions = (result.actions ?? []).flat();
      for (const action of actions.slice(state.known)) {
        expect(action.actionType, 'the rotation calls activities only').toBe(0);
        const id = state.nextId++;
        const inputJson = JSON.stringify(action.input);
        state.history.push(historyEvent('TaskScheduled', clock, { Name: action.functionName, Version: '', Input: inputJson }, id));
        state.owed.push({ id, name: action.functionName ?? '', input: inputJson });
      }
      state.known = actions.length;
      state.history.push(historyEvent('OrchestratorCompleted', clock));
      save();
      if (result.isDone) return { done: true, output: result.output, activities: ran };
      continue;
    }
    const work = state.owed[0];
    if (!work) throw new Error('the orchestration waits for nothing');
    // The activity's side effects happen here.
    let completion: HistoryEvent;
    try {
      const value = await (await t.registrar.handler(work.name))(JSON.parse(work.input), ctx(work.name));
      completion = historyEvent('TaskCompleted', clock, { TaskScheduledId: work.id, Result: JSON.stringify(value ?? null) });
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      completion = historyEvent('TaskFailed', clock, { TaskScheduledId: work.id, Reason: message, Details: JSON.stringify({ Message: message }) });
    }
    ran.push(work.name);
    if (kill?.step === step && kill.when === 'before-completion-recorded') throw new Killed(`killed after ${work.name} ran`);
    state.owed.shift();
    state.inbox.push(completion);
    save();
    if (kill?.step === step && kill.when === 'before-next-episode') throw new Killed(`killed after ${work.name} was recorded`);
    step++;
  }
}

async function newBinding(name: string) {
  const r = await t.call('POST', 'tenants/replay/secret-bindings', {
    token: a.token,
    // No overlap, so the rotation has its fourth step: disabling the old version.
    body: { name, secretName: name, consumers: [{ environmentId: a.environmentId }], rotation: { intervalDays: 7, overlapHours: 0, generator: { kind: 'random', length: 24, alphabet: 'hex' } }, initialValue: 'generate' },
  });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body as { id: string; currentVersion: string };
}

async function outcome(name: string, bindingId: string) {
  const versions: { version: string; enabled: boolean }[] = [];
  try {
    for await (const p of vault.listPropertiesOfSecretVersions(vaultSecretName('replay', name))) versions.push({ version: p.version!, enabled: p.enabled !== false });
  } catch (e) {
    if ((e as { statusCode?: number }).statusCode !== 404) throw e;
  }
  const db = t.owner.forPlacement({ model: 'pooled' });
  const events = await sql<{ n: number }>`select count(*)::int as n from secrets.outbox where tenant_id = 'replay' and type = 'SecretRotated' and subject like ${`%/${bindingId}`}`.execute(db);
  const rotations = await sql<{ outcome: string; to_version: string | null }>`select outcome, to_version from secrets.rotations where tenant_id = 'replay' and binding_id = ${bindingId}`.execute(db);
  const binding = (await t.call('GET', `tenants/replay/secret-bindings/${bindingId}`, { token: a.token })).body;
  return { versions, events: events.rows[0]?.n, rotations: rotations.rows, binding };
}

const STEPS = [ROTATION.begin, ROTATION.writeVersion, ROTATION.commit, ROTATION.disable];

describe('the rotation orchestrator, run deterministically', () => {
  it('runs begin, writeVersion, commit and disable in order, and a replay of the recorded history schedules nothing new', async () => {
    const b = await newBinding('plain');
    const input = rotationInput(tenant, b.id, clock, 'manual');
    const store: { saved?: string } = {};
    const run = await drive(input.instanceId, input, store);
    expect(run).toMatchObject({ done: true, output: { outcome: 'succeeded', rotationId: input.rotationId } });
    expect(run.activities).toEqual(STEPS);
    const o = await outcome('plain', b.id);
    expect(o.versions).toHaveLength(2);
    expect(o.versions.find((v) => v.version === b.currentVersion)?.enabled).toBe(false);
    expect(o.binding.currentVersion).toBe((run.output as { toVersion: string }).toVersion);
    expect([o.events, o.rotations]).toEqual([1, [{ outcome: 'succeeded', to_version: o.binding.currentVersion }]]);

    // The whole recorded history, replayed: same result, nothing scheduled, no activity run.
    const saved = JSON.parse(store.saved!) as Persisted;
    const orchestrator = await t.registrar.handler(ROTATION.orchestrator);
    const replay = (await orchestrator(
      { history: saved.history.map((e) => ({ ...e, IsPlayed: true })), input, instanceId: input.instanceId, isReplaying: true, parentInstanceId: null, upperSchemaVersion: 1, upperSchemaVersionNew: 2 },
      ctx('replay'),
    )) as OrchestratorState;
    expect(replay.isDone).toBe(true);
    expect(replay.output).toEqual(run.output);
    expect((replay.actions ?? []).flat().map((x) => x.functionName)).toEqual(STEPS);
    expect(await outcome('plain', b.id)).toEqual(o);
  });

  for (const [step, name] of STEPS.entries()) {
    for (const when of ['before-completion-recorded', 'before-next-episode'] as const) {
      it(`resumes a flow killed after ${name} (${when}) without a second version or a lost event`, async () => {
        clock = new Date(clock.getTime() + 60_000);
        const bindingName = `k${step}-${when === 'before-next-episode' ? 'r' : 'c'}`;
        const b = await newBinding(bindingName);
        const input = rotationInput(tenant, b.id, clock, 'manual');
        const store: { saved?: string } = {};
        await expect(drive(input.instanceId, input, store, { step, when })).rejects.toBeInstanceOf(Killed);
        // The host restarts: the runtime resumes the instance from its recorded history.
        const resumed = await drive(input.instanceId, input, store);
        expect(resumed).toMatchObject({ done: true, output: { outcome: 'succeeded' } });
        // At-least-once: an activity killed before its completion was recorded runs again.
        expect(resumed.activities[0]).toBe(when === 'before-completion-recorded' ? name : STEPS[step + 1]);
        const o = await outcome(bindingName, b.id);
        expect(o.versions, 'one new version, whatever ran twice').toHaveLength(2);
        const toVersion = (resumed.output as { toVersion: string }).toVersion;
        expect(o.binding).toMatchObject({ currentVersion: toVersion, previousVersion: null });
        expect(o.versions.find((v) => v.version === toVersion)?.enabled).toBe(true);
        expect(o.versions.find((v) => v.version === b.currentVersion)?.enabled).toBe(false);
        expect(o.events, 'one SecretRotated event').toBe(1);
        expect(o.rotations).toEqual([{ outcome: 'succeeded', to_version: toVersion }]);
      });
    }
  }

  it('records a failure through the fail activity and ends the orchestration failed', async () => {
    const b = await newBinding('doomed');
    // The vault secret disappears under the binding: writing a version is refused by the vault.
    await (await vault.beginDeleteSecret(vaultSecretName('replay', 'doomed'), { intervalInMs: 10 })).pollUntilDone();
    const input = rotationInput(tenant, b.id, clock, 'manual');
    const run = await drive(input.instanceId, input, {});
    expect(run.activities).toEqual([ROTATION.begin, ROTATION.writeVersion, ROTATION.fail]);
    expect(run.error).toMatch(/failed \(VaultSecretExists\)/);
    const o = await outcome('doomed', b.id);
    expect(o.rotations).toEqual([{ outcome: 'failed', to_version: null }]);
    expect(o.binding.currentVersion).toBe(b.currentVersion);
    expect(o.events).toBe(0);
  });

  it('ends, rather than retries, a rotation whose binding was deleted before it began', async () => {
    const b = await newBinding('deleted-first');
    const input = rotationInput(tenant, b.id, clock, 'manual');
    // The rotate route recorded the rotation, then the binding was deleted.
    await sql`insert into secrets.rotations (tenant_id, id, binding_id, instance_id, trigger, started_at, outcome)
              values ('replay', ${input.rotationId}, ${b.id}, ${input.instanceId}, 'manual', ${clock}, 'running')`.execute(t.owner.forPlacement({ model: 'pooled' }));
    expect((await t.call('DELETE', `tenants/replay/secret-bindings/${b.id}`, { token: a.token })).status).toBe(204);
    const run = await drive(input.instanceId, input, {});
    expect(run).toMatchObject({ done: true, output: { outcome: 'skipped' }, activities: [ROTATION.begin] });
    expect((await outcome('deleted-first', b.id)).rotations).toEqual([{ outcome: 'failed', to_version: null }]);
  });
});
