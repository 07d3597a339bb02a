//! Header policy: which request headers a connector may set, and size limits on
//! request and response headers.
//!
//! The host owns authentication, framing and connection management, so a guest
//! may not set `authorization` (the host adds it), credentials of its own
//! (`cookie`, `proxy-authorization`), or headers that control framing or the
//! connection (`host`, `content-length`, `transfer-encoding`, `connection` and
//! the other hop-by-hop headers). Names must be RFC 9110 tokens and values must
//! not contain control characters other than horizontal tab; counts and sizes are
//! bounded by [`HeaderLimits`]. Responses are checked for counts and sizes only.

/// Bounds on a header list. Total bytes count each name and value (not separators).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderLimits {
    pub max_count: usize,
    pub max_name_len: usize,
    pub max_value_len: usize,
    pub max_total_bytes: usize,
}

impl Default for HeaderLimits {
    fn default() -> Self {
        HeaderLimits {
            max_count: 64,
            max_name_len: 256,
            max_value_len: 8192,
            max_total_bytes: 65536,
        }
    }
}

/// Why a header list was refused. Values are never echoed (they may hold secrets).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// The guest tried to set `authorization`; the host adds it.
    #[error("connectors may not set the authorization header; the host adds it")]
    GuestAuthorization,
    /// A header the host controls (credentials, framing, hop-by-hop).
    #[error("header '{name}' is set by the host and may not be set by connectors")]
    Forbidden { name: String },
    /// The name is empty or not an RFC 9110 token.
    #[error("invalid header name {name:?}")]
    InvalidName { name: String },
    /// The value contains CR, LF, NUL or another control character.
    #[error("header '{name}' has a value with a control character")]
    InvalidValue { name: String },
    #[error("{count} headers, over the limit of {max}")]
    TooMany { count: usize, max: usize },
    #[error("header name of {len} bytes, over the limit of {max}")]
    NameTooLong { len: usize, max: usize },
    #[error("header '{name}' has a {len}-byte value, over the limit of {max}")]
    ValueTooLong {
        name: String,
        len: usize,
        max: usize,
    },
    #[error("headers total {total} bytes, over the limit of {max}")]
    TooLarge { total: usize, max: usize },
}

/// Request headers a connector may never set (lower case). `authorization` is
/// reported separately as [`HeaderError::GuestAuthorization`].
pub const FORBIDDEN_REQUEST_HEADERS: &[&str] = &[
    "proxy-authorization",
    "cookie",
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "te",
    "trailer",
    "upgrade",
    "http2-settings",
    "expect",
];

/// Checks a connector's request headers against the policy and `limits`.
pub fn check_request_headers(
    headers: &[(String, String)],
    limits: &HeaderLimits,
) -> Result<(), HeaderError> {
    check_sizes(headers, limits)?;
    for (name, value) in headers {
        if !is_token(name) {
            return Err(HeaderError::InvalidName { name: name.clone() });
        }
        if name.eq_ignore_ascii_case("authorization") {
            return Err(HeaderError::GuestAuthorization);
        }
        if FORBIDDEN_REQUEST_HEADERS
            .iter()
            .any(|f| name.eq_ignore_ascii_case(f))
        {
            return Err(HeaderError::Forbidden {
                name: name.to_ascii_lowercase(),
            });
        }
        if !is_clean_value(value) {
            return Err(HeaderError::InvalidValue { name: name.clone() });
        }
    }
    Ok(())
}

/// Checks an upstream response's headers against the count and size `limits`.
pub fn check_response_headers(
    headers: &[(String, String)],
    limits: &HeaderLimits,
) -> Result<(), HeaderError> {
    check_sizes(headers, limits)
}

