//! The Okta connector of kri: a WebAssembly component (world `kri:connector/connector`)
//! that computes Okta identity KRIs. The logic (API client, collection, KRI formulas)
//! lives in plain Rust modules over host traits so it builds and is tested natively; the
//! component glue below, compiled for wasm32 with the default `component` feature only,
//! just adapts the generated WIT types. Without that feature (`default-features = false`)
//! the crate is a plain library another component can use without exporting this world.

pub mod api;
pub mod bench;
pub mod collect;
pub mod config;
pub mod connector;
pub mod detect;
pub mod kris;
pub mod store;
pub mod testing;
pub mod time;
pub mod types;

#[cfg(all(target_arch = "wasm32", feature = "component"))]
mod component {
    //! Thin adapters between the wit-bindgen types and the crate's plain traits.

    wit_bindgen::generate!({ path: "../wit", world: "connector" });

    use crate::api as a;
    use crate::types as t;
    use kri::connector::types as w;
    use kri::connector::{http, log, output, state};

    struct HostHttp;

    fn method(m: a::Method) -> http::Method {
        match m {
            a::Method::Get => http::Method::Get,
            a::Method::Head => http::Method::Head,
            a::Method::Post => http::Method::Post,
            a::Method::Put => http::Method::Put,
            a::Method::Patch => http::Method::Patch,
            a::Method::Delete => http::Method::Delete,
        }
    }

    fn request(r: a::Request) -> http::Request {
        http::Request {
            method: method(r.method),
            url: r.url,
            headers: r
                .headers
                .into_iter()
                .map(|h| http::Header {
                    name: h.name,
                    value: h.value,
                })
                .collect(),
            body: r.body,
        }
    }

    fn response(r: Result<http::Response, http::HttpError>) -> Result<a::Response, a::HttpError> {
        match r {
            Ok(r) => Ok(a::Response {
                status: r.status,
                headers: r
                    .headers
                    .into_iter()
                    .map(|h| a::Header {
                        name: h.name,
                        value: h.value,
                    })
                    .collect(),
                body: r.body,
            }),
            Err(http::HttpError::Denied(m)) => Err(a::HttpError::Denied(m)),
            Err(http::HttpError::QuotaExceeded(m)) => Err(a::HttpError::QuotaExceeded(m)),
            Err(http::HttpError::Timeout(m)) => Err(a::HttpError::Timeout(m)),
            Err(http::HttpError::Transport(m)) => Err(a::HttpError::Transport(m)),
        }
    }

    impl a::Transport for HostHttp {
        fn send(&mut self, req: a::Request) -> Result<a::Response, a::HttpError> {
            response(http::send(&request(req)))
        }
        fn send_all(&mut self, reqs: Vec<a::Request>) -> Vec<Result<a::Response, a::HttpError>> {
            let reqs: Vec<http::Request> = reqs.into_iter().map(request).collect();
            http::send_all(&reqs).into_iter().map(response).collect()
        }
    }

    struct HostState;

    impl t::StateStore for HostState {
        fn get(&mut self, key: &str) -> Option<Vec<u8>> {
            state::get(key)
        }
        fn set(&mut self, key: &str, value: &[u8]) -> Result<(), String> {
            state::set(key, value)
        }
        fn delete(&mut self, key: &str) {
            state::delete(key)
        }
        fn list_keys(&mut self, prefix: &str) -> Vec<String> {
            state::list_keys(prefix)
        }
    }

    struct HostOutput;

    impl t::Output for HostOutput {
        fn emit_kri(&mut self, v: t::KriValue) -> Result<(), String> {
            output::emit_kri(&w::KriValue {
                slug: v.slug,
                value: v.value,
                numerator: v.numerator,
                denominator: v.denominator,
                details: v.details,
                not_evaluated_reason: v.not_evaluated_reason,
            })
        }
    }

    struct HostLog;

    impl t::Logger for HostLog {
        fn log(&mut self, level: t::Level, message: &str) {
            let level = match level {
                t::Level::Trace => log::Level::Trace,
                t::Level::Debug => log::Level::Debug,
                t::Level::Info => log::Level::Info,
                t::Level::Warn => log::Level::Warn,
                t::Level::Error => log::Level::Error,
            };
            log::log(level, message)
        }
        fn progress(&mut self, stage: &str, done: u64, total: Option<u64>) {
            log::progress(stage, done, total)
        }
    }

    fn run_request(r: w::RunRequest) -> t::RunRequest {
        t::RunRequest {
            now_ms: r.now_ms,
            kris: r.kris,
            extra_config: r.extra_config,
        }
    }

    fn error(e: t::ConnectorError) -> w::ConnectorError {
        match e {
            t::ConnectorError::Unauthorized(m) => w::ConnectorError::Unauthorized(m),
            t::ConnectorError::Forbidden(m) => w::ConnectorError::Forbidden(m),
            t::ConnectorError::MalformedResponse(m) => w::ConnectorError::MalformedResponse(m),
            t::ConnectorError::Upstream(m) => w::ConnectorError::Upstream(m),
            t::ConnectorError::InvalidConfig(m) => w::ConnectorError::InvalidConfig(m),
            t::ConnectorError::HostLimit(m) => w::ConnectorError::HostLimit(m),
            t::ConnectorError::Other(m) => w::ConnectorError::Other(m),
        }
    }

    fn with_host<R>(f: impl FnOnce(&mut crate::connector::Host<'_>) -> R) -> R {
        let (mut h, mut s, mut o, mut l) = (HostHttp, HostState, HostOutput, HostLog);
        let mut host = crate::connector::Host {
            http: &mut h,
            state: &mut s,
            output: &mut o,
            log: &mut l,
        };
        f(&mut host)
    }

    struct Component;

    impl Guest for Component {
        fn describe() -> w::Manifest {
            let m = crate::connector::describe();
            w::Manifest {
                name: m.name,
                version: m.version,
                description: m.description,
                kris: m
                    .kris
                    .into_iter()
                    .map(|k| w::KriDefinition {
                        slug: k.slug,
                        name: k.name,
                        description: k.description,
                        unit: k.unit,
                        direction: match k.direction {
                            t::Direction::HigherIsBetter => w::Direction::HigherIsBetter,
                            t::Direction::LowerIsBetter => w::Direction::LowerIsBetter,
                        },
                        warn_threshold: k.warn_threshold,
                        breach_threshold: k.breach_threshold,
                    })
                    .collect(),
                auth_scheme: m.auth_scheme,
                config_schema: m.config_schema,
                default_schedule: m.default_schedule,
            }
        }

        fn check(req: w::RunRequest) -> Result<(), w::ConnectorError> {
            let req = run_request(req);
            with_host(|h| crate::connector::check(h, &req)).map_err(error)
        }

        fn run(req: w::RunRequest) -> Result<w::RunSummary, w::ConnectorError> {
            let req = run_request(req);
            with_host(|h| crate::connector::run(h, &req))
                .map(|s| w::RunSummary {
                    items_read: s.items_read,
                    items_skipped: s.items_skipped,
                    note: s.note,
                })
                .map_err(error)
        }
    }

    export!(Component);
}
