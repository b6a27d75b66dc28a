/**
 * The principal scope (`app.scope = 'principal'`, see shared/sql/service-db.ts): routes that are
 * not tenant-scoped see no tenant's rows, except what these two read-only policies admit for the
 * caller named in `app.principal_id`: its own membership rows, and the tenants they name. Both
 * settings are transaction-local; an empty principal admits nothing. Nothing here admits a write.
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  // A principal's memberships, in tenant order: the tenant list's keyset.
  await sql`create index members_by_principal on members (principal_id, tenant_id)`.execute(db);
  await sql`create policy principal_memberships on members for select
            using (current_setting('app.scope', true) = 'principal'
                   and principal_id = nullif(current_setting('app.principal_id', true), ''))`.execute(db);
  // The subquery reads members under members' own policies: in the principal scope, the caller's rows.
  await sql`create policy principal_tenants on tenants for select
            using (current_setting('app.scope', true) = 'principal'
                   and exists (select 1 from members m
                               where m.tenant_id = tenants.tenant_id
                                 and m.principal_id = nullif(current_setting('app.principal_id', true), '')))`.execute(db);
}