fn check_sizes(headers: &[(String, String)], limits: &HeaderLimits) -> Result<(), HeaderError> {
    if headers.len() > limits.max_count {
        return Err(HeaderError::TooMany {
            count: headers.len(),
            max: limits.max_count,
        });
    }
    let mut total = 0usize;
    for (name, value) in headers {
        if name.len() > limits.max_name_len {
            return Err(HeaderError::NameTooLong {
                len: name.len(),
                max: limits.max_name_len,
            });
        }
        if value.len() > limits.max_value_len {
            return Err(HeaderError::ValueTooLong {
                name: name.clone(),
                len: value.len(),
                max: limits.max_value_len,
            });
        }
        total = total.saturating_add(name.len()).saturating_add(value.len());
    }
    if total > limits.max_total_bytes {
        return Err(HeaderError::TooLarge {
            total,
            max: limits.max_total_bytes,
        });
    }
    Ok(())
}

/// RFC 9110 `token`: one or more tchar.
fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'|'
                        | b'~'
                )
        })
}

/// No control characters except horizontal tab (so no CR, LF, NUL or DEL).
fn is_clean_value(value: &str) -> bool {
    value
        .bytes()
        .all(|b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    type Case = (&'static str, Vec<(String, String)>, Result<(), HeaderError>);

    fn forbidden(name: &str) -> Result<(), HeaderError> {
        Err(HeaderError::Forbidden { name: name.into() })
    }

    #[test]
    fn request_header_policy() {
        let cases: Vec<Case> = vec![
            ("none", h(&[]), Ok(())),
            (
                "ordinary",
                h(&[("Accept", "application/json"), ("User-Agent", "kri/0.1")]),
                Ok(()),
            ),
            ("tab in value", h(&[("X-A", "a\tb")]), Ok(())),
            ("utf-8 value", h(&[("X-A", "caf\u{e9}")]), Ok(())),
            ("empty value", h(&[("X-Empty", "")]), Ok(())),
            ("token punctuation", h(&[("X-!#$%&'*+.^_`|~", "v")]), Ok(())),
            (
                "authorization",
                h(&[("authorization", "SSWS x")]),
                Err(HeaderError::GuestAuthorization),
            ),
            (
                "Authorization",
                h(&[("Authorization", "Bearer x")]),
                Err(HeaderError::GuestAuthorization),
            ),
            (
                "AUTHORIZATION",
                h(&[("AUTHORIZATION", "x")]),
                Err(HeaderError::GuestAuthorization),
            ),
            (
                "aUtHoRiZaTiOn",
                h(&[("aUtHoRiZaTiOn", "x")]),
                Err(HeaderError::GuestAuthorization),
            ),
            (
                "authorization after fine ones",
                h(&[("Accept", "*/*"), ("Authorization", "x")]),
                Err(HeaderError::GuestAuthorization),
            ),
            (
                "authorization with trailing space",
                h(&[("Authorization ", "x")]),
                Err(HeaderError::InvalidName {
                    name: "Authorization ".into(),
                }),
            ),
            (
                "proxy-authorization",
                h(&[("Proxy-Authorization", "x")]),
                forbidden("proxy-authorization"),
            ),
            ("cookie", h(&[("Cookie", "sid=1")]), forbidden("cookie")),
            ("host", h(&[("Host", "evil.com")]), forbidden("host")),
            ("HOST", h(&[("HOST", "evil.com")]), forbidden("host")),
            (
                "content-length",
                h(&[("Content-Length", "0")]),
                forbidden("content-length"),
            ),
            (
                "transfer-encoding",
                h(&[("Transfer-Encoding", "chunked")]),
                forbidden("transfer-encoding"),
            ),
            (
                "connection",
                h(&[("Connection", "close")]),
                forbidden("connection"),
            ),
            (
                "keep-alive",
                h(&[("Keep-Alive", "timeout=5")]),
                forbidden("keep-alive"),
            ),
            (
                "proxy-connection",
                h(&[("Proxy-Connection", "keep-alive")]),
                forbidden("proxy-connection"),
            ),
            ("te", h(&[("TE", "trailers")]), forbidden("te")),
            ("trailer", h(&[("Trailer", "x")]), forbidden("trailer")),
            ("upgrade", h(&[("Upgrade", "h2c")]), forbidden("upgrade")),
            (
                "expect",
                h(&[("Expect", "100-continue")]),
                forbidden("expect"),
            ),
            (
                "empty name",
                h(&[("", "v")]),
                Err(HeaderError::InvalidName { name: "".into() }),
            ),
            (
                "space in name",
                h(&[("X A", "v")]),
                Err(HeaderError::InvalidName { name: "X A".into() }),
            ),
            (
                "colon in name",
                h(&[("X:A", "v")]),
                Err(HeaderError::InvalidName { name: "X:A".into() }),
            ),
            (
                "CRLF in name",
                h(&[("X-A\r\nHost", "v")]),
                Err(HeaderError::InvalidName {
                    name: "X-A\r\nHost".into(),
                }),
            ),
            (
                "non-ascii name",
                h(&[("X-\u{e9}", "v")]),
                Err(HeaderError::InvalidName {
                    name: "X-\u{e9}".into(),
                }),
            ),
            (
                "CRLF injection in value",
                h(&[("X-A", "v\r\nAuthorization: SSWS stolen")]),
                Err(HeaderError::InvalidValue { name: "X-A".into() }),
            ),
            (
                "LF in value",
                h(&[("X-A", "a\nb")]),
                Err(HeaderError::InvalidValue { name: "X-A".into() }),
            ),
            (
                "CR in value",
                h(&[("X-A", "a\rb")]),
                Err(HeaderError::InvalidValue { name: "X-A".into() }),
            ),
            (
                "NUL in value",
                h(&[("X-A", "a\0b")]),
                Err(HeaderError::InvalidValue { name: "X-A".into() }),
            ),
            (
                "DEL in value",
                h(&[("X-A", "a\u{7f}")]),
                Err(HeaderError::InvalidValue { name: "X-A".into() }),
            ),
        ];
        let limits = HeaderLimits::default();
        for (label, headers, want) in cases {
            assert_eq!(
                check_request_headers(&headers, &limits),
                want,
                "case {label}"
            );
        }
    }

    #[test]
    fn limits_apply_to_requests_and_responses() {
        let small = HeaderLimits {
            max_count: 3,
            max_name_len: 8,
            max_value_len: 10,
            max_total_bytes: 30,
        };
        let cases: Vec<Case> = vec![
            (
                "at every limit",
                h(&[("X-Aaaaaa", "0123456789"), ("X-B", "1"), ("X-C", "2")]),
                Ok(()),
            ),
            (
                "too many",
                h(&[("A", "1"), ("B", "2"), ("C", "3"), ("D", "4")]),
                Err(HeaderError::TooMany { count: 4, max: 3 }),
            ),
            (
                "name too long",
                h(&[("X-Aaaaaaa", "v")]),
                Err(HeaderError::NameTooLong { len: 9, max: 8 }),
            ),
            (
                "value too long",
                h(&[("X-A", "01234567890")]),
                Err(HeaderError::ValueTooLong {
                    name: "X-A".into(),
                    len: 11,
                    max: 10,
                }),
            ),
            (
                "total too large",
                h(&[("X-Aaaaaa", "0123456789"), ("X-Bbbbbb", "0123456789")]),
                Err(HeaderError::TooLarge { total: 36, max: 30 }),
            ),
        ];
        for (label, headers, want) in cases {
            assert_eq!(
                check_request_headers(&headers, &small),
                want,
                "request case {label}"
            );
            assert_eq!(
                check_response_headers(&headers, &small),
                want,
                "response case {label}"
            );
        }
    }

    #[test]
    fn responses_are_checked_for_size_only() {
        const CASES: &[(&str, &str)] = &[
            ("Set-Cookie", "sid=1"),
            ("Connection", "close"),
            ("Transfer-Encoding", "chunked"),
            ("Authorization", "x"),
        ];
        for (name, value) in CASES {
            let headers = h(&[(name, value)]);
            assert_eq!(
                check_response_headers(&headers, &HeaderLimits::default()),
                Ok(()),
                "case {name}"
            );
        }
    }

    #[test]
    fn defaults() {
        let d = HeaderLimits::default();
        let got = (
            d.max_count,
            d.max_name_len,
            d.max_value_len,
            d.max_total_bytes,
        );
        assert_eq!(got, (64, 256, 8192, 65536));
    }
}
