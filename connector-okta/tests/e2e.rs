//! End-to-end-ish native tests: `check` and `run` (collection + KRIs + state) against a
//! fake Okta org served through the `Transport` trait, including permission gaps, a
//! refused token, malformed bodies, upstream failures and incremental factor and app-link
//! refreshes.

mod common;

use common::{load_org, FakeOkta};
use connector_okta::connector::{self, Host};
use connector_okta::store;
use connector_okta::time::{iso_to_ms, HOUR_MS};
use kri_connector_sdk::fakes::{MemEvents, MemLog, MemOutput, MemState};
use kri_connector_sdk::types::{ConnectorError, KriValue, RunRequest, RunSummary};
use kri_connector_sdk::StateStore;
use serde_json::{json, Value};

/// (slug, value, numerator, denominator).
type Row = (String, Option<f64>, Option<f64>, Option<f64>);

const NOW: &str = "2026-11-23T12:00:00.000Z";

fn now() -> i64 {
    iso_to_ms(NOW).unwrap_or(0)
}

struct Outcome {
    result: Result<RunSummary, ConnectorError>,
    output: MemOutput,
    log: MemLog,
}

impl Outcome {
    fn kri(&self, slug: &str) -> KriValue {
        self.output
            .get(slug)
            .cloned()
            .unwrap_or_else(|| panic!("{slug} not emitted: {:?}", self.output.kris))
    }
    fn value(&self, slug: &str) -> Option<f64> {
        self.kri(slug).value
    }
    fn details(&self, slug: &str) -> Value {
        serde_json::from_str(&self.kri(slug).details).unwrap_or(Value::Null)
    }
    /// (slug, value, numerator, denominator) of every emitted KRI.
    fn values(&self) -> Vec<Row> {
        self.output
            .kris
            .iter()
            .map(|v| (v.slug.clone(), v.value, v.numerator, v.denominator))
            .collect()
    }
}

fn run_with(
    okta: &mut FakeOkta,
    state: &mut MemState,
    now_ms: i64,
    kris: &[&str],
    extra: &str,
) -> Outcome {
    let mut output = MemOutput::default();
    let mut log = MemLog::default();
    let req = RunRequest {
        job: connector::KRIS.to_string(),
        time_budget_ms: 600_000,
        now_ms,
        kris: kris.iter().map(|s| s.to_string()).collect(),
        extra_config: extra.to_string(),
    };
    let result = {
        let mut host = Host {
            http: okta,
            state,
            output: &mut output,
            log: &mut log,
            events: &mut MemEvents::default(),
        };
        connector::run(&mut host, &req)
    };
    Outcome {
        result,
        output,
        log,
    }
}

fn run(okta: &mut FakeOkta, state: &mut MemState) -> Outcome {
    run_with(okta, state, now(), &[], "{}")
}

fn check(okta: &mut FakeOkta) -> Result<(), ConnectorError> {
    let mut state = MemState::default();
    let mut output = MemOutput::default();
    let mut log = MemLog::default();
    let mut host = Host {
        http: okta,
        state: &mut state,
        output: &mut output,
        log: &mut log,
        events: &mut MemEvents::default(),
    };
    connector::check(
        &mut host,
        &RunRequest {
            job: connector::KRIS.to_string(),
            time_budget_ms: 600_000,
            now_ms: now(),
            kris: vec![],
            extra_config: "{}".into(),
        },
    )
}

const E401: &str = r#"{"errorCode":"E0000011","errorSummary":"Invalid token provided","errorLink":"E0000011","errorId":"sampleQPivGUj_ND5v78vbYWW","errorCauses":[]}"#;
const E403: &str = r#"{"errorCode":"E0000006","errorSummary":"You do not have permission to perform the requested action","errorLink":"E0000006","errorId":"sampleNUSD_8fdkFd8fs8SDBK","errorCauses":[]}"#;

