//! Builds a deterministic synthetic org from an [`OrgSpec`]: users in every status with
//! factors and app links, apps, groups, ACCESS_POLICY policies in all the real rule shapes,
//! admins, API tokens, and about three days of System Log activity (sign-ins, impossible
//! travel, push denials and their look-alikes, admin-console sessions).
//!
//! Everything is drawn from one `StdRng` seeded from the spec, and nothing iterates a
//! hash map, so the same spec always gives the same org.

use std::collections::{HashMap, HashSet};

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use crate::catalog::{
    APP_TEMPLATES, COMPANY_WORDS, FIRST_NAMES, GROUP_NAMES, HOME_CITIES, LAST_NAMES, QUESTIONS,
};
use crate::ids::{mix64, okta_id, org_suffix};
use crate::model::*;
use crate::time::{DAY_MS, HOUR_MS, MINUTE_MS};

/// How far back the initial System Log goes.
pub(crate) const HISTORY_MS: i64 = 3 * DAY_MS;

/// Behaviour indexes in [`BEHAVIOR_NAMES`].
pub(crate) mod bhv {
    pub const GEO: usize = 0;
    pub const DEVICE: usize = 1;
    pub const IP: usize = 2;
    pub const STATE: usize = 3;
    pub const COUNTRY: usize = 4;
    pub const VELOCITY: usize = 5;
    pub const VELOCITY_BEHAVIOR: usize = 6;
    pub const CITY: usize = 7;
    pub const RISK_IP: usize = 8;
}

/// Options for one simulated sign-in.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SignIn {
    /// Sign in from this city instead of the user's home city.
    pub city: Option<u16>,
    /// Behaviours on the `user.session.start` event instead of the ordinary ones.
    pub behaviors: Option<[Option<BehaviorSet>; 2]>,
    /// The password was wrong: a failed start and a failed PASSWORD_AS_FACTOR.
    pub bad_password: bool,
    /// Mark the start risky.
    pub risk_high: bool,
}

impl Org {
    /// Generates the org for `spec`. The same spec always gives an identical org.
    pub fn generate(spec: &OrgSpec) -> Org {
        let mut rng = StdRng::seed_from_u64(mix64(spec.seed) ^ 0x6f6b_7461_2d73_696d);
        let cell = org_suffix(&mut rng);
        let word = COMPANY_WORDS[rng.gen_range(0..COMPANY_WORDS.len())];
        let domain = format!("{word}-{}.example.com", rng.gen_range(1000..10000));
        let org_id = okta_id(&mut rng, "00o", &cell);
        let user_type_id = okta_id(&mut rng, "oty", &cell);
        let profile = OrgProfile {
            enroll_rate: rng.gen_range(0.64..0.88),
            phish_rate: rng.gen_range(0.12..0.38),
            travel_rate: rng.gen_range(0.0008..0.003),
            push_deny_rate: rng.gen_range(0.001..0.005),
            signins_per_day: rng.gen_range(0.5..0.9),
            velocity_name: if rng.gen_bool(0.5) {
                bhv::VELOCITY
            } else {
                bhv::VELOCITY_BEHAVIOR
            },
            oie_share: rng.gen_range(0.3..0.8),
        };
        let mut org = Org {
            seed: spec.seed,
            domain,
            org_id,
            cell,
            user_type_id,
            now_ms: spec.now_ms,
            users: Vec::with_capacity(spec.users),
            apps: Vec::new(),
            groups: Vec::new(),
            policies: Vec::new(),
            api_tokens: Vec::new(),
            admins: Vec::new(),
            group_apps: Vec::new(),
            custom_roles: Vec::new(),
            resource_sets: Vec::new(),
            role_grants: Vec::new(),
            events: Vec::new(),
            open_admin_sessions: Vec::new(),
            profile,
            user_index: HashMap::with_capacity(spec.users),
            logins: HashSet::with_capacity(spec.users),
            next_session: rng.gen_range(1_000..1_000_000) * 2,
            next_uuid: rng.gen(),
        };
        let founded = spec.now_ms - rng.gen_range(2 * 365..6 * 365) * DAY_MS;
        org.gen_apps(&mut rng, founded);
        org.gen_groups(&mut rng, founded, spec.users);
        org.gen_users(&mut rng, founded, spec.users);
        org.gen_policies(&mut rng, founded);
        org.gen_admins(&mut rng);
        org.gen_api_tokens(&mut rng);

        let mut events = Vec::new();
        let from = spec.now_ms - HISTORY_MS;
        org.gen_admin_scenarios(&mut rng, &mut events);
        org.gen_activity(&mut rng, from, spec.now_ms, &mut events);
        org.append_events(events);
        // Last, from its own random stream: the rest of the org stays as it was.
        org.gen_graph();
        org
    }

    /// A fresh object id with this org's cell suffix.
    pub(crate) fn new_id(&self, rng: &mut StdRng, prefix: &str) -> String {
        okta_id(rng, prefix, &self.cell)
    }

    /// A fresh sign-in session number (`idx…` when `classic` is false, `102…` otherwise).
    pub(crate) fn new_session(&mut self, classic: bool) -> u64 {
        self.next_session += 2;
        self.next_session | u64::from(classic)
    }

    /// A fresh event UUID.
    pub(crate) fn new_uuid(&mut self, rng: &mut StdRng) -> u128 {
        self.next_uuid = self.next_uuid.wrapping_add(1);
        // Time-ordered high bits like a version-1 UUID, random low bits.
        (u128::from(mix64(self.next_uuid)) << 64) | u128::from(rng.gen::<u64>())
    }

    /// Sorts new events by time and appends them; keeps users' `lastLogin` current.
    pub(crate) fn append_events(&mut self, mut events: Vec<LogEvent>) {
        events.sort_by_key(|e| e.published_ms);
        for e in &events {
            if e.kind == EventKind::SessionStart && e.result == OutcomeResult::Success {
                if let Actor::User(u) = e.actor {
                    let user = &mut self.users[u as usize];
                    if user.last_login_ms.is_none_or(|t| t < e.published_ms) {
                        user.last_login_ms = Some(e.published_ms);
                    }
                }
            }
        }
        if let (Some(last), Some(first)) = (self.events.last(), events.first()) {
            debug_assert!(
                last.published_ms <= first.published_ms,
                "events stay sorted"
            );
        }
        self.events.extend(events);
    }

    fn gen_apps(&mut self, rng: &mut StdRng, founded: i64) {
        let mut extra: Vec<usize> = (3..APP_TEMPLATES.len()).collect();
        extra.shuffle(rng);
        let count = rng.gen_range(6..=extra.len().min(15));
        let mut chosen: Vec<usize> = vec![0, 1, 2];
        chosen.extend(extra.into_iter().take(count));
        let inactive = rng.gen_range(0..=2usize);
        let total = chosen.len();
        for (i, t) in chosen.into_iter().enumerate() {
            let created = founded + rng.gen_range(0..(self.now_ms - founded) / 2);
            let template = &APP_TEMPLATES[t];
            let app = App {
                id: self.new_id(rng, "0oa"),
                template: t as u16,
                label: template.label.to_string(),
                // Okta's own apps are always active; a couple of others may be inactive.
                active: i < 3 || i < total - inactive,
                created_ms: created,
                last_updated_ms: created + rng.gen_range(0..200) * DAY_MS / 10,
                link_number: rng.gen_range(20..90),
            };
            self.apps.push(app);
        }
    }

