/** The catalog service's schema and role, bound to its tables' types. */
import type { ServiceDb } from '../../shared/sql/service-db.js';
import type { CatalogDb } from './store.js';

export const CATALOG_SQL: ServiceDb<CatalogDb> = Object.freeze({ service: 'catalog', schema: 'catalog', role: 'rp_catalog' });
