//! `kri-bench`: the figures `make bench` prints. Not a test: it measures and prints.
//!
//! 1. A 10,000-user org, full run, against okta-sim with Okta's per-minute limits
//!    compressed into one-second windows: requests, 429s, wall time, rate-limit floor.
//! 2. The same org a day later with 1 % of users changed: the incremental run's
//!    requests against the full run's, and its KRIs against a forced full run's.
//! 3. The same KRIs from a plain script using Okta's Python SDK, same org and limits.
//! 4. 200 tenants, each its own simulated org (served by a child process), at once:
//!    total time, the host's peak memory and memory per run, slowest vs median.
//! 5. Host overhead: component compile vs cache load, instantiation, one request
//!    through the host vs a direct reqwest call, and the log KRIs over 1,000,000
//!    events in wasm vs native (the fastest of 3 rounds each, taken in turns).
//! 6. Concurrency that adapts: a full run of a 2,500-user org that allows only 8
//!    requests in flight: its concurrency 429s and its wall time against the
//!    rate-limit floor, printed next to the figures of the previous `make bench`.
//! 7. A first sync longer than one run: the same org and limits as 1, a `wall_ms` of
//!    20 s, runs until every KRI is evaluated: runs, requests against one full run's,
//!    total wall time against the rate-limit floor.
//! 8. The identity graph: a full `inventory` sync of a 10,000-user org with 1,000
//!    groups and 300 apps (requests, wall time against the rate-limit floor), and an
//!    incremental one a day later as a share of its requests (`bench/inventory.rs`).
//! 9. The six seed queries of issue 9 and the graph commands (`kri access`, `kri
//!    admins`, `kri tokens`) on a 100,000-user graph on SQLite: each one's time; and
//!    building that graph: the commit's and the `access_path` rebuild's time and
//!    peak memory, each measured from the RSS it starts at.
//! 10. System Log ingest throughput, end to end (events/s), the detection state's size
//!     after the backlog and after a synthetic day of 1,000,000 events
//!     (`bench/stream.rs`).
//! 11. The delay from an event's appearance to its alert under a steady 100 events/s
//!     (`bench/stream.rs`).
//! 12. A 1,000,000-event backfill (`bench/backfill.rs`): its wall time and the host's
//!     peak memory, then the three log KRIs from the stored stream within the default
//!     256 MiB guest memory quota.
//! 13. 1,000 tenants (orgs of 50 users) on three `kri serve` hosts sharing one
//!     PostgreSQL (`bench/fleet.rs`): runs per minute, scheduling delay p50/p99, the
//!     spread of runs across the hosts, each host's peak memory, and the scheduler's
//!     own store work per round (sync, claim).
//!
//! Usage: `kri-bench [--only N,...] [--users N] [--quick]`. Figures also go to
//! `target/bench/results.json`, over the previous figures of the ones not run.

#[path = "bench/graph_queries.rs"]
mod graph_queries;

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};

#[path = "bench/backfill.rs"]
mod backfill;
use kri_e2e::{component, tenant, token, workspace, EdgeServer};
use kri_host::{HostConfig, KriHost, RunOptions, RunOutcome};
use okta_sim::{Family, Org, OrgSpec, RateLimitConfig, SimConfig, SimServer};
use serde_json::{json, Value};

#[path = "bench/inventory.rs"]
mod inventory;

const NOW: i64 = 1_795_400_000_000;
/// Rounds of figure 5's log KRIs, wasm then native in turn; each side's fastest counts.
const WASM_VS_NATIVE_ROUNDS: usize = 3;
const DAY: i64 = 86_400_000;
const TOKEN: &str = "00bench-token-0123456789";
/// Okta's per-minute limits x2.5 per five-second window: the same request rates
/// as half of Okta's budget per second, 30x faster than real time, same shape.
const WINDOW_MS: u64 = 5_000;
const LIMIT_FACTOR: f64 = 2.5;
const LATENCY_MS: u64 = 20;
const SHARE: f64 = 0.5;

#[path = "bench/stream.rs"]
mod stream;

#[path = "bench/fleet.rs"]
mod fleet;

struct Bench {
    results: BTreeMap<String, Value>,
    users: usize,
    quick: bool,
}

fn limits() -> RateLimitConfig {
    RateLimitConfig::scaled(WINDOW_MS, LIMIT_FACTOR)
}

fn sim_config(limits: RateLimitConfig, latency_ms: u64) -> SimConfig {
    SimConfig {
        token: TOKEN.into(),
        rate_limits: limits,
        latency_ms,
        latency_jitter_ms: latency_ms / 4,
        ..SimConfig::default()
    }
}

