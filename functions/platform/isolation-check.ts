/**
 * The continuous isolation check: proves, in every database the app uses (the pooled one and each
 * silo), that tenant isolation is in force — not only that it was set up once by the migrations.
 * Run hourly by the `isolationCheck` timer and on demand by `GET /api/platform/isolation-check`.
 *
 * In each database, for every service whose schema lives there:
 *
 * - every table of the schema (all but the migrator's history tables) has row-level security
 *   enabled and forced, and the `tenant_isolation` policy, which admits the transaction's tenant
 *   (and, on the tables that take it, the platform scope) and nothing else; no other permissive
 *   policy widens it;
 * - every table's primary key leads with `tenant_id`;
 * - no view or materialized view in the schema reads past row-level security (a view must be
 *   `security_invoker`);
 * - the service role exists, is not superuser, not BYPASSRLS, cannot log in, owns nothing in the
 *   database (no schema, table, view or sequence), and has no privilege on another service's
 *   tables;
 * - a read as the canary tenant ({@link CANARY_TENANT}, an id no tenant can have), in a
 *   transaction as the service role, sees no row of any table or view of the schema — every row
 *   that exists belongs to another tenant.
 *
 * A database that cannot be reached is a finding too (isolation there is not proven); the other
 * databases are still checked.
 *
 * The result is logged; a failure is an alert: an error-level log line starting with
 * {@link ISOLATION_CHECK_FAILED} and an Application Insights custom event of that name (see
 * docs/operations.md for the alert queries). A pass is logged and sent as
 * {@link ISOLATION_CHECK_PASSED}, so an alert can also fire when the check stops running.
 */
import type { InvocationContext } from '@azure/functions';
import { sql, type Kysely, type Transaction } from 'kysely';
import { z } from '../../shared/http/openapi.js';
import type { Kernel } from '../../shared/kernel.js';
import { inScope, servicesIn, type Placement, type ServiceSql } from '../../shared/sql/database.js';
import type { Telemetry } from '../../shared/telemetry.js';

/** The custom event and log prefix of a failed check (what the alert rule queries). */
export const ISOLATION_CHECK_FAILED = 'IsolationCheckFailed';
/** The custom event and log prefix of a passed check (the heartbeat). */
export const ISOLATION_CHECK_PASSED = 'IsolationCheckPassed';

/** A tenant id that cannot exist: tenant ids are `[a-z0-9][a-z0-9-]{1,62}` (shared/http/vocabulary.ts). */
export const CANARY_TENANT = '~isolation-canary';

/** The migrator's own tables in each service schema: not tenant data, not readable by the app. */
export const MIGRATOR_TABLES: readonly string[] = ['migrations', 'migrations_lock'];

/** What a finding is about. */
export type FindingCode =
  | 'database-unchecked'
  | 'schema-missing'
  | 'rls-disabled'
  | 'rls-not-forced'
  | 'policy-missing'
  | 'policy-not-tenant'
  | 'policy-extra'
  | 'primary-key'
  | 'view-bypasses-rls'
  | 'role-missing'
  | 'role-superuser'
  | 'role-bypassrls'
  | 'role-login'
  | 'role-owns'
  | 'role-cross-schema'
  | 'canary-sees-rows'
  | 'canary-read-failed';

/** One thing wrong. */
export interface IsolationFinding {
  database: string;
  service?: string;
  /** The table, view, schema or role concerned. */
  object?: string;
  code: FindingCode;
  detail: string;
}

/** One database's part of a run. */
export interface DatabaseIsolation {
  database: string;
  services: string[];
  /** Tables and views checked. */
  relations: number;
  findings: number;
}

/** The result of a run. */
export interface IsolationReport {
  ok: boolean;
  checkedAt: string;
  databases: DatabaseIsolation[];
  findings: IsolationFinding[];
}

interface Relation {
  schema: string;
  name: string;
  kind: string;
  rls: boolean;
  forced: boolean;
  pk_first: string | null;
  options: string[] | null;
}

interface Policy {
  schema: string;
  table: string;
  name: string;
  permissive: boolean;
  cmd: string;
  using_expr: string | null;
  check_expr: string | null;
}

