//! `okta_phish_resistant_mfa_pct`: share of the MFA-enrolled users with an ACTIVE
//! phishing-resistant factor; `details.share_of_active_pct` puts it over all sampled users.

use super::mfa_adoption::MfaPopulation;
use super::{evaluated, not_evaluated, pct, Kri};
use kri_connector_sdk::types::KriValue;
use serde_json::{json, Value};

pub fn phish_resistant_mfa(pop: &MfaPopulation) -> KriValue {
    let kri = Kri::PhishResistantMfa;
    let mut details = pop.common_details();
    let sampled = pop.sampled();
    let enrolled = pop.enrolled();
    let phish = pop.phish_resistant();
    details.insert("enrolled".into(), json!(enrolled));
    details.insert("phish_resistant".into(), json!(phish));
    if enrolled == 0 {
        return not_evaluated(kri, "no users with MFA enrolled", Value::Object(details));
    }
    details.insert("share_of_active_pct".into(), json!(pct(phish, sampled)));
    evaluated(
        kri,
        pct(phish, enrolled),
        Some(phish as f64),
        Some(enrolled as f64),
        Value::Object(details),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kris::mfa_adoption::tests::population;

    #[test]
    fn values_and_share_of_active() {
        // (codes, value, share_of_active_pct)
        let cases: Vec<(Vec<u8>, Option<f64>, Option<f64>)> = vec![
            (vec![], None, None),
            (vec![0, 0], None, None),
            (vec![2, 0, 0, 0, 0, 0, 0, 0, 0, 0], Some(100.0), Some(10.0)),
            (vec![2, 1, 1, 0], Some(33.3), Some(25.0)),
            (vec![1, 1], Some(0.0), Some(0.0)),
            (vec![2, 2, 1], Some(66.7), Some(66.7)),
        ];
        for (codes, want, share) in cases {
            let v = phish_resistant_mfa(&population(&codes));
            assert_eq!(v.value, want, "{codes:?}");
            let d: Value = serde_json::from_str(&v.details).unwrap_or(Value::Null);
            assert_eq!(d["share_of_active_pct"].as_f64(), share, "{codes:?}");
            if want.is_none() {
                assert_eq!(
                    v.not_evaluated_reason.as_deref(),
                    Some("no users with MFA enrolled")
                );
            }
        }
    }
}
