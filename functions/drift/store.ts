/** The drift service's SQL (its own schema only; `search_path` is set by the transaction). */
import { sql, type Generated, type Kysely, type Selectable, type Transaction } from 'kysely';
import { keysetPage, type CreatedRange, type KeysetPosition } from '../../shared/http/keyset.js';
import type { ActualResource, DifferenceKind, Severity } from './diff.js';

export type DriftMode = 'detect-only' | 'detect-and-request-remediation';
export type FindingStatus = 'open' | 'suppressed' | 'accepted' | 'resolved';
export type ScanStatus = 'running' | 'succeeded' | 'failed' | 'skipped';
export type FindingAction = 'accept' | 'suppress' | 'request-remediation' | 'remediation-result';

/** The change that most likely caused a finding (a contract `ChangeRef`, stored as JSON). */
export interface StoredCause {
  kind: 'deployment' | 'configuration' | 'rotation' | 'scaling';
  id: string;
  at: string;
  serviceId?: string;
  environmentId: string;
}

interface SettingsTable {
  tenant_id: string;
  environment_id: string;
  mode: DriftMode;
  observation_max_age_minutes: number;
  etag: Generated<string>;
  updated_at: Date;
  updated_by: string;
}

interface ObservationTable {
  tenant_id: string;
  environment_id: string;
  source: string;
  observed_at: Date;
  received_at: Date;
  digest: string;
  kinds: string[];
  resources: ActualResource[];
}

interface IgnoreRuleTable {
  tenant_id: string;
  id: string;
  environment_id: string | null;
  resource: string | null;
  path: string;
  reason: string;
  expires_at: Date | null;
  created_at: Date;
  created_by: string;
}

interface ScanTable {
  tenant_id: string;
  id: string;
  environment_id: string;
  instance_id: string;
  trigger: 'manual' | 'schedule';
  status: ScanStatus;
  phase: string;
  requested_by: string;
  started_at: Date;
  finished_at: Date | null;
  differences: Generated<number>;
  unknown: Generated<number>;
  suppressed: Generated<number>;
  opened: Generated<number>;
  resolved: Generated<number>;
  snapshot_written: Generated<boolean>;
  error: string | null;
}

interface FindingTable {
  tenant_id: string;
  id: string;
  environment_id: string;
  resource: string;
  path: string;
  name: string;
  service_id: string | null;
  kind: DifferenceKind;
  severity: Severity;
  status: FindingStatus;
  desired: unknown;
  actual: unknown;
  accepted_actual: unknown;
  suppressed_until: Date | null;
  seen_count: Generated<number>;
  created_at: Date;
  last_seen_at: Date;
  resolved_at: Date | null;
  first_scan_id: string;
  last_scan_id: string;
  cause: StoredCause | null;
  etag: Generated<string>;
}

interface FindingActionTable {
  tenant_id: string;
  id: string;
  finding_id: string;
  action: FindingAction;
  by: string;
  at: Date;
  note: string | null;
  until: Date | null;
  result: 'succeeded' | 'failed' | null;
}

export interface DriftDb {
  settings: SettingsTable;
  observations: ObservationTable;
  ignore_rules: IgnoreRuleTable;
  scans: ScanTable;
  findings: FindingTable;
  finding_actions: FindingActionTable;
}

export type Tx = Transaction<DriftDb>;
export type SettingsRow = Selectable<SettingsTable>;
export type ObservationRow = Selectable<ObservationTable>;
export type IgnoreRuleRow = Selectable<IgnoreRuleTable>;
export type ScanRow = Selectable<ScanTable>;
export type FindingRow = Selectable<FindingTable>;
export type FindingActionRow = Selectable<FindingActionTable>;

const json = (v: unknown): never => (v === undefined || v === null ? null : JSON.stringify(v)) as never;

// ---- Settings ------------------------------------------------------------------------------------

export function selectSettings(db: Kysely<DriftDb>, tenantId: string, environmentId: string) {
  return db.selectFrom('settings').selectAll().where('tenant_id', '=', tenantId).where('environment_id', '=', environmentId);
}

export async function upsertSettings(trx: Tx, row: Omit<SettingsRow, 'etag'>): Promise<SettingsRow> {
  return trx
    .insertInto('settings')
    .values(row)
    .onConflict((oc) => oc.columns(['tenant_id', 'environment_id']).doUpdateSet({ mode: row.mode, observation_max_age_minutes: row.observation_max_age_minutes, updated_at: row.updated_at, updated_by: row.updated_by, etag: sql`gen_random_uuid()` }))
    .returningAll()
    .executeTakeFirstOrThrow();
}

// ---- Observations --------------------------------------------------------------------------------

export async function getObservation(trx: Tx, tenantId: string, environmentId: string, source: string, forUpdate = false): Promise<ObservationRow | undefined> {
  const q = trx.selectFrom('observations').selectAll().where('tenant_id', '=', tenantId).where('environment_id', '=', environmentId).where('source', '=', source);
  return (forUpdate ? q.forUpdate() : q).executeTakeFirst();
}

