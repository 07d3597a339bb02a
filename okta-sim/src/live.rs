//! A live System Log: events keep appearing while the simulator runs, on a clock that
//! may run faster than the wall clock (`speed` data milliseconds per wall millisecond).
//!
//! - **Background traffic:** ordinary sign-ins, MFA verifies, SSO and sign-on policy
//!   evaluations of a pool of users, each always from their home city, network and
//!   browser, with a rare failed password. None of the connector's detections fires on
//!   it.
//! - **Late persistence:** about `late_share` of the events (7% by default, as seen in
//!   real Okta) become visible 20 s to 4 min after their `published` time, so they land
//!   in the log after newer ones. The log is kept in the order events became visible
//!   and the polling cursor is a position in that order: a poll that follows `next`
//!   gets the late events too.
//! - **Planted attacks:** every `scenario_every_ms` one of seven attacks is played
//!   (push bombing then success, an admin privilege grant, an API token usable from
//!   anywhere, an MFA downgrade of a sign-on rule, a password spray, a roaming session,
//!   impossible travel), each by its own users, with the alert it must raise recorded as
//!   ground truth ([`PlantedAlert`]).
//!
//! Shapes follow the real events in `shared/okta-fixtures/system-log/` (key order,
//! `debugData` strings, `securityContext`).

use std::collections::BTreeMap;
use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use crate::catalog::{City, AGENTS, CITIES};
use crate::ids::{mix64, session_string, uuid_string};
use crate::time::{format_ms, MINUTE_MS};

/// What the live log plays.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveLogSpec {
    pub seed: u64,
    /// The data clock when the server starts (epoch ms); nothing is published before it.
    pub start_ms: i64,
    /// Data milliseconds per wall millisecond (60: a minute of log per second).
    pub speed: f64,
    /// Background events per data second.
    pub events_per_sec: f64,
    /// Share of events persisted late (0.07).
    pub late_share: f64,
    /// Background users.
    pub users: usize,
    /// Data time between two planted attacks; `None` plants none.
    pub scenario_every_ms: Option<i64>,
    /// The data clock stops here (a test's log then ends); `None` runs on.
    pub stop_ms: Option<i64>,
}

impl Default for LiveLogSpec {
    /// Seed 1, starting 2026-11-23T02:13:20Z, a minute per second, 5 events/s, 7%
    /// late, 200 users, an attack every 3 minutes.
    fn default() -> Self {
        LiveLogSpec {
            seed: 1,
            start_ms: 1_795_400_000_000,
            speed: 60.0,
            events_per_sec: 5.0,
            late_share: 0.07,
            users: 200,
            scenario_every_ms: Some(3 * MINUTE_MS),
            stop_ms: None,
        }
    }
}

/// An alert a planted attack must raise (the connector's detection ids and words).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PlantedAlert {
    pub detection: &'static str,
    /// `user`, `ip` or `session`.
    pub entity_kind: &'static str,
    pub entity_id: String,
    /// The severity it must end with.
    pub severity: &'static str,
    /// When the last of its events appears (data clock): from then on it is due.
    pub complete_ms: i64,
}

/// One event as served: visible from `appeared_ms` on the data clock.
#[derive(Debug, Clone)]
pub struct LiveEvent {
    pub uuid: String,
    pub event_type: &'static str,
    pub published_ms: i64,
    pub appeared_ms: i64,
    pub body: Vec<u8>,
}

/// The seven attacks, played in turn.
const SCENARIOS: usize = 7;

/// Where a user is: their home city, address and browser.
#[derive(Debug, Clone, Copy)]
struct Place {
    city: &'static City,
    ip_host: u16,
    agent: usize,
}

impl Place {
    fn ip(&self) -> String {
        format!(
            "{}.{}.{}.{}",
            self.city.ip_prefix.0,
            self.city.ip_prefix.1,
            self.ip_host >> 8,
            (self.ip_host & 0xff).max(1)
        )
    }
}

/// Who acts.
struct Actor {
    id: String,
    login: String,
    name: String,
}

/// The fields of one event to render.
struct Draft<'a> {
    published_ms: i64,
    event_type: &'static str,
    message: &'a str,
    severity: &'a str,
    actor: &'a Actor,
    place: Place,
    session: Option<String>,
    result: &'a str,
    reason: Option<&'a str>,
    targets: Value,
    debug: Value,
}

