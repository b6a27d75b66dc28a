/**
 * Settings: the only module that reads `process.env`. Everything the app reads is declared and
 * validated here once, at start; a bad or missing setting fails start-up with a message naming it.
 * `local.settings.sample.json` lists every key below with its local default.
 */
import { z } from 'zod';

const bool = z
  .enum(['true', 'false', '1', '0'])
  .transform((v) => v === 'true' || v === '1');

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

/** A siloed database: a connection string (local, CI) or a host for Entra ID auth (Azure). */
const siloSchema = z.union([
  z.string().url(),
  z.object({ host: z.string().min(1), database: z.string().min(1), port: z.number().int().optional() }).strict(),
]);

const raw = z
  .object({
    /** Set by App Service in Azure; its presence means "running in Azure". */
    WEBSITE_INSTANCE_ID: z.string().optional(),
    WEBSITE_SITE_NAME: z.string().optional(),

    // ---- PostgreSQL -------------------------------------------------------------------------
    /** Pooled database for the app (local/CI): `postgres://user@host:port/db`. */
    SQL_CONNECTION_STRING: z.string().url().optional(),
    /** Pooled database in Azure, reached with a Microsoft Entra token of the managed identity. */
    SQL_HOST: z.string().optional(),
    SQL_DATABASE: z.string().default('runtime_platform'),
    SQL_USER: z.string().optional(),
    SQL_PORT: int(1, 65535).default(5432),
    /** TLS for host-based (Entra) connections; connection strings say it themselves (`sslmode`). */
    SQL_SSL: bool.default(true),
    /** JSON object: silo name -> connection string, or {host, database}. */
    SQL_SILOS: z.string().default('{}'),
    SQL_POOL_MAX: int(1, 100).default(10),
    SQL_STATEMENT_TIMEOUT_MS: int(100, 600_000).default(15_000),

    // ---- Authentication -----------------------------------------------------------------------
    /** `entra` in Azure; `dev` accepts tokens of the local dev issuer (never in Azure). */
    AUTH_MODE: z.enum(['entra', 'dev']).default('entra'),
    AUTH_ISSUER: z.string().optional(),
    AUTH_AUDIENCE: z.string().default('api://runtime-platform'),
    AUTH_JWKS_URI: z.string().url().optional(),
    /** Path of the dev issuer's key file (created by the local stack). */
    AUTH_DEV_KEY_FILE: z.string().default('.local/dev-issuer.jwk.json'),
    /** Principal ids (`sub`/`oid`) that are platform admins, comma-separated. */
    AUTH_PLATFORM_ADMINS: z.string().default(''),

    // ---- Storage (Blob, Queue) -----------------------------------------------------------------
    /** Local stand-in only (Azurite). In Azure, the account URLs below with managed identity. */
    STORAGE_CONNECTION_STRING: z.string().optional(),
    STORAGE_BLOB_URL: z.string().url().optional(),
    STORAGE_QUEUE_URL: z.string().url().optional(),
    ARTIFACTS_CONTAINER: z.string().default('deployment-artifacts'),
    EVENTS_QUEUE: z.string().default('runtime-events'),

    // ---- Cosmos DB ---------------------------------------------------------------------------
    COSMOS_ENDPOINT: z.string().url().optional(),
    /** Local stand-in only; in Azure the managed identity is used. */
    COSMOS_KEY: z.string().optional(),
    COSMOS_DATABASE: z.string().default('runtime-platform'),

    // ---- Key Vault ---------------------------------------------------------------------------
    KEYVAULT_URL: z.string().url().optional(),

    // ---- Telemetry ---------------------------------------------------------------------------
    APPLICATIONINSIGHTS_CONNECTION_STRING: z.string().optional(),

    // ---- HTTP pipeline -----------------------------------------------------------------------
    HTTP_MAX_BODY_BYTES: int(1024, 64 * 1024 * 1024).default(1024 * 1024),
    HTTP_MAX_PAGE_SIZE: int(1, 1000).default(100),
    /** How long a tenant's binding and membership may be served from the in-process cache. */
    TENANT_CACHE_TTL_MS: int(0, 300_000).default(5_000),

    DURABLE_TASK_HUB: z.string().default('runtimeplatform'),
  })
  .passthrough();

/** Validated settings, typed. */
export interface Settings {
  inAzure: boolean;
  sql: {
    /** A connection string, or Entra ID token auth against host/database/user. */
    pooled: SqlTarget;
    silos: Record<string, SqlTarget>;
    poolMax: number;
    statementTimeoutMs: number;
  };
  auth: {
    mode: 'entra' | 'dev';
    issuer: string | undefined;
    audience: string;
    jwksUri: string | undefined;
    devKeyFile: string;
    platformAdmins: string[];
  };
  storage: {
    connectionString: string | undefined;
    blobUrl: string | undefined;
    queueUrl: string | undefined;
    artifactsContainer: string;
    eventsQueue: string;
  };
  cosmos: { endpoint: string | undefined; key: string | undefined; database: string };
  keyVault: { url: string | undefined };
  telemetry: { connectionString: string | undefined };
  http: { maxBodyBytes: number; maxPageSize: number };
  tenantCacheTtlMs: number;
  durableTaskHub: string;
}

