//! What an incremental inventory sync re-reads: the System Log events since the last
//! sync, boiled down to the groups whose members changed, the app assignments added or
//! removed, the apps whose group assignments changed, the users created (the built-in
//! `Everyone` group grows without an event of its own), those whose factors changed and
//! those who signed in, the objects Okta deleted, and the API tokens the events'
//! requests were made with (`transaction.detail.requestApiTokenId`), with when. Pure.

use crate::api::models::LogEvent;
use std::collections::{BTreeMap, BTreeSet};

/// The System Log event types an incremental sync reads.
pub const EVENT_TYPES: [&str; 21] = [
    "group.user_membership.add",
    "group.user_membership.remove",
    "application.user_membership.add",
    "application.user_membership.remove",
    "group.application_assignment.add",
    "group.application_assignment.remove",
    "group.application_assignment.update",
    "user.account.privilege.grant",
    "user.account.privilege.revoke",
    "group.privilege.grant",
    "group.privilege.revoke",
    "system.api_token.create",
    "system.api_token.revoke",
    "user.lifecycle.create",
    "user.lifecycle.delete.completed",
    "group.lifecycle.delete",
    "application.lifecycle.delete",
    "user.mfa.factor.activate",
    "user.mfa.factor.deactivate",
    "user.mfa.factor.reset_all",
    "user.session.start",
];

/// What changed since the last sync.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// (user, group) → whether the user is a member after the window's last event about
    /// that membership: the `member_of` edge is emitted or retracted from the events
    /// alone.
    pub memberships: BTreeMap<(String, String), bool>,
    /// (user, group) of each membership added: the user's assignments to the group's
    /// apps are read one by one (their `scope` may change).
    pub member_adds: BTreeSet<(String, String)>,
    /// (user, group) of each membership removed: the user's assignments to the group's
    /// apps are read one by one (their `scope` may change).
    pub member_removes: BTreeSet<(String, String)>,
    /// Apps whose group assignments changed (which changes the app's group list and its
    /// users' `scope`): re-read both lists.
    pub apps: BTreeSet<String>,
    /// (app, user) of each user assigned an app or unassigned from it: that one
    /// assignment is read (a 404 says it is gone).
    pub app_users: BTreeSet<(String, String)>,
    /// (app, user) → the index of the window's last app event about it, when that event
    /// is a removal: gone, unless a later membership change may have given the app back.
    pub app_users_removed_at: BTreeMap<(String, String), usize>,
    /// User → the index of the window's last membership event (or creation) about them.
    pub users_joined_at: BTreeMap<String, usize>,
    /// Users created: members of `Everyone` from now on.
    pub created_users: BTreeSet<String>,
    /// Users whose factors changed: an admin's factors are read again.
    pub factor_users: BTreeSet<String>,
    /// User id → their latest successful sign-in (epoch ms): `lastLogin` moves without
    /// `lastUpdated`.
    pub sign_ins: BTreeMap<String, i64>,
    /// API token id → the latest `published` (epoch ms) of an event made with it.
    pub token_uses: BTreeMap<String, i64>,
    /// Role grants or revokes happened.
    pub privileges: bool,
    /// Users a role was granted to or revoked from: their roles are read again.
    pub privilege_users: BTreeSet<String>,
    /// Groups a role was granted to or revoked from: their roles are read again.
    pub privilege_groups: BTreeSet<String>,
    /// Tokens were created or revoked.
    pub tokens: bool,
    /// Users, groups or apps Okta deleted: their nodes leave at once.
    pub deleted: BTreeSet<String>,
    /// Events read.
    pub events: usize,
}

fn target_ids<'a>(e: &'a LogEvent, kind: &'a str) -> impl Iterator<Item = String> + 'a {
    e.targets
        .iter()
        .filter(move |t| t.target_type.as_deref() == Some(kind))
        .filter_map(|t| t.id.clone())
}

