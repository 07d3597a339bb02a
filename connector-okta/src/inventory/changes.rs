//! What an incremental inventory sync re-reads: the System Log events since the last
//! sync, boiled down to the memberships added or removed (with when), the app
//! assignments added (with the assignment's id and when) or removed, the apps whose
//! group assignments changed, the principals whose roles changed (or that anyone's
//! may have), the users created (the built-in `Everyone` group grows without an event
//! of its own), those whose factors changed (or that every admin's may have) and those
//! who signed in, the objects Okta deleted, and the API tokens the events' requests
//! were made with (`transaction.detail.requestApiTokenId`), with when. With the members
//! of the groups assigned to apps as the last sync left them (`GroupMembers`), it
//! tells an added assignment's `scope` (`Changes::scope_of_added`) and whether a
//! removed one is gone (`Changes::removed_is_gone`), and brings those members to the
//! window's end (`Changes::apply_to`). Pure.

use crate::api::models::LogEvent;
use std::collections::{BTreeMap, BTreeSet};

/// The System Log event types an incremental sync reads.
pub const EVENT_TYPES: [&str; 27] = [
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
    "iam.resourceset.bindings.add",
    "iam.resourceset.bindings.delete",
    "system.api_token.create",
    "system.api_token.revoke",
    "user.lifecycle.create",
    "user.lifecycle.delete.completed",
    "group.lifecycle.delete",
    "application.lifecycle.delete",
    "user.mfa.factor.activate",
    "user.mfa.factor.deactivate",
    "user.mfa.factor.reset_all",
    "user.mfa.factor.suspend",
    "user.mfa.factor.unsuspend",
    "user.mfa.factor.update",
    "system.mfa.factor.deactivate",
    "user.session.start",
];

/// What changed since the last sync.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// (user, group) → whether the user is a member after the window's last event about
    /// that membership: the `member_of` edge is emitted or retracted from the events
    /// alone.
    pub memberships: BTreeMap<(String, String), bool>,
    /// (user, group) of each membership added: if the group holds roles, the user's
    /// roles are read again.
    pub member_adds: BTreeSet<(String, String)>,
    /// (user, group) of each membership removed: if the group holds roles, the user's
    /// roles are read again.
    pub member_removes: BTreeSet<(String, String)>,
    /// Apps whose group assignments changed (which changes the app's group list and its
    /// users' `scope`): re-read both lists.
    pub apps: BTreeSet<String>,
    /// (app, user) of each user assigned an app or unassigned from it.
    pub app_users: BTreeSet<(String, String)>,
    /// (app, user) whose window's last app event is a removal: the assignment is gone
    /// (Okta logs a new addition if a group gives the app back), unless a group still
    /// gives the app.
    pub app_users_removed: BTreeSet<(String, String)>,
    /// (app, user) → the window's last app event about it, when that event is an
    /// addition.
    pub app_users_added: BTreeMap<(String, String), AppUserAdded>,
    /// (user, group) → its membership events with a time, in order: (`published` epoch
    /// ms, added). Kept per pair, so that asking about one pair does not scan a large
    /// group rule's thousands of events.
    pub membership_log: BTreeMap<(String, String), Vec<(i64, bool)>>,
    /// User → when they were created (`published` epoch ms).
    pub created_at: BTreeMap<String, i64>,
    /// Users created: members of `Everyone` from now on.
    pub created_users: BTreeSet<String>,
    /// Users whose factors changed: an admin's factors are read again.
    pub factor_users: BTreeSet<String>,
    /// User id → their latest successful sign-in (epoch ms): `lastLogin` moves without
    /// `lastUpdated`.
    pub sign_ins: BTreeMap<String, i64>,
    /// API token id → the latest `published` (epoch ms) of an event made with it.
    pub token_uses: BTreeMap<String, i64>,
    /// Every principal's roles are read again: a custom role's binding to a resource set
    /// changed (`iam.resourceset.bindings.*`, whose targets are the binding, not its
    /// members), or a privilege event named no user or group.
    pub all_roles: bool,
    /// Every admin's factors are read again: a factor type was deactivated for the
    /// whole org (`system.mfa.factor.deactivate`), which names no user.
    pub all_factors: bool,
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

