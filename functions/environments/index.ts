/**
 * environments — RuntimeEnvironmentService: a tenant's runtime environments (dev, test, staging,
 * prod …), their region, labels and the storage topology each expects the infrastructure program
 * to provision (the drift worker compares it with what exists). Storage map row: "Runtime
 * environments & inventory" — PostgreSQL, schema `environments`, role `rp_environments`, kept for
 * the tenant's lifetime (environments are retired, never deleted).
 *
 * <!-- functions:environments -->
 * <!-- /functions -->
 *
 * Decisions, and why:
 * - Ids are server-generated (`env_` + 16 hex characters) and never reused; the `name` is the
 *   human handle, unique in the tenant among environments that are not retired, so a retired name
 *   can be taken again while the retired environment keeps its id and history. Retries of a create
 *   are made safe by `Repeatability-Request-ID` (and by the name rule).
 * - Quota: the create locks the tenant's environments (`pg_advisory_xact_lock` on the tenant) and
 *   counts the live ones in the same transaction, so concurrent creates cannot exceed
 *   `maxEnvironments`. The lock lives in the tenant's database, so it holds across instances.
 * - Lists are keyset-paginated by (name, id), or by (created_at, id) when `createdAfter` /
 *   `createdBefore` is given; the cursor names its order. Both orders have a tenant-first index.
 * - Retire needs the tenant admin role: it cascades to every service in the environment. The
 *   environment is retired in this service's transaction; the catalog then retires the services
 *   in its own, through the listener composition/wiring.ts plugs in with `api.onEnvironmentRetired`
 *   (so this service never imports the catalog). Retrying the retire re-runs the cascade, and the
 *   catalog's daily timer repairs a cascade cut short (see functions/catalog/index.ts).
 * - Times (`created_at`, `updated_at`, `retired_at`) come from the kernel's clock, so retention and
 *   range queries are testable with a controlled clock.
 */
import { defineService, lazyRoutes } from '../../shared/service.js';
import type { EnvironmentsInstance } from './api.js';
import { errors } from './errors.js';
import { ENVIRONMENTS_SQL } from './sql.js';

const routes = lazyRoutes((self: EnvironmentsInstance, kernel) =>
  import('./handlers.js').then((m) => m.environmentHandlers({ now: kernel.now, listeners: self.listeners })),
);

export const environments = defineService({
  name: 'environments',
  sql: ENVIRONMENTS_SQL,
  migrations: () => import('./migrations/index.js').then((m) => m.migrations),
  errors: errors.table,
  quotas: { maxEnvironments: { default: 20, max: 10_000, description: 'Live (not retired) environments' } },
  needs: [],
  create: async ({ kernel }) => (await import('./api.js')).createEnvironments(kernel),
  register(r) {
    const list = 'tenants/{tenantId}/environments';
    const one = `${list}/{environmentId}`;
    r.http('environmentCreate', 'POST', list, routes('create'));
    r.http('environmentList', 'GET', list, routes('list'));
    r.http('environmentGet', 'GET', one, routes('get'));
    r.http('environmentPatch', 'PATCH', one, routes('patch'));
    r.http('environmentRetire', 'POST', `${one}/retire`, routes('retire'));
  },
});
