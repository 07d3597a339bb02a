//! The HTTP server: SSWS or OAuth access-token authentication (and the OAuth token
//! endpoint), per-family fixed-window rate limits and a
//! concurrency limit with Okta's `X-Rate-Limit-*` headers, fault injection, latency,
//! routing of the simulated endpoints, Link-header pagination and Okta error bodies.
//!
//! It binds to 127.0.0.1 only and runs in a tokio task; many servers can share one
//! process (benchmarks run hundreds of orgs at once).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use anyhow::Context;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::Response;
use axum::serve::ListenerExt;
use axum::Router;
use serde::Serialize;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::{Family, FaultConfig, SimConfig};
use crate::ids::{error_id, hex_request_id, mix64};
use crate::live::{LiveLog, LiveLogSpec};
use crate::model::{EventKind, Org, UserStatus};
use crate::query::{filter_values, parse_limit, BadQuery, Query};
use crate::render::Renderer;
use crate::time::{parse_iso, wall_clock_ms, DAY_MS};

/// Request counters of one server.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SimStats {
    /// Every request received, whatever its answer.
    pub total_requests: u64,
    /// Requests per endpoint family (paths outside the API are not counted here).
    pub by_family: BTreeMap<Family, u64>,
    /// 429s because a family's budget in the window was spent.
    pub rate_limited: u64,
    /// 429s because too many requests were in flight.
    pub concurrency_limited: u64,
    /// All 429s (`rate_limited + concurrency_limited`).
    pub too_many_requests: u64,
    /// 401s (missing or wrong token).
    pub unauthorized: u64,
    /// OAuth access tokens issued.
    pub tokens_issued: u64,
    /// Token requests refused (any OAuth error, `use_dpop_nonce` included).
    pub token_refusals: u64,
    /// 403s (injected `forbidden` faults, or an access token without the scope).
    pub forbidden: u64,
    /// 5xx answers (injected `server_errors` faults).
    pub server_errors: u64,
    /// 404s.
    pub not_found: u64,
    /// 200s with a deliberately truncated body.
    pub malformed: u64,
    /// The most requests in flight at once (requests refused for concurrency excluded).
    pub max_in_flight: u32,
}

#[derive(Debug, Clone, Copy, Default)]
struct Window {
    index: u64,
    used: u32,
}

struct Shared {
    org: Arc<RwLock<Org>>,
    expected_auth: String,
    config: SimConfig,
    faults: Mutex<FaultConfig>,
    windows: Mutex<[Window; Family::ALL.len()]>,
    stats: Mutex<SimStats>,
    in_flight: AtomicU32,
    counter: AtomicU64,
    base_url: String,
    id_salt: u64,
    /// When set, `/api/v1/logs` serves this live log instead of the org's events.
    live: Option<Mutex<LiveLog>>,
    auth_server: Option<crate::oauth::AuthServer>,
}

/// A running simulator: one org on one loopback port.
pub struct SimServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown_tx: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl SimServer {
    /// Binds `127.0.0.1:port` (0 = any free port) and serves `org` in a tokio task.
    pub async fn start(org: Org, config: SimConfig, port: u16) -> anyhow::Result<SimServer> {
        SimServer::start_with(org, config, None, port).await
    }

    /// Like [`SimServer::start`], with `/api/v1/logs` serving a live System Log
    /// ([`LiveLog`]) whose clock starts now.
    pub async fn start_live(
        org: Org,
        config: SimConfig,
        live: LiveLogSpec,
        port: u16,
    ) -> anyhow::Result<SimServer> {
        SimServer::start_with(org, config, Some(LiveLog::new(live)), port).await
    }

    async fn start_with(
        org: Org,
        config: SimConfig,
        live: Option<LiveLog>,
        port: u16,
    ) -> anyhow::Result<SimServer> {
        let listener = tokio::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, port))
            .await
            .with_context(|| format!("binding 127.0.0.1:{port}"))?;
        let addr = listener.local_addr().context("reading the bound address")?;
        let base_url = format!("http://127.0.0.1:{}", addr.port());
        let auth_server = config
            .oauth
            .clone()
            .map(|app| crate::oauth::AuthServer::new(app, &base_url));
        let shared = Arc::new(Shared {
            id_salt: mix64(org.seed ^ u64::from(addr.port())),
            org: Arc::new(RwLock::new(org)),
            expected_auth: format!("SSWS {}", config.token),
            faults: Mutex::new(config.faults.clone()),
            config,
            windows: Mutex::new([Window::default(); Family::ALL.len()]),
            stats: Mutex::new(SimStats::default()),
            in_flight: AtomicU32::new(0),
            counter: AtomicU64::new(0),
            auth_server,
            base_url,
            live: live.map(Mutex::new),
        });
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let listener = listener.tap_io(|tcp| {
            // Latency matters more than throughput for small JSON answers.
            let _ = tcp.set_nodelay(true);
        });
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let server = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = rx.await;
            });
            if let Err(e) = server.await {
                eprintln!("okta-sim: server error: {e}");
            }
        });
        Ok(SimServer {
            addr,
            shared,
            shutdown_tx: Some(tx),
            task: Some(task),
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// A snapshot of the request counters.
    pub fn stats(&self) -> SimStats {
        lock(&self.shared.stats).clone()
    }

    /// The served org; tests mutate it between runs (e.g. `advance`).
    pub fn org(&self) -> Arc<RwLock<Org>> {
        self.shared.org.clone()
    }

    /// Runs `f` over the live log caught up with its clock; `None` without one.
    pub fn live_log<R>(&self, f: impl FnOnce(&LiveLog) -> R) -> Option<R> {
        self.shared.live.as_ref().map(|live| {
            let mut live = lock(live);
            live.catch_up();
            f(&live)
        })
    }

    /// Every OAuth access token issued so far (empty without an OAuth app).
    pub fn oauth_tokens(&self) -> Vec<String> {
        self.shared
            .auth_server
            .as_ref()
            .map(|a| a.issued_tokens())
            .unwrap_or_default()
    }

    /// Replaces the injected faults while running.
    pub fn set_faults(&self, faults: FaultConfig) {
        *lock(&self.shared.faults) = faults;
    }

    /// Stops accepting, lets in-flight requests finish (up to 5 s), and stops the task.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown_tx.take() {
            let _ = tx.send(());
        }
        if let Some(mut task) = self.task.take() {
            if tokio::time::timeout(Duration::from_secs(5), &mut task)
                .await
                .is_err()
            {
                task.abort();
            }
        }
    }
}

