/**
 * Purge of retired services, with a clock the test controls. References come from the real
 * deployments service (a deployment in progress keeps its service); a second checker, a test
 * stand-in plugged in through the same API, fails on demand to show a check that cannot answer.
 */
import azureFunctions from '@azure/functions';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../../test/app.js';
import { storageMap } from '../../shared/storage-map.js';
import type { CatalogInstance } from './api.js';
import { PURGE_SCHEDULE } from './index.js';
import { PURGE_RETIRED_AFTER_DAYS, purgeTimerHandler, type PurgeOptions } from './purge.js';

const { InvocationContext } = azureFunctions;
const DAY = 24 * 60 * 60 * 1000;
const T0 = new Date('2026-01-01T00:00:00.000Z');
const purgeRetiredServices = (opts?: PurgeOptions) => t.instance<CatalogInstance>('catalog').purge(opts);

let clock = T0;
const at = (days: number, extraMs = 0) => (clock = new Date(T0.getTime() + days * DAY + extraMs));

let t: TestApp;
const asked: { tenantId: string; ids: string[] }[] = [];
let checkerFails = false;

beforeAll(async () => {
  t = await startTestApp({ now: () => clock, silos: ['silo-a'] });
  t.instance<CatalogInstance>('catalog').api.addReferenceChecker('stand-in', async (tenant, ids) => {
    asked.push({ tenantId: tenant.tenantId, ids: [...ids] });
    if (checkerFails) throw new Error('stand-in database unavailable');
    return new Map();
  });
});
afterAll(() => t?.close());

async function setup(tenant: string, admin: string, names: string[], extra: Record<string, unknown> = {}) {
  await t.createTenant(tenant, admin, extra);
  const token = await t.token(admin);
  const env = await t.call('POST', `tenants/${tenant}/environments`, { token, body: { name: 'main', kind: 'prod', region: 'westeurope' } });
  expect(env.status).toBe(201);
  const ids: Record<string, string> = {};
  for (const name of names) {
    const r = await t.call('POST', `tenants/${tenant}/environments/${env.body.id}/services`, { token, body: { name, owner: 'team' } });
    expect(r.status).toBe(201);
    ids[name] = r.body.id;
  }
  const base = `tenants/${tenant}/environments/${env.body.id}/services`;
  return {
    env: env.body.id as string,
    ids,
    token,
    retire: async (name: string) => expect((await t.call('POST', `${base}/${ids[name]}/retire`, { token })).status).toBe(200),
    /** Starts a deployment of the service (it stays in progress); answers a function that cancels it. */
    deploy: async (name: string) => {
      const deployments = `tenants/${tenant}/environments/${env.body.id}/deployments`;
      const d = await t.call('POST', deployments, { token, body: { serviceId: ids[name], image: `contoso.azurecr.io/${name}@sha256:${'0'.repeat(64)}` } });
      expect((await t.call('POST', `${deployments}/${d.body.id}/transitions`, { token, body: { to: 'in_progress' } })).status).toBe(200);
      return { id: d.body.id as string, cancel: async () => expect((await t.call('POST', `${deployments}/${d.body.id}/transitions`, { token, body: { to: 'cancelled' } })).status).toBe(200) };
    },
    status: async (name: string) => {
      const r = await t.call('GET', `${base}/${ids[name]}`, { token });
      return r.status === 200 ? (r.body.status as string) : r.status;
    },
  };
}

const outbox = async (tenant: string, type: string) =>
  (
    await sql<{ subject: string; data: { reasons?: string[] } }>`select subject, data from catalog.outbox where tenant_id = ${tenant} and type = ${type} order by subject`.execute(
      t.owner.forPlacement({ model: 'pooled' }),
    )
  ).rows;

