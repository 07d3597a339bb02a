//! Ground truth of the identity graph at a given `now`, computed from the org's structs
//! (never from the JSON it serves): each user's groups and apps (direct or through a
//! group), each admin's roles with their scope, each API token with its owner and risks,
//! and the four graph KRIs of issue 9.

use serde::Serialize;

use crate::graph::{RoleRef, RoleScope};
use crate::model::{AdminRole, Org, UserStatus};
use crate::time::DAY_MS;

/// Days after which a token is old, and a user without sign-in inactive.
pub const STALE_DAYS: i64 = 90;

/// One user's access.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserAccess {
    pub user_id: String,
    pub login: String,
    pub status: &'static str,
    /// Ids of the groups the user belongs to (`Everyone` included), in group order.
    pub groups: Vec<String>,
    /// Ids of the apps the user is assigned individually, or reaches through no group
    /// (`scope` USER).
    pub apps_direct: Vec<String>,
    /// (app id, group id) for each group that gives the user an app (`scope` GROUP).
    pub apps_via_group: Vec<(String, String)>,
}

/// A role's scope with the ids it names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScopeTruth {
    /// `ORG`, `GROUPS`, `APPS` or `RESOURCE_SET`.
    pub kind: &'static str,
    /// Group ids, app ids, or the resource set's id; empty for the whole org.
    pub ids: Vec<String>,
}

/// One role one user holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AdminTruth {
    pub user_id: String,
    pub login: String,
    /// The assignment's id (the group's assignment when inherited).
    pub assignment_id: String,
    /// `SUPER_ADMIN`, ..., or `CUSTOM`.
    pub role_type: &'static str,
    /// The custom role's id, for `CUSTOM`.
    pub custom_role_id: Option<String>,
    /// The group the role comes through; `None` when assigned to the user.
    pub via_group: Option<String>,
    pub scope: ScopeTruth,
}

/// One (unrevoked) API token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenTruth {
    pub id: String,
    pub name: String,
    pub owner_id: String,
    pub owner_status: &'static str,
    /// Role types the owner holds (directly or through a group), without repeats.
    pub owner_roles: Vec<&'static str>,
    /// `ANYWHERE`, `ZONE`, or `NONE` when the token has no network.
    pub network: &'static str,
    pub zones: Vec<String>,
    pub created_ms: i64,
    pub age_days: i64,
    /// Why the token is at risk (`network_anywhere`, `no_zone`, `owner_super_admin`,
    /// `owner_not_active`, `older_than_90d`); empty when it is not.
    pub risks: Vec<&'static str>,
    /// The newest event up to `now` whose request was made with the token
    /// (`transaction.detail.requestApiTokenId`), if any.
    pub last_used_ms: Option<i64>,
}

/// The identity graph's expected content and KRIs at one `now`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GraphTruth {
    /// Every user, in API order.
    pub users: Vec<UserAccess>,
    /// Every (user, role) pair, own roles first, users in role-holder order.
    pub admins: Vec<AdminTruth>,
    pub tokens: Vec<TokenTruth>,
    /// `okta_admins_without_phishing_resistant_mfa`: users holding any role with no
    /// ACTIVE phishing-resistant factor.
    pub admins_without_phishing_resistant_mfa: u64,
    /// `okta_super_admin_count`: users holding SUPER_ADMIN, directly or through a group.
    pub super_admin_count: u64,
    /// `okta_api_tokens_at_risk`: tokens with at least one risk.
    pub api_tokens_at_risk: u64,
    /// `okta_inactive_users_90d`: ACTIVE users without a sign-in for 90 days (never
    /// signed in: 90 days since activation, or creation when never activated).
    pub inactive_users_90d: u64,
}

impl GraphTruth {
    /// The four graph KRI slugs with their values.
    pub fn by_slug(&self) -> Vec<(&'static str, f64)> {
        vec![
            (
                "okta_admins_without_phishing_resistant_mfa",
                self.admins_without_phishing_resistant_mfa as f64,
            ),
            ("okta_super_admin_count", self.super_admin_count as f64),
            ("okta_api_tokens_at_risk", self.api_tokens_at_risk as f64),
            ("okta_inactive_users_90d", self.inactive_users_90d as f64),
        ]
    }
}

impl Org {
    /// The scope of a role with the ids it names.
    fn scope_truth(&self, scope: &RoleScope) -> ScopeTruth {
        let ids = match scope {
            RoleScope::Org => Vec::new(),
            RoleScope::Groups(gs) => gs
                .iter()
                .map(|&g| self.groups[g as usize].id.clone())
                .collect(),
            RoleScope::Apps(apps) => apps
                .iter()
                .map(|&a| self.apps[a as usize].id.clone())
                .collect(),
            RoleScope::ResourceSet(s) => vec![self.resource_sets[*s as usize].id.clone()],
        };
        ScopeTruth {
            kind: scope.kind(),
            ids,
        }
    }

