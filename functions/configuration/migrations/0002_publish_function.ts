/**
 * Publishing runs in a PL/pgSQL function, `publish_version`, called from one statement (see
 * `publish` in store.ts): its statements are planned once per connection and then reused, where
 * the single statement of data-modifying CTEs it replaces was planned on every publish (about as
 * long as the insert of a 500-setting version itself). The function runs with the caller's rights
 * (row-level security applies as to any statement of the service's role).
 *
 * The head now keeps `jsonb_hash_extended(settings, 0)` of its latest version (64 bits; equal for
 * equal jsonb whatever the key order), computed by the function, instead of a hash of canonical
 * JSON made by the app. Existing heads get the hash of their latest version.
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table configurations alter column settings_hash type bigint using null`.execute(db);
  // Row-level security is forced on both tables (the owner too): lifted for this one update,
  // inside the migration's transaction.
  await sql`alter table configurations no force row level security`.execute(db);
  await sql`alter table configuration_versions no force row level security`.execute(db);
  await sql`
    update configurations h set settings_hash = jsonb_hash_extended(v.settings, 0)
    from configuration_versions v
    where v.tenant_id = h.tenant_id and v.environment_id = h.environment_id and v.service_id = h.service_id and v.version = h.latest_version`.execute(db);
  await sql`alter table configurations force row level security`.execute(db);
  await sql`alter table configuration_versions force row level security`.execute(db);

  // Locks the head (writers of one configuration go one after another), compares the settings with
  // the latest version's (by hash; the documents only when the hashes agree), checks the
  // precondition ('absent': no version yet; 'any': some version; 'tags': the latest version's ETag
  // is one of p_tags), and only when the write is allowed (p_live), the settings differ and the
  // precondition holds writes version v0 + 1, its references and the head. Answers what it found
  // (v0, etag0, same) and the version it wrote (written, or null).
  await sql`
    create function publish_version(
      p_tenant text, p_env text, p_service text, p_etag uuid, p_settings jsonb, p_setting_count integer,
      p_secret_refs jsonb, p_service_refs jsonb, p_comment text, p_published_at timestamptz, p_published_by text,
      p_kind text, p_tags jsonb, p_live boolean,
      out v0 integer, out etag0 text, out same boolean, out written integer)
    language plpgsql volatile security invoker
    set search_path from current
    as $fn$
    declare
      head record;
      hash bigint := jsonb_hash_extended(p_settings, 0);
    begin
      select latest_version, latest_etag::text as latest_etag, settings_hash into head from configurations
        where tenant_id = p_tenant and environment_id = p_env and service_id = p_service
        for update;
      v0 := coalesce(head.latest_version, 0);
      etag0 := head.latest_etag;
      same := false;
      if v0 > 0 and head.settings_hash = hash then
        select coalesce(v.settings = p_settings, false) into same from configuration_versions v
          where v.tenant_id = p_tenant and v.environment_id = p_env and v.service_id = p_service and v.version = v0;
        same := coalesce(same, false);
      end if;
      if not p_live or same then
        return;
      end if;
      if not (case p_kind
                when 'absent' then v0 = 0
                when 'any' then v0 > 0
                else v0 > 0 and etag0 in (select jsonb_array_elements_text(p_tags))
              end) then
        return;
      end if;
      written := v0 + 1;
      if v0 = 0 then
        -- Two first writers both find no head: the second fails here (23505), changing nothing.
        insert into configurations (tenant_id, environment_id, service_id, latest_version, latest_etag, settings_hash, created_at, updated_at)
          values (p_tenant, p_env, p_service, written, p_etag, hash, p_published_at, p_published_at);
      else
        update configurations set latest_version = written, latest_etag = p_etag, settings_hash = hash, updated_at = p_published_at
          where tenant_id = p_tenant and environment_id = p_env and service_id = p_service;
      end if;
      insert into configuration_versions (tenant_id, environment_id, service_id, version, etag, settings, setting_count, secret_refs, comment, published_at, published_by)
        values (p_tenant, p_env, p_service, written, p_etag, p_settings, p_setting_count, p_secret_refs, p_comment, p_published_at, p_published_by);
      if jsonb_array_length(p_secret_refs) > 0 then
        insert into configuration_secret_refs (tenant_id, binding_name, environment_id, service_id, version)
          select p_tenant, name, p_env, p_service, written from jsonb_array_elements_text(p_secret_refs) as name;
      end if;
      if jsonb_array_length(p_service_refs) > 0 then
        insert into configuration_service_refs (tenant_id, target_service_id, environment_id, service_id, version)
          select p_tenant, name, p_env, p_service, written from jsonb_array_elements_text(p_service_refs) as name;
      end if;
    end
    $fn$`.execute(db);
}
