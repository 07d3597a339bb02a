//! Table-driven tests for the pacing rules: header parsing, bucket keys, the
//! bucket's decisions through whole scenarios (skew, missing headers, past
//! resets, shares, concurrency 429s, rollover), helpers, and a small simulated
//! server that checks a full run never overdraws its share.

use super::*;

const T0: i64 = 1_700_000_000_000; // local ms; also server ms when clocks agree
const S0: u64 = 1_700_000_000; // T0 in seconds

fn hdr(limit: u64, remaining: u64, reset_s: u64, date_ms: i64) -> RateLimitHeaders {
    RateLimitHeaders {
        limit: Some(limit),
        remaining: Some(remaining),
        reset_epoch_s: Some(reset_s),
        server_date_ms: Some(date_ms),
    }
}

fn no_date(limit: u64, remaining: u64, reset_s: u64) -> RateLimitHeaders {
    RateLimitHeaders {
        server_date_ms: None,
        ..hdr(limit, remaining, reset_s, 0)
    }
}

#[test]
fn parse_headers() {
    type Case = (
        &'static str,
        &'static [(&'static str, &'static str)],
        RateLimitHeaders,
    );
    let full = hdr(600, 599, S0 + 60, T0);
    let cases: Vec<Case> = vec![
        ("none", &[], RateLimitHeaders::default()),
        (
            "all present",
            &[
                ("X-Rate-Limit-Limit", "600"),
                ("X-Rate-Limit-Remaining", "599"),
                ("X-Rate-Limit-Reset", "1700000060"),
                ("Date", "Tue, 14 Nov 2023 22:13:20 GMT"),
            ],
            full,
        ),
        (
            "lower-case names, padded values",
            &[
                ("x-rate-limit-limit", " 600 "),
                ("x-rate-limit-remaining", "599\t"),
                ("x-rate-limit-reset", "1700000060"),
                ("date", " Tue, 14 Nov 2023 22:13:20 GMT "),
            ],
            full,
        ),
        (
            "asctime date",
            &[("Date", "Tue Nov 14 22:13:20 2023")],
            RateLimitHeaders {
                server_date_ms: Some(T0),
                ..Default::default()
            },
        ),
        (
            "junk numbers",
            &[
                ("X-Rate-Limit-Limit", "abc"),
                ("X-Rate-Limit-Remaining", "-1"),
                ("X-Rate-Limit-Reset", "1.7e9"),
            ],
            RateLimitHeaders::default(),
        ),
        (
            "empty and joined values",
            &[
                ("X-Rate-Limit-Limit", ""),
                ("X-Rate-Limit-Remaining", "5, 5"),
                ("X-Rate-Limit-Reset", "99999999999999999999999"),
            ],
            RateLimitHeaders::default(),
        ),
        (
            "junk date",
            &[("Date", "yesterday")],
            RateLimitHeaders::default(),
        ),
        (
            "date without zone",
            &[("Date", "Tue, 14 Nov 2023 22:13:20")],
            RateLimitHeaders::default(),
        ),
        (
            "concurrency 429",
            &[("X-Rate-Limit-Limit", "0"), ("X-Rate-Limit-Remaining", "0")],
            RateLimitHeaders {
                limit: Some(0),
                remaining: Some(0),
                ..Default::default()
            },
        ),
    ];
    for (label, headers, want) in cases {
        let got = RateLimitHeaders::parse(|name| {
            headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.to_string())
        });
        assert_eq!(got, want, "case {label}");
    }
}

