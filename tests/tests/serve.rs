//! End-to-end tests of `kri serve`: the scheduler over the real host with a test
//! clock, and the `kri serve` process itself: its HTTP API with auth and the
//! loopback rule, JSON equal to the CLI's, run-now taking a `--max-concurrent`
//! slot, `/metrics`, graceful shutdown on
//! SIGTERM, and hot reload of the plugin directory (new, changed, broken file).

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kri_e2e::*;
use kri_host::model::{Alert, EntityRef, RunKind, Severity};
use kri_host::serve::metrics::Metrics;
use kri_host::serve::scheduler::{Scheduler, SchedulerConfig, TestClock};
use kri_host::store::{RunCommit, RunStart, SqliteStore, Store};
use serde_json::{json, Value};

const KEY: &str = "test-api-key-0123456789";

/// Starts `kri serve` on a free loopback port with `KRI_API_KEY` = [`KEY`] and
/// waits until it listens.
fn serve(env: &TestEnv, extra: &[&str]) -> ServeProcess {
    let mut cmd = Command::new(kri_bin());
    cmd.env("KRI_DATA_DIR", env.data_dir())
        .env("KRI_PLUGINS", env.plugins_dir())
        .env("KRI_API_KEY", KEY)
        .env_remove("KRI_ENCRYPTION_KEY")
        .env("RUST_LOG", "warn,kri_host=info")
        .args(["serve", "--listen", "127.0.0.1:0", "--reload-seconds", "1"])
        .args(extra);
    ServeProcess::spawn(cmd, Duration::from_secs(120), |_| {}).expect("kri serve starts")
}

/// A blocking HTTP call: (status, body as JSON, or as a string when not JSON).
fn call(method: &str, url: &str, key: Option<&str>, body: Option<Value>) -> (u16, Value) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let client = reqwest::Client::new();
        let mut req = client.request(method.parse().expect("method"), url);
        if let Some(key) = key {
            req = req.header("authorization", format!("Bearer {key}"));
        }
        if let Some(body) = body {
            req = req
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let resp = req.send().await.expect("send");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    })
}

fn get(s: &ServeProcess, path: &str) -> (u16, Value) {
    call("GET", &s.url(path), Some(KEY), None)
}

fn post(s: &ServeProcess, path: &str, body: Value) -> (u16, Value) {
    call("POST", &s.url(path), Some(KEY), Some(body))
}

/// Adds tenant `id` of the probe connector through the API; `fetch` is a path of
/// the edge server the probe fetches on each run.
fn add_probe_tenant(s: &ServeProcess, id: &str, base_url: &str, fetch: &str) {
    // The runs these tests start are their own: the scheduler's first run of the
    // tenant comes after its jitter, minutes later.
    let jitter = kri_host::schedule::jitter_ms(id, "kris", 3_600_000);
    assert!(
        jitter > 240_000,
        "pick a tenant id whose first scheduled run is later"
    );
    let (status, body) = post(
        s,
        "/api/v1/tenants",
        json!({
            "id": id, "connector": "probe", "base_url": base_url,
            "token": "probe-token-secret-1", "allow_insecure_local": true,
            "extra": {"mode": "normal", "fetch": fetch},
        }),
    );
    assert_eq!(status, 201, "{body}");
}

