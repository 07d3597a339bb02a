//! What the two store backends share below the [`Store`](super::Store) trait: reading
//! stored rows into kri's types, and the decisions a commit makes that do not depend
//! on the database. The SQL text stays with each backend.
//!
//! - A backend shows one result row as a [`RowView`]: SQLite keeps JSON as text, which
//!   is parsed here; PostgreSQL hands JSONB over as a value.
//! - Each `*_from` function reads one type from a row whose columns are the matching
//!   `*_COLUMNS` constant, in that order; both backends select that constant.
//! - [`Uncovered`] collects the graph rows a run's coverage removes, [`merge_alert`]
//!   says how an alert seen again changes, [`page_start`] where a page of events
//!   starts, and [`check_resealed`] whether a re-sealing names every sealed secret.

use std::collections::{BTreeMap, HashSet};

use serde::de::DeserializeOwned;

use super::liveness::RunHolder;
use super::{
    current_status, first_seen_ms, format_ms, kri_change, parse_direction, parse_kri_status,
    AlertStatus, EventColumns, JobSchedule, KriDefinitionRow, KriPoint, KriRow, PagedEvent,
    RunCommit, RunRecord, RunStart, RunStats, StoredAlert, StoredEdge, StoredEvent, StoredNode,
    Tenant,
};
use crate::error::StoreError;
use crate::model::{Alert, Edge, EntityRef, Event, GraphCoverage, Node, Severity};
use crate::secrets::SealedSecret;

/// One result row of either backend, read by column index.
pub(super) trait RowView {
    /// The column's name, for messages.
    fn column_name(&self, i: usize) -> String;
    fn text(&self, i: usize) -> Result<String, StoreError>;
    fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError>;
    fn int(&self, i: usize) -> Result<i64, StoreError>;
    fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError>;
    fn opt_real(&self, i: usize) -> Result<Option<f64>, StoreError>;
    fn flag(&self, i: usize) -> Result<bool, StoreError>;
    fn bytes(&self, i: usize) -> Result<Vec<u8>, StoreError>;
    /// A JSON column as `T`: `None` when it is NULL, or is not a `T` (stored text
    /// that does not parse included), so an odd value still shows its row.
    fn json_as<T: DeserializeOwned>(&self, i: usize) -> Result<Option<T>, StoreError>;
    /// A JSON column as compact JSON text (SQLite: the stored text as it is).
    fn json_text(&self, i: usize) -> Result<String, StoreError>;
    /// A generated event column (see [`EventColumns`]): a member of an odd type reads
    /// as what it can be, else `None`, never as an error.
    fn loose_text(&self, i: usize) -> Result<Option<String>, StoreError>;
    fn loose_real(&self, i: usize) -> Result<Option<f64>, StoreError>;
    fn loose_int(&self, i: usize) -> Result<Option<i64>, StoreError>;
    fn loose_flag(&self, i: usize) -> Result<Option<bool>, StoreError>;
}

/// A JSON column, `fallback` when it is NULL or unreadable.
fn json_or<T: DeserializeOwned>(r: &impl RowView, i: usize, fallback: T) -> Result<T, StoreError> {
    Ok(r.json_as(i)?.unwrap_or(fallback))
}

