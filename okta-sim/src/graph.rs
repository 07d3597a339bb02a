//! The identity-graph part of a simulated org: group memberships, apps assigned to
//! groups, admin roles (standard ones, and custom ones with permissions over resource
//! sets) held by users and by groups with their targets, and API token networks.
//!
//! It is drawn from its own random stream, after the rest of the org is generated, so
//! the users, factors, app links, apps, policies and System Log of an org stay exactly as
//! they were before the graph existed.
//!
//! One invariant ties it to the app links: a member of a group that is assigned an app
//! has a link to that app. As in Okta, a link is an individual assignment (`scope`
//! USER), which stays when the user joins or leaves groups, or one only groups give
//! (`scope` GROUP), which goes when the user's last such group does.

use std::collections::BTreeSet;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use crate::catalog::APP_TEMPLATES;
use crate::ids::mix64;
use crate::model::{
    Actor, AdminRole, AppLink, EventKind, Group, GroupKind, LogEvent, Org, User, UserStatus,
};
use crate::time::DAY_MS;

/// Who holds a role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Principal {
    /// Index into `Org::users`.
    User(u32),
    /// Index into `Org::groups`.
    Group(u16),
}

/// A role: a standard one, or a custom one (index into `Org::custom_roles`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleRef {
    Standard(AdminRole),
    Custom(u16),
}

/// What a role assignment reaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoleScope {
    /// The whole org (a standard role without targets).
    Org,
    /// Only these groups (indexes into `Org::groups`) and their members.
    Groups(Vec<u16>),
    /// Only these app instances (indexes into `Org::apps`).
    Apps(Vec<u16>),
    /// A custom role's resource set (index into `Org::resource_sets`).
    ResourceSet(u16),
}

impl RoleScope {
    /// `ORG`, `GROUPS`, `APPS` or `RESOURCE_SET`.
    pub fn kind(&self) -> &'static str {
        match self {
            RoleScope::Org => "ORG",
            RoleScope::Groups(_) => "GROUPS",
            RoleScope::Apps(_) => "APPS",
            RoleScope::ResourceSet(_) => "RESOURCE_SET",
        }
    }
}

/// A role assignment other than a user's standard role: a group's standard role, or a
/// custom role held by a user or a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleGrant {
    pub id: String,
    pub principal: Principal,
    pub role: RoleRef,
    pub scope: RoleScope,
    pub assigned_ms: i64,
}

/// A custom admin role (`GET /api/v1/iam/roles`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomRole {
    pub id: String,
    pub label: String,
    pub description: String,
    /// Okta permission names (`okta.users.read`, ...).
    pub permissions: Vec<&'static str>,
    pub created_ms: i64,
}

/// One resource of a resource set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetResource {
    /// Every user of the org.
    AllUsers,
    /// Every group of the org.
    AllGroups,
    /// One group (index into `Org::groups`).
    Group(u16),
    /// One app instance (index into `Org::apps`).
    App(u16),
}

/// A resource set (`GET /api/v1/iam/resource-sets`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceSet {
    pub id: String,
    pub label: String,
    pub description: String,
    /// (resource id `ire…`, resource).
    pub resources: Vec<(String, SetResource)>,
    pub created_ms: i64,
}

/// An app assigned to a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupApp {
    /// Index into `Org::groups`.
    pub group: u16,
    /// Index into `Org::apps`.
    pub app: u16,
    pub priority: u32,
    pub assigned_ms: i64,
}

/// One role a user holds, directly or through a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldRole {
    /// The assignment's id (the group's assignment id when inherited).
    pub assignment_id: String,
    pub role: RoleRef,
    pub scope: RoleScope,
    /// The group the role comes through, or `None` when assigned to the user.
    pub via_group: Option<u16>,
    pub assigned_ms: i64,
}

/// Groups that hold admin roles: (name, description).
const ADMIN_GROUPS: [(&str, &str); 3] = [
    ("Okta Administrators", "People who administer Okta"),
    ("IT Help Desk", "First-line support"),
    ("Security Auditors", "Read-only review of the org"),
];

