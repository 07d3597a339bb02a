//! What the connector keeps in the host's state between runs, and how: the per-user
//! factor summaries and the per-suspended-user app-link summaries (sharded JSON maps),
//! their refresh cursors, and the admin-session book. Unreadable state is treated as
//! absent (and logged), never as a failure.
//!
//! Keys:
//! - `factors/full_refresh_at`: epoch ms of the last full factor refresh;
//! - `factors/cursor`: epoch ms up to which the System Log was read for factor changes;
//! - `factors/shard/<0..f>`: JSON map user id -> 0 (no MFA), 1 (MFA), 2 (MFA with a
//!   phishing-resistant factor), users spread by a hash of their id;
//! - `app_links/full_refresh_at`: epoch ms of the last full app-link refresh;
//! - `app_links/cursor`: epoch ms up to which the System Log was read for app-access
//!   changes;
//! - `app_links/shard/<0..3>`: JSON map SUSPENDED user id -> number of app links (0 = no
//!   app access), users spread by a hash of their id; only currently suspended users;
//! - `factors/pass`, `app_links/pass`: a refresh that ran out of the run's time budget
//!   before it fetched every user: `{"started_at": ms, "full": bool, "remaining": [ids]}`;
//!   the next run fetches the remaining users first, and the key goes when it is done;
//! - `admin_sessions/open`: JSON map external session id -> `{"s": start ms, "a": actor}`;
//! - `admin_sessions/recent_outliers`: JSON list of outlier sessions ended in the last 24 h;
//! - `admin_sessions/cursor`: epoch ms up to which admin-session events were read.

use crate::kris::admin_session_outliers::{EndedSession, OpenSession, SessionBook};
use crate::kris::mfa_adoption::FactorSummary;
use kri_connector_sdk::types::{ConnectorError, Level};
use kri_connector_sdk::{Logger, StateStore};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

pub const FACTORS_FULL_REFRESH_AT: &str = "factors/full_refresh_at";
pub const FACTORS_CURSOR: &str = "factors/cursor";
pub const FACTORS_SHARD_PREFIX: &str = "factors/shard/";
pub const FACTOR_SHARDS: u64 = 16;
pub const APP_LINKS_FULL_REFRESH_AT: &str = "app_links/full_refresh_at";
pub const APP_LINKS_CURSOR: &str = "app_links/cursor";
pub const APP_LINKS_SHARD_PREFIX: &str = "app_links/shard/";
/// Suspended users are few (a few % of an org): four shards keep each write small.
pub const APP_LINK_SHARDS: u64 = 4;
pub const FACTORS_PASS: &str = "factors/pass";
pub const APP_LINKS_PASS: &str = "app_links/pass";
pub const ADMIN_OPEN: &str = "admin_sessions/open";
pub const ADMIN_RECENT: &str = "admin_sessions/recent_outliers";
pub const ADMIN_CURSOR: &str = "admin_sessions/cursor";

fn state_error(key: &str, e: String) -> ConnectorError {
    ConnectorError::HostLimit(format!("could not store state key {key}: {e}"))
}

