//! The tenant's extra config (a JSON object as text): parsing with clear errors, defaults,
//! and the JSON Schema published in the manifest.

use kri_connector_sdk::types::ConnectorError;
use serde_json::{Map, Value};

pub const DEFAULT_ADMIN_SESSION_LOOKBACK_HOURS: u64 = 168;
pub const DEFAULT_FULL_REFRESH_INTERVAL_HOURS: u64 = 168;
pub const DEFAULT_FACTOR_BATCH_SIZE: usize = 200;
pub const DEFAULT_INVENTORY_FULL_SYNC_HOURS: u64 = 24;
/// How far back the `logs` job's very first poll reads the System Log.
pub const DEFAULT_LOG_BACKFILL_HOURS: u64 = 24;
/// How many System Log pages (of up to 1,000 events) one poll of the `logs` job reads:
/// 8,000 events and their alerts stay within the host's default outputs quota (10,000
/// per run), which would otherwise end the poll.
pub const DEFAULT_LOG_PAGES_PER_POLL: u64 = 8;
const MAX_LOG_PAGES_PER_POLL: u64 = 1000;
/// Upper bounds that keep a typo from asking for absurd work.
const MAX_HOURS: u64 = 24 * 366;
/// Okta keeps the System Log for 90 days.
const MAX_LOOKBACK_HOURS: u64 = 24 * 90;
const MAX_BATCH: u64 = 1000;

/// The parsed extra config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Only the first N ACTIVE users (API order) count for the MFA KRIs.
    pub user_sample_cap: Option<usize>,
    /// How far the first run looks back for admin-session starts.
    pub admin_session_lookback_hours: u64,
    /// A full factor refresh happens when the last one is older than this.
    pub full_refresh_interval_hours: u64,
    /// Ignore stored factor summaries this run.
    pub force_full_refresh: bool,
    /// Requests per `send_all` batch.
    pub factor_batch_size: usize,
    /// The `inventory` job syncs in full when its last full sync is older than this
    /// (0: every run); runs in between refresh what the System Log says changed.
    pub inventory_full_sync_hours: u64,
    /// How far back the `logs` job's first poll reads (at most Okta's 90 days).
    pub log_backfill_hours: u64,
    /// The most System Log pages one poll of the `logs` job reads.
    pub log_pages_per_poll: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            user_sample_cap: None,
            admin_session_lookback_hours: DEFAULT_ADMIN_SESSION_LOOKBACK_HOURS,
            full_refresh_interval_hours: DEFAULT_FULL_REFRESH_INTERVAL_HOURS,
            force_full_refresh: false,
            factor_batch_size: DEFAULT_FACTOR_BATCH_SIZE,
            inventory_full_sync_hours: DEFAULT_INVENTORY_FULL_SYNC_HOURS,
            log_backfill_hours: DEFAULT_LOG_BACKFILL_HOURS,
            log_pages_per_poll: DEFAULT_LOG_PAGES_PER_POLL,
        }
    }
}

fn invalid(msg: String) -> ConnectorError {
    ConnectorError::InvalidConfig(msg)
}

/// An integer in `min..=max`, or `None` when the key is absent or null.
fn int_field(
    obj: &Map<String, Value>,
    key: &str,
    min: u64,
    max: u64,
) -> Result<Option<u64>, ConnectorError> {
    let Some(v) = obj.get(key) else {
        return Ok(None);
    };
    if v.is_null() {
        return Ok(None);
    }
    let n = match v {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0)
                .map(|f| f as u64)
        }),
        _ => None,
    };
    match n {
        Some(n) if (min..=max).contains(&n) => Ok(Some(n)),
        _ => Err(invalid(format!(
            "extra config `{key}` must be an integer from {min} to {max}, got {v}"
        ))),
    }
}

