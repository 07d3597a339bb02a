//! The identity graph's vocabulary and the access paths derived from it.
//!
//! Connectors emit nodes and edges with the kinds named here (`docs/graph.md` is the
//! reference); [`AccessGraph`] walks them into the rows of the `access_path` table:
//! who reaches what, through what, one identity at a time. It is pure, so every
//! store backend rebuilds the table the same way.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::model::{Edge, Node};

/// Node kinds.
pub mod node_kind {
    /// A person's account; `name` is the login.
    pub const USER: &str = "user";
    /// A group of users; `name` is the group's name.
    pub const GROUP: &str = "group";
    /// An application; `name` is its label.
    pub const APP: &str = "app";
    /// One admin role assignment (a role held by one user or group, with its own
    /// scope); `name` is the role type (`SUPER_ADMIN`) or a custom role's label.
    pub const ADMIN_ROLE: &str = "admin_role";
    /// An API token; `name` is the token's name.
    pub const API_TOKEN: &str = "api_token";
    /// A resource set of custom roles; `name` is its label.
    pub const RESOURCE_SET: &str = "resource_set";
    /// The organization itself, the scope of org-wide roles; `name` is its URL.
    pub const ORG: &str = "org";
}

/// Edge kinds, each `from → to`.
pub mod edge_kind {
    /// user → group.
    pub const MEMBER_OF: &str = "member_of";
    /// user → app or group → app; a user's edge has `properties.scope` `USER`
    /// (assigned directly) or `GROUP` (through a group, which has its own edge).
    pub const ASSIGNED_TO: &str = "assigned_to";
    /// user → admin_role or group → admin_role.
    pub const HOLDS_ROLE: &str = "holds_role";
    /// admin_role → what it governs: org, group, app or resource_set.
    pub const ROLE_SCOPE: &str = "role_scope";
    /// user → api_token: the user owns the token, which acts with the user's reach.
    pub const OWNS: &str = "owns";
}

/// `action_type` of an access path.
pub mod action_type {
    pub const APP_ASSIGNMENT: &str = "app_assignment";
    pub const GROUP_MEMBERSHIP: &str = "group_membership";
    pub const ADMIN_ROLE: &str = "admin_role";
}

/// One row of `access_path`: an identity reaches a resource through `path`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccessPath {
    /// A user's login, or an API token's name.
    pub identity: String,
    pub identity_id: String,
    /// The group the access comes through, if any.
    pub identity_group: Option<String>,
    /// `USER` or `GROUP` for an app assignment, `member` for a membership, the
    /// role's name for an admin role.
    pub action: String,
    /// One of [`action_type`].
    pub action_type: String,
    /// `ALLOWED` (`DENIED` is kept for rules that deny; none are emitted yet).
    pub kind: String,
    /// The resource's node kind: app, group, org or resource_set.
    pub resource_group: String,
    /// An app's label, a group's name, a resource set's label or the org's URL.
    pub resource: String,
    pub resource_id: String,
    pub resource_labels: BTreeMap<String, String>,
    pub identity_labels: BTreeMap<String, String>,
    /// How many distinct resources the identity reaches without a request.
    pub standing_privileges: i64,
    /// Node ids from the identity to the resource.
    pub path: Vec<String>,
}

/// A tenant's graph indexed for walking its access paths one identity at a time, so
/// a store writes them out as they come and never holds every path at once.
pub struct AccessGraph<'g> {
    by_id: BTreeMap<&'g str, &'g Node>,
    /// Edges between nodes that exist, by (from, kind).
    out_edges: BTreeMap<(&'g str, &'g str), Vec<&'g Edge>>,
    /// The users, and the API tokens that have an owner, by (name, id): the order of
    /// the rows.
    identities: Vec<Identity<'g>>,
}

/// A user, or an API token with the users who own it (whose reach it has).
struct Identity<'g> {
    node: &'g Node,
    owners: Vec<&'g Node>,
}

