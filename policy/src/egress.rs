//! Egress policy: a connector may only talk to its tenant's origin.
//!
//! The tenant's base URL fixes one [`Origin`] (scheme, host, port). A guest's
//! request URL is either a path such as `/api/v1/users?limit=200`, resolved
//! against that origin, or a full URL that must name exactly the same origin.
//! Everything else — other hosts and ports, other schemes, user info, `//host`,
//! backslashes, percent-encoded hosts, control characters, over-long URLs — is
//! refused before any network activity happens.
//!
//! A tenant's base URL is checked once more when the tenant is added
//! ([`check_base_url`]): it must be only an origin (a path, query or fragment would
//! be dropped silently), and an IP-literal host must pass the same address policy
//! ([`check_ip_literal_host`]) that the gateway applies to every request.

use std::fmt;
use std::net::IpAddr;

use url::Url;

/// The longest URL (in bytes) the host will send.
pub const MAX_URL_LEN: usize = 8192;

/// Why a URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EgressError {
    /// The tenant's base URL could not be parsed.
    #[error("invalid base URL: {reason}")]
    InvalidBaseUrl { reason: String },
    /// The requested URL could not be parsed or has an unusable shape.
    #[error("invalid request URL: {reason}")]
    InvalidUrl { reason: String },
    /// The URL is longer than [`MAX_URL_LEN`].
    #[error("URL is {len} bytes, over the {max}-byte limit")]
    TooLong { len: usize, max: usize },
    /// A control character (CR, LF, TAB, NUL, ...) or leading/trailing whitespace.
    #[error("URL contains a control character or surrounding whitespace")]
    BadCharacter,
    /// A backslash, which parsers disagree about (`/` or literal).
    #[error("URL contains a backslash")]
    Backslash,
    /// A `//host/...` URL, which would switch hosts.
    #[error("protocol-relative URLs (//host) are not allowed")]
    ProtocolRelative,
    /// Neither a path starting with `/` nor an absolute `http(s)://` URL.
    #[error("request URL must be a path starting with '/' or a full http(s) URL")]
    RelativePath,
    /// A scheme other than `http` or `https`.
    #[error("scheme '{scheme}' is not allowed (only http and https)")]
    UnsupportedScheme { scheme: String },
    /// Plain `http` while insecure transport is not allowed.
    #[error("plain http is not allowed for this tenant")]
    InsecureScheme,
    /// `http` vs `https` differs from the base URL.
    #[error("scheme '{scheme}' does not match the tenant's origin")]
    SchemeMismatch { scheme: String },
    /// `user:password@` (or any `@`) in the authority.
    #[error("URLs must not carry user info (user@host)")]
    UserInfo,
    /// A `%` in the authority: hosts must be written plainly.
    #[error("percent-encoded characters in the host are not allowed")]
    EncodedHost,
    /// No host in the URL.
    #[error("URL has no host")]
    MissingHost,
    /// A host other than the tenant's.
    #[error("host '{host}' is not the tenant's origin")]
    HostNotAllowed { host: String },
    /// A port other than the tenant's.
    #[error("port {port} is not the tenant's origin port")]
    PortNotAllowed { port: u16 },
    /// A base URL with more than scheme, host and port.
    #[error(
        "the base URL has a {part} (`{value}`); give only scheme://host[:port]: \
         connectors add their own paths, and kri would drop it"
    )]
    BaseUrlNotOrigin { part: &'static str, value: String },
    /// An IP-literal host that the address policy refuses.
    #[error("{ip}: {reason}")]
    DeniedAddress { ip: IpAddr, reason: String },
}

/// Scheme, host and port of the tenant's base URL: the only place a connector may reach.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    /// `http` or `https`, lower case.
    pub scheme: String,
    /// Lower-case host without a trailing dot; IPv6 addresses keep their brackets.
    pub host: String,
    /// Explicit or default port.
    pub port: u16,
}

