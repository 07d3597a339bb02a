//! `kri`: the command line of the kri host.
//!
//! Parses arguments, sets up logging (stderr), opens the host, and prints tables for
//! people or JSON/CSV for machines (stdout). All the work is done by the `kri_host`
//! library; errors get context here and say what to do. The exit codes are listed in
//! [`EXIT_CODES`] (shown by `--help`).

use std::collections::BTreeMap;
use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use anyhow::{bail, Context, Result};
use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};
use kri_host::kri_settings::ThresholdChange;
use kri_host::model::{KriStatus, Severity};
use kri_host::plugins::PluginRegistry;
use kri_host::query::QueryLimits;

use kri_host::store::{format_ms, AlertStatus, EventFilter, KriRow, StoredAlert};
use kri_host::views::{AlertJson, EventJson};
use kri_host::{HostConfig, KriHost, NewTenant, OAuthClientSecret, Progress, RunOptions, Token};
use output::Format;

mod cmd_graph;
mod cmd_plugin;
mod cmd_secrets;
mod cmd_serve;
mod output;
mod table;

/// The exit codes, for `--help` (the README lists the same).
const EXIT_CODES: &str = "\
Exit codes:
  0    success
  1    a run or check failed (the reason is on stderr; a failed run stores nothing)
  2    nothing was run: bad arguments or input, unknown tenant or connector,
       unusable data directory, or another error before the work started
  3    --fail-on: a KRI is at or past the given status (the run itself succeeded)
  130  interrupted by SIGINT (Ctrl-C); the run is recorded as interrupted
  143  terminated by SIGTERM; the run is recorded as interrupted";

/// `--fail-on`: exit 3 when a KRI is at or past this status.
const EXIT_FAIL_ON: u8 = 3;

#[derive(Parser)]
#[command(
    name = "kri",
    version,
    about = "Run sandboxed security-data connectors and read their KRIs",
    after_help = EXIT_CODES
)]
struct Cli {
    /// Where kri keeps its database, key file and component cache.
    #[arg(long, global = true, env = "KRI_DATA_DIR", default_value = "./.kri")]
    data_dir: PathBuf,
    /// The plugin directory (default: <data-dir>/plugins).
    #[arg(long, global = true, env = "KRI_PLUGINS")]
    plugins: Option<PathBuf>,
    /// Keep the store in PostgreSQL (postgres://USER[:PASSWORD]@HOST[:PORT]/DB),
    /// shared by hosts on several machines, instead of SQLite in --data-dir (which
    /// still holds the key file and component cache). Hosts sharing a database
    /// must share KRI_ENCRYPTION_KEY.
    #[arg(long, global = true, env = "KRI_DATABASE_URL", hide_env_values = true)]
    database: Option<String>,
    /// How long a run's lease holds without its heartbeat, in ms; after that
    /// another host may take the job over. `kri serve` holds its claims of due
    /// jobs for as long.
    #[arg(long, global = true, env = "KRI_RUN_LEASE_MS", default_value_t = 60_000, value_parser = clap::value_parser!(u64).range(100..))]
    run_lease_ms: u64,
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
    /// Load only plugins that are trusted (`kri plugin trust`) or signed by a key in
    /// <data-dir>/trusted-keys; others are rejected with the reason.
    /// (The variable is true unless empty, 0, false, no or off.)
    #[arg(
        long,
        global = true,
        env = "KRI_REQUIRE_TRUSTED",
        action = clap::ArgAction::SetTrue,
        value_parser = clap::builder::FalseyValueParser::new()
    )]
    require_trusted: bool,
    /// PEM certificates to trust besides the system's roots, for networks that
    /// inspect TLS.
    #[arg(long, global = true, env = "KRI_CA_FILE")]
    ca_file: Option<PathBuf>,
    /// Output format on stdout: table for people, json or csv for machines
    /// (a command's --json is the same as -o json).
    #[arg(short = 'o', long = "output", global = true, value_enum, default_value_t = Format::Table)]
    output: Format,
    /// More log detail on stderr: -v info (runs), -vv debug (requests), -vvv trace.
    /// The default logs warnings and errors; RUST_LOG overrides both.
    #[arg(short = 'v', long = "verbose", global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Log only errors on stderr.
    #[arg(short = 'q', long = "quiet", global = true, conflicts_with = "verbose")]
    quiet: bool,
    /// Log line format on stderr: text for people, json (one object per line, with
    /// the run's tenant, connector and run id) for log shippers.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

/// How log lines on stderr look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    /// One readable line per event.
    Text,
    /// One JSON object per event, with its span's fields.
    Json,
}

/// The KRI status at or past which `--fail-on` exits 3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum FailOn {
    /// A KRI in warn or breach.
    Warn,
    /// A KRI in breach.
    Breach,
}

