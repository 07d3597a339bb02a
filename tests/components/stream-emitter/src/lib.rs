//! `stream-emitter`: stores a tenant's System Log as events through the host, so the
//! end-to-end tests and the benchmark can give the Okta connector's `kris` job a stored
//! stream before the connector's own `logs` job does. It is the Okta connector's
//! manifest with a different `logs` job: the first run fixes the window
//! `(now - backfill_hours, now]` (extra config `backfill_hours`, default 48); each run
//! reads at most `pages_per_run` pages (default 50) of that window's System Log,
//! emits their events as event outputs (raw JSON kept whole) and keeps the next link in
//! state; the run that reaches the end declares the window as the stream's coverage.
//! Its `kris` and `inventory` jobs refuse to run.

use connector_okta::api::{OktaClient, LOGS};
use connector_okta::collect::log_url;
use connector_okta::connector::{self, LOGS as LOGS_JOB};
use connector_okta::kris::Window;
use connector_okta::time::{iso_to_ms, HOUR_MS};
use kri_connector_sdk::stored_events::StreamCoverage;
use kri_connector_sdk::types::{
    ConnectorError, EntityRef, Event, EventOutcome, Manifest, Output, RunRequest, RunSummary,
};
use kri_connector_sdk::{export_connector, Connector, Host, StateStore};
use serde_json::Value;

/// The look-back of a run when the config does not say.
const DEFAULT_BACKFILL_HOURS: i64 = 48;
/// Pages one run reads when the config does not say.
const DEFAULT_PAGES_PER_RUN: u64 = 50;
/// State: the window as `after,until` (ms), fixed by the first run.
const WINDOW_KEY: &str = "window";
/// State: the next System Log page to read.
const NEXT_KEY: &str = "next";
/// State: set once the window has been stored whole.
const DONE_KEY: &str = "done";

struct Emitter;

/// `v[key]` as text, or empty.
fn text(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn entity(v: &Value) -> EntityRef {
    EntityRef {
        id: text(v, "id"),
        kind: text(v, "type"),
        name: text(v, "alternateId"),
    }
}

/// One System Log event as an event output; `None` without a uuid or a readable time.
fn event(v: &Value) -> Option<Event> {
    let id = v.get("uuid")?.as_str()?.to_string();
    let time_ms = iso_to_ms(v.get("published")?.as_str()?)?;
    Some(Event {
        id,
        time_ms,
        event_type: text(v, "eventType"),
        actor: v.get("actor").map(entity).unwrap_or(EntityRef {
            id: String::new(),
            kind: String::new(),
            name: String::new(),
        }),
        targets: v
            .get("target")
            .and_then(Value::as_array)
            .map(|ts| ts.iter().map(entity).collect())
            .unwrap_or_default(),
        outcome: v.get("outcome").map(|o| EventOutcome {
            result: text(o, "result"),
            reason: o.get("reason").and_then(Value::as_str).map(str::to_string),
        }),
        raw: v.to_string(),
    })
}

/// A positive integer from the extra config, at most `max`, or `default`.
fn config_int(extra: &str, key: &str, default: i64, max: i64) -> Result<i64, ConnectorError> {
    let cfg: Value = serde_json::from_str(if extra.trim().is_empty() { "{}" } else { extra })
        .map_err(|e| ConnectorError::InvalidConfig(format!("extra config is not JSON: {e}")))?;
    match cfg.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => v.as_i64().filter(|h| (1..=max).contains(h)).ok_or_else(|| {
            ConnectorError::InvalidConfig(format!(
                "`{key}` must be an integer from 1 to {max}, got {v}"
            ))
        }),
    }
}

/// The window fixed by the first run, from state.
fn stored_window(state: &mut dyn StateStore) -> Option<Window> {
    let text = String::from_utf8(state.get(WINDOW_KEY)?).ok()?;
    let (after, until) = text.split_once(',')?;
    Some(Window {
        start_exclusive: after.parse().ok()?,
        end_inclusive: until.parse().ok()?,
    })
}

fn state_error(e: String) -> ConnectorError {
    ConnectorError::HostLimit(format!("saving the emitter's progress failed: {e}"))
}

impl Connector for Emitter {
    fn describe() -> Manifest {
        connector::describe()
    }

    fn check(host: &mut Host<'_>, req: &RunRequest) -> Result<(), ConnectorError> {
        connector::check(host, req)
    }

    fn run(host: &mut Host<'_>, req: &RunRequest) -> Result<RunSummary, ConnectorError> {
        if req.job != LOGS_JOB {
            return Err(ConnectorError::InvalidConfig(format!(
                "the stream emitter only runs the `{LOGS_JOB}` job, not {:?}",
                req.job
            )));
        }
        if host.state.get(DONE_KEY).is_some() {
            return Ok(RunSummary {
                items_read: 0,
                items_skipped: 0,
                note: "the window is stored already".into(),
            });
        }
        let window = match stored_window(&mut *host.state) {
            Some(w) => w,
            None => {
                let hours = config_int(
                    &req.extra_config,
                    "backfill_hours",
                    DEFAULT_BACKFILL_HOURS,
                    24 * 90,
                )?;
                let w = Window {
                    start_exclusive: req.now_ms - hours * HOUR_MS,
                    end_inclusive: req.now_ms,
                };
                let text = format!("{},{}", w.start_exclusive, w.end_inclusive);
                host.state
                    .set(WINDOW_KEY, text.as_bytes())
                    .map_err(state_error)?;
                w
            }
        };
        let pages = config_int(
            &req.extra_config,
            "pages_per_run",
            DEFAULT_PAGES_PER_RUN as i64,
            100_000,
        )? as u64;
        let mut url = match host.state.get(NEXT_KEY) {
            Some(bytes) => {
                String::from_utf8(bytes).map_err(|_| state_error("bad next link".into()))?
            }
            None => log_url(window, None),
        };
        let mut emitted = 0u64;
        let mut skipped = 0u64;
        let mut done = false;
        let mut client = OktaClient::new(&mut *host.http);
        for _ in 0..pages {
            let page = client
                .get_page::<Value>(LOGS, &url)
                .map_err(|e| e.into_connector_error())?;
            skipped += page.skipped;
            let mut batch = Vec::with_capacity(page.items.len());
            for v in &page.items {
                match event(v).filter(|e| window.contains(e.time_ms)) {
                    Some(e) => batch.push(Output::Event(e)),
                    None => skipped += 1,
                }
            }
            emitted += batch.len() as u64;
            if !batch.is_empty() {
                host.output.emit(batch).map_err(|e| {
                    ConnectorError::HostLimit(format!("emitting events failed: {e}"))
                })?;
            }
            match page.next {
                Some(next) if !page.items.is_empty() && next != url => url = next,
                _ => {
                    done = true;
                    break;
                }
            }
        }
        if done {
            host.state.delete(NEXT_KEY);
            host.state.set(DONE_KEY, b"1").map_err(state_error)?;
            host.events
                .declare_coverage(StreamCoverage {
                    after_ms: window.start_exclusive,
                    until_ms: window.end_inclusive,
                })
                .map_err(|e| {
                    ConnectorError::HostLimit(format!("declaring coverage failed: {e}"))
                })?;
        } else {
            host.state
                .set(NEXT_KEY, url.as_bytes())
                .map_err(state_error)?;
        }
        Ok(RunSummary {
            items_read: emitted,
            items_skipped: skipped,
            note: format!(
                "{emitted} events stored; {}",
                if done {
                    "window complete, coverage declared"
                } else {
                    "more to read"
                }
            ),
        })
    }
}

export_connector!(Emitter);
