//! End-to-end: the real Okta connector's `logs` job, polled against okta-sim until it
//! catches up, feeds its `kris` job. The three 24-hour log KRIs then come from the
//! stored stream, reading far less of the System Log, and equal the values read from
//! the System Log, on several seeds. Each poll's pages, events and lag are kept with its
//! run (`kri runs -o json`), and `kri events -o json` lists the normalized columns.

use std::collections::BTreeMap;

use kri_e2e::*;
use kri_host::{KriHost, RunOptions, RunOutcome};
use okta_sim::{Org, OrgSpec, RateLimitConfig, SimConfig, SimServer};
use serde_json::{json, Value};

const NOW: i64 = 1_795_400_000_000; // 2026-11-23T02:13:20Z
const TOKEN: &str = "00sim-token-for-e2e-tests";
const HOUR: i64 = 3_600_000;
/// The stream's backfill: beyond the admin-session look-back (168 h), so every log
/// KRI window can come from the stream.
const BACKFILL_HOURS: i64 = 200;

async fn start_sim(seed: u64, users: usize) -> SimServer {
    let org = Org::generate(&OrgSpec {
        seed,
        users,
        now_ms: NOW,
    });
    let config = SimConfig {
        token: TOKEN.into(),
        rate_limits: RateLimitConfig::scaled(1_000, 1.0),
        ..SimConfig::default()
    };
    SimServer::start(org, config, 0)
        .await
        .expect("start okta-sim")
}

async fn add_tenant(host: &KriHost, id: &str, sim: &SimServer, extra: Value) {
    let mut t = tenant(id, "okta", &sim.base_url(), extra);
    t.quotas.insert("outputs".into(), 1_000_000);
    host.add_tenant(t, &token(TOKEN)).await.expect("add tenant");
}

async fn run(host: &KriHost, id: &str, job: &str) -> RunOutcome {
    let o = host
        .run(
            "okta",
            id,
            RunOptions {
                now_ms: Some(NOW),
                progress: None,
                job: Some(job.into()),
            },
        )
        .await
        .expect("run starts");
    assert!(o.succeeded, "{id} {job}: {:?}", o.error);
    o
}

/// The simulator's System Log events with `published` in `(after, until]`: how many,
/// and the newest `published`.
fn sim_events(sim: &SimServer, after: i64, until: i64) -> (usize, Option<i64>) {
    let org = sim.org();
    let org = org.read().expect("org lock");
    let times: Vec<i64> = org
        .events
        .iter()
        .map(|e| e.published_ms)
        .filter(|&t| t > after && t <= until)
        .collect();
    (times.len(), times.iter().copied().max())
}

