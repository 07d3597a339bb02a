-- 16 (PostgreSQL twin of ../0016_tenants_version.sql): a counter that moves whenever
-- rows of `tenants` are added, changed or removed, by any host (one statement
-- trigger, inside the writing transaction). `kri serve` reads it before re-reading
-- every tenant and schedule, and skips that when it has not moved. One row, id 1.
CREATE TABLE tenants_version (
    id SMALLINT PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO tenants_version (id, version) VALUES (1, 0);
CREATE FUNCTION kri_bump_tenants_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE tenants_version SET version = version + 1 WHERE id = 1;
    RETURN NULL;
END
$$;
CREATE TRIGGER tenants_version_bump AFTER INSERT OR UPDATE OR DELETE ON tenants
    FOR EACH STATEMENT EXECUTE FUNCTION kri_bump_tenants_version();