/// An app assignment the window's last event about it added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppUserAdded {
    /// When (`published` epoch ms), if the event says.
    pub at: Option<i64>,
    /// The id of the event's `AppUser` target: the assignment's id.
    pub assignment_id: Option<String>,
    /// An addition came before it in the window with no removal between: the second
    /// changed an assignment the user already had (Okta turning a group's assignment
    /// into an individual one), so its `scope` cannot be told from memberships.
    pub repeated: bool,
}

/// The members of the groups assigned to apps (group id → user ids), as the last sync
/// left them: what tells an app assignment's `scope` when the window's events alone
/// cannot.
pub type GroupMembers = BTreeMap<String, BTreeSet<String>>;

/// The groups of `members` whose kept members do not number what `counts` (group id →
/// the member count Okta gives) says; a group `counts` does not name is taken as it is.
pub fn miscounted(members: &GroupMembers, counts: &BTreeMap<&str, u64>) -> Vec<String> {
    members
        .iter()
        .filter(|(g, m)| counts.get(g.as_str()).is_some_and(|n| *n != m.len() as u64))
        .map(|(g, _)| g.clone())
        .collect()
}

impl Changes {
    /// `user`'s membership of `group` at `at` (the same millisecond included: Okta may log
    /// the assignment a membership causes first) by the window's events: the last
    /// membership event about the pair by then, or for a group in `everyone` the user's
    /// creation by then. `None` when the window says nothing by then.
    pub fn membership_at(
        &self,
        user: &str,
        group: &str,
        at: i64,
        everyone: &[&str],
    ) -> Option<bool> {
        let last = self
            .membership_log
            .get(&(user.to_string(), group.to_string()))
            .and_then(|log| log.iter().rfind(|(t, _)| *t <= at));
        match last {
            Some((_, added)) => Some(*added),
            None => (everyone.contains(&group)
                && self.created_at.get(user).is_some_and(|c| *c <= at))
            .then_some(true),
        }
    }

