/** Every service that owns a schema, with its migrations, in dependency order (for `npm run migrate`). */
import type { ServiceMigrations } from '../shared/sql/migrator.js';
import { tenantsSql } from '../functions/tenants/sql.js';
import { environmentsSql } from '../functions/environments/sql.js';
import { catalogSql } from '../functions/catalog/sql.js';

export const serviceMigrations: ServiceMigrations[] = [tenantsSql, environmentsSql, catalogSql];
