//! Plain Rust mirrors of the WIT contract (`kri:connector@0.1.0`) and the host traits the
//! connector logic runs over. The wasm glue in `lib.rs` adapts the generated bindings to
//! these; native tests implement the traits with in-memory fakes.

use std::fmt;

/// Which way a KRI gets worse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    HigherIsBetter,
    LowerIsBetter,
}

/// One KRI the connector can compute.
#[derive(Debug, Clone, PartialEq)]
pub struct KriDefinition {
    pub slug: String,
    pub name: String,
    pub description: String,
    pub unit: String,
    pub direction: Direction,
    pub warn_threshold: Option<f64>,
    pub breach_threshold: Option<f64>,
}

/// What the connector says about itself.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    pub name: String,
    pub version: String,
    pub description: String,
    pub kris: Vec<KriDefinition>,
    pub auth_scheme: String,
    pub config_schema: String,
    pub default_schedule: String,
}

/// What the host asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRequest {
    pub now_ms: i64,
    pub kris: Vec<String>,
    pub extra_config: String,
}

/// One computed (or not computable) KRI.
#[derive(Debug, Clone, PartialEq)]
pub struct KriValue {
    pub slug: String,
    pub value: Option<f64>,
    pub numerator: Option<f64>,
    pub denominator: Option<f64>,
    /// A JSON object as text.
    pub details: String,
    pub not_evaluated_reason: Option<String>,
}

/// What a finished run reports.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RunSummary {
    pub items_read: u64,
    pub items_skipped: u64,
    pub note: String,
}

/// Why the connector gave up.
#[derive(Debug, Clone, PartialEq)]
pub enum ConnectorError {
    Unauthorized(String),
    Forbidden(String),
    MalformedResponse(String),
    Upstream(String),
    InvalidConfig(String),
    HostLimit(String),
    Other(String),
}

impl fmt::Display for ConnectorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (kind, msg) = match self {
            ConnectorError::Unauthorized(m) => ("unauthorized", m),
            ConnectorError::Forbidden(m) => ("forbidden", m),
            ConnectorError::MalformedResponse(m) => ("malformed response", m),
            ConnectorError::Upstream(m) => ("upstream", m),
            ConnectorError::InvalidConfig(m) => ("invalid config", m),
            ConnectorError::HostLimit(m) => ("host limit", m),
            ConnectorError::Other(m) => ("error", m),
        };
        write!(f, "{kind}: {msg}")
    }
}

impl std::error::Error for ConnectorError {}

/// Log levels of the host's `log` interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

/// The host's durable key-value state for this tenant and connector.
pub trait StateStore {
    fn get(&mut self, key: &str) -> Option<Vec<u8>>;
    fn set(&mut self, key: &str, value: &[u8]) -> Result<(), String>;
    fn delete(&mut self, key: &str);
    fn list_keys(&mut self, prefix: &str) -> Vec<String>;
}

/// Where computed KRIs go.
pub trait Output {
    fn emit_kri(&mut self, value: KriValue) -> Result<(), String>;
}

/// Diagnostics and progress for the operator.
pub trait Logger {
    fn log(&mut self, level: Level, message: &str);
    fn progress(&mut self, stage: &str, done: u64, total: Option<u64>);
}
