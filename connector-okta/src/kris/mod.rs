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
use std::collections::HashSet;

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

/// The distinct events of a window, admitted one at a time as pages of events go by,
/// with counts of what was looked at. Only the `uuid`s are remembered (a canonical UUID
/// as 16 bytes), so a day of 1,000,000 events costs tens of MB, not the events.
#[derive(Debug)]
pub struct WindowFilter {
    pub window: Window,
    seen: UuidSet,
    /// Distinct events inside the window.
    pub examined: u64,
    /// Events without a `uuid` or a readable `published`.
    pub skipped: u64,
    /// Events outside the window (the API returned more than asked).
    pub outside: u64,
    /// Repeats of an already seen `uuid`.
    pub duplicates: u64,
}

impl WindowFilter {
    pub fn new(window: Window) -> WindowFilter {
        WindowFilter {
            window,
            seen: UuidSet::default(),
            examined: 0,
            skipped: 0,
            outside: 0,
            duplicates: 0,
        }
    }

    /// Whether `ev` is inside the window and its `uuid` not seen before; counts it
    /// either way.
    pub fn admit(&mut self, ev: &LogEvent) -> bool {
        let (Some(uuid), Some(ms)) = (ev.uuid.as_deref(), ev.published_ms()) else {
            self.skipped += 1;
            return false;
        };
        if !self.window.contains(ms) {
            self.outside += 1;
            return false;
        }
        if !self.seen.insert(uuid) {
            self.duplicates += 1;
            return false;
        }
        self.examined += 1;
        true
    }
}

/// A set of event ids: canonical UUIDs (`8-4-4-4-12` hex digits, any case) kept as
/// `u128`, anything else as text.
#[derive(Debug, Default)]
struct UuidSet {
    canonical: HashSet<u128>,
    other: HashSet<String>,
}

impl UuidSet {
    /// `false` when `id` was already in the set.
    fn insert(&mut self, id: &str) -> bool {
        match canonical_uuid(id) {
            Some(n) => self.canonical.insert(n),
            None => self.other.insert(id.to_string()),
        }
    }
}

/// The 128 bits of a canonical UUID; `None` for any other text. Case is folded, so
/// `A` and `a` read the same (Okta writes lower case).
fn canonical_uuid(id: &str) -> Option<u128> {
    let bytes = id.as_bytes();
    if bytes.len() != 36 {
        return None;
    }
    let mut n: u128 = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if matches!(i, 8 | 13 | 18 | 23) {
            if b != b'-' {
                return None;
            }
            continue;
        }
        let digit = (b as char).to_digit(16)?;
        n = (n << 4) | digit as u128;
    }
    Some(n)
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
    fn window_filter_admits_each_uuid_once_inside_the_window() {
        let now = 100 * HOUR_MS;
        let ev = |uuid: Option<&str>, ms: i64| LogEvent {
            uuid: uuid.map(str::to_string),
            published: Some(ms_to_iso(ms)),
            ..LogEvent::default()
        };
        let mut f = WindowFilter::new(Window::last_24h(now));
        let a = "6d9a3a0e-1b2c-11ee-8f3a-0123456789ab";
        let cases = [
            (ev(Some(a), now - 1), true),
            (ev(Some(a), now - 2), false),
            (ev(Some(&a.to_uppercase()), now - 1), false),
            (ev(Some("not-a-uuid"), now), true),
            (ev(Some("not-a-uuid"), now), false),
            (ev(Some("6d9a3a0e-1b2c-11ee-8f3a-0123456789ac"), now), true),
            (ev(Some("b"), now + 1), false),
            (ev(Some("c"), now - 24 * HOUR_MS), false),
            (ev(None, now), false),
        ];
        for (i, (e, want)) in cases.iter().enumerate() {
            assert_eq!(f.admit(e), *want, "case {i}");
        }
        assert_eq!(
            (f.examined, f.duplicates, f.outside, f.skipped),
            (3, 3, 2, 1)
        );
        assert_eq!(canonical_uuid("6d9a3a0e-1b2c-11ee-8f3a-0123456789ag"), None);
        assert_eq!(canonical_uuid("6d9a3a0e11b2c-11ee-8f3a-0123456789ab"), None);
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
