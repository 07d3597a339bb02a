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

use std::collections::{BTreeMap, HashMap, HashSet};
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
use super::sqlite_query::run_query;
use super::{
    current_status, first_seen_ms, format_ms, kri_change, parse_direction, parse_kri_status,
    AlertStatus, EventColumns, EventFilter, JobClaim, JobSchedule, KriDefinitionRow, KriPoint,
    KriRow, PagedEvent, RunCommit, RunRecord, RunStart, RunStats, Store, StoredAlert, StoredEdge,
    StoredEvent, StoredNode, Tenant, DEFAULT_RUN_LEASE, EVENT_NORMALIZED_COLUMNS,
};
use crate::error::StoreError;
use crate::graph::access_paths;
use crate::model::{
    Direction, Edge, EntityRef, Event, GraphCoverage, Node, RunKind, RunStatus, Severity,
};
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
    let s = &f.stats;
    conn.execute(
        "UPDATE runs SET status = 'failed', error = ?2, finished_at = ?3, duration_ms = ?3 - started_at,
             requests = ?4, responses_429 = ?5, bytes = ?6, rows_written = 0, rows_skipped = ?7, note = ?8,
             stream_pages = ?9, stream_events = ?10, stream_lag_ms = ?11
         WHERE id = ?1 AND status = 'running'",
        params![
            f.run_id,
            f.error,
            f.finished_at,
            s.requests as i64,
            s.responses_429 as i64,
            s.bytes as i64,
            s.rows_skipped as i64,
            s.note,
            s.stream.map(|p| p.pages as i64),
            s.stream.map(|p| p.events as i64),
            s.stream.and_then(|p| p.lag_ms),
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

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A column holding a word of one of the typed enums; an unknown word is a
/// conversion error naming it.
fn word<T>(r: &Row<'_>, idx: usize, parse: impl Fn(&str) -> Option<T>) -> rusqlite::Result<T> {
    let text: String = r.get(idx)?;
    parse(&text).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            idx,
            rusqlite::types::Type::Text,
            format!("unknown stored word `{text}`").into(),
        )
    })
}

