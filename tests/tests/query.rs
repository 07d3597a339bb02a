//! End-to-end tests of `kri query`, `kri events`, `kri alerts` and `kri alert`
//! through the binary, on rows committed to the store the way a run commits them.

use std::collections::BTreeMap;

use kri_e2e::*;
use kri_host::model::{Alert, Edge, EntityRef, Event, Node, RunKind, Severity};
use kri_host::store::{RunCommit, RunStart, SqliteStore, Store};

fn node(id: &str, kind: &str, name: &str) -> Node {
    Node {
        id: id.into(),
        kind: kind.into(),
        sub_kind: format!("okta_{kind}"),
        name: name.into(),
        labels: BTreeMap::from([
            ("teleport.dev/origin".to_string(), "okta".to_string()),
            (
                "okta/org".to_string(),
                "https://your-org.okta.com".to_string(),
            ),
        ]),
        properties: serde_json::json!({}),
    }
}

fn entity(id: &str, name: &str) -> EntityRef {
    EntityRef {
        id: id.into(),
        kind: "user".into(),
        name: name.into(),
    }
}

/// Commits a small graph, three events and two alerts for `tenant`.
fn seed(env: &TestEnv, tenant: &str) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let store = SqliteStore::open_existing(&env.data_dir()).expect("store");
        let run_id = store
            .start_run(&RunStart {
                tenant_id: tenant.into(),
                connector: "probe".into(),
                job: "inventory".into(),
                kind: RunKind::Run,
            })
            .await
            .expect("start");
        let now = 1_800_000_000_000;
        let event = |id: &str, t: i64, kind: &str, actor: EntityRef| Event {
            id: id.into(),
            time_ms: now - t,
            event_type: kind.into(),
            actor,
            targets: vec![],
            outcome: None,
            raw: serde_json::json!({ "uuid": id }),
        };
        let alert = |key: &str, severity: Severity| Alert {
            detection: "okta.admin_privilege_granted".into(),
            severity,
            title: format!("alert {key}"),
            dedupe_key: key.into(),
            entity: entity("00u1", "ann@acme.com"),
            evidence: vec!["ev-1".into()],
            seen_ms: now,
            details: serde_json::json!({}),
        };
        store
            .commit_run(RunCommit {
                run_id,
                tenant_id: tenant.into(),
                connector: "probe".into(),
                nodes: vec![
                    node("00u1", "user", "ann@acme.com"),
                    node("00g1", "group", "Engineering"),
                    node("0oa1", "app", "Salesforce"),
                ],
                edges: vec![Edge {
                    from: "00u1".into(),
                    to: "00g1".into(),
                    kind: "member_of".into(),
                    properties: serde_json::json!({}),
                }],
                events: vec![
                    event(
                        "ev-1",
                        1_000,
                        "user.session.start",
                        entity("00u1", "ann@acme.com"),
                    ),
                    event(
                        "ev-2",
                        2_000,
                        "user.account.privilege.grant",
                        entity("00u2", "bob@acme.com"),
                    ),
                ],
                alerts: vec![alert("k1", Severity::High), alert("k2", Severity::Critical)],
                ..Default::default()
            })
            .await
            .expect("commit");
    });
}