impl Drop for SimServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown_tx.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Decrements the in-flight counter when a request finishes, however it finishes.
struct InFlight<'a>(&'a AtomicU32);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The rate-limit headers of one answer.
#[derive(Debug, Clone, Copy)]
struct RateHeaders {
    limit: u32,
    remaining: u32,
    reset_secs: i64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ErrorCause {
    error_summary: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ErrorBody {
    error_code: &'static str,
    error_summary: String,
    error_link: &'static str,
    error_id: String,
    error_causes: Vec<ErrorCause>,
}

/// An Okta error answer.
struct ApiError {
    status: StatusCode,
    code: &'static str,
    summary: String,
    causes: Vec<String>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, summary: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            summary: summary.into(),
            causes: Vec::new(),
        }
    }

    fn not_found(what: &str, kind: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "E0000007",
            format!("Not found: Resource not found: {what} ({kind})"),
        )
    }

    fn bad_query(bad: BadQuery) -> Self {
        let (code, summary) = if bad.param == "filter" {
            ("E0000031", "Invalid search criteria.".to_string())
        } else {
            ("E0000001", format!("Api validation failed: {}", bad.param))
        };
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code,
            summary,
            causes: vec![bad.detail],
        }
    }

    fn body(&self, id_seed: u64) -> Vec<u8> {
        let body = ErrorBody {
            error_code: self.code,
            error_summary: self.summary.clone(),
            error_link: self.code,
            error_id: error_id(id_seed),
            error_causes: self
                .causes
                .iter()
                .map(|c| ErrorCause {
                    error_summary: c.clone(),
                })
                .collect(),
        };
        serde_json::to_vec(&body).expect("serialising an error body cannot fail")
    }
}

/// A successful answer: body and `link` header values.
struct Page {
    body: Vec<u8>,
    links: Vec<String>,
}

impl Shared {
    /// Takes one request from `family`'s window; `Err` carries the 429 headers.
    fn take_budget(&self, family: Family) -> Result<RateHeaders, RateHeaders> {
        let rl = &self.config.rate_limits;
        let window_ms = rl.window_ms.max(1);
        let now = wall_clock_ms().max(0) as u64;
        let index = now / window_ms;
        let end_ms = (index + 1) * window_ms;
        let reset_secs = end_ms.div_ceil(1000) as i64;
        let limit = rl.limit(family);
        let mut windows = lock(&self.windows);
        let w = &mut windows[family as usize];
        if w.index != index {
            *w = Window { index, used: 0 };
        }
        if rl.enabled && w.used >= limit {
            return Err(RateHeaders {
                limit,
                remaining: 0,
                reset_secs,
            });
        }
        w.used = w.used.saturating_add(1);
        Ok(RateHeaders {
            limit,
            remaining: limit.saturating_sub(w.used),
            reset_secs,
        })
    }

    fn latency(&self, seq: u64) -> Duration {
        let base = self.config.latency_ms;
        let jitter = self.config.latency_jitter_ms;
        if base == 0 && jitter == 0 {
            return Duration::ZERO;
        }
        let spread = mix64(seq ^ self.id_salt) % (2 * jitter + 1);
        let ms = (base + spread).saturating_sub(jitter);
        Duration::from_millis(ms)
    }
}

