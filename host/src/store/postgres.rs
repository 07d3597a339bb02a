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

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, PoolError, RecyclingMethod};
use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, Row};

use super::liveness::{this_machine, this_process, RunHolder};
use super::postgres_query::{run_query, TenantViews};
use super::rows::{
    alert_from, check_resealed, definition_from, edge_from, event_from, holder_from,
    kri_point_from, kri_row_from, merge_alert, node_from, now_ms, page_start, paged_event_from,
    run_from, runs_to_take_over, schedule_from, secret_from, stored_alert_key_from, tenant_from,
    CoverageRead, CoverageShape, RowView, StatsColumns, Uncovered, ALERT_COLUMNS,
    ALERT_MERGE_COLUMNS, DEFINITION_COLUMNS, EDGE_COLUMNS, EVENT_COLUMNS, HOLDER_COLUMNS,
    HOLDER_GONE, KRI_POINT_COLUMNS, NODE_COLUMNS, PAGED_EVENT_COLUMNS, RUN_COLUMNS,
    SCHEDULE_COLUMNS, SECRET_COLUMNS, TENANT_COLUMNS,
};
use super::{
    first_seen_ms, AlertStatus, EventFilter, JobClaim, JobSchedule, KriDefinitionRow, KriPoint,
    KriRow, PagedEvent, RunCommit, RunRecord, RunStart, RunStats, Store, StoredAlert, StoredEdge,
    StoredEvent, StoredNode, Tenant, DEFAULT_RUN_LEASE, EVENT_NORMALIZED_COLUMNS,
};
use crate::error::StoreError;
use crate::graph::{AccessGraph, AccessPath};
use crate::model::{Edge, Node, RunKind, RunStatus, Severity};
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
    (
        16,
        include_str!("migrations/postgres/0016_tenants_version.sql"),
    ),
];

/// First key of kri's advisory locks ("kri1"); the second names what is locked.
const LOCK_CLASS: i32 = 0x6b72_6931;
/// Second key of the migration lock.
const MIGRATION_LOCK: i32 = 0;

/// Connections a host keeps open at most.
const POOL_SIZE: usize = 16;

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

/// PostgreSQL's row: JSON columns are JSONB values, and the generated event columns
/// have their own types (a member of another type is NULL there already).
impl RowView for Row {
    fn column_name(&self, i: usize) -> String {
        self.columns()
            .get(i)
            .map_or_else(|| i.to_string(), |c| c.name().to_string())
    }
    fn text(&self, i: usize) -> Result<String, StoreError> {
        Ok(self.try_get(i)?)
    }
    fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError> {
        Ok(self.try_get(i)?)
    }
    fn int(&self, i: usize) -> Result<i64, StoreError> {
        Ok(self.try_get(i)?)
    }
    fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError> {
        Ok(self.try_get(i)?)
    }
    fn opt_real(&self, i: usize) -> Result<Option<f64>, StoreError> {
        Ok(self.try_get(i)?)
    }
    fn flag(&self, i: usize) -> Result<bool, StoreError> {
        Ok(self.try_get(i)?)
    }
    fn bytes(&self, i: usize) -> Result<Vec<u8>, StoreError> {
        Ok(self.try_get(i)?)
    }
    fn json_as<T: serde::de::DeserializeOwned>(&self, i: usize) -> Result<Option<T>, StoreError> {
        Ok(self
            .try_get::<_, Option<serde_json::Value>>(i)?
            .and_then(|v| serde_json::from_value(v).ok()))
    }
    fn json_text(&self, i: usize) -> Result<String, StoreError> {
        // JSONB keeps no text: the value is written back as compact JSON, the text
        // SQLite keeps.
        Ok(self.try_get::<_, serde_json::Value>(i)?.to_string())
    }
    fn loose_text(&self, i: usize) -> Result<Option<String>, StoreError> {
        self.opt_text(i)
    }
    fn loose_real(&self, i: usize) -> Result<Option<f64>, StoreError> {
        self.opt_real(i)
    }
    fn loose_int(&self, i: usize) -> Result<Option<i64>, StoreError> {
        self.opt_int(i)
    }
    fn loose_flag(&self, i: usize) -> Result<Option<bool>, StoreError> {
        Ok(self.try_get::<_, Option<i32>>(i)?.map(|p| p != 0))
    }
}

/// Reads each row with `decode`.
fn decode_all<T>(
    rows: &[Row],
    decode: impl Fn(&Row) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    rows.iter().map(decode).collect()
}

