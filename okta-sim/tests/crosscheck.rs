//! Recomputes every KRI of docs/okta-kris.md from the JSON the server returns, the way a
//! connector would (Link-header pagination, tolerant parsing of every behaviour and rule
//! shape), and checks it equals `Org::ground_truth`: the rendered JSON and the structs
//! must tell the same story, before and after `advance`.

mod common;

use std::collections::{BTreeSet, HashMap};

use common::{get, walk, NOW_MS};
use okta_sim::{percent_1dp, GroundTruth, Org, OrgSpec, RateLimitConfig, SimConfig, SimServer};
use serde_json::Value;

const TOKEN: &str = "sim-token";
const HOUR_MS: i64 = 3_600_000;

fn parse_ms(text: &str) -> i64 {
    okta_sim::time::parse_iso(text).unwrap_or_else(|| panic!("bad timestamp {text}"))
}

fn items(pages: &[common::HttpResponse]) -> Vec<Value> {
    pages
        .iter()
        .flat_map(|p| p.json().as_array().cloned().unwrap_or_default())
        .collect()
}

/// Behaviours from the three places docs/okta-kris.md lists: (name, value) pairs.
fn behaviors(event: &Value) -> Vec<(String, String)> {
    fn java_map(text: &str) -> Vec<(String, String)> {
        text.trim()
            .trim_start_matches('{')
            .trim_end_matches('}')
            .split(',')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect()
    }
    let mut out = Vec::new();
    let debug = &event["debugContext"]["debugData"];
    if let Some(text) = debug["behaviors"].as_str() {
        out.extend(java_map(text));
    }
    if let Some(text) = debug["logOnlySecurityData"].as_str() {
        let parsed: Value = serde_json::from_str(text).expect("logOnlySecurityData is JSON");
        if let Some(map) = parsed["behaviors"].as_object() {
            out.extend(
                map.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())),
            );
        }
    }
    match &event["securityContext"]["userBehaviors"] {
        Value::String(text) => out.extend(java_map(text)),
        Value::Object(map) => out.extend(
            map.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())),
        ),
        Value::Array(list) => out.extend(list.iter().map(|b| {
            (
                b["name"].as_str().unwrap_or_default().to_string(),
                b["result"].as_str().unwrap_or_default().to_string(),
            )
        })),
        _ => {}
    }
    out
}

