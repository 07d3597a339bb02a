//! Fetches what the selected KRIs need, each thing once and shared between KRIs:
//! ACTIVE users and their factor summaries (full or incremental refresh), SUSPENDED users
//! and their app links, the last 24 h of System Log events, admin-session events since the
//! last run, and ACCESS_POLICY policies with their rules. A permission gap (403) on an
//! endpoint becomes a [`Denied`] for the data behind it; anything else fatal fails the run.

use crate::api::models::{is, Factor, LogEvent, Policy, PolicyRule, User};
use crate::api::{
    encode_path_segment, url_with_query, ApiError, Denied, Endpoint, ListOptions, OktaClient,
    APP_LINKS, FACTORS, LOGS, POLICIES, POLICY_RULES, USERS,
};
use crate::config::Config;
use crate::kris::admin_session_outliers::{self, AdvanceStats, SessionBook};
use crate::kris::app_policy_exceptions::PolicyWithRules;
use crate::kris::inactive_users_with_app_access::SuspendedUser;
use crate::kris::mfa_adoption::{summarize_factors, FactorSummary, MfaPopulation, RefreshInfo};
use crate::kris::{Kri, Window};
use crate::store;
use crate::time::{ms_to_iso, HOUR_MS};
use crate::types::{ConnectorError, Level, Logger, StateStore};
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
}

/// The admin-session book after this run's events.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AdminData {
    pub book: SessionBook,
    pub stats: AdvanceStats,
}

/// Everything collected; `None` for data no selected KRI needs.
#[derive(Debug, Default)]
pub struct Collected {
    pub mfa: Option<Got<MfaPopulation>>,
    pub suspended: Option<Got<SuspendedData>>,
    pub events_24h: Option<Got<Vec<LogEvent>>>,
    pub admin: Option<Got<AdminData>>,
    pub policies: Option<Got<Vec<PolicyWithRules>>>,
    pub items_read: u64,
    pub items_skipped: u64,
    pub requests: u64,
}

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
    pub log: &'a mut dyn Logger,
    pub cfg: &'a Config,
    pub now: i64,
    skipped: u64,
}

