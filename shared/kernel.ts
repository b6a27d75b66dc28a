/**
 * The kernel: the ports every service may use — settings, SQL, authentication, the OpenAPI
 * registry, the Azure clients and the clock. The composition root builds it once, complete, and
 * nothing changes it afterwards; services' APIs and the route table are built from it
 * (`composition/app.ts`). Nothing else builds clients or reads settings.
 */
import type { Settings } from './settings.js';
import { createAuthenticator, type Authenticator } from './auth/authenticate.js';
import { SqlDatabases } from './sql/database.js';
import { OpenApi } from './http/openapi.js';
import { AzureClients } from './clients.js';
import type { Telemetry } from './telemetry.js';

/** What every service gets. */
export interface Kernel {
  readonly settings: Settings;
  readonly sql: SqlDatabases;
  readonly authenticator: Authenticator;
  readonly openapi: OpenApi;
  readonly clients: AzureClients;
  /** Injected clock, so retention and purge logic is testable. */
  readonly now: () => Date;
  /** Application Insights telemetry items (alerts query its custom events); a no-op when telemetry is off. */
  readonly telemetry: Telemetry;
}

// Not telemetry.ts's `noTelemetry`: that module is in the start-up chunk, and a value imported
// from it here would move it into a chunk of its own.
const NO_TELEMETRY: Telemetry = {
  trackEvent: () => undefined,
  trackAvailability: () => undefined,
  trackException: () => undefined,
  trackTrace: () => undefined,
  flush: () => Promise.resolve(),
};

/** Builds the kernel. Clients and pools are created lazily on first use. */
export function createKernel(settings: Settings, opts: { now?: () => Date; telemetry?: Telemetry } = {}): Kernel {
  const clients = new AzureClients(settings);
  // Entra auth to PostgreSQL needs the credential only when SQL targets are `entra`.
  const credential = {
    getToken: async (scopes: string | string[]) => (await clients.azureCredential()).getToken(scopes),
  };
  return Object.freeze({
    settings,
    sql: new SqlDatabases(settings.sql, credential),
    authenticator: createAuthenticator(settings.auth),
    openapi: new OpenApi(),
    clients,
    now: opts.now ?? (() => new Date()),
    telemetry: opts.telemetry ?? NO_TELEMETRY,
  });
}