/// Polls `f` every 100 ms until it is true, at most `within`.
fn wait_until(within: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn runs(s: &ServeProcess, tenant: &str) -> Vec<Value> {
    let (status, body) = get(s, &format!("/api/v1/tenants/{tenant}/runs"));
    assert_eq!(status, 200, "{body}");
    body.as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduler_runs_real_jobs_on_a_test_clock_and_a_missed_schedule_once() {
    let edge = EdgeServer::start().await;
    let env = TestEnv::new(&["test-plugins/probe.wasm"]);
    let host = Arc::new(env.host().await);
    host.add_tenant(
        tenant("acme", "probe", &edge.base_url, json!({"mode": "normal"})),
        &token("probe-token-secret-1"),
    )
    .await
    .expect("add");
    host.update_schedules("acme", &["kris=PT15M".to_string()])
        .await
        .expect("schedule");
    let t0 = 1_900_000_000_000;
    let clock = Arc::new(TestClock::new(t0));
    let scheduler = Scheduler::for_host(
        host.clone(),
        clock.clone(),
        SchedulerConfig::new("test"),
        Arc::new(Metrics::new()),
    );
    assert_eq!(
        scheduler.tick().await.expect("tick"),
        0,
        "first due after its jitter"
    );
    let schedule = host.schedules().await.expect("schedules").remove(0);
    assert_eq!(
        (schedule.job.as_str(), schedule.interval_ms),
        ("kris", 900_000)
    );
    clock.set(schedule.next_due_ms);
    assert_eq!(scheduler.tick().await.expect("tick"), 1);
    scheduler.wait_idle().await;
    let history = host.runs("acme", 10).await.expect("runs");
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].status.to_string(), "succeeded");
    // Five hours later (20 slots missed): one run, then nothing until the next slot.
    clock.advance(5 * 3_600_000);
    assert_eq!(scheduler.tick().await.expect("tick"), 1);
    scheduler.wait_idle().await;
    assert_eq!(scheduler.tick().await.expect("tick"), 0);
    assert_eq!(host.runs("acme", 10).await.expect("runs").len(), 2);
    let next = host
        .schedules()
        .await
        .expect("schedules")
        .remove(0)
        .next_due_ms;
    assert!(next > clock_now(&clock) && (next - schedule.next_due_ms) % 900_000 == 0);
}

fn clock_now(clock: &TestClock) -> i64 {
    use kri_host::serve::scheduler::Clock;
    clock.now_ms()
}

