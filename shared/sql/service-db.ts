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

/**
 * The scope a transaction runs in; row-level security sees it through transaction-local settings
 * ({@link scopeSettings}):
 * - `tenantId`: one tenant's rows (an empty id sees nothing);
 * - `platform`: every tenant's rows in the tables that admit the platform scope (the tenant
 *   registry, outboxes, idempotency records); platform-admin routes and maintenance only;
 * - `principal`: no tenant's rows, except what a table's policy admits explicitly for that
 *   principal (the tenants service: the caller's own memberships and the tenants they name). An
 *   empty principal sees nothing at all. Routes that are not tenant-scoped run in it.
 */
export type SqlScope =
  | { tenantId: string; placement: Placement }
  | { platform: true; placement: Placement }
  | { principal: string; placement: Placement };

/** The settings row-level security reads (`app.tenant_id`, `app.scope`, `app.principal_id`). */
export interface ScopeSettings {
  tenantId: string;
  scope: '' | 'platform' | 'principal';
  principalId: string;
}

/** What a scope sets, transaction-locally; every setting is always set, empty when unused. */
export function scopeSettings(scope: SqlScope): ScopeSettings {
  if ('tenantId' in scope) return { tenantId: scope.tenantId, scope: '', principalId: '' };
  if ('platform' in scope) return { tenantId: '', scope: 'platform', principalId: '' };
  return { tenantId: '', scope: 'principal', principalId: scope.principal };
}


/** A tenant as services' rules and APIs need it: its id and where its data lives. */
export interface TenantRef {
  tenantId: string;
  placement: Placement;
}
