/**
 * The light part of the SQL layer, safe to import at start-up (no `pg`, no Kysely runtime): a
 * service's schema and role, its typed handle, and the scope a transaction runs in.
 */

/** Identifies a service's slice of the database: its schema and the role its queries run as. */
export interface ServiceSql {
  service: string;
  schema: string;
  role: string;
  /** Data that lives in the pooled database whatever the tenant's placement (the tenant registry). */
  pooledOnly?: boolean;
}

/**
 * A service's SQL handle: its {@link ServiceSql} carrying, as a type only, the service's tables
 * (`DB`), so that transactions and reads through it are typed without naming `DB` again. Each
 * service declares its handle once, in its `sql.ts`.
 */
export interface ServiceDb<DB> extends ServiceSql {
  /** Type-only: never set. */
  readonly __tables?: DB;
}

/** Where a tenant's data lives: the pooled database, or a silo named in settings. */
export type Placement = { model: 'pooled' } | { model: 'siloed'; database: string };

/** The scope a transaction runs in: one tenant, or `platform` for cross-tenant maintenance. */
export type SqlScope = { tenantId: string; placement: Placement } | { platform: true; placement: Placement };


/** A tenant as services' rules and APIs need it: its id and where its data lives. */
export interface TenantRef {
  tenantId: string;
  placement: Placement;
}
