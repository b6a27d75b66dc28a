/** The scaling service's schema and role, bound to its tables' types. */
import type { ServiceDb } from '../../shared/sql/service-db.js';
import type { ScalingDb } from './store.js';

export const SCALING_SQL: ServiceDb<ScalingDb> = Object.freeze({ service: 'scaling', schema: 'scaling', role: 'rp_scaling' });
