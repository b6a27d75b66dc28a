/**
 * The catalog's side of retiring an environment, in its own transaction as `rp_catalog` in the
 * tenant's database. Run by the listener the catalog registers with the environments service, and
 * by the daily timer's repair step for any retired environment whose cascade did not complete.
 */
import type { Kernel } from '../../shared/kernel.js';
import type { TenantRef } from '../../shared/sql/service-db.js';
import { retireServicesOfEnvironment } from './service.js';
import { CATALOG_SQL } from './sql.js';

/** Retires the environment's live services; returns how many it retired (0 on a repeat). */
export type EnvironmentCascade = (tenant: TenantRef, environmentId: string, retiredAt: Date) => Promise<number>;

export function createCascade(kernel: Kernel): EnvironmentCascade {
  return (tenant, environmentId, retiredAt) =>
    kernel.sql.run(tenant, CATALOG_SQL, (trx) =>
      retireServicesOfEnvironment(trx, tenant.tenantId, environmentId, retiredAt, kernel.now()),
    );
}
