//! The shared [`Store`]: PostgreSQL, for hosts on more than one machine
//! (`--database postgres://...`, env `KRI_DATABASE_URL`).
//!
//! - tokio-postgres behind a deadpool pool; every operation is one short
//!   transaction (a run's commit lands whole or not at all, as on SQLite).
//! - The schema is the numbered files in `migrations/postgres/`, the twins of the
//!   SQLite migrations (same numbers and meaning, JSON as JSONB with GIN indexes on
//!   labels). Applied numbers are kept in `kri_migrations`; hosts migrating at once
//!   wait for each other on an advisory lock.
//! - A run's lease spans machines: its row names the holder's machine, pid and
//!   start time, and a lease expiry its heartbeat renews ([`Store::renew_run_lease`]).
//!   Takers of the same (tenant, job) are serialised by an advisory lock; a commit
//!   locks its run's row and is refused when the run was taken over (fencing).
//! - Due scheduled jobs are claimed with `FOR UPDATE SKIP LOCKED`, so hosts
//!   claiming at once skip each other's rows instead of waiting on them.
//! - Text is ordered with `COLLATE "C"` (byte order), as SQLite orders it.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, PoolError, RecyclingMethod};
use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, Row};

use super::liveness::{this_machine, this_process, RunHolder};
use super::postgres_query::{run_query, TenantViews};
use super::{
    current_status, first_seen_ms, format_ms, kri_change, parse_direction, parse_kri_status,
    AlertStatus, EventColumns, EventFilter, JobClaim, JobSchedule, KriDefinitionRow, KriPoint,
    KriRow, PagedEvent, RunCommit, RunRecord, RunStart, RunStats, Store, StoredAlert, StoredEdge,
    StoredEvent, StoredNode, Tenant, DEFAULT_RUN_LEASE, EVENT_NORMALIZED_COLUMNS,
};
use crate::error::StoreError;
use crate::graph::access_paths;
use crate::model::{Edge, EntityRef, Event, GraphCoverage, Node, RunKind, RunStatus, Severity};
use crate::query::{QueryLimits, QueryRows, ReadQuery};
use crate::secrets::SealedSecret;

/// Migrations by number; each is the twin of the SQLite migration of that number.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("migrations/postgres/0001_initial.sql")),
    (
        2,
        include_str!("migrations/postgres/0002_run_owner_start.sql"),
    ),
    (
        3,
        include_str!("migrations/postgres/0003_jobs_and_outputs.sql"),
    ),
    (
        4,
        include_str!("migrations/postgres/0004_secret_key_ids.sql"),
    ),
    (5, include_str!("migrations/postgres/0005_access_path.sql")),
    (
        7,
        include_str!("migrations/postgres/0007_event_columns.sql"),
    ),
    (
        9,
        include_str!("migrations/postgres/0009_job_schedules.sql"),
    ),
    (
        10,
        include_str!("migrations/postgres/0010_graph_indexes.sql"),
    ),
    (12, include_str!("migrations/postgres/0012_run_leases.sql")),
    (
        14,
        include_str!("migrations/postgres/0014_run_stream_poll.sql"),
    ),
    (15, include_str!("migrations/postgres/0015_query_role.sql")),
];

/// First key of kri's advisory locks ("kri1"); the second names what is locked.
const LOCK_CLASS: i32 = 0x6b72_6931;
/// Second key of the migration lock.
const MIGRATION_LOCK: i32 = 0;

/// Connections a host keeps open at most.
const POOL_SIZE: usize = 16;

/// What a run left `running` by a holder that is gone is marked with.
const HOLDER_GONE: &str = "the process running it stopped before it finished";

/// The PostgreSQL store.
pub struct PostgresStore {
    pool: Pool,
    /// The database URL without its password, for messages.
    database: String,
    /// How `kri query` sees one tenant's rows.
    views: TenantViews,
    /// How long a run's lease holds without a heartbeat, in ms.
    run_lease_ms: i64,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// `url` without its password, for messages.
fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            u.to_string()
        }
        Err(_) => "(an unreadable URL)".to_string(),
    }
}

/// Whether `url` names a PostgreSQL database.
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// A stored word of one of the typed enums; an unknown word is an error naming it.
fn word<T>(row: &Row, idx: usize, parse: impl Fn(&str) -> Option<T>) -> Result<T, StoreError> {
    let text: String = row.try_get(idx)?;
    parse(&text).ok_or_else(|| {
        StoreError::Worker(format!(
            "unknown stored word `{text}` in column {}",
            row.columns()[idx].name()
        ))
    })
}

/// A JSONB column as `T`; a value of another shape reads as `fallback`.
fn json_or<T: serde::de::DeserializeOwned>(value: serde_json::Value, fallback: T) -> T {
    serde_json::from_value(value).unwrap_or(fallback)
}

fn to_json<T: serde::Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

fn unknown_entity() -> EntityRef {
    EntityRef {
        id: String::new(),
        kind: String::new(),
        name: String::new(),
    }
}

impl PostgresStore {
    /// Connects to the database at `url` and brings its schema up to date. With
    /// `create` an empty database gets kri's schema; without it, a database with no
    /// kri schema is an error and nothing is written. Runs left `running` by holders
    /// that are gone are marked `interrupted`.
    pub async fn connect(url: &str, create: bool) -> Result<PostgresStore, StoreError> {
        let database = redact_url(url);
        if !is_postgres_url(url) {
            return Err(StoreError::DatabaseUrl(database));
        }
        let config: tokio_postgres::Config = url
            .parse()
            .map_err(|_| StoreError::DatabaseUrl(database.clone()))?;
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .build()
            .map_err(|e| StoreError::PostgresUnreachable {
                database: database.clone(),
                reason: e.to_string(),
            })?;
        let mut store = PostgresStore {
            pool,
            database,
            views: TenantViews::default(),
            run_lease_ms: DEFAULT_RUN_LEASE.as_millis() as i64,
        };
        let mut client = store.client().await?;
        migrate(&mut client, create, &store.database).await?;
        store.views = TenantViews::load(&client).await?;
        mark_interrupted(&client).await?;
        drop(client);
        Ok(store)
    }

    /// Sets how long a run's lease holds without a heartbeat.
    pub fn with_run_lease(mut self, lease: Duration) -> PostgresStore {
        self.run_lease_ms = lease.as_millis().clamp(1, i64::MAX as u128) as i64;
        self
    }

    /// The database URL without its password.
    pub fn database(&self) -> &str {
        &self.database
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(|e| match e {
            PoolError::Backend(e) if e.as_db_error().is_some() => StoreError::Postgres(e),
            other => StoreError::PostgresUnreachable {
                database: self.database.clone(),
                reason: other.to_string(),
            },
        })
    }

    /// Replaces one JSONB column of a tenant (`column` is one of this file's fixed
    /// names, never input); an unknown tenant is an error.
    async fn set_tenant_json(
        &self,
        id: &str,
        column: &'static str,
        json: serde_json::Value,
    ) -> Result<(), StoreError> {
        let client = self.client().await?;
        let n = client
            .execute(
                &format!("UPDATE tenants SET {column} = $2 WHERE id = $1"),
                &[&id, &json],
            )
            .await?;
        if n == 0 {
            return Err(StoreError::UnknownTenant(id.to_string()));
        }
        Ok(())
    }
}

