//! One sandbox: the data of a wasmtime `Store` for one call into one connector, and
//! what the connector's imports do, in the host's own types (each contract version's
//! module in `contract/` converts its bindings and calls these).
//!
//! Each import hands the call to the gateway (http), the state overlay (state), the
//! output buffer (output) or the log buffer (log), charging the run's quotas. Nested
//! results: the outer `wasmtime::Result` is a trap that ends the instance (a spent
//! quota), the inner result is what the guest sees. Nothing here touches the
//! database: buffered outputs and state changes are committed by `KriHost::run` only
//! when the run succeeds.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kri_policy::quota::{QuotaExceeded, QuotaKind, Quotas};
use wasmtime::component::ResourceTable;
use wasmtime::ResourceLimiter;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::gateway::{Gateway, GatewayError, InboundResponse, OutboundRequest};
use crate::model::{Output, OutputKind};
use crate::store::StateChanges;

/// Keys that start with this are refused to guests: the host keeps the state of
/// jobs other than `kris` under `job:<name>/` (see `host.rs`).
pub const RESERVED_STATE_PREFIX: &str = "job:";

/// Why the host returned no response to a guest's request (the guest sees it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GuestHttpError {
    /// The egress policy refused the request; the text says which rule.
    Denied(String),
    /// A quota or rate limit that the run cannot wait out.
    QuotaExceeded(String),
    Timeout(String),
    Transport(String),
}

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
    /// In the order emitted; a KRI emitted again replaces the earlier one.
    pub outputs: Vec<Output>,
    /// Outputs emitted so far, per kind (each kind has the `outputs` quota).
    pub emitted: BTreeMap<OutputKind, u64>,
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
            violation,
            gateway,
            allowed_slugs,
            buffers: RunBuffers {
                outputs: Vec::new(),
                emitted: BTreeMap::new(),
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

    fn current_state(&self, key: &str) -> Option<&Vec<u8>> {
        match self.buffers.state_changes.get(key) {
            Some(change) => change.as_ref(),
            None => self.buffers.state_base.get(key),
        }
    }

    fn gateway(&self) -> Result<Arc<Gateway>, GuestHttpError> {
        self.gateway.clone().ok_or_else(|| {
            GuestHttpError::Denied(
                "no network during describe(): the manifest must be static".into(),
            )
        })
    }

    fn gateway_result(
        &mut self,
        r: Result<InboundResponse, GatewayError>,
    ) -> wasmtime::Result<Result<InboundResponse, GuestHttpError>> {
        match r {
            Ok(resp) => Ok(Ok(resp)),
            Err(GatewayError::Quota(e)) => Err(quota_trap(&self.violation, e)),
            Err(GatewayError::Denied(m)) => {
                self.push_log("warn", format!("host denied a request: {m}"));
                Ok(Err(GuestHttpError::Denied(m)))
            }
            Err(GatewayError::RateLimited(m)) => {
                self.push_log("warn", m.clone());
                Ok(Err(GuestHttpError::QuotaExceeded(m)))
            }
            Err(GatewayError::Auth(m)) => {
                let m = format!("no access token for the request: {m}");
                self.push_log("error", m.clone());
                Ok(Err(GuestHttpError::Denied(m)))
            }
            Err(GatewayError::Timeout(m)) => Ok(Err(GuestHttpError::Timeout(m))),
            Err(GatewayError::Transport(m)) => Ok(Err(GuestHttpError::Transport(m))),
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

/// The imports, in the host's types.
impl SandboxState {
    pub async fn http_send(
        &mut self,
        req: OutboundRequest,
    ) -> wasmtime::Result<Result<InboundResponse, GuestHttpError>> {
        let gw = match self.gateway() {
            Ok(gw) => gw,
            Err(e) => return Ok(Err(e)),
        };
        let started = Instant::now();
        let r = gw.send(req).await;
        self.cpu.blocked += started.elapsed();
        self.gateway_result(r)
    }

    pub async fn http_send_all(
        &mut self,
        reqs: Vec<OutboundRequest>,
    ) -> wasmtime::Result<Vec<Result<InboundResponse, GuestHttpError>>> {
        let gw = match self.gateway() {
            Ok(gw) => gw,
            Err(e) => return Ok(reqs.iter().map(|_| Err(e.clone())).collect()),
        };
        let started = Instant::now();
        let results = gw.send_all(reqs).await;
        self.cpu.blocked += started.elapsed();
        let mut out = Vec::with_capacity(results.len());
        for r in results {
            out.push(self.gateway_result(r)?);
        }
        Ok(out)
    }

    pub fn state_get(&self, key: &str) -> Option<Vec<u8>> {
        self.current_state(key).cloned()
    }

    pub fn state_set(
        &mut self,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), String>> {
        if key.is_empty() || key.len() > 1024 {
            return Ok(Err("state keys must be 1 to 1024 bytes".into()));
        }
        if key.starts_with(RESERVED_STATE_PREFIX) {
            return Ok(Err(format!(
                "state keys starting with `{RESERVED_STATE_PREFIX}` are the host's"
            )));
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

    pub fn state_delete(&mut self, key: String) {
        if let Some(old) = self.current_state(&key).map(|v| v.len() as u64) {
            self.state_keys = self.state_keys.saturating_sub(1);
            self.state_bytes = self.state_bytes.saturating_sub(key.len() as u64 + old);
        }
        self.buffers.state_changes.insert(key, None);
    }

    pub fn state_list_keys(&self, prefix: &str) -> Vec<String> {
        let mut keys: BTreeSet<&String> = self
            .buffers
            .state_base
            .keys()
            .filter(|k| k.starts_with(prefix))
            .collect();
        for (k, v) in &self.buffers.state_changes {
            if k.starts_with(prefix) {
                if v.is_some() {
                    keys.insert(k);
                } else {
                    keys.remove(k);
                }
            }
        }
        keys.into_iter().cloned().collect()
    }

    /// Buffers a batch of outputs: every kind is charged against the `outputs`
    /// quota (a spent quota traps), then the batch is checked whole and kept whole,
    /// or refused whole with the first problem.
    pub fn emit(&mut self, batch: Vec<Output>) -> wasmtime::Result<Result<(), String>> {
        for o in &batch {
            let n = self.buffers.emitted.entry(o.kind()).or_default();
            *n += 1;
            if *n > self.quotas.outputs {
                let e = QuotaExceeded::new(QuotaKind::Outputs, self.quotas.outputs, *n);
                return Err(quota_trap(&self.violation, e));
            }
        }
        if let Some(problem) = batch.iter().find_map(|o| self.output_problem(o)) {
            return Ok(Err(problem));
        }
        for o in batch {
            if let Output::Kri(k) = &o {
                // A later emit of the same slug replaces the earlier one.
                self.buffers
                    .outputs
                    .retain(|old| !matches!(old, Output::Kri(x) if x.slug == k.slug));
            }
            self.buffers.outputs.push(o);
        }
        Ok(Ok(()))
    }

    /// Why the host refuses an output, if it does.
    fn output_problem(&self, o: &Output) -> Option<String> {
        let object = |what: &str, v: &serde_json::Value| {
            (!v.is_object()).then(|| format!("{what} must be a JSON object"))
        };
        match o {
            Output::Kri(k) => {
                if !self.allowed_slugs.contains(&k.slug) {
                    return Some(format!(
                        "`{}` is not a KRI of this connector's manifest",
                        k.slug
                    ));
                }
                if !k.details.is_object() {
                    return Some(format!("details of `{}` must be a JSON object", k.slug));
                }
                if k.value.is_some_and(|v| !v.is_finite()) {
                    return Some(format!("value of `{}` is not a finite number", k.slug));
                }
                None
            }
            Output::Node(n) if n.id.is_empty() => Some("a node needs an id".into()),
            Output::Node(n) => object(&format!("properties of node `{}`", n.id), &n.properties),
            Output::Edge(e) if e.from.is_empty() || e.to.is_empty() => {
                Some("an edge needs both ends".into())
            }
            Output::Edge(e) => object(
                &format!("properties of edge `{}` -> `{}`", e.from, e.to),
                &e.properties,
            ),
            Output::Event(e) if e.id.is_empty() => Some("an event needs an id".into()),
            Output::Event(_) => None,
            Output::Alert(a) if a.dedupe_key.is_empty() => {
                Some(format!("alert `{}` needs a dedupe key", a.detection))
            }
            Output::Alert(a) => object(&format!("details of alert `{}`", a.dedupe_key), &a.details),
        }
    }

    /// A guest's log line (`level` is one of trace, debug, info, warn, error).
    pub fn log(&mut self, level: &str, message: String) -> wasmtime::Result<()> {
        self.log_bytes += message.len() as u64;
        if self.log_bytes > self.quotas.log_bytes {
            let e = QuotaExceeded::new(QuotaKind::LogBytes, self.quotas.log_bytes, self.log_bytes);
            return Err(quota_trap(&self.violation, e));
        }
        let message = match &self.gateway {
            Some(gw) => gw.redact_text(&message),
            None => message,
        };
        self.push_log(level, message);
        Ok(())
    }

    pub fn progress(&mut self, stage: String, done: u64, total: Option<u64>) {
        if let Some(sink) = &self.progress {
            sink(&Progress { stage, done, total });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{KriValue, Node};

    fn sandbox(outputs: u64) -> SandboxState {
        let quotas = Quotas {
            outputs,
            ..Quotas::default()
        };
        let allowed = ["a".to_string()].into_iter().collect();
        SandboxState::new(quotas, None, allowed, BTreeMap::new(), None)
    }

    fn kri(slug: &str, value: f64) -> Output {
        Output::Kri(KriValue {
            slug: slug.into(),
            value: Some(value),
            numerator: None,
            denominator: None,
            details: serde_json::json!({}),
            not_evaluated_reason: None,
        })
    }

    fn node(id: &str) -> Output {
        Output::Node(Node {
            id: id.into(),
            kind: "user".into(),
            sub_kind: String::new(),
            name: id.into(),
            labels: BTreeMap::new(),
            properties: serde_json::json!({}),
        })
    }

    #[test]
    fn a_batch_is_kept_whole_or_refused_whole() {
        let mut s = sandbox(10);
        let r = s.emit(vec![node("u1"), kri("a", 1.0)]).expect("no trap");
        assert_eq!(r, Ok(()));
        let r = s
            .emit(vec![node("u2"), kri("unknown", 1.0)])
            .expect("no trap");
        assert!(r.is_err_and(|e| e.contains("`unknown`")));
        let r = s.emit(vec![node("")]).expect("no trap");
        assert!(r.is_err());
        // A KRI emitted again replaces the earlier value.
        s.emit(vec![kri("a", 2.0)]).expect("no trap").expect("kept");
        let kept: Vec<OutputKind> = s.buffers.outputs.iter().map(Output::kind).collect();
        assert_eq!(kept, vec![OutputKind::Node, OutputKind::Kri]);
        assert!(matches!(&s.buffers.outputs[1], Output::Kri(k) if k.value == Some(2.0)));
    }

    #[test]
    fn each_output_kind_has_the_outputs_quota() {
        let mut s = sandbox(2);
        s.emit(vec![node("u1"), node("u2"), kri("a", 1.0), kri("a", 2.0)])
            .expect("two of each fit")
            .expect("kept");
        let trap = s.emit(vec![node("u3")]).expect_err("a third node traps");
        assert_eq!(trap.to_string(), "quota exceeded: outputs (limit 2)");
        let v = s.violation.lock().map(|v| *v).unwrap_or(None);
        assert_eq!(v.map(|v| v.kind), Some(QuotaKind::Outputs));
    }

    #[test]
    fn the_host_keeps_the_job_prefix_for_itself() {
        let mut s = sandbox(1);
        let r = s.state_set("job:logs/cursor".into(), b"x".to_vec());
        assert!(r.expect("no trap").is_err());
        assert!(s.buffers.state_changes.is_empty());
    }
}
