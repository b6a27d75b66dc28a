/** The environments service's schema and role, bound to its tables' types. */
import { serviceDb } from '../../shared/sql/service-db.js';
import type { EnvironmentsDb } from './store.js';

export const ENVIRONMENTS_SQL = serviceDb<EnvironmentsDb>({ service: 'environments', schema: 'environments', role: 'rp_environments' });