/// The most members a group may have to be given an admin role.
const MAX_ADMIN_GROUP: usize = 20;

/// Custom roles an org may define: (label, description, permissions).
const CUSTOM_ROLES: [(&str, &str, &[&str]); 4] = [
    (
        "Help desk (tier 1)",
        "Reset passwords and factors",
        &[
            "okta.users.read",
            "okta.users.credentials.resetPassword",
            "okta.users.credentials.resetFactors",
        ],
    ),
    (
        "App owner",
        "Manage the apps of one team",
        &[
            "okta.apps.read",
            "okta.apps.manage",
            "okta.apps.assignment.manage",
        ],
    ),
    (
        "Group membership manager",
        "Add and remove members of team groups",
        &["okta.groups.read", "okta.groups.members.manage"],
    ),
    (
        "User creator",
        "Create and activate users",
        &[
            "okta.users.create",
            "okta.users.read",
            "okta.users.lifecycle.activate",
        ],
    ),
];

impl Org {
    /// The API token (index into `Org::api_tokens`) an administrative change was made
    /// with, logged as `transaction.detail.requestApiTokenId`: a change to memberships,
    /// assignments or roles by an admin who owns a token live at that time is taken to
    /// come through the API with it (their first such token).
    pub fn request_token(&self, event: &LogEvent) -> Option<usize> {
        use EventKind::*;
        let by_api = matches!(
            event.kind,
            GroupMembershipAdd
                | GroupMembershipRemove
                | AppMembershipAdd
                | AppMembershipRemove
                | PrivilegeGrant
                | PrivilegeRevoke
                | GroupPrivilegeGrant
                | GroupPrivilegeRevoke
                | GroupAppAssignmentAdd
                | GroupAppAssignmentRemove
        );
        let Actor::User(u) = event.actor else {
            return None;
        };
        if !by_api {
            return None;
        }
        let owner = &self.users.get(u as usize)?.id;
        self.api_tokens.iter().position(|t| {
            &t.user_id == owner
                && t.created_ms <= event.published_ms
                && t.revoked_ms.is_none_or(|r| r > event.published_ms)
        })
    }

    /// The random stream the graph is drawn from (separate from the org's main stream).
    fn graph_rng(&self) -> StdRng {
        StdRng::seed_from_u64(mix64(self.seed ^ 0x6772_6170_6873_696d) ^ 0x005e_ed0f_6a7a)
    }

    /// Draws the identity graph over an org whose users, apps and groups already exist.
    pub(crate) fn gen_graph(&mut self) {
        let mut rng = self.graph_rng();
        self.gen_group_apps(&mut rng);
        self.gen_memberships(&mut rng);
        self.gen_admin_groups(&mut rng);
        self.gen_admin_scopes(&mut rng);
        self.gen_custom_roles(&mut rng);
        self.gen_role_grants(&mut rng);
        self.gen_token_graph(&mut rng);
        self.mark_group_links();
    }

    /// Once the generated groups exist: a link a group of the user gives is taken as
    /// given through the group (`scope` GROUP), the others as individual assignments.
    /// (The generator draws links first and memberships among the linked users, so it
    /// cannot tell; this keeps the generated org's scopes as they always were.)
    pub(crate) fn mark_group_links(&mut self) {
        for u in 0..self.users.len() {
            let apps = self.apps_of_user(&self.users[u]);
            for app in apps {
                let direct = self.groups_granting(u as u32, app).is_empty();
                for l in self.users[u].app_links.iter_mut().filter(|l| l.app == app) {
                    l.direct = direct;
                }
            }
        }
    }

    /// Whether `user`'s link to `app` is an individual assignment (Okta's `scope`
    /// `USER`); a link only a group gives is not.
    pub fn assigned_directly(&self, user: u32, app: u16) -> bool {
        self.users[user as usize]
            .app_links
            .iter()
            .find(|l| l.app == app)
            .is_some_and(|l| l.direct)
    }

