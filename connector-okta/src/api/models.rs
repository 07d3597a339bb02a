//! Tolerant typed models of the Okta responses the connector reads. Unknown fields are
//! ignored, unknown enum-like values are kept as plain strings, and nulls, missing fields
//! or fields of an unexpected JSON type read as absent instead of failing.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

/// Lenient field helpers for `#[serde(deserialize_with = ...)]`.
mod lenient {
    use super::*;

    /// A string, or `None` for null, absence or any other JSON type.
    pub fn string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        let v = Value::deserialize(d)?;
        Ok(match v {
            Value::String(s) => Some(s),
            _ => None,
        })
    }

    /// A nested model, or `None` when it is null or does not have the expected shape.
    pub fn model<'de, D: Deserializer<'de>, T: DeserializeOwned>(
        d: D,
    ) -> Result<Option<T>, D::Error> {
        let v = Value::deserialize(d)?;
        if v.is_null() {
            return Ok(None);
        }
        Ok(serde_json::from_value(v).ok())
    }

    /// Any JSON value except null.
    pub fn value<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
        let v = Value::deserialize(d)?;
        Ok(if v.is_null() { None } else { Some(v) })
    }
}

/// Compares an Okta enum-like string case-insensitively.
pub fn is(value: &Option<String>, expected: &str) -> bool {
    value
        .as_deref()
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(expected))
}

/// `GET /api/v1/users` element.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct User {
    #[serde(default, deserialize_with = "lenient::string")]
    pub id: Option<String>,
    /// `ACTIVE`, `SUSPENDED`, `STAGED`, ... (kept verbatim).
    #[serde(default, deserialize_with = "lenient::string")]
    pub status: Option<String>,
    #[serde(default, deserialize_with = "lenient::model")]
    pub profile: Option<UserProfile>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct UserProfile {
    #[serde(default, deserialize_with = "lenient::string")]
    pub login: Option<String>,
}

impl User {
    pub fn login(&self) -> Option<&str> {
        self.profile.as_ref().and_then(|p| p.login.as_deref())
    }
}

/// `GET /api/v1/users/{id}/factors` element.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct Factor {
    #[serde(default, deserialize_with = "lenient::string")]
    pub id: Option<String>,
    /// `sms`, `push`, `webauthn`, `u2f`, `token:software:totp`, `signed_nonce`, ...
    #[serde(default, rename = "factorType", deserialize_with = "lenient::string")]
    pub factor_type: Option<String>,
    /// `OKTA`, `GOOGLE`, `FIDO`, `YUBICO`, ...
    #[serde(default, deserialize_with = "lenient::string")]
    pub provider: Option<String>,
    /// `ACTIVE`, `PENDING_ACTIVATION`, `NOT_SETUP`, ...
    #[serde(default, deserialize_with = "lenient::string")]
    pub status: Option<String>,
}

/// `GET /api/v1/policies?type=ACCESS_POLICY` element.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct Policy {
    #[serde(default, deserialize_with = "lenient::string")]
    pub id: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub status: Option<String>,
    #[serde(default, rename = "type", deserialize_with = "lenient::string")]
    pub policy_type: Option<String>,
}

/// `GET /api/v1/policies/{id}/rules` element (ACCESS_POLICY rules).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct PolicyRule {
    #[serde(default, deserialize_with = "lenient::string")]
    pub id: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub status: Option<String>,
    #[serde(default, rename = "type", deserialize_with = "lenient::string")]
    pub rule_type: Option<String>,
    #[serde(default, deserialize_with = "lenient::model")]
    pub actions: Option<RuleActions>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct RuleActions {
    #[serde(default, rename = "appSignOn", deserialize_with = "lenient::model")]
    pub app_sign_on: Option<AppSignOn>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct AppSignOn {
    /// `ALLOW` or `DENY`.
    #[serde(default, deserialize_with = "lenient::string")]
    pub access: Option<String>,
    /// Kept raw: absent/null matters, and its shape varies (ASSURANCE with `factorMode`
    /// and `constraints` as missing, `[]`, a list or an object; AUTH_METHOD_CHAIN with
    /// `chains` and no `factorMode`).
    #[serde(
        default,
        rename = "verificationMethod",
        deserialize_with = "lenient::value"
    )]
    pub verification_method: Option<Value>,
}

