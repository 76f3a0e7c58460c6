-- Exitdesk's two database roles (README "Database roles"). Run once, as a superuser, connected to
-- the exitdesk database, which was created owned by the owner role:
--
--   createuser exitdesk_owner && createuser exitdesk_app     (then \password each in psql)
--   createdb --owner exitdesk_owner exitdesk
--   psql -v ON_ERROR_STOP=1 -d exitdesk -f deploy/postgresql-roles.sql
--
-- exitdesk_owner owns the schema and every table: DATABASE_MIGRATE_URL, used by `manage.py
-- migrate` only. exitdesk_app is what web, workers and beat connect as (DATABASE_URL): it reads
-- and writes rows and nothing else. It owns no table, so it can neither drop nor disable the audit
-- table's triggers, and it has no TRUNCATE, which fires no row trigger (README "The audit trail").

-- The roles, if createuser did not make them already.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'exitdesk_owner') THEN
        CREATE ROLE exitdesk_owner LOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'exitdesk_app') THEN
        CREATE ROLE exitdesk_app LOGIN;
    END IF;
END
$$;

-- The owner owns the schema; nobody else creates anything in it.
ALTER SCHEMA public OWNER TO exitdesk_owner;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO exitdesk_app;

-- Rows of the tables there are now (an existing installation)...
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO exitdesk_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO exitdesk_app;

-- ...and of every table and sequence `migrate` creates later as the owner.
ALTER DEFAULT PRIVILEGES FOR ROLE exitdesk_owner IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO exitdesk_app;
ALTER DEFAULT PRIVILEGES FOR ROLE exitdesk_owner IN SCHEMA public
    GRANT USAGE, SELECT ON SEQUENCES TO exitdesk_app;
