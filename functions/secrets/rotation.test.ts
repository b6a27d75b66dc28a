/**
 * Rotation end to end in-process: the rotate route and the timers start the real orchestration on
 * the local host's task hub (durable-functions' replay engine, test/durable.ts); its activities
 * write to the Key Vault stand-in through the app's own `SecretClient` and to the database.
 */
import type { TokenCredential } from '@azure/identity';
import { SecretClient } from '@azure/keyvault-secrets';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectApiError, startTestApp, type TestApp } from '../../test/app.js';
import { noTelemetry, type TelemetryEvent } from '../../shared/telemetry.js';
import type { SecretsInstance } from './api.js';
import { SECRET_ROTATION_FAILED } from './telemetry.js';
import { vaultSecretName } from './vault.js';

let t: TestApp;
let clock = new Date('2026-03-01T00:00:00.000Z');
const DAY = 86_400_000;
const events: TelemetryEvent[] = [];
let a: { token: string; environmentId: string; serviceId: string };
let vault: SecretClient;
const A = 'tenants/rot-a/secret-bindings';
const tenant = { tenantId: 'rot-a', placement: { model: 'pooled' } as const };
const random = { kind: 'random', length: 40, alphabet: 'printable' };

/** The stand-in does not verify tokens; the client still runs Key Vault's challenge flow. */
const anyToken: TokenCredential = { getToken: async () => ({ token: 't', expiresOnTimestamp: Date.now() + 3_600_000 }) };

beforeAll(async () => {
  t = await startTestApp({ now: () => clock, telemetry: { ...noTelemetry, trackEvent: (e) => void events.push(e) } });
  a = await t.seedTenant('rot-a', 'rosa');
  vault = new SecretClient(t.keyVault!.url, anyToken, { disableChallengeResourceVerification: true });
});
afterAll(() => t?.close());

const create = async (name: string, extra: Record<string, unknown> = {}) => {
  const r = await t.call('POST', A, {
    token: a.token,
    body: { name, secretName: name, consumers: [{ environmentId: a.environmentId }], rotation: { intervalDays: 30, overlapHours: 24, generator: random }, initialValue: 'generate', ...extra },
  });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body as { id: string; currentVersion: string; name: string };
};
const binding = async (id: string) => (await t.call('GET', `${A}/${id}`, { token: a.token })).body;
const versions = async (name: string) => {
  const out: { version: string; enabled: boolean; tags: Record<string, string> }[] = [];
  for await (const p of vault.listPropertiesOfSecretVersions(vaultSecretName('rot-a', name))) out.push({ version: p.version!, enabled: p.enabled !== false, tags: p.tags ?? {} });
  return out;
};
const valueOf = async (name: string, version: string) => (await vault.getSecret(vaultSecretName('rot-a', name), { version })).value;
const outbox = async (type: string) =>
  (await sql<{ subject: string; data: Record<string, unknown> }>`select subject, data from secrets.outbox where tenant_id = 'rot-a' and type = ${type}`.execute(t.owner.forPlacement({ model: 'pooled' }))).rows;