    /// The `scope` of the app assignment of `user` added by the event published at `at`,
    /// to an app assigned the groups `granting`: `GROUP` when, by the window's events,
    /// the user had joined one of them by then (or, for `everyone`, had been created);
    /// `USER` when no group is assigned the app, or when by `members` and the window the
    /// user was in none of them (an individual assignment). `None` when it cannot be
    /// told, so the caller reads the assignment: the event has no time or is
    /// `repeated`; a granting group's members are not in `members`; the user joins a
    /// granting group later in the window (Okta may log a group's assignment before the
    /// membership that causes it); or the user was in a granting group since before the
    /// window (an individual assignment of an app a group already gave, or a group
    /// assignment whose members' events the last window did not see).
    pub fn scope_of_added(
        &self,
        user: &str,
        added: &AppUserAdded,
        granting: &[String],
        members: &GroupMembers,
        everyone: &[&str],
    ) -> Option<&'static str> {
        if granting.is_empty() {
            return Some("USER");
        }
        let at = added.at.filter(|_| !added.repeated)?;
        let by_window: Vec<Option<bool>> = granting
            .iter()
            .map(|g| self.membership_at(user, g, at, everyone))
            .collect();
        if by_window.contains(&Some(true)) {
            return Some("GROUP");
        }
        if granting
            .iter()
            .any(|g| self.joins_after(user, g, at, everyone))
        {
            return None;
        }
        let mut untold = granting.iter().zip(&by_window).filter(|(_, m)| m.is_none());
        let member_before = untold.any(|(g, _)| members.get(g).is_none_or(|m| m.contains(user)));
        (!member_before).then_some("USER")
    }

    /// Whether, by the window's events, `user` joins `group` (or, for a group in
    /// `everyone`, is created) after `at`.
    fn joins_after(&self, user: &str, group: &str, at: i64, everyone: &[&str]) -> bool {
        self.membership_log
            .get(&(user.to_string(), group.to_string()))
            .is_some_and(|log| log.iter().any(|(t, added)| *added && *t > at))
            || (everyone.contains(&group) && self.created_at.get(user).is_some_and(|c| *c > at))
    }

    /// Whether the app assignment of `user` that the window's last event about it
    /// removed is gone: yes when, at the window's end, by `members` and the window's
    /// events, the user is in none of `granting` (the groups assigned the app). Else
    /// (a group may still give the app, Okta then keeping the app user with scope
    /// `GROUP`, or a granting group's members are not in `members`) the caller reads it.
    pub fn removed_is_gone(
        &self,
        user: &str,
        granting: &[String],
        members: &GroupMembers,
        everyone: &[&str],
    ) -> bool {
        granting
            .iter()
            .all(|g| match self.membership_at(user, g, i64::MAX, everyone) {
                Some(member) => !member,
                None => members.get(g).is_some_and(|m| !m.contains(user)),
            })
    }

    /// Brings `members` (as the last sync left them) to the window's end: the last
    /// membership event of each pair, new users into the `everyone` groups, deleted
    /// users and groups out. Groups not in `members` stay out.
    pub fn apply_to(&self, members: &mut GroupMembers, everyone: &[&str]) {
        for user in &self.created_users {
            for g in everyone {
                if let Some(m) = members.get_mut(*g) {
                    m.insert(user.clone());
                }
            }
        }
        for ((user, group), member) in &self.memberships {
            if let Some(m) = members.get_mut(group) {
                if *member {
                    m.insert(user.clone());
                } else {
                    m.remove(user);
                }
            }
        }
        for gone in &self.deleted {
            members.remove(gone);
            for m in members.values_mut() {
                m.remove(gone);
            }
        }
    }
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
    for e in events {
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
                        if let Some(ms) = e.published_ms() {
                            c.membership_log
                                .entry((user.clone(), group.clone()))
                                .or_default()
                                .push((ms, added));
                        }
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
                let assignment_id = target_ids(e, "AppUser").next();
                for app in target_ids(e, "AppInstance") {
                    for user in target_ids(e, "User") {
                        let pair = (app.clone(), user);
                        if removed {
                            c.app_users_added.remove(&pair);
                            c.app_users_removed.insert(pair.clone());
                        } else {
                            c.app_users_removed.remove(&pair);
                            let added = AppUserAdded {
                                at: e.published_ms(),
                                assignment_id: assignment_id.clone(),
                                repeated: c.app_users_added.contains_key(&pair),
                            };
                            c.app_users_added.insert(pair.clone(), added);
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
            "user.account.privilege.grant"
            | "user.account.privilege.revoke"
            | "group.privilege.grant"
            | "group.privilege.revoke" => {
                let users: Vec<String> = target_ids(e, "User").collect();
                let groups: Vec<String> = target_ids(e, "UserGroup").collect();
                // Whom the event is about is unknown: read everyone's roles.
                c.all_roles |= users.is_empty() && groups.is_empty();
                c.privilege_users.extend(users);
                c.privilege_groups.extend(groups);
            }
            "iam.resourceset.bindings.add" | "iam.resourceset.bindings.delete" => {
                c.all_roles = true;
            }
            "system.mfa.factor.deactivate" => c.all_factors = true,
            "system.api_token.create" | "system.api_token.revoke" => c.tokens = true,
            "user.lifecycle.create" => {
                for user in target_ids(e, "User") {
                    if let Some(ms) = e.published_ms() {
                        c.created_at.insert(user.clone(), ms);
                    }
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
            | "user.mfa.factor.reset_all"
            | "user.mfa.factor.suspend"
            | "user.mfa.factor.unsuspend"
            | "user.mfa.factor.update" => {
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
    c.app_users_removed
        .retain(|(a, u)| !deleted.contains(a) && !deleted.contains(u));
    c.app_users_added
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

    /// An event published `s` seconds into 2026-01-01.
    fn event_at(s: i64, kind: &str, targets: serde_json::Value) -> LogEvent {
        let published = format!("2026-01-01T00:00:{s:02}.000Z");
        LogEvent::from_value(
            &json!({"uuid": "u", "eventType": kind, "target": targets, "published": published}),
        )
        .expect("event")
    }

    const T0: i64 = 1_767_225_600_000;

    #[test]
    fn events_name_what_to_reread() {
        let events = vec![
            event_at(
                0,
                "group.user_membership.add",
                json!([{"id": "00u1", "type": "User"}, {"id": "00g1", "type": "UserGroup"}]),
            ),
            event_at(
                1,
                "application.user_membership.remove",
                json!([{"id": "0ua1", "type": "AppUser"}, {"id": "0oa1", "type": "AppInstance"}, {"id": "00u1", "type": "User"}]),
            ),
            event_at(
                2,
                "application.user_membership.add",
                json!([{"id": "0ua2", "type": "AppUser"}, {"id": "0oa2", "type": "AppInstance"}, {"id": "00u2", "type": "User"}]),
            ),
            event_at(
                3,
                "group.user_membership.remove",
                json!([{"id": "00u4", "type": "User"}, {"id": "00g4", "type": "UserGroup"}]),
            ),
            event_at(
                4,
                "group.privilege.grant",
                json!([{"id": "00g2", "type": "UserGroup"}]),
            ),
            event_at(
                5,
                "system.api_token.revoke",
                json!([{"id": "00T1", "type": "Token"}]),
            ),
            event_at(
                6,
                "user.lifecycle.create",
                json!([{"id": "00u9", "type": "User"}]),
            ),
            event_at(
                7,
                "user.mfa.factor.activate",
                json!([{"id": "00u7", "type": "User"}]),
            ),
            event_at(
                8,
                "group.user_membership.add",
                json!([{"id": "00g3", "type": "UserGroup"}]),
            ),
            event_at(
                9,
                "group.lifecycle.delete",
                json!([{"id": "00g3", "type": "UserGroup"}]),
            ),
            event_at(10, "user.session.start", json!([])),
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
        assert_eq!(c.app_users_removed, BTreeSet::from([pair("0oa1", "00u1")]));
        assert_eq!(
            c.membership_log,
            BTreeMap::from([
                (pair("00u1", "00g1"), vec![(T0, true)]),
                (pair("00u4", "00g4"), vec![(T0 + 3000, false)]),
            ])
        );
        assert_eq!(
            c.created_at,
            BTreeMap::from([("00u9".to_string(), T0 + 6000)])
        );
        assert_eq!(
            c.app_users_added,
            BTreeMap::from([(
                pair("0oa2", "00u2"),
                AppUserAdded {
                    at: Some(T0 + 2000),
                    assignment_id: Some("0ua2".to_string()),
                    repeated: false,
                }
            )])
        );
        assert!(c.tokens && !c.all_roles && !c.all_factors);
        assert_eq!(c.created_users, BTreeSet::from(["00u9".to_string()]));
        assert_eq!(c.factor_users, BTreeSet::from(["00u7".to_string()]));
        assert_eq!(c.deleted, BTreeSet::from(["00g3".to_string()]));
        assert_eq!(c.events, 11);
        assert_eq!(changes(&[]), Changes::default());
    }

    #[test]
    fn an_added_assignments_scope_follows_from_the_kept_members_and_the_window() {
        let member = |s: i64, kind: &str, user: &str, group: &str| {
            event_at(
                s,
                kind,
                json!([{"id": user, "type": "User"}, {"id": group, "type": "UserGroup"}]),
            )
        };
        let c = changes(&[
            member(0, "group.user_membership.add", "00u1", "00gA"),
            member(1, "group.user_membership.add", "00u2", "00gA"),
            member(2, "group.user_membership.remove", "00u2", "00gA"),
            event_at(
                3,
                "user.lifecycle.create",
                json!([{"id": "00u3", "type": "User"}]),
            ),
            member(5, "group.user_membership.remove", "00u5", "00gA"),
            member(6, "group.user_membership.add", "00u7", "00gC"),
        ]);
        let ids = |g: &[&str]| g.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let set = |g: &[&str]| g.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
        // Before the window: 00u5 in 00gA and `Everyone`, 00u6 in 00gB; 00gC's members
        // are not kept.
        let members = GroupMembers::from([
            ("00gA".to_string(), set(&["00u5"])),
            ("00gB".to_string(), set(&["00u6"])),
            ("00gE".to_string(), set(&["00u5", "00u6"])),
        ]);
        let everyone = ["00gE"];
        // (user, second of the addition, groups assigned the app) → scope, or None to read.
        let cases = [
            // Joined a group assigned the app before the addition.
            ("00u1", 1, ids(&["00gA"]), Some("GROUP")),
            // In the same millisecond: the membership explains it, whatever the order.
            ("00u1", 0, ids(&["00gA"]), Some("GROUP")),
            // The addition came first and the user joins later: Okta may have logged the
            // group's assignment before the membership. Read.
            ("00u1", -1, ids(&["00gA"]), None),
            // Joined a group that is not assigned the app.
            ("00u1", 4, ids(&["00gB"]), Some("USER")),
            // Joined, then left, before the addition.
            ("00u2", 4, ids(&["00gA"]), Some("USER")),
            // Between joining and leaving.
            ("00u2", 1, ids(&["00gA"]), Some("GROUP")),
            // Created, so a member of `Everyone`, which is assigned the app.
            ("00u3", 4, ids(&["00gE"]), Some("GROUP")),
            // Before the creation, likewise.
            ("00u3", 2, ids(&["00gE"]), None),
            // No event about the user, in no granting group: individual.
            ("00u9", 4, ids(&["00gA", "00gE"]), Some("USER")),
            // No group is assigned the app.
            ("00u5", 4, ids(&[]), Some("USER")),
            // In a granting group since before the window, no join to explain it: an
            // individual assignment of an app a group gives, or a group's assignment
            // logged late. Read.
            ("00u5", 4, ids(&["00gA"]), None),
            ("00u6", 4, ids(&["00gA", "00gB"]), None),
            // Left that group before the addition: individual.
            ("00u5", 6, ids(&["00gA"]), Some("USER")),
            // A granting group whose members are not kept: read.
            ("00u9", 4, ids(&["00gC"]), None),
            // ... unless the window explains the addition through another.
            ("00u1", 4, ids(&["00gC", "00gA"]), Some("GROUP")),
        ];
        let added = |at: Option<i64>, repeated: bool| AppUserAdded {
            at,
            assignment_id: Some("0ua1".to_string()),
            repeated,
        };
        for (user, at, groups, want) in cases {
            let event = added(Some(T0 + at * 1000), false);
            assert_eq!(
                c.scope_of_added(user, &event, &groups, &members, &everyone),
                want,
                "{user} at {at} via {groups:?}"
            );
        }
        // When groups are assigned the app, an event without a time tells nothing, nor
        // does a second addition (an assignment the user had, changed).
        for event in [added(None, false), added(Some(T0 + 1000), true)] {
            assert_eq!(
                c.scope_of_added("00u1", &event, &ids(&["00gA"]), &members, &everyone),
                None,
                "{event:?}"
            );
        }
        assert_eq!(
            c.scope_of_added("00u1", &added(None, true), &[], &members, &everyone),
            Some("USER")
        );

        // A removal is final when no granting group still gives the app at the end.
        let removals = [
            ("00u9", ids(&["00gA"]), true),
            ("00u9", ids(&[]), true),
            // Still in 00gA at the end (joined in the window, or kept and not left).
            ("00u1", ids(&["00gA"]), false),
            ("00u6", ids(&["00gA", "00gB"]), false),
            // Left it in the window.
            ("00u5", ids(&["00gA"]), true),
            ("00u2", ids(&["00gA"]), true),
            // A new user is in `Everyone`.
            ("00u3", ids(&["00gE"]), false),
            // 00gC's members are not kept: read.
            ("00u9", ids(&["00gC"]), false),
        ];
        for (user, groups, gone) in removals {
            assert_eq!(
                c.removed_is_gone(user, &groups, &members, &everyone),
                gone,
                "{user} via {groups:?}"
            );
        }

        // The kept members brought to the window's end (00gC's are not kept, and its
        // membership event does not start keeping them).
        let mut after = members.clone();
        c.apply_to(&mut after, &everyone);
        assert_eq!(
            after,
            GroupMembers::from([
                ("00gA".to_string(), set(&["00u1"])),
                ("00gB".to_string(), set(&["00u6"])),
                ("00gE".to_string(), set(&["00u3", "00u5", "00u6"])),
            ])
        );
        let c = changes(&[
            event_at(
                0,
                "user.lifecycle.delete.completed",
                json!([{"id": "00u6", "type": "User"}]),
            ),
            event_at(
                1,
                "group.lifecycle.delete",
                json!([{"id": "00gB", "type": "UserGroup"}]),
            ),
        ]);
        c.apply_to(&mut after, &everyone);
        assert_eq!(
            after,
            GroupMembers::from([
                ("00gA".to_string(), set(&["00u1"])),
                ("00gE".to_string(), set(&["00u3", "00u5"])),
            ])
        );
    }

    #[test]
    fn kept_members_that_do_not_number_the_groups_count_are_miscounted() {
        let set = |g: &[&str]| g.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
        let members = GroupMembers::from([
            ("00gA".to_string(), set(&["00u1", "00u2"])),
            ("00gB".to_string(), set(&["00u1"])),
            ("00gC".to_string(), set(&[])),
            ("00gD".to_string(), set(&["00u3"])),
        ]);
        // 00gA adds up; 00gB lost a member the log did not show, 00gC gained one; 00gD
        // has no count (the list gave no stats), so it stands.
        let counts = BTreeMap::from([("00gA", 2), ("00gB", 0), ("00gC", 1), ("00gX", 5)]);
        assert_eq!(miscounted(&members, &counts), vec!["00gB", "00gC"]);
    }

    #[test]
    fn a_second_addition_without_a_removal_between_is_repeated() {
        let app_event = |s: i64, kind: &str, user: &str| {
            event_at(
                s,
                kind,
                json!([{"id": "0ua1", "type": "AppUser"}, {"id": "0oa1", "type": "AppInstance"}, {"id": user, "type": "User"}]),
            )
        };
        let add = "application.user_membership.add";
        let remove = "application.user_membership.remove";
        let c = changes(&[
            app_event(0, add, "00u1"),
            app_event(1, add, "00u1"),
            app_event(0, add, "00u2"),
            app_event(1, remove, "00u2"),
            app_event(2, add, "00u2"),
            app_event(3, add, "00u3"),
        ]);
        let repeated =
            |user: &str| c.app_users_added[&("0oa1".to_string(), user.to_string())].repeated;
        assert!(repeated("00u1"));
        assert!(!repeated("00u2"));
        assert!(!repeated("00u3"));
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
        assert!(!c.all_roles);
        assert_eq!(
            c.privilege_users,
            BTreeSet::from(["00u1".to_string(), "00u2".to_string()])
        );
        assert_eq!(c.privilege_groups, BTreeSet::from(["00g1".to_string()]));
        // An event that names no principal, or a custom role's binding changing, leaves
        // whom it concerns unknown: every principal's roles are read.
        let unnamed = changes(&[event("group.privilege.grant", json!([]))]);
        assert_eq!(unnamed.privilege_groups, BTreeSet::new());
        assert!(unnamed.all_roles);
        for kind in [
            "iam.resourceset.bindings.add",
            "iam.resourceset.bindings.delete",
        ] {
            let c = changes(&[event(kind, json!([{"id": "iam1", "type": "ResourceSet"}]))]);
            assert!(c.all_roles, "{kind}");
        }
    }

    #[test]
    fn factor_events_name_the_users_and_an_org_wide_deactivation_names_every_admin() {
        for kind in [
            "user.mfa.factor.suspend",
            "user.mfa.factor.unsuspend",
            "user.mfa.factor.update",
            "user.mfa.factor.deactivate",
        ] {
            let c = changes(&[event(kind, json!([{"id": "00u5", "type": "User"}]))]);
            assert_eq!(
                c.factor_users,
                BTreeSet::from(["00u5".to_string()]),
                "{kind}"
            );
            assert!(!c.all_factors, "{kind}");
        }
        let c = changes(&[event("system.mfa.factor.deactivate", json!([]))]);
        assert!(c.all_factors);
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
