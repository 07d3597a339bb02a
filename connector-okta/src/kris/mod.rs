//! The seven Okta KRIs of the `kris` job: their definitions (slug, unit, direction,
//! thresholds, as in `docs/okta-kris.md`) and one pure function per KRI over plain
//! data, one file each; and the four the `inventory` job computes from the identity
//! graph (`graph_kris`).

pub mod admin_session_outliers;
pub mod app_policy_exceptions;
pub mod failed_mfa_push;
pub mod graph_kris;
pub mod impossible_travel;
pub mod inactive_users_with_app_access;
pub mod mfa_adoption;
pub mod phish_resistant_mfa;

use crate::api::models::LogEvent;
use crate::time::{ms_to_iso, HOUR_MS};
use kri_connector_sdk::types::{Direction, KriDefinition, KriValue};
use serde_json::Value;
use std::collections::BTreeSet;

/// The KRIs, in manifest order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kri {
    MfaAdoption,
    PhishResistantMfa,
    InactiveUsersWithAppAccess,
    ImpossibleTravel24h,
    AdminSessionOutliers24h,
    FailedMfaPush24h,
    AppPolicyExceptions,
}

impl Kri {
    pub const ALL: [Kri; 7] = [
        Kri::MfaAdoption,
        Kri::PhishResistantMfa,
        Kri::InactiveUsersWithAppAccess,
        Kri::ImpossibleTravel24h,
        Kri::AdminSessionOutliers24h,
        Kri::FailedMfaPush24h,
        Kri::AppPolicyExceptions,
    ];

    /// The stable slug (never renamed).
    pub fn slug(self) -> &'static str {
        match self {
            Kri::MfaAdoption => "okta_mfa_adoption_pct",
            Kri::PhishResistantMfa => "okta_phish_resistant_mfa_pct",
            Kri::InactiveUsersWithAppAccess => "okta_inactive_users_with_app_access",
            Kri::ImpossibleTravel24h => "okta_impossible_travel_24h",
            Kri::AdminSessionOutliers24h => "okta_admin_session_outliers_24h",
            Kri::FailedMfaPush24h => "okta_failed_mfa_push_24h",
            Kri::AppPolicyExceptions => "okta_app_policy_exceptions",
        }
    }

    pub fn from_slug(slug: &str) -> Option<Kri> {
        Kri::ALL.into_iter().find(|k| k.slug() == slug.trim())
    }

    pub fn definition(self) -> KriDefinition {
        let (name, description, unit, direction, warn, breach) = match self {
            Kri::MfaAdoption => (
                "MFA adoption",
                "Share of ACTIVE users (or the first user_sample_cap of them) with at least one \
                 ACTIVE factor other than password or security question.",
                "percent",
                Direction::HigherIsBetter,
                95.0,
                80.0,
            ),
            Kri::PhishResistantMfa => (
                "Phishing-resistant MFA",
                "Share of MFA-enrolled users with an ACTIVE phishing-resistant factor (webauthn, \
                 u2f or a FIDO provider); details.share_of_active_pct gives it over all \
                 sampled ACTIVE users.",
                "percent",
                Direction::HigherIsBetter,
                50.0,
                20.0,
            ),
            Kri::InactiveUsersWithAppAccess => (
                "Suspended users with app access",
                "SUSPENDED users who still have at least one app link.",
                "count",
                Direction::LowerIsBetter,
                1.0,
                10.0,
            ),
            Kri::ImpossibleTravel24h => (
                "Impossible travel (24 h)",
                "System Log events of the last 24 h whose behaviours mark velocity POSITIVE, \
                 each event counted once.",
                "count",
                Direction::LowerIsBetter,
                1.0,
                5.0,
            ),
            Kri::AdminSessionOutliers24h => (
                "Long admin sessions (24 h)",
                "Admin console sessions ended in the last 24 h that lasted more than 8 h; \
                 details list sessions still open after more than 8 h.",
                "count",
                Direction::LowerIsBetter,
                1.0,
                5.0,
            ),
            Kri::FailedMfaPush24h => (
                "Denied Okta Verify pushes (24 h)",
                "Okta Verify push denials of the last 24 h (Classic deny_push events and \
                 Identity Engine auth_via_mfa OKTA_VERIFY_PUSH failures).",
                "count",
                Direction::LowerIsBetter,
                5.0,
                20.0,
            ),
            Kri::AppPolicyExceptions => (
                "App sign-on policy exceptions",
                "ACTIVE rules of ACTIVE app sign-on (ACCESS_POLICY) policies that allow access \
                 with one factor or without any verification method.",
                "count",
                Direction::LowerIsBetter,
                1.0,
                3.0,
            ),
        };
        KriDefinition {
            slug: self.slug().to_string(),
            name: name.to_string(),
            description: description.to_string(),
            unit: unit.to_string(),
            direction,
            warn_threshold: Some(warn),
            breach_threshold: Some(breach),
        }
    }
}

/// `round(x * 10) / 10`, as the KRI doc defines rounding.
pub fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// `round(part / whole * 100, 1)`.
pub fn pct(part: u64, whole: u64) -> f64 {
    round1(part as f64 / whole as f64 * 100.0)
}