async fn host_with(plugins: &[&str], share: f64) -> Result<(tempfile::TempDir, KriHost)> {
    let dir = tempfile::tempdir()?;
    let plugins_dir = dir.path().join("plugins");
    std::fs::create_dir_all(&plugins_dir)?;
    for p in plugins {
        let src = component(p);
        std::fs::copy(
            &src,
            plugins_dir.join(src.file_name().context("file name")?),
        )?;
    }
    let mut cfg = HostConfig::new(dir.path().join("data"));
    cfg.plugins_dir = plugins_dir;
    cfg.pacing.share = share;
    let host = KriHost::open(cfg, true).await?;
    Ok((dir, host))
}

async fn run_at(host: &KriHost, connector: &str, id: &str, now: i64) -> Result<RunOutcome> {
    let o = host
        .run(
            connector,
            id,
            RunOptions {
                now_ms: Some(now),
                progress: None,
                job: None,
            },
        )
        .await?;
    if !o.succeeded {
        bail!("run {id} failed: {:?}", o.error);
    }
    Ok(o)
}

fn values(o: &RunOutcome) -> BTreeMap<String, Option<f64>> {
    o.outputs
        .iter()
        .map(|x| (x.slug.clone(), x.value))
        .collect()
}

fn truth(org: &Org, now: i64) -> BTreeMap<String, Option<f64>> {
    org.ground_truth(now, None)
        .by_slug()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
}

/// The time the rate limits alone force on `requests` per family, under `share`.
fn floors(
    by_family: &BTreeMap<Family, u64>,
    limits: &RateLimitConfig,
    share: f64,
) -> (u64, u64, String) {
    let mut sum = 0;
    let mut max = 0;
    let mut dominant = String::new();
    for (family, requests) in by_family {
        let limit = u64::from(limits.limit(*family));
        let f = kri_policy::pacing::floor_ms(*requests, limit, limits.window_ms, share);
        sum += f;
        if f > max {
            max = f;
            dominant = format!("{family:?}");
        }
    }
    (sum, max, dominant)
}

fn secs(ms: u64) -> String {
    format!("{:.1} s", ms as f64 / 1000.0)
}

impl Bench {
    fn record(&mut self, key: &str, v: Value) {
        self.results.insert(key.to_string(), v);
    }

    fn spec(&self, seed: u64) -> OrgSpec {
        OrgSpec {
            seed,
            users: self.users,
            now_ms: NOW,
        }
    }

    /// Figures 1 and 2.
    async fn full_and_incremental(&mut self) -> Result<()> {
        println!("\n[1] full run, {} users, Okta limits x{LIMIT_FACTOR} per {WINDOW_MS} ms window, share {SHARE}, latency {LATENCY_MS} ms", self.users);
        let org = Org::generate(&self.spec(4242));
        let sim = SimServer::start(org, sim_config(limits(), LATENCY_MS), 0).await?;
        let (_dir, host) = host_with(&["plugins/okta.wasm"], SHARE).await?;
        host.add_tenant(
            tenant("big", "okta", &sim.base_url(), json!({})),
            &token(TOKEN),
        )
        .await?;
        host.add_tenant(
            tenant(
                "big-full",
                "okta",
                &sim.base_url(),
                json!({"force_full_refresh": true}),
            ),
            &token(TOKEN),
        )
        .await?;
        let t = Instant::now();
        let full = run_at(&host, "okta", "big", NOW).await?;
        let wall = t.elapsed().as_millis() as u64;
        let stats = sim.stats();
        let (floor_sum, floor_max, dominant) = floors(&stats.by_family, &limits(), SHARE);
        let matches = {
            let org = sim.org();
            let org = org.read().map_err(|_| anyhow::anyhow!("org lock"))?;
            values(&full) == truth(&org, NOW)
        };
        println!(
            "    requests {}  429s {}  wall {}  KRIs match ground truth: {matches}",
            full.stats.requests,
            stats.too_many_requests,
            secs(wall)
        );
        println!("    floor: {} (sum of per-bucket floors; the connector's stages run one after another), largest bucket {dominant} {}", secs(floor_sum), secs(floor_max));
        println!(
            "    wall / floor = {:.3}  (target <= 1.10, zero 429s)",
            wall as f64 / floor_sum as f64
        );
        for (f, n) in &stats.by_family {
            println!(
                "      {f:?}: {n} requests, limit {} per window",
                limits().limit(*f)
            );
        }
        self.record("full_run", json!({
            "users": self.users, "requests": full.stats.requests, "responses_429": stats.too_many_requests,
            "wall_ms": wall, "floor_ms": floor_sum, "largest_bucket_floor_ms": floor_max,
            "wall_over_floor": wall as f64 / floor_sum as f64, "kris_match_truth": matches,
            "by_family": stats.by_family,
        }));

        println!("\n[2] a day later, 1 % of users changed: incremental run");
        {
            let org = sim.org();
            let mut org = org.write().map_err(|_| anyhow::anyhow!("org lock"))?;
            org.advance(DAY, 0.01, 7);
        }
        let later = NOW + DAY;
        let before = sim.stats().total_requests;
        let t = Instant::now();
        let inc = run_at(&host, "okta", "big", later).await?;
        let inc_wall = t.elapsed().as_millis() as u64;
        let inc_429 = sim.stats().too_many_requests - stats.too_many_requests;
        let _ = before;
        let reference = run_at(&host, "okta", "big-full", later).await?;
        let same = values(&inc) == values(&reference);
        let ratio = inc.stats.requests as f64 / full.stats.requests as f64;
        println!(
            "    requests {} vs full {} = {:.1} % (target <= 5 %)  wall {}  429s {}",
            inc.stats.requests,
            full.stats.requests,
            ratio * 100.0,
            secs(inc_wall),
            inc_429
        );
        println!("    KRIs identical to a forced full run on the same org: {same}");
        self.record("incremental_run", json!({
            "requests": inc.stats.requests, "full_requests": full.stats.requests, "ratio": ratio,
            "wall_ms": inc_wall, "identical_to_full": same,
        }));
        self.record("kri_full_wall_ms", json!(wall));
        self.record("kri_full_requests", json!(full.stats.requests));
        sim.shutdown().await;
        Ok(())
    }

