import fc from 'fast-check';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectApiError, startTestApp, type CallResult, type TestApp } from '../../test/app.js';
import { inScope, servicesIn } from '../../shared/sql/database.js';
import { noTelemetry, type Telemetry } from '../../shared/telemetry.js';
import { loadDatabaseServices } from '../../composition/app.js';
import { services } from '../../composition/services.js';
import { checkDatabase } from '../platform/isolation-check.js';
import type { HealthInstance } from './api.js';
import { HEALTH_SQL } from './sql.js';

/**
 * A recorder of the kernel's telemetry port (not of the Application Insights SDK): what the health
 * service hands to the port. The SDK's own output is asserted against the capture server elsewhere.
 */
function recordingTelemetry() {
  const sent: { kind: 'availability' | 'exception' | 'trace'; item: unknown }[] = [];
  const telemetry: Telemetry = {
    ...noTelemetry,
    trackAvailability: (item) => void sent.push({ kind: 'availability', item }),
    trackException: (item) => void sent.push({ kind: 'exception', item: { ...item, message: item.error.message, name: item.error.name, stack: item.error.stack } }),
    trackTrace: (item) => void sent.push({ kind: 'trace', item }),
  };
  return { sent, telemetry };
}

let t: TestApp;
// Before the machine's own clock: the partition functions' guard compares with the database's clock.
let clock = new Date('2026-03-01T12:00:00.000Z');
const tick = (ms = 1000) => (clock = new Date(clock.getTime() + ms));
const rec = recordingTelemetry();
let alice: string; // operator (admin) of tenant-a
let rita: string; // reader of tenant-a
let bob: string; // admin of tenant-b
let envA: string;
let envA2: string;
let svcA: string[];
let svcA2: string; // in envA2
let envB: string;
let svcB: string;

const iso = (d: Date) => d.toISOString();
const ago = (ms: number) => new Date(clock.getTime() - ms);
const A = () => `tenants/tenant-a/environments/${envA}`;

async function register(tenant: string, env: string, token: string, name: string): Promise<string> {
  const r = await t.call('POST', `tenants/${tenant}/environments/${env}/services`, { token, body: { name, owner: 'team' } });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body.id;
}

async function createEnv(tenant: string, token: string, name: string): Promise<string> {
  const r = await t.call('POST', `tenants/${tenant}/environments`, { token, body: { name, kind: 'prod', region: 'westeurope' } });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body.id;
}

type R = { serviceId: string; check?: string; status: string; latencyMs?: number; observedAt: string; message?: string };
const result = (r: R) => ({ check: 'http', latencyMs: 12, ...r });
const post = (batchId: string, results: R[], opts: { token?: string; path?: string; headers?: Record<string, string> } = {}) =>
  t.call('POST', `${opts.path ?? A()}/health-results`, { token: opts.token ?? alice, body: { batchId, results: results.map(result) }, ...(opts.headers ? { headers: opts.headers } : {}) });

const owner = () => t.owner.forPlacement({ model: 'pooled' });
const count = async (table: string, tenant = 'tenant-a') =>
  (await sql<{ n: number }>`select count(*)::int as n from ${sql.table(`health.${table}`)} where tenant_id = ${tenant}`.execute(owner())).rows[0]!.n;

beforeAll(async () => {
  t = await startTestApp({ now: () => clock, telemetry: rec.telemetry });
  await t.createTenant('tenant-a', 'alice', { quotas: { healthResultsPerMinute: 1_000_000 } });
  await t.createTenant('tenant-b', 'bob');
  await t.addMember('tenant-a', 'rita', 'reader');
  alice = await t.token('alice');
  rita = await t.token('rita');
  bob = await t.token('bob');
  envA = await createEnv('tenant-a', alice, 'main');
  envA2 = await createEnv('tenant-a', alice, 'other');
  svcA = [await register('tenant-a', envA, alice, 'web'), await register('tenant-a', envA, alice, 'api'), await register('tenant-a', envA, alice, 'db')];
  svcA2 = await register('tenant-a', envA2, alice, 'elsewhere');
  envB = await createEnv('tenant-b', bob, 'main');
  svcB = await register('tenant-b', envB, bob, 'web');
});
afterAll(() => t?.close());

