//! End-to-end tests of the store as the CLI and the host use it: commands that only
//! read records leave the plugin directory alone, and the JSON the CLI prints keeps
//! its fields and words.

use kri_e2e::*;
use serde_json::Value;

fn add_probe_tenant(env: &TestEnv, id: &str) {
    let out = env.kri_with_env(
        &[
            "tenant",
            "add",
            id,
            "--connector",
            "probe",
            "--base-url",
            "https://acme.example.com",
            "--token-env",
            "T",
        ],
        &[("T", "tok-abcdef")],
    );
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn record_commands_neither_compile_nor_instantiate_plugins() {
    let env = TestEnv::new(&["test-plugins/probe.wasm"]);
    add_probe_tenant(&env, "acme");
    let out = env.kri(&["run-connector", "probe", "--tenant", "acme"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let cache = env.data_dir().join("cache");
    assert!(cache.exists(), "loading plugins fills the component cache");
    std::fs::remove_dir_all(&cache).expect("remove cache");
    // A plugin file that would be rejected if it were read at all.
    std::fs::write(env.plugins_dir().join("junk.wasm"), b"not wasm").expect("junk");

    for args in [
        &["tenant", "list"][..],
        &["tenant", "list", "--json"],
        &["kris", "--tenant", "acme"],
        &["runs", "--tenant", "acme", "--json"],
        &["tenant", "update", "acme", "--extra", "{}"],
    ] {
        let out = env.kri(args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        assert!(
            !stderr(&out).contains("junk.wasm"),
            "{args:?} read the plugin directory: {}",
            stderr(&out)
        );
        assert!(!cache.exists(), "{args:?} compiled a plugin");
    }
    let out = env.kri(&["tenant", "remove", "acme"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!cache.exists(), "tenant remove compiled a plugin");
}

#[test]
fn runs_and_kris_json_keep_their_fields_and_words() {
    let env = TestEnv::new(&["test-plugins/probe.wasm"]);
    add_probe_tenant(&env, "acme");
    let out = env.kri(&["run-connector", "probe", "--tenant", "acme", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let outcome: Value = serde_json::from_slice(&out.stdout).expect("json");
    let statuses: Vec<&str> = outcome["outputs"]
        .as_array()
        .expect("outputs")
        .iter()
        .filter_map(|o| o["status"].as_str())
        .collect();
    assert_eq!(statuses.len(), 2, "{outcome}");
    assert!(statuses
        .iter()
        .all(|s| ["ok", "warn", "breach", "not_evaluated"].contains(s)));

    let out = env.kri(&["runs", "--tenant", "acme", "--json"]);
    let runs: Value = serde_json::from_slice(&out.stdout).expect("json");
    let run = &runs[0];
    for key in [
        "id",
        "tenant_id",
        "connector",
        "kind",
        "status",
        "error",
        "started_at",
        "finished_at",
        "duration_ms",
        "requests",
        "responses_429",
        "bytes",
        "rows_written",
        "rows_skipped",
        "note",
    ] {
        assert!(run.get(key).is_some(), "{key} missing in {run}");
    }
    assert_eq!(run["kind"], "run");
    assert_eq!(run["status"], "succeeded");
    assert_eq!(run["job"], "kris", "runs name their job");

    let out = env.kri(&["kris", "--tenant", "acme", "--json"]);
    let kris: Value = serde_json::from_slice(&out.stdout).expect("json");
    for k in kris.as_array().expect("array") {
        let status = k["status"].as_str().unwrap_or("");
        assert!(
            ["ok", "warn", "breach", "not_evaluated"].contains(&status),
            "{k}"
        );
    }
}
