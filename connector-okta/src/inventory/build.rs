//! Okta's JSON objects turned into identity-graph nodes and edges, exactly as
//! `docs/graph.md` names them (the host's `graph.rs` holds the same vocabulary). Pure:
//! the inventory job fetches, these functions shape. Every node carries the labels
//! `teleport.dev/origin: okta` and `okta/org: <base URL>`.

use kri_connector_sdk::types::{Edge, Node};
use serde_json::{json, Map, Value};

/// Node kinds (`docs/graph.md`).
pub mod node_kind {
    pub const USER: &str = "user";
    pub const GROUP: &str = "group";
    pub const APP: &str = "app";
    pub const ADMIN_ROLE: &str = "admin_role";
    pub const RESOURCE_SET: &str = "resource_set";
    pub const API_TOKEN: &str = "api_token";
    pub const ORG: &str = "org";
    /// Every kind the job emits, for a full sync's coverage.
    pub const ALL: [&str; 7] = [USER, GROUP, APP, ADMIN_ROLE, RESOURCE_SET, API_TOKEN, ORG];
}

/// Edge kinds (`docs/graph.md`), each `from → to`.
pub mod edge_kind {
    /// user → group.
    pub const MEMBER_OF: &str = "member_of";
    /// user → app (`scope` USER or GROUP), group → app.
    pub const ASSIGNED_TO: &str = "assigned_to";
    /// user → admin_role, group → admin_role.
    pub const HOLDS_ROLE: &str = "holds_role";
    /// admin_role → org, group, app or resource_set.
    pub const ROLE_SCOPE: &str = "role_scope";
    /// user → api_token.
    pub const OWNS: &str = "owns";
    /// Every kind the job emits, for a full sync's coverage.
    pub const ALL: [&str; 5] = [MEMBER_OF, ASSIGNED_TO, HOLDS_ROLE, ROLE_SCOPE, OWNS];
}

/// The label every node of this connector carries.
pub const ORIGIN_LABEL: (&str, &str) = ("teleport.dev/origin", "okta");
/// The label naming the tenant's org.
pub const ORG_LABEL: &str = "okta/org";

/// Standard roles whose scope may be narrowed to groups (targets `…/targets/groups`).
pub const GROUP_TARGETED_ROLES: [&str; 3] =
    ["USER_ADMIN", "HELP_DESK_ADMIN", "GROUP_MEMBERSHIP_ADMIN"];
/// Standard roles whose scope may be narrowed to apps (`…/targets/catalog/apps`).
pub const APP_TARGETED_ROLES: [&str; 1] = ["APP_ADMIN"];

/// `MfaSummary::source` of a summary made from the user's factors read by this job.
pub const FACTORS_SOURCE: &str = "factors";

/// A user's MFA summary as the graph keeps it in `properties.mfa`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MfaSummary {
    /// An ACTIVE factor other than password or security question.
    pub enrolled: bool,
    /// An ACTIVE phishing-resistant factor (WebAuthn, U2F, FIDO).
    pub phishing_resistant: bool,
    /// The ACTIVE factor types, when they were fetched (the `kris` job keeps only the
    /// two flags above).
    pub factor_types: Option<Vec<String>>,
    /// Where the summary came from: `kris_state` or `factors`.
    pub source: &'static str,
}

impl MfaSummary {
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "enrolled": self.enrolled,
            "phishing_resistant": self.phishing_resistant,
            "source": self.source,
        });
        if let Some(types) = &self.factor_types {
            v["factor_types"] = json!(types);
        }
        v
    }
}

/// The fields of a role assignment a role node carries as its properties.
pub const ROLE_PROPS: [&str; 6] = [
    "type",
    "label",
    "status",
    "assignmentType",
    "created",
    "lastUpdated",
];

/// The fields of a user object a user node carries as its properties (with the
/// profile's `email`).
pub const USER_PROPS: [&str; 7] = [
    "status",
    "created",
    "activated",
    "statusChanged",
    "lastLogin",
    "lastUpdated",
    "passwordChanged",
];

