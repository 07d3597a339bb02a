//! `okta_inactive_users_with_app_access`: SUSPENDED users whose `appLinks` list is not
//! empty. numerator = value = those users; denominator = all SUSPENDED users.

use super::{evaluated, Kri, DETAILS_LIST_CAP};
use crate::types::KriValue;
use serde_json::json;

/// One SUSPENDED user and the app links Okta lists for them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuspendedUser {
    pub id: String,
    pub login: Option<String>,
    pub app_links: usize,
}

/// `users_skipped`: suspended users listed but gone (404) before their links were read.
pub fn inactive_users_with_app_access(users: &[SuspendedUser], users_skipped: u64) -> KriValue {
    let with_apps: Vec<&SuspendedUser> = users.iter().filter(|u| u.app_links > 0).collect();
    let count = with_apps.len() as u64;
    let listed: Vec<_> = with_apps
        .iter()
        .take(DETAILS_LIST_CAP)
        .map(|u| json!({"id": u.id, "login": u.login, "app_links": u.app_links}))
        .collect();
    let details = json!({
        "suspended_users": users.len(),
        "users_with_app_access": listed,
        "users_with_app_access_truncated": with_apps.len() > DETAILS_LIST_CAP,
        "users_skipped": users_skipped,
    });
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
            let v = inactive_users_with_app_access(&users, 0);
            assert_eq!(v.value, Some(value));
            assert_eq!(v.numerator, Some(value));
            assert_eq!(v.denominator, Some(denominator));
            assert_eq!(v.not_evaluated_reason, None);
        }
    }
}
