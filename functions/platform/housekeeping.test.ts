import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../../test/app.js';
import { services } from '../../composition/services.js';
import { loadDatabaseServices } from '../../composition/app.js';
import { expireKernelRecords, KERNEL_RECORD_RETENTION_DAYS } from './housekeeping.js';

let t: TestApp;
let clock = new Date('2026-03-01T00:00:00Z');

beforeAll(async () => {
  t = await startTestApp({ now: () => clock });
});
afterAll(() => t?.close());

describe('platformHousekeeping', () => {
  it('deletes published events and idempotency records past retention, keeps the rest', async () => {
    const root = await t.token('platform-admin', { admin: true });
    await t.call('POST', 'tenants', { token: root, body: { id: 'hk', displayName: 'HK' }, headers: { 'repeatability-request-id': 'hk-1' } });
    const db = t.owner.forPlacement({ model: 'pooled' });
    const count = async (q: string) => (await sql<{ n: number }>`select count(*)::int as n from ${sql.raw(q)}`.execute(db)).rows[0]?.n;
    // Age everything: one event published long ago, one still pending.
    await sql`insert into tenants.outbox (tenant_id, id, type, subject, data, published_at, created_at)
              values ('hk', gen_random_uuid(), 'Old', 's', '{}', now() - interval '30 days', now() - interval '30 days'),
                     ('hk', gen_random_uuid(), 'Pending', 's', '{}', null, now() - interval '30 days')`.execute(db);
    await sql`update tenants.idempotency set created_at = now() - interval '30 days'`.execute(db);
    clock = new Date();
    const before = { pending: await count("tenants.outbox where published_at is null and type = 'Pending'"), idem: await count('tenants.idempotency') };
    expect(before).toEqual({ pending: 1, idem: 1 });
    const r = await expireKernelRecords(t.kernel, await loadDatabaseServices(services));
    expect(r.outbox).toBeGreaterThanOrEqual(1);
    expect(r.idempotency).toBe(1);
    expect(await count("tenants.outbox where type = 'Old'")).toBe(0);
    // Pending events are never expired: they are still owed to consumers.
    expect(await count("tenants.outbox where type = 'Pending'")).toBe(1);
    expect(await count('tenants.idempotency')).toBe(0);
    // Recent records stay.
    await t.call('POST', 'tenants', { token: root, body: { id: 'hk2', displayName: 'HK2' }, headers: { 'repeatability-request-id': 'hk-2' } });
    await expireKernelRecords(t.kernel, await loadDatabaseServices(services));
    expect(await count('tenants.idempotency')).toBe(1);
    expect(KERNEL_RECORD_RETENTION_DAYS).toBe(7);
  });
});
