//! Fetches what the selected KRIs need, each thing once and shared between KRIs:
//! ACTIVE users and their factor summaries, SUSPENDED users and their app links (both
//! full or incremental refresh: an incremental run refetches only users that are new or
//! that the System Log names as changed since the last run), the last 24 h of System Log
//! events, admin-session events since the last run, and ACCESS_POLICY policies with their
//! rules. A permission gap (403) on an endpoint becomes a [`Denied`] for the data behind
//! it; anything else fatal fails the run.
//!
//! The per-user fetches stop before a batch that would not fit the run's time budget:
//! the users fetched so far stay in the cache, the others are kept as an unfinished pass
//! ([`store::Pass`]) that the next run finishes first. Until every listed user has data,
//! the KRIs built on it are not evaluated ([`SyncProgress`]).

use crate::api::models::{is, Factor, LogEvent, Policy, PolicyRule, User};
use crate::api::{
    encode_path_segment, url_with_query, ApiError, Denied, Endpoint, ListOptions, OktaClient,
    APP_LINKS, FACTORS, LOGS, POLICIES, POLICY_RULES, USERS,
};
use crate::budget::TimeBudget;
use crate::config::Config;
use crate::kris::admin_session_outliers::{AdvanceStats, SessionBook, SessionFeed};
use crate::kris::app_policy_exceptions::PolicyWithRules;
use crate::kris::failed_mfa_push::PushTally;
use crate::kris::impossible_travel::TravelTally;
use crate::kris::inactive_users_with_app_access::{AppLinksRefresh, SuspendedUser};
use crate::kris::mfa_adoption::{summarize_factors, FactorSummary, MfaPopulation, RefreshInfo};
use crate::kris::{Kri, Window, WindowFilter};
use crate::store::{self, Pass};
use crate::time::{ms_to_iso, HOUR_MS};
use kri_connector_sdk::stored_events::{EventQuery, StreamCoverage};
use kri_connector_sdk::types::{ConnectorError, Level};
use kri_connector_sdk::{Logger, StateStore, StoredEvents};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Data, or the permission gap that kept it out of reach.
pub type Got<T> = Result<T, Denied>;

/// System Log event types that can change a user's factors or status.
pub const FACTOR_CHANGE_EVENTS: &[&str] = &[
    "user.mfa.factor.activate",
    "user.mfa.factor.deactivate",
    "user.mfa.factor.reset_all",
    "user.mfa.factor.update",
    "user.mfa.factor.suspend",
    "user.mfa.factor.unsuspend",
    "user.lifecycle.activate",
    "user.lifecycle.deactivate",
    "user.lifecycle.suspend",
    "user.lifecycle.unsuspend",
    "user.lifecycle.create",
    "user.lifecycle.reactivate",
    "user.lifecycle.unlock",
    "user.lifecycle.password_reset",
    "user.lifecycle.delete.initiated",
];

/// System Log event types that can change one user's app links: the user lifecycle
/// events (as for factors), direct app assignments (target `AppUser` and/or `User`) and
/// group memberships (group assignments grant apps; target `User` and `UserGroup`).
pub const APP_ACCESS_CHANGE_EVENTS: &[&str] = &[
    "user.lifecycle.activate",
    "user.lifecycle.deactivate",
    "user.lifecycle.suspend",
    "user.lifecycle.unsuspend",
    "user.lifecycle.create",
    "user.lifecycle.reactivate",
    "user.lifecycle.unlock",
    "user.lifecycle.password_reset",
    "user.lifecycle.delete.initiated",
    "application.user_membership.add",
    "application.user_membership.remove",
    "application.user_membership.change_username",
    "application.user_membership.update",
    "group.user_membership.add",
    "group.user_membership.remove",
];

/// App-wide changes that can add or remove app links of any number of users without
/// naming them: an app (de)activated or deleted, a group assigned to or unassigned from
/// an app. Seeing one makes the run refetch every suspended user's app links.
pub const APP_WIDE_CHANGE_EVENTS: &[&str] = &[
    "application.lifecycle.activate",
    "application.lifecycle.deactivate",
    "application.lifecycle.delete",
    "group.application_assignment.add",
    "group.application_assignment.remove",
];

/// `application.user_membership.*`: their `AppUser` target names the user by app-user id
/// (`0ua…`) and app username (`alternateId`), not always by Okta user id.
const APP_MEMBERSHIP_PREFIX: &str = "application.user_membership.";

/// The filter for admin-session events.
pub const ADMIN_SESSION_FILTER: &str =
    "eventType eq \"user.session.access_admin_app\" or eventType eq \"user.session.end\"";

/// `eventType eq "a" or eventType eq "b" ...`
pub fn event_type_filter(types: &[&str]) -> String {
    types
        .iter()
        .map(|t| format!("eventType eq \"{t}\""))
        .collect::<Vec<_>>()
        .join(" or ")
}

/// The System Log URL for `(since, until]`: Okta's `since` is inclusive and `until`
/// exclusive, so `until` is moved one millisecond on; the window is also applied locally.
pub fn log_url(window: Window, filter: Option<&str>) -> String {
    let since = ms_to_iso(window.start_exclusive);
    let until = ms_to_iso(window.end_inclusive + 1);
    let mut q: Vec<(&str, &str)> = vec![
        ("since", &since),
        ("until", &until),
        ("limit", "1000"),
        ("sortOrder", "ASCENDING"),
    ];
    if let Some(f) = filter {
        q.push(("filter", f));
    }
    url_with_query("/api/v1/logs", &q)
}

pub fn users_url(status: &str) -> String {
    url_with_query(
        "/api/v1/users",
        &[
            ("filter", &format!("status eq \"{status}\"")),
            ("limit", "200"),
        ],
    )
}

/// Which data the selected KRIs need.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Needs {
    pub mfa: bool,
    pub suspended: bool,
    pub events_24h: bool,
    pub admin_sessions: bool,
    pub policies: bool,
}

