/**
 * A local stand-in for Azure Key Vault's secrets API: an HTTPS server (node:https, no framework)
 * that the real `SecretClient` from `@azure/keyvault-secrets` talks to unchanged. There is no
 * official Key Vault emulator, so this implements the subset the SDK's secret operations use:
 *
 *   PUT    /secrets/{name}                    set (a new version each time)
 *   GET    /secrets/{name}[/{version}]        get (latest, or one version)
 *   PATCH  /secrets/{name}[/{version}]        update properties (enabled, nbf, exp, contentType, tags)
 *   GET    /secrets                           list secrets (paged: maxresults, nextLink)
 *   GET    /secrets/{name}/versions           list versions (paged)
 *   DELETE /secrets/{name}                    soft delete
 *   GET    /deletedsecrets[/{name}]           list / get deleted (what beginDeleteSecret's poller polls)
 *   DELETE /deletedsecrets/{name}             purge
 *   POST   /deletedsecrets/{name}/recover     recover (what beginRecoverDeletedSecret's poller waits for)
 *   POST   /secrets/{name}/backup, /secrets/restore
 *
 * Authentication is Key Vault's challenge flow: a request without a bearer token gets 401 with
 * `WWW-Authenticate: Bearer authorization="https://login.microsoftonline.com/<tenant>",
 * resource="https://vault.azure.net"`. After that ANY bearer token is accepted: tokens are not
 * verified, there are no access policies and no RBAC. It is a local stand-in and listens on the
 * loopback interface only. Clients need `disableChallengeResourceVerification: true` (the vault is
 * not under `vault.azure.net`) and any `TokenCredential`.
 *
 * State is kept in memory and, when `stateFile` is given, in a JSON file (mode 0600, replaced
 * atomically after every change) so secrets survive restarts. Secret values are never logged.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import { dirname } from 'node:path';

/** Options for {@link startKeyVaultServer}. */
export interface KeyVaultServerOptions {
  /** TLS certificate and key (PEM). */
  tls: { cert: string; key: string };
  /** Default `127.0.0.1`. */
  host?: string;
  /** Default 0 (any free port). */
  port?: number;
  /** JSON file that keeps the vault's state across restarts; omitted = in memory only. */
  stateFile?: string;
  /** Tenant id named in the authentication challenge. */
  tenantId?: string;
  /** One line per request (method, path, status); never bodies or values. */
  log?: (line: string) => void;
}

/** A running stand-in vault. */
export interface KeyVaultServer {
  /** Vault URL for `SecretClient` / `KEYVAULT_URL`, e.g. `https://127.0.0.1:8443`. */
  url: string;
  port: number;
  /** Stops listening and waits for pending state writes. */
  stop(): Promise<void>;
}

/** Key Vault's limit on a secret value. */
const MAX_VALUE_BYTES = 25 * 1024;
const MAX_BODY_BYTES = 256 * 1024;
const MAX_PAGE = 25;
const RECOVERABLE_DAYS = 90;
const RECOVERY_LEVEL = 'Recoverable+Purgeable';
const NAME = /^[0-9a-zA-Z-]{1,127}$/;
const DEFAULT_TENANT = '00000000-0000-0000-0000-000000000000';

interface StoredVersion {
  version: string;
  value: string;
  contentType?: string;
  tags?: Record<string, string>;
  enabled: boolean;
  nbf?: number;
  exp?: number;
  created: number;
  updated: number;
}

interface StoredSecret {
  name: string;
  /** Oldest first; the last one is the current version. */
  versions: StoredVersion[];
  deleted?: { deletedDate: number; scheduledPurgeDate: number };
}

interface VaultState {
  /** Keyed by lower-case name: Key Vault names are case-insensitive. */
  secrets: Record<string, StoredSecret>;
}

/** An error in Key Vault's shape: `{"error":{"code","message","innererror"?}}`. */
class VaultError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly innerCode?: string,
  ) {
    super(message);
  }
}

const notFound = (what: string): VaultError =>
  new VaultError(
    404,
    'SecretNotFound',
    `A secret with (name/id) ${what} was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command.`,
  );
const deletedNotFound = (name: string): VaultError =>
  new VaultError(404, 'SecretNotFound', `Deleted Secret not found: ${name}`);
const badParameter = (message: string): VaultError => new VaultError(400, 'BadParameter', message);