#[test]
fn bucket_keys() {
    const CASES: &[(&str, &str, &str)] = &[
        (
            "GET",
            "/api/v1/users/00u1abcDEF234/factors",
            "GET /api/v1/users/{id}/factors",
        ),
        ("GET", "/api/v1/users", "GET /api/v1/users"),
        ("get", "/api/v1/users?limit=200", "GET /api/v1/users"),
        ("GET", "/api/v1/logs", "GET /api/v1/logs"),
        (
            "GET",
            "/api/v1/logs?since=2024-01-01T00:00:00Z&limit=1000",
            "GET /api/v1/logs",
        ),
        (
            "GET",
            "/api/v1/groups/00g1xyz/users",
            "GET /api/v1/groups/{id}/users",
        ),
        (
            "GET",
            "/api/v1/apps/0oa1b2c3/users?limit=500",
            "GET /api/v1/apps/{id}/users",
        ),
        ("GET", "/api/v1/users/me", "GET /api/v1/users/me"),
        (
            "GET",
            "/api/v1/users/alice@example.com",
            "GET /api/v1/users/{id}",
        ),
        ("GET", "/api/v1/users/%30%30u1", "GET /api/v1/users/{id}"),
        (
            "GET",
            "/api/v1/users/AbcdefGhijklmNop",
            "GET /api/v1/users/{id}",
        ),
        ("GET", "/api/v1/users/00u1#frag", "GET /api/v1/users/{id}"),
        ("GET", "/api/v1/users/", "GET /api/v1/users"),
        ("GET", "//api//v1///users", "GET /api/v1/users"),
        (
            "GET",
            "/api/v1/authorizationServers/default/policies",
            "GET /api/v1/authorizationServers/default/policies",
        ),
        (
            "GET",
            "/api/v1/authorizationServers/aus1abc2/policies",
            "GET /api/v1/authorizationServers/{id}/policies",
        ),
        ("GET", "/oauth2/v1/clients", "GET /oauth2/v1/clients"),
        ("GET", "/api/v2/things", "GET /api/v2/things"),
        (
            "GET",
            "/api/v1/iam/resource-sets",
            "GET /api/v1/iam/resource-sets",
        ),
        (
            "GET",
            "/api/v1/policies?type=OKTA_SIGN_ON",
            "GET /api/v1/policies",
        ),
        (
            "POST",
            "/api/v1/users/00u1/lifecycle/activate",
            "POST /api/v1/users/{id}/lifecycle/activate",
        ),
        (
            "GET",
            "https://acme.okta.com/api/v1/users/00u1/roles?x=1",
            "GET /api/v1/users/{id}/roles",
        ),
        ("GET", "https://acme.okta.com", "GET /"),
        ("GET", "", "GET /"),
        (
            " delete ",
            "/api/v1/sessions/102abc",
            "DELETE /api/v1/sessions/{id}",
        ),
    ];
    for (method, path, want) in CASES {
        assert_eq!(bucket_key(method, path), *want, "case {method} {path}");
    }
}

/// One step of a bucket scenario.
#[derive(Debug, Clone, Copy)]
enum Step {
    /// `decide` at this local time must give this decision.
    Decide(i64, Decision),
    /// `decide` must say SendNow, then `on_send`.
    Send(i64),
    /// `Send` this many times at the same time.
    SendN(i64, u64),
    Resp(i64, u16, RateLimitHeaders),
    Done,
    InFlight(u64),
    Sent(u64),
    Remaining(Option<u64>),
    Limit(Option<u64>),
    MaxInFlight(Option<u64>),
    Ceiling(Option<u64>),
}
use Step::*;

fn wait(local_ms: i64, reason: WaitReason) -> Decision {
    Decision::WaitUntil { local_ms, reason }
}

fn cfg(share: f64, max_concurrency: usize) -> PacingConfig {
    PacingConfig {
        share,
        max_concurrency,
        ..PacingConfig::default()
    }
}