impl Needs {
    pub fn of(kris: &BTreeSet<Kri>) -> Needs {
        let has = |k| kris.contains(&k);
        Needs {
            mfa: has(Kri::MfaAdoption) || has(Kri::PhishResistantMfa),
            suspended: has(Kri::InactiveUsersWithAppAccess),
            events_24h: has(Kri::ImpossibleTravel24h) || has(Kri::FailedMfaPush24h),
            admin_sessions: has(Kri::AdminSessionOutliers24h),
            policies: has(Kri::AppPolicyExceptions),
        }
    }
}

/// SUSPENDED users with their app-link counts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SuspendedData {
    pub users: Vec<SuspendedUser>,
    pub skipped: u64,
    pub refresh: AppLinksRefresh,
}

/// Ids of the users (among `ids`, logins in `by_login`, lower-cased) an app-access
/// change event names: every `User` target, and for `application.user_membership.*` the
/// `AppUser` targets, matched by id or by `alternateId` against the logins. An app
/// username that differs from the Okta login cannot be matched; real events carry the
/// `User` target as well.
pub fn app_access_changed_users(
    ev: &LogEvent,
    ids: &BTreeSet<&str>,
    by_login: &BTreeMap<String, &str>,
) -> BTreeSet<String> {
    let mut out: BTreeSet<String> = ev.target_user_ids().map(str::to_string).collect();
    let membership = ev
        .event_type
        .as_deref()
        .is_some_and(|t| t.trim().starts_with(APP_MEMBERSHIP_PREFIX));
    if membership {
        for t in ev.targets.iter().filter(|t| is(&t.target_type, "AppUser")) {
            if let Some(id) = t.id.as_deref().filter(|id| ids.contains(id)) {
                out.insert(id.to_string());
            }
            let login = t.alternate_id.as_deref().map(|a| a.trim().to_lowercase());
            if let Some(id) = login.and_then(|l| by_login.get(&l)) {
                out.insert(id.to_string());
            }
        }
    }
    out
}

/// The admin-session book after this run's events.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AdminData {
    pub book: SessionBook,
    pub stats: AdvanceStats,
}

/// Where a window's events were read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogSource {
    /// The System Log API, all of the window.
    SystemLog,
    /// The tenant's stored stream up to `until_ms` (what the stream covers), the
    /// System Log after it.
    StoredStream { until_ms: i64 },
}

impl LogSource {
    /// How the run's note and the KRI details name it.
    pub fn describe(self) -> String {
        match self {
            LogSource::SystemLog => "system log".to_string(),
            LogSource::StoredStream { until_ms } => {
                format!("stored stream until {}", ms_to_iso(until_ms))
            }
        }
    }
}

/// The two KRIs over the last 24 h of events (impossible travel, denied pushes),
/// tallied as pages of events go by: nothing of an event outlives its page.
#[derive(Debug)]
pub struct DayTallies {
    pub filter: WindowFilter,
    pub travel: TravelTally,
    pub push: PushTally,
    pub source: LogSource,
}

impl DayTallies {
    pub fn new(window: Window) -> DayTallies {
        DayTallies {
            filter: WindowFilter::new(window),
            travel: TravelTally::default(),
            push: PushTally::default(),
            source: LogSource::SystemLog,
        }
    }

    pub fn add(&mut self, ev: &LogEvent) {
        if self.filter.admit(ev) {
            self.travel.add(ev);
            self.push.add(ev);
        }
    }
}

/// Where the stored stream can stand in for the System Log over `window`: up to the
/// end of the window or of the coverage, whichever is first. `None` when the coverage
/// does not reach back to the window's start (or was never declared).
pub fn stream_part(coverage: Option<StreamCoverage>, window: Window) -> Option<Window> {
    let c = coverage?;
    if c.after_ms > window.start_exclusive || c.until_ms <= window.start_exclusive {
        return None;
    }
    Some(Window {
        start_exclusive: window.start_exclusive,
        end_inclusive: c.until_ms.min(window.end_inclusive),
    })
}

/// Stored events per page asked of the host.
const STREAM_PAGE: u32 = 1000;

/// Everything collected; `None` for data no selected KRI needs.
#[derive(Debug, Default)]
pub struct Collected {
    pub mfa: Option<Got<MfaPopulation>>,
    pub suspended: Option<Got<SuspendedData>>,
    pub events_24h: Option<Got<DayTallies>>,
    pub admin: Option<Got<AdminData>>,
    pub policies: Option<Got<Vec<PolicyWithRules>>>,
    /// Set while some ACTIVE users have no factor data yet (a pass not finished).
    pub mfa_sync: Option<SyncProgress>,
    /// Set while some SUSPENDED users have no app-link count yet.
    pub suspended_sync: Option<SyncProgress>,
    pub items_read: u64,
    pub items_skipped: u64,
    pub requests: u64,
}

/// How far a per-user refresh that ran out of time has got: `done` of `total` listed
/// users have data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncProgress {
    pub done: u64,
    pub total: u64,
    /// No pass over these users has ever completed (the first sync).
    pub first: bool,
    /// `users` or `suspended users`.
    pub population: &'static str,
}

impl SyncProgress {
    /// Why a KRI built on this data is not evaluated yet, e.g. "first sync in progress:
    /// 3,322 of 5,000 users".
    pub fn reason(&self) -> String {
        format!(
            "{} in progress: {} of {} {}",
            if self.first { "first sync" } else { "sync" },
            thousands(self.done),
            thousands(self.total),
            self.population
        )
    }
}

/// `5000` -> `5,000`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The state keys of one per-user cache's refresh bookkeeping.
struct RefreshKeys {
    cursor: &'static str,
    full_at: &'static str,
    pass: &'static str,
}

const FACTOR_KEYS: RefreshKeys = RefreshKeys {
    cursor: store::FACTORS_CURSOR,
    full_at: store::FACTORS_FULL_REFRESH_AT,
    pass: store::FACTORS_PASS,
};

