/**
 * Every service of the app, once, in dependency order: a service's `needs` come before it. The
 * function registry, the migrator's list, the error table, the quota set and the runtime wiring
 * are all derived from this list (here and in `app.ts`); adding a service means adding its entry.
 */
import type { Registrar } from '../shared/registrar.js';
import type { ServiceDescriptor, ServiceInstance, QuotaDeclaration } from '../shared/service.js';
import type { ServiceSql } from '../shared/sql/service-db.js';
import type { ServiceMigrations } from '../shared/sql/migrator.js';
import { tenants } from '../functions/tenants/index.js';
import { environments } from '../functions/environments/index.js';
import { catalog } from '../functions/catalog/index.js';
import { platform } from '../functions/platform/index.js';

/** A descriptor of any service, as the list holds them. */
export type AnyService = ServiceDescriptor<string, ServiceInstance, never>;

export const services: readonly AnyService[] = [tenants, environments, catalog, platform] as readonly AnyService[];

/** Registers every function of the app (metadata only). */
export function registerAll(r: Registrar): void {
  for (const s of services) s.register(r.service(s.name));
}

/** Every service that owns a schema, in list order. */
export const databaseServices: readonly ServiceSql[] = services.flatMap((s) => (s.sql ? [s.sql] : []));

/** Every quota the services declare; a name declared twice is a mistake caught at start. */
export const quotas: Readonly<Record<string, QuotaDeclaration>> = (() => {
  const out: Record<string, QuotaDeclaration> = {};
  for (const s of services) {
    for (const [name, q] of Object.entries(s.quotas ?? {})) {
      if (name in out) throw new Error(`The quota '${name}' is declared twice (again by ${s.name})`);
      out[name] = q;
    }
  }
  return out;
})();

/** Every service's schema, role and migrations (loaded now), for the migrate command and tests. */
export async function loadServiceMigrations(): Promise<ServiceMigrations[]> {
  const out: ServiceMigrations[] = [];
  for (const s of services) if (s.sql && s.migrations) out.push({ ...s.sql, migrations: await s.migrations() });
  return out;
}
