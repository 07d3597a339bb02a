//! Detections over the Okta System Log: pure functions from normalized events
//! ([`SystemLogEvent`]) and a serializable window state ([`DetectionState`]) to alerts
//! ([`Alert`]). The state lives in the connector's state between polls, so a pattern
//! that spans two polls is still caught; it is pruned to the detections' windows (plus
//! [`ALLOWED_LATENESS_MS`] for events Okta persists late), so it stays bounded.
//!
//! The same incident always gets the same dedupe key, whatever the order and the number
//! of times its events are fed; [`detect`] returns an alert for a key once, and again
//! only when its severity rises. The rules are in `docs/detections.md`.

pub mod brute_force;
pub mod event;
pub mod factor_reset;
pub mod geo;
pub mod push_fatigue;
pub mod roaming;
pub mod single;
pub mod spray;
pub mod timeline;
pub mod travel;

pub use event::{Party, SystemLogEvent};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// The fixed detection ids (platforms route on them).
pub const MFA_PUSH_FATIGUE: &str = "okta.mfa_push_fatigue";
pub const ADMIN_PRIVILEGE_GRANTED: &str = "okta.admin_privilege_granted";
pub const API_TOKEN_CREATED: &str = "okta.api_token_created";
pub const POLICY_WEAKENED: &str = "okta.policy_weakened";
pub const IMPOSSIBLE_TRAVEL: &str = "okta.impossible_travel";
pub const SESSION_ROAMING: &str = "okta.session_roaming";
pub const PASSWORD_SPRAY: &str = "okta.password_spray";
pub const BRUTE_FORCE: &str = "okta.brute_force";
pub const MFA_FACTOR_RESET: &str = "okta.mfa_factor_reset";
pub const SUSPICIOUS_ACTIVITY_REPORTED: &str = "okta.suspicious_activity_reported";
pub const SUPPORT_IMPERSONATION: &str = "okta.support_impersonation";

/// Every detection id, in the order of the table.
pub const DETECTIONS: [&str; 11] = [
    MFA_PUSH_FATIGUE,
    ADMIN_PRIVILEGE_GRANTED,
    API_TOKEN_CREATED,
    POLICY_WEAKENED,
    IMPOSSIBLE_TRAVEL,
    SESSION_ROAMING,
    PASSWORD_SPRAY,
    BRUTE_FORCE,
    MFA_FACTOR_RESET,
    SUSPICIOUS_ACTIVITY_REPORTED,
    SUPPORT_IMPERSONATION,
];

pub const MINUTE_MS: i64 = 60_000;
pub const HOUR_MS: i64 = 60 * MINUTE_MS;

/// How long after a newer event an older one may still arrive (Okta persists some
/// events late) and still count in a window.
pub const ALLOWED_LATENESS_MS: i64 = 30 * MINUTE_MS;

/// How far past the newest event's time `now` may not be: a `published` time beyond it
/// is taken as `now` (a wrong clock upstream must not empty every window).
pub const FUTURE_SKEW_MS: i64 = 5 * MINUTE_MS;

/// An event older than this behind the newest one seen is not evaluated at all: it is a
/// replay (or far later than Okta persists late events).
pub const REPLAY_HORIZON_MS: i64 = 24 * HOUR_MS;

/// How long a raised dedupe key is remembered after the newest evidence of its incident:
/// as long as the longest-lived window ([`factor_reset::MEMORY_MS`]) keeps an event, so
/// no window can find the incident again once its key is forgotten. Only a replay of an
/// event older than this could; its alert then reaches the host again under the same
/// key, and the host merges it into the alert it already has.
pub const RAISED_MEMORY_MS: i64 = factor_reset::MEMORY_MS;

/// How bad an alert is (the host's `Severity`, in the same words).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

/// What an alert is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entity {
    /// `user`, `ip` or `session`.
    pub kind: String,
    /// The user's id (else login), the address, or the session id.
    pub id: String,
    /// A human name: the login for a user; else empty.
    pub name: String,
}

impl Entity {
    /// A user, by id when known (else by login).
    pub fn user(party: &Party) -> Option<Entity> {
        let id = party.id.clone().or_else(|| party.alternate_id.clone())?;
        Some(Entity {
            kind: "user".into(),
            id,
            name: party.alternate_id.clone().unwrap_or_default(),
        })
    }

