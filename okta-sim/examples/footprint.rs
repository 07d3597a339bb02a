//! Prints how long generating orgs takes and how big they are (events, users), for
//! sizing benchmarks: `cargo run --release -p okta-sim --example footprint -- 10000 200`.

use std::time::Instant;

use okta_sim::{Org, OrgSpec};

fn main() {
    let mut args = std::env::args().skip(1);
    let users: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let orgs: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1);
    let now_ms = okta_sim::time::parse_iso("2026-11-23T02:00:00Z").expect("valid time");
    sizes();
    let start = Instant::now();
    let mut all = Vec::with_capacity(orgs);
    for seed in 0..orgs as u64 {
        all.push(Org::generate(&OrgSpec {
            seed,
            users,
            now_ms,
        }));
    }
    let elapsed = start.elapsed();
    let events: usize = all.iter().map(|o| o.events.len()).sum();
    println!(
        "{orgs} org(s) of {users} users: {:?} to generate, {events} events ({:.1} per user)",
        elapsed,
        events as f64 / (orgs * users).max(1) as f64
    );
    let t = Instant::now();
    let truth = all[0].ground_truth(now_ms, None);
    println!("ground truth in {:?}: {truth:?}", t.elapsed());
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        for line in status
            .lines()
            .filter(|l| l.starts_with("VmRSS") || l.starts_with("VmHWM"))
        {
            println!("{line}");
        }
    }
}

/// Sizes of the bulk structs.
fn sizes() {
    println!(
        "LogEvent {} B, User {} B, Factor {} B, AppLink {} B",
        std::mem::size_of::<okta_sim::model::LogEvent>(),
        std::mem::size_of::<okta_sim::model::User>(),
        std::mem::size_of::<okta_sim::model::Factor>(),
        std::mem::size_of::<okta_sim::model::AppLink>()
    );
}
