//! Orgs with more groups and apps than [`Org::generate`] draws (it keeps a handful of
//! each, as small orgs have): the benchmark's 10,000 users in 1,000 groups with 300
//! apps. The extra apps are more instances of the catalogue's apps, each assigned
//! directly to a few users; the extra groups are team groups with a few members, some
//! assigned one of the extra apps (their members then have a link to it, keeping the
//! graph's invariant). Drawn from their own random stream after everything else, so
//! the rest of the org is what `generate` made.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::catalog::APP_TEMPLATES;
use crate::graph::GroupApp;
use crate::ids::mix64;
use crate::model::{App, Group, GroupKind, Org, OrgSpec, UserStatus};
use crate::time::DAY_MS;

/// How many groups and apps an org has in all (at least what `generate` draws).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GraphShape {
    pub groups: usize,
    pub apps: usize,
}

impl GraphShape {
    /// The benchmark's shape: 1,000 groups and 300 apps.
    pub const BENCH: GraphShape = GraphShape {
        groups: 1_000,
        apps: 300,
    };
}

impl Org {
    /// An org as [`Org::generate`] draws it, widened to `shape`.
    pub fn generate_shaped(spec: &OrgSpec, shape: GraphShape) -> Org {
        let mut org = Org::generate(spec);
        org.widen(shape);
        org
    }

    fn widen(&mut self, shape: GraphShape) {
        let mut rng = StdRng::seed_from_u64(mix64(self.seed ^ 0x0077_6964_656e) ^ 0x5ca1e);
        let templates: Vec<u16> = (3..APP_TEMPLATES.len() as u16)
            .filter(|&t| !APP_TEMPLATES[t as usize].links.is_empty())
            .collect();
        let founded = self.groups.first().map_or(self.now_ms, |g| g.created_ms);
        let age = (self.now_ms - founded).max(DAY_MS);
        let people: Vec<u32> = (0..self.users.len() as u32)
            .filter(|&u| self.users[u as usize].status != UserStatus::Deprovisioned)
            .collect();
        let first_extra_app = self.apps.len();
        while self.apps.len() < shape.apps && !templates.is_empty() {
            let n = self.apps.len() - first_extra_app;
            let t = templates[n % templates.len()];
            let created = founded + rng.gen_range(0..age / 2);
            let app = App {
                id: self.new_id(&mut rng, "0oa"),
                template: t,
                label: format!("{} {}", APP_TEMPLATES[t as usize].label, n + 2),
                active: true,
                created_ms: created,
                last_updated_ms: created + rng.gen_range(0..20) * DAY_MS,
                link_number: rng.gen_range(20..90),
            };
            self.apps.push(app);
            let index = (self.apps.len() - 1) as u16;
            let share = rng.gen_range(0.002..0.02);
            for &u in &people {
                if rng.gen_bool(share) {
                    self.link_app(&mut rng, u, index, true);
                }
            }
        }
        let extra_apps: Vec<u16> = (first_extra_app..self.apps.len())
            .map(|a| a as u16)
            .collect();
        let mut team = 0;
        while self.groups.len() < shape.groups {
            team += 1;
            let created = founded + rng.gen_range(0..age / 2);
            let share = rng.gen_range(0.001..0.02);
            let members: Vec<u32> = people
                .iter()
                .copied()
                .filter(|_| rng.gen_bool(share))
                .collect();
            let group = Group {
                id: self.new_id(&mut rng, "00g"),
                name: format!("Team {team:04}"),
                description: format!("Project team {team}"),
                kind: GroupKind::OktaGroup,
                created_ms: created,
                last_updated_ms: created,
                last_membership_updated_ms: self.now_ms - rng.gen_range(1..90) * DAY_MS,
                source_app_id: None,
                members,
            };
            self.groups.push(group);
            let g = (self.groups.len() - 1) as u16;
            if !extra_apps.is_empty() && rng.gen_bool(0.3) {
                let app = extra_apps[rng.gen_range(0..extra_apps.len())];
                self.group_apps.push(GroupApp {
                    group: g,
                    app,
                    priority: self.group_apps.iter().filter(|a| a.app == app).count() as u32,
                    assigned_ms: created + rng.gen_range(0..30) * DAY_MS,
                });
                for u in self.groups[g as usize].members.clone() {
                    self.link_app(&mut rng, u, app, false);
                }
            }
        }
        self.mark_group_links();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shaped_org_has_its_groups_and_apps_and_keeps_the_invariant() {
        let spec = OrgSpec {
            seed: 3,
            users: 300,
            now_ms: 1_795_400_000_000,
        };
        let shape = GraphShape {
            groups: 60,
            apps: 40,
        };
        let org = Org::generate_shaped(&spec, shape);
        assert_eq!((org.groups.len(), org.apps.len()), (60, 40));
        let plain = Org::generate(&spec);
        assert_eq!(org.users.len(), plain.users.len());
        for a in &org.group_apps {
            for &u in &org.groups[a.group as usize].members {
                assert!(
                    org.users[u as usize]
                        .app_links
                        .iter()
                        .any(|l| l.app == a.app),
                    "member {u} of group {} lacks app {}",
                    a.group,
                    a.app
                );
            }
        }
        assert_eq!(
            Org::generate_shaped(&spec, shape).snapshot_json("http://x"),
            org.snapshot_json("http://x"),
            "deterministic"
        );
    }
}
