/**
 * The actual state of an environment, from sources behind one port ({@link ActualSource}):
 *
 * - `agents`: the newest observation each agent pushed (`POST …/observed-state`). An observation
 *   older than the environment's `observationMaxAgeMinutes` is stale: the kinds it covers are
 *   reported as unknown, never as drift.
 * - `storageTopology`: a pull adapter that inspects the stores themselves through their data-plane
 *   SDKs — Blob containers, the Cosmos DB container's partition key and `defaultTtl`, the
 *   PostgreSQL schemas and their row-level security. Locally that inspects the running stand-ins
 *   (Azurite, the Cosmos DB server, PGlite/PostgreSQL); in Azure the same calls reach the real
 *   accounts with the managed identity. {@link resourceGraphTopology} is the shape of the same port
 *   served by Azure Resource Graph (management plane: Blob lifecycle rules too); it needs a Resource
 *   Graph client, which this app does not ship, and cannot be exercised without Azure.
 *
 * More pull adapters (Container Apps through Resource Graph, the Kubernetes API) are more entries
 * in the list given to {@link loadActual}.
 */
import { sql } from 'kysely';
import type { BlobServiceClient } from '@azure/storage-blob';
import type { CosmosClient } from '@azure/cosmos';
import type { Kernel } from '../../shared/kernel.js';
import type { TenantRef } from '../../shared/sql/service-db.js';
import { resourceKey, type ActualResource, type Coverage, type ResourceMap } from './diff.js';
import type { DesiredState } from './sources.js';
import * as store from './store.js';
import { DRIFT_SQL } from './sql.js';

/** What one source observed: the kinds it speaks for, their resources, and when. */
export interface Observation {
  source: string;
  kinds: string[];
  resources: ActualResource[];
  observedAt: Date;
  /** Set when the observation is too old to compare with. */
  stale?: boolean;
}

/** Port: one source of actual state. `[]` when it has nothing for the environment. */
export interface ActualSource {
  name: string;
  observe(tenant: TenantRef, environmentId: string, desired: DesiredState, now: Date): Promise<Observation[]>;
}

/** The actual state of an environment, merged from every source. */
export interface ActualState {
  resources: ResourceMap<ActualResource>;
  coverage: Record<string, Coverage>;
  sources: { name: string; status: 'observed' | 'stale' | 'nothing' | 'failed'; observedAt?: string; message?: string }[];
}

/** Default age after which an agent's observation is stale. */
export const DEFAULT_OBSERVATION_MAX_AGE_MINUTES = 30;

/** Agents' pushed observations, read from this service's own table. */
export function agentObservations(kernel: Kernel): ActualSource {
  return {
    name: 'agents',
    async observe(tenant, environmentId, _desired, now) {
      const [rows, settings] = await kernel.sql.run(tenant, DRIFT_SQL, async (trx) =>
        Promise.all([store.listObservations(trx, tenant.tenantId, environmentId), store.selectSettings(trx, tenant.tenantId, environmentId).executeTakeFirst()]),
      );
      const maxAgeMs = (settings?.observation_max_age_minutes ?? DEFAULT_OBSERVATION_MAX_AGE_MINUTES) * 60_000;
      return rows.map((r) => ({
        source: `agent:${r.source}`,
        kinds: r.kinds,
        resources: r.resources,
        observedAt: r.observed_at,
        stale: now.getTime() - r.observed_at.getTime() > maxAgeMs,
      }));
    },
  };
}

/** The data-plane clients the topology adapter inspects with (the kernel's, or a test's). */
export interface TopologyClients {
  blob(): Promise<Pick<BlobServiceClient, 'getContainerClient'>>;
  cosmos(): Promise<Pick<CosmosClient, 'database'>>;
  cosmosDatabase: string;
}

export function kernelTopologyClients(kernel: Kernel): TopologyClients {
  return { blob: () => kernel.clients.blob(), cosmos: () => kernel.clients.cosmos(), cosmosDatabase: kernel.settings.cosmos.database };
}

/** Row-level security of every service schema (one with a migration history) in the tenant's database. */
async function inspectPostgres(kernel: Kernel, tenant: TenantRef): Promise<Record<string, { rowLevelSecurity: string }>> {
  const rows = await kernel.sql.run(tenant, DRIFT_SQL, (trx) =>
    sql<{ schema: string; forced: boolean }>`
      select n.nspname as schema, coalesce(bool_and(c.relrowsecurity and c.relforcerowsecurity), true) as forced
      from pg_catalog.pg_namespace n
      left join pg_catalog.pg_class c on c.relnamespace = n.oid and c.relkind in ('r', 'p') and c.relname not in ('migrations', 'migrations_lock')
      where exists (select 1 from pg_catalog.pg_class m where m.relnamespace = n.oid and m.relname = 'migrations' and m.relkind = 'r')
      group by n.nspname order by 1`.execute(trx),
  );
  return Object.fromEntries(rows.rows.map((r) => [r.schema, { rowLevelSecurity: r.forced ? 'forced' : 'not forced' }]));
}

const statusOf = (e: unknown) => (e as { statusCode?: number; code?: number | string }).statusCode ?? (e as { code?: number }).code;

/**
 * The storage topology, inspected through the data-plane SDKs. Each kind is inspected on its own;
 * a store that cannot be reached leaves its kind uncovered (unknown), never "missing".
 */
