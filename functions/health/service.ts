/**
 * The health service's rules: the accepted time window, the ingest of a batch (idempotent per batch
 * id, the latest table and the transitions maintained on append), the partition window, and the
 * shapes other services and the handlers see. No Functions or SDK types.
 */
import { createHash } from 'node:crypto';
import { conflict, invalid, type ErrorDetail } from '../../shared/errors.js';
import { storageMap } from '../../shared/storage-map.js';
import { redact } from './redact.js';
import type { HealthResultInput, HealthStatusValue } from './schemas.js';
import type { z } from '../../shared/http/openapi.js';
import type { Placement } from '../../shared/sql/service-db.js';
import * as store from './store.js';

const DAY_MS = 86_400_000;
/** How far in the future (the sender's clock ahead of ours) a result may be observed. */
export const MAX_FUTURE_SKEW_MS = 5 * 60_000;
/** Results are kept this many days (the storage map's "Health results (recent)"). */
export const RETENTION_DAYS = storageMap.healthRecent.retentionDays;
/** Days of partitions the daily timer creates ahead of today. */
export const PARTITIONS_AHEAD_DAYS = 3;

const SEVERITY: Record<HealthStatusValue, number> = { healthy: 0, degraded: 1, unhealthy: 2 };

/** The oldest instant retention keeps at `now`. */
export function retentionCutoff(now: Date): Date {
  return new Date(now.getTime() - RETENTION_DAYS * DAY_MS);
}

/** `YYYY-MM-DD` of the UTC day of `d` (a partition's day). */
export function utcDay(d: Date): string {
  return d.toISOString().slice(0, 10);
}

export function addDays(day: string, n: number): string {
  return utcDay(new Date(Date.parse(`${day}T00:00:00Z`) + n * DAY_MS));
}

type ResultInput = z.output<typeof HealthResultInput>;

/**
 * Refuses results outside the accepted window, `[now − retention, now + skew]`: older ones would
 * land in a partition retention is about to drop (or has dropped), newer ones are a sender's broken
 * clock. The answer names each refused result (up to 20).
 */
export function checkWindow(results: readonly ResultInput[], now: Date): void {
  const earliest = retentionCutoff(now).getTime();
  const latest = now.getTime() + MAX_FUTURE_SKEW_MS;
  const details: ErrorDetail[] = [];
  let refused = 0;
  results.forEach((r, i) => {
    const t = Date.parse(r.observedAt);
    if (t >= earliest && t <= latest) return;
    refused++;
    if (details.length < 20) {
      details.push({
        code: t < earliest ? 'ObservedTooLongAgo' : 'ObservedInTheFuture',
        message: t < earliest ? `Older than the ${RETENTION_DAYS}-day retention window.` : `More than ${MAX_FUTURE_SKEW_MS / 60_000} minutes in the future.`,
        target: `body.results[${i}].observedAt`,
      });
    }
  });
  if (refused > 0) {
    throw invalid(
      `${refused} result(s) lie outside the accepted window [${new Date(earliest).toISOString()}, ${new Date(latest).toISOString()}]; nothing was stored.`,
      details[0]?.target ?? 'body.results',
      details,
    );
  }
}

/** Refuses a batch naming services that are not services of the environment; names them (up to 20). */
export function checkKnownServices(results: readonly ResultInput[], known: ReadonlySet<string>, environmentId: string): void {
  const unknown = [...new Set(results.map((r) => r.serviceId).filter((id) => !known.has(id)))];
  if (unknown.length === 0) return;
  throw invalid(
    `${unknown.length} service id(s) are not services of environment '${environmentId}': ${unknown.slice(0, 20).join(', ')}${unknown.length > 20 ? ', …' : ''}. Nothing was stored.`,
    'body.results',
    unknown.slice(0, 20).map((id) => ({ code: 'UnknownService', message: `'${id}' is not a service of the environment.`, target: id })),
  );
}

/** What identifies a batch's content: a replay must carry the same. */
export function batchHash(environmentId: string, results: readonly ResultInput[]): string {
  return createHash('sha256').update(JSON.stringify([environmentId, results])).digest('hex');
}

/** The days whose partitions one database is known to have. */
export interface KnownDays {
  has(first: string, last: string): boolean;
  add(first: string, last: string): void;
}

/**
 * The partitions this instance has seen exist, per database, so an ingest skips the check after
 * the first batch of a day. Safe to keep: retention drops only days older than the accepted window,
 * which no ingest writes to; a day is forgotten once it leaves the window.
 */
export class KnownPartitions {
  private readonly days = new Map<string, Set<string>>();

  constructor(private readonly now: () => Date) {}

