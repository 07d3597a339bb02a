//! The admin role assignments the `inventory` job keeps between syncs, per principal,
//! and which principals a sync must read again. A full sync reads every principal;
//! an incremental one reads only the users and groups whose roles may have changed
//! (a privilege event names them or a group they are a member of, they newly appear
//! among the role assignees, they hold a role through a group an event names, or they
//! joined or left a group that holds roles) and takes the others from the state, so a revoked role's node and edges
//! leave the graph because nothing emits them again. Pure, but for the state's
//! load and save.
//!
//! Key (the job's own): `roles`, JSON
//! `{"users": {user id: [held]}, "groups": {group id: [held]}}`, each held role
//! `{"r": role (trimmed), "t": [target ids] or absent}`.

use super::build::{assignee_group, scope_need, ScopeNeed, ROLE_PROPS};
use kri_connector_sdk::types::ConnectorError;
use kri_connector_sdk::StateStore;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// State key: the role assignments per principal.
pub const ROLES: &str = "roles";

/// The fields of a role assignment the graph reads besides the node's properties
/// (`build::ROLE_PROPS`): its id, and a custom role's role and resource set
/// (`build::Shaper::role`, `scope_need`); `assignee_group` reads the assignee link.
const ROLE_KEYS: [&str; 3] = ["id", "role", "resource-set"];

/// A role assignment cut down to what the graph reads.
pub fn trim_role(role: &Value) -> Value {
    let mut out = Map::new();
    for &f in ROLE_PROPS.iter().chain(&ROLE_KEYS) {
        if let Some(v) = role.get(f).filter(|v| !v.is_null()) {
            out.insert(f.into(), v.clone());
        }
    }
    if let Some(href) = role.pointer("/_links/assignee/href") {
        out.insert(
            "_links".into(),
            serde_json::json!({ "assignee": { "href": href } }),
        );
    }
    Value::Object(out)
}

/// One role assignment as read, with the ids of its targets when it is narrowed to
/// groups or apps (`None`: not read, the role is not narrowable or comes through a
/// group).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Held {
    #[serde(rename = "r")]
    pub role: Value,
    #[serde(rename = "t", default, skip_serializing_if = "Option::is_none")]
    pub targets: Option<Vec<String>>,
}

impl Held {
    pub fn new(role: &Value) -> Held {
        Held {
            role: trim_role(role),
            targets: None,
        }
    }

    /// Whether the assignment's scope needs its targets read.
    pub fn needs_targets(&self) -> bool {
        matches!(
            scope_need(&self.role),
            ScopeNeed::GroupTargets | ScopeNeed::AppTargets
        )
    }
}

/// Every role assignment, per principal.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RoleAssignments {
    /// User id → what `GET /api/v1/users/{id}/roles` lists: the user's own roles and
    /// those it holds through groups (`assignmentType: GROUP`).
    pub users: BTreeMap<String, Vec<Held>>,
    /// Group id → the group's roles.
    pub groups: BTreeMap<String, Vec<Held>>,
}

/// What the System Log says about roles since the last sync.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleEvents {
    /// Users a `user.account.privilege.*` event names, and the members of the groups a
    /// `group.privilege.*` event names (read when the sync starts).
    pub users: BTreeSet<String>,
    /// Groups a `group.privilege.*` event names, and groups deleted.
    pub groups: BTreeSet<String>,
    /// (user, group) of each membership added or removed.
    pub memberships: BTreeSet<(String, String)>,
}

impl RoleAssignments {
    /// The groups users hold roles through.
    pub fn via_groups(&self) -> BTreeSet<String> {
        self.users
            .values()
            .flatten()
            .filter_map(|h| assignee_group(&h.role))
            .collect()
    }
}

