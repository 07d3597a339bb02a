//! A simulated day's changes to the identity graph, each with the System Log event Okta
//! writes for it: group memberships (`group.user_membership.add/remove`), app
//! assignments (`application.user_membership.add/remove`), apps assigned to groups or
//! unassigned from them (`group.application_assignment.add/remove`, with the members'
//! app assignments that follow), role grants and revokes to users
//! (`user.account.privilege.grant/revoke`) and groups (`group.privilege.grant/revoke`),
//! and API tokens (`system.api_token.create/revoke`).
//!
//! Drawn from its own random stream, after the day's other changes. It also keeps the
//! graph's invariant (a member of a group assigned an app has a link to it): new users
//! join `Everyone` and the group their creation event names, and users whose app links
//! were cleared leave the groups that gave them apps.

use std::collections::HashMap;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use crate::graph::{Principal, RoleRef, RoleScope};
use crate::ids::mix64;
use crate::model::*;
use crate::time::DAY_MS;

impl Org {
    /// Applies the graph's share of a day in `(from, to)` and pushes its events to `out`.
    /// `out` already holds the day's other events (new users' group additions included).
    pub(crate) fn advance_graph(
        &mut self,
        seed: u64,
        from: i64,
        to: i64,
        fraction: f64,
        events: &mut Vec<LogEvent>,
    ) {
        let mut rng = StdRng::seed_from_u64(
            mix64(seed ^ 0x6772_6170_6864_6179) ^ mix64(self.seed) ^ mix64(from as u64),
        );
        let mut user_last: HashMap<u32, i64> = HashMap::new();
        for e in events.iter() {
            if let Some(u) = e.target.user() {
                let last = user_last.entry(u).or_insert(e.published_ms);
                *last = (*last).max(e.published_ms);
            }
        }
        let out = &mut DayLog { events, user_last };
        // Times only move forward, so the log tells the changes in the order they happen.
        let mut clock = from + 1;
        let mut time_in = |rng: &mut StdRng| {
            if to > from + 1 {
                clock = clock.max(rng.gen_range(from + 1..to));
            }
            clock.min(to)
        };
        self.keep_graph_invariant(&mut rng, out, &mut time_in);
        if fraction <= 0.0 {
            return;
        }
        let n = self.users.len();
        let k = ((n as f64 * fraction) / 4.0).ceil().max(1.0) as usize;
        for _ in 0..k {
            let t = time_in(&mut rng);
            self.join_random_group(&mut rng, t, out);
            let t = time_in(&mut rng);
            self.leave_random_group(&mut rng, t, out);
            let t = time_in(&mut rng);
            self.assign_random_app(&mut rng, t, out);
            let t = time_in(&mut rng);
            self.unassign_random_app(&mut rng, t, out);
        }
        let t = time_in(&mut rng);
        self.grant_user_role(&mut rng, t, out);
        let t = time_in(&mut rng);
        self.revoke_user_role(&mut rng, t, out);
        let t = time_in(&mut rng);
        if rng.gen_bool(0.5) {
            self.grant_group_role(&mut rng, t, out);
        } else {
            self.revoke_group_role(&mut rng, t, out);
        }
        let t = time_in(&mut rng);
        if rng.gen_bool(0.6) {
            self.create_token(&mut rng, t, out);
        }
        let t = time_in(&mut rng);
        if rng.gen_bool(0.5) {
            self.revoke_token(&mut rng, t, out);
        }
        let t = time_in(&mut rng);
        if rng.gen_bool(0.5) {
            self.assign_group_app(&mut rng, t, out);
        } else {
            self.unassign_group_app(&mut rng, t, out);
        }
    }

