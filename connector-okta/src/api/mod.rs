//! The Okta Management API client, over an abstract [`Transport`] (the host's `http`
//! import in the component; an in-memory fake in tests). It builds requests, follows
//! `Link: rel="next"` pagination verbatim, batches independent requests through
//! `send_all`, and maps Okta's answers to [`ApiError`]s.

mod log_event;
pub mod models;

pub use kri_connector_sdk::http::{Header, HttpError, Method, Request, Response};
pub use kri_connector_sdk::{link, Transport};

use kri_connector_sdk::json;
use kri_connector_sdk::types::ConnectorError;
use serde::de::{DeserializeOwned, DeserializeSeed, Deserializer};
use serde_json::Value;
use std::marker::PhantomData;

/// An Okta endpoint family: how it is named in messages and the permission it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    pub label: &'static str,
    pub permission: &'static str,
}

pub const USERS: Endpoint = Endpoint {
    label: "/api/v1/users",
    permission: "okta.users.read",
};
pub const FACTORS: Endpoint = Endpoint {
    label: "/api/v1/users/{id}/factors",
    permission: "okta.users.read",
};
pub const APP_LINKS: Endpoint = Endpoint {
    label: "/api/v1/users/{id}/appLinks",
    permission: "okta.users.read and okta.apps.read",
};
pub const POLICIES: Endpoint = Endpoint {
    label: "/api/v1/policies",
    permission: "okta.policies.read",
};
pub const POLICY_RULES: Endpoint = Endpoint {
    label: "/api/v1/policies/{id}/rules",
    permission: "okta.policies.read",
};
pub const LOGS: Endpoint = Endpoint {
    label: "/api/v1/logs",
    permission: "okta.logs.read",
};

pub const GROUPS: Endpoint = Endpoint {
    label: "/api/v1/groups",
    permission: "okta.groups.read",
};
pub const GROUP_MEMBERS: Endpoint = Endpoint {
    label: "/api/v1/groups/{id}/users",
    permission: "okta.groups.read",
};
pub const APPS: Endpoint = Endpoint {
    label: "/api/v1/apps",
    permission: "okta.apps.read",
};
pub const APP_USERS: Endpoint = Endpoint {
    label: "/api/v1/apps/{id}/users",
    permission: "okta.apps.read",
};
/// One user's assignment to an app (404 when the user is not assigned).
pub const APP_USER: Endpoint = Endpoint {
    label: "/api/v1/apps/{id}/users/{userId}",
    permission: "okta.apps.read",
};
pub const APP_GROUPS: Endpoint = Endpoint {
    label: "/api/v1/apps/{id}/groups",
    permission: "okta.apps.read",
};
pub const API_TOKENS: Endpoint = Endpoint {
    label: "/api/v1/api-tokens",
    permission: "okta.apiTokens.read",
};
/// Every role endpoint needs the same permission; a read-only admin lacks it.
const ROLES_PERMISSION: &str = "okta.roles.read";
pub const ROLE_ASSIGNEES: Endpoint = Endpoint {
    label: "/api/v1/iam/assignees/users",
    permission: ROLES_PERMISSION,
};
pub const USER_ROLES: Endpoint = Endpoint {
    label: "/api/v1/users/{id}/roles",
    permission: ROLES_PERMISSION,
};
pub const GROUP_ROLES: Endpoint = Endpoint {
    label: "/api/v1/groups/{id}/roles",
    permission: ROLES_PERMISSION,
};
pub const ROLE_TARGETS: Endpoint = Endpoint {
    label: "/api/v1/{users|groups}/{id}/roles/{id}/targets",
    permission: ROLES_PERMISSION,
};
pub const CUSTOM_ROLES: Endpoint = Endpoint {
    label: "/api/v1/iam/roles",
    permission: ROLES_PERMISSION,
};
pub const RESOURCE_SETS: Endpoint = Endpoint {
    label: "/api/v1/iam/resource-sets",
    permission: ROLES_PERMISSION,
};

/// Okta refused an endpoint for lack of permission (403, or a 401 `E0000015`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied {
    pub endpoint: &'static str,
    pub permission: &'static str,
    pub status: u16,
    pub error_code: Option<String>,
    pub error_summary: Option<String>,
}

