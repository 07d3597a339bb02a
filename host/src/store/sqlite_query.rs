//! Runs a [`ReadQuery`] on the SQLite store, confined to one tenant's rows.
//!
//! Each query gets its own read-only connection to `kri.db`:
//! - TEMP views named like the tables in [`QUERY_TABLES`] shadow them, each showing
//!   only the tenant's rows (without the `tenant_id` column);
//! - an authorizer, installed once the views exist, allows reading those views and
//!   nothing else: no writes, `ATTACH`, `PRAGMA`, other tables (`secrets`, `state`,
//!   `tenants`) or the real tables under the views (`main.nodes`);
//! - a progress handler stops the query at its time limit, and rows stop at the row
//!   limit.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rusqlite::functions::FunctionFlags;
use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, ErrorCode, OpenFlags};

use crate::query::{
    json_contains, QueryError, QueryLimits, QueryRows, ReadQuery, JSON_CONTAINS_FN, QUERY_TABLES,
};

/// The texts of the last (container, contained) pair `@>` compared, and its answer.
type LastPair = (Vec<u8>, Vec<u8>, bool);

/// How many SQLite VM steps pass between two looks at the clock.
const PROGRESS_STEPS: i32 = 10_000;

/// Runs `query` over `tenant_id`'s rows in the database at `db`.
pub(crate) fn run_query(
    db: &Path,
    tenant_id: &str,
    query: &ReadQuery,
    limits: QueryLimits,
) -> Result<QueryRows, QueryError> {
    let failed = |e: rusqlite::Error| QueryError::Failed(e.to_string());
    let conn = Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(failed)?;
    conn.busy_timeout(limits.timeout).map_err(failed)?;
    create_tenant_views(&conn, tenant_id).map_err(failed)?;
    // Rows repeat the same JSON (every Okta node has the same labels) and the contained
    // side is usually a constant, so the last pair of texts and its answer are kept:
    // a repeated pair costs two comparisons instead of two JSON parses. Measured on
    // seed query 6 (bench figure 9).
    let last: Mutex<Option<LastPair>> = Mutex::new(None);
    conn.create_scalar_function(
        JSON_CONTAINS_FN,
        2,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        move |ctx| {
            let (a, b) = (ctx.get_raw(0), ctx.get_raw(1));
            let mut last = last.lock().unwrap_or_else(|p| p.into_inner());
            if let (ValueRef::Text(x), ValueRef::Text(y)) = (a, b) {
                if let Some((lx, ly, answer)) = last.as_ref() {
                    if lx.as_slice() == x && ly.as_slice() == y {
                        return Ok(Some(*answer));
                    }
                }
            }
            let answer = match (json_operand(a)?, json_operand(b)?) {
                (Some(container), Some(contained)) => json_contains(&container, &contained),
                _ => return Ok(None),
            };
            if let (ValueRef::Text(x), ValueRef::Text(y)) = (a, b) {
                *last = Some((x.to_vec(), y.to_vec(), answer));
            }
            Ok(Some(answer))
        },
    )
    .map_err(failed)?;

    let denied: Arc<Mutex<Option<String>>> = Arc::default();
    let seen = denied.clone();
    conn.authorizer(Some(move |ctx: AuthContext<'_>| {
        let verdict = authorize(&ctx);
        if let Err(what) = &verdict {
            let mut first = seen.lock().unwrap_or_else(|p| p.into_inner());
            first.get_or_insert_with(|| what.clone());
        }
        match verdict {
            Ok(()) => Authorization::Allow,
            Err(_) => Authorization::Deny,
        }
    }));
    let deadline = Instant::now() + limits.timeout;
    conn.progress_handler(PROGRESS_STEPS, Some(move || Instant::now() >= deadline));

    let timeout_ms = limits.timeout.as_millis() as u64;
    let classify = |e: rusqlite::Error| -> QueryError {
        if let Some(what) = denied.lock().unwrap_or_else(|p| p.into_inner()).take() {
            return QueryError::Denied(what);
        }
        match e.sqlite_error_code() {
            Some(ErrorCode::OperationInterrupted) => QueryError::Timeout(timeout_ms),
            _ => QueryError::Failed(e.to_string()),
        }
    };
    let mut stmt = conn.prepare(&query.to_sqlite()).map_err(classify)?;
    let columns: Vec<String> = stmt.column_names().iter().map(|c| c.to_string()).collect();
    let mut rows = stmt.query([]).map_err(classify)?;
    let mut out = QueryRows {
        columns,
        rows: Vec::new(),
        truncated: false,
    };
    while let Some(row) = rows.next().map_err(classify)? {
        if out.rows.len() == limits.max_rows {
            out.truncated = true;
            break;
        }
        let values = (0..out.columns.len())
            .map(|i| row.get_ref(i).map(json_value))
            .collect::<Result<Vec<_>, _>>()
            .map_err(classify)?;
        out.rows.push(values);
    }
    Ok(out)
}

