//! The HTTP API of `kri serve`, under `/api/v1`, JSON in and out (routes in
//! docs/api.md and docs/openapi.json, which `/api/v1/openapi.json` serves). Errors
//! are `{code, message, hint}` with a fitting status. With an API key configured,
//! every route but the OpenAPI document needs `Authorization: Bearer <key>`,
//! compared in constant time. The KRI and alert documents are the ones the CLI
//! prints with `--json` (same types, see [`crate::views`]).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use crate::error::{RunError, StoreError};
use crate::host::{KriHost, NewTenant, RunOptions};
use crate::model::Severity;
use crate::query::QueryLimits;
use crate::secrets::Token;
use crate::serve::metrics::Metrics;
use crate::serve::reload::ReloadStatus;
use crate::serve::scheduler::Scheduler;
use crate::store::{AlertStatus, EventFilter, Tenant};
use crate::views::{AlertJson, EventJson};

/// The OpenAPI document of this API, checked in beside the docs.
pub const OPENAPI: &str = include_str!("../../../docs/openapi.json");

/// What every handler shares.
#[derive(Clone)]
pub struct ApiState {
    host: Arc<KriHost>,
    scheduler: Arc<Scheduler>,
    metrics: Arc<Metrics>,
    api_key: Option<Arc<[u8]>>,
    reloads: Arc<Mutex<ReloadStatus>>,
}

impl ApiState {
    pub fn new(
        host: Arc<KriHost>,
        scheduler: Arc<Scheduler>,
        metrics: Arc<Metrics>,
        api_key: Option<String>,
    ) -> ApiState {
        ApiState {
            host,
            scheduler,
            metrics,
            api_key: api_key.map(|k| Arc::from(k.trim().as_bytes())),
            reloads: Arc::default(),
        }
    }

    /// Where the plugin watcher reports its reloads.
    pub fn reloads(&self) -> Arc<Mutex<ReloadStatus>> {
        self.reloads.clone()
    }
}

/// An error answer: `{code, message, hint}`.
#[derive(Debug, Serialize)]
pub struct ApiError {
    #[serde(skip)]
    status: StatusCode,
    /// A stable word to match on (`unknown_tenant`, `run_in_progress`, ...).
    code: &'static str,
    message: String,
    /// What to do about it.
    hint: String,
}

impl ApiError {
    fn new(
        status: StatusCode,
        code: &'static str,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            hint: hint.into(),
        }
    }

    fn bad_request(message: impl Into<String>, hint: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message, hint)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(&self)).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        let message = e.to_string();
        match e {
            StoreError::UnknownTenant(_) => ApiError::new(
                StatusCode::NOT_FOUND,
                "unknown_tenant",
                message,
                "list tenants with GET /api/v1/tenants",
            ),
            StoreError::TenantExists(_) => ApiError::new(
                StatusCode::CONFLICT,
                "tenant_exists",
                message,
                "pick another id, or DELETE /api/v1/tenants/{id} first",
            ),
            StoreError::UnknownAlert(_) => ApiError::new(
                StatusCode::NOT_FOUND,
                "unknown_alert",
                message,
                "list alerts with GET /api/v1/tenants/{id}/alerts",
            ),
            StoreError::RunInProgress { .. } => ApiError::new(
                StatusCode::CONFLICT,
                "run_in_progress",
                message,
                "wait for the run to finish; see GET /api/v1/tenants/{id}/runs",
            ),
            StoreError::Query(q) => ApiError::new(
                StatusCode::BAD_REQUEST,
                "query_refused",
                q.to_string(),
                "give one read-only SELECT over nodes, edges, events, alerts or access_path",
            ),
            StoreError::Locked { .. } => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_busy",
                message,
                "try again shortly",
            ),
            _ => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "store_error",
                message,
                "see the kri serve log; check the data directory and disk",
            ),
        }
    }
}

impl From<RunError> for ApiError {
    fn from(e: RunError) -> ApiError {
        let message = e.to_string();
        match e {
            RunError::Store(s) => s.into(),
            RunError::UnknownConnector { .. } => ApiError::new(
                StatusCode::BAD_REQUEST,
                "unknown_connector",
                message,
                "see GET /api/v1/plugins for the connectors served",
            ),
            RunError::UnknownJob { .. } => ApiError::new(
                StatusCode::BAD_REQUEST,
                "unknown_job",
                message,
                "use one of the connector's jobs",
            ),
            RunError::WrongConnector { .. } => ApiError::new(
                StatusCode::BAD_REQUEST,
                "wrong_connector",
                message,
                "use the tenant's own connector",
            ),
            RunError::Auth(_) => ApiError::new(
                StatusCode::BAD_GATEWAY,
                "auth_failed",
                message,
                "fix the tenant's credentials as the message says (kri tenant update)",
            ),
            RunError::Secret(_) => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "secret_error",
                message,
                "check the encryption key of this host (KRI_ENCRYPTION_KEY or the key file)",
            ),
            RunError::Other(_) => {
                ApiError::bad_request(message, "fix the request as the message says")
            }
        }
    }
}