    /// Assigns an app to a group with members, then gives it to the members who had
    /// none (through the group), each logged.
    fn assign_group_app(&mut self, rng: &mut StdRng, t: i64, out: &mut DayLog<'_>) {
        let groups: Vec<u16> = self
            .groups_of_kind(GroupKind::OktaGroup)
            .into_iter()
            .filter(|&g| !self.groups[g as usize].members.is_empty())
            .collect();
        let apps = self.assignable_apps();
        let (Some(&group), Some(&app)) = (groups.choose(rng), apps.choose(rng)) else {
            return;
        };
        if self
            .group_apps
            .iter()
            .any(|a| a.group == group && a.app == app)
        {
            return;
        }
        let priority = self.group_apps.iter().filter(|a| a.app == app).count() as u32;
        self.group_apps.push(crate::graph::GroupApp {
            group,
            app,
            priority,
            assigned_ms: t,
        });
        let actor = self.graph_actor(rng);
        let target = Target::GroupApp { group, app };
        self.log_graph(rng, EventKind::GroupAppAssignmentAdd, t, actor, target, out);
        for user in self.groups[group as usize].members.clone() {
            if self.link_app(rng, user, app, false) {
                let target = Target::AppMember { user, app };
                self.log_graph(
                    rng,
                    EventKind::AppMembershipAdd,
                    t,
                    Actor::System,
                    target,
                    out,
                );
            }
        }
    }

    /// Unassigns an app from a group, then takes it from the members no other group
    /// gives it to and who do not hold it individually, each logged.
    fn unassign_group_app(&mut self, rng: &mut StdRng, t: i64, out: &mut DayLog<'_>) {
        if self.group_apps.is_empty() {
            return;
        }
        let i = rng.gen_range(0..self.group_apps.len());
        let removed = self.group_apps.remove(i);
        let (group, app) = (removed.group, removed.app);
        let actor = self.graph_actor(rng);
        let target = Target::GroupApp { group, app };
        self.log_graph(
            rng,
            EventKind::GroupAppAssignmentRemove,
            t,
            actor,
            target,
            out,
        );
        for user in self.groups[group as usize].members.clone() {
            self.take_app_if_nothing_gives_it(rng, user, app, t, out);
        }
    }

    /// New users join `Everyone` and the group their creation named; users without the
    /// link a group's app gives leave that group.
    fn keep_graph_invariant(
        &mut self,
        rng: &mut StdRng,
        out: &mut DayLog<'_>,
        time_in: &mut impl FnMut(&mut StdRng) -> i64,
    ) {
        let n = self.users.len() as u32;
        for g in self.groups_of_kind(GroupKind::BuiltIn) {
            let members = &mut self.groups[g as usize].members;
            let next = members.last().map_or(0, |&u| u + 1);
            members.extend(next..n);
        }
        let joins: Vec<(u32, u16, i64)> = out
            .events
            .iter()
            .filter(|e| e.kind == EventKind::GroupMembershipAdd)
            .filter_map(|e| match e.target {
                Target::GroupMember { user, group } => Some((user, group, e.published_ms)),
                _ => None,
            })
            .collect();
        for (user, group, t) in joins {
            self.add_member(rng, user, group, t, out);
        }
        let mut leaves: Vec<(u32, u16)> = Vec::new();
        for a in &self.group_apps {
            for &u in &self.groups[a.group as usize].members {
                let linked = self.users[u as usize]
                    .app_links
                    .iter()
                    .any(|l| l.app == a.app);
                if !linked && !leaves.contains(&(u, a.group)) {
                    leaves.push((u, a.group));
                }
            }
        }
        for (user, group) in leaves {
            let t = time_in(rng);
            self.remove_member(rng, user, group, t, out);
        }
    }

    /// Adds `user` to `group` (no event: the caller logs the addition) and links the
    /// group's apps, logging each new app assignment.
    fn add_member(
        &mut self,
        rng: &mut StdRng,
        user: u32,
        group: u16,
        t: i64,
        out: &mut DayLog<'_>,
    ) {
        let g = &mut self.groups[group as usize];
        if let Err(pos) = g.members.binary_search(&user) {
            g.members.insert(pos, user);
        }
        g.last_membership_updated_ms = g.last_membership_updated_ms.max(t);
        let apps: Vec<u16> = self
            .group_apps
            .iter()
            .filter(|a| a.group == group)
            .map(|a| a.app)
            .collect();
        let actor = Actor::System;
        for app in apps {
            if self.link_app(rng, user, app, false) {
                let target = Target::AppMember { user, app };
                self.log_graph(rng, EventKind::AppMembershipAdd, t, actor, target, out);
            }
        }
    }