fn scenarios() -> Vec<(&'static str, PacingConfig, Vec<Step>)> {
    use Decision::SendNow;
    use WaitReason::*;
    let w1 = S0 + 60; // first window's reset, server seconds
    let w1_end = T0 + 60_000 + RESET_MARGIN_MS; // its local end with clocks in sync
    vec![
        (
            "probe before the first response",
            PacingConfig::default(),
            vec![
                Decide(T0, SendNow),
                Send(T0),
                Decide(T0 + 5, wait(T0 + 5 + RECHECK_MS, Probe)),
                Resp(T0 + 100, 200, hdr(10, 9, w1, T0 + 100)),
                Decide(T0 + 100, SendNow), // in flight until on_done, but the limit is known
                Done,
                Limit(Some(10)),
                Remaining(Some(9)),
                Sent(1),
                InFlight(0),
            ],
        ),
        (
            "share 0.5: budget used, wait for reset, then a new window",
            cfg(0.5, 16),
            vec![
                Send(T0),
                Resp(T0 + 100, 200, hdr(10, 9, w1, T0 + 100)),
                Done,
                SendN(T0 + 100, 4),
                Sent(5),
                Decide(T0 + 100, wait(w1_end, WindowBudget)),
                Resp(T0 + 200, 200, hdr(10, 8, w1, T0 + 200)),
                Resp(T0 + 200, 200, hdr(10, 5, w1, T0 + 200)),
                Resp(T0 + 200, 200, hdr(10, 7, w1, T0 + 200)),
                Resp(T0 + 200, 200, hdr(10, 6, w1, T0 + 200)),
                Remaining(Some(5)), // out-of-order answers keep the lowest
                Done,
                Done,
                Done,
                Done,
                Decide(T0 + 1000, wait(w1_end, WindowBudget)),
                Decide(w1_end - 1, wait(w1_end, WindowBudget)),
                // Rollover: counters reset, one probe learns the new window.
                Decide(w1_end, SendNow),
                Send(w1_end),
                Sent(1),
                Remaining(None),
                Decide(w1_end + 1, wait(w1_end + 1 + RECHECK_MS, Probe)),
                Resp(w1_end + 50, 200, hdr(10, 9, w1 + 60, w1_end + 50)),
                Done,
                Remaining(Some(9)),
                SendN(w1_end + 50, 4),
                Decide(w1_end + 50, wait(w1_end + 60_000, WindowBudget)),
            ],
        ),
        (
            "shared bucket: keep limit*(1-share) for other tools",
            cfg(0.5, 16),
            vec![
                Send(T0),
                Resp(T0 + 100, 200, hdr(10, 6, w1, T0 + 100)),
                Done,
                Send(T0 + 100),                                // 6 - 0 > 5
                Decide(T0 + 100, wait(w1_end, SharedReserve)), // 6 - 1 <= 5
                Resp(T0 + 200, 200, hdr(10, 3, w1, T0 + 200)),
                Done,
                Decide(T0 + 200, wait(w1_end, SharedReserve)),
                Decide(w1_end, SendNow),
            ],
        ),
        (
            "share 1.0 uses the whole bucket",
            cfg(1.0, 16),
            vec![
                Send(T0),
                Resp(T0 + 100, 200, hdr(4, 3, w1, T0 + 100)),
                Done,
                SendN(T0 + 100, 3),
                Decide(T0 + 100, wait(w1_end, WindowBudget)),
            ],
        ),
        (
            "tiny bucket still gets one request per window",
            cfg(0.5, 16),
            vec![
                Send(T0),
                Resp(T0 + 100, 200, hdr(1, 0, w1, T0 + 100)),
                Done,
                Decide(T0 + 100, wait(w1_end, WindowBudget)),
                Decide(w1_end, SendNow),
            ],
        ),
        (
            "server clock 30 s behind: Date converts the reset",
            cfg(0.5, 16),
            vec![
                Send(T0),
                Resp(T0 + 100, 200, hdr(10, 0, S0 + 30, T0 + 100 - 30_000)),
                Done,
                Decide(T0 + 100, wait(T0 + 60_000 + RESET_MARGIN_MS, SharedReserve)),
            ],
        ),
        (
            "server clock 45 s ahead: Date converts the reset",
            cfg(0.5, 16),
            vec![
                Send(T0),
                Resp(T0 + 100, 200, hdr(10, 0, S0 + 105, T0 + 100 + 45_000)),
                Done,
                Decide(T0 + 100, wait(T0 + 60_000 + RESET_MARGIN_MS, SharedReserve)),
            ],
        ),
        (
            "skewed clock without Date: reset looks past, keep probing",
            cfg(0.5, 16),
            vec![
                Send(T0),
                Resp(T0 + 100, 200, no_date(10, 9, S0 - 240)),
                Done,
                Limit(Some(10)),
                Remaining(None),
                Send(T0 + 100),
                Decide(T0 + 100, wait(T0 + 100 + RECHECK_MS, Probe)),
            ],
        ),
        (
            "reset in the past with Date: ignored, keep probing",
            cfg(0.5, 16),
            vec![
                Send(T0),
                Resp(T0 + 100, 200, hdr(10, 9, S0 - 10, T0 + 100)),
                Done,
                Remaining(None),
                Send(T0 + 100),
                Decide(T0 + 100, wait(T0 + 100 + RECHECK_MS, Probe)),
            ],
        ),
        (
            "no rate-limit headers: only the concurrency cap applies",
            cfg(0.5, 3),
            vec![
                Send(T0),
                Resp(T0 + 50, 200, RateLimitHeaders::default()),
                Done,
                SendN(T0 + 50, 3),
                Decide(T0 + 50, wait(T0 + 50 + RECHECK_MS, ConcurrencyCap)),
                Done,
                Decide(T0 + 60, SendNow),
            ],
        ),
        (
            "never more than max_concurrency in flight",
            cfg(1.0, 4),
            vec![
                Send(T0),
                Resp(T0 + 100, 200, hdr(1000, 999, w1, T0 + 100)),
                Done,
                SendN(T0 + 100, 4),
                Decide(T0 + 100, wait(T0 + 100 + RECHECK_MS, ConcurrencyCap)),
                Done,
                Send(T0 + 120),
                Decide(T0 + 120, wait(T0 + 120 + RECHECK_MS, ConcurrencyCap)),
            ],
        ),
        (
            "concurrency 429: back off, halve in-flight, recover additively",
            cfg(1.0, 8),
            vec![
                Send(T0),
                Resp(T0 + 100, 200, hdr(1000, 999, w1, T0 + 100)),
                Done,
                SendN(T0 + 100, 8),
                Resp(T0 + 200, 429, hdr(0, 0, w1, T0 + 200)),
                MaxInFlight(Some(4)),
                Limit(Some(1000)), // limit 0 does not erase the real limit
                Remaining(Some(999)),
                Done,
                Decide(T0 + 300, wait(T0 + 1200, ConcurrencyLimited)),
                Done,
                Done,
                Done,
                Done,
                InFlight(3),
                Decide(T0 + 1200, SendNow),
                Send(T0 + 1200),
                Decide(T0 + 1200, wait(T0 + 1200 + RECHECK_MS, ConcurrencyCap)),
                Resp(T0 + 1300, 200, hdr(1000, 990, w1, T0 + 1300)),
                Resp(T0 + 1300, 200, hdr(1000, 989, w1, T0 + 1300)),
                Resp(T0 + 1300, 200, hdr(1000, 988, w1, T0 + 1300)),
                MaxInFlight(Some(4)),
                Resp(T0 + 1300, 200, hdr(1000, 987, w1, T0 + 1300)),
                MaxInFlight(Some(5)),
            ],
        ),
        (
            "repeated concurrency 429s never go below one in flight",
            cfg(1.0, 8),
            vec![
                Send(T0),
                Resp(T0 + 100, 429, hdr(0, 0, w1, T0 + 100)),
                Done,
                MaxInFlight(Some(1)),
                Decide(T0 + 100, wait(T0 + 1100, ConcurrencyLimited)),
                Send(T0 + 1100),
                Resp(T0 + 1200, 429, hdr(0, 0, w1, T0 + 1200)),
                Done,
                MaxInFlight(Some(1)),
                Send(T0 + 2200),
                Decide(T0 + 2200, wait(T0 + 2200 + RECHECK_MS, ConcurrencyCap)),
            ],
        ),
        (
            "slow start: at most INITIAL_MAX_IN_FLIGHT at first, one more per that many answers at the cap",
            cfg(1.0, 16),
            vec![
                Send(T0),
                Resp(T0 + 100, 200, hdr(1000, 999, w1, T0 + 100)),
                Done,
                SendN(T0 + 100, INITIAL_MAX_IN_FLIGHT),
                Decide(T0 + 100, wait(T0 + 100 + RECHECK_MS, ConcurrencyCap)),
                Resp(T0 + 120, 200, hdr(1000, 990, w1, T0 + 120)),
                Resp(T0 + 120, 200, hdr(1000, 989, w1, T0 + 120)),
                Resp(T0 + 120, 200, hdr(1000, 988, w1, T0 + 120)),
                Resp(T0 + 120, 200, hdr(1000, 987, w1, T0 + 120)),
                Resp(T0 + 120, 200, hdr(1000, 986, w1, T0 + 120)),
                Resp(T0 + 120, 200, hdr(1000, 985, w1, T0 + 120)),
                Resp(T0 + 120, 200, hdr(1000, 984, w1, T0 + 120)),
                MaxInFlight(None),
                Resp(T0 + 120, 200, hdr(1000, 983, w1, T0 + 120)),
                MaxInFlight(Some(INITIAL_MAX_IN_FLIGHT + 1)),
                SendN(T0 + 120, 1),
                Decide(T0 + 120, wait(T0 + 120 + RECHECK_MS, ConcurrencyCap)),
                // Answers while the cap is not used up are no reason to raise it.
                Done,
                Done,
                Resp(T0 + 130, 200, hdr(1000, 982, w1, T0 + 130)),
                Resp(T0 + 130, 200, hdr(1000, 981, w1, T0 + 130)),
                MaxInFlight(Some(INITIAL_MAX_IN_FLIGHT + 1)),
            ],
        ),
        (
            "a burst of concurrency 429s is one episode: one halving, ceiling = in flight - refused",
            cfg(1.0, 8),
            vec![
                Send(T0),
                Resp(T0 + 100, 200, hdr(1000, 999, w1, T0 + 100)),
                Done,
                SendN(T0 + 100, 8),
                Resp(T0 + 101, 429, hdr(0, 0, w1, T0 + 101)),
                Done,
                MaxInFlight(Some(4)),
                Ceiling(Some(7)),
                Resp(T0 + 101, 429, hdr(0, 0, w1, T0 + 101)),
                Done,
                Resp(T0 + 102, 429, hdr(0, 0, w1, T0 + 102)),
                Done,
                Ceiling(Some(5)),
                MaxInFlight(Some(4)),
                Resp(T0 + 103, 429, hdr(0, 0, w1, T0 + 103)),
                Done,
                Ceiling(Some(4)),
                MaxInFlight(Some(4)),
                InFlight(4),
                Decide(T0 + 500, wait(T0 + 1103, ConcurrencyLimited)),
                // After the hold, a new request's 429 is a new episode: halve again.
                Resp(T0 + 1110, 200, hdr(1000, 990, w1, T0 + 1110)),
                Done,
                Send(T0 + 1110),
                Resp(T0 + 1111, 429, hdr(0, 0, w1, T0 + 1111)),
                Done,
                MaxInFlight(Some(2)),
                Ceiling(Some(3)),
            ],
        ),
        (
            "rate-limit 429 waits for the reset converted by Date",
            cfg(0.5, 16),
            vec![
                Send(T0),
                // Server 20 s behind: reset S0+10 on its clock is T0+30 s locally.
                Resp(T0 + 100, 429, hdr(10, 0, S0 + 10, T0 + 100 - 20_000)),
                Done,
                Remaining(Some(0)),
                Decide(T0 + 200, wait(T0 + 30_000 + RESET_MARGIN_MS, RateLimited)),
                Decide(T0 + 30_000 + RESET_MARGIN_MS, SendNow),
            ],
        ),
        (
            "429 waits are capped at max_wait_ms",
            cfg(0.5, 16),
            vec![
                Send(T0),
                Resp(T0 + 100, 429, hdr(10, 0, S0 + 600, T0 + 100)),
                Done,
                Decide(T0 + 200, wait(T0 + 100 + 120_000, RateLimited)),
                // Hold over; the exhausted window still blocks, again capped.
                Decide(T0 + 120_100, wait(T0 + 240_100, SharedReserve)),
            ],
        ),
        (
            "429 without headers waits the minimum retry",
            cfg(0.5, 16),
            vec![
                Send(T0),
                Resp(T0 + 100, 429, RateLimitHeaders::default()),
                Done,
                Decide(T0 + 100, wait(T0 + 1100, RateLimited)),
                Decide(T0 + 1100, SendNow),
            ],
        ),
        (
            "stale answer after local rollover is ignored",
            cfg(0.5, 16),
            vec![
                Send(T0),
                Resp(T0 + 100, 200, hdr(10, 9, w1, T0 + 100)),
                Done,
                Send(T0 + 59_000),
                // Old window ended locally; a request from it is still out.
                Decide(w1_end, wait(w1_end + RECHECK_MS, Probe)),
                // Its answer names the old window; Date jitter makes it look current.
                Resp(w1_end + 50, 200, hdr(10, 1, w1, T0 + 59_500)),
                Done,
                Remaining(None),
                Decide(w1_end + 50, SendNow),
            ],
        ),
        (
            "server starts a new window before the local clock expects it",
            cfg(0.5, 16),
            vec![
                Send(T0),
                Resp(T0 + 100, 200, hdr(10, 9, w1, T0 + 100)),
                Done,
                SendN(T0 + 100, 4),
                Decide(T0 + 100, wait(w1_end, WindowBudget)),
                Resp(T0 + 30_000, 200, hdr(10, 9, w1 + 60, T0 + 30_000)),
                Sent(4), // everything still in flight may count in the new window
                Remaining(Some(9)),
                Done,
                Done,
                Done,
                Done,
                Decide(T0 + 30_000, SendNow),
            ],
        ),
        (
            "decide never mutates: repeated calls agree",
            cfg(0.5, 16),
            vec![
                Decide(T0, Decision::SendNow),
                Decide(T0, Decision::SendNow),
                Sent(0),
                InFlight(0),
            ],
        ),
    ]
}