fn respond(
    shared: &Shared,
    seq: u64,
    status: StatusCode,
    body: Vec<u8>,
    rate: Option<RateHeaders>,
    links: &[String],
) -> Response {
    let mut builder = Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::DATE, httpdate::fmt_http_date(SystemTime::now()))
        .header("x-okta-request-id", hex_request_id(seq ^ shared.id_salt));
    if let Some(r) = rate {
        builder = builder
            .header("x-rate-limit-limit", r.limit)
            .header("x-rate-limit-remaining", r.remaining)
            .header("x-rate-limit-reset", r.reset_secs);
    }
    for link in links {
        if let Ok(v) = HeaderValue::from_str(link) {
            builder = builder.header(header::LINK, v);
        }
    }
    builder.body(Body::from(body)).unwrap_or_else(|_| {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        r
    })
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let seq = shared.counter.fetch_add(1, Ordering::Relaxed);
    let path = request.uri().path().to_string();
    let raw_query = request.uri().query().map(str::to_string);
    let family = Family::of_path(&path);
    {
        let mut stats = lock(&shared.stats);
        stats.total_requests += 1;
        if let Some(f) = family {
            *stats.by_family.entry(f).or_default() += 1;
        }
    }
    if path == crate::oauth::TOKEN_PATH {
        return token_endpoint(&shared, seq, request).await;
    }
    let error = |err: ApiError, rate: Option<RateHeaders>| {
        respond(
            &shared,
            seq,
            err.status,
            err.body(seq ^ shared.id_salt),
            rate,
            &[],
        )
    };

    // Concurrency: counted from arrival to answer, latency included.
    let in_flight = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    let _guard = InFlight(&shared.in_flight);
    let rl = &shared.config.rate_limits;
    if rl.enabled && in_flight > rl.concurrency {
        {
            let mut stats = lock(&shared.stats);
            stats.concurrency_limited += 1;
            stats.too_many_requests += 1;
        }
        let reset = wall_clock_ms().div_euclid(1000) + 1;
        let headers = RateHeaders {
            limit: 0,
            remaining: 0,
            reset_secs: reset,
        };
        let err = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "E0000047",
            "API call exceeded rate limit due to too many requests.",
        );
        return error(err, Some(headers));
    }
    {
        let mut stats = lock(&shared.stats);
        stats.max_in_flight = stats.max_in_flight.max(in_flight);
    }

    let delay = shared.latency(seq);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }

    let rate = match family.map(|f| shared.take_budget(f)) {
        None => None,
        Some(Ok(headers)) => Some(headers),
        Some(Err(headers)) => {
            {
                let mut stats = lock(&shared.stats);
                stats.rate_limited += 1;
                stats.too_many_requests += 1;
            }
            let err = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "E0000047",
                "API call exceeded rate limit due to too many requests.",
            );
            return error(err, Some(headers));
        }
    };

    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let oauth = shared
        .auth_server
        .as_ref()
        .zip(family)
        .and_then(|(server, f)| {
            let dpop = request.headers().get("dpop").and_then(|v| v.to_str().ok());
            let url = format!("{}{path}", shared.base_url);
            let scope = crate::oauth::scope_for(f);
            server.check_api(authorization, dpop, request.method().as_str(), &url, scope)
        });
    let refusal = match oauth {
        Some(Ok(())) => None,
        Some(Err(crate::oauth::TokenRefusal::Invalid(www))) => Some((
            StatusCode::UNAUTHORIZED,
            "E0000011",
            "Invalid token provided",
            Some(www),
        )),
        Some(Err(crate::oauth::TokenRefusal::InsufficientScope(www))) => Some((
            StatusCode::FORBIDDEN,
            "E0000006",
            "You do not have permission to perform the requested action",
            Some(www),
        )),
        None if authorization == shared.expected_auth => None,
        None => Some((
            StatusCode::UNAUTHORIZED,
            "E0000011",
            "Invalid token provided",
            None,
        )),
    };
    if let Some((status, code, summary, www)) = refusal {
        {
            let mut stats = lock(&shared.stats);
            if status == StatusCode::UNAUTHORIZED {
                stats.unauthorized += 1;
            } else {
                stats.forbidden += 1;
            }
        }
        let mut resp = error(ApiError::new(status, code, summary), rate);
        if let Some(v) = www.and_then(|w| HeaderValue::from_str(&w).ok()) {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        return resp;
    }

    if request.method() != Method::GET {
        let err = ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "E0000022",
            "The endpoint does not support the provided HTTP method",
        );
        return error(err, rate);
    }

    let mut malformed = false;
    if let Some(f) = family {
        let mut faults = lock(&shared.faults);
        if faults.forbidden.contains(&f) {
            drop(faults);
            lock(&shared.stats).forbidden += 1;
            let err = ApiError::new(
                StatusCode::FORBIDDEN,
                "E0000006",
                "You do not have permission to perform the requested action",
            );
            return error(err, rate);
        }
        if let Some(n) = faults.server_errors.get_mut(&f) {
            if *n > 0 {
                let remaining = *n;
                *n -= 1;
                if *n == 0 {
                    faults.server_errors.remove(&f);
                }
                drop(faults);
                lock(&shared.stats).server_errors += 1;
                let err = if remaining % 2 == 1 {
                    ApiError::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "E0000009",
                        "Internal Server Error",
                    )
                } else {
                    ApiError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "E0000010",
                        "Service is in read only mode",
                    )
                };
                return error(err, rate);
            }
        }
        malformed = faults.malformed.contains(&f);
    }

    let query = Query::parse(raw_query.as_deref());
    let live = shared
        .live
        .as_ref()
        .filter(|_| path.trim_end_matches('/') == "/api/v1/logs");
    let routed = if let Some(live) = live {
        let mut live = lock(live);
        live.catch_up();
        list_live_logs(&live, &shared.base_url, &path, raw_query.as_deref(), &query)
    } else {
        let org = shared
            .org
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let renderer = Renderer::new(&org, &shared.base_url);
        route(&renderer, &path, raw_query.as_deref(), &query)
    };
    match routed {
        Ok(mut page) => {
            if malformed {
                lock(&shared.stats).malformed += 1;
                let keep = (page.body.len() / 2).max(1);
                page.body.truncate(keep);
            }
            respond(&shared, seq, StatusCode::OK, page.body, rate, &page.links)
        }
        Err(err) => {
            if err.status == StatusCode::NOT_FOUND {
                lock(&shared.stats).not_found += 1;
            }
            error(err, rate)
        }
    }
}

/// `POST /oauth2/v1/token`: the OAuth app's token endpoint (404 without one).
async fn token_endpoint(shared: &Shared, seq: u64, request: Request) -> Response {
    let Some(server) = shared.auth_server.as_ref() else {
        let err = ApiError::not_found(crate::oauth::TOKEN_PATH, "path");
        return respond(
            shared,
            seq,
            err.status,
            err.body(seq ^ shared.id_salt),
            None,
            &[],
        );
    };
    if request.method() != Method::POST {
        let err = ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "E0000022",
            "The endpoint does not support the provided HTTP method",
        );
        return respond(
            shared,
            seq,
            err.status,
            err.body(seq ^ shared.id_salt),
            None,
            &[],
        );
    }
    let dpop = request
        .headers()
        .get("dpop")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = axum::body::to_bytes(request.into_body(), 64 * 1024)
        .await
        .unwrap_or_default();
    let form: std::collections::HashMap<String, String> = url::form_urlencoded::parse(&body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let answer = server.token(&form, dpop.as_deref());
    {
        let mut stats = lock(&shared.stats);
        if answer.status == 200 {
            stats.tokens_issued += 1;
        } else {
            stats.token_refusals += 1;
        }
    }
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_REQUEST);
    let mut resp = respond(
        shared,
        seq,
        status,
        answer.body.to_string().into_bytes(),
        None,
        &[],
    );
    if let Some(v) = answer
        .dpop_nonce
        .and_then(|n| HeaderValue::from_str(&n).ok())
    {
        resp.headers_mut().insert("dpop-nonce", v);
    }
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

