/**
 * The whole app in-process for tests: a fresh database (see database.ts), migrations, the real
 * composition (kernel + every service), and `call()` that drives a registered function through
 * the real `HttpRequest` / `InvocationContext` of `@azure/functions`.
 */
import azureFunctions from '@azure/functions';
import { mkdtemp, rm } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureDevIssuer, mintDevToken, type DevIssuerKeys } from '../shared/auth/dev-issuer.js';
import { createKernel, type Kernel } from '../shared/kernel.js';
import { loadSettings } from '../shared/settings.js';
import { registerAll } from '../composition/registry.js';
import { serviceMigrations } from '../composition/migrations.js';
import { wire } from '../composition/wiring.js';
import { Registrar } from '../shared/registrar.js';
import { parseRouteTemplate } from '../scripts/local/host/routes.js';
import { servicesIn, SqlDatabases } from '../shared/sql/database.js';
import { sql } from 'kysely';
import pg from 'pg';
import { expect } from 'vitest';

// @azure/functions is CommonJS whose classes Node's ESM loader cannot see as named exports.
const { HttpRequest, InvocationContext } = azureFunctions;
import { runMigrations } from '../scripts/migrate.js';
import { migrateAll, type ServiceMigrations } from '../shared/sql/migrator.js';
import { startTestDatabase, type TestDatabase } from './database.js';

export interface CallOptions {
  token?: string;
  body?: unknown;
  /** Raw body bytes/text, sent as-is (for malformed-input tests). */
  rawBody?: string | Uint8Array;
  headers?: Record<string, string>;
}

export interface CallResult {
  status: number;
  headers: Headers;
  body: any;
}

export interface TestApp {
  kernel: Kernel;
  /** The databases as their owner (past row-level security), for tests that look at stored rows. */
  owner: SqlDatabases;
  registrar: Registrar;
  db: TestDatabase;
  silos: Record<string, TestDatabase>;
  /** Calls `METHOD /api/<path>` through the registered function. */
  call(method: string, path: string, opts?: CallOptions): Promise<CallResult>;
  token(sub: string, opts?: { admin?: boolean; kind?: 'user' | 'app' }): Promise<string>;
  /** Shorthand: creates a tenant (as a platform admin) and makes `admin` its admin. */
  createTenant(id: string, admin: string, extra?: Record<string, unknown>): Promise<void>;
  /** Shorthand: grants `principal` a role in `tenant` (as a platform admin). */
  addMember(tenant: string, principal: string, role: 'reader' | 'operator' | 'admin'): Promise<void>;
  /**
   * Migrates one more service into every database as the owner, then (on a PostgreSQL server) makes
   * the app login a member of its role: a deployment's order for a new service (`npm run migrate`,
   * then `infra/sql/app-login.sql`).
   */
  addService(svc: ServiceMigrations): Promise<void>;
  /** A digest of every service table in every database (read as the owner, past row-level security). */
  snapshot(): Promise<Record<string, string>>;
  close(): Promise<void>;
}

/** Asserts a response is an error in the API's format, with the status (and code) given. */
export function expectApiError(r: CallResult, status: number, code?: string): void {
  expect(r.status, JSON.stringify(r.body)).toBe(status);
  expect(r.headers.get('x-ms-error-code')).toBe(r.body?.error?.code);
  expect(typeof r.body?.error?.message).toBe('string');
  if (code) expect(r.body.error.code).toBe(code);
}

/** Options for {@link startTestApp}. */
export interface TestAppOptions {
  /** Names of silo databases to create and configure. */
  silos?: string[];
  env?: Record<string, string>;
  now?: () => Date;
}

