//! The outbound HTTP gateway: the only door out of a sandbox.
//!
//! Every guest request passes, in order: the request quota, the header policy (a
//! guest `Authorization` is refused), the origin allowlist (the tenant's base URL
//! only; https unless the tenant allows insecure local), the resolved-address check
//! (done inside the DNS resolver, so the checked address is the one connected to;
//! IP-literal hosts are checked directly), auth injection (the tenant's static token
//! in the connector's template, or an access token from the tenant's OAuth client,
//! which a 401 makes it renew once),
//! rate-limit pacing, the send itself (no redirects, no proxies), and the response
//! limits (headers, bytes per response and per run). 429s are retried after the
//! server's reset, unless that reset lies beyond what the run can still wait: then
//! the request (and every later one of that endpoint family) fails at once with the
//! bucket, the reset time and what to do. 5xx to idempotent requests are retried
//! with backoff. The token (every access token, for OAuth) is redacted from anything
//! an upstream echoes back.
//! Policy decisions come from the pure `kri_policy` modules; this file only wires
//! them to reqwest.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, UNIX_EPOCH};

use futures::StreamExt;
use kri_policy::headers::{check_request_headers, check_response_headers, HeaderLimits};
use kri_policy::pacing::{RateLimitHeaders, RateLimitProfile};
use kri_policy::quota::{QuotaExceeded, QuotaKind, QuotaUsage, Quotas};
use reqwest::header::{HeaderName, HeaderValue};
use serde::Serialize;
use tracing::Instrument;

use crate::oauth::{AccessToken, OAuthClient};
use crate::pacer::{local_now_ms, Pacer};
use crate::secrets::Token;

/// A request as the guest asked for it.
#[derive(Debug, Clone)]
pub struct OutboundRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
}

/// A response as the guest will see it (token redacted).
#[derive(Debug, Clone)]
pub struct InboundResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Why a request got no response.
#[derive(Debug, Clone, thiserror::Error)]
pub enum GatewayError {
    /// The egress policy refused it; the guest may handle this.
    #[error("denied: {0}")]
    Denied(String),
    /// A run quota is spent; this ends the run.
    #[error("{0}")]
    Quota(QuotaExceeded),
    /// A 429 whose reset lies beyond the run's remaining wall budget; the guest
    /// sees it as a quota error on this request.
    #[error("{0}")]
    RateLimited(String),
    /// No access token could be had for the request.
    #[error("no access token: {0}")]
    Auth(String),
    #[error("timeout: {0}")]
    Timeout(String),
    #[error("transport: {0}")]
    Transport(String),
}

/// Counters the run history shows.
#[derive(Debug, Clone, Default)]
pub struct GatewayStats {
    /// Requests and 429 answers per rate-limit bucket (the `/metrics` of `kri serve`).
    pub by_bucket: BTreeMap<String, BucketStats>,
    pub requests: u64,
    pub responses_429: u64,
    pub retries_5xx: u64,
    pub bytes: u64,
    pub denied: u64,
}

/// Requests sent in one rate-limit bucket, and how many were answered 429.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct BucketStats {
    pub requests: u64,
    pub responses_429: u64,
}

/// How the gateway authorizes the tenant's requests.
pub enum GatewayAuth {
    /// A static token, put into the connector's `Authorization` template.
    Token { template: String, token: Token },
    /// Access tokens from the tenant's OAuth client.
    OAuth(Arc<OAuthClient>),
}

/// [`GatewayAuth`] ready to use: the static header rendered once.
enum Auth {
    Static { authorization: String, token: Token },
    OAuth(Arc<OAuthClient>),
}

/// Per-tenant settings of the gateway.
pub struct GatewaySettings {
    pub base_url: String,
    pub allow_insecure_local: bool,
    /// How the upstream reports its rate limits (from the connector's manifest).
    pub rate_limit: RateLimitProfile,
    pub auth: GatewayAuth,
    /// The transport, from [`http_client`]: shared by the host's gateways of the
    /// same `allow_insecure_local`, because building one loads the system's trust
    /// roots (about 2 ms, measured by bench figure 5's trivial run).
    pub client: reqwest::Client,
    pub quotas: Quotas,
    pub max_429_retries: u32,
    pub max_5xx_retries: u32,
    /// When the call's wall budget runs out: a 429 whose reset is later fails at
    /// once instead of waiting. `None` waits for any reset.
    pub deadline: Option<Instant>,
}

