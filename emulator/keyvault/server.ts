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
 *
 * This file is the HTTPS server, the challenge and the routing of the operations above; the
 * secrets and their versions are in store.ts, the JSON shapes of the REST API in wire.ts.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import { VaultStore } from './store.js';
import {
  badParameter,
  bundleOf,
  checkName,
  current,
  deletedBundleOf,
  deletedItemOf,
  errorBody,
  itemOf,
  list,
  methodNotAllowed,
  notFound,
  pageOf,
  parseRestoreBody,
  parseSetBody,
  parseUpdateBody,
  VaultError,
  type WireContext,
} from './wire.js';

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

/** The largest request body the stand-in reads. */
const MAX_BODY_BYTES = 256 * 1024;
const DEFAULT_TENANT = '00000000-0000-0000-0000-000000000000';

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
      send(res, error.status, errorBody(error));
    }
  }

  interface Result {
    status: number;
    body?: unknown;
  }

  async function route(method: string, url: URL, body: unknown, ctx: WireContext): Promise<Result> {
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
        return ok(bundleOf(await store.restore(parseRestoreBody(body)), undefined, ctx, false));
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
