/**
 * The outbox's delivery state machine, on a real database (PGlite, or the PostgreSQL server with
 * TEST_DATABASE_URL), in a probe service's schema migrated like a real service's.
 *
 * The sink is an in-process stand-in for the events queue that fails on purpose for some events
 * (the success path against a real queue, Azurite, is in test/e2e.test.ts): it refuses "poison"
 * events as the Storage queue refuses a message over 64 KiB, or everything while it is "down".
 */
import { Migrator, sql, type Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestDatabase, type TestDatabase } from '../../test/database.js';
import { SqlDatabases, inScope, type Placement, type ServiceSql } from '../sql/database.js';
import { loadSqlSettings } from '../settings.js';
import { checkOrder, createKernelTables, migrateAll, MigrationError } from '../sql/migrator.js';
import { backoffDelayMs, claimDue, DELIVERY_POLICY, emit, publishPending, type CloudEvent, type EventSink } from './outbox.js';

const pooled: Placement = { model: 'pooled' };
const probe = { service: 'outboxprobe', schema: 'outbox_probe', role: 'rp_outbox_probe' };
const init = { '0001_init': { up: (db: Kysely<any>) => createKernelTables(db) } };

let tdb: TestDatabase;
let dbs: SqlDatabases;
let db: Kysely<any>;

beforeAll(async () => {
  tdb = await startTestDatabase();
  dbs = new SqlDatabases(loadSqlSettings({ SQL_CONNECTION_STRING: tdb.url }));
  db = dbs.forPlacement(pooled);
});
afterAll(async () => {
  await dbs?.close();
  await tdb?.stop();
});

/** A stand-in for the events queue that refuses some events on purpose. */
class TestSink implements EventSink {
  sent: CloudEvent[] = [];
  tries = 0;
  down = false;
  constructor(private readonly refuse: (e: CloudEvent) => boolean = (e) => e.type === 'RuntimePlatform.Poison') {}
  async send(e: CloudEvent): Promise<void> {
    this.tries++;
    if (this.down) throw new Error('connect ECONNREFUSED (queue down)');
    if (this.refuse(e)) throw Object.assign(new Error('The request body is too large and exceeds the maximum permissible limit.'), { name: 'RestError' });
    this.sent.push(e);
  }
  order = () => this.sent.map((e) => `${e.subject}:${e.data.n as number}`);
}

async function emitAll(events: { tenant?: string; type?: string; subject: string; n: number }[], svc: ServiceSql = probe): Promise<string[]> {
  return inScope(db, { platform: true, placement: pooled }, svc, async (trx) => {
    const ids: string[] = [];
    for (const e of events) ids.push(await emit(trx, e.tenant ?? 't1', { type: e.type ?? 'Changed', subject: e.subject, data: { n: e.n } }));
    return ids;
  });
}

type Row = { id: string; subject: string; attempts: number; next_attempt_at: Date; dead_lettered_at: Date | null; published_at: Date | null; last_error: string | null; claimed_until: Date | null };
const rows = async (schema = probe.schema) =>
  (await sql<Row>`select id, subject, attempts, next_attempt_at, dead_lettered_at, published_at, last_error, claimed_until
                  from ${sql.table(`${schema}.outbox`)} order by seq`.execute(db)).rows;

