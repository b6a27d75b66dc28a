/**
 * PostgreSQL access: one `pg` pool per database (the pooled database and each silo), Kysely on
 * top, and the tenant-scoped transaction every service query runs in.
 */
import type { TokenCredential } from '@azure/identity';
import { Kysely, PostgresDialect, sql, type Compilable, type CompiledQuery, type DatabaseConnection, type Transaction } from 'kysely';
import { scopedStatements, UninlinableParameterError } from './scoped-read.js';
import pg from 'pg';
import type { Settings, SqlTarget } from '../settings.js';
import { UnavailableError } from '../errors.js';
import { annotateTenant, traceStatement } from '../tracing.js';

export { scopeSettings, type Placement, type ServiceDb, type ServiceSql, type SqlScope, type TenantRef } from './service-db.js';
import { scopeSettings, type Placement, type ServiceDb, type ServiceSql, type SqlScope } from './service-db.js';

const ENTRA_SCOPE = 'https://ossrdbms-aad.database.windows.net/.default';

// int8 and numeric come back as strings by default; counts and sizes here fit in a double.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

/**
 * A statement of one service that runs ahead of another service's statement, in its round trip
 * and transaction (see {@link SqlDatabases.onceAfter}).
 */
export interface LeadStatement {
  svc: ServiceSql;
  build: (db: Kysely<any>) => Compilable<unknown>;
}

/** One database: its Kysely instance and pool, its logical name (`pooled`, a silo's) and its server. */
interface DatabaseEntry {
  db: Kysely<any>;
  pool: pg.Pool;
  name: string;
  server: string;
}

/** Builds pools lazily, one per database, and hands out Kysely instances for them. */
export class SqlDatabases {
  private readonly dbs = new Map<string, DatabaseEntry>();

  constructor(
    private readonly settings: Settings['sql'],
    private readonly credential?: TokenCredential,
  ) {}

  /** Names of the configured silos. */
  siloNames(): string[] {
    return Object.keys(this.settings.silos);
  }

  /** True when a silo of that name is configured. */
  hasSilo(name: string): boolean {
    return Object.hasOwn(this.settings.silos, name);
  }

  /** The Kysely instance for a placement. */
  forPlacement(placement: Placement): Kysely<any> {
    return this.entry(placement).db;
  }

  /**
   * Runs `fn` in a transaction in `scope` as `svc`'s role (see {@link inScope}), in the database
   * the scope names — or the pooled one for a pooled-only service.
   */
  run<DB, T>(scope: SqlScope, svc: ServiceDb<DB>, fn: (trx: Transaction<DB>) => Promise<T>): Promise<T> {
    const s = scopeFor(svc, scope);
    return inScope(this.forPlacement(s.placement), s, svc, fn);
  }

  /**
   * Runs one read-only statement in `scope` as `svc`'s role in one round trip (see
   * `scoped-read.ts`); a statement whose parameters cannot be inlined runs in a transaction.
   */
  async read<DB, Row>(scope: SqlScope, svc: ServiceDb<DB>, build: (db: Kysely<DB>) => Compilable<Row>): Promise<Row[]> {
    return this.oneStatement(scope, svc, build);
  }

  /**
   * Runs `lead`, a statement of another service (under that service's role), and then `build`'s
   * statement (under `svc`'s), which may write (data-modifying CTEs and all), in one round trip, as
   * {@link read} runs one: PostgreSQL runs the scope settings and both statements as one implicit
   * transaction, so they are atomic and the settings transaction-local. What `lead` sets
   * transaction-locally and the rows it locks hold while the second statement runs, and a failure
   * of either changes nothing. For a write that another service must allow
   * (the catalog: "this service is live, and stays so until you commit"), without a second round
   * trip and without a window between the check and the write. Both services' data must live in
   * the same database for `scope`. Answers the second statement's rows.
   */
  async onceAfter<DB, Row>(scope: SqlScope, lead: LeadStatement, svc: ServiceDb<DB>, build: (db: Kysely<DB>) => Compilable<Row>): Promise<Row[]> {
    const s = leadScope(scope, lead, svc);
    const db = this.forPlacement(s.placement);
    const statements = [
      { svc: lead.svc, query: lead.build(db).compile() },
      { svc, query: build(db as Kysely<DB>).compile() as CompiledQuery<unknown> },
    ];
    return (await this.statements(s, statements))[1] as Row[];
  }

  private async oneStatement<DB, Row>(scope: SqlScope, svc: ServiceDb<DB>, build: (db: Kysely<DB>) => Compilable<Row>): Promise<Row[]> {
    const s = scopeFor(svc, scope);
    const query = build(this.forPlacement(s.placement) as Kysely<DB>).compile() as CompiledQuery<unknown>;
    return (await this.statements(s, [{ svc, query }]))[0] as Row[];
  }

