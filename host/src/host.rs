//! `KriHost`: the library's front door, and the CLI's only one. It opens the store,
//! loads the plugin directory (unless opened for reading records only), adds,
//! lists, updates and removes tenants, runs or checks a tenant's connector, and reads
//! back KRIs and run history.
//!
//! A run performs one job of the connector, in three steps. Prepare: load the
//! tenant and open its sealed token, pick the job, record the run as running, build
//! the tenant's gateway (origin, auth, quotas, and the pacer that all of the
//! tenant's runs share) and the job's view of the committed state. Execute: call
//! `run` in a fresh sandbox. Commit: on success the KRIs (with their status against
//! thresholds) and the state changes go to the store in one transaction; on any
//! failure the run is recorded as failed with a reason that names the cause (and
//! never the token), leaving earlier values and state untouched.
//!
//! Jobs of one tenant may run at the same time. They share the tenant's rate-limit
//! buckets (one pacer per tenant), and each has its own state: job `kris` keeps the
//! keys it always had, every other job J keeps its keys under `job:J/`, which the
//! host adds and strips, so no job can overwrite another's. A job may read the other
//! jobs' state as it was committed when its run started (the `peer-state` import),
//! never write it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use kri_policy::pacing::PacingConfig;
use kri_policy::quota::{QuotaExceeded, QuotaKind, QuotaUsage, Quotas};
use kri_policy::threshold::status;
use serde::Serialize;
use tracing::Instrument;

use crate::contract::{RunRequest, RunSummary, KRIS_JOB};
use crate::engine::KriEngine;
use crate::error::{RunError, SecretError, StoreError};
use crate::gateway::{BucketStats, Gateway, GatewayAuth, GatewaySettings, GatewayStats};
use crate::model::{Direction, KriValue, Output, OutputKind, RunKind, Severity};
use crate::oauth::jws::PrivateKey;
use crate::oauth::{OAuthClient, OAuthGrant};
use crate::pacer::{local_now_ms, Pacer};
use crate::plugins::{Plugin, PluginRegistry, DEFAULT_MAX_PLUGIN_BYTES};
use crate::query::{QueryLimits, QueryRows, ReadQuery};
use crate::runtime::{call_check, call_run, new_store, CallFailure, CallLimits};
use crate::sandbox::{
    LogLine, ProgressSink, RunBuffers, SandboxState, StreamAccess, RESERVED_STATE_PREFIX,
};
use crate::secrets::{Credential, OAuthClientSecret, SecretKey, Token};
use crate::store::{
    AlertStatus, EventFilter, KriDefinitionRow, KriOutput, KriRow, PostgresStore, RunCommit,
    RunRecord, RunStart, RunStats, SqliteStore, StateChanges, Store, StoredAlert, StoredEvent,
    StreamCoverage, Tenant, DEFAULT_RUN_LEASE,
};
use crate::trust::TrustPolicy;

/// How long a tenant's events are kept unless its extra config says
/// `event_retention_days`.
pub const DEFAULT_EVENT_RETENTION_DAYS: i64 = 90;

/// Where a host keeps its things.
#[derive(Debug, Clone)]
pub struct HostConfig {
    pub data_dir: PathBuf,
    pub plugins_dir: PathBuf,
    /// Pacing of every tenant's requests (share of each rate-limit bucket, ...).
    pub pacing: PacingConfig,
    /// The largest plugin file that is read; larger files are rejected.
    pub max_plugin_bytes: u64,
    /// PEM certificates trusted besides the system's roots (TLS inspection).
    pub ca_file: Option<PathBuf>,
    /// Load only plugins the operator trusts (`kri plugin trust`, or signed).
    pub require_trusted: bool,
    /// A PostgreSQL database URL (`postgres://...`) to keep the store in, shared by
    /// hosts on several machines; `None` keeps it in SQLite in `data_dir`.
    pub database: Option<String>,
    /// How long a run's lease holds without its heartbeat (renewed every third of
    /// it while the run lasts); after that another host may take the job over.
    pub run_lease: Duration,
}

impl HostConfig {
    pub fn new(data_dir: impl Into<PathBuf>) -> HostConfig {
        let data_dir = data_dir.into();
        HostConfig {
            plugins_dir: data_dir.join("plugins"),
            data_dir,
            pacing: PacingConfig::default(),
            max_plugin_bytes: DEFAULT_MAX_PLUGIN_BYTES,
            ca_file: None,
            require_trusted: false,
            database: None,
            run_lease: DEFAULT_RUN_LEASE,
        }
    }
}

/// A tenant to add.
#[derive(Debug, Clone)]
pub struct NewTenant {
    pub id: String,
    pub connector: String,
    pub base_url: String,
    pub kris: Vec<String>,
    pub extra: serde_json::Value,
    pub allow_insecure_local: bool,
    pub quotas: BTreeMap<String, u64>,
}

/// Options of one run.
#[derive(Clone, Default)]
pub struct RunOptions {
    /// The clock the connector sees (epoch ms); the host's clock when `None`.
    pub now_ms: Option<i64>,
    pub progress: Option<ProgressSink>,
    /// The job to run; `None` runs `kris` (or the connector's first job).
    pub job: Option<String>,
}

/// What a run did.
#[derive(Debug, Clone, Serialize)]
pub struct RunOutcome {
    pub run_id: i64,
    pub tenant: String,
    pub connector: String,
    /// The job the run performed.
    pub job: String,
    pub succeeded: bool,
    pub error: Option<String>,
    pub duration_ms: u64,
    pub stats: RunStats,
    pub outputs: Vec<KriOutput>,
    /// Outputs the connector emitted, per kind (KRIs, nodes, edges, events, alerts).
    pub emitted: BTreeMap<OutputKind, u64>,
    pub logs: Vec<LogLine>,
    pub retries_5xx: u64,
    pub denied_requests: u64,
    /// Requests and 429 answers per rate-limit bucket.
    pub requests_by_bucket: BTreeMap<String, BucketStats>,
    /// The quota that stopped the run, if one did.
    #[serde(serialize_with = "quota_name")]
    pub quota_exceeded: Option<QuotaKind>,
    /// The largest linear memory the guest had, in bytes: how close the run came to
    /// its `memory_bytes` quota.
    pub memory_peak_bytes: u64,
}

/// Serialises a quota by its name (`wall_ms`), as `--quota` takes it.
fn quota_name<S: serde::Serializer>(q: &Option<QuotaKind>, s: S) -> Result<S::Ok, S::Error> {
    match q {
        Some(q) => s.serialize_some(&q.to_string()),
        None => s.serialize_none(),
    }
}

/// A run recorded as running, with the rest of it to await.
pub struct StartedRun {
    pub run_id: i64,
    pub job: String,
    pub finish: futures::future::BoxFuture<'static, Result<RunOutcome, RunError>>,
}

/// A run ready to execute: everything it needs looked up, and recorded as running.
struct PreparedRun {
    tenant: Tenant,
    plugin: Arc<Plugin>,
    job: String,
    quotas: Quotas,
    run_id: i64,
    started: Instant,
    gateway: Arc<Gateway>,
    /// The job's view of the committed state.
    state_base: BTreeMap<String, Vec<u8>>,
    /// The other jobs' committed state, by job: read only.
    peer_state: BTreeMap<String, BTreeMap<String, Vec<u8>>>,
    request: RunRequest,
    /// The tenant's stored stream coverage as committed (the `stored-events` import).
    stream_coverage: Option<StreamCoverage>,
}

/// What executing a run left to commit.
struct ExecutedRun {
    /// The error is redacted already.
    result: Result<RunSummary, String>,
    buffers: RunBuffers,
    gateway: GatewayStats,
    /// The quota that stopped the call, if one did.
    quota: Option<QuotaKind>,
    /// The largest linear memory the guest had, in bytes.
    memory_peak: u64,
}

/// Where job `job` keeps state key `key` in the store.
fn stored_state_key(job: &str, key: &str) -> String {
    if job == KRIS_JOB {
        key.to_string()
    } else {
        format!("{RESERVED_STATE_PREFIX}{job}/{key}")
    }
}

