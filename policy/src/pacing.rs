//! Rate-limit pacing: when the host may send the next request of an endpoint
//! family, given what the upstream's rate-limit headers have told it.
//!
//! Okta-style APIs limit each endpoint family (e.g. `GET /api/v1/users/{id}`) to
//! `X-Rate-Limit-Limit` requests per window ending at `X-Rate-Limit-Reset`
//! (epoch seconds, on the *server's* clock) and report `X-Rate-Limit-Remaining`.
//! The bucket is shared with every other tool using the same org, so a
//! [`Bucket`] uses at most a `share` of each window and also keeps at least
//! `limit * (1 - share)` of the server's remaining budget untouched.
//!
//! Okta also limits how many requests of an org may be in flight, and answers one
//! too many with a 429 whose limit and remaining are both 0. A bucket starts with
//! [`INITIAL_MAX_IN_FLIGHT`] and climbs slowly from there; a concurrency 429 halves
//! its in-flight cap once per congestion episode, learns the ceiling the server
//! accepts, climbs back to it one slot per `cap` answers, and tries one more than
//! the ceiling only every [`CONCURRENCY_PROBE_MS`] (doubling after each refusal):
//! additive increase, multiplicative decrease.
//!
//! Everything here is pure: times are local epoch milliseconds passed in by the
//! caller, and the server's reset is converted to the local clock using the
//! offset between the response's `Date` header and the local receive time.
//!
//! Call order for one request: [`Bucket::decide`] until it says
//! [`Decision::SendNow`], then [`Bucket::on_send`] (under the same lock),
//! [`Bucket::on_response`] when the response arrives (not on transport errors),
//! and [`Bucket::on_done`] once the request is finished either way.

use std::time::UNIX_EPOCH;

/// Added to a converted reset time before the next window is used, to absorb
/// clock jitter and the one-second resolution of `Date`.
pub const RESET_MARGIN_MS: i64 = 100;

/// How soon to re-decide when waiting for an in-flight request to finish. Callers
/// should also re-decide as soon as a request of the family completes.
pub const RECHECK_MS: i64 = 50;

/// The smallest usable share; smaller (or non-positive) shares are raised to it.
pub const MIN_SHARE: f64 = 0.01;

/// A family starts with at most this many requests in flight and climbs one slot
/// per that many answers towards `max_concurrency` (slow start), so that an unknown
/// concurrency limit below `max_concurrency` costs one 429 rather than a burst.
pub const INITIAL_MAX_IN_FLIGHT: u64 = 8;

/// How long a family runs at its learned concurrency ceiling before it tries one
/// request more in flight. Doubled each time that try is refused (up to
/// [`MAX_CONCURRENCY_PROBE_MS`]), back to this once a try succeeds.
pub const CONCURRENCY_PROBE_MS: i64 = 10_000;

/// The longest wait between tries above the learned concurrency ceiling.
pub const MAX_CONCURRENCY_PROBE_MS: i64 = 600_000;

/// The rate-limit headers of one response. Unparseable values are `None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RateLimitHeaders {
    /// `X-Rate-Limit-Limit`: requests allowed per window.
    pub limit: Option<u64>,
    /// `X-Rate-Limit-Remaining`: requests left in the current window.
    pub remaining: Option<u64>,
    /// `X-Rate-Limit-Reset`: end of the window, epoch seconds (server clock).
    pub reset_epoch_s: Option<u64>,
    /// `Date`: the server's clock when it answered, epoch milliseconds.
    pub server_date_ms: Option<i64>,
}

impl RateLimitHeaders {
    /// Reads the headers through `get`, a (case-insensitive) header lookup.
    pub fn parse(get: impl Fn(&str) -> Option<String>) -> RateLimitHeaders {
        let num = |name: &str| get(name).and_then(|v| v.trim().parse::<u64>().ok());
        let date = get("Date").and_then(|v| {
            let t = httpdate::parse_http_date(v.trim()).ok()?;
            let ms = t.duration_since(UNIX_EPOCH).ok()?.as_millis();
            i64::try_from(ms).ok()
        });
        RateLimitHeaders {
            limit: num("X-Rate-Limit-Limit"),
            remaining: num("X-Rate-Limit-Remaining"),
            reset_epoch_s: num("X-Rate-Limit-Reset"),
            server_date_ms: date,
        }
    }