#[test]
fn tenant_schedules_are_set_checked_and_listed() {
    let env = TestEnv::new(&["test-plugins/minimal.wasm"]);
    env.add_tenant(
        "acme",
        "minimal",
        "https://acme.example.com",
        "tok-abcdef",
        &[],
    );
    let out = env.kri(&[
        "tenant",
        "update",
        "acme",
        "--schedule",
        "kris=P1D,inventory=PT30M",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let tenants = env.kri_json(&["tenant", "list", "--json"]);
    assert_eq!(
        tenants[0]["schedules"],
        json!({"kris": "P1D", "inventory": "PT30M"})
    );
    for (bad, says) in [
        ("kris=1d", "ISO-8601"),
        ("kris=P1M", "months"),
        ("logs=PT1M", "no job `logs`"),
        ("kris=PT1S", "shorter"),
    ] {
        let out = env.kri(&["tenant", "update", "acme", "--schedule", bad]);
        assert_eq!(out.status.code(), Some(2), "{bad}");
        assert!(stderr(&out).contains(says), "{bad}: {}", stderr(&out));
    }
    let out = env.kri(&["tenant", "update", "acme", "--schedule", "kris=default"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let tenants = env.kri_json(&["tenant", "list", "--json"]);
    assert_eq!(tenants[0]["schedules"], json!({"inventory": "PT30M"}));
}

#[test]
fn without_a_key_kri_serve_listens_on_loopback_only() {
    let env = TestEnv::new(&["test-plugins/probe.wasm"]);
    let out = env.kri(&["serve", "--listen", "0.0.0.0:0"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("without an API key") && err.contains("KRI_API_KEY"),
        "{err}"
    );
    let out = env.kri_with_env(&["serve", "--listen", "0.0.0.0:0"], &[("KRI_API_KEY", " ")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("API key is empty"),
        "{}",
        stderr(&out)
    );
}

/// Commits two alerts and a KRI for `tenant`, as a run would.
fn seed_alerts(env: &TestEnv, tenant: &str) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let store = SqliteStore::open_existing(&env.data_dir()).expect("store");
        let run_id = store
            .start_run(&RunStart {
                tenant_id: tenant.into(),
                connector: "probe".into(),
                job: "logs".into(),
                kind: RunKind::Run,
            })
            .await
            .expect("start");
        let alert = |key: &str, severity: Severity| Alert {
            detection: "okta.admin_privilege_granted".into(),
            severity,
            title: format!("alert {key}"),
            dedupe_key: key.into(),
            entity: EntityRef {
                id: "00u1".into(),
                kind: "user".into(),
                name: "ann@acme.com".into(),
            },
            evidence: vec!["ev-1".into()],
            seen_ms: 1_800_000_000_000,
            details: json!({"why": "test"}),
        };
        store
            .commit_run(RunCommit {
                run_id,
                tenant_id: tenant.into(),
                connector: "probe".into(),
                alerts: vec![alert("k1", Severity::High), alert("k2", Severity::Critical)],
                ..Default::default()
            })
            .await
            .expect("commit");
    });
}

#[test]
fn the_api_needs_the_key_manages_tenants_runs_now_and_matches_the_cli() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let edge = rt.block_on(EdgeServer::start());
    let env = TestEnv::new(&["test-plugins/probe.wasm"]);
    let s = serve(&env, &[]);

    // Auth: no key, a wrong key: 401 with {code, message, hint}.
    for key in [None, Some("wrong-key"), Some("test-api-key-012345678")] {
        let (status, body) = call("GET", &s.url("/api/v1/tenants"), key, None);
        assert_eq!(status, 401, "{key:?}");
        assert_eq!(body["code"], "unauthorized");
        assert!(
            body["hint"].as_str().unwrap_or("").contains("Bearer"),
            "{body}"
        );
    }
    let (status, _) = call("GET", &s.url("/metrics"), None, None);
    assert_eq!(status, 401);
    // The OpenAPI document is public, and every route it names exists.
    let (status, doc) = call("GET", &s.url("/api/v1/openapi.json"), None, None);
    assert_eq!(status, 200);
    for (path, ops) in doc["paths"].as_object().expect("paths") {
        for method in ops.as_object().expect("ops").keys() {
            if method == "parameters" {
                continue;
            }
            let url = s.url(&path.replace("{id}", "999"));
            let (_, body) = call(&method.to_uppercase(), &url, Some(KEY), Some(json!({})));
            assert_ne!(body["code"], "not_found", "{method} {path} is not served");
        }
    }
    let (status, body) = get(&s, "/api/v1/nothing-here");
    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")));

    // Tenants: add, list (never the token), update, errors.
    add_probe_tenant(&s, "acme", &edge.base_url, "/sleep/1500");
    let (status, list) = get(&s, "/api/v1/tenants");
    assert_eq!(status, 200);
    assert_eq!(list[0]["id"], "acme");
    assert!(!list.to_string().contains("probe-token-secret-1"), "{list}");
    let (status, body) = post(
        &s,
        "/api/v1/tenants",
        json!({"id": "acme", "connector": "probe", "base_url": edge.base_url, "token": "x-token-123", "allow_insecure_local": true}),
    );
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("tenant_exists"))
    );
    let (status, body) = call(
        "PATCH",
        &s.url("/api/v1/tenants/acme"),
        Some(KEY),
        Some(json!({"schedules": {"kris": "PT20M"}, "token": "probe-token-secret-2"})),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["schedules"], json!({"kris": "PT20M"}));
    assert!(!body.to_string().contains("probe-token-secret-2"));
    let (status, body) = call(
        "PATCH",
        &s.url("/api/v1/tenants/acme"),
        Some(KEY),
        Some(json!({"schedules": {"kris": "soon"}})),
    );
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("bad_request")),
        "{body}"
    );
    let (status, body) = get(&s, "/api/v1/tenants/nobody/kris");
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("unknown_tenant"))
    );

    // Run now: 202 running, then 409 while it runs; it succeeds.
    let (status, run) = post(&s, "/api/v1/tenants/acme/runs", json!({}));
    assert_eq!(status, 202, "{run}");
    assert_eq!(run["status"], "running");
    assert_eq!(run["job"], "kris");
    let (status, body) = post(&s, "/api/v1/tenants/acme/runs", json!({"job": "kris"}));
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("run_in_progress")),
        "{body}"
    );
    // A run started by hand against the same data is refused too.
    let out = env.kri(&[
        "run-connector",
        "probe",
        "--tenant",
        "acme",
        "--job",
        "kris",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("already running job `kris`"),
        "{}",
        stderr(&out)
    );
    wait_until(Duration::from_secs(30), "the run to finish", || {
        runs(&s, "acme")[0]["status"] == "succeeded"
    });

    // The same JSON as the CLI.
    seed_alerts(&env, "acme");
    let (status, kris) = get(&s, "/api/v1/tenants/acme/kris");
    assert_eq!(status, 200);
    assert_eq!(kris, env.kri_json(&["kris", "--tenant", "acme", "--json"]));
    assert!(kris.as_array().map_or(0, Vec::len) >= 2, "{kris}");
    let (_, alerts) = get(&s, "/api/v1/tenants/acme/alerts");
    assert_eq!(
        alerts,
        env.kri_json(&["alerts", "--tenant", "acme", "-o", "json"])
    );
    assert_eq!(alerts.as_array().map(Vec::len), Some(2));
    let (_, high) = get(&s, "/api/v1/tenants/acme/alerts?severity=high");
    assert_eq!(high.as_array().map(Vec::len), Some(1));
    let id = alerts[0]["id"].as_i64().expect("alert id");
    let (status, acked) = post(&s, &format!("/api/v1/alerts/{id}/ack"), json!({}));
    assert_eq!(
        (status, acked["status"].as_str()),
        (200, Some("acknowledged"))
    );
    let (status, resolved) = post(&s, &format!("/api/v1/alerts/{id}/resolve"), json!({}));
    assert_eq!(
        (status, resolved["status"].as_str()),
        (200, Some("resolved"))
    );
    let (_, open) = get(&s, "/api/v1/tenants/acme/alerts?status=open");
    assert_eq!(open.as_array().map(Vec::len), Some(1));
    let (status, history) = get(&s, "/api/v1/tenants/acme/kris/history?slug=probe_runs");
    assert_eq!(status, 200);
    assert_eq!(history[0]["value"], 1.0);
    let (status, rows) = post(
        &s,
        "/api/v1/tenants/acme/query",
        json!({"sql": "SELECT dedupe_key FROM alerts ORDER BY dedupe_key"}),
    );
    assert_eq!(status, 200, "{rows}");
    assert_eq!(
        rows["rows"],
        json!([{"dedupe_key": "k1"}, {"dedupe_key": "k2"}])
    );
    let (status, body) = post(
        &s,
        "/api/v1/tenants/acme/query",
        json!({"sql": "DELETE FROM alerts"}),
    );
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("query_refused"))
    );
    let (status, schedules) = get(&s, "/api/v1/schedules");
    assert_eq!(status, 200);
    wait_until(Duration::from_secs(10), "the tenant's schedule", || {
        get(&s, "/api/v1/schedules")
            .1
            .as_array()
            .is_some_and(|a| !a.is_empty())
    });
    let _ = schedules;

    // Metrics.
    let (status, text) = get(&s, "/metrics");
    assert_eq!(status, 200);
    let text = text.as_str().unwrap_or_default().to_string();
    for line in [
        "kri_runs_total{job=\"kris\",status=\"succeeded\"} 1",
        "kri_run_duration_seconds_count{job=\"kris\"} 1",
        "kri_upstream_requests_total{tenant=\"acme\",bucket=\"GET /sleep/{id}\"} 1",
        "kri_upstream_429_total{tenant=\"acme\",bucket=\"GET /sleep/{id}\"} 0",
        "kri_alerts_open{severity=\"critical\"} 1",
        "kri_scheduler_delay_seconds_count",
        "kri_plugins_rejected 0",
        "kri_api_requests_total{method=\"GET\",status=\"401\"}",
    ] {
        assert!(text.contains(line), "/metrics lacks {line}:\n{text}");
    }

    // Removing the tenant.
    let (status, _) = call("DELETE", &s.url("/api/v1/tenants/acme"), Some(KEY), None);
    assert_eq!(status, 204);
    let (_, list) = get(&s, "/api/v1/tenants");
    assert_eq!(list, json!([]));
}