/** Where a PostgreSQL database is. */
export type SqlTarget =
  | { kind: 'url'; url: string }
  | { kind: 'entra'; host: string; port: number; database: string; user: string; ssl: boolean };

/** Raised when a setting is missing or malformed; the message names every bad setting. */
export class SettingsError extends Error {
  override name = 'SettingsError';
}

/** Parses an environment (default: `process.env`) into {@link Settings}. Throws {@link SettingsError}. */
export function loadSettings(env: Record<string, string | undefined> = process.env): Settings {
  const parsed = raw.safeParse(stripEmpty(env));
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    throw new SettingsError(`Invalid settings:\n  ${lines.join('\n  ')}`);
  }
  const e = parsed.data;
  const inAzure = Boolean(e.WEBSITE_INSTANCE_ID || e.WEBSITE_SITE_NAME);
  const problems: string[] = [];

  if (inAzure && e.AUTH_MODE === 'dev') {
    problems.push('AUTH_MODE: the dev issuer is never accepted when running in Azure');
  }
  if (e.AUTH_MODE === 'entra' && (!e.AUTH_ISSUER || !e.AUTH_JWKS_URI)) {
    problems.push('AUTH_ISSUER and AUTH_JWKS_URI are required when AUTH_MODE=entra');
  }

  let pooled: SqlTarget | undefined;
  if (e.SQL_CONNECTION_STRING) pooled = { kind: 'url', url: e.SQL_CONNECTION_STRING };
  else if (e.SQL_HOST && e.SQL_USER) {
    pooled = { kind: 'entra', host: e.SQL_HOST, port: e.SQL_PORT, database: e.SQL_DATABASE, user: e.SQL_USER, ssl: e.SQL_SSL };
  } else problems.push('SQL_CONNECTION_STRING (or SQL_HOST and SQL_USER) is required');

  const silos: Record<string, SqlTarget> = {};
  try {
    const obj = z.record(z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/), siloSchema).parse(JSON.parse(e.SQL_SILOS));
    for (const [name, s] of Object.entries(obj)) {
      silos[name] =
        typeof s === 'string'
          ? { kind: 'url', url: s }
          : { kind: 'entra', host: s.host, port: s.port ?? e.SQL_PORT, database: s.database, user: e.SQL_USER ?? '', ssl: e.SQL_SSL };
    }
  } catch {
    problems.push('SQL_SILOS: must be a JSON object of silo name -> connection string or {host, database}');
  }

  if (problems.length > 0 || !pooled) throw new SettingsError(`Invalid settings:\n  ${problems.join('\n  ')}`);

  return {
    inAzure,
    sql: { pooled, silos, poolMax: e.SQL_POOL_MAX, statementTimeoutMs: e.SQL_STATEMENT_TIMEOUT_MS },
    auth: {
      mode: e.AUTH_MODE,
      issuer: e.AUTH_ISSUER,
      audience: e.AUTH_AUDIENCE,
      jwksUri: e.AUTH_JWKS_URI,
      devKeyFile: e.AUTH_DEV_KEY_FILE,
      platformAdmins: e.AUTH_PLATFORM_ADMINS.split(',').map((s) => s.trim()).filter(Boolean),
    },
    storage: {
      connectionString: e.STORAGE_CONNECTION_STRING,
      blobUrl: e.STORAGE_BLOB_URL,
      queueUrl: e.STORAGE_QUEUE_URL,
      artifactsContainer: e.ARTIFACTS_CONTAINER,
      eventsQueue: e.EVENTS_QUEUE,
    },
    cosmos: { endpoint: e.COSMOS_ENDPOINT, key: e.COSMOS_KEY, database: e.COSMOS_DATABASE },
    keyVault: { url: e.KEYVAULT_URL },
    telemetry: { connectionString: e.APPLICATIONINSIGHTS_CONNECTION_STRING },
    http: { maxBodyBytes: e.HTTP_MAX_BODY_BYTES, maxPageSize: e.HTTP_MAX_PAGE_SIZE },
    tenantCacheTtlMs: e.TENANT_CACHE_TTL_MS,
    durableTaskHub: e.DURABLE_TASK_HUB,
  };
}

function stripEmpty(env: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && v !== '') out[k] = v;
  return out;
}