    pub fn ip(address: &str) -> Entity {
        Entity {
            kind: "ip".into(),
            id: address.to_string(),
            name: String::new(),
        }
    }

    pub fn session(id: &str) -> Entity {
        Entity {
            kind: "session".into(),
            id: id.to_string(),
            name: String::new(),
        }
    }
}

/// What a detection raised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// One of [`DETECTIONS`].
    pub detection: String,
    pub severity: Severity,
    pub title: String,
    /// The same incident has the same key across polls, replays and restarts.
    pub dedupe_key: String,
    pub entity: Entity,
    /// `uuid`s of the evidence events, oldest first.
    pub evidence: Vec<String>,
    /// `published` of the oldest and the newest evidence, ms since the Unix epoch.
    pub first_seen_ms: i64,
    pub seen_ms: i64,
    /// A JSON object with what the analyst needs to judge it.
    pub details: Value,
}

impl Alert {
    /// An alert on `evidence` (each `(published ms, uuid)`), keyed
    /// `<detection>:<entity kind>:<entity id>:<anchor>`.
    pub fn new(
        detection: &str,
        severity: Severity,
        title: String,
        entity: Entity,
        anchor: &str,
        evidence: &[(i64, &str)],
        details: Value,
    ) -> Alert {
        let mut ordered: Vec<(i64, &str)> = evidence.to_vec();
        ordered.sort();
        ordered.dedup();
        Alert {
            detection: detection.to_string(),
            severity,
            title,
            dedupe_key: format!("{detection}:{}:{}:{anchor}", entity.kind, entity.id),
            entity,
            first_seen_ms: ordered.first().map_or(0, |e| e.0),
            seen_ms: ordered.last().map_or(0, |e| e.0),
            evidence: ordered.into_iter().map(|(_, u)| u.to_string()).collect(),
            details,
        }
    }
}

/// A dedupe key already raised: its severity and when the newest evidence of its
/// incident happened (found again since, or not).
///
/// Saved as `[severity, seen_ms]`, the compact form a day of hundreds of thousands of
/// keys needs; states saved before read the object `{severity, seen_ms}` as well.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(into = "(Severity, i64)", from = "SavedRaised")]
struct Raised {
    severity: Severity,
    seen_ms: i64,
}

impl From<Raised> for (Severity, i64) {
    fn from(r: Raised) -> (Severity, i64) {
        (r.severity, r.seen_ms)
    }
}

/// The saved forms of [`Raised`]: the current one, and the object of older states.
#[derive(Deserialize)]
#[serde(untagged)]
enum SavedRaised {
    Compact(Severity, i64),
    Named { severity: Severity, seen_ms: i64 },
}

impl From<SavedRaised> for Raised {
    fn from(saved: SavedRaised) -> Raised {
        let (severity, seen_ms) = match saved {
            SavedRaised::Compact(severity, seen_ms) => (severity, seen_ms),
            SavedRaised::Named { severity, seen_ms } => (severity, seen_ms),
        };
        Raised { severity, seen_ms }
    }
}

/// Everything the detections remember between polls.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DetectionState {
    /// The newest `published` seen (capped at `now` + [`FUTURE_SKEW_MS`]).
    pub watermark_ms: i64,
    #[serde(default)]
    push_fatigue: push_fatigue::State,
    #[serde(default)]
    travel: travel::State,
    #[serde(default)]
    roaming: roaming::State,
    #[serde(default)]
    spray: spray::State,
    #[serde(default)]
    brute_force: brute_force::State,
    #[serde(default)]
    factor_reset: factor_reset::State,
    #[serde(default)]
    raised: BTreeMap<String, Raised>,
}

impl DetectionState {
    /// How many entries the windows hold (to check that they stay bounded).
    pub fn size(&self) -> usize {
        self.push_fatigue.size()
            + self.travel.size()
            + self.roaming.size()
            + self.spray.size()
            + self.brute_force.size()
            + self.factor_reset.size()
            + self.raised.len()
    }