const APP_LINK_KEYS: RefreshKeys = RefreshKeys {
    cursor: store::APP_LINKS_CURSOR,
    full_at: store::APP_LINKS_FULL_REFRESH_AT,
    pass: store::APP_LINKS_PASS,
};

/// Splits a permission gap (kept as data) from fatal errors.
fn gap<T>(r: Result<T, ApiError>) -> Result<Got<T>, ConnectorError> {
    match r {
        Ok(v) => Ok(Ok(v)),
        Err(ApiError::Forbidden(d)) => Ok(Err(d)),
        Err(e) => Err(e.into_connector_error()),
    }
}

pub struct Collector<'a> {
    pub client: OktaClient<'a>,
    pub state: &'a mut dyn StateStore,
    pub events: &'a mut dyn StoredEvents,
    pub log: &'a mut dyn Logger,
    pub cfg: &'a Config,
    pub now: i64,
    budget: &'a TimeBudget,
    skipped: u64,
}

impl<'a> Collector<'a> {
    pub fn new(
        client: OktaClient<'a>,
        state: &'a mut dyn StateStore,
        events: &'a mut dyn StoredEvents,
        log: &'a mut dyn Logger,
        cfg: &'a Config,
        now: i64,
        budget: &'a TimeBudget,
    ) -> Self {
        Collector {
            client,
            state,
            events,
            log,
            cfg,
            now,
            budget,
            skipped: 0,
        }
    }

    fn info(&mut self, msg: &str) {
        self.log.log(Level::Info, msg);
    }

    /// Collects what `needs` asks for.
    pub fn collect(mut self, needs: Needs) -> Result<Collected, ConnectorError> {
        let mut out = Collected::default();
        if needs.mfa {
            let (mfa, sync) = self.mfa_population()?;
            out.mfa = Some(mfa);
            out.mfa_sync = sync;
        }
        if needs.suspended {
            let (suspended, sync) = self.suspended_users()?;
            out.suspended = Some(suspended);
            out.suspended_sync = sync;
        }
        self.log_kris(needs, &mut out)?;
        if needs.policies {
            out.policies = Some(gap(self.policies())?);
        }
        out.items_read = self.client.stats.items;
        out.items_skipped = self.client.stats.skipped + self.skipped;
        out.requests = self.client.stats.requests;
        Ok(out)
    }

    /// Users of a status, every page (or the first `cap`). Users without an id are skipped.
    fn list_users(
        &mut self,
        status: &str,
        cap: Option<usize>,
    ) -> Result<(Vec<User>, bool), ApiError> {
        let stage = format!("users_{}", status.to_ascii_lowercase());
        let log = &mut *self.log;
        let listing = self.client.list_all::<User>(
            USERS,
            &users_url(status),
            ListOptions {
                max_items: cap,
                stop_on_empty_page: false,
            },
            &mut |n| log.progress(&stage, n, None),
        )?;
        let mut seen = BTreeSet::new();
        let mut users = Vec::with_capacity(listing.items.len());
        for u in listing.items {
            match u.id.as_deref() {
                Some(id) if !id.is_empty() && seen.insert(id.to_string()) => users.push(u),
                _ => self.skipped += 1,
            }
        }
        Ok((users, listing.truncated))
    }

    /// System Log events of `window`, each page until `next` ends (bounded by `until`).
    fn read_log(
        &mut self,
        window: Window,
        filter: Option<&str>,
        stage: &str,
    ) -> Result<Vec<LogEvent>, ApiError> {
        let url = log_url(window, filter);
        let log = &mut *self.log;
        let listing = self.client.list_all::<LogEvent>(
            LOGS,
            &url,
            ListOptions {
                max_items: None,
                stop_on_empty_page: true,
            },
            &mut |n| log.progress(stage, n, None),
        )?;
        self.skipped += listing.skipped;
        Ok(listing.items)
    }

    /// Per-user lists fetched in batches; 404s (the object vanished) come back as `None`.
    /// With `bounded`, a batch starts only while the time budget still fits one (twice
    /// the longest so far): the results are then those of a prefix of `urls`.
    fn batched<T: crate::api::ListItem>(
        &mut self,
        ep: Endpoint,
        urls: &[String],
        follow_pages: bool,
        stage: &str,
        bounded: bool,
    ) -> Result<Vec<Option<Vec<T>>>, ApiError> {
        let batch_size = self.cfg.factor_batch_size.max(1);
        let total = urls.len() as u64;
        let mut out = Vec::with_capacity(urls.len());
        let mut longest_ms = 0;
        for chunk in urls.chunks(batch_size) {
            if bounded && !self.budget.fits(longest_ms) {
                let msg = format!(
                    "{stage}: the run's time budget is nearly spent after {} ms; {} of {total} \
                     fetched, the next run goes on with the rest",
                    self.budget.elapsed_ms(),
                    out.len()
                );
                self.info(&msg);
                break;
            }
            let started = self.budget.elapsed_ms();
            let results = self.client.get_lists_batched::<T>(
                ep,
                chunk,
                batch_size,
                follow_pages,
                &mut |_, _| {},
            )?;
            longest_ms = longest_ms.max(self.budget.elapsed_ms().saturating_sub(started));
            for r in results {
                match r {
                    Ok(items) => out.push(Some(items)),
                    Err(ApiError::NotFound { .. }) => {
                        self.skipped += 1;
                        out.push(None);
                    }
                    Err(e) => return Err(e),
                }
            }
            self.log.progress(stage, out.len() as u64, Some(total));
        }
        Ok(out)
    }

