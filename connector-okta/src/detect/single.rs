//! The detections that one event fires on its own: `okta.admin_privilege_granted`,
//! `okta.api_token_created`, `okta.policy_weakened`, `okta.suspicious_activity_reported`
//! and `okta.support_impersonation`. Their dedupe key ends with the event's uuid.

use super::{
    Alert, Entity, Party, Severity, SystemLogEvent, ADMIN_PRIVILEGE_GRANTED, API_TOKEN_CREATED,
    POLICY_WEAKENED, SUPPORT_IMPERSONATION, SUSPICIOUS_ACTIVITY_REPORTED,
};
use serde_json::{json, Map, Value};

pub const PRIVILEGE_GRANTS: [&str; 3] = [
    "user.account.privilege.grant",
    "group.privilege.grant",
    "iam.resourceset.bindings.add",
];
pub const TOKEN_CREATE: &str = "system.api_token.create";
pub const SUSPICIOUS_REPORT: &str = "user.account.report_suspicious_activity_by_enduser";
pub const IMPERSONATION: [&str; 2] = [
    "user.session.impersonation.grant",
    "user.session.impersonation.initiate",
];
pub const RULE_UPDATE: &str = "policy.rule.update";
/// Events that weaken policy whatever their details.
pub const WEAKENING: [(&str, &str); 8] = [
    ("policy.lifecycle.deactivate", "A policy was deactivated"),
    ("policy.lifecycle.delete", "A policy was deleted"),
    ("policy.rule.deactivate", "A policy rule was deactivated"),
    ("policy.rule.delete", "A policy rule was deleted"),
    ("zone.deactivate", "A network zone was deactivated"),
    ("zone.delete", "A network zone was deleted"),
    (
        "zone.remove_blacklist",
        "A network zone is no longer a blocklist",
    ),
    (
        "system.mfa.factor.deactivate",
        "An authenticator was deactivated for the whole org",
    ),
];

/// Role names (lower case) that make a grant critical.
const TOP_ROLES: [&str; 5] = [
    "super admin",
    "super_admin",
    "organization administrator",
    "org_admin",
    "organizational administrator",
];

/// The alerts `ev` raises by itself.
pub fn detect(ev: &SystemLogEvent) -> Option<Alert> {
    let t = ev.event_type.as_str();
    if t == SUSPICIOUS_REPORT {
        return suspicious_activity_reported(ev);
    }
    // The rest are changes: one that failed changed nothing.
    if ev.failed() {
        return None;
    }
    if PRIVILEGE_GRANTS.contains(&t) {
        admin_privilege_granted(ev)
    } else if t == TOKEN_CREATE {
        api_token_created(ev)
    } else if IMPERSONATION.contains(&t) {
        support_impersonation(ev)
    } else {
        policy_weakened(ev)
    }
}

fn party_json(p: &Party) -> Value {
    json!({"id": p.id, "alternate_id": p.alternate_id, "type": p.party_type})
}

fn base_details(ev: &SystemLogEvent) -> Map<String, Value> {
    let mut d = Map::new();
    d.insert("event_type".into(), json!(ev.event_type));
    d.insert("actor".into(), party_json(&ev.actor));
    d.insert(
        "targets".into(),
        ev.targets.iter().map(party_json).collect(),
    );
    d.insert("client_ip".into(), json!(ev.client_ip));
    d.insert("outcome".into(), json!(ev.outcome_result));
    d
}

fn one(
    detection: &str,
    severity: Severity,
    title: String,
    entity: Entity,
    ev: &SystemLogEvent,
    details: Map<String, Value>,
) -> Alert {
    Alert::new(
        detection,
        severity,
        title,
        entity,
        &ev.uuid,
        &[(ev.published_ms, &ev.uuid)],
        Value::Object(details),
    )
}

fn who(p: &Party) -> &str {
    p.alternate_id
        .as_deref()
        .or(p.id.as_deref())
        .unwrap_or("someone")
}

