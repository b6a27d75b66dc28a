/**
 * The continuous isolation check: it passes on a healthy app (the pooled database and a silo, with
 * tenants' data in both), and each way of breaking isolation on purpose in this test file's own
 * throwaway databases is a specific finding, an error log line and the `IsolationCheckFailed`
 * telemetry item. Each break is undone afterwards and the check passes again.
 */
import { sql, type Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../../test/app.js';
import { services } from '../../composition/services.js';
import { loadDatabaseServices } from '../../composition/app.js';

import { noTelemetry, type TelemetryEvent } from '../../shared/telemetry.js';
import {
  CANARY_TENANT,
  ISOLATION_CHECK_FAILED,
  ISOLATION_CHECK_PASSED,
  reportIsolation,
  runIsolationCheck,
  type IsolationFinding,
} from './isolation-check.js';
import { ISOLATION_CHECK_SCHEDULE } from './index.js';

const databaseServices = await loadDatabaseServices(services);

let t: TestApp;
let pooled: Kysely<any>;
let silo: Kysely<any>;

beforeAll(async () => {
  t = await startTestApp({ silos: ['silo-a'] });
  pooled = t.owner.forPlacement({ model: 'pooled' });
  silo = t.owner.forPlacement({ model: 'siloed', database: 'silo-a' });
  // Data of two tenants in each database, so a leak would have rows to show.
  for (const [tenant, admin, extra] of [
    ['pooled-a', 'ann', {}],
    ['pooled-b', 'ben', {}],
    ['silo-one', 'sue', { isolation: { model: 'siloed', database: 'silo-a' } }],
  ] as const) {
    await t.seedTenant(tenant, admin, extra);
  }
});
afterAll(() => t?.close());

/** Runs the check through the reporter, with the log and telemetry recorded. */
async function check() {
  const report = await runIsolationCheck(t.kernel, databaseServices);
  const lines: { level: 'log' | 'error'; message: string }[] = [];
  const events: TelemetryEvent[] = [];
  reportIsolation(report, {
    log: { log: (...a: unknown[]) => void lines.push({ level: 'log', message: a.join(' ') }), error: (...a: unknown[]) => void lines.push({ level: 'error', message: a.join(' ') }) },
    telemetry: { ...noTelemetry, trackEvent: (e) => void events.push(e) },
  });
  return { report, lines, events };
}

const brief = (f: IsolationFinding) => [f.database, f.object, f.code];

/** Breaks something, expects exactly these findings and the alert, undoes it, expects a pass. */
async function expectCaught(breakIt: () => Promise<unknown>, undo: () => Promise<unknown>, expected: (string | undefined)[][]) {
  await breakIt();
  try {
    const { report, lines, events } = await check();
    expect(report.ok).toBe(false);
    expect(report.findings.map(brief).sort()).toEqual(expected.sort());
    expect(lines.filter((l) => l.level === 'error').length).toBe(report.findings.length + 1);
    expect(lines.every((l) => l.level === 'error' && l.message.startsWith(`${ISOLATION_CHECK_FAILED}: `))).toBe(true);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ name: ISOLATION_CHECK_FAILED, measurements: { findings: report.findings.length } });
    expect(events[0]!.properties!.codes!.split(',')).toEqual([...new Set(expected.map((e) => e[2]!))].sort());
  } finally {
    await undo();
  }
  expect((await check()).report.findings).toEqual([]);
}