describe('purge of retired services', () => {
  it('takes its retention from the storage map and runs daily', () => {
    expect(PURGE_RETIRED_AFTER_DAYS).toBe(storageMap.inventory.purgeRetiredAfterDays);
    expect(PURGE_RETIRED_AFTER_DAYS).toBe(90);
    expect(t.registrar.entries.find((e) => e.name === 'catalogPurgeRetired')).toMatchObject({ name: 'catalogPurgeRetired', trigger: 'timer', schedule: PURGE_SCHEDULE });
    expect(PURGE_SCHEDULE).toBe('0 30 2 * * *');
  });

  it('keeps a service retired 89 days ago, purges one retired 91 days ago, and keeps and reports a referenced one', async () => {
    at(0);
    const s = await setup('pt', 'paula', ['gone', 'used', 'later', 'live']);
    const running = await s.deploy('used');
    await s.retire('gone');
    await s.retire('used');
    at(2);
    await s.retire('later');

    at(89);
    const early = await purgeRetiredServices({ tenantIds: ['pt'] });
    expect(early).toMatchObject({ tenants: 1, examined: 0, purged: 0, skippedCount: 0, failures: [] });
    expect(await s.status('gone')).toBe('retired');

    at(91);
    asked.length = 0;
    const due = await purgeRetiredServices({ tenantIds: ['pt'] });
    expect(due).toMatchObject({ cutoff: new Date(T0.getTime() + 1 * DAY).toISOString(), examined: 2, purged: 1, skippedCount: 1, failures: [] });
    const why = `deployments: deployment ${running.id} is in progress`;
    expect(due.skipped).toEqual([{ tenantId: 'pt', environmentId: s.env, serviceId: s.ids.used, reasons: [why] }]);
    expect(asked).toEqual([{ tenantId: 'pt', ids: [s.ids.gone!, s.ids.used!].sort() }]);
    expect(await s.status('gone')).toBe(404);
    expect(await s.status('used')).toBe('retired');
    expect(await s.status('later')).toBe('retired');
    expect(await s.status('live')).toBe('active');
    expect((await outbox('pt', 'ServicePurged')).map((e) => e.subject)).toEqual([`tenants/pt/environments/${s.env}/services/${s.ids.gone}`]);
    expect(await outbox('pt', 'ServicePurgeSkipped')).toEqual([
      { subject: `tenants/pt/environments/${s.env}/services/${s.ids.used}`, data: { reasons: [why] } },
    ]);

    // Once nothing references it, the next run purges it; `later` is still inside its 90 days.
    await running.cancel();
    at(91, 60 * 60 * 1000);
    const next = await purgeRetiredServices({ tenantIds: ['pt'] });
    expect(next).toMatchObject({ examined: 1, purged: 1, skippedCount: 0 });
    expect(await s.status('used')).toBe(404);
    expect(await s.status('later')).toBe('retired');
    at(93);
    expect((await purgeRetiredServices({ tenantIds: ['pt'] })).purged).toBe(1);
    expect(await s.status('later')).toBe(404);
    expect(await s.status('live')).toBe('active');
  });

  it('works in bounded batches', async () => {
    at(0);
    const s = await setup('pb', 'pia', ['a', 'b', 'c', 'd', 'e']);
    for (const n of ['a', 'b', 'c', 'd', 'e']) await s.retire(n);
    at(100);
    const runs = [];
    for (let i = 0; i < 4; i++) runs.push(await purgeRetiredServices({ tenantIds: ['pb'], batchSize: 2, maxBatchesPerTenant: 1 }));
    expect(runs.map((r) => [r.examined, r.purged])).toEqual([
      [2, 2],
      [2, 2],
      [1, 1],
      [0, 0],
    ]);
    // Several batches in one run, each its own transaction.
    at(0);
    const s2 = await setup('pb2', 'pib', ['a', 'b', 'c', 'd', 'e']);
    for (const n of ['a', 'b', 'c', 'd', 'e']) await s2.retire(n);
    at(100);
    expect(await purgeRetiredServices({ tenantIds: ['pb2'], batchSize: 2 })).toMatchObject({ examined: 5, purged: 5 });
  });

  it('keeps the whole batch, and says why, when a reference check cannot answer', async () => {
    at(0);
    const s = await setup('pf', 'pete', ['x', 'y']);
    await s.retire('x');
    await s.retire('y');
    at(120);
    checkerFails = true;
    try {
      const r = await purgeRetiredServices({ tenantIds: ['pf'] });
      expect(r).toMatchObject({ examined: 2, purged: 0, skippedCount: 2 });
      expect(r.skipped.map((k) => k.reasons)).toEqual([
        ['stand-in: reference check failed; kept until it answers'],
        ['stand-in: reference check failed; kept until it answers'],
      ]);
    } finally {
      checkerFails = false;
    }
    expect(await s.status('x')).toBe('retired');
    expect((await purgeRetiredServices({ tenantIds: ['pf'] })).purged).toBe(2);
  });

  it("purges a siloed tenant's services in its silo database", async () => {
    at(0);
    const s = await setup('psilo', 'sue', ['old', 'keep'], { isolation: { model: 'siloed', database: 'silo-a' } });
    await s.retire('old');
    at(91);
    const count = async (placement: Parameters<typeof t.kernel.sql.forPlacement>[0]) =>
      (await sql<{ n: number }>`select count(*)::int as n from catalog.services where tenant_id = 'psilo'`.execute(t.owner.forPlacement(placement))).rows[0]?.n;
    expect(await count({ model: 'siloed', database: 'silo-a' })).toBe(2);
    expect(await count({ model: 'pooled' })).toBe(0);
    expect(await purgeRetiredServices({ tenantIds: ['psilo'] })).toMatchObject({ examined: 1, purged: 1 });
    expect(await count({ model: 'siloed', database: 'silo-a' })).toBe(1);
    expect(await s.status('keep')).toBe('active');
  });

  it('completes a retire cascade that was cut short, so nothing stays live in a retired environment', async () => {
    at(0);
    const s = await setup('pr', 'rob', ['one', 'two']);
    // The environment's transaction committed but the process died before the catalog's cascade.
    const retiredAt = new Date(T0.getTime() + 1000);
    await sql`update environments.environments set retired_at = ${retiredAt} where tenant_id = 'pr' and id = ${s.env}`.execute(t.owner.forPlacement({ model: 'pooled' }));
    expect(await s.status('one')).toBe('active');
    at(1);
    const r = await purgeRetiredServices({ tenantIds: ['pr'] });
    expect(r).toMatchObject({ repairedEnvironments: 1, purged: 0 });
    expect(await s.status('one')).toBe('retired');
    expect(await s.status('two')).toBe('retired');
    const reg = await t.call('POST', `tenants/pr/environments/${s.env}/services`, { token: s.token, body: { name: 'three', owner: 'team' } });
    expect(reg.body.error.code).toBe('EnvironmentRetired');
    // Repaired once; the next run finds nothing to do, and 90 days after the environment's retirement they go.
    expect((await purgeRetiredServices({ tenantIds: ['pr'] })).repairedEnvironments).toBe(0);
    at(90, 2000);
    expect((await purgeRetiredServices({ tenantIds: ['pr'] })).purged).toBe(2);
  });

  it('runs every tenant from the timer handler and logs a summary', async () => {
    at(400);
    const lines: string[] = [];
    const context = new InvocationContext({
      functionName: 'catalogPurgeRetired',
      logHandler: (level, ...args) => lines.push(`${level}: ${args.join(' ')}`),
    });
    const timer = { isPastDue: false, schedule: { adjustForDST: false }, scheduleStatus: { last: '', next: '', lastUpdated: '' } };
    const summary = await purgeTimerHandler((o) => purgeRetiredServices(o))(timer, context);
    expect(summary.tenants).toBeGreaterThanOrEqual(6);
    expect(summary.failures).toEqual([]);
    expect(lines.some((l) => /^information: catalog purge .* tenants, .* purged/.test(l))).toBe(true);
  });
});
