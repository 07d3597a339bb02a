//! The identity graph's everyday questions as [`KriHost`] methods, behind the CLI's
//! `kri access --user`, `kri access --app`, `kri admins` and `kri tokens`: what a
//! user reaches and through what, who reaches an app, who holds which admin role over
//! what, and which API tokens exist with their owners.
//!
//! Every answer is read through the store's read-only query path ([`KriHost::query`])
//! from the tenant's `access_path`, `nodes` and `edges`, in plain SQL that SQLite and
//! PostgreSQL both run, so every store backend answers alike without methods of its
//! own. Names given on the command line enter the SQL only as quoted literals of a
//! statement that is then parsed and checked like any `kri query`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::StoreError;
use crate::graph::{action_type, edge_kind, node_kind};
use crate::host::KriHost;
use crate::query::QueryLimits;

/// The answers are whole: no row limit short of memory, and a generous time bound.
const LIMITS: QueryLimits = QueryLimits {
    timeout: Duration::from_secs(60),
    max_rows: usize::MAX,
};

/// How many close names an unknown user or app suggests.
const SUGGESTIONS: usize = 3;

const DAY_MS: i64 = 86_400_000;

/// Node properties the answers read (`docs/graph.md`). Each is looked up under its
/// first name, then the upstream's own spelling.
mod property {
    /// A user's lifecycle status (`ACTIVE`, `SUSPENDED`, ...).
    pub const STATUS: &[&str] = &["status"];
    /// A token's network: a string (`ANYWHERE`, `ZONE`) or `{"connection": ...}`.
    pub const NETWORK: &[&str] = &["network"];
    /// When the token was created: RFC 3339 or epoch ms.
    pub const CREATED: &[&str] = &["created"];
    /// When the token was last used, where the System Log shows it.
    pub const LAST_USED: &[&str] = &["last_used", "lastUsed"];
    /// When the token expires unless used.
    pub const EXPIRES_AT: &[&str] = &["expires_at", "expiresAt"];
}

/// Why a graph question has no answer.
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    #[error("tenant `{tenant}` has no user with login `{login}`; {hint}")]
    UnknownUser {
        tenant: String,
        login: String,
        /// Close logins, or what to do.
        hint: String,
    },
    #[error("tenant `{tenant}` has no app labelled `{label}`; {hint}")]
    UnknownApp {
        tenant: String,
        label: String,
        /// Close labels, or what to do.
        hint: String,
    },
    #[error(
        "the graph tables gave a row kri cannot read ({0}); run the tenant's inventory job again"
    )]
    BadRow(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One way an identity reaches a resource: an `access_path` row, named for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Access {
    /// The user's login.
    pub identity: String,
    pub identity_id: String,
    /// `app_assignment`, `group_membership` or `admin_role`.
    pub action_type: String,
    /// `USER` (assigned directly) or `GROUP` for an app, `member` for a group, the
    /// role's name for an admin role.
    pub action: String,
    /// The group the access comes through, if any.
    pub via_group: Option<String>,
    /// The resource's node kind: `app`, `group`, `org` or `resource_set`.
    pub resource_kind: String,
    /// An app's label, a group's name, a resource set's label or the org's URL.
    pub resource: String,
    pub resource_id: String,
    /// Node ids from the identity to the resource.
    pub path: Vec<String>,
}

impl Access {
    /// What the access comes through, in words: `direct assignment`, `group Sales`,
    /// `membership`, `role SUPER_ADMIN`, `role GROUP_ADMIN via group IT`.
    pub fn through(&self) -> String {
        let via = |g: &Option<String>| g.as_ref().map(|g| format!(" via group {g}"));
        match self.action_type.as_str() {
            action_type::GROUP_MEMBERSHIP => "membership".to_string(),
            action_type::ADMIN_ROLE => {
                format!(
                    "role {}{}",
                    self.action,
                    via(&self.via_group).unwrap_or_default()
                )
            }
            _ => match &self.via_group {
                Some(g) => format!("group {g}"),
                None => "direct assignment".to_string(),
            },
        }
    }
}

/// One admin role a user holds, directly or through a group, over one scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AdminGrant {
    /// The user's login.
    pub user: String,
    pub user_id: String,
    /// The user's status (`ACTIVE`, ...), when the graph has it.
    pub user_status: Option<String>,
    /// The role's type (`SUPER_ADMIN`) or a custom role's label.
    pub role: String,
    /// The role assignment's node id.
    pub role_id: String,
    /// The role node's sub-kind: `standard` or `custom` in Okta's graph.
    pub role_kind: String,
    /// The group the role is held through; `None` when assigned to the user.
    pub via_group: Option<String>,
    /// What the role governs: `org`, `group`, `app` or `resource_set`.
    pub scope_kind: String,
    /// The org's URL, a group's name, an app's label or a resource set's label.
    pub scope: String,
    pub scope_id: String,
}