    /// Removes `user` from `group`, logging it, and unlinks the apps no other group of
    /// theirs gives and that are not assigned to them individually, logging each
    /// removal.
    fn remove_member(
        &mut self,
        rng: &mut StdRng,
        user: u32,
        group: u16,
        t: i64,
        out: &mut DayLog<'_>,
    ) {
        let g = &mut self.groups[group as usize];
        let Ok(pos) = g.members.binary_search(&user) else {
            return;
        };
        g.members.remove(pos);
        g.last_membership_updated_ms = g.last_membership_updated_ms.max(t);
        let actor = self.graph_actor(rng);
        let target = Target::GroupMember { user, group };
        self.log_graph(rng, EventKind::GroupMembershipRemove, t, actor, target, out);
        let apps: Vec<u16> = self
            .group_apps
            .iter()
            .filter(|a| a.group == group)
            .map(|a| a.app)
            .collect();
        for app in apps {
            self.take_app_if_nothing_gives_it(rng, user, app, t, out);
        }
    }

    /// Takes `app` from `user`, logged, when the user has it but neither a group nor an
    /// individual assignment gives it any more.
    fn take_app_if_nothing_gives_it(
        &mut self,
        rng: &mut StdRng,
        user: u32,
        app: u16,
        t: i64,
        out: &mut DayLog<'_>,
    ) {
        let linked = self.users[user as usize]
            .app_links
            .iter()
            .any(|l| l.app == app);
        if linked
            && self.groups_granting(user, app).is_empty()
            && !self.assigned_directly(user, app)
        {
            self.unlink_app(user, app, t);
            let target = Target::AppMember { user, app };
            self.log_graph(
                rng,
                EventKind::AppMembershipRemove,
                t,
                Actor::System,
                target,
                out,
            );
        }
    }

    fn unlink_app(&mut self, user: u32, app: u16, t: i64) {
        let u = &mut self.users[user as usize];
        u.app_links.retain(|l| l.app != app);
        for (i, link) in u.app_links.iter_mut().enumerate() {
            link.sort_order = i as u16;
        }
        u.last_updated_ms = t;
    }

    fn active_users(&self) -> Vec<u32> {
        (0..self.users.len() as u32)
            .filter(|&u| self.users[u as usize].status == UserStatus::Active)
            .collect()
    }

    fn join_random_group(&mut self, rng: &mut StdRng, t: i64, out: &mut DayLog<'_>) {
        let groups = self.groups_of_kind(GroupKind::OktaGroup);
        let (Some(&user), Some(&group)) = (self.active_users().choose(rng), groups.choose(rng))
        else {
            return;
        };
        if self.groups[group as usize]
            .members
            .binary_search(&user)
            .is_ok()
        {
            return;
        }
        let actor = self.graph_actor(rng);
        let target = Target::GroupMember { user, group };
        self.log_graph(rng, EventKind::GroupMembershipAdd, t, actor, target, out);
        self.add_member(rng, user, group, t, out);
    }

    fn leave_random_group(&mut self, rng: &mut StdRng, t: i64, out: &mut DayLog<'_>) {
        let groups: Vec<u16> = self
            .groups_of_kind(GroupKind::OktaGroup)
            .into_iter()
            .filter(|&g| !self.groups[g as usize].members.is_empty())
            .collect();
        let Some(&group) = groups.choose(rng) else {
            return;
        };
        let members = &self.groups[group as usize].members;
        let user = members[rng.gen_range(0..members.len())];
        self.remove_member(rng, user, group, t, out);
    }

    fn assign_random_app(&mut self, rng: &mut StdRng, t: i64, out: &mut DayLog<'_>) {
        let apps = self.assignable_apps();
        let (Some(&user), Some(&app)) = (self.active_users().choose(rng), apps.choose(rng)) else {
            return;
        };
        if self.link_app(rng, user, app, true) {
            self.users[user as usize].last_updated_ms = t;
            let actor = self.graph_actor(rng);
            let target = Target::AppMember { user, app };
            self.log_graph(rng, EventKind::AppMembershipAdd, t, actor, target, out);
        }
    }

