/** The drift service's schema and role, bound to its tables' types. */
import type { ServiceDb } from '../../shared/sql/service-db.js';
import type { DriftDb } from './store.js';

export const DRIFT_SQL: ServiceDb<DriftDb> = Object.freeze({ service: 'drift', schema: 'drift', role: 'rp_drift' });
