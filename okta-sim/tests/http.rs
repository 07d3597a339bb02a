//! HTTP behaviour against a real server on 127.0.0.1: pagination by Link headers,
//! filters, System Log polling, auth errors, rate and concurrency limits, faults, 404s,
//! and the events `advance` writes as the API shows them.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{get, get_with_auth, request, walk, NOW_MS};
use okta_sim::{
    Family, FaultConfig, Org, OrgSpec, RateLimitConfig, SimConfig, SimServer, UserStatus,
};

const TOKEN: &str = "sim-token";

fn org(seed: u64, users: usize) -> Org {
    Org::generate(&OrgSpec {
        seed,
        users,
        now_ms: NOW_MS,
    })
}

async fn start(org: Org, config: SimConfig) -> SimServer {
    SimServer::start(org, config, 0)
        .await
        .expect("server starts")
}

fn assert_error_body(body: &serde_json::Value, code: &str, summary: &str) {
    let obj = body.as_object().expect("error body is an object");
    let keys: BTreeSet<&str> = obj.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        BTreeSet::from([
            "errorCode",
            "errorSummary",
            "errorLink",
            "errorId",
            "errorCauses"
        ]),
        "{body}"
    );
    assert_eq!(body["errorCode"], code);
    assert_eq!(body["errorLink"], code);
    assert_eq!(body["errorSummary"], summary);
    assert!(body["errorId"].as_str().is_some_and(|s| s.len() > 10));
    assert!(body["errorCauses"].is_array());
}

#[tokio::test]
async fn pagination_walks_every_user_exactly_once() {
    let server = start(org(1, 450), SimConfig::default()).await;
    let base = server.base_url();
    let expected: Vec<String> = {
        let org = server.org();
        let org = org.read().expect("lock");
        org.users
            .iter()
            .filter(|u| u.status != UserStatus::Deprovisioned)
            .map(|u| u.id.clone())
            .collect()
    };
    for limit in [None, Some(37), Some(200)] {
        let url = match limit {
            Some(l) => format!("{base}/api/v1/users?limit={l}"),
            None => format!("{base}/api/v1/users"),
        };
        let pages = walk(&url, TOKEN, 100).await;
        let mut seen = Vec::new();
        for (i, page) in pages.iter().enumerate() {
            let links = page.header_all("link");
            let last = i + 1 == pages.len();
            // One header line per rel.
            assert_eq!(links.len(), if last { 1 } else { 2 }, "{links:?}");
            assert!(links.iter().all(|l| !l.contains(',')), "{links:?}");
            assert!(page.link("self").is_some());
            assert!(page.link("next").is_some() != last);
            if let Some(next) = page.link("next") {
                assert!(
                    next.starts_with(&format!("{base}/api/v1/users?limit=")),
                    "{next}"
                );
                assert!(next.contains("&after="), "{next}");
            }
            for u in page.json().as_array().expect("array") {
                seen.push(u["id"].as_str().expect("id").to_string());
            }
        }
        assert_eq!(seen, expected, "limit {limit:?}");
        let pages_expected = expected.len().div_ceil(limit.unwrap_or(200));
        assert_eq!(pages.len(), pages_expected);
    }
    server.shutdown().await;
}