impl Config {
    /// Parses the extra config. Empty text means `{}`; unknown keys are ignored.
    pub fn parse(text: &str) -> Result<Config, ConnectorError> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(Config::default());
        }
        let value: Value = serde_json::from_str(text)
            .map_err(|e| invalid(format!("extra config is not valid JSON: {e}")))?;
        let obj = match value {
            Value::Object(o) => o,
            Value::Null => Map::new(),
            other => {
                return Err(invalid(format!(
                    "extra config must be a JSON object, got {}",
                    kind(&other)
                )))
            }
        };
        let mut cfg = Config::default();
        if let Some(n) = int_field(&obj, "user_sample_cap", 1, u32::MAX as u64)? {
            cfg.user_sample_cap = Some(n as usize);
        }
        if let Some(n) = int_field(&obj, "admin_session_lookback_hours", 1, MAX_LOOKBACK_HOURS)? {
            cfg.admin_session_lookback_hours = n;
        }
        if let Some(n) = int_field(&obj, "full_refresh_interval_hours", 0, MAX_HOURS)? {
            cfg.full_refresh_interval_hours = n;
        }
        if let Some(n) = int_field(&obj, "factor_batch_size", 1, MAX_BATCH)? {
            cfg.factor_batch_size = n as usize;
        }
        if let Some(n) = int_field(&obj, "inventory_full_sync_hours", 0, MAX_HOURS)? {
            cfg.inventory_full_sync_hours = n;
        }
        if let Some(n) = int_field(&obj, "log_backfill_hours", 1, MAX_LOOKBACK_HOURS)? {
            cfg.log_backfill_hours = n;
        }
        if let Some(n) = int_field(&obj, "log_pages_per_poll", 1, MAX_LOG_PAGES_PER_POLL)? {
            cfg.log_pages_per_poll = n;
        }
        match obj.get("force_full_refresh") {
            None | Some(Value::Null) => {}
            Some(Value::Bool(b)) => cfg.force_full_refresh = *b,
            Some(other) => {
                return Err(invalid(format!(
                    "extra config `force_full_refresh` must be true or false, got {other}"
                )))
            }
        }
        Ok(cfg)
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// JSON Schema of the extra config, for the manifest.
pub fn schema() -> String {
    serde_json::json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Okta connector extra config",
        "type": "object",
        "properties": {
            "user_sample_cap": {
                "type": "integer", "minimum": 1,
                "description": "Only the first N ACTIVE users (in API order) count for the MFA KRIs; details.sampled is then true."
            },
            "admin_session_lookback_hours": {
                "type": "integer", "minimum": 1, "maximum": MAX_LOOKBACK_HOURS,
                "default": DEFAULT_ADMIN_SESSION_LOOKBACK_HOURS,
                "description": "How far the first run looks back in the System Log for admin-session starts."
            },
            "full_refresh_interval_hours": {
                "type": "integer", "minimum": 0, "maximum": MAX_HOURS,
                "default": DEFAULT_FULL_REFRESH_INTERVAL_HOURS,
                "description": "Refetch every user's factors when the last full refresh is older than this (0: every run); runs in between refetch only users the System Log shows as changed."
            },
            "force_full_refresh": {
                "type": "boolean", "default": false,
                "description": "Refetch every user's factors this run."
            },
            "factor_batch_size": {
                "type": "integer", "minimum": 1, "maximum": MAX_BATCH,
                "default": DEFAULT_FACTOR_BATCH_SIZE,
                "description": "Per-user requests handed to the host per batch (the host runs a batch concurrently, paced); the inventory job also reads this many member or assignment lists before handing their edges to the host, which bounds its memory."
            },
            "inventory_full_sync_hours": {
                "type": "integer", "minimum": 0, "maximum": MAX_HOURS,
                "default": DEFAULT_INVENTORY_FULL_SYNC_HOURS,
                "description": "The inventory job reads the whole graph when its last full sync is older than this (0: every run); runs in between read the System Log and refresh only what changed."
            },
            "log_backfill_hours": {
                "type": "integer", "minimum": 1, "maximum": MAX_LOOKBACK_HOURS,
                "default": DEFAULT_LOG_BACKFILL_HOURS,
                "description": "How far back the logs job's very first poll reads the System Log (up to 90 days)."
            },
            "log_pages_per_poll": {
                "type": "integer", "minimum": 1, "maximum": MAX_LOG_PAGES_PER_POLL,
                "default": DEFAULT_LOG_PAGES_PER_POLL,
                "description": "The most System Log pages (up to 1,000 events each) one poll of the logs job reads; the next poll goes on from the stored cursor. Keep pages x 1,000 below the tenant's outputs quota (10,000 by default)."
            }
        },
        "additionalProperties": true
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_configs() {
        let cases: Vec<(&str, Config)> = vec![
            ("", Config::default()),
            ("{}", Config::default()),
            ("null", Config::default()),
            (
                r#"{"user_sample_cap": 50, "force_full_refresh": true, "unknown": [1]}"#,
                Config {
                    user_sample_cap: Some(50),
                    force_full_refresh: true,
                    ..Config::default()
                },
            ),
            (
                r#"{"admin_session_lookback_hours": 24.0, "inventory_full_sync_hours": 0, "full_refresh_interval_hours": 0, "factor_batch_size": 10, "user_sample_cap": null}"#,
                Config {
                    inventory_full_sync_hours: 0,
                    admin_session_lookback_hours: 24,
                    full_refresh_interval_hours: 0,
                    factor_batch_size: 10,
                    ..Config::default()
                },
            ),
        ];
        for (text, want) in cases {
            assert_eq!(Config::parse(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn invalid_configs_say_why() {
        let cases = [
            ("[1]", "must be a JSON object"),
            ("{", "not valid JSON"),
            (r#"{"user_sample_cap": 0}"#, "user_sample_cap"),
            (r#"{"user_sample_cap": -3}"#, "user_sample_cap"),
            (r#"{"user_sample_cap": "10"}"#, "user_sample_cap"),
            (r#"{"user_sample_cap": 2.5}"#, "user_sample_cap"),
            (
                r#"{"admin_session_lookback_hours": 2161}"#,
                "from 1 to 2160",
            ),
            (
                r#"{"admin_session_lookback_hours": 0}"#,
                "admin_session_lookback_hours",
            ),
            (
                r#"{"full_refresh_interval_hours": true}"#,
                "full_refresh_interval_hours",
            ),
            (r#"{"force_full_refresh": "yes"}"#, "force_full_refresh"),
            (r#"{"factor_batch_size": 100000}"#, "factor_batch_size"),
            (
                r#"{"inventory_full_sync_hours": -1}"#,
                "inventory_full_sync_hours",
            ),
        ];
        for (text, needle) in cases {
            match Config::parse(text) {
                Err(ConnectorError::InvalidConfig(m)) => assert!(m.contains(needle), "{text}: {m}"),
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn schema_is_json() {
        let v: Value = serde_json::from_str(&schema()).unwrap_or(Value::Null);
        assert_eq!(v["type"], "object");
        assert!(v["properties"]["user_sample_cap"].is_object());
    }
}
