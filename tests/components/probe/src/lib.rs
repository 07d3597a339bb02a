//! `probe`: a test connector for the end-to-end tests.
//!
//! The tenant's extra config picks what it does: `{"mode": "normal"}` behaves (counts
//! its runs in state, emits KRIs, optionally fetches a path), `fail` and `trap` fail
//! after emitting and writing state, and every other mode is one attack on the host
//! (loops, bombs, floods, forbidden requests, reading the environment). Each attack
//! that the host answers without ending the run reports what it saw in the details
//! of the `probe_result` KRI, so tests can assert the exact outcome.

wit_bindgen::generate!({ world: "connector", path: "../../../wit/0.1.0" });

use kri::connector::http::{self, Header, HttpError, Method, Request};
use kri::connector::types::{Direction, KriDefinition, KriValue};
use kri::connector::{log, output, state};

struct Probe;

fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Finds `"key": "value"` or `"key": number` in a flat JSON object (enough for tests).
fn config_value(config: &str, key: &str) -> Option<String> {
    let pat = format!("\"{key}\"");
    let start = config.find(&pat)? + pat.len();
    let rest = config[start..].trim_start().strip_prefix(':')?.trim_start();
    if let Some(s) = rest.strip_prefix('"') {
        Some(s[..s.find('"')?].to_string())
    } else {
        let end = rest.find([',', '}']).unwrap_or(rest.len());
        Some(rest[..end].trim().to_string())
    }
}

fn kri(slug: &str, value: Option<f64>, details: String) -> KriValue {
    KriValue {
        slug: slug.to_string(),
        value,
        numerator: None,
        denominator: None,
        details,
        not_evaluated_reason: None,
    }
}

fn emit(slug: &str, value: Option<f64>, details: String) -> Result<(), ConnectorError> {
    output::emit_kri(&kri(slug, value, details)).map_err(ConnectorError::Other)
}

fn get(url: &str, headers: Vec<Header>) -> Request {
    Request {
        method: Method::Get,
        url: url.to_string(),
        headers,
        body: None,
    }
}

fn describe_error(e: &HttpError) -> String {
    match e {
        HttpError::Denied(m) => format!("denied: {m}"),
        HttpError::QuotaExceeded(m) => format!("quota: {m}"),
        HttpError::Timeout(m) => format!("timeout: {m}"),
        HttpError::Transport(m) => format!("transport: {m}"),
    }
}

/// Sends one request and reports the outcome as `probe_result`.
fn attempt(url: &str, headers: Vec<Header>) -> Result<RunSummary, ConnectorError> {
    let outcome = match http::send(&get(url, headers)) {
        Ok(resp) => format!("status {}", resp.status),
        Err(e) => describe_error(&e),
    };
    emit(
        "probe_result",
        Some(0.0),
        format!("{{\"outcome\": {}}}", json_str(&outcome)),
    )?;
    Ok(RunSummary {
        items_read: 0,
        items_skipped: 0,
        note: String::new(),
    })
}

fn bump_runs() -> Result<f64, ConnectorError> {
    let runs: u64 = state::get("runs")
        .and_then(|v| String::from_utf8(v).ok())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
        + 1;
    state::set("runs", runs.to_string().as_bytes()).map_err(ConnectorError::Other)?;
    Ok(runs as f64)
}

fn normal(req: &RunRequest) -> Result<RunSummary, ConnectorError> {
    let runs = bump_runs()?;
    emit("probe_runs", Some(runs), "{}".into())?;
    let value = config_value(&req.extra_config, "value")
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(42.0);
    emit(
        "probe_echo",
        Some(value),
        format!("{{\"now_ms\": {}}}", req.now_ms),
    )?;
    if let Some(path) = config_value(&req.extra_config, "fetch") {
        let outcome = match http::send(&get(&path, vec![])) {
            Ok(resp) => format!(
                "{{\"status\": {}, \"body\": {}}}",
                resp.status,
                json_str(&String::from_utf8_lossy(&resp.body))
            ),
            Err(e) => format!("{{\"error\": {}}}", json_str(&describe_error(&e))),
        };
        emit("probe_result", Some(1.0), outcome)?;
    }
    log::log(log::Level::Info, "probe ran normally");
    Ok(RunSummary {
        items_read: 1,
        items_skipped: 0,
        note: "normal".into(),
    })
}

impl Guest for Probe {
    fn describe() -> Manifest {
        let def = |slug: &str, direction| KriDefinition {
            slug: slug.into(),
            name: slug.into(),
            description: "test value".into(),
            unit: "count".into(),
            direction,
            warn_threshold: Some(10.0),
            breach_threshold: Some(100.0),
        };
        Manifest {
            name: "probe".into(),
            version: "0.1.0".into(),
            description: "test connector for the end-to-end tests".into(),
            kris: vec![
                def("probe_runs", Direction::LowerIsBetter),
                def("probe_echo", Direction::LowerIsBetter),
                def("probe_result", Direction::LowerIsBetter),
            ],
            auth_scheme: "Bearer {token}".into(),
            config_schema: "{\"type\": \"object\"}".into(),
            default_schedule: "PT1H".into(),
        }
    }

