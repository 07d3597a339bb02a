//! kri-host: runs security-data connectors as sandboxed WebAssembly components, one
//! sandbox per tenant, and keeps what they compute.
//!
//! - [`host::KriHost`] is the front door: tenants, runs, checks.
//! - [`plugins`] validates the plugin directory; [`engine`] compiles and caches
//!   components; [`runtime`] and [`sandbox`] call into a connector under quotas.
//! - [`contract`] has one module per contract version (`kri:connector@0.1.0`,
//!   `@0.2.0`), each converting its bindings into the host's own types.
//! - [`gateway`] is the only door out: every guest request passes the egress policy,
//!   gets the tenant's credential added, and is paced by [`pacer`]; [`oauth`] gets
//!   access tokens for tenants that sign in as OAuth service apps.
//! - [`store`] is the `Store` trait and its SQLite backend; [`secrets`] seals
//!   tokens at rest.
//! - [`trust`] records which plugin files the operator trusts (hashes, ed25519
//!   signatures).
//! - [`graph`] names the identity graph's node and edge kinds and derives access
//!   paths from them; [`graph_questions`] answers the everyday questions over them
//!   (what a user reaches, who reaches an app, admins, API tokens).
//! - [`query`] checks and rewrites the read-only SQL of `kri query`.
//! - [`kri_settings`]: a tenant's thresholds and KRI selection after setup.
//! - [`model`] holds the host's own types for outputs and runs.
//! - [`serve`] is `kri serve`: the scheduler, the HTTP API, metrics and plugin
//!   reloads; [`schedule`] its pure schedule arithmetic; [`views`] the JSON
//!   documents the CLI and the API share; [`serve_console`] serves the web
//!   console's embedded assets beside the API.
//!
//! The policy rules themselves (allowlists, IP checks, quotas, pacing, thresholds)
//! live in the pure `kri_policy` crate.

pub mod contract;
pub mod engine;
pub mod error;
pub mod gateway;
pub mod graph;
pub mod graph_questions;
pub mod host;
pub mod kri_settings;
pub mod model;
pub mod oauth;
pub mod pacer;
pub mod plugins;
pub mod query;
pub mod runtime;
pub mod sandbox;
pub mod schedule;
pub mod secrets;
pub mod serve;
pub mod serve_console;
pub mod store;
pub mod trust;
pub mod views;

pub use error::{PluginError, RunError, SecretError, StoreError};
pub use host::{CheckOutcome, HostConfig, KriHost, NewTenant, Rotation, RunOptions, RunOutcome};
pub use sandbox::{Progress, ProgressSink};
pub use secrets::{OAuthClientSecret, Token};
