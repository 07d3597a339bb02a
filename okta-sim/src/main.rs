//! The `okta-sim` binary: generates an org from a seed and a size and serves it on
//! 127.0.0.1 until SIGINT or SIGTERM, or prints its ground truth (`--ground-truth`, and
//! `--graph-truth` for the identity graph).

use std::io::Write;

use anyhow::{bail, Context};
use clap::Parser;
use okta_sim::{GraphShape, Org, OrgSpec, RateLimitConfig, SimConfig, SimServer};

/// A realistic Okta Management API simulator.
#[derive(Debug, Parser)]
#[command(name = "okta-sim", version, about)]
struct Args {
    /// Seed: the same seed and size always give the same org.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Number of users.
    #[arg(long, default_value_t = 2000)]
    users: usize,
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// API token to accept (`Authorization: SSWS <token>`).
    #[arg(long, default_value = "sim-token")]
    token: String,
    /// The org's data clock, RFC 3339 (default: the real current time).
    #[arg(long)]
    now: Option<String>,
    /// Latency added to every answer, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Latency varies by up to this many milliseconds either way.
    #[arg(long, default_value_t = 0)]
    latency_jitter_ms: u64,
    /// Rate-limit window in milliseconds (with --rate-scale).
    #[arg(long)]
    rate_window_ms: Option<u64>,
    /// Multiply Okta's per-minute limits by this for each window.
    #[arg(long)]
    rate_scale: Option<f64>,
    /// Send the rate-limit headers but never answer 429.
    #[arg(long)]
    no_rate_limits: bool,
    /// Print the ground truth as JSON and exit without serving.
    #[arg(long)]
    ground_truth: bool,
    /// With --ground-truth: only the first N ACTIVE users count for the MFA KRIs.
    #[arg(long)]
    user_sample_cap: Option<usize>,
    /// Print the identity graph's ground truth (access, admins, tokens, graph KRIs) as
    /// JSON and exit without serving.
    #[arg(long)]
    graph_truth: bool,
    /// Widen the org to this many groups in all (team groups with a few members each).
    #[arg(long)]
    groups: Option<usize>,
    /// Widen the org to this many apps in all (more instances of the catalogue's apps).
    #[arg(long)]
    apps: Option<usize>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let now_ms = match &args.now {
        Some(text) => okta_sim::time::parse_iso(text)
            .with_context(|| format!("--now {text:?} is not an RFC 3339 time"))?,
        None => okta_sim::time::wall_clock_ms(),
    };
    let spec = OrgSpec {
        seed: args.seed,
        users: args.users,
        now_ms,
    };
    let org = match (args.groups, args.apps) {
        (None, None) => Org::generate(&spec),
        (groups, apps) => Org::generate_shaped(
            &spec,
            GraphShape {
                groups: groups.unwrap_or(0),
                apps: apps.unwrap_or(0),
            },
        ),
    };

    if args.graph_truth {
        let truth = org.graph_truth(now_ms);
        let mut value =
            serde_json::to_value(&truth).context("serialising the graph's ground truth")?;
        let by_slug: serde_json::Map<String, serde_json::Value> = truth
            .by_slug()
            .into_iter()
            .map(|(slug, v)| (slug.to_string(), serde_json::json!(v)))
            .collect();
        value["by_slug"] = serde_json::Value::Object(by_slug);
        value["now"] = serde_json::json!(okta_sim::time::format_ms(now_ms));
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }

    if args.ground_truth {
        let truth = org.ground_truth(now_ms, args.user_sample_cap);
        let mut value = serde_json::to_value(&truth).context("serialising the ground truth")?;
        let by_slug: serde_json::Map<String, serde_json::Value> = truth
            .by_slug()
            .into_iter()
            .map(|(slug, v)| (slug.to_string(), serde_json::json!(v)))
            .collect();
        value["by_slug"] = serde_json::Value::Object(by_slug);
        value["now"] = serde_json::json!(okta_sim::time::format_ms(now_ms));
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }

    let mut rate_limits = match (args.rate_window_ms, args.rate_scale) {
        (None, None) => RateLimitConfig::default(),
        (window, scale) => RateLimitConfig::scaled(window.unwrap_or(60_000), scale.unwrap_or(1.0)),
    };
    if args.no_rate_limits {
        rate_limits.enabled = false;
    }
    if args.rate_scale.is_some_and(|s| !(s.is_finite() && s > 0.0)) {
        bail!("--rate-scale must be a positive number");
    }
    let config = SimConfig {
        token: args.token,
        rate_limits,
        latency_ms: args.latency_ms,
        latency_jitter_ms: args.latency_jitter_ms,
        ..SimConfig::default()
    };

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    runtime.block_on(async move {
        // Install the handlers before announcing readiness, so a signal sent right after
        // the "listening" line cannot hit the default action.
        let signals = Signals::install()?;
        let server = SimServer::start(org, config, args.port).await?;
        {
            let mut stdout = std::io::stdout().lock();
            writeln!(stdout, "okta-sim listening on {}", server.base_url())?;
            stdout.flush()?;
        }
        signals.wait().await;
        server.shutdown().await;
        Ok(())
    })
}

/// SIGTERM and SIGINT (Ctrl-C elsewhere), installed up front.
struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> anyhow::Result<Signals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(Signals {
                term: signal(SignalKind::terminate()).context("installing the SIGTERM handler")?,
                int: signal(SignalKind::interrupt()).context("installing the SIGINT handler")?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(Signals {})
        }
    }

    async fn wait(mut self) {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.term.recv() => {}
                _ = self.int.recv() => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = &mut self;
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