export async function putObservation(trx: Tx, row: ObservationRow): Promise<void> {
  const values = { ...row, kinds: json(row.kinds), resources: json(row.resources) };
  await trx
    .insertInto('observations')
    .values(values)
    .onConflict((oc) =>
      oc.columns(['tenant_id', 'environment_id', 'source']).doUpdateSet({
        observed_at: row.observed_at,
        received_at: row.received_at,
        digest: row.digest,
        kinds: values.kinds,
        resources: values.resources,
      }),
    )
    .execute();
}

export async function listObservations(trx: Tx, tenantId: string, environmentId: string): Promise<ObservationRow[]> {
  return trx.selectFrom('observations').selectAll().where('tenant_id', '=', tenantId).where('environment_id', '=', environmentId).orderBy('source').execute();
}

// ---- Ignore rules --------------------------------------------------------------------------------

export async function insertRule(trx: Tx, row: IgnoreRuleRow): Promise<void> {
  await trx.insertInto('ignore_rules').values(row).execute();
}

export function selectRule(db: Kysely<DriftDb>, tenantId: string, id: string) {
  return db.selectFrom('ignore_rules').selectAll().where('tenant_id', '=', tenantId).where('id', '=', id);
}

export function selectRules(db: Kysely<DriftDb>, tenantId: string, f: { environmentId?: string; afterId?: string; limit: number }) {
  let q = db.selectFrom('ignore_rules').selectAll().where('tenant_id', '=', tenantId);
  if (f.environmentId !== undefined) q = q.where('environment_id', '=', f.environmentId);
  if (f.afterId !== undefined) q = q.where('id', '>', f.afterId);
  return q.orderBy('id').limit(f.limit);
}

export async function countRules(trx: Tx, tenantId: string): Promise<number> {
  const r = await trx.selectFrom('ignore_rules').select((eb) => eb.fn.countAll<number>().as('n')).where('tenant_id', '=', tenantId).executeTakeFirstOrThrow();
  return Number(r.n);
}

export async function deleteRule(trx: Tx, tenantId: string, id: string): Promise<boolean> {
  const r = await trx.deleteFrom('ignore_rules').where('tenant_id', '=', tenantId).where('id', '=', id).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}

/** The rules that apply to an environment at `now`: its own and the tenant-wide ones, not expired. */
export async function activeRules(trx: Tx, tenantId: string, environmentId: string, now: Date): Promise<IgnoreRuleRow[]> {
  return trx
    .selectFrom('ignore_rules')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where((eb) => eb.or([eb('environment_id', '=', environmentId), eb('environment_id', 'is', null)]))
    .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
    .orderBy('id')
    .execute();
}

// ---- Scans ---------------------------------------------------------------------------------------

export function selectScan(db: Kysely<DriftDb>, tenantId: string, id: string, environmentId?: string) {
  const q = db.selectFrom('scans').selectAll().where('tenant_id', '=', tenantId).where('id', '=', id);
  return environmentId !== undefined ? q.where('environment_id', '=', environmentId) : q;
}

export async function getScan(trx: Tx, tenantId: string, id: string): Promise<ScanRow | undefined> {
  return selectScan(trx, tenantId, id).executeTakeFirst();
}

export async function runningScan(trx: Tx, tenantId: string, environmentId: string): Promise<ScanRow | undefined> {
  return trx.selectFrom('scans').selectAll().where('tenant_id', '=', tenantId).where('environment_id', '=', environmentId).where('status', '=', 'running').executeTakeFirst();
}

/** Inserts a running scan unless the id exists or the environment has a running scan; `undefined` then. */
export async function insertScan(trx: Tx, row: Pick<ScanRow, 'tenant_id' | 'id' | 'environment_id' | 'instance_id' | 'trigger' | 'requested_by' | 'started_at'>): Promise<ScanRow | undefined> {
  return trx
    .insertInto('scans')
    .values({ ...row, status: 'running', phase: 'started', finished_at: null, error: null })
    .onConflict((oc) => oc.doNothing())
    .returningAll()
    .executeTakeFirst();
}

export async function updateScan(trx: Tx, tenantId: string, id: string, patch: Partial<Omit<ScanRow, 'tenant_id' | 'id'>>): Promise<void> {
  await trx.updateTable('scans').set(patch).where('tenant_id', '=', tenantId).where('id', '=', id).execute();
}

export function selectScans(db: Kysely<DriftDb>, tenantId: string, environmentId: string, before: { at: Date; id: string } | undefined, limit: number) {
  let q = db.selectFrom('scans').selectAll().where('tenant_id', '=', tenantId).where('environment_id', '=', environmentId);
  if (before) q = q.where(sql<boolean>`(started_at, id) < (${before.at}, ${before.id})`);
  return q.orderBy('started_at', 'desc').orderBy('id', 'desc').limit(limit);
}

// ---- Findings ------------------------------------------------------------------------------------

