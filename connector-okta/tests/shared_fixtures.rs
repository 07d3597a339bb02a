//! Runs the connector's parsers over the real Okta material in the shared fixtures
//! (`/work/shared/okta-fixtures`: System Log events from several exporters, recorded API
//! responses, spec examples) and checks the verdicts read off them by hand. Skips with a
//! note when the shared folder is absent.

use connector_okta::api::models::{Factor, LogEvent, Policy, PolicyRule, User};
use connector_okta::api::{check_status, link, ApiError, Header, Response, LOGS, USERS};
use connector_okta::kris::admin_session_outliers::START_EVENT;
use connector_okta::kris::app_policy_exceptions::{exception_reason, WHY_ONE_FACTOR};
use connector_okta::kris::failed_mfa_push::is_push_denial;
use connector_okta::kris::impossible_travel::{behaviors, velocity_positive};
use connector_okta::kris::mfa_adoption::summarize_factors;
use kri_connector_sdk::types::ConnectorError;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> Option<PathBuf> {
    let p = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/okta-fixtures"
    ));
    if p.is_dir() {
        Some(p)
    } else {
        eprintln!(
            "note: {} is absent; skipping the shared-fixture checks",
            p.display()
        );
        None
    }
}

fn read(root: &Path, rel: &str) -> String {
    std::fs::read_to_string(root.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn json(root: &Path, rel: &str) -> Value {
    serde_json::from_str(&read(root, rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Events of one System Log file, as (index, raw value).
fn events_of(root: &Path, rel: &str) -> Vec<Value> {
    if rel.ends_with(".json") {
        // Panther: a list of test cases with the event under `log`.
        json(root, rel)
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|case| case["log"].clone())
            .collect()
    } else {
        read(root, rel)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{rel}: {e}")))
            .collect()
    }
}

/// (file, events, indexes with behaviours, with velocity POSITIVE, push denials).
type Expect = (
    &'static str,
    usize,
    &'static [usize],
    &'static [usize],
    &'static [usize],
);

#[test]
fn system_log_event_verdicts() {
    let Some(root) = root() else { return };
    let table: [Expect; 4] = [
        (
            "system-log/elastic_beats_okta-system-test.json.log",
            7,
            &[5, 6],
            &[],
            &[],
        ),
        (
            "system-log/elastic_integrations_selected_events.jsonl",
            8,
            &[0, 1, 2],
            &[0],
            &[],
        ),
        (
            "system-log/azure_sentinel_oktav2_admin_session_selected.jsonl",
            4,
            &[],
            &[],
            &[],
        ),
        (
            "system-log/panther_analysis_test_events.json",
            77,
            &[0, 1, 26, 27, 40, 41, 42, 43, 44, 45, 46, 75, 76],
            &[],
            &[],
        ),
    ];
    for (file, count, with_behaviors, velocity, push) in table {
        let raw = events_of(&root, file);
        assert_eq!(raw.len(), count, "{file}");
        let mut got_behaviors = BTreeSet::new();
        let mut got_velocity = BTreeSet::new();
        let mut got_push = BTreeSet::new();
        for (i, v) in raw.iter().enumerate() {
            let ev = LogEvent::from_value(v).unwrap_or_else(|| panic!("{file}#{i} is no object"));
            assert!(
                ev.event_type.is_some(),
                "{file}#{i}: eventType (any casing) is read"
            );
            let (bs, unreadable) = behaviors(&ev);
            assert!(!unreadable, "{file}#{i}: logOnlySecurityData unreadable");
            if !bs.is_empty() {
                got_behaviors.insert(i);
            }
            if velocity_positive(&ev) {
                got_velocity.insert(i);
            }
            if is_push_denial(&ev) {
                got_push.insert(i);
            }
            println!(
                "{file}#{i}: {} behaviours={} velocity={} push_denial={}",
                ev.event_type.as_deref().unwrap_or("?"),
                bs.len(),
                velocity_positive(&ev),
                is_push_denial(&ev)
            );
        }
        let set = |s: &[usize]| s.iter().copied().collect::<BTreeSet<_>>();
        assert_eq!(
            got_behaviors,
            set(with_behaviors),
            "{file}: events with behaviours"
        );
        assert_eq!(got_velocity, set(velocity), "{file}: velocity POSITIVE");
        assert_eq!(got_push, set(push), "{file}: push denials");
    }
}

#[test]
fn system_log_details_read_right() {
    let Some(root) = root() else { return };
    let ev =
        |file: &str, i: usize| LogEvent::from_value(&events_of(&root, file)[i]).unwrap_or_default();
    // Elastic: `Velocity Behavior=NEGATIVE` with `New IP=POSITIVE`, OKTA_VERIFY_PUSH success.
    let e = ev("system-log/elastic_integrations_selected_events.jsonl", 2);
    let bs = behaviors(&e).0;
    assert!(bs
        .iter()
        .any(|b| b.name == "Velocity Behavior" && b.value == "NEGATIVE"));
    assert!(bs
        .iter()
        .any(|b| b.name == "New IP" && b.value == "POSITIVE"));
    let e = ev("system-log/elastic_integrations_selected_events.jsonl", 1);
    assert_eq!(
        e.debug("factor").and_then(Value::as_str),
        Some("OKTA_VERIFY_PUSH")
    );
    assert!(!is_push_denial(&e), "a successful push is no denial");
    // Beats: logOnlySecurityData with `Velocity: NEGATIVE` and a BAD_REQUEST value.
    let e = ev("system-log/elastic_beats_okta-system-test.json.log", 5);
    assert!(behaviors(&e)
        .0
        .iter()
        .any(|b| b.name == "New Device" && b.value == "BAD_REQUEST"));
    // Azure Sentinel: the admin-console access carries its own session id.
    let e = ev(
        "system-log/azure_sentinel_oktav2_admin_session_selected.jsonl",
        2,
    );
    assert_eq!(e.event_type.as_deref(), Some(START_EVENT));
    assert_eq!(
        e.external_session_id.as_deref(),
        Some("102rQ57NBkITa-JcXyIwpCsjw")
    );
    assert!(e.published_ms().is_some());
    // Panther: lower-cased keys, a behaviours list and a YAML-mangled map both parse.
    let p = "system-log/panther_analysis_test_events.json";
    for i in [40, 44, 75] {
        let bs = behaviors(&ev(p, i)).0;
        assert_eq!(bs.len(), 7, "panther#{i}");
        assert!(
            bs.iter()
                .any(|b| b.name == "New Device" && b.value == "POSITIVE"),
            "panther#{i}"
        );
    }
    let e = ev(p, 33);
    assert_eq!(
        e.event_type.as_deref(),
        Some("user.authentication.auth_via_mfa")
    );
    assert_eq!(e.outcome_result.as_deref(), Some("FAILURE"));
    assert!(
        !is_push_denial(&e),
        "an auth_via_mfa failure without a push factor"
    );
    assert_eq!(e.external_session_id.as_deref(), Some("100-abc-9999"));
    assert!(
        e.published_ms().is_some(),
        "Panther's `2022-06-22 18:18:29.015` form"
    );
}

/// The `body` of each recorded response in a file.
fn bodies(root: &Path, rel: &str) -> Vec<Value> {
    json(root, rel)
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|e| e["body"].clone())
        .collect()
}

fn headers_of(entry: &Value) -> Vec<Header> {
    entry["headers"]
        .as_object()
        .map(|o| {
            o.iter()
                .flat_map(|(name, values)| {
                    values
                        .as_array()
                        .cloned()
                        .unwrap_or_default()
                        .into_iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .map(move |value| Header {
                            name: name.clone(),
                            value,
                        })
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn recorded_users_and_links() {
    let Some(root) = root() else { return };
    for (file, next_expected) in [
        (
            "recorded-api/okta-sdk-python/users_pagination_limit1.json",
            vec![true, true],
        ),
        (
            "recorded-api/okta-sdk-python/users_filter_active.json",
            vec![false],
        ),
        (
            "recorded-api/okta-sdk-python/users_list_limit10.json",
            vec![false],
        ),
        (
            "recorded-api/terraform-provider-okta/users_list_with_next_link.json",
            vec![true, true],
        ),
    ] {
        let entries = json(&root, file).as_array().cloned().unwrap_or_default();
        assert_eq!(entries.len(), next_expected.len(), "{file}");
        for (entry, want_next) in entries.iter().zip(next_expected) {
            let users: Vec<User> = serde_json::from_value(entry["body"].clone())
                .unwrap_or_else(|e| panic!("{file}: {e}"));
            assert!(
                !users.is_empty() && users.iter().all(|u| u.id.is_some() && u.status.is_some()),
                "{file}"
            );
            let next = link::next_link(&headers_of(entry));
            assert_eq!(next.is_some(), want_next, "{file}: {next:?}");
            if let Some(n) = next {
                assert!(n.contains("after="), "{n}");
            }
        }
    }
    for entry in json(
        &root,
        "recorded-api/okta-sdk-python/link_header_two_values_samples.json",
    )
    .as_array()
    .cloned()
    .unwrap_or_default()
    {
        let next = link::next_link(&headers_of(&entry)).unwrap_or_default();
        assert!(next.contains("after="), "{next}");
    }
    // A single user object (lifecycle samples) parses, SUSPENDED status kept verbatim.
    let statuses: Vec<String> = bodies(
        &root,
        "recorded-api/okta-sdk-python/user_lifecycle_statuses_incl_SUSPENDED.json",
    )
    .into_iter()
    .flat_map(|b| match b {
        Value::Array(a) => a,
        other => vec![other],
    })
    .filter_map(|u| serde_json::from_value::<User>(u).ok()?.status)
    .collect();
    assert!(statuses.iter().any(|s| s == "SUSPENDED"), "{statuses:?}");
    let spec: Vec<User> =
        serde_json::from_value(json(&root, "spec-examples/users_list.json")).unwrap_or_default();
    assert_eq!(spec.len(), 1);
    let links: Vec<Value> =
        serde_json::from_value(json(&root, "spec-examples/user_applinks_list.json"))
            .unwrap_or_default();
    assert_eq!(links.len(), 4);
    assert_eq!(
        bodies(
            &root,
            "recorded-api/okta-sdk-python/user_applinks_empty.json"
        )[0],
        Value::Array(vec![])
    );
}

#[test]
fn recorded_factors() {
    let Some(root) = root() else { return };
    let summary = |body: Value| {
        let f: Vec<Factor> = serde_json::from_value(body).unwrap_or_else(|e| panic!("{e}"));
        summarize_factors(&f).code()
    };
    // Pending SMS only: not enrolled. New user: no factors.
    assert_eq!(
        summary(
            bodies(
                &root,
                "recorded-api/okta-sdk-python/user_factors_after_sms_enroll.json"
            )[0]
            .clone()
        ),
        0
    );
    assert_eq!(
        summary(
            bodies(
                &root,
                "recorded-api/okta-sdk-python/user_factors_empty_new_user.json"
            )[0]
            .clone()
        ),
        0
    );
    // Hand-made by the SDK authors: FastPass (signed_nonce) + TOTP: enrolled, not FIDO.
    assert_eq!(summary(bodies(&root, "recorded-api/okta-sdk-python/user_factors_signed_nonce_FABRICATED_BY_SDK_AUTHORS.json")[0].clone()), 1);
    // Spec: question (ACTIVE), TOTP (pending), SMS (ACTIVE): enrolled thanks to SMS.
    assert_eq!(
        summary(json(&root, "spec-examples/user_factors_list.json")),
        1
    );
}

#[test]
fn recorded_policies_and_rules() {
    let Some(root) = root() else { return };
    for file in [
        "recorded-api/okta-sdk-python/policies_access_policy.json",
        "recorded-api/terraform-provider-okta/policies_access_policy_list.json",
    ] {
        for body in bodies(&root, file) {
            let p: Vec<Policy> =
                serde_json::from_value(body).unwrap_or_else(|e| panic!("{file}: {e}"));
            assert!(!p.is_empty());
            assert!(
                p.iter()
                    .all(|p| p.policy_type.as_deref() == Some("ACCESS_POLICY") && p.id.is_some()),
                "{file}"
            );
        }
    }
    let spec: Vec<Policy> = serde_json::from_value(json(
        &root,
        "spec-examples/policies_access_policy_list.json",
    ))
    .unwrap_or_default();
    assert_eq!(spec.len(), 1);

    // Nine real rule shapes: none is an exception (the only 1FA one is INACTIVE; the
    // chain has no factorMode; DENY shows 2FA).
    let shapes = json(
        &root,
        "recorded-api/terraform-provider-okta/access_policy_rules_distinct_shapes.json",
    );
    let rules: Vec<PolicyRule> = shapes
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|s| serde_json::from_value(s["rule"].clone()).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    assert_eq!(rules.len(), 9);
    assert!(rules
        .iter()
        .all(|r| r.id.is_some() && r.app_sign_on().is_some()));
    assert!(rules.iter().all(|r| exception_reason(r).is_none()));
    assert!(rules
        .iter()
        .any(|r| r.app_sign_on().and_then(|a| a.verification_type()) == Some("AUTH_METHOD_CHAIN")));
    for body in bodies(
        &root,
        "recorded-api/terraform-provider-okta/access_policy_rules_list_responses.json",
    ) {
        let r: Vec<PolicyRule> = serde_json::from_value(body).unwrap_or_else(|e| panic!("{e}"));
        assert!(!r.is_empty());
    }
    // Spec: the catch-all allows 1FA with constraints [].
    let spec: Vec<PolicyRule> =
        serde_json::from_value(json(&root, "spec-examples/policy_rules_access_list.json"))
            .unwrap_or_default();
    assert_eq!(
        spec.iter().map(exception_reason).collect::<Vec<_>>(),
        vec![Some(WHY_ONE_FACTOR)]
    );
    // Spec: named examples; only the OAMP device rule is 1FA (constraints as list or object elsewhere).
    let more = json(
        &root,
        "spec-examples/policy_rules_access_more_examples.json",
    );
    let mut verdicts: Vec<(String, bool)> = more
        .as_object()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|(name, v)| {
            let r: PolicyRule = serde_json::from_value(v).unwrap_or_else(|e| panic!("{name}: {e}"));
            (name, exception_reason(&r).is_some())
        })
        .collect();
    verdicts.sort();
    assert_eq!(
        verdicts,
        vec![
            (
                "create-auth-policy-rule-condition-response".to_string(),
                false
            ),
            ("device-condition-with-oamp-response".to_string(), true),
            (
                "twofa-enabled-disallow-password-allow-phishing-response".to_string(),
                false
            ),
            (
                "twofa-enabled-post-auth-kmsi-disabled-response".to_string(),
                false
            ),
            (
                "update-auth-policy-rule-condition-response".to_string(),
                false
            ),
        ]
    );
}

#[derive(Debug, PartialEq)]
enum Kind {
    Unauthorized,
    Forbidden,
    NotFound,
    Upstream,
}

fn kind(status: u16, body: &Value) -> Kind {
    let resp = Response {
        status,
        headers: vec![],
        body: body.to_string().into_bytes(),
    };
    match check_status(LOGS, "/api/v1/x", &resp) {
        Err(ApiError::Fatal(ConnectorError::Unauthorized(_))) => Kind::Unauthorized,
        Err(ApiError::Forbidden(_)) => Kind::Forbidden,
        Err(ApiError::NotFound { .. }) => Kind::NotFound,
        Err(ApiError::Fatal(ConnectorError::Upstream(_))) => Kind::Upstream,
        other => panic!("{status}: {other:?}"),
    }
}

#[test]
fn recorded_errors_map_as_designed() {
    let Some(root) = root() else { return };
    // Spec examples.
    for (file, status, want) in [
        (
            "spec-examples/error_401_invalid_token.json",
            401,
            Kind::Unauthorized,
        ),
        ("spec-examples/error_403.json", 403, Kind::Forbidden),
        ("spec-examples/error_404.json", 404, Kind::NotFound),
        ("spec-examples/error_429.json", 429, Kind::Upstream),
        ("spec-examples/error_400.json", 400, Kind::Upstream),
    ] {
        assert_eq!(kind(status, &json(&root, file)), want, "{file}");
    }
    // Recorded: a 401 E0000015 ("no permission to access the feature") is a permission
    // gap, not a bad token; 5xx, 423 and 429 fail the run.
    for file in [
        "recorded-api/okta-sdk-python/errors_401_403_404_samples.json",
        "recorded-api/okta-sdk-python/errors_429_rate_limited.json",
        "recorded-api/terraform-provider-okta/errors_distinct.json",
    ] {
        for entry in json(&root, file).as_array().cloned().unwrap_or_default() {
            let status = entry["status"].as_u64().unwrap_or(0) as u16;
            let code = entry["body"]["errorCode"].as_str().unwrap_or("");
            let want = match (status, code) {
                (401, "E0000011") => Kind::Unauthorized,
                (401, "E0000015") | (403, _) => Kind::Forbidden,
                (404, _) => Kind::NotFound,
                _ => Kind::Upstream,
            };
            assert_eq!(
                kind(status, &entry["body"]),
                want,
                "{file}: {status} {code}"
            );
        }
    }
    // The token message names the way out.
    let resp = Response {
        status: 401,
        headers: vec![],
        body: read(&root, "spec-examples/error_401_invalid_token.json").into_bytes(),
    };
    match check_status(USERS, "/api/v1/users?limit=1", &resp) {
        Err(ApiError::Fatal(ConnectorError::Unauthorized(m))) => {
            assert!(
                m.contains("Invalid token provided") && m.contains("30 days"),
                "{m}"
            )
        }
        other => panic!("{other:?}"),
    }
}
