//! Link pagination: parsing RFC 8288 `Link` headers as APIs such as Okta's and
//! GitHub's send them: usually one header line per rel (`<url>; rel="next"`),
//! sometimes several link-values comma-joined in one line; and the HAL form some
//! APIs use instead, the next page named in the body (`{"_links": {"next": {"href"}}}`).

use crate::http::Header;

/// One link-value: its target and its (lower-cased) rels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub url: String,
    pub rels: Vec<String>,
}

/// Parses one header value, which may hold several comma-separated link-values.
/// Anything unreadable is skipped rather than failing.
pub fn parse_link_value(value: &str) -> Vec<Link> {
    let mut links = Vec::new();
    let mut rest = value;
    while let Some(open) = rest.find('<') {
        let after_open = &rest[open + 1..];
        let Some(close) = after_open.find('>') else {
            break;
        };
        let url = after_open[..close].trim().to_string();
        let params_and_more = &after_open[close + 1..];
        // The parameters run until the next link-value, which starts at a `,` followed
        // (after blanks) by `<`. Quoted strings may hold commas.
        let mut end = params_and_more.len();
        let mut in_quotes = false;
        let bytes = params_and_more.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'"' => in_quotes = !in_quotes,
                b',' if !in_quotes => {
                    let tail = params_and_more[i + 1..].trim_start();
                    if tail.starts_with('<') {
                        end = i;
                        break;
                    }
                }
                _ => {}
            }
            i += 1;
        }
        let params = &params_and_more[..end];
        let mut rels = Vec::new();
        for param in split_params(params) {
            let Some((name, val)) = param.split_once('=') else {
                continue;
            };
            if name.trim().eq_ignore_ascii_case("rel") {
                let val = val.trim().trim_matches('"');
                rels.extend(val.split_whitespace().map(|r| r.to_ascii_lowercase()));
            }
        }
        links.push(Link { url, rels });
        if end >= params_and_more.len() {
            break;
        }
        rest = &params_and_more[end + 1..];
    }
    links
}

/// Splits `; a=b; c="d;e"` on semicolons outside quotes.
fn split_params(params: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut in_quotes = false;
    let mut start = 0;
    for (i, c) in params.char_indices() {
        match c {
            '"' => in_quotes = !in_quotes,
            ';' if !in_quotes => {
                out.push(&params[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&params[start..]);
    out.into_iter()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect()
}

/// All links of all `Link` header lines (header names compared case-insensitively).
pub fn parse_links(headers: &[Header]) -> Vec<Link> {
    headers
        .iter()
        .filter(|h| h.name.trim().eq_ignore_ascii_case("link"))
        .flat_map(|h| parse_link_value(&h.value))
        .collect()
}

/// The URL of `rel="next"`, verbatim, if any.
pub fn next_link(headers: &[Header]) -> Option<String> {
    parse_links(headers)
        .into_iter()
        .find(|l| l.rels.iter().any(|r| r == "next") && !l.url.is_empty())
        .map(|l| l.url)
}

/// The next page named in a HAL body: `_links.next.href`, if it is a string.
pub fn body_next_link(body: &serde_json::Value) -> Option<String> {
    body.get("_links")?
        .get("next")?
        .get("href")?
        .as_str()
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(name: &str, value: &str) -> Header {
        Header {
            name: name.into(),
            value: value.into(),
        }
    }

    #[test]
    fn next_link_cases() {
        let next =
            "https://x.okta.com/api/v1/users?after=00u2&limit=200&filter=status+eq+%22ACTIVE%22";
        let self_ = "https://x.okta.com/api/v1/users?limit=200";
        let cases: Vec<(&str, Vec<Header>, Option<&str>)> = vec![
            (
                "one line per rel, as Okta sends",
                vec![
                    h("link", &format!("<{self_}>; rel=\"self\"")),
                    h("link", &format!("<{next}>; rel=\"next\"")),
                ],
                Some(next),
            ),
            (
                "only self: the list ends",
                vec![h("Link", &format!("<{self_}>; rel=\"self\""))],
                None,
            ),
            (
                "comma-joined in one line",
                vec![h(
                    "LINK",
                    &format!("<{self_}>; rel=\"self\", <{next}>; rel=\"next\""),
                )],
                Some(next),
            ),
            (
                "next first, comma-joined, unquoted rel",
                vec![h(
                    "link",
                    &format!("<{next}>; rel=next,<{self_}>; rel=self"),
                )],
                Some(next),
            ),
            (
                "url containing a comma and encoded padding",
                vec![h(
                    "link",
                    "<https://x/api/v1/t?after=bGRh%3D%3D&a=1,2>; rel=\"next\"",
                )],
                Some("https://x/api/v1/t?after=bGRh%3D%3D&a=1,2"),
            ),
            (
                "several rels in one value",
                vec![h("link", &format!("<{next}>; rel=\"next last\""))],
                Some(next),
            ),
            (
                "extra params and odd spacing",
                vec![h(
                    "link",
                    &format!("  < {next} > ;title=\"a;b,c\" ; REL = \"Next\" "),
                )],
                Some(next),
            ),
            (
                "no link header",
                vec![h("content-type", "application/json")],
                None,
            ),
            ("garbage", vec![h("link", "not a link; rel=next")], None),
            (
                "unterminated",
                vec![h("link", "<https://x; rel=\"next\"")],
                None,
            ),
        ];
        for (name, headers, want) in cases {
            assert_eq!(next_link(&headers).as_deref(), want, "{name}");
        }
    }

    #[test]
    fn parses_all_link_values() {
        let links = parse_link_value("<a>; rel=\"self\", <b>; rel=\"next\"");
        assert_eq!(
            links,
            vec![
                Link {
                    url: "a".into(),
                    rels: vec!["self".into()]
                },
                Link {
                    url: "b".into(),
                    rels: vec!["next".into()]
                }
            ]
        );
    }

    #[test]
    fn next_page_in_the_body() {
        let body =
            serde_json::json!({"roles": [], "_links": {"next": {"href": "https://x/api?after=a"}}});
        assert_eq!(
            body_next_link(&body).as_deref(),
            Some("https://x/api?after=a")
        );
        let last = serde_json::json!({"roles": [], "_links": {"self": {"href": "https://x/api"}}});
        assert_eq!(body_next_link(&last), None);
        assert_eq!(
            body_next_link(&serde_json::json!({"_links": {"next": {"href": 3}}})),
            None
        );
    }
}