// The policy `enableTenantRls` creates, in the form PostgreSQL prints it back, compared without
// casts, parentheses, spaces or case (which vary between versions): tenant-only, or tenant-or-platform.
const TENANT_ONLY = "tenant_id = current_setting('app.tenant_id', true)";
const TENANT_OR_PLATFORM = `${TENANT_ONLY} or current_setting('app.scope', true) = 'platform'`;
const canonical = (expr: string) => expr.replace(/::text/g, '').replace(/[()\s]/g, '').toLowerCase();
const ALLOWED_POLICIES = new Set([canonical(TENANT_ONLY), canonical(TENANT_OR_PLATFORM)]);
// A read-only policy that admits rows only in the principal scope (a caller's own memberships, for
// `GET /api/tenants`): every tenant-scoped transaction sets `app.scope` to '', so it never widens
// what a tenant sees. The canary read below proves that too.
const PRINCIPAL_GUARD = canonical("current_setting('app.scope', true) = 'principal' and");
const principalScopeOnly = (p: Policy) => p.cmd === 'r' && canonical(p.using_expr ?? '').startsWith(PRINCIPAL_GUARD);

/**
 * Checks one database (see the module comment). `db` is the app's own connection to it (the
 * canary read switches to each service role, as the app does); catalog reads need no privilege.
 */