describe('kernel migrations', () => {
  it('bring an outbox created before them up to date, numbering its events by creation time, and leave published ones published', async () => {
    const old = { service: 'oldprobe', schema: 'old_probe', role: 'rp_old_probe' };
    // A schema as the migrator left it before the kernel migrations existed: the first version only.
    await sql`create schema old_probe`.execute(db);
    const before = new Migrator({
      db,
      provider: { getMigrations: async () => ({ '0001_init': { up: async (d: Kysely<any>) => { await sql`set local search_path = old_probe`.execute(d); await createKernelTables(d); } } }) },
      migrationTableSchema: 'old_probe',
      migrationTableName: 'migrations',
      migrationLockTableName: 'migrations_lock',
    });
    expect((await before.migrateToLatest()).error).toBeUndefined();
    await sql`insert into old_probe.outbox (tenant_id, id, type, subject, data, created_at, published_at) values
                ('t1', gen_random_uuid(), 'Changed', 'a', '{"n":2}', now() - interval '1 minute', null),
                ('t1', gen_random_uuid(), 'Changed', 'a', '{"n":1}', now() - interval '2 minutes', null),
                ('t1', gen_random_uuid(), 'Changed', 'a', '{"n":0}', now() - interval '3 minutes', now() - interval '2 minutes')`.execute(db);

    const [report] = await migrateAll(db, [{ ...old, migrations: init }]);
    expect(report?.applied).toEqual(['kernel_0001_outbox_delivery']);
    const history = await sql<{ name: string }>`select name from old_probe.migrations order by name`.execute(db);
    expect(history.rows.map((r) => r.name)).toEqual(['0001_init', 'kernel_0001_outbox_delivery']);
    // Again: nothing to do.
    expect((await migrateAll(db, [{ ...old, migrations: init }]))[0]?.applied).toEqual([]);

    const sink = new TestSink();
    const r = await publishPending(db, pooled, old, sink);
    expect(r).toMatchObject({ claimed: 2, published: 2 });
    expect(sink.order()).toEqual(['a:1', 'a:2']);
    // New events after the old ones.
    await emitAll([{ subject: 'a', n: 3 }], old);
    // An event is due from the database's now() at its emit (microseconds); the pass's clock is a
    // JavaScript Date (milliseconds), so within the same millisecond it would not be due yet.
    await publishPending(db, pooled, old, sink, { now: () => new Date(Date.now() + 1) });
    expect(sink.order()).toEqual(['a:1', 'a:2', 'a:3']);
  });

  it("apply a service's migration added after a kernel migration, and keep each list in order", async () => {
    const svc = { service: 'laterprobe', schema: 'later_probe', role: 'rp_later_probe' };
    await migrateAll(db, [{ ...svc, migrations: init }]);
    const later = { ...init, '0002_more': { up: async (d: Kysely<any>) => void (await sql`create table more (tenant_id text primary key)`.execute(d)) } };
    expect((await migrateAll(db, [{ ...svc, migrations: later }]))[0]?.applied).toEqual(['0002_more']);
    // A new service migration that sorts before an applied one of its own list is refused …
    expect(() => checkOrder('x', ['0001_init', '0000_early', 'kernel_0001_outbox_delivery'], ['0001_init', 'kernel_0001_outbox_delivery'])).toThrow(MigrationError);
    // … as is a new kernel migration sorting before an applied kernel one; the lists may interleave.
    expect(() => checkOrder('x', ['0001_init', 'kernel_0000_early', 'kernel_0001_x'], ['0001_init', 'kernel_0001_x'])).toThrow(/kernel_0000_early/);
    expect(() => checkOrder('x', ['0001_init', '0002_b', 'kernel_0001_x'], ['0001_init', 'kernel_0001_x'])).not.toThrow();
    // A service may not name a migration with the kernel's prefix.
    await expect(migrateAll(db, [{ ...svc, migrations: { ...later, kernel_9999_mine: { up: async () => undefined } } }])).rejects.toThrow(/kernel's prefix/);
  });
});

describe('publishing', () => {
  beforeAll(async () => {
    await migrateAll(db, [{ ...probe, migrations: init }]);
  });
  const reset = async () => void (await sql`delete from outbox_probe.outbox`.execute(db));

  it('keeps the events of one transaction and one subject in order', async () => {
    await reset();
    await emitAll([{ subject: 's', n: 1 }, { subject: 's', n: 2 }, { subject: 's', n: 3 }, { subject: 's', n: 4 }]);
    const sink = new TestSink();
    expect(await publishPending(db, pooled, probe, sink)).toMatchObject({ claimed: 4, published: 4 });
    expect(sink.order()).toEqual(['s:1', 's:2', 's:3', 's:4']);
    expect((await rows()).every((r) => r.published_at !== null && r.claimed_until === null)).toBe(true);
  });

  it('retries a failing event with exponential backoff, holds back later events of its subject only, and dead-letters it after the last attempt', async () => {
    await reset();
    let clock = new Date('2030-01-01T00:00:00Z');
    const now = () => clock;
    const [poison] = await emitAll([
      { subject: 'a', n: 1, type: 'Poison' },
      { subject: 'b', n: 1 },
      { subject: 'a', n: 2 },
      { subject: 'c', n: 1 },
    ]);
    await sql`update outbox_probe.outbox set next_attempt_at = ${clock}`.execute(db);
    const sink = new TestSink();

    // First pass: b and c go out; the poison event fails; a:2 waits behind it (released, no attempt).
    expect(await publishPending(db, pooled, probe, sink, { now })).toEqual({ claimed: 4, published: 2, retrying: 1, deadLettered: 0, released: 1 });
    expect(sink.order()).toEqual(['b:1', 'c:1']);
    const state = await rows();
    expect(state.map((r) => [r.subject, r.attempts, r.published_at !== null])).toEqual([
      ['a', 1, false],
      ['b', 0, true],
      ['a', 0, false],
      ['c', 0, true],
    ]);
    expect(state[0]?.last_error).toBe('RestError: The request body is too large and exceeds the maximum permissible limit.');
    expect(state[0]!.next_attempt_at.getTime() - clock.getTime()).toBe(backoffDelayMs(1));

    // Later events of other subjects are not held back by it.
    await emitAll([{ subject: 'd', n: 1 }]);
    await sql`update outbox_probe.outbox set next_attempt_at = ${clock} where subject = 'd'`.execute(db);
    clock = new Date(clock.getTime() + 1_000);
    expect(await publishPending(db, pooled, probe, sink, { now })).toMatchObject({ claimed: 1, published: 1 });
    expect(sink.order()).toEqual(['b:1', 'c:1', 'd:1']);

    // Each time its backoff ends it is tried again, the wait doubling up to the cap; a:2 stays held back.
    const waits: number[] = [];
    for (let attempt = 2; attempt <= DELIVERY_POLICY.maxAttempts; attempt++) {
      const due = (await rows()).find((r) => r.id === poison)!.next_attempt_at;
      clock = new Date(due.getTime() - 1);
      expect((await publishPending(db, pooled, probe, sink, { now })).claimed, 'nothing due before the backoff ends').toBe(0);
      clock = due;
      const r = await publishPending(db, pooled, probe, sink, { now });
      expect(r.claimed).toBe(2);
      expect(sink.order()).not.toContain('a:2');
      const p = (await rows()).find((x) => x.id === poison)!;
      expect(p.attempts).toBe(attempt);
      if (attempt < DELIVERY_POLICY.maxAttempts) {
        expect(r).toMatchObject({ retrying: 1, released: 1 });
        waits.push(p.next_attempt_at.getTime() - clock.getTime());
      } else {
        expect(r).toMatchObject({ deadLettered: 1, released: 1 });
        expect(p.dead_lettered_at).toEqual(clock);
      }
    }
    expect(waits).toEqual([20, 40, 80, 160, 320, 640, 1280, 2560, 3600, 3600].map((s) => s * 1000));

    // Dead-lettered, it no longer holds its subject back.
    expect(await publishPending(db, pooled, probe, sink, { now })).toMatchObject({ claimed: 1, published: 1 });
    expect(sink.order().at(-1)).toBe('a:2');
    expect(sink.sent.filter((e) => e.type === 'RuntimePlatform.Poison')).toHaveLength(0);
    expect(sink.tries).toBe(3 + 1 + (DELIVERY_POLICY.maxAttempts - 1) + 1);
  });

  it('loses nothing when a publisher dies after claiming: the lease expires and another publisher sends the events', async () => {
    await reset();
    let clock = new Date('2030-02-01T00:00:00Z');
    const now = () => clock;
    await emitAll([{ subject: 'x', n: 1 }, { subject: 'x', n: 2 }, { subject: 'y', n: 1 }]);
    await sql`update outbox_probe.outbox set next_attempt_at = ${clock}`.execute(db);
    // The claim commits; the "crashed" publisher never sends or settles.
    const claimed = await claimDue(db, pooled, probe, { now, limit: 100 });
    expect(claimed.rows).toHaveLength(3);
    const sink = new TestSink();
    clock = new Date(clock.getTime() + DELIVERY_POLICY.leaseMs - 1);
    expect((await publishPending(db, pooled, probe, sink, { now })).claimed, 'leased events are not claimed twice').toBe(0);
    clock = new Date(clock.getTime() + 1);
    expect(await publishPending(db, pooled, probe, sink, { now })).toMatchObject({ claimed: 3, published: 3 });
    expect(sink.order()).toEqual(['x:1', 'x:2', 'y:1']);
  });

  it('sends each event once when publishers run concurrently, each subject in order', async () => {
    await reset();
    const events = Array.from({ length: 30 }, (_, i) => ({ subject: `s${i % 4}`, n: i }));
    await emitAll(events);
    const sent: string[] = [];
    const slow: EventSink = {
      send: async (e) => {
        await new Promise((r) => setTimeout(r, 5));
        sent.push(`${e.subject}:${e.data.n as number}`);
      },
    };
    for (let pass = 0; pass < 20 && sent.length < events.length; pass++) {
      await Promise.all([0, 1, 2].map(() => publishPending(db, pooled, probe, slow, { limit: 7 })));
    }
    expect(sent.slice().sort()).toEqual(events.map((e) => `${e.subject}:${e.n}`).sort());
    for (const s of ['s0', 's1', 's2', 's3']) {
      const ns = sent.filter((x) => x.startsWith(`${s}:`)).map((x) => Number(x.split(':')[1]));
      expect(ns, s).toEqual([...ns].sort((a, b) => a - b));
    }
  });

  it('stops a pass when the sink looks down, counting attempts only against the events it tried', async () => {
    await reset();
    await emitAll(Array.from({ length: 8 }, (_, i) => ({ subject: `k${i}`, n: i })));
    const sink = new TestSink();
    sink.down = true;
    expect(await publishPending(db, pooled, probe, sink)).toMatchObject({ claimed: 8, retrying: DELIVERY_POLICY.sinkDownAfter, released: 8 - DELIVERY_POLICY.sinkDownAfter });
    expect(sink.tries).toBe(DELIVERY_POLICY.sinkDownAfter);
    expect((await rows()).map((r) => r.attempts)).toEqual([1, 1, 1, 0, 0, 0, 0, 0]);
    sink.down = false;
    expect(await publishPending(db, pooled, probe, sink)).toMatchObject({ claimed: 5, published: 5 });
  });
});
