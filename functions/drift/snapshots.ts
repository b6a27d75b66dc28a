/**
 * Scan snapshots in Cosmos DB (NoSQL API): the full desired state, actual state and diff of one
 * environment's scan, one document per scan, partitioned by tenant (`/tenantId`). The container's
 * default TTL (`DRIFT_SNAPSHOT_TTL_SECONDS`, from the storage map, set by the infrastructure program
 * and the local stack) expires them: Cosmos DB does that natively, not this code. A snapshot is
 * written once with `create` and never updated — an update would restart its TTL — so a retried
 * activity that finds its document already there leaves it as it is.
 */
import type { Container } from '@azure/cosmos';
import type { Kernel } from '../../shared/kernel.js';
import { UnavailableError } from '../../shared/errors.js';
import { storageMap } from '../../shared/storage-map.js';
import type { ActualState } from './actual.js';
import type { DiffResult } from './diff.js';
import type { DesiredState } from './sources.js';

/** One scan's snapshot document. */
export interface SnapshotDocument {
  /** The scan id. */
  id: string;
  tenantId: string;
  environmentId: string;
  takenAt: string;
  desired: DesiredState;
  actual: ActualState;
  diff: DiffResult;
}

/** Port: where snapshots are kept. */
export interface SnapshotStore {
  /** Writes the snapshot once; `exists` when a document with its id is already there (left unchanged). */
  create(doc: SnapshotDocument): Promise<'created' | 'exists'>;
  get(tenantId: string, id: string): Promise<SnapshotDocument | undefined>;
}

const statusOf = (e: unknown) => (e as { code?: number | string; statusCode?: number }).code ?? (e as { statusCode?: number }).statusCode;

/** The Cosmos DB adapter over the snapshot container. */
export function cosmosSnapshots(container: () => Promise<Container>): SnapshotStore {
  const reach = async () => {
    try {
      return await container();
    } catch (e) {
      throw new UnavailableError(`The snapshot store cannot be reached (${e instanceof Error ? e.message : 'error'}).`);
    }
  };
  return {
    async create(doc) {
      const c = await reach();
      try {
        await c.items.create(doc);
        return 'created';
      } catch (e) {
        if (statusOf(e) === 409) return 'exists';
        throw e;
      }
    },
    async get(tenantId, id) {
      const c = await reach();
      try {
        const { resource } = await c.item(id, tenantId).read<SnapshotDocument & { _rid?: string }>();
        if (!resource) return undefined;
        const { id: docId, tenantId: t, environmentId, takenAt, desired, actual, diff } = resource;
        return { id: docId, tenantId: t, environmentId, takenAt, desired, actual, diff };
      } catch (e) {
        if (statusOf(e) === 404) return undefined;
        throw new UnavailableError('The snapshot store did not answer.');
      }
    },
  };
}

/** The kernel's Cosmos DB client, on the storage map's snapshot container. */
export function kernelSnapshotContainer(kernel: Kernel): () => Promise<Container> {
  return async () => (await kernel.clients.cosmos()).database(kernel.settings.cosmos.database).container(storageMap.driftSnapshots.container);
}