export async function checkDatabase(
  db: Kysely<any>,
  database: string,
  placement: Placement,
  services: readonly ServiceSql[],
): Promise<{ relations: number; findings: IsolationFinding[] }> {
  const findings: IsolationFinding[] = [];
  const add = (f: Omit<IsolationFinding, 'database'>) => findings.push({ database, ...f });
  const schemas = services.map((s) => s.schema);
  const roles = services.map((s) => s.role);
  const serviceOf = new Map(services.map((s) => [s.schema, s]));

  const present = await sql<{ schema: string }>`select nspname as schema from pg_namespace where nspname = any(${schemas}::text[])`.execute(db);
  for (const svc of services) {
    const ns = present.rows.find((r) => r.schema === svc.schema);
    if (!ns) add({ service: svc.service, object: svc.schema, code: 'schema-missing', detail: `schema ${svc.schema} does not exist (migrations not applied?)` });
  }

  const relations = (
    await sql<Relation>`
      select n.nspname as schema, c.relname as name, c.relkind as kind, c.relrowsecurity as rls, c.relforcerowsecurity as forced,
             c.reloptions as options,
             (select a.attname from pg_index i join pg_attribute a on a.attrelid = i.indrelid and a.attnum = i.indkey[0]
               where i.indrelid = c.oid and i.indisprimary) as pk_first
      from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = any(${schemas}::text[]) and c.relkind in ('r', 'p', 'v', 'm')
        and not (c.relkind = 'r' and c.relname = any(${[...MIGRATOR_TABLES]}::text[]))
      order by 1, 2`.execute(db)
  ).rows;
  const policies = (
    await sql<Policy>`
      select n.nspname as schema, c.relname as table, p.polname as name, p.polpermissive as permissive, p.polcmd::text as cmd,
             pg_get_expr(p.polqual, p.polrelid) as using_expr, pg_get_expr(p.polwithcheck, p.polrelid) as check_expr
      from pg_policy p join pg_class c on c.oid = p.polrelid join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = any(${schemas}::text[])`.execute(db)
  ).rows;

  for (const rel of relations) {
    const service = serviceOf.get(rel.schema)?.service;
    const object = `${rel.schema}.${rel.name}`;
    const f = (code: FindingCode, detail: string) => add({ ...(service ? { service } : {}), object, code, detail });
    if (rel.kind === 'v' || rel.kind === 'm') {
      const invoker = (rel.options ?? []).some((o) => /^security_invoker=(true|on|1)$/i.test(o));
      if (rel.kind === 'm' || !invoker) {
        f('view-bypasses-rls', `${object} is a ${rel.kind === 'm' ? 'materialized view' : 'view without security_invoker'}: it reads its tables as their owner`);
      }
      continue;
    }
    if (!rel.rls) f('rls-disabled', `row-level security is not enabled on ${object}`);
    if (!rel.forced) f('rls-not-forced', `row-level security is not forced on ${object}`);
    if (rel.pk_first !== 'tenant_id') {
      f('primary-key', rel.pk_first ? `the primary key of ${object} leads with ${rel.pk_first}, not tenant_id` : `${object} has no primary key`);
    }
    const own = policies.filter((p) => p.schema === rel.schema && p.table === rel.name);
    const tenantPolicy = own.find((p) => p.name === 'tenant_isolation');
    if (!tenantPolicy) f('policy-missing', `${object} has no tenant_isolation policy`);
    else if (
      !tenantPolicy.permissive ||
      tenantPolicy.cmd !== '*' ||
      !ALLOWED_POLICIES.has(canonical(tenantPolicy.using_expr ?? '')) ||
      !ALLOWED_POLICIES.has(canonical(tenantPolicy.check_expr ?? tenantPolicy.using_expr ?? ''))
    ) {
      f('policy-not-tenant', `the tenant_isolation policy of ${object} is not the tenant filter: using ${tenantPolicy.using_expr ?? '(none)'}`);
    }
    for (const p of own) {
      if (p !== tenantPolicy && p.permissive && !principalScopeOnly(p)) f('policy-extra', `${object} has another permissive policy, ${p.name}, which widens what a tenant sees: using ${p.using_expr ?? '(none)'}`);
    }
  }

  const roleRows = (
    await sql<{ rolname: string; rolsuper: boolean; rolbypassrls: boolean; rolcanlogin: boolean }>`
      select rolname, rolsuper, rolbypassrls, rolcanlogin from pg_roles where rolname = any(${roles}::text[])`.execute(db)
  ).rows;
  for (const svc of services) {
    const r = roleRows.find((x) => x.rolname === svc.role);
    const f = (code: FindingCode, detail: string) => add({ service: svc.service, object: svc.role, code, detail });
    if (!r) {
      f('role-missing', `role ${svc.role} does not exist`);
      continue;
    }
    if (r.rolsuper) f('role-superuser', `${svc.role} is a superuser (bypasses row-level security)`);
    if (r.rolbypassrls) f('role-bypassrls', `${svc.role} has BYPASSRLS`);
    if (r.rolcanlogin) f('role-login', `${svc.role} can log in (service roles are switched to, never logged in as)`);
  }
  // A service role owns nothing in the database: not a schema, not a table, view or sequence.
  const owned = await sql<{ owner: string; object: string }>`
    select pg_get_userbyid(n.nspowner) as owner, n.nspname as object from pg_namespace n where pg_get_userbyid(n.nspowner) = any(${roles}::text[])
    union all
    select pg_get_userbyid(c.relowner), n.nspname || '.' || c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where pg_get_userbyid(c.relowner) = any(${roles}::text[]) and c.relkind in ('r', 'p', 'v', 'm', 'S', 'f')
    order by 2`.execute(db);
  for (const o of owned.rows) {
    const svc = services.find((s) => s.role === o.owner);
    add({ ...(svc ? { service: svc.service } : {}), object: o.object, code: 'role-owns', detail: `${o.object} is owned by ${o.owner} (the migrator owns everything; owners are not filtered unless forced)` });
  }

  const existing = roleRows.map((r) => r.rolname);
  if (existing.length > 0) {
    const grants = await sql<{ role: string; schema: string; name: string }>`
      select r.role, n.nspname as schema, c.relname as name
      from pg_class c join pg_namespace n on n.oid = c.relnamespace, unnest(${existing}::text[]) as r(role)
      where n.nspname = any(${schemas}::text[]) and c.relkind in ('r', 'p', 'v', 'm')
        and has_table_privilege(r.role, c.oid, 'select, insert, update, delete')`.execute(db);
    for (const g of grants.rows) {
      const svc = services.find((s) => s.role === g.role);
      if (svc && svc.schema !== g.schema) {
        add({ service: svc.service, object: `${g.schema}.${g.name}`, code: 'role-cross-schema', detail: `${g.role} has privileges on ${g.schema}.${g.name}, another service's table` });
      }
    }
  }

  // The canary read: as each service role, in the canary tenant's scope, every relation of its schema.
  for (const svc of services) {
    const mine = relations.filter((r) => r.schema === svc.schema);
    if (mine.length === 0 || !roleRows.some((r) => r.rolname === svc.role)) continue;
    const seen = await inScope(db, { tenantId: CANARY_TENANT, placement }, svc, (trx) => canaryRead(trx, mine));
    for (const s of seen) {
      add({
        service: svc.service,
        object: s.object,
        code: s.error === undefined ? 'canary-sees-rows' : 'canary-read-failed',
        detail: s.error === undefined ? `as ${svc.role}, tenant ${CANARY_TENANT} sees rows of ${s.object}` : `as ${svc.role}, reading ${s.object} failed: ${s.error}`,
      });
    }
  }
  return { relations: relations.length, findings };
}

