//! Redaction: scrubbing tenant secrets from text and bodies before they are
//! logged, stored or handed back to a connector.
//!
//! Every occurrence of every secret is replaced with [`MARKER`]. Occurrences
//! that overlap or touch (two secrets sharing characters, a secret that repeats
//! into itself) are merged into one marker so that no fragment of a secret
//! survives between markers. A secret is also found when an upstream echoes it
//! JSON-escaped, any of its characters written as an escape (`\/`, `\"`,
//! `\\`, `\u0041`, a surrogate pair, ...). Secrets shorter than
//! [`MIN_SECRET_CHARS`] characters are ignored: redacting them would shred
//! ordinary text, which is why a tenant's token must have at least
//! [`MIN_TOKEN_CHARS`].

/// What each redacted span becomes.
pub const MARKER: &str = "[REDACTED]";

/// Secrets shorter than this (in characters) are not redacted.
pub const MIN_SECRET_CHARS: usize = 4;

/// The shortest token kri accepts for a tenant: shorter ones are no real API
/// token, and could not be redacted without shredding ordinary text.
pub const MIN_TOKEN_CHARS: usize = 8;

/// Refuses a token shorter than [`MIN_TOKEN_CHARS`] characters.
pub fn check_token_length(token: &str) -> Result<(), TokenTooShort> {
    let chars = token.chars().count();
    if chars < MIN_TOKEN_CHARS {
        return Err(TokenTooShort { chars });
    }
    Ok(())
}

/// A token too short to be redacted safely.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "the token has {chars} characters; kri needs at least {MIN_TOKEN_CHARS}, so that it \
     can redact the token wherever an upstream echoes it: pass the whole token"
)]
pub struct TokenTooShort {
    pub chars: usize,
}

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
/// response bodies that echo a credential (plainly or JSON-escaped).
pub fn redact_bytes(body: &[u8], secrets: &[&str]) -> Vec<u8> {
    let secrets: Vec<&str> = secrets
        .iter()
        .copied()
        .filter(|s| s.chars().count() >= MIN_SECRET_CHARS)
        .collect();
    if secrets.is_empty() {
        return body.to_vec();
    }
    // Collect every match span, then merge overlapping or adjacent spans.
    let mut spans: Vec<(usize, usize)> = Vec::new();
    for secret in &secrets {
        let first = secret.as_bytes()[0];
        for i in 0..body.len() {
            if body[i] == first || body[i] == b'\\' {
                if let Some(end) = match_from(body, i, secret) {
                    spans.push((i, end));
                }
            }
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

/// Where the occurrence of `secret` that starts at `body[pos]` ends, each of its
/// characters written literally or as a JSON escape.
fn match_from(body: &[u8], pos: usize, secret: &str) -> Option<usize> {
    let Some(c) = secret.chars().next() else {
        return Some(pos);
    };
    let rest = &secret[c.len_utf8()..];
    let mut utf8 = [0u8; 4];
    let literal = c.encode_utf8(&mut utf8).as_bytes();
    if body.get(pos..)?.starts_with(literal) {
        if let Some(end) = match_from(body, pos + literal.len(), rest) {
            return Some(end);
        }
    }
    // A backslash in the secret matches both ways, so the escape is tried too.
    match json_escape_at(body, pos) {
        Some((decoded, len)) if decoded == c => match_from(body, pos + len, rest),
        _ => None,
    }
}

/// The character a JSON string escape at `body[pos]` stands for, and its length.
fn json_escape_at(body: &[u8], pos: usize) -> Option<(char, usize)> {
    if *body.get(pos)? != b'\\' {
        return None;
    }
    let simple = match *body.get(pos + 1)? {
        b'"' => '"',
        b'\\' => '\\',
        b'/' => '/',
        b'b' => '\u{8}',
        b'f' => '\u{c}',
        b'n' => '\n',
        b'r' => '\r',
        b't' => '\t',
        b'u' => {
            let unit = hex4(body, pos + 2)?;
            if !(0xD800..0xDC00).contains(&unit) {
                return Some((char::from_u32(unit)?, 6));
            }
            // A high surrogate: the character needs the low half that follows.
            if body.get(pos + 6..pos + 8)? != b"\\u" {
                return None;
            }
            let low = hex4(body, pos + 8)?;
            if !(0xDC00..0xE000).contains(&low) {
                return None;
            }
            let c = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
            return Some((char::from_u32(c)?, 12));
        }
        _ => return None,
    };
    Some((simple, 2))
}

/// Four hex digits at `body[pos]`, as a number.
fn hex4(body: &[u8], pos: usize) -> Option<u32> {
    let digits = std::str::from_utf8(body.get(pos..pos + 4)?).ok()?;
    if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(digits, 16).ok()
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
        (
            "json echo with an escaped slash",
            r#"{"error":"invalid token ab\/cd+ef"}"#,
            &["ab/cd+ef"],
            r#"{"error":"invalid token [REDACTED]"}"#,
        ),
        (
            "json echo with unicode escapes",
            r#"{"t":"\u0061b/\u002Fcd+ef"}"#,
            &["ab//cd+ef"],
            r#"{"t":"[REDACTED]"}"#,
        ),
        (
            "json echo of quotes and backslashes",
            r#"{"t":"a\"b\\c\"d"}"#,
            &["a\"b\\c\"d"],
            r#"{"t":"[REDACTED]"}"#,
        ),
        (
            "json echo with a surrogate pair",
            r#"{"t":"key\ud83d\ude00key"}"#,
            &["key\u{1f600}key"],
            r#"{"t":"[REDACTED]"}"#,
        ),
        (
            "escape of another character is no match",
            r#"ab\/cd+eg ab\u002"#,
            &["ab/cd+ef", "ab/x"],
            r#"ab\/cd+eg ab\u002"#,
        ),
        (
            "lone surrogate is no match",
            r#"key\ud83dkey"#,
            &["key\u{1f600}key"],
            r#"key\ud83dkey"#,
        ),
        (
            "a secret with a backslash, plain and escaped",
            r#"x a\bcd x "a\\bcd""#,
            &["a\\bcd"],
            r#"x [REDACTED] x "[REDACTED]""#,
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
    fn token_length() {
        for (token, ok) in [
            ("", false),
            ("abc", false),
            ("1234567", false),
            ("12345678", true),
            ("\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}", false),
            ("00abcdefghijklmnopqrstuvwxyz0123456789ABCD", true),
        ] {
            assert_eq!(check_token_length(token).is_ok(), ok, "{token:?}");
        }
        assert_eq!(
            check_token_length("abc").map_err(|e| e.to_string()),
            Err(
                "the token has 3 characters; kri needs at least 8, so that it can redact \
                 the token wherever an upstream echoes it: pass the whole token"
                    .to_string()
            )
        );
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