    fn gen_groups(&mut self, rng: &mut StdRng, founded: i64, users: usize) {
        let everyone = Group {
            id: self.new_id(rng, "00g"),
            name: "Everyone".into(),
            description: "All users in your organization".into(),
            kind: GroupKind::BuiltIn,
            created_ms: founded,
            last_updated_ms: founded,
            last_membership_updated_ms: self.now_ms - rng.gen_range(1..3 * DAY_MS),
            source_app_id: None,
            members: Vec::new(),
        };
        self.groups.push(everyone);
        let okta_groups = (6 + users / 500).min(GROUP_NAMES.len());
        let mut names: Vec<usize> = (0..GROUP_NAMES.len()).collect();
        names.shuffle(rng);
        for &n in names.iter().take(okta_groups) {
            let created = founded + rng.gen_range(0..(self.now_ms - founded) / 2);
            let (name, description) = GROUP_NAMES[n];
            let group = Group {
                id: self.new_id(rng, "00g"),
                name: name.into(),
                description: description.into(),
                kind: GroupKind::OktaGroup,
                created_ms: created,
                last_updated_ms: created + rng.gen_range(0..100) * DAY_MS,
                last_membership_updated_ms: self.now_ms - rng.gen_range(1..60) * DAY_MS,
                source_app_id: None,
                members: Vec::new(),
            };
            self.groups.push(group);
        }
        let directory_app = self.new_id(rng, "0oa");
        for name in ["Domain Users", "Engineering users", "VPN Access"]
            .iter()
            .take(rng.gen_range(1..=3))
        {
            let created = founded + rng.gen_range(0..(self.now_ms - founded) / 3);
            let group = Group {
                id: self.new_id(rng, "00g"),
                name: (*name).into(),
                description: format!("{name} (synchronised from Active Directory)"),
                kind: GroupKind::AppGroup,
                created_ms: created,
                last_updated_ms: created + rng.gen_range(0..100) * DAY_MS,
                last_membership_updated_ms: self.now_ms - rng.gen_range(1..30) * DAY_MS,
                source_app_id: Some(directory_app.clone()),
                members: Vec::new(),
            };
            self.groups.push(group);
        }
    }

    /// Decides every user's status up front so each status appears in orgs of 8+ users.
    fn status_plan(rng: &mut StdRng, n: usize) -> Vec<UserStatus> {
        const SHARES: [(UserStatus, f64); 7] = [
            (UserStatus::Suspended, 0.04),
            (UserStatus::Deprovisioned, 0.03),
            (UserStatus::Staged, 0.02),
            (UserStatus::Provisioned, 0.02),
            (UserStatus::PasswordExpired, 0.015),
            (UserStatus::Recovery, 0.012),
            (UserStatus::LockedOut, 0.01),
        ];
        let mut plan = Vec::with_capacity(n);
        if n < 8 {
            for _ in 0..n {
                let mut r: f64 = rng.gen();
                let mut status = UserStatus::Active;
                for (s, share) in SHARES {
                    if r < share {
                        status = s;
                        break;
                    }
                    r -= share;
                }
                plan.push(status);
            }
            return plan;
        }
        for (status, share) in SHARES {
            let expected = n as f64 * share * rng.gen_range(0.8..1.25);
            let count = (expected.round() as usize).max(1);
            plan.extend(std::iter::repeat_n(status, count));
        }
        plan.truncate(n.saturating_sub(1));
        let active = n - plan.len();
        plan.extend(std::iter::repeat_n(UserStatus::Active, active));
        plan.shuffle(rng);
        plan
    }

    fn gen_users(&mut self, rng: &mut StdRng, founded: i64, n: usize) {
        let plan = Self::status_plan(rng, n);
        // Most people work from a few offices.
        let mut offices: Vec<u16> = (0..HOME_CITIES as u16).collect();
        offices.shuffle(rng);
        offices.truncate(rng.gen_range(2..=4));
        for status in plan {
            let created = founded + rng.gen_range(0..(self.now_ms - DAY_MS - founded).max(1));
            let city = if rng.gen_bool(0.85) {
                offices[rng.gen_range(0..offices.len())]
            } else {
                rng.gen_range(0..HOME_CITIES as u16)
            };
            self.add_user(rng, status, created, city);
        }
    }

    /// Creates a user with `status`, created at `created`, with factors and app links.
    pub(crate) fn add_user(
        &mut self,
        rng: &mut StdRng,
        status: UserStatus,
        created: i64,
        city: u16,
    ) -> usize {
        let first = FIRST_NAMES[rng.gen_range(0..FIRST_NAMES.len())];
        let last = LAST_NAMES[rng.gen_range(0..LAST_NAMES.len())];
        let login = self.unique_login(first, last);
        let mut id = self.new_id(rng, "00u");
        while self.user_index.contains_key(&id) {
            id = self.new_id(rng, "00u");
        }
        let now = self.now_ms;
        let span = |rng: &mut StdRng, from: i64, to: i64| -> i64 {
            if to > from {
                rng.gen_range(from..=to)
            } else {
                from
            }
        };
        let activated_at = created + rng.gen_range(1_000..600_000);
        let (activated, status_changed, last_login, password_changed) = match status {
            UserStatus::Staged => (None, None, None, rng.gen_bool(0.5).then_some(created)),
            UserStatus::Provisioned => (Some(activated_at), Some(activated_at), None, None),
            UserStatus::Active => {
                // Imported users show `activated: null`, as in real orgs.
                let activated = rng.gen_bool(0.9).then_some(activated_at);
                let login = rng
                    .gen_bool(0.93)
                    .then(|| span(rng, now - 30 * DAY_MS, now - HISTORY_MS).max(activated_at));
                let pw = span(rng, activated_at, now - DAY_MS);
                (activated, Some(activated_at), login, Some(pw))
            }
            _ => {
                let changed = span(rng, (now - 120 * DAY_MS).max(activated_at), now - DAY_MS);
                let login = rng.gen_bool(0.8).then(|| span(rng, activated_at, changed));
                let pw = span(rng, activated_at, changed);
                (Some(activated_at), Some(changed), login, Some(pw))
            }
        };
        let last_updated = [Some(created), activated, status_changed, password_changed]
            .into_iter()
            .flatten()
            .max()
            .unwrap_or(created);
        let provider = if rng.gen_bool(0.1) {
            CredentialProvider::ActiveDirectory
        } else {
            CredentialProvider::Okta
        };
        let mobile_phone = rng.gen_bool(0.4).then(|| {
            format!(
                "+1-555-{:03}-{:04}",
                rng.gen_range(200..999),
                rng.gen_range(0..10_000)
            )
        });
        const TITLES: [&str; 8] = [
            "Engineer",
            "Account Executive",
            "Analyst",
            "Manager",
            "Designer",
            "Support Specialist",
            "Director",
            "Accountant",
        ];
        const DEPARTMENTS: [&str; 6] = [
            "Engineering",
            "Sales",
            "Finance",
            "Support",
            "Marketing",
            "Operations",
        ];
        let mut user = User {
            id: id.clone(),
            status,
            created_ms: created,
            activated_ms: activated,
            status_changed_ms: status_changed,
            last_login_ms: last_login,
            last_updated_ms: last_updated,
            password_changed_ms: password_changed,
            first_name: first.to_string(),
            last_name: last.to_string(),
            login,
            mobile_phone,
            title: rng
                .gen_bool(0.7)
                .then(|| TITLES[rng.gen_range(0..TITLES.len())]),
            department: rng
                .gen_bool(0.7)
                .then(|| DEPARTMENTS[rng.gen_range(0..DEPARTMENTS.len())]),
            recovery_question: rng
                .gen_bool(0.3)
                .then(|| rng.gen_range(0..QUESTIONS.len()) as u8),
            provider,
            home_city: city,
            agent: rng.gen_range(0..crate::catalog::AGENTS.len() as u8),
            factors: Vec::new(),
            app_links: Vec::new(),
        };
        self.gen_factors(rng, &mut user);
        self.gen_app_links(rng, &mut user);
        let index = self.users.len();
        self.user_index.insert(id, index);
        self.users.push(user);
        index
    }

