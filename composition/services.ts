/**
 * Every service of the app, once, in dependency order: a service's `needs` come before it. The
 * function registry is derived from this list here; the migrator's list, the error table, the
 * quota set and the runtime wiring in `app.ts`. Adding a service means adding its entry.
 */
import type { Registrar } from '../shared/registrar.js';
import type { ServiceDescriptor, ServiceInstance } from '../shared/service.js';
import { tenants } from '../functions/tenants/index.js';
import { environments } from '../functions/environments/index.js';
import { catalog } from '../functions/catalog/index.js';
import { secrets } from '../functions/secrets/index.js';
import { configuration } from '../functions/configuration/index.js';
import { scaling } from '../functions/scaling/index.js';
import { deployments } from '../functions/deployments/index.js';
import { health } from '../functions/health/index.js';
import { drift } from '../functions/drift/index.js';
import { platform } from '../functions/platform/index.js';

/** A descriptor of any service, as the list holds them. */
export type AnyService = ServiceDescriptor<string, ServiceInstance, never>;

export const services: readonly AnyService[] = [tenants, environments, catalog, secrets, configuration, scaling, deployments, health, drift, platform] as readonly AnyService[];

/** Registers every function of the app (metadata only). */
export function registerAll(r: Registrar): void {
  for (const s of services) s.register(r.service(s.name));
}