/// Where the host keeps a tenant's stream coverage among its connector's state: under
/// the host's reserved prefix, in no job's namespace (job names have no `@`), so no job
/// sees it as state and it commits in the same transaction as the run's events.
const STREAM_COVERAGE_KEY: &str = "job:@stream/coverage";

/// The stream coverage kept in a connector's state, if any was declared.
fn stream_coverage(all: &BTreeMap<String, Vec<u8>>) -> Option<StreamCoverage> {
    all.get(STREAM_COVERAGE_KEY)
        .and_then(|bytes| serde_json::from_slice(bytes).ok())
}

/// The part of a connector's stored state that job `job` sees, under its own keys.
fn job_state(job: &str, all: BTreeMap<String, Vec<u8>>) -> BTreeMap<String, Vec<u8>> {
    if job == KRIS_JOB {
        return all
            .into_iter()
            .filter(|(k, _)| !k.starts_with(RESERVED_STATE_PREFIX))
            .collect();
    }
    let prefix = stored_state_key(job, "");
    all.into_iter()
        .filter_map(|(k, v)| k.strip_prefix(&prefix).map(|k| (k.to_string(), v)))
        .collect()
}

/// A JSON value with every echo of the secret redacted (a non-object that no
/// longer parses after redaction becomes an empty object).
fn redact_json(value: &serde_json::Value, redact: impl Fn(&str) -> String) -> serde_json::Value {
    serde_json::from_str(&redact(&value.to_string()))
        .unwrap_or(serde_json::Value::Object(Default::default()))
}

/// How long a run may take, told to the connector: the `wall_ms` quota less a
/// margin (a tenth, between 1 s and 60 s) for winding down and committing.
fn time_budget_ms(wall_ms: u64) -> u64 {
    wall_ms.saturating_sub((wall_ms / 10).clamp(1_000, 60_000))
}

/// A run's error when a quota stopped it: the quota, then, for the quotas a large
/// tenant's data can legitimately reach, how to go on: raise it for the tenant (and for
/// `wall_ms`, let the connector go on from saved progress).
fn quota_stop(q: &QuotaExceeded, tenant_id: &str) -> String {
    /// What a wasm32 guest's linear memory can reach: 4 GiB.
    const GUEST_ADDRESS_SPACE: u64 = 4 << 30;
    let doubled = q.limit.saturating_mul(2).max(1);
    let raised = match q.kind {
        QuotaKind::WallMs => q.limit.saturating_mul(2).max(1_000),
        // At least what the guest asked for; no more than a 32-bit guest can address.
        QuotaKind::MemoryBytes => doubled.max(q.attempted).min(GUEST_ADDRESS_SPACE),
        QuotaKind::CpuMs
        | QuotaKind::HttpRequests
        | QuotaKind::TotalBytes
        | QuotaKind::Outputs
        | QuotaKind::StateKeys
        | QuotaKind::StateBytes => doubled,
        // No tenant's size reaches these: a connector's own doing.
        QuotaKind::ResponseBytes | QuotaKind::ConcurrentRequests | QuotaKind::LogBytes => {
            return q.to_string()
        }
    };
    let how = if q.kind == QuotaKind::WallMs {
        ": a connector that saves its progress before its time budget ends goes on from \
         there on the next run; or raise the quota"
    } else {
        "; if the tenant's data is this large, raise the quota"
    };
    format!(
        "{q}; nothing of this run is kept, but what earlier runs committed is{how}: \
         `kri tenant update {tenant_id} --quota {}={raised}`",
        q.kind.name()
    )
}

/// What `kri secrets rotate` did.
#[derive(Debug, Clone, Serialize)]
pub struct Rotation {
    /// The id of the key that sealed the secrets before.
    pub old_key_id: String,
    /// The id of the key that seals them now.
    pub new_key_id: String,
    /// How many tenants' secrets were re-sealed.
    pub tenants: usize,
    /// Where the new key is: the key file, or the environment variable it came from.
    pub new_key_source: String,
}

/// Aborts the process at a named point of a multi-step change when the environment
/// variable `KRI_TEST_FAILPOINT` names it: how the end-to-end tests crash a
/// rotation halfway. Nothing is cleaned up, as in a real crash.
fn failpoint(name: &str) {
    if std::env::var("KRI_TEST_FAILPOINT").is_ok_and(|v| v == name) {
        eprintln!("kri: failpoint {name}: aborting");
        std::process::abort();
    }
}

/// What a check found.
#[derive(Debug, Clone, Serialize)]
pub struct CheckOutcome {
    pub ok: bool,
    pub error: Option<String>,
    pub requests: u64,
}

pub struct KriHost {
    engine: KriEngine,
    store: Arc<dyn Store>,
    key: SecretKey,
    /// The plugins now served; [`KriHost::reload_plugins`] swaps in a new set while
    /// runs in flight keep the `Arc<Plugin>` they started with.
    registry: RwLock<Arc<PluginRegistry>>,
    /// False when opened with [`KriHost::open_without_plugins`]: `registry` is empty.
    plugins_loaded: bool,
    pacers: Mutex<HashMap<String, Arc<Pacer>>>,
    /// Each OAuth tenant's client (its cached token shared by its runs), with a
    /// fingerprint of the sealed credential it was made from.
    oauth_clients: Mutex<HashMap<String, (String, Arc<OAuthClient>)>>,
    /// Trust roots from `config.ca_file`.
    extra_roots: Vec<reqwest::Certificate>,
    /// The HTTP transports, built on first use: [0] https only, [1] for tenants
    /// with `allow_insecure_local`.
    http_clients: Mutex<[Option<reqwest::Client>; 2]>,
    config: HostConfig,
}

/// The certificates of a PEM bundle, for `--ca-file`.
fn read_ca_file(path: &std::path::Path) -> anyhow::Result<Vec<reqwest::Certificate>> {
    use anyhow::Context as _;
    let pem =
        std::fs::read(path).with_context(|| format!("cannot read --ca-file {}", path.display()))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem).with_context(|| {
        format!(
            "--ca-file {} is not a PEM certificate bundle",
            path.display()
        )
    })?;
    if certs.is_empty() {
        anyhow::bail!("--ca-file {} holds no PEM certificate", path.display());
    }
    Ok(certs)
}

/// [`SecretError::WrongKey`] when a secret of the store was sealed with a key other
/// than `key` (secrets from before key ids were recorded cannot tell).
async fn check_key_seals(store: &dyn Store, key: &SecretKey) -> Result<(), RunError> {
    let sealed = store.sealed_secrets().await?;
    let other = sealed
        .into_iter()
        .find_map(|(tenant, id)| id.filter(|id| id != key.id()).map(|id| (tenant, id)));
    match other {
        Some((tenant, sealed_with)) => Err(RunError::Secret(SecretError::WrongKey {
            tenant,
            sealed_with,
            key_id: key.id().to_string(),
            key_source: key.source.clone(),
        })),
        None => Ok(()),
    }
}

/// Aborts a task when dropped: a run's heartbeat ends with the run, however it ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn tenant_id_ok(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
}

impl KriHost {
    /// Opens the store in `config.data_dir` and loads the plugins. With `create` the
    /// data directory and database are made when missing, and the key file too while
    /// the store holds no sealed secrets; without it a missing database is an error
    /// and nothing is written.
    pub async fn open(config: HostConfig, create: bool) -> anyhow::Result<KriHost> {
        Self::open_with(config, create, true).await
    }

    /// Opens an existing store to read and manage records (tenants, KRIs, runs)
    /// without reading the plugin directory: nothing is compiled or instantiated.
    /// Adding a tenant, running and checking need [`KriHost::open`].
    pub async fn open_without_plugins(config: HostConfig) -> anyhow::Result<KriHost> {
        Self::open_with(config, false, false).await
    }

