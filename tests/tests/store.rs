//! End-to-end tests of the store as the CLI and the host use it: commands that only
//! read records leave the plugin directory alone, and the JSON the CLI prints keeps
//! its fields and words.

use kri_e2e::*;
use serde_json::Value;

#[test]
fn record_commands_neither_compile_nor_instantiate_plugins() {
    let env = TestEnv::new(&["test-plugins/probe.wasm"]);
    env.add_probe_tenant("acme");
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
    env.add_probe_tenant("acme");
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

fn run_probe(env: &TestEnv, tenant: &str) -> std::process::Output {
    env.kri(&["run-connector", "probe", "--tenant", tenant])
}

#[test]
fn a_lost_key_file_is_never_replaced_and_a_wrong_key_is_named() {
    let env = TestEnv::new(&["test-plugins/probe.wasm"]);
    env.add_probe_tenant("a");
    let key = env.data_dir().join("secret.key");
    let moved = env.dir.path().join("secret.key.moved");
    std::fs::rename(&key, &moved).expect("move the key away");

    let out = env.tenant_add("b", "probe", "https://b.example.com", "tok-bbbbbb", &[]);
    assert!(
        !out.status.success(),
        "tenant b must not be added with a new key"
    );
    let err = stderr(&out);
    assert!(
        err.contains("secret.key") && err.contains("KRI_ENCRYPTION_KEY"),
        "{err}"
    );
    assert!(err.contains("tenants a"), "{err}");
    assert!(!key.exists(), "no new key file was written");

    // Another key (from the environment) is named as the wrong one, and is not
    // used to seal a new tenant's token next to the old ones.
    let other_key = "11".repeat(32);
    let out = env.kri_with_env(
        &["run-connector", "probe", "--tenant", "a"],
        &[("KRI_ENCRYPTION_KEY", &other_key)],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("was sealed with key"),
        "{}",
        stderr(&out)
    );
    let out = env.tenant_add_with_env(
        "b",
        "probe",
        "https://b.example.com",
        "tok-bbbbbb",
        &[],
        &[("KRI_ENCRYPTION_KEY", &other_key)],
    );
    assert!(!out.status.success(), "one store, one key");
    assert!(
        stderr(&out).contains("was sealed with key"),
        "{}",
        stderr(&out)
    );

    std::fs::rename(&moved, &key).expect("restore the key");
    let out = run_probe(&env, "a");
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn an_empty_database_is_refused_and_run_all_fails() {
    let env = TestEnv::new(&["test-plugins/probe.wasm"]);
    std::fs::create_dir_all(env.data_dir()).expect("data dir");
    let db = env.data_dir().join("kri.db");
    std::fs::write(&db, b"").expect("empty kri.db");
    let out = env.kri(&["run-all"]);
    assert!(
        !out.status.success(),
        "run-all must not exit 0 on an empty kri.db"
    );
    assert!(stderr(&out).contains("empty"), "{}", stderr(&out));
    let out = env.tenant_add(
        "acme",
        "probe",
        "https://acme.example.com",
        "tok-abcdef",
        &[],
    );
    assert!(!out.status.success(), "tenant add must not re-create it");
    assert!(
        stderr(&out).contains("not a kri database"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::metadata(&db).expect("meta").len(), 0, "left alone");
}

#[cfg(unix)]
#[test]
fn the_cli_creates_a_private_data_directory_and_database() {
    use std::os::unix::fs::PermissionsExt;
    let env = TestEnv::new(&["test-plugins/probe.wasm"]);
    env.add_probe_tenant("acme");
    let mode =
        |p: &std::path::Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode(&env.data_dir()), 0o700);
    assert_eq!(mode(&env.data_dir().join("kri.db")), 0o600);
    for name in ["kri.db-wal", "kri.db-shm"] {
        let p = env.data_dir().join(name);
        if p.exists() {
            assert_eq!(mode(&p), 0o600, "{name}");
        }
    }
}

#[test]
fn a_second_run_of_a_job_is_refused_until_the_first_is_gone() {
    let env = TestEnv::new(&["test-plugins/probe.wasm"]);
    env.add_tenant(
        "acme",
        "probe",
        "https://acme.example.com",
        "tok-abcdef",
        &[
            "--quota",
            "cpu_ms=120000",
            "--quota",
            "wall_ms=120000",
            "--extra",
            r#"{"mode":"infinite-loop"}"#,
        ],
    );
    let mut child = env.spawn_run_until_running("probe", "acme");
    let second = run_probe(&env, "acme");
    let refused = !second.status.success();
    let message = stderr(&second);
    child.kill().expect("kill -9");
    child.wait().expect("reap");
    assert!(refused, "a second run of the same job must not start");
    assert!(message.contains("already running job `kris`"), "{message}");

    // The killed run's lease is taken over by the next run.
    let out = env.kri(&["tenant", "update", "acme", "--extra", "{}"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run_probe(&env, "acme");
    assert!(out.status.success(), "{}", stderr(&out));
    let runs = env.kri(&["runs", "--tenant", "acme", "--json"]);
    let v: Value = serde_json::from_slice(&runs.stdout).expect("json");
    assert_eq!(v[0]["status"], "succeeded");
    assert_eq!(v[1]["status"], "interrupted");
}
