//! The connector's entry points over the SDK's host traits: the manifest with its
//! three jobs, `check`, and `run` per job (`kris` here, `inventory` in
//! `inventory/`). [`Okta`] is what `lib.rs` exports.

use crate::api::models::User;
use crate::api::{ApiError, OktaClient, USERS};
use crate::budget::TimeBudget;
use crate::collect::{Collected, Collector, Got, Needs};
use crate::config::{self, Config};
use crate::kris::graph_kris::GraphKri;
use crate::kris::{
    admin_session_outliers, app_policy_exceptions, inactive_users_with_app_access, mfa_adoption,
    not_evaluated, phish_resistant_mfa, Kri,
};
use kri_connector_sdk::manifest::{job, oauth_client_credentials, token_auth};
use kri_connector_sdk::types::{
    BucketScheme, ConcurrencySignal, ConnectorError, KriValue, Level, Manifest, Output, OutputKind,
    RateLimitProfile, ResetFormat, RunRequest, RunSummary,
};
use kri_connector_sdk::Connector;
pub use kri_connector_sdk::Host;
use serde_json::json;
use std::collections::BTreeSet;

/// The job that computes the KRIs.
pub const KRIS: &str = "kris";
/// The identity inventory: graph nodes and edges, and the four graph KRIs.
pub const INVENTORY: &str = "inventory";
/// The System Log stream (events, and the alerts the detections raise): `crate::logs`.
pub const LOGS: &str = "logs";

/// Path words of Okta's API that the host's bucket rules would otherwise take for ids.
const FIXED_PATH_WORDS: [&str; 14] = [
    "oauth2",
    "saml2",
    "authorizationServers",
    "identitySources",
    "trustedOrigins",
    "linkedObjects",
    "inlineHooks",
    "eventHooks",
    "emailDomains",
    "customDomains",
    "roleAssignments",
    "privilegedResources",
    "pushProviders",
    "resourceSets",
];

/// Okta's rate limits: per endpoint family, reported in `X-Rate-Limit-*` headers with
/// the reset in epoch seconds; a concurrency 429 has limit and remaining 0.
fn rate_limit() -> RateLimitProfile {
    RateLimitProfile {
        limit_header: "X-Rate-Limit-Limit".to_string(),
        remaining_header: "X-Rate-Limit-Remaining".to_string(),
        reset_header: "X-Rate-Limit-Reset".to_string(),
        reset_format: ResetFormat::EpochSeconds,
        buckets: BucketScheme::PerEndpoint(FIXED_PATH_WORDS.map(String::from).to_vec()),
        concurrency: ConcurrencySignal::LimitAndRemainingZero,
    }
}

