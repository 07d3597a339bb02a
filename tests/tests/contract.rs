//! End-to-end tests of the contract versions and jobs: a frozen 0.1.0 component
//! (`probe`) next to a 0.2.0 one (`minimal`, the smallest connector on the SDK), each
//! job of a connector with its own state, jobs of one tenant at the same time, and
//! `--job` on the CLI.

use kri_e2e::*;
use kri_host::model::OutputKind;
use kri_host::{KriHost, RunError, RunOptions};
use serde_json::{json, Value};

async fn latest(host: &KriHost, tenant: &str, slug: &str) -> Option<f64> {
    host.latest_kris(tenant)
        .await
        .expect("kris")
        .into_iter()
        .find(|k| k.slug == slug)
        .and_then(|k| k.value)
}

fn job(name: &str) -> RunOptions {
    RunOptions {
        job: Some(name.to_string()),
        ..RunOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_0_1_0_component_computes_its_kris_next_to_a_0_2_0_component() {
    let server = EdgeServer::start().await;
    let env = TestEnv::new(&["test-plugins/probe.wasm", "test-plugins/minimal.wasm"]);
    let host = env.host().await;
    let versions: Vec<(&str, &str)> = ["probe", "minimal"]
        .iter()
        .map(|n| (*n, host.registry().get(n).expect(n).manifest.contract))
        .collect();
    assert_eq!(versions, vec![("probe", "0.1.0"), ("minimal", "0.2.0")]);
    let probe = host.registry().get("probe").expect("probe");
    let jobs: Vec<&str> = probe
        .manifest
        .jobs
        .iter()
        .map(|j| j.name.as_str())
        .collect();
    assert_eq!(jobs, vec!["kris"], "a 0.1.0 connector is one job, kris");

    let t = tenant(
        "old",
        "probe",
        "https://old.example.com",
        json!({"value": 5}),
    );
    host.add_tenant(t, &token("tok-old-123"))
        .await
        .expect("add old");
    let t = tenant("new", "minimal", &server.base_url, json!({}));
    host.add_tenant(t, &token("tok-new-123"))
        .await
        .expect("add new");

    let (old, new) = tokio::join!(
        host.run("probe", "old", RunOptions::default()),
        host.run("minimal", "new", RunOptions::default()),
    );
    let (old, new) = (old.expect("probe runs"), new.expect("minimal runs"));
    assert!(old.succeeded, "{:?}", old.error);
    assert!(new.succeeded, "{:?}", new.error);
    assert_eq!((old.job.as_str(), new.job.as_str()), ("kris", "kris"));
    assert_eq!(latest(&host, "old", "probe_echo").await, Some(5.0));
    assert_eq!(latest(&host, "new", "minimal_items").await, Some(3.0));
    // Two pages, followed by the SDK's Link helper.
    assert_eq!(new.stats.requests, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_job_has_its_own_state_and_jobs_run_side_by_side() {
    let server = EdgeServer::start().await;
    let env = TestEnv::new(&["test-plugins/minimal.wasm"]);
    let host = env.host().await;
    let t = tenant("acme", "minimal", &server.base_url, json!({}));
    host.add_tenant(t, &token("tok-acme-123"))
        .await
        .expect("add");

    let inventory = host.run("minimal", "acme", job("inventory")).await;
    let inventory = inventory.expect("inventory runs");
    assert!(inventory.succeeded, "{:?}", inventory.error);
    assert_eq!(inventory.job, "inventory");
    assert_eq!(inventory.emitted.get(&OutputKind::Node), Some(&3));
    assert_eq!(inventory.stats.note.as_deref(), Some("inventory run 1"));

    let kris = host
        .run("minimal", "acme", job("kris"))
        .await
        .expect("kris");
    assert!(kris.succeeded, "{:?}", kris.error);
    assert_eq!(
        latest(&host, "acme", "minimal_runs").await,
        Some(1.0),
        "the inventory run does not count as a kris run"
    );

    // Both jobs at once: they share the tenant's pacer, and neither's state commit
    // touches the other's.
    let (a, b) = tokio::join!(
        host.run("minimal", "acme", job("kris")),
        host.run("minimal", "acme", job("inventory")),
    );
    let (a, b) = (a.expect("kris"), b.expect("inventory"));
    assert!(a.succeeded && b.succeeded, "{:?} {:?}", a.error, b.error);
    assert_ne!(a.run_id, b.run_id);
    assert_eq!(b.stats.note.as_deref(), Some("inventory run 2"));
    assert_eq!(latest(&host, "acme", "minimal_runs").await, Some(2.0));

    match host.run("minimal", "acme", job("nope")).await {
        Err(RunError::UnknownJob { job, known, .. }) => {
            assert_eq!(job, "nope");
            assert_eq!(known, "inventory, kris");
        }
        other => panic!("{:?}", other.map(|o| o.job)),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_runs_every_job_kris_last_or_the_one_named() {
    let server = EdgeServer::start().await;
    let env = TestEnv::new(&["test-plugins/minimal.wasm"]);
    env.add_tenant(
        "acme",
        "minimal",
        &server.base_url,
        "tok-cli-123",
        &["--allow-insecure-local"],
    );

    let out = env.kri(&["run-connector", "minimal", "--tenant", "acme", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["job"], "kris", "kris runs last and is the outcome");
    assert_eq!(v["other_jobs"][0]["job"], "inventory");
    assert_eq!(v["other_jobs"][0]["emitted"]["node"], 3);

    let out = env.kri(&[
        "run-connector",
        "minimal",
        "--tenant",
        "acme",
        "--job",
        "inventory",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("(job inventory)") && text.contains("3 nodes"),
        "{text}"
    );
    assert!(
        !text.contains("minimal_items"),
        "no KRI table after another job: {text}"
    );

    let out = env.kri(&[
        "run-connector",
        "minimal",
        "--tenant",
        "acme",
        "--job",
        "nope",
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("has no job `nope`"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_all_runs_every_job_of_every_tenant_or_the_one_named() {
    let server = EdgeServer::start().await;
    let env = TestEnv::new(&["test-plugins/minimal.wasm"]);
    for id in ["acme", "beta"] {
        env.add_tenant(
            id,
            "minimal",
            &server.base_url,
            "tok-cli-123",
            &["--allow-insecure-local"],
        );
    }

    let out = env.kri(&["run-all", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    let all = v.as_array().expect("array");
    assert_eq!(all.len(), 2, "{v}");
    for doc in all {
        assert_eq!(doc["outcome"]["job"], "kris", "kris runs last: {doc}");
        assert_eq!(doc["other_jobs"][0]["job"], "inventory", "{doc}");
        assert_eq!(doc["other_jobs"][0]["emitted"]["node"], 3, "{doc}");
    }

    // One row per job in the table, the job in the last column.
    let out = env.kri(&["run-all", "--job", "inventory", "-o", "csv"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("TENANT,CONNECTOR,STATUS,SECONDS,REQUESTS,ERROR,JOB")
    );
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 2, "{text}");
    assert!(rows.iter().all(|r| r.ends_with(",inventory")), "{text}");

    // `kri runs` names each run's job: 3 runs per tenant so far.
    let out = env.kri(&["runs", "--tenant", "acme", "-o", "csv"]);
    let text = stdout(&out);
    assert!(
        text.lines().next().is_some_and(|h| h.ends_with(",JOB")),
        "{text}"
    );
    let jobs: Vec<&str> = text
        .lines()
        .skip(1)
        .filter_map(|l| l.rsplit(',').next())
        .collect();
    assert_eq!(jobs, vec!["inventory", "kris", "inventory"], "{text}");
}
