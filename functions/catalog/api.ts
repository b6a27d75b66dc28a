/**
 * The catalog service's public in-process contract, and its two plug points for the services that
 * own a service's other data (deployments, configuration, secrets, scaling, health, drift):
 *
 * - Reference checkers: before a retired service is purged, every registered checker is asked
 *   which of the candidates its service still references (a running deployment, a secret binding,
 *   a scaling policy …). A referenced service is skipped and reported, never purged.
 * - Fact providers: the fact sheet (`GET …/services/{serviceId}/facts`) asks one provider per part.
 *   A part with no provider is absent from the sheet (listed in `missing`), never made up.
 *
 * Owning services implement these against their own store and plug them in from their own
 * `create` (their descriptor `needs: ['catalog']`), e.g.
 * `deps.catalog.addReferenceChecker('deployments', (tenant, ids) => …)`.
 */
import { sql, type Kysely, type RawBuilder } from 'kysely';
import { notFound, type DomainError } from '../../shared/errors.js';
import type { Kernel } from '../../shared/kernel.js';
import type { LeadStatement } from '../../shared/sql/database.js';
import type { TenantRef } from '../../shared/sql/service-db.js';
import type { EnvironmentsApi } from '../environments/api.js';
import type { TenantsApi } from '../tenants/api.js';
import { createCascade } from './cascade.js';
import { CatalogPlugs } from './plugs.js';
import { createPurge, type PurgeOptions, type PurgeSummary } from './purge.js';
import type { FactPart, FactParts } from './schemas.js';
import * as store from './store.js';
import { CATALOG_SQL } from './sql.js';

export type { FactPart, FactParts } from './schemas.js';
export { serviceRetired } from './errors.js';
import { serviceRetired } from './errors.js';

/** A service as other services see it. */
export interface ServiceSummary {
  serviceId: string;
  environmentId: string;
  name: string;
  owner: string;
  status: 'active' | 'retired';
  retiredAt: Date | null;
}

/**
 * Answers, for some retired services of one tenant, which are still referenced by the checker's
 * service and why: a map from service id to human-readable reasons (e.g. `deployment dep_… is
 * running`). Ids absent from the map (or with no reasons) are not referenced. Runs its own
 * tenant-scoped transaction in `tenant.placement`. Throwing skips the whole batch (fail safe).
 */
export type ServiceReferenceChecker = (tenant: TenantRef, serviceIds: readonly string[]) => Promise<ReadonlyMap<string, readonly string[]>>;

/**
 * One part of a service's fact sheet, from the service that owns it: the part's current value for
 * the service, or `null` when it has none yet (never deployed, no scaling policy …). The answer is
 * parsed with the part's schema in schemas.ts; unknown fields are dropped.
 */
export type FactProvider<K extends FactPart> = (tenant: TenantRef, service: ServiceSummary) => Promise<FactParts[K] | null>;

/**
 * A check, in another service's write, that a service is live (see {@link CatalogApi.liveServiceCheck}).
 * Either run `statement` ahead of a one-statement write with `SqlDatabases.onceAfter`, make the
 * write conditional on `isLive`, select `state` beside its outcome and ask `refusal` what to
 * answer; or lead a transaction with it (`ctx.tx(svc, fn, { lead: check.statement })`) and ask
 * `refusalOf` the rows it answered before writing.
 */
export interface LiveServiceCheck {
  statement: LeadStatement;
  /** SQL, true in the rest of the transaction when the service is live. */
  isLive: RawBuilder<boolean>;
  /** SQL, the service's state for the rest of the transaction: 'live', 'retired' or 'missing'. */
  state: RawBuilder<ServiceState>;
  /** The error for a state that refuses the write (404 missing, 409 retired), or `undefined` when live. */
  refusal(state: ServiceState | null): DomainError | undefined;
  /** The same, from the rows `statement` answered (run as a transaction's lead: `ctx.tx(…, { lead })`). */
  refusalOf(rows: readonly unknown[]): DomainError | undefined;
}

/** A service's state as a live-service check finds it. */
export type ServiceState = 'live' | 'retired' | 'missing';

/** What other services (and the composition root) may ask of the catalog. */
export interface CatalogApi {
  /**
   * A check that service `serviceId` exists in environment `environmentId` and is live, to run in
   * the round trip and transaction of the caller's own write (see {@link LiveServiceCheck}). It
   * share-locks the service's row, so a retirement waits for the write to commit: no write lands on
   * a service retired after it was checked.
   */
  liveServiceCheck(tenant: TenantRef, environmentId: string, serviceId: string): LiveServiceCheck;
  /** The service in the tenant, or `undefined` when it does not exist there (or was purged). */
  getService(tenant: TenantRef, serviceId: string): Promise<ServiceSummary | undefined>;
  /** The service in environment `environmentId` (live or retired), or a 404 `NotFound` naming `serviceId`. */
  requireService(tenant: TenantRef, environmentId: string, serviceId: string): Promise<ServiceSummary>;
  /** Those of `serviceIds` that exist in the tenant (any status), by id: one query for a whole batch (at most 10,000 ids). */
  getServices(tenant: TenantRef, serviceIds: readonly string[]): Promise<ReadonlyMap<string, ServiceSummary>>;
  /** The live services of an environment, in name order (the drift worker's desired state). */
  listServices(tenant: TenantRef, environmentId: string): Promise<ServiceSummary[]>;
  /** Plugs in `owner`'s reference check for the purge; one per owner. */
  addReferenceChecker(owner: string, checker: ServiceReferenceChecker): void;
  /** Plugs in `owner`'s provider of one fact-sheet part; one per part. */
  addFactProvider<K extends FactPart>(part: K, owner: string, provider: FactProvider<K>): void;
  /**
   * Retires every live service of a retired environment, with the environment's retirement time,
   * and records the environment as retired so no registration gets in afterwards. Idempotent;
   * returns how many services it retired. Wired to the environments service's retire listener.
   */
  retireServicesOfEnvironment(tenant: TenantRef, environmentId: string, retiredAt: Date): Promise<number>;
  /**
   * Runs `listener` after a service is retired through its own retire route (and again on every
   * retried retire of it, so listeners must be idempotent). Services retired with their environment
   * are announced by the environments service's `onEnvironmentRetired` instead.
   */
  onServiceRetired(listener: ServiceRetiredListener): void;
}

