//! End-to-end tests of what an operator expects from the `kri` binary: output
//! formats (`-o csv` on every listing), `--fail-on` and its exit code, shell
//! completions, JSON logs with the run's fields and the guest's lines, `--now` refusing impossible dates,
//! thresholds set/reset/refused, KRIs switched off and on, a closed stdout, and
//! SIGTERM/SIGINT recording the run as interrupted.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kri_e2e::*;
use serde_json::Value;

const TOKEN: &str = "tok-operator-123456";

/// An environment with the probe connector and tenant `acme` (probe_echo = `value`).
fn env_with_tenant(extra: &str) -> TestEnv {
    env_with_tenant_at("https://acme.example.com", extra)
}

/// The same with the tenant's API at `base_url` (`http://` ones allowed).
fn env_with_tenant_at(base_url: &str, extra: &str) -> TestEnv {
    let env = TestEnv::new(&["test-plugins/probe.wasm"]);
    let mut more = vec!["--extra", extra];
    if base_url.starts_with("http://") {
        more.push("--allow-insecure-local");
    }
    env.add_tenant("acme", "probe", base_url, TOKEN, &more);
    env
}

fn json_of(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", stdout(out), stderr(out)))
}

fn kri_slugs(env: &TestEnv) -> Vec<String> {
    let out = env.kri(&["kris", "--tenant", "acme", "-o", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    json_of(&out)
        .as_array()
        .expect("array")
        .iter()
        .map(|r| r["slug"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn kri_field(env: &TestEnv, slug: &str, field: &str) -> Value {
    let out = env.kri(&["kris", "--tenant", "acme", "--json"]);
    json_of(&out)
        .as_array()
        .and_then(|a| a.iter().find(|r| r["slug"] == slug).cloned())
        .map(|r| r[field].clone())
        .unwrap_or(Value::Null)
}

/// Parses CSV output: the header and the records, each as many fields as the header.
fn csv_of(out: &std::process::Output) -> (Vec<String>, Vec<Vec<String>>) {
    assert!(out.status.success(), "{}", stderr(out));
    let mut r = csv::Reader::from_reader(out.stdout.as_slice());
    let header: Vec<String> = r
        .headers()
        .expect("csv header")
        .iter()
        .map(str::to_string)
        .collect();
    let rows: Vec<Vec<String>> = r
        .records()
        .map(|rec| {
            rec.expect("csv record")
                .iter()
                .map(str::to_string)
                .collect()
        })
        .collect();
    for row in &rows {
        assert_eq!(row.len(), header.len(), "{header:?} vs {row:?}");
    }
    (header, rows)
}

#[test]
fn every_listing_prints_csv_with_o_csv() {
    let env = env_with_tenant(r#"{"value": 7}"#);
    let (h, rows) = csv_of(&env.kri(&["run-connector", "probe", "--tenant", "acme", "-o", "csv"]));
    assert_eq!(h[0], "KRI");
    assert_eq!(rows.len(), 2, "{rows:?}");

    let cases: &[(&[&str], &str, usize)] = &[
        (&["connectors"], "NAME", 1),
        (&["tenant", "list"], "ID", 1),
        (&["kris", "--tenant", "acme"], "KRI", 2),
        (&["runs", "--tenant", "acme"], "RUN", 1),
        (&["thresholds", "--tenant", "acme"], "KRI", 3),
        (&["run-all"], "TENANT", 1),
    ];
    for (args, first, n) in cases {
        let mut all = args.to_vec();
        all.extend(["-o", "csv"]);
        let (h, rows) = csv_of(&env.kri(&all));
        assert_eq!(h[0], *first, "{args:?}");
        assert_eq!(rows.len(), *n, "{args:?}: {rows:?}");
    }
    // A value with a comma is quoted, not split.
    let (h, rows) = csv_of(&env.kri(&["tenant", "list", "-o", "csv"]));
    let extra = h.iter().position(|c| c == "EXTRA").expect("EXTRA column");
    assert_eq!(rows[0][extra], r#"{"value":7}"#);

    // -o json is --json, on every listing.
    let a = env.kri(&["runs", "--tenant", "acme", "-o", "json"]);
    let b = env.kri(&["runs", "--tenant", "acme", "--json"]);
    assert_eq!(json_of(&a), json_of(&b));
}

#[test]
fn fail_on_exits_3_when_a_kri_is_at_or_past_the_status() {
    // probe_echo is lower-is-better with warn 10 and breach 100: 12 is a warn.
    let env = env_with_tenant(r#"{"value": 12}"#);
    let run = |fail_on: &str| {
        env.kri(&[
            "run-connector",
            "probe",
            "--tenant",
            "acme",
            "--fail-on",
            fail_on,
        ])
    };
    let out = run("breach");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = run("warn");
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("probe_echo (warn)"),
        "{}",
        stderr(&out)
    );
    // The run itself succeeded and was stored.
    let runs = json_of(&env.kri(&["runs", "--tenant", "acme", "--json"]));
    assert_eq!(runs[0]["status"], "succeeded");

    let kris = |fail_on: &str| env.kri(&["kris", "--tenant", "acme", "--fail-on", fail_on]);
    assert_eq!(kris("warn").status.code(), Some(3));
    assert_eq!(kris("breach").status.code(), Some(0));
    let out = env.kri(&["kris", "--tenant", "acme"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "without --fail-on a warn is fine"
    );

    // A failed run is still 1, whatever --fail-on says.
    let up = env.kri(&["tenant", "update", "acme", "--extra", r#"{"mode":"fail"}"#]);
    assert!(up.status.success());
    assert_eq!(run("warn").status.code(), Some(1));

    // The exit codes are documented in --help.
    let help = stdout(&env.kri(&["--help"]));
    for code in ["0 ", "1 ", "2 ", "3 ", "130", "143"] {
        assert!(
            help.contains(&format!("  {code}")),
            "{code} missing:\n{help}"
        );
    }
}

#[test]
fn completions_are_printed_for_bash_zsh_and_fish() {
    let env = TestEnv::new(&[]);
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef kri"),
        ("fish", "complete -c kri"),
    ] {
        let out = env.kri(&["completions", shell]);
        assert!(out.status.success(), "{shell}: {}", stderr(&out));
        let script = stdout(&out);
        assert!(script.contains(marker), "{shell}: {script}");
        assert!(script.contains("run-connector"), "{shell}");
        assert!(script.contains("fail-on"), "{shell}");
    }
    assert!(
        !env.data_dir().exists(),
        "completions touch no data directory"
    );
}

#[test]
fn json_logs_carry_the_runs_fields_and_the_guests_lines() {
    let env = env_with_tenant("{}");
    let out = env.kri(&[
        "-v",
        "--log-format",
        "json",
        "run-connector",
        "probe",
        "--tenant",
        "acme",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let run_id = json_of(&out)["run_id"].as_i64().expect("run id");
    let lines: Vec<Value> = stderr(&out)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let in_run = |l: &Value| {
        l["span"]["name"] == "run"
            && l["span"]["tenant"] == "acme"
            && l["span"]["connector"] == "probe"
            && l["span"]["run_id"].as_i64() == Some(run_id)
    };
    let finished = lines
        .iter()
        .find(|l| l["fields"]["message"] == "run succeeded")
        .unwrap_or_else(|| panic!("no `run succeeded` event in {lines:?}"));
    assert!(in_run(finished), "{finished}");
    assert_eq!(finished["level"], "INFO");
    let guest = lines
        .iter()
        .find(|l| l["fields"]["message"] == "probe ran normally")
        .unwrap_or_else(|| panic!("the guest's log line is not an event: {lines:?}"));
    assert!(in_run(guest), "{guest}");
    assert_eq!(guest["target"], "kri_host::guest");

    // Quiet by default: no log lines on stderr for a good run.
    let out = env.kri(&["run-connector", "probe", "--tenant", "acme"]);
    assert!(out.status.success());
    assert_eq!(stderr(&out), "", "a good run logs nothing by default");
}

#[test]
fn an_impossible_now_is_refused_before_anything_is_sent_or_stored() {
    // A listener that would see any request the run sent.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let env = env_with_tenant_at(&base, r#"{"mode":"requests","count":"3","path":"/check"}"#);
    let db = env.data_dir().join("kri.db");
    let before = std::fs::read(&db).expect("db");
    for bad in [
        "2026-13-45T99:00:00Z",
        "2026-02-29T00:00:00Z",
        "2026-11-23T24:00:00Z",
        "tomorrow",
    ] {
        let out = env.kri(&["run-connector", "probe", "--tenant", "acme", "--now", bad]);
        assert_eq!(out.status.code(), Some(2), "{bad}: {}", stderr(&out));
        assert!(stderr(&out).contains("--now"), "{bad}: {}", stderr(&out));
        assert!(stderr(&out).contains("RFC 3339"), "{bad}: {}", stderr(&out));
    }
    assert!(
        matches!(listener.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "a request was sent"
    );
    assert_eq!(std::fs::read(&db).expect("db"), before, "the store changed");
    let runs = json_of(&env.kri(&["runs", "--tenant", "acme", "--json"]));
    assert_eq!(runs.as_array().map(Vec::len), Some(0), "{runs}");
}

fn warn_breach_default(row: &Value) -> (Value, Value, Value) {
    (
        row["warn"].clone(),
        row["breach"].clone(),
        row["is_default"].clone(),
    )
}

#[test]
fn thresholds_are_listed_set_reset_and_refused_and_statuses_follow_at_once() {
    let env = env_with_tenant(r#"{"value": 7}"#);
    let out = env.kri(&["run-connector", "probe", "--tenant", "acme"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(kri_field(&env, "probe_echo", "status"), "ok");

    let list = || json_of(&env.kri(&["thresholds", "--tenant", "acme", "-o", "json"]));
    let row = |slug: &str| {
        list()
            .as_array()
            .and_then(|a| a.iter().find(|r| r["slug"] == slug).cloned())
            .expect("row")
    };
    let defaults: (Value, Value, Value) = (10.0.into(), 100.0.into(), true.into());
    let echo = row("probe_echo");
    assert_eq!(warn_breach_default(&echo), defaults);
    assert_eq!(echo["direction"], "lower_is_better");

    // Set: the status of the stored value follows without a new run.
    let set = env.kri(&[
        "thresholds",
        "set",
        "--tenant",
        "acme",
        "probe_echo",
        "--warn",
        "5",
        "--breach",
        "8",
    ]);
    assert!(set.status.success(), "{}", stderr(&set));
    let echo = row("probe_echo");
    assert_eq!(
        (echo["warn"].clone(), echo["breach"].clone()),
        (5.0.into(), 8.0.into())
    );
    assert_eq!(echo["is_default"], false);
    assert_eq!(kri_field(&env, "probe_echo", "status"), "warn");
    assert_eq!(kri_field(&env, "probe_echo", "warn"), 5.0);
    let set = env.kri(&[
        "thresholds",
        "set",
        "--tenant",
        "acme",
        "probe_echo",
        "--breach",
        "6",
    ]);
    assert!(set.status.success(), "{}", stderr(&set));
    assert_eq!(kri_field(&env, "probe_echo", "status"), "breach");
    let table = stdout(&env.kri(&["thresholds", "--tenant", "acme"]));
    assert!(
        table.contains("probe_echo") && table.contains(" no "),
        "{table}"
    );

    // Refused: for a lower-is-better KRI, warn must not lie above breach.
    let db = env.data_dir().join("kri.db");
    let before = std::fs::read(&db).expect("db");
    let bad = env.kri(&[
        "thresholds",
        "set",
        "--tenant",
        "acme",
        "probe_echo",
        "--warn",
        "9",
        "--breach",
        "8",
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("past breach"), "{}", stderr(&bad));
    assert_eq!(std::fs::read(&db).expect("db"), before, "nothing changed");
    let bad = env.kri(&[
        "thresholds",
        "set",
        "--tenant",
        "acme",
        "nope",
        "--warn",
        "1",
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("probe_echo"),
        "names the known KRIs: {}",
        stderr(&bad)
    );

    // Reset: back to the manifest's defaults, and the status with them.
    let reset = env.kri(&[
        "thresholds",
        "set",
        "--tenant",
        "acme",
        "probe_echo",
        "--reset",
    ]);
    assert!(reset.status.success(), "{}", stderr(&reset));
    assert_eq!(warn_breach_default(&row("probe_echo")), defaults);
    assert_eq!(kri_field(&env, "probe_echo", "status"), "ok");
    // The next run keeps operator thresholds (here the defaults again) and statuses agree.
    let out = env.kri(&["run-connector", "probe", "--tenant", "acme"]);
    assert!(out.status.success());
    assert_eq!(kri_field(&env, "probe_echo", "status"), "ok");
}

#[test]
fn kris_switched_off_are_neither_computed_nor_shown_and_come_back() {
    let env = env_with_tenant(r#"{"value": 7}"#);
    assert!(env
        .kri(&["run-connector", "probe", "--tenant", "acme"])
        .status
        .success());
    assert_eq!(kri_slugs(&env), ["probe_echo", "probe_runs"]);

    // Off: no longer shown, at once.
    let up = env.kri(&["tenant", "update", "acme", "--kris", "probe_runs"]);
    assert!(up.status.success(), "{}", stderr(&up));
    assert_eq!(kri_slugs(&env), ["probe_runs"]);
    // ... and not computed: the next run writes only the selected KRI.
    let out = env.kri(&["run-connector", "probe", "--tenant", "acme", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let outputs: Vec<Value> = json_of(&out)["outputs"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(outputs.len(), 1, "{outputs:?}");
    assert_eq!(outputs[0]["slug"], "probe_runs");
    let list = json_of(&env.kri(&["tenant", "list", "--json"]));
    assert_eq!(list[0]["kris"], serde_json::json!(["probe_runs"]));
    let thresholds = json_of(&env.kri(&["thresholds", "--tenant", "acme", "--json"]));
    let selected = |slug: &str| {
        thresholds
            .as_array()
            .and_then(|a| a.iter().find(|r| r["slug"] == slug))
            .map(|r| r["selected"].clone())
    };
    assert_eq!(selected("probe_echo"), Some(false.into()));

    // On again: the kept history shows at once, before any new run.
    let up = env.kri(&["tenant", "update", "acme", "--kris", "all"]);
    assert!(up.status.success(), "{}", stderr(&up));
    assert_eq!(kri_slugs(&env), ["probe_echo", "probe_runs"]);
    assert_eq!(kri_field(&env, "probe_echo", "value"), 7.0);

    // --purge deletes the history of the KRIs switched off.
    let up = env.kri(&[
        "tenant",
        "update",
        "acme",
        "--kris",
        "probe_runs",
        "--purge",
    ]);
    assert!(up.status.success(), "{}", stderr(&up));
    assert!(stdout(&up).contains("purged 1"), "{}", stdout(&up));
    let up = env.kri(&[
        "tenant",
        "update",
        "acme",
        "--kris",
        "probe_echo,probe_runs",
    ]);
    assert!(up.status.success(), "{}", stderr(&up));
    assert_eq!(
        kri_slugs(&env),
        ["probe_runs"],
        "probe_echo's history was purged"
    );
    assert!(env
        .kri(&["run-connector", "probe", "--tenant", "acme"])
        .status
        .success());
    assert_eq!(kri_slugs(&env), ["probe_echo", "probe_runs"]);

    // Unknown slugs are refused and change nothing.
    let bad = env.kri(&["tenant", "update", "acme", "--kris", "nope"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("not a KRI"), "{}", stderr(&bad));
    assert_eq!(kri_slugs(&env), ["probe_echo", "probe_runs"]);
}

#[test]
fn a_closed_stdout_ends_output_quietly_after_the_commit() {
    let env = env_with_tenant("{}");
    for format in [&[][..], &["--json"][..], &["-o", "csv"][..]] {
        let (reader, writer) = std::io::pipe().expect("pipe");
        drop(reader);
        let out = Command::new(kri_bin())
            .env("KRI_DATA_DIR", env.data_dir())
            .env("KRI_PLUGINS", env.plugins_dir())
            .args(["run-connector", "probe", "--tenant", "acme"])
            .args(format)
            .stdout(writer)
            .output()
            .expect("run kri");
        assert_eq!(out.status.code(), Some(0), "{format:?}: {}", stderr(&out));
        assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    }
    let runs = json_of(&env.kri(&["runs", "--tenant", "acme", "--json"]));
    let runs = runs.as_array().expect("runs");
    assert_eq!(runs.len(), 3);
    assert!(runs.iter().all(|r| r["status"] == "succeeded"), "{runs:?}");
}

#[test]
fn sigterm_and_sigint_record_the_run_interrupted_before_exiting() {
    let env = env_with_tenant(r#"{"mode":"infinite-loop"}"#);
    for (signal, code) in [("TERM", 143), ("INT", 130)] {
        let mut child = Command::new(kri_bin())
            .env("KRI_DATA_DIR", env.data_dir())
            .env("KRI_PLUGINS", env.plugins_dir())
            .args(["run-connector", "probe", "--tenant", "acme"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let deadline = Instant::now() + Duration::from_secs(30);
        while latest_run(&env).as_ref().map(|r| r.0.as_str()) != Some("running") {
            assert!(Instant::now() < deadline, "the run never started");
            std::thread::sleep(Duration::from_millis(50));
        }
        let kill = Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status()
            .expect("kill");
        assert!(kill.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(s) = child.try_wait().expect("wait") {
                break s;
            }
            assert!(Instant::now() < deadline, "kri did not exit on SIG{signal}");
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            std::io::Read::read_to_string(&mut e, &mut err).expect("stderr");
        }
        assert_eq!(status.code(), Some(code), "SIG{signal}: {err}");
        assert!(
            err.contains(&format!("interrupted by SIG{signal}")),
            "{err}"
        );
        let (st, error) = latest_run(&env).expect("a run");
        assert_eq!(st, "interrupted", "SIG{signal}");
        assert!(
            error
                .as_deref()
                .unwrap_or("")
                .contains(&format!("SIG{signal}")),
            "{error:?}"
        );
    }
}

/// The latest run's status and error, read from the database file directly (kri's
/// own start-up would mark a dead process's run interrupted and hide the bug).
fn latest_run(env: &TestEnv) -> Option<(String, Option<String>)> {
    let conn = rusqlite::Connection::open_with_flags(
        env.data_dir().join("kri.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .ok()?;
    conn.query_row(
        "SELECT status, error FROM runs ORDER BY id DESC LIMIT 1",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .ok()
}