    fn check(_req: RunRequest) -> Result<(), ConnectorError> {
        match http::send(&get("/check", vec![])) {
            Ok(resp) if resp.status == 200 => Ok(()),
            Ok(resp) => Err(ConnectorError::Unauthorized(format!(
                "status {}",
                resp.status
            ))),
            Err(e) => Err(ConnectorError::Upstream(describe_error(&e))),
        }
    }

    fn run(req: RunRequest) -> Result<RunSummary, ConnectorError> {
        let mode = config_value(&req.extra_config, "mode").unwrap_or_else(|| "normal".into());
        match mode.as_str() {
            "normal" => normal(&req),
            "fail" => {
                bump_runs()?;
                emit("probe_runs", Some(-1.0), "{}".into())?;
                Err(ConnectorError::Upstream("planned failure".into()))
            }
            "trap" => {
                bump_runs()?;
                emit("probe_runs", Some(-1.0), "{}".into())?;
                panic!("planned trap in the middle of a run")
            }
            "infinite-loop" => {
                let mut x: u64 = 0;
                loop {
                    x = std::hint::black_box(x.wrapping_add(1));
                }
            }
            "memory-bomb" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "million-requests" => {
                for _ in 0..1_000_000 {
                    let _ = http::send(&get("/api/v1/users?limit=1", vec![]));
                }
                normal(&req)
            }
            "requests" => {
                // Benchmark mode: `count` sequential requests to `path`.
                let count: u64 = config_value(&req.extra_config, "count")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(100);
                let path = config_value(&req.extra_config, "path").unwrap_or_else(|| "/".into());
                let mut ok = 0u64;
                for _ in 0..count {
                    if matches!(http::send(&get(&path, vec![])), Ok(r) if r.status == 200) {
                        ok += 1;
                    }
                }
                emit("probe_result", Some(ok as f64), "{}".into())?;
                normal(&req)
            }
            "huge-response" => {
                let path =
                    config_value(&req.extra_config, "path").unwrap_or_else(|| "/huge".into());
                attempt(&path, vec![])?;
                normal(&req)
            }
            "output-flood" => {
                for i in 0..10_000_000u64 {
                    emit("probe_runs", Some(i as f64), "{}".into())?;
                }
                normal(&req)
            }
            "state-flood" => {
                let value = vec![7u8; 1024];
                for i in 0..10_000_000u64 {
                    state::set(&format!("flood/{i}"), &value).map_err(ConnectorError::Other)?;
                }
                normal(&req)
            }
            "log-flood" => {
                for i in 0..10_000_000u64 {
                    log::log(
                        log::Level::Info,
                        &format!("line {i} of a flood of log lines"),
                    );
                }
                normal(&req)
            }
            "stderr-flood" => {
                for i in 0..10_000_000u64 {
                    eprintln!("line {i} of a flood on stderr");
                }
                normal(&req)
            }
            "other-host" => attempt("https://evil.example.com/steal", vec![]),
            "metadata" => attempt("http://169.254.169.254/latest/meta-data/iam/", vec![]),
            "localhost" => attempt("http://127.0.0.1:22/", vec![]),
            "http-downgrade" => {
                let url = config_value(&req.extra_config, "url").unwrap_or_default();
                attempt(&url, vec![])
            }
            "guest-auth" => attempt(
                "/api/v1/users",
                vec![Header {
                    name: "AuThOrIzAtIoN".into(),
                    value: "SSWS stolen".into(),
                }],
            ),
            "redirect-follow" => {
                let first = http::send(&get("/redirect", vec![]));
                let outcome = match first {
                    Ok(resp) => {
                        let location = resp
                            .headers
                            .iter()
                            .find(|h| h.name.eq_ignore_ascii_case("location"))
                            .map(|h| h.value.clone())
                            .unwrap_or_default();
                        match http::send(&get(&location, vec![])) {
                            Ok(r) => format!("first {}, then status {}", resp.status, r.status),
                            Err(e) => format!("first {}, then {}", resp.status, describe_error(&e)),
                        }
                    }
                    Err(e) => describe_error(&e),
                };
                emit(
                    "probe_result",
                    Some(0.0),
                    format!("{{\"outcome\": {}}}", json_str(&outcome)),
                )?;
                Ok(RunSummary {
                    items_read: 0,
                    items_skipped: 0,
                    note: String::new(),
                })
            }
            "env-files" => {
                let env_count = std::env::vars().count();
                let passwd = std::fs::read_to_string("/etc/passwd").map(|s| s.len());
                let dir = std::fs::read_dir(".").map(|d| d.count());
                let tcp = std::net::TcpStream::connect("127.0.0.1:80").map(|_| ());
                let outcome = format!(
                    "env {env_count}, passwd {}, dir {}, tcp {}",
                    if passwd.is_ok() {
                        "readable"
                    } else {
                        "unreadable"
                    },
                    if dir.is_ok() {
                        "listable"
                    } else {
                        "unlistable"
                    },
                    if tcp.is_ok() { "connected" } else { "refused" },
                );
                emit(
                    "probe_result",
                    Some(env_count as f64),
                    format!("{{\"outcome\": {}}}", json_str(&outcome)),
                )?;
                normal(&req)
            }
            other => Err(ConnectorError::InvalidConfig(format!(
                "unknown mode {other}"
            ))),
        }
    }
}

export!(Probe);