    /// Figure 6: concurrency 429s and wall time of a full run against an org that
    /// allows 8 requests in flight, next to the previous `make bench` figures.
    async fn concurrency_limit(&mut self, previous: Option<&Value>) -> Result<()> {
        const USERS: usize = 2_500;
        const IN_FLIGHT: u32 = 8;
        println!("\n[6] full run, {USERS} users, an org that allows {IN_FLIGHT} requests in flight, Okta limits x{LIMIT_FACTOR} per {WINDOW_MS} ms window, share {SHARE}");
        let org = Org::generate(&OrgSpec {
            seed: 4242,
            users: USERS,
            now_ms: NOW,
        });
        let mut limits = limits();
        limits.concurrency = IN_FLIGHT;
        let sim = SimServer::start(org, sim_config(limits.clone(), LATENCY_MS), 0).await?;
        let (_dir, host) = host_with(&["plugins/okta.wasm"], SHARE).await?;
        host.add_tenant(
            tenant("narrow", "okta", &sim.base_url(), json!({})),
            &token(TOKEN),
        )
        .await?;
        let t = Instant::now();
        let run = run_at(&host, "okta", "narrow", NOW).await?;
        let wall = t.elapsed().as_millis() as u64;
        let stats = sim.stats();
        sim.shutdown().await;
        let (floor, _, _) = floors(&stats.by_family, &limits, SHARE);
        let ratio = wall as f64 / floor.max(1) as f64;
        println!(
            "    now:      concurrency 429s {}  (all 429s {})  requests {}  most in flight {}  wall {}  floor {}  wall / floor {ratio:.3}",
            stats.concurrency_limited,
            stats.too_many_requests,
            run.stats.requests,
            stats.max_in_flight,
            secs(wall),
            secs(floor)
        );
        match previous {
            Some(p) => println!(
                "    previous: concurrency 429s {}  (all 429s {})  requests {}  wall {}  floor {}  wall / floor {:.3}",
                p["concurrency_429s"],
                p["responses_429"],
                p["requests"],
                secs(p["wall_ms"].as_u64().unwrap_or(0)),
                secs(p["floor_ms"].as_u64().unwrap_or(0)),
                p["wall_over_floor"].as_f64().unwrap_or(0.0)
            ),
            None => println!("    previous: none recorded in target/bench/results.json"),
        }
        println!(
            "    target: at most a handful of concurrency 429s, wall / floor no worse than before"
        );
        self.record(
            "concurrency_8",
            json!({
                "users": USERS, "in_flight_allowed": IN_FLIGHT,
                "concurrency_429s": stats.concurrency_limited, "responses_429": stats.too_many_requests,
                "requests": run.stats.requests, "max_in_flight": stats.max_in_flight,
                "wall_ms": wall, "floor_ms": floor, "wall_over_floor": ratio,
                "previous": previous.cloned(),
            }),
        );
        Ok(())
    }

