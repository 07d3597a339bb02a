//! Schedule arithmetic of `kri serve`, pure and table-tested: job intervals as
//! ISO-8601 durations (`P1D`, `PT30M`), per-tenant overrides, start-time jitter, and
//! the next due time after a run (a schedule missed during downtime runs once).

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

/// The shortest interval a job may have.
pub const MIN_INTERVAL_MS: i64 = 10_000;

/// The widest start-time jitter: a job first runs within this long (or within its
/// interval, when that is shorter) after its schedule is made.
pub const MAX_JITTER_MS: i64 = 10 * 60_000;

/// Why a schedule was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("`{text}` is not an ISO-8601 duration like PT1M, PT30M, P1D: {reason}")]
    NotADuration { text: String, reason: String },
    #[error("`{text}` is shorter than the shortest interval, {min_s} seconds")]
    TooShort { text: String, min_s: i64 },
    #[error("`{text}` names months or years, which have no fixed length; use days, like P30D")]
    CalendarUnits { text: String },
    #[error("`{item}`: expected JOB=DURATION, like kris=P1D or logs=PT1M")]
    NotAnOverride { item: String },
}

/// An ISO-8601 duration as milliseconds, days counted as 24 hours (parsed by jiff).
pub fn interval_ms(text: &str) -> Result<i64, ScheduleError> {
    let not_a_duration = |reason: String| ScheduleError::NotADuration {
        text: text.to_string(),
        reason,
    };
    // jiff's ISO-8601 parser only (its friendly `30m` format is not taken here).
    let span = jiff::fmt::temporal::SpanParser::new()
        .parse_span(text.trim())
        .map_err(|e| not_a_duration(e.to_string()))?;
    if span.get_years() != 0 || span.get_months() != 0 {
        return Err(ScheduleError::CalendarUnits {
            text: text.to_string(),
        });
    }
    let total = span
        .total(jiff::SpanTotal::from(jiff::Unit::Millisecond).days_are_24_hours())
        .map_err(|e| not_a_duration(e.to_string()))?;
    if total.is_nan() || total < MIN_INTERVAL_MS as f64 {
        return Err(ScheduleError::TooShort {
            text: text.to_string(),
            min_s: MIN_INTERVAL_MS / 1_000,
        });
    }
    Ok(total.min(i64::MAX as f64) as i64)
}

/// Parses `--schedule` items (`kris=P1D`), checking each duration.
pub fn parse_overrides(items: &[String]) -> Result<BTreeMap<String, String>, ScheduleError> {
    let mut out = BTreeMap::new();
    for item in items {
        let (job, text) = item
            .split_once('=')
            .filter(|(job, text)| !job.trim().is_empty() && !text.trim().is_empty())
            .ok_or_else(|| ScheduleError::NotAnOverride { item: item.clone() })?;
        interval_ms(text)?;
        out.insert(job.trim().to_string(), text.trim().to_string());
    }
    Ok(out)
}

/// The interval of one job of a tenant: the tenant's override, else the manifest's
/// default.
pub fn job_interval_ms(
    overrides: &BTreeMap<String, String>,
    job: &str,
    default_schedule: &str,
) -> Result<i64, ScheduleError> {
    interval_ms(overrides.get(job).map_or(default_schedule, String::as_str))
}

/// How long after its schedule is made a job first runs: a fixed share of
/// `min(interval, MAX_JITTER_MS)` drawn from a hash of (tenant, job), so that many
/// tenants spread over the window and each keeps its own slot across restarts.
pub fn jitter_ms(tenant: &str, job: &str, interval_ms: i64) -> i64 {
    let window = interval_ms.clamp(1, MAX_JITTER_MS);
    let digest = Sha256::new()
        .chain_update(tenant.as_bytes())
        .chain_update([0u8])
        .chain_update(job.as_bytes())
        .finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    (u64::from_be_bytes(first) % window as u64) as i64
}