pub struct Gateway {
    base_url: String,
    allow_insecure_local: bool,
    auth: Auth,
    rate_limit: RateLimitProfile,
    client: reqwest::Client,
    pacer: Arc<Pacer>,
    quotas: Quotas,
    usage: Arc<Mutex<QuotaUsage>>,
    stats: Mutex<GatewayStats>,
    in_flight: tokio::sync::Semaphore,
    header_limits: HeaderLimits,
    max_429_retries: u32,
    max_5xx_retries: u32,
    deadline: Option<Instant>,
    /// Endpoint families whose reset lies beyond the deadline, with the error that
    /// every later request of the family gets (until the reset passes).
    unreachable_resets: Mutex<HashMap<String, (i64, String)>>,
}

/// DNS resolution that only yields addresses the IP policy allows.
struct CheckedResolver;

impl reqwest::dns::Resolve for CheckedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> { Box::new(e) })?
                .collect();
            let allowed: Vec<SocketAddr> = addrs
                .iter()
                .copied()
                .filter(|a| kri_policy::ip::check_ip(a.ip()).is_ok())
                .collect();
            if allowed.is_empty() {
                let why = addrs
                    .first()
                    .and_then(|a| kri_policy::ip::check_ip(a.ip()).err())
                    .map(|e| e.to_string())
                    .unwrap_or_else(|| "no address".into());
                return Err(format!("{host} resolves only to denied addresses ({why})").into());
            }
            let iter: reqwest::dns::Addrs = Box::new(allowed.into_iter());
            Ok(iter)
        })
    }
}

fn lower_method(m: &str) -> Result<reqwest::Method, GatewayError> {
    match m {
        "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" => {
            reqwest::Method::from_bytes(m.as_bytes())
                .map_err(|_| GatewayError::Denied(format!("method {m}")))
        }
        other => Err(GatewayError::Denied(format!(
            "method {other} is not allowed"
        ))),
    }
}

