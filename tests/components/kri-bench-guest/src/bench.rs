//! A CPU benchmark of the Okta connector's System Log KRIs, with no I/O, so the same code can
//! be timed as a wasm component and natively: [`synthetic_log_jsonl`] writes realistic
//! System Log events (the real JSON shape: ordinary sign-ins, velocity behaviours in all
//! three places, Okta Verify push denials of both kinds and their look-alikes, admin
//! console sessions that start and end), and [`compute_log_kris`] parses them page by
//! page with the connector's own event model, exactly as `/api/v1/logs` pages are
//! parsed, and feeds the real streaming aggregations of impossible travel, denied
//! pushes and admin-session outliers.

use connector_okta::api::models::LogEvent;
use connector_okta::api::{parse_page, LOGS};
use connector_okta::config::DEFAULT_ADMIN_SESSION_LOOKBACK_HOURS;
use connector_okta::detect::{detect, DetectionState, SystemLogEvent};
use connector_okta::kris::admin_session_outliers::{self, SessionBook, SessionFeed};
use connector_okta::kris::failed_mfa_push::{self, PushTally};
use connector_okta::kris::impossible_travel::TravelTally;
use connector_okta::kris::{Window, WindowFilter};
use connector_okta::time::{ms_to_iso, HOUR_MS};
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// The three log KRIs over a batch of events, and how many events were parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LogKriFigures {
    /// Events read into the connector's model.
    pub events_parsed: u64,
    /// `okta_impossible_travel_24h`.
    pub impossible_travel: u64,
    /// `okta_failed_mfa_push_24h`.
    pub failed_mfa_push: u64,
    /// `okta_admin_session_outliers_24h`.
    pub admin_session_outliers: u64,
}

/// Events per parsed page: the connector asks `/api/v1/logs` for `limit=1000`, and the
/// host's stored-events pages hold as many.
const PAGE: usize = 1000;

/// Parses `lines` (one System Log event as JSON each) page by page with the connector's
/// `/api/v1/logs` body parser and feeds each page to the three log KRIs' streaming
/// aggregations, as the `kris` job does (no page outlives its turn), then computes them
/// at `now_ms` as a first run would: the last 24 h for travel and pushes, the default
/// admin-session look-back for the session book.
pub fn compute_log_kris(lines: &[String], now_ms: i64) -> LogKriFigures {
    let day = Window::last_24h(now_ms);
    let lookback = Window {
        start_exclusive: now_ms - DEFAULT_ADMIN_SESSION_LOOKBACK_HOURS as i64 * HOUR_MS,
        end_inclusive: now_ms,
    };
    let mut filter = WindowFilter::new(day);
    let mut travel = TravelTally::default();
    let mut push = PushTally::default();
    let mut sessions = SessionFeed::new(lookback);
    let mut parsed = 0u64;
    let mut body: Vec<u8> = Vec::new();
    for page in lines.chunks(PAGE) {
        body.clear();
        body.push(b'[');
        for (i, line) in page.iter().enumerate() {
            if i > 0 {
                body.push(b',');
            }
            body.extend_from_slice(line.as_bytes());
        }
        body.push(b']');
        // A page that is not JSON is dropped whole, as the connector would fail on it.
        let Ok((events, _skipped)) = parse_page::<LogEvent>(LOGS, "/api/v1/logs", &body) else {
            continue;
        };
        parsed += events.len() as u64;
        for ev in &events {
            if filter.admit(ev) {
                travel.add(ev);
                push.add(ev);
            }
            sessions.add(ev);
        }
    }
    let travel = travel.finish(&filter);
    let push = push.finish(&filter);
    let mut book = SessionBook::default();
    let stats = sessions.apply(&mut book);
    let admin = admin_session_outliers::admin_session_outliers(&book, now_ms, &stats);
    let count = |v: Option<f64>| v.map_or(0, |x| x as u64);
    LogKriFigures {
        events_parsed: parsed,
        impossible_travel: count(travel.value),
        failed_mfa_push: count(push.value),
        admin_session_outliers: count(admin.value),
    }
}

