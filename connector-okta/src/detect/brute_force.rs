//! `okta.brute_force`: one user with at least [`MIN_FAILURES`] failed sign-ins within
//! [`WINDOW_MS`]; or a burst of account lockouts: at least [`MIN_LOCKOUTS`] distinct users
//! locked out from one IP within [`LOCKOUT_WINDOW_MS`].

use super::spray::{is_failed_sign_in, login};
use super::timeline::{Mark, Timelines};
use super::{
    Alert, Entity, Party, Severity, SystemLogEvent, ALLOWED_LATENESS_MS, BRUTE_FORCE, HOUR_MS,
    MINUTE_MS,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

pub const MIN_FAILURES: usize = 20;
pub const WINDOW_MS: i64 = HOUR_MS;
pub const LOCKOUT: &str = "user.account.lock";
pub const MIN_LOCKOUTS: usize = 3;
pub const LOCKOUT_WINDOW_MS: i64 = 10 * MINUTE_MS;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    failures_by_user: Timelines,
    lockouts_by_ip: Timelines,
}

impl State {
    pub fn observe(&mut self, ev: &SystemLogEvent, watermark: i64) -> Option<Alert> {
        if ev.event_type == LOCKOUT {
            return self.lockout(ev, watermark);
        }
        if !is_failed_sign_in(ev)
            || ev.published_ms < watermark - WINDOW_MS * 2 - ALLOWED_LATENESS_MS
        {
            return None;
        }
        let user = login(ev)?;
        let line = self.failures_by_user.entry(&user);
        let key = ev.uuid.clone();
        if !line.insert(Mark {
            ms: ev.published_ms,
            uuid: ev.uuid.clone(),
            key,
        }) {
            return None;
        }
        let burst = line
            .burst_at(ev.published_ms, WINDOW_MS, MIN_FAILURES)?
            .to_vec();
        let (episode, _) = line.episode_for(&burst, WINDOW_MS)?;
        // Keyed by the login: unknown users have no id, and the login is what was tried.
        let entity = Entity::user(&Party {
            id: Some(user.clone()),
            alternate_id: Some(user.clone()),
            party_type: None,
        })?;
        let evidence: Vec<(i64, &str)> = burst.iter().map(|m| (m.ms, m.uuid.as_str())).collect();
        Some(Alert::new(
            BRUTE_FORCE,
            Severity::Medium,
            format!(
                "{user} failed to sign in {} times within an hour",
                burst.len()
            ),
            entity,
            &episode.anchor,
            &evidence,
            json!({"source": "failed_sign_ins", "failures": burst.len(), "window_minutes": WINDOW_MS / MINUTE_MS}),
        ))
    }

    fn lockout(&mut self, ev: &SystemLogEvent, watermark: i64) -> Option<Alert> {
        if ev.published_ms < watermark - LOCKOUT_WINDOW_MS * 2 - ALLOWED_LATENESS_MS {
            return None;
        }
        let ip = ev.client_ip.as_deref()?;
        let locked = ev
            .target_user()
            .and_then(|t| t.alternate_id.clone().or(t.id.clone()))
            .or_else(|| login(ev))?
            .to_lowercase();
        let line = self.lockouts_by_ip.entry(ip);
        if !line.insert(Mark {
            ms: ev.published_ms,
            uuid: ev.uuid.clone(),
            key: locked,
        }) {
            return None;
        }
        let burst = line
            .burst_at(ev.published_ms, LOCKOUT_WINDOW_MS, MIN_LOCKOUTS)?
            .to_vec();
        let (episode, _) = line.episode_for(&burst, LOCKOUT_WINDOW_MS)?;
        let evidence: Vec<(i64, &str)> = burst.iter().map(|m| (m.ms, m.uuid.as_str())).collect();
        let mut users: Vec<&str> = burst.iter().map(|m| m.key.as_str()).collect();
        users.sort();
        users.dedup();
        Some(Alert::new(
            BRUTE_FORCE,
            Severity::Medium,
            format!(
                "{} accounts were locked out by sign-ins from {ip} within 10 minutes",
                users.len()
            ),
            Entity::ip(ip),
            &episode.anchor,
            &evidence,
            json!({"source": "lockouts", "users": users, "window_minutes": LOCKOUT_WINDOW_MS / MINUTE_MS}),
        ))
    }

    pub fn prune(&mut self, watermark: i64) {
        self.failures_by_user
            .prune(watermark - WINDOW_MS * 2 - ALLOWED_LATENESS_MS);
        self.lockouts_by_ip
            .prune(watermark - LOCKOUT_WINDOW_MS * 2 - ALLOWED_LATENESS_MS);
    }

    pub fn size(&self) -> usize {
        self.failures_by_user.size() + self.lockouts_by_ip.size()
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::super::{detect, DetectionState};
    use super::*;

    fn run(events: Vec<SystemLogEvent>) -> Vec<Alert> {
        let mut state = DetectionState::default();
        detect(&mut state, &events, T0 + 3 * HOUR_MS)
    }

    fn failures(n: i64, step: i64) -> Vec<SystemLogEvent> {
        (0..n)
            .map(|i| {
                failed_sign_in(
                    &format!("f{i}"),
                    T0 + i * step,
                    "Bob@Example.com",
                    &format!("198.51.100.{}", i % 7),
                )
            })
            .collect()
    }

    fn lock(uuid: &str, ms: i64, user_id: &str, ip: &str) -> SystemLogEvent {
        let mut ev = action(
            uuid,
            ms,
            LOCKOUT,
            user_id,
            serde_json::json!({
            "outcome": {"result": "FAILURE", "reason": "LOCKED_OUT"}}),
        );
        ev.client_ip = Some(ip.into());
        ev
    }

    #[test]
    fn twenty_failures_of_one_user_in_an_hour() {
        let alerts = run(failures(25, 2 * MINUTE_MS));
        assert_eq!(alerts.len(), 1);
        assert_eq!(
            (alerts[0].severity, alerts[0].evidence.len()),
            (Severity::Medium, 20)
        );
        assert_eq!(
            alerts[0].dedupe_key,
            "okta.brute_force:user:bob@example.com:f0"
        );
    }

    #[test]
    fn a_burst_of_lockouts_from_one_ip() {
        let evs = vec![
            lock("l1", T0, "00u1", "1.2.3.4"),
            lock("l2", T0 + MINUTE_MS, "00u2", "1.2.3.4"),
            lock("l3", T0 + 2 * MINUTE_MS, "00u3", "1.2.3.4"),
        ];
        assert_eq!(
            keys(&run(evs)),
            vec!["okta.brute_force:ip:1.2.3.4:l1".to_string()]
        );
    }

    #[test]
    fn negatives() {
        // 19 failures; 20 spread over more than an hour; two lockouts; three lockouts of
        // one user; lockouts from different IPs.
        assert!(run(failures(19, MINUTE_MS)).is_empty());
        assert!(run(failures(20, 4 * MINUTE_MS)).is_empty());
        assert!(run(vec![
            lock("l1", T0, "00u1", "1.2.3.4"),
            lock("l2", T0, "00u2", "1.2.3.4")
        ])
        .is_empty());
        assert!(run((0..3)
            .map(|i| lock(&format!("l{i}"), T0 + i, "00u1", "1.2.3.4"))
            .collect())
        .is_empty());
        assert!(run((0..3)
            .map(|i| lock(
                &format!("l{i}"),
                T0 + i,
                &format!("00u{i}"),
                &format!("1.2.3.{i}")
            ))
            .collect())
        .is_empty());
    }
}
