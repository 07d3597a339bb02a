//! The host's own types for what connectors produce and what runs are.
//!
//! Every contract version converts its bindings into these (see `contract/`), the
//! run pipeline works on them, and every store backend commits them. They are the
//! one place a new output kind is added: one [`Output`] variant, one struct here.
//!
//! [`Direction`] and [`KriStatus`] come from `kri_policy::threshold`, which decides
//! a KRI's status; they are re-exported so callers need only this module.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use kri_policy::threshold::{Direction, KriStatus};

/// The kinds of output a connector can emit; a job's manifest lists the kinds it emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputKind {
    Kri,
    Node,
    Edge,
    Event,
    Alert,
}

/// One thing a connector emitted during a run, buffered until the run commits.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    Kri(KriValue),
    Node(Node),
    Edge(Edge),
    Event(Event),
    Alert(Alert),
}

impl Output {
    pub fn kind(&self) -> OutputKind {
        match self {
            Output::Kri(_) => OutputKind::Kri,
            Output::Node(_) => OutputKind::Node,
            Output::Edge(_) => OutputKind::Edge,
            Output::Event(_) => OutputKind::Event,
            Output::Alert(_) => OutputKind::Alert,
        }
    }
}

/// A computed (or not computable) KRI, as the connector reported it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KriValue {
    pub slug: String,
    /// `None` when the KRI could not be evaluated.
    pub value: Option<f64>,
    pub numerator: Option<f64>,
    pub denominator: Option<f64>,
    /// A JSON object explaining the value.
    pub details: serde_json::Value,
    /// Set when the KRI could not be evaluated (a missing permission, say).
    pub not_evaluated_reason: Option<String>,
}

/// A node of the identity graph (a user, group, app, admin role, API token, ...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    /// Stable across runs: the upstream's own id where it has one.
    pub id: String,
    pub kind: String,
    pub sub_kind: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// A JSON object.
    pub properties: serde_json::Value,
}

/// A directed edge of the identity graph, between two node ids.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Edge {
    pub from: String,
    pub to: String,
    pub kind: String,
    /// A JSON object.
    pub properties: serde_json::Value,
}

/// A part of the identity graph a run vouches it emitted whole: on commit, what the
/// tenant has in it that the run did not emit is removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GraphCoverage {
    /// Every node of this kind.
    NodeKind(String),
    /// Every edge of this kind.
    EdgeKind(String),
    /// Every edge of `kind` starting at `node`.
    EdgesFrom { node: String, kind: String },
    /// Every edge of `kind` ending at `node`.
    EdgesTo { node: String, kind: String },
}

/// The deletions a run asks for in the identity graph, applied when it commits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GraphChanges {
    pub coverage: Vec<GraphCoverage>,
    /// Nodes the upstream deleted; their edges go too.
    pub retracted: Vec<String>,
    /// Single edges the upstream removed (unless the run emits them again).
    pub retracted_edges: Vec<EdgeKey>,
}

impl GraphChanges {
    pub fn is_empty(&self) -> bool {
        self.coverage.is_empty() && self.retracted.is_empty() && self.retracted_edges.is_empty()
    }
}

/// What names one edge of the graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgeKey {
    pub from: String,
    pub to: String,
    pub kind: String,
}

/// Who or what an event or alert is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityRef {
    pub id: String,
    /// `user`, `ip`, `session`, `app`, ... in the connector's words.
    pub kind: String,
    /// A human name (a login, an address); may be empty.
    pub name: String,
}

/// How an audited action ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventOutcome {
    /// `SUCCESS`, `FAILURE`, ... in the upstream's words.
    pub result: String,
    pub reason: Option<String>,
}

/// One entry of an audit stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Stable and unique per tenant (Okta's `uuid`).
    pub id: String,
    /// When it happened, in ms since the Unix epoch.
    pub time_ms: i64,
    pub event_type: String,
    pub actor: EntityRef,
    pub targets: Vec<EntityRef>,
    pub outcome: Option<EventOutcome>,
    /// The upstream's whole event, as JSON.
    pub raw: serde_json::Value,
}