#[test]
fn run_now_through_the_api_takes_one_of_the_max_concurrent_slots() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let edge = rt.block_on(EdgeServer::start());
    let env = TestEnv::new(&["test-plugins/probe.wasm"]);
    let s = serve(&env, &["--max-concurrent", "1"]);
    add_probe_tenant(&s, "acme", &edge.base_url, "/sleep/1500");
    let (status, body) = post(&s, "/api/v1/tenants/acme/runs", json!({}));
    assert_eq!(status, 202, "{body}");
    // The one slot is taken: refused before the run lease is even asked (no 409).
    let (status, body) = post(&s, "/api/v1/tenants/acme/runs", json!({}));
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["code"], "no_run_slot", "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or("")
            .contains("all 1 run slots"),
        "{body}"
    );
    wait_until(Duration::from_secs(30), "the run to finish", || {
        runs(&s, "acme").iter().all(|r| r["status"] != "running")
    });
    // Its slot is free again once the run has ended.
    wait_until(Duration::from_secs(10), "a free slot", || {
        post(&s, "/api/v1/tenants/acme/runs", json!({})).0 == 202
    });
    assert_eq!(runs(&s, "acme").len(), 2, "one refused, two started");
}

#[test]
fn sigterm_lets_a_run_finish_within_the_grace_period() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let edge = rt.block_on(EdgeServer::start());
    let env = TestEnv::new(&["test-plugins/probe.wasm"]);
    let mut s = serve(&env, &["--grace-seconds", "20"]);
    add_probe_tenant(&s, "acme", &edge.base_url, "/sleep/2000");
    let (status, _) = post(&s, "/api/v1/tenants/acme/runs", json!({}));
    assert_eq!(status, 202);
    let exit = s.terminate(Duration::from_secs(30));
    assert!(exit.success(), "{exit:?}: {}", s.log());
    let runs = env.kri_json(&["runs", "--tenant", "acme", "--json"]);
    assert_eq!(runs[0]["status"], "succeeded", "{runs}");
    assert!(
        s.log()
            .contains("1 run(s) finished during the grace period"),
        "{}",
        s.log()
    );
}

