//! The host's real imports behind the SDK's traits (inside the component only).

use crate::bindings::kri::connector::{graph, http, log, output, peer_state, state, stored_events};
use crate::graph::Coverage;
use crate::http::{HttpError, Request, Response};
use crate::stored_events::{EventPage, EventQuery, StreamCoverage, StreamPoll};
use crate::types::{Level, Output};
use crate::{Host, Logger, OutputSink, StateStore, StoredEvents, Transport};

struct HostHttp;

impl Transport for HostHttp {
    fn send(&mut self, req: Request) -> Result<Response, HttpError> {
        http::send(&req)
    }
    fn send_all(&mut self, reqs: Vec<Request>) -> Vec<Result<Response, HttpError>> {
        http::send_all(&reqs)
    }
}

struct HostState;

impl StateStore for HostState {
    fn get(&mut self, key: &str) -> Option<Vec<u8>> {
        state::get(key)
    }
    fn set(&mut self, key: &str, value: &[u8]) -> Result<(), String> {
        state::set(key, value)
    }
    fn delete(&mut self, key: &str) {
        state::delete(key)
    }
    fn list_keys(&mut self, prefix: &str) -> Vec<String> {
        state::list_keys(prefix)
    }
    fn peer_get(&mut self, job: &str, key: &str) -> Option<Vec<u8>> {
        peer_state::get(job, key)
    }
}

struct HostOutput;

impl OutputSink for HostOutput {
    fn emit(&mut self, batch: Vec<Output>) -> Result<(), String> {
        output::emit(&batch)
    }
    fn complete_graph(&mut self, parts: Vec<Coverage>) -> Result<(), String> {
        graph::complete(&parts)
    }
    fn retract_node(&mut self, id: &str) -> Result<(), String> {
        graph::retract_node(id)
    }
    fn retract_edge(&mut self, from: &str, to: &str, kind: &str) -> Result<(), String> {
        graph::retract_edge(from, to, kind)
    }
}

struct HostLog;

impl Logger for HostLog {
    fn log(&mut self, level: Level, message: &str) {
        log::log(level, message)
    }
    fn progress(&mut self, stage: &str, done: u64, total: Option<u64>) {
        log::progress(stage, done, total)
    }
}

struct HostEvents;

impl StoredEvents for HostEvents {
    fn coverage(&mut self) -> Option<StreamCoverage> {
        stored_events::coverage()
    }
    fn declare_coverage(&mut self, coverage: StreamCoverage) -> Result<(), String> {
        stored_events::declare_coverage(coverage)
    }
    fn read_events(&mut self, query: &EventQuery) -> Result<EventPage, String> {
        stored_events::read_events(query)
    }
    fn record_poll(&mut self, poll: StreamPoll) {
        stored_events::record_poll(poll)
    }
}

pub(crate) fn with_host<R>(f: impl FnOnce(&mut Host<'_>) -> R) -> R {
    let (mut h, mut s, mut o, mut l, mut e) =
        (HostHttp, HostState, HostOutput, HostLog, HostEvents);
    f(&mut Host {
        http: &mut h,
        state: &mut s,
        output: &mut o,
        log: &mut l,
        events: &mut e,
    })
}
