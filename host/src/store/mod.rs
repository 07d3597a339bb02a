//! The store: what kri keeps between runs, behind the [`Store`] trait.
//!
//! It holds tenants, their sealed secrets, run history, KRI values (every run's, so
//! the latest and its change can be shown), KRI definitions and thresholds, connector
//! state, the identity graph (nodes, edges) with its access paths, the audit stream
//! (events) and alerts. A run's outputs and state changes land in ONE transaction
//! ([`Store::commit_run`]); a failed run only updates its own `runs` row, so earlier
//! values and state stay untouched.
//!
//! - [`sqlite`] is the embedded backend (`<data-dir>/kri.db`), with its numbered SQL
//!   migrations in `migrations/`.
//! - `sqlite_query` runs `kri query` SQL on SQLite, confined to one tenant.
//! - [`postgres`] is the backend hosts share (`--database postgres://...`), with the
//!   PostgreSQL twins of the migrations in `migrations/postgres/` (same numbers,
//!   same meaning); `postgres_query` runs `kri query` SQL on it natively.
//! - [`liveness`] tells whether the holder of a run's lease is still alive; a run's
//!   lease lasts [`DEFAULT_RUN_LEASE`] unless its heartbeat renews it.
//! - `rows` is what the backends share below the trait: reading rows into kri's
//!   types, and the decisions of a commit that do not depend on the database.
//! - `conformance` is the test suite every backend passes.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize, Serializer};

use crate::error::StoreError;
use crate::model::{
    Alert, Direction, Edge, EntityRef, Event, EventOutcome, GraphChanges, KriStatus, Node, RunKind,
    RunStatus, Severity,
};
use crate::query::{QueryLimits, QueryRows, ReadQuery};
use crate::secrets::SealedSecret;

#[cfg(test)]
mod conformance;
pub mod liveness;
pub mod postgres;
mod postgres_query;
mod rows;
pub mod sqlite;
mod sqlite_query;

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

/// How long a run's lease holds without its heartbeat; the heartbeat renews it every
/// third of that.
pub const DEFAULT_RUN_LEASE: Duration = Duration::from_secs(60);

/// A tenant as stored (its secret is kept apart, sealed).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Tenant {
    pub id: String,
    pub connector: String,
    pub base_url: String,
    pub kris: Vec<String>,
    pub extra: serde_json::Value,
    pub allow_insecure_local: bool,
    pub quotas: BTreeMap<String, u64>,
    pub created_at_ms: i64,
    /// Per-job schedule overrides, job -> ISO-8601 duration (`kris` -> `P1D`), on top
    /// of the connector manifest's default schedules (`kri serve`).
    pub schedules: BTreeMap<String, String>,
}

/// A KRI definition with this tenant's thresholds.
#[derive(Debug, Clone, PartialEq)]
pub struct KriDefinitionRow {
    pub slug: String,
    pub name: String,
    pub unit: String,
    pub direction: Direction,
    pub warn: Option<f64>,
    pub breach: Option<f64>,
}

/// Serialises a [`KriStatus`] as its stored word (`ok`, `not_evaluated`, ...).
fn kri_status_word<S: Serializer>(status: &KriStatus, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(status.as_str())
}

/// Reads a stored KRI status word back.
pub fn parse_kri_status(word: &str) -> Option<KriStatus> {
    [
        KriStatus::Ok,
        KriStatus::Warn,
        KriStatus::Breach,
        KriStatus::NotEvaluated,
    ]
    .into_iter()
    .find(|s| s.as_str() == word)
}

/// Reads a stored direction word back.
pub(crate) fn parse_direction(word: &str) -> Option<Direction> {
    [Direction::HigherIsBetter, Direction::LowerIsBetter]
        .into_iter()
        .find(|d| d.as_str() == word)
}

/// The status a latest KRI value shows: it follows the current thresholds, so a
/// threshold change shows at once; a value that was not evaluated stays so.
pub(crate) fn current_status(
    stored: KriStatus,
    direction: Option<Direction>,
    value: Option<f64>,
    warn: Option<f64>,
    breach: Option<f64>,
) -> KriStatus {
    match direction {
        Some(d) if stored != KriStatus::NotEvaluated => {
            kri_policy::threshold::status(value, d, warn, breach)
        }
        _ => stored,
    }
}

