//! Hostile connectors: each test runs the `probe` component in one attack mode and
//! asserts the exact outcome: the run ends with an error naming the quota and its
//! limit, or the host refuses the request and says which rule refused it. Nothing
//! of a failed run is committed, the token never leaks, and a good tenant's run
//! next to an attacker completes with correct outputs.

use std::collections::BTreeMap;

use kri_e2e::*;
use kri_host::{KriHost, RunOptions, RunOutcome};
use serde_json::{json, Value};

const SECRET: &str = "tok-SECRET-0a9b8c7d6e";

async fn attack(
    host: &KriHost,
    id: &str,
    base_url: &str,
    extra: Value,
    quotas: &[(&str, u64)],
) -> RunOutcome {
    let mut t = tenant(id, "probe", base_url, extra);
    t.quotas = quotas
        .iter()
        .map(|(k, v)| (k.to_string(), *v))
        .collect::<BTreeMap<_, _>>();
    host.add_tenant(t, &token(SECRET))
        .await
        .expect("add tenant");
    host.run("probe", id, RunOptions::default())
        .await
        .expect("run starts")
}

fn assert_failed_with(outcome: &RunOutcome, want: &str) {
    assert!(
        !outcome.succeeded,
        "expected failure `{want}`, run succeeded"
    );
    let err = outcome.error.as_deref().unwrap_or("");
    assert!(err.contains(want), "expected `{want}` in `{err}`");
    assert!(
        outcome.outputs.is_empty(),
        "nothing of a failed run is kept"
    );
}

