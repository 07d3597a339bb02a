//! What the `inventory` job keeps in its state so that an incremental sync reads only
//! what changed: every user as last read (trimmed to the fields the graph and the KRIs
//! use) with the MFA summary last put on the user's node and, for admins the `kris`
//! job's summaries do not cover, the summary of the factors last read; the groups each
//! app is assigned to (so the `scope` of an app assignment the System Log adds follows
//! from the user's memberships without asking Okta) and the members of those groups;
//! and the last use of each API token seen in the System Log. The role assignments are
//! kept by `roles.rs`.
//!
//! Keys (the job's own):
//! - `users`: JSON map user id → `{"u": user, "m": mfa on the node or null, "f": factor
//!   summary or absent}`;
//! - `app_groups`: JSON map app id → the ids of the groups assigned to it;
//! - `app_group_members`: JSON map group id → the ids of its members, for the groups
//!   `app_groups` names;
//! - `org_url`: the org's base URL (the `okta/org` label), for a sync whose lists
//!   happen to carry no `_links.self.href`;
//! - `token_last_used`: JSON map API token id → epoch ms of its last use seen.
//!
//! Unreadable state is absent: an incremental sync without `users`, `app_groups`,
//! `app_group_members` or `org_url` becomes a full sync (as the first sync after an
//! upgrade from a kri that did not keep `app_group_members` does).

use super::build::{MfaSummary, FACTORS_SOURCE, USER_PROPS};
use super::changes::GroupMembers;
use crate::api::ListItem;
use kri_connector_sdk::types::ConnectorError;
use kri_connector_sdk::StateStore;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// State key: the users as last read.
pub const USERS: &str = "users";
/// State key: the groups assigned to each app.
pub const APP_GROUPS: &str = "app_groups";
/// State key: the members of the groups assigned to apps.
pub const APP_GROUP_MEMBERS: &str = "app_group_members";
/// State key: the org's base URL.
pub const ORG_URL: &str = "org_url";
/// State key: the API tokens' last use.
pub const TOKEN_LAST_USED: &str = "token_last_used";

/// A user object cut down to what the inventory uses (the full objects of a large org
/// would fill the state with profile attributes nothing reads).
pub fn trim_user(user: &Value) -> Value {
    let mut out = Map::new();
    // `type` gives the node its sub-kind.
    for f in ["id", "type"].into_iter().chain(USER_PROPS) {
        if let Some(v) = user.get(f).filter(|v| !v.is_null()) {
            out.insert(f.into(), v.clone());
        }
    }
    let mut profile = Map::new();
    for f in ["login", "email"] {
        if let Some(v) = user
            .pointer(&format!("/profile/{f}"))
            .filter(|v| !v.is_null())
        {
            profile.insert(f.into(), v.clone());
        }
    }
    out.insert("profile".into(), Value::Object(profile));
    Value::Object(out)
}

/// A user from a list, trimmed as it is read (`trim_user`, keeping
/// `_links.self.href`, which names the org), so that a large org's whole user objects
/// never sit in memory together.
pub struct ListedUser(pub Value);

impl<'de> Deserialize<'de> for ListedUser {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let full = Value::deserialize(d)?;
        let mut user = trim_user(&full);
        if let Some(href) = full.pointer("/_links/self/href") {
            user["_links"] = json!({ "self": { "href": href } });
        }
        Ok(ListedUser(user))
    }
}

impl ListItem for ListedUser {}

/// One user as the state keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct KnownUser {
    /// The trimmed user object (`Null` while an incremental sync has moved it out).
    pub user: Value,
    /// `properties.mfa` of the node last emitted (`None`: it had none).
    pub mfa: Option<Value>,
    /// The summary of the factors last read for this user (admins only).
    pub factors: Option<MfaSummary>,
}

fn summary_from_json(v: &Value) -> Option<MfaSummary> {
    Some(MfaSummary {
        enrolled: v.get("enrolled")?.as_bool()?,
        phishing_resistant: v.get("phishing_resistant")?.as_bool()?,
        factor_types: v.get("factor_types").and_then(|t| {
            t.as_array().map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
        }),
        source: FACTORS_SOURCE,
    })
}

