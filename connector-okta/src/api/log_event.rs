//! Reads a System Log event ([`LogEvent`]) straight from the input: only the members the
//! connector keeps are built, everything else is skipped without allocating. The result
//! is the one [`LogEvent::from_value`] gives for the same JSON (keys looked up exactly,
//! then ignoring ASCII case, as `get_ci` does; a member of an unexpected type is absent),
//! which the tests below check over varied and real events.

use super::models::{
    LogClient, LogEvent, LogTarget, DETECTION_DEBUG_KEYS, DETECTION_SECURITY_KEYS, KEPT_DEBUG_KEYS,
    KEPT_GEOLOCATION_KEYS, KEPT_SECURITY_KEYS,
};
use kri_connector_sdk::json::{Kept, Key, KeySeed, Shape, Skip, Slot, Str, StrFields, Tolerant};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;

/// The top-level members read, by index.
const TOP: &[&str; 11] = &[
    "uuid",
    "published",
    "eventType",
    "actor",
    "target",
    "outcome",
    "authenticationContext",
    "debugContext",
    "securityContext",
    "client",
    "transaction",
];
const UUID: usize = 0;
const PUBLISHED: usize = 1;
const EVENT_TYPE: usize = 2;
const ACTOR: usize = 3;
const TARGET: usize = 4;
const OUTCOME: usize = 5;
const AUTH_CONTEXT: usize = 6;
const DEBUG_CONTEXT: usize = 7;
const SECURITY_CONTEXT: usize = 8;
const CLIENT: usize = 9;
const TRANSACTION: usize = 10;

/// `actor` and each `target[]` entry: `id`, `type`, `alternateId`.
const PARTY: &[&str; 3] = &["id", "type", "alternateId"];
const OUTCOME_FIELDS: &[&str; 2] = &["result", "reason"];
const AUTH_FIELDS: &[&str; 2] = &["externalSessionId", "rootSessionId"];
const DEBUG_DATA: &[&str; 1] = &["debugData"];
/// `client`: `ipAddress`, `userAgent` (its `rawUserAgent`), `geographicalContext`.
const CLIENT_FIELDS: &[&str; 3] = &["ipAddress", "userAgent", "geographicalContext"];
const USER_AGENT_FIELDS: &[&str; 1] = &["rawUserAgent"];
const GEO_FIELDS: &[&str; 3] = &["city", "country", "geolocation"];
const TRANSACTION_FIELDS: &[&str; 1] = &["detail"];
const DETAIL_FIELDS: &[&str; 1] = &["requestApiTokenId"];

/// City, country and the kept `geolocation` members.
type GeoParts = (Option<String>, Option<String>, Option<Map<String, Value>>);

/// Reads one event; `Ok(None)` when the value is not a JSON object (it is consumed all
/// the same). Fails only on input that is not JSON.
pub fn read_event<'de, D: Deserializer<'de>>(d: D) -> Result<Option<LogEvent>, D::Error> {
    Tolerant(Event).deserialize(d)
}

/// A whole event.
struct Event;

impl<'de> Shape<'de> for Event {
    type Out = Option<LogEvent>;

