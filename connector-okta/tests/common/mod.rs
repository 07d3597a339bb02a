//! A fake Okta org behind the connector's `Transport` trait, for the native end-to-end
//! tests: it serves users (by status filter), factors, app links, ACCESS_POLICY policies
//! and rules, and the System Log (since/until/filter, ascending), paginated with `Link`
//! headers the way Okta sends them, and can be told to fail chosen endpoints.
#![allow(dead_code)]

use connector_okta::api::{Header, HttpError, Request, Response, Transport};
use serde_json::{json, Value};
use std::collections::BTreeMap;

pub const ORIGIN: &str = "https://fake.okta.example";

/// An injected failure: requests whose path starts with `path_prefix` get this answer.
#[derive(Debug, Clone)]
pub struct Failure {
    pub path_prefix: String,
    pub status: u16,
    pub body: String,
}

#[derive(Debug, Clone, Default)]
pub struct FakeOkta {
    pub users: Vec<Value>,
    pub factors: BTreeMap<String, Vec<Value>>,
    pub app_links: BTreeMap<String, Vec<Value>>,
    pub policies: Vec<Value>,
    pub rules: BTreeMap<String, Vec<Value>>,
    pub events: Vec<Value>,
    pub user_page_size: usize,
    pub log_page_size: usize,
    /// Send all links in one comma-joined header line instead of one line per rel.
    pub comma_joined_links: bool,
    pub failures: Vec<Failure>,
    /// Every request URL, in order.
    pub requests: Vec<String>,
    /// Sizes of `send_all` batches.
    pub batches: Vec<usize>,
}

/// Decodes a query component (`+` is a space, `%XX` a byte).
pub fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("00");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Encodes a query component the way Okta writes its links (spaces as `+`).
fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b' ' => out.push('+'),
            b if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) => out.push(b as char),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn parse_query(q: &str) -> BTreeMap<String, String> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), String::new()),
        })
        .collect()
}

