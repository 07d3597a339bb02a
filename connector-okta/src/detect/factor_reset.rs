//! `okta.mfa_factor_reset`: a factor reset or deactivated (`user.mfa.factor.deactivate`,
//! `user.mfa.factor.reset_all`), except a user removing their own security question, with
//! no re-enrolment (`user.mfa.factor.activate`) of that user within [`REENROL_MS`]. It is
//! decided once the event time has passed the reset by [`REENROL_MS`] plus the allowed
//! lateness, so a late re-enrolment still counts.

use super::timeline::{Mark, Timelines};
use super::{
    Alert, Entity, Severity, SystemLogEvent, ALLOWED_LATENESS_MS, HOUR_MS, MFA_FACTOR_RESET,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;

pub const RESETS: [&str; 2] = ["user.mfa.factor.deactivate", "user.mfa.factor.reset_all"];
pub const ACTIVATE: &str = "user.mfa.factor.activate";
pub const REENROL_MS: i64 = 12 * HOUR_MS;

/// A reset waiting for its 12 hours to pass.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Pending {
    ms: i64,
    user: Entity,
    event_type: String,
    actor: Option<String>,
    reason: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// By the reset's uuid.
    pending: BTreeMap<String, Pending>,
    activations: Timelines,
}

/// How long events are kept: a reset until it is decided, an activation as long as a
/// reset it answers may still be pending.
pub const MEMORY_MS: i64 = REENROL_MS + 2 * ALLOWED_LATENESS_MS;

fn own_security_question(ev: &SystemLogEvent) -> bool {
    let target = ev.target_user();
    let own = match (target, &ev.actor.id) {
        (Some(t), Some(actor)) => t.id.as_deref() == Some(actor),
        (None, _) => true,
        _ => false,
    };
    let question = [&ev.outcome_reason, &ev.factor].iter().any(|s| {
        s.as_deref()
            .is_some_and(|s| s.to_lowercase().contains("question"))
    });
    own && question
}

impl State {
    /// Records resets and re-enrolments; alerts come from [`State::due`].
    pub fn observe(&mut self, ev: &SystemLogEvent, watermark: i64) {
        if ev.published_ms < watermark - MEMORY_MS || !ev.outcome_is("SUCCESS") {
            return;
        }
        let Some(user) = Entity::user(ev.target_user().unwrap_or(&ev.actor)) else {
            return;
        };
        if ev.event_type == ACTIVATE {
            self.activations.entry(&user.id).insert(Mark {
                ms: ev.published_ms,
                uuid: ev.uuid.clone(),
                key: ev.uuid.clone(),
            });
        } else if RESETS.contains(&ev.event_type.as_str()) && !own_security_question(ev) {
            self.pending.entry(ev.uuid.clone()).or_insert(Pending {
                ms: ev.published_ms,
                user,
                event_type: ev.event_type.clone(),
                actor: ev.actor.alternate_id.clone().or(ev.actor.id.clone()),
                reason: ev.outcome_reason.clone(),
            });
        }
    }

    /// The resets decided by `watermark`: alerts for those not followed by a re-enrolment.
    pub fn due(&mut self, watermark: i64) -> Vec<Alert> {
        let decided: Vec<String> = self
            .pending
            .iter()
            .filter(|(_, p)| p.ms + REENROL_MS + ALLOWED_LATENESS_MS <= watermark)
            .map(|(uuid, _)| uuid.clone())
            .collect();
        let mut out = Vec::new();
        for uuid in decided {
            let Some(p) = self.pending.remove(&uuid) else {
                continue;
            };
            let reenrolled = self
                .activations
                .get(&p.user.id)
                .is_some_and(|t| !t.between(p.ms, p.ms + REENROL_MS).is_empty());
            if reenrolled {
                continue;
            }
            let who = if p.user.name.is_empty() {
                p.user.id.clone()
            } else {
                p.user.name.clone()
            };
            out.push(Alert::new(
                MFA_FACTOR_RESET,
                Severity::Medium,
                format!("{who}'s MFA was reset and not set up again within 12 hours"),
                p.user.clone(),
                &uuid,
                &[(p.ms, &uuid)],
                json!({"event_type": p.event_type, "by": p.actor, "reason": p.reason,
                    "reenrolment_window_hours": REENROL_MS / HOUR_MS}),
            ));
        }
        out
    }