/// Builds the graph's nodes and edges for one org.
#[derive(Debug, Clone)]
pub struct Shaper {
    /// The org's base URL, `https://acme.okta.com`.
    pub org_url: String,
}

fn text(v: &Value, path: &[&str]) -> Option<String> {
    let mut cur = v;
    for key in path {
        cur = cur.get(key)?;
    }
    cur.as_str().map(str::to_string)
}

/// The last path segment of a URL (an id in an Okta `href`).
pub fn last_segment(href: &str) -> Option<&str> {
    href.trim_end_matches('/')
        .rsplit('/')
        .next()
        .filter(|s| !s.is_empty())
}

/// The scheme and host of an `href` (`https://acme.okta.com`), the org's base URL.
pub fn origin_of(href: &str) -> Option<String> {
    let rest_at = href.find("://")? + 3;
    let end = href[rest_at..]
        .find('/')
        .map_or(href.len(), |i| rest_at + i);
    Some(href[..end].to_string())
}

/// The object's fields named in `keys` that it has, copied as they are.
fn pick(v: &Value, keys: &[&str]) -> Map<String, Value> {
    keys.iter()
        .filter_map(|k| v.get(*k).map(|x| ((*k).to_string(), x.clone())))
        .collect()
}

fn edge(from: &str, to: &str, kind: &str, properties: Value) -> Edge {
    Edge {
        from: from.to_string(),
        to: to.to_string(),
        kind: kind.to_string(),
        properties: properties.to_string(),
    }
}

impl Shaper {
    fn node(&self, id: &str, kind: &str, sub_kind: &str, name: &str, props: Value) -> Node {
        Node {
            id: id.to_string(),
            kind: kind.to_string(),
            sub_kind: sub_kind.to_string(),
            name: name.to_string(),
            labels: vec![
                (ORIGIN_LABEL.0.to_string(), ORIGIN_LABEL.1.to_string()),
                (ORG_LABEL.to_string(), self.org_url.clone()),
            ],
            properties: props.to_string(),
        }
    }

    /// The org itself, scope of org-wide roles: its id and name are its URL.
    pub fn org_node(&self) -> Node {
        self.node(&self.org_url, node_kind::ORG, "", &self.org_url, json!({}))
    }

    /// A user (`GET /api/v1/users`): name is the login; status, dates and MFA summary
    /// in properties. `None` without an id.
    pub fn user(&self, user: &Value, mfa: Option<&MfaSummary>) -> Option<Node> {
        let id = text(user, &["id"])?;
        let login = text(user, &["profile", "login"]).unwrap_or_else(|| id.clone());
        let mut props = pick(user, &USER_PROPS);
        if let Some(email) = text(user, &["profile", "email"]) {
            props.insert("email".into(), json!(email));
        }
        if let Some(m) = mfa {
            props.insert("mfa".into(), m.to_json());
        }
        let sub_kind = text(user, &["type", "id"]).unwrap_or_default();
        Some(self.node(
            &id,
            node_kind::USER,
            &sub_kind,
            &login,
            Value::Object(props),
        ))
    }

    /// A group (`GET /api/v1/groups?expand=stats`): sub-kind is its type.
    pub fn group(&self, group: &Value) -> Option<Node> {
        let id = text(group, &["id"])?;
        let name = text(group, &["profile", "name"]).unwrap_or_else(|| id.clone());
        let mut props = pick(group, &["created", "lastUpdated", "lastMembershipUpdated"]);
        if let Some(d) = group.get("profile").and_then(|p| p.get("description")) {
            props.insert("description".into(), d.clone());
        }
        if let Some(stats) = group.get("_embedded").and_then(|e| e.get("stats")) {
            props.insert("stats".into(), stats.clone());
        }
        let kind = text(group, &["type"]).unwrap_or_default();
        Some(self.node(&id, node_kind::GROUP, &kind, &name, Value::Object(props)))
    }

    /// An app (`GET /api/v1/apps`): name is its label, sub-kind its sign-on mode.
    pub fn app(&self, app: &Value) -> Option<Node> {
        let id = text(app, &["id"])?;
        let label = text(app, &["label"]).unwrap_or_else(|| id.clone());
        let props = pick(
            app,
            &[
                "name",
                "label",
                "status",
                "signOnMode",
                "created",
                "lastUpdated",
            ],
        );
        let mode = text(app, &["signOnMode"]).unwrap_or_default();
        Some(self.node(&id, node_kind::APP, &mode, &label, Value::Object(props)))
    }