#[test]
fn bucket_scenarios() {
    for (label, cfg, steps) in scenarios() {
        let mut b = Bucket::new();
        for (i, step) in steps.iter().enumerate() {
            let at = format!("case {label:?}, step #{i} {step:?}");
            match *step {
                Decide(t, want) => assert_eq!(b.decide(t, &cfg), want, "{at}"),
                Send(t) => {
                    assert_eq!(b.decide(t, &cfg), Decision::SendNow, "{at}");
                    b.on_send(t);
                }
                SendN(t, n) => {
                    for k in 0..n {
                        assert_eq!(b.decide(t, &cfg), Decision::SendNow, "{at} (send {k})");
                        b.on_send(t);
                    }
                }
                Resp(t, status, h) => b.on_response(status, &h, t),
                Done => b.on_done(),
                InFlight(n) => assert_eq!(b.in_flight(), n, "{at}"),
                Sent(n) => assert_eq!(b.sent_in_window(), n, "{at}"),
                Remaining(r) => assert_eq!(b.remaining(), r, "{at}"),
                Limit(l) => assert_eq!(b.limit(), l, "{at}"),
                MaxInFlight(m) => assert_eq!(b.max_in_flight(), m, "{at}"),
                Ceiling(c) => assert_eq!(b.concurrency_ceiling(), c, "{at}"),
            }
        }
    }
}