async fn kris_over_http(base: &str, now_ms: i64, cap: Option<usize>) -> GroundTruth {
    // MFA adoption and phishing resistance.
    let active = items(
        &walk(
            &format!("{base}/api/v1/users?filter=status+eq+%22ACTIVE%22"),
            TOKEN,
            1000,
        )
        .await,
    );
    let sampled: Vec<&Value> = active.iter().take(cap.unwrap_or(usize::MAX)).collect();
    let mut enrolled = 0u64;
    let mut phish = 0u64;
    for user in &sampled {
        let id = user["id"].as_str().expect("id");
        let factors = get(&format!("{base}/api/v1/users/{id}/factors"), Some(TOKEN))
            .await
            .json();
        let factors = factors.as_array().expect("factors array");
        let usable: Vec<&Value> = factors
            .iter()
            .filter(|f| {
                f["status"] == "ACTIVE"
                    && f["factorType"] != "password"
                    && f["factorType"] != "question"
            })
            .collect();
        if !usable.is_empty() {
            enrolled += 1;
            let strong = factors.iter().any(|f| {
                f["status"] == "ACTIVE"
                    && (f["factorType"] == "webauthn"
                        || f["factorType"] == "u2f"
                        || f["provider"] == "FIDO")
            });
            if strong {
                phish += 1;
            }
        }
    }

    // Suspended users with app access.
    let suspended = items(
        &walk(
            &format!("{base}/api/v1/users?filter=status%20eq%20%22SUSPENDED%22"),
            TOKEN,
            1000,
        )
        .await,
    );
    let mut with_apps = 0u64;
    for user in &suspended {
        let id = user["id"].as_str().expect("id");
        let links = get(&format!("{base}/api/v1/users/{id}/appLinks"), Some(TOKEN))
            .await
            .json();
        if !links.as_array().expect("array").is_empty() {
            with_apps += 1;
        }
    }

    // System Log: 168 h back for admin-session starts, bounded by now.
    let since = okta_sim::time::format_ms(now_ms - 168 * HOUR_MS);
    let until = okta_sim::time::format_ms(now_ms + 1);
    let events = items(
        &walk(
            &format!("{base}/api/v1/logs?since={since}&until={until}&limit=1000"),
            TOKEN,
            10_000,
        )
        .await,
    );
    let window = |t: i64| t > now_ms - 24 * HOUR_MS && t <= now_ms;
    let mut travel = BTreeSet::new();
    let mut push = BTreeSet::new();
    let mut starts: HashMap<String, i64> = HashMap::new();
    let mut outliers = 0u64;
    for e in &events {
        let t = parse_ms(e["published"].as_str().expect("published"));
        let kind = e["eventType"].as_str().expect("eventType");
        let uuid = e["uuid"].as_str().expect("uuid").to_string();
        let session = e["authenticationContext"]["externalSessionId"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if kind == "user.session.access_admin_app" {
            starts.entry(session.clone()).or_insert(t);
        }
        if !window(t) {
            continue;
        }
        if behaviors(e).iter().any(|(n, v)| {
            n.trim().to_lowercase().starts_with("velocity") && v.eq_ignore_ascii_case("POSITIVE")
        }) {
            travel.insert(uuid.clone());
        }
        let denied = kind == "user.mfa.okta_verify.deny_push"
            || (kind == "user.authentication.auth_via_mfa"
                && e["debugContext"]["debugData"]["factor"] == "OKTA_VERIFY_PUSH"
                && e["outcome"]["result"] == "FAILURE");
        if denied {
            push.insert(uuid.clone());
        }
        if kind == "user.session.end" {
            if let Some(start) = starts.get(&session) {
                if t - start > 8 * HOUR_MS {
                    outliers += 1;
                }
            }
        }
    }

    // App sign-on policy exceptions.
    let policies = get(
        &format!("{base}/api/v1/policies?type=ACCESS_POLICY"),
        Some(TOKEN),
    )
    .await
    .json();
    let mut exceptions = 0u64;
    let mut active_rules = 0u64;
    for p in policies
        .as_array()
        .expect("policies")
        .iter()
        .filter(|p| p["status"] == "ACTIVE")
    {
        let id = p["id"].as_str().expect("id");
        let rules = get(&format!("{base}/api/v1/policies/{id}/rules"), Some(TOKEN))
            .await
            .json();
        for r in rules
            .as_array()
            .expect("rules")
            .iter()
            .filter(|r| r["status"] == "ACTIVE")
        {
            active_rules += 1;
            let sign_on = &r["actions"]["appSignOn"];
            let vm = &sign_on["verificationMethod"];
            if sign_on["access"] == "ALLOW" && (vm.is_null() || vm["factorMode"] == "1FA") {
                exceptions += 1;
            }
        }
    }

    GroundTruth {
        active_users: sampled.len() as u64,
        mfa_enrolled: enrolled,
        mfa_adoption_pct: percent_1dp(enrolled, sampled.len() as u64),
        phish_resistant_users: phish,
        phish_resistant_mfa_pct: percent_1dp(phish, enrolled),
        suspended_users: suspended.len() as u64,
        inactive_users_with_app_access: with_apps,
        impossible_travel_24h: travel.len() as u64,
        admin_session_outliers_24h: outliers,
        failed_mfa_push_24h: push.len() as u64,
        app_policy_exceptions: exceptions,
        active_access_rules: active_rules,
    }
}

#[tokio::test]
async fn kris_from_the_api_equal_the_ground_truth() {
    let config = SimConfig {
        rate_limits: RateLimitConfig {
            enabled: false,
            ..RateLimitConfig::default()
        },
        ..SimConfig::default()
    };
    for (seed, users) in [(1u64, 400usize), (2, 250), (42, 600)] {
        let org = Org::generate(&OrgSpec {
            seed,
            users,
            now_ms: NOW_MS,
        });
        let server = SimServer::start(org, config.clone(), 0)
            .await
            .expect("start");
        let base = server.base_url();
        let truth = server
            .org()
            .read()
            .expect("lock")
            .ground_truth(NOW_MS, None);
        assert!(
            truth.impossible_travel_24h + truth.failed_mfa_push_24h > 0,
            "{truth:?}"
        );
        let seen = kris_over_http(&base, NOW_MS, None).await;
        assert_eq!(seen, truth, "seed {seed}");

        let capped = server
            .org()
            .read()
            .expect("lock")
            .ground_truth(NOW_MS, Some(50));
        assert_eq!(
            kris_over_http(&base, NOW_MS, Some(50)).await,
            capped,
            "seed {seed} capped"
        );

        // A day later, after changes, they still agree.
        let now = {
            let org = server.org();
            let mut org = org.write().expect("lock");
            org.advance(86_400_000, 0.05, seed + 1);
            org.now_ms()
        };
        let truth = server.org().read().expect("lock").ground_truth(now, None);
        assert_eq!(
            kris_over_http(&base, now, None).await,
            truth,
            "seed {seed} after advance"
        );
        // And at a `now` between the two data clocks.
        let mid = now - 12 * HOUR_MS;
        let truth = server.org().read().expect("lock").ground_truth(mid, None);
        let seen = kris_over_http(&base, mid, None).await;
        assert_eq!(seen.impossible_travel_24h, truth.impossible_travel_24h);
        assert_eq!(seen.failed_mfa_push_24h, truth.failed_mfa_push_24h);
        assert_eq!(
            seen.admin_session_outliers_24h,
            truth.admin_session_outliers_24h
        );
        server.shutdown().await;
    }
}