fn to_json<T: serde::Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
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
                "SELECT {HOLDER_COLUMNS} FROM runs
                 WHERE status = 'running' AND {filter} FOR UPDATE"
            ),
            args,
        )
        .await?;
    decode_all(&rows, holder_from)
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
        if !holder.is_process(own, &here) && !holder.alive(&here, now) {
            interrupt(client, id, now).await?;
        }
    }
    Ok(())
}

async fn read_nodes(
    client: &impl GenericClient,
    tenant_id: &str,
) -> Result<Vec<StoredNode>, StoreError> {
    let rows = client
        .query(
            &format!(
                "SELECT {NODE_COLUMNS} FROM nodes WHERE tenant_id = $1 ORDER BY id COLLATE \"C\""
            ),
            &[&tenant_id],
        )
        .await?;
    decode_all(&rows, node_from)
}

async fn read_edges(
    client: &impl GenericClient,
    tenant_id: &str,
) -> Result<Vec<StoredEdge>, StoreError> {
    let rows = client
        .query(
            &format!(
                "SELECT {EDGE_COLUMNS} FROM edges WHERE tenant_id = $1
                 ORDER BY from_id COLLATE \"C\", to_id COLLATE \"C\", kind COLLATE \"C\""
            ),
            &[&tenant_id],
        )
        .await?;
    decode_all(&rows, edge_from)
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
    let mut gone = Uncovered::new(c);
    for part in &c.graph.coverage {
        let read = CoverageRead::of(part);
        let sql = match read.shape {
            CoverageShape::NodesOfKind => "SELECT id FROM nodes WHERE tenant_id = $1 AND kind = $2",
            CoverageShape::EdgesOfKind => {
                "SELECT from_id, to_id, kind FROM edges WHERE tenant_id = $1 AND kind = $2"
            }
            CoverageShape::EdgesFrom => {
                "SELECT from_id, to_id, kind FROM edges
                 WHERE tenant_id = $1 AND from_id = $2 AND kind = $3"
            }
            CoverageShape::EdgesTo => {
                "SELECT from_id, to_id, kind FROM edges
                 WHERE tenant_id = $1 AND to_id = $2 AND kind = $3"
            }
        };
        let rows = match read.node {
            Some(node) => tx.query(sql, &[&c.tenant_id, &node, &read.kind]).await?,
            None => tx.query(sql, &[&c.tenant_id, &read.kind]).await?,
        };
        for r in &rows {
            if read.shape == CoverageShape::NodesOfKind {
                gone.node(r.try_get(0)?);
            } else {
                gone.edge(r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
            }
        }
    }
    let rows: Vec<Vec<Param>> = gone
        .edges
        .iter()
        .map(|(from, to, kind)| -> Vec<Param> { vec![&c.tenant_id as Param, from, to, kind] })
        .collect();
    execute_each(
        tx,
        "DELETE FROM edges WHERE tenant_id = $1 AND from_id = $2 AND to_id = $3 AND kind = $4",
        &rows,
    )
    .await?;
    for id in &gone.nodes {
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
    tx.execute(
        "DELETE FROM access_path WHERE tenant_id = $1",
        &[&tenant_id],
    )
    .await?;
    let mut count = 0;
    let mut batch: Vec<AccessPath> = Vec::new();
    for rows in AccessGraph::new(&nodes, &edges).paths() {
        count += rows.len();
        batch.extend(rows);
        if batch.len() >= PATH_BATCH {
            insert_paths(tx, tenant_id, &batch).await?;
            batch.clear();
        }
    }
    insert_paths(tx, tenant_id, &batch).await?;
    Ok(count)
}

/// How many access paths are inserted together while a rebuild walks the graph:
/// enough to keep the connection's pipeline full, few enough that memory stays small.
const PATH_BATCH: usize = 2_000;

/// Inserts a batch of a tenant's access paths.
async fn insert_paths(
    tx: &deadpool_postgres::Transaction<'_>,
    tenant_id: &str,
    rows: &[AccessPath],
) -> Result<(), StoreError> {
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
    .await
}

/// An alert whose dedupe key the tenant has merges its evidence into that alert;
/// a new key opens an alert.
async fn upsert_alerts(
    tx: &deadpool_postgres::Transaction<'_>,
    c: &RunCommit,
) -> Result<(), StoreError> {
    let existing = format!(
        "SELECT {ALERT_MERGE_COLUMNS} FROM alerts WHERE tenant_id = $1 AND dedupe_key = $2 FOR UPDATE"
    );
    for a in &c.alerts {
        let found = tx
            .query_opt(&existing, &[&c.tenant_id, &a.dedupe_key])
            .await?
            .map(|r| stored_alert_key_from(&r))
            .transpose()?;
        match found {
            Some(stored) => {
                let id = stored.id;
                let merged = merge_alert(stored, a);
                tx.execute(
                    "UPDATE alerts SET evidence = $2, first_seen = $3, last_seen = $4 WHERE id = $1",
                    &[
                        &id,
                        &to_json(&merged.evidence),
                        &merged.first_seen_ms,
                        &merged.last_seen_ms,
                    ],
                )
                .await?;
                if merged.raise {
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
        tenant_from(&row)
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
            .map(tenant_from)
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
                &format!("SELECT {SECRET_COLUMNS} FROM secrets WHERE tenant_id = $1"),
                &[&tenant_id],
            )
            .await?
            .ok_or_else(|| StoreError::UnknownTenant(tenant_id.to_string()))?;
        secret_from(&row)
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
                &format!(
                    "SELECT {DEFINITION_COLUMNS} FROM kri_definitions
                     WHERE tenant_id = $1 ORDER BY slug COLLATE \"C\""
                ),
                &[&tenant_id],
            )
            .await?;
        decode_all(&rows, definition_from)
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
            for run_id in runs_to_take_over(start, holders, &here, now)? {
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
        let s = StatsColumns::from(&commit.stats);
        tx.execute(
            "UPDATE runs SET status = 'succeeded', finished_at = $2, duration_ms = $2 - started_at, requests = $3,
                 responses_429 = $4, bytes = $5, rows_written = $6, rows_skipped = $7, note = $8,
                 stream_pages = $9, stream_events = $10, stream_lag_ms = $11 WHERE id = $1",
            &[
                &commit.run_id,
                &now,
                &s.requests,
                &s.responses_429,
                &s.bytes,
                &s.rows_written,
                &s.rows_skipped,
                &commit.stats.note,
                &s.stream_pages,
                &s.stream_events,
                &s.stream_lag_ms,
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn fail_run(&self, run_id: i64, error: &str, stats: &RunStats) -> Result<(), StoreError> {
        let client = self.client().await?;
        let s = StatsColumns::from(stats);
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
                    &s.requests,
                    &s.responses_429,
                    &s.bytes,
                    &s.rows_skipped,
                    &stats.note,
                    &s.stream_pages,
                    &s.stream_events,
                    &s.stream_lag_ms,
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
            .map(run_from)
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
        decode_all(&rows, kri_row_from)
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
            .map(event_from)
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
            .map(alert_from)
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
        alert_from(&row)
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
                &format!(
                    "SELECT {SCHEDULE_COLUMNS} FROM job_schedules
                     ORDER BY tenant_id COLLATE \"C\", job COLLATE \"C\""
                ),
                &[],
            )
            .await?
            .iter()
            .map(schedule_from)
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

    async fn tenants_version(&self) -> Result<i64, StoreError> {
        let client = self.client().await?;
        Ok(client
            .query_one("SELECT version FROM tenants_version WHERE id = 1", &[])
            .await?
            .try_get(0)?)
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
                &format!(
                    "SELECT {KRI_POINT_COLUMNS} FROM kri_values
                     WHERE tenant_id = $1 AND ($2::TEXT IS NULL OR slug = $2)
                     ORDER BY run_id DESC, slug COLLATE \"C\" LIMIT $3"
                ),
                &[&tenant_id, &slug, &limit],
            )
            .await?
            .iter()
            .map(kri_point_from)
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
        let (low_ms, from_id) = page_start(after_ms, from);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let client = self.client().await?;
        client
            .query(
                &format!(
                    "SELECT {PAGED_EVENT_COLUMNS}
                     FROM events WHERE tenant_id = $1 AND published >= $2 AND published <= $3
                         AND ($4::TEXT IS NULL OR published > $2 OR uuid COLLATE \"C\" > $4)
                     ORDER BY published, uuid COLLATE \"C\" LIMIT $5"
                ),
                &[&tenant_id, &low_ms, &until_ms, &from_id, &limit],
            )
            .await?
            .iter()
            .map(paged_event_from)
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
        check_resealed(&stored, resealed)?;
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