    /// Figure 7: a first sync longer than one run's `wall_ms`, over successive runs.
    async fn first_sync(&mut self) -> Result<()> {
        const WALL_MS: u64 = 20_000;
        println!(
            "\n[7] first sync over several runs, {} users, same limits as [1], wall_ms {WALL_MS}",
            self.users
        );
        let org = Org::generate(&self.spec(4242));
        let sim = SimServer::start(org, sim_config(limits(), LATENCY_MS), 0).await?;
        let (_dir, host) = host_with(&["plugins/okta.wasm"], SHARE).await?;
        let mut t = tenant("first", "okta", &sim.base_url(), json!({}));
        t.quotas.insert("wall_ms".into(), WALL_MS);
        host.add_tenant(t, &token(TOKEN)).await?;
        let mut runs = 0u64;
        let mut requests = 0;
        let t = Instant::now();
        let last = loop {
            runs += 1;
            if runs > 20 {
                bail!("no complete first sync after 20 runs");
            }
            let o = run_at(&host, "okta", "first", NOW).await?;
            requests += o.stats.requests;
            let pending = o.outputs.iter().filter(|x| x.reason.is_some()).count();
            println!(
                "    run {runs}: {} requests, {} ms, {pending} KRIs not evaluated yet",
                o.stats.requests, o.duration_ms
            );
            if pending == 0 {
                break o;
            }
        };
        let wall = t.elapsed().as_millis() as u64;
        let stats = sim.stats();
        let (floor_sum, _, _) = floors(&stats.by_family, &limits(), SHARE);
        let matches = {
            let org = sim.org();
            let org = org.read().map_err(|_| anyhow::anyhow!("org lock"))?;
            values(&last) == truth(&org, NOW)
        };
        let full = self
            .results
            .get("kri_full_requests")
            .and_then(Value::as_u64);
        println!(
            "    {runs} runs, {requests} requests{}, 429s {}, wall {} in all; KRIs match ground truth: {matches}",
            full.map(|f| format!(" = {:.3}x one full run's {f}", requests as f64 / f as f64))
                .unwrap_or_default(),
            stats.too_many_requests,
            secs(wall)
        );
        println!(
            "    floor of those requests: {}; wall / floor = {:.3}",
            secs(floor_sum),
            wall as f64 / floor_sum as f64
        );
        self.record("first_sync", json!({
            "users": self.users, "wall_ms_quota": WALL_MS, "runs": runs, "requests": requests,
            "full_run_requests": full, "responses_429": stats.too_many_requests, "wall_ms": wall,
            "floor_ms": floor_sum, "wall_over_floor": wall as f64 / floor_sum as f64,
            "kris_match_truth": matches,
        }));
        sim.shutdown().await;
        Ok(())
    }

