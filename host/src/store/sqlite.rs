//! The embedded [`Store`]: SQLite (WAL) at `<data-dir>/kri.db`.
//!
//! One connection behind a mutex; every operation is one short transaction, run on
//! tokio's blocking pool so it never stalls the async workers. Schema changes are the
//! numbered SQL files in `migrations/`, applied in order and counted by SQLite's
//! `user_version`, so an existing database migrates forward on open.
//!
//! - The data directory is created 0700 and the database 0600 (SQLite gives its
//!   `-wal` and `-shm` files the database's mode); looser existing files are
//!   tightened.
//! - A database is kri's when its `application_id` says so (or, from before the id
//!   was set, when it has kri's schema): an empty file or another program's database
//!   is refused, never re-created.
//! - A failure that cannot be recorded because another process holds the write lock
//!   goes to `kri.db-failed-runs` (JSON lines): reads show it at once, and the next
//!   write applies it.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::types::ValueRef;
use rusqlite::{
    params, Connection, ErrorCode, OptionalExtension, Row, Transaction, TransactionBehavior,
};
use serde::{Deserialize, Serialize};

use super::liveness::{this_machine, this_process, RunHolder};
use super::rows::{
    alert_from, check_resealed, definition_from, edge_from, event_from, holder_from,
    kri_point_from, kri_row_from, merge_alert, node_from, now_ms, page_start, paged_event_from,
    run_from, runs_to_take_over, schedule_from, secret_from, stored_alert_key_from, tenant_from,
    CoverageRead, CoverageShape, RowView, StatsColumns, Uncovered, ALERT_COLUMNS,
    ALERT_MERGE_COLUMNS, DEFINITION_COLUMNS, EDGE_COLUMNS, EVENT_COLUMNS, HOLDER_COLUMNS,
    HOLDER_GONE, KRI_POINT_COLUMNS, NODE_COLUMNS, PAGED_EVENT_COLUMNS, RUN_COLUMNS,
    SCHEDULE_COLUMNS, SECRET_COLUMNS, TENANT_COLUMNS,
};
use super::sqlite_query::run_query;
use super::{
    first_seen_ms, format_ms, AlertStatus, EventFilter, JobClaim, JobSchedule, KriDefinitionRow,
    KriPoint, KriRow, PagedEvent, RunCommit, RunRecord, RunStart, RunStats, Store, StoredAlert,
    StoredEdge, StoredEvent, StoredNode, Tenant, DEFAULT_RUN_LEASE, EVENT_NORMALIZED_COLUMNS,
};
use crate::error::StoreError;
use crate::graph::AccessGraph;
use crate::model::{Edge, Node, RunKind, RunStatus, Severity};
use crate::query::{QueryLimits, QueryRows, ReadQuery};
use crate::secrets::SealedSecret;

/// Ordered migrations; index + 1 is the schema version they bring the database to.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_initial.sql"),
    include_str!("migrations/0002_run_owner_start.sql"),
    include_str!("migrations/0003_jobs_and_outputs.sql"),
    include_str!("migrations/0004_secret_key_ids.sql"),
    include_str!("migrations/0005_access_path.sql"),
    include_str!("migrations/0007_event_columns.sql"),
    include_str!("migrations/0009_job_schedules.sql"),
    include_str!("migrations/0010_graph_indexes.sql"),
    include_str!("migrations/0012_run_leases.sql"),
    include_str!("migrations/0014_run_stream_poll.sql"),
    include_str!("migrations/0016_tenants_version.sql"),
];

/// SQLite's `application_id` of a kri database: "kri1".
const APPLICATION_ID: i32 = 0x6b72_6931;

/// How long a statement waits for another process's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// The SQLite store.
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    /// The database file, for messages.
    path: PathBuf,
    /// Failures recorded while the database was locked (see the module docs).
    pending: Arc<PendingFailures>,
    /// How long a run's lease holds without a heartbeat, in ms.
    run_lease_ms: i64,
}

/// A run failure that could not be written to the locked database.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct PendingFailure {
    run_id: i64,
    error: String,
    finished_at: i64,
    stats: RunStats,
}

/// The file of [`PendingFailure`]s, one JSON object a line.
struct PendingFailures {
    path: PathBuf,
}

impl PendingFailures {
    fn read(&self) -> HashMap<i64, PendingFailure> {
        // A missing file is the usual case; a torn last line is skipped.
        std::fs::read_to_string(&self.path)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<PendingFailure>(l).ok())
            .map(|f| (f.run_id, f))
            .collect()
    }

    fn append(&self, failure: &PendingFailure) -> Result<(), StoreError> {
        let io = |source| StoreError::DataDir {
            path: self.path.clone(),
            source,
        };
        let mut opts = std::fs::OpenOptions::new();
        opts.create(true).append(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&self.path).map_err(io)?;
        let line = serde_json::to_string(failure).unwrap_or_default();
        f.write_all(format!("{line}\n").as_bytes())
            .and_then(|_| f.sync_all())
            .map_err(io)
    }

    /// Writes the pending failures into the database and removes the file. Writing
    /// one twice changes nothing (only a `running` row takes it).
    fn apply(&self, conn: &Connection) -> Result<(), StoreError> {
        let pending = self.read();
        if pending.is_empty() {
            return Ok(());
        }
        for f in pending.values() {
            record_failure(conn, f)?;
        }
        std::fs::remove_file(&self.path).map_err(|source| StoreError::DataDir {
            path: self.path.clone(),
            source,
        })
    }
}

fn record_failure(conn: &Connection, f: &PendingFailure) -> Result<(), StoreError> {
    let s = StatsColumns::from(&f.stats);
    conn.execute(
        "UPDATE runs SET status = 'failed', error = ?2, finished_at = ?3, duration_ms = ?3 - started_at,
             requests = ?4, responses_429 = ?5, bytes = ?6, rows_written = 0, rows_skipped = ?7, note = ?8,
             stream_pages = ?9, stream_events = ?10, stream_lag_ms = ?11
         WHERE id = ?1 AND status = 'running'",
        params![
            f.run_id,
            f.error,
            f.finished_at,
            s.requests,
            s.responses_429,
            s.bytes,
            s.rows_skipped,
            f.stats.note,
            s.stream_pages,
            s.stream_events,
            s.stream_lag_ms,
        ],
    )?;
    Ok(())
}

