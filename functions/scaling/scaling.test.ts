/**
 * The scaling service through the real composition: versioned policies with conditional writes,
 * the tenant's replica quota, a pause that ends by itself, scaling events, retention by the
 * storage map's figure, the catalog plugs (fact sheet, purge), and other tenants' real ids.
 */
import azureFunctions from '@azure/functions';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectApiError, startTestApp, type TestApp } from '../../test/app.js';
import { storageMap } from '../../shared/storage-map.js';
import type { CatalogInstance } from '../catalog/api.js';
import type { ScalingInstance } from './api.js';
import { RETENTION_SCHEDULE } from './index.js';
import { retentionTimerHandler } from './retention.js';

const { InvocationContext } = azureFunctions;
const DAY = 86_400_000;
let clock = new Date('2026-03-01T00:00:00.000Z');
const tick = (ms = 1000) => (clock = new Date(clock.getTime() + ms));

let t: TestApp;
let a: { token: string; environmentId: string; serviceId: string };
let b: { token: string; environmentId: string; serviceId: string };
let rita: string;
const pathOf = (tenant: string, s: { environmentId: string; serviceId: string }) => `tenants/${tenant}/environments/${s.environmentId}/services/${s.serviceId}`;
let A: string;

const spec = (extra: Record<string, unknown> = {}) => ({ minReplicas: 1, maxReplicas: 10, triggers: [{ type: 'cpu', name: 'cpu', targetUtilization: 70 }], ...extra });
const pooled = () => t.owner.forPlacement({ model: 'pooled' });

beforeAll(async () => {
  t = await startTestApp({ now: () => clock });
  a = await t.seedTenant('scale-a', 'alice', { quotas: { maxReplicasPerService: 30 } });
  b = await t.seedTenant('scale-b', 'bob');
  await t.addMember('scale-a', 'rita', 'reader');
  rita = await t.token('rita');
  A = pathOf('scale-a', a);
});
afterAll(() => t?.close());

