/** The environments service's schema, role and migrations, for the migrate command. */
import type { ServiceMigrations } from '../../shared/sql/migrator.js';
import { migrations } from './migrations/index.js';
import { ENVIRONMENTS_SQL } from './service.js';

export const environmentsSql: ServiceMigrations = { ...ENVIRONMENTS_SQL, migrations };
