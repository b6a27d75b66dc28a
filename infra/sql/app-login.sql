-- The Function App's PostgreSQL login, run by the pipeline after `npm run migrate` and before the
-- app is deployed. Idempotent. Run against the `postgres` database as an Entra administrator:
--
--   psql "host=$PGHOST dbname=postgres user=$ADMIN sslmode=require" \
--     -v app_name="$APP_NAME" -v app_oid="$APP_PRINCIPAL_ID" -f infra/sql/app-login.sql
--
-- 1. Creates a login for the app's managed identity (an ordinary role: not an administrator, not
--    a superuser, no BYPASSRLS). Azure maps the Entra token of that identity to this role.
-- 2. Makes it a member of every service role the migrations created (`rp_<service>`: NOLOGIN
--    roles that own nothing). The app switches to a service's role per transaction
--    (`set_config('role', …, true)`), so membership is all it needs.
\set ON_ERROR_STOP on

SELECT format('SELECT * FROM pgaadauth_create_principal_with_oid(%L, %L, %L, false, false)', :'app_name', :'app_oid', 'service')
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'app_name')
\gexec

SELECT format('GRANT %I TO %I', r.rolname, :'app_name')
FROM pg_roles r
WHERE r.rolname LIKE 'rp\_%' AND NOT r.rolcanlogin
  AND NOT pg_has_role(:'app_name', r.oid, 'MEMBER')
\gexec