    fn object<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<LogEvent>, A::Error> {
        let mut uuid = Slot::default();
        let mut published = Slot::default();
        let mut event_type = Slot::default();
        let mut actor = Slot::default();
        let mut target = Slot::default();
        let mut outcome = Slot::default();
        let mut auth = Slot::default();
        let mut debug = Slot::default();
        let mut security = Slot::default();
        let mut client = Slot::default();
        let mut transaction = Slot::default();
        while let Some(key) = map.next_key_seed(KeySeed(TOP))? {
            let (i, folded) = match key {
                Key::Exact(i) => (i, None),
                Key::Folded(i, k) => (i, Some(k)),
                Key::Other => {
                    map.next_value::<Skip>()?;
                    continue;
                }
            };
            let m = &mut map;
            match i {
                UUID => uuid.read(m, folded, Str)?,
                PUBLISHED => published.read(m, folded, Str)?,
                EVENT_TYPE => event_type.read(m, folded, Str)?,
                ACTOR => actor.read(m, folded, StrFields(PARTY))?,
                TARGET => target.read(m, folded, Targets)?,
                OUTCOME => outcome.read(m, folded, StrFields(OUTCOME_FIELDS))?,
                AUTH_CONTEXT => auth.read(m, folded, StrFields(AUTH_FIELDS))?,
                DEBUG_CONTEXT => debug.read(m, folded, DebugContext)?,
                SECURITY_CONTEXT => security.read(
                    m,
                    folded,
                    KeptSplit(KEPT_SECURITY_KEYS, DETECTION_SECURITY_KEYS),
                )?,
                CLIENT => client.read(m, folded, Client)?,
                TRANSACTION => transaction.read(m, folded, Transaction)?,
                _ => {
                    m.next_value::<Skip>()?;
                }
            }
        }
        let [actor_id, actor_type, actor_alternate_id] =
            actor.resolve().flatten().unwrap_or_default();
        let [outcome_result, outcome_reason] = outcome.resolve().flatten().unwrap_or_default();
        let (debug_data, debug_data_detect) = match debug.resolve().flatten().flatten() {
            Some((kris, detect)) => (Some(kris), Some(detect)),
            None => (None, None),
        };
        let security = security.resolve().flatten();
        let [external_session_id, root_session_id] = auth.resolve().flatten().unwrap_or_default();
        Ok(Some(LogEvent {
            uuid: uuid.resolve().flatten(),
            published: published.resolve().flatten(),
            event_type: event_type.resolve().flatten(),
            actor_id,
            actor_type,
            actor_alternate_id,
            targets: target.resolve().flatten().unwrap_or_default(),
            outcome_result,
            outcome_reason,
            external_session_id,
            root_session_id,
            debug_data,
            security_context: security.as_ref().map(|(kris, _)| kris.clone()),
            detection_debug: debug_data_detect,
            detection_security: security.map(|(_, detect)| detect),
            client: client.resolve().flatten(),
            request_api_token_id: transaction.resolve().flatten().flatten(),
        }))
    }
}

/// `target`: an array whose object entries become [`LogTarget`]s (other entries are
/// dropped); anything but an array is absent.
struct Targets;

impl<'de> Shape<'de> for Targets {
    type Out = Option<Vec<LogTarget>>;

    fn array<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Out, A::Error> {
        let mut out = Vec::new();
        while let Some(entry) = seq.next_element_seed(Tolerant(StrFields(PARTY)))? {
            if let Some([id, target_type, alternate_id]) = entry {
                out.push(LogTarget {
                    id,
                    target_type,
                    alternate_id,
                });
            }
        }
        Ok(Some(out))
    }
}

/// `client`: its IP address, raw user agent and geographical context; anything but an
/// object is absent.
struct Client;

impl<'de> Shape<'de> for Client {
    type Out = Option<LogClient>;

    fn object<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Out, A::Error> {
        let mut ip = Slot::default();
        let mut agent = Slot::default();
        let mut geo = Slot::default();
        while let Some(key) = map.next_key_seed(KeySeed(CLIENT_FIELDS))? {
            let (i, folded) = match key {
                Key::Exact(i) => (i, None),
                Key::Folded(i, k) => (i, Some(k)),
                Key::Other => {
                    map.next_value::<Skip>()?;
                    continue;
                }
            };
            match i {
                0 => ip.read(&mut map, folded, Str)?,
                1 => agent.read(&mut map, folded, StrFields(USER_AGENT_FIELDS))?,
                _ => geo.read(&mut map, folded, Geo)?,
            }
        }
        let [user_agent] = agent.resolve().flatten().unwrap_or_default();
        let (city, country, geolocation) = geo.resolve().flatten().unwrap_or_default();
        Ok(Some(LogClient {
            ip_address: ip.resolve().flatten(),
            user_agent,
            city,
            country,
            geolocation,
        }))
    }
}

