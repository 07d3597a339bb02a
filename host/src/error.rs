//! Error types of the host library that callers match on.

use std::path::PathBuf;

/// Errors from the store (SQLite or PostgreSQL) and the data directory.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot use data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database {path} was written by a newer kri (schema {found}, this build knows {known}); upgrade kri")]
    SchemaTooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error("{path} is not a kri database: {reason}")]
    NotKriDatabase { path: PathBuf, reason: String },
    #[error("the database is locked by another process ({path})")]
    Locked { path: PathBuf },
    #[error("tenant `{tenant}` is already running job `{job}` (run {run_id}, process {pid}); wait for it to finish, see `kri runs --tenant {tenant}`")]
    RunInProgress {
        tenant: String,
        job: String,
        run_id: i64,
        pid: i64,
    },
    #[error("unknown tenant `{0}`; see `kri tenant list`")]
    UnknownTenant(String),
    #[error("tenant `{0}` already exists; remove it first with `kri tenant remove {0}`")]
    TenantExists(String),
    #[error("the store's worker thread failed: {0}")]
    Worker(String),
    #[error("no alert with id {0}; see `kri alerts --tenant T`")]
    UnknownAlert(i64),
    #[error(transparent)]
    Query(#[from] crate::query::QueryError),
    #[error("tenants were added or removed while their secrets were being re-sealed; nothing was changed, run `kri secrets rotate` again")]
    SecretsChanged,
    #[error("PostgreSQL error: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    #[error("cannot reach PostgreSQL at {database}: {reason}; check --database (KRI_DATABASE_URL) and that the server runs")]
    PostgresUnreachable { database: String, reason: String },
    #[error("--database {0}: not a PostgreSQL URL; give postgres://USER[:PASSWORD]@HOST[:PORT]/DBNAME, or leave it out to use SQLite in --data-dir")]
    DatabaseUrl(String),
    #[error("PostgreSQL database {database} has no kri schema; add a tenant first (`kri tenant add`) or pass the right --database")]
    NoKriSchema { database: String },
    #[error("PostgreSQL database {database} was migrated by a newer kri (migration {found}, this build knows up to {known}); upgrade kri")]
    PostgresSchemaTooNew {
        database: String,
        found: i64,
        known: i64,
    },
    #[error("the store holds `{word}` in column {column}, which this kri does not know; the database was probably written by a newer kri: upgrade kri")]
    UnknownStoredWord { column: String, word: String },
    #[error("run {run_id} lost its lease (its heartbeat stopped for longer than the lease, and another process took the job over); its outputs were not committed, the next run does the work again")]
    LeaseLost { run_id: i64 },
}

/// Errors from encrypting or decrypting tenant secrets.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("KRI_ENCRYPTION_KEY must be 64 hex characters (32 bytes)")]
    BadEnvKey,
    #[error("environment variable {0} must hold a key of 64 hex characters (32 bytes)")]
    BadKeyVar(String),
    #[error("key file {path}: {reason}")]
    KeyFile { path: PathBuf, reason: String },
    #[error("key file {path} is missing, and the store holds secrets sealed with it (tenants {tenants}); restore that key file, or set {env} to the key that sealed them. kri creates a new key only for a store with no sealed secrets", env = crate::secrets::KEY_ENV)]
    KeyLost { path: PathBuf, tenants: String },
    #[error("the secret of tenant `{tenant}` was sealed with key {sealed_with}, but the key from {key_source} is {key_id}; restore the key file that sealed it, or set KRI_ENCRYPTION_KEY to that key")]
    WrongKey {
        tenant: String,
        sealed_with: String,
        key_id: String,
        key_source: String,
    },
    #[error("cannot decrypt the secret of tenant `{0}`: wrong encryption key or tampered data")]
    Decrypt(String),
    #[error("token is empty or contains control characters")]
    BadToken,
}

/// Why a plugin file was not loaded.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum PluginError {
    #[error("cannot read file: {0}")]
    Unreadable(String),
    #[error("file is {size} bytes, over the {max}-byte limit for a plugin; raise it with --max-plugin-bytes or KRI_MAX_PLUGIN_BYTES")]
    TooLarge { size: u64, max: u64 },
    #[error("not a WebAssembly file")]
    NotWasm,
    #[error("a core WebAssembly module, not a component: build it for wasm32-wasip2 (or wrap it with `wasm-tools component new`)")]
    CoreModule,
    #[error("invalid component: {0}")]
    Invalid(String),
    #[error("does not implement a kri:connector world this host speaks (0.2.0 or 0.1.0): {0}")]
    WrongWorld(String),
    #[error("describe() failed: {0}")]
    DescribeFailed(String),
    #[error("invalid manifest: {0}")]
    BadManifest(String),
    #[error("refused by --require-trusted: {0}")]
    Untrusted(String),
    #[error("duplicate connector name `{name}`: {second} and {first} both provide it; {first} (first by file name) is used, rename or remove one of them")]
    Duplicate {
        name: String,
        first: String,
        second: String,
    },
}

/// Why a run (or a check) failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("unknown connector `{name}`; available: {available}")]
    UnknownConnector { name: String, available: String },
    #[error("tenant `{tenant}` uses connector `{actual}`, not `{requested}`")]
    WrongConnector {
        tenant: String,
        requested: String,
        actual: String,
    },
    #[error("connector `{connector}` has no job `{job}`; its jobs: {known}")]
    UnknownJob {
        connector: String,
        job: String,
        known: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// The tenant's OAuth client got no access token (the message says what to fix).
    #[error("{0}")]
    Auth(String),
    #[error("{0}")]
    Other(String),
}