/** The findings of an environment that are not resolved, locked for the scan's transaction. */
export async function liveFindings(trx: Tx, tenantId: string, environmentId: string): Promise<FindingRow[]> {
  return trx
    .selectFrom('findings')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('environment_id', '=', environmentId)
    .where('status', '<>', 'resolved')
    .forUpdate()
    .execute();
}

export async function insertFinding(trx: Tx, row: Omit<FindingRow, 'etag' | 'seen_count'>): Promise<void> {
  await trx
    .insertInto('findings')
    .values({ ...row, desired: json(row.desired), actual: json(row.actual), accepted_actual: json(row.accepted_actual), cause: json(row.cause) })
    .execute();
}

export async function updateFinding(
  trx: Tx,
  tenantId: string,
  id: string,
  patch: Partial<Pick<FindingRow, 'status' | 'severity' | 'kind' | 'desired' | 'actual' | 'accepted_actual' | 'suppressed_until' | 'last_seen_at' | 'resolved_at' | 'last_scan_id'>> & {
    seen?: boolean;
  },
): Promise<FindingRow | undefined> {
  const { seen, ...rest } = patch;
  return trx
    .updateTable('findings')
    .set({
      ...rest,
      ...('desired' in rest ? { desired: json(rest.desired) } : {}),
      ...('actual' in rest ? { actual: json(rest.actual) } : {}),
      ...('accepted_actual' in rest ? { accepted_actual: json(rest.accepted_actual) } : {}),
      ...(seen ? { seen_count: sql`seen_count + 1` } : {}),
      etag: sql`gen_random_uuid()`,
    })
    .where('tenant_id', '=', tenantId)
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirst();
}

export function selectFinding(db: Kysely<DriftDb>, tenantId: string, id: string) {
  return db.selectFrom('findings').selectAll().where('tenant_id', '=', tenantId).where('id', '=', id);
}

export async function getFinding(trx: Tx, tenantId: string, id: string): Promise<FindingRow | undefined> {
  return selectFinding(trx, tenantId, id).forUpdate().executeTakeFirst();
}

/** Filters of a findings list. */
export interface FindingFilter {
  environmentId?: string;
  status?: FindingStatus;
  severity?: Severity;
  serviceId?: string;
  range: CreatedRange;
  after?: KeysetPosition;
  limit: number;
}

/** A page of findings, by resource and path (`name`), or by first-seen time with a range. */
export function selectFindings(db: Kysely<DriftDb>, tenantId: string, f: FindingFilter) {
  let q = db.selectFrom('findings').selectAll().where('tenant_id', '=', tenantId);
  if (f.environmentId !== undefined) q = q.where('environment_id', '=', f.environmentId);
  if (f.status) q = q.where('status', '=', f.status);
  if (f.severity) q = q.where('severity', '=', f.severity);
  if (f.serviceId) q = q.where('service_id', '=', f.serviceId);
  return keysetPage(q, f.range, f.after, f.limit);
}

/** Open findings of a service, by severity (the catalog's fact sheet). */
export async function openFindingsOfService(trx: Tx, tenantId: string, serviceId: string, limit: number): Promise<FindingRow[]> {
  return trx
    .selectFrom('findings')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('service_id', '=', serviceId)
    .where('status', '=', 'open')
    .orderBy('created_at')
    .orderBy('id')
    .limit(limit)
    .execute();
}

export async function countOpenBySeverity(trx: Tx, tenantId: string, serviceId: string): Promise<Record<string, number>> {
  const rows = await trx
    .selectFrom('findings')
    .select(['severity', (eb) => eb.fn.countAll<number>().as('n')])
    .where('tenant_id', '=', tenantId)
    .where('service_id', '=', serviceId)
    .where('status', '=', 'open')
    .groupBy('severity')
    .execute();
  return Object.fromEntries(rows.map((r) => [r.severity, Number(r.n)]));
}

/** Deletes up to `limit` findings resolved at or before `cutoff`; open ones are never touched. */
export async function deleteResolvedBefore(trx: Tx, tenantId: string, cutoff: Date, limit: number): Promise<number> {
  const r = await sql<{ n: number }>`
    with gone as (
      delete from findings where (tenant_id, id) in (
        select tenant_id, id from findings
        where tenant_id = ${tenantId} and status = 'resolved' and resolved_at <= ${cutoff}
        limit ${limit})
      returning id)
    , actions as (delete from finding_actions a using gone where a.tenant_id = ${tenantId} and a.finding_id = gone.id)
    select count(*)::int as n from gone`.execute(trx);
  return r.rows[0]?.n ?? 0;
}

// ---- Actions -------------------------------------------------------------------------------------

export async function insertAction(trx: Tx, row: FindingActionRow): Promise<void> {
  await trx.insertInto('finding_actions').values(row).execute();
}

export function selectActions(db: Kysely<DriftDb>, tenantId: string, findingId: string) {
  return db.selectFrom('finding_actions').selectAll().where('tenant_id', '=', tenantId).where('finding_id', '=', findingId).orderBy('at').orderBy('id').limit(200);
}
