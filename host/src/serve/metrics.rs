//! What `kri serve` reports at `/metrics` (OpenMetrics text, which Prometheus
//! scrapes), kept with the `prometheus-client` crate: runs by job and status and
//! their durations, upstream requests and 429s per rate-limit bucket, quota
//! violations, scheduler delay and the scheduler's own store work per round (sync,
//! claim), plugin reloads; and, read from the store at each
//! scrape, stream lag per tenant and open alerts by severity.

use std::sync::atomic::AtomicU64;
use std::sync::Mutex;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::error::RunError;
use crate::host::RunOutcome;

/// A metric's labels, as (name, value) pairs.
type Labels = Vec<(String, String)>;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// 1 ms to about 20 s: the scheduler's own store work.
fn short_seconds_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 3.0, 10))
}

fn seconds_histogram() -> Histogram {
    // 0.05 s to about 7 hours.
    Histogram::new(exponential_buckets(0.05, 3.0, 12))
}

/// The metrics of one `kri serve` process.
pub struct Metrics {
    registry: Mutex<Registry>,
    runs: Family<Labels, Counter>,
    run_seconds: Family<Labels, Histogram, fn() -> Histogram>,
    upstream_requests: Family<Labels, Counter>,
    upstream_429s: Family<Labels, Counter>,
    quota_violations: Family<Labels, Counter>,
    pub(crate) scheduler_delay: Histogram,
    pub(crate) scheduler_sync: Histogram,
    pub(crate) scheduler_claim: Histogram,
    plugin_reloads: Family<Labels, Counter>,
    plugins_rejected: Gauge,
    stream_lag: Family<Labels, Gauge<f64, AtomicU64>>,
    open_alerts: Family<Labels, Gauge>,
    api_requests: Family<Labels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let m = Metrics {
            registry: Mutex::new(Registry::with_prefix("kri")),
            runs: Family::default(),
            run_seconds: Family::new_with_constructor(seconds_histogram),
            upstream_requests: Family::default(),
            upstream_429s: Family::default(),
            quota_violations: Family::default(),
            scheduler_delay: seconds_histogram(),
            scheduler_sync: short_seconds_histogram(),
            scheduler_claim: short_seconds_histogram(),
            plugin_reloads: Family::default(),
            plugins_rejected: Gauge::default(),
            stream_lag: Family::default(),
            open_alerts: Family::default(),
            api_requests: Family::default(),
        };
        {
            let mut r = m.registry.lock().unwrap_or_else(|p| p.into_inner());
            r.register(
                "runs",
                "Connector runs by job and status (succeeded, failed, not_started, skipped_running)",
                m.runs.clone(),
            );
            r.register(
                "run_duration_seconds",
                "How long runs took, by job",
                m.run_seconds.clone(),
            );
            r.register(
                "upstream_requests",
                "Requests sent upstream, by tenant and rate-limit bucket",
                m.upstream_requests.clone(),
            );
            r.register(
                "upstream_429",
                "Upstream answers 429 Too Many Requests, by tenant and rate-limit bucket",
                m.upstream_429s.clone(),
            );
            r.register(
                "quota_violations",
                "Runs stopped by a quota, by tenant and quota",
                m.quota_violations.clone(),
            );
            r.register(
                "scheduler_delay_seconds",
                "How late scheduled jobs started after they were due",
                m.scheduler_delay.clone(),
            );
            r.register(
                "scheduler_sync_seconds",
                "How long the scheduler took to sync the schedules with the tenants and their jobs",
                m.scheduler_sync.clone(),
            );
            r.register(
                "scheduler_claim_seconds",
                "How long each scheduler round took to claim its due jobs from the store",
                m.scheduler_claim.clone(),
            );
            r.register(
                "plugin_reloads",
                "Reloads of the plugin directory, by result (ok, rejected_files)",
                m.plugin_reloads.clone(),
            );
            r.register(
                "plugins_rejected",
                "Files of the plugin directory that did not load at the last scan",
                m.plugins_rejected.clone(),
            );
            r.register(
                "stream_lag_seconds",
                "Lag of the latest poll of the upstream log (its time less the newest event time it read), by tenant",
                m.stream_lag.clone(),
            );
            r.register(
                "alerts_open",
                "Open alerts, by severity",
                m.open_alerts.clone(),
            );
            r.register(
                "api_requests",
                "HTTP API requests, by method and status",
                m.api_requests.clone(),
            );
        }
        m
    }

    /// Counts a run that ended (or could not start) and what it did upstream.
    pub fn record_run(&self, job: &str, outcome: &Result<RunOutcome, RunError>) {
        let status = match outcome {
            Ok(o) if o.succeeded => "succeeded",
            Ok(_) => "failed",
            Err(RunError::Store(crate::error::StoreError::RunInProgress { .. })) => {
                "skipped_running"
            }
            Err(_) => "not_started",
        };
        self.runs
            .get_or_create(&labels(&[("job", job), ("status", status)]))
            .inc();
        let Ok(o) = outcome else {
            return;
        };
        self.run_seconds
            .get_or_create(&labels(&[("job", job)]))
            .observe(o.duration_ms as f64 / 1_000.0);
        for (bucket, stats) in &o.requests_by_bucket {
            let l = labels(&[("tenant", &o.tenant), ("bucket", bucket)]);
            self.upstream_requests
                .get_or_create(&l)
                .inc_by(stats.requests);
            self.upstream_429s
                .get_or_create(&l)
                .inc_by(stats.responses_429);
        }
        if let Some(q) = o.quota_exceeded {
            self.quota_violations
                .get_or_create(&labels(&[("tenant", &o.tenant), ("quota", &q.to_string())]))
                .inc();
        }
    }

    /// Counts a scheduled slot skipped because the job was already running.
    pub fn record_skipped(&self, job: &str) {
        self.runs
            .get_or_create(&labels(&[("job", job), ("status", "skipped_running")]))
            .inc();
    }

    /// Counts a reload of the plugin directory and how many files it rejected.
    pub fn record_reload(&self, rejected: usize) {
        let result = if rejected == 0 {
            "ok"
        } else {
            "rejected_files"
        };
        self.plugin_reloads
            .get_or_create(&labels(&[("result", result)]))
            .inc();
        self.plugins_rejected.set(rejected as i64);
    }

    /// Counts an API request.
    pub fn record_request(&self, method: &str, status: u16) {
        self.api_requests
            .get_or_create(&labels(&[
                ("method", method),
                ("status", &status.to_string()),
            ]))
            .inc();
    }

    /// Sets the gauges read from the store: stream lag per tenant (`None`: no poll of
    /// an upstream log yet, no sample) and open alerts per severity.
    pub fn set_store_gauges(&self, lag_s: &[(String, Option<f64>)], open_alerts: &[(String, i64)]) {
        self.stream_lag.clear();
        for (tenant, lag) in lag_s {
            if let Some(lag) = lag {
                self.stream_lag
                    .get_or_create(&labels(&[("tenant", tenant)]))
                    .set(*lag);
            }
        }
        self.open_alerts.clear();
        for (severity, n) in open_alerts {
            self.open_alerts
                .get_or_create(&labels(&[("severity", severity)]))
                .set(*n);
        }
    }

    /// Everything, in the OpenMetrics text format.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        let registry = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        prometheus_client::encoding::text::encode(&mut out, &registry)?;
        Ok(out)
    }
}