    fn unique_login(&mut self, first: &str, last: &str) -> String {
        let clean = |s: &str| -> String {
            s.chars()
                .filter_map(|c| match c {
                    'ü' => Some('u'),
                    'ö' => Some('o'),
                    'ä' => Some('a'),
                    c if c.is_ascii_alphanumeric() => Some(c.to_ascii_lowercase()),
                    _ => None,
                })
                .collect()
        };
        let base = format!("{}.{}", clean(first), clean(last));
        let mut login = format!("{base}@{}", self.domain);
        let mut n = 2;
        while self.logins.contains(&login) {
            login = format!("{base}{n}@{}", self.domain);
            n += 1;
        }
        self.logins.insert(login.clone());
        login
    }

    /// A factor of `factor_type` created in `[from, to]`.
    pub(crate) fn make_factor(
        &self,
        rng: &mut StdRng,
        factor_type: FactorType,
        status: FactorStatus,
        from: i64,
        to: i64,
    ) -> Factor {
        let provider = match factor_type {
            FactorType::Webauthn | FactorType::U2f => FactorProvider::Fido,
            FactorType::SoftwareTotp if rng.gen_bool(0.45) => FactorProvider::Google,
            FactorType::HardwareToken => FactorProvider::Yubico,
            FactorType::Token if rng.gen_bool(0.6) => FactorProvider::Rsa,
            FactorType::Token => FactorProvider::Symantec,
            _ => FactorProvider::Okta,
        };
        let created = if to > from {
            rng.gen_range(from..=to)
        } else {
            from
        };
        let updated = if to > created {
            rng.gen_range(created..=to)
        } else {
            created
        };
        Factor {
            id: self.new_id(rng, factor_type.id_prefix()),
            factor_type,
            provider,
            status,
            created_ms: created,
            last_updated_ms: updated,
            variant: rng.gen(),
        }
    }

    /// A random everyday MFA factor type (not phishing resistant).
    pub(crate) fn everyday_factor_type(rng: &mut StdRng) -> FactorType {
        const CHOICES: [(FactorType, u32); 9] = [
            (FactorType::Push, 44),
            (FactorType::SignedNonce, 10),
            (FactorType::SoftwareTotp, 17),
            (FactorType::Sms, 14),
            (FactorType::Call, 2),
            (FactorType::Email, 6),
            (FactorType::HardwareToken, 3),
            (FactorType::Token, 2),
            (FactorType::Question, 2),
        ];
        let total: u32 = CHOICES.iter().map(|c| c.1).sum();
        let mut r = rng.gen_range(0..total);
        for (t, w) in CHOICES {
            if r < w {
                // A question is never an MFA factor: fall back to push.
                return if t == FactorType::Question {
                    FactorType::Push
                } else {
                    t
                };
            }
            r -= w;
        }
        FactorType::Push
    }

    fn gen_factors(&self, rng: &mut StdRng, user: &mut User) {
        let from = user.activated_ms.unwrap_or(user.created_ms);
        let to = user.status_changed_ms.unwrap_or(self.now_ms).max(from);
        let to = if user.status == UserStatus::Active {
            self.now_ms - HISTORY_MS
        } else {
            to
        };
        let to = to.max(from);
        let mut factors = Vec::new();
        match user.status {
            UserStatus::Staged => {}
            UserStatus::Provisioned => {
                if rng.gen_bool(0.3) {
                    factors.push(self.make_factor(
                        rng,
                        FactorType::Email,
                        FactorStatus::PendingActivation,
                        from,
                        to,
                    ));
                }
            }
            UserStatus::Deprovisioned => {
                if rng.gen_bool(0.3) {
                    let t = Self::everyday_factor_type(rng);
                    factors.push(self.make_factor(rng, t, FactorStatus::Inactive, from, to));
                }
            }
            _ => {
                if rng.gen_bool(self.profile.enroll_rate) {
                    let t = Self::everyday_factor_type(rng);
                    factors.push(self.make_factor(rng, t, FactorStatus::Active, from, to));
                    if rng.gen_bool(self.profile.phish_rate) {
                        let t = if rng.gen_bool(0.75) {
                            FactorType::Webauthn
                        } else {
                            FactorType::U2f
                        };
                        factors.push(self.make_factor(rng, t, FactorStatus::Active, from, to));
                    } else if rng.gen_bool(0.06) {
                        // Looks phishing resistant but is not usable.
                        let status = if rng.gen_bool(0.5) {
                            FactorStatus::Inactive
                        } else {
                            FactorStatus::PendingActivation
                        };
                        let t = if rng.gen_bool(0.7) {
                            FactorType::Webauthn
                        } else {
                            FactorType::U2f
                        };
                        factors.push(self.make_factor(rng, t, status, from, to));
                    }
                    if rng.gen_bool(0.3) {
                        let t = if rng.gen_bool(0.5) {
                            FactorType::Sms
                        } else {
                            FactorType::Email
                        };
                        factors.push(self.make_factor(rng, t, FactorStatus::Active, from, to));
                    }
                    if rng.gen_bool(0.05) {
                        let t = Self::everyday_factor_type(rng);
                        factors.push(self.make_factor(rng, t, FactorStatus::Expired, from, to));
                    }
                } else {
                    // Not enrolled: nothing, only a question, or factors that are not ACTIVE.
                    let r: f64 = rng.gen();
                    let pending = |rng: &mut StdRng, t, s| self.make_factor(rng, t, s, from, to);
                    if r < 0.45 {
                    } else if r < 0.62 {
                        factors.push(pending(rng, FactorType::Question, FactorStatus::Active));
                    } else if r < 0.75 {
                        let t = if rng.gen_bool(0.5) {
                            FactorType::Sms
                        } else {
                            FactorType::SoftwareTotp
                        };
                        factors.push(pending(rng, t, FactorStatus::PendingActivation));
                    } else if r < 0.82 {
                        factors.push(pending(rng, FactorType::Push, FactorStatus::NotSetup));
                    } else if r < 0.89 {
                        let t = if rng.gen_bool(0.5) {
                            FactorType::Token
                        } else {
                            FactorType::Sms
                        };
                        factors.push(pending(rng, t, FactorStatus::Expired));
                    } else if r < 0.95 {
                        factors.push(pending(rng, FactorType::Push, FactorStatus::Inactive));
                        factors.push(pending(rng, FactorType::Question, FactorStatus::Active));
                    } else {
                        factors.push(pending(rng, FactorType::Webauthn, FactorStatus::Inactive));
                    }
                }
                if rng.gen_bool(0.12)
                    && !factors
                        .iter()
                        .any(|f| f.factor_type == FactorType::Question)
                {
                    factors.push(self.make_factor(
                        rng,
                        FactorType::Question,
                        FactorStatus::Active,
                        from,
                        to,
                    ));
                }
            }
        }
        factors.sort_by_key(|f| f.created_ms);
        user.factors = factors;
    }