impl Origin {
    /// Parses the tenant's base URL. Any path, query or fragment is ignored.
    pub fn from_base_url(base_url: &str) -> Result<Origin, EgressError> {
        check_characters(base_url)?;
        let (scheme, _) = split_scheme(base_url).ok_or_else(|| EgressError::InvalidBaseUrl {
            reason: "expected http(s)://host".into(),
        })?;
        let url = parse_absolute(base_url, &scheme).map_err(|e| match e {
            EgressError::InvalidUrl { reason } => EgressError::InvalidBaseUrl { reason },
            other => other,
        })?;
        origin_of(&url)
    }

    /// Whether `url` is on this origin (same scheme, host and port).
    pub fn matches(&self, url: &Url) -> bool {
        origin_of(url).is_ok_and(|o| &o == self)
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
    }
}

/// Checks a base URL for a new tenant: it must parse as an origin with nothing
/// after it (a trailing `/` is allowed), and, unless `allow_insecure_local`, an
/// IP-literal host must be one the gateway would connect to.
pub fn check_base_url(base_url: &str, allow_insecure_local: bool) -> Result<Origin, EgressError> {
    let origin = Origin::from_base_url(base_url)?;
    let url = Url::parse(base_url).map_err(|e| EgressError::InvalidBaseUrl {
        reason: e.to_string(),
    })?;
    if !matches!(url.path(), "" | "/") {
        return Err(EgressError::BaseUrlNotOrigin {
            part: "path",
            value: url.path().to_string(),
        });
    }
    if let Some(query) = url.query() {
        return Err(EgressError::BaseUrlNotOrigin {
            part: "query",
            value: format!("?{query}"),
        });
    }
    if let Some(fragment) = url.fragment() {
        return Err(EgressError::BaseUrlNotOrigin {
            part: "fragment",
            value: format!("#{fragment}"),
        });
    }
    if !allow_insecure_local {
        check_ip_literal_host(&origin.host)?;
    }
    Ok(origin)
}

/// When `host` is an IP literal (IPv6 in brackets or not), checks it against the
/// address policy of [`crate::ip::check_ip`]; a name passes (its addresses are
/// checked when it is resolved).
pub fn check_ip_literal_host(host: &str) -> Result<(), EgressError> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<IpAddr>() {
        Ok(ip) => crate::ip::check_ip(ip).map_err(|e| EgressError::DeniedAddress {
            ip,
            reason: e.to_string(),
        }),
        Err(_) => Ok(()),
    }
}

/// Resolves a guest's request URL against the tenant's base URL, refusing anything
/// that would leave the tenant's origin. `allow_insecure` permits plain `http`.
/// The fragment, which is never sent, is dropped.
pub fn resolve_request_url(
    base_url: &str,
    requested: &str,
    allow_insecure: bool,
) -> Result<Url, EgressError> {
    let origin = Origin::from_base_url(base_url)?;
    if origin.scheme == "http" && !allow_insecure {
        return Err(EgressError::InsecureScheme);
    }
    check_characters(requested)?;

    let mut url = if requested.starts_with("//") {
        return Err(EgressError::ProtocolRelative);
    } else if requested.starts_with('/') {
        Url::parse(&format!("{origin}{requested}")).map_err(|e| EgressError::InvalidUrl {
            reason: e.to_string(),
        })?
    } else {
        let (scheme, _) = split_scheme(requested).ok_or(EgressError::RelativePath)?;
        if scheme != "http" && scheme != "https" {
            return Err(EgressError::UnsupportedScheme { scheme });
        }
        if scheme == "http" && !allow_insecure {
            return Err(EgressError::InsecureScheme);
        }
        if scheme != origin.scheme {
            return Err(EgressError::SchemeMismatch { scheme });
        }
        parse_absolute(requested, &scheme)?
    };

    // Belt and braces: whatever path we took, the result must be on the origin.
    let got = origin_of(&url)?;
    if got.scheme != origin.scheme {
        return Err(EgressError::SchemeMismatch { scheme: got.scheme });
    }
    if got.host != origin.host {
        return Err(EgressError::HostNotAllowed { host: got.host });
    }
    if got.port != origin.port {
        return Err(EgressError::PortNotAllowed { port: got.port });
    }
    url.set_fragment(None);
    if url.host_str() != Some(origin.host.as_str()) {
        // Drop a trailing dot (and any other cosmetic difference) from the host.
        url.set_host(Some(&origin.host))
            .map_err(|e| EgressError::InvalidUrl {
                reason: e.to_string(),
            })?;
    }
    let len = url.as_str().len();
    if len > MAX_URL_LEN {
        return Err(EgressError::TooLong {
            len,
            max: MAX_URL_LEN,
        });
    }
    Ok(url)
}

