/** The catalog service's schema, role and migrations, for the migrate command. */
import type { ServiceMigrations } from '../../shared/sql/migrator.js';
import { migrations } from './migrations/index.js';
import { CATALOG_SQL } from './service.js';

export const catalogSql: ServiceMigrations = { ...CATALOG_SQL, migrations };
