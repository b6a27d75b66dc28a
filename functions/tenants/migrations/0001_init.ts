/** Tenant registry and memberships. Lives in the pooled database; silos hold only their tenant's data. */
import { sql, type Kysely } from 'kysely';
import { createKernelTables, enableTenantRls } from '../../../shared/sql/migrator.js';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('tenants')
    .addColumn('tenant_id', 'text', (c) => c.primaryKey())
    .addColumn('display_name', 'text', (c) => c.notNull())
    .addColumn('isolation_model', 'text', (c) => c.notNull().check(sql`isolation_model in ('pooled', 'siloed')`))
    .addColumn('silo_database', 'text')
    .addColumn('status', 'text', (c) => c.notNull().check(sql`status in ('active', 'suspended')`))
    .addColumn('quotas', 'jsonb', (c) => c.notNull())
    .addColumn('etag', 'uuid', (c) => c.notNull().defaultTo(sql`gen_random_uuid()`))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addCheckConstraint('silo_database_set', sql`(isolation_model = 'siloed') = (silo_database is not null)`)
    .execute();
  await enableTenantRls(db, 'tenants', { platformScope: true });

  await db.schema
    .createTable('members')
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.tenant_id').onDelete('cascade'))
    .addColumn('principal_id', 'text', (c) => c.notNull())
    .addColumn('role', 'text', (c) => c.notNull().check(sql`role in ('reader', 'operator', 'admin')`))
    .addColumn('etag', 'uuid', (c) => c.notNull().defaultTo(sql`gen_random_uuid()`))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('members_pk', ['tenant_id', 'principal_id'])
    .execute();
  await enableTenantRls(db, 'members', { platformScope: true });

  await createKernelTables(db);
}
