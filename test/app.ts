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
import type { Telemetry } from '../shared/telemetry.js';
import { loadSettings } from '../shared/settings.js';
import { registerAll, services } from '../composition/services.js';
import { composeApp, loadDatabaseServices } from '../composition/app.js';
import type { App } from '../shared/registrar.js';
import type { LogHandler } from '@azure/functions';
import type { ServiceInstance } from '../shared/service.js';
import { parseRouteTemplate } from '../emulator/host/routes.js';
import { servicesIn, SqlDatabases } from '../shared/sql/database.js';
import { sql } from 'kysely';
import pg from 'pg';
import { expect } from 'vitest';

// @azure/functions is CommonJS whose classes Node's ESM loader cannot see as named exports.
const { HttpRequest, InvocationContext } = azureFunctions;
import { runMigrations } from '../scripts/migrate.js';
import { migrateAll, type ServiceMigrations } from '../shared/sql/migrator.js';
import { startTestDatabase, type TestDatabase } from './database.js';
import { ensureLocalCert } from '../emulator/certs.js';
import { startKeyVaultServer, type KeyVaultServer } from '../emulator/keyvault/server.js';
import { Contract, parseBody } from './contract.js';
import { startInProcessDurable, TestRegistrar, type InProcessDurable } from './durable.js';
import { durableClientInput } from '../shared/registrar.js';

export interface CallOptions {
  token?: string;
  body?: unknown;
  /** Raw body bytes/text, sent as-is (for malformed-input tests). */
  rawBody?: string | Uint8Array;
  /** Sends the body without a Content-Length header (as a chunked request arrives). */
  chunked?: boolean;
  /** The scheme and host the request arrives at (default `http://127.0.0.1:7071`). */
  origin?: string;
  headers?: Record<string, string>;
}

export interface CallResult {
  status: number;
  headers: Headers;
  /** The body parsed as its Content-Type says (JSON, or YAML for `application/yaml`). */
  body: any;
  /** The body as sent. */
  text?: string | undefined;
  /** The bytes of a streamed (binary) answer; `body` is then undefined. */
  bytes?: Buffer;
}

export interface TestApp {
  kernel: Kernel;
  /** The composed app: the route table and every service's instance. */
  app: App;
  /** A service's instance (its API and what its handlers use), by descriptor name. */
  instance<I extends ServiceInstance>(service: string): I;
  /** The databases as their owner (past row-level security), for tests that look at stored rows. */
  owner: SqlDatabases;
  registrar: TestRegistrar;
  /** Durable Functions in-process (see durable.ts): every call's context carries its durable client. */
  durable: InProcessDurable;
  /**
   * Invokes any registered function (a timer, an activity …) as the host would, with a context
   * that carries the durable client; answers what the function returned.
   */
  invoke(name: string, triggerInput?: unknown): Promise<unknown>;
  db: TestDatabase;
  silos: Record<string, TestDatabase>;
  /**
   * The Key Vault stand-in the app's `KEYVAULT_URL` points at (served over HTTPS with the stand-ins'
   * certificate, which test workers trust; see global-setup.ts), or `undefined` outside vitest.
   */
  keyVault: KeyVaultServer | undefined;
  /**
   * Calls `METHOD /api/<path>` through the registered function. Every answer is checked against the
   * published OpenAPI document (see contract.ts); one that breaks it throws, failing the test.
   */
  call(method: string, path: string, opts?: CallOptions): Promise<CallResult>;
  token(sub: string, opts?: { admin?: boolean; kind?: 'user' | 'app' }): Promise<string>;
  /** The published OpenAPI document as the contract `call` checks answers against. */
  contract(): Promise<Contract>;
  /** Shorthand: creates a tenant (as a platform admin) and makes `admin` its admin. */
  createTenant(id: string, admin: string, extra?: Record<string, unknown>): Promise<void>;
  /** Shorthand: a tenant (see `createTenant`) with one environment `main` holding one service `api`. */
  seedTenant(id: string, admin: string, extra?: Record<string, unknown>): Promise<{ token: string; environmentId: string; serviceId: string }>;
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
  /** The kernel's telemetry port (default: sends nothing). */
  telemetry?: Telemetry;
  /**
   * Checks every answer against the published OpenAPI document (default true). Benchmarks turn it
   * off: they time the app, not the test's own validation.
   */
  contract?: boolean;
}