fn json_out(env: &TestEnv, args: &[&str]) -> Value {
    let out = env.kri(args);
    assert!(out.status.success(), "kri {args:?}: {}", stderr(&out));
    serde_json::from_str(&stdout(&out)).expect("JSON output")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_logs_job_feeds_the_log_kris_with_the_system_logs_values_on_several_seeds() {
    // Each KRI's values summed over the seeds: the comparison is not over zeros only.
    let mut totals: BTreeMap<String, f64> = BTreeMap::new();
    for seed in [3u64, 11, 42] {
        let sim = start_sim(seed, 300).await;
        let env = TestEnv::new(&["plugins/okta.wasm"]);
        let host = env.host().await;
        add_tenant(
            &host,
            "streamed",
            &sim,
            json!({"log_backfill_hours": BACKFILL_HOURS, "log_pages_per_poll": 2}),
        )
        .await;
        add_tenant(&host, "direct", &sim, json!({})).await;

        // Poll until a poll reaches the empty page.
        let mut polls = Vec::new();
        loop {
            let o = run(&host, "streamed", "logs").await;
            let caught_up = !run_note(&o).contains("the next poll goes on from the cursor");
            polls.push(o);
            if caught_up {
                break;
            }
            assert!(
                polls.len() < 500,
                "seed {seed}: the logs job never caught up"
            );
        }
        let (want_events, newest) = sim_events(&sim, NOW - BACKFILL_HOURS * HOUR, NOW);
        assert!(want_events > 1_000, "seed {seed}: {want_events} events");
        let stored: u64 = polls
            .iter()
            .map(|o| {
                o.emitted
                    .get(&kri_host::model::OutputKind::Event)
                    .copied()
                    .unwrap_or(0)
            })
            .sum();
        assert_eq!(
            stored as usize, want_events,
            "seed {seed}: every event once"
        );
        assert!(
            polls.len() > 1,
            "seed {seed}: a bounded poll cannot read it all"
        );

        // Each poll's figures are stored with its run, newest run first.
        let runs = host.runs("streamed", 1_000).await.expect("runs");
        assert_eq!(runs.len(), polls.len());
        for (r, o) in runs.iter().rev().zip(&polls) {
            let reported = o.stats.stream.expect("the poll reported its figures");
            assert_eq!(r.stream_pages, Some(reported.pages), "run {}", r.id);
            assert_eq!(r.stream_events, Some(reported.events), "run {}", r.id);
            assert_eq!(r.stream_lag_ms, reported.lag_ms, "run {}", r.id);
            assert!(
                (1..=2).contains(&reported.pages),
                "run {}: {reported:?}",
                r.id
            );
        }
        let read: u64 = runs.iter().filter_map(|r| r.stream_events).sum();
        assert_eq!(read as usize, want_events, "seed {seed}: events read");
        let last = &runs[0];
        assert_eq!(
            last.stream_lag_ms,
            newest.map(|t| NOW - t),
            "seed {seed}: the lag is now less the newest event"
        );
        // The same figures through the CLI, as new JSON fields of `kri runs`.
        let cli_runs = json_out(&env, &["runs", "--tenant", "streamed", "--json"]);
        assert_eq!(cli_runs[0]["stream_pages"], json!(last.stream_pages));
        assert_eq!(cli_runs[0]["stream_lag_ms"], json!(last.stream_lag_ms));
        // `kri events -o json` carries the normalized columns.
        let events = json_out(
            &env,
            &["events", "--tenant", "streamed", "--limit", "50", "--json"],
        );
        let events = events.as_array().expect("array");
        assert_eq!(events.len(), 50);
        for e in events {
            for field in ["severity", "actor_id", "outcome_result", "client_ip"] {
                assert!(e[field].is_string(), "seed {seed}: {field} in {e}");
            }
            assert_eq!(e["actor_id"], e["raw"]["actor"]["id"]);
            assert_eq!(e["client_ip"], e["raw"]["client"]["ipAddress"]);
        }

        // The log KRIs: from the System Log for `direct`, from the stream for
        // `streamed`, the same values, and the day is not read again.
        let direct = run(&host, "direct", "kris").await;
        assert!(
            run_note(&direct).contains("from the system log"),
            "{}",
            run_note(&direct)
        );
        let want = log_values(&direct);
        assert_eq!(want.len(), 3, "seed {seed}: {want:?}");
        assert!(want.values().all(Option::is_some), "seed {seed}: {want:?}");
        for (slug, v) in &want {
            *totals.entry(slug.clone()).or_default() += v.unwrap_or(0.0);
        }
        let streamed = run(&host, "streamed", "kris").await;
        assert!(
            run_note(&streamed).contains("from the stored stream"),
            "seed {seed}: {}",
            run_note(&streamed)
        );
        assert_eq!(log_values(&streamed), want, "seed {seed}");
        // Only the last minutes (after the stream's declared end, which allows for
        // late events) are read from the System Log: the same requests at most, and
        // far fewer bytes than a day of it.
        assert!(
            streamed.stats.requests <= direct.stats.requests,
            "seed {seed}: {} requests with the stream vs {} without",
            streamed.stats.requests,
            direct.stats.requests
        );
        assert!(
            streamed.stats.bytes * 2 < direct.stats.bytes,
            "seed {seed}: {} bytes read with the stream vs {} without",
            streamed.stats.bytes,
            direct.stats.bytes
        );
        sim.shutdown().await;
    }
    assert!(totals.values().all(|t| *t > 0.0), "{totals:?}");
}
