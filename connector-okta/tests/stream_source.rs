//! The `kris` job's three log KRIs read from the tenant's stored stream (the SDK's
//! in-memory `MemEvents`) equal the same KRIs read from the (fake) System Log: when the
//! stream covers the windows no System Log page is read, when it ends before now the
//! rest comes from the System Log, and when it does not reach back far enough the job
//! reads the System Log as before.

mod common;

use common::{load_org, FakeOkta};
use connector_okta::connector::{self, Host};
use connector_okta::time::{iso_to_ms, HOUR_MS};
use kri_connector_sdk::fakes::{MemEvents, MemLog, MemOutput, MemState};
use kri_connector_sdk::stored_events::StreamCoverage;
use kri_connector_sdk::types::{EntityRef, Event, RunRequest};
use serde_json::Value;

const NOW: &str = "2026-11-23T12:00:00.000Z";

const LOG_KRIS: [&str; 3] = [
    "okta_impossible_travel_24h",
    "okta_admin_session_outliers_24h",
    "okta_failed_mfa_push_24h",
];

fn now() -> i64 {
    iso_to_ms(NOW).unwrap_or(0)
}

/// The fake org's System Log as stored events.
fn stored(okta: &FakeOkta) -> Vec<Event> {
    let text = |v: &Value, k: &str| v[k].as_str().unwrap_or_default().to_string();
    okta.events
        .iter()
        .filter_map(|v| {
            Some(Event {
                id: v["uuid"].as_str()?.to_string(),
                time_ms: iso_to_ms(v["published"].as_str()?)?,
                event_type: text(v, "eventType"),
                actor: EntityRef {
                    id: text(&v["actor"], "id"),
                    kind: text(&v["actor"], "type"),
                    name: text(&v["actor"], "alternateId"),
                },
                targets: vec![],
                outcome: None,
                raw: v.to_string(),
            })
        })
        .collect()
}

struct Ran {
    values: Vec<(String, Option<f64>)>,
    note: String,
    log_requests: usize,
    pages_read: u64,
}

/// One `kris` run of the three log KRIs over the fake org, with `coverage` (none: no
/// stored stream).
fn run(coverage: Option<StreamCoverage>) -> Ran {
    let mut okta = load_org();
    let mut events = match coverage {
        Some(c) => MemEvents::new(stored(&okta), Some(c)),
        None => MemEvents::default(),
    };
    let (mut state, mut output, mut log) =
        (MemState::default(), MemOutput::default(), MemLog::default());
    let req = RunRequest {
        job: connector::KRIS.to_string(),
        time_budget_ms: 600_000,
        now_ms: now(),
        kris: LOG_KRIS.iter().map(|s| s.to_string()).collect(),
        extra_config: "{}".into(),
    };
    let summary = connector::run(
        &mut Host {
            http: &mut okta,
            state: &mut state,
            output: &mut output,
            log: &mut log,
            events: &mut events,
        },
        &req,
    )
    .unwrap_or_else(|e| panic!("run failed: {e:?}"));
    Ran {
        values: output
            .kris
            .iter()
            .map(|k| (k.slug.clone(), k.value))
            .collect(),
        note: summary.note,
        log_requests: okta.count_requests("/api/v1/logs"),
        pages_read: events.pages_read,
    }
}

#[test]
fn the_stored_stream_gives_the_same_log_kris_as_the_system_log() {
    let direct = run(None);
    assert_eq!(direct.values.len(), 3);
    assert!(
        direct.values.iter().all(|(_, v)| v.is_some()),
        "{:?}",
        direct.values
    );
    assert!(direct.log_requests > 0);
    assert!(
        direct.note.contains("from the system log"),
        "{}",
        direct.note
    );
    assert!(
        direct.values.iter().any(|(_, v)| *v > Some(0.0)),
        "the fixture org has log KRI findings: {:?}",
        direct.values
    );

    // (name, coverage, whether the day comes from the stream, System Log read at all)
    let cases = [
        (
            "covers the day and the admin look-back up to now",
            StreamCoverage {
                after_ms: now() - 200 * HOUR_MS,
                until_ms: now(),
            },
            true,
            false,
        ),
        (
            "ends an hour ago: the last hour from the System Log",
            StreamCoverage {
                after_ms: now() - 200 * HOUR_MS,
                until_ms: now() - HOUR_MS,
            },
            true,
            true,
        ),
        (
            "covers the day, not the admin look-back",
            StreamCoverage {
                after_ms: now() - 30 * HOUR_MS,
                until_ms: now(),
            },
            true,
            true,
        ),
        (
            "starts inside the day: not used",
            StreamCoverage {
                after_ms: now() - 12 * HOUR_MS,
                until_ms: now(),
            },
            false,
            true,
        ),
        (
            "ended before the day began: not used",
            StreamCoverage {
                after_ms: now() - 200 * HOUR_MS,
                until_ms: now() - 25 * HOUR_MS,
            },
            false,
            true,
        ),
    ];
    for (name, coverage, from_stream, reads_log) in cases {
        let r = run(Some(coverage));
        assert_eq!(r.values, direct.values, "{name}");
        assert_eq!(
            r.note.contains("from the stored stream"),
            from_stream,
            "{name}: {}",
            r.note
        );
        assert_eq!(
            r.log_requests > 0,
            reads_log,
            "{name}: {} requests",
            r.log_requests
        );
        if from_stream {
            assert!(r.pages_read > 0, "{name}");
        }
    }
}
