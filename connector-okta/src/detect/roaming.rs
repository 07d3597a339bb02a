//! `okta.session_roaming`: one session seen from a second network (ASN) or a second
//! device hash, whichever came first; and Okta's own
//! `security.session.detect_client_roaming`. One alert per session.

use super::{
    Alert, Entity, Severity, SystemLogEvent, ALLOWED_LATENESS_MS, HOUR_MS, SESSION_ROAMING,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;

pub const OKTA_ROAMING: &str = "security.session.detect_client_roaming";
/// How long a session is remembered after its last event.
pub const MEMORY_MS: i64 = 12 * HOUR_MS;
/// Most distinct networks or devices kept per session.
const MAX_SEEN: usize = 8;
/// Most sessions remembered. Past it the least recently active are forgotten (down to
/// [`KEPT_AFTER_EVICTION`]), so a flood of one-off sessions cannot grow the state
/// without end; a forgotten session that moves later is not caught.
pub const MAX_SESSIONS: usize = 200_000;
/// Sessions kept when [`MAX_SESSIONS`] is passed: evicting a tenth at a time keeps the
/// sorting that eviction needs rare.
const KEPT_AFTER_EVICTION: usize = MAX_SESSIONS / 10 * 9;

/// The first event that showed a session on one network or device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Sighting {
    value: String,
    ms: i64,
    uuid: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Session {
    last_ms: i64,
    networks: Vec<Sighting>,
    devices: Vec<Sighting>,
    /// The session's one alert was found: its sightings are dropped (nothing more can be
    /// raised for it), and it is only remembered as long as it stays active. Absent in
    /// states saved before this field existed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    alerted: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    sessions: BTreeMap<String, Session>,
}

/// Records `value` as seen at `ev`; the earliest sighting of another value when `value`
/// is new to a session that had one.
fn sight(seen: &mut Vec<Sighting>, value: String, ev: &SystemLogEvent) -> Option<Sighting> {
    if let Some(s) = seen.iter_mut().find(|s| s.value == value) {
        if ev.published_ms < s.ms {
            (s.ms, s.uuid) = (ev.published_ms, ev.uuid.clone());
        }
        return None;
    }
    let other = seen.iter().min_by_key(|s| s.ms).cloned();
    if seen.len() < MAX_SEEN {
        seen.push(Sighting {
            value,
            ms: ev.published_ms,
            uuid: ev.uuid.clone(),
        });
    }
    other
}

impl State {
    pub fn observe(&mut self, ev: &SystemLogEvent, watermark: i64) -> Option<Alert> {
        let sid = ev.session();
        if ev.event_type == OKTA_ROAMING {
            let (entity, anchor) = match sid {
                Some(sid) => (Entity::session(sid), "roaming".to_string()),
                None => (Entity::user(&ev.actor)?, ev.uuid.clone()),
            };
            return Some(Alert::new(
                SESSION_ROAMING,
                Severity::High,
                format!(
                    "Okta detected a session of {} roaming to {}",
                    ev.actor.alternate_id.as_deref().unwrap_or("a user"),
                    ev.client_ip.as_deref().unwrap_or("another client")
                ),
                entity,
                &anchor,
                &[(ev.published_ms, &ev.uuid)],
                json!({"source": "okta", "client_ip": ev.client_ip, "asn": ev.asn,
                    "user": ev.actor.alternate_id, "outcome": ev.outcome_result}),
            ));
        }
        let sid = sid?;
        if ev.asn.is_none() && ev.device_hash.is_none() {
            return None;
        }
        if ev.published_ms < watermark - MEMORY_MS - ALLOWED_LATENESS_MS {
            return None;
        }
        let session = self.sessions.entry(sid.to_string()).or_default();
        session.last_ms = session.last_ms.max(ev.published_ms);
        if session.alerted {
            return None;
        }
        let network = ev
            .asn
            .and_then(|asn| sight(&mut session.networks, asn.to_string(), ev));
        let device = ev
            .device_hash
            .clone()
            .and_then(|hash| sight(&mut session.devices, hash, ev));
        let (what, before) = match (network, device) {
            (Some(n), _) => ("network (ASN", n),
            (None, Some(d)) => ("device (hash", d),
            (None, None) => return None,
        };
        let now_value = if what.starts_with("network") {
            ev.asn.map(|a| a.to_string()).unwrap_or_default()
        } else {
            ev.device_hash.clone().unwrap_or_default()
        };
        // The key is the session's alone and its severity fixed: whatever this session
        // shows later finds the same alert again, so its sightings are not needed.
        session.alerted = true;
        session.networks = Vec::new();
        session.devices = Vec::new();
        Some(Alert::new(
            SESSION_ROAMING,
            Severity::High,
            format!(
                "A session of {} moved to a new {what} {} after {})",
                ev.actor.alternate_id.as_deref().unwrap_or("a user"),
                now_value,
                before.value
            ),
            Entity::session(sid),
            "roaming",
            &[(before.ms, &before.uuid), (ev.published_ms, &ev.uuid)],
            json!({"source": "kri", "changed": if what.starts_with("network") { "asn" } else { "device_hash" },
                "before": before.value, "after": now_value, "client_ip": ev.client_ip,
                "user": ev.actor.alternate_id}),
        ))
    }

    pub fn prune(&mut self, watermark: i64) {
        self.sessions
            .retain(|_, s| s.last_ms >= watermark - MEMORY_MS - ALLOWED_LATENESS_MS);
        if self.sessions.len() > MAX_SESSIONS {
            // The least recently active first; ties by session id, so every replay
            // forgets the same sessions.
            let mut by_activity: Vec<(i64, &String)> =
                self.sessions.iter().map(|(k, s)| (s.last_ms, k)).collect();
            by_activity.sort_unstable();
            let evicted: Vec<String> = by_activity[..self.sessions.len() - KEPT_AFTER_EVICTION]
                .iter()
                .map(|(_, k)| (*k).clone())
                .collect();
            for k in evicted {
                self.sessions.remove(&k);
            }
        }
    }

    pub fn size(&self) -> usize {
        self.sessions
            .values()
            .map(|s| 1 + s.networks.len() + s.devices.len())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::super::{detect, DetectionState, MINUTE_MS};
    use super::*;

    fn run(polls: Vec<Vec<SystemLogEvent>>) -> Vec<Alert> {
        let mut state = DetectionState::default();
        polls
            .iter()
            .flat_map(|p| detect(&mut state, p, T0 + 24 * HOUR_MS))
            .collect()
    }

    #[test]
    fn a_session_on_a_new_network_or_device() {
        let alerts = run(vec![
            vec![session_event("a", T0, "102s", 7018, "dev1")],
            vec![
                session_event("b", T0 + MINUTE_MS, "102s", 7018, "dev1"),
                session_event("c", T0 + 2 * MINUTE_MS, "102s", 62240, "dev1"),
            ],
        ]);
        assert_eq!(alerts.len(), 1);
        assert_eq!(
            alerts[0].dedupe_key,
            "okta.session_roaming:session:102s:roaming"
        );
        assert_eq!(alerts[0].evidence, vec!["a".to_string(), "c".to_string()]);
        let device = run(vec![vec![
            session_event("a", T0, "102s", 7018, "dev1"),
            session_event("b", T0 + MINUTE_MS, "102s", 7018, "dev2"),
        ]]);
        assert_eq!(ids(&device), vec![SESSION_ROAMING]);
        // More moves in the same session: still one alert.
        let many = run(vec![(0..5)
            .map(|i| {
                session_event(
                    &format!("m{i}"),
                    T0 + i * MINUTE_MS,
                    "102s",
                    100 + i as u64,
                    "dev1",
                )
            })
            .collect()]);
        assert_eq!(many.len(), 1);
    }

    #[test]
    fn a_session_that_keeps_moving_for_more_than_a_day_raises_one_alert_and_forgets_its_sightings()
    {
        let mut state = DetectionState::default();
        let mut alerts = Vec::new();
        for hour in 0..30 {
            let t = T0 + hour * HOUR_MS;
            let poll = [session_event(
                &format!("h{hour}"),
                t,
                "102s",
                100 + hour as u64,
                "d",
            )];
            alerts.extend(detect(&mut state, &poll, t + MINUTE_MS));
        }
        assert_eq!(
            keys(&alerts),
            vec!["okta.session_roaming:session:102s:roaming"]
        );
        assert_eq!(alerts[0].evidence, vec!["h0".to_string(), "h1".to_string()]);
        // The session itself, without its sightings.
        assert_eq!(state.roaming.size(), 1);
    }

    #[test]
    fn past_the_most_sessions_the_least_recently_active_are_forgotten() {
        let mut state = DetectionState::default();
        let flood: Vec<SystemLogEvent> = (0..=MAX_SESSIONS as i64)
            .map(|i| session_event(&format!("f{i}"), T0 + i, &format!("s{i}"), 7018, "d"))
            .collect();
        let now = T0 + MINUTE_MS;
        assert!(detect(&mut state, &flood, now).is_empty());
        assert_eq!(state.roaming.sessions.len(), KEPT_AFTER_EVICTION);
        assert!(!state.roaming.sessions.contains_key("s0"));
        // The newest session is still known: its move is caught.
        let newest = format!("s{MAX_SESSIONS}");
        let moved = [session_event("m", now, &newest, 62240, "d")];
        assert_eq!(ids(&detect(&mut state, &moved, now)), vec![SESSION_ROAMING]);
    }

    #[test]
    fn okta_roaming_events() {
        let ev = action(
            "r",
            T0,
            OKTA_ROAMING,
            "00u1",
            serde_json::json!({
            "authenticationContext": {"externalSessionId": "102s"}, "outcome": {"result": "DENY"}}),
        );
        assert_eq!(
            keys(&run(vec![vec![ev]])),
            vec!["okta.session_roaming:session:102s:roaming".to_string()]
        );
    }

    #[test]
    fn steady_sessions_do_not_fire() {
        // Same network and device; different sessions on different networks; no session.
        assert!(run(vec![vec![
            session_event("a", T0, "102s", 7018, "d"),
            session_event("b", T0 + MINUTE_MS, "102s", 7018, "d")
        ]])
        .is_empty());
        assert!(run(vec![vec![
            session_event("a", T0, "102s", 7018, "d"),
            session_event("b", T0 + MINUTE_MS, "102t", 1, "e")
        ]])
        .is_empty());
        let mut a = session_event("a", T0, "x", 7018, "d");
        let mut b = session_event("b", T0 + MINUTE_MS, "x", 1, "e");
        a.external_session_id = None;
        b.external_session_id = None;
        assert!(run(vec![vec![a, b]]).is_empty());
    }
}