  forDatabase(placement: Placement): KnownDays {
    const key = placement.model === 'pooled' ? '' : placement.database;
    let set = this.days.get(key);
    if (!set) this.days.set(key, (set = new Set()));
    const days = set;
    return {
      has: (first, last) => {
        for (let d = first; d <= last; d = addDays(d, 1)) if (!days.has(d)) return false;
        return true;
      },
      add: (first, last) => {
        const oldest = utcDay(retentionCutoff(this.now()));
        for (const d of days) if (d < oldest) days.delete(d);
        for (let d = first; d <= last; d = addDays(d, 1)) days.add(d);
      },
    };
  }
}

/** The outcome of an ingest. */
export interface IngestOutcome {
  accepted: number;
  replayed: boolean;
  /** The stored rows (empty on a replay): what goes on to telemetry. */
  rows: store.ResultRow[];
}

/**
 * Appends a batch in the caller's transaction: records the batch id (a replay with the same content
 * answers what the first one stored and inserts nothing; the same id with other content is a 409),
 * makes sure the partitions of its days exist, inserts the results, and moves each service's latest
 * row forward with a transition wherever its status changed.
 */
export async function ingestBatch(
  trx: store.Tx,
  input: { tenantId: string; environmentId: string; batchId: string; results: readonly ResultInput[]; hash: string; now: Date; days?: KnownDays },
): Promise<IngestOutcome> {
  const { tenantId, environmentId, batchId, now } = input;
  await store.lockEnvironment(trx, tenantId, environmentId);
  const batch = await store.insertBatch(trx, { tenant_id: tenantId, batch_id: batchId, environment_id: environmentId, results: input.results.length, request_hash: input.hash, received_at: now });
  if (!batch) {
    const earlier = await store.getBatch(trx, tenantId, batchId);
    if (earlier && earlier.request_hash === input.hash && earlier.environment_id === environmentId) return { accepted: earlier.results, replayed: true, rows: [] };
    throw conflict(`Batch '${batchId}' was already sent with other results; a new batch needs a new batchId.`, 'batchId');
  }
  const rows: store.ResultRow[] = input.results.map((r, ord) => ({
    tenant_id: tenantId,
    service_id: r.serviceId,
    observed_at: new Date(r.observedAt),
    batch_id: batchId,
    ord,
    environment_id: environmentId,
    check_name: r.check,
    status: r.status,
    latency_ms: r.latencyMs,
    message: r.message === undefined ? null : redact(r.message),
    received_at: now,
  }));
  let first = rows[0]!.observed_at;
  let last = first;
  for (const r of rows) {
    if (r.observed_at < first) first = r.observed_at;
    if (r.observed_at > last) last = r.observed_at;
  }
  const [firstDay, lastDay] = [utcDay(first), utcDay(last)];
  if (!input.days?.has(firstDay, lastDay)) {
    // Only days that were all there already are remembered: days made here are not, since this
    // transaction may still roll back and take them with it.
    if ((await store.ensurePartitions(trx, firstDay, lastDay)) === 0) input.days?.add(firstDay, lastDay);
  }
  await store.insertResults(trx, rows);

  const byService = new Map<string, store.ResultRow[]>();
  for (const r of rows) {
    const list = byService.get(r.service_id);
    if (list) list.push(r);
    else byService.set(r.service_id, [r]);
  }
  // The usual case, a service whose counted results here hold one status, is moved forward in one
  // statement that also returns its status before (no read first); the rest (a status change within
  // the batch, or a result no newer than the stored row) is decided from the stored rows.
  const uniform: store.LatestRow[] = [];
  const firstOf = new Map<string, store.ResultRow>();
  const rest = new Map<string, store.ResultRow[]>();
  for (const [serviceId, list] of byService) {
    const counted = countedInOrder(list);
    const first = counted[0]!;
    if (counted.some((r) => r.status !== first.status)) {
      rest.set(serviceId, list);
      continue;
    }
    uniform.push(latestRowOf(counted[counted.length - 1]!, first.observed_at));
    firstOf.set(serviceId, first);
  }
  const before = await store.advanceUniformLatest(trx, uniform);
  const transitions: store.TransitionRow[] = [];
  for (const [serviceId, first] of firstOf) {
    if (!before.has(serviceId)) rest.set(serviceId, byService.get(serviceId)!);
    else if (before.get(serviceId) !== first.status) transitions.push(transitionOf(first, before.get(serviceId) ?? null));
  }
  if (rest.size > 0) {
    const current = new Map((await store.latestOf(trx, tenantId, [...rest.keys()])).map((l) => [l.service_id, l]));
    const moved = advance(current, rest);
    await store.upsertLatest(trx, moved.latest);
    transitions.push(...moved.transitions);
  }
  await store.insertTransitions(trx, transitions);
  return { accepted: rows.length, replayed: false, rows };
}