    /// Dashboard links for `user` over `count` random active apps (Okta's own apps excluded).
    pub(crate) fn assign_apps(&self, rng: &mut StdRng, user: &mut User, count: usize) {
        let mut candidates: Vec<u16> = (3..self.apps.len() as u16)
            .filter(|&a| self.apps[a as usize].active)
            .collect();
        candidates.shuffle(rng);
        let mut order = user.app_links.len() as u16;
        for app in candidates.into_iter().take(count) {
            if user.app_links.iter().any(|l| l.app == app) {
                continue;
            }
            let template = &APP_TEMPLATES[self.apps[app as usize].template as usize];
            let assignment_id = self.new_id(rng, "0ua");
            for link in 0..template.links.len() {
                user.app_links.push(AppLink {
                    app,
                    link: link as u8,
                    assignment_id: assignment_id.clone(),
                    sort_order: order,
                    hidden: rng.gen_bool(0.03),
                    credentials_setup: template.sign_on_mode == "BROWSER_PLUGIN",
                    direct: true,
                });
                order += 1;
            }
        }
    }

    fn gen_app_links(&self, rng: &mut StdRng, user: &mut User) {
        let count = match user.status {
            UserStatus::Active
            | UserStatus::LockedOut
            | UserStatus::PasswordExpired
            | UserStatus::Recovery => {
                if rng.gen_bool(0.94) {
                    rng.gen_range(1..=5)
                } else {
                    0
                }
            }
            // Suspended users keep their assignments unless someone removed them.
            UserStatus::Suspended => {
                if rng.gen_bool(0.55) {
                    rng.gen_range(1..=4)
                } else {
                    0
                }
            }
            UserStatus::Provisioned => usize::from(rng.gen_bool(0.4)) * rng.gen_range(1..=2),
            UserStatus::Staged | UserStatus::Deprovisioned => 0,
        };
        self.assign_apps(rng, user, count);
    }

    fn gen_admins(&mut self, rng: &mut StdRng) {
        let active: Vec<u32> = self
            .users
            .iter()
            .enumerate()
            .filter(|(_, u)| u.status == UserStatus::Active)
            .map(|(i, _)| i as u32)
            .collect();
        if active.is_empty() {
            return;
        }
        let count = (self.users.len() / 250).clamp(2, 40).min(active.len());
        let chosen: Vec<u32> = active.choose_multiple(rng, count).copied().collect();
        for (i, user) in chosen.into_iter().enumerate() {
            let role = match i {
                0 => AdminRole::SuperAdmin,
                _ => *[
                    AdminRole::OrgAdmin,
                    AdminRole::AppAdmin,
                    AdminRole::HelpDeskAdmin,
                    AdminRole::ReadOnlyAdmin,
                    AdminRole::SuperAdmin,
                ]
                .choose(rng)
                .expect("non-empty role list"),
            };
            let assigned = self.users[user as usize].created_ms + rng.gen_range(0..30) * DAY_MS;
            let admin = Admin {
                user,
                role,
                role_assignment_id: self.new_id(rng, "ra1"),
                assigned_ms: assigned.min(self.now_ms - DAY_MS),
                scope: crate::graph::RoleScope::Org,
            };
            self.admins.push(admin);
            // Admins see the admin console on their dashboard.
            let assignment_id = self.new_id(rng, "0ua");
            let u = &mut self.users[user as usize];
            let order = u.app_links.len() as u16;
            u.app_links.push(AppLink {
                app: 0,
                link: 0,
                assignment_id,
                sort_order: order,
                hidden: false,
                credentials_setup: false,
                direct: true,
            });
        }
    }

    fn gen_api_tokens(&mut self, rng: &mut StdRng) {
        if self.admins.is_empty() {
            return;
        }
        const NAMES: [&str; 5] = [
            "SIEM export",
            "Terraform",
            "HR sync",
            "API access token",
            "Okta Workflows",
        ];
        let count = rng.gen_range(1..=4);
        for name in NAMES.iter().take(count) {
            let admin = &self.admins[rng.gen_range(0..self.admins.len())];
            let user_id = self.users[admin.user as usize].id.clone();
            let created = self.now_ms - rng.gen_range(5..400) * DAY_MS;
            let last_used = self.now_ms - rng.gen_range(0..5 * DAY_MS);
            let token = ApiToken {
                id: self.new_id(rng, "00T"),
                name: (*name).to_string(),
                user_id,
                token_window: "P30D",
                network_anywhere: rng.gen_bool(0.8),
                network_zones: Vec::new(),
                created_ms: created,
                last_updated_ms: last_used.max(created),
                expires_ms: last_used.max(created) + 30 * DAY_MS,
                revoked_ms: None,
            };
            self.api_tokens.push(token);
        }
    }

    #[allow(clippy::too_many_arguments)] // one argument per rule property
    fn rule(
        &self,
        rng: &mut StdRng,
        name: &str,
        created: i64,
        priority: u32,
        status: ActiveStatus,
        access: RuleAccess,
        verification: Verification,
        conditions: RuleConditions,
    ) -> PolicyRule {
        PolicyRule {
            id: self.new_id(rng, "rul"),
            name: name.to_string(),
            status,
            priority,
            system: false,
            created_ms: created,
            last_updated_ms: created + rng.gen_range(0..50) * DAY_MS,
            access,
            verification,
            conditions,
            keep_me_signed_in: KeepMeSignedIn::NotAllowed,
            unknown_field: false,
        }
    }

    fn catch_all(&self, rng: &mut StdRng, created: i64, verification: Verification) -> PolicyRule {
        let mut rule = self.rule(
            rng,
            "Catch-all Rule",
            created,
            99,
            ActiveStatus::Active,
            RuleAccess::Allow,
            verification,
            RuleConditions::Null,
        );
        rule.system = true;
        rule.last_updated_ms = created;
        rule
    }