impl Denied {
    /// The `not-evaluated-reason` text of the KRIs that need this endpoint.
    pub fn reason(&self) -> String {
        let mut okta = format!("HTTP {}", self.status);
        if let Some(code) = &self.error_code {
            okta.push(' ');
            okta.push_str(code);
        }
        if let Some(summary) = &self.error_summary {
            okta.push_str(&format!(" \"{summary}\""));
        }
        format!(
            "missing permission {}: Okta answered {} on {}; grant the token's service account \
             an admin role with {} and run again",
            self.permission, okta, self.endpoint, self.permission
        )
    }
}

/// What went wrong with an API call.
#[derive(Debug, Clone, PartialEq)]
pub enum ApiError {
    /// The endpoint is not allowed: the KRIs needing it are not evaluated.
    Forbidden(Denied),
    /// 404 on a per-object endpoint (the object vanished between list and fetch).
    NotFound { endpoint: &'static str, url: String },
    /// The run fails.
    Fatal(ConnectorError),
}

impl From<ConnectorError> for ApiError {
    fn from(e: ConnectorError) -> Self {
        ApiError::Fatal(e)
    }
}

impl ApiError {
    /// Turns anything but a permission gap into the run's error.
    pub fn into_connector_error(self) -> ConnectorError {
        match self {
            ApiError::Fatal(e) => e,
            ApiError::Forbidden(d) => ConnectorError::Forbidden(d.reason()),
            ApiError::NotFound { endpoint, url } => {
                ConnectorError::Upstream(format!("{endpoint}: GET {url} answered 404 Not Found"))
            }
        }
    }
}

/// The message for a refused token (401 `E0000011`).
pub fn unauthorized_message(url: &str, code: Option<&str>, summary: Option<&str>) -> String {
    let what = match (code, summary) {
        (Some(c), Some(s)) => format!("{c} \"{s}\""),
        (Some(c), None) => c.to_string(),
        (None, Some(s)) => format!("\"{s}\""),
        (None, None) => "no error body".to_string(),
    };
    format!(
        "Okta refused the API token (HTTP 401 {what} on GET {}): the token is wrong, has expired \
         after 30 days unused, or its service account is deactivated. Mint a new API token \
         while signed in as the service account and update the tenant's secret.",
        display_path(url)
    )
}

/// Okta's error body.
#[derive(Debug, Default, serde::Deserialize)]
struct OktaErrorBody {
    #[serde(default, rename = "errorCode")]
    error_code: Option<Value>,
    #[serde(default, rename = "errorSummary")]
    error_summary: Option<Value>,
}

fn error_body(body: &[u8]) -> (Option<String>, Option<String>) {
    let parsed: OktaErrorBody = serde_json::from_slice(body).unwrap_or_default();
    let s = |v: Option<Value>| v.and_then(|v| v.as_str().map(str::to_string));
    (s(parsed.error_code), s(parsed.error_summary))
}

/// The path (and query) of a URL, for messages; full URLs lose scheme and host.
pub fn display_path(url: &str) -> &str {
    if let Some(rest) = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
    {
        match rest.find('/') {
            Some(i) => &rest[i..],
            None => "/",
        }
    } else {
        url
    }
}

/// Maps a response to `Ok` (2xx) or the matching [`ApiError`].
pub fn check_status(ep: Endpoint, url: &str, resp: &Response) -> Result<(), ApiError> {
    let status = resp.status;
    if (200..300).contains(&status) {
        return Ok(());
    }
    let (code, summary) = error_body(&resp.body);
    let path = display_path(url);
    let okta = match (&code, &summary) {
        (Some(c), Some(s)) => format!(" ({c} \"{s}\")"),
        (Some(c), None) => format!(" ({c})"),
        (None, Some(s)) => format!(" (\"{s}\")"),
        (None, None) => String::new(),
    };
    let denied = || {
        ApiError::Forbidden(Denied {
            endpoint: ep.label,
            permission: ep.permission,
            status,
            error_code: code.clone(),
            error_summary: summary.clone(),
        })
    };
    match status {
        401 if code.as_deref() == Some("E0000015") => Err(denied()),
        401 => Err(ApiError::Fatal(ConnectorError::Unauthorized(
            unauthorized_message(url, code.as_deref(), summary.as_deref()),
        ))),
        403 => Err(denied()),
        404 => Err(ApiError::NotFound {
            endpoint: ep.label,
            url: path.to_string(),
        }),
        429 => Err(ApiError::Fatal(ConnectorError::Upstream(format!(
            "{}: GET {path} was still rate limited (HTTP 429{okta}) after the host's retries",
            ep.label
        )))),
        500..=599 => Err(ApiError::Fatal(ConnectorError::Upstream(format!(
            "{}: GET {path} failed with HTTP {status}{okta} after the host's retries",
            ep.label
        )))),
        _ => Err(ApiError::Fatal(ConnectorError::Upstream(format!(
            "{}: GET {path} answered unexpected HTTP {status}{okta}",
            ep.label
        )))),
    }
}

fn map_http_error(ep: Endpoint, url: &str, e: HttpError) -> ApiError {
    let path = display_path(url);
    ApiError::Fatal(match e {
        HttpError::Denied(m) => ConnectorError::HostLimit(format!(
            "{}: the host's egress policy refused GET {path}: {m}",
            ep.label
        )),
        HttpError::QuotaExceeded(m) => ConnectorError::HostLimit(format!(
            "{}: a host quota stopped GET {path}: {m}",
            ep.label
        )),
        HttpError::Timeout(m) => {
            ConnectorError::Upstream(format!("{}: GET {path} timed out: {m}", ep.label))
        }
        HttpError::Transport(m) => {
            ConnectorError::Upstream(format!("{}: GET {path} failed: {m}", ep.label))
        }
    })
}

fn malformed(ep: Endpoint, url: &str, why: &str) -> ApiError {
    ApiError::Fatal(ConnectorError::MalformedResponse(format!(
        "{}: the response to GET {} is not readable: {why}",
        ep.label,
        display_path(url)
    )))
}

/// Percent-encodes a query value (everything but RFC 3986 unreserved characters).
pub fn encode_query_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3);
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Builds `path?k=v&...` with encoded values.
pub fn url_with_query(path: &str, query: &[(&str, &str)]) -> String {
    let mut url = path.to_string();
    for (i, (k, v)) in query.iter().enumerate() {
        url.push(if i == 0 { '?' } else { '&' });
        url.push_str(k);
        url.push('=');
        url.push_str(&encode_query_value(v));
    }
    url
}