/// The change from the previous value to this one, to one decimal.
pub(crate) fn kri_change(value: Option<f64>, previous: Option<f64>) -> Option<f64> {
    match (value, previous) {
        (Some(v), Some(p)) => Some(((v - p) * 10.0).round() / 10.0),
        _ => None,
    }
}

/// One KRI output of a run with its status against the thresholds, ready to store.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KriOutput {
    pub slug: String,
    pub value: Option<f64>,
    pub numerator: Option<f64>,
    pub denominator: Option<f64>,
    #[serde(serialize_with = "kri_status_word")]
    pub status: KriStatus,
    pub details: serde_json::Value,
    pub reason: Option<String>,
}

/// The latest value of a KRI, with the one before it.
#[derive(Debug, Clone, Serialize)]
pub struct KriRow {
    pub slug: String,
    pub name: String,
    pub unit: String,
    pub value: Option<f64>,
    #[serde(serialize_with = "kri_status_word")]
    pub status: KriStatus,
    pub numerator: Option<f64>,
    pub denominator: Option<f64>,
    pub details: serde_json::Value,
    pub reason: Option<String>,
    pub warn: Option<f64>,
    pub breach: Option<f64>,
    pub previous_value: Option<f64>,
    pub change: Option<f64>,
    pub run_id: i64,
    pub computed_at: String,
}

/// Counters a run reports, success or failure.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunStats {
    pub requests: u64,
    pub responses_429: u64,
    pub bytes: u64,
    pub rows_written: u64,
    pub rows_skipped: u64,
    pub note: Option<String>,
    /// What the run read of an upstream log, when it polled one.
    #[serde(default)]
    pub stream: Option<StreamPoll>,
}

/// What one poll of an upstream log read (the `stored-events` import's `record-poll`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamPoll {
    pub pages: u64,
    pub events: u64,
    /// The run's time less the newest event time read so far, in ms.
    pub lag_ms: Option<i64>,
}

/// A row of run history.
#[derive(Debug, Clone, Serialize)]
pub struct RunRecord {
    pub id: i64,
    pub tenant_id: String,
    pub connector: String,
    /// The connector's job this run ran (`kris` for runs from before jobs).
    pub job: String,
    pub kind: RunKind,
    pub status: RunStatus,
    pub error: Option<String>,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub duration_ms: Option<i64>,
    pub requests: u64,
    pub responses_429: u64,
    pub bytes: u64,
    pub rows_written: u64,
    pub rows_skipped: u64,
    pub note: Option<String>,
    /// Pages read by a poll of an upstream log (`None`: the run polled none).
    pub stream_pages: Option<u64>,
    /// Events read by that poll.
    pub stream_events: Option<u64>,
    /// That poll's lag: its time less the newest event time read, in ms.
    pub stream_lag_ms: Option<i64>,
}

/// What a run is, recorded when it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunStart {
    pub tenant_id: String,
    pub connector: String,
    pub job: String,
    pub kind: RunKind,
}

/// State changes of one run: `Some` sets a key, `None` deletes it.
pub type StateChanges = BTreeMap<String, Option<Vec<u8>>>;

/// Everything a successful run commits, in one transaction.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunCommit {
    pub run_id: i64,
    pub tenant_id: String,
    pub connector: String,
    pub kris: Vec<KriOutput>,
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
    /// Events whose id the tenant already has are skipped, not errors.
    pub events: Vec<Event>,
    /// An alert whose dedupe key the tenant already has updates that alert.
    pub alerts: Vec<Alert>,
    pub state: StateChanges,
    pub stats: RunStats,
    /// Deletions in the identity graph. When the run emitted nodes or edges or asks
    /// for deletions, the tenant's access paths are rebuilt in the same transaction.
    pub graph: GraphChanges,
}

/// A node of the identity graph with when the store first and last saw it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredNode {
    #[serde(flatten)]
    pub node: Node,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
}

/// An edge of the identity graph with when the store first and last saw it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredEdge {
    #[serde(flatten)]
    pub edge: Edge,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
}

/// Where an operator has taken an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertStatus {
    Open,
    Acknowledged,
    Resolved,
}

impl AlertStatus {
    /// The word stored and printed for this status.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Open => "open",
            AlertStatus::Acknowledged => "acknowledged",
            AlertStatus::Resolved => "resolved",
        }
    }

    /// Reads a stored word back.
    pub fn parse(word: &str) -> Option<AlertStatus> {
        [
            AlertStatus::Open,
            AlertStatus::Acknowledged,
            AlertStatus::Resolved,
        ]
        .into_iter()
        .find(|s| s.as_str() == word)
    }
}