    fn gen_policies(&mut self, rng: &mut StdRng, founded: i64) {
        use Constraints as C;
        let assurance = |mode, reauth, constraints| Verification::Assurance {
            factor_mode: mode,
            reauthenticate: reauth,
            constraints,
            inactivity_period: false,
        };
        let two = FactorMode::TwoFactor;
        let one = FactorMode::OneFactor;
        let created = founded + DAY_MS;
        let mut policies = Vec::new();
        let mut policy = |org: &Org,
                          rng: &mut StdRng,
                          name: &str,
                          description: Option<&str>,
                          status: ActiveStatus,
                          system: bool,
                          rules: Vec<PolicyRule>| {
            policies.push(Policy {
                id: org.new_id(rng, "rst"),
                name: name.to_string(),
                description: description.map(str::to_string),
                status,
                system,
                created_ms: created,
                last_updated_ms: created + rng.gen_range(0..300) * DAY_MS,
                rules,
            });
        };
        let active = ActiveStatus::Active;
        let inactive = ActiveStatus::Inactive;
        let allow = RuleAccess::Allow;

        // Okta Admin Console: strong rules.
        let mut admin_rule = self.rule(
            rng,
            "Admins need phishing-resistant MFA",
            created,
            0,
            active,
            allow,
            assurance(two, 1, C::PhishingResistant),
            RuleConditions::Basic { risk_score: true },
        );
        admin_rule.keep_me_signed_in = KeepMeSignedIn::Missing;
        let rules = vec![
            admin_rule,
            self.catch_all(rng, created, assurance(two, 0, C::Missing)),
        ];
        policy(self, rng, "Okta Admin Console", None, active, false, rules);

        // Okta Dashboard: the catch-all is sometimes one factor (the spec example's shape).
        let dashboard_mode = if rng.gen_bool(0.5) { one } else { two };
        let rules = vec![self.catch_all(rng, created, assurance(dashboard_mode, 0, C::EmptyList))];
        policy(self, rng, "Okta Dashboard", None, active, false, rules);

        // Any two factors (system policy).
        let rules = vec![self.catch_all(rng, created, assurance(two, 0, C::Missing))];
        policy(
            self,
            rng,
            "Any two factors",
            Some("Require two factors to access."),
            active,
            true,
            rules,
        );

        // Classic Migrated: a one-factor exception, an auth-method chain, an inactive 1FA rule.
        let vpn_status = if rng.gen_bool(0.8) { active } else { inactive };
        let mut vpn = self.rule(
            rng,
            "Legacy VPN (password only)",
            created,
            0,
            vpn_status,
            allow,
            assurance(one, 0, C::Missing),
            RuleConditions::Basic { risk_score: false },
        );
        vpn.unknown_field = true;
        let chain = self.rule(
            rng,
            "Contractors chain",
            created,
            1,
            active,
            allow,
            Verification::AuthMethodChain,
            RuleConditions::Basic { risk_score: true },
        );
        let kiosk = self.rule(
            rng,
            "Kiosk (disabled)",
            created,
            2,
            inactive,
            allow,
            assurance(one, 0, C::Missing),
            RuleConditions::Basic { risk_score: true },
        );
        let mut catch_all = self.catch_all(
            rng,
            created,
            Verification::Assurance {
                factor_mode: two,
                reauthenticate: 0,
                constraints: C::EmptyObjectList,
                inactivity_period: true,
            },
        );
        catch_all.system = false;
        catch_all.priority = 5;
        policy(
            self,
            rng,
            "Classic Migrated",
            Some("Policy created during OIE upgrade and applied to all applications that were protected by the default app-sign on policy in Classic."),
            active,
            false,
            vec![vpn, chain, kiosk, catch_all],
        );

        // Seamless access: a device rule that is 1FA, a deny rule showing 2FA.
        let device = self.rule(
            rng,
            "Managed devices, phishing-resistant",
            created,
            0,
            active,
            allow,
            assurance(one, 2, C::PhishingResistant),
            RuleConditions::Device,
        );
        let deny = self.rule(
            rng,
            "Block high risk",
            created,
            1,
            active,
            RuleAccess::Deny,
            assurance(two, 0, C::Missing),
            RuleConditions::Basic { risk_score: true },
        );
        let rules = vec![
            device,
            deny,
            self.catch_all(rng, created, assurance(two, 0, C::DeviceBound)),
        ];
        policy(
            self,
            rng,
            "Seamless access based on risk context",
            Some("Allow seamless log in with Okta FastPass for low risk authentication scenarios with enhanced security for medium and high risk."),
            active,
            false,
            rules,
        );

        // An inactive policy whose rules would be exceptions if it were active.
        let old = self.rule(
            rng,
            "Password only",
            created,
            0,
            active,
            allow,
            assurance(one, 0, C::EmptyList),
            RuleConditions::Basic { risk_score: false },
        );
        let bare = self.rule(
            rng,
            "No verification",
            created,
            1,
            active,
            allow,
            Verification::Absent,
            RuleConditions::Basic { risk_score: false },
        );
        policy(
            self,
            rng,
            "Deprecated VPN policy",
            Some("Replaced by Classic Migrated"),
            inactive,
            false,
            vec![old, bare],
        );

        // Per-app policies with a seed-dependent mix of rules.
        let app_policies = rng.gen_range(2..=5).min(self.apps.len().saturating_sub(3));
        for p in 0..app_policies {
            let label = self.apps[3 + p].label.clone();
            let mut rules = Vec::new();
            for r in 0..rng.gen_range(1..=4u32) {
                let roll: f64 = rng.gen();
                let (access, verification, name) = if roll < 0.16 {
                    (
                        allow,
                        assurance(one, rng.gen_range(0..5), C::EmptyList),
                        "Trusted network, one factor",
                    )
                } else if roll < 0.22 {
                    (allow, Verification::Absent, "Allow without verification")
                } else if roll < 0.27 {
                    (allow, Verification::Null, "Legacy allow")
                } else if roll < 0.32 {
                    (RuleAccess::Deny, Verification::Absent, "Deny untrusted")
                } else if roll < 0.44 {
                    (
                        allow,
                        Verification::AuthMethodChain,
                        "Password then OTP or WebAuthn",
                    )
                } else {
                    let constraints = *[
                        C::Missing,
                        C::EmptyList,
                        C::EmptyObjectList,
                        C::DeviceBound,
                        C::KnowledgeAndPossession,
                        C::PhishingResistant,
                    ]
                    .choose(rng)
                    .expect("non-empty");
                    (
                        allow,
                        assurance(two, rng.gen_range(0..5), constraints),
                        "Require MFA",
                    )
                };
                let status = if rng.gen_bool(0.15) { inactive } else { active };
                let conditions = *[
                    RuleConditions::Basic { risk_score: true },
                    RuleConditions::Basic { risk_score: false },
                    RuleConditions::GroupsAndZone,
                    RuleConditions::Device,
                ]
                .choose(rng)
                .expect("non-empty");
                let mut rule = self.rule(
                    rng,
                    &format!("{name} ({})", r + 1),
                    created,
                    r,
                    status,
                    access,
                    verification,
                    conditions,
                );
                rule.unknown_field = rng.gen_bool(0.2);
                rule.keep_me_signed_in = *[
                    KeepMeSignedIn::NotAllowed,
                    KeepMeSignedIn::Allowed,
                    KeepMeSignedIn::Missing,
                ]
                .choose(rng)
                .expect("non-empty");
                rules.push(rule);
            }
            let mode = if rng.gen_bool(0.2) { one } else { two };
            rules.push(self.catch_all(rng, created, assurance(mode, 0, C::Missing)));
            let status = if rng.gen_bool(0.9) { active } else { inactive };
            policy(
                self,
                rng,
                &format!("{label} access policy"),
                None,
                status,
                false,
                rules,
            );
        }
        self.policies = policies;
    }

    /// A bare event of `kind` at `t` for `user`, from the user's home city.
    #[allow(clippy::too_many_arguments)] // the event's essential fields
    pub(crate) fn event(
        &mut self,
        rng: &mut StdRng,
        kind: EventKind,
        t: i64,
        actor: Actor,
        target: Target,
        result: OutcomeResult,
        session: u64,
    ) -> LogEvent {
        let (city, agent, ip_host) = match actor {
            Actor::User(u) => {
                let user = &self.users[u as usize];
                let ip = (mix64(u as u64 ^ self.seed) & 0xffff) as u16;
                (user.home_city, user.agent, ip)
            }
            Actor::System => (0, 0, 1),
        };
        LogEvent {
            uuid: self.new_uuid(rng),
            published_ms: t,
            kind,
            actor,
            target,
            result,
            reason: None,
            session,
            city,
            agent,
            ip_host,
            factor: None,
            behaviors: Vec::new(),
            risk_high: false,
        }
    }