    /// Apps a group may be assigned: active, not Okta's own, and with a dashboard link.
    pub(crate) fn assignable_apps(&self) -> Vec<u16> {
        (3..self.apps.len() as u16)
            .filter(|&a| {
                let app = &self.apps[a as usize];
                app.active && !APP_TEMPLATES[app.template as usize].links.is_empty()
            })
            .collect()
    }

    fn gen_group_apps(&mut self, rng: &mut StdRng) {
        let apps = self.assignable_apps();
        if apps.is_empty() {
            return;
        }
        for g in 0..self.groups.len() {
            if self.groups[g].kind == GroupKind::BuiltIn || !rng.gen_bool(0.4) {
                continue;
            }
            let app = apps[rng.gen_range(0..apps.len())];
            let created = self.groups[g]
                .created_ms
                .max(self.apps[app as usize].created_ms);
            self.group_apps.push(GroupApp {
                group: g as u16,
                app,
                priority: self.group_apps.iter().filter(|a| a.app == app).count() as u32,
                assigned_ms: created + rng.gen_range(0..30) * DAY_MS,
            });
        }
    }

    fn gen_memberships(&mut self, rng: &mut StdRng) {
        let n = self.users.len();
        for g in 0..self.groups.len() {
            let members: Vec<u32> = match self.groups[g].kind {
                GroupKind::BuiltIn => (0..n as u32).collect(),
                kind => {
                    if rng.gen_bool(0.15) {
                        // Some groups are empty.
                        Vec::new()
                    } else {
                        let apps: Vec<u16> = self
                            .group_apps
                            .iter()
                            .filter(|a| a.group as usize == g)
                            .map(|a| a.app)
                            .collect();
                        let share = match kind {
                            GroupKind::AppGroup => rng.gen_range(0.2..0.6),
                            _ => rng.gen_range(0.02..0.25),
                        };
                        (0..n as u32)
                            .filter(|&u| {
                                let user = &self.users[u as usize];
                                user.status != UserStatus::Deprovisioned
                                    && apps
                                        .iter()
                                        .all(|&a| user.app_links.iter().any(|l| l.app == a))
                            })
                            .filter(|_| rng.gen_bool(share))
                            .collect()
                    }
                }
            };
            self.groups[g].members = members;
        }
    }

    /// Small groups that hold admin roles, as orgs keep them (appended after the others,
    /// so the indexes of the generated groups do not move).
    fn gen_admin_groups(&mut self, rng: &mut StdRng) {
        let active: Vec<u32> = (0..self.users.len() as u32)
            .filter(|&u| self.users[u as usize].status == UserStatus::Active)
            .collect();
        let founded = self.groups.first().map_or(self.now_ms, |g| g.created_ms);
        for (name, description) in ADMIN_GROUPS {
            let created = founded + rng.gen_range(0..(self.now_ms - founded).max(1) / 2);
            let group = Group {
                id: self.new_id(rng, "00g"),
                name: name.to_string(),
                description: description.to_string(),
                kind: GroupKind::OktaGroup,
                created_ms: created,
                last_updated_ms: created,
                last_membership_updated_ms: self.now_ms - rng.gen_range(1..90) * DAY_MS,
                source_app_id: None,
                members: pick_some(rng, &active, 8),
            };
            self.groups.push(group);
        }
    }

    /// Groups small enough to hold an admin role (the admin groups, or small teams).
    pub(crate) fn admin_group_candidates(&self) -> Vec<u16> {
        self.groups_of_kind(GroupKind::OktaGroup)
            .into_iter()
            .filter(|&g| {
                let n = self.groups[g as usize].members.len();
                n > 0 && n <= MAX_ADMIN_GROUP
            })
            .collect()
    }