/// `client.geographicalContext`: city, country and the `lat`/`lon` of `geolocation`.
struct Geo;

impl<'de> Shape<'de> for Geo {
    type Out = Option<GeoParts>;

    fn object<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Out, A::Error> {
        let mut city = Slot::default();
        let mut country = Slot::default();
        let mut location = Slot::default();
        while let Some(key) = map.next_key_seed(KeySeed(GEO_FIELDS))? {
            let (i, folded) = match key {
                Key::Exact(i) => (i, None),
                Key::Folded(i, k) => (i, Some(k)),
                Key::Other => {
                    map.next_value::<Skip>()?;
                    continue;
                }
            };
            match i {
                0 => city.read(&mut map, folded, Str)?,
                1 => country.read(&mut map, folded, Str)?,
                _ => location.read(&mut map, folded, Kept(KEPT_GEOLOCATION_KEYS))?,
            }
        }
        Ok(Some((
            city.resolve().flatten(),
            country.resolve().flatten(),
            location.resolve().flatten(),
        )))
    }
}

/// `debugContext`: an object whose `debugData` object is kept (its
/// [`KEPT_DEBUG_KEYS`] and, apart, its [`DETECTION_DEBUG_KEYS`]). Outer `None`: not an
/// object; inner: no usable `debugData`.
struct DebugContext;

/// The members of an object under the first list of keys and, apart, under the second
/// (each ignoring ASCII case), as raw values: what `kept` in `models` makes of the whole
/// object with each list. Anything but an object is absent.
struct KeptSplit(&'static [&'static str], &'static [&'static str]);

impl<'de> Shape<'de> for KeptSplit {
    type Out = Option<(Map<String, Value>, Map<String, Value>)>;

    fn object<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Out, A::Error> {
        let (mut first, mut second) = (Map::new(), Map::new());
        while let Some(key) = map.next_key_seed(SplitKeySeed(self.0, self.1))? {
            // `insert` as `Value`'s own map building does: a later duplicate wins.
            match key {
                Some((key, true)) => {
                    first.insert(key, map.next_value()?);
                }
                Some((key, false)) => {
                    second.insert(key, map.next_value()?);
                }
                None => {
                    map.next_value::<Skip>()?;
                }
            }
        }
        Ok(Some((first, second)))
    }
}

/// How `debugData` is split: the KRIs' keys, then the detections'.
const DEBUG_SPLIT: KeptSplit = KeptSplit(KEPT_DEBUG_KEYS, DETECTION_DEBUG_KEYS);

/// Reads an object key: `Some((key, true))` when it is one of the first list ignoring
/// ASCII case, `Some((key, false))` when one of the second, else `None` (no allocation).
struct SplitKeySeed(&'static [&'static str], &'static [&'static str]);

impl<'de> DeserializeSeed<'de> for SplitKeySeed {
    type Value = Option<(String, bool)>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for SplitKeySeed {
    type Value = Option<(String, bool)>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object key")
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
        let within = |names: &[&str]| names.iter().any(|n| n.eq_ignore_ascii_case(s));
        Ok(if within(self.0) {
            Some((s.to_string(), true))
        } else if within(self.1) {
            Some((s.to_string(), false))
        } else {
            None
        })
    }
}

impl<'de> Shape<'de> for DebugContext {
    type Out = Option<Option<(Map<String, Value>, Map<String, Value>)>>;

    fn object<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Out, A::Error> {
        let mut data = Slot::default();
        while let Some(key) = map.next_key_seed(KeySeed(DEBUG_DATA))? {
            match key {
                Key::Exact(_) => data.read(&mut map, None, DEBUG_SPLIT)?,
                Key::Folded(_, k) => data.read(&mut map, Some(k), DEBUG_SPLIT)?,
                Key::Other => {
                    map.next_value::<Skip>()?;
                }
            }
        }
        Ok(Some(data.resolve().flatten()))
    }
}

