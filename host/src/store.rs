//! The embedded store: SQLite (WAL) at `<data-dir>/kri.db`.
//!
//! Holds tenants, their sealed secrets, run history, KRI values (every run's, so the
//! latest and its change can be shown), KRI definitions and thresholds, and connector
//! state. A run's outputs and state changes are written in ONE transaction by
//! [`Store::finish_run_succeeded`]; a failed run only updates its own `runs` row, so
//! earlier values and state stay untouched. Schema changes are versioned migrations
//! keyed by SQLite's `user_version`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde::Serialize;

use crate::error::StoreError;
use crate::secrets::SealedSecret;

/// Ordered migrations; index + 1 is the schema version they bring the database to.
const MIGRATIONS: &[&str] = &[
    // 1: the first schema.
    r#"
    CREATE TABLE tenants (
        id TEXT PRIMARY KEY,
        connector TEXT NOT NULL,
        base_url TEXT NOT NULL,
        kris TEXT NOT NULL,             -- JSON array of slugs; [] = all
        extra TEXT NOT NULL,            -- JSON object
        allow_insecure_local INTEGER NOT NULL,
        quotas TEXT NOT NULL,           -- JSON object of quota overrides
        created_at INTEGER NOT NULL
    );
    CREATE TABLE secrets (
        tenant_id TEXT PRIMARY KEY REFERENCES tenants(id) ON DELETE CASCADE,
        nonce BLOB NOT NULL,
        ciphertext BLOB NOT NULL
    );
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        tenant_id TEXT NOT NULL,
        connector TEXT NOT NULL,
        kind TEXT NOT NULL,             -- run | check
        status TEXT NOT NULL,           -- running | succeeded | failed | interrupted
        error TEXT,
        pid INTEGER NOT NULL,
        started_at INTEGER NOT NULL,
        finished_at INTEGER,
        duration_ms INTEGER,
        requests INTEGER NOT NULL DEFAULT 0,
        responses_429 INTEGER NOT NULL DEFAULT 0,
        bytes INTEGER NOT NULL DEFAULT 0,
        rows_written INTEGER NOT NULL DEFAULT 0,
        rows_skipped INTEGER NOT NULL DEFAULT 0,
        note TEXT
    );
    CREATE INDEX runs_by_tenant ON runs(tenant_id, id);
    CREATE TABLE kri_definitions (
        tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        slug TEXT NOT NULL,
        name TEXT NOT NULL,
        unit TEXT NOT NULL,
        direction TEXT NOT NULL,        -- higher_is_better | lower_is_better
        warn REAL,
        breach REAL,
        PRIMARY KEY (tenant_id, slug)
    );
    CREATE TABLE kri_values (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        tenant_id TEXT NOT NULL,
        connector TEXT NOT NULL,
        slug TEXT NOT NULL,
        value REAL,
        numerator REAL,
        denominator REAL,
        status TEXT NOT NULL,           -- ok | warn | breach | not_evaluated
        details TEXT NOT NULL,          -- JSON object
        reason TEXT,
        run_id INTEGER NOT NULL REFERENCES runs(id),
        computed_at INTEGER NOT NULL
    );
    CREATE INDEX kri_values_latest ON kri_values(tenant_id, slug, run_id);
    CREATE TABLE state (
        tenant_id TEXT NOT NULL,
        connector TEXT NOT NULL,
        key TEXT NOT NULL,
        value BLOB NOT NULL,
        PRIMARY KEY (tenant_id, connector, key)
    );
    "#,
    // 2: the start time of the process running a run, so a reused pid is not taken
    // for the process that left the run unfinished.
    r#"
    ALTER TABLE runs ADD COLUMN pid_start INTEGER;
    "#,
];

/// A tenant as stored (its secret is kept apart, sealed).
#[derive(Debug, Clone, Serialize)]
pub struct Tenant {
    pub id: String,
    pub connector: String,
    pub base_url: String,
    pub kris: Vec<String>,
    pub extra: serde_json::Value,
    pub allow_insecure_local: bool,
    pub quotas: BTreeMap<String, u64>,
    pub created_at_ms: i64,
}