/// Applies the migrations this database lacks, under the migration lock.
async fn migrate(
    client: &mut deadpool_postgres::Object,
    create: bool,
    database: &str,
) -> Result<(), StoreError> {
    let tx = client.transaction().await?;
    tx.execute(
        "SELECT pg_advisory_xact_lock($1, $2)",
        &[&LOCK_CLASS, &MIGRATION_LOCK],
    )
    .await?;
    let has_schema: bool = tx
        .query_one("SELECT to_regclass('kri_migrations') IS NOT NULL", &[])
        .await?
        .get(0);
    if !has_schema {
        if !create {
            return Err(StoreError::NoKriSchema {
                database: database.to_string(),
            });
        }
        tx.batch_execute(
            "CREATE TABLE kri_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
        )
        .await?;
    }
    let applied: Vec<i64> = tx
        .query("SELECT version FROM kri_migrations", &[])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let known = MIGRATIONS.iter().map(|(n, _)| *n).max().unwrap_or(0);
    if let Some(found) = applied.iter().copied().filter(|n| *n > known).max() {
        return Err(StoreError::PostgresSchemaTooNew {
            database: database.to_string(),
            found,
            known,
        });
    }
    for (number, sql) in MIGRATIONS {
        if applied.contains(number) {
            continue;
        }
        tx.batch_execute(sql).await?;
        tx.execute(
            "INSERT INTO kri_migrations (version, applied_at) VALUES ($1, $2)",
            &[number, &now_ms()],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The holders of the `running` rows of kind run matching `filter` (a fixed clause
/// of this file, never input), locked for the caller's transaction.
async fn running_holders(
    client: &impl GenericClient,
    filter: &str,
    args: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<Vec<(i64, RunHolder)>, StoreError> {
    let rows = client
        .query(
            &format!(
                "SELECT id, machine, pid, pid_start, lease_until FROM runs
                 WHERE status = 'running' AND {filter} FOR UPDATE"
            ),
            args,
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| {
            (
                r.get(0),
                RunHolder {
                    machine: r.get(1),
                    pid: r.get(2),
                    pid_start: r.get(3),
                    lease_until: r.get(4),
                },
            )
        })
        .collect())
}

async fn interrupt(client: &impl GenericClient, run_id: i64, now: i64) -> Result<(), StoreError> {
    client
        .execute(
            "UPDATE runs SET status = 'interrupted', error = $3, finished_at = $2
             WHERE id = $1 AND status = 'running'",
            &[&run_id, &now, &HOLDER_GONE],
        )
        .await?;
    Ok(())
}

/// Marks the runs whose holders are gone (other than this process's) interrupted.
async fn mark_interrupted(client: &impl GenericClient) -> Result<(), StoreError> {
    let (here, now) = (this_machine(), now_ms());
    let (own, _) = this_process();
    for (id, holder) in running_holders(client, "TRUE", &[]).await? {
        let mine = holder.pid == own && holder.machine.as_deref().is_none_or(|m| m == here);
        if !mine && !holder.alive(&here, now) {
            interrupt(client, id, now).await?;
        }
    }
    Ok(())
}

const TENANT_COLUMNS: &str =
    "id, connector, base_url, kris, extra, allow_insecure_local, quotas, created_at, schedules";

fn tenant_from_row(r: &Row) -> Result<Tenant, StoreError> {
    Ok(Tenant {
        id: r.try_get(0)?,
        connector: r.try_get(1)?,
        base_url: r.try_get(2)?,
        kris: json_or(r.try_get(3)?, Vec::new()),
        extra: r.try_get(4)?,
        allow_insecure_local: r.try_get(5)?,
        quotas: json_or(r.try_get(6)?, BTreeMap::new()),
        created_at_ms: r.try_get(7)?,
        schedules: json_or(r.try_get(8)?, BTreeMap::new()),
    })
}

const RUN_COLUMNS: &str =
    "id, tenant_id, connector, job, kind, status, error, started_at, finished_at, duration_ms,
     requests, responses_429, bytes, rows_written, rows_skipped, note,
     stream_pages, stream_events, stream_lag_ms";

fn run_from_row(r: &Row) -> Result<RunRecord, StoreError> {
    Ok(RunRecord {
        id: r.try_get(0)?,
        tenant_id: r.try_get(1)?,
        connector: r.try_get(2)?,
        job: r.try_get(3)?,
        kind: word(r, 4, |w| w.parse::<RunKind>().ok())?,
        status: word(r, 5, |w| w.parse::<RunStatus>().ok())?,
        error: r.try_get(6)?,
        started_at: format_ms(r.try_get(7)?),
        finished_at: r.try_get::<_, Option<i64>>(8)?.map(format_ms),
        duration_ms: r.try_get(9)?,
        requests: r.try_get::<_, i64>(10)? as u64,
        responses_429: r.try_get::<_, i64>(11)? as u64,
        bytes: r.try_get::<_, i64>(12)? as u64,
        rows_written: r.try_get::<_, i64>(13)? as u64,
        rows_skipped: r.try_get::<_, i64>(14)? as u64,
        note: r.try_get(15)?,
        stream_pages: r.try_get::<_, Option<i64>>(16)?.map(|n| n as u64),
        stream_events: r.try_get::<_, Option<i64>>(17)?.map(|n| n as u64),
        stream_lag_ms: r.try_get(18)?,
    })
}

/// The columns [`alert_from_row`] reads, in its order.
const ALERT_COLUMNS: &str =
    "id, detection, severity, title, dedupe_key, entity, evidence, first_seen, last_seen, details, status";

fn alert_from_row(r: &Row) -> Result<StoredAlert, StoreError> {
    Ok(StoredAlert {
        id: r.try_get(0)?,
        detection: r.try_get(1)?,
        severity: word(r, 2, |w| w.parse().ok())?,
        title: r.try_get(3)?,
        dedupe_key: r.try_get(4)?,
        entity: json_or(r.try_get(5)?, unknown_entity()),
        evidence: json_or(r.try_get(6)?, Vec::new()),
        first_seen_ms: r.try_get(7)?,
        last_seen_ms: r.try_get(8)?,
        details: r.try_get(9)?,
        status: word(r, 10, AlertStatus::parse)?,
    })
}

/// The columns [`event_from_row`] reads before the normalized ones
/// ([`EVENT_NORMALIZED_COLUMNS`]), in its order.
const EVENT_COLUMNS: &str = "uuid, published, event_type, actor, targets, outcome, raw, run_id";

fn event_from_row(r: &Row) -> Result<StoredEvent, StoreError> {
    Ok(StoredEvent {
        event: Event {
            id: r.try_get(0)?,
            time_ms: r.try_get(1)?,
            event_type: r.try_get(2)?,
            actor: json_or(r.try_get(3)?, unknown_entity()),
            targets: json_or(r.try_get(4)?, Vec::new()),
            outcome: r
                .try_get::<_, Option<serde_json::Value>>(5)?
                .and_then(|o| serde_json::from_value(o).ok()),
            raw: r.try_get(6)?,
        },
        run_id: r.try_get(7)?,
        columns: EventColumns {
            display_message: r.try_get(8)?,
            severity: r.try_get(9)?,
            outcome_result: r.try_get(10)?,
            outcome_reason: r.try_get(11)?,
            actor_id: r.try_get(12)?,
            actor_alternate_id: r.try_get(13)?,
            actor_type: r.try_get(14)?,
            client_ip: r.try_get(15)?,
            geo_city: r.try_get(16)?,
            geo_country: r.try_get(17)?,
            geo_lat: r.try_get(18)?,
            geo_lon: r.try_get(19)?,
            asn: r.try_get(20)?,
            is_proxy: r.try_get::<_, Option<i32>>(21)?.map(|p| p != 0),
            external_session_id: r.try_get(22)?,
            root_session_id: r.try_get(23)?,
            user_agent: r.try_get(24)?,
            debug_data: r.try_get(25)?,
        },
    })
}

fn schedule_from_row(r: &Row) -> Result<JobSchedule, StoreError> {
    Ok(JobSchedule {
        tenant_id: r.try_get(0)?,
        job: r.try_get(1)?,
        interval_ms: r.try_get(2)?,
        next_due_ms: r.try_get(3)?,
        lease_owner: r.try_get(4)?,
        lease_until_ms: r.try_get(5)?,
        fence: r.try_get(6)?,
    })
}

async fn read_nodes(
    client: &impl GenericClient,
    tenant_id: &str,
) -> Result<Vec<StoredNode>, StoreError> {
    let rows = client
        .query(
            "SELECT id, kind, sub_kind, name, labels, properties, first_seen, last_seen
             FROM nodes WHERE tenant_id = $1 ORDER BY id COLLATE \"C\"",
            &[&tenant_id],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(StoredNode {
                node: Node {
                    id: r.try_get(0)?,
                    kind: r.try_get(1)?,
                    sub_kind: r.try_get(2)?,
                    name: r.try_get(3)?,
                    labels: json_or(r.try_get(4)?, BTreeMap::new()),
                    properties: r.try_get(5)?,
                },
                first_seen_ms: r.try_get(6)?,
                last_seen_ms: r.try_get(7)?,
            })
        })
        .collect()
}

async fn read_edges(
    client: &impl GenericClient,
    tenant_id: &str,
) -> Result<Vec<StoredEdge>, StoreError> {
    let rows = client
        .query(
            "SELECT from_id, to_id, kind, properties, first_seen, last_seen
             FROM edges WHERE tenant_id = $1
             ORDER BY from_id COLLATE \"C\", to_id COLLATE \"C\", kind COLLATE \"C\"",
            &[&tenant_id],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(StoredEdge {
                edge: Edge {
                    from: r.try_get(0)?,
                    to: r.try_get(1)?,
                    kind: r.try_get(2)?,
                    properties: r.try_get(3)?,
                },
                first_seen_ms: r.try_get(4)?,
                last_seen_ms: r.try_get(5)?,
            })
        })
        .collect()
}

/// One statement parameter.
type Param<'a> = &'a (dyn ToSql + Sync);

/// Runs `statement` once per row of parameters, pipelined on the connection (one
/// round trip per batch, not per row).
async fn execute_each(
    tx: &deadpool_postgres::Transaction<'_>,
    statement: &str,
    rows: &[Vec<Param<'_>>],
) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let statement = tx.prepare_cached(statement).await?;
    futures::future::try_join_all(rows.iter().map(|p| tx.execute(&statement, p))).await?;
    Ok(())
}

/// Writes a run's outputs and state changes inside its commit's transaction.
async fn write_outputs(
    tx: &deadpool_postgres::Transaction<'_>,
    c: &RunCommit,
    now: i64,
) -> Result<(), StoreError> {
    let statuses: Vec<&str> = c.kris.iter().map(|o| o.status.as_str()).collect();
    let rows: Vec<Vec<Param>> = c
        .kris
        .iter()
        .zip(&statuses)
        .map(|(o, status)| -> Vec<Param> {
            vec![
                &c.tenant_id as Param,
                &c.connector,
                &o.slug,
                &o.value,
                &o.numerator,
                &o.denominator,
                status,
                &o.details,
                &o.reason,
                &c.run_id,
                &now,
            ]
        })
        .collect();
    execute_each(
        tx,
        "INSERT INTO kri_values (tenant_id, connector, slug, value, numerator, denominator, status, details, reason, run_id, computed_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        &rows,
    )
    .await?;

    // Retracted edges, then retracted nodes with their edges, leave before the run's
    // graph is upserted.
    for e in &c.graph.retracted_edges {
        tx.execute(
            "DELETE FROM edges WHERE tenant_id = $1 AND from_id = $2 AND to_id = $3 AND kind = $4",
            &[&c.tenant_id, &e.from, &e.to, &e.kind],
        )
        .await?;
    }
    for id in &c.graph.retracted {
        tx.execute(
            "DELETE FROM edges WHERE tenant_id = $1 AND (from_id = $2 OR to_id = $2)",
            &[&c.tenant_id, id],
        )
        .await?;
        tx.execute(
            "DELETE FROM nodes WHERE tenant_id = $1 AND id = $2",
            &[&c.tenant_id, id],
        )
        .await?;
    }
    let labels: Vec<serde_json::Value> = c.nodes.iter().map(|n| to_json(&n.labels)).collect();
    let rows: Vec<Vec<Param>> = c
        .nodes
        .iter()
        .zip(&labels)
        .map(|(n, labels)| -> Vec<Param> {
            vec![
                &c.tenant_id as Param,
                &n.id,
                &n.kind,
                &n.sub_kind,
                &n.name,
                labels,
                &n.properties,
                &now,
            ]
        })
        .collect();
    execute_each(
        tx,
        "INSERT INTO nodes (tenant_id, id, kind, sub_kind, name, labels, properties, first_seen, last_seen)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)
         ON CONFLICT (tenant_id, id) DO UPDATE SET kind = excluded.kind, sub_kind = excluded.sub_kind,
             name = excluded.name, labels = excluded.labels, properties = excluded.properties,
             last_seen = excluded.last_seen",
        &rows,
    )
    .await?;

    let rows: Vec<Vec<Param>> = c
        .edges
        .iter()
        .map(|e| -> Vec<Param> {
            vec![
                &c.tenant_id as Param,
                &e.from,
                &e.to,
                &e.kind,
                &e.properties,
                &now,
            ]
        })
        .collect();
    execute_each(
        tx,
        "INSERT INTO edges (tenant_id, from_id, to_id, kind, properties, first_seen, last_seen)
         VALUES ($1, $2, $3, $4, $5, $6, $6)
         ON CONFLICT (tenant_id, from_id, to_id, kind) DO UPDATE SET properties = excluded.properties,
             last_seen = excluded.last_seen",
        &rows,
    )
    .await?;
    remove_uncovered(tx, c).await?;
    if !(c.nodes.is_empty() && c.edges.is_empty() && c.graph.is_empty()) {
        rebuild_paths(tx, &c.tenant_id).await?;
    }

    let event_json: Vec<[Option<serde_json::Value>; 3]> = c
        .events
        .iter()
        .map(|e| {
            [
                Some(to_json(&e.actor)),
                Some(to_json(&e.targets)),
                e.outcome.as_ref().map(to_json),
            ]
        })
        .collect();
    let rows: Vec<Vec<Param>> = c
        .events
        .iter()
        .zip(&event_json)
        .map(|(e, [actor, targets, outcome])| -> Vec<Param> {
            vec![
                &c.tenant_id as Param,
                &e.id,
                &e.time_ms,
                &e.event_type,
                actor,
                targets,
                outcome,
                &e.raw,
                &c.run_id,
            ]
        })
        .collect();
    // A uuid the tenant already has is the same event seen again: skipped.
    execute_each(
        tx,
        "INSERT INTO events (tenant_id, uuid, published, event_type, actor, targets, outcome, raw, run_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (tenant_id, uuid) DO NOTHING",
        &rows,
    )
    .await?;

    upsert_alerts(tx, c).await?;

    let set = tx
        .prepare_cached(
            "INSERT INTO state (tenant_id, connector, key, value) VALUES ($1, $2, $3, $4)
             ON CONFLICT (tenant_id, connector, key) DO UPDATE SET value = excluded.value",
        )
        .await?;
    let del = tx
        .prepare_cached("DELETE FROM state WHERE tenant_id = $1 AND connector = $2 AND key = $3")
        .await?;
    for (key, value) in &c.state {
        match value {
            Some(v) => {
                tx.execute(&set, &[&c.tenant_id, &c.connector, key, v])
                    .await?
            }
            None => tx.execute(&del, &[&c.tenant_id, &c.connector, key]).await?,
        };
    }
    Ok(())
}

/// Removes the nodes and edges in the run's coverage that the run did not emit; a
/// removed node takes its edges along.
async fn remove_uncovered(
    tx: &deadpool_postgres::Transaction<'_>,
    c: &RunCommit,
) -> Result<(), StoreError> {
    if c.graph.coverage.is_empty() {
        return Ok(());
    }
    let emitted_nodes: HashSet<&str> = c.nodes.iter().map(|n| n.id.as_str()).collect();
    let emitted_edges: HashSet<(&str, &str, &str)> = c
        .edges
        .iter()
        .map(|e| (e.from.as_str(), e.to.as_str(), e.kind.as_str()))
        .collect();
    let mut gone_nodes: Vec<String> = Vec::new();
    let mut gone_edges: Vec<(String, String, String)> = Vec::new();
    for part in &c.graph.coverage {
        let edges = match part {
            GraphCoverage::NodeKind(kind) => {
                let rows = tx
                    .query(
                        "SELECT id FROM nodes WHERE tenant_id = $1 AND kind = $2",
                        &[&c.tenant_id, kind],
                    )
                    .await?;
                for r in &rows {
                    let id: String = r.try_get(0)?;
                    if !emitted_nodes.contains(id.as_str()) {
                        gone_nodes.push(id);
                    }
                }
                continue;
            }
            GraphCoverage::EdgeKind(kind) => {
                tx.query(
                    "SELECT from_id, to_id, kind FROM edges WHERE tenant_id = $1 AND kind = $2",
                    &[&c.tenant_id, kind],
                )
                .await?
            }
            GraphCoverage::EdgesFrom { node, kind } => {
                tx.query(
                    "SELECT from_id, to_id, kind FROM edges
                     WHERE tenant_id = $1 AND from_id = $2 AND kind = $3",
                    &[&c.tenant_id, node, kind],
                )
                .await?
            }
            GraphCoverage::EdgesTo { node, kind } => {
                tx.query(
                    "SELECT from_id, to_id, kind FROM edges
                     WHERE tenant_id = $1 AND to_id = $2 AND kind = $3",
                    &[&c.tenant_id, node, kind],
                )
                .await?
            }
        };
        for r in &edges {
            gone_edges.push((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?));
        }
    }
    let rows: Vec<Vec<Param>> = gone_edges
        .iter()
        .filter(|(from, to, kind)| {
            !emitted_edges.contains(&(from.as_str(), to.as_str(), kind.as_str()))
        })
        .map(|(from, to, kind)| -> Vec<Param> { vec![&c.tenant_id as Param, from, to, kind] })
        .collect();
    execute_each(
        tx,
        "DELETE FROM edges WHERE tenant_id = $1 AND from_id = $2 AND to_id = $3 AND kind = $4",
        &rows,
    )
    .await?;
    for id in &gone_nodes {
        tx.execute(
            "DELETE FROM edges WHERE tenant_id = $1 AND (from_id = $2 OR to_id = $2)",
            &[&c.tenant_id, id],
        )
        .await?;
        tx.execute(
            "DELETE FROM nodes WHERE tenant_id = $1 AND id = $2",
            &[&c.tenant_id, id],
        )
        .await?;
    }
    Ok(())
}

/// Replaces the tenant's `access_path` rows with the paths of its graph as `tx` sees
/// it. Rebuilds of one tenant wait for each other (an advisory lock held to the end
/// of `tx`), so the graph read is the graph the paths replace. Returns how many rows.
async fn rebuild_paths(
    tx: &deadpool_postgres::Transaction<'_>,
    tenant_id: &str,
) -> Result<usize, StoreError> {
    let key = format!("access_path\n{tenant_id}");
    tx.execute(
        "SELECT pg_advisory_xact_lock($1, hashtext($2))",
        &[&LOCK_CLASS, &key],
    )
    .await?;
    let nodes: Vec<Node> = read_nodes(tx, tenant_id)
        .await?
        .into_iter()
        .map(|n| n.node)
        .collect();
    let edges: Vec<Edge> = read_edges(tx, tenant_id)
        .await?
        .into_iter()
        .map(|e| e.edge)
        .collect();
    let rows = access_paths(&nodes, &edges);
    tx.execute(
        "DELETE FROM access_path WHERE tenant_id = $1",
        &[&tenant_id],
    )
    .await?;
    let json: Vec<[serde_json::Value; 3]> = rows
        .iter()
        .map(|r| {
            [
                to_json(&r.resource_labels),
                to_json(&r.identity_labels),
                to_json(&r.path),
            ]
        })
        .collect();
    let params: Vec<Vec<Param>> = rows
        .iter()
        .zip(&json)
        .map(|(r, [res, ident, path])| -> Vec<Param> {
            vec![
                &tenant_id as Param,
                &r.identity,
                &r.identity_id,
                &r.identity_group,
                &r.action,
                &r.action_type,
                &r.kind,
                &r.resource_group,
                &r.resource,
                &r.resource_id,
                res,
                ident,
                &r.standing_privileges,
                path,
            ]
        })
        .collect();
    execute_each(
        tx,
        "INSERT INTO access_path (tenant_id, identity, identity_id, identity_group, action,
             action_type, kind, resource_group, resource, resource_id, resource_labels,
             identity_labels, standing_privileges, path)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        &params,
    )
    .await?;
    Ok(rows.len())
}

/// An alert whose dedupe key the tenant has merges its evidence into that alert;
/// a new key opens an alert.
async fn upsert_alerts(
    tx: &deadpool_postgres::Transaction<'_>,
    c: &RunCommit,
) -> Result<(), StoreError> {
    for a in &c.alerts {
        let found = tx
            .query_opt(
                "SELECT id, evidence, first_seen, last_seen, severity FROM alerts
                 WHERE tenant_id = $1 AND dedupe_key = $2 FOR UPDATE",
                &[&c.tenant_id, &a.dedupe_key],
            )
            .await?;
        match found {
            Some(row) => {
                let id: i64 = row.try_get(0)?;
                let mut merged: Vec<String> = json_or(row.try_get(1)?, Vec::new());
                let first_seen: i64 = row.try_get(2)?;
                let last_seen: i64 = row.try_get(3)?;
                let severity: String = row.try_get(4)?;
                for e in &a.evidence {
                    if !merged.contains(e) {
                        merged.push(e.clone());
                    }
                }
                tx.execute(
                    "UPDATE alerts SET evidence = $2, first_seen = $3, last_seen = $4 WHERE id = $1",
                    &[
                        &id,
                        &to_json(&merged),
                        &first_seen.min(first_seen_ms(a)),
                        &last_seen.max(a.seen_ms),
                    ],
                )
                .await?;
                // The same incident at a higher severity takes that severity, with
                // its title and details.
                let stored: Option<Severity> = severity.parse().ok();
                if stored.is_none_or(|s| a.severity > s) {
                    tx.execute(
                        "UPDATE alerts SET severity = $2, title = $3, details = $4 WHERE id = $1",
                        &[&id, &a.severity.as_str(), &a.title, &a.details],
                    )
                    .await?;
                }
            }
            None => {
                tx.execute(
                    "INSERT INTO alerts (tenant_id, detection, severity, title, entity, dedupe_key, first_seen, last_seen, evidence, details, status)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'open')",
                    &[
                        &c.tenant_id,
                        &a.detection,
                        &a.severity.as_str(),
                        &a.title,
                        &to_json(&a.entity),
                        &a.dedupe_key,
                        &first_seen_ms(a),
                        &a.seen_ms,
                        &to_json(&a.evidence),
                        &a.details,
                    ],
                )
                .await?;
            }
        }
    }
    Ok(())
}

#[async_trait]
impl Store for PostgresStore {
    async fn add_tenant(&self, tenant: &Tenant, secret: &SealedSecret) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let inserted = tx
            .execute(
                "INSERT INTO tenants (id, connector, base_url, kris, extra, allow_insecure_local, quotas, created_at, schedules)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO NOTHING",
                &[
                    &tenant.id,
                    &tenant.connector,
                    &tenant.base_url,
                    &to_json(&tenant.kris),
                    &tenant.extra,
                    &tenant.allow_insecure_local,
                    &to_json(&tenant.quotas),
                    &now_ms(),
                    &to_json(&tenant.schedules),
                ],
            )
            .await?;
        if inserted == 0 {
            return Err(StoreError::TenantExists(tenant.id.clone()));
        }
        tx.execute(
            "INSERT INTO secrets (tenant_id, nonce, ciphertext, key_id) VALUES ($1, $2, $3, $4)",
            &[
                &tenant.id,
                &secret.nonce,
                &secret.ciphertext,
                &secret.key_id,
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn tenant(&self, id: &str) -> Result<Tenant, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE id = $1"),
                &[&id],
            )
            .await?
            .ok_or_else(|| StoreError::UnknownTenant(id.to_string()))?;
        tenant_from_row(&row)
    }

    async fn tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        let client = self.client().await?;
        client
            .query(
                &format!("SELECT {TENANT_COLUMNS} FROM tenants ORDER BY id COLLATE \"C\""),
                &[],
            )
            .await?
            .iter()
            .map(tenant_from_row)
            .collect()
    }

    async fn remove_tenant(&self, id: &str) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let n = tx
            .execute("DELETE FROM tenants WHERE id = $1", &[&id])
            .await?;
        if n == 0 {
            return Err(StoreError::UnknownTenant(id.to_string()));
        }
        // Secrets, definitions and schedules go with the tenant (ON DELETE CASCADE).
        for table in [
            "kri_values",
            "state",
            "runs",
            "nodes",
            "edges",
            "events",
            "alerts",
            "access_path",
        ] {
            tx.execute(&format!("DELETE FROM {table} WHERE tenant_id = $1"), &[&id])
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn set_tenant_extra(
        &self,
        id: &str,
        extra: &serde_json::Value,
    ) -> Result<(), StoreError> {
        self.set_tenant_json(id, "extra", extra.clone()).await
    }

    async fn set_tenant_kris(&self, id: &str, kris: &[String]) -> Result<(), StoreError> {
        self.set_tenant_json(id, "kris", to_json(&kris)).await
    }

    async fn purge_kri_values(&self, id: &str, keep: &[String]) -> Result<usize, StoreError> {
        let client = self.client().await?;
        let keep: Vec<&str> = keep.iter().map(String::as_str).collect();
        Ok(client
            .execute(
                "DELETE FROM kri_values WHERE tenant_id = $1 AND NOT (slug = ANY($2))",
                &[&id, &keep],
            )
            .await? as usize)
    }

    async fn set_tenant_quotas(
        &self,
        id: &str,
        quotas: &BTreeMap<String, u64>,
    ) -> Result<(), StoreError> {
        self.set_tenant_json(id, "quotas", to_json(quotas)).await
    }

    async fn set_secret(&self, tenant_id: &str, secret: &SealedSecret) -> Result<(), StoreError> {
        let client = self.client().await?;
        let n = client
            .execute(
                "UPDATE secrets SET nonce = $2, ciphertext = $3, key_id = $4 WHERE tenant_id = $1",
                &[
                    &tenant_id,
                    &secret.nonce,
                    &secret.ciphertext,
                    &secret.key_id,
                ],
            )
            .await?;
        if n == 0 {
            return Err(StoreError::UnknownTenant(tenant_id.to_string()));
        }
        Ok(())
    }

    async fn secret(&self, tenant_id: &str) -> Result<SealedSecret, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT nonce, ciphertext, key_id FROM secrets WHERE tenant_id = $1",
                &[&tenant_id],
            )
            .await?
            .ok_or_else(|| StoreError::UnknownTenant(tenant_id.to_string()))?;
        Ok(SealedSecret {
            nonce: row.try_get(0)?,
            ciphertext: row.try_get(1)?,
            key_id: row.try_get(2)?,
        })
    }

    async fn sealed_secrets(&self) -> Result<Vec<(String, Option<String>)>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT tenant_id, key_id FROM secrets ORDER BY tenant_id COLLATE \"C\"",
                &[],
            )
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    async fn seed_definitions(
        &self,
        tenant_id: &str,
        defs: &[KriDefinitionRow],
    ) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        for d in defs {
            tx.execute(
                "INSERT INTO kri_definitions (tenant_id, slug, name, unit, direction, warn, breach)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (tenant_id, slug) DO UPDATE SET name = excluded.name, unit = excluded.unit, direction = excluded.direction",
                &[
                    &tenant_id,
                    &d.slug,
                    &d.name,
                    &d.unit,
                    &d.direction.as_str(),
                    &d.warn,
                    &d.breach,
                ],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn definitions(&self, tenant_id: &str) -> Result<Vec<KriDefinitionRow>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT slug, name, unit, direction, warn, breach FROM kri_definitions
                 WHERE tenant_id = $1 ORDER BY slug COLLATE \"C\"",
                &[&tenant_id],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(KriDefinitionRow {
                    slug: r.try_get(0)?,
                    name: r.try_get(1)?,
                    unit: r.try_get(2)?,
                    direction: word(r, 3, parse_direction)?,
                    warn: r.try_get(4)?,
                    breach: r.try_get(5)?,
                })
            })
            .collect()
    }

    async fn set_thresholds(
        &self,
        tenant_id: &str,
        slug: &str,
        warn: Option<f64>,
        breach: Option<f64>,
    ) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let n = client
            .execute(
                "UPDATE kri_definitions SET warn = $3, breach = $4 WHERE tenant_id = $1 AND slug = $2",
                &[&tenant_id, &slug, &warn, &breach],
            )
            .await?;
        Ok(n > 0)
    }

    async fn start_run(&self, start: &RunStart) -> Result<i64, StoreError> {
        let (pid, pid_start) = this_process();
        let here = this_machine();
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let now = now_ms();
        if start.kind == RunKind::Run {
            // Takers of the same (tenant, job) wait for each other here, so two hosts
            // never both find the lease free.
            let key = format!("{}\n{}", start.tenant_id, start.job);
            tx.execute(
                "SELECT pg_advisory_xact_lock($1, hashtext($2))",
                &[&LOCK_CLASS, &key],
            )
            .await?;
            let holders = running_holders(
                &tx,
                "tenant_id = $1 AND job = $2 AND kind = 'run'",
                &[&start.tenant_id, &start.job],
            )
            .await?;
            for (run_id, holder) in holders {
                if holder.alive(&here, now) {
                    return Err(StoreError::RunInProgress {
                        tenant: start.tenant_id.clone(),
                        job: start.job.clone(),
                        run_id,
                        pid: holder.pid,
                    });
                }
                interrupt(&tx, run_id, now).await?;
            }
        }
        let id: i64 = tx
            .query_one(
                "INSERT INTO runs (tenant_id, connector, job, kind, status, pid, pid_start, started_at, machine, lease_until)
                 VALUES ($1, $2, $3, $4, 'running', $5, $6, $7, $8, $9) RETURNING id",
                &[
                    &start.tenant_id,
                    &start.connector,
                    &start.job,
                    &start.kind.as_str(),
                    &pid,
                    &pid_start,
                    &now,
                    &here,
                    &now.saturating_add(self.run_lease_ms),
                ],
            )
            .await?
            .try_get(0)?;
        tx.commit().await?;
        Ok(id)
    }

    async fn commit_run(&self, commit: RunCommit) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // The run's row stays locked until the commit ends: a taker waits, and a
        // run already taken over commits nothing (fencing).
        let status: Option<String> = tx
            .query_opt(
                "SELECT status FROM runs WHERE id = $1 FOR UPDATE",
                &[&commit.run_id],
            )
            .await?
            .map(|r| r.try_get(0))
            .transpose()?;
        if status.as_deref() != Some(RunStatus::Running.as_str()) {
            let lost = StoreError::LeaseLost {
                run_id: commit.run_id,
            };
            tx.execute(
                "UPDATE runs SET error = $2 WHERE id = $1",
                &[&commit.run_id, &lost.to_string()],
            )
            .await?;
            tx.commit().await?;
            return Err(lost);
        }
        let now = now_ms();
        write_outputs(&tx, &commit, now).await?;
        let s = &commit.stats;
        tx.execute(
            "UPDATE runs SET status = 'succeeded', finished_at = $2, duration_ms = $2 - started_at, requests = $3,
                 responses_429 = $4, bytes = $5, rows_written = $6, rows_skipped = $7, note = $8,
                 stream_pages = $9, stream_events = $10, stream_lag_ms = $11 WHERE id = $1",
            &[
                &commit.run_id,
                &now,
                &(s.requests as i64),
                &(s.responses_429 as i64),
                &(s.bytes as i64),
                &(s.rows_written as i64),
                &(s.rows_skipped as i64),
                &s.note,
                &s.stream.map(|p| p.pages as i64),
                &s.stream.map(|p| p.events as i64),
                &s.stream.and_then(|p| p.lag_ms),
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn fail_run(&self, run_id: i64, error: &str, stats: &RunStats) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "UPDATE runs SET status = 'failed', error = $2, finished_at = $3, duration_ms = $3 - started_at,
                     requests = $4, responses_429 = $5, bytes = $6, rows_written = 0, rows_skipped = $7, note = $8,
                     stream_pages = $9, stream_events = $10, stream_lag_ms = $11
                 WHERE id = $1 AND status = 'running'",
                &[
                    &run_id,
                    &error,
                    &now_ms(),
                    &(stats.requests as i64),
                    &(stats.responses_429 as i64),
                    &(stats.bytes as i64),
                    &(stats.rows_skipped as i64),
                    &stats.note,
                    &stats.stream.map(|p| p.pages as i64),
                    &stats.stream.map(|p| p.events as i64),
                    &stats.stream.and_then(|p| p.lag_ms),
                ],
            )
            .await?;
        Ok(())
    }

    async fn interrupt_own_runs(&self, reason: &str) -> Result<usize, StoreError> {
        let client = self.client().await?;
        let (pid, _) = this_process();
        Ok(client
            .execute(
                "UPDATE runs SET status = 'interrupted', error = $2, finished_at = $3, duration_ms = $3 - started_at
                 WHERE status = 'running' AND pid = $1 AND (machine IS NULL OR machine = $4)",
                &[&pid, &reason, &now_ms(), &this_machine()],
            )
            .await? as usize)
    }

    async fn runs(&self, tenant_id: &str, limit: usize) -> Result<Vec<RunRecord>, StoreError> {
        let client = self.client().await?;
        client
            .query(
                &format!(
                    "SELECT {RUN_COLUMNS} FROM runs WHERE tenant_id = $1 ORDER BY id DESC LIMIT $2"
                ),
                &[&tenant_id, &(limit as i64)],
            )
            .await?
            .iter()
            .map(run_from_row)
            .collect()
    }

    async fn latest_kris(&self, tenant_id: &str) -> Result<Vec<KriRow>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT v.slug, COALESCE(d.name, v.slug), COALESCE(d.unit, ''), v.value, v.status, v.numerator, v.denominator,
                        v.details, v.reason, d.warn, d.breach, v.run_id, v.computed_at,
                        (SELECT p.value FROM kri_values p WHERE p.tenant_id = v.tenant_id AND p.slug = v.slug AND p.run_id < v.run_id
                           ORDER BY p.run_id DESC LIMIT 1),
                        d.direction
                 FROM kri_values v
                 LEFT JOIN kri_definitions d ON d.tenant_id = v.tenant_id AND d.slug = v.slug
                 LEFT JOIN tenants t ON t.id = v.tenant_id
                 WHERE v.tenant_id = $1
                   AND v.id = (SELECT MAX(l.id) FROM kri_values l WHERE l.tenant_id = v.tenant_id AND l.slug = v.slug)
                   AND (t.kris IS NULL OR t.kris = '[]'::jsonb OR t.kris ? v.slug)
                 ORDER BY v.slug COLLATE \"C\"",
                &[&tenant_id],
            )
            .await?;
        rows.iter()
            .map(|r| {
                let value: Option<f64> = r.try_get(3)?;
                let previous: Option<f64> = r.try_get(13)?;
                let warn: Option<f64> = r.try_get(9)?;
                let breach: Option<f64> = r.try_get(10)?;
                let stored = word(r, 4, parse_kri_status)?;
                let direction = r
                    .try_get::<_, Option<String>>(14)?
                    .as_deref()
                    .and_then(parse_direction);
                Ok(KriRow {
                    slug: r.try_get(0)?,
                    name: r.try_get(1)?,
                    unit: r.try_get(2)?,
                    value,
                    status: current_status(stored, direction, value, warn, breach),
                    numerator: r.try_get(5)?,
                    denominator: r.try_get(6)?,
                    details: r.try_get(7)?,
                    reason: r.try_get(8)?,
                    warn,
                    breach,
                    run_id: r.try_get(11)?,
                    computed_at: format_ms(r.try_get(12)?),
                    previous_value: previous,
                    change: kri_change(value, previous),
                })
            })
            .collect()
    }

    async fn load_state(
        &self,
        tenant_id: &str,
        connector: &str,
    ) -> Result<BTreeMap<String, Vec<u8>>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT key, value FROM state WHERE tenant_id = $1 AND connector = $2",
                &[&tenant_id, &connector],
            )
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    async fn nodes(&self, tenant_id: &str) -> Result<Vec<StoredNode>, StoreError> {
        read_nodes(&self.client().await?, tenant_id).await
    }

    async fn edges(&self, tenant_id: &str) -> Result<Vec<StoredEdge>, StoreError> {
        read_edges(&self.client().await?, tenant_id).await
    }

    async fn events(&self, tenant_id: &str, limit: usize) -> Result<Vec<StoredEvent>, StoreError> {
        self.find_events(tenant_id, &EventFilter::default(), limit)
            .await
    }

    async fn alerts(&self, tenant_id: &str) -> Result<Vec<StoredAlert>, StoreError> {
        self.find_alerts(tenant_id, None, None).await
    }

    async fn find_events(
        &self,
        tenant_id: &str,
        filter: &EventFilter,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let client = self.client().await?;
        client
            .query(
                &format!(
                    "SELECT {EVENT_COLUMNS}, {EVENT_NORMALIZED_COLUMNS} FROM events WHERE tenant_id = $1
                         AND ($2::BIGINT IS NULL OR published >= $2)
                         AND ($3::TEXT IS NULL OR event_type = $3)
                         AND ($4::TEXT IS NULL OR actor ->> 'id' = $4 OR actor ->> 'name' = $4)
                     ORDER BY published DESC, uuid COLLATE \"C\" LIMIT $5"
                ),
                &[
                    &tenant_id,
                    &filter.since_ms,
                    &filter.event_type,
                    &filter.actor,
                    &(limit as i64),
                ],
            )
            .await?
            .iter()
            .map(event_from_row)
            .collect()
    }

    async fn find_alerts(
        &self,
        tenant_id: &str,
        status: Option<AlertStatus>,
        severity: Option<Severity>,
    ) -> Result<Vec<StoredAlert>, StoreError> {
        let client = self.client().await?;
        client
            .query(
                &format!(
                    "SELECT {ALERT_COLUMNS} FROM alerts WHERE tenant_id = $1
                         AND ($2::TEXT IS NULL OR status = $2) AND ($3::TEXT IS NULL OR severity = $3)
                     ORDER BY id"
                ),
                &[
                    &tenant_id,
                    &status.map(AlertStatus::as_str),
                    &severity.map(|s| s.as_str()),
                ],
            )
            .await?
            .iter()
            .map(alert_from_row)
            .collect()
    }

    async fn set_alert_status(
        &self,
        alert_id: i64,
        status: AlertStatus,
    ) -> Result<StoredAlert, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!("UPDATE alerts SET status = $2 WHERE id = $1 RETURNING {ALERT_COLUMNS}"),
                &[&alert_id, &status.as_str()],
            )
            .await?
            .ok_or(StoreError::UnknownAlert(alert_id))?;
        alert_from_row(&row)
    }

    async fn rebuild_access_paths(&self, tenant_id: &str) -> Result<usize, StoreError> {
        self.tenant(tenant_id).await?;
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let rows = rebuild_paths(&tx, tenant_id).await?;
        tx.commit().await?;
        Ok(rows)
    }

    async fn query(
        &self,
        tenant_id: &str,
        query: &ReadQuery,
        limits: QueryLimits,
    ) -> Result<QueryRows, StoreError> {
        self.tenant(tenant_id).await?;
        let mut client = self.client().await?;
        Ok(run_query(&mut client, &self.views, tenant_id, query, limits).await?)
    }

    async fn ensure_schedule(
        &self,
        tenant_id: &str,
        job: &str,
        interval_ms: i64,
        first_due_ms: i64,
    ) -> Result<(), StoreError> {
        let client = self.client().await?;
        let result = client
            .execute(
                "INSERT INTO job_schedules (tenant_id, job, interval_ms, next_due_ms) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (tenant_id, job) DO UPDATE SET
                     next_due_ms = CASE WHEN job_schedules.interval_ms = excluded.interval_ms
                         THEN job_schedules.next_due_ms
                         ELSE LEAST(job_schedules.next_due_ms, excluded.next_due_ms) END,
                     interval_ms = excluded.interval_ms",
                &[&tenant_id, &job, &interval_ms, &first_due_ms],
            )
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::FOREIGN_KEY_VIOLATION) => {
                Err(StoreError::UnknownTenant(tenant_id.to_string()))
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn schedules(&self) -> Result<Vec<JobSchedule>, StoreError> {
        let client = self.client().await?;
        client
            .query(
                "SELECT tenant_id, job, interval_ms, next_due_ms, lease_owner, lease_until_ms, fence
                 FROM job_schedules ORDER BY tenant_id COLLATE \"C\", job COLLATE \"C\"",
                &[],
            )
            .await?
            .iter()
            .map(schedule_from_row)
            .collect()
    }

    async fn claim_due_jobs(
        &self,
        owner: &str,
        now_ms: i64,
        lease_ms: i64,
        limit: usize,
    ) -> Result<Vec<JobClaim>, StoreError> {
        let client = self.client().await?;
        // Rows another host is claiming right now are skipped, not waited for; the
        // claim is one statement, so it commits on its own.
        let rows = client
            .query(
                "WITH due AS (
                     SELECT tenant_id, job FROM job_schedules
                     WHERE next_due_ms <= $2 AND (lease_until_ms IS NULL OR lease_until_ms <= $2)
                     ORDER BY next_due_ms, tenant_id COLLATE \"C\", job COLLATE \"C\"
                     LIMIT $4
                     FOR UPDATE SKIP LOCKED)
                 UPDATE job_schedules s SET lease_owner = $1, lease_until_ms = $2::BIGINT + $3::BIGINT, fence = s.fence + 1
                 FROM due WHERE s.tenant_id = due.tenant_id AND s.job = due.job
                 RETURNING s.tenant_id, s.job, s.fence, s.next_due_ms",
                &[&owner, &now_ms, &lease_ms, &(limit as i64)],
            )
            .await?;
        let mut claims = rows
            .iter()
            .map(|r| {
                Ok(JobClaim {
                    tenant_id: r.try_get(0)?,
                    job: r.try_get(1)?,
                    fence: r.try_get(2)?,
                    due_ms: r.try_get(3)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        claims.sort_by(|a, b| {
            (a.due_ms, &a.tenant_id, &a.job).cmp(&(b.due_ms, &b.tenant_id, &b.job))
        });
        Ok(claims)
    }

    async fn renew_job_claim(
        &self,
        owner: &str,
        claim: &JobClaim,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let n = client
            .execute(
                "UPDATE job_schedules SET lease_until_ms = $5::BIGINT + $6::BIGINT
                 WHERE tenant_id = $1 AND job = $2 AND fence = $3 AND lease_owner = $4",
                &[
                    &claim.tenant_id,
                    &claim.job,
                    &claim.fence,
                    &owner,
                    &now_ms,
                    &lease_ms,
                ],
            )
            .await?;
        Ok(n > 0)
    }

    async fn finish_job_claim(
        &self,
        owner: &str,
        claim: &JobClaim,
        next_due_ms: i64,
    ) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let n = client
            .execute(
                "UPDATE job_schedules SET lease_owner = NULL, lease_until_ms = NULL, next_due_ms = $5
                 WHERE tenant_id = $1 AND job = $2 AND fence = $3 AND lease_owner = $4",
                &[
                    &claim.tenant_id,
                    &claim.job,
                    &claim.fence,
                    &owner,
                    &next_due_ms,
                ],
            )
            .await?;
        Ok(n > 0)
    }

    async fn renew_run_lease(&self, run_id: i64) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let n = client
            .execute(
                "UPDATE runs SET lease_until = $2 WHERE id = $1 AND status = 'running'",
                &[&run_id, &now_ms().saturating_add(self.run_lease_ms)],
            )
            .await?;
        Ok(n > 0)
    }

    async fn kri_history(
        &self,
        tenant_id: &str,
        slug: Option<&str>,
        limit: usize,
    ) -> Result<Vec<KriPoint>, StoreError> {
        let client = self.client().await?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        client
            .query(
                "SELECT slug, value, status, run_id, computed_at FROM kri_values
                 WHERE tenant_id = $1 AND ($2::TEXT IS NULL OR slug = $2)
                 ORDER BY run_id DESC, slug COLLATE \"C\" LIMIT $3",
                &[&tenant_id, &slug, &limit],
            )
            .await?
            .iter()
            .map(|r| {
                Ok(KriPoint {
                    slug: r.try_get(0)?,
                    value: r.try_get(1)?,
                    status: word(r, 2, parse_kri_status)?,
                    run_id: r.try_get(3)?,
                    computed_at_ms: r.try_get(4)?,
                })
            })
            .collect()
    }

    async fn set_tenant_schedules(
        &self,
        id: &str,
        schedules: &BTreeMap<String, String>,
    ) -> Result<(), StoreError> {
        self.set_tenant_json(id, "schedules", to_json(schedules))
            .await
    }

    async fn prune_events(&self, tenant_id: &str, before_ms: i64) -> Result<usize, StoreError> {
        let client = self.client().await?;
        let n = client
            .execute(
                "DELETE FROM events WHERE tenant_id = $1 AND published < $2",
                &[&tenant_id, &before_ms],
            )
            .await?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    async fn event_page(
        &self,
        tenant_id: &str,
        after_ms: i64,
        until_ms: i64,
        from: Option<(i64, String)>,
        limit: usize,
    ) -> Result<Vec<PagedEvent>, StoreError> {
        // The lowest time a row of this page can have (inclusive): after the window's
        // start, or the previous page's last time (ties broken by id).
        let (low_ms, from_id) = match from {
            Some((ms, id)) => (ms.max(after_ms.saturating_add(1)), Some(id)),
            None => (after_ms.saturating_add(1), None),
        };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let client = self.client().await?;
        client
            .query(
                "SELECT uuid, published, event_type, actor, targets, outcome, raw
                 FROM events WHERE tenant_id = $1 AND published >= $2 AND published <= $3
                     AND ($4::TEXT IS NULL OR published > $2 OR uuid COLLATE \"C\" > $4)
                 ORDER BY published, uuid COLLATE \"C\" LIMIT $5",
                &[&tenant_id, &low_ms, &until_ms, &from_id, &limit],
            )
            .await?
            .iter()
            .map(|r| {
                // JSONB keeps no text: the raw event is written back as compact JSON,
                // the text SQLite keeps.
                let raw: serde_json::Value = r.try_get(6)?;
                Ok(PagedEvent {
                    id: r.try_get(0)?,
                    time_ms: r.try_get(1)?,
                    event_type: r.try_get(2)?,
                    actor: json_or(r.try_get(3)?, unknown_entity()),
                    targets: json_or(r.try_get(4)?, Vec::new()),
                    outcome: r
                        .try_get::<_, Option<serde_json::Value>>(5)?
                        .and_then(|o| serde_json::from_value(o).ok()),
                    raw: raw.to_string(),
                })
            })
            .collect()
    }

    async fn reseal_secrets(&self, resealed: &[(String, SealedSecret)]) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // The secrets' rows stay locked to the end: a tenant added meanwhile waits,
        // and is then seen by the next rotation.
        let stored: Vec<String> = tx
            .query(
                "SELECT tenant_id FROM secrets ORDER BY tenant_id COLLATE \"C\" FOR UPDATE",
                &[],
            )
            .await?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()?;
        let mut given: Vec<&str> = resealed.iter().map(|(t, _)| t.as_str()).collect();
        given.sort_unstable();
        if given != stored {
            return Err(StoreError::SecretsChanged);
        }
        let rows: Vec<Vec<Param>> = resealed
            .iter()
            .map(|(id, secret)| -> Vec<Param> {
                vec![
                    id as Param,
                    &secret.nonce,
                    &secret.ciphertext,
                    &secret.key_id,
                ]
            })
            .collect();
        execute_each(
            &tx,
            "UPDATE secrets SET nonce = $2, ciphertext = $3, key_id = $4 WHERE tenant_id = $1",
            &rows,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::conformance::{run_all, sealed, tenant, TEST_RUN_LEASE};
    use kri_test_pg::TestPostgres;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn conformance_suite_passes_on_postgres() {
        let pg = TestPostgres::start();
        let url = pg.create_database("conformance");
        let store = PostgresStore::connect(&url, true)
            .await
            .expect("connect")
            .with_run_lease(TEST_RUN_LEASE);
        run_all(&store).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_query_runs_as_a_role_that_reads_only_its_tenants_views() {
        use super::super::postgres_query::{run_confined, QUERY_ROLE};
        use crate::query::{QueryError, QueryLimits, ReadQuery};
        let pg = TestPostgres::start();
        let url = pg.create_database("roles");
        let store = PostgresStore::connect(&url, true).await.expect("connect");
        for t in ["acme", "globex"] {
            store.add_tenant(&tenant(t), &sealed(1)).await.expect("add");
        }
        store
            .client()
            .await
            .expect("client")
            .batch_execute(
                "INSERT INTO nodes (tenant_id, id, kind, sub_kind, name, labels, properties, first_seen, last_seen)
                 VALUES ('acme', 'u1', 'user', 'okta', 'Ann', '{}', '{}', 0, 0),
                        ('globex', 'u2', 'user', 'okta', 'Bob', '{}', '{}', 0, 0)",
            )
            .await
            .expect("nodes");
        let limits = QueryLimits::default();
        // Through the check, as `kri query` runs it.
        let checked = ReadQuery::parse("SELECT name FROM nodes").expect("parse");
        let rows = store.query("acme", &checked, limits).await.expect("query");
        assert_eq!(rows.rows, vec![vec![serde_json::json!("Ann")]]);
        // Past the check, straight to the confined transaction: the role itself
        // keeps the secrets, the real tables and the other tenant out of reach.
        let mut client = store.client().await.expect("client");
        let views = store.views.clone();
        let who = run_confined(
            &mut client,
            &views,
            "acme",
            "SELECT current_user::TEXT",
            limits,
        )
        .await
        .expect("who");
        assert_eq!(who.rows, vec![vec![serde_json::json!(QUERY_ROLE)]]);
        for sql in [
            "SELECT nonce FROM public.secrets",
            "SELECT count(*) FROM public.secrets",
            "SELECT name FROM public.nodes",
            "SELECT id FROM public.tenants",
            "SELECT id FROM public.runs",
        ] {
            let err = run_confined(&mut client, &views, "acme", sql, limits)
                .await
                .err()
                .unwrap_or_else(|| panic!("{sql} ran"));
            assert!(
                matches!(err, StoreError::Query(QueryError::Denied(_))),
                "{sql}: {err}"
            );
        }
        let own = run_confined(
            &mut client,
            &views,
            "acme",
            "SELECT name FROM pg_temp.nodes",
            limits,
        )
        .await
        .expect("own");
        assert_eq!(own.rows, vec![vec![serde_json::json!("Ann")]]);
        // Resetting the role is a function call the check refuses.
        let reset = ReadQuery::parse("SELECT set_config('role', 'none', true)").expect("parse");
        let err = store
            .query("acme", &reset, limits)
            .await
            .expect_err("refused");
        assert!(
            matches!(err, StoreError::Query(QueryError::Denied(_))),
            "{err}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn hosts_migrate_one_database_at_once_and_refuse_what_is_not_theirs() {
        let pg = TestPostgres::start();
        let url = pg.create_database("kri");
        let err = PostgresStore::connect(&url, false)
            .await
            .err()
            .expect("no schema, no create");
        assert!(matches!(err, StoreError::NoKriSchema { .. }), "{err}");
        // Three hosts opening an empty database at once: one migrates, the others
        // wait on the lock and find it done.
        let (a, b, c) = futures::join!(
            PostgresStore::connect(&url, true),
            PostgresStore::connect(&url, true),
            PostgresStore::connect(&url, true)
        );
        let (a, _b, _c) = (a.expect("a"), b.expect("b"), c.expect("c"));
        a.add_tenant(&tenant("acme"), &sealed(1))
            .await
            .expect("add");
        let reopened = PostgresStore::connect(&url, false).await.expect("reopen");
        assert_eq!(reopened.tenants().await.expect("tenants").len(), 1);

        let client = a.client().await.expect("client");
        client
            .execute(
                "INSERT INTO kri_migrations (version, applied_at) VALUES (9999, 0)",
                &[],
            )
            .await
            .expect("a newer kri's migration");
        let err = PostgresStore::connect(&url, false)
            .await
            .err()
            .expect("too new");
        assert!(
            err.to_string().contains("9999") && err.to_string().contains("upgrade kri"),
            "{err}"
        );

        let err = PostgresStore::connect("mysql://root@127.0.0.1/kri", true)
            .await
            .err()
            .expect("not postgres");
        assert!(matches!(err, StoreError::DatabaseUrl(_)), "{err}");
        let closed = format!("postgres://kri:hunter2@127.0.0.1:{}/kri", closed_port());
        let err = PostgresStore::connect(&closed, true)
            .await
            .err()
            .expect("nothing listens");
        let msg = err.to_string();
        assert!(msg.contains("cannot reach PostgreSQL"), "{msg}");
        assert!(
            !msg.contains("hunter2"),
            "the password is never shown: {msg}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_run_held_on_another_machine_counts_while_its_lease_lasts() {
        let pg = TestPostgres::start();
        let url = pg.create_database("kri");
        let store = PostgresStore::connect(&url, true)
            .await
            .expect("connect")
            .with_run_lease(Duration::from_secs(60));
        store
            .add_tenant(&tenant("acme"), &sealed(1))
            .await
            .expect("add");
        let start = RunStart {
            tenant_id: "acme".into(),
            connector: "okta".into(),
            job: "kris".into(),
            kind: RunKind::Run,
        };
        let remote = store.start_run(&start).await.expect("start");
        let client = store.client().await.expect("client");
        // A pid that means nothing here, on another machine, lease ahead.
        client
            .execute(
                "UPDATE runs SET machine = 'elsewhere', pid = 999999999 WHERE id = $1",
                &[&remote],
            )
            .await
            .expect("move the run to another machine");
        assert!(matches!(
            store.start_run(&start).await,
            Err(StoreError::RunInProgress { run_id, .. }) if run_id == remote
        ));
        let reopened = PostgresStore::connect(&url, false).await.expect("reopen");
        assert_eq!(
            reopened.runs("acme", 1).await.expect("runs")[0].status,
            RunStatus::Running,
            "opening the store leaves another machine's live run alone"
        );
        client
            .execute("UPDATE runs SET lease_until = 0 WHERE id = $1", &[&remote])
            .await
            .expect("its heartbeat stopped long ago");
        let _reopened = PostgresStore::connect(&url, false).await.expect("reopen");
        let runs = store.runs("acme", 1).await.expect("runs");
        assert_eq!(
            (runs[0].id, runs[0].status),
            (remote, RunStatus::Interrupted)
        );
        store.start_run(&start).await.expect("the job is free");
    }

    /// A loopback port nothing listens on (the listener that found it is closed).
    fn closed_port() -> u16 {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    }
}