describe('appending health results', () => {
  it('stores a batch, keeps each service\'s latest status and its transitions, and answers the reads', async () => {
    const [web, api] = svcA as [string, string];
    const t0 = ago(10 * 60_000);
    const at = (min: number) => iso(new Date(t0.getTime() + min * 60_000));
    const first = await post('b-1', [
      { serviceId: web, status: 'healthy', observedAt: at(0) },
      { serviceId: web, status: 'unhealthy', observedAt: at(1), message: 'HTTP 503 from /healthz' },
      { serviceId: api, status: 'healthy', observedAt: at(0), latencyMs: 3.5 },
    ]);
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    expect(first.body).toEqual({ batchId: 'b-1', accepted: 3, replayed: false });
    const second = await post('b-2', [
      { serviceId: web, status: 'healthy', observedAt: at(2) },
      { serviceId: web, status: 'healthy', observedAt: at(3) },
      // At the same instant, the worse status is the later one.
      { serviceId: api, status: 'degraded', check: 'db', observedAt: at(3), latencyMs: 900 },
      { serviceId: api, status: 'healthy', check: 'http', observedAt: at(3) },
    ]);
    expect(second.status).toBe(200);

    const one = await t.call('GET', `${A()}/services/${web}/health`, { token: rita });
    expect(one.status).toBe(200);
    expect(one.body).toEqual({ serviceId: web, environmentId: envA, status: 'healthy', check: 'http', latencyMs: 12, observedAt: at(3), changedAt: at(2) });

    const all = await t.call('GET', `${A()}/health`, { token: rita });
    expect(all.status).toBe(200);
    expect(all.body.value.map((s: { serviceId: string; status: string }) => [s.serviceId, s.status])).toEqual(
      [
        [web, 'healthy'],
        [api, 'degraded'],
      ].sort((a, b) => (a[0]! < b[0]! ? -1 : 1)),
    );
    const degraded = await t.call('GET', `${A()}/health?status=degraded`, { token: rita });
    expect(degraded.body.value.map((s: { serviceId: string }) => s.serviceId)).toEqual([api]);
    const paged = await t.call('GET', `${A()}/health?maxpagesize=1`, { token: rita });
    expect(paged.body.value).toHaveLength(1);
    const next = await t.call('GET', paged.body.nextLink.replace(/^.*\/api\//, ''), { token: rita });
    expect(next.body.value).toHaveLength(1);
    expect(next.body.value[0].serviceId).not.toBe(paged.body.value[0].serviceId);

    const tr = await t.call('GET', `${A()}/services/${web}/health-transitions`, { token: rita });
    expect(tr.status).toBe(200);
    expect(tr.body.value.map((x: { from: string | null; to: string; at: string }) => [x.from, x.to, x.at])).toEqual([
      ['unhealthy', 'healthy', at(2)],
      ['healthy', 'unhealthy', at(1)],
      [null, 'healthy', at(0)],
    ]);
    expect(tr.body.value[1].message).toBe('HTTP 503 from /healthz');

    const h = await t.call('GET', `${A()}/services/${web}/health-results?maxpagesize=2`, { token: rita });
    expect(h.body.value.map((x: { observedAt: string }) => x.observedAt)).toEqual([at(3), at(2)]);
    const h2 = await t.call('GET', h.body.nextLink.replace(/^.*\/api\//, ''), { token: rita });
    expect(h2.body.value.map((x: { observedAt: string; status: string }) => [x.observedAt, x.status])).toEqual([
      [at(1), 'unhealthy'],
      [at(0), 'healthy'],
    ]);
    expect(h2.body.nextLink).toBeUndefined();
    const ranged = await t.call('GET', `${A()}/services/${web}/health-results?from=${encodeURIComponent(at(1))}&to=${encodeURIComponent(at(3))}`, { token: rita });
    expect(ranged.body.value.map((x: { observedAt: string }) => x.observedAt)).toEqual([at(2), at(1)]);
    expectApiError(await t.call('GET', `${A()}/services/${web}/health-results?from=${encodeURIComponent(at(3))}&to=${encodeURIComponent(at(1))}`, { token: rita }), 400);

    // The catalog's fact sheet gets the health part from this service.
    const facts = await t.call('GET', `${A()}/services/${web}/facts`, { token: rita });
    expect(facts.body.parts.health).toEqual({ status: 'healthy', checkedAt: at(3), changedAt: at(2) });
    expect(await t.instance<HealthInstance>('health').api.latestStatus({ tenantId: 'tenant-a', placement: { model: 'pooled' } }, envA, web)).toEqual({
      status: 'healthy',
      observedAt: new Date(at(3)),
      changedAt: new Date(at(2)),
    });
    // A service with no result yet: 404 on the latest read, an empty history.
    const db = svcA[2]!;
    expectApiError(await t.call('GET', `${A()}/services/${db}/health`, { token: rita }), 404, 'NotFound');
    expect((await t.call('GET', `${A()}/services/${db}/health-results`, { token: rita })).body).toEqual({ value: [] });
    expect((await t.call('GET', `${A()}/services/${db}/facts`, { token: rita })).body.parts.health).toBeNull();
  });

  it('never lets an older result overwrite a newer latest row (it goes into the history only)', async () => {
    const db = svcA[2]!;
    expect((await post('late-1', [{ serviceId: db, status: 'healthy', observedAt: iso(ago(1000)) }])).status).toBe(200);
    expect((await post('late-2', [{ serviceId: db, status: 'unhealthy', observedAt: iso(ago(60_000)) }])).status).toBe(200);
    const latest = await t.call('GET', `${A()}/services/${db}/health`, { token: rita });
    expect(latest.body).toMatchObject({ status: 'healthy', observedAt: iso(ago(1000)) });
    expect((await t.call('GET', `${A()}/services/${db}/health-results`, { token: rita })).body.value).toHaveLength(2);
    expect((await t.call('GET', `${A()}/services/${db}/health-transitions`, { token: rita })).body.value).toHaveLength(1);
    // One status throughout a batch, one of its results older than the stored row: only the newer one moves it.
    const late3 = await post('late-3', [
      { serviceId: db, status: 'healthy', observedAt: iso(ago(120_000)) },
      { serviceId: db, status: 'healthy', observedAt: iso(ago(500)) },
    ]);
    expect(late3.status).toBe(200);
    expect((await t.call('GET', `${A()}/services/${db}/health`, { token: rita })).body).toMatchObject({ status: 'healthy', observedAt: iso(ago(500)), changedAt: iso(ago(1000)) });
    // The same status again, all newer: the row moves, changedAt stays, no transition.
    expect((await post('late-4', [{ serviceId: db, status: 'healthy', observedAt: iso(ago(400)) }])).status).toBe(200);
    expect((await t.call('GET', `${A()}/services/${db}/health`, { token: rita })).body).toMatchObject({ status: 'healthy', observedAt: iso(ago(400)), changedAt: iso(ago(1000)) });
    expect((await t.call('GET', `${A()}/services/${db}/health-transitions`, { token: rita })).body.value).toHaveLength(1);
    // As late as the stored row but worse counts as newer (the worse status is the later one).
    expect((await post('late-5', [{ serviceId: db, status: 'degraded', observedAt: iso(ago(400)) }])).status).toBe(200);
    expect((await t.call('GET', `${A()}/services/${db}/health`, { token: rita })).body).toMatchObject({ status: 'degraded', observedAt: iso(ago(400)), changedAt: iso(ago(400)) });
    expect((await t.call('GET', `${A()}/services/${db}/health-transitions`, { token: rita })).body.value.map((x: { from: string | null; to: string }) => [x.from, x.to])).toEqual([
      ['healthy', 'degraded'],
      [null, 'healthy'],
    ]);
    // The store's guard holds on its own too: an upsert with an older observed_at changes nothing.
    await inScope(t.kernel.sql.forPlacement({ model: 'pooled' }), { tenantId: 'tenant-a', placement: { model: 'pooled' } }, HEALTH_SQL, async (trx) => {
      const { upsertLatest, latestOf, selectLatest } = await import('./store.js');
      const [row] = (await trx.executeQuery(selectLatest(trx, 'tenant-a', db).compile())).rows;
      await upsertLatest(trx, [{ ...row!, status: 'unhealthy', observed_at: new Date(row!.observed_at.getTime() - 1) }]);
      expect((await latestOf(trx, 'tenant-a', [db]))[0]?.status).toBe('degraded');
    });
  });

  it('is idempotent per batch id: a replay inserts nothing, other results under the same id are a conflict', async () => {
    const web = svcA[0]!;
    const body: R[] = [{ serviceId: web, status: 'healthy', observedAt: iso(ago(500)) }];
    expect((await post('replay-1', body)).status).toBe(200);
    const before = await t.snapshot();
    const again = await post('replay-1', body);
    expect(again.status).toBe(200);
    expect(again.body).toEqual({ batchId: 'replay-1', accepted: 1, replayed: true });
    expect(await t.snapshot()).toEqual(before);
    expectApiError(await post('replay-1', [{ ...body[0]!, status: 'degraded' }]), 409, 'Conflict');
    expect(await t.snapshot()).toEqual(before);
    // Repeatability-Request-ID works as on every create.
    const h = { 'repeatability-request-id': 'health-rr-1' };
    const a = await post('rr-1', body.map((r) => ({ ...r, observedAt: iso(ago(400)) })), { headers: h });
    const b = await post('rr-1', body.map((r) => ({ ...r, observedAt: iso(ago(400)) })), { headers: h });
    expect(a.status).toBe(200);
    expect(b.status).toBe(200);
    expect(b.headers.get('repeatability-result')).toBe('accepted');
    expect((await sql<{ n: number }>`select count(*)::int as n from health.results where batch_id = 'rr-1'`.execute(owner())).rows[0]?.n).toBe(1);
  });

  it('refuses unknown service ids, naming them, and inserts nothing', async () => {
    const before = await t.snapshot();
    const r = await post('unknown-1', [
      { serviceId: svcA[0]!, status: 'healthy', observedAt: iso(ago(100)) },
      { serviceId: svcA2, status: 'healthy', observedAt: iso(ago(100)) }, // another environment's
      { serviceId: svcB, status: 'healthy', observedAt: iso(ago(100)) }, // another tenant's real id
      { serviceId: 'svc_0000000000000000', status: 'healthy', observedAt: iso(ago(100)) },
    ]);
    expectApiError(r, 400, 'InvalidRequest');
    for (const id of [svcA2, svcB, 'svc_0000000000000000']) expect(r.body.error.message).toContain(id);
    expect(r.body.error.message).not.toContain(svcA[0]);
    expect(r.body.error.details.map((d: { target: string }) => d.target).sort()).toEqual([svcA2, svcB, 'svc_0000000000000000'].sort());
    expect(await t.snapshot()).toEqual(before);
  });

  it('refuses results outside the accepted window (too old for retention, or in the future) with a clear 400', async () => {
    const before = await t.snapshot();
    const web = svcA[0]!;
    const old = await post('window-1', [
      { serviceId: web, status: 'healthy', observedAt: iso(ago(100)) },
      { serviceId: web, status: 'healthy', observedAt: iso(ago(31 * 86_400_000)) },
    ]);
    expectApiError(old, 400, 'InvalidRequest');
    expect(old.body.error.target).toBe('body.results[1].observedAt');
    expect(old.body.error.details[0].code).toBe('ObservedTooLongAgo');
    const future = await post('window-2', [{ serviceId: web, status: 'healthy', observedAt: iso(new Date(clock.getTime() + 3_600_000)) }]);
    expectApiError(future, 400, 'InvalidRequest');
    expect(future.body.error.details[0].code).toBe('ObservedInTheFuture');
    // A little clock skew is fine.
    expect((await post('window-3', [{ serviceId: web, status: 'healthy', observedAt: iso(new Date(clock.getTime() + 60_000)) }])).status).toBe(200);
    const after = await t.snapshot();
    expect(Object.keys(after).filter((k) => before[k] !== after[k]).every((k) => /health\.(results|latest|batches|transitions)/.test(k))).toBe(true);
  });

  it('redacts tokens, JWTs and connection-string passwords from excerpts before storing them or sending telemetry', async () => {
    const web = svcA[1]!;
    const jwt = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLWJ5dGVz';
    const secrets = [jwt, 'hunter2-pw', 'sk-live-abc123', 'AccKey0123456789==', 'sv-sig-xyz'];
    const message = `GET /orders failed: Authorization: Bearer ${jwt}; db Server=tcp:db;User ID=app;Password=hunter2-pw;Encrypt=true; token=sk-live-abc123 AccountKey=AccKey0123456789== https://x.blob.core.windows.net/c?sig=sv-sig-xyz`;
    rec.sent.length = 0;
    const r = await post('redact-1', [{ serviceId: web, status: 'unhealthy', observedAt: iso(ago(50)), message }]);
    expect(r.status).toBe(200);
    const stored = (await sql<{ message: string }>`select message from health.results where batch_id = 'redact-1'`.execute(owner())).rows[0]!.message;
    for (const s of secrets) expect(stored).not.toContain(s);
    expect(stored).toContain('GET /orders failed');
    expect(stored).toContain('[redacted]');
    const sent = JSON.stringify(rec.sent);
    for (const s of secrets) expect(sent).not.toContain(s);
    // Each result is an availability item; an unhealthy one also an exception with the excerpt.
    expect(rec.sent.map((s) => s.kind)).toEqual(['availability', 'exception']);
    expect(rec.sent[0]!.item).toMatchObject({ name: `${web}/http`, success: false, durationMs: 12, runLocation: envA, properties: { tenantId: 'tenant-a', environmentId: envA, serviceId: web, status: 'unhealthy', batchId: 'redact-1' } });
    expect(rec.sent[1]!.item).toMatchObject({ name: 'HealthCheckFailed', message: expect.stringContaining('GET /orders failed') });
    expect((rec.sent[1]!.item as { stack: string }).stack).not.toMatch(/\.ts:\d+|\.js:\d+/);
    rec.sent.length = 0;
    await post('redact-2', [{ serviceId: web, status: 'degraded', observedAt: iso(ago(40)), message: 'slow' }, { serviceId: web, status: 'healthy', observedAt: iso(ago(30)) }]);
    expect(rec.sent.map((s) => s.kind)).toEqual(['availability', 'trace', 'availability']);
    expect(rec.sent[1]!.item).toMatchObject({ severity: 'warning', message: expect.stringContaining('slow') });
    // A replay sends nothing again.
    rec.sent.length = 0;
    await post('redact-2', [{ serviceId: web, status: 'degraded', observedAt: iso(ago(40)), message: 'slow' }, { serviceId: web, status: 'healthy', observedAt: iso(ago(30)) }]);
    expect(rec.sent).toEqual([]);
  });

  it('rate-limits by the tenant quota healthResultsPerMinute, and refuses a batch larger than a minute of it', async () => {
    await t.createTenant('quota-h', 'quinn', { quotas: { healthResultsPerMinute: 100 } });
    const quinn = await t.token('quinn');
    const env = await createEnv('quota-h', quinn, 'main');
    const svc = await register('quota-h', env, quinn, 'web');
    const many = (n: number, offset: number) => Array.from({ length: n }, (_, i) => ({ serviceId: svc, status: 'healthy', observedAt: iso(ago(offset + i)) }));
    const path = `tenants/quota-h/environments/${env}`;
    expect((await post('q-1', many(60, 0), { token: quinn, path })).status).toBe(200);
    const limited = await post('q-2', many(60, 100), { token: quinn, path });
    expectApiError(limited, 429, 'TooManyRequests');
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expectApiError(await post('q-3', many(101, 200), { token: quinn, path }), 409, 'QuotaExceeded');
  });

  it('serialises concurrent batches of one environment: a new service gets one first transition', async () => {
    const svc = await register('tenant-a', envA, alice, `conc-${Date.now() % 100000}`);
    const batches = Array.from({ length: 6 }, (_, i) => post(`conc-${svc}-${i}`, [{ serviceId: svc, status: 'healthy', observedAt: iso(ago(1000 - i)) }]));
    for (const r of await Promise.all(batches)) expect(r.status).toBe(200);
    const tr = await t.call('GET', `${A()}/services/${svc}/health-transitions`, { token: rita });
    expect(tr.body.value.map((x: { from: string | null; to: string }) => [x.from, x.to])).toEqual([[null, 'healthy']]);
    // Whichever batch ran first made the first transition; the newest result is the latest.
    const latest = await t.call('GET', `${A()}/services/${svc}/health`, { token: rita });
    expect(latest.body).toMatchObject({ status: 'healthy', observedAt: iso(ago(995)), changedAt: tr.body.value[0].at });
  });

  it('needs the operator role to append, and refuses a retired environment', async () => {
    expectApiError(await post('role-1', [{ serviceId: svcA[0]!, status: 'healthy', observedAt: iso(ago(10)) }], { token: rita }), 403, 'Forbidden');
    const env = await createEnv('tenant-a', alice, 'retiring');
    const svc = await register('tenant-a', env, alice, 'web');
    await t.call('POST', `tenants/tenant-a/environments/${env}/retire`, { token: alice });
    expectApiError(await post('retired-1', [{ serviceId: svc, status: 'healthy', observedAt: iso(ago(10)) }], { path: `tenants/tenant-a/environments/${env}` }), 409, 'EnvironmentRetired');
  });
});

describe('cross-tenant', () => {
  it("answers 404 to a member of tenant B asking B's paths for tenant A's real ids, and stores nothing", async () => {
    const before = await t.snapshot();
    const web = svcA[0]!;
    const B = `tenants/tenant-b/environments/${envA}`;
    for (const path of [`${B}/health`, `${B}/services/${web}/health`, `${B}/services/${web}/health-results`, `${B}/services/${web}/health-transitions`]) {
      const r: CallResult = await t.call('GET', path, { token: bob });
      expectApiError(r, 404, 'NotFound');
    }
    // A's service ids in B's own environment: unknown there.
    const r = await post('steal-1', [{ serviceId: web, status: 'unhealthy', observedAt: iso(ago(10)) }], { token: bob, path: `tenants/tenant-b/environments/${envB}` });
    expectApiError(r, 400, 'InvalidRequest');
    expectApiError(await post('steal-2', [{ serviceId: svcB, status: 'unhealthy', observedAt: iso(ago(10)) }], { token: bob, path: B }), 404, 'NotFound');
    // And A's reads with B's real ids.
    expectApiError(await t.call('GET', `${A()}/services/${svcB}/health-results`, { token: alice }), 404, 'NotFound');
    expect(await t.snapshot()).toEqual(before);
  });
});

describe('partitions and retention', () => {
  const partitions = async () =>
    (
      await sql<{ name: string }>`select c.relname as name from pg_inherits i join pg_class c on c.oid = i.inhrelid join pg_class p on p.oid = i.inhparent
        join pg_namespace n on n.oid = p.relnamespace where n.nspname = 'health' and p.relname = 'results' order by 1`.execute(owner())
    ).rows.map((r) => r.name);

  it('keeps one partition per UTC day, with row-level security forced on each, owned by the migrator', async () => {
    const names = await partitions();
    expect(names.length).toBeGreaterThan(0);
    for (const n of names) expect(n).toMatch(/^results_p\d{8}$/);
    const databaseServices = await loadDatabaseServices(services);
    for (const { name, db, placement } of t.kernel.sql.all()) {
      const { findings } = await checkDatabase(db, name, placement, servicesIn(placement, databaseServices));
      expect(findings, name).toEqual([]);
    }
  });

  it('the service role cannot run DDL itself, and cannot make the function drop recent partitions', async () => {
    const pooled = { tenantId: 'tenant-a', placement: { model: 'pooled' } } as const;
    const db = t.kernel.sql.forPlacement({ model: 'pooled' });
    await expect(inScope(db, pooled, HEALTH_SQL, (trx) => sql`create table results_p20990101 partition of results for values from ('2099-01-01') to ('2099-01-02')`.execute(trx))).rejects.toMatchObject({
      code: '42501',
    });
    await expect(inScope(db, pooled, HEALTH_SQL, (trx) => sql`drop table results`.execute(trx))).rejects.toMatchObject({ code: '42501' });
    await expect(inScope(db, pooled, HEALTH_SQL, (trx) => sql`select drop_partitions(now())`.execute(trx))).rejects.toMatchObject({ code: '22023' });
  });

  it('the daily timer creates the upcoming days and drops whole days older than 30 days, then the small tables follow', async () => {
    const health = t.instance<HealthInstance>('health');
    const before = await partitions();
    const oldest = before[0]!;
    expect(await count('results')).toBeGreaterThan(0);
    const first = await health.retention();
    expect(first.failed).toEqual([]);
    const day = (d: Date) => `results_p${d.toISOString().slice(0, 10).replace(/-/g, '')}`;
    const ahead = new Date(clock.getTime() + 3 * 86_400_000);
    expect(await partitions()).toContain(day(ahead));
    expect(first.databases[0]!.dropped).toEqual([]);

    // 31 days later every partition that held a result is wholly older than the window.
    clock = new Date(clock.getTime() + 31 * 86_400_000);
    const run = await health.retention();
    expect(run.failed).toEqual([]);
    expect(run.databases[0]!.dropped).toContain(oldest);
    expect(run.databases[0]!.dropped).toContain(oldest.replace('results', 'transitions'));
    expect(await partitions()).not.toContain(oldest);
    expect(await count('results')).toBe(0);
    expect(await count('transitions')).toBe(0);
    expect(await count('latest')).toBe(0);
    expect(await count('batches')).toBe(0);
    // Ingest still works (its day's partition is there, or made on demand).
    expect((await post('after-retention', [{ serviceId: svcA[0]!, status: 'healthy', observedAt: iso(ago(10)) }])).status).toBe(200);
    expect((await post('far-back', [{ serviceId: svcA[0]!, status: 'healthy', observedAt: iso(ago(29 * 86_400_000)) }])).status).toBe(200);
    tick();
  });

  it('expires the small tables tenant by tenant: a tenant that fails is reported, and the others are done', async () => {
    expect((await post('expiry-probe', [{ serviceId: svcA[1]!, status: 'healthy', observedAt: iso(ago(10)) }])).status).toBe(200);
    expect(await count('batches')).toBeGreaterThan(0);
    const { runRetention } = await import('./retention.js');
    // Fault injection (no stand-in fails one tenant's database work): every statement of tenant
    // 'ghost' fails as a dropped connection would; the real database serves everything else.
    const real = t.kernel.sql;
    const run: typeof real.run = (scope, svc, fn) =>
      'tenantId' in scope && scope.tenantId === 'ghost' ? Promise.reject(new Error('Connection terminated unexpectedly')) : real.run(scope, svc, fn);
    const faulty = Object.assign(Object.create(real) as typeof real, { run });
    const pooledRef = { model: 'pooled' } as const;
    const tenants = {
      async *listTenants() {
        yield { tenantId: 'ghost', placement: pooledRef };
        yield { tenantId: 'tenant-a', placement: pooledRef };
      },
    };
    const later = new Date(clock.getTime() + 40 * 86_400_000);
    const summary = await runRetention({ sql: faulty, now: later, tenants: tenants as never });
    expect(summary.failed).toEqual([]);
    expect(summary.failedTenants).toEqual([{ tenantId: 'ghost', message: 'Connection terminated unexpectedly' }]);
    expect(summary.databases[0]!.expiredRows).toBeGreaterThan(0);
    expect(await count('batches')).toBe(0);
    expect(await count('latest')).toBe(0);
    // A run at the test's own clock makes the days around it again (the plans below read them).
    expect((await t.instance<HealthInstance>('health').retention()).failed).toEqual([]);
  });
});

describe('column arrays', () => {
  it('writes array literals PostgreSQL reads back as the same values (quotes, backslashes, braces, commas, NULL, times)', async () => {
    const { arrayLiteral } = await import('./store.js');
    const piece = fc.constantFrom('"', '\\', '{', '}', ',', ' ', 'NULL', 'null', 'a', 'é', '😀', '\t', "'");
    const text = fc.oneof(fc.string({ unit: 'grapheme' }), fc.array(piece, { maxLength: 8 }).map((xs) => xs.join('')));
    await fc.assert(
      fc.asyncProperty(fc.array(fc.option(text, { nil: null }), { maxLength: 20 }), fc.array(fc.date({ min: new Date('1970-01-01T00:00:00Z'), max: new Date('2100-01-01T00:00:00Z'), noInvalidDate: true }), { maxLength: 5 }), async (strings, dates) => {
        const r = await sql<{ s: (string | null)[]; d: Date[] }>`select ${arrayLiteral(strings)}::text[] as s, ${arrayLiteral(dates)}::timestamptz[] as d`.execute(owner());
        expect(r.rows[0]!.s).toEqual(strings);
        expect(r.rows[0]!.d.map((d) => d.getTime())).toEqual(dates.map((d) => d.getTime()));
      }),
      { numRuns: 150 },
    );
  });
});

describe('query plans', () => {
  const tenant = { tenantId: 'plans', placement: { model: 'pooled' } } as const;
  const explain = async (q: string) =>
    (await inScope(t.kernel.sql.forPlacement({ model: 'pooled' }), tenant, HEALTH_SQL, (trx) => sql.raw<{ 'QUERY PLAN': string }>(`explain ${q}`).execute(trx))).rows
      .map((r) => r['QUERY PLAN'])
      .join('\n');

  beforeAll(async () => {
    // 10,000 services' latest rows (as the owner: plans need volume, not the API).
    await sql`insert into health.latest (tenant_id, service_id, environment_id, status, check_name, latency_ms, message, observed_at, changed_at, batch_id, ord)
              select 'plans', 'svc_' || lpad(to_hex(g), 16, '0'), 'env_' || lpad(to_hex(g % 20), 16, '0'), 'healthy', 'http', 1, null, now(), now(), 'seed', 0
              from generate_series(1, 10000) g`.execute(owner());
    await sql`analyze health.latest`.execute(owner());
  });

  it('reads the latest status of a service with a primary-key lookup that never touches the history', async () => {
    const { selectLatest } = await import('./store.js');
    const q = selectLatest(t.kernel.sql.forPlacement({ model: 'pooled' }), 'plans', 'svc_0000000000000010').compile();
    const plan = await explain(q.sql.replace('$1', "'plans'").replace('$2', "'svc_0000000000000010'"));
    expect(plan).toMatch(/Index Scan using latest_pk on latest/);
    expect(plan).not.toMatch(/results|Seq Scan/);
  });

  it("reads an environment's latest statuses by its index, and a service's history only from the partitions of its range", async () => {
    const plan = await explain(`select * from latest where tenant_id = 'plans' and environment_id = 'env_0000000000000003' order by service_id limit 51`);
    expect(plan).toMatch(/Index Scan using latest_by_environment on latest/);
    const parts = (await sql<{ n: number }>`select count(*)::int as n from pg_inherits i join pg_class p on p.oid = i.inhparent join pg_namespace s on s.oid = p.relnamespace
      where s.nspname = 'health' and p.relname = 'results'`.execute(owner())).rows[0]!.n;
    expect(parts).toBeGreaterThan(2);
    const day = clock.toISOString().slice(0, 10);
    const history = await explain(
      `select * from results where tenant_id = 'plans' and service_id = 'svc_0000000000000010' and environment_id = 'env_0000000000000010'
       and observed_at >= '${day}T00:00:00Z' and observed_at < '${day}T12:00:00Z' order by observed_at desc, batch_id desc, ord desc limit 51`,
    );
    // Pruned to the one partition of that day.
    expect(new Set(history.match(/results_p\d{8}/g)).size).toBe(1);
    expect(history).toContain(`results_p${day.replace(/-/g, '')}`);
  });
});
