//! The System Log event as the detections read it ([`SystemLogEvent`]): the connector's
//! parsed [`LogEvent`] with its times, places, sessions and debug data turned into plain
//! typed fields, so each detection reads one shape whatever the export's spelling.

use crate::api::models::{get_ci, is, LogEvent};
use crate::kris::impossible_travel::velocity_positive;
use serde_json::{Map, Value};

/// Who did something, or what it was done to.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Party {
    pub id: Option<String>,
    pub alternate_id: Option<String>,
    /// `User`, `Group`, `AppInstance`, `PolicyRule`, ... as Okta gives it.
    pub party_type: Option<String>,
}

/// One System Log event, normalized for the detections.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SystemLogEvent {
    pub uuid: String,
    /// `published`, in ms since the Unix epoch.
    pub published_ms: i64,
    pub event_type: String,
    /// `outcome.result`: `SUCCESS`, `FAILURE`, `DENY`, ...
    pub outcome_result: Option<String>,
    pub outcome_reason: Option<String>,
    pub actor: Party,
    pub targets: Vec<Party>,
    pub client_ip: Option<String>,
    pub city: Option<String>,
    pub country: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    /// `securityContext.asNumber`.
    pub asn: Option<u64>,
    /// `securityContext.isProxy`.
    pub is_proxy: Option<bool>,
    pub external_session_id: Option<String>,
    pub root_session_id: Option<String>,
    pub user_agent: Option<String>,
    /// `debugData.dtHash`: the hash of the device token, when Okta logs one.
    pub device_hash: Option<String>,
    /// Okta's behaviour detection marked Velocity POSITIVE, in any of the three places it
    /// may say so (as the `okta_impossible_travel_24h` KRI reads it).
    pub velocity_positive: bool,
    /// `debugData.factor`: `OKTA_VERIFY_PUSH`, `PASSWORD_AS_FACTOR`, ...
    pub factor: Option<String>,
    /// `debugData.changeDetails`, parsed when it is a JSON string.
    pub change_details: Option<Value>,
    /// `debugData.privilegeGranted`: the roles granted, as text.
    pub privilege_granted: Option<String>,
    /// `debugData.network`, parsed when it is a JSON string: where an API token may be used.
    pub token_network: Option<Value>,
}

fn text(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// A value that may arrive as JSON serialised into a string.
fn structured(v: Option<&Value>) -> Option<Value> {
    match v? {
        Value::Null => None,
        Value::String(s) => {
            Some(serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.clone())))
        }
        other => Some(other.clone()),
    }
}

fn number(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|x: &f64| x.is_finite())
}

fn in_map<'a>(m: &'a Option<Map<String, Value>>, key: &str) -> Option<&'a Value> {
    m.as_ref().and_then(|m| get_ci(m, key))
}

