//! `kri`: the command line of the kri host.
//!
//! Parses arguments, opens the host, and prints tables for people or JSON for
//! machines. All the work is done by the `kri_host` library; errors get context
//! here and say what to do.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use kri_host::engine::KriEngine;
use kri_host::model::Severity;
use kri_host::plugins::PluginRegistry;
use kri_host::query::QueryLimits;
use kri_host::sandbox::Progress;
use kri_host::store::{format_ms, AlertStatus, EventFilter, StoredAlert, StoredEvent};
use kri_host::{HostConfig, KriHost, NewTenant, RunOptions, Token};

mod table;

#[derive(Parser)]
#[command(
    name = "kri",
    version,
    about = "Run sandboxed security-data connectors and read their KRIs"
)]
struct Cli {
    /// Where kri keeps its database, key file and component cache.
    #[arg(long, global = true, env = "KRI_DATA_DIR", default_value = "./.kri")]
    data_dir: PathBuf,
    /// The plugin directory (default: <data-dir>/plugins).
    #[arg(long, global = true, env = "KRI_PLUGINS")]
    plugins: Option<PathBuf>,
    /// Share of each upstream rate-limit bucket kri may use (0.05-1.0); the rest is
    /// left to the customer's other tools.
    #[arg(
        long,
        global = true,
        env = "KRI_RATE_LIMIT_SHARE",
        default_value_t = 0.5
    )]
    rate_limit_share: f64,
    /// The largest plugin file kri reads, in bytes; larger files are rejected.
    #[arg(
        long,
        global = true,
        env = "KRI_MAX_PLUGIN_BYTES",
        default_value_t = kri_host::plugins::DEFAULT_MAX_PLUGIN_BYTES
    )]
    max_plugin_bytes: u64,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List the connectors in the plugin directory, and the files that were rejected.
    Connectors {
        #[arg(long)]
        json: bool,
    },
    /// Manage tenants.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Make one cheap authenticated call to show that a tenant's settings work.
    Check {
        connector: String,
        #[arg(long)]
        tenant: String,
    },
    /// Run a tenant's connector now and store what it computes.
    RunConnector {
        connector: String,
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        json: bool,
        /// Evaluate as of this time (RFC 3339 or epoch ms) instead of now: the clock
        /// the connector sees, for reproducible runs.
        #[arg(long)]
        now: Option<String>,
    },
    /// Run every tenant's connector, several at once.
    RunAll {
        /// How many tenants run at the same time.
        #[arg(long, default_value_t = 8)]
        parallel: usize,
        #[arg(long)]
        json: bool,
    },
    /// Show the latest value of each KRI of a tenant.
    Kris {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        json: bool,
    },
    /// Show a tenant's run history.
    Runs {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        json: bool,
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// Run one read-only SQL query (PostgreSQL dialect, `labels @> '{...}'` works)
    /// over a tenant's tables: nodes, edges, events, alerts.
    Query {
        #[arg(long)]
        tenant: String,
        /// One SELECT, WITH ... SELECT or VALUES statement.
        sql: String,
        #[arg(long)]
        json: bool,
        /// Stop the query after this many milliseconds.
        #[arg(long, default_value_t = 10_000)]
        timeout_ms: u64,
        /// Print at most this many rows (a note on stderr says when rows were cut).
        #[arg(long, default_value_t = 10_000)]
        max_rows: usize,
    },
    /// Show a tenant's audit events, newest first.
    Events {
        #[arg(long)]
        tenant: String,
        /// Only events from this long ago or later (30m, 1h, 7d) or since an RFC 3339
        /// time.
        #[arg(long)]
        since: Option<String>,
        /// Only events of this type, e.g. user.session.start.
        #[arg(long = "type")]
        event_type: Option<String>,
        /// Only events whose actor has this id or login.
        #[arg(long)]
        actor: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
    /// Show a tenant's alerts, oldest first.
    Alerts {
        #[arg(long)]
        tenant: String,
        /// open, acknowledged or resolved.
        #[arg(long)]
        status: Option<String>,
        /// info, low, medium, high or critical.
        #[arg(long)]
        severity: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Acknowledge or resolve an alert.
    #[command(subcommand)]
    Alert(AlertCommand),
}

#[derive(Subcommand)]
enum AlertCommand {
    /// Mark an alert acknowledged: someone is looking at it.
    Ack {
        id: i64,
        #[arg(long)]
        json: bool,
    },
    /// Mark an alert resolved.
    Resolve {
        id: i64,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum TenantCommand {
    /// Add a tenant: which connector, where its API is, and its token.
    Add(TenantAdd),
    /// List tenants (tokens are never shown).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Remove a tenant with its token, values, state and history.
    Remove { id: String },
    /// Change a tenant's extra connector config, its token or its quotas.
    Update {
        id: String,
        /// The new extra config, a JSON object (replaces the old one).
        #[arg(long, required_unless_present_any = ["token_env", "token_stdin", "quotas"])]
        extra: Option<String>,
        /// Read a new token from this environment variable.
        #[arg(long, conflicts_with = "token_stdin")]
        token_env: Option<String>,
        /// Read a new token from standard input.
        #[arg(long)]
        token_stdin: bool,
        /// Set a quota, NAME=VALUE (repeatable), e.g. --quota wall_ms=1800000; the
        /// tenant's other quotas are kept.
        #[arg(long = "quota")]
        quotas: Vec<String>,
    },
}

#[derive(Args)]
struct TenantAdd {
    id: String,
    #[arg(long)]
    connector: String,
    /// The tenant's API base URL, e.g. https://acme.okta.com
    #[arg(long)]
    base_url: String,
    /// Read the token from this environment variable.
    #[arg(
        long,
        conflicts_with = "token_stdin",
        required_unless_present = "token_stdin"
    )]
    token_env: Option<String>,
    /// Read the token from standard input.
    #[arg(long)]
    token_stdin: bool,
    /// Only these KRIs (comma-separated slugs); default all.
    #[arg(long, value_delimiter = ',')]
    kris: Vec<String>,
    /// Extra connector config, a JSON object.
    #[arg(long, default_value = "{}")]
    extra: String,
    /// Allow http:// and local/private addresses (for a local simulator only).
    #[arg(long)]
    allow_insecure_local: bool,
    /// Override a quota, NAME=VALUE (repeatable), e.g. --quota http_requests=50000
    #[arg(long = "quota")]
    quotas: Vec<String>,
}

fn config(cli: &Cli) -> Result<HostConfig> {
    if !(0.05..=1.0).contains(&cli.rate_limit_share) {
        bail!("--rate-limit-share must be between 0.05 and 1.0");
    }
    let mut cfg = HostConfig::new(&cli.data_dir);
    if let Some(p) = &cli.plugins {
        cfg.plugins_dir = p.clone();
    }
    cfg.pacing.share = cli.rate_limit_share;
    cfg.max_plugin_bytes = cli.max_plugin_bytes;
    Ok(cfg)
}

async fn open(cli: &Cli, create: bool) -> Result<KriHost> {
    let cfg = config(cli)?;
    let host = KriHost::open(cfg, create)
        .await
        .with_context(|| open_context(cli))?;
    warn_uncached(host.registry());
    Ok(host)
}

/// Says on stderr which connectors were compiled in memory because the component
/// cache could not be written.
fn warn_uncached(reg: &PluginRegistry) {
    for p in reg.plugins.values() {
        if let Some(w) = &p.cache_warning {
            eprintln!("warning: {}: {w}", p.path.display());
        }
    }
}

/// Opens the host for commands that only read or manage records: the plugin
/// directory is not read, so no plugin is compiled or instantiated.
async fn open_records(cli: &Cli) -> Result<KriHost> {
    let cfg = config(cli)?;
    KriHost::open_without_plugins(cfg)
        .await
        .with_context(|| open_context(cli))
}

fn open_context(cli: &Cli) -> String {
    format!(
        "cannot open kri data directory {} (pass --data-dir or set KRI_DATA_DIR)",
        cli.data_dir.display()
    )
}

fn parse_now(s: &str) -> Result<i64> {
    if let Ok(ms) = s.parse::<i64>() {
        return Ok(ms);
    }
    let t = httpdate_or_rfc3339(s)
        .with_context(|| format!("--now {s}: expected RFC 3339 or epoch ms"))?;
    Ok(t)
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fff]Z` into epoch ms.
fn httpdate_or_rfc3339(s: &str) -> Option<i64> {
    let s = s.trim().strip_suffix('Z')?;
    let (date, time) = s.split_once('T')?;
    let mut d = date.split('-').map(|x| x.parse::<i64>().ok());
    let (y, m, dd) = (d.next()??, d.next()??, d.next()??);
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let mut t = hms.split(':').map(|x| x.parse::<i64>().ok());
    let (h, mi, sec) = (t.next()??, t.next()??, t.next()??);
    let ms: i64 = format!("{:0<3}", &frac[..frac.len().min(3)]).parse().ok()?;
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + dd - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 86_400) + h * 3600 + mi * 60 + sec) * 1000 + ms)
}

fn progress_sink() -> Option<kri_host::sandbox::ProgressSink> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bars: Arc<Mutex<BTreeMap<String, indicatif::ProgressBar>>> = Arc::default();
    let multi = indicatif::MultiProgress::new();
    let style =
        indicatif::ProgressStyle::with_template("{prefix:>10} [{bar:30}] {pos}/{len} ({eta} left)")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> ");
    Some(Arc::new(move |p: &Progress| {
        let mut bars = bars.lock().unwrap_or_else(|e| e.into_inner());
        let bar = bars.entry(p.stage.clone()).or_insert_with(|| {
            let b = multi.add(indicatif::ProgressBar::new(p.total.unwrap_or(0)));
            b.set_style(style.clone());
            b.set_prefix(p.stage.clone());
            b
        });
        if let Some(total) = p.total {
            bar.set_length(total);
        }
        bar.set_position(p.done);
        if p.total == Some(p.done) {
            bar.finish();
        }
    }))
}

fn read_token(token_env: Option<&str>) -> Result<Token> {
    let raw = if let Some(var) = token_env {
        std::env::var(var).with_context(|| {
            format!("environment variable {var} is not set (it should hold the API token)")
        })?
    } else {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("cannot read the token from standard input")?;
        s
    };
    Token::new(&raw).context("the token is empty or has control characters")
}

fn parse_quotas(items: &[String]) -> Result<BTreeMap<String, u64>> {
    let mut out = BTreeMap::new();
    for item in items {
        let (k, v) = item
            .split_once('=')
            .with_context(|| format!("--quota {item}: expected NAME=VALUE"))?;
        let v: u64 = v
            .parse()
            .with_context(|| format!("--quota {item}: VALUE must be a whole number"))?;
        out.insert(k.to_string(), v);
    }
    Ok(out)
}

fn print_json<T: serde::Serialize>(v: &T) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

fn fmt_num(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(x) if x.fract() == 0.0 && x.abs() < 1e15 => format!("{}", x as i64),
        Some(x) => format!("{x:.1}"),
    }
}

async fn cmd_connectors(cli: &Cli, json: bool) -> Result<()> {
    let cfg = config(cli)?;
    let engine = KriEngine::new()?;
    let linker = kri_host::runtime::connector_linker(&engine)?;
    let cache = cfg.data_dir.join("cache").join("components");
    let cache = cfg.data_dir.exists().then_some(cache.as_path());
    if !cfg.plugins_dir.is_dir() {
        bail!(
            "plugin directory {} does not exist; pass --plugins DIR or put connectors in <data-dir>/plugins",
            cfg.plugins_dir.display()
        );
    }
    let reg = PluginRegistry::load(
        &engine,
        &linker,
        &cfg.plugins_dir,
        cache,
        cfg.max_plugin_bytes,
    )
    .await;
    warn_uncached(&reg);
    if json {
        let connectors: Vec<_> = reg
            .plugins
            .values()
            .map(|p| serde_json::json!({"path": p.path, "loaded_from": p.source, "cache_warning": p.cache_warning, "manifest": p.manifest}))
            .collect();
        return print_json(
            &serde_json::json!({"connectors": connectors, "rejected": reg.rejected}),
        );
    }
    let mut t = table::Table::new(&["NAME", "VERSION", "KRIS", "FILE", "DESCRIPTION"]);
    for p in reg.plugins.values() {
        t.row(vec![
            p.manifest.name.clone(),
            p.manifest.version.clone(),
            p.manifest.kris.len().to_string(),
            p.path.display().to_string(),
            p.manifest.description.clone(),
        ]);
    }
    print!("{}", t.render());
    for r in &reg.rejected {
        eprintln!("rejected {}: {}", r.path.display(), r.error);
    }
    Ok(())
}

async fn cmd_tenant(cli: &Cli, cmd: &TenantCommand) -> Result<()> {
    match cmd {
        TenantCommand::Add(add) => {
            let extra: serde_json::Value = serde_json::from_str(&add.extra)
                .with_context(|| format!("--extra is not valid JSON: {}", add.extra))?;
            if !extra.is_object() {
                bail!("--extra must be a JSON object, like '{{\"user_sample_cap\": 2000}}'");
            }
            let quotas = parse_quotas(&add.quotas)?;
            let token = read_token(add.token_env.as_deref())?;
            let host = open(cli, true).await?;
            host.add_tenant(
                NewTenant {
                    id: add.id.clone(),
                    connector: add.connector.clone(),
                    base_url: add.base_url.trim_end_matches('/').to_string(),
                    kris: add.kris.clone(),
                    extra,
                    allow_insecure_local: add.allow_insecure_local,
                    quotas,
                },
                &token,
            )
            .await
            .with_context(|| format!("cannot add tenant `{}`", add.id))?;
            println!(
                "added tenant {} ({}, {})",
                add.id, add.connector, add.base_url
            );
            Ok(())
        }
        TenantCommand::List { json } => {
            let host = open_records(cli).await?;
            let tenants = host.tenants().await?;
            if *json {
                return print_json(&tenants);
            }
            let mut t = table::Table::new(&["ID", "CONNECTOR", "BASE URL", "KRIS", "EXTRA"]);
            for x in tenants {
                t.row(vec![
                    x.id,
                    x.connector,
                    x.base_url,
                    if x.kris.is_empty() {
                        "all".into()
                    } else {
                        x.kris.join(",")
                    },
                    x.extra.to_string(),
                ]);
            }
            print!("{}", t.render());
            Ok(())
        }
        TenantCommand::Update {
            id,
            extra,
            token_env,
            token_stdin,
            quotas,
        } => {
            let quotas = parse_quotas(quotas)?;
            let extra = match extra {
                Some(text) => {
                    let v: serde_json::Value = serde_json::from_str(text)
                        .with_context(|| format!("--extra is not valid JSON: {text}"))?;
                    if !v.is_object() {
                        bail!("--extra must be a JSON object");
                    }
                    Some(v)
                }
                None => None,
            };
            let token = if token_env.is_some() || *token_stdin {
                let token = read_token(token_env.as_deref())?;
                kri_policy::redact::check_token_length(token.expose())?;
                Some(token)
            } else {
                None
            };
            let host = open_records(cli).await?;
            host.tenant(id)
                .await
                .with_context(|| format!("cannot update tenant `{id}`"))?;
            // Quotas first: an unknown name is refused before anything is written.
            if !quotas.is_empty() {
                host.update_quotas(id, &quotas)
                    .await
                    .with_context(|| format!("cannot update the quotas of tenant `{id}`"))?;
            }
            if let Some(token) = token {
                host.update_token(id, &token)
                    .await
                    .with_context(|| format!("cannot update the token of tenant `{id}`"))?;
            }
            if let Some(extra) = extra {
                host.set_tenant_extra(id, &extra)
                    .await
                    .with_context(|| format!("cannot update tenant `{id}`"))?;
            }
            println!("updated tenant {id}");
            Ok(())
        }
        TenantCommand::Remove { id } => {
            let host = open_records(cli).await?;
            host.remove_tenant(id)
                .await
                .with_context(|| format!("cannot remove tenant `{id}`"))?;
            println!("removed tenant {id}");
            Ok(())
        }
    }
}

async fn print_kris(host: &KriHost, tenant: &str, json: bool) -> Result<()> {
    let rows = host.latest_kris(tenant).await?;
    if json {
        return print_json(&rows);
    }
    if rows.is_empty() {
        println!(
            "no KRI values yet for {tenant}; run `kri run-connector <connector> --tenant {tenant}`"
        );
        return Ok(());
    }
    let mut t = table::Table::new(&[
        "KRI",
        "VALUE",
        "STATUS",
        "CHANGE",
        "OF",
        "WARN/BREACH",
        "NOTE",
    ]);
    for r in rows {
        let value = match (&r.value, r.unit.as_str()) {
            (Some(_), "percent") => format!("{}%", fmt_num(r.value)),
            _ => fmt_num(r.value),
        };
        let of = match (r.numerator, r.denominator) {
            (Some(n), Some(d)) => format!("{}/{}", fmt_num(Some(n)), fmt_num(Some(d))),
            _ => "-".into(),
        };
        let change = match r.change {
            Some(c) if c > 0.0 => format!("+{}", fmt_num(Some(c))),
            Some(c) => fmt_num(Some(c)),
            None => "-".into(),
        };
        let note = r.reason.clone().unwrap_or_else(|| {
            if r.details.get("sampled").and_then(|v| v.as_bool()) == Some(true) {
                "sampled".into()
            } else {
                String::new()
            }
        });
        t.row(vec![
            r.slug,
            value,
            r.status.as_str().to_string(),
            change,
            of,
            format!("{}/{}", fmt_num(r.warn), fmt_num(r.breach)),
            note,
        ]);
    }
    print!("{}", t.render());
    Ok(())
}

async fn cmd_run(
    cli: &Cli,
    connector: &str,
    tenant: &str,
    json: bool,
    now: Option<&str>,
) -> Result<ExitCode> {
    let host = open(cli, false).await?;
    let now_ms = now.map(parse_now).transpose()?;
    let outcome = host
        .run(
            connector,
            tenant,
            RunOptions {
                now_ms,
                progress: progress_sink(),
            },
        )
        .await
        .with_context(|| format!("cannot run {connector} for tenant `{tenant}`"))?;
    if json {
        print_json(&outcome)?;
    } else if outcome.succeeded {
        println!(
            "run {} of {} for {} succeeded in {:.1}s: {} KRIs, {} requests ({} rate-limited), {} bytes",
            outcome.run_id,
            connector,
            tenant,
            outcome.duration_ms as f64 / 1000.0,
            outcome.stats.rows_written,
            outcome.stats.requests,
            outcome.stats.responses_429,
            outcome.stats.bytes
        );
        print_kris(&host, tenant, false).await?;
    }
    if outcome.succeeded {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "error: run {} of {connector} for tenant `{tenant}` failed: {}",
            outcome.run_id,
            outcome.error.as_deref().unwrap_or("unknown error")
        );
        eprintln!("earlier KRI values and state are unchanged; see `kri runs --tenant {tenant}`");
        Ok(ExitCode::from(1))
    }
}

async fn cmd_run_all(cli: &Cli, parallel: usize, json: bool) -> Result<ExitCode> {
    let host = Arc::new(open(cli, false).await?);
    let jobs: Vec<(String, String)> = host
        .tenants()
        .await?
        .into_iter()
        .map(|t| (t.connector, t.id))
        .collect();
    let results = host.run_many(&jobs, parallel, RunOptions::default()).await;
    let mut failed = 0;
    let mut out = Vec::new();
    let mut t = table::Table::new(&[
        "TENANT",
        "CONNECTOR",
        "STATUS",
        "SECONDS",
        "REQUESTS",
        "ERROR",
    ]);
    for ((connector, tenant), r) in jobs.iter().zip(results) {
        match r {
            Ok(o) => {
                if !o.succeeded {
                    failed += 1;
                }
                t.row(vec![
                    tenant.clone(),
                    connector.clone(),
                    if o.succeeded { "succeeded" } else { "failed" }.into(),
                    format!("{:.1}", o.duration_ms as f64 / 1000.0),
                    o.stats.requests.to_string(),
                    o.error.clone().unwrap_or_default(),
                ]);
                out.push(serde_json::json!({"tenant": tenant, "outcome": o}));
            }
            Err(e) => {
                failed += 1;
                t.row(vec![
                    tenant.clone(),
                    connector.clone(),
                    "failed".into(),
                    "-".into(),
                    "0".into(),
                    e.to_string(),
                ]);
                out.push(serde_json::json!({"tenant": tenant, "error": e.to_string()}));
            }
        }
    }
    if json {
        print_json(&out)?;
    } else {
        print!("{}", t.render());
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

async fn real_main(cli: Cli) -> Result<ExitCode> {
    match &cli.command {
        Command::Connectors { json } => cmd_connectors(&cli, *json).await?,
        Command::Tenant(cmd) => cmd_tenant(&cli, cmd).await?,
        Command::Check { connector, tenant } => {
            let host = open(&cli, false).await?;
            let outcome = host
                .check(connector, tenant)
                .await
                .with_context(|| format!("cannot check {connector} for tenant `{tenant}`"))?;
            match outcome.error {
                None => println!("ok: {connector} can reach tenant {tenant} with its token"),
                Some(e) => {
                    eprintln!("error: check of {connector} for tenant `{tenant}` failed: {e}");
                    return Ok(ExitCode::from(1));
                }
            }
        }
        Command::RunConnector {
            connector,
            tenant,
            json,
            now,
        } => return cmd_run(&cli, connector, tenant, *json, now.as_deref()).await,
        Command::RunAll { parallel, json } => return cmd_run_all(&cli, *parallel, *json).await,
        Command::Kris { tenant, json } => {
            let host = open_records(&cli).await?;
            print_kris(&host, tenant, *json).await?;
        }
        Command::Runs {
            tenant,
            json,
            limit,
        } => {
            let host = open_records(&cli).await?;
            let runs = host.runs(tenant, *limit).await?;
            if *json {
                print_json(&runs)?;
            } else {
                let mut t = table::Table::new(&[
                    "RUN", "STATUS", "STARTED", "SECONDS", "REQUESTS", "429S", "WRITTEN",
                    "SKIPPED", "ERROR",
                ]);
                for r in runs {
                    t.row(vec![
                        r.id.to_string(),
                        r.status.to_string(),
                        r.started_at,
                        r.duration_ms
                            .map(|d| format!("{:.1}", d as f64 / 1000.0))
                            .unwrap_or_else(|| "-".into()),
                        r.requests.to_string(),
                        r.responses_429.to_string(),
                        r.rows_written.to_string(),
                        r.rows_skipped.to_string(),
                        r.error.unwrap_or_default(),
                    ]);
                }
                print!("{}", t.render());
            }
        }
        Command::Query {
            tenant,
            sql,
            json,
            timeout_ms,
            max_rows,
        } => {
            let limits = QueryLimits {
                timeout: std::time::Duration::from_millis(*timeout_ms),
                max_rows: *max_rows,
            };
            cmd_query(&cli, tenant, sql, *json, limits).await?
        }
        Command::Events {
            tenant,
            since,
            event_type,
            actor,
            limit,
            json,
        } => {
            let now_ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(0);
            let filter = EventFilter {
                since_ms: since
                    .as_deref()
                    .map(|s| parse_since(s, now_ms))
                    .transpose()?,
                event_type: event_type.clone(),
                actor: actor.clone(),
            };
            cmd_events(&cli, tenant, &filter, *limit, *json).await?
        }
        Command::Alerts {
            tenant,
            status,
            severity,
            json,
        } => cmd_alerts(&cli, tenant, status.as_deref(), severity.as_deref(), *json).await?,
        Command::Alert(cmd) => cmd_alert(&cli, cmd).await?,
    }
    Ok(ExitCode::SUCCESS)
}

async fn cmd_query(
    cli: &Cli,
    tenant: &str,
    sql: &str,
    json: bool,
    limits: QueryLimits,
) -> Result<()> {
    let host = open_records(cli).await?;
    let rows = host
        .query(tenant, sql, limits)
        .await
        .with_context(|| format!("query over tenant `{tenant}` refused or failed"))?;
    if json {
        print_json(&rows.objects())?;
    } else {
        let header: Vec<&str> = rows.columns.iter().map(String::as_str).collect();
        let mut t = table::Table::new(&header);
        for row in &rows.rows {
            t.row(row.iter().map(cell_text).collect());
        }
        print!("{}", t.render());
    }
    if rows.truncated {
        eprintln!(
            "note: output cut at {} rows; raise --max-rows or narrow the query",
            limits.max_rows
        );
    }
    Ok(())
}

/// A query result value as a table cell: text as is, NULL empty.
fn cell_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Parses `--since`: a duration back from `now_ms` (`90s`, `30m`, `1h`, `7d`) or an
/// RFC 3339 time.
fn parse_since(s: &str, now_ms: i64) -> Result<i64> {
    let bad = || {
        anyhow::anyhow!("--since {s}: expected a duration like 30m, 1h, 7d, or an RFC 3339 time")
    };
    if let Some(t) = httpdate_or_rfc3339(s) {
        return Ok(t);
    }
    let unit_at = s.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (n, unit) = s.split_at(unit_at);
    let n: i64 = n.parse().map_err(|_| bad())?;
    let unit_ms: i64 = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(bad()),
    };
    Ok(now_ms - n.saturating_mul(unit_ms))
}

/// An event as `kri events --json` prints it: the stored event with its time also
/// in RFC 3339.
#[derive(serde::Serialize)]
struct EventJson<'a> {
    #[serde(flatten)]
    event: &'a StoredEvent,
    published: String,
}

/// An alert as `kri alerts --json` prints it: the stored alert with its times also
/// in RFC 3339.
#[derive(serde::Serialize)]
struct AlertJson<'a> {
    #[serde(flatten)]
    alert: &'a StoredAlert,
    first_seen: String,
    last_seen: String,
}

impl AlertJson<'_> {
    fn of(alert: &StoredAlert) -> AlertJson<'_> {
        AlertJson {
            alert,
            first_seen: format_ms(alert.first_seen_ms),
            last_seen: format_ms(alert.last_seen_ms),
        }
    }
}

async fn cmd_events(
    cli: &Cli,
    tenant: &str,
    filter: &EventFilter,
    limit: usize,
    json: bool,
) -> Result<()> {
    let host = open_records(cli).await?;
    let events = host.events(tenant, filter, limit).await?;
    if json {
        let out: Vec<EventJson> = events
            .iter()
            .map(|event| EventJson {
                event,
                published: format_ms(event.event.time_ms),
            })
            .collect();
        return print_json(&out);
    }
    let mut t = table::Table::new(&["PUBLISHED", "TYPE", "ACTOR", "OUTCOME", "UUID"]);
    for e in &events {
        let e = &e.event;
        let actor = if e.actor.name.is_empty() {
            e.actor.id.clone()
        } else {
            e.actor.name.clone()
        };
        t.row(vec![
            format_ms(e.time_ms),
            e.event_type.clone(),
            actor,
            e.outcome
                .as_ref()
                .map(|o| o.result.clone())
                .unwrap_or_default(),
            e.id.clone(),
        ]);
    }
    print!("{}", t.render());
    Ok(())
}

fn alerts_table(alerts: &[StoredAlert]) -> table::Table {
    let mut t = table::Table::new(&[
        "ID",
        "SEVERITY",
        "STATUS",
        "DETECTION",
        "ENTITY",
        "FIRST SEEN",
        "LAST SEEN",
        "EVIDENCE",
        "TITLE",
    ]);
    for a in alerts {
        let entity = if a.entity.name.is_empty() {
            a.entity.id.clone()
        } else {
            a.entity.name.clone()
        };
        t.row(vec![
            a.id.to_string(),
            a.severity.to_string(),
            a.status.as_str().to_string(),
            a.detection.clone(),
            entity,
            format_ms(a.first_seen_ms),
            format_ms(a.last_seen_ms),
            a.evidence.len().to_string(),
            a.title.clone(),
        ]);
    }
    t
}

async fn cmd_alerts(
    cli: &Cli,
    tenant: &str,
    status: Option<&str>,
    severity: Option<&str>,
    json: bool,
) -> Result<()> {
    let status = status
        .map(|w| {
            AlertStatus::parse(w)
                .with_context(|| format!("--status {w}: expected open, acknowledged or resolved"))
        })
        .transpose()?;
    let severity = severity
        .map(|w| {
            w.parse::<Severity>().with_context(|| {
                format!("--severity {w}: expected info, low, medium, high or critical")
            })
        })
        .transpose()?;
    let host = open_records(cli).await?;
    let alerts = host.alerts(tenant, status, severity).await?;
    if json {
        let out: Vec<AlertJson> = alerts.iter().map(AlertJson::of).collect();
        return print_json(&out);
    }
    print!("{}", alerts_table(&alerts).render());
    Ok(())
}

async fn cmd_alert(cli: &Cli, cmd: &AlertCommand) -> Result<()> {
    let (id, status, json) = match cmd {
        AlertCommand::Ack { id, json } => (*id, AlertStatus::Acknowledged, *json),
        AlertCommand::Resolve { id, json } => (*id, AlertStatus::Resolved, *json),
    };
    let host = open_records(cli).await?;
    let alert = host.set_alert_status(id, status).await?;
    if json {
        return print_json(&AlertJson::of(&alert));
    }
    print!("{}", alerts_table(std::slice::from_ref(&alert)).render());
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match rt.block_on(real_main(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rfc3339_now() {
        let cases: &[(&str, Option<i64>)] = &[
            ("1970-01-01T00:00:00Z", Some(0)),
            ("2000-02-29T00:00:00.123Z", Some(951_782_400_123)),
            ("2026-11-23T02:13:20.000Z", Some(1_795_400_000_000)),
            ("2026-11-22 23:33:20", None),
        ];
        for (s, want) in cases {
            assert_eq!(httpdate_or_rfc3339(s), *want, "{s}");
        }
    }
}