    /// One role assignment (`GET /api/v1/users/{id}/roles`, `/groups/{id}/roles`):
    /// name is the role type, or a custom role's label; a custom role's permissions
    /// come in properties when known.
    pub fn role(&self, role: &Value, permissions: Option<&[String]>) -> Option<Node> {
        let id = text(role, &["id"])?;
        let kind = text(role, &["type"]).unwrap_or_default();
        let custom = kind == "CUSTOM";
        let name = if custom {
            text(role, &["label"]).unwrap_or_else(|| kind.clone())
        } else {
            kind.clone()
        };
        let mut props = pick(role, &ROLE_PROPS);
        if custom {
            if let Some(r) = role.get("role") {
                props.insert("role".into(), r.clone());
            }
            if let Some(s) = role.get("resource-set") {
                props.insert("resource_set".into(), s.clone());
            }
            if let Some(p) = permissions {
                props.insert("permissions".into(), json!(p));
            }
        }
        Some(self.node(
            &id,
            node_kind::ADMIN_ROLE,
            if custom { "custom" } else { "standard" },
            &name,
            Value::Object(props),
        ))
    }

    /// A resource set (`GET /api/v1/iam/resource-sets`), with the ORNs of its resources.
    pub fn resource_set(&self, set: &Value, resources: &[String]) -> Option<Node> {
        let id = text(set, &["id"])?;
        let label = text(set, &["label"]).unwrap_or_else(|| id.clone());
        let mut props = pick(set, &["description", "created", "lastUpdated"]);
        props.insert("resources".into(), json!(resources));
        Some(self.node(
            &id,
            node_kind::RESOURCE_SET,
            "",
            &label,
            Value::Object(props),
        ))
    }

    /// An API token (`GET /api/v1/api-tokens`): network, dates, and its last use
    /// when the System Log showed one.
    pub fn token(&self, token: &Value, last_used: Option<&str>) -> Option<Node> {
        let id = text(token, &["id"])?;
        let name = text(token, &["name"]).unwrap_or_else(|| id.clone());
        let mut props = pick(
            token,
            &[
                "userId",
                "clientName",
                "tokenWindow",
                "created",
                "expiresAt",
                "lastUpdated",
            ],
        );
        let network = token.get("network");
        let connection = network
            .and_then(|n| n.get("connection"))
            .and_then(Value::as_str)
            .unwrap_or("NONE");
        props.insert("network".into(), json!(connection));
        if let Some(zones) = network.and_then(|n| n.get("include")) {
            props.insert("network_zones".into(), zones.clone());
        }
        if let Some(t) = last_used {
            props.insert("last_used".into(), json!(t));
        }
        Some(self.node(&id, node_kind::API_TOKEN, "", &name, Value::Object(props)))
    }
}

/// user → group.
pub fn member_of(user_id: &str, group_id: &str) -> Edge {
    edge(user_id, group_id, edge_kind::MEMBER_OF, json!({}))
}

/// user → app from an entry of `GET /api/v1/apps/{id}/users`, with its `scope` and
/// assignment id. (Its `status` follows the user's, which the user's node carries: kept
/// off the edge, it cannot go stale between the syncs that re-read the app.)
pub fn app_user(app_id: &str, app_user: &Value) -> Option<Edge> {
    let user = text(app_user, &["id"])?;
    let mut props = pick(app_user, &["scope"]);
    if let Some(a) = app_user
        .get("_embedded")
        .and_then(|e| e.get("assignment"))
        .and_then(|a| a.get("id"))
    {
        props.insert("assignment_id".into(), a.clone());
    }
    Some(edge(
        &user,
        app_id,
        edge_kind::ASSIGNED_TO,
        Value::Object(props),
    ))
}

