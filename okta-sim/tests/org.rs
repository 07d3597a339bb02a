//! Tests of the generated org itself (no server): determinism, status coverage, factor
//! and rule variety, ground-truth consistency with the structs, and `advance`.

mod common;

use std::collections::BTreeSet;

use common::NOW_MS;
use okta_sim::model::{
    ActiveStatus, Actor, BehaviorPlacement, Constraints, EventKind, FactorStatus, FactorType,
    RuleAccess, Target, Verification,
};
use okta_sim::{Org, OrgSpec, UserStatus};

fn spec(seed: u64, users: usize) -> OrgSpec {
    OrgSpec {
        seed,
        users,
        now_ms: NOW_MS,
    }
}

#[test]
fn same_seed_gives_identical_json_and_different_seeds_differ() {
    let a = Org::generate(&spec(11, 300)).snapshot_json("http://127.0.0.1:1");
    let b = Org::generate(&spec(11, 300)).snapshot_json("http://127.0.0.1:1");
    assert_eq!(a, b, "same spec must give the same bytes");
    let c = Org::generate(&spec(12, 300)).snapshot_json("http://127.0.0.1:1");
    assert_ne!(a, c, "different seeds must give different orgs");
    let d = Org::generate(&spec(11, 301)).snapshot_json("http://127.0.0.1:1");
    assert_ne!(a, d, "different sizes must give different orgs");
    // The snapshot is valid JSON.
    let v: serde_json::Value = serde_json::from_str(&a).expect("snapshot is JSON");
    assert_eq!(v["users"].as_array().map(Vec::len), Some(300));
}

#[test]
fn advance_is_deterministic() {
    let mut a = Org::generate(&spec(5, 400));
    let mut b = a.clone();
    let ca = a.advance(86_400_000, 0.05, 99);
    let cb = b.advance(86_400_000, 0.05, 99);
    assert_eq!(ca, cb);
    assert_eq!(a.snapshot_json("x"), b.snapshot_json("x"));
    let mut c = Org::generate(&spec(5, 400));
    let cc = c.advance(86_400_000, 0.05, 100);
    assert_ne!(ca, cc, "another advance seed changes other users");
}

#[test]
fn every_status_is_present_from_200_users() {
    for seed in [1, 2, 3, 42, 1000] {
        for users in [200, 777, 2000] {
            let org = Org::generate(&spec(seed, users));
            assert_eq!(org.users.len(), users);
            let statuses: BTreeSet<UserStatus> = org.users.iter().map(|u| u.status).collect();
            assert_eq!(
                statuses.len(),
                UserStatus::ALL.len(),
                "seed {seed} users {users}: {statuses:?}"
            );
            let active = org
                .users
                .iter()
                .filter(|u| u.status == UserStatus::Active)
                .count();
            let share = active as f64 / users as f64;
            assert!((0.8..0.92).contains(&share), "active share {share}");
        }
    }
}

#[test]
fn ids_are_unique_and_shaped_like_okta() {
    let org = Org::generate(&spec(3, 2000));
    let ids: BTreeSet<&str> = org.users.iter().map(|u| u.id.as_str()).collect();
    assert_eq!(ids.len(), org.users.len());
    for u in &org.users {
        assert_eq!(u.id.len(), 20);
        assert!(u.id.starts_with("00u"));
        assert!(u.login.ends_with(&format!("@{}", org.domain)));
        assert_eq!(org.user(&u.id).map(|x| &x.id), Some(&u.id));
    }
    let logins: BTreeSet<&str> = org.users.iter().map(|u| u.login.as_str()).collect();
    assert_eq!(logins.len(), org.users.len(), "logins are unique");
    let uuids: BTreeSet<u128> = org.events.iter().map(|e| e.uuid).collect();
    assert_eq!(uuids.len(), org.events.len(), "event uuids are unique");
}

