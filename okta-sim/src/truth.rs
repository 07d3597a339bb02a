//! Ground truth: the value each KRI of docs/okta-kris.md must have for an org at a given
//! `now`, computed from the org's own structs (never by parsing the JSON it serves), so
//! end-to-end tests can compare the connector's results with it.

use std::collections::HashMap;

use serde::Serialize;

use crate::model::{
    ActiveStatus, BehaviorSet, EventKind, MfaFactor, Org, OutcomeResult, UserStatus,
};
use crate::time::{DAY_MS, HOUR_MS};

/// The expected KRI inputs and values for one org at one `now`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroundTruth {
    /// ACTIVE users sampled (the first `user_sample_cap` in API order, or all).
    pub active_users: u64,
    /// Sampled users with an ACTIVE factor that is neither `password` nor `question`.
    pub mfa_enrolled: u64,
    /// `round(mfa_enrolled / active_users * 100, 1)`; `None` when there are no active users.
    pub mfa_adoption_pct: Option<f64>,
    /// Enrolled users with an ACTIVE `webauthn`/`u2f`/FIDO factor.
    pub phish_resistant_users: u64,
    /// `round(phish_resistant_users / mfa_enrolled * 100, 1)`; `None` with nobody enrolled.
    pub phish_resistant_mfa_pct: Option<f64>,
    /// Users with status SUSPENDED.
    pub suspended_users: u64,
    /// SUSPENDED users with a non-empty appLinks list.
    pub inactive_users_with_app_access: u64,
    /// Events in `(now-24h, now]` whose behaviours mark velocity POSITIVE.
    pub impossible_travel_24h: u64,
    /// Admin sessions ending in `(now-24h, now]` that lasted more than 8 h.
    pub admin_session_outliers_24h: u64,
    /// Okta Verify push denials in `(now-24h, now]`.
    pub failed_mfa_push_24h: u64,
    /// ACTIVE ALLOW rules of ACTIVE ACCESS_POLICY policies with no verification method or 1FA.
    pub app_policy_exceptions: u64,
    /// ACTIVE rules of ACTIVE ACCESS_POLICY policies.
    pub active_access_rules: u64,
}

/// `round(x * 10) / 10` of `numerator / denominator * 100`, as docs/okta-kris.md says.
pub fn percent_1dp(numerator: u64, denominator: u64) -> Option<f64> {
    if denominator == 0 {
        return None;
    }
    let x = numerator as f64 / denominator as f64 * 100.0;
    Some((x * 10.0).round() / 10.0)
}

/// Whether a behaviour set marks velocity POSITIVE under the doc's rule: a name that,
/// trimmed and lower-cased, starts with `velocity`, with value `POSITIVE`.
pub(crate) fn marks_velocity(set: &BehaviorSet) -> bool {
    set.entries()
        .any(|(name, positive)| positive && name.trim().to_lowercase().starts_with("velocity"))
}

impl GroundTruth {
    /// The seven KRI slugs with the value the KRI table should show (`None` = not evaluated).
    pub fn by_slug(&self) -> Vec<(&'static str, Option<f64>)> {
        vec![
            ("okta_mfa_adoption_pct", self.mfa_adoption_pct),
            ("okta_phish_resistant_mfa_pct", self.phish_resistant_mfa_pct),
            (
                "okta_inactive_users_with_app_access",
                Some(self.inactive_users_with_app_access as f64),
            ),
            (
                "okta_impossible_travel_24h",
                Some(self.impossible_travel_24h as f64),
            ),
            (
                "okta_admin_session_outliers_24h",
                Some(self.admin_session_outliers_24h as f64),
            ),
            (
                "okta_failed_mfa_push_24h",
                Some(self.failed_mfa_push_24h as f64),
            ),
            (
                "okta_app_policy_exceptions",
                Some(self.app_policy_exceptions as f64),
            ),
        ]
    }
}

impl Org {
    /// Computes every KRI's expected value at `now_ms` from the org's structs.
    /// `user_sample_cap` limits the MFA population to the first N ACTIVE users in API order.
    pub fn ground_truth(&self, now_ms: i64, user_sample_cap: Option<usize>) -> GroundTruth {
        let mut sampled = 0u64;
        let mut enrolled = 0u64;
        let mut phish = 0u64;
        let active = self.users.iter().filter(|u| u.status == UserStatus::Active);
        for user in active.take(user_sample_cap.unwrap_or(usize::MAX)) {
            sampled += 1;
            if user.is_mfa_enrolled() {
                enrolled += 1;
                if user.has_phish_resistant() {
                    phish += 1;
                }
            }
        }
        let suspended: Vec<_> = self
            .users
            .iter()
            .filter(|u| u.status == UserStatus::Suspended)
            .collect();
        let with_apps = suspended.iter().filter(|u| !u.app_links.is_empty()).count() as u64;

        let window_start = now_ms - DAY_MS;
        let in_window = |t: i64| t > window_start && t <= now_ms;
        let mut travel = 0u64;
        let mut push = 0u64;
        let mut admin_starts: HashMap<u64, i64> = HashMap::new();
        let mut outliers = 0u64;
        for event in self.events.iter().take_while(|e| e.published_ms <= now_ms) {
            let t = event.published_ms;
            if event.kind == EventKind::AccessAdminApp {
                admin_starts.entry(event.session).or_insert(t);
            }
            if !in_window(t) {
                continue;
            }
            if event.behaviors.iter().any(marks_velocity) {
                travel += 1;
            }
            let denied = event.kind == EventKind::OktaVerifyDenyPush
                || (event.kind == EventKind::AuthViaMfa
                    && event.factor == Some(MfaFactor::OktaVerifyPush)
                    && event.result == OutcomeResult::Failure);
            if denied {
                push += 1;
            }
            if event.kind == EventKind::SessionEnd {
                if let Some(&start) = admin_starts.get(&event.session) {
                    if t - start > 8 * HOUR_MS {
                        outliers += 1;
                    }
                }
            }
        }

        let mut exceptions = 0u64;
        let mut active_rules = 0u64;
        for policy in self
            .policies
            .iter()
            .filter(|p| p.status == ActiveStatus::Active)
        {
            for rule in &policy.rules {
                if rule.status == ActiveStatus::Active {
                    active_rules += 1;
                    if rule.is_exception() {
                        exceptions += 1;
                    }
                }
            }
        }

        GroundTruth {
            active_users: sampled,
            mfa_enrolled: enrolled,
            mfa_adoption_pct: percent_1dp(enrolled, sampled),
            phish_resistant_users: phish,
            phish_resistant_mfa_pct: percent_1dp(phish, enrolled),
            suspended_users: suspended.len() as u64,
            inactive_users_with_app_access: with_apps,
            impossible_travel_24h: travel,
            admin_session_outliers_24h: outliers,
            failed_mfa_push_24h: push,
            app_policy_exceptions: exceptions,
            active_access_rules: active_rules,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_like_the_doc() {
        assert_eq!(percent_1dp(0, 0), None);
        assert_eq!(percent_1dp(1, 3), Some(33.3));
        assert_eq!(percent_1dp(2, 3), Some(66.7));
        assert_eq!(percent_1dp(3, 3), Some(100.0));
    }
}
