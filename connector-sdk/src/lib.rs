//! kri-connector-sdk: everything a kri connector (a `kri:connector@0.2.0` component)
//! needs besides its own logic.
//!
//! - [`bindings`]: the contract's types, generated once from `wit/0.2.0`; the
//!   modules [`types`] and [`http`] re-export them, and they are the connector's
//!   types too (no mirror types).
//! - [`Host`]: the host's imports as traits ([`Transport`], [`StateStore`],
//!   [`OutputSink`], [`Logger`], [`StoredEvents`]), so connector logic runs natively over the fakes of
//!   [`fakes`] in unit tests and over the real imports inside the component.
//! - [`Connector`] and [`export_connector!`]: implement the trait, invoke the macro,
//!   and the crate is a component.
//! - [`graph`]: the coverage a run vouches for, so that the host removes what the
//!   upstream no longer has ([`OutputSink::complete_graph`]); [`StateStore::peer_get`]
//!   reads another job's state.
//! - Helpers: [`link`] and [`pages`] (Link pagination, and `_links.next` in the body), [`json`] (reading large JSON
//!   list pages without a `Value` tree), [`time`], and builders in [`manifest`] and
//!   [`outputs`].

// The generated export macro names this crate by its path, also from inside it.
extern crate self as kri_connector_sdk;

pub mod fakes;
pub mod json;
pub mod link;
pub mod pages;
pub mod time;

#[cfg(target_arch = "wasm32")]
mod imports;

/// Every connector's allocator inside wasm: talc instead of the standard library's
/// dlmalloc. A guest is single-threaded (no `atomics` target feature), which talc's
/// lock-free cell relies on. Parsing System Log pages allocates a few dozen small
/// strings and maps per event, and dlmalloc's `malloc` and `free` took about a fifth of
/// the log KRIs' time in wasm (a `KRI_WASM_PROFILE=perfmap` profile of
/// `kri-bench --only 5`).
#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

/// The generated bindings of the `connector` world of `kri:connector@0.2.0`.
#[allow(clippy::too_many_arguments)] // generated code
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit/0.2.0",
        world: "connector",
        additional_derives: [PartialEq],
        pub_export_macro: true,
        export_macro_name: "export_component",
        default_bindings_module: "kri_connector_sdk::bindings",
        runtime_path: "kri_connector_sdk::__wit_bindgen::rt",
    });
}

#[doc(hidden)]
pub use wit_bindgen as __wit_bindgen;

/// The contract's shared types (manifest, jobs, outputs, errors).
pub mod types {
    pub use crate::bindings::kri::connector::log::Level;
    pub use crate::bindings::kri::connector::types::*;
}

/// The contract's HTTP types.
pub mod http {
    pub use crate::bindings::kri::connector::http::{Header, HttpError, Method, Request, Response};
}

/// The identity graph's deletions (the `graph` import).
pub mod graph {
    pub use crate::bindings::kri::connector::graph::{Coverage, EdgeEnd};
}

use graph::Coverage;

/// The types of the `stored-events` import (the tenant's stored audit stream).
pub mod stored_events {
    pub use crate::bindings::kri::connector::stored_events::{
        EventPage, EventQuery, StreamCoverage, StreamPoll,
    };
}

use http::{HttpError, Request, Response};
use stored_events::{EventPage, EventQuery, StreamCoverage, StreamPoll};
use types::{ConnectorError, KriValue, Level, Manifest, Output, RunRequest, RunSummary};

/// The connector's only way out: the host's `http` import.
pub trait Transport {
    fn send(&mut self, req: Request) -> Result<Response, HttpError>;
    /// Results come back in the order of the requests.
    fn send_all(&mut self, reqs: Vec<Request>) -> Vec<Result<Response, HttpError>>;
}

