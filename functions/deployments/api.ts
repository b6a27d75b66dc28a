/**
 * The deployments service's public in-process contract, and its plugs into the services it
 * builds on. Each call runs its own tenant-scoped transaction as `rp_deployments` in the tenant's
 * database.
 *
 * Configuration, scaling and secrets are reached through the structural types below (the exact
 * shapes their own `api.ts` exports): a service that is not part of the app is "not available" —
 * a deployment then records `null` (or no secret versions) for it, never an invented value.
 */
import type { Kernel } from '../../shared/kernel.js';
import type { TenantRef } from '../../shared/sql/service-db.js';
import type { CatalogApi } from '../catalog/api.js';
import type { EnvironmentsApi } from '../environments/api.js';
import type { TenantsApi } from '../tenants/api.js';
import { blobArtifacts, type ArtifactBlobs } from './blobs.js';
import { noImageResolver, type ImageResolver } from './images.js';
import { ociRegistryResolver } from './oci-registry.js';
import { createRetention, type RetentionOptions, type RetentionSummary } from './retention.js';
import { cancelPending } from './service.js';
import * as store from './store.js';
import { DEPLOYMENTS_SQL } from './sql.js';

/** What most recently changed something of an environment/service (drift's "likely cause"). */
export interface ChangeRef {
  kind: 'deployment' | 'configuration' | 'rotation' | 'scaling';
  id: string;
  at: Date;
  serviceId?: string;
  environmentId: string;
}

/** The deployment running a service now, as other services see it. */
export interface CurrentDeployment {
  deploymentId: string;
  image: string;
  imageDigest: string | null;
  configurationVersion: number | null;
  scalingPolicyVersion: number | null;
  secretVersions: Record<string, string>;
  finishedAt: Date;
  by: string;
}

/** What other services may ask of the deployments service. */
export interface DeploymentsApi {
  /** The last deployment of the service in the environment that succeeded (a rollback included), if any. */
  currentDeployment(tenant: TenantRef, environmentId: string, serviceId: string): Promise<CurrentDeployment | undefined>;
  /** The latest deployment (of the service, or of any service of the environment) that finished at or before `before`. */
  lastChangeBefore(tenant: TenantRef, environmentId: string, serviceId: string | undefined, before: Date): Promise<ChangeRef | undefined>;
}

// ---- What this service asks of others (structural: the owners' exact signatures) ---------------

/** RuntimeConfigurationService (`functions/configuration/api.ts`). */
export interface ConfigurationSource {
  latestVersion(tenant: TenantRef, environmentId: string, serviceId: string): Promise<{ version: number; publishedAt: Date; publishedBy: string } | undefined>;
}
/** RuntimeScalingService (`functions/scaling/api.ts`). */
export interface ScalingSource {
  /** Where scaling events learn the deployment running at the time: this service plugs itself in. */
  setDeploymentSource?(source: Pick<DeploymentsApi, 'currentDeployment'>): void;
  currentPolicy(
    tenant: TenantRef,
    environmentId: string,
    serviceId: string,
  ): Promise<{ policyId: string; version: number; minReplicas: number; maxReplicas: number; pausedUntil: Date | null } | undefined>;
}
/** SecretBindingService (`functions/secrets/api.ts`). */
export interface SecretsSource {
  bindingVersions(
    tenant: TenantRef,
    environmentId: string,
    serviceId: string,
  ): Promise<Array<{ bindingId: string; name: string; keyVaultRef: string; currentVersion: string | null; lastRotatedAt: Date | null }>>;
}

/** The public APIs `create` receives: the three it needs, and the three it uses when present. */
export interface DeploymentsNeeds {
  tenants: Pick<TenantsApi, 'listTenants'>;
  environments: Pick<EnvironmentsApi, 'getEnvironment' | 'onEnvironmentRetired'>;
  catalog: Pick<CatalogApi, 'getService' | 'requireService' | 'liveServiceCheck' | 'addReferenceChecker' | 'addFactProvider' | 'onServiceRetired'>;
  configuration?: ConfigurationSource;
  scaling?: ScalingSource;
  secrets?: SecretsSource;
}

/** The ports the handlers use. */
export interface DeploymentPorts {
  environments: DeploymentsNeeds['environments'];
  catalog: DeploymentsNeeds['catalog'];
  configuration: ConfigurationSource | undefined;
  scaling: ScalingSource | undefined;
  secrets: SecretsSource | undefined;
  resolver: ImageResolver;
  blobs: ArtifactBlobs;
}

