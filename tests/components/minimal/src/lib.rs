//! `minimal`: the smallest real connector, to show what the SDK leaves to write. It
//! reads `GET /items` (a JSON array, paginated with `Link: rel="next"`); job `kris`
//! emits the item count and its own run count as KRIs, job `inventory` one node per
//! item. Each job counts its runs in its own state.

use kri_connector_sdk::manifest::{job, kri, no_rate_limit_headers, token_auth};
use kri_connector_sdk::types::{ConnectorError as E, Direction, Manifest, OutputKind};
use kri_connector_sdk::types::{RunRequest, RunSummary};
use kri_connector_sdk::{export_connector, outputs, pages, Connector, Host};
use serde_json::{json, Value};

/// This job's run count, this run included (kept in the job's own state).
fn count_run(host: &mut Host<'_>) -> Result<u64, E> {
    let old = host
        .state
        .get("runs")
        .and_then(|v| String::from_utf8(v).ok());
    let runs = old.and_then(|s| s.parse::<u64>().ok()).unwrap_or(0) + 1;
    let saved = host.state.set("runs", runs.to_string().as_bytes());
    saved.map(|()| runs).map_err(E::HostLimit)
}

fn text<'a>(item: &'a Value, key: &str) -> &'a str {
    item.get(key).and_then(Value::as_str).unwrap_or_default()
}

struct Minimal;

impl Connector for Minimal {
    fn describe() -> Manifest {
        let count = |slug: &str| kri(slug, slug, "count", Direction::LowerIsBetter);
        Manifest {
            name: "minimal".into(),
            version: "0.1.0".into(),
            description: "Counts the items of GET /items; lists them as graph nodes.".into(),
            kris: vec![count("minimal_items"), count("minimal_runs")],
            jobs: vec![
                job(
                    "inventory",
                    "One node per item.",
                    "PT1H",
                    &[OutputKind::Node],
                ),
                job("kris", "The item count.", "P1D", &[OutputKind::Kri]),
            ],
            auth: token_auth("Bearer {token}"),
            config_schema: "{}".into(),
            rate_limit: no_rate_limit_headers(),
        }
    }

    fn check(host: &mut Host<'_>, _req: &RunRequest) -> Result<(), E> {
        pages::json_list(host.http, "/items").map(|_| ())
    }

    fn run(host: &mut Host<'_>, req: &RunRequest) -> Result<RunSummary, E> {
        let items = pages::json_list(host.http, "/items")?;
        let runs = count_run(host)?;
        let batch = match req.job.as_str() {
            "kris" => vec![
                outputs::kri("minimal_items", items.len() as f64),
                outputs::kri("minimal_runs", runs as f64),
            ],
            _ => (items.iter())
                .map(|i| {
                    outputs::node(text(i, "id"), "item", text(i, "name"), json!({"run": runs}))
                })
                .collect(),
        };
        host.output.emit(batch).map_err(E::HostLimit)?;
        let note = format!("{} run {runs}", req.job);
        Ok(RunSummary {
            items_read: items.len() as u64,
            items_skipped: 0,
            note,
        })
    }
}

export_connector!(Minimal);
