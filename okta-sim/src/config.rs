//! Server configuration: the accepted token, Okta-like rate limits per endpoint family
//! (fixed windows plus a concurrency limit), injected faults and latency.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

/// An endpoint family: requests in one family share one rate-limit bucket, as in Okta.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    /// `GET /api/v1/users` and `GET /api/v1/users/{id}` (and other per-user paths).
    Users,
    /// `/api/v1/users/{id}/factors`.
    UserFactors,
    /// `/api/v1/users/{id}/appLinks`.
    UserAppLinks,
    /// `/api/v1/logs`.
    Logs,
    /// `/api/v1/apps`.
    Apps,
    /// `/api/v1/groups`.
    Groups,
    /// `/api/v1/policies` and their rules.
    Policies,
    /// `/api/v1/api-tokens`.
    ApiTokens,
    /// Reading admin roles: `/api/v1/iam/...` (assignees, custom roles, resource sets) and
    /// the role assignments and targets under `/api/v1/users/{id}/roles` and
    /// `/api/v1/groups/{id}/roles`. Forbidding this family is a token that cannot read
    /// roles (a read-only admin's): 403 `E0000006` on every role endpoint.
    Iam,
}

impl Family {
    /// Every family.
    pub const ALL: [Family; 9] = [
        Family::Users,
        Family::UserFactors,
        Family::UserAppLinks,
        Family::Logs,
        Family::Apps,
        Family::Groups,
        Family::Policies,
        Family::ApiTokens,
        Family::Iam,
    ];

    /// The family a request path belongs to (path only, no query), or `None` for paths
    /// outside the simulated API.
    pub fn of_path(path: &str) -> Option<Family> {
        let rest = path.strip_prefix("/api/v1/")?;
        let mut parts = rest.split('/').filter(|s| !s.is_empty());
        let first = parts.next()?;
        match first {
            "users" => match (parts.next(), parts.next()) {
                (Some(_), Some("factors")) => Some(Family::UserFactors),
                (Some(_), Some("appLinks")) => Some(Family::UserAppLinks),
                (Some(_), Some("roles")) => Some(Family::Iam),
                _ => Some(Family::Users),
            },
            "logs" => Some(Family::Logs),
            "apps" => Some(Family::Apps),
            "groups" => match (parts.next(), parts.next()) {
                (Some(_), Some("roles")) => Some(Family::Iam),
                _ => Some(Family::Groups),
            },
            "policies" => Some(Family::Policies),
            "api-tokens" => Some(Family::ApiTokens),
            "iam" => Some(Family::Iam),
            _ => None,
        }
    }

    /// The snake_case name (`user_factors`).
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Users => "users",
            Family::UserFactors => "user_factors",
            Family::UserAppLinks => "user_applinks",
            Family::Logs => "logs",
            Family::Apps => "apps",
            Family::Groups => "groups",
            Family::Policies => "policies",
            Family::ApiTokens => "api_tokens",
            Family::Iam => "iam",
        }
    }

    /// Okta's per-minute limit for this family (the simulator's default).
    pub fn okta_limit_per_minute(self) -> u32 {
        match self {
            Family::Users | Family::UserFactors | Family::UserAppLinks => 600,
            Family::Logs => 120,
            Family::Apps => 100,
            Family::Groups => 500,
            Family::Policies | Family::ApiTokens | Family::Iam => 100,
        }
    }
}

/// Rate limiting: a fixed window per family and a limit on requests in flight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitConfig {
    /// When false, the `X-Rate-Limit-*` headers are still sent but nothing is refused.
    pub enabled: bool,
    /// Window length in milliseconds (windows are aligned to multiples of it on the wall clock).
    pub window_ms: u64,
    /// Requests allowed per window per family; a family not listed is unlimited.
    pub limits: BTreeMap<Family, u32>,
    /// Requests allowed in flight at once; more get a concurrency 429.
    pub concurrency: u32,
}

impl Default for RateLimitConfig {
    /// Okta's real limits: per minute, concurrency 75.
    fn default() -> Self {
        RateLimitConfig {
            enabled: true,
            window_ms: 60_000,
            limits: Family::ALL
                .iter()
                .map(|f| (*f, f.okta_limit_per_minute()))
                .collect(),
            concurrency: 75,
        }
    }
}