fn query_string(q: &BTreeMap<String, String>) -> String {
    q.iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn ms(iso: &str) -> i64 {
    connector_okta::time::iso_to_ms(iso).unwrap_or(i64::MIN)
}

pub fn load_org() -> FakeOkta {
    let text = include_str!("../fixtures/org.json");
    let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    let map = |key: &str| -> BTreeMap<String, Vec<Value>> {
        v[key]
            .as_object()
            .map(|o| {
                o.iter()
                    .map(|(k, v)| (k.clone(), v.as_array().cloned().unwrap_or_default()))
                    .collect()
            })
            .unwrap_or_default()
    };
    let list = |key: &str| v[key].as_array().cloned().unwrap_or_default();
    FakeOkta {
        users: list("users"),
        factors: map("factors"),
        app_links: map("app_links"),
        policies: list("policies"),
        rules: map("rules"),
        events: list("events"),
        user_page_size: 2,
        log_page_size: 3,
        ..FakeOkta::default()
    }
}

impl FakeOkta {
    pub fn fail(&mut self, path_prefix: &str, status: u16, body: &str) {
        self.failures.push(Failure {
            path_prefix: path_prefix.into(),
            status,
            body: body.into(),
        });
    }

    pub fn count_requests(&self, needle: &str) -> usize {
        self.requests.iter().filter(|r| r.contains(needle)).count()
    }

    pub fn set_status(&mut self, user_id: &str, status: &str) {
        for u in &mut self.users {
            if u["id"] == user_id {
                u["status"] = json!(status);
            }
        }
    }

    fn headers(&self, links: Vec<(String, &str)>) -> Vec<Header> {
        let mut h = vec![
            Header {
                name: "content-type".into(),
                value: "application/json;charset=UTF-8".into(),
            },
            Header {
                name: "x-rate-limit-limit".into(),
                value: "600".into(),
            },
            Header {
                name: "x-rate-limit-remaining".into(),
                value: "599".into(),
            },
            Header {
                name: "x-rate-limit-reset".into(),
                value: "1795395780".into(),
            },
        ];
        let values: Vec<String> = links
            .into_iter()
            .map(|(url, rel)| format!("<{url}>; rel=\"{rel}\""))
            .collect();
        if self.comma_joined_links {
            h.push(Header {
                name: "Link".into(),
                value: values.join(", "),
            });
        } else {
            for v in values {
                h.push(Header {
                    name: "link".into(),
                    value: v,
                });
            }
        }
        h
    }

    fn json(&self, status: u16, body: &Value, links: Vec<(String, &str)>) -> Response {
        Response {
            status,
            headers: self.headers(links),
            body: body.to_string().into_bytes(),
        }
    }

    fn error(&self, status: u16, code: &str, summary: &str) -> Response {
        self.json(
            status,
            &json!({"errorCode": code, "errorSummary": summary, "errorLink": code, "errorId": "oaeFAKE", "errorCauses": []}),
            vec![],
        )
    }

    /// Pages `items` by `after` (an index) with self and next links.
    fn paged(
        &self,
        path: &str,
        mut q: BTreeMap<String, String>,
        items: Vec<Value>,
        size: usize,
        next_at_end: bool,
    ) -> Response {
        let start: usize = q.get("after").and_then(|a| a.parse().ok()).unwrap_or(0);
        let end = (start + size).min(items.len());
        let page: Vec<Value> = items
            .get(start..end)
            .map(<[Value]>::to_vec)
            .unwrap_or_default();
        let self_url = format!("{ORIGIN}{path}?{}", query_string(&q));
        let mut links = vec![(self_url, "self")];
        if end < items.len() || next_at_end {
            q.insert("after".into(), end.to_string());
            links.push((format!("{ORIGIN}{path}?{}", query_string(&q)), "next"));
        }
        self.json(200, &Value::Array(page), links)
    }

    fn handle(&mut self, req: Request) -> Response {
        self.requests.push(req.url.clone());
        if req
            .headers
            .iter()
            .any(|h| h.name.eq_ignore_ascii_case("authorization"))
        {
            return self.error(400, "E0000001", "guest must not send authorization");
        }
        let url = req.url.strip_prefix(ORIGIN).unwrap_or(&req.url).to_string();
        let (path, query) = url.split_once('?').unwrap_or((url.as_str(), ""));
        let q = parse_query(query);
        if let Some(f) = self
            .failures
            .iter()
            .find(|f| path.starts_with(&f.path_prefix))
        {
            return Response {
                status: f.status,
                headers: self.headers(vec![]),
                body: f.body.clone().into_bytes(),
            };
        }
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        match parts.as_slice() {
            ["api", "v1", "users"] => {
                let filter = q.get("filter").cloned().unwrap_or_default();
                let users: Vec<Value> = if let Some(status) = filter
                    .strip_prefix("status eq \"")
                    .and_then(|s| s.strip_suffix('"'))
                {
                    self.users
                        .iter()
                        .filter(|u| u["status"] == status)
                        .cloned()
                        .collect()
                } else if filter.is_empty() {
                    self.users.clone()
                } else {
                    return self.error(400, "E0000031", "Invalid search criteria.");
                };
                let size: usize = q
                    .get("limit")
                    .and_then(|l| l.parse().ok())
                    .unwrap_or(200)
                    .min(self.user_page_size.max(1));
                self.paged(path, q, users, size, false)
            }
            ["api", "v1", "users", id, "factors"] => match self.factors.get(*id) {
                Some(f) => self.json(200, &Value::Array(f.clone()), vec![]),
                None => self.error(
                    404,
                    "E0000007",
                    "Not found: Resource not found: user (User)",
                ),
            },
            ["api", "v1", "users", id, "appLinks"] => match self.app_links.get(*id) {
                Some(f) => self.json(200, &Value::Array(f.clone()), vec![]),
                None => self.json(200, &json!([]), vec![]),
            },
            ["api", "v1", "policies"] => {
                if q.get("type").map(String::as_str) != Some("ACCESS_POLICY") {
                    return self.error(400, "E0000001", "Api validation failed: type");
                }
                self.paged(path, q, self.policies.clone(), 2, false)
            }
            ["api", "v1", "policies", id, "rules"] => match self.rules.get(*id) {
                Some(r) => self.json(200, &Value::Array(r.clone()), vec![]),
                None => self.error(404, "E0000007", "Not found"),
            },
            ["api", "v1", "logs"] => self.logs(path, q),
            _ => self.error(
                404,
                "E0000022",
                "The endpoint does not support the provided HTTP method",
            ),
        }
    }

    fn logs(&self, path: &str, q: BTreeMap<String, String>) -> Response {
        if q.get("sortOrder").map(String::as_str) != Some("ASCENDING") {
            return self.error(400, "E0000001", "expected sortOrder=ASCENDING");
        }
        let since = q.get("since").map(|s| ms(s)).unwrap_or(i64::MIN);
        let until = q.get("until").map(|s| ms(s));
        let types: Option<Vec<String>> = match q.get("filter") {
            None => None,
            Some(f) => {
                let mut types = Vec::new();
                for term in f.split(" or ") {
                    match term
                        .trim()
                        .strip_prefix("eventType eq \"")
                        .and_then(|t| t.strip_suffix('"'))
                    {
                        Some(t) => types.push(t.to_string()),
                        None => return self.error(400, "E0000031", "Invalid filter"),
                    }
                }
                Some(types)
            }
        };
        let mut events: Vec<Value> = self
            .events
            .iter()
            .filter(|e| {
                let p = e["published"].as_str().map(ms).unwrap_or(i64::MIN);
                p >= since && until.is_none_or(|u| p < u)
            })
            .filter(|e| {
                types.as_ref().is_none_or(|t| {
                    e["eventType"]
                        .as_str()
                        .is_some_and(|et| t.iter().any(|x| x == et))
                })
            })
            .cloned()
            .collect();
        events.sort_by_key(|e| e["published"].as_str().map(ms).unwrap_or(i64::MIN));
        let limit: usize = q.get("limit").and_then(|l| l.parse().ok()).unwrap_or(100);
        let size = limit.min(self.log_page_size.max(1));
        self.paged(path, q, events, size, until.is_none())
    }
}

impl Transport for FakeOkta {
    fn send(&mut self, req: Request) -> Result<Response, HttpError> {
        Ok(self.handle(req))
    }
    fn send_all(&mut self, reqs: Vec<Request>) -> Vec<Result<Response, HttpError>> {
        self.batches.push(reqs.len());
        reqs.into_iter().map(|r| Ok(self.handle(r))).collect()
    }
}