    fn unassign_random_app(&mut self, rng: &mut StdRng, t: i64, out: &mut DayLog<'_>) {
        let Some(&user) = self.active_users().choose(rng) else {
            return;
        };
        let direct: Vec<u16> = self
            .apps_of_user(&self.users[user as usize])
            .into_iter()
            .filter(|&a| a >= 3 && self.groups_granting(user, a).is_empty())
            .collect();
        let Some(&app) = direct.choose(rng) else {
            return;
        };
        self.unlink_app(user, app, t);
        let actor = self.graph_actor(rng);
        let target = Target::AppMember { user, app };
        self.log_graph(rng, EventKind::AppMembershipRemove, t, actor, target, out);
    }

    fn grant_user_role(&mut self, rng: &mut StdRng, t: i64, out: &mut DayLog<'_>) {
        let candidates: Vec<u32> = self
            .active_users()
            .into_iter()
            .filter(|&u| !self.admins.iter().any(|a| a.user == u))
            .collect();
        let Some(&user) = candidates.choose(rng) else {
            return;
        };
        let role = if rng.gen_bool(0.1) {
            AdminRole::SuperAdmin
        } else {
            *[
                AdminRole::HelpDeskAdmin,
                AdminRole::AppAdmin,
                AdminRole::ReadOnlyAdmin,
                AdminRole::UserAdmin,
                AdminRole::ReportAdmin,
            ]
            .choose(rng)
            .unwrap_or(&AdminRole::ReadOnlyAdmin)
        };
        let admin = Admin {
            user,
            role,
            role_assignment_id: self.new_id(rng, "ra1"),
            assigned_ms: t,
            scope: RoleScope::Org,
        };
        self.admins.push(admin);
        let actor = self.graph_actor(rng);
        let target = Target::UserRole {
            user,
            role: RoleRef::Standard(role),
        };
        self.log_graph(rng, EventKind::PrivilegeGrant, t, actor, target, out);
    }

    fn revoke_user_role(&mut self, rng: &mut StdRng, t: i64, out: &mut DayLog<'_>) {
        // The first admin (a super admin) stays, so the org always has one.
        if self.admins.len() < 3 {
            return;
        }
        let i = rng.gen_range(1..self.admins.len());
        let admin = self.admins.remove(i);
        let actor = self.graph_actor(rng);
        let target = Target::UserRole {
            user: admin.user,
            role: RoleRef::Standard(admin.role),
        };
        self.log_graph(rng, EventKind::PrivilegeRevoke, t, actor, target, out);
    }

    fn grant_group_role(&mut self, rng: &mut StdRng, t: i64, out: &mut DayLog<'_>) {
        let groups: Vec<u16> = self
            .admin_group_candidates()
            .into_iter()
            .filter(|&g| !self.group_holds_a_role(g))
            .collect();
        // On even milliseconds the grant goes to a group with an admin among its members
        // when there is one (an existing admin gains a role through a group); the choice
        // draws no random number, so the days that follow stay as they were.
        let with_admin: Vec<u16> = groups
            .iter()
            .copied()
            .filter(|&g| {
                self.groups[g as usize]
                    .members
                    .iter()
                    .any(|m| self.admins.iter().any(|a| a.user == *m))
            })
            .collect();
        let pool = if t % 2 == 0 && !with_admin.is_empty() {
            &with_admin
        } else {
            &groups
        };
        let Some(&group) = pool.choose(rng) else {
            return;
        };
        let role = *[AdminRole::HelpDeskAdmin, AdminRole::GroupMembershipAdmin]
            .choose(rng)
            .unwrap_or(&AdminRole::HelpDeskAdmin);
        self.grant_role_to_group(rng, group, role, t, out);
    }

    /// Grants `group` the standard role `role` over the org at `t`, logged.
    fn grant_role_to_group(
        &mut self,
        rng: &mut StdRng,
        group: u16,
        role: AdminRole,
        t: i64,
        out: &mut DayLog<'_>,
    ) {
        let grant = crate::graph::RoleGrant {
            id: self.new_id(rng, "gra"),
            principal: Principal::Group(group),
            role: RoleRef::Standard(role),
            scope: RoleScope::Org,
            assigned_ms: t,
        };
        self.role_grants.push(grant);
        let actor = self.graph_actor(rng);
        let target = Target::GroupRole {
            group,
            role: RoleRef::Standard(role),
        };
        self.log_graph(rng, EventKind::GroupPrivilegeGrant, t, actor, target, out);
    }