describe('scaling policies', () => {
  it('creates, reads (304 on If-None-Match), replaces with If-Match only, and keeps every version', async () => {
    expectApiError(await t.call('GET', `${A}/scaling-policy`, { token: rita }), 404, 'NotFound');
    tick();
    const c = await t.call('PUT', `${A}/scaling-policy`, { token: a.token, body: spec(), headers: { 'if-none-match': '*' } });
    expect(c.status).toBe(201);
    expect(c.body).toMatchObject({ version: 1, status: 'active', minReplicas: 1, maxReplicas: 10, pause: null, updatedBy: 'alice', updatedAt: clock.toISOString() });
    expect(c.body.policyId).toMatch(/^scp_[0-9a-f]{16}$/);
    const etag = c.headers.get('etag')!;
    expect(etag).toBe(`"${c.body.etag}"`);

    const g = await t.call('GET', `${A}/scaling-policy`, { token: rita });
    expect(g.body).toEqual(c.body);
    const cached = await t.call('GET', `${A}/scaling-policy`, { token: rita, headers: { 'if-none-match': `W/${etag}` } });
    expect(cached.status).toBe(304);
    expect(cached.text).toBeUndefined();
    expect(cached.headers.get('etag')).toBe(etag);

    expectApiError(await t.call('PUT', `${A}/scaling-policy`, { token: a.token, body: spec(), headers: { 'if-none-match': '*' } }), 412, 'PreconditionFailed');
    expectApiError(await t.call('PUT', `${A}/scaling-policy`, { token: a.token, body: spec({ maxReplicas: 12 }) }), 428, 'PreconditionRequired');
    expectApiError(await t.call('PUT', `${A}/scaling-policy`, { token: a.token, body: spec(), headers: { 'if-match': '"00000000-0000-0000-0000-000000000000"' } }), 412);
    expectApiError(await t.call('PUT', `${A}/scaling-policy`, { token: rita, body: spec(), headers: { 'if-match': etag } }), 403, 'Forbidden');
    tick();
    const r = await t.call('PUT', `${A}/scaling-policy`, { token: a.token, body: spec({ maxReplicas: 12 }), headers: { 'if-match': etag } });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ version: 2, policyId: c.body.policyId, maxReplicas: 12 });
    expect((await t.call('GET', `${A}/scaling-policy`, { token: rita, headers: { 'if-none-match': etag } })).status).toBe(200);

    const versions = await t.call('GET', `${A}/scaling-policy/versions?maxpagesize=1`, { token: rita });
    expect(versions.body.value.map((v: { version: number; current: boolean }) => [v.version, v.current])).toEqual([[2, true]]);
    const next = versions.body.nextLink.slice(versions.body.nextLink.indexOf('/api/') + 5);
    const older = await t.call('GET', next, { token: rita });
    expect(older.body.value.map((v: { version: number; current: boolean }) => [v.version, v.current])).toEqual([[1, false]]);
    expect(older.body.nextLink).toBeUndefined();
    const v1 = await t.call('GET', `${A}/scaling-policy/versions/1`, { token: rita });
    expect(v1.body).toMatchObject({ version: 1, change: 'set', current: false, spec: { maxReplicas: 10 }, createdBy: 'alice' });
    expectApiError(await t.call('GET', `${A}/scaling-policy/versions/9`, { token: rita }), 404);

    const events = await sql<{ type: string; data: { version: number } }>`select type, data from scaling.outbox where tenant_id = 'scale-a' order by seq`.execute(pooled());
    expect(events.rows.map((e) => [e.type, e.data.version])).toEqual([
      ['ScalingPolicyPublished', 1],
      ['ScalingPolicyPublished', 2],
    ]);
  });

  it('lets exactly one of several writers holding the same ETag win', async () => {
    const s = await t.call('POST', `tenants/scale-a/environments/${a.environmentId}/services`, { token: a.token, body: { name: 'racing', owner: 'team' } });
    const P = `tenants/scale-a/environments/${a.environmentId}/services/${s.body.id}/scaling-policy`;
    const first = await t.call('PUT', P, { token: a.token, body: spec() });
    const etag = first.headers.get('etag')!;
    const results = await Promise.all([2, 3, 4, 5, 6].map((n) => t.call('PUT', P, { token: a.token, body: spec({ maxReplicas: 10 + n }), headers: { 'if-match': etag } })));
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    for (const r of results.filter((x) => x.status !== 200)) expectApiError(r, 412, 'PreconditionFailed');
    const versions = await t.call('GET', `${P}/versions`, { token: rita });
    expect(versions.body.value.map((v: { version: number }) => v.version)).toEqual([2, 1]);
  });

  it("refuses maxReplicas above the tenant quota maxReplicasPerService, naming it", async () => {
    const s = await t.call('POST', `tenants/scale-a/environments/${a.environmentId}/services`, { token: a.token, body: { name: 'quota', owner: 'team' } });
    const r = await t.call('PUT', `tenants/scale-a/environments/${a.environmentId}/services/${s.body.id}/scaling-policy`, { token: a.token, body: spec({ maxReplicas: 31 }) });
    expectApiError(r, 409, 'QuotaExceeded');
    expect(r.body.error.target).toBe('maxReplicasPerService');
    expect(r.body.error.message).toContain('maxReplicasPerService (30)');
  });

  it('validates the policy as a whole and refuses secret values', async () => {
    const s = await t.call('POST', `tenants/scale-a/environments/${a.environmentId}/services`, { token: a.token, body: { name: 'rules', owner: 'team' } });
    const P = `tenants/scale-a/environments/${a.environmentId}/services/${s.body.id}/scaling-policy`;
    const before = await t.snapshot();
    const bad: [Record<string, unknown>, string][] = [
      [spec({ minReplicas: 5, maxReplicas: 2 }), 'body.minReplicas'],
      [spec({ minReplicas: 0 }), 'body.minReplicas'],
      [spec({ triggers: [{ type: 'cpu', name: 'x', targetUtilization: 50 }, { type: 'memory', name: 'x', targetUtilization: 50 }] }), 'body.triggers.1.name'],
      [spec({ triggers: [{ type: 'cron', name: 'office', timezone: 'Europe/Amsterdam', start: '0 8 * * 1-5', end: '0 18 * * 1-5', desiredReplicas: 11 }] }), 'body.triggers.0.desiredReplicas'],
      [spec({ triggers: [{ type: 'serviceBus', name: 'sb', namespace: 'contoso-bus', topicName: 'orders', messageCount: 5 }] }), 'body.triggers.0'],
      [spec({ triggers: [{ type: 'keda', name: 'redis', scaler: { type: 'redis', metadata: { address: 'r:6379', password: 'hunter2' } } }] }), 'body.triggers.0.scaler.metadata.password'],
      [spec({ triggers: [{ type: 'keda', name: 'sb', scaler: { type: 'azure-servicebus', metadata: { conn: 'Endpoint=sb://x/;SharedAccessKeyName=a;SharedAccessKey=abc' } } }] }), 'body.triggers.0.scaler.metadata.conn'],
      [spec({ pause: { until: new Date(clock.getTime() - 1000).toISOString() } }), 'body.pause.until'],
      [spec({ pause: { until: new Date(clock.getTime() + 31 * DAY).toISOString() } }), 'body.pause.until'],
      [spec({ triggers: [{ type: 'cron', name: 'c', timezone: 'Mars/Olympus', start: '0 8 * * *', end: '0 9 * * *', desiredReplicas: 1 }] }), 'body.triggers.0.timezone'],
    ];
    for (const [body, target] of bad) {
      const r = await t.call('PUT', P, { token: a.token, body });
      expectApiError(r, 400, 'InvalidRequest');
      expect(r.body.error.target, JSON.stringify(body)).toBe(target);
      expect(JSON.stringify(r.body)).not.toContain('hunter2');
    }
    expect(await t.snapshot()).toEqual(before);
    // A queue can wake a service at zero.
    const zero = spec({ minReplicas: 0, triggers: [{ type: 'azureQueue', name: 'q', accountName: 'store1', queueName: 'jobs', queueLength: 5 }] });
    expect((await t.call('PUT', P, { token: a.token, body: zero })).status).toBe(201);
  });

  it('pauses until a time, then is active again by itself: no write, a new ETag', async () => {
    const s = await t.call('POST', `tenants/scale-a/environments/${a.environmentId}/services`, { token: a.token, body: { name: 'pausing', owner: 'team' } });
    const P = `tenants/scale-a/environments/${a.environmentId}/services/${s.body.id}/scaling-policy`;
    const until = new Date(clock.getTime() + 3_600_000);
    const r = await t.call('PUT', P, { token: a.token, body: spec({ pause: { until: until.toISOString(), replicas: 3, reason: 'load test' } }) });
    expect(r.body).toMatchObject({ status: 'paused', pause: { replicas: 3 } });
    const api = t.instance<ScalingInstance>('scaling').api;
    const tenant = { tenantId: 'scale-a', placement: { model: 'pooled' } as const };
    expect(await api.currentPolicy(tenant, a.environmentId, s.body.id)).toMatchObject({ version: 1, pausedUntil: until });
    const paused = r.headers.get('etag')!;

    tick(3_600_000);
    const g = await t.call('GET', P, { token: rita, headers: { 'if-none-match': paused } });
    expect(g.status).toBe(200);
    expect(g.body).toMatchObject({ status: 'active', version: 1 });
    expect(g.headers.get('etag')).not.toBe(paused);
    expect(await api.currentPolicy(tenant, a.environmentId, s.body.id)).toMatchObject({ version: 1, pausedUntil: null });
    // The pause's ETag no longer matches: the client saw a paused policy that is not paused any more.
    expectApiError(await t.call('PUT', P, { token: a.token, body: spec(), headers: { 'if-match': paused } }), 412);
  });

  it('deletes a policy as a version of its own, and sets it again under the same id', async () => {
    const s = await t.call('POST', `tenants/scale-a/environments/${a.environmentId}/services`, { token: a.token, body: { name: 'deleting', owner: 'team' } });
    const P = `tenants/scale-a/environments/${a.environmentId}/services/${s.body.id}/scaling-policy`;
    const c = await t.call('PUT', P, { token: a.token, body: spec() });
    expectApiError(await t.call('DELETE', P, { token: a.token, headers: { 'if-match': '"stale"' } }), 412);
    expect((await t.call('DELETE', P, { token: a.token, headers: { 'if-match': c.headers.get('etag')! } })).status).toBe(204);
    expect((await t.call('DELETE', P, { token: a.token })).status).toBe(204);
    expectApiError(await t.call('GET', P, { token: rita }), 404);
    expectApiError(await t.call('GET', `${P}/manifest?target=keda`, { token: rita }), 404);
    const again = await t.call('PUT', P, { token: a.token, body: spec() });
    expect(again.status).toBe(201);
    expect(again.body).toMatchObject({ version: 3, policyId: c.body.policyId });
    const v = await t.call('GET', `${P}/versions`, { token: rita });
    expect(v.body.value.map((x: { version: number; change: string; spec: unknown }) => [x.version, x.change, x.spec === null])).toEqual([
      [3, 'set', false],
      [2, 'deleted', true],
      [1, 'set', false],
    ]);
  });

  it('refuses a policy for a retired service, but lets one be deleted', async () => {
    const s = await t.call('POST', `tenants/scale-a/environments/${a.environmentId}/services`, { token: a.token, body: { name: 'retiring', owner: 'team' } });
    const P = `tenants/scale-a/environments/${a.environmentId}/services/${s.body.id}/scaling-policy`;
    const c = await t.call('PUT', P, { token: a.token, body: spec() });
    await t.call('POST', `tenants/scale-a/environments/${a.environmentId}/services/${s.body.id}/retire`, { token: a.token });
    expectApiError(await t.call('PUT', P, { token: a.token, body: spec(), headers: { 'if-match': c.headers.get('etag')! } }), 409, 'ServiceRetired');
    expect((await t.call('DELETE', P, { token: a.token })).status).toBe(204);
  });
});

