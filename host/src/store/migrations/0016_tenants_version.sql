-- 16: a counter that moves whenever a row of `tenants` is added, changed or removed,
-- by any process (the triggers run inside the writing statement). `kri serve` reads
-- it before re-reading every tenant and schedule, and skips that when it has not
-- moved. One row, id 1.
CREATE TABLE tenants_version (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
INSERT INTO tenants_version (id, version) VALUES (1, 0);
CREATE TRIGGER tenants_version_on_insert AFTER INSERT ON tenants
BEGIN
    UPDATE tenants_version SET version = version + 1 WHERE id = 1;
END;
CREATE TRIGGER tenants_version_on_update AFTER UPDATE ON tenants
BEGIN
    UPDATE tenants_version SET version = version + 1 WHERE id = 1;
END;
CREATE TRIGGER tenants_version_on_delete AFTER DELETE ON tenants
BEGIN
    UPDATE tenants_version SET version = version + 1 WHERE id = 1;
END;