/** Starts the stand-in vault. Rejects with the listen error (e.g. `EADDRINUSE`) if it cannot listen. */
export async function startKeyVaultServer(options: KeyVaultServerOptions): Promise<KeyVaultServer> {
  const host = options.host ?? '127.0.0.1';
  const store = await VaultStore.open(options.stateFile);
  const challenge =
    `Bearer authorization="https://login.microsoftonline.com/${options.tenantId ?? DEFAULT_TENANT}", ` +
    `resource="https://vault.azure.net"`;

  const server: Server = createServer({ cert: options.tls.cert, key: options.tls.key }, (req, res) => {
    handle(req, res).catch((error: unknown) => {
      // Never reached with a VaultError; anything else is a bug in this server.
      if (!res.headersSent) send(res, 500, { error: { code: 'InternalServerError', message: String(error) } });
      else res.destroy();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://vault.local');
    const started = Date.now();
    res.on('finish', () =>
      options.log?.(`${req.method} ${url.pathname} ${res.statusCode} ${Date.now() - started}ms`),
    );
    try {
      const body = await readBody(req);
      const auth = req.headers.authorization ?? '';
      if (!/^Bearer\s+\S+/i.test(auth)) {
        res.setHeader('WWW-Authenticate', challenge);
        throw new VaultError(401, 'Unauthorized', 'AKV10000: Request is missing a Bearer or PoP token.');
      }
      const apiVersion = url.searchParams.get('api-version');
      if (!apiVersion) throw badParameter('The api-version query parameter is required.');
      const base = `https://${req.headers.host ?? `${host}:${port()}`}`;
      const result = await route(req.method ?? 'GET', url, body, { base, apiVersion });
      send(res, result.status, result.body);
    } catch (error) {
      if (!(error instanceof VaultError)) throw error;
      const inner = error.innerCode ? { innererror: { code: error.innerCode } } : {};
      send(res, error.status, { error: { code: error.code, message: error.message, ...inner } });
    }
  }

  interface Ctx {
    base: string;
    apiVersion: string;
  }
  interface Result {
    status: number;
    body?: unknown;
  }

  async function route(method: string, url: URL, body: unknown, ctx: Ctx): Promise<Result> {
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    const [collection, name, sub, extra] = parts;
    if (extra !== undefined) throw new VaultError(404, 'NotFound', `No such resource: ${url.pathname}`);
    const page = pageOf(url);

    if (collection === 'secrets') {
      if (name === undefined) {
        if (method === 'GET') return ok(list(store.active(), page, url.pathname, ctx, (s) => itemOf(s, current(s), ctx, false)));
        throw methodNotAllowed(method);
      }
      if (name === 'restore' && sub === undefined && method === 'POST') {
        return ok(bundleOf(await store.restore(body), undefined, ctx, false));
      }
      checkName(name);
      if (sub === undefined) {
        if (method === 'PUT') {
          const secret = await store.set(name, parseSetBody(body));
          return ok(bundleOf(secret, current(secret), ctx, true));
        }
        if (method === 'DELETE') {
          const secret = await store.delete(name);
          return ok(deletedBundleOf(secret, ctx));
        }
      }
      if (sub === 'versions' && method === 'GET') {
        const secret = store.getActive(name);
        const versions = [...secret.versions].reverse();
        return ok(list(versions, page, url.pathname, ctx, (v) => itemOf(secret, v, ctx, true)));
      }
      if (sub === 'backup' && method === 'POST') {
        return ok({ value: store.backup(name) });
      }
      if (method === 'GET' || method === 'PATCH') {
        const secret = store.getActive(name);
        const version = sub ? secret.versions.find((v) => v.version === sub) : current(secret);
        if (!version) throw notFound(`${name}/${sub}`);
        if (method === 'PATCH') {
          await store.update(version, parseUpdateBody(body));
          return ok(bundleOf(secret, version, ctx, false));
        }
        if (!version.enabled) {
          throw new VaultError(403, 'Forbidden', 'Operation get is not allowed on a disabled secret.', 'SecretDisabled');
        }
        return ok(bundleOf(secret, version, ctx, true));
      }
      throw methodNotAllowed(method);
    }

    if (collection === 'deletedsecrets') {
      if (name === undefined) {
        if (method === 'GET') return ok(list(store.deleted(), page, url.pathname, ctx, (s) => deletedItemOf(s, ctx)));
        throw methodNotAllowed(method);
      }
      checkName(name);
      if (sub === undefined && method === 'GET') return ok(deletedBundleOf(store.getDeleted(name), ctx));
      if (sub === undefined && method === 'DELETE') {
        await store.purge(name);
        return { status: 204 };
      }
      if (sub === 'recover' && method === 'POST') {
        const secret = await store.recover(name);
        return ok(bundleOf(secret, current(secret), ctx, false));
      }
      throw methodNotAllowed(method);
    }

    throw new VaultError(404, 'NotFound', `No such resource: ${url.pathname}`);
  }

  const port = (): number => {
    const address = server.address();
    return typeof address === 'object' && address ? address.port : 0;
  };

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });

  const urlHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `https://${urlHost}:${port()}`,
    port: port(),
    stop: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await store.flush();
    },
  };
}