    /// Computes the identity graph's truth at `now_ms` from the org's structs.
    pub fn graph_truth(&self, now_ms: i64) -> GraphTruth {
        let users: Vec<UserAccess> = self
            .users
            .iter()
            .enumerate()
            .map(|(i, user)| {
                let u = i as u32;
                let mut apps_direct = Vec::new();
                let mut apps_via_group = Vec::new();
                for app in self.apps_of_user(user) {
                    let app_id = &self.apps[app as usize].id;
                    let groups = self.groups_granting(u, app);
                    if groups.is_empty() || self.assigned_directly(u, app) {
                        apps_direct.push(app_id.clone());
                    }
                    for g in groups {
                        apps_via_group.push((app_id.clone(), self.groups[g as usize].id.clone()));
                    }
                }
                UserAccess {
                    user_id: user.id.clone(),
                    login: user.login.clone(),
                    status: user.status.as_str(),
                    groups: self
                        .groups_of_user(u)
                        .iter()
                        .map(|&g| self.groups[g as usize].id.clone())
                        .collect(),
                    apps_direct,
                    apps_via_group,
                }
            })
            .collect();

        let mut admins = Vec::new();
        let mut without_phish = 0u64;
        let mut super_admins = 0u64;
        for u in self.role_holders() {
            let user = &self.users[u as usize];
            let held = self.held_roles(u);
            if held.is_empty() {
                continue;
            }
            if !user.has_phish_resistant() {
                without_phish += 1;
            }
            if held
                .iter()
                .any(|h| h.role == RoleRef::Standard(AdminRole::SuperAdmin))
            {
                super_admins += 1;
            }
            for h in held {
                admins.push(AdminTruth {
                    user_id: user.id.clone(),
                    login: user.login.clone(),
                    assignment_id: h.assignment_id.clone(),
                    role_type: self.role_type_and_label(h.role).0,
                    custom_role_id: match h.role {
                        RoleRef::Custom(c) => Some(self.custom_roles[c as usize].id.clone()),
                        RoleRef::Standard(_) => None,
                    },
                    via_group: h.via_group.map(|g| self.groups[g as usize].id.clone()),
                    scope: self.scope_truth(&h.scope),
                });
            }
        }

        let mut tokens = Vec::new();
        for (i, token) in self
            .api_tokens
            .iter()
            .enumerate()
            .filter(|(_, t)| t.revoked_ms.is_none())
        {
            let owner = self.user_position(&token.user_id);
            let owner_status = owner.map_or("DELETED", |o| self.users[o].status.as_str());
            let mut owner_roles: Vec<&'static str> = Vec::new();
            if let Some(o) = owner {
                for h in self.held_roles(o as u32) {
                    let kind = self.role_type_and_label(h.role).0;
                    if !owner_roles.contains(&kind) {
                        owner_roles.push(kind);
                    }
                }
            }
            let network = if token.network_anywhere {
                "ANYWHERE"
            } else if token.network_zones.is_empty() {
                "NONE"
            } else {
                "ZONE"
            };
            let age_days = (now_ms - token.created_ms).div_euclid(DAY_MS);
            let mut risks = Vec::new();
            match network {
                "ANYWHERE" => risks.push("network_anywhere"),
                "NONE" => risks.push("no_zone"),
                _ => {}
            }
            if owner_roles.contains(&"SUPER_ADMIN") {
                risks.push("owner_super_admin");
            }
            if owner_status != "ACTIVE" {
                risks.push("owner_not_active");
            }
            if now_ms - token.created_ms > STALE_DAYS * DAY_MS {
                risks.push("older_than_90d");
            }
            tokens.push(TokenTruth {
                id: token.id.clone(),
                name: token.name.clone(),
                owner_id: token.user_id.clone(),
                owner_status,
                owner_roles,
                network,
                zones: token.network_zones.clone(),
                created_ms: token.created_ms,
                age_days,
                risks,
                last_used_ms: self
                    .events
                    .iter()
                    .filter(|e| e.published_ms <= now_ms)
                    .filter(|e| self.request_token(e) == Some(i))
                    .map(|e| e.published_ms)
                    .max(),
            });
        }

        let cutoff = now_ms - STALE_DAYS * DAY_MS;
        let inactive = self
            .users
            .iter()
            .filter(|u| u.status == UserStatus::Active)
            .filter(|u| {
                let last = u.last_login_ms.or(u.activated_ms).unwrap_or(u.created_ms);
                last < cutoff
            })
            .count() as u64;

        GraphTruth {
            users,
            admins,
            api_tokens_at_risk: tokens.iter().filter(|t| !t.risks.is_empty()).count() as u64,
            tokens,
            admins_without_phishing_resistant_mfa: without_phish,
            super_admin_count: super_admins,
            inactive_users_90d: inactive,
        }
    }
}
