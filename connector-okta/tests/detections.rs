//! Runs the System Log detections (`connector_okta::detect`) over the project's own
//! fixture scenarios (`fixtures/system-log/*.json`: real event shapes, fed poll by poll,
//! with the alerts each must raise), and over the real events in the shared fixtures
//! when `../shared/okta-fixtures` exists (skipped with a note when it does not).

use connector_okta::api::models::LogEvent;
use connector_okta::detect::{detect, Alert, DetectionState, Severity, SystemLogEvent, DETECTIONS};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn fixture_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/system-log"
    ))
}

/// An event read as the connector reads a page (the streaming `Deserialize`), then
/// normalized.
fn normalize(raw: &Value, name: &str) -> SystemLogEvent {
    let log: LogEvent =
        serde_json::from_value(raw.clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
    SystemLogEvent::from_log(&log).unwrap_or_else(|| panic!("{name}: not a usable event: {raw}"))
}

struct Scenario {
    name: String,
    polls: Vec<Vec<SystemLogEvent>>,
    /// (dedupe key) -> (detection, severity)
    expect: BTreeMap<String, (String, String)>,
}

fn scenarios() -> Vec<Scenario> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixture_dir())
        .unwrap_or_else(|e| panic!("{}: {e}", fixture_dir().display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|path| {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{name}: {e}"));
            let body: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            let polls = body["polls"]
                .as_array()
                .unwrap_or_else(|| panic!("{name}: no polls"))
                .iter()
                .map(|poll| {
                    poll.as_array()
                        .into_iter()
                        .flatten()
                        .map(|e| normalize(e, &name))
                        .collect()
                })
                .collect();
            let expect = body["expect"]
                .as_array()
                .unwrap_or_else(|| panic!("{name}: no expect"))
                .iter()
                .map(|x| {
                    let s = |k: &str| {
                        x[k].as_str()
                            .unwrap_or_else(|| panic!("{name}: {k}"))
                            .to_string()
                    };
                    (s("dedupe_key"), (s("detection"), s("severity")))
                })
                .collect();
            Scenario {
                name,
                polls,
                expect,
            }
        })
        .collect()
}

fn severity_word(s: Severity) -> String {
    serde_json::to_value(s)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Feeds the polls in order, each with the clock a minute past its newest event; the
/// alerts by dedupe key, the last emission of each winning.
fn feed(
    state: &mut DetectionState,
    polls: &[Vec<SystemLogEvent>],
) -> (Vec<Alert>, BTreeMap<String, (String, String)>) {
    let mut all = Vec::new();
    for poll in polls {
        let now = poll.iter().map(|e| e.published_ms).max().unwrap_or(0) + 60_000;
        all.extend(detect(state, poll, now));
    }
    let by_key = all
        .iter()
        .map(|a| {
            (
                a.dedupe_key.clone(),
                (a.detection.clone(), severity_word(a.severity)),
            )
        })
        .collect();
    (all, by_key)
}

#[test]
fn every_detection_has_positive_and_negative_scenarios() {
    let all = scenarios();
    for id in DETECTIONS {
        let stem = id.trim_start_matches("okta.");
        for kind in ["positive", "negative"] {
            assert!(
                all.iter()
                    .any(|s| s.name.starts_with(&format!("{stem}.{kind}"))),
                "no {kind} scenario for {id}"
            );
        }
    }
    // And each positive scenario of a detection raises that detection.
    for s in &all {
        if s.name.contains(".positive") {
            let stem = s.name.split('.').next().unwrap_or_default();
            assert!(
                s.expect.values().any(|(d, _)| d == &format!("okta.{stem}")),
                "{}",
                s.name
            );
        } else {
            assert!(s.expect.is_empty(), "{}", s.name);
        }
    }
}

#[test]
fn scenarios_raise_exactly_the_expected_alerts() {
    for s in scenarios() {
        let uuids: BTreeSet<&str> = s.polls.iter().flatten().map(|e| e.uuid.as_str()).collect();
        let mut state = DetectionState::default();
        let (alerts, got) = feed(&mut state, &s.polls);
        assert_eq!(got, s.expect, "{}", s.name);
        for a in &alerts {
            assert!(
                DETECTIONS.contains(&a.detection.as_str()),
                "{}: {}",
                s.name,
                a.detection
            );
            assert!(
                !a.title.is_empty() && a.details.is_object(),
                "{}: {a:?}",
                s.name
            );
            assert!(
                !a.evidence.is_empty() && a.evidence.iter().all(|u| uuids.contains(u.as_str())),
                "{}: {a:?}",
                s.name
            );
            assert!(a.first_seen_ms <= a.seen_ms, "{}: {a:?}", s.name);
            assert!(
                ["user", "ip", "session"].contains(&a.entity.kind.as_str()),
                "{}: {a:?}",
                s.name
            );
            assert!(a.dedupe_key.starts_with(&format!(
                "{}:{}:{}:",
                a.detection, a.entity.kind, a.entity.id
            )));
        }

        // Replaying every poll on the committed state raises nothing.
        let (again, _) = feed(&mut state, &s.polls);
        assert!(again.is_empty(), "{}: replay raised {again:?}", s.name);

        // A restart from a serialized state, fed the polls again from the one before
        // the last: the same keys, nothing new.
        let mut fresh = DetectionState::default();
        let split = s.polls.len().saturating_sub(1);
        let (first_part, _) = feed(&mut fresh, &s.polls[..split]);
        let saved = serde_json::to_string(&fresh).unwrap_or_default();
        let mut restored: DetectionState =
            serde_json::from_str(&saved).unwrap_or_else(|e| panic!("{}: {e}", s.name));
        let (second_part, _) = feed(&mut restored, &s.polls[split..]);
        let mut keys: BTreeMap<String, String> = BTreeMap::new();
        for a in first_part.iter().chain(&second_part) {
            keys.insert(a.dedupe_key.clone(), severity_word(a.severity));
        }
        let want: BTreeMap<String, String> = s
            .expect
            .iter()
            .map(|(k, (_, sev))| (k.clone(), sev.clone()))
            .collect();
        assert_eq!(keys, want, "{} (restored)", s.name);

        // Everything in one poll, in `published` order: the same incidents.
        let mut one: Vec<SystemLogEvent> = s.polls.iter().flatten().cloned().collect();
        one.sort_by_key(|e| e.published_ms);
        let (_, together) = feed(&mut DetectionState::default(), &[one]);
        assert_eq!(together, s.expect, "{} (one poll)", s.name);
    }
}

fn shared_root() -> Option<PathBuf> {
    let p = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/okta-fixtures/system-log"
    ));
    if p.is_dir() {
        Some(p)
    } else {
        eprintln!(
            "note: {} is absent; skipping the detections over shared fixtures",
            p.display()
        );
        None
    }
}

