//! `kri serve`: runs every tenant's jobs on their schedules and serves the HTTP API
//! and `/metrics` until SIGTERM or SIGINT, then shuts down gracefully (see
//! `kri_host::serve`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use kri_host::serve::scheduler::{SchedulerConfig, SystemClock};
use kri_host::serve::{serve, ServeOptions};

/// The environment variable holding the API key.
const API_KEY_ENV: &str = "KRI_API_KEY";

#[derive(Args)]
pub struct ServeArgs {
    /// The address the HTTP API listens on. Off loopback it needs an API key.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Read the API key from this file (instead of the KRI_API_KEY environment
    /// variable); clients send it as `Authorization: Bearer <key>`.
    #[arg(long)]
    api_key_file: Option<PathBuf>,
    /// Seconds runs in flight get to finish after SIGTERM or SIGINT; the rest are
    /// recorded as interrupted.
    #[arg(long, default_value_t = 30)]
    grace_seconds: u64,
    /// The most runs at the same time, all tenants and jobs together.
    #[arg(long, default_value_t = 8)]
    max_concurrent: usize,
    /// Seconds between checks of the plugin directory for new or changed files.
    #[arg(long, default_value_t = 5)]
    reload_seconds: u64,
    /// Milliseconds between scheduler rounds (looking for due jobs), on average:
    /// each wait is drawn between half and one and a half of it.
    #[arg(long, default_value_t = 1_000)]
    tick_ms: u64,
}

/// Reads the API key: the file when given, else the environment.
fn api_key(args: &ServeArgs) -> Result<Option<String>> {
    if let Some(path) = &args.api_key_file {
        let key = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the API key file {}", path.display()))?;
        return Ok(Some(key.trim().to_string()));
    }
    Ok(std::env::var(API_KEY_ENV)
        .ok()
        .map(|k| k.trim().to_string()))
}

pub async fn cmd_serve(
    host: kri_host::KriHost,
    args: &ServeArgs,
    signals: &mut crate::Signals,
) -> Result<ExitCode> {
    let api_key = api_key(args)?;
    let owner = format!(
        "{}:{}",
        std::env::var("HOSTNAME").unwrap_or_else(|_| "kri".into()),
        std::process::id()
    );
    let mut scheduler = SchedulerConfig::new(owner);
    scheduler.max_concurrent = args.max_concurrent.max(1);
    // A claim of a due job holds as long as a run's lease (--run-lease-ms): a host
    // killed while holding both loses both at the same time.
    scheduler.lease_ms = i64::try_from(host.config().run_lease.as_millis()).unwrap_or(i64::MAX);
    let opts = ServeOptions {
        listen: args.listen,
        api_key,
        grace: Duration::from_secs(args.grace_seconds),
        tick: Duration::from_millis(args.tick_ms.max(10)),
        reload_every: Duration::from_secs(args.reload_seconds.max(1)),
        scheduler,
    };
    let shutdown = async {
        let sig = signals.recv().await;
        sig.name.to_string()
    };
    let report = serve(
        Arc::new(host),
        opts,
        Arc::new(SystemClock),
        |addr| eprintln!("kri serve: listening on http://{addr}"),
        shutdown,
    )
    .await?;
    eprintln!(
        "kri serve: stopped; {} run(s) finished during the grace period, {} recorded as interrupted",
        report.finished, report.interrupted
    );
    Ok(ExitCode::SUCCESS)
}
