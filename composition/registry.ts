/**
 * Every service's functions, registered at import with their metadata only (light: nothing here
 * imports a handler, the kernel or the SQL layer). Adding a service means adding it here, in
 * `migrations.ts` and, if it wires into others, in `wiring.ts`.
 */
import type { Registrar } from '../shared/registrar.js';
import * as tenants from '../functions/tenants/index.js';
import * as environments from '../functions/environments/index.js';
import * as catalog from '../functions/catalog/index.js';
import * as platform from '../functions/platform/index.js';

/** Registers every function of the app. */
export function registerAll(r: Registrar): void {
  tenants.register(r);
  environments.register(r);
  catalog.register(r);
  platform.register(r);
}
