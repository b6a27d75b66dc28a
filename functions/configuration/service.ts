/** Configuration rules: checking settings, publishing a version under the head's lock, recording syncs. */
import { randomUUID } from 'node:crypto';
import type { Compilable, Kysely } from 'kysely';
import type { z } from 'zod';
import { invalid, preconditionFailed } from '../../shared/errors.js';
import { checkAbsent, checkEtag, concurrentlyChanged, type EtagCondition } from '../../shared/http/etag.js';
import { isUniqueViolation } from '../../shared/sql/database.js';
import { ifMatchRequired, secretValueRefused } from './errors.js';
import { MAX_SETTINGS, scanSettings, type ScanResult } from './scan.js';
import type { ConfigurationVersionDto, ConfigurationVersionSummaryDto, PutConfiguration } from './schemas.js';
import * as store from './store.js';

/** While nothing changes, a consumer's `last_seen_at` is written at most this often (the sync read stays a read). */
export const SEEN_REFRESH_MS = 60 * 60 * 1000;

export function toSummaryDto(r: store.VersionSummaryRow): ConfigurationVersionSummaryDto {
  return {
    environmentId: r.environment_id,
    serviceId: r.service_id,
    version: r.version,
    settingCount: r.setting_count,
    secretRefs: r.secret_refs,
    comment: r.comment,
    publishedAt: r.published_at.toISOString(),
    publishedBy: r.published_by,
    etag: r.etag,
  };
}

export function toVersionDto(r: store.VersionRow): ConfigurationVersionDto {
  return { ...toSummaryDto(r), settings: r.settings };
}

export const subject = (k: store.ConfigKey) => `tenants/${k.tenantId}/environments/${k.environmentId}/services/${k.serviceId}/configuration`;

/** Settings that passed the checks, with what they reference and their JSON text. */
export interface CheckedSettings {
  scan: ScanResult;
  /** The settings as JSON text, as stored (a jsonb column keeps no key order). */
  json: string;
}

/** Checks settings before anything else runs: names, references, size and secrets (400s). */
export function checkSettings(settings: Record<string, unknown>, serviceId: string): CheckedSettings {
  const scan = scanSettings(settings, serviceId);
  if (scan.malformed.length > 0) {
    const f = scan.malformed[0]!;
    throw invalid(`Setting '${f.path}': ${f.reason}.`, `/settings${f.path}`, scan.malformed.slice(0, 20).map((m) => ({ code: 'InvalidValue', message: m.reason, target: `/settings${m.path}` })));
  }
  if (scan.secrets.length > 0) throw secretValueRefused(scan.secrets);
  if (scan.settingCount > MAX_SETTINGS) throw invalid(`A configuration holds at most ${MAX_SETTINGS} settings; this one has ${scan.settingCount}.`, '/settings');
  return { scan, json: JSON.stringify(settings) };
}

/** What a publish did. */
export interface Published {
  row: store.VersionRow;
  /** The first version of the configuration. */
  created: boolean;
  /** A new version was written (false: the settings equal the latest's, nothing changed). */
  changed: boolean;
}

/** Runs one statement of this service in the request's scope (one round trip). */
export type Statement = <Row>(build: (db: Kysely<store.ConfigurationDb>) => Compilable<Row>) => Promise<Row[]>;

/**
 * Publishes a new version, in one statement (store.publish): the head row is locked, so writers of
 * one configuration run one after another and each numbers its version latest + 1 (gapless; the
 * primary key refuses a duplicate even if this were wrong). `If-Match` is checked against the
 * latest version under that lock: a stale one is 412, and once a configuration exists a write
 * without `If-Match` is 428 (it could overwrite a version its writer never saw). Settings equal to
 * the latest's publish nothing. The event goes into the outbox in the same statement.
 */
export async function publishVersion(
  run: { once: Statement; read: Statement },
  k: store.ConfigKey,
  input: z.output<typeof PutConfiguration>,
  checked: CheckedSettings,
  cond: { ifMatch: EtagCondition | undefined; ifNoneMatch: EtagCondition | undefined },
  principal: string,
  now: Date,
  guard: store.PublishGuard & { refusal(state: store.PublishOutcome['service_state']): Error | undefined },
): Promise<Published> {
  // If-Match is evaluated first (RFC 9110 §13.2.2): with both, whatever exists fails one of them.
  if (cond.ifMatch !== undefined && cond.ifNoneMatch === '*') throw preconditionFailed('If-Match and If-None-Match: * cannot both hold.');
  const pre: store.Precondition = cond.ifMatch === undefined ? { kind: 'absent' } : cond.ifMatch === '*' ? { kind: 'any' } : { kind: 'tags', tags: cond.ifMatch };
  const row: Omit<store.VersionRow, 'version'> = {
    tenant_id: k.tenantId,
    environment_id: k.environmentId,
    service_id: k.serviceId,
    etag: randomUUID(),
    settings: input.settings,
    setting_count: checked.scan.settingCount,
    secret_refs: checked.scan.secretRefs,
    comment: input.comment ?? null,
    published_at: now,
    published_by: principal,
  };
  let outcome: store.PublishOutcome | undefined;
  try {
    [outcome] = await run.once((db) => store.publish(db, row, checked.json, checked.scan, pre, { type: 'ConfigurationVersionPublished', subject: subject(k) }, guard));
  } catch (e) {
    // Two first writers: the second finds the version number taken.
    if (isUniqueViolation(e)) throw concurrentlyChanged('configuration');
    throw e;
  }
  if (!outcome) throw concurrentlyChanged('configuration');
  // The service's state first: no precondition matters on a service that is gone or retired.
  const refused = guard.refusal(outcome.service_state);
  if (refused) throw refused;
  if (outcome.written !== null) return { row: { ...row, version: outcome.written }, created: outcome.v0 === 0, changed: true };
  // Nothing written: say why, as the conditions read under the lock.
  const current = outcome.v0 > 0 ? (outcome.etag0 ?? undefined) : undefined;
  checkAbsent(cond.ifNoneMatch, current);
  checkEtag(cond.ifMatch, current);
  if (current !== undefined && cond.ifMatch === undefined) throw ifMatchRequired();
  if (current === undefined || !outcome.same) throw concurrentlyChanged('configuration');
  const [latest] = await run.read((db) => store.selectVersion(db, k, outcome.v0));
  if (!latest) throw concurrentlyChanged('configuration');
  return { row: latest, created: false, changed: false };
}

/** What the sync read found of a consumer; whether its record needs writing. */
export function needsSyncRecord(state: { latest_version: number; synced_version: number | null; last_seen_at: Date | null }, now: Date): boolean {
  return state.synced_version !== state.latest_version || state.last_seen_at === null || now.getTime() - state.last_seen_at.getTime() >= SEEN_REFRESH_MS;
}