/// `transaction`: an object whose `detail` object's `requestApiTokenId` string is kept.
/// Outer `None`: not an object; inner: no such string.
struct Transaction;

impl<'de> Shape<'de> for Transaction {
    type Out = Option<Option<String>>;

    fn object<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Out, A::Error> {
        let mut detail = Slot::default();
        while let Some(key) = map.next_key_seed(KeySeed(TRANSACTION_FIELDS))? {
            match key {
                Key::Exact(_) => detail.read(&mut map, None, StrFields(DETAIL_FIELDS))?,
                Key::Folded(_, k) => detail.read(&mut map, Some(k), StrFields(DETAIL_FIELDS))?,
                Key::Other => {
                    map.next_value::<Skip>()?;
                }
            }
        }
        Ok(Some(detail.resolve().flatten().and_then(|[token]| token)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{parse_page, ApiError, LOGS};
    use std::path::PathBuf;

    /// An event read straight from `text`, and the same text read into a `Value` and
    /// then through `LogEvent::from_value`; errors as serde_json's messages.
    type Pair = (
        Result<Option<LogEvent>, String>,
        Result<Option<LogEvent>, String>,
    );

    fn both(text: &str) -> Pair {
        let mut de = serde_json::Deserializer::from_str(text);
        let streamed = read_event(&mut de)
            .and_then(|ev| de.end().map(|()| ev))
            .map_err(|e| e.to_string());
        let reference = serde_json::from_str::<Value>(text)
            .map(|v| LogEvent::from_value(&v))
            .map_err(|e| e.to_string());
        (streamed, reference)
    }

    /// Checks both paths agree on `text`, and also when the event is read from a `Value`
    /// (`serde_json::from_value`, the `Deserialize` impl over a `Value` deserializer).
    fn agree(name: &str, text: &str) -> Result<Option<LogEvent>, String> {
        let (streamed, reference) = both(text);
        assert_eq!(streamed, reference, "{name}: {text}");
        if let Ok(v) = serde_json::from_str::<Value>(text) {
            let via_value = serde_json::from_value::<LogEvent>(v.clone()).ok();
            assert_eq!(via_value, LogEvent::from_value(&v), "{name} (from a Value)");
        }
        streamed
    }

    fn event(name: &str, text: &str) -> LogEvent {
        match agree(name, text) {
            Ok(Some(ev)) => ev,
            other => panic!("{name}: {other:?}"),
        }
    }

    #[test]
    fn streamed_events_equal_from_value() {
        let nested = |depth: usize| {
            format!(
                r#"{{"uuid":"u","x":{}1{}}}"#,
                "[".repeat(depth),
                "]".repeat(depth)
            )
        };
        let cases: Vec<(&str, String)> = vec![
            ("empty", r#"{}"#.into()),
            (
                "typical",
                r#"{"actor":{"id":"00u1","type":"User","alternateId":"a@x.com","displayName":"A","detailEntry":null},
                "client":{"userAgent":{"rawUserAgent":"UA","os":"Mac OS X","browser":"CHROME"},"zone":"null","device":"Computer","id":null,"ipAddress":"10.0.0.1","geographicalContext":{"city":"NYC","state":"NY","country":"US","postalCode":"10001","geolocation":{"lat":40.7,"lon":-74.0}}},
                "authenticationContext":{"authenticationProvider":null,"credentialProvider":null,"credentialType":null,"issuer":null,"interface":null,"authenticationStep":0,"externalSessionId":"102abc"},
                "displayMessage":"User login to Okta","eventType":"user.session.start","outcome":{"result":"SUCCESS","reason":null},
                "published":"2024-01-01T00:00:00.000Z","securityContext":{"asNumber":1,"asOrg":"o","isp":"i","domain":"d","isProxy":false,"userBehaviors":["Velocity"]},
                "severity":"INFO","debugContext":{"debugData":{"requestId":"r","requestUri":"/u","url":"/u?","behaviors":"{Velocity=POSITIVE}","Factor":"OKTA_VERIFY_PUSH","logOnlySecurityData":"{\"behaviors\":{}}"}},
                "legacyEventType":"core.user_auth.login_success","transaction":{"type":"WEB","id":"t","detail":{}},
                "uuid":"dc9fd3c0-598c-11ef-8478-2b7584bf8d5a","version":"0",
                "request":{"ipChain":[{"ip":"10.0.0.1","geographicalContext":{},"version":"V4","source":null}]},
                "target":[{"id":"0oa1","type":"AppInstance","alternateId":"App","displayName":"App","detailEntry":{"signOnModeType":"SAML_2_0"}},{"id":"00u1","type":"User","alternateId":"a@x.com"}]}"#.into(),
            ),
            (
                "lower-cased keys (Panther)",
                r#"{"uuid":"u1","eventtype":"user.session.start","authenticationcontext":{"externalsessionid":"s1"},
                "debugcontext":{"debugdata":{"behaviors":"{Velocity=POSITIVE}","FACTOR":"x"}},"securitycontext":{"userbehaviors":1},"target":null}"#.into(),
            ),
            ("exact key after a folded one", r#"{"eventtype":"a","eventType":"b"}"#.into()),
            ("exact key before a folded one", r#"{"eventType":"b","eventtype":"a"}"#.into()),
            ("two folded spellings", r#"{"eventtype":"b","EVENTTYPE":"a"}"#.into()),
            ("two folded spellings, reversed", r#"{"EVENTTYPE":"a","eventtype":"b"}"#.into()),
            (
                "three folded spellings, duplicated",
                r#"{"EventType":"x","eventtype":"y","EVENTtype":"w","EventType":"z"}"#.into(),
            ),
            ("duplicate exact key: the last wins", r#"{"uuid":"a","uuid":"b"}"#.into()),
            ("duplicate folded key", r#"{"UUID":"a","uuid2":1,"UUID":"b"}"#.into()),
            ("exact key of a wrong type wins", r#"{"eventtype":"x","eventType":5}"#.into()),
            ("folded key of a wrong type", r#"{"EventType":7,"eventtype":"x"}"#.into()),
            ("later duplicate of a wrong type", r#"{"uuid":"a","uuid":null}"#.into()),
            (
                "nested keys folded",
                r#"{"actor":{"ID":"a","id":"b","Type":"User","alternateid":"x@y","ALTERNATEID":"z@y"}}"#.into(),
            ),
            ("actor twice", r#"{"actor":{"id":"a"},"Actor":{"id":"b"}}"#.into()),
            ("actor folded twice", r#"{"Actor":{"id":"b"},"ACTOR":{"id":"a"}}"#.into()),
            ("actor folded then exact non-object", r#"{"ACTOR":{"id":"a"},"actor":"me"}"#.into()),
            (
                "wrong types everywhere",
                r#"{"uuid":1,"published":null,"eventType":["x"],"actor":"x","target":{"id":"x"},"outcome":[],
                "authenticationContext":true,"debugContext":"x","securityContext":[1]}"#.into(),
            ),
            (
                "wrong nested types",
                r#"{"actor":{"id":1,"type":null,"alternateId":{"a":"b"}},"outcome":{"result":false,"reason":[]},
                "authenticationContext":{"externalSessionId":1.5},"debugContext":{"debugData":[{"factor":"x"}]},"securityContext":null}"#.into(),
            ),
            (
                "mixed targets",
                r#"{"target":[{"id":"a","type":"User"},null,"x",5,[],{"ID":"b","TYPE":"AppUser","alternateId":"b@x"},{},{"id":"c","id":"d"}]}"#.into(),
            ),
            ("targets twice", r#"{"target":[{"id":"a"}],"Target":[{"id":"b"}],"target":null}"#.into()),
            ("empty targets", r#"{"target":[]}"#.into()),
            ("debugData null", r#"{"debugContext":{"debugData":null}}"#.into()),
            ("debugContext empty", r#"{"debugContext":{}}"#.into()),
            (
                "debugData with case variants and raw values",
                r#"{"debugContext":{"debugData":{"Factor":"x","factor":"y","FACTOR":1,"other":2,"behaviors":{"a":[1,2.5,{"b":null}]},"factor":"z"}}}"#.into(),
            ),
            (
                "debugData folded twice",
                r#"{"debugContext":{"debugdata":{"factor":"x"},"DebugData":{"factor":"y"}}}"#.into(),
            ),
            (
                "debugData exact after folded",
                r#"{"debugContext":{"debugdata":{"factor":"b"},"debugData":{"factor":"a"}},"DEBUGCONTEXT":{"debugData":{"factor":"c"}}}"#.into(),
            ),
            (
                "debugContext folded twice",
                r#"{"debugcontext":{"debugData":{"factor":"b"}},"DebugContext":{"debugData":{"behaviors":"c"}}}"#.into(),
            ),
            (
                "securityContext variants",
                r#"{"securityContext":{"userBehaviors":["a"],"USERBEHAVIORS":"x","isp":"y","userBehaviors":{"b":1}}}"#.into(),
            ),
            (
                "securityContext folded and null",
                r#"{"securitycontext":null,"SecurityContext":{"userbehaviors":1}}"#.into(),
            ),
            ("escaped keys", r#"{"event\u0054ype":"x","\u0075uid":"u","actor":{"\u0069d":"\"q\""}}"#.into()),
            (
                "non-ASCII keys and values",
                r#"{"évent":"x","uuid":"ü\u00e9\ud83d\ude00","UUİD":"no","eventType":"événement"}"#.into(),
            ),
            (
                "numbers of every kind",
                r#"{"a":-0,"b":1.5e-300,"c":18446744073709551616,"d":-9223372036854775809,"e":1E+2,"uuid":"n"}"#.into(),
            ),
            ("deep but allowed nesting", nested(100)),
            ("not an object: string", r#""x""#.into()),
            ("not an object: number", "5".into()),
            ("not an object: null", "null".into()),
            ("not an object: array", r#"[{"uuid":"a"}]"#.into()),
            // Input that is not JSON (or that serde_json refuses as a `Value`) stays an
            // error, with the same message and position.
            ("number out of range", r#"{"uuid":"a","x":1e400}"#.into()),
            ("lone surrogate in a skipped string", r#"{"x":"\ud800","uuid":"a"}"#.into()),
            ("lone surrogate in a kept string", r#"{"uuid":"\udc00"}"#.into()),
            ("lone surrogate in a skipped key", r#"{"\ud800x":1}"#.into()),
            (
                "lone surrogate in a kept debug value",
                r#"{"debugContext":{"debugData":{"factor":"\ud800"}}}"#.into(),
            ),
            ("invalid escape", r#"{"x":"\q"}"#.into()),
            ("control character", "{\"x\":\"a\u{1}b\"}".into()),
            ("nesting too deep", nested(130)),
            ("trailing characters", r#"{"uuid":"a"} x"#.into()),
            ("trailing comma", r#"{"uuid":"a",}"#.into()),
            ("unterminated", r#"{"uuid":"a","target":[{"id":"b"}"#.into()),
            ("key not a string", r#"{1:"a"}"#.into()),
            ("empty input", "".into()),
        ];
        for (name, text) in &cases {
            let _ = agree(name, text);
        }

        // A few outcomes spelt out, so that agreement is not agreement on nothing.
        let ev = |name: &str| -> LogEvent {
            let text = &cases
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, t)| t.clone());
            event(name, text.as_deref().unwrap_or("{}"))
        };
        assert_eq!(
            ev("exact key after a folded one").event_type.as_deref(),
            Some("b")
        );
        assert_eq!(ev("two folded spellings").event_type.as_deref(), Some("a"));
        assert_eq!(
            ev("three folded spellings, duplicated")
                .event_type
                .as_deref(),
            Some("w")
        );
        assert_eq!(ev("exact key of a wrong type wins").event_type, None);
        assert_eq!(
            ev("duplicate exact key: the last wins").uuid.as_deref(),
            Some("b")
        );
        assert_eq!(ev("nested keys folded").actor_id.as_deref(), Some("b"));
        assert_eq!(ev("actor folded then exact non-object").actor_id, None);
        let typical = ev("typical");
        assert_eq!(typical.targets.len(), 2);
        assert_eq!(typical.external_session_id.as_deref(), Some("102abc"));
        assert_eq!(typical.debug_data.as_ref().map(Map::len), Some(3));
        assert_eq!(ev("mixed targets").targets.len(), 4);
        assert_eq!(ev("targets twice").targets, vec![]);
        assert_eq!(ev("debugData null").debug_data, None);
        assert_eq!(ev("debugContext empty").debug_data, None);
        assert_eq!(
            ev("debugData with case variants and raw values")
                .debug("factor")
                .and_then(Value::as_str),
            Some("z")
        );
        assert_eq!(ev("escaped keys").event_type.as_deref(), Some("x"));
        for name in ["not an object: string", "not an object: array"] {
            assert_eq!(both(cases_text(&cases, name)).0, Ok(None), "{name}");
        }
        for name in [
            "number out of range",
            "lone surrogate in a skipped string",
            "nesting too deep",
        ] {
            assert!(both(cases_text(&cases, name)).0.is_err(), "{name}");
        }
    }

    fn cases_text<'a>(cases: &'a [(&str, String)], name: &str) -> &'a str {
        cases
            .iter()
            .find(|(n, _)| *n == name)
            .map_or("", |(_, t)| t.as_str())
    }

    #[test]
    fn deserialize_impl_reads_objects_only() {
        let ev: Result<LogEvent, _> = serde_json::from_str(r#"{"uuid":"a","eventtype":"t"}"#);
        assert_eq!(ev.ok().and_then(|e| e.event_type), Some("t".to_string()));
        for text in [r#""x""#, "[]", "null", "3"] {
            let err = serde_json::from_str::<LogEvent>(text)
                .err()
                .map(|e| e.to_string());
            assert_eq!(
                err.as_deref(),
                Some("a System Log event must be a JSON object"),
                "{text}"
            );
        }
    }

    #[test]
    fn synthetic_events_equal_from_value() {
        let now = 1_795_400_000_000;
        for (i, line) in kri_bench_guest::bench::synthetic_log_jsonl(3000, now, 7)
            .iter()
            .enumerate()
        {
            event(&format!("synthetic #{i}"), line);
        }
    }

    /// The old page parser: the whole body as one `Value`, then `from_value` per element.
    fn tree_page(body: &[u8]) -> Result<(Vec<LogEvent>, u64), String> {
        let value: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON ({e})"))?;
        let Value::Array(elements) = value else {
            return Err("expected a JSON array".to_string());
        };
        let mut items = Vec::new();
        let mut skipped = 0;
        for element in &elements {
            match LogEvent::from_value(element) {
                Some(ev) => items.push(ev),
                None => skipped += 1,
            }
        }
        Ok((items, skipped))
    }

    /// `parse_page` against [`tree_page`], errors compared by their message.
    fn same_page(name: &str, body: &[u8]) -> Result<(Vec<LogEvent>, u64), String> {
        let got = parse_page::<LogEvent>(LOGS, "https://x.okta.com/api/v1/logs?limit=2", body)
            .map_err(|e| match e {
                ApiError::Fatal(kri_connector_sdk::types::ConnectorError::MalformedResponse(m)) => {
                    assert!(m.starts_with("/api/v1/logs: the response to GET /api/v1/logs?limit=2 is not readable: "), "{name}: {m}");
                    m.rsplit_once("is not readable: ").map_or(m.clone(), |(_, why)| why.to_string())
                }
                other => panic!("{name}: {other:?}"),
            });
        assert_eq!(got, tree_page(body), "{name}");
        got
    }

    #[test]
    fn streamed_pages_equal_the_value_tree() {
        let nest = |depth: usize| {
            let (open, close) = ("[".repeat(depth), "]".repeat(depth));
            format!(r#"[{{"x":{open}{close}}}]"#).into_bytes()
        };
        let b = |text: &str| text.as_bytes().to_vec();
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("empty", b("[]")),
            (
                "events and others",
                b(
                    r#" [ {"uuid":"a"}, "x", 3, null, [1,[2]], {"uuid":"b","target":[{"id":"c"}]}, {} ] "#,
                ),
            ),
            ("object body", b(r#"{"errorCode":"E0000001"}"#)),
            ("string body", b(r#""[]""#)),
            ("object body with trailing garbage", b(r#"{"a":1} x"#)),
            ("html", b("<html></html>")),
            ("nothing", b("")),
            ("truncated", b(r#"[{"uuid":"a"},{"uuid":"#)),
            ("trailing comma", b(r#"[{"uuid":"a"},]"#)),
            ("two arrays", b("[][]")),
            (
                "bad UTF-8, skipped string",
                b"[{\"uuid\":\"a\",\"x\":\"\xff\"}]".to_vec(),
            ),
            ("bad UTF-8, kept string", b"[{\"uuid\":\"\xc3\"}]".to_vec()),
            (
                "bad UTF-8 outside strings",
                b"[{\"uuid\":\"a\"}\xff]".to_vec(),
            ),
            ("lone surrogate", b(r#"[{"uuid":"a"},{"x":"\udfff"}]"#)),
            ("number out of range", b(r#"[{"uuid":"a"},{"x":-1e999}]"#)),
            ("nesting too deep", nest(126)),
            ("nesting just allowed", nest(125)),
        ];
        for (name, body) in &cases {
            let _ = same_page(name, body);
        }
        assert_eq!(
            same_page("events and others", &cases[1].1).map(|(v, s)| (v.len(), s)),
            Ok((3, 4))
        );
        assert!(same_page("nesting too deep", &cases[15].1).is_err());
        assert!(same_page("nesting just allowed", &cases[16].1).is_ok());
    }

    fn fixtures() -> Option<PathBuf> {
        let p = PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/okta-fixtures"
        ));
        if p.is_dir() {
            Some(p)
        } else {
            eprintln!(
                "note: {} is absent; skipping the shared-fixture comparison",
                p.display()
            );
            None
        }
    }

    #[test]
    fn real_events_equal_from_value() {
        let Some(root) = fixtures() else { return };
        let mut all: Vec<String> = Vec::new();
        let dir = root.join("system-log");
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .collect();
        files.sort();
        for path in files {
            let name = path.display().to_string();
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
            let events: Vec<String> = if name.ends_with(".json") {
                // Panther: test cases with the event under `log`.
                let cases: Value =
                    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
                cases
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|case| case.get("log"))
                    .map(Value::to_string)
                    .collect()
            } else {
                text.lines()
                    .filter(|l| !l.trim().is_empty())
                    .map(str::to_string)
                    .collect()
            };
            assert!(!events.is_empty(), "{name}");
            for (i, line) in events.iter().enumerate() {
                event(&format!("{name}#{i}"), line);
            }
            all.extend(events);
        }
        // All of them as one page, and the spec's own log examples.
        let page = format!("[{}]", all.join(","));
        let (items, skipped) =
            same_page("all fixture events", page.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((items.len(), skipped), (all.len(), 0));
        for rel in [
            "spec-examples/logs_list.json",
            "spec-examples/logs_event_with_security_context.json",
        ] {
            let path = root.join(rel);
            let Ok(text) = std::fs::read_to_string(&path) else {
                eprintln!("note: {rel} is absent");
                continue;
            };
            if text.trim_start().starts_with('[') {
                let page = same_page(rel, text.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
                assert!(!page.0.is_empty(), "{rel}");
            } else {
                event(rel, &text);
            }
        }
    }
}
