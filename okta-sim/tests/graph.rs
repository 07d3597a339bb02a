//! The identity graph: generation (every kind of group, role, scope and token network,
//! deterministic), the endpoints' shapes and paging (Link header, or `_links.next` in the
//! body for the IAM ones), 403 on the role endpoints, the ground truth against what the
//! HTTP endpoints serve, and `advance` producing both each change and its event.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{get, walk, NOW_MS};
use okta_sim::{
    Family, FaultConfig, GraphTruth, Org, OrgSpec, RateLimitConfig, SimConfig, SimServer,
};
use serde_json::Value;

const TOKEN: &str = "sim-token";
const DAY: i64 = 86_400_000;

fn org(seed: u64, users: usize) -> Org {
    Org::generate(&OrgSpec {
        seed,
        users,
        now_ms: NOW_MS,
    })
}

/// A server without rate limits: the crawls here make hundreds of requests.
async fn start(org: Org) -> SimServer {
    let config = SimConfig {
        rate_limits: RateLimitConfig {
            enabled: false,
            ..RateLimitConfig::default()
        },
        ..SimConfig::default()
    };
    SimServer::start(org, config, 0)
        .await
        .expect("server starts")
}

/// Every item of a Link-header-paged list.
async fn items(url: &str) -> Vec<Value> {
    walk(url, TOKEN, 10_000)
        .await
        .iter()
        .flat_map(|p| p.json().as_array().cloned().unwrap_or_default())
        .collect()
}

