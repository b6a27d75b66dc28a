/** The secrets service's schema and role, bound to its tables' types. */
import type { ServiceDb } from '../../shared/sql/service-db.js';
import type { SecretsDb } from './store.js';

export const SECRETS_SQL: ServiceDb<SecretsDb> = Object.freeze({ service: 'secrets', schema: 'secrets', role: 'rp_secrets' });