/// The live log and its clock.
pub struct LiveLog {
    spec: LiveLogSpec,
    started: Instant,
    rng: StdRng,
    domain: String,
    next_background_ms: i64,
    next_scenario_ms: i64,
    scenarios_played: usize,
    /// Each background user's current session number.
    sessions: Vec<u64>,
    next_session: u64,
    next_uuid: u64,
    /// Not yet visible, by (appearance, sequence).
    pending: BTreeMap<(i64, u64), LiveEvent>,
    visible: Vec<LiveEvent>,
    planted: Vec<PlantedAlert>,
    /// The latest appearance among the current attack's events.
    attack_appears_ms: i64,
}

impl LiveLog {
    pub fn new(spec: LiveLogSpec) -> LiveLog {
        let users = spec.users.max(1);
        LiveLog {
            rng: StdRng::seed_from_u64(mix64(spec.seed ^ 0x11fe_1096)),
            domain: format!("live-{}.example.com", spec.seed),
            next_background_ms: spec.start_ms,
            next_scenario_ms: spec.start_ms + spec.scenario_every_ms.unwrap_or(0),
            scenarios_played: 0,
            sessions: (0..users as u64).collect(),
            next_session: users as u64,
            next_uuid: 0,
            pending: BTreeMap::new(),
            visible: Vec::new(),
            planted: Vec::new(),
            attack_appears_ms: 0,
            started: Instant::now(),
            spec,
        }
    }

    /// The data clock now.
    pub fn now_ms(&self) -> i64 {
        let wall = self.started.elapsed().as_secs_f64() * 1000.0;
        let now = self.spec.start_ms + (wall * self.spec.speed) as i64;
        self.spec.stop_ms.map_or(now, |stop| now.min(stop))
    }

    /// Whether the data clock has reached `stop_ms`.
    pub fn stopped(&self) -> bool {
        self.spec.stop_ms.is_some_and(|stop| self.now_ms() >= stop)
    }

    /// Generates everything published up to `now_ms` and makes visible what has
    /// appeared by then, in order of appearance.
    pub fn advance_to(&mut self, now_ms: i64) {
        let interval = (1000.0 / self.spec.events_per_sec.max(0.001)).max(1.0);
        while self.next_background_ms <= now_ms {
            let t = self.next_background_ms;
            self.background(t);
            let jitter = self.rng.gen_range(0.5..1.5);
            self.next_background_ms += ((interval * jitter) as i64).max(1);
        }
        if let Some(every) = self.spec.scenario_every_ms {
            while self.next_scenario_ms <= now_ms {
                let t = self.next_scenario_ms;
                self.scenario(t);
                self.next_scenario_ms += every.max(MINUTE_MS);
            }
        }
        while let Some(entry) = self.pending.first_entry() {
            if entry.key().0 > now_ms {
                break;
            }
            self.visible.push(entry.remove());
        }
    }

    /// Catches up with the clock now.
    pub fn catch_up(&mut self) {
        let now = self.now_ms();
        self.advance_to(now);
    }

    /// Every visible event, in order of appearance (the polling order).
    pub fn visible(&self) -> &[LiveEvent] {
        &self.visible
    }

    /// The alerts the attacks played so far must raise (due once the clock passes their
    /// `complete_ms`).
    pub fn planted(&self) -> &[PlantedAlert] {
        &self.planted
    }

    /// Attacks played so far.
    pub fn scenarios_played(&self) -> usize {
        self.scenarios_played
    }

    fn user(&self, u: usize) -> Actor {
        Actor {
            id: format!("00u{:012x}live", mix64(self.spec.seed ^ u as u64) >> 16),
            login: format!("user{u}@{}", self.domain),
            name: format!("User {u}"),
        }
    }

    /// An attack's own user: never in the background traffic.
    fn attack_user(&self, k: usize, role: &str) -> Actor {
        Actor {
            id: format!(
                "00u{:010x}{role}",
                mix64(self.spec.seed ^ (k as u64) << 8) >> 24
            ),
            login: format!("{role}{k}@{}", self.domain),
            name: format!("{role} {k}"),
        }
    }

    fn home(&self, u: usize) -> Place {
        let h = mix64(self.spec.seed.wrapping_add(u as u64 * 7919));
        Place {
            city: &CITIES[(h % CITIES.len() as u64) as usize],
            ip_host: (h >> 20) as u16,
            agent: ((h >> 40) % AGENTS.len() as u64) as usize,
        }
    }