/// The shared fixtures' events (Panther's test cases under `log`). The hand-written ones
/// may lack a uuid or reuse another event's: those get one of their own; exact copies
/// are left out.
fn shared_events(dir: &Path) -> Vec<(String, Value)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    let mut out = Vec::new();
    let mut seen: BTreeMap<String, Value> = BTreeMap::new();
    for path in files {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        let events: Vec<Value> = if name.ends_with(".json") {
            let cases: Value =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            cases
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c.get("log").cloned())
                .collect()
        } else {
            text.lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{name}: {e}")))
                .collect()
        };
        for (i, mut ev) in events.into_iter().enumerate() {
            if !ev.is_object() {
                continue;
            }
            let uuid = ev.get("uuid").and_then(Value::as_str).map(str::to_string);
            match uuid.as_ref().and_then(|u| seen.get(u)) {
                Some(earlier) if *earlier == ev => continue,
                Some(_) => ev["uuid"] = json!(format!("{}#{name}#{i}", uuid.unwrap_or_default())),
                None if uuid.is_none() => ev["uuid"] = json!(format!("{name}#{i}")),
                None => {}
            }
            let uuid = ev["uuid"].as_str().unwrap_or_default().to_string();
            seen.insert(uuid, ev.clone());
            out.push((format!("{name}#{i}"), ev));
        }
    }
    out
}

#[test]
fn detections_over_the_shared_fixtures() {
    let Some(dir) = shared_root() else { return };
    let mut events: Vec<SystemLogEvent> = shared_events(&dir)
        .iter()
        .filter_map(|(_, raw)| serde_json::from_value::<LogEvent>(raw.clone()).ok())
        .filter_map(|log| SystemLogEvent::from_log(&log))
        .collect();
    assert!(events.len() > 60, "only {} usable events", events.len());
    events.sort_by_key(|e| e.published_ms);
    let now = events.last().map_or(0, |e| e.published_ms) + 60_000;
    let mut state = DetectionState::default();
    let alerts = detect(&mut state, &events, now);
    let uuids: BTreeSet<&str> = events.iter().map(|e| e.uuid.as_str()).collect();
    for a in &alerts {
        assert!(
            a.evidence.iter().all(|u| uuids.contains(u.as_str())),
            "{a:?}"
        );
    }
    let fired: BTreeSet<&str> = alerts.iter().map(|a| a.detection.as_str()).collect();
    // What these events are, read by hand.
    for id in [
        "okta.admin_privilege_granted",
        "okta.api_token_created",
        "okta.policy_weakened",
        "okta.impossible_travel",
        "okta.password_spray",
        "okta.mfa_factor_reset",
        "okta.suspicious_activity_reported",
        "okta.support_impersonation",
    ] {
        assert!(fired.contains(id), "{id} did not fire; fired: {fired:?}");
    }
    let of = |uuid: &str| -> Vec<(&str, Severity)> {
        alerts
            .iter()
            .filter(|a| a.evidence.iter().any(|u| u == uuid))
            .map(|a| (a.detection.as_str(), a.severity))
            .collect()
    };
    // Panther's grant of "Organization administrator, Application administrator (all)".
    assert_eq!(
        of("2a992f80-d1ad-4f62-900e-8c68bb72a21b"),
        vec![("okta.admin_privilege_granted", Severity::Critical)]
    );
    // Panther's failed group privilege grant changed nothing.
    assert_eq!(of("aa-11-22-33-44-bb"), vec![]);
    // Azure Sentinel's real API token creation, with no network logged.
    assert_eq!(
        of("193262a7-f48a-11ed-b0b7-b340ef7118e2"),
        vec![("okta.api_token_created", Severity::High)]
    );
    // Elastic's end-user report.
    assert_eq!(
        of("c2adb364-88d1-45a9-a620-2b64e44c5fcf"),
        vec![("okta.suspicious_activity_reported", Severity::High)]
    );
    // Replaying them all raises nothing more.
    assert!(detect(&mut state, &events, now).is_empty());
}
