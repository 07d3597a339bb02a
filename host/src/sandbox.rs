//! One sandbox: the data of a wasmtime `Store` for one call into one connector, and
//! what the connector's imports do, in the host's own types (each contract version's
//! module in `contract/` converts its bindings and calls these).
//!
//! Each import hands the call to the gateway (http), the state overlay (state), the
//! output buffer (output), the log buffer (log) or the tenant's stored stream
//! (stored-events: read-only pages through the `Store` trait), charging the run's
//! quotas. Nested results: the outer `wasmtime::Result` is a trap that ends the
//! instance (a spent quota), the inner result is what the guest sees. Nothing here
//! writes to the database: buffered outputs, state changes and a declared stream
//! coverage are committed by `KriHost::run` only when the run succeeds.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kri_policy::quota::{QuotaExceeded, QuotaKind, Quotas};
use wasmtime::component::ResourceTable;
use wasmtime::ResourceLimiter;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::gateway::{Gateway, GatewayError, InboundResponse, OutboundRequest};
use crate::model::{GraphChanges, GraphCoverage, Output, OutputKind};
use crate::store::{PagedEvent, StateChanges, Store, StreamCoverage, StreamPoll};

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
    /// Deletions in the identity graph (the `graph` import).
    pub graph: GraphChanges,
    /// The stream coverage the run declared (`stored-events.declare-coverage`).
    pub declared_coverage: Option<StreamCoverage>,
    /// What the run's poll of an upstream log read (`stored-events.record-poll`).
    pub stream_poll: Option<StreamPoll>,
}

/// The most stored events one `stored-events.read-events` page holds.
pub const STORED_EVENTS_PAGE_MAX: usize = 1000;

/// A run's view of its tenant's stored stream (the `stored-events` import).
pub struct StreamAccess {
    pub store: Arc<dyn Store>,
    pub tenant_id: String,
    /// As committed before the run.
    pub coverage: Option<StreamCoverage>,
    /// Whether the run's job emits events, and so may declare the coverage.
    pub may_declare: bool,
}