#[test]
fn retry_after_429_table() {
    let slow = PacingConfig {
        min_retry_wait_ms: 5000,
        ..PacingConfig::default()
    };
    let d = PacingConfig::default();
    let m = RESET_MARGIN_MS;
    let cases: Vec<(&str, RateLimitHeaders, PacingConfig, i64)> = vec![
        ("concurrency 429", hdr(0, 0, S0 + 60, T0), d, T0 + 1000),
        (
            "concurrency 429, slower retry",
            hdr(0, 0, S0 + 60, T0),
            slow,
            T0 + 5000,
        ),
        (
            "clocks in sync",
            hdr(10, 0, S0 + 60, T0),
            d,
            T0 + 60_000 + m,
        ),
        (
            "server 30 s behind",
            hdr(10, 0, S0 + 60, T0 - 30_000),
            d,
            T0 + 90_000 + m,
        ),
        (
            "server 45 s ahead",
            hdr(10, 0, S0 + 60, T0 + 45_000),
            d,
            T0 + 15_000 + m,
        ),
        ("no Date", no_date(10, 0, S0 + 60), d, T0 + 60_000 + m),
        ("reset now", hdr(10, 0, S0, T0), d, T0 + m),
        ("reset in the past", hdr(10, 0, S0 - 5, T0), d, T0 + 1000),
        (
            "reset an hour away: capped",
            hdr(10, 0, S0 + 3600, T0),
            d,
            T0 + 120_000,
        ),
        ("no headers", RateLimitHeaders::default(), d, T0 + 1000),
        (
            "absurd reset",
            RateLimitHeaders {
                reset_epoch_s: Some(u64::MAX),
                ..Default::default()
            },
            d,
            T0 + 1000,
        ),
    ];
    for (label, h, cfg, want) in cases {
        assert_eq!(retry_after_429(&h, T0, &cfg), want, "case {label}");
    }
}

