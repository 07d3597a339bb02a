//! Calling into a connector: the linker, a fresh `Store` per call with its limits,
//! and the three exports (`describe`, `check`, `run`) of whichever contract version
//! the component speaks (see `contract/`).
//!
//! A store gets the memory limiter, an epoch deadline that turns wasm time into the
//! CPU quota (and yields to other tenants every tick, so one busy guest cannot starve
//! the rest), and a wall-clock timeout around the whole call. Time a guest spends
//! blocked in an HTTP call is not CPU: the sandbox's `CpuMeter` leaves it out.

use std::time::{Duration, Instant};

use kri_policy::quota::{QuotaExceeded, QuotaKind};
use wasmtime::component::Linker;
use wasmtime::{Store, UpdateDeadline};

use crate::contract::{ConnectorErrorText, ConnectorPre, Manifest, RunRequest, RunSummary};
use crate::engine::{KriEngine, EPOCH_TICK};
use crate::error::PluginError;
use crate::sandbox::{quota_trap, SandboxState};

/// Builds the linker every connector is instantiated with: WASI (with an empty,
/// capability-free context) plus the kri imports of every contract version.
pub fn connector_linker(engine: &KriEngine) -> anyhow::Result<Linker<SandboxState>> {
    let mut linker: Linker<SandboxState> = Linker::new(engine.engine());
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(anyhow::Error::from)?;
    crate::contract::add_to_linker(&mut linker)?;
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

/// The outcome of a call that ran under `limits`: its result, or why it failed.
fn settle<R>(
    store: &Store<SandboxState>,
    limits: CallLimits,
    outcome: Result<wasmtime::Result<R>, tokio::time::error::Elapsed>,
) -> Result<R, CallFailure> {
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

fn wall(limits: CallLimits) -> Duration {
    Duration::from_millis(limits.wall_ms)
}

/// `describe` on a fresh instance, under the call's limits.
pub async fn call_describe(
    pre: &ConnectorPre,
    store: &mut Store<SandboxState>,
    limits: CallLimits,
) -> Result<Result<Manifest, PluginError>, CallFailure> {
    let outcome = tokio::time::timeout(wall(limits), pre.describe(&mut *store)).await;
    settle(store, limits, outcome)
}

/// `check` on a fresh instance, under the call's limits.
pub async fn call_check(
    pre: &ConnectorPre,
    store: &mut Store<SandboxState>,
    limits: CallLimits,
    req: &RunRequest,
) -> Result<Result<(), ConnectorErrorText>, CallFailure> {
    let outcome = tokio::time::timeout(wall(limits), pre.check(&mut *store, req)).await;
    settle(store, limits, outcome)
}

/// `run` on a fresh instance, under the call's limits.
pub async fn call_run(
    pre: &ConnectorPre,
    store: &mut Store<SandboxState>,
    limits: CallLimits,
    req: &RunRequest,
) -> Result<Result<RunSummary, ConnectorErrorText>, CallFailure> {
    let outcome = tokio::time::timeout(wall(limits), pre.run(&mut *store, req)).await;
    settle(store, limits, outcome)
}