/// The host's durable key-value state for this tenant, connector and job.
pub trait StateStore {
    fn get(&mut self, key: &str) -> Option<Vec<u8>>;
    fn set(&mut self, key: &str, value: &[u8]) -> Result<(), String>;
    fn delete(&mut self, key: &str);
    fn list_keys(&mut self, prefix: &str) -> Vec<String>;

    /// Another job's committed value of `key` (the `peer-state` import): read only.
    /// Hosts and fakes without it have none.
    fn peer_get(&mut self, _job: &str, _key: &str) -> Option<Vec<u8>> {
        None
    }
}

/// Where outputs go, in batches.
pub trait OutputSink {
    fn emit(&mut self, batch: Vec<Output>) -> Result<(), String>;

    /// Emits one KRI.
    fn emit_kri(&mut self, value: KriValue) -> Result<(), String> {
        self.emit(vec![Output::Kri(value)])
    }

    /// Vouches that the run emitted these parts of the graph whole: on commit, the
    /// host removes what they hold that the run did not emit (the `graph` import).
    fn complete_graph(&mut self, _parts: Vec<Coverage>) -> Result<(), String> {
        Err("this sink keeps no identity graph".into())
    }

    /// Removes a node, and its edges, on commit (the `graph` import).
    fn retract_node(&mut self, _id: &str) -> Result<(), String> {
        Err("this sink keeps no identity graph".into())
    }

    /// Removes one edge, `from` → `to` of `kind`, on commit unless the run emits it too
    /// (the `graph` import).
    fn retract_edge(&mut self, _from: &str, _to: &str, _kind: &str) -> Result<(), String> {
        Err("this sink keeps no identity graph".into())
    }
}

/// Diagnostics and progress for the operator.
pub trait Logger {
    fn log(&mut self, level: Level, message: &str);
    fn progress(&mut self, stage: &str, done: u64, total: Option<u64>);
}

/// The tenant's stored audit stream, read page by page, and how far it is complete.
pub trait StoredEvents {
    /// How far the stored stream is complete, as a job last declared it.
    fn coverage(&mut self) -> Option<StreamCoverage>;
    /// Declares how far the stored stream, with this run's events, is complete
    /// (committed with the run).
    fn declare_coverage(&mut self, coverage: StreamCoverage) -> Result<(), String>;
    /// One page of stored events, ascending by time then id.
    fn read_events(&mut self, query: &EventQuery) -> Result<EventPage, String>;
    /// Records what this poll of the upstream log read (pages, events, lag); the host
    /// keeps the last one with the run.
    fn record_poll(&mut self, poll: StreamPoll);
}

/// The host's imports, as trait objects.
pub struct Host<'a> {
    pub http: &'a mut dyn Transport,
    pub state: &'a mut dyn StateStore,
    pub output: &'a mut dyn OutputSink,
    pub log: &'a mut dyn Logger,
    pub events: &'a mut dyn StoredEvents,
}