  /** Statements in one round trip (scoped-read.ts); with a parameter that cannot be inlined, in a transaction. */
  private async statements(scope: SqlScope, statements: { svc: ServiceSql; query: CompiledQuery<unknown> }[]): Promise<unknown[][]> {
    const last = statements[statements.length - 1]!;
    try {
      if ('tenantId' in scope) annotateTenant(scope.tenantId);
      const { name, server } = this.entry(scope.placement);
      return await traceStatement({ database: name, server, sql: last.query.sql }, () => scopedStatements(this.poolFor(scope.placement), scope, statements));
    } catch (e) {
      if (!(e instanceof UninlinableParameterError)) throw e;
      return this.forPlacement(scope.placement)
        .transaction()
        .execute(async (trx) => {
          const out: unknown[][] = [];
          for (const { svc, query } of statements) {
            await applyScope(trx, scope, svc);
            out.push((await trx.executeQuery(query)).rows);
          }
          return out;
        });
    }
  }

  /** The `pg` pool behind a placement (for one-round-trip scoped reads). */
  poolFor(placement: Placement): pg.Pool {
    return this.entry(placement).pool;
  }

  private entry(placement: Placement): DatabaseEntry {
    if (placement.model === 'pooled') return this.get('pooled', 'pooled', this.settings.pooled);
    const target = this.settings.silos[placement.database];
    if (!target) {
      throw new UnavailableError('The tenant database is not configured on this instance.', 60);
    }
    return this.get(`silo:${placement.database}`, placement.database, target);
  }

  /** Every database: pooled first, then silos. Used by the migrator and maintenance timers. */
  all(): { name: string; placement: Placement; db: Kysely<any> }[] {
    return [
      { name: 'pooled', placement: { model: 'pooled' }, db: this.forPlacement({ model: 'pooled' }) },
      ...this.siloNames().map((name) => {
        const placement: Placement = { model: 'siloed', database: name };
        return { name, placement, db: this.forPlacement(placement) };
      }),
    ];
  }

  /** Closes every pool. */
  async close(): Promise<void> {
    const dbs = [...this.dbs.values()];
    this.dbs.clear();
    await Promise.all(dbs.map((e) => e.db.destroy()));
  }

  private get(key: string, name: string, target: SqlTarget): DatabaseEntry {
    let e = this.dbs.get(key);
    if (!e) {
      const pool = this.pool(target);
      const server = serverOf(target);
      // Each statement is a dependency of the invocation running it (shared/tracing.ts).
      const onCreateConnection = async (connection: DatabaseConnection) => traceConnection(connection, name, server);
      e = { db: new Kysely<any>({ dialect: new PostgresDialect({ pool, onCreateConnection }) }), pool, name, server };
      this.dbs.set(key, e);
    }
    return e;
  }

  private pool(target: SqlTarget): pg.Pool {
    const common = {
      max: this.settings.poolMax,
      idleTimeoutMillis: 30_000,
      connectionTimeoutMillis: 10_000,
      statement_timeout: this.settings.statementTimeoutMs,
    };
    const pool =
      target.kind === 'url'
        ? new pg.Pool({ ...common, connectionString: target.url })
        : new pg.Pool({
            ...common,
            host: target.host,
            port: target.port,
            database: target.database,
            user: target.user,
            ssl: target.ssl ? { rejectUnauthorized: true } : false,
            // A fresh Entra token per new connection; pg calls this when it connects.
            password: async () => {
              if (!this.credential) throw new Error('No credential for Entra authentication to PostgreSQL');
              const token = await this.credential.getToken(ENTRA_SCOPE);
              if (!token) throw new Error("No Entra token for PostgreSQL");
              return token.token;
            },
          });
    // An idle client erroring (e.g. server restart) must not crash the process.
    pool.on('error', () => undefined);
    return pool;
  }
}

/** The scope `svc`'s data lives in: a pooled-only service keeps all of it in the pooled database. */
export function scopeFor<S extends SqlScope>(svc: ServiceSql, scope: S): S {
  return svc.pooledOnly && scope.placement.model !== 'pooled' ? { ...scope, placement: { model: 'pooled' } } : scope;
}

/** The services whose schemas exist in a database of `placement` (silos hold no pooled-only ones). */
export function servicesIn<S extends ServiceSql>(placement: Placement, services: readonly S[]): S[] {
  return services.filter((s) => placement.model === 'pooled' || !s.pooledOnly);
}

