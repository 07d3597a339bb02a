//! `kri query`: read-only SQL over a tenant's graph, events and alerts.
//!
//! A query is parsed in the PostgreSQL dialect (the SQL users bring from the product
//! kri replaces, and what a PostgreSQL backend would run natively) and accepted only
//! when it is exactly one read-only statement: `SELECT`, `WITH ... SELECT` or
//! `VALUES`. For SQLite the AST is rewritten, never the text:
//!
//! - JSONB containment `a @> b` becomes `kri_json_contains(a, b)` and `a <@ b`
//!   becomes `kri_json_contains(b, a)`; [`json_contains`] is PostgreSQL's semantics,
//!   registered on the query connection by the SQLite store.
//! - `x::type` becomes `CAST(x AS type)`, and a cast to `json`/`jsonb` is dropped
//!   (SQLite keeps JSON as text).
//!
//! The store runs the rewritten SQL on a read-only connection that sees only the
//! tenant's rows ([`QUERY_TABLES`]), bounded by [`QueryLimits`].
//!
//! PostgreSQL runs the query as written ([`ReadQuery::to_postgres`]), after a check
//! on the AST that it reads only the queryable tables (unqualified) or its own CTEs,
//! and calls no function that reaches outside them (server files, settings, SQL
//! run from a string, locks, sequences).

use std::ops::ControlFlow;
use std::time::Duration;

use serde::Serialize;
use std::collections::BTreeSet;

use sqlparser::ast::{
    BinaryOperator, CastKind, DataType, Expr, Function, FunctionArg, FunctionArgExpr,
    FunctionArgumentList, FunctionArguments, Ident, ObjectName, Query, SetExpr, Statement,
    TableFactor, Visit, VisitMut, Visitor, VisitorMut,
};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

/// The tables a query may read: views of the tenant's own rows.
pub const QUERY_TABLES: &[&str] = &["nodes", "edges", "events", "alerts", "access_path"];

/// The SQLite function that JSONB containment is rewritten into.
pub const JSON_CONTAINS_FN: &str = "kri_json_contains";

/// Why a query was refused or failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("cannot parse the query: {0}")]
    Parse(String),
    #[error("the query is empty; give one SELECT statement")]
    Empty,
    #[error("give exactly one statement (found {0}); run them one at a time")]
    MultipleStatements(usize),
    #[error("only read-only queries run here (SELECT, WITH ... SELECT, VALUES); {0} is refused")]
    NotReadOnly(String),
    #[error("the query may not {0}; it may read only the tables nodes, edges, events, alerts and access_path")]
    Denied(String),
    #[error("the query ran longer than {0} ms and was stopped; narrow it, or raise --timeout-ms")]
    Timeout(u64),
    #[error("the query failed: {0}")]
    Failed(String),
}

/// Bounds on one query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryLimits {
    pub timeout: Duration,
    pub max_rows: usize,
}

impl Default for QueryLimits {
    fn default() -> Self {
        QueryLimits {
            timeout: Duration::from_secs(10),
            max_rows: 10_000,
        }
    }
}

/// What a query returned: column names, rows (one JSON value per column), and
/// whether rows were left out at `max_rows`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueryRows {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<serde_json::Value>>,
    pub truncated: bool,
}

impl QueryRows {
    /// The rows as JSON objects keyed by column name, in column order.
    pub fn objects(&self) -> Vec<serde_json::Map<String, serde_json::Value>> {
        self.rows
            .iter()
            .map(|row| {
                self.columns
                    .iter()
                    .cloned()
                    .zip(row.iter().cloned())
                    .collect()
            })
            .collect()
    }
}

/// A query that passed the read-only check, as parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadQuery {
    statement: Statement,
}