    fn gen_admin_scopes(&mut self, rng: &mut StdRng) {
        let apps = self.assignable_apps();
        let okta_groups = self.groups_of_kind(GroupKind::OktaGroup);
        for i in 0..self.admins.len() {
            let scope = match self.admins[i].role {
                AdminRole::AppAdmin if !apps.is_empty() && rng.gen_bool(0.5) => {
                    RoleScope::Apps(pick_some(rng, &apps, 3))
                }
                AdminRole::HelpDeskAdmin | AdminRole::UserAdmin
                    if !okta_groups.is_empty() && rng.gen_bool(0.5) =>
                {
                    RoleScope::Groups(pick_some(rng, &okta_groups, 2))
                }
                _ => RoleScope::Org,
            };
            self.admins[i].scope = scope;
        }
    }

    /// Indexes of the groups of one kind.
    pub(crate) fn groups_of_kind(&self, kind: GroupKind) -> Vec<u16> {
        (0..self.groups.len() as u16)
            .filter(|&g| self.groups[g as usize].kind == kind)
            .collect()
    }

    fn gen_custom_roles(&mut self, rng: &mut StdRng) {
        let count = rng.gen_range(2..=CUSTOM_ROLES.len());
        for (label, description, permissions) in CUSTOM_ROLES.iter().take(count) {
            let role = CustomRole {
                id: self.new_id(rng, "cr0"),
                label: (*label).to_string(),
                description: (*description).to_string(),
                permissions: permissions.to_vec(),
                created_ms: self.now_ms - rng.gen_range(30..700) * DAY_MS,
            };
            self.custom_roles.push(role);
        }
        let okta_groups = self.groups_of_kind(GroupKind::OktaGroup);
        let apps = self.assignable_apps();
        let mut sets: Vec<(&str, &str, Vec<SetResource>)> = vec![(
            "All users and groups",
            "Every user and group of the org",
            vec![SetResource::AllUsers, SetResource::AllGroups],
        )];
        if !okta_groups.is_empty() {
            let groups = pick_some(rng, &okta_groups, 3);
            sets.push((
                "Team groups",
                "Groups the team leads manage",
                groups.into_iter().map(SetResource::Group).collect(),
            ));
        }
        if !apps.is_empty() {
            let chosen = pick_some(rng, &apps, 2);
            sets.push((
                "Business apps",
                "Apps owned by the business",
                chosen.into_iter().map(SetResource::App).collect(),
            ));
        }
        for (label, description, resources) in sets {
            let created = self.now_ms - rng.gen_range(30..700) * DAY_MS;
            let resources = resources
                .into_iter()
                .map(|r| (self.new_id(rng, "ire"), r))
                .collect();
            let set = ResourceSet {
                id: self.new_id(rng, "iam"),
                label: label.to_string(),
                description: description.to_string(),
                resources,
                created_ms: created,
            };
            self.resource_sets.push(set);
        }
    }

    fn gen_role_grants(&mut self, rng: &mut StdRng) {
        // The admin groups get standard roles: admins through a group.
        let first_admin_group = self.groups.len() - ADMIN_GROUPS.len();
        let candidates: Vec<u16> = (first_admin_group..self.groups.len())
            .map(|g| g as u16)
            .filter(|&g| !self.groups[g as usize].members.is_empty())
            .collect();
        let roles = [
            if rng.gen_bool(0.4) {
                AdminRole::SuperAdmin
            } else {
                AdminRole::OrgAdmin
            },
            AdminRole::HelpDeskAdmin,
            AdminRole::ReadOnlyAdmin,
        ];
        let okta_groups = self.groups_of_kind(GroupKind::OktaGroup);
        for (&group, role) in candidates.iter().zip(roles) {
            let scope = if role == AdminRole::HelpDeskAdmin && rng.gen_bool(0.6) {
                RoleScope::Groups(pick_some(rng, &okta_groups, 2))
            } else {
                RoleScope::Org
            };
            let grant = RoleGrant {
                id: self.new_id(rng, "gra"),
                principal: Principal::Group(group),
                role: RoleRef::Standard(role),
                scope,
                assigned_ms: self.now_ms - rng.gen_range(2..500) * DAY_MS,
            };
            self.role_grants.push(grant);
        }
        if self.custom_roles.is_empty() || self.resource_sets.is_empty() {
            return;
        }
        // Custom roles over resource sets, to a group and to a few users.
        if let Some(&group) = candidates.get(1).or(candidates.first()) {
            let grant = self.custom_grant(rng, Principal::Group(group));
            self.role_grants.push(grant);
        }
        let active: Vec<u32> = (0..self.users.len() as u32)
            .filter(|&u| self.users[u as usize].status == UserStatus::Active)
            .collect();
        for user in pick_some(rng, &active, 3) {
            let grant = self.custom_grant(rng, Principal::User(user));
            self.role_grants.push(grant);
        }
    }

