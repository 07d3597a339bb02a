//! Calling into a connector: the linker, a fresh `Store` per call with its limits,
//! and the three exports (`describe`, `check`, `run`).
//!
//! A store gets the memory limiter, an epoch deadline that turns wasm time into the
//! CPU quota (and yields to other tenants every tick, so one busy guest cannot starve
//! the rest), and a wall-clock timeout around the whole call. Time a guest spends
//! blocked in an HTTP call is not CPU: the sandbox's `CpuMeter` leaves it out.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kri_policy::quota::{QuotaExceeded, QuotaKind};
use wasmtime::component::{HasSelf, Linker};
use wasmtime::{Store, UpdateDeadline};

use crate::bindings::{types, Connector, ConnectorPre};
use crate::engine::{KriEngine, EPOCH_TICK};
use crate::sandbox::{quota_trap, SandboxState};

/// Builds the linker every connector is instantiated with: WASI (with an empty,
/// capability-free context) plus the kri imports.
pub fn connector_linker(engine: &KriEngine) -> anyhow::Result<Linker<SandboxState>> {
    let mut linker: Linker<SandboxState> = Linker::new(engine.engine());
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(anyhow::Error::from)?;
    Connector::add_to_linker::<SandboxState, HasSelf<SandboxState>>(&mut linker, |s| s)
        .map_err(anyhow::Error::from)?;
    Ok(linker)
}

/// Limits of one call.
#[derive(Debug, Clone, Copy)]
pub struct CallLimits {
    pub cpu_ms: u64,
    pub wall_ms: u64,
}

/// How a call into a guest failed.
#[derive(Debug, Clone)]
pub enum CallFailure {
    /// A quota was spent (memory, CPU, wall time, requests, bytes, outputs, state, logs).
    Quota(QuotaExceeded),
    /// The guest trapped (panic, unreachable, stack overflow, ...).
    Trap(String),
}

impl std::fmt::Display for CallFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallFailure::Quota(q) => write!(f, "{q}"),
            CallFailure::Trap(t) => write!(f, "{t}"),
        }
    }
}

/// Creates a store for one call, with memory and CPU limits wired in.
pub fn new_store(
    engine: &KriEngine,
    state: SandboxState,
    limits: CallLimits,
) -> Store<SandboxState> {
    let mut store = Store::new(engine.engine(), state);
    store.limiter(|s| &mut s.limiter);
    let budget = Duration::from_millis(limits.cpu_ms);
    let cpu_ms = limits.cpu_ms;
    store.epoch_deadline_callback(move |mut ctx| {
        let data = ctx.data_mut();
        let used = data.cpu.check(Instant::now(), EPOCH_TICK);
        if used > budget {
            let e = QuotaExceeded::new(QuotaKind::CpuMs, cpu_ms, used.as_millis() as u64);
            return Err(quota_trap(&data.violation, e));
        }
        Ok(UpdateDeadline::Yield(1))
    });
    store.set_epoch_deadline(1);
    store
}

fn failure(store: &Store<SandboxState>, err: wasmtime::Error) -> CallFailure {
    if let Some(q) = *store
        .data()
        .violation
        .lock()
        .unwrap_or_else(|p| p.into_inner())
    {
        return CallFailure::Quota(q);
    }
    let captured = store.data().stderr.contents();
    let log_limit = store.data().quotas.log_bytes;
    if captured.len() as u64 >= log_limit {
        // A full stderr pipe fails the guest's writes, which a Rust guest turns
        // into a panic: name the quota, not the panic.
        return CallFailure::Quota(QuotaExceeded::new(
            QuotaKind::LogBytes,
            log_limit,
            captured.len() as u64,
        ));
    }
    let stderr = String::from_utf8_lossy(&captured).to_string();
    // The last meaningful line: a Rust panic prints its message, then a `note:`.
    let last_stderr = stderr
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty() && !l.starts_with("note: "))
        .map(|l| format!(" (guest stderr: {})", l.trim()))
        .unwrap_or_default();
    let trap = err
        .downcast_ref::<wasmtime::Trap>()
        .map(|t| t.to_string())
        .unwrap_or_else(|| format!("{err}"));
    CallFailure::Trap(format!("{trap}{last_stderr}"))
}

/// Instantiates and runs `f` against a fresh instance, under the call's limits.
async fn call<R>(
    pre: &ConnectorPre<SandboxState>,
    store: &mut Store<SandboxState>,
    limits: CallLimits,
    f: impl for<'a> FnOnce(
        &'a Connector,
        &'a mut Store<SandboxState>,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = wasmtime::Result<R>> + Send + 'a>,
    >,
) -> Result<R, CallFailure> {
    let wall = Duration::from_millis(limits.wall_ms);
    let outcome = tokio::time::timeout(wall, async {
        let instance = pre.instantiate_async(&mut *store).await?;
        f(&instance, &mut *store).await
    })
    .await;
    match outcome {
        Ok(Ok(r)) => Ok(r),
        Ok(Err(e)) => Err(failure(store, e)),
        Err(_) => Err(CallFailure::Quota(QuotaExceeded::new(
            QuotaKind::WallMs,
            limits.wall_ms,
            limits.wall_ms,
        ))),
    }
}

pub async fn call_describe(
    pre: &ConnectorPre<SandboxState>,
    store: &mut Store<SandboxState>,
    limits: CallLimits,
) -> Result<types::Manifest, CallFailure> {
    call(pre, store, limits, |c, s| Box::pin(c.call_describe(s))).await
}

pub async fn call_check(
    pre: &ConnectorPre<SandboxState>,
    store: &mut Store<SandboxState>,
    limits: CallLimits,
    req: types::RunRequest,
) -> Result<Result<(), types::ConnectorError>, CallFailure> {
    let req = Arc::new(req);
    call(pre, store, limits, move |c, s| {
        Box::pin(async move { c.call_check(s, &req).await })
    })
    .await
}

pub async fn call_run(
    pre: &ConnectorPre<SandboxState>,
    store: &mut Store<SandboxState>,
    limits: CallLimits,
    req: types::RunRequest,
) -> Result<Result<types::RunSummary, types::ConnectorError>, CallFailure> {
    let req = Arc::new(req);
    call(pre, store, limits, move |c, s| {
        Box::pin(async move { c.call_run(s, &req).await })
    })
    .await
}

/// Describes a connector error for people.
pub fn connector_error_text(e: &types::ConnectorError) -> String {
    use types::ConnectorError as E;
    match e {
        E::Unauthorized(m) => format!("unauthorized: {m}"),
        E::Forbidden(m) => format!("forbidden: {m}"),
        E::MalformedResponse(m) => format!("malformed response: {m}"),
        E::Upstream(m) => format!("upstream error: {m}"),
        E::InvalidConfig(m) => format!("invalid config: {m}"),
        E::HostLimit(m) => format!("host limit: {m}"),
        E::Other(m) => m.clone(),
    }
}