type ApiResult<T> = Result<T, ApiError>;

/// The routes, behind the API key check.
pub fn router(state: ApiState) -> Router {
    let api = Router::new()
        .route("/api/v1/tenants", get(list_tenants).post(add_tenant))
        .route(
            "/api/v1/tenants/{id}",
            get(get_tenant).patch(update_tenant).delete(remove_tenant),
        )
        .route("/api/v1/tenants/{id}/runs", get(list_runs).post(run_now))
        .route("/api/v1/tenants/{id}/kris", get(latest_kris))
        .route("/api/v1/tenants/{id}/kris/history", get(kri_history))
        .route("/api/v1/tenants/{id}/alerts", get(list_alerts))
        .route("/api/v1/tenants/{id}/events", get(list_events))
        .route("/api/v1/tenants/{id}/query", post(query))
        .route("/api/v1/alerts/{id}/ack", post(ack_alert))
        .route("/api/v1/alerts/{id}/resolve", post(resolve_alert))
        .route("/api/v1/schedules", get(list_schedules))
        .route("/api/v1/plugins", get(plugins))
        .route("/metrics", get(metrics))
        .layer(middleware::from_fn_with_state(state.clone(), authorize));
    Router::new()
        .route("/api/v1/openapi.json", get(openapi))
        .merge(api)
        .merge(crate::serve_console::routes())
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            count_requests,
        ))
        .with_state(state)
}

/// Whether `headers` carry the API key (always, when none is configured).
fn key_matches(expected: Option<&[u8]>, headers: &HeaderMap) -> bool {
    let Some(expected) = expected else {
        return true;
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .unwrap_or("");
    // Lengths differ: not equal; `ct_eq` compares equal-length slices in constant time.
    bool::from(given.as_bytes().ct_eq(expected))
}

async fn authorize(State(state): State<ApiState>, req: Request, next: Next) -> Response {
    if key_matches(state.api_key.as_deref(), req.headers()) {
        return next.run(req).await;
    }
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "missing or wrong API key",
        "send the key of KRI_API_KEY (or the --api-key-file) as `Authorization: Bearer <key>`",
    )
    .into_response()
}

/// Counts every request, and turns axum's own plain-text refusals (a body that is
/// not JSON, a wrong method, a bad path parameter) into `{code, message, hint}`.
async fn count_requests(State(state): State<ApiState>, req: Request, next: Next) -> Response {
    let method = req.method().to_string();
    let response = next.run(req).await;
    let status = response.status();
    state.metrics.record_request(&method, status.as_u16());
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let text = match axum::body::to_bytes(response.into_body(), 64 * 1024).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).trim().to_string(),
        Err(_) => String::new(),
    };
    let (code, hint) = match status {
        StatusCode::METHOD_NOT_ALLOWED => (
            "method_not_allowed",
            "see GET /api/v1/openapi.json for the methods of each route",
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            "bad_request",
            "send the body as JSON with `Content-Type: application/json`",
        ),
        s if s.is_client_error() => (
            "bad_request",
            "fix the request as the message says; see GET /api/v1/openapi.json",
        ),
        _ => ("internal_error", "see the kri serve log"),
    };
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_string()
    } else {
        text
    };
    ApiError::new(status, code, message, hint).into_response()
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such route",
        "see GET /api/v1/openapi.json for the routes",
    )
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

async fn metrics(State(state): State<ApiState>) -> ApiResult<Response> {
    let (lag, alerts) = state.host.store_gauges().await?;
    state.metrics.set_store_gauges(&lag, &alerts);
    let text = state.metrics.encode().map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "metrics_error",
            e.to_string(),
            "see the kri serve log",
        )
    })?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

// ---- tenants -----------------------------------------------------------------

async fn list_tenants(State(state): State<ApiState>) -> ApiResult<Json<Vec<Tenant>>> {
    Ok(Json(state.host.tenants().await?))
}

