//! `kri:connector@0.2.0` (`wit/0.2.0/`): its bindings, its imports over the sandbox,
//! and the conversions into the host's types. The shapes match `model.rs` field for
//! field; JSON carried as text becomes `serde_json::Value` here, and an output whose
//! JSON does not parse is refused to the guest. The `stored-events` import (added to
//! 0.2.0 later; older 0.2.0 components simply do not import it) hands stored events
//! back with their raw JSON as the stored text.

use std::collections::BTreeMap;

use wasmtime::component::{HasSelf, Linker};
use wasmtime::Store;

use kri_policy::pacing::{BucketScheme, ConcurrencySignal, RateLimitProfile, ResetFormat};

use super::{config_schema, JobSpec, KriDefinition, KRIS_JOB};
use crate::error::PluginError;
use crate::gateway::{InboundResponse, OutboundRequest};
use crate::model::{
    Alert, Direction, Edge, EdgeKey, EntityRef, Event, EventOutcome, GraphChanges, GraphCoverage,
    KriValue, Node, Output, OutputKind, Severity,
};
use crate::sandbox::{GuestHttpError, SandboxState};
use crate::store::{PagedEvent, StreamCoverage, StreamPoll};

wasmtime::component::bindgen!({
    path: "../wit/0.2.0",
    world: "connector",
    imports: { default: async | trappable },
    exports: { default: async },
});

use kri::connector::{graph, http, log, output, peer_state, state, stored_events, types};

same_in_every_version!();

pub const VERSION: &str = "0.2.0";

pub fn add_to_linker(linker: &mut Linker<SandboxState>) -> anyhow::Result<()> {
    Connector::add_to_linker::<SandboxState, HasSelf<SandboxState>>(linker, |s| s)
        .map_err(anyhow::Error::from)
}

fn output_kind(k: types::OutputKind) -> OutputKind {
    match k {
        types::OutputKind::Kri => OutputKind::Kri,
        types::OutputKind::Node => OutputKind::Node,
        types::OutputKind::Edge => OutputKind::Edge,
        types::OutputKind::Event => OutputKind::Event,
        types::OutputKind::Alert => OutputKind::Alert,
    }
}

fn rate_limit(p: types::RateLimitProfile) -> RateLimitProfile {
    RateLimitProfile {
        limit_header: p.limit_header,
        remaining_header: p.remaining_header,
        reset_header: p.reset_header,
        reset_format: match p.reset_format {
            types::ResetFormat::EpochSeconds => ResetFormat::EpochSeconds,
            types::ResetFormat::DeltaSeconds => ResetFormat::DeltaSeconds,
        },
        buckets: match p.buckets {
            types::BucketScheme::PerOrigin => BucketScheme::PerOrigin,
            types::BucketScheme::PerEndpoint(fixed_words) => {
                BucketScheme::PerEndpoint { fixed_words }
            }
        },
        concurrency: match p.concurrency {
            types::ConcurrencySignal::None => ConcurrencySignal::None,
            types::ConcurrencySignal::LimitAndRemainingZero => {
                ConcurrencySignal::LimitAndRemainingZero
            }
            types::ConcurrencySignal::Header((name, value)) => {
                ConcurrencySignal::Header { name, value }
            }
        },
    }
}