/// A connector: its manifest and its two entry points.
pub trait Connector {
    /// The manifest; must be cheap and must not use the host.
    fn describe() -> Manifest;
    /// One cheap authenticated call to show that the tenant's settings work.
    fn check(host: &mut Host<'_>, req: &RunRequest) -> Result<(), ConnectorError>;
    /// One run of the job `req.job` names.
    fn run(host: &mut Host<'_>, req: &RunRequest) -> Result<RunSummary, ConnectorError>;
}

/// Runs `f` over the real host imports (inside the component only).
#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
pub fn with_imports<R>(f: impl FnOnce(&mut Host<'_>) -> R) -> R {
    imports::with_host(f)
}

/// Adapts a [`Connector`] to the generated `Guest` trait; see [`export_connector!`].
#[doc(hidden)]
pub struct Component<C>(std::marker::PhantomData<C>);

#[cfg(target_arch = "wasm32")]
impl<C: Connector> bindings::Guest for Component<C> {
    fn describe() -> Manifest {
        C::describe()
    }
    fn check(req: RunRequest) -> Result<(), ConnectorError> {
        with_imports(|h| C::check(h, &req))
    }
    fn run(req: RunRequest) -> Result<RunSummary, ConnectorError> {
        with_imports(|h| C::run(h, &req))
    }
}

/// Makes the crate a component that exports `$connector` (a [`Connector`]) as the
/// `kri:connector@0.2.0` world. Outside wasm32 it exports nothing (the crate still
/// builds natively for its tests) and only names the connector's entry points, so
/// they do not read as dead code.
#[macro_export]
macro_rules! export_connector {
    ($connector:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            type KriExportedComponent = $crate::Component<$connector>;
            $crate::bindings::export_component!(KriExportedComponent with_types_in $crate::bindings);
        };
        #[cfg(not(target_arch = "wasm32"))]
        const _: () = {
            let _ = (
                <$connector as $crate::Connector>::describe,
                <$connector as $crate::Connector>::check,
                <$connector as $crate::Connector>::run,
            );
        };
    };
}

/// Builders for the manifest parts most connectors share.
pub mod manifest {
    use crate::types::{
        AuthScheme, BucketScheme, ConcurrencySignal, Direction, Job, KriDefinition,
        OauthClientCredentials, OutputKind, RateLimitProfile, ResetFormat,
    };

    /// A KRI without default thresholds; its description is its name.
    pub fn kri(slug: &str, name: &str, unit: &str, direction: Direction) -> KriDefinition {
        KriDefinition {
            slug: slug.to_string(),
            name: name.to_string(),
            description: name.to_string(),
            unit: unit.to_string(),
            direction,
            warn_threshold: None,
            breach_threshold: None,
        }
    }

    /// A job with its name, description, ISO-8601 schedule and output kinds.
    pub fn job(name: &str, description: &str, schedule: &str, outputs: &[OutputKind]) -> Job {
        Job {
            name: name.to_string(),
            description: description.to_string(),
            default_schedule: schedule.to_string(),
            outputs: outputs.to_vec(),
        }
    }

    /// A static token sent as `template` with `{token}` replaced, e.g. `Bearer {token}`.
    pub fn token_auth(template: &str) -> Vec<AuthScheme> {
        vec![AuthScheme::Token(template.to_string())]
    }

    /// OAuth 2.0 client credentials: the host gets access tokens from `token_path`
    /// on the tenant's base URL with these scopes (the ones the connector's jobs
    /// need), and adds them to requests itself.
    pub fn oauth_client_credentials(token_path: &str, scopes: &[&str]) -> AuthScheme {
        AuthScheme::OauthClientCredentials(OauthClientCredentials {
            token_path: token_path.to_string(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
        })
    }

    /// An upstream without rate-limit headers: one bucket for everything, paced by
    /// concurrency only.
    pub fn no_rate_limit_headers() -> RateLimitProfile {
        RateLimitProfile {
            limit_header: String::new(),
            remaining_header: String::new(),
            reset_header: String::new(),
            reset_format: ResetFormat::EpochSeconds,
            buckets: BucketScheme::PerOrigin,
            concurrency: ConcurrencySignal::None,
        }
    }
}

/// Builders for the outputs most connectors emit.
pub mod outputs {
    use crate::types::{KriValue, Node, Output};

    /// A KRI value with no numerator, denominator or details.
    pub fn kri(slug: &str, value: f64) -> Output {
        Output::Kri(KriValue {
            slug: slug.to_string(),
            value: Some(value),
            numerator: None,
            denominator: None,
            details: "{}".to_string(),
            not_evaluated_reason: None,
        })
    }

    /// A graph node without sub-kind or labels.
    pub fn node(id: &str, kind: &str, name: &str, properties: serde_json::Value) -> Output {
        Output::Node(Node {
            id: id.to_string(),
            kind: kind.to_string(),
            sub_kind: String::new(),
            name: name.to_string(),
            labels: vec![],
            properties: properties.to_string(),
        })
    }
}