/// group → app from an entry of `GET /api/v1/apps/{id}/groups`.
pub fn app_group(app_id: &str, app_group: &Value) -> Option<Edge> {
    let group = text(app_group, &["id"])?;
    let props = pick(app_group, &["priority"]);
    Some(edge(
        &group,
        app_id,
        edge_kind::ASSIGNED_TO,
        Value::Object(props),
    ))
}

/// user or group → admin role.
pub fn holds_role(principal: &str, role_id: &str) -> Edge {
    edge(principal, role_id, edge_kind::HOLDS_ROLE, json!({}))
}

/// admin role → what it governs.
pub fn role_scope(role_id: &str, scope_id: &str) -> Edge {
    edge(role_id, scope_id, edge_kind::ROLE_SCOPE, json!({}))
}

/// user → API token, from the token's `userId`.
pub fn owns(token: &Value) -> Option<Edge> {
    let id = text(token, &["id"])?;
    let owner = text(token, &["userId"])?;
    Some(edge(&owner, &id, edge_kind::OWNS, json!({})))
}

/// What a role assignment governs, before the targets are known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScopeNeed {
    /// A custom role: its resource set.
    ResourceSet(String),
    /// A standard role that may be narrowed to groups: read its group targets.
    GroupTargets,
    /// A standard role that may be narrowed to apps: read its app targets.
    AppTargets,
    /// The whole org.
    Org,
}

/// How to find a role assignment's scope.
pub fn scope_need(role: &Value) -> ScopeNeed {
    let kind = text(role, &["type"]).unwrap_or_default();
    if kind == "CUSTOM" {
        if let Some(set) = text(role, &["resource-set"]) {
            return ScopeNeed::ResourceSet(set);
        }
    }
    if GROUP_TARGETED_ROLES.contains(&kind.as_str()) {
        ScopeNeed::GroupTargets
    } else if APP_TARGETED_ROLES.contains(&kind.as_str()) {
        ScopeNeed::AppTargets
    } else {
        ScopeNeed::Org
    }
}