    fn city(name: &str, country: &str) -> &'static City {
        CITIES
            .iter()
            .find(|c| c.city == name && c.country == country)
            .unwrap_or(&CITIES[0])
    }

    fn new_session(&mut self) -> u64 {
        self.next_session += 1;
        self.next_session
    }

    /// One background event of a random user.
    fn background(&mut self, t: i64) {
        let u = self.rng.gen_range(0..self.sessions.len());
        let actor = self.user(u);
        let place = self.home(u);
        let roll = self.rng.gen_range(0..100);
        let (event_type, message, result, reason, debug) = match roll {
            0..=24 => {
                self.sessions[u] = self.new_session();
                (
                    "user.session.start",
                    "User login to Okta",
                    "SUCCESS",
                    None,
                    json!({}),
                )
            }
            25..=39 => (
                "user.authentication.auth_via_mfa",
                "Authentication of user via MFA",
                "SUCCESS",
                None,
                json!({"factor": "OKTA_VERIFY_PUSH"}),
            ),
            40..=88 => (
                "user.authentication.sso",
                "User single sign on to app",
                "SUCCESS",
                None,
                json!({}),
            ),
            89..=98 => (
                "policy.evaluate_sign_on",
                "Evaluation of sign-on policy",
                "ALLOW",
                Some("Sign-on policy evaluation resulted in ALLOW"),
                json!({}),
            ),
            _ => (
                "user.session.start",
                "User login to Okta",
                "FAILURE",
                Some("INVALID_CREDENTIALS"),
                json!({}),
            ),
        };
        let session = Some(session_string(self.sessions[u]));
        self.add(Draft {
            published_ms: t,
            event_type,
            message,
            severity: if result == "FAILURE" { "WARN" } else { "INFO" },
            actor: &actor,
            place,
            session,
            result,
            reason,
            targets: json!([]),
            debug,
        });
    }

    /// Plays attack number `scenarios_played` (mod 7) starting at `t`.
    fn scenario(&mut self, t: i64) {
        let k = self.scenarios_played;
        self.scenarios_played += 1;
        self.attack_appears_ms = t;
        // An attack that cannot finish before the clock stops is not played: the
        // ground truth holds only whole attacks.
        if self.spec.stop_ms.is_some_and(|stop| t + span_ms(k) > stop) {
            return;
        }
        let admin = self.attack_user(k, "admin");
        let admin_place = Place {
            city: Self::city("Chicago", "United States"),
            ip_host: 0x0a0b,
            agent: 0,
        };
        let admin_session = Some(session_string(self.new_session()));
        match k % SCENARIOS {
            0 => {
                // Push bombing: six denied pushes, then the worn-down user approves.
                let victim = self.attack_user(k, "pushed");
                let place = Place {
                    city: Self::city("Denver", "United States"),
                    ip_host: 0x1c2d,
                    agent: 1,
                };
                let session = Some(session_string(self.new_session()));
                for i in 0..6 {
                    self.add(Draft {
                        published_ms: t + i * 40_000,
                        event_type: "user.mfa.okta_verify.deny_push",
                        message: "User rejected Okta push verify",
                        severity: "WARN",
                        actor: &victim,
                        place,
                        session: session.clone(),
                        result: "FAILURE",
                        reason: None,
                        targets: json!([]),
                        debug: json!({}),
                    });
                }
                self.add(Draft {
                    published_ms: t + 5 * MINUTE_MS,
                    event_type: "user.session.start",
                    message: "User login to Okta",
                    severity: "INFO",
                    actor: &victim,
                    place,
                    session,
                    result: "SUCCESS",
                    reason: None,
                    targets: json!([]),
                    debug: json!({}),
                });
                self.plant("okta.mfa_push_fatigue", "user", victim.id, "critical");
            }
            1 => {
                let grantee = self.attack_user(k, "grantee");
                self.add(Draft {
                    published_ms: t,
                    event_type: "user.account.privilege.grant",
                    message: "Grant user privilege",
                    severity: "INFO",
                    actor: &admin,
                    place: admin_place,
                    session: admin_session,
                    result: "SUCCESS",
                    reason: None,
                    targets: json!([target(&grantee, "User")]),
                    debug: json!({"privilegeGranted": "Super administrator"}),
                });
                self.plant(
                    "okta.admin_privilege_granted",
                    "user",
                    grantee.id,
                    "critical",
                );
            }
            2 => {
                self.add(Draft {
                    published_ms: t,
                    event_type: "system.api_token.create",
                    message: "Create API token",
                    severity: "INFO",
                    actor: &admin,
                    place: admin_place,
                    session: admin_session,
                    result: "SUCCESS",
                    reason: None,
                    targets: json!([{"id": format!("00T{:012x}tok", k), "type": "Token",
                        "alternateId": "unknown", "displayName": format!("automation-{k}"), "detailEntry": null}]),
                    debug: json!({"network": "{\"connection\":\"ANYWHERE\"}"}),
                });
                self.plant("okta.api_token_created", "user", admin.id, "high");
            }
            3 => {
                self.add(Draft {
                    published_ms: t,
                    event_type: "policy.rule.update",
                    message: "Update policy rule",
                    severity: "INFO",
                    actor: &admin,
                    place: admin_place,
                    session: admin_session,
                    result: "SUCCESS",
                    reason: None,
                    targets: json!([{"id": format!("0pr{:012x}rul", k), "type": "PolicyRule",
                        "alternateId": "unknown", "displayName": "Require MFA", "detailEntry": {"policyRuleFactorMode": "1FA"}}]),
                    debug: json!({"changeDetails": "{\"from\": {\"factorMode\": \"2FA\"}, \"to\": {\"factorMode\": \"1FA\"}}"}),
                });
                self.plant("okta.policy_weakened", "user", admin.id, "high");
            }
            4 => {
                // One address failing for twelve logins within three minutes.
                let place = Place {
                    city: Self::city("London", "United Kingdom"),
                    ip_host: 0x3300 + k as u16,
                    agent: 2,
                };
                for i in 0..12 {
                    let unknown = Actor {
                        id: "unknown".into(),
                        login: format!("guess{i}.{k}@{}", self.domain),
                        name: "unknown".into(),
                    };
                    self.add(Draft {
                        published_ms: t + i * 15_000,
                        event_type: "user.session.start",
                        message: "User login to Okta",
                        severity: "WARN",
                        actor: &unknown,
                        place,
                        session: None,
                        result: "FAILURE",
                        reason: Some("VERIFICATION_ERROR"),
                        targets: json!([]),
                        debug: json!({}),
                    });
                }
                self.plant("okta.password_spray", "ip", place.ip(), "high");
            }
            5 => {
                // A session used from a second network.
                let user = self.attack_user(k, "roamer");
                let session = session_string(self.new_session());
                let home = Place {
                    city: Self::city("San Francisco", "United States"),
                    ip_host: 0x4400,
                    agent: 0,
                };
                let away = Place {
                    city: Self::city("Berlin", "Germany"),
                    ip_host: 0x4401,
                    agent: 0,
                };
                for (i, place) in [home, home, away].into_iter().enumerate() {
                    self.add(Draft {
                        published_ms: t + i as i64 * MINUTE_MS,
                        event_type: "user.authentication.sso",
                        message: "User single sign on to app",
                        severity: "INFO",
                        actor: &user,
                        place,
                        session: Some(session.clone()),
                        result: "SUCCESS",
                        reason: None,
                        targets: json!([]),
                        debug: json!({}),
                    });
                }
                self.plant("okta.session_roaming", "session", session, "high");
            }
            _ => {
                // New York, then Berlin ten minutes later: about 38,000 km/h.
                let user = self.attack_user(k, "traveller");
                let places = [
                    Self::city("New York", "United States"),
                    Self::city("Berlin", "Germany"),
                ];
                for (i, city) in places.into_iter().enumerate() {
                    let session = Some(session_string(self.new_session()));
                    self.add(Draft {
                        published_ms: t + i as i64 * span_ms(k),
                        event_type: "user.session.start",
                        message: "User login to Okta",
                        severity: "INFO",
                        actor: &user,
                        place: Place {
                            city,
                            ip_host: 0x5500 + i as u16,
                            agent: 3,
                        },
                        session,
                        result: "SUCCESS",
                        reason: None,
                        targets: json!([]),
                        debug: json!({}),
                    });
                }
                self.plant("okta.impossible_travel", "user", user.id, "high");
            }
        }
    }

    fn plant(
        &mut self,
        detection: &'static str,
        kind: &'static str,
        id: String,
        severity: &'static str,
    ) {
        self.planted.push(PlantedAlert {
            detection,
            entity_kind: kind,
            entity_id: id,
            severity,
            complete_ms: self.attack_appears_ms,
        });
    }

    /// Renders an event and queues it to appear at its time, or late.
    fn add(&mut self, d: Draft<'_>) {
        self.next_uuid += 1;
        let uuid = uuid_string(
            u128::from(mix64(self.spec.seed ^ self.next_uuid)) << 64 | u128::from(self.next_uuid),
        );
        let late = self.rng.gen_bool(self.spec.late_share.clamp(0.0, 1.0));
        let appeared_ms = if late {
            d.published_ms + self.rng.gen_range(20_000..240_000)
        } else {
            d.published_ms
        };
        // When the clock stops, everything published by then has appeared.
        let appeared_ms = self.spec.stop_ms.map_or(appeared_ms, |stop| {
            appeared_ms.min(stop.max(d.published_ms))
        });
        self.attack_appears_ms = self.attack_appears_ms.max(appeared_ms);
        let body = render(&uuid, &d);
        let body = serde_json::to_vec(&body).unwrap_or_default();
        self.pending.insert(
            (appeared_ms, self.next_uuid),
            LiveEvent {
                uuid,
                event_type: d.event_type,
                published_ms: d.published_ms,
                appeared_ms,
                body,
            },
        );
    }
}

