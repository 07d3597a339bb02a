//! The four KRIs the `inventory` job computes from the identity graph it just read:
//! admins without phishing-resistant MFA, super admins, API tokens at risk and
//! inactive users. Definitions (thresholds cited in `docs/okta-kris.md`) and one pure
//! function each over plain facts.

use super::{pct, round1};
use crate::time::HOUR_MS;
use kri_connector_sdk::types::{Direction, KriDefinition, KriValue};
use serde_json::{json, Value};

/// Days after which a token is old, and an ACTIVE user without sign-in inactive.
pub const STALE_DAYS: i64 = 90;
const DAY_MS: i64 = 24 * HOUR_MS;
/// How many ids a KRI's details list at most.
const SAMPLE: usize = 25;

/// The graph KRIs, in manifest order (after the seven of the `kris` job).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GraphKri {
    AdminsWithoutPhishingResistantMfa,
    SuperAdminCount,
    ApiTokensAtRisk,
    InactiveUsers90d,
}

impl GraphKri {
    pub const ALL: [GraphKri; 4] = [
        GraphKri::AdminsWithoutPhishingResistantMfa,
        GraphKri::SuperAdminCount,
        GraphKri::ApiTokensAtRisk,
        GraphKri::InactiveUsers90d,
    ];

    /// The stable slug (never renamed).
    pub fn slug(self) -> &'static str {
        match self {
            GraphKri::AdminsWithoutPhishingResistantMfa => {
                "okta_admins_without_phishing_resistant_mfa"
            }
            GraphKri::SuperAdminCount => "okta_super_admin_count",
            GraphKri::ApiTokensAtRisk => "okta_api_tokens_at_risk",
            GraphKri::InactiveUsers90d => "okta_inactive_users_90d",
        }
    }

    pub fn from_slug(slug: &str) -> Option<GraphKri> {
        GraphKri::ALL.into_iter().find(|k| k.slug() == slug.trim())
    }

    /// Whether it needs the role assignments (unreadable without `okta.roles.read`).
    pub fn needs_roles(self) -> bool {
        !matches!(self, GraphKri::InactiveUsers90d)
    }

    pub fn definition(self) -> KriDefinition {
        let (name, description, warn, breach) = match self {
            GraphKri::AdminsWithoutPhishingResistantMfa => (
                "Admins without phishing-resistant MFA",
                "Users holding any admin role, directly or through a group, with no ACTIVE \
                 phishing-resistant factor (WebAuthn, U2F or a FIDO provider).",
                1.0,
                3.0,
            ),
            GraphKri::SuperAdminCount => (
                "Super admins",
                "Users holding SUPER_ADMIN, directly or through a group; details give their \
                 share of all admins.",
                6.0,
                16.0,
            ),
            GraphKri::ApiTokensAtRisk => (
                "API tokens at risk",
                "API tokens usable from anywhere (network ANYWHERE or no zone), owned by a \
                 super admin or by a user who is not ACTIVE, or older than 90 days; details \
                 say which conditions hit each token.",
                1.0,
                5.0,
            ),
            GraphKri::InactiveUsers90d => (
                "Inactive users (90 days)",
                "ACTIVE users with no sign-in for 90 days (never signed in: 90 days since \
                 activation, or creation when never activated).",
                1.0,
                25.0,
            ),
        };
        KriDefinition {
            slug: self.slug().to_string(),
            name: name.to_string(),
            description: description.to_string(),
            unit: "count".to_string(),
            direction: Direction::LowerIsBetter,
            warn_threshold: Some(warn),
            breach_threshold: Some(breach),
        }
    }

    fn value(self, value: u64, denominator: Option<u64>, details: Value) -> KriValue {
        KriValue {
            slug: self.slug().to_string(),
            value: Some(value as f64),
            numerator: Some(value as f64),
            denominator: denominator.map(|d| d as f64),
            details: details.to_string(),
            not_evaluated_reason: None,
        }
    }

    /// The KRI, not evaluated for `reason`.
    pub fn not_evaluated(self, reason: &str, details: Value) -> KriValue {
        KriValue {
            slug: self.slug().to_string(),
            value: None,
            numerator: None,
            denominator: None,
            details: details.to_string(),
            not_evaluated_reason: Some(reason.to_string()),
        }
    }
}