impl ReadQuery {
    /// Parses `sql` (PostgreSQL dialect) and accepts it only if it is exactly one
    /// read-only statement.
    pub fn parse(sql: &str) -> Result<ReadQuery, QueryError> {
        let mut statements = Parser::parse_sql(&PostgreSqlDialect {}, sql)
            .map_err(|e| QueryError::Parse(e.to_string()))?;
        let statement = match statements.len() {
            0 => return Err(QueryError::Empty),
            1 => statements.remove(0),
            n => return Err(QueryError::MultipleStatements(n)),
        };
        let Statement::Query(query) = &statement else {
            return Err(QueryError::NotReadOnly(statement_kind(&statement)));
        };
        if let ControlFlow::Break(e) = Visit::visit(query.as_ref(), &mut ReadOnlyCheck) {
            return Err(e);
        }
        Ok(ReadQuery { statement })
    }

    /// The query as SQLite SQL: containment and `::` casts rewritten on the AST.
    pub fn to_sqlite(&self) -> String {
        let mut statement = self.statement.clone();
        // The rewriter never breaks.
        let _ = VisitMut::visit(&mut statement, &mut SqliteRewrite);
        statement.to_string()
    }

    /// The query as PostgreSQL SQL, once it is known to read only the queryable
    /// tables and its own CTEs and to call no function outside them; the refusal
    /// names what it tried.
    pub fn to_postgres(&self) -> Result<String, QueryError> {
        let mut ctes = CteNames::default();
        let _ = Visit::visit(&self.statement, &mut ctes);
        let mut check = PostgresConfinement { ctes: ctes.0 };
        if let ControlFlow::Break(e) = Visit::visit(&self.statement, &mut check) {
            return Err(e);
        }
        Ok(self.statement.to_string())
    }
}

/// Collects the names of every CTE of a query.
#[derive(Default)]
struct CteNames(BTreeSet<String>);

impl Visitor for CteNames {
    type Break = ();

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        if let Some(with) = &query.with {
            for cte in &with.cte_tables {
                self.0.insert(cte.alias.name.value.to_ascii_lowercase());
            }
        }
        ControlFlow::Continue(())
    }
}

/// Functions a PostgreSQL query may not call, by name (lowercase) or prefix: they
/// read server files or settings, run SQL given as a string, take locks, touch
/// sequences or large objects, reach other servers, or stall the server.
const DENIED_FUNCTIONS: &[&str] = &[
    "set_config",
    "current_setting",
    "nextval",
    "setval",
    "currval",
    "lastval",
    "load_extension",
    "dblink",
    "query_to_xml",
    "query_to_xmlschema",
    "query_to_xml_and_xmlschema",
    "cursor_to_xml",
    "cursor_to_xmlschema",
    "table_to_xml",
    "table_to_xmlschema",
    "table_to_xml_and_xmlschema",
    "schema_to_xml",
    "schema_to_xmlschema",
    "schema_to_xml_and_xmlschema",
    "database_to_xml",
    "database_to_xmlschema",
    "database_to_xml_and_xmlschema",
];
const DENIED_FUNCTION_PREFIXES: &[&str] = &["pg_", "lo_", "dblink_", "txid_"];
/// `pg_` functions that only describe a value.
const ALLOWED_PG_FUNCTIONS: &[&str] = &["pg_typeof"];

fn function_denied(name: &ObjectName) -> Option<String> {
    let text = name.to_string().to_ascii_lowercase();
    let last = text.rsplit('.').next().unwrap_or(&text).trim_matches('"');
    let denied = DENIED_FUNCTIONS.contains(&last)
        || (DENIED_FUNCTION_PREFIXES.iter().any(|p| last.starts_with(p))
            && !ALLOWED_PG_FUNCTIONS.contains(&last));
    denied.then(|| format!("call the function {text}"))
}

/// Refuses tables other than the queryable ones (or the query's CTEs), any
/// schema-qualified table, and the [`DENIED_FUNCTIONS`].
struct PostgresConfinement {
    ctes: BTreeSet<String>,
}