#[test]
fn query_runs_the_seed_queries_over_the_tenants_rows_only() {
    let env = TestEnv::new(&["test-plugins/probe.wasm"]);
    env.add_probe_tenant("acme");
    env.add_probe_tenant("other");
    seed(&env, "acme");
    let rows = env.kri_json(&[
        "query",
        "--tenant",
        "acme",
        r#"SELECT * FROM nodes WHERE labels @> '{"teleport.dev/origin": "okta"}' ORDER BY id"#,
        "--json",
    ]);
    let names: Vec<&str> = rows
        .as_array()
        .expect("array")
        .iter()
        .map(|r| r["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["Engineering", "ann@acme.com", "Salesforce"]);
    assert_eq!(rows[0]["kind"], "group");
    let rows = env.kri_json(&[
        "query",
        "--tenant",
        "other",
        r#"SELECT * FROM nodes WHERE labels @> '{"okta/org": "https://your-org.okta.com"}'"#,
        "--json",
    ]);
    assert_eq!(rows, serde_json::json!([]), "another tenant sees nothing");

    // A table by default, and a note when rows are cut.
    let out = env.kri(&[
        "query",
        "--tenant",
        "acme",
        "SELECT name, kind FROM nodes ORDER BY name",
        "--max-rows",
        "2",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.lines().count(), 3, "{text}");
    assert!(text.starts_with("name"), "{text}");
    assert!(stderr(&out).contains("cut at 2 rows"), "{}", stderr(&out));

    // CSV through the global -o.
    let out = env.kri(&[
        "-o",
        "csv",
        "query",
        "--tenant",
        "acme",
        "SELECT name, kind FROM nodes WHERE kind = 'app'",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "name,kind\nSalesforce,app\n"
    );

    // Writes and other tables are refused with a clear error, and nothing changes.
    for (sql, says) in [
        ("DELETE FROM nodes", "only read-only queries"),
        (
            "SELECT * FROM secrets",
            "may not read the table main.secrets",
        ),
        ("SELECT 1; SELECT 2", "exactly one statement"),
    ] {
        let out = env.kri(&["query", "--tenant", "acme", sql]);
        assert!(!out.status.success(), "{sql} ran");
        assert!(stderr(&out).contains(says), "{sql}: {}", stderr(&out));
    }
    let rows = env.kri_json(&[
        "query",
        "--tenant",
        "acme",
        "SELECT count(*) AS n FROM nodes",
        "--json",
    ]);
    assert_eq!(rows, serde_json::json!([{ "n": 3 }]));
}

#[test]
fn events_and_alerts_list_filter_and_change_status() {
    let env = TestEnv::new(&["test-plugins/probe.wasm"]);
    env.add_probe_tenant("acme");
    seed(&env, "acme");
    let events = env.kri_json(&["events", "--tenant", "acme", "--json"]);
    let ids: Vec<&str> = events
        .as_array()
        .expect("array")
        .iter()
        .map(|e| e["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, ["ev-1", "ev-2"], "newest first");
    let events = env.kri_json(&[
        "events",
        "--tenant",
        "acme",
        "--actor",
        "bob@acme.com",
        "--json",
    ]);
    assert_eq!(events.as_array().map(Vec::len), Some(1));
    assert_eq!(events[0]["event_type"], "user.account.privilege.grant");
    let events = env.kri_json(&[
        "events",
        "--tenant",
        "acme",
        "--type",
        "user.session.start",
        "--json",
    ]);
    assert_eq!(events[0]["id"], "ev-1");
    // ev-1 is 1 s before the seed's "now", ev-2 2 s before.
    let events = env.kri_json(&[
        "events",
        "--tenant",
        "acme",
        "--since",
        "2027-01-15T07:59:58.500Z",
        "--json",
    ]);
    assert_eq!(events.as_array().map(Vec::len), Some(1));
    assert_eq!(events[0]["id"], "ev-1");
    assert_eq!(events[0]["published"], "2027-01-15T07:59:59.000Z");
    let out = env.kri(&["events", "--tenant", "acme", "--since", "yesterday"]);
    assert!(
        stderr(&out).contains("expected a duration"),
        "{}",
        stderr(&out)
    );

    let alerts = env.kri_json(&["alerts", "--tenant", "acme", "--json"]);
    assert_eq!(alerts.as_array().map(Vec::len), Some(2));
    for field in [
        "id",
        "detection",
        "severity",
        "status",
        "entity",
        "first_seen",
        "last_seen",
        "evidence",
    ] {
        assert!(alerts[0].get(field).is_some(), "alert JSON lacks {field}");
    }
    assert_eq!(alerts[0]["evidence"], serde_json::json!(["ev-1"]));
    assert_eq!(alerts[0]["status"], "open");
    let critical = env.kri_json(&[
        "alerts",
        "--tenant",
        "acme",
        "--severity",
        "critical",
        "--json",
    ]);
    assert_eq!(critical.as_array().map(Vec::len), Some(1));
    let id = critical[0]["id"].to_string();
    let acked = env.kri_json(&["alert", "ack", &id, "--json"]);
    assert_eq!(acked["status"], "acknowledged");
    let open = env.kri_json(&["alerts", "--tenant", "acme", "--status", "open", "--json"]);
    assert_eq!(open.as_array().map(Vec::len), Some(1));
    let resolved = env.kri_json(&["alert", "resolve", &id, "--json"]);
    assert_eq!(resolved["status"], "resolved");
    let out = env.kri(&["alert", "ack", "424242"]);
    assert!(
        stderr(&out).contains("no alert with id 424242"),
        "{}",
        stderr(&out)
    );
    let out = env.kri(&["alerts", "--tenant", "acme", "--status", "closed"]);
    assert!(stderr(&out).contains("expected open, acknowledged or resolved"));
}
