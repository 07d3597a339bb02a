//! okta-sim: a deterministic, realistic simulator of the Okta Management API for the
//! end-to-end tests, the demo and the benchmarks.
//!
//! - [`Org::generate`] builds a synthetic org from a seed and a size (users in every
//!   status, factors of every type, app links, apps, groups, ACCESS_POLICY rules in every
//!   real shape, admins, API tokens, and days of System Log events).
//! - The identity graph (`graph`): group members, apps assigned to groups, admin roles
//!   (standard, and custom over resource sets) held by users and groups with their
//!   targets, API token networks; drawn from its own random stream so the rest of an org
//!   is what it was before the graph existed.
//! - [`Org::ground_truth`] computes what each KRI of `docs/okta-kris.md` must be;
//!   [`Org::graph_truth`] what the identity graph holds (access, admins, tokens) and the
//!   four graph KRIs.
//! - [`Org::generate_shaped`] widens an org to many groups and apps (the benchmark's
//!   10,000 users in 1,000 groups with 300 apps: [`GraphShape::BENCH`]).
//! - [`Org::advance`] simulates a day passing, writing the System Log events for it
//!   (memberships, app assignments, role grants and API tokens change too).
//! - [`SimServer`] serves an org on 127.0.0.1 with Okta's pagination, auth (an SSWS
//!   token, or OAuth service-app tokens from [`oauth`], with or without DPoP), error bodies,
//!   rate limits (per family, fixed windows, concurrency), latency and injected faults.
//!
//! Shapes follow the real material in `shared/okta-fixtures/` (the folder beside the project root).
//!
//! Behaviour worth knowing when writing tests against it:
//! - `GET /api/v1/users` without a filter lists every user except DEPROVISIONED ones, as
//!   Okta does; `filter` (or `search`) takes `status eq "X"` joined with `or`.
//! - Cursors: `after` is the last item's id for users, apps, groups, members, app users,
//!   role targets and the IAM lists, and an opaque `<published>_<position>` for the
//!   System Log. The IAM lists (`/api/v1/iam/...`) page in the body (`_links.next`), the
//!   others with the `Link` header.
//! - Role endpoints (`/api/v1/iam/...`, `/users/{id}/roles...`, `/groups/{id}/roles...`)
//!   are the `Iam` family: forbidding it is a token that cannot read roles.
//! - System Log: `published` in `[since, until)`, `since` defaulting to the data clock
//!   minus 7 days; ascending without `until` always has a `next` link (polling). No event
//!   is ever published exactly at the data clock, so `until=now` loses nothing.
//! - Rate-limit windows are aligned to multiples of `window_ms` on the wall clock; faults
//!   apply after authentication; 5xx faults alternate 500 `E0000009` and 503 `E0000010`.
//! - Users, factors, app links, events and error bodies keep Okta's key order; the rarer
//!   objects (apps, groups, policies, rules, tokens, assignees) come with sorted keys.

mod advance;
mod advance_graph;
pub mod catalog;
pub mod config;
mod generate;
pub mod graph;
mod graph_truth;
pub mod ids;
pub mod live;
pub mod model;
pub mod oauth;
mod query;
pub mod render;
mod render_graph;
mod server;
mod shape;
pub mod time;
mod truth;

pub use config::{Family, FaultConfig, RateLimitConfig, SimConfig};
pub use graph_truth::{AdminTruth, GraphTruth, ScopeTruth, TokenTruth, UserAccess};
pub use live::{LiveEvent, LiveLog, LiveLogSpec, PlantedAlert};
pub use model::{Org, OrgSpec, UserStatus};
pub use oauth::OAuthApp;
pub use server::{SimServer, SimStats};
pub use shape::GraphShape;
pub use truth::{percent_1dp, GroundTruth};

impl Org {
    /// Every object the org serves rendered as one JSON document (links under `base`):
    /// users (detailed) with their factors, app links and roles, apps, groups, policies
    /// with rules, API tokens (revoked ones too), admin assignees, group members, group
    /// apps and roles, custom roles, resource sets and every System Log event. Meant for
    /// determinism checks and debugging; large for big orgs.
    pub fn snapshot_json(&self, base: &str) -> String {
        let r = render::Renderer::new(self, base);
        let mut out: Vec<u8> = Vec::with_capacity(1 << 20);
        out.extend_from_slice(b"{\"users\":[");
        for (i, user) in self.users.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"user\":");
            r.user(&mut out, user, true);
            out.extend_from_slice(b",\"factors\":");
            r.factors(&mut out, user);
            out.extend_from_slice(b",\"appLinks\":");
            r.app_links(&mut out, user);
            out.extend_from_slice(b",\"roles\":");
            r.roles(&mut out, i);
            out.push(b'}');
        }
        out.extend_from_slice(b"],\"rest\":");
        let rest = serde_json::json!({
            "apps": self.apps.iter().map(|a| r.app(a)).collect::<Vec<_>>(),
            "groups": self.groups.iter().map(|g| r.group(g)).collect::<Vec<_>>(),
            "policies": self.policies.iter().map(|p| serde_json::json!({
                "policy": r.policy(p),
                "rules": p.rules.iter().map(|rule| r.rule(p, rule)).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "apiTokens": self.api_tokens.iter().map(|t| r.api_token(t)).collect::<Vec<_>>(),
            "assignees": self.role_holders().iter().map(|&u| r.assignee(&self.users[u as usize])).collect::<Vec<_>>(),
            "groupMembers": self.groups.iter().map(|g| serde_json::json!({
                "group": g.id,
                "users": g.members.iter().map(|&u| self.users[u as usize].id.as_str()).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "groupApps": self.group_apps.iter().map(|a| r.app_group(a)).collect::<Vec<_>>(),
            "groupRoles": (0..self.groups.len()).map(|g| r.group_roles(g as u16)).collect::<Vec<_>>(),
            "customRoles": self.custom_roles.iter().map(|c| r.custom_role(c)).collect::<Vec<_>>(),
            "resourceSets": self.resource_sets.iter().map(|s| serde_json::json!({
                "set": r.resource_set(s),
                "resources": s.resources.iter().map(|(id, res)| r.set_resource(s, id, *res)).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        });
        serde_json::to_writer(&mut out, &rest).expect("serialising into a Vec cannot fail");
        out.extend_from_slice(b",\"events\":[");
        for (i, event) in self.events.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            r.event(&mut out, event);
        }
        out.extend_from_slice(b"]}");
        String::from_utf8(out).expect("serde_json writes UTF-8")
    }
}
