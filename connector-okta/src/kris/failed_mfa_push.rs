//! `okta_failed_mfa_push_24h`: denied Okta Verify pushes of the last 24 h, each `uuid`
//! once: Classic orgs log `user.mfa.okta_verify.deny_push`; Identity Engine orgs log
//! `user.authentication.auth_via_mfa` with `debugData.factor == "OKTA_VERIFY_PUSH"` and
//! outcome FAILURE. A failed PASSWORD_AS_FACTOR (or any other factor) is no push denial.

use super::{evaluated, Kri, Window, WindowFilter, DETAILS_LIST_CAP};
use crate::api::models::{is, LogEvent};
use kri_connector_sdk::types::KriValue;
use serde_json::{json, Value};

pub const CLASSIC_DENY_PUSH: &str = "user.mfa.okta_verify.deny_push";
pub const AUTH_VIA_MFA: &str = "user.authentication.auth_via_mfa";

/// How an event reads for this KRI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushVerdict {
    /// `user.mfa.okta_verify.deny_push` (Classic).
    ClassicDenyPush,
    /// `auth_via_mfa` + `OKTA_VERIFY_PUSH` + FAILURE (Identity Engine).
    IdentityEngineFailedPush,
    NotAPushDenial,
}

pub fn classify(ev: &LogEvent) -> PushVerdict {
    let event_type = ev.event_type.as_deref().map(str::trim).unwrap_or("");
    if event_type == CLASSIC_DENY_PUSH {
        return PushVerdict::ClassicDenyPush;
    }
    if event_type == AUTH_VIA_MFA {
        let factor = ev.debug("factor").and_then(Value::as_str).unwrap_or("");
        if factor.trim().eq_ignore_ascii_case("OKTA_VERIFY_PUSH")
            && is(&ev.outcome_result, "FAILURE")
        {
            return PushVerdict::IdentityEngineFailedPush;
        }
    }
    PushVerdict::NotAPushDenial
}

pub fn is_push_denial(ev: &LogEvent) -> bool {
    classify(ev) != PushVerdict::NotAPushDenial
}

/// The KRI over events fed one at a time (each already admitted to the window once).
#[derive(Debug, Default)]
pub struct PushTally {
    classic: u64,
    oie: u64,
    listed: Vec<Value>,
}

impl PushTally {
    pub fn add(&mut self, ev: &LogEvent) {
        match classify(ev) {
            PushVerdict::ClassicDenyPush => self.classic += 1,
            PushVerdict::IdentityEngineFailedPush => self.oie += 1,
            PushVerdict::NotAPushDenial => return,
        }
        if self.listed.len() < DETAILS_LIST_CAP {
            self.listed.push(json!({
                "uuid": ev.uuid, "published": ev.published, "event_type": ev.event_type,
                "actor": ev.actor_alternate_id,
            }));
        }
    }

    /// The KRI, with what `filter` (the window's) counted.
    pub fn finish(&self, filter: &WindowFilter) -> KriValue {
        let count = self.classic + self.oie;
        let details = json!({
            "window": filter.window.to_json(),
            "events_examined": filter.examined,
            "events_skipped": filter.skipped,
            "classic_deny_push": self.classic,
            "identity_engine_failed_push": self.oie,
            "events": &self.listed,
        });
        evaluated(
            Kri::FailedMfaPush24h,
            count as f64,
            Some(count as f64),
            None,
            details,
        )
    }
}

/// The KRI over a slice of events.
pub fn failed_mfa_push(events: &[LogEvent], window: Window) -> KriValue {
    let mut filter = WindowFilter::new(window);
    let mut tally = PushTally::default();
    for ev in events {
        if filter.admit(ev) {
            tally.add(ev);
        }
    }
    tally.finish(&filter)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::{ms_to_iso, HOUR_MS};

    fn ev(uuid: &str, ms: i64, event_type: &str, factor: Option<&str>, result: &str) -> LogEvent {
        let mut debug = serde_json::Map::new();
        if let Some(f) = factor {
            debug.insert("factor".into(), json!(f));
        }
        LogEvent::from_value(&json!({
            "uuid": uuid, "published": ms_to_iso(ms), "eventType": event_type,
            "outcome": {"result": result, "reason": null},
            "debugContext": {"debugData": debug},
        }))
        .unwrap_or_default()
    }

    #[test]
    fn classification() {
        let t = 5 * HOUR_MS;
        let cases = [
            (
                "classic deny",
                ev("1", t, CLASSIC_DENY_PUSH, None, "FAILURE"),
                PushVerdict::ClassicDenyPush,
            ),
            (
                "classic deny, any outcome",
                ev("1", t, CLASSIC_DENY_PUSH, None, "SUCCESS"),
                PushVerdict::ClassicDenyPush,
            ),
            (
                "OIE push failure",
                ev("1", t, AUTH_VIA_MFA, Some("OKTA_VERIFY_PUSH"), "FAILURE"),
                PushVerdict::IdentityEngineFailedPush,
            ),
            (
                "OIE push success",
                ev("1", t, AUTH_VIA_MFA, Some("OKTA_VERIFY_PUSH"), "SUCCESS"),
                PushVerdict::NotAPushDenial,
            ),
            (
                "password as factor failure",
                ev("1", t, AUTH_VIA_MFA, Some("PASSWORD_AS_FACTOR"), "FAILURE"),
                PushVerdict::NotAPushDenial,
            ),
            (
                "webauthn failure",
                ev("1", t, AUTH_VIA_MFA, Some("FIDO_WEBAUTHN"), "FAILURE"),
                PushVerdict::NotAPushDenial,
            ),
            (
                "FastPass failure",
                ev("1", t, AUTH_VIA_MFA, Some("SIGNED_NONCE"), "FAILURE"),
                PushVerdict::NotAPushDenial,
            ),
            (
                "no factor failure",
                ev("1", t, AUTH_VIA_MFA, None, "FAILURE"),
                PushVerdict::NotAPushDenial,
            ),
            (
                "push on other event",
                ev(
                    "1",
                    t,
                    "user.authentication.verify",
                    Some("OKTA_VERIFY_PUSH"),
                    "FAILURE",
                ),
                PushVerdict::NotAPushDenial,
            ),
            (
                "session start failure",
                ev("1", t, "user.session.start", None, "FAILURE"),
                PushVerdict::NotAPushDenial,
            ),
        ];
        for (name, e, want) in cases {
            assert_eq!(classify(&e), want, "{name}");
        }
    }

    #[test]
    fn counts_in_window_once() {
        let now = 50 * HOUR_MS;
        let events = vec![
            ev("a", now - 1, CLASSIC_DENY_PUSH, None, "FAILURE"),
            ev("a", now - 1, CLASSIC_DENY_PUSH, None, "FAILURE"),
            ev(
                "b",
                now - 23 * HOUR_MS,
                AUTH_VIA_MFA,
                Some("OKTA_VERIFY_PUSH"),
                "FAILURE",
            ),
            ev(
                "c",
                now - 2,
                AUTH_VIA_MFA,
                Some("PASSWORD_AS_FACTOR"),
                "FAILURE",
            ),
            ev("d", now - 25 * HOUR_MS, CLASSIC_DENY_PUSH, None, "FAILURE"),
        ];
        let v = failed_mfa_push(&events, Window::last_24h(now));
        assert_eq!(v.value, Some(2.0));
        let d: Value = serde_json::from_str(&v.details).unwrap_or(Value::Null);
        assert_eq!(d["classic_deny_push"], 1);
        assert_eq!(d["identity_engine_failed_push"], 1);
    }
}