/// FNV-1a, so a user's shard is stable across runs and builds.
fn fnv1a(text: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The state key of the factor shard holding `user_id`.
pub fn shard_key(user_id: &str) -> String {
    format!("{FACTORS_SHARD_PREFIX}{:x}", fnv1a(user_id) % FACTOR_SHARDS)
}

/// The state key of the app-link shard holding `user_id`.
pub fn app_links_shard_key(user_id: &str) -> String {
    format!(
        "{APP_LINKS_SHARD_PREFIX}{:x}",
        fnv1a(user_id) % APP_LINK_SHARDS
    )
}

pub fn get_ms(state: &mut dyn StateStore, key: &str) -> Option<i64> {
    let raw = state.get(key)?;
    std::str::from_utf8(&raw).ok()?.trim().parse().ok()
}

pub fn set_ms(state: &mut dyn StateStore, key: &str, ms: i64) -> Result<(), ConnectorError> {
    state
        .set(key, ms.to_string().as_bytes())
        .map_err(|e| state_error(key, e))
}

/// Per-user summaries read from sharded state, and the raw shards as read (to rewrite
/// only what changed).
#[derive(Debug)]
pub struct Sharded<T> {
    pub summaries: BTreeMap<String, T>,
    pub raw_shards: BTreeMap<String, Vec<u8>>,
    pub unreadable_shards: u64,
}

impl<T> Default for Sharded<T> {
    fn default() -> Self {
        Sharded {
            summaries: BTreeMap::new(),
            raw_shards: BTreeMap::new(),
            unreadable_shards: 0,
        }
    }
}

/// The stored factor summaries.
pub type StoredFactors = Sharded<FactorSummary>;

/// The stored app-link counts of SUSPENDED users.
pub type StoredAppLinks = Sharded<u64>;

/// Reads every shard under `prefix`; an entry `decode` rejects leaves its user without a
/// summary (refetched), an unreadable shard is counted and logged.
fn load_sharded<T>(
    state: &mut dyn StateStore,
    log: &mut dyn Logger,
    prefix: &str,
    what: &str,
    decode: impl Fn(&Value) -> Option<T>,
) -> Sharded<T> {
    let mut out = Sharded::default();
    for key in state.list_keys(prefix) {
        let Some(raw) = state.get(&key) else { continue };
        match serde_json::from_slice::<Map<String, Value>>(&raw) {
            Ok(map) => {
                for (id, code) in map {
                    if let Some(s) = decode(&code) {
                        out.summaries.insert(id, s);
                    }
                }
            }
            Err(_) => {
                out.unreadable_shards += 1;
                log.log(
                    Level::Warn,
                    &format!("state key {key} is unreadable; its users' {what} are refetched"),
                );
            }
        }
        out.raw_shards.insert(key, raw);
    }
    out
}

/// Writes `summaries` as shards (keyed by `shard_of`), rewriting only shards whose
/// content changed and deleting shards that became empty. Returns the shards written.
fn save_sharded<T>(
    state: &mut dyn StateStore,
    previous: &Sharded<T>,
    summaries: &BTreeMap<String, T>,
    shard_of: impl Fn(&str) -> String,
    encode: impl Fn(&T) -> Value,
) -> Result<u64, ConnectorError> {
    let mut shards: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    for (id, s) in summaries {
        shards
            .entry(shard_of(id))
            .or_default()
            .insert(id.clone(), encode(s));
    }
    let mut written = 0;
    for (key, map) in &shards {
        let bytes = Value::Object(map.clone()).to_string().into_bytes();
        if previous.raw_shards.get(key) != Some(&bytes) {
            state.set(key, &bytes).map_err(|e| state_error(key, e))?;
            written += 1;
        }
    }
    for key in previous.raw_shards.keys() {
        if !shards.contains_key(key) {
            state.delete(key);
        }
    }
    Ok(written)
}

pub fn load_factors(state: &mut dyn StateStore, log: &mut dyn Logger) -> StoredFactors {
    load_sharded(state, log, FACTORS_SHARD_PREFIX, "factors", |v| {
        // An unknown code leaves the user without a summary: refetched.
        v.as_u64().and_then(FactorSummary::from_code)
    })
}

/// Writes `summaries` as factor shards; see [`save_sharded`].
pub fn save_factors(
    state: &mut dyn StateStore,
    previous: &StoredFactors,
    summaries: &BTreeMap<String, FactorSummary>,
) -> Result<u64, ConnectorError> {
    save_sharded(state, previous, summaries, shard_key, |s| {
        Value::from(s.code())
    })
}

pub fn load_app_links(state: &mut dyn StateStore, log: &mut dyn Logger) -> StoredAppLinks {
    load_sharded(
        state,
        log,
        APP_LINKS_SHARD_PREFIX,
        "app links",
        Value::as_u64,
    )
}

/// Writes the app-link counts of SUSPENDED users as shards; see [`save_sharded`].
pub fn save_app_links(
    state: &mut dyn StateStore,
    previous: &StoredAppLinks,
    counts: &BTreeMap<String, u64>,
) -> Result<u64, ConnectorError> {
    save_sharded(state, previous, counts, app_links_shard_key, |n| {
        Value::from(*n)
    })
}

/// A per-user refresh left unfinished when a run's time budget ran out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pass {
    /// `now` of the run that began the refresh.
    pub started_at: i64,
    /// Whether it is a full refresh (its end records the full-refresh time).
    pub full: bool,
    /// Users whose data is still to fetch.
    pub remaining: BTreeSet<String>,
}

/// The unfinished refresh stored under `key`; unreadable is treated as none (logged).
pub fn load_pass(state: &mut dyn StateStore, log: &mut dyn Logger, key: &str) -> Option<Pass> {
    let raw = state.get(key)?;
    match serde_json::from_slice::<Pass>(&raw) {
        Ok(p) => Some(p),
        Err(_) => {
            log.log(
                Level::Warn,
                &format!("state key {key} is unreadable; the refresh starts over"),
            );
            None
        }
    }
}

pub fn save_pass(state: &mut dyn StateStore, key: &str, pass: &Pass) -> Result<(), ConnectorError> {
    let bytes = serde_json::to_vec(pass).map_err(|e| ConnectorError::Other(e.to_string()))?;
    state.set(key, &bytes).map_err(|e| state_error(key, e))
}

pub fn load_session_book(state: &mut dyn StateStore, log: &mut dyn Logger) -> SessionBook {
    let mut book = SessionBook::default();
    if let Some(raw) = state.get(ADMIN_OPEN) {
        match serde_json::from_slice::<BTreeMap<String, OpenSession>>(&raw) {
            Ok(open) => book.open = open,
            Err(_) => log.log(
                Level::Warn,
                "state key admin_sessions/open is unreadable; open admin sessions are forgotten",
            ),
        }
    }
    if let Some(raw) = state.get(ADMIN_RECENT) {
        match serde_json::from_slice::<Vec<EndedSession>>(&raw) {
            Ok(recent) => book.recent_outliers = recent,
            Err(_) => log.log(
                Level::Warn,
                "state key admin_sessions/recent_outliers is unreadable; it is reset",
            ),
        }
    }
    book
}