/// The users kept by the last sync, or `None` when there are none (or they are
/// unreadable).
pub fn load_users(state: &mut dyn StateStore) -> Option<BTreeMap<String, KnownUser>> {
    let raw = state.get(USERS)?;
    let map: Map<String, Value> = serde_json::from_slice(&raw).ok()?;
    let mut out = BTreeMap::new();
    for (id, mut entry) in map {
        let user = entry.get_mut("u").map(Value::take)?;
        let mfa = entry.get("m").filter(|m| !m.is_null()).cloned();
        let factors = entry.get("f").and_then(summary_from_json);
        out.insert(id, KnownUser { user, mfa, factors });
    }
    Some(out)
}

/// One user as `save_users` writes it: borrowed, so that saving a large org's users
/// does not copy them.
#[derive(Serialize)]
struct SavedUser<'a> {
    u: &'a Value,
    m: &'a Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    f: Option<SavedFactors<'a>>,
}

#[derive(Serialize)]
struct SavedFactors<'a> {
    enrolled: bool,
    phishing_resistant: bool,
    factor_types: &'a Option<Vec<String>>,
}

/// Keeps the users for the next sync.
pub fn save_users(
    state: &mut dyn StateStore,
    users: &BTreeMap<String, KnownUser>,
) -> Result<(), ConnectorError> {
    let saved: BTreeMap<&String, SavedUser<'_>> = users
        .iter()
        .map(|(id, k)| {
            let f = k.factors.as_ref().map(|f| SavedFactors {
                enrolled: f.enrolled,
                phishing_resistant: f.phishing_resistant,
                factor_types: &f.factor_types,
            });
            let saved = SavedUser {
                u: &k.user,
                m: &k.mfa,
                f,
            };
            (id, saved)
        })
        .collect();
    let bytes = serde_json::to_vec(&saved)
        .map_err(|e| ConnectorError::Other(format!("could not encode the users: {e}")))?;
    state
        .set(USERS, &bytes)
        .map_err(|e| ConnectorError::HostLimit(format!("could not store state key {USERS}: {e}")))
}

/// The groups assigned to each app, as the last sync left them; `None` when absent or
/// unreadable.
pub fn load_app_groups(state: &mut dyn StateStore) -> Option<BTreeMap<String, Vec<String>>> {
    serde_json::from_slice(&state.get(APP_GROUPS)?).ok()
}

/// Keeps the groups assigned to each app.
pub fn save_app_groups(
    state: &mut dyn StateStore,
    app_groups: &BTreeMap<String, Vec<String>>,
) -> Result<(), ConnectorError> {
    let bytes = serde_json::to_vec(app_groups)
        .map_err(|e| ConnectorError::Other(format!("could not encode app groups: {e}")))?;
    state.set(APP_GROUPS, &bytes).map_err(|e| {
        ConnectorError::HostLimit(format!("could not store state key {APP_GROUPS}: {e}"))
    })
}

/// The members of the groups assigned to apps, as the last sync left them; `None` when
/// absent or unreadable.
pub fn load_app_group_members(state: &mut dyn StateStore) -> Option<GroupMembers> {
    serde_json::from_slice(&state.get(APP_GROUP_MEMBERS)?).ok()
}

/// Keeps the members of the groups assigned to apps.
pub fn save_app_group_members(
    state: &mut dyn StateStore,
    members: &GroupMembers,
) -> Result<(), ConnectorError> {
    let bytes = serde_json::to_vec(members)
        .map_err(|e| ConnectorError::Other(format!("could not encode group members: {e}")))?;
    state.set(APP_GROUP_MEMBERS, &bytes).map_err(|e| {
        ConnectorError::HostLimit(format!(
            "could not store state key {APP_GROUP_MEMBERS}: {e}"
        ))
    })
}

/// The org's base URL the last sync used.
pub fn load_org_url(state: &mut dyn StateStore) -> Option<String> {
    String::from_utf8(state.get(ORG_URL)?)
        .ok()
        .filter(|u| !u.is_empty())
}

