/** Configuration rules: checking settings, publishing a version under the head's lock, recording syncs. */
import type { z } from 'zod';
import { invalid } from '../../shared/errors.js';
import { emit } from '../../shared/events/outbox.js';
import { checkAbsent, checkEtag, type EtagCondition } from '../../shared/http/etag.js';
import { ifMatchRequired, secretValueRefused } from './errors.js';
import { MAX_SETTINGS, scanSettings, settingsHash, type ScanResult } from './scan.js';
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

/** Settings that passed the checks, with what they reference and their content hash. */
export interface CheckedSettings {
  scan: ScanResult;
  hash: string;
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
  return { scan, hash: settingsHash(settings) };
}

/** What a publish did. */
export interface Published {
  row: store.VersionRow;
  /** The first version of the configuration. */
  created: boolean;
  /** A new version was written (false: the settings equal the latest's, nothing changed). */
  changed: boolean;
}

/**
 * Publishes a new version. The head row is created if missing and locked, so writers of one
 * configuration run one after another and each numbers its version latest + 1 (gapless; the
 * primary key refuses a duplicate even if this were wrong). `If-Match` is checked against the
 * latest version under that lock: a stale one is 412, and once a configuration exists a write
 * without `If-Match` is 428 (it could overwrite a version its writer never saw). Settings equal to
 * the latest's publish nothing. The event goes into the outbox in the same transaction.
 */
export async function publishVersion(
  trx: store.Tx,
  k: store.ConfigKey,
  input: z.output<typeof PutConfiguration>,
  checked: CheckedSettings,
  cond: { ifMatch: EtagCondition | undefined; ifNoneMatch: EtagCondition | undefined },
  principal: string,
  now: Date,
): Promise<Published> {
  const head = await store.lockHead(trx, k, now);
  const exists = head.latest_version > 0;
  const current = exists ? (head.latest_etag ?? undefined) : undefined;
  checkAbsent(cond.ifNoneMatch, current);
  checkEtag(cond.ifMatch, current);
  if (exists && cond.ifMatch === undefined) throw ifMatchRequired();
  if (exists && head.settings_hash === checked.hash) {
    const [latest] = await store.selectVersion(trx, k, head.latest_version).execute();
    if (latest) return { row: latest, created: false, changed: false };
  }
  const version = head.latest_version + 1;
  const row = await store.insertVersion(
    trx,
    {
      tenant_id: k.tenantId,
      environment_id: k.environmentId,
      service_id: k.serviceId,
      version,
      settings: input.settings,
      setting_count: checked.scan.settingCount,
      secret_refs: checked.scan.secretRefs,
      comment: input.comment ?? null,
      published_at: now,
      published_by: principal,
    },
    checked.scan,
    checked.hash,
  );
  await emit(trx, k.tenantId, {
    type: 'ConfigurationVersionPublished',
    subject: subject(k),
    data: { version, previousVersion: exists ? head.latest_version : null, settingCount: row.setting_count, secretRefs: row.secret_refs, publishedBy: principal },
  });
  return { row, created: !exists, changed: true };
}

/** What the sync read found of a consumer; whether its record needs writing. */
export function needsSyncRecord(state: { latest_version: number; synced_version: number | null; last_seen_at: Date | null }, now: Date): boolean {
  return state.synced_version !== state.latest_version || state.last_seen_at === null || now.getTime() - state.last_seen_at.getTime() >= SEEN_REFRESH_MS;
}
