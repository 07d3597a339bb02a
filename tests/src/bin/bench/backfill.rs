//! Figure 12: a 1,000,000-event backfill. A local server plays an Okta System Log of
//! synthetic events (the benchmark generator's, made page by page as they are asked
//! for, so the server holds one page at a time); the `stream-emitter` test component,
//! in the Okta connector's name, stores them as events through the host in bounded
//! runs; then the real `okta.wasm` computes the three 24-hour log KRIs from the stored
//! stream under the default 256 MiB guest memory quota. Printed: the backfill's wall
//! time and events/s, the kris run's wall time, the host's peak memory (VmHWM) in each
//! phase, whether the kris run also fits 64 MiB, and the KRIs against the generator's
//! truth.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use kri_bench_guest::bench::SyntheticLog;
use kri_e2e::{component, tenant, token, LOG_KRIS};
use kri_host::{HostConfig, KriHost, RunOptions, RunOutcome};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use super::{ms, reset_peak, rss_kib, values, Bench, NOW, TOKEN};

/// Events per served page (Okta's `limit=1000`).
const PAGE: usize = 1000;
/// Pages per emitter run: 50,000 events buffered by the host at a time.
const PAGES_PER_RUN: u64 = 50;
/// The synthetic System Log, served in order: page `k` is the `k`-th thousand events.
struct LogServer {
    base_url: String,
    log: Arc<Mutex<(SyntheticLog, usize)>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for LogServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl LogServer {
    async fn start(events: usize) -> Result<LogServer> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base_url = format!("http://{}", listener.local_addr()?);
        let log = Arc::new(Mutex::new((SyntheticLog::new(events, NOW, 1), 0usize)));
        let (shared, base) = (log.clone(), base_url.clone());
        let task = tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                tokio::spawn(serve(sock, shared.clone(), base.clone()));
            }
        });
        Ok(LogServer {
            base_url,
            log,
            task,
        })
    }
}

/// The body and next link of page `page`; pages must be asked for in order.
fn page_of(log: &Mutex<(SyntheticLog, usize)>, page: usize, base: &str) -> (u16, String, String) {
    let mut guard = log.lock().unwrap_or_else(|p| p.into_inner());
    let (gen, served) = &mut *guard;
    if page != *served {
        return (
            400,
            format!("{{\"error\": \"page {page} asked, {served} next\"}}"),
            String::new(),
        );
    }
    let lines: Vec<String> = gen.by_ref().take(PAGE).collect();
    *served += 1;
    let link = if lines.is_empty() {
        String::new()
    } else {
        format!(
            "link: <{base}/api/v1/logs?page={}>; rel=\"next\"\r\n",
            page + 1
        )
    };
    (200, format!("[{}]", lines.join(",")), link)
}

async fn serve(sock: tokio::net::TcpStream, log: Arc<Mutex<(SyntheticLog, usize)>>, base: String) {
    let (read_half, mut sock) = sock.into_split();
    let mut reader = BufReader::new(read_half);
    loop {
        let mut head = String::new();
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            head.push_str(&line);
            if line == "\r\n" || head.len() > 65536 {
                break;
            }
        }
        let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
        let page = path
            .split_once("page=")
            .and_then(|(_, p)| p.split('&').next())
            .and_then(|p| p.parse::<usize>().ok())
            .unwrap_or(0);
        let (status, body, link) = if path.starts_with("/api/v1/logs") {
            page_of(&log, page, &base)
        } else {
            (200, "[]".to_string(), String::new())
        };
        let reply = format!(
            "HTTP/1.1 {status} {}\r\ncontent-type: application/json\r\n{link}content-length: {}\r\n\r\n",
            if status == 200 { "OK" } else { "Bad Request" },
            body.len()
        );
        if sock.write_all(reply.as_bytes()).await.is_err()
            || sock.write_all(body.as_bytes()).await.is_err()
        {
            return;
        }
    }
}

async fn open_host(
    data: &std::path::Path,
    plugins: &std::path::Path,
    plugin: &str,
) -> Result<KriHost> {
    if plugins.exists() {
        std::fs::remove_dir_all(plugins)?;
    }
    std::fs::create_dir_all(plugins)?;
    let src = component(plugin);
    std::fs::copy(&src, plugins.join(src.file_name().context("file name")?))?;
    let mut cfg = HostConfig::new(data.to_path_buf());
    cfg.plugins_dir = plugins.to_path_buf();
    KriHost::open(cfg, true).await
}

async fn run_job(host: &KriHost, id: &str, job: &str) -> Result<RunOutcome> {
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
        .await?;
    if !o.succeeded {
        bail!("{job} run of {id} failed: {:?}", o.error);
    }
    Ok(o)
}

