//! Rendering the `Authorization` header the host adds to a connector's requests.
//!
//! A tenant's auth scheme is a template such as `SSWS {token}` or
//! `Bearer {token}`; the host substitutes the secret for `{token}`. Both parts
//! are checked so that neither a bad template nor a bad secret can inject a
//! second header line. Errors never include the token.

/// The placeholder the token replaces.
pub const TOKEN_PLACEHOLDER: &str = "{token}";

/// Why an auth scheme or token cannot be rendered into a header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthSchemeError {
    #[error("auth scheme must contain {{token}}")]
    MissingPlaceholder,
    #[error("auth scheme must contain {{token}} only once (found {count})")]
    RepeatedPlaceholder { count: usize },
    #[error("auth scheme must be printable ASCII without CR or LF")]
    SchemeNotPrintable,
    #[error("token is empty")]
    EmptyToken,
    #[error("token contains a control character (CR, LF, NUL, ...)")]
    TokenControlCharacter,
}

/// Substitutes `token` into `scheme`, returning the header value.
pub fn render_authorization(scheme: &str, token: &str) -> Result<String, AuthSchemeError> {
    if !scheme.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
        return Err(AuthSchemeError::SchemeNotPrintable);
    }
    match scheme.matches(TOKEN_PLACEHOLDER).count() {
        0 => return Err(AuthSchemeError::MissingPlaceholder),
        1 => {}
        count => return Err(AuthSchemeError::RepeatedPlaceholder { count }),
    }
    if token.is_empty() {
        return Err(AuthSchemeError::EmptyToken);
    }
    if token.chars().any(char::is_control) {
        return Err(AuthSchemeError::TokenControlCharacter);
    }
    Ok(scheme.replacen(TOKEN_PLACEHOLDER, token, 1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use AuthSchemeError::*;

    const CASES: &[(&str, &str, Result<&str, AuthSchemeError>)] = &[
        ("SSWS {token}", "00abcDEF", Ok("SSWS 00abcDEF")),
        ("Bearer {token}", "eyJ.a.b", Ok("Bearer eyJ.a.b")),
        ("{token}", "raw", Ok("raw")),
        ("Token token={token}, v=1", "t", Ok("Token token=t, v=1")),
        // The token may itself contain braces; only the scheme's placeholder counts.
        ("SSWS {token}", "{token}", Ok("SSWS {token}")),
        ("SSWS", "t", Err(MissingPlaceholder)),
        ("SSWS {Token}", "t", Err(MissingPlaceholder)),
        ("SSWS {token", "t", Err(MissingPlaceholder)),
        ("", "t", Err(MissingPlaceholder)),
        ("{token}{token}", "t", Err(RepeatedPlaceholder { count: 2 })),
        (
            "SSWS {token} {token} {token}",
            "t",
            Err(RepeatedPlaceholder { count: 3 }),
        ),
        ("SSWS {token}\r\nX-Evil: 1", "t", Err(SchemeNotPrintable)),
        ("SSWS\n{token}", "t", Err(SchemeNotPrintable)),
        ("SSWS\t{token}", "t", Err(SchemeNotPrintable)),
        ("SSWS\0{token}", "t", Err(SchemeNotPrintable)),
        ("Bearer\u{a0}{token}", "t", Err(SchemeNotPrintable)),
        ("Bearer {token}\u{7f}", "t", Err(SchemeNotPrintable)),
        ("SSWS {token}", "", Err(EmptyToken)),
        (
            "SSWS {token}",
            "abc\r\nX-Evil: 1",
            Err(TokenControlCharacter),
        ),
        ("SSWS {token}", "abc\n", Err(TokenControlCharacter)),
        ("SSWS {token}", "abc\r", Err(TokenControlCharacter)),
        ("SSWS {token}", "a\0bc", Err(TokenControlCharacter)),
        ("SSWS {token}", "a\u{1b}bc", Err(TokenControlCharacter)),
    ];

    #[test]
    fn table() {
        for (scheme, token, want) in CASES {
            let got = render_authorization(scheme, token);
            assert_eq!(
                got.as_deref(),
                want.as_ref().map(|s| *s),
                "case {scheme:?} / {token:?}"
            );
        }
    }

    #[test]
    fn errors_never_contain_the_token() {
        let secret = "s3cr3t-t0ken";
        for scheme in ["SSWS", "{token}{token}", "SSWS\n{token}"] {
            let err = render_authorization(scheme, secret).unwrap_err();
            assert!(!err.to_string().contains(secret), "case {scheme:?}");
        }
    }
}