/// Whether an error means another connection holds the lock.
fn is_locked(e: &StoreError) -> bool {
    matches!(
        e,
        StoreError::Sqlite(rusqlite::Error::SqliteFailure(f, _))
            if matches!(f.code, ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

/// SQLite's row: JSON is stored as text, and `json_extract` gives each generated
/// event column the type the raw member has.
impl RowView for Row<'_> {
    fn column_name(&self, i: usize) -> String {
        self.as_ref()
            .column_name(i)
            .map_or_else(|_| i.to_string(), str::to_string)
    }
    fn text(&self, i: usize) -> Result<String, StoreError> {
        Ok(self.get(i)?)
    }
    fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError> {
        Ok(self.get(i)?)
    }
    fn int(&self, i: usize) -> Result<i64, StoreError> {
        Ok(self.get(i)?)
    }
    fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError> {
        Ok(self.get(i)?)
    }
    fn opt_real(&self, i: usize) -> Result<Option<f64>, StoreError> {
        Ok(self.get(i)?)
    }
    fn flag(&self, i: usize) -> Result<bool, StoreError> {
        Ok(self.get(i)?)
    }
    fn bytes(&self, i: usize) -> Result<Vec<u8>, StoreError> {
        Ok(self.get(i)?)
    }
    fn json_as<T: serde::de::DeserializeOwned>(&self, i: usize) -> Result<Option<T>, StoreError> {
        Ok(match self.get_ref(i)? {
            ValueRef::Text(t) => serde_json::from_slice(t).ok(),
            ValueRef::Integer(n) => serde_json::from_value(n.into()).ok(),
            ValueRef::Real(x) => serde_json::from_value(x.into()).ok(),
            ValueRef::Null | ValueRef::Blob(_) => None,
        })
    }
    fn json_text(&self, i: usize) -> Result<String, StoreError> {
        Ok(self.get(i)?)
    }
    fn loose_text(&self, i: usize) -> Result<Option<String>, StoreError> {
        Ok(match self.get_ref(i)? {
            ValueRef::Text(t) => Some(String::from_utf8_lossy(t).into_owned()),
            ValueRef::Integer(n) => Some(n.to_string()),
            ValueRef::Real(x) => Some(x.to_string()),
            ValueRef::Null | ValueRef::Blob(_) => None,
        })
    }
    fn loose_real(&self, i: usize) -> Result<Option<f64>, StoreError> {
        Ok(match self.get_ref(i)? {
            ValueRef::Real(x) => Some(x),
            ValueRef::Integer(n) => Some(n as f64),
            _ => None,
        })
    }
    fn loose_int(&self, i: usize) -> Result<Option<i64>, StoreError> {
        Ok(match self.get_ref(i)? {
            ValueRef::Integer(n) => Some(n),
            _ => None,
        })
    }
    fn loose_flag(&self, i: usize) -> Result<Option<bool>, StoreError> {
        // json_extract reads a JSON boolean as 0 or 1.
        Ok(self.loose_int(i)?.map(|n| n != 0))
    }
}

/// Runs a prepared statement and reads each row with `decode`.
fn read_rows<'s, T>(
    stmt: &'s mut rusqlite::Statement<'_>,
    args: impl rusqlite::Params,
    decode: impl Fn(&Row<'s>) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let mut rows = stmt.query(args)?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(decode(r)?);
    }
    Ok(out)
}

/// Runs a query for at most one row and reads it with `decode` (a closure, so that
/// it reads a row of any lifetime).
fn read_row<T>(
    conn: &Connection,
    sql: &str,
    args: impl rusqlite::Params,
    decode: impl Fn(&Row<'_>) -> Result<T, StoreError>,
) -> Result<Option<T>, StoreError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(args)?;
    rows.next()?.map(decode).transpose()
}

fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

impl SqliteStore {
    /// Opens (creating if needed) `<data_dir>/kri.db`, applies migrations, and marks
    /// runs left `running` by a process that no longer exists as `interrupted`.
    pub fn open(data_dir: &Path) -> Result<SqliteStore, StoreError> {
        create_private_dir(data_dir)?;
        let path = data_dir.join("kri.db");
        let created = create_private_file(&path)?;
        let not_kri = |reason: &str| StoreError::NotKriDatabase {
            path: path.clone(),
            reason: reason.to_string(),
        };
        if !created && std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0) == 0 {
            return Err(not_kri(
                "the file is empty, so kri did not write it (a kri database is never empty); restore it from a backup, or remove it to start an empty store",
            ));
        }
        let mut conn = Connection::open(&path)?;
        let settings = |conn: &Connection| -> Result<(), StoreError> {
            conn.busy_timeout(BUSY_TIMEOUT)?;
            conn.pragma_update(None, "journal_mode", "WAL")?;
            conn.pragma_update(None, "synchronous", "NORMAL")?;
            conn.pragma_update(None, "foreign_keys", "ON")?;
            Ok(())
        };
        settings(&conn).map_err(|e| match e {
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(f, _))
                if f.code == ErrorCode::NotADatabase =>
            {
                not_kri("it is not an SQLite database; pass the right --data-dir")
            }
            other => other,
        })?;
        check_written_by_kri(&conn, created).map_err(|reason| not_kri(&reason))?;
        migrate(&mut conn, &path)?;
        tighten_permissions(&path)?;
        let pending = PendingFailures {
            path: data_dir.join("kri.db-failed-runs"),
        };
        match pending.apply(&conn) {
            // Another process holds the lock: the failures stay pending for now.
            Err(e) if is_locked(&e) => {}
            other => other?,
        }
        mark_interrupted(&conn)?;
        Ok(SqliteStore {
            conn: Arc::new(Mutex::new(conn)),
            path,
            pending: Arc::new(pending),
            run_lease_ms: DEFAULT_RUN_LEASE.as_millis() as i64,
        })
    }

    /// Sets how long a run's lease holds without a heartbeat.
    pub fn with_run_lease(mut self, lease: Duration) -> SqliteStore {
        self.run_lease_ms = lease.as_millis().clamp(1, i64::MAX as u128) as i64;
        self
    }

    /// Opens an existing store; an error if `<data_dir>/kri.db` does not exist.
    pub fn open_existing(data_dir: &Path) -> Result<SqliteStore, StoreError> {
        let path = data_dir.join("kri.db");
        if !path.exists() {
            return Err(StoreError::DataDir {
                path: data_dir.to_path_buf(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no kri.db here; add a tenant first (`kri tenant add`) or pass the right --data-dir",
                ),
            });
        }
        Self::open(data_dir)
    }

    /// Runs `f` on the connection on tokio's blocking pool.
    /// Replaces one JSON column of a tenant (`column` is one of this file's fixed
    /// names, never input); an unknown tenant is an error.
    async fn set_tenant_json(
        &self,
        id: &str,
        column: &'static str,
        json: String,
    ) -> Result<(), StoreError> {
        let id = id.to_string();
        self.call(move |conn| {
            let n = conn.execute(
                &format!("UPDATE tenants SET {column} = ?2 WHERE id = ?1"),
                params![id, json],
            )?;
            if n == 0 {
                return Err(StoreError::UnknownTenant(id));
            }
            Ok(())
        })
        .await
    }

    async fn call<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            // A panic while holding the lock cannot leave SQLite inconsistent
            // (transactions roll back on drop), so a poisoned lock is safe to reuse.
            let mut guard = conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut guard)
        })
        .await
        .map_err(|e| StoreError::Worker(e.to_string()))?
        .map_err(|e| {
            if is_locked(&e) {
                StoreError::Locked {
                    path: self.path.clone(),
                }
            } else {
                e
            }
        })
    }

    /// How long statements wait for another process's lock (tests shorten it).
    #[cfg(test)]
    fn set_busy_timeout(&self, timeout: Duration) {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        conn.busy_timeout(timeout).expect("busy timeout");
    }
}

/// Creates the data directory (and missing parents) readable by its owner only.
fn create_private_dir(dir: &Path) -> Result<(), StoreError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|source| StoreError::DataDir {
        path: dir.to_path_buf(),
        source,
    })
}

/// Creates the database file 0600 unless it exists; true when it was created.
fn create_private_file(path: &Path) -> Result<bool, StoreError> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    match opts.open(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(source) => Err(StoreError::DataDir {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Takes group and other permissions off the database and its `-wal`/`-shm` files
/// (a database from before kri created it 0600 may be 0644).
fn tighten_permissions(db: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let name = db.as_os_str().to_os_string();
        for suffix in ["", "-wal", "-shm"] {
            let mut p = name.clone();
            p.push(suffix);
            let p = PathBuf::from(p);
            let Ok(meta) = std::fs::metadata(&p) else {
                continue;
            };
            let mode = meta.permissions().mode();
            if mode & 0o077 != 0 {
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode & 0o700))
                    .map_err(|source| StoreError::DataDir { path: p, source })?;
            }
        }
    }
    Ok(())
}

/// Whether the open database is kri's: its application id, or (from before the id
/// was set) kri's schema; a database kri has just created is empty. The error is
/// the reason it is not.
fn check_written_by_kri(conn: &Connection, created: bool) -> Result<(), String> {
    let read = |sql: &str| -> Result<i64, String> {
        conn.query_row(sql, [], |r| r.get(0))
            .map_err(|e| format!("cannot read it: {e}"))
    };
    let app = read("PRAGMA application_id")?;
    if app == i64::from(APPLICATION_ID) {
        return Ok(());
    }
    if app != 0 {
        return Err(format!(
            "another program wrote it (application id {app:#x}); pass the right --data-dir"
        ));
    }
    let version = read("PRAGMA user_version")?;
    let kri_tables =
        read("SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name IN ('tenants', 'runs', 'kri_values')")?;
    let tables = read("SELECT count(*) FROM sqlite_schema")?;
    match (version, kri_tables, tables) {
        (0, _, 0) if created => Ok(()),
        (v, 3, _) if v >= 1 => Ok(()),
        _ => Err(
            "it has no kri schema, so another program wrote it; pass the right --data-dir, or move it away to start an empty store"
                .into(),
        ),
    }
}

fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let known = MIGRATIONS.len() as i64;
    if version > known {
        return Err(StoreError::SchemaTooNew {
            path: path.to_path_buf(),
            found: version,
            known,
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Exclusive)?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    let app: i32 = conn.query_row("PRAGMA application_id", [], |r| r.get(0))?;
    if app != APPLICATION_ID {
        conn.pragma_update(None, "application_id", APPLICATION_ID)?;
    }
    Ok(())
}

/// The holders of the `running` rows of kind run matching `filter` (a fixed clause
/// of this file, never input), with their run ids.
fn running_holders(
    conn: &Connection,
    filter: &str,
    args: impl rusqlite::Params,
) -> Result<Vec<(i64, RunHolder)>, StoreError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {HOLDER_COLUMNS} FROM runs WHERE status = 'running' AND {filter}"
    ))?;
    read_rows(&mut stmt, args, holder_from)
}

fn mark_interrupted(conn: &Connection) -> Result<(), StoreError> {
    let (here, now) = (this_machine(), now_ms());
    let (own, _) = this_process();
    let stale: Vec<i64> = running_holders(conn, "1 = 1", [])?
        .into_iter()
        .filter(|(_, h)| !h.is_process(own, &here) && !h.alive(&here, now))
        .map(|(id, _)| id)
        .collect();
    for id in stale {
        conn.execute(
            "UPDATE runs SET status = 'interrupted', error = ?3, finished_at = ?2 WHERE id = ?1 AND status = 'running'",
            params![id, now, HOLDER_GONE],
        )?;
    }
    Ok(())
}

fn insert_kris(tx: &Transaction<'_>, c: &RunCommit, now: i64) -> Result<(), StoreError> {
    let mut insert = tx.prepare_cached(
        "INSERT INTO kri_values (tenant_id, connector, slug, value, numerator, denominator, status, details, reason, run_id, computed_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?;
    for o in &c.kris {
        insert.execute(params![
            c.tenant_id,
            c.connector,
            o.slug,
            o.value,
            o.numerator,
            o.denominator,
            o.status.as_str(),
            o.details.to_string(),
            o.reason,
            c.run_id,
            now
        ])?;
    }
    Ok(())
}

/// The run's graph: retracted nodes (with their edges) and retracted edges leave,
/// emitted nodes and edges are upserted, then what the run covers but did not emit
/// leaves.
fn upsert_graph(tx: &Transaction<'_>, c: &RunCommit, now: i64) -> Result<(), StoreError> {
    for e in &c.graph.retracted_edges {
        tx.execute(
            "DELETE FROM edges WHERE tenant_id = ?1 AND from_id = ?2 AND to_id = ?3 AND kind = ?4",
            params![c.tenant_id, e.from, e.to, e.kind],
        )?;
    }
    for id in &c.graph.retracted {
        tx.execute(
            "DELETE FROM edges WHERE tenant_id = ?1 AND (from_id = ?2 OR to_id = ?2)",
            params![c.tenant_id, id],
        )?;
        tx.execute(
            "DELETE FROM nodes WHERE tenant_id = ?1 AND id = ?2",
            params![c.tenant_id, id],
        )?;
    }
    let mut node = tx.prepare_cached(
        "INSERT INTO nodes (tenant_id, id, kind, sub_kind, name, labels, properties, first_seen, last_seen)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)
         ON CONFLICT (tenant_id, id) DO UPDATE SET kind = excluded.kind, sub_kind = excluded.sub_kind,
             name = excluded.name, labels = excluded.labels, properties = excluded.properties,
             last_seen = excluded.last_seen",
    )?;
    for n in &c.nodes {
        node.execute(params![
            c.tenant_id,
            n.id,
            n.kind,
            n.sub_kind,
            n.name,
            to_json(&n.labels),
            n.properties.to_string(),
            now
        ])?;
    }
    let mut edge = tx.prepare_cached(
        "INSERT INTO edges (tenant_id, from_id, to_id, kind, properties, first_seen, last_seen)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)
         ON CONFLICT (tenant_id, from_id, to_id, kind) DO UPDATE SET properties = excluded.properties,
             last_seen = excluded.last_seen",
    )?;
    for e in &c.edges {
        edge.execute(params![
            c.tenant_id,
            e.from,
            e.to,
            e.kind,
            e.properties.to_string(),
            now
        ])?;
    }
    drop((node, edge));
    remove_uncovered(tx, c)
}

/// Removes the nodes and edges in the run's coverage that the run did not emit; a
/// removed node takes its edges along.
fn remove_uncovered(tx: &Transaction<'_>, c: &RunCommit) -> Result<(), StoreError> {
    if c.graph.coverage.is_empty() {
        return Ok(());
    }
    let mut gone = Uncovered::new(c);
    for part in &c.graph.coverage {
        let read = CoverageRead::of(part);
        let mut stmt = tx.prepare_cached(match read.shape {
            CoverageShape::NodesOfKind => "SELECT id FROM nodes WHERE tenant_id = ?1 AND kind = ?2",
            CoverageShape::EdgesOfKind => {
                "SELECT from_id, to_id, kind FROM edges WHERE tenant_id = ?1 AND kind = ?2"
            }
            CoverageShape::EdgesFrom => {
                "SELECT from_id, to_id, kind FROM edges WHERE tenant_id = ?1 AND from_id = ?2 AND kind = ?3"
            }
            CoverageShape::EdgesTo => {
                "SELECT from_id, to_id, kind FROM edges WHERE tenant_id = ?1 AND to_id = ?2 AND kind = ?3"
            }
        })?;
        let mut rows = match read.node {
            Some(node) => stmt.query(params![c.tenant_id, node, read.kind])?,
            None => stmt.query(params![c.tenant_id, read.kind])?,
        };
        while let Some(r) = rows.next()? {
            if read.shape == CoverageShape::NodesOfKind {
                gone.node(r.get(0)?);
            } else {
                gone.edge(r.get(0)?, r.get(1)?, r.get(2)?);
            }
        }
    }
    let mut delete_edge = tx.prepare_cached(
        "DELETE FROM edges WHERE tenant_id = ?1 AND from_id = ?2 AND to_id = ?3 AND kind = ?4",
    )?;
    for (from, to, kind) in &gone.edges {
        delete_edge.execute(params![c.tenant_id, from, to, kind])?;
    }
    let mut delete_node_edges = tx.prepare_cached(
        "DELETE FROM edges WHERE tenant_id = ?1 AND (from_id = ?2 OR to_id = ?2)",
    )?;
    let mut delete_node =
        tx.prepare_cached("DELETE FROM nodes WHERE tenant_id = ?1 AND id = ?2")?;
    for id in &gone.nodes {
        delete_node_edges.execute(params![c.tenant_id, id])?;
        delete_node.execute(params![c.tenant_id, id])?;
    }
    Ok(())
}

/// Replaces the tenant's `access_path` rows with the paths of its graph as `tx` sees
/// it, inserted one identity at a time as they are walked. Returns how many rows.
fn rebuild_paths(tx: &Transaction<'_>, id: &str) -> Result<usize, StoreError> {
    let nodes: Vec<Node> = read_nodes(tx, id)?.into_iter().map(|n| n.node).collect();
    let edges: Vec<Edge> = read_edges(tx, id)?.into_iter().map(|e| e.edge).collect();
    tx.execute("DELETE FROM access_path WHERE tenant_id = ?1", params![id])?;
    let mut insert = tx.prepare_cached(
        "INSERT INTO access_path (tenant_id, identity, identity_id, identity_group, action,
             action_type, kind, resource_group, resource, resource_id, resource_labels,
             identity_labels, standing_privileges, path)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    )?;
    let mut count = 0;
    for rows in AccessGraph::new(&nodes, &edges).paths() {
        for r in &rows {
            insert.execute(params![
                id,
                r.identity,
                r.identity_id,
                r.identity_group,
                r.action,
                r.action_type,
                r.kind,
                r.resource_group,
                r.resource,
                r.resource_id,
                to_json(&r.resource_labels),
                to_json(&r.identity_labels),
                r.standing_privileges,
                to_json(&r.path)
            ])?;
        }
        count += rows.len();
    }
    Ok(count)
}

