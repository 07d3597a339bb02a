//! Figures 10 and 11 of `kri-bench`: the System Log stream (`logs` job) against
//! okta-sim's live System Log.
//!
//! 10. Ingest throughput, end to end: a backlog of events in the live log, polled
//!     through the host (wasm connector, detections, SQLite commit) until caught up;
//!     events stored per second of wall time, and the detection state's size.
//! 11. Alert delay under a steady 100 events/s: the live log runs on the wall clock
//!     with an attack planted every 15 s (those that finish before the log stops); polls run back to back; for each planted
//!     alert, the time from the appearance of the last of its events to the end of
//!     the poll that committed its alert.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use anyhow::{bail, Result};
use kri_e2e::{tenant, token};
use kri_host::{KriHost, RunOptions, RunOutcome};
use okta_sim::{LiveLogSpec, Org, OrgSpec, SimServer};
use serde_json::json;

use super::{host_with, sim_config, Bench, TOKEN};

async fn poll(host: &KriHost, now_ms: i64) -> Result<RunOutcome> {
    let o = host
        .run(
            "okta",
            "stream",
            RunOptions {
                now_ms: Some(now_ms),
                progress: None,
                job: Some("logs".into()),
            },
        )
        .await?;
    if !o.succeeded {
        bail!("logs poll failed: {:?}", o.error);
    }
    Ok(o)
}

