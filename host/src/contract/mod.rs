//! The connector contract, one module per version (like Zed's `since_v0_X_Y.rs`):
//! [`v0_1_0`] and [`v0_2_0`] each hold their own `bindgen!` of `wit/<version>/` and
//! convert those bindings into the host's own types: the ones here ([`Manifest`],
//! [`JobSpec`], [`RunRequest`], [`RunSummary`]) and those of `model.rs`. Past this
//! module nothing knows which version a connector speaks.
//!
//! A component is tried as the newest version first; the export signatures tell
//! the versions apart. A 0.1.0 component is presented as one job, `kris`, with the
//! Okta rate-limit profile it implied.

/// What did not change between contract versions, written once and expanded in each
/// version's module over its own bindings: the `http`, `state` and `log` imports,
/// the connector error's text, and calling `describe`, `check` and `run` (each
/// module supplies `manifest` and `request`, its conversions of those two).
macro_rules! same_in_every_version {
    () => {
        fn error_text(e: types::ConnectorError) -> String {
            use types::ConnectorError as E;
            match e {
                E::Unauthorized(m) => format!("unauthorized: {m}"),
                E::Forbidden(m) => format!("forbidden: {m}"),
                E::MalformedResponse(m) => format!("malformed response: {m}"),
                E::Upstream(m) => format!("upstream error: {m}"),
                E::InvalidConfig(m) => format!("invalid config: {m}"),
                E::HostLimit(m) => format!("host limit: {m}"),
                E::Other(m) => m,
            }
        }

        pub async fn describe(
            pre: &ConnectorPre<SandboxState>,
            store: &mut Store<SandboxState>,
        ) -> wasmtime::Result<Result<super::Manifest, PluginError>> {
            let instance = pre.instantiate_async(&mut *store).await?;
            Ok(manifest(instance.call_describe(&mut *store).await?))
        }

        pub async fn check(
            pre: &ConnectorPre<SandboxState>,
            store: &mut Store<SandboxState>,
            req: &super::RunRequest,
        ) -> wasmtime::Result<Result<(), String>> {
            let instance = pre.instantiate_async(&mut *store).await?;
            let r = instance.call_check(&mut *store, &request(req)).await?;
            Ok(r.map_err(error_text))
        }

        pub async fn run(
            pre: &ConnectorPre<SandboxState>,
            store: &mut Store<SandboxState>,
            req: &super::RunRequest,
        ) -> wasmtime::Result<Result<super::RunSummary, String>> {
            let instance = pre.instantiate_async(&mut *store).await?;
            let r = instance.call_run(&mut *store, &request(req)).await?;
            Ok(r.map(|s| super::RunSummary {
                items_read: s.items_read,
                items_skipped: s.items_skipped,
                note: s.note,
            })
            .map_err(error_text))
        }

        fn outbound(req: http::Request) -> OutboundRequest {
            let method = match req.method {
                http::Method::Get => "GET",
                http::Method::Head => "HEAD",
                http::Method::Post => "POST",
                http::Method::Put => "PUT",
                http::Method::Patch => "PATCH",
                http::Method::Delete => "DELETE",
            };
            OutboundRequest {
                method: method.to_string(),
                url: req.url,
                headers: req.headers.into_iter().map(|h| (h.name, h.value)).collect(),
                body: req.body,
            }
        }

        fn inbound(
            r: Result<InboundResponse, GuestHttpError>,
        ) -> Result<http::Response, http::HttpError> {
            match r {
                Ok(resp) => Ok(http::Response {
                    status: resp.status,
                    headers: resp
                        .headers
                        .into_iter()
                        .map(|(name, value)| http::Header { name, value })
                        .collect(),
                    body: resp.body,
                }),
                Err(GuestHttpError::Denied(m)) => Err(http::HttpError::Denied(m)),
                Err(GuestHttpError::QuotaExceeded(m)) => Err(http::HttpError::QuotaExceeded(m)),
                Err(GuestHttpError::Timeout(m)) => Err(http::HttpError::Timeout(m)),
                Err(GuestHttpError::Transport(m)) => Err(http::HttpError::Transport(m)),
            }
        }

        impl types::Host for SandboxState {}

        impl http::Host for SandboxState {
            async fn send(
                &mut self,
                req: http::Request,
            ) -> wasmtime::Result<Result<http::Response, http::HttpError>> {
                Ok(inbound(self.http_send(outbound(req)).await?))
            }

            async fn send_all(
                &mut self,
                reqs: Vec<http::Request>,
            ) -> wasmtime::Result<Vec<Result<http::Response, http::HttpError>>> {
                let reqs = reqs.into_iter().map(outbound).collect();
                Ok(self
                    .http_send_all(reqs)
                    .await?
                    .into_iter()
                    .map(inbound)
                    .collect())
            }
        }

        impl state::Host for SandboxState {
            async fn get(&mut self, key: String) -> wasmtime::Result<Option<Vec<u8>>> {
                Ok(self.state_get(&key))
            }
            async fn set(
                &mut self,
                key: String,
                value: Vec<u8>,
            ) -> wasmtime::Result<Result<(), String>> {
                self.state_set(key, value)
            }
            async fn delete(&mut self, key: String) -> wasmtime::Result<()> {
                self.state_delete(key);
                Ok(())
            }
            async fn list_keys(&mut self, prefix: String) -> wasmtime::Result<Vec<String>> {
                Ok(self.state_list_keys(&prefix))
            }
        }

        impl log::Host for SandboxState {
            async fn log(&mut self, level: log::Level, message: String) -> wasmtime::Result<()> {
                let level = match level {
                    log::Level::Trace => "trace",
                    log::Level::Debug => "debug",
                    log::Level::Info => "info",
                    log::Level::Warn => "warn",
                    log::Level::Error => "error",
                };
                SandboxState::log(self, level, message)
            }

            async fn progress(
                &mut self,
                stage: String,
                done: u64,
                total: Option<u64>,
            ) -> wasmtime::Result<()> {
                SandboxState::progress(self, stage, done, total);
                Ok(())
            }
        }
    };
}