    /// Okta's concurrency-limit answer: a 429 with limit and remaining both 0.
    pub fn is_concurrency_limit(&self) -> bool {
        self.limit == Some(0) && self.remaining == Some(0)
    }

    /// Local minus server clock, from `Date`; 0 (clocks assumed in sync) without it.
    pub fn clock_offset_ms(&self, now_local_ms: i64) -> i64 {
        self.server_date_ms
            .map_or(0, |d| now_local_ms.saturating_sub(d))
    }

    /// The window's reset on the local clock.
    pub fn reset_local_ms(&self, now_local_ms: i64) -> Option<i64> {
        let reset = self.reset_epoch_s?;
        let reset_ms = i64::try_from(reset).ok()?.checked_mul(1000)?;
        Some(reset_ms.saturating_add(self.clock_offset_ms(now_local_ms)))
    }
}

/// Literal path words that the id heuristics would otherwise take for ids.
const KNOWN_WORDS: &[&str] = &[
    "oauth2",
    "saml2",
    "authorizationServers",
    "identitySources",
    "trustedOrigins",
    "linkedObjects",
    "inlineHooks",
    "eventHooks",
    "emailDomains",
    "customDomains",
    "roleAssignments",
    "privilegedResources",
    "pushProviders",
    "resourceSets",
];

/// Whether a path segment looks like an identifier rather than a fixed word.
fn is_id_like(seg: &str) -> bool {
    if KNOWN_WORDS.contains(&seg) {
        return false;
    }
    // API versions: v1, v2, ...
    if let Some(n) = seg.strip_prefix('v') {
        if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
    }
    let has_digit = seg.bytes().any(|b| b.is_ascii_digit());
    let odd_char = !seg
        .bytes()
        .all(|b| b.is_ascii_alphabetic() || b == b'-' || b == b'_');
    let mixed_case =
        seg.bytes().any(|b| b.is_ascii_uppercase()) && seg.bytes().any(|b| b.is_ascii_lowercase());
    has_digit || odd_char || (seg.len() > 12 && mixed_case)
}

/// The endpoint-family key of a request: method plus the path without query, with
/// id-like segments replaced by `{id}` (`GET /api/v1/users/{id}/factors`). A full
/// URL is reduced to its path first.
pub fn bucket_key(method: &str, path: &str) -> String {
    let path = match path.find("://") {
        Some(i) => {
            let after = &path[i + 3..];
            after.find('/').map_or("", |j| &after[j..])
        }
        None => path,
    };
    let path = path.split(['?', '#']).next().unwrap_or("");
    let segments: Vec<&str> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| if is_id_like(s) { "{id}" } else { s })
        .collect();
    format!(
        "{} /{}",
        method.trim().to_ascii_uppercase(),
        segments.join("/")
    )
}

/// Pacing settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PacingConfig {
    /// Fraction of each bucket this host may use (0.5 leaves half for other tools).
    pub share: f64,
    /// Most requests of one family in flight at once.
    pub max_concurrency: usize,
    /// Shortest wait after a 429 (and the wait after a concurrency 429).
    pub min_retry_wait_ms: u64,
    /// Longest any single wait may be.
    pub max_wait_ms: u64,
}

impl Default for PacingConfig {
    fn default() -> Self {
        PacingConfig {
            share: 0.5,
            max_concurrency: 16,
            min_retry_wait_ms: 1000,
            max_wait_ms: 120_000,
        }
    }
}

impl PacingConfig {
    /// `share` clamped to `[MIN_SHARE, 1.0]`; NaN means the default 0.5.
    pub fn effective_share(&self) -> f64 {
        effective_share(self.share)
    }
}