    pub fn prune(&mut self, watermark: i64) {
        self.activations.prune(watermark - MEMORY_MS);
    }

    pub fn size(&self) -> usize {
        self.pending.len() + self.activations.size()
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::super::{detect, DetectionState, MINUTE_MS};
    use super::*;
    use serde_json::json;

    fn reset(uuid: &str, ms: i64, actor: &str, target: &str, reason: &str) -> SystemLogEvent {
        action(
            uuid,
            ms,
            "user.mfa.factor.deactivate",
            actor,
            json!({
            "target": [user(target)], "outcome": {"result": "SUCCESS", "reason": reason}}),
        )
    }

    fn activate(uuid: &str, ms: i64, who: &str) -> SystemLogEvent {
        action(uuid, ms, ACTIVATE, who, json!({"target": [user(who)]}))
    }

    /// Feeds each poll with `now` just after its newest event, then a quiet day's
    /// heartbeat so that pending resets are decided.
    fn run(polls: Vec<Vec<SystemLogEvent>>) -> Vec<Alert> {
        let mut state = DetectionState::default();
        let mut out = Vec::new();
        for poll in polls {
            out.extend(detect(&mut state, &poll, T0 + 48 * HOUR_MS));
        }
        let tick = action(
            "tick",
            T0 + 13 * HOUR_MS,
            "user.session.start",
            "00uother",
            json!({}),
        );
        out.extend(detect(&mut state, &[tick], T0 + 48 * HOUR_MS));
        out
    }

    #[test]
    fn a_reset_without_reenrolment() {
        let alerts = run(vec![vec![reset(
            "r1",
            T0,
            "00uadmin",
            "00ubob",
            "User reset OKTA_VERIFY factor",
        )]]);
        assert_eq!(
            keys(&alerts),
            vec!["okta.mfa_factor_reset:user:00ubob:r1".to_string()]
        );
        assert_eq!(alerts[0].severity, Severity::Medium);
        let all = action(
            "r2",
            T0,
            "user.mfa.factor.reset_all",
            "00uadmin",
            json!({"target": [user("00ubob")]}),
        );
        assert_eq!(ids(&run(vec![vec![all]])), vec![MFA_FACTOR_RESET]);
        // A user resetting their own WebAuthn factor still counts.
        assert_eq!(
            run(vec![vec![reset(
                "r3",
                T0,
                "00ubob",
                "00ubob",
                "User reset FIDO_WEBAUTHN factor"
            )]])
            .len(),
            1
        );
    }

    #[test]
    fn not_before_twelve_hours() {
        let mut state = DetectionState::default();
        let evs = vec![
            reset("r1", T0, "00uadmin", "00ubob", ""),
            action(
                "x",
                T0 + 11 * HOUR_MS,
                "user.session.start",
                "00ux",
                json!({}),
            ),
        ];
        assert!(detect(&mut state, &evs, T0 + 11 * HOUR_MS).is_empty());
    }

    #[test]
    fn reenrolment_or_own_security_question_does_not_fire() {
        assert!(run(vec![vec![
            reset("r1", T0, "00uadmin", "00ubob", ""),
            activate("a1", T0 + 3 * HOUR_MS, "00ubob")
        ]])
        .is_empty());
        // The re-enrolment arriving late, in a later poll and before the reset in order.
        assert!(run(vec![
            vec![reset("r1", T0, "00uadmin", "00ubob", "")],
            vec![activate("a1", T0 + 20 * MINUTE_MS, "00ubob")]
        ])
        .is_empty());
        assert!(run(vec![
            vec![activate("a1", T0 + 20 * MINUTE_MS, "00ubob")],
            vec![reset("r1", T0, "00uadmin", "00ubob", "")]
        ])
        .is_empty());
        assert!(run(vec![vec![reset(
            "r1",
            T0,
            "00ubob",
            "00ubob",
            "User reset SECURITY_QUESTION factor"
        )]])
        .is_empty());
        // Another user's re-enrolment does not cover it.
        assert_eq!(
            run(vec![vec![
                reset("r1", T0, "00uadmin", "00ubob", ""),
                activate("a1", T0 + HOUR_MS, "00ucarol")
            ]])
            .len(),
            1
        );
    }
}