/// Length, control characters, surrounding whitespace and backslashes.
fn check_characters(s: &str) -> Result<(), EgressError> {
    if s.len() > MAX_URL_LEN {
        return Err(EgressError::TooLong {
            len: s.len(),
            max: MAX_URL_LEN,
        });
    }
    if s.chars().any(char::is_control) || s.trim() != s {
        return Err(EgressError::BadCharacter);
    }
    if s.contains('\\') {
        return Err(EgressError::Backslash);
    }
    Ok(())
}

/// The lower-cased scheme of an absolute URL and the text after its `:`, if the
/// string starts with a syntactically valid scheme.
fn split_scheme(s: &str) -> Option<(String, &str)> {
    let colon = s.find(':')?;
    let scheme = &s[..colon];
    let mut chars = scheme.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    (first_ok && rest_ok).then(|| (scheme.to_ascii_lowercase(), &s[colon + 1..]))
}

/// Parses `scheme://authority/...` after checking the raw authority ourselves, so
/// that the URL parser's lenient repairs (`https:host`, `https:///host`, `%xx`
/// hosts, `a@b`) can never change which host we talk to.
fn parse_absolute(s: &str, scheme: &str) -> Result<Url, EgressError> {
    if scheme != "http" && scheme != "https" {
        return Err(EgressError::UnsupportedScheme {
            scheme: scheme.to_string(),
        });
    }
    let after_scheme = &s[scheme.len() + 1..];
    let rest = after_scheme
        .strip_prefix("//")
        .ok_or_else(|| EgressError::InvalidUrl {
            reason: "absolute URLs must have the form scheme://host/...".into(),
        })?;
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    if authority.is_empty() {
        return Err(EgressError::MissingHost);
    }
    if authority.contains('@') {
        return Err(EgressError::UserInfo);
    }
    if authority.contains('%') {
        return Err(EgressError::EncodedHost);
    }
    let url = Url::parse(s).map_err(|e| EgressError::InvalidUrl {
        reason: e.to_string(),
    })?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(EgressError::UserInfo);
    }
    Ok(url)
}