impl<'a> Collector<'a> {
    pub fn new(
        client: OktaClient<'a>,
        state: &'a mut dyn StateStore,
        log: &'a mut dyn Logger,
        cfg: &'a Config,
        now: i64,
    ) -> Self {
        Collector {
            client,
            state,
            log,
            cfg,
            now,
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
            out.mfa = Some(self.mfa_population()?);
        }
        if needs.suspended {
            out.suspended = Some(gap(self.suspended_users())?);
        }
        if needs.events_24h {
            let window = Window::last_24h(self.now);
            out.events_24h = Some(gap(self.read_log(window, None, "logs_24h"))?);
        }
        if needs.admin_sessions {
            out.admin = Some(self.admin_sessions()?);
        }
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
    fn batched<T: serde::de::DeserializeOwned>(
        &mut self,
        ep: Endpoint,
        urls: &[String],
        follow_pages: bool,
        stage: &str,
    ) -> Result<Vec<Option<Vec<T>>>, ApiError> {
        let log = &mut *self.log;
        let results = self.client.get_lists_batched::<T>(
            ep,
            urls,
            self.cfg.factor_batch_size,
            follow_pages,
            &mut |done, total| log.progress(stage, done, Some(total)),
        )?;
        let mut out = Vec::with_capacity(results.len());
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
        Ok(out)
    }

    fn mfa_population(&mut self) -> Result<Got<MfaPopulation>, ConnectorError> {
        let cap = self.cfg.user_sample_cap;
        let (users, truncated) = match gap(self.list_users("ACTIVE", cap))? {
            Ok(v) => v,
            Err(d) => return Ok(Err(d)),
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

        // Full or incremental?
        let stored = store::load_factors(self.state, self.log);
        let full_at = store::get_ms(self.state, store::FACTORS_FULL_REFRESH_AT);
        let cursor = store::get_ms(self.state, store::FACTORS_CURSOR);
        let interval = self.cfg.full_refresh_interval_hours as i64 * HOUR_MS;
        let mut full_reason = match (full_at, cursor) {
            _ if self.cfg.force_full_refresh => Some("force_full_refresh".to_string()),
            (None, _) | (_, None) => Some("no earlier refresh stored".to_string()),
            (Some(at), _) if self.now - at >= interval => Some(format!(
                "last full refresh is older than {} h",
                self.cfg.full_refresh_interval_hours
            )),
            (Some(at), Some(c)) if at > self.now || c > self.now => {
                Some("stored refresh times are in the future".to_string())
            }
            _ if stored.unreadable_shards > 0 => Some("stored summaries unreadable".to_string()),
            _ => None,
        };
        let mut changed: BTreeSet<String> = BTreeSet::new();
        if full_reason.is_none() {
            let window = Window {
                start_exclusive: cursor.unwrap_or(self.now),
                end_inclusive: self.now,
            };
            let filter = event_type_filter(FACTOR_CHANGE_EVENTS);
            match self.read_log(window, Some(&filter), "factor_changes") {
                Ok(events) => {
                    for ev in &events {
                        let in_window = ev.published_ms().is_none_or(|ms| window.contains(ms));
                        if in_window {
                            changed.extend(ev.target_user_ids().map(str::to_string));
                        }
                    }
                }
                Err(ApiError::Forbidden(d)) => {
                    self.log.log(
                        Level::Warn,
                        &format!(
                            "cannot read the System Log for factor changes ({}); doing a full refresh",
                            d.reason()
                        ),
                    );
                    full_reason = Some(format!(
                        "System Log not readable for changes (missing {})",
                        d.permission
                    ));
                }
                Err(e) => return Err(e.into_connector_error()),
            }
        }
        let full = full_reason.is_some();
        let to_fetch: Vec<&String> = ids
            .iter()
            .filter(|id| full || changed.contains(*id) || !stored.summaries.contains_key(*id))
            .collect();
        self.info(&format!(
            "factor refresh {}: fetching factors of {} of {} users",
            if full { "full" } else { "incremental" },
            to_fetch.len(),
            ids.len()
        ));
        let urls: Vec<String> = to_fetch
            .iter()
            .map(|id| format!("/api/v1/users/{}/factors", encode_path_segment(id)))
            .collect();
        let fetched = match gap(self.batched::<Factor>(FACTORS, &urls, true, "factors"))? {
            Ok(v) => v,
            Err(d) => return Ok(Err(d)),
        };
        let mut fresh: BTreeMap<&str, Option<FactorSummary>> = BTreeMap::new();
        for (id, factors) in to_fetch.iter().zip(fetched) {
            fresh.insert(id.as_str(), factors.map(|f| summarize_factors(&f)));
        }
        let mut summaries = Vec::with_capacity(ids.len());
        let mut keep: BTreeMap<String, FactorSummary> = BTreeMap::new();
        let mut vanished = 0u64;
        for id in &ids {
            let s = match fresh.get(id.as_str()) {
                Some(Some(s)) => *s,
                Some(None) => {
                    vanished += 1;
                    continue;
                }
                None => match stored.summaries.get(id) {
                    Some(s) => *s,
                    None => continue,
                },
            };
            summaries.push(s);
            keep.insert(id.clone(), s);
        }
        let saved = store::save_factors(self.state, &stored, &keep)
            .and_then(|_| store::set_ms(self.state, store::FACTORS_CURSOR, self.now))
            .and_then(|_| match full {
                true => store::set_ms(self.state, store::FACTORS_FULL_REFRESH_AT, self.now),
                false => Ok(()),
            });
        if let Err(e) = saved {
            // The KRIs still land; the cache is not trusted next time.
            self.log.log(
                Level::Warn,
                &format!("{e}; the next run refetches every user's factors"),
            );
            self.state.delete(store::FACTORS_FULL_REFRESH_AT);
        }
        let fetched_count = to_fetch.len() as u64;
        Ok(Ok(MfaPopulation {
            summaries,
            sample_cap: cap,
            truncated,
            users_skipped: vanished,
            refresh: RefreshInfo {
                mode: if full { "full" } else { "incremental" },
                reason: full_reason,
                factors_fetched: fetched_count,
                reused: ids.len() as u64 - fetched_count,
                changed_in_log: changed.len() as u64,
            },
        }))
    }

    fn suspended_users(&mut self) -> Result<SuspendedData, ApiError> {
        let (users, _) = self.list_users("SUSPENDED", None)?;
        let urls: Vec<String> = users
            .iter()
            .filter_map(|u| u.id.as_deref())
            .map(|id| format!("/api/v1/users/{}/appLinks", encode_path_segment(id)))
            .collect();
        let links = self.batched::<Value>(APP_LINKS, &urls, false, "app_links")?;
        let mut data = SuspendedData::default();
        for (u, l) in users.iter().zip(links) {
            match l {
                Some(items) => data.users.push(SuspendedUser {
                    id: u.id.clone().unwrap_or_default(),
                    login: u.login().map(str::to_string),
                    app_links: items.len(),
                }),
                None => data.skipped += 1,
            }
        }
        self.info(&format!(
            "{} SUSPENDED users, {} with app links",
            data.users.len(),
            data.users.iter().filter(|u| u.app_links > 0).count()
        ));
        Ok(data)
    }

    fn admin_sessions(&mut self) -> Result<Got<AdminData>, ConnectorError> {
        let lookback = self.cfg.admin_session_lookback_hours as i64 * HOUR_MS;
        let cursor = store::get_ms(self.state, store::ADMIN_CURSOR);
        // Never read further back than the look-back, nor from a cursor in the future.
        let since = match cursor {
            Some(c) => c.max(self.now - lookback).min(self.now),
            None => self.now - lookback,
        };
        let window = Window {
            start_exclusive: since,
            end_inclusive: self.now,
        };
        let events = match gap(self.read_log(window, Some(ADMIN_SESSION_FILTER), "admin_sessions"))?
        {
            Ok(v) => v,
            Err(d) => return Ok(Err(d)),
        };
        let mut book = store::load_session_book(self.state, self.log);
        let stats = admin_session_outliers::advance(&mut book, &events, window);
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
            "admin sessions: {} events since {}, {} open",
            stats.events_examined,
            ms_to_iso(since),
            book.open.len()
        ));
        Ok(Ok(AdminData { book, stats }))
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
        let rules = self.batched::<PolicyRule>(POLICY_RULES, &active_urls, true, "policy_rules")?;
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
