//! `okta_app_policy_exceptions`: ACTIVE rules of ACTIVE ACCESS_POLICY (app sign-on)
//! policies that ALLOW access with no verification method (absent or null) or with
//! `factorMode == "1FA"`. AUTH_METHOD_CHAIN rules (no factorMode), any `constraints`
//! shape and unknown fields parse and count only by that rule.

use super::{evaluated, Kri, DETAILS_LIST_CAP};
use crate::api::models::{is, Policy, PolicyRule};
use kri_connector_sdk::types::KriValue;
use serde_json::json;

/// A policy with the rules fetched for it (rules are fetched for ACTIVE policies only).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PolicyWithRules {
    pub policy: Policy,
    pub rules: Vec<PolicyRule>,
}

pub const WHY_NO_VERIFICATION: &str = "allows access without a verification method";
pub const WHY_ONE_FACTOR: &str = "allows access with one factor (factorMode 1FA)";

/// Why an (ACTIVE) rule is an exception, or `None`.
pub fn exception_reason(rule: &PolicyRule) -> Option<&'static str> {
    if !is(&rule.status, "ACTIVE") {
        return None;
    }
    let aso = rule.app_sign_on()?;
    if !is(&aso.access, "ALLOW") {
        return None;
    }
    if aso.verification_method.is_none() {
        return Some(WHY_NO_VERIFICATION);
    }
    match aso.factor_mode() {
        Some(mode) if mode.trim().eq_ignore_ascii_case("1FA") => Some(WHY_ONE_FACTOR),
        _ => None,
    }
}