fn blank_to_none(s: &Option<String>) -> Option<String> {
    s.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

impl SystemLogEvent {
    /// Normalizes a parsed event; `None` when it has no `uuid`, no event type or no
    /// readable `published` time (a detection could neither place nor cite it).
    pub fn from_log(ev: &LogEvent) -> Option<SystemLogEvent> {
        let uuid = blank_to_none(&ev.uuid)?;
        let event_type = blank_to_none(&ev.event_type)?;
        let published_ms = ev.published_ms()?;
        let client = ev.client.as_ref();
        let location = client.and_then(|c| c.geolocation.as_ref());
        let coordinate = |key: &str| number(location.and_then(|l| get_ci(l, key)));
        let asn = match in_map(&ev.detection_security, "asNumber") {
            Some(Value::Number(n)) => n.as_u64(),
            Some(Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        };
        let is_proxy = match in_map(&ev.detection_security, "isProxy") {
            Some(Value::Bool(b)) => Some(*b),
            Some(Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        };
        Some(SystemLogEvent {
            uuid,
            published_ms,
            event_type,
            outcome_result: blank_to_none(&ev.outcome_result),
            outcome_reason: blank_to_none(&ev.outcome_reason),
            actor: Party {
                id: blank_to_none(&ev.actor_id),
                alternate_id: blank_to_none(&ev.actor_alternate_id),
                party_type: blank_to_none(&ev.actor_type),
            },
            targets: ev
                .targets
                .iter()
                .map(|t| Party {
                    id: blank_to_none(&t.id),
                    alternate_id: blank_to_none(&t.alternate_id),
                    party_type: blank_to_none(&t.target_type),
                })
                .collect(),
            client_ip: client.and_then(|c| blank_to_none(&c.ip_address)),
            city: client.and_then(|c| blank_to_none(&c.city)),
            country: client.and_then(|c| blank_to_none(&c.country)),
            latitude: coordinate("lat").filter(|x| (-90.0..=90.0).contains(x)),
            longitude: coordinate("lon").filter(|x| (-180.0..=180.0).contains(x)),
            asn,
            is_proxy,
            external_session_id: blank_to_none(&ev.external_session_id)
                .filter(|s| !s.eq_ignore_ascii_case("unknown")),
            root_session_id: blank_to_none(&ev.root_session_id)
                .filter(|s| !s.eq_ignore_ascii_case("unknown")),
            user_agent: client.and_then(|c| blank_to_none(&c.user_agent)),
            device_hash: text(in_map(&ev.detection_debug, "dtHash")),
            velocity_positive: velocity_positive(ev),
            factor: text(ev.debug("factor")),
            change_details: structured(in_map(&ev.detection_debug, "changeDetails")),
            privilege_granted: text(in_map(&ev.detection_debug, "privilegeGranted")),
            token_network: structured(in_map(&ev.detection_debug, "network")),
        })
    }

    /// Whether `outcome.result` is `result` (ignoring case).
    pub fn outcome_is(&self, result: &str) -> bool {
        is(&self.outcome_result, result)
    }

    /// Whether the action did not take place (outcome FAILURE or DENY).
    pub fn failed(&self) -> bool {
        self.outcome_is("FAILURE") || self.outcome_is("DENY")
    }

    /// Whether the factor (from `debugData.factor`) is `factor`, ignoring case.
    pub fn factor_is(&self, factor: &str) -> bool {
        is(&self.factor, factor)
    }

    /// The session the event belongs to: the root session when Okta names one, else
    /// the external session.
    pub fn session(&self) -> Option<&str> {
        self.root_session_id
            .as_deref()
            .or(self.external_session_id.as_deref())
    }

    /// The first target of type `User`.
    pub fn target_user(&self) -> Option<&Party> {
        self.targets
            .iter()
            .find(|t| is(&t.party_type, "User") && (t.id.is_some() || t.alternate_id.is_some()))
    }

    /// Whether the actor is a user (not an app, an IP address or Okta itself).
    pub fn actor_is_user(&self) -> bool {
        is(&self.actor.party_type, "User")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_every_field_the_detections_use() {
        let raw = json!({
            "uuid": "e1", "published": "2026-11-23T10:00:00.250Z",
            "eventType": "user.session.start",
            "outcome": {"result": "SUCCESS", "reason": null},
            "actor": {"id": "00u1", "type": "User", "alternateId": "ann@example.com"},
            "target": [{"id": "00u2", "type": "User", "alternateId": "bob@example.com"}],
            "client": {"ipAddress": "198.51.100.7", "userAgent": {"rawUserAgent": "UA/1"},
                "geographicalContext": {"city": "Lyon", "country": "France",
                    "geolocation": {"lat": 45.76, "lon": 4.84}}},
            "securityContext": {"asNumber": 3215, "isProxy": false},
            "authenticationContext": {"externalSessionId": "102x", "rootSessionId": "102r"},
            "debugContext": {"debugData": {"dtHash": "d1", "factor": "OKTA_VERIFY_PUSH",
                "behaviors": "{Velocity=POSITIVE}", "privilegeGranted": "Super administrator",
                "changeDetails": "{\"from\":{\"factorMode\":\"2FA\"},\"to\":{\"factorMode\":\"1FA\"}}",
                "network": "{\"connection\":\"ANYWHERE\"}"}}
        });
        let log = LogEvent::from_value(&raw).unwrap_or_default();
        let ev = SystemLogEvent::from_log(&log).unwrap_or_default();
        assert_eq!(ev.uuid, "e1");
        assert_eq!(ev.published_ms, 1_795_428_000_250);
        assert_eq!(ev.actor.alternate_id.as_deref(), Some("ann@example.com"));
        assert_eq!(ev.target_user().and_then(|t| t.id.as_deref()), Some("00u2"));
        assert_eq!(ev.client_ip.as_deref(), Some("198.51.100.7"));
        assert_eq!(ev.user_agent.as_deref(), Some("UA/1"));
        assert_eq!(
            (ev.city.as_deref(), ev.country.as_deref()),
            (Some("Lyon"), Some("France"))
        );
        assert_eq!((ev.latitude, ev.longitude), (Some(45.76), Some(4.84)));
        assert_eq!((ev.asn, ev.is_proxy), (Some(3215), Some(false)));
        assert_eq!(ev.session(), Some("102r"));
        assert_eq!(ev.external_session_id.as_deref(), Some("102x"));
        assert_eq!(ev.device_hash.as_deref(), Some("d1"));
        assert!(ev.velocity_positive);
        assert!(ev.factor_is("okta_verify_push"));
        assert_eq!(ev.privilege_granted.as_deref(), Some("Super administrator"));
        assert_eq!(
            ev.change_details,
            Some(json!({"from":{"factorMode":"2FA"},"to":{"factorMode":"1FA"}}))
        );
        assert_eq!(ev.token_network, Some(json!({"connection":"ANYWHERE"})));
    }

    #[test]
    fn events_without_uuid_type_or_time_are_left_out() {
        for raw in [
            json!({"eventType": "x", "published": "2026-01-01T00:00:00Z"}),
            json!({"uuid": "u", "published": "2026-01-01T00:00:00Z"}),
            json!({"uuid": "u", "eventType": "x", "published": "yesterday"}),
            json!({"uuid": " ", "eventType": "x", "published": "2026-01-01T00:00:00Z"}),
        ] {
            let log = LogEvent::from_value(&raw).unwrap_or_default();
            assert_eq!(SystemLogEvent::from_log(&log), None, "{raw}");
        }
    }

    #[test]
    fn odd_values_read_as_absent() {
        let raw = json!({
            "uuid": "e2", "published": "2026-01-01 00:00:00.000", "eventType": "x",
            "client": {"geographicalContext": {"geolocation": {"lat": 123.0, "lon": "x"}}},
            "securityContext": {"asNumber": "7018", "isProxy": "true"},
            "authenticationContext": {"externalSessionId": "unknown"}
        });
        let ev = SystemLogEvent::from_log(&LogEvent::from_value(&raw).unwrap_or_default())
            .unwrap_or_default();
        assert_eq!((ev.latitude, ev.longitude), (None, None));
        assert_eq!((ev.asn, ev.is_proxy), (Some(7018), Some(true)));
        assert_eq!(ev.session(), None);
    }
}
