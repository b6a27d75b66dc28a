/** The deployments service's SQL (its own schema only; `search_path` is set by the transaction). */
import { sql, type Kysely, type Selectable, type Transaction } from 'kysely';

/** Every status a deployment can be in (the state machine is in service.ts). */
export type DeploymentStatus = 'pending' | 'in_progress' | 'succeeded' | 'failed' | 'cancelled' | 'rolling_back' | 'rolled_back';

interface DeploymentTable {
  tenant_id: string;
  id: string;
  environment_id: string;
  service_id: string;
  revision: number;
  kind: 'rollout' | 'rollback';
  image: string;
  image_digest: string | null;
  configuration_version: number | null;
  scaling_policy_id: string | null;
  scaling_policy_version: number | null;
  secret_versions: Record<string, string>;
  status: DeploymentStatus;
  rollback_of: string | null;
  restores: string | null;
  created_by: string;
  created_at: Date;
  updated_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
  finished_by: string | null;
}

interface TransitionTable {
  tenant_id: string;
  deployment_id: string;
  seq: number;
  from_status: DeploymentStatus | null;
  to_status: DeploymentStatus;
  at: Date;
  by: string;
  reason: string | null;
}

export type StepStatus = 'running' | 'succeeded' | 'failed';

interface StepTable {
  tenant_id: string;
  deployment_id: string;
  name: string;
  status: StepStatus;
  message: string | null;
  started_at: Date;
  updated_at: Date;
}

export type ArtifactKind = 'log' | 'manifest' | 'other';

interface ArtifactTable {
  tenant_id: string;
  deployment_id: string;
  name: string;
  kind: ArtifactKind;
  step: string | null;
  blob_name: string;
  content_type: string;
  bytes: number;
  created_at: Date;
  updated_at: Date;
}

export interface DeploymentsDb {
  deployments: DeploymentTable;
  transitions: TransitionTable;
  steps: StepTable;
  artifacts: ArtifactTable;
}

export type DeploymentRow = Selectable<DeploymentTable>;
export type TransitionRow = Selectable<TransitionTable>;
export type StepRow = Selectable<StepTable>;
export type ArtifactRow = Selectable<ArtifactTable>;
export type Tx = Transaction<DeploymentsDb>;
type Db = Kysely<DeploymentsDb>;

const lock = (trx: Tx, key: string) => sql`select pg_advisory_xact_lock(hashtextextended(${key}, 0))`.execute(trx);

/** Serialises the tenant's deployment creates: the per-day count and the insert never interleave. */
export const lockTenant = (trx: Tx, tenantId: string) => lock(trx, `deployments:${tenantId}`);
/** Serialises the state changes of one service in one environment (revisions, the one in progress). */
export const lockService = (trx: Tx, tenantId: string, environmentId: string, serviceId: string) =>
  lock(trx, `deployments:${tenantId}:${environmentId}:${serviceId}`);

/** Serialises the writes of one artifact (appends to a step log): a commit never drops another's blocks. */
export const lockArtifact = (trx: Tx, tenantId: string, deploymentId: string, name: string) => lock(trx, `deployments:${tenantId}:${deploymentId}:${name}`);

/** Deployments the tenant created at or after `since`. */
export async function countCreatedSince(trx: Tx, tenantId: string, since: Date): Promise<number> {
  const r = await trx
    .selectFrom('deployments')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('tenant_id', '=', tenantId)
    .where('created_at', '>=', since)
    .executeTakeFirstOrThrow();
  return Number(r.n);
}

export async function nextRevision(trx: Tx, tenantId: string, environmentId: string, serviceId: string): Promise<number> {
  const r = await trx
    .selectFrom('deployments')
    .select((eb) => eb.fn.max('revision').as('r'))
    .where('tenant_id', '=', tenantId)
    .where('environment_id', '=', environmentId)
    .where('service_id', '=', serviceId)
    .executeTakeFirst();
  return Number(r?.r ?? 0) + 1;
}

