//! `okta.password_spray`: one IP failing sign-in for at least [`MIN_USERS`] distinct users
//! within [`WINDOW_MS`]; and Okta's own `security.threat.detected`.

use super::timeline::{Mark, Timelines};
use super::{
    Alert, Entity, Severity, SystemLogEvent, ALLOWED_LATENESS_MS, MINUTE_MS, PASSWORD_SPRAY,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

pub const MIN_USERS: usize = 10;
pub const WINDOW_MS: i64 = 5 * MINUTE_MS;
pub const THREAT_DETECTED: &str = "security.threat.detected";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    by_ip: Timelines,
}

/// A failed primary sign-in: `user.session.start` failing, or (Identity Engine) a failed
/// password factor.
pub fn is_failed_sign_in(ev: &SystemLogEvent) -> bool {
    let start = ev.event_type == "user.session.start";
    let password =
        ev.event_type == "user.authentication.auth_via_mfa" && ev.factor_is("PASSWORD_AS_FACTOR");
    (start || password) && ev.outcome_is("FAILURE")
}

/// The login a sign-in was attempted for (lower case): unknown users have no id.
pub fn login(ev: &SystemLogEvent) -> Option<String> {
    ev.actor
        .alternate_id
        .as_deref()
        .or(ev.actor.id.as_deref())
        .map(str::to_lowercase)
}

impl State {
    pub fn observe(&mut self, ev: &SystemLogEvent, watermark: i64) -> Option<Alert> {
        if ev.event_type == THREAT_DETECTED {
            let ip = ev.client_ip.as_deref()?;
            return Some(Alert::new(
                PASSWORD_SPRAY,
                Severity::High,
                format!(
                    "Okta detected a threat from {ip}: {}",
                    ev.outcome_reason
                        .as_deref()
                        .unwrap_or("suspicious requests")
                ),
                Entity::ip(ip),
                &ev.uuid,
                &[(ev.published_ms, &ev.uuid)],
                json!({"source": "okta", "reason": ev.outcome_reason, "outcome": ev.outcome_result}),
            ));
        }
        if !is_failed_sign_in(ev)
            || ev.published_ms < watermark - WINDOW_MS * 2 - ALLOWED_LATENESS_MS
        {
            return None;
        }
        let (ip, user) = (ev.client_ip.as_deref()?, login(ev)?);
        let line = self.by_ip.entry(ip);
        if !line.insert(Mark {
            ms: ev.published_ms,
            uuid: ev.uuid.clone(),
            key: user,
        }) {
            return None;
        }
        let burst = line
            .burst_at(ev.published_ms, WINDOW_MS, MIN_USERS)?
            .to_vec();
        let (episode, _) = line.episode_for(&burst, WINDOW_MS)?;
        let marks = line.between(episode.start_ms, episode.last_ms);
        let mut users: Vec<&str> = marks.iter().map(|m| m.key.as_str()).collect();
        users.sort();
        users.dedup();
        let evidence: Vec<(i64, &str)> = marks.iter().map(|m| (m.ms, m.uuid.as_str())).collect();
        Some(Alert::new(
            PASSWORD_SPRAY,
            Severity::High,
            format!(
                "{ip} failed to sign in as {} different users within 5 minutes",
                users.len()
            ),
            Entity::ip(ip),
            &episode.anchor,
            &evidence,
            json!({"source": "kri", "users": users.len(), "sample_users": &users[..users.len().min(20)],
                "window_minutes": WINDOW_MS / MINUTE_MS}),
        ))
    }

    pub fn prune(&mut self, watermark: i64) {
        self.by_ip
            .prune(watermark - WINDOW_MS * 2 - ALLOWED_LATENESS_MS);
    }

    pub fn size(&self) -> usize {
        self.by_ip.size()
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::super::{detect, DetectionState, HOUR_MS};
    use super::*;

    fn run(polls: Vec<Vec<SystemLogEvent>>) -> Vec<Alert> {
        let mut state = DetectionState::default();
        polls
            .iter()
            .flat_map(|p| detect(&mut state, p, T0 + HOUR_MS))
            .collect()
    }

    fn spray(n: i64, step: i64, ip: &str) -> Vec<SystemLogEvent> {
        (0..n)
            .map(|i| {
                failed_sign_in(
                    &format!("s{i}"),
                    T0 + i * step,
                    &format!("user{i}@example.com"),
                    ip,
                )
            })
            .collect()
    }

    #[test]
    fn ten_users_from_one_ip_in_five_minutes() {
        let all = spray(14, 20_000, "203.0.113.9");
        let alerts = run(vec![all[..6].to_vec(), all[6..].to_vec()]);
        assert_eq!(alerts.len(), 1);
        assert_eq!(
            alerts[0].dedupe_key,
            "okta.password_spray:ip:203.0.113.9:s0"
        );
        assert_eq!(alerts[0].entity.kind, "ip");
    }

    #[test]
    fn okta_threat_detection() {
        let ev = action(
            "t",
            T0,
            THREAT_DETECTED,
            "00u1",
            serde_json::json!({
            "outcome": {"result": "DENY", "reason": "Password Spray"}}),
        );
        assert_eq!(ids(&run(vec![vec![ev]])), vec![PASSWORD_SPRAY]);
    }

    #[test]
    fn negatives() {
        // Nine users; ten users over more than five minutes; ten users from ten IPs;
        // one user failing ten times.
        assert!(run(vec![spray(9, 10_000, "203.0.113.9")]).is_empty());
        assert!(run(vec![spray(10, 40_000, "203.0.113.9")]).is_empty());
        let ips: Vec<SystemLogEvent> = (0..10)
            .map(|i| {
                failed_sign_in(
                    &format!("x{i}"),
                    T0 + i * 1000,
                    &format!("u{i}"),
                    &format!("198.51.100.{i}"),
                )
            })
            .collect();
        assert!(run(vec![ips]).is_empty());
        let one: Vec<SystemLogEvent> = (0..10)
            .map(|i| {
                failed_sign_in(
                    &format!("o{i}"),
                    T0 + i * 1000,
                    "same@example.com",
                    "203.0.113.9",
                )
            })
            .collect();
        assert!(run(vec![one]).is_empty());
    }
}