/// A JSON column; unreadable JSON reads as `fallback` (the row is still shown).
fn json_or<T: serde::de::DeserializeOwned>(text: &str, fallback: T) -> T {
    serde_json::from_str(text).unwrap_or(fallback)
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

/// What a run left `running` by a process that is gone is marked with.
const HOLDER_GONE: &str = "the process running it stopped before it finished";

/// The holders of the `running` rows of kind run matching `filter` (a fixed clause
/// of this file, never input), with their run ids.
fn running_holders(
    conn: &Connection,
    filter: &str,
    args: impl rusqlite::Params,
) -> Result<Vec<(i64, RunHolder)>, StoreError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT id, machine, pid, pid_start, lease_until FROM runs WHERE status = 'running' AND {filter}"
    ))?;
    let rows = stmt.query_map(args, |r| {
        Ok((
            r.get(0)?,
            RunHolder {
                machine: r.get(1)?,
                pid: r.get(2)?,
                pid_start: r.get(3)?,
                lease_until: r.get(4)?,
            },
        ))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn mark_interrupted(conn: &Connection) -> Result<(), StoreError> {
    let (here, now) = (this_machine(), now_ms());
    let (own, _) = this_process();
    let stale: Vec<i64> = running_holders(conn, "1 = 1", [])?
        .into_iter()
        .filter(|(_, h)| !(h.pid == own && h.machine.as_deref().is_none_or(|m| m == here)))
        .filter(|(_, h)| !h.alive(&here, now))
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

const TENANT_COLUMNS: &str =
    "id, connector, base_url, kris, extra, allow_insecure_local, quotas, created_at, schedules";

fn tenant_from_row(r: &Row<'_>) -> rusqlite::Result<Tenant> {
    let kris: String = r.get(3)?;
    let extra: String = r.get(4)?;
    let quotas: String = r.get(6)?;
    Ok(Tenant {
        id: r.get(0)?,
        connector: r.get(1)?,
        base_url: r.get(2)?,
        kris: json_or(&kris, Vec::new()),
        extra: json_or(&extra, serde_json::Value::Object(Default::default())),
        allow_insecure_local: r.get(5)?,
        quotas: json_or(&quotas, BTreeMap::new()),
        created_at_ms: r.get(7)?,
        schedules: json_or(&r.get::<_, String>(8)?, BTreeMap::new()),
    })
}

fn direction_word(d: Direction) -> &'static str {
    d.as_str()
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
    let emitted_nodes: HashSet<&str> = c.nodes.iter().map(|n| n.id.as_str()).collect();
    let emitted_edges: HashSet<(&str, &str, &str)> = c
        .edges
        .iter()
        .map(|e| (e.from.as_str(), e.to.as_str(), e.kind.as_str()))
        .collect();
    let mut gone_nodes: Vec<String> = Vec::new();
    let mut gone_edges: Vec<(String, String, String)> = Vec::new();
    for part in &c.graph.coverage {
        match part {
            GraphCoverage::NodeKind(kind) => {
                let mut stmt =
                    tx.prepare_cached("SELECT id FROM nodes WHERE tenant_id = ?1 AND kind = ?2")?;
                let ids = stmt.query_map(params![c.tenant_id, kind], |r| r.get::<_, String>(0))?;
                for id in ids {
                    let id = id?;
                    if !emitted_nodes.contains(id.as_str()) {
                        gone_nodes.push(id);
                    }
                }
            }
            GraphCoverage::EdgeKind(kind) => {
                let mut stmt = tx.prepare_cached(
                    "SELECT from_id, to_id, kind FROM edges WHERE tenant_id = ?1 AND kind = ?2",
                )?;
                let rows = stmt.query_map(params![c.tenant_id, kind], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })?;
                gone_edges.extend(rows.collect::<Result<Vec<_>, _>>()?);
            }
            GraphCoverage::EdgesFrom { node, kind } => {
                let mut stmt = tx.prepare_cached(
                    "SELECT from_id, to_id, kind FROM edges WHERE tenant_id = ?1 AND from_id = ?2 AND kind = ?3",
                )?;
                let rows = stmt.query_map(params![c.tenant_id, node, kind], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })?;
                gone_edges.extend(rows.collect::<Result<Vec<_>, _>>()?);
            }
            GraphCoverage::EdgesTo { node, kind } => {
                let mut stmt = tx.prepare_cached(
                    "SELECT from_id, to_id, kind FROM edges WHERE tenant_id = ?1 AND to_id = ?2 AND kind = ?3",
                )?;
                let rows = stmt.query_map(params![c.tenant_id, node, kind], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })?;
                gone_edges.extend(rows.collect::<Result<Vec<_>, _>>()?);
            }
        }
    }
    let mut delete_edge = tx.prepare_cached(
        "DELETE FROM edges WHERE tenant_id = ?1 AND from_id = ?2 AND to_id = ?3 AND kind = ?4",
    )?;
    for (from, to, kind) in &gone_edges {
        if !emitted_edges.contains(&(from.as_str(), to.as_str(), kind.as_str())) {
            delete_edge.execute(params![c.tenant_id, from, to, kind])?;
        }
    }
    let mut delete_node_edges = tx.prepare_cached(
        "DELETE FROM edges WHERE tenant_id = ?1 AND (from_id = ?2 OR to_id = ?2)",
    )?;
    let mut delete_node =
        tx.prepare_cached("DELETE FROM nodes WHERE tenant_id = ?1 AND id = ?2")?;
    for id in &gone_nodes {
        delete_node_edges.execute(params![c.tenant_id, id])?;
        delete_node.execute(params![c.tenant_id, id])?;
    }
    Ok(())
}

