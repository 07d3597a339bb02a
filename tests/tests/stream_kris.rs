//! End-to-end: the Okta connector's three 24-hour log KRIs computed from the tenant's
//! stored event stream equal the same KRIs read from the System Log, on several
//! okta-sim seeds. The stream is stored through the host by the `stream-emitter` test
//! component (the Okta manifest with a `logs` job that emits the System Log as events
//! and declares their coverage); then the real `okta.wasm` runs the `kris` job over the
//! same data directory for a tenant with the stream and one without.

use std::collections::BTreeMap;

use kri_e2e::*;
use kri_host::KriHost;
use okta_sim::SimServer;
use serde_json::{json, Value};

const NOW: i64 = 1_795_400_000_000; // 2026-11-23T02:13:20Z
const TOKEN: &str = "00sim-token-for-e2e-tests";
const HOUR: i64 = 3_600_000;

async fn add_tenant(host: &KriHost, id: &str, sim: &SimServer, extra: Value) {
    let mut t = tenant(id, "okta", &sim.base_url(), extra);
    t.quotas.insert("outputs".into(), 1_000_000);
    host.add_tenant(t, &token(TOKEN)).await.expect("add tenant");
}

/// The simulator's System Log events with `published` in `(after, until]`.
fn sim_events(sim: &SimServer, after: i64, until: i64) -> usize {
    let org = sim.org();
    let org = org.read().expect("org lock");
    org.events
        .iter()
        .filter(|e| e.published_ms > after && e.published_ms <= until)
        .count()
}

/// Stores the stream of tenant `id` with the emitter (`backfill_hours` of System Log
/// before NOW), in a host of its own over `env`'s data directory.
async fn store_stream(env: &TestEnv, sim: &SimServer, ids: &[(&str, i64)]) {
    env.add_plugin("test-plugins/stream-emitter.wasm");
    let host = env.host().await;
    for (id, hours) in ids {
        add_tenant(
            &host,
            id,
            sim,
            json!({"backfill_hours": hours, "pages_per_run": 5}),
        )
        .await;
        let mut stored = 0usize;
        let mut runs = 0;
        loop {
            let o = run_okta_job(&host, id, "logs", NOW).await;
            stored += o.emitted.values().sum::<u64>() as usize;
            runs += 1;
            if run_note(&o).contains("coverage declared") {
                break;
            }
            assert!(runs < 200, "{id}: the emitter never finished");
        }
        assert_eq!(
            stored,
            sim_events(sim, NOW - hours * HOUR, NOW),
            "{id}: every System Log event of the backfill is stored once"
        );
        assert!(stored > 100, "{id}: a day of events, got {stored}");
    }
    drop(host);
    std::fs::remove_file(env.plugins_dir().join("stream-emitter.wasm")).expect("swap plugins");
    env.add_plugin("plugins/okta.wasm");
}

#[tokio::test(flavor = "multi_thread")]
async fn log_kris_from_the_stored_stream_equal_the_system_log_on_several_seeds() {
    // Each KRI's values summed over the seeds: the comparison is not over zeros only.
    let mut totals: BTreeMap<String, f64> = BTreeMap::new();
    for seed in [3u64, 11, 42] {
        let sim = start_okta_sim(seed, 300, NOW, TOKEN).await;
        let env = TestEnv::new(&[]);
        // `week` covers the admin-session look-back (168 h) too, `day2` only the last
        // 24 h, `half` neither.
        store_stream(&env, &sim, &[("week", 200), ("day2", 48), ("half", 12)]).await;
        let host = env.host().await;
        add_tenant(&host, "direct", &sim, json!({})).await;
        let direct = run_okta_job(&host, "direct", "kris", NOW).await;
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
        for id in ["week", "day2", "half"] {
            let o = run_okta_job(&host, id, "kris", NOW).await;
            assert_eq!(log_values(&o), want, "seed {seed} tenant {id}");
            let from_stream = run_note(&o).contains("from the stored stream");
            assert_eq!(
                from_stream,
                id != "half",
                "seed {seed} {id}: {}",
                run_note(&o)
            );
            if from_stream {
                // The day was not read again from the System Log.
                assert!(
                    o.stats.requests < direct.stats.requests,
                    "seed {seed} {id}: {} requests vs {} without the stream",
                    o.stats.requests,
                    direct.stats.requests
                );
            }
        }
        // The next day: the stream ends where the emitter stopped, the rest of the
        // window comes from the System Log, and the values still agree.
        let later = NOW + 2 * HOUR;
        let direct = run_okta_job(&host, "direct", "kris", later).await;
        let week = run_okta_job(&host, "week", "kris", later).await;
        assert_eq!(log_values(&week), log_values(&direct), "seed {seed} later");
        assert!(
            run_note(&week).contains("from the stored stream until"),
            "{}",
            run_note(&week)
        );
        sim.shutdown().await;
    }
    assert!(totals.values().all(|t| *t > 0.0), "{totals:?}");
}
