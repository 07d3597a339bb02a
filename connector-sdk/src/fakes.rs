//! In-memory fakes of the host's imports, so connector logic is unit-tested natively:
//! state in a map, outputs and log lines collected, and HTTP answered by a closure.
//! Nothing here touches the outside.

use std::collections::BTreeMap;

use crate::graph::Coverage;
use crate::http::{HttpError, Request, Response};
use crate::stored_events::{EventPage, EventQuery, StreamCoverage, StreamPoll};
use crate::types::{Event, KriValue, Level, Output};
use crate::{Host, Logger, OutputSink, StateStore, StoredEvents, Transport};

/// State in a map; other jobs' state in `peers` (job, key).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemState {
    pub map: BTreeMap<String, Vec<u8>>,
    pub peers: BTreeMap<(String, String), Vec<u8>>,
}

impl StateStore for MemState {
    fn get(&mut self, key: &str) -> Option<Vec<u8>> {
        self.map.get(key).cloned()
    }
    fn set(&mut self, key: &str, value: &[u8]) -> Result<(), String> {
        self.map.insert(key.to_string(), value.to_vec());
        Ok(())
    }
    fn delete(&mut self, key: &str) {
        self.map.remove(key);
    }
    fn list_keys(&mut self, prefix: &str) -> Vec<String> {
        self.map
            .keys()
            .filter(|k| k.starts_with(prefix))
            .cloned()
            .collect()
    }
    fn peer_get(&mut self, job: &str, key: &str) -> Option<Vec<u8>> {
        self.peers.get(&(job.to_string(), key.to_string())).cloned()
    }
}

/// Collects emitted outputs: KRIs apart, since most tests look at them.
#[derive(Debug, Clone, Default)]
pub struct MemOutput {
    pub kris: Vec<KriValue>,
    /// Nodes, edges, events and alerts, in order.
    pub others: Vec<Output>,
    /// The graph coverage vouched for, in order.
    pub coverage: Vec<Coverage>,
    /// Retracted node ids, in order.
    pub retracted: Vec<String>,
    /// Retracted edges (from, to, kind), in order.
    pub retracted_edges: Vec<(String, String, String)>,
}

impl OutputSink for MemOutput {
    fn emit(&mut self, batch: Vec<Output>) -> Result<(), String> {
        for o in batch {
            match o {
                Output::Kri(k) => self.kris.push(k),
                other => self.others.push(other),
            }
        }
        Ok(())
    }
    fn complete_graph(&mut self, parts: Vec<Coverage>) -> Result<(), String> {
        self.coverage.extend(parts);
        Ok(())
    }
    fn retract_node(&mut self, id: &str) -> Result<(), String> {
        self.retracted.push(id.to_string());
        Ok(())
    }
    fn retract_edge(&mut self, from: &str, to: &str, kind: &str) -> Result<(), String> {
        self.retracted_edges
            .push((from.to_string(), to.to_string(), kind.to_string()));
        Ok(())
    }
}

impl MemOutput {
    /// The last KRI emitted with `slug`.
    pub fn get(&self, slug: &str) -> Option<&KriValue> {
        self.kris.iter().rfind(|v| v.slug == slug)
    }
}

/// Collects log lines and progress reports.
#[derive(Debug, Clone, Default)]
pub struct MemLog {
    pub lines: Vec<(Level, String)>,
    pub progress: Vec<(String, u64, Option<u64>)>,
}

impl Logger for MemLog {
    fn log(&mut self, level: Level, message: &str) {
        self.lines.push((level, message.to_string()));
    }
    fn progress(&mut self, stage: &str, done: u64, total: Option<u64>) {
        self.progress.push((stage.to_string(), done, total));
    }
}

/// Discards everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NullLog;

impl Logger for NullLog {
    fn log(&mut self, _level: Level, _message: &str) {}
    fn progress(&mut self, _stage: &str, _done: u64, _total: Option<u64>) {}
}

/// A stored stream in memory: `events` (kept sorted by time, then id) and the
/// coverage last declared. Pages hold at most [`MemEvents::PAGE_MAX`] events; the
/// cursor is the index of the next event.
#[derive(Debug, Clone, Default)]
pub struct MemEvents {
    pub events: Vec<Event>,
    pub coverage: Option<StreamCoverage>,
    /// Pages read so far.
    pub pages_read: u64,
    /// The last poll recorded (`record_poll`).
    pub poll: Option<StreamPoll>,
}

impl MemEvents {
    /// The bound the real host puts on a page, too.
    pub const PAGE_MAX: usize = 1000;

    /// A stream of `events` complete for `coverage`.
    pub fn new(mut events: Vec<Event>, coverage: Option<StreamCoverage>) -> MemEvents {
        events.sort_by(|a, b| (a.time_ms, &a.id).cmp(&(b.time_ms, &b.id)));
        MemEvents {
            events,
            coverage,
            pages_read: 0,
            poll: None,
        }
    }
}

