//! The `inventory` job: Okta's users, groups, apps, admin roles and API tokens as the
//! identity graph (`docs/graph.md`), and the four KRIs computed from it.
//!
//! A full sync (the first, then every `inventory_full_sync_hours`) reads everything
//! without per-user calls: users, groups with `expand=stats` and the members of the
//! non-empty ones, apps with their user and group assignments, role assignees then
//! only their roles (and the roles of the groups a user's role comes through, or whose
//! stats say `hasAdminPrivilege`), role targets, custom roles with their permissions,
//! resource sets, and API tokens. It vouches for every node and edge kind, so what Okta
//! no longer has leaves the graph when the run commits.
//!
//! An incremental sync reads the System Log since the last sync (see `changes.rs`):
//! users only where they changed (`search=lastUpdated gt`, and sign-ins for
//! `lastLogin`), the others coming from the job's state (`known.rs`); member lists
//! only of a group newly assigned an app or granted a role (the membership events add
//! or retract `member_of` edges, new users' `Everyone` membership comes from their
//! creation events); single app assignments only where the events cannot settle them
//! (the assignment events add or retract `assigned_to` edges, their `scope` told by the
//! groups each app is assigned and those groups' members, both kept in the state, and
//! the window's membership events); both assignment lists of the apps whose group
//! assignments changed; the roles of only
//! the principals whose roles may have changed (`roles.rs`), the others' from the state;
//! the cheap lists whole (groups, apps, role assignees, custom roles, resource sets,
//! tokens). It retracts deleted objects at once and vouches only for what it re-read or
//! rebuilt whole, so it gives the graph a full sync would. A user node is emitted again
//! only when the user changed or its MFA summary did.
//!
//! MFA: each user's summary comes read-only from the factor summaries the `kris` job
//! keeps in its state (`peer-state` import); admins it does not cover have their
//! factors read here (a few requests) by a full sync, and by an incremental one only
//! when the System Log shows a change of their factors (`user.mfa.factor.*`).
//!
//! API tokens' last use: the `requestApiTokenId` of the events in the tenant's stored
//! stream (which the `logs` job fills), read since the last run through the
//! `stored-events` import and kept in the state.
//!
//! Missing permissions: a 403 on the role endpoints (a read-only admin's token) lands
//! the graph without role nodes and edges, says which permission is missing in the
//! run's note and log, and leaves the KRIs that need roles `not_evaluated` with that
//! reason. A 403 on API tokens does the same for tokens.
//!
//! State (the job's own keys): `full_at`, epoch ms of the last full sync, `cursor`,
//! epoch ms up to which the System Log was read, `token_last_used/cursor`, epoch ms up
//! to which the stored stream was read for token use, and the keys of `known.rs`.

pub mod build;
pub mod changes;
pub mod known;
pub mod roles;

use crate::api::models::{Factor, LogEvent};
use crate::api::{
    ApiError, Denied, Endpoint, ListItem, OktaClient, API_TOKENS, APPS, APP_GROUPS, APP_USER,
    APP_USERS, CUSTOM_ROLES, FACTORS, GROUPS, GROUP_MEMBERS, GROUP_ROLES, LOGS, RESOURCE_SETS,
    ROLE_ASSIGNEES, ROLE_TARGETS, USERS, USER_ROLES,
};
use crate::collect::{event_type_filter, log_url, users_url};
use crate::config::Config;
use crate::kris::graph_kris::{
    admins_without_phishing_resistant_mfa, api_tokens_at_risk, inactive_users_90d,
    super_admin_count, Admin, GraphKri, TokenFacts, UserFacts,
};
use crate::kris::mfa_adoption::{summarize_factors, FactorSummary};
use crate::kris::Window;
use crate::store::{get_ms, set_ms, FACTORS_SHARD_PREFIX, FACTOR_SHARDS};
use crate::time::{iso_to_ms, ms_to_iso, HOUR_MS};
use build::{
    assignee_group, edge_kind, node_kind, origin_of, scope_need, MfaSummary, ScopeNeed, Shaper,
    FACTORS_SOURCE,
};
use changes::{Changes, GroupMembers};
use known::{KnownUser, ListedUser};
use kri_connector_sdk::graph::{Coverage, EdgeEnd};
use kri_connector_sdk::stored_events::EventQuery;
use kri_connector_sdk::types::{ConnectorError, Edge, KriValue, Level, Node, Output, RunSummary};
use kri_connector_sdk::{Host, Logger, OutputSink, StateStore, StoredEvents};
use roles::{Held, RoleAssignments, RoleEvents};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// State key: epoch ms of the last full sync.
pub const FULL_AT: &str = "full_at";
/// State key: epoch ms up to which the System Log was read.
pub const CURSOR: &str = "cursor";
/// The job whose factor summaries this one reads.
const KRIS_JOB: &str = "kris";
/// State key: epoch ms up to which the stored stream was read for token use.
pub const TOKEN_USE_CURSOR: &str = "token_last_used/cursor";
/// Outputs per `emit` call.
const EMIT_BATCH: usize = 2_000;
/// Stored events per page when reading the stream for token use.
const STREAM_PAGE: u32 = 1_000;
/// How far before the last sync an incremental sync reads the System Log and asks for
/// changed users again: both are eventually consistent in Okta (an event may be indexed
/// after a query that covered its time, and the assignment a membership causes may be
/// logged just before the membership, across the last sync's end), and what is read
/// twice gives the same answer (the last event about a pair wins; a user read twice
/// costs nothing; a privilege or factor event read twice re-reads its principal's).
const OVERLAP_MS: i64 = 5 * 60 * 1000;
/// The built-in group every user belongs to.
const EVERYONE: &str = "Everyone";

/// How a sync went, for the run's summary.
#[derive(Debug, Default)]
struct Tally {
    full: bool,
    users: usize,
    groups: usize,
    groups_read: usize,
    apps: usize,
    apps_read: usize,
    roles: usize,
    tokens: usize,
    events: usize,
    retracted: usize,
}

/// One edge to retract: `from` → `to` of `kind`.
#[derive(Debug, Clone)]
struct Retraction {
    from: String,
    to: String,
    kind: &'static str,
}

/// A permission the sync lacked, and what it left out.
#[derive(Debug, Clone)]
struct Gap {
    denied: Denied,
    left_out: &'static str,
}

/// What a sync read, shaped.
struct Sync {
    shaper: Shaper,
    nodes: Vec<Node>,
    edges: Vec<Edge>,
    /// Edges handed to the host already (`flush_edges`).
    edges_flushed: usize,
    coverage: Vec<Coverage>,
    retracted: Vec<String>,
    /// Single edges the upstream removed.
    retracted_edges: Vec<Retraction>,
    /// Every user (trimmed, `known::ListedUser`); moved into `known` by
    /// `add_user_nodes`.
    users: Vec<Value>,
    /// user id → login.
    logins: BTreeMap<String, String>,
    /// The users to emit whatever their MFA; `None`: all of them (a full sync).
    changed_users: Option<BTreeSet<String>>,
    /// Users whose factors may have changed since they were last read.
    refresh_factors: BTreeSet<String>,
    /// Every admin's factors may have changed (an org-wide factor deactivation).
    refresh_all_factors: bool,
    /// The users as the job's state kept them, their MFA (an incremental sync moves
    /// the user objects out into `users`, leaving `Null`); replaced by
    /// `add_user_nodes` with the users to keep.
    known: BTreeMap<String, KnownUser>,
    /// user id → MFA summary: the `kris` job's, or the factors read for an admin.
    mfa: BTreeMap<String, MfaSummary>,
    /// API token id → its last use (epoch ms).
    token_uses: BTreeMap<String, i64>,
    /// Groups whose stats say they hold an admin role.
    admin_groups: BTreeSet<String>,
    /// app id → the groups assigned to it (kept in the state between syncs).
    app_groups: BTreeMap<String, Vec<String>>,
    /// The members of the groups `app_groups` names (kept in the state between syncs).
    group_members: GroupMembers,
    /// The role assignments the last sync kept, then those of this one (kept for the
    /// next).
    roles: RoleAssignments,
    /// What the System Log says about roles; `None` for a full sync, which reads every
    /// principal's roles.
    role_events: Option<RoleEvents>,
    /// `None` when roles were unreadable.
    admins: Option<Vec<Admin>>,
    tokens: Option<Vec<Value>>,
    roles_gap: Option<Gap>,
    gaps: Vec<Gap>,
    tally: Tally,
}