/// An alert as stored: one per (tenant, dedupe key).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredAlert {
    pub id: i64,
    pub detection: String,
    pub severity: Severity,
    pub title: String,
    pub dedupe_key: String,
    pub entity: EntityRef,
    /// Ids of the evidence events, from every emission, oldest first.
    pub evidence: Vec<String>,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
    pub details: serde_json::Value,
    pub status: AlertStatus,
}

/// An event as stored, newest first when listed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredEvent {
    #[serde(flatten)]
    pub event: Event,
    /// The run that stored it first.
    pub run_id: i64,
    #[serde(flatten)]
    pub columns: EventColumns,
}

/// The normalized columns the store derives from a stored event's raw JSON (the
/// `events` table's generated columns); each is `None` when the raw event lacks it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct EventColumns {
    pub display_message: Option<String>,
    pub severity: Option<String>,
    pub outcome_result: Option<String>,
    pub outcome_reason: Option<String>,
    pub actor_id: Option<String>,
    pub actor_alternate_id: Option<String>,
    pub actor_type: Option<String>,
    pub client_ip: Option<String>,
    pub geo_city: Option<String>,
    pub geo_country: Option<String>,
    pub geo_lat: Option<f64>,
    pub geo_lon: Option<f64>,
    pub asn: Option<i64>,
    pub is_proxy: Option<bool>,
    pub external_session_id: Option<String>,
    pub root_session_id: Option<String>,
    pub user_agent: Option<String>,
    /// The debug data the detections read, as JSON.
    pub debug_data: Option<serde_json::Value>,
}

/// The generated columns [`EventColumns`] reads, in its field order; both backends
/// select them after an event's own columns.
pub const EVENT_NORMALIZED_COLUMNS: &str = "display_message, severity, outcome_result, \
     outcome_reason, actor_id, actor_alternate_id, actor_type, client_ip, geo_city, geo_country, \
     geo_lat, geo_lon, asn, is_proxy, external_session_id, root_session_id, user_agent, debug_data";

/// Which events to list; every field that is set must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// Published at or after this time (ms since the Unix epoch).
    pub since_ms: Option<i64>,
    pub event_type: Option<String>,
    /// The actor's id or name (an Okta user id or login).
    pub actor: Option<String>,
}

/// One job of one tenant on a schedule, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobSchedule {
    pub tenant_id: String,
    pub job: String,
    pub interval_ms: i64,
    pub next_due_ms: i64,
    /// The host holding the job now, while its lease lasts.
    pub lease_owner: Option<String>,
    pub lease_until_ms: Option<i64>,
    /// Incremented by every claim: a holder whose fence moved on has lost the job.
    pub fence: i64,
}

/// A claimed due job: the claimant runs it, then finishes the claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobClaim {
    pub tenant_id: String,
    pub job: String,
    pub fence: i64,
    pub due_ms: i64,
}

/// One stored value of a KRI, for its history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KriPoint {
    pub slug: String,
    pub value: Option<f64>,
    #[serde(serialize_with = "kri_status_word")]
    pub status: KriStatus,
    pub run_id: i64,
    pub computed_at_ms: i64,
}

/// How far a tenant's stored event stream is complete: every event whose time is in
/// `(after_ms, until_ms]` is stored. Declared by the job that stores the stream
/// (the `stored-events` import) and kept with the connector's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamCoverage {
    pub after_ms: i64,
    pub until_ms: i64,
}

/// A stored event as a page of the `stored-events` import carries it: its raw JSON
/// as the stored text, not parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct PagedEvent {
    pub id: String,
    pub time_ms: i64,
    pub event_type: String,
    pub actor: EntityRef,
    pub targets: Vec<EntityRef>,
    pub outcome: Option<EventOutcome>,
    pub raw: String,
}

/// What kri keeps, whatever the backend. Every method is one short transaction.
#[async_trait]
pub trait Store: Send + Sync {
    // ---- tenants and secrets -------------------------------------------------