/// An API token with its owner and what it can do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenInfo {
    pub token: String,
    pub token_id: String,
    /// The owner's login; `None` when the graph has no owner for the token.
    pub owner: Option<String>,
    pub owner_id: Option<String>,
    pub owner_status: Option<String>,
    /// The admin roles the owner holds (directly or through a group), which the token
    /// acts with; sorted, each once.
    pub owner_roles: Vec<String>,
    /// `ANYWHERE`, `ZONE`, ...; `None` when the token has no network restriction
    /// recorded.
    pub network: Option<String>,
    /// RFC 3339.
    pub created: Option<String>,
    /// Whole days from `created` to the time asked about.
    pub age_days: Option<i64>,
    /// RFC 3339; `None` when no use is known.
    pub last_used: Option<String>,
    pub expires_at: Option<String>,
}

impl KriHost {
    /// Every app, group and admin scope the user with `login` reaches, and through
    /// what: apps first, then groups, then admin roles. A user who reaches nothing
    /// gives an empty list; an unknown login is [`GraphError::UnknownUser`] with close
    /// logins.
    pub async fn access_of_user(
        &self,
        tenant_id: &str,
        login: &str,
    ) -> Result<Vec<Access>, GraphError> {
        let login = match self.find_name(tenant_id, node_kind::USER, login).await? {
            Ok(name) => name,
            Err(hint) => {
                return Err(GraphError::UnknownUser {
                    tenant: tenant_id.into(),
                    login: login.into(),
                    hint,
                })
            }
        };
        let sql = format!(
            "SELECT {ACCESS_COLUMNS} FROM access_path p JOIN nodes n ON n.id = p.identity_id \
             WHERE p.identity = {} AND n.kind = '{}'",
            literal(&login),
            node_kind::USER
        );
        let mut rows = self.access_rows(tenant_id, &sql).await?;
        rows.sort_by(|a, b| {
            let rank = |r: &Access| match r.action_type.as_str() {
                action_type::APP_ASSIGNMENT => 0,
                action_type::GROUP_MEMBERSHIP => 1,
                _ => 2,
            };
            (rank(a), &a.resource, &a.path).cmp(&(rank(b), &b.resource, &b.path))
        });
        Ok(rows)
    }

    /// Every way a user reaches the app(s) labelled `label`: assignments (direct or
    /// through a group) and admin roles over the app, by login. An unknown label is
    /// [`GraphError::UnknownApp`] with close labels.
    pub async fn access_to_app(
        &self,
        tenant_id: &str,
        label: &str,
    ) -> Result<Vec<Access>, GraphError> {
        let label = match self.find_name(tenant_id, node_kind::APP, label).await? {
            Ok(name) => name,
            Err(hint) => {
                return Err(GraphError::UnknownApp {
                    tenant: tenant_id.into(),
                    label: label.into(),
                    hint,
                })
            }
        };
        let sql = format!(
            "SELECT {ACCESS_COLUMNS} FROM access_path p JOIN nodes n ON n.id = p.identity_id \
             WHERE p.resource = {} AND p.resource_group = '{}' AND n.kind = '{}'",
            literal(&label),
            node_kind::APP,
            node_kind::USER
        );
        let mut rows = self.access_rows(tenant_id, &sql).await?;
        rows.sort_by(|a, b| (&a.identity, &a.path).cmp(&(&b.identity, &b.path)));
        Ok(rows)
    }