#[test]
fn backoff_table() {
    const CASES: &[(u32, u64, u64, u64)] = &[
        (0, 100, 10_000, 100),
        (1, 100, 10_000, 200),
        (3, 100, 10_000, 800),
        (6, 100, 10_000, 6400),
        (7, 100, 10_000, 10_000),
        (63, 100, 10_000, 10_000),
        (64, 100, 10_000, 10_000),
        (u32::MAX, 100, 10_000, 10_000),
        (62, 4, u64::MAX, u64::MAX),
        (0, 0, 10, 0),
        (5, 100, 50, 50),
    ];
    for (attempt, base, cap, want) in CASES {
        assert_eq!(
            backoff_5xx(*attempt, *base, *cap),
            *want,
            "case attempt {attempt} base {base} cap {cap}"
        );
    }
}

#[test]
fn budget_and_floor_tables() {
    const BUDGETS: &[(u64, f64, u64)] = &[
        (600, 0.5, 300),
        (601, 0.5, 300),
        (600, 1.0, 600),
        (600, 2.0, 600),
        (600, 0.0, 6),
        (600, -1.0, 6),
        (600, f64::NAN, 300),
        (1, 0.5, 1),
        (0, 0.5, 0),
        (3, 0.9, 2),
    ];
    for (limit, share, want) in BUDGETS {
        assert_eq!(
            window_budget(*limit, *share),
            *want,
            "budget case {limit} x {share}"
        );
    }
    const FLOORS: &[(u64, u64, u64, f64, u64)] = &[
        (0, 600, 60_000, 0.5, 0),
        (1, 600, 60_000, 0.5, 0),
        (300, 600, 60_000, 0.5, 0),
        (301, 600, 60_000, 0.5, 60_000),
        (600, 600, 60_000, 0.5, 60_000),
        (601, 600, 60_000, 0.5, 120_000),
        (600, 600, 60_000, 1.0, 0),
        (1000, 100, 60_000, 1.0, 540_000),
        (10, 1, 60_000, 0.5, 540_000),
        (10, 0, 60_000, 0.5, u64::MAX),
        (10, 100, 60_000, f64::NAN, 0),
        (10, 100, 60_000, 0.0, 540_000),
        (u64::MAX, 1, u64::MAX, 1.0, u64::MAX),
    ];
    for (requests, limit, window, share, want) in FLOORS {
        assert_eq!(
            floor_ms(*requests, *limit, *window, *share),
            *want,
            "floor case {requests} reqs, {limit}/{window} ms, share {share}"
        );
    }
}

#[test]
fn config_defaults() {
    let c = PacingConfig::default();
    assert_eq!(
        (
            c.share,
            c.max_concurrency,
            c.min_retry_wait_ms,
            c.max_wait_ms
        ),
        (0.5, 16, 1000, 120_000)
    );
}

/// A fixed-window server shared with another tool; `skew_ms` is server minus local.
struct SimServer {
    limit: u64,
    window_ms: i64,
    skew_ms: i64,
    other_per_window: u64,
    window: i64,
    used: u64,
    ours: u64,
    max_ours: u64,
    rejected: u64,
}