fn manifest(m: types::Manifest) -> Result<super::Manifest, PluginError> {
    // The first scheme of each kind that the connector lists.
    let auth_scheme = m.auth.iter().find_map(|a| match a {
        types::AuthScheme::Token(template) => Some(template.clone()),
        types::AuthScheme::OauthClientCredentials(_) => None,
    });
    let oauth = m.auth.iter().find_map(|a| match a {
        types::AuthScheme::OauthClientCredentials(o) => Some(super::OAuthScheme {
            token_path: o.token_path.clone(),
            scopes: o.scopes.clone(),
        }),
        types::AuthScheme::Token(_) => None,
    });
    if auth_scheme.is_none() && oauth.is_none() {
        return Err(PluginError::BadManifest(
            "no auth scheme this host supports: declare a `token` or `oauth-client-credentials` scheme".into(),
        ));
    }
    let jobs: Vec<JobSpec> = m
        .jobs
        .into_iter()
        .map(|j| JobSpec {
            name: j.name,
            description: j.description,
            default_schedule: j.default_schedule,
            outputs: j.outputs.into_iter().map(output_kind).collect(),
        })
        .collect();
    let default_schedule = jobs
        .iter()
        .find(|j| j.name == KRIS_JOB)
        .or_else(|| jobs.first())
        .map(|j| j.default_schedule.clone())
        .unwrap_or_default();
    Ok(super::Manifest {
        kris: m
            .kris
            .into_iter()
            .map(|k| KriDefinition {
                slug: k.slug,
                name: k.name,
                description: k.description,
                unit: k.unit,
                direction: match k.direction {
                    types::Direction::HigherIsBetter => Direction::HigherIsBetter,
                    types::Direction::LowerIsBetter => Direction::LowerIsBetter,
                },
                warn: k.warn_threshold,
                breach: k.breach_threshold,
            })
            .collect(),
        config_schema: config_schema(&m.config_schema)?,
        name: m.name,
        version: m.version,
        description: m.description,
        auth_scheme,
        oauth,
        default_schedule,
        jobs,
        contract: VERSION,
        rate_limit: rate_limit(m.rate_limit),
    })
}

fn request(r: &super::RunRequest) -> types::RunRequest {
    types::RunRequest {
        job: r.job.clone(),
        now_ms: r.now_ms,
        time_budget_ms: r.time_budget_ms,
        kris: r.kris.clone(),
        extra_config: r.extra_config.clone(),
    }
}

/// JSON carried as text, parsed; `what` names it in the guest's error.
fn json(text: &str, what: impl FnOnce() -> String) -> Result<serde_json::Value, String> {
    serde_json::from_str(text).map_err(|e| format!("{} is not JSON: {e}", what()))
}

fn entity(e: types::EntityRef) -> EntityRef {
    EntityRef {
        id: e.id,
        kind: e.kind,
        name: e.name,
    }
}

/// One output in the host's types.
fn host_output(o: types::Output) -> Result<Output, String> {
    Ok(match o {
        types::Output::Kri(k) => Output::Kri(KriValue {
            details: json(&k.details, || format!("details of `{}`", k.slug))?,
            slug: k.slug,
            value: k.value,
            numerator: k.numerator,
            denominator: k.denominator,
            not_evaluated_reason: k.not_evaluated_reason,
        }),
        types::Output::Node(n) => Output::Node(Node {
            properties: json(&n.properties, || format!("properties of node `{}`", n.id))?,
            id: n.id,
            kind: n.kind,
            sub_kind: n.sub_kind,
            name: n.name,
            labels: n.labels.into_iter().collect::<BTreeMap<_, _>>(),
        }),
        types::Output::Edge(e) => Output::Edge(Edge {
            properties: json(&e.properties, || {
                format!("properties of edge `{}` -> `{}`", e.from, e.to)
            })?,
            from: e.from,
            to: e.to,
            kind: e.kind,
        }),
        types::Output::Event(e) => Output::Event(Event {
            raw: json(&e.raw, || format!("raw of event `{}`", e.id))?,
            id: e.id,
            time_ms: e.time_ms,
            event_type: e.event_type,
            actor: entity(e.actor),
            targets: e.targets.into_iter().map(entity).collect(),
            outcome: e.outcome.map(|o| EventOutcome {
                result: o.result,
                reason: o.reason,
            }),
        }),
        types::Output::Alert(a) => Output::Alert(Alert {
            details: json(&a.details, || {
                format!("details of alert `{}`", a.dedupe_key)
            })?,
            detection: a.detection,
            severity: match a.severity {
                types::Severity::Info => Severity::Info,
                types::Severity::Low => Severity::Low,
                types::Severity::Medium => Severity::Medium,
                types::Severity::High => Severity::High,
                types::Severity::Critical => Severity::Critical,
            },
            title: a.title,
            dedupe_key: a.dedupe_key,
            entity: entity(a.entity),
            evidence: a.evidence,
            seen_ms: a.seen_ms,
        }),
    })
}

