//! `kri serve`: one long-lived process that keeps every tenant's jobs running on
//! their schedules, serves the HTTP API and `/metrics`, and picks up new plugins.
//!
//! - [`scheduler`] claims due jobs from the store and runs them.
//! - [`api`] is the HTTP API under `/api/v1` (and `/metrics`).
//! - [`metrics`] keeps the Prometheus metrics.
//! - [`reload`] watches the plugin directory.
//!
//! [`serve`] wires them together over a [`KriHost`] until a shutdown future resolves,
//! then shuts down gracefully.

pub mod api;
pub mod metrics;
pub mod reload;
pub mod scheduler;

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use crate::error::{RunError, StoreError};
use crate::host::KriHost;
use crate::schedule::parse_overrides;
use crate::store::{JobSchedule, KriPoint, RunRecord};
use metrics::Metrics;
use scheduler::{Clock, Scheduler, SchedulerConfig, ShutdownReport};

/// How `kri serve` runs.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub listen: SocketAddr,
    /// The API key clients send as `Authorization: Bearer <key>`; without one the
    /// server listens on loopback addresses only.
    pub api_key: Option<String>,
    /// How long runs in flight may go on after a shutdown signal.
    pub grace: Duration,
    /// How often the scheduler looks for due jobs, on average.
    pub tick: Duration,
    /// How often the plugin directory is checked for changes.
    pub reload_every: Duration,
    pub scheduler: SchedulerConfig,
}

/// Why `kri serve` refuses to start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("refusing to listen on {0} without an API key: set KRI_API_KEY or pass --api-key-file, or listen on a loopback address such as 127.0.0.1")]
    NoKeyOffLoopback(SocketAddr),
    #[error("the API key is empty; put a long random key in KRI_API_KEY or the --api-key-file")]
    EmptyKey,
}

/// Checks the listening rule: an address off loopback needs an API key.
pub fn check_listen(listen: SocketAddr, api_key: Option<&str>) -> Result<(), ServeError> {
    match api_key {
        Some(k) if k.trim().is_empty() => Err(ServeError::EmptyKey),
        Some(_) => Ok(()),
        None if listen.ip().is_loopback() => Ok(()),
        None => Err(ServeError::NoKeyOffLoopback(listen)),
    }
}

/// Serves until `shutdown` resolves, then stops claiming, gives runs in flight
/// `opts.grace` to finish and records the rest `interrupted`. `ready` is told the
/// address actually bound (port 0 picks a free one).
pub async fn serve(
    host: Arc<KriHost>,
    opts: ServeOptions,
    clock: Arc<dyn Clock>,
    ready: impl FnOnce(SocketAddr),
    shutdown: impl Future<Output = String> + Send,
) -> anyhow::Result<ShutdownReport> {
    check_listen(opts.listen, opts.api_key.as_deref())?;
    let metrics = Arc::new(Metrics::new());
    metrics.record_reload(host.registry().rejected.len());
    let scheduler = Arc::new(Scheduler::for_host(
        host.clone(),
        clock,
        opts.scheduler.clone(),
        metrics.clone(),
    ));
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .with_context(|| format!("cannot listen on {}", opts.listen))?;
    let bound = listener.local_addr()?;
    let state = api::ApiState::new(
        host.clone(),
        scheduler.clone(),
        metrics.clone(),
        opts.api_key.clone(),
    );
    let app = api::router(state.clone());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let http = tokio::spawn({
        let rx = stop_rx.clone();
        async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(stopped(rx))
                .await
        }
    });
    let ticking = tokio::spawn({
        let scheduler = scheduler.clone();
        let rx = stop_rx.clone();
        let every = opts.tick;
        async move { scheduler.run_until(every, stopped(rx)).await }
    });
    let watching = tokio::spawn({
        let rx = stop_rx.clone();
        let watcher = reload::Watcher::new(
            host.clone(),
            scheduler.clone(),
            metrics.clone(),
            state.reloads(),
        );
        let every = opts.reload_every;
        async move { watcher.run_until(every, stopped(rx)).await }
    });
    tracing::info!(listen = %bound, "kri serve is up");
    ready(bound);
    let reason = shutdown.await;
    tracing::warn!(reason = %reason, "shutting down: no new runs; runs in flight get {:?} to finish", opts.grace);
    let _ = stop_tx.send(true);
    let _ = ticking.await;
    let _ = watching.await;
    let report = scheduler
        .shutdown(
            opts.grace,
            &format!("interrupted: kri serve shut down ({reason}) before the run finished"),
        )
        .await;
    match http.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "the HTTP server ended with an error"),
        Err(e) => tracing::warn!(error = %e, "the HTTP server's task failed"),
    }
    tracing::warn!(
        finished = report.finished,
        interrupted = report.interrupted,
        "kri serve stopped"
    );
    Ok(report)
}

