-- 1: the first schema: tenants, sealed secrets, runs, KRI definitions and values,
-- connector state.
CREATE TABLE tenants (
    id TEXT PRIMARY KEY,
    connector TEXT NOT NULL,
    base_url TEXT NOT NULL,
    kris TEXT NOT NULL,             -- JSON array of slugs; [] = all
    extra TEXT NOT NULL,            -- JSON object
    allow_insecure_local INTEGER NOT NULL,
    quotas TEXT NOT NULL,           -- JSON object of quota overrides
    created_at INTEGER NOT NULL
);
CREATE TABLE secrets (
    tenant_id TEXT PRIMARY KEY REFERENCES tenants(id) ON DELETE CASCADE,
    nonce BLOB NOT NULL,
    ciphertext BLOB NOT NULL
);
CREATE TABLE runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id TEXT NOT NULL,
    connector TEXT NOT NULL,
    kind TEXT NOT NULL,             -- run | check
    status TEXT NOT NULL,           -- running | succeeded | failed | interrupted
    error TEXT,
    pid INTEGER NOT NULL,
    started_at INTEGER NOT NULL,
    finished_at INTEGER,
    duration_ms INTEGER,
    requests INTEGER NOT NULL DEFAULT 0,
    responses_429 INTEGER NOT NULL DEFAULT 0,
    bytes INTEGER NOT NULL DEFAULT 0,
    rows_written INTEGER NOT NULL DEFAULT 0,
    rows_skipped INTEGER NOT NULL DEFAULT 0,
    note TEXT
);
CREATE INDEX runs_by_tenant ON runs(tenant_id, id);
CREATE TABLE kri_definitions (
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    slug TEXT NOT NULL,
    name TEXT NOT NULL,
    unit TEXT NOT NULL,
    direction TEXT NOT NULL,        -- higher_is_better | lower_is_better
    warn REAL,
    breach REAL,
    PRIMARY KEY (tenant_id, slug)
);
CREATE TABLE kri_values (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id TEXT NOT NULL,
    connector TEXT NOT NULL,
    slug TEXT NOT NULL,
    value REAL,
    numerator REAL,
    denominator REAL,
    status TEXT NOT NULL,           -- ok | warn | breach | not_evaluated
    details TEXT NOT NULL,          -- JSON object
    reason TEXT,
    run_id INTEGER NOT NULL REFERENCES runs(id),
    computed_at INTEGER NOT NULL
);
CREATE INDEX kri_values_latest ON kri_values(tenant_id, slug, run_id);
CREATE TABLE state (
    tenant_id TEXT NOT NULL,
    connector TEXT NOT NULL,
    key TEXT NOT NULL,
    value BLOB NOT NULL,
    PRIMARY KEY (tenant_id, connector, key)
);