    /// Validates the plugin directory without opening a store: what `kri
    /// connectors` lists. Compiled components are cached under the data directory
    /// only when it exists (listing never creates it).
    pub async fn scan_plugins(config: &HostConfig) -> anyhow::Result<PluginRegistry> {
        let engine = KriEngine::new()?;
        let linker = crate::runtime::connector_linker(&engine)?;
        let cache = config.data_dir.join("cache").join("components");
        let cache = config.data_dir.exists().then_some(cache.as_path());
        let trust = TrustPolicy::load(&config.data_dir, config.require_trusted)?;
        Ok(PluginRegistry::load_trusted(
            &engine,
            &linker,
            &config.plugins_dir,
            cache,
            config.max_plugin_bytes,
            &trust,
        )
        .await)
    }

    async fn open_with(
        config: HostConfig,
        create: bool,
        load_plugins: bool,
    ) -> anyhow::Result<KriHost> {
        let store: Arc<dyn Store> = match &config.database {
            Some(url) => {
                // On PostgreSQL the data directory still holds the key file and the
                // component cache; SQLite's store makes it otherwise.
                if create {
                    use anyhow::Context as _;
                    std::fs::create_dir_all(&config.data_dir).with_context(|| {
                        format!(
                            "cannot create the data directory {}",
                            config.data_dir.display()
                        )
                    })?;
                }
                Arc::new(
                    PostgresStore::connect(url, create)
                        .await?
                        .with_run_lease(config.run_lease),
                )
            }
            None if create => {
                Arc::new(SqliteStore::open(&config.data_dir)?.with_run_lease(config.run_lease))
            }
            None => Arc::new(
                SqliteStore::open_existing(&config.data_dir)?.with_run_lease(config.run_lease),
            ),
        };
        // A key file is created only for a store with no sealed secrets.
        let sealed = store.sealed_secrets().await?;
        crate::secrets::recover_rotation(&config.data_dir, &sealed)?;
        let sealed_tenants: Vec<String> = sealed.into_iter().map(|(tenant, _)| tenant).collect();
        let key = SecretKey::load(&config.data_dir, create, &sealed_tenants)?;
        let extra_roots = match &config.ca_file {
            Some(path) => read_ca_file(path)?,
            None => Vec::new(),
        };
        // One store, one key: a host with another key (hosts sharing PostgreSQL
        // must share KRI_ENCRYPTION_KEY) refuses to start, before it could seal
        // anything next to secrets it cannot open.
        check_key_seals(store.as_ref(), &key).await?;
        let engine = KriEngine::new()?;
        let linker = crate::runtime::connector_linker(&engine)?;
        let registry = if load_plugins {
            let cache = config.data_dir.join("cache").join("components");
            let trust = TrustPolicy::load(&config.data_dir, config.require_trusted)?;
            PluginRegistry::load_trusted(
                &engine,
                &linker,
                &config.plugins_dir,
                Some(&cache),
                config.max_plugin_bytes,
                &trust,
            )
            .await
        } else {
            PluginRegistry::default()
        };
        Ok(KriHost {
            engine,
            store,
            key,
            registry: RwLock::new(Arc::new(registry)),
            plugins_loaded: load_plugins,
            pacers: Mutex::new(HashMap::new()),
            oauth_clients: Mutex::new(HashMap::new()),
            extra_roots,
            http_clients: Mutex::new([None, None]),
            config,
        })
    }

