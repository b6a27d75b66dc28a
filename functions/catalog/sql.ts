/** The catalog service's schema and role, bound to its tables' types. */
import { serviceDb } from '../../shared/sql/service-db.js';
import type { CatalogDb } from './store.js';

export const CATALOG_SQL = serviceDb<CatalogDb>({ service: 'catalog', schema: 'catalog', role: 'rp_catalog' });