    /// Ordinary behaviour sets: velocity NEGATIVE, sometimes no velocity key at all.
    fn ordinary_behaviors(&self, rng: &mut StdRng) -> [Option<BehaviorSet>; 2] {
        let velocity = self.profile.velocity_name;
        let all = [
            bhv::GEO,
            bhv::DEVICE,
            bhv::IP,
            bhv::STATE,
            bhv::COUNTRY,
            velocity,
            bhv::CITY,
        ]
        .iter()
        .fold(0u16, |m, &b| m | behavior_bit(b));
        let mut positive = 0u16;
        if rng.gen_bool(0.1) {
            positive |= behavior_bit(bhv::DEVICE);
        }
        if rng.gen_bool(0.2) {
            positive |= behavior_bit(bhv::IP);
        }
        let roll: f64 = rng.gen();
        let set = |placement, present, positive| {
            Some(BehaviorSet {
                placement,
                present,
                positive,
            })
        };
        if roll < 0.40 {
            [set(BehaviorPlacement::DebugBehaviors, all, positive), None]
        } else if roll < 0.50 {
            [
                set(BehaviorPlacement::LogOnlySecurityData, all, positive),
                None,
            ]
        } else if roll < 0.55 {
            // The spec's shape: no velocity behaviour at all.
            let present = behavior_bit(bhv::DEVICE) | behavior_bit(bhv::GEO);
            [
                set(
                    BehaviorPlacement::UserBehaviorsArray,
                    present,
                    positive & present,
                ),
                None,
            ]
        } else if roll < 0.60 {
            let present =
                behavior_bit(bhv::GEO) | behavior_bit(bhv::DEVICE) | behavior_bit(bhv::IP);
            let positive = positive | behavior_bit(bhv::GEO);
            [
                set(
                    BehaviorPlacement::DebugBehaviors,
                    present,
                    positive & present,
                ),
                None,
            ]
        } else if roll < 0.62 {
            let present = all | behavior_bit(bhv::RISK_IP);
            [
                set(
                    BehaviorPlacement::DebugBehaviors,
                    present,
                    positive | behavior_bit(bhv::RISK_IP),
                ),
                set(BehaviorPlacement::UserBehaviorsString, all, positive),
            ]
        } else if roll < 0.64 {
            [
                set(BehaviorPlacement::UserBehaviorsObject, all, positive),
                None,
            ]
        } else {
            [None, None]
        }
    }

    /// Behaviour sets that mark velocity POSITIVE, in one or two of the places Okta uses.
    pub(crate) fn velocity_behaviors(&self, rng: &mut StdRng) -> [Option<BehaviorSet>; 2] {
        let velocity = if rng.gen_bool(0.8) {
            self.profile.velocity_name
        } else if self.profile.velocity_name == bhv::VELOCITY {
            bhv::VELOCITY_BEHAVIOR
        } else {
            bhv::VELOCITY
        };
        let present = [
            bhv::GEO,
            bhv::DEVICE,
            bhv::IP,
            bhv::STATE,
            bhv::COUNTRY,
            velocity,
            bhv::CITY,
        ]
        .iter()
        .fold(0u16, |m, &b| m | behavior_bit(b));
        let positive = behavior_bit(velocity)
            | behavior_bit(bhv::GEO)
            | behavior_bit(bhv::COUNTRY)
            | behavior_bit(bhv::CITY)
            | behavior_bit(bhv::IP)
            | behavior_bit(bhv::STATE);
        let set = |placement| {
            Some(BehaviorSet {
                placement,
                present,
                positive,
            })
        };
        match rng.gen_range(0..8) {
            0 | 1 => [set(BehaviorPlacement::DebugBehaviors), None],
            2 | 3 => [set(BehaviorPlacement::LogOnlySecurityData), None],
            4 => [set(BehaviorPlacement::UserBehaviorsString), None],
            5 => [set(BehaviorPlacement::UserBehaviorsArray), None],
            6 => [set(BehaviorPlacement::UserBehaviorsObject), None],
            // Marked in two places: still one event.
            _ => [
                set(BehaviorPlacement::DebugBehaviors),
                set(BehaviorPlacement::LogOnlySecurityData),
            ],
        }
    }

    /// One sign-in by `user` at `t`: start, policy evaluation, MFA, single sign-ons and
    /// maybe a sign-out. Events after `to` are dropped.
    pub(crate) fn sign_in(
        &mut self,
        rng: &mut StdRng,
        user: u32,
        t: i64,
        to: i64,
        opts: SignIn,
        out: &mut Vec<LogEvent>,
    ) {
        let session = self.new_session(false);
        let actor = Actor::User(user);
        let city = opts.city.unwrap_or(self.users[user as usize].home_city);
        let push = |e: LogEvent, out: &mut Vec<LogEvent>| {
            if e.published_ms <= to {
                out.push(e);
            }
        };
        let mut start = self.event(
            rng,
            EventKind::SessionStart,
            t,
            actor,
            Target::SignIn,
            OutcomeResult::Success,
            session,
        );
        start.city = city;
        if opts.city.is_some() {
            start.ip_host = rng.gen();
        }
        start.risk_high = opts.risk_high;
        let behaviors = opts
            .behaviors
            .unwrap_or_else(|| self.ordinary_behaviors(rng));
        start.behaviors = behaviors.iter().flatten().copied().collect();
        if opts.bad_password {
            start.result = OutcomeResult::Failure;
            start.reason = Some("INVALID_CREDENTIALS");
            let mut mfa = start.clone();
            mfa.uuid = self.new_uuid(rng);
            mfa.published_ms = t - rng.gen_range(50..400);
            mfa.kind = EventKind::AuthViaMfa;
            mfa.target = Target::User(user);
            mfa.factor = Some(MfaFactor::PasswordAsFactor);
            mfa.behaviors = Vec::new();
            push(mfa, out);
            push(start, out);
            return;
        }
        let ip_host = start.ip_host;
        push(start, out);

        let eval_at = t + rng.gen_range(5..80);
        let mut eval = self.event(
            rng,
            EventKind::PolicyEvaluateSignOn,
            eval_at,
            actor,
            Target::SignOnPolicy,
            OutcomeResult::Allow,
            session,
        );
        eval.city = city;
        eval.ip_host = ip_host;
        let mfa_factor = {
            let u = &self.users[user as usize];
            let usable: Vec<MfaFactor> = u
                .factors
                .iter()
                .filter(|f| f.counts_as_mfa())
                .map(Factor::log_name)
                .collect();
            usable.choose(rng).copied()
        };
        if mfa_factor.is_some() && rng.gen_bool(0.5) {
            eval.result = OutcomeResult::Challenge;
            eval.reason = Some("Sign-on policy evaluation resulted in CHALLENGE");
        } else {
            eval.reason = Some("Sign-on policy evaluation resulted in AUTHENTICATED");
        }
        push(eval, out);

        let mut last = t + 100;
        if let Some(factor) = mfa_factor {
            last = t + rng.gen_range(2_000..25_000);
            let mut mfa = self.event(
                rng,
                EventKind::AuthViaMfa,
                last,
                actor,
                Target::User(user),
                OutcomeResult::Success,
                session,
            );
            mfa.city = city;
            mfa.ip_host = ip_host;
            mfa.factor = Some(factor);
            push(mfa, out);
        }
        let links: Vec<u16> = self.users[user as usize]
            .app_links
            .iter()
            .map(|l| l.app)
            .collect();
        if !links.is_empty() {
            for _ in 0..rng.gen_range(0..=2) {
                last += rng.gen_range(1_000..900_000);
                let app = links[rng.gen_range(0..links.len())];
                let mut sso = self.event(
                    rng,
                    EventKind::AuthenticationSso,
                    last,
                    actor,
                    Target::AppSso { user, app },
                    OutcomeResult::Success,
                    session,
                );
                sso.city = city;
                sso.ip_host = ip_host;
                push(sso, out);
            }
        }
        if rng.gen_bool(0.3) {
            // An ordinary sign-out, sometimes after a long day (not an admin session).
            let end_at = last + rng.gen_range(10 * MINUTE_MS..11 * HOUR_MS);
            let mut end = self.event(
                rng,
                EventKind::SessionEnd,
                end_at,
                actor,
                Target::None,
                OutcomeResult::Success,
                session,
            );
            end.city = city;
            end.ip_host = ip_host;
            push(end, out);
        }
    }

