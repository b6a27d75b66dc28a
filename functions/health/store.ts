/** The health service's SQL (its own schema only; `search_path` is set by the transaction). */
import { prepared } from '../../shared/sql/prepared.js';
import { sql, type Kysely, type Selectable, type Transaction } from 'kysely';
import type { HealthStatusValue } from './schemas.js';

interface ResultTable {
  tenant_id: string;
  service_id: string;
  observed_at: Date;
  batch_id: string;
  ord: number;
  environment_id: string;
  check_name: string;
  status: HealthStatusValue;
  latency_ms: number;
  message: string | null;
  received_at: Date;
}

interface TransitionTable {
  tenant_id: string;
  service_id: string;
  at: Date;
  batch_id: string;
  ord: number;
  environment_id: string;
  from_status: HealthStatusValue | null;
  to_status: HealthStatusValue;
  check_name: string;
  message: string | null;
}

interface LatestTable {
  tenant_id: string;
  service_id: string;
  environment_id: string;
  status: HealthStatusValue;
  check_name: string;
  latency_ms: number;
  message: string | null;
  observed_at: Date;
  changed_at: Date;
  batch_id: string;
  ord: number;
}

/** `latest` as stored: also the status its last write replaced (see `advanceUniformLatest`). */
interface LatestStored extends LatestTable {
  /** The status before the row's last write; null when that write inserted it. */
  status_before: HealthStatusValue | null;
}

interface BatchTable {
  tenant_id: string;
  batch_id: string;
  environment_id: string;
  results: number;
  request_hash: string;
  received_at: Date;
}

export interface HealthDb {
  results: ResultTable;
  transitions: TransitionTable;
  latest: LatestStored;
  batches: BatchTable;
}

export type ResultRow = Selectable<ResultTable>;
export type TransitionRow = Selectable<TransitionTable>;
export type LatestRow = Selectable<LatestTable>;
export type BatchRow = Selectable<BatchTable>;
export type Tx = Transaction<HealthDb>;

/**
 * Serialises the ingest of one environment: reading the latest rows, deciding the transitions and
 * writing them never interleave with another batch of the same environment (a service that appears
 * in two concurrent batches gets one first transition, not two).
 */
export async function lockEnvironment(trx: Tx, tenantId: string, environmentId: string): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtextextended(${`health:${tenantId}:${environmentId}`}, 0))`.execute(trx);
}

/** Creates the daily partitions of `[first, last]` (UTC days) that are missing; returns how many it made. */
export async function ensurePartitions(trx: Transaction<any>, first: string, last: string): Promise<number> {
  const r = await sql<{ n: number }>`select ensure_partitions(${first}::date, ${last}::date) as n`.execute(trx);
  return Number(r.rows[0]?.n ?? 0);
}

/** Drops every partition whose whole day lies before `cutoff`; returns their names. */
export async function dropPartitions(trx: Transaction<any>, cutoff: Date): Promise<string[]> {
  const r = await sql<{ dropped: string[] }>`select drop_partitions(${cutoff}) as dropped`.execute(trx);
  return r.rows[0]?.dropped ?? [];
}

/** Records a batch id; `undefined` when the tenant already used it (then read it with {@link getBatch}). */
export async function insertBatch(trx: Tx, row: BatchRow): Promise<BatchRow | undefined> {
  return trx.insertInto('batches').values(row).onConflict((oc) => oc.columns(['tenant_id', 'batch_id']).doNothing()).returningAll().executeTakeFirst();
}

export async function getBatch(trx: Tx, tenantId: string, batchId: string): Promise<BatchRow | undefined> {
  return trx.selectFrom('batches').selectAll().where('tenant_id', '=', tenantId).where('batch_id', '=', batchId).executeTakeFirst();
}

/** A column of an `unnest` insert: its name and the PostgreSQL array type its values travel as. */
type Column<Row> = readonly [keyof Row & string, string];

/**
 * `insert into <table> (<columns>) select … from unnest(<one array per column>)`, the rows
 * travelling as column arrays. A column that holds one value in every row (the tenant, the batch,
 * the environment, the time received …) travels once, as a scalar.
 */
function unnestInsert<Row extends object>(table: keyof HealthDb, columns: readonly Column<Row>[], rows: readonly Row[]) {
  const names = sql.join(columns.map(([c]) => sql.ref(c)));
  const first = rows[0];
  const constant = columns.map(([c]) => rows.length > 1 && first !== undefined && rows.every((r) => sameValue(r[c], first[c])));
  // unnest needs one array at least.
  if (constant.every(Boolean)) constant[0] = false;
  const varying = columns.filter((_, i) => !constant[i]);
  const select = sql.join(columns.map(([c, type], i) => (constant[i] ? sql`${scalar(first![c])}::${sql.raw(type)}` : sql.ref(`u.${c}`))));
  const arrays = sql.join(varying.map(([c, type]) => sql`${arrayLiteral(rows.map((r) => r[c]))}::${sql.raw(type)}[]`));
  return sql`insert into ${sql.table(table)} (${names}) select ${select} from unnest(${arrays}) as u(${sql.join(varying.map(([c]) => sql.ref(c)))})`;
}

const sameValue = (a: unknown, b: unknown) => a === b || (a instanceof Date && b instanceof Date && a.getTime() === b.getTime());
const scalar = (v: unknown) => (v instanceof Date ? v.toISOString() : v);

/**
 * A PostgreSQL array literal of `values` (each element double-quoted, `"` and `\` escaped; null
 * as NULL; times in ISO 8601), built here in one pass: the driver's own conversion escapes every
 * element with two regular expressions and formats every time in the local zone.
 */