fn insert_events(tx: &Transaction<'_>, c: &RunCommit) -> Result<(), StoreError> {
    // A uuid the tenant already has is the same event seen again: skipped.
    let mut insert = tx.prepare_cached(
        "INSERT INTO events (tenant_id, uuid, published, event_type, actor, targets, outcome, raw, run_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (tenant_id, uuid) DO NOTHING",
    )?;
    for e in &c.events {
        insert.execute(params![
            c.tenant_id,
            e.id,
            e.time_ms,
            e.event_type,
            to_json(&e.actor),
            to_json(&e.targets),
            e.outcome.as_ref().map(to_json),
            e.raw.to_string(),
            c.run_id
        ])?;
    }
    Ok(())
}

fn upsert_alerts(tx: &Transaction<'_>, c: &RunCommit) -> Result<(), StoreError> {
    let existing = format!(
        "SELECT {ALERT_MERGE_COLUMNS} FROM alerts WHERE tenant_id = ?1 AND dedupe_key = ?2"
    );
    let mut update = tx.prepare_cached(
        "UPDATE alerts SET evidence = ?2, first_seen = ?3, last_seen = ?4 WHERE id = ?1",
    )?;
    let mut raise = tx.prepare_cached(
        "UPDATE alerts SET severity = ?2, title = ?3, details = ?4 WHERE id = ?1",
    )?;
    let mut insert = tx.prepare_cached(
        "INSERT INTO alerts (tenant_id, detection, severity, title, entity, dedupe_key, first_seen, last_seen, evidence, details, status)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 'open')",
    )?;
    for a in &c.alerts {
        let found = read_row(tx, &existing, params![c.tenant_id, a.dedupe_key], |r| {
            stored_alert_key_from(r)
        })?;
        match found {
            Some(stored) => {
                let id = stored.id;
                let merged = merge_alert(stored, a);
                update.execute(params![
                    id,
                    to_json(&merged.evidence),
                    merged.first_seen_ms,
                    merged.last_seen_ms
                ])?;
                if merged.raise {
                    raise.execute(params![
                        id,
                        a.severity.as_str(),
                        a.title,
                        a.details.to_string()
                    ])?;
                }
            }
            None => {
                insert.execute(params![
                    c.tenant_id,
                    a.detection,
                    a.severity.as_str(),
                    a.title,
                    to_json(&a.entity),
                    a.dedupe_key,
                    first_seen_ms(a),
                    a.seen_ms,
                    to_json(&a.evidence),
                    a.details.to_string()
                ])?;
            }
        }
    }
    Ok(())
}

/// Takes the lease on (tenant, job) for a new run: refused while a live holder runs
/// the job; a run whose holder is gone is marked interrupted.
fn take_lease(tx: &Transaction<'_>, start: &RunStart) -> Result<(), StoreError> {
    let (here, now) = (this_machine(), now_ms());
    let holders = running_holders(
        tx,
        "tenant_id = ?1 AND job = ?2 AND kind = 'run'",
        params![start.tenant_id, start.job],
    )?;
    for run_id in runs_to_take_over(start, holders, &here, now)? {
        tx.execute(
            "UPDATE runs SET status = 'interrupted', error = ?3, finished_at = ?2 WHERE id = ?1",
            params![run_id, now, HOLDER_GONE],
        )?;
    }
    Ok(())
}

/// Whether run `run_id` still holds its lease (is `running`) inside the commit's
/// transaction; when it does not, the refusal is what [`record_lease_lost`] writes.
fn holds_lease(tx: &Transaction<'_>, run_id: i64) -> Result<bool, StoreError> {
    let status: Option<String> = tx
        .query_row(
            "SELECT status FROM runs WHERE id = ?1",
            params![run_id],
            |r| r.get(0),
        )
        .optional()?;
    Ok(status.as_deref() == Some(RunStatus::Running.as_str()))
}

/// The error a fenced commit leaves on its run's row.
pub(crate) fn lease_lost_note(run_id: i64) -> String {
    StoreError::LeaseLost { run_id }.to_string()
}

/// Shows a failure still pending (see [`PendingFailures`]) on its run's row.
fn overlay_failure(run: &mut RunRecord, f: &PendingFailure) {
    run.status = RunStatus::Failed;
    run.error = Some(f.error.clone());
    run.finished_at = Some(format_ms(f.finished_at));
    run.requests = f.stats.requests;
    run.responses_429 = f.stats.responses_429;
    run.bytes = f.stats.bytes;
    run.rows_written = 0;
    run.rows_skipped = f.stats.rows_skipped;
    run.note = f.stats.note.clone();
    run.stream_pages = f.stats.stream.map(|p| p.pages);
    run.stream_events = f.stats.stream.map(|p| p.events);
    run.stream_lag_ms = f.stats.stream.and_then(|p| p.lag_ms);
}

fn apply_state(tx: &Transaction<'_>, c: &RunCommit) -> Result<(), StoreError> {
    let mut set = tx.prepare_cached(
        "INSERT INTO state (tenant_id, connector, key, value) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (tenant_id, connector, key) DO UPDATE SET value = excluded.value",
    )?;
    let mut del = tx
        .prepare_cached("DELETE FROM state WHERE tenant_id = ?1 AND connector = ?2 AND key = ?3")?;
    for (key, value) in &c.state {
        match value {
            Some(v) => set.execute(params![c.tenant_id, c.connector, key, v])?,
            None => del.execute(params![c.tenant_id, c.connector, key])?,
        };
    }
    Ok(())
}

/// A tenant's graph nodes, by id.
fn read_nodes(conn: &Connection, tenant_id: &str) -> Result<Vec<StoredNode>, StoreError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {NODE_COLUMNS} FROM nodes WHERE tenant_id = ?1 ORDER BY id"
    ))?;
    read_rows(&mut stmt, params![tenant_id], node_from)
}

/// A tenant's graph edges, by (from, to, kind).
fn read_edges(conn: &Connection, tenant_id: &str) -> Result<Vec<StoredEdge>, StoreError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {EDGE_COLUMNS} FROM edges WHERE tenant_id = ?1 ORDER BY from_id, to_id, kind"
    ))?;
    read_rows(&mut stmt, params![tenant_id], edge_from)
}

#[async_trait]
impl Store for SqliteStore {
    async fn add_tenant(&self, tenant: &Tenant, secret: &SealedSecret) -> Result<(), StoreError> {
        let (tenant, secret) = (tenant.clone(), secret.clone());
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let exists = tx
                .query_row(
                    "SELECT 1 FROM tenants WHERE id = ?1",
                    params![tenant.id],
                    |_| Ok(()),
                )
                .optional()?
                .is_some();
            if exists {
                return Err(StoreError::TenantExists(tenant.id.clone()));
            }
            tx.execute(
                "INSERT INTO tenants (id, connector, base_url, kris, extra, allow_insecure_local, quotas, created_at, schedules)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    tenant.id,
                    tenant.connector,
                    tenant.base_url,
                    to_json(&tenant.kris),
                    tenant.extra.to_string(),
                    tenant.allow_insecure_local,
                    to_json(&tenant.quotas),
                    now_ms(),
                    to_json(&tenant.schedules),
                ],
            )?;
            tx.execute(
                "INSERT INTO secrets (tenant_id, nonce, ciphertext, key_id) VALUES (?1, ?2, ?3, ?4)",
                params![tenant.id, secret.nonce, secret.ciphertext, secret.key_id],
            )?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn tenant(&self, id: &str) -> Result<Tenant, StoreError> {
        let id = id.to_string();
        self.call(move |conn| {
            read_row(
                conn,
                &format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE id = ?1"),
                params![id],
                |r| tenant_from(r),
            )?
            .ok_or_else(|| StoreError::UnknownTenant(id.clone()))
        })
        .await
    }