    /// An admin-console session by admin `user` starting at `start`, ending at `end`
    /// (or left open when `end` is `None` or after `to`).
    pub(crate) fn admin_session(
        &mut self,
        rng: &mut StdRng,
        user: u32,
        start: i64,
        end: Option<i64>,
        to: i64,
        out: &mut Vec<LogEvent>,
    ) {
        // Sign in to Okta first; the admin console usually gets its own session id.
        let sign_in_at = start - rng.gen_range(20_000..300_000);
        self.sign_in(rng, user, sign_in_at, to, SignIn::default(), out);
        let session = if rng.gen_bool(0.75) {
            self.new_session(true)
        } else {
            self.new_session(false)
        };
        let access = self.event(
            rng,
            EventKind::AccessAdminApp,
            start,
            Actor::User(user),
            Target::AdminAppUser(user),
            OutcomeResult::Success,
            session,
        );
        let city = access.city;
        if start <= to {
            out.push(access);
        }
        match end {
            Some(end) if end <= to => {
                let mut e = self.event(
                    rng,
                    EventKind::SessionEnd,
                    end,
                    Actor::User(user),
                    Target::None,
                    OutcomeResult::Success,
                    session,
                );
                e.city = city;
                out.push(e);
            }
            _ if start <= to => self.open_admin_sessions.push(OpenAdminSession {
                session,
                user,
                start_ms: start,
                city,
            }),
            _ => {}
        }
    }

    /// Admin sessions that cover every case the KRI distinguishes, relative to `now`.
    fn gen_admin_scenarios(&mut self, rng: &mut StdRng, out: &mut Vec<LogEvent>) {
        let admins: Vec<u32> = self
            .admins
            .iter()
            .map(|a| a.user)
            .filter(|&u| self.users[u as usize].status == UserStatus::Active)
            .collect();
        if admins.is_empty() {
            return;
        }
        let now = self.now_ms;
        let pick = |i: usize| admins[i % admins.len()];
        let jitter = |rng: &mut StdRng| rng.gen_range(0..40 * MINUTE_MS);
        // Long, entirely inside the last 24 h: counts.
        let (s, j) = (now - 20 * HOUR_MS + jitter(rng), jitter(rng));
        self.admin_session(rng, pick(0), s, Some(s + 9 * HOUR_MS + j), now, out);
        // Started more than 24 h ago, ended inside the window, long: counts.
        let (s, j) = (now - 31 * HOUR_MS + jitter(rng), jitter(rng));
        self.admin_session(rng, pick(1), s, Some(s + 12 * HOUR_MS + j), now, out);
        // Long but ended before the window: does not count.
        let (s, j) = (now - 52 * HOUR_MS + jitter(rng), jitter(rng));
        self.admin_session(rng, pick(2), s, Some(s + 10 * HOUR_MS + j), now, out);
        // Short, inside the window: does not count.
        let (s, j) = (now - 10 * HOUR_MS + jitter(rng), jitter(rng));
        self.admin_session(rng, pick(3), s, Some(s + 2 * HOUR_MS + j), now, out);
        // Still open after more than 8 h: not counted, only reported.
        let s = now - 14 * HOUR_MS + jitter(rng);
        self.admin_session(rng, pick(4), s, None, now, out);
    }

    /// Impossible travel, push denials and their look-alikes with `published` in `(from, to]`.
    fn gen_incidents(
        &mut self,
        rng: &mut StdRng,
        from: i64,
        to: i64,
        active: &[u32],
        out: &mut Vec<LogEvent>,
    ) {
        let days = (to - from) as f64 / DAY_MS as f64;
        let time_in = |rng: &mut StdRng, lo: i64, hi: i64| -> i64 {
            // Strictly inside (lo, hi): nothing lands exactly on the data clock, where an
            // exclusive `until=now` and the inclusive KRI window would disagree.
            if hi > lo + 1 {
                rng.gen_range(lo + 1..hi)
            } else {
                hi
            }
        };
        let floor = if active.len() < 20 {
            0.0
        } else if days >= 1.0 {
            1.0
        } else {
            f64::from(u8::from(rng.gen_bool(days.clamp(0.0, 1.0))))
        };
        // Impossible travel: a home sign-in, then one from far away soon after.
        let travels = (self.profile.travel_rate * active.len() as f64 * days)
            .round()
            .max(floor);
        for _ in 0..travels as usize {
            let u = active[rng.gen_range(0..active.len())];
            let t1 = time_in(rng, from, (to - 2 * HOUR_MS).max(from));
            self.sign_in(rng, u, t1, to, SignIn::default(), out);
            let far = rng.gen_range(HOME_CITIES..crate::catalog::CITIES.len()) as u16;
            let t2 = (t1 + rng.gen_range(15 * MINUTE_MS..110 * MINUTE_MS)).min(to);
            let opts = SignIn {
                city: Some(far),
                behaviors: Some(self.velocity_behaviors(rng)),
                bad_password: false,
                risk_high: true,
            };
            self.sign_in(rng, u, t2, to, opts, out);
        }
        // Look-alikes: a new country without velocity, velocity NEGATIVE on a verify.
        for _ in 0..(travels as usize / 2 + 1) {
            let u = active[rng.gen_range(0..active.len())];
            let t = time_in(rng, from, to);
            let session = self.new_session(false);
            let mut e = self.event(
                rng,
                EventKind::AuthenticationVerify,
                t,
                Actor::User(u),
                Target::User(u),
                OutcomeResult::Success,
                session,
            );
            let velocity = self.profile.velocity_name;
            let present = [
                bhv::GEO,
                bhv::DEVICE,
                bhv::IP,
                bhv::COUNTRY,
                velocity,
                bhv::CITY,
            ]
            .iter()
            .fold(0u16, |m, &b| m | behavior_bit(b));
            e.behaviors = vec![BehaviorSet {
                placement: BehaviorPlacement::DebugBehaviors,
                present,
                positive: behavior_bit(bhv::COUNTRY)
                    | behavior_bit(bhv::GEO)
                    | behavior_bit(bhv::DEVICE),
            }];
            out.push(e);
        }

        // Okta Verify push denials, Classic and Identity Engine style, with look-alikes.
        let denials = (self.profile.push_deny_rate * active.len() as f64 * days)
            .round()
            .max(floor);
        for _ in 0..denials as usize {
            let u = active[rng.gen_range(0..active.len())];
            let t = time_in(rng, from, to);
            let session = self.new_session(false);
            let oie = rng.gen_bool(self.profile.oie_share);
            let kind = if oie {
                EventKind::AuthViaMfa
            } else {
                EventKind::OktaVerifyDenyPush
            };
            let mut e = self.event(
                rng,
                kind,
                t,
                Actor::User(u),
                Target::UserFactor(u, MfaFactor::OktaVerifyPush),
                OutcomeResult::Failure,
                session,
            );
            e.reason = Some(if oie {
                "INVALID_CREDENTIALS"
            } else {
                "User rejected Okta push verify"
            });
            if oie {
                e.factor = Some(MfaFactor::OktaVerifyPush);
            }
            out.push(e);
        }
        for _ in 0..(denials as usize + 2) {
            let u = active[rng.gen_range(0..active.len())];
            let t = time_in(rng, from, to);
            let session = self.new_session(false);
            let (factor, result, reason) = match rng.gen_range(0..4) {
                0 => (
                    MfaFactor::PasswordAsFactor,
                    OutcomeResult::Failure,
                    "INVALID_CREDENTIALS",
                ),
                1 => (
                    MfaFactor::FidoWebauthn,
                    OutcomeResult::Failure,
                    "VERIFICATION_ERROR",
                ),
                2 => (
                    MfaFactor::SignedNonce,
                    OutcomeResult::Failure,
                    "FastPass declined phishing attempt",
                ),
                _ => (
                    MfaFactor::SmsFactor,
                    OutcomeResult::Failure,
                    "INVALID_CREDENTIALS",
                ),
            };
            let mut e = self.event(
                rng,
                EventKind::AuthViaMfa,
                t,
                Actor::User(u),
                Target::User(u),
                result,
                session,
            );
            e.factor = Some(factor);
            e.reason = Some(reason);
            out.push(e);
        }
    }