/** Reads each relation in its own savepoint; answers those that showed a row, or failed other than by lack of privilege. */
async function canaryRead(trx: Transaction<unknown>, relations: Relation[]): Promise<{ object: string; error?: string }[]> {
  const out: { object: string; error?: string }[] = [];
  for (const rel of relations) {
    const object = `${rel.schema}.${rel.name}`;
    await sql`savepoint canary`.execute(trx);
    try {
      const r = await sql<{ seen: boolean }>`select exists (select 1 from ${sql.table(object)}) as seen`.execute(trx);
      if (r.rows[0]?.seen) out.push({ object });
      await sql`release savepoint canary`.execute(trx);
    } catch (e) {
      await sql`rollback to savepoint canary`.execute(trx);
      // Not readable by the role at all (42501): it sees nothing there.
      if ((e as { code?: string }).code !== '42501') out.push({ object, error: e instanceof Error ? e.message : String(e) });
    }
  }
  return out;
}

/** Runs the check over every database; one that fails is a finding, and the others are still checked. */
export async function runIsolationCheck(kernel: Kernel, services: readonly ServiceSql[]): Promise<IsolationReport> {
  const databases: DatabaseIsolation[] = [];
  const findings: IsolationFinding[] = [];
  for (const { name, placement, db } of kernel.sql.all()) {
    const here = servicesIn(placement, services);
    let result: { relations: number; findings: IsolationFinding[] };
    try {
      result = await checkDatabase(db, name, placement, here);
    } catch (e) {
      const detail = `the check could not run: ${e instanceof Error ? e.message : String(e)}`;
      result = { relations: 0, findings: [{ database: name, code: 'database-unchecked', detail }] };
    }
    databases.push({ database: name, services: here.map((s) => s.service), relations: result.relations, findings: result.findings.length });
    findings.push(...result.findings);
  }
  return { ok: findings.length === 0, checkedAt: kernel.now().toISOString(), databases, findings };
}

/** Where a report goes: the invocation's log, and telemetry (Application Insights when configured). */
export interface IsolationOutputs {
  log: Pick<InvocationContext, 'log' | 'error'>;
  telemetry: Telemetry;
}

/** Findings listed in the telemetry event (all are in the log). */
const FINDINGS_IN_EVENT = 20;

/**
 * Logs the report and sends it as telemetry. A failure logs one error line per finding and a
 * summary line, each starting with `IsolationCheckFailed:`, and sends the `IsolationCheckFailed`
 * custom event; a pass logs and sends `IsolationCheckPassed`.
 */
export function reportIsolation(report: IsolationReport, out: IsolationOutputs): void {
  const track = (e: Parameters<Telemetry['trackEvent']>[0]) => out.telemetry.trackEvent(e);
  const databases = report.databases.map((d) => d.database).join(', ');
  const relations = report.databases.reduce((n, d) => n + d.relations, 0);
  if (report.ok) {
    out.log.log(`${ISOLATION_CHECK_PASSED}: tenant isolation holds in ${report.databases.length} databases (${databases}), ${relations} tables and views`);
    track({ name: ISOLATION_CHECK_PASSED, properties: { databases }, measurements: { databases: report.databases.length, relations, findings: 0 } });
    return;
  }
  for (const f of report.findings) {
    out.log.error(`${ISOLATION_CHECK_FAILED}: [${f.code}] ${f.database}${f.object ? ` ${f.object}` : ''}: ${f.detail}`);
  }
  const failed = report.databases.filter((d) => d.findings > 0).map((d) => d.database);
  const codes = [...new Set(report.findings.map((f) => f.code))].sort();
  out.log.error(`${ISOLATION_CHECK_FAILED}: ${report.findings.length} findings in ${failed.join(', ')} (${codes.join(', ')})`);
  track({
    name: ISOLATION_CHECK_FAILED,
    properties: {
      databases: failed.join(','),
      codes: codes.join(','),
      findings: JSON.stringify(report.findings.slice(0, FINDINGS_IN_EVENT)),
    },
    measurements: { databases: report.databases.length, relations, findings: report.findings.length },
  });
}

/** The report as the route answers it (OpenAPI). */
export const IsolationReportSchema = z
  .object({
    ok: z.boolean(),
    checkedAt: z.string(),
    databases: z.array(z.object({ database: z.string(), services: z.array(z.string()), relations: z.number().int(), findings: z.number().int() })),
    findings: z.array(
      z.object({ database: z.string(), service: z.string().optional(), object: z.string().optional(), code: z.string(), detail: z.string() }),
    ),
  })
  .openapi('IsolationReport');
