//! The JSON documents that the `kri` CLI prints and the HTTP API of `kri serve`
//! returns, written once so both say exactly the same: a stored event or alert with
//! its times also in RFC 3339. (KRIs, runs and tenants are their stored rows as is.)

use serde::Serialize;

use crate::store::{format_ms, StoredAlert, StoredEvent};

/// An event as `kri events --json` prints it: the stored event with its time also
/// in RFC 3339.
#[derive(Serialize)]
pub struct EventJson<'a> {
    #[serde(flatten)]
    pub event: &'a StoredEvent,
    pub published: String,
}

impl EventJson<'_> {
    pub fn of(event: &StoredEvent) -> EventJson<'_> {
        EventJson {
            event,
            published: format_ms(event.event.time_ms),
        }
    }
}

/// An alert as `kri alerts --json` prints it: the stored alert with its times also
/// in RFC 3339.
#[derive(Serialize)]
pub struct AlertJson<'a> {
    #[serde(flatten)]
    pub alert: &'a StoredAlert,
    pub first_seen: String,
    pub last_seen: String,
}

impl AlertJson<'_> {
    pub fn of(alert: &StoredAlert) -> AlertJson<'_> {
        AlertJson {
            alert,
            first_seen: format_ms(alert.first_seen_ms),
            last_seen: format_ms(alert.last_seen_ms),
        }
    }
}
