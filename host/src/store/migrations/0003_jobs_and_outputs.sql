-- 3: runs name their job (rows from before jobs were KRI runs); the identity graph
-- (nodes, edges), the audit stream (events, unique by id per tenant) and alerts
-- (one per dedupe key per tenant).
ALTER TABLE runs ADD COLUMN job TEXT NOT NULL DEFAULT 'kris';
CREATE TABLE nodes (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    kind TEXT NOT NULL,
    sub_kind TEXT NOT NULL,
    name TEXT NOT NULL,
    labels TEXT NOT NULL,           -- JSON object of strings
    properties TEXT NOT NULL,       -- JSON object
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE TABLE edges (
    tenant_id TEXT NOT NULL,
    from_id TEXT NOT NULL,
    to_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    properties TEXT NOT NULL,       -- JSON object
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, from_id, to_id, kind)
);
CREATE TABLE events (
    tenant_id TEXT NOT NULL,
    uuid TEXT NOT NULL,
    published INTEGER NOT NULL,     -- ms since the Unix epoch
    event_type TEXT NOT NULL,
    actor TEXT NOT NULL,            -- JSON EntityRef
    targets TEXT NOT NULL,          -- JSON array of EntityRef
    outcome TEXT,                   -- JSON EventOutcome
    raw TEXT NOT NULL,              -- JSON
    run_id INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, uuid)
);
CREATE INDEX events_by_time ON events(tenant_id, published);
CREATE TABLE alerts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id TEXT NOT NULL,
    detection TEXT NOT NULL,
    severity TEXT NOT NULL,         -- info | low | medium | high | critical
    title TEXT NOT NULL,
    entity TEXT NOT NULL,           -- JSON EntityRef
    dedupe_key TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    evidence TEXT NOT NULL,         -- JSON array of event ids
    details TEXT NOT NULL,          -- JSON object
    status TEXT NOT NULL DEFAULT 'open', -- open | acknowledged | resolved
    UNIQUE (tenant_id, dedupe_key)
);
