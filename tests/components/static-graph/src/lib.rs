//! `static-graph`: a test connector whose job `inventory` emits, as graph nodes and
//! edges, exactly the graph given in its tenant's extra config, and reads nothing
//! upstream. End-to-end tests of the graph commands use it to fill a known graph
//! through the host, the way a real inventory job does. The extra config:
//!
//! ```json
//! {"graph": {
//!   "nodes": [{"id": "00u1", "kind": "user", "sub_kind": "", "name": "ann@acme.com",
//!              "labels": {"teleport.dev/origin": "okta"}, "properties": {}}],
//!   "edges": [{"from": "00u1", "to": "00g1", "kind": "member_of", "properties": {}}]
//! }}
//! ```
//!
//! `sub_kind`, `labels` and `properties` may be left out.

use kri_connector_sdk::manifest::{job, no_rate_limit_headers, token_auth};
use kri_connector_sdk::types::{ConnectorError as E, Edge, Manifest, Node, Output, OutputKind};
use kri_connector_sdk::types::{RunRequest, RunSummary};
use kri_connector_sdk::{export_connector, Connector, Host};
use serde_json::Value;

fn text(item: &Value, key: &str) -> String {
    item.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// A JSON object field as text (`{}` when absent).
fn object_text(item: &Value, key: &str) -> String {
    item.get(key)
        .filter(|v| v.is_object())
        .map_or_else(|| "{}".to_string(), Value::to_string)
}

fn node(item: &Value) -> Output {
    let labels = item
        .get("labels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default();
    Output::Node(Node {
        id: text(item, "id"),
        kind: text(item, "kind"),
        sub_kind: text(item, "sub_kind"),
        name: text(item, "name"),
        labels,
        properties: object_text(item, "properties"),
    })
}

fn edge(item: &Value) -> Output {
    Output::Edge(Edge {
        from: text(item, "from"),
        to: text(item, "to"),
        kind: text(item, "kind"),
        properties: object_text(item, "properties"),
    })
}

struct StaticGraph;

impl Connector for StaticGraph {
    fn describe() -> Manifest {
        Manifest {
            name: "static-graph".into(),
            version: "0.1.0".into(),
            description: "Emits the graph written in the tenant's extra config.".into(),
            kris: vec![],
            jobs: vec![job(
                "inventory",
                "The nodes and edges of extra.graph.",
                "PT30M",
                &[OutputKind::Node, OutputKind::Edge],
            )],
            auth: token_auth("Bearer {token}"),
            config_schema: "{}".into(),
            rate_limit: no_rate_limit_headers(),
        }
    }

    fn check(_host: &mut Host<'_>, _req: &RunRequest) -> Result<(), E> {
        Ok(())
    }

    fn run(host: &mut Host<'_>, req: &RunRequest) -> Result<RunSummary, E> {
        let extra: Value = serde_json::from_str(&req.extra_config)
            .map_err(|e| E::InvalidConfig(format!("extra config is not JSON: {e}")))?;
        let graph = &extra["graph"];
        let list = |key: &str| graph[key].as_array().cloned().unwrap_or_default();
        let (nodes, edges) = (list("nodes"), list("edges"));
        let batch: Vec<Output> = nodes
            .iter()
            .map(node)
            .chain(edges.iter().map(edge))
            .collect();
        let count = batch.len() as u64;
        host.output.emit(batch).map_err(E::HostLimit)?;
        Ok(RunSummary {
            items_read: count,
            items_skipped: 0,
            note: format!("{} nodes, {} edges", nodes.len(), edges.len()),
        })
    }
}

export_connector!(StaticGraph);
