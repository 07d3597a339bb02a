-- 10 (PostgreSQL twin of ../0010_graph_indexes.sql): indexes for the graph
-- questions (`kri access`, `kri admins`, `kri tokens`) and the documented queries:
-- nodes by kind and name, edges by kind and target covering the source (so finding
-- a token's owner or a group's members never scans the tenant's edges), access
-- paths by action type (every admin role).
CREATE INDEX nodes_by_kind_name ON nodes(tenant_id, kind, name);
CREATE INDEX edges_by_kind_to ON edges(tenant_id, kind, to_id, from_id);
CREATE INDEX access_path_by_action_type ON access_path(tenant_id, action_type);