    /// The plugins served now.
    pub fn registry(&self) -> Arc<PluginRegistry> {
        self.registry
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Scans the plugin directory again and serves what it holds now: new and
    /// changed connectors are served from the next run on (runs in flight finish on
    /// the version they started with). A file that no longer loads (broken, say) is
    /// reported among the rejected, and the version it replaced keeps serving.
    /// Returns the new set.
    pub async fn reload_plugins(&self) -> anyhow::Result<Arc<PluginRegistry>> {
        if !self.plugins_loaded {
            anyhow::bail!("this host was opened without its plugins; it cannot reload them");
        }
        let linker = crate::runtime::connector_linker(&self.engine)?;
        let cache = self.config.data_dir.join("cache").join("components");
        // Trust is read again too: a component trusted since the last scan loads, and
        // one changed on disk is refused under --require-trusted.
        let trust = TrustPolicy::load(&self.config.data_dir, self.config.require_trusted)?;
        let mut fresh = PluginRegistry::load_trusted(
            &self.engine,
            &linker,
            &self.config.plugins_dir,
            Some(&cache),
            self.config.max_plugin_bytes,
            &trust,
        )
        .await;
        let old = self.registry();
        for (name, plugin) in &old.plugins {
            let broken_now = fresh.rejected.iter().any(|r| r.path == plugin.path);
            if broken_now && !fresh.plugins.contains_key(name) {
                fresh.plugins.insert(name.clone(), plugin.clone());
            }
        }
        let fresh = Arc::new(fresh);
        *self.registry.write().unwrap_or_else(|p| p.into_inner()) = fresh.clone();
        Ok(fresh)
    }

    /// Records the component at `path` as trusted in `config.data_dir` (creating
    /// the directory): its SHA-256, so that `--require-trusted` loads it and
    /// refuses it again once its bytes change. The file must be a component.
    pub fn trust_plugin(
        config: &HostConfig,
        path: &std::path::Path,
    ) -> anyhow::Result<crate::trust::TrustedComponent> {
        use anyhow::Context as _;
        let bytes = crate::plugins::read_component(path, config.max_plugin_bytes)
            .with_context(|| format!("cannot trust {}", path.display()))?;
        Ok(crate::trust::trust_file(&config.data_dir, path, &bytes)?)
    }

    /// The store, for the host's own modules; callers outside the crate use
    /// `KriHost`'s methods, never the store.
    pub(crate) fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    /// The store, shared, for the host's own long-lived parts (the scheduler of
    /// `kri serve`).
    pub(crate) fn shared_store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    pub fn config(&self) -> &HostConfig {
        &self.config
    }

    fn plugin(&self, name: &str) -> Result<Arc<Plugin>, RunError> {
        if !self.plugins_loaded {
            return Err(RunError::Other(format!(
                "connector `{name}` is needed, but this host was opened without its plugins"
            )));
        }
        let registry = self.registry();
        registry
            .get(name)
            .ok_or_else(|| RunError::UnknownConnector {
                name: name.to_string(),
                available: registry.names(),
            })
    }

    /// Validates and adds a tenant with a static token; nothing is written when
    /// anything is wrong.
    pub async fn add_tenant(&self, t: NewTenant, token: &Token) -> Result<(), RunError> {
        kri_policy::redact::check_token_length(token.expose())
            .map_err(|e| RunError::Other(e.to_string()))?;
        let plugin = self.plugin(&t.connector)?;
        if plugin.manifest.auth_scheme.is_none() {
            return Err(RunError::Other(format!(
                "connector `{}` does not accept API tokens; add the tenant with --oauth-client-id and --private-key-file",
                t.connector
            )));
        }
        self.add_tenant_with(t, &Credential::Token(token.clone()))
            .await
    }

    /// Validates and adds a tenant that signs in as an OAuth service app. The key
    /// must be a usable RS256 or ES256 key; without scopes the tenant asks for the
    /// connector's declared ones. Nothing is written when anything is wrong.
    pub async fn add_oauth_tenant(
        &self,
        t: NewTenant,
        mut client: OAuthClientSecret,
    ) -> Result<(), RunError> {
        use secrecy::ExposeSecret;
        let plugin = self.plugin(&t.connector)?;
        let Some(scheme) = &plugin.manifest.oauth else {
            return Err(RunError::Other(format!(
                "connector `{}` does not accept OAuth client credentials; add the tenant with an API token",
                t.connector
            )));
        };
        let client_id = client.client_id.trim();
        if client_id.is_empty()
            || client_id
                .chars()
                .any(|c| c.is_control() || c.is_whitespace())
        {
            return Err(RunError::Other(
                "--oauth-client-id is empty or has spaces or control characters".into(),
            ));
        }
        client.client_id = client_id.to_string();
        PrivateKey::from_pem(client.private_key_pem.expose_secret())
            .map_err(|e| RunError::Other(format!("--private-key-file: {e}")))?;
        if client.scopes.is_empty() {
            client.scopes = scheme.scopes.clone();
        }
        self.add_tenant_with(t, &Credential::OAuthClient(client))
            .await
    }

    async fn add_tenant_with(&self, t: NewTenant, credential: &Credential) -> Result<(), RunError> {
        if !tenant_id_ok(&t.id) {
            return Err(RunError::Other(format!(
                "tenant id `{}` must be 1-64 of letters, digits, `-`, `_`, `.`",
                t.id
            )));
        }
        let plugin = self.plugin(&t.connector)?;
        kri_policy::egress::Origin::from_base_url(&t.base_url)
            .map_err(|e| RunError::Other(format!("--base-url {}: {e}", t.base_url)))?;
        if t.base_url.starts_with("http://") && !t.allow_insecure_local {
            return Err(RunError::Other(format!(
                "--base-url {} is not https; use https, or --allow-insecure-local for a local simulator",
                t.base_url
            )));
        }
        kri_policy::egress::check_base_url(&t.base_url, t.allow_insecure_local).map_err(|e| {
            let advice = match e {
                kri_policy::egress::EgressError::DeniedAddress { .. } => {
                    "; runs would refuse every request to it (use the service's public \
                     name, or --allow-insecure-local for a local simulator)"
                }
                _ => "",
            };
            RunError::Other(format!("--base-url {}: {e}{advice}", t.base_url))
        })?;
        if !t.extra.is_object() {
            return Err(RunError::Other("--extra must be a JSON object".into()));
        }
        let known: BTreeSet<&str> = plugin
            .manifest
            .kris
            .iter()
            .map(|k| k.slug.as_str())
            .collect();
        for slug in &t.kris {
            if !known.contains(slug.as_str()) {
                return Err(RunError::Other(format!(
                    "`{slug}` is not a KRI of connector `{}`; known: {}",
                    t.connector,
                    known.iter().copied().collect::<Vec<_>>().join(", ")
                )));
            }
        }
        let mut quotas = Quotas::default();
        let overrides: Vec<(String, u64)> = t.quotas.iter().map(|(k, v)| (k.clone(), *v)).collect();
        quotas
            .apply_overrides(&overrides)
            .map_err(|e| RunError::Other(e.to_string()))?;
        self.check_key_seals_the_store().await?;
        let sealed = self.key.seal_credential(&t.id, credential)?;
        let tenant = Tenant {
            id: t.id.clone(),
            connector: t.connector,
            base_url: t.base_url,
            kris: t.kris,
            extra: t.extra,
            allow_insecure_local: t.allow_insecure_local,
            quotas: t.quotas,
            created_at_ms: 0,
            schedules: BTreeMap::new(),
        };
        self.store.add_tenant(&tenant, &sealed).await?;
        self.seed_definitions(&t.id, &plugin).await?;
        Ok(())
    }

    /// Re-seals every tenant's secret under a new key, atomically. With the key file
    /// the new key is made here (`secret.key.next`, renamed over `secret.key` once
    /// the store's transaction has committed); with `KRI_ENCRYPTION_KEY` the new key
    /// comes from environment variable `new_key_env`, and the operator switches
    /// `KRI_ENCRYPTION_KEY` to it afterwards. Every secret is opened before anything
    /// is written, so a secret the current key cannot open stops the rotation.
    pub async fn rotate_key(&self, new_key_env: Option<&str>) -> Result<Rotation, RunError> {
        let new_key = match (self.key.from_environment(), new_key_env) {
            (true, Some(var)) => SecretKey::from_env(var)?,
            (true, None) => {
                return Err(RunError::Other(format!(
                    "the key comes from {}; put the new key (64 hex characters) in another environment variable and pass its name with --new-key-env",
                    crate::secrets::KEY_ENV
                )))
            }
            (false, Some(_)) => {
                return Err(RunError::Other(
                    "--new-key-env is for keys given in KRI_ENCRYPTION_KEY; with the key file, kri makes the new key itself".into(),
                ))
            }
            (false, None) => crate::secrets::create_next_key(&self.config.data_dir)?,
        };
        if new_key.id() == self.key.id() {
            return Err(RunError::Other("the new key is the current key".into()));
        }
        let mut resealed = Vec::new();
        for (tenant, _) in self.store.sealed_secrets().await? {
            let credential = self
                .key
                .open_credential(&tenant, &self.store.secret(&tenant).await?)?;
            resealed.push((
                tenant.clone(),
                new_key.seal_credential(&tenant, &credential)?,
            ));
        }
        failpoint("rotate-before-commit");
        self.store.reseal_secrets(&resealed).await?;
        failpoint("rotate-after-commit");
        if !self.key.from_environment() {
            crate::secrets::promote_next_key(&self.config.data_dir)?;
        }
        Ok(Rotation {
            old_key_id: self.key.id().to_string(),
            new_key_id: new_key.id().to_string(),
            tenants: resealed.len(),
            new_key_source: new_key.source.clone(),
        })
    }

    /// Refuses to seal with a key other than the one that sealed the store's
    /// secrets: one store, one key, or some tenants could never be opened.
    async fn check_key_seals_the_store(&self) -> Result<(), RunError> {
        check_key_seals(self.store.as_ref(), &self.key).await
    }

    /// Replaces a tenant's token (sealed like at `add_tenant`); refused, writing
    /// nothing, when the store's secrets were sealed with another key.
    pub async fn update_token(&self, tenant_id: &str, token: &Token) -> Result<(), RunError> {
        self.store.tenant(tenant_id).await?;
        self.check_key_seals_the_store().await?;
        kri_policy::redact::check_token_length(token.expose())
            .map_err(|e| RunError::Other(e.to_string()))?;
        let sealed = self.key.seal(tenant_id, token)?;
        self.store.set_secret(tenant_id, &sealed).await?;
        Ok(())
    }

    /// Sets some of a tenant's quota overrides (`name -> value`), keeping the others.
    /// Unknown names are refused (the error lists the known ones) and nothing is
    /// written. Returns the tenant's overrides after the change.
    pub async fn update_quotas(
        &self,
        tenant_id: &str,
        changes: &BTreeMap<String, u64>,
    ) -> Result<BTreeMap<String, u64>, RunError> {
        let mut overrides = self.store.tenant(tenant_id).await?.quotas;
        overrides.extend(changes.iter().map(|(k, v)| (k.clone(), *v)));
        let pairs: Vec<(String, u64)> = overrides.iter().map(|(k, v)| (k.clone(), *v)).collect();
        Quotas::default()
            .apply_overrides(&pairs)
            .map_err(|e| RunError::Other(e.to_string()))?;
        self.store.set_tenant_quotas(tenant_id, &overrides).await?;
        Ok(overrides)
    }

    /// Every tenant, by id.
    pub async fn tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        self.store.tenants().await
    }

    pub async fn tenant(&self, id: &str) -> Result<Tenant, StoreError> {
        self.store.tenant(id).await
    }

    /// Removes a tenant with its token, values, state and history.
    pub async fn remove_tenant(&self, id: &str) -> Result<(), StoreError> {
        self.store.remove_tenant(id).await
    }

    /// Replaces a tenant's extra connector config, a JSON object.
    pub async fn set_tenant_extra(
        &self,
        id: &str,
        extra: &serde_json::Value,
    ) -> Result<(), RunError> {
        if !extra.is_object() {
            return Err(RunError::Other("--extra must be a JSON object".into()));
        }
        Ok(self.store.set_tenant_extra(id, extra).await?)
    }

    /// The latest value of each KRI of a tenant, with the previous value; an
    /// unknown tenant is an error.
    pub async fn latest_kris(&self, tenant_id: &str) -> Result<Vec<KriRow>, StoreError> {
        self.store.tenant(tenant_id).await?;
        self.store.latest_kris(tenant_id).await
    }

    /// A tenant's runs, newest first; an unknown tenant is an error.
    pub async fn runs(&self, tenant_id: &str, limit: usize) -> Result<Vec<RunRecord>, StoreError> {
        self.store.tenant(tenant_id).await?;
        self.store.runs(tenant_id, limit).await
    }