/// How bad an alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

/// What a detection raised. The store keeps one alert per (tenant, dedupe key): a
/// later emission with the same key updates it instead of opening another.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// The detection's fixed id, e.g. `okta.mfa_push_fatigue`.
    pub detection: String,
    pub severity: Severity,
    pub title: String,
    pub dedupe_key: String,
    pub entity: EntityRef,
    /// Ids of the events that are the evidence.
    pub evidence: Vec<String>,
    /// When the newest evidence happened, in ms since the Unix epoch.
    pub seen_ms: i64,
    /// A JSON object.
    pub details: serde_json::Value,
}

/// Where a run is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    Succeeded,
    Failed,
    /// Found unfinished: its process died, or it was stopped by a signal.
    Interrupted,
}

/// Whether a run row is a full run or a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunKind {
    Run,
    Check,
}

/// A word the store does not know for one of these enums.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} `{word}`")]
pub struct UnknownWord {
    pub what: &'static str,
    pub word: String,
}

/// The stored word for each variant, and back: one table per enum.
macro_rules! words {
    ($ty:ty, $what:literal, { $($variant:path => $word:literal),+ $(,)? }) => {
        impl $ty {
            /// The word stored and printed for this value.
            pub fn as_str(self) -> &'static str {
                match self { $($variant => $word),+ }
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        /// Compares with a stored word, so `status == "failed"` reads as printed.
        impl PartialEq<&str> for $ty {
            fn eq(&self, word: &&str) -> bool {
                self.as_str() == *word
            }
        }
        impl FromStr for $ty {
            type Err = UnknownWord;
            fn from_str(s: &str) -> Result<Self, UnknownWord> {
                match s {
                    $($word => Ok($variant),)+
                    _ => Err(UnknownWord { what: $what, word: s.to_string() }),
                }
            }
        }
    };
}

words!(OutputKind, "output kind", {
    OutputKind::Kri => "kri",
    OutputKind::Node => "node",
    OutputKind::Edge => "edge",
    OutputKind::Event => "event",
    OutputKind::Alert => "alert",
});
words!(Severity, "severity", {
    Severity::Info => "info",
    Severity::Low => "low",
    Severity::Medium => "medium",
    Severity::High => "high",
    Severity::Critical => "critical",
});
words!(RunStatus, "run status", {
    RunStatus::Running => "running",
    RunStatus::Succeeded => "succeeded",
    RunStatus::Failed => "failed",
    RunStatus::Interrupted => "interrupted",
});
words!(RunKind, "run kind", {
    RunKind::Run => "run",
    RunKind::Check => "check",
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_reads_back_as_its_variant() {
        for s in [
            RunStatus::Running,
            RunStatus::Succeeded,
            RunStatus::Failed,
            RunStatus::Interrupted,
        ] {
            assert_eq!(s.as_str().parse::<RunStatus>(), Ok(s));
        }
        for s in [
            Severity::Info,
            Severity::Low,
            Severity::Medium,
            Severity::High,
            Severity::Critical,
        ] {
            assert_eq!(s.as_str().parse::<Severity>(), Ok(s));
        }
        assert_eq!("check".parse::<RunKind>(), Ok(RunKind::Check));
        assert_eq!("alert".parse::<OutputKind>(), Ok(OutputKind::Alert));
    }

    #[test]
    fn an_unknown_word_is_named_in_the_error() {
        let e = "halted".parse::<RunStatus>().unwrap_err();
        assert_eq!(e.to_string(), "unknown run status `halted`");
    }

    #[test]
    fn serde_uses_the_same_words() {
        let json = serde_json::to_string(&RunStatus::Interrupted).unwrap();
        assert_eq!(json, "\"interrupted\"");
        let json = serde_json::to_string(&Severity::Critical).unwrap();
        assert_eq!(json, "\"critical\"");
    }
}