/// One page of stored events for a guest.
pub struct StoredEventsPage {
    pub events: Vec<PagedEvent>,
    pub next_cursor: Option<String>,
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
    /// The tenant's stored stream; `None` outside runs (describe, check).
    pub stream: Option<StreamAccess>,
    /// Keys and bytes held in state (committed plus pending), kept as running totals
    /// so that a `state.set` costs the same however many keys are pending.
    state_keys: u64,
    state_bytes: u64,
    log_bytes: u64,
    pub progress: Option<ProgressSink>,
    /// The committed state of the connector's other jobs, by job then key: read only
    /// (the `peer-state` import).
    peer_state: BTreeMap<String, BTreeMap<String, Vec<u8>>>,
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

/// Caps linear memory (and table) growth at the run's memory quota, and keeps the
/// largest linear memory it granted (wasmtime asks before it allocates, from the
/// guest's first memory on).
pub struct MemoryLimiter {
    pub limit: u64,
    pub violation: Arc<Mutex<Option<QuotaExceeded>>>,
    /// The largest linear memory granted, in bytes.
    pub peak: u64,
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
        self.peak = self.peak.max(desired as u64);
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
                peak: 0,
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
                graph: GraphChanges::default(),
                declared_coverage: None,
                stream_poll: None,
            },
            peer_state: BTreeMap::new(),
            stream: None,
            state_keys,
            state_bytes,
            log_bytes: 0,
            progress,
            cpu: CpuMeter::new(),
        }
    }

    /// Lets the run read the other jobs' committed state (by job, then key).
    pub fn with_peer_state(mut self, peers: BTreeMap<String, BTreeMap<String, Vec<u8>>>) -> Self {
        self.peer_state = peers;
        self
    }

    /// Another job's committed value of `key`.
    pub fn peer_state_get(&self, job: &str, key: &str) -> Option<Vec<u8>> {
        self.peer_state.get(job)?.get(key).cloned()
    }

    /// Records graph deletions for the commit; they count against the `outputs`
    /// quota like the nodes and edges they stand beside.
    pub fn graph_change(&mut self, change: GraphChanges) -> Result<(), String> {
        let held = self.buffers.graph.coverage.len()
            + self.buffers.graph.retracted.len()
            + self.buffers.graph.retracted_edges.len();
        let more = change.coverage.len() + change.retracted.len() + change.retracted_edges.len();
        if (held + more) as u64 > self.quotas.outputs {
            return Err(format!(
                "more than {} graph deletions in one run (the outputs quota)",
                self.quotas.outputs
            ));
        }
        for c in &change.coverage {
            let kind = match c {
                GraphCoverage::NodeKind(k) | GraphCoverage::EdgeKind(k) => k,
                GraphCoverage::EdgesFrom { node, kind } | GraphCoverage::EdgesTo { node, kind } => {
                    if node.is_empty() {
                        return Err("an edge coverage needs a node id".into());
                    }
                    kind
                }
            };
            if kind.is_empty() {
                return Err("a graph coverage needs a kind".into());
            }
        }
        if change.retracted.iter().any(String::is_empty) {
            return Err("a retracted node needs an id".into());
        }
        if change
            .retracted_edges
            .iter()
            .any(|e| e.from.is_empty() || e.to.is_empty() || e.kind.is_empty())
        {
            return Err("a retracted edge needs its two node ids and a kind".into());
        }
        self.buffers.graph.coverage.extend(change.coverage);
        self.buffers.graph.retracted.extend(change.retracted);
        self.buffers
            .graph
            .retracted_edges
            .extend(change.retracted_edges);
        Ok(())
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

    fn stream(&self) -> Result<&StreamAccess, String> {
        self.stream
            .as_ref()
            .ok_or_else(|| "the stored event stream is only readable during a run".to_string())
    }

    /// The coverage as declared by this run, else as committed before it.
    pub fn stream_coverage(&self) -> Option<StreamCoverage> {
        self.buffers
            .declared_coverage
            .or_else(|| self.stream.as_ref().and_then(|s| s.coverage))
    }

    pub fn declare_stream_coverage(&mut self, c: StreamCoverage) -> Result<(), String> {
        let access = self.stream()?;
        if !access.may_declare {
            return Err(
                "only a job that emits events may declare the stream's coverage; add `event` \
                 to the job's outputs in the manifest"
                    .into(),
            );
        }
        if c.after_ms >= c.until_ms {
            return Err(format!(
                "coverage ({}, {}] is empty: after-ms must be below until-ms",
                c.after_ms, c.until_ms
            ));
        }
        self.buffers.declared_coverage = Some(c);
        Ok(())
    }

    /// One page of the tenant's stored events of `(after_ms, until_ms]`; the cursor is
    /// `<time-ms>:<id>` of the previous page's last event.
    pub async fn read_stored_events(
        &mut self,
        after_ms: i64,
        until_ms: i64,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<StoredEventsPage, String> {
        let access = self.stream()?;
        let from = match cursor {
            None => None,
            Some(c) => Some(parse_stream_cursor(&c).ok_or_else(|| {
                format!("cursor {c:?} is not one the host gave: pass a page's next-cursor as is")
            })?),
        };
        let limit = (limit as usize).clamp(1, STORED_EVENTS_PAGE_MAX);
        let (store, tenant) = (access.store.clone(), access.tenant_id.clone());
        let started = Instant::now();
        let events = store
            .event_page(&tenant, after_ms, until_ms, from, limit)
            .await;
        self.cpu.blocked += started.elapsed();
        let events = events.map_err(|e| format!("reading stored events failed: {e}"))?;
        let next_cursor = (events.len() == limit)
            .then(|| events.last().map(|e| format!("{}:{}", e.time_ms, e.id)))
            .flatten();
        Ok(StoredEventsPage {
            events,
            next_cursor,
        })
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

/// Reads a stored-events cursor, `<time-ms>:<id>`.
fn parse_stream_cursor(c: &str) -> Option<(i64, String)> {
    let (ms, id) = c.split_once(':')?;
    Some((ms.parse().ok()?, id.to_string()))
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

    fn with_stream(may_declare: bool, dir: &std::path::Path) -> SandboxState {
        let mut s = sandbox(10);
        let store = crate::store::SqliteStore::open(dir).expect("store");
        s.stream = Some(StreamAccess {
            store: Arc::new(store),
            tenant_id: "t".into(),
            coverage: Some(StreamCoverage {
                after_ms: 0,
                until_ms: 10,
            }),
            may_declare,
        });
        s
    }

    #[test]
    fn only_a_job_that_emits_events_declares_a_non_empty_coverage() {
        let dir = tempfile::tempdir().expect("tempdir");
        let c = |after_ms, until_ms| StreamCoverage { after_ms, until_ms };
        let mut reader = with_stream(false, dir.path());
        assert!(reader.declare_stream_coverage(c(0, 20)).is_err());
        assert_eq!(reader.stream_coverage(), Some(c(0, 10)));
        let mut writer = with_stream(true, dir.path());
        for bad in [c(5, 5), c(6, 5)] {
            assert!(writer.declare_stream_coverage(bad).is_err(), "{bad:?}");
        }
        assert!(writer.declare_stream_coverage(c(0, 20)).is_ok());
        assert_eq!(writer.stream_coverage(), Some(c(0, 20)));
        assert_eq!(writer.buffers.declared_coverage, Some(c(0, 20)));
        // Outside a run there is no stream.
        let mut outside = sandbox(1);
        assert_eq!(outside.stream_coverage(), None);
        assert!(outside.declare_stream_coverage(c(0, 20)).is_err());
    }

    #[test]
    fn stream_cursors_are_the_hosts_own() {
        assert_eq!(parse_stream_cursor("12:abc"), Some((12, "abc".into())));
        assert_eq!(parse_stream_cursor("12:a:b"), Some((12, "a:b".into())));
        assert_eq!(parse_stream_cursor("x:abc"), None);
        assert_eq!(parse_stream_cursor("12"), None);
    }
}