/// What `kri serve` needs of the host beyond the CLI's commands.
impl KriHost {
    /// Sets some of a tenant's schedule overrides (`job=ISO-8601 duration`, like
    /// `logs=PT1M`), keeping the others; `job=default` drops one. Jobs the tenant's
    /// connector does not have are refused (when its plugin is loaded). Returns the
    /// overrides after the change.
    pub async fn update_schedules(
        &self,
        tenant_id: &str,
        items: &[String],
    ) -> Result<BTreeMap<String, String>, RunError> {
        let tenant = self.tenant(tenant_id).await?;
        // `job=default` drops the override; anything else sets one.
        let mut drops = Vec::new();
        let mut sets = Vec::new();
        for item in items {
            match item.split_once('=') {
                Some((job, "default")) => drops.push(job.trim().to_string()),
                _ => sets.push(item.clone()),
            }
        }
        let changes =
            parse_overrides(&sets).map_err(|e| RunError::Other(format!("--schedule {e}")))?;
        if let Some(plugin) = self.registry().get(&tenant.connector) {
            let jobs = plugin.manifest.job_order();
            let named = changes.keys().chain(drops.iter());
            if let Some(job) = named.into_iter().find(|j| !jobs.contains(j)) {
                return Err(RunError::UnknownJob {
                    connector: tenant.connector.clone(),
                    job: job.clone(),
                    known: jobs.join(", "),
                });
            }
        }
        let mut overrides = tenant.schedules;
        for job in &drops {
            overrides.remove(job);
        }
        overrides.extend(changes);
        self.store()
            .set_tenant_schedules(tenant_id, &overrides)
            .await?;
        Ok(overrides)
    }

    /// Every job schedule of the store, by tenant then job.
    pub async fn schedules(&self) -> Result<Vec<JobSchedule>, StoreError> {
        self.store().schedules().await
    }

    /// A tenant's stored KRI values (of one KRI when `slug` is given), newest first.
    pub async fn kri_history(
        &self,
        tenant_id: &str,
        slug: Option<&str>,
        limit: usize,
    ) -> Result<Vec<KriPoint>, StoreError> {
        self.store().tenant(tenant_id).await?;
        self.store().kri_history(tenant_id, slug, limit).await
    }

    /// The gauges `/metrics` reads from the store: each tenant's stream lag (seconds,
    /// from its latest run that polled an upstream log, `None` when none of its last
    /// [`RUNS_SCANNED_FOR_LAG`] runs did) and open alerts per severity.
    pub async fn store_gauges(
        &self,
    ) -> Result<(Vec<(String, Option<f64>)>, Vec<(String, i64)>), StoreError> {
        let store = self.store();
        let mut lag = Vec::new();
        let mut open: BTreeMap<String, i64> = BTreeMap::new();
        for t in store.tenants().await? {
            let runs = store.runs(&t.id, RUNS_SCANNED_FOR_LAG).await?;
            lag.push((t.id.clone(), latest_stream_lag_s(&runs)));
            for a in store
                .find_alerts(&t.id, Some(crate::store::AlertStatus::Open), None)
                .await?
            {
                *open.entry(a.severity.to_string()).or_default() += 1;
            }
        }
        Ok((lag, open.into_iter().collect()))
    }
}

/// How many of a tenant's newest runs `/metrics` looks through for its stream lag.
pub const RUNS_SCANNED_FOR_LAG: usize = 100;

/// The stream lag in seconds of the newest run (of `runs`, newest first) that polled an
/// upstream log: that poll's time less the newest event time it read.
fn latest_stream_lag_s(runs: &[RunRecord]) -> Option<f64> {
    runs.iter()
        .find_map(|r| r.stream_lag_ms)
        .map(|ms| ms.max(0) as f64 / 1_000.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{RunKind, RunStatus};

    fn run(id: i64, job: &str, stream_lag_ms: Option<i64>) -> RunRecord {
        RunRecord {
            id,
            tenant_id: "acme".into(),
            connector: "okta".into(),
            job: job.into(),
            kind: RunKind::Run,
            status: RunStatus::Succeeded,
            error: None,
            started_at: "2026-12-05T21:00:00Z".into(),
            finished_at: None,
            duration_ms: None,
            requests: 0,
            responses_429: 0,
            bytes: 0,
            rows_written: 0,
            rows_skipped: 0,
            note: None,
            stream_pages: stream_lag_ms.map(|_| 1),
            stream_events: stream_lag_ms.map(|_| 1),
            stream_lag_ms,
        }
    }

    #[test]
    fn the_stream_lag_is_the_latest_polls() {
        let cases: Vec<(&str, Vec<RunRecord>, Option<f64>)> = vec![
            ("no runs", vec![], None),
            ("no run polled", vec![run(2, "kris", None)], None),
            (
                "the newest poll counts, past runs that polled nothing",
                vec![
                    run(4, "kris", None),
                    run(3, "logs", Some(2_500)),
                    run(2, "logs", Some(90_000)),
                ],
                Some(2.5),
            ),
            (
                "a clock ahead of the events reads as no lag",
                vec![run(1, "logs", Some(-40))],
                Some(0.0),
            ),
        ];
        for (what, runs, want) in cases {
            assert_eq!(latest_stream_lag_s(&runs), want, "{what}");
        }
    }
}