    /// Why this run must refresh a per-user cache fully, if it must: forced, nothing
    /// stored, the last full refresh too old, stored times in the future, or unreadable
    /// shards.
    fn full_refresh_reason(
        &self,
        full_at: Option<i64>,
        cursor: Option<i64>,
        unreadable_shards: u64,
    ) -> Option<String> {
        let interval = self.cfg.full_refresh_interval_hours as i64 * HOUR_MS;
        match (full_at, cursor) {
            _ if self.cfg.force_full_refresh => Some("force_full_refresh".to_string()),
            (None, _) | (_, None) => Some("no earlier refresh stored".to_string()),
            (Some(at), _) if self.now - at >= interval => Some(format!(
                "last full refresh is older than {} h",
                self.cfg.full_refresh_interval_hours
            )),
            (Some(at), Some(c)) if at > self.now || c > self.now => {
                Some("stored refresh times are in the future".to_string())
            }
            _ if unreadable_shards > 0 => Some("stored summaries unreadable".to_string()),
            _ => None,
        }
    }

    /// System Log events of `(cursor, now]` whose type is one of `types`, for an
    /// incremental refresh; `Ok(Err(reason))` when the log cannot be read (the caller then
    /// refreshes fully instead).
    fn change_events(
        &mut self,
        cursor: i64,
        types: &[&str],
        stage: &str,
        what: &str,
    ) -> Result<Result<Vec<LogEvent>, String>, ConnectorError> {
        let window = Window {
            start_exclusive: cursor,
            end_inclusive: self.now,
        };
        let filter = event_type_filter(types);
        match self.read_log(window, Some(&filter), stage) {
            Ok(events) => Ok(Ok(events
                .into_iter()
                .filter(|ev| ev.published_ms().is_none_or(|ms| window.contains(ms)))
                .collect())),
            Err(ApiError::Forbidden(d)) => {
                self.log.log(
                    Level::Warn,
                    &format!(
                        "cannot read the System Log for {what} ({}); doing a full refresh",
                        d.reason()
                    ),
                );
                Ok(Err(format!(
                    "System Log not readable for changes (missing {})",
                    d.permission
                )))
            }
            Err(e) => Err(e.into_connector_error()),
        }
    }

    /// Which users' per-user data (`/api/v1/users/{id}/<resource>`) to read this run,
    /// and the URLs: everyone on a full refresh, otherwise the users an unfinished pass
    /// left (`pending`), those the System Log names as changed and those with nothing
    /// stored. Logs the plan.
    #[allow(clippy::too_many_arguments)]
    fn refetch_plan<'ids, V>(
        &mut self,
        ids: &[&'ids str],
        full: bool,
        changed: &BTreeSet<String>,
        pending: Option<&BTreeSet<String>>,
        stored: &BTreeMap<String, V>,
        resource: &str,
        population: &str,
    ) -> (Vec<&'ids str>, Vec<String>) {
        let to_fetch: Vec<&str> = ids
            .iter()
            .copied()
            .filter(|id| {
                full || changed.contains(*id)
                    || !stored.contains_key(*id)
                    || pending.is_some_and(|p| p.contains(*id))
            })
            .collect();
        self.info(&format!(
            "{resource} refresh {}: fetching {resource} of {} of {} {population}{}",
            if full { "full" } else { "incremental" },
            to_fetch.len(),
            ids.len(),
            if pending.is_some() {
                " (continuing an unfinished refresh)"
            } else {
                ""
            }
        ));
        let urls = to_fetch
            .iter()
            .map(|id| format!("/api/v1/users/{}/{resource}", encode_path_segment(id)))
            .collect();
        (to_fetch, urls)
    }

    /// Ends a per-user refresh whose cache was saved (`saved`). With users left in
    /// `rest` (the time budget ran out) it records them as the unfinished pass;
    /// otherwise it drops the pass and, after a full refresh, records when that began.
    /// Either way the log cursor moves to now. When any of it cannot be stored the KRIs
    /// still land, but the cache is not trusted next time: the full-refresh time is
    /// forgotten, so the next run refetches `redo`.
    fn settle_refresh(
        &mut self,
        saved: Result<u64, ConnectorError>,
        keys: &RefreshKeys,
        continuing: Option<&Pass>,
        full: bool,
        rest: BTreeSet<String>,
        redo: &str,
    ) {
        let started_at = continuing.map_or(self.now, |p| p.started_at);
        let full = full || continuing.is_some_and(|p| p.full);
        let now = self.now;
        let state = &mut *self.state;
        let recorded = saved.and_then(|_| {
            let finished = rest.is_empty();
            if finished {
                state.delete(keys.pass);
            } else {
                let pass = Pass {
                    started_at,
                    full,
                    remaining: rest,
                };
                store::save_pass(state, keys.pass, &pass)?;
            }
            store::set_ms(state, keys.cursor, now)?;
            match full && finished {
                true => store::set_ms(state, keys.full_at, started_at),
                false => Ok(()),
            }
        });
        if let Err(e) = recorded {
            self.log
                .log(Level::Warn, &format!("{e}; the next run refetches {redo}"));
            self.state.delete(keys.full_at);
        }
    }

    /// Why a refresh is what it is: the full-refresh reason, or the unfinished pass it
    /// continues.
    fn refresh_reason(full_reason: Option<String>, continuing: Option<&Pass>) -> Option<String> {
        full_reason.or_else(|| {
            continuing.map(|p| {
                format!(
                    "continuing the refresh begun at {} ({} users left)",
                    ms_to_iso(p.started_at),
                    thousands(p.remaining.len() as u64)
                )
            })
        })
    }

