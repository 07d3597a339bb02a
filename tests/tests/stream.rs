//! End-to-end tests of the System Log stream: the real `okta.wasm` `logs` job in the
//! real host, polling okta-sim's live System Log (a compressed clock, 7% of the events
//! persisted late, planted attacks) for minutes of log. The stored events must equal
//! the simulator's (none lost, none duplicated, late ones included) and the alerts the
//! planted ground truth, each exactly once, also when `kri run-connector ... --job logs`
//! is killed with SIGKILL halfway through a poll.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use kri_e2e::*;
use kri_host::store::EventFilter;
use kri_host::{KriHost, RunOptions, RunOutcome};
use okta_sim::{LiveLogSpec, Org, OrgSpec, RateLimitConfig, SimConfig, SimServer};
use serde_json::json;

const TOKEN: &str = "00sim-token-for-stream-tests";
const MINUTE: i64 = 60_000;

async fn start_live(spec: LiveLogSpec, latency_ms: u64) -> SimServer {
    let org = Org::generate(&OrgSpec {
        seed: spec.seed,
        users: 20,
        now_ms: spec.start_ms,
    });
    let config = SimConfig {
        token: TOKEN.into(),
        rate_limits: RateLimitConfig::scaled(1_000, 1.0),
        latency_ms,
        ..SimConfig::default()
    };
    SimServer::start_live(org, config, spec, 0)
        .await
        .expect("start okta-sim")
}

fn live_now(sim: &SimServer) -> i64 {
    sim.live_log(|l| l.now_ms()).expect("a live log")
}

fn stopped(sim: &SimServer) -> bool {
    sim.live_log(|l| l.stopped()).expect("a live log")
}

async fn poll(host: &KriHost, now_ms: i64) -> RunOutcome {
    let outcome = host
        .run(
            "okta",
            "acme",
            RunOptions {
                now_ms: Some(now_ms),
                progress: None,
                job: Some("logs".into()),
            },
        )
        .await
        .expect("the poll starts");
    assert!(outcome.succeeded, "poll failed: {:?}", outcome.error);
    outcome
}

/// Events a poll read, from its note (`logs poll: P pages, N events ...`).
fn events_read(outcome: &RunOutcome) -> u64 {
    let note = outcome.stats.note.clone().unwrap_or_default();
    note.split(" pages, ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no event count in the note {note:?}"))
}