impl Bench {
    /// Figure 12.
    pub async fn backfill(&mut self) -> Result<()> {
        let events: usize = if self.quick { 100_000 } else { 1_000_000 };
        println!("\n[12] backfill of {events} System Log events, then the log KRIs from the stored stream");
        let emitter = "test-plugins/stream-emitter.wasm";
        if !kri_e2e::workspace().join("target").join(emitter).exists() {
            println!("    skipped ({emitter} not built: run `make build`)");
            return Ok(());
        }
        let server = LogServer::start(events).await?;
        let dir = tempfile::tempdir()?;
        let (data, plugins) = (dir.path().join("data"), dir.path().join("plugins"));

        // The backfill: bounded runs until the emitter declares the coverage.
        let host = open_host(&data, &plugins, emitter).await?;
        for (id, kris) in [("backfill", LOG_KRIS.map(String::from).to_vec())] {
            let mut t = tenant(
                id,
                "okta",
                &server.base_url,
                json!({"backfill_hours": 170, "pages_per_run": PAGES_PER_RUN}),
            );
            t.kris = kris;
            t.quotas
                .insert("outputs".into(), PAGES_PER_RUN * PAGE as u64);
            t.quotas.insert("http_requests".into(), 1_000_000);
            host.add_tenant(t, &token(TOKEN)).await?;
        }
        reset_peak();
        let rss_before = rss_kib("VmRSS");
        let started = Instant::now();
        let (mut stored, mut runs) = (0u64, 0u32);
        loop {
            let o = run_job(&host, "backfill", "logs").await?;
            stored += o.emitted.values().sum::<u64>();
            runs += 1;
            if o.stats
                .note
                .as_deref()
                .unwrap_or("")
                .contains("coverage declared")
            {
                break;
            }
            if runs > 10_000 {
                bail!("the backfill never finished");
            }
        }
        let backfill_ms = ms(started.elapsed());
        let backfill_peak = rss_kib("VmHWM");
        let truth = server
            .log
            .lock()
            .map(|g| g.0.truth())
            .unwrap_or_else(|p| p.into_inner().0.truth());
        drop(host);
        println!(
            "    backfill: {stored} events in {runs} runs, {:.1} s ({:.0} events/s), host peak RSS {} MiB (before {} MiB)",
            backfill_ms / 1000.0,
            stored as f64 / (backfill_ms / 1000.0),
            backfill_peak / 1024,
            rss_before / 1024
        );

        // The log KRIs from the stored stream, default quotas (256 MiB guest memory).
        let host = open_host(&data, &plugins, "plugins/okta.wasm").await?;
        reset_peak();
        let started = Instant::now();
        let o = run_job(&host, "backfill", "kris").await?;
        let kris_ms = ms(started.elapsed());
        let kris_peak = rss_kib("VmHWM");
        let got = values(&o);
        let want = [
            ("okta_impossible_travel_24h", truth.impossible_travel),
            (
                "okta_admin_session_outliers_24h",
                truth.admin_session_outliers,
            ),
            ("okta_failed_mfa_push_24h", truth.failed_mfa_push),
        ];
        let same = want
            .iter()
            .all(|(slug, v)| got.get(*slug).copied().flatten() == Some(*v as f64));
        let note = o.stats.note.clone().unwrap_or_default();
        let from_stream = note.contains("from the stored stream");
        println!(
            "    kris from the stored stream ({from_stream}): {:.1} s, host peak RSS {} MiB, within the default 256 MiB guest quota; values {got:?} equal the generator's truth: {same}",
            kris_ms / 1000.0,
            kris_peak / 1024
        );
        // The same under a 64 MiB guest quota.
        let quota = std::collections::BTreeMap::from([("memory_bytes".to_string(), 64u64 << 20)]);
        host.update_quotas("backfill", &quota).await?;
        let small = host
            .run(
                "okta",
                "backfill",
                RunOptions {
                    now_ms: Some(NOW),
                    progress: None,
                    job: Some("kris".into()),
                },
            )
            .await?;
        let fits_64 = small.succeeded && values(&small) == got;
        println!("    the same run within a 64 MiB guest quota: {fits_64}");
        self.record(
            "backfill",
            json!({
                "events": stored, "runs": runs, "backfill_ms": backfill_ms,
                "events_per_s": stored as f64 / (backfill_ms / 1000.0),
                "backfill_host_peak_kib": backfill_peak, "kris_ms": kris_ms,
                "kris_host_peak_kib": kris_peak, "kris_from_stream": from_stream,
                "kris_equal_truth": same, "kris_fit_64_mib": fits_64,
            }),
        );
        Ok(())
    }
}