/// The `logs` job's detection state after `n` synthetic events (a day of them, as
/// [`synthetic_log_jsonl`] spreads them) went through every detection page by page, as
/// the job feeds them: its saved size in bytes (the JSON the job keeps in state), that
/// size by part of the state, and the alerts raised on the way.
pub fn detection_state_after(
    n: usize,
    now_ms: i64,
    seed: u64,
) -> (usize, Vec<(&'static str, usize)>, u64) {
    let mut state = DetectionState::default();
    let mut alerts = 0u64;
    let mut log = SyntheticLog::new(n, now_ms, seed);
    let mut body: Vec<u8> = Vec::new();
    loop {
        body.clear();
        body.push(b'[');
        for (i, line) in log.by_ref().take(PAGE).enumerate() {
            if i > 0 {
                body.push(b',');
            }
            body.extend_from_slice(line.as_bytes());
        }
        body.push(b']');
        if body.len() == 2 {
            break;
        }
        let Ok((page, _skipped)) = parse_page::<LogEvent>(LOGS, "/api/v1/logs", &body) else {
            continue;
        };
        let events: Vec<SystemLogEvent> =
            page.iter().filter_map(SystemLogEvent::from_log).collect();
        alerts += detect(&mut state, &events, now_ms).len() as u64;
    }
    let bytes = serde_json::to_vec(&state).map_or(0, |v| v.len());
    (bytes, state.saved_bytes_by_part(), alerts)
}

/// `n` System Log events, ascending by `published` over `(now - 25 h, now]` (about 4 %
/// fall before the 24 h window), as JSON text one event per string. Deterministic for
/// the same arguments.
pub fn synthetic_log_jsonl(n: usize, now_ms: i64, seed: u64) -> Vec<String> {
    synthetic_log_with_truth(n, now_ms, seed).0
}

/// [`synthetic_log_jsonl`] and the KRI figures the events were written to produce.
pub fn synthetic_log_with_truth(n: usize, now_ms: i64, seed: u64) -> (Vec<String>, LogKriFigures) {
    let mut log = SyntheticLog::new(n, now_ms, seed);
    let out: Vec<String> = log.by_ref().collect();
    (out, log.truth())
}

/// The events of [`synthetic_log_jsonl`] one at a time, so a million of them need not
/// be held at once; [`SyntheticLog::truth`] is complete once the iterator is spent.
pub struct SyntheticLog {
    g: Gen,
    next: usize,
    n: usize,
}

impl SyntheticLog {
    pub fn new(n: usize, now_ms: i64, seed: u64) -> SyntheticLog {
        SyntheticLog {
            g: Gen {
                rng: XorShift::new(seed),
                now: now_ms,
                truth: LogKriFigures {
                    events_parsed: n as u64,
                    ..LogKriFigures::default()
                },
                pending_ends: BinaryHeap::new(),
                next_session: 0,
            },
            next: 0,
            n,
        }
    }

    /// The KRI figures the events generated so far were written to produce.
    pub fn truth(&self) -> LogKriFigures {
        self.g.truth
    }
}

impl Iterator for SyntheticLog {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        if self.next >= self.n {
            return None;
        }
        let span = 25 * HOUR_MS;
        let start = self.g.now - span;
        // Strictly increasing to `now` itself for the last event.
        let t = start + ((self.next as i128 + 1) * span as i128 / self.n as i128) as i64;
        self.next += 1;
        let mut line = self.g.event(t);
        // `format!` leaves up to twice the length as capacity: a million lines would
        // hold gigabytes of slack.
        line.shrink_to_fit();
        Some(line)
    }
}

