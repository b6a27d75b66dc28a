/**
 * The wire format of Key Vault's secrets REST API, as the stand-in speaks it: the error shape
 * (`{"error":{"code","message","innererror"?}}` with Key Vault's codes), the request bodies it
 * accepts (set, update, restore) and their validation, and the JSON it answers with (SecretBundle,
 * SecretItem, DeletedSecretBundle, DeletedSecretItem, pages with `nextLink`).
 */
import type { StoredSecret, StoredVersion } from './store.js';

/** Key Vault's limit on a secret value. */
const MAX_VALUE_BYTES = 25 * 1024;
/** Largest page (`maxresults`) of a list. */
const MAX_PAGE = 25;
/** How long a deleted secret can be recovered (and is reported as `recoverableDays`). */
export const RECOVERABLE_DAYS = 90;
const RECOVERY_LEVEL = 'Recoverable+Purgeable';
const NAME = /^[0-9a-zA-Z-]{1,127}$/;

/** What the response shapes need of the request: the vault's base URL and the API version. */
export interface WireContext {
  base: string;
  apiVersion: string;
}

// ---- Errors --------------------------------------------------------------------------------------

/** An error in Key Vault's shape: `{"error":{"code","message","innererror"?}}`. */
export class VaultError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly innerCode?: string,
  ) {
    super(message);
  }
}

/** 404 `SecretNotFound` for a secret (or one of its versions) that does not exist or is deleted. */
export const notFound = (what: string): VaultError =>
  new VaultError(
    404,
    'SecretNotFound',
    `A secret with (name/id) ${what} was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command.`,
  );
/** 404 for a deleted secret that does not exist. */
export const deletedNotFound = (name: string): VaultError =>
  new VaultError(404, 'SecretNotFound', `Deleted Secret not found: ${name}`);
/** 400 `BadParameter`: a request Key Vault would refuse. */
export const badParameter = (message: string): VaultError => new VaultError(400, 'BadParameter', message);

/** 409 for a name whose secret is deleted but still recoverable. */
export function deletedConflict(name: string): VaultError {
  return new VaultError(
    409,
    'Conflict',
    `Secret ${name} is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the secret can only be recovered or purged.`,
    'ObjectIsDeletedButRecoverable',
  );
}

/** 405 for a method the resource does not support. */
export function methodNotAllowed(method: string): VaultError {
  return new VaultError(405, 'MethodNotAllowed', `The method ${method} is not supported on this resource.`);
}

/** The body of an error answer. */
export function errorBody(error: VaultError): { error: { code: string; message: string; innererror?: { code: string } } } {
  const inner = error.innerCode ? { innererror: { code: error.innerCode } } : {};
  return { error: { code: error.code, message: error.message, ...inner } };
}

// ---- Request bodies ------------------------------------------------------------------------------

interface AttributeInput {
  enabled?: boolean;
  /** `null` clears. */
  nbf?: number | null;
  exp?: number | null;
}
/** A set request (`PUT /secrets/{name}`). */
export interface SetInput extends AttributeInput {
  value: string;
  contentType?: string;
  tags?: Record<string, string>;
  nbf?: number;
  exp?: number;
}
/** An update request (`PATCH /secrets/{name}[/{version}]`): only the fields given change. */
export interface UpdateInput extends AttributeInput {
  contentType?: string;
  tags?: Record<string, string>;
}

/** Reads and checks a set request's body. */
export function parseSetBody(body: unknown): SetInput {
  if (!isRecord(body)) throw badParameter('The request body must be a JSON object.');
  if (typeof body.value !== 'string') throw badParameter('Property "value" is required and must be a string.');
  if (Buffer.byteLength(body.value, 'utf8') > MAX_VALUE_BYTES) {
    throw badParameter(`The secret value exceeds the maximum of ${MAX_VALUE_BYTES} bytes.`);
  }
  const attributes = parseAttributes(body.attributes);
  return {
    value: body.value,
    contentType: parseContentType(body.contentType),
    tags: parseTags(body.tags),
    enabled: attributes.enabled,
    nbf: attributes.nbf ?? undefined,
    exp: attributes.exp ?? undefined,
  };
}

/** Reads and checks an update request's body (which may be empty). */
export function parseUpdateBody(body: unknown): UpdateInput {
  if (body === undefined) return {};
  if (!isRecord(body)) throw badParameter('The request body must be a JSON object.');
  return { contentType: parseContentType(body.contentType), tags: parseTags(body.tags), ...parseAttributes(body.attributes) };
}

function parseAttributes(raw: unknown): AttributeInput {
  if (raw === undefined || raw === null) return {};
  if (!isRecord(raw)) throw badParameter('Property "attributes" must be an object.');
  const out: AttributeInput = {};
  if (raw.enabled !== undefined && raw.enabled !== null) {
    if (typeof raw.enabled !== 'boolean') throw badParameter('attributes.enabled must be a boolean.');
    out.enabled = raw.enabled;
  }
  for (const key of ['nbf', 'exp'] as const) {
    const v = raw[key];
    if (v === undefined) continue;
    if (v !== null && (typeof v !== 'number' || !Number.isInteger(v))) {
      throw badParameter(`attributes.${key} must be a Unix time in seconds.`);
    }
    out[key] = v;
  }
  return out;
}