/// The next due time after a run that was due at `due_ms` and ended at `now_ms`: the
/// first slot `due + k * interval` (k >= 1) after now. Slots missed while the
/// service was down are not run one by one: the run that just ended covers them.
pub fn next_due_ms(due_ms: i64, interval_ms: i64, now_ms: i64) -> i64 {
    let interval = interval_ms.max(1);
    let next = due_ms.saturating_add(interval);
    if next > now_ms {
        return next;
    }
    let missed = (now_ms - next) / interval + 1;
    next.saturating_add(missed.saturating_mul(interval))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_iso_8601() {
        let cases: &[(&str, Result<i64, &str>)] = &[
            ("PT1M", Ok(60_000)),
            ("PT30M", Ok(1_800_000)),
            ("PT1H", Ok(3_600_000)),
            ("P1D", Ok(86_400_000)),
            ("P1W", Ok(604_800_000)),
            ("PT1H30M", Ok(5_400_000)),
            ("PT10S", Ok(10_000)),
            ("pt5m", Ok(300_000)),
            ("PT5S", Err("shorter")),
            ("PT0S", Err("shorter")),
            ("P1M", Err("months")),
            ("P1Y", Err("months")),
            ("30m", Err("ISO-8601")),
            ("", Err("ISO-8601")),
            ("-PT5M", Err("shorter")),
        ];
        for (text, want) in cases {
            match (interval_ms(text), want) {
                (Ok(got), Ok(want)) => assert_eq!(got, *want, "{text}"),
                (Err(e), Err(word)) => assert!(e.to_string().contains(word), "{text}: {e}"),
                (got, want) => panic!("{text}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn overrides_are_job_equals_duration() {
        let items = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let got = parse_overrides(&items(&["kris=P1D", "inventory=PT30M", "logs=PT1M"]))
            .expect("overrides");
        assert_eq!(got.len(), 3);
        assert_eq!(got["logs"], "PT1M");
        for bad in ["kris", "=P1D", "kris=", "kris=1d", "logs=PT1S"] {
            assert!(parse_overrides(&items(&[bad])).is_err(), "{bad}");
        }
        assert_eq!(job_interval_ms(&got, "logs", "PT1H"), Ok(60_000));
        assert_eq!(job_interval_ms(&got, "other", "PT1H"), Ok(3_600_000));
    }

    #[test]
    fn a_missed_schedule_runs_once_and_keeps_its_phase() {
        // (due, interval, now) -> next
        let cases: &[(i64, i64, i64, i64)] = &[
            (1_000, 60_000, 5_000, 61_000),        // on time
            (1_000, 60_000, 60_999, 61_000),       // a long run, still before the slot
            (1_000, 60_000, 61_000, 121_000),      // ended exactly at the next slot
            (1_000, 60_000, 3_600_000, 3_601_000), // an hour down: one run, next slot
            (0, 86_400_000, 10 * 86_400_000 + 5, 11 * 86_400_000),
        ];
        for (due, interval, now, want) in cases {
            let got = next_due_ms(*due, *interval, *now);
            assert_eq!(got, *want, "due {due} interval {interval} now {now}");
            assert!(got > *now);
            assert_eq!((got - due) % interval, 0, "phase kept");
        }
    }

    #[test]
    fn a_thousand_tenants_do_not_fire_in_the_same_second() {
        // interval -> most tenants allowed to start in any one second
        let cases: &[(i64, usize)] = &[(60_000, 40), (1_800_000, 12), (86_400_000, 12)];
        for (interval, most) in cases {
            let mut per_second: BTreeMap<i64, usize> = BTreeMap::new();
            for t in 0..1_000 {
                let j = jitter_ms(&format!("tenant-{t}"), "kris", *interval);
                assert!((0..(*interval).min(MAX_JITTER_MS)).contains(&j), "{j}");
                *per_second.entry(j / 1_000).or_default() += 1;
            }
            let busiest = per_second.values().copied().max().unwrap_or(0);
            assert!(
                busiest <= *most,
                "interval {interval}: {busiest} in one second"
            );
            assert!(
                per_second.len() > 20,
                "interval {interval}: spread over seconds"
            );
        }
        // Stable per (tenant, job), different across jobs.
        assert_eq!(
            jitter_ms("a", "kris", 60_000),
            jitter_ms("a", "kris", 60_000)
        );
        let jobs: Vec<i64> = ["kris", "logs", "inventory"]
            .iter()
            .map(|j| jitter_ms("a", j, 3_600_000))
            .collect();
        assert!(jobs[0] != jobs[1] || jobs[1] != jobs[2]);
    }
}
