//! `okta_admin_session_outliers_24h`: admin-console sessions that ended in the last 24 h
//! and lasted more than 8 h. A session starts with `user.session.access_admin_app` and
//! ends with `user.session.end`, paired by `authenticationContext.externalSessionId`.
//! Starts are remembered across runs in a [`SessionBook`] (kept in state by the
//! collector), so a session that started before a run's window is counted by the run that
//! sees its end; ended outliers are remembered for 24 h so every run within a day of the
//! end counts them.

use super::{evaluated, round1, Kri, Window, WindowFilter, DETAILS_LIST_CAP};
use crate::api::models::LogEvent;
use crate::time::{ms_to_iso, HOUR_MS};
use kri_connector_sdk::types::KriValue;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;

pub const START_EVENT: &str = "user.session.access_admin_app";
pub const END_EVENT: &str = "user.session.end";
/// A session is an outlier when it lasted more than this.
pub const OUTLIER_MS: i64 = 8 * HOUR_MS;
/// Open sessions older than this are forgotten (Okta's longest session lifetime).
pub const MAX_OPEN_AGE_MS: i64 = 90 * 24 * HOUR_MS;
/// At most this many open sessions are remembered (the oldest go first).
pub const MAX_OPEN_SESSIONS: usize = 20_000;

/// A started admin session without an end yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenSession {
    #[serde(rename = "s")]
    pub start_ms: i64,
    #[serde(rename = "a", default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
}

/// A finished admin session that lasted more than 8 h.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndedSession {
    #[serde(rename = "id")]
    pub session_id: String,
    #[serde(rename = "s")]
    pub start_ms: i64,
    #[serde(rename = "e")]
    pub end_ms: i64,
    #[serde(rename = "a", default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
}

/// What is remembered between runs.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SessionBook {
    /// Open sessions by external session id.
    #[serde(default)]
    pub open: BTreeMap<String, OpenSession>,
    /// Outliers whose end is less than 24 h old.
    #[serde(default)]
    pub recent_outliers: Vec<EndedSession>,
}

/// What one run's events did to the book.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AdvanceStats {
    pub events_examined: u64,
    pub events_skipped: u64,
    pub starts: u64,
    pub ends: u64,
    /// Ends whose start is unknown (before the look-back, or a different session id).
    pub ends_without_start: u64,
    pub forgotten_open: u64,
}

/// One admin-session start or end: (time, 0 = start / 1 = end, session id, actor).
type SessionItem = (i64, u8, String, Option<String>);

/// Collects the admin-session starts and ends of `window` (`(cursor or now - lookback,
/// now]`) from events fed one at a time, page by page; only those events are kept (a
/// few per admin sign-in), and other event types are not even counted, so reading every
/// stored event gives the same figures as a System Log read filtered to the two types.
#[derive(Debug)]
pub struct SessionFeed {
    filter: WindowFilter,
    items: Vec<SessionItem>,
    /// Start or end events without a published time or session id.
    skipped: u64,
}

impl SessionFeed {
    pub fn new(window: Window) -> SessionFeed {
        SessionFeed {
            filter: WindowFilter::new(window),
            items: Vec::new(),
            skipped: 0,
        }
    }

    pub fn window(&self) -> Window {
        self.filter.window
    }

    pub fn add(&mut self, ev: &LogEvent) {
        let kind = match ev.event_type.as_deref().map(str::trim) {
            Some(START_EVENT) => 0,
            Some(END_EVENT) => 1,
            _ => return,
        };
        if !self.filter.admit(ev) {
            return;
        }
        let (Some(ms), Some(sid)) = (ev.published_ms(), ev.external_session_id.as_deref()) else {
            self.skipped += 1;
            return;
        };
        let sid = sid.trim();
        if sid.is_empty() {
            self.skipped += 1;
            return;
        }
        let actor = ev
            .actor_alternate_id
            .clone()
            .or_else(|| ev.actor_id.clone());
        self.items.push((ms, kind, sid.to_string(), actor));
    }

