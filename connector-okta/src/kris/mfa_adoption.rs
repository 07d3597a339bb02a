//! `okta_mfa_adoption_pct`: share of the sampled ACTIVE users with at least one ACTIVE
//! factor that is neither `password` nor `question`. Also home of the per-user factor
//! summary that both MFA KRIs (and the incremental factor cache) use.

use super::{evaluated, not_evaluated, pct, Kri};
use crate::api::models::{is, Factor};
use kri_connector_sdk::types::KriValue;
use serde_json::{json, Value};

/// What the MFA KRIs need to know about one user's factors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FactorSummary {
    /// At least one ACTIVE factor other than password / security question.
    pub enrolled: bool,
    /// Enrolled, with an ACTIVE `webauthn` / `u2f` factor or one whose provider is `FIDO`.
    pub phish_resistant: bool,
}

impl FactorSummary {
    /// Compact form stored in state: 0 none, 1 enrolled, 2 enrolled and phishing-resistant.
    pub fn code(self) -> u8 {
        match (self.enrolled, self.phish_resistant) {
            (true, true) => 2,
            (true, false) => 1,
            _ => 0,
        }
    }

    pub fn from_code(code: u64) -> Option<FactorSummary> {
        match code {
            0 => Some(FactorSummary::default()),
            1 => Some(FactorSummary {
                enrolled: true,
                phish_resistant: false,
            }),
            2 => Some(FactorSummary {
                enrolled: true,
                phish_resistant: true,
            }),
            _ => None,
        }
    }
}

/// Summarises one user's factor list.
pub fn summarize_factors(factors: &[Factor]) -> FactorSummary {
    let active = factors.iter().filter(|f| is(&f.status, "ACTIVE"));
    let mut enrolled = false;
    let mut phish = false;
    for f in active {
        if !(is(&f.factor_type, "password") || is(&f.factor_type, "question")) {
            enrolled = true;
        }
        if is(&f.factor_type, "webauthn") || is(&f.factor_type, "u2f") || is(&f.provider, "FIDO") {
            phish = true;
        }
    }
    FactorSummary {
        enrolled,
        phish_resistant: enrolled && phish,
    }
}

/// How this run got the factor summaries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshInfo {
    /// `full` or `incremental`.
    pub mode: &'static str,
    /// Why a full refresh happened, when it did.
    pub reason: Option<String>,
    /// Users whose factors were fetched this run.
    pub factors_fetched: u64,
    /// Users whose stored summary was reused.
    pub reused: u64,
    /// Users the System Log showed as changed since the last run (incremental only).
    pub changed_in_log: u64,
}

/// The MFA population: one summary per sampled ACTIVE user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MfaPopulation {
    pub summaries: Vec<FactorSummary>,
    /// `user_sample_cap` when set.
    pub sample_cap: Option<usize>,
    /// More ACTIVE users existed than the cap let count.
    pub truncated: bool,
    /// Users listed but dropped (vanished before their factors could be read).
    pub users_skipped: u64,
    pub refresh: RefreshInfo,
}

impl MfaPopulation {
    pub fn sampled(&self) -> u64 {
        self.summaries.len() as u64
    }
    pub fn enrolled(&self) -> u64 {
        self.summaries.iter().filter(|s| s.enrolled).count() as u64
    }
    pub fn phish_resistant(&self) -> u64 {
        self.summaries.iter().filter(|s| s.phish_resistant).count() as u64
    }

    /// `details` fields shared by both MFA KRIs.
    pub fn common_details(&self) -> serde_json::Map<String, Value> {
        let mut m = serde_json::Map::new();
        m.insert("sampled".into(), json!(self.sample_cap.is_some()));
        m.insert("sample_cap".into(), json!(self.sample_cap));
        m.insert("sample_truncated".into(), json!(self.truncated));
        m.insert("active_users_counted".into(), json!(self.sampled()));
        m.insert("users_skipped".into(), json!(self.users_skipped));
        m.insert("refresh".into(), json!(self.refresh.mode));
        if let Some(r) = &self.refresh.reason {
            m.insert("refresh_reason".into(), json!(r));
        }
        m.insert(
            "factors_fetched_users".into(),
            json!(self.refresh.factors_fetched),
        );
        m.insert("factors_reused_users".into(), json!(self.refresh.reused));
        if self.refresh.mode == "incremental" {
            m.insert(
                "users_changed_in_log".into(),
                json!(self.refresh.changed_in_log),
            );
        }
        m
    }
}

