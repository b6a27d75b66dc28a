/** The health service's schema and role, bound to its tables' types. */
import type { ServiceDb } from '../../shared/sql/service-db.js';
import type { HealthDb } from './store.js';

export const HEALTH_SQL: ServiceDb<HealthDb> = Object.freeze({ service: 'health', schema: 'health', role: 'rp_health' });