    /// Records the runs this process left `running` as `interrupted` with `reason`
    /// (a signal is ending the process); returns how many.
    pub async fn interrupt_own_runs(&self, reason: &str) -> Result<usize, StoreError> {
        self.store.interrupt_own_runs(reason).await
    }

    /// The committed state of a tenant's connector.
    pub async fn connector_state(
        &self,
        tenant_id: &str,
        connector: &str,
    ) -> Result<BTreeMap<String, Vec<u8>>, StoreError> {
        self.store.load_state(tenant_id, connector).await
    }

    async fn seed_definitions(&self, tenant: &str, plugin: &Plugin) -> Result<(), StoreError> {
        let defs: Vec<KriDefinitionRow> = plugin
            .manifest
            .kris
            .iter()
            .map(|k| KriDefinitionRow {
                slug: k.slug.clone(),
                name: k.name.clone(),
                unit: k.unit.clone(),
                direction: k.direction,
                warn: k.warn,
                breach: k.breach,
            })
            .collect();
        self.store.seed_definitions(tenant, &defs).await
    }

    fn pacer(&self, tenant: &str) -> Arc<Pacer> {
        let mut map = self.pacers.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(tenant.to_string())
            .or_insert_with(|| Arc::new(Pacer::new(self.config.pacing)))
            .clone()
    }

    /// The tenant, its connector, how its requests are authorized, and its quotas.
    async fn load(
        &self,
        connector: &str,
        tenant_id: &str,
    ) -> Result<(Tenant, Arc<Plugin>, GatewayAuth, Quotas), RunError> {
        let tenant = self.tenant_of(connector, tenant_id).await?;
        let plugin = self.plugin(connector)?;
        let sealed = self.store.secret(tenant_id).await?;
        let token = match self.key.open_credential(tenant_id, &sealed)? {
            Credential::Token(token) => GatewayAuth::Token {
                template: plugin.manifest.auth_scheme.clone().ok_or_else(|| {
                    RunError::Other(format!(
                        "tenant `{tenant_id}` has an API token, but connector `{connector}` accepts only OAuth client credentials; add the tenant again with --oauth-client-id and --private-key-file"
                    ))
                })?,
                token,
            },
            Credential::OAuthClient(client) => {
                GatewayAuth::OAuth(self.oauth_client(&tenant, &plugin, &sealed, client)?)
            }
        };
        let mut quotas = Quotas::default();
        let overrides: Vec<(String, u64)> =
            tenant.quotas.iter().map(|(k, v)| (k.clone(), *v)).collect();
        quotas
            .apply_overrides(&overrides)
            .map_err(|e| RunError::Other(e.to_string()))?;
        Ok((tenant, plugin, token, quotas))
    }

    /// The tenant's OAuth client: the one its earlier runs used (with its cached
    /// token) while the sealed credential is unchanged, else a new one.
    fn oauth_client(
        &self,
        tenant: &Tenant,
        plugin: &Plugin,
        sealed: &crate::secrets::SealedSecret,
        secret: OAuthClientSecret,
    ) -> Result<Arc<OAuthClient>, RunError> {
        use secrecy::ExposeSecret;
        use sha2::{Digest, Sha256};
        let fingerprint = hex::encode(
            Sha256::new()
                .chain_update(&sealed.nonce)
                .chain_update(&sealed.ciphertext)
                .chain_update(tenant.base_url.as_bytes())
                .finalize(),
        );
        let mut clients = self.oauth_clients.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((fp, client)) = clients.get(&tenant.id) {
            if *fp == fingerprint {
                return Ok(client.clone());
            }
        }
        let scheme = plugin.manifest.oauth.as_ref().ok_or_else(|| {
            RunError::Other(format!(
                "tenant `{}` signs in with OAuth, but connector `{}` does not accept OAuth client credentials; add the tenant again with an API token",
                tenant.id, plugin.manifest.name
            ))
        })?;
        let token_url = kri_policy::egress::resolve_request_url(
            &tenant.base_url,
            &scheme.token_path,
            tenant.allow_insecure_local,
        )
        .map_err(|e| {
            RunError::Other(format!("the connector's OAuth token path is unusable: {e}"))
        })?;
        let key = PrivateKey::from_pem(secret.private_key_pem.expose_secret()).map_err(|e| {
            RunError::Other(format!("the private key of tenant `{}`: {e}", tenant.id))
        })?;
        let http = self.http_client(tenant.allow_insecure_local)?;
        let client = Arc::new(OAuthClient::new(
            OAuthGrant {
                token_url,
                client_id: secret.client_id,
                key_id: secret.key_id,
                key,
                scopes: secret.scopes,
                dpop: secret.dpop,
            },
            http,
        ));
        clients.insert(tenant.id.clone(), (fingerprint, client.clone()));
        Ok(client)
    }

    /// The HTTP transport for tenants of this `allow_insecure_local`: built once,
    /// then shared (a clone shares the connection pool; each gateway still adds its
    /// own tenant's credential, pacing and quotas).
    fn http_client(&self, allow_insecure_local: bool) -> Result<reqwest::Client, RunError> {
        let mut clients = self.http_clients.lock().unwrap_or_else(|p| p.into_inner());
        let slot = &mut clients[usize::from(allow_insecure_local)];
        if let Some(client) = slot {
            return Ok(client.clone());
        }
        let client = crate::gateway::http_client(
            allow_insecure_local,
            Duration::from_secs(60),
            &self.extra_roots,
        )
        .map_err(|e| RunError::Other(format!("cannot build the HTTP client: {e}")))?;
        *slot = Some(client.clone());
        Ok(client)
    }

    fn gateway(
        &self,
        tenant: &Tenant,
        plugin: &Plugin,
        auth: GatewayAuth,
        quotas: &Quotas,
        usage: Arc<Mutex<QuotaUsage>>,
        deadline: Instant,
    ) -> Result<Arc<Gateway>, RunError> {
        let settings = GatewaySettings {
            base_url: tenant.base_url.clone(),
            allow_insecure_local: tenant.allow_insecure_local,
            rate_limit: plugin.manifest.rate_limit.clone(),
            auth,
            client: self.http_client(tenant.allow_insecure_local)?,
            quotas: *quotas,
            max_429_retries: 20,
            max_5xx_retries: 4,
            deadline: Some(deadline),
        };
        Gateway::new(settings, self.pacer(&tenant.id), usage)
            .map(Arc::new)
            .map_err(|e| RunError::Other(format!("{e:#}")))
    }

    fn request(tenant: &Tenant, job: &str, quotas: &Quotas, now_ms: Option<i64>) -> RunRequest {
        RunRequest {
            job: job.to_string(),
            now_ms: now_ms.unwrap_or_else(local_now_ms),
            time_budget_ms: time_budget_ms(quotas.wall_ms),
            kris: tenant.kris.clone(),
            extra_config: tenant.extra.to_string(),
        }
    }

    /// The jobs `kri run-connector` runs for a tenant when it is not given one: all
    /// of the connector's, `kris` last. Fails like a run would (unknown tenant, a
    /// tenant of another connector, an unknown connector).
    pub async fn job_order(
        &self,
        connector: &str,
        tenant_id: &str,
    ) -> Result<Vec<String>, RunError> {
        self.tenant_of(connector, tenant_id).await?;
        Ok(self.plugin(connector)?.manifest.job_order())
    }

    /// The tenant, if it uses `connector`.
    async fn tenant_of(&self, connector: &str, tenant_id: &str) -> Result<Tenant, RunError> {
        let tenant = self.store.tenant(tenant_id).await?;
        if tenant.connector != connector {
            return Err(RunError::WrongConnector {
                tenant: tenant_id.to_string(),
                requested: connector.to_string(),
                actual: tenant.connector,
            });
        }
        Ok(tenant)
    }

    /// A tenant's events matching `filter`, newest first.
    pub async fn events(
        &self,
        tenant_id: &str,
        filter: &EventFilter,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        self.store.tenant(tenant_id).await?;
        self.store.find_events(tenant_id, filter, limit).await
    }

