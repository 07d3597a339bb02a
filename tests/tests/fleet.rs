//! End-to-end: three `kri serve` processes sharing one throwaway PostgreSQL, over
//! okta-sim tenants with live System Logs, on short schedules (10 s) and short
//! leases (`--run-lease-ms`). One host is killed with SIGKILL while it runs a job.
//! The test checks that:
//! - each due job ran on one host at a time: no two runs of one (tenant, job) overlap,
//!   and every run row names a host of the fleet (its pid);
//! - the killed host's run is recorded `interrupted`, and another host runs that job
//!   again once the dead host's lease has run out; no claim stays with the dead host;
//! - nothing committed is lost or duplicated: each succeeded `kris` run stored every
//!   KRI and the others none, events come from succeeded runs only and equal the
//!   simulator's log (each once), and the alerts equal the planted attacks, each once.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::{Duration, Instant};

use kri_e2e::*;
use kri_host::store::EventFilter;
use kri_host::{KriHost, RunOptions};
use kri_test_pg::TestPostgres;
use okta_sim::{LiveLogSpec, Org, OrgSpec, RateLimitConfig, SimConfig, SimServer};
use serde_json::json;

const TOKEN: &str = "00sim-token-for-fleet-tests";
const TENANTS: [&str; 3] = ["north", "south", "west"];
/// The lease of runs and of job claims: how soon a dead host's jobs are free.
const LEASE_MS: i64 = 2_000;
/// How long each tenant's live System Log runs (wall time).
const LOG_WALL_MS: i64 = 45_000;
/// Data milliseconds per wall millisecond of the live logs.
const LOG_SPEED: f64 = 8.0;

/// Starts one `kri serve` host of the fleet on `database`.
fn start_host(env: &TestEnv, database: &str) -> ServeProcess {
    let mut cmd = Command::new(kri_bin());
    cmd.env("KRI_DATA_DIR", env.data_dir())
        .env("KRI_PLUGINS", env.plugins_dir())
        .env("KRI_DATABASE_URL", database)
        .env_remove("KRI_ENCRYPTION_KEY")
        .env_remove("KRI_API_KEY")
        .env("RUST_LOG", "warn,kri_host=info")
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--tick-ms",
            "200",
            "--max-concurrent",
            "2",
            "--grace-seconds",
            "10",
            "--run-lease-ms",
            &LEASE_MS.to_string(),
        ]);
    ServeProcess::spawn(cmd, Duration::from_secs(120), |_| {}).expect("kri serve starts")
}

/// One row of `runs`, as the test reads it.
#[derive(Debug, Clone)]
struct Run {
    id: i64,
    tenant: String,
    job: String,
    status: String,
    pid: i64,
    started_at: i64,
    finished_at: Option<i64>,
}

async fn runs(db: &tokio_postgres::Client) -> Vec<Run> {
    db.query(
        "SELECT id, tenant_id, job, status, pid, started_at, finished_at FROM runs ORDER BY id",
        &[],
    )
    .await
    .expect("runs")
    .iter()
    .map(|r| Run {
        id: r.get(0),
        tenant: r.get(1),
        job: r.get(2),
        status: r.get(3),
        pid: r.get(4),
        started_at: r.get(5),
        finished_at: r.get(6),
    })
    .collect()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64
}

async fn start_sim(seed: u64, start_ms: i64) -> SimServer {
    let spec = LiveLogSpec {
        seed,
        start_ms,
        speed: LOG_SPEED,
        events_per_sec: 1.5,
        scenario_every_ms: Some(90_000),
        // Late events are the stream tests' subject; here every event is on time.
        late_share: 0.0,
        stop_ms: Some(start_ms + (LOG_WALL_MS as f64 * LOG_SPEED) as i64),
        ..LiveLogSpec::default()
    };
    let org = Org::generate(&OrgSpec {
        seed,
        users: 20,
        now_ms: start_ms,
    });
    let config = SimConfig {
        token: TOKEN.into(),
        rate_limits: RateLimitConfig::scaled(1_000, 1.0),
        // Runs last long enough to be killed in the middle.
        latency_ms: 60,
        ..SimConfig::default()
    };
    SimServer::start_live(org, config, spec, 0)
        .await
        .expect("start okta-sim")
}