export async function insertDeployment(trx: Tx, row: DeploymentRow): Promise<DeploymentRow> {
  return trx
    .insertInto('deployments')
    .values({ ...row, secret_versions: JSON.stringify(row.secret_versions) as never })
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** One deployment (a query, for `ctx.read` or a transaction). */
export function selectDeployment(db: Db, tenantId: string, id: string, environmentId?: string) {
  let q = db.selectFrom('deployments').selectAll().where('tenant_id', '=', tenantId).where('id', '=', id);
  if (environmentId !== undefined) q = q.where('environment_id', '=', environmentId);
  return q;
}

/** One deployment, optionally locked for the rest of the transaction (`for update`). */
export async function getDeployment(trx: Tx, tenantId: string, id: string, opts: { environmentId?: string; forUpdate?: boolean } = {}) {
  const q = selectDeployment(trx, tenantId, id, opts.environmentId);
  return (opts.forUpdate ? q.forUpdate() : q).executeTakeFirst();
}

/**
 * Moves a deployment from `from` to `to`; a conditional update, so of two concurrent transitions
 * of the same deployment only the first to commit matches (`undefined` for the other).
 */
export async function updateStatus(
  trx: Tx,
  tenantId: string,
  id: string,
  from: DeploymentStatus,
  patch: Pick<DeploymentRow, 'status' | 'updated_at'> & Partial<Pick<DeploymentRow, 'started_at' | 'finished_at' | 'finished_by'>>,
): Promise<DeploymentRow | undefined> {
  return trx.updateTable('deployments').set(patch).where('tenant_id', '=', tenantId).where('id', '=', id).where('status', '=', from).returningAll().executeTakeFirst();
}

/** The service's deployment in progress in the environment, if any. */
export async function findInProgress(trx: Tx, tenantId: string, environmentId: string, serviceId: string) {
  return trx
    .selectFrom('deployments')
    .select('id')
    .where('tenant_id', '=', tenantId)
    .where('environment_id', '=', environmentId)
    .where('service_id', '=', serviceId)
    .where('status', '=', 'in_progress')
    .executeTakeFirst();
}

export async function insertTransition(trx: Tx, row: Omit<TransitionRow, 'seq'>): Promise<void> {
  await sql`insert into transitions (tenant_id, deployment_id, seq, from_status, to_status, at, by, reason)
            select ${row.tenant_id}, ${row.deployment_id}, coalesce(max(seq), 0) + 1, ${row.from_status}, ${row.to_status}, ${row.at}, ${row.by}, ${row.reason}
            from transitions where tenant_id = ${row.tenant_id} and deployment_id = ${row.deployment_id}`.execute(trx);
}

export function selectTransitions(db: Db, tenantId: string, deploymentId: string) {
  return db.selectFrom('transitions').selectAll().where('tenant_id', '=', tenantId).where('deployment_id', '=', deploymentId).orderBy('seq');
}

export function selectSteps(db: Db, tenantId: string, deploymentId: string) {
  return db.selectFrom('steps').selectAll().where('tenant_id', '=', tenantId).where('deployment_id', '=', deploymentId).orderBy('started_at').orderBy('name');
}

/** The position after which a history page starts (newest first). */
export interface HistoryPosition {
  createdAt: Date;
  id: string;
}

/** Filters of a history page. */
export interface HistoryFilter {
  environmentId?: string;
  serviceId?: string;
  statuses?: DeploymentStatus[];
  after?: Date;
  before?: Date;
  position?: HistoryPosition;
  limit: number;
}

/** A history page, newest first: `(created_at, id)` descending, one index range per page. */
export function selectHistory(db: Db, tenantId: string, f: HistoryFilter) {
  let q = db.selectFrom('deployments').selectAll().where('tenant_id', '=', tenantId);
  if (f.environmentId !== undefined) q = q.where('environment_id', '=', f.environmentId);
  if (f.serviceId !== undefined) q = q.where('service_id', '=', f.serviceId);
  if (f.statuses?.length) q = q.where('status', 'in', f.statuses);
  if (f.after) q = q.where('created_at', '>=', f.after);
  if (f.before) q = q.where('created_at', '<', f.before);
  if (f.position) q = q.where(sql<boolean>`(created_at, id) < (${f.position.createdAt}::timestamptz, ${f.position.id})`);
  return q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(f.limit);
}

/** Succeeded deployments of the service in the environment, newest first (rollback targets). */
export function selectSucceeded(db: Db, tenantId: string, environmentId: string, serviceId: string, limit: number, before?: HistoryPosition) {
  let q = db
    .selectFrom('deployments')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('environment_id', '=', environmentId)
    .where('service_id', '=', serviceId)
    .where('status', '=', 'succeeded');
  if (before) q = q.where(sql<boolean>`(finished_at, id) < (${before.createdAt}::timestamptz, ${before.id})`);
  return q.orderBy('finished_at', 'desc').orderBy('id', 'desc').limit(limit);
}

/** The current deployment: the last to succeed (a rollback that succeeded included). */
export async function current(trx: Tx | Db, tenantId: string, environmentId: string, serviceId: string): Promise<DeploymentRow | undefined> {
  return selectSucceeded(trx, tenantId, environmentId, serviceId, 1).executeTakeFirst();
}

/** The latest deployment of the environment (and service) that changed status at or before `before`. */
export async function lastFinishedBefore(trx: Tx, tenantId: string, environmentId: string, serviceId: string | undefined, before: Date) {
  let q = trx
    .selectFrom('deployments')
    .select(['id', 'service_id', 'environment_id', 'finished_at'])
    .where('tenant_id', '=', tenantId)
    .where('environment_id', '=', environmentId)
    .where('status', 'in', ['succeeded', 'rolled_back'])
    .where('finished_at', '<=', before);
  if (serviceId !== undefined) q = q.where('service_id', '=', serviceId);
  return q.orderBy('finished_at', 'desc').orderBy('id', 'desc').limit(1).executeTakeFirst();
}

/** Pending deployments of an environment (and service), locked for the cancelling transaction. */
export async function pendingOf(trx: Tx, tenantId: string, environmentId: string, serviceId?: string) {
  let q = trx.selectFrom('deployments').selectAll().where('tenant_id', '=', tenantId).where('environment_id', '=', environmentId).where('status', '=', 'pending');
  if (serviceId !== undefined) q = q.where('service_id', '=', serviceId);
  return q.orderBy('id').forUpdate().execute();
}

/** Which of `serviceIds` have a deployment in progress, rolling back, or succeeded (current). */
export async function referencing(trx: Tx, tenantId: string, serviceIds: readonly string[]) {
  if (serviceIds.length === 0) return [];
  return trx
    .selectFrom('deployments')
    .select(['service_id', 'id', 'status'])
    .where('tenant_id', '=', tenantId)
    .where('service_id', 'in', serviceIds)
    .where('status', 'in', ['in_progress', 'rolling_back', 'succeeded'])
    .orderBy('service_id')
    .orderBy('id')
    .execute();
}

// ---- Steps and artifacts -----------------------------------------------------------------------

export async function getStep(trx: Tx, tenantId: string, deploymentId: string, name: string, forUpdate = false) {
  const q = trx.selectFrom('steps').selectAll().where('tenant_id', '=', tenantId).where('deployment_id', '=', deploymentId).where('name', '=', name);
  return (forUpdate ? q.forUpdate() : q).executeTakeFirst();
}

export async function upsertStep(trx: Tx, row: StepRow): Promise<StepRow> {
  return trx
    .insertInto('steps')
    .values(row)
    .onConflict((oc) => oc.columns(['tenant_id', 'deployment_id', 'name']).doUpdateSet({ status: row.status, message: row.message, updated_at: row.updated_at }))
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function getArtifact(trx: Tx | Db, tenantId: string, deploymentId: string, name: string) {
  return trx.selectFrom('artifacts').selectAll().where('tenant_id', '=', tenantId).where('deployment_id', '=', deploymentId).where('name', '=', name).executeTakeFirst();
}

export function selectArtifact(db: Db, tenantId: string, deploymentId: string, name: string) {
  return db.selectFrom('artifacts').selectAll().where('tenant_id', '=', tenantId).where('deployment_id', '=', deploymentId).where('name', '=', name);
}

export async function upsertArtifact(trx: Tx, row: ArtifactRow): Promise<ArtifactRow> {
  return trx
    .insertInto('artifacts')
    .values(row)
    .onConflict((oc) =>
      oc.columns(['tenant_id', 'deployment_id', 'name']).doUpdateSet({ bytes: row.bytes, content_type: row.content_type, blob_name: row.blob_name, updated_at: row.updated_at }),
    )
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** A page of a deployment's artifacts, by name. */
export function selectArtifacts(db: Db, tenantId: string, deploymentId: string, after: string | undefined, limit: number) {
  let q = db.selectFrom('artifacts').selectAll().where('tenant_id', '=', tenantId).where('deployment_id', '=', deploymentId);
  if (after !== undefined) q = q.where('name', '>', after);
  return q.orderBy('name').limit(limit);
}

// ---- Retention ---------------------------------------------------------------------------------

/** Up to `limit` of the tenant's deployments created before `cutoff`, oldest first, with their blobs. */
export async function expired(trx: Tx, tenantId: string, cutoff: Date, limit: number) {
  return trx
    .selectFrom('deployments')
    .select(['id', 'environment_id', 'service_id'])
    .where('tenant_id', '=', tenantId)
    .where('created_at', '<', cutoff)
    .orderBy('created_at')
    .orderBy('id')
    .limit(limit)
    .forUpdate()
    .execute();
}

export async function blobsOf(trx: Tx, tenantId: string, deploymentIds: readonly string[]): Promise<string[]> {
  if (deploymentIds.length === 0) return [];
  const rows = await trx.selectFrom('artifacts').select('blob_name').where('tenant_id', '=', tenantId).where('deployment_id', 'in', deploymentIds).execute();
  return rows.map((r) => r.blob_name);
}

/** Deletes deployments (their transitions, steps and artifact rows go with them). */
export async function deleteDeployments(trx: Tx, tenantId: string, ids: readonly string[]): Promise<number> {
  if (ids.length === 0) return 0;
  const r = await trx.deleteFrom('deployments').where('tenant_id', '=', tenantId).where('id', 'in', ids).executeTakeFirst();
  return Number(r.numDeletedRows);
}
