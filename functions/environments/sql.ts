/** The environments service's schema and role, bound to its tables' types. */
import type { ServiceDb } from '../../shared/sql/service-db.js';
import type { EnvironmentsDb } from './store.js';

export const ENVIRONMENTS_SQL: ServiceDb<EnvironmentsDb> = Object.freeze({ service: 'environments', schema: 'environments', role: 'rp_environments' });
