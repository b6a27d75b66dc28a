/** The tenants service's schema and role, bound to its tables' types. */
import type { ServiceDb } from '../../shared/sql/service-db.js';
import type { TenantsDb } from './store.js';

/** The tenant registry is the routing table for silos, so it always lives in the pooled database. */
export const TENANTS_SQL: ServiceDb<TenantsDb> = Object.freeze({ service: 'tenants', schema: 'tenants', role: 'rp_tenants', pooledOnly: true });