/// A user holding at least one admin role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admin {
    pub user_id: String,
    pub login: String,
    /// Role types held (`SUPER_ADMIN`, ..., `CUSTOM`), directly or through a group.
    pub roles: Vec<String>,
    /// Whether the user has an ACTIVE phishing-resistant factor; `None` when unknown.
    pub phishing_resistant: Option<bool>,
}

/// An API token with what the graph knows of its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenFacts {
    pub id: String,
    pub name: String,
    /// `network.connection`: `ANYWHERE`, `ZONE`, ...; `None` when the token has none.
    pub network: Option<String>,
    /// The owner's status, `None` when the owner is not among the org's users.
    pub owner_status: Option<String>,
    pub owner_roles: Vec<String>,
    pub created_ms: Option<i64>,
}

/// A user's sign-in facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserFacts {
    pub id: String,
    pub login: String,
    pub status: String,
    pub last_login_ms: Option<i64>,
    pub activated_ms: Option<i64>,
    pub created_ms: Option<i64>,
}

/// `okta_admins_without_phishing_resistant_mfa`. An admin whose factors are unknown
/// makes the KRI not evaluated: a guess here would hide a risk.
pub fn admins_without_phishing_resistant_mfa(admins: &[Admin]) -> KriValue {
    let kri = GraphKri::AdminsWithoutPhishingResistantMfa;
    let unknown: Vec<&str> = admins
        .iter()
        .filter(|a| a.phishing_resistant.is_none())
        .map(|a| a.login.as_str())
        .collect();
    if !unknown.is_empty() {
        return kri.not_evaluated(
            &format!(
                "the factors of {} admin(s) could not be read; grant okta.users.read and run again",
                unknown.len()
            ),
            json!({"unknown": unknown.iter().take(SAMPLE).collect::<Vec<_>>()}),
        );
    }
    let without: Vec<&str> = admins
        .iter()
        .filter(|a| a.phishing_resistant == Some(false))
        .map(|a| a.login.as_str())
        .collect();
    kri.value(
        without.len() as u64,
        Some(admins.len() as u64),
        json!({
            "admins": admins.len(),
            "users": without.iter().take(SAMPLE).collect::<Vec<_>>(),
        }),
    )
}

/// `okta_super_admin_count`, with the share of admins who are super admins (Okta's
/// HealthInsight advises at most half).
pub fn super_admin_count(admins: &[Admin]) -> KriValue {
    let supers: Vec<&str> = admins
        .iter()
        .filter(|a| a.roles.iter().any(|r| r == "SUPER_ADMIN"))
        .map(|a| a.login.as_str())
        .collect();
    let share = if admins.is_empty() {
        0.0
    } else {
        pct(supers.len() as u64, admins.len() as u64)
    };
    GraphKri::SuperAdminCount.value(
        supers.len() as u64,
        Some(admins.len() as u64),
        json!({
            "admins": admins.len(),
            "share_of_admins_pct": share,
            "users": supers.iter().take(SAMPLE).collect::<Vec<_>>(),
        }),
    )
}

/// Why one token is at risk, in a fixed order; empty when it is not.
pub fn token_risks(t: &TokenFacts, now_ms: i64) -> Vec<&'static str> {
    let mut risks = Vec::new();
    match t.network.as_deref() {
        Some("ANYWHERE") => risks.push("network_anywhere"),
        None => risks.push("no_zone"),
        Some(_) => {}
    }
    if t.owner_roles.iter().any(|r| r == "SUPER_ADMIN") {
        risks.push("owner_super_admin");
    }
    if t.owner_status.as_deref() != Some("ACTIVE") {
        risks.push("owner_not_active");
    }
    if t.created_ms
        .is_some_and(|c| now_ms - c > STALE_DAYS * DAY_MS)
    {
        risks.push("older_than_90d");
    }
    risks
}