/// `user.account.privilege.grant`, `group.privilege.grant`, `iam.resourceset.bindings.add`:
/// critical when the role is Super or Organization administrator.
pub fn admin_privilege_granted(ev: &SystemLogEvent) -> Option<Alert> {
    let mut role_text = ev.privilege_granted.clone().unwrap_or_default();
    for t in &ev.targets {
        for part in [&t.alternate_id, &t.id].into_iter().flatten() {
            role_text.push(' ');
            role_text.push_str(part);
        }
    }
    let lowered = role_text.to_lowercase();
    let top = TOP_ROLES.iter().any(|r| lowered.contains(r));
    let grantee = ev.target_user();
    let entity = Entity::user(grantee.unwrap_or(&ev.actor))?;
    let mut d = base_details(ev);
    d.insert("privilege_granted".into(), json!(ev.privilege_granted));
    let title = match (grantee, &ev.privilege_granted) {
        (Some(g), Some(role)) => format!("{} was granted {role} by {}", who(g), who(&ev.actor)),
        (Some(g), None) => format!("{} was granted an admin role by {}", who(g), who(&ev.actor)),
        (None, _) => format!(
            "{} granted an admin role ({})",
            who(&ev.actor),
            ev.event_type
        ),
    };
    let severity = if top {
        Severity::Critical
    } else {
        Severity::High
    };
    Some(one(ADMIN_PRIVILEGE_GRANTED, severity, title, entity, ev, d))
}

/// The `connection` of a token's network (`ANYWHERE`, `ZONE`, ...), in any of the ways
/// it may be written.
fn connection(network: &Value) -> Option<String> {
    match network {
        Value::String(s) => Some(s.trim().to_uppercase()),
        Value::Object(o) => o
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("connection"))
            .and_then(|(_, v)| v.as_str())
            .map(|s| s.trim().to_uppercase()),
        _ => None,
    }
}

/// `system.api_token.create`: high when the token may be used from anywhere (also when
/// the event does not say, as that is Okta's default), medium when limited to zones.
pub fn api_token_created(ev: &SystemLogEvent) -> Option<Alert> {
    let entity = Entity::user(&ev.actor)?;
    let network = ev.token_network.as_ref().and_then(connection);
    let anywhere = network.as_deref().is_none_or(|n| n == "ANYWHERE");
    let token = ev.targets.iter().find(|t| {
        t.party_type
            .as_deref()
            .is_some_and(|k| k.eq_ignore_ascii_case("Token"))
    });
    let mut d = base_details(ev);
    d.insert("network".into(), json!(network));
    d.insert("token_id".into(), json!(token.and_then(|t| t.id.clone())));
    let title = format!(
        "{} created an API token usable from {}",
        who(&ev.actor),
        if anywhere {
            "anywhere"
        } else {
            "limited networks"
        }
    );
    let severity = if anywhere {
        Severity::High
    } else {
        Severity::Medium
    };
    Some(one(API_TOKEN_CREATED, severity, title, entity, ev, d))
}

/// Whether `changeDetails` shows a value going from `2FA` to `1FA` at the same place:
/// `{"from": {...}, "to": {...}}` anywhere in it (or a string holding that as JSON).
pub fn downgraded_to_1fa(details: &Value) -> bool {
    fn leaves<'a>(v: &'a Value, path: String, out: &mut Vec<(String, &'a str)>) {
        match v {
            Value::Object(o) => {
                for (k, x) in o {
                    leaves(x, format!("{path}/{}", k.to_lowercase()), out);
                }
            }
            Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    leaves(x, format!("{path}/{i}"), out);
                }
            }
            Value::String(s) => out.push((path, s.trim())),
            _ => {}
        }
    }
    match details {
        Value::String(s) => {
            serde_json::from_str::<Value>(s).is_ok_and(|v| !v.is_string() && downgraded_to_1fa(&v))
        }
        Value::Object(o) => {
            let pick = |name: &str| {
                o.iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v)
            };
            if let (Some(from), Some(to)) = (pick("from"), pick("to")) {
                let (mut before, mut after) = (Vec::new(), Vec::new());
                leaves(from, String::new(), &mut before);
                leaves(to, String::new(), &mut after);
                if before.iter().any(|(p, v)| {
                    v.eq_ignore_ascii_case("2FA")
                        && after
                            .iter()
                            .any(|(q, w)| q == p && w.eq_ignore_ascii_case("1FA"))
                }) {
                    return true;
                }
            }
            o.values().any(downgraded_to_1fa)
        }
        Value::Array(a) => a.iter().any(downgraded_to_1fa),
        _ => false,
    }
}

/// A rule changed from 2FA to 1FA, a policy or rule deactivated or deleted, a network
/// zone deactivated, deleted or no longer a blocklist, an org-wide factor deactivated.
pub fn policy_weakened(ev: &SystemLogEvent) -> Option<Alert> {
    let t = ev.event_type.as_str();
    let what = if t == RULE_UPDATE {
        if !ev.change_details.as_ref().is_some_and(downgraded_to_1fa) {
            return None;
        }
        "A policy rule was changed from 2FA to 1FA"
    } else {
        WEAKENING.iter().find(|(name, _)| *name == t)?.1
    };
    let entity = Entity::user(&ev.actor)?;
    let subject = ev
        .targets
        .first()
        .map(|p| format!(" ({})", who(p)))
        .unwrap_or_default();
    let mut d = base_details(ev);
    d.insert("change_details".into(), json!(ev.change_details));
    let title = format!("{what}{subject} by {}", who(&ev.actor));
    Some(one(POLICY_WEAKENED, Severity::High, title, entity, ev, d))
}