/// xorshift64*: small, fast, good enough for test data.
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> XorShift {
        // Never zero.
        XorShift((seed ^ 0x9e37_79b9_7f4a_7c15) | 1)
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// `0..n` (n > 0).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// Where a sign-in comes from: `client.geographicalContext`, the IP and its network.
#[derive(Clone, Copy)]
struct Geo {
    city: &'static str,
    state: &'static str,
    country: &'static str,
    postal_code: &'static str,
    lat: f64,
    lon: f64,
    ip_prefix: &'static str,
    asn: u32,
    isp: &'static str,
}

const PLACES: [Geo; 8] = [
    Geo {
        city: "Ashburn",
        state: "Virginia",
        country: "United States",
        postal_code: "20149",
        lat: 39.0437,
        lon: -77.4875,
        ip_prefix: "52.4",
        asn: 14618,
        isp: "amazon.com inc.",
    },
    Geo {
        city: "San Francisco",
        state: "California",
        country: "United States",
        postal_code: "94107",
        lat: 37.7697,
        lon: -122.3933,
        ip_prefix: "104.28",
        asn: 13335,
        isp: "cloudflare inc.",
    },
    Geo {
        city: "Chicago",
        state: "Illinois",
        country: "United States",
        postal_code: "60604",
        lat: 41.8781,
        lon: -87.6298,
        ip_prefix: "73.44",
        asn: 7922,
        isp: "comcast cable communications llc",
    },
    Geo {
        city: "London",
        state: "England",
        country: "United Kingdom",
        postal_code: "EC2A",
        lat: 51.5074,
        lon: -0.1278,
        ip_prefix: "81.2",
        asn: 2856,
        isp: "british telecommunications plc",
    },
    Geo {
        city: "Frankfurt am Main",
        state: "Hesse",
        country: "Germany",
        postal_code: "60313",
        lat: 50.1109,
        lon: 8.6821,
        ip_prefix: "91.64",
        asn: 3320,
        isp: "deutsche telekom ag",
    },
    Geo {
        city: "Sydney",
        state: "New South Wales",
        country: "Australia",
        postal_code: "2000",
        lat: -33.8688,
        lon: 151.2093,
        ip_prefix: "1.128",
        asn: 1221,
        isp: "telstra corporation ltd",
    },
    Geo {
        city: "Sao Paulo",
        state: "Sao Paulo",
        country: "Brazil",
        postal_code: "01310",
        lat: -23.5505,
        lon: -46.6333,
        ip_prefix: "177.8",
        asn: 28573,
        isp: "claro s.a.",
    },
    Geo {
        city: "Singapore",
        state: "Singapore",
        country: "Singapore",
        postal_code: "018989",
        lat: 1.2897,
        lon: 103.8501,
        ip_prefix: "116.86",
        asn: 9506,
        isp: "singtel fibre broadband",
    },
];

const AGENTS: [(&str, &str, &str); 4] = [
    ("CHROME", "Mac OS X", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"),
    ("FIREFOX", "Windows 10", "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0"),
    ("SAFARI", "iOS", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1"),
    ("EDGE", "Windows 10", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0"),
];

const BEHAVIOR_NAMES: [&str; 6] = [
    "New Geo-Location",
    "New Device",
    "New IP",
    "New State",
    "New Country",
    "New City",
];

/// Users in the synthetic org; admins are the first few.
const USERS: u64 = 5000;
const ADMINS: u64 = 25;

const ALPHANUM: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// An Okta-style id: `prefix` and base-62 characters derived from `n`, `len` in all.
fn okta_id(prefix: &str, mut n: u64, len: usize) -> String {
    let mut s = String::with_capacity(len);
    s.push_str(prefix);
    while s.len() < len {
        s.push(ALPHANUM[(n % 62) as usize] as char);
        n = (n / 62) ^ n.rotate_left(17).wrapping_mul(0x9e37_79b9);
    }
    s
}

/// Where an event's behaviours are written.
#[derive(Clone, Copy)]
enum Place {
    None,
    DebugBehaviors,
    LogOnlySecurityData,
    UserBehaviorsString,
    UserBehaviorsObject,
    UserBehaviorsArray,
}

/// One admin-console session waiting for its end event.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct PendingEnd {
    end_ms: i64,
    start_ms: i64,
    session: u64,
    admin: u64,
}

struct Gen {
    rng: XorShift,
    now: i64,
    truth: LogKriFigures,
    pending_ends: BinaryHeap<Reverse<PendingEnd>>,
    next_session: u64,
}

/// The parts of one event that vary.
struct Ev<'a> {
    t: i64,
    user: u64,
    event_type: &'a str,
    display: &'a str,
    legacy: Option<&'a str>,
    result: &'a str,
    reason: Option<&'a str>,
    session: String,
    request_uri: &'a str,
    /// Extra `debugData` members, each starting with a comma.
    debug_extra: String,
    /// Extra `securityContext` members, each starting with a comma.
    security_extra: String,
    /// The `target` value (JSON text).
    target: String,
}

impl Gen {
    fn in_day(&self, t: i64) -> bool {
        Window::last_24h(self.now).contains(t)
    }

    fn session_id(&mut self) -> String {
        let n = self.rng.next();
        okta_id("102", n, 25)
    }

    fn event(&mut self, t: i64) -> String {
        // A due admin-session end comes first.
        if let Some(Reverse(due)) = self.pending_ends.peek() {
            if due.end_ms <= t {
                if let Some(Reverse(end)) = self.pending_ends.pop() {
                    return self.admin_end(t, end);
                }
            }
        }
        let roll = self.rng.below(10_000);
        let user = self.rng.below(USERS);
        match roll {
            0..=49 => self.admin_start(t),
            50..=89 => self.session_end(t, user),
            90..=189 => self.travel(t, user, true),
            190..=219 => self.deny_push_classic(t, user),
            220..=269 => self.auth_via_mfa(t, user, "OKTA_VERIFY_PUSH", "FAILURE"),
            270..=669 => self.auth_via_mfa(t, user, "OKTA_VERIFY_PUSH", "SUCCESS"),
            670..=769 => self.auth_via_mfa(t, user, "PASSWORD_AS_FACTOR", "FAILURE"),
            770..=969 => self.auth_via_mfa(t, user, "FIDO_WEBAUTHN", "SUCCESS"),
            970..=1169 => self.auth_via_mfa(t, user, "SIGNED_NONCE", "SUCCESS"),
            1170..=1569 => self.travel(t, user, false),
            1570..=2569 => self.policy_evaluate(t, user),
            2570..=4569 => self.sso(t, user),
            4570..=4589 => self.group_add(t, user),
            _ => self.sign_in(t, user),
        }
    }

    /// A behaviour set in one place: velocity POSITIVE or not, other behaviours random.
    fn behaviors(&mut self, place: Place, velocity: bool) -> (String, String) {
        let velocity_name = if self.rng.below(4) == 0 {
            "Velocity Behavior"
        } else {
            "Velocity"
        };
        let mut pairs: Vec<(&str, &str)> = BEHAVIOR_NAMES
            .iter()
            .map(|n| {
                let v = if self.rng.below(8) == 0 {
                    "POSITIVE"
                } else {
                    "NEGATIVE"
                };
                (*n, v)
            })
            .collect();
        let at = self.rng.below(pairs.len() as u64 + 1) as usize;
        let v = if velocity { "POSITIVE" } else { "NEGATIVE" };
        pairs.insert(at, (velocity_name, v));
        let java = || {
            let parts: Vec<String> = pairs.iter().map(|(n, v)| format!("{n}={v}")).collect();
            format!("{{{}}}", parts.join(", "))
        };
        let (mut debug, mut security) = (String::new(), String::new());
        match place {
            Place::None => {}
            Place::DebugBehaviors => {
                debug = format!(
                    ",\"behaviors\":\"{}\",\"risk\":\"{{level={}}}\"",
                    java(),
                    if velocity { "HIGH" } else { "LOW" }
                );
            }
            Place::LogOnlySecurityData => {
                let parts: Vec<String> = pairs
                    .iter()
                    .map(|(n, v)| format!("\\\"{n}\\\":\\\"{v}\\\""))
                    .collect();
                debug = format!(
                    ",\"logOnlySecurityData\":\"{{\\\"risk\\\":{{\\\"level\\\":\\\"{}\\\"}},\\\"behaviors\\\":{{{}}}}}\"",
                    if velocity { "HIGH" } else { "LOW" },
                    parts.join(",")
                );
            }
            Place::UserBehaviorsString => {
                security = format!(",\"userBehaviors\":\"{}\"", java());
            }
            Place::UserBehaviorsObject => {
                let parts: Vec<String> = pairs
                    .iter()
                    .map(|(n, v)| format!("\"{n}\":\"{v}\""))
                    .collect();
                security = format!(",\"userBehaviors\":{{{}}}", parts.join(","));
            }
            Place::UserBehaviorsArray => {
                let parts: Vec<String> = pairs
                    .iter()
                    .map(|(n, v)| {
                        format!(
                            "{{\"id\":\"{}\",\"name\":\"{n}\",\"result\":\"{v}\"}}",
                            okta_id("bhv", n.len() as u64 * 7919, 20)
                        )
                    })
                    .collect();
                security = format!(",\"userBehaviors\":[{}]", parts.join(","));
            }
        }
        (debug, security)
    }

    fn place(&mut self) -> Place {
        match self.rng.below(10) {
            0..=3 => Place::DebugBehaviors,
            4..=5 => Place::LogOnlySecurityData,
            6 => Place::UserBehaviorsString,
            7 => Place::UserBehaviorsObject,
            8 => Place::UserBehaviorsArray,
            _ => Place::None,
        }
    }

    /// A sign-in whose behaviours mark velocity POSITIVE (`positive`) or not.
    fn travel(&mut self, t: i64, user: u64, positive: bool) -> String {
        let place = match self.place() {
            Place::None if positive => Place::DebugBehaviors,
            p => p,
        };
        if positive && self.in_day(t) {
            self.truth.impossible_travel += 1;
        }
        let (debug_extra, security_extra) = self.behaviors(place, positive);
        let session = self.session_id();
        let event_type = if self.rng.below(2) == 0 {
            "user.session.start"
        } else {
            "user.authentication.verify"
        };
        let (display, legacy) = if event_type == "user.session.start" {
            ("User login to Okta", Some("core.user_auth.login_success"))
        } else {
            ("Verify user identity", None)
        };
        self.render(Ev {
            t,
            user,
            event_type,
            display,
            legacy,
            result: "SUCCESS",
            reason: None,
            session,
            request_uri: "/idp/idx/identify",
            debug_extra,
            security_extra,
            target: "null".into(),
        })
    }

    fn sign_in(&mut self, t: i64, user: u64) -> String {
        let place = self.place();
        let (debug_extra, security_extra) = self.behaviors(place, false);
        let session = self.session_id();
        let failed = self.rng.below(20) == 0;
        self.render(Ev {
            t,
            user,
            event_type: "user.session.start",
            display: "User login to Okta",
            legacy: Some(if failed {
                "core.user_auth.login_failed"
            } else {
                "core.user_auth.login_success"
            }),
            result: if failed { "FAILURE" } else { "SUCCESS" },
            reason: if failed {
                Some("INVALID_CREDENTIALS")
            } else {
                None
            },
            session,
            request_uri: "/idp/idx/identify",
            debug_extra,
            security_extra,
            target: self.password_target(user),
        })
    }

    fn deny_push_classic(&mut self, t: i64, user: u64) -> String {
        if self.in_day(t) {
            self.truth.failed_mfa_push += 1;
        }
        let session = self.session_id();
        let target = self.user_target(user);
        self.render(Ev {
            t,
            user,
            event_type: failed_mfa_push::CLASSIC_DENY_PUSH,
            display: "User rejected Okta push verify",
            legacy: Some("core.user.factor.attempt_fail"),
            result: "FAILURE",
            reason: Some("Push verify rejected"),
            session,
            request_uri: "/api/v1/authn/factors/opf1/verify",
            debug_extra: String::new(),
            security_extra: String::new(),
            target,
        })
    }

    fn auth_via_mfa(&mut self, t: i64, user: u64, factor: &str, result: &str) -> String {
        if factor == "OKTA_VERIFY_PUSH" && result == "FAILURE" && self.in_day(t) {
            self.truth.failed_mfa_push += 1;
        }
        let session = self.session_id();
        let failed = result == "FAILURE";
        let reason = match (failed, factor) {
            (true, "OKTA_VERIFY_PUSH") => Some("User rejected Okta Verify push"),
            (true, _) => Some("INVALID_CREDENTIALS"),
            _ => None,
        };
        let target = self.authenticator_target(user, factor);
        self.render(Ev {
            t,
            user,
            event_type: failed_mfa_push::AUTH_VIA_MFA,
            display: "Authentication of user via MFA",
            legacy: Some(if failed {
                "core.user.factor.attempt_fail"
            } else {
                "core.user.factor.attempt_success"
            }),
            result,
            reason,
            session,
            request_uri: "/idp/idx/authenticators/poll",
            debug_extra: format!(",\"factor\":\"{factor}\",\"factorIntent\":\"AUTHENTICATION\""),
            security_extra: String::new(),
            target,
        })
    }

    fn policy_evaluate(&mut self, t: i64, user: u64) -> String {
        let session = self.session_id();
        let challenge = self.rng.below(3) == 0;
        let target = format!(
            "[{},{{\"alternateId\":\"unknown\",\"detailEntry\":null,\"displayName\":\"Catch-all Rule\",\"id\":\"{}\",\"type\":\"Rule\"}}]",
            self.app_target(user % 7, if challenge { "CHALLENGE" } else { "AUTHENTICATED" }),
            okta_id("0pr", user % 7 + 11, 20)
        );
        self.render(Ev {
            t,
            user,
            event_type: "policy.evaluate_sign_on",
            display: "Evaluation of sign-on policy",
            legacy: None,
            result: if challenge { "CHALLENGE" } else { "ALLOW" },
            reason: if challenge {
                Some("Sign-on policy evaluation resulted in CHALLENGE")
            } else {
                Some("Sign-on policy evaluation resulted in AUTHENTICATED")
            },
            session,
            request_uri: "/idp/idx/introspect",
            debug_extra: String::new(),
            security_extra: String::new(),
            target,
        })
    }

    fn sso(&mut self, t: i64, user: u64) -> String {
        let session = self.session_id();
        let app = self.rng.below(7);
        let target = format!(
            "[{},{{\"alternateId\":\"{}\",\"detailEntry\":null,\"displayName\":\"{}\",\"id\":\"{}\",\"type\":\"AppUser\"}}]",
            self.app_target(app, "AUTHENTICATED"),
            login(user),
            display_name(user),
            okta_id("0ua", user * 31 + app, 20)
        );
        self.render(Ev {
            t,
            user,
            event_type: "user.authentication.sso",
            display: "User single sign on to app",
            legacy: Some("app.auth.sso"),
            result: "SUCCESS",
            reason: None,
            session,
            request_uri: "/app/sso/saml",
            debug_extra: String::new(),
            security_extra: String::new(),
            target,
        })
    }

    fn group_add(&mut self, t: i64, user: u64) -> String {
        let admin = self.rng.below(ADMINS);
        let session = self.session_id();
        let target = format!(
            "[{},{{\"alternateId\":\"unknown\",\"detailEntry\":null,\"displayName\":\"Engineering\",\"id\":\"{}\",\"type\":\"UserGroup\"}}]",
            self.user_target_one(user),
            okta_id("00g", user % 13, 20)
        );
        self.render(Ev {
            t,
            user: admin,
            event_type: "group.user_membership.add",
            display: "Add user to group membership",
            legacy: Some("core.user_group_member.user_add"),
            result: "SUCCESS",
            reason: None,
            session,
            request_uri: "/api/v1/groups/00g/users",
            debug_extra: String::new(),
            security_extra: String::new(),
            target,
        })
    }

    /// An ordinary (non-admin) sign-out: its session id is no admin session's.
    fn session_end(&mut self, t: i64, user: u64) -> String {
        let session = self.session_id();
        self.render(Ev {
            t,
            user,
            event_type: admin_session_outliers::END_EVENT,
            display: "User logout from Okta",
            legacy: Some("core.user_auth.logout_success"),
            result: "SUCCESS",
            reason: None,
            session,
            request_uri: "/login/signout",
            debug_extra: String::new(),
            security_extra: String::new(),
            target: "null".into(),
        })
    }

    fn admin_start(&mut self, t: i64) -> String {
        let admin = self.rng.below(ADMINS);
        let session = self.next_session;
        self.next_session += 1;
        // 30 min to 12 h; ends after `now` are never logged (the session stays open).
        let duration = HOUR_MS / 2 + self.rng.below((23 * HOUR_MS / 2) as u64) as i64;
        let end_ms = t + duration;
        if end_ms <= self.now {
            self.pending_ends.push(Reverse(PendingEnd {
                end_ms,
                start_ms: t,
                session,
                admin,
            }));
        }
        let target = format!(
            "[{{\"alternateId\":\"{}\",\"detailEntry\":null,\"displayName\":\"{}\",\"id\":\"{}\",\"type\":\"AppUser\"}}]",
            login(admin),
            display_name(admin),
            okta_id("0ua", admin * 97 + 5, 20)
        );
        self.render(Ev {
            t,
            user: admin,
            event_type: admin_session_outliers::START_EVENT,
            display: "User accessing Okta admin app",
            legacy: Some("app.admin.sso.login.success"),
            result: "SUCCESS",
            reason: None,
            session: admin_session_id(session),
            request_uri: "/admin/sso/callback",
            debug_extra: String::new(),
            security_extra: String::new(),
            target,
        })
    }

    /// The end of a pending admin session, logged at `t` (its planned end or just after).
    fn admin_end(&mut self, t: i64, end: PendingEnd) -> String {
        if self.in_day(t) && t - end.start_ms > admin_session_outliers::OUTLIER_MS {
            self.truth.admin_session_outliers += 1;
        }
        self.render(Ev {
            t,
            user: end.admin,
            event_type: admin_session_outliers::END_EVENT,
            display: "User logout from Okta",
            legacy: Some("core.user_auth.logout_success"),
            result: "SUCCESS",
            reason: None,
            session: admin_session_id(end.session),
            request_uri: "/login/signout",
            debug_extra: String::new(),
            security_extra: String::new(),
            target: "null".into(),
        })
    }

    fn user_target_one(&self, user: u64) -> String {
        format!(
            "{{\"alternateId\":\"{}\",\"detailEntry\":null,\"displayName\":\"{}\",\"id\":\"{}\",\"type\":\"User\"}}",
            login(user),
            display_name(user),
            user_id(user)
        )
    }

    fn user_target(&self, user: u64) -> String {
        format!("[{}]", self.user_target_one(user))
    }

    fn password_target(&self, user: u64) -> String {
        format!(
            "[{{\"alternateId\":\"unknown\",\"detailEntry\":null,\"displayName\":\"Password\",\"id\":\"{}\",\"type\":\"AuthenticatorEnrollment\"}}]",
            okta_id("lae", user, 20)
        )
    }

    fn authenticator_target(&self, user: u64, factor: &str) -> String {
        let name = match factor {
            "OKTA_VERIFY_PUSH" | "SIGNED_NONCE" => "Okta Verify",
            "FIDO_WEBAUTHN" => "Security Key or Biometric",
            _ => "Password",
        };
        format!(
            "[{},{{\"alternateId\":\"unknown\",\"detailEntry\":null,\"displayName\":\"{name}\",\"id\":\"{}\",\"type\":\"AuthenticatorEnrollment\"}}]",
            self.user_target_one(user),
            okta_id("pfd", user * 3 + name.len() as u64, 20)
        )
    }

    fn app_target(&self, app: u64, result: &str) -> String {
        const APPS: [(&str, &str); 7] = [
            ("Okta Dashboard", "OPENID_CONNECT"),
            ("Salesforce.com", "SAML_2_0"),
            ("Slack", "SAML_2_0"),
            ("Zoom", "SAML_2_0"),
            ("Box", "SAML_2_0"),
            ("GitHub Enterprise Cloud", "SAML_2_0"),
            ("Google Workspace", "SAML_2_0"),
        ];
        let (name, mode) = APPS[(app % 7) as usize];
        format!(
            "{{\"alternateId\":\"{name}\",\"detailEntry\":{{\"signOnModeType\":\"{mode}\",\"signOnModeEvaluationResult\":\"{result}\"}},\"displayName\":\"{name}\",\"id\":\"{}\",\"type\":\"AppInstance\"}}",
            okta_id("0oa", app + 1, 20)
        )
    }

    fn render(&mut self, e: Ev<'_>) -> String {
        let Geo {
            city,
            state,
            country,
            postal_code: postal,
            lat,
            lon,
            ip_prefix: prefix,
            asn,
            isp,
        } = *self.rng.pick(&PLACES);
        let (browser, os, agent) = *self.rng.pick(&AGENTS);
        let ip = format!(
            "{prefix}.{}.{}",
            self.rng.below(256),
            1 + self.rng.below(254)
        );
        let request_id = okta_id("", self.rng.next(), 27);
        let uuid = uuid(self.rng.next(), self.rng.next());
        let geo = format!(
            "{{\"city\":\"{city}\",\"country\":\"{country}\",\"geolocation\":{{\"lat\":{lat},\"lon\":{lon}}},\"postalCode\":\"{postal}\",\"state\":\"{state}\"}}"
        );
        let legacy = match e.legacy {
            Some(l) => format!("\"{l}\""),
            None => "null".into(),
        };
        let reason = match e.reason {
            Some(r) => format!("\"{r}\""),
            None => "null".into(),
        };
        format!(
            "{{\"actor\":{{\"alternateId\":\"{login}\",\"detailEntry\":null,\"displayName\":\"{name}\",\"id\":\"{uid}\",\"type\":\"User\"}},\
\"authenticationContext\":{{\"authenticationProvider\":null,\"authenticationStep\":0,\"credentialProvider\":null,\"credentialType\":null,\"externalSessionId\":\"{session}\",\"interface\":null,\"issuer\":null}},\
\"client\":{{\"device\":\"Computer\",\"geographicalContext\":{geo},\"id\":null,\"ipAddress\":\"{ip}\",\"userAgent\":{{\"browser\":\"{browser}\",\"os\":\"{os}\",\"rawUserAgent\":\"{agent}\"}},\"zone\":\"null\"}},\
\"debugContext\":{{\"debugData\":{{\"requestId\":\"{request_id}\",\"requestUri\":\"{uri}\",\"url\":\"{uri}?\"{debug}}}}},\
\"device\":null,\"displayMessage\":\"{display}\",\"eventType\":\"{event_type}\",\"legacyEventType\":{legacy},\
\"outcome\":{{\"reason\":{reason},\"result\":\"{result}\"}},\"published\":\"{published}\",\
\"request\":{{\"ipChain\":[{{\"geographicalContext\":{geo},\"ip\":\"{ip}\",\"source\":null,\"version\":\"V4\"}}]}},\
\"securityContext\":{{\"asNumber\":{asn},\"asOrg\":\"{isp}\",\"domain\":\".\",\"isProxy\":false,\"isp\":\"{isp}\"{security}}},\
\"severity\":\"INFO\",\"target\":{target},\"transaction\":{{\"detail\":{{}},\"id\":\"{request_id}\",\"type\":\"WEB\"}},\"uuid\":\"{uuid}\",\"version\":\"0\"}}",
            login = login(e.user),
            name = display_name(e.user),
            uid = user_id(e.user),
            session = e.session,
            uri = e.request_uri,
            debug = e.debug_extra,
            display = e.display,
            event_type = e.event_type,
            result = e.result,
            published = ms_to_iso(e.t),
            security = e.security_extra,
            target = e.target,
        )
    }
}

fn user_id(user: u64) -> String {
    okta_id("00u", (user.wrapping_mul(0x9e37_79b9_7f4a_7c15)) ^ user, 20)
}

fn login(user: u64) -> String {
    if user < ADMINS {
        format!("admin{user}@example.com")
    } else {
        format!("user{user}@example.com")
    }
}

fn display_name(user: u64) -> String {
    const FIRST: [&str; 8] = ["Ada", "Bo", "Cy", "Di", "Ed", "Fay", "Gil", "Hal"];
    const LAST: [&str; 8] = [
        "Lovelace", "Hopper", "Turing", "Knuth", "Liskov", "Dijkstra", "Ritchie", "Allen",
    ];
    format!(
        "{} {}",
        FIRST[(user % 8) as usize],
        LAST[(user / 8 % 8) as usize]
    )
}

fn admin_session_id(session: u64) -> String {
    okta_id(
        "102",
        (session.wrapping_mul(0x2545_f491_4f6c_dd1d)) ^ session,
        25,
    )
}

/// A version-1-looking UUID from two random words.
fn uuid(a: u64, b: u64) -> String {
    format!(
        "{:08x}-{:04x}-11ee-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        ((b >> 48) & 0x3fff) | 0x8000,
        b & 0xffff_ffff_ffff
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    const NOW: i64 = 1_795_400_000_000;

    #[test]
    fn events_are_real_json_in_order_and_deterministic() {
        let lines = synthetic_log_jsonl(5_000, NOW, 7);
        assert_eq!(lines.len(), 5_000);
        assert_eq!(lines, synthetic_log_jsonl(5_000, NOW, 7));
        assert_ne!(lines, synthetic_log_jsonl(5_000, NOW, 8));
        let mut last = i64::MIN;
        let mut uuids = std::collections::BTreeSet::new();
        for line in &lines {
            let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
            for key in [
                "actor",
                "authenticationContext",
                "client",
                "debugContext",
                "eventType",
                "outcome",
                "published",
                "securityContext",
                "target",
                "transaction",
                "uuid",
            ] {
                assert!(v.get(key).is_some(), "{key} missing: {line}");
            }
            let ms = v["published"]
                .as_str()
                .and_then(connector_okta::time::iso_to_ms)
                .unwrap_or(i64::MIN);
            assert!(ms >= last && ms <= NOW && ms > NOW - 25 * HOUR_MS);
            last = ms;
            assert!(uuids.insert(v["uuid"].as_str().unwrap_or("").to_string()));
            // logOnlySecurityData is a JSON string.
            if let Some(s) = v["debugContext"]["debugData"]["logOnlySecurityData"].as_str() {
                assert!(serde_json::from_str::<Value>(s).is_ok(), "{s}");
            }
        }
        assert_eq!(last, NOW);
    }

    #[test]
    fn the_kris_find_what_was_written() {
        for (n, seed) in [(0usize, 1u64), (1, 1), (1_500, 5), (12_000, 99)] {
            let (lines, truth) = synthetic_log_with_truth(n, NOW, seed);
            let got = compute_log_kris(&lines, NOW);
            assert_eq!(got, truth, "n {n} seed {seed}");
            if n >= 10_000 {
                assert!(truth.impossible_travel > 50, "{truth:?}");
                assert!(truth.failed_mfa_push > 40, "{truth:?}");
                assert!(truth.admin_session_outliers > 3, "{truth:?}");
            }
        }
    }

    #[test]
    fn every_behaviour_place_and_push_kind_occurs() {
        let lines = synthetic_log_jsonl(10_000, NOW, 3);
        let has = |needle: &str| lines.iter().any(|l| l.contains(needle));
        for needle in [
            "\"behaviors\":\"{",
            "\"logOnlySecurityData\":",
            "\"userBehaviors\":\"{",
            "\"userBehaviors\":{",
            "\"userBehaviors\":[",
            "Velocity Behavior=POSITIVE",
            "Velocity=NEGATIVE",
            "user.mfa.okta_verify.deny_push",
            "\"factor\":\"OKTA_VERIFY_PUSH\"",
            "\"factor\":\"PASSWORD_AS_FACTOR\"",
            "user.session.access_admin_app",
            "user.session.end",
        ] {
            assert!(has(needle), "{needle}");
        }
    }
}