    /// Plays the collected starts and ends into the book in time order and prunes it at
    /// the window's end (now).
    pub fn apply(mut self, book: &mut SessionBook) -> AdvanceStats {
        let now = self.filter.window.end_inclusive;
        let mut stats = AdvanceStats {
            events_examined: self.filter.examined,
            events_skipped: self.filter.skipped + self.skipped,
            ..AdvanceStats::default()
        };
        self.items.sort_by_key(|a| (a.0, a.1));
        for (ms, kind, sid, actor) in self.items {
            if kind == 0 {
                stats.starts += 1;
                let entry = book.open.entry(sid).or_insert(OpenSession {
                    start_ms: ms,
                    actor: actor.clone(),
                });
                if ms < entry.start_ms {
                    *entry = OpenSession {
                        start_ms: ms,
                        actor,
                    };
                }
                continue;
            }
            stats.ends += 1;
            let Some(open) = book.open.remove(&sid) else {
                stats.ends_without_start += 1;
                continue;
            };
            if ms - open.start_ms > OUTLIER_MS {
                let ended = EndedSession {
                    session_id: sid,
                    start_ms: open.start_ms,
                    end_ms: ms,
                    actor: open.actor.or(actor),
                };
                if !book.recent_outliers.contains(&ended) {
                    book.recent_outliers.push(ended);
                }
            }
        }
        // Prune.
        book.recent_outliers
            .retain(|s| s.end_ms > now - 24 * HOUR_MS);
        let before = book.open.len();
        book.open.retain(|_, s| now - s.start_ms <= MAX_OPEN_AGE_MS);
        if book.open.len() > MAX_OPEN_SESSIONS {
            let mut starts: Vec<i64> = book.open.values().map(|s| s.start_ms).collect();
            starts.sort_unstable();
            let cutoff = starts[book.open.len() - MAX_OPEN_SESSIONS];
            book.open.retain(|_, s| s.start_ms >= cutoff);
        }
        stats.forgotten_open = (before - book.open.len()) as u64;
        stats
    }
}

/// Feeds a slice of events of `window` into the book (see [`SessionFeed`]).
pub fn advance(book: &mut SessionBook, events: &[LogEvent], window: Window) -> AdvanceStats {
    let mut feed = SessionFeed::new(window);
    for ev in events {
        feed.add(ev);
    }
    feed.apply(book)
}

