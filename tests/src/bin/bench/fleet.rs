//! Figure 13: 1,000 tenants, each its own okta-sim org of 50 users (served by a
//! child process), on three `kri serve` processes sharing one throwaway PostgreSQL.
//! Every tenant runs the Okta connector's three jobs: `kris` every 5 minutes,
//! `inventory` every 30 and `logs` every minute (the manifest's defaults but for
//! `kris`, daily by default). After a warm-up, over a measured window:
//! - runs per minute (runs finished in the window, from the `runs` table);
//! - scheduling delay p50 and p99: how late each claimed job started after it was
//!   due (the hosts' `claimed job starts` debug lines);
//! - the spread of runs across the hosts, and each host's peak memory (VmHWM);
//! - the scheduler's own store work: each sync of the schedules with the tenants
//!   (`schedules synced`) and each round's claim (`claim round`), p50 and max.
//!
//! `--quick` runs 100 tenants over a shorter window.

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Result;
use kri_e2e::{component, kri_bin, tenant, token, ServeProcess};
use kri_host::{HostConfig, KriHost};
use kri_test_pg::TestPostgres;
use serde_json::json;

use super::{Bench, SimChild, TOKEN};

/// What a host's scheduler logged, with when the line arrived.
#[derive(Default)]
struct Seen {
    /// (arrival, delay ms) per started job.
    delays: Vec<(Instant, u64)>,
    /// Microseconds per sync of the schedules.
    syncs: Vec<u64>,
    /// Microseconds per claim round.
    claims: Vec<u64>,
}

