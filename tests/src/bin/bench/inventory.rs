//! Figure 8: a full `inventory` sync of a 10,000-user org with 1,000 groups and 300 apps
//! against okta-sim at the benchmark's rate limits (requests, wall time against the
//! rate-limit floor, the graph's size), then an incremental sync a simulated day later
//! (its requests as a share of the full sync's; target at most 5 %).

use std::time::Instant;

use anyhow::{anyhow, Result};
use kri_host::{KriHost, RunOptions, RunOutcome};
use okta_sim::{GraphShape, Org, OrgSpec, SimServer};
use serde_json::json;

use super::{
    floors, host_with, limits, secs, sim_config, tenant, token, Bench, DAY, LATENCY_MS,
    LIMIT_FACTOR, NOW, SHARE, TOKEN, WINDOW_MS,
};

/// A run of the `inventory` job, which must succeed.
async fn inventory_at(host: &KriHost, id: &str, now: i64) -> Result<RunOutcome> {
    let o = host
        .run(
            "okta",
            id,
            RunOptions {
                now_ms: Some(now),
                progress: None,
                job: Some("inventory".into()),
            },
        )
        .await?;
    if !o.succeeded {
        return Err(anyhow!("inventory run of {id} failed: {:?}", o.error));
    }
    Ok(o)
}

impl Bench {
    /// Figure 8.
    pub(super) async fn inventory_sync(&mut self) -> Result<()> {
        let shape = GraphShape::BENCH;
        println!(
            "\n[8] inventory: full sync of {} users, {} groups, {} apps, Okta limits x{LIMIT_FACTOR} per {WINDOW_MS} ms window, share {SHARE}, latency {LATENCY_MS} ms",
            self.users, shape.groups, shape.apps
        );
        let spec = OrgSpec {
            seed: 4242,
            users: self.users,
            now_ms: NOW,
        };
        let org = Org::generate_shaped(&spec, shape);
        let sim = SimServer::start(org, sim_config(limits(), LATENCY_MS), 0).await?;
        let (_dir, host) = host_with(&["plugins/okta.wasm"], SHARE).await?;
        let mut t = tenant("graph", "okta", &sim.base_url(), json!({}));
        // The default `outputs` and `memory_bytes` quotas hold a 10,000-user org's
        // graph: no override. A larger org (`--users`) gets room, printed, so that the
        // guest memory it needs can be read off.
        t.quotas.insert("wall_ms".into(), 1_800_000);
        if self.users > 10_000 {
            let outputs = (30 * self.users as u64).max(500_000);
            t.quotas.insert("outputs".into(), outputs);
            t.quotas.insert("memory_bytes".into(), 4 << 30);
            println!("    quotas raised for this size: outputs {outputs}, memory_bytes 4 GiB");
        }
        host.add_tenant(t, &token(TOKEN)).await?;

        let started = Instant::now();
        let full = inventory_at(&host, "graph", NOW).await?;
        let wall = started.elapsed().as_millis() as u64;
        let stats = sim.stats();
        let (floor, floor_max, dominant) = floors(&stats.by_family, &limits(), SHARE);
        let nodes = full
            .emitted
            .get(&kri_host::model::OutputKind::Node)
            .copied()
            .unwrap_or(0);
        let edges = full
            .emitted
            .get(&kri_host::model::OutputKind::Edge)
            .copied()
            .unwrap_or(0);
        let paths = host
            .query(
                "graph",
                "SELECT count(*) AS n FROM access_path",
                Default::default(),
            )
            .await?
            .rows
            .first()
            .and_then(|r| r.first())
            .and_then(|v| v.as_i64())
            .unwrap_or(0);
        println!(
            "    requests {}  429s {}  wall {}  floor {} (largest bucket {dominant} {})  wall / floor {:.3}",
            full.stats.requests,
            stats.too_many_requests,
            secs(wall),
            secs(floor),
            secs(floor_max),
            wall as f64 / floor.max(1) as f64
        );
        println!(
            "    graph: {nodes} nodes, {edges} edges, {paths} access paths; guest memory {:.0} MiB",
            full.memory_peak_bytes as f64 / 1_048_576.0
        );
        for (f, n) in &stats.by_family {
            println!(
                "      {f:?}: {n} requests, limit {} per window",
                limits().limit(*f)
            );
        }

        {
            let org = sim.org();
            let mut org = org.write().map_err(|_| anyhow!("org lock"))?;
            org.advance(DAY, 0.01, 7);
        }
        let before = sim.stats();
        let started = Instant::now();
        // Just inside the default 24 h between full syncs.
        let inc = inventory_at(&host, "graph", NOW + DAY - 1).await?;
        let inc_wall = started.elapsed().as_millis() as u64;
        let inc_429 = sim.stats().too_many_requests - before.too_many_requests;
        let share = inc.stats.requests as f64 / full.stats.requests.max(1) as f64;
        println!(
            "    a day later, incremental: requests {} = {:.1} % of the full sync's (target <= 5 %)  wall {}  429s {inc_429}  guest memory {:.0} MiB",
            inc.stats.requests,
            share * 100.0,
            secs(inc_wall),
            inc.memory_peak_bytes as f64 / 1_048_576.0
        );
        println!("      {}", inc.stats.note.clone().unwrap_or_default());
        let after = sim.stats();
        for (f, n) in &after.by_family {
            let spent = n - before.by_family.get(f).copied().unwrap_or(0);
            if spent > 0 {
                println!("      incremental, {f:?}: {spent} requests");
            }
        }
        self.record(
            "inventory_sync",
            json!({
                "users": self.users, "groups": shape.groups, "apps": shape.apps,
                "requests": full.stats.requests, "responses_429": stats.too_many_requests,
                "wall_ms": wall, "floor_ms": floor, "wall_over_floor": wall as f64 / floor.max(1) as f64,
                "nodes": nodes, "edges": edges, "access_paths": paths,
                "by_family": stats.by_family,
                "incremental_requests": inc.stats.requests, "incremental_share": share,
                "incremental_wall_ms": inc_wall,
                "memory_peak_bytes": full.memory_peak_bytes,
                "incremental_memory_peak_bytes": inc.memory_peak_bytes,
            }),
        );
        sim.shutdown().await;
        Ok(())
    }
}