    /// A tenant's alerts with this status and severity (`None`: any), oldest first.
    pub async fn alerts(
        &self,
        tenant_id: &str,
        status: Option<AlertStatus>,
        severity: Option<Severity>,
    ) -> Result<Vec<StoredAlert>, StoreError> {
        self.store.tenant(tenant_id).await?;
        self.store.find_alerts(tenant_id, status, severity).await
    }

    /// Acknowledges or resolves an alert (or opens it again).
    pub async fn set_alert_status(
        &self,
        alert_id: i64,
        status: AlertStatus,
    ) -> Result<StoredAlert, StoreError> {
        self.store.set_alert_status(alert_id, status).await
    }

    /// Runs a read-only SQL query (PostgreSQL dialect) over a tenant's graph, events
    /// and alerts; see [`crate::query`].
    pub async fn query(
        &self,
        tenant_id: &str,
        sql: &str,
        limits: QueryLimits,
    ) -> Result<QueryRows, StoreError> {
        let query = ReadQuery::parse(sql)?;
        self.store.query(tenant_id, &query, limits).await
    }

    /// Runs the connector's `check`: one cheap authenticated call. Nothing is stored.
    pub async fn check(&self, connector: &str, tenant_id: &str) -> Result<CheckOutcome, RunError> {
        let (tenant, plugin, auth, quotas) = self.load(connector, tenant_id).await?;
        let usage = Arc::new(Mutex::new(QuotaUsage::default()));
        let limits = CallLimits {
            cpu_ms: quotas.cpu_ms,
            wall_ms: quotas.wall_ms.min(120_000),
        };
        let deadline = Instant::now() + Duration::from_millis(limits.wall_ms);
        let gateway = self.gateway(&tenant, &plugin, auth, &quotas, usage, deadline)?;
        if let Err(e) = gateway.ready().await {
            return Ok(CheckOutcome {
                ok: false,
                error: Some(e.to_string()),
                requests: 0,
            });
        }
        let state = SandboxState::new(
            quotas,
            Some(gateway.clone()),
            BTreeSet::new(),
            BTreeMap::new(),
            None,
        );
        let job = plugin
            .manifest
            .default_job()
            .map(|j| j.name.clone())
            .unwrap_or_default();
        let mut store = new_store(&self.engine, state, limits);
        let req = Self::request(&tenant, &job, &quotas, None);
        let result = call_check(&plugin.pre, &mut store, limits, &req).await;
        let error = match result {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e),
            Err(f) => Some(f.to_string()),
        }
        .map(|e| gateway.redact_text(&e));
        Ok(CheckOutcome {
            ok: error.is_none(),
            error,
            requests: gateway.stats().requests,
        })
    }

    /// Runs one job of a tenant's connector (`opts.job`, else `kris`) and commits its
    /// outputs when it succeeds. A failed run is recorded and returned as an outcome
    /// with `succeeded == false`; `Err` means the run could not start (unknown
    /// tenant, connector or job, bad key, ...).
    pub async fn run(
        &self,
        connector: &str,
        tenant_id: &str,
        opts: RunOptions,
    ) -> Result<RunOutcome, RunError> {
        let span = tracing::info_span!(
            "run",
            tenant = tenant_id,
            connector,
            job = tracing::field::Empty,
            run_id = tracing::field::Empty
        );
        let outcome = self
            .run_in_span(connector, tenant_id, opts)
            .instrument(span.clone())
            .await;
        let _entered = span.enter();
        match &outcome {
            Ok(o) if o.succeeded => tracing::info!(
                duration_ms = o.duration_ms,
                requests = o.stats.requests,
                responses_429 = o.stats.responses_429,
                rows_written = o.stats.rows_written,
                "run succeeded"
            ),
            // Info, not warn: callers report failures themselves (the CLI on stderr).
            Ok(o) => tracing::info!(
                duration_ms = o.duration_ms,
                requests = o.stats.requests,
                error = o.error.as_deref().unwrap_or(""),
                "run failed"
            ),
            Err(e) => tracing::info!(error = %e, "run could not start"),
        }
        outcome
    }

    /// Starts a run like [`KriHost::run`] and returns as soon as it is recorded as
    /// running: its id, its job, and the rest of the run to await (or to drop, which
    /// leaves the run `running` for [`KriHost::interrupt_own_runs`]). `Err` means the
    /// run did not start, e.g. [`StoreError::RunInProgress`] while the job runs.
    pub async fn begin_run(
        self: &Arc<Self>,
        connector: &str,
        tenant_id: &str,
        opts: RunOptions,
    ) -> Result<StartedRun, RunError> {
        let span = tracing::info_span!(
            "run",
            tenant = tenant_id,
            connector,
            job = tracing::field::Empty,
            run_id = tracing::field::Empty
        );
        let prepared = self
            .prepare(connector, tenant_id, &opts)
            .instrument(span.clone())
            .await?;
        let (run_id, job) = (prepared.run_id, prepared.job.clone());
        let host = self.clone();
        let finish = async move {
            // The run's lease is renewed while it runs, as in `run`: without it a
            // run longer than the lease is taken over by the next taker.
            let _heartbeat = host.heartbeat(prepared.run_id);
            let executed = host.execute(&prepared, opts.progress).await;
            let outcome = host.commit(prepared, executed).await;
            match &outcome {
                Ok(o) => tracing::info!(
                    succeeded = o.succeeded,
                    duration_ms = o.duration_ms,
                    error = o.error.as_deref().unwrap_or(""),
                    "run finished"
                ),
                Err(e) => tracing::info!(error = %e, "run could not be recorded"),
            }
            outcome
        }
        .instrument(span);
        Ok(StartedRun {
            run_id,
            job,
            finish: Box::pin(finish),
        })
    }

    async fn run_in_span(
        &self,
        connector: &str,
        tenant_id: &str,
        opts: RunOptions,
    ) -> Result<RunOutcome, RunError> {
        let prepared = self.prepare(connector, tenant_id, &opts).await?;
        let _heartbeat = self.heartbeat(prepared.run_id);
        let executed = self.execute(&prepared, opts.progress).await;
        self.commit(prepared, executed).await
    }

    /// Renews run `run_id`'s lease every third of the lease until dropped. A lost
    /// lease is logged; the run's commit is then refused by the store (fencing).
    fn heartbeat(&self, run_id: i64) -> AbortOnDrop {
        let store = self.store.clone();
        let every = (self.config.run_lease / 3).max(Duration::from_millis(10));
        AbortOnDrop(tokio::spawn(
            async move {
                let mut tick = tokio::time::interval(every);
                tick.tick().await;
                loop {
                    tick.tick().await;
                    match store.renew_run_lease(run_id).await {
                        Ok(true) => {}
                        Ok(false) => {
                            tracing::warn!(run_id, "the run lost its lease; it will not commit");
                            return;
                        }
                        // A store that cannot be reached now may be reached at the
                        // next beat, before the lease runs out.
                        Err(e) => {
                            tracing::warn!(run_id, error = %e, "cannot renew the run's lease")
                        }
                    }
                }
            }
            .in_current_span(),
        ))
    }

    /// Looks everything up, records the run as running and builds its gateway.
    async fn prepare(
        &self,
        connector: &str,
        tenant_id: &str,
        opts: &RunOptions,
    ) -> Result<PreparedRun, RunError> {
        let (tenant, plugin, auth, quotas) = self.load(connector, tenant_id).await?;
        let manifest = &plugin.manifest;
        let job = match &opts.job {
            Some(name) => manifest.job(name),
            None => manifest.default_job(),
        }
        .ok_or_else(|| RunError::UnknownJob {
            connector: connector.to_string(),
            job: opts.job.clone().unwrap_or_default(),
            known: manifest.job_order().join(", "),
        })?
        .name
        .clone();
        tracing::Span::current().record("job", job.as_str());
        self.seed_definitions(tenant_id, &plugin).await?;
        let run_id = self
            .store
            .start_run(&RunStart {
                tenant_id: tenant_id.to_string(),
                connector: connector.to_string(),
                job: job.clone(),
                kind: RunKind::Run,
            })
            .await?;
        tracing::Span::current().record("run_id", run_id);
        tracing::info!("run started");
        let started = Instant::now();
        let deadline = started + Duration::from_millis(quotas.wall_ms);
        let usage = Arc::new(Mutex::new(QuotaUsage::default()));
        let gateway = match self.gateway(&tenant, &plugin, auth, &quotas, usage, deadline) {
            Ok(g) => g,
            Err(e) => {
                self.store
                    .fail_run(run_id, &e.to_string(), &RunStats::default())
                    .await?;
                return Err(e);
            }
        };
        // An OAuth tenant gets its token before the guest starts, so that a refusal
        // fails the run with the host's own message.
        if let Err(e) = gateway.ready().await {
            let msg = e.to_string();
            self.store
                .fail_run(run_id, &msg, &RunStats::default())
                .await?;
            return Err(RunError::Auth(msg));
        }
        let all_state = self.store.load_state(tenant_id, connector).await?;
        let peer_state = manifest
            .job_order()
            .into_iter()
            .filter(|j| *j != job)
            .map(|j| {
                let view = job_state(&j, all_state.clone());
                (j, view)
            })
            .collect();
        let stream_coverage = stream_coverage(&all_state);
        let state_base = job_state(&job, all_state);
        let request = Self::request(&tenant, &job, &quotas, opts.now_ms);
        Ok(PreparedRun {
            tenant,
            plugin,
            job,
            quotas,
            run_id,
            started,
            gateway,
            state_base,
            peer_state,
            request,
            stream_coverage,
        })
    }

    /// Calls the connector's `run` in a fresh sandbox over the job's state.
    async fn execute(&self, run: &PreparedRun, progress: Option<ProgressSink>) -> ExecutedRun {
        let allowed: BTreeSet<String> = run
            .plugin
            .manifest
            .kris
            .iter()
            .map(|k| k.slug.clone())
            .collect();
        let mut state = SandboxState::new(
            run.quotas,
            Some(run.gateway.clone()),
            allowed,
            run.state_base.clone(),
            progress,
        )
        .with_peer_state(run.peer_state.clone());
        let limits = CallLimits {
            cpu_ms: run.quotas.cpu_ms,
            wall_ms: run.quotas.wall_ms,
        };
        state.stream = Some(StreamAccess {
            store: self.store.clone(),
            tenant_id: run.tenant.id.clone(),
            coverage: run.stream_coverage,
            may_declare: run
                .plugin
                .manifest
                .job(&run.job)
                .is_some_and(|j| j.outputs.contains(&OutputKind::Event)),
        });
        let mut store = new_store(&self.engine, state, limits);
        let result = call_run(&run.plugin.pre, &mut store, limits, &run.request).await;
        let redact = |s: &str| run.gateway.redact_text(s);
        let quota = match &result {
            Err(CallFailure::Quota(q)) => Some(q.kind),
            _ => None,
        };
        let result = match result {
            Ok(Ok(summary)) => Ok(summary),
            Ok(Err(e)) => Err(redact(&e)),
            Err(CallFailure::Quota(q)) => Err(redact(&quota_stop(&q, &run.tenant.id))),
            Err(f) => Err(redact(&f.to_string())),
        };
        let data = store.into_data();
        ExecutedRun {
            result,
            buffers: data.buffers,
            gateway: run.gateway.stats(),
            quota,
            memory_peak: data.limiter.peak,
        }
    }

    /// The KRIs of a run, with their status against the tenant's thresholds. A KRI
    /// switched off for the tenant is neither stored nor shown, even if the
    /// connector computed it.
    async fn kri_outputs(
        &self,
        tenant: &Tenant,
        kris: Vec<KriValue>,
        redact: impl Fn(&str) -> String,
    ) -> Result<Vec<KriOutput>, StoreError> {
        let defs: HashMap<String, KriDefinitionRow> = self
            .store
            .definitions(&tenant.id)
            .await?
            .into_iter()
            .map(|d| (d.slug.clone(), d))
            .collect();
        let selected = |slug: &str| tenant.kris.is_empty() || tenant.kris.iter().any(|k| k == slug);
        Ok(kris
            .into_iter()
            .filter(|o| selected(&o.slug))
            .map(|o| {
                let value = if o.not_evaluated_reason.is_some() {
                    None
                } else {
                    o.value
                };
                let st = match defs.get(&o.slug) {
                    Some(d) => status(value, d.direction, d.warn, d.breach),
                    None => status(value, Direction::LowerIsBetter, None, None),
                };
                KriOutput {
                    slug: o.slug,
                    value,
                    numerator: o.numerator,
                    denominator: o.denominator,
                    status: st,
                    details: redact_json(&o.details, &redact),
                    reason: o.not_evaluated_reason.map(|r| redact(&r)),
                }
            })
            .collect())
    }

    /// Deletes the tenant's events older than its retention (the tenant's extra
    /// `event_retention_days`, else [`DEFAULT_EVENT_RETENTION_DAYS`]) before `now_ms`.
    /// Runs after each poll that streams events; a failure is logged, not the run's.
    async fn prune_events(&self, tenant: &Tenant, now_ms: i64) {
        let days = tenant
            .extra
            .get("event_retention_days")
            .and_then(serde_json::Value::as_i64)
            .filter(|d| *d > 0)
            .unwrap_or(DEFAULT_EVENT_RETENTION_DAYS);
        let before = now_ms.saturating_sub(days.saturating_mul(86_400_000));
        match self.store.prune_events(&tenant.id, before).await {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!(tenant = %tenant.id, pruned = n, days, "events past retention deleted")
            }
            Err(e) => tracing::warn!(tenant = %tenant.id, error = %e, "pruning old events failed"),
        }
    }

    /// Records the run: on success its outputs and the job's state changes in one
    /// transaction, on failure only the failure.
    async fn commit(
        &self,
        run: PreparedRun,
        executed: ExecutedRun,
    ) -> Result<RunOutcome, RunError> {
        let tenant_id = run.tenant.id.as_str();
        let connector = run.plugin.manifest.name.as_str();
        let gw = executed.gateway;
        let buffers = executed.buffers;
        let mut stats = RunStats {
            requests: gw.requests,
            responses_429: gw.responses_429,
            bytes: gw.bytes,
            rows_written: 0,
            rows_skipped: 0,
            note: None,
            stream: buffers.stream_poll,
        };
        let redact = |s: &str| run.gateway.redact_text(s);
        let mut emitted: BTreeMap<OutputKind, u64> = BTreeMap::new();
        for o in &buffers.outputs {
            *emitted.entry(o.kind()).or_default() += 1;
        }
        let mut outputs = Vec::new();
        let error = match executed.result {
            Ok(summary) => {
                stats.rows_skipped = summary.items_skipped;
                stats.note = (!summary.note.is_empty()).then(|| redact(&summary.note));
                let mut commit = RunCommit {
                    run_id: run.run_id,
                    tenant_id: tenant_id.to_string(),
                    connector: connector.to_string(),
                    ..RunCommit::default()
                };
                let mut kris = Vec::new();
                for o in buffers.outputs {
                    match o {
                        Output::Kri(k) => kris.push(k),
                        Output::Node(mut n) => {
                            n.properties = redact_json(&n.properties, redact);
                            commit.nodes.push(n);
                        }
                        Output::Edge(mut e) => {
                            e.properties = redact_json(&e.properties, redact);
                            commit.edges.push(e);
                        }
                        Output::Event(mut e) => {
                            e.raw = redact_json(&e.raw, redact);
                            commit.events.push(e);
                        }
                        Output::Alert(mut a) => {
                            a.details = redact_json(&a.details, redact);
                            commit.alerts.push(a);
                        }
                    }
                }
                outputs = self.kri_outputs(&run.tenant, kris, redact).await?;
                stats.rows_written = (outputs.len()
                    + commit.nodes.len()
                    + commit.edges.len()
                    + commit.events.len()
                    + commit.alerts.len()) as u64;
                commit.kris = outputs.clone();
                commit.state = buffers
                    .state_changes
                    .into_iter()
                    .map(|(k, v)| (stored_state_key(&run.job, &k), v))
                    .collect::<StateChanges>();
                commit.graph = buffers.graph;
                if let Some(c) = buffers.declared_coverage {
                    commit.state.insert(
                        STREAM_COVERAGE_KEY.to_string(),
                        Some(serde_json::to_vec(&c).unwrap_or_default()),
                    );
                }
                commit.stats = stats.clone();
                let streams_events = !commit.events.is_empty()
                    || run
                        .plugin
                        .manifest
                        .job(&run.job)
                        .is_some_and(|j| j.outputs.contains(&OutputKind::Event));
                if let Err(e) = self.store.commit_run(commit).await {
                    let msg = format!("could not commit the run: {e}");
                    self.store.fail_run(run.run_id, &msg, &stats).await?;
                    return Err(RunError::Store(e));
                }
                if streams_events {
                    self.prune_events(&run.tenant, run.request.now_ms).await;
                }
                None
            }
            Err(msg) => {
                self.store.fail_run(run.run_id, &msg, &stats).await?;
                Some(msg)
            }
        };
        Ok(RunOutcome {
            run_id: run.run_id,
            tenant: tenant_id.to_string(),
            connector: connector.to_string(),
            job: run.job,
            succeeded: error.is_none(),
            error,
            duration_ms: run.started.elapsed().as_millis() as u64,
            stats,
            outputs,
            emitted,
            logs: buffers.logs,
            retries_5xx: gw.retries_5xx,
            denied_requests: gw.denied,
            requests_by_bucket: gw.by_bucket,
            quota_exceeded: executed.quota,
            memory_peak_bytes: executed.memory_peak,
        })
    }

    /// Runs many tenants at once, at most `parallel` at a time, each run on its own
    /// task so guests use every core; results in input order. Each tenant runs the job
    /// `opts` names (`kris` when none).
    pub async fn run_many(
        self: &Arc<Self>,
        jobs: &[(String, String)],
        parallel: usize,
        opts: RunOptions,
    ) -> Vec<Result<RunOutcome, RunError>> {
        self.each_tenant_limited(jobs, parallel, move |host, connector, tenant| {
            let opts = opts.clone();
            async move { host.run(&connector, &tenant, opts).await }
        })
        .await
    }

    /// Runs every job of each tenant's connector, at most `parallel` tenants at a time:
    /// one tenant's jobs one after another in [`KriHost::job_order`] (`kris` last), so
    /// a tenant's KRIs see the other jobs' fresh results. A job that fails or cannot
    /// start does not stop the tenant's next ones. Per tenant (input order): its jobs'
    /// names and results in job order, or why its jobs could not be listed.
    pub async fn run_every_job_many(
        self: &Arc<Self>,
        tenants: &[(String, String)],
        parallel: usize,
        opts: RunOptions,
    ) -> Vec<Result<Vec<(String, Result<RunOutcome, RunError>)>, RunError>> {
        self.each_tenant_limited(tenants, parallel, move |host, connector, tenant| {
            let opts = opts.clone();
            async move {
                let mut outcomes = Vec::new();
                for job in host.job_order(&connector, &tenant).await? {
                    let opts = RunOptions {
                        job: Some(job.clone()),
                        ..opts.clone()
                    };
                    let outcome = host.run(&connector, &tenant, opts).await;
                    outcomes.push((job, outcome));
                }
                Ok(outcomes)
            }
        })
        .await
    }

    /// Calls `work` for each `(connector, tenant)` on its own task, at most `parallel`
    /// at a time; results in input order.
    async fn each_tenant_limited<T, F, Fut>(
        self: &Arc<Self>,
        tenants: &[(String, String)],
        parallel: usize,
        work: F,
    ) -> Vec<Result<T, RunError>>
    where
        T: Send + 'static,
        F: Fn(Arc<Self>, String, String) -> Fut,
        Fut: std::future::Future<Output = Result<T, RunError>> + Send + 'static,
    {
        let permits = Arc::new(tokio::sync::Semaphore::new(parallel.max(1)));
        let mut tasks = Vec::with_capacity(tenants.len());
        for (connector, tenant) in tenants {
            let permits = permits.clone();
            let job = work(self.clone(), connector.clone(), tenant.clone());
            tasks.push(tokio::spawn(async move {
                let _permit = permits
                    .acquire_owned()
                    .await
                    .map_err(|_| RunError::Other("the run queue was closed".into()))?;
                job.await
            }));
        }
        let mut results = Vec::with_capacity(tasks.len());
        for task in tasks {
            results.push(match task.await {
                Ok(r) => r,
                Err(e) => Err(RunError::Other(format!("the run's task failed: {e}"))),
            });
        }
        results
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_job_sees_only_its_own_state() {
        let stored: BTreeMap<String, Vec<u8>> = [
            ("cursor", "k"),
            ("job:inventory/cursor", "i"),
            ("job:logs/cursor", "l"),
            ("job:inventory-old/x", "o"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
        .collect();
        let view = |job: &str| -> Vec<(String, Vec<u8>)> {
            job_state(job, stored.clone()).into_iter().collect()
        };
        assert_eq!(view("kris"), vec![("cursor".into(), b"k".to_vec())]);
        assert_eq!(view("inventory"), vec![("cursor".into(), b"i".to_vec())]);
        assert_eq!(view("logs"), vec![("cursor".into(), b"l".to_vec())]);
        assert_eq!(view("other"), vec![]);
        for job in ["kris", "inventory", "logs"] {
            let key = stored_state_key(job, "cursor");
            assert_eq!(
                job_state(job, stored.clone()).get("cursor"),
                stored.get(&key)
            );
        }
    }

    #[test]
    fn a_size_quota_stop_says_how_to_raise_it() {
        let q = QuotaExceeded::new(QuotaKind::MemoryBytes, 1 << 28, 1 << 29);
        let text = quota_stop(&q, "acme");
        assert!(
            text.starts_with("quota exceeded: memory_bytes (limit 268435456); "),
            "{text}"
        );
        assert!(
            text.ends_with("`kri tenant update acme --quota memory_bytes=536870912`"),
            "{text}"
        );
        // One allocation past twice the limit: at least what the guest asked for.
        let q = QuotaExceeded::new(QuotaKind::MemoryBytes, 1 << 28, 600 << 20);
        assert!(
            quota_stop(&q, "acme").ends_with("memory_bytes=629145600`"),
            "{}",
            quota_stop(&q, "acme")
        );
        // Never past what a 32-bit guest can address.
        let q = QuotaExceeded::new(QuotaKind::MemoryBytes, 3 << 30, 3 << 30);
        assert!(quota_stop(&q, "acme").ends_with("memory_bytes=4294967296`"));
        // A log flood is the connector's fault, not the tenant's size.
        let q = QuotaExceeded::new(QuotaKind::LogBytes, 10_000, 10_001);
        assert_eq!(quota_stop(&q, "acme"), q.to_string());
    }

    #[test]
    fn a_wall_ms_stop_says_how_to_go_on() {
        let q = QuotaExceeded::new(QuotaKind::WallMs, 600_000, 600_000);
        let text = quota_stop(&q, "acme");
        assert!(
            text.starts_with("quota exceeded: wall_ms (limit 600000); "),
            "{text}"
        );
        assert!(text.contains("the next run"), "{text}");
        assert!(
            text.ends_with("`kri tenant update acme --quota wall_ms=1200000`"),
            "{text}"
        );
    }

    #[test]
    fn the_time_budget_leaves_a_margin() {
        assert_eq!(time_budget_ms(600_000), 540_000);
        assert_eq!(time_budget_ms(5_000), 4_000);
        assert_eq!(time_budget_ms(3_600_000), 3_540_000);
        assert_eq!(time_budget_ms(500), 0);
    }
}