/** A service's results in the order they are applied: observed time, then severity (the worst last), then position. */
function inOrder(results: readonly store.ResultRow[]): store.ResultRow[] {
  return [...results].sort((a, b) => a.observed_at.getTime() - b.observed_at.getTime() || SEVERITY[a.status] - SEVERITY[b.status] || a.ord - b.ord);
}

/** The results that count, in order: of results observed at the same instant only the worst. */
function countedInOrder(results: readonly store.ResultRow[]): store.ResultRow[] {
  const ordered = inOrder(results);
  return ordered.filter((r, i) => ordered[i + 1]?.observed_at.getTime() !== r.observed_at.getTime());
}

/** The transition a result makes from `from` (null: the service's first result). */
function transitionOf(r: store.ResultRow, from: HealthStatusValue | null): store.TransitionRow {
  return {
    tenant_id: r.tenant_id,
    service_id: r.service_id,
    at: r.observed_at,
    batch_id: r.batch_id,
    ord: r.ord,
    environment_id: r.environment_id,
    from_status: from,
    to_status: r.status,
    check_name: r.check_name,
    message: r.message,
  };
}

/** The latest row a result makes, its status holding since `changedAt`. */
function latestRowOf(r: store.ResultRow, changedAt: Date): store.LatestRow {
  return {
    tenant_id: r.tenant_id,
    service_id: r.service_id,
    environment_id: r.environment_id,
    status: r.status,
    check_name: r.check_name,
    latency_ms: r.latency_ms,
    message: r.message,
    observed_at: r.observed_at,
    changed_at: changedAt,
    batch_id: r.batch_id,
    ord: r.ord,
  };
}

/**
 * Moves each service's latest row forward through its new results in observed order (of results
 * at the same instant only the worst counts). A result older than the latest row goes into
 * the history only: it neither replaces the latest row nor makes a transition.
 */
export function advance(
  current: ReadonlyMap<string, Pick<store.LatestRow, 'status' | 'observed_at' | 'changed_at'>>,
  byService: ReadonlyMap<string, readonly store.ResultRow[]>,
): { latest: store.LatestRow[]; transitions: store.TransitionRow[] } {
  const latest: store.LatestRow[] = [];
  const transitions: store.TransitionRow[] = [];
  const newer = (r: store.ResultRow, l: Pick<store.LatestRow, 'status' | 'observed_at'>) =>
    r.observed_at.getTime() > l.observed_at.getTime() || (r.observed_at.getTime() === l.observed_at.getTime() && SEVERITY[r.status] > SEVERITY[l.status]);
  for (const [serviceId, results] of byService) {
    const ordered = inOrder(results);
    let cur: Pick<store.LatestRow, 'status' | 'observed_at' | 'changed_at'> | undefined = current.get(serviceId);
    let next: store.LatestRow | undefined;
    for (const [i, r] of ordered.entries()) {
      if (cur && !newer(r, cur)) continue;
      // Of results observed at the same instant only the worst (sorted last) counts.
      if (ordered[i + 1]?.observed_at.getTime() === r.observed_at.getTime()) continue;
      const changed = !cur || cur.status !== r.status;
      if (changed) transitions.push(transitionOf(r, cur?.status ?? null));
      next = latestRowOf(r, changed ? r.observed_at : cur!.changed_at);
      cur = next;
    }
    if (next) latest.push(next);
  }
  return { latest, transitions };
}

/** A service's health as the API answers it. */
export function toServiceHealthDto(r: store.LatestRow) {
  return {
    serviceId: r.service_id,
    environmentId: r.environment_id,
    status: r.status,
    check: r.check_name,
    latencyMs: r.latency_ms,
    ...(r.message !== null ? { message: r.message } : {}),
    observedAt: r.observed_at.toISOString(),
    changedAt: r.changed_at.toISOString(),
  };
}

export function toResultDto(r: store.ResultRow) {
  return {
    serviceId: r.service_id,
    check: r.check_name,
    status: r.status,
    latencyMs: r.latency_ms,
    ...(r.message !== null ? { message: r.message } : {}),
    observedAt: r.observed_at.toISOString(),
    batchId: r.batch_id,
  };
}

export function toTransitionDto(r: store.TransitionRow) {
  return {
    serviceId: r.service_id,
    from: r.from_status,
    to: r.to_status,
    at: r.at.toISOString(),
    check: r.check_name,
    ...(r.message !== null ? { message: r.message } : {}),
  };
}