    /// A scenario for tests: an existing admin who is not a super admin joins a group
    /// that holds no role (logged, with the app assignments the group gives) at the
    /// log's last event. With `grant_super_admin_to` days later, the admin becomes a
    /// super admin through a group they were already in,
    /// which okta-sim's random days seldom do (its generated orgs have no admin in a
    /// group small enough for a role). Returns the group's id, or `None` when the org
    /// has no such admin or group.
    pub fn admin_joins_a_group_without_a_role(&mut self) -> Option<String> {
        let admin = self
            .admins
            .iter()
            .find(|a| a.role != AdminRole::SuperAdmin)?
            .user;
        let group = self.admin_group_candidates().into_iter().rfind(|&g| {
            !self.group_holds_a_role(g)
                && self.groups[g as usize]
                    .members
                    .binary_search(&admin)
                    .is_err()
        })?;
        self.scenario_events(|org, rng, t, out| {
            let actor = org.graph_actor(rng);
            let target = Target::GroupMember { user: admin, group };
            org.log_graph(rng, EventKind::GroupMembershipAdd, t, actor, target, out);
            org.add_member(rng, admin, group, t, out);
        });
        Some(self.groups[group as usize].id.clone())
    }

    /// A scenario for tests, after a day's `advance`: the group `group_id` is granted
    /// `SUPER_ADMIN` at the log's last event (logged). Returns whether it was: not when
    /// no such group exists or it holds a role already.
    pub fn grant_super_admin_to(&mut self, group_id: &str) -> bool {
        let Some(group) = self.groups.iter().position(|g| g.id == group_id) else {
            return false;
        };
        let group = group as u16;
        if self.group_holds_a_role(group) {
            return false;
        }
        self.scenario_events(|org, rng, t, out| {
            org.grant_role_to_group(rng, group, AdminRole::SuperAdmin, t, out)
        });
        true
    }

    fn group_holds_a_role(&self, group: u16) -> bool {
        self.role_grants
            .iter()
            .any(|r| r.principal == Principal::Group(group))
    }