/// Every item of a body-paged IAM list (`{"<key>": [...], "_links": {"next"}}`).
async fn iam_items(url: &str, key: &str) -> (Vec<Value>, usize) {
    let mut out = Vec::new();
    let mut pages = 0;
    let mut next = Some(url.to_string());
    while let Some(u) = next {
        let page = get(&u, Some(TOKEN)).await;
        assert_eq!(page.status, 200, "GET {u}");
        assert!(page.link("next").is_none(), "IAM pages in the body: {u}");
        let body = page.json();
        out.extend(body[key].as_array().cloned().unwrap_or_default());
        next = body["_links"]["next"]["href"].as_str().map(str::to_string);
        pages += 1;
    }
    (out, pages)
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

fn has_keys(v: &Value, wanted: &[&str]) {
    let have = keys(v);
    for k in wanted {
        assert!(have.contains(*k), "missing {k} in {v}");
    }
}

#[test]
fn generation_covers_every_kind_and_is_deterministic() {
    for seed in [3, 17, 29] {
        let a = org(seed, 600);
        let b = org(seed, 600);
        assert_eq!(a.graph_truth(NOW_MS), b.graph_truth(NOW_MS), "seed {seed}");
        assert_eq!(
            a.snapshot_json("http://x"),
            b.snapshot_json("http://x"),
            "seed {seed}"
        );
        let kinds: BTreeSet<String> = a.groups.iter().map(|g| format!("{:?}", g.kind)).collect();
        assert_eq!(kinds.len(), 3, "seed {seed}: {kinds:?}");
        let everyone = &a.groups[0];
        assert_eq!(everyone.name, "Everyone");
        assert_eq!(everyone.members.len(), a.users.len());
        assert!(a.groups.iter().any(|g| g.members.is_empty()), "seed {seed}");
        assert!(!a.group_apps.is_empty(), "seed {seed}");
        let truth = a.graph_truth(NOW_MS);
        assert!(truth.users.iter().any(|u| !u.apps_via_group.is_empty()));
        assert!(truth.users.iter().any(|u| !u.apps_direct.is_empty()));
        assert!(truth.admins.iter().any(|x| x.via_group.is_some()));
        assert!(truth
            .admins
            .iter()
            .any(|x| x.role_type == "CUSTOM" && x.scope.kind == "RESOURCE_SET"));
        assert!(truth.tokens.iter().any(|t| t.owner_status != "ACTIVE"));
        assert!(truth.super_admin_count >= 1);
        // Roles go to small groups, not to whole teams.
        for grant in &a.role_grants {
            if let okta_sim::graph::Principal::Group(g) = grant.principal {
                let n = a.groups[g as usize].members.len();
                assert!((1..=20).contains(&n), "seed {seed}: {n} members");
            }
        }
        // The invariant: a member of a group assigned an app has a link to it.
        for ga in &a.group_apps {
            for &u in &a.groups[ga.group as usize].members {
                assert!(a.users[u as usize]
                    .app_links
                    .iter()
                    .any(|l| l.app == ga.app));
            }
        }
    }
    // Other seeds draw other graphs.
    assert_ne!(
        org(3, 600).graph_truth(NOW_MS),
        org(4, 600).graph_truth(NOW_MS)
    );
}

#[test]
fn kris_follow_their_definitions() {
    let o = org(5, 800);
    let t = o.graph_truth(NOW_MS);
    let at_risk = t.tokens.iter().filter(|x| !x.risks.is_empty()).count() as u64;
    assert_eq!(t.api_tokens_at_risk, at_risk);
    for token in &t.tokens {
        assert_eq!(
            token.risks.contains(&"older_than_90d"),
            token.age_days > 90 || (NOW_MS - token.created_ms) > 90 * DAY
        );
        assert_eq!(
            token.risks.contains(&"owner_not_active"),
            token.owner_status != "ACTIVE"
        );
        assert_eq!(
            token.risks.contains(&"network_anywhere"),
            token.network == "ANYWHERE"
        );
    }
    let holders: BTreeSet<&str> = t.admins.iter().map(|a| a.user_id.as_str()).collect();
    let without: usize = holders
        .iter()
        .filter(|id| o.user(id).is_some_and(|u| !u.has_phish_resistant()))
        .count();
    assert_eq!(t.admins_without_phishing_resistant_mfa, without as u64);
    let supers: BTreeSet<&str> = t
        .admins
        .iter()
        .filter(|a| a.role_type == "SUPER_ADMIN")
        .map(|a| a.user_id.as_str())
        .collect();
    assert_eq!(t.super_admin_count, supers.len() as u64);
    // 90 days on, nobody has signed in since: every ACTIVE user is inactive.
    let later = o.graph_truth(NOW_MS + 91 * DAY);
    let active = o
        .users
        .iter()
        .filter(|u| u.status == okta_sim::UserStatus::Active)
        .count() as u64;
    assert_eq!(later.inactive_users_90d, active);
    assert!(t.inactive_users_90d < active);
    let slugs: Vec<&str> = t.by_slug().iter().map(|(s, _)| *s).collect();
    assert_eq!(
        slugs,
        [
            "okta_admins_without_phishing_resistant_mfa",
            "okta_super_admin_count",
            "okta_api_tokens_at_risk",
            "okta_inactive_users_90d"
        ]
    );
}

/// What the HTTP endpoints say, gathered the way an inventory job would.
#[derive(Debug, Default)]
struct Crawled {
    /// user id -> group ids.
    groups_of: BTreeMap<String, BTreeSet<String>>,
    /// user id -> app ids with scope USER.
    direct: BTreeMap<String, BTreeSet<String>>,
    /// user id -> app ids with scope GROUP.
    via_group: BTreeMap<String, BTreeSet<String>>,
    /// (user id, assignment id, type, assignmentType).
    roles: BTreeSet<(String, String, String, String)>,
    /// token id -> (owner, network connection).
    tokens: BTreeMap<String, (String, String)>,
}

async fn crawl(base: &str) -> Crawled {
    let mut c = Crawled::default();
    let groups = items(&format!("{base}/api/v1/groups?expand=stats&limit=5")).await;
    for g in &groups {
        let count = g["_embedded"]["stats"]["usersCount"]
            .as_u64()
            .expect("usersCount");
        if count == 0 {
            continue;
        }
        let id = g["id"].as_str().expect("group id");
        let members = items(&format!("{base}/api/v1/groups/{id}/users?limit=200")).await;
        assert_eq!(members.len() as u64, count, "group {id}");
        for m in members {
            let user = m["id"].as_str().expect("user id").to_string();
            c.groups_of.entry(user).or_default().insert(id.to_string());
        }
    }
    for app in items(&format!("{base}/api/v1/apps")).await {
        let id = app["id"].as_str().expect("app id");
        for u in items(&format!("{base}/api/v1/apps/{id}/users?limit=100")).await {
            let user = u["id"].as_str().expect("user id").to_string();
            let map = match u["scope"].as_str() {
                Some("USER") => &mut c.direct,
                Some("GROUP") => &mut c.via_group,
                other => panic!("scope {other:?}"),
            };
            map.entry(user).or_default().insert(id.to_string());
        }
    }
    let (assignees, _) = iam_items(
        &format!("{base}/api/v1/iam/assignees/users?limit=3"),
        "value",
    )
    .await;
    for a in assignees {
        let user = a["id"].as_str().expect("assignee id");
        let roles = get(&format!("{base}/api/v1/users/{user}/roles"), Some(TOKEN)).await;
        assert_eq!(roles.status, 200);
        for r in roles.json().as_array().cloned().unwrap_or_default() {
            c.roles.insert((
                user.to_string(),
                r["id"].as_str().unwrap_or_default().to_string(),
                r["type"].as_str().unwrap_or_default().to_string(),
                r["assignmentType"].as_str().unwrap_or_default().to_string(),
            ));
        }
    }
    let tokens = get(&format!("{base}/api/v1/api-tokens"), Some(TOKEN)).await;
    assert_eq!(tokens.status, 200);
    for t in tokens.json().as_array().cloned().unwrap_or_default() {
        c.tokens.insert(
            t["id"].as_str().unwrap_or_default().to_string(),
            (
                t["userId"].as_str().unwrap_or_default().to_string(),
                t["network"]["connection"]
                    .as_str()
                    .unwrap_or("NONE")
                    .to_string(),
            ),
        );
    }
    c
}

/// The truth in the crawled form.
fn expected(truth: &GraphTruth) -> Crawled {
    let mut c = Crawled::default();
    for u in &truth.users {
        if !u.groups.is_empty() {
            c.groups_of
                .insert(u.user_id.clone(), u.groups.iter().cloned().collect());
        }
        if !u.apps_direct.is_empty() {
            c.direct
                .insert(u.user_id.clone(), u.apps_direct.iter().cloned().collect());
        }
        // An app assigned individually has scope USER even when a group also gives it.
        let via: BTreeSet<String> = u
            .apps_via_group
            .iter()
            .map(|(a, _)| a.clone())
            .filter(|a| !u.apps_direct.contains(a))
            .collect();
        if !via.is_empty() {
            c.via_group.insert(u.user_id.clone(), via);
        }
    }
    for a in &truth.admins {
        c.roles.insert((
            a.user_id.clone(),
            a.assignment_id.clone(),
            a.role_type.to_string(),
            if a.via_group.is_some() {
                "GROUP"
            } else {
                "USER"
            }
            .to_string(),
        ));
    }
    for t in &truth.tokens {
        c.tokens
            .insert(t.id.clone(), (t.owner_id.clone(), t.network.to_string()));
    }
    c
}

fn assert_same(got: &Crawled, want: &Crawled, context: &str) {
    assert_eq!(got.groups_of, want.groups_of, "{context}: groups");
    assert_eq!(got.direct, want.direct, "{context}: direct apps");
    assert_eq!(
        got.via_group, want.via_group,
        "{context}: apps through groups"
    );
    assert_eq!(got.roles, want.roles, "{context}: roles");
    assert_eq!(got.tokens, want.tokens, "{context}: tokens");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truth_matches_what_the_endpoints_serve_on_several_seeds() {
    for seed in [2, 11] {
        let server = start(org(seed, 300)).await;
        let base = server.base_url();
        let truth = {
            let o = server.org();
            let o = o.read().expect("lock");
            o.graph_truth(NOW_MS)
        };
        assert_same(
            &crawl(&base).await,
            &expected(&truth),
            &format!("seed {seed}"),
        );
        server.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shapes_follow_the_fixtures() {
    let server = start(org(7, 400)).await;
    let base = server.base_url();
    let (o, truth) = {
        let o = server.org();
        let o = o.read().expect("lock");
        (o.clone(), o.graph_truth(NOW_MS))
    };

    // Groups with stats, and the type filter.
    let groups = get(&format!("{base}/api/v1/groups?expand=stats"), Some(TOKEN))
        .await
        .json();
    let first = &groups[0];
    has_keys(
        first,
        &[
            "id",
            "created",
            "lastUpdated",
            "lastMembershipUpdated",
            "objectClass",
            "type",
            "profile",
            "_links",
            "_embedded",
        ],
    );
    assert_eq!(first["type"], "BUILT_IN");
    assert_eq!(
        first["_embedded"]["stats"]["usersCount"].as_u64(),
        Some(o.users.len() as u64)
    );
    let plain = get(&format!("{base}/api/v1/groups"), Some(TOKEN))
        .await
        .json();
    assert!(plain[0].get("_embedded").is_none());
    let okta_only = items(&format!(
        "{base}/api/v1/groups?filter=type%20eq%20%22OKTA_GROUP%22"
    ))
    .await;
    assert!(!okta_only.is_empty());
    assert!(okta_only.iter().all(|g| g["type"] == "OKTA_GROUP"));
    let since = NOW_MS - 10 * DAY;
    let changed = items(&format!(
        "{base}/api/v1/groups?search=lastMembershipUpdated%20gt%20%22{}%22",
        okta_sim::time::format_ms(since)
    ))
    .await;
    let expected = o
        .groups
        .iter()
        .filter(|g| g.last_membership_updated_ms > since)
        .count();
    assert_eq!(changed.len(), expected);
    assert!(expected > 0 && expected < o.groups.len());
    let bad = get(
        &format!("{base}/api/v1/groups?filter=nonsense"),
        Some(TOKEN),
    )
    .await;
    assert_eq!(bad.status, 400);

    // App users carry `scope`; app groups their priority.
    let via = truth
        .users
        .iter()
        .find(|u| !u.apps_via_group.is_empty())
        .expect("a user reaching an app through a group");
    let (app, group) = &via.apps_via_group[0];
    let app_users = items(&format!("{base}/api/v1/apps/{app}/users")).await;
    let entry = app_users
        .iter()
        .find(|u| u["id"] == via.user_id.as_str())
        .expect("the user is an app user");
    has_keys(
        entry,
        &[
            "id",
            "scope",
            "status",
            "syncState",
            "credentials",
            "_links",
        ],
    );
    assert_eq!(entry["scope"], "GROUP");
    assert!(entry["_links"]["group"]["href"]
        .as_str()
        .is_some_and(|h| h.ends_with(group.as_str())));
    let app_groups = items(&format!("{base}/api/v1/apps/{app}/groups")).await;
    assert!(app_groups.iter().any(|g| g["id"] == group.as_str()));
    has_keys(&app_groups[0], &["id", "priority", "profile", "_links"]);

    // Roles: inherited ones say GROUP and link to the group; custom ones name the
    // role and the resource set.
    let inherited = truth
        .admins
        .iter()
        .find(|a| a.via_group.is_some())
        .expect("a role through a group");
    let roles = get(
        &format!("{base}/api/v1/users/{}/roles", inherited.user_id),
        Some(TOKEN),
    )
    .await
    .json();
    let role = roles
        .as_array()
        .and_then(|r| {
            r.iter()
                .find(|x| x["id"] == inherited.assignment_id.as_str())
        })
        .expect("the inherited role is listed")
        .clone();
    has_keys(
        &role,
        &[
            "id",
            "label",
            "type",
            "status",
            "created",
            "lastUpdated",
            "assignmentType",
            "_links",
        ],
    );
    assert_eq!(role["assignmentType"], "GROUP");
    let group_id = inherited.via_group.clone().expect("group");
    assert!(role["_links"]["assignee"]["href"]
        .as_str()
        .is_some_and(|h| h.ends_with(&format!("/groups/{group_id}"))));
    let group_roles = get(
        &format!("{base}/api/v1/groups/{group_id}/roles"),
        Some(TOKEN),
    )
    .await
    .json();
    assert!(group_roles.as_array().is_some_and(|r| r
        .iter()
        .any(|x| x["id"] == inherited.assignment_id.as_str())));

    let custom = truth
        .admins
        .iter()
        .find(|a| a.role_type == "CUSTOM")
        .expect("a custom role");
    let roles = get(
        &format!("{base}/api/v1/users/{}/roles", custom.user_id),
        Some(TOKEN),
    )
    .await
    .json();
    let role = roles
        .as_array()
        .and_then(|r| r.iter().find(|x| x["type"] == "CUSTOM"))
        .expect("custom role listed")
        .clone();
    has_keys(&role, &["role", "resource-set", "_links"]);
    assert_eq!(role["resource-set"], custom.scope.ids[0].as_str());

    // Custom roles, permissions, resource sets and resources page in the body.
    let (custom_roles, _) = iam_items(&format!("{base}/api/v1/iam/roles?limit=1"), "roles").await;
    assert_eq!(custom_roles.len(), o.custom_roles.len());
    has_keys(&custom_roles[0], &["id", "label", "description", "_links"]);
    let role_id = custom_roles[0]["id"].as_str().expect("role id");
    let perms = get(
        &format!("{base}/api/v1/iam/roles/{role_id}/permissions"),
        Some(TOKEN),
    )
    .await
    .json();
    assert!(perms["permissions"][0]["label"]
        .as_str()
        .is_some_and(|p| p.starts_with("okta.")));
    let (sets, pages) = iam_items(
        &format!("{base}/api/v1/iam/resource-sets?limit=1"),
        "resource-sets",
    )
    .await;
    assert_eq!(sets.len(), o.resource_sets.len());
    assert_eq!(pages, sets.len());
    for set in &sets {
        let id = set["id"].as_str().expect("set id");
        let (resources, _) = iam_items(
            &format!("{base}/api/v1/iam/resource-sets/{id}/resources"),
            "resources",
        )
        .await;
        assert!(!resources.is_empty());
        assert!(resources.iter().all(|r| r["orn"]
            .as_str()
            .is_some_and(|o| o.starts_with("orn:okta:"))));
    }

    // Role targets: groups or app instances, Link-paged.
    let scoped = o
        .admins
        .iter()
        .find(|a| !matches!(a.scope, okta_sim::graph::RoleScope::Org))
        .or(None);
    if let Some(admin) = scoped {
        let user = &o.users[admin.user as usize].id;
        let (path, expected) = match &admin.scope {
            okta_sim::graph::RoleScope::Groups(g) => ("groups", g.len()),
            okta_sim::graph::RoleScope::Apps(a) => ("catalog/apps", a.len()),
            _ => unreachable!("standard roles have group or app targets"),
        };
        let targets = walk(
            &format!(
                "{base}/api/v1/users/{user}/roles/{}/targets/{path}?limit=1",
                admin.role_assignment_id
            ),
            TOKEN,
            50,
        )
        .await;
        assert_eq!(targets.len(), expected);
    }

    // API tokens: ZONE networks list their zones.
    let tokens = get(&format!("{base}/api/v1/api-tokens"), Some(TOKEN))
        .await
        .json();
    for t in tokens.as_array().expect("tokens") {
        has_keys(
            t,
            &[
                "id",
                "name",
                "userId",
                "clientName",
                "tokenWindow",
                "expiresAt",
                "created",
                "lastUpdated",
                "_links",
            ],
        );
        if t["network"]["connection"] == "ZONE" {
            assert!(t["network"]["include"]
                .as_array()
                .is_some_and(|z| !z.is_empty()));
        }
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_kinds_differ_by_endpoint() {
    let server = start(org(9, 500)).await;
    let base = server.base_url();
    let (group_id, members) = {
        let o = server.org();
        let o = o.read().expect("lock");
        let g = &o.groups[0];
        (g.id.clone(), g.members.len())
    };
    // Link header: group members, 200 per page.
    let pages = walk(
        &format!("{base}/api/v1/groups/{group_id}/users?limit=200"),
        TOKEN,
        100,
    )
    .await;
    assert_eq!(pages.len(), members.div_ceil(200));
    let ids: BTreeSet<String> = pages
        .iter()
        .flat_map(|p| p.json().as_array().cloned().unwrap_or_default())
        .map(|u| u["id"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(ids.len(), members);
    // Body: IAM assignees, one per page.
    let (assignees, pages) = iam_items(
        &format!("{base}/api/v1/iam/assignees/users?limit=1"),
        "value",
    )
    .await;
    assert_eq!(pages, assignees.len());
    let unique: BTreeSet<&str> = assignees.iter().filter_map(|a| a["id"].as_str()).collect();
    assert_eq!(unique.len(), assignees.len());
    server.shutdown().await;
}

#[tokio::test]
async fn a_token_without_role_permission_gets_403_on_role_endpoints_only() {
    let server = start(org(4, 200)).await;
    let base = server.base_url();
    let (user, group) = {
        let o = server.org();
        let o = o.read().expect("lock");
        (
            o.users[o.admins[0].user as usize].id.clone(),
            o.groups[1].id.clone(),
        )
    };
    server.set_faults(FaultConfig {
        forbidden: BTreeSet::from([Family::Iam]),
        ..FaultConfig::default()
    });
    for path in [
        format!("/api/v1/users/{user}/roles"),
        format!("/api/v1/groups/{group}/roles"),
        "/api/v1/iam/assignees/users".to_string(),
        "/api/v1/iam/roles".to_string(),
        "/api/v1/iam/resource-sets".to_string(),
    ] {
        let r = get(&format!("{base}{path}"), Some(TOKEN)).await;
        assert_eq!(r.status, 403, "{path}");
        assert_eq!(r.json()["errorCode"], "E0000006", "{path}");
    }
    for path in [
        format!("/api/v1/users/{user}"),
        format!("/api/v1/groups/{group}/users"),
        "/api/v1/groups".to_string(),
        "/api/v1/apps".to_string(),
        "/api/v1/api-tokens".to_string(),
    ] {
        let r = get(&format!("{base}{path}"), Some(TOKEN)).await;
        assert_eq!(r.status, 200, "{path}");
    }
    server.set_faults(FaultConfig::default());
    let r = get(&format!("{base}/api/v1/users/{user}/roles"), Some(TOKEN)).await;
    assert_eq!(r.status, 200);
    server.shutdown().await;
}

/// The System Log events of `kinds` published in `[since, until)`.
async fn events(base: &str, since: i64, until: i64, kinds: &[&str]) -> Vec<Value> {
    let filter = kinds
        .iter()
        .map(|k| format!("eventType eq \"{k}\""))
        .collect::<Vec<_>>()
        .join(" or ");
    let url = format!(
        "{base}/api/v1/logs?since={}&until={}&limit=1000&filter={}",
        okta_sim::time::format_ms(since),
        okta_sim::time::format_ms(until),
        url_escape(&filter)
    );
    items(&url).await
}

fn url_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'-' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn advance_changes_the_graph_and_logs_each_change() {
    let server = start(org(12, 400)).await;
    let base = server.base_url();
    let before = {
        let o = server.org();
        let mut o = o.write().expect("lock");
        let before = o.graph_truth(NOW_MS);
        for day in 0..3 {
            o.advance(DAY, 0.05, 40 + day);
        }
        before
    };
    let now = NOW_MS + 3 * DAY;
    let (after, o) = {
        let o = server.org();
        let o = o.read().expect("lock");
        (o.graph_truth(now), o.clone())
    };
    assert_ne!(before.users, after.users);
    assert_ne!(before.admins, after.admins);
    // The endpoints serve the changed graph.
    assert_same(&crawl(&base).await, &expected(&after), "after advance");

    let kinds = [
        "group.user_membership.add",
        "group.user_membership.remove",
        "application.user_membership.add",
        "application.user_membership.remove",
        "user.account.privilege.grant",
        "user.account.privilege.revoke",
        "group.privilege.grant",
        "group.privilege.revoke",
        "system.api_token.create",
        "system.api_token.revoke",
    ];
    let log = events(&base, NOW_MS, now, &kinds).await;
    let seen: BTreeSet<&str> = log.iter().filter_map(|e| e["eventType"].as_str()).collect();
    for k in [
        "group.user_membership.add",
        "group.user_membership.remove",
        "application.user_membership.add",
        "application.user_membership.remove",
        "user.account.privilege.grant",
        "user.account.privilege.revoke",
    ] {
        assert!(seen.contains(k), "{k} in {seen:?}");
    }
    assert!(seen.contains("group.privilege.grant") || seen.contains("group.privilege.revoke"));
    assert!(seen.contains("system.api_token.create") || seen.contains("system.api_token.revoke"));

    // The last event about each (user, group) and (user, app) pair says where it ended.
    let mut last_group: BTreeMap<(String, String), bool> = BTreeMap::new();
    let mut last_app: BTreeMap<(String, String), bool> = BTreeMap::new();
    for e in &log {
        let kind = e["eventType"].as_str().unwrap_or_default();
        let targets = e["target"].as_array().cloned().unwrap_or_default();
        let of = |t: &str| {
            targets
                .iter()
                .find(|x| x["type"] == t)
                .and_then(|x| x["id"].as_str())
                .map(str::to_string)
        };
        match kind {
            "group.user_membership.add" | "group.user_membership.remove" => {
                let key = (of("User").expect("user"), of("UserGroup").expect("group"));
                last_group.insert(key, kind.ends_with("add"));
            }
            "application.user_membership.add" | "application.user_membership.remove" => {
                let key = (of("User").expect("user"), of("AppInstance").expect("app"));
                last_app.insert(key, kind.ends_with("add"));
            }
            "user.account.privilege.grant" | "user.account.privilege.revoke" => {
                assert!(of("User").is_some());
                let data = &e["debugContext"]["debugData"];
                assert!(
                    data["privilegeGranted"].is_string() || data["privilegeRevoked"].is_string()
                );
            }
            "group.privilege.grant" | "group.privilege.revoke" => {
                assert!(of("UserGroup").is_some());
            }
            _ => assert!(of("Token").is_some(), "{e}"),
        }
    }
    assert!(!last_group.is_empty() && !last_app.is_empty());
    for ((user, group), member) in &last_group {
        let in_group = after
            .users
            .iter()
            .find(|u| &u.user_id == user)
            .is_some_and(|u| u.groups.contains(group));
        assert_eq!(in_group, *member, "{user} in {group}");
    }
    for ((user, app), linked) in &last_app {
        let u = o.user(user).expect("user");
        let has = u
            .app_links
            .iter()
            .any(|l| &o.apps[l.app as usize].id == app);
        assert_eq!(has, *linked, "{user} on {app}");
    }
    // The invariant holds after the days.
    for ga in &o.group_apps {
        for &u in &o.groups[ga.group as usize].members {
            assert!(o.users[u as usize]
                .app_links
                .iter()
                .any(|l| l.app == ga.app));
        }
    }
    server.shutdown().await;
}

#[test]
fn advance_is_deterministic() {
    let mut a = org(21, 300);
    let mut b = org(21, 300);
    a.advance(DAY, 0.05, 9);
    b.advance(DAY, 0.05, 9);
    assert_eq!(a.graph_truth(NOW_MS + DAY), b.graph_truth(NOW_MS + DAY));
    assert_eq!(a.snapshot_json("http://x"), b.snapshot_json("http://x"));
}

/// FNV-1a over everything the graph must not change: users (detailed) with their factors
/// and app links, apps, policies with rules, and the System Log.
fn fingerprint_of_the_rest(org: &Org) -> u64 {
    let r = okta_sim::render::Renderer::new(org, "http://127.0.0.1:1");
    let mut out: Vec<u8> = Vec::new();
    for user in &org.users {
        r.user(&mut out, user, true);
        r.factors(&mut out, user);
        r.app_links(&mut out, user);
    }
    for app in &org.apps {
        out.extend_from_slice(r.app(app).to_string().as_bytes());
    }
    for policy in &org.policies {
        out.extend_from_slice(r.policy(policy).to_string().as_bytes());
        for rule in &policy.rules {
            out.extend_from_slice(r.rule(policy, rule).to_string().as_bytes());
        }
    }
    for event in &org.events {
        r.event(&mut out, event);
    }
    out.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[test]
fn the_graph_leaves_the_rest_of_the_org_as_it_was() {
    // Computed with the generator as it was before the identity graph existed.
    for (seed, users, expected) in [
        (11, 300, 1_061_726_030_508_049_132_u64),
        (42, 2000, 14_643_782_530_592_795_413_u64),
    ] {
        let got = fingerprint_of_the_rest(&org(seed, users));
        assert_eq!(got, expected, "seed {seed}, {users} users");
    }
}
