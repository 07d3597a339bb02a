//! The `logs` job: one poll of the Okta System Log, as Okta documents polling
//! (`sortOrder=ASCENDING`, no `until`, follow `next` until an empty page). Each page's
//! events are emitted as `event` outputs and fed through every detection
//! ([`crate::detect`]); the alerts they raise are emitted beside them. The `next` link
//! (the cursor) and the detections' windows are saved in state, which the host commits
//! in the same transaction as the outputs: a poll killed halfway is run again from the
//! old cursor and the old windows, so it stores the same events (unique by `uuid`) and
//! raises the same alerts (unique by dedupe key).
//!
//! A poll that catches up (reaches an empty page) declares how far the stored stream
//! is complete (`stored-events`), so that the `kris` job reads its 24-hour windows
//! from the store instead of the System Log: from the first poll's `since` to the
//! poll's time less [`LATE_ALLOWANCE_MS`], since Okta persists some events late.

use crate::api::{ApiError, OktaClient, LOGS};
use crate::budget::TimeBudget;
use crate::config::Config;
use crate::detect::{self, DetectionState, Party, SystemLogEvent};
use crate::time::ms_to_iso;
use kri_connector_sdk::stored_events::{StreamCoverage, StreamPoll};
use kri_connector_sdk::types::{
    Alert, ConnectorError, EntityRef, Event, EventOutcome, Level, Output, RunRequest, RunSummary,
    Severity,
};
use kri_connector_sdk::Host;
use serde_json::Value;

/// State key of the cursor: the `next` link of the last page read.
pub const CURSOR_KEY: &str = "logs/cursor";
/// State key of the detections' windows ([`DetectionState`] as JSON).
pub const DETECTIONS_KEY: &str = "logs/detections";
/// State key of the first poll's `since` (ms): where the stored stream starts.
pub const STREAM_START_KEY: &str = "logs/stream_start";
/// How late Okta may persist an event after its `published` time; the stored stream
/// is declared complete only up to the poll's time less this. okta-sim persists its
/// late events within 4 minutes.
pub const LATE_ALLOWANCE_MS: i64 = 5 * 60_000;
/// Events per page (Okta's maximum for `/api/v1/logs`).
pub const PAGE_LIMIT: u32 = 1000;

/// What one poll did, for the run's note.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PollStats {
    pub pages: u64,
    pub events: u64,
    /// Elements that were not events (no uuid, type or readable time).
    pub skipped: u64,
    pub alerts: u64,
    /// `now` − the newest `published` seen so far, in ms; `None` before any event.
    pub lag_ms: Option<i64>,
    /// Whether the poll reached an empty page: every event persisted so far is read.
    pub caught_up: bool,
    /// Why the poll stopped before an empty page, if it did.
    pub stopped_early: Option<String>,
    /// Size of the saved detection state, in bytes.
    pub state_bytes: usize,
}

impl PollStats {
    /// The run's note: pages, events, alerts, lag and state size.
    pub fn note(&self) -> String {
        let lag = self
            .lag_ms
            .map_or("unknown".to_string(), |l| format!("{l} ms"));
        let mut note = format!(
            "logs poll: {} pages, {} events ({} skipped), {} alerts; lag {lag}; detection state {} bytes",
            self.pages, self.events, self.skipped, self.alerts, self.state_bytes
        );
        if let Some(why) = &self.stopped_early {
            note.push_str(&format!("; {why}, the next poll goes on from the cursor"));
        }
        note
    }

    /// The figures the host keeps with the run (`stored-events.record-poll`).
    pub fn record(&self) -> StreamPoll {
        StreamPoll {
            pages: self.pages,
            events: self.events,
            lag_ms: self.lag_ms,
        }
    }
}

/// `now` less the newest `published` the detections have seen (this poll or an
/// earlier one); `None` before any event.
fn lag_ms(detections: &DetectionState, now: i64) -> Option<i64> {
    (detections.watermark_ms > 0).then(|| now - detections.watermark_ms)
}

/// The `since` of the very first poll: now − the configured backfill.
fn backfill_start(now_ms: i64, backfill_hours: u64) -> i64 {
    now_ms.saturating_sub((backfill_hours as i64).saturating_mul(3_600_000))
}