    /// Who holds which admin role, directly or through a group, over what scope: one
    /// entry per (user, role assignment, scope), by login then role.
    pub async fn admins(&self, tenant_id: &str) -> Result<Vec<AdminGrant>, GraphError> {
        let roles = self
            .query(
                tenant_id,
                &format!(
                    "SELECT id, sub_kind FROM nodes WHERE kind = '{}'",
                    node_kind::ADMIN_ROLE
                ),
                LIMITS,
            )
            .await?;
        let role_kinds: BTreeMap<String, String> = roles
            .objects()
            .iter()
            .map(|r| Ok((text(r, "id")?, text(r, "sub_kind")?)))
            .collect::<Result<_, GraphError>>()?;
        let sql = format!(
            "SELECT p.identity, p.identity_id, p.identity_group, p.action, p.resource_group, \
             p.resource, p.resource_id, p.path, u.properties AS user_properties \
             FROM access_path p JOIN nodes u ON u.id = p.identity_id \
             WHERE p.action_type = '{}' AND u.kind = '{}'",
            action_type::ADMIN_ROLE,
            node_kind::USER
        );
        let rows = self.query(tenant_id, &sql, LIMITS).await?;
        let mut grants = Vec::new();
        for r in rows.objects() {
            let path = id_list(&r, "path")?;
            // [user, (group,) role, scope]
            let role_id = path
                .len()
                .checked_sub(2)
                .and_then(|i| path.get(i))
                .cloned()
                .ok_or_else(|| GraphError::BadRow(format!("admin path {path:?} has no role")))?;
            grants.push(AdminGrant {
                user: text(&r, "identity")?,
                user_id: text(&r, "identity_id")?,
                user_status: prop_text(&json_field(&r, "user_properties"), property::STATUS),
                role: text(&r, "action")?,
                role_kind: role_kinds.get(&role_id).cloned().unwrap_or_default(),
                role_id,
                via_group: opt_text(&r, "identity_group"),
                scope_kind: text(&r, "resource_group")?,
                scope: text(&r, "resource")?,
                scope_id: text(&r, "resource_id")?,
            });
        }
        grants.sort_by(|a, b| {
            (&a.user, &a.role, &a.via_group, &a.scope).cmp(&(
                &b.user,
                &b.role,
                &b.via_group,
                &b.scope,
            ))
        });
        Ok(grants)
    }

    /// Every API token with its owner, the owner's status and admin roles, its network,
    /// its age at `now_ms` and its last use, by name.
    pub async fn tokens(&self, tenant_id: &str, now_ms: i64) -> Result<Vec<TokenInfo>, GraphError> {
        let sql = format!(
            "SELECT t.id, t.name, t.properties, u.id AS owner_id, u.name AS owner, \
             u.properties AS owner_properties \
             FROM nodes t LEFT JOIN edges e ON e.to_id = t.id AND e.kind = '{owns}' \
             LEFT JOIN nodes u ON u.id = e.from_id AND u.kind = '{user}' \
             WHERE t.kind = '{token}'",
            owns = edge_kind::OWNS,
            user = node_kind::USER,
            token = node_kind::API_TOKEN
        );
        let tokens = self.query(tenant_id, &sql, LIMITS).await?;
        let sql = format!(
            "SELECT DISTINCT identity_id, action FROM access_path WHERE action_type = '{}' \
             AND identity_id IN (SELECT from_id FROM edges WHERE kind = '{}')",
            action_type::ADMIN_ROLE,
            edge_kind::OWNS
        );
        let mut roles: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for r in self.query(tenant_id, &sql, LIMITS).await?.objects() {
            roles
                .entry(text(&r, "identity_id")?)
                .or_default()
                .insert(text(&r, "action")?);
        }
        let mut out = Vec::new();
        for r in tokens.objects() {
            let props = json_field(&r, "properties");
            let owner_id = opt_text(&r, "owner_id");
            let created_ms = prop_ms(&props, property::CREATED);
            out.push(TokenInfo {
                token: text(&r, "name")?,
                token_id: text(&r, "id")?,
                owner: opt_text(&r, "owner"),
                owner_status: prop_text(&json_field(&r, "owner_properties"), property::STATUS),
                owner_roles: owner_id
                    .as_ref()
                    .and_then(|id| roles.get(id))
                    .map(|s| s.iter().cloned().collect())
                    .unwrap_or_default(),
                owner_id,
                network: network(&props),
                created: created_ms.map(rfc3339),
                age_days: created_ms.map(|c| (now_ms - c).div_euclid(DAY_MS)),
                last_used: prop_ms(&props, property::LAST_USED).map(rfc3339),
                expires_at: prop_ms(&props, property::EXPIRES_AT).map(rfc3339),
            });
        }
        out.sort_by(|a, b| (&a.token, &a.token_id).cmp(&(&b.token, &b.token_id)));
        Ok(out)
    }

