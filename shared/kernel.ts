/**
 * The kernel as the composition root assembles it: settings, SQL, authentication, the route
 * table and OpenAPI, SDK clients. Services receive it in their `register(kernel)`; nothing else
 * builds clients or reads settings.
 */
import type { Settings } from './settings.js';
import { createAuthenticator, type Authenticator } from './auth/authenticate.js';
import { SqlDatabases, type ServiceSql } from './sql/database.js';
import { OpenApi } from './http/openapi.js';
import { HttpRoutes, type TenantAccessPort } from './http/pipeline.js';
import { AzureClients } from './clients.js';

/** What every service gets. */
export interface Kernel {
  settings: Settings;
  sql: SqlDatabases;
  authenticator: Authenticator;
  openapi: OpenApi;
  routes: HttpRoutes;
  clients: AzureClients;
  /** The tenants service's access check; set by the composition root once tenants is built. */
  tenantAccess: TenantAccessPort;
  /** Injected clock, so retention and purge logic is testable. */
  now(): Date;
  /** Every service's outbox (schema and role), for the publisher; set by the wiring. */
  outboxes: ServiceSql[];
  /** Loads every route's implementation (set by the registrar; the OpenAPI document needs them all). */
  loadAllRoutes(): Promise<void>;
}


/** Builds the kernel. Clients and pools are created lazily on first use. */
export function createKernel(settings: Settings, opts: { now?: () => Date } = {}): Kernel {
  const clients = new AzureClients(settings);
  // Entra auth to PostgreSQL needs the credential only when SQL targets are `entra`.
  const credential = {
    getToken: async (scopes: string | string[]) => (await clients.azureCredential()).getToken(scopes),
  };
  const kernel: Kernel = {
    settings,
    sql: new SqlDatabases(settings.sql, credential),
    authenticator: createAuthenticator(settings.auth),
    openapi: new OpenApi(),
    clients,
    tenantAccess: {
      resolve: () => Promise.reject(new Error('tenant access is not wired; register the tenants service first')),
    },
    now: opts.now ?? (() => new Date()),
    loadAllRoutes: async () => undefined,
    outboxes: [],
    routes: undefined as unknown as HttpRoutes,
  };
  kernel.routes = new HttpRoutes({
    authenticator: kernel.authenticator,
    get tenantAccess() {
      return kernel.tenantAccess;
    },
    sql: kernel.sql,
    openapi: kernel.openapi,
    http: settings.http,
  });
  return kernel;
}

/**
 * Makes `create` a per-kernel singleton: one instance per app instance (services' APIs, caches and
 * plug registries), shared by every caller that holds the same kernel.
 */
export function perKernel<T>(create: (kernel: Kernel) => T): (kernel: Kernel) => T {
  const instances = new WeakMap<Kernel, T>();
  return (kernel) => {
    if (!instances.has(kernel)) instances.set(kernel, create(kernel));
    return instances.get(kernel) as T;
  };
}