/// A number after `word ` in a poll's note (`... 3 pages, 2412 events ...`).
fn note_number(o: &RunOutcome, before: &str) -> u64 {
    let note = o.stats.note.clone().unwrap_or_default();
    note.split(before)
        .next()
        .and_then(|head| head.rsplit([' ', '(']).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

async fn start(spec: LiveLogSpec) -> Result<SimServer> {
    let org = Org::generate(&OrgSpec {
        seed: spec.seed,
        users: 20,
        now_ms: spec.start_ms,
    });
    let mut config = sim_config(okta_sim::RateLimitConfig::scaled(1_000, 1_000.0), 0);
    config.latency_jitter_ms = 0;
    SimServer::start_live(org, config, spec, 0).await
}

fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Bench {
    /// Figure 10.
    pub(crate) async fn stream_ingest(&mut self) -> Result<()> {
        let minutes: i64 = if self.quick { 20 } else { 60 };
        let rate = 25.0;
        println!("\n[10] System Log ingest: a backlog of {minutes} min at {rate} events/s, polled through the host until caught up");
        let start_ms = super::NOW;
        let spec = LiveLogSpec {
            seed: 10,
            start_ms,
            // The whole backlog is there within a second of wall time.
            speed: 1e7,
            events_per_sec: rate,
            users: 5_000,
            stop_ms: Some(start_ms + minutes * 60_000),
            ..LiveLogSpec::default()
        };
        let sim = start(spec).await?;
        let (_dir, host) = host_with(&["plugins/okta.wasm"], 1.0).await?;
        host.add_tenant(
            tenant("stream", "okta", &sim.base_url(), json!({})),
            &token(TOKEN),
        )
        .await?;
        tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
        let now = sim.live_log(|l| l.now_ms()).unwrap_or(start_ms);
        let visible = sim.live_log(|l| l.visible().len()).unwrap_or(0) as u64;
        let t = Instant::now();
        let mut stored = 0;
        let mut polls = 0;
        let mut pages = 0;
        let mut state_bytes;
        loop {
            let o = poll(&host, now).await?;
            polls += 1;
            let poll = o.stats.stream.unwrap_or_default();
            let read = poll.events;
            pages += poll.pages;
            // The state's size is only in the run's note.
            state_bytes = note_number(&o, " bytes");
            stored += read;
            if read == 0 {
                break;
            }
        }
        let wall = t.elapsed().as_secs_f64();
        let per_sec = stored as f64 / wall;
        println!(
            "    {stored} events ({visible} in the log) in {polls} polls, {pages} pages, {wall:.1} s: {per_sec:.0} events/s; detection state {state_bytes} bytes"
        );
        // The state the detections keep after a day: the benchmark's synthetic day of
        // System Log through the same detections, page by page, natively.
        let day_events: usize = if self.quick { 100_000 } else { 1_000_000 };
        let (day_state_bytes, day_parts, day_alerts) =
            kri_bench_guest::bench::detection_state_after(day_events, super::NOW, 1);
        let parts: Vec<String> = day_parts
            .iter()
            .map(|(part, bytes)| format!("{part} {:.1}", *bytes as f64 / 1_048_576.0))
            .collect();
        println!(
            "    detection state after a day of {day_events} events: {day_state_bytes} bytes ({:.1} MiB; {day_alerts} alerts raised); MiB by part: {}",
            day_state_bytes as f64 / 1_048_576.0,
            parts.join(", ")
        );
        self.record(
            "stream_ingest",
            json!({"events": stored, "in_log": visible, "polls": polls, "pages": pages,
                   "wall_s": wall, "events_per_s": per_sec, "detection_state_bytes": state_bytes,
                   "day_events": day_events, "day_detection_state_bytes": day_state_bytes,
                   "day_detection_state_bytes_by_part": day_parts.iter().copied().collect::<BTreeMap<_, _>>()}),
        );
        Ok(())
    }

    /// Figure 11.
    pub(crate) async fn stream_alert_delay(&mut self) -> Result<()> {
        let seconds: i64 = if self.quick { 60 } else { 240 };
        println!("\n[11] alert delay: the live log on the wall clock at 100 events/s for {seconds} s, an attack every 15 s, polls back to back");
        let start_ms = wall_ms();
        let spec = LiveLogSpec {
            seed: 11,
            start_ms,
            speed: 1.0,
            events_per_sec: 100.0,
            users: 5_000,
            scenario_every_ms: Some(15_000),
            stop_ms: Some(start_ms + seconds * 1000),
            ..LiveLogSpec::default()
        };
        let sim = start(spec).await?;
        let (_dir, host) = host_with(&["plugins/okta.wasm"], 1.0).await?;
        host.add_tenant(
            tenant("stream", "okta", &sim.base_url(), json!({})),
            &token(TOKEN),
        )
        .await?;
        // (detection, entity) -> wall time the poll that committed it ended.
        let mut raised: Vec<((String, String), i64)> = Vec::new();
        let mut known = BTreeSet::new();
        let mut poll_ms = Vec::new();
        let mut stored = 0;
        loop {
            let stopped = sim.live_log(|l| l.stopped()).unwrap_or(true);
            let t = Instant::now();
            let o = poll(&host, wall_ms()).await?;
            poll_ms.push(t.elapsed().as_millis() as i64);
            stored += note_number(&o, " events");
            let end = wall_ms();
            for a in host.alerts("stream", None, None).await? {
                let key = (a.detection.clone(), a.entity.id.clone());
                if known.insert(a.id) {
                    raised.push((key, end));
                }
            }
            if stopped {
                break;
            }
        }
        let planted = sim.live_log(|l| l.planted().to_vec()).unwrap_or_default();
        let mut delays: Vec<i64> = planted
            .iter()
            .filter_map(|p| {
                raised
                    .iter()
                    .find(|((d, e), _)| d == p.detection && *e == p.entity_id)
                    .map(|(_, at)| at - p.complete_ms)
            })
            .collect();
        delays.sort();
        poll_ms.sort();
        let pct = |v: &[i64], q: f64| -> i64 {
            if v.is_empty() {
                return 0;
            }
            v[((v.len() - 1) as f64 * q).round() as usize]
        };
        let due = planted
            .iter()
            .filter(|p| p.complete_ms <= start_ms + seconds * 1000)
            .count();
        println!(
            "    {stored} events stored; {} of {due} planted alerts raised; delay median {} ms, p90 {} ms, max {} ms; poll median {} ms ({} polls); {} alerts in all",
            delays.len(),
            pct(&delays, 0.5),
            pct(&delays, 0.9),
            delays.last().copied().unwrap_or(0),
            pct(&poll_ms, 0.5),
            poll_ms.len(),
            raised.len()
        );
        self.record(
            "stream_alert_delay",
            json!({"events": stored, "planted_due": due, "raised": delays.len(), "alerts": raised.len(),
                   "delay_ms_median": pct(&delays, 0.5), "delay_ms_p90": pct(&delays, 0.9),
                   "delay_ms_max": delays.last().copied().unwrap_or(0),
                   "poll_ms_median": pct(&poll_ms, 0.5), "polls": poll_ms.len()}),
        );
        Ok(())
    }
}