/// The number after `key=` in a log line.
fn field(line: &str, key: &str) -> Option<u64> {
    let at = line.find(&format!(" {key}="))? + key.len() + 2;
    line[at..]
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// A `kri serve` of the fleet, its scheduler's debug lines parsed as they come.
struct Host {
    serve: ServeProcess,
    seen: Arc<Mutex<Seen>>,
}

impl Host {
    fn start(data_dir: &std::path::Path, plugins: &std::path::Path, url: &str) -> Result<Host> {
        let mut cmd = Command::new(kri_bin());
        cmd.env("KRI_DATA_DIR", data_dir)
            .env("KRI_PLUGINS", plugins)
            .env("KRI_DATABASE_URL", url)
            .env_remove("KRI_ENCRYPTION_KEY")
            .env_remove("KRI_API_KEY")
            .env("RUST_LOG", "error,kri_host::serve::scheduler=debug")
            .args(["serve", "--listen", "127.0.0.1:0", "--max-concurrent", "8"]);
        let seen = Arc::new(Mutex::new(Seen::default()));
        let sink = seen.clone();
        let serve = ServeProcess::spawn(cmd, Duration::from_secs(180), move |line| {
            let mut seen = sink.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(d) = field(line, "delay_ms") {
                seen.delays.push((Instant::now(), d));
            } else if let Some(us) = field(line, "sync_us") {
                seen.syncs.push(us);
            } else if let Some(us) = field(line, "claim_us") {
                seen.claims.push(us);
            }
        })
        .map_err(anyhow::Error::msg)?;
        Ok(Host { serve, seen })
    }

    fn pid(&self) -> i64 {
        i64::from(self.serve.pid())
    }

    /// Peak resident memory so far, in KiB.
    fn peak_kib(&self) -> u64 {
        self.serve.peak_rss_kib()
    }

    fn stop(&mut self) {
        self.serve.terminate(Duration::from_secs(120));
    }
}

/// The `q` quantile of sorted `v` (0 when empty).
fn quantile(v: &[u64], q: f64) -> u64 {
    if v.is_empty() {
        return 0;
    }
    v[((v.len() - 1) as f64 * q).round() as usize]
}

impl Bench {
    /// Figure 13.
    pub(crate) async fn fleet(&mut self) -> Result<()> {
        let (tenants, warm_up, window) = if self.quick {
            (100, Duration::from_secs(30), Duration::from_secs(90))
        } else {
            (1_000, Duration::from_secs(60), Duration::from_secs(180))
        };
        let users = 50;
        println!("\n[13] {tenants} tenants ({users}-user orgs) on three kri serve hosts sharing PostgreSQL: kris every 5 min, inventory every 30, logs every minute; {} s warm-up, {} s measured", warm_up.as_secs(), window.as_secs());
        let pg = TestPostgres::start();
        let url = pg.create_database("fleet");
        let (_sims, urls) = SimChild::start(tenants, users).await?;
        let dir = tempfile::tempdir()?;
        let (data_dir, plugins) = (dir.path().join("data"), dir.path().join("plugins"));
        std::fs::create_dir_all(&plugins)?;
        std::fs::copy(component("plugins/okta.wasm"), plugins.join("okta.wasm"))?;
        let mut cfg = HostConfig::new(data_dir.clone());
        cfg.plugins_dir = plugins.clone();
        cfg.database = Some(url.clone());
        let t = Instant::now();
        {
            let host = KriHost::open(cfg, true).await?;
            let schedules = ["kris=PT5M".to_string()];
            for (i, base) in urls.iter().enumerate() {
                let id = format!("t{i:04}");
                host.add_tenant(tenant(&id, "okta", base, json!({})), &token(TOKEN))
                    .await?;
                host.update_schedules(&id, &schedules).await?;
            }
        }
        println!(
            "  {tenants} tenants added in {:.1} s",
            t.elapsed().as_secs_f64()
        );
        let mut hosts = Vec::new();
        for _ in 0..3 {
            hosts.push(Host::start(&data_dir, &plugins, &url)?);
        }
        let (db, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
        tokio::spawn(connection);
        tokio::time::sleep(warm_up).await;
        let from = Instant::now();
        let from_ms: i64 = db
            .query_one(
                "SELECT (extract(epoch FROM clock_timestamp()) * 1000)::BIGINT",
                &[],
            )
            .await?
            .get(0);
        tokio::time::sleep(window).await;
        let to = Instant::now();
        let to_ms = from_ms + window.as_millis() as i64;
        let peaks: Vec<u64> = hosts.iter().map(Host::peak_kib).collect();
        for h in &mut hosts {
            h.stop();
        }
        let rows = db
            .query(
                "SELECT pid, job, status, count(*) FROM runs
                 WHERE finished_at >= $1 AND finished_at < $2 GROUP BY pid, job, status",
                &[&from_ms, &to_ms],
            )
            .await?;
        let minutes = window.as_secs_f64() / 60.0;
        let mut per_host = vec![0i64; hosts.len()];
        let mut per_job = std::collections::BTreeMap::<String, i64>::new();
        let mut failed = 0i64;
        for r in &rows {
            let (pid, job, status, n): (i64, String, String, i64) =
                (r.get(0), r.get(1), r.get(2), r.get(3));
            if let Some(h) = hosts.iter().position(|h| h.pid() == pid) {
                per_host[h] += n;
            }
            *per_job.entry(job).or_default() += n;
            if status != "succeeded" {
                failed += n;
            }
        }
        let total: i64 = per_host.iter().sum();
        let mut delays = Vec::new();
        let (mut syncs, mut claims) = (Vec::new(), Vec::new());
        for h in &hosts {
            let seen = h.seen.lock().unwrap_or_else(|p| p.into_inner());
            delays.extend(
                seen.delays
                    .iter()
                    .filter(|(at, _)| *at >= from && *at < to)
                    .map(|(_, d)| *d),
            );
            syncs.extend(&seen.syncs);
            claims.extend(&seen.claims);
        }
        delays.sort_unstable();
        syncs.sort_unstable();
        claims.sort_unstable();
        let due_per_minute = tenants as f64 * (1.0 + 1.0 / 5.0 + 1.0 / 30.0);
        println!(
            "  runs per minute: {:.0} ({total} runs in {:.0} s, {failed} not succeeded; by job {per_job:?}); due per minute at steady state: {due_per_minute:.0}",
            total as f64 / minutes,
            window.as_secs_f64()
        );
        println!(
            "  scheduling delay: p50 {} ms, p99 {} ms ({} jobs started)",
            quantile(&delays, 0.5),
            quantile(&delays, 0.99),
            delays.len()
        );
        println!("  runs per host: {per_host:?}");
        println!(
            "  peak memory per host: {:?} MiB",
            peaks.iter().map(|k| k / 1024).collect::<Vec<_>>()
        );
        println!(
            "  scheduler sync of {} schedules: p50 {:.1} ms, max {:.1} ms ({} syncs); claim per round: p50 {:.1} ms, p99 {:.1} ms ({} rounds)",
            tenants * 3,
            quantile(&syncs, 0.5) as f64 / 1000.0,
            syncs.last().copied().unwrap_or(0) as f64 / 1000.0,
            syncs.len(),
            quantile(&claims, 0.5) as f64 / 1000.0,
            quantile(&claims, 0.99) as f64 / 1000.0,
            claims.len()
        );
        println!(
            "  (one machine, {} cores, shared with the simulators, PostgreSQL and other work: load average {})",
            std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
            std::fs::read_to_string("/proc/loadavg")
                .unwrap_or_default()
                .split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        );
        self.record(
            "fleet_three_hosts",
            json!({
                "tenants": tenants, "users_per_org": users, "hosts": hosts.len(),
                "window_s": window.as_secs(), "runs_per_minute": total as f64 / minutes,
                "runs": total, "runs_not_succeeded": failed, "runs_by_job": per_job,
                "due_per_minute": due_per_minute,
                "delay_p50_ms": quantile(&delays, 0.5), "delay_p99_ms": quantile(&delays, 0.99),
                "runs_per_host": per_host,
                "peak_rss_mib_per_host": peaks.iter().map(|k| k / 1024).collect::<Vec<_>>(),
                "sync_p50_ms": quantile(&syncs, 0.5) as f64 / 1000.0,
                "sync_max_ms": syncs.last().copied().unwrap_or(0) as f64 / 1000.0,
                "claim_p50_ms": quantile(&claims, 0.5) as f64 / 1000.0,
                "claim_p99_ms": quantile(&claims, 0.99) as f64 / 1000.0,
            }),
        );
        Ok(())
    }
}