/// A KRI definition with this tenant's thresholds.
#[derive(Debug, Clone, Serialize)]
pub struct KriDefinitionRow {
    pub slug: String,
    pub name: String,
    pub unit: String,
    pub higher_is_better: bool,
    pub warn: Option<f64>,
    pub breach: Option<f64>,
}

/// One KRI output of a run, ready to store.
#[derive(Debug, Clone, Serialize)]
pub struct KriOutput {
    pub slug: String,
    pub value: Option<f64>,
    pub numerator: Option<f64>,
    pub denominator: Option<f64>,
    pub status: String,
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
    pub status: String,
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
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunStats {
    pub requests: u64,
    pub responses_429: u64,
    pub bytes: u64,
    pub rows_written: u64,
    pub rows_skipped: u64,
    pub note: Option<String>,
}

/// A row of run history.
#[derive(Debug, Clone, Serialize)]
pub struct RunRecord {
    pub id: i64,
    pub tenant_id: String,
    pub connector: String,
    pub kind: String,
    pub status: String,
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
}

/// State changes of one run: `Some` sets a key, `None` deletes it.
pub type StateChanges = BTreeMap<String, Option<Vec<u8>>>;

/// The store. One SQLite connection behind a mutex; every operation is short.
pub struct Store {
    conn: Mutex<Connection>,
    path: PathBuf,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Formats epoch milliseconds as RFC 3339 UTC (`2026-11-23T02:10:23.000Z`).
pub fn format_ms(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        sod / 3600,
        (sod % 3600) / 60,
        sod % 60
    )
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// A process's start time in clock ticks since boot (`/proc/PID/stat`, field 22), or
/// `None` where /proc cannot tell.
fn process_start(pid: i64) -> Option<i64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: fields after it
    // start behind the last `)`.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Whether the process that started a run still runs: same pid, same start time.
fn run_owner_alive(pid: i64, pid_start: Option<i64>) -> bool {
    if pid <= 0 {
        return false;
    }
    match (process_start(pid), pid_start) {
        (None, _) => false,
        (Some(now), Some(then)) => now == then,
        (Some(_), None) => true,
    }
}

impl Store {
    /// Opens (creating if needed) `<data_dir>/kri.db`, applies migrations, and marks
    /// runs left `running` by a process that no longer exists as `interrupted`.
    pub fn open(data_dir: &Path) -> Result<Store, StoreError> {
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
        let store = Store {
            conn: Mutex::new(conn),
            path,
        };
        store.migrate()?;
        store.mark_interrupted()?;
        Ok(store)
    }

