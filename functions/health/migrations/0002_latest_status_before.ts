/**
 * `latest.status_before`: the status a latest row's last write replaced (null when that write
 * inserted the row). The ingest's upsert sets it and returns it, so it learns each service's status
 * before the batch without a second lookup of every row it wrote. Not indexed: updates stay
 * heap-only.
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table latest add column status_before text check (status_before in ('healthy', 'degraded', 'unhealthy'))`.execute(db);
}
