//! Following a paginated JSON list to its end: each page a JSON array, the next page
//! named by a `Link: <...>; rel="next"` header (see [`crate::link`]).

use crate::http::{Method, Request};
use crate::types::ConnectorError;
use crate::Transport;

/// Safety net against a server whose list never ends.
pub const MAX_PAGES: usize = 100_000;

/// A GET of `url` asking for JSON.
pub fn get(url: &str) -> Request {
    Request {
        method: Method::Get,
        url: url.to_string(),
        headers: vec![crate::http::Header {
            name: "accept".into(),
            value: "application/json".into(),
        }],
        body: None,
    }
}

/// Every element of the list that starts at `first_url`, page after page. A failed
/// request or a status other than 2xx is an `upstream` error, a page that is not a
/// JSON array a `malformed-response` one; each names the URL.
pub fn json_list(
    http: &mut dyn Transport,
    first_url: &str,
) -> Result<Vec<serde_json::Value>, ConnectorError> {
    let mut items = Vec::new();
    let mut next = Some(first_url.to_string());
    for _ in 0..MAX_PAGES {
        let Some(url) = next else { break };
        let resp = http
            .send(get(&url))
            .map_err(|e| ConnectorError::Upstream(format!("GET {url} failed: {e:?}")))?;
        if !(200..300).contains(&resp.status) {
            let why = format!("GET {url} answered HTTP {}", resp.status);
            return Err(ConnectorError::Upstream(why));
        }
        let page: Vec<serde_json::Value> = serde_json::from_slice(&resp.body).map_err(|e| {
            ConnectorError::MalformedResponse(format!("GET {url}: not a JSON array ({e})"))
        })?;
        items.extend(page);
        next = crate::link::next_link(&resp.headers).filter(|n| *n != url);
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::{json_response, FakeHttp};
    use crate::http::{HttpError, Response};

    #[test]
    fn follows_next_links_to_the_end() {
        let mut http = FakeHttp::new(|r: &Request| match r.url.as_str() {
            "/items" => Ok(json_response(
                "[1, 2]",
                &[("Link", "</items?p=2>; rel=\"next\"")],
            )),
            "/items?p=2" => Ok(json_response(
                "[3]",
                &[("link", "</items?p=2>; rel=\"self\"")],
            )),
            _ => Err(HttpError::Denied("no".into())),
        });
        let items = json_list(&mut http, "/items").expect("list");
        assert_eq!(items, vec![1, 2, 3]);
        assert_eq!(http.sent.len(), 2);
    }

    #[test]
    fn bad_pages_are_named() {
        let mut http = FakeHttp::new(|r: &Request| {
            Ok(match r.url.as_str() {
                "/bad" => json_response("{}", &[]),
                _ => Response {
                    status: 503,
                    headers: vec![],
                    body: vec![],
                },
            })
        });
        let e = json_list(&mut http, "/bad").expect_err("not an array");
        assert!(matches!(&e, ConnectorError::MalformedResponse(m) if m.contains("/bad")));
        let e = json_list(&mut http, "/down").expect_err("503");
        assert!(matches!(&e, ConnectorError::Upstream(m) if m.contains("HTTP 503")));
    }
}
