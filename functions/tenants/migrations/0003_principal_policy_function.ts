/**
 * The principal scope's tenants policy without a subquery in it. A policy's subquery is planned
 * into every statement on `tenants` — the access check every request runs included — even though
 * it only ever runs in the principal scope; planning it cost the point read about a third of its
 * time (bench/pipeline.ts). A PL/pgSQL function is not inlined: it costs nothing to plan, and the
 * cheap scope test before it keeps it from running outside the principal scope.
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await sql`create function principal_is_member(t text) returns boolean language plpgsql stable as $$
            begin
              return exists (select 1 from tenants.members m
                             where m.tenant_id = t and m.principal_id = nullif(current_setting('app.principal_id', true), ''));
            end $$`.execute(db);
  await sql`drop policy principal_tenants on tenants`.execute(db);
  await sql`create policy principal_tenants on tenants for select
            using (current_setting('app.scope', true) = 'principal' and principal_is_member(tenant_id))`.execute(db);
}