fn fatal(e: ApiError) -> ConnectorError {
    e.into_connector_error()
}

/// A 403 becomes a gap, anything else fails the run.
fn gap_or_fail<T>(
    r: Result<T, ApiError>,
    left_out: &'static str,
) -> Result<Result<T, Gap>, ConnectorError> {
    match r {
        Ok(v) => Ok(Ok(v)),
        Err(ApiError::Forbidden(denied)) => Ok(Err(Gap { denied, left_out })),
        Err(e) => Err(fatal(e)),
    }
}

fn id_of(v: &Value) -> Option<&str> {
    v.get("id").and_then(Value::as_str)
}

fn enc(id: &str) -> String {
    crate::api::encode_path_segment(id)
}

/// The factor summaries the `kris` job keeps, read through `peer-state`.
fn peer_factors(state: &mut dyn StateStore) -> BTreeMap<String, FactorSummary> {
    let mut out = BTreeMap::new();
    for shard in 0..FACTOR_SHARDS {
        let key = format!("{FACTORS_SHARD_PREFIX}{shard:x}");
        let Some(raw) = state.peer_get(KRIS_JOB, &key) else {
            continue;
        };
        let Ok(map) = serde_json::from_slice::<serde_json::Map<String, Value>>(&raw) else {
            continue;
        };
        for (id, code) in map {
            if let Some(s) = code.as_u64().and_then(FactorSummary::from_code) {
                out.insert(id, s);
            }
        }
    }
    out
}

fn summary_of(s: &FactorSummary) -> MfaSummary {
    MfaSummary {
        enrolled: s.enrolled,
        phishing_resistant: s.phish_resistant,
        factor_types: None,
        source: "kris_state",
    }
}

fn summary_from_factors(factors: &[Factor]) -> MfaSummary {
    let s = summarize_factors(factors);
    let mut types: Vec<String> = factors
        .iter()
        .filter(|f| f.status.as_deref() == Some("ACTIVE"))
        .filter_map(|f| f.factor_type.clone())
        .collect();
    types.sort();
    types.dedup();
    MfaSummary {
        enrolled: s.enrolled,
        phishing_resistant: s.phish_resistant,
        factor_types: Some(types),
        source: FACTORS_SOURCE,
    }
}

/// The reads of one sync, over the API client, and the host's output for the edges
/// of a round of lists (`Sync::flush_edges`).
struct Reader<'a, 'h> {
    client: OktaClient<'h>,
    log: &'a mut dyn Logger,
    output: &'a mut dyn OutputSink,
    cfg: &'a Config,
    /// API requests per stage of the sync, in order (for the run's note).
    spent: Vec<(&'static str, u64)>,
    /// The client's request count when the last stage ended.
    counted: u64,
}

impl Reader<'_, '_> {
    fn info(&mut self, msg: &str) {
        self.log.log(Level::Info, msg);
    }

    /// Ends a stage: the requests since the last one count for `stage`.
    fn spent_on(&mut self, stage: &'static str) {
        let now = self.client.stats.requests;
        let n = now - self.counted;
        self.counted = now;
        if n == 0 {
            return;
        }
        match self.spent.iter_mut().find(|(s, _)| *s == stage) {
            Some((_, total)) => *total += n,
            None => self.spent.push((stage, n)),
        }
    }

