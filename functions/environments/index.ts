/**
 * environments — RuntimeEnvironmentService: a tenant's runtime environments (dev, test, staging,
 * prod …), their region, labels and the storage topology each expects the infrastructure program
 * to provision (the drift worker compares it with what exists). Storage map row: "Runtime
 * environments & inventory" — PostgreSQL, schema `environments`, role `rp_environments`, kept for
 * the tenant's lifetime (environments are retired, never deleted).
 *
 *   POST /api/tenants/{tenantId}/environments                               environmentCreate  operator
 *   GET  /api/tenants/{tenantId}/environments                               environmentList    reader
 *   GET  /api/tenants/{tenantId}/environments/{environmentId}               environmentGet     reader
 *   PATCH /api/tenants/{tenantId}/environments/{environmentId}              environmentPatch   operator
 *   POST /api/tenants/{tenantId}/environments/{environmentId}/retire        environmentRetire  admin
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
import type { Kernel } from '../../shared/kernel.js';
import type { Registrar } from '../../shared/registrar.js';

const h = (k: Kernel) => import('./handlers.js').then((m) => m.environmentHandlers(k));

/** Registers the environments functions (handlers load on first use, see shared/registrar.ts). */
export function register(r: Registrar): void {
  const list = 'tenants/{tenantId}/environments';
  const one = `${list}/{environmentId}`;
  r.http('environmentCreate', 'POST', list, async (k) => (await h(k)).create);
  r.http('environmentList', 'GET', list, async (k) => (await h(k)).list);
  r.http('environmentGet', 'GET', one, async (k) => (await h(k)).get);
  r.http('environmentPatch', 'PATCH', one, async (k) => (await h(k)).patch);
  r.http('environmentRetire', 'POST', `${one}/retire`, async (k) => (await h(k)).retire);
}