fn self_link(base: &str, path: &str, raw_query: Option<&str>) -> String {
    match raw_query {
        Some(q) if !q.is_empty() => format!("<{base}{path}?{q}>; rel=\"self\""),
        _ => format!("<{base}{path}>; rel=\"self\""),
    }
}

fn next_link(base: &str, path: &str, query: &Query, limit: usize, after: &str) -> String {
    format!(
        "<{base}{path}?{}>; rel=\"next\"",
        query.with_cursor(limit, after)
    )
}

fn json_array<T>(
    items: impl Iterator<Item = T>,
    mut write: impl FnMut(&mut Vec<u8>, T),
) -> Vec<u8> {
    let mut out = Vec::with_capacity(4096);
    out.push(b'[');
    for (i, item) in items.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write(&mut out, item);
    }
    out.push(b']');
    out
}

fn values_array(values: Vec<serde_json::Value>) -> Vec<u8> {
    serde_json::to_vec(&values).expect("serialising values cannot fail")
}

fn route(
    r: &Renderer<'_>,
    path: &str,
    raw_query: Option<&str>,
    q: &Query,
) -> Result<Page, ApiError> {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    let base = r.base;
    let single = |body: Vec<u8>| Page {
        body,
        links: Vec::new(),
    };
    let self_only = |body: Vec<u8>| Page {
        body,
        links: vec![self_link(base, path, raw_query)],
    };
    match segments.as_slice() {
        ["api", "v1", "users"] => list_users(r, path, raw_query, q),
        ["api", "v1", "users", id, rest @ ..] => {
            // Okta also accepts the login (or its short form) in place of the id.
            let index = r
                .org
                .user_position(id)
                .or_else(|| {
                    let login = id.replace("%40", "@");
                    r.org.users.iter().position(|u| {
                        u.login.eq_ignore_ascii_case(&login)
                            || u.login
                                .split('@')
                                .next()
                                .is_some_and(|s| s.eq_ignore_ascii_case(&login))
                    })
                })
                .ok_or_else(|| ApiError::not_found(id, "User"))?;
            let user = &r.org.users[index];
            if let ["roles", role_id, "targets", kind @ ..] = rest {
                let held = r.org.held_roles(index as u32);
                let scope = held
                    .iter()
                    .find(|h| h.assignment_id == *role_id)
                    .map(|h| &h.scope)
                    .ok_or_else(|| ApiError::not_found(role_id, "Role"))?;
                return role_targets(r, path, raw_query, q, scope, kind);
            }
            let mut out = Vec::with_capacity(2048);
            match rest {
                [] => r.user(&mut out, user, true),
                ["factors"] => r.factors(&mut out, user),
                ["appLinks"] => r.app_links(&mut out, user),
                ["roles"] => r.roles(&mut out, index),
                _ => return Err(ApiError::not_found(path, "Path")),
            }
            Ok(single(out))
        }
        ["api", "v1", "apps"] => {
            let filter = match q.get("filter") {
                Some(f) => Some(filter_values(f, "status").map_err(ApiError::bad_query)?),
                None => None,
            };
            let items: Vec<usize> = (0..r.org.apps.len())
                .filter(|&i| {
                    let status = if r.org.apps[i].active {
                        "ACTIVE"
                    } else {
                        "INACTIVE"
                    };
                    filter
                        .as_ref()
                        .is_none_or(|f| f.iter().any(|s| s.eq_ignore_ascii_case(status)))
                })
                .collect();
            paginate_ids(
                r,
                path,
                raw_query,
                q,
                &items,
                200,
                200,
                |i| r.org.apps[i].id.as_str(),
                |i| r.app(&r.org.apps[i]),
            )
        }
        ["api", "v1", "apps", id] => {
            let app = r
                .org
                .apps
                .iter()
                .find(|a| a.id == *id)
                .ok_or_else(|| ApiError::not_found(id, "AppInstance"))?;
            Ok(single(values_to_vec(r.app(app))))
        }
        ["api", "v1", "apps", id, "users"] => {
            let app = app_position(r, id)?;
            let items: Vec<usize> = (0..r.org.users.len())
                .filter(|&u| r.org.users[u].app_links.iter().any(|l| l.app == app))
                .collect();
            paginate_ids(
                r,
                path,
                raw_query,
                q,
                &items,
                50,
                500,
                |u| r.org.users[u].id.as_str(),
                |u| r.app_user(app, u as u32),
            )
        }
        ["api", "v1", "apps", id, "users", user_id] => {
            // One assignment: the list's entry, or a 404 naming the `AppUser`.
            let app = app_position(r, id)?;
            let user = r
                .org
                .user_position(user_id)
                .filter(|&u| r.org.users[u].app_links.iter().any(|l| l.app == app))
                .ok_or_else(|| ApiError::not_found(user_id, "AppUser"))?;
            Ok(single(values_to_vec(r.app_user(app, user as u32))))
        }
        ["api", "v1", "apps", id, "groups"] => {
            let app = app_position(r, id)?;
            let items: Vec<usize> = (0..r.org.group_apps.len())
                .filter(|&i| r.org.group_apps[i].app == app)
                .collect();
            paginate_ids(
                r,
                path,
                raw_query,
                q,
                &items,
                20,
                200,
                |i| r.org.groups[r.org.group_apps[i].group as usize].id.as_str(),
                |i| r.app_group(&r.org.group_apps[i]),
            )
        }
        ["api", "v1", "groups"] => {
            let wanted = group_filter(q)?;
            let items: Vec<usize> = (0..r.org.groups.len())
                .filter(|&i| wanted(&r.org.groups[i]))
                .collect();
            let stats = q
                .get("expand")
                .is_some_and(|e| e.split(',').any(|x| x == "stats"));
            paginate_ids(
                r,
                path,
                raw_query,
                q,
                &items,
                10_000,
                10_000,
                |i| r.org.groups[i].id.as_str(),
                |i| r.group_expanded(i, stats),
            )
        }
        ["api", "v1", "groups", id, rest @ ..] if !rest.is_empty() => {
            let g = r
                .org
                .groups
                .iter()
                .position(|g| g.id == *id)
                .ok_or_else(|| ApiError::not_found(id, "UserGroup"))?;
            let group = &r.org.groups[g];
            match rest {
                ["users"] => {
                    let items: Vec<usize> = group.members.iter().map(|&u| u as usize).collect();
                    paginate_ids(
                        r,
                        path,
                        raw_query,
                        q,
                        &items,
                        1_000,
                        10_000,
                        |u| r.org.users[u].id.as_str(),
                        |u| {
                            let mut out = Vec::with_capacity(1024);
                            r.user(&mut out, &r.org.users[u], false);
                            serde_json::from_slice(&out).unwrap_or(serde_json::Value::Null)
                        },
                    )
                }
                ["apps"] => {
                    let values = r
                        .org
                        .group_apps
                        .iter()
                        .filter(|a| a.group as usize == g)
                        .map(|a| r.app(&r.org.apps[a.app as usize]))
                        .collect();
                    Ok(self_only(values_array(values)))
                }
                ["roles"] => Ok(single(values_array(r.group_roles(g as u16)))),
                ["roles", role_id, "targets", kind @ ..] => {
                    let grant = r
                        .org
                        .role_grants
                        .iter()
                        .find(|x| {
                            x.id == *role_id
                                && x.principal == crate::graph::Principal::Group(g as u16)
                        })
                        .ok_or_else(|| ApiError::not_found(role_id, "Role"))?;
                    role_targets(r, path, raw_query, q, &grant.scope, kind)
                }
                _ => Err(ApiError::not_found(path, "Path")),
            }
        }
        ["api", "v1", "groups", id] => {
            let group = r
                .org
                .groups
                .iter()
                .find(|g| g.id == *id)
                .ok_or_else(|| ApiError::not_found(id, "UserGroup"))?;
            Ok(single(values_to_vec(r.group(group))))
        }
        ["api", "v1", "policies"] => {
            let kind = q.get("type").ok_or_else(|| {
                ApiError::bad_query(BadQuery {
                    param: "type",
                    detail: "type: The field cannot be left blank".into(),
                })
            })?;
            let values = if kind == "ACCESS_POLICY" {
                r.org.policies.iter().map(|p| r.policy(p)).collect()
            } else {
                Vec::new()
            };
            Ok(self_only(values_array(values)))
        }
        ["api", "v1", "policies", id] => {
            let policy = r
                .org
                .policies
                .iter()
                .find(|p| p.id == *id)
                .ok_or_else(|| ApiError::not_found(id, "Policy"))?;
            Ok(single(values_to_vec(r.policy(policy))))
        }
        ["api", "v1", "policies", id, "rules"] => {
            let policy = r
                .org
                .policies
                .iter()
                .find(|p| p.id == *id)
                .ok_or_else(|| ApiError::not_found(id, "Policy"))?;
            let values = policy
                .rules
                .iter()
                .map(|rule| r.rule(policy, rule))
                .collect();
            Ok(self_only(values_array(values)))
        }
        ["api", "v1", "logs"] => list_logs(r, path, raw_query, q),
        ["api", "v1", "api-tokens"] => {
            let values = r
                .org
                .api_tokens
                .iter()
                .filter(|t| t.revoked_ms.is_none())
                .map(|t| r.api_token(t))
                .collect();
            Ok(self_only(values_array(values)))
        }
        ["api", "v1", "iam", "assignees", "users"] => list_assignees(r, path, q),
        ["api", "v1", "iam", "roles"] => {
            let items: Vec<usize> = (0..r.org.custom_roles.len()).collect();
            body_page(
                r,
                path,
                format!("{}{path}", r.base),
                q,
                "roles",
                &items,
                |i| r.org.custom_roles[i].id.as_str(),
                |i| r.custom_role(&r.org.custom_roles[i]),
            )
        }
        ["api", "v1", "iam", "roles", id, rest @ ..] => {
            let role = r
                .org
                .custom_roles
                .iter()
                .find(|c| c.id == *id)
                .ok_or_else(|| ApiError::not_found(id, "Role"))?;
            match rest {
                [] => Ok(single(values_to_vec(r.custom_role(role)))),
                ["permissions"] => {
                    let permissions: Vec<serde_json::Value> = role
                        .permissions
                        .iter()
                        .map(|p| r.permission(role, p))
                        .collect();
                    let body = serde_json::json!({ "permissions": permissions, "_links": {} });
                    Ok(single(values_to_vec(body)))
                }
                _ => Err(ApiError::not_found(path, "Path")),
            }
        }
        ["api", "v1", "iam", "resource-sets"] => {
            let items: Vec<usize> = (0..r.org.resource_sets.len()).collect();
            body_page(
                r,
                path,
                format!("{}{path}", r.base),
                q,
                "resource-sets",
                &items,
                |i| r.org.resource_sets[i].id.as_str(),
                |i| r.resource_set(&r.org.resource_sets[i]),
            )
        }
        ["api", "v1", "iam", "resource-sets", id, rest @ ..] => {
            let set = r
                .org
                .resource_sets
                .iter()
                .find(|s| s.id == *id)
                .ok_or_else(|| ApiError::not_found(id, "ResourceSet"))?;
            match rest {
                [] => Ok(single(values_to_vec(r.resource_set(set)))),
                ["resources"] => {
                    let items: Vec<usize> = (0..set.resources.len()).collect();
                    body_page(
                        r,
                        path,
                        format!("{}{path}", r.base),
                        q,
                        "resources",
                        &items,
                        |i| set.resources[i].0.as_str(),
                        |i| r.set_resource(set, &set.resources[i].0, set.resources[i].1),
                    )
                }
                _ => Err(ApiError::not_found(path, "Path")),
            }
        }
        _ => Err(ApiError::not_found(path, "Path")),
    }
}