impl<'g> AccessGraph<'g> {
    /// Indexes a graph whose node ids are unique (as a tenant's are). Edges to nodes
    /// that are missing are skipped.
    pub fn new(nodes: &'g [Node], edges: &'g [Edge]) -> AccessGraph<'g> {
        let by_id: BTreeMap<&str, &Node> = nodes.iter().map(|n| (n.id.as_str(), n)).collect();
        let mut out_edges: BTreeMap<(&str, &str), Vec<&Edge>> = BTreeMap::new();
        for e in edges {
            if by_id.contains_key(e.from.as_str()) && by_id.contains_key(e.to.as_str()) {
                out_edges
                    .entry((e.from.as_str(), e.kind.as_str()))
                    .or_default()
                    .push(e);
            }
        }
        let mut graph = AccessGraph {
            by_id,
            out_edges,
            identities: Vec::new(),
        };
        let users: Vec<&Node> = nodes.iter().filter(|n| n.kind == node_kind::USER).collect();
        let mut owners: BTreeMap<&str, Identity> = BTreeMap::new();
        for user in &users {
            for token in graph.targets(&user.id, edge_kind::OWNS) {
                if token.kind == node_kind::API_TOKEN {
                    owners
                        .entry(token.id.as_str())
                        .or_insert_with(|| Identity {
                            node: token,
                            owners: Vec::new(),
                        })
                        .owners
                        .push(user);
                }
            }
        }
        let mut identities: Vec<Identity> = users
            .into_iter()
            .map(|node| Identity {
                node,
                owners: Vec::new(),
            })
            .chain(owners.into_values())
            .collect();
        identities.sort_by(|a, b| (&a.node.name, &a.node.id).cmp(&(&b.node.name, &b.node.id)));
        graph.identities = identities;
        graph
    }

    /// Every access path, ordered by identity then resource then path, one
    /// identity's rows at a time.
    pub fn paths(&self) -> impl Iterator<Item = Vec<AccessPath>> + '_ {
        self.identities.iter().map(|i| self.paths_of(i))
    }

    /// The nodes `from` has edges of `kind` to.
    fn targets(&self, from: &str, kind: &str) -> Vec<&'g Node> {
        self.out_edges
            .get(&(from, kind))
            .map(|es| {
                es.iter()
                    .filter_map(|e| self.by_id.get(e.to.as_str()).copied())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// One identity's rows: a user's reach, or its owners' reach for a token, with
    /// the number of distinct resources it reaches.
    fn paths_of(&self, identity: &Identity<'g>) -> Vec<AccessPath> {
        let mut rows: Vec<AccessPath> = if identity.owners.is_empty() {
            self.reach(identity.node)
                .iter()
                .map(|r| r.row(identity.node, &[]))
                .collect()
        } else {
            identity
                .owners
                .iter()
                .flat_map(|owner| {
                    self.reach(owner)
                        .iter()
                        .map(|r| r.row(identity.node, std::slice::from_ref(&owner.id)))
                        .collect::<Vec<_>>()
                })
                .collect()
        };
        let standing = rows
            .iter()
            .map(|r| r.resource_id.as_str())
            .collect::<BTreeSet<_>>()
            .len() as i64;
        for r in &mut rows {
            r.standing_privileges = standing;
        }
        rows.sort_by(|a, b| (&a.resource, &a.path).cmp(&(&b.resource, &b.path)));
        rows.dedup();
        rows
    }

    /// What a user reaches: apps assigned directly, admin roles' scopes, groups, and
    /// the apps and roles' scopes of those groups.
    fn reach(&self, user: &'g Node) -> Vec<Reach<'g>> {
        let is = |n: &Node, kind: &str| n.kind == kind;
        let mut reach: Vec<Reach> = Vec::new();
        // user → app, assigned directly.
        for e in self
            .out_edges
            .get(&(user.id.as_str(), edge_kind::ASSIGNED_TO))
            .into_iter()
            .flatten()
        {
            let scope = e.properties.get("scope").and_then(|s| s.as_str());
            if scope.is_some_and(|s| s.eq_ignore_ascii_case("GROUP")) {
                continue; // the group's own assignment gives this path
            }
            if let Some(app) = self
                .by_id
                .get(e.to.as_str())
                .filter(|n| is(n, node_kind::APP))
            {
                reach.push(Reach::new(
                    None,
                    "USER",
                    action_type::APP_ASSIGNMENT,
                    app,
                    vec![],
                ));
            }
        }
        // user → admin role → scope.
        for role in self.targets(&user.id, edge_kind::HOLDS_ROLE) {
            for scope in self.targets(&role.id, edge_kind::ROLE_SCOPE) {
                reach.push(Reach::new(
                    None,
                    &role.name,
                    action_type::ADMIN_ROLE,
                    scope,
                    vec![role.id.clone()],
                ));
            }
        }
        for group in self
            .targets(&user.id, edge_kind::MEMBER_OF)
            .into_iter()
            .filter(|n| is(n, node_kind::GROUP))
        {
            // user → group.
            reach.push(Reach::new(
                None,
                "member",
                action_type::GROUP_MEMBERSHIP,
                group,
                vec![],
            ));
            // user → group → app.
            for app in self
                .targets(&group.id, edge_kind::ASSIGNED_TO)
                .into_iter()
                .filter(|n| is(n, node_kind::APP))
            {
                reach.push(Reach::new(
                    Some(group),
                    "GROUP",
                    action_type::APP_ASSIGNMENT,
                    app,
                    vec![group.id.clone()],
                ));
            }
            // user → group → admin role → scope.
            for role in self.targets(&group.id, edge_kind::HOLDS_ROLE) {
                for scope in self.targets(&role.id, edge_kind::ROLE_SCOPE) {
                    reach.push(Reach::new(
                        Some(group),
                        &role.name,
                        action_type::ADMIN_ROLE,
                        scope,
                        vec![group.id.clone(), role.id.clone()],
                    ));
                }
            }
        }
        reach
    }
}

/// What a user reaches, before it is written out for the user or a token.
struct Reach<'a> {
    group: Option<&'a Node>,
    action: String,
    action_type: &'static str,
    resource: &'a Node,
    /// Node ids between the identity and the resource.
    via: Vec<String>,
}

impl<'a> Reach<'a> {
    fn new(
        group: Option<&'a Node>,
        action: &str,
        action_type: &'static str,
        resource: &'a Node,
        via: Vec<String>,
    ) -> Reach<'a> {
        Reach {
            group,
            action: action.to_string(),
            action_type,
            resource,
            via,
        }
    }

    /// The row for `identity`, whose path to the user is `to_user`.
    fn row(&self, identity: &Node, to_user: &[String]) -> AccessPath {
        let mut path = vec![identity.id.clone()];
        path.extend(to_user.iter().cloned());
        path.extend(self.via.iter().cloned());
        path.push(self.resource.id.clone());
        AccessPath {
            identity: identity.name.clone(),
            identity_id: identity.id.clone(),
            identity_group: self.group.map(|g| g.name.clone()),
            action: self.action.clone(),
            action_type: self.action_type.to_string(),
            kind: "ALLOWED".to_string(),
            resource_group: self.resource.kind.clone(),
            resource: self.resource.name.clone(),
            resource_id: self.resource.id.clone(),
            resource_labels: self.resource.labels.clone(),
            identity_labels: identity.labels.clone(),
            standing_privileges: 0,
            path,
        }
    }
}

