//! Host names and IP literals as they appear in URLs, origins and cert
//! `hostnames`, normalized so that equal hosts compare equal as strings.

use std::net::{Ipv4Addr, Ipv6Addr};

/// Parses a URL host: a DNS name, a dotted IPv4 address, or an IPv6 address
/// in brackets. Returns it normalized: DNS names lowercased, IPv6 in its
/// canonical compressed form inside brackets (as browsers send it in `Host`
/// and `Origin` headers).
pub(crate) fn parse_url_host(host: &str) -> Result<String, String> {
    if host.is_empty() {
        return Err("the host is missing".to_owned());
    }
    if let Some(inner) = host.strip_prefix('[') {
        let Some(inner) = inner.strip_suffix(']') else {
            return Err(format!("\"{host}\" has an unclosed '['"));
        };
        return inner
            .parse::<Ipv6Addr>()
            .map(|addr| format!("[{addr}]"))
            .map_err(|_| format!("\"{inner}\" is not a valid IPv6 address"));
    }
    if host.contains(':') {
        return Err(format!(
            "\"{host}\" is not a valid host (an IPv6 address must be written in brackets, e.g. [::1])"
        ));
    }
    parse_name_or_ipv4(host)
}

/// Parses a cert `hostnames` element: like a URL host, but also allows one
/// leading `*.` wildcard label and IPv6 addresses without brackets.
pub(crate) fn parse_cert_hostname(name: &str) -> Result<String, String> {
    if let Some(rest) = name.strip_prefix("*.") {
        return match parse_name_or_ipv4(rest) {
            Ok(rest) if rest.parse::<Ipv4Addr>().is_err() => Ok(format!("*.{rest}")),
            Ok(_) => Err("a wildcard cannot precede an IP address".to_owned()),
            Err(reason) => Err(reason),
        };
    }
    if name.contains('*') {
        return Err(
            "a wildcard is only allowed as the whole leftmost label (e.g. *.example.com)"
                .to_owned(),
        );
    }
    if let Ok(addr) = name.parse::<Ipv6Addr>() {
        return Ok(format!("[{addr}]"));
    }
    parse_url_host(name)
}

/// Whether a normalized cert hostname covers a normalized URL host.
/// `*.example.com` covers exactly one extra label: `a.example.com`, not
/// `example.com` nor `a.b.example.com` (RFC 6125 §6.4.3).
pub(crate) fn hostname_covers(pattern: &str, host: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(suffix) => host
            .strip_suffix(suffix)
            .and_then(|label| label.strip_suffix('.'))
            .is_some_and(|label| {
                !label.is_empty() && !label.contains('.') && !host.starts_with('[')
            }),
        None => pattern == host,
    }
}

fn parse_name_or_ipv4(host: &str) -> Result<String, String> {
    if host.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return host
            .parse::<Ipv4Addr>()
            .map(|addr| addr.to_string())
            .map_err(|_| format!("\"{host}\" is not a valid IPv4 address"));
    }
    parse_dns_name(host)
}

/// A DNS name per RFC 1123: labels of 1-63 letters, digits and hyphens, not
/// starting or ending with a hyphen, 253 characters at most, and a last label
/// that is not all digits (that would be a malformed IPv4 address).
fn parse_dns_name(name: &str) -> Result<String, String> {
    let invalid = |why: &str| format!("\"{name}\" is not a valid host name ({why})");
    if name.len() > 253 {
        return Err(invalid("longer than 253 characters"));
    }
    let lowered = name.to_ascii_lowercase();
    for label in lowered.split('.') {
        if label.is_empty() {
            return Err(invalid("empty label"));
        }
        if label.len() > 63 {
            return Err(invalid("a label is longer than 63 characters"));
        }
        if let Some(c) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
        {
            return Err(invalid(&format!(
                "'{c}' is not allowed; use letters, digits, '-' and '.'"
            )));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(invalid("a label starts or ends with '-'"));
        }
    }
    if lowered
        .rsplit('.')
        .next()
        .is_some_and(|last| last.chars().all(|c| c.is_ascii_digit()))
    {
        return Err(invalid("the last label is all digits"));
    }
    Ok(lowered)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_hosts() {
        assert_eq!(parse_url_host("Example.COM").unwrap(), "example.com");
        assert_eq!(parse_url_host("127.0.0.1").unwrap(), "127.0.0.1");
        assert_eq!(parse_url_host("[0:0::1]").unwrap(), "[::1]");
        assert_eq!(parse_url_host("localhost").unwrap(), "localhost");
    }

    #[test]
    fn rejects_bad_hosts() {
        for bad in [
            "",
            "::1",
            "[::1",
            "[zz]",
            "256.0.0.1",
            "1.2.3",
            "a..b",
            "-a.b",
            "a_b",
            "a.123",
            "é.org",
        ] {
            assert!(parse_url_host(bad).is_err(), "{bad}");
        }
        assert!(parse_url_host(&"a".repeat(64)).is_err());
        assert!(parse_url_host(&["a"; 130].join(".")).is_err());
    }

    #[test]
    fn cert_hostnames_allow_wildcards_and_bare_ipv6() {
        assert_eq!(
            parse_cert_hostname("*.Example.com").unwrap(),
            "*.example.com"
        );
        assert_eq!(parse_cert_hostname("::1").unwrap(), "[::1]");
        assert!(parse_cert_hostname("a.*.example.com").is_err());
        assert!(parse_cert_hostname("*.1.2.3.4").is_err());
        assert!(parse_cert_hostname("*").is_err());
    }

    #[test]
    fn wildcards_cover_exactly_one_label() {
        assert!(hostname_covers("*.example.com", "a.example.com"));
        assert!(!hostname_covers("*.example.com", "example.com"));
        assert!(!hostname_covers("*.example.com", "a.b.example.com"));
        assert!(!hostname_covers("*.example.com", "aexample.com"));
        assert!(hostname_covers("example.com", "example.com"));
        assert!(!hostname_covers("example.com", "www.example.com"));
    }
}
