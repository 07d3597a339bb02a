//! Redaction: scrubbing tenant secrets from text and bodies before they are
//! logged, stored or handed back to a connector.
//!
//! Every occurrence of every secret is replaced with [`MARKER`]. Occurrences
//! that overlap or touch (two secrets sharing characters, a secret that repeats
//! into itself) are merged into one marker so that no fragment of a secret
//! survives between markers. Secrets shorter than [`MIN_SECRET_CHARS`]
//! characters are ignored: redacting them would shred ordinary text.

/// What each redacted span becomes.
pub const MARKER: &str = "[REDACTED]";

/// Secrets shorter than this (in characters) are not redacted.
pub const MIN_SECRET_CHARS: usize = 4;

/// Replaces every occurrence of each secret in `text` with [`MARKER`].
pub fn redact(text: &str, secrets: &[&str]) -> String {
    let bytes = redact_bytes(text.as_bytes(), secrets);
    // Secrets are valid UTF-8 and so is `text`, so every match starts and ends on
    // a character boundary and the result is valid UTF-8; lossy is only a guard.
    match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

/// Replaces every occurrence of each secret in `body` with [`MARKER`], for
/// response bodies that echo a credential.
pub fn redact_bytes(body: &[u8], secrets: &[&str]) -> Vec<u8> {
    let secrets: Vec<&[u8]> = secrets
        .iter()
        .filter(|s| s.chars().count() >= MIN_SECRET_CHARS)
        .map(|s| s.as_bytes())
        .collect();
    if secrets.is_empty() {
        return body.to_vec();
    }
    // Collect every match span, then merge overlapping or adjacent spans.
    let mut spans: Vec<(usize, usize)> = Vec::new();
    for secret in &secrets {
        let first = secret[0];
        let mut i = 0;
        while i + secret.len() <= body.len() {
            if body[i] == first && body[i..].starts_with(secret) {
                spans.push((i, i + secret.len()));
            }
            i += 1;
        }
    }
    if spans.is_empty() {
        return body.to_vec();
    }
    spans.sort_unstable();
    let mut out = Vec::with_capacity(body.len());
    let mut cursor = 0;
    let mut iter = spans.into_iter();
    let mut current = iter.next();
    while let Some((start, mut end)) = current {
        current = None;
        for (s, e) in iter.by_ref() {
            if s <= end {
                end = end.max(e);
            } else {
                current = Some((s, e));
                break;
            }
        }
        out.extend_from_slice(&body[cursor..start]);
        out.extend_from_slice(MARKER.as_bytes());
        cursor = end;
    }
    out.extend_from_slice(&body[cursor..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const CASES: &[(&str, &str, &[&str], &str)] = &[
        ("no secrets", "hello", &[], "hello"),
        ("no match", "hello world", &["s3cret"], "hello world"),
        (
            "one",
            "Authorization: SSWS 00abcDEF",
            &["00abcDEF"],
            "Authorization: SSWS [REDACTED]",
        ),
        (
            "every occurrence",
            "tok=abcd1234&again=abcd1234",
            &["abcd1234"],
            "tok=[REDACTED]&again=[REDACTED]",
        ),
        ("whole text", "abcd1234", &["abcd1234"], "[REDACTED]"),
        ("adjacent copies merge", "abcdabcd", &["abcd"], "[REDACTED]"),
        ("self-overlap merges", "aaaaa", &["aaaa"], "[REDACTED]"),
        (
            "two secrets",
            "user=alice1 pass=hunter22",
            &["alice1", "hunter22"],
            "user=[REDACTED] pass=[REDACTED]",
        ),
        (
            "secret inside a longer secret",
            "x longsecret y secret z",
            &["secret", "longsecret"],
            "x [REDACTED] y [REDACTED] z",
        ),
        (
            "overlapping secrets leave no fragment",
            "--abcdefgh--",
            &["abcdef", "defgh"],
            "--[REDACTED]--",
        ),
        (
            "short secrets ignored",
            "a abc abcd",
            &["abc", "a", ""],
            "a abc abcd",
        ),
        (
            "four chars is enough",
            "key=wxyz",
            &["wxyz"],
            "key=[REDACTED]",
        ),
        (
            "multibyte secret counts characters",
            "pw=\u{e9}\u{e9}\u{e9}\u{e9}!",
            &["\u{e9}\u{e9}\u{e9}\u{e9}"],
            "pw=[REDACTED]!",
        ),
        (
            "three multibyte chars too short",
            "pw=\u{e9}\u{e9}\u{e9}",
            &["\u{e9}\u{e9}\u{e9}"],
            "pw=\u{e9}\u{e9}\u{e9}",
        ),
        ("case sensitive", "ABCD1234", &["abcd1234"], "ABCD1234"),
        (
            "json echo",
            r#"{"error":"invalid token 00abcDEF"}"#,
            &["00abcDEF"],
            r#"{"error":"invalid token [REDACTED]"}"#,
        ),
        (
            "marker-looking secret",
            "[REDACTED]",
            &["REDACTED"],
            "[[REDACTED]]",
        ),
    ];

    #[test]
    fn text_table() {
        for (label, text, secrets, want) in CASES {
            assert_eq!(redact(text, secrets), *want, "case {label}");
        }
    }

    #[test]
    fn bytes_table() {
        for (label, text, secrets, want) in CASES {
            assert_eq!(
                redact_bytes(text.as_bytes(), secrets),
                want.as_bytes(),
                "case {label}"
            );
        }
    }

    #[test]
    fn non_utf8_bodies() {
        const BYTES: &[(&[u8], &[&str], &[u8])] = &[
            (
                b"\xff\xfeTOKEN99\xff",
                &["TOKEN99"],
                b"\xff\xfe[REDACTED]\xff",
            ),
            (b"\x00\x01\x02", &["TOKEN99"], b"\x00\x01\x02"),
            (b"", &["TOKEN99"], b""),
            (b"TOK", &["TOKEN99"], b"TOK"),
        ];
        for (body, secrets, want) in BYTES {
            assert_eq!(redact_bytes(body, secrets), *want, "case {body:?}");
        }
    }
}
