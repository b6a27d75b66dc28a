/**
 * Composes the app on its first invocation, from the service list `main.ts` hands over: each
 * service's instance is built in list order from the kernel and the public APIs of the services it
 * needs (each service plugs itself into its dependencies there), then the route table with the
 * tenants service as the access check and the error statuses every service declares. The result
 * is read-only. Also derives, from the same list, what the migrator and the tests need.
 */
import type { Kernel } from '../shared/kernel.js';
import { HttpRoutes } from '../shared/http/pipeline.js';
import { errorStatuses } from '../shared/http/responses.js';
import type { App, Registrar } from '../shared/registrar.js';
import type { AppPorts, QuotaDeclaration, ServiceInstance } from '../shared/service.js';
import type { ServiceSql } from '../shared/sql/service-db.js';
import type { ServiceMigrations } from '../shared/sql/migrator.js';
import type { TenantsApi } from '../functions/tenants/api.js';
import type { AnyService } from './services.js';

/** Every service that owns a schema, in list order. */
export async function loadDatabaseServices(services: readonly AnyService[]): Promise<ServiceSql[]> {
  const out: ServiceSql[] = [];
  for (const s of services) if (s.sql) out.push(await s.sql());
  return out;
}

/** Every service's schema, role and migrations, for the migrate command and the tests. */
export async function loadServiceMigrations(services: readonly AnyService[]): Promise<ServiceMigrations[]> {
  const out: ServiceMigrations[] = [];
  for (const s of services) if (s.sql && s.migrations) out.push({ ...(await s.sql()), migrations: await s.migrations() });
  return out;
}

/** Every quota the services declare; a name declared twice is refused. */
export function collectQuotas(services: readonly AnyService[]): Readonly<Record<string, QuotaDeclaration>> {
  const out: Record<string, QuotaDeclaration> = {};
  for (const s of services) {
    for (const [name, q] of Object.entries(s.quotas ?? {})) {
      if (name in out) throw new Error(`The quota '${name}' is declared twice (again by ${s.name})`);
      out[name] = q;
    }
  }
  return out;
}

/** Builds every service of `services` and the route table for `kernel`. */
export async function composeApp(kernel: Kernel, registrar: Registrar, services: readonly AnyService[]): Promise<App> {
  const ports: AppPorts = {
    databaseServices: await loadDatabaseServices(services),
    quotas: collectQuotas(services),
    loadAllRoutes: async () => void (await registrar.loadRoutes()),
  };
  const instances = new Map<string, ServiceInstance>();
  for (const s of services) {
    const deps: Record<string, unknown> = {};
    for (const need of s.needs) {
      const dep = instances.get(need);
      if (!dep) throw new Error(`${s.name} needs ${need}, which must come before it in composition/services.ts`);
      deps[need] = dep.api;
    }
    instances.set(s.name, await s.create({ kernel, deps: deps as never, app: ports }));
  }
  const tenants = instances.get('tenants');
  if (!tenants) throw new Error('The tenants service (the access check) is not in the service list');
  const routes = new HttpRoutes({
    authenticator: kernel.authenticator,
    tenantAccess: tenants.api as TenantsApi,
    sql: kernel.sql,
    openapi: kernel.openapi,
    errors: errorStatuses(services.flatMap((s) => (s.errors ? [{ owner: s.name, table: s.errors }] : []))),
    http: kernel.settings.http,
  });
  return Object.freeze({
    kernel,
    routes,
    instance(name: string): ServiceInstance {
      const i = instances.get(name);
      if (!i) throw new Error(`No service named '${name}'`);
      return i;
    },
  });
}