/** The deployments service of one app instance. */
export interface DeploymentsInstance {
  api: DeploymentsApi;
  ports: DeploymentPorts;
  /** One retention run over every tenant (what the daily timer runs). */
  retention(opts?: RetentionOptions): Promise<RetentionSummary>;
}

/** Builds the service, and plugs it into the catalog and the environments service. */
export function createDeployments(kernel: Kernel, deps: DeploymentsNeeds): DeploymentsInstance {
  const run = <T>(tenant: TenantRef, fn: (trx: store.Tx) => Promise<T>) => kernel.sql.run(tenant, DEPLOYMENTS_SQL, fn);
  const blobs = blobArtifacts(() => kernel.clients.blob(), kernel.settings.storage.artifactsContainer);
  const resolver =
    kernel.settings.imageRegistries.length > 0
      ? ociRegistryResolver({ allowed: kernel.settings.imageRegistries, credential: () => kernel.clients.azureCredential() })
      : noImageResolver;

  const api: DeploymentsApi = {
    async currentDeployment(tenant, environmentId, serviceId) {
      const r = await run(tenant, (trx) => store.current(trx, tenant.tenantId, environmentId, serviceId));
      if (!r) return undefined;
      return {
        deploymentId: r.id,
        image: r.image,
        imageDigest: r.image_digest,
        configurationVersion: r.configuration_version,
        scalingPolicyVersion: r.scaling_policy_version,
        secretVersions: r.secret_versions,
        finishedAt: r.finished_at ?? r.updated_at,
        by: r.finished_by ?? r.created_by,
      };
    },
    async lastChangeBefore(tenant, environmentId, serviceId, before) {
      const r = await run(tenant, (trx) => store.lastFinishedBefore(trx, tenant.tenantId, environmentId, serviceId, before));
      return r?.finished_at ? { kind: 'deployment', id: r.id, at: r.finished_at, serviceId: r.service_id, environmentId: r.environment_id } : undefined;
    },
  };

  // Purge: a service with a deployment in progress (or rolling back) or a current one is kept.
  deps.catalog.addReferenceChecker('deployments', async (tenant, ids) => {
    const rows = await run(tenant, (trx) => store.referencing(trx, tenant.tenantId, ids));
    const out = new Map<string, string[]>();
    for (const r of rows) {
      const why = r.status === 'succeeded' ? `deployment ${r.id} is the current deployment` : `deployment ${r.id} is ${r.status.replace('_', ' ')}`;
      if (r.status === 'succeeded' && out.get(r.service_id)?.some((x) => x.endsWith('current deployment'))) continue;
      out.set(r.service_id, [...(out.get(r.service_id) ?? []), why]);
    }
    return out;
  });

  deps.catalog.addFactProvider('deployment', 'deployments', async (tenant, service) => {
    const r = await run(tenant, (trx) => store.current(trx, tenant.tenantId, service.environmentId, service.serviceId));
    if (!r) return null;
    return {
      deploymentId: r.id,
      revision: r.revision,
      image: r.image,
      imageDigest: r.image_digest,
      configurationVersion: r.configuration_version,
      scalingPolicyVersion: r.scaling_policy_version,
      status: r.status,
      deployedAt: (r.finished_at ?? r.updated_at).toISOString(),
      deployedBy: r.finished_by ?? r.created_by,
    };
  });

  // Retiring an environment or a service cancels its pending deployments (idempotent).
  deps.environments.onEnvironmentRetired(async (tenant, environmentId) => {
    await run(tenant, (trx) => cancelPending(trx, tenant.tenantId, environmentId, undefined, 'environment retired', kernel.now()));
  });
  deps.catalog.onServiceRetired(async (tenant, service) => {
    await run(tenant, (trx) => cancelPending(trx, tenant.tenantId, service.environmentId, service.serviceId, 'service retired', kernel.now()));
  });

  // Scaling events record the deployment running when they happened.
  deps.scaling?.setDeploymentSource?.(api);

  const retention = createRetention({ kernel, tenants: deps.tenants, blobs });
  return {
    api,
    ports: {
      environments: deps.environments,
      catalog: deps.catalog,
      configuration: deps.configuration,
      scaling: deps.scaling,
      secrets: deps.secrets,
      resolver,
      blobs,
    },
    retention,
  };
}
