/**
 * Test databases: a fresh database per test file. With TEST_DATABASE_URL (a PostgreSQL server's
 * admin URL) a new database is created on that server and dropped afterwards; otherwise an
 * in-memory PGlite is served over the PostgreSQL wire protocol, so the app's `pg` code path is the
 * same in both.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

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
  const { PGlite } = await import('@electric-sql/pglite');
  const { PGLiteSocketServer } = await import('@electric-sql/pglite-socket');
  const db = await PGlite.create();
  const server = new PGLiteSocketServer({ db, port: 0, host: '127.0.0.1', maxConnections: 32 });
  let port = 0;
  server.addEventListener('listening', (e) => {
    port = (e as CustomEvent<{ port: number }>).detail.port;
  });
  await server.start();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    engine: 'pglite',
    stop: async () => {
      await server.stop();
      await db.close();
    },
  };
}