/// `user.account.report_suspicious_activity_by_enduser`: a user says they did not do
/// something Okta told them about.
pub fn suspicious_activity_reported(ev: &SystemLogEvent) -> Option<Alert> {
    let entity = Entity::user(&ev.actor)?;
    let title = format!(
        "{} reported suspicious activity on their account",
        who(&ev.actor)
    );
    Some(one(
        SUSPICIOUS_ACTIVITY_REPORTED,
        Severity::High,
        title,
        entity,
        ev,
        base_details(ev),
    ))
}

/// `user.session.impersonation.grant` / `.initiate`: Okta support was let in, or came in.
pub fn support_impersonation(ev: &SystemLogEvent) -> Option<Alert> {
    let entity = Entity::user(&ev.actor)?;
    let verb = if ev.event_type.ends_with(".grant") {
        "granted Okta support access to impersonate users"
    } else {
        "started an Okta support impersonation session"
    };
    let title = format!("{} {verb}", who(&ev.actor));
    Some(one(
        SUPPORT_IMPERSONATION,
        Severity::High,
        title,
        entity,
        ev,
        base_details(ev),
    ))
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use serde_json::json;

    fn fired(ev: &SystemLogEvent) -> Option<(String, Severity)> {
        detect(ev).map(|a| (a.detection, a.severity))
    }

    fn grant(
        uuid: &str,
        event_type: &str,
        granted: Option<&str>,
        target: Value,
        result: &str,
    ) -> SystemLogEvent {
        let mut debug = json!({"requestUri": "/api/internal/administrators/00u6"});
        if let Some(g) = granted {
            debug["privilegeGranted"] = json!(g);
        }
        action(
            uuid,
            T0,
            event_type,
            "00uadmin",
            json!({
            "debugContext": {"debugData": debug}, "target": [target],
            "outcome": {"result": result, "reason": null}}),
        )
    }

    #[test]
    fn privilege_grants() {
        let cases = [
            (
                grant(
                    "g1",
                    "user.account.privilege.grant",
                    Some("Organization administrator, Application administrator (all)"),
                    user("00ubob"),
                    "SUCCESS",
                ),
                Some(Severity::Critical),
            ),
            (
                grant(
                    "g2",
                    "user.account.privilege.grant",
                    Some("Super administrator"),
                    user("00ubob"),
                    "SUCCESS",
                ),
                Some(Severity::Critical),
            ),
            (
                grant(
                    "g3",
                    "user.account.privilege.grant",
                    Some("Help Desk administrator"),
                    user("00ubob"),
                    "SUCCESS",
                ),
                Some(Severity::High),
            ),
            (
                grant(
                    "g4",
                    "group.privilege.grant",
                    None,
                    json!({"id": "00g1", "type": "UserGroup", "alternateId": "Admins"}),
                    "SUCCESS",
                ),
                Some(Severity::High),
            ),
            (
                grant(
                    "g5",
                    "iam.resourceset.bindings.add",
                    None,
                    json!({"id": "SUPER_ADMIN", "type": "ROLE", "alternateId": "SUPER_ADMIN"}),
                    "SUCCESS",
                ),
                Some(Severity::Critical),
            ),
            // Negative: a failed grant, and a privilege revoked.
            (
                grant(
                    "g6",
                    "user.account.privilege.grant",
                    Some("Super administrator"),
                    user("00ubob"),
                    "FAILURE",
                ),
                None,
            ),
            (
                grant(
                    "g7",
                    "user.account.privilege.revoke",
                    Some("Super administrator"),
                    user("00ubob"),
                    "SUCCESS",
                ),
                None,
            ),
        ];
        for (ev, want) in cases {
            assert_eq!(
                fired(&ev),
                want.map(|s| (ADMIN_PRIVILEGE_GRANTED.to_string(), s)),
                "{}",
                ev.uuid
            );
        }
        let a = detect(&grant(
            "g1",
            "user.account.privilege.grant",
            Some("Super administrator"),
            user("00ubob"),
            "SUCCESS",
        ));
        let a = a.map(|a| (a.entity.id, a.dedupe_key, a.evidence));
        assert_eq!(
            a,
            Some((
                "00ubob".into(),
                "okta.admin_privilege_granted:user:00ubob:g1".into(),
                vec!["g1".into()]
            ))
        );
    }

    #[test]
    fn api_tokens() {
        assert_eq!(
            fired(&token_created("t1", T0, "ANYWHERE")),
            Some((API_TOKEN_CREATED.into(), Severity::High))
        );
        assert_eq!(
            fired(&token_created("t2", T0, "")),
            Some((API_TOKEN_CREATED.into(), Severity::High))
        );
        assert_eq!(
            fired(&token_created("t3", T0, "ZONE")),
            Some((API_TOKEN_CREATED.into(), Severity::Medium))
        );
        let revoke = action("t4", T0, "system.api_token.revoke", "00uadmin", json!({}));
        assert_eq!(fired(&revoke), None);
    }

    fn rule_update(uuid: &str, details: Value) -> SystemLogEvent {
        action(
            uuid,
            T0,
            RULE_UPDATE,
            "00uadmin",
            json!({
            "target": [{"id": "0pr1", "type": "PolicyRule", "alternateId": "Require MFA"}],
            "debugContext": {"debugData": {"changeDetails": details}}}),
        )
    }

    #[test]
    fn policy_weakening() {
        let down = json!({"from": {"factorMode": "2FA"}, "to": {"factorMode": "1FA"}});
        let up = json!({"from": {"factorMode": "1FA"}, "to": {"factorMode": "2FA"}});
        let nested = json!({"actions": {"from": {"appSignOn": {"verificationMethod": {"factorMode": "2FA"}}},
            "to": {"appSignOn": {"verificationMethod": {"factorMode": "1FA"}}}}});
        let other_place = json!({"from": {"factorMode": "2FA", "x": "1FA"}, "to": {"factorMode": "2FA", "y": "1FA"}});
        let cases = [
            (rule_update("p1", json!(down.to_string())), true),
            (rule_update("p2", down.clone()), true),
            (rule_update("p3", nested), true),
            (rule_update("p4", up), false),
            (rule_update("p5", other_place), false),
            (rule_update("p6", json!("not json")), false),
            (
                action("p7", T0, "policy.rule.deactivate", "00uadmin", json!({})),
                true,
            ),
            (
                action("p8", T0, "policy.lifecycle.delete", "00uadmin", json!({})),
                true,
            ),
            (
                action("p9", T0, "zone.remove_blacklist", "00uadmin", json!({})),
                true,
            ),
            (
                action("p10", T0, "zone.delete", "00uadmin", json!({})),
                true,
            ),
            (
                action(
                    "p11",
                    T0,
                    "system.mfa.factor.deactivate",
                    "00uadmin",
                    json!({}),
                ),
                true,
            ),
            (
                action("p12", T0, "policy.rule.activate", "00uadmin", json!({})),
                false,
            ),
            (
                action("p13", T0, "zone.make_blacklist", "00uadmin", json!({})),
                false,
            ),
            (
                action(
                    "p14",
                    T0,
                    "policy.rule.delete",
                    "00uadmin",
                    json!({"outcome": {"result": "FAILURE"}}),
                ),
                false,
            ),
        ];
        for (ev, want) in cases {
            let got = fired(&ev);
            assert_eq!(got.is_some(), want, "{}", ev.uuid);
            if let Some(g) = got {
                assert_eq!(g, (POLICY_WEAKENED.to_string(), Severity::High));
            }
        }
    }

    #[test]
    fn reports_and_impersonation() {
        let report = action("r1", T0, SUSPICIOUS_REPORT, "00uann", json!({}));
        assert_eq!(
            fired(&report),
            Some((SUSPICIOUS_ACTIVITY_REPORTED.into(), Severity::High))
        );
        for (uuid, t) in [
            ("i1", "user.session.impersonation.grant"),
            ("i2", "user.session.impersonation.initiate"),
        ] {
            assert_eq!(
                fired(&action(uuid, T0, t, "00uadmin", json!({}))),
                Some((SUPPORT_IMPERSONATION.into(), Severity::High))
            );
        }
        for (uuid, t) in [
            ("n1", "user.session.impersonation.end"),
            ("n2", "user.session.start"),
            ("n3", "user.account.update_profile"),
        ] {
            assert_eq!(
                fired(&action(uuid, T0, t, "00uadmin", json!({}))),
                None,
                "{t}"
            );
        }
    }
}