/// The users whose roles to read: every assignee for a full sync (`events` `None`);
/// else the assignees the state does not know, and those known whose roles may have
/// changed: named by a privilege event, holding a role through a group an event names,
/// or joining or leaving a group that holds roles (kept, flagged `hasAdminPrivilege`
/// in `admin_groups`, or named).
pub fn users_to_read(
    kept: &RoleAssignments,
    assignees: &[String],
    events: Option<&RoleEvents>,
    admin_groups: &BTreeSet<String>,
) -> Vec<String> {
    let Some(ev) = events else {
        return assignees.to_vec();
    };
    let role_groups: BTreeSet<&String> = kept
        .groups
        .keys()
        .chain(admin_groups)
        .chain(&ev.groups)
        .collect();
    let moved: BTreeSet<&String> = ev
        .memberships
        .iter()
        .filter(|(_, g)| role_groups.contains(g))
        .map(|(u, _)| u)
        .collect();
    assignees
        .iter()
        .filter(|u| match kept.users.get(*u) {
            None => true,
            Some(held) => {
                ev.users.contains(*u)
                    || moved.contains(u)
                    || held
                        .iter()
                        .filter_map(|h| assignee_group(&h.role))
                        .any(|g| ev.groups.contains(&g))
            }
        })
        .cloned()
        .collect()
}

/// The groups whose roles to read, of the `needed` ones (those users hold roles
/// through, and those flagged `hasAdminPrivilege`): all for a full sync; else those
/// `kept` (the state's groups) does not know and those an event names.
pub fn groups_to_read(
    kept: &BTreeMap<String, Vec<Held>>,
    needed: &BTreeSet<String>,
    events: Option<&RoleEvents>,
) -> Vec<String> {
    needed
        .iter()
        .filter(|g| match events {
            None => true,
            Some(ev) => !kept.contains_key(*g) || ev.groups.contains(*g),
        })
        .cloned()
        .collect()
}

/// The assignments kept from the last sync: `None` when none were kept, an error when
/// they cannot be decoded (either way the caller reads every principal's roles).
pub fn load(state: &mut dyn StateStore) -> Result<Option<RoleAssignments>, serde_json::Error> {
    state
        .get(ROLES)
        .map(|bytes| serde_json::from_slice(&bytes))
        .transpose()
}