/// Declares the stored stream complete from its start (the first poll's `since`) to
/// `now` less [`LATE_ALLOWANCE_MS`]. A stream whose start was never recorded (polled
/// before the start was kept) is not declared: nothing vouches for its beginning.
fn declare_coverage(host: &mut Host<'_>, now: i64) -> Result<(), ConnectorError> {
    let start = match host.state.get(STREAM_START_KEY) {
        Some(bytes) => match std::str::from_utf8(&bytes)
            .ok()
            .and_then(|s| s.parse().ok())
        {
            Some(ms) => ms,
            None => return Ok(()),
        },
        None => return Ok(()),
    };
    let previous = host.events.coverage();
    let after_ms = previous.map_or(start, |c| c.after_ms.min(start));
    let until_ms = previous.map_or(now - LATE_ALLOWANCE_MS, |c| {
        c.until_ms.max(now - LATE_ALLOWANCE_MS)
    });
    if until_ms <= after_ms {
        return Ok(());
    }
    host.events
        .declare_coverage(StreamCoverage { after_ms, until_ms })
        .map_err(|e| ConnectorError::HostLimit(format!("declaring the stream's coverage: {e}")))
}

/// The URL of the very first poll: `since` = now − the configured backfill.
pub fn first_url(now_ms: i64, backfill_hours: u64) -> String {
    let since = backfill_start(now_ms, backfill_hours);
    crate::api::url_with_query(
        "/api/v1/logs",
        &[
            ("since", &ms_to_iso(since)),
            ("sortOrder", "ASCENDING"),
            ("limit", &PAGE_LIMIT.to_string()),
        ],
    )
}

fn party_ref(p: &Party) -> EntityRef {
    EntityRef {
        id: p
            .id
            .clone()
            .or_else(|| p.alternate_id.clone())
            .unwrap_or_default(),
        kind: p.party_type.clone().unwrap_or_default(),
        name: p.alternate_id.clone().unwrap_or_default(),
    }
}

/// The `event` output of one System Log event; `raw` is the event as Okta sent it.
pub fn event_output(ev: &SystemLogEvent, raw: String) -> Event {
    Event {
        id: ev.uuid.clone(),
        time_ms: ev.published_ms,
        event_type: ev.event_type.clone(),
        actor: party_ref(&ev.actor),
        targets: ev.targets.iter().map(party_ref).collect(),
        outcome: ev.outcome_result.as_ref().map(|r| EventOutcome {
            result: r.clone(),
            reason: ev.outcome_reason.clone(),
        }),
        raw,
    }
}

fn severity(s: detect::Severity) -> Severity {
    match s {
        detect::Severity::Info => Severity::Info,
        detect::Severity::Low => Severity::Low,
        detect::Severity::Medium => Severity::Medium,
        detect::Severity::High => Severity::High,
        detect::Severity::Critical => Severity::Critical,
    }
}

/// The `alert` output of a detection's alert; its first-seen time goes in `details`.
pub fn alert_output(a: detect::Alert) -> Alert {
    let mut details = match a.details {
        Value::Object(m) => m,
        other => {
            let mut m = serde_json::Map::new();
            m.insert("detail".into(), other);
            m
        }
    };
    details.insert("first_seen_ms".into(), Value::from(a.first_seen_ms));
    Alert {
        detection: a.detection,
        severity: severity(a.severity),
        title: a.title,
        dedupe_key: a.dedupe_key,
        entity: EntityRef {
            id: a.entity.id,
            kind: a.entity.kind,
            name: a.entity.name,
        },
        evidence: a.evidence,
        seen_ms: a.seen_ms,
        details: Value::Object(details).to_string(),
    }
}

fn load_detections(host: &mut Host<'_>) -> DetectionState {
    match host.state.get(DETECTIONS_KEY) {
        Some(bytes) => match serde_json::from_slice(&bytes) {
            Ok(state) => state,
            Err(e) => {
                host.log.log(
                    Level::Warn,
                    &format!(
                        "the saved detection windows are unreadable ({e}); starting them empty"
                    ),
                );
                DetectionState::default()
            }
        },
        None => DetectionState::default(),
    }
}

/// One poll within the request's time budget, counted from now.
pub fn run(host: &mut Host<'_>, req: &RunRequest) -> Result<RunSummary, ConnectorError> {
    run_within(host, req, &TimeBudget::starting_now(req.time_budget_ms))
}