/// Polls until the live clock has stopped and two polls in a row read nothing.
async fn poll_to_the_end(host: &KriHost, sim: &SimServer) -> usize {
    let mut polls = 0;
    let mut quiet = 0;
    let deadline = Instant::now() + Duration::from_secs(240);
    while quiet < 2 {
        assert!(Instant::now() < deadline, "the stream did not catch up");
        let was_stopped = stopped(sim);
        let outcome = poll(host, live_now(sim)).await;
        polls += 1;
        if was_stopped && events_read(&outcome) == 0 {
            quiet += 1;
        } else {
            quiet = 0;
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
    polls
}

/// The stored events equal the simulator's visible log (by uuid, each once), and the
/// alerts equal the planted ground truth, each incident exactly once.
async fn assert_stream_matches(host: &KriHost, sim: &SimServer) {
    let (visible, late, planted, stop) = sim
        .live_log(|l| {
            let visible: Vec<(String, i64)> = l
                .visible()
                .iter()
                .map(|e| (e.uuid.clone(), e.published_ms))
                .collect();
            let late = l
                .visible()
                .iter()
                .filter(|e| e.appeared_ms > e.published_ms)
                .count();
            (visible, late, l.planted().to_vec(), l.now_ms())
        })
        .expect("a live log");
    let stored = host
        .events("acme", &EventFilter::default(), usize::MAX / 2)
        .await
        .expect("events");
    let stored_ids: Vec<&str> = stored.iter().map(|e| e.event.id.as_str()).collect();
    let stored_set: BTreeSet<&str> = stored_ids.iter().copied().collect();
    assert_eq!(
        stored_set.len(),
        stored_ids.len(),
        "an event is stored twice"
    );
    let want: BTreeSet<&str> = visible.iter().map(|(u, _)| u.as_str()).collect();
    let lost: Vec<&&str> = want.difference(&stored_set).take(5).collect();
    let extra: Vec<&&str> = stored_set.difference(&want).take(5).collect();
    assert!(
        lost.is_empty() && extra.is_empty(),
        "{} visible, {} stored; lost {lost:?}, extra {extra:?}",
        want.len(),
        stored_set.len()
    );
    assert!(late > 0, "the live log persisted no event late");
    let published: BTreeMap<&str, i64> = visible.iter().map(|(u, p)| (u.as_str(), *p)).collect();
    for e in &stored {
        assert_eq!(Some(&e.event.time_ms), published.get(e.event.id.as_str()));
    }

    let alerts = host.alerts("acme", None, None).await.expect("alerts");
    let got: Vec<(String, String, String, String)> = {
        let mut v: Vec<_> = alerts
            .iter()
            .map(|a| {
                (
                    a.detection.clone(),
                    a.entity.kind.clone(),
                    a.entity.id.clone(),
                    a.severity.as_str().to_string(),
                )
            })
            .collect();
        v.sort();
        v
    };
    let due: Vec<(String, String, String, String)> = {
        let mut v: Vec<_> = planted
            .iter()
            .filter(|p| p.complete_ms <= stop)
            .map(|p| {
                (
                    p.detection.to_string(),
                    p.entity_kind.to_string(),
                    p.entity_id.clone(),
                    p.severity.to_string(),
                )
            })
            .collect();
        v.sort();
        v
    };
    assert!(due.len() >= 7, "too few attacks played: {due:?}");
    assert_eq!(got, due, "alerts differ from the planted ground truth");
    for a in &alerts {
        assert!(!a.evidence.is_empty(), "{a:?}");
        assert!(
            a.evidence.iter().all(|u| want.contains(u.as_str())),
            "{a:?}"
        );
        assert!(a.first_seen_ms <= a.last_seen_ms, "{a:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minutes_of_live_polling_store_every_event_once_and_raise_each_planted_alert_once() {
    let env = TestEnv::new(&["plugins/okta.wasm"]);
    let host = env.host().await;
    // 36 minutes of log at a minute per wall second, an attack every 3 minutes (the
    // seven that finish before the clock stops are played).
    let spec = LiveLogSpec {
        seed: 7,
        speed: 60.0,
        events_per_sec: 5.0,
        stop_ms: Some(LiveLogSpec::default().start_ms + 36 * MINUTE),
        ..LiveLogSpec::default()
    };
    let sim = start_live(spec, 0).await;
    host.add_tenant(
        tenant("acme", "okta", &sim.base_url(), json!({})),
        &token(TOKEN),
    )
    .await
    .expect("add tenant");
    let polls = poll_to_the_end(&host, &sim).await;
    assert!(polls >= 10, "only {polls} polls");
    assert_stream_matches(&host, &sim).await;

    // The cursor lives in the job's state; a poll records its lag and what it read.
    let runs = host.runs("acme", 1).await.expect("runs");
    let note = runs[0].note.clone().unwrap_or_default();
    assert!(note.contains("lag "), "{note}");
    assert!(note.contains("detection state "), "{note}");

    // Replaying the whole stream from the start (a lost cursor) stores and raises
    // nothing new: events are unique by uuid, alerts by dedupe key.
    let before = host.alerts("acme", None, None).await.expect("alerts").len();
    {
        let db = rusqlite::Connection::open(env.data_dir().join("kri.db")).expect("open kri.db");
        let n = db
            .execute(
                "DELETE FROM state WHERE tenant_id = 'acme' AND key LIKE '%logs/%'",
                [],
            )
            .expect("forget the logs job's state");
        assert_eq!(
            n, 3,
            "the cursor, the detection windows and where the stored stream starts"
        );
    }
    poll_to_the_end(&host, &sim).await;
    assert_stream_matches(&host, &sim).await;
    assert_eq!(
        host.alerts("acme", None, None).await.expect("alerts").len(),
        before
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_halfway_through_a_poll_loses_and_duplicates_nothing() {
    let env = TestEnv::new(&["plugins/okta.wasm"]);
    // A backlog of about 20 pages, 150 ms per page and 8 pages per poll: a poll runs
    // for over a second, and is killed in the middle.
    let spec = LiveLogSpec {
        seed: 11,
        speed: 240.0,
        events_per_sec: 12.0,
        stop_ms: Some(LiveLogSpec::default().start_ms + 40 * MINUTE),
        ..LiveLogSpec::default()
    };
    let sim = start_live(spec, 150).await;
    {
        let host = env.host().await;
        host.add_tenant(
            tenant(
                "acme",
                "okta",
                &sim.base_url(),
                json!({"log_pages_per_poll": 8}),
            ),
            &token(TOKEN),
        )
        .await
        .expect("add tenant");
    }
    while !stopped(&sim) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let logs_requests = || {
        sim.stats()
            .by_family
            .get(&okta_sim::Family::Logs)
            .copied()
            .unwrap_or(0)
    };
    let mut killed = 0;
    let mut killed_while_reading = 0;
    for (i, after_ms) in [900u64, 1500, 700].into_iter().enumerate() {
        let now = live_now(&sim).to_string();
        let requests_before = logs_requests();
        let mut child = std::process::Command::new(kri_bin())
            .env("KRI_DATA_DIR", env.data_dir())
            .env("KRI_PLUGINS", env.plugins_dir())
            .env_remove("KRI_ENCRYPTION_KEY")
            .args([
                "run-connector",
                "okta",
                "--tenant",
                "acme",
                "--job",
                "logs",
                "--now",
                &now,
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn kri");
        std::thread::sleep(Duration::from_millis(after_ms));
        if child.try_wait().expect("wait").is_none() {
            child.kill().expect("SIGKILL");
            killed += 1;
            if logs_requests() > requests_before {
                killed_while_reading += 1;
            }
        }
        let status = child.wait().expect("reap");
        // The first poll (i = 0) of a 20-page backlog at 8 pages per poll cannot be done.
        if i == 0 {
            assert!(!status.success(), "the first poll finished before the kill");
        }
    }
    assert!(
        killed >= 1 && killed_while_reading >= 1,
        "no poll was killed halfway ({killed} killed, {killed_while_reading} while reading pages)"
    );
    let host = env.host().await;
    let runs = host.runs("acme", 10).await.expect("runs");
    assert!(
        runs.iter()
            .any(|r| r.status != kri_host::model::RunStatus::Succeeded),
        "no killed run recorded: {runs:?}"
    );
    poll_to_the_end(&host, &sim).await;
    assert_stream_matches(&host, &sim).await;
}
