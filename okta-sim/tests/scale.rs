//! Scale smoke tests: a 10,000-user org answers thousands of requests quickly, and 200
//! orgs can be served from one process at once. Bounds are loose (2-core machines); the
//! timings are printed for a human to read.

mod common;

use std::time::{Duration, Instant};

use common::{get, NOW_MS};
use okta_sim::{Org, OrgSpec, RateLimitConfig, SimConfig, SimServer};

const TOKEN: &str = "sim-token";

fn unlimited() -> SimConfig {
    SimConfig {
        rate_limits: RateLimitConfig {
            enabled: false,
            ..RateLimitConfig::default()
        },
        ..SimConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_users_serve_quickly() {
    let started = Instant::now();
    let org = Org::generate(&OrgSpec {
        seed: 10_000,
        users: 10_000,
        now_ms: NOW_MS,
    });
    let generated = started.elapsed();
    assert!(org.events.len() > 50_000, "{} events", org.events.len());
    let ids: Vec<String> = org.users.iter().take(3_000).map(|u| u.id.clone()).collect();
    let server = SimServer::start(org, unlimited(), 0).await.expect("start");
    let base = server.base_url();

    let started = Instant::now();
    let mut workers = Vec::new();
    for chunk in ids.chunks(ids.len() / 16) {
        let chunk: Vec<String> = chunk.to_vec();
        let base = base.clone();
        workers.push(tokio::spawn(async move {
            for (i, id) in chunk.iter().enumerate() {
                let path = if i % 2 == 0 { "factors" } else { "appLinks" };
                let r = get(&format!("{base}/api/v1/users/{id}/{path}"), Some(TOKEN)).await;
                assert_eq!(r.status, 200);
            }
        }));
    }
    for w in workers {
        w.await.expect("worker");
    }
    let per_user = started.elapsed();

    let started = Instant::now();
    let pages = common::walk(
        &format!("{base}/api/v1/users?filter=status+eq+%22ACTIVE%22"),
        TOKEN,
        1_000,
    )
    .await;
    let listed: usize = pages
        .iter()
        .map(|p| p.json().as_array().map_or(0, Vec::len))
        .sum();
    let users_list = started.elapsed();
    assert!(listed > 8_000);

    let started = Instant::now();
    let logs = common::walk(
        &format!(
            "{base}/api/v1/logs?since=2026-11-16T02:00:00Z&until=2026-11-23T02:00:01Z&limit=1000"
        ),
        TOKEN,
        1_000,
    )
    .await;
    let logs_time = started.elapsed();
    let events: usize = logs
        .iter()
        .map(|p| p.json().as_array().map_or(0, Vec::len))
        .sum();
    println!(
        "10k org: generated in {generated:?}; 3000 factor/appLink requests in {per_user:?}; \
         {listed} active users in {users_list:?}; {events} events in {logs_time:?}"
    );
    assert!(per_user < Duration::from_secs(30), "{per_user:?}");
    assert!(logs_time < Duration::from_secs(30), "{logs_time:?}");
    assert_eq!(
        server.stats().total_requests as usize,
        3_000 + pages.len() + logs.len()
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_orgs_in_one_process() {
    let started = Instant::now();
    let mut servers = Vec::new();
    for seed in 0..200u64 {
        let org = Org::generate(&OrgSpec {
            seed,
            users: 100,
            now_ms: NOW_MS,
        });
        servers.push(
            SimServer::start(org, SimConfig::default(), 0)
                .await
                .expect("start"),
        );
    }
    let mut tasks = Vec::new();
    for s in &servers {
        let base = s.base_url();
        tasks.push(tokio::spawn(async move {
            let r = get(&format!("{base}/api/v1/users?limit=5"), Some(TOKEN)).await;
            assert_eq!(r.status, 200);
            r.json()[0]["id"].as_str().map(str::to_string)
        }));
    }
    let mut firsts = std::collections::BTreeSet::new();
    for t in tasks {
        firsts.insert(t.await.expect("task"));
    }
    assert_eq!(firsts.len(), 200, "each org is different");
    for s in servers {
        assert_eq!(s.stats().total_requests, 1);
        s.shutdown().await;
    }
    println!(
        "200 orgs started, queried and stopped in {:?}",
        started.elapsed()
    );
}