/// Keeps the assignments for the next sync.
pub fn save(state: &mut dyn StateStore, roles: &RoleAssignments) -> Result<(), ConnectorError> {
    let bytes = serde_json::to_vec(roles)
        .map_err(|e| ConnectorError::Other(format!("could not encode the roles: {e}")))?;
    state
        .set(ROLES, &bytes)
        .map_err(|e| ConnectorError::HostLimit(format!("could not store state key {ROLES}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kri_connector_sdk::fakes::MemState;
    use serde_json::json;

    fn own(id: &str, kind: &str) -> Held {
        Held::new(&json!({"id": id, "type": kind, "assignmentType": "USER"}))
    }

    fn through(id: &str, group: &str) -> Held {
        Held::new(
            &json!({"id": id, "type": "HELP_DESK_ADMIN", "assignmentType": "GROUP",
            "_links": {"assignee": {"href": format!("https://acme.okta.com/api/v1/groups/{group}")}}}),
        )
    }

    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn set(v: &[&str]) -> BTreeSet<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn kept() -> RoleAssignments {
        RoleAssignments {
            users: BTreeMap::from([
                ("00u1".into(), vec![own("ra1", "SUPER_ADMIN")]),
                ("00u2".into(), vec![through("gra1", "00g1")]),
                ("00u3".into(), vec![own("ra3", "READ_ONLY_ADMIN")]),
            ]),
            groups: BTreeMap::from([("00g1".into(), vec![own("gra1", "HELP_DESK_ADMIN")])]),
        }
    }

    #[test]
    fn roles_are_trimmed_to_what_the_graph_reads() {
        let role = json!({"id": "ra1", "type": "CUSTOM", "label": "L", "role": "cr1",
            "resource-set": "iam1", "assignmentType": "GROUP", "status": "ACTIVE",
            "created": "x", "lastUpdated": "y", "extra": 1,
            "_links": {"assignee": {"href": "h"}, "role": {"href": "r"}}});
        assert_eq!(
            trim_role(&role),
            json!({"id": "ra1", "type": "CUSTOM", "label": "L", "role": "cr1",
                "resource-set": "iam1", "assignmentType": "GROUP", "status": "ACTIVE",
                "created": "x", "lastUpdated": "y", "_links": {"assignee": {"href": "h"}}})
        );
        assert!(own("ra", "USER_ADMIN").needs_targets());
        assert!(own("ra", "APP_ADMIN").needs_targets());
        assert!(!own("ra", "SUPER_ADMIN").needs_targets());
    }

    #[test]
    fn a_full_sync_reads_every_principal() {
        let assignees = ids(&["00u1", "00u2"]);
        let none = BTreeSet::new();
        assert_eq!(users_to_read(&kept(), &assignees, None, &none), assignees);
        let needed = set(&["00g1", "00g2"]);
        assert_eq!(
            groups_to_read(&kept().groups, &needed, None),
            ids(&["00g1", "00g2"])
        );
    }

    #[test]
    fn an_incremental_sync_reads_only_the_principals_whose_roles_may_have_changed() {
        let assignees = ids(&["00u1", "00u2", "00u3", "00u4"]);
        // (named users, named groups, memberships, admin groups) → users read.
        let m = |u: &str, g: &str| (u.to_string(), g.to_string());
        type Case = (
            BTreeSet<String>,
            BTreeSet<String>,
            BTreeSet<(String, String)>,
            BTreeSet<String>,
            Vec<String>,
        );
        let cases: Vec<Case> = vec![
            // Nothing happened: only the new assignee.
            (
                set(&[]),
                set(&[]),
                BTreeSet::new(),
                set(&[]),
                ids(&["00u4"]),
            ),
            // A grant or revoke names the user.
            (
                set(&["00u3"]),
                set(&[]),
                BTreeSet::new(),
                set(&[]),
                ids(&["00u3", "00u4"]),
            ),
            // A named group gives 00u2 its role.
            (
                set(&[]),
                set(&["00g1"]),
                BTreeSet::new(),
                set(&[]),
                ids(&["00u2", "00u4"]),
            ),
            // 00u1 joined a group that holds roles (kept, or flagged by its stats).
            (
                set(&[]),
                set(&[]),
                BTreeSet::from([m("00u1", "00g1")]),
                set(&[]),
                ids(&["00u1", "00u4"]),
            ),
            (
                set(&[]),
                set(&[]),
                BTreeSet::from([m("00u3", "00g7")]),
                set(&["00g7"]),
                ids(&["00u3", "00u4"]),
            ),
            // A group without roles changes nothing.
            (
                set(&[]),
                set(&[]),
                BTreeSet::from([m("00u3", "00g8")]),
                set(&[]),
                ids(&["00u4"]),
            ),
            // A named user who is no assignee any more is not read (dropped).
            (
                set(&["00u9"]),
                set(&[]),
                BTreeSet::new(),
                set(&[]),
                ids(&["00u4"]),
            ),
        ];
        for (users, groups, memberships, admin_groups, want) in cases {
            let ev = RoleEvents {
                users: users.clone(),
                groups: groups.clone(),
                memberships: memberships.clone(),
            };
            assert_eq!(
                users_to_read(&kept(), &assignees, Some(&ev), &admin_groups),
                want,
                "{users:?} {groups:?} {memberships:?}"
            );
        }
        let ev = RoleEvents {
            groups: set(&["00g2"]),
            ..RoleEvents::default()
        };
        // 00g1 is kept and not named; 00g2 is named; 00g3 is new.
        assert_eq!(
            groups_to_read(&kept().groups, &set(&["00g1", "00g2", "00g3"]), Some(&ev)),
            ids(&["00g2", "00g3"])
        );
        assert_eq!(kept().via_groups(), set(&["00g1"]));
    }

    #[test]
    fn assignments_survive_the_state() {
        let mut state = MemState::default();
        assert_eq!(load(&mut state).expect("nothing kept"), None);
        let mut roles = kept();
        roles.groups.get_mut("00g1").expect("group")[0].targets = Some(ids(&["00g5"]));
        save(&mut state, &roles).expect("save");
        assert_eq!(load(&mut state).expect("decoded"), Some(roles));
        state.set(ROLES, b"{not json").expect("set");
        assert!(load(&mut state).is_err());
    }
}
