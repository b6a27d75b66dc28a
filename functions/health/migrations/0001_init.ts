/**
 * Health results. Four tables, every one tenant-first with row-level security:
 *
 * - `results`: every result, partitioned by range of `observed_at`, one partition per UTC day. The
 *   primary key `(tenant_id, service_id, observed_at, batch_id, ord)` holds the partition key, as
 *   PostgreSQL requires, and is the index a service's history by time range reads.
 * - `transitions`: when a service's status changed (from, to, at), partitioned by `at` the same way.
 * - `latest`: one row per service, the newest result and when its status last changed, maintained on
 *   append; the latest-by-service read is a primary-key lookup that never touches `results`, and
 *   an environment's list reads `latest_by_environment`.
 * - `batches`: one row per accepted batch id (what makes a replay insert nothing).
 *
 * Retention (the storage map's "Health results (recent)", 30 days) drops whole daily partitions.
 * The service role owns nothing and cannot run DDL, so partitions are created and dropped by two
 * functions this migration creates: `SECURITY DEFINER`, owned by the migrator (the tables' owner),
 * executable by the service role only, with a fixed `search_path`. They take dates, build every
 * name and bound themselves, turn row-level security on (enabled, forced, the tenant policy) on
 * each partition they create, and `drop_partitions` refuses to drop anything the database's own
 * clock says is younger than the retention this migration was written for: a bug or a bad clock in
 * the app cannot drop recent data. A new retention figure means a new migration replacing them.
 */
import { sql, type Kysely } from 'kysely';
import { createKernelTables, enableTenantRls } from '../../../shared/sql/migrator.js';
import { storageMap } from '../../../shared/storage-map.js';