/** Starts the app against fresh databases. Call `close()` in `afterAll`. */
export async function startTestApp(opts: TestAppOptions = {}): Promise<TestApp> {
  const db = await startTestDatabase();
  const silos: Record<string, TestDatabase> = {};
  for (const name of opts.silos ?? []) silos[name] = await startTestDatabase(`rp_silo`);
  const dir = await mkdtemp(join(tmpdir(), 'rp-test-'));
  const keyFile = join(dir, 'dev-issuer.jwk.json');
  const keys: DevIssuerKeys = await ensureDevIssuer(keyFile);
  const env = {
    SQL_CONNECTION_STRING: db.url,
    SQL_SILOS: JSON.stringify(Object.fromEntries(Object.entries(silos).map(([k, v]) => [k, v.url]))),
    SQL_POOL_MAX: '8',
    AUTH_MODE: 'dev',
    AUTH_DEV_KEY_FILE: keyFile,
    TENANT_CACHE_TTL_MS: '0',
    ...opts.env,
  };
  await runMigrations(env);
  // On a PostgreSQL server the app connects as an ordinary login (not superuser, no BYPASSRLS,
  // owning nothing) that is only a member of the service roles, as in Azure. PGlite has one
  // session user, so there the service roles alone carry the boundary.
  const appEnv = { ...env };
  if (db.engine === 'postgres') {
    await grantAppLogin([db, ...Object.values(silos)], serviceMigrations.map((s) => s.role));
    appEnv.SQL_CONNECTION_STRING = asAppLogin(db.url);
    appEnv.SQL_SILOS = JSON.stringify(Object.fromEntries(Object.entries(silos).map(([k, v]) => [k, asAppLogin(v.url)])));
  }
  const kernel = wire(createKernel(loadSettings(appEnv), opts.now ? { now: opts.now } : {}));
  const owner = new SqlDatabases(loadSettings(env).sql);
  const registrar = new Registrar(async () => kernel);
  registerAll(registrar);
  await registrar.loadAll();

  const token: TestApp['token'] = (sub, o = {}) =>
    mintDevToken(keys, { subject: sub, audience: kernel.settings.auth.audience, ...o });

  const call: TestApp['call'] = async (method, path, o = {}) => {
    const url = new URL(`http://127.0.0.1:7071/api/${path.replace(/^\//, '')}`);
    const match = findRoute(kernel, method, url.pathname.slice('/api/'.length));
    const headers: Record<string, string> = { ...o.headers };
    if (o.token) headers.authorization = `Bearer ${o.token}`;
    let body: string | Uint8Array | undefined;
    if (o.rawBody !== undefined) body = o.rawBody;
    else if (o.body !== undefined) body = JSON.stringify(o.body);
    if (body !== undefined) {
      headers['content-type'] ??= method === 'PATCH' ? 'application/merge-patch+json' : 'application/json';
      headers['content-length'] ??= String(typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength);
    }
    // No function serves this path: the host answers 404 itself, in the same error format.
    if (!match) return { status: 404, headers: new Headers({ 'x-ms-error-code': 'NotFound' }), body: { error: { code: 'NotFound', message: 'No function serves this route.' } } };
    const request = new HttpRequest({
      method,
      url: url.toString(),
      headers,
      params: match.params,
      query: Object.fromEntries(url.searchParams.entries()),
      ...(body !== undefined ? { body: typeof body === 'string' ? { string: body } : { bytes: body } } : {}),
    });
    const context = new InvocationContext({
      functionName: match.name,
      invocationId: randomUUID(),
      // System errors are printed so a failing test shows why; user errors stay quiet.
      logHandler: (level, ...args) => (level === 'error' ? console.error(...args) : undefined),
    });
    const res = await match.handler(request, context);
    const text = typeof res.body === 'string' ? res.body : undefined;
    return { status: res.status ?? 200, headers: new Headers(res.headers), body: text ? JSON.parse(text) : undefined };
  };

  return {
    kernel,
    owner,
    registrar,
    db,
    silos,
    call,
    token,
    async createTenant(id, admin, extra = {}) {
      const root = await token('platform-admin', { admin: true });
      const r = await call('POST', 'tenants', { token: root, body: { id, displayName: id, ...extra } });
      if (r.status !== 201) throw new Error(`createTenant ${id}: ${r.status} ${JSON.stringify(r.body)}`);
      const m = await call('PUT', `tenants/${id}/members/${admin}`, { token: root, body: { role: 'admin' } });
      if (m.status !== 201) throw new Error(`add admin ${id}: ${m.status} ${JSON.stringify(m.body)}`);
    },
    async addMember(tenant, principal, role) {
      const root = await token('platform-admin', { admin: true });
      const m = await call('PUT', `tenants/${tenant}/members/${principal}`, { token: root, body: { role } });
      if (m.status !== 201 && m.status !== 200) throw new Error(`add ${principal} to ${tenant}: ${m.status} ${JSON.stringify(m.body)}`);
    },
    async addService(svc) {
      for (const { db: k, placement } of owner.all()) await migrateAll(k, servicesIn(placement, [svc]));
      if (db.engine === 'postgres') await grantAppLogin([db, ...Object.values(silos)], [svc.role]);
    },
    async snapshot() {
      const out: Record<string, string> = {};
      for (const { name, db: k, placement } of owner.all()) {
        for (const svc of servicesIn(placement, serviceMigrations)) {
          const tables = await sql<{ t: string }>`select tablename as t from pg_tables where schemaname = ${svc.schema}
                                                   and tablename not like 'migrations%' order by 1`.execute(k);
          for (const { t } of tables.rows) {
            const r = await sql<{ d: string | null; n: number }>`select md5(coalesce(string_agg(x::text, '|' order by x::text), '')) as d,
                        count(*)::int as n from ${sql.table(`${svc.schema}.${t}`)} x`.execute(k);
            out[`${name}:${svc.schema}.${t}`] = `${r.rows[0]?.n}:${r.rows[0]?.d}`;
          }
        }
      }
      return out;
    },
    async close() {
      await kernel.sql.close();
      await owner.close();
      await db.stop();
      for (const s of Object.values(silos)) await s.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The login the app uses on a PostgreSQL server in tests. */
export const APP_LOGIN = 'rp_app_login';

function asAppLogin(url: string): string {
  const u = new URL(url);
  u.username = APP_LOGIN;
  u.password = '';
  return u.toString();
}

/**
 * Creates the app login if missing and makes it a member of `roles`: exactly the roles the test's
 * migrations created. Roles are cluster-wide and outlive test databases, so granting whatever
 * `rp_*` roles the server has would let a test pass on a role an earlier run left behind.
 */
async function grantAppLogin(dbs: TestDatabase[], roles: string[]): Promise<void> {
  for (const d of dbs) {
    const c = new pg.Client({ connectionString: d.url });
    await c.connect();
    try {
      await c.query(`do $$ begin
          if not exists (select 1 from pg_roles where rolname = '${APP_LOGIN}') then
            create role ${APP_LOGIN} login nosuperuser nocreatedb nocreaterole nobypassrls;
          end if;
        exception when duplicate_object or unique_violation then null;
        end $$`);
      for (const rolname of new Set(roles)) {
        await c.query(`grant ${pg.escapeIdentifier(rolname)} to ${APP_LOGIN}`).catch((e: { code?: string }) => {
          // Concurrent grants from other test files: already a member is fine.
          if (e.code !== '23505' && e.code !== 'XX000') throw e;
        });
      }
    } finally {
      await c.end();
    }
  }
}

// Parsed once per template: parsing on every call cost ~25 µs, which benchmarks counted as pipeline time.
const templates = new Map<string, ReturnType<typeof parseRouteTemplate>>();
const templateOf = (route: string) => templates.get(route) ?? templates.set(route, parseRouteTemplate(route)).get(route)!;

/** Matches `path` against the registered routes with the local host's matcher (same precedence). */
function findRoute(kernel: Kernel, method: string, path: string) {
  const candidates = kernel.routes.routes
    .filter((r) => r.method === method)
    .map((r) => ({ r, t: templateOf(r.route) }))
    .sort((a, b) => a.t.precedence - b.t.precedence);
  for (const { r, t } of candidates) {
    const params = t.match(path);
    if (params) return { ...r, params };
  }
  return undefined;
}
