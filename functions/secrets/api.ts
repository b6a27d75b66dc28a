/**
 * The secrets service's public in-process contract. Other services reach secret bindings only
 * through this module; each call runs its own tenant-scoped transaction as `rp_secrets` in the
 * tenant's database. Nothing here carries a secret value: bindings are references (vault, secret
 * name, version).
 */
import type { Kernel } from '../../shared/kernel.js';
import type { TenantRef } from '../../shared/sql/service-db.js';
import type { CatalogApi } from '../catalog/api.js';
import type { EnvironmentsApi } from '../environments/api.js';
import type { TenantsApi } from '../tenants/api.js';
import { ValueProviders } from './generator.js';
import * as store from './store.js';
import { SECRETS_SQL } from './sql.js';
import { keyVaultSecrets, type SecretVault } from './vault.js';

export type { ValueProvider, ValueRequest } from './generator.js';

/** What most recently changed something of an environment/service (drift's "likely cause"). */
export interface ChangeRef {
  kind: 'deployment' | 'configuration' | 'rotation' | 'scaling';
  id: string;
  at: Date;
  serviceId?: string;
  environmentId: string;
}

/**
 * Where configurations reference a binding (filled by the configuration service): the versions
 * that name it and who synced what, relative to the binding's last rotation.
 */
export type BindingReferenceSource = (
  tenant: TenantRef,
  bindingName: string,
  rotatedAt: Date | null,
) => Promise<{
  configurationVersions: Array<{ environmentId: string; serviceId: string; version: number; latest: boolean }>;
  consumers: Array<{ consumer: string; environmentId: string; serviceId: string; syncedVersion: number; syncedAt: Date; syncedAfterRotation: boolean }>;
}>;

/** A binding as a consuming service sees it. */
export interface BindingVersion {
  bindingId: string;
  name: string;
  keyVaultRef: string;
  currentVersion: string | null;
  lastRotatedAt: Date | null;
}

/** What other services may ask of the secrets service. */
export interface SecretsApi {
  /** Which of `names` are live bindings usable in that environment (consumed by it or one of its services). */
  existingBindings(tenant: TenantRef, environmentId: string, names: readonly string[]): Promise<ReadonlySet<string>>;
  /** The live bindings a service consumes, directly or through its environment, by name. */
  bindingVersions(tenant: TenantRef, environmentId: string, serviceId: string): Promise<BindingVersion[]>;
  /** The latest succeeded rotation of a binding the service (or, without one, the environment) consumes, finished at or before `before`. */
  lastChangeBefore(tenant: TenantRef, environmentId: string, serviceId: string | undefined, before: Date): Promise<ChangeRef | undefined>;
  /** Plugs in where configurations reference bindings (the blast radius); one source. */
  setReferenceSource(source: BindingReferenceSource): void;
}

/** What the secrets service needs of other services. */
export interface SecretsNeeds {
  tenants: Pick<TenantsApi, 'listTenants'>;
  environments: Pick<EnvironmentsApi, 'getEnvironment'>;
  catalog: Pick<CatalogApi, 'getService' | 'addReferenceChecker' | 'addFactProvider'>;
}

/** The secrets service of one app instance: its API and what its handlers and timers use. */
export interface SecretsInstance {
  api: SecretsApi;
  needs: SecretsNeeds;
  /** Key Vault, through the kernel's `SecretClient`. */
  vault: SecretVault;
  /** External value providers by name (a rotation policy's `{"kind":"external","provider"}`). */
  providers: ValueProviders;
  /** The blast radius's source, once the configuration service has plugged it in. */
  referenceSource: () => BindingReferenceSource | undefined;
}

/** Builds the service and plugs its reference checker and fact provider into the catalog. */
export function createSecrets(kernel: Kernel, deps: SecretsNeeds): SecretsInstance {
  let source: BindingReferenceSource | undefined;
  const run = <T>(tenant: TenantRef, fn: (trx: store.Tx) => Promise<T>) => kernel.sql.run(tenant, SECRETS_SQL, fn);

  const api: SecretsApi = {
    async existingBindings(tenant, environmentId, names) {
      if (names.length === 0) return new Set();
      const rows = await run(tenant, (trx) => store.selectLiveNamesInEnvironment(trx, tenant.tenantId, environmentId, names).execute());
      return new Set(rows.map((r) => r.name));
    },
    async bindingVersions(tenant, environmentId, serviceId) {
      const rows = await run(tenant, (trx) => store.selectBindingsOfService(trx, tenant.tenantId, environmentId, serviceId).execute());
      return rows.map((r) => ({ bindingId: r.id, name: r.name, keyVaultRef: r.key_vault_ref, currentVersion: r.current_version, lastRotatedAt: r.last_rotated_at }));
    },
    async lastChangeBefore(tenant, environmentId, serviceId, before) {
      const r = await run(tenant, (trx) => store.latestRotationBefore(trx, tenant.tenantId, environmentId, serviceId, before));
      if (!r?.finished_at) return undefined;
      return { kind: 'rotation', id: r.id, at: r.finished_at, environmentId, ...(serviceId !== undefined ? { serviceId } : {}) };
    },
    setReferenceSource(s) {
      if (source) throw new Error('A binding reference source is already registered');
      source = s;
    },
  };

  // The catalog's purge refuses a service a live binding still names as a consumer.
  deps.catalog.addReferenceChecker('secrets', async (tenant, serviceIds) => {
    const rows = await run(tenant, (trx) => store.selectConsumingBindings(trx, tenant.tenantId, serviceIds).execute());
    const out = new Map<string, string[]>();
    for (const r of rows) out.set(r.service_id, [...(out.get(r.service_id) ?? []), `secret binding ${r.id} (${r.name}) names it as a consumer`]);
    return out;
  });
  // The fact sheet's secretBindings part: each binding's current version and last rotation.
  deps.catalog.addFactProvider('secretBindings', 'secrets', async (tenant, service) => {
    const bindings = await api.bindingVersions(tenant, service.environmentId, service.serviceId);
    return {
      bindings: bindings.map((b) => ({ name: b.name, keyVaultRef: b.keyVaultRef, currentVersion: b.currentVersion, lastRotatedAt: b.lastRotatedAt?.toISOString() ?? null })),
    };
  });

  const vault = keyVaultSecrets(() => kernel.clients.secrets());
  return { api, needs: deps, vault, providers: new ValueProviders(), referenceSource: () => source };
}
