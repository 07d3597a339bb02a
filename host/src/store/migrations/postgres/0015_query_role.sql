-- 15 (PostgreSQL only; SQLite's `kri query` runs on a read-only connection of its
-- own): the role `kri query` runs its SQL as. It can log in nowhere and owns and is
-- granted nothing: each query's transaction grants it SELECT on that query's
-- tenant views only (TEMP views, gone at the rollback), so the secrets, the other
-- tenants' rows and every kri table stay out of its reach even past the query
-- check. Roles belong to the cluster, not the database: several kri databases of
-- one cluster share it, and one created meanwhile by another is fine.
DO $$
BEGIN
    CREATE ROLE kri_query_reader NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$;
-- kri's own user switches to it (SET LOCAL ROLE) for each query, so it must be a
-- member (a superuser always is; a role made beforehand by a DBA, with
-- `GRANT kri_query_reader TO <kri's user>`, needs nothing more here).
DO $$
BEGIN
    IF NOT pg_has_role(current_user, 'kri_query_reader', 'MEMBER') THEN
        EXECUTE format('GRANT kri_query_reader TO %I', current_user);
    END IF;
END
$$;
