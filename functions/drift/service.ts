/**
 * Drift rules: agents' observations (idempotent, newest wins), findings (opened on first sight,
 * updated while they persist, resolved when a scan no longer sees them), the actions taken on a
 * finding, and the retention of resolved findings. Events go through this service's outbox in the
 * same transaction as the change.
 */
import { createHash } from 'node:crypto';
import type { z } from 'zod';
import { conflict, invalid, notFound } from '../../shared/errors.js';
import { emit } from '../../shared/events/outbox.js';
import { newId } from '../../shared/ids.js';
import { deepEqual, type Difference, type DiffResult } from './diff.js';
import type { ChangeRef } from './sources.js';
import type * as schemas from './schemas.js';
import * as store from './store.js';

const subjectOf = (tenantId: string, environmentId: string, findingId: string) => `tenants/${tenantId}/environments/${environmentId}/drift-findings/${findingId}`;
/** A finding's place: its resource and property path. */
export const placeOf = (resource: string, path: string) => `${resource}#${path}`;

/** A stable digest of JSON data (for idempotent observation pushes). */
export function digestOf(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex');
}

/**
 * Stores an agent's observation. A repeat of the stored one (same time and content) changes
 * nothing; an older one than stored is ignored (the newest wins); the same time with other
 * content is a conflict (an agent must not rewrite history).
 */
export async function ingestObservation(
  trx: store.Tx,
  tenantId: string,
  environmentId: string,
  input: z.output<typeof schemas.ObservedState>,
  now: Date,
): Promise<'stored' | 'unchanged' | 'older'> {
  const observedAt = new Date(input.observedAt);
  const kinds = [...new Set([...(input.kinds ?? []), ...input.resources.map((r) => r.kind)])].sort();
  const resources = input.resources.map((r) => ({ kind: r.kind, name: r.name, properties: r.properties }));
  const digest = digestOf({ kinds, resources });
  const current = await store.getObservation(trx, tenantId, environmentId, input.source, true);
  if (current) {
    const at = current.observed_at.getTime();
    if (at === observedAt.getTime()) {
      if (current.digest === digest) return 'unchanged';
      throw conflict(`An observation by '${input.source}' at ${input.observedAt} with other content is already stored.`, 'observedAt');
    }
    if (at > observedAt.getTime()) return 'older';
  }
  await store.putObservation(trx, { tenant_id: tenantId, environment_id: environmentId, source: input.source, observed_at: observedAt, received_at: now, digest, kinds, resources });
  return 'stored';
}

/** What applying a scan's diff did. */
export interface ApplySummary {
  opened: number;
  updated: number;
  resolved: number;
  remediationRequested: number;
}

/** The live finding for each place (`resource#path`). */
export function livePlaces(rows: readonly store.FindingRow[]): Map<string, store.FindingRow> {
  return new Map(rows.map((r) => [placeOf(r.resource, r.path), r]));
}

/** The differences that would open a new finding (the ones a likely cause is looked up for). */
export function newDifferences(diff: DiffResult, live: Map<string, store.FindingRow>): Difference[] {
  return diff.differences.filter((d) => {
    const f = live.get(placeOf(d.resource, d.path));
    return !f || (f.status === 'accepted' && !deepEqual(f.accepted_actual, d.actual ?? null));
  });
}

const toCause = (c: ChangeRef | undefined): store.StoredCause | null =>
  c ? { kind: c.kind, id: c.id, at: c.at.toISOString(), ...(c.serviceId ? { serviceId: c.serviceId } : {}), environmentId: c.environmentId } : null;

/**
 * Upserts the findings of one environment from a scan's diff, in one transaction: opens new ones
 * (`DriftDetected`, and `DriftRemediationRequested` in detect-and-request-remediation mode),
 * updates persisting ones, and resolves those the scan no longer sees (`DriftResolved`). A place the
 * scan could not compare (unknown) keeps its finding as it is.
 */