/// A column holding a word of one of the typed enums; an unknown word is an error
/// naming it.
pub(super) fn word<T>(
    r: &impl RowView,
    i: usize,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<T, StoreError> {
    let text = r.text(i)?;
    parse(&text).ok_or_else(|| StoreError::UnknownStoredWord {
        column: r.column_name(i),
        word: text,
    })
}

/// What a JSON entity column reads as when it is unreadable.
pub(super) fn unknown_entity() -> EntityRef {
    EntityRef {
        id: String::new(),
        kind: String::new(),
        name: String::new(),
    }
}

/// Epoch milliseconds now.
pub(super) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// What a run left `running` by a holder that is gone is marked with.
pub(super) const HOLDER_GONE: &str = "the process running it stopped before it finished";

/// The columns [`tenant_from`] reads, in its order.
pub(super) const TENANT_COLUMNS: &str =
    "id, connector, base_url, kris, extra, allow_insecure_local, quotas, created_at, schedules";

pub(super) fn tenant_from(r: &impl RowView) -> Result<Tenant, StoreError> {
    Ok(Tenant {
        id: r.text(0)?,
        connector: r.text(1)?,
        base_url: r.text(2)?,
        kris: json_or(r, 3, Vec::new())?,
        extra: json_or(r, 4, serde_json::Value::Object(Default::default()))?,
        allow_insecure_local: r.flag(5)?,
        quotas: json_or(r, 6, BTreeMap::new())?,
        created_at_ms: r.int(7)?,
        schedules: json_or(r, 8, BTreeMap::new())?,
    })
}

/// The columns [`secret_from`] reads, in its order.
pub(super) const SECRET_COLUMNS: &str = "nonce, ciphertext, key_id";

pub(super) fn secret_from(r: &impl RowView) -> Result<SealedSecret, StoreError> {
    Ok(SealedSecret {
        nonce: r.bytes(0)?,
        ciphertext: r.bytes(1)?,
        key_id: r.opt_text(2)?,
    })
}

/// The columns [`definition_from`] reads, in its order.
pub(super) const DEFINITION_COLUMNS: &str = "slug, name, unit, direction, warn, breach";

pub(super) fn definition_from(r: &impl RowView) -> Result<KriDefinitionRow, StoreError> {
    Ok(KriDefinitionRow {
        slug: r.text(0)?,
        name: r.text(1)?,
        unit: r.text(2)?,
        direction: word(r, 3, parse_direction)?,
        warn: r.opt_real(4)?,
        breach: r.opt_real(5)?,
    })
}

/// The columns [`holder_from`] reads, in its order: a run's id and its holder.
pub(super) const HOLDER_COLUMNS: &str = "id, machine, pid, pid_start, lease_until";

pub(super) fn holder_from(r: &impl RowView) -> Result<(i64, RunHolder), StoreError> {
    Ok((
        r.int(0)?,
        RunHolder {
            machine: r.opt_text(1)?,
            pid: r.int(2)?,
            pid_start: r.opt_int(3)?,
            lease_until: r.opt_int(4)?,
        },
    ))
}

/// The runs to mark interrupted before a new run of `start` takes the lease on its
/// (tenant, job), given the `running` holders of that job: those whose holder is
/// gone. While a live holder runs the job, [`StoreError::RunInProgress`].
pub(super) fn runs_to_take_over(
    start: &RunStart,
    holders: Vec<(i64, RunHolder)>,
    here: &str,
    now_ms: i64,
) -> Result<Vec<i64>, StoreError> {
    let mut gone = Vec::new();
    for (run_id, holder) in holders {
        if holder.alive(here, now_ms) {
            return Err(StoreError::RunInProgress {
                tenant: start.tenant_id.clone(),
                job: start.job.clone(),
                run_id,
                pid: holder.pid,
            });
        }
        gone.push(run_id);
    }
    Ok(gone)
}

/// The columns [`run_from`] reads, in its order.
pub(super) const RUN_COLUMNS: &str =
    "id, tenant_id, connector, job, kind, status, error, started_at, finished_at, duration_ms,
     requests, responses_429, bytes, rows_written, rows_skipped, note,
     stream_pages, stream_events, stream_lag_ms";

pub(super) fn run_from(r: &impl RowView) -> Result<RunRecord, StoreError> {
    let count = |i: usize| -> Result<u64, StoreError> { Ok(r.int(i)? as u64) };
    Ok(RunRecord {
        id: r.int(0)?,
        tenant_id: r.text(1)?,
        connector: r.text(2)?,
        job: r.text(3)?,
        kind: word(r, 4, |w| w.parse().ok())?,
        status: word(r, 5, |w| w.parse().ok())?,
        error: r.opt_text(6)?,
        started_at: format_ms(r.int(7)?),
        finished_at: r.opt_int(8)?.map(format_ms),
        duration_ms: r.opt_int(9)?,
        requests: count(10)?,
        responses_429: count(11)?,
        bytes: count(12)?,
        rows_written: count(13)?,
        rows_skipped: count(14)?,
        note: r.opt_text(15)?,
        stream_pages: r.opt_int(16)?.map(|n| n as u64),
        stream_events: r.opt_int(17)?.map(|n| n as u64),
        stream_lag_ms: r.opt_int(18)?,
    })
}

/// A run's counters as the `runs` columns keep them (`requests` .. `stream_lag_ms`).
pub(super) struct StatsColumns {
    pub requests: i64,
    pub responses_429: i64,
    pub bytes: i64,
    pub rows_written: i64,
    pub rows_skipped: i64,
    pub stream_pages: Option<i64>,
    pub stream_events: Option<i64>,
    pub stream_lag_ms: Option<i64>,
}

impl From<&RunStats> for StatsColumns {
    fn from(s: &RunStats) -> StatsColumns {
        StatsColumns {
            requests: s.requests as i64,
            responses_429: s.responses_429 as i64,
            bytes: s.bytes as i64,
            rows_written: s.rows_written as i64,
            rows_skipped: s.rows_skipped as i64,
            stream_pages: s.stream.map(|p| p.pages as i64),
            stream_events: s.stream.map(|p| p.events as i64),
            stream_lag_ms: s.stream.and_then(|p| p.lag_ms),
        }
    }
}

/// The latest value of each KRI with its definition (`latest_kris`), in this order;
/// the previous value and the direction come last.
pub(super) fn kri_row_from(r: &impl RowView) -> Result<KriRow, StoreError> {
    let value = r.opt_real(3)?;
    let previous = r.opt_real(13)?;
    let warn = r.opt_real(9)?;
    let breach = r.opt_real(10)?;
    let stored = word(r, 4, parse_kri_status)?;
    let direction = r.opt_text(14)?.as_deref().and_then(parse_direction);
    Ok(KriRow {
        slug: r.text(0)?,
        name: r.text(1)?,
        unit: r.text(2)?,
        value,
        status: current_status(stored, direction, value, warn, breach),
        numerator: r.opt_real(5)?,
        denominator: r.opt_real(6)?,
        details: json_or(r, 7, serde_json::Value::Null)?,
        reason: r.opt_text(8)?,
        warn,
        breach,
        run_id: r.int(11)?,
        computed_at: format_ms(r.int(12)?),
        previous_value: previous,
        change: kri_change(value, previous),
    })
}

/// The columns [`kri_point_from`] reads, in its order.
pub(super) const KRI_POINT_COLUMNS: &str = "slug, value, status, run_id, computed_at";

pub(super) fn kri_point_from(r: &impl RowView) -> Result<KriPoint, StoreError> {
    Ok(KriPoint {
        slug: r.text(0)?,
        value: r.opt_real(1)?,
        status: word(r, 2, parse_kri_status)?,
        run_id: r.int(3)?,
        computed_at_ms: r.int(4)?,
    })
}

/// The columns [`node_from`] reads, in its order.
pub(super) const NODE_COLUMNS: &str =
    "id, kind, sub_kind, name, labels, properties, first_seen, last_seen";

pub(super) fn node_from(r: &impl RowView) -> Result<StoredNode, StoreError> {
    Ok(StoredNode {
        node: Node {
            id: r.text(0)?,
            kind: r.text(1)?,
            sub_kind: r.text(2)?,
            name: r.text(3)?,
            labels: json_or(r, 4, BTreeMap::new())?,
            properties: json_or(r, 5, serde_json::Value::Null)?,
        },
        first_seen_ms: r.int(6)?,
        last_seen_ms: r.int(7)?,
    })
}

/// The columns [`edge_from`] reads, in its order.
pub(super) const EDGE_COLUMNS: &str = "from_id, to_id, kind, properties, first_seen, last_seen";

pub(super) fn edge_from(r: &impl RowView) -> Result<StoredEdge, StoreError> {
    Ok(StoredEdge {
        edge: Edge {
            from: r.text(0)?,
            to: r.text(1)?,
            kind: r.text(2)?,
            properties: json_or(r, 3, serde_json::Value::Null)?,
        },
        first_seen_ms: r.int(4)?,
        last_seen_ms: r.int(5)?,
    })
}

/// The columns [`alert_from`] reads, in its order.
pub(super) const ALERT_COLUMNS: &str =
    "id, detection, severity, title, dedupe_key, entity, evidence, first_seen, last_seen, details, status";

pub(super) fn alert_from(r: &impl RowView) -> Result<StoredAlert, StoreError> {
    Ok(StoredAlert {
        id: r.int(0)?,
        detection: r.text(1)?,
        severity: word(r, 2, |w| w.parse().ok())?,
        title: r.text(3)?,
        dedupe_key: r.text(4)?,
        entity: json_or(r, 5, unknown_entity())?,
        evidence: json_or(r, 6, Vec::new())?,
        first_seen_ms: r.int(7)?,
        last_seen_ms: r.int(8)?,
        details: json_or(r, 9, serde_json::Value::Null)?,
        status: word(r, 10, AlertStatus::parse)?,
    })
}

/// The columns [`event_from`] reads before the normalized ones
/// ([`EVENT_NORMALIZED_COLUMNS`](super::EVENT_NORMALIZED_COLUMNS)), in its order.
pub(super) const EVENT_COLUMNS: &str =
    "uuid, published, event_type, actor, targets, outcome, raw, run_id";

pub(super) fn event_from(r: &impl RowView) -> Result<StoredEvent, StoreError> {
    Ok(StoredEvent {
        event: Event {
            id: r.text(0)?,
            time_ms: r.int(1)?,
            event_type: r.text(2)?,
            actor: json_or(r, 3, unknown_entity())?,
            targets: json_or(r, 4, Vec::new())?,
            outcome: r.json_as(5)?,
            raw: json_or(r, 6, serde_json::Value::Null)?,
        },
        run_id: r.int(7)?,
        columns: event_columns(r, 8)?,
    })
}

/// [`EventColumns`] from the row's columns `first..`, in the order of
/// [`EVENT_NORMALIZED_COLUMNS`](super::EVENT_NORMALIZED_COLUMNS).
fn event_columns(r: &impl RowView, first: usize) -> Result<EventColumns, StoreError> {
    let text = |i: usize| r.loose_text(first + i);
    Ok(EventColumns {
        display_message: text(0)?,
        severity: text(1)?,
        outcome_result: text(2)?,
        outcome_reason: text(3)?,
        actor_id: text(4)?,
        actor_alternate_id: text(5)?,
        actor_type: text(6)?,
        client_ip: text(7)?,
        geo_city: text(8)?,
        geo_country: text(9)?,
        geo_lat: r.loose_real(first + 10)?,
        geo_lon: r.loose_real(first + 11)?,
        asn: r.loose_int(first + 12)?,
        is_proxy: r.loose_flag(first + 13)?,
        external_session_id: text(14)?,
        root_session_id: text(15)?,
        user_agent: text(16)?,
        debug_data: r.json_as(first + 17)?,
    })
}

/// The columns [`paged_event_from`] reads, in its order.
pub(super) const PAGED_EVENT_COLUMNS: &str =
    "uuid, published, event_type, actor, targets, outcome, raw";

pub(super) fn paged_event_from(r: &impl RowView) -> Result<PagedEvent, StoreError> {
    Ok(PagedEvent {
        id: r.text(0)?,
        time_ms: r.int(1)?,
        event_type: r.text(2)?,
        actor: json_or(r, 3, unknown_entity())?,
        targets: json_or(r, 4, Vec::new())?,
        outcome: r.json_as(5)?,
        raw: r.json_text(6)?,
    })
}

/// The columns [`schedule_from`] reads, in its order.
pub(super) const SCHEDULE_COLUMNS: &str =
    "tenant_id, job, interval_ms, next_due_ms, lease_owner, lease_until_ms, fence";

pub(super) fn schedule_from(r: &impl RowView) -> Result<JobSchedule, StoreError> {
    Ok(JobSchedule {
        tenant_id: r.text(0)?,
        job: r.text(1)?,
        interval_ms: r.int(2)?,
        next_due_ms: r.int(3)?,
        lease_owner: r.opt_text(4)?,
        lease_until_ms: r.opt_int(5)?,
        fence: r.int(6)?,
    })
}

/// The columns [`stored_alert_key_from`] reads: what an alert seen again merges into.
pub(super) const ALERT_MERGE_COLUMNS: &str = "id, evidence, first_seen, last_seen, severity";

/// A stored alert as [`merge_alert`] needs it.
pub(super) struct StoredAlertKey {
    pub id: i64,
    pub evidence: Vec<String>,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
    /// `None` when the stored word is not a severity this kri knows.
    pub severity: Option<Severity>,
}

pub(super) fn stored_alert_key_from(r: &impl RowView) -> Result<StoredAlertKey, StoreError> {
    Ok(StoredAlertKey {
        id: r.int(0)?,
        evidence: json_or(r, 1, Vec::new())?,
        first_seen_ms: r.int(2)?,
        last_seen_ms: r.int(3)?,
        severity: r.text(4)?.parse().ok(),
    })
}

/// How a stored alert changes when its incident is seen again.
pub(super) struct AlertMerge {
    /// The stored evidence with the new evidence appended (each id once).
    pub evidence: Vec<String>,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
    /// The new emission's severity is higher (or the stored one unknown): the alert
    /// takes its severity, title and details.
    pub raise: bool,
}

/// The same incident again: more evidence, the earlier first-seen, the later
/// last-seen, and the higher severity when it rose.
pub(super) fn merge_alert(stored: StoredAlertKey, a: &Alert) -> AlertMerge {
    let mut evidence = stored.evidence;
    for e in &a.evidence {
        if !evidence.contains(e) {
            evidence.push(e.clone());
        }
    }
    AlertMerge {
        evidence,
        first_seen_ms: stored.first_seen_ms.min(first_seen_ms(a)),
        last_seen_ms: stored.last_seen_ms.max(a.seen_ms),
        raise: stored.severity.is_none_or(|s| a.severity > s),
    }
}

/// The graph rows in a run's coverage that the run did not emit, collected while a
/// backend reads what each coverage part names.
pub(super) struct Uncovered<'c> {
    emitted_nodes: HashSet<&'c str>,
    emitted_edges: HashSet<(&'c str, &'c str, &'c str)>,
    /// Nodes to remove, with their edges.
    pub nodes: Vec<String>,
    /// Edges to remove, as (from, to, kind).
    pub edges: Vec<(String, String, String)>,
}

impl<'c> Uncovered<'c> {
    pub fn new(c: &'c RunCommit) -> Uncovered<'c> {
        Uncovered {
            emitted_nodes: c.nodes.iter().map(|n| n.id.as_str()).collect(),
            emitted_edges: c
                .edges
                .iter()
                .map(|e| (e.from.as_str(), e.to.as_str(), e.kind.as_str()))
                .collect(),
            nodes: Vec::new(),
            edges: Vec::new(),
        }
    }

    /// A covered node: removed unless the run emitted it.
    pub fn node(&mut self, id: String) {
        if !self.emitted_nodes.contains(id.as_str()) {
            self.nodes.push(id);
        }
    }

    /// A covered edge: removed unless the run emitted it.
    pub fn edge(&mut self, from: String, to: String, kind: String) {
        if !self
            .emitted_edges
            .contains(&(from.as_str(), to.as_str(), kind.as_str()))
        {
            self.edges.push((from, to, kind));
        }
    }
}

/// Which rows one part of a run's coverage names, as a backend's SQL reads them: the
/// statement is picked by [`CoverageRead::shape`], its arguments are the tenant, then
/// [`CoverageRead::node`] when there is one, then [`CoverageRead::kind`].
pub(super) struct CoverageRead<'a> {
    pub shape: CoverageShape,
    pub node: Option<&'a str>,
    pub kind: &'a str,
}

/// The four statements a coverage part needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CoverageShape {
    /// The ids of every node of a kind.
    NodesOfKind,
    /// (from, to, kind) of every edge of a kind.
    EdgesOfKind,
    /// ... of every edge of a kind from one node.
    EdgesFrom,
    /// ... of every edge of a kind to one node.
    EdgesTo,
}

