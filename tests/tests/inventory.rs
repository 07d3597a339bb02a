//! End-to-end tests of the Okta `inventory` job (issue 9): the real `okta.wasm` in the
//! real host against okta-sim. The graph it lands (nodes, edges, `access_path`) and its
//! four KRIs are compared with the simulator's ground truth (`Org::graph_truth`,
//! computed from its structs) on several seeds: admin roles inherited through groups,
//! app access through groups, custom roles over resource sets, token owners. Then: an
//! incremental sync after a simulated day equals a full one, deletions leave the graph,
//! and a token that cannot read roles lands a partial graph with a clear reason.

use std::collections::{BTreeMap, BTreeSet};

use kri_e2e::*;
use kri_host::query::QueryLimits;
use kri_host::{KriHost, RunOutcome};
use okta_sim::{Family, FaultConfig, SimServer};
use serde_json::{json, Value};

const NOW: i64 = 1_795_400_000_000; // 2026-11-23T02:13:20Z
const TOKEN: &str = "00sim-token-for-inventory-tests";
const DAY: i64 = 86_400_000;
const GRAPH_KRIS: [&str; 4] = [
    "okta_admins_without_phishing_resistant_mfa",
    "okta_super_admin_count",
    "okta_api_tokens_at_risk",
    "okta_inactive_users_90d",
];

/// One access path as the tests compare them: identity id, action, resource id, path.
type PathRow = (String, String, String, Vec<String>);

async fn add(host: &KriHost, id: &str, sim: &SimServer, extra: Value) {
    host.add_tenant(tenant(id, "okta", &sim.base_url(), extra), &token(TOKEN))
        .await
        .expect("add tenant");
}

async fn rows(host: &KriHost, id: &str, sql: &str) -> Vec<serde_json::Map<String, Value>> {
    let limits = QueryLimits {
        max_rows: 1_000_000,
        ..QueryLimits::default()
    };
    host.query(id, sql, limits).await.expect("query").objects()
}

fn text(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_string)
}

fn json_col(v: &Value) -> Value {
    match v {
        Value::String(s) => serde_json::from_str(s).unwrap_or(Value::Null),
        other => other.clone(),
    }
}

async fn stored_paths(host: &KriHost, id: &str) -> BTreeSet<PathRow> {
    rows(
        host,
        id,
        "SELECT identity_id, action, resource_id, path FROM access_path",
    )
    .await
    .into_iter()
    .map(|r| {
        let path: Vec<String> = json_col(&r["path"])
            .as_array()
            .map(|a| a.iter().map(text).collect())
            .unwrap_or_default();
        (
            text(&r["identity_id"]),
            text(&r["action"]),
            text(&r["resource_id"]),
            path,
        )
    })
    .collect()
}