describe('the isolation check', () => {
  it('passes on a healthy app, in the pooled database and the silo, and says so in the log and telemetry', async () => {
    const { report, lines, events } = await check();
    expect(report.findings).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.databases.map((d) => d.database)).toEqual(['pooled', 'silo-a']);
    // The silo holds no tenant registry (pooled-only), the pooled database holds every schema.
    expect(report.databases[0]!.services).toEqual(databaseServices.map((s) => s.service));
    expect(report.databases[1]!.services).not.toContain('tenants');
    expect(report.databases.every((d) => d.relations > 0)).toBe(true);
    expect(lines).toEqual([{ level: 'log', message: expect.stringMatching(new RegExp(`^${ISOLATION_CHECK_PASSED}: `)) }]);
    expect(events.map((e) => e.name)).toEqual([ISOLATION_CHECK_PASSED]);
    expect(ISOLATION_CHECK_SCHEDULE).toBe('0 7 * * * *');
  });

  it('answers its report to a platform admin at GET /api/platform/isolation-check, and refuses anyone else', async () => {
    const r = await t.call('GET', 'platform/isolation-check', { token: await t.token('root', { admin: true }) });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ ok: true, findings: [] });
    expect(r.body.databases.map((d: { database: string }) => d.database)).toEqual(['pooled', 'silo-a']);
    expect((await t.call('GET', 'platform/isolation-check', { token: await t.token('ann') })).status).toBe(403);
    expect((await t.call('GET', 'platform/isolation-check')).status).toBe(401);
  });

  it('finds row-level security that is no longer forced', async () => {
    await expectCaught(
      () => sql`alter table catalog.services no force row level security`.execute(pooled),
      () => sql`alter table catalog.services force row level security`.execute(pooled),
      [['pooled', 'catalog.services', 'rls-not-forced']],
    );
  });

  it('finds a table without row-level security, policy or tenant-first key in a service schema (in a silo), and the rows it shows', async () => {
    await expectCaught(
      async () => {
        await sql`create table environments.notes (id serial primary key, tenant_id text not null, note text)`.execute(silo);
        await sql`insert into environments.notes (tenant_id, note) values ('silo-one', 'visible to all')`.execute(silo);
        await sql`grant select on environments.notes to rp_environments`.execute(silo);
      },
      () => sql`drop table environments.notes`.execute(silo),
      [
        ['silo-a', 'environments.notes', 'rls-disabled'],
        ['silo-a', 'environments.notes', 'rls-not-forced'],
        ['silo-a', 'environments.notes', 'primary-key'],
        ['silo-a', 'environments.notes', 'policy-missing'],
        ['silo-a', 'environments.notes', 'canary-sees-rows'],
      ],
    );
  });

  it('finds a second permissive policy that widens the tenant filter, and a tenant policy that no longer filters', async () => {
    await expectCaught(
      () => sql`create policy peek on catalog.services using (true)`.execute(pooled),
      () => sql`drop policy peek on catalog.services`.execute(pooled),
      [
        ['pooled', 'catalog.services', 'policy-extra'],
        ['pooled', 'catalog.services', 'canary-sees-rows'],
      ],
    );
    await expectCaught(
      () => sql`alter policy tenant_isolation on environments.environments using (tenant_id is not null)`.execute(silo),
      () => sql`alter policy tenant_isolation on environments.environments using (tenant_id = current_setting('app.tenant_id', true))`.execute(silo),
      [
        ['silo-a', 'environments.environments', 'policy-not-tenant'],
        ['silo-a', 'environments.environments', 'canary-sees-rows'],
      ],
    );
  });

  it("finds a service role with privileges on another service's table, and a view that reads past row-level security", async () => {
    await expectCaught(
      () => sql`grant select on tenants.members to rp_catalog`.execute(pooled),
      () => sql`revoke select on tenants.members from rp_catalog`.execute(pooled),
      [['pooled', 'tenants.members', 'role-cross-schema']],
    );
    await expectCaught(
      async () => {
        await sql`create view catalog.every_service as select tenant_id, name from catalog.services`.execute(pooled);
        await sql`grant select on catalog.every_service to rp_catalog`.execute(pooled);
      },
      () => sql`drop view catalog.every_service`.execute(pooled),
      [
        ['pooled', 'catalog.every_service', 'view-bypasses-rls'],
        ['pooled', 'catalog.every_service', 'canary-sees-rows'],
      ],
    );
  });

  it('finds a service role that owns one of its tables', async () => {
    await expectCaught(
      () => sql`alter table catalog.retired_environments owner to rp_catalog`.execute(pooled),
      () => sql`alter table catalog.retired_environments owner to current_user`.execute(pooled),
      [['pooled', 'catalog.retired_environments', 'role-owns']],
    );
  });

  it('finds a service role that bypasses row-level security (roles are per server: PGlite only)', async () => {
    // On a PostgreSQL server roles are shared by every test database on it; changing one here
    // would break the other test files running at the same time.
    if (t.db.engine !== 'pglite') return;
    await expectCaught(
      () => sql`alter role rp_catalog bypassrls`.execute(pooled),
      () => sql`alter role rp_catalog nobypassrls`.execute(pooled),
      [
        ['pooled', 'rp_catalog', 'role-bypassrls'],
        ['pooled', 'catalog.services', 'canary-sees-rows'],
        ['pooled', 'catalog.outbox', 'canary-sees-rows'],
      ],
    );
  });

  it('reads as a canary tenant no tenant can be', () => {
    expect(CANARY_TENANT).not.toMatch(/^[a-z0-9][a-z0-9-]{1,62}$/);
  });
});