describe('read on evaluation', () => {
  it('is one probe of the primary key, newest version first, with a limit of one', async () => {
    const db = t.kernel.sql.forPlacement({ model: 'pooled' });
    const { selectLatest } = await import('./store.js');
    const q = selectLatest(db.withSchema('scaling') as never, 'scale-a', a.environmentId, a.serviceId).compile();
    // The tables are tiny here, so the planner is told to avoid sequential scans: what is left shows the index serves the read.
    const plan = await db.transaction().execute(async (trx) => {
      await sql`set local enable_seqscan = off`.execute(trx);
      return (await trx.executeQuery({ ...q, sql: `explain ${q.sql}` })).rows.map((r) => Object.values(r as object)[0] as string);
    });
    expect(plan.join('\n'), plan.join('\n')).toMatch(/^Limit[\s\S]*Index Scan Backward using policy_versions_pk on policy_versions/);
    expect(plan.join('\n')).not.toMatch(/Sort/);
  });
});

describe('scaling events', () => {
  it('appends events with the policy version and deployment in force, and lists them by time range, page by page', async () => {
    const E = `${A}/scaling-events`;
    const t0 = clock;
    const posted: string[] = [];
    for (let i = 0; i < 5; i++) {
      tick(60_000);
      const r = await t.call('POST', E, { token: a.token, body: { at: new Date(clock.getTime() - 1000).toISOString(), fromReplicas: i, toReplicas: i + 1, trigger: 'cpu', source: 'keda-operator/aks-1' } });
      expect(r.status).toBe(201);
      expect(r.headers.get('location')).toBe(`/api/${E}/${r.body.id}`);
      expect(r.body).toMatchObject({ policyVersion: 2, deploymentId: null, recordedBy: 'alice', fromReplicas: i });
      posted.push(r.body.id);
    }
    expect((await t.call('GET', `${E}/${posted[0]}`, { token: rita })).body.id).toBe(posted[0]);

    const seen: string[] = [];
    let next: string | undefined = `${E}?from=${encodeURIComponent(t0.toISOString())}&maxpagesize=2`;
    while (next) {
      const page = await t.call('GET', next, { token: rita });
      expect(page.status).toBe(200);
      seen.push(...page.body.value.map((e: { id: string }) => e.id));
      next = page.body.nextLink ? page.body.nextLink.slice(page.body.nextLink.indexOf('/api/') + 5) : undefined;
    }
    expect(seen).toEqual(posted);
    const mid = new Date(t0.getTime() + 2 * 60_000).toISOString();
    const to = new Date(t0.getTime() + 4 * 60_000).toISOString();
    const ranged = await t.call('GET', `${E}?from=${encodeURIComponent(mid)}&to=${encodeURIComponent(to)}`, { token: rita });
    expect(ranged.body.value.map((e: { id: string }) => e.id)).toEqual(posted.slice(2, 4));
    expectApiError(await t.call('GET', `${E}?from=${encodeURIComponent(to)}&to=${encodeURIComponent(mid)}`, { token: rita }), 400);

    // Repeatability-Request-ID: a retried post is answered from its record, not appended twice.
    const once = { token: a.token, body: { at: clock.toISOString(), fromReplicas: 5, toReplicas: 6, trigger: 'cpu', source: 'hpa' }, headers: { 'repeatability-request-id': 'evt-1' } };
    const r1 = await t.call('POST', E, once);
    const r2 = await t.call('POST', E, once);
    expect(r2.body).toEqual(r1.body);
    expect(r2.headers.get('repeatability-result')).toBe('accepted');
    // Before the policy existed: no version. In the future or past the retention: refused.
    const early = await t.call('POST', E, { token: a.token, body: { at: '2026-02-01T00:00:00Z', fromReplicas: 1, toReplicas: 2, trigger: null, source: 'manual' } });
    expect(early.body.policyVersion).toBeNull();
    expectApiError(await t.call('POST', E, { token: a.token, body: { at: new Date(clock.getTime() + 3_600_000).toISOString(), fromReplicas: 1, toReplicas: 2, trigger: null, source: 'x' } }), 400);
    expectApiError(await t.call('POST', E, { token: a.token, body: { at: new Date(clock.getTime() - 400 * DAY).toISOString(), fromReplicas: 1, toReplicas: 2, trigger: null, source: 'x' } }), 400);
  });

  it('takes the deployment running at the time from the deployments service, else the caller\'s', async () => {
    // A real deployment of the service, succeeded at `finished` (the deployments service plugs itself in).
    const D = `tenants/scale-a/environments/${a.environmentId}/deployments`;
    const d = await t.call('POST', D, { token: a.token, body: { serviceId: a.serviceId, image: `contoso.azurecr.io/api@sha256:${'d'.repeat(64)}` } });
    expect(d.status).toBe(201);
    for (const to of ['in_progress', 'succeeded']) expect((await t.call('POST', `${D}/${d.body.id}/transitions`, { token: a.token, body: { to } })).status).toBeLessThan(300);
    const finished = clock;
    clock = new Date(clock.getTime() + 10_000);
    const E = `${A}/scaling-events`;
    const body = (at: Date) => ({ at: at.toISOString(), fromReplicas: 1, toReplicas: 2, trigger: 'cpu', source: 'hpa', deploymentId: 'dep_00000000000000bb' });
    expect((await t.call('POST', E, { token: a.token, body: body(clock) })).body.deploymentId).toBe(d.body.id);
    // The deployment finished after the event: it was not running then; the caller's word stands.
    expect((await t.call('POST', E, { token: a.token, body: body(new Date(finished.getTime() - 1)) })).body.deploymentId).toBe('dep_00000000000000bb');
    // One source, plugged in when the app was composed.
    expect(() => t.instance<ScalingInstance>('scaling').api.setDeploymentSource({ currentDeployment: async () => undefined })).toThrow(/already/);
  });

  it('answers lastChangeBefore with the newest policy version or event', async () => {
    const api = t.instance<ScalingInstance>('scaling').api;
    const tenant = { tenantId: 'scale-a', placement: { model: 'pooled' } as const };
    const last = await api.lastChangeBefore(tenant, a.environmentId, a.serviceId, clock);
    expect(last).toMatchObject({ kind: 'scaling', environmentId: a.environmentId, serviceId: a.serviceId });
    expect(last?.id).toMatch(/^sce_/);
    const early = await api.lastChangeBefore(tenant, a.environmentId, a.serviceId, new Date('2026-03-01T00:00:01.500Z'));
    expect(early).toMatchObject({ id: expect.stringMatching(/^scp_[0-9a-f]{16}@1$/) });
    expect(await api.lastChangeBefore(tenant, a.environmentId, undefined, new Date('2026-01-01T00:00:00Z'))).toBeUndefined();
  });
});