/// The index of the app with this id.
fn app_position(r: &Renderer<'_>, id: &str) -> Result<u16, ApiError> {
    r.org
        .apps
        .iter()
        .position(|a| a.id == id)
        .map(|p| p as u16)
        .ok_or_else(|| ApiError::not_found(id, "AppInstance"))
}

/// Which groups `GET /api/v1/groups` keeps: `filter` or `search` with `type eq "X"`
/// (joined with `or`), or `search=lastMembershipUpdated gt "<ISO time>"`.
/// Whether a group passes a `GET /api/v1/groups` filter.
type GroupTest = Box<dyn Fn(&crate::model::Group) -> bool>;

fn group_filter(q: &Query) -> Result<GroupTest, ApiError> {
    let Some(expr) = q.get("filter").or_else(|| q.get("search")) else {
        return Ok(Box::new(|_| true));
    };
    if let Some(rest) = expr.trim().strip_prefix("lastMembershipUpdated gt ") {
        let since = parse_iso(rest.trim().trim_matches('"'))
            .ok_or_else(|| bad("filter", format!("Invalid search criteria: {expr}")))?;
        return Ok(Box::new(move |g| g.last_membership_updated_ms > since));
    }
    let kinds = filter_values(expr, "type").map_err(ApiError::bad_query)?;
    Ok(Box::new(move |g| {
        let kind = match g.kind {
            crate::model::GroupKind::BuiltIn => "BUILT_IN",
            crate::model::GroupKind::OktaGroup => "OKTA_GROUP",
            crate::model::GroupKind::AppGroup => "APP_GROUP",
        };
        kinds.iter().any(|k| k.eq_ignore_ascii_case(kind))
    }))
}

