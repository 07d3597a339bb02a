//! Moves an org's data clock forward like a day passing: changes some users (factor
//! enrolments, activations, deactivations and resets; suspends, unsuspends, activations,
//! deactivations, lock-outs), adds new users, and writes the System Log events Okta would
//! write for each change (the app assignments a user gains or loses on the way
//! included), plus fresh everyday activity for the new period. The identity graph's
//! changes of the day are in `advance_graph.rs`.

use std::collections::BTreeSet;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use crate::ids::mix64;
use crate::model::*;

impl Org {
    /// Moves the data clock forward by `advance_ms`, changes about `fraction` of the users,
    /// adds new users, and logs an event naming each changed user (`target` of type
    /// `User`). Also adds sign-in, push, travel and admin-session events for the period.
    /// Returns the ids of the users changed or created. Deterministic for the same org
    /// state and arguments.
    pub fn advance(&mut self, advance_ms: i64, fraction: f64, seed: u64) -> Vec<String> {
        let mut rng = StdRng::seed_from_u64(
            mix64(seed) ^ mix64(self.seed.rotate_left(7)) ^ mix64(self.now_ms as u64 ^ 0xad),
        );
        let from = self.now_ms;
        let to = from + advance_ms.max(0);
        // Strictly before `to`: nothing lands exactly on the new data clock.
        let time_in = |rng: &mut StdRng| {
            if to > from + 1 {
                rng.gen_range(from + 1..to)
            } else {
                to
            }
        };
        let fraction = if fraction.is_finite() {
            fraction.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let n = self.users.len();
        let mut k = (n as f64 * fraction).round() as usize;
        if fraction > 0.0 && k == 0 && n > 0 {
            k = 1;
        }
        let mut chosen = rand::seq::index::sample(&mut rng, n, k.min(n)).into_vec();
        chosen.sort_unstable();

        let mut out = Vec::new();
        let mut changed = Vec::with_capacity(k + k / 8 + 1);
        // Changes are stamped before the clock moves, so new users exist at `from`.
        self.now_ms = to;
        for index in chosen {
            let t = time_in(&mut rng);
            self.change_user(&mut rng, index as u32, t, &mut out);
            changed.push(self.users[index].id.clone());
        }
        let new_users = if fraction > 0.0 { (k / 8).max(1) } else { 0 };
        for _ in 0..new_users {
            let t = time_in(&mut rng);
            let index = self.create_user(&mut rng, t, &mut out);
            changed.push(self.users[index].id.clone());
        }
        self.gen_activity(&mut rng, from, to, &mut out);
        self.advance_graph(seed, from, to, fraction, &mut out);
        self.append_events(out);
        changed
    }

    /// An admin to act as, or Okta itself when the org has none.
    fn some_admin(&self, rng: &mut StdRng) -> Actor {
        self.admins
            .choose(rng)
            .map_or(Actor::System, |a| Actor::User(a.user))
    }

    /// The apps `u` has a link to.
    fn app_set(&self, u: u32) -> BTreeSet<u16> {
        self.users[u as usize]
            .app_links
            .iter()
            .map(|l| l.app)
            .collect()
    }

    /// Logs the app assignments `u` gained or lost since `before`, one
    /// `application.user_membership.add` or `.remove` per app, as Okta does however the
    /// assignment changed (activation, deactivation, an admin).
    fn log_app_changes(
        &mut self,
        rng: &mut StdRng,
        u: u32,
        before: &BTreeSet<u16>,
        t: i64,
        actor: Actor,
        out: &mut Vec<LogEvent>,
    ) {
        let after = self.app_set(u);
        for &app in after.difference(before) {
            let target = Target::AppMember { user: u, app };
            self.log(rng, EventKind::AppMembershipAdd, t, actor, target, out);
        }
        for &app in before.difference(&after) {
            let target = Target::AppMember { user: u, app };
            self.log(rng, EventKind::AppMembershipRemove, t, actor, target, out);
        }
    }

    fn log(
        &mut self,
        rng: &mut StdRng,
        kind: EventKind,
        t: i64,
        actor: Actor,
        target: Target,
        out: &mut Vec<LogEvent>,
    ) -> usize {
        let session = self.new_session(false);
        let e = self.event(rng, kind, t, actor, target, OutcomeResult::Success, session);
        out.push(e);
        out.len() - 1
    }

    fn set_status(&mut self, u: u32, status: UserStatus, t: i64) {
        let user = &mut self.users[u as usize];
        user.status = status;
        user.status_changed_ms = Some(t);
        user.last_updated_ms = t;
        if status == UserStatus::Active && user.activated_ms.is_none() {
            user.activated_ms = Some(t);
        }
    }

    fn enroll_factor(&mut self, rng: &mut StdRng, u: u32, t: i64, out: &mut Vec<LogEvent>) {
        let factor_type = if rng.gen_bool(self.profile.phish_rate) {
            if rng.gen_bool(0.75) {
                FactorType::Webauthn
            } else {
                FactorType::U2f
            }
        } else {
            Org::everyday_factor_type(rng)
        };
        let factor = self.make_factor(rng, factor_type, FactorStatus::Active, t, t);
        let name = factor.log_name();
        let user = &mut self.users[u as usize];
        user.factors.push(factor);
        user.last_updated_ms = t;
        let i = self.log(
            rng,
            EventKind::FactorActivate,
            t,
            Actor::User(u),
            Target::UserFactor(u, name),
            out,
        );
        out[i].factor = Some(name);
    }

    fn change_user(&mut self, rng: &mut StdRng, u: u32, t: i64, out: &mut Vec<LogEvent>) {
        let status = self.users[u as usize].status;
        match status {
            UserStatus::Active => {
                let roll: f64 = rng.gen();
                let has_active = self.users[u as usize]
                    .factors
                    .iter()
                    .any(Factor::counts_as_mfa);
                let pending = self.users[u as usize]
                    .factors
                    .iter()
                    .position(|f| f.status == FactorStatus::PendingActivation);
                if let Some(p) = pending.filter(|_| roll < 0.12) {
                    let user = &mut self.users[u as usize];
                    user.factors[p].status = FactorStatus::Active;
                    user.factors[p].last_updated_ms = t;
                    user.last_updated_ms = t;
                    let name = user.factors[p].log_name();
                    let i = self.log(
                        rng,
                        EventKind::FactorActivate,
                        t,
                        Actor::User(u),
                        Target::UserFactor(u, name),
                        out,
                    );
                    out[i].factor = Some(name);
                } else if roll < 0.40 || (roll < 0.58 && !has_active) {
                    self.enroll_factor(rng, u, t, out);
                } else if roll < 0.58 {
                    let user = &mut self.users[u as usize];
                    let actives: Vec<usize> = user
                        .factors
                        .iter()
                        .enumerate()
                        .filter(|(_, f)| f.counts_as_mfa())
                        .map(|(i, _)| i)
                        .collect();
                    let pick = actives[rng.gen_range(0..actives.len())];
                    let factor = user.factors.remove(pick);
                    user.last_updated_ms = t;
                    let name = factor.log_name();
                    let actor = self.some_admin(rng);
                    let i = self.log(
                        rng,
                        EventKind::FactorDeactivate,
                        t,
                        actor,
                        Target::UserFactor(u, name),
                        out,
                    );
                    out[i].factor = Some(name);
                    out[i].reason = Some(match name {
                        MfaFactor::FidoWebauthn => "User reset FIDO_WEBAUTHN factor",
                        MfaFactor::OktaVerifyPush => "User reset OKTA_VERIFY_PUSH factor",
                        MfaFactor::SmsFactor => "User reset SMS_FACTOR factor",
                        _ => "User reset factor",
                    });
                } else if roll < 0.66 {
                    let user = &mut self.users[u as usize];
                    user.factors.clear();
                    user.last_updated_ms = t;
                    let actor = self.some_admin(rng);
                    self.log(
                        rng,
                        EventKind::FactorResetAll,
                        t,
                        actor,
                        Target::User(u),
                        out,
                    );
                } else if roll < 0.84 {
                    self.set_status(u, UserStatus::Suspended, t);
                    let actor = self.some_admin(rng);
                    self.log(
                        rng,
                        EventKind::LifecycleSuspend,
                        t,
                        actor,
                        Target::User(u),
                        out,
                    );
                } else if roll < 0.93 {
                    self.set_status(u, UserStatus::Deprovisioned, t);
                    let before = self.app_set(u);
                    self.users[u as usize].app_links.clear();
                    let actor = self.some_admin(rng);
                    self.log(
                        rng,
                        EventKind::LifecycleDeactivate,
                        t,
                        actor,
                        Target::User(u),
                        out,
                    );
                    self.log_app_changes(rng, u, &before, t, actor, out);
                } else {
                    self.set_status(u, UserStatus::LockedOut, t);
                    let i = self.log(
                        rng,
                        EventKind::AccountLock,
                        t,
                        Actor::User(u),
                        Target::User(u),
                        out,
                    );
                    out[i].result = OutcomeResult::Failure;
                    out[i].reason = Some("LOCKED_OUT");
                }
            }
            UserStatus::Suspended => {
                let roll: f64 = rng.gen();
                let actor = self.some_admin(rng);
                if roll < 0.6 {
                    self.set_status(u, UserStatus::Active, t);
                    self.log(
                        rng,
                        EventKind::LifecycleUnsuspend,
                        t,
                        actor,
                        Target::User(u),
                        out,
                    );
                } else if roll < 0.8 || self.users[u as usize].app_links.is_empty() {
                    self.set_status(u, UserStatus::Deprovisioned, t);
                    let before = self.app_set(u);
                    self.users[u as usize].app_links.clear();
                    self.log(
                        rng,
                        EventKind::LifecycleDeactivate,
                        t,
                        actor,
                        Target::User(u),
                        out,
                    );
                    self.log_app_changes(rng, u, &before, t, actor, out);
                } else {
                    // Someone cleans up the suspended user's app access.
                    let mut apps: Vec<u16> = self.users[u as usize]
                        .app_links
                        .iter()
                        .map(|l| l.app)
                        .collect();
                    apps.dedup();
                    let user = &mut self.users[u as usize];
                    user.app_links.clear();
                    user.last_updated_ms = t;
                    for app in apps {
                        self.log(
                            rng,
                            EventKind::AppMembershipRemove,
                            t,
                            actor,
                            Target::AppMember { user: u, app },
                            out,
                        );
                    }
                }
            }
            UserStatus::Deprovisioned | UserStatus::Staged | UserStatus::Provisioned => {
                self.set_status(u, UserStatus::Active, t);
                let before = self.app_set(u);
                if rng.gen_bool(0.8) {
                    let mut user = std::mem::replace(&mut self.users[u as usize], placeholder());
                    let count = rng.gen_range(1..=3);
                    self.assign_apps(rng, &mut user, count);
                    self.users[u as usize] = user;
                }
                let actor = self.some_admin(rng);
                self.log(
                    rng,
                    EventKind::LifecycleActivate,
                    t,
                    actor,
                    Target::User(u),
                    out,
                );
                self.log_app_changes(rng, u, &before, t, actor, out);
            }
            UserStatus::LockedOut => {
                self.set_status(u, UserStatus::Active, t);
                let actor = if rng.gen_bool(0.5) {
                    Actor::System
                } else {
                    self.some_admin(rng)
                };
                self.log(
                    rng,
                    EventKind::AccountUnlock,
                    t,
                    actor,
                    Target::User(u),
                    out,
                );
            }
            UserStatus::PasswordExpired | UserStatus::Recovery => {
                self.set_status(u, UserStatus::Active, t);
                self.users[u as usize].password_changed_ms = Some(t);
                self.log(
                    rng,
                    EventKind::AccountResetPassword,
                    t,
                    Actor::User(u),
                    Target::User(u),
                    out,
                );
            }
        }
    }

    /// A new hire: created (and usually activated, enrolled and given apps) at `t`.
    fn create_user(&mut self, rng: &mut StdRng, t: i64, out: &mut Vec<LogEvent>) -> usize {
        let roll: f64 = rng.gen();
        let city = self
            .users
            .get(rng.gen_range(0..self.users.len().max(1)))
            .map_or(0, |u| u.home_city);
        let index = self.add_user(rng, UserStatus::Staged, t, city);
        let u = index as u32;
        {
            let user = &mut self.users[index];
            user.created_ms = t;
            user.last_updated_ms = t;
            user.last_login_ms = None;
            user.activated_ms = None;
            user.status_changed_ms = None;
            user.password_changed_ms = None;
            user.factors.clear();
            user.app_links.clear();
        }
        let actor = self.some_admin(rng);
        self.log(
            rng,
            EventKind::LifecycleCreate,
            t,
            actor,
            Target::User(u),
            out,
        );
        if roll < 0.75 {
            self.set_status(u, UserStatus::Active, t);
            self.users[index].password_changed_ms = Some(t);
            let mut user = std::mem::replace(&mut self.users[index], placeholder());
            let count = rng.gen_range(1..=4);
            self.assign_apps(rng, &mut user, count);
            self.users[index] = user;
            self.log(
                rng,
                EventKind::LifecycleActivate,
                t,
                actor,
                Target::User(u),
                out,
            );
            self.log_app_changes(rng, u, &BTreeSet::new(), t, actor, out);
            let okta_groups: Vec<u16> = (0..self.groups.len() as u16)
                .filter(|&g| self.groups[g as usize].kind == GroupKind::OktaGroup)
                .collect();
            if let Some(&group) = okta_groups.choose(rng) {
                self.groups[group as usize].last_membership_updated_ms = t;
                let target = Target::GroupMember { user: u, group };
                self.log(rng, EventKind::GroupMembershipAdd, t, actor, target, out);
            }
            if rng.gen_bool(self.profile.enroll_rate) {
                self.enroll_factor(rng, u, t, out);
            }
        } else if roll < 0.9 {
            self.set_status(u, UserStatus::Provisioned, t);
            self.log(
                rng,
                EventKind::LifecycleActivate,
                t,
                actor,
                Target::User(u),
                out,
            );
        }
        index
    }
}

/// A throw-away user to swap in while one is borrowed mutably alongside the org.
fn placeholder() -> User {
    User {
        id: String::new(),
        status: UserStatus::Staged,
        created_ms: 0,
        activated_ms: None,
        status_changed_ms: None,
        last_login_ms: None,
        last_updated_ms: 0,
        password_changed_ms: None,
        first_name: String::new(),
        last_name: String::new(),
        login: String::new(),
        mobile_phone: None,
        title: None,
        department: None,
        recovery_question: None,
        provider: CredentialProvider::Okta,
        home_city: 0,
        agent: 0,
        factors: Vec::new(),
        app_links: Vec::new(),
    }
}