/**
 * Runs `fn` in a transaction in `scope` (one tenant, the platform, or a principal: see
 * {@link SqlScope}) as the service's role. Row-level security sees `app.tenant_id`, `app.scope`
 * and `app.principal_id`; `search_path` is the service's schema, so store code names its tables
 * unqualified. Every setting is transaction-local (`set_config(..., true)`), never per session,
 * so a pooled connection carries nothing over to the next request.
 */
export async function inScope<DB, T>(
  db: Kysely<any>,
  scope: SqlScope,
  svc: ServiceDb<DB>,
  fn: (trx: Transaction<DB>) => Promise<T>,
): Promise<T> {
  if (svc.pooledOnly && scope.placement.model !== 'pooled') {
    throw new Error(`${svc.service} keeps its data in the pooled database; pass the pooled database`);
  }
  if ('tenantId' in scope) annotateTenant(scope.tenantId);
  // The database's handle, typed to the service's tables for this transaction.
  return (db as Kysely<DB>).transaction().execute(async (trx) => {
    await applyScope(trx, scope, svc);
    return fn(trx);
  });
}

/**
 * Runs `lead` (another service's statement) inside the transaction `trx` of `svc`, under the lead
 * service's role and schema, then switches back to `svc`'s; answers the lead statement's rows.
 * Both services' data must live in the database `trx` belongs to (see `SqlDatabases.onceAfter`).
 */
export async function leadIn(trx: Transaction<any>, scope: SqlScope, lead: LeadStatement, svc: ServiceSql): Promise<unknown[]> {
  const s = leadScope(scope, lead, svc);
  await applyScope(trx, s, lead.svc);
  const rows = (await trx.executeQuery(lead.build(trx).compile())).rows;
  await applyScope(trx, s, svc);
  return rows;
}

/** `svc`'s scope for a statement led by `lead`'s; both services' data must live in its database. */
function leadScope<S extends SqlScope>(scope: S, lead: LeadStatement, svc: ServiceSql): S {
  const s = scopeFor(svc, scope);
  if (JSON.stringify(scopeFor(lead.svc, scope).placement) !== JSON.stringify(s.placement)) {
    throw new Error(`${lead.svc.service} and ${svc.service} keep this scope's data in different databases`);
  }
  return s;
}

/** Sets `scope` and `svc`'s role and schema for the rest of the transaction `trx`. */
async function applyScope(trx: Transaction<any>, scope: SqlScope, svc: ServiceSql): Promise<void> {
  const s = scopeSettings(scope);
  await sql`select set_config('role', ${svc.role}, true),
                   set_config('search_path', ${svc.schema}, true),
                   set_config('app.tenant_id', ${s.tenantId}, true),
                   set_config('app.scope', ${s.scope}, true),
                   set_config('app.principal_id', ${s.principalId}, true)`.execute(trx);
}

/** `host:port` of a target, for dependency telemetry (never the user or password). */
function serverOf(target: SqlTarget): string {
  if (target.kind === 'entra') return `${target.host}:${target.port}`;
  try {
    const u = new URL(target.url);
    return `${u.hostname}:${u.port || '5432'}`;
  } catch {
    return 'postgresql';
  }
}

/** Transaction control and the scope's settings: part of every transaction, not worth a dependency each. */
const UNTRACED = /^\s*(begin|commit|rollback|start transaction|savepoint|release savepoint|select set_config\('role')/i;

/** Makes every statement a connection runs (but {@link UNTRACED} ones) a dependency span. */
function traceConnection(connection: DatabaseConnection, database: string, server: string): void {
  const execute = connection.executeQuery.bind(connection);
  connection.executeQuery = (query) =>
    UNTRACED.test(query.sql) ? execute(query) : traceStatement({ database, server, sql: query.sql }, () => execute(query));
}

/** PostgreSQL error shape (as `pg` raises it), recognised structurally. */
export interface PgError {
  code?: string;
  constraint?: string;
}

/** True for errors that mean "the database is unavailable right now" (retry later). */
export function isTransientDbError(e: unknown): boolean {
  const err = e as { code?: string; message?: string } | null;
  const code = err?.code ?? '';
  if (['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN'].includes(code)) return true;
  // 08: connection exception (but not 08P01, a protocol violation: what we sent was malformed, and
  // sending it again fails again); 53: insufficient resources; 57P0x: shutdown; 57014: statement
  // timeout; 40001/40P01: serialization failure / deadlock.
  if (code === '08P01') return false;
  if (/^(08|53)/.test(code) || /^57P0/.test(code) || ['57014', '40001', '40P01'].includes(code)) return true;
  return /timeout exceeded when trying to connect|Connection terminated/i.test(err?.message ?? '');
}

/** True for a unique-constraint violation. */
export function isUniqueViolation(e: unknown, constraint?: string): boolean {
  const err = e as PgError | null;
  return err?.code === '23505' && (constraint === undefined || err.constraint === constraint);
}