#[test]
fn factors_cover_every_type_and_status() {
    let org = Org::generate(&spec(8, 3000));
    let types: BTreeSet<FactorType> = org
        .users
        .iter()
        .flat_map(|u| u.factors.iter().map(|f| f.factor_type))
        .collect();
    let statuses: BTreeSet<FactorStatus> = org
        .users
        .iter()
        .flat_map(|u| u.factors.iter().map(|f| f.status))
        .collect();
    let providers: BTreeSet<&str> = org
        .users
        .iter()
        .flat_map(|u| u.factors.iter().map(|f| f.provider.as_str()))
        .collect();
    assert_eq!(types.len(), 11, "{types:?}");
    assert_eq!(statuses.len(), 5, "{statuses:?}");
    for p in ["OKTA", "GOOGLE", "FIDO", "YUBICO", "RSA", "SYMANTEC"] {
        assert!(providers.contains(p), "provider {p} missing");
    }
    let active: Vec<_> = org
        .users
        .iter()
        .filter(|u| u.status == UserStatus::Active)
        .collect();
    assert!(
        active.iter().any(|u| u.factors.is_empty()),
        "some users have no factor"
    );
    let suspended: Vec<_> = org
        .users
        .iter()
        .filter(|u| u.status == UserStatus::Suspended)
        .collect();
    assert!(suspended.iter().any(|u| u.app_links.is_empty()));
    assert!(suspended.iter().any(|u| !u.app_links.is_empty()));
}

#[test]
fn adoption_and_phishing_resistance_vary_within_bounds() {
    let mut adoption = Vec::new();
    for seed in 0..12 {
        let org = Org::generate(&spec(seed, 1500));
        let t = org.ground_truth(NOW_MS, None);
        let a = t.mfa_adoption_pct.expect("active users exist");
        let p = t.phish_resistant_mfa_pct.expect("enrolled users exist");
        assert!((60.0..=90.0).contains(&a), "seed {seed}: adoption {a}");
        assert!((8.0..=42.0).contains(&p), "seed {seed}: phish {p}");
        adoption.push(a);
    }
    let min = adoption.iter().cloned().fold(f64::MAX, f64::min);
    let max = adoption.iter().cloned().fold(f64::MIN, f64::max);
    assert!(
        max - min > 5.0,
        "adoption varies with the seed: {adoption:?}"
    );
}

#[test]
fn policies_have_every_rule_shape() {
    let org = Org::generate(&spec(4, 100));
    let rules: Vec<_> = org.policies.iter().flat_map(|p| p.rules.iter()).collect();
    let has = |f: &dyn Fn(&okta_sim::model::PolicyRule) -> bool| rules.iter().any(|r| f(r));
    use okta_sim::model::FactorMode::*;
    assert!(has(&|r| matches!(
        r.verification,
        Verification::Assurance {
            factor_mode: OneFactor,
            ..
        }
    )));
    assert!(has(&|r| matches!(
        r.verification,
        Verification::Assurance {
            factor_mode: TwoFactor,
            ..
        }
    )));
    assert!(has(&|r| r.verification == Verification::AuthMethodChain));
    assert!(has(&|r| r.verification == Verification::Absent));
    assert!(has(&|r| r.access == RuleAccess::Deny
        && matches!(
            r.verification,
            Verification::Assurance {
                factor_mode: TwoFactor,
                ..
            }
        )));
    for c in [
        Constraints::Missing,
        Constraints::EmptyList,
        Constraints::EmptyObjectList,
        Constraints::PhishingResistant,
        Constraints::DeviceBound,
    ] {
        assert!(
            has(
                &|r| matches!(r.verification, Verification::Assurance { constraints, .. } if constraints == c)
            ),
            "{c:?}"
        );
    }
    assert!(has(&|r| r.status == ActiveStatus::Inactive));
    assert!(has(&|r| r.system && r.name == "Catch-all Rule"));
    assert!(has(&|r| r.unknown_field));
    assert!(org
        .policies
        .iter()
        .any(|p| p.status == ActiveStatus::Inactive));
    assert!(
        org.policies
            .iter()
            .filter(|p| p.status == ActiveStatus::Active)
            .count()
            >= 4
    );
}