    async fn access_rows(&self, tenant_id: &str, sql: &str) -> Result<Vec<Access>, GraphError> {
        let rows = self.query(tenant_id, sql, LIMITS).await?;
        rows.objects()
            .iter()
            .map(|r| {
                Ok(Access {
                    identity: text(r, "identity")?,
                    identity_id: text(r, "identity_id")?,
                    action_type: text(r, "action_type")?,
                    action: text(r, "action")?,
                    via_group: opt_text(r, "identity_group"),
                    resource_kind: text(r, "resource_group")?,
                    resource: text(r, "resource")?,
                    resource_id: text(r, "resource_id")?,
                    path: id_list(r, "path")?,
                })
            })
            .collect()
    }

    /// The name of the `kind` node called `name`: as given, or differing only in
    /// case when exactly one such node does. `Err(hint)` says what to do instead:
    /// close names, or how to fill an empty graph.
    async fn find_name(
        &self,
        tenant_id: &str,
        kind: &str,
        name: &str,
    ) -> Result<Result<String, String>, GraphError> {
        let names = |condition: String| {
            format!("SELECT DISTINCT name FROM nodes WHERE kind = '{kind}'{condition}")
        };
        let exact = self
            .query(
                tenant_id,
                &names(format!(" AND name = {}", literal(name))),
                LIMITS,
            )
            .await?;
        if !exact.rows.is_empty() {
            return Ok(Ok(name.to_string()));
        }
        let folded = self
            .query(
                tenant_id,
                &names(format!(" AND lower(name) = lower({})", literal(name))),
                LIMITS,
            )
            .await?;
        if let [only] = folded.rows.as_slice() {
            if let Some(Value::String(s)) = only.first() {
                return Ok(Ok(s.clone()));
            }
        }
        let all = self.query(tenant_id, &names(String::new()), LIMITS).await?;
        let known: Vec<&str> = all
            .rows
            .iter()
            .filter_map(|r| r.first().and_then(Value::as_str))
            .collect();
        let plural = if kind == node_kind::USER {
            "users"
        } else {
            "apps"
        };
        if known.is_empty() {
            return Ok(Err(format!(
                "its graph has no {plural} yet: run the tenant's inventory job first \
                 (`kri run-connector CONNECTOR --tenant {tenant_id} --job inventory`)"
            )));
        }
        let close = close_names(name, &known);
        Ok(Err(if close.is_empty() {
            format!(
                "list its {plural} with `kri query --tenant {tenant_id} \"SELECT name FROM nodes WHERE kind = '{kind}'\"`"
            )
        } else {
            format!("did you mean {}?", close.join(", "))
        }))
    }
}

/// The `access_path` columns (as `p`) an [`Access`] is read from.
const ACCESS_COLUMNS: &str = "p.identity, p.identity_id, p.identity_group, p.action, \
                              p.action_type, p.resource_group, p.resource, p.resource_id, p.path";

/// `s` as an SQL string literal (single quotes doubled), the same in SQLite and
/// PostgreSQL.
fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Up to [`SUGGESTIONS`] of `known` closest to `name` (case-insensitive
/// Jaro-Winkler, or containing it), best first.
fn close_names(name: &str, known: &[&str]) -> Vec<String> {
    let wanted = name.to_lowercase();
    let mut scored: Vec<(f64, &str)> = known
        .iter()
        .map(|k| {
            let lower = k.to_lowercase();
            let mut score = strsim::jaro_winkler(&wanted, &lower);
            if !wanted.is_empty() && (lower.contains(&wanted) || wanted.contains(&lower)) {
                score = score.max(0.9);
            }
            (score, *k)
        })
        .filter(|(score, _)| *score >= 0.85)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    scored
        .into_iter()
        .take(SUGGESTIONS)
        .map(|(_, k)| k.to_string())
        .collect()
}

fn text(row: &Map<String, Value>, column: &str) -> Result<String, GraphError> {
    opt_text(row, column).ok_or_else(|| GraphError::BadRow(format!("no text in column {column}")))
}

fn opt_text(row: &Map<String, Value>, column: &str) -> Option<String> {
    row.get(column).and_then(Value::as_str).map(str::to_string)
}

/// A JSON column: text on SQLite, a JSON value on backends with a JSON type.
fn json_field(row: &Map<String, Value>, column: &str) -> Value {
    match row.get(column) {
        Some(Value::String(s)) => serde_json::from_str(s).unwrap_or(Value::Null),
        Some(other) => other.clone(),
        None => Value::Null,
    }
}

/// A JSON array of node ids.
fn id_list(row: &Map<String, Value>, column: &str) -> Result<Vec<String>, GraphError> {
    serde_json::from_value(json_field(row, column))
        .map_err(|e| GraphError::BadRow(format!("column {column}: {e}")))
}

fn prop<'a>(props: &'a Value, names: &[&str]) -> Option<&'a Value> {
    names
        .iter()
        .find_map(|n| props.get(*n))
        .filter(|v| !v.is_null())
}