export function arrayLiteral(values: readonly unknown[]): string {
  let out = '{';
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (i > 0) out += ',';
    if (v === null || v === undefined) out += 'NULL';
    else if (typeof v === 'number') out += Number.isFinite(v) ? String(v) : `"${String(v)}"`;
    else {
      const text = v instanceof Date ? v.toISOString() : typeof v === 'string' ? v : typeof v === 'boolean' || typeof v === 'bigint' ? String(v) : JSON.stringify(v);
      out += text.includes('"') || text.includes('\\') ? `"${text.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"` : `"${text}"`;
    }
  }
  return `${out}}`;
}

/**
 * Inserts rows in one statement per 5,000 rows, as column arrays (`insert … select * from unnest(…)`):
 * one parameter per column instead of one per value, so the statement's size and the time to parse
 * and bind it do not grow with the batch. `tail` follows the select (an `on conflict` clause).
 */
async function insertUnnest<Row extends object>(trx: Tx, table: keyof HealthDb, columns: readonly Column<Row>[], rows: readonly Row[], tail = sql``): Promise<void> {
  for (let i = 0; i < rows.length; i += 5000) await sql`${unnestInsert(table, columns, rows.slice(i, i + 5000))} ${tail}`.execute(trx);
}

const RESULT_COLUMNS: readonly Column<ResultRow>[] = [
  ['tenant_id', 'text'], ['service_id', 'text'], ['observed_at', 'timestamptz'], ['batch_id', 'text'], ['ord', 'int'], ['environment_id', 'text'],
  ['check_name', 'text'], ['status', 'text'], ['latency_ms', 'float8'], ['message', 'text'], ['received_at', 'timestamptz'],
];
const TRANSITION_COLUMNS: readonly Column<TransitionRow>[] = [
  ['tenant_id', 'text'], ['service_id', 'text'], ['at', 'timestamptz'], ['batch_id', 'text'], ['ord', 'int'], ['environment_id', 'text'],
  ['from_status', 'text'], ['to_status', 'text'], ['check_name', 'text'], ['message', 'text'],
];
const LATEST_COLUMNS: readonly Column<LatestRow>[] = [
  ['tenant_id', 'text'], ['service_id', 'text'], ['environment_id', 'text'], ['status', 'text'], ['check_name', 'text'], ['latency_ms', 'float8'],
  ['message', 'text'], ['observed_at', 'timestamptz'], ['changed_at', 'timestamptz'], ['batch_id', 'text'], ['ord', 'int'],
];