function parseContentType(raw: unknown): string | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw !== 'string') throw badParameter('Property "contentType" must be a string.');
  return raw;
}

function parseTags(raw: unknown): Record<string, string> | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (!isRecord(raw) || Object.values(raw).some((v) => typeof v !== 'string')) {
    throw badParameter('Property "tags" must be an object of strings.');
  }
  if (Object.keys(raw).length > 15) throw badParameter('A secret can have at most 15 tags.');
  return raw as Record<string, string>;
}

/** Key Vault's rule for secret names: 1-127 letters, digits and dashes. */
export function checkName(name: string): void {
  if (!NAME.test(name)) {
    throw badParameter(`The secret name '${name}' is invalid: use 1-127 letters, digits and dashes.`);
  }
}

/** The backup blob of a restore request (`{"value": "<blob>"}`). */
export function parseRestoreBody(body: unknown): string {
  const blob = isRecord(body) && typeof body.value === 'string' ? body.value : undefined;
  if (!blob) throw badParameter('Property "value" (the backup blob) is required.');
  return blob;
}

// ---- Response shapes -----------------------------------------------------------------------------

/** The current (latest) version of a secret. */
export function current(secret: StoredSecret): StoredVersion {
  const latest = secret.versions.at(-1);
  if (!latest) throw notFound(secret.name);
  return latest;
}

function attributesOf(v: StoredVersion): Record<string, unknown> {
  return {
    enabled: v.enabled,
    ...(v.nbf !== undefined ? { nbf: v.nbf } : {}),
    ...(v.exp !== undefined ? { exp: v.exp } : {}),
    created: v.created,
    updated: v.updated,
    recoveryLevel: RECOVERY_LEVEL,
    recoverableDays: RECOVERABLE_DAYS,
  };
}

function common(v: StoredVersion): Record<string, unknown> {
  return {
    attributes: attributesOf(v),
    ...(v.contentType !== undefined ? { contentType: v.contentType } : {}),
    ...(v.tags !== undefined ? { tags: v.tags } : {}),
  };
}

/** A SecretBundle; `withValue` is false where Key Vault leaves the value out (update, recover). */
export function bundleOf(secret: StoredSecret, version: StoredVersion | undefined, ctx: { base: string }, withValue: boolean) {
  const v = version ?? current(secret);
  return {
    ...(withValue ? { value: v.value } : {}),
    id: `${ctx.base}/secrets/${secret.name}/${v.version}`,
    ...common(v),
  };
}

/** A SecretItem (lists): no value; `withVersion` for the versions list. */
export function itemOf(secret: StoredSecret, v: StoredVersion, ctx: { base: string }, withVersion: boolean) {
  return {
    id: `${ctx.base}/secrets/${secret.name}${withVersion ? `/${v.version}` : ''}`,
    ...common(v),
  };
}

function deletedFields(secret: StoredSecret, ctx: { base: string }) {
  return {
    recoveryId: `${ctx.base}/deletedsecrets/${secret.name}`,
    deletedDate: secret.deleted?.deletedDate,
    scheduledPurgeDate: secret.deleted?.scheduledPurgeDate,
  };
}

/** A DeletedSecretBundle (delete, get deleted): the current version without its value. */
export function deletedBundleOf(secret: StoredSecret, ctx: { base: string }) {
  return { ...bundleOf(secret, undefined, ctx, false), ...deletedFields(secret, ctx) };
}

/** A DeletedSecretItem (list deleted). */
export function deletedItemOf(secret: StoredSecret, ctx: { base: string }) {
  return { ...itemOf(secret, current(secret), ctx, false), ...deletedFields(secret, ctx) };
}

// ---- Pages ---------------------------------------------------------------------------------------

/** Where a list page starts and how long it is. */
export interface Page {
  offset: number;
  size: number;
}

/** The page a list request asks for (`maxresults`, `$skiptoken`). */
export function pageOf(url: URL): Page {
  const max = url.searchParams.get('maxresults');
  const size = max === null ? MAX_PAGE : Number(max);
  if (!Number.isInteger(size) || size < 1 || size > MAX_PAGE) {
    throw badParameter(`maxresults must be an integer from 1 to ${MAX_PAGE}.`);
  }
  const token = url.searchParams.get('$skiptoken');
  const offset = token === null ? 0 : Number(Buffer.from(token, 'base64url').toString('utf8'));
  if (!Number.isInteger(offset) || offset < 0) throw badParameter('The $skiptoken is not valid.');
  return { offset, size };
}

/** A page of `rows` with the `nextLink` to the next page, or `null` at the end. */
export function list<T>(rows: T[], page: Page, path: string, ctx: WireContext, shape: (row: T) => unknown) {
  const end = page.offset + page.size;
  const value = rows.slice(page.offset, end).map(shape);
  if (end >= rows.length) return { value, nextLink: null };
  const next = new URL(`${ctx.base}${path}`);
  next.searchParams.set('api-version', ctx.apiVersion);
  next.searchParams.set('$skiptoken', Buffer.from(String(end), 'utf8').toString('base64url'));
  next.searchParams.set('maxresults', String(page.size));
  return { value, nextLink: next.toString() };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