/// An HTTP client under the egress policy: no redirects, no proxies, and unless
/// `allow_insecure_local`, https only to addresses the IP policy allows. TLS trusts
/// the system's roots (and the bundled web roots) plus `extra_roots`.
pub fn http_client(
    allow_insecure_local: bool,
    request_timeout: Duration,
    extra_roots: &[reqwest::Certificate],
) -> reqwest::Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .user_agent(concat!("kri/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(10))
        .timeout(request_timeout)
        .pool_max_idle_per_host(64);
    for root in extra_roots {
        builder = builder.add_root_certificate(root.clone());
    }
    if !allow_insecure_local {
        builder = builder
            .dns_resolver(Arc::new(CheckedResolver))
            .https_only(true);
    }
    builder.build()
}

impl Gateway {
    pub fn new(
        settings: GatewaySettings,
        pacer: Arc<Pacer>,
        usage: Arc<Mutex<QuotaUsage>>,
    ) -> anyhow::Result<Gateway> {
        let auth = match settings.auth {
            GatewayAuth::Token { template, token } => Auth::Static {
                authorization: kri_policy::auth::render_authorization(&template, token.expose())
                    .map_err(|e| anyhow::anyhow!("the connector's auth scheme is unusable: {e}"))?,
                token,
            },
            GatewayAuth::OAuth(client) => Auth::OAuth(client),
        };
        let client = settings.client;
        let concurrency = settings.quotas.concurrent_requests.max(1) as usize;
        Ok(Gateway {
            base_url: settings.base_url,
            allow_insecure_local: settings.allow_insecure_local,
            auth,
            rate_limit: settings.rate_limit,
            client,
            pacer,
            quotas: settings.quotas,
            usage,
            stats: Mutex::new(GatewayStats::default()),
            in_flight: tokio::sync::Semaphore::new(concurrency),
            header_limits: HeaderLimits::default(),
            max_429_retries: settings.max_429_retries,
            max_5xx_retries: settings.max_5xx_retries,
            deadline: settings.deadline,
            unreachable_resets: Mutex::new(HashMap::new()),
        })
    }

    pub fn stats(&self) -> GatewayStats {
        self.stats.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn charge(&self, kind: QuotaKind, amount: u64) -> Result<(), GatewayError> {
        self.usage
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .charge(kind, amount, &self.quotas)
            .map_err(GatewayError::Quota)
    }

    fn bump(&self, f: impl FnOnce(&mut GatewayStats)) {
        f(&mut self.stats.lock().unwrap_or_else(|p| p.into_inner()));
    }

    /// `text` with the tenant's token (every access token, for OAuth) redacted.
    pub fn redact_text(&self, text: &str) -> String {
        match &self.auth {
            Auth::Static { token, .. } => kri_policy::redact::redact(text, &[token.expose()]),
            Auth::OAuth(client) => client.redact(text),
        }
    }

    fn redact_body(&self, body: &[u8]) -> Vec<u8> {
        match &self.auth {
            Auth::Static { token, .. } => kri_policy::redact::redact_bytes(body, &[token.expose()]),
            Auth::OAuth(client) => client.redact_bytes(body),
        }
    }

    /// Gets an OAuth tenant's access token now (a static token is always ready).
    pub async fn ready(&self) -> Result<(), GatewayError> {
        match &self.auth {
            Auth::Static { .. } => Ok(()),
            Auth::OAuth(client) => client
                .token()
                .await
                .map(|_| ())
                .map_err(|e| GatewayError::Auth(self.redact_text(&e.to_string()))),
        }
    }

    /// The headers that authorize one request, and the access token they carry.
    async fn authorize(
        &self,
        method: &reqwest::Method,
        url: &url::Url,
    ) -> Result<(Vec<(HeaderName, HeaderValue)>, Option<Arc<AccessToken>>), GatewayError> {
        match &self.auth {
            Auth::Static { authorization, .. } => {
                let mut v = HeaderValue::from_str(authorization)
                    .map_err(|_| GatewayError::Denied("unusable authorization value".into()))?;
                v.set_sensitive(true);
                Ok((vec![(reqwest::header::AUTHORIZATION, v)], None))
            }
            Auth::OAuth(client) => {
                let auth_err = |e: crate::oauth::OAuthError| {
                    GatewayError::Auth(self.redact_text(&e.to_string()))
                };
                let token = client.token().await.map_err(auth_err)?;
                let headers = client
                    .headers(&token, method.as_str(), url)
                    .map_err(auth_err)?;
                Ok((headers, Some(token)))
            }
        }
    }

    /// Checks a request against every policy and returns what to send.
    fn admit(&self, req: &OutboundRequest) -> Result<(reqwest::Method, url::Url), GatewayError> {
        let method = lower_method(&req.method)?;
        check_request_headers(&req.headers, &self.header_limits)
            .map_err(|e| GatewayError::Denied(e.to_string()))?;
        // The host signs DPoP proofs itself; a guest's would be a forgery.
        if req
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("dpop"))
        {
            return Err(GatewayError::Denied(
                "the guest may not set a DPoP header; the host adds proofs itself".into(),
            ));
        }
        let url = kri_policy::egress::resolve_request_url(
            &self.base_url,
            &req.url,
            self.allow_insecure_local,
        )
        .map_err(|e| GatewayError::Denied(self.redact_text(&e.to_string())))?;
        if !self.allow_insecure_local {
            if let Some(host) = url.host_str() {
                kri_policy::egress::check_ip_literal_host(host)
                    .map_err(|e| GatewayError::Denied(e.to_string()))?;
            }
        }
        Ok((method, url))
    }

    /// Sends one request through the whole policy chain.
    pub async fn send(&self, req: OutboundRequest) -> Result<InboundResponse, GatewayError> {
        let admitted = self.admit(&req);
        let (method, url) = match admitted {
            Ok(x) => x,
            Err(e) => {
                self.bump(|s| s.denied += 1);
                return Err(e);
            }
        };
        let idempotent = matches!(method, reqwest::Method::GET | reqwest::Method::HEAD);
        let bucket = self.rate_limit.bucket(method.as_str(), url.path());
        self.refuse_unreachable_reset(&bucket)?;
        let mut attempts_429 = 0u32;
        let mut attempts_5xx = 0u32;
        let mut renewed_token = false;
        loop {
            let (auth_headers, token) = self.authorize(&method, &url).await?;
            self.charge(QuotaKind::HttpRequests, 1)?;
            let _permit = self
                .in_flight
                .acquire()
                .await
                .map_err(|_| GatewayError::Transport("gateway closed".into()))?;
            let span = tracing::debug_span!(
                "request",
                bucket = %bucket,
                status = tracing::field::Empty,
                wait_ms = tracing::field::Empty
            );
            let waited = std::time::Instant::now();
            self.pacer.acquire(&bucket).instrument(span.clone()).await;
            span.record("wait_ms", waited.elapsed().as_millis() as u64);
            self.bump(|s| {
                s.requests += 1;
                s.by_bucket.entry(bucket.clone()).or_default().requests += 1;
            });
            let result = self
                .send_once(&method, &url, &req, auth_headers)
                .instrument(span.clone())
                .await;
            let (status, rl) = match &result {
                Ok((resp, rl)) => (resp.status, Some(*rl)),
                Err(_) => (0, None),
            };
            span.record("status", status);
            span.in_scope(|| match &result {
                Ok(_) => tracing::debug!("response"),
                Err(e) => tracing::debug!(error = %e, "no response"),
            });
            self.pacer.on_response(
                &bucket,
                status,
                rl.as_ref().unwrap_or(&RateLimitHeaders::default()),
            );
            drop(_permit);
            let (resp, _) = result?;
            if let (401, Some(token), Auth::OAuth(client)) = (resp.status, &token, &self.auth) {
                if !renewed_token {
                    // Revoked or expired early: one more try with a new token.
                    renewed_token = true;
                    client.invalidate(token).await;
                    continue;
                }
            }
            if resp.status == 429 {
                self.bump(|s| {
                    s.responses_429 += 1;
                    s.by_bucket.entry(bucket.clone()).or_default().responses_429 += 1;
                });
                if let Some(rl) = &rl {
                    self.check_429_reset(&bucket, rl)?;
                }
                if idempotent && attempts_429 < self.max_429_retries {
                    // The bucket now holds until the server's reset; the next
                    // `acquire` waits for it.
                    attempts_429 += 1;
                    continue;
                }
            } else if resp.status >= 500 && idempotent && attempts_5xx < self.max_5xx_retries {
                attempts_5xx += 1;
                self.bump(|s| s.retries_5xx += 1);
                let wait = kri_policy::pacing::backoff_5xx(attempts_5xx, 250, 8_000);
                tokio::time::sleep(Duration::from_millis(wait)).await;
                continue;
            }
            return Ok(resp);
        }
    }

    /// Fails a request of a family already known to be limited past the deadline.
    fn refuse_unreachable_reset(&self, bucket: &str) -> Result<(), GatewayError> {
        let mut map = self
            .unreachable_resets
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        match map.get(bucket) {
            Some((reset_ms, msg)) if *reset_ms > local_now_ms() => {
                Err(GatewayError::RateLimited(msg.clone()))
            }
            Some(_) => {
                map.remove(bucket);
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// After a 429: fails at once when the window's reset lies beyond what the run
    /// can still wait. A concurrency 429 (limit and remaining 0) waits briefly
    /// whatever its reset says, so it is never refused here.
    fn check_429_reset(&self, bucket: &str, rl: &RateLimitHeaders) -> Result<(), GatewayError> {
        let Some(deadline) = self.deadline else {
            return Ok(());
        };
        if rl.is_concurrency_limit() {
            return Ok(());
        }
        let now_ms = local_now_ms();
        let Some(reset_ms) = rl
            .reset_local_ms(now_ms)
            .map(|r| r.saturating_add(kri_policy::pacing::RESET_MARGIN_MS))
        else {
            return Ok(());
        };
        let wait_ms = reset_ms.saturating_sub(now_ms);
        let left_ms = deadline
            .saturating_duration_since(Instant::now())
            .as_millis() as i64;
        if wait_ms <= left_ms {
            return Ok(());
        }
        let reset_at = UNIX_EPOCH + Duration::from_millis(reset_ms.max(0) as u64);
        let msg = format!(
            "rate limited: HTTP 429 on `{bucket}`, whose window resets at {} (in {} s), \
             later than this run can still wait ({} s of its wall_ms budget left); \
             run again after the reset, or raise the tenant's wall_ms quota \
             (`kri tenant update TENANT --quota wall_ms=MS`) so that a run can wait for it",
            httpdate::fmt_http_date(reset_at),
            (wait_ms + 999) / 1000,
            left_ms / 1000,
        );
        self.unreachable_resets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(bucket.to_string(), (reset_ms, msg.clone()));
        Err(GatewayError::RateLimited(msg))
    }

    async fn send_once(
        &self,
        method: &reqwest::Method,
        url: &url::Url,
        req: &OutboundRequest,
        auth_headers: Vec<(HeaderName, HeaderValue)>,
    ) -> Result<(InboundResponse, RateLimitHeaders), GatewayError> {
        let mut builder = self.client.request(method.clone(), url.clone());
        for (name, value) in &req.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        for (name, value) in auth_headers {
            builder = builder.header(name, value);
        }
        if let Some(body) = &req.body {
            self.charge(QuotaKind::TotalBytes, body.len() as u64)?;
            builder = builder.body(body.clone());
        }
        let resp = builder.send().await.map_err(|e| self.transport_error(e))?;
        let status = resp.status().as_u16();
        let mut headers: Vec<(String, String)> = Vec::with_capacity(resp.headers().len());
        for (name, value) in resp.headers() {
            let v = String::from_utf8_lossy(value.as_bytes());
            headers.push((name.as_str().to_string(), self.redact_text(&v)));
        }
        check_response_headers(&headers, &self.header_limits)
            .map_err(|e| GatewayError::Denied(format!("response headers: {e}")))?;
        let rl = RateLimitHeaders::parse(&self.rate_limit, status, |name| {
            headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        });
        if let Some(len) = resp.content_length() {
            if len > self.quotas.response_bytes {
                return Err(GatewayError::Quota(QuotaExceeded::new(
                    QuotaKind::ResponseBytes,
                    self.quotas.response_bytes,
                    len,
                )));
            }
        }
        let mut body: Vec<u8> = Vec::new();
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| self.transport_error(e))?;
            let new_len = body.len() as u64 + chunk.len() as u64;
            if new_len > self.quotas.response_bytes {
                return Err(GatewayError::Quota(QuotaExceeded::new(
                    QuotaKind::ResponseBytes,
                    self.quotas.response_bytes,
                    new_len,
                )));
            }
            self.charge(QuotaKind::TotalBytes, chunk.len() as u64)?;
            self.bump(|s| s.bytes += chunk.len() as u64);
            body.extend_from_slice(&chunk);
        }
        let body = self.redact_body(&body);
        Ok((
            InboundResponse {
                status,
                headers,
                body,
            },
            rl,
        ))
    }

    fn transport_error(&self, e: reqwest::Error) -> GatewayError {
        let text = self.redact_text(&format!("{e:#}"));
        let mut source = std::error::Error::source(&e);
        let mut detail = String::new();
        while let Some(s) = source {
            detail = self.redact_text(&s.to_string());
            source = s.source();
        }
        if e.is_timeout() {
            GatewayError::Timeout(text)
        } else if detail.contains("denied addresses") {
            GatewayError::Denied(detail)
        } else if detail.is_empty() {
            GatewayError::Transport(text)
        } else {
            GatewayError::Transport(format!("{text}: {detail}"))
        }
    }

    /// Sends many requests concurrently (bounded by the concurrency quota and the
    /// pacer); results keep the order of the requests.
    pub async fn send_all(
        self: &Arc<Self>,
        reqs: Vec<OutboundRequest>,
    ) -> Vec<Result<InboundResponse, GatewayError>> {
        let concurrency = self.quotas.concurrent_requests.max(1) as usize;
        futures::stream::iter(reqs.into_iter().map(|r| {
            let gw = self.clone();
            async move { gw.send(r).await }
        }))
        .buffered(concurrency)
        .collect()
        .await
    }
}