/// The access paths okta-sim's truth implies, in the vocabulary of `docs/graph.md`.
fn expected_paths(sim: &SimServer, now_ms: i64) -> BTreeSet<PathRow> {
    let org = sim.org();
    let org = org.read().expect("org lock");
    let truth = org.graph_truth(now_ms);
    let base = sim.base_url();
    let custom: BTreeMap<&str, &str> = org
        .custom_roles
        .iter()
        .map(|c| (c.id.as_str(), c.label.as_str()))
        .collect();
    let mut by_user: BTreeMap<String, Vec<(String, String, Vec<String>)>> = BTreeMap::new();
    for u in &truth.users {
        let mine = by_user.entry(u.user_id.clone()).or_default();
        for g in &u.groups {
            mine.push((
                "member".into(),
                g.clone(),
                vec![u.user_id.clone(), g.clone()],
            ));
        }
        for a in &u.apps_direct {
            mine.push(("USER".into(), a.clone(), vec![u.user_id.clone(), a.clone()]));
        }
        for (a, g) in &u.apps_via_group {
            mine.push((
                "GROUP".into(),
                a.clone(),
                vec![u.user_id.clone(), g.clone(), a.clone()],
            ));
        }
    }
    for a in &truth.admins {
        let action = match &a.custom_role_id {
            Some(c) => custom.get(c.as_str()).copied().unwrap_or("?").to_string(),
            None => a.role_type.to_string(),
        };
        let scopes = if a.scope.ids.is_empty() {
            vec![base.clone()]
        } else {
            a.scope.ids.clone()
        };
        for s in scopes {
            let mut path = vec![a.user_id.clone()];
            path.extend(a.via_group.iter().cloned());
            path.push(a.assignment_id.clone());
            path.push(s.clone());
            by_user
                .entry(a.user_id.clone())
                .or_default()
                .push((action.clone(), s, path));
        }
    }
    let mut out = BTreeSet::new();
    for (user, reach) in &by_user {
        for (action, resource, path) in reach {
            out.insert((user.clone(), action.clone(), resource.clone(), path.clone()));
        }
    }
    for t in &truth.tokens {
        for (action, resource, path) in by_user.get(&t.owner_id).into_iter().flatten() {
            let mut p = vec![t.id.clone()];
            p.extend(path.iter().cloned());
            out.insert((t.id.clone(), action.clone(), resource.clone(), p));
        }
    }
    out
}

fn graph_kris(outcome: &RunOutcome) -> BTreeMap<String, Option<f64>> {
    outcome
        .outputs
        .iter()
        .filter(|o| GRAPH_KRIS.contains(&o.slug.as_str()))
        .map(|o| (o.slug.clone(), o.value))
        .collect()
}

fn graph_truth_kris(sim: &SimServer, now_ms: i64) -> BTreeMap<String, Option<f64>> {
    let org = sim.org();
    let org = org.read().expect("org lock");
    org.graph_truth(now_ms)
        .by_slug()
        .into_iter()
        .map(|(k, v)| (k.to_string(), Some(v)))
        .collect()
}

/// Nodes as (id, kind, sub_kind, name, labels, properties) and edges as
/// (from, to, kind, properties), for comparing two tenants' graphs.
async fn graph(host: &KriHost, id: &str) -> (BTreeSet<Vec<String>>, BTreeSet<Vec<String>>) {
    let nodes = rows(
        host,
        id,
        "SELECT id, kind, sub_kind, name, labels, properties FROM nodes",
    )
    .await
    .into_iter()
    .map(|r| {
        ["id", "kind", "sub_kind", "name", "labels", "properties"]
            .iter()
            .map(|c| text(&r[*c]))
            .collect()
    })
    .collect();
    let edges = rows(
        host,
        id,
        "SELECT from_id, to_id, kind, properties FROM edges",
    )
    .await
    .into_iter()
    .map(|r| {
        ["from_id", "to_id", "kind", "properties"]
            .iter()
            .map(|c| text(&r[*c]))
            .collect()
    })
    .collect();
    (nodes, edges)
}

