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

/**
 * Variables only an Azure host sets: App Service and every Functions plan (`WEBSITE_*`; the
 * Functions host reserves `CONTAINER_NAME`), Container Apps, and any host with a managed
 * identity (App Service, Functions, Container Apps and Container Instances set
 * `IDENTITY_ENDPOINT`, older hosts and Cloud Shell `MSI_ENDPOINT`; AKS workload identity
 * `AZURE_FEDERATED_TOKEN_FILE`). One of them present means "running in Azure": the dev issuer is
 * refused there whatever else is set. An entry of two names counts when both are set.
 */
export const AZURE_HOST_MARKERS: readonly (string | readonly [string, string])[] = [
  'WEBSITE_SITE_NAME',
  'WEBSITE_INSTANCE_ID',
  'WEBSITE_OWNER_NAME',
  'WEBSITE_RESOURCE_GROUP',
  'CONTAINER_APP_NAME',
  'IDENTITY_ENDPOINT',
  'MSI_ENDPOINT',
  'AZURE_FEDERATED_TOKEN_FILE',
  ['FUNCTIONS_EXTENSION_VERSION', 'CONTAINER_NAME'],
];

/** The Azure host markers present in `env` (empty when not running in Azure). */
export function azureHostMarkers(env: Record<string, string | undefined>): string[] {
  const set = (k: string) => (env[k] ?? '') !== '';
  return AZURE_HOST_MARKERS.flatMap((m) => (typeof m === 'string' ? (set(m) ? [m] : []) : m.every(set) ? [m.join('+')] : []));
}

/** A Microsoft Entra application (client) id. */
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const raw = z
  .object({
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
    /** The local opt-in `AUTH_MODE=dev` needs: exactly `local`. Never set in Azure (refused there). */
    AUTH_DEV_ALLOW: z.enum(['local'], { message: "AUTH_DEV_ALLOW must be 'local' or unset" }).optional(),
    AUTH_ISSUER: z.string().optional(),
    /** Accepted `aud` values, comma-separated: the application id URI (v1 tokens) first. */
    AUTH_AUDIENCE: z.string().default('api://runtime-platform'),
    /** The API application's client id: the `aud` of Entra v2.0 access tokens. */
    AUTH_CLIENT_ID: z.string().regex(GUID, { message: 'AUTH_CLIENT_ID must be an application (client) id, a GUID' }).optional(),
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

    // ---- Container registries ------------------------------------------------------------------
    /**
     * Registries (host or host:port, comma-separated) the deployments service may ask to resolve an
     * image tag to its digest; no other host is ever contacted. Loopback ones are spoken to over
     * plain HTTP (the local registry), all others over HTTPS with the managed identity's token.
     */
    IMAGE_REGISTRIES: z.string().default(''),

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
  /** True when one of {@link AZURE_HOST_MARKERS} is set. */
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
    /** The first of `AUTH_AUDIENCE` (the application id URI): the audience dev tokens are minted for. */
    audience: string;
    /** Every `aud` a token may carry: `AUTH_AUDIENCE`'s entries and `AUTH_CLIENT_ID`. */
    audiences: string[];
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
  /** Registries the image resolver may contact (`IMAGE_REGISTRIES`). */
  imageRegistries: string[];
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
  const e = parse(env);
  const markers = azureHostMarkers(env);
  const inAzure = markers.length > 0;
  const problems: string[] = [];

  if (e.AUTH_MODE === 'dev' && inAzure) {
    problems.push(`AUTH_MODE: the dev issuer is never accepted when running in Azure (${markers.join(', ')} set)`);
  } else if (e.AUTH_MODE === 'dev' && e.AUTH_DEV_ALLOW !== 'local') {
    problems.push('AUTH_MODE=dev needs the local opt-in AUTH_DEV_ALLOW=local (the local stack and the tests set it)');
  }
  if (e.AUTH_DEV_ALLOW !== undefined && inAzure) {
    problems.push(`AUTH_DEV_ALLOW: must not be set when running in Azure (${markers.join(', ')} set)`);
  }
  if (e.AUTH_MODE === 'entra' && (!e.AUTH_ISSUER || !e.AUTH_JWKS_URI)) {
    problems.push('AUTH_ISSUER and AUTH_JWKS_URI are required when AUTH_MODE=entra');
  }
  const uris = e.AUTH_AUDIENCE.split(',').map((a) => a.trim()).filter(Boolean);
  if (uris.length === 0) problems.push('AUTH_AUDIENCE: at least one audience is required');
  const audiences = [...new Set([...uris, ...(e.AUTH_CLIENT_ID ? [e.AUTH_CLIENT_ID] : [])])];

  const sql = sqlSettings(e, problems);
  if (problems.length > 0 || !sql) throw new SettingsError(`Invalid settings:\n  ${problems.join('\n  ')}`);

  return {
    inAzure,
    sql,
    auth: {
      mode: e.AUTH_MODE,
      issuer: e.AUTH_ISSUER,
      audience: uris[0] ?? '',
      audiences,
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
    imageRegistries: e.IMAGE_REGISTRIES.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean),
    cosmos: { endpoint: e.COSMOS_ENDPOINT, key: e.COSMOS_KEY, database: e.COSMOS_DATABASE },
    keyVault: { url: e.KEYVAULT_URL },
    telemetry: { connectionString: e.APPLICATIONINSIGHTS_CONNECTION_STRING },
    http: { maxBodyBytes: e.HTTP_MAX_BODY_BYTES, maxPageSize: e.HTTP_MAX_PAGE_SIZE },
    tenantCacheTtlMs: e.TENANT_CACHE_TTL_MS,
    durableTaskHub: e.DURABLE_TASK_HUB,
  };
}

/**
 * Only the PostgreSQL settings, for tools that reach the databases but serve no requests (the
 * migrate command): authentication settings are neither needed nor checked.
 */
export function loadSqlSettings(env: Record<string, string | undefined> = process.env): Settings['sql'] {
  const problems: string[] = [];
  const sql = sqlSettings(parse(env), problems);
  if (problems.length > 0 || !sql) throw new SettingsError(`Invalid settings:\n  ${problems.join('\n  ')}`);
  return sql;
}

type RawSettings = z.output<typeof raw>;

function parse(env: Record<string, string | undefined>): RawSettings {
  const parsed = raw.safeParse(stripEmpty(env));
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    throw new SettingsError(`Invalid settings:\n  ${lines.join('\n  ')}`);
  }
  return parsed.data;
}

function sqlSettings(e: RawSettings, problems: string[]): Settings['sql'] | undefined {
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
  return pooled ? { pooled, silos, poolMax: e.SQL_POOL_MAX, statementTimeoutMs: e.SQL_STATEMENT_TIMEOUT_MS } : undefined;
}

function stripEmpty(env: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && v !== '') out[k] = v;
  return out;
}