pub mod v0_1_0;
pub mod v0_2_0;

use kri_policy::pacing::RateLimitProfile;
use serde::Serialize;
use wasmtime::component::InstancePre;
use wasmtime::Store;

use crate::error::PluginError;
use crate::model::{Direction, OutputKind};
use crate::sandbox::SandboxState;

/// The job every connector of 0.1.0 has, and the one `kri run-connector` runs last.
pub const KRIS_JOB: &str = "kris";

/// A KRI as the manifest defines it.
#[derive(Debug, Clone, Serialize)]
pub struct KriDefinition {
    pub slug: String,
    pub name: String,
    pub description: String,
    pub unit: String,
    #[serde(rename = "higher_is_better", serialize_with = "higher_is_better")]
    pub direction: Direction,
    pub warn: Option<f64>,
    pub breach: Option<f64>,
}

fn higher_is_better<S: serde::Serializer>(d: &Direction, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_bool(*d == Direction::HigherIsBetter)
}

/// One job a connector declares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobSpec {
    pub name: String,
    pub description: String,
    /// ISO-8601 duration, e.g. `PT30M`.
    pub default_schedule: String,
    pub outputs: Vec<OutputKind>,
}

/// OAuth client credentials as a connector declares them: where the token endpoint
/// is on the tenant's base URL, and the scopes its jobs need.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OAuthScheme {
    pub token_path: String,
    pub scopes: Vec<String>,
}

/// A connector's manifest, as the host keeps it.
#[derive(Debug, Clone, Serialize)]
pub struct Manifest {
    pub name: String,
    pub version: String,
    pub description: String,
    pub kris: Vec<KriDefinition>,
    /// The `Authorization` template of the token scheme, when the connector accepts
    /// static tokens.
    pub auth_scheme: Option<String>,
    /// The OAuth client-credentials scheme, when the connector accepts one.
    pub oauth: Option<OAuthScheme>,
    pub config_schema: serde_json::Value,
    /// The schedule of the `kris` job (or of the first job when there is none).
    pub default_schedule: String,
    pub jobs: Vec<JobSpec>,
    /// The contract version the component speaks, e.g. `0.2.0`.
    pub contract: &'static str,
    #[serde(skip)]
    pub rate_limit: RateLimitProfile,
}