    fn mfa_population(
        &mut self,
    ) -> Result<(Got<MfaPopulation>, Option<SyncProgress>), ConnectorError> {
        let cap = self.cfg.user_sample_cap;
        let (users, truncated) = match gap(self.list_users("ACTIVE", cap))? {
            Ok(v) => v,
            Err(d) => return Ok((Err(d), None)),
        };
        let ids: Vec<String> = users.iter().filter_map(|u| u.id.clone()).collect();
        self.info(&format!(
            "listed {} ACTIVE users{}",
            ids.len(),
            if truncated {
                " (sample cap reached)"
            } else {
                ""
            }
        ));

        // Full, incremental, or the rest of an unfinished pass?
        let stored = store::load_factors(self.state, self.log);
        let full_at = store::get_ms(self.state, store::FACTORS_FULL_REFRESH_AT);
        let cursor = store::get_ms(self.state, store::FACTORS_CURSOR);
        let pass = store::load_pass(self.state, self.log, store::FACTORS_PASS);
        let mut full_reason = match pass {
            Some(_) => None,
            None => self.full_refresh_reason(full_at, cursor, stored.unreadable_shards),
        };
        let mut changed: BTreeSet<String> = BTreeSet::new();
        if full_reason.is_none() {
            let since = cursor
                .or(pass.as_ref().map(|p| p.started_at))
                .unwrap_or(self.now);
            match self.change_events(
                since,
                FACTOR_CHANGE_EVENTS,
                "factor_changes",
                "factor changes",
            )? {
                Ok(events) => {
                    for ev in &events {
                        changed.extend(ev.target_user_ids().map(str::to_string));
                    }
                }
                // An unfinished pass goes on: its users are fetched either way.
                Err(_) if pass.is_some() => {}
                Err(reason) => full_reason = Some(reason),
            }
        }
        let full = full_reason.is_some();
        let continuing = pass.as_ref().filter(|_| !full);
        let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let (to_fetch, urls) = self.refetch_plan(
            &id_refs,
            full,
            &changed,
            continuing.map(|p| &p.remaining),
            &stored.summaries,
            "factors",
            "users",
        );
        let fetched = match gap(self.batched::<Factor>(FACTORS, &urls, true, "factors", true))? {
            Ok(v) => v,
            Err(d) => return Ok((Err(d), None)),
        };
        let fetched_count = fetched.len();
        let rest: BTreeSet<String> = to_fetch[fetched_count..]
            .iter()
            .map(|id| id.to_string())
            .collect();
        let mut fresh: BTreeMap<&str, Option<FactorSummary>> = BTreeMap::new();
        for (id, factors) in to_fetch.iter().zip(fetched) {
            fresh.insert(id, factors.map(|f| summarize_factors(&f)));
        }
        let mut summaries = Vec::with_capacity(ids.len());
        let mut keep: BTreeMap<String, FactorSummary> = BTreeMap::new();
        let mut vanished = 0u64;
        let mut reused = 0u64;
        let mut missing = 0u64;
        for id in &ids {
            let s = match fresh.get(id.as_str()) {
                Some(Some(s)) => *s,
                Some(None) => {
                    vanished += 1;
                    continue;
                }
                None => match stored.summaries.get(id) {
                    Some(s) => {
                        reused += 1;
                        *s
                    }
                    None => {
                        missing += 1;
                        continue;
                    }
                },
            };
            summaries.push(s);
            keep.insert(id.clone(), s);
        }
        let saved = store::save_factors(self.state, &stored, &keep);
        let mode = if full || continuing.is_some_and(|p| p.full) {
            "full"
        } else {
            "incremental"
        };
        let reason = Self::refresh_reason(full_reason, continuing);
        self.settle_refresh(
            saved,
            &FACTOR_KEYS,
            continuing,
            full,
            rest,
            "every user's factors",
        );
        let sync = (missing > 0).then(|| SyncProgress {
            done: summaries.len() as u64,
            total: summaries.len() as u64 + missing,
            first: full_at.is_none(),
            population: "users",
        });
        Ok((
            Ok(MfaPopulation {
                summaries,
                sample_cap: cap,
                truncated,
                users_skipped: vanished,
                refresh: RefreshInfo {
                    mode,
                    reason,
                    factors_fetched: fetched_count as u64,
                    reused,
                    changed_in_log: changed.len() as u64,
                },
            }),
            sync,
        ))
    }

