//! Runs a [`ReadQuery`] on the PostgreSQL store natively, confined to one tenant.
//!
//! Each query runs in its own transaction, always rolled back:
//! - the query must pass [`ReadQuery::to_postgres`] (only the queryable tables,
//!   unqualified, or its own CTEs; no function that reaches outside them);
//! - TEMP views named like the tables in [`QUERY_TABLES`] show only the tenant's
//!   rows (without the `tenant_id` column), and `search_path` is `pg_temp`, so an
//!   unqualified name finds the view and never the real table;
//! - the query runs as the zero-privilege role [`QUERY_ROLE`] (migration 0015),
//!   granted SELECT on those views only: SQL past the table check still cannot read
//!   the secrets, another tenant's rows or any kri table. (A role switched with SET
//!   LOCAL ROLE can be switched back by `set_config('role', ...)`; the check's
//!   function deny-list is what refuses that call);
//! - then the transaction turns READ ONLY with a `statement_timeout` of the query's
//!   time limit, and rows stop at the row limit.
//!
//! `@>` runs as PostgreSQL's own JSONB containment (GIN indexes on labels serve
//! it). Columns come back as SQLite's would: JSON as its compact text, NUMERIC as a
//! double, booleans as themselves, anything else as PostgreSQL's text for it.

use deadpool_postgres::GenericClient;
use futures::StreamExt;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{FromSql, Type};

use crate::error::StoreError;
use crate::query::{QueryError, QueryLimits, QueryRows, ReadQuery, QUERY_TABLES};

/// The columns of each queryable table that a query sees (all but `tenant_id`), in
/// table order, read from the schema once when the store opens.
#[derive(Debug, Clone, Default)]
pub(crate) struct TenantViews {
    /// `(schema-qualified table, its shown columns)`.
    tables: Vec<(String, String, Vec<String>)>,
}

/// The role a query runs as (created by migration 0015): no login, no privilege
/// but SELECT on the query's own tenant views, granted inside its transaction.
pub(crate) const QUERY_ROLE: &str = "kri_query_reader";

/// Quotes an SQL identifier.
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Quotes an SQL string literal (the session has `standard_conforming_strings` on).
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

impl TenantViews {
    /// Reads the columns of the queryable tables in the current schema.
    pub(crate) async fn load(client: &impl GenericClient) -> Result<TenantViews, StoreError> {
        let schema: String = client
            .query_one("SELECT current_schema()", &[])
            .await?
            .get(0);
        let mut tables = Vec::new();
        for table in QUERY_TABLES {
            let columns: Vec<String> = client
                .query(
                    "SELECT column_name::TEXT FROM information_schema.columns
                     WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position",
                    &[&schema, table],
                )
                .await?
                .iter()
                .map(|r| r.get::<_, String>(0))
                .filter(|c| c != "tenant_id")
                .collect();
            if !columns.is_empty() {
                tables.push((schema.clone(), table.to_string(), columns));
            }
        }
        Ok(TenantViews { tables })
    }

    /// The statements that create the tenant's views.
    fn create_sql(&self, tenant_id: &str) -> String {
        self.tables
            .iter()
            .map(|(schema, table, columns)| {
                let shown: Vec<String> = columns.iter().map(|c| ident(c)).collect();
                format!(
                    "CREATE TEMP VIEW {} AS SELECT {} FROM {}.{} WHERE tenant_id = {};",
                    ident(table),
                    shown.join(", "),
                    ident(schema),
                    ident(table),
                    literal(tenant_id)
                )
            })
            .collect()
    }

    /// The statements that let [`QUERY_ROLE`] read the tenant's views, and nothing
    /// else.
    fn grant_sql(&self) -> String {
        self.tables
            .iter()
            .map(|(_, table, _)| {
                format!(
                    "GRANT SELECT ON pg_temp.{} TO {};",
                    ident(table),
                    ident(QUERY_ROLE)
                )
            })
            .collect()
    }
}

/// How a result column is read: natively, or after a cast in a wrapping query.
fn cast_for(ty: &Type) -> Option<&'static str> {
    const NATIVE: &[Type] = &[
        Type::BOOL,
        Type::INT2,
        Type::INT4,
        Type::INT8,
        Type::FLOAT4,
        Type::FLOAT8,
        Type::TEXT,
        Type::VARCHAR,
        Type::BPCHAR,
        Type::NAME,
        Type::JSON,
        Type::JSONB,
        Type::BYTEA,
    ];
    if NATIVE.contains(ty) {
        None
    } else if *ty == Type::NUMERIC {
        Some("FLOAT8")
    } else {
        Some("TEXT")
    }
}

/// One column value of a natively read type, as JSON (a blob as lowercase hex, JSON
/// as its compact text).
struct Cell(serde_json::Value);