#[tokio::test]
async fn status_filters_work_url_encoded() {
    let server = start(org(2, 600), SimConfig::default()).await;
    let base = server.base_url();
    let (suspended, active, deprovisioned) = {
        let org = server.org();
        let org = org.read().expect("lock");
        let ids = |s: UserStatus| -> Vec<String> {
            org.users
                .iter()
                .filter(|u| u.status == s)
                .map(|u| u.id.clone())
                .collect()
        };
        (
            ids(UserStatus::Suspended),
            ids(UserStatus::Active),
            ids(UserStatus::Deprovisioned),
        )
    };
    let collect = |pages: Vec<common::HttpResponse>| -> Vec<(String, String)> {
        pages
            .iter()
            .flat_map(|p| {
                p.json()
                    .as_array()
                    .expect("array")
                    .iter()
                    .map(|u| {
                        (
                            u["id"].as_str().unwrap_or("").to_string(),
                            u["status"].as_str().unwrap_or("").to_string(),
                        )
                    })
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    for encoded in ["status%20eq%20%22SUSPENDED%22", "status+eq+%22SUSPENDED%22"] {
        let pages = walk(
            &format!("{base}/api/v1/users?filter={encoded}&limit=10"),
            TOKEN,
            100,
        )
        .await;
        let got = collect(pages);
        assert!(got.iter().all(|(_, s)| s == "SUSPENDED"));
        let ids: Vec<String> = got.into_iter().map(|(i, _)| i).collect();
        assert_eq!(ids, suspended);
    }
    let pages = walk(
        &format!("{base}/api/v1/users?search=status+eq+%22SUSPENDED%22"),
        TOKEN,
        100,
    )
    .await;
    let ids: Vec<String> = collect(pages).into_iter().map(|(i, _)| i).collect();
    assert_eq!(ids, suspended, "search= works like filter=");
    let pages = walk(
        &format!("{base}/api/v1/users?filter=status+eq+%22ACTIVE%22"),
        TOKEN,
        100,
    )
    .await;
    let ids: Vec<String> = collect(pages).into_iter().map(|(i, _)| i).collect();
    assert_eq!(ids, active);
    // The next link keeps the filter.
    let first = get(
        &format!("{base}/api/v1/users?filter=status+eq+%22ACTIVE%22"),
        Some(TOKEN),
    )
    .await;
    let next = first
        .link("next")
        .expect("more than one page of active users");
    assert!(next.contains("filter=status+eq+%22ACTIVE%22"), "{next}");

    let pages = walk(
        &format!("{base}/api/v1/users?filter=%28status+eq+%22SUSPENDED%22+or+status+eq+%22DEPROVISIONED%22%29"),
        TOKEN,
        100,
    )
    .await;
    let got: BTreeSet<String> = collect(pages).into_iter().map(|(i, _)| i).collect();
    let want: BTreeSet<String> = suspended
        .iter()
        .chain(deprovisioned.iter())
        .cloned()
        .collect();
    assert_eq!(got, want);

    let bad = get(
        &format!("{base}/api/v1/users?filter=lastUpdated+gt+%222020%22"),
        Some(TOKEN),
    )
    .await;
    assert_eq!(bad.status, 400);
    assert_error_body(&bad.json(), "E0000031", "Invalid search criteria.");
    server.shutdown().await;
}

#[tokio::test]
async fn user_subresources_and_shapes() {
    let server = start(org(3, 300), SimConfig::default()).await;
    let base = server.base_url();
    let (user_id, suspended_with_links) = {
        let org = server.org();
        let org = org.read().expect("lock");
        let u = org
            .users
            .iter()
            .find(|u| u.status == UserStatus::Active && !u.factors.is_empty())
            .expect("an enrolled user");
        let s = org
            .users
            .iter()
            .find(|u| u.status == UserStatus::Suspended && !u.app_links.is_empty())
            .expect("suspended with apps");
        (u.id.clone(), s.id.clone())
    };
    let user = get(&format!("{base}/api/v1/users/{user_id}"), Some(TOKEN)).await;
    assert_eq!(user.status, 200);
    let u = user.json();
    assert_eq!(u["id"], user_id.as_str());
    for key in [
        "status",
        "created",
        "activated",
        "statusChanged",
        "lastLogin",
        "lastUpdated",
        "passwordChanged",
        "type",
        "profile",
        "credentials",
        "_links",
    ] {
        assert!(u.get(key).is_some(), "user lacks {key}");
    }
    assert!(u["_links"]["suspend"]["href"].is_string());
    assert_eq!(user.header("content-type"), Some("application/json"));
    assert!(user.header("date").is_some());
    assert!(user.header("x-okta-request-id").is_some());
    assert_eq!(user.header_i64("x-rate-limit-limit"), 600);

    let factors = get(
        &format!("{base}/api/v1/users/{user_id}/factors"),
        Some(TOKEN),
    )
    .await;
    assert_eq!(factors.status, 200);
    assert_eq!(factors.header_i64("x-rate-limit-limit"), 600);
    let list = factors.json();
    for f in list.as_array().expect("factors array") {
        for key in [
            "id",
            "factorType",
            "provider",
            "status",
            "created",
            "lastUpdated",
            "profile",
            "_links",
        ] {
            assert!(f.get(key).is_some(), "factor lacks {key}: {f}");
        }
    }
    let links = get(
        &format!("{base}/api/v1/users/{suspended_with_links}/appLinks"),
        Some(TOKEN),
    )
    .await;
    let arr = links.json();
    assert!(!arr.as_array().expect("array").is_empty());
    for key in [
        "id",
        "label",
        "linkUrl",
        "logoUrl",
        "appName",
        "appInstanceId",
        "appAssignmentId",
        "credentialsSetup",
        "hidden",
        "sortOrder",
    ] {
        assert!(arr[0].get(key).is_some(), "appLink lacks {key}");
    }

    let login = u["profile"]["login"].as_str().expect("login").to_string();
    let by_login = get(&format!("{base}/api/v1/users/{login}"), Some(TOKEN)).await;
    assert_eq!(by_login.json()["id"], user_id.as_str(), "GET by login");
    let missing = get(
        &format!("{base}/api/v1/users/00uDOESNOTEXIST00000"),
        Some(TOKEN),
    )
    .await;
    assert_eq!(missing.status, 404);
    assert_error_body(
        &missing.json(),
        "E0000007",
        "Not found: Resource not found: 00uDOESNOTEXIST00000 (User)",
    );
    let missing = get(
        &format!("{base}/api/v1/users/00uDOESNOTEXIST00000/factors"),
        Some(TOKEN),
    )
    .await;
    assert_eq!(missing.status, 404);
    let unknown = get(&format!("{base}/api/v1/brands"), Some(TOKEN)).await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.json()["errorCode"], "E0000007");
    let post = request(
        "POST",
        &format!("{base}/api/v1/users"),
        Some("SSWS sim-token"),
    )
    .await;
    assert_eq!(post.status, 405);
    server.shutdown().await;
}

#[tokio::test]
async fn other_lists_have_okta_shapes() {
    let server = start(org(4, 500), SimConfig::default()).await;
    let base = server.base_url();
    let apps = walk(&format!("{base}/api/v1/apps?limit=3"), TOKEN, 50).await;
    let app_count: usize = apps
        .iter()
        .map(|p| p.json().as_array().map_or(0, Vec::len))
        .sum();
    assert_eq!(app_count, server.org().read().expect("lock").apps.len());
    assert_eq!(apps[0].header_i64("x-rate-limit-limit"), 100);
    let groups = get(&format!("{base}/api/v1/groups"), Some(TOKEN)).await;
    assert_eq!(groups.header_i64("x-rate-limit-limit"), 500);
    assert!(groups.json()[0]["profile"]["name"].is_string());

    let policies = get(
        &format!("{base}/api/v1/policies?type=ACCESS_POLICY"),
        Some(TOKEN),
    )
    .await;
    assert_eq!(policies.status, 200);
    let list = policies.json();
    let list = list.as_array().expect("array");
    assert!(list.len() >= 6);
    assert!(list.iter().all(|p| p["type"] == "ACCESS_POLICY"));
    for p in list {
        let id = p["id"].as_str().expect("id");
        let rules = get(&format!("{base}/api/v1/policies/{id}/rules"), Some(TOKEN)).await;
        assert_eq!(rules.status, 200);
        assert_eq!(rules.header_i64("x-rate-limit-limit"), 100);
        assert!(rules.json().as_array().is_some_and(|r| !r.is_empty()));
    }
    let other = get(
        &format!("{base}/api/v1/policies?type=OKTA_SIGN_ON"),
        Some(TOKEN),
    )
    .await;
    assert_eq!(other.json(), serde_json::json!([]));
    let no_type = get(&format!("{base}/api/v1/policies"), Some(TOKEN)).await;
    assert_eq!(no_type.status, 400);

    let tokens = get(&format!("{base}/api/v1/api-tokens"), Some(TOKEN)).await;
    assert!(tokens.json()[0]["id"]
        .as_str()
        .is_some_and(|s| s.starts_with("00T")));
    let assignees = get(
        &format!("{base}/api/v1/iam/assignees/users?limit=1"),
        Some(TOKEN),
    )
    .await;
    let body = assignees.json();
    assert!(body["value"].is_array(), "{body}");
    assert_eq!(body["value"].as_array().map(Vec::len), Some(1));
    let next = body["_links"]["next"]["href"]
        .as_str()
        .expect("next page of assignees");
    let second = get(next, Some(TOKEN)).await.json();
    assert_ne!(second["value"][0]["id"], body["value"][0]["id"]);
    let admin = body["value"][0]["id"].as_str().expect("id");
    let roles = get(&format!("{base}/api/v1/users/{admin}/roles"), Some(TOKEN)).await;
    assert!(roles.json()[0]["type"]
        .as_str()
        .is_some_and(|t| t.ends_with("ADMIN")));
    server.shutdown().await;
}

#[tokio::test]
async fn system_log_polling_and_bounded_queries() {
    let server = start(org(5, 200), SimConfig::default()).await;
    let base = server.base_url();
    let since = "2026-11-22T02:00:00.000Z";
    // Polling: no `until`, the next link is always present, even on an empty page.
    let url = format!("{base}/api/v1/logs?since={since}&limit=1000");
    let pages = walk(&url, TOKEN, 50).await;
    assert_eq!(pages.len(), 50, "polling never ends by itself");
    let mut published = Vec::new();
    let mut empty_pages = 0;
    for p in &pages {
        assert!(p.link("next").is_some());
        let arr = p.json();
        let arr = arr.as_array().expect("array").clone();
        if arr.is_empty() {
            empty_pages += 1;
        }
        published.extend(
            arr.iter()
                .map(|e| e["published"].as_str().expect("published").to_string()),
        );
    }
    assert!(empty_pages >= 1);
    assert!(published.windows(2).all(|w| w[0] <= w[1]), "ascending");
    assert!(published.iter().all(|p| p.as_str() >= since));
    let count = published.len();
    let expected = {
        let org = server.org();
        let org = org.read().expect("lock");
        org.events
            .iter()
            .filter(|e| e.published_ms >= NOW_MS - 86_400_000)
            .count()
    };
    assert_eq!(count, expected);

    // New events appear at the polling cursor after a day passes.
    let cursor = pages.last().and_then(|p| p.link("next")).expect("cursor");
    server
        .org()
        .write()
        .expect("lock")
        .advance(86_400_000, 0.01, 3);
    let fresh = walk(&cursor, TOKEN, 30).await;
    let new_events: usize = fresh
        .iter()
        .map(|p| p.json().as_array().map_or(0, Vec::len))
        .sum();
    assert!(new_events > 100, "{new_events} new events");
    assert!(fresh.last().and_then(|p| p.link("next")).is_some());

    // With `until` the list ends.
    let until = "2026-11-23T00:00:00.000Z";
    let pages = walk(
        &format!("{base}/api/v1/logs?since={since}&until={until}&limit=200"),
        TOKEN,
        100,
    )
    .await;
    assert!(pages.len() < 100);
    assert!(pages.last().and_then(|p| p.link("next")).is_none());
    let bounded: Vec<String> = pages
        .iter()
        .flat_map(|p| p.json().as_array().cloned().unwrap_or_default())
        .map(|e| e["published"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(bounded
        .iter()
        .all(|p| p.as_str() >= since && p.as_str() < until));
    assert!(!bounded.is_empty());

    // DESCENDING with until walks backwards and ends.
    let pages = walk(
        &format!("{base}/api/v1/logs?since={since}&until={until}&limit=500&sortOrder=DESCENDING"),
        TOKEN,
        100,
    )
    .await;
    let desc: Vec<String> = pages
        .iter()
        .flat_map(|p| p.json().as_array().cloned().unwrap_or_default())
        .map(|e| e["published"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(desc.len(), bounded.len());
    assert!(desc.windows(2).all(|w| w[0] >= w[1]));

    // eventType filters joined with `or`.
    let filter =
        "eventType+eq+%22user.session.access_admin_app%22+or+eventType+eq+%22user.session.end%22";
    let pages = walk(
        &format!("{base}/api/v1/logs?since={since}&until={until}&filter={filter}"),
        TOKEN,
        100,
    )
    .await;
    let types: BTreeSet<String> = pages
        .iter()
        .flat_map(|p| p.json().as_array().cloned().unwrap_or_default())
        .map(|e| e["eventType"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(
        types
            .iter()
            .all(|t| t == "user.session.access_admin_app" || t == "user.session.end"),
        "{types:?}"
    );
    assert_eq!(types.len(), 2);

    // Default `since` is seven days before the data clock; bad dates are 400s.
    let all = walk(
        &format!("{base}/api/v1/logs?until=2026-11-30T00:00:00Z&limit=1000"),
        TOKEN,
        100,
    )
    .await;
    assert!(
        all.iter()
            .map(|p| p.json().as_array().map_or(0, Vec::len))
            .sum::<usize>()
            > count
    );
    let bad = get(&format!("{base}/api/v1/logs?since=yesterday"), Some(TOKEN)).await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["errorCode"], "E0000001");
    server.shutdown().await;
}

#[tokio::test]
async fn missing_or_wrong_token_is_401() {
    let server = start(org(6, 50), SimConfig::default()).await;
    let url = format!("{}/api/v1/users", server.base_url());
    for auth in [
        None,
        Some("SSWS wrong"),
        Some("Bearer sim-token"),
        Some("SSWS  sim-token"),
        Some("sim-token"),
    ] {
        let r = get_with_auth(&url, auth).await;
        assert_eq!(r.status, 401, "{auth:?}");
        assert_error_body(&r.json(), "E0000011", "Invalid token provided");
        assert_eq!(r.json()["errorCauses"], serde_json::json!([]));
        assert!(r.header("x-rate-limit-limit").is_some());
        assert!(r.header("x-okta-request-id").is_some());
    }
    assert_eq!(get(&url, Some(TOKEN)).await.status, 200);
    assert_eq!(server.stats().unauthorized, 5);
    server.shutdown().await;
}

#[tokio::test]
async fn rate_limit_429_after_budget_is_spent() {
    let mut limits = RateLimitConfig {
        window_ms: 3_600_000,
        ..RateLimitConfig::default()
    };
    limits.limits.insert(Family::Users, 5);
    let config = SimConfig {
        rate_limits: limits,
        ..SimConfig::default()
    };
    let server = start(org(7, 50), config).await;
    let url = format!("{}/api/v1/users?limit=5", server.base_url());
    let mut reset = None;
    for i in 0..5 {
        let r = get(&url, Some(TOKEN)).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.header_i64("x-rate-limit-limit"), 5);
        assert_eq!(r.header_i64("x-rate-limit-remaining"), 4 - i);
        reset = Some(r.header_i64("x-rate-limit-reset"));
    }
    let r = get(&url, Some(TOKEN)).await;
    assert_eq!(r.status, 429);
    assert_error_body(
        &r.json(),
        "E0000047",
        "API call exceeded rate limit due to too many requests.",
    );
    assert_eq!(r.header_i64("x-rate-limit-limit"), 5);
    assert_eq!(r.header_i64("x-rate-limit-remaining"), 0);
    assert_eq!(Some(r.header_i64("x-rate-limit-reset")), reset);
    assert!(r.header("retry-after").is_none());
    let date = httpdate::parse_http_date(r.header("date").expect("date")).expect("http date");
    let date_secs = date
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after epoch")
        .as_secs() as i64;
    let reset = r.header_i64("x-rate-limit-reset");
    assert!(
        reset > date_secs && reset <= date_secs + 3600,
        "reset {reset} date {date_secs}"
    );
    // Another family has its own bucket; a user's factors too.
    let apps = get(&format!("{}/api/v1/apps", server.base_url()), Some(TOKEN)).await;
    assert_eq!(apps.status, 200);
    assert_eq!(apps.header_i64("x-rate-limit-limit"), 100);
    let stats = server.stats();
    assert_eq!(stats.rate_limited, 1);
    assert_eq!(stats.too_many_requests, 1);
    assert_eq!(stats.by_family.get(&Family::Users), Some(&6));
    server.shutdown().await;

    // Disabled limits keep the headers but never refuse.
    let mut limits = RateLimitConfig {
        enabled: false,
        ..RateLimitConfig::default()
    };
    limits.limits.insert(Family::Users, 2);
    let server = start(
        org(7, 50),
        SimConfig {
            rate_limits: limits,
            ..SimConfig::default()
        },
    )
    .await;
    let url = format!("{}/api/v1/users?limit=5", server.base_url());
    for _ in 0..4 {
        let r = get(&url, Some(TOKEN)).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.header_i64("x-rate-limit-limit"), 2);
    }
    server.shutdown().await;
}

#[tokio::test]
async fn short_windows_reset() {
    let config = SimConfig {
        rate_limits: RateLimitConfig::scaled(1_000, 3.0 / 600.0),
        ..SimConfig::default()
    };
    assert_eq!(config.rate_limits.limit(Family::Users), 3);
    let server = start(org(8, 20), config).await;
    let url = format!("{}/api/v1/users", server.base_url());
    // Eight requests: even if they straddle a window boundary, one window gets four.
    let mut statuses = Vec::new();
    for _ in 0..8 {
        statuses.push(get(&url, Some(TOKEN)).await.status);
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    assert_eq!(get(&url, Some(TOKEN)).await.status, 200);
    server.shutdown().await;
}

#[tokio::test]
async fn too_many_in_flight_is_a_concurrency_429() {
    let limits = RateLimitConfig {
        concurrency: 2,
        ..RateLimitConfig::default()
    };
    // Long enough that all six requests are in flight together on a busy machine.
    let config = SimConfig {
        rate_limits: limits,
        latency_ms: 1_500,
        ..SimConfig::default()
    };
    let server = start(org(9, 30), config).await;
    let url = format!("{}/api/v1/groups", server.base_url());
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let url = url.clone();
        tasks.push(tokio::spawn(async move { get(&url, Some(TOKEN)).await }));
    }
    let mut ok = 0;
    let mut limited = 0;
    for t in tasks {
        let r = t.await.expect("task");
        match r.status {
            200 => ok += 1,
            429 => {
                limited += 1;
                assert_eq!(r.header_i64("x-rate-limit-limit"), 0);
                assert_eq!(r.header_i64("x-rate-limit-remaining"), 0);
                let date =
                    httpdate::parse_http_date(r.header("date").expect("date")).expect("date");
                let secs = date
                    .duration_since(std::time::UNIX_EPOCH)
                    .expect("epoch")
                    .as_secs() as i64;
                let reset = r.header_i64("x-rate-limit-reset");
                assert!(
                    reset >= secs && reset <= secs + 2,
                    "reset {reset} date {secs}"
                );
                assert!(r.header("retry-after").is_none());
                assert_eq!(r.json()["errorCode"], "E0000047");
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert!((1..=2).contains(&ok), "ok {ok}");
    assert_eq!(ok + limited, 6);
    let stats = server.stats();
    assert_eq!(stats.concurrency_limited, limited);
    assert_eq!(stats.too_many_requests, limited);
    assert!(stats.max_in_flight <= 2);
    server.shutdown().await;
}

#[tokio::test]
async fn injected_faults() {
    let server = start(org(10, 60), SimConfig::default()).await;
    let base = server.base_url();
    let mut faults = FaultConfig::default();
    faults.forbidden.insert(Family::Logs);
    faults.server_errors.insert(Family::Apps, 3);
    faults.malformed.insert(Family::Groups);
    server.set_faults(faults);

    let r = get(&format!("{base}/api/v1/logs"), Some(TOKEN)).await;
    assert_eq!(r.status, 403);
    assert_error_body(
        &r.json(),
        "E0000006",
        "You do not have permission to perform the requested action",
    );
    assert!(r.header("x-rate-limit-limit").is_some());

    let mut codes = Vec::new();
    for _ in 0..4 {
        let r = get(&format!("{base}/api/v1/apps"), Some(TOKEN)).await;
        if r.status >= 500 {
            let body = r.json();
            assert!(body["errorCode"]
                .as_str()
                .is_some_and(|c| c.starts_with("E0000")));
            assert!(body["errorSummary"].is_string());
        }
        codes.push(r.status);
    }
    assert_eq!(codes, vec![500, 503, 500, 200]);

    let r = get(&format!("{base}/api/v1/groups"), Some(TOKEN)).await;
    assert_eq!(r.status, 200);
    assert!(
        serde_json::from_slice::<serde_json::Value>(&r.body).is_err(),
        "body must not parse"
    );

    server.set_faults(FaultConfig::default());
    assert_eq!(
        get(&format!("{base}/api/v1/logs"), Some(TOKEN))
            .await
            .status,
        200
    );
    let r = get(&format!("{base}/api/v1/groups"), Some(TOKEN)).await;
    r.json();
    let stats = server.stats();
    assert_eq!(stats.forbidden, 1);
    assert_eq!(stats.server_errors, 3);
    assert_eq!(stats.malformed, 1);
    server.shutdown().await;
}

#[tokio::test]
async fn advance_events_name_users_in_the_api() {
    let server = start(org(12, 300), SimConfig::default()).await;
    let base = server.base_url();
    let changed = server
        .org()
        .write()
        .expect("lock")
        .advance(86_400_000, 0.04, 5);
    assert!(!changed.is_empty());
    let since = "2026-11-23T02:00:00.001Z";
    let pages = walk(
        &format!("{base}/api/v1/logs?since={since}&until=2026-11-24T02:00:00.001Z&limit=1000"),
        TOKEN,
        100,
    )
    .await;
    let mut named: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for p in &pages {
        for e in p.json().as_array().cloned().unwrap_or_default() {
            let kind = e["eventType"].as_str().unwrap_or_default().to_string();
            if !(kind.starts_with("user.lifecycle.")
                || kind.starts_with("user.mfa.factor.")
                || kind.starts_with("user.account.")
                || kind.starts_with("application.user_membership"))
            {
                continue;
            }
            for t in e["target"].as_array().cloned().unwrap_or_default() {
                if t["type"] == "User" {
                    named
                        .entry(t["id"].as_str().unwrap_or_default().to_string())
                        .or_default()
                        .insert(kind.clone());
                }
            }
        }
    }
    for id in &changed {
        assert!(named.contains_key(id), "no event names {id}");
    }
    // The changed users' new state is served.
    let sample = &changed[0];
    let user = get(&format!("{base}/api/v1/users/{sample}"), Some(TOKEN)).await;
    assert_eq!(user.status, 200);
    server.shutdown().await;
}
