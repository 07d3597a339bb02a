//! `okta_impossible_travel_24h`: System Log events of the last 24 h whose behaviours mark
//! velocity POSITIVE, each `uuid` once. Behaviours come from three places, any of which
//! may be absent: `debugContext.debugData.behaviors` (a Java-map string
//! `{New Geo-Location=NEGATIVE, Velocity=POSITIVE}`), `debugData.logOnlySecurityData`
//! (a JSON string whose `behaviors` object maps names to values) and
//! `securityContext.userBehaviors` (Java-map string, object, or array of names / of
//! `{name, result}` objects).

use super::{evaluated, Kri, Window, WindowFilter, DETAILS_LIST_CAP};
use crate::api::models::{get_ci, LogEvent};
use kri_connector_sdk::types::KriValue;
use serde_json::{json, Value};

/// Where a behaviour was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BehaviorSource {
    DebugBehaviors,
    LogOnlySecurityData,
    UserBehaviors,
}

/// One behaviour: its name and value as the event gives them (trimmed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Behavior {
    pub source: BehaviorSource,
    pub name: String,
    pub value: String,
}

/// Calls `f(name, value)` for each pair of a Java-map string `{A=B, C=D}` (braces
/// optional, any spacing), without allocating. An entry without `=` is a bare name and
/// reads as `POSITIVE`.
fn visit_java_map<F: FnMut(&str, &str)>(text: &str, f: &mut F) {
    let t = text.trim();
    let t = t.strip_prefix('{').unwrap_or(t);
    let t = t.strip_suffix('}').unwrap_or(t);
    for entry in t.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (k, v) = match entry.rsplit_once('=') {
            Some((k, v)) => (k.trim(), v.trim()),
            None => (entry, "POSITIVE"),
        };
        if !k.is_empty() {
            f(k, v);
        }
    }
}

/// Parses a Java-map string `{A=B, C=D}` (braces optional, any spacing) into pairs. An
/// entry without `=` is a bare name and reads as `POSITIVE`.
pub fn parse_java_map(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    visit_java_map(text, &mut |k, v| out.push((k.to_string(), v.to_string())));
    out
}

/// Calls `f(name, value)` for each pair of any of the shapes behaviours come in,
/// borrowing from `v` (only a JSON text inside a string is parsed into a new value).
fn visit_value<F: FnMut(&str, &str)>(v: &Value, f: &mut F) {
    match v {
        Value::String(s) => {
            let trimmed = s.trim();
            // A JSON object or array serialised into the string.
            if trimmed.starts_with('{') || trimmed.starts_with('[') {
                if let Ok(inner @ (Value::Object(_) | Value::Array(_))) =
                    serde_json::from_str::<Value>(trimmed)
                {
                    return visit_value(&inner, f);
                }
            }
            visit_java_map(trimmed, f)
        }
        Value::Array(items) => {
            for item in items {
                match item {
                    Value::String(s) => visit_java_map(s, f),
                    Value::Object(o) => {
                        let name = ["name", "behaviorName", "id"]
                            .iter()
                            .find_map(|k| get_ci(o, k).and_then(Value::as_str));
                        let value = ["result", "value", "status"]
                            .iter()
                            .find_map(|k| get_ci(o, k).and_then(Value::as_str))
                            .unwrap_or("POSITIVE");
                        if let Some(n) = name {
                            f(n.trim(), value.trim());
                        }
                    }
                    _ => {}
                }
            }
        }
        Value::Object(o) => {
            for (k, val) in o {
                match val {
                    Value::String(s) => f(k.trim(), s.trim()),
                    Value::Bool(b) => f(k.trim(), if *b { "POSITIVE" } else { "NEGATIVE" }),
                    // `{"Velocity=POSITIVE": null}`: a Java map read by a YAML/JSON parser.
                    Value::Null => visit_java_map(k, f),
                    Value::Object(inner) => {
                        if let Some(s) = get_ci(inner, "result")
                            .or_else(|| get_ci(inner, "value"))
                            .and_then(Value::as_str)
                        {
                            f(k.trim(), s.trim());
                        }
                    }
                    _ => {}
                }
            }
        }
        _ => {}
    }
}

/// Pairs from any of the shapes behaviours come in.
pub fn pairs_from_value(v: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    visit_value(v, &mut |k, v| out.push((k.to_string(), v.to_string())));
    out
}