describe('rotation on demand', () => {
  it('answers 202 with Operation-Location, writes a new tagged version, moves the binding and emits SecretRotated once', async () => {
    const b = await create('api-key');
    const r = await t.call('POST', `${A}/${b.id}/rotate`, { token: a.token });
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    const op = r.headers.get('operation-location')!;
    expect(op).toMatch(new RegExp(`^/api/${A}/${b.id}/rotations/rot_[0-9a-f]{16}$`));
    expect(r.body).toMatchObject({ status: 'Running', trigger: 'manual', fromVersion: b.currentVersion });
    await t.durable.settle();

    const done = await t.call('GET', op.replace('/api/', ''), { token: a.token });
    expect(done.body).toMatchObject({ status: 'Succeeded', fromVersion: b.currentVersion, finishedAt: clock.toISOString() });
    const to: string = done.body.toVersion;
    expect(to).toMatch(/^[0-9a-f]{32}$/);
    expect(await binding(b.id)).toMatchObject({
      currentVersion: to,
      previousVersion: b.currentVersion,
      previousDisableAt: new Date(clock.getTime() + DAY).toISOString(),
      lastRotatedAt: clock.toISOString(),
      nextRotationAt: new Date(clock.getTime() + 30 * DAY).toISOString(),
    });
    // The vault: one new version, tagged with the rotation; both enabled during the overlap.
    const vs = await versions('api-key');
    expect(vs).toHaveLength(2);
    expect(vs.find((v) => v.version === to)?.tags['rp-rotation']).toBe(done.body.id);
    expect(vs.every((v) => v.enabled)).toBe(true);
    const [oldValue, newValue] = [await valueOf('api-key', b.currentVersion), await valueOf('api-key', to)];
    expect(newValue).toHaveLength(40);
    expect(newValue).not.toBe(oldValue);

    const rotated = (await outbox('SecretRotated')).filter((e) => e.subject.endsWith(b.id));
    expect(rotated).toHaveLength(1);
    expect(rotated[0]!.data).toMatchObject({ rotationId: done.body.id, fromVersion: b.currentVersion, toVersion: to });
    expect(JSON.stringify(rotated)).not.toContain(newValue);

    // drift's "likely cause": the rotation, for a service of the consuming environment.
    const change = await t.instance<SecretsInstance>('secrets').api.lastChangeBefore(tenant, a.environmentId, a.serviceId, clock);
    expect(change).toEqual({ kind: 'rotation', id: done.body.id, at: clock, environmentId: a.environmentId, serviceId: a.serviceId });
    const listed = await t.call('GET', `${A}/${b.id}/rotations`, { token: a.token });
    expect(listed.body.value.map((x: { id: string }) => x.id)).toEqual([done.body.id]);
  });

  it('answers a rotation already running instead of starting another', async () => {
    const b = await create('twice');
    const [r1, r2] = [await t.call('POST', `${A}/${b.id}/rotate`, { token: a.token }), await t.call('POST', `${A}/${b.id}/rotate`, { token: a.token })];
    expect(r2.headers.get('operation-location')).toBe(r1.headers.get('operation-location'));
    await t.durable.settle();
    expect(await versions('twice')).toHaveLength(2);
    expectApiError(await t.call('POST', `${A}/sb_0000000000000000/rotate`, { token: a.token }), 404, 'NotFound');
  });

  it('records a failed rotation, sends SecretRotationFailed and leaves the binding as it was; a later rotation succeeds', async () => {
    let broken = true;
    t.instance<SecretsInstance>('secrets').providers.add('test-provider', async () => {
      // A test provider (what a database setting its own password, or a partner API, would be).
      if (broken) throw new Error('provider down');
      return 'from-the-test-provider-0123456789';
    });
    await vault.setSecret(vaultSecretName('rot-a', 'external'), 'set-by-an-operator');
    const b = await create('external', { initialValue: 'existing', rotation: { intervalDays: null, overlapHours: 0, generator: { kind: 'external', provider: 'test-provider' } } });
    const r = await t.call('POST', `${A}/${b.id}/rotate`, { token: a.token });
    await t.durable.settle();
    const failed = await t.call('GET', r.headers.get('operation-location')!.replace('/api/', ''), { token: a.token });
    expect(failed.body).toMatchObject({ status: 'Failed', error: { code: 'RotationStepFailed' } });
    expect(JSON.stringify(failed.body)).not.toContain('provider down');
    expect(events.filter((e) => e.name === SECRET_ROTATION_FAILED)).toEqual([
      { name: 'SecretRotationFailed', properties: { tenantId: 'rot-a', bindingId: b.id, instanceId: expect.stringMatching(new RegExp(`^rotate:rot-a:${b.id}:`)), code: 'RotationStepFailed' } },
    ]);
    expect((await binding(b.id)).currentVersion).toBe(b.currentVersion);
    expect(await versions('external')).toHaveLength(1);

    broken = false;
    clock = new Date(clock.getTime() + 1000);
    const again = await t.call('POST', `${A}/${b.id}/rotate`, { token: a.token });
    await t.durable.settle();
    const ok = await t.call('GET', again.headers.get('operation-location')!.replace('/api/', ''), { token: a.token });
    expect(ok.body.status).toBe('Succeeded');
    expect(await valueOf('external', ok.body.toVersion)).toBe('from-the-test-provider-0123456789');
    // No overlap: the old version is disabled at once.
    expect((await versions('external')).find((v) => v.version === b.currentVersion)?.enabled).toBe(false);
    expect((await binding(b.id)).previousVersion).toBeNull();
  });
});

