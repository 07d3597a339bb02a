-- 5 (PostgreSQL twin of ../0005_access_path.sql): access paths, derived from the
-- identity graph (nodes, edges) and rebuilt whole per tenant; see docs/graph.md for
-- the columns. Labels have GIN indexes for `@>`.
CREATE TABLE access_path (
    tenant_id TEXT NOT NULL,
    identity TEXT NOT NULL,             -- a user's login or an API token's name
    identity_id TEXT NOT NULL,
    identity_group TEXT,                -- the group the access comes through
    action TEXT NOT NULL,               -- USER | GROUP | member | the role's name
    action_type TEXT NOT NULL,          -- app_assignment | group_membership | admin_role
    kind TEXT NOT NULL,                 -- ALLOWED | DENIED
    resource_group TEXT NOT NULL,       -- the resource's node kind
    resource TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    resource_labels JSONB NOT NULL,     -- object of strings
    identity_labels JSONB NOT NULL,     -- object of strings
    standing_privileges BIGINT NOT NULL,
    path JSONB NOT NULL                 -- array of node ids
);
CREATE INDEX access_path_by_identity ON access_path(tenant_id, identity);
CREATE INDEX access_path_by_resource ON access_path(tenant_id, resource);
CREATE INDEX access_path_resource_labels ON access_path USING GIN (resource_labels jsonb_path_ops);
CREATE INDEX access_path_identity_labels ON access_path USING GIN (identity_labels jsonb_path_ops);