/** Starts the app against fresh databases. Call `close()` in `afterAll`. */
export async function startTestApp(opts: TestAppOptions = {}): Promise<TestApp> {
  const db = await startTestDatabase();
  const silos: Record<string, TestDatabase> = {};
  for (const name of opts.silos ?? []) silos[name] = await startTestDatabase(`rp_silo`);
  const dir = await mkdtemp(join(tmpdir(), 'rp-test-'));
  const keyFile = join(dir, 'dev-issuer.jwk.json');
  const keys: DevIssuerKeys = await ensureDevIssuer(keyFile);
  const certDir = process.env.TEST_LOCAL_CERT_DIR;
  const keyVault = certDir ? await startKeyVaultServer({ tls: await ensureLocalCert(certDir) }) : undefined;
  const env = {
    SQL_CONNECTION_STRING: db.url,
    SQL_SILOS: JSON.stringify(Object.fromEntries(Object.entries(silos).map(([k, v]) => [k, v.url]))),
    SQL_POOL_MAX: '8',
    AUTH_MODE: 'dev',
    AUTH_DEV_ALLOW: 'local',
    AUTH_DEV_KEY_FILE: keyFile,
    TENANT_CACHE_TTL_MS: '0',
    ...(keyVault ? { KEYVAULT_URL: keyVault.url } : {}),
    ...opts.env,
  };
  await runMigrations(env);
  // On a PostgreSQL server the app connects as an ordinary login (not superuser, no BYPASSRLS,
  // owning nothing) that is only a member of the service roles, as in Azure. PGlite has one
  // session user, so there the service roles alone carry the boundary.
  const appEnv = { ...env };
  if (db.engine === 'postgres') {
    await grantAppLogin([db, ...Object.values(silos)], (await loadDatabaseServices(services)).map((s) => s.role));
    appEnv.SQL_CONNECTION_STRING = asAppLogin(db.url);
    appEnv.SQL_SILOS = JSON.stringify(Object.fromEntries(Object.entries(silos).map(([k, v]) => [k, asAppLogin(v.url)])));
  }
  const kernel = createKernel(loadSettings(appEnv), { ...(opts.now ? { now: opts.now } : {}), ...(opts.telemetry ? { telemetry: opts.telemetry } : {}) });
  const owner = new SqlDatabases(loadSettings(env).sql);
  const registrar = new TestRegistrar((r) => composeApp(kernel, r, services));
  registerAll(registrar);
  const app = await registrar.loadRoutes();
  const durable = await startInProcessDurable(registrar);
  /** A context as the host gives it, with the durable client input bound. */
  const contextFor = (functionName: string, logHandler?: LogHandler) => {
    const context = new InvocationContext({
      functionName,
      invocationId: randomUUID(),
      options: { extraInputs: [durableClientInput] },
      // System errors are printed so a failing test shows why; user errors stay quiet.
      logHandler: logHandler ?? ((level, ...args) => (level === 'error' ? console.error(...args) : undefined)),
    });
    context.extraInputs.set(durableClientInput, durable.clientData);
    return context;
  };

  const token: TestApp['token'] = (sub, o = {}) =>
    mintDevToken(keys, { subject: sub, audience: kernel.settings.auth.audience, ...o });

  const call: TestApp['call'] = async (method, path, o = {}) => {
    const url = new URL(`${o.origin ?? 'http://127.0.0.1:7071'}/api/${path.replace(/^\//, '')}`);
    const match = findRoute(app, method, url.pathname.slice('/api/'.length));
    const headers: Record<string, string> = { ...o.headers };
    if (o.token) headers.authorization = `Bearer ${o.token}`;
    let body: string | Uint8Array | undefined;
    if (o.rawBody !== undefined) body = o.rawBody;
    else if (o.body !== undefined) body = JSON.stringify(o.body);
    if (body !== undefined) {
      headers['content-type'] ??= method === 'PATCH' ? 'application/merge-patch+json' : 'application/json';
      if (!o.chunked) headers['content-length'] ??= String(typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength);
    }
    // No function serves this path: the Functions host answers an empty 404 itself (no body, no
    // error code), as the local host does (emulator/host/dispatch.ts).
    if (!match) return { status: 404, headers: new Headers({ 'content-length': '0' }), body: undefined };
    const request = new HttpRequest({
      method,
      url: url.toString(),
      headers,
      params: match.params,
      query: Object.fromEntries(url.searchParams.entries()),
      ...(body !== undefined ? { body: typeof body === 'string' ? { string: body } : { bytes: body } } : {}),
    });
    const res = await match.handler(request, contextFor(match.name));
    // A streamed answer (a download) is read whole here; the contract sees its bytes as text.
    let bytes: Buffer | undefined;
    if (res.body && typeof res.body === 'object' && Symbol.asyncIterator in res.body) {
      const chunks: Buffer[] = [];
      for await (const c of res.body as AsyncIterable<Uint8Array>) chunks.push(Buffer.from(c));
      bytes = Buffer.concat(chunks);
    }
    const text = typeof res.body === 'string' ? res.body : bytes?.toString('latin1');
    const answer = { status: res.status ?? 200, headers: new Headers(res.headers), text };
    const problems = opts.contract === false ? [] : (await contract()).check(match.name, answer);
    if (problems.length > 0) {
      throw new Error(
        `${method} /api/${path} (${match.name}) answered ${answer.status}, which breaks the published OpenAPI document:\n` +
          `${problems.map((p) => `  - ${p}`).join('\n')}\n  body: ${(text ?? '').slice(0, 1000)}`,
      );
    }
    if (bytes) return { status: answer.status, headers: answer.headers, body: undefined, bytes };
    const type = (answer.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
    return { status: answer.status, headers: answer.headers, body: text ? parseBody(type, text) : undefined, text };
  };

  // The document as GET /api/openapi.json serves it (not through `call`), fetched again when a
  // test adds a route.
  let published: Promise<Contract> | undefined;
  let publishedRoutes = 0;
  const contract = () => {
    if (publishedRoutes !== app.routes.routes.length) [published, publishedRoutes] = [undefined, app.routes.routes.length];
    return (published ??= (async () => {
      const r = app.routes.routes.find((x) => x.name === 'openapiDocument')!;
      const context = new InvocationContext({ functionName: r.name, invocationId: randomUUID() });
      const res = await r.handler(new HttpRequest({ method: 'GET', url: 'http://127.0.0.1:7071/api/openapi.json' }), context);
      return new Contract(JSON.parse(res.body as string));
    })());
  };

  const createTenant: TestApp['createTenant'] = async (id, admin, extra = {}) => {
    const root = await token('platform-admin', { admin: true });
    const r = await call('POST', 'tenants', { token: root, body: { id, displayName: id, ...extra } });
    if (r.status !== 201) throw new Error(`createTenant ${id}: ${r.status} ${JSON.stringify(r.body)}`);
    const m = await call('PUT', `tenants/${id}/members/${admin}`, { token: root, body: { role: 'admin' } });
    if (m.status !== 201) throw new Error(`add admin ${id}: ${m.status} ${JSON.stringify(m.body)}`);
  };

  return {
    kernel,
    app,
    instance: <I extends ServiceInstance>(service: string) => app.instance(service) as I,
    owner,
    registrar,
    durable,
    invoke: async (name, triggerInput) => (await registrar.handler(name))(triggerInput, contextFor(name)),
    db,
    silos,
    keyVault,
    call,
    token,
    contract,
    createTenant,
    async seedTenant(id, admin, extra = {}) {
      await createTenant(id, admin, extra);
      const t = await token(admin);
      const env = await call('POST', `tenants/${id}/environments`, { token: t, body: { name: 'main', kind: 'prod', region: 'westeurope' } });
      if (env.status !== 201) throw new Error(`seed environment of ${id}: ${env.status} ${JSON.stringify(env.body)}`);
      const svc = await call('POST', `tenants/${id}/environments/${env.body.id}/services`, { token: t, body: { name: 'api', owner: 'team' } });
      if (svc.status !== 201) throw new Error(`seed service of ${id}: ${svc.status} ${JSON.stringify(svc.body)}`);
      return { token: t, environmentId: env.body.id as string, serviceId: svc.body.id as string };
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
      const databaseServices = await loadDatabaseServices(services);
      for (const { name, db: k, placement } of owner.all()) {
        for (const svc of servicesIn(placement, databaseServices)) {
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
      await durable.stop();
      await kernel.sql.close();
      await owner.close();
      await db.stop();
      for (const s of Object.values(silos)) await s.stop();
      await keyVault?.stop();
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

/** The routes of `method` in precedence order, sorted again only when routes were added. */
const sortedRoutes = new WeakMap<App, Map<string, { size: number; list: { r: App['routes']['routes'][number]; t: ReturnType<typeof templateOf> }[] }>>();
function candidatesOf(app: App, method: string) {
  let byMethod = sortedRoutes.get(app);
  if (!byMethod) sortedRoutes.set(app, (byMethod = new Map()));
  const all = app.routes.routes;
  let entry = byMethod.get(method);
  if (!entry || entry.size !== all.length) {
    const list = all
      .filter((r) => r.method === method)
      .map((r) => ({ r, t: templateOf(r.route) }))
      .sort((a, b) => a.t.precedence - b.t.precedence);
    byMethod.set(method, (entry = { size: all.length, list }));
  }
  return entry.list;
}

/** Matches `path` against the registered routes with the local host's matcher (same precedence). */
function findRoute(app: App, method: string, path: string) {
  for (const { r, t } of candidatesOf(app, method)) {
    const params = t.match(path);
    if (params) return { ...r, params };
  }
  return undefined;
}
