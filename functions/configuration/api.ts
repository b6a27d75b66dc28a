/**
 * The configuration service's public in-process contract. Other services reach configurations only
 * through this module; each call runs its own tenant-scoped read or transaction as
 * `rp_configuration` in the tenant's database. Nothing here carries a secret value: settings hold
 * references to secret bindings (`{"secretRef": "<binding name>"}`), never values.
 *
 * It also plugs the service into its dependencies: the catalog's purge asks it which services the
 * latest configurations name, the fact sheet's `configuration` part comes from it, and the secrets
 * service's blast radius asks it where bindings are referenced (`referencesToBinding`).
 */
import type { Kernel } from '../../shared/kernel.js';
import type { TenantRef } from '../../shared/sql/service-db.js';
import type { CatalogApi } from '../catalog/api.js';
import type { BindingReferenceSource, ChangeRef, SecretsApi } from '../secrets/api.js';
import type { TenantsApi } from '../tenants/api.js';
import { createRetention, type RetentionOptions, type RetentionSummary } from './retention.js';
import * as store from './store.js';
import { CONFIGURATION_SQL } from './sql.js';

export type { BindingReferenceSource, ChangeRef } from '../secrets/api.js';

/** What other services may ask of the configuration service. */
export interface ConfigurationApi {
  /** The latest version of a service's configuration, or `undefined` when it has none. */
  latestVersion(tenant: TenantRef, environmentId: string, serviceId: string): Promise<{ version: number; publishedAt: Date; publishedBy: string } | undefined>;
  /** Versions that reference a secret binding, and the consumers that need it (at most {@link MAX_REFERENCES} each). */
  referencesToBinding: BindingReferenceSource;
  /** The latest version published at or before `before`, of the service or (without one) of any service in the environment. */
  lastChangeBefore(tenant: TenantRef, environmentId: string, serviceId: string | undefined, before: Date): Promise<ChangeRef | undefined>;
}

/** What the configuration service needs of other services. */
export interface ConfigurationNeeds {
  tenants: Pick<TenantsApi, 'listTenants'>;
  catalog: Pick<CatalogApi, 'getService' | 'requireService' | 'liveServiceCheck' | 'addReferenceChecker' | 'addFactProvider'>;
  /** Which bindings exist (a write's `secretRef`s are checked), and where the blast radius asks for references. */
  secrets: Pick<SecretsApi, 'existingBindings' | 'setReferenceSource'>;
}

/** The configuration service of one app instance: its API and what its handlers and timer use. */
export interface ConfigurationInstance {
  api: ConfigurationApi;
  needs: ConfigurationNeeds;
  /** One retention run over every tenant (what the daily timer runs). */
  retention(opts?: RetentionOptions): Promise<RetentionSummary>;
}

/** Rows `referencesToBinding` answers at most, per list. */
export const MAX_REFERENCES = 1000;
/** Consumers the fact sheet lists (most recently seen first). */
export const FACT_CONSUMERS = 20;

/** Builds the service and plugs it into the catalog and the secrets service. */
export function createConfiguration(kernel: Kernel, deps: ConfigurationNeeds): ConfigurationInstance {
  const read = <Row>(tenant: TenantRef, build: Parameters<typeof kernel.sql.read<store.ConfigurationDb, Row>>[2]) => kernel.sql.read(tenant, CONFIGURATION_SQL, build);

  const api: ConfigurationApi = {
    async latestVersion(tenant, environmentId, serviceId) {
      const [r] = await read(tenant, (db) => store.selectLatest(db, { tenantId: tenant.tenantId, environmentId, serviceId }));
      return r ? { version: r.version, publishedAt: r.published_at, publishedBy: r.published_by } : undefined;
    },
    async referencesToBinding(tenant, bindingName, rotatedAt) {
      const [versions, consumers] = await Promise.all([
        read(tenant, (db) => store.selectBindingReferences(db, tenant.tenantId, bindingName, MAX_REFERENCES)),
        read(tenant, (db) => store.selectBindingConsumers(db, tenant.tenantId, bindingName, MAX_REFERENCES)),
      ]);
      return {
        configurationVersions: versions.map((v) => ({ environmentId: v.environment_id, serviceId: v.service_id, version: v.version, latest: v.latest })),
        consumers: consumers.map((c) => ({
          consumer: c.consumer,
          environmentId: c.environment_id,
          serviceId: c.service_id,
          syncedVersion: c.version,
          syncedAt: c.synced_at,
          syncedAfterRotation: rotatedAt === null || c.synced_at.getTime() >= rotatedAt.getTime(),
        })),
      };
    },
    async lastChangeBefore(tenant, environmentId, serviceId, before) {
      const [r] = await read(tenant, (db) => store.selectLastChangeBefore(db, tenant.tenantId, environmentId, serviceId, before));
      return r ? { kind: 'configuration', id: `${r.service_id}/configuration/versions/${r.version}`, at: r.published_at, serviceId: r.service_id, environmentId } : undefined;
    },
  };

  // The purge keeps a retired service while the latest configuration of another service names it.
  deps.catalog.addReferenceChecker('configuration', async (tenant, serviceIds) => {
    const out = new Map<string, string[]>();
    if (serviceIds.length === 0) return out;
    const rows = await read(tenant, (db) => store.selectServiceReferences(db, tenant.tenantId, serviceIds));
    for (const r of rows) {
      out.set(r.target_service_id, [...(out.get(r.target_service_id) ?? []), `the latest configuration (version ${r.version}) of service ${r.service_id} names it`]);
    }
    return out;
  });
  // The fact sheet's configuration part: the current version and who synced what.
  deps.catalog.addFactProvider('configuration', 'configuration', async (tenant, service) => {
    const k = { tenantId: tenant.tenantId, environmentId: service.environmentId, serviceId: service.serviceId };
    const [latest, counts, recent] = await Promise.all([
      read(tenant, (db) => store.selectLatest(db, k)),
      read(tenant, (db) => store.countConsumers(db, k)),
      read(tenant, (db) => store.selectRecentConsumers(db, k, FACT_CONSUMERS)),
    ]);
    const v = latest[0];
    if (!v) return null;
    return {
      version: v.version,
      updatedAt: v.published_at.toISOString(),
      publishedBy: v.published_by,
      consumersOnLatest: counts[0]?.on_latest ?? 0,
      consumersBehind: counts[0]?.behind ?? 0,
      consumers: recent.map((c) => ({ consumer: c.consumer, version: c.version, syncedAt: c.synced_at.toISOString(), lastSeenAt: c.last_seen_at.toISOString() })),
    };
  });
  deps.secrets.setReferenceSource(api.referencesToBinding);

  const retention = createRetention({ kernel, tenants: deps.tenants });
  return { api, needs: deps, retention };
}