impl SimServer {
    fn handle(&mut self, local_ms: i64) -> (u16, RateLimitHeaders) {
        let server_ms = local_ms + self.skew_ms;
        let window = server_ms.div_euclid(self.window_ms);
        if window != self.window {
            self.window = window;
            self.used = self.other_per_window;
            self.ours = 0;
        }
        let reset_s = ((window + 1) * self.window_ms / 1000) as u64;
        let date_ms = server_ms.div_euclid(1000) * 1000; // Date has 1 s resolution
        if self.used >= self.limit {
            self.rejected += 1;
            return (429, hdr(self.limit, 0, reset_s, date_ms));
        }
        self.used += 1;
        self.ours += 1;
        self.max_ours = self.max_ours.max(self.ours);
        (
            200,
            hdr(self.limit, self.limit - self.used, reset_s, date_ms),
        )
    }
}

#[test]
fn simulated_runs_respect_share_and_floor() {
    // (label, requests, limit, share, skew ms, other tool per window, latency ms)
    type Case = (&'static str, u64, u64, f64, i64, u64, i64);
    const CASES: &[Case] = &[
        ("in sync, alone", 500, 100, 0.5, 0, 0, 20),
        ("server 37.5 s ahead", 500, 100, 0.5, 37_500, 0, 20),
        ("server 12.3 s behind", 500, 100, 0.5, -12_300, 0, 20),
        ("other tool uses 30 per window", 300, 100, 0.5, 0, 30, 20),
        ("other tool uses 70 per window", 200, 100, 0.5, 0, 70, 20),
        ("share 1.0", 500, 100, 1.0, 0, 0, 20),
        ("share 0.25, slow responses", 200, 100, 0.25, 5_000, 0, 900),
    ];
    for (label, requests, limit, share, skew, other, latency) in CASES {
        let cfg = cfg(*share, 4);
        let window_ms = 60_000;
        let mut server = SimServer {
            limit: *limit,
            window_ms,
            skew_ms: *skew,
            other_per_window: *other,
            window: i64::MIN,
            used: 0,
            ours: 0,
            max_ours: 0,
            rejected: 0,
        };
        let mut b = Bucket::new();
        // Start at the beginning of a server window so the floor is comparable.
        let start = (T0 + skew).div_euclid(window_ms) * window_ms - skew;
        let mut now = start;
        let mut in_flight: Vec<i64> = Vec::new(); // completion times
        let mut done = 0;
        let mut steps = 0;
        while done < *requests {
            steps += 1;
            assert!(steps < 1_000_000, "case {label}: no progress");
            // Complete requests whose time has come, in order.
            in_flight.sort_unstable();
            while in_flight.first().is_some_and(|t| *t <= now) {
                let t = in_flight.remove(0);
                let (status, h) = server.handle(t - latency / 2);
                b.on_response(status, &h, t);
                b.on_done();
                if status == 200 {
                    done += 1;
                }
            }
            if (done + in_flight.len() as u64) >= *requests {
                now = in_flight.first().copied().unwrap_or(now);
                continue;
            }
            match b.decide(now, &cfg) {
                Decision::SendNow => {
                    b.on_send(now);
                    in_flight.push(now + latency);
                }
                Decision::WaitUntil { local_ms, .. } => {
                    assert!(local_ms > now, "case {label}: wait must move time forward");
                    let next_done = in_flight.iter().min().copied().unwrap_or(i64::MAX);
                    now = local_ms.min(next_done);
                }
            }
            assert!(
                b.in_flight() <= 4,
                "case {label}: burst above max_concurrency"
            );
        }
        let budget = window_budget(*limit, *share);
        let elapsed = (now - start) as u64;
        let floor = floor_ms(*requests, *limit, window_ms as u64, *share);
        assert_eq!(server.rejected, 0, "case {label}: server answered 429");
        assert!(
            server.max_ours <= budget,
            "case {label}: {} > budget {budget}",
            server.max_ours
        );
        // Beyond our budget, we leave limit*(1-share) to others; only the one
        // probe that learns each new window may dip into it.
        let reserve = (*limit as f64 * (1.0 - share)).ceil() as u64;
        let allowed = budget.min(limit.saturating_sub(other + reserve)).max(1);
        assert!(
            server.max_ours <= allowed,
            "case {label}: {} of ours in one window, allowed {allowed}",
            server.max_ours
        );
        eprintln!("{label}: {elapsed} ms (floor {floor} ms)");
        assert!(
            elapsed >= floor,
            "case {label}: {elapsed} ms < floor {floor} ms"
        );
        if *other == 0 {
            // Alone, the bucket should get within one window of the floor.
            assert!(
                elapsed <= floor + window_ms as u64,
                "case {label}: {elapsed} ms, floor {floor} ms"
            );
        }
    }
}

#[test]
fn whole_second_dates_converge_on_the_smallest_offset() {
    // The server clock equals the local clock; `Date` truncates to whole seconds, so
    // each response alone over-estimates the offset by its sub-second part.
    type Case = (&'static str, &'static [i64], i64);
    let cases: &[Case] = &[
        ("one late-in-second answer", &[900], 900),
        ("the smallest of several wins", &[900, 300, 650], 300),
        ("an exact answer ends the doubt", &[700, 0, 400], 0),
    ];
    for (name, sub_second, want_offset) in cases {
        let mut b = Bucket::new();
        let reset_s = S0 + 60;
        for (i, frac) in sub_second.iter().enumerate() {
            let local = T0 + i as i64 * 1000 + frac;
            let date = T0 + i as i64 * 1000; // truncated to the second
            b.on_send(local - 1);
            b.on_response(200, &hdr(600, 590, reset_s, date), local);
            b.on_done();
        }
        assert_eq!(
            b.reset_local_ms(),
            Some(reset_s as i64 * 1000 + want_offset),
            "{name}"
        );
    }
}

/// A server that refuses (with an immediate concurrency 429) any request arriving
/// while `limit` of ours are in flight, and answers the others after `latency_ms`.
/// Returns (concurrency 429s, elapsed ms) for `requests` successful answers.
fn run_against_concurrency_limit(requests: u64, limit: u64, latency_ms: i64) -> (u64, i64) {
    let cfg = cfg(1.0, 16);
    let mut b = Bucket::new();
    let mut now = T0;
    // (completion time, refused) of each request in flight.
    let mut in_flight: Vec<(i64, bool)> = Vec::new();
    let (mut done, mut refused, mut steps) = (0u64, 0u64, 0u64);
    while done < requests {
        steps += 1;
        assert!(steps < 10_000_000, "no progress");
        in_flight.sort_unstable();
        while in_flight.first().is_some_and(|(t, _)| *t <= now) {
            let (t, was_refused) = in_flight.remove(0);
            if was_refused {
                b.on_response(429, &hdr(0, 0, S0 + 60, t), t);
            } else {
                b.on_response(200, &RateLimitHeaders::default(), t);
                done += 1;
            }
            b.on_done();
        }
        match b.decide(now, &cfg) {
            Decision::SendNow if done + (in_flight.len() as u64) < requests => {
                b.on_send(now);
                let accepted = in_flight.iter().filter(|(_, r)| !r).count() as u64;
                if accepted >= limit {
                    refused += 1;
                    in_flight.push((now + 1, true));
                } else {
                    in_flight.push((now + latency_ms, false));
                }
            }
            Decision::SendNow => now = in_flight.first().map_or(now + 1, |(t, _)| *t),
            Decision::WaitUntil { local_ms, .. } => {
                let next = in_flight.first().map_or(i64::MAX, |(t, _)| *t);
                now = local_ms.min(next).max(now + 1);
            }
        }
    }
    (refused, now - T0)
}

#[test]
fn a_concurrency_limit_is_learned_once_and_probed_rarely() {
    // (label, requests, server's in-flight limit, latency ms)
    type Case = (&'static str, u64, u64, i64);
    const CASES: &[Case] = &[
        ("limit 8, a short run", 2_500, 8, 20),
        ("limit 8, a long run", 40_000, 8, 20),
        ("limit 5, slow answers", 5_000, 5, 100),
        ("limit 1", 500, 1, 20),
    ];
    for (label, requests, limit, latency) in CASES {
        let (refused, elapsed) = run_against_concurrency_limit(*requests, *limit, *latency);
        // The first burst (up to INITIAL_MAX_IN_FLIGHT in flight) is refused above
        // the limit, or one refusal when slow start reaches it; after that, at most
        // one refusal per try above the ceiling, and the tries back off
        // exponentially from CONCURRENCY_PROBE_MS.
        let burst = INITIAL_MAX_IN_FLIGHT.saturating_sub(*limit).max(1);
        let mut tries = 0;
        let mut at = CONCURRENCY_PROBE_MS;
        let mut interval = CONCURRENCY_PROBE_MS;
        while at <= elapsed {
            tries += 1;
            interval *= 2;
            at += interval;
        }
        eprintln!("{label}: {refused} concurrency 429s in {elapsed} ms");
        assert!(
            refused <= burst + tries,
            "case {label}: {refused} concurrency 429s (burst {burst}, tries {tries})"
        );
        // Throughput stays close to the limit: each episode costs one retry wait.
        let ideal = requests.div_ceil(*limit) as i64 * latency;
        let waits = (tries as i64 + 1) * PacingConfig::default().min_retry_wait_ms as i64;
        assert!(
            elapsed <= ideal + ideal / 10 + waits,
            "case {label}: {elapsed} ms, ideal {ideal} ms"
        );
    }
}