async fn get_tenant(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Tenant>> {
    Ok(Json(state.host.tenant(&id).await?))
}

/// A tenant to add. The token is written, never read back.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AddTenant {
    id: String,
    connector: String,
    base_url: String,
    token: String,
    #[serde(default)]
    kris: Vec<String>,
    #[serde(default = "empty_object")]
    extra: serde_json::Value,
    #[serde(default)]
    allow_insecure_local: bool,
    #[serde(default)]
    quotas: BTreeMap<String, u64>,
    /// job -> ISO-8601 duration.
    #[serde(default)]
    schedules: BTreeMap<String, String>,
}

fn empty_object() -> serde_json::Value {
    serde_json::json!({})
}

fn token(text: &str) -> ApiResult<Token> {
    Token::new(text).map_err(|_| {
        ApiError::bad_request(
            "the token is empty or has control characters",
            "send the API token as a plain string",
        )
    })
}

fn schedule_items(schedules: &BTreeMap<String, String>) -> Vec<String> {
    schedules.iter().map(|(k, v)| format!("{k}={v}")).collect()
}

async fn add_tenant(
    State(state): State<ApiState>,
    Json(body): Json<AddTenant>,
) -> ApiResult<(StatusCode, Json<Tenant>)> {
    let token = token(&body.token)?;
    // Checked before anything is written.
    crate::schedule::parse_overrides(&schedule_items(&body.schedules)).map_err(|e| {
        ApiError::bad_request(
            format!("schedules: {e}"),
            "give job -> ISO-8601 duration, like {\"logs\": \"PT1M\"}",
        )
    })?;
    let id = body.id.clone();
    state
        .host
        .add_tenant(
            NewTenant {
                id: body.id,
                connector: body.connector,
                base_url: body.base_url.trim_end_matches('/').to_string(),
                kris: body.kris,
                extra: body.extra,
                allow_insecure_local: body.allow_insecure_local,
                quotas: body.quotas,
            },
            &token,
        )
        .await?;
    if !body.schedules.is_empty() {
        state
            .host
            .update_schedules(&id, &schedule_items(&body.schedules))
            .await?;
    }
    state.scheduler.request_sync();
    Ok((StatusCode::CREATED, Json(state.host.tenant(&id).await?)))
}

/// Changes to a tenant; what is left out stays.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateTenant {
    extra: Option<serde_json::Value>,
    token: Option<String>,
    /// Quotas to set; the others stay.
    quotas: Option<BTreeMap<String, u64>>,
    /// The KRIs to compute; `[]` for all.
    kris: Option<Vec<String>>,
    /// Schedule overrides to set (job -> ISO-8601 duration, or `default` to drop one).
    schedules: Option<BTreeMap<String, String>>,
}

async fn update_tenant(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    Json(body): Json<UpdateTenant>,
) -> ApiResult<Json<Tenant>> {
    let host = &state.host;
    host.tenant(&id).await?;
    let token = body.token.as_deref().map(token).transpose()?;
    if let Some(quotas) = &body.quotas {
        host.update_quotas(&id, quotas).await?;
    }
    if let Some(schedules) = &body.schedules {
        host.update_schedules(&id, &schedule_items(schedules))
            .await?;
    }
    if let Some(token) = token {
        host.update_token(&id, &token).await?;
    }
    if let Some(extra) = &body.extra {
        host.set_tenant_extra(&id, extra).await?;
    }
    if let Some(kris) = &body.kris {
        host.set_kris(&id, kris, false).await?;
    }
    state.scheduler.request_sync();
    Ok(Json(host.tenant(&id).await?))
}

async fn remove_tenant(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state.host.remove_tenant(&id).await?;
    state.scheduler.request_sync();
    Ok(StatusCode::NO_CONTENT)
}

// ---- runs --------------------------------------------------------------------

#[derive(Debug, Deserialize)]
struct Limit {
    limit: Option<usize>,
}