    /// Figure 3.
    async fn python_sdk(&mut self) -> Result<()> {
        println!("\n[3] the same KRIs with Okta's Python SDK (plain script), same org and limits");
        let root = workspace();
        let setup = std::process::Command::new(root.join("scripts/bench-python-setup.sh"))
            .current_dir(&root)
            .output()
            .context("run scripts/bench-python-setup.sh")?;
        if !setup.status.success() {
            println!(
                "    skipped: the Python SDK could not be installed: {}",
                String::from_utf8_lossy(&setup.stderr).trim()
            );
            return Ok(());
        }
        let python = String::from_utf8_lossy(&setup.stdout)
            .lines()
            .last()
            .unwrap_or("python3")
            .trim()
            .to_string();
        let org = Org::generate(&self.spec(4242));
        let want = truth(&org, NOW);
        let sim = SimServer::start(org, sim_config(limits(), LATENCY_MS), 0).await?;
        let t = Instant::now();
        let out = tokio::process::Command::new(&python)
            .arg(root.join("bench/okta_sdk_kris.py"))
            .args([
                "--org-url",
                &sim.base_url(),
                "--token",
                TOKEN,
                "--now",
                &kri_host::store::format_ms(NOW),
            ])
            .output()
            .await
            .context("run the Python script")?;
        let wall = t.elapsed().as_millis() as u64;
        let stats = sim.stats();
        sim.shutdown().await;
        if !out.status.success() {
            println!(
                "    the script failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            return Ok(());
        }
        let v: Value = serde_json::from_slice(out.stdout.trim_ascii()).unwrap_or(Value::Null);
        let got: BTreeMap<String, Option<f64>> = v["kris"]
            .as_object()
            .map(|m| m.iter().map(|(k, x)| (k.clone(), x.as_f64())).collect())
            .unwrap_or_default();
        let matches = got == want;
        let kri_wall = self
            .results
            .get("kri_full_wall_ms")
            .and_then(|x| x.as_u64())
            .unwrap_or(0);
        let kri_req = self
            .results
            .get("kri_full_requests")
            .and_then(|x| x.as_u64())
            .unwrap_or(0);
        println!(
            "    python: requests {}  429s {}  wall {}  KRIs match ground truth: {matches}",
            stats.total_requests,
            stats.too_many_requests,
            secs(wall)
        );
        if kri_wall > 0 {
            println!("    kri / python: wall {:.2}  requests {:.2}  (kri uses at most {:.0} % of each bucket, the script all of it)", kri_wall as f64 / wall as f64, kri_req as f64 / stats.total_requests.max(1) as f64, SHARE * 100.0);
        }
        // The same org once more with kri allowed the whole bucket, like the script.
        let org = Org::generate(&self.spec(4242));
        let sim = SimServer::start(org, sim_config(limits(), LATENCY_MS), 0).await?;
        let (_dir, host) = host_with(&["plugins/okta.wasm"], 1.0).await?;
        host.add_tenant(
            tenant("whole", "okta", &sim.base_url(), json!({})),
            &token(TOKEN),
        )
        .await?;
        let t = Instant::now();
        let whole = run_at(&host, "okta", "whole", NOW).await?;
        let whole_wall = t.elapsed().as_millis() as u64;
        let whole_429 = sim.stats().too_many_requests;
        sim.shutdown().await;
        println!(
            "    kri at share 1.0: requests {}  429s {whole_429}  wall {}  kri / python wall {:.2}",
            whole.stats.requests,
            secs(whole_wall),
            whole_wall as f64 / wall.max(1) as f64
        );
        self.record("kri_share_1", json!({"requests": whole.stats.requests, "responses_429": whole_429, "wall_ms": whole_wall, "kri_over_python_wall": whole_wall as f64 / wall.max(1) as f64}));
        self.record("python_sdk", json!({
            "requests": stats.total_requests, "responses_429": stats.too_many_requests, "wall_ms": wall,
            "kris_match_truth": matches, "kri_over_python_wall": kri_wall as f64 / wall.max(1) as f64,
            "kri_over_python_requests": kri_req as f64 / stats.total_requests.max(1) as f64,
        }));
        Ok(())
    }

    /// Figure 4.
    async fn many_tenants(&mut self) -> Result<()> {
        let tenants = if self.quick { 40 } else { 200 };
        let users = 200;
        println!("\n[4] {tenants} tenants at once, each its own {users}-user org (served by a child process)");
        let (sims, urls) = SimChild::start(tenants, users).await?;
        let (_dir, host) = host_with(&["plugins/okta.wasm"], SHARE).await?;
        let host = std::sync::Arc::new(host);
        let mut jobs = Vec::new();
        for (i, url) in urls.iter().enumerate() {
            let id = format!("t{i:03}");
            host.add_tenant(tenant(&id, "okta", url, json!({})), &token(TOKEN))
                .await?;
            jobs.push(("okta".to_string(), id));
        }
        let base = rss_kib("VmRSS");
        reset_peak();
        let t = Instant::now();
        let results = host
            .run_many(
                &jobs,
                tenants,
                RunOptions {
                    now_ms: Some(NOW),
                    progress: None,
                    job: None,
                },
            )
            .await;
        let total = t.elapsed().as_millis() as u64;
        let peak = rss_kib("VmHWM");
        let mut durations: Vec<u64> = Vec::new();
        let mut failed = 0;
        let mut first_error = None;
        for r in &results {
            match r {
                Ok(o) if o.succeeded => durations.push(o.duration_ms),
                Ok(o) => {
                    failed += 1;
                    first_error.get_or_insert_with(|| o.error.clone().unwrap_or_default());
                }
                Err(e) => {
                    failed += 1;
                    first_error.get_or_insert_with(|| e.to_string());
                }
            }
        }
        if let Some(e) = &first_error {
            println!("    first failure: {e}");
        }
        durations.sort_unstable();
        let median = durations.get(durations.len() / 2).copied().unwrap_or(0);
        let slowest = durations.last().copied().unwrap_or(0);
        let per_run = peak.saturating_sub(base) as f64 / tenants as f64;
        println!(
            "    total {}  failed {failed}  median run {}  slowest {} ({:.2}x median)",
            secs(total),
            secs(median),
            secs(slowest),
            slowest as f64 / median.max(1) as f64
        );
        println!(
            "    host memory: before {:.0} MiB, peak {:.0} MiB, {:.2} MiB per concurrent run",
            base as f64 / 1024.0,
            peak as f64 / 1024.0,
            per_run / 1024.0
        );
        self.record("many_tenants", json!({
            "tenants": tenants, "users_each": users, "total_ms": total, "failed": failed,
            "median_ms": median, "slowest_ms": slowest, "slowest_over_median": slowest as f64 / median.max(1) as f64,
            "rss_before_kib": base, "peak_kib": peak, "kib_per_run": per_run,
        }));
        drop(sims);
        Ok(())
    }

    /// Figure 5.
    async fn overhead(&mut self) -> Result<()> {
        println!("\n[5] host overhead");
        let engine = kri_host::engine::KriEngine::new()?;
        let bytes = std::fs::read(component("plugins/okta.wasm"))?;
        let cache = tempfile::tempdir()?;
        let t = Instant::now();
        let src = engine.load_component(&bytes, Some(cache.path()))?.source;
        let compile = t.elapsed();
        let t = Instant::now();
        let src2 = engine.load_component(&bytes, Some(cache.path()))?.source;
        let cached = t.elapsed();
        let linker = kri_host::runtime::connector_linker(&engine)?;
        let plugins = tempfile::tempdir()?;
        std::fs::write(plugins.path().join("okta.wasm"), &bytes)?;
        let t = Instant::now();
        let reg = kri_host::plugins::PluginRegistry::load(
            &engine,
            &linker,
            plugins.path(),
            Some(cache.path()),
            kri_host::plugins::DEFAULT_MAX_PLUGIN_BYTES,
        )
        .await;
        let load_all = t.elapsed();
        let loaded = reg.plugins.contains_key("okta");
        println!("    okta.wasm ({} KiB): compile {:.1} ms ({src:?}), load from cache {:.2} ms ({src2:?}), cache load + link + instantiate + describe {:.2} ms (ok: {loaded})",
            bytes.len() / 1024, ms(compile), ms(cached), ms(load_all));

        // One request through the host (guest -> gateway -> upstream -> guest) vs a
        // direct reqwest call to the same local server.
        let edge = EdgeServer::start().await;
        let n: u64 = if self.quick { 500 } else { 3_000 };
        let (_dir, host) = host_with(&["test-plugins/probe.wasm"], 1.0).await?;
        host.add_tenant(
            tenant(
                "send",
                "probe",
                &edge.base_url,
                json!({"mode": "requests", "count": n, "path": "/api/v1/users?limit=1"}),
            ),
            &token(TOKEN),
        )
        .await?;
        // Warm-up run, then the measured one.
        let _ = host.run("probe", "send", RunOptions::default()).await?;
        let o = host.run("probe", "send", RunOptions::default()).await?;
        if !o.succeeded {
            bail!("probe run failed: {:?}", o.error);
        }
        let through_host = o.duration_ms as f64 * 1000.0 / n as f64;
        let client = reqwest::Client::new();
        let url = format!("{}/api/v1/users?limit=1", edge.base_url);
        for _ in 0..50 {
            client
                .get(&url)
                .header("authorization", "Bearer x")
                .send()
                .await?
                .bytes()
                .await?;
        }
        let t = Instant::now();
        for _ in 0..n {
            client
                .get(&url)
                .header("authorization", "Bearer x")
                .send()
                .await?
                .bytes()
                .await?;
        }
        let direct = t.elapsed().as_micros() as f64 / n as f64;
        println!("    one request through the host {through_host:.0} us vs direct reqwest {direct:.0} us: {:.2}x ({n} sequential requests to a local server)", through_host / direct);

        // Instantiation + a trivial run.
        host.add_tenant(
            tenant("tiny", "probe", &edge.base_url, json!({})),
            &token(TOKEN),
        )
        .await?;
        let runs = 50;
        let t = Instant::now();
        for _ in 0..runs {
            host.run("probe", "tiny", RunOptions::default()).await?;
        }
        let per_run = ms(t.elapsed()) / runs as f64;
        println!(
            "    a trivial run end to end (fresh instance, state load, commit): {per_run:.2} ms"
        );
        self.record("overhead", json!({
            "compile_ms": ms(compile), "cache_load_ms": ms(cached), "load_link_instantiate_describe_ms": ms(load_all),
            "send_through_host_us": through_host, "send_direct_us": direct, "send_ratio": through_host / direct,
            "trivial_run_ms": per_run,
        }));
        self.wasm_vs_native().await
    }

    async fn wasm_vs_native(&mut self) -> Result<()> {
        let events: usize = if self.quick { 100_000 } else { 1_000_000 };
        let guest = workspace().join("target/test-plugins/kri-bench-guest.wasm");
        if !guest.exists() {
            println!(
                "    wasm vs native: skipped ({} not built)",
                guest.display()
            );
            return Ok(());
        }
        let (_dir, host) = host_with(&["test-plugins/kri-bench-guest.wasm"], 1.0).await?;
        for (id, extra) in [
            ("compute", json!({"events": events})),
            ("generate", json!({"events": events, "compute": false})),
        ] {
            let mut t = tenant(id, "kri-bench", "https://unused.example.com", extra);
            t.quotas.insert("memory_bytes".into(), 4 << 30);
            t.quotas.insert("cpu_ms".into(), 600_000);
            host.add_tenant(t, &token(TOKEN)).await?;
        }
        let lines = kri_bench_guest::bench::synthetic_log_jsonl(events, NOW, 1);
        // Wasm and native take turns, and each side's fastest round counts: on a shared
        // machine a round that other processes slowed down says nothing about either
        // side, and turns expose both sides to the same spells of load. Wall time is
        // what the guest's clock measures; CPU time (this process's) is what the work
        // costs, whatever the load: the guest's is a whole run's less a run that only
        // generates the events.
        let mut wasm_rounds = Vec::new();
        let mut native_rounds = Vec::new();
        let mut wasm_cpu_rounds = Vec::new();
        let mut native_cpu_rounds = Vec::new();
        let mut same_results = true;
        let mut o = None;
        let run_guest = |tenant: &'static str| {
            let host = &host;
            async move {
                let cpu = process_cpu_ms();
                let run = host
                    .run(
                        "kri-bench",
                        tenant,
                        RunOptions {
                            now_ms: Some(NOW),
                            progress: None,
                            job: None,
                        },
                    )
                    .await?;
                if !run.succeeded {
                    bail!("bench guest failed: {:?}", run.error);
                }
                Ok((run, process_cpu_ms().saturating_sub(cpu)))
            }
        };
        for _ in 0..WASM_VS_NATIVE_ROUNDS {
            let (run, whole_cpu) = run_guest("compute").await?;
            let (_, generate_cpu) = run_guest("generate").await?;
            wasm_cpu_rounds.push(whole_cpu.saturating_sub(generate_cpu) as f64);
            let v = values(&run);
            wasm_rounds.push(v.get("bench_compute_ms").copied().flatten().unwrap_or(0.0));
            let cpu = process_cpu_ms();
            let t = Instant::now();
            let native = kri_bench_guest::bench::compute_log_kris(&lines, NOW);
            native_rounds.push(ms(t.elapsed()));
            native_cpu_rounds.push(process_cpu_ms().saturating_sub(cpu) as f64);
            same_results &=
                v.get("bench_travel").copied().flatten() == Some(native.impossible_travel as f64);
            o = Some(run);
        }
        drop(lines);
        let o = o.context("no round ran")?;
        let fastest = |rounds: &[f64]| rounds.iter().copied().fold(f64::INFINITY, f64::min);
        let (wasm_ms, native_ms) = (fastest(&wasm_rounds), fastest(&native_rounds));
        let listed = |rounds: &[f64]| {
            rounds
                .iter()
                .map(|r| format!("{r:.0}"))
                .collect::<Vec<_>>()
                .join("/")
        };
        let (wasm_cpu, native_cpu) = (fastest(&wasm_cpu_rounds), fastest(&native_cpu_rounds));
        println!("    log KRIs over {events} events (parse + compute, page by page), fastest of {WASM_VS_NATIVE_ROUNDS} alternating rounds: wasm {wasm_ms:.0} ms vs native {native_ms:.0} ms: {:.2}x  (rounds: wasm {} ms, native {} ms; same results: {same_results})",
            wasm_ms / native_ms,
            listed(&wasm_rounds),
            listed(&native_rounds));
        println!("    the same in CPU time: wasm {wasm_cpu:.0} ms vs native {native_cpu:.0} ms: {:.2}x  (rounds: wasm {} ms, native {} ms; load average {})",
            wasm_cpu / native_cpu,
            listed(&wasm_cpu_rounds),
            listed(&native_cpu_rounds),
            std::fs::read_to_string("/proc/loadavg").unwrap_or_default().split_whitespace().next().unwrap_or("?"));
        // The guest's linear memory grown while computing (its events were generated
        // before): what the page-by-page KRIs themselves needed.
        let details = o
            .outputs
            .iter()
            .find(|k| k.slug == "bench_compute_ms")
            .map(|k| k.details.clone())
            .unwrap_or_default();
        let mem = |key: &str| details.get(key).and_then(Value::as_u64).unwrap_or(0);
        let grown = mem("memory_after_compute").saturating_sub(mem("memory_after_generate"));
        println!(
            "    wasm memory grown by the computation: {:.1} MiB (linear memory {:.0} MiB after generating the events)",
            grown as f64 / 1048576.0,
            mem("memory_after_generate") as f64 / 1048576.0
        );
        self.record("wasm_vs_native", json!({"events": events, "wasm_ms": wasm_ms, "native_ms": native_ms, "ratio": wasm_ms / native_ms, "compute_memory_grown_bytes": grown,
            "rounds": WASM_VS_NATIVE_ROUNDS, "wasm_rounds_ms": wasm_rounds, "native_rounds_ms": native_rounds,
            "wasm_cpu_ms": wasm_cpu, "native_cpu_ms": native_cpu, "cpu_ratio": wasm_cpu / native_cpu,
            "wasm_cpu_rounds_ms": wasm_cpu_rounds, "native_cpu_rounds_ms": native_cpu_rounds}));
        Ok(())
    }
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// This process's CPU time (user + system, all threads) in ms, from `/proc/self/stat`
/// (in clock ticks of 10 ms: Linux's USER_HZ is 100); 0 where it cannot be read.
fn process_cpu_ms() -> u64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            // The fields after the command name (which may hold spaces), from `state`.
            let rest = s.get(s.rfind(')')? + 2..)?;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let utime: u64 = fields.get(11)?.parse().ok()?;
            let stime: u64 = fields.get(12)?.parse().ok()?;
            Some((utime + stime) * 10)
        })
        .unwrap_or(0)
}