/// The normalised origin of a parsed URL.
fn origin_of(url: &Url) -> Result<Origin, EgressError> {
    let scheme = url.scheme().to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err(EgressError::UnsupportedScheme { scheme });
    }
    let host = url.host_str().ok_or(EgressError::MissingHost)?;
    let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    if host.is_empty() {
        return Err(EgressError::MissingHost);
    }
    let port = url
        .port_or_known_default()
        .ok_or(EgressError::MissingHost)?;
    Ok(Origin { scheme, host, port })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_of_new_tenants() {
        let not_origin = |part, value: &str| {
            Err(EgressError::BaseUrlNotOrigin {
                part,
                value: value.into(),
            })
        };
        let denied = |ip: &str, reason: &str| {
            Err(EgressError::DeniedAddress {
                ip: ip.parse().expect("ip"),
                reason: reason.into(),
            })
        };
        let cases: &[(&str, bool, Result<(), EgressError>)] = &[
            ("https://acme.okta.com", false, Ok(())),
            ("https://acme.okta.com/", false, Ok(())),
            ("https://acme.okta.com:8443", false, Ok(())),
            (
                "https://acme.okta.com/proxy",
                false,
                not_origin("path", "/proxy"),
            ),
            (
                "https://x.okta.com/proxy?k=1#f",
                false,
                not_origin("path", "/proxy"),
            ),
            ("https://x.okta.com?k=1", false, not_origin("query", "?k=1")),
            ("https://x.okta.com/?", false, not_origin("query", "?")),
            ("https://x.okta.com#f", false, not_origin("fragment", "#f")),
            (
                "https://127.0.0.1",
                false,
                denied("127.0.0.1", "loopback address"),
            ),
            (
                "https://10.1.2.3:8443",
                false,
                denied("10.1.2.3", "private address"),
            ),
            (
                "https://169.254.169.254",
                false,
                denied("169.254.169.254", "cloud metadata address"),
            ),
            ("https://[::1]", false, denied("::1", "loopback address")),
            ("http://127.0.0.1:8080", true, Ok(())),
            ("https://93.184.215.14", false, Ok(())),
            ("https://localhost", false, Ok(())),
            (
                "ftp://acme.okta.com",
                false,
                Err(EgressError::UnsupportedScheme {
                    scheme: "ftp".into(),
                }),
            ),
        ];
        for (url, allow, want) in cases {
            assert_eq!(
                check_base_url(url, *allow).map(|_| ()),
                *want,
                "case {url} (allow insecure local: {allow})"
            );
        }
        assert_eq!(
            check_base_url("https://169.254.169.254", false).map_err(|e| e.to_string()),
            Err("169.254.169.254: cloud metadata address".to_string())
        );
    }

    fn err_host(h: &str) -> Result<String, EgressError> {
        Err(EgressError::HostNotAllowed { host: h.into() })
    }

    #[test]
    fn origin_from_base_url() {
        type Case = (
            &'static str,
            Result<(&'static str, &'static str, u16), EgressError>,
        );
        let cases: Vec<Case> = vec![
            ("https://acme.okta.com", Ok(("https", "acme.okta.com", 443))),
            (
                "https://acme.okta.com/",
                Ok(("https", "acme.okta.com", 443)),
            ),
            (
                "https://acme.okta.com/some/path?q=1#f",
                Ok(("https", "acme.okta.com", 443)),
            ),
            ("http://localhost:8080", Ok(("http", "localhost", 8080))),
            (
                "HTTPS://Acme.Okta.COM.",
                Ok(("https", "acme.okta.com", 443)),
            ),
            (
                "https://acme.okta.com:443",
                Ok(("https", "acme.okta.com", 443)),
            ),
            ("http://127.0.0.1:9000/x", Ok(("http", "127.0.0.1", 9000))),
            ("https://[::1]:8443/", Ok(("https", "[::1]", 8443))),
            (
                "ftp://acme.okta.com",
                Err(EgressError::UnsupportedScheme {
                    scheme: "ftp".into(),
                }),
            ),
            (
                "file:///etc/passwd",
                Err(EgressError::UnsupportedScheme {
                    scheme: "file".into(),
                }),
            ),
            ("https://u:p@acme.okta.com", Err(EgressError::UserInfo)),
            ("https://u@acme.okta.com", Err(EgressError::UserInfo)),
            ("https://%61cme.okta.com", Err(EgressError::EncodedHost)),
            ("https://", Err(EgressError::MissingHost)),
            (
                "acme.okta.com",
                Err(EgressError::InvalidBaseUrl {
                    reason: "expected http(s)://host".into(),
                }),
            ),
            ("https://acme.okta.com\n", Err(EgressError::BadCharacter)),
            (" https://acme.okta.com", Err(EgressError::BadCharacter)),
            ("https://acme.okta.com\\x", Err(EgressError::Backslash)),
        ];
        for (base, want) in cases {
            let got = Origin::from_base_url(base);
            let want = want.map(|(s, h, p)| Origin {
                scheme: s.into(),
                host: h.into(),
                port: p,
            });
            assert_eq!(got, want, "case {base:?}");
        }
    }

    #[test]
    fn origin_display_and_matches() {
        let o = Origin::from_base_url("https://acme.okta.com").unwrap();
        assert_eq!(o.to_string(), "https://acme.okta.com:443");
        const CASES: &[(&str, bool)] = &[
            ("https://acme.okta.com/api", true),
            ("https://ACME.okta.com.:443/api", true),
            ("https://acme.okta.com:444/api", false),
            ("http://acme.okta.com/api", false),
            ("https://evil.com/api", false),
        ];
        for (u, want) in CASES {
            let url = Url::parse(u).unwrap();
            assert_eq!(o.matches(&url), *want, "case {u:?}");
        }
    }

    const BASE: &str = "https://acme.okta.com";

    #[test]
    fn resolve_against_https_base() {
        let long_path = format!("/{}", "a".repeat(MAX_URL_LEN));
        let long_query = format!("/x?{}", "b".repeat(MAX_URL_LEN - 40));
        // Expands to > MAX_URL_LEN only after percent-encoding.
        let expands = format!("/{}", "\"".repeat(MAX_URL_LEN / 2));
        let cases: Vec<(&str, Result<String, EgressError>)> = vec![
            // Allowed.
            (
                "/api/v1/users?limit=200",
                Ok("https://acme.okta.com/api/v1/users?limit=200".into()),
            ),
            ("/", Ok("https://acme.okta.com/".into())),
            (
                "/api/v1/logs#frag",
                Ok("https://acme.okta.com/api/v1/logs".into()),
            ),
            (
                "https://acme.okta.com/api/v1/users?after=00u1&limit=200",
                Ok("https://acme.okta.com/api/v1/users?after=00u1&limit=200".into()),
            ),
            (
                "HTTPS://ACME.OKTA.COM/api",
                Ok("https://acme.okta.com/api".into()),
            ),
            (
                "https://acme.okta.com./api",
                Ok("https://acme.okta.com/api".into()),
            ),
            (
                "https://acme.okta.com:443/ok",
                Ok("https://acme.okta.com/ok".into()),
            ),
            ("https://acme.okta.com", Ok("https://acme.okta.com/".into())),
            (
                "https://acme.okta.com?x=1",
                Ok("https://acme.okta.com/?x=1".into()),
            ),
            // Tricks that stay on the origin because they are only paths.
            ("/@evil.com", Ok("https://acme.okta.com/@evil.com".into())),
            (
                "/%2F%2Fevil.com/x",
                Ok("https://acme.okta.com/%2F%2Fevil.com/x".into()),
            ),
            (
                "/../../etc/passwd",
                Ok("https://acme.okta.com/etc/passwd".into()),
            ),
            ("/a b", Ok("https://acme.okta.com/a%20b".into())),
            ("/:evil.com", Ok("https://acme.okta.com/:evil.com".into())),
            // Other hosts.
            ("https://evil.com/x", err_host("evil.com")),
            (
                "https://acme.okta.com.evil.com/",
                err_host("acme.okta.com.evil.com"),
            ),
            ("https://evil.com#@acme.okta.com", err_host("evil.com")),
            ("https://evil.com?@acme.okta.com", err_host("evil.com")),
            ("https://evil.com/@acme.okta.com", err_host("evil.com")),
            ("https://okta.com/", err_host("okta.com")),
            ("https://other.okta.com/", err_host("other.okta.com")),
            ("https://127.0.0.1/", err_host("127.0.0.1")),
            ("https://0x7f000001/", err_host("127.0.0.1")),
            ("https://2130706433/", err_host("127.0.0.1")),
            (
                "https://169.254.169.254/latest/meta-data",
                err_host("169.254.169.254"),
            ),
            ("https://[::1]/", err_host("[::1]")),
            // Cyrillic 'а' homograph: punycode differs.
            (
                "https://\u{430}cme.okta.com/",
                err_host("xn--cme-5cd.okta.com"),
            ),
            // Protocol-relative and scheme-shape tricks.
            ("//evil.com/x", Err(EgressError::ProtocolRelative)),
            ("///evil.com/x", Err(EgressError::ProtocolRelative)),
            (
                "https:evil.com",
                Err(EgressError::InvalidUrl {
                    reason: "absolute URLs must have the form scheme://host/...".into(),
                }),
            ),
            (
                "https:/evil.com",
                Err(EgressError::InvalidUrl {
                    reason: "absolute URLs must have the form scheme://host/...".into(),
                }),
            ),
            ("https:///evil.com", Err(EgressError::MissingHost)),
            ("https://", Err(EgressError::MissingHost)),
            // User info and '@' tricks.
            (
                "https://acme.okta.com@evil.com/",
                Err(EgressError::UserInfo),
            ),
            (
                "https://user:pass@acme.okta.com/",
                Err(EgressError::UserInfo),
            ),
            ("https://user@acme.okta.com/", Err(EgressError::UserInfo)),
            ("https://@acme.okta.com/", Err(EgressError::UserInfo)),
            (
                "https://acme.okta.com%2f@evil.com",
                Err(EgressError::UserInfo),
            ),
            (
                "https://acme.okta.com:443@evil.com",
                Err(EgressError::UserInfo),
            ),
            // Percent-encoded hosts.
            ("https://%65vil.com/", Err(EgressError::EncodedHost)),
            ("https://acme%2eokta.com/", Err(EgressError::EncodedHost)),
            ("https://%61cme.okta.com/", Err(EgressError::EncodedHost)),
            (
                "https://acme.okta.com%2fevil.com/",
                Err(EgressError::EncodedHost),
            ),
            // Backslashes.
            ("/\\evil.com", Err(EgressError::Backslash)),
            ("\\\\evil.com\\x", Err(EgressError::Backslash)),
            (
                "https://evil.com\\@acme.okta.com/",
                Err(EgressError::Backslash),
            ),
            (
                "https://acme.okta.com\\.evil.com/",
                Err(EgressError::Backslash),
            ),
            ("/api\\..\\..\\x", Err(EgressError::Backslash)),
            // Control characters and whitespace.
            ("/api\r\nHost: evil.com", Err(EgressError::BadCharacter)),
            ("/api\0", Err(EgressError::BadCharacter)),
            (
                "https://acme.okta.com\t.evil.com/",
                Err(EgressError::BadCharacter),
            ),
            ("https://ev\nil.com/", Err(EgressError::BadCharacter)),
            (" https://evil.com", Err(EgressError::BadCharacter)),
            ("/api ", Err(EgressError::BadCharacter)),
            ("/api\u{7f}", Err(EgressError::BadCharacter)),
            // Ports.
            (
                "https://acme.okta.com:8443/",
                Err(EgressError::PortNotAllowed { port: 8443 }),
            ),
            (
                "https://acme.okta.com:80/",
                Err(EgressError::PortNotAllowed { port: 80 }),
            ),
            (
                "https://acme.okta.com:22/",
                Err(EgressError::PortNotAllowed { port: 22 }),
            ),
            // Schemes.
            ("http://acme.okta.com/", Err(EgressError::InsecureScheme)),
            ("HTTP://acme.okta.com/", Err(EgressError::InsecureScheme)),
            (
                "file:///etc/passwd",
                Err(EgressError::UnsupportedScheme {
                    scheme: "file".into(),
                }),
            ),
            (
                "data:text/plain,hi",
                Err(EgressError::UnsupportedScheme {
                    scheme: "data".into(),
                }),
            ),
            (
                "gopher://acme.okta.com:70/",
                Err(EgressError::UnsupportedScheme {
                    scheme: "gopher".into(),
                }),
            ),
            (
                "javascript:alert(1)",
                Err(EgressError::UnsupportedScheme {
                    scheme: "javascript".into(),
                }),
            ),
            (
                "ws://acme.okta.com/",
                Err(EgressError::UnsupportedScheme {
                    scheme: "ws".into(),
                }),
            ),
            // Not a path, not an absolute URL.
            ("api/v1/users", Err(EgressError::RelativePath)),
            ("evil.com/x", Err(EgressError::RelativePath)),
            ("?limit=1", Err(EgressError::RelativePath)),
            ("", Err(EgressError::RelativePath)),
            ("1http://evil.com", Err(EgressError::RelativePath)),
            // Length.
            (
                &long_path,
                Err(EgressError::TooLong {
                    len: MAX_URL_LEN + 1,
                    max: MAX_URL_LEN,
                }),
            ),
            (
                &long_query,
                Ok(format!("https://acme.okta.com{long_query}")),
            ),
        ];
        for (requested, want) in cases {
            let got = resolve_request_url(BASE, requested, false).map(|u| u.to_string());
            assert_eq!(got, want, "case {requested:?}");
        }
        assert!(
            matches!(
                resolve_request_url(BASE, &expands, false),
                Err(EgressError::TooLong { .. })
            ),
            "percent-encoding expansion must be measured after resolution"
        );
    }

    #[test]
    fn resolve_schemes_and_insecure() {
        type Case = (
            &'static str,
            &'static str,
            bool,
            Result<&'static str, EgressError>,
        );
        let mismatch = |s: &str| Err(EgressError::SchemeMismatch { scheme: s.into() });
        let cases: Vec<Case> = vec![
            (
                "http://localhost:8080",
                "/api",
                true,
                Ok("http://localhost:8080/api"),
            ),
            (
                "http://localhost:8080",
                "/api",
                false,
                Err(EgressError::InsecureScheme),
            ),
            (
                "http://localhost:8080",
                "http://localhost:8080/x",
                true,
                Ok("http://localhost:8080/x"),
            ),
            (
                "http://localhost:8080",
                "http://localhost:8080/x",
                false,
                Err(EgressError::InsecureScheme),
            ),
            (
                "http://localhost:8080",
                "http://localhost:8081/x",
                true,
                Err(EgressError::PortNotAllowed { port: 8081 }),
            ),
            (
                "http://localhost:8080",
                "http://localhost/x",
                true,
                Err(EgressError::PortNotAllowed { port: 80 }),
            ),
            (
                "http://localhost:8080/base/path",
                "/api",
                true,
                Ok("http://localhost:8080/api"),
            ),
            (
                "https://acme.okta.com",
                "http://acme.okta.com/x",
                true,
                mismatch("http"),
            ),
            (
                "http://acme.okta.com",
                "https://acme.okta.com/x",
                true,
                mismatch("https"),
            ),
            (
                "https://acme.okta.com",
                "/x",
                true,
                Ok("https://acme.okta.com/x"),
            ),
            (
                "https://acme.okta.com.",
                "/x",
                false,
                Ok("https://acme.okta.com/x"),
            ),
            (
                "https://[::1]:8443",
                "https://[::1]:8443/x",
                false,
                Ok("https://[::1]:8443/x"),
            ),
            (
                "https://[::1]:8443",
                "/x",
                false,
                Ok("https://[::1]:8443/x"),
            ),
            (
                "ftp://acme.okta.com",
                "/x",
                true,
                Err(EgressError::UnsupportedScheme {
                    scheme: "ftp".into(),
                }),
            ),
            (
                "https://u@acme.okta.com",
                "/x",
                true,
                Err(EgressError::UserInfo),
            ),
        ];
        for (base, requested, insecure, want) in cases {
            let got = resolve_request_url(base, requested, insecure).map(|u| u.to_string());
            assert_eq!(
                got,
                want.map(String::from),
                "case {base:?} + {requested:?} (insecure={insecure})"
            );
        }
    }
}