#[test]
fn log_events_are_sorted_recent_and_varied() {
    let org = Org::generate(&spec(21, 2000));
    assert!(org
        .events
        .windows(2)
        .all(|w| w[0].published_ms <= w[1].published_ms));
    assert!(org
        .events
        .iter()
        .all(|e| e.published_ms <= NOW_MS && e.published_ms > NOW_MS - 3 * 86_400_000));
    let per_user = org.events.len() as f64 / org.users.len() as f64;
    assert!(
        (4.0..=12.0).contains(&per_user),
        "{per_user} events per user"
    );
    let kinds: BTreeSet<EventKind> = org.events.iter().map(|e| e.kind).collect();
    for k in [
        EventKind::SessionStart,
        EventKind::SessionEnd,
        EventKind::PolicyEvaluateSignOn,
        EventKind::AuthenticationSso,
        EventKind::AuthViaMfa,
        EventKind::OktaVerifyDenyPush,
        EventKind::AccessAdminApp,
        EventKind::AuthenticationVerify,
    ] {
        assert!(kinds.contains(&k), "{k:?} missing");
    }
    let placements: BTreeSet<String> = org
        .events
        .iter()
        .flat_map(|e| e.behaviors.iter().map(|b| format!("{:?}", b.placement)))
        .collect();
    for p in [
        BehaviorPlacement::DebugBehaviors,
        BehaviorPlacement::LogOnlySecurityData,
        BehaviorPlacement::UserBehaviorsString,
        BehaviorPlacement::UserBehaviorsObject,
        BehaviorPlacement::UserBehaviorsArray,
    ] {
        assert!(placements.contains(&format!("{p:?}")), "{p:?} missing");
    }
}

#[test]
fn ground_truth_matches_the_structs() {
    let org = Org::generate(&spec(77, 1200));
    let t = org.ground_truth(NOW_MS, None);
    let active: Vec<_> = org
        .users
        .iter()
        .filter(|u| u.status == UserStatus::Active)
        .collect();
    assert_eq!(t.active_users, active.len() as u64);
    let enrolled = active
        .iter()
        .filter(|u| {
            u.factors
                .iter()
                .any(|f| f.status == FactorStatus::Active && f.factor_type != FactorType::Question)
        })
        .count() as u64;
    assert_eq!(t.mfa_enrolled, enrolled);
    assert!(t.phish_resistant_users <= t.mfa_enrolled);
    let suspended = org
        .users
        .iter()
        .filter(|u| u.status == UserStatus::Suspended)
        .count() as u64;
    assert_eq!(t.suspended_users, suspended);
    assert!(t.inactive_users_with_app_access > 0 && t.inactive_users_with_app_access < suspended);
    assert!(
        t.admin_session_outliers_24h >= 2,
        "the built-in scenarios give at least two"
    );
    assert!(t.app_policy_exceptions >= 1 && t.app_policy_exceptions < t.active_access_rules);
    assert_eq!(
        t.mfa_adoption_pct,
        Some(((enrolled as f64 / active.len() as f64 * 100.0) * 10.0).round() / 10.0)
    );
    let slugs: Vec<&str> = t.by_slug().iter().map(|(s, _)| *s).collect();
    assert_eq!(
        slugs,
        [
            "okta_mfa_adoption_pct",
            "okta_phish_resistant_mfa_pct",
            "okta_inactive_users_with_app_access",
            "okta_impossible_travel_24h",
            "okta_admin_session_outliers_24h",
            "okta_failed_mfa_push_24h",
            "okta_app_policy_exceptions"
        ]
    );

    // A sample cap counts the first N ACTIVE users in API order.
    let capped = org.ground_truth(NOW_MS, Some(10));
    assert_eq!(capped.active_users, 10);
    let first: Vec<_> = active.iter().take(10).collect();
    assert_eq!(
        capped.mfa_enrolled,
        first.iter().filter(|u| u.is_mfa_enrolled()).count() as u64
    );

    // Event KRIs look only at (now - 24h, now].
    let later = org.ground_truth(NOW_MS + 2 * 86_400_000, None);
    assert_eq!(later.impossible_travel_24h, 0);
    assert_eq!(later.failed_mfa_push_24h, 0);
    assert_eq!(later.admin_session_outliers_24h, 0);
    assert_eq!(later.mfa_adoption_pct, t.mfa_adoption_pct);
}