/** Inserts a batch's results. */
export async function insertResults(trx: Tx, rows: readonly ResultRow[]): Promise<void> {
  await insertUnnest(trx, 'results', RESULT_COLUMNS, rows);
}

export async function insertTransitions(trx: Tx, rows: readonly TransitionRow[]): Promise<void> {
  await insertUnnest(trx, 'transitions', TRANSITION_COLUMNS, rows);
}

/** What an ingest needs of the latest rows of some services of a tenant. */
export async function latestOf(trx: Tx, tenantId: string, serviceIds: readonly string[]): Promise<Pick<LatestRow, 'service_id' | 'status' | 'observed_at' | 'changed_at'>[]> {
  if (serviceIds.length === 0) return [];
  return trx.selectFrom('latest').select(['service_id', 'status', 'observed_at', 'changed_at']).where('tenant_id', '=', tenantId).where(sql<boolean>`service_id = any(${serviceIds}::text[])`).execute();
}

/**
 * Writes the latest rows. The guard keeps a newer row: an upsert never replaces a row whose
 * `observed_at` is later than the one written (the caller decided under the environment's lock;
 * the guard holds even if a caller did not). No index covers a column an update changes, so
 * updates are heap-only (HOT) and touch no index.
 */
export async function upsertLatest(trx: Tx, rows: readonly LatestRow[]): Promise<void> {
  const set = sql.join(LATEST_COLUMNS.filter(([c]) => c !== 'tenant_id' && c !== 'service_id').map(([c]) => sql`${sql.ref(c)} = excluded.${sql.ref(c)}`));
  await insertUnnest(trx, 'latest', LATEST_COLUMNS, rows, sql`on conflict (tenant_id, service_id) do update set ${set}, status_before = latest.status where latest.observed_at <= excluded.observed_at`);
}

/**
 * Moves forward, in one statement and without reading them first, the latest rows of services
 * whose counted results in the batch all hold one status (`rows`: the row each ends on, with
 * `changed_at` the first of those results): a stored row is replaced only if that first result is
 * newer than it (later, or as late and worse), and keeps its `changed_at` when the status is
 * unchanged. Returns the services it wrote with their status before (null: no row before): the
 * update keeps it in `status_before`, so the statement returns it without reading any row again.
 * A service not returned was left as it was (a result of the batch no newer than its row) for the
 * caller to decide.
 */
export async function advanceUniformLatest(trx: Tx, rows: readonly LatestRow[]): Promise<Map<string, HealthStatusValue | null>> {
  const out = new Map<string, HealthStatusValue | null>();
  if (rows.length === 0) return out;
  const set = sql.join(
    LATEST_COLUMNS.filter(([c]) => c !== 'tenant_id' && c !== 'service_id' && c !== 'changed_at').map(([c]) => sql`${sql.ref(c)} = excluded.${sql.ref(c)}`),
  );
  for (let i = 0; i < rows.length; i += 5000) {
    const r = await sql<{ service_id: string; before: HealthStatusValue | null }>`${unnestInsert('latest', LATEST_COLUMNS, rows.slice(i, i + 5000))}
      on conflict (tenant_id, service_id) do update set ${set}, status_before = latest.status,
        changed_at = case when latest.status = excluded.status then latest.changed_at else excluded.changed_at end
      where excluded.changed_at > latest.observed_at
         or (excluded.changed_at = latest.observed_at and ${severityOf('excluded.status')} > ${severityOf('latest.status')})
      returning service_id, status_before as before`.execute(trx);
    for (const row of r.rows) out.set(row.service_id, row.before);
  }
  return out;
}

/** The order of severity in SQL (healthy 0, degraded 1, unhealthy 2), as in service.ts. */
const severityOf = (ref: string) => sql`(case ${sql.ref(ref)} when 'healthy' then 0 when 'degraded' then 1 else 2 end)`;