impl PostgresConfinement {
    fn table(&self, name: &ObjectName) -> ControlFlow<QueryError> {
        let parts = &name.0;
        let single = match parts.as_slice() {
            [one] => one.as_ident().map(|i| i.value.to_ascii_lowercase()),
            _ => None,
        };
        match single {
            Some(t) if QUERY_TABLES.contains(&t.as_str()) || self.ctes.contains(&t) => {
                ControlFlow::Continue(())
            }
            _ => ControlFlow::Break(QueryError::Denied(format!("read the table {name}"))),
        }
    }
}

impl Visitor for PostgresConfinement {
    type Break = QueryError;

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<QueryError> {
        // `TABLE name` reads a whole table.
        if let SetExpr::Table(t) = query.body.as_ref() {
            let parts: Vec<Ident> = t.schema_name.iter().chain(&t.table_name).cloned().collect();
            return self.table(&ObjectName::from(parts));
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<QueryError> {
        match factor {
            TableFactor::Table {
                name,
                args: Some(_),
                ..
            }
            | TableFactor::Function { name, .. } => match function_denied(name) {
                Some(what) => ControlFlow::Break(QueryError::Denied(what)),
                None => ControlFlow::Continue(()),
            },
            TableFactor::Table { name, .. } => self.table(name),
            _ => ControlFlow::Continue(()),
        }
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<QueryError> {
        if let Expr::Function(f) = expr {
            if let Some(what) = function_denied(&f.name) {
                return ControlFlow::Break(QueryError::Denied(what));
            }
        }
        ControlFlow::Continue(())
    }
}

/// The first words of a statement, to name it in a refusal.
fn statement_kind(statement: &Statement) -> String {
    let text = statement.to_string();
    let words: Vec<&str> = text.split_whitespace().take(2).collect();
    let kind = match words.as_slice() {
        [first, second]
            if ["CREATE", "DROP", "ALTER"].contains(&first.to_ascii_uppercase().as_str()) =>
        {
            format!("{first} {second}")
        }
        [first, ..] => first.to_string(),
        [] => "this statement".to_string(),
    };
    kind.to_ascii_uppercase()
}

/// Refuses anything inside a query that writes: data-modifying CTEs and
/// `SELECT ... INTO`.
struct ReadOnlyCheck;

impl Visitor for ReadOnlyCheck {
    type Break = QueryError;

    fn pre_visit_statement(&mut self, statement: &Statement) -> ControlFlow<QueryError> {
        match statement {
            Statement::Query(_) => ControlFlow::Continue(()),
            other => ControlFlow::Break(QueryError::NotReadOnly(statement_kind(other))),
        }
    }

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<QueryError> {
        if selects_into(&query.body) {
            return ControlFlow::Break(QueryError::NotReadOnly("SELECT ... INTO".into()));
        }
        ControlFlow::Continue(())
    }
}

fn selects_into(body: &SetExpr) -> bool {
    match body {
        SetExpr::Select(select) => select.into.is_some(),
        SetExpr::SetOperation { left, right, .. } => selects_into(left) || selects_into(right),
        _ => false,
    }
}

/// Rewrites PostgreSQL-only expressions into what SQLite understands.
struct SqliteRewrite;

impl VisitorMut for SqliteRewrite {
    type Break = ();

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        let placeholder = || Expr::Value(sqlparser::ast::Value::Null.into());
        match expr {
            Expr::BinaryOp { left, op, right }
                if matches!(op, BinaryOperator::AtArrow | BinaryOperator::ArrowAt) =>
            {
                let (container, contained) = if *op == BinaryOperator::AtArrow {
                    (left, right)
                } else {
                    (right, left)
                };
                let container = std::mem::replace(container.as_mut(), placeholder());
                let contained = std::mem::replace(contained.as_mut(), placeholder());
                *expr = call(JSON_CONTAINS_FN, vec![container, contained]);
            }
            Expr::Cast {
                data_type: DataType::JSON | DataType::JSONB,
                expr: inner,
                ..
            } => {
                *expr = std::mem::replace(inner.as_mut(), placeholder());
            }
            Expr::Cast { kind, .. } if *kind == CastKind::DoubleColon => {
                *kind = CastKind::Cast;
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

/// `name(args...)` as an expression.
fn call(name: &str, args: Vec<Expr>) -> Expr {
    Expr::Function(Function {
        name: ObjectName::from(vec![Ident::new(name)]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: args
                .into_iter()
                .map(|e| FunctionArg::Unnamed(FunctionArgExpr::Expr(e)))
                .collect(),
            clauses: Vec::new(),
        }),
        within_group: Vec::new(),
        filter: None,
        null_treatment: None,
        over: None,
    })
}

/// PostgreSQL's JSONB containment: does `container` contain `contained`?
///
/// Objects contain an object whose every key they have with a containing value;
/// arrays contain an array whose every element some element of theirs contains
/// (order and duplicates do not matter); scalars contain an equal scalar. At the top
/// level only, an array also contains a scalar that is one of its elements.
pub fn json_contains(container: &serde_json::Value, contained: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (container, contained) {
        (Value::Array(items), scalar) if !scalar.is_array() && !scalar.is_object() => items
            .iter()
            .any(|item| deep_contains(item, scalar) && !item.is_array() && !item.is_object()),
        _ => deep_contains(container, contained),
    }
}

fn deep_contains(container: &serde_json::Value, contained: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (container, contained) {
        (Value::Object(have), Value::Object(want)) => want.iter().all(|(key, wanted)| {
            have.get(key)
                .is_some_and(|value| deep_contains(value, wanted))
        }),
        (Value::Array(have), Value::Array(want)) => want.iter().all(|wanted| {
            have.iter().any(|value| match wanted {
                Value::Array(_) | Value::Object(_) => deep_contains(value, wanted),
                scalar => scalar_eq(value, scalar),
            })
        }),
        (a, b) => scalar_eq(a, b),
    }
}

/// Scalar equality, with numbers compared by value (`1` equals `1.0`).
fn scalar_eq(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x == y || x.as_f64() == y.as_f64(),
        (Value::Array(_) | Value::Object(_), _) | (_, Value::Array(_) | Value::Object(_)) => false,
        (x, y) => x == y,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rewrites_containment_and_casts_on_the_ast() {
        let cases: &[(&str, &str)] = &[
            (
                r#"SELECT * FROM nodes WHERE labels @> '{"teleport.dev/origin": "okta"}'"#,
                r#"SELECT * FROM nodes WHERE kri_json_contains(labels, '{"teleport.dev/origin": "okta"}')"#,
            ),
            (
                r#"SELECT * FROM nodes WHERE '{"a": 1}' <@ labels"#,
                r#"SELECT * FROM nodes WHERE kri_json_contains(labels, '{"a": 1}')"#,
            ),
            (
                r#"SELECT id FROM nodes WHERE labels @> '{"a": "b"}'::jsonb AND kind = 'user'"#,
                r#"SELECT id FROM nodes WHERE kri_json_contains(labels, '{"a": "b"}') AND kind = 'user'"#,
            ),
            (
                "SELECT count(*)::text FROM edges",
                "SELECT CAST(count(*) AS TEXT) FROM edges",
            ),
            (
                r#"WITH u AS (SELECT * FROM nodes WHERE properties @> '{"status": "ACTIVE"}') SELECT name FROM u WHERE NOT labels @> '{"x": "y"}'"#,
                r#"WITH u AS (SELECT * FROM nodes WHERE kri_json_contains(properties, '{"status": "ACTIVE"}')) SELECT name FROM u WHERE NOT kri_json_contains(labels, '{"x": "y"}')"#,
            ),
            ("VALUES (1, 'a')", "VALUES (1, 'a')"),
            // A string that merely contains the operator is left alone.
            (
                "SELECT '@>' AS op FROM nodes",
                "SELECT '@>' AS op FROM nodes",
            ),
        ];
        for (sql, want) in cases {
            let q = ReadQuery::parse(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
            assert_eq!(q.to_sqlite(), *want, "case {sql}");
        }
    }

    #[test]
    fn the_seed_queries_of_issue_9_parse_and_rewrite() {
        for sql in SEED_QUERIES {
            let q = ReadQuery::parse(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
            let out = q.to_sqlite();
            assert!(!out.contains("@>"), "{out}");
        }
    }

    /// The six queries of issue 9, verbatim.
    pub(crate) const SEED_QUERIES: &[&str] = &[
        r#"SELECT * FROM nodes WHERE labels @> '{"teleport.dev/origin": "okta"}';"#,
        r#"SELECT * FROM nodes WHERE labels @> '{"okta/org": "https://your-org.okta.com"}';"#,
        "SELECT * FROM access_path WHERE identity = 'user' AND kind = 'ALLOWED';",
        r#"SELECT * FROM access_path WHERE resource = 'app-name' AND resource_labels @> '{"teleport.dev/origin": "okta"}';"#,
        r#"SELECT * FROM access_path WHERE resource = 'group-name' AND resource_labels @> '{"teleport.dev/origin": "okta"}';"#,
        r#"SELECT * FROM access_path WHERE standing_privileges >= 1 AND resource_labels @> '{"teleport.dev/origin": "okta"}';"#,
    ];

    #[test]
    fn every_query_in_the_graph_docs_is_accepted() {
        let doc = include_str!("../../docs/graph.md");
        let mut found = 0;
        for block in doc.split("```sql").skip(1) {
            let block = block.split("```").next().unwrap_or_default();
            for sql in block.split(';').filter(|s| !s.trim().is_empty()) {
                let sql: String = sql
                    .lines()
                    .filter(|l| !l.trim_start().starts_with("--"))
                    .collect::<Vec<_>>()
                    .join("\n");
                if sql.trim().is_empty() {
                    continue;
                }
                ReadQuery::parse(&sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
                found += 1;
            }
        }
        assert!(found >= 18, "only {found} queries found in docs/graph.md");
    }

    #[test]
    fn refuses_everything_but_one_read_only_query() {
        /// Whether a refusal is the expected one.
        type Expect = fn(&QueryError) -> bool;
        let cases: &[(&str, Expect)] = &[
            (
                "INSERT INTO nodes VALUES (1)",
                |e| matches!(e, QueryError::NotReadOnly(k) if k == "INSERT"),
            ),
            (
                "UPDATE alerts SET status = 'resolved'",
                |e| matches!(e, QueryError::NotReadOnly(k) if k == "UPDATE"),
            ),
            (
                "DELETE FROM events",
                |e| matches!(e, QueryError::NotReadOnly(k) if k == "DELETE"),
            ),
            (
                "DROP TABLE secrets",
                |e| matches!(e, QueryError::NotReadOnly(k) if k == "DROP TABLE"),
            ),
            (
                "CREATE TABLE x (a int)",
                |e| matches!(e, QueryError::NotReadOnly(k) if k == "CREATE TABLE"),
            ),
            ("ATTACH DATABASE 'x.db' AS x", |e| {
                matches!(e, QueryError::NotReadOnly(_) | QueryError::Parse(_))
            }),
            ("PRAGMA query_only = 0", |e| {
                matches!(e, QueryError::NotReadOnly(_) | QueryError::Parse(_))
            }),
            ("SELECT 1; SELECT 2", |e| {
                matches!(e, QueryError::MultipleStatements(2))
            }),
            ("SELECT 1; DELETE FROM nodes", |e| {
                matches!(e, QueryError::MultipleStatements(2))
            }),
            (
                "WITH gone AS (DELETE FROM nodes RETURNING *) SELECT * FROM gone",
                |e| matches!(e, QueryError::NotReadOnly(k) if k == "DELETE"),
            ),
            (
                "SELECT * INTO copy FROM nodes",
                |e| matches!(e, QueryError::NotReadOnly(k) if k == "SELECT ... INTO"),
            ),
            ("", |e| matches!(e, QueryError::Empty)),
            ("SELEC * FROM nodes", |e| matches!(e, QueryError::Parse(_))),
        ];
        for (sql, ok) in cases {
            match ReadQuery::parse(sql) {
                Ok(q) => panic!("{sql} was accepted as {}", q.to_sqlite()),
                Err(e) => assert!(ok(&e), "{sql}: unexpected error {e:?}"),
            }
        }
    }

    #[test]
    fn postgres_queries_read_only_the_queryable_tables_and_safe_functions() {
        let accepted = [
            "SELECT * FROM nodes",
            "SELECT n.name FROM nodes n JOIN edges e ON e.from_id = n.id",
            "WITH admins AS (SELECT * FROM access_path WHERE action_type = 'admin_role') SELECT identity FROM admins",
            "SELECT count(*), lower(name), pg_typeof(name) FROM nodes GROUP BY name",
            "SELECT * FROM generate_series(1, 3)",
            "SELECT id FROM nodes WHERE labels @> '{\"a\": \"b\"}'::jsonb",
        ];
        for sql in accepted {
            let q = ReadQuery::parse(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
            assert!(q.to_postgres().is_ok(), "{sql}: {:?}", q.to_postgres());
        }
        let refused = [
            ("SELECT * FROM secrets", "secrets"),
            ("SELECT * FROM public.nodes", "public.nodes"),
            ("SELECT * FROM pg_catalog.pg_authid", "pg_authid"),
            (
                "SELECT * FROM nodes WHERE id IN (SELECT tenant_id FROM runs)",
                "runs",
            ),
            ("SELECT * FROM (TABLE tenants) AS t", "tenants"),
            ("SELECT pg_read_file('/etc/passwd')", "pg_read_file"),
            (
                "SELECT query_to_xml('select * from secrets', true, true, '')",
                "query_to_xml",
            ),
            (
                "SELECT set_config('statement_timeout', '0', true)",
                "set_config",
            ),
            ("SELECT * FROM pg_ls_dir('.')", "pg_ls_dir"),
            ("SELECT pg_sleep(100)", "pg_sleep"),
            ("SELECT nextval('runs_id_seq')", "nextval"),
        ];
        for (sql, named) in refused {
            let q = ReadQuery::parse(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
            match q.to_postgres() {
                Err(QueryError::Denied(what)) => assert!(what.contains(named), "{sql}: {what}"),
                other => panic!("{sql} must be refused: {other:?}"),
            }
        }
    }

    #[test]
    fn containment_follows_postgresql() {
        let cases = [
            (json!({"a": "x", "b": "y"}), json!({"a": "x"}), true),
            (json!({"a": "x"}), json!({"a": "x", "b": "y"}), false),
            (json!({"a": "x"}), json!({"a": "z"}), false),
            (json!({"a": {"b": 1, "c": 2}}), json!({"a": {"b": 1}}), true),
            (json!({}), json!({}), true),
            (json!({"a": 1}), json!({}), true),
            (json!([1, 2, 3]), json!([3, 1]), true),
            (json!([1, 2, 3]), json!([1, 1]), true),
            (json!([1, 2]), json!([4]), false),
            (json!([1, [2, 3]]), json!([[3]]), true),
            (json!([{"a": 1, "b": 2}]), json!([{"a": 1}]), true),
            (json!(["foo", "bar"]), json!("foo"), true),
            (json!(["foo", "bar"]), json!("baz"), false),
            (json!({"a": ["x"]}), json!({"a": "x"}), false),
            (json!("foo"), json!(["foo"]), false),
            (json!(1), json!(1.0), true),
            (json!("1"), json!(1), false),
            (json!(null), json!(null), true),
            (json!({"a": [1, 2]}), json!({"a": [2]}), true),
        ];
        for (a, b, want) in cases {
            assert_eq!(json_contains(&a, &b), want, "{a} @> {b}");
        }
    }
}