/// One poll: pages from the cursor (or `since` on the very first poll) until an empty
/// page, the configured page bound or the time budget; outputs per page; cursor and
/// windows saved at the end.
pub fn run_within(
    host: &mut Host<'_>,
    req: &RunRequest,
    budget: &TimeBudget,
) -> Result<RunSummary, ConnectorError> {
    let cfg = Config::parse(&req.extra_config)?;
    let now = req.now_ms;
    let mut cursor = match host.state.get(CURSOR_KEY) {
        Some(bytes) => String::from_utf8(bytes)
            .map_err(|_| ConnectorError::Other(format!("the saved {CURSOR_KEY} is not UTF-8")))?,
        None => {
            let since = backfill_start(now, cfg.log_backfill_hours);
            host.state
                .set(STREAM_START_KEY, since.to_string().as_bytes())
                .map_err(|e| ConnectorError::HostLimit(format!("saving the stream start: {e}")))?;
            first_url(now, cfg.log_backfill_hours)
        }
    };
    let mut detections = load_detections(host);
    let mut stats = PollStats::default();
    let mut slowest_page_ms = 0;
    loop {
        if stats.pages >= cfg.log_pages_per_poll {
            stats.stopped_early = Some(format!("read the {} pages allowed per poll", stats.pages));
            break;
        }
        if stats.pages > 0 && !budget.fits(slowest_page_ms) {
            stats.stopped_early = Some("the run's time budget is nearly spent".to_string());
            break;
        }
        let started = budget.elapsed_ms();
        let page = {
            let mut client = OktaClient::new(&mut *host.http);
            client.get_page::<Value>(LOGS, &cursor)
        };
        let page = match page {
            Ok(p) => p,
            // A spent host quota after some pages: keep what was read.
            Err(ApiError::Fatal(ConnectorError::HostLimit(m))) if stats.pages > 0 => {
                stats.stopped_early = Some(format!("a host limit stopped the poll ({m})"));
                break;
            }
            Err(e) => {
                // A failed poll still reports what it read before the failure.
                stats.lag_ms = lag_ms(&detections, now);
                host.events.record_poll(stats.record());
                return Err(e.into_connector_error());
            }
        };
        slowest_page_ms = slowest_page_ms.max(budget.elapsed_ms().saturating_sub(started));
        stats.pages += 1;
        stats.skipped += page.skipped;
        let empty = page.items.is_empty();
        let mut events = Vec::with_capacity(page.items.len());
        let mut outputs = Vec::with_capacity(page.items.len());
        for raw in page.items {
            let parsed = crate::api::models::LogEvent::from_value(&raw)
                .as_ref()
                .and_then(SystemLogEvent::from_log);
            match parsed {
                Some(ev) => {
                    outputs.push(Output::Event(event_output(&ev, raw.to_string())));
                    events.push(ev);
                }
                None => stats.skipped += 1,
            }
        }
        stats.events += events.len() as u64;
        for alert in detect::detect(&mut detections, &events, now) {
            stats.alerts += 1;
            outputs.push(Output::Alert(alert_output(alert)));
        }
        if !outputs.is_empty() {
            host.output.emit(outputs).map_err(|e| {
                ConnectorError::HostLimit(format!("emitting System Log events failed: {e}"))
            })?;
        }
        host.log.progress("logs", stats.events, None);
        // Okta always gives a `next` link while polling; without one, the same URL
        // is where the next poll starts.
        let next = page.next;
        if let Some(next) = next {
            cursor = next;
        }
        if empty {
            stats.caught_up = true;
            break;
        }
    }
    if stats.caught_up {
        declare_coverage(host, now)?;
    }
    stats.lag_ms = lag_ms(&detections, now);
    host.events.record_poll(stats.record());
    let saved = serde_json::to_vec(&detections)
        .map_err(|e| ConnectorError::Other(format!("cannot save the detection windows: {e}")))?;
    stats.state_bytes = saved.len();
    host.state
        .set(DETECTIONS_KEY, &saved)
        .map_err(|e| ConnectorError::HostLimit(format!("saving the detection windows: {e}")))?;
    host.state
        .set(CURSOR_KEY, cursor.as_bytes())
        .map_err(|e| ConnectorError::HostLimit(format!("saving the System Log cursor: {e}")))?;
    let note = stats.note();
    host.log.log(Level::Info, &note);
    Ok(RunSummary {
        items_read: stats.events,
        items_skipped: stats.skipped,
        note,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::{MFA_PUSH_FATIGUE, MINUTE_MS};
    use kri_connector_sdk::fakes::{json_response, FakeHost, FakeHttp};
    use kri_connector_sdk::http::{HttpError, Request, Response};
    use serde_json::json;

    const T0: i64 = 1_795_400_000_000;

    fn deny_push(uuid: &str, ms: i64) -> Value {
        json!({"uuid": uuid, "published": ms_to_iso(ms), "eventType": "user.mfa.okta_verify.deny_push",
            "displayMessage": "User rejected Okta push verify", "severity": "WARN",
            "actor": {"id": "00uvictim", "type": "User", "alternateId": "victim@example.com"},
            "outcome": {"result": "FAILURE", "reason": null}, "target": [],
            "client": {"ipAddress": "73.42.18.9"}, "securityContext": {"asNumber": 7922}})
    }

    /// A System Log served `per_page` events a page from `log`, cursor = position;
    /// polling always gives a `next` link.
    fn server(
        log: Vec<Value>,
        per_page: usize,
    ) -> impl FnMut(&Request) -> Result<Response, HttpError> {
        move |req: &Request| {
            let from = req
                .url
                .split("after=")
                .nth(1)
                .and_then(|a| a.split('&').next())
                .and_then(|a| a.parse::<usize>().ok())
                .unwrap_or(0);
            let to = (from + per_page).min(log.len());
            let body = serde_json::to_string(&log[from..to]).unwrap_or_default();
            let next =
                format!("<https://acme.okta.com/api/v1/logs?after={to}&limit=1000>; rel=\"next\"");
            Ok(json_response(&body, &[("link", &next)]))
        }
    }

    fn request(now_ms: i64, extra: &str) -> RunRequest {
        RunRequest {
            job: "logs".into(),
            now_ms,
            time_budget_ms: 60_000,
            kris: vec![],
            extra_config: extra.into(),
        }
    }

    fn events_and_alerts(fake: &kri_connector_sdk::fakes::MemOutput) -> (Vec<String>, Vec<Alert>) {
        let mut events = Vec::new();
        let mut alerts = Vec::new();
        for o in &fake.others {
            match o {
                Output::Event(e) => events.push(e.id.clone()),
                Output::Alert(a) => alerts.push(a.clone()),
                _ => {}
            }
        }
        (events, alerts)
    }

    #[test]
    fn polls_are_bounded_resume_from_the_cursor_and_send_since_only_first() {
        let log: Vec<Value> = (0..7)
            .map(|i| deny_push(&format!("u{i}"), T0 + i * 30_000))
            .collect();
        let mut fake = FakeHost::new(FakeHttp::new(server(log, 2)));
        let extra = r#"{"log_pages_per_poll": 2, "log_backfill_hours": 48}"#;
        let now = T0 + 10 * MINUTE_MS;
        let first = run(&mut fake.host(), &request(now, extra)).expect("first poll");
        assert_eq!(first.items_read, 4);
        assert!(
            first.note.contains("read the 2 pages allowed per poll"),
            "{}",
            first.note
        );
        let since = ms_to_iso(now - 48 * 3_600_000);
        assert!(
            fake.http.sent[0].url.starts_with("/api/v1/logs?since=")
                && fake.http.sent[0].url.contains(&since.replace(':', "%3A"))
                && fake.http.sent[0].url.contains("sortOrder=ASCENDING"),
            "{}",
            fake.http.sent[0].url
        );
        assert!(!fake.http.sent[0].url.contains("until"));
        assert_eq!(
            fake.state
                .map
                .get(CURSOR_KEY)
                .map(|c| String::from_utf8_lossy(c).into_owned()),
            Some("https://acme.okta.com/api/v1/logs?after=4&limit=1000".to_string())
        );
        assert_eq!(
            fake.events.coverage, None,
            "a poll that did not catch up vouches for nothing"
        );
        // The second poll starts at the cursor (no `since`) and stops at the empty page.
        let second = run(&mut fake.host(), &request(now, extra)).expect("second poll");
        assert_eq!(second.items_read, 3);
        assert!(fake.http.sent[2..]
            .iter()
            .all(|r| !r.url.contains("since=")));
        assert!(second.note.contains("lag "), "{}", second.note);
        // The host keeps the poll's figures with the run: the two pages allowed (a full
        // one, a short one), three events, and the lag from the newest.
        assert_eq!(
            fake.events.poll,
            Some(StreamPoll {
                pages: 2,
                events: 3,
                lag_ms: Some(now - (T0 + 6 * 30_000)),
            })
        );
        let (events, alerts) = events_and_alerts(&fake.output);
        assert_eq!(events, (0..7).map(|i| format!("u{i}")).collect::<Vec<_>>());
        // Five denials spanning both polls: one push-fatigue alert, from the windows
        // kept in state.
        assert_eq!(alerts.len(), 1, "{alerts:?}");
        assert_eq!(alerts[0].detection, MFA_PUSH_FATIGUE);
        let details: Value = serde_json::from_str(&alerts[0].details).unwrap_or_default();
        assert_eq!(details["first_seen_ms"], json!(T0));
        // A poll that reaches the empty page has read everything persisted so far: the
        // stream is complete from the first `since` to now less the late allowance.
        let later = now + MINUTE_MS;
        run(&mut fake.host(), &request(later, extra)).expect("third poll");
        assert_eq!(
            fake.events.coverage,
            Some(StreamCoverage {
                after_ms: now - 48 * 3_600_000,
                until_ms: later - LATE_ALLOWANCE_MS,
            })
        );
        // Nothing new arrives: an empty page, the cursor stays.
        let third = run(&mut fake.host(), &request(now, extra)).expect("third poll");
        assert_eq!(third.items_read, 0);
        assert_eq!(events_and_alerts(&fake.output).0.len(), 7);
    }

    #[test]
    fn a_poll_rerun_from_the_old_state_emits_the_same_events_and_alert_keys() {
        let log: Vec<Value> = (0..6)
            .map(|i| deny_push(&format!("u{i}"), T0 + i * 30_000))
            .chain([json!({"not": "an event"})])
            .collect();
        let mut fake = FakeHost::new(FakeHttp::new(server(log.clone(), 3)));
        let now = T0 + 10 * MINUTE_MS;
        let before = fake.state.clone();
        let once = run(&mut fake.host(), &request(now, "{}")).expect("poll");
        assert_eq!((once.items_read, once.items_skipped), (6, 1));
        let (events, alerts) = events_and_alerts(&fake.output);
        // The host keeps nothing of a killed poll: the state is as before it.
        let mut again = FakeHost::new(FakeHttp::new(server(log, 3)));
        again.state = before;
        run(&mut again.host(), &request(now, "{}")).expect("poll again");
        let (events2, alerts2) = events_and_alerts(&again.output);
        assert_eq!(events, events2);
        let keys = |a: &[Alert]| a.iter().map(|a| a.dedupe_key.clone()).collect::<Vec<_>>();
        assert_eq!(keys(&alerts), keys(&alerts2));
        assert_eq!(alerts.len(), 1);
    }

    #[test]
    fn a_failed_first_page_fails_the_poll_and_keeps_the_cursor() {
        let mut fake = FakeHost::new(FakeHttp::new(|_: &Request| {
            Err(HttpError::Transport("connection reset".into()))
        }));
        fake.state
            .map
            .insert(CURSOR_KEY.into(), b"/api/v1/logs?after=9".to_vec());
        let err = run(&mut fake.host(), &request(T0, "{}")).expect_err("fails");
        assert!(matches!(err, ConnectorError::Upstream(_)), "{err:?}");
        assert_eq!(fake.http.sent[0].url, "/api/v1/logs?after=9");
        assert_eq!(
            fake.events.poll,
            Some(StreamPoll {
                pages: 0,
                events: 0,
                lag_ms: None,
            }),
            "a failed poll still reports what it read"
        );
    }

    #[test]
    fn event_outputs_carry_the_raw_event_and_normalized_parties() {
        let raw = deny_push("u1", T0);
        let log = crate::api::models::LogEvent::from_value(&raw);
        let ev = log
            .as_ref()
            .and_then(SystemLogEvent::from_log)
            .expect("event");
        let out = event_output(&ev, raw.to_string());
        assert_eq!(out.id, "u1");
        assert_eq!(out.time_ms, T0);
        assert_eq!(out.actor.id, "00uvictim");
        assert_eq!(out.actor.kind, "User");
        assert_eq!(out.actor.name, "victim@example.com");
        assert_eq!(out.outcome.map(|o| o.result), Some("FAILURE".to_string()));
        let back: Value = serde_json::from_str(&out.raw).unwrap_or_default();
        assert_eq!(back, raw);
    }
}
