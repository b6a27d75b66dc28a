/**
 * The desired state of an environment, assembled from the services that own each part, one
 * function per source (`DESIRED_SOURCES`). A source whose owning service is not wired into this
 * deployment reports its part as "not available" — nothing is made up in its place — and a source
 * that fails is reported as failed; neither stops the others.
 *
 * The owning services' contracts are declared here structurally (the same signatures their
 * `api.ts` implement), so wiring one in is only adding it to the descriptor's `needs`.
 */
import type { TenantRef } from '../../shared/sql/service-db.js';
import type { CatalogApi, ServiceSummary } from '../catalog/api.js';
import type { EnvironmentsApi, StorageTopology } from '../environments/api.js';
import type { TenantsApi } from '../tenants/api.js';
import { resourceKey, type DesiredResource, type ResourceMap } from './diff.js';

/** What most recently changed something of an environment/service (drift's "likely cause"). */
export interface ChangeRef {
  kind: 'deployment' | 'configuration' | 'rotation' | 'scaling';
  id: string;
  at: Date;
  serviceId?: string;
  environmentId: string;
}

/** The change log every owning service offers. */
export interface ChangeSource {
  lastChangeBefore(tenant: TenantRef, environmentId: string, serviceId: string | undefined, before: Date): Promise<ChangeRef | undefined>;
}

export interface DeploymentsSource extends ChangeSource {
  currentDeployment(
    tenant: TenantRef,
    environmentId: string,
    serviceId: string,
  ): Promise<
    | {
        deploymentId: string;
        image: string;
        imageDigest: string | null;
        configurationVersion: number | null;
        scalingPolicyVersion: number | null;
        secretVersions: Record<string, string>;
        finishedAt: Date;
        by: string;
      }
    | undefined
  >;
}

export interface ConfigurationSource extends ChangeSource {
  latestVersion(tenant: TenantRef, environmentId: string, serviceId: string): Promise<{ version: number; publishedAt: Date; publishedBy: string } | undefined>;
}

export interface SecretsSource extends ChangeSource {
  bindingVersions(
    tenant: TenantRef,
    environmentId: string,
    serviceId: string,
  ): Promise<Array<{ bindingId: string; name: string; keyVaultRef: string; currentVersion: string | null; lastRotatedAt: Date | null }>>;
}

export interface ScalingSource extends ChangeSource {
  currentPolicy(
    tenant: TenantRef,
    environmentId: string,
    serviceId: string,
  ): Promise<{ policyId: string; version: number; minReplicas: number; maxReplicas: number; pausedUntil: Date | null } | undefined>;
}

/** What the drift service uses of other services. The optional ones plug in as they land (`needs`). */
export interface DriftNeeds {
  tenants: Pick<TenantsApi, 'listTenants'>;
  environments: Pick<EnvironmentsApi, 'getEnvironment' | 'getStorageTopology' | 'listEnvironments'>;
  catalog: Pick<CatalogApi, 'listServices' | 'addFactProvider'>;
  deployments?: DeploymentsSource;
  configuration?: ConfigurationSource;
  secrets?: SecretsSource;
  scaling?: ScalingSource;
}

export type SourceStatus = 'available' | 'not available' | 'failed';

/** The desired state of one environment, with what each source could say. */
export interface DesiredState {
  resources: ResourceMap<DesiredResource>;
  sources: Record<string, SourceStatus>;
}

/** One source: adds its part to `resources` (services are already there), or says it is not wired. */
export interface DesiredSource {
  name: string;
  /** `undefined` when the owning service is not part of this deployment. */
  contribute(deps: DriftNeeds, ctx: SourceContext): Promise<void> | undefined;
}

export interface SourceContext {
  tenant: TenantRef;
  environmentId: string;
  services: ServiceSummary[];
  resources: ResourceMap<DesiredResource>;
  now: Date;
}

export const serviceKey = (name: string) => resourceKey('service', name);

/** Runs `fn` for every service of the environment, a few at a time. */
async function perService(ctx: SourceContext, fn: (s: ServiceSummary, r: DesiredResource) => Promise<void>): Promise<void> {
  const queue = [...ctx.services];
  const worker = async () => {
    for (let s = queue.shift(); s; s = queue.shift()) {
      const r = ctx.resources[serviceKey(s.name)];
      if (r) await fn(s, r);
    }
  };
  await Promise.all(Array.from({ length: Math.min(8, queue.length) }, worker));
}

/** The declared storage topology, as resources: a PostgreSQL schema list becomes a map, each schema with row-level security forced. */
export function topologyResources(topology: StorageTopology): DesiredResource[] {
  return topology.resources.map((r) => {
    const { kind, name, ...rest } = r;
    if (r.kind === 'postgresql') {
      const schemas = Object.fromEntries((r.schemas ?? []).map((s) => [s, { rowLevelSecurity: 'forced' }]));
      return { kind, name, properties: { schemas } };
    }
    return { kind, name, properties: rest };
  });
}

