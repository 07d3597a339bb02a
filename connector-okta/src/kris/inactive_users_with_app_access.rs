//! `okta_inactive_users_with_app_access`: SUSPENDED users whose `appLinks` list is not
//! empty. numerator = value = those users; denominator = all SUSPENDED users. `details`
//! also say how this run got the app links (full or incremental refresh).

use super::{evaluated, Kri, DETAILS_LIST_CAP};
use kri_connector_sdk::types::KriValue;
use serde_json::json;

/// One SUSPENDED user and the app links Okta lists for them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuspendedUser {
    pub id: String,
    pub login: Option<String>,
    pub app_links: usize,
}

/// How this run got the suspended users' app links.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppLinksRefresh {
    /// `full` or `incremental`.
    pub mode: &'static str,
    /// Why a full refresh happened, when it did.
    pub reason: Option<String>,
    /// Users whose app links were fetched this run.
    pub fetched: u64,
    /// Users whose stored app-link count was reused.
    pub reused: u64,
    /// Users the System Log showed as changed since the last run (incremental only).
    pub changed_in_log: u64,
}

impl Default for AppLinksRefresh {
    fn default() -> Self {
        AppLinksRefresh {
            mode: "full",
            reason: None,
            fetched: 0,
            reused: 0,
            changed_in_log: 0,
        }
    }
}

/// `users_skipped`: suspended users listed but gone (404) before their links were read.
pub fn inactive_users_with_app_access(
    users: &[SuspendedUser],
    users_skipped: u64,
    refresh: &AppLinksRefresh,
) -> KriValue {
    let with_apps: Vec<&SuspendedUser> = users.iter().filter(|u| u.app_links > 0).collect();
    let count = with_apps.len() as u64;
    let listed: Vec<_> = with_apps
        .iter()
        .take(DETAILS_LIST_CAP)
        .map(|u| json!({"id": u.id, "login": u.login, "app_links": u.app_links}))
        .collect();
    let mut details = json!({
        "suspended_users": users.len(),
        "users_with_app_access": listed,
        "users_with_app_access_truncated": with_apps.len() > DETAILS_LIST_CAP,
        "users_skipped": users_skipped,
        "refresh": refresh.mode,
        "app_links_fetched_users": refresh.fetched,
        "app_links_reused_users": refresh.reused,
    });
    if let Some(r) = &refresh.reason {
        details["refresh_reason"] = json!(r);
    }
    if refresh.mode == "incremental" {
        details["users_changed_in_log"] = json!(refresh.changed_in_log);
    }
    evaluated(
        Kri::InactiveUsersWithAppAccess,
        count as f64,
        Some(count as f64),
        Some(users.len() as f64),
        details,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(id: &str, links: usize) -> SuspendedUser {
        SuspendedUser {
            id: id.into(),
            login: Some(format!("{id}@example.com")),
            app_links: links,
        }
    }

    #[test]
    fn counts() {
        let cases: Vec<(Vec<SuspendedUser>, f64, f64)> = vec![
            (vec![], 0.0, 0.0),
            (vec![u("a", 0)], 0.0, 1.0),
            (vec![u("a", 4), u("b", 0), u("c", 1)], 2.0, 3.0),
        ];
        for (users, value, denominator) in cases {
            let v = inactive_users_with_app_access(&users, 0, &AppLinksRefresh::default());
            assert_eq!(v.value, Some(value));
            assert_eq!(v.numerator, Some(value));
            assert_eq!(v.denominator, Some(denominator));
            assert_eq!(v.not_evaluated_reason, None);
        }
    }

    #[test]
    fn details_say_how_links_were_read() {
        let refresh = AppLinksRefresh {
            mode: "incremental",
            reason: None,
            fetched: 2,
            reused: 5,
            changed_in_log: 1,
        };
        let v = inactive_users_with_app_access(&[u("a", 1)], 0, &refresh);
        let d: serde_json::Value = serde_json::from_str(&v.details).unwrap_or_default();
        assert_eq!(d["refresh"], "incremental");
        assert_eq!(d["app_links_fetched_users"], 2);
        assert_eq!(d["app_links_reused_users"], 5);
        assert_eq!(d["users_changed_in_log"], 1);
        assert!(d.get("refresh_reason").is_none());
        let full = AppLinksRefresh {
            reason: Some("force_full_refresh".into()),
            ..AppLinksRefresh::default()
        };
        let v = inactive_users_with_app_access(&[], 0, &full);
        let d: serde_json::Value = serde_json::from_str(&v.details).unwrap_or_default();
        assert_eq!(d["refresh"], "full");
        assert_eq!(d["refresh_reason"], "force_full_refresh");
        assert!(d.get("users_changed_in_log").is_none());
    }
}