/// `okta_api_tokens_at_risk`; `details.tokens` names each token at risk and why.
pub fn api_tokens_at_risk(tokens: &[TokenFacts], now_ms: i64) -> KriValue {
    let at_risk: Vec<Value> = tokens
        .iter()
        .filter_map(|t| {
            let risks = token_risks(t, now_ms);
            (!risks.is_empty()).then(|| json!({"id": t.id, "name": t.name, "risks": risks}))
        })
        .collect();
    GraphKri::ApiTokensAtRisk.value(
        at_risk.len() as u64,
        Some(tokens.len() as u64),
        json!({"tokens_total": tokens.len(), "tokens": at_risk}),
    )
}

/// `okta_inactive_users_90d`.
pub fn inactive_users_90d(users: &[UserFacts], now_ms: i64) -> KriValue {
    let cutoff = now_ms - STALE_DAYS * DAY_MS;
    let active: Vec<&UserFacts> = users.iter().filter(|u| u.status == "ACTIVE").collect();
    let mut never = 0u64;
    let inactive: Vec<&UserFacts> = active
        .iter()
        .copied()
        .filter(|u| {
            let last = u.last_login_ms.or(u.activated_ms).or(u.created_ms);
            let stale = last.is_some_and(|l| l < cutoff);
            if stale && u.last_login_ms.is_none() {
                never += 1;
            }
            stale
        })
        .collect();
    let share = if active.is_empty() {
        0.0
    } else {
        round1(inactive.len() as f64 / active.len() as f64 * 100.0)
    };
    GraphKri::InactiveUsers90d.value(
        inactive.len() as u64,
        Some(active.len() as u64),
        json!({
            "active_users": active.len(),
            "never_signed_in": never,
            "share_of_active_pct": share,
            "users": inactive.iter().take(SAMPLE).map(|u| u.login.as_str()).collect::<Vec<_>>(),
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    fn admin(login: &str, roles: &[&str], phish: Option<bool>) -> Admin {
        Admin {
            user_id: format!("id-{login}"),
            login: login.into(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            phishing_resistant: phish,
        }
    }

    fn details(v: &KriValue) -> Value {
        serde_json::from_str(&v.details).unwrap_or(Value::Null)
    }

    #[test]
    fn admins_without_phishing_resistant_mfa_counts_and_refuses_to_guess() {
        let admins = vec![
            admin("a", &["SUPER_ADMIN"], Some(true)),
            admin("b", &["HELP_DESK_ADMIN"], Some(false)),
            admin("c", &["CUSTOM"], Some(false)),
        ];
        let v = admins_without_phishing_resistant_mfa(&admins);
        assert_eq!((v.value, v.denominator), (Some(2.0), Some(3.0)));
        assert_eq!(details(&v)["users"], json!(["b", "c"]));
        let mut unknown = admins.clone();
        unknown.push(admin("d", &["ORG_ADMIN"], None));
        let v = admins_without_phishing_resistant_mfa(&unknown);
        assert_eq!(v.value, None);
        assert!(v
            .not_evaluated_reason
            .is_some_and(|r| r.contains("1 admin")));
        assert_eq!(admins_without_phishing_resistant_mfa(&[]).value, Some(0.0));
    }

    #[test]
    fn super_admins_with_their_share() {
        let admins = vec![
            admin("a", &["SUPER_ADMIN", "CUSTOM"], Some(true)),
            admin("b", &["ORG_ADMIN"], Some(true)),
            admin("c", &["READ_ONLY_ADMIN", "SUPER_ADMIN"], Some(true)),
        ];
        let v = super_admin_count(&admins);
        assert_eq!(v.value, Some(2.0));
        assert_eq!(details(&v)["share_of_admins_pct"], 66.7);
        assert_eq!(super_admin_count(&[]).value, Some(0.0));
    }

    #[test]
    fn token_risks_name_each_condition() {
        let token = |network: Option<&str>, status: Option<&str>, roles: &[&str], age_days: i64| {
            TokenFacts {
                id: "t".into(),
                name: "t".into(),
                network: network.map(str::to_string),
                owner_status: status.map(str::to_string),
                owner_roles: roles.iter().map(|r| r.to_string()).collect(),
                created_ms: Some(NOW - age_days * DAY_MS),
            }
        };
        let cases: Vec<(TokenFacts, Vec<&str>)> = vec![
            (token(Some("ZONE"), Some("ACTIVE"), &[], 10), vec![]),
            (
                token(Some("ANYWHERE"), Some("ACTIVE"), &[], 10),
                vec!["network_anywhere"],
            ),
            (token(None, Some("ACTIVE"), &[], 10), vec!["no_zone"]),
            (
                token(Some("ZONE"), Some("ACTIVE"), &["SUPER_ADMIN"], 10),
                vec!["owner_super_admin"],
            ),
            (
                token(Some("ZONE"), Some("SUSPENDED"), &[], 10),
                vec!["owner_not_active"],
            ),
            (token(Some("ZONE"), None, &[], 10), vec!["owner_not_active"]),
            // Exactly 90 days is not older than 90 days.
            (token(Some("ZONE"), Some("ACTIVE"), &[], 90), vec![]),
            (
                token(Some("ZONE"), Some("ACTIVE"), &[], 91),
                vec!["older_than_90d"],
            ),
            (
                token(
                    Some("ANYWHERE"),
                    Some("DEPROVISIONED"),
                    &["SUPER_ADMIN"],
                    400,
                ),
                vec![
                    "network_anywhere",
                    "owner_super_admin",
                    "owner_not_active",
                    "older_than_90d",
                ],
            ),
        ];
        for (t, want) in &cases {
            assert_eq!(&token_risks(t, NOW), want, "{t:?}");
        }
        let all: Vec<TokenFacts> = cases.into_iter().map(|(t, _)| t).collect();
        let v = api_tokens_at_risk(&all, NOW);
        assert_eq!((v.value, v.denominator), (Some(7.0), Some(9.0)));
        assert_eq!(
            details(&v)["tokens"][0]["risks"],
            json!(["network_anywhere"])
        );
    }

    #[test]
    fn inactive_users_fall_back_to_activation_then_creation() {
        let user =
            |login: &str, status: &str, last: Option<i64>, act: Option<i64>, created: i64| {
                UserFacts {
                    id: login.into(),
                    login: login.into(),
                    status: status.into(),
                    last_login_ms: last.map(|d| NOW - d * DAY_MS),
                    activated_ms: act.map(|d| NOW - d * DAY_MS),
                    created_ms: Some(NOW - created * DAY_MS),
                }
            };
        let users = vec![
            user("recent", "ACTIVE", Some(3), Some(400), 400),
            user("stale", "ACTIVE", Some(91), Some(400), 400),
            user("never-old", "ACTIVE", None, Some(120), 130),
            user("never-new", "ACTIVE", None, Some(10), 130),
            user("never-activated", "ACTIVE", None, None, 100),
            user("suspended", "SUSPENDED", Some(300), Some(400), 400),
        ];
        let v = inactive_users_90d(&users, NOW);
        assert_eq!((v.value, v.denominator), (Some(3.0), Some(5.0)));
        let d = details(&v);
        assert_eq!(d["never_signed_in"], 2);
        assert_eq!(d["users"], json!(["stale", "never-old", "never-activated"]));
    }
}
