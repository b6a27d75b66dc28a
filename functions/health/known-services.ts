/**
 * Which environment each catalog service of a tenant belongs to, as far as this instance has asked
 * the catalog. An ingest names up to thousands of services per batch; asking the catalog for all
 * of them on every batch cost about a quarter of the batch (bench/health.ts). Only facts that
 * never change are kept: a service id is never reused and a service never moves to another
 * environment, so a positive answer stays true (a retired service still receives results; the
 * catalog purges services only 90 days after retirement, and entries here live 10 minutes). Ids
 * the cache does not know are always asked of the catalog, so a new service is never refused.
 * Keys carry the tenant id: one tenant's entries can never answer for another.
 */
import type { TenantRef } from '../../shared/sql/service-db.js';

const TTL_MS = 10 * 60_000;
/** Entries kept at most (about 100 bytes each); past it the cache starts over. */
const MAX_ENTRIES = 200_000;

export type ServiceLookup = (tenant: TenantRef, serviceIds: readonly string[]) => Promise<ReadonlyMap<string, { environmentId: string }>>;

export class KnownServices {
  private readonly entries = new Map<string, { environmentId: string; until: number }>();

  constructor(
    private readonly lookup: ServiceLookup,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Of `serviceIds`, those that are services of `environmentId` in the tenant. */
  async inEnvironment(tenant: TenantRef, environmentId: string, serviceIds: readonly string[]): Promise<Set<string>> {
    const now = this.clock();
    const key = (id: string) => `${tenant.tenantId}/${id}`;
    const envOf = new Map<string, string>();
    const ask: string[] = [];
    for (const id of serviceIds) {
      const e = this.entries.get(key(id));
      if (e && e.until > now) envOf.set(id, e.environmentId);
      else ask.push(id);
    }
    if (ask.length > 0) {
      const found = await this.lookup(tenant, ask);
      if (this.entries.size + found.size > MAX_ENTRIES) this.entries.clear();
      for (const [id, s] of found) {
        this.entries.set(key(id), { environmentId: s.environmentId, until: now + TTL_MS });
        envOf.set(id, s.environmentId);
      }
    }
    return new Set(serviceIds.filter((id) => envOf.get(id) === environmentId));
  }
}