fn prop_text(props: &Value, names: &[&str]) -> Option<String> {
    prop(props, names)
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// A time property, RFC 3339 text or epoch ms, as epoch ms.
fn prop_ms(props: &Value, names: &[&str]) -> Option<i64> {
    match prop(props, names)? {
        Value::String(s) => s
            .parse::<jiff::Timestamp>()
            .ok()
            .map(|t| t.as_millisecond()),
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
}

/// A token's network: the property as text, or Okta's `{"connection": ...}`.
fn network(props: &Value) -> Option<String> {
    match prop(props, property::NETWORK)? {
        Value::String(s) => Some(s.clone()),
        other => other
            .get("connection")
            .and_then(Value::as_str)
            .map(str::to_string),
    }
}

fn rfc3339(ms: i64) -> String {
    crate::store::format_ms(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_double_single_quotes() {
        assert_eq!(literal("o'hara@acme.com"), "'o''hara@acme.com'");
        assert_eq!(literal("x' OR '1'='1"), "'x'' OR ''1''=''1'");
    }

    #[test]
    fn close_names_rank_typos_and_parts_first() {
        let known = [
            "ann@acme.com",
            "anne@acme.com",
            "bob@acme.com",
            "zed@other.org",
        ];
        assert_eq!(
            close_names("ann@acme.co", &known),
            ["ann@acme.com", "anne@acme.com"]
        );
        assert_eq!(close_names("bob", &known), ["bob@acme.com"]);
        assert!(close_names("qqqq", &known).is_empty());
    }

    #[test]
    fn token_properties_read_both_spellings() {
        let props = serde_json::json!({
            "network": {"connection": "ANYWHERE"},
            "created": "2026-01-01T00:00:00.000Z",
            "lastUsed": 1_767_312_000_000_i64,
        });
        assert_eq!(network(&props).as_deref(), Some("ANYWHERE"));
        assert_eq!(prop_ms(&props, property::CREATED), Some(1_767_225_600_000));
        assert_eq!(
            prop_ms(&props, property::LAST_USED).map(rfc3339).as_deref(),
            Some("2026-01-02T00:00:00.000Z")
        );
        assert_eq!(prop_ms(&props, property::EXPIRES_AT), None);
        assert_eq!(
            network(&serde_json::json!({"network": "ZONE"})).as_deref(),
            Some("ZONE")
        );
    }

    #[test]
    fn through_says_how_in_words() {
        let access = |action_type: &str, action: &str, group: Option<&str>| Access {
            identity: "ann".into(),
            identity_id: "u".into(),
            action_type: action_type.into(),
            action: action.into(),
            via_group: group.map(str::to_string),
            resource_kind: "app".into(),
            resource: "x".into(),
            resource_id: "x".into(),
            path: vec![],
        };
        let cases = [
            (
                access(action_type::APP_ASSIGNMENT, "USER", None),
                "direct assignment",
            ),
            (
                access(action_type::APP_ASSIGNMENT, "GROUP", Some("Eng")),
                "group Eng",
            ),
            (
                access(action_type::GROUP_MEMBERSHIP, "member", None),
                "membership",
            ),
            (
                access(action_type::ADMIN_ROLE, "SUPER_ADMIN", None),
                "role SUPER_ADMIN",
            ),
            (
                access(action_type::ADMIN_ROLE, "GROUP_ADMIN", Some("IT")),
                "role GROUP_ADMIN via group IT",
            ),
        ];
        for (a, want) in cases {
            assert_eq!(a.through(), want);
        }
    }
}