describe('other tenants', () => {
  it("answers 404 on every scaling route for another tenant's real ids through the caller's own tenant, and changes nothing", async () => {
    const policy = await t.call('PUT', `${pathOf('scale-b', b)}/scaling-policy`, { token: b.token, body: spec() });
    const event = await t.call('POST', `${pathOf('scale-b', b)}/scaling-events`, { token: b.token, body: { at: clock.toISOString(), fromReplicas: 1, toReplicas: 2, trigger: 'cpu', source: 'hpa' } });
    expect([policy.status, event.status]).toEqual([201, 201]);
    const before = await t.snapshot();
    // Alice (scale-a) names B's environment and service under her own tenant, and under B's.
    for (const base of [pathOf('scale-a', b), `tenants/scale-a/environments/${a.environmentId}/services/${b.serviceId}`, pathOf('scale-b', b)]) {
      const calls: [string, string, unknown?][] = [
        ['GET', `${base}/scaling-policy`],
        ['PUT', `${base}/scaling-policy`, spec()],
        ['DELETE', `${base}/scaling-policy`],
        ['GET', `${base}/scaling-policy/versions`],
        ['GET', `${base}/scaling-policy/versions/1`],
        ['GET', `${base}/scaling-policy/manifest?target=keda`],
        ['POST', `${base}/scaling-events`, { at: clock.toISOString(), fromReplicas: 1, toReplicas: 2, trigger: null, source: 'x' }],
        ['GET', `${base}/scaling-events`],
        ['GET', `${base}/scaling-events/${event.body.id}`],
      ];
      for (const [method, path, body] of calls) {
        const r = await t.call(method, path, { token: a.token, ...(body ? { body } : {}) });
        expectApiError(r, 404, 'NotFound');
      }
    }
    expect(await t.snapshot()).toEqual(before);
    const tenant = { tenantId: 'scale-a', placement: { model: 'pooled' } as const };
    expect(await t.instance<ScalingInstance>('scaling').api.currentPolicy(tenant, b.environmentId, b.serviceId)).toBeUndefined();
  });
});