pub fn app_policy_exceptions(policies: &[PolicyWithRules]) -> KriValue {
    let mut active_rules = 0u64;
    let mut active_policies = 0u64;
    let mut exceptions = Vec::new();
    for p in policies.iter().filter(|p| is(&p.policy.status, "ACTIVE")) {
        active_policies += 1;
        for rule in p.rules.iter().filter(|r| is(&r.status, "ACTIVE")) {
            active_rules += 1;
            if let Some(why) = exception_reason(rule) {
                exceptions.push(json!({
                    "policy_id": p.policy.id, "policy_name": p.policy.name,
                    "rule_id": rule.id, "rule_name": rule.name,
                    "why": why,
                }));
            }
        }
    }
    let count = exceptions.len() as u64;
    let truncated = exceptions.len() > DETAILS_LIST_CAP;
    exceptions.truncate(DETAILS_LIST_CAP);
    let details = json!({
        "policies": policies.len(),
        "active_policies": active_policies,
        "active_rules": active_rules,
        "rules": exceptions,
        "rules_truncated": truncated,
    });
    evaluated(
        Kri::AppPolicyExceptions,
        count as f64,
        Some(count as f64),
        Some(active_rules as f64),
        details,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn rule(v: Value) -> PolicyRule {
        serde_json::from_value(v).unwrap_or_default()
    }

    #[test]
    fn rule_shapes() {
        let cases: Vec<(&str, Value, Option<&str>)> = vec![
            (
                "ALLOW 2FA catch-all, conditions null",
                json!({"id":"r1","status":"ACTIVE","system":true,"conditions":null,"actions":{"appSignOn":{"access":"ALLOW","verificationMethod":{"factorMode":"2FA","type":"ASSURANCE","reauthenticateIn":"PT12H"},"keepMeSignedIn":{"postAuth":"NOT_ALLOWED"}}},"type":"ACCESS_POLICY"}),
                None,
            ),
            (
                "ALLOW 1FA, constraints []",
                json!({"id":"r2","status":"ACTIVE","actions":{"appSignOn":{"access":"ALLOW","verificationMethod":{"factorMode":"1FA","type":"ASSURANCE","constraints":[]}}}}),
                Some(WHY_ONE_FACTOR),
            ),
            (
                "ALLOW 1FA, constraints missing",
                json!({"id":"r3","status":"ACTIVE","actions":{"appSignOn":{"access":"ALLOW","verificationMethod":{"factorMode":"1FA","type":"ASSURANCE"}}}}),
                Some(WHY_ONE_FACTOR),
            ),
            (
                "ALLOW 1FA, constraints list with phishing-resistant possession",
                json!({"id":"r4","status":"ACTIVE","actions":{"appSignOn":{"access":"ALLOW","verificationMethod":{"factorMode":"1FA","reauthenticateIn":"PT0S","constraints":[{"possession":{"phishingResistant":"REQUIRED","userVerification":"OPTIONAL"}}],"type":"ASSURANCE"}}}}),
                Some(WHY_ONE_FACTOR),
            ),
            (
                "ALLOW 2FA, constraints object (spec example)",
                json!({"id":"r5","status":"ACTIVE","actions":{"appSignOn":{"access":"ALLOW","verificationMethod":{"factorMode":"2FA","type":"ASSURANCE","constraints":{"knowledge":{"required":true,"types":["password"]}}}}}}),
                None,
            ),
            (
                "ALLOW 2FA, constraints [{}]",
                json!({"id":"r6","status":"ACTIVE","actions":{"appSignOn":{"access":"ALLOW","verificationMethod":{"factorMode":"2FA","type":"ASSURANCE","inactivityPeriod":"PT1H","constraints":[{}]}}}}),
                None,
            ),
            (
                "AUTH_METHOD_CHAIN, no factorMode",
                json!({"id":"r7","status":"ACTIVE","actions":{"appSignOn":{"access":"ALLOW","verificationMethod":{"type":"AUTH_METHOD_CHAIN","chains":[{"authenticationMethods":[{"key":"okta_password","method":"password"}],"next":[{"authenticationMethods":[{"key":"google_otp","method":"otp"}]}]}]}}}}),
                None,
            ),
            (
                "DENY still showing 2FA",
                json!({"id":"r8","status":"ACTIVE","actions":{"appSignOn":{"access":"DENY","verificationMethod":{"factorMode":"2FA","type":"ASSURANCE"}}}}),
                None,
            ),
            (
                "DENY 1FA",
                json!({"id":"r9","status":"ACTIVE","actions":{"appSignOn":{"access":"DENY","verificationMethod":{"factorMode":"1FA"}}}}),
                None,
            ),
            (
                "INACTIVE 1FA",
                json!({"id":"r10","status":"INACTIVE","actions":{"appSignOn":{"access":"ALLOW","verificationMethod":{"factorMode":"1FA","type":"ASSURANCE"}}}}),
                None,
            ),
            (
                "ALLOW, verificationMethod absent",
                json!({"id":"r11","status":"ACTIVE","actions":{"appSignOn":{"access":"ALLOW"}}}),
                Some(WHY_NO_VERIFICATION),
            ),
            (
                "ALLOW, verificationMethod null",
                json!({"id":"r12","status":"ACTIVE","actions":{"appSignOn":{"access":"ALLOW","verificationMethod":null}}}),
                Some(WHY_NO_VERIFICATION),
            ),
            (
                "unknown fields everywhere",
                json!({"id":"r13","status":"ACTIVE","futureThing":[1,2],"actions":{"appSignOn":{"access":"ALLOW","newKnob":true,"verificationMethod":{"factorMode":"1FA","type":"SOMETHING_NEW","extra":{"a":null}}},"other":{}}}),
                Some(WHY_ONE_FACTOR),
            ),
            (
                "actions missing",
                json!({"id":"r14","status":"ACTIVE"}),
                None,
            ),
            (
                "appSignOn null",
                json!({"id":"r15","status":"ACTIVE","actions":{"appSignOn":null}}),
                None,
            ),
            (
                "spec typo: type inside actions",
                json!({"id":"r16","status":"ACTIVE","actions":{"appSignOn":{"access":"ALLOW","verificationMethod":{"factorMode":"2FA"}},"type":"ACCESS_POLICY","_links":{}}}),
                None,
            ),
        ];
        for (name, v, want) in cases {
            assert_eq!(exception_reason(&rule(v)), want, "{name}");
        }
    }

    #[test]
    fn counts_only_active_rules_of_active_policies() {
        let policy = |id: &str, status: &str| Policy {
            id: Some(id.into()),
            name: Some(format!("P {id}")),
            status: Some(status.into()),
            policy_type: Some("ACCESS_POLICY".into()),
        };
        let one_fa = |id: &str, status: &str| {
            rule(
                json!({"id": id, "name": id, "status": status, "actions":{"appSignOn":{"access":"ALLOW","verificationMethod":{"factorMode":"1FA"}}}}),
            )
        };
        let two_fa = |id: &str| {
            rule(
                json!({"id": id, "status": "ACTIVE", "actions":{"appSignOn":{"access":"ALLOW","verificationMethod":{"factorMode":"2FA"}}}}),
            )
        };
        let policies = vec![
            PolicyWithRules {
                policy: policy("p1", "ACTIVE"),
                rules: vec![one_fa("a", "ACTIVE"), two_fa("b"), one_fa("c", "INACTIVE")],
            },
            PolicyWithRules {
                policy: policy("p2", "INACTIVE"),
                rules: vec![one_fa("d", "ACTIVE")],
            },
            PolicyWithRules {
                policy: policy("p3", "ACTIVE"),
                rules: vec![],
            },
        ];
        let v = app_policy_exceptions(&policies);
        assert_eq!(v.value, Some(1.0));
        assert_eq!(v.numerator, Some(1.0));
        assert_eq!(v.denominator, Some(2.0));
        let d: Value = serde_json::from_str(&v.details).unwrap_or(Value::Null);
        assert_eq!(d["rules"][0]["policy_id"], "p1");
        assert_eq!(d["rules"][0]["policy_name"], "P p1");
        assert_eq!(d["rules"][0]["rule_id"], "a");
        assert_eq!(d["rules"][0]["rule_name"], "a");
        assert_eq!(d["rules"][0]["why"], WHY_ONE_FACTOR);
    }
}