export function storageTopologySource(kernel: Kernel, clients: TopologyClients = kernelTopologyClients(kernel), log: (m: string) => void = () => undefined): ActualSource {
  return {
    name: 'storageTopology',
    async observe(tenant, environmentId, desired, now) {
      const wanted = Object.values(desired.resources);
      const out: Observation[] = [];
      const tryKind = async (kind: string, inspect: () => Promise<ActualResource[]>) => {
        try {
          out.push({ source: `pull:${kind}`, kinds: [kind], resources: await inspect(), observedAt: now });
        } catch (e) {
          log(`drift: inspecting ${kind} for ${tenant.tenantId}/${environmentId} failed: ${e instanceof Error ? e.message : String(e)}`);
        }
      };
      const database = tenant.placement.model === 'pooled' ? 'pooled' : tenant.placement.database;
      const declared = new Set(wanted.map((w) => w.kind));
      // Only declared kinds are inspected: a store the environment does not declare is not its drift.
      const inspect = (kind: string, fn: () => Promise<ActualResource[]>) => (declared.has(kind) ? tryKind(kind, fn) : Promise.resolve());
      await Promise.all([
        inspect('postgresql', async () => {
          // Only the tenant's own database can be inspected as the tenant; another named one stays unknown.
          const schemas = await inspectPostgres(kernel, tenant);
          return [{ kind: 'postgresql', name: database, properties: { schemas } }];
        }),
        inspect('blobContainer', async () => {
          const blob = await clients.blob();
          const found: ActualResource[] = [];
          for (const r of wanted.filter((w) => w.kind === 'blobContainer')) {
            // Lifecycle rules are management-plane settings: not visible to the data plane.
            if (await blob.getContainerClient(r.name).exists()) found.push({ kind: 'blobContainer', name: r.name, properties: {}, unobserved: ['coolAfterDays', 'deleteAfterDays'] });
          }
          return found;
        }),
        inspect('cosmosContainer', async () => {
          const cosmos = await clients.cosmos();
          const found: ActualResource[] = [];
          for (const r of wanted.filter((w) => w.kind === 'cosmosContainer')) {
            try {
              const { resource } = await cosmos.database(clients.cosmosDatabase).container(r.name).read();
              if (!resource) continue;
              const properties: Record<string, unknown> = { partitionKey: resource.partitionKey?.paths?.[0] ?? null };
              if (resource.defaultTtl !== undefined) properties.defaultTtlSeconds = resource.defaultTtl;
              found.push({ kind: 'cosmosContainer', name: r.name, properties });
            } catch (e) {
              if (statusOf(e) !== 404) throw e;
            }
          }
          return found;
        }),
      ]);
      return out;
    },
  };
}

/**
 * The storage topology through Azure Resource Graph (the shape of the Azure adapter; not wired by
 * default). `query` runs a KQL query over the subscription's resources — e.g. `@azure/arm-resourcegraph`'s
 * `client.resources({ query, subscriptions })` — and returns its rows. Untested here: Resource Graph
 * has no local stand-in.
 */
export function resourceGraphTopology(query: (kql: string) => Promise<Array<{ type: string; name: string; properties: Record<string, unknown> }>>): ActualSource {
  const KQL = `resources
| where type in~ ('microsoft.documentdb/databaseaccounts/sqldatabases/containers', 'microsoft.storage/storageaccounts/blobservices/containers')
| project type, name, properties`;
  return {
    name: 'resourceGraph',
    async observe(_tenant, _environmentId, _desired, now) {
      const rows = await query(KQL);
      const resources: ActualResource[] = [];
      for (const row of rows) {
        const leaf = row.name.split('/').at(-1) ?? row.name;
        if (/containers$/i.test(row.type) && /documentdb/i.test(row.type)) {
          const res = (row.properties.resource ?? {}) as { partitionKey?: { paths?: string[] }; defaultTtl?: number };
          resources.push({
            kind: 'cosmosContainer',
            name: leaf,
            properties: { partitionKey: res.partitionKey?.paths?.[0] ?? null, ...(res.defaultTtl !== undefined ? { defaultTtlSeconds: res.defaultTtl } : {}) },
          });
        } else {
          resources.push({ kind: 'blobContainer', name: leaf, properties: {}, unobserved: ['coolAfterDays', 'deleteAfterDays'] });
        }
      }
      return [{ source: 'resourceGraph', kinds: ['cosmosContainer', 'blobContainer'], resources, observedAt: now }];
    },
  };
}

/** Merges every source's observations: a kind is fresh when any fresh source covers it. */
export async function loadActual(sources: readonly ActualSource[], tenant: TenantRef, environmentId: string, desired: DesiredState, now: Date): Promise<ActualState> {
  const state: ActualState = { resources: {}, coverage: {}, sources: [] };
  const results = await Promise.all(
    sources.map(async (s) => {
      try {
        return { s, obs: await s.observe(tenant, environmentId, desired, now) };
      } catch (e) {
        return { s, error: e instanceof Error ? e.message : String(e) };
      }
    }),
  );
  for (const r of results) {
    if (!('obs' in r) || !r.obs) {
      state.sources.push({ name: r.s.name, status: 'failed', message: 'error' in r ? r.error : 'failed' });
      continue;
    }
    if (r.obs.length === 0) state.sources.push({ name: r.s.name, status: 'nothing' });
    for (const o of r.obs) {
      state.sources.push({ name: o.source, status: o.stale ? 'stale' : 'observed', observedAt: o.observedAt.toISOString() });
      const kinds = new Set([...o.kinds, ...o.resources.map((x) => x.kind)]);
      for (const k of kinds) {
        if (o.stale) {
          if (!state.coverage[k]) state.coverage[k] = { status: 'stale', source: o.source, observedAt: o.observedAt.toISOString() };
        } else state.coverage[k] = { status: 'fresh', source: o.source };
      }
      if (o.stale) continue;
      for (const x of o.resources) state.resources[resourceKey(x.kind, x.name)] = x;
    }
  }
  return state;
}