impl<'a> FromSql<'a> for Cell {
    fn from_sql(
        ty: &Type,
        raw: &'a [u8],
    ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        use serde_json::Value;
        let number = |x: f64| {
            serde_json::Number::from_f64(x)
                .map(Value::Number)
                .unwrap_or(Value::Null)
        };
        Ok(Cell(match *ty {
            Type::BOOL => bool::from_sql(ty, raw)?.into(),
            Type::INT2 => i16::from_sql(ty, raw)?.into(),
            Type::INT4 => i32::from_sql(ty, raw)?.into(),
            Type::INT8 => i64::from_sql(ty, raw)?.into(),
            Type::FLOAT4 => number(f32::from_sql(ty, raw)? as f64),
            Type::FLOAT8 => number(f64::from_sql(ty, raw)?),
            Type::JSON | Type::JSONB => Value::from_sql(ty, raw)?.to_string().into(),
            Type::BYTEA => hex::encode(<&[u8]>::from_sql(ty, raw)?).into(),
            _ => String::from_sql(ty, raw)?.into(),
        }))
    }

    fn from_sql_null(_: &Type) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Cell(serde_json::Value::Null))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// Why PostgreSQL refused or stopped a query, in `kri query`'s terms.
fn classify(e: tokio_postgres::Error, timeout_ms: u64) -> QueryError {
    match e.code() {
        Some(c) if *c == SqlState::QUERY_CANCELED => QueryError::Timeout(timeout_ms),
        Some(c) if *c == SqlState::READ_ONLY_SQL_TRANSACTION => {
            QueryError::NotReadOnly("a write".into())
        }
        Some(c) if *c == SqlState::INSUFFICIENT_PRIVILEGE => QueryError::Denied(
            e.as_db_error()
                .map_or(e.to_string(), |d| d.message().into()),
        ),
        _ => QueryError::Failed(
            e.as_db_error()
                .map_or_else(|| e.to_string(), |d| d.message().to_string()),
        ),
    }
}

/// Runs `query` over `tenant_id`'s rows.
pub(crate) async fn run_query(
    client: &mut deadpool_postgres::Object,
    views: &TenantViews,
    tenant_id: &str,
    query: &ReadQuery,
    limits: QueryLimits,
) -> Result<QueryRows, StoreError> {
    let sql = query.to_postgres()?;
    run_confined(client, views, tenant_id, &sql, limits).await
}

/// Runs `sql` (already checked) over `tenant_id`'s views, as [`QUERY_ROLE`], in a
/// read-only transaction with a statement timeout, rolled back at the end.
pub(crate) async fn run_confined(
    client: &mut deadpool_postgres::Object,
    views: &TenantViews,
    tenant_id: &str,
    sql: &str,
    limits: QueryLimits,
) -> Result<QueryRows, StoreError> {
    let timeout_ms = limits.timeout.as_millis() as u64;
    let fail = |e| StoreError::Query(classify(e, timeout_ms));
    let tx = client.transaction().await?;
    tx.batch_execute(&format!(
        "SET LOCAL standard_conforming_strings = on; {}{} \
         SET LOCAL ROLE {}; \
         SET TRANSACTION READ ONLY; SET LOCAL search_path = pg_temp; \
         SET LOCAL statement_timeout = {};",
        views.create_sql(tenant_id),
        views.grant_sql(),
        ident(QUERY_ROLE),
        timeout_ms.max(1)
    ))
    .await?;
    let statement = tx.prepare(sql).await.map_err(fail)?;
    let columns: Vec<String> = statement
        .columns()
        .iter()
        .map(|c| c.name().to_string())
        .collect();
    let casts: Vec<Option<&str>> = statement
        .columns()
        .iter()
        .map(|c| cast_for(c.type_()))
        .collect();
    let statement = if casts.iter().any(Option::is_some) {
        // Columns renamed by position (names may repeat or be `?column?`), then cast.
        let names: Vec<String> = (0..casts.len()).map(|i| format!("c{i}")).collect();
        let select: Vec<String> = names
            .iter()
            .zip(&casts)
            .map(|(n, cast)| match cast {
                Some(t) => format!("{n}::{t}"),
                None => n.clone(),
            })
            .collect();
        tx.prepare(&format!(
            "SELECT {} FROM ({sql}) AS kri_query ({})",
            select.join(", "),
            names.join(", ")
        ))
        .await
        .map_err(fail)?
    } else {
        statement
    };
    // A portal hands over at most one row past the limit, so a huge result is never
    // sent whole.
    let portal = tx
        .bind_raw(&statement, std::iter::empty::<&str>())
        .await
        .map_err(fail)?;
    let wanted = i32::try_from(limits.max_rows.saturating_add(1)).unwrap_or(i32::MAX);
    // Owned (boxed), so that dropping it below ends the portal's stream before the
    // rollback.
    let mut stream = Box::pin(tx.query_portal_raw(&portal, wanted).await.map_err(fail)?);
    let mut out = QueryRows {
        columns,
        rows: Vec::new(),
        truncated: false,
    };
    while let Some(row) = stream.next().await {
        let row = row.map_err(fail)?;
        if out.rows.len() == limits.max_rows {
            out.truncated = true;
            break;
        }
        let values = (0..out.columns.len())
            .map(|i| row.try_get::<_, Cell>(i).map(|c| c.0))
            .collect::<Result<Vec<_>, _>>()
            .map_err(fail)?;
        out.rows.push(values);
    }
    drop(stream);
    tx.rollback().await?;
    Ok(out)
}
