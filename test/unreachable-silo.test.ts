/**
 * Every timer that works over the databases treats each on its own: with a silo that is configured
 * but unreachable (its connection string names a closed port), the outbox publisher, the isolation
 * check, the kernel-record housekeeping and the catalog purge each report that silo and do their
 * work in the others.
 *
 * The test app's silo is real; the timers run with a second kernel whose settings point that
 * silo at a closed port, as an instance would see a silo that is down.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from './app.js';
import { closedPort } from './http-client.js';
import { createKernel, type Kernel } from '../shared/kernel.js';
import { services } from '../composition/services.js';
import { loadDatabaseServices } from '../composition/app.js';

import type { CloudEvent, EventSink } from '../shared/events/outbox.js';
import { publishOutboxes } from '../functions/platform/outbox.js';
import { runIsolationCheck } from '../functions/platform/isolation-check.js';
import { expireKernelRecords } from '../functions/platform/housekeeping.js';
import { createCatalog } from '../functions/catalog/api.js';
import type { TenantsApi } from '../functions/tenants/api.js';
import type { EnvironmentsApi } from '../functions/environments/api.js';

const databaseServices = await loadDatabaseServices(services);

let t: TestApp;
let broken: Kernel;

class RecordingSink implements EventSink {
  sent: CloudEvent[] = [];
  async send(e: CloudEvent): Promise<void> {
    this.sent.push(e);
  }
}

function recordingLog() {
  const lines: { level: string; message: string }[] = [];
  const at = (level: string) => (...args: unknown[]) => void lines.push({ level, message: args.map(String).join(' ') });
  return { lines, log: at('information'), warn: at('warning'), error: at('error') };
}

beforeAll(async () => {
  t = await startTestApp({ silos: ['silo-x'] });
  await t.createTenant('pooled-one', 'pat');
  await t.createTenant('silo-one', 'sam', { isolation: { model: 'siloed', database: 'silo-x' } });
  for (const [tenant, admin] of [['pooled-one', 'pat'], ['silo-one', 'sam']] as const) {
    const r = await t.call('POST', `tenants/${tenant}/environments`, { token: await t.token(admin), body: { name: 'main', kind: 'prod', region: 'westeurope' } });
    expect(r.status).toBe(201);
  }
  const settings = t.kernel.settings;
  const down = { kind: 'url' as const, url: `postgres://${encodeURIComponent('rp_app_login')}@127.0.0.1:${await closedPort()}/nowhere` };
  broken = createKernel({ ...settings, sql: { ...settings.sql, silos: { ...settings.sql.silos, 'silo-x': down } } });
});
afterAll(async () => {
  await broken?.sql.close();
  await t?.close();
});

describe('a silo that is configured but unreachable', () => {
  it('does not stop the outbox publisher: the pooled database is published and the silo is reported', async () => {
    const sink = new RecordingSink();
    const out = recordingLog();
    const s = await publishOutboxes(broken, databaseServices, out, { sink });
    expect(sink.sent.some((e) => e.tenantid === 'pooled-one' && e.type === 'RuntimePlatform.EnvironmentCreated')).toBe(true);
    expect(sink.sent.some((e) => e.tenantid === 'silo-one' && e.type === 'RuntimePlatform.EnvironmentCreated')).toBe(false);
    expect(s.published).toBe(sink.sent.length);
    expect(s.failures.map((f) => f.database)).toEqual(['silo-x']);
    expect(out.lines.some((l) => l.level === 'error' && l.message.includes('silo-x'))).toBe(true);

    // Once the silo answers again (the test app's own kernel), its events go out too.
    const later = await publishOutboxes(t.kernel, databaseServices, recordingLog(), { sink });
    expect(later.failures).toEqual([]);
    expect(sink.sent.some((e) => e.tenantid === 'silo-one' && e.type === 'RuntimePlatform.EnvironmentCreated')).toBe(true);
  });

  it('does not stop the isolation check: the pooled database is proven, the silo is a finding', async () => {
    const report = await runIsolationCheck(broken, databaseServices);
    expect(report.ok).toBe(false);
    expect(report.findings.map((f) => [f.database, f.code])).toEqual([['silo-x', 'database-unchecked']]);
    expect(report.databases.find((d) => d.database === 'pooled')).toMatchObject({ findings: 0 });
    expect(report.databases.find((d) => d.database === 'pooled')!.relations).toBeGreaterThan(5);
  });

  it('does not stop housekeeping', async () => {
    const s = await expireKernelRecords(broken, databaseServices);
    expect(s.failed).toEqual(['silo-x']);
    expect(s.databases.find((d) => d.database === 'pooled')?.error).toBeUndefined();
  });

  it("does not stop the catalog purge: the silo's tenant is reported, the others are purged", async () => {
    const tenants = t.instance<{ api: TenantsApi }>('tenants').api;
    const environments = t.instance<{ api: EnvironmentsApi }>('environments').api;
    const catalog = createCatalog(broken, {
      tenants,
      environments: {
        getEnvironment: (...a) => environments.getEnvironment(...a),
        listRetiredEnvironments: (...a) => environments.listRetiredEnvironments(...a),
        onEnvironmentRetired: () => undefined,
      },
    });
    const s = await catalog.purge();
    expect(s.tenants).toBe(2);
    expect(s.failures.map((f) => f.tenantId)).toEqual(['silo-one']);
  });
});