/// A small org: ann is in Engineering (assigned Salesforce, holding a group
/// admin role over Sales) and assigned Slack directly; bob holds SUPER_ADMIN
/// over the org and owns a token; cyd is in nothing.
#[cfg(test)]
pub(crate) fn small_graph() -> (Vec<Node>, Vec<Edge>) {
    let node = |id: &str, kind: &str, name: &str| Node {
        id: id.into(),
        kind: kind.into(),
        sub_kind: String::new(),
        name: name.into(),
        labels: BTreeMap::from([("teleport.dev/origin".to_string(), "okta".to_string())]),
        properties: serde_json::json!({}),
    };
    let edge = |from: &str, to: &str, kind: &str, props: serde_json::Value| Edge {
        from: from.into(),
        to: to.into(),
        kind: kind.into(),
        properties: props,
    };
    let none = serde_json::json!({});
    (
        vec![
            node("u-ann", node_kind::USER, "ann@acme.com"),
            node("u-bob", node_kind::USER, "bob@acme.com"),
            node("u-cyd", node_kind::USER, "cyd@acme.com"),
            node("g-eng", node_kind::GROUP, "Engineering"),
            node("g-sales", node_kind::GROUP, "Sales"),
            node("a-sf", node_kind::APP, "Salesforce"),
            node("a-slack", node_kind::APP, "Slack"),
            node("r-ga", node_kind::ADMIN_ROLE, "GROUP_ADMIN"),
            node("r-sa", node_kind::ADMIN_ROLE, "SUPER_ADMIN"),
            node("org", node_kind::ORG, "https://acme.okta.com"),
            node("t-ci", node_kind::API_TOKEN, "ci-token"),
        ],
        vec![
            edge("u-ann", "g-eng", edge_kind::MEMBER_OF, none.clone()),
            edge("g-eng", "a-sf", edge_kind::ASSIGNED_TO, none.clone()),
            // Okta lists group-derived app users too; they are not direct.
            edge(
                "u-ann",
                "a-sf",
                edge_kind::ASSIGNED_TO,
                serde_json::json!({"scope": "GROUP"}),
            ),
            edge(
                "u-ann",
                "a-slack",
                edge_kind::ASSIGNED_TO,
                serde_json::json!({"scope": "USER"}),
            ),
            edge("g-eng", "r-ga", edge_kind::HOLDS_ROLE, none.clone()),
            edge("r-ga", "g-sales", edge_kind::ROLE_SCOPE, none.clone()),
            edge("u-bob", "r-sa", edge_kind::HOLDS_ROLE, none.clone()),
            edge("r-sa", "org", edge_kind::ROLE_SCOPE, none.clone()),
            edge("u-bob", "t-ci", edge_kind::OWNS, none.clone()),
            edge("u-cyd", "gone", edge_kind::MEMBER_OF, none),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_every_kind_of_path() {
        let (nodes, edges) = small_graph();
        let graph = AccessGraph::new(&nodes, &edges);
        let rows: Vec<AccessPath> = graph.paths().flatten().collect();
        let summary: Vec<(String, Option<String>, String, String, i64, String)> = rows
            .iter()
            .map(|r| {
                (
                    r.identity.clone(),
                    r.identity_group.clone(),
                    r.action.clone(),
                    r.resource.clone(),
                    r.standing_privileges,
                    r.path.join(">"),
                )
            })
            .collect();
        let s = |x: &str| x.to_string();
        let want = vec![
            (
                s("ann@acme.com"),
                None,
                s("member"),
                s("Engineering"),
                4,
                s("u-ann>g-eng"),
            ),
            (
                s("ann@acme.com"),
                Some(s("Engineering")),
                s("GROUP_ADMIN"),
                s("Sales"),
                4,
                s("u-ann>g-eng>r-ga>g-sales"),
            ),
            (
                s("ann@acme.com"),
                Some(s("Engineering")),
                s("GROUP"),
                s("Salesforce"),
                4,
                s("u-ann>g-eng>a-sf"),
            ),
            (
                s("ann@acme.com"),
                None,
                s("USER"),
                s("Slack"),
                4,
                s("u-ann>a-slack"),
            ),
            (
                s("bob@acme.com"),
                None,
                s("SUPER_ADMIN"),
                s("https://acme.okta.com"),
                1,
                s("u-bob>r-sa>org"),
            ),
            (
                s("ci-token"),
                None,
                s("SUPER_ADMIN"),
                s("https://acme.okta.com"),
                1,
                s("t-ci>u-bob>r-sa>org"),
            ),
        ];
        assert_eq!(summary, want);
        assert!(rows.iter().all(|r| r.kind == "ALLOWED"));
        assert_eq!(rows[4].resource_group, "org");
        assert_eq!(rows[5].identity_id, "t-ci");
        assert_eq!(rows[0].action_type, action_type::GROUP_MEMBERSHIP);
    }
}