/// Keeps the org's base URL.
pub fn save_org_url(state: &mut dyn StateStore, url: &str) -> Result<(), ConnectorError> {
    state
        .set(ORG_URL, url.as_bytes())
        .map_err(|e| ConnectorError::HostLimit(format!("could not store state key {ORG_URL}: {e}")))
}

/// The API tokens' last use seen so far (epoch ms by token id).
pub fn load_token_use(state: &mut dyn StateStore) -> BTreeMap<String, i64> {
    state
        .get(TOKEN_LAST_USED)
        .and_then(|raw| serde_json::from_slice(&raw).ok())
        .unwrap_or_default()
}

/// Keeps the API tokens' last use.
pub fn save_token_use(
    state: &mut dyn StateStore,
    uses: &BTreeMap<String, i64>,
) -> Result<(), ConnectorError> {
    let bytes = serde_json::to_vec(uses)
        .map_err(|e| ConnectorError::Other(format!("could not encode token uses: {e}")))?;
    state.set(TOKEN_LAST_USED, &bytes).map_err(|e| {
        ConnectorError::HostLimit(format!("could not store state key {TOKEN_LAST_USED}: {e}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kri_connector_sdk::fakes::MemState;

    #[test]
    fn users_survive_the_state_trimmed() {
        let full = json!({
            "id": "00u1", "status": "ACTIVE", "lastLogin": null,
            "created": "2024-01-01T00:00:00.000Z",
            "profile": {"login": "ann@acme.com", "email": "ann@acme.com", "title": "CFO"},
            "credentials": {"provider": {"type": "OKTA"}},
            "_links": {"self": {"href": "https://acme.okta.com/api/v1/users/00u1"}},
        });
        let trimmed = trim_user(&full);
        assert_eq!(
            trimmed,
            json!({"id": "00u1", "status": "ACTIVE", "created": "2024-01-01T00:00:00.000Z",
                   "profile": {"login": "ann@acme.com", "email": "ann@acme.com"}})
        );
        let mut state = MemState::default();
        assert_eq!(load_users(&mut state), None);
        let factors = MfaSummary {
            enrolled: true,
            phishing_resistant: false,
            factor_types: Some(vec!["push".into()]),
            source: FACTORS_SOURCE,
        };
        let users = BTreeMap::from([(
            "00u1".to_string(),
            KnownUser {
                user: trimmed,
                mfa: Some(json!({"enrolled": true})),
                factors: Some(factors),
            },
        )]);
        save_users(&mut state, &users).expect("save");
        assert_eq!(load_users(&mut state), Some(users));
        state.set(USERS, b"not json").expect("set");
        assert_eq!(load_users(&mut state), None);

        assert_eq!(load_app_groups(&mut state), None);
        let app_groups = BTreeMap::from([("0oa1".to_string(), vec!["00g1".to_string()])]);
        save_app_groups(&mut state, &app_groups).expect("save");
        assert_eq!(load_app_groups(&mut state), Some(app_groups));

        assert_eq!(load_app_group_members(&mut state), None);
        let members = GroupMembers::from([(
            "00g1".to_string(),
            ["00u1".to_string()].into_iter().collect(),
        )]);
        save_app_group_members(&mut state, &members).expect("save");
        assert_eq!(load_app_group_members(&mut state), Some(members));
        state.set(APP_GROUP_MEMBERS, b"[1]").expect("set");
        assert_eq!(load_app_group_members(&mut state), None);

        assert_eq!(load_org_url(&mut state), None);
        save_org_url(&mut state, "https://acme.okta.com").expect("save");
        assert_eq!(
            load_org_url(&mut state).as_deref(),
            Some("https://acme.okta.com")
        );

        assert!(load_token_use(&mut state).is_empty());
        let uses = BTreeMap::from([("00T1".to_string(), 42)]);
        save_token_use(&mut state, &uses).expect("save");
        assert_eq!(load_token_use(&mut state), uses);
    }
}