#[test]
fn empty_and_tiny_orgs_work() {
    let org = Org::generate(&spec(1, 0));
    let t = org.ground_truth(NOW_MS, None);
    assert_eq!(t.active_users, 0);
    assert_eq!(t.mfa_adoption_pct, None);
    assert_eq!(t.phish_resistant_mfa_pct, None);
    for n in 0..10 {
        let mut org = Org::generate(&spec(n as u64, n));
        org.ground_truth(NOW_MS, Some(3));
        org.advance(86_400_000, 0.5, 1);
        org.snapshot_json("x");
    }
}

#[test]
fn advance_logs_an_event_naming_every_changed_user() {
    let mut org = Org::generate(&spec(31, 800));
    let before = org.now_ms();
    let users_before = org.users.len();
    let changed = org.advance(86_400_000, 0.05, 7);
    assert_eq!(org.now_ms(), before + 86_400_000);
    assert!(
        changed.len() >= 40,
        "about 5% of 800 users plus new ones: {}",
        changed.len()
    );
    assert!(org.users.len() > users_before, "new users were added");
    let lifecycle = [
        EventKind::FactorActivate,
        EventKind::FactorDeactivate,
        EventKind::FactorResetAll,
        EventKind::LifecycleCreate,
        EventKind::LifecycleActivate,
        EventKind::LifecycleDeactivate,
        EventKind::LifecycleSuspend,
        EventKind::LifecycleUnsuspend,
        EventKind::AccountLock,
        EventKind::AccountUnlock,
        EventKind::AccountResetPassword,
        EventKind::AppMembershipRemove,
    ];
    for id in &changed {
        let index = org.user_position(id).expect("changed user exists") as u32;
        let found = org.events.iter().any(|e| {
            e.published_ms > before
                && e.published_ms <= org.now_ms()
                && lifecycle.contains(&e.kind)
                && e.target.user() == Some(index)
        });
        assert!(found, "no lifecycle event names {id}");
    }
    let new_kinds: BTreeSet<EventKind> = org
        .events
        .iter()
        .filter(|e| e.published_ms > before)
        .map(|e| e.kind)
        .collect();
    for k in [
        EventKind::SessionStart,
        EventKind::AccessAdminApp,
        EventKind::LifecycleCreate,
    ] {
        assert!(new_kinds.contains(&k), "{k:?} missing from the new day");
    }
    assert!(org
        .events
        .windows(2)
        .all(|w| w[0].published_ms <= w[1].published_ms));
    // Lifecycle events are done by admins or Okta, factor activations by the user.
    for e in org.events.iter().filter(|e| e.published_ms > before) {
        if e.kind == EventKind::FactorActivate {
            assert!(matches!(e.target, Target::UserFactor(u, _) if e.actor == Actor::User(u)));
        }
    }
    // The ground truth at the new now still works and changes.
    let t = org.ground_truth(org.now_ms(), None);
    assert!(t.active_users > 0);

    // Several days in a row keep the log sorted and bounded.
    for day in 0..5 {
        org.advance(86_400_000, 0.02, 100 + day);
    }
    assert!(org
        .events
        .windows(2)
        .all(|w| w[0].published_ms <= w[1].published_ms));
    let t = org.ground_truth(org.now_ms(), None);
    assert!(t.admin_session_outliers_24h < 100);
}