#[test]
fn sigterm_records_a_run_past_the_grace_period_as_interrupted_and_commits_nothing() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let edge = rt.block_on(EdgeServer::start());
    let env = TestEnv::new(&["test-plugins/probe.wasm"]);
    let mut s = serve(&env, &["--grace-seconds", "1"]);
    add_probe_tenant(&s, "acme", &edge.base_url, "/sleep/60000");
    let (status, _) = post(&s, "/api/v1/tenants/acme/runs", json!({}));
    assert_eq!(status, 202);
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    let exit = s.terminate(Duration::from_secs(20));
    assert!(exit.success(), "{exit:?}: {}", s.log());
    assert!(started.elapsed() < Duration::from_secs(15));
    let runs = env.kri_json(&["runs", "--tenant", "acme", "--json"]);
    assert_eq!(runs[0]["status"], "interrupted", "{runs}");
    assert!(
        runs[0]["error"].as_str().unwrap_or("").contains("SIGTERM"),
        "{runs}"
    );
    assert_eq!(
        env.kri_json(&["kris", "--tenant", "acme", "--json"]),
        json!([])
    );
    // Nothing is left leased: a run by hand goes ahead (and fails fast on nothing).
    let schedules = rt.block_on(async {
        let store = SqliteStore::open_existing(&env.data_dir()).expect("store");
        store.schedules().await.expect("schedules")
    });
    assert!(
        schedules.iter().all(|x| x.lease_owner.is_none()),
        "{schedules:?}"
    );
}