    /// Adds a tenant with its sealed secret; [`StoreError::TenantExists`] if the id is
    /// taken.
    async fn add_tenant(&self, tenant: &Tenant, secret: &SealedSecret) -> Result<(), StoreError>;
    async fn tenant(&self, id: &str) -> Result<Tenant, StoreError>;
    /// Every tenant, by id.
    async fn tenants(&self) -> Result<Vec<Tenant>, StoreError>;
    /// Removes a tenant with everything kept for it: secret, values, state, runs,
    /// graph, events and alerts.
    async fn remove_tenant(&self, id: &str) -> Result<(), StoreError>;
    /// Replaces a tenant's extra config (validated by the caller).
    async fn set_tenant_extra(&self, id: &str, extra: &serde_json::Value)
        -> Result<(), StoreError>;
    /// Replaces which KRIs a tenant computes (`[]` = all; validated by the caller).
    async fn set_tenant_kris(&self, id: &str, kris: &[String]) -> Result<(), StoreError>;
    /// Deletes the stored values of a tenant's KRIs that are not in `keep`; returns
    /// how many values were deleted.
    async fn purge_kri_values(&self, id: &str, keep: &[String]) -> Result<usize, StoreError>;
    /// Replaces a tenant's quota overrides.
    async fn set_tenant_quotas(
        &self,
        id: &str,
        quotas: &BTreeMap<String, u64>,
    ) -> Result<(), StoreError>;
    /// Replaces a tenant's sealed token.
    async fn set_secret(&self, tenant_id: &str, secret: &SealedSecret) -> Result<(), StoreError>;
    async fn secret(&self, tenant_id: &str) -> Result<SealedSecret, StoreError>;
    /// Every sealed secret's tenant and the id of the key that sealed it (`None` for
    /// secrets sealed before key ids were recorded), by tenant.
    async fn sealed_secrets(&self) -> Result<Vec<(String, Option<String>)>, StoreError>;

    // ---- KRI definitions -----------------------------------------------------

    /// Records the manifest's KRI definitions for a tenant. Thresholds already stored
    /// for a slug are kept (an operator may have tuned them); new slugs get the
    /// manifest's defaults.
    async fn seed_definitions(
        &self,
        tenant_id: &str,
        defs: &[KriDefinitionRow],
    ) -> Result<(), StoreError>;
    async fn definitions(&self, tenant_id: &str) -> Result<Vec<KriDefinitionRow>, StoreError>;
    /// Sets a tenant's thresholds of one KRI; false when the tenant has no such KRI.
    async fn set_thresholds(
        &self,
        tenant_id: &str,
        slug: &str,
        warn: Option<f64>,
        breach: Option<f64>,
    ) -> Result<bool, StoreError>;

    // ---- runs ----------------------------------------------------------------

    /// Records the start of a run, owned by this process; the row stays `running`
    /// until finished. Returns the run's id.
    ///
    /// A run of kind [`RunKind::Run`] takes the lease on its (tenant, job): while
    /// another live process (or this one) runs the same job for the tenant, this is
    /// [`StoreError::RunInProgress`]. A run whose holder is gone (its process on this
    /// machine was killed, or its lease expired without a heartbeat: see
    /// [`liveness::RunHolder::alive`]) is marked `interrupted` and its lease taken
    /// over. Other jobs of the tenant run freely. Finishing the run (either way)
    /// ends the lease.
    async fn start_run(&self, start: &RunStart) -> Result<i64, StoreError>;
    /// Commits a successful run: its outputs, its state changes and its `runs` row,
    /// in one transaction. Either all of it lands or none. A run that is no longer
    /// `running` (its lease was taken over) commits nothing: that is
    /// [`StoreError::LeaseLost`], and the run's row says so.
    async fn commit_run(&self, commit: RunCommit) -> Result<(), StoreError>;
    /// Records a failed run. Touches nothing but the run's own row. A backend whose
    /// database is locked by another process records the failure where it can and
    /// shows it at once; it never leaves the run `running`.
    async fn fail_run(&self, run_id: i64, error: &str, stats: &RunStats) -> Result<(), StoreError>;
    /// Marks the runs this process left `running` as `interrupted` with `reason` (a
    /// signal ended the process before they finished), releasing their leases.
    /// Returns how many.
    async fn interrupt_own_runs(&self, reason: &str) -> Result<usize, StoreError>;
    /// A tenant's runs, newest first.
    async fn runs(&self, tenant_id: &str, limit: usize) -> Result<Vec<RunRecord>, StoreError>;

    // ---- what runs produced --------------------------------------------------

