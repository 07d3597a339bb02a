//! End-to-end tests of the PostgreSQL store through the `kri` binary, against a
//! throwaway PostgreSQL cluster and okta-sim: the Okta demo flow (tenant add,
//! run-connector, kris, runs, events, query) with `--database postgres://...` prints
//! what it prints on SQLite, and hosts sharing one database share its key or refuse
//! to start.

use std::process::Output;

use kri_e2e::*;
use kri_test_pg::TestPostgres;
use okta_sim::{Org, OrgSpec, RateLimitConfig, SimConfig, SimServer};
use serde_json::Value;

const NOW: &str = "2026-11-23T02:13:20Z";
const NOW_MS: i64 = 1_795_400_000_000;
const TOKEN: &str = "00sim-token-for-pg-tests";

/// okta-sim on its own runtime, serving while the test runs the binary.
fn start_sim(users: usize) -> (tokio::runtime::Runtime, SimServer) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let org = Org::generate(&OrgSpec {
        seed: 7,
        users,
        now_ms: NOW_MS,
    });
    let config = SimConfig {
        token: TOKEN.into(),
        rate_limits: RateLimitConfig::scaled(1_000, 1.0),
        ..SimConfig::default()
    };
    let sim = rt
        .block_on(SimServer::start(org, config, 0))
        .expect("start okta-sim");
    (rt, sim)
}

/// Runs `kri` in `env` on `database` (SQLite in the data directory when `None`).
fn kri(env: &TestEnv, database: Option<&str>, args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut all: Vec<(&str, &str)> = envs.to_vec();
    if let Some(url) = database {
        all.push(("KRI_DATABASE_URL", url));
    }
    env.kri_with_env(args, &all)
}

fn ok(out: Output, what: &str) -> Output {
    assert!(out.status.success(), "{what}: {}", stderr(&out));
    out
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(out)))
}

/// `value` without the fields that differ between any two runs (wall-clock times).
fn without_times(mut value: Value) -> Value {
    const TIMES: &[&str] = &[
        "started_at",
        "finished_at",
        "duration_ms",
        "computed_at",
        "first_seen",
        "last_seen",
        "created_at_ms",
    ];
    match &mut value {
        Value::Array(items) => {
            for item in items.iter_mut() {
                *item = without_times(item.take());
            }
        }
        Value::Object(map) => {
            map.retain(|k, _| !TIMES.contains(&k.as_str()));
        }
        _ => {}
    }
    value
}

/// What the demo flow printed, as JSON, times left out.
fn demo_flow(env: &TestEnv, database: Option<&str>, base_url: &str) -> Vec<(String, Value)> {
    let key = "ab".repeat(32);
    let key_env = [("KRI_ENCRYPTION_KEY", key.as_str()), ("T", TOKEN)];
    ok(
        kri(
            env,
            database,
            &[
                "tenant",
                "add",
                "acme",
                "--connector",
                "okta",
                "--base-url",
                base_url,
                "--token-env",
                "T",
                "--allow-insecure-local",
            ],
            &key_env,
        ),
        "tenant add",
    );
    ok(
        kri(
            env,
            database,
            &["run-connector", "okta", "--tenant", "acme", "--now", NOW],
            &key_env,
        ),
        "run-connector",
    );
    let mut printed = Vec::new();
    let mut read = |name: &str, args: &[&str]| {
        let out = ok(kri(env, database, args, &key_env), name);
        printed.push((name.to_string(), without_times(json(&out))));
    };
    read("kris", &["kris", "--tenant", "acme", "--json"]);
    read("runs", &["runs", "--tenant", "acme", "--json"]);
    read("tenants", &["tenant", "list", "--json"]);
    read(
        "events",
        &["events", "--tenant", "acme", "-o", "json", "--limit", "50"],
    );
    for (name, sql) in [
        (
            "seed: okta nodes",
            r#"SELECT * FROM nodes WHERE labels @> '{"teleport.dev/origin": "okta"}' ORDER BY id"#,
        ),
        (
            "seed: nodes of the org",
            &format!(
                r#"SELECT id, kind, name, labels FROM nodes WHERE labels @> '{{"okta/org": "{base_url}"}}' ORDER BY id"#
            ),
        ),
        (
            "seed: access of a user",
            "SELECT * FROM access_path WHERE identity = 'user' AND kind = 'ALLOWED'",
        ),
        (
            "seed: access to an app",
            r#"SELECT * FROM access_path WHERE resource = 'app-name' AND resource_labels @> '{"teleport.dev/origin": "okta"}'"#,
        ),
        (
            "seed: access to a group",
            r#"SELECT * FROM access_path WHERE resource = 'group-name' AND resource_labels @> '{"teleport.dev/origin": "okta"}'"#,
        ),
        (
            "seed: standing privileges",
            r#"SELECT * FROM access_path WHERE standing_privileges >= 1 AND resource_labels @> '{"teleport.dev/origin": "okta"}'"#,
        ),
        (
            "members per group",
            "SELECT g.name, count(*) AS members, sum(length(u.name)) AS name_chars FROM edges e
             JOIN nodes g ON g.id = e.to_id JOIN nodes u ON u.id = e.from_id
             WHERE e.kind = 'member_of' GROUP BY g.name ORDER BY members DESC, g.name LIMIT 5",
        ),
        (
            "event types",
            "SELECT event_type, count(*) AS n FROM events GROUP BY event_type ORDER BY n DESC, event_type",
        ),
    ] {
        read(name, &["query", "--tenant", "acme", sql, "--json"]);
    }
    printed
}