describe('the rotation timer', () => {
  it('starts one rotation per due binding (a second run is a no-op) and disables previous versions after the overlap', async () => {
    const b = await create('scheduled');
    const due = new Date(clock.getTime() + 30 * DAY);
    clock = new Date(due.getTime() + 60_000);
    await t.invoke('secretRotationTimer', {});
    await t.invoke('secretRotationTimer', {});
    await t.durable.settle();
    const rows = (await t.call('GET', `${A}/${b.id}/rotations`, { token: a.token })).body.value;
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ trigger: 'schedule', status: 'Succeeded' });
    const after = await binding(b.id);
    expect(after.currentVersion).toBe(rows[0].toVersion);
    expect(await versions('scheduled')).toHaveLength(2);
    // Ran again at the same due time: nothing new.
    await t.invoke('secretRotationTimer', {});
    await t.durable.settle();
    expect((await t.call('GET', `${A}/${b.id}/rotations`, { token: a.token })).body.value).toHaveLength(1);

    clock = new Date(clock.getTime() + DAY + 60_000);
    await t.invoke('secretRotationTimer', {});
    await t.durable.settle();
    expect((await versions('scheduled')).find((v) => v.version === b.currentVersion)?.enabled).toBe(false);
    expect((await versions('scheduled')).find((v) => v.version === after.currentVersion)?.enabled).toBe(true);
    expect(await binding(b.id)).toMatchObject({ previousVersion: null, previousDisableAt: null });
  });
});

describe('blast radius', () => {
  it('answers the configuration part from the configuration service: the versions that reference the binding and who synced them', async () => {
    const b = await create('radius');
    const r = await t.call('GET', `${A}/${b.id}/blast-radius`, { token: a.token });
    expect(r.body).toMatchObject({
      bindingId: b.id,
      name: 'radius',
      declaredConsumers: [{ environmentId: a.environmentId }],
      configuration: { available: true, configurationVersions: [], syncedAfterRotation: [], notSyncedAfterRotation: [] },
    });
    const cfg = `tenants/rot-a/environments/${a.environmentId}/services/${a.serviceId}/configuration`;
    expect((await t.call('PUT', cfg, { token: a.token, body: { settings: { key: { secretRef: 'radius' } } } })).status).toBe(201);
    expect((await t.call('GET', `${cfg}?consumer=agent-1`, { token: a.token })).status).toBe(200);
    const r2 = await t.call('GET', `${A}/${b.id}/blast-radius`, { token: a.token });
    // Never rotated: every consumer counts as synced after its (no) rotation.
    expect(r2.body.configuration).toMatchObject({
      available: true,
      configurationVersions: [{ environmentId: a.environmentId, serviceId: a.serviceId, version: 1, latest: true }],
      syncedAfterRotation: [{ consumer: 'agent-1', syncedVersion: 1 }],
      notSyncedAfterRotation: [],
    });
  });
});

describe('retention', () => {
  it('removes bindings deleted, and rotation history finished, longer ago than the storage map says', async () => {
    const gone = await create('short-lived', { rotation: { intervalDays: null, overlapHours: 0, generator: random } });
    await t.call('POST', `${A}/${gone.id}/rotate`, { token: a.token });
    await t.durable.settle();
    expect((await t.call('DELETE', `${A}/${gone.id}`, { token: a.token })).status).toBe(204);
    const kept = await create('long-lived');
    const count = async (table: string, id: string) =>
      (await sql<{ n: number }>`select count(*)::int as n from ${sql.table(`secrets.${table}`)} where tenant_id = 'rot-a' and ${sql.ref(table === 'bindings' ? 'id' : 'binding_id')} = ${id}`.execute(t.owner.forPlacement({ model: 'pooled' }))).rows[0]?.n;
    expect(await count('rotations', gone.id)).toBe(1);
    clock = new Date(clock.getTime() + 364 * DAY);
    await t.invoke('secretRetention', {});
    expect(await count('bindings', gone.id)).toBe(1);
    clock = new Date(clock.getTime() + 2 * DAY);
    await t.invoke('secretRetention', {});
    expect([await count('bindings', gone.id), await count('binding_consumers', gone.id), await count('rotations', gone.id)]).toEqual([0, 0, 0]);
    expect(await count('bindings', kept.id)).toBe(1);
    // Live bindings stay whatever their age; their rotation history older than the figure goes.
    const apiKey = (await t.call('GET', `${A}?namePrefix=api-key`, { token: a.token })).body.value[0];
    expect([await count('bindings', apiKey.id), await count('rotations', apiKey.id)]).toEqual([1, 0]);
  });
});