    /// A custom role grant over a resource set, drawn at random.
    pub(crate) fn custom_grant(&self, rng: &mut StdRng, principal: Principal) -> RoleGrant {
        let role = rng.gen_range(0..self.custom_roles.len()) as u16;
        let set = rng.gen_range(0..self.resource_sets.len()) as u16;
        RoleGrant {
            id: self.new_id(rng, "irb"),
            principal,
            role: RoleRef::Custom(role),
            scope: RoleScope::ResourceSet(set),
            assigned_ms: self.now_ms - rng.gen_range(2..500) * DAY_MS,
        }
    }

    fn gen_token_graph(&mut self, rng: &mut StdRng) {
        for t in 0..self.api_tokens.len() {
            if !self.api_tokens[t].network_anywhere && rng.gen_bool(0.6) {
                let zones = (0..rng.gen_range(1..=2))
                    .map(|_| self.new_id(rng, "nzo"))
                    .collect();
                self.api_tokens[t].network_zones = zones;
            }
        }
        // A token whose owner left: owned by a user who is no longer ACTIVE.
        let gone: Vec<u32> = (0..self.users.len() as u32)
            .filter(|&u| {
                matches!(
                    self.users[u as usize].status,
                    UserStatus::Suspended | UserStatus::Deprovisioned
                )
            })
            .collect();
        if let Some(&owner) = gone.choose(rng) {
            let token = self.new_token(rng, owner, "Legacy integration", self.now_ms);
            self.api_tokens.push(token);
        }
    }

    /// A fresh API token owned by `owner`, created some time before `now_ms`.
    pub(crate) fn new_token(
        &self,
        rng: &mut StdRng,
        owner: u32,
        name: &str,
        now_ms: i64,
    ) -> crate::model::ApiToken {
        let created = now_ms - rng.gen_range(1..500) * DAY_MS;
        let anywhere = rng.gen_bool(0.5);
        let zones = if anywhere {
            Vec::new()
        } else {
            vec![self.new_id(rng, "nzo")]
        };
        crate::model::ApiToken {
            id: self.new_id(rng, "00T"),
            name: name.to_string(),
            user_id: self.users[owner as usize].id.clone(),
            token_window: "P30D",
            network_anywhere: anywhere,
            network_zones: zones,
            created_ms: created,
            last_updated_ms: created,
            expires_ms: created + 30 * DAY_MS,
            revoked_ms: None,
        }
    }

    /// The groups `user` belongs to (indexes into `groups`), ascending.
    pub fn groups_of_user(&self, user: u32) -> Vec<u16> {
        (0..self.groups.len() as u16)
            .filter(|&g| self.groups[g as usize].members.binary_search(&user).is_ok())
            .collect()
    }

    /// The apps `user` has a link to (indexes into `apps`), ascending, without repeats.
    pub fn apps_of_user(&self, user: &User) -> Vec<u16> {
        let set: BTreeSet<u16> = user.app_links.iter().map(|l| l.app).collect();
        set.into_iter().collect()
    }