    /// The saved size (JSON bytes, as in job state) of each part of the state, by name:
    /// where a large state's bytes go.
    pub fn saved_bytes_by_part(&self) -> Vec<(&'static str, usize)> {
        fn bytes<T: Serialize>(part: &T) -> usize {
            serde_json::to_vec(part).map_or(0, |v| v.len())
        }
        vec![
            ("push_fatigue", bytes(&self.push_fatigue)),
            ("travel", bytes(&self.travel)),
            ("roaming", bytes(&self.roaming)),
            ("spray", bytes(&self.spray)),
            ("brute_force", bytes(&self.brute_force)),
            ("factor_reset", bytes(&self.factor_reset)),
            ("raised", bytes(&self.raised)),
        ]
    }
}

/// Feeds `events` (one poll's, in the order received) through every detection and
/// returns the alerts to raise or update: a dedupe key not raised before, or raised
/// with a lower severity. `now_ms` is the poll's clock; it only bounds how far a
/// `published` time can move the windows forward.
pub fn detect(state: &mut DetectionState, events: &[SystemLogEvent], now_ms: i64) -> Vec<Alert> {
    let mut found = Vec::new();
    for ev in events {
        let published = ev.published_ms.min(now_ms.saturating_add(FUTURE_SKEW_MS));
        state.watermark_ms = state.watermark_ms.max(published);
        let horizon = state.watermark_ms;
        if ev.published_ms < horizon - REPLAY_HORIZON_MS {
            continue;
        }
        found.extend(single::detect(ev));
        found.extend(state.push_fatigue.observe(ev, horizon));
        found.extend(state.travel.observe(ev, horizon));
        found.extend(state.roaming.observe(ev, horizon));
        found.extend(state.spray.observe(ev, horizon));
        found.extend(state.brute_force.observe(ev, horizon));
        state.factor_reset.observe(ev, horizon);
    }
    found.extend(state.factor_reset.due(state.watermark_ms));
    let watermark = state.watermark_ms;
    state.push_fatigue.prune(watermark);
    state.travel.prune(watermark);
    state.roaming.prune(watermark);
    state.spray.prune(watermark);
    state.brute_force.prune(watermark);
    state.factor_reset.prune(watermark);

    let mut out: Vec<Alert> = Vec::new();
    for alert in found {
        let seen = state.raised.get_mut(&alert.dedupe_key);
        // The incident found again keeps its key remembered as long as it goes on.
        let seen_ms = seen
            .as_ref()
            .map_or(alert.seen_ms, |r| r.seen_ms.max(alert.seen_ms));
        if let Some(r) = seen {
            r.seen_ms = seen_ms;
            if r.severity >= alert.severity {
                continue;
            }
        }
        state.raised.insert(
            alert.dedupe_key.clone(),
            Raised {
                severity: alert.severity,
                seen_ms,
            },
        );
        // Two findings of one key in the same poll: the later (higher) one replaces it.
        out.retain(|a| a.dedupe_key != alert.dedupe_key);
        out.push(alert);
    }
    state
        .raised
        .retain(|_, r| r.seen_ms >= watermark - RAISED_MEMORY_MS);
    out
}

