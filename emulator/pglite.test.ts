/**
 * The embedded PostgreSQL as the app sees it: `pg` over the wire protocol, several pool
 * connections sharing PGlite's one session.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPglite, type PgliteServer } from './pglite.js';

let server: PgliteServer;
let pool: pg.Pool;

beforeAll(async () => {
  server = await startPglite({ templateCacheDir: '.local/cache' });
  pool = new pg.Pool({ connectionString: server.connectionString, max: 8 });
});

afterAll(async () => {
  await pool?.end();
  await server?.stop();
});

describe('PGlite over the wire protocol', () => {
  it('answers plain and parameterised queries, with no extension needed for ordinary SQL', async () => {
    expect(server.connectionString).toMatch(/^postgres:\/\/postgres@127\.0\.0\.1:\d+\/postgres$/);
    const { rows } = await pool.query<{ id: string; doc: { a: number }; n: number }>(
      `select gen_random_uuid()::text as id, $1::jsonb as doc, $2::int + 1 as n`,
      [JSON.stringify({ a: 1 }), 41],
    );
    expect(rows[0]?.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(rows[0]?.doc).toEqual({ a: 1 });
    expect(rows[0]?.n).toBe(42);
  });

  it('keeps concurrent extended-protocol batches apart, even with large parameters', async () => {
    // Large parameters arrive in several TCP chunks: a per-message multiplexer would interleave
    // one connection's Bind with another's Parse here.
    const big = 'x'.repeat(200_000);
    const results = await Promise.all(
      Array.from({ length: 24 }, (_, i) =>
        i % 2
          ? pool.query<{ x: number; len: number }>('select $1::int as x, length($2::text) as len', [i, big])
          : pool.query<{ x: string; len: number }>('select $1::text as x, 0 as len', [`s${i}`]),
      ),
    );
    results.forEach((r, i) => expect(r.rows[0]).toEqual(i % 2 ? { x: i, len: 200_000 } : { x: `s${i}`, len: 0 }));
  });

  it('keeps two pool connections’ transactions from seeing each other’s uncommitted rows', async () => {
    await pool.query('create table tx_probe (who text)');
    const a = await pool.connect();
    const b = await pool.connect();
    try {
      await a.query('begin');
      await a.query(`insert into tx_probe values ('a')`);
      // b starts its own transaction while a's is open; PGlite runs it once a's has ended.
      const bWork = (async () => {
        await b.query('begin');
        await b.query(`insert into tx_probe values ('b')`);
        const seen = await b.query<{ who: string }>('select who from tx_probe order by who');
        await b.query('commit');
        return seen.rows.map((r) => r.who);
      })();
      const seenByA = await a.query<{ who: string }>('select who from tx_probe order by who');
      expect(seenByA.rows.map((r) => r.who)).toEqual(['a']);
      await a.query('rollback');
      expect(await bWork).toEqual(['b']);
    } finally {
      a.release();
      b.release();
    }
    const after = await pool.query<{ who: string }>('select who from tx_probe order by who');
    expect(after.rows.map((r) => r.who)).toEqual(['b']);
  });

  it('rolls back the transaction of a connection that goes away mid-transaction', async () => {
    await pool.query('create table dropped_probe (n int)');
    const client = new pg.Client({ connectionString: server.connectionString });
    await client.connect();
    await client.query('begin');
    await client.query('insert into dropped_probe values (1)');
    const waiting = pool.query<{ count: string }>('select count(*)::text as count from dropped_probe');
    // Drop the socket without COMMIT or Terminate, as a crashed worker would.
    (client as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
    client.on('error', () => undefined);
    expect((await waiting).rows[0]?.count).toBe('0');
  });

  it('enforces row-level security for a non-owner role set per transaction', async () => {
    await pool.query(`
      create role rls_app nologin;
      create table rls_items (tenant_id text not null, name text not null);
      alter table rls_items enable row level security;
      alter table rls_items force row level security;
      create policy tenant_rows on rls_items
        using (tenant_id = current_setting('app.tenant_id', true))
        with check (tenant_id = current_setting('app.tenant_id', true));
      grant select, insert on rls_items to rls_app;
      insert into rls_items values ('t1', 'one'), ('t2', 'two');
    `);
    const c = await pool.connect();
    try {
      await c.query('begin');
      await c.query('set local role rls_app');
      await c.query(`select set_config('app.tenant_id', $1, true)`, ['t1']);
      const { rows } = await c.query<{ name: string }>('select name from rls_items');
      expect(rows.map((r) => r.name)).toEqual(['one']);
      await expect(c.query(`insert into rls_items values ('t2', 'sneaky')`)).rejects.toThrow(/row-level security/);
      await c.query('rollback');

      // Role and tenant were transaction-local: the next transaction is back to the login role.
      const who = await c.query<{ u: string; t: string | null }>(`select current_user as u, current_setting('app.tenant_id', true) as t`);
      expect(who.rows[0]?.u).toBe('postgres');
      expect(who.rows[0]?.t ?? '').toBe('');

      // Without a tenant set, the app role sees nothing.
      await c.query('begin');
      await c.query(`select set_config('role', 'rls_app', true)`);
      expect((await c.query('select * from rls_items')).rowCount).toBe(0);
      await c.query('commit');
    } finally {
      c.release();
    }
  });
});