impl Manifest {
    pub fn job(&self, name: &str) -> Option<&JobSpec> {
        self.jobs.iter().find(|j| j.name == name)
    }

    /// Job names in the order `kri run-connector` without `--job` runs them:
    /// manifest order, `kris` last.
    pub fn job_order(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .jobs
            .iter()
            .map(|j| j.name.clone())
            .filter(|n| n != KRIS_JOB)
            .collect();
        if self.job(KRIS_JOB).is_some() {
            names.push(KRIS_JOB.to_string());
        }
        names
    }

    /// The job a run without a named job performs: `kris`, else the first.
    pub fn default_job(&self) -> Option<&JobSpec> {
        self.job(KRIS_JOB).or_else(|| self.jobs.first())
    }
}

/// Parses a manifest's config schema (JSON text; empty means `{}`).
fn config_schema(text: &str) -> Result<serde_json::Value, PluginError> {
    if text.trim().is_empty() {
        return Ok(serde_json::json!({}));
    }
    serde_json::from_str(text)
        .map_err(|e| PluginError::BadManifest(format!("config-schema is not JSON: {e}")))
}

/// What the host asks a connector to do.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRequest {
    pub job: String,
    pub now_ms: i64,
    pub time_budget_ms: u64,
    pub kris: Vec<String>,
    pub extra_config: String,
}

/// What a finished run reports beside its outputs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RunSummary {
    pub items_read: u64,
    pub items_skipped: u64,
    pub note: String,
}

/// A connector error, described for people (`unauthorized: ...`).
pub type ConnectorErrorText = String;

/// A component ready to instantiate, with the contract version it speaks.
pub enum ConnectorPre {
    V0_1(v0_1_0::ConnectorPre<SandboxState>),
    V0_2(v0_2_0::ConnectorPre<SandboxState>),
}

impl ConnectorPre {
    /// Recognises the component's contract version by its exports, newest first.
    pub fn new(pre: InstancePre<SandboxState>) -> Result<ConnectorPre, String> {
        let newest = match v0_2_0::ConnectorPre::new(pre.clone()) {
            Ok(p) => return Ok(ConnectorPre::V0_2(p)),
            Err(e) => e,
        };
        v0_1_0::ConnectorPre::new(pre)
            .map(ConnectorPre::V0_1)
            .map_err(|oldest| {
                format!("not kri:connector@0.2.0 ({newest:#}) nor @0.1.0 ({oldest:#})")
            })
    }

    /// The contract version, e.g. `0.2.0`.
    pub fn version(&self) -> &'static str {
        match self {
            ConnectorPre::V0_1(_) => v0_1_0::VERSION,
            ConnectorPre::V0_2(_) => v0_2_0::VERSION,
        }
    }

    pub async fn describe(
        &self,
        store: &mut Store<SandboxState>,
    ) -> wasmtime::Result<Result<Manifest, PluginError>> {
        match self {
            ConnectorPre::V0_1(pre) => v0_1_0::describe(pre, store).await,
            ConnectorPre::V0_2(pre) => v0_2_0::describe(pre, store).await,
        }
    }

    pub async fn check(
        &self,
        store: &mut Store<SandboxState>,
        req: &RunRequest,
    ) -> wasmtime::Result<Result<(), ConnectorErrorText>> {
        match self {
            ConnectorPre::V0_1(pre) => v0_1_0::check(pre, store, req).await,
            ConnectorPre::V0_2(pre) => v0_2_0::check(pre, store, req).await,
        }
    }

    pub async fn run(
        &self,
        store: &mut Store<SandboxState>,
        req: &RunRequest,
    ) -> wasmtime::Result<Result<RunSummary, ConnectorErrorText>> {
        match self {
            ConnectorPre::V0_1(pre) => v0_1_0::run(pre, store, req).await,
            ConnectorPre::V0_2(pre) => v0_2_0::run(pre, store, req).await,
        }
    }
}

/// Adds every version's imports to the linker (the interface names carry the
/// version, so they live side by side).
pub fn add_to_linker(linker: &mut wasmtime::component::Linker<SandboxState>) -> anyhow::Result<()> {
    v0_1_0::add_to_linker(linker)?;
    v0_2_0::add_to_linker(linker)?;
    Ok(())
}
