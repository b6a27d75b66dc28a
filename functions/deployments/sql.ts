/** The deployments service's schema and role, bound to its tables' types. */
import type { ServiceDb } from '../../shared/sql/service-db.js';
import type { DeploymentsDb } from './store.js';

export const DEPLOYMENTS_SQL: ServiceDb<DeploymentsDb> = Object.freeze({ service: 'deployments', schema: 'deployments', role: 'rp_deployments' });
