//! The connector's three entry points (`describe`, `check`, `run`) over plain Rust host
//! traits. The wasm glue in `lib.rs` only adapts the WIT bindings to [`Host`].

use crate::api::models::User;
use crate::api::{ApiError, OktaClient, Transport, USERS};
use crate::collect::{Collected, Collector, Got, Needs};
use crate::config::{self, Config};
use crate::kris::{
    admin_session_outliers, app_policy_exceptions, failed_mfa_push, impossible_travel,
    inactive_users_with_app_access, mfa_adoption, not_evaluated, phish_resistant_mfa, Kri, Window,
};
use crate::types::{
    ConnectorError, KriValue, Level, Logger, Manifest, Output, RunRequest, RunSummary, StateStore,
};
use serde_json::json;
use std::collections::BTreeSet;

/// The host's imports, as plain trait objects.
pub struct Host<'a> {
    pub http: &'a mut dyn Transport,
    pub state: &'a mut dyn StateStore,
    pub output: &'a mut dyn Output,
    pub log: &'a mut dyn Logger,
}

/// The manifest; cheap, calls nothing.
pub fn describe() -> Manifest {
    Manifest {
        name: "okta".to_string(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        description: "Okta identity KRIs from the Management API and the System Log: MFA \
                      and phishing-resistant MFA adoption, suspended users with app access, \
                      impossible travel, long admin sessions, denied Okta Verify pushes and \
                      app sign-on policy exceptions. Needs a read-only admin API token."
            .to_string(),
        kris: Kri::ALL.iter().map(|k| k.definition()).collect(),
        auth_scheme: "SSWS {token}".to_string(),
        config_schema: config::schema(),
        default_schedule: "PT6H".to_string(),
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

/// The KRIs a request selects (empty = all), in manifest order.
pub fn selected_kris(slugs: &[String]) -> Result<BTreeSet<Kri>, ConnectorError> {
    if slugs.is_empty() {
        return Ok(Kri::ALL.into_iter().collect());
    }
    slugs
        .iter()
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
    match kri {
        Kri::MfaAdoption => with(kri, &c.mfa, mfa_adoption::mfa_adoption),
        Kri::PhishResistantMfa => with(kri, &c.mfa, phish_resistant_mfa::phish_resistant_mfa),
        Kri::InactiveUsersWithAppAccess => with(kri, &c.suspended, |s| {
            inactive_users_with_app_access::inactive_users_with_app_access(
                &s.users, s.skipped, &s.refresh,
            )
        }),
        Kri::ImpossibleTravel24h => with(kri, &c.events_24h, |e| {
            impossible_travel::impossible_travel(e, Window::last_24h(now))
        }),
        Kri::FailedMfaPush24h => with(kri, &c.events_24h, |e| {
            failed_mfa_push::failed_mfa_push(e, Window::last_24h(now))
        }),
        Kri::AdminSessionOutliers24h => with(kri, &c.admin, |a| {
            admin_session_outliers::admin_session_outliers(&a.book, now, &a.stats)
        }),
        Kri::AppPolicyExceptions => with(kri, &c.policies, |p| {
            app_policy_exceptions::app_policy_exceptions(p)
        }),
    }
}

/// A full run: fetch, compute, emit.
pub fn run(host: &mut Host<'_>, req: &RunRequest) -> Result<RunSummary, ConnectorError> {
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
        Collector::new(client, &mut *host.state, &mut *host.log, &cfg, now)
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
    for v in values {
        let slug = v.slug.clone();
        host.output
            .emit_kri(v)
            .map_err(|e| ConnectorError::HostLimit(format!("emitting {slug} failed: {e}")))?;
    }
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
    fn manifest_lists_the_seven_kris() {
        let m = describe();
        assert_eq!(m.name, "okta");
        assert_eq!(m.auth_scheme, "SSWS {token}");
        assert_eq!(m.default_schedule, "PT6H");
        assert_eq!(m.kris.len(), 7);
        assert!(serde_json::from_str::<serde_json::Value>(&m.config_schema).is_ok());
    }

    #[test]
    fn selection() {
        assert_eq!(selected_kris(&[]).map(|s| s.len()), Ok(7));
        assert_eq!(
            selected_kris(&["okta_failed_mfa_push_24h".into()]).map(|s| s.len()),
            Ok(1)
        );
        assert!(matches!(
            selected_kris(&["okta_nope".into()]),
            Err(ConnectorError::InvalidConfig(_))
        ));
    }
}