/// Appends a custom section to a component: the same connector in a changed file.
fn changed_copy(src: &std::path::Path, dst: &std::path::Path, note: &str) {
    let mut bytes = std::fs::read(src).expect("read component");
    let name = b"kri-test-note";
    let mut payload = vec![name.len() as u8];
    payload.extend_from_slice(name);
    payload.extend_from_slice(note.as_bytes());
    assert!(payload.len() < 128);
    bytes.push(0);
    bytes.push(payload.len() as u8);
    bytes.extend_from_slice(&payload);
    std::fs::write(dst, bytes).expect("write component");
}

fn plugin_status(s: &ServeProcess) -> Value {
    let (status, body) = get(s, "/api/v1/plugins");
    assert_eq!(status, 200);
    body
}

fn connector_names(status: &Value) -> Vec<String> {
    status["connectors"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| c["name"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn new_changed_and_broken_plugin_files_are_picked_up_without_a_restart() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let edge = rt.block_on(EdgeServer::start());
    let env = TestEnv::new(&["test-plugins/minimal.wasm"]);
    let s = serve(&env, &[]);
    assert_eq!(connector_names(&plugin_status(&s)), ["minimal"]);

    // New file.
    env.add_plugin("test-plugins/probe.wasm");
    wait_until(Duration::from_secs(60), "probe to be served", || {
        connector_names(&plugin_status(&s)).contains(&"probe".to_string())
    });
    add_probe_tenant(&s, "acme", &edge.base_url, "/sleep/3000");

    // A run in flight while the file changes, then breaks: it finishes on the
    // version it started with.
    let (status, _) = post(&s, "/api/v1/tenants/acme/runs", json!({}));
    assert_eq!(status, 202);
    let probe = env.plugins_dir().join("probe.wasm");
    let reloads = plugin_status(&s)["reloads"].as_u64().unwrap_or(0);
    changed_copy(&component("test-plugins/probe.wasm"), &probe, "v2");
    wait_until(
        Duration::from_secs(60),
        "the changed file to be reloaded",
        || plugin_status(&s)["reloads"].as_u64().unwrap_or(0) > reloads,
    );
    let after_change = plugin_status(&s);
    assert_eq!(after_change["rejected"], json!([]), "{after_change}");
    assert!(connector_names(&after_change).contains(&"probe".to_string()));

    std::fs::write(&probe, b"\0asm this is not a component").expect("break the file");
    wait_until(
        Duration::from_secs(60),
        "the broken file to be reported",
        || {
            plugin_status(&s)["rejected"]
                .as_array()
                .is_some_and(|r| !r.is_empty())
        },
    );
    let broken = plugin_status(&s);
    assert_eq!(
        broken["rejected"][0]["previous_version_serving"], "probe 0.1.0",
        "{broken}"
    );
    assert!(
        connector_names(&broken).contains(&"probe".to_string()),
        "previous version keeps serving"
    );
    assert!(
        s.log().contains("previous version keeps serving"),
        "{}",
        s.log()
    );
    let (_, metrics) = get(&s, "/metrics");
    assert!(
        metrics
            .as_str()
            .unwrap_or("")
            .contains("kri_plugins_rejected 1"),
        "{metrics}"
    );

    wait_until(Duration::from_secs(30), "the first run to finish", || {
        runs(&s, "acme")[0]["status"] == "succeeded"
    });
    // And the previous version still runs new runs.
    let (status, run) = post(&s, "/api/v1/tenants/acme/runs", json!({}));
    assert_eq!(status, 202, "{run}");
    wait_until(Duration::from_secs(30), "the second run to finish", || {
        let r = runs(&s, "acme");
        r.len() == 2 && r[0]["status"] == "succeeded"
    });
}
