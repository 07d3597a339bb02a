//! Timestamps in Okta's wire format (`2026-11-23T01:02:03.456Z`): formatting epoch
//! milliseconds and parsing the ISO-8601 / RFC 3339 forms clients send in `since`/`until`.
//!
//! The calendar is jiff's (proleptic Gregorian, UTC); this file only adds Okta's
//! leniency (a missing zone means UTC).

use jiff::{civil::DateTime, tz::TimeZone, Timestamp};

/// One minute, hour and day in milliseconds.
pub const MINUTE_MS: i64 = 60_000;
/// One hour in milliseconds.
pub const HOUR_MS: i64 = 60 * MINUTE_MS;
/// One day in milliseconds.
pub const DAY_MS: i64 = 24 * HOUR_MS;

/// Formats epoch milliseconds the way Okta does: `2026-11-23T01:02:03.456Z`. Instants
/// beyond the years -9999..=9999 are clamped to them.
pub fn format_ms(ms: i64) -> String {
    let t = Timestamp::from_millisecond(ms).unwrap_or(if ms < 0 {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    });
    format!("{t:.3}")
}

/// Parses an ISO-8601 / RFC 3339 timestamp into epoch milliseconds.
///
/// Accepts `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM|±HHMM|±HH)`, a space instead of `T`,
/// and a missing zone (taken as UTC, as Okta does). Fractions beyond milliseconds are
/// truncated. Returns `None` for anything else, impossible dates included.
pub fn parse_iso(input: &str) -> Option<i64> {
    let text = input.trim();
    if text.len() < 19 {
        return None;
    }
    let t = match text.parse::<Timestamp>() {
        Ok(t) => t,
        Err(_) => text
            .parse::<DateTime>()
            .ok()?
            .to_zoned(TimeZone::UTC)
            .ok()?
            .timestamp(),
    };
    Some(t.as_millisecond())
}

/// The real wall clock in epoch milliseconds.
pub fn wall_clock_ms() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(now.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(format_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_ms(1_598_552_424_123), "2020-08-27T18:20:24.123Z");
        assert_eq!(format_ms(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn round_trips_over_a_wide_range() {
        let mut ms = -10 * 365 * DAY_MS;
        while ms < 80 * 365 * DAY_MS {
            let text = format_ms(ms);
            assert_eq!(parse_iso(&text), Some(ms), "{text}");
            ms += 7 * DAY_MS + 3 * HOUR_MS + 17_321;
        }
    }

    #[test]
    fn parses_variants() {
        let base = parse_iso("2026-11-23T02:00:00.000Z").expect("base");
        assert_eq!(parse_iso("2026-11-23T02:00:00Z"), Some(base));
        assert_eq!(parse_iso("2026-11-23T02:00:00"), Some(base));
        assert_eq!(parse_iso("2026-11-23 02:00:00.000Z"), Some(base));
        assert_eq!(parse_iso("2026-11-23T03:00:00+01:00"), Some(base));
        assert_eq!(parse_iso("2026-11-23T01:30:00-0030"), Some(base));
        assert_eq!(parse_iso("2026-11-23T02:00:00.123456Z"), Some(base + 123));
        assert_eq!(parse_iso("2026-02-30T02:00:00Z"), None);
        assert_eq!(parse_iso("yesterday"), None);
        assert_eq!(parse_iso("2026-11-23T02:00:00.Z"), None);
        assert_eq!(parse_iso("2026-11-23T02:00:00Zjunk"), None);
    }
}
