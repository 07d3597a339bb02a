//! End-to-end tests of the graph questions through the `kri` binary: `kri access
//! --user`, `kri access --app`, `kri admins` and `kri tokens` (table, JSON and CSV),
//! the six seed queries of issue 9 on a graph with known answers, and every SQL query
//! of docs/graph.md, so the documentation cannot rot.
//!
//! The graph is filled the way a real inventory job fills it: the `static-graph` test
//! connector emits the graph written in its tenant's extra config, and the host
//! commits it and rebuilds `access_path`.

use std::collections::BTreeSet;

use kri_e2e::*;
use serde_json::{json, Value};

const ORG: &str = "https://acme.okta.com";

/// A node labelled as the Okta inventory labels every node.
fn okta_node(id: &str, kind: &str, sub_kind: &str, name: &str, properties: Value) -> Value {
    json!({
        "id": id, "kind": kind, "sub_kind": sub_kind, "name": name,
        "labels": {"teleport.dev/origin": "okta", "okta/org": ORG},
        "properties": properties,
    })
}

fn edge(from: &str, to: &str, kind: &str) -> Value {
    json!({"from": from, "to": to, "kind": kind})
}

/// A small org with known answers:
/// - ann (ACTIVE, phishing-resistant MFA) is in Engineering (assigned Salesforce), in
///   Okta Administrators (which holds GROUP_ADMIN over Sales) and in External (a group
///   from another source, without the Okta labels); she is assigned Slack directly and
///   holds the custom role "Helpdesk Ops" over the resource set "Support resources";
/// - bob (ACTIVE, no MFA) holds SUPER_ADMIN over the org, is assigned Salesforce
///   directly and owns the token ci-token (ANYWHERE, created 2026-01-01);
/// - cyd (SUSPENDED) is in Okta Administrators and owns legacy-sync (ZONE, 2025-01-01);
/// - dan (DEPROVISIONED) is in Engineering; GitHub is assigned to nobody;
/// - the token orphan has no owner.
fn org_graph() -> Value {
    let user = |id: &str, login: &str, status: &str, pr: bool| {
        okta_node(
            id,
            "user",
            "",
            login,
            json!({"status": status, "mfa": {"factors": [], "phishing_resistant": pr}}),
        )
    };
    let none = json!({});
    let mut external = okta_node("g-ext", "group", "APP_GROUP", "External", none.clone());
    external["labels"] = json!({"teleport.dev/origin": "scim"});
    let nodes = vec![
        user("u-ann", "ann@acme.com", "ACTIVE", true),
        user("u-bob", "bob@acme.com", "ACTIVE", false),
        user("u-cyd", "cyd@acme.com", "SUSPENDED", false),
        user("u-dan", "dan@acme.com", "DEPROVISIONED", false),
        okta_node("g-eng", "group", "OKTA_GROUP", "Engineering", none.clone()),
        okta_node("g-sales", "group", "OKTA_GROUP", "Sales", none.clone()),
        okta_node(
            "g-adm",
            "group",
            "OKTA_GROUP",
            "Okta Administrators",
            none.clone(),
        ),
        external,
        okta_node(
            "a-sf",
            "app",
            "SAML_2_0",
            "Salesforce",
            json!({"status": "ACTIVE"}),
        ),
        okta_node(
            "a-slack",
            "app",
            "SAML_2_0",
            "Slack",
            json!({"status": "ACTIVE"}),
        ),
        okta_node(
            "a-gh",
            "app",
            "SAML_2_0",
            "GitHub",
            json!({"status": "ACTIVE"}),
        ),
        okta_node(
            "r-sa",
            "admin_role",
            "standard",
            "SUPER_ADMIN",
            none.clone(),
        ),
        okta_node(
            "r-ga",
            "admin_role",
            "standard",
            "GROUP_ADMIN",
            none.clone(),
        ),
        okta_node("r-hd", "admin_role", "custom", "Helpdesk Ops", none.clone()),
        okta_node(
            "rs-1",
            "resource_set",
            "",
            "Support resources",
            none.clone(),
        ),
        okta_node("org", "org", "", ORG, none.clone()),
        okta_node(
            "t-ci",
            "api_token",
            "",
            "ci-token",
            json!({"network": {"connection": "ANYWHERE"}, "created": "2026-01-01T00:00:00.000Z",
                   "last_used": "2026-03-01T12:00:00.000Z", "expires_at": "2026-03-31T00:00:00.000Z"}),
        ),
        okta_node(
            "t-old",
            "api_token",
            "",
            "legacy-sync",
            json!({"network": {"connection": "ZONE"}, "created": "2025-01-01T00:00:00.000Z"}),
        ),
        okta_node("t-orphan", "api_token", "", "orphan", none.clone()),
    ];
    let mut edges = vec![
        edge("u-ann", "g-eng", "member_of"),
        edge("u-ann", "g-adm", "member_of"),
        edge("u-ann", "g-ext", "member_of"),
        edge("u-cyd", "g-adm", "member_of"),
        edge("u-dan", "g-eng", "member_of"),
        edge("g-eng", "a-sf", "assigned_to"),
        edge("g-adm", "r-ga", "holds_role"),
        edge("r-ga", "g-sales", "role_scope"),
        edge("u-bob", "r-sa", "holds_role"),
        edge("r-sa", "org", "role_scope"),
        edge("u-ann", "r-hd", "holds_role"),
        edge("r-hd", "rs-1", "role_scope"),
        edge("u-bob", "t-ci", "owns"),
        edge("u-cyd", "t-old", "owns"),
    ];
    let assigned = |user: &str, app: &str, scope: &str| json!({"from": user, "to": app, "kind": "assigned_to", "properties": {"scope": scope}});
    edges.push(assigned("u-ann", "a-sf", "GROUP"));
    edges.push(assigned("u-dan", "a-sf", "GROUP"));
    edges.push(assigned("u-ann", "a-slack", "USER"));
    edges.push(assigned("u-bob", "a-sf", "USER"));
    json!({"graph": {"nodes": nodes, "edges": edges}})
}

