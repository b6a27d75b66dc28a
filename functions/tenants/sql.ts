/** The tenants service's schema, role and migrations, for the migrate command. */
import type { ServiceMigrations } from '../../shared/sql/migrator.js';
import { migrations } from './migrations/index.js';
import { TENANTS_SQL } from './service.js';

export const tenantsSql: ServiceMigrations = { ...TENANTS_SQL, migrations };
