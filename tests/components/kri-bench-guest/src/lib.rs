//! `kri-bench`: a benchmark component for `make bench`. Its run generates `events`
//! synthetic System Log events (extra config, default 1,000,000) and computes the Okta
//! connector's three log KRIs over them with [`bench`], the same code the benchmark
//! also runs natively (this crate is also a library for that), timing both steps with
//! the WASI monotonic clock. Each figure lands as a KRI value: the times in ms, the event count and the three KRIs (so
//! the native run can be checked against the same results). It makes no requests.
//! With `"compute": false` it only generates the events (its KRIs are then 0): the
//! benchmark subtracts such a run's CPU time from a whole run's.

pub mod bench;

use crate::bench::{compute_log_kris, synthetic_log_jsonl, LogKriFigures};
use kri_connector_sdk::manifest::{job, no_rate_limit_headers, token_auth};
use kri_connector_sdk::types::{
    ConnectorError, Direction, KriDefinition, KriValue, Manifest, OutputKind, RunRequest,
    RunSummary,
};
use kri_connector_sdk::{export_connector, Connector, Host};
use serde_json::Value;
use std::time::Instant;

/// Events generated when the config does not say.
const DEFAULT_EVENTS: u64 = 1_000_000;
/// More would not fit a wasm32 memory.
const MAX_EVENTS: u64 = 5_000_000;
/// The generator's seed unless the config says; the native side uses the same.
const DEFAULT_SEED: u64 = 1;

const KRIS: [(&str, &str); 6] = [
    (
        "bench_generate_ms",
        "Time to generate the synthetic events, in ms.",
    ),
    (
        "bench_compute_ms",
        "Time to parse the events and compute the three log KRIs, in ms.",
    ),
    ("bench_events", "Events parsed."),
    (
        "bench_travel",
        "okta_impossible_travel_24h over the events.",
    ),
    ("bench_push", "okta_failed_mfa_push_24h over the events."),
    (
        "bench_admin",
        "okta_admin_session_outliers_24h over the events.",
    ),
];

struct Bench;

/// The size of the guest's linear memory, in bytes (0 when not built for wasm32).
fn memory_bytes() -> u64 {
    #[cfg(target_arch = "wasm32")]
    {
        core::arch::wasm32::memory_size(0) as u64 * 65_536
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        0
    }
}

/// A non-negative integer from the flat config object, or `default` when absent/null.
fn config_u64(config: &Value, key: &str, default: u64, max: u64) -> Result<u64, ConnectorError> {
    match config.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => match v.as_u64() {
            Some(n) if n <= max => Ok(n),
            _ => Err(ConnectorError::InvalidConfig(format!(
                "`{key}` must be an integer from 0 to {max}, got {v}"
            ))),
        },
    }
}

/// The extra config as a JSON object (empty text reads as `{}`).
fn config(text: &str) -> Result<Value, ConnectorError> {
    if text.trim().is_empty() {
        return Ok(Value::Object(Default::default()));
    }
    match serde_json::from_str::<Value>(text) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(Value::Null) => Ok(Value::Object(Default::default())),
        Ok(_) => Err(ConnectorError::InvalidConfig(
            "extra config must be a JSON object".into(),
        )),
        Err(e) => Err(ConnectorError::InvalidConfig(format!(
            "extra config is not valid JSON: {e}"
        ))),
    }
}

fn emit(
    host: &mut Host<'_>,
    slug: &str,
    value: f64,
    details: String,
) -> Result<(), ConnectorError> {
    host.output
        .emit_kri(KriValue {
            slug: slug.to_string(),
            value: Some(value),
            numerator: None,
            denominator: None,
            details,
            not_evaluated_reason: None,
        })
        .map_err(|e| ConnectorError::HostLimit(format!("emitting {slug} failed: {e}")))
}