    /// Generates the org's everyday activity with `published` in `(from, to]`.
    pub(crate) fn gen_activity(
        &mut self,
        rng: &mut StdRng,
        from: i64,
        to: i64,
        out: &mut Vec<LogEvent>,
    ) {
        if to <= from {
            return;
        }
        let first_new = out.len();
        self.gen_activity_inner(rng, from, to, out);
        // Sequences near the edges may spill outside the period: keep it exact, so the
        // log stays sorted when new periods are appended (and nothing sits exactly on `to`).
        let tail = out.split_off(first_new);
        out.extend(
            tail.into_iter()
                .filter(|e| e.published_ms > from && e.published_ms < to),
        );
    }

    fn gen_activity_inner(
        &mut self,
        rng: &mut StdRng,
        from: i64,
        to: i64,
        out: &mut Vec<LogEvent>,
    ) {
        let days = (to - from) as f64 / DAY_MS as f64;
        let time_in = |rng: &mut StdRng, lo: i64, hi: i64| -> i64 {
            // Strictly inside (lo, hi): nothing lands exactly on the data clock, where an
            // exclusive `until=now` and the inclusive KRI window would disagree.
            if hi > lo + 1 {
                rng.gen_range(lo + 1..hi)
            } else {
                hi
            }
        };
        let active: Vec<u32> = self
            .users
            .iter()
            .enumerate()
            .filter(|(_, u)| u.status == UserStatus::Active)
            .map(|(i, _)| i as u32)
            .collect();
        let count_for = |rng: &mut StdRng, expected: f64| -> usize {
            let base = expected.floor();
            base as usize + usize::from(rng.gen_bool((expected - base).clamp(0.0, 1.0)))
        };

        // Ordinary sign-ins, a few with a wrong password first.
        for &u in &active {
            let spread = rng.gen_range(0.3..1.7);
            let n = count_for(rng, self.profile.signins_per_day * days * spread);
            for _ in 0..n {
                let t = time_in(rng, from, to);
                if rng.gen_bool(0.04) {
                    let opts = SignIn {
                        bad_password: true,
                        ..SignIn::default()
                    };
                    let before = t - rng.gen_range(5_000..60_000);
                    self.sign_in(rng, u, before, to, opts, out);
                }
                self.sign_in(rng, u, t, to, SignIn::default(), out);
            }
        }

        // People who cannot sign in still try.
        let blocked: Vec<(u32, UserStatus)> = self
            .users
            .iter()
            .enumerate()
            .filter(|(_, u)| {
                matches!(
                    u.status,
                    UserStatus::Suspended | UserStatus::LockedOut | UserStatus::PasswordExpired
                )
            })
            .map(|(i, u)| (i as u32, u.status))
            .collect();
        for (u, status) in blocked {
            for _ in 0..count_for(rng, 0.2 * days) {
                let t = time_in(rng, from, to);
                let session = self.new_session(false);
                let mut e = self.event(
                    rng,
                    EventKind::SessionStart,
                    t,
                    Actor::User(u),
                    Target::SignIn,
                    OutcomeResult::Failure,
                    session,
                );
                e.reason = Some(match status {
                    UserStatus::Suspended => "User suspended",
                    UserStatus::LockedOut => "LOCKED_OUT",
                    _ => "PASSWORD_EXPIRED",
                });
                out.push(e);
            }
        }
        if active.is_empty() {
            return;
        }
        // Incidents are drawn day by day (ending at `to`), so every full day of log has
        // some impossible travel and push denials in orgs of 20+ active users.
        let mut hi = to;
        while hi > from {
            let lo = (hi - DAY_MS).max(from);
            self.gen_incidents(rng, lo, hi, &active, out);
            hi = lo;
        }

        // Admin-console sessions: close some that were left open, then start new ones.
        let mut still_open = Vec::new();
        for open in std::mem::take(&mut self.open_admin_sessions) {
            if open.start_ms < to - HISTORY_MS || open.start_ms > from || !rng.gen_bool(0.5) {
                if open.start_ms >= to - HISTORY_MS {
                    still_open.push(open);
                }
                continue;
            }
            let end = time_in(rng, from.max(open.start_ms + 10 * MINUTE_MS), to);
            let mut e = self.event(
                rng,
                EventKind::SessionEnd,
                end,
                Actor::User(open.user),
                Target::None,
                OutcomeResult::Success,
                open.session,
            );
            e.city = open.city;
            out.push(e);
        }
        self.open_admin_sessions = still_open;
        let admins: Vec<u32> = self
            .admins
            .iter()
            .map(|a| a.user)
            .filter(|&u| self.users[u as usize].status == UserStatus::Active)
            .collect();
        for u in admins {
            for _ in 0..count_for(rng, 0.8 * days) {
                let start = time_in(rng, from, to);
                let roll: f64 = rng.gen();
                let end = if roll < 0.5 {
                    Some(start + rng.gen_range(5 * MINUTE_MS..(7 * HOUR_MS + 30 * MINUTE_MS)))
                } else if roll < 0.75 {
                    Some(start + rng.gen_range((8 * HOUR_MS + 30 * MINUTE_MS)..16 * HOUR_MS))
                } else {
                    None
                };
                self.admin_session(rng, u, start, end, to, out);
            }
        }
    }
}
