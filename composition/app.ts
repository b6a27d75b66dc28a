/**
 * Composes the app on its first invocation: each service's instance is built in list order from
 * the kernel and the public APIs of the services it needs (each service plugs itself into its
 * dependencies there), then the route table with the tenants service as the access check and the
 * error statuses every service declares. The result is read-only.
 */
import type { Kernel } from '../shared/kernel.js';
import { HttpRoutes } from '../shared/http/pipeline.js';
import { errorStatuses } from '../shared/http/responses.js';
import type { App, Registrar } from '../shared/registrar.js';
import type { AppPorts, ApiOf, ServiceInstance } from '../shared/service.js';
import type { tenants } from '../functions/tenants/index.js';
import { databaseServices, quotas, services } from './services.js';

/** Builds every service and the route table for `kernel`. */
export async function composeApp(kernel: Kernel, registrar: Registrar): Promise<App> {
  const ports: AppPorts = { databaseServices, quotas, loadAllRoutes: async () => void (await registrar.loadRoutes()) };
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
  const routes = new HttpRoutes({
    authenticator: kernel.authenticator,
    tenantAccess: instances.get('tenants')?.api as ApiOf<typeof tenants>,
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
