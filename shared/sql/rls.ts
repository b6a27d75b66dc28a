/** Row-level security for tenant tables, as every service's migrations turn it on. */
import { sql, type Kysely } from 'kysely';

/**
 * Turns on row-level security for a tenant table: `FORCE` so even the owner is filtered, and one
 * policy that admits only rows of the transaction's tenant. `platformScope` additionally admits
 * every row when the transaction runs in the platform scope (tenant registry, outbox publisher).
 */
export async function enableTenantRls(
  db: Kysely<any>,
  table: string,
  opts: { platformScope?: boolean } = {},
): Promise<void> {
  const t = sql.id(table);
  await sql`alter table ${t} enable row level security`.execute(db);
  await sql`alter table ${t} force row level security`.execute(db);
  const platform = opts.platformScope ? sql` or current_setting('app.scope', true) = 'platform'` : sql``;
  await sql`create policy tenant_isolation on ${t}
            using (tenant_id = current_setting('app.tenant_id', true)${platform})
            with check (tenant_id = current_setting('app.tenant_id', true)${platform})`.execute(db);
}

