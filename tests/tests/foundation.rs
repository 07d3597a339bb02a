//! End-to-end tests of the foundation: a real component driven through the host,
//! outputs persisted, state carried between runs, failed runs leaving earlier
//! values untouched, the component cache, junk in the plugin directory, and the
//! CLI's answers to bad input.

use kri_e2e::*;
use kri_host::engine::LoadSource;
use kri_host::{KriHost, PluginError, RunOptions};
use serde_json::json;

async fn latest(host: &KriHost, tenant: &str, slug: &str) -> Option<(f64, i64)> {
    host.latest_kris(tenant)
        .await
        .expect("kris")
        .into_iter()
        .find(|k| k.slug == slug)
        .and_then(|k| k.value.map(|v| (v, k.run_id)))
}

async fn run(host: &KriHost, tenant: &str) -> kri_host::RunOutcome {
    host.run("probe", tenant, RunOptions::default())
        .await
        .expect("run starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outputs_persist_and_state_survives_into_the_next_run() {
    let env = TestEnv::new(&["test-plugins/probe.wasm"]);
    let host = env.host().await;
    host.add_tenant(
        tenant(
            "acme",
            "probe",
            "https://acme.example.com",
            json!({"value": 7}),
        ),
        &token("tok-123456"),
    )
    .await
    .expect("add tenant");
    let now = 1_795_400_000_000;
    let first = host
        .run(
            "probe",
            "acme",
            RunOptions {
                now_ms: Some(now),
                progress: None,
                job: None,
            },
        )
        .await
        .expect("run");
    assert!(first.succeeded, "{:?}", first.error);
    assert_eq!(
        latest(&host, "acme", "probe_runs").await.map(|v| v.0),
        Some(1.0)
    );
    let kris = host.latest_kris("acme").await.expect("kris");
    let echo = kris.iter().find(|k| k.slug == "probe_echo").expect("echo");
    assert_eq!(echo.value, Some(7.0));
    assert_eq!(
        echo.details["now_ms"],
        json!(now),
        "the pinned clock reaches the guest"
    );
    assert_eq!(echo.status, "ok", "7 is under the warn threshold 10");

    // A second host process over the same data directory sees the committed state.
    drop(host);
    let host = env.host().await;
    let second = run(&host, "acme").await;
    assert!(second.succeeded);
    assert_eq!(
        latest(&host, "acme", "probe_runs").await.map(|v| v.0),
        Some(2.0)
    );
    let runs = host.runs("acme", 10).await.expect("runs");
    assert_eq!(runs.len(), 2);
    assert!(runs
        .iter()
        .all(|r| r.status == "succeeded" && r.rows_written == 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_or_trapping_runs_leave_values_and_state_untouched() {
    let env = TestEnv::new(&["test-plugins/probe.wasm"]);
    let host = env.host().await;
    host.add_tenant(
        tenant("acme", "probe", "https://acme.example.com", json!({})),
        &token("tok-123456"),
    )
    .await
    .expect("add tenant");
    let good = run(&host, "acme").await;
    assert!(good.succeeded);
    let before = latest(&host, "acme", "probe_runs").await.expect("value");
    assert_eq!(before.0, 1.0);

    for (mode, expected_error) in [
        ("fail", "upstream error: planned failure"),
        ("trap", "planned trap in the middle of a run"),
    ] {
        host.set_tenant_extra("acme", &json!({ "mode": mode }))
            .await
            .expect("update");
        let bad = run(&host, "acme").await;
        assert!(!bad.succeeded, "{mode} must fail");
        let err = bad.error.clone().unwrap_or_default();
        assert!(err.contains(expected_error), "{mode}: {err}");
        assert_eq!(
            latest(&host, "acme", "probe_runs").await,
            Some(before),
            "{mode}: the value and its run are unchanged"
        );
        let runs = host.runs("acme", 1).await.expect("runs");
        assert_eq!(runs[0].status, "failed");
        assert_eq!(runs[0].rows_written, 0);
        assert!(runs[0]
            .error
            .as_deref()
            .unwrap_or("")
            .contains(expected_error));
    }

    // The state the failed runs wrote was never committed: the counter goes 1 -> 2.
    host.set_tenant_extra("acme", &json!({}))
        .await
        .expect("update");
    assert!(run(&host, "acme").await.succeeded);
    assert_eq!(
        latest(&host, "acme", "probe_runs").await.map(|v| v.0),
        Some(2.0)
    );
}

/// Appends a custom section, which changes the file but not what it does.
fn touch_component(path: &std::path::Path) {
    let mut bytes = std::fs::read(path).expect("read");
    let name = b"kri-test";
    let payload = b"changed";
    bytes.push(0); // custom section id
    bytes.push((1 + name.len() + payload.len()) as u8);
    bytes.push(name.len() as u8);
    bytes.extend_from_slice(name);
    bytes.extend_from_slice(payload);
    std::fs::write(path, bytes).expect("write");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unchanged_components_load_from_the_cache_and_changed_ones_recompile() {
    let env = TestEnv::new(&["test-plugins/probe.wasm"]);
    let source = |host: &KriHost| host.registry().get("probe").expect("probe").source;

    let host = env.host().await;
    assert_eq!(source(&host), LoadSource::Compiled, "first load compiles");
    drop(host);

    let host = env.host().await;
    assert_eq!(
        source(&host),
        LoadSource::Cache,
        "unchanged file comes from the cache"
    );
    drop(host);

    touch_component(&env.plugins_dir().join("probe.wasm"));
    let host = env.host().await;
    assert_eq!(
        source(&host),
        LoadSource::Compiled,
        "a changed file is recompiled"
    );
    host.add_tenant(
        tenant("acme", "probe", "https://acme.example.com", json!({})),
        &token("tok-123456"),
    )
    .await
    .expect("add");
    assert!(
        run(&host, "acme").await.succeeded,
        "the changed file still runs"
    );
    drop(host);

    let host = env.host().await;
    assert_eq!(source(&host), LoadSource::Cache);
    let cached = std::fs::read_dir(env.data_dir().join("cache/components"))
        .expect("cache dir")
        .count();
    assert_eq!(cached, 2, "one cache entry per distinct file");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junk_in_the_plugin_directory_is_reported_and_the_good_plugin_served() {
    let env = TestEnv::new(&["test-plugins/probe.wasm", "test-plugins/bad-describe.wasm"]);
    let dir = env.plugins_dir();
    std::fs::write(
        dir.join("random.wasm"),
        [0x13u8, 0x37, 0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 3],
    )
    .expect("write");
    std::fs::write(
        dir.join("core.wasm"),
        wat::parse_str("(module)").expect("wat"),
    )
    .expect("write");
    std::fs::write(
        dir.join("other-world.wasm"),
        wat::parse_str("(component (core module) )").expect("wat"),
    )
    .expect("write");
    std::fs::create_dir(dir.join("a-directory.wasm")).expect("mkdir");
    std::os::unix::fs::symlink("/nonexistent/target.wasm", dir.join("dangling.wasm"))
        .expect("symlink");
    std::fs::write(dir.join("notes.txt"), "not a plugin, not even looked at").expect("write");

    let host = env.host().await;
    let reg = host.registry();
    assert_eq!(reg.plugins.keys().collect::<Vec<_>>(), vec!["probe"]);
    let reason = |file: &str| -> PluginError {
        reg.rejected
            .iter()
            .find(|r| r.path.file_name().and_then(|n| n.to_str()) == Some(file))
            .unwrap_or_else(|| panic!("{file} not reported: {:?}", reg.rejected))
            .error
            .clone()
    };
    assert_eq!(reason("random.wasm"), PluginError::NotWasm);
    assert_eq!(reason("core.wasm"), PluginError::CoreModule);
    assert!(matches!(
        reason("other-world.wasm"),
        PluginError::WrongWorld(_)
    ));
    assert!(matches!(
        reason("a-directory.wasm"),
        PluginError::Unreadable(_)
    ));
    assert!(matches!(
        reason("dangling.wasm"),
        PluginError::Unreadable(_)
    ));
    match reason("bad-describe.wasm") {
        PluginError::DescribeFailed(why) => {
            assert!(why.contains("describe is broken on purpose"), "{why}")
        }
        other => panic!("bad-describe: {other:?}"),
    }
    assert_eq!(reg.rejected.len(), 6, "{:?}", reg.rejected);
    for r in &reg.rejected {
        assert!(!r.error.to_string().contains('\n'), "one line: {}", r.error);
    }

    // The CLI lists the same, and still serves the good one.
    let out = env.kri(&["connectors"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("probe"));
    let err = stderr(&out);
    for file in [
        "random.wasm",
        "core.wasm",
        "other-world.wasm",
        "bad-describe.wasm",
    ] {
        assert!(err.contains(file), "{file} missing from: {err}");
    }
}

#[test]
fn cli_bad_input_gets_clear_errors_and_changes_nothing() {
    let env = TestEnv::new(&["test-plugins/probe.wasm"]);

    // A wrong --data-dir: an error, and the directory is not created.
    let missing = env.dir.path().join("no-such-dir");
    let out = env.kri(&[
        "--data-dir",
        missing.to_str().expect("utf8"),
        "kris",
        "--tenant",
        "acme",
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--data-dir"), "{}", stderr(&out));
    assert!(!missing.exists(), "a wrong --data-dir must not be created");

    let add = |args: &[&str]| {
        let mut all = vec!["tenant", "add"];
        all.extend_from_slice(args);
        env.kri_with_env(&all, &[("ACME_TOKEN", "tok-123456")])
    };
    let out = add(&[
        "acme",
        "--connector",
        "probe",
        "--base-url",
        "https://acme.example.com",
        "--token-env",
        "ACME_TOKEN",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));

    let db = env.data_dir().join("kri.db");
    let snapshot = || std::fs::read(&db).expect("db");
    let before = snapshot();
    let cases: &[(&[&str], &str)] = &[
        (
            &[
                "beta",
                "--connector",
                "nope",
                "--base-url",
                "https://b.example.com",
                "--token-env",
                "ACME_TOKEN",
            ],
            "unknown connector `nope`",
        ),
        (
            &[
                "beta",
                "--connector",
                "probe",
                "--base-url",
                "https://b.example.com",
                "--token-env",
                "ACME_TOKEN",
                "--extra",
                "{not json",
            ],
            "--extra is not valid JSON",
        ),
        (
            &[
                "beta",
                "--connector",
                "probe",
                "--base-url",
                "https://b.example.com",
                "--token-env",
                "ACME_TOKEN",
                "--extra",
                "[1]",
            ],
            "--extra must be a JSON object",
        ),
        (
            &[
                "beta",
                "--connector",
                "probe",
                "--base-url",
                "http://b.example.com",
                "--token-env",
                "ACME_TOKEN",
            ],
            "not https",
        ),
        (
            &[
                "beta",
                "--connector",
                "probe",
                "--base-url",
                "https://b.example.com",
                "--token-env",
                "UNSET_VAR_XYZ",
            ],
            "UNSET_VAR_XYZ is not set",
        ),
        (
            &[
                "beta",
                "--connector",
                "probe",
                "--base-url",
                "https://b.example.com",
                "--token-env",
                "ACME_TOKEN",
                "--kris",
                "nope",
            ],
            "`nope` is not a KRI",
        ),
        (
            &[
                "acme",
                "--connector",
                "probe",
                "--base-url",
                "https://acme.example.com",
                "--token-env",
                "ACME_TOKEN",
            ],
            "already exists",
        ),
    ];
    for (args, want) in cases {
        let out = add(args);
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(stderr(&out).contains(want), "{args:?}: {}", stderr(&out));
    }
    for (args, want) in [
        (vec!["kris", "--tenant", "ghost"], "unknown tenant `ghost`"),
        (vec!["runs", "--tenant", "ghost"], "unknown tenant `ghost`"),
        (
            vec!["run-connector", "probe", "--tenant", "ghost"],
            "unknown tenant `ghost`",
        ),
        (
            vec!["run-connector", "nope", "--tenant", "acme"],
            "not `nope`",
        ),
        (vec!["tenant", "remove", "ghost"], "unknown tenant `ghost`"),
        (
            vec!["tenant", "update", "acme", "--extra", "{bad"],
            "not valid JSON",
        ),
    ] {
        let out = env.kri(&args);
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(stderr(&out).contains(want), "{args:?}: {}", stderr(&out));
    }
    let list = env.kri(&["tenant", "list", "--json"]);
    let tenants: serde_json::Value = serde_json::from_slice(&list.stdout).expect("json");
    assert_eq!(tenants.as_array().map(|a| a.len()), Some(1));
    assert_eq!(before.len(), snapshot().len());
    let runs = env.kri(&["runs", "--tenant", "acme", "--json"]);
    assert_eq!(
        stdout(&runs).trim(),
        "[]",
        "no run was recorded by the failed commands"
    );
}

#[test]
fn cli_runs_a_connector_and_prints_kris_as_json() {
    let env = TestEnv::new(&["test-plugins/probe.wasm"]);
    env.add_probe_tenant("acme");
    let out = env.kri(&["run-connector", "probe", "--tenant", "acme"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("probe_runs"));
    let out = env.kri(&["kris", "--tenant", "acme", "--json"]);
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let rows = rows.as_array().expect("array");
    assert_eq!(rows.len(), 2);
    for row in rows {
        for key in [
            "slug",
            "value",
            "status",
            "numerator",
            "denominator",
            "details",
            "computed_at",
        ] {
            assert!(row.get(key).is_some(), "{key} missing in {row}");
        }
    }
    let out = env.kri(&["tenant", "update", "acme", "--extra", r#"{"mode":"fail"}"#]);
    assert!(out.status.success());
    let out = env.kri(&["run-connector", "probe", "--tenant", "acme"]);
    assert_eq!(out.status.code(), Some(1), "a failed run exits non-zero");
    assert!(stderr(&out).contains("planned failure"), "{}", stderr(&out));
    let out = env.kri(&["runs", "--tenant", "acme", "--json"]);
    let runs: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(runs[0]["status"], "failed");
    assert_eq!(runs[1]["status"], "succeeded");
}

#[test]
fn cli_run_all_runs_every_tenant_and_fails_when_one_fails() {
    let env = TestEnv::new(&["test-plugins/probe.wasm"]);
    for (id, extra) in [
        ("a", "{}"),
        ("b", r#"{"value": 3}"#),
        ("c", r#"{"mode":"fail"}"#),
    ] {
        let base = format!("https://{id}.example.com");
        env.add_tenant(id, "probe", &base, "tok-abcdef", &["--extra", extra]);
    }
    let out = env.kri(&["run-all", "--parallel", "3", "--json"]);
    assert_eq!(out.status.code(), Some(1), "one tenant failed");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let status = |i: usize| v[i]["outcome"]["succeeded"].as_bool();
    assert_eq!(
        (status(0), status(1), status(2)),
        (Some(true), Some(true), Some(false))
    );
    let out = env.kri(&["kris", "--tenant", "b", "--json"]);
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let echo = rows
        .as_array()
        .and_then(|a| a.iter().find(|r| r["slug"] == "probe_echo"))
        .expect("echo");
    assert_eq!(echo["value"], 3.0);
}

/// Runs the `kri` binary, killing it if it has not finished after `secs` seconds
/// (then the test fails: a command that never ends is the bug).
fn kri_or_hang(
    env: &TestEnv,
    args: &[&str],
    envs: &[(&str, &str)],
    secs: u64,
) -> std::process::Output {
    let mut cmd = std::process::Command::new(kri_bin());
    cmd.env("KRI_DATA_DIR", env.data_dir())
        .env("KRI_PLUGINS", env.plugins_dir())
        .env_remove("KRI_ENCRYPTION_KEY")
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn kri");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while child.try_wait().expect("wait").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`kri {}` did not finish in {secs} s", args.join(" "));
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.wait_with_output().expect("output")
}

/// The rejected files of `kri connectors --json`, as (file name, reason).
fn rejected_by_cli(out: &std::process::Output) -> Vec<(String, String)> {
    assert!(out.status.success(), "{}", stderr(out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    v["rejected"]
        .as_array()
        .expect("rejected")
        .iter()
        .map(|r| {
            let path = std::path::PathBuf::from(r["path"].as_str().unwrap_or(""));
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            (name, r["error"].as_str().unwrap_or("").to_string())
        })
        .collect()
}

#[test]
fn plugin_files_that_never_end_are_rejected_without_reading_them() {
    let env = TestEnv::new(&["test-plugins/probe.wasm"]);
    let dir = env.plugins_dir();
    let fifo = dir.join("f.wasm");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo");
    assert!(made.success(), "mkfifo failed");
    std::os::unix::fs::symlink("/dev/zero", dir.join("z.wasm")).expect("symlink");
    std::os::unix::fs::symlink(&fifo, dir.join("to-fifo.wasm")).expect("symlink");

    // Before the fix, the FIFO hung every command and /dev/zero ate the memory.
    let out = kri_or_hang(&env, &["connectors", "--json"], &[], 60);
    let rejected = rejected_by_cli(&out);
    let reason = |file: &str| -> String {
        rejected
            .iter()
            .find(|(n, _)| n == file)
            .unwrap_or_else(|| panic!("{file} not reported: {rejected:?}"))
            .1
            .clone()
    };
    assert!(reason("f.wasm").starts_with("cannot read file: a FIFO, not a regular file"));
    assert!(reason("to-fifo.wasm").starts_with("cannot read file: a FIFO, not a regular file"));
    assert!(
        reason("z.wasm").starts_with("cannot read file: a character device, not a regular file")
    );
    assert_eq!(rejected.len(), 3, "{rejected:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["connectors"][0]["manifest"]["name"], "probe");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugin_files_over_the_size_limit_are_rejected() {
    let env = TestEnv::new(&["test-plugins/probe.wasm"]);
    let size = std::fs::metadata(env.plugins_dir().join("probe.wasm"))
        .expect("probe")
        .len();
    let mut config = env.config();
    config.max_plugin_bytes = size - 1;
    let host = KriHost::open(config, true).await.expect("open");
    assert!(host.registry().plugins.is_empty());
    assert_eq!(
        host.registry().rejected[0].error,
        PluginError::TooLarge {
            size,
            max: size - 1
        }
    );

    let limit = (size - 1).to_string();
    for (args, envs) in [
        (
            vec!["connectors", "--json", "--max-plugin-bytes", limit.as_str()],
            vec![],
        ),
        (
            vec!["connectors", "--json"],
            vec![("KRI_MAX_PLUGIN_BYTES", limit.as_str())],
        ),
    ] {
        let out = env.kri_with_env(&args, &envs);
        let rejected = rejected_by_cli(&out);
        assert_eq!(rejected.len(), 1, "{args:?}: {rejected:?}");
        assert_eq!(
            rejected[0].1,
            format!(
                "file is {size} bytes, over the {limit}-byte limit for a plugin; \
                 raise it with --max-plugin-bytes or KRI_MAX_PLUGIN_BYTES"
            )
        );
    }
    // At the limit exactly, the file is served.
    let at_limit = size.to_string();
    let out = env.kri(&[
        "connectors",
        "--json",
        "--max-plugin-bytes",
        at_limit.as_str(),
    ]);
    assert!(rejected_by_cli(&out).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_plugins_with_one_name_report_the_duplicate_with_both_paths() {
    let env = TestEnv::new(&["test-plugins/probe.wasm"]);
    let first = env.plugins_dir().join("probe.wasm");
    let second = env.plugins_dir().join("probe-copy.wasm");
    std::fs::copy(&first, &second).expect("copy");
    // `probe-copy.wasm` sorts before `probe.wasm`: it is the one served.
    let (served, duplicate) = (second, first);

    let host = env.host().await;
    let reg = host.registry();
    assert_eq!(reg.get("probe").expect("probe").path, served);
    assert_eq!(reg.rejected.len(), 1, "{:?}", reg.rejected);
    assert_eq!(reg.rejected[0].path, duplicate);
    let want = format!(
        "duplicate connector name `probe`: {} and {} both provide it; {} (first by file \
         name) is used, rename or remove one of them",
        duplicate.display(),
        served.display(),
        served.display()
    );
    assert_eq!(reg.rejected[0].error.to_string(), want);

    let out = env.kri(&["connectors"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("rejected {}: {want}", duplicate.display())),
        "{}",
        stderr(&out)
    );
}

/// A 1 MiB tmpfs mounted at a fresh directory for the test, unmounted on drop.
struct TinyFs {
    dir: tempfile::TempDir,
}

impl TinyFs {
    /// `None` when mounting is not permitted here (not root, or no mount namespace).
    fn mount() -> Option<TinyFs> {
        let dir = tempfile::tempdir().ok()?;
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .ok()?;
        mounted.success().then_some(TinyFs { dir })
    }
}

impl Drop for TinyFs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.dir.path())
            .status();
    }
}

#[test]
fn a_full_cache_disk_keeps_no_temporary_files_and_still_serves_the_connector() {
    let Some(fs) = TinyFs::mount() else {
        eprintln!("skipped: cannot mount a tmpfs here");
        return;
    };
    // The data directory (and so the component cache) on a 1 MiB filesystem; the
    // compiled Okta connector is several MiB.
    let env = TestEnv::new(&["plugins/okta.wasm"]);
    let data = fs.dir.path().to_str().expect("utf8").to_string();
    for _ in 0..2 {
        let out = env.kri(&["--data-dir", &data, "connectors", "--json"]);
        assert!(out.status.success(), "{}", stderr(&out));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        assert_eq!(v["connectors"][0]["manifest"]["name"], "okta");
        assert_eq!(v["connectors"][0]["loaded_from"], "compiled");
        let warning = v["connectors"][0]["cache_warning"].as_str().unwrap_or("");
        assert!(warning.contains("compiled in memory instead"), "{warning}");
        assert!(stderr(&out).contains("warning: "), "{}", stderr(&out));
        let cache = fs.dir.path().join("cache/components");
        let left: Vec<_> = std::fs::read_dir(&cache)
            .expect("cache dir")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name())
            .collect();
        assert!(left.is_empty(), "left behind: {left:?}");
    }
}

#[test]
fn tenant_add_refuses_base_urls_and_tokens_that_runs_could_not_use() {
    let env = TestEnv::new(&["test-plugins/probe.wasm"]);
    let add = |id: &str, url: &str, token: &str, more: &[&str]| {
        let mut args = vec![
            "tenant",
            "add",
            id,
            "--connector",
            "probe",
            "--base-url",
            url,
            "--token-env",
            "T",
        ];
        args.extend_from_slice(more);
        env.kri_with_env(&args, &[("T", token)])
    };
    let cases: &[(&str, &str, &str)] = &[
        (
            "https://x.okta.com/proxy?k=1#f",
            "tok-123456",
            "--base-url https://x.okta.com/proxy?k=1#f: the base URL has a path (`/proxy`); \
             give only scheme://host[:port]",
        ),
        (
            "https://x.okta.com?k=1",
            "tok-123456",
            "the base URL has a query (`?k=1`)",
        ),
        (
            "https://x.okta.com#frag",
            "tok-123456",
            "the base URL has a fragment (`#frag`)",
        ),
        (
            "https://169.254.169.254",
            "tok-123456",
            "--base-url https://169.254.169.254: 169.254.169.254: cloud metadata address; \
             runs would refuse every request to it",
        ),
        (
            "https://127.0.0.1:8443",
            "tok-123456",
            "127.0.0.1: loopback address",
        ),
        (
            "https://10.0.0.7",
            "tok-123456",
            "10.0.0.7: private address",
        ),
        (
            "https://[fd00::1]",
            "tok-123456",
            "fd00::1: private address",
        ),
        (
            "https://acme.example.com",
            "abc",
            "the token has 3 characters; kri needs at least 8",
        ),
    ];
    for (url, token, want) in cases {
        let out = add("acme", url, token, &[]);
        assert!(!out.status.success(), "{url} should be refused");
        assert!(stderr(&out).contains(want), "{url}: {}", stderr(&out));
    }
    let list = env.kri(&["tenant", "list", "--json"]);
    assert_eq!(stdout(&list).trim(), "[]", "nothing was added");

    // A local simulator is allowed when asked for; a trailing slash is no path.
    let out = add(
        "local",
        "http://127.0.0.1:9/",
        "tok-123456",
        &["--allow-insecure-local"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = add("acme", "https://acme.example.com/", "tok-123456", &[]);
    assert!(out.status.success(), "{}", stderr(&out));

    // A short token is refused at update too, and the old one kept.
    let out = env.kri_with_env(
        &["tenant", "update", "acme", "--token-env", "T"],
        &[("T", "1234567")],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("the token has 7 characters; kri needs at least 8"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn tenant_update_sets_quotas_that_the_next_run_uses() {
    let env = TestEnv::new(&["test-plugins/probe.wasm"]);
    env.add_tenant(
        "acme",
        "probe",
        "https://acme.example.com",
        "tok-123456",
        &["--quota", "http_requests=50"],
    );
    let quotas = || -> serde_json::Value {
        let list = env.kri(&["tenant", "list", "--json"]);
        let v: serde_json::Value = serde_json::from_slice(&list.stdout).expect("json");
        v[0]["quotas"].clone()
    };

    // An unknown name is refused, naming the known ones, and nothing changes.
    let out = env.kri(&[
        "tenant",
        "update",
        "acme",
        "--quota",
        "cpu_ms=300",
        "--quota",
        "bogus=1",
        "--extra",
        r#"{"mode": "infinite-loop"}"#,
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(
            "unknown quota 'bogus' (known: memory_bytes, cpu_ms, wall_ms, http_requests, \
             response_bytes, total_bytes, concurrent_requests, outputs, state_keys, \
             state_bytes, log_bytes)"
        ),
        "{}",
        stderr(&out)
    );
    assert_eq!(quotas(), json!({"http_requests": 50}));

    // Repeatable, merged with the tenant's other overrides.
    let out = env.kri(&[
        "tenant",
        "update",
        "acme",
        "--quota",
        "cpu_ms=300",
        "--quota",
        "wall_ms=1800000",
        "--extra",
        r#"{"mode": "infinite-loop"}"#,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        quotas(),
        json!({"cpu_ms": 300, "http_requests": 50, "wall_ms": 1_800_000})
    );
    let out = env.kri(&["tenant", "update", "acme", "--quota", "wall_ms=600000"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(quotas()["wall_ms"], 600_000);

    let out = env.kri(&["run-connector", "probe", "--tenant", "acme"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("quota exceeded: cpu_ms (limit 300)"),
        "{}",
        stderr(&out)
    );
}