/// Percent-encodes a path segment (an id taken from a response).
pub fn encode_path_segment(segment: &str) -> String {
    encode_query_value(segment)
}

fn get_request(url: &str) -> Request {
    Request {
        method: Method::Get,
        url: url.to_string(),
        headers: vec![Header {
            name: "accept".into(),
            value: "application/json".into(),
        }],
        body: None,
    }
}

/// One page of a list endpoint.
#[derive(Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Elements that were not JSON objects of the expected shape.
    pub skipped: u64,
    pub next: Option<String>,
}

/// A whole list.
#[derive(Debug)]
pub struct Listing<T> {
    pub items: Vec<T>,
    pub skipped: u64,
    /// More items existed beyond `max_items`.
    pub truncated: bool,
}

/// How to walk a list.
#[derive(Debug, Clone, Copy, Default)]
pub struct ListOptions {
    /// Stop after this many items (the rest is not fetched).
    pub max_items: Option<usize>,
    /// Stop at an empty page even if it carries a `next` link (bounded log reads).
    pub stop_on_empty_page: bool,
}

/// Counters of what the client did.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClientStats {
    pub requests: u64,
    pub items: u64,
    pub skipped: u64,
}

/// An element type of a list endpoint: how one element of a page is read.
pub trait ListItem: DeserializeOwned {
    /// Reads one array element, all of it; `Ok(None)` counts it as skipped. Fails only on
    /// input that is not JSON. The default reads the element into a `Value`, skips it
    /// unless it is an object, then reads `Self` from it (`serde_json::from_value`) and
    /// skips it if that fails.
    fn read_element<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Self>, D::Error> {
        json::ViaValue::<Self>::new().deserialize(d)
    }
}

impl ListItem for models::User {}
impl ListItem for models::Factor {}
impl ListItem for models::Policy {}
impl ListItem for models::PolicyRule {}
impl ListItem for Value {}

impl ListItem for models::LogEvent {
    /// Straight from the input, with no `Value` in between (a System Log page is large);
    /// a non-object is skipped.
    fn read_element<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Self>, D::Error> {
        log_event::read_event(d)
    }
}

/// [`ListItem::read_element`] as a seed.
struct ItemSeed<T>(PhantomData<fn() -> T>);

