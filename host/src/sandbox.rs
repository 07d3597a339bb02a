//! One sandbox: the data of a wasmtime `Store` for one call into one connector, and
//! the thin implementations of the connector's imports.
//!
//! Each import hands the call to the gateway (http), the state overlay (state), the
//! output buffer (output) or the log buffer (log), charging the run's quotas. Nested
//! results follow the bindings: the outer `wasmtime::Result` is a trap that ends the
//! instance (a spent quota), the inner result is what the guest sees. Nothing here
//! touches the database: buffered outputs and state changes are committed by the
//! runner only when the run succeeds.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kri_policy::quota::{QuotaExceeded, QuotaKind, QuotaUsage, Quotas};
use wasmtime::component::ResourceTable;
use wasmtime::ResourceLimiter;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::bindings::{http, log, output, state, types};
use crate::gateway::{Gateway, GatewayError, InboundResponse, OutboundRequest};
use crate::store::StateChanges;

/// A progress report from a connector.
#[derive(Debug, Clone)]
pub struct Progress {
    pub stage: String,
    pub done: u64,
    pub total: Option<u64>,
}

/// Callback that receives progress reports (the CLI draws a bar with them).
pub type ProgressSink = Arc<dyn Fn(&Progress) + Send + Sync>;

/// A captured log line.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LogLine {
    pub level: String,
    pub message: String,
}

/// Everything a run accumulates before it is committed.
pub struct RunBuffers {
    pub outputs: Vec<types::KriValue>,
    pub state_base: BTreeMap<String, Vec<u8>>,
    pub state_changes: StateChanges,
    pub logs: Vec<LogLine>,
}

/// The data of one sandbox's `Store`.
pub struct SandboxState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub stderr: MemoryOutputPipe,
    pub limiter: MemoryLimiter,
    pub quotas: Quotas,
    pub usage: Arc<Mutex<QuotaUsage>>,
    /// The first quota violation, named for the run's error.
    pub violation: Arc<Mutex<Option<QuotaExceeded>>>,
    pub gateway: Option<Arc<Gateway>>,
    pub allowed_slugs: BTreeSet<String>,
    pub buffers: RunBuffers,
    /// Keys and bytes held in state (committed plus pending), kept as running totals
    /// so that a `state.set` costs the same however many keys are pending.
    state_keys: u64,
    state_bytes: u64,
    log_bytes: u64,
    pub progress: Option<ProgressSink>,
    /// CPU accounting: what the guest has run so far (see `runtime::new_store`).
    pub cpu: CpuMeter,
}

/// The guest's CPU time, measured at each epoch check. Time the guest spends blocked
/// in a host call (an HTTP request waiting for its answer) is subtracted: it is
/// wall time, which `wall_ms` covers, not CPU the guest used.
#[derive(Debug, Clone, Copy)]
pub struct CpuMeter {
    /// When the guest last passed an epoch check (or the store was created).
    pub last_check: Instant,
    /// Time blocked in host calls since `last_check`.
    pub blocked: Duration,
    /// CPU time charged so far.
    pub used: Duration,
}

impl CpuMeter {
    fn new() -> CpuMeter {
        CpuMeter {
            last_check: Instant::now(),
            blocked: Duration::ZERO,
            used: Duration::ZERO,
        }
    }

    /// Charges the time since the last check, less the time blocked in host calls,
    /// and at most `max` (one epoch tick: a guest that was descheduled or yielded
    /// is not charged for the time others ran). Returns the total charged.
    pub fn check(&mut self, now: Instant, max: Duration) -> Duration {
        let running = now
            .saturating_duration_since(self.last_check)
            .saturating_sub(self.blocked)
            .min(max);
        self.used += running;
        self.last_check = now;
        self.blocked = Duration::ZERO;
        self.used
    }
}

impl WasiView for SandboxState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Caps linear memory (and table) growth at the run's memory quota.
pub struct MemoryLimiter {
    pub limit: u64,
    pub violation: Arc<Mutex<Option<QuotaExceeded>>>,
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired as u64 > self.limit {
            let e = QuotaExceeded::new(QuotaKind::MemoryBytes, self.limit, desired as u64);
            return Err(quota_trap(&self.violation, e));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // A table element costs a pointer; count it against the same budget.
        let bytes = desired as u64 * 8;
        if bytes > self.limit {
            let e = QuotaExceeded::new(QuotaKind::MemoryBytes, self.limit, bytes);
            return Err(quota_trap(&self.violation, e));
        }
        Ok(true)
    }
}

/// Records `e` as the run's violation (the first one wins) and returns the trap that
/// ends the instance.
pub(crate) fn quota_trap(slot: &Mutex<Option<QuotaExceeded>>, e: QuotaExceeded) -> wasmtime::Error {
    let mut v = slot.lock().unwrap_or_else(|p| p.into_inner());
    if v.is_none() {
        *v = Some(e);
    }
    wasmtime::Error::msg(e.to_string())
}