    /// `stage n, stage n, ...`.
    fn spent_text(&self) -> String {
        self.spent
            .iter()
            .map(|(s, n)| format!("{s} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn list<T: ListItem>(
        &mut self,
        ep: Endpoint,
        url: &str,
        stage: &str,
    ) -> Result<Vec<T>, ApiError> {
        let log = &mut *self.log;
        let listing =
            self.client
                .list_all::<T>(ep, url, crate::api::ListOptions::default(), &mut |n| {
                    log.progress(stage, n, None)
                })?;
        Ok(listing.items)
    }

    /// Many lists, batched through `send_all`; a 404 (the object went meanwhile) is an
    /// empty list.
    fn lists<T: ListItem>(
        &mut self,
        ep: Endpoint,
        urls: &[String],
        stage: &str,
    ) -> Result<Vec<Vec<T>>, ApiError> {
        self.lists_of(ep, urls, stage, (0, urls.len() as u64))
    }

    /// `lists`, for one round of a stage that reads `of.1` lists in all, `of.0` of them
    /// before this round: the progress counts the whole stage.
    fn lists_of<T: ListItem>(
        &mut self,
        ep: Endpoint,
        urls: &[String],
        stage: &str,
        of: (u64, u64),
    ) -> Result<Vec<Vec<T>>, ApiError> {
        let log = &mut *self.log;
        let (before, all) = of;
        let results = self.client.get_lists_batched::<T>(
            ep,
            urls,
            self.cfg.factor_batch_size,
            true,
            &mut |done, _| log.progress(stage, before + done, Some(all)),
        )?;
        results
            .into_iter()
            .map(|r| match r {
                Err(ApiError::NotFound { .. }) => Ok(Vec::new()),
                other => other,
            })
            .collect()
    }

    /// Users in every status: the default list, then the DEPROVISIONED ones it omits;
    /// each trimmed as it is read (`known::ListedUser`).
    fn users(&mut self) -> Result<Vec<Value>, ApiError> {
        let mut users: Vec<ListedUser> =
            self.list(USERS, "/api/v1/users?limit=200", "inventory: users")?;
        users.extend(self.list(
            USERS,
            &users_url("DEPROVISIONED"),
            "inventory: deprovisioned users",
        )?);
        Ok(users.into_iter().map(|u| u.0).collect())
    }

    /// Users in every status changed after `after_ms` (Okta's `search` on
    /// `lastUpdated`, which unlike the plain list includes DEPROVISIONED users).
    fn changed_users(&mut self, after_ms: i64) -> Result<Vec<Value>, ApiError> {
        let url = crate::api::url_with_query(
            "/api/v1/users",
            &[
                (
                    "search",
                    &format!("lastUpdated gt \"{}\"", ms_to_iso(after_ms)),
                ),
                ("limit", "200"),
            ],
        );
        let users: Vec<ListedUser> = self.list(USERS, &url, "inventory: changed users")?;
        Ok(users.into_iter().map(|u| u.0).collect())
    }

    fn groups(&mut self) -> Result<Vec<Value>, ApiError> {
        self.list(
            GROUPS,
            "/api/v1/groups?expand=stats&limit=1000",
            "inventory: groups",
        )
    }

    fn apps(&mut self) -> Result<Vec<Value>, ApiError> {
        self.list(APPS, "/api/v1/apps?limit=200", "inventory: apps")
    }
}

/// An entry of a member or app-assignment list, reduced to what the graph keeps: the
/// lists carry whole user objects, and keeping tens of thousands of them would spend
/// the guest's memory.
#[derive(Debug, Deserialize)]
struct Listed {
    id: Option<String>,
    scope: Option<String>,
    priority: Option<Value>,
    #[serde(rename = "_embedded")]
    embedded: Option<ListedEmbedded>,
}

#[derive(Debug, Deserialize)]
struct ListedEmbedded {
    assignment: Option<ListedAssignment>,
}

#[derive(Debug, Deserialize)]
struct ListedAssignment {
    id: Option<String>,
}

impl ListItem for Listed {}

impl Listed {
    /// The entry back in Okta's shape, with only the kept fields.
    fn to_value(&self) -> Value {
        let mut v = json!({ "id": self.id, "scope": self.scope, "priority": self.priority });
        if let Some(a) = self.embedded.as_ref().and_then(|e| e.assignment.as_ref()) {
            v["_embedded"] = json!({ "assignment": { "id": a.id } });
        }
        if let Value::Object(o) = &mut v {
            o.retain(|_, x| !x.is_null());
        }
        v
    }
}

/// Whether a group listed with `expand=stats` has members (unknown counts as yes).
fn has_members(group: &Value) -> bool {
    group
        .pointer("/_embedded/stats/usersCount")
        .and_then(Value::as_u64)
        .is_none_or(|n| n > 0)
}

/// The org's base URL, from the first `_links.self.href` of the lists read.
fn org_url(lists: &[&[Value]]) -> Option<String> {
    lists.iter().flat_map(|l| l.iter()).find_map(|v| {
        v.pointer("/_links/self/href")
            .and_then(Value::as_str)
            .and_then(origin_of)
    })
}

/// Role assignments read for the graph.
struct Roles {
    nodes: Vec<Node>,
    edges: Vec<Edge>,
    admins: Vec<Admin>,
}

impl Sync {
    fn new(shaper: Shaper, peer: &BTreeMap<String, FactorSummary>) -> Sync {
        Sync {
            shaper,
            nodes: Vec::new(),
            edges: Vec::new(),
            edges_flushed: 0,
            coverage: Vec::new(),
            retracted: Vec::new(),
            retracted_edges: Vec::new(),
            users: Vec::new(),
            logins: BTreeMap::new(),
            changed_users: None,
            refresh_factors: BTreeSet::new(),
            refresh_all_factors: false,
            known: BTreeMap::new(),
            mfa: peer
                .iter()
                .map(|(k, v)| (k.clone(), summary_of(v)))
                .collect(),
            token_uses: BTreeMap::new(),
            admin_groups: BTreeSet::new(),
            app_groups: BTreeMap::new(),
            group_members: GroupMembers::new(),
            roles: RoleAssignments::default(),
            role_events: None,
            admins: None,
            tokens: None,
            roles_gap: None,
            gaps: Vec::new(),
            tally: Tally::default(),
        }
    }

    /// Vouches for every node kind (users only when all were read) and for
    /// `edge_kinds`, except the API tokens when they could not be read: those stay as
    /// the last sync that could read them left them. (Unreadable roles are vouched for:
    /// the graph lands without them.)
    fn cover_read_lists(&mut self, edge_kinds: &[&str]) {
        let tokens_read = self.tokens.is_some();
        let users_read = self.changed_users.is_none();
        let keep =
            |k: &&&str| tokens_read || (**k != node_kind::API_TOKEN && **k != edge_kind::OWNS);
        let nodes: Vec<Coverage> = node_kind::ALL
            .iter()
            .filter(keep)
            .filter(|k| users_read || **k != node_kind::USER)
            .map(|k| Coverage::NodeKind(k.to_string()))
            .collect();
        let edges: Vec<Coverage> = edge_kinds
            .iter()
            .filter(keep)
            .map(|k| Coverage::EdgeKind(k.to_string()))
            .collect();
        self.coverage.extend(nodes);
        self.coverage.extend(edges);
    }

    /// Hands the edges gathered so far to the host: a large org's member and
    /// assignment lists give millions, which would not fit the guest's memory whole.
    fn flush_edges(&mut self, out: &mut dyn OutputSink) -> Result<(), ConnectorError> {
        let edges = std::mem::take(&mut self.edges);
        self.edges_flushed += edges.len();
        let mut rest = edges.into_iter().peekable();
        while rest.peek().is_some() {
            let batch: Vec<Output> = rest.by_ref().take(EMIT_BATCH).map(Output::Edge).collect();
            out.emit(batch).map_err(|e| {
                ConnectorError::HostLimit(format!("emitting the graph failed: {e}"))
            })?;
        }
        Ok(())
    }

    fn cover_edges_to(&mut self, node: &str, kind: &str) {
        self.coverage.push(Coverage::EdgesTo(EdgeEnd {
            node: node.to_string(),
            kind: kind.to_string(),
        }));
    }

    /// Every user, trimmed already (`known::ListedUser`, or as kept); their nodes come in
    /// `finish`, once the admins' MFA is known.
    fn add_users(&mut self, mut users: Vec<Value>) {
        for u in &mut users {
            // The org's URL was taken from the lists already.
            if let Some(fields) = u.as_object_mut() {
                fields.remove("_links");
            }
        }
        self.users = users;
        for u in &self.users {
            if let Some(id) = id_of(u) {
                let login = u
                    .pointer("/profile/login")
                    .and_then(Value::as_str)
                    .unwrap_or(id);
                self.logins.insert(id.to_string(), login.to_string());
            }
        }
        self.tally.users = self.users.len();
    }

    /// The user nodes to emit (all in a full sync; else those that changed, or whose
    /// MFA summary did), and the users as the state keeps them for the next sync.
    /// The users move into the state's map (`users` is empty after).
    fn add_user_nodes(&mut self) {
        let mut next = BTreeMap::new();
        for u in std::mem::take(&mut self.users) {
            let Some(id) = id_of(&u).map(str::to_string) else {
                continue;
            };
            let mfa = self.mfa.get(&id);
            let mfa_json = mfa.map(MfaSummary::to_json);
            let changed = self.changed_users.as_ref().is_none_or(|c| c.contains(&id))
                || self.known.get(&id).is_none_or(|k| k.mfa != mfa_json);
            if changed {
                self.nodes.extend(self.shaper.user(&u, mfa));
            }
            let factors = mfa.filter(|m| m.source == FACTORS_SOURCE).cloned();
            next.insert(
                id,
                KnownUser {
                    user: u,
                    mfa: mfa_json,
                    factors,
                },
            );
        }
        self.known = next;
    }

    fn add_groups(&mut self, groups: &[Value]) {
        self.nodes
            .extend(groups.iter().filter_map(|g| self.shaper.group(g)));
        self.admin_groups = groups
            .iter()
            .filter(|g| {
                g.pointer("/_embedded/stats/hasAdminPrivilege")
                    .and_then(Value::as_bool)
                    == Some(true)
            })
            .filter_map(id_of)
            .map(str::to_string)
            .collect();
        self.tally.groups = groups.len();
    }

    fn add_apps(&mut self, apps: &[Value]) {
        self.nodes
            .extend(apps.iter().filter_map(|a| self.shaper.app(a)));
        self.tally.apps = apps.len();
    }

    /// The groups `app_groups` names that the groups list has (`known`): those whose
    /// members the state keeps.
    fn granting_groups(&self, known: &BTreeSet<&str>) -> BTreeSet<&String> {
        self.app_groups
            .values()
            .flatten()
            .filter(|g| known.contains(g.as_str()))
            .collect()
    }

    /// `member_of` edges of the groups in `ids` (parallel to `members`); the members of
    /// those `group_members` tracks are kept there.
    fn add_members(&mut self, ids: &[String], members: Vec<Vec<Listed>>) {
        for (group, users) in ids.iter().zip(members) {
            let user_ids = users.iter().filter_map(|u| u.id.as_deref());
            if let Some(kept) = self.group_members.get_mut(group) {
                kept.extend(user_ids.clone().map(str::to_string));
            }
            self.edges
                .extend(user_ids.map(|u| build::member_of(u, group)));
        }
        self.tally.groups_read += ids.len();
    }

    /// `assigned_to` edges of the apps in `ids` (users and groups lists parallel).
    fn add_assignments(
        &mut self,
        ids: &[String],
        users: Vec<Vec<Listed>>,
        groups: Vec<Vec<Listed>>,
    ) {
        for ((app, users), groups) in ids.iter().zip(users).zip(groups) {
            self.app_groups.insert(
                app.clone(),
                groups.iter().filter_map(|g| g.id.clone()).collect(),
            );
            self.edges.extend(
                users
                    .iter()
                    .filter_map(|u| build::app_user(app, &u.to_value())),
            );
            self.edges.extend(
                groups
                    .iter()
                    .filter_map(|g| build::app_group(app, &g.to_value())),
            );
        }
        self.tally.apps_read += ids.len();
    }
}

/// Reads the role assignments: the assignees, then the roles of the users and groups
/// `roles::users_to_read` and `roles::groups_to_read` pick (every one for a full sync,
/// `events` `None`; the others come from `kept`), the groups being those the users'
/// roles come through and those `admin_groups` names (Okta's group stats flag them with
/// `hasAdminPrivilege`, members or not); the targets of the roles read; custom roles'
/// permissions and resource sets, whole. Returns the graph and every assignment.
fn read_roles(
    r: &mut Reader<'_, '_>,
    shaper: &Shaper,
    logins: &BTreeMap<String, String>,
    admin_groups: &BTreeSet<String>,
    kept: RoleAssignments,
    events: Option<&RoleEvents>,
) -> Result<(Roles, RoleAssignments), ApiError> {
    let assignees = r.client.list_body(
        ROLE_ASSIGNEES,
        "/api/v1/iam/assignees/users?limit=100",
        "value",
    )?;
    let assignees: Vec<String> = assignees
        .iter()
        .filter_map(id_of)
        .map(str::to_string)
        .collect();
    let users = roles::users_to_read(&kept, &assignees, events, admin_groups);
    let urls: Vec<String> = users
        .iter()
        .map(|u| format!("/api/v1/users/{}/roles", enc(u)))
        .collect();
    let user_roles = r.lists::<Value>(USER_ROLES, &urls, "inventory: user roles")?;
    r.spent_on("role assignees and user roles");
    let mut fresh: Vec<(&'static str, String)> = Vec::new();
    let RoleAssignments {
        users: mut kept_users,
        groups: mut kept_groups,
    } = kept;
    let mut all = RoleAssignments::default();
    for u in &assignees {
        if let Some(held) = kept_users.remove(u) {
            all.users.insert(u.clone(), held);
        }
    }
    for (user, roles) in users.iter().zip(&user_roles) {
        all.users
            .insert(user.clone(), roles.iter().map(Held::new).collect());
        fresh.push(("users", user.clone()));
    }

    let mut needed = all.via_groups();
    needed.extend(admin_groups.iter().cloned());
    let groups = roles::groups_to_read(&kept_groups, &needed, events);
    let urls: Vec<String> = groups
        .iter()
        .map(|g| format!("/api/v1/groups/{}/roles", enc(g)))
        .collect();
    let group_roles = r.lists::<Value>(GROUP_ROLES, &urls, "inventory: group roles")?;
    r.spent_on("group roles");
    for g in &needed {
        if let Some(held) = kept_groups.remove(g) {
            all.groups.insert(g.clone(), held);
        }
    }
    for (group, roles) in groups.iter().zip(group_roles) {
        all.groups
            .insert(group.clone(), roles.iter().map(Held::new).collect());
        fresh.push(("groups", group.clone()));
    }

    // Targets of the standard roles read that may be narrowed (a user's roles through
    // a group are the group's, read with it).
    let mut target_urls = Vec::new();
    let mut target_of = Vec::new();
    for (path, principal) in &fresh {
        let held = match *path {
            "users" => all.users.get(principal),
            _ => all.groups.get(principal),
        };
        for (i, h) in held.into_iter().flatten().enumerate() {
            let through_group = *path == "users" && assignee_group(&h.role).is_some();
            if !h.needs_targets() || through_group {
                continue;
            }
            let suffix = match scope_need(&h.role) {
                ScopeNeed::GroupTargets => "groups",
                _ => "catalog/apps",
            };
            let Some(rid) = id_of(&h.role) else { continue };
            target_urls.push(format!(
                "/api/v1/{path}/{}/roles/{}/targets/{suffix}?limit=200",
                enc(principal),
                enc(rid)
            ));
            target_of.push((*path, principal.clone(), i));
        }
    }
    let targets = r.lists::<Value>(ROLE_TARGETS, &target_urls, "inventory: role targets")?;
    r.spent_on("role targets");
    for ((path, principal, i), list) in target_of.into_iter().zip(targets) {
        let held = match path {
            "users" => all.users.get_mut(&principal),
            _ => all.groups.get_mut(&principal),
        };
        if let Some(h) = held.and_then(|h| h.get_mut(i)) {
            h.targets = Some(list.iter().filter_map(id_of).map(str::to_string).collect());
        }
    }

    // Custom roles' permissions, and resource sets with their resources.
    let custom = r
        .client
        .list_body(CUSTOM_ROLES, "/api/v1/iam/roles?limit=100", "roles")?;
    let mut permissions: BTreeMap<String, Vec<String>> = BTreeMap::new();
    // A custom role's label as the list has it now: a rename writes no event naming the
    // principals, so the label kept with an assignment may be stale.
    let mut labels: BTreeMap<String, Value> = BTreeMap::new();
    for role in &custom {
        let Some(id) = id_of(role) else { continue };
        if let Some(label) = role.get("label") {
            labels.insert(id.to_string(), label.clone());
        }
        let url = format!("/api/v1/iam/roles/{}/permissions", enc(id));
        let list = r.client.list_body(CUSTOM_ROLES, &url, "permissions")?;
        let labels = list
            .iter()
            .filter_map(|p| p.get("label").and_then(Value::as_str))
            .map(str::to_string)
            .collect();
        permissions.insert(id.to_string(), labels);
    }
    r.spent_on("custom roles");
    let sets = r.client.list_body(
        RESOURCE_SETS,
        "/api/v1/iam/resource-sets?limit=100",
        "resource-sets",
    )?;
    let mut nodes = vec![shaper.org_node()];
    for set in &sets {
        let Some(id) = id_of(set) else { continue };
        let url = format!("/api/v1/iam/resource-sets/{}/resources?limit=100", enc(id));
        let resources: Vec<String> = r
            .client
            .list_body(RESOURCE_SETS, &url, "resources")?
            .iter()
            .filter_map(|x| x.get("orn").and_then(Value::as_str))
            .map(str::to_string)
            .collect();
        nodes.extend(shaper.resource_set(set, &resources));
    }
    r.spent_on("resource sets");
    let mut roles = roles_graph(shaper, logins, &all, &permissions, &labels);
    nodes.append(&mut roles.nodes);
    roles.nodes = nodes;
    Ok((roles, all))
}

/// The role nodes, `holds_role` and `role_scope` edges and the admins of every
/// assignment in `all`, a custom role's permissions and label from `permissions` and
/// `labels` (custom role id → each). Pure.
fn roles_graph(
    shaper: &Shaper,
    logins: &BTreeMap<String, String>,
    all: &RoleAssignments,
    permissions: &BTreeMap<String, Vec<String>>,
    labels: &BTreeMap<String, Value>,
) -> Roles {
    let mut nodes = Vec::new();
    let mut edges = Vec::new();
    let mut admins = Vec::new();
    for (user, held) in &all.users {
        let mut kinds: Vec<String> = Vec::new();
        for h in held {
            if let Some(k) = h.role.get("type").and_then(Value::as_str) {
                if !kinds.iter().any(|x| x == k) {
                    kinds.push(k.to_string());
                }
            }
        }
        if !kinds.is_empty() {
            admins.push(Admin {
                user_id: user.clone(),
                login: logins.get(user).cloned().unwrap_or_else(|| user.clone()),
                roles: kinds,
                phishing_resistant: None,
            });
        }
    }
    let own = all.users.iter().flat_map(|(u, held)| {
        held.iter()
            .filter(|h| assignee_group(&h.role).is_none())
            .map(move |h| (u, h))
    });
    let of_groups = all
        .groups
        .iter()
        .flat_map(|(g, held)| held.iter().map(move |h| (g, h)));
    for (principal, h) in own.chain(of_groups) {
        let custom_id = h.role.get("role").and_then(Value::as_str);
        let perms = custom_id
            .and_then(|c| permissions.get(c))
            .map(Vec::as_slice);
        let relabelled = custom_id.and_then(|c| labels.get(c)).map(|label| {
            let mut role = h.role.clone();
            if let Some(fields) = role.as_object_mut() {
                fields.insert("label".into(), label.clone());
            }
            role
        });
        let Some(node) = shaper.role(relabelled.as_ref().unwrap_or(&h.role), perms) else {
            continue;
        };
        edges.push(build::holds_role(principal, &node.id));
        let scopes: Vec<String> = match scope_need(&h.role) {
            ScopeNeed::ResourceSet(set) => vec![set],
            ScopeNeed::Org => vec![shaper.org_url.clone()],
            ScopeNeed::GroupTargets | ScopeNeed::AppTargets => match &h.targets {
                Some(t) if !t.is_empty() => t.clone(),
                _ => vec![shaper.org_url.clone()],
            },
        };
        edges.extend(scopes.iter().map(|s| build::role_scope(&node.id, s)));
        nodes.push(node);
    }
    Roles {
        nodes,
        edges,
        admins,
    }
}

/// A run of the `inventory` job.
pub fn run(
    host: &mut Host<'_>,
    req: &kri_connector_sdk::types::RunRequest,
) -> Result<RunSummary, ConnectorError> {
    let cfg = Config::parse(&req.extra_config)?;
    let now = req.now_ms;
    let full_at = get_ms(&mut *host.state, FULL_AT);
    let cursor = get_ms(&mut *host.state, CURSOR);
    let interval = cfg.inventory_full_sync_hours as i64 * HOUR_MS;
    let incremental_from = match (full_at, cursor) {
        (Some(f), Some(c)) if interval > 0 && now - f < interval && c <= now => Some(c),
        _ => None,
    };
    let peer = peer_factors(&mut *host.state);
    // An incremental sync needs the users, app groups, their members and the org URL the
    // last one kept.
    let known = incremental_from.and_then(|_| {
        Some(Kept {
            users: known::load_users(&mut *host.state)?,
            app_groups: known::load_app_groups(&mut *host.state)?,
            group_members: known::load_app_group_members(&mut *host.state)?,
            org_url: known::load_org_url(&mut *host.state)?,
            // Without them, every principal's roles are read.
            roles: match roles::load(&mut *host.state) {
                Ok(kept) => kept.unwrap_or_default(),
                Err(e) => {
                    host.log.log(
                        Level::Warn,
                        &format!(
                            "inventory: the role assignments kept in state key `{}` cannot be decoded ({e}); every principal's roles are read again",
                            roles::ROLES
                        ),
                    );
                    RoleAssignments::default()
                }
            },
        })
    });
    let token_uses = read_token_uses(&mut *host.events, &mut *host.state)?;
    let mut reader = Reader {
        client: OktaClient::new(&mut *host.http),
        log: &mut *host.log,
        output: &mut *host.output,
        cfg: &cfg,
        spent: Vec::new(),
        counted: 0,
    };
    let mut sync = match (incremental_from, known) {
        (Some(since), Some(kept)) => incremental_sync(
            &mut reader,
            &peer,
            kept,
            Window {
                start_exclusive: since,
                end_inclusive: now,
            },
        )?,
        _ => full_sync(&mut reader, &peer)?,
    };
    sync.token_uses = token_uses.uses;
    read_roles_and_tokens(&mut reader, &mut sync)?;
    sync.cover_read_lists(if sync.tally.full {
        &edge_kind::ALL
    } else {
        // The lists read whole: the role and token edges.
        &[
            edge_kind::HOLDS_ROLE,
            edge_kind::ROLE_SCOPE,
            edge_kind::OWNS,
        ]
    });
    let (mut sync, kris) = finish(&mut reader, sync, now)?;
    let requests = reader.client.stats.requests;
    let items = reader.client.stats.items;
    let skipped = reader.client.stats.skipped;
    let spent = reader.spent_text();
    let (node_count, edge_count) = (sync.nodes.len(), sync.edges.len() + sync.edges_flushed);
    emit(host, &mut sync, kris)?;
    known::save_users(&mut *host.state, &sync.known)?;
    known::save_app_groups(&mut *host.state, &sync.app_groups)?;
    known::save_app_group_members(&mut *host.state, &sync.group_members)?;
    known::save_org_url(&mut *host.state, &sync.shaper.org_url)?;
    roles::save(&mut *host.state, &sync.roles)?;
    known::save_token_use(&mut *host.state, &sync.token_uses)?;
    if let Some(until) = token_uses.read_until {
        set_ms(&mut *host.state, TOKEN_USE_CURSOR, until)?;
    }
    if sync.tally.full {
        set_ms(&mut *host.state, FULL_AT, now)?;
    }
    set_ms(&mut *host.state, CURSOR, now)?;
    let t = &sync.tally;
    let mut note = format!(
        "{} sync with {requests} API requests: {} users, {} groups ({} member lists read), {} apps ({} assignment lists read), {} role assignments, {} API tokens; {} nodes, {} edges",
        if t.full { "full" } else { "incremental" },
        t.users,
        t.groups,
        t.groups_read,
        t.apps,
        t.apps_read,
        t.roles,
        t.tokens,
        node_count,
        edge_count
    );
    if !t.full {
        note.push_str(&format!(
            "; {} System Log events, {} objects retracted",
            t.events, t.retracted
        ));
    }
    note.push_str(&format!("; requests by stage: {}", spent));
    for gap in &sync.gaps {
        let msg = format!("{} left out: {}", gap.left_out, gap.denied.reason());
        host.log.log(Level::Warn, &msg);
        note.push_str(&format!("; {msg}"));
    }
    Ok(RunSummary {
        items_read: items,
        items_skipped: skipped,
        note,
    })
}

/// Reads the whole graph.
fn full_sync(
    r: &mut Reader<'_, '_>,
    peer: &BTreeMap<String, FactorSummary>,
) -> Result<Sync, ConnectorError> {
    let users = r.users().map_err(fatal)?;
    r.spent_on("users");
    let groups = r.groups().map_err(fatal)?;
    r.spent_on("groups");
    let apps = r.apps().map_err(fatal)?;
    r.spent_on("apps");
    let shaper = shaper_for(&[&users, &groups, &apps])?;
    let mut sync = Sync::new(shaper, peer);
    sync.tally.full = true;
    sync.add_users(users);
    sync.add_groups(&groups);
    sync.add_apps(&apps);
    let with_members: Vec<String> = groups
        .iter()
        .filter(|g| has_members(g))
        .filter_map(id_of)
        .map(str::to_string)
        .collect();
    let app_ids: Vec<String> = apps.iter().filter_map(id_of).map(str::to_string).collect();
    read_assignments(r, &mut sync, &app_ids)?;
    r.spent_on("app assignment lists");
    // The members of the groups assigned to apps are kept (the empty ones' too).
    let known_groups: BTreeSet<&str> = groups.iter().filter_map(id_of).collect();
    let kept: GroupMembers = sync
        .granting_groups(&known_groups)
        .into_iter()
        .map(|g| (g.clone(), BTreeSet::new()))
        .collect();
    sync.group_members = kept;
    r.info(&format!(
        "inventory: full sync; reading the members of {} of {} groups (the others are empty)",
        with_members.len(),
        groups.len()
    ));
    read_members(r, &mut sync, &with_members)?;
    r.spent_on("group members");
    Ok(sync)
}

fn shaper_for(lists: &[&[Value]]) -> Result<Shaper, ConnectorError> {
    let org_url = org_url(lists).ok_or_else(|| {
        ConnectorError::MalformedResponse(
            "no user, group or app of the org has a `_links.self.href`, so the org's base URL \
             (the `okta/org` label) is unknown"
                .into(),
        )
    })?;
    Ok(Shaper { org_url })
}

/// The members of `groups`, a round of `factor_batch_size` groups at a time, each
/// round's edges handed to the host before the next is read.
fn read_members(
    r: &mut Reader<'_, '_>,
    sync: &mut Sync,
    groups: &[String],
) -> Result<(), ConnectorError> {
    let size = r.cfg.factor_batch_size.max(1);
    let all = groups.len() as u64;
    for (i, round) in groups.chunks(size).enumerate() {
        let urls: Vec<String> = round
            .iter()
            .map(|g| format!("/api/v1/groups/{}/users?limit=1000", enc(g)))
            .collect();
        let of = ((i * size) as u64, all);
        let members = r
            .lists_of(GROUP_MEMBERS, &urls, "inventory: group members", of)
            .map_err(fatal)?;
        sync.add_members(round, members);
        sync.flush_edges(r.output)?;
    }
    Ok(())
}

/// The user and group assignments of `apps`, a round of `factor_batch_size` apps at a
/// time, each round's edges handed to the host before the next is read.
fn read_assignments(
    r: &mut Reader<'_, '_>,
    sync: &mut Sync,
    apps: &[String],
) -> Result<(), ConnectorError> {
    let size = r.cfg.factor_batch_size.max(1);
    let all = apps.len() as u64;
    for (i, round) in apps.chunks(size).enumerate() {
        let of = ((i * size) as u64, all);
        let user_urls: Vec<String> = round
            .iter()
            .map(|a| format!("/api/v1/apps/{}/users?limit=500", enc(a)))
            .collect();
        let group_urls: Vec<String> = round
            .iter()
            .map(|a| format!("/api/v1/apps/{}/groups?limit=200", enc(a)))
            .collect();
        let users = r
            .lists_of(APP_USERS, &user_urls, "inventory: app users", of)
            .map_err(fatal)?;
        let groups = r
            .lists_of(APP_GROUPS, &group_urls, "inventory: app groups", of)
            .map_err(fatal)?;
        sync.add_assignments(round, users, groups);
        sync.flush_edges(r.output)?;
    }
    Ok(())
}

/// Single app assignments, (app, user) each; `None` where Okta has none (a 404).
fn read_app_users(
    r: &mut Reader<'_, '_>,
    pairs: &[(String, String)],
) -> Result<Vec<Option<Listed>>, ConnectorError> {
    let urls: Vec<String> = pairs
        .iter()
        .map(|(app, user)| format!("/api/v1/apps/{}/users/{}", enc(app), enc(user)))
        .collect();
    let log = &mut *r.log;
    let got = r.client.get_objects_batched::<Listed>(
        APP_USER,
        &urls,
        r.cfg.factor_batch_size,
        &mut |d, t| log.progress("inventory: app assignments", d, Some(t)),
    )?;
    got.into_iter()
        .map(|found| match found {
            Ok(listed) => Ok(Some(listed)),
            Err(ApiError::NotFound { .. }) => Ok(None),
            Err(e) => Err(fatal(e)),
        })
        .collect()
}

/// Roles and tokens, read whole by both kinds of sync (a few requests); each may be
/// refused for lack of permission, which leaves it out of the graph.
fn read_roles_and_tokens(r: &mut Reader<'_, '_>, sync: &mut Sync) -> Result<(), ConnectorError> {
    match gap_or_fail(
        read_roles(
            r,
            &sync.shaper,
            &sync.logins,
            &sync.admin_groups,
            std::mem::take(&mut sync.roles),
            sync.role_events.as_ref(),
        ),
        "role assignments",
    )? {
        Ok((roles, all)) => {
            sync.roles = all;
            sync.tally.roles = roles
                .nodes
                .iter()
                .filter(|n| n.kind == node_kind::ADMIN_ROLE)
                .count();
            sync.nodes.extend(roles.nodes);
            sync.edges.extend(roles.edges);
            sync.admins = Some(roles.admins);
        }
        Err(gap) => {
            // Without roles the org node is still the graph's root.
            sync.nodes.push(sync.shaper.org_node());
            sync.roles_gap = Some(gap.clone());
            sync.gaps.push(gap);
        }
    }
    r.spent_on("roles");
    match gap_or_fail(
        r.list(
            API_TOKENS,
            "/api/v1/api-tokens?limit=200",
            "inventory: API tokens",
        ),
        "API tokens",
    )? {
        Ok(tokens) => {
            sync.tally.tokens = tokens.len();
            for t in &tokens {
                let last_used = id_of(t)
                    .and_then(|id| sync.token_uses.get(id))
                    .map(|ms| ms_to_iso(*ms));
                sync.nodes
                    .extend(sync.shaper.token(t, last_used.as_deref()));
                sync.edges.extend(build::owns(t));
            }
            sync.tokens = Some(tokens);
        }
        Err(gap) => sync.gaps.push(gap),
    }
    r.spent_on("API tokens");
    Ok(())
}

/// What an incremental sync takes from the state the last sync left.
struct Kept {
    users: BTreeMap<String, KnownUser>,
    app_groups: BTreeMap<String, Vec<String>>,
    group_members: GroupMembers,
    org_url: String,
    roles: RoleAssignments,
}

/// The API tokens' last use, and how far the stored stream was read for it.
struct TokenUses {
    uses: BTreeMap<String, i64>,
    /// Where the next run starts reading; `None` when the stream has no coverage.
    read_until: Option<i64>,
}

/// Only the part of a stored event that names the API token behind its request.
#[derive(Deserialize)]
struct MadeWith {
    transaction: Option<MadeWithTransaction>,
}

#[derive(Deserialize)]
struct MadeWithTransaction {
    detail: Option<MadeWithDetail>,
}

#[derive(Deserialize)]
struct MadeWithDetail {
    #[serde(rename = "requestApiTokenId")]
    request_api_token_id: Option<String>,
}

/// The uses kept so far, updated with the stored stream's events since the last run
/// (`transaction.detail.requestApiTokenId`); read locally, no API request.
fn read_token_uses(
    events: &mut dyn StoredEvents,
    state: &mut dyn StateStore,
) -> Result<TokenUses, ConnectorError> {
    let mut uses = known::load_token_use(state);
    let Some(coverage) = events.coverage() else {
        return Ok(TokenUses {
            uses,
            read_until: None,
        });
    };
    let after = get_ms(state, TOKEN_USE_CURSOR)
        .unwrap_or(coverage.after_ms)
        .max(coverage.after_ms);
    let mut cursor = None;
    let mut more = after < coverage.until_ms;
    while more {
        let page = events
            .read_events(&EventQuery {
                after_ms: after,
                until_ms: coverage.until_ms,
                cursor: cursor.take(),
                limit: STREAM_PAGE,
            })
            .map_err(|e| ConnectorError::HostLimit(format!("reading stored events failed: {e}")))?;
        for e in &page.events {
            let token = serde_json::from_str::<MadeWith>(&e.raw)
                .ok()
                .and_then(|m| m.transaction?.detail?.request_api_token_id);
            if let Some(token) = token {
                let last = uses.entry(token).or_insert(e.time_ms);
                *last = (*last).max(e.time_ms);
            }
        }
        more = !page.events.is_empty() && page.next_cursor.is_some();
        cursor = page.next_cursor;
    }
    Ok(TokenUses {
        uses,
        read_until: Some(coverage.until_ms.max(after)),
    })
}

/// Re-reads what the System Log says changed in `window`.
fn incremental_sync(
    r: &mut Reader<'_, '_>,
    peer: &BTreeMap<String, FactorSummary>,
    kept: Kept,
    window: Window,
) -> Result<Sync, ConnectorError> {
    let Kept {
        users: known,
        app_groups,
        group_members,
        org_url: kept_org_url,
        roles: kept_roles,
    } = kept;
    let filter = event_type_filter(&changes::EVENT_TYPES);
    let log = &mut *r.log;
    let events = r
        .client
        .list_all::<LogEvent>(
            LOGS,
            &log_url(
                Window {
                    start_exclusive: window.start_exclusive - OVERLAP_MS,
                    ..window
                },
                Some(&filter),
            ),
            crate::api::ListOptions {
                max_items: None,
                stop_on_empty_page: true,
            },
            &mut |n| log.progress("inventory: System Log", n, None),
        )
        .map_err(fatal)?
        .items;
    r.spent_on("System Log");
    let changes: Changes = changes::changes(&events);
    let changed = r
        .changed_users(window.start_exclusive - OVERLAP_MS)
        .map_err(fatal)?;
    r.spent_on("users");
    let groups = r.groups().map_err(fatal)?;
    r.spent_on("groups");
    let apps = r.apps().map_err(fatal)?;
    r.spent_on("apps");
    let shaper = Shaper {
        org_url: org_url(&[&changed, &groups, &apps]).unwrap_or(kept_org_url),
    };
    let mut sync = Sync::new(shaper, peer);
    sync.tally.events = changes.events;
    sync.roles = kept_roles;
    // A role granted to or revoked from a group changes the roles of all its members,
    // the admins among them (who hold other roles, so appear in the state) included:
    // its member list names the users to read again.
    let known_groups: BTreeSet<&str> = groups.iter().filter_map(id_of).collect();
    let granted_groups: Vec<String> = changes
        .privilege_groups
        .iter()
        .filter(|g| !changes.all_roles && known_groups.contains(g.as_str()))
        .filter(|g| !changes.deleted.contains(*g))
        .cloned()
        .collect();
    let urls: Vec<String> = granted_groups
        .iter()
        .map(|g| format!("/api/v1/groups/{}/users?limit=1000", enc(g)))
        .collect();
    let granted_members: Vec<Vec<Listed>> = r
        .lists(
            GROUP_MEMBERS,
            &urls,
            "inventory: members of groups granted roles",
        )
        .map_err(fatal)?;
    r.spent_on("members of groups granted roles");
    let mut role_users = changes.privilege_users.clone();
    role_users.extend(
        granted_members
            .iter()
            .flatten()
            .filter_map(|u| u.id.clone()),
    );
    // An event that leaves unknown whose roles changed reads every principal's roles,
    // as a full sync does.
    sync.role_events = (!changes.all_roles).then(|| RoleEvents {
        users: role_users,
        groups: changes
            .privilege_groups
            .iter()
            .chain(&changes.deleted)
            .cloned()
            .collect(),
        memberships: changes
            .member_adds
            .iter()
            .chain(&changes.member_removes)
            .cloned()
            .collect(),
    });
    let mut changed_ids: BTreeSet<String> = changed
        .iter()
        .filter_map(id_of)
        .map(str::to_string)
        .collect();
    // The users as kept (moved out of `known`, which keeps their MFA for the nodes),
    // updated with those that changed, less the deleted.
    let mut known = known;
    let mut users: BTreeMap<String, Value> = known
        .iter_mut()
        .map(|(id, k)| (id.clone(), std::mem::take(&mut k.user)))
        .collect();
    // Trimmed as they were read (`known::ListedUser`).
    for u in changed {
        if let Some(id) = id_of(&u).map(str::to_string) {
            users.insert(id, u);
        }
    }
    // A sign-in moves `lastLogin` but not `lastUpdated`: the sign-ins of the window
    // bring the kept users' `lastLogin` up to date.
    for (id, at) in &changes.sign_ins {
        let Some(u) = users.get_mut(id) else { continue };
        // Okta's objects carry whole seconds (`.000Z`); the System Log, milliseconds.
        let at = &(at - at.rem_euclid(1000));
        let newer = u
            .get("lastLogin")
            .and_then(Value::as_str)
            .and_then(iso_to_ms)
            .is_none_or(|t| t < *at);
        if newer {
            u["lastLogin"] = json!(ms_to_iso(*at));
            changed_ids.insert(id.clone());
        }
    }
    for gone in &changes.deleted {
        users.remove(gone);
    }
    // Factors are read again only for the admins whose factors the log names, and for
    // every admin after an org-wide `system.mfa.factor.deactivate`. Checked against the
    // real System Log samples in ../shared/okta-fixtures (`user.mfa.factor.deactivate`,
    // `.reset_all`, `.suspend`, `system.mfa.factor.deactivate`) and Okta Workflows'
    // event cards (`.unsuspend`); `.update` is named by Panther's Okta data model and
    // its support-reset rule, unseen in a sample. okta-sim writes `.activate`,
    // `.deactivate` and `.reset_all` for every change it makes. A user's `lastUpdated`
    // also moves for changes that leave the factors alone, so it is no trigger.
    sync.refresh_factors = changes.factor_users.clone();
    sync.refresh_all_factors = changes.all_factors;
    sync.add_users(users.into_values().collect());
    sync.changed_users = Some(changed_ids);
    sync.known = known;
    sync.add_groups(&groups);
    sync.add_apps(&apps);
    sync.retracted = changes.deleted.iter().cloned().collect();
    sync.tally.retracted = sync.retracted.len();

    // New users join `Everyone`, which has no membership events of its own.
    let everyone: Vec<&str> = groups
        .iter()
        .filter(|g| g.get("type").and_then(Value::as_str) == Some("BUILT_IN"))
        .filter(|g| g.pointer("/profile/name").and_then(Value::as_str) == Some(EVERYONE))
        .filter_map(id_of)
        .collect();
    for user in changes
        .created_users
        .iter()
        .filter(|u| sync.logins.contains_key(*u))
    {
        sync.edges
            .extend(everyone.iter().map(|g| build::member_of(user, g)));
    }

    // Memberships come from the events alone: the last event about a (user, group)
    // emits its `member_of` edge or retracts it.
    for ((user, group), member) in &changes.memberships {
        if *member {
            if known_groups.contains(group.as_str()) {
                sync.edges.push(build::member_of(user, group));
            }
        } else {
            sync.retracted_edges.push(Retraction {
                from: user.clone(),
                to: group.clone(),
                kind: edge_kind::MEMBER_OF,
            });
        }
    }
    // The kept members are checked against the member counts the groups list gives
    // (`_embedded.stats.usersCount`, read after the System Log): a group whose kept
    // members, brought to the window's end, do not add up saw a membership change the
    // System Log did not show (or not yet). Its kept members are dropped, so the
    // assignments they would settle are read, and its member list is read again below.
    let users_count: BTreeMap<&str, u64> = groups
        .iter()
        .filter_map(|g| {
            let count = g.pointer("/_embedded/stats/usersCount")?.as_u64()?;
            Some((id_of(g)?, count))
        })
        .collect();
    let mut group_members = group_members;
    let mut members_at_end = group_members.clone();
    changes.apply_to(&mut members_at_end, &everyone);
    let stale = changes::miscounted(&members_at_end, &users_count);
    for g in &stale {
        group_members.remove(g);
        members_at_end.remove(g);
    }
    // App assignments come from the events: the window's last event about an (app,
    // user) pair retracts its edge (a removal) or emits it (an addition) with the
    // assignment's id (the event's `AppUser` target) and its `scope`, told by the groups
    // assigned the app and their members as the last sync kept them, brought forward
    // by the window's membership events (`Changes::scope_of_added`,
    // `Changes::removed_is_gone`). What they cannot tell is read alone: an addition
    // while the user was in a granting group since before the window (an individual
    // assignment of an app a group gives, or a group's assignment logged late), or
    // before they join one in the window, or after another addition; a removal while a
    // granting group still gives the app (Okta then keeps the app user with scope
    // `GROUP`); whatever a granting group whose members are not kept would settle; an
    // addition to an app groups are assigned whose event has no time; and an addition
    // whose event names no assignment. A membership change alone changes no
    // assignment's scope: Okta logs an addition or removal whenever a group gives or
    // takes an app. Apps whose group assignments changed have both lists re-read.
    let known_apps: BTreeSet<&str> = apps.iter().filter_map(id_of).collect();
    sync.app_groups = app_groups;
    sync.app_groups
        .retain(|app, _| known_apps.contains(app.as_str()));
    // A deleted group's app assignments went with it.
    for granting in sync.app_groups.values_mut() {
        granting.retain(|g| known_groups.contains(g.as_str()));
    }
    let dirty_apps: BTreeSet<String> = changes
        .apps
        .iter()
        .filter(|a| known_apps.contains(a.as_str()))
        .cloned()
        .collect();
    let in_scope = |app: &str| known_apps.contains(app) && !dirty_apps.contains(app);
    let no_groups = Vec::new();
    let granting_of = |app: &str| sync.app_groups.get(app).unwrap_or(&no_groups);
    let mut to_read: Vec<(String, String)> = Vec::new();
    for (app, user) in &changes.app_users_removed {
        if !in_scope(app) {
            continue;
        }
        if changes.removed_is_gone(user, granting_of(app), &group_members, &everyone) {
            sync.retracted_edges.push(Retraction {
                from: user.clone(),
                to: app.clone(),
                kind: edge_kind::ASSIGNED_TO,
            });
        } else {
            to_read.push((app.clone(), user.clone()));
        }
    }
    for ((app, user), event) in &changes.app_users_added {
        if !in_scope(app) {
            continue;
        }
        let scope =
            changes.scope_of_added(user, event, granting_of(app), &group_members, &everyone);
        let (Some(assignment), Some(scope)) = (&event.assignment_id, scope) else {
            to_read.push((app.clone(), user.clone()));
            continue;
        };
        let entry =
            json!({"id": user, "scope": scope, "_embedded": {"assignment": {"id": assignment}}});
        sync.edges.extend(build::app_user(app, &entry));
    }
    let single = read_app_users(r, &to_read)?;
    r.spent_on("single app assignments");
    for ((app, user), found) in to_read.iter().zip(single) {
        match found {
            Some(listed) => sync.edges.extend(build::app_user(app, &listed.to_value())),
            None => sync.retracted_edges.push(Retraction {
                from: user.clone(),
                to: app.clone(),
                kind: edge_kind::ASSIGNED_TO,
            }),
        }
    }
    let dirty_apps: Vec<String> = dirty_apps.into_iter().collect();
    r.info(&format!(
        "inventory: incremental sync over {} System Log events; {} memberships and {} app assignments from the events, {} app assignments read one by one, {} apps' assignment lists re-read",
        changes.events,
        changes.memberships.len(),
        changes.app_users.len(),
        to_read.len(),
        dirty_apps.len()
    ));
    read_assignments(r, &mut sync, &dirty_apps)?;
    r.spent_on("app assignment lists");
    for a in &dirty_apps {
        sync.cover_edges_to(a, edge_kind::ASSIGNED_TO);
    }
    // The kept members, at the window's end, of the groups assigned apps now; a group
    // newly assigned one, or whose kept members did not add up, has its list read.
    let granting = sync.granting_groups(&known_groups);
    members_at_end.retain(|g, _| granting.contains(g));
    let unkept: Vec<String> = granting
        .into_iter()
        .filter(|g| !members_at_end.contains_key(*g))
        .cloned()
        .collect();
    if !stale.is_empty() {
        r.info(&format!(
            "inventory: the kept members of {} groups do not add up to the groups' member counts (a membership change the System Log did not show); their member lists are read again: {}",
            stale.len(),
            stale.join(", ")
        ));
    }
    members_at_end.extend(unkept.iter().map(|g| (g.clone(), BTreeSet::new())));
    sync.group_members = members_at_end;
    read_members(r, &mut sync, &unkept)?;
    r.spent_on("members of app groups not kept");
    Ok(sync)
}

/// Completes the admins' MFA (reading the factors of those the `kris` job's state does
/// not cover) and computes the four KRIs.
fn finish(
    r: &mut Reader<'_, '_>,
    mut sync: Sync,
    now: i64,
) -> Result<(Sync, Vec<KriValue>), ConnectorError> {
    let mut kris = Vec::new();
    if let Some(admins) = sync.admins.take() {
        let mut admins = admins;
        for a in &mut admins {
            let id = &a.user_id;
            // The factors last read, unless the user may have changed since.
            let cached = (!sync.tally.full
                && !sync.refresh_all_factors
                && !sync.refresh_factors.contains(id))
            .then(|| sync.known.get(id).and_then(|k| k.factors.clone()))
            .flatten();
            if let (None, Some(f)) = (sync.mfa.get(id), cached) {
                sync.mfa.insert(id.clone(), f);
            }
            a.phishing_resistant = sync.mfa.get(id).map(|m| m.phishing_resistant);
        }
        let missing: Vec<String> = admins
            .iter()
            .filter(|a| a.phishing_resistant.is_none())
            .map(|a| a.user_id.clone())
            .collect();
        if !missing.is_empty() {
            let urls: Vec<String> = missing
                .iter()
                .map(|u| format!("/api/v1/users/{}/factors", enc(u)))
                .collect();
            let log = &mut *r.log;
            let got = r.client.get_lists_batched::<Factor>(
                FACTORS,
                &urls,
                r.cfg.factor_batch_size,
                false,
                &mut |d, t| log.progress("inventory: admins' factors", d, Some(t)),
            )?;
            for (user, factors) in missing.iter().zip(got) {
                let summary = match factors {
                    Ok(f) => summary_from_factors(&f),
                    Err(ApiError::Forbidden(_)) | Err(ApiError::NotFound { .. }) => continue,
                    Err(e) => return Err(fatal(e)),
                };
                if let Some(a) = admins.iter_mut().find(|a| &a.user_id == user) {
                    a.phishing_resistant = Some(summary.phishing_resistant);
                }
                sync.mfa.insert(user.clone(), summary);
            }
            r.spent_on("admins' factors");
        }
        kris.push(admins_without_phishing_resistant_mfa(&admins));
        kris.push(super_admin_count(&admins));
        if let Some(tokens) = &sync.tokens {
            kris.push(api_tokens_at_risk(
                &token_facts(tokens, &sync.users, &admins),
                now,
            ));
        }
        sync.admins = Some(admins);
    }
    if let Some(gap) = &sync.roles_gap {
        let details = json!({
            "endpoint": gap.denied.endpoint,
            "missing_permission": gap.denied.permission,
            "status": gap.denied.status,
            "error_code": gap.denied.error_code,
        });
        for k in GraphKri::ALL.into_iter().filter(|k| k.needs_roles()) {
            kris.push(k.not_evaluated(&gap.denied.reason(), details.clone()));
        }
    } else if sync.tokens.is_none() {
        if let Some(gap) = sync.gaps.iter().find(|g| g.left_out == "API tokens") {
            kris.push(GraphKri::ApiTokensAtRisk.not_evaluated(
                &gap.denied.reason(),
                json!({"missing_permission": gap.denied.permission}),
            ));
        }
    }
    kris.push(inactive_users_90d(&user_facts(&sync.users), now));
    sync.add_user_nodes();
    Ok((sync, kris))
}

fn ms(v: &Value, key: &str) -> Option<i64> {
    v.get(key).and_then(Value::as_str).and_then(iso_to_ms)
}

fn user_facts(users: &[Value]) -> Vec<UserFacts> {
    users
        .iter()
        .map(|u| UserFacts {
            id: id_of(u).unwrap_or_default().to_string(),
            login: u
                .pointer("/profile/login")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            status: u
                .get("status")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            last_login_ms: ms(u, "lastLogin"),
            activated_ms: ms(u, "activated"),
            created_ms: ms(u, "created"),
        })
        .collect()
}

fn token_facts(tokens: &[Value], users: &[Value], admins: &[Admin]) -> Vec<TokenFacts> {
    let status: BTreeMap<&str, &str> = users
        .iter()
        .filter_map(|u| Some((id_of(u)?, u.get("status")?.as_str()?)))
        .collect();
    tokens
        .iter()
        .map(|t| {
            let owner = t.get("userId").and_then(Value::as_str).unwrap_or_default();
            TokenFacts {
                id: id_of(t).unwrap_or_default().to_string(),
                name: t
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                network: t
                    .pointer("/network/connection")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                owner_status: status.get(owner).map(|s| s.to_string()),
                owner_roles: admins
                    .iter()
                    .find(|a| a.user_id == owner)
                    .map(|a| a.roles.clone())
                    .unwrap_or_default(),
                created_ms: ms(t, "created"),
            }
        })
        .collect()
}

/// Emits the rest of the graph in batches (moving it out of `sync`; the member and
/// assignment edges went out as they were read), then its retractions and coverage,
/// then the KRIs.
fn emit(host: &mut Host<'_>, sync: &mut Sync, kris: Vec<KriValue>) -> Result<(), ConnectorError> {
    let nodes = std::mem::take(&mut sync.nodes);
    let edges = std::mem::take(&mut sync.edges);
    let total = (nodes.len() + edges.len()) as u64;
    let outputs = nodes
        .into_iter()
        .map(Output::Node)
        .chain(edges.into_iter().map(Output::Edge));
    let mut done = 0;
    let mut rest = outputs.peekable();
    while rest.peek().is_some() {
        let batch: Vec<Output> = rest.by_ref().take(EMIT_BATCH).collect();
        done += batch.len() as u64;
        host.output
            .emit(batch)
            .map_err(|e| ConnectorError::HostLimit(format!("emitting the graph failed: {e}")))?;
        host.log.progress("inventory: emitting", done, Some(total));
    }
    for id in &sync.retracted {
        host.output
            .retract_node(id)
            .map_err(|e| ConnectorError::HostLimit(format!("retracting node {id} failed: {e}")))?;
    }
    for e in &sync.retracted_edges {
        host.output
            .retract_edge(&e.from, &e.to, e.kind)
            .map_err(|err| {
                ConnectorError::HostLimit(format!(
                    "retracting edge {} -[{}]-> {} failed: {err}",
                    e.from, e.kind, e.to
                ))
            })?;
    }
    host.output
        .complete_graph(sync.coverage.clone())
        .map_err(|e| ConnectorError::HostLimit(format!("completing the graph failed: {e}")))?;
    host.output
        .emit(kris.into_iter().map(Output::Kri).collect())
        .map_err(|e| ConnectorError::HostLimit(format!("emitting the KRIs failed: {e}")))?;
    Ok(())
}