impl Connector for Bench {
    fn describe() -> Manifest {
        Manifest {
            name: "kri-bench".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Benchmark component: the Okta connector's System Log KRI \
                          computation over synthetic events, timed inside wasm."
                .into(),
            kris: KRIS
                .iter()
                .map(|(slug, description)| KriDefinition {
                    slug: slug.to_string(),
                    name: slug.to_string(),
                    description: description.to_string(),
                    unit: "count".into(),
                    direction: Direction::LowerIsBetter,
                    warn_threshold: None,
                    breach_threshold: None,
                })
                .collect(),
            jobs: vec![job(
                "kris",
                "Times the log KRIs over synthetic events.",
                "P1D",
                &[OutputKind::Kri],
            )],
            auth: token_auth("Bearer {token}"),
            rate_limit: no_rate_limit_headers(),
            config_schema: format!(
                "{{\"type\": \"object\", \"properties\": {{\
                 \"events\": {{\"type\": \"integer\", \"minimum\": 0, \"maximum\": {MAX_EVENTS}}}, \
                 \"seed\": {{\"type\": \"integer\", \"minimum\": 0}}, \
                 \"compute\": {{\"type\": \"boolean\"}}}}}}"
            ),
        }
    }

    fn check(_host: &mut Host<'_>, _req: &RunRequest) -> Result<(), ConnectorError> {
        Ok(())
    }

    fn run(host: &mut Host<'_>, req: &RunRequest) -> Result<RunSummary, ConnectorError> {
        let cfg = config(&req.extra_config)?;
        let events = config_u64(&cfg, "events", DEFAULT_EVENTS, MAX_EVENTS)?;
        let seed = config_u64(&cfg, "seed", DEFAULT_SEED, u64::MAX)?;
        let n = usize::try_from(events)
            .map_err(|_| ConnectorError::InvalidConfig(format!("{events} events is too many")))?;

        let started = Instant::now();
        let lines = synthetic_log_jsonl(n, req.now_ms, seed);
        let generate_ms = started.elapsed().as_secs_f64() * 1000.0;
        let bytes: usize = lines.iter().map(String::len).sum();
        let memory_after_generate = memory_bytes();

        let compute = match cfg.get("compute") {
            None | Some(Value::Null) => true,
            Some(Value::Bool(b)) => *b,
            Some(v) => {
                return Err(ConnectorError::InvalidConfig(format!(
                    "`compute` must be true or false, got {v}"
                )))
            }
        };
        let started = Instant::now();
        let figures = if compute {
            compute_log_kris(&lines, req.now_ms)
        } else {
            LogKriFigures::default()
        };
        let compute_ms = started.elapsed().as_secs_f64() * 1000.0;
        let memory_after_compute = memory_bytes();
        drop(lines);

        let details = format!(
            "{{\"events\": {events}, \"seed\": {seed}, \"bytes\": {bytes}, \"now_ms\": {}, \
             \"memory_after_generate\": {memory_after_generate}, \
             \"memory_after_compute\": {memory_after_compute}}}",
            req.now_ms
        );
        emit(host, "bench_generate_ms", generate_ms, details.clone())?;
        emit(host, "bench_compute_ms", compute_ms, details.clone())?;
        emit(
            host,
            "bench_events",
            figures.events_parsed as f64,
            details.clone(),
        )?;
        emit(
            host,
            "bench_travel",
            figures.impossible_travel as f64,
            details.clone(),
        )?;
        emit(
            host,
            "bench_push",
            figures.failed_mfa_push as f64,
            details.clone(),
        )?;
        emit(
            host,
            "bench_admin",
            figures.admin_session_outliers as f64,
            details,
        )?;
        Ok(RunSummary {
            items_read: figures.events_parsed,
            items_skipped: events.saturating_sub(figures.events_parsed),
            note: format!(
                "{events} events: generate {generate_ms:.0} ms, parse + compute {compute_ms:.0} ms"
            ),
        })
    }
}

export_connector!(Bench);
