/**
 * Retention of configuration versions with a clock the test controls: versions older than the
 * storage map's figure go, the latest of each configuration stays whatever its age, consumers not
 * seen as long are forgotten, batches are bounded, and the timer runs through its registration.
 */
import azureFunctions from '@azure/functions';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../../test/app.js';
import { storageMap } from '../../shared/storage-map.js';
import type { ConfigurationInstance } from './api.js';
import { RETENTION_SCHEDULE } from './index.js';
import { RETENTION_DAYS, retentionTimerHandler } from './retention.js';

const { InvocationContext } = azureFunctions;
const DAY = 24 * 60 * 60 * 1000;
const T0 = new Date('2026-01-01T00:00:00.000Z');
let clock = T0;
const at = (days: number) => (clock = new Date(T0.getTime() + days * DAY));

let t: TestApp;
let s: { token: string; environmentId: string; serviceId: string };
const cfg = () => `tenants/ret/environments/${s.environmentId}/services/${s.serviceId}/configuration`;
const versions = async () => (await t.call('GET', `${cfg()}/versions`, { token: s.token })).body.value.map((v: { version: number }) => v.version);

beforeAll(async () => {
  t = await startTestApp({ now: () => clock });
  s = await t.seedTenant('ret', 'ada');
});
afterAll(() => t?.close());

describe('configuration retention', () => {
  it('reads its figure from the storage map', () => {
    expect(RETENTION_DAYS).toBe(storageMap.configuration.retentionDays);
  });

  it('deletes versions older than the retention except the latest, in bounded batches, and forgets stale consumers', async () => {
    // Versions 1-5 on days 0-4, a consumer syncing version 5 on day 4; version 6 on day 200.
    let etag: string | undefined;
    for (let i = 1; i <= 5; i++) {
      at(i - 1);
      const r = await t.call('PUT', cfg(), { token: s.token, body: { settings: { n: i } }, headers: etag ? { 'if-match': etag } : {} });
      etag = r.headers.get('etag')!;
    }
    await t.call('GET', `${cfg()}?consumer=old-agent`, { token: s.token });
    const retention = (o: Parameters<ConfigurationInstance['retention']>[0]) => t.instance<ConfigurationInstance>('configuration').retention(o);

    at(RETENTION_DAYS);
    expect((await retention({ tenantIds: ['ret'] })).versionsDeleted).toBe(0);
    // A year and a bit after versions 1-3: those go, two to a batch, at most one batch this run.
    at(RETENTION_DAYS + 2.5);
    const first = await retention({ tenantIds: ['ret'], batchSize: 2, maxBatchesPerTenant: 1 });
    expect([first.versionsDeleted, first.unfinished]).toEqual([2, ['ret']]);
    expect(await retention({ tenantIds: ['ret'], batchSize: 2 })).toMatchObject({ versionsDeleted: 1, unfinished: [] });
    expect(await versions()).toEqual([5, 4]);
    // The latest stays however old it is; version 4 goes once it is past the figure too.
    at(RETENTION_DAYS * 3);
    const late = await retention({ tenantIds: ['ret'] });
    expect([late.versionsDeleted, late.consumersDeleted]).toEqual([1, 1]);
    expect(await versions()).toEqual([5]);
    expect((await t.call('GET', cfg(), { token: s.token })).body.version).toBe(5);
    expect((await t.call('GET', `${cfg()}/consumers`, { token: s.token })).body.value).toEqual([]);
    // The history of what was deleted goes with it: no references are left behind.
    const refs = await sql<{ n: number }>`select count(*)::int as n from configuration.configuration_versions where tenant_id = 'ret'`.execute(t.owner.forPlacement({ model: 'pooled' }));
    expect(refs.rows[0]?.n).toBe(1);
  });

  it('runs as the daily timer', async () => {
    expect(t.registrar.entries.find((e) => e.name === 'configurationRetention')).toMatchObject({ trigger: 'timer', schedule: RETENTION_SCHEDULE });
    const logs: string[] = [];
    const context = new InvocationContext({ functionName: 'configurationRetention', logHandler: (level, ...args) => logs.push(`${level}: ${args.join(' ')}`) });
    const timer = { isPastDue: false, schedule: { adjustForDST: false }, scheduleStatus: { last: '', next: '', lastUpdated: '' } };
    const summary = await retentionTimerHandler((o) => t.instance<ConfigurationInstance>('configuration').retention(o))(timer, context);
    expect(summary.failures).toEqual([]);
    expect(logs.some((l) => /^information: configuration retention \(published before .*\): \d+ tenants/.test(l))).toBe(true);
  });
});
