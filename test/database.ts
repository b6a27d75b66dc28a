/**
 * Test databases: a fresh database per test file. With TEST_DATABASE_URL (a PostgreSQL server's
 * admin URL) a new database is created on that server and dropped afterwards; otherwise an
 * in-memory PGlite is served over the PostgreSQL wire protocol, so the app's `pg` code path is the
 * same in both.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { startPglite } from '../emulator/pglite.js';

export interface TestDatabase {
  url: string;
  /** `pglite` or `postgres`, for test names and benchmarks. */
  engine: 'pglite' | 'postgres';
  stop(): Promise<void>;
}

/** Starts (or creates) one database. */
export async function startTestDatabase(label = 'rp'): Promise<TestDatabase> {
  const admin = process.env.TEST_DATABASE_URL;
  if (admin) {
    const name = `${label}_${randomBytes(6).toString('hex')}`.toLowerCase();
    const c = new pg.Client({ connectionString: admin });
    await c.connect();
    await c.query(`create database ${name}`);
    await c.end();
    const url = new URL(admin);
    url.pathname = `/${name}`;
    return {
      url: url.toString(),
      engine: 'postgres',
      stop: async () => {
        const d = new pg.Client({ connectionString: admin });
        await d.connect();
        await d.query(`drop database if exists ${name} with (force)`);
        await d.end();
      },
    };
  }
  // The local stack's PGlite server: one connection at a time per query batch or transaction,
  // started from a cached template (about 0.5 s instead of several seconds).
  const server = await startPglite({ templateCacheDir: '.local/cache' });
  return { url: server.connectionString, engine: 'pglite', stop: () => server.stop() };
}