impl<T> Clone for ItemSeed<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for ItemSeed<T> {}

impl<'de, T: ListItem> DeserializeSeed<'de> for ItemSeed<T> {
    type Value = Option<T>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<T>, D::Error> {
        T::read_element(d)
    }
}

fn list_result<T>(
    ep: Endpoint,
    url: &str,
    read: Result<Option<(Vec<T>, u64)>, serde_json::Error>,
) -> Result<(Vec<T>, u64), ApiError> {
    match read {
        Ok(Some(list)) => Ok(list),
        Ok(None) => Err(malformed(ep, url, "expected a JSON array")),
        Err(e) => Err(malformed(ep, url, &format!("not JSON ({e})"))),
    }
}

/// Parses a list body: a JSON array whose elements become `T`, each read by
/// [`ListItem::read_element`] (for System Log events, straight from the input); elements
/// it does not accept are skipped and counted. The page is never held as one `Value`
/// tree.
pub fn parse_page<T: ListItem>(
    ep: Endpoint,
    url: &str,
    body: &[u8],
) -> Result<(Vec<T>, u64), ApiError> {
    list_result(ep, url, json::read_array(body, ItemSeed::<T>(PhantomData)))
}

/// The Okta client.
pub struct OktaClient<'a> {
    transport: &'a mut dyn Transport,
    pub stats: ClientStats,
    /// Safety net against a server that never ends a list.
    pub max_pages: usize,
}

impl<'a> OktaClient<'a> {
    pub fn new(transport: &'a mut dyn Transport) -> Self {
        OktaClient {
            transport,
            stats: ClientStats::default(),
            max_pages: 100_000,
        }
    }

    fn page_from_response<T: ListItem>(
        &mut self,
        ep: Endpoint,
        url: &str,
        resp: Result<Response, HttpError>,
    ) -> Result<Page<T>, ApiError> {
        let resp = resp.map_err(|e| map_http_error(ep, url, e))?;
        check_status(ep, url, &resp)?;
        let (items, skipped) = parse_page(ep, url, &resp.body)?;
        self.stats.items += items.len() as u64;
        self.stats.skipped += skipped;
        Ok(Page {
            items,
            skipped,
            next: link::next_link(&resp.headers),
        })
    }

    /// One page of a list endpoint.
    pub fn get_page<T: ListItem>(&mut self, ep: Endpoint, url: &str) -> Result<Page<T>, ApiError> {
        self.stats.requests += 1;
        let resp = self.transport.send(get_request(url));
        self.page_from_response(ep, url, resp)
    }

    /// Every page of a list, following `rel="next"` verbatim until it is absent.
    /// `on_page` gets the running item count.
    /// Every element under `key` of an IAM list that pages in its body
    /// (`{"<key>": [...], "_links": {"next": {"href"}}}`), page after page.
    pub fn list_body(
        &mut self,
        ep: Endpoint,
        first_url: &str,
        key: &str,
    ) -> Result<Vec<Value>, ApiError> {
        let mut items = Vec::new();
        let mut next = Some(first_url.to_string());
        let mut pages = 0;
        while let Some(url) = next.take() {
            self.stats.requests += 1;
            let resp = self
                .transport
                .send(get_request(&url))
                .map_err(|e| map_http_error(ep, &url, e))?;
            check_status(ep, &url, &resp)?;
            let body: Value = serde_json::from_slice(&resp.body)
                .map_err(|e| malformed(ep, &url, &format!("not JSON ({e})")))?;
            let Some(list) = body.get(key).and_then(Value::as_array) else {
                return Err(malformed(ep, &url, &format!("no `{key}` array")));
            };
            self.stats.items += list.len() as u64;
            items.extend(list.iter().cloned());
            pages += 1;
            next = link::body_next_link(&body).filter(|n| *n != url && pages < self.max_pages);
        }
        Ok(items)
    }

    pub fn list_all<T: ListItem>(
        &mut self,
        ep: Endpoint,
        first_url: &str,
        opts: ListOptions,
        on_page: &mut dyn FnMut(u64),
    ) -> Result<Listing<T>, ApiError> {
        let first = self.get_page(ep, first_url)?;
        self.continue_list(ep, first_url, first, opts, on_page)
    }