/**
 * The sources, in order. The catalog's services come first (every other service part hangs off a
 * service resource); adding a source is adding an entry here.
 */
export const DESIRED_SOURCES: readonly DesiredSource[] = [
  {
    name: 'storageTopology',
    contribute: (deps, ctx) =>
      deps.environments.getStorageTopology(ctx.tenant, ctx.environmentId).then((t) => {
        for (const r of topologyResources(t ?? { resources: [] })) ctx.resources[resourceKey(r.kind, r.name)] = r;
      }),
  },
  {
    name: 'deployments',
    contribute: (deps, ctx) => {
      const d = deps.deployments;
      if (!d) return undefined;
      return perService(ctx, async (s, r) => {
        const cur = await d.currentDeployment(ctx.tenant, ctx.environmentId, s.serviceId);
        if (!cur) return;
        r.properties.image = cur.image;
        if (cur.imageDigest !== null) r.properties.imageDigest = cur.imageDigest;
      });
    },
  },
  {
    name: 'configuration',
    contribute: (deps, ctx) => {
      const c = deps.configuration;
      if (!c) return undefined;
      return perService(ctx, async (s, r) => {
        const v = await c.latestVersion(ctx.tenant, ctx.environmentId, s.serviceId);
        if (v) r.properties.configurationVersion = v.version;
      });
    },
  },
  {
    name: 'secrets',
    contribute: (deps, ctx) => {
      const sec = deps.secrets;
      if (!sec) return undefined;
      return perService(ctx, async (s, r) => {
        const bindings = await sec.bindingVersions(ctx.tenant, ctx.environmentId, s.serviceId);
        // References only (names and Key Vault versions), never values.
        const secrets = Object.fromEntries(bindings.filter((b) => b.currentVersion !== null).map((b) => [b.name, b.currentVersion]));
        if (Object.keys(secrets).length > 0) r.properties.secrets = secrets;
      });
    },
  },
  {
    name: 'scaling',
    contribute: (deps, ctx) => {
      const sc = deps.scaling;
      if (!sc) return undefined;
      return perService(ctx, async (s, r) => {
        const p = await sc.currentPolicy(ctx.tenant, ctx.environmentId, s.serviceId);
        if (!p) return;
        r.properties.replicas = { min: p.minReplicas, max: p.maxReplicas };
        r.ranges = { replicas: { min: p.minReplicas, max: p.maxReplicas, reason: `Inside scaling policy ${p.policyId} v${p.version} (${p.minReplicas}..${p.maxReplicas})` } };
      });
    },
  },
];

/** Assembles the desired state of one environment from every source. */
export async function loadDesired(
  deps: DriftNeeds,
  tenant: TenantRef,
  environmentId: string,
  now: Date,
  log: (m: string) => void = () => undefined,
  sources: readonly DesiredSource[] = DESIRED_SOURCES,
): Promise<DesiredState> {
  const resources: ResourceMap<DesiredResource> = {};
  const status: Record<string, SourceStatus> = {};
  const services = await deps.catalog.listServices(tenant, environmentId);
  status.catalog = 'available';
  for (const s of services) resources[serviceKey(s.name)] = { kind: 'service', name: s.name, serviceId: s.serviceId, properties: {} };
  const ctx: SourceContext = { tenant, environmentId, services, resources, now };
  for (const source of sources) {
    try {
      const running = source.contribute(deps, ctx);
      if (running === undefined) {
        status[source.name] = 'not available';
        continue;
      }
      await running;
      status[source.name] = 'available';
    } catch (e) {
      status[source.name] = 'failed';
      log(`drift: desired-state source ${source.name} failed for ${tenant.tenantId}/${environmentId}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  return { resources, sources: status };
}

/** The wired change logs, for a finding's likely cause. */
export function changeSources(deps: DriftNeeds): ChangeSource[] {
  return [deps.deployments, deps.configuration, deps.secrets, deps.scaling].filter((s): s is NonNullable<typeof s> => s !== undefined);
}

/**
 * The change that most recently touched a resource at or before `before`: the latest answer of
 * every wired change log; `undefined` when none answers (or none is wired).
 */
export async function likelyCause(deps: DriftNeeds, tenant: TenantRef, environmentId: string, serviceId: string | undefined, before: Date): Promise<ChangeRef | undefined> {
  const answers = await Promise.all(changeSources(deps).map((s) => s.lastChangeBefore(tenant, environmentId, serviceId, before).catch(() => undefined)));
  let best: ChangeRef | undefined;
  for (const a of answers) if (a && (!best || a.at.getTime() > best.at.getTime())) best = a;
  return best;
}