    /// The latest value of each KRI of a tenant, with the previous value.
    async fn latest_kris(&self, tenant_id: &str) -> Result<Vec<KriRow>, StoreError>;
    /// All committed state of a tenant's connector.
    async fn load_state(
        &self,
        tenant_id: &str,
        connector: &str,
    ) -> Result<BTreeMap<String, Vec<u8>>, StoreError>;
    /// A tenant's graph nodes, by id.
    async fn nodes(&self, tenant_id: &str) -> Result<Vec<StoredNode>, StoreError>;
    /// A tenant's graph edges, by (from, to, kind).
    async fn edges(&self, tenant_id: &str) -> Result<Vec<StoredEdge>, StoreError>;
    /// A tenant's newest events, newest first.
    async fn events(&self, tenant_id: &str, limit: usize) -> Result<Vec<StoredEvent>, StoreError> {
        self.find_events(tenant_id, &EventFilter::default(), limit)
            .await
    }
    /// A tenant's alerts, oldest first.
    async fn alerts(&self, tenant_id: &str) -> Result<Vec<StoredAlert>, StoreError> {
        self.find_alerts(tenant_id, None, None).await
    }

    /// A tenant's events matching `filter`, newest first, at most `limit`.
    async fn find_events(
        &self,
        tenant_id: &str,
        filter: &EventFilter,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError>;
    /// A tenant's alerts with this status and severity (either `None` for any),
    /// oldest first.
    async fn find_alerts(
        &self,
        tenant_id: &str,
        status: Option<AlertStatus>,
        severity: Option<Severity>,
    ) -> Result<Vec<StoredAlert>, StoreError>;
    /// Moves an alert (of any tenant; alert ids are unique in the store) to
    /// `status` and returns it; [`StoreError::UnknownAlert`] if there is none.
    async fn set_alert_status(
        &self,
        alert_id: i64,
        status: AlertStatus,
    ) -> Result<StoredAlert, StoreError>;

    /// Replaces a tenant's `access_path` rows with the paths of its current graph
    /// ([`crate::graph::AccessGraph`]), in one transaction. Returns how many rows.
    async fn rebuild_access_paths(&self, tenant_id: &str) -> Result<usize, StoreError>;

    // ---- SQL -----------------------------------------------------------------

    /// Runs a read-only query over the tenant's own rows of the queryable tables
    /// ([`crate::query::QUERY_TABLES`]) and nothing else, within `limits`.
    async fn query(
        &self,
        tenant_id: &str,
        query: &ReadQuery,
        limits: QueryLimits,
    ) -> Result<QueryRows, StoreError>;

    // ---- job schedules (kri serve) ----

    /// Makes sure `(tenant, job)` has a schedule with this interval. A new schedule is
    /// first due at `first_due_ms`; an existing one keeps its next due time unless its
    /// interval changed, then it is due at the earlier of that time and
    /// `first_due_ms`. Unknown tenant: [`StoreError::UnknownTenant`]. Removing a tenant
    /// removes its schedules.
    async fn ensure_schedule(
        &self,
        tenant_id: &str,
        job: &str,
        interval_ms: i64,
        first_due_ms: i64,
    ) -> Result<(), StoreError>;
    /// Every schedule, ordered by tenant then job.
    async fn schedules(&self) -> Result<Vec<JobSchedule>, StoreError>;
    /// Claims up to `limit` schedules due at `now_ms` (next_due_ms <= now_ms) whose lease
    /// is free or expired, oldest due first: lease_owner = owner, lease_until =
    /// now + lease_ms, fence + 1. Two hosts never claim the same row (PostgreSQL:
    /// `FOR UPDATE SKIP LOCKED`; SQLite: one write transaction).
    async fn claim_due_jobs(
        &self,
        owner: &str,
        now_ms: i64,
        lease_ms: i64,
        limit: usize,
    ) -> Result<Vec<JobClaim>, StoreError>;
    /// Extends a held claim to now + lease_ms; false when the claim was lost (another
    /// host's claim moved the fence on, or the schedule is gone).
    async fn renew_job_claim(
        &self,
        owner: &str,
        claim: &JobClaim,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<bool, StoreError>;
    /// Frees the lease and sets the next due time; false when the claim was lost.
    async fn finish_job_claim(
        &self,
        owner: &str,
        claim: &JobClaim,
        next_due_ms: i64,
    ) -> Result<bool, StoreError>;

    // ---- per-tenant schedule overrides and KRI history (kri serve) ----

    /// A tenant's stored KRI values (of one KRI when `slug` is given), newest first,
    /// at most `limit`.
    async fn kri_history(
        &self,
        tenant_id: &str,
        slug: Option<&str>,
        limit: usize,
    ) -> Result<Vec<KriPoint>, StoreError>;

    /// Replaces a tenant's schedule overrides (job -> ISO-8601 duration; validated by
    /// the caller); an unknown tenant is an error.
    async fn set_tenant_schedules(
        &self,
        id: &str,
        schedules: &BTreeMap<String, String>,
    ) -> Result<(), StoreError>;
    // ---- the System Log stream (retention) -------------------------------------

    /// Deletes a tenant's events published before `before_ms`; returns how many.
    async fn prune_events(&self, tenant_id: &str, before_ms: i64) -> Result<usize, StoreError>;
    // ---- Stored stream pages (issue 10: the 24 h KRIs read the stored stream) -------

    /// One page of a tenant's events whose time is in `(after_ms, until_ms]` and,
    /// with `from`, comes after that (time, id): ascending by (time, id), at most
    /// `limit`.
    async fn event_page(
        &self,
        tenant_id: &str,
        after_ms: i64,
        until_ms: i64,
        from: Option<(i64, String)>,
        limit: usize,
    ) -> Result<Vec<PagedEvent>, StoreError>;
    // ---- creds: key rotation ---------------------------------------------------

    /// Replaces every tenant's sealed secret with its re-sealed one (sealed under a
    /// new key), in one transaction: afterwards either every secret is the new one
    /// or none is. Fails, changing nothing, unless `resealed` names exactly the
    /// tenants that have a secret (one added meanwhile would stay under the old key).
    async fn reseal_secrets(&self, resealed: &[(String, SealedSecret)]) -> Result<(), StoreError>;

    // ---- run leases across machines (pg) ----

    /// The heartbeat of a running run: extends its lease by the store's run lease
    /// from now. False when the run is no longer `running` (its lease was lost and
    /// taken over, or it finished): its holder must not commit.
    async fn renew_run_lease(&self, run_id: i64) -> Result<bool, StoreError>;

    // ---- scheduler sync (store2): skip re-reading unchanged tenants ----

    /// A counter that moves whenever any tenant is added, changed or removed, by any
    /// process sharing the store; `kri serve` re-reads tenants and schedules only
    /// when it has moved (and now and then for safety).
    async fn tenants_version(&self) -> Result<i64, StoreError>;
}

/// When an alert's first evidence happened: `details.first_seen_ms` when the
/// connector gives it (the WIT alert carries only the newest evidence's time), else
/// `seen_ms`.
pub(crate) fn first_seen_ms(a: &Alert) -> i64 {
    a.details
        .get("first_seen_ms")
        .and_then(serde_json::Value::as_i64)
        .map_or(a.seen_ms, |f| f.min(a.seen_ms))
}

/// Formats epoch milliseconds as RFC 3339 UTC (`2026-11-23T02:10:23.000Z`).
pub fn format_ms(ms: i64) -> String {
    let t = jiff::Timestamp::from_millisecond(ms).unwrap_or(if ms < 0 {
        jiff::Timestamp::MIN
    } else {
        jiff::Timestamp::MAX
    });
    format!("{t:.3}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_epoch_ms_as_rfc3339() {
        let cases: &[(i64, &str)] = &[
            (0, "1970-01-01T00:00:00.000Z"),
            (951_782_400_123, "2000-02-29T00:00:00.123Z"),
            (1_795_400_000_000, "2026-11-23T02:13:20.000Z"),
            (-1, "1969-12-31T23:59:59.999Z"),
        ];
        for (ms, want) in cases {
            assert_eq!(format_ms(*ms), *want, "case {ms}");
        }
    }

    #[test]
    fn typed_statuses_serialise_to_the_stored_words() {
        let out = KriOutput {
            slug: "x".into(),
            value: None,
            numerator: None,
            denominator: None,
            status: KriStatus::NotEvaluated,
            details: serde_json::json!({}),
            reason: None,
        };
        let json = serde_json::to_value(&out).expect("json");
        assert_eq!(json["status"], "not_evaluated");
        for s in [
            KriStatus::Ok,
            KriStatus::Warn,
            KriStatus::Breach,
            KriStatus::NotEvaluated,
        ] {
            assert_eq!(parse_kri_status(s.as_str()), Some(s));
        }
        assert_eq!(
            AlertStatus::parse("acknowledged"),
            Some(AlertStatus::Acknowledged)
        );
        assert_eq!(
            serde_json::to_value(AlertStatus::Resolved).expect("json"),
            "resolved"
        );
    }
}