/// Calls `f(name, value)` for the `behaviors` of `logOnlySecurityData`, given as a JSON
/// string or as an object. `Err` when it is a string that is not JSON.
fn visit_log_only<F: FnMut(&str, &str)>(v: &Value, f: &mut F) -> Result<(), ()> {
    let parsed;
    let obj = match v {
        Value::String(s) => {
            parsed = serde_json::from_str::<Value>(s).map_err(|_| ())?;
            &parsed
        }
        other => other,
    };
    if let Some(b) = obj.as_object().and_then(|o| get_ci(o, "behaviors")) {
        visit_value(b, f);
    }
    Ok(())
}

/// Calls `f(source, name, value)` for every behaviour an event carries, from all three
/// places, borrowing from the event; returns whether a `logOnlySecurityData` string
/// could not be read.
pub fn visit_behaviors<F: FnMut(BehaviorSource, &str, &str)>(ev: &LogEvent, mut f: F) -> bool {
    let mut unreadable = false;
    if let Some(v) = ev.debug("behaviors") {
        visit_value(v, &mut |k, v| f(BehaviorSource::DebugBehaviors, k, v));
    }
    if let Some(v) = ev.debug("logOnlySecurityData") {
        let mut g = |k: &str, v: &str| f(BehaviorSource::LogOnlySecurityData, k, v);
        if visit_log_only(v, &mut g).is_err() {
            unreadable = true;
        }
    }
    if let Some(v) = ev
        .security_context
        .as_ref()
        .and_then(|sc| get_ci(sc, "userBehaviors"))
    {
        visit_value(v, &mut |k, v| f(BehaviorSource::UserBehaviors, k, v));
    }
    unreadable
}

/// Every behaviour an event carries, from all three places; the flag tells whether a
/// `logOnlySecurityData` string could not be read.
pub fn behaviors(ev: &LogEvent) -> (Vec<Behavior>, bool) {
    let mut out = Vec::new();
    let unreadable = visit_behaviors(ev, |source, name, value| {
        out.push(Behavior {
            source,
            name: name.to_string(),
            value: value.to_string(),
        })
    });
    (out, unreadable)
}

/// Whether a behaviour's name and value mark velocity POSITIVE: the name, trimmed and
/// lower-cased, starts with `velocity`, and the value is `POSITIVE` in any case.
///
/// Compared ASCII-case-insensitively on the name's first 8 bytes, without allocating
/// a lower-cased copy (this runs for every behaviour of every event). That is the same
/// verdict as Unicode lower-casing: the only non-ASCII characters whose lower case
/// begins with an ASCII letter are KELVIN SIGN (to `k`, not in `velocity`) and
/// `İ` (to `i` followed by U+0307, which can never be followed by the `t`).
pub fn is_velocity_pair(name: &str, value: &str) -> bool {
    let name = name.trim().as_bytes();
    name.len() >= 8
        && name[..8].eq_ignore_ascii_case(b"velocity")
        && value.trim().eq_ignore_ascii_case("POSITIVE")
}

/// Whether any place marks the event's velocity POSITIVE.
pub fn velocity_positive(ev: &LogEvent) -> bool {
    let mut positive = false;
    visit_behaviors(ev, |_, name, value| {
        positive |= is_velocity_pair(name, value)
    });
    positive
}

/// The KRI over events fed one at a time (each already admitted to the window once).
#[derive(Debug, Default)]
pub struct TravelTally {
    count: u64,
    unreadable: u64,
    with_behaviors: u64,
    listed: Vec<Value>,
}

impl TravelTally {
    pub fn add(&mut self, ev: &LogEvent) {
        let mut any = false;
        let mut positive = false;
        let bad = visit_behaviors(ev, |_, name, value| {
            any = true;
            positive |= is_velocity_pair(name, value);
        });
        if bad {
            self.unreadable += 1;
        }
        if any {
            self.with_behaviors += 1;
        }
        if !positive {
            return;
        }
        self.count += 1;
        if self.listed.len() < DETAILS_LIST_CAP {
            self.listed.push(json!({
                "uuid": ev.uuid, "published": ev.published, "event_type": ev.event_type,
                "actor": ev.actor_alternate_id,
            }));
        }
    }

