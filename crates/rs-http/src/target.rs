//! The request target (RFC 7230 §5.3): origin-form `/path?query` or
//! absolute-form `scheme://authority/path?query`. Other forms (`*`,
//! authority-form) cannot open a WebSocket.

use crate::authority::{Authority, parse_authority};

/// Schemes accepted in an absolute-form target: the WebSocket ones and the
/// HTTP ones a proxy-style client may use for the same resource.
const SCHEMES: [&str; 4] = ["ws", "wss", "http", "https"];

/// A split request target. `path` is never empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Target<'a> {
    pub(crate) path: &'a str,
    pub(crate) query: Option<&'a str>,
    /// Present for absolute-form targets; then it takes precedence over
    /// `Host` (RFC 7230 §5.4).
    pub(crate) authority: Option<Authority<'a>>,
}

/// Parses a request target; `None` when it is not acceptable.
pub(crate) fn parse_target(target: &str) -> Option<Target<'_>> {
    // Fragments are never sent to a server (RFC 6455 §3 forbids them in
    // WebSocket URIs).
    if target.contains('#') {
        return None;
    }
    if target.starts_with('/') {
        let (path, query) = split_query(target);
        return Some(Target {
            path,
            query,
            authority: None,
        });
    }
    let (scheme, rest) = target.split_once("://")?;
    if !SCHEMES
        .iter()
        .any(|known| known.eq_ignore_ascii_case(scheme))
    {
        return None;
    }
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path_and_query) = rest.split_at(authority_end);
    if authority.contains('@') {
        return None;
    }
    let authority = parse_authority(authority).ok()?;
    let (path, query) = split_query(path_and_query);
    // An empty path in absolute-form means "/".
    let path = if path.is_empty() { "/" } else { path };
    Some(Target {
        path,
        query,
        authority: Some(authority),
    })
}

fn split_query(path_and_query: &str) -> (&str, Option<&str>) {
    match path_and_query.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (path_and_query, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target<'a>(
        path: &'a str,
        query: Option<&'a str>,
        authority: Option<(&'a str, Option<u16>)>,
    ) -> Option<Target<'a>> {
        Some(Target {
            path,
            query,
            authority: authority.map(|(host, port)| Authority { host, port }),
        })
    }

    #[test]
    fn origin_form() {
        assert_eq!(parse_target("/echo"), target("/echo", None, None));
        assert_eq!(parse_target("/"), target("/", None, None));
    }

    #[test]
    fn origin_form_with_query() {
        assert_eq!(parse_target("/p?a=1&b"), target("/p", Some("a=1&b"), None));
        assert_eq!(parse_target("/p?"), target("/p", Some(""), None));
        assert_eq!(parse_target("/p?x?y"), target("/p", Some("x?y"), None));
    }

    #[test]
    fn absolute_form_all_schemes() {
        for scheme in ["ws", "wss", "http", "https", "WS", "Https"] {
            let text = format!("{scheme}://Example.com:9000/chat?room=1");
            assert_eq!(
                parse_target(&text),
                target("/chat", Some("room=1"), Some(("Example.com", Some(9000)))),
                "{text}"
            );
        }
    }

    #[test]
    fn absolute_form_empty_path_is_root() {
        assert_eq!(parse_target("ws://h"), target("/", None, Some(("h", None))));
        assert_eq!(
            parse_target("ws://h?q"),
            target("/", Some("q"), Some(("h", None)))
        );
    }

    #[test]
    fn absolute_form_ipv6() {
        assert_eq!(
            parse_target("ws://[::1]:8080/x"),
            target("/x", None, Some(("[::1]", Some(8080))))
        );
    }

    #[test]
    fn rejected_forms() {
        for text in [
            "*",
            "example.com:80",
            "echo",
            "ftp://h/p",
            "ws:/h/p",
            "ws://user@h/p",
            "ws:///p",
            "ws://h:port/p",
            "/p#frag",
            "ws://h/p#frag",
        ] {
            assert_eq!(parse_target(text), None, "{text}");
        }
    }
}