/// The group a role assignment with `assignmentType: GROUP` comes through, from its
/// `_links.assignee.href`.
pub fn assignee_group(role: &Value) -> Option<String> {
    if text(role, &["assignmentType"]).as_deref() != Some("GROUP") {
        return None;
    }
    let href = text(role, &["_links", "assignee", "href"])?;
    href.contains("/groups/")
        .then(|| last_segment(&href).map(str::to_string))
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shaper() -> Shaper {
        Shaper {
            org_url: "https://acme.okta.com".into(),
        }
    }

    fn is_labelled(node: &Node, org_url: &str) -> bool {
        let has = |k: &str, v: &str| node.labels.iter().any(|(a, b)| a == k && b == v);
        has(ORIGIN_LABEL.0, ORIGIN_LABEL.1) && has(ORG_LABEL, org_url)
    }

    fn props(n: &Node) -> Value {
        serde_json::from_str(&n.properties).unwrap_or(Value::Null)
    }

    #[test]
    fn users_carry_login_status_labels_and_mfa() {
        let user = json!({"id": "00u1", "status": "ACTIVE", "lastLogin": null,
            "activated": "2026-01-01T00:00:00.000Z", "profile": {"login": "ann@acme.com"}});
        let mfa = MfaSummary {
            enrolled: true,
            phishing_resistant: false,
            factor_types: None,
            source: "kris_state",
        };
        let n = shaper().user(&user, Some(&mfa)).expect("node");
        assert_eq!((n.id.as_str(), n.kind.as_str()), ("00u1", "user"));
        assert_eq!(n.name, "ann@acme.com");
        assert!(is_labelled(&n, "https://acme.okta.com"));
        let p = props(&n);
        assert_eq!(p["status"], "ACTIVE");
        assert_eq!(p["lastLogin"], Value::Null);
        assert_eq!(p["mfa"]["phishing_resistant"], false);
        assert!(shaper().user(&json!({"status": "ACTIVE"}), None).is_none());
    }

    #[test]
    fn groups_apps_and_tokens() {
        let s = shaper();
        let g = s
            .group(
                &json!({"id": "00g1", "type": "APP_GROUP", "profile": {"name": "Eng"},
                "_embedded": {"stats": {"usersCount": 3}}}),
            )
            .expect("group");
        assert_eq!((g.sub_kind.as_str(), g.name.as_str()), ("APP_GROUP", "Eng"));
        assert_eq!(props(&g)["stats"]["usersCount"], 3);
        let a = s
            .app(&json!({"id": "0oa1", "label": "Slack", "status": "ACTIVE", "signOnMode": "SAML_2_0"}))
            .expect("app");
        assert_eq!(
            (a.name.as_str(), a.sub_kind.as_str()),
            ("Slack", "SAML_2_0")
        );
        let t = json!({"id": "00T1", "name": "ci", "userId": "00u1", "created": "x"});
        let n = s
            .token(&t, Some("2026-01-02T00:00:00.000Z"))
            .expect("token");
        assert_eq!(props(&n)["network"], "NONE");
        assert_eq!(props(&n)["last_used"], "2026-01-02T00:00:00.000Z");
        let z = json!({"id": "00T2", "userId": "00u1", "network": {"connection": "ZONE", "include": ["nzo1"]}});
        assert_eq!(
            props(&s.token(&z, None).expect("t"))["network_zones"][0],
            "nzo1"
        );
        let e = owns(&t).expect("owns");
        assert_eq!(
            (e.from.as_str(), e.to.as_str(), e.kind.as_str()),
            ("00u1", "00T1", "owns")
        );
    }

    #[test]
    fn app_users_keep_their_scope() {
        let e = app_user(
            "0oa1",
            &json!({"id": "00u1", "scope": "GROUP", "status": "PROVISIONED", "_embedded": {"assignment": {"id": "0ua1"}}}),
        )
        .expect("edge");
        assert_eq!((e.from.as_str(), e.to.as_str()), ("00u1", "0oa1"));
        let p: Value = serde_json::from_str(&e.properties).unwrap_or(Value::Null);
        assert_eq!(p["scope"], "GROUP");
        assert_eq!(p["assignment_id"], "0ua1");
    }

    #[test]
    fn roles_name_their_type_or_custom_label_and_scope() {
        let s = shaper();
        let standard = json!({"id": "ra1", "type": "HELP_DESK_ADMIN", "label": "Help Desk administrator", "assignmentType": "USER"});
        let n = s.role(&standard, None).expect("role");
        assert_eq!(
            (n.name.as_str(), n.sub_kind.as_str()),
            ("HELP_DESK_ADMIN", "standard")
        );
        assert_eq!(scope_need(&standard), ScopeNeed::GroupTargets);
        let custom = json!({"id": "irb1", "type": "CUSTOM", "label": "Help desk (tier 1)",
            "role": "cr01", "resource-set": "iam1", "assignmentType": "GROUP",
            "_links": {"assignee": {"href": "https://acme.okta.com/api/v1/groups/00g9"}}});
        let perms = vec!["okta.users.read".to_string()];
        let n = s.role(&custom, Some(&perms)).expect("role");
        assert_eq!(
            (n.name.as_str(), n.sub_kind.as_str()),
            ("Help desk (tier 1)", "custom")
        );
        assert_eq!(props(&n)["permissions"][0], "okta.users.read");
        assert_eq!(scope_need(&custom), ScopeNeed::ResourceSet("iam1".into()));
        assert_eq!(assignee_group(&custom).as_deref(), Some("00g9"));
        assert_eq!(assignee_group(&standard), None);
        assert_eq!(
            scope_need(&json!({"type": "APP_ADMIN"})),
            ScopeNeed::AppTargets
        );
        assert_eq!(scope_need(&json!({"type": "SUPER_ADMIN"})), ScopeNeed::Org);
    }

    #[test]
    fn urls() {
        assert_eq!(
            origin_of("https://acme.okta.com/api/v1/users/00u1").as_deref(),
            Some("https://acme.okta.com")
        );
        assert_eq!(
            origin_of("http://127.0.0.1:4000").as_deref(),
            Some("http://127.0.0.1:4000")
        );
        assert_eq!(origin_of("/api/v1/users"), None);
        assert_eq!(last_segment("https://x/api/v1/groups/00g1/"), Some("00g1"));
    }
}