    /// The groups through which `user` reaches `app`: their groups assigned the app.
    pub fn groups_granting(&self, user: u32, app: u16) -> Vec<u16> {
        self.group_apps
            .iter()
            .filter(|a| {
                a.app == app
                    && self.groups[a.group as usize]
                        .members
                        .binary_search(&user)
                        .is_ok()
            })
            .map(|a| a.group)
            .collect()
    }

    /// Every role `user` holds: their own standard roles (`admins`), their own custom
    /// roles, and the roles of their groups. Own roles come first.
    pub fn held_roles(&self, user: u32) -> Vec<HeldRole> {
        let mut held: Vec<HeldRole> = self
            .admins
            .iter()
            .filter(|a| a.user == user)
            .map(|a| HeldRole {
                assignment_id: a.role_assignment_id.clone(),
                role: RoleRef::Standard(a.role),
                scope: a.scope.clone(),
                via_group: None,
                assigned_ms: a.assigned_ms,
            })
            .collect();
        let groups = self.groups_of_user(user);
        for own in [true, false] {
            for grant in &self.role_grants {
                let via_group = match grant.principal {
                    Principal::User(u) if own && u == user => None,
                    Principal::Group(g) if !own && groups.binary_search(&g).is_ok() => Some(g),
                    _ => continue,
                };
                held.push(HeldRole {
                    assignment_id: grant.id.clone(),
                    role: grant.role,
                    scope: grant.scope.clone(),
                    via_group,
                    assigned_ms: grant.assigned_ms,
                });
            }
        }
        held
    }

    /// Users holding any role, directly or through a group: the users `admins` lists
    /// first (in its order), then the others in user order.
    pub fn role_holders(&self) -> Vec<u32> {
        let mut out: Vec<u32> = Vec::new();
        for a in &self.admins {
            if !out.contains(&a.user) {
                out.push(a.user);
            }
        }
        let mut others: BTreeSet<u32> = BTreeSet::new();
        for grant in &self.role_grants {
            match grant.principal {
                Principal::User(u) => {
                    others.insert(u);
                }
                Principal::Group(g) => others.extend(self.groups[g as usize].members.iter()),
            }
        }
        for u in others {
            if !out.contains(&u) {
                out.push(u);
            }
        }
        out
    }

    /// A role's (`type`, `label`): the standard pair, or `CUSTOM` and the custom label.
    pub fn role_type_and_label(&self, role: RoleRef) -> (&'static str, &str) {
        match role {
            RoleRef::Standard(r) => r.type_and_label(),
            RoleRef::Custom(c) => ("CUSTOM", self.custom_roles[c as usize].label.as_str()),
        }
    }

    /// Links `user` to `app` (all of the app's dashboard links) unless already linked,
    /// individually (`direct`) or through a group. Returns whether links were added.
    pub(crate) fn link_app(&mut self, rng: &mut StdRng, user: u32, app: u16, direct: bool) -> bool {
        if self.users[user as usize]
            .app_links
            .iter()
            .any(|l| l.app == app)
        {
            return false;
        }
        let template = &APP_TEMPLATES[self.apps[app as usize].template as usize];
        let assignment_id = self.new_id(rng, "0ua");
        let credentials_setup = template.sign_on_mode == "BROWSER_PLUGIN";
        let links = template.links.len();
        let u = &mut self.users[user as usize];
        let first = u.app_links.len() as u16;
        for link in 0..links {
            u.app_links.push(AppLink {
                app,
                link: link as u8,
                assignment_id: assignment_id.clone(),
                sort_order: first + link as u16,
                hidden: false,
                credentials_setup,
                direct,
            });
        }
        links > 0
    }
}

/// One to `max` distinct items of `from` (none when it is empty), sorted.
fn pick_some<T: Copy + Ord>(rng: &mut StdRng, from: &[T], max: usize) -> Vec<T> {
    let n = rng.gen_range(1..=max.min(from.len()).max(1));
    let mut chosen: Vec<T> = from.choose_multiple(rng, n).copied().collect();
    chosen.sort();
    chosen
}