/// The KRI from the book as it stands at `now`.
pub fn admin_session_outliers(book: &SessionBook, now: i64, stats: &AdvanceStats) -> KriValue {
    let window = Window::last_24h(now);
    let counted: Vec<&EndedSession> = book
        .recent_outliers
        .iter()
        .filter(|s| window.contains(s.end_ms) && s.end_ms - s.start_ms > OUTLIER_MS)
        .collect();
    let mut open_long: Vec<(&String, &OpenSession)> = book
        .open
        .iter()
        .filter(|(_, s)| s.start_ms <= now && now - s.start_ms > OUTLIER_MS)
        .collect();
    open_long.sort_by_key(|(id, s)| (s.start_ms, *id));
    let hours = |ms: i64| round1(ms as f64 / HOUR_MS as f64);
    let details = json!({
        "window": window.to_json(),
        "sessions": counted.iter().take(DETAILS_LIST_CAP).map(|s| json!({
            "session_id": s.session_id, "actor": s.actor,
            "started": ms_to_iso(s.start_ms), "ended": ms_to_iso(s.end_ms),
            "hours": hours(s.end_ms - s.start_ms),
        })).collect::<Vec<_>>(),
        "open_sessions_over_8h": open_long.iter().take(DETAILS_LIST_CAP).map(|(id, s)| json!({
            "session_id": id, "actor": s.actor, "started": ms_to_iso(s.start_ms),
            "open_hours": hours(now - s.start_ms),
        })).collect::<Vec<_>>(),
        "open_sessions_over_8h_count": open_long.len(),
        "open_sessions_tracked": book.open.len(),
        "events_examined": stats.events_examined,
        "events_skipped": stats.events_skipped,
        "starts_seen": stats.starts,
        "ends_seen": stats.ends,
        "ends_without_known_start": stats.ends_without_start,
    });
    let count = counted.len() as f64;
    evaluated(
        Kri::AdminSessionOutliers24h,
        count,
        Some(count),
        None,
        details,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn ev(uuid: &str, ms: i64, event_type: &str, sid: &str) -> LogEvent {
        LogEvent::from_value(&json!({
            "uuid": uuid, "published": ms_to_iso(ms), "eventType": event_type,
            "actor": {"id": "00uadmin", "type": "User", "alternateId": "admin@example.com"},
            "authenticationContext": {"externalSessionId": sid},
        }))
        .unwrap_or_default()
    }

    fn win(since: i64, now: i64) -> Window {
        Window {
            start_exclusive: since,
            end_inclusive: now,
        }
    }

    #[test]
    fn single_run_table() {
        let now = 1000 * HOUR_MS;
        let h = HOUR_MS;
        // (name, events, expected count, expected open over 8 h)
        let cases: Vec<(&str, Vec<LogEvent>, f64, usize)> = vec![
            (
                "9 h session ended 1 h ago",
                vec![
                    ev("1", now - 10 * h, START_EVENT, "s"),
                    ev("2", now - h, END_EVENT, "s"),
                ],
                1.0,
                0,
            ),
            (
                "exactly 8 h is not more than 8 h",
                vec![
                    ev("1", now - 9 * h, START_EVENT, "s"),
                    ev("2", now - h, END_EVENT, "s"),
                ],
                0.0,
                0,
            ),
            (
                "8 h + 1 ms counts",
                vec![
                    ev("1", now - 9 * h - 1, START_EVENT, "s"),
                    ev("2", now - h, END_EVENT, "s"),
                ],
                1.0,
                0,
            ),
            (
                "ended 25 h ago: outside",
                vec![
                    ev("1", now - 40 * h, START_EVENT, "s"),
                    ev("2", now - 25 * h, END_EVENT, "s"),
                ],
                0.0,
                0,
            ),
            (
                "short session",
                vec![
                    ev("1", now - 3 * h, START_EVENT, "s"),
                    ev("2", now - h, END_EVENT, "s"),
                ],
                0.0,
                0,
            ),
            (
                "end without start",
                vec![ev("2", now - h, END_EVENT, "x")],
                0.0,
                0,
            ),
            (
                "different session ids",
                vec![
                    ev("1", now - 20 * h, START_EVENT, "a"),
                    ev("2", now - h, END_EVENT, "b"),
                ],
                0.0,
                1,
            ),
            (
                "open 9 h, no end",
                vec![ev("1", now - 9 * h, START_EVENT, "s")],
                0.0,
                1,
            ),
            (
                "open 2 h, no end",
                vec![ev("1", now - 2 * h, START_EVENT, "s")],
                0.0,
                0,
            ),
            (
                "repeat start keeps the earliest",
                vec![
                    ev("1", now - 12 * h, START_EVENT, "s"),
                    ev("3", now - 2 * h, START_EVENT, "s"),
                    ev("2", now - h, END_EVENT, "s"),
                ],
                1.0,
                0,
            ),
            (
                "same uuid twice counts once",
                vec![
                    ev("1", now - 12 * h, START_EVENT, "s"),
                    ev("2", now - h, END_EVENT, "s"),
                    ev("2", now - h, END_EVENT, "s"),
                ],
                1.0,
                0,
            ),
            (
                "out of order input",
                vec![
                    ev("2", now - h, END_EVENT, "s"),
                    ev("1", now - 12 * h, START_EVENT, "s"),
                ],
                1.0,
                0,
            ),
            (
                "two outliers",
                vec![
                    ev("1", now - 30 * h, START_EVENT, "a"),
                    ev("2", now - 20 * h, START_EVENT, "b"),
                    ev("3", now - 2 * h, END_EVENT, "a"),
                    ev("4", now, END_EVENT, "b"),
                ],
                2.0,
                0,
            ),
        ];
        for (name, events, want, open) in cases {
            let mut book = SessionBook::default();
            let stats = advance(&mut book, &events, win(now - 168 * h, now));
            let v = admin_session_outliers(&book, now, &stats);
            assert_eq!(v.value, Some(want), "{name}");
            let d: Value = serde_json::from_str(&v.details).unwrap_or(Value::Null);
            assert_eq!(
                d["open_sessions_over_8h"].as_array().map(Vec::len),
                Some(open),
                "{name}"
            );
        }
    }

    #[test]
    fn start_remembered_across_runs_and_outlier_counted_for_24h() {
        let h = HOUR_MS;
        let t0 = 500 * h;
        let log = vec![
            ev("1", t0, START_EVENT, "s"),
            ev("2", t0 + 10 * h, END_EVENT, "s"),
        ];
        let mut book = SessionBook::default();
        // Run 1 at t0 + 1 h sees only the start.
        let s1 = advance(&mut book, &log, win(t0 + h - 168 * h, t0 + h));
        assert_eq!(admin_session_outliers(&book, t0 + h, &s1).value, Some(0.0));
        assert!(book.open.contains_key("s"));
        // Book survives serialisation (it lives in state).
        let text = serde_json::to_string(&book).unwrap_or_default();
        let mut book: SessionBook = serde_json::from_str(&text).unwrap_or_default();
        // Run 2 at t0 + 12 h reads (t0 + 1 h, t0 + 12 h] and sees the end.
        let s2 = advance(&mut book, &log, win(t0 + h, t0 + 12 * h));
        assert_eq!(
            admin_session_outliers(&book, t0 + 12 * h, &s2).value,
            Some(1.0)
        );
        assert!(book.open.is_empty());
        // Run 3 six hours later still counts it (its end is in the last 24 h).
        let s3 = advance(&mut book, &log, win(t0 + 12 * h, t0 + 18 * h));
        assert_eq!(
            admin_session_outliers(&book, t0 + 18 * h, &s3).value,
            Some(1.0)
        );
        // Run 4 a day after the end no longer does, and forgets it.
        let s4 = advance(&mut book, &log, win(t0 + 18 * h, t0 + 35 * h));
        assert_eq!(
            admin_session_outliers(&book, t0 + 35 * h, &s4).value,
            Some(0.0)
        );
        assert!(book.recent_outliers.is_empty());
    }

    #[test]
    fn very_old_open_sessions_are_forgotten() {
        let mut book = SessionBook::default();
        book.open.insert(
            "old".into(),
            OpenSession {
                start_ms: 0,
                actor: None,
            },
        );
        let now = MAX_OPEN_AGE_MS + HOUR_MS;
        let stats = advance(&mut book, &[], win(now - HOUR_MS, now));
        assert_eq!(stats.forgotten_open, 1);
        assert!(book.open.is_empty());
    }
}
