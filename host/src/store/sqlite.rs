//! The embedded [`Store`]: SQLite (WAL) at `<data-dir>/kri.db`.
//!
//! One connection behind a mutex; every operation is one short transaction, run on
//! tokio's blocking pool so it never stalls the async workers. Schema changes are the
//! numbered SQL files in `migrations/`, applied in order and counted by SQLite's
//! `user_version`, so an existing database migrates forward on open.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension, Row, Transaction, TransactionBehavior};

use super::liveness::{owner_alive, this_process};
use super::{
    format_ms, parse_kri_status, AlertStatus, KriDefinitionRow, KriRow, RunCommit, RunRecord,
    RunStart, RunStats, Store, StoredAlert, StoredEdge, StoredEvent, StoredNode, Tenant,
};
use crate::error::StoreError;
use crate::model::{Direction, Edge, EntityRef, Event, Node, RunKind, RunStatus};
use crate::secrets::SealedSecret;

/// Ordered migrations; index + 1 is the schema version they bring the database to.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_initial.sql"),
    include_str!("migrations/0002_run_owner_start.sql"),
    include_str!("migrations/0003_jobs_and_outputs.sql"),
];

/// The SQLite store.
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
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
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::DataDir {
            path: data_dir.to_path_buf(),
            source,
        })?;
        let path = data_dir.join("kri.db");
        let conn = Connection::open(&path)?;
        conn.busy_timeout(std::time::Duration::from_secs(30))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        let mut conn = conn;
        migrate(&mut conn, &path)?;
        mark_interrupted(&conn)?;
        Ok(SqliteStore {
            conn: Arc::new(Mutex::new(conn)),
        })
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
    Ok(())
}

fn mark_interrupted(conn: &Connection) -> Result<(), StoreError> {
    let mut stmt = conn.prepare("SELECT id, pid, pid_start FROM runs WHERE status = 'running'")?;
    let (own, _) = this_process();
    let stale: Vec<i64> = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, Option<i64>>(2)?,
            ))
        })?
        .filter_map(|r| r.ok())
        .filter(|(_, pid, start)| *pid != own && !owner_alive(*pid, *start))
        .map(|(id, _, _)| id)
        .collect();
    for id in stale {
        conn.execute(
            "UPDATE runs SET status = 'interrupted', error = 'the process running it stopped before it finished', finished_at = ?2 WHERE id = ?1 AND status = 'running'",
            params![id, now_ms()],
        )?;
    }
    Ok(())
}

const TENANT_COLUMNS: &str =
    "id, connector, base_url, kris, extra, allow_insecure_local, quotas, created_at";

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
    })
}

fn direction_word(d: Direction) -> &'static str {
    d.as_str()
}

