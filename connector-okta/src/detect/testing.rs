//! Builders of System Log events in Okta's own shapes (learnt from the real events in
//! `shared/okta-fixtures/system-log/`), for the detections' unit tests.

use super::{Alert, SystemLogEvent};
use crate::api::models::LogEvent;
use crate::time::ms_to_iso;
use serde_json::{json, Value};

/// 2026-11-23T02:13:20Z.
pub const T0: i64 = 1_795_400_000_000;

/// A normalized event from a raw one (`published` given in ms); panics on a bad one,
/// as a test fixture is code.
pub fn event(mut raw: Value, ms: i64) -> SystemLogEvent {
    raw["published"] = json!(ms_to_iso(ms));
    let log = LogEvent::from_value(&raw).unwrap_or_default();
    SystemLogEvent::from_log(&log).unwrap_or_else(|| panic!("not an event: {raw}"))
}

pub fn user(id: &str) -> Value {
    json!({"id": id, "type": "User", "alternateId": format!("{id}@example.com"), "displayName": id})
}

fn client(ip: &str, at: (f64, f64)) -> Value {
    json!({"device": "Computer", "ipAddress": ip, "zone": "null",
        "userAgent": {"rawUserAgent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7)", "os": "Mac OS X", "browser": "CHROME"},
        "geographicalContext": {"city": "Somewhere", "state": null, "country": "Somewhere", "postalCode": null,
            "geolocation": {"lat": at.0, "lon": at.1}}})
}

/// An Identity Engine push denial: `auth_via_mfa`, OKTA_VERIFY_PUSH, FAILURE.
pub fn push_denial(uuid: &str, ms: i64, user_id: &str) -> SystemLogEvent {
    event(
        json!({"uuid": uuid, "eventType": "user.authentication.auth_via_mfa",
            "displayMessage": "Authentication of user via MFA", "severity": "INFO",
            "actor": user(user_id), "client": client("198.51.100.20", (40.7, -74.0)),
            "outcome": {"result": "FAILURE", "reason": "INVALID_CREDENTIALS"},
            "authenticationContext": {"authenticationStep": 0, "externalSessionId": "idx-1"},
            "debugContext": {"debugData": {"factor": "OKTA_VERIFY_PUSH", "requestUri": "/idp/idx/authenticators/poll"}},
            "target": [user(user_id)]}),
        ms,
    )
}

/// A Classic push denial: `user.mfa.okta_verify.deny_push`.
pub fn classic_push_denial(uuid: &str, ms: i64, user_id: &str) -> SystemLogEvent {
    event(
        json!({"uuid": uuid, "eventType": "user.mfa.okta_verify.deny_push",
            "displayMessage": "User rejected Okta push verify", "severity": "WARN",
            "actor": user(user_id), "outcome": {"result": "FAILURE", "reason": null},
            "client": client("198.51.100.20", (40.7, -74.0))}),
        ms,
    )
}

/// A successful sign-in from `at` on the network `asn`.
pub fn sign_in(uuid: &str, ms: i64, user_id: &str, at: (f64, f64), asn: u64) -> SystemLogEvent {
    event(
        json!({"uuid": uuid, "eventType": "user.session.start", "displayMessage": "User login to Okta",
            "severity": "INFO", "actor": user(user_id), "client": client("203.0.113.5", at),
            "outcome": {"result": "SUCCESS", "reason": null},
            "authenticationContext": {"authenticationStep": 0, "externalSessionId": format!("102{uuid}")},
            "securityContext": {"asNumber": asn, "asOrg": "net", "isp": "net", "domain": ".", "isProxy": false},
            "debugContext": {"debugData": {"behaviors": "{New Geo-Location=NEGATIVE, New Device=NEGATIVE, Velocity=NEGATIVE}"}}}),
        ms,
    )
}

/// A failed sign-in of `login` from `ip`.
pub fn failed_sign_in(uuid: &str, ms: i64, login: &str, ip: &str) -> SystemLogEvent {
    event(
        json!({"uuid": uuid, "eventType": "user.session.start", "displayMessage": "User login to Okta",
            "severity": "WARN", "actor": {"id": "unknown", "type": "User", "alternateId": login, "displayName": "unknown"},
            "client": client(ip, (32.79, -96.83)),
            "outcome": {"result": "FAILURE", "reason": "VERIFICATION_ERROR"},
            "securityContext": {"asNumber": 62240, "isProxy": false}}),
        ms,
    )
}

/// `system.api_token.create` by 00uadmin; `network` is its `debugData.network`
/// connection, or `""` for none.
pub fn token_created(uuid: &str, ms: i64, network: &str) -> SystemLogEvent {
    let mut debug = json!({"requestUri": "/api/internal/tokens", "dtHash": "47a8"});
    if !network.is_empty() {
        debug["network"] = json!(json!({"connection": network}).to_string());
    }
    event(
        json!({"uuid": uuid, "eventType": "system.api_token.create", "displayMessage": "Create API token",
            "severity": "INFO", "actor": user("00uadmin"), "client": client("167.220.204.212", (32.17, 34.82)),
            "outcome": {"result": "SUCCESS", "reason": null}, "debugContext": {"debugData": debug},
            "target": [{"id": "00Tp5wo4", "type": "Token", "alternateId": "unknown", "displayName": "CI token"}]}),
        ms,
    )
}

/// An event of session `sid` from network `asn` and device hash `device`.
pub fn session_event(uuid: &str, ms: i64, sid: &str, asn: u64, device: &str) -> SystemLogEvent {
    event(
        json!({"uuid": uuid, "eventType": "user.authentication.sso", "displayMessage": "User single sign on to app",
            "severity": "INFO", "actor": user("00uroam"), "client": client("192.0.2.44", (51.5, -0.12)),
            "outcome": {"result": "SUCCESS", "reason": null},
            "authenticationContext": {"authenticationStep": 0, "externalSessionId": sid},
            "securityContext": {"asNumber": asn, "isProxy": false},
            "debugContext": {"debugData": {"dtHash": device}}}),
        ms,
    )
}

/// Any event of `event_type` by `actor`, with `extra` members merged in.
pub fn action(uuid: &str, ms: i64, event_type: &str, actor: &str, extra: Value) -> SystemLogEvent {
    let mut raw = json!({"uuid": uuid, "eventType": event_type, "severity": "INFO",
        "actor": user(actor), "client": client("192.0.2.10", (37.78, -122.39)),
        "outcome": {"result": "SUCCESS", "reason": null}});
    if let (Some(o), Value::Object(more)) = (raw.as_object_mut(), extra) {
        o.extend(more);
    }
    event(raw, ms)
}

/// The detection ids of `alerts`, sorted.
pub fn ids(alerts: &[Alert]) -> Vec<&str> {
    let mut v: Vec<&str> = alerts.iter().map(|a| a.detection.as_str()).collect();
    v.sort();
    v
}

/// The dedupe keys of `alerts`, sorted.
pub fn keys(alerts: &[Alert]) -> Vec<String> {
    let mut v: Vec<String> = alerts.iter().map(|a| a.dedupe_key.clone()).collect();
    v.sort();
    v
}