/// An operand of `@>`/`<@` as JSON: NULL is none, text is parsed, numbers are numbers.
fn json_operand(v: ValueRef<'_>) -> rusqlite::Result<Option<serde_json::Value>> {
    match v {
        ValueRef::Null => Ok(None),
        ValueRef::Text(t) => serde_json::from_slice(t).map(Some).map_err(|e| {
            rusqlite::Error::UserFunctionError(
                format!("an operand of @> or <@ is not JSON: {e}").into(),
            )
        }),
        ValueRef::Integer(n) => Ok(Some(n.into())),
        ValueRef::Real(x) => Ok(Some(x.into())),
        ValueRef::Blob(_) => Err(rusqlite::Error::UserFunctionError(
            "an operand of @> or <@ is a blob, not JSON".into(),
        )),
    }
}

/// Creates a TEMP view per queryable table that exists, showing the tenant's rows.
fn create_tenant_views(conn: &Connection, tenant_id: &str) -> rusqlite::Result<()> {
    let tenant = tenant_id.replace('\'', "''");
    for table in QUERY_TABLES {
        // `table_xinfo`: generated columns (the events' normalized ones) included.
        let mut info = conn.prepare("SELECT name FROM pragma_table_xinfo(?1, 'main')")?;
        let columns: Vec<String> = info
            .query_map([table], |r| r.get::<_, String>(0))?
            .collect::<Result<_, _>>()?;
        if columns.is_empty() {
            continue;
        }
        let shown: Vec<String> = columns
            .iter()
            .filter(|c| c.as_str() != "tenant_id")
            .map(|c| format!("\"{c}\""))
            .collect();
        conn.execute_batch(&format!(
            "CREATE TEMP VIEW \"{table}\" AS SELECT {} FROM main.\"{table}\" WHERE tenant_id = '{tenant}'",
            shown.join(", ")
        ))?;
    }
    Ok(())
}

/// Allows what reading the tenant views needs; anything else is named in the error.
fn authorize(ctx: &AuthContext<'_>) -> Result<(), String> {
    let queryable = |name: &str| QUERY_TABLES.contains(&name);
    match ctx.action {
        AuthAction::Select | AuthAction::Recursive => Ok(()),
        AuthAction::Read { table_name, .. } => {
            let through_view = ctx.accessor.is_some_and(queryable);
            match ctx.database_name {
                // A CTE or subquery of the query itself.
                None => Ok(()),
                Some("temp") if queryable(table_name) => Ok(()),
                Some("main") if through_view && queryable(table_name) => Ok(()),
                Some(db) => Err(format!("read the table {db}.{table_name}")),
            }
        }
        AuthAction::Function { function_name } => {
            if function_name.eq_ignore_ascii_case("load_extension") {
                Err("load extensions".into())
            } else {
                Ok(())
            }
        }
        AuthAction::Pragma { pragma_name, .. } => Err(format!("run PRAGMA {pragma_name}")),
        AuthAction::Attach { .. } => Err("ATTACH a database".into()),
        AuthAction::Detach { .. } => Err("DETACH a database".into()),
        AuthAction::Insert { table_name } => Err(format!("insert into {table_name}")),
        AuthAction::Update { table_name, .. } => Err(format!("update {table_name}")),
        AuthAction::Delete { table_name } => Err(format!("delete from {table_name}")),
        other => Err(format!("do {other:?}")),
    }
}

/// One SQLite value as JSON (a blob as lowercase hex).
fn json_value(value: ValueRef<'_>) -> serde_json::Value {
    match value {
        ValueRef::Null => serde_json::Value::Null,
        ValueRef::Integer(n) => n.into(),
        ValueRef::Real(x) => serde_json::Number::from_f64(x)
            .map(serde_json::Value::Number)
            .unwrap_or(serde_json::Value::Null),
        ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned().into(),
        ValueRef::Blob(b) => hex::encode(b).into(),
    }
}