#[cfg(test)]
pub(crate) mod testing;

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn a_replayed_poll_raises_nothing_new_and_a_restored_state_the_same_alerts() {
        let events: Vec<SystemLogEvent> = (0..6)
            .map(|i| push_denial(&format!("d{i}"), T0 + i * MINUTE_MS, "00u1"))
            .chain([token_created("t1", T0, "ANYWHERE")])
            .collect();
        let mut state = DetectionState::default();
        let before = state.clone();
        let first = detect(&mut state, &events, T0 + HOUR_MS);
        assert_eq!(ids(&first), vec![API_TOKEN_CREATED, MFA_PUSH_FATIGUE]);
        // The same poll again on the committed state: nothing new.
        assert!(detect(&mut state, &events, T0 + HOUR_MS).is_empty());
        // A restart from the state before the poll (the poll was killed): the same keys.
        let mut restored: DetectionState =
            serde_json::from_value(serde_json::to_value(&before).unwrap_or_default())
                .unwrap_or_default();
        let again = detect(&mut restored, &events, T0 + HOUR_MS);
        assert_eq!(keys(&again), keys(&first));
        // And the state survives serialization with everything it holds.
        let text = serde_json::to_string(&state).unwrap_or_default();
        let back: DetectionState = serde_json::from_str(&text).unwrap_or_default();
        assert_eq!(back, state);
    }

    #[test]
    fn raised_keys_are_saved_compactly_and_read_in_the_older_form_too() {
        let token = [token_created("t1", T0, "ANYWHERE")];
        let first = detect(&mut DetectionState::default(), &token, T0);
        assert_eq!(ids(&first), vec![API_TOKEN_CREATED]);
        let key = keys(&first).concat();
        let mut raised = serde_json::Map::new();
        raised.insert(
            key.clone(),
            serde_json::json!({"severity": "high", "seen_ms": T0}),
        );
        let older = serde_json::json!({"watermark_ms": T0, "raised": raised});
        let mut state: DetectionState = serde_json::from_value(older).unwrap_or_default();
        assert_eq!(state.raised.len(), 1);
        let saved = serde_json::to_value(&state).unwrap_or_default();
        assert_eq!(saved["raised"][&key], serde_json::json!(["high", T0]));
        let back: DetectionState = serde_json::from_value(saved).unwrap_or_default();
        assert_eq!(back, state);
        // The key read from the older form still stops the same alert.
        let again = detect(&mut state, &token, T0);
        assert!(again.is_empty(), "{again:?}");
    }

    #[test]
    fn events_a_day_older_than_the_newest_are_not_evaluated() {
        let mut state = DetectionState::default();
        detect(
            &mut state,
            &[token_created("new", T0 + 30 * HOUR_MS, "ZONE")],
            T0 + 30 * HOUR_MS,
        );
        let old = detect(
            &mut state,
            &[token_created("old", T0, "ANYWHERE")],
            T0 + 30 * HOUR_MS,
        );
        assert!(old.is_empty());
        let recent = detect(
            &mut state,
            &[token_created("recent", T0 + 7 * HOUR_MS, "ANYWHERE")],
            T0 + 30 * HOUR_MS,
        );
        assert_eq!(ids(&recent), vec![API_TOKEN_CREATED]);
    }

    #[test]
    fn a_future_published_time_does_not_empty_the_windows() {
        let mut state = DetectionState::default();
        let mut events: Vec<SystemLogEvent> = (0..3)
            .map(|i| push_denial(&format!("d{i}"), T0 + i * MINUTE_MS, "00u1"))
            .collect();
        events.push(token_created("far", T0 + 1000 * HOUR_MS, "ZONE"));
        detect(&mut state, &events, T0 + 5 * MINUTE_MS);
        assert_eq!(state.watermark_ms, T0 + 10 * MINUTE_MS);
        let more: Vec<SystemLogEvent> = (3..5)
            .map(|i| push_denial(&format!("d{i}"), T0 + i * MINUTE_MS, "00u1"))
            .collect();
        let alerts = detect(&mut state, &more, T0 + 6 * MINUTE_MS);
        assert_eq!(ids(&alerts), vec![MFA_PUSH_FATIGUE]);
    }

    #[test]
    fn state_stays_bounded_over_a_long_stream() {
        let mut state = DetectionState::default();
        let mut sizes = Vec::new();
        for hour in 0..48 {
            let events: Vec<SystemLogEvent> = (0..600)
                .map(|i| {
                    let t = T0 + hour * HOUR_MS + i * 6_000;
                    let n = hour * 600 + i;
                    match i % 4 {
                        0 => failed_sign_in(
                            &format!("f{n}"),
                            t,
                            &format!("u{}", n % 50),
                            "203.0.113.9",
                        ),
                        1 => sign_in(
                            &format!("s{n}"),
                            t,
                            &format!("00u{}", n % 97),
                            (48.85, 2.35),
                            3215,
                        ),
                        2 => push_denial(&format!("p{n}"), t, &format!("00u{}", n % 89)),
                        _ => session_event(&format!("r{n}"), t, &format!("sid{n}"), 7018, "dev"),
                    }
                })
                .collect();
            detect(&mut state, &events, T0 + (hour + 1) * HOUR_MS);
            sizes.push(state.size());
        }
        let late = sizes[24..].iter().max().copied().unwrap_or(0);
        let early = sizes[12];
        assert!(late <= early * 2, "state grows: {sizes:?}");
    }

    /// A day of events with planted attacks among ordinary sign-ins.
    fn planted_stream() -> Vec<SystemLogEvent> {
        let mut evs = Vec::new();
        for i in 0..400 {
            let t = T0 + i * 90_000;
            evs.push(sign_in(
                &format!("bg{i}"),
                t,
                &format!("00ubg{}", i % 40),
                (47.6, -122.3),
                7922,
            ));
            evs.push(session_event(
                &format!("sso{i}"),
                t + 1_000,
                &format!("sess{}", i % 40),
                7922,
                "dev",
            ));
        }
        // Push bombing then success; a spray; a brute force; a roaming session; travel;
        // a token; a factor reset nobody answers.
        for i in 0..6 {
            evs.push(push_denial(
                &format!("pd{i}"),
                T0 + HOUR_MS + i * 40_000,
                "00uvictim",
            ));
        }
        evs.push(sign_in(
            "pd-ok",
            T0 + HOUR_MS + 5 * MINUTE_MS,
            "00uvictim",
            (47.6, -122.3),
            7922,
        ));
        for i in 0..12 {
            evs.push(failed_sign_in(
                &format!("sp{i}"),
                T0 + 2 * HOUR_MS + i * 10_000,
                &format!("u{i}@x"),
                "45.1.1.1",
            ));
        }
        for i in 0..22 {
            evs.push(failed_sign_in(
                &format!("bf{i}"),
                T0 + 3 * HOUR_MS + i * 60_000,
                "target@x",
                &format!("9.9.9.{}", i % 4),
            ));
        }
        evs.push(session_event(
            "roam",
            T0 + 4 * HOUR_MS,
            "sess3",
            29465,
            "dev",
        ));
        evs.push(sign_in(
            "tr1",
            T0 + 5 * HOUR_MS,
            "00utravel",
            (47.6, -122.3),
            7922,
        ));
        evs.push(sign_in(
            "tr2",
            T0 + 5 * HOUR_MS + 30 * MINUTE_MS,
            "00utravel",
            (52.5, 13.4),
            3320,
        ));
        evs.push(token_created("tok", T0 + 6 * HOUR_MS, "ANYWHERE"));
        evs.push(action(
            "reset",
            T0 + 7 * HOUR_MS,
            "user.mfa.factor.reset_all",
            "00uadmin",
            serde_json::json!({"target": [user("00ubg7")]}),
        ));
        evs.push(action(
            "tick",
            T0 + 20 * HOUR_MS,
            "user.session.start",
            "00utick",
            serde_json::json!({}),
        ));
        evs.sort_by_key(|e| e.published_ms);
        evs
    }

    /// The incidents raised: (detection, entity, final severity), by dedupe key.
    fn incidents(polls: &[Vec<SystemLogEvent>]) -> Vec<(String, String, Severity)> {
        let mut state = DetectionState::default();
        let mut by_key: BTreeMap<String, (String, String, Severity)> = BTreeMap::new();
        for poll in polls {
            let now = poll.iter().map(|e| e.published_ms).max().unwrap_or(T0) + MINUTE_MS;
            for a in detect(&mut state, poll, now) {
                by_key.insert(a.dedupe_key.clone(), (a.detection, a.entity.id, a.severity));
            }
        }
        let mut v: Vec<_> = by_key.into_values().collect();
        v.sort();
        v
    }

    #[test]
    fn late_events_across_polls_raise_the_same_incidents_once() {
        let stream = planted_stream();
        // Polls of about three minutes of this stream.
        let in_order: Vec<Vec<SystemLogEvent>> = stream.chunks(4).map(<[_]>::to_vec).collect();
        let want = incidents(&in_order);
        let detections: BTreeSet<&str> = want.iter().map(|(d, _, _)| d.as_str()).collect();
        assert_eq!(detections.len(), 7, "{want:?}");
        assert!(want.contains(&(
            MFA_PUSH_FATIGUE.into(),
            "00uvictim".into(),
            Severity::Critical
        )));
        // About 7% of the events persisted late: they arrive one to three polls (up to
        // about ten minutes) later.
        for seed in 1..=20u64 {
            let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
            let mut polls: Vec<Vec<SystemLogEvent>> = vec![Vec::new(); in_order.len() + 3];
            for (i, poll) in in_order.iter().enumerate() {
                for ev in poll {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let late = x % 100 < 7;
                    let at = if late {
                        i + 1 + (x / 100 % 3) as usize
                    } else {
                        i
                    };
                    polls[at].push(ev.clone());
                }
            }
            assert_eq!(incidents(&polls), want, "seed {seed}");
        }
    }
}
