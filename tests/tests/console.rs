//! End-to-end test of the web console in headless Chromium: okta-sim with a live
//! System Log in which attacks are planted, a tenant, real runs of the Okta
//! connector's `logs`, `inventory` and `kris` jobs, then `kri serve`;
//! `console/test/console.test.mjs` (Playwright driving Debian's chromium) clicks
//! through each part, acknowledging and resolving the alerts the planted attacks
//! raised and opening their evidence, and saves a screenshot of each part under
//! target/console-screenshots/.

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use kri_e2e::*;
use okta_sim::time::MINUTE_MS;
use okta_sim::{LiveLogSpec, Org, OrgSpec, SimConfig, SimServer};
use serde_json::Value;

const KEY: &str = "console-test-key-0123456789";
const TOKEN: &str = "00console-test-token";

/// Starts `kri serve` on a free loopback port.
fn start_serve(env: &TestEnv) -> ServeProcess {
    let mut cmd = Command::new(kri_bin());
    cmd.env("KRI_DATA_DIR", env.data_dir())
        .env("KRI_PLUGINS", env.plugins_dir())
        .env("KRI_API_KEY", KEY)
        .env_remove("KRI_ENCRYPTION_KEY")
        .env("RUST_LOG", "warn,kri_host=info")
        .args(["serve", "--listen", "127.0.0.1:0"]);
    ServeProcess::spawn(cmd, Duration::from_secs(120), |_| {}).expect("kri serve starts")
}

/// Minutes of System Log the live log plays before its clock stops.
const LOG_MINUTES: i64 = 24;

/// A live System Log that ends now: `LOG_MINUTES` of background traffic with an
/// attack planted every three minutes, played in about two seconds of wall time.
fn live_log_ending(now_ms: i64) -> LiveLogSpec {
    LiveLogSpec {
        seed: 7,
        start_ms: now_ms - LOG_MINUTES * MINUTE_MS,
        speed: (LOG_MINUTES * MINUTE_MS) as f64 / 2_000.0,
        events_per_sec: 1.0,
        users: 50,
        stop_ms: Some(now_ms),
        ..LiveLogSpec::default()
    }
}

#[test]
fn the_console_renders_each_part_in_headless_chromium() {
    let shots = workspace().join("target/console-screenshots");
    std::fs::create_dir_all(&shots).expect("screenshot dir");
    let env = TestEnv::new(&["plugins/okta.wasm"]);
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64;
    let org = Org::generate(&OrgSpec {
        seed: 7,
        users: 60,
        now_ms,
    });
    let admin = org.users[org.admins[0].user as usize].login.clone();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let sim = rt
        .block_on(SimServer::start_live(
            org,
            SimConfig {
                token: TOKEN.into(),
                ..SimConfig::default()
            },
            live_log_ending(now_ms),
            0,
        ))
        .expect("start okta-sim");
    let base = sim.base_url();
    env.add_tenant("acme", "okta", &base, TOKEN, &["--allow-insecure-local"]);

    // The whole log has played once its clock stops; one poll of the logs job then
    // stores it and raises the planted attacks' alerts.
    while !sim.live_log(|l| l.stopped()).expect("a live log") {
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = env.kri(&["run-connector", "okta", "--tenant", "acme", "--job", "logs"]);
    assert!(out.status.success(), "logs poll: {}", stderr(&out));
    let planted: BTreeSet<(String, String)> = sim
        .live_log(|l| {
            l.planted()
                .iter()
                .filter(|p| p.complete_ms <= l.now_ms())
                .map(|p| (p.detection.to_string(), p.entity_id.clone()))
                .collect()
        })
        .expect("a live log");
    let alerts = env.kri_json(&["alerts", "--tenant", "acme", "--json"]);
    let raised: BTreeSet<(String, String)> = alerts
        .as_array()
        .expect("an array of alerts")
        .iter()
        .map(|a| {
            let field = |v: &Value| v.as_str().expect("a string").to_string();
            (field(&a["detection"]), field(&a["entity"]["id"]))
        })
        .collect();
    assert!(planted.len() >= 5, "too few attacks played: {planted:?}");
    assert!(
        planted.is_subset(&raised),
        "planted {planted:?}, raised {raised:?}"
    );

    // Two runs of the inventory and kris jobs, so each KRI has a trend of two points.
    for _ in 0..2 {
        for job in ["inventory", "kris"] {
            let out = env.kri(&["run-connector", "okta", "--tenant", "acme", "--job", job]);
            assert!(out.status.success(), "run-connector: {}", stderr(&out));
        }
    }
    let serve = start_serve(&env);
    let url = serve.url("");

    let script = workspace().join("console/test/console.test.mjs");
    let out = Command::new("node")
        .arg(&script)
        .env("KRI_CONSOLE_URL", &url)
        .env("KRI_API_KEY", KEY)
        .env("KRI_CONSOLE_SHOTS", &shots)
        .env("KRI_CONSOLE_USER", &admin)
        .env("KRI_CONSOLE_ALERTS", alerts.to_string())
        .output()
        .expect("node: install Node.js and run `make console-test-deps`");
    let log = format!("{}{}", stdout(&out), stderr(&out));
    assert!(out.status.success(), "console test failed:\n{log}");
    for part in [
        "kris",
        "kri-detail",
        "health",
        "alerts",
        "alert-evidence",
        "runs",
        "graph",
    ] {
        let shot = shots.join(format!("{part}.png"));
        let size = std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0);
        assert!(
            size > 10_000,
            "{} is missing or blank ({size} bytes)",
            shot.display()
        );
    }
    drop(sim);
}