/** Callback run after a service is retired (e.g. deployments cancels its pending deployments). */
export type ServiceRetiredListener = (tenant: TenantRef, service: ServiceSummary) => Promise<void>;

/** A service row as the {@link ServiceSummary} other services see. */
export function toSummary(r: Pick<store.ServiceRow, 'id' | 'environment_id' | 'name' | 'owner' | 'retired_at'>): ServiceSummary {
  return { serviceId: r.id, environmentId: r.environment_id, name: r.name, owner: r.owner, status: r.retired_at ? 'retired' : 'active', retiredAt: r.retired_at };
}

/** What the catalog's purge and handlers need from other services. */
export interface CatalogNeeds {
  tenants: Pick<TenantsApi, 'listTenants'>;
  environments: Pick<EnvironmentsApi, 'getEnvironment' | 'listRetiredEnvironments' | 'onEnvironmentRetired'>;
}

/** The catalog of one app instance: its API, its plug registry, the purge run and its dependencies. */
export interface CatalogInstance {
  api: CatalogApi;
  plugs: CatalogPlugs;
  environments: CatalogNeeds['environments'];
  /** The listeners of {@link CatalogApi.onServiceRetired}, run in registration order. */
  serviceRetired: ServiceRetiredListener[];
  /** One purge run over every tenant (what the daily timer runs). */
  purge(opts?: PurgeOptions): Promise<PurgeSummary>;
}

/** Builds the catalog, and plugs its retire cascade into the environments service. */
export function createCatalog(kernel: Kernel, deps: CatalogNeeds): CatalogInstance {
  const plugs = new CatalogPlugs();
  const cascade = createCascade(kernel);
  const serviceRetired: ServiceRetiredListener[] = [];
  // Retiring an environment retires its services (in the catalog's own transaction).
  deps.environments.onEnvironmentRetired(async (tenant, id, at) => void (await cascade(tenant, id, at)));
  const api: CatalogApi = {
    liveServiceCheck: (tenant, environmentId, serviceId) => liveServiceCheck(tenant.tenantId, environmentId, serviceId),
    async getService(tenant, serviceId) {
      // One round trip: other services ask this before each of their writes.
      const [row] = await kernel.sql.read(tenant, CATALOG_SQL, (db) => store.selectService(db, tenant.tenantId, serviceId));
      return row ? toSummary(row) : undefined;
    },
    async requireService(tenant, environmentId, serviceId) {
      const service = await api.getService(tenant, serviceId);
      if (!service || service.environmentId !== environmentId) throw notFound(`Service '${serviceId}'`, 'serviceId');
      return service;
    },
    async getServices(tenant, serviceIds) {
      if (serviceIds.length > 10_000) throw new RangeError('getServices takes at most 10,000 ids');
      const rows = await kernel.sql.read(tenant, CATALOG_SQL, (db) => store.selectServicesById(db, tenant.tenantId, serviceIds));
      return new Map(rows.map((r) => [r.id, toSummary(r)]));
    },
    async listServices(tenant, environmentId) {
      const rows = await kernel.sql.run(tenant, CATALOG_SQL, (trx) => store.listLiveInEnvironment(trx, tenant.tenantId, environmentId));
      return rows.map(toSummary);
    },
    addReferenceChecker: (owner, checker) => plugs.addReferenceChecker(owner, checker),
    addFactProvider: (part, owner, provider) => plugs.addFactProvider(part, owner, provider),
    retireServicesOfEnvironment: cascade,
    onServiceRetired: (listener) => void serviceRetired.push(listener),
  };
  const purge = createPurge({ kernel, tenants: deps.tenants, environments: deps.environments, plugs, cascade });
  return { api, plugs, environments: deps.environments, serviceRetired, purge };
}

/** The transaction-local setting a live-service check leaves its outcome in. */
const STATE_SETTING = 'app.catalog_service_state';

function liveServiceCheck(tenantId: string, environmentId: string, serviceId: string): LiveServiceCheck {
  const refusal = (state: ServiceState | null) => (state === 'live' ? undefined : state === 'retired' ? serviceRetired(serviceId) : notFound(`Service '${serviceId}'`, 'serviceId'));
  return {
    statement: { svc: CATALOG_SQL, build: (db) => store.checkServiceState(db as Kysely<store.CatalogDb>, tenantId, environmentId, serviceId, STATE_SETTING) },
    isLive: sql<boolean>`(current_setting(${sql.lit(STATE_SETTING)}, true) = 'live')`,
    state: sql<ServiceState>`current_setting(${sql.lit(STATE_SETTING)}, true)`,
    refusal,
    refusalOf: (rows) => refusal(((rows[0] as { state?: ServiceState } | undefined)?.state ?? null)),
  };
}