describe('plugged into the catalog', () => {
  it("fills the fact sheet's scaling part", async () => {
    const f = await t.call('GET', `${A}/facts`, { token: rita });
    expect(f.body.parts.scaling).toMatchObject({ version: 2, minReplicas: 1, maxReplicas: 12, pausedUntil: null });
    expect(f.body.available).toContain('scaling');
  });

  it('keeps the purge from deleting a service whose policy is in force, until it is deleted', async () => {
    const s = await t.call('POST', `tenants/scale-a/environments/${a.environmentId}/services`, { token: a.token, body: { name: 'purged', owner: 'team' } });
    const P = `tenants/scale-a/environments/${a.environmentId}/services/${s.body.id}`;
    await t.call('PUT', `${P}/scaling-policy`, { token: a.token, body: spec() });
    await t.call('POST', `${P}/retire`, { token: a.token });
    const saved = clock;
    clock = new Date(clock.getTime() + (storageMap.inventory.purgeRetiredAfterDays + 1) * DAY);
    try {
      const catalog = t.instance<CatalogInstance>('catalog');
      const purge = (o: Parameters<CatalogInstance['purge']>[0]) => catalog.purge(o);
      const kept = await purge({ tenantIds: ['scale-a'] });
      expect(kept.skipped.find((x) => x.serviceId === s.body.id)?.reasons.join()).toMatch(/^scaling: scaling policy scp_[0-9a-f]{16} \(version 1\) is in force/);
      expect((await t.call('DELETE', `${P}/scaling-policy`, { token: a.token })).status).toBe(204);
      const gone = await purge({ tenantIds: ['scale-a'] });
      expect(gone.purged).toBeGreaterThanOrEqual(1);
      expectApiError(await t.call('GET', P, { token: a.token }), 404);
    } finally {
      clock = saved;
    }
  });
});

