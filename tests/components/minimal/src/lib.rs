//! `minimal`: the smallest real connector, to show what the SDK leaves to write. It
//! reads `GET /items` (a JSON array, paginated with `Link: rel="next"`); job `kris`
//! emits the item count and its own run count as KRIs, job `inventory` one node per
//! item. Each job counts its runs in its own state.

use kri_connector_sdk::http::{Method, Request};
use kri_connector_sdk::manifest::{job, no_rate_limit_headers, token_auth};
use kri_connector_sdk::types::{ConnectorError as E, Direction, KriDefinition, KriValue};
use kri_connector_sdk::types::{Manifest, Node, Output, OutputKind, RunRequest, RunSummary};
use kri_connector_sdk::{export_connector, link, Connector, Host};
use serde_json::Value;

fn kri(slug: &str) -> KriDefinition {
    let (name, unit) = (slug.replace('_', " "), "count".to_string());
    let (description, direction) = (name.clone(), Direction::LowerIsBetter);
    let (slug, warn_threshold, breach_threshold) = (slug.to_string(), None, None);
    KriDefinition {
        slug,
        name,
        description,
        unit,
        direction,
        warn_threshold,
        breach_threshold,
    }
}

fn items(host: &mut Host<'_>) -> Result<Vec<Value>, E> {
    let (mut all, mut next) = (Vec::new(), Some("/items".to_string()));
    while let Some(url) = next {
        let req = Request {
            method: Method::Get,
            url,
            headers: vec![],
            body: None,
        };
        let resp = host
            .http
            .send(req)
            .map_err(|e| E::Upstream(format!("{e:?}")))?;
        if resp.status != 200 {
            return Err(E::Upstream(format!("GET /items answered {}", resp.status)));
        }
        let page: Vec<Value> =
            serde_json::from_slice(&resp.body).map_err(|e| E::MalformedResponse(e.to_string()))?;
        all.extend(page);
        next = link::next_link(&resp.headers);
    }
    Ok(all)
}

/// This job's run count, this run included (kept in the job's own state).
fn count_run(host: &mut Host<'_>) -> Result<u64, E> {
    let old = host
        .state
        .get("runs")
        .and_then(|v| String::from_utf8(v).ok());
    let runs = old.and_then(|s| s.parse::<u64>().ok()).unwrap_or(0) + 1;
    host.state
        .set("runs", runs.to_string().as_bytes())
        .map_err(E::HostLimit)?;
    Ok(runs)
}

fn kri_value(slug: &str, value: usize) -> Output {
    let (slug, value, details) = (slug.to_string(), Some(value as f64), "{}".to_string());
    let (numerator, denominator, not_evaluated_reason) = (None, None, None);
    Output::Kri(KriValue {
        slug,
        value,
        numerator,
        denominator,
        details,
        not_evaluated_reason,
    })
}

fn node(item: &Value, runs: u64) -> Output {
    let field = |k: &str| {
        item.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let (id, name, kind, sub_kind) = (field("id"), field("name"), "item".into(), String::new());
    let properties = serde_json::json!({ "inventory_run": runs }).to_string();
    Output::Node(Node {
        id,
        kind,
        sub_kind,
        name,
        labels: vec![],
        properties,
    })
}

struct Minimal;

impl Connector for Minimal {
    fn describe() -> Manifest {
        Manifest {
            name: "minimal".into(),
            version: "0.1.0".into(),
            description: "Counts the items of GET /items; lists them as graph nodes.".into(),
            kris: vec![kri("minimal_items"), kri("minimal_runs")],
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
        items(host).map(|_| ())
    }

    fn run(host: &mut Host<'_>, req: &RunRequest) -> Result<RunSummary, E> {
        let (items, runs) = (items(host)?, count_run(host)?);
        let outputs = match req.job.as_str() {
            "kris" => vec![
                kri_value("minimal_items", items.len()),
                kri_value("minimal_runs", runs as usize),
            ],
            _ => items.iter().map(|i| node(i, runs)).collect(),
        };
        host.output.emit(outputs).map_err(E::HostLimit)?;
        let (items_read, note) = (items.len() as u64, format!("{} run {runs}", req.job));
        Ok(RunSummary {
            items_read,
            items_skipped: 0,
            note,
        })
    }
}

export_connector!(Minimal);