/// `…/roles/{id}/targets/groups` or `…/targets/catalog/apps` of a role assignment with
/// `scope`, paged with the `Link` header (a role over the whole org has no targets).
fn role_targets(
    r: &Renderer<'_>,
    path: &str,
    raw_query: Option<&str>,
    q: &Query,
    scope: &crate::graph::RoleScope,
    kind: &[&str],
) -> Result<Page, ApiError> {
    use crate::graph::RoleScope;
    match kind {
        ["groups"] => {
            let items: Vec<usize> = match scope {
                RoleScope::Groups(gs) => gs.iter().map(|&g| g as usize).collect(),
                _ => Vec::new(),
            };
            paginate_ids(
                r,
                path,
                raw_query,
                q,
                &items,
                20,
                200,
                |g| r.org.groups[g].id.as_str(),
                |g| r.group(&r.org.groups[g]),
            )
        }
        ["catalog", "apps"] => {
            let items: Vec<usize> = match scope {
                RoleScope::Apps(apps) => apps.iter().map(|&a| a as usize).collect(),
                _ => Vec::new(),
            };
            paginate_ids(
                r,
                path,
                raw_query,
                q,
                &items,
                20,
                200,
                |a| r.org.apps[a].id.as_str(),
                |a| r.catalog_app(a as u16),
            )
        }
        _ => Err(ApiError::not_found(path, "Path")),
    }
}

/// One page of a list paged by item id (`after=<id of the last item>`), as most of
/// Okta's lists are: the page's items and, when more follow, the id of its last.
struct IdPage<'o, T> {
    limit: usize,
    items: Vec<T>,
    next_after: Option<&'o str>,
}

/// The page of `items` the query's `limit` and `after` select.
fn id_page<'o, T: Copy>(
    q: &Query,
    items: &[T],
    default_limit: usize,
    max_limit: usize,
    id_of: impl Fn(T) -> &'o str,
) -> Result<IdPage<'o, T>, ApiError> {
    let limit =
        parse_limit(q.get("limit"), default_limit, max_limit).map_err(ApiError::bad_query)?;
    let start = match q.get("after") {
        Some(after) => items
            .iter()
            .position(|&i| id_of(i) == after)
            .map(|p| p + 1)
            .ok_or_else(|| bad("after", format!("after: '{after}' is not a valid cursor")))?,
        None => 0,
    };
    let page: Vec<T> = items.iter().skip(start).take(limit).copied().collect();
    let next_after = match start + page.len() < items.len() {
        true => page.last().map(|&last| id_of(last)),
        false => None,
    };
    Ok(IdPage {
        limit,
        items: page,
        next_after,
    })
}