impl SandboxState {
    pub fn new(
        quotas: Quotas,
        gateway: Option<Arc<Gateway>>,
        usage: Arc<Mutex<QuotaUsage>>,
        allowed_slugs: BTreeSet<String>,
        state_base: BTreeMap<String, Vec<u8>>,
        progress: Option<ProgressSink>,
    ) -> SandboxState {
        // WASI is limited to clocks, random and a captured, bounded stderr: no
        // files (no preopens), no environment, no arguments, no sockets.
        let stderr = MemoryOutputPipe::new(quotas.log_bytes as usize);
        let mut builder = WasiCtx::builder();
        builder
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        let violation = Arc::new(Mutex::new(None));
        let state_keys = state_base.len() as u64;
        let state_bytes = state_base
            .iter()
            .map(|(k, v)| (k.len() + v.len()) as u64)
            .sum();
        SandboxState {
            wasi: builder.build(),
            table: ResourceTable::new(),
            stderr,
            limiter: MemoryLimiter {
                limit: quotas.memory_bytes,
                violation: violation.clone(),
            },
            quotas,
            usage,
            violation,
            gateway,
            allowed_slugs,
            buffers: RunBuffers {
                outputs: Vec::new(),
                state_base,
                state_changes: StateChanges::new(),
                logs: Vec::new(),
            },
            state_keys,
            state_bytes,
            log_bytes: 0,
            progress,
            cpu: CpuMeter::new(),
        }
    }

    /// Charges a quota; a spent quota becomes a trap that names it.
    fn charge(&mut self, kind: QuotaKind, amount: u64) -> wasmtime::Result<()> {
        self.usage
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .charge(kind, amount, &self.quotas)
            .map_err(|e| quota_trap(&self.violation, e))
    }

    fn current_state(&self, key: &str) -> Option<&Vec<u8>> {
        match self.buffers.state_changes.get(key) {
            Some(change) => change.as_ref(),
            None => self.buffers.state_base.get(key),
        }
    }

    fn gateway(&self) -> Result<Arc<Gateway>, http::HttpError> {
        self.gateway.clone().ok_or_else(|| {
            http::HttpError::Denied(
                "no network during describe(): the manifest must be static".into(),
            )
        })
    }

    fn gateway_result(
        &mut self,
        r: Result<InboundResponse, GatewayError>,
    ) -> wasmtime::Result<Result<http::Response, http::HttpError>> {
        match r {
            Ok(resp) => Ok(Ok(http::Response {
                status: resp.status,
                headers: resp
                    .headers
                    .into_iter()
                    .map(|(name, value)| http::Header { name, value })
                    .collect(),
                body: resp.body,
            })),
            Err(GatewayError::Quota(e)) => Err(quota_trap(&self.violation, e)),
            Err(GatewayError::Denied(m)) => {
                self.push_log("warn", format!("host denied a request: {m}"));
                Ok(Err(http::HttpError::Denied(m)))
            }
            Err(GatewayError::RateLimited(m)) => {
                self.push_log("warn", m.clone());
                Ok(Err(http::HttpError::QuotaExceeded(m)))
            }
            Err(GatewayError::Timeout(m)) => Ok(Err(http::HttpError::Timeout(m))),
            Err(GatewayError::Transport(m)) => Ok(Err(http::HttpError::Transport(m))),
        }
    }

    /// Keeps a (redacted) log line for the run's outcome and emits it as an event in
    /// the current span, the run's.
    fn push_log(&mut self, level: &str, message: String) {
        match level {
            "error" => tracing::error!(target: "kri_host::guest", "{message}"),
            "warn" => tracing::warn!(target: "kri_host::guest", "{message}"),
            "info" => tracing::info!(target: "kri_host::guest", "{message}"),
            "debug" => tracing::debug!(target: "kri_host::guest", "{message}"),
            _ => tracing::trace!(target: "kri_host::guest", "{message}"),
        }
        self.buffers.logs.push(LogLine {
            level: level.to_string(),
            message,
        });
    }
}

fn to_outbound(req: http::Request) -> OutboundRequest {
    let method = match req.method {
        http::Method::Get => "GET",
        http::Method::Head => "HEAD",
        http::Method::Post => "POST",
        http::Method::Put => "PUT",
        http::Method::Patch => "PATCH",
        http::Method::Delete => "DELETE",
    };
    OutboundRequest {
        method: method.to_string(),
        url: req.url,
        headers: req.headers.into_iter().map(|h| (h.name, h.value)).collect(),
        body: req.body,
    }
}

impl types::Host for SandboxState {}

impl http::Host for SandboxState {
    async fn send(
        &mut self,
        req: http::Request,
    ) -> wasmtime::Result<Result<http::Response, http::HttpError>> {
        let gw = match self.gateway() {
            Ok(gw) => gw,
            Err(e) => return Ok(Err(e)),
        };
        let started = Instant::now();
        let r = gw.send(to_outbound(req)).await;
        self.cpu.blocked += started.elapsed();
        self.gateway_result(r)
    }