fn rss_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|x| x.parse().ok()))
        })
        .unwrap_or(0)
}

/// Resets VmHWM to the current RSS (Linux: write 5 to clear_refs).
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Small orgs served by a child process (`kri-bench serve-sims`), until dropped.
struct SimChild {
    _child: tokio::process::Child,
    /// The child serves until this pipe closes.
    _keep_serving: Option<tokio::process::ChildStdin>,
}

impl SimChild {
    /// Starts `n` orgs of `users` users; returns the child and their base URLs.
    async fn start(n: usize, users: usize) -> Result<(SimChild, Vec<String>)> {
        let exe = std::env::current_exe()?;
        let mut child = tokio::process::Command::new(exe)
            .args(["serve-sims", &n.to_string(), &users.to_string()])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let keep_serving = child.stdin.take();
        let stdout = child.stdout.take().context("child stdout")?;
        let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stdout));
        let mut urls = Vec::new();
        while let Some(line) = lines.next_line().await? {
            if line == "ready" {
                break;
            }
            urls.push(line);
        }
        if urls.len() != n {
            bail!("the simulator child started {} orgs, not {n}", urls.len());
        }
        Ok((
            SimChild {
                _child: child,
                _keep_serving: keep_serving,
            },
            urls,
        ))
    }
}