/// The outcome string a probe attack reported in `probe_result`.
async fn reported(host: &KriHost, id: &str) -> String {
    host.latest_kris(id)
        .await
        .expect("kris")
        .into_iter()
        .find(|k| k.slug == "probe_result")
        .map(|k| k.details["outcome"].as_str().unwrap_or("").to_string())
        .unwrap_or_else(|| panic!("{id}: no probe_result"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resource_attacks_end_the_run_naming_the_quota() {
    let edge = EdgeServer::start().await;
    let env = TestEnv::new(&["test-plugins/probe.wasm"]);
    let host = env.host().await;
    let https = "https://acme.example.com";
    // (tenant, attack mode, quota overrides, expected error)
    type Case<'a> = (&'a str, &'a str, &'a [(&'a str, u64)], &'a str);
    let cases: &[Case] = &[
        (
            "loop",
            "infinite-loop",
            &[("cpu_ms", 300)],
            "quota exceeded: cpu_ms (limit 300)",
        ),
        (
            "wall",
            "infinite-loop",
            &[("wall_ms", 500), ("cpu_ms", 60_000)],
            "quota exceeded: wall_ms (limit 500)",
        ),
        (
            "bomb",
            "memory-bomb",
            &[("memory_bytes", 64 << 20)],
            "quota exceeded: memory_bytes (limit 67108864)",
        ),
        (
            "flood-out",
            "output-flood",
            &[("outputs", 1000)],
            "quota exceeded: outputs (limit 1000)",
        ),
        (
            "flood-keys",
            "state-flood",
            &[("state_keys", 500)],
            "quota exceeded: state_keys (limit 500)",
        ),
        (
            "flood-bytes",
            "state-flood",
            &[("state_bytes", 100_000)],
            "quota exceeded: state_bytes (limit 100000)",
        ),
        (
            "flood-log",
            "log-flood",
            &[("log_bytes", 10_000)],
            "quota exceeded: log_bytes (limit 10000)",
        ),
        (
            "flood-stderr",
            "stderr-flood",
            &[("log_bytes", 10_000)],
            "quota exceeded: log_bytes (limit 10000)",
        ),
    ];
    for (id, mode, quotas, want) in cases {
        let outcome = attack(&host, id, https, json!({ "mode": mode }), quotas).await;
        assert_failed_with(&outcome, want);
        if *id == "wall" {
            // A wall_ms stop says how to go on.
            assert_failed_with(&outcome, "`kri tenant update wall --quota wall_ms=1000`");
        }
        if *id == "bomb" {
            // A size quota says how to raise it; the memory the guest reached is
            // reported, and stayed within the quota.
            assert_failed_with(
                &outcome,
                "`kri tenant update bomb --quota memory_bytes=134217728`",
            );
            assert!(
                outcome.memory_peak_bytes > 32 << 20 && outcome.memory_peak_bytes <= 64 << 20,
                "{}",
                outcome.memory_peak_bytes
            );
        }
        if *id == "flood-log" {
            // A log flood is no tenant's size: no advice to raise the quota.
            let err = outcome.error.as_deref().unwrap_or("");
            assert!(!err.contains("kri tenant update"), "{err}");
        }
        assert!(host.latest_kris(id).await.expect("kris").is_empty());
        assert!(host
            .connector_state(id, "probe")
            .await
            .expect("state")
            .is_empty());
    }

    // Network-bound floods need a server that answers: the local edge server.
    let outcome = attack(
        &host,
        "million",
        &edge.base_url,
        json!({"mode": "million-requests"}),
        &[("http_requests", 50)],
    )
    .await;
    assert_failed_with(&outcome, "quota exceeded: http_requests (limit 50)");
    assert_eq!(outcome.stats.requests, 50, "exactly the quota was sent");

    for (id, path) in [("huge", "/huge"), ("huge-declared", "/huge-declared")] {
        let outcome = attack(
            &host,
            id,
            &edge.base_url,
            json!({"mode": "huge-response", "path": path}),
            &[("response_bytes", 4 << 20)],
        )
        .await;
        assert_failed_with(&outcome, "quota exceeded: response_bytes (limit 4194304)");
        assert!(
            outcome.stats.bytes <= 4 << 20,
            "read {} bytes",
            outcome.stats.bytes
        );
    }
    let outcome = attack(
        &host,
        "huge-total",
        &edge.base_url,
        json!({"mode": "huge-response", "path": "/huge"}),
        &[("total_bytes", 2 << 20)],
    )
    .await;
    assert_failed_with(&outcome, "quota exceeded: total_bytes (limit 2097152)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forbidden_requests_are_refused_with_the_rule_that_refused_them() {
    let edge = EdgeServer::start().await;
    let env = TestEnv::new(&["test-plugins/probe.wasm"]);
    let host = env.host().await;
    let https = "https://acme.example.com";
    let cases: &[(&str, &str, Value, &str)] = &[
        (
            "other-host",
            https,
            json!({"mode": "other-host"}),
            "evil.example.com",
        ),
        ("metadata", https, json!({"mode": "metadata"}), "denied:"),
        ("localhost", https, json!({"mode": "localhost"}), "denied:"),
        (
            "downgrade",
            https,
            json!({"mode": "http-downgrade", "url": "http://acme.example.com/api/v1/users"}),
            "denied:",
        ),
        (
            "guest-auth",
            https,
            json!({"mode": "guest-auth"}),
            "denied:",
        ),
        (
            "redirect",
            &edge.base_url,
            json!({"mode": "redirect-follow"}),
            "first 302, then denied:",
        ),
        (
            "env",
            https,
            json!({"mode": "env-files"}),
            "env 0, passwd unreadable, dir unlistable, tcp refused",
        ),
    ];
    for (id, base, extra, want) in cases {
        let outcome = attack(&host, id, base, extra.clone(), &[]).await;
        assert!(outcome.succeeded, "{id}: {:?}", outcome.error);
        let seen = reported(&host, id).await;
        assert!(seen.contains(want), "{id}: expected `{want}` in `{seen}`");
        if seen.starts_with("denied") {
            assert_eq!(outcome.stats.requests, 0, "{id}: nothing was sent");
            assert_eq!(outcome.denied_requests, 1, "{id}");
        }
    }
    // The reasons are specific.
    assert!(reported(&host, "guest-auth")
        .await
        .to_lowercase()
        .contains("authorization"));
    assert!(reported(&host, "downgrade")
        .await
        .to_lowercase()
        .contains("http"));
    // The redirect target was never contacted: only the first request was sent.
    let runs = host.runs("redirect", 1).await.expect("runs");
    assert_eq!(runs[0].requests, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_reaches_only_the_tenant_origin_and_never_the_store_or_logs() {
    let edge = EdgeServer::start().await;
    let env = TestEnv::new(&["test-plugins/probe.wasm"]);
    let host = env.host().await;
    let outcome = attack(
        &host,
        "echo",
        &edge.base_url,
        json!({"mode": "normal", "fetch": "/echo-auth"}),
        &[],
    )
    .await;
    assert!(outcome.succeeded, "{:?}", outcome.error);
    let kris = host.latest_kris("echo").await.expect("kris");
    let result = kris
        .iter()
        .find(|k| k.slug == "probe_result")
        .expect("result");
    let body = result.details["body"].as_str().expect("body");
    assert!(
        body.contains("Bearer [REDACTED]"),
        "the upstream saw the token, the guest saw it redacted: {body}"
    );
    let outcome_json = serde_json::to_string(&outcome).expect("json");
    assert!(!outcome_json.contains(SECRET));
    drop(host);

    // The raw database files hold the token only sealed.
    for entry in std::fs::read_dir(env.data_dir()).expect("data dir") {
        let path = entry.expect("entry").path();
        if path.is_file() {
            let bytes = std::fs::read(&path).expect("read");
            assert!(
                !bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()),
                "token found in {}",
                path.display()
            );
        }
    }
    // Nor do the CLI's outputs.
    for args in [
        vec!["kris", "--tenant", "echo", "--json"],
        vec!["runs", "--tenant", "echo", "--json"],
        vec!["tenant", "list", "--json"],
        vec!["run-connector", "probe", "--tenant", "echo", "--json"],
    ] {
        let out = env.kri(&args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        let all = format!("{}{}", stdout(&out), stderr(&out));
        assert!(!all.contains(SECRET), "{args:?} printed the token");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attacker_next_door_does_not_disturb_a_good_tenant() {
    let env = TestEnv::new(&["test-plugins/probe.wasm"]);
    let host = std::sync::Arc::new(env.host().await);
    let mut bad = tenant(
        "attacker",
        "probe",
        "https://evil.example.com",
        json!({"mode": "infinite-loop"}),
    );
    bad.quotas.insert("cpu_ms".into(), 3_000);
    host.add_tenant(bad, &token(SECRET)).await.expect("add");
    host.add_tenant(
        tenant(
            "good",
            "probe",
            "https://good.example.com",
            json!({"value": 3}),
        ),
        &token("tok-good-123"),
    )
    .await
    .expect("add");
    let jobs = vec![
        ("probe".to_string(), "attacker".to_string()),
        ("probe".to_string(), "good".to_string()),
    ];
    let results = host.run_many(&jobs, 2, RunOptions::default()).await;
    let attacker = results[0].as_ref().expect("attacker ran");
    let good = results[1].as_ref().expect("good ran");
    assert!(good.succeeded, "{:?}", good.error);
    assert!(
        good.duration_ms < attacker.duration_ms,
        "the good run finished while the attacker still spun: {} ms vs {} ms",
        good.duration_ms,
        attacker.duration_ms
    );
    assert_failed_with(attacker, "quota exceeded: cpu_ms (limit 3000)");
    let kris = host.latest_kris("good").await.expect("kris");
    let echo = kris.iter().find(|k| k.slug == "probe_echo").expect("echo");
    assert_eq!(echo.value, Some(3.0));
    assert!(host.latest_kris("attacker").await.expect("kris").is_empty());
    // State is per tenant: the good tenant's counter is its own.
    assert_eq!(
        host.connector_state("good", "probe")
            .await
            .expect("state")
            .get("runs"),
        Some(&b"1".to_vec())
    );
    // The host is still up: another run works.
    assert!(
        host.run("probe", "good", RunOptions::default())
            .await
            .expect("run")
            .succeeded
    );
}

#[test]
fn a_run_killed_mid_way_is_interrupted_and_loses_nothing() {
    let env = TestEnv::new(&["test-plugins/probe.wasm"]);
    env.add_tenant(
        "acme",
        "probe",
        "https://acme.example.com",
        SECRET,
        &["--quota", "cpu_ms=120000", "--quota", "wall_ms=120000"],
    );
    let first = env.kri(&["run-connector", "probe", "--tenant", "acme"]);
    assert!(first.status.success(), "{}", stderr(&first));
    let update = env.kri(&[
        "tenant",
        "update",
        "acme",
        "--extra",
        r#"{"mode":"infinite-loop"}"#,
    ]);
    assert!(update.status.success());

    // Wait until the run is recorded as running, then kill -9.
    let mut child = env.spawn_run_until_running("probe", "acme");
    child.kill().expect("kill -9");
    child.wait().expect("reap");

    let runs = env.kri(&["runs", "--tenant", "acme", "--json"]);
    let v: Value = serde_json::from_slice(&runs.stdout).expect("json");
    assert_eq!(v[0]["status"], "interrupted", "{v}");
    assert_eq!(v[1]["status"], "succeeded");
    let kris = env.kri(&["kris", "--tenant", "acme", "--json"]);
    let v: Value = serde_json::from_slice(&kris.stdout).expect("json");
    let runs_kri = v
        .as_array()
        .and_then(|a| a.iter().find(|k| k["slug"] == "probe_runs"))
        .expect("probe_runs");
    assert_eq!(runs_kri["value"], 1.0);
    // The state survived too: the next good run counts 2.
    let update = env.kri(&["tenant", "update", "acme", "--extra", "{}"]);
    assert!(update.status.success());
    let next = env.kri(&["run-connector", "probe", "--tenant", "acme", "--json"]);
    assert!(next.status.success(), "{}", stderr(&next));
    let v: Value = serde_json::from_slice(&next.stdout).expect("json");
    let count = v["outputs"]
        .as_array()
        .and_then(|a| a.iter().find(|o| o["slug"] == "probe_runs"))
        .map(|o| o["value"].clone());
    assert_eq!(count, Some(json!(2.0)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_flood_ends_on_state_keys_promptly() {
    let env = TestEnv::new(&["test-plugins/probe.wasm"]);
    let host = env.host().await;
    // The default 100,000 keys. Recounting the pending keys on every `state.set`
    // spent the CPU quota long before the key quota was reached.
    let outcome = attack(
        &host,
        "flood",
        "https://acme.example.com",
        json!({"mode": "state-flood"}),
        &[("cpu_ms", 10_000)],
    )
    .await;
    assert_failed_with(&outcome, "quota exceeded: state_keys (limit 100000)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_waiting_for_http_answers_is_not_charged_as_cpu() {
    let edge = EdgeServer::start().await;
    let env = TestEnv::new(&["test-plugins/probe.wasm"]);
    let host = env.host().await;
    // 100 sequential requests that each wait 30 ms for their answer: 3 s of
    // waiting, a few ms of CPU. Waiting used to be charged a tick per request.
    let outcome = attack(
        &host,
        "slow",
        &edge.base_url,
        json!({"mode": "requests", "count": 100, "path": "/slow"}),
        &[("cpu_ms", 300)],
    )
    .await;
    assert!(outcome.succeeded, "{:?}", outcome.error);
    let answered = outcome
        .outputs
        .iter()
        .find(|o| o.slug == "probe_result")
        .and_then(|o| o.value);
    assert_eq!(answered, Some(100.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_that_resets_after_the_wall_budget_fails_at_once_naming_the_429() {
    let edge = EdgeServer::start().await;
    let env = TestEnv::new(&["test-plugins/probe.wasm"]);
    let host = env.host().await;
    // The reset is an hour away and the run may take 20 s: waiting cannot help.
    let outcome = attack(
        &host,
        "limited",
        &edge.base_url,
        json!({"mode": "normal", "fetch": "/rate-limited"}),
        &[("wall_ms", 20_000)],
    )
    .await;
    assert!(
        outcome.succeeded,
        "the request fails, not the whole run by wall_ms: {:?}",
        outcome.error
    );
    let result = host
        .latest_kris("limited")
        .await
        .expect("kris")
        .into_iter()
        .find(|k| k.slug == "probe_result")
        .expect("probe_result");
    let error = result.details["error"].as_str().unwrap_or("").to_string();
    for want in [
        "quota: rate limited: HTTP 429 on `GET /rate-limited`",
        "window resets at ",
        "(in 360",
        "kri tenant update TENANT --quota wall_ms=",
    ] {
        assert!(error.contains(want), "expected `{want}` in `{error}`");
    }
    assert_eq!(
        outcome.stats.responses_429, 1,
        "no retry of a hopeless wait"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_output_flood_stops_at_the_default_outputs_quota() {
    // The default is large enough for a 10,000-user org's graph, and still a bound.
    let env = TestEnv::new(&["test-plugins/probe.wasm"]);
    let host = env.host().await;
    let limit = kri_policy::quota::Quotas::default().outputs;
    let outcome = attack(
        &host,
        "flood-default",
        "https://acme.example.com",
        json!({"mode": "output-flood"}),
        &[],
    )
    .await;
    assert_failed_with(
        &outcome,
        &format!("quota exceeded: outputs (limit {limit})"),
    );
    assert!(host
        .latest_kris("flood-default")
        .await
        .expect("kris")
        .is_empty());
}
