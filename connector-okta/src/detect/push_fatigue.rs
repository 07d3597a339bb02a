//! `okta.mfa_push_fatigue`: at least [`MIN_DENIALS`] Okta Verify push denials for one user
//! within [`WINDOW_MS`] (Classic `user.mfa.okta_verify.deny_push`, or Identity Engine
//! `auth_via_mfa` with OKTA_VERIFY_PUSH and FAILURE, as the KRI reads them): high, and
//! critical once a successful sign-in or MFA verification of that user follows within
//! the window.

use super::timeline::{Mark, Timelines};
use super::{
    Alert, Entity, Severity, SystemLogEvent, ALLOWED_LATENESS_MS, MFA_PUSH_FATIGUE, MINUTE_MS,
};
use crate::kris::failed_mfa_push::{AUTH_VIA_MFA, CLASSIC_DENY_PUSH};
use serde::{Deserialize, Serialize};
use serde_json::json;

pub const MIN_DENIALS: usize = 5;
pub const WINDOW_MS: i64 = 10 * MINUTE_MS;

/// Successes that end a push bombing: the user got in.
const SUCCESSES: [&str; 4] = [
    "user.session.start",
    "user.authentication.auth_via_mfa",
    "user.authentication.verify",
    "user.authentication.sso",
];

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    denials: Timelines,
    successes: Timelines,
}

/// The `okta_failed_mfa_push_24h` KRI's rule.
fn denial(ev: &SystemLogEvent) -> bool {
    ev.event_type == CLASSIC_DENY_PUSH
        || (ev.event_type == AUTH_VIA_MFA
            && ev.factor_is("OKTA_VERIFY_PUSH")
            && ev.outcome_is("FAILURE"))
}

fn success(ev: &SystemLogEvent) -> bool {
    SUCCESSES.contains(&ev.event_type.as_str()) && ev.outcome_is("SUCCESS")
}

impl State {
    pub fn observe(&mut self, ev: &SystemLogEvent, watermark: i64) -> Option<Alert> {
        let is_denial = denial(ev);
        if !is_denial && !success(ev) {
            return None;
        }
        if ev.published_ms < watermark - WINDOW_MS * 2 - ALLOWED_LATENESS_MS {
            return None;
        }
        let entity = Entity::user(&ev.actor)?;
        let mark = Mark {
            ms: ev.published_ms,
            uuid: ev.uuid.clone(),
            key: ev.uuid.clone(),
        };
        let inserted = if is_denial {
            self.denials.entry(&entity.id).insert(mark)
        } else {
            self.successes.entry(&entity.id).insert(mark)
        };
        if !inserted {
            return None;
        }
        let denials = self.denials.entry(&entity.id);
        let at = if is_denial {
            ev.published_ms
        } else {
            // A success extends nothing; it can only make the open incident critical.
            denials.episode.as_ref()?.last_ms
        };
        let burst: Vec<Mark> = denials.burst_at(at, WINDOW_MS, MIN_DENIALS)?.to_vec();
        let (episode, _) = denials.episode_for(&burst, WINDOW_MS)?;
        let evidence_marks = denials.between(episode.start_ms, episode.last_ms).to_vec();
        let success = self.successes.get(&entity.id).and_then(|s| {
            s.between(episode.fired_ms, episode.last_ms + WINDOW_MS)
                .first()
                .cloned()
        });
        let mut evidence: Vec<(i64, &str)> = evidence_marks
            .iter()
            .map(|m| (m.ms, m.uuid.as_str()))
            .collect();
        if let Some(s) = &success {
            evidence.push((s.ms, &s.uuid));
        }
        let who = if entity.name.is_empty() {
            entity.id.clone()
        } else {
            entity.name.clone()
        };
        let (severity, title) = match &success {
            Some(_) => (
                Severity::Critical,
                format!(
                    "{who} signed in after {} denied Okta Verify pushes",
                    evidence_marks.len()
                ),
            ),
            None => (
                Severity::High,
                format!(
                    "{who} denied {} Okta Verify pushes within 10 minutes",
                    evidence_marks.len()
                ),
            ),
        };
        let details = json!({
            "denials": evidence_marks.len(),
            "window_minutes": WINDOW_MS / MINUTE_MS,
            "followed_by_success": success.as_ref().map(|s| &s.uuid),
        });
        Some(Alert::new(
            MFA_PUSH_FATIGUE,
            severity,
            title,
            entity,
            &episode.anchor,
            &evidence,
            details,
        ))
    }

    pub fn prune(&mut self, watermark: i64) {
        let horizon = watermark - WINDOW_MS * 2 - ALLOWED_LATENESS_MS;
        self.denials.prune(horizon);
        self.successes.prune(horizon);
    }