/// A KRI that could not be evaluated.
pub fn not_evaluated(kri: Kri, reason: &str, details: Value) -> KriValue {
    KriValue {
        slug: kri.slug().to_string(),
        value: None,
        numerator: None,
        denominator: None,
        details: details.to_string(),
        not_evaluated_reason: Some(reason.to_string()),
    }
}

/// An evaluated KRI.
pub fn evaluated(
    kri: Kri,
    value: f64,
    numerator: Option<f64>,
    denominator: Option<f64>,
    details: Value,
) -> KriValue {
    KriValue {
        slug: kri.slug().to_string(),
        value: Some(value),
        numerator,
        denominator,
        details: details.to_string(),
        not_evaluated_reason: None,
    }
}

/// The half-open window `(start, end]` on `published`, in epoch ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start_exclusive: i64,
    pub end_inclusive: i64,
}

impl Window {
    /// `(now - 24 h, now]`.
    pub fn last_24h(now_ms: i64) -> Window {
        Window {
            start_exclusive: now_ms - 24 * HOUR_MS,
            end_inclusive: now_ms,
        }
    }

    pub fn contains(&self, ms: i64) -> bool {
        ms > self.start_exclusive && ms <= self.end_inclusive
    }

    pub fn to_json(self) -> Value {
        serde_json::json!({
            "after": ms_to_iso(self.start_exclusive),
            "until": ms_to_iso(self.end_inclusive),
        })
    }
}

/// Events of a window, each `uuid` once, with counts of what was looked at.
#[derive(Debug, Default)]
pub struct WindowEvents<'a> {
    pub events: Vec<&'a LogEvent>,
    /// Distinct events inside the window.
    pub examined: u64,
    /// Events without a `uuid` or a readable `published`.
    pub skipped: u64,
    /// Events outside the window (the API returned more than asked).
    pub outside: u64,
    /// Repeats of an already seen `uuid`.
    pub duplicates: u64,
}

pub fn events_in_window(events: &[LogEvent], window: Window) -> WindowEvents<'_> {
    let mut seen = BTreeSet::new();
    let mut out = WindowEvents::default();
    for ev in events {
        let (Some(uuid), Some(ms)) = (ev.uuid.as_deref(), ev.published_ms()) else {
            out.skipped += 1;
            continue;
        };
        if !window.contains(ms) {
            out.outside += 1;
            continue;
        }
        if !seen.insert(uuid) {
            out.duplicates += 1;
            continue;
        }
        out.examined += 1;
        out.events.push(ev);
    }
    out
}

/// At most this many ids are listed in `details`.
pub const DETAILS_LIST_CAP: usize = 100;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_round_trip_and_thresholds_match_the_doc() {
        let table: [(&str, &str, Direction, f64, f64); 7] = [
            (
                "okta_mfa_adoption_pct",
                "percent",
                Direction::HigherIsBetter,
                95.0,
                80.0,
            ),
            (
                "okta_phish_resistant_mfa_pct",
                "percent",
                Direction::HigherIsBetter,
                50.0,
                20.0,
            ),
            (
                "okta_inactive_users_with_app_access",
                "count",
                Direction::LowerIsBetter,
                1.0,
                10.0,
            ),
            (
                "okta_impossible_travel_24h",
                "count",
                Direction::LowerIsBetter,
                1.0,
                5.0,
            ),
            (
                "okta_admin_session_outliers_24h",
                "count",
                Direction::LowerIsBetter,
                1.0,
                5.0,
            ),
            (
                "okta_failed_mfa_push_24h",
                "count",
                Direction::LowerIsBetter,
                5.0,
                20.0,
            ),
            (
                "okta_app_policy_exceptions",
                "count",
                Direction::LowerIsBetter,
                1.0,
                3.0,
            ),
        ];
        for (kri, (slug, unit, dir, warn, breach)) in Kri::ALL.into_iter().zip(table) {
            let d = kri.definition();
            assert_eq!(d.slug, slug);
            assert_eq!(Kri::from_slug(slug), Some(kri));
            assert_eq!(d.unit, unit);
            assert_eq!(d.direction, dir);
            assert_eq!(d.warn_threshold, Some(warn));
            assert_eq!(d.breach_threshold, Some(breach));
        }
        assert_eq!(Kri::from_slug("nope"), None);
    }

    #[test]
    fn rounding() {
        for (part, whole, want) in [
            (1, 3, 33.3),
            (2, 3, 66.7),
            (1, 8, 12.5),
            (1, 16, 6.3),
            (0, 5, 0.0),
            (5, 5, 100.0),
            (999, 1000, 99.9),
        ] {
            assert_eq!(pct(part, whole), want, "{part}/{whole}");
        }
    }

    #[test]
    fn window_is_half_open() {
        let w = Window::last_24h(100 * HOUR_MS);
        assert!(!w.contains(76 * HOUR_MS));
        assert!(w.contains(76 * HOUR_MS + 1));
        assert!(w.contains(100 * HOUR_MS));
        assert!(!w.contains(100 * HOUR_MS + 1));
    }
}