describe('retention', () => {
  it("drops events and replaced versions older than the storage map's figure, in bounded batches, on the daily timer", async () => {
    expect(RETENTION_SCHEDULE).toBe('0 10 3 * * *');
    const ret = await t.seedTenant('scale-ret', 'rosa');
    const P = pathOf('scale-ret', ret);
    const v1 = await t.call('PUT', `${P}/scaling-policy`, { token: ret.token, body: spec() });
    for (let i = 0; i < 7; i++) {
      await t.call('POST', `${P}/scaling-events`, { token: ret.token, body: { at: clock.toISOString(), fromReplicas: 1, toReplicas: 2, trigger: 'cpu', source: 'hpa' } });
    }
    const saved = clock;
    tick(10 * DAY);
    await t.call('PUT', `${P}/scaling-policy`, { token: ret.token, body: spec({ maxReplicas: 9 }), headers: { 'if-match': v1.headers.get('etag')! } });
    const recent = await t.call('POST', `${P}/scaling-events`, { token: ret.token, body: { at: clock.toISOString(), fromReplicas: 2, toReplicas: 3, trigger: 'cpu', source: 'hpa' } });
    const count = async () =>
      (
        await sql<{ e: number; v: number }>`select (select count(*)::int from scaling.scaling_events where tenant_id = 'scale-ret') as e,
                                                   (select count(*)::int from scaling.policy_versions where tenant_id = 'scale-ret') as v`.execute(pooled())
      ).rows[0];
    try {
      // A day short of the retention after the old events: nothing goes.
      clock = new Date(saved.getTime() + (storageMap.scaling.retentionDays - 1) * DAY);
      const run = t.instance<ScalingInstance>('scaling').retention;
      expect(await run({ tenantIds: ['scale-ret'] })).toMatchObject({ events: 0, versions: 0 });
      clock = new Date(saved.getTime() + (storageMap.scaling.retentionDays + 11) * DAY);
      const ctx = new InvocationContext({ functionName: 'scalingRetention', invocationId: 'r1' });
      const first = await run({ tenantIds: ['scale-ret'], batchSize: 3, maxBatchesPerTenant: 2 });
      expect(first).toMatchObject({ events: 6, versions: 1, failures: [] });
      const rest = await retentionTimerHandler((o) => run({ ...o, tenantIds: ['scale-ret'] }))({ isPastDue: false, scheduleStatus: {} } as never, ctx);
      expect(rest.events).toBe(2);
      expect(await count()).toEqual({ e: 0, v: 1 });
      // The newest version stays whatever its age: it is the policy.
      expect((await t.call('GET', `${P}/scaling-policy`, { token: ret.token })).body.version).toBe(2);
      expect(recent.status).toBe(201);
    } finally {
      clock = saved;
    }
  });
});