    async fn send_all(
        &mut self,
        reqs: Vec<http::Request>,
    ) -> wasmtime::Result<Vec<Result<http::Response, http::HttpError>>> {
        let gw = match self.gateway() {
            Ok(gw) => gw,
            Err(e) => return Ok(reqs.iter().map(|_| Err(e.clone())).collect()),
        };
        let started = Instant::now();
        let results = gw
            .send_all(reqs.into_iter().map(to_outbound).collect())
            .await;
        self.cpu.blocked += started.elapsed();
        let mut out = Vec::with_capacity(results.len());
        for r in results {
            out.push(self.gateway_result(r)?);
        }
        Ok(out)
    }
}

impl state::Host for SandboxState {
    async fn get(&mut self, key: String) -> wasmtime::Result<Option<Vec<u8>>> {
        Ok(self.current_state(&key).cloned())
    }

    async fn set(&mut self, key: String, value: Vec<u8>) -> wasmtime::Result<Result<(), String>> {
        if key.is_empty() || key.len() > 1024 {
            return Ok(Err("state keys must be 1 to 1024 bytes".into()));
        }
        let old = self.current_state(&key).map(|v| v.len() as u64);
        let new_bytes = (key.len() + value.len()) as u64;
        match old {
            None => {
                let keys = self.state_keys + 1;
                if keys > self.quotas.state_keys {
                    let e = QuotaExceeded::new(QuotaKind::StateKeys, self.quotas.state_keys, keys);
                    return Err(quota_trap(&self.violation, e));
                }
                self.state_keys = keys;
                self.state_bytes += new_bytes;
            }
            Some(old_len) => {
                self.state_bytes = self.state_bytes + new_bytes - (key.len() as u64 + old_len);
            }
        }
        if self.state_bytes > self.quotas.state_bytes {
            let e = QuotaExceeded::new(
                QuotaKind::StateBytes,
                self.quotas.state_bytes,
                self.state_bytes,
            );
            return Err(quota_trap(&self.violation, e));
        }
        self.buffers.state_changes.insert(key, Some(value));
        Ok(Ok(()))
    }

    async fn delete(&mut self, key: String) -> wasmtime::Result<()> {
        if let Some(old) = self.current_state(&key).map(|v| v.len() as u64) {
            self.state_keys = self.state_keys.saturating_sub(1);
            self.state_bytes = self.state_bytes.saturating_sub(key.len() as u64 + old);
        }
        self.buffers.state_changes.insert(key, None);
        Ok(())
    }

    async fn list_keys(&mut self, prefix: String) -> wasmtime::Result<Vec<String>> {
        let mut keys: BTreeSet<&String> = self
            .buffers
            .state_base
            .keys()
            .filter(|k| k.starts_with(&prefix))
            .collect();
        for (k, v) in &self.buffers.state_changes {
            if k.starts_with(&prefix) {
                if v.is_some() {
                    keys.insert(k);
                } else {
                    keys.remove(k);
                }
            }
        }
        Ok(keys.into_iter().cloned().collect())
    }
}

impl output::Host for SandboxState {
    async fn emit_kri(&mut self, value: types::KriValue) -> wasmtime::Result<Result<(), String>> {
        self.charge(QuotaKind::Outputs, 1)?;
        if !self.allowed_slugs.contains(&value.slug) {
            return Ok(Err(format!(
                "`{}` is not a KRI of this connector's manifest",
                value.slug
            )));
        }
        if serde_json::from_str::<serde_json::Value>(&value.details)
            .map(|v| !v.is_object())
            .unwrap_or(true)
        {
            return Ok(Err(format!(
                "details of `{}` must be a JSON object",
                value.slug
            )));
        }
        if let Some(v) = value.value {
            if !v.is_finite() {
                return Ok(Err(format!(
                    "value of `{}` is not a finite number",
                    value.slug
                )));
            }
        }
        // A later emit of the same slug replaces the earlier one.
        self.buffers.outputs.retain(|o| o.slug != value.slug);
        self.buffers.outputs.push(value);
        Ok(Ok(()))
    }
}

impl log::Host for SandboxState {
    async fn log(&mut self, level: log::Level, message: String) -> wasmtime::Result<()> {
        self.log_bytes += message.len() as u64;
        if self.log_bytes > self.quotas.log_bytes {
            let e = QuotaExceeded::new(QuotaKind::LogBytes, self.quotas.log_bytes, self.log_bytes);
            return Err(quota_trap(&self.violation, e));
        }
        let level = match level {
            log::Level::Trace => "trace",
            log::Level::Debug => "debug",
            log::Level::Info => "info",
            log::Level::Warn => "warn",
            log::Level::Error => "error",
        };
        let message = match &self.gateway {
            Some(gw) => gw.redact_text(&message),
            None => message,
        };
        self.push_log(level, message);
        Ok(())
    }

    async fn progress(
        &mut self,
        stage: String,
        done: u64,
        total: Option<u64>,
    ) -> wasmtime::Result<()> {
        if let Some(sink) = &self.progress {
            sink(&Progress { stage, done, total });
        }
        Ok(())
    }
}
