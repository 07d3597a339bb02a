//! Query-string handling for the simulated API: decoding parameters, Okta's `filter`
//! expressions (`status eq "ACTIVE" or status eq "SUSPENDED"`, `eventType eq "x"`),
//! `limit` bounds, and the links of the next page.

/// Decoded query parameters, in request order.
#[derive(Debug, Clone, Default)]
pub(crate) struct Query {
    pub pairs: Vec<(String, String)>,
}

impl Query {
    /// Decodes a raw query string (`+` and `%XX` forms both work).
    pub fn parse(raw: Option<&str>) -> Query {
        let pairs = raw
            .map(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .into_owned()
                    .collect()
            })
            .unwrap_or_default();
        Query { pairs }
    }

    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// A query string with `limit` and `after` set first and the other parameters kept.
    pub fn with_cursor(&self, limit: usize, after: &str) -> String {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        s.append_pair("limit", &limit.to_string());
        s.append_pair("after", after);
        for (k, v) in &self.pairs {
            if k != "limit" && k != "after" {
                s.append_pair(k, v);
            }
        }
        s.finish()
    }
}

/// Why a query was refused; the server turns it into a 400 Okta error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BadQuery {
    /// The parameter at fault.
    pub param: &'static str,
    pub detail: String,
}

/// Parses `limit`: absent → `default`; larger than `max` → `max`; not a positive number → error.
pub(crate) fn parse_limit(
    value: Option<&str>,
    default: usize,
    max: usize,
) -> Result<usize, BadQuery> {
    match value {
        None => Ok(default),
        Some(v) => match v.trim().parse::<i64>() {
            Ok(n) if n > 0 => Ok((n as usize).min(max)),
            // Okta treats -1 as "the default page size" on several lists.
            Ok(-1) => Ok(default),
            _ => Err(BadQuery {
                param: "limit",
                detail: format!("limit: '{v}' is not a valid page size"),
            }),
        },
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Text(String),
    Open,
    Close,
}

fn tokenize(input: &str) -> Option<Vec<Token>> {
    let mut tokens = Vec::new();
    let mut chars = input.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' => {
                chars.next();
                tokens.push(Token::Open);
            }
            ')' => {
                chars.next();
                tokens.push(Token::Close);
            }
            '"' => {
                chars.next();
                let mut text = String::new();
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => text.push(chars.next()?),
                        c => text.push(c),
                    }
                }
                tokens.push(Token::Text(text));
            }
            _ => {
                let mut word = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || c == '(' || c == ')' || c == '"' {
                        break;
                    }
                    word.push(c);
                    chars.next();
                }
                tokens.push(Token::Word(word));
            }
        }
    }
    Some(tokens)
}

/// Parses a disjunction of equality tests, `a eq "x" or (b eq "y")`, into (field, value)
/// pairs. Only `eq` and `or` are understood; anything else is an error.
pub(crate) fn parse_eq_disjunction(input: &str) -> Option<Vec<(String, String)>> {
    let tokens = tokenize(input)?;
    let mut pos = 0;
    let mut out = Vec::new();
    parse_expr(&tokens, &mut pos, &mut out)?;
    (pos == tokens.len() && !out.is_empty()).then_some(out)
}

fn parse_expr(tokens: &[Token], pos: &mut usize, out: &mut Vec<(String, String)>) -> Option<()> {
    parse_term(tokens, pos, out)?;
    while let Some(Token::Word(w)) = tokens.get(*pos) {
        if !w.eq_ignore_ascii_case("or") {
            return None;
        }
        *pos += 1;
        parse_term(tokens, pos, out)?;
    }
    Some(())
}

fn parse_term(tokens: &[Token], pos: &mut usize, out: &mut Vec<(String, String)>) -> Option<()> {
    match tokens.get(*pos)? {
        Token::Open => {
            *pos += 1;
            parse_expr(tokens, pos, out)?;
            if tokens.get(*pos)? != &Token::Close {
                return None;
            }
            *pos += 1;
            Some(())
        }
        Token::Word(field) => {
            let op = tokens.get(*pos + 1)?;
            let value = tokens.get(*pos + 2)?;
            match (op, value) {
                (Token::Word(op), Token::Text(value)) if op.eq_ignore_ascii_case("eq") => {
                    out.push((field.clone(), value.clone()));
                    *pos += 3;
                    Some(())
                }
                _ => None,
            }
        }
        _ => None,
    }
}

/// The values of a filter that may only test `field` (case-insensitive field name).
pub(crate) fn filter_values(input: &str, field: &str) -> Result<Vec<String>, BadQuery> {
    let bad = || BadQuery {
        param: "filter",
        detail: format!("Invalid search criteria: {input}"),
    };
    let terms = parse_eq_disjunction(input).ok_or_else(bad)?;
    terms
        .into_iter()
        .map(|(f, v)| {
            if f.eq_ignore_ascii_case(field) {
                Ok(v)
            } else {
                Err(bad())
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_filters() {
        assert_eq!(
            filter_values(r#"status eq "ACTIVE""#, "status"),
            Ok(vec!["ACTIVE".to_string()])
        );
        assert_eq!(
            filter_values(r#"(status eq "ACTIVE" or status eq "SUSPENDED")"#, "status"),
            Ok(vec!["ACTIVE".to_string(), "SUSPENDED".to_string()])
        );
        assert_eq!(
            filter_values(r#"eventType eq "a.b" OR eventType eq "c.d""#, "eventType"),
            Ok(vec!["a.b".to_string(), "c.d".to_string()])
        );
        assert!(filter_values(r#"status eq "ACTIVE" and status eq "X""#, "status").is_err());
        assert!(filter_values(r#"lastUpdated gt "2020""#, "status").is_err());
        assert!(filter_values(r#"status eq "ACTIVE"#, "status").is_err());
        assert!(filter_values("", "status").is_err());
    }

    #[test]
    fn decodes_and_rebuilds_queries() {
        let q = Query::parse(Some("filter=status+eq+%22ACTIVE%22&limit=5&after=x"));
        assert_eq!(q.get("filter"), Some(r#"status eq "ACTIVE""#));
        assert_eq!(
            q.with_cursor(5, "00u1"),
            "limit=5&after=00u1&filter=status+eq+%22ACTIVE%22"
        );
        let q = Query::parse(Some("filter=status%20eq%20%22SUSPENDED%22"));
        assert_eq!(q.get("filter"), Some(r#"status eq "SUSPENDED""#));
    }

    #[test]
    fn limits() {
        assert_eq!(parse_limit(None, 200, 200), Ok(200));
        assert_eq!(parse_limit(Some("50"), 200, 200), Ok(50));
        assert_eq!(parse_limit(Some("5000"), 200, 200), Ok(200));
        assert!(parse_limit(Some("abc"), 200, 200).is_err());
        assert!(parse_limit(Some("0"), 200, 200).is_err());
    }
}
