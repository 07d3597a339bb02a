-- 5: access paths, derived from the identity graph (nodes, edges) and rebuilt
-- whole per tenant; see docs/graph.md for the columns.
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
    resource_labels TEXT NOT NULL,      -- JSON object of strings
    identity_labels TEXT NOT NULL,      -- JSON object of strings
    standing_privileges INTEGER NOT NULL,
    path TEXT NOT NULL                  -- JSON array of node ids
);
CREATE INDEX access_path_by_identity ON access_path(tenant_id, identity);
CREATE INDEX access_path_by_resource ON access_path(tenant_id, resource);