/// How long attack `k` lasts, from its first event's `published` to its last.
fn span_ms(k: usize) -> i64 {
    match k % SCENARIOS {
        0 => 5 * MINUTE_MS,
        4 => 11 * 15_000,
        5 => 2 * MINUTE_MS,
        6 => 10 * MINUTE_MS,
        _ => 0,
    }
}

fn target(a: &Actor, kind: &str) -> Value {
    json!({"id": a.id, "type": kind, "alternateId": a.login, "displayName": a.name, "detailEntry": null})
}

/// The event in Okta's shape and key order.
fn render(uuid: &str, d: &Draft<'_>) -> Value {
    let c = d.place.city;
    let agent = &AGENTS[d.place.agent % AGENTS.len()];
    let geo = json!({"city": c.city, "state": c.state, "country": c.country,
        "postalCode": c.postal_code, "geolocation": {"lat": c.lat, "lon": c.lon}});
    let ip = d.place.ip();
    let mut debug = json!({
        "requestId": format!("{:x}", mix64(uuid.len() as u64 ^ d.published_ms as u64)),
        "requestUri": "/idp/idx/authenticators/poll",
        "url": "/idp/idx/authenticators/poll?",
        "threatSuspected": "false",
    });
    if let (Some(m), Some(extra)) = (debug.as_object_mut(), d.debug.as_object()) {
        for (k, v) in extra {
            m.insert(k.clone(), v.clone());
        }
    }
    json!({
        "actor": {"id": d.actor.id, "type": "User", "alternateId": d.actor.login,
            "displayName": d.actor.name, "detailEntry": null},
        "client": {"userAgent": {"rawUserAgent": agent.raw, "os": agent.os, "browser": agent.browser},
            "zone": "null", "device": agent.device, "id": null, "ipAddress": ip,
            "geographicalContext": geo},
        "device": null,
        "authenticationContext": {"authenticationProvider": null, "credentialProvider": null,
            "credentialType": null, "issuer": null, "interface": null, "authenticationStep": 0,
            "externalSessionId": d.session.clone().unwrap_or_else(|| "unknown".into())},
        "displayMessage": d.message,
        "eventType": d.event_type,
        "outcome": {"result": d.result, "reason": d.reason},
        "published": format_ms(d.published_ms),
        "securityContext": {"asNumber": c.as_number, "asOrg": c.as_org, "isp": c.isp,
            "domain": c.domain, "isProxy": false},
        "severity": d.severity,
        "debugContext": {"debugData": debug},
        "legacyEventType": null,
        "transaction": {"type": "WEB", "id": format!("Tx{:x}", mix64(d.published_ms as u64)), "detail": {}},
        "uuid": uuid,
        "version": "0",
        "request": {"ipChain": [{"ip": ip, "geographicalContext": geo, "version": "V4", "source": null}]},
        "target": d.targets,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn late_events_appear_after_newer_ones_and_attacks_are_planted() {
        let spec = LiveLogSpec::default();
        let mut log = LiveLog::new(spec.clone());
        log.advance_to(spec.start_ms + 30 * MINUTE_MS);
        let visible = log.visible();
        assert!(visible.len() > 8000, "{}", visible.len());
        let late = visible
            .iter()
            .filter(|e| e.appeared_ms > e.published_ms)
            .count();
        let share = late as f64 / visible.len() as f64;
        assert!((0.05..0.09).contains(&share), "late share {share}");
        // Appearance order is the polling order; published order is not.
        assert!(visible
            .windows(2)
            .all(|w| w[0].appeared_ms <= w[1].appeared_ms));
        assert!(visible
            .windows(2)
            .any(|w| w[0].published_ms > w[1].published_ms));
        // Ten attacks in 30 minutes, all seven kinds.
        assert_eq!(log.scenarios_played(), 10);
        let kinds: std::collections::BTreeSet<_> =
            log.planted().iter().map(|p| p.detection).collect();
        assert_eq!(kinds.len(), 7);
        let uuids: std::collections::BTreeSet<_> = visible.iter().map(|e| &e.uuid).collect();
        assert_eq!(uuids.len(), visible.len(), "uuids are unique");
    }
}