    /// The KRI, with what `filter` (the window's) counted.
    pub fn finish(&self, filter: &WindowFilter) -> KriValue {
        let details = json!({
            "window": filter.window.to_json(),
            "events_examined": filter.examined,
            "events_skipped": filter.skipped,
            "events_with_behaviors": self.with_behaviors,
            "unreadable_security_data": self.unreadable,
            "events": &self.listed,
        });
        evaluated(
            Kri::ImpossibleTravel24h,
            self.count as f64,
            Some(self.count as f64),
            None,
            details,
        )
    }
}

/// The KRI over a slice of events.
pub fn impossible_travel(events: &[LogEvent], window: Window) -> KriValue {
    let mut filter = WindowFilter::new(window);
    let mut tally = TravelTally::default();
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

    fn ev(uuid: &str, published_ms: i64, debug: Value, security: Value) -> LogEvent {
        LogEvent::from_value(&json!({
            "uuid": uuid,
            "published": ms_to_iso(published_ms),
            "eventType": "user.session.start",
            "debugContext": {"debugData": debug},
            "securityContext": security,
        }))
        .unwrap_or_default()
    }

    #[test]
    fn java_map_parsing() {
        let cases: Vec<(&str, Vec<(&str, &str)>)> = vec![
            (
                "{New Geo-Location=NEGATIVE, Velocity=POSITIVE, New City=NEGATIVE}",
                vec![
                    ("New Geo-Location", "NEGATIVE"),
                    ("Velocity", "POSITIVE"),
                    ("New City", "NEGATIVE"),
                ],
            ),
            (
                "{ Velocity = POSITIVE ,New IP=NEGATIVE }",
                vec![("Velocity", "POSITIVE"), ("New IP", "NEGATIVE")],
            ),
            (
                "{Velocity Behavior=POSITIVE}",
                vec![("Velocity Behavior", "POSITIVE")],
            ),
            ("Velocity=POSITIVE", vec![("Velocity", "POSITIVE")]),
            ("{}", vec![]),
            ("", vec![]),
            ("{,,}", vec![]),
            ("{riskIP}", vec![("riskIP", "POSITIVE")]),
        ];
        for (text, want) in cases {
            let got = parse_java_map(text);
            let want: Vec<(String, String)> = want
                .into_iter()
                .map(|(a, b)| (a.into(), b.into()))
                .collect();
            assert_eq!(got, want, "{text:?}");
        }
    }

    #[test]
    fn velocity_pair_matches_unicode_lower_casing() {
        let names = [
            "Velocity",
            "  VELOCITY  ",
            "velocity behavior",
            "Velocit",
            "High Velocity",
            "\u{212A}elocity",
            "Veloc\u{130}ty",
            "VELOC\u{130}TY",
            "Velocity\u{130}",
            "\u{e9}velocity",
            "",
        ];
        let values = ["POSITIVE", " positive ", "NEGATIVE", "POSITIV", ""];
        for name in names {
            for value in values {
                let by_lower_case = name.trim().to_lowercase().starts_with("velocity")
                    && value.trim().eq_ignore_ascii_case("POSITIVE");
                assert_eq!(
                    is_velocity_pair(name, value),
                    by_lower_case,
                    "{name:?} = {value:?}"
                );
            }
        }
    }

    #[test]
    fn velocity_verdicts() {
        let t = 10 * HOUR_MS;
        let cases: Vec<(&str, Value, Value, bool)> = vec![
            (
                "java map positive",
                json!({"behaviors": "{New Geo-Location=NEGATIVE, New Device=POSITIVE, Velocity=POSITIVE, New City=NEGATIVE}"}),
                Value::Null,
                true,
            ),
            (
                "java map negative",
                json!({"behaviors": "{Velocity=NEGATIVE, New IP=POSITIVE}"}),
                Value::Null,
                false,
            ),
            (
                "no velocity key",
                json!({"behaviors": "{New Geo-Location=POSITIVE, New Device=POSITIVE, New IP=POSITIVE}"}),
                Value::Null,
                false,
            ),
            (
                "Velocity Behavior=POSITIVE",
                json!({"behaviors": "{New IP=NEGATIVE, Velocity Behavior=POSITIVE}"}),
                Value::Null,
                true,
            ),
            (
                "Velocity Behavior=NEGATIVE",
                json!({"behaviors": "{Velocity Behavior=NEGATIVE}"}),
                Value::Null,
                false,
            ),
            (
                "odd spacing and case",
                json!({"behaviors": "{  velocity   =  positive }"}),
                Value::Null,
                true,
            ),
            (
                "name merely containing velocity",
                json!({"behaviors": "{High Velocity=POSITIVE}"}),
                Value::Null,
                false,
            ),
            (
                "BAD_REQUEST value",
                json!({"behaviors": "{Velocity=BAD_REQUEST}"}),
                Value::Null,
                false,
            ),
            (
                "logOnlySecurityData string",
                json!({"logOnlySecurityData": "{\"risk\":{\"level\":\"HIGH\"},\"behaviors\":{\"New IP\":\"POSITIVE\",\"Velocity\":\"POSITIVE\"}}"}),
                Value::Null,
                true,
            ),
            (
                "logOnlySecurityData negative",
                json!({"logOnlySecurityData": "{\"behaviors\":{\"Velocity\":\"NEGATIVE\"}}"}),
                Value::Null,
                false,
            ),
            (
                "logOnlySecurityData as object",
                json!({"logOnlySecurityData": {"behaviors": {"Velocity": "POSITIVE"}}}),
                Value::Null,
                true,
            ),
            (
                "logOnlySecurityData unreadable",
                json!({"logOnlySecurityData": "{not json"}),
                Value::Null,
                false,
            ),
            (
                "userBehaviors objects",
                Value::Null,
                json!({"userBehaviors": [{"id":"b1","name":"New Device","result":"NEGATIVE"},{"id":"b2","name":"Velocity","result":"POSITIVE"}]}),
                true,
            ),
            (
                "userBehaviors objects negative",
                Value::Null,
                json!({"userBehaviors": [{"name":"Velocity","result":"NEGATIVE"}]}),
                false,
            ),
            (
                "userBehaviors java map",
                Value::Null,
                json!({"userBehaviors": "{Velocity=POSITIVE}"}),
                true,
            ),
            (
                "userBehaviors names",
                Value::Null,
                json!({"userBehaviors": ["New Device", "Velocity"]}),
                true,
            ),
            (
                "userBehaviors object map",
                Value::Null,
                json!({"userBehaviors": {"Velocity": "POSITIVE"}}),
                true,
            ),
            (
                "behaviors list of k=v",
                json!({"behaviors": ["New IP=POSITIVE", "Velocity=NEGATIVE"]}),
                Value::Null,
                false,
            ),
            (
                "behaviors yaml-mangled map",
                json!({"behaviors": {"Velocity=POSITIVE": null}}),
                Value::Null,
                true,
            ),
            (
                "behaviors null",
                json!({"behaviors": null}),
                Value::Null,
                false,
            ),
            ("nothing at all", json!({}), Value::Null, false),
        ];
        for (name, debug, security, want) in cases {
            assert_eq!(
                velocity_positive(&ev("u", t, debug, security)),
                want,
                "{name}"
            );
        }
    }

    #[test]
    fn counts_each_uuid_once_inside_the_window() {
        let now = 100 * HOUR_MS;
        let pos = json!({"behaviors": "{Velocity=POSITIVE}"});
        let both = json!({"behaviors": "{Velocity=POSITIVE}", "logOnlySecurityData": "{\"behaviors\":{\"Velocity\":\"POSITIVE\"}}"});
        let events = vec![
            ev(
                "a",
                now - HOUR_MS,
                both,
                json!({"userBehaviors": "{Velocity=POSITIVE}"}),
            ),
            ev("a", now - HOUR_MS, pos.clone(), Value::Null),
            ev("b", now, pos.clone(), Value::Null),
            ev("c", now - 24 * HOUR_MS, pos.clone(), Value::Null),
            ev("d", now + 1, pos.clone(), Value::Null),
            ev(
                "e",
                now - 2 * HOUR_MS,
                json!({"behaviors": "{Velocity=NEGATIVE}"}),
                Value::Null,
            ),
        ];
        let v = impossible_travel(&events, Window::last_24h(now));
        assert_eq!(v.value, Some(2.0));
        let d: Value = serde_json::from_str(&v.details).unwrap_or(Value::Null);
        assert_eq!(d["events_examined"], 3);
    }
}