    /// SUSPENDED users and their app-link counts. Like factors, the counts are cached
    /// in state: an incremental run fetches `appLinks` only for suspended users without a
    /// stored count or named by an app-access change event since the last run (all of
    /// them after an app-wide change); a full run fetches every suspended user's links.
    fn suspended_users(
        &mut self,
    ) -> Result<(Got<SuspendedData>, Option<SyncProgress>), ConnectorError> {
        let (users, _) = match gap(self.list_users("SUSPENDED", None))? {
            Ok(v) => v,
            Err(d) => return Ok((Err(d), None)),
        };
        let ids: Vec<&str> = users.iter().filter_map(|u| u.id.as_deref()).collect();

        // Full, incremental, or the rest of an unfinished pass?
        let stored = store::load_app_links(self.state, self.log);
        let full_at = store::get_ms(self.state, store::APP_LINKS_FULL_REFRESH_AT);
        let cursor = store::get_ms(self.state, store::APP_LINKS_CURSOR);
        let pass = store::load_pass(self.state, self.log, store::APP_LINKS_PASS);
        let mut full_reason = match pass {
            Some(_) => None,
            None => self.full_refresh_reason(full_at, cursor, stored.unreadable_shards),
        };
        let mut changed: BTreeSet<String> = BTreeSet::new();
        // The change log is read only when a stored count could be reused.
        let any_stored = ids.iter().any(|id| stored.summaries.contains_key(*id));
        if full_reason.is_none() && any_stored {
            let types: Vec<&str> = APP_ACCESS_CHANGE_EVENTS
                .iter()
                .chain(APP_WIDE_CHANGE_EVENTS)
                .copied()
                .collect();
            let since = cursor
                .or(pass.as_ref().map(|p| p.started_at))
                .unwrap_or(self.now);
            match self.change_events(since, &types, "app_access_changes", "app access changes")? {
                Ok(events) => {
                    let id_set: BTreeSet<&str> = ids.iter().copied().collect();
                    let by_login: BTreeMap<String, &str> = users
                        .iter()
                        .filter_map(|u| Some((u.login()?.trim().to_lowercase(), u.id.as_deref()?)))
                        .collect();
                    for ev in &events {
                        let event_type = ev.event_type.as_deref().map(str::trim).unwrap_or("");
                        if APP_WIDE_CHANGE_EVENTS.contains(&event_type) {
                            full_reason =
                                Some(format!("app-wide change in the System Log ({event_type})"));
                            break;
                        }
                        changed.extend(
                            app_access_changed_users(ev, &id_set, &by_login)
                                .into_iter()
                                .filter(|id| id_set.contains(id.as_str())),
                        );
                    }
                }
                // An unfinished pass goes on: its users are fetched either way.
                Err(_) if pass.is_some() => {}
                Err(reason) => full_reason = Some(reason),
            }
        }
        let full = full_reason.is_some();
        // An app-wide change starts the pass over.
        let continuing = pass.as_ref().filter(|_| !full);
        let (to_fetch, urls) = self.refetch_plan(
            &ids,
            full,
            &changed,
            continuing.map(|p| &p.remaining),
            &stored.summaries,
            "appLinks",
            "SUSPENDED users",
        );
        let links = match gap(self.batched::<Value>(APP_LINKS, &urls, false, "app_links", true))? {
            Ok(v) => v,
            Err(d) => return Ok((Err(d), None)),
        };
        let fetched = links.len();
        let rest: BTreeSet<String> = to_fetch[fetched..]
            .iter()
            .map(|id| id.to_string())
            .collect();
        let fresh: BTreeMap<&str, Option<u64>> = to_fetch
            .iter()
            .zip(links)
            .map(|(id, l)| (*id, l.map(|items| items.len() as u64)))
            .collect();
        let mut data = SuspendedData::default();
        let mut keep: BTreeMap<String, u64> = BTreeMap::new();
        let mut reused = 0u64;
        let mut missing = 0u64;
        for u in &users {
            let Some(id) = u.id.as_deref() else { continue };
            let count = match fresh.get(id) {
                Some(Some(n)) => *n,
                Some(None) => {
                    data.skipped += 1;
                    continue;
                }
                None => match stored.summaries.get(id) {
                    Some(n) => {
                        reused += 1;
                        *n
                    }
                    None => {
                        missing += 1;
                        continue;
                    }
                },
            };
            keep.insert(id.to_string(), count);
            data.users.push(SuspendedUser {
                id: id.to_string(),
                login: u.login().map(str::to_string),
                app_links: usize::try_from(count).unwrap_or(usize::MAX),
            });
        }
        // Users no longer suspended drop out of the stored counts here.
        let saved = store::save_app_links(self.state, &stored, &keep);
        let mode = if full || continuing.is_some_and(|p| p.full) {
            "full"
        } else {
            "incremental"
        };
        let reason = Self::refresh_reason(full_reason, continuing);
        self.settle_refresh(
            saved,
            &APP_LINK_KEYS,
            continuing,
            full,
            rest,
            "every suspended user's app links",
        );
        data.refresh = AppLinksRefresh {
            mode,
            reason,
            fetched: fetched as u64,
            reused,
            changed_in_log: changed.len() as u64,
        };
        self.info(&format!(
            "{} SUSPENDED users, {} with app links",
            data.users.len(),
            data.users.iter().filter(|u| u.app_links > 0).count()
        ));
        let sync = (missing > 0).then(|| SyncProgress {
            done: data.users.len() as u64,
            total: data.users.len() as u64 + missing,
            first: full_at.is_none(),
            population: "suspended users",
        });
        Ok((Ok(data), sync))
    }

    /// The admin-session window: from the cursor (never further back than the
    /// look-back, nor in the future) to now.
    fn admin_window(&mut self) -> (Window, Option<i64>) {
        let lookback = self.cfg.admin_session_lookback_hours as i64 * HOUR_MS;
        let cursor = store::get_ms(self.state, store::ADMIN_CURSOR);
        let since = match cursor {
            Some(c) => c.max(self.now - lookback).min(self.now),
            None => self.now - lookback,
        };
        let window = Window {
            start_exclusive: since,
            end_inclusive: self.now,
        };
        (window, cursor)
    }