async fn list_runs(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    Query(q): Query<Limit>,
) -> ApiResult<Response> {
    Ok(Json(state.host.runs(&id, q.limit.unwrap_or(20)).await?).into_response())
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RunNow {
    /// The job to run; the connector's default job (`kris`) when left out.
    job: Option<String>,
}

/// Starts a run now and answers 202 with the run as recorded (`running`); 409 while
/// that job of the tenant runs already; 429 while every run slot
/// (`--max-concurrent`) is taken.
async fn run_now(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    body: Option<Json<RunNow>>,
) -> ApiResult<Response> {
    let body = body.map(|Json(b)| b).unwrap_or_default();
    let tenant = state.host.tenant(&id).await?;
    // A run started by hand takes a run slot like a scheduled one.
    let Some(slot) = state.scheduler.try_slot() else {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "no_run_slot",
            format!(
                "all {} run slots of this kri serve are busy (--max-concurrent)",
                state.scheduler.max_concurrent()
            ),
            "try again when a run has finished (see GET /api/v1/tenants/{id}/runs), or start kri serve with a higher --max-concurrent",
        ));
    };
    let started = state
        .host
        .begin_run(
            &tenant.connector,
            &id,
            RunOptions {
                job: body.job,
                ..RunOptions::default()
            },
        )
        .await?;
    let (run_id, job) = (started.run_id, started.job.clone());
    state.scheduler.track(job, started.finish, slot).await;
    let run = state
        .host
        .runs(&id, 50)
        .await?
        .into_iter()
        .find(|r| r.id == run_id);
    Ok((StatusCode::ACCEPTED, Json(run)).into_response())
}

// ---- KRIs, alerts, events, query ------------------------------------------------

async fn latest_kris(State(state): State<ApiState>, Path(id): Path<String>) -> ApiResult<Response> {
    Ok(Json(state.host.latest_kris(&id).await?).into_response())
}

#[derive(Debug, Deserialize)]
struct HistoryQuery {
    slug: Option<String>,
    limit: Option<usize>,
}

async fn kri_history(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    Query(q): Query<HistoryQuery>,
) -> ApiResult<Response> {
    let points = state
        .host
        .kri_history(&id, q.slug.as_deref(), q.limit.unwrap_or(500))
        .await?;
    Ok(Json(points).into_response())
}

#[derive(Debug, Deserialize)]
struct AlertQuery {
    status: Option<String>,
    severity: Option<String>,
}

async fn list_alerts(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    Query(q): Query<AlertQuery>,
) -> ApiResult<Response> {
    let status = q
        .status
        .as_deref()
        .map(|w| {
            AlertStatus::parse(w).ok_or_else(|| {
                ApiError::bad_request(
                    format!("status `{w}`"),
                    "use open, acknowledged or resolved",
                )
            })
        })
        .transpose()?;
    let severity = q
        .severity
        .as_deref()
        .map(|w| {
            w.parse::<Severity>().map_err(|_| {
                ApiError::bad_request(
                    format!("severity `{w}`"),
                    "use info, low, medium, high or critical",
                )
            })
        })
        .transpose()?;
    let alerts = state.host.alerts(&id, status, severity).await?;
    let out: Vec<AlertJson> = alerts.iter().map(AlertJson::of).collect();
    Ok(Json(out).into_response())
}

async fn set_alert(state: &ApiState, id: i64, status: AlertStatus) -> ApiResult<Response> {
    let alert = state.host.set_alert_status(id, status).await?;
    Ok(Json(AlertJson::of(&alert)).into_response())
}

async fn ack_alert(State(state): State<ApiState>, Path(id): Path<i64>) -> ApiResult<Response> {
    set_alert(&state, id, AlertStatus::Acknowledged).await
}

async fn resolve_alert(State(state): State<ApiState>, Path(id): Path<i64>) -> ApiResult<Response> {
    set_alert(&state, id, AlertStatus::Resolved).await
}

#[derive(Debug, Deserialize)]
struct EventQuery {
    since_ms: Option<i64>,
    #[serde(rename = "type")]
    event_type: Option<String>,
    actor: Option<String>,
    limit: Option<usize>,
}