fn parse_direction(word: &str) -> Option<Direction> {
    [Direction::HigherIsBetter, Direction::LowerIsBetter]
        .into_iter()
        .find(|d| d.as_str() == word)
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

fn upsert_graph(tx: &Transaction<'_>, c: &RunCommit, now: i64) -> Result<(), StoreError> {
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
    Ok(())
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
        "SELECT id, evidence, last_seen FROM alerts WHERE tenant_id = ?1 AND dedupe_key = ?2",
    )?;
    let mut update =
        tx.prepare_cached("UPDATE alerts SET evidence = ?2, last_seen = ?3 WHERE id = ?1")?;
    let mut insert = tx.prepare_cached(
        "INSERT INTO alerts (tenant_id, detection, severity, title, entity, dedupe_key, first_seen, last_seen, evidence, details, status)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8, ?9, 'open')",
    )?;
    for a in &c.alerts {
        let found = existing
            .query_row(params![c.tenant_id, a.dedupe_key], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })
            .optional()?;
        match found {
            Some((id, evidence, last_seen)) => {
                let mut merged: Vec<String> = json_or(&evidence, Vec::new());
                for e in &a.evidence {
                    if !merged.contains(e) {
                        merged.push(e.clone());
                    }
                }
                update.execute(params![id, to_json(&merged), last_seen.max(a.seen_ms)])?;
            }
            None => {
                insert.execute(params![
                    c.tenant_id,
                    a.detection,
                    a.severity.as_str(),
                    a.title,
                    to_json(&a.entity),
                    a.dedupe_key,
                    a.seen_ms,
                    to_json(&a.evidence),
                    a.details.to_string()
                ])?;
            }
        }
    }
    Ok(())
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
                "INSERT INTO tenants (id, connector, base_url, kris, extra, allow_insecure_local, quotas, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    tenant.id,
                    tenant.connector,
                    tenant.base_url,
                    to_json(&tenant.kris),
                    tenant.extra.to_string(),
                    tenant.allow_insecure_local,
                    to_json(&tenant.quotas),
                    now_ms(),
                ],
            )?;
            tx.execute(
                "INSERT INTO secrets (tenant_id, nonce, ciphertext) VALUES (?1, ?2, ?3)",
                params![tenant.id, secret.nonce, secret.ciphertext],
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
                "nodes",
                "edges",
                "events",
                "alerts",
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
        let (id, extra) = (id.to_string(), extra.to_string());
        self.call(move |conn| {
            let n = conn.execute(
                "UPDATE tenants SET extra = ?2 WHERE id = ?1",
                params![id, extra],
            )?;
            if n == 0 {
                return Err(StoreError::UnknownTenant(id));
            }
            Ok(())
        })
        .await
    }

    async fn set_secret(&self, tenant_id: &str, secret: &SealedSecret) -> Result<(), StoreError> {
        let (id, secret) = (tenant_id.to_string(), secret.clone());
        self.call(move |conn| {
            let n = conn.execute(
                "UPDATE secrets SET nonce = ?2, ciphertext = ?3 WHERE tenant_id = ?1",
                params![id, secret.nonce, secret.ciphertext],
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
                "SELECT nonce, ciphertext FROM secrets WHERE tenant_id = ?1",
                params![id],
                |r| {
                    Ok(SealedSecret {
                        nonce: r.get(0)?,
                        ciphertext: r.get(1)?,
                    })
                },
            )
            .optional()?
            .ok_or_else(|| StoreError::UnknownTenant(id.clone()))
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

    async fn start_run(&self, start: &RunStart) -> Result<i64, StoreError> {
        let start = start.clone();
        self.call(move |conn| {
            let (pid, pid_start) = this_process();
            conn.execute(
                "INSERT INTO runs (tenant_id, connector, job, kind, status, pid, pid_start, started_at)
                 VALUES (?1, ?2, ?3, ?4, 'running', ?5, ?6, ?7)",
                params![
                    start.tenant_id,
                    start.connector,
                    start.job,
                    start.kind.as_str(),
                    pid,
                    pid_start,
                    now_ms()
                ],
            )?;
            Ok(conn.last_insert_rowid())
        })
        .await
    }

    async fn commit_run(&self, commit: RunCommit) -> Result<(), StoreError> {
        self.call(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let now = now_ms();
            insert_kris(&tx, &commit, now)?;
            upsert_graph(&tx, &commit, now)?;
            insert_events(&tx, &commit)?;
            upsert_alerts(&tx, &commit)?;
            apply_state(&tx, &commit)?;
            let s = &commit.stats;
            tx.execute(
                "UPDATE runs SET status = 'succeeded', finished_at = ?2, duration_ms = ?2 - started_at, requests = ?3,
                     responses_429 = ?4, bytes = ?5, rows_written = ?6, rows_skipped = ?7, note = ?8 WHERE id = ?1",
                params![
                    commit.run_id,
                    now,
                    s.requests as i64,
                    s.responses_429 as i64,
                    s.bytes as i64,
                    s.rows_written as i64,
                    s.rows_skipped as i64,
                    s.note
                ],
            )?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn fail_run(&self, run_id: i64, error: &str, stats: &RunStats) -> Result<(), StoreError> {
        let (error, s) = (error.to_string(), stats.clone());
        self.call(move |conn| {
            conn.execute(
                "UPDATE runs SET status = 'failed', error = ?2, finished_at = ?3, duration_ms = ?3 - started_at,
                     requests = ?4, responses_429 = ?5, bytes = ?6, rows_written = 0, rows_skipped = ?7, note = ?8 WHERE id = ?1",
                params![
                    run_id,
                    error,
                    now_ms(),
                    s.requests as i64,
                    s.responses_429 as i64,
                    s.bytes as i64,
                    s.rows_skipped as i64,
                    s.note
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn runs(&self, tenant_id: &str, limit: usize) -> Result<Vec<RunRecord>, StoreError> {
        let id = tenant_id.to_string();
        self.call(move |conn| {
            let mut stmt = conn.prepare(
                "SELECT id, tenant_id, connector, job, kind, status, error, started_at, finished_at, duration_ms,
                        requests, responses_429, bytes, rows_written, rows_skipped, note
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
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
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
                           ORDER BY p.run_id DESC LIMIT 1)
                 FROM kri_values v
                 LEFT JOIN kri_definitions d ON d.tenant_id = v.tenant_id AND d.slug = v.slug
                 WHERE v.tenant_id = ?1
                   AND v.id = (SELECT MAX(l.id) FROM kri_values l WHERE l.tenant_id = v.tenant_id AND l.slug = v.slug)
                 ORDER BY v.slug",
            )?;
            let rows = stmt.query_map(params![id], |r| {
                let details: String = r.get(7)?;
                let value: Option<f64> = r.get(3)?;
                let previous: Option<f64> = r.get(13)?;
                Ok(KriRow {
                    slug: r.get(0)?,
                    name: r.get(1)?,
                    unit: r.get(2)?,
                    value,
                    status: word(r, 4, parse_kri_status)?,
                    numerator: r.get(5)?,
                    denominator: r.get(6)?,
                    details: json_or(&details, serde_json::Value::Null),
                    reason: r.get(8)?,
                    warn: r.get(9)?,
                    breach: r.get(10)?,
                    run_id: r.get(11)?,
                    computed_at: format_ms(r.get(12)?),
                    previous_value: previous,
                    change: match (value, previous) {
                        (Some(v), Some(p)) => Some(((v - p) * 10.0).round() / 10.0),
                        _ => None,
                    },
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
        self.call(move |conn| {
            let mut stmt = conn.prepare(
                "SELECT id, kind, sub_kind, name, labels, properties, first_seen, last_seen
                 FROM nodes WHERE tenant_id = ?1 ORDER BY id",
            )?;
            let rows = stmt.query_map(params![id], |r| {
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
        })
        .await
    }

    async fn edges(&self, tenant_id: &str) -> Result<Vec<StoredEdge>, StoreError> {
        let id = tenant_id.to_string();
        self.call(move |conn| {
            let mut stmt = conn.prepare(
                "SELECT from_id, to_id, kind, properties, first_seen, last_seen
                 FROM edges WHERE tenant_id = ?1 ORDER BY from_id, to_id, kind",
            )?;
            let rows = stmt.query_map(params![id], |r| {
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
        })
        .await
    }

    async fn events(&self, tenant_id: &str, limit: usize) -> Result<Vec<StoredEvent>, StoreError> {
        let id = tenant_id.to_string();
        self.call(move |conn| {
            let mut stmt = conn.prepare(
                "SELECT uuid, published, event_type, actor, targets, outcome, raw, run_id
                 FROM events WHERE tenant_id = ?1 ORDER BY published DESC, uuid LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![id, limit as i64], |r| {
                let actor: String = r.get(3)?;
                let targets: String = r.get(4)?;
                let outcome: Option<String> = r.get(5)?;
                let raw: String = r.get(6)?;
                let unknown = || EntityRef {
                    id: String::new(),
                    kind: String::new(),
                    name: String::new(),
                };
                Ok(StoredEvent {
                    event: Event {
                        id: r.get(0)?,
                        time_ms: r.get(1)?,
                        event_type: r.get(2)?,
                        actor: json_or(&actor, unknown()),
                        targets: json_or(&targets, Vec::new()),
                        outcome: outcome.and_then(|o| serde_json::from_str(&o).ok()),
                        raw: json_or(&raw, serde_json::Value::Null),
                    },
                    run_id: r.get(7)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn alerts(&self, tenant_id: &str) -> Result<Vec<StoredAlert>, StoreError> {
        let id = tenant_id.to_string();
        self.call(move |conn| {
            let mut stmt = conn.prepare(
                "SELECT id, detection, severity, title, dedupe_key, entity, evidence, first_seen, last_seen, details, status
                 FROM alerts WHERE tenant_id = ?1 ORDER BY id",
            )?;
            let rows = stmt.query_map(params![id], |r| {
                let entity: String = r.get(5)?;
                let evidence: String = r.get(6)?;
                let details: String = r.get(9)?;
                Ok(StoredAlert {
                    id: r.get(0)?,
                    detection: r.get(1)?,
                    severity: word(r, 2, |w| w.parse().ok())?,
                    title: r.get(3)?,
                    dedupe_key: r.get(4)?,
                    entity: json_or(
                        &entity,
                        EntityRef {
                            id: String::new(),
                            kind: String::new(),
                            name: String::new(),
                        },
                    ),
                    evidence: json_or(&evidence, Vec::new()),
                    first_seen_ms: r.get(7)?,
                    last_seen_ms: r.get(8)?,
                    details: json_or(&details, serde_json::Value::Null),
                    status: word(r, 10, AlertStatus::parse)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(id: &str) -> Tenant {
        Tenant {
            id: id.into(),
            connector: "okta".into(),
            base_url: "https://acme.okta.com".into(),
            kris: vec![],
            extra: serde_json::json!({}),
            allow_insecure_local: false,
            quotas: BTreeMap::new(),
            created_at_ms: 0,
        }
    }

    fn sealed() -> SealedSecret {
        SealedSecret {
            nonce: vec![1; 24],
            ciphertext: vec![2; 40],
        }
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
        let store = SqliteStore::open(dir.path()).expect("open");
        super::super::conformance::run_all(&store).await;
    }

    #[tokio::test]
    async fn stale_running_rows_become_interrupted_on_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let store = SqliteStore::open(dir.path()).expect("open");
            store
                .add_tenant(&tenant("acme"), &sealed())
                .await
                .expect("add");
            let id = store.start_run(&start("acme")).await.expect("start");
            let reused = store.start_run(&start("acme")).await.expect("start");
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
        let store = SqliteStore::open(dir.path()).expect("migrate");
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