#[test]
fn full_run_computes_every_kri() {
    let mut okta = load_org();
    let mut state = MemState::default();
    let out = run(&mut okta, &mut state);
    let summary = out
        .result
        .as_ref()
        .cloned()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        out.values(),
        vec![
            (
                "okta_mfa_adoption_pct".to_string(),
                Some(66.7),
                Some(4.0),
                Some(6.0)
            ),
            (
                "okta_phish_resistant_mfa_pct".to_string(),
                Some(25.0),
                Some(1.0),
                Some(4.0)
            ),
            (
                "okta_inactive_users_with_app_access".to_string(),
                Some(2.0),
                Some(2.0),
                Some(3.0)
            ),
            (
                "okta_impossible_travel_24h".to_string(),
                Some(3.0),
                Some(3.0),
                None
            ),
            (
                "okta_admin_session_outliers_24h".to_string(),
                Some(2.0),
                Some(2.0),
                None
            ),
            (
                "okta_failed_mfa_push_24h".to_string(),
                Some(3.0),
                Some(3.0),
                None
            ),
            (
                "okta_app_policy_exceptions".to_string(),
                Some(2.0),
                Some(2.0),
                Some(5.0)
            ),
        ]
    );
    let phish = out.details("okta_phish_resistant_mfa_pct");
    assert_eq!(phish["share_of_active_pct"], 16.7);
    assert_eq!(phish["sampled"], false);
    assert_eq!(phish["refresh"], "full");
    assert_eq!(phish["factors_fetched_users"], 6);
    let admin = out.details("okta_admin_session_outliers_24h");
    assert_eq!(
        admin["open_sessions_over_8h"][0]["session_id"],
        "102DDDDDDDDDDDDDDDDDDDDDD"
    );
    assert_eq!(admin["open_sessions_over_8h"][0]["open_hours"], 11.0);
    assert_eq!(admin["ends_without_known_start"], 1);
    let rules = out.details("okta_app_policy_exceptions");
    let ids: Vec<&str> = rules["rules"]
        .as_array()
        .map(|a| a.iter().filter_map(|r| r["rule_id"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(ids, vec!["rul1onefactor", "rul2noverify"]);
    assert_eq!(rules["rules"][0]["policy_name"], "Okta Admin Console");
    let travel = out.details("okta_impossible_travel_24h");
    assert_eq!(
        travel["events_examined"].as_u64().map(|n| n >= 3),
        Some(true)
    );

    // Each thing fetched once: one 24 h log read and one admin-session read.
    let log_reads: Vec<&String> = okta
        .requests
        .iter()
        .filter(|r| r.contains("/api/v1/logs"))
        .collect();
    assert!(log_reads
        .iter()
        .all(|r| r.contains("limit=1000") && r.contains("sortOrder=ASCENDING")));
    assert_eq!(
        log_reads
            .iter()
            .filter(|r| r.starts_with("/api/v1/logs") && !r.contains("filter="))
            .count(),
        1
    );
    assert_eq!(
        log_reads.iter().filter(|r| r.starts_with("/api/v1/logs") && r.contains("user.session.access_admin_app")).count(),
        1
    );
    // Users listed with the encoded filter, pages followed verbatim.
    assert!(okta
        .requests
        .contains(&"/api/v1/users?filter=status%20eq%20%22ACTIVE%22&limit=200".to_string()));
    assert!(okta
        .requests
        .iter()
        .any(|r| r.starts_with("https://fake.okta.example/api/v1/users?after=")));
    // Factors fetched in one batch of 6; the inactive policy's rules never read.
    assert_eq!(okta.count_requests("/factors"), 6);
    assert!(okta.batches.contains(&6));
    assert_eq!(okta.count_requests("rstp3aaaaaaaaaaaaaa3"), 0);
    // Progress reported for factors with a total.
    assert!(out
        .log
        .progress
        .iter()
        .any(|(s, d, t)| s == "factors" && *d == 6 && *t == Some(6)));
    assert!(summary.items_read > 0);
    assert!(summary.note.contains("7 of 7"), "{}", summary.note);
    // State keys written.
    for key in [
        store::FACTORS_CURSOR,
        store::FACTORS_FULL_REFRESH_AT,
        store::ADMIN_CURSOR,
        store::ADMIN_OPEN,
        store::ADMIN_RECENT,
        store::APP_LINKS_CURSOR,
        store::APP_LINKS_FULL_REFRESH_AT,
    ] {
        assert!(state.map.contains_key(key), "{key}");
    }
    assert!(!state.list_keys_prefix("factors/shard/").is_empty());
    // Every suspended user's app links read once; their counts kept in state.
    assert_eq!(okta.count_requests("/appLinks"), 3);
    let apps = out.details("okta_inactive_users_with_app_access");
    assert_eq!(apps["refresh"], "full");
    assert_eq!(apps["app_links_fetched_users"], 3);
    let shards = shard_text(&state, store::APP_LINKS_SHARD_PREFIX);
    for id in [
        "\"00us1aaaaaaaaaaaaaa1\":2",
        "\"00us2aaaaaaaaaaaaaa2\":0",
        "\"00us3aaaaaaaaaaaaaa3\":1",
    ] {
        assert!(shards.contains(id), "{id} in {shards}");
    }
    assert!(
        summary.note.contains("app links refresh full"),
        "{}",
        summary.note
    );
}

/// The concatenated contents of every state key under `prefix`.
fn shard_text(state: &MemState, prefix: &str) -> String {
    state
        .map
        .iter()
        .filter(|(k, _)| k.starts_with(prefix))
        .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
        .collect()
}

trait Keys {
    fn list_keys_prefix(&self, prefix: &str) -> Vec<String>;
}
impl Keys for MemState {
    fn list_keys_prefix(&self, prefix: &str) -> Vec<String> {
        self.map
            .keys()
            .filter(|k| k.starts_with(prefix))
            .cloned()
            .collect()
    }
}

#[test]
fn comma_joined_links_and_small_pages_give_the_same_values() {
    let mut a = load_org();
    let mut b = load_org();
    b.comma_joined_links = true;
    b.user_page_size = 1;
    b.log_page_size = 1;
    let va = run(&mut a, &mut MemState::default()).values();
    let vb = run(&mut b, &mut MemState::default()).values();
    assert_eq!(va, vb);
    assert!(b.requests.len() > a.requests.len());
}

#[test]
fn only_the_selected_kris_are_fetched() {
    let mut okta = load_org();
    let out = run_with(
        &mut okta,
        &mut MemState::default(),
        now(),
        &["okta_app_policy_exceptions"],
        "{}",
    );
    assert!(out.result.is_ok());
    assert_eq!(out.output.kris.len(), 1);
    assert!(
        okta.requests.iter().all(|r| r.contains("/api/v1/policies")),
        "{:?}",
        okta.requests
    );

    let mut okta = load_org();
    let out = run_with(
        &mut okta,
        &mut MemState::default(),
        now(),
        &["okta_failed_mfa_push_24h", "okta_impossible_travel_24h"],
        "{}",
    );
    assert_eq!(out.value("okta_failed_mfa_push_24h"), Some(3.0));
    assert_eq!(out.value("okta_impossible_travel_24h"), Some(3.0));
    assert_eq!(
        okta.requests
            .iter()
            .filter(|r| !r.contains("after="))
            .count(),
        1,
        "one shared log read: {:?}",
        okta.requests
    );

    let mut okta = load_org();
    let out = run_with(
        &mut okta,
        &mut MemState::default(),
        now(),
        &["okta_nope"],
        "{}",
    );
    assert!(matches!(out.result, Err(ConnectorError::InvalidConfig(_))));
    assert!(okta.requests.is_empty());
}

#[test]
fn forbidden_logs_leave_those_kris_not_evaluated_and_the_others_present() {
    let mut okta = load_org();
    okta.fail("/api/v1/logs", 403, E403);
    let out = run(&mut okta, &mut MemState::default());
    assert!(out.result.is_ok(), "{:?}", out.result);
    assert_eq!(out.output.kris.len(), 7);
    for slug in [
        "okta_impossible_travel_24h",
        "okta_failed_mfa_push_24h",
        "okta_admin_session_outliers_24h",
    ] {
        let v = out.kri(slug);
        assert_eq!(v.value, None, "{slug}");
        let reason = v.not_evaluated_reason.unwrap_or_default();
        assert!(
            reason.contains("okta.logs.read") && reason.contains("E0000006"),
            "{slug}: {reason}"
        );
        assert_eq!(out.details(slug)["missing_permission"], "okta.logs.read");
    }
    assert_eq!(out.value("okta_mfa_adoption_pct"), Some(66.7));
    assert_eq!(out.value("okta_app_policy_exceptions"), Some(2.0));
    assert_eq!(out.value("okta_inactive_users_with_app_access"), Some(2.0));
    assert!(out
        .result
        .as_ref()
        .map(|s| s.note.contains("not evaluated"))
        .unwrap_or(false));
}

#[test]
fn forbidden_policies_and_users() {
    let mut okta = load_org();
    okta.fail("/api/v1/policies", 403, E403);
    let out = run(&mut okta, &mut MemState::default());
    let reason = out
        .kri("okta_app_policy_exceptions")
        .not_evaluated_reason
        .unwrap_or_default();
    assert!(reason.contains("okta.policies.read"), "{reason}");
    assert_eq!(out.value("okta_failed_mfa_push_24h"), Some(3.0));

    let mut okta = load_org();
    okta.fail("/api/v1/users", 403, E403);
    let mut state = MemState::default();
    let out = run(&mut okta, &mut state);
    for slug in [
        "okta_mfa_adoption_pct",
        "okta_phish_resistant_mfa_pct",
        "okta_inactive_users_with_app_access",
    ] {
        let reason = out.kri(slug).not_evaluated_reason.unwrap_or_default();
        assert!(reason.contains("okta.users.read"), "{slug}: {reason}");
    }
    assert_eq!(out.value("okta_admin_session_outliers_24h"), Some(2.0));
    assert!(
        state.list_keys_prefix("factors/").is_empty(),
        "no factor state without users"
    );

    // 403 on the app links only.
    let mut okta = load_org();
    okta.fail("/api/v1/users/00us1", 403, E403);
    let out = run(&mut okta, &mut MemState::default());
    let reason = out
        .kri("okta_inactive_users_with_app_access")
        .not_evaluated_reason
        .unwrap_or_default();
    assert!(
        reason.contains("okta.apps.read") && reason.contains("appLinks"),
        "{reason}"
    );
    assert_eq!(out.value("okta_mfa_adoption_pct"), Some(66.7));
}

#[test]
fn refused_token_fails_the_run_with_the_token_message() {
    let mut okta = load_org();
    okta.fail("/api/v1/", 401, E401);
    let out = run(&mut okta, &mut MemState::default());
    match out.result {
        Err(ConnectorError::Unauthorized(m)) => {
            assert!(m.contains("expired after 30 days unused"), "{m}");
            assert!(m.contains("service account is deactivated"), "{m}");
            assert!(m.contains("Mint a new API token"), "{m}");
        }
        other => panic!("{other:?}"),
    }
    assert!(out.output.kris.is_empty());
}

#[test]
fn malformed_body_fails_the_run_naming_the_endpoint() {
    let cases = [
        ("/api/v1/policies/rstp2", "/api/v1/policies/{id}/rules"),
        ("/api/v1/logs", "/api/v1/logs"),
        ("/api/v1/users/00u3", "/api/v1/users/{id}/factors"),
    ];
    for (prefix, endpoint) in cases {
        let mut okta = load_org();
        okta.fail(prefix, 200, "<html>Service Unavailable</html>");
        let out = run(&mut okta, &mut MemState::default());
        match out.result {
            Err(ConnectorError::MalformedResponse(m)) => {
                assert!(m.contains(endpoint), "{prefix}: {m}")
            }
            other => panic!("{prefix}: {other:?}"),
        }
        assert!(out.output.kris.is_empty());
    }
    // A JSON object where a list belongs is malformed too.
    let mut okta = load_org();
    okta.fail("/api/v1/policies", 200, r#"{"value": []}"#);
    let out = run(&mut okta, &mut MemState::default());
    assert!(
        matches!(out.result, Err(ConnectorError::MalformedResponse(ref m)) if m.contains("/api/v1/policies"))
    );
}

#[test]
fn rate_limits_and_server_errors_that_reach_the_guest_fail_the_run() {
    for (status, body) in [
        (
            429,
            r#"{"errorCode":"E0000047","errorSummary":"API call exceeded rate limit due to too many requests."}"#,
        ),
        (
            500,
            r#"{"errorCode":"E0000009","errorSummary":"Internal Server Error"}"#,
        ),
        (503, ""),
    ] {
        let mut okta = load_org();
        okta.fail("/api/v1/logs", status, body);
        let out = run(&mut okta, &mut MemState::default());
        match out.result {
            Err(ConnectorError::Upstream(m)) => {
                assert!(
                    m.contains("/api/v1/logs") && m.contains(&status.to_string()),
                    "{m}"
                )
            }
            other => panic!("{status}: {other:?}"),
        }
    }
}

#[test]
fn check_makes_one_call_and_maps_errors() {
    let mut okta = load_org();
    assert_eq!(check(&mut okta), Ok(()));
    assert_eq!(okta.requests, vec!["/api/v1/users?limit=1".to_string()]);

    let mut okta = load_org();
    okta.fail("/api/v1/users", 401, E401);
    match check(&mut okta) {
        Err(ConnectorError::Unauthorized(m)) => assert!(m.contains("30 days"), "{m}"),
        other => panic!("{other:?}"),
    }
    let mut okta = load_org();
    okta.fail("/api/v1/users", 403, E403);
    match check(&mut okta) {
        Err(ConnectorError::Forbidden(m)) => assert!(m.contains("okta.users.read"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(okta.requests.len(), 1);
}

#[test]
fn invalid_extra_config_is_reported() {
    let mut okta = load_org();
    let out = run_with(
        &mut okta,
        &mut MemState::default(),
        now(),
        &[],
        r#"{"user_sample_cap": "all"}"#,
    );
    assert!(
        matches!(out.result, Err(ConnectorError::InvalidConfig(ref m)) if m.contains("user_sample_cap"))
    );
    assert!(okta.requests.is_empty());
}

#[test]
fn sample_cap_counts_the_first_users_only() {
    let mut okta = load_org();
    let out = run_with(
        &mut okta,
        &mut MemState::default(),
        now(),
        &["okta_mfa_adoption_pct"],
        r#"{"user_sample_cap": 3}"#,
    );
    // First three ACTIVE users in API order: u1 (sms), u2 (webauthn), u3 (question).
    assert_eq!(out.value("okta_mfa_adoption_pct"), Some(66.7));
    assert_eq!(out.kri("okta_mfa_adoption_pct").denominator, Some(3.0));
    let d = out.details("okta_mfa_adoption_pct");
    assert_eq!(d["sampled"], true);
    assert_eq!(d["sample_truncated"], true);
    assert_eq!(okta.count_requests("/factors"), 3);
}

fn mfa_event(uuid: &str, published: &str, event_type: &str, user: &str) -> Value {
    json!({
        "uuid": uuid, "published": published, "eventType": event_type, "version": "0",
        "actor": {"id": "00uadmin000000000001", "type": "User", "alternateId": "admin@example.com"},
        "outcome": {"result": "SUCCESS", "reason": null},
        "target": [
            {"id": user, "type": "User", "alternateId": "someone@example.com", "displayName": "Someone", "detailEntry": null},
            {"id": "mbl1", "type": "AuthenticatorEnrollment", "alternateId": "unknown", "displayName": "Okta Verify", "detailEntry": null}
        ]
    })
}

/// Changes the org between two runs, logging each change like Okta does.
fn change_org(okta: &mut FakeOkta) {
    // u3 enrols SMS.
    okta.factors.insert(
        "00u3aaaaaaaaaaaaaaa3".into(),
        vec![json!({"id": "sms3", "factorType": "sms", "provider": "OKTA", "status": "ACTIVE"})],
    );
    okta.events.push(mfa_event(
        "c1",
        "2026-11-23T13:00:00.000Z",
        "user.mfa.factor.activate",
        "00u3aaaaaaaaaaaaaaa3",
    ));
    // u2 loses WebAuthn.
    okta.factors.insert(
        "00u2aaaaaaaaaaaaaaa2".into(),
        vec![json!({"id": "sms2", "factorType": "sms", "provider": "OKTA", "status": "ACTIVE"})],
    );
    okta.events.push(mfa_event(
        "c2",
        "2026-11-23T14:00:00.000Z",
        "user.mfa.factor.deactivate",
        "00u2aaaaaaaaaaaaaaa2",
    ));
    // u4 is reset (no factors before, none after: still refetched).
    okta.events.push(mfa_event(
        "c3",
        "2026-11-23T14:30:00.000Z",
        "user.mfa.factor.reset_all",
        "00u4aaaaaaaaaaaaaaa4",
    ));
    // New user u7 with a security key.
    okta.users.push(json!({"id": "00u7aaaaaaaaaaaaaaa7", "status": "ACTIVE", "profile": {"login": "gil@example.com"}}));
    okta.factors.insert(
        "00u7aaaaaaaaaaaaaaa7".into(),
        vec![json!({"id": "fido7", "factorType": "u2f", "provider": "FIDO", "status": "ACTIVE"})],
    );
    okta.events.push(mfa_event(
        "c4",
        "2026-11-23T15:00:00.000Z",
        "user.lifecycle.create",
        "00u7aaaaaaaaaaaaaaa7",
    ));
    // u6 is deactivated.
    okta.set_status("00u6aaaaaaaaaaaaaaa6", "DEPROVISIONED");
    okta.events.push(mfa_event(
        "c5",
        "2026-11-23T16:00:00.000Z",
        "user.lifecycle.deactivate",
        "00u6aaaaaaaaaaaaaaa6",
    ));
    // An unrelated event naming u1 (not a change event): must not trigger a refetch.
    okta.events.push(mfa_event(
        "c6",
        "2026-11-23T16:30:00.000Z",
        "user.session.start",
        "00u1aaaaaaaaaaaaaaa1",
    ));
}

fn mfa_values(out: &Outcome) -> Vec<Row> {
    out.values()
        .into_iter()
        .filter(|v| v.0.contains("mfa_adoption") || v.0.contains("phish"))
        .collect()
}

#[test]
fn incremental_run_equals_a_full_run() {
    let later = now() + 6 * HOUR_MS;
    let mut okta = load_org();
    let mut state = MemState::default();
    let first = run(&mut okta, &mut state);
    assert!(first.result.is_ok());
    assert_eq!(first.details("okta_mfa_adoption_pct")["refresh"], "full");

    change_org(&mut okta);
    okta.requests.clear();
    let second = run_with(&mut okta, &mut state, later, &[], "{}");
    assert!(second.result.is_ok(), "{:?}", second.result);
    let d = second.details("okta_mfa_adoption_pct");
    assert_eq!(d["refresh"], "incremental");
    // u2, u3 and u4 changed per the log, u7 is new; u1 and u5 are reused.
    assert_eq!(d["factors_fetched_users"], 4);
    assert_eq!(d["factors_reused_users"], 2);
    let fetched: Vec<&String> = okta
        .requests
        .iter()
        .filter(|r| r.ends_with("/factors"))
        .collect();
    assert_eq!(fetched.len(), 4, "{fetched:?}");
    assert!(
        !fetched
            .iter()
            .any(|r| r.contains("00u1") || r.contains("00u5")),
        "{fetched:?}"
    );
    // The change-log read uses the eventType filter over (last run, now].
    let change_read = okta
        .requests
        .iter()
        .find(|r| r.contains("user.mfa.factor.activate"))
        .cloned()
        .unwrap_or_default();
    assert!(
        change_read.contains("since=2026-11-23T12%3A00%3A00.000Z"),
        "{change_read}"
    );
    assert!(
        change_read.contains("user.lifecycle.deactivate"),
        "{change_read}"
    );

    // The same org read from scratch gives the same values.
    let mut fresh_okta = okta.clone();
    let full = run_with(&mut fresh_okta, &mut MemState::default(), later, &[], "{}");
    assert_eq!(full.details("okta_mfa_adoption_pct")["refresh"], "full");
    assert_eq!(mfa_values(&second), mfa_values(&full));
    assert_eq!(second.values(), full.values());
    // u1, u2, u3, u4, u5, u7 ACTIVE: enrolled u1 u2 u3 u5 u7 = 5/6; phish u7 = 1/5.
    assert_eq!(second.value("okta_mfa_adoption_pct"), Some(83.3));
    assert_eq!(second.value("okta_phish_resistant_mfa_pct"), Some(20.0));
    // u6's summary is gone from state.
    let shards: String = state
        .map
        .iter()
        .filter(|(k, _)| k.starts_with("factors/shard/"))
        .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
        .collect();
    assert!(!shards.contains("00u6aaaaaaaaaaaaaaa6") && shards.contains("00u7aaaaaaaaaaaaaaa7"));
}

#[test]
fn incremental_refetches_reset_users_even_without_new_factors() {
    let later = now() + 6 * HOUR_MS;
    let mut okta = load_org();
    let mut state = MemState::default();
    assert!(run(&mut okta, &mut state).result.is_ok());
    // u4 enrols push but the only log line is a reset_all: still refetched.
    okta.factors.insert(
        "00u4aaaaaaaaaaaaaaa4".into(),
        vec![json!({"id": "p4", "factorType": "push", "provider": "OKTA", "status": "ACTIVE"})],
    );
    okta.events.push(mfa_event(
        "r1",
        "2026-11-23T13:00:00.000Z",
        "user.mfa.factor.reset_all",
        "00u4aaaaaaaaaaaaaaa4",
    ));
    okta.requests.clear();
    let out = run_with(
        &mut okta,
        &mut state,
        later,
        &["okta_mfa_adoption_pct"],
        "{}",
    );
    assert_eq!(okta.count_requests("/factors"), 1);
    assert_eq!(out.value("okta_mfa_adoption_pct"), Some(83.3));
}

#[test]
fn full_refresh_triggers() {
    let mut okta = load_org();
    let mut state = MemState::default();
    assert!(run(&mut okta, &mut state).result.is_ok());
    let cases = [
        (6, r#"{"force_full_refresh": true}"#, "full"),
        (12, "{}", "incremental"),
        (18, r#"{"full_refresh_interval_hours": 0}"#, "full"),
        (24, r#"{"full_refresh_interval_hours": 6}"#, "full"),
        (30, r#"{"full_refresh_interval_hours": 7}"#, "incremental"),
        (30 + 168, "{}", "full"),
    ];
    for (hours, extra, mode) in cases {
        let out = run_with(
            &mut okta,
            &mut state,
            now() + hours * HOUR_MS,
            &["okta_mfa_adoption_pct"],
            extra,
        );
        assert_eq!(
            out.details("okta_mfa_adoption_pct")["refresh"],
            mode,
            "+{hours} h {extra}"
        );
        assert_eq!(out.value("okta_mfa_adoption_pct"), Some(66.7));
    }
}

#[test]
fn forbidden_change_log_falls_back_to_a_full_refresh() {
    let mut okta = load_org();
    let mut state = MemState::default();
    assert!(run(&mut okta, &mut state).result.is_ok());
    okta.fail("/api/v1/logs", 403, E403);
    okta.requests.clear();
    let out = run_with(&mut okta, &mut state, now() + 6 * HOUR_MS, &[], "{}");
    assert!(out.result.is_ok());
    let d = out.details("okta_mfa_adoption_pct");
    assert_eq!(d["refresh"], "full");
    assert!(d["refresh_reason"]
        .as_str()
        .unwrap_or("")
        .contains("okta.logs.read"));
    assert_eq!(okta.count_requests("/factors"), 6);
    assert_eq!(out.value("okta_mfa_adoption_pct"), Some(66.7));
    assert_eq!(out.value("okta_impossible_travel_24h"), None);
    let apps = out.details("okta_inactive_users_with_app_access");
    assert_eq!(apps["refresh"], "full");
    assert!(apps["refresh_reason"]
        .as_str()
        .unwrap_or("")
        .contains("okta.logs.read"));
    assert_eq!(okta.count_requests("/appLinks"), 3);
    assert_eq!(out.value("okta_inactive_users_with_app_access"), Some(2.0));
}

#[test]
fn admin_session_started_before_the_window_is_counted_when_it_ends() {
    // Run 1 at 2026-11-23T12:00 sees the start of session S at 11:00 (admin "zed").
    let mut okta = load_org();
    okta.events.push(json!({"uuid": "s-start", "published": "2026-11-23T11:00:00.000Z", "eventType": "user.session.access_admin_app",
        "actor": {"id": "00uzed", "type": "User", "alternateId": "zed@example.com"},
        "authenticationContext": {"externalSessionId": "102SSSSSSSSSSSSSSSSSSSSSS"}}));
    let mut state = MemState::default();
    let first = run_with(
        &mut okta,
        &mut state,
        now(),
        &["okta_admin_session_outliers_24h"],
        "{}",
    );
    assert_eq!(first.value("okta_admin_session_outliers_24h"), Some(2.0));
    let open = String::from_utf8_lossy(&state.map[store::ADMIN_OPEN]).into_owned();
    assert!(open.contains("102SSSSSSSSSSSSSSSSSSSSSS"), "{open}");

    // The session ends at 21:00 (10 h). Run 2 at 22:00 reads only (12:00, 22:00].
    okta.events.push(json!({"uuid": "s-end", "published": "2026-11-23T21:00:00.000Z", "eventType": "user.session.end",
        "authenticationContext": {"externalSessionId": "102SSSSSSSSSSSSSSSSSSSSSS"}}));
    okta.requests.clear();
    let second = run_with(
        &mut okta,
        &mut state,
        now() + 10 * HOUR_MS,
        &["okta_admin_session_outliers_24h"],
        "{}",
    );
    let read = okta.requests.first().cloned().unwrap_or_default();
    assert!(
        read.contains("since=2026-11-23T12%3A00%3A00.000Z"),
        "{read}"
    );
    // 102A (ended 07:00) and 102C (ended 11:30) are still within 24 h, plus S.
    assert_eq!(second.value("okta_admin_session_outliers_24h"), Some(3.0));

    // A fresh connector over the same log agrees.
    let mut fresh = okta.clone();
    let full = run_with(
        &mut fresh,
        &mut MemState::default(),
        now() + 10 * HOUR_MS,
        &["okta_admin_session_outliers_24h"],
        "{}",
    );
    assert_eq!(full.value("okta_admin_session_outliers_24h"), Some(3.0));

    // A day after S ended, every end is older than 24 h: nothing left.
    let third = run_with(
        &mut okta,
        &mut state,
        now() + 46 * HOUR_MS,
        &["okta_admin_session_outliers_24h"],
        "{}",
    );
    assert_eq!(third.value("okta_admin_session_outliers_24h"), Some(0.0));
}

#[test]
fn vanished_users_are_skipped() {
    let mut okta = load_org();
    okta.factors.remove("00u4aaaaaaaaaaaaaaa4"); // the fake answers 404 for it
    let out = run_with(
        &mut okta,
        &mut MemState::default(),
        now(),
        &["okta_mfa_adoption_pct"],
        "{}",
    );
    assert_eq!(out.kri("okta_mfa_adoption_pct").denominator, Some(5.0));
    assert_eq!(out.value("okta_mfa_adoption_pct"), Some(80.0));
    assert_eq!(out.details("okta_mfa_adoption_pct")["users_skipped"], 1);
}

/// State that refuses every write (a full quota).
#[derive(Default)]
struct FullState(MemState);

impl StateStore for FullState {
    fn get(&mut self, key: &str) -> Option<Vec<u8>> {
        self.0.get(key)
    }
    fn set(&mut self, _key: &str, _value: &[u8]) -> Result<(), String> {
        Err("state quota exceeded (bytes)".into())
    }
    fn delete(&mut self, key: &str) {
        self.0.delete(key)
    }
    fn list_keys(&mut self, prefix: &str) -> Vec<String> {
        self.0.list_keys(prefix)
    }
}

#[test]
fn a_full_state_quota_does_not_stop_the_kris() {
    let mut okta = load_org();
    let mut state = FullState::default();
    let _ = state.0.set(store::FACTORS_FULL_REFRESH_AT, b"1");
    let mut output = MemOutput::default();
    let mut log = MemLog::default();
    let result = connector::run(
        &mut Host {
            http: &mut okta,
            state: &mut state,
            output: &mut output,
            log: &mut log,
            events: &mut MemEvents::default(),
        },
        &RunRequest {
            job: connector::KRIS.to_string(),
            time_budget_ms: 600_000,
            now_ms: now(),
            kris: vec![],
            extra_config: "{}".into(),
        },
    );
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(output.kris.len(), 7);
    assert!(output.kris.iter().all(|v| v.value.is_some()));
    assert!(log
        .lines
        .iter()
        .any(|(_, l)| l.contains("state quota exceeded")));
    // The untrusted cache marker is gone, so the next run is a full refresh.
    assert!(!state.0.map.contains_key(store::FACTORS_FULL_REFRESH_AT));
}

const APPS: &str = "okta_inactive_users_with_app_access";
const SUS1: &str = "00us1aaaaaaaaaaaaaa1";
const SUS2: &str = "00us2aaaaaaaaaaaaaa2";
const SUS3: &str = "00us3aaaaaaaaaaaaaa3";

fn app_link(label: &str) -> Value {
    json!({"id": "00ub0oNGTSWTBKOLGLNR", "label": label, "appName": label.to_lowercase(),
        "appInstanceId": "0oa3ompioiQCSTOYXVBK", "hidden": false, "sortOrder": 0})
}

/// A System Log event with the given targets, acted by an admin.
fn target_event(uuid: &str, published: &str, event_type: &str, targets: Value) -> Value {
    json!({
        "uuid": uuid, "published": published, "eventType": event_type, "version": "0",
        "severity": "INFO",
        "actor": {"id": "00uadmin000000000001", "type": "User", "alternateId": "admin@example.com"},
        "outcome": {"result": "SUCCESS", "reason": null},
        "target": targets
    })
}

fn user_target(id: &str, login: &str) -> Value {
    json!({"id": id, "type": "User", "alternateId": login, "displayName": "Someone", "detailEntry": null})
}

/// `application.user_membership.*` as Okta (and the simulator) log it: the app user
/// (`0ua…` id, the app username as `alternateId`), the app instance and the user.
fn app_membership_event(
    uuid: &str,
    published: &str,
    event_type: &str,
    user: Option<&str>,
    app_username: &str,
) -> Value {
    let mut targets = vec![
        json!({"id": "0uas0000000000000001", "type": "AppUser", "alternateId": app_username, "displayName": "Someone", "detailEntry": null}),
        json!({"id": "0oa3ompioiQCSTOYXVBK", "type": "AppInstance", "alternateId": "Box", "displayName": "Box", "detailEntry": null}),
    ];
    if let Some(id) = user {
        targets.push(user_target(id, app_username));
    }
    target_event(uuid, published, event_type, Value::Array(targets))
}

/// Changes suspended users' app access between two runs, logging each change like Okta.
fn change_app_access(okta: &mut FakeOkta) {
    // sus1 loses both apps (two removals; the second event has no User target and is
    // matched by its AppUser's alternateId).
    okta.app_links.insert(SUS1.into(), vec![]);
    okta.events.push(app_membership_event(
        "a1",
        "2026-11-23T13:00:00.000Z",
        "application.user_membership.remove",
        Some(SUS1),
        "sus1@example.com",
    ));
    okta.events.push(app_membership_event(
        "a2",
        "2026-11-23T13:00:01.000Z",
        "application.user_membership.remove",
        None,
        "SUS1@example.com",
    ));
    // sus2 gains an app through a group.
    okta.app_links.insert(SUS2.into(), vec![app_link("Slack")]);
    okta.events.push(target_event(
        "a3",
        "2026-11-23T14:00:00.000Z",
        "group.user_membership.add",
        json!([
            user_target(SUS2, "sus2@example.com"),
            {"id": "00g1aaaaaaaaaaaaaaa1", "type": "UserGroup", "alternateId": "unknown", "displayName": "Sales", "detailEntry": null}
        ]),
    ));
    // u5 is suspended with its two apps: new to the suspended list.
    okta.set_status("00u5aaaaaaaaaaaaaaa5", "SUSPENDED");
    okta.app_links.insert(
        "00u5aaaaaaaaaaaaaaa5".into(),
        vec![app_link("Box"), app_link("Zoom")],
    );
    okta.events.push(target_event(
        "a4",
        "2026-11-23T15:00:00.000Z",
        "user.lifecycle.suspend",
        json!([user_target("00u5aaaaaaaaaaaaaaa5", "ed@example.com")]),
    ));
    // Events about sus3 that are no app-access change, and an app event about an ACTIVE
    // user: neither makes sus3 refetched.
    okta.events.push(target_event(
        "a5",
        "2026-11-23T15:30:00.000Z",
        "user.session.start",
        json!([user_target(SUS3, "sus3@example.com")]),
    ));
    okta.events.push(app_membership_event(
        "a6",
        "2026-11-23T16:00:00.000Z",
        "application.user_membership.add",
        Some("00u1aaaaaaaaaaaaaaa1"),
        "ada@example.com",
    ));
}

#[test]
fn incremental_app_links_refetch_only_changed_suspended_users() {
    let later = now() + 6 * HOUR_MS;
    let mut okta = load_org();
    let mut state = MemState::default();
    let first = run_with(&mut okta, &mut state, now(), &[APPS], "{}");
    assert_eq!(first.value(APPS), Some(2.0));
    assert_eq!(first.details(APPS)["refresh"], "full");
    assert_eq!(okta.count_requests("/appLinks"), 3);

    change_app_access(&mut okta);
    okta.requests.clear();
    let second = run_with(&mut okta, &mut state, later, &[APPS], "{}");
    assert!(second.result.is_ok(), "{:?}", second.result);
    let d = second.details(APPS);
    assert_eq!(d["refresh"], "incremental");
    // sus1 and sus2 changed per the log, u5 is newly suspended (and logged); sus3 is
    // reused.
    assert_eq!(d["app_links_fetched_users"], 3);
    assert_eq!(d["app_links_reused_users"], 1);
    assert_eq!(d["users_changed_in_log"], 3);
    let fetched: Vec<&String> = okta
        .requests
        .iter()
        .filter(|r| r.ends_with("/appLinks"))
        .collect();
    assert_eq!(fetched.len(), 3, "{fetched:?}");
    for id in [SUS1, SUS2, "00u5aaaaaaaaaaaaaaa5"] {
        assert!(fetched.iter().any(|r| r.contains(id)), "{id}: {fetched:?}");
    }
    assert!(!fetched.iter().any(|r| r.contains(SUS3)), "{fetched:?}");
    // The change-log read: since the last run, with the app-access filter.
    let change_read = okta
        .requests
        .iter()
        .find(|r| r.contains("application.user_membership.remove"))
        .cloned()
        .unwrap_or_default();
    assert!(
        change_read.contains("since=2026-11-23T12%3A00%3A00.000Z"),
        "{change_read}"
    );
    for t in [
        "group.user_membership.add",
        "group.user_membership.remove",
        "application.user_membership.change_username",
        "user.lifecycle.suspend",
    ] {
        assert!(change_read.contains(t), "{t}: {change_read}");
    }
    // sus2 (Slack), sus3 (Salesforce), u5 (Box, Zoom) of four suspended users.
    assert_eq!(second.value(APPS), Some(3.0));
    assert_eq!(second.kri(APPS).denominator, Some(4.0));

    // The same org read from scratch gives the same KRI.
    let mut fresh_okta = okta.clone();
    let full = run_with(
        &mut fresh_okta,
        &mut MemState::default(),
        later,
        &[APPS],
        "{}",
    );
    assert_eq!(full.details(APPS)["refresh"], "full");
    assert_eq!(second.values(), full.values());
    let listed = |o: &Outcome| o.details(APPS)["users_with_app_access"].clone();
    assert_eq!(listed(&second), listed(&full));

    // sus2 is unsuspended: its count leaves the state, and nothing is fetched for it.
    okta.set_status(SUS2, "ACTIVE");
    okta.events.push(target_event(
        "a7",
        "2026-11-23T19:00:00.000Z",
        "user.lifecycle.unsuspend",
        json!([user_target(SUS2, "sus2@example.com")]),
    ));
    okta.requests.clear();
    let third = run_with(&mut okta, &mut state, later + 2 * HOUR_MS, &[APPS], "{}");
    assert_eq!(third.details(APPS)["refresh"], "incremental");
    assert_eq!(third.details(APPS)["app_links_fetched_users"], 0);
    assert_eq!(okta.count_requests("/appLinks"), 0);
    assert_eq!(third.value(APPS), Some(2.0));
    assert_eq!(third.kri(APPS).denominator, Some(3.0));
    let shards = shard_text(&state, store::APP_LINKS_SHARD_PREFIX);
    assert!(!shards.contains(SUS2), "{shards}");
    assert!(shards.contains(SUS3) && shards.contains("00u5aaaaaaaaaaaaaaa5"));
}

#[test]
fn app_wide_changes_and_refresh_settings_refetch_every_suspended_user() {
    let mut okta = load_org();
    let mut state = MemState::default();
    assert!(run_with(&mut okta, &mut state, now(), &[APPS], "{}")
        .result
        .is_ok());
    // Nothing changed: incremental, nothing fetched; the change log is one request.
    okta.requests.clear();
    let quiet = run_with(&mut okta, &mut state, now() + HOUR_MS, &[APPS], "{}");
    assert_eq!(quiet.details(APPS)["refresh"], "incremental");
    assert_eq!(okta.count_requests("/appLinks"), 0);
    assert_eq!(
        okta.requests.len(),
        okta.count_requests("/api/v1/users?") + 1,
        "{:?}",
        okta.requests
    );
    assert_eq!(quiet.value(APPS), Some(2.0));

    // An app deactivated: every suspended user's links are refetched.
    okta.app_links.insert(SUS3.into(), vec![]);
    okta.events.push(target_event(
        "w1",
        "2026-11-23T14:00:00.000Z",
        "application.lifecycle.deactivate",
        json!([{"id": "0oa3omz2i9XRNSRIHBZO", "type": "AppInstance", "alternateId": "Salesforce.com", "displayName": "Salesforce.com", "detailEntry": null}]),
    ));
    okta.requests.clear();
    let wide = run_with(&mut okta, &mut state, now() + 3 * HOUR_MS, &[APPS], "{}");
    let d = wide.details(APPS);
    assert_eq!(d["refresh"], "full");
    assert!(
        d["refresh_reason"]
            .as_str()
            .unwrap_or("")
            .contains("application.lifecycle.deactivate"),
        "{d}"
    );
    assert_eq!(okta.count_requests("/appLinks"), 3);
    assert_eq!(wide.value(APPS), Some(1.0));

    // The factor settings drive app links too.
    let cases = [
        (4, r#"{"force_full_refresh": true}"#, "full", 3),
        (5, "{}", "incremental", 0),
        (6, r#"{"full_refresh_interval_hours": 1}"#, "full", 3),
        (6 + 168, "{}", "full", 3),
    ];
    for (hours, extra, mode, fetched) in cases {
        okta.requests.clear();
        let out = run_with(
            &mut okta,
            &mut state,
            now() + hours * HOUR_MS,
            &[APPS],
            extra,
        );
        assert_eq!(out.details(APPS)["refresh"], mode, "+{hours} h {extra}");
        assert_eq!(
            okta.count_requests("/appLinks"),
            fetched,
            "+{hours} h {extra}"
        );
        assert_eq!(out.value(APPS), Some(1.0));
    }
}

#[test]
fn unreadable_app_link_state_means_a_full_refresh() {
    let mut okta = load_org();
    let mut state = MemState::default();
    assert!(run_with(&mut okta, &mut state, now(), &[APPS], "{}")
        .result
        .is_ok());
    let key = store::app_links_shard_key(SUS1);
    let _ = state.set(&key, b"{not json");
    okta.requests.clear();
    let out = run_with(&mut okta, &mut state, now() + HOUR_MS, &[APPS], "{}");
    assert_eq!(out.details(APPS)["refresh"], "full");
    assert_eq!(okta.count_requests("/appLinks"), 3);
    assert_eq!(out.value(APPS), Some(2.0));
    // The rewritten state is readable again.
    okta.requests.clear();
    let next = run_with(&mut okta, &mut state, now() + 2 * HOUR_MS, &[APPS], "{}");
    assert_eq!(next.details(APPS)["refresh"], "incremental");
    assert_eq!(okta.count_requests("/appLinks"), 0);
}

/// A run whose time budget lets only a few per-user requests through: its clock moves
/// 100 ms each time it is read (three reads per batch), over a 1 s budget.
fn run_on_a_short_budget(okta: &mut FakeOkta, state: &mut MemState) -> Outcome {
    use connector_okta::budget::TimeBudget;
    use std::cell::Cell;
    let reads = Cell::new(0u64);
    let budget = TimeBudget::with_clock(1_000, move || {
        reads.set(reads.get() + 1);
        reads.get() * 100
    });
    let mut output = MemOutput::default();
    let mut log = MemLog::default();
    let req = RunRequest {
        job: connector::KRIS.to_string(),
        time_budget_ms: 1_000,
        now_ms: now(),
        kris: vec![],
        extra_config: r#"{"factor_batch_size": 1}"#.to_string(),
    };
    let result = {
        let mut host = Host {
            http: okta,
            state,
            output: &mut output,
            log: &mut log,
            events: &mut MemEvents::default(),
        };
        connector::run_within(&mut host, &req, &budget)
    };
    Outcome {
        result,
        output,
        log,
    }
}

#[test]
fn a_first_sync_longer_than_the_budget_goes_on_over_several_runs() {
    let mut reference_okta = load_org();
    let reference = run(&mut reference_okta, &mut MemState::default());
    assert!(reference.result.is_ok());
    let per_user_requests =
        reference_okta.count_requests("/factors") + reference_okta.count_requests("/appLinks");

    let mut okta = load_org();
    let mut state = MemState::default();
    let first = run_on_a_short_budget(&mut okta, &mut state);
    assert!(first.result.is_ok(), "{:?}", first.result);
    let reason = first
        .kri("okta_mfa_adoption_pct")
        .not_evaluated_reason
        .unwrap_or_default();
    assert!(
        reason.starts_with("first sync in progress: 2 of ") && reason.ends_with(" users"),
        "{reason}"
    );
    assert_eq!(
        first
            .kri("okta_phish_resistant_mfa_pct")
            .not_evaluated_reason,
        Some(reason)
    );
    // KRIs that need no per-user data are computed normally.
    for slug in ["okta_failed_mfa_push_24h", "okta_app_policy_exceptions"] {
        assert_eq!(first.kri(slug), reference.kri(slug), "{slug}");
    }
    assert!(state.get(store::FACTORS_PASS).is_some());

    let mut runs = 1;
    let mut last = first;
    while last
        .output
        .kris
        .iter()
        .any(|k| k.not_evaluated_reason.is_some())
    {
        assert!(runs < 10, "no convergence: {:?}", last.output.kris);
        last = run_on_a_short_budget(&mut okta, &mut state);
        assert!(last.result.is_ok(), "{:?}", last.result);
        runs += 1;
    }
    assert!(runs > 2, "the budget should have cut several runs short");
    assert_eq!(last.values(), reference.values());
    // One pass over the users in all, not one per run.
    assert_eq!(
        okta.count_requests("/factors") + okta.count_requests("/appLinks"),
        per_user_requests
    );
    assert!(state.get(store::FACTORS_PASS).is_none());
    assert!(state.get(store::APP_LINKS_PASS).is_none());
    assert!(store::get_ms(&mut state, store::FACTORS_FULL_REFRESH_AT).is_some());
}