pub fn save_session_book(
    state: &mut dyn StateStore,
    book: &SessionBook,
) -> Result<(), ConnectorError> {
    let open = serde_json::to_vec(&book.open).map_err(|e| ConnectorError::Other(e.to_string()))?;
    state
        .set(ADMIN_OPEN, &open)
        .map_err(|e| state_error(ADMIN_OPEN, e))?;
    let recent = serde_json::to_vec(&book.recent_outliers)
        .map_err(|e| ConnectorError::Other(e.to_string()))?;
    state
        .set(ADMIN_RECENT, &recent)
        .map_err(|e| state_error(ADMIN_RECENT, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kri_connector_sdk::fakes::{MemState, NullLog};

    #[test]
    fn factor_shards_round_trip_and_rewrite_only_changes() {
        let mut state = MemState::default();
        let mut log = NullLog;
        let mut sums = BTreeMap::new();
        for i in 0..100 {
            sums.insert(
                format!("00u{i:04}"),
                FactorSummary::from_code(i % 3).unwrap_or_default(),
            );
        }
        let empty = load_factors(&mut state, &mut log);
        let written = save_factors(&mut state, &empty, &sums).unwrap_or(0);
        assert!(written > 1 && written <= FACTOR_SHARDS);
        let loaded = load_factors(&mut state, &mut log);
        assert_eq!(loaded.summaries, sums);
        // One change rewrites one shard.
        sums.insert("00u0001".into(), FactorSummary::default());
        assert_eq!(save_factors(&mut state, &loaded, &sums).unwrap_or(0), 1);
        // Emptying deletes the shards.
        let loaded = load_factors(&mut state, &mut log);
        assert_eq!(
            save_factors(&mut state, &loaded, &BTreeMap::new()).unwrap_or(9),
            0
        );
        assert!(state.list_keys(FACTORS_SHARD_PREFIX).is_empty());
    }

    #[test]
    fn app_link_shards_round_trip_and_stay_apart_from_factors() {
        let mut state = MemState::default();
        let mut log = NullLog;
        let mut counts = BTreeMap::new();
        for i in 0..40u64 {
            counts.insert(format!("00us{i:04}"), i % 3);
        }
        let empty = load_app_links(&mut state, &mut log);
        let written = save_app_links(&mut state, &empty, &counts).unwrap_or(0);
        assert!(written > 1 && written <= APP_LINK_SHARDS);
        assert!(state.list_keys(FACTORS_SHARD_PREFIX).is_empty());
        let loaded = load_app_links(&mut state, &mut log);
        assert_eq!(loaded.summaries, counts);
        assert!(load_factors(&mut state, &mut log).summaries.is_empty());
        // One user dropped rewrites one shard; a bad entry is absent.
        counts.remove("00us0001");
        assert_eq!(save_app_links(&mut state, &loaded, &counts).unwrap_or(0), 1);
        let key = app_links_shard_key("00us0002");
        let _ = state.set(&key, br#"{"00us0002":"many","00us9999":1}"#);
        let loaded = load_app_links(&mut state, &mut log);
        assert!(!loaded.summaries.contains_key("00us0002"));
        assert_eq!(loaded.summaries.get("00us9999"), Some(&1));
        let _ = state.set(&key, b"{oops");
        assert_eq!(load_app_links(&mut state, &mut log).unreadable_shards, 1);
    }

    #[test]
    fn an_unfinished_pass_round_trips_and_unreadable_is_none() {
        let mut state = MemState::default();
        let mut log = NullLog;
        assert_eq!(load_pass(&mut state, &mut log, FACTORS_PASS), None);
        let pass = Pass {
            started_at: 7,
            full: true,
            remaining: ["00ub".to_string(), "00ua".to_string()].into(),
        };
        assert!(save_pass(&mut state, FACTORS_PASS, &pass).is_ok());
        assert_eq!(load_pass(&mut state, &mut log, FACTORS_PASS), Some(pass));
        assert_eq!(load_pass(&mut state, &mut log, APP_LINKS_PASS), None);
        assert!(state.set(APP_LINKS_PASS, b"{").is_ok());
        assert_eq!(load_pass(&mut state, &mut log, APP_LINKS_PASS), None);
    }

    #[test]
    fn unreadable_state_is_absent() {
        let mut state = MemState::default();
        let mut log = NullLog;
        let _ = state.set("factors/shard/3", b"not json");
        let _ = state.set(ADMIN_OPEN, b"[1,2");
        let _ = state.set(FACTORS_CURSOR, b"soon");
        assert_eq!(load_factors(&mut state, &mut log).unreadable_shards, 1);
        assert_eq!(
            load_session_book(&mut state, &mut log),
            SessionBook::default()
        );
        assert_eq!(get_ms(&mut state, FACTORS_CURSOR), None);
        let _ = set_ms(&mut state, FACTORS_CURSOR, 42);
        assert_eq!(get_ms(&mut state, FACTORS_CURSOR), Some(42));
    }
}