#[test]
fn the_okta_demo_flow_on_postgres_prints_what_it_prints_on_sqlite() {
    let (_rt, sim) = start_sim(60);
    let pg = TestPostgres::start();
    let url = pg.create_database("demo");

    let on_sqlite = demo_flow(&TestEnv::new(&["plugins/okta.wasm"]), None, &sim.base_url());
    let on_postgres = demo_flow(
        &TestEnv::new(&["plugins/okta.wasm"]),
        Some(&url),
        &sim.base_url(),
    );
    // The inventory and logs jobs fill the graph and the events on both backends.
    // Queries without ORDER BY may return their rows in another order on each, so
    // arrays are compared as sorted lists of their rows' JSON text.
    let kris = on_postgres
        .iter()
        .find(|(n, _)| n == "kris")
        .and_then(|(_, v)| v.as_array())
        .map_or(0, Vec::len);
    assert!(kris >= 7, "the KRIs were stored: {kris}");
    let rows = |v: &serde_json::Value| -> Vec<String> {
        let mut rows: Vec<String> = match v.as_array() {
            Some(a) => a.iter().map(|r| r.to_string()).collect(),
            None => vec![v.to_string()],
        };
        rows.sort();
        rows
    };
    for ((name, sqlite), (_, postgres)) in on_sqlite.iter().zip(&on_postgres) {
        assert_eq!(
            rows(sqlite),
            rows(postgres),
            "{name} differs between SQLite and PostgreSQL"
        );
    }
}

#[test]
fn hosts_sharing_postgres_share_the_key_or_refuse_to_start() {
    let (_rt, sim) = start_sim(20);
    let pg = TestPostgres::start();
    let url = pg.create_database("shared");
    let key = "cd".repeat(32);
    let first = TestEnv::new(&["plugins/okta.wasm"]);
    let with_key = [("KRI_ENCRYPTION_KEY", key.as_str()), ("T", TOKEN)];
    ok(
        kri(
            &first,
            Some(&url),
            &[
                "tenant",
                "add",
                "acme",
                "--connector",
                "okta",
                "--base-url",
                &sim.base_url(),
                "--token-env",
                "T",
                "--allow-insecure-local",
            ],
            &with_key,
        ),
        "tenant add",
    );

    // A second machine with the same key sees and runs the tenant.
    let second = TestEnv::new(&["plugins/okta.wasm"]);
    ok(
        kri(
            &second,
            Some(&url),
            &[
                "run-connector",
                "okta",
                "--tenant",
                "acme",
                "--job",
                "kris",
                "--now",
                NOW,
            ],
            &with_key,
        ),
        "run on the second host",
    );

    // A third with another key refuses to start, and says why, for any command;
    // the secret it might have overwritten is untouched.
    let other = "11".repeat(32);
    let third = TestEnv::new(&["plugins/okta.wasm"]);
    let wrong = [
        ("KRI_ENCRYPTION_KEY", other.as_str()),
        ("T", "00another-token-x"),
    ];
    for args in [
        vec!["tenant", "list"],
        vec!["tenant", "update", "acme", "--token-env", "T"],
        vec!["run-connector", "okta", "--tenant", "acme"],
    ] {
        let out = kri(&third, Some(&url), &args, &wrong);
        assert!(!out.status.success(), "{args:?} must be refused");
        let err = stderr(&out);
        assert!(
            err.contains("was sealed with key") && err.contains("KRI_ENCRYPTION_KEY"),
            "{args:?}: {err}"
        );
    }
    // And one with no key at all is told where the key must come from.
    let out = kri(&TestEnv::new(&[]), Some(&url), &["tenant", "list"], &[]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("KRI_ENCRYPTION_KEY"),
        "{}",
        stderr(&out)
    );

    ok(
        kri(
            &first,
            Some(&url),
            &[
                "run-connector",
                "okta",
                "--tenant",
                "acme",
                "--job",
                "kris",
                "--now",
                NOW,
            ],
            &with_key,
        ),
        "the token still opens with the shared key",
    );
    let runs = json(&ok(
        kri(
            &first,
            Some(&url),
            &["runs", "--tenant", "acme", "--json"],
            &with_key,
        ),
        "runs",
    ));
    let statuses: Vec<&str> = runs
        .as_array()
        .expect("runs")
        .iter()
        .filter_map(|r| r["status"].as_str())
        .collect();
    assert_eq!(statuses, ["succeeded", "succeeded"], "{runs}");
}

#[test]
fn a_bad_database_url_or_a_stopped_server_is_a_clear_error() {
    let env = TestEnv::new(&[]);
    let out = kri(
        &env,
        Some("mysql://root:secret@127.0.0.1/kri"),
        &["tenant", "list"],
        &[],
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("not a PostgreSQL URL"), "{err}");
    assert!(
        !err.contains("secret"),
        "the password is never shown: {err}"
    );

    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let out = kri(
        &env,
        Some(&format!("postgres://kri:hunter2@127.0.0.1:{port}/kri")),
        &["tenant", "list"],
        &[],
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("cannot reach PostgreSQL"), "{err}");
    assert!(
        !err.contains("hunter2"),
        "the password is never shown: {err}"
    );
}