    /// Opens an existing store; an error if `<data_dir>/kri.db` does not exist.
    pub fn open_existing(data_dir: &Path) -> Result<Store, StoreError> {
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

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent (transactions
        // roll back on drop), so a poisoned lock is safe to reuse.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn migrate(&self) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        let known = MIGRATIONS.len() as i64;
        if version > known {
            return Err(StoreError::SchemaTooNew {
                path: self.path.clone(),
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

    fn mark_interrupted(&self) -> Result<(), StoreError> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare("SELECT id, pid, pid_start FROM runs WHERE status = 'running'")?;
        let own = std::process::id() as i64;
        let stale: Vec<i64> = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, Option<i64>>(2)?,
                ))
            })?
            .filter_map(|r| r.ok())
            .filter(|(_, pid, start)| *pid != own && !run_owner_alive(*pid, *start))
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

    // ---- tenants -------------------------------------------------------------

    pub fn add_tenant(&self, tenant: &Tenant, secret: &SealedSecret) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let exists: bool = tx
            .query_row(
                "SELECT 1 FROM tenants WHERE id = ?1",
                params![tenant.id],
                |_| Ok(true),
            )
            .optional()?
            .unwrap_or(false);
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
                serde_json::to_string(&tenant.kris).unwrap_or_else(|_| "[]".into()),
                tenant.extra.to_string(),
                tenant.allow_insecure_local,
                serde_json::to_string(&tenant.quotas).unwrap_or_else(|_| "{}".into()),
                now_ms(),
            ],
        )?;
        tx.execute(
            "INSERT INTO secrets (tenant_id, nonce, ciphertext) VALUES (?1, ?2, ?3)",
            params![tenant.id, secret.nonce, secret.ciphertext],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn tenant_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Tenant> {
        let kris: String = r.get(3)?;
        let extra: String = r.get(4)?;
        let quotas: String = r.get(6)?;
        Ok(Tenant {
            id: r.get(0)?,
            connector: r.get(1)?,
            base_url: r.get(2)?,
            kris: serde_json::from_str(&kris).unwrap_or_default(),
            extra: serde_json::from_str(&extra)
                .unwrap_or(serde_json::Value::Object(Default::default())),
            allow_insecure_local: r.get(5)?,
            quotas: serde_json::from_str(&quotas).unwrap_or_default(),
            created_at_ms: r.get(7)?,
        })
    }

    pub fn tenant(&self, id: &str) -> Result<Tenant, StoreError> {
        self.conn()
            .query_row(
                "SELECT id, connector, base_url, kris, extra, allow_insecure_local, quotas, created_at FROM tenants WHERE id = ?1",
                params![id],
                Self::tenant_from_row,
            )
            .optional()?
            .ok_or_else(|| StoreError::UnknownTenant(id.to_string()))
    }

    pub fn tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id, connector, base_url, kris, extra, allow_insecure_local, quotas, created_at FROM tenants ORDER BY id",
        )?;
        let rows = stmt.query_map([], Self::tenant_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Removes a tenant with everything kept for it: secret, values, state, runs.
    pub fn remove_tenant(&self, id: &str) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let n = tx.execute("DELETE FROM tenants WHERE id = ?1", params![id])?;
        if n == 0 {
            return Err(StoreError::UnknownTenant(id.to_string()));
        }
        tx.execute("DELETE FROM kri_values WHERE tenant_id = ?1", params![id])?;
        tx.execute("DELETE FROM state WHERE tenant_id = ?1", params![id])?;
        tx.execute("DELETE FROM runs WHERE tenant_id = ?1", params![id])?;
        tx.commit()?;
        Ok(())
    }

    /// Replaces a tenant's extra config (validated by the caller).
    pub fn set_tenant_extra(&self, id: &str, extra: &serde_json::Value) -> Result<(), StoreError> {
        let n = self.conn().execute(
            "UPDATE tenants SET extra = ?2 WHERE id = ?1",
            params![id, extra.to_string()],
        )?;
        if n == 0 {
            return Err(StoreError::UnknownTenant(id.to_string()));
        }
        Ok(())
    }

    /// Replaces a tenant's quota overrides.
    pub fn set_tenant_quotas(
        &self,
        id: &str,
        quotas: &BTreeMap<String, u64>,
    ) -> Result<(), StoreError> {
        let quotas = serde_json::to_string(quotas)
            .map_err(|e| StoreError::Corrupt(format!("quota overrides: {e}")))?;
        let n = self.conn().execute(
            "UPDATE tenants SET quotas = ?2 WHERE id = ?1",
            params![id, quotas],
        )?;
        if n == 0 {
            return Err(StoreError::UnknownTenant(id.to_string()));
        }
        Ok(())
    }

    /// Replaces a tenant's sealed token.
    pub fn set_secret(&self, tenant_id: &str, secret: &SealedSecret) -> Result<(), StoreError> {
        let n = self.conn().execute(
            "UPDATE secrets SET nonce = ?2, ciphertext = ?3 WHERE tenant_id = ?1",
            params![tenant_id, secret.nonce, secret.ciphertext],
        )?;
        if n == 0 {
            return Err(StoreError::UnknownTenant(tenant_id.to_string()));
        }
        Ok(())
    }