    async fn tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        self.call(|conn| {
            let mut stmt =
                conn.prepare(&format!("SELECT {TENANT_COLUMNS} FROM tenants ORDER BY id"))?;
            read_rows(&mut stmt, [], tenant_from)
        })
        .await
    }

    async fn remove_tenant(&self, id: &str) -> Result<(), StoreError> {
        let id = id.to_string();
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let n = tx.execute("DELETE FROM tenants WHERE id = ?1", params![id])?;
            if n == 0 {
                return Err(StoreError::UnknownTenant(id));
            }
            for table in [
                "kri_values",
                "state",
                "runs",
                "job_schedules",
                "nodes",
                "edges",
                "events",
                "alerts",
                "access_path",
                "job_schedules",
            ] {
                tx.execute(
                    &format!("DELETE FROM {table} WHERE tenant_id = ?1"),
                    params![id],
                )?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn set_tenant_extra(
        &self,
        id: &str,
        extra: &serde_json::Value,
    ) -> Result<(), StoreError> {
        self.set_tenant_json(id, "extra", extra.to_string()).await
    }

    async fn set_tenant_kris(&self, id: &str, kris: &[String]) -> Result<(), StoreError> {
        self.set_tenant_json(id, "kris", to_json(&kris)).await
    }

    async fn purge_kri_values(&self, id: &str, keep: &[String]) -> Result<usize, StoreError> {
        let (id, keep) = (id.to_string(), to_json(&keep));
        self.call(move |conn| {
            Ok(conn.execute(
                "DELETE FROM kri_values WHERE tenant_id = ?1 AND slug NOT IN (SELECT value FROM json_each(?2))",
                params![id, keep],
            )?)
        })
        .await
    }

    async fn set_tenant_quotas(
        &self,
        id: &str,
        quotas: &BTreeMap<String, u64>,
    ) -> Result<(), StoreError> {
        self.set_tenant_json(id, "quotas", to_json(quotas)).await
    }

    async fn set_secret(&self, tenant_id: &str, secret: &SealedSecret) -> Result<(), StoreError> {
        let (id, secret) = (tenant_id.to_string(), secret.clone());
        self.call(move |conn| {
            let n = conn.execute(
                "UPDATE secrets SET nonce = ?2, ciphertext = ?3, key_id = ?4 WHERE tenant_id = ?1",
                params![id, secret.nonce, secret.ciphertext, secret.key_id],
            )?;
            if n == 0 {
                return Err(StoreError::UnknownTenant(id));
            }
            Ok(())
        })
        .await
    }

    async fn secret(&self, tenant_id: &str) -> Result<SealedSecret, StoreError> {
        let id = tenant_id.to_string();
        self.call(move |conn| {
            read_row(
                conn,
                &format!("SELECT {SECRET_COLUMNS} FROM secrets WHERE tenant_id = ?1"),
                params![id],
                |r| secret_from(r),
            )?
            .ok_or_else(|| StoreError::UnknownTenant(id.clone()))
        })
        .await
    }

    async fn sealed_secrets(&self) -> Result<Vec<(String, Option<String>)>, StoreError> {
        self.call(|conn| {
            let mut stmt =
                conn.prepare("SELECT tenant_id, key_id FROM secrets ORDER BY tenant_id")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn seed_definitions(
        &self,
        tenant_id: &str,
        defs: &[KriDefinitionRow],
    ) -> Result<(), StoreError> {
        let (id, defs) = (tenant_id.to_string(), defs.to_vec());
        self.call(move |conn| {
            let tx = conn.transaction()?;
            for d in &defs {
                tx.execute(
                    "INSERT INTO kri_definitions (tenant_id, slug, name, unit, direction, warn, breach)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                     ON CONFLICT (tenant_id, slug) DO UPDATE SET name = excluded.name, unit = excluded.unit, direction = excluded.direction",
                    params![
                        id,
                        d.slug,
                        d.name,
                        d.unit,
                        d.direction.as_str(),
                        d.warn,
                        d.breach
                    ],
                )?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn definitions(&self, tenant_id: &str) -> Result<Vec<KriDefinitionRow>, StoreError> {
        let id = tenant_id.to_string();
        self.call(move |conn| {
            let mut stmt = conn.prepare(&format!(
                "SELECT {DEFINITION_COLUMNS} FROM kri_definitions WHERE tenant_id = ?1 ORDER BY slug"
            ))?;
            read_rows(&mut stmt, params![id], definition_from)
        })
        .await
    }

    async fn set_thresholds(
        &self,
        tenant_id: &str,
        slug: &str,
        warn: Option<f64>,
        breach: Option<f64>,
    ) -> Result<bool, StoreError> {
        let (id, slug) = (tenant_id.to_string(), slug.to_string());
        self.call(move |conn| {
            let n = conn.execute(
                "UPDATE kri_definitions SET warn = ?3, breach = ?4 WHERE tenant_id = ?1 AND slug = ?2",
                params![id, slug, warn, breach],
            )?;
            Ok(n > 0)
        })
        .await
    }

    async fn start_run(&self, start: &RunStart) -> Result<i64, StoreError> {
        let start = start.clone();
        let pending = self.pending.clone();
        let lease_ms = self.run_lease_ms;
        self.call(move |conn| {
            let (pid, pid_start) = this_process();
            // Failures recorded while the database was locked end their runs first
            // (committed on their own, so a refused lease below keeps them).
            pending.apply(conn)?;
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            if start.kind == RunKind::Run {
                take_lease(&tx, &start)?;
            }
            let now = now_ms();
            tx.execute(
                "INSERT INTO runs (tenant_id, connector, job, kind, status, pid, pid_start, started_at, machine, lease_until)
                 VALUES (?1, ?2, ?3, ?4, 'running', ?5, ?6, ?7, ?8, ?9)",
                params![
                    start.tenant_id,
                    start.connector,
                    start.job,
                    start.kind.as_str(),
                    pid,
                    pid_start,
                    now,
                    this_machine(),
                    now.saturating_add(lease_ms)
                ],
            )?;
            let id = tx.last_insert_rowid();
            tx.commit()?;
            Ok(id)
        })
        .await
    }

    async fn commit_run(&self, commit: RunCommit) -> Result<(), StoreError> {
        self.call(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            if !holds_lease(&tx, commit.run_id)? {
                // Fenced: another process took the job over. Nothing of this run
                // lands; its row says why.
                tx.execute(
                    "UPDATE runs SET error = ?2 WHERE id = ?1",
                    params![commit.run_id, lease_lost_note(commit.run_id)],
                )?;
                tx.commit()?;
                return Err(StoreError::LeaseLost {
                    run_id: commit.run_id,
                });
            }
            let now = now_ms();
            insert_kris(&tx, &commit, now)?;
            upsert_graph(&tx, &commit, now)?;
            if !(commit.nodes.is_empty() && commit.edges.is_empty() && commit.graph.is_empty()) {
                rebuild_paths(&tx, &commit.tenant_id)?;
            }
            insert_events(&tx, &commit)?;
            upsert_alerts(&tx, &commit)?;
            apply_state(&tx, &commit)?;
            let s = StatsColumns::from(&commit.stats);
            tx.execute(
                "UPDATE runs SET status = 'succeeded', finished_at = ?2, duration_ms = ?2 - started_at, requests = ?3,
                     responses_429 = ?4, bytes = ?5, rows_written = ?6, rows_skipped = ?7, note = ?8,
                     stream_pages = ?9, stream_events = ?10, stream_lag_ms = ?11 WHERE id = ?1",
                params![
                    commit.run_id,
                    now,
                    s.requests,
                    s.responses_429,
                    s.bytes,
                    s.rows_written,
                    s.rows_skipped,
                    commit.stats.note,
                    s.stream_pages,
                    s.stream_events,
                    s.stream_lag_ms,
                ],
            )?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn fail_run(&self, run_id: i64, error: &str, stats: &RunStats) -> Result<(), StoreError> {
        let failure = PendingFailure {
            run_id,
            error: error.to_string(),
            finished_at: now_ms(),
            stats: stats.clone(),
        };
        let pending = self.pending.clone();
        self.call(move |conn| match record_failure(conn, &failure) {
            // Another process holds the lock: record the failure beside the
            // database, where reads see it at once and the next write applies it.
            Err(e) if is_locked(&e) => pending.append(&failure),
            other => other,
        })
        .await
    }

    async fn interrupt_own_runs(&self, reason: &str) -> Result<usize, StoreError> {
        let reason = reason.to_string();
        self.call(move |conn| {
            Ok(conn.execute(
                "UPDATE runs SET status = 'interrupted', error = ?2, finished_at = ?3, duration_ms = ?3 - started_at
                 WHERE status = 'running' AND pid = ?1 AND (machine IS NULL OR machine = ?4)",
                params![std::process::id() as i64, reason, now_ms(), this_machine()],
            )?)
        })
        .await
    }

    async fn runs(&self, tenant_id: &str, limit: usize) -> Result<Vec<RunRecord>, StoreError> {
        let id = tenant_id.to_string();
        let pending = self.pending.clone();
        self.call(move |conn| {
            let failed = pending.read();
            let mut stmt = conn.prepare(&format!(
                "SELECT {RUN_COLUMNS} FROM runs WHERE tenant_id = ?1 ORDER BY id DESC LIMIT ?2"
            ))?;
            let mut runs = read_rows(&mut stmt, params![id, limit as i64], run_from)?;
            for run in &mut runs {
                if let Some(f) = failed.get(&run.id) {
                    if run.status == RunStatus::Running {
                        overlay_failure(run, f);
                    }
                }
            }
            Ok(runs)
        })
        .await
    }

    async fn latest_kris(&self, tenant_id: &str) -> Result<Vec<KriRow>, StoreError> {
        let id = tenant_id.to_string();
        self.call(move |conn| {
            let mut stmt = conn.prepare(
                "SELECT v.slug, COALESCE(d.name, v.slug), COALESCE(d.unit, ''), v.value, v.status, v.numerator, v.denominator,
                        v.details, v.reason, d.warn, d.breach, v.run_id, v.computed_at,
                        (SELECT p.value FROM kri_values p WHERE p.tenant_id = v.tenant_id AND p.slug = v.slug AND p.run_id < v.run_id
                           ORDER BY p.run_id DESC LIMIT 1),
                        d.direction
                 FROM kri_values v
                 LEFT JOIN kri_definitions d ON d.tenant_id = v.tenant_id AND d.slug = v.slug
                 LEFT JOIN tenants t ON t.id = v.tenant_id
                 WHERE v.tenant_id = ?1
                   AND v.id = (SELECT MAX(l.id) FROM kri_values l WHERE l.tenant_id = v.tenant_id AND l.slug = v.slug)
                   AND (t.kris IS NULL OR t.kris = '[]' OR v.slug IN (SELECT value FROM json_each(t.kris)))
                 ORDER BY v.slug",
            )?;
            read_rows(&mut stmt, params![id], kri_row_from)
        })
        .await
    }

    async fn load_state(
        &self,
        tenant_id: &str,
        connector: &str,
    ) -> Result<BTreeMap<String, Vec<u8>>, StoreError> {
        let (id, connector) = (tenant_id.to_string(), connector.to_string());
        self.call(move |conn| {
            let mut stmt = conn
                .prepare("SELECT key, value FROM state WHERE tenant_id = ?1 AND connector = ?2")?;
            let rows = stmt.query_map(params![id, connector], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?))
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn nodes(&self, tenant_id: &str) -> Result<Vec<StoredNode>, StoreError> {
        let id = tenant_id.to_string();
        self.call(move |conn| read_nodes(conn, &id)).await
    }

    async fn edges(&self, tenant_id: &str) -> Result<Vec<StoredEdge>, StoreError> {
        let id = tenant_id.to_string();
        self.call(move |conn| read_edges(conn, &id)).await
    }

    async fn find_events(
        &self,
        tenant_id: &str,
        filter: &EventFilter,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let (id, filter) = (tenant_id.to_string(), filter.clone());
        self.call(move |conn| {
            let mut stmt = conn.prepare(&format!(
                "SELECT {EVENT_COLUMNS}, {EVENT_NORMALIZED_COLUMNS}
                 FROM events WHERE tenant_id = ?1
                     AND (?2 IS NULL OR published >= ?2)
                     AND (?3 IS NULL OR event_type = ?3)
                     AND (?4 IS NULL OR json_extract(actor, '$.id') = ?4 OR json_extract(actor, '$.name') = ?4)
                 ORDER BY published DESC, uuid LIMIT ?5"
            ))?;
            read_rows(
                &mut stmt,
                params![
                    id,
                    filter.since_ms,
                    filter.event_type,
                    filter.actor,
                    limit as i64
                ],
                event_from,
            )
        })
        .await
    }

    async fn find_alerts(
        &self,
        tenant_id: &str,
        status: Option<AlertStatus>,
        severity: Option<Severity>,
    ) -> Result<Vec<StoredAlert>, StoreError> {
        let id = tenant_id.to_string();
        self.call(move |conn| {
            let mut stmt = conn.prepare(&format!(
                "SELECT {ALERT_COLUMNS} FROM alerts WHERE tenant_id = ?1
                     AND (?2 IS NULL OR status = ?2) AND (?3 IS NULL OR severity = ?3)
                 ORDER BY id"
            ))?;
            read_rows(
                &mut stmt,
                params![
                    id,
                    status.map(AlertStatus::as_str),
                    severity.map(|s| s.as_str())
                ],
                alert_from,
            )
        })
        .await
    }

    async fn set_alert_status(
        &self,
        alert_id: i64,
        status: AlertStatus,
    ) -> Result<StoredAlert, StoreError> {
        self.call(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let changed = tx.execute(
                "UPDATE alerts SET status = ?2 WHERE id = ?1",
                params![alert_id, status.as_str()],
            )?;
            if changed == 0 {
                return Err(StoreError::UnknownAlert(alert_id));
            }
            let alert = read_row(
                &tx,
                &format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE id = ?1"),
                params![alert_id],
                |r| alert_from(r),
            )?
            .ok_or(StoreError::UnknownAlert(alert_id))?;
            tx.commit()?;
            Ok(alert)
        })
        .await
    }

    async fn rebuild_access_paths(&self, tenant_id: &str) -> Result<usize, StoreError> {
        self.tenant(tenant_id).await?;
        let id = tenant_id.to_string();
        self.call(move |conn| {
            // One write transaction: the graph read is the graph the paths replace.
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let rows = rebuild_paths(&tx, &id)?;
            tx.commit()?;
            Ok(rows)
        })
        .await
    }

    async fn query(
        &self,
        tenant_id: &str,
        query: &ReadQuery,
        limits: QueryLimits,
    ) -> Result<QueryRows, StoreError> {
        self.tenant(tenant_id).await?;
        // Its own read-only connection, so a long query never holds the store's.
        let (db, tenant, query) = (self.path.clone(), tenant_id.to_string(), query.clone());
        tokio::task::spawn_blocking(move || run_query(&db, &tenant, &query, limits))
            .await
            .map_err(|e| StoreError::Worker(e.to_string()))?
            .map_err(StoreError::from)
    }

    async fn ensure_schedule(
        &self,
        tenant_id: &str,
        job: &str,
        interval_ms: i64,
        first_due_ms: i64,
    ) -> Result<(), StoreError> {
        let (tenant_id, job) = (tenant_id.to_string(), job.to_string());
        self.call(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let known = tx
                .query_row(
                    "SELECT 1 FROM tenants WHERE id = ?1",
                    params![tenant_id],
                    |_| Ok(()),
                )
                .optional()?
                .is_some();
            if !known {
                return Err(StoreError::UnknownTenant(tenant_id));
            }
            tx.execute(
                "INSERT INTO job_schedules (tenant_id, job, interval_ms, next_due_ms)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (tenant_id, job) DO UPDATE SET
                     next_due_ms = min(next_due_ms, excluded.next_due_ms),
                     interval_ms = excluded.interval_ms
                 WHERE interval_ms <> excluded.interval_ms",
                params![tenant_id, job, interval_ms, first_due_ms],
            )?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn schedules(&self) -> Result<Vec<JobSchedule>, StoreError> {
        self.call(|conn| {
            let mut stmt = conn.prepare(&format!(
                "SELECT {SCHEDULE_COLUMNS} FROM job_schedules ORDER BY tenant_id, job"
            ))?;
            read_rows(&mut stmt, [], schedule_from)
        })
        .await
    }

    async fn claim_due_jobs(
        &self,
        owner: &str,
        now_ms: i64,
        lease_ms: i64,
        limit: usize,
    ) -> Result<Vec<JobClaim>, StoreError> {
        let owner = owner.to_string();
        self.call(move |conn| {
            // One IMMEDIATE transaction holds SQLite's write lock from the read to the
            // updates, so no other claimant (thread or process) sees the same rows free.
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let due: Vec<JobClaim> = {
                let mut stmt = tx.prepare(
                    "SELECT tenant_id, job, fence, next_due_ms FROM job_schedules
                     WHERE next_due_ms <= ?1 AND (lease_until_ms IS NULL OR lease_until_ms <= ?1)
                     ORDER BY next_due_ms, tenant_id, job LIMIT ?2",
                )?;
                let rows = stmt.query_map(
                    params![now_ms, i64::try_from(limit).unwrap_or(i64::MAX)],
                    |r| {
                        Ok(JobClaim {
                            tenant_id: r.get(0)?,
                            job: r.get(1)?,
                            fence: r.get::<_, i64>(2)? + 1,
                            due_ms: r.get(3)?,
                        })
                    },
                )?;
                rows.collect::<Result<_, _>>()?
            };
            for c in &due {
                tx.execute(
                    "UPDATE job_schedules SET lease_owner = ?3, lease_until_ms = ?4, fence = ?5
                     WHERE tenant_id = ?1 AND job = ?2",
                    params![
                        c.tenant_id,
                        c.job,
                        owner,
                        now_ms.saturating_add(lease_ms),
                        c.fence
                    ],
                )?;
            }
            tx.commit()?;
            Ok(due)
        })
        .await
    }

    async fn renew_job_claim(
        &self,
        owner: &str,
        claim: &JobClaim,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<bool, StoreError> {
        let (owner, claim) = (owner.to_string(), claim.clone());
        self.call(move |conn| {
            let n = conn.execute(
                "UPDATE job_schedules SET lease_until_ms = ?5
                 WHERE tenant_id = ?1 AND job = ?2 AND fence = ?3 AND lease_owner = ?4",
                params![
                    claim.tenant_id,
                    claim.job,
                    claim.fence,
                    owner,
                    now_ms.saturating_add(lease_ms)
                ],
            )?;
            Ok(n == 1)
        })
        .await
    }

    async fn finish_job_claim(
        &self,
        owner: &str,
        claim: &JobClaim,
        next_due_ms: i64,
    ) -> Result<bool, StoreError> {
        let (owner, claim) = (owner.to_string(), claim.clone());
        self.call(move |conn| {
            let n = conn.execute(
                "UPDATE job_schedules SET lease_owner = NULL, lease_until_ms = NULL, next_due_ms = ?5
                 WHERE tenant_id = ?1 AND job = ?2 AND fence = ?3 AND lease_owner = ?4",
                params![claim.tenant_id, claim.job, claim.fence, owner, next_due_ms],
            )?;
            Ok(n == 1)
        })
        .await
    }

    async fn kri_history(
        &self,
        tenant_id: &str,
        slug: Option<&str>,
        limit: usize,
    ) -> Result<Vec<KriPoint>, StoreError> {
        let (tenant_id, slug) = (tenant_id.to_string(), slug.map(str::to_string));
        self.call(move |conn| {
            let mut stmt = conn.prepare(&format!(
                "SELECT {KRI_POINT_COLUMNS} FROM kri_values
                 WHERE tenant_id = ?1 AND (?2 IS NULL OR slug = ?2)
                 ORDER BY run_id DESC, slug LIMIT ?3"
            ))?;
            read_rows(
                &mut stmt,
                params![tenant_id, slug, i64::try_from(limit).unwrap_or(i64::MAX)],
                kri_point_from,
            )
        })
        .await
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
        let id = tenant_id.to_string();
        self.call(move |conn| {
            Ok(conn.execute(
                "DELETE FROM events WHERE tenant_id = ?1 AND published < ?2",
                params![id, before_ms],
            )?)
        })
        .await
    }

    async fn event_page(
        &self,
        tenant_id: &str,
        after_ms: i64,
        until_ms: i64,
        from: Option<(i64, String)>,
        limit: usize,
    ) -> Result<Vec<PagedEvent>, StoreError> {
        let id = tenant_id.to_string();
        // Every page starts its index range where the previous one ended.
        let (low_ms, from_id) = page_start(after_ms, from);
        self.call(move |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {PAGED_EVENT_COLUMNS}
                 FROM events WHERE tenant_id = ?1 AND published >= ?2 AND published <= ?3
                     AND (?4 IS NULL OR published > ?2 OR uuid > ?4)
                 ORDER BY published, uuid LIMIT ?5"
            ))?;
            read_rows(
                &mut stmt,
                params![id, low_ms, until_ms, from_id, limit as i64],
                paged_event_from,
            )
        })
        .await
    }

    async fn reseal_secrets(&self, resealed: &[(String, SealedSecret)]) -> Result<(), StoreError> {
        let resealed = resealed.to_vec();
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let stored: Vec<String> = {
                let mut stmt = tx.prepare("SELECT tenant_id FROM secrets ORDER BY tenant_id")?;
                let rows = stmt.query_map([], |r| r.get(0))?;
                rows.collect::<Result<_, _>>()?
            };
            check_resealed(&stored, &resealed)?;
            {
                let mut update = tx.prepare(
                    "UPDATE secrets SET nonce = ?2, ciphertext = ?3, key_id = ?4 WHERE tenant_id = ?1",
                )?;
                for (id, secret) in &resealed {
                    update.execute(params![id, secret.nonce, secret.ciphertext, secret.key_id])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn renew_run_lease(&self, run_id: i64) -> Result<bool, StoreError> {
        let lease_ms = self.run_lease_ms;
        self.call(move |conn| {
            let n = conn.execute(
                "UPDATE runs SET lease_until = ?2 WHERE id = ?1 AND status = 'running'",
                params![run_id, now_ms().saturating_add(lease_ms)],
            )?;
            Ok(n > 0)
        })
        .await
    }

    async fn tenants_version(&self) -> Result<i64, StoreError> {
        self.call(|conn| {
            Ok(conn.query_row(
                "SELECT version FROM tenants_version WHERE id = 1",
                [],
                |r| r.get(0),
            )?)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::conformance::{run_all, sealed, tenant, TEST_RUN_LEASE};

    #[cfg(unix)]
    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).expect("meta").permissions().mode() & 0o777
    }

    fn start(tenant: &str) -> RunStart {
        RunStart {
            tenant_id: tenant.into(),
            connector: "okta".into(),
            job: "kris".into(),
            kind: RunKind::Run,
        }
    }

    #[tokio::test]
    async fn conformance_suite_passes_on_sqlite() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(dir.path())
            .expect("open")
            .with_run_lease(TEST_RUN_LEASE);
        run_all(&store).await;
    }

    #[tokio::test]
    async fn stale_running_rows_become_interrupted_on_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let store = SqliteStore::open(dir.path()).expect("open");
            store
                .add_tenant(&tenant("acme"), &sealed(1))
                .await
                .expect("add");
            let id = store.start_run(&start("acme")).await.expect("start");
            let reused = store
                .start_run(&RunStart {
                    job: "inventory".into(),
                    ..start("acme")
                })
                .await
                .expect("start");
            // Pretend other processes owned them: one that is gone, and one whose pid
            // was reused.
            let conn = store.conn.lock().expect("lock");
            conn.execute("UPDATE runs SET pid = 999999999 WHERE id = ?1", params![id])
                .expect("update");
            conn.execute(
                "UPDATE runs SET pid = 1, pid_start = -1 WHERE id = ?1",
                params![reused],
            )
            .expect("update");
        }
        let store = SqliteStore::open(dir.path()).expect("reopen");
        let runs = store.runs("acme", 10).await.expect("runs");
        assert!(runs.iter().all(|r| r.status == RunStatus::Interrupted));
    }

    #[tokio::test]
    async fn a_run_whose_process_is_gone_loses_its_lease() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(dir.path()).expect("open");
        let killed = store.start_run(&start("acme")).await.expect("start");
        store
            .conn
            .lock()
            .expect("lock")
            .execute(
                "UPDATE runs SET pid = 999999999 WHERE id = ?1",
                params![killed],
            )
            .expect("a process that is gone");
        let next = store
            .start_run(&start("acme"))
            .await
            .expect("the lease of a dead process is taken over");
        let runs = store.runs("acme", 10).await.expect("runs");
        assert_eq!((runs[0].id, runs[0].status), (next, RunStatus::Running));
        assert_eq!(
            (runs[1].id, runs[1].status),
            (killed, RunStatus::Interrupted)
        );
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn the_data_directory_and_database_are_private() {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("a").join("data");
        let store = SqliteStore::open(&data).expect("open");
        store
            .add_tenant(&tenant("acme"), &sealed(1))
            .await
            .expect("add");
        assert_eq!(mode(&data), 0o700);
        for name in ["kri.db", "kri.db-wal", "kri.db-shm"] {
            assert_eq!(mode(&data.join(name)), 0o600, "{name}");
        }
        drop(store);
        // A database from before kri created it private is tightened.
        use std::os::unix::fs::PermissionsExt;
        let db = data.join("kri.db");
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let _store = SqliteStore::open(&data).expect("reopen");
        assert_eq!(mode(&db), 0o600);
    }

    #[tokio::test]
    async fn an_empty_or_foreign_database_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("kri.db");
        std::fs::write(&db, b"").expect("empty");
        let err = SqliteStore::open(dir.path())
            .err()
            .expect("empty is refused");
        assert!(matches!(err, StoreError::NotKriDatabase { .. }), "{err}");
        assert!(err.to_string().contains("empty"), "{err}");
        assert_eq!(std::fs::metadata(&db).expect("meta").len(), 0, "left alone");

        std::fs::write(&db, b"hello, not a database at all, just some text").expect("text");
        let err = SqliteStore::open(dir.path())
            .err()
            .expect("text is refused");
        assert!(err.to_string().contains("not an SQLite database"), "{err}");

        std::fs::remove_file(&db).expect("rm");
        let other = Connection::open(&db).expect("other program");
        other
            .execute_batch("CREATE TABLE photos (id INTEGER PRIMARY KEY);")
            .expect("schema");
        drop(other);
        let err = SqliteStore::open(dir.path())
            .err()
            .expect("foreign is refused");
        assert!(err.to_string().contains("another program"), "{err}");
        let other = Connection::open(&db).expect("reopen");
        let tables: i64 = other
            .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))
            .expect("count");
        assert_eq!(tables, 1, "nothing was added to it");
        other
            .pragma_update(None, "application_id", 0x1234)
            .expect("app id");
        drop(other);
        let err = SqliteStore::open(dir.path())
            .err()
            .expect("foreign id is refused");
        assert!(err.to_string().contains("0x1234"), "{err}");
    }

    #[tokio::test]
    async fn a_commit_under_another_process_lock_fails_the_run_at_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(dir.path()).expect("open");
        store
            .add_tenant(&tenant("acme"), &sealed(1))
            .await
            .expect("add");
        let run = store.start_run(&start("acme")).await.expect("start");
        store.set_busy_timeout(Duration::from_millis(100));
        let other = Connection::open(dir.path().join("kri.db")).expect("second connection");
        other.execute_batch("BEGIN EXCLUSIVE;").expect("lock");
        let commit = RunCommit {
            run_id: run,
            tenant_id: "acme".into(),
            connector: "okta".into(),
            ..Default::default()
        };
        let err = store.commit_run(commit).await.expect_err("locked");
        assert!(matches!(err, StoreError::Locked { .. }), "{err}");
        let msg = format!("could not commit the run: {err}");
        assert!(
            msg.contains("the database is locked by another process"),
            "{msg}"
        );
        store
            .fail_run(run, &msg, &RunStats::default())
            .await
            .expect("the failure is recorded despite the lock");
        let runs = store.runs("acme", 1).await.expect("runs while locked");
        assert_eq!(runs[0].status, RunStatus::Failed, "failed at once");
        assert_eq!(runs[0].error.as_deref(), Some(msg.as_str()));

        other.execute_batch("ROLLBACK;").expect("unlock");
        drop(other);
        let next = store
            .start_run(&start("acme"))
            .await
            .expect("no lease is left");
        assert!(next > run);
        drop(store);
        let store = SqliteStore::open(dir.path()).expect("reopen");
        let runs = store.runs("acme", 2).await.expect("runs");
        assert_eq!(
            runs[1].status,
            RunStatus::Failed,
            "written into the database"
        );
        assert!(!dir.path().join("kri.db-failed-runs").exists());
    }

    #[tokio::test]
    async fn a_database_of_schema_2_migrates_forward_and_keeps_its_runs() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let mut conn = Connection::open(dir.path().join("kri.db")).expect("open");
            for sql in &MIGRATIONS[..2] {
                conn.execute_batch(sql).expect("old schema");
            }
            conn.pragma_update(None, "user_version", 2)
                .expect("version");
            let tx = conn.transaction().expect("tx");
            tx.execute(
                "INSERT INTO runs (tenant_id, connector, kind, status, pid, started_at) VALUES ('acme', 'okta', 'run', 'succeeded', 1, 0)",
                [],
            )
            .expect("old run");
            tx.commit().expect("commit");
        }
        let store = SqliteStore::open(dir.path()).expect("an old kri database opens");
        let app: i32 = store
            .conn
            .lock()
            .expect("lock")
            .query_row("PRAGMA application_id", [], |r| r.get(0))
            .expect("app id");
        assert_eq!(app, APPLICATION_ID, "marked as kri's from now on");
        let runs = store.runs("acme", 10).await.expect("runs");
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].job, "kris", "old runs were KRI runs");
        assert_eq!(runs[0].status, RunStatus::Succeeded);
        assert!(store.nodes("acme").await.expect("nodes").is_empty());
    }

    #[tokio::test]
    async fn an_unknown_stored_word_is_an_error_not_a_guess() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(dir.path()).expect("open");
        let id = store.start_run(&start("acme")).await.expect("start");
        store
            .conn
            .lock()
            .expect("lock")
            .execute(
                "UPDATE runs SET status = 'halted' WHERE id = ?1",
                params![id],
            )
            .expect("update");
        let err = store.runs("acme", 1).await.expect_err("unknown status");
        assert!(err.to_string().contains("halted"), "{err}");
    }
}