impl output::Host for SandboxState {
    async fn emit(&mut self, batch: Vec<types::Output>) -> wasmtime::Result<Result<(), String>> {
        let batch: Result<Vec<Output>, String> = batch.into_iter().map(host_output).collect();
        match batch {
            Ok(batch) => SandboxState::emit(self, batch),
            Err(e) => Ok(Err(e)),
        }
    }
}

fn coverage(c: graph::Coverage) -> GraphCoverage {
    match c {
        graph::Coverage::NodeKind(k) => GraphCoverage::NodeKind(k),
        graph::Coverage::EdgeKind(k) => GraphCoverage::EdgeKind(k),
        graph::Coverage::EdgesFrom(e) => GraphCoverage::EdgesFrom {
            node: e.node,
            kind: e.kind,
        },
        graph::Coverage::EdgesTo(e) => GraphCoverage::EdgesTo {
            node: e.node,
            kind: e.kind,
        },
    }
}

impl graph::Host for SandboxState {
    async fn complete(
        &mut self,
        parts: Vec<graph::Coverage>,
    ) -> wasmtime::Result<Result<(), String>> {
        Ok(self.graph_change(GraphChanges {
            coverage: parts.into_iter().map(coverage).collect(),
            retracted: Vec::new(),
            retracted_edges: Vec::new(),
        }))
    }

    async fn retract_node(&mut self, id: String) -> wasmtime::Result<Result<(), String>> {
        Ok(self.graph_change(GraphChanges {
            coverage: Vec::new(),
            retracted: vec![id],
            retracted_edges: Vec::new(),
        }))
    }

    async fn retract_edge(
        &mut self,
        from: String,
        to: String,
        kind: String,
    ) -> wasmtime::Result<Result<(), String>> {
        Ok(self.graph_change(GraphChanges {
            coverage: Vec::new(),
            retracted: Vec::new(),
            retracted_edges: vec![EdgeKey { from, to, kind }],
        }))
    }
}

impl peer_state::Host for SandboxState {
    async fn get(&mut self, job: String, key: String) -> wasmtime::Result<Option<Vec<u8>>> {
        Ok(self.peer_state_get(&job, &key))
    }
}

fn guest_entity(e: EntityRef) -> types::EntityRef {
    types::EntityRef {
        id: e.id,
        kind: e.kind,
        name: e.name,
    }
}

fn guest_event(e: PagedEvent) -> types::Event {
    types::Event {
        id: e.id,
        time_ms: e.time_ms,
        event_type: e.event_type,
        actor: guest_entity(e.actor),
        targets: e.targets.into_iter().map(guest_entity).collect(),
        outcome: e.outcome.map(|o| types::EventOutcome {
            result: o.result,
            reason: o.reason,
        }),
        raw: e.raw,
    }
}

impl stored_events::Host for SandboxState {
    async fn coverage(&mut self) -> wasmtime::Result<Option<stored_events::StreamCoverage>> {
        Ok(self
            .stream_coverage()
            .map(|c| stored_events::StreamCoverage {
                after_ms: c.after_ms,
                until_ms: c.until_ms,
            }))
    }

    async fn declare_coverage(
        &mut self,
        c: stored_events::StreamCoverage,
    ) -> wasmtime::Result<Result<(), String>> {
        Ok(self.declare_stream_coverage(StreamCoverage {
            after_ms: c.after_ms,
            until_ms: c.until_ms,
        }))
    }

    async fn read_events(
        &mut self,
        q: stored_events::EventQuery,
    ) -> wasmtime::Result<Result<stored_events::EventPage, String>> {
        let page = self
            .read_stored_events(q.after_ms, q.until_ms, q.cursor, q.limit)
            .await;
        Ok(page.map(|p| stored_events::EventPage {
            events: p.events.into_iter().map(guest_event).collect(),
            next_cursor: p.next_cursor,
        }))
    }

    async fn record_poll(&mut self, p: stored_events::StreamPoll) -> wasmtime::Result<()> {
        self.buffers.stream_poll = Some(StreamPoll {
            pages: p.pages,
            events: p.events,
            lag_ms: p.lag_ms,
        });
        Ok(())
    }
}