impl StoredEvents for MemEvents {
    fn coverage(&mut self) -> Option<StreamCoverage> {
        self.coverage
    }
    fn declare_coverage(&mut self, coverage: StreamCoverage) -> Result<(), String> {
        if coverage.after_ms >= coverage.until_ms {
            return Err("an empty coverage range".into());
        }
        self.coverage = Some(coverage);
        Ok(())
    }
    fn read_events(&mut self, q: &EventQuery) -> Result<EventPage, String> {
        let from = match &q.cursor {
            None => 0,
            Some(c) => c
                .parse::<usize>()
                .map_err(|_| format!("bad cursor {c:?}"))?,
        };
        let limit = (q.limit as usize).clamp(1, Self::PAGE_MAX);
        let mut events = Vec::new();
        let mut next = None;
        for (i, e) in self.events.iter().enumerate().skip(from) {
            if e.time_ms <= q.after_ms || e.time_ms > q.until_ms {
                continue;
            }
            if events.len() == limit {
                next = Some(i.to_string());
                break;
            }
            events.push(e.clone());
        }
        self.pages_read += 1;
        Ok(EventPage {
            events,
            next_cursor: next,
        })
    }
    fn record_poll(&mut self, poll: StreamPoll) {
        self.poll = Some(poll);
    }
}

/// HTTP answered by a closure; every request is recorded. `send_all` answers each
/// request in order.
pub struct FakeHttp<F: FnMut(&Request) -> Result<Response, HttpError>> {
    pub answer: F,
    pub sent: Vec<Request>,
}

impl<F: FnMut(&Request) -> Result<Response, HttpError>> FakeHttp<F> {
    pub fn new(answer: F) -> Self {
        FakeHttp {
            answer,
            sent: Vec::new(),
        }
    }
}

impl<F: FnMut(&Request) -> Result<Response, HttpError>> Transport for FakeHttp<F> {
    fn send(&mut self, req: Request) -> Result<Response, HttpError> {
        let resp = (self.answer)(&req);
        self.sent.push(req);
        resp
    }
    fn send_all(&mut self, reqs: Vec<Request>) -> Vec<Result<Response, HttpError>> {
        reqs.into_iter().map(|r| self.send(r)).collect()
    }
}

/// A 200 response with a JSON body and the given headers.
pub fn json_response(body: &str, headers: &[(&str, &str)]) -> Response {
    Response {
        status: 200,
        headers: headers
            .iter()
            .map(|(name, value)| crate::http::Header {
                name: name.to_string(),
                value: value.to_string(),
            })
            .collect(),
        body: body.as_bytes().to_vec(),
    }
}

/// A full set of fakes, lent out as a [`Host`].
pub struct FakeHost<T: Transport> {
    pub http: T,
    pub state: MemState,
    pub output: MemOutput,
    pub log: MemLog,
    pub events: MemEvents,
}

impl<T: Transport> FakeHost<T> {
    pub fn new(http: T) -> Self {
        FakeHost {
            http,
            state: MemState::default(),
            output: MemOutput::default(),
            log: MemLog::default(),
            events: MemEvents::default(),
        }
    }

    /// The fakes as the [`Host`] a connector's entry points take.
    pub fn host(&mut self) -> Host<'_> {
        Host {
            http: &mut self.http,
            state: &mut self.state,
            output: &mut self.output,
            log: &mut self.log,
            events: &mut self.events,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Method;

    #[test]
    fn fakes_record_what_the_connector_did() {
        let mut fake = FakeHost::new(FakeHttp::new(|r: &Request| {
            if r.url == "/missing" {
                Err(HttpError::Denied("no".into()))
            } else {
                Ok(json_response("[]", &[]))
            }
        }));
        let host = fake.host();
        let get = |url: &str| Request {
            method: Method::Get,
            url: url.into(),
            headers: vec![],
            body: None,
        };
        assert!(host.http.send(get("/a")).is_ok());
        let all = host.http.send_all(vec![get("/b"), get("/missing")]);
        assert!(all[0].is_ok() && all[1].is_err());
        host.state.set("k", b"v").expect("set");
        host.output
            .emit_kri(KriValue {
                slug: "x".into(),
                value: Some(1.0),
                numerator: None,
                denominator: None,
                details: "{}".into(),
                not_evaluated_reason: None,
            })
            .expect("emit");
        host.log.log(Level::Info, "hello");
        assert_eq!(fake.http.sent.len(), 3);
        assert_eq!(fake.state.list_keys(""), vec!["k".to_string()]);
        assert_eq!(fake.output.get("x").and_then(|k| k.value), Some(1.0));
        assert_eq!(fake.log.lines.len(), 1);
    }
}