const STATUS = sql.raw(`check (status in ('healthy', 'degraded', 'unhealthy'))`);

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create table results (
      tenant_id       text not null,
      service_id      text collate "C" not null,
      observed_at     timestamptz not null,
      batch_id        text collate "C" not null,
      ord             integer not null,
      environment_id  text collate "C" not null,
      check_name      text not null,
      status          text not null ${STATUS},
      latency_ms      double precision not null,
      message         text,
      received_at     timestamptz not null,
      constraint results_pk primary key (tenant_id, service_id, observed_at, batch_id, ord)
    ) partition by range (observed_at)`.execute(db);
  await enableTenantRls(db, 'results');

  await sql`
    create table transitions (
      tenant_id       text not null,
      service_id      text collate "C" not null,
      at              timestamptz not null,
      batch_id        text collate "C" not null,
      ord             integer not null,
      environment_id  text collate "C" not null,
      from_status     text check (from_status in ('healthy', 'degraded', 'unhealthy')),
      to_status       text not null check (to_status in ('healthy', 'degraded', 'unhealthy')),
      check_name      text not null,
      message         text,
      constraint transitions_pk primary key (tenant_id, service_id, at, batch_id, ord)
    ) partition by range (at)`.execute(db);
  await enableTenantRls(db, 'transitions');

  await sql`
    create table latest (
      tenant_id       text not null,
      service_id      text collate "C" not null,
      environment_id  text collate "C" not null,
      status          text not null ${STATUS},
      check_name      text not null,
      latency_ms      double precision not null,
      message         text,
      observed_at     timestamptz not null,
      changed_at      timestamptz not null,
      batch_id        text collate "C" not null,
      ord             integer not null,
      constraint latest_pk primary key (tenant_id, service_id)
    ) with (fillfactor = 50)`.execute(db);
  // Only columns an update never changes are indexed (a service stays in its environment), so the
  // update of a latest row on every result can be heap-only (HOT): no index is written. It needs
  // room on the row's page: with fillfactor 50, 98% of the updates in bench/health.ts were HOT
  // on PostgreSQL 15 (57% at 80, and the table and its key grew by half with dead entries).
  await sql`create index latest_by_environment on latest (tenant_id, environment_id, service_id)`.execute(db);
  await enableTenantRls(db, 'latest');

  await sql`
    create table batches (
      tenant_id       text not null,
      batch_id        text collate "C" not null,
      environment_id  text collate "C" not null,
      results         integer not null,
      request_hash    text not null,
      received_at     timestamptz not null,
      constraint batches_pk primary key (tenant_id, batch_id)
    )`.execute(db);
  await sql`create index batches_by_received on batches (tenant_id, received_at)`.execute(db);
  await enableTenantRls(db, 'batches');

  await createKernelTables(db);
  await createPartitionFunctions(db);
}

/** The two partition-maintenance functions (see the module comment); `role` may execute them. */
async function createPartitionFunctions(db: Kysely<any>): Promise<void> {
  const schema = (await sql<{ s: string }>`select current_schema() as s`.execute(db)).rows[0]!.s;
  const retentionDays = storageMap.healthRecent.retentionDays;
  // Names and bounds come from dates only (format %I / %L); nothing the caller passes is text.
  await sql
    .raw(
      `
    create function ensure_partitions(first_day date, last_day date) returns integer
    language plpgsql security definer set search_path = pg_catalog, pg_temp as $fn$
    declare
      d date;
      t text;
      part text;
      made integer := 0;
    begin
      if first_day is null or last_day is null or last_day < first_day or last_day - first_day > 62 then
        raise exception 'ensure_partitions: a range of at most 63 days is required' using errcode = '22023';
      end if;
      -- The usual case: every partition is there; no lock is taken (an ingest calls this).
      if not exists (
        select 1 from unnest(array['results', 'transitions']) as tb(t), generate_series(first_day, last_day, interval '1 day') as g(day)
        where to_regclass(format('%I.%I', '${schema}', tb.t || '_p' || to_char(g.day, 'YYYYMMDD'))) is null
      ) then
        return 0;
      end if;
      -- One creator at a time: a concurrent caller waits, then finds the partitions there.
      perform pg_advisory_xact_lock(hashtextextended('${schema}:partitions', 0));
      foreach t in array array['results', 'transitions'] loop
        d := first_day;
        while d <= last_day loop
          part := t || '_p' || to_char(d, 'YYYYMMDD');
          if to_regclass(format('%I.%I', '${schema}', part)) is null then
            execute format('create table %I.%I partition of %I.%I for values from (%L) to (%L)',
              '${schema}', part, '${schema}', t, to_char(d, 'YYYY-MM-DD') || ' 00:00:00+00', to_char(d + 1, 'YYYY-MM-DD') || ' 00:00:00+00');
            execute format('alter table %I.%I enable row level security', '${schema}', part);
            execute format('alter table %I.%I force row level security', '${schema}', part);
            execute format('create policy tenant_isolation on %I.%I using (tenant_id = current_setting(%L, true)) with check (tenant_id = current_setting(%L, true))',
              '${schema}', part, 'app.tenant_id', 'app.tenant_id');
            made := made + 1;
          end if;
          d := d + 1;
        end loop;
      end loop;
      return made;
    end
    $fn$`,
    )
    .execute(db);
  await sql
    .raw(
      `
    create function drop_partitions(cutoff timestamptz) returns text[]
    language plpgsql security definer set search_path = pg_catalog, pg_temp as $fn$
    declare
      r record;
      dropped text[] := array[]::text[];
    begin
      if cutoff is null or cutoff > now() - interval '${retentionDays} days' then
        raise exception 'drop_partitions: the cut-off must be at least ${retentionDays} days ago' using errcode = '22023';
      end if;
      perform pg_advisory_xact_lock(hashtextextended('${schema}:partitions', 0));
      for r in
        select c.relname as part
        from pg_inherits i
        join pg_class c on c.oid = i.inhrelid
        join pg_class p on p.oid = i.inhparent
        join pg_namespace n on n.oid = p.relnamespace
        where n.nspname = '${schema}' and p.relname in ('results', 'transitions')
          and c.relname ~ '^(results|transitions)_p[0-9]{8}$'
        order by c.relname
      loop
        -- A partition holds one UTC day; it goes when its whole day is older than the cut-off.
        if (to_date(right(r.part, 8), 'YYYYMMDD') + 1)::timestamp at time zone 'UTC' <= cutoff then
          execute format('drop table %I.%I', '${schema}', r.part);
          dropped := dropped || r.part::text;
        end if;
      end loop;
      return dropped;
    end
    $fn$`,
    )
    .execute(db);
  for (const fn of ['ensure_partitions(date, date)', 'drop_partitions(timestamptz)']) {
    await sql.raw(`revoke all on function ${schema}.${fn} from public`).execute(db);
    await sql.raw(`grant execute on function ${schema}.${fn} to rp_health`).execute(db);
  }
}