/// Replaces the tenant's `access_path` rows with the paths of its graph as `tx` sees
/// it. Returns how many rows.
fn rebuild_paths(tx: &Transaction<'_>, id: &str) -> Result<usize, StoreError> {
    let nodes: Vec<Node> = read_nodes(tx, id)?.into_iter().map(|n| n.node).collect();
    let edges: Vec<Edge> = read_edges(tx, id)?.into_iter().map(|e| e.edge).collect();
    let rows = access_paths(&nodes, &edges);
    tx.execute("DELETE FROM access_path WHERE tenant_id = ?1", params![id])?;
    let mut insert = tx.prepare_cached(
        "INSERT INTO access_path (tenant_id, identity, identity_id, identity_group, action,
             action_type, kind, resource_group, resource, resource_id, resource_labels,
             identity_labels, standing_privileges, path)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    )?;
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
    Ok(rows.len())
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
    let mut existing = tx.prepare_cached(
        "SELECT id, evidence, first_seen, last_seen, severity FROM alerts WHERE tenant_id = ?1 AND dedupe_key = ?2",
    )?;
    // The same incident again: more evidence, a later last-seen, and the higher
    // severity (with its title and details) when it rose.
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
        let found = existing
            .query_row(params![c.tenant_id, a.dedupe_key], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, String>(4)?,
                ))
            })
            .optional()?;
        match found {
            Some((id, evidence, first_seen, last_seen, severity)) => {
                let mut merged: Vec<String> = json_or(&evidence, Vec::new());
                for e in &a.evidence {
                    if !merged.contains(e) {
                        merged.push(e.clone());
                    }
                }
                update.execute(params![
                    id,
                    to_json(&merged),
                    first_seen.min(first_seen_ms(a)),
                    last_seen.max(a.seen_ms)
                ])?;
                let stored: Option<Severity> = severity.parse().ok();
                if stored.is_none_or(|s| a.severity > s) {
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
    for (run_id, holder) in holders {
        if holder.alive(&here, now) {
            return Err(StoreError::RunInProgress {
                tenant: start.tenant_id.clone(),
                job: start.job.clone(),
                run_id,
                pid: holder.pid,
            });
        }
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
    let mut stmt = conn.prepare(
        "SELECT id, kind, sub_kind, name, labels, properties, first_seen, last_seen
         FROM nodes WHERE tenant_id = ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map(params![tenant_id], |r| {
        let labels: String = r.get(4)?;
        let properties: String = r.get(5)?;
        Ok(StoredNode {
            node: Node {
                id: r.get(0)?,
                kind: r.get(1)?,
                sub_kind: r.get(2)?,
                name: r.get(3)?,
                labels: json_or(&labels, BTreeMap::new()),
                properties: json_or(&properties, serde_json::Value::Null),
            },
            first_seen_ms: r.get(6)?,
            last_seen_ms: r.get(7)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// A tenant's graph edges, by (from, to, kind).
fn read_edges(conn: &Connection, tenant_id: &str) -> Result<Vec<StoredEdge>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT from_id, to_id, kind, properties, first_seen, last_seen
         FROM edges WHERE tenant_id = ?1 ORDER BY from_id, to_id, kind",
    )?;
    let rows = stmt.query_map(params![tenant_id], |r| {
        let properties: String = r.get(3)?;
        Ok(StoredEdge {
            edge: Edge {
                from: r.get(0)?,
                to: r.get(1)?,
                kind: r.get(2)?,
                properties: json_or(&properties, serde_json::Value::Null),
            },
            first_seen_ms: r.get(4)?,
            last_seen_ms: r.get(5)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// An event row (`uuid, published, event_type, actor, targets, outcome, raw, run_id`).
fn event_from_row(r: &Row<'_>) -> rusqlite::Result<StoredEvent> {
    let actor: String = r.get(3)?;
    let targets: String = r.get(4)?;
    let outcome: Option<String> = r.get(5)?;
    let raw: String = r.get(6)?;
    Ok(StoredEvent {
        event: Event {
            id: r.get(0)?,
            time_ms: r.get(1)?,
            event_type: r.get(2)?,
            actor: json_or(&actor, unknown_entity()),
            targets: json_or(&targets, Vec::new()),
            outcome: outcome.and_then(|o| serde_json::from_str(&o).ok()),
            raw: json_or(&raw, serde_json::Value::Null),
        },
        run_id: r.get(7)?,
        columns: event_columns(r, 8)?,
    })
}

/// [`EventColumns`] from the row's columns `first..` ([`EVENT_NORMALIZED_COLUMNS`]).
/// `json_extract` gives each the type the raw member has, so a member of an odd type
/// reads as what it can be, else `None`, never as an error.
fn event_columns(r: &Row<'_>, first: usize) -> rusqlite::Result<EventColumns> {
    let text = |i: usize| -> rusqlite::Result<Option<String>> {
        Ok(match r.get_ref(first + i)? {
            ValueRef::Text(t) => Some(String::from_utf8_lossy(t).into_owned()),
            ValueRef::Integer(n) => Some(n.to_string()),
            ValueRef::Real(x) => Some(x.to_string()),
            ValueRef::Null | ValueRef::Blob(_) => None,
        })
    };
    let real = |i: usize| -> rusqlite::Result<Option<f64>> {
        Ok(match r.get_ref(first + i)? {
            ValueRef::Real(x) => Some(x),
            ValueRef::Integer(n) => Some(n as f64),
            _ => None,
        })
    };
    let integer = |i: usize| -> rusqlite::Result<Option<i64>> {
        Ok(match r.get_ref(first + i)? {
            ValueRef::Integer(n) => Some(n),
            _ => None,
        })
    };
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
        geo_lat: real(10)?,
        geo_lon: real(11)?,
        asn: integer(12)?,
        // json_extract reads a JSON boolean as 0 or 1.
        is_proxy: match r.get_ref(first + 13)? {
            ValueRef::Integer(n) => Some(n != 0),
            _ => None,
        },
        external_session_id: text(14)?,
        root_session_id: text(15)?,
        user_agent: text(16)?,
        debug_data: text(17)?.and_then(|d| serde_json::from_str(&d).ok()),
    })
}

fn unknown_entity() -> EntityRef {
    EntityRef {
        id: String::new(),
        kind: String::new(),
        name: String::new(),
    }
}

/// The columns [`alert_from_row`] reads, in its order.
const ALERT_COLUMNS: &str =
    "id, detection, severity, title, dedupe_key, entity, evidence, first_seen, last_seen, details, status";

fn alert_from_row(r: &Row<'_>) -> rusqlite::Result<StoredAlert> {
    let entity: String = r.get(5)?;
    let evidence: String = r.get(6)?;
    let details: String = r.get(9)?;
    Ok(StoredAlert {
        id: r.get(0)?,
        detection: r.get(1)?,
        severity: word(r, 2, |w| w.parse().ok())?,
        title: r.get(3)?,
        dedupe_key: r.get(4)?,
        entity: json_or(&entity, unknown_entity()),
        evidence: json_or(&evidence, Vec::new()),
        first_seen_ms: r.get(7)?,
        last_seen_ms: r.get(8)?,
        details: json_or(&details, serde_json::Value::Null),
        status: word(r, 10, AlertStatus::parse)?,
    })
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
            conn.query_row(
                &format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE id = ?1"),
                params![id],
                tenant_from_row,
            )
            .optional()?
            .ok_or_else(|| StoreError::UnknownTenant(id.clone()))
        })
        .await
    }

    async fn tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        self.call(|conn| {
            let mut stmt =
                conn.prepare(&format!("SELECT {TENANT_COLUMNS} FROM tenants ORDER BY id"))?;
            let rows = stmt.query_map([], tenant_from_row)?;
            Ok(rows.collect::<Result<_, _>>()?)
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
            conn.query_row(
                "SELECT nonce, ciphertext, key_id FROM secrets WHERE tenant_id = ?1",
                params![id],
                |r| {
                    Ok(SealedSecret {
                        nonce: r.get(0)?,
                        ciphertext: r.get(1)?,
                        key_id: r.get(2)?,
                    })
                },
            )
            .optional()?
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
                        direction_word(d.direction),
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
            let mut stmt = conn.prepare(
                "SELECT slug, name, unit, direction, warn, breach FROM kri_definitions WHERE tenant_id = ?1 ORDER BY slug",
            )?;
            let rows = stmt.query_map(params![id], |r| {
                Ok(KriDefinitionRow {
                    slug: r.get(0)?,
                    name: r.get(1)?,
                    unit: r.get(2)?,
                    direction: word(r, 3, parse_direction)?,
                    warn: r.get(4)?,
                    breach: r.get(5)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
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
            let s = &commit.stats;
            tx.execute(
                "UPDATE runs SET status = 'succeeded', finished_at = ?2, duration_ms = ?2 - started_at, requests = ?3,
                     responses_429 = ?4, bytes = ?5, rows_written = ?6, rows_skipped = ?7, note = ?8,
                     stream_pages = ?9, stream_events = ?10, stream_lag_ms = ?11 WHERE id = ?1",
                params![
                    commit.run_id,
                    now,
                    s.requests as i64,
                    s.responses_429 as i64,
                    s.bytes as i64,
                    s.rows_written as i64,
                    s.rows_skipped as i64,
                    s.note,
                    s.stream.map(|p| p.pages as i64),
                    s.stream.map(|p| p.events as i64),
                    s.stream.and_then(|p| p.lag_ms),
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
            let mut stmt = conn.prepare(
                "SELECT id, tenant_id, connector, job, kind, status, error, started_at, finished_at, duration_ms,
                        requests, responses_429, bytes, rows_written, rows_skipped, note,
                        stream_pages, stream_events, stream_lag_ms
                 FROM runs WHERE tenant_id = ?1 ORDER BY id DESC LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![id, limit as i64], |r| {
                Ok(RunRecord {
                    id: r.get(0)?,
                    tenant_id: r.get(1)?,
                    connector: r.get(2)?,
                    job: r.get(3)?,
                    kind: word(r, 4, |w| w.parse::<RunKind>().ok())?,
                    status: word(r, 5, |w| w.parse::<RunStatus>().ok())?,
                    error: r.get(6)?,
                    started_at: format_ms(r.get(7)?),
                    finished_at: r.get::<_, Option<i64>>(8)?.map(format_ms),
                    duration_ms: r.get(9)?,
                    requests: r.get::<_, i64>(10)? as u64,
                    responses_429: r.get::<_, i64>(11)? as u64,
                    bytes: r.get::<_, i64>(12)? as u64,
                    rows_written: r.get::<_, i64>(13)? as u64,
                    rows_skipped: r.get::<_, i64>(14)? as u64,
                    note: r.get(15)?,
                    stream_pages: r.get::<_, Option<i64>>(16)?.map(|n| n as u64),
                    stream_events: r.get::<_, Option<i64>>(17)?.map(|n| n as u64),
                    stream_lag_ms: r.get(18)?,
                })
            })?;
            let mut runs: Vec<RunRecord> = rows.collect::<Result<_, _>>()?;
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
            let rows = stmt.query_map(params![id], |r| {
                let details: String = r.get(7)?;
                let value: Option<f64> = r.get(3)?;
                let previous: Option<f64> = r.get(13)?;
                let warn: Option<f64> = r.get(9)?;
                let breach: Option<f64> = r.get(10)?;
                let stored = word(r, 4, parse_kri_status)?;
                let direction = r
                    .get::<_, Option<String>>(14)?
                    .as_deref()
                    .and_then(parse_direction);
                let status = current_status(stored, direction, value, warn, breach);
                Ok(KriRow {
                    slug: r.get(0)?,
                    name: r.get(1)?,
                    unit: r.get(2)?,
                    value,
                    status,
                    numerator: r.get(5)?,
                    denominator: r.get(6)?,
                    details: json_or(&details, serde_json::Value::Null),
                    reason: r.get(8)?,
                    warn,
                    breach,
                    run_id: r.get(11)?,
                    computed_at: format_ms(r.get(12)?),
                    previous_value: previous,
                    change: kri_change(value, previous),
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
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
        let (id, filter) = (tenant_id.to_string(), filter.clone());
        self.call(move |conn| {
            let mut stmt = conn.prepare(&format!(
                "SELECT uuid, published, event_type, actor, targets, outcome, raw, run_id,
                        {EVENT_NORMALIZED_COLUMNS}
                 FROM events WHERE tenant_id = ?1
                     AND (?2 IS NULL OR published >= ?2)
                     AND (?3 IS NULL OR event_type = ?3)
                     AND (?4 IS NULL OR json_extract(actor, '$.id') = ?4 OR json_extract(actor, '$.name') = ?4)
                 ORDER BY published DESC, uuid LIMIT ?5"
            ))?;
            let rows = stmt.query_map(
                params![
                    id,
                    filter.since_ms,
                    filter.event_type,
                    filter.actor,
                    limit as i64
                ],
                event_from_row,
            )?;
            Ok(rows.collect::<Result<_, _>>()?)
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
            let rows = stmt.query_map(
                params![
                    id,
                    status.map(AlertStatus::as_str),
                    severity.map(|s| s.as_str())
                ],
                alert_from_row,
            )?;
            Ok(rows.collect::<Result<_, _>>()?)
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
            let alert = tx.query_row(
                &format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE id = ?1"),
                params![alert_id],
                alert_from_row,
            )?;
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
            let mut stmt = conn.prepare(
                "SELECT tenant_id, job, interval_ms, next_due_ms, lease_owner, lease_until_ms, fence
                 FROM job_schedules ORDER BY tenant_id, job",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(JobSchedule {
                    tenant_id: r.get(0)?,
                    job: r.get(1)?,
                    interval_ms: r.get(2)?,
                    next_due_ms: r.get(3)?,
                    lease_owner: r.get(4)?,
                    lease_until_ms: r.get(5)?,
                    fence: r.get(6)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
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
            let mut stmt = conn.prepare(
                "SELECT slug, value, status, run_id, computed_at FROM kri_values
                 WHERE tenant_id = ?1 AND (?2 IS NULL OR slug = ?2)
                 ORDER BY run_id DESC, slug LIMIT ?3",
            )?;
            let rows = stmt.query_map(
                params![tenant_id, slug, i64::try_from(limit).unwrap_or(i64::MAX)],
                |r| {
                    Ok(KriPoint {
                        slug: r.get(0)?,
                        value: r.get(1)?,
                        status: word(r, 2, parse_kri_status)?,
                        run_id: r.get(3)?,
                        computed_at_ms: r.get(4)?,
                    })
                },
            )?;
            Ok(rows.collect::<Result<_, _>>()?)
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
        // The lowest time a row of this page can have (inclusive): after the window's
        // start, or the previous page's last time (ties broken by id), so that every
        // page starts its index range where the previous one ended.
        let (low_ms, from_id) = match from {
            Some((ms, id)) => (ms.max(after_ms.saturating_add(1)), Some(id)),
            None => (after_ms.saturating_add(1), None),
        };
        self.call(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT uuid, published, event_type, actor, targets, outcome, raw
                 FROM events WHERE tenant_id = ?1 AND published >= ?2 AND published <= ?3
                     AND (?4 IS NULL OR published > ?2 OR uuid > ?4)
                 ORDER BY published, uuid LIMIT ?5",
            )?;
            let rows =
                stmt.query_map(params![id, low_ms, until_ms, from_id, limit as i64], |r| {
                    let actor: String = r.get(3)?;
                    let targets: String = r.get(4)?;
                    let outcome: Option<String> = r.get(5)?;
                    Ok(PagedEvent {
                        id: r.get(0)?,
                        time_ms: r.get(1)?,
                        event_type: r.get(2)?,
                        actor: json_or(&actor, unknown_entity()),
                        targets: json_or(&targets, Vec::new()),
                        outcome: outcome.and_then(|o| serde_json::from_str(&o).ok()),
                        raw: r.get(6)?,
                    })
                })?;
            Ok(rows.collect::<Result<_, _>>()?)
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
            let mut given: Vec<String> = resealed.iter().map(|(t, _)| t.clone()).collect();
            given.sort();
            if given != stored {
                return Err(StoreError::SecretsChanged);
            }
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