impl PolicyRule {
    pub fn app_sign_on(&self) -> Option<&AppSignOn> {
        self.actions.as_ref().and_then(|a| a.app_sign_on.as_ref())
    }
}

impl AppSignOn {
    /// `verificationMethod.factorMode` when it is a string.
    pub fn factor_mode(&self) -> Option<&str> {
        self.verification_method
            .as_ref()
            .and_then(|v| v.get("factorMode"))
            .and_then(Value::as_str)
    }

    /// `verificationMethod.type` when it is a string.
    pub fn verification_type(&self) -> Option<&str> {
        self.verification_method
            .as_ref()
            .and_then(|v| v.get("type"))
            .and_then(Value::as_str)
    }
}

/// One `target[]` entry of a System Log event.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogTarget {
    pub id: Option<String>,
    pub target_type: Option<String>,
    pub alternate_id: Option<String>,
}

/// A System Log event, read field by field from the JSON object. Top-level keys are looked
/// up exactly first, then case-insensitively (some exports lower-case them, e.g.
/// `eventtype`, `debugcontext`), so duplicates or odd casing never fail the parse.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogEvent {
    pub uuid: Option<String>,
    pub published: Option<String>,
    pub event_type: Option<String>,
    pub actor_id: Option<String>,
    pub actor_type: Option<String>,
    pub actor_alternate_id: Option<String>,
    pub targets: Vec<LogTarget>,
    pub outcome_result: Option<String>,
    pub outcome_reason: Option<String>,
    pub external_session_id: Option<String>,
    /// `authenticationContext.rootSessionId`: the sign-in session the external one
    /// descends from.
    pub root_session_id: Option<String>,
    /// `debugContext.debugData`, raw but only its [`KEPT_DEBUG_KEYS`].
    pub debug_data: Option<Map<String, Value>>,
    /// `securityContext`, raw but only its [`KEPT_SECURITY_KEYS`].
    pub security_context: Option<Map<String, Value>>,
    /// `debugContext.debugData`, raw but only its [`DETECTION_DEBUG_KEYS`].
    pub detection_debug: Option<Map<String, Value>>,
    /// `securityContext`, raw but only its [`DETECTION_SECURITY_KEYS`].
    pub detection_security: Option<Map<String, Value>>,
    /// `client`, when it is an object: where the request came from.
    pub client: Option<LogClient>,
    /// `transaction.detail.requestApiTokenId`: the API token the request that caused
    /// the event was made with.
    pub request_api_token_id: Option<String>,
}

/// The `client` of a System Log event, as far as the detections read it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogClient {
    pub ip_address: Option<String>,
    /// `userAgent.rawUserAgent`.
    pub user_agent: Option<String>,
    /// `geographicalContext.city`.
    pub city: Option<String>,
    /// `geographicalContext.country`.
    pub country: Option<String>,
    /// `geographicalContext.geolocation`, raw but only its [`KEPT_GEOLOCATION_KEYS`].
    pub geolocation: Option<Map<String, Value>>,
}

/// The `debugContext.debugData` keys the KRIs read (matched case-insensitively). The rest
/// (request ids, URLs, hashes, risk text, ...) is dropped when an event is read: a day of
/// System Log is held in memory, and these maps were most of an event's size. A KRI that
/// needs another key adds it here.
pub const KEPT_DEBUG_KEYS: &[&str] = &["behaviors", "logOnlySecurityData", "factor"];

/// The `securityContext` keys the KRIs read (matched case-insensitively).
pub const KEPT_SECURITY_KEYS: &[&str] = &["userBehaviors"];