fn effective_share(share: f64) -> f64 {
    if share.is_nan() {
        0.5
    } else {
        share.clamp(MIN_SHARE, 1.0)
    }
}

/// Requests per window this host may use: `floor(limit * share)`, at least 1 when
/// the limit is positive so that a small bucket still makes progress.
pub fn window_budget(limit: u64, share: f64) -> u64 {
    if limit == 0 {
        return 0;
    }
    ((limit as f64 * effective_share(share)).floor() as u64).clamp(1, limit)
}

/// Why the caller must wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WaitReason {
    /// One request is out to learn the family's limit (first use or new window).
    Probe,
    /// The family already has its maximum number of requests in flight.
    ConcurrencyCap,
    /// This host's share of the current window is used up.
    WindowBudget,
    /// The server's remaining budget is down to the part kept for other tools.
    SharedReserve,
    /// A 429 said to wait for the window's reset.
    RateLimited,
    /// A concurrency 429 (limit 0, remaining 0): back off briefly.
    ConcurrencyLimited,
}

/// What to do with the next request of a family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    SendNow,
    /// Re-decide at `local_ms` (or earlier, when a request of the family finishes).
    WaitUntil {
        local_ms: i64,
        reason: WaitReason,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Window {
    reset_epoch_s: u64,
    reset_local_ms: i64,
    remaining: u64,
}

impl Window {
    fn expired(&self, now_local_ms: i64) -> bool {
        now_local_ms >= self.reset_local_ms.saturating_add(RESET_MARGIN_MS)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Hold {
    since_ms: i64,
    /// The server's reset plus margin; `None` means "the minimum retry wait".
    target_ms: Option<i64>,
    reason: WaitReason,
}

/// When a hold that began at `since` ends: `target` if it is later than `since`,
/// else `since + min_retry_wait_ms`; never later than `since + max_wait_ms`.
fn hold_end(since: i64, target: Option<i64>, cfg: &PacingConfig) -> i64 {
    let min_wait = since.saturating_add(ms(cfg.min_retry_wait_ms));
    let end = match target {
        Some(t) if t > since => t,
        _ => min_wait,
    };
    end.min(since.saturating_add(ms(cfg.max_wait_ms)))
}

fn ms(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// One congestion episode: the concurrency 429s answering requests that were
/// already in flight when the first of them arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cut {
    /// Requests in flight when the episode began (the refused one included).
    in_flight: u64,
    /// Concurrency 429s in the episode so far.
    refused: u64,
    /// Requests sent since the episode began; while 0, every concurrency 429
    /// belongs to it.
    sent_since: u64,
}

/// Pacing state for one endpoint family.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bucket {
    limit: Option<u64>,
    window: Option<Window>,
    /// The newest server window seen, to tell stale responses from new windows.
    latest_reset_epoch_s: Option<u64>,
    /// Responses have carried window information (remaining and reset).
    expects_window: bool,
    responses_seen: u64,
    in_flight: u64,
    sent_in_window: u64,
    /// Lowered by concurrency 429s, raised again by successes.
    max_in_flight: Option<u64>,
    /// Successes at the current `max_in_flight`, towards the next raise.
    successes_since_cut: u64,
    /// The most in flight the server is believed to accept, learned from
    /// concurrency 429s; `max_in_flight` climbs back to it quickly and past it
    /// only one step per probe interval.
    ceiling: Option<u64>,
    /// The congestion episode of the last concurrency 429.
    cut: Option<Cut>,
    /// When `max_in_flight` last rose to or past the ceiling.
    raised_at_ms: i64,
    /// The current wait between tries above the ceiling (0 = the base).
    probe_interval_ms: i64,
    hold: Option<Hold>,
    /// The smallest local-minus-server clock offset seen. `Date` has whole seconds
    /// and truncates, and responses arrive after they were dated, so every
    /// observation over-estimates the offset; the smallest is the closest and still
    /// never early.
    clock_offset_ms: Option<i64>,
}

impl Bucket {
    pub fn new() -> Bucket {
        Bucket::default()
    }

    /// The last limit the server reported.
    pub fn limit(&self) -> Option<u64> {
        self.limit
    }

    /// The server's remaining budget in the known window, if one is known.
    pub fn remaining(&self) -> Option<u64> {
        self.window.map(|w| w.remaining)
    }

    /// The known window's reset on the local clock.
    pub fn reset_local_ms(&self) -> Option<i64> {
        self.window.map(|w| w.reset_local_ms)
    }

    pub fn in_flight(&self) -> u64 {
        self.in_flight
    }

    /// Requests sent since the current window started (as last updated).
    pub fn sent_in_window(&self) -> u64 {
        self.sent_in_window
    }

    /// The in-flight cap learned from concurrency 429s, if any.
    pub fn max_in_flight(&self) -> Option<u64> {
        self.max_in_flight
    }

    /// The most in flight the server is believed to accept, if a concurrency 429
    /// has told.
    pub fn concurrency_ceiling(&self) -> Option<u64> {
        self.ceiling
    }

    /// The window that is still current at `now`.
    fn current_window(&self, now_local_ms: i64) -> Option<&Window> {
        self.window.as_ref().filter(|w| !w.expired(now_local_ms))
    }

    /// Whether the next request of the family may go now.
    pub fn decide(&self, now_local_ms: i64, cfg: &PacingConfig) -> Decision {
        let now = now_local_ms;
        let cap_at = |t: i64| t.min(now.saturating_add(ms(cfg.max_wait_ms)));
        let wait = |local_ms: i64, reason| Decision::WaitUntil { local_ms, reason };

        if let Some(h) = self.hold {
            let end = hold_end(h.since_ms, h.target_ms, cfg);
            if now < end {
                return wait(end, h.reason);
            }
        }

        let current = self.current_window(now);
        if let (Some(limit), Some(w)) = (self.limit, current) {
            let share = cfg.effective_share();
            let next_window = cap_at(w.reset_local_ms.saturating_add(RESET_MARGIN_MS));
            if self.sent_in_window >= window_budget(limit, share) {
                return wait(next_window, WaitReason::WindowBudget);
            }
            let reserve = limit as f64 * (1.0 - share);
            if w.remaining as f64 - self.in_flight as f64 <= reserve {
                return wait(next_window, WaitReason::SharedReserve);
            }
        }

        let probing = self.responses_seen == 0 || (self.expects_window && current.is_none());
        if probing && self.in_flight >= 1 {
            return wait(now.saturating_add(RECHECK_MS), WaitReason::Probe);
        }

        let configured = cfg.max_concurrency.max(1) as u64;
        let cap = self
            .max_in_flight
            .unwrap_or(INITIAL_MAX_IN_FLIGHT)
            .clamp(1, configured);
        if self.in_flight >= cap {
            return wait(now.saturating_add(RECHECK_MS), WaitReason::ConcurrencyCap);
        }
        Decision::SendNow
    }

    /// Forgets the window once its reset (plus margin) has passed locally.
    fn roll(&mut self, now_local_ms: i64) {
        if self.window.is_some_and(|w| w.expired(now_local_ms)) {
            self.window = None;
            self.sent_in_window = 0;
        }
    }

    /// Records that a request of the family was sent.
    pub fn on_send(&mut self, now_local_ms: i64) {
        self.roll(now_local_ms);
        self.in_flight += 1;
        self.sent_in_window += 1;
        if let Some(cut) = &mut self.cut {
            cut.sent_since += 1;
        }
    }

    /// Records a response's status and rate-limit headers, received at `now_local_ms`.
    pub fn on_response(&mut self, status: u16, h: &RateLimitHeaders, now_local_ms: i64) {
        let now = now_local_ms;
        self.roll(now);
        self.responses_seen += 1;
        if h.server_date_ms.is_some() {
            let observed = h.clock_offset_ms(now);
            self.clock_offset_ms = Some(self.clock_offset_ms.map_or(observed, |o| o.min(observed)));
        }

        if status == 429 && h.is_concurrency_limit() {
            self.on_concurrency_limit(now);
            self.hold = Some(Hold {
                since_ms: now,
                target_ms: None,
                reason: WaitReason::ConcurrencyLimited,
            });
            return;
        }

        if let Some(limit) = h.limit.filter(|l| *l > 0) {
            self.limit = Some(limit);
        }
        if status == 429 {
            self.hold = Some(Hold {
                since_ms: now,
                target_ms: self
                    .reset_local(h, now)
                    .map(|r| r.saturating_add(RESET_MARGIN_MS)),
                reason: WaitReason::RateLimited,
            });
        } else {
            self.on_concurrency_success(now);
        }

        let (Some(remaining), Some(reset_s), Some(reset_local)) =
            (h.remaining, h.reset_epoch_s, self.reset_local(h, now))
        else {
            return;
        };
        self.expects_window = true;
        // A 429 means the server's budget is gone, whatever else it says.
        let remaining = if status == 429 { 0 } else { remaining };
        let fresh = Window {
            reset_epoch_s: reset_s,
            reset_local_ms: reset_local,
            remaining,
        };
        if fresh.expired(now) {
            // Reset already past: a stale answer from an old window, or a skewed
            // clock without `Date`. It says nothing about the current window.
            return;
        }
        match &mut self.window {
            Some(w) if reset_s == w.reset_epoch_s => {
                w.remaining = w.remaining.min(remaining);
                // The offset estimate only improves (shrinks), so the newest is best.
                w.reset_local_ms = w.reset_local_ms.min(reset_local);
            }
            Some(w) if reset_s < w.reset_epoch_s => {}
            Some(_) => {
                // The server started a new window before our clock said so; any
                // request still in flight may count against it.
                self.window = Some(fresh);
                self.sent_in_window = self.in_flight;
            }
            None => {
                if self.latest_reset_epoch_s.is_some_and(|l| reset_s <= l) {
                    return;
                }
                // First window, or the first answer after a local rollover: the
                // requests sent since then already count in `sent_in_window`.
                self.window = Some(fresh);
            }
        }
        self.latest_reset_epoch_s = Some(
            self.latest_reset_epoch_s
                .map_or(reset_s, |l| l.max(reset_s)),
        );
    }

    /// A concurrency 429 (multiplicative decrease). The first of an episode halves
    /// the cap and guesses the ceiling as one below what was in flight; each further
    /// 429 of the same episode (answering a request sent before the cut) lowers the
    /// ceiling by one more, without halving again. A refused try above the ceiling
    /// doubles the wait before the next try.
    fn on_concurrency_limit(&mut self, now: i64) {
        let in_flight = self.in_flight.max(1);
        match &mut self.cut {
            Some(cut) if cut.sent_since == 0 => {
                cut.refused += 1;
                let ceiling = cut.in_flight.saturating_sub(cut.refused).max(1);
                self.ceiling = Some(ceiling);
                self.max_in_flight = self.max_in_flight.map(|c| c.min(ceiling));
            }
            _ => {
                let cap = self.max_in_flight.unwrap_or(in_flight);
                let tried_above = self.ceiling.is_some_and(|c| cap > c);
                if tried_above {
                    self.probe_interval_ms =
                        (self.probe_interval().saturating_mul(2)).min(MAX_CONCURRENCY_PROBE_MS);
                }
                let ceiling = (in_flight - 1).max(1);
                self.ceiling = Some(ceiling);
                self.max_in_flight = Some((cap.min(in_flight) / 2).clamp(1, ceiling));
                self.cut = Some(Cut {
                    in_flight,
                    refused: 1,
                    sent_since: 0,
                });
            }
        }
        self.successes_since_cut = 0;
        self.raised_at_ms = now;
    }

    /// An answer that was not a 429 (additive increase): while the family uses its
    /// whole cap, one more slot per `cap` answers up to the ceiling; past it, one
    /// more only after the probe interval at the ceiling, and a try that holds for
    /// `cap` answers raises the ceiling.
    fn on_concurrency_success(&mut self, now: i64) {
        let cap = self.max_in_flight.unwrap_or(INITIAL_MAX_IN_FLIGHT);
        if self.in_flight < cap {
            // The cap did not limit anything: no evidence that more would pass.
            return;
        }
        self.successes_since_cut += 1;
        if self.successes_since_cut < cap {
            return;
        }
        let ceiling = self.ceiling.unwrap_or(u64::MAX);
        if cap > ceiling {
            // The try above the ceiling held: that many in flight pass.
            self.ceiling = Some(cap);
            self.probe_interval_ms = 0;
            self.raised_at_ms = now;
            self.successes_since_cut = 0;
            return;
        }
        if cap == ceiling && now.saturating_sub(self.raised_at_ms) < self.probe_interval() {
            return;
        }
        self.max_in_flight = Some(cap.saturating_add(1));
        self.successes_since_cut = 0;
        if cap + 1 >= ceiling {
            self.raised_at_ms = now;
        }
    }

    fn probe_interval(&self) -> i64 {
        if self.probe_interval_ms > 0 {
            self.probe_interval_ms
        } else {
            CONCURRENCY_PROBE_MS
        }
    }

    /// A response's reset on the local clock, converted with the best offset seen.
    fn reset_local(&self, h: &RateLimitHeaders, now_local_ms: i64) -> Option<i64> {
        let reset_ms = i64::try_from(h.reset_epoch_s?).ok()?.checked_mul(1000)?;
        let offset = match self.clock_offset_ms {
            Some(o) => o,
            None => h.clock_offset_ms(now_local_ms),
        };
        Some(reset_ms.saturating_add(offset))
    }

    /// Records that a request of the family finished (response read, or failed).
    pub fn on_done(&mut self) {
        self.in_flight = self.in_flight.saturating_sub(1);
    }
}

/// The local time until which to wait after a 429 answered at `now_local_ms`.
///
/// A concurrency 429 (limit and remaining 0) waits `min_retry_wait_ms`. Otherwise
/// the wait runs to the server's reset converted by the `Date` offset, plus
/// [`RESET_MARGIN_MS`]; with no reset, or a reset already past, it is
/// `min_retry_wait_ms`. Never more than `max_wait_ms`.
pub fn retry_after_429(h: &RateLimitHeaders, now_local_ms: i64, cfg: &PacingConfig) -> i64 {
    let target = if h.is_concurrency_limit() {
        None
    } else {
        h.reset_local_ms(now_local_ms)
            .map(|r| r.saturating_add(RESET_MARGIN_MS))
    };
    hold_end(now_local_ms, target, cfg)
}

/// Exponential backoff for 5xx retries: `base_ms * 2^attempt`, at most `cap_ms`.
/// Deterministic; callers wanting jitter add it themselves.
pub fn backoff_5xx(attempt: u32, base_ms: u64, cap_ms: u64) -> u64 {
    1u64.checked_shl(attempt)
        .and_then(|m| base_ms.checked_mul(m))
        .unwrap_or(u64::MAX)
        .min(cap_ms)
}

/// The least time in which `requests` requests can be sent through a bucket of
/// `limit_per_window` per `window_ms` while using only `share` of it, starting at
/// the beginning of a fresh window: each window admits [`window_budget`]
/// requests, and the first window's are sent at once. `u64::MAX` if the limit is 0.
pub fn floor_ms(requests: u64, limit_per_window: u64, window_ms: u64, share: f64) -> u64 {
    if requests == 0 {
        return 0;
    }
    let per_window = window_budget(limit_per_window, share);
    if per_window == 0 {
        return u64::MAX;
    }
    (requests.div_ceil(per_window) - 1).saturating_mul(window_ms)
}

#[cfg(test)]
mod tests;