    pub fn size(&self) -> usize {
        self.denials.size() + self.successes.size()
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::super::{detect, DetectionState, HOUR_MS};
    use super::*;

    fn run(polls: &[Vec<SystemLogEvent>]) -> Vec<Alert> {
        let mut state = DetectionState::default();
        let mut out = Vec::new();
        for poll in polls {
            let now = poll.iter().map(|e| e.published_ms).max().unwrap_or(T0) + MINUTE_MS;
            out.extend(detect(&mut state, poll, now));
        }
        out
    }

    fn denials(user: &str, n: i64, from: i64, step: i64) -> Vec<SystemLogEvent> {
        (0..n)
            .map(|i| push_denial(&format!("{user}-d{i}"), from + i * step, user))
            .collect()
    }

    #[test]
    fn five_denials_in_ten_minutes_fire_high_once() {
        let alerts = run(&[denials("00u1", 8, T0, MINUTE_MS)]);
        assert_eq!(alerts.len(), 1);
        let a = &alerts[0];
        assert_eq!(
            (a.detection.as_str(), a.severity),
            (MFA_PUSH_FATIGUE, Severity::High)
        );
        assert_eq!(a.dedupe_key, "okta.mfa_push_fatigue:user:00u1:00u1-d0");
        assert_eq!(a.evidence.len(), 5);
        assert_eq!(a.entity.name, "00u1@example.com");
    }

    #[test]
    fn classic_denials_count_too() {
        let evs: Vec<SystemLogEvent> = (0..5)
            .map(|i| classic_push_denial(&format!("c{i}"), T0 + i * MINUTE_MS, "00u2"))
            .collect();
        assert_eq!(ids(&run(&[evs])), vec![MFA_PUSH_FATIGUE]);
    }

    #[test]
    fn a_pattern_across_two_polls_and_late_events_is_caught() {
        let all = denials("00u1", 5, T0, MINUTE_MS);
        let alerts = run(&[all[..2].to_vec(), all[3..].to_vec(), vec![all[2].clone()]]);
        assert_eq!(
            keys(&alerts),
            vec!["okta.mfa_push_fatigue:user:00u1:00u1-d0".to_string()]
        );
    }

    #[test]
    fn a_success_after_the_denials_makes_it_critical() {
        let mut evs = denials("00u1", 5, T0, MINUTE_MS);
        let polls = vec![
            evs.clone(),
            vec![sign_in(
                "ok",
                T0 + 8 * MINUTE_MS,
                "00u1",
                (40.7, -74.0),
                7018,
            )],
        ];
        let alerts = run(&polls);
        let sev: Vec<Severity> = alerts.iter().map(|a| a.severity).collect();
        assert_eq!(sev, vec![Severity::High, Severity::Critical]);
        assert_eq!(alerts[0].dedupe_key, alerts[1].dedupe_key);
        assert!(alerts[1].evidence.contains(&"ok".to_string()));
        // The success arriving first (late denials) gives critical straight away.
        evs.insert(
            0,
            sign_in("ok", T0 + 8 * MINUTE_MS, "00u1", (40.7, -74.0), 7018),
        );
        let alerts = run(&[evs]);
        assert_eq!(
            alerts.iter().map(|a| a.severity).collect::<Vec<_>>(),
            vec![Severity::Critical]
        );
    }

    #[test]
    fn negatives() {
        // Four denials; five spread over more than ten minutes; five of different users;
        // failed password factors; a success long after.
        assert!(run(&[denials("00u1", 4, T0, MINUTE_MS)]).is_empty());
        assert!(run(&[denials("00u1", 5, T0, 3 * MINUTE_MS)]).is_empty());
        let spread: Vec<SystemLogEvent> = (0..5)
            .map(|i| push_denial(&format!("x{i}"), T0 + i * MINUTE_MS, &format!("00u{i}")))
            .collect();
        assert!(run(&[spread]).is_empty());
        let passwords: Vec<SystemLogEvent> = (0..6)
            .map(|i| {
                action(&format!("pw{i}"), T0 + i * MINUTE_MS, "user.authentication.auth_via_mfa", "00u1",
                    json!({"outcome": {"result": "FAILURE"}, "debugContext": {"debugData": {"factor": "PASSWORD_AS_FACTOR"}}}))
            })
            .collect();
        assert!(run(&[passwords]).is_empty());
        let late_success = run(&[
            denials("00u1", 5, T0, MINUTE_MS),
            vec![sign_in("ok", T0 + 2 * HOUR_MS, "00u1", (1.0, 1.0), 1)],
        ]);
        assert_eq!(
            late_success.iter().map(|a| a.severity).collect::<Vec<_>>(),
            vec![Severity::High]
        );
    }

    #[test]
    fn a_second_bombing_an_hour_later_is_another_incident() {
        let evs = denials("00u1", 5, T0, MINUTE_MS);
        let later: Vec<SystemLogEvent> = (0..5)
            .map(|i| push_denial(&format!("later{i}"), T0 + HOUR_MS + i * MINUTE_MS, "00u1"))
            .collect();
        let alerts = run(&[evs, later]);
        assert_eq!(alerts.len(), 2);
        assert_ne!(alerts[0].dedupe_key, alerts[1].dedupe_key);
    }
}