impl FailOn {
    fn reached(self, status: KriStatus) -> bool {
        match self {
            FailOn::Warn => matches!(status, KriStatus::Warn | KriStatus::Breach),
            FailOn::Breach => status == KriStatus::Breach,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            FailOn::Warn => "warn",
            FailOn::Breach => "breach",
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// List the connectors in the plugin directory, and the files that were rejected.
    Connectors {
        /// Print JSON (same as -o json).
        #[arg(long)]
        json: bool,
    },
    /// Manage tenants.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Make one cheap authenticated call to show that a tenant's settings work.
    Check {
        /// The connector's name (see `kri connectors`).
        connector: String,
        /// The tenant to check.
        #[arg(long)]
        tenant: String,
    },
    /// Run a tenant's connector now and store what it computes.
    RunConnector {
        /// The connector's name (see `kri connectors`).
        connector: String,
        /// The tenant to run.
        #[arg(long)]
        tenant: String,
        /// Run only this job of the connector (see `kri connectors`); without it
        /// every job runs once, `kris` last.
        #[arg(long)]
        job: Option<String>,
        /// Print the run's outcome as JSON (same as -o json).
        #[arg(long)]
        json: bool,
        /// Evaluate as of this time (RFC 3339 or epoch ms) instead of now: the clock
        /// the connector sees, for reproducible runs.
        #[arg(long, value_parser = parse_now)]
        now: Option<i64>,
        /// Exit 3 when a KRI is at or past this status after a successful run.
        #[arg(long, value_enum)]
        fail_on: Option<FailOn>,
    },
    /// Run every tenant's connector, several at once.
    RunAll {
        /// How many tenants run at the same time.
        #[arg(long, default_value_t = 8)]
        parallel: usize,
        /// Run only this job of each tenant (default: every job, `kris` last).
        #[arg(long)]
        job: Option<String>,
        /// Print every run's outcome as JSON (same as -o json).
        #[arg(long)]
        json: bool,
    },
    /// Show the latest value of each KRI of a tenant, with its status under the
    /// current thresholds.
    Kris {
        /// The tenant whose KRIs to show.
        #[arg(long)]
        tenant: String,
        /// Print JSON (same as -o json).
        #[arg(long)]
        json: bool,
        /// Exit 3 when a KRI is at or past this status.
        #[arg(long, value_enum)]
        fail_on: Option<FailOn>,
    },
    /// Show a tenant's run history.
    Runs {
        /// The tenant whose runs to show.
        #[arg(long)]
        tenant: String,
        /// Print JSON (same as -o json).
        #[arg(long)]
        json: bool,
        /// How many of the latest runs to show.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// Run one read-only SQL query (PostgreSQL dialect, `labels @> '{...}'` works)
    /// over a tenant's tables: nodes, edges, events, alerts.
    Query {
        /// The tenant whose rows to read.
        #[arg(long)]
        tenant: String,
        /// One SELECT, WITH ... SELECT or VALUES statement.
        sql: String,
        /// Print JSON (same as -o json).
        #[arg(long)]
        json: bool,
        /// Stop the query after this many milliseconds.
        #[arg(long, default_value_t = 10_000)]
        timeout_ms: u64,
        /// Print at most this many rows (a note on stderr says when rows were cut).
        #[arg(long, default_value_t = 10_000)]
        max_rows: usize,
    },
    /// Show what a user reaches (--user) or who reaches an app (--app), and through
    /// what: direct assignment, a group, or an admin role.
    Access {
        /// The tenant whose graph to read.
        #[arg(long)]
        tenant: String,
        /// A user's login: the apps, groups and admin scopes the user reaches.
        #[arg(long, required_unless_present = "app", conflicts_with = "app")]
        user: Option<String>,
        /// An app's label: the users who reach the app.
        #[arg(long)]
        app: Option<String>,
        /// Print JSON (same as -o json).
        #[arg(long)]
        json: bool,
    },
    /// Show who holds which admin role, directly or through a group, over what scope.
    Admins {
        /// The tenant whose graph to read.
        #[arg(long)]
        tenant: String,
        /// Print JSON (same as -o json).
        #[arg(long)]
        json: bool,
    },
    /// Show a tenant's API tokens: owner, owner status and admin roles, network, age
    /// and last use.
    Tokens {
        /// The tenant whose graph to read.
        #[arg(long)]
        tenant: String,
        /// Print JSON (same as -o json).
        #[arg(long)]
        json: bool,
        /// Compute ages as of this time (RFC 3339 or epoch ms) instead of now.
        #[arg(long, value_parser = parse_now)]
        now: Option<i64>,
    },
    /// Show a tenant's audit events, newest first.
    Events {
        /// The tenant whose rows to read.
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
        /// Print at most this many events.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// Print JSON (same as -o json).
        #[arg(long)]
        json: bool,
    },
    /// Show a tenant's alerts, oldest first.
    Alerts {
        /// The tenant whose rows to read.
        #[arg(long)]
        tenant: String,
        /// open, acknowledged or resolved.
        #[arg(long)]
        status: Option<String>,
        /// info, low, medium, high or critical.
        #[arg(long)]
        severity: Option<String>,
        /// Print JSON (same as -o json).
        #[arg(long)]
        json: bool,
    },
    /// Acknowledge or resolve an alert.
    #[command(subcommand)]
    Alert(AlertCommand),
    /// List a tenant's KRI thresholds, or change them with `set`.
    Thresholds(ThresholdsArgs),
    /// Run as a service: every tenant's jobs on their schedules, the HTTP API
    /// (/api/v1) and /metrics, until SIGTERM or SIGINT.
    Serve(cmd_serve::ServeArgs),
    /// Manage which plugin files are trusted.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Manage the key that seals tenants' secrets.
    #[command(subcommand)]
    Secrets(SecretsCommand),
    /// Print a shell completion script (e.g. `kri completions bash > /etc/bash_completion.d/kri`).
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Subcommand)]
enum PluginCommand {
    /// Record a component's SHA-256 as trusted: with --require-trusted it loads,
    /// and once its bytes change it is refused until trusted again.
    Trust {
        /// The component file (e.g. plugins/okta.wasm).
        file: PathBuf,
        /// Print JSON (same as -o json).
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum SecretsCommand {
    /// Re-seal every tenant's secret under a new key, atomically. With the key file,
    /// kri makes the new key and replaces the file; with KRI_ENCRYPTION_KEY, give
    /// the new key in another variable (--new-key-env) and switch to it afterwards.
    Rotate {
        /// The environment variable holding the new key (64 hex characters), when the
        /// current key comes from KRI_ENCRYPTION_KEY.
        #[arg(long)]
        new_key_env: Option<String>,
        /// Print JSON (same as -o json).
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum AlertCommand {
    /// Mark an alert acknowledged: someone is looking at it.
    Ack {
        /// The alert's id (see `kri alerts`).
        id: i64,
        /// Print JSON (same as -o json).
        #[arg(long)]
        json: bool,
    },
    /// Mark an alert resolved.
    Resolve {
        /// The alert's id (see `kri alerts`).
        id: i64,
        /// Print JSON (same as -o json).
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
struct ThresholdsArgs {
    /// The tenant whose thresholds to list.
    #[arg(long, required = true)]
    tenant: Option<String>,
    /// Print JSON (same as -o json).
    #[arg(long)]
    json: bool,
    #[command(subcommand)]
    command: Option<ThresholdsCommand>,
}

#[derive(Subcommand)]
enum ThresholdsCommand {
    /// Set one KRI's warn and breach thresholds, or restore the connector's defaults.
    /// A warn threshold past the breach threshold (given the KRI's direction) is refused.
    Set {
        /// The tenant whose thresholds to change.
        #[arg(long)]
        tenant: String,
        /// The KRI's slug (see `kri thresholds --tenant T`).
        slug: String,
        /// The new warn threshold (unchanged when omitted).
        #[arg(
            long,
            allow_negative_numbers = true,
            required_unless_present_any = ["breach", "reset"]
        )]
        warn: Option<f64>,
        /// The new breach threshold (unchanged when omitted).
        #[arg(long, allow_negative_numbers = true)]
        breach: Option<f64>,
        /// Restore the connector's default thresholds instead.
        #[arg(long, conflicts_with_all = ["warn", "breach"])]
        reset: bool,
    },
}

#[derive(Subcommand)]
enum TenantCommand {
    /// Add a tenant: which connector, where its API is, and its token.
    Add(TenantAdd),
    /// List tenants (tokens are never shown).
    List {
        /// Print JSON (same as -o json).
        #[arg(long)]
        json: bool,
    },
    /// Remove a tenant with its token, values, state and history.
    Remove {
        /// The tenant to remove.
        id: String,
    },
    /// Change a tenant's extra connector config, its token, its quotas, or which KRIs
    /// it computes.
    Update {
        /// The tenant to change.
        id: String,
        /// The new extra config, a JSON object (replaces the old one).
        #[arg(long, required_unless_present_any = ["token_env", "token_stdin", "quotas", "kris", "schedules"])]
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
        /// Compute only these KRIs (comma-separated slugs), or `all`. A KRI switched
        /// off is no longer computed or shown; its history is kept unless --purge.
        #[arg(long, value_delimiter = ',')]
        kris: Option<Vec<String>>,
        /// With --kris: delete the stored values of the KRIs switched off.
        #[arg(long, requires = "kris")]
        purge: bool,
        /// How often `kri serve` runs jobs, JOB=ISO-8601 duration, comma-separated
        /// (e.g. kris=P1D,inventory=PT30M,logs=PT1M), over the connector's defaults;
        /// JOB=default drops an override.
        #[arg(long = "schedule", value_delimiter = ',')]
        schedules: Vec<String>,
    },
}

#[derive(Args)]
struct TenantAdd {
    /// The tenant's id: 1-64 letters, digits, `-`, `_`, `.`.
    id: String,
    /// The connector that serves this tenant (see `kri connectors`).
    #[arg(long)]
    connector: String,
    /// The tenant's API base URL, e.g. https://acme.okta.com
    #[arg(long)]
    base_url: String,
    /// Read the token from this environment variable.
    #[arg(
        long,
        conflicts_with = "token_stdin",
        required_unless_present_any = ["token_stdin", "oauth_client_id"]
    )]
    token_env: Option<String>,
    /// Read the token from standard input.
    #[arg(long)]
    token_stdin: bool,
    /// Sign in as an OAuth 2.0 service app with this client id instead of a token
    /// (needs --private-key-file).
    #[arg(long, conflicts_with_all = ["token_env", "token_stdin"], requires = "private_key_file")]
    oauth_client_id: Option<String>,
    /// The service app's private key, PEM (RSA: PKCS#8 or PKCS#1, signs RS256; P-256:
    /// PKCS#8 or SEC1, signs ES256). Sealed in the store like tokens.
    #[arg(long, requires = "oauth_client_id")]
    private_key_file: Option<PathBuf>,
    /// The key id (`kid`) of the public key registered with the service app.
    #[arg(long, requires = "oauth_client_id")]
    key_id: Option<String>,
    /// The scopes to ask for, space-separated; default: the ones the connector's
    /// jobs need (see `kri connectors --json`, `manifest.oauth.scopes`).
    #[arg(long, requires = "oauth_client_id")]
    scopes: Option<String>,
    /// Send DPoP proofs from the first token request (else kri learns from the
    /// server's answers whether the app requires DPoP).
    #[arg(long, requires = "oauth_client_id")]
    dpop: bool,
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

impl Cli {
    /// The output format, with a command's `--json` taking precedence.
    fn format(&self, json: bool) -> Format {
        if json {
            Format::Json
        } else {
            self.output
        }
    }
}

/// Logs go to stderr; stdout stays the command's output. `RUST_LOG` wins over
/// `-v`/`-q`.
fn init_logging(cli: &Cli) {
    let ours = if cli.quiet {
        "error"
    } else {
        match cli.verbose {
            0 => "warn",
            1 => "info",
            2 => "debug",
            _ => "trace",
        }
    };
    let others = if cli.quiet { "error" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!(
            "{others},kri={ours},kri_host={ours},kri_policy={ours}"
        ))
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second subscriber cannot be set; the first one keeps logging.
    let _ = match cli.log_format {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .try_init(),
    };
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
    cfg.ca_file = cli.ca_file.clone();
    cfg.require_trusted = cli.require_trusted;
    cfg.database = cli.database.clone().filter(|url| !url.trim().is_empty());
    cfg.run_lease = std::time::Duration::from_millis(cli.run_lease_ms);
    Ok(cfg)
}

async fn open(cli: &Cli, create: bool) -> Result<KriHost> {
    let cfg = config(cli)?;
    let host = KriHost::open(cfg, create)
        .await
        .with_context(|| open_context(cli))?;
    // `kri connectors` lists these; other commands only log them.
    for r in &host.registry().rejected {
        tracing::info!(path = %r.path.display(), reason = %r.error, "plugin rejected");
    }
    warn_uncached(&host.registry());
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
    match cli.database.as_deref().filter(|url| !url.trim().is_empty()) {
        Some(_) => format!(
            "cannot open the kri store in the PostgreSQL database of --database (KRI_DATABASE_URL), with data directory {}",
            cli.data_dir.display()
        ),
        None => format!(
            "cannot open kri data directory {} (pass --data-dir or set KRI_DATA_DIR)",
            cli.data_dir.display()
        ),
    }
}

/// `--now`: RFC 3339 (`2026-11-23T02:00:00Z`) or epoch milliseconds, as epoch ms.
/// Impossible dates are refused here, before anything is opened, sent or stored.
fn parse_now(s: &str) -> std::result::Result<i64, String> {
    let t = match s.trim().parse::<i64>() {
        Ok(ms) => jiff::Timestamp::from_millisecond(ms)
            .map_err(|e| format!("{ms} ms is outside the years -9999..9999: {e}"))?,
        Err(_) => s.trim().parse::<jiff::Timestamp>().map_err(|e| {
            format!(
                "expected an RFC 3339 time like 2026-11-23T02:00:00Z, or epoch milliseconds: {e}"
            )
        })?,
    };
    Ok(t.as_millisecond())
}

fn progress_sink() -> Option<kri_host::ProgressSink> {
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

/// The OAuth client of `kri tenant add --oauth-client-id`: the key file is read
/// here (and zeroized when the credential is dropped).
fn read_oauth_client(add: &TenantAdd, client_id: &str) -> Result<OAuthClientSecret> {
    let path = add
        .private_key_file
        .as_ref()
        .context("--oauth-client-id needs --private-key-file")?;
    let pem = zeroize::Zeroizing::new(
        std::fs::read_to_string(path)
            .with_context(|| format!("cannot read --private-key-file {}", path.display()))?,
    );
    let scopes = add
        .scopes
        .as_deref()
        .map(|s| s.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default();
    Ok(OAuthClientSecret {
        client_id: client_id.to_string(),
        key_id: add.key_id.clone(),
        private_key_pem: secrecy::SecretString::from(pem.as_str()),
        scopes,
        dpop: add.dpop,
    })
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

fn fmt_num(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(x) if x.fract() == 0.0 && x.abs() < 1e15 => format!("{}", x as i64),
        Some(x) => format!("{x:.1}"),
    }
}

async fn cmd_connectors(cli: &Cli, format: Format) -> Result<()> {
    let cfg = config(cli)?;
    if !cfg.plugins_dir.is_dir() {
        bail!(
            "plugin directory {} does not exist; pass --plugins DIR or put connectors in <data-dir>/plugins",
            cfg.plugins_dir.display()
        );
    }
    let reg = KriHost::scan_plugins(&cfg).await?;
    warn_uncached(&reg);
    if format == Format::Json {
        let connectors: Vec<_> = reg
            .plugins
            .values()
            .map(|p| serde_json::json!({"path": p.path, "loaded_from": p.source, "cache_warning": p.cache_warning, "manifest": p.manifest, "trust": p.trust}))
            .collect();
        return output::json(
            &serde_json::json!({"connectors": connectors, "rejected": reg.rejected}),
        );
    }
    let mut t = table::Table::new(&["NAME", "VERSION", "KRIS", "FILE", "DESCRIPTION", "TRUST"]);
    for p in reg.plugins.values() {
        let trust = match &p.trust {
            kri_host::trust::Trust::Trusted { .. } => "trusted",
            kri_host::trust::Trust::Signed { .. } => "signed",
            kri_host::trust::Trust::Changed { .. } => "changed",
            kri_host::trust::Trust::Untrusted { .. } => "untrusted",
        };
        t.row(vec![
            p.manifest.name.clone(),
            p.manifest.version.clone(),
            p.manifest.kris.len().to_string(),
            p.path.display().to_string(),
            p.manifest.description.clone(),
            trust.to_string(),
        ]);
    }
    output::table(&t, format)?;
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
            let tenant = NewTenant {
                id: add.id.clone(),
                connector: add.connector.clone(),
                base_url: add.base_url.trim_end_matches('/').to_string(),
                kris: add.kris.clone(),
                extra,
                allow_insecure_local: add.allow_insecure_local,
                quotas,
            };
            if let Some(client_id) = &add.oauth_client_id {
                let client = read_oauth_client(add, client_id)?;
                let host = open(cli, true).await?;
                host.add_oauth_tenant(tenant, client)
                    .await
                    .with_context(|| format!("cannot add tenant `{}`", add.id))?;
            } else {
                let token = read_token(add.token_env.as_deref())?;
                let host = open(cli, true).await?;
                host.add_tenant(tenant, &token)
                    .await
                    .with_context(|| format!("cannot add tenant `{}`", add.id))?;
            }
            output::line(&format!(
                "added tenant {} ({}, {})",
                add.id, add.connector, add.base_url
            ))
        }
        TenantCommand::List { json } => {
            let host = open_records(cli).await?;
            let tenants = host.tenants().await?;
            let format = cli.format(*json);
            if format == Format::Json {
                return output::json(&tenants);
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
            output::table(&t, format)
        }
        TenantCommand::Update {
            id,
            extra,
            token_env,
            token_stdin,
            quotas,
            kris,
            purge,
            schedules,
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
            // A new KRI selection or schedule is checked against the connector's manifest.
            let host = if kris.is_some() || !schedules.is_empty() {
                open(cli, false).await?
            } else {
                open_records(cli).await?
            };
            host.tenant(id)
                .await
                .with_context(|| format!("cannot update tenant `{id}`"))?;
            // Quotas first: an unknown name is refused before anything is written.
            if !quotas.is_empty() {
                host.update_quotas(id, &quotas)
                    .await
                    .with_context(|| format!("cannot update the quotas of tenant `{id}`"))?;
            }
            if !schedules.is_empty() {
                host.update_schedules(id, schedules)
                    .await
                    .with_context(|| format!("cannot change the schedules of tenant `{id}`"))?;
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
            let mut purged = 0;
            if let Some(kris) = kris {
                let selection: Vec<String> = if kris.iter().any(|k| k == "all") {
                    Vec::new()
                } else {
                    kris.clone()
                };
                purged = host
                    .set_kris(id, &selection, *purge)
                    .await
                    .with_context(|| format!("cannot change the KRIs of tenant `{id}`"))?;
            }
            if *purge {
                output::line(&format!(
                    "updated tenant {id}; purged {purged} stored values of KRIs switched off"
                ))
            } else {
                output::line(&format!("updated tenant {id}"))
            }
        }
        TenantCommand::Remove { id } => {
            let host = open_records(cli).await?;
            host.remove_tenant(id)
                .await
                .with_context(|| format!("cannot remove tenant `{id}`"))?;
            output::line(&format!("removed tenant {id}"))
        }
    }
}

fn kris_table(rows: &[KriRow]) -> table::Table {
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
            r.slug.clone(),
            value,
            r.status.as_str().to_string(),
            change,
            of,
            format!("{}/{}", fmt_num(r.warn), fmt_num(r.breach)),
            note,
        ]);
    }
    t
}

/// Prints a tenant's latest KRIs and returns them.
async fn print_kris(host: &KriHost, tenant: &str, format: Format) -> Result<Vec<KriRow>> {
    let rows = host.latest_kris(tenant).await?;
    match format {
        Format::Json => output::json(&rows)?,
        Format::Table if rows.is_empty() => output::line(&format!(
            "no KRI values yet for {tenant}; run `kri run-connector <connector> --tenant {tenant}`"
        ))?,
        _ => output::table(&kris_table(&rows), format)?,
    }
    Ok(rows)
}

/// Exit 3 (saying which KRIs) when a KRI is at or past `fail_on`.
fn fail_on_code(rows: &[KriRow], fail_on: Option<FailOn>) -> ExitCode {
    let Some(fail_on) = fail_on else {
        return ExitCode::SUCCESS;
    };
    let reached: Vec<String> = rows
        .iter()
        .filter(|r| fail_on.reached(r.status))
        .map(|r| format!("{} ({})", r.slug, r.status))
        .collect();
    if reached.is_empty() {
        return ExitCode::SUCCESS;
    }
    eprintln!(
        "kri: --fail-on {}: {} at or past {}: {}",
        fail_on.as_str(),
        if reached.len() == 1 {
            "a KRI is"
        } else {
            "KRIs are"
        },
        fail_on.as_str(),
        reached.join(", ")
    );
    ExitCode::from(EXIT_FAIL_ON)
}

/// A signal that ends a run: SIGINT or SIGTERM.
pub(crate) struct Interrupted {
    pub(crate) name: &'static str,
    code: u8,
}

/// Handlers for SIGINT and SIGTERM, installed before a run starts so that a signal
/// arriving at any point of it is seen.
pub(crate) struct Signals {
    #[cfg(unix)]
    streams: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl Signals {
    fn install() -> Signals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let streams = match (
                signal(SignalKind::interrupt()),
                signal(SignalKind::terminate()),
            ) {
                (Ok(int), Ok(term)) => Some((int, term)),
                (Err(e), _) | (_, Err(e)) => {
                    tracing::warn!(error = %e, "cannot handle SIGINT/SIGTERM; a signal ends kri without recording the run");
                    None
                }
            };
            Signals { streams }
        }
        #[cfg(not(unix))]
        Signals {}
    }

    /// Waits for the first SIGINT or SIGTERM (forever if none can arrive).
    pub(crate) async fn recv(&mut self) -> Interrupted {
        #[cfg(unix)]
        if let Some((int, term)) = &mut self.streams {
            return tokio::select! {
                _ = int.recv() => Interrupted { name: "SIGINT", code: 130 },
                _ = term.recv() => Interrupted { name: "SIGTERM", code: 143 },
            };
        }
        std::future::pending().await
    }
}

/// Records this process's unfinished runs as interrupted by `sig` and says so.
async fn record_interrupted(host: &KriHost, sig: &Interrupted, what: &str) -> Result<ExitCode> {
    let reason = format!("interrupted by {} before it finished", sig.name);
    let n = host
        .interrupt_own_runs(&reason)
        .await
        .context("cannot record the interrupted run")?;
    tracing::warn!(signal = sig.name, runs = n, "runs interrupted");
    eprintln!(
        "error: {what} interrupted by {}; {n} unfinished run(s) recorded as interrupted, earlier KRI values and state are unchanged",
        sig.name
    );
    Ok(ExitCode::from(sig.code))
}

async fn cmd_run(
    cli: &Cli,
    connector: &str,
    tenant: &str,
    job: Option<&str>,
    format: Format,
    now_ms: Option<i64>,
    fail_on: Option<FailOn>,
) -> Result<ExitCode> {
    let mut signals = Signals::install();
    let host = open(cli, false).await?;
    let jobs = match job {
        Some(job) => vec![job.to_string()],
        None => host
            .job_order(connector, tenant)
            .await
            .with_context(|| format!("cannot run {connector} for tenant `{tenant}`"))?,
    };
    let mut outcomes = Vec::with_capacity(jobs.len());
    for job in jobs {
        let run = host.run(
            connector,
            tenant,
            RunOptions {
                now_ms,
                progress: progress_sink(),
                job: Some(job.clone()),
            },
        );
        let outcome = tokio::select! {
            outcome = run => outcome,
            sig = signals.recv() => {
                return record_interrupted(&host, &sig, &format!("the run of {connector} for tenant `{tenant}`")).await;
            }
        }
        .with_context(|| format!("cannot run {connector} job {job} for tenant `{tenant}`"))?;
        if format == Format::Table && outcome.succeeded {
            output::line(&run_line(&outcome))?;
        }
        if !outcome.succeeded {
            eprintln!(
                "error: run {} of {connector} (job {job}) for tenant `{tenant}` failed: {}",
                outcome.run_id,
                outcome.error.as_deref().unwrap_or("unknown error")
            );
        }
        outcomes.push(outcome);
    }
    let Some(last) = outcomes.pop() else {
        bail!("connector {connector} has no jobs");
    };
    if format == Format::Json {
        // The last job's outcome (`kris` when all ran), as before jobs existed; the
        // other jobs' outcomes ride along.
        let mut value = serde_json::to_value(&last)?;
        if let (Some(obj), false) = (value.as_object_mut(), outcomes.is_empty()) {
            obj.insert("other_jobs".into(), serde_json::to_value(&outcomes)?);
        }
        output::json(&value)?;
    }
    if !(last.succeeded && outcomes.iter().all(|o| o.succeeded)) {
        eprintln!("earlier KRI values and state are unchanged; see `kri runs --tenant {tenant}`");
        return Ok(ExitCode::from(1));
    }
    let rows = match format {
        Format::Json => host.latest_kris(tenant).await?,
        _ if last.job == "kris" => print_kris(&host, tenant, format).await?,
        _ => host.latest_kris(tenant).await?,
    };
    Ok(fail_on_code(&rows, fail_on))
}

/// One line about a succeeded run.
fn run_line(o: &kri_host::RunOutcome) -> String {
    let others: Vec<String> = o
        .emitted
        .iter()
        .filter(|(kind, _)| **kind != kri_host::model::OutputKind::Kri)
        .map(|(kind, n)| format!(", {n} {kind}s"))
        .collect();
    let job = if o.job == "kris" {
        String::new()
    } else {
        format!(" (job {})", o.job)
    };
    format!(
        "run {} of {}{} for {} succeeded in {:.1}s: {} KRIs{}, {} requests ({} rate-limited), {} bytes; guest memory {:.0} MiB",
        o.run_id,
        o.connector,
        job,
        o.tenant,
        o.duration_ms as f64 / 1000.0,
        o.stats.rows_written,
        others.concat(),
        o.stats.requests,
        o.stats.responses_429,
        o.stats.bytes,
        o.memory_peak_bytes as f64 / 1_048_576.0
    )
}

async fn cmd_run_all(
    cli: &Cli,
    parallel: usize,
    job: Option<&str>,
    format: Format,
) -> Result<ExitCode> {
    let mut signals = Signals::install();
    let host = Arc::new(open(cli, false).await?);
    let tenants: Vec<(String, String)> = host
        .tenants()
        .await?
        .into_iter()
        .map(|t| (t.connector, t.id))
        .collect();
    let opts = RunOptions::default();
    // Per tenant, its jobs' names and results: every job (`kris` last), or the one
    // `--job` names.
    let results: Vec<_> = match job {
        Some(job) => {
            let opts = RunOptions {
                job: Some(job.to_string()),
                ..opts
            };
            tokio::select! {
                results = host.run_many(&tenants, parallel, opts) => results,
                sig = signals.recv() => return record_interrupted(&host, &sig, "run-all").await,
            }
            .into_iter()
            .map(|r| Ok(vec![(job.to_string(), r)]))
            .collect()
        }
        None => tokio::select! {
            results = host.run_every_job_many(&tenants, parallel, opts) => results,
            sig = signals.recv() => return record_interrupted(&host, &sig, "run-all").await,
        },
    };
    let mut failed = 0;
    let mut out = Vec::new();
    // New columns go at the end, so that scripts reading CSV by position keep working.
    let mut t = table::Table::new(&[
        "TENANT",
        "CONNECTOR",
        "STATUS",
        "SECONDS",
        "REQUESTS",
        "ERROR",
        "JOB",
    ]);
    for ((connector, tenant), r) in tenants.iter().zip(results) {
        let jobs = match r {
            Ok(jobs) => jobs,
            Err(e) => vec![(String::from("-"), Err(e))],
        };
        // JSON: the last job's outcome (`kris` when all ran), as before jobs existed;
        // the other jobs' outcomes ride along.
        let mut doc: Option<(serde_json::Value, serde_json::Value)> = None;
        let mut others = Vec::new();
        for (job, r) in jobs {
            let (row, value, alone) = match r {
                Ok(o) => {
                    if !o.succeeded {
                        failed += 1;
                    }
                    let row = vec![
                        tenant.clone(),
                        connector.clone(),
                        if o.succeeded { "succeeded" } else { "failed" }.into(),
                        format!("{:.1}", o.duration_ms as f64 / 1000.0),
                        o.stats.requests.to_string(),
                        o.error.clone().unwrap_or_default(),
                        job,
                    ];
                    let alone = serde_json::to_value(&o)?;
                    (
                        row,
                        serde_json::json!({"tenant": tenant, "outcome": o}),
                        alone,
                    )
                }
                Err(e) => {
                    failed += 1;
                    let row = vec![
                        tenant.clone(),
                        connector.clone(),
                        "failed".into(),
                        "-".into(),
                        "0".into(),
                        e.to_string(),
                        job.clone(),
                    ];
                    let error = e.to_string();
                    (
                        row,
                        serde_json::json!({"tenant": tenant, "error": error}),
                        serde_json::json!({"job": job, "error": error}),
                    )
                }
            };
            t.row(row);
            if let Some((_, previous)) = doc.replace((value, alone)) {
                others.push(previous);
            }
        }
        if let Some((mut doc, _)) = doc {
            if let (Some(obj), false) = (doc.as_object_mut(), others.is_empty()) {
                obj.insert("other_jobs".into(), serde_json::Value::Array(others));
            }
            out.push(doc);
        }
    }
    if format == Format::Json {
        output::json(&out)?;
    } else {
        output::table(&t, format)?;
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

async fn cmd_thresholds(cli: &Cli, args: &ThresholdsArgs) -> Result<()> {
    let host = open(cli, false).await?;
    let format = cli.format(args.json);
    let (tenant, rows) = match &args.command {
        None => {
            let tenant = args
                .tenant
                .as_deref()
                .context("--tenant is required: `kri thresholds --tenant T`")?;
            let rows = host
                .thresholds(tenant)
                .await
                .with_context(|| format!("cannot list the thresholds of tenant `{tenant}`"))?;
            (tenant, rows)
        }
        Some(ThresholdsCommand::Set {
            tenant,
            slug,
            warn,
            breach,
            reset,
        }) => {
            let change = if *reset {
                ThresholdChange::Reset
            } else {
                ThresholdChange::Set {
                    warn: *warn,
                    breach: *breach,
                }
            };
            let row = host
                .set_thresholds(tenant, slug, change)
                .await
                .with_context(|| format!("cannot set the thresholds of tenant `{tenant}`"))?;
            (tenant.as_str(), vec![row])
        }
    };
    if format == Format::Json {
        return output::json(&rows);
    }
    if rows.is_empty() {
        return output::line(&format!(
            "no KRI definitions yet for {tenant}; they are recorded when the tenant is added or run"
        ));
    }
    let mut t = table::Table::new(&[
        "KRI",
        "DIRECTION",
        "WARN",
        "BREACH",
        "DEFAULT",
        "DEFAULT WARN/BREACH",
        "COMPUTED",
    ]);
    for r in rows {
        t.row(vec![
            r.slug,
            r.direction.to_string(),
            fmt_num(r.warn),
            fmt_num(r.breach),
            match r.is_default {
                Some(true) => "yes",
                Some(false) => "no",
                None => "unknown",
            }
            .into(),
            format!("{}/{}", fmt_num(r.default_warn), fmt_num(r.default_breach)),
            if r.selected { "yes" } else { "no" }.into(),
        ]);
    }
    output::table(&t, format)
}

async fn real_main(cli: Cli) -> Result<ExitCode> {
    match &cli.command {
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut Cli::command(), "kri", &mut script);
            output::write(&String::from_utf8_lossy(&script))?;
        }
        Command::Connectors { json } => cmd_connectors(&cli, cli.format(*json)).await?,
        Command::Plugin(PluginCommand::Trust { file, json }) => {
            cmd_plugin::trust(&cli, file, cli.format(*json)).await?
        }
        Command::Secrets(SecretsCommand::Rotate { new_key_env, json }) => {
            cmd_secrets::rotate(&cli, new_key_env.as_deref(), cli.format(*json)).await?
        }
        Command::Tenant(cmd) => cmd_tenant(&cli, cmd).await?,
        Command::Check { connector, tenant } => {
            let host = open(&cli, false).await?;
            let outcome = host
                .check(connector, tenant)
                .await
                .with_context(|| format!("cannot check {connector} for tenant `{tenant}`"))?;
            if cli.output == Format::Json {
                output::json(&outcome)?;
            }
            match outcome.error {
                None if cli.output == Format::Json => {}
                None => {
                    output::line(&format!(
                        "ok: {connector} can reach tenant {tenant} with its token"
                    ))?;
                }
                Some(e) => {
                    eprintln!("error: check of {connector} for tenant `{tenant}` failed: {e}");
                    return Ok(ExitCode::from(1));
                }
            }
        }
        Command::RunConnector {
            connector,
            tenant,
            job,
            json,
            now,
            fail_on,
        } => {
            return cmd_run(
                &cli,
                connector,
                tenant,
                job.as_deref(),
                cli.format(*json),
                *now,
                *fail_on,
            )
            .await
        }
        Command::RunAll {
            parallel,
            job,
            json,
        } => return cmd_run_all(&cli, *parallel, job.as_deref(), cli.format(*json)).await,
        Command::Kris {
            tenant,
            json,
            fail_on,
        } => {
            let host = open_records(&cli).await?;
            let rows = print_kris(&host, tenant, cli.format(*json)).await?;
            return Ok(fail_on_code(&rows, *fail_on));
        }
        Command::Runs {
            tenant,
            json,
            limit,
        } => {
            let host = open_records(&cli).await?;
            let runs = host.runs(tenant, *limit).await?;
            let format = cli.format(*json);
            if format == Format::Json {
                output::json(&runs)?;
            } else {
                // New columns go at the end, so that scripts reading CSV by position
                // keep working.
                let mut t = table::Table::new(&[
                    "RUN", "STATUS", "STARTED", "SECONDS", "REQUESTS", "429S", "WRITTEN",
                    "SKIPPED", "ERROR", "JOB",
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
                        r.job,
                    ]);
                }
                output::table(&t, format)?;
            }
        }
        Command::Thresholds(args) => cmd_thresholds(&cli, args).await?,
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
        Command::Serve(args) => {
            let mut signals = Signals::install();
            let host = open(&cli, true).await?;
            return cmd_serve::cmd_serve(host, args, &mut signals).await;
        }
        Command::Access {
            tenant,
            user,
            app,
            json,
        } => {
            let who = match (user, app) {
                (Some(login), _) => cmd_graph::Who::User(login),
                (None, Some(label)) => cmd_graph::Who::App(label),
                (None, None) => bail!("give --user LOGIN or --app LABEL"),
            };
            cmd_graph::access(&cli, tenant, who, cli.format(*json)).await?
        }
        Command::Admins { tenant, json } => {
            cmd_graph::admins(&cli, tenant, cli.format(*json)).await?
        }
        Command::Tokens { tenant, json, now } => {
            cmd_graph::tokens(&cli, tenant, *now, cli.format(*json)).await?
        }
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
    let format = cli.format(json);
    if format == Format::Json {
        output::json(&rows.objects())?;
    } else {
        let header: Vec<&str> = rows.columns.iter().map(String::as_str).collect();
        let mut t = table::Table::new(&header);
        for row in &rows.rows {
            t.row(row.iter().map(cell_text).collect());
        }
        output::table(&t, format)?;
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
    if let Ok(t) = s.trim().parse::<jiff::Timestamp>() {
        return Ok(t.as_millisecond());
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

async fn cmd_events(
    cli: &Cli,
    tenant: &str,
    filter: &EventFilter,
    limit: usize,
    json: bool,
) -> Result<()> {
    let host = open_records(cli).await?;
    let events = host.events(tenant, filter, limit).await?;
    let format = cli.format(json);
    if format == Format::Json {
        let out: Vec<EventJson> = events.iter().map(EventJson::of).collect();
        return output::json(&out);
    }
    // New columns go at the end, so that scripts reading CSV by position keep working.
    let mut t = table::Table::new(&[
        "PUBLISHED",
        "TYPE",
        "ACTOR",
        "OUTCOME",
        "UUID",
        "CLIENT IP",
        "COUNTRY",
    ]);
    for stored in &events {
        let e = &stored.event;
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
            stored.columns.client_ip.clone().unwrap_or_default(),
            stored.columns.geo_country.clone().unwrap_or_default(),
        ]);
    }
    output::table(&t, format)
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
    let format = cli.format(json);
    if format == Format::Json {
        let out: Vec<AlertJson> = alerts.iter().map(AlertJson::of).collect();
        return output::json(&out);
    }
    output::table(&alerts_table(&alerts), format)
}

async fn cmd_alert(cli: &Cli, cmd: &AlertCommand) -> Result<()> {
    let (id, status, json) = match cmd {
        AlertCommand::Ack { id, json } => (*id, AlertStatus::Acknowledged, *json),
        AlertCommand::Resolve { id, json } => (*id, AlertStatus::Resolved, *json),
    };
    let host = open_records(cli).await?;
    let alert = host.set_alert_status(id, status).await?;
    let format = cli.format(json);
    if format == Format::Json {
        return output::json(&AlertJson::of(&alert));
    }
    output::table(&alerts_table(std::slice::from_ref(&alert)), format)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli);
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
    fn parses_rfc3339_or_epoch_ms_now_and_refuses_impossible_dates() {
        let cases: &[(&str, Option<i64>)] = &[
            ("1970-01-01T00:00:00Z", Some(0)),
            ("2000-02-29T00:00:00.123Z", Some(951_782_400_123)),
            ("2026-11-23T02:13:20.000Z", Some(1_795_400_000_000)),
            ("2026-11-23T03:13:20+01:00", Some(1_795_400_000_000)),
            ("1795400000000", Some(1_795_400_000_000)),
            ("2026-13-45T99:00:00Z", None),
            ("2026-02-29T00:00:00Z", None),
            ("2026-11-22 23:33:20", None),
            ("yesterday", None),
            ("99999999999999999", None),
        ];
        for (s, want) in cases {
            assert_eq!(parse_now(s).ok(), *want, "{s}");
        }
    }

    /// Every argument and every command says what it is for in `--help`.
    #[test]
    fn every_argument_has_a_help_line() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if id == "help" || id == "version" {
                    continue;
                }
                if arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{path} {id}"));
                }
            }
            for sub in cmd.get_subcommands() {
                let sub_path = format!("{path} {}", sub.get_name());
                if sub.get_about().is_none() && sub.get_name() != "help" {
                    missing.push(sub_path.clone());
                }
                walk(sub, &sub_path, missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "kri", &mut missing);
        assert!(missing.is_empty(), "no help line: {missing:?}");
    }

    #[test]
    fn the_cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
