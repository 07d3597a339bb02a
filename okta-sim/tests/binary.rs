//! The `okta-sim` binary: prints exactly one "listening" line when ready, serves the org,
//! exits cleanly on SIGTERM and SIGINT, and `--ground-truth` (or `--graph-truth`) prints JSON
//! and exits.

mod common;

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_okta-sim");

async fn run_until_signal(signal: &str) {
    let mut child = Command::new(BIN)
        .args([
            "--seed",
            "9",
            "--users",
            "120",
            "--port",
            "0",
            "--token",
            "t0k",
            "--now",
            "2026-11-23T02:00:00Z",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn okta-sim");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .expect("ready in time")
        .expect("read line")
        .expect("a line");
    let base = line
        .strip_prefix("okta-sim listening on ")
        .expect("listening line")
        .to_string();
    assert!(base.starts_with("http://127.0.0.1:"), "{line}");

    let r = common::get(&format!("{base}/api/v1/users?limit=3"), Some("t0k")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json().as_array().map(Vec::len), Some(3));
    assert_eq!(
        common::get(&format!("{base}/api/v1/users"), Some("sim-token"))
            .await
            .status,
        401
    );

    let pid = child.id().expect("pid").to_string();
    let status = Command::new("kill")
        .args([signal, &pid])
        .status()
        .await
        .expect("kill");
    assert!(status.success());
    let exit = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("exits in time")
        .expect("wait");
    assert!(exit.success(), "{signal}: {exit:?}");
    // Nothing else on stdout.
    assert_eq!(lines.next_line().await.expect("read"), None);
}

#[tokio::test]
async fn serves_until_sigterm() {
    run_until_signal("-TERM").await;
}

#[tokio::test]
async fn serves_until_sigint() {
    run_until_signal("-INT").await;
}

#[tokio::test]
async fn ground_truth_flag_prints_json() {
    let mut child = Command::new(BIN)
        .args([
            "--seed",
            "42",
            "--users",
            "2000",
            "--now",
            "2026-11-23T02:00:00Z",
            "--ground-truth",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut out = String::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut out)
        .await
        .expect("read");
    assert!(child.wait().await.expect("wait").success());
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let org = okta_sim::Org::generate(&okta_sim::OrgSpec {
        seed: 42,
        users: 2000,
        now_ms: common::NOW_MS,
    });
    let truth = org.ground_truth(common::NOW_MS, None);
    assert_eq!(v["active_users"], truth.active_users);
    assert_eq!(
        v["mfa_adoption_pct"],
        serde_json::json!(truth.mfa_adoption_pct)
    );
    let by_slug = v["by_slug"].as_object().expect("by_slug");
    assert_eq!(by_slug.len(), 7);
    for (slug, value) in truth.by_slug() {
        assert_eq!(by_slug[slug], serde_json::json!(value), "{slug}");
    }
}

#[tokio::test]
async fn graph_truth_flag_prints_json() {
    let mut child = Command::new(BIN)
        .args([
            "--seed",
            "42",
            "--users",
            "300",
            "--now",
            "2026-11-23T02:00:00Z",
            "--graph-truth",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut out = String::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut out)
        .await
        .expect("read");
    assert!(child.wait().await.expect("wait").success());
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let org = okta_sim::Org::generate(&okta_sim::OrgSpec {
        seed: 42,
        users: 300,
        now_ms: common::NOW_MS,
    });
    let truth = org.graph_truth(common::NOW_MS);
    assert_eq!(v["users"].as_array().map(Vec::len), Some(truth.users.len()));
    assert_eq!(
        v["admins"].as_array().map(Vec::len),
        Some(truth.admins.len())
    );
    let by_slug = v["by_slug"].as_object().expect("by_slug");
    assert_eq!(by_slug.len(), 4);
    for (slug, value) in truth.by_slug() {
        assert_eq!(by_slug[slug], serde_json::json!(value), "{slug}");
    }
}