pub fn mfa_adoption(pop: &MfaPopulation) -> KriValue {
    let kri = Kri::MfaAdoption;
    let mut details = pop.common_details();
    let sampled = pop.sampled();
    let enrolled = pop.enrolled();
    details.insert("enrolled".into(), json!(enrolled));
    if sampled == 0 {
        return not_evaluated(kri, "no ACTIVE users", Value::Object(details));
    }
    evaluated(
        kri,
        pct(enrolled, sampled),
        Some(enrolled as f64),
        Some(sampled as f64),
        Value::Object(details),
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn factor(t: &str, provider: &str, status: &str) -> Factor {
        Factor {
            id: Some(format!("f-{t}")),
            factor_type: Some(t.into()),
            provider: Some(provider.into()),
            status: Some(status.into()),
        }
    }

    pub fn population(codes: &[u8]) -> MfaPopulation {
        MfaPopulation {
            summaries: codes
                .iter()
                .map(|c| FactorSummary::from_code(u64::from(*c)).unwrap_or_default())
                .collect(),
            sample_cap: None,
            truncated: false,
            users_skipped: 0,
            refresh: RefreshInfo {
                mode: "full",
                reason: None,
                factors_fetched: codes.len() as u64,
                reused: 0,
                changed_in_log: 0,
            },
        }
    }

    #[test]
    fn factor_summaries() {
        let cases: Vec<(&str, Vec<Factor>, u8)> = vec![
            ("no factors (new user)", vec![], 0),
            (
                "question and password only",
                vec![
                    factor("question", "OKTA", "ACTIVE"),
                    factor("password", "OKTA", "ACTIVE"),
                ],
                0,
            ),
            (
                "sms pending activation",
                vec![factor("sms", "OKTA", "PENDING_ACTIVATION")],
                0,
            ),
            ("active sms", vec![factor("sms", "OKTA", "ACTIVE")], 1),
            ("active push", vec![factor("push", "OKTA", "ACTIVE")], 1),
            (
                "totp",
                vec![factor("token:software:totp", "GOOGLE", "ACTIVE")],
                1,
            ),
            (
                "FastPass signed_nonce",
                vec![factor("signed_nonce", "OKTA", "ACTIVE")],
                1,
            ),
            ("webauthn", vec![factor("webauthn", "FIDO", "ACTIVE")], 2),
            ("u2f", vec![factor("u2f", "FIDO", "ACTIVE")], 2),
            (
                "FIDO provider, odd type",
                vec![factor("token:hardware", "FIDO", "ACTIVE")],
                2,
            ),
            (
                "inactive webauthn + sms",
                vec![
                    factor("webauthn", "FIDO", "INACTIVE"),
                    factor("sms", "OKTA", "ACTIVE"),
                ],
                1,
            ),
            (
                "lower-case status",
                vec![factor("webauthn", "FIDO", "active")],
                2,
            ),
            (
                "unknown status",
                vec![factor("webauthn", "FIDO", "SOMETHING_NEW")],
                0,
            ),
        ];
        for (name, factors, code) in cases {
            assert_eq!(summarize_factors(&factors).code(), code, "{name}");
        }
        let no_type = Factor {
            status: Some("ACTIVE".into()),
            ..Factor::default()
        };
        assert_eq!(
            summarize_factors(&[no_type]).code(),
            1,
            "active factor of unknown type"
        );
    }

    #[test]
    fn codes_round_trip() {
        for c in 0..3u8 {
            assert_eq!(
                FactorSummary::from_code(u64::from(c)).map(|s| s.code()),
                Some(c)
            );
        }
        assert_eq!(FactorSummary::from_code(3), None);
    }

    #[test]
    fn adoption_values() {
        let cases: Vec<(Vec<u8>, Option<f64>)> = vec![
            (vec![], None),
            (vec![0], Some(0.0)),
            (vec![1, 2, 0], Some(66.7)),
            (vec![1, 0, 0], Some(33.3)),
            (vec![2, 2, 2, 2], Some(100.0)),
            (vec![1, 0, 0, 0, 0, 0, 0, 0], Some(12.5)),
        ];
        for (codes, want) in cases {
            let v = mfa_adoption(&population(&codes));
            assert_eq!(v.value, want, "{codes:?}");
            if want.is_none() {
                assert_eq!(v.not_evaluated_reason.as_deref(), Some("no ACTIVE users"));
            } else {
                assert_eq!(v.denominator, Some(codes.len() as f64));
            }
        }
    }

    #[test]
    fn sampled_flag() {
        let mut p = population(&[1, 0]);
        p.sample_cap = Some(2);
        p.truncated = true;
        let v = mfa_adoption(&p);
        let d: Value = serde_json::from_str(&v.details).unwrap_or(Value::Null);
        assert_eq!(d["sampled"], true);
        assert_eq!(d["refresh"], "full");
        assert_eq!(d["factors_fetched_users"], 2);
        let d2: Value =
            serde_json::from_str(&mfa_adoption(&population(&[1])).details).unwrap_or(Value::Null);
        assert_eq!(d2["sampled"], false);
    }
}