// ---- State ---------------------------------------------------------------------------------------

/** The vault's secrets, with every change written through to the state file (if any). */
class VaultStore {
  private writing: Promise<void> = Promise.resolve();

  private constructor(
    private readonly state: VaultState,
    private readonly file: string | undefined,
  ) {}

  static async open(file: string | undefined): Promise<VaultStore> {
    if (!file) return new VaultStore({ secrets: {} }, undefined);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return new VaultStore({ secrets: {} }, file);
      throw error;
    }
    let state: VaultState;
    try {
      state = JSON.parse(text) as VaultState;
      if (typeof state.secrets !== 'object' || state.secrets === null) throw new Error('no "secrets" object');
    } catch (error) {
      throw new Error(`Key Vault stand-in: cannot read its state file ${file} (${(error as Error).message}); wipe local state to start over`);
    }
    return new VaultStore(state, file);
  }

  active(): StoredSecret[] {
    return this.all().filter((s) => !s.deleted);
  }

  deleted(): StoredSecret[] {
    return this.all().filter((s) => s.deleted);
  }

  getActive(name: string): StoredSecret {
    const secret = this.find(name);
    if (!secret || secret.deleted) throw notFound(name);
    return secret;
  }

  getDeleted(name: string): StoredSecret {
    const secret = this.find(name);
    if (!secret?.deleted) throw deletedNotFound(name);
    return secret;
  }

  async set(name: string, input: SetInput): Promise<StoredSecret> {
    const existing = this.find(name);
    if (existing?.deleted) throw deletedConflict(name);
    const now = nowSeconds();
    const secret = existing ?? { name, versions: [] };
    secret.versions.push({
      version: randomUUID().replaceAll('-', ''),
      value: input.value,
      contentType: input.contentType,
      tags: input.tags,
      enabled: input.enabled ?? true,
      nbf: input.nbf,
      exp: input.exp,
      created: now,
      updated: now,
    });
    this.state.secrets[name.toLowerCase()] = secret;
    await this.save();
    return secret;
  }

  async update(version: StoredVersion, input: UpdateInput): Promise<void> {
    if (input.contentType !== undefined) version.contentType = input.contentType;
    if (input.tags !== undefined) version.tags = input.tags;
    if (input.enabled !== undefined) version.enabled = input.enabled;
    if (input.nbf !== undefined) version.nbf = input.nbf ?? undefined;
    if (input.exp !== undefined) version.exp = input.exp ?? undefined;
    version.updated = nowSeconds();
    await this.save();
  }

  async delete(name: string): Promise<StoredSecret> {
    const secret = this.getActive(name);
    const now = nowSeconds();
    secret.deleted = { deletedDate: now, scheduledPurgeDate: now + RECOVERABLE_DAYS * 86_400 };
    await this.save();
    return secret;
  }

  async purge(name: string): Promise<void> {
    const secret = this.getDeleted(name);
    delete this.state.secrets[secret.name.toLowerCase()];
    await this.save();
  }

  async recover(name: string): Promise<StoredSecret> {
    const secret = this.getDeleted(name);
    delete secret.deleted;
    await this.save();
    return secret;
  }

  /** An opaque backup blob (base64url); only this stand-in can restore it. */
  backup(name: string): string {
    const secret = this.getActive(name);
    return Buffer.from(JSON.stringify({ kind: 'local-keyvault-backup/1', secret }), 'utf8').toString('base64url');
  }

  async restore(body: unknown): Promise<StoredSecret> {
    const blob = isRecord(body) && typeof body.value === 'string' ? body.value : undefined;
    if (!blob) throw badParameter('Property "value" (the backup blob) is required.');
    let secret: StoredSecret;
    try {
      const parsed = JSON.parse(Buffer.from(blob, 'base64url').toString('utf8')) as { kind?: string; secret?: StoredSecret };
      if (parsed.kind !== 'local-keyvault-backup/1' || !parsed.secret) throw new Error('bad blob');
      secret = parsed.secret;
    } catch {
      throw badParameter('The backup blob is not valid.');
    }
    const existing = this.find(secret.name);
    if (existing?.deleted) throw deletedConflict(secret.name);
    if (existing) throw new VaultError(409, 'Conflict', `Secret ${secret.name} already exists.`);
    delete secret.deleted;
    this.state.secrets[secret.name.toLowerCase()] = secret;
    await this.save();
    return secret;
  }

  /** Resolves when every change so far is on disk. */
  flush(): Promise<void> {
    return this.writing;
  }

  private find(name: string): StoredSecret | undefined {
    const secret = this.state.secrets[name.toLowerCase()];
    // Deleted secrets past their purge date are gone, as Key Vault's own purge would make them.
    if (secret?.deleted && secret.deleted.scheduledPurgeDate <= nowSeconds()) {
      delete this.state.secrets[name.toLowerCase()];
      return undefined;
    }
    return secret;
  }

  private all(): StoredSecret[] {
    return Object.keys(this.state.secrets)
      .sort()
      .map((key) => this.find(key))
      .filter((s): s is StoredSecret => s !== undefined);
  }

  /** Writes the whole state (small) to a scratch file and renames it over the old one. */
  private save(): Promise<void> {
    const file = this.file;
    if (!file) return Promise.resolve();
    const text = JSON.stringify(this.state);
    this.writing = this.writing.then(async () => {
      await mkdir(dirname(file), { recursive: true });
      const scratch = `${file}.${randomBytes(4).toString('hex')}.tmp`;
      await writeFile(scratch, text, { mode: 0o600 });
      await rename(scratch, file);
    });
    return this.writing;
  }
}