    /// The log KRIs' data, page by page: the last 24 h of events into [`DayTallies`],
    /// the admin-session window into a [`SessionFeed`]. Each window is read from the
    /// tenant's stored stream where its coverage reaches back to the window's start
    /// (the part after the coverage's end from the System Log), else from the System
    /// Log as a whole; one pass over the stream serves both windows.
    fn log_kris(&mut self, needs: Needs, out: &mut Collected) -> Result<(), ConnectorError> {
        if !needs.events_24h && !needs.admin_sessions {
            return Ok(());
        }
        let coverage = self.events.coverage();
        let mut day = needs
            .events_24h
            .then(|| DayTallies::new(Window::last_24h(self.now)));
        let admin = needs.admin_sessions.then(|| self.admin_window());
        let mut feed = admin.map(|(w, _)| SessionFeed::new(w));
        let day_stream = day
            .as_ref()
            .and_then(|d| stream_part(coverage, d.filter.window));
        let admin_stream = feed
            .as_ref()
            .and_then(|f| stream_part(coverage, f.window()));
        // One pass over the union of the parts read from the stream.
        let parts: Vec<Window> = [day_stream, admin_stream].into_iter().flatten().collect();
        if let (Some(start), Some(end)) = (
            parts.iter().map(|w| w.start_exclusive).min(),
            parts.iter().map(|w| w.end_inclusive).max(),
        ) {
            let pass = Window {
                start_exclusive: start,
                end_inclusive: end,
            };
            let read = self.read_stream(pass, &mut |ev| {
                if let (Some(d), Some(w)) = (day.as_mut(), day_stream) {
                    if ev.published_ms().is_some_and(|ms| w.contains(ms)) {
                        d.add(ev);
                    }
                }
                if let (Some(f), Some(w)) = (feed.as_mut(), admin_stream) {
                    if ev.published_ms().is_some_and(|ms| w.contains(ms)) {
                        f.add(ev);
                    }
                }
            });
            if let Err(e) = read {
                return Err(ConnectorError::HostLimit(format!(
                    "reading the stored event stream failed: {e}"
                )));
            }
        }
        // What the stream did not cover comes from the System Log.
        if let Some(mut d) = day {
            let rest = match day_stream {
                Some(part) => {
                    d.source = LogSource::StoredStream {
                        until_ms: part.end_inclusive,
                    };
                    Window {
                        start_exclusive: part.end_inclusive,
                        end_inclusive: d.filter.window.end_inclusive,
                    }
                }
                None => d.filter.window,
            };
            let read = if rest.start_exclusive < rest.end_inclusive {
                self.walk_log(rest, None, "logs_24h", &mut |ev| d.add(ev))
            } else {
                Ok(())
            };
            out.events_24h = Some(gap(read)?.map(|()| {
                self.info(&format!(
                    "last 24 h: {} events from the {}",
                    d.filter.examined,
                    d.source.describe()
                ));
                d
            }));
        }
        if let (Some(mut f), Some((window, cursor))) = (feed, admin) {
            let rest = match admin_stream {
                Some(part) => Window {
                    start_exclusive: part.end_inclusive,
                    end_inclusive: window.end_inclusive,
                },
                None => window,
            };
            let read = if rest.start_exclusive < rest.end_inclusive {
                self.walk_log(
                    rest,
                    Some(ADMIN_SESSION_FILTER),
                    "admin_sessions",
                    &mut |ev| f.add(ev),
                )
            } else {
                Ok(())
            };
            out.admin = Some(match gap(read)? {
                Ok(()) => Ok(self.admin_sessions(f, cursor, admin_stream.is_some())),
                Err(d) => Err(d),
            });
        }
        Ok(())
    }

    /// The tenant's stored events of `window`, page by page, each read into the
    /// connector's event model and handed to `on_event`. Stored events whose JSON is not
    /// an event object are counted as skipped.
    fn read_stream(
        &mut self,
        window: Window,
        on_event: &mut dyn FnMut(&LogEvent),
    ) -> Result<(), String> {
        let mut cursor = None;
        let mut read = 0u64;
        loop {
            let page = self.events.read_events(&EventQuery {
                after_ms: window.start_exclusive,
                until_ms: window.end_inclusive,
                cursor: cursor.take(),
                limit: STREAM_PAGE,
            })?;
            for stored in &page.events {
                match serde_json::from_str::<LogEvent>(&stored.raw) {
                    Ok(ev) => on_event(&ev),
                    Err(_) => self.skipped += 1,
                }
            }
            read += page.events.len() as u64;
            self.log.progress("stored_events", read, None);
            match page.next_cursor {
                Some(next) if !page.events.is_empty() => cursor = Some(next),
                _ => break,
            }
        }
        self.client.stats.items += read;
        Ok(())
    }

    /// System Log events of `window`, page by page, handed to `on_event`; no page
    /// outlives its turn.
    fn walk_log(
        &mut self,
        window: Window,
        filter: Option<&str>,
        stage: &str,
        on_event: &mut dyn FnMut(&LogEvent),
    ) -> Result<(), ApiError> {
        let url = log_url(window, filter);
        let mut read = 0u64;
        let log = &mut *self.log;
        let skipped = self
            .client
            .for_each_page::<LogEvent>(LOGS, &url, &mut |events| {
                read += events.len() as u64;
                for ev in &events {
                    on_event(ev);
                }
                log.progress(stage, read, None);
            })?;
        self.skipped += skipped;
        Ok(())
    }

    /// Plays the admin-session events into the book kept in state, and moves the
    /// cursor to now.
    fn admin_sessions(
        &mut self,
        feed: SessionFeed,
        cursor: Option<i64>,
        stream: bool,
    ) -> AdminData {
        let since = feed.window().start_exclusive;
        let mut book = store::load_session_book(self.state, self.log);
        let stats = feed.apply(&mut book);
        let saved = store::save_session_book(self.state, &book).and_then(|_| {
            let cursor = self.now.max(cursor.unwrap_or(i64::MIN));
            store::set_ms(self.state, store::ADMIN_CURSOR, cursor)
        });
        if let Err(e) = saved {
            // The KRI still lands; the next run rereads the whole look-back.
            self.log.log(
                Level::Warn,
                &format!("{e}; the next run rereads the admin-session look-back"),
            );
            self.state.delete(store::ADMIN_CURSOR);
        }
        self.info(&format!(
            "admin sessions: {} events since {} from the {}, {} open",
            stats.events_examined,
            ms_to_iso(since),
            if stream {
                "stored stream"
            } else {
                "system log"
            },
            book.open.len()
        ));
        AdminData { book, stats }
    }