/// A page of an IAM list: `{"<key>": [...], "_links": {"self", "next"}}`, the next page's
/// link in the body (cursor: the last item's id), as the `/api/v1/iam` endpoints do.
/// `self_href` is the page's own address as that endpoint writes it.
#[allow(clippy::too_many_arguments)]
fn body_page<'o, T: Copy>(
    r: &Renderer<'o>,
    path: &str,
    self_href: String,
    q: &Query,
    key: &str,
    items: &[T],
    id_of: impl Fn(T) -> &'o str,
    render: impl Fn(T) -> serde_json::Value,
) -> Result<Page, ApiError> {
    let page = id_page(q, items, 100, 100, id_of)?;
    let values: Vec<serde_json::Value> = page.items.iter().map(|&i| render(i)).collect();
    let mut links = serde_json::Map::new();
    links.insert("self".into(), serde_json::json!({ "href": self_href }));
    if let Some(after) = page.next_after {
        let next = q.with_cursor(page.limit, after);
        links.insert(
            "next".into(),
            serde_json::json!({ "href": format!("{}{path}?{next}", r.base) }),
        );
    }
    let mut body = serde_json::Map::new();
    body.insert(key.to_string(), serde_json::Value::Array(values));
    body.insert("_links".into(), serde_json::Value::Object(links));
    Ok(Page {
        body: values_to_vec(serde_json::Value::Object(body)),
        links: Vec::new(),
    })
}

fn values_to_vec(value: serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(&value).expect("serialising a value cannot fail")
}

/// A page of a list as a JSON array, the next page's address in a `Link` header.
#[allow(clippy::too_many_arguments)]
fn paginate_ids<'o>(
    r: &Renderer<'o>,
    path: &str,
    raw_query: Option<&str>,
    q: &Query,
    items: &[usize],
    default_limit: usize,
    max_limit: usize,
    id_of: impl Fn(usize) -> &'o str,
    render: impl Fn(usize) -> serde_json::Value,
) -> Result<Page, ApiError> {
    let page = id_page(q, items, default_limit, max_limit, id_of)?;
    let mut links = vec![self_link(r.base, path, raw_query)];
    if let Some(after) = page.next_after {
        links.push(next_link(r.base, path, q, page.limit, after));
    }
    let body = values_array(page.items.into_iter().map(render).collect());
    Ok(Page { body, links })
}

fn list_users(
    r: &Renderer<'_>,
    path: &str,
    raw_query: Option<&str>,
    q: &Query,
) -> Result<Page, ApiError> {
    let org = r.org;
    let limit = parse_limit(q.get("limit"), 200, 200).map_err(ApiError::bad_query)?;
    // Without a filter Okta lists every user except DEPROVISIONED ones.
    let mut wanted = [false; UserStatus::ALL.len()];
    // `search=lastUpdated gt "<ISO time>"`: the users changed since then, in every
    // status (a search, unlike the plain list, does not leave DEPROVISIONED out).
    let mut updated_after: Option<i64> = None;
    // `search` takes the same `status eq "X"` expressions here.
    match q.get("filter").or_else(|| q.get("search")) {
        Some(f) if q.get("search").is_some() && f.trim().starts_with("lastUpdated gt ") => {
            let since = f
                .trim()
                .strip_prefix("lastUpdated gt ")
                .and_then(|rest| parse_iso(rest.trim().trim_matches('"')))
                .ok_or_else(|| bad("search", format!("Invalid search criteria: {f}")))?;
            wanted = [true; UserStatus::ALL.len()];
            updated_after = Some(since);
        }
        Some(f) => {
            for value in filter_values(f, "status").map_err(ApiError::bad_query)? {
                match UserStatus::parse(&value) {
                    Some(s) => wanted[s as usize] = true,
                    None => {
                        return Err(ApiError::bad_query(BadQuery {
                            param: "filter",
                            detail: format!("Invalid search criteria: unknown status {value}"),
                        }))
                    }
                }
            }
        }
        None => {
            wanted = [true; UserStatus::ALL.len()];
            wanted[UserStatus::Deprovisioned as usize] = false;
        }
    }
    let start = match q.get("after") {
        Some(after) => match org.user_position(after) {
            Some(p) => p + 1,
            None => {
                return Err(ApiError::bad_query(BadQuery {
                    param: "after",
                    detail: format!("after: '{after}' is not a valid cursor"),
                }))
            }
        },
        None => 0,
    };
    let matches = |i: &usize| {
        let u = &org.users[*i];
        wanted[u.status as usize] && updated_after.is_none_or(|since| u.last_updated_ms > since)
    };
    let mut page = Vec::with_capacity(limit.min(org.users.len()));
    let mut i = start;
    while i < org.users.len() && page.len() < limit {
        if matches(&i) {
            page.push(i);
        }
        i += 1;
    }
    let more = (i..org.users.len()).any(|j| matches(&j));
    let mut links = vec![self_link(r.base, path, raw_query)];
    if more {
        if let Some(&last) = page.last() {
            links.push(next_link(r.base, path, q, limit, &org.users[last].id));
        }
    }
    let body = json_array(page.into_iter(), |out, idx| {
        r.user(out, &org.users[idx], false)
    });
    Ok(Page { body, links })
}

fn bad(param: &'static str, detail: String) -> ApiError {
    ApiError::bad_query(BadQuery { param, detail })
}

/// The query of a System Log list: `limit`, `since` and `until` (bounds on
/// `published`), `sortOrder`, `filter` (`eventType eq "..."`) and the `after` cursor
/// (`<published>_<position>`, of which only the position counts).
struct LogQuery {
    limit: usize,
    since: Option<i64>,
    until: Option<i64>,
    descending: bool,
    event_types: Option<Vec<String>>,
    cursor: Option<usize>,
}