impl RateLimitConfig {
    /// Okta's per-minute limits multiplied by `factor` (at least 1 each, ratios between
    /// families kept) over a window of `window_ms`. The concurrency limit stays Okta's 75.
    ///
    /// `scaled(1_000, 1.0 / 60.0)` keeps Okta's request rate with one-second windows;
    /// `scaled(1_000, 1.0)` allows a full minute's budget every second.
    pub fn scaled(window_ms: u64, factor: f64) -> RateLimitConfig {
        let factor = if factor.is_finite() && factor > 0.0 {
            factor
        } else {
            1.0
        };
        RateLimitConfig {
            enabled: true,
            window_ms: window_ms.max(1),
            limits: Family::ALL
                .iter()
                .map(|f| {
                    let scaled = (f64::from(f.okta_limit_per_minute()) * factor).round();
                    (*f, scaled.clamp(1.0, f64::from(u32::MAX)) as u32)
                })
                .collect(),
            concurrency: 75,
        }
    }

    /// The limit for `family` (`u32::MAX` when not listed).
    pub fn limit(&self, family: Family) -> u32 {
        self.limits.get(&family).copied().unwrap_or(u32::MAX)
    }
}

/// Faults to inject, per family.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FaultConfig {
    /// Families that answer 403 `E0000006` (the token lacks permission).
    pub forbidden: BTreeSet<Family>,
    /// The next N requests of each family answer 500 or 503 with an Okta error body.
    pub server_errors: BTreeMap<Family, u32>,
    /// Families that answer 200 with a truncated, unparseable JSON body.
    pub malformed: BTreeSet<Family>,
}

/// Everything about how the server behaves, apart from the org it serves.
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    /// Requests need `Authorization: SSWS <token>`.
    pub token: String,
    pub rate_limits: RateLimitConfig,
    pub faults: FaultConfig,
    /// Added to every response.
    pub latency_ms: u64,
    /// Latency varies by up to this much either way.
    pub latency_jitter_ms: u64,
    /// A service app that may sign in with OAuth client credentials (besides the
    /// SSWS token).
    pub oauth: Option<crate::oauth::OAuthApp>,
}

impl Default for SimConfig {
    /// Token `sim-token`, Okta's real limits with 60 s windows, no faults, no latency.
    fn default() -> Self {
        SimConfig {
            token: "sim-token".into(),
            rate_limits: RateLimitConfig::default(),
            faults: FaultConfig::default(),
            latency_ms: 0,
            latency_jitter_ms: 0,
            oauth: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_of_paths() {
        assert_eq!(Family::of_path("/api/v1/users"), Some(Family::Users));
        assert_eq!(Family::of_path("/api/v1/users/00u1"), Some(Family::Users));
        assert_eq!(
            Family::of_path("/api/v1/users/00u1/factors"),
            Some(Family::UserFactors)
        );
        assert_eq!(
            Family::of_path("/api/v1/users/00u1/appLinks"),
            Some(Family::UserAppLinks)
        );
        assert_eq!(Family::of_path("/api/v1/logs"), Some(Family::Logs));
        assert_eq!(
            Family::of_path("/api/v1/policies/rst1/rules"),
            Some(Family::Policies)
        );
        assert_eq!(
            Family::of_path("/api/v1/iam/assignees/users"),
            Some(Family::Iam)
        );
        assert_eq!(
            Family::of_path("/api/v1/api-tokens"),
            Some(Family::ApiTokens)
        );
        assert_eq!(
            Family::of_path("/api/v1/users/00u1/roles/ra1/targets/groups"),
            Some(Family::Iam)
        );
        assert_eq!(
            Family::of_path("/api/v1/groups/00g1/roles"),
            Some(Family::Iam)
        );
        assert_eq!(
            Family::of_path("/api/v1/groups/00g1/users"),
            Some(Family::Groups)
        );
        assert_eq!(
            Family::of_path("/api/v1/apps/0oa1/users"),
            Some(Family::Apps)
        );
        assert_eq!(Family::of_path("/api/v1/brands"), None);
        assert_eq!(Family::of_path("/"), None);
    }

    #[test]
    fn all_is_in_declaration_order() {
        // The server indexes its windows by `family as usize`.
        for (i, f) in Family::ALL.iter().enumerate() {
            assert_eq!(*f as usize, i);
        }
    }

    #[test]
    fn scaling_keeps_ratios() {
        let c = RateLimitConfig::scaled(1_000, 0.1);
        assert_eq!(c.limit(Family::Users), 60);
        assert_eq!(c.limit(Family::Logs), 12);
        assert_eq!(c.limit(Family::Apps), 10);
        assert_eq!(c.window_ms, 1_000);
        assert_eq!(RateLimitConfig::default().limit(Family::Groups), 500);
    }
}