    pub fn secret(&self, tenant_id: &str) -> Result<SealedSecret, StoreError> {
        self.conn()
            .query_row(
                "SELECT nonce, ciphertext FROM secrets WHERE tenant_id = ?1",
                params![tenant_id],
                |r| {
                    Ok(SealedSecret {
                        nonce: r.get(0)?,
                        ciphertext: r.get(1)?,
                    })
                },
            )
            .optional()?
            .ok_or_else(|| StoreError::UnknownTenant(tenant_id.to_string()))
    }

    // ---- KRI definitions -----------------------------------------------------

    /// Records the manifest's KRI definitions for a tenant. Thresholds already stored
    /// for a slug are kept (an operator may have tuned them); new slugs get the
    /// manifest's defaults.
    pub fn seed_definitions(
        &self,
        tenant_id: &str,
        defs: &[KriDefinitionRow],
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        for d in defs {
            tx.execute(
                "INSERT INTO kri_definitions (tenant_id, slug, name, unit, direction, warn, breach)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (tenant_id, slug) DO UPDATE SET name = excluded.name, unit = excluded.unit, direction = excluded.direction",
                params![
                    tenant_id,
                    d.slug,
                    d.name,
                    d.unit,
                    if d.higher_is_better { "higher_is_better" } else { "lower_is_better" },
                    d.warn,
                    d.breach
                ],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    pub fn definitions(&self, tenant_id: &str) -> Result<Vec<KriDefinitionRow>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT slug, name, unit, direction, warn, breach FROM kri_definitions WHERE tenant_id = ?1 ORDER BY slug",
        )?;
        let rows = stmt.query_map(params![tenant_id], |r| {
            Ok(KriDefinitionRow {
                slug: r.get(0)?,
                name: r.get(1)?,
                unit: r.get(2)?,
                higher_is_better: r.get::<_, String>(3)? == "higher_is_better",
                warn: r.get(4)?,
                breach: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    // ---- runs ----------------------------------------------------------------

    /// Records the start of a run; the row stays `running` until finished.
    pub fn start_run(
        &self,
        tenant_id: &str,
        connector: &str,
        kind: &str,
    ) -> Result<i64, StoreError> {
        let conn = self.conn();
        let pid = std::process::id() as i64;
        conn.execute(
            "INSERT INTO runs (tenant_id, connector, kind, status, pid, pid_start, started_at) VALUES (?1, ?2, ?3, 'running', ?4, ?5, ?6)",
            params![tenant_id, connector, kind, pid, process_start(pid), now_ms()],
        )?;
        Ok(conn.last_insert_rowid())
    }

    /// Commits a successful run: its KRI values, its state changes and its `runs`
    /// row, in one transaction. Either all of it lands or none.
    pub fn finish_run_succeeded(
        &self,
        run_id: i64,
        tenant_id: &str,
        connector: &str,
        outputs: &[KriOutput],
        state: &StateChanges,
        stats: &RunStats,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let now = now_ms();
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO kri_values (tenant_id, connector, slug, value, numerator, denominator, status, details, reason, run_id, computed_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?;
            for o in outputs {
                insert.execute(params![
                    tenant_id,
                    connector,
                    o.slug,
                    o.value,
                    o.numerator,
                    o.denominator,
                    o.status,
                    o.details.to_string(),
                    o.reason,
                    run_id,
                    now
                ])?;
            }
            let mut set = tx.prepare_cached(
                "INSERT INTO state (tenant_id, connector, key, value) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (tenant_id, connector, key) DO UPDATE SET value = excluded.value",
            )?;
            let mut del = tx.prepare_cached(
                "DELETE FROM state WHERE tenant_id = ?1 AND connector = ?2 AND key = ?3",
            )?;
            for (key, value) in state {
                match value {
                    Some(v) => set.execute(params![tenant_id, connector, key, v])?,
                    None => del.execute(params![tenant_id, connector, key])?,
                };
            }
        }
        let started: i64 = tx.query_row(
            "SELECT started_at FROM runs WHERE id = ?1",
            params![run_id],
            |r| r.get(0),
        )?;
        tx.execute(
            "UPDATE runs SET status = 'succeeded', finished_at = ?2, duration_ms = ?3, requests = ?4, responses_429 = ?5,
                 bytes = ?6, rows_written = ?7, rows_skipped = ?8, note = ?9 WHERE id = ?1",
            params![
                run_id,
                now,
                now - started,
                stats.requests as i64,
                stats.responses_429 as i64,
                stats.bytes as i64,
                stats.rows_written as i64,
                stats.rows_skipped as i64,
                stats.note
            ],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Records a failed run. Touches nothing but the run's own row.
    pub fn finish_run_failed(
        &self,
        run_id: i64,
        error: &str,
        stats: &RunStats,
    ) -> Result<(), StoreError> {
        let conn = self.conn();
        let now = now_ms();
        conn.execute(
            "UPDATE runs SET status = 'failed', error = ?2, finished_at = ?3, duration_ms = ?3 - started_at,
                 requests = ?4, responses_429 = ?5, bytes = ?6, rows_written = 0, rows_skipped = ?7, note = ?8 WHERE id = ?1",
            params![
                run_id,
                error,
                now,
                stats.requests as i64,
                stats.responses_429 as i64,
                stats.bytes as i64,
                stats.rows_skipped as i64,
                stats.note
            ],
        )?;
        Ok(())
    }

    pub fn runs(&self, tenant_id: &str, limit: usize) -> Result<Vec<RunRecord>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id, tenant_id, connector, kind, status, error, started_at, finished_at, duration_ms, requests,
                    responses_429, bytes, rows_written, rows_skipped, note
             FROM runs WHERE tenant_id = ?1 ORDER BY id DESC LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![tenant_id, limit as i64], |r| {
            Ok(RunRecord {
                id: r.get(0)?,
                tenant_id: r.get(1)?,
                connector: r.get(2)?,
                kind: r.get(3)?,
                status: r.get(4)?,
                error: r.get(5)?,
                started_at: format_ms(r.get(6)?),
                finished_at: r.get::<_, Option<i64>>(7)?.map(format_ms),
                duration_ms: r.get(8)?,
                requests: r.get::<_, i64>(9)? as u64,
                responses_429: r.get::<_, i64>(10)? as u64,
                bytes: r.get::<_, i64>(11)? as u64,
                rows_written: r.get::<_, i64>(12)? as u64,
                rows_skipped: r.get::<_, i64>(13)? as u64,
                note: r.get(14)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    // ---- KRI values ----------------------------------------------------------

    /// The latest value of each KRI of a tenant, with the previous value.
    pub fn latest_kris(&self, tenant_id: &str) -> Result<Vec<KriRow>, StoreError> {
        let conn = self.conn();
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
        let rows = stmt.query_map(params![tenant_id], |r| {
            let details: String = r.get(7)?;
            let value: Option<f64> = r.get(3)?;
            let previous: Option<f64> = r.get(13)?;
            Ok(KriRow {
                slug: r.get(0)?,
                name: r.get(1)?,
                unit: r.get(2)?,
                value,
                status: r.get(4)?,
                numerator: r.get(5)?,
                denominator: r.get(6)?,
                details: serde_json::from_str(&details).unwrap_or(serde_json::Value::Null),
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
    }

    // ---- connector state -----------------------------------------------------

    /// All committed state of a tenant's connector.
    pub fn load_state(
        &self,
        tenant_id: &str,
        connector: &str,
    ) -> Result<BTreeMap<String, Vec<u8>>, StoreError> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare("SELECT key, value FROM state WHERE tenant_id = ?1 AND connector = ?2")?;
        let rows = stmt.query_map(params![tenant_id, connector], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
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

    #[test]
    fn failed_run_leaves_values_and_state_untouched() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        store.add_tenant(&tenant("acme"), &sealed()).expect("add");
        let run1 = store.start_run("acme", "okta", "run").expect("start");
        let out = KriOutput {
            slug: "x".into(),
            value: Some(1.0),
            numerator: None,
            denominator: None,
            status: "ok".into(),
            details: serde_json::json!({}),
            reason: None,
        };
        let mut state = StateChanges::new();
        state.insert("cursor".into(), Some(b"1".to_vec()));
        store
            .finish_run_succeeded(
                run1,
                "acme",
                "okta",
                std::slice::from_ref(&out),
                &state,
                &RunStats::default(),
            )
            .expect("commit");
        let run2 = store.start_run("acme", "okta", "run").expect("start");
        store
            .finish_run_failed(run2, "boom", &RunStats::default())
            .expect("fail");
        let kris = store.latest_kris("acme").expect("kris");
        assert_eq!(kris.len(), 1);
        assert_eq!(kris[0].run_id, run1);
        assert_eq!(
            store
                .load_state("acme", "okta")
                .expect("state")
                .get("cursor"),
            Some(&b"1".to_vec())
        );
        let runs = store.runs("acme", 10).expect("runs");
        assert_eq!(runs[0].status, "failed");
        assert_eq!(runs[0].error.as_deref(), Some("boom"));
        assert_eq!(runs[1].status, "succeeded");
    }

    #[test]
    fn duplicate_and_unknown_tenants_are_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        store.add_tenant(&tenant("acme"), &sealed()).expect("add");
        assert!(matches!(
            store.add_tenant(&tenant("acme"), &sealed()),
            Err(StoreError::TenantExists(_))
        ));
        assert!(matches!(
            store.tenant("nope"),
            Err(StoreError::UnknownTenant(_))
        ));
        assert!(matches!(
            store.remove_tenant("nope"),
            Err(StoreError::UnknownTenant(_))
        ));
        store.remove_tenant("acme").expect("remove");
        assert!(store.tenants().expect("list").is_empty());
    }

    #[test]
    fn a_run_owner_is_alive_only_with_the_same_pid_and_start_time() {
        let me = std::process::id() as i64;
        let start = process_start(me);
        assert!(start.is_some(), "/proc tells this process's start time");
        let cases: &[(&str, i64, Option<i64>, bool)] = &[
            ("this process", me, start, true),
            (
                "this pid, recorded before start times were kept",
                me,
                None,
                true,
            ),
            (
                "this pid reused by a later process",
                me,
                start.map(|s| s - 1),
                false,
            ),
            ("a pid that does not exist", 999_999_999, start, false),
            ("no pid", 0, None, false),
        ];
        for (name, pid, recorded, want) in cases {
            assert_eq!(run_owner_alive(*pid, *recorded), *want, "{name}");
        }
    }

    #[test]
    fn stale_running_rows_become_interrupted_on_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let store = Store::open(dir.path()).expect("open");
            store.add_tenant(&tenant("acme"), &sealed()).expect("add");
            let id = store.start_run("acme", "okta", "run").expect("start");
            // Pretend another process owned it: one that is gone, and one whose pid
            // was reused.
            store
                .conn()
                .execute("UPDATE runs SET pid = 999999999 WHERE id = ?1", params![id])
                .expect("update");
            let reused = store.start_run("acme", "okta", "run").expect("start");
            store
                .conn()
                .execute(
                    "UPDATE runs SET pid = 1, pid_start = -1 WHERE id = ?1",
                    params![reused],
                )
                .expect("update");
        }
        let store = Store::open(dir.path()).expect("reopen");
        assert_eq!(
            store.runs("acme", 1).expect("runs")[0].status,
            "interrupted"
        );
    }
}