    /// Runs `change` at the time of the log's last event (so the log stays in order,
    /// before the data clock) and appends what it logged.
    fn scenario_events(
        &mut self,
        change: impl FnOnce(&mut Org, &mut StdRng, i64, &mut DayLog<'_>),
    ) {
        let t = self
            .events
            .last()
            .map_or(self.now_ms - 1, |e| e.published_ms);
        let mut rng = StdRng::seed_from_u64(mix64(self.seed) ^ mix64(t as u64));
        let mut events = Vec::new();
        let mut out = DayLog {
            events: &mut events,
            user_last: HashMap::new(),
        };
        change(self, &mut rng, t, &mut out);
        self.append_events(events);
    }

    fn revoke_group_role(&mut self, rng: &mut StdRng, t: i64, out: &mut DayLog<'_>) {
        let grants: Vec<usize> = (0..self.role_grants.len())
            .filter(|&i| matches!(self.role_grants[i].principal, Principal::Group(_)))
            .collect();
        let Some(&i) = grants.choose(rng) else {
            return;
        };
        let grant = self.role_grants.remove(i);
        let Principal::Group(group) = grant.principal else {
            return;
        };
        let actor = self.graph_actor(rng);
        let target = Target::GroupRole {
            group,
            role: grant.role,
        };
        self.log_graph(rng, EventKind::GroupPrivilegeRevoke, t, actor, target, out);
    }

    fn create_token(&mut self, rng: &mut StdRng, t: i64, out: &mut DayLog<'_>) {
        let Some(owner) = self.admins.choose(rng).map(|a| a.user) else {
            return;
        };
        let mut token = self.new_token(rng, owner, "Automation", t);
        token.created_ms = t;
        token.last_updated_ms = t;
        token.expires_ms = t + 30 * DAY_MS;
        self.api_tokens.push(token);
        let index = (self.api_tokens.len() - 1) as u16;
        self.log_graph(
            rng,
            EventKind::ApiTokenCreate,
            t,
            Actor::User(owner),
            Target::Token(index),
            out,
        );
    }

    fn revoke_token(&mut self, rng: &mut StdRng, t: i64, out: &mut DayLog<'_>) {
        let live: Vec<usize> = (0..self.api_tokens.len())
            .filter(|&i| self.api_tokens[i].revoked_ms.is_none())
            .collect();
        let Some(&i) = live.choose(rng) else {
            return;
        };
        self.api_tokens[i].revoked_ms = Some(t);
        self.api_tokens[i].last_updated_ms = t;
        let actor = self.graph_actor(rng);
        self.log_graph(
            rng,
            EventKind::ApiTokenRevoke,
            t,
            actor,
            Target::Token(i as u16),
            out,
        );
    }

    /// An admin to act as, or Okta itself when the org has none.
    fn graph_actor(&self, rng: &mut StdRng) -> Actor {
        self.admins
            .choose(rng)
            .map_or(Actor::System, |a| Actor::User(a.user))
    }

    fn log_graph(
        &mut self,
        rng: &mut StdRng,
        kind: EventKind,
        t: i64,
        actor: Actor,
        target: Target,
        out: &mut DayLog<'_>,
    ) {
        // Never before an earlier event of the day about the same user.
        let t = match target.user() {
            Some(u) => {
                let last = out.user_last.entry(u).or_insert(t);
                *last = (*last).max(t);
                *last
            }
            None => t,
        };
        let session = self.new_session(false);
        let e = self.event(rng, kind, t, actor, target, OutcomeResult::Success, session);
        out.events.push(e);
    }
}

/// The day's events, and the time of the latest one about each user.
pub(crate) struct DayLog<'a> {
    events: &'a mut Vec<LogEvent>,
    user_last: HashMap<u32, i64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::OrgSpec;
    use crate::render::Renderer;
    use serde_json::Value;

    const NOW: i64 = 1_795_400_000_000;

    fn scope_of(org: &Org, user: u32, app: u16) -> Value {
        Renderer::new(org, "https://acme.okta.com").app_user(app, user)["scope"].clone()
    }