/// The further `debugContext.debugData` keys the detections (`crate::detect`) read.
pub const DETECTION_DEBUG_KEYS: &[&str] =
    &["dtHash", "changeDetails", "privilegeGranted", "network"];

/// The further `securityContext` keys the detections read.
pub const DETECTION_SECURITY_KEYS: &[&str] = &["asNumber", "isProxy"];

/// The `client.geographicalContext.geolocation` keys the detections read.
pub const KEPT_GEOLOCATION_KEYS: &[&str] = &["lat", "lon"];

/// The members of `obj` whose key is one of `keys`, ignoring case.
fn kept(obj: &Map<String, Value>, keys: &[&str]) -> Map<String, Value> {
    obj.iter()
        .filter(|(k, _)| keys.iter().any(|want| k.eq_ignore_ascii_case(want)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Looks a key up exactly, then case-insensitively.
pub fn get_ci<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

fn str_of(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str).map(str::to_string)
}

fn obj_of(v: Option<&Value>) -> Option<&Map<String, Value>> {
    v.and_then(Value::as_object)
}

fn client_of(c: &Map<String, Value>) -> LogClient {
    let agent = obj_of(get_ci(c, "userAgent"));
    let geo = obj_of(get_ci(c, "geographicalContext"));
    LogClient {
        ip_address: str_of(get_ci(c, "ipAddress")),
        user_agent: agent.and_then(|a| str_of(get_ci(a, "rawUserAgent"))),
        city: geo.and_then(|g| str_of(get_ci(g, "city"))),
        country: geo.and_then(|g| str_of(get_ci(g, "country"))),
        geolocation: geo
            .and_then(|g| obj_of(get_ci(g, "geolocation")))
            .map(|l| kept(l, KEPT_GEOLOCATION_KEYS)),
    }
}

impl LogEvent {
    /// Reads an event from any JSON value; a non-object gives `None`.
    pub fn from_value(v: &Value) -> Option<LogEvent> {
        let o = v.as_object()?;
        let actor = obj_of(get_ci(o, "actor"));
        let outcome = obj_of(get_ci(o, "outcome"));
        let auth = obj_of(get_ci(o, "authenticationContext"));
        let debug = obj_of(get_ci(o, "debugContext"));
        let debug_data = debug.and_then(|d| obj_of(get_ci(d, "debugData")));
        let security = obj_of(get_ci(o, "securityContext"));
        let targets = match get_ci(o, "target") {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(Value::as_object)
                .map(|t| LogTarget {
                    id: str_of(get_ci(t, "id")),
                    target_type: str_of(get_ci(t, "type")),
                    alternate_id: str_of(get_ci(t, "alternateId")),
                })
                .collect(),
            _ => Vec::new(),
        };
        Some(LogEvent {
            uuid: str_of(get_ci(o, "uuid")),
            published: str_of(get_ci(o, "published")),
            event_type: str_of(get_ci(o, "eventType")),
            actor_id: actor.and_then(|a| str_of(get_ci(a, "id"))),
            actor_type: actor.and_then(|a| str_of(get_ci(a, "type"))),
            actor_alternate_id: actor.and_then(|a| str_of(get_ci(a, "alternateId"))),
            targets,
            outcome_result: outcome.and_then(|x| str_of(get_ci(x, "result"))),
            outcome_reason: outcome.and_then(|x| str_of(get_ci(x, "reason"))),
            external_session_id: auth.and_then(|a| str_of(get_ci(a, "externalSessionId"))),
            root_session_id: auth.and_then(|a| str_of(get_ci(a, "rootSessionId"))),
            debug_data: debug_data.map(|d| kept(d, KEPT_DEBUG_KEYS)),
            security_context: security.map(|sc| kept(sc, KEPT_SECURITY_KEYS)),
            detection_debug: debug_data.map(|d| kept(d, DETECTION_DEBUG_KEYS)),
            detection_security: security.map(|sc| kept(sc, DETECTION_SECURITY_KEYS)),
            client: obj_of(get_ci(o, "client")).map(client_of),
            request_api_token_id: obj_of(get_ci(o, "transaction"))
                .and_then(|t| obj_of(get_ci(t, "detail")))
                .and_then(|d| str_of(get_ci(d, "requestApiTokenId"))),
        })
    }

    /// `debugContext.debugData.<key>`.
    pub fn debug(&self, key: &str) -> Option<&Value> {
        self.debug_data.as_ref().and_then(|d| get_ci(d, key))
    }

    /// The published time in epoch milliseconds, when readable.
    pub fn published_ms(&self) -> Option<i64> {
        self.published.as_deref().and_then(crate::time::iso_to_ms)
    }

    /// Ids of `target[]` entries of type `User`.
    pub fn target_user_ids(&self) -> impl Iterator<Item = &str> {
        self.targets
            .iter()
            .filter(|t| is(&t.target_type, "User"))
            .filter_map(|t| t.id.as_deref())
            .filter(|id| !id.is_empty())
    }
}

impl<'de> Deserialize<'de> for LogEvent {
    /// Reads straight from the input, keeping only what `LogEvent` holds (see
    /// `api::log_event`): the same event as [`LogEvent::from_value`] of the same JSON.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        super::log_event::read_event(d)?
            .ok_or_else(|| serde::de::Error::custom("a System Log event must be a JSON object"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn users_tolerate_nulls_and_extra_fields() {
        let cases = vec![
            (
                json!({"id":"00u1","status":"ACTIVE","profile":{"login":"a@x","mobilePhone":null},"_links":{}}),
                Some("00u1"),
                Some("ACTIVE"),
                Some("a@x"),
            ),
            (
                json!({"id":"00u2","status":"SOME_NEW_STATUS","profile":null,"credentials":{"password":{}}}),
                Some("00u2"),
                Some("SOME_NEW_STATUS"),
                None,
            ),
            (
                json!({"id":null,"status":7,"profile":"x"}),
                None,
                None,
                None,
            ),
            (json!({}), None, None, None),
        ];
        for (v, id, status, login) in cases {
            let u: User = serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{v}: {e}"));
            assert_eq!(u.id.as_deref(), id);
            assert_eq!(u.status.as_deref(), status);
            assert_eq!(u.login(), login);
        }
    }

    #[test]
    fn factors_keep_unknown_values() {
        let v = json!([
            {"id":"f1","factorType":"signed_nonce","provider":"OKTA","status":"ACTIVE","profile":{"keys":[]}},
            {"id":"f2","factorType":"webauthn","provider":"FIDO","status":"ACTIVE","vendorName":"FIDO"},
            {"factorType":null,"status":"NOT_SETUP"}
        ]);
        let f: Vec<Factor> = serde_json::from_value(v).unwrap_or_default();
        assert_eq!(f.len(), 3);
        assert_eq!(f[0].factor_type.as_deref(), Some("signed_nonce"));
        assert_eq!(f[1].provider.as_deref(), Some("FIDO"));
        assert_eq!(f[2].factor_type, None);
    }

    #[test]
    fn rules_parse_every_shape() {
        let cases = vec![
            (
                "assurance 2FA",
                json!({"id":"r","status":"ACTIVE","conditions":null,"actions":{"appSignOn":{"access":"ALLOW","verificationMethod":{"factorMode":"2FA","type":"ASSURANCE","reauthenticateIn":"PT12H"}}}}),
                Some("ALLOW"),
                Some("2FA"),
                true,
            ),
            (
                "auth method chain",
                json!({"id":"r","status":"ACTIVE","actions":{"appSignOn":{"access":"ALLOW","verificationMethod":{"type":"AUTH_METHOD_CHAIN","chains":[{"authenticationMethods":[{"key":"webauthn","method":"webauthn"}]}]}}}}),
                Some("ALLOW"),
                None,
                true,
            ),
            (
                "constraints as object",
                json!({"id":"r","actions":{"appSignOn":{"access":"ALLOW","verificationMethod":{"factorMode":"1FA","constraints":{"knowledge":{"required":true}}}}}}),
                Some("ALLOW"),
                Some("1FA"),
                true,
            ),
            (
                "constraints [{}]",
                json!({"id":"r","actions":{"appSignOn":{"access":"DENY","verificationMethod":{"factorMode":"2FA","constraints":[{}]}}}}),
                Some("DENY"),
                Some("2FA"),
                true,
            ),
            (
                "verification null",
                json!({"id":"r","actions":{"appSignOn":{"access":"ALLOW","verificationMethod":null}}}),
                Some("ALLOW"),
                None,
                false,
            ),
            (
                "no actions",
                json!({"id":"r","actions":null,"futureField":{"x":1}}),
                None,
                None,
                false,
            ),
            (
                "actions of a wrong type",
                json!({"id":"r","actions":"weird"}),
                None,
                None,
                false,
            ),
        ];
        for (name, v, access, mode, has_vm) in cases {
            let r: PolicyRule = serde_json::from_value(v).unwrap_or_else(|e| panic!("{name}: {e}"));
            let aso = r.app_sign_on();
            assert_eq!(aso.and_then(|a| a.access.as_deref()), access, "{name}");
            assert_eq!(aso.and_then(|a| a.factor_mode()), mode, "{name}");
            assert_eq!(
                aso.is_some_and(|a| a.verification_method.is_some()),
                has_vm,
                "{name}"
            );
        }
    }

    #[test]
    fn log_event_reads_lower_cased_keys_and_null_targets() {
        let v = json!({
            "uuid":"u1","published":"2024-01-01T00:00:00.000Z","eventtype":"user.session.start",
            "authenticationcontext":{"externalSessionId":"s1"},
            "debugcontext":{"debugData":{"behaviors":"{Velocity=POSITIVE}"}},
            "securitycontext":{"isp":"x"},
            "target":null,"version":"0"
        });
        let e = LogEvent::from_value(&v).unwrap_or_default();
        assert_eq!(e.event_type.as_deref(), Some("user.session.start"));
        assert_eq!(e.external_session_id.as_deref(), Some("s1"));
        assert!(e.debug("behaviors").is_some());
        assert!(e.security_context.is_some());
        assert!(e.targets.is_empty());
        assert_eq!(LogEvent::from_value(&json!("x")), None);
    }

    #[test]
    fn log_event_keeps_only_the_debug_and_security_keys_the_kris_read() {
        let v = json!({
            "uuid": "u1", "eventType": "user.authentication.auth_via_mfa",
            "debugContext": {"debugData": {
                "requestId": "abc", "requestUri": "/idp/idx/authenticators/poll",
                "url": "/idp/idx/authenticators/poll?", "dtHash": "ff00",
                "Factor": "OKTA_VERIFY_PUSH", "behaviors": "{Velocity=POSITIVE}",
                "logOnlySecurityData": "{\"behaviors\":{}}"
            }},
            "securityContext": {"asNumber": 1, "asOrg": "x", "isp": "y", "domain": ".",
                "isProxy": false, "userBehaviors": ["Velocity"]}
        });
        let e = LogEvent::from_value(&v).unwrap_or_default();
        let keys = |m: &Option<Map<String, Value>>| -> Vec<String> {
            m.as_ref()
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default()
        };
        assert_eq!(
            keys(&e.debug_data),
            vec!["Factor", "behaviors", "logOnlySecurityData"]
        );
        assert_eq!(keys(&e.security_context), vec!["userBehaviors"]);
        assert_eq!(
            e.debug("factor").and_then(Value::as_str),
            Some("OKTA_VERIFY_PUSH")
        );
        // Present but with nothing the KRIs read: an empty map, not absent.
        let e = LogEvent::from_value(
            &json!({"debugContext": {"debugData": {"url": "/"}}, "securityContext": {"isp": "z"}}),
        )
        .unwrap_or_default();
        assert_eq!(e.debug_data, Some(Map::new()));
        assert_eq!(e.security_context, Some(Map::new()));
    }
}