/// The manifest; cheap, calls nothing.
pub fn describe() -> Manifest {
    Manifest {
        name: "okta".to_string(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        description: "Okta identity KRIs from the Management API and the System Log: MFA \
                      and phishing-resistant MFA adoption, suspended users with app access, \
                      impossible travel, long admin sessions, denied Okta Verify pushes and \
                      app sign-on policy exceptions; and the identity graph (users, groups, \
                      apps, admin roles, API tokens) with admin, super-admin, API-token and \
                      inactive-user KRIs. Needs a read-only admin API token (roles need \
                      okta.roles.read)."
            .to_string(),
        kris: Kri::ALL
            .iter()
            .map(|k| k.definition())
            .chain(GraphKri::ALL.iter().map(|k| k.definition()))
            .collect(),
        jobs: vec![
            job(KRIS, "Computes the seven KRIs.", "P1D", &[OutputKind::Kri]),
            job(
                INVENTORY,
                "The identity graph: users, groups, apps, admin roles and API tokens with \
                 their links, and the four graph KRIs; full every 24 h, incremental from \
                 the System Log in between.",
                "PT30M",
                &[OutputKind::Node, OutputKind::Edge, OutputKind::Kri],
            ),
            job(
                LOGS,
                "Polls the System Log: stores its events and raises the alerts the eleven \
                 detections find in it.",
                "PT1M",
                &[OutputKind::Event, OutputKind::Alert],
            ),
        ],
        auth: auth(),
        config_schema: config::schema(),
        rate_limit: rate_limit(),
    }
}

/// The scopes an OAuth service app needs for every job: users, factors, app links
/// and policies for the KRIs, the System Log for the logs job, and groups, apps,
/// roles and API tokens for the inventory.
pub const OAUTH_SCOPES: &[&str] = &[
    "okta.users.read",
    "okta.policies.read",
    "okta.logs.read",
    "okta.groups.read",
    "okta.apps.read",
    "okta.roles.read",
    "okta.apiTokens.read",
];

/// An SSWS API token, or an OAuth 2.0 service app on the org authorization server.
fn auth() -> Vec<kri_connector_sdk::types::AuthScheme> {
    let mut schemes = token_auth("SSWS {token}");
    schemes.push(oauth_client_credentials("/oauth2/v1/token", OAUTH_SCOPES));
    schemes
}

/// The Okta connector, as the SDK exports it.
pub struct Okta;

impl Connector for Okta {
    fn describe() -> Manifest {
        describe()
    }

    fn check(host: &mut Host<'_>, req: &RunRequest) -> Result<(), ConnectorError> {
        check(host, req)
    }

    fn run(host: &mut Host<'_>, req: &RunRequest) -> Result<RunSummary, ConnectorError> {
        match req.job.as_str() {
            KRIS => run(host, req),
            INVENTORY => crate::inventory::run(host, req),
            LOGS => crate::logs::run(host, req),
            other => Err(ConnectorError::InvalidConfig(format!(
                "unknown job {other:?}; this connector runs: {KRIS}, {INVENTORY}, {LOGS}"
            ))),
        }
    }
}

/// One cheap authenticated call: `GET /api/v1/users?limit=1`.
pub fn check(host: &mut Host<'_>, req: &RunRequest) -> Result<(), ConnectorError> {
    Config::parse(&req.extra_config)?;
    let mut client = OktaClient::new(&mut *host.http);
    match client.get_page::<User>(USERS, "/api/v1/users?limit=1") {
        Ok(_) => {
            host.log
                .log(Level::Info, "check: Okta accepted the API token");
            Ok(())
        }
        Err(ApiError::Forbidden(d)) => Err(ConnectorError::Forbidden(format!(
            "the API token works but cannot list users: {}",
            d.reason()
        ))),
        Err(e) => Err(e.into_connector_error()),
    }
}

/// The KRIs of the `kris` job a request selects (empty = all), in manifest order;
/// the graph KRIs' slugs are the `inventory` job's and are passed over here.
pub fn selected_kris(slugs: &[String]) -> Result<BTreeSet<Kri>, ConnectorError> {
    if slugs.is_empty() {
        return Ok(Kri::ALL.into_iter().collect());
    }
    slugs
        .iter()
        .filter(|s| GraphKri::from_slug(s).is_none())
        .map(|s| {
            Kri::from_slug(s).ok_or_else(|| {
                ConnectorError::InvalidConfig(format!(
                    "unknown KRI slug {s:?}; this connector computes: {}",
                    Kri::ALL.map(Kri::slug).join(", ")
                ))
            })
        })
        .collect()
}

fn reason_of(d: &crate::api::Denied) -> String {
    d.reason()
}

/// Computes one KRI from what was collected.
pub fn compute(kri: Kri, c: &Collected, now: i64) -> KriValue {
    fn with<T>(kri: Kri, got: &Option<Got<T>>, f: impl FnOnce(&T) -> KriValue) -> KriValue {
        match got {
            Some(Ok(data)) => f(data),
            Some(Err(d)) => not_evaluated(
                kri,
                &reason_of(d),
                json!({"endpoint": d.endpoint, "missing_permission": d.permission, "status": d.status, "error_code": d.error_code}),
            ),
            None => not_evaluated(kri, "not collected", json!({})),
        }
    }
    // A KRI over per-user data waits until every listed user has some.
    let sync = match kri {
        Kri::MfaAdoption | Kri::PhishResistantMfa => c.mfa_sync,
        Kri::InactiveUsersWithAppAccess => c.suspended_sync,
        _ => None,
    };
    if let Some(p) = sync {
        return not_evaluated(
            kri,
            &p.reason(),
            json!({"users_with_data": p.done, "users": p.total, "first_sync": p.first}),
        );
    }
    match kri {
        Kri::MfaAdoption => with(kri, &c.mfa, mfa_adoption::mfa_adoption),
        Kri::PhishResistantMfa => with(kri, &c.mfa, phish_resistant_mfa::phish_resistant_mfa),
        Kri::InactiveUsersWithAppAccess => with(kri, &c.suspended, |s| {
            inactive_users_with_app_access::inactive_users_with_app_access(
                &s.users, s.skipped, &s.refresh,
            )
        }),
        Kri::ImpossibleTravel24h => with(kri, &c.events_24h, |d| d.travel.finish(&d.filter)),
        Kri::FailedMfaPush24h => with(kri, &c.events_24h, |d| d.push.finish(&d.filter)),
        Kri::AdminSessionOutliers24h => with(kri, &c.admin, |a| {
            admin_session_outliers::admin_session_outliers(&a.book, now, &a.stats)
        }),
        Kri::AppPolicyExceptions => with(kri, &c.policies, |p| {
            app_policy_exceptions::app_policy_exceptions(p)
        }),
    }
}

/// A run of the `kris` job within the request's time budget, counted from now.
pub fn run(host: &mut Host<'_>, req: &RunRequest) -> Result<RunSummary, ConnectorError> {
    run_within(host, req, &TimeBudget::starting_now(req.time_budget_ms))
}

/// A run of the `kris` job: fetch (the per-user fetches within `budget`), compute, emit.
pub fn run_within(
    host: &mut Host<'_>,
    req: &RunRequest,
    budget: &TimeBudget,
) -> Result<RunSummary, ConnectorError> {
    let cfg = Config::parse(&req.extra_config)?;
    let kris = selected_kris(&req.kris)?;
    let now = req.now_ms;
    host.log.log(
        Level::Info,
        &format!(
            "run at {} for {} KRIs",
            crate::time::ms_to_iso(now),
            kris.len()
        ),
    );
    let collected = {
        let client = OktaClient::new(&mut *host.http);
        Collector::new(
            client,
            &mut *host.state,
            &mut *host.events,
            &mut *host.log,
            &cfg,
            now,
            budget,
        )
        .collect(Needs::of(&kris))?
    };
    let values: Vec<KriValue> = kris.iter().map(|k| compute(*k, &collected, now)).collect();
    let mut not_evaluated = Vec::new();
    for v in &values {
        if let Some(reason) = &v.not_evaluated_reason {
            host.log
                .log(Level::Warn, &format!("{} not evaluated: {reason}", v.slug));
            not_evaluated.push(v.slug.clone());
        } else {
            host.log.log(
                Level::Info,
                &format!("{} = {}", v.slug, v.value.unwrap_or_default()),
            );
        }
    }
    let evaluated = values.len() - not_evaluated.len();
    let batch = values.into_iter().map(Output::Kri).collect();
    host.output
        .emit(batch)
        .map_err(|e| ConnectorError::HostLimit(format!("emitting the KRIs failed: {e}")))?;
    let mut note = format!(
        "{evaluated} of {} KRIs evaluated with {} API requests",
        kris.len(),
        collected.requests
    );
    if !not_evaluated.is_empty() {
        note.push_str(&format!("; not evaluated: {}", not_evaluated.join(", ")));
    }
    if let Some(Ok(pop)) = &collected.mfa {
        note.push_str(&format!(
            "; factors refresh {} ({} users fetched)",
            pop.refresh.mode, pop.refresh.factors_fetched
        ));
    }
    if let Some(Ok(s)) = &collected.suspended {
        note.push_str(&format!(
            "; app links refresh {} ({} users fetched)",
            s.refresh.mode, s.refresh.fetched
        ));
    }
    if let Some(Ok(day)) = &collected.events_24h {
        note.push_str(&format!("; last 24 h from the {}", day.source.describe()));
    }
    for p in [&collected.mfa_sync, &collected.suspended_sync]
        .into_iter()
        .flatten()
    {
        note.push_str(&format!("; {}, the next run goes on", p.reason()));
    }
    Ok(RunSummary {
        items_read: collected.items_read,
        items_skipped: collected.items_skipped,
        note,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_lists_the_seven_kris_then_the_four_graph_kris() {
        let m = describe();
        assert_eq!(m.name, "okta");
        assert_eq!(m.auth[0], token_auth("SSWS {token}")[0]);
        assert!(
            matches!(&m.auth[1], kri_connector_sdk::types::AuthScheme::OauthClientCredentials(o)
                if o.token_path == "/oauth2/v1/token" && o.scopes.iter().any(|s| s == "okta.roles.read")),
            "{:?}",
            m.auth
        );
        assert_eq!(m.kris.len(), 11);
        let slugs: Vec<&str> = m.kris.iter().map(|k| k.slug.as_str()).collect();
        assert_eq!(&slugs[..7], &Kri::ALL.map(Kri::slug)[..]);
        assert_eq!(&slugs[7..], &GraphKri::ALL.map(GraphKri::slug)[..]);
        assert!(serde_json::from_str::<serde_json::Value>(&m.config_schema).is_ok());
    }

    #[test]
    fn manifest_declares_three_jobs_kris_daily() {
        let jobs: Vec<(String, String)> = describe()
            .jobs
            .into_iter()
            .map(|j| (j.name, j.default_schedule))
            .collect();
        let want = [(KRIS, "P1D"), (INVENTORY, "PT30M"), (LOGS, "PT1M")];
        assert_eq!(
            jobs,
            want.map(|(n, s)| (n.to_string(), s.to_string())).to_vec()
        );
    }

    #[test]
    fn an_unknown_job_is_refused_before_any_request() {
        use kri_connector_sdk::fakes::{FakeHost, FakeHttp};
        let mut fake = FakeHost::new(FakeHttp::new(|_: &kri_connector_sdk::http::Request| {
            Err(kri_connector_sdk::http::HttpError::Denied("no".into()))
        }));
        let req = RunRequest {
            job: "nope".into(),
            now_ms: 0,
            time_budget_ms: 1_000,
            kris: vec![],
            extra_config: "{}".into(),
        };
        assert!(matches!(
            Okta::run(&mut fake.host(), &req),
            Err(ConnectorError::InvalidConfig(_))
        ));
        assert!(fake.http.sent.is_empty());
    }

    #[test]
    fn selection() {
        assert_eq!(selected_kris(&[]).map(|s| s.len()), Ok(7));
        assert_eq!(
            selected_kris(&["okta_failed_mfa_push_24h".into()]).map(|s| s.len()),
            Ok(1)
        );
        assert_eq!(
            selected_kris(&[
                "okta_failed_mfa_push_24h".into(),
                "okta_super_admin_count".into()
            ])
            .map(|s| s.len()),
            Ok(1)
        );
        assert!(matches!(
            selected_kris(&["okta_nope".into()]),
            Err(ConnectorError::InvalidConfig(_))
        ));
    }
}