    /// Every page of a list, like [`OktaClient::list_all`] with `stop_on_empty_page`,
    /// handing each page's items to `on_page` instead of keeping them, so a long list
    /// is never held whole. Returns how many elements were skipped as unreadable.
    pub fn for_each_page<T: ListItem>(
        &mut self,
        ep: Endpoint,
        first_url: &str,
        on_page: &mut dyn FnMut(Vec<T>),
    ) -> Result<u64, ApiError> {
        let mut url = first_url.to_string();
        let mut skipped = 0;
        let mut pages = 0;
        loop {
            let page = self.get_page::<T>(ep, &url)?;
            pages += 1;
            skipped += page.skipped;
            let empty = page.items.is_empty();
            on_page(page.items);
            let Some(next) = page.next else {
                return Ok(skipped);
            };
            if empty || next == url || pages >= self.max_pages {
                return Ok(skipped);
            }
            url = next;
        }
    }

    fn continue_list<T: ListItem>(
        &mut self,
        ep: Endpoint,
        first_url: &str,
        first: Page<T>,
        opts: ListOptions,
        on_page: &mut dyn FnMut(u64),
    ) -> Result<Listing<T>, ApiError> {
        let mut listing = Listing {
            items: Vec::new(),
            skipped: 0,
            truncated: false,
        };
        let mut page = first;
        let mut url = first_url.to_string();
        let mut pages = 1;
        loop {
            let empty = page.items.is_empty();
            listing.skipped += page.skipped;
            listing.items.extend(page.items);
            on_page(listing.items.len() as u64);
            if let Some(max) = opts.max_items {
                if listing.items.len() >= max {
                    listing.truncated = listing.items.len() > max || page.next.is_some();
                    listing.items.truncate(max);
                    return Ok(listing);
                }
            }
            let Some(next) = page.next else {
                return Ok(listing);
            };
            if (empty && opts.stop_on_empty_page) || next == url || pages >= self.max_pages {
                return Ok(listing);
            }
            page = self.get_page(ep, &next)?;
            url = next;
            pages += 1;
        }
    }

    /// Fetches many independent lists (one URL each), `batch_size` requests per
    /// `send_all` so the host can run them concurrently and paced; further pages, if a
    /// list has any, are followed one by one. `on_batch` gets (done, total).
    pub fn get_lists_batched<T: ListItem>(
        &mut self,
        ep: Endpoint,
        urls: &[String],
        batch_size: usize,
        follow_pages: bool,
        on_batch: &mut dyn FnMut(u64, u64),
    ) -> Result<Vec<Result<Vec<T>, ApiError>>, ConnectorError> {
        self.send_batched(
            ep,
            urls,
            batch_size,
            on_batch,
            |client, url, resp| match client.page_from_response::<T>(ep, url, resp) {
                Ok(page) if follow_pages && page.next.is_some() => client
                    .continue_list(ep, url, page, ListOptions::default(), &mut |_| {})
                    .map(|l| l.items),
                Ok(page) => Ok(page.items),
                Err(e) => Err(e),
            },
        )
    }

    /// Fetches many single objects (one URL each), `batch_size` requests per `send_all`
    /// so the host can run them concurrently and paced. `on_batch` gets (done, total).
    pub fn get_objects_batched<T: DeserializeOwned>(
        &mut self,
        ep: Endpoint,
        urls: &[String],
        batch_size: usize,
        on_batch: &mut dyn FnMut(u64, u64),
    ) -> Result<Vec<Result<T, ApiError>>, ConnectorError> {
        self.send_batched(ep, urls, batch_size, on_batch, |client, url, resp| {
            let result = resp
                .map_err(|e| map_http_error(ep, url, e))
                .and_then(|resp| {
                    check_status(ep, url, &resp)?;
                    serde_json::from_slice::<T>(&resp.body)
                        .map_err(|e| malformed(ep, url, &format!("not the object expected ({e})")))
                });
            if result.is_ok() {
                client.stats.items += 1;
            }
            result
        })
    }