impl<'a> CoverageRead<'a> {
    pub fn of(part: &'a GraphCoverage) -> CoverageRead<'a> {
        let (shape, node, kind) = match part {
            GraphCoverage::NodeKind(kind) => (CoverageShape::NodesOfKind, None, kind),
            GraphCoverage::EdgeKind(kind) => (CoverageShape::EdgesOfKind, None, kind),
            GraphCoverage::EdgesFrom { node, kind } => (CoverageShape::EdgesFrom, Some(node), kind),
            GraphCoverage::EdgesTo { node, kind } => (CoverageShape::EdgesTo, Some(node), kind),
        };
        CoverageRead {
            shape,
            node: node.map(String::as_str),
            kind,
        }
    }
}

/// Where a page of `event_page` starts: the lowest time a row of it can have
/// (inclusive), after the window's start or at the previous page's last time, and
/// the id that breaks ties at that time.
pub(super) fn page_start(after_ms: i64, from: Option<(i64, String)>) -> (i64, Option<String>) {
    match from {
        Some((ms, id)) => (ms.max(after_ms.saturating_add(1)), Some(id)),
        None => (after_ms.saturating_add(1), None),
    }
}

/// Whether `resealed` names exactly the tenants with a stored secret (`stored`, in
/// byte order); else [`StoreError::SecretsChanged`].
pub(super) fn check_resealed(
    stored: &[String],
    resealed: &[(String, SealedSecret)],
) -> Result<(), StoreError> {
    let mut given: Vec<&str> = resealed.iter().map(|(t, _)| t.as_str()).collect();
    given.sort_unstable();
    if given.len() != stored.len() || given.iter().zip(stored).any(|(g, s)| *g != s) {
        return Err(StoreError::SecretsChanged);
    }
    Ok(())
}