// ---- Request bodies ------------------------------------------------------------------------------

interface AttributeInput {
  enabled?: boolean;
  /** `null` clears. */
  nbf?: number | null;
  exp?: number | null;
}
interface SetInput extends AttributeInput {
  value: string;
  contentType?: string;
  tags?: Record<string, string>;
  nbf?: number;
  exp?: number;
}
interface UpdateInput extends AttributeInput {
  contentType?: string;
  tags?: Record<string, string>;
}

function parseSetBody(body: unknown): SetInput {
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

function parseUpdateBody(body: unknown): UpdateInput {
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

function checkName(name: string): void {
  if (!NAME.test(name)) {
    throw badParameter(`The secret name '${name}' is invalid: use 1-127 letters, digits and dashes.`);
  }
}

function deletedConflict(name: string): VaultError {
  return new VaultError(
    409,
    'Conflict',
    `Secret ${name} is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the secret can only be recovered or purged.`,
    'ObjectIsDeletedButRecoverable',
  );
}

function methodNotAllowed(method: string): VaultError {
  return new VaultError(405, 'MethodNotAllowed', `The method ${method} is not supported on this resource.`);
}

// ---- Response shapes -----------------------------------------------------------------------------

function current(secret: StoredSecret): StoredVersion {
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
function bundleOf(secret: StoredSecret, version: StoredVersion | undefined, ctx: { base: string }, withValue: boolean) {
  const v = version ?? current(secret);
  return {
    ...(withValue ? { value: v.value } : {}),
    id: `${ctx.base}/secrets/${secret.name}/${v.version}`,
    ...common(v),
  };
}

function itemOf(secret: StoredSecret, v: StoredVersion, ctx: { base: string }, withVersion: boolean) {
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

function deletedBundleOf(secret: StoredSecret, ctx: { base: string }) {
  return { ...bundleOf(secret, undefined, ctx, false), ...deletedFields(secret, ctx) };
}

function deletedItemOf(secret: StoredSecret, ctx: { base: string }) {
  return { ...itemOf(secret, current(secret), ctx, false), ...deletedFields(secret, ctx) };
}

interface Page {
  offset: number;
  size: number;
}

function pageOf(url: URL): Page {
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

function list<T>(rows: T[], page: Page, path: string, ctx: { base: string; apiVersion: string }, shape: (row: T) => unknown) {
  const end = page.offset + page.size;
  const value = rows.slice(page.offset, end).map(shape);
  if (end >= rows.length) return { value, nextLink: null };
  const next = new URL(`${ctx.base}${path}`);
  next.searchParams.set('api-version', ctx.apiVersion);
  next.searchParams.set('$skiptoken', Buffer.from(String(end), 'utf8').toString('base64url'));
  next.searchParams.set('maxresults', String(page.size));
  return { value, nextLink: next.toString() };
}

// ---- HTTP ----------------------------------------------------------------------------------------

function ok(body: unknown): { status: number; body: unknown } {
  return { status: 200, body };
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new VaultError(413, 'RequestBodyTooLarge', 'The request body is too large.');
    chunks.push(chunk as Buffer);
  }
  if (size === 0) return undefined;
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch {
    throw badParameter('The request body is not valid JSON.');
  }
}

function send(res: ServerResponse, status: number, body?: unknown): void {
  res.statusCode = status;
  res.setHeader('x-ms-request-id', randomUUID());
  if (body === undefined) {
    res.end();
    return;
  }
  const text = JSON.stringify(body);
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.end(text);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}