/**
 * The latest row of one service: a primary-key lookup (a query, for `ctx.read`). The caller checks
 * the row's environment, so the plan stays the primary key's.
 */
export function selectLatest(db: Kysely<HealthDb>, tenantId: string, serviceId: string) {
  return latestRow(db, { tenantId, serviceId });
}

/** The latest-by-service read is a primary-key lookup; compiled once (see shared/sql/prepared.ts). */
const latestRow = prepared((db: Kysely<HealthDb>, a: { tenantId: string; serviceId: string }) =>
  db.selectFrom('latest').selectAll().where('tenant_id', '=', a.tenantId).where('service_id', '=', a.serviceId),
);

/** A page of the latest rows of an environment's services, by service id. */
export function selectLatestOfEnvironment(
  db: Kysely<HealthDb>,
  tenantId: string,
  environmentId: string,
  opts: { status?: HealthStatusValue; after?: string; limit: number },
) {
  let q = db.selectFrom('latest').selectAll().where('tenant_id', '=', tenantId).where('environment_id', '=', environmentId);
  if (opts.status) q = q.where('status', '=', opts.status);
  if (opts.after !== undefined) q = q.where('service_id', '>', opts.after);
  return q.orderBy('service_id').limit(opts.limit);
}

/** Where a newest-first page starts: the last row shown. */
export interface TimePosition {
  at: Date;
  batchId: string;
  ord: number;
}

/** A time range `[from, to)`. */
export interface TimeRange {
  from?: Date;
  to?: Date;
}

/** A page of one service's results, newest first (the primary key's range, pruned to the range's partitions). */
export function selectHistory(db: Kysely<HealthDb>, tenantId: string, environmentId: string, serviceId: string, range: TimeRange, after: TimePosition | undefined, limit: number) {
  let q = db.selectFrom('results').selectAll().where('tenant_id', '=', tenantId).where('service_id', '=', serviceId).where('environment_id', '=', environmentId);
  if (range.from) q = q.where('observed_at', '>=', range.from);
  if (range.to) q = q.where('observed_at', '<', range.to);
  if (after) q = q.where(sql<boolean>`(observed_at, batch_id, ord) < (${after.at}::timestamptz, ${after.batchId}, ${after.ord})`);
  return q.orderBy('observed_at', 'desc').orderBy('batch_id', 'desc').orderBy('ord', 'desc').limit(limit);
}

/** A page of one service's status transitions, newest first. */
export function selectTransitions(db: Kysely<HealthDb>, tenantId: string, environmentId: string, serviceId: string, range: TimeRange, after: TimePosition | undefined, limit: number) {
  let q = db.selectFrom('transitions').selectAll().where('tenant_id', '=', tenantId).where('service_id', '=', serviceId).where('environment_id', '=', environmentId);
  if (range.from) q = q.where('at', '>=', range.from);
  if (range.to) q = q.where('at', '<', range.to);
  if (after) q = q.where(sql<boolean>`(at, batch_id, ord) < (${after.at}::timestamptz, ${after.batchId}, ${after.ord})`);
  return q.orderBy('at', 'desc').orderBy('batch_id', 'desc').orderBy('ord', 'desc').limit(limit);
}

/** Deletes up to `limit` latest rows and batch records of a tenant older than `cutoff` (retention of the small tables). */
export async function expireSmallTables(trx: Tx, tenantId: string, cutoff: Date, limit: number): Promise<number> {
  const a = await sql`delete from latest where tenant_id = ${tenantId} and ctid in (
      select ctid from latest where tenant_id = ${tenantId} and observed_at < ${cutoff} limit ${limit})`.execute(trx);
  const b = await sql`delete from batches where tenant_id = ${tenantId} and ctid in (
      select ctid from batches where tenant_id = ${tenantId} and received_at < ${cutoff} limit ${limit})`.execute(trx);
  return Math.max(Number(a.numAffectedRows ?? 0), Number(b.numAffectedRows ?? 0));
}
