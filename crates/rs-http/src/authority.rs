//! `host[:port]` as it appears in the `Host` header, in absolute-form
//! request targets and in origins (RFC 3986 §3.2.2–3.2.3, without
//! user information).

use std::net::Ipv6Addr;

/// A split, syntactically valid authority. `host` is as written (not
/// lowercased); an IPv6 literal keeps its brackets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Authority<'a> {
    pub(crate) host: &'a str,
    pub(crate) port: Option<u16>,
}

/// Why an authority was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthorityError {
    EmptyHost,
    InvalidHost,
    InvalidPort,
}

/// Splits and checks `host[:port]`. The port, when its colon is present,
/// must be at most 5 digits and at most 65535; none (a colon alone) means
/// the default port, as no colon does (RFC 3986 §3.2.3, RFC 9110 §4.2.3).
pub(crate) fn parse_authority(text: &str) -> Result<Authority<'_>, AuthorityError> {
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let close = rest.find(']').ok_or(AuthorityError::InvalidHost)?;
        // An IPv6 address, nothing else: a name or an IPv4 address in
        // brackets would otherwise be compared as that name or address.
        // (IPvFuture, `[v1.x]`, names nothing a server here listens on.)
        if rest[..close].parse::<Ipv6Addr>().is_err() {
            return Err(AuthorityError::InvalidHost);
        }
        let after = &rest[close + 1..];
        let port = match after.strip_prefix(':') {
            Some(port) => Some(port),
            None if after.is_empty() => None,
            None => return Err(AuthorityError::InvalidHost),
        };
        (&text[..close + 2], port)
    } else {
        let (host, port) = match text.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (text, None),
        };
        if host.is_empty() {
            return Err(AuthorityError::EmptyHost);
        }
        if !host.bytes().all(is_reg_name_byte) {
            return Err(AuthorityError::InvalidHost);
        }
        (host, port)
    };
    let port = port
        .filter(|digits| !digits.is_empty())
        .map(parse_port)
        .transpose()?;
    Ok(Authority { host, port })
}

fn parse_port(digits: &str) -> Result<u16, AuthorityError> {
    // Checked by hand: `u16::from_str` would also accept a leading `+`.
    if digits.len() > 5 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AuthorityError::InvalidPort);
    }
    digits.parse().map_err(|_| AuthorityError::InvalidPort)
}

/// unreserved / pct-encoded / sub-delims (RFC 3986 reg-name; IPv4 is a
/// subset).
fn is_reg_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.'
                | b'_'
                | b'~'
                | b'%'
                | b'!'
                | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
        )
}

/// The form hosts are compared in: without one trailing dot and without
/// IPv6 brackets. Case is handled by the comparison.
pub(crate) fn host_for_comparison(host: &str) -> &str {
    let host = host.strip_suffix('.').unwrap_or(host);
    host.strip_prefix('[')
        .and_then(|inner| inner.strip_suffix(']'))
        .unwrap_or(host)
}

/// Whether two hosts name the same host: ASCII case-insensitive, ignoring a
/// trailing dot and IPv6 brackets, and IPv6 addresses compared as
/// addresses (`[::1]` is `[0:0:0:0:0:0:0:1]`).
pub(crate) fn hosts_match(a: &str, b: &str) -> bool {
    let (a, b) = (host_for_comparison(a), host_for_comparison(b));
    match (a.parse::<Ipv6Addr>(), b.parse::<Ipv6Addr>()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a.eq_ignore_ascii_case(b),
    }
}

/// Whether two hosts as written in origins are the same: ASCII
/// case-insensitive, and IPv6 literals compared as addresses (a browser
/// writes the shortest form, RFC 5952; a configuration may not).
pub(crate) fn origin_hosts_match(a: &str, b: &str) -> bool {
    let literal = |host: &str| {
        host.strip_prefix('[')?
            .strip_suffix(']')?
            .parse::<Ipv6Addr>()
            .ok()
    };
    match (literal(a), literal(b)) {
        (Some(a), Some(b)) => a == b,
        _ => a.eq_ignore_ascii_case(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(host: &str, port: Option<u16>) -> Result<Authority<'_>, AuthorityError> {
        Ok(Authority { host, port })
    }

    #[test]
    fn name_without_port() {
        assert_eq!(parse_authority("Example.COM"), ok("Example.COM", None));
    }

    #[test]
    fn name_with_port() {
        assert_eq!(
            parse_authority("localhost:8080"),
            ok("localhost", Some(8080))
        );
    }

    #[test]
    fn ipv4_with_port() {
        assert_eq!(parse_authority("127.0.0.1:1"), ok("127.0.0.1", Some(1)));
    }

    #[test]
    fn ipv6_literal() {
        assert_eq!(parse_authority("[::1]"), ok("[::1]", None));
        assert_eq!(parse_authority("[::1]:443"), ok("[::1]", Some(443)));
    }

    #[test]
    fn port_bounds() {
        assert_eq!(parse_authority("h:65535"), ok("h", Some(65535)));
        assert_eq!(parse_authority("h:0"), ok("h", Some(0)));
        assert_eq!(parse_authority("h:65536"), Err(AuthorityError::InvalidPort));
        assert_eq!(
            parse_authority("h:000080"),
            Err(AuthorityError::InvalidPort)
        );
    }

    #[test]
    fn an_empty_port_is_the_default_port() {
        // port = *DIGIT (RFC 3986 §3.2.3): a colon alone is allowed.
        assert_eq!(parse_authority("h:"), ok("h", None));
        assert_eq!(parse_authority("[::1]:"), ok("[::1]", None));
    }

    #[test]
    fn bad_ports() {
        for text in ["h:+80", "h:8o", "h:80:81", "h::", "[::1]:x"] {
            assert_eq!(
                parse_authority(text),
                Err(AuthorityError::InvalidPort),
                "{text}"
            );
        }
    }

    #[test]
    fn bad_hosts() {
        for text in [
            "a b",
            "a/b",
            "user@h",
            "[::1",
            "[]",
            "[::g]",
            "[::1]x",
            "h\u{e9}",
            // Brackets hold an IPv6 address (RFC 3986 §3.2.2), nothing else.
            "[::1::2]",
            "[:]",
            "[12345::1]",
            "[1.2.3.4]",
            "[127.0.0.1]",
            "[cafe]",
            "[v1.x]",
        ] {
            assert_eq!(
                parse_authority(text),
                Err(AuthorityError::InvalidHost),
                "{text}"
            );
        }
    }

    #[test]
    fn empty_host() {
        assert_eq!(parse_authority(""), Err(AuthorityError::EmptyHost));
        assert_eq!(parse_authority(":80"), Err(AuthorityError::EmptyHost));
    }

    #[test]
    fn comparison_ignores_case_dot_and_brackets() {
        assert!(hosts_match("LocalHost.", "localhost"));
        assert!(hosts_match("[::1]", "::1"));
        assert!(hosts_match("[0:0:0:0:0:0:0:1]", "[::1]"));
        assert!(hosts_match("[2001:DB8::01]", "2001:db8::1"));
        assert!(!hosts_match("[::1]", "[::2]"));
        assert!(origin_hosts_match("[0:0:0:0:0:0:0:1]", "[::1]"));
        assert!(origin_hosts_match("Example.com", "example.COM"));
        assert!(!origin_hosts_match("example.com.", "example.com"));
        assert!(!hosts_match("localhost", "localhost.."));
        assert!(!hosts_match("a.example", "b.example"));
    }
}