/// Polls tenant `id`'s log in this process until the live clock has stopped and a
/// poll reads nothing.
async fn catch_up(host: &KriHost, id: &str, sim: &SimServer) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(
            Instant::now() < deadline,
            "{id}: the stream did not catch up"
        );
        let stopped = sim.live_log(|l| l.stopped()).expect("live log");
        let now = sim.live_log(|l| l.now_ms()).expect("live log");
        let outcome = host
            .run(
                "okta",
                id,
                RunOptions {
                    now_ms: Some(now),
                    progress: None,
                    job: Some("logs".into()),
                },
            )
            .await
            .expect("poll starts");
        assert!(outcome.succeeded, "{id}: poll failed: {:?}", outcome.error);
        let note = outcome.stats.note.clone().unwrap_or_default();
        if stopped && note.contains(" pages, 0 events") {
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hosts_share_the_jobs_and_survive_a_kill_9_losing_nothing() {
    let pg = TestPostgres::start();
    let url = pg.create_database("fleet");
    let (db, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    // The hosts share the key file of the data directory (and its component cache).
    let env = TestEnv::new(&["plugins/okta.wasm"]);
    let mut config = env.config();
    config.database = Some(url.clone());

    let start = now_ms();
    let mut sims = BTreeMap::new();
    for (i, id) in TENANTS.iter().enumerate() {
        sims.insert(*id, start_sim(40 + i as u64, start).await);
    }
    {
        let host = KriHost::open(config.clone(), true).await.expect("host");
        for id in TENANTS {
            host.add_tenant(
                tenant(id, "okta", &sims[id].base_url(), json!({})),
                &token(TOKEN),
            )
            .await
            .expect("add tenant");
            host.update_schedules(
                id,
                &[
                    "kris=PT10S".to_string(),
                    "logs=PT10S".to_string(),
                    "inventory=P1D".to_string(),
                ],
            )
            .await
            .expect("schedules");
        }
    }

    let mut hosts: Vec<ServeProcess> = (0..3).map(|_| start_host(&env, &url)).collect();
    let pids: Vec<i64> = hosts.iter().map(|h| i64::from(h.pid())).collect();

    // Kill a host while it runs a job, once the fleet has run a few.
    let deadline = Instant::now() + Duration::from_secs(60);
    let (victim, killed_run, killed_at) = loop {
        assert!(
            Instant::now() < deadline,
            "no run in flight to kill: {:?}",
            runs(&db).await
        );
        let all = runs(&db).await;
        let done = all.iter().filter(|r| r.status == "succeeded").count();
        let running = all
            .iter()
            .filter(|r| r.status == "running" && now_ms() - r.started_at > 200)
            .find_map(|r| {
                pids.iter()
                    .position(|p| *p == r.pid)
                    .map(|h| (h, r.clone()))
            });
        if let (true, Some((h, run))) = (done >= 4, running) {
            hosts[h].kill();
            break (h, run, now_ms());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    // The others go on until the logs have stopped and every job ran again since.
    let stop_at = start + LOG_WALL_MS;
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        assert!(
            Instant::now() < deadline,
            "the surviving hosts did not run every job after the logs stopped: {:?}",
            runs(&db).await
        );
        let all = runs(&db).await;
        let ran_again = TENANTS.iter().all(|t| {
            ["kris", "logs"].iter().all(|j| {
                all.iter().any(|r| {
                    r.tenant == *t
                        && r.job == *j
                        && r.status == "succeeded"
                        && r.started_at > stop_at
                })
            })
        });
        let taken_over = all.iter().any(|r| {
            r.tenant == killed_run.tenant
                && r.job == killed_run.job
                && r.id > killed_run.id
                && r.status == "succeeded"
        });
        if now_ms() > stop_at && ran_again && taken_over {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    for (i, h) in hosts.iter_mut().enumerate() {
        if i != victim {
            let status = h.terminate(Duration::from_secs(60));
            assert!(status.success(), "kri serve exited {status}: {}", h.log());
        }
    }

    let all = runs(&db).await;
    // The killed run: interrupted, and its job ran again on another host, started
    // after the kill.
    let killed = all
        .iter()
        .find(|r| r.id == killed_run.id)
        .expect("killed run");
    assert_eq!(killed.status, "interrupted", "{killed:?}");
    let again = all
        .iter()
        .find(|r| r.tenant == killed.tenant && r.job == killed.job && r.id > killed.id)
        .expect("the killed job ran again");
    assert!(
        again.pid != pids[victim] && pids.contains(&again.pid) && again.started_at >= killed_at,
        "{again:?} after {killed:?} (killed at {killed_at})"
    );
    let dead_owner = format!(":{}", pids[victim]);
    let dead_claims: i64 = db
        .query_one(
            "SELECT count(*) FROM job_schedules WHERE lease_owner LIKE '%' || $1",
            &[&dead_owner],
        )
        .await
        .expect("claims")
        .get(0);
    assert_eq!(dead_claims, 0, "a claim stayed with the dead host");

    // One host at a time per (tenant, job); every run is the fleet's, none left
    // running, and the work was spread.
    let mut by_job: BTreeMap<(String, String), Vec<&Run>> = BTreeMap::new();
    for r in &all {
        assert!(pids.contains(&r.pid), "a run of no fleet host: {r:?}");
        assert_ne!(r.status, "running", "{r:?}");
        by_job
            .entry((r.tenant.clone(), r.job.clone()))
            .or_default()
            .push(r);
    }
    for (key, list) in &mut by_job {
        list.sort_by_key(|r| r.started_at);
        for pair in list.windows(2) {
            let end = pair[0].finished_at.expect("finished");
            assert!(
                end <= pair[1].started_at,
                "{key:?}: runs overlap: {:?} and {:?}",
                pair[0],
                pair[1]
            );
        }
    }
    let hosts_used: BTreeSet<i64> = all.iter().map(|r| r.pid).collect();
    assert!(hosts_used.len() >= 2, "one host ran everything: {all:?}");
    assert!(all.len() >= 12, "too few runs: {}", all.len());

    // KRIs: all of them from each succeeded kris run, none from a run that did not
    // succeed.
    let per_run: BTreeMap<i64, i64> = db
        .query(
            "SELECT run_id, count(*) FROM kri_values GROUP BY run_id",
            &[],
        )
        .await
        .expect("kri values")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let kris_runs: Vec<&Run> = all
        .iter()
        .filter(|r| r.job == "kris" && r.status == "succeeded")
        .collect();
    let complete = per_run.get(&kris_runs[0].id).copied().unwrap_or(0);
    assert!(complete >= 7, "a kris run stored {complete} KRIs");
    for r in &all {
        let stored = per_run.get(&r.id).copied().unwrap_or(0);
        match (r.job.as_str(), r.status.as_str()) {
            ("kris", "succeeded") => assert_eq!(stored, complete, "KRIs of {r:?}"),
            (_, "succeeded") => {}
            _ => assert_eq!(stored, 0, "KRIs of {r:?}"),
        }
    }
    // Events come from succeeded runs only.
    let orphans: i64 = db
        .query_one(
            "SELECT count(*) FROM events e WHERE NOT EXISTS
               (SELECT 1 FROM runs r WHERE r.id = e.run_id AND r.status = 'succeeded')",
            &[],
        )
        .await
        .expect("events")
        .get(0);
    assert_eq!(orphans, 0, "events of a run that did not succeed");

    // The stream: poll to the end here, then compare with each simulator.
    let host = KriHost::open(config, false).await.expect("host");
    let mut planted_total = 0;
    for id in TENANTS {
        let sim = &sims[id];
        catch_up(&host, id, sim).await;
        let (visible, planted, stop) = sim
            .live_log(|l| {
                let visible: BTreeSet<String> =
                    l.visible().iter().map(|e| e.uuid.clone()).collect();
                (visible, l.planted().to_vec(), l.now_ms())
            })
            .expect("live log");
        let stored = host
            .events(id, &EventFilter::default(), usize::MAX / 2)
            .await
            .expect("events");
        let ids: Vec<&str> = stored.iter().map(|e| e.event.id.as_str()).collect();
        let set: BTreeSet<String> = ids.iter().map(|s| s.to_string()).collect();
        assert_eq!(set.len(), ids.len(), "{id}: an event is stored twice");
        assert_eq!(
            set.len(),
            visible.len(),
            "{id}: lost {:?}, extra {:?}",
            visible.difference(&set).take(5).collect::<Vec<_>>(),
            set.difference(&visible).take(5).collect::<Vec<_>>()
        );
        assert_eq!(set, visible, "{id}: stored events differ from the log");
        let mut got: Vec<(String, String, String)> = host
            .alerts(id, None, None)
            .await
            .expect("alerts")
            .iter()
            .map(|a| {
                (
                    a.detection.clone(),
                    a.entity.kind.clone(),
                    a.entity.id.clone(),
                )
            })
            .collect();
        got.sort();
        let mut due: Vec<(String, String, String)> = planted
            .iter()
            .filter(|p| p.complete_ms <= stop)
            .map(|p| {
                (
                    p.detection.to_string(),
                    p.entity_kind.to_string(),
                    p.entity_id.clone(),
                )
            })
            .collect();
        due.sort();
        planted_total += due.len();
        assert_eq!(got, due, "{id}: alerts differ from the planted attacks");
    }
    assert!(
        planted_total >= 3,
        "too few attacks played: {planted_total}"
    );
    let per_host: Vec<usize> = pids
        .iter()
        .map(|p| all.iter().filter(|r| r.pid == *p).count())
        .collect();
    eprintln!(
        "fleet: {} runs, per host {per_host:?}; host {victim} killed in run {} ({} {}), taken over by run {} {} ms after the kill; {planted_total} planted alerts raised",
        all.len(),
        killed.id,
        killed.tenant,
        killed.job,
        again.id,
        again.started_at - killed_at
    );
}