export async function applyDiff(
  trx: store.Tx,
  scan: { tenantId: string; environmentId: string; scanId: string; mode: store.DriftMode },
  diff: DiffResult,
  causes: ReadonlyMap<string, ChangeRef | undefined>,
  now: Date,
): Promise<ApplySummary> {
  const { tenantId, environmentId, scanId } = scan;
  const sum: ApplySummary = { opened: 0, updated: 0, resolved: 0, remediationRequested: 0 };
  const live = livePlaces(await store.liveFindings(trx, tenantId, environmentId));
  const seen = new Set<string>();

  const open = async (d: Difference) => {
    const id = newId('dfnd');
    const place = placeOf(d.resource, d.path);
    const cause = toCause(causes.get(place));
    await store.insertFinding(trx, {
      tenant_id: tenantId,
      id,
      environment_id: environmentId,
      resource: d.resource,
      path: d.path,
      name: place,
      service_id: d.serviceId ?? null,
      kind: d.kind,
      severity: d.severity,
      status: 'open',
      desired: d.desired ?? null,
      actual: d.actual ?? null,
      accepted_actual: null,
      suppressed_until: null,
      created_at: now,
      last_seen_at: now,
      resolved_at: null,
      first_scan_id: scanId,
      last_scan_id: scanId,
      cause,
    });
    await emit(trx, tenantId, {
      type: 'DriftDetected',
      subject: subjectOf(tenantId, environmentId, id),
      data: { resource: d.resource, path: d.path, kind: d.kind, severity: d.severity, scanId, likelyCause: cause },
    });
    sum.opened++;
    if (scan.mode === 'detect-and-request-remediation') {
      await requestRemediation(trx, tenantId, environmentId, id, 'drift-worker', 'Requested automatically (detect-and-request-remediation mode)', now);
      sum.remediationRequested++;
    }
  };

  const resolve = async (f: store.FindingRow) => {
    await store.updateFinding(trx, tenantId, f.id, { status: 'resolved', resolved_at: now, last_scan_id: scanId });
    await emit(trx, tenantId, {
      type: 'DriftResolved',
      subject: subjectOf(tenantId, environmentId, f.id),
      data: { resource: f.resource, path: f.path, scanId, openedAt: f.created_at.toISOString() },
    });
    sum.resolved++;
  };

  for (const d of diff.differences) {
    const place = placeOf(d.resource, d.path);
    seen.add(place);
    const f = live.get(place);
    if (!f) {
      await open(d);
      continue;
    }
    const observed = { kind: d.kind, severity: d.severity, desired: d.desired ?? null, actual: d.actual ?? null, last_seen_at: now, last_scan_id: scanId, seen: true };
    if (f.status === 'accepted') {
      // Accepted as the new desired state: still accepted while the actual value is the accepted one.
      if (deepEqual(f.accepted_actual, d.actual ?? null)) await store.updateFinding(trx, tenantId, f.id, { last_seen_at: now, last_scan_id: scanId, seen: true });
      else {
        await resolve(f);
        await open(d);
      }
      continue;
    }
    if (f.status === 'suppressed' && f.suppressed_until && f.suppressed_until.getTime() <= now.getTime()) {
      await store.updateFinding(trx, tenantId, f.id, { ...observed, status: 'open', suppressed_until: null });
      await emit(trx, tenantId, {
        type: 'DriftDetected',
        subject: subjectOf(tenantId, environmentId, f.id),
        data: { resource: d.resource, path: d.path, kind: d.kind, severity: d.severity, scanId, reopenedAfterSuppression: true },
      });
      sum.updated++;
      continue;
    }
    await store.updateFinding(trx, tenantId, f.id, observed);
    sum.updated++;
  }

  const unknownResources = new Set(diff.unknown.filter((u) => u.path === '').map((u) => u.resource));
  const unknownPlaces = new Set(diff.unknown.map((u) => placeOf(u.resource, u.path)));
  const fresh = new Set(diff.freshKinds);
  for (const [place, f] of live) {
    const kind = f.resource.slice(0, f.resource.indexOf('/'));
    if (seen.has(place) || !fresh.has(kind) || unknownResources.has(f.resource) || unknownPlaces.has(place)) continue;
    await resolve(f);
  }
  return sum;
}

async function requestRemediation(trx: store.Tx, tenantId: string, environmentId: string, findingId: string, by: string, note: string | null, now: Date): Promise<void> {
  await store.insertAction(trx, { tenant_id: tenantId, id: newId('dact'), finding_id: findingId, action: 'request-remediation', by, at: now, note, until: null, result: null });
  await emit(trx, tenantId, {
    type: 'DriftRemediationRequested',
    subject: subjectOf(tenantId, environmentId, findingId),
    data: { findingId, requestedBy: by },
  });
}

/** Records an action on a finding, with who and when. */
export async function actOnFinding(
  trx: store.Tx,
  tenantId: string,
  findingId: string,
  input: z.output<typeof schemas.FindingActionInput>,
  by: string,
  now: Date,
): Promise<store.FindingRow> {
  const f = await store.getFinding(trx, tenantId, findingId);
  if (!f) throw notFound(`Drift finding '${findingId}'`, 'findingId');
  const note = input.note ?? null;
  if (f.status === 'resolved' && input.action !== 'remediation-result') throw conflict(`Drift finding '${findingId}' is resolved.`, 'findingId');
  let row: store.FindingRow | undefined = f;
  switch (input.action) {
    case 'accept':
      if (f.status === 'accepted') throw conflict(`Drift finding '${findingId}' is already accepted.`, 'action');
      row = await store.updateFinding(trx, tenantId, f.id, { status: 'accepted', accepted_actual: f.actual ?? null, suppressed_until: null });
      await store.insertAction(trx, { tenant_id: tenantId, id: newId('dact'), finding_id: f.id, action: 'accept', by, at: now, note, until: null, result: null });
      break;
    case 'suppress': {
      const until = new Date(input.until);
      if (until.getTime() <= now.getTime()) throw invalid('until must be in the future.', 'until');
      row = await store.updateFinding(trx, tenantId, f.id, { status: 'suppressed', suppressed_until: until });
      await store.insertAction(trx, { tenant_id: tenantId, id: newId('dact'), finding_id: f.id, action: 'suppress', by, at: now, note, until, result: null });
      break;
    }
    case 'request-remediation':
      await requestRemediation(trx, tenantId, f.environment_id, f.id, by, note, now);
      break;
    case 'remediation-result':
      await store.insertAction(trx, { tenant_id: tenantId, id: newId('dact'), finding_id: f.id, action: 'remediation-result', by, at: now, note, until: null, result: input.result });
      break;
  }
  if (!row) throw notFound(`Drift finding '${findingId}'`, 'findingId');
  return row;
}
