/** The configuration service's schema and role, bound to its tables' types. */
import type { ServiceDb } from '../../shared/sql/service-db.js';
import type { ConfigurationDb } from './store.js';

export const CONFIGURATION_SQL: ServiceDb<ConfigurationDb> = Object.freeze({ service: 'configuration', schema: 'configuration', role: 'rp_configuration' });