async fn list_events(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    Query(q): Query<EventQuery>,
) -> ApiResult<Response> {
    let filter = EventFilter {
        since_ms: q.since_ms,
        event_type: q.event_type,
        actor: q.actor,
    };
    let events = state
        .host
        .events(&id, &filter, q.limit.unwrap_or(100))
        .await?;
    let out: Vec<EventJson> = events.iter().map(EventJson::of).collect();
    Ok(Json(out).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct QueryBody {
    sql: String,
    timeout_ms: Option<u64>,
    max_rows: Option<usize>,
}

#[derive(Debug, Serialize)]
struct QueryAnswer {
    columns: Vec<String>,
    rows: Vec<serde_json::Map<String, serde_json::Value>>,
    truncated: bool,
}

async fn query(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    Json(body): Json<QueryBody>,
) -> ApiResult<Json<QueryAnswer>> {
    state.host.tenant(&id).await?;
    let limits = QueryLimits {
        timeout: std::time::Duration::from_millis(body.timeout_ms.unwrap_or(10_000).min(60_000)),
        max_rows: body.max_rows.unwrap_or(10_000).min(100_000),
    };
    let rows = state.host.query(&id, &body.sql, limits).await?;
    Ok(Json(QueryAnswer {
        rows: rows.objects(),
        columns: rows.columns,
        truncated: rows.truncated,
    }))
}

// ---- schedules and plugins --------------------------------------------------------

async fn list_schedules(State(state): State<ApiState>) -> ApiResult<Response> {
    Ok(Json(state.host.schedules().await?).into_response())
}

#[derive(Debug, Serialize)]
struct PluginInfo {
    name: String,
    version: String,
    contract: &'static str,
    path: std::path::PathBuf,
    jobs: Vec<crate::plugins::JobSpec>,
}

#[derive(Debug, Serialize)]
struct PluginsAnswer {
    connectors: Vec<PluginInfo>,
    /// Files rejected at the last scan, with why (a connector whose new file broke
    /// keeps serving its previous version, named here).
    rejected: Vec<crate::serve::reload::RejectedFile>,
    reloads: u64,
    last_reload_ms: Option<i64>,
}

async fn plugins(State(state): State<ApiState>) -> Json<PluginsAnswer> {
    let registry = state.host.registry();
    let status = state
        .reloads
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let rejected = if status.reloads == 0 {
        registry
            .rejected
            .iter()
            .map(|r| crate::serve::reload::RejectedFile {
                path: r.path.clone(),
                error: r.error.to_string(),
                previous_version_serving: None,
            })
            .collect()
    } else {
        status.rejected
    };
    Json(PluginsAnswer {
        connectors: registry
            .plugins
            .values()
            .map(|p| PluginInfo {
                name: p.manifest.name.clone(),
                version: p.manifest.version.clone(),
                contract: p.manifest.contract,
                path: p.path.clone(),
                jobs: p.manifest.jobs.clone(),
            })
            .collect(),
        rejected,
        reloads: status.reloads,
        last_reload_ms: status.last_reload_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_checked_exactly() {
        let mut headers = HeaderMap::new();
        assert!(key_matches(None, &headers), "no key configured: open");
        let key: &[u8] = b"s3cret-key";
        assert!(!key_matches(Some(key), &headers), "no header");
        let cases: &[(&str, bool)] = &[
            ("Bearer s3cret-key", true),
            ("Bearer s3cret-ke", false),
            ("Bearer s3cret-key2", false),
            ("bearer s3cret-key", false),
            ("s3cret-key", false),
            ("Bearer ", false),
            ("Basic czNjcmV0LWtleQ==", false),
        ];
        for (value, want) in cases {
            headers.insert(header::AUTHORIZATION, value.parse().expect("header"));
            assert_eq!(key_matches(Some(key), &headers), *want, "{value}");
        }
    }

    #[test]
    fn the_openapi_document_names_every_route() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI).expect("openapi.json is JSON");
        let paths = doc["paths"].as_object().expect("paths");
        // (path, method) of every route of `router`.
        let routes: &[(&str, &str)] = &[
            ("/api/v1/openapi.json", "get"),
            ("/api/v1/tenants", "get"),
            ("/api/v1/tenants", "post"),
            ("/api/v1/tenants/{id}", "get"),
            ("/api/v1/tenants/{id}", "patch"),
            ("/api/v1/tenants/{id}", "delete"),
            ("/api/v1/tenants/{id}/runs", "get"),
            ("/api/v1/tenants/{id}/runs", "post"),
            ("/api/v1/tenants/{id}/kris", "get"),
            ("/api/v1/tenants/{id}/kris/history", "get"),
            ("/api/v1/tenants/{id}/alerts", "get"),
            ("/api/v1/tenants/{id}/events", "get"),
            ("/api/v1/tenants/{id}/query", "post"),
            ("/api/v1/alerts/{id}/ack", "post"),
            ("/api/v1/alerts/{id}/resolve", "post"),
            ("/api/v1/schedules", "get"),
            ("/api/v1/plugins", "get"),
            ("/metrics", "get"),
        ];
        for (path, method) in routes {
            assert!(
                paths.get(*path).and_then(|p| p.get(*method)).is_some(),
                "{method} {path} is missing from docs/openapi.json"
            );
        }
        let documented: usize = paths
            .values()
            .map(|p| {
                p.as_object()
                    .map_or(0, |o| o.keys().filter(|k| *k != "parameters").count())
            })
            .sum();
        assert_eq!(
            documented,
            routes.len(),
            "docs/openapi.json documents a route the server lacks"
        );
    }
}