    #[test]
    fn an_individual_assignment_outlives_groups_and_a_group_one_goes_with_them() {
        let mut org = Org::generate(&OrgSpec {
            seed: 7,
            users: 300,
            now_ms: NOW,
        });
        let ga = org.group_apps[0].clone();
        let (group, app) = (ga.group, ga.app);
        let outside: Vec<u32> = (0..org.users.len() as u32)
            .filter(|&u| org.users[u as usize].status == UserStatus::Active)
            .filter(|&u| org.groups_of_user(u).iter().all(|&g| g == 0))
            .filter(|&u| !org.users[u as usize].app_links.iter().any(|l| l.app == app))
            .take(2)
            .collect();
        let [direct, grouped] = outside[..] else {
            panic!("two users outside every group: {outside:?}")
        };
        let mut rng = StdRng::seed_from_u64(1);
        let mut events = Vec::new();
        let mut out = DayLog {
            events: &mut events,
            user_last: HashMap::new(),
        };
        assert!(org.link_app(&mut rng, direct, app, true));
        org.add_member(&mut rng, direct, group, NOW, &mut out);
        org.add_member(&mut rng, grouped, group, NOW, &mut out);
        // Joining: the individual assignment keeps `USER` and logs nothing; the user
        // without the app gets it from the group, logged with the assignment's id.
        assert_eq!(scope_of(&org, direct, app), "USER");
        assert_eq!(scope_of(&org, grouped, app), "GROUP");
        assert_eq!(out.events.len(), 1);
        let added = out.events[0].clone();
        assert_eq!(added.kind, EventKind::AppMembershipAdd);
        let mut json = Vec::new();
        Renderer::new(&org, "https://acme.okta.com").event(&mut json, &added);
        let json: Value = serde_json::from_slice(&json).expect("event JSON");
        let app_user = json["target"]
            .as_array()
            .and_then(|t| t.iter().find(|x| x["type"] == "AppUser"))
            .expect("AppUser target");
        assert_eq!(
            app_user["id"],
            Renderer::new(&org, "https://acme.okta.com").app_user(app, grouped)["_embedded"]
                ["assignment"]["id"]
        );
        // Leaving: the individual assignment stays; the group's goes, logged.
        org.remove_member(&mut rng, direct, group, NOW + 1, &mut out);
        org.remove_member(&mut rng, grouped, group, NOW + 2, &mut out);
        assert!(org.assigned_directly(direct, app));
        assert!(!org.users[grouped as usize]
            .app_links
            .iter()
            .any(|l| l.app == app));
        let kinds: Vec<EventKind> = out.events.iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            [
                EventKind::AppMembershipAdd,
                EventKind::GroupMembershipRemove,
                EventKind::GroupMembershipRemove,
                EventKind::AppMembershipRemove
            ]
        );
    }

    #[test]
    fn a_group_role_on_an_even_millisecond_goes_to_a_group_with_an_admin_member() {
        let mut org = Org::generate(&OrgSpec {
            seed: 7,
            users: 300,
            now_ms: NOW,
        });
        let mut rng = StdRng::seed_from_u64(5);
        let mut events = Vec::new();
        let mut out = DayLog {
            events: &mut events,
            user_last: HashMap::new(),
        };
        // The generated org has no admin in a group small enough for a role: put one
        // in the last candidate without a role.
        let admin = org.admins[0].user;
        let candidates: Vec<u16> = org
            .admin_group_candidates()
            .into_iter()
            .filter(|&g| {
                !org.role_grants
                    .iter()
                    .any(|r| r.principal == Principal::Group(g))
            })
            .collect();
        let target = *candidates.last().expect("a candidate group");
        let members = &mut org.groups[target as usize].members;
        if let Err(i) = members.binary_search(&admin) {
            members.insert(i, admin);
        }
        let before = org.role_grants.len();
        org.grant_group_role(&mut rng, NOW - NOW % 2, &mut out);
        let grant = org.role_grants.get(before).expect("a group granted a role");
        let Principal::Group(group) = grant.principal else {
            panic!("granted to {:?}", grant.principal)
        };
        assert_eq!(group, target, "of {candidates:?}");
        assert_eq!(out.events[0].kind, EventKind::GroupPrivilegeGrant);
    }

    #[test]
    fn a_group_app_assignment_is_logged_with_the_members_assignments_that_follow() {
        let mut org = Org::generate(&OrgSpec {
            seed: 11,
            users: 300,
            now_ms: NOW,
        });
        let before = org.group_apps.len();
        let mut rng = StdRng::seed_from_u64(3);
        let mut events = Vec::new();
        let mut out = DayLog {
            events: &mut events,
            user_last: HashMap::new(),
        };
        // Draws until one assignment lands (a draw may pick a pair already assigned).
        while org.group_apps.len() == before {
            org.assign_group_app(&mut rng, NOW, &mut out);
        }
        let ga = org.group_apps[before].clone();
        assert_eq!(out.events[0].kind, EventKind::GroupAppAssignmentAdd);
        let mut json = Vec::new();
        Renderer::new(&org, "https://acme.okta.com").event(&mut json, &out.events[0]);
        let json: Value = serde_json::from_slice(&json).expect("event JSON");
        assert_eq!(json["eventType"], "group.application_assignment.add");
        let types: Vec<&str> = json["target"]
            .as_array()
            .map(|t| t.iter().filter_map(|x| x["type"].as_str()).collect())
            .unwrap_or_default();
        assert_eq!(types, ["AppInstance", "UserGroup"]);
        // Every member has the app now; each one who gained it has its event.
        for &u in &org.groups[ga.group as usize].members {
            assert!(org.users[u as usize]
                .app_links
                .iter()
                .any(|l| l.app == ga.app));
        }
        assert!(out.events[1..]
            .iter()
            .all(|e| e.kind == EventKind::AppMembershipAdd));
        let n = out.events.len();
        org.unassign_group_app(&mut rng, NOW + 1, &mut out);
        assert_eq!(org.group_apps.len(), before);
        assert_eq!(out.events[n].kind, EventKind::GroupAppAssignmentRemove);
    }
}