/// Child mode: serve `n` small orgs and print their URLs, then "ready".
async fn serve_sims(n: usize, users: usize) -> Result<()> {
    let mut servers = Vec::new();
    let stdout = std::io::stdout();
    for i in 0..n {
        let org = Org::generate(&OrgSpec {
            seed: 1000 + i as u64,
            users,
            now_ms: NOW,
        });
        let s = SimServer::start(
            org,
            sim_config(RateLimitConfig::scaled(WINDOW_MS, 1.0), 5),
            0,
        )
        .await?;
        writeln!(stdout.lock(), "{}", s.base_url())?;
        servers.push(s);
    }
    writeln!(stdout.lock(), "ready")?;
    stdout.lock().flush()?;
    // Serve until the parent closes our stdin or kills us.
    let _ = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        let _ = std::io::stdin().lock().read_line(&mut line);
    })
    .await;
    Ok(())
}

fn results_path() -> PathBuf {
    workspace().join("target/bench/results.json")
}

/// The figures of the previous `make bench`, if it left any.
fn previous_results() -> BTreeMap<String, Value> {
    std::fs::read(results_path())
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
        .and_then(|doc| serde_json::from_value(doc["results"].clone()).ok())
        .unwrap_or_default()
}

/// Writes this run's figures over the previous ones (figures not run are kept).
fn write_results(results: &BTreeMap<String, Value>) -> Result<PathBuf> {
    let path = results_path();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut all = previous_results();
    all.extend(results.iter().map(|(k, v)| (k.clone(), v.clone())));
    let doc = json!({
        "machine": machine(),
        "results": all,
    });
    std::fs::write(&path, serde_json::to_string_pretty(&doc)?)?;
    Ok(path)
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines().next().and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|x| x.parse::<u64>().ok())
            })
        })
        .unwrap_or(0);
    format!(
        "{cores} cores ({cpu}), {:.0} GiB",
        mem as f64 / 1024.0 / 1024.0
    )
}

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("serve-sims") {
        let n = args.get(1).and_then(|x| x.parse().ok()).unwrap_or(200);
        let users = args.get(2).and_then(|x| x.parse().ok()).unwrap_or(200);
        return serve_sims(n, users).await;
    }
    let mut only: Option<Vec<u32>> = None;
    let mut users = 10_000;
    let mut quick = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--only" => {
                only = it
                    .next()
                    .map(|s| s.split(',').filter_map(|x| x.parse().ok()).collect());
            }
            "--users" => users = it.next().and_then(|x| x.parse().ok()).unwrap_or(users),
            "--quick" => quick = true,
            other => bail!(
                "unknown argument {other}; usage: kri-bench [--only 1,3,5] [--users N] [--quick]"
            ),
        }
    }
    let want = |n: u32| only.as_ref().map(|o| o.contains(&n)).unwrap_or(true);
    println!("kri benchmarks on {}", machine());
    let mut b = Bench {
        results: BTreeMap::new(),
        users,
        quick,
    };
    if want(1) || want(2) || want(3) {
        b.full_and_incremental().await?;
    }
    if want(3) {
        b.python_sdk().await?;
    }
    if want(4) {
        b.many_tenants().await?;
    }
    if want(5) {
        b.overhead().await?;
    }
    if want(6) {
        let previous = previous_results().remove("concurrency_8").map(|mut v| {
            // Only one level of history: the previous run's own `previous` is dropped.
            if let Some(o) = v.as_object_mut() {
                o.remove("previous");
            }
            v
        });
        b.concurrency_limit(previous.as_ref()).await?;
    }
    if want(7) {
        b.first_sync().await?;
    }
    if want(8) {
        b.inventory_sync().await?;
    }
    if want(9) {
        b.graph_queries().await?;
    }
    if want(10) {
        b.stream_ingest().await?;
    }
    if want(11) {
        b.stream_alert_delay().await?;
    }
    if want(12) {
        b.backfill().await?;
    }
    if want(13) {
        b.fleet().await?;
    }
    let path = write_results(&b.results)?;
    println!("\nfigures written to {}", path.display());
    Ok(())
}