/// Boils the events down.
pub fn changes(events: &[LogEvent]) -> Changes {
    let mut c = Changes {
        events: events.len(),
        ..Changes::default()
    };
    for (index, e) in events.iter().enumerate() {
        if let (Some(token), Some(ms)) = (&e.request_api_token_id, e.published_ms()) {
            let last = c.token_uses.entry(token.clone()).or_insert(ms);
            *last = (*last).max(ms);
        }
        let Some(kind) = e.event_type.as_deref() else {
            continue;
        };
        match kind {
            "group.user_membership.add" | "group.user_membership.remove" => {
                let added = kind == "group.user_membership.add";
                for group in target_ids(e, "UserGroup") {
                    for user in target_ids(e, "User") {
                        c.users_joined_at.insert(user.clone(), index);
                        let pair = (user, group.clone());
                        c.memberships.insert(pair.clone(), added);
                        if added {
                            c.member_adds.insert(pair);
                        } else {
                            c.member_removes.insert(pair);
                        }
                    }
                }
            }
            "application.user_membership.add" | "application.user_membership.remove" => {
                let removed = kind == "application.user_membership.remove";
                for app in target_ids(e, "AppInstance") {
                    for user in target_ids(e, "User") {
                        let pair = (app.clone(), user);
                        if removed {
                            c.app_users_removed_at.insert(pair.clone(), index);
                        } else {
                            c.app_users_removed_at.remove(&pair);
                        }
                        c.app_users.insert(pair);
                    }
                }
            }
            "group.application_assignment.add"
            | "group.application_assignment.remove"
            | "group.application_assignment.update" => {
                c.apps.extend(target_ids(e, "AppInstance"));
            }
            "user.account.privilege.grant" | "user.account.privilege.revoke" => {
                c.privileges = true;
                c.privilege_users.extend(target_ids(e, "User"));
            }
            "group.privilege.grant" | "group.privilege.revoke" => {
                c.privileges = true;
                c.privilege_groups.extend(target_ids(e, "UserGroup"));
            }
            "system.api_token.create" | "system.api_token.revoke" => c.tokens = true,
            "user.lifecycle.create" => {
                for user in target_ids(e, "User") {
                    c.users_joined_at.insert(user.clone(), index);
                    c.created_users.insert(user);
                }
            }
            "user.session.start" if e.outcome_result.as_deref() == Some("SUCCESS") => {
                if let (Some(user), Some(ms)) = (&e.actor_id, e.published_ms()) {
                    let last = c.sign_ins.entry(user.clone()).or_insert(ms);
                    *last = (*last).max(ms);
                }
            }
            "user.mfa.factor.activate"
            | "user.mfa.factor.deactivate"
            | "user.mfa.factor.reset_all" => {
                // The user whose factors changed is the target; the actor may be an
                // admin acting on them, whose own factors did not change. Only an event
                // naming no user falls back to its actor.
                let owners: Vec<String> = target_ids(e, "User").collect();
                if owners.is_empty() {
                    c.factor_users.extend(e.actor_id.clone());
                }
                c.factor_users.extend(owners);
            }
            "user.lifecycle.delete.completed" => c.deleted.extend(target_ids(e, "User")),
            "group.lifecycle.delete" => c.deleted.extend(target_ids(e, "UserGroup")),
            "application.lifecycle.delete" => c.deleted.extend(target_ids(e, "AppInstance")),
            _ => {}
        }
    }
    for gone in &c.deleted {
        c.apps.remove(gone);
        c.created_users.remove(gone);
    }
    let deleted = &c.deleted;
    c.memberships
        .retain(|(u, g), _| !deleted.contains(u) && !deleted.contains(g));
    c.member_adds
        .retain(|(u, g)| !deleted.contains(u) && !deleted.contains(g));
    c.member_removes
        .retain(|(u, g)| !deleted.contains(u) && !deleted.contains(g));
    c.app_users
        .retain(|(a, u)| !deleted.contains(a) && !deleted.contains(u));
    c.app_users_removed_at
        .retain(|(a, u), _| !deleted.contains(a) && !deleted.contains(u));
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(kind: &str, targets: serde_json::Value) -> LogEvent {
        LogEvent::from_value(&json!({"uuid": "u", "eventType": kind, "target": targets}))
            .expect("event")
    }

    #[test]
    fn events_name_what_to_reread() {
        let events = vec![
            event(
                "group.user_membership.add",
                json!([{"id": "00u1", "type": "User"}, {"id": "00g1", "type": "UserGroup"}]),
            ),
            event(
                "application.user_membership.remove",
                json!([{"id": "0ua1", "type": "AppUser"}, {"id": "0oa1", "type": "AppInstance"}, {"id": "00u1", "type": "User"}]),
            ),
            event(
                "application.user_membership.add",
                json!([{"id": "0ua2", "type": "AppUser"}, {"id": "0oa2", "type": "AppInstance"}, {"id": "00u2", "type": "User"}]),
            ),
            event(
                "group.user_membership.remove",
                json!([{"id": "00u4", "type": "User"}, {"id": "00g4", "type": "UserGroup"}]),
            ),
            event(
                "group.privilege.grant",
                json!([{"id": "00g2", "type": "UserGroup"}]),
            ),
            event(
                "system.api_token.revoke",
                json!([{"id": "00T1", "type": "Token"}]),
            ),
            event(
                "user.lifecycle.create",
                json!([{"id": "00u9", "type": "User"}]),
            ),
            event(
                "user.mfa.factor.activate",
                json!([{"id": "00u7", "type": "User"}]),
            ),
            event(
                "group.user_membership.add",
                json!([{"id": "00g3", "type": "UserGroup"}]),
            ),
            event(
                "group.lifecycle.delete",
                json!([{"id": "00g3", "type": "UserGroup"}]),
            ),
            event("user.session.start", json!([])),
        ];
        let c = changes(&events);
        let pair = |a: &str, b: &str| (a.to_string(), b.to_string());
        assert_eq!(
            c.memberships,
            BTreeMap::from([(pair("00u1", "00g1"), true), (pair("00u4", "00g4"), false)])
        );
        assert_eq!(c.member_adds, BTreeSet::from([pair("00u1", "00g1")]));
        assert_eq!(c.member_removes, BTreeSet::from([pair("00u4", "00g4")]));
        assert!(c.apps.is_empty());
        assert_eq!(
            c.app_users,
            BTreeSet::from([pair("0oa1", "00u1"), pair("0oa2", "00u2")])
        );
        assert_eq!(
            c.app_users_removed_at,
            BTreeMap::from([(pair("0oa1", "00u1"), 1)])
        );
        assert_eq!(
            c.users_joined_at,
            BTreeMap::from([
                ("00u1".to_string(), 0),
                ("00u4".to_string(), 3),
                ("00u9".to_string(), 6)
            ])
        );
        assert!(c.privileges && c.tokens);
        assert_eq!(c.created_users, BTreeSet::from(["00u9".to_string()]));
        assert_eq!(c.factor_users, BTreeSet::from(["00u7".to_string()]));
        assert_eq!(c.deleted, BTreeSet::from(["00g3".to_string()]));
        assert_eq!(c.events, 11);
        assert_eq!(changes(&[]), Changes::default());
    }

    #[test]
    fn a_factor_event_names_its_target_not_the_admin_acting() {
        let reset = |actor: &str, targets: serde_json::Value| {
            LogEvent::from_value(
                &json!({"uuid": "u", "eventType": "user.mfa.factor.reset_all",
                "actor": {"id": actor, "type": "User"}, "target": targets}),
            )
            .expect("event")
        };
        let c = changes(&[reset("00uAdmin", json!([{"id": "00u5", "type": "User"}]))]);
        assert_eq!(c.factor_users, BTreeSet::from(["00u5".to_string()]));
        let c = changes(&[reset("00u6", json!([]))]);
        assert_eq!(c.factor_users, BTreeSet::from(["00u6".to_string()]));
    }

    #[test]
    fn privilege_events_name_the_principals_whose_roles_to_reread() {
        let c = changes(&[
            event(
                "user.account.privilege.grant",
                json!([{"id": "00u1", "type": "User"}]),
            ),
            event(
                "user.account.privilege.revoke",
                json!([{"id": "00u2", "type": "User"}]),
            ),
            event(
                "group.privilege.revoke",
                json!([{"id": "00g1", "type": "UserGroup"}]),
            ),
            event(
                "group.user_membership.add",
                json!([{"id": "00u3", "type": "User"}, {"id": "00g1", "type": "UserGroup"}]),
            ),
        ]);
        assert!(c.privileges);
        assert_eq!(
            c.privilege_users,
            BTreeSet::from(["00u1".to_string(), "00u2".to_string()])
        );
        assert_eq!(c.privilege_groups, BTreeSet::from(["00g1".to_string()]));
        assert_eq!(
            changes(&[event("group.privilege.grant", json!([]))]).privilege_groups,
            BTreeSet::new()
        );
    }

    #[test]
    fn sign_ins_and_the_token_behind_a_request_are_kept_with_their_latest_time() {
        let made_with = |ms: &str, token: &str| {
            LogEvent::from_value(&json!({
                "uuid": "u", "eventType": "group.user_membership.add", "published": ms,
                "target": [{"id": "00g1", "type": "UserGroup"}],
                "transaction": {"type": "WEB", "id": "x", "detail": {"requestApiTokenId": token}},
            }))
            .expect("event")
        };
        let signed_in = |ms: &str, result: &str| {
            LogEvent::from_value(&json!({
                "uuid": "s", "eventType": "user.session.start", "published": ms,
                "actor": {"id": "00u5", "type": "User"}, "outcome": {"result": result},
            }))
            .expect("event")
        };
        let c = changes(&[
            signed_in("2026-03-01T09:00:00.000Z", "SUCCESS"),
            signed_in("2026-03-01T08:00:00.000Z", "SUCCESS"),
            signed_in("2026-03-01T11:00:00.000Z", "FAILURE"),
        ]);
        assert_eq!(
            c.sign_ins,
            BTreeMap::from([("00u5".to_string(), 1_772_355_600_000)])
        );
        let c = changes(&[
            made_with("2026-03-01T10:00:00.000Z", "00T1"),
            made_with("2026-03-02T10:00:00.000Z", "00T1"),
            made_with("2026-03-01T12:00:00.000Z", "00T2"),
            event("group.user_membership.add", json!([])),
        ]);
        assert_eq!(
            c.token_uses,
            BTreeMap::from([
                ("00T1".to_string(), 1_772_445_600_000),
                ("00T2".to_string(), 1_772_366_400_000),
            ])
        );
    }
}