    fn policies(&mut self) -> Result<Vec<PolicyWithRules>, ApiError> {
        let url = url_with_query("/api/v1/policies", &[("type", "ACCESS_POLICY")]);
        let log = &mut *self.log;
        let listing =
            self.client
                .list_all::<Policy>(POLICIES, &url, ListOptions::default(), &mut |n| {
                    log.progress("policies", n, None)
                })?;
        let mut out = Vec::new();
        let mut active_urls = Vec::new();
        let mut active_idx = Vec::new();
        for p in listing.items {
            if is(&p.status, "ACTIVE") {
                if let Some(id) = p.id.as_deref() {
                    active_urls.push(format!(
                        "/api/v1/policies/{}/rules",
                        encode_path_segment(id)
                    ));
                    active_idx.push(out.len());
                }
            }
            out.push(PolicyWithRules {
                policy: p,
                rules: Vec::new(),
            });
        }
        let rules =
            self.batched::<PolicyRule>(POLICY_RULES, &active_urls, true, "policy_rules", false)?;
        let mut gone = Vec::new();
        for (idx, r) in active_idx.into_iter().zip(rules) {
            match r {
                Some(rules) => out[idx].rules = rules,
                None => gone.push(idx),
            }
        }
        // Policies deleted between the list and their rules are left out.
        for idx in gone.into_iter().rev() {
            out.remove(idx);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_encoded() {
        assert_eq!(
            users_url("ACTIVE"),
            "/api/v1/users?filter=status%20eq%20%22ACTIVE%22&limit=200"
        );
        let w = Window {
            start_exclusive: 1_795_395_723_000,
            end_inclusive: 1_795_395_723_000 + 24 * HOUR_MS,
        };
        assert_eq!(
            log_url(w, Some(ADMIN_SESSION_FILTER)),
            "/api/v1/logs?since=2026-11-23T01%3A02%3A03.000Z&until=2026-11-24T01%3A02%3A03.001Z\
             &limit=1000&sortOrder=ASCENDING&filter=eventType%20eq%20%22user.session.access_admin_app%22\
             %20or%20eventType%20eq%20%22user.session.end%22"
        );
    }

    #[test]
    fn app_access_filter_covers_the_lifecycle_events() {
        for t in FACTOR_CHANGE_EVENTS
            .iter()
            .filter(|t| t.starts_with("user.lifecycle."))
        {
            assert!(APP_ACCESS_CHANGE_EVENTS.contains(t), "{t}");
        }
        assert_eq!(APP_ACCESS_CHANGE_EVENTS.len(), 15);
        assert!(APP_WIDE_CHANGE_EVENTS
            .iter()
            .all(|t| !APP_ACCESS_CHANGE_EVENTS.contains(t)));
    }

    #[test]
    fn app_access_events_name_their_users() {
        use serde_json::json;
        let ids: BTreeSet<&str> = ["00us1", "00us2", "00us3"].into_iter().collect();
        let by_login: BTreeMap<String, &str> = [
            ("one@example.com".to_string(), "00us1"),
            ("two@example.com".to_string(), "00us2"),
        ]
        .into_iter()
        .collect();
        let ev = |event_type: &str, targets: Value| {
            LogEvent::from_value(&json!({"uuid": "x", "eventType": event_type, "target": targets}))
                .unwrap_or_default()
        };
        let names = |e: &LogEvent| -> Vec<String> {
            app_access_changed_users(e, &ids, &by_login)
                .into_iter()
                .collect()
        };
        let cases = [
            (
                "simulator / real shape: AppUser (0ua id), AppInstance, User",
                ev(
                    "application.user_membership.remove",
                    json!([
                        {"id": "0uas1", "type": "AppUser", "alternateId": "one@example.com"},
                        {"id": "0oa1", "type": "AppInstance", "alternateId": "Box"},
                        {"id": "00us1", "type": "User", "alternateId": "one@example.com"}
                    ]),
                ),
                vec!["00us1"],
            ),
            (
                "AppUser only, matched by login (any case)",
                ev(
                    "application.user_membership.add",
                    json!([
                        {"id": "0uas2", "type": "AppUser", "alternateId": " Two@Example.com"},
                        {"id": "0oa1", "type": "AppInstance", "alternateId": "Box"}
                    ]),
                ),
                vec!["00us2"],
            ),
            (
                "AppUser carrying the user id",
                ev(
                    "application.user_membership.change_username",
                    json!([{"id": "00us3", "type": "AppUser", "alternateId": "three-app-name"}]),
                ),
                vec!["00us3"],
            ),
            (
                "group membership: the User target, not the group",
                ev(
                    "group.user_membership.add",
                    json!([
                        {"id": "00us2", "type": "User", "alternateId": "two@example.com"},
                        {"id": "00g1", "type": "UserGroup", "alternateId": "unknown"}
                    ]),
                ),
                vec!["00us2"],
            ),
            (
                "AppUser of another event type is not read",
                ev(
                    "user.authentication.sso",
                    json!([{"id": "0uas1", "type": "AppUser", "alternateId": "one@example.com"}]),
                ),
                vec![],
            ),
            (
                "unknown app username",
                ev(
                    "application.user_membership.update",
                    json!([{"id": "0uax", "type": "AppUser", "alternateId": "sf-user-7"}]),
                ),
                vec![],
            ),
        ];
        for (name, e, want) in cases {
            assert_eq!(names(&e), want, "{name}");
        }
    }

    #[test]
    fn sync_progress_reads_like_the_issue() {
        let p = SyncProgress {
            done: 3_322,
            total: 5_000,
            first: true,
            population: "users",
        };
        assert_eq!(p.reason(), "first sync in progress: 3,322 of 5,000 users");
        let later = SyncProgress {
            done: 7,
            total: 1_234_567,
            first: false,
            population: "suspended users",
        };
        assert_eq!(
            later.reason(),
            "sync in progress: 7 of 1,234,567 suspended users"
        );
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(100_000), "100,000");
    }

    #[test]
    fn needs_follow_the_selection() {
        let only = |k: Kri| Needs::of(&[k].into_iter().collect());
        assert!(only(Kri::PhishResistantMfa).mfa);
        assert!(!only(Kri::PhishResistantMfa).events_24h);
        assert!(only(Kri::FailedMfaPush24h).events_24h);
        assert!(!only(Kri::FailedMfaPush24h).admin_sessions);
        assert!(only(Kri::AdminSessionOutliers24h).admin_sessions);
        assert!(only(Kri::AppPolicyExceptions).policies);
        assert!(only(Kri::InactiveUsersWithAppAccess).suspended);
        assert_eq!(
            Needs::of(&Kri::ALL.into_iter().collect()),
            Needs {
                mfa: true,
                suspended: true,
                events_24h: true,
                admin_sessions: true,
                policies: true
            }
        );
    }
}