impl LogQuery {
    /// Parses `q` over a log of `len` events.
    fn parse(q: &Query, len: usize) -> Result<LogQuery, ApiError> {
        let time = |name: &'static str| -> Result<Option<i64>, ApiError> {
            q.get(name)
                .map(|s| {
                    parse_iso(s).ok_or_else(|| {
                        bad(name, format!("{name}: '{s}' is not a valid ISO-8601 date"))
                    })
                })
                .transpose()
        };
        let descending = match q.get("sortOrder") {
            None => false,
            Some(s) if s.eq_ignore_ascii_case("ASCENDING") => false,
            Some(s) if s.eq_ignore_ascii_case("DESCENDING") => true,
            Some(s) => {
                return Err(bad(
                    "sortOrder",
                    format!("sortOrder: '{s}' must be ASCENDING or DESCENDING"),
                ))
            }
        };
        let cursor = match q.get("after") {
            Some(a) => Some(
                a.rsplit_once('_')
                    .and_then(|(_, i)| i.parse::<usize>().ok())
                    .filter(|&i| i <= len)
                    .ok_or_else(|| bad("after", format!("after: '{a}' is not a valid cursor")))?,
            ),
            None => None,
        };
        Ok(LogQuery {
            limit: parse_limit(q.get("limit"), 100, 1000).map_err(ApiError::bad_query)?,
            since: time("since")?,
            until: time("until")?,
            descending,
            event_types: match q.get("filter") {
                Some(f) => Some(filter_values(f, "eventType").map_err(ApiError::bad_query)?),
                None => None,
            },
            cursor,
        })
    }

    /// Walks positions `lo..hi` from the cursor in the query's order and takes up to
    /// `limit` that match: the page, the position the next page starts at, and whether
    /// there is a next page (always while polling: ascending without `until`).
    fn walk(
        &self,
        lo: usize,
        hi: usize,
        matches: impl Fn(usize) -> bool,
    ) -> (Vec<usize>, usize, bool) {
        let mut page = Vec::with_capacity(self.limit.min(hi - lo));
        if !self.descending {
            let mut i = self.cursor.unwrap_or(lo).max(lo);
            while i < hi && page.len() < self.limit {
                if matches(i) {
                    page.push(i);
                }
                i += 1;
            }
            let more = self.until.is_none() || (i..hi).any(&matches);
            (page, i, more)
        } else {
            let mut i = self.cursor.unwrap_or(hi).min(hi);
            while i > lo && page.len() < self.limit {
                i -= 1;
                if matches(i) {
                    page.push(i);
                }
            }
            let more = (lo..i).any(&matches);
            (page, i, more)
        }
    }
}

/// `/api/v1/logs` over the org's events, which are in `published` order.
fn list_logs(
    r: &Renderer<'_>,
    path: &str,
    raw_query: Option<&str>,
    q: &Query,
) -> Result<Page, ApiError> {
    let org = r.org;
    let events = &org.events;
    let lq = LogQuery::parse(q, events.len())?;
    let since = lq.since.unwrap_or(org.now_ms - 7 * DAY_MS);
    let kinds: Option<Vec<Option<EventKind>>> = lq
        .event_types
        .as_ref()
        .map(|types| types.iter().map(|t| EventKind::parse(t)).collect());
    let matches = |i: usize| {
        kinds
            .as_ref()
            .is_none_or(|ks| ks.iter().any(|k| *k == Some(events[i].kind)))
    };
    let lo = events.partition_point(|e| e.published_ms < since);
    let hi = match lq.until {
        Some(u) => events.partition_point(|e| e.published_ms < u),
        None => events.len(),
    }
    .max(lo);
    let (page, next_cursor, more) = lq.walk(lo, hi, matches);
    let mut links = vec![self_link(r.base, path, raw_query)];
    if more {
        let published = events
            .get(next_cursor.min(events.len().saturating_sub(1)))
            .map_or(org.now_ms, |e| e.published_ms);
        let after = format!("{published}_{next_cursor}");
        links.push(next_link(r.base, path, q, lq.limit, &after));
    }
    let body = json_array(page.into_iter(), |out, i| r.event(out, &events[i]));
    Ok(Page { body, links })
}

/// `/api/v1/logs` over a live log: positions are in order of appearance, so an event
/// persisted late comes after the cursor of a poll that already passed its `published`
/// time.
fn list_live_logs(
    live: &LiveLog,
    base: &str,
    path: &str,
    raw_query: Option<&str>,
    q: &Query,
) -> Result<Page, ApiError> {
    let events = live.visible();
    let lq = LogQuery::parse(q, events.len())?;
    let since = lq.since.unwrap_or(live.now_ms() - 7 * DAY_MS);
    let matches = |i: usize| {
        let e = &events[i];
        e.published_ms >= since
            && lq.until.is_none_or(|u| e.published_ms < u)
            && lq
                .event_types
                .as_ref()
                .is_none_or(|ts| ts.iter().any(|t| *t == e.event_type))
    };
    let (page, next_cursor, more) = lq.walk(0, events.len(), matches);
    let mut links = vec![self_link(base, path, raw_query)];
    if more {
        let published = events
            .get(next_cursor.saturating_sub(1))
            .map_or(live.now_ms(), |e| e.published_ms);
        let after = format!("{published}_{next_cursor}");
        links.push(next_link(base, path, q, lq.limit, &after));
    }
    let body = json_array(page.into_iter(), |out, i| {
        out.extend_from_slice(&events[i].body)
    });
    Ok(Page { body, links })
}

fn list_assignees(r: &Renderer<'_>, path: &str, q: &Query) -> Result<Page, ApiError> {
    let org = r.org;
    // Every user holding a role, directly or through a group.
    let users = org.role_holders();
    let self_query = match q.pairs.is_empty() {
        true => String::new(),
        false => format!(
            "?{}",
            url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(q.pairs.iter())
                .finish()
        ),
    };
    body_page(
        r,
        path,
        format!("{}{path}{self_query}", r.base),
        q,
        "value",
        &users,
        |u| org.users[u as usize].id.as_str(),
        |u| r.assignee(&org.users[u as usize]),
    )
}
