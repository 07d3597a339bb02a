//! Renders the identity graph (`graph.rs`) into Okta's JSON shapes: role assignments of
//! users and groups, role targets, custom roles and their permissions, resource sets and
//! their resources, app users with their `scope`, app groups, and group stats.
//!
//! Shapes follow the spec examples and recordings in `/work/shared/okta-fixtures/`
//! (`user_roles_*.json`, `iam_assignees_users.json`, `groups_list.json`); keys come
//! sorted, like the other rarer objects.

use serde_json::{json, Value};

use crate::catalog::APP_TEMPLATES;
use crate::graph::{CustomRole, GroupApp, ResourceSet, RoleRef, RoleScope, SetResource};
use crate::model::{App, Group, UserStatus};
use crate::render::{ts, Renderer};

impl Renderer<'_> {
    /// One role assignment as `GET /api/v1/users/{id}/roles` (or `/groups/{id}/roles`)
    /// shows it; custom roles add `role`, `resource-set` and their links.
    pub(crate) fn role_assignment(
        &self,
        id: &str,
        role: RoleRef,
        scope: &RoleScope,
        assigned_ms: i64,
        assignment_type: &str,
        assignee_href: &str,
    ) -> Value {
        let base = self.base;
        let (kind, label) = self.org.role_type_and_label(role);
        let mut value = json!({
            "id": id,
            "label": label,
            "type": kind,
            "status": "ACTIVE",
            "created": ts(assigned_ms),
            "lastUpdated": ts(assigned_ms),
            "assignmentType": assignment_type,
            "_links": { "assignee": { "href": assignee_href } }
        });
        if let RoleRef::Custom(c) = role {
            let role_id = &self.org.custom_roles[c as usize].id;
            value["role"] = json!(role_id);
            value["_links"]["role"] =
                json!({ "href": format!("{base}/api/v1/iam/roles/{role_id}") });
            value["_links"]["permissions"] = json!({
                "href": format!("{base}/api/v1/iam/permission-sets/{role_id}/permissions")
            });
            if let RoleScope::ResourceSet(s) = scope {
                let set_id = &self.org.resource_sets[*s as usize].id;
                value["resource-set"] = json!(set_id);
                value["_links"]["resource-set"] =
                    json!({ "href": format!("{base}/api/v1/iam/resource-sets/{set_id}") });
                value["_links"]["member"] = json!({
                    "href": format!("{base}/api/v1/iam/resource-sets/{set_id}/bindings/{role_id}/members/{id}")
                });
            }
        }
        value
    }

    /// `GET /api/v1/groups/{id}/roles`: the group's role assignments.
    pub fn group_roles(&self, group: u16) -> Vec<Value> {
        let href = format!(
            "{}/api/v1/groups/{}",
            self.base, self.org.groups[group as usize].id
        );
        self.org
            .role_grants
            .iter()
            .filter(|g| g.principal == crate::graph::Principal::Group(group))
            .map(|g| self.role_assignment(&g.id, g.role, &g.scope, g.assigned_ms, "GROUP", &href))
            .collect()
    }

    /// One group, with `_embedded.stats` when `stats` is set (`expand=stats`).
    pub fn group_expanded(&self, index: usize, stats: bool) -> Value {
        let group: &Group = &self.org.groups[index];
        let mut value = self.group(group);
        if stats {
            let apps = self
                .org
                .group_apps
                .iter()
                .filter(|a| a.group as usize == index)
                .count();
            let admin = self
                .org
                .role_grants
                .iter()
                .any(|g| g.principal == crate::graph::Principal::Group(index as u16));
            value["_embedded"] = json!({
                "stats": {
                    "usersCount": group.members.len(),
                    "appsCount": apps,
                    "groupPushMappingsCount": 0,
                    "hasAdminPrivilege": admin
                }
            });
        }
        value
    }

    /// One entry of `GET /api/v1/apps/{id}/users`: the app user with its `scope`, as
    /// Okta gives it: `USER` when the user is assigned the app individually (whatever
    /// their groups), `GROUP` when only a group of theirs gives it.
    pub fn app_user(&self, app: u16, user: u32) -> Value {
        let base = self.base;
        let a: &App = &self.org.apps[app as usize];
        let u = &self.org.users[user as usize];
        let assigned = u
            .app_links
            .iter()
            .find(|l| l.app == app)
            .map_or(String::new(), |l| l.assignment_id.clone());
        let groups = self.org.groups_granting(user, app);
        let status = if u.status == UserStatus::Active {
            "PROVISIONED"
        } else {
            "INACTIVE"
        };
        let mut links = json!({
            "app": { "href": format!("{base}/api/v1/apps/{}", a.id) },
            "user": { "href": self.user_href(u) }
        });
        if let Some(&g) = groups.first() {
            let group = &self.org.groups[g as usize];
            links["group"] = json!({
                "name": group.name,
                "href": format!("{base}/api/v1/groups/{}", group.id)
            });
        }
        json!({
            "id": u.id,
            "externalId": null,
            "created": ts(u.created_ms.max(a.created_ms)),
            "lastUpdated": ts(u.last_updated_ms),
            "scope": if groups.is_empty() || self.org.assigned_directly(user, app) { "USER" } else { "GROUP" },
            "status": status,
            "statusChanged": ts(u.created_ms.max(a.created_ms)),
            "passwordChanged": null,
            "syncState": "DISABLED",
            "credentials": { "userName": u.login },
            "profile": {},
            "_links": links,
            "_embedded": { "assignment": { "id": assigned } }
        })
    }

    /// One entry of `GET /api/v1/apps/{id}/groups`.
    pub fn app_group(&self, assignment: &GroupApp) -> Value {
        let base = self.base;
        let app = &self.org.apps[assignment.app as usize];
        let group = &self.org.groups[assignment.group as usize];
        json!({
            "id": group.id,
            "lastUpdated": ts(assignment.assigned_ms),
            "priority": assignment.priority,
            "profile": {},
            "_links": {
                "app": { "href": format!("{base}/api/v1/apps/{}", app.id) },
                "group": { "href": format!("{base}/api/v1/groups/{}", group.id) }
            }
        })
    }

    /// One app instance as a role target (`…/roles/{id}/targets/catalog/apps`).
    pub fn catalog_app(&self, app: u16) -> Value {
        let a = &self.org.apps[app as usize];
        let template = &APP_TEMPLATES[a.template as usize];
        json!({
            "id": a.id,
            "name": template.name,
            "displayName": a.label,
            "description": template.label,
            "status": if a.active { "ACTIVE" } else { "INACTIVE" },
            "lastUpdated": ts(a.last_updated_ms),
            "signOnModes": [template.sign_on_mode],
            "features": [],
            "_links": {
                "logo": [{ "name": "medium", "href": format!("{}/img/logos/{}.png", self.base, template.logo), "type": "image/png" }]
            }
        })
    }

    /// One custom role as `GET /api/v1/iam/roles` shows it.
    pub fn custom_role(&self, role: &CustomRole) -> Value {
        let href = format!("{}/api/v1/iam/roles/{}", self.base, role.id);
        json!({
            "id": role.id,
            "label": role.label,
            "description": role.description,
            "created": ts(role.created_ms),
            "lastUpdated": ts(role.created_ms),
            "_links": {
                "self": { "href": href },
                "permissions": { "href": format!("{href}/permissions") }
            }
        })
    }

    /// One permission of a custom role (`GET /api/v1/iam/roles/{id}/permissions`).
    pub fn permission(&self, role: &CustomRole, label: &str) -> Value {
        let href = format!("{}/api/v1/iam/roles/{}", self.base, role.id);
        json!({
            "label": label,
            "created": ts(role.created_ms),
            "lastUpdated": ts(role.created_ms),
            "_links": {
                "role": { "href": href },
                "self": { "href": format!("{href}/permissions/{label}") }
            }
        })
    }

    /// One resource set as `GET /api/v1/iam/resource-sets` shows it.
    pub fn resource_set(&self, set: &ResourceSet) -> Value {
        let href = format!("{}/api/v1/iam/resource-sets/{}", self.base, set.id);
        json!({
            "id": set.id,
            "label": set.label,
            "description": set.description,
            "created": ts(set.created_ms),
            "lastUpdated": ts(set.created_ms),
            "_links": {
                "self": { "href": href },
                "resources": { "href": format!("{href}/resources") },
                "bindings": { "href": format!("{href}/bindings") }
            }
        })
    }

    /// One resource of a resource set, named by its `orn`.
    pub fn set_resource(&self, set: &ResourceSet, id: &str, resource: SetResource) -> Value {
        let base = self.base;
        let org_id = &self.org.org_id;
        let (orn, href) = match resource {
            SetResource::AllUsers => (
                format!("orn:okta:directory:{org_id}:users"),
                format!("{base}/api/v1/users"),
            ),
            SetResource::AllGroups => (
                format!("orn:okta:directory:{org_id}:groups"),
                format!("{base}/api/v1/groups"),
            ),
            SetResource::Group(g) => {
                let group = &self.org.groups[g as usize];
                (
                    format!("orn:okta:directory:{org_id}:groups:{}", group.id),
                    format!("{base}/api/v1/groups/{}", group.id),
                )
            }
            SetResource::App(a) => {
                let app = &self.org.apps[a as usize];
                let name = APP_TEMPLATES[app.template as usize].name;
                (
                    format!("orn:okta:idp:{org_id}:apps:{name}:{}", app.id),
                    format!("{base}/api/v1/apps/{}", app.id),
                )
            }
        };
        json!({
            "id": id,
            "orn": orn,
            "created": ts(set.created_ms),
            "lastUpdated": ts(set.created_ms),
            "_links": {
                "self": { "href": href },
                "resource": { "href": href }
            }
        })
    }
}