/// An environment with tenant `acme` whose graph is [`org_graph`], committed by a
/// run of its inventory job, and tenant `empty` that never ran.
fn env_with_graph() -> TestEnv {
    let env = TestEnv::new(&["test-plugins/static-graph.wasm"]);
    let extra = org_graph().to_string();
    for (tenant, extra) in [("acme", extra.as_str()), ("empty", "{}")] {
        env.add_tenant(
            tenant,
            "static-graph",
            ORG,
            "tok-graph-123456",
            &["--extra", extra],
        );
    }
    let out = env.kri(&[
        "run-connector",
        "static-graph",
        "--tenant",
        "acme",
        "--job",
        "inventory",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    env
}

fn table_out(env: &TestEnv, args: &[&str]) -> String {
    let out = env.kri(args);
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    stdout(&out)
}

/// The values of `fields` in each object of a JSON array, joined by `|`.
fn pick(rows: &Value, fields: &[&str]) -> Vec<String> {
    rows.as_array()
        .expect("a JSON array")
        .iter()
        .map(|r| {
            fields
                .iter()
                .map(|f| match &r[*f] {
                    Value::String(s) => s.clone(),
                    Value::Null => "-".to_string(),
                    other => other.to_string(),
                })
                .collect::<Vec<_>>()
                .join("|")
        })
        .collect()
}

#[test]
fn access_of_a_user_lists_apps_groups_and_admin_scopes_with_how() {
    let env = env_with_graph();
    let rows = env.kri_json(&[
        "access",
        "--tenant",
        "acme",
        "--user",
        "ann@acme.com",
        "--json",
    ]);
    assert_eq!(
        pick(
            &rows,
            &[
                "resource",
                "resource_kind",
                "action_type",
                "action",
                "via_group"
            ]
        ),
        [
            "Salesforce|app|app_assignment|GROUP|Engineering",
            "Slack|app|app_assignment|USER|-",
            "Engineering|group|group_membership|member|-",
            "External|group|group_membership|member|-",
            "Okta Administrators|group|group_membership|member|-",
            "Sales|group|admin_role|GROUP_ADMIN|Okta Administrators",
            "Support resources|resource_set|admin_role|Helpdesk Ops|-",
        ]
    );
    assert_eq!(rows[0]["path"], json!(["u-ann", "g-eng", "a-sf"]));
    assert_eq!(
        rows[5]["path"],
        json!(["u-ann", "g-adm", "r-ga", "g-sales"])
    );
    assert_eq!(rows[0]["identity_id"], "u-ann");

    let text = table_out(
        &env,
        &["access", "--tenant", "acme", "--user", "ann@acme.com"],
    );
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 8, "{text}");
    assert!(lines[0].starts_with("RESOURCE"), "{text}");
    assert!(
        lines[1].contains("Salesforce") && lines[1].ends_with("group Engineering"),
        "{text}"
    );
    assert!(lines[2].ends_with("direct assignment"), "{text}");
    assert!(
        lines[6].ends_with("role GROUP_ADMIN via group Okta Administrators"),
        "{text}"
    );

    // A login differing only in case is the same user.
    let rows = env.kri_json(&[
        "access",
        "--tenant",
        "acme",
        "--user",
        "ANN@acme.com",
        "--json",
    ]);
    assert_eq!(rows.as_array().map(Vec::len), Some(7));
}

#[test]
fn access_to_an_app_lists_who_and_how() {
    let env = env_with_graph();
    let rows = env.kri_json(&[
        "access",
        "--tenant",
        "acme",
        "--app",
        "Salesforce",
        "-o",
        "json",
    ]);
    assert_eq!(
        pick(&rows, &["identity", "action", "via_group"]),
        [
            "ann@acme.com|GROUP|Engineering",
            "bob@acme.com|USER|-",
            "dan@acme.com|GROUP|Engineering",
        ],
        "users only: bob's token is not listed"
    );
    let out = env.kri(&[
        "-o",
        "csv",
        "access",
        "--tenant",
        "acme",
        "--app",
        "Salesforce",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "USER,ACCESS,THROUGH\n\
         ann@acme.com,app assignment,group Engineering\n\
         bob@acme.com,app assignment,direct assignment\n\
         dan@acme.com,app assignment,group Engineering\n"
    );
    // An app nobody reaches is an answer, not an error.
    let text = table_out(&env, &["access", "--tenant", "acme", "--app", "GitHub"]);
    assert_eq!(text, "no user reaches GitHub\n");
    let rows = env.kri_json(&["access", "--tenant", "acme", "--app", "GitHub", "--json"]);
    assert_eq!(rows, json!([]));
}

#[test]
fn unknown_names_get_close_suggestions_and_an_empty_graph_says_what_to_run() {
    let env = env_with_graph();
    let cases: &[(&[&str], &str)] = &[
        (
            &["access", "--tenant", "acme", "--user", "anne@acme.com"],
            "has no user with login `anne@acme.com`; did you mean ann@acme.com",
        ),
        (
            &["access", "--tenant", "acme", "--app", "Salesforc"],
            "has no app labelled `Salesforc`; did you mean Salesforce?",
        ),
        (
            &["access", "--tenant", "acme", "--user", "zzz"],
            "SELECT name FROM nodes WHERE kind = 'user'",
        ),
        (
            &["access", "--tenant", "empty", "--user", "ann@acme.com"],
            "its graph has no users yet: run the tenant's inventory job first",
        ),
        (&["admins", "--tenant", "ghost"], "unknown tenant `ghost`"),
        (&["access", "--tenant", "acme"], "--user"),
        (
            &["access", "--tenant", "acme", "--user", "a", "--app", "b"],
            "cannot be used with",
        ),
    ];
    for (args, says) in cases {
        let out = env.kri(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(says), "{args:?}: {}", stderr(&out));
        assert!(stdout(&out).is_empty(), "{args:?}: {}", stdout(&out));
    }
}

#[test]
fn admins_lists_roles_held_directly_and_through_groups_over_their_scopes() {
    let env = env_with_graph();
    let rows = env.kri_json(&["admins", "--tenant", "acme", "--json"]);
    assert_eq!(
        pick(
            &rows,
            &[
                "user",
                "user_status",
                "role",
                "role_kind",
                "via_group",
                "scope_kind",
                "scope"
            ]
        ),
        [
            "ann@acme.com|ACTIVE|GROUP_ADMIN|standard|Okta Administrators|group|Sales",
            "ann@acme.com|ACTIVE|Helpdesk Ops|custom|-|resource_set|Support resources",
            format!("bob@acme.com|ACTIVE|SUPER_ADMIN|standard|-|org|{ORG}").as_str(),
            "cyd@acme.com|SUSPENDED|GROUP_ADMIN|standard|Okta Administrators|group|Sales",
        ]
    );
    assert_eq!(rows[0]["role_id"], "r-ga");
    assert_eq!(rows[1]["scope_id"], "rs-1");
    let text = table_out(&env, &["admins", "--tenant", "acme"]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5, "{text}");
    let header: Vec<&str> = lines[0]
        .split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(
        header,
        [
            "USER",
            "STATUS",
            "ROLE",
            "ROLE KIND",
            "VIA GROUP",
            "SCOPE KIND",
            "SCOPE"
        ]
    );
    assert!(lines[3].starts_with("bob@acme.com"), "{text}");
    assert!(lines[3].ends_with(ORG), "{text}");
    let text = table_out(&env, &["admins", "--tenant", "empty"]);
    assert_eq!(text, "no admin roles in the graph of empty\n");
}

#[test]
fn tokens_list_owner_status_roles_network_age_and_last_use() {
    let env = env_with_graph();
    let now = "2026-03-02T00:00:00Z";
    let rows = env.kri_json(&["tokens", "--tenant", "acme", "--now", now, "--json"]);
    assert_eq!(
        pick(
            &rows,
            &[
                "token",
                "owner",
                "owner_status",
                "network",
                "age_days",
                "last_used"
            ]
        ),
        [
            "ci-token|bob@acme.com|ACTIVE|ANYWHERE|60|2026-03-01T12:00:00.000Z",
            "legacy-sync|cyd@acme.com|SUSPENDED|ZONE|425|-",
            "orphan|-|-|-|-|-",
        ]
    );
    assert_eq!(rows[0]["owner_roles"], json!(["SUPER_ADMIN"]));
    assert_eq!(rows[1]["owner_roles"], json!(["GROUP_ADMIN"]));
    assert_eq!(rows[2]["owner_roles"], json!([]));
    assert_eq!(rows[0]["created"], "2026-01-01T00:00:00.000Z");
    assert_eq!(rows[0]["expires_at"], "2026-03-31T00:00:00.000Z");
    assert_eq!(rows[0]["owner_id"], "u-bob");

    let out = env.kri(&["tokens", "--tenant", "acme", "--now", now, "-o", "csv"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "TOKEN,OWNER,OWNER STATUS,OWNER ROLES,NETWORK,AGE,LAST USED,EXPIRES"
    );
    assert_eq!(
        lines[1],
        "ci-token,bob@acme.com,ACTIVE,SUPER_ADMIN,ANYWHERE,60d,2026-03-01T12:00:00.000Z,2026-03-31T00:00:00.000Z"
    );
    assert_eq!(lines[3], "orphan,-,-,-,-,-,-,-");
    let text = table_out(&env, &["tokens", "--tenant", "acme", "--now", now]);
    assert!(text.starts_with("TOKEN"), "{text}");
    assert_eq!(text.lines().count(), 4, "{text}");
}

/// The values of `column` of a query's rows.
fn column(env: &TestEnv, sql: &str, column: &str) -> Vec<String> {
    let rows = env.kri_json(&["query", "--tenant", "acme", sql, "--json"]);
    pick(&rows, &[column])
}

#[test]
fn the_six_seed_queries_return_the_expected_rows() {
    let env = env_with_graph();
    let origin = r#"'{"teleport.dev/origin": "okta"}'"#;
    let all_but_external: BTreeSet<String> = column(&env, "SELECT id FROM nodes", "id")
        .into_iter()
        .filter(|id| id != "g-ext")
        .collect();
    assert_eq!(all_but_external.len(), 18);
    let ids = |sql: &str| -> BTreeSet<String> { column(&env, sql, "id").into_iter().collect() };
    assert_eq!(
        ids(&format!("SELECT * FROM nodes WHERE labels @> {origin}")),
        all_but_external
    );
    assert_eq!(
        ids(&format!(
            r#"SELECT * FROM nodes WHERE labels @> '{{"okta/org": "{ORG}"}}'"#
        )),
        all_but_external
    );
    let resources = column(
        &env,
        "SELECT * FROM access_path WHERE identity = 'ann@acme.com' AND kind = 'ALLOWED' ORDER BY resource",
        "resource",
    );
    assert_eq!(
        resources,
        [
            "Engineering",
            "External",
            "Okta Administrators",
            "Sales",
            "Salesforce",
            "Slack",
            "Support resources"
        ]
    );
    let who = |resource: &str| {
        column(
            &env,
            &format!(
                "SELECT * FROM access_path WHERE resource = '{resource}' AND resource_labels @> {origin} ORDER BY identity"
            ),
            "identity",
        )
    };
    assert_eq!(
        who("Salesforce"),
        ["ann@acme.com", "bob@acme.com", "ci-token", "dan@acme.com"],
        "the token reaches what its owner reaches"
    );
    assert_eq!(who("Engineering"), ["ann@acme.com", "dan@acme.com"]);
    assert!(who("External").is_empty(), "External is not an Okta group");
    let standing = env.kri_json(&[
            "query",
            "--tenant",
            "acme",
            &format!("SELECT * FROM access_path WHERE standing_privileges >= 1 AND resource_labels @> {origin}"),
            "--json",
        ],
    );
    assert_eq!(
        standing.as_array().map(Vec::len),
        Some(16),
        "17 paths, one to External"
    );
    let identities: BTreeSet<String> = pick(&standing, &["identity"]).into_iter().collect();
    assert_eq!(
        identities.into_iter().collect::<Vec<_>>(),
        [
            "ann@acme.com",
            "bob@acme.com",
            "ci-token",
            "cyd@acme.com",
            "dan@acme.com",
            "legacy-sync"
        ]
    );
    let ann = pick(&standing, &["identity", "standing_privileges"]);
    assert!(ann.contains(&"ann@acme.com|7".to_string()), "{ann:?}");
    assert!(ann.contains(&"ci-token|2".to_string()), "{ann:?}");
}

/// Every ```sql block of docs/graph.md, split into statements.
fn documented_queries() -> Vec<String> {
    let doc = std::fs::read_to_string(workspace().join("docs/graph.md")).expect("docs/graph.md");
    let mut queries = Vec::new();
    let mut block: Option<String> = None;
    for line in doc.lines() {
        match (&mut block, line.trim_end()) {
            (None, "```sql") => block = Some(String::new()),
            (Some(text), "```") => {
                queries.extend(
                    text.split(";\n")
                        .map(str::trim)
                        .filter(|q| {
                            q.lines()
                                .any(|l| !l.trim().is_empty() && !l.trim().starts_with("--"))
                        })
                        .map(|q| q.trim_end_matches(';').to_string()),
                );
                block = None;
            }
            (Some(text), _) => {
                text.push_str(line);
                text.push('\n');
            }
            (None, _) => {}
        }
    }
    queries
}

#[test]
fn every_query_in_docs_graph_md_runs_and_answers() {
    let queries = documented_queries();
    assert!(queries.len() >= 24, "found only {} queries", queries.len());
    let env = env_with_graph();
    for sql in &queries {
        // The seed queries' placeholders, as the doc explains them.
        let sql = sql
            .replace("identity = 'user'", "identity = 'ann@acme.com'")
            .replace("'app-name'", "'Salesforce'")
            .replace("'group-name'", "'Engineering'")
            .replace("https://your-org.okta.com", ORG);
        // `--`: a query may start with a comment, which looks like an option.
        let rows = env.kri_json(&["query", "--tenant", "acme", "--json", "--", &sql]);
        let rows = rows.as_array().expect("a JSON array");
        // This org has no events or alerts; every graph question has an answer, so
        // a documented query that silently stopped matching fails here.
        let streams = sql.contains("FROM events") || sql.contains("FROM alerts");
        assert!(
            streams || !rows.is_empty(),
            "no rows from documented query:\n{sql}"
        );
    }
}