async fn count(host: &KriHost, id: &str, sql: &str) -> i64 {
    rows(host, id, sql).await[0]["n"].as_i64().unwrap_or(-1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_graph_and_its_kris_match_the_simulators_truth_on_several_seeds() {
    let env = TestEnv::new(&["plugins/okta.wasm"]);
    let host = env.host().await;
    for (seed, users) in [(3u64, 120usize), (11, 380), (42, 650)] {
        let sim = start_okta_sim(seed, users, NOW, TOKEN).await;
        let id = format!("inv-{seed}");
        add(&host, &id, &sim, json!({})).await;
        let outcome = run_okta_job(&host, &id, "inventory", NOW).await;
        assert!(
            outcome
                .stats
                .note
                .clone()
                .unwrap_or_default()
                .starts_with("full sync"),
            "{:?}",
            outcome.stats.note
        );
        let got = stored_paths(&host, &id).await;
        let want = expected_paths(&sim, NOW);
        let missing: Vec<_> = want.difference(&got).take(5).collect();
        let extra: Vec<_> = got.difference(&want).take(5).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "seed {seed}: missing {missing:?}, extra {extra:?}"
        );
        assert_eq!(
            graph_kris(&outcome),
            graph_truth_kris(&sim, NOW),
            "seed {seed}"
        );

        // What the test's truth covers is really there.
        let has = |pred: &dyn Fn(&PathRow) -> bool| got.iter().any(pred);
        assert!(
            has(&|r| r.1 == "GROUP"),
            "seed {seed}: app access through groups"
        );
        assert!(
            has(&|r| r.3.len() == 4 && r.3[2].starts_with("gra")),
            "seed {seed}: admin roles through a group"
        );
        assert!(
            has(&|r| r.3.last().is_some_and(|s| s.starts_with("iam"))),
            "seed {seed}: custom roles over resource sets"
        );
        assert!(
            has(&|r| r.0.starts_with("00T")),
            "seed {seed}: tokens reach what their owner reaches"
        );

        // Every node is labelled; the seed queries find them by label.
        let base = sim.base_url();
        let total = count(&host, &id, "SELECT count(*) AS n FROM nodes").await;
        let by_origin = count(
            &host,
            &id,
            r#"SELECT count(*) AS n FROM nodes WHERE labels @> '{"teleport.dev/origin": "okta"}'"#,
        )
        .await;
        let by_org = count(
            &host,
            &id,
            &format!(
                r#"SELECT count(*) AS n FROM nodes WHERE labels @> '{{"okta/org": "{base}"}}'"#
            ),
        )
        .await;
        assert!(total > users as i64);
        assert_eq!((by_origin, by_org), (total, total), "seed {seed}");
        let truth = {
            let org = sim.org();
            let org = org.read().expect("org lock");
            org.graph_truth(NOW)
        };
        let users_stored = count(
            &host,
            &id,
            "SELECT count(*) AS n FROM nodes WHERE kind = 'user'",
        )
        .await;
        assert_eq!(
            users_stored,
            truth.users.len() as i64,
            "seed {seed}: users in every status"
        );
        let owners = rows(&host, &id, "SELECT t.id AS token, e.from_id AS owner FROM nodes t JOIN edges e ON e.to_id = t.id AND e.kind = 'owns' WHERE t.kind = 'api_token'").await;
        let owners: BTreeSet<(String, String)> = owners
            .iter()
            .map(|r| (text(&r["token"]), text(&r["owner"])))
            .collect();
        let want_owners: BTreeSet<(String, String)> = truth
            .tokens
            .iter()
            .map(|t| (t.id.clone(), t.owner_id.clone()))
            .collect();
        assert_eq!(owners, want_owners, "seed {seed}: token owners");
        // Details of the token KRI name each token's conditions as the truth does.
        let risky = outcome
            .outputs
            .iter()
            .find(|o| o.slug == "okta_api_tokens_at_risk")
            .expect("tokens KRI");
        let named: BTreeMap<String, Value> = risky.details["tokens"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| (text(&t["id"]), t["risks"].clone()))
            .collect();
        for t in truth.tokens.iter().filter(|t| !t.risks.is_empty()) {
            assert_eq!(
                named.get(&t.id),
                Some(&json!(t.risks)),
                "seed {seed}: token {}",
                t.name
            );
        }
        sim.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mfa_summary_comes_from_the_kris_jobs_state_and_the_kris_stay_the_same() {
    let env = TestEnv::new(&["plugins/okta.wasm"]);
    let host = env.host().await;
    let sim = start_okta_sim(8, 300, NOW, TOKEN).await;
    add(&host, "mfa", &sim, json!({})).await;
    run_okta_job(&host, "mfa", "kris", NOW).await;
    let inv = run_okta_job(&host, "mfa", "inventory", NOW).await;
    assert_eq!(graph_kris(&inv), graph_truth_kris(&sim, NOW));
    let from_state = count(&host, "mfa", r#"SELECT count(*) AS n FROM nodes WHERE kind = 'user' AND properties @> '{"mfa": {"source": "kris_state"}}'"#).await;
    assert!(
        from_state > 100,
        "{from_state} users' MFA from the kris job's state"
    );
    // The seven KRIs of the kris job are still there, unchanged, beside the four.
    let stored = host.latest_kris("mfa").await.expect("kris");
    assert_eq!(stored.len(), 11);
    let org_truth = {
        let org = sim.org();
        let org = org.read().expect("org lock");
        org.ground_truth(NOW, None).by_slug()
    };
    for (slug, value) in org_truth {
        let row = stored.iter().find(|k| k.slug == slug).expect("old KRI");
        assert_eq!(row.value, value, "{slug}");
    }
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incremental_sync_after_a_day_equals_a_full_one() {
    let env = TestEnv::new(&["plugins/okta.wasm"]);
    let host = env.host().await;
    for seed in [5u64, 17] {
        let sim = start_okta_sim(seed, 400, NOW, TOKEN).await;
        let inc = format!("inc-{seed}");
        let full = format!("full-{seed}");
        add(&host, &inc, &sim, json!({"inventory_full_sync_hours": 72})).await;
        add(&host, &full, &sim, json!({})).await;
        // An existing admin is in a group before the first sync, and that group is made
        // a super admin on day 2: no membership event of the second sync's window names
        // the admin, so it must read the group's members (else the super admin count
        // is one short).
        let admins_group = {
            let org = sim.org();
            let mut org = org.write().expect("org lock");
            org.admin_joins_a_group_without_a_role()
                .expect("a group without a role for an admin to join")
        };
        let first = run_okta_job(&host, &inc, "inventory", NOW).await;
        // The guest's memory is reported.
        assert!(
            first.memory_peak_bytes > 1 << 20,
            "{}",
            first.memory_peak_bytes
        );
        // Two days, each followed by an incremental sync: the second starts from the
        // state the first left (its users, roles, app groups and their members).
        for day in 1..=2 {
            let changed = {
                let org = sim.org();
                let mut org = org.write().expect("org lock");
                let changed = org.advance(DAY, 0.03, seed + day);
                if day == 2 {
                    assert!(
                        org.grant_super_admin_to(&admins_group),
                        "seed {seed}: {admins_group} holds a role"
                    );
                }
                changed
            };
            assert!(!changed.is_empty());
            let later = NOW + day as i64 * DAY;
            let second = run_okta_job(&host, &inc, "inventory", later).await;
            let note = second.stats.note.clone().unwrap_or_default();
            assert!(note.starts_with("incremental sync"), "{note}");
            // okta-sim's days hold no assignment the kept group members cannot settle:
            // a member kept wrongly, or kept members that do not add up to a group's
            // count, would show here as reads.
            assert!(!note.contains("single app assignments"), "{note}");
            let reference = run_okta_job(&host, &full, "inventory", later).await;
            assert!(reference
                .stats
                .note
                .clone()
                .unwrap_or_default()
                .starts_with("full sync"));
            let (inc_nodes, inc_edges) = graph(&host, &inc).await;
            let (full_nodes, full_edges) = graph(&host, &full).await;
            let diff = |a: &BTreeSet<Vec<String>>, b: &BTreeSet<Vec<String>>| -> Vec<Vec<String>> {
                a.difference(b).take(3).cloned().collect()
            };
            let at = format!("seed {seed}, day {day}");
            assert_eq!(
                diff(&inc_nodes, &full_nodes),
                Vec::<Vec<String>>::new(),
                "{at}: nodes only the incremental has"
            );
            assert_eq!(
                diff(&full_nodes, &inc_nodes),
                Vec::<Vec<String>>::new(),
                "{at}: nodes only the full has"
            );
            assert_eq!(
                diff(&inc_edges, &full_edges),
                Vec::<Vec<String>>::new(),
                "{at}: edges only the incremental has"
            );
            assert_eq!(
                diff(&full_edges, &inc_edges),
                Vec::<Vec<String>>::new(),
                "{at}: edges only the full has"
            );
            let inc_paths = stored_paths(&host, &inc).await;
            assert_eq!(inc_paths, stored_paths(&host, &full).await, "{at}");
            assert_eq!(
                inc_paths,
                expected_paths(&sim, later),
                "{at}: truth after the day"
            );
            assert_eq!(graph_kris(&second), graph_kris(&reference), "{at}");
            assert_eq!(graph_kris(&second), graph_truth_kris(&sim, later), "{at}");
            assert!(
                second.stats.requests < first.stats.requests,
                "{at}: incremental {} vs full {}",
                second.stats.requests,
                first.stats.requests
            );
        }
        sim.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_that_cannot_read_roles_lands_the_graph_without_roles_and_says_why() {
    let env = TestEnv::new(&["plugins/okta.wasm"]);
    let host = env.host().await;
    let sim = start_okta_sim(4, 200, NOW, TOKEN).await;
    add(&host, "noroles", &sim, json!({})).await;
    // A first sync with roles, then the token loses them.
    run_okta_job(&host, "noroles", "inventory", NOW).await;
    assert!(
        count(
            &host,
            "noroles",
            "SELECT count(*) AS n FROM edges WHERE kind = 'holds_role'"
        )
        .await
            > 0
    );
    sim.set_faults(FaultConfig {
        forbidden: [Family::Iam].into_iter().collect(),
        ..FaultConfig::default()
    });
    let outcome = run_okta_job(&host, "noroles", "inventory", NOW + 60_000).await;
    let note = outcome.stats.note.clone().unwrap_or_default();
    assert!(
        note.contains("role assignments left out") && note.contains("okta.roles.read"),
        "{note}"
    );
    for kind in ["holds_role", "role_scope"] {
        let n = count(
            &host,
            "noroles",
            &format!("SELECT count(*) AS n FROM edges WHERE kind = '{kind}'"),
        )
        .await;
        assert_eq!(n, 0, "{kind}");
    }
    assert_eq!(
        count(
            &host,
            "noroles",
            "SELECT count(*) AS n FROM access_path WHERE action_type = 'admin_role'"
        )
        .await,
        0
    );
    // The rest of the graph landed.
    let want: BTreeSet<PathRow> = expected_paths(&sim, NOW)
        .into_iter()
        .filter(|r| ["member", "USER", "GROUP"].contains(&r.1.as_str()))
        .collect();
    assert_eq!(stored_paths(&host, "noroles").await, want);
    for o in &outcome.outputs {
        if o.slug == "okta_inactive_users_90d" {
            assert_eq!(o.value, graph_truth_kris(&sim, NOW)[&o.slug]);
        } else {
            assert_eq!(o.status, "not_evaluated", "{}", o.slug);
            let reason = o.reason.clone().unwrap_or_default();
            assert!(reason.contains("okta.roles.read"), "{}: {reason}", o.slug);
        }
    }
    assert_eq!(outcome.outputs.len(), 4);
    // `kri runs` says so too.
    let runs = host.runs("noroles", 1).await.expect("runs");
    assert!(runs[0]
        .note
        .clone()
        .unwrap_or_default()
        .contains("okta.roles.read"));
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_okta_no_longer_has_leaves_the_graph() {
    let env = TestEnv::new(&["plugins/okta.wasm"]);
    let host = env.host().await;
    let sim = start_okta_sim(9, 150, NOW, TOKEN).await;
    add(&host, "gone", &sim, json!({"inventory_full_sync_hours": 0})).await;
    run_okta_job(&host, "gone", "inventory", NOW).await;
    let (token, owner) = {
        let org = sim.org();
        let mut org = org.write().expect("org lock");
        let t = org
            .api_tokens
            .iter_mut()
            .find(|t| t.revoked_ms.is_none())
            .expect("a live token");
        t.revoked_ms = Some(NOW);
        (t.id.clone(), t.user_id.clone())
    };
    let before = count(
        &host,
        "gone",
        &format!("SELECT count(*) AS n FROM access_path WHERE identity_id = '{token}'"),
    )
    .await;
    let owner_paths = count(
        &host,
        "gone",
        &format!("SELECT count(*) AS n FROM access_path WHERE identity_id = '{owner}'"),
    )
    .await;
    assert_eq!(before, owner_paths);
    run_okta_job(&host, "gone", "inventory", NOW + 60_000).await;
    assert_eq!(
        count(
            &host,
            "gone",
            &format!("SELECT count(*) AS n FROM nodes WHERE id = '{token}'")
        )
        .await,
        0
    );
    assert_eq!(
        count(
            &host,
            "gone",
            &format!("SELECT count(*) AS n FROM edges WHERE to_id = '{token}'")
        )
        .await,
        0
    );
    assert_eq!(
        count(
            &host,
            "gone",
            &format!("SELECT count(*) AS n FROM access_path WHERE identity_id = '{token}'")
        )
        .await,
        0
    );
    sim.shutdown().await;
}

/// Each API token's last use as the graph's token nodes and `kri tokens` show it.
async fn token_last_uses(
    host: &KriHost,
    id: &str,
    now_ms: i64,
) -> BTreeMap<String, Option<String>> {
    let from_nodes: BTreeMap<String, Option<String>> = rows(
        host,
        id,
        "SELECT id, properties ->> 'last_used' AS last_used FROM nodes WHERE kind = 'api_token'",
    )
    .await
    .into_iter()
    .map(|r| (text(&r["id"]), r["last_used"].as_str().map(str::to_string)))
    .collect();
    let from_command: BTreeMap<String, Option<String>> = host
        .tokens(id, now_ms)
        .await
        .expect("kri tokens")
        .into_iter()
        .map(|t| (t.token_id, t.last_used))
        .collect();
    assert_eq!(from_nodes, from_command, "{id}: nodes and kri tokens agree");
    from_nodes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_tokens_last_use_comes_from_the_stored_system_log() {
    let env = TestEnv::new(&["plugins/okta.wasm"]);
    let host = env.host().await;
    let sim = start_okta_sim(29, 300, NOW, TOKEN).await;
    add(
        &host,
        "tok",
        &sim,
        json!({"log_pages_per_poll": 50, "inventory_full_sync_hours": 72}),
    )
    .await;
    // Uses the stream holds: from the logs job's first poll (the last 24 hours) on.
    let expected = |now_ms: i64, from_ms: i64| -> BTreeMap<String, Option<String>> {
        let org = sim.org();
        let org = org.read().expect("org lock");
        org.graph_truth(now_ms)
            .tokens
            .into_iter()
            .map(|t| {
                let used = t.last_used_ms.filter(|ms| *ms > from_ms);
                (t.id, used.map(okta_sim::time::format_ms))
            })
            .collect()
    };
    for day in 1..=2 {
        {
            let org = sim.org();
            let mut org = org.write().expect("org lock");
            org.advance(DAY, 0.05, 29 + day as u64);
        }
        let now = NOW + day * DAY;
        run_okta_job(&host, "tok", "logs", now).await;
        let run = run_okta_job(&host, "tok", "inventory", now).await;
        let note = run.stats.note.clone().unwrap_or_default();
        assert_eq!(
            note.starts_with("incremental sync"),
            day > 1,
            "day {day}: {note}"
        );
        let want = expected(now, NOW);
        assert!(
            want.values().any(Option::is_some),
            "day {day}: some token was used: {want:?}"
        );
        assert_eq!(token_last_uses(&host, "tok", now).await, want, "day {day}");
    }
    sim.shutdown().await;
}
