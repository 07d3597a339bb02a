//! Test helpers: a tiny raw HTTP/1.1 client over tokio's TcpStream (one request per
//! connection), response parsing (status, repeated headers, chunked bodies) and Link
//! header parsing, plus a fixed data clock for orgs.

#![allow(dead_code)]

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// 2026-11-23T02:00:00.000Z: the data clock every test org uses.
pub const NOW_MS: i64 = 1_795_399_200_000;

/// A parsed HTTP response.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first value of a header (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a header, one per header line.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The body as JSON (panics with the body text when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The URL of the `link` header with `rel="<rel>"`.
    pub fn link(&self, rel: &str) -> Option<String> {
        let wanted = format!("rel=\"{rel}\"");
        self.header_all("link").into_iter().find_map(|v| {
            let (url, params) = v.split_once(';')?;
            if params.trim() != wanted {
                return None;
            }
            Some(
                url.trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_string(),
            )
        })
    }

    /// A numeric header.
    pub fn header_i64(&self, name: &str) -> i64 {
        self.header(name)
            .unwrap_or_else(|| panic!("missing header {name}"))
            .parse()
            .unwrap_or_else(|_| panic!("header {name} is not a number"))
    }
}

/// `GET url` with `Authorization: SSWS <token>` when a token is given.
pub async fn get(url: &str, token: Option<&str>) -> HttpResponse {
    let auth = token.map(|t| format!("SSWS {t}"));
    get_with_auth(url, auth.as_deref()).await
}

/// `GET url` with a raw `Authorization` header value.
pub async fn get_with_auth(url: &str, authorization: Option<&str>) -> HttpResponse {
    request("GET", url, authorization).await
}

/// Sends one request and reads the whole response.
pub async fn request(method: &str, url: &str, authorization: Option<&str>) -> HttpResponse {
    let parsed = url::Url::parse(url).expect("valid URL");
    let host = parsed.host_str().expect("host");
    let port = parsed.port().expect("explicit port");
    let mut target = parsed.path().to_string();
    if let Some(q) = parsed.query() {
        target.push('?');
        target.push_str(q);
    }
    let mut stream = TcpStream::connect((host, port)).await.expect("connect");
    let mut req = format!("{method} {target} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: application/json\r\nConnection: close\r\n");
    if let Some(a) = authorization {
        req.push_str(&format!("Authorization: {a}\r\n"));
    }
    req.push_str("\r\n");
    stream
        .write_all(req.as_bytes())
        .await
        .expect("write request");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read response");
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> HttpResponse {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of headers");
    let head = std::str::from_utf8(&raw[..split]).expect("ASCII headers");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().expect("status line");
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .expect("status code")
        .parse()
        .expect("numeric status");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    if chunked {
        body = dechunk(&body);
    }
    HttpResponse {
        status,
        headers,
        body,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("chunk size line");
        let size_text = std::str::from_utf8(&data[..line_end]).expect("chunk size");
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("0").trim(), 16)
            .expect("hex size");
        data = &data[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

/// Follows `rel="next"` links from `url`, returning every page (stops after `max` pages).
pub async fn walk(url: &str, token: &str, max: usize) -> Vec<HttpResponse> {
    let mut pages = Vec::new();
    let mut next = Some(url.to_string());
    while let Some(u) = next {
        let page = get(&u, Some(token)).await;
        assert_eq!(
            page.status,
            200,
            "GET {u}: {}",
            String::from_utf8_lossy(&page.body)
        );
        next = page.link("next");
        pages.push(page);
        if pages.len() >= max {
            break;
        }
    }
    pages
}