    /// The loop both batched fetchers share: GETs `urls` `batch_size` at a time through
    /// one `send_all` each, hands every response to `each` with its URL, and reports
    /// (done, total) after each batch. A host that answers a batch with the wrong number
    /// of responses fails the whole call.
    fn send_batched<R>(
        &mut self,
        ep: Endpoint,
        urls: &[String],
        batch_size: usize,
        on_batch: &mut dyn FnMut(u64, u64),
        mut each: impl FnMut(&mut Self, &str, Result<Response, HttpError>) -> R,
    ) -> Result<Vec<R>, ConnectorError> {
        let total = urls.len() as u64;
        let mut results = Vec::with_capacity(urls.len());
        for chunk in urls.chunks(batch_size.max(1)) {
            let reqs: Vec<Request> = chunk.iter().map(|u| get_request(u)).collect();
            self.stats.requests += reqs.len() as u64;
            let responses = self.transport.send_all(reqs);
            if responses.len() != chunk.len() {
                return Err(ConnectorError::Other(format!(
                    "{}: the host returned {} responses for {} requests",
                    ep.label,
                    responses.len(),
                    chunk.len()
                )));
            }
            for (url, resp) in chunk.iter().zip(responses) {
                results.push(each(self, url, resp));
            }
            on_batch(results.len() as u64, total);
        }
        Ok(results)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses a list body the plain way: each element read into a `Value` and then into
    /// `T`; elements that are not objects, or that `T` does not accept, are
    /// skipped and counted. The elements are read one at a time: the page is never held as
    /// one `Value` tree.
    fn parse_list<T: DeserializeOwned>(
        ep: Endpoint,
        url: &str,
        body: &[u8],
    ) -> Result<(Vec<T>, u64), ApiError> {
        list_result(ep, url, json::read_array(body, json::ViaValue::<T>::new()))
    }

    #[test]
    fn query_values_are_encoded() {
        let cases = [
            ("status eq \"ACTIVE\"", "status%20eq%20%22ACTIVE%22"),
            ("2026-11-23T01:02:03.000Z", "2026-11-23T01%3A02%3A03.000Z"),
            ("a+b&c=d/é", "a%2Bb%26c%3Dd%2F%C3%A9"),
            ("plain-_.~09", "plain-_.~09"),
        ];
        for (raw, want) in cases {
            assert_eq!(encode_query_value(raw), want);
        }
        assert_eq!(
            url_with_query(
                "/api/v1/users",
                &[("filter", "status eq \"ACTIVE\""), ("limit", "200")]
            ),
            "/api/v1/users?filter=status%20eq%20%22ACTIVE%22&limit=200"
        );
    }

    fn resp(status: u16, body: &str) -> Response {
        Response {
            status,
            headers: vec![],
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn statuses_map_to_errors() {
        let e401 = r#"{"errorCode":"E0000011","errorSummary":"Invalid token provided","errorLink":"E0000011","errorId":"x","errorCauses":[]}"#;
        let e403 = r#"{"errorCode":"E0000006","errorSummary":"You do not have permission to perform the requested action","errorCauses":[]}"#;
        let e401f = r#"{"errorCode":"E0000015","errorSummary":"You do not have permission to access the feature you are requesting"}"#;
        let e429 = r#"{"errorCode":"E0000047","errorSummary":"API call exceeded rate limit due to too many requests."}"#;
        let url = "https://x.okta.com/api/v1/logs?limit=1000";

        assert!(check_status(LOGS, url, &resp(200, "[]")).is_ok());
        match check_status(USERS, "/api/v1/users?limit=1", &resp(401, e401)) {
            Err(ApiError::Fatal(ConnectorError::Unauthorized(m))) => {
                assert!(m.contains("E0000011"), "{m}");
                assert!(m.contains("expired after 30 days"), "{m}");
                assert!(m.contains("deactivated"), "{m}");
                assert!(m.contains("Mint a new API token"), "{m}");
            }
            other => panic!("{other:?}"),
        }
        match check_status(USERS, url, &resp(401, "not json")) {
            Err(ApiError::Fatal(ConnectorError::Unauthorized(_))) => {}
            other => panic!("{other:?}"),
        }
        match check_status(LOGS, url, &resp(403, e403)) {
            Err(ApiError::Forbidden(d)) => {
                let r = d.reason();
                assert!(
                    r.contains("okta.logs.read") && r.contains("E0000006"),
                    "{r}"
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            check_status(POLICIES, url, &resp(401, e401f)),
            Err(ApiError::Forbidden(_))
        ));
        assert!(matches!(
            check_status(FACTORS, url, &resp(404, "{}")),
            Err(ApiError::NotFound { .. })
        ));
        for (status, body) in [(429, e429), (500, "{}"), (503, ""), (400, "{}")] {
            match check_status(LOGS, url, &resp(status, body)) {
                Err(ApiError::Fatal(ConnectorError::Upstream(m))) => {
                    assert!(m.contains("/api/v1/logs"), "{m}");
                    assert!(m.contains(&status.to_string()), "{m}");
                    assert!(!m.contains("x.okta.com"), "{m}");
                }
                other => panic!("{status}: {other:?}"),
            }
        }
    }

    #[test]
    fn list_bodies() {
        let (items, skipped) =
            parse_list::<models::User>(USERS, "/u", br#"[{"id":"a"},"x",3,{"id":"b"}]"#)
                .unwrap_or_default();
        assert_eq!(items.len(), 2);
        assert_eq!(skipped, 2);
        for bad in [&b"{\"id\":1}"[..], b"<html>", b""] {
            match parse_list::<models::User>(FACTORS, "/api/v1/users/00u1/factors", bad) {
                Err(ApiError::Fatal(ConnectorError::MalformedResponse(m))) => {
                    assert!(m.contains("/api/v1/users/{id}/factors"), "{m}");
                    assert!(m.contains("/api/v1/users/00u1/factors"), "{m}");
                }
                other => panic!("{other:?}"),
            }
        }
    }

    /// The page parser before streaming: the whole body as one `Value`, then
    /// `from_value` per element.
    fn tree_list<T: DeserializeOwned>(
        ep: Endpoint,
        url: &str,
        body: &[u8],
    ) -> Result<(Vec<T>, u64), ApiError> {
        let value: Value = serde_json::from_slice(body)
            .map_err(|e| malformed(ep, url, &format!("not JSON ({e})")))?;
        let Value::Array(elements) = value else {
            return Err(malformed(ep, url, "expected a JSON array"));
        };
        let mut items = Vec::with_capacity(elements.len());
        let mut skipped = 0;
        for element in elements {
            if !element.is_object() {
                skipped += 1;
                continue;
            }
            match serde_json::from_value::<T>(element) {
                Ok(item) => items.push(item),
                Err(_) => skipped += 1,
            }
        }
        Ok((items, skipped))
    }

    fn same_lists<T: ListItem + PartialEq + std::fmt::Debug>(ep: Endpoint, bodies: &[&[u8]]) {
        let url = "https://x.okta.com/api/v1/x?limit=2";
        for body in bodies {
            let want = tree_list::<T>(ep, url, body);
            let text = String::from_utf8_lossy(body);
            assert_eq!(parse_list::<T>(ep, url, body), want, "parse_list {text}");
            assert_eq!(parse_page::<T>(ep, url, body), want, "parse_page {text}");
        }
    }

    #[test]
    fn streamed_lists_equal_the_value_tree() {
        let common: [&[u8]; 12] = [
            b"[]",
            br#"[{"id":"a"},"x",3,null,[],{"id":"b","id":"c"},{}]"#,
            br#"{"errorCode":"E0000001"}"#,
            b"<html>",
            b"",
            br#"[{"id":"a"},"#,
            br#"[{"id":"a"}] x"#,
            b"[{\"id\":\"\xff\"}]",
            br#"[{"id":"\ud800"}]"#,
            br#"[{"id":"a","n":1e400}]"#,
            br#"[{"id":"a","status":7,"profile":"x","name":null,"type":[1]}]"#,
            br#"[{"id":"a","actions":{"appSignOn":{"access":"ALLOW","verificationMethod":{"factorMode":"2FA"}}}},{"actions":"weird"}]"#,
        ];
        same_lists::<models::User>(USERS, &common);
        same_lists::<models::User>(
            USERS,
            &[br#"[{"id":"a","profile":{"login":"x","login":"y"}},{"profile":[1]}]"#],
        );
        same_lists::<models::Factor>(FACTORS, &common);
        same_lists::<models::Policy>(POLICIES, &common);
        same_lists::<models::PolicyRule>(POLICY_RULES, &common);
        same_lists::<Value>(APP_LINKS, &common);
        same_lists::<models::LogEvent>(LOGS, &common);
    }

    #[test]
    fn display_paths() {
        assert_eq!(
            display_path("https://a.okta.com/api/v1/users?x=1"),
            "/api/v1/users?x=1"
        );
        assert_eq!(display_path("/api/v1/logs"), "/api/v1/logs");
        assert_eq!(display_path("https://a.okta.com"), "/");
    }
}
