//! A small, strict parser for endpoint URLs (`ws://` and `wss://`) and for
//! `allowed_origins`. Only what a WebSocket endpoint needs: scheme, host,
//! optional port, optional path. No query, fragment or user info.

use std::fmt;

use crate::host::parse_url_host;

/// The scheme of an endpoint URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// `ws://`: plaintext, served on ports with `"is_unencrypted": true`.
    Ws,
    /// `wss://`: TLS, served on ports with `"is_unencrypted": false`.
    Wss,
}

impl Scheme {
    /// `"ws"` or `"wss"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Ws => "ws",
            Scheme::Wss => "wss",
        }
    }

    /// Whether this scheme uses TLS.
    pub fn is_secure(self) -> bool {
        self == Scheme::Wss
    }

    /// The port implied when the URL names none: 80 for `ws`, 443 for `wss`.
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Ws => 80,
            Scheme::Wss => 443,
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a URL or origin string was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UrlError {
    /// There is no `scheme://` prefix.
    MissingScheme,
    /// The scheme is not one this field accepts.
    UnsupportedScheme(String),
    /// The string contains whitespace or control characters.
    Whitespace,
    /// `user@` before the host.
    UserInfo,
    /// A `?query`.
    Query,
    /// A `#fragment`.
    Fragment,
    /// The host is missing or malformed (the reason says how).
    Host(String),
    /// The port is empty, not a number, or not in 1..=65535.
    Port(String),
    /// The path contains a character that must be percent-encoded.
    Path(char),
    /// A `%` not followed by two hex digits.
    PercentEncoding,
    /// A `.` or `..` segment in an endpoint's path, which clients resolve
    /// before they send it: no request would ever carry the path.
    DotSegment,
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UrlError::MissingScheme => f.write_str("missing \"scheme://\" at the start"),
            UrlError::UnsupportedScheme(s) => write!(f, "unsupported scheme \"{s}\""),
            UrlError::Whitespace => {
                f.write_str("whitespace and control characters are not allowed")
            }
            UrlError::UserInfo => f.write_str("user info (\"user@\") is not allowed"),
            UrlError::Query => f.write_str("a query (\"?…\") is not allowed"),
            UrlError::Fragment => f.write_str("a fragment (\"#…\") is not allowed"),
            UrlError::Host(why) => f.write_str(why),
            UrlError::Port(p) => write!(f, "port \"{p}\" is not a number from 1 to 65535"),
            UrlError::Path(c) => write!(f, "'{c}' is not allowed in a path (percent-encode it)"),
            UrlError::PercentEncoding => f.write_str("'%' must be followed by two hex digits"),
            UrlError::DotSegment => f.write_str(
                "a \".\" or \"..\" segment in the path, which clients resolve before they \
                 send it (\"/a/../b\" arrives as \"/b\"): write the path they send",
            ),
        }
    }
}

impl std::error::Error for UrlError {}

/// A parsed endpoint URL, e.g. `wss://example.com:12345/foo`.
///
/// Fields are plain strings and numbers so the HTTP router can compare them
/// with the request's `Host` header and target directly.
///
/// ```
/// use rs_conf::{EndpointUrl, Scheme};
/// let url = EndpointUrl::parse("wss://Example.com/chat").unwrap();
/// assert_eq!(url.scheme, Scheme::Wss);
/// assert_eq!(url.host, "example.com");
/// assert_eq!(url.port, 443);
/// assert_eq!(url.path, "/chat");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct EndpointUrl {
    /// The URL exactly as configured.
    pub raw: String,
    /// `ws` or `wss`.
    pub scheme: Scheme,
    /// The host, lowercased; IPv4 dotted; IPv6 canonical and in brackets
    /// (`[::1]`), as it appears in a `Host` header.
    pub host: String,
    /// The explicit port, or 80 / 443 implied by the scheme.
    pub port: u16,
    /// The path as configured (not decoded), `/` when the URL has none.
    pub path: String,
}

impl EndpointUrl {
    /// Parses a `ws://` or `wss://` URL strictly (see the module docs).
    pub fn parse(raw: &str) -> Result<Self, UrlError> {
        let parts = split_url(raw)?;
        let scheme = match parts.scheme.as_str() {
            "ws" => Scheme::Ws,
            "wss" => Scheme::Wss,
            other => return Err(UrlError::UnsupportedScheme(other.to_owned())),
        };
        // As the URL standard counts them: `%2e` is a dot too.
        let is_dots = |segment: &str| {
            matches!(
                segment.to_ascii_lowercase().replace("%2e", ".").as_str(),
                "." | ".."
            )
        };
        if parts
            .path
            .as_deref()
            .is_some_and(|p| p.split('/').any(is_dots))
        {
            return Err(UrlError::DotSegment);
        }
        Ok(Self {
            raw: raw.to_owned(),
            scheme,
            host: parts.host,
            port: parts.port.unwrap_or(scheme.default_port()),
            path: parts.path.unwrap_or_else(|| "/".to_owned()),
        })
    }

    /// Whether the endpoint is served over TLS (`wss://`).
    pub fn is_secure(&self) -> bool {
        self.scheme.is_secure()
    }

    /// The normalized form: scheme, host, port (always explicit) and path.
    /// Two URLs that reach the same endpoint have the same normalized form.
    pub fn normalized(&self) -> String {
        format!("{}://{}:{}{}", self.scheme, self.host, self.port, self.path)
    }
}

impl fmt::Display for EndpointUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

/// One `allowed_origins` element, e.g. `https://example.com/foo`, or `*`
/// for every origin.
///
/// ```
/// use rs_conf::AllowedOrigin;
/// let o = AllowedOrigin::parse("HTTPS://Example.com:443/foo").unwrap();
/// assert_eq!(o.raw, "HTTPS://Example.com:443/foo");
/// assert_eq!(o.origin, "https://example.com");
/// assert!(AllowedOrigin::parse("*").unwrap().is_any());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct AllowedOrigin {
    /// The string exactly as configured.
    pub raw: String,
    /// The origin as a browser serializes it in an `Origin` header:
    /// `scheme://host[:port]`, lowercased, any path dropped, and the port
    /// dropped when it is the scheme's default (80 for http/ws, 443 for
    /// https/wss).
    pub origin: String,
}

impl AllowedOrigin {
    /// The wildcard entry that allows every origin.
    pub const ANY: &str = "*";

    /// Parses `scheme://host[:port]` with an optional path that is accepted
    /// but ignored (the seed's own example is `https://example.com/foo`), or
    /// the wildcard `*`.
    pub fn parse(raw: &str) -> Result<Self, UrlError> {
        if raw == Self::ANY {
            return Ok(Self {
                raw: raw.to_owned(),
                origin: raw.to_owned(),
            });
        }
        let parts = split_url(raw)?;
        let default_port = match parts.scheme.as_str() {
            "http" | "ws" => Some(80),
            "https" | "wss" => Some(443),
            _ => None,
        };
        let origin = match parts.port {
            Some(port) if Some(port) != default_port => {
                format!("{}://{}:{port}", parts.scheme, parts.host)
            }
            _ => format!("{}://{}", parts.scheme, parts.host),
        };
        Ok(Self {
            raw: raw.to_owned(),
            origin,
        })
    }

    /// Whether this is the wildcard `*`, which allows every origin.
    pub fn is_any(&self) -> bool {
        self.origin == Self::ANY
    }
}

/// The pieces every accepted URL shape shares.
struct UrlParts {
    scheme: String,
    host: String,
    port: Option<u16>,
    path: Option<String>,
}

fn split_url(raw: &str) -> Result<UrlParts, UrlError> {
    if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(UrlError::Whitespace);
    }
    let (scheme, rest) = raw.split_once("://").ok_or(UrlError::MissingScheme)?;
    if !is_valid_scheme(scheme) {
        return Err(
            if scheme.is_empty() || scheme.contains(['/', '?', '#', '@']) {
                UrlError::MissingScheme
            } else {
                UrlError::UnsupportedScheme(scheme.to_owned())
            },
        );
    }
    if rest.contains('#') {
        return Err(UrlError::Fragment);
    }
    if rest.contains('?') {
        return Err(UrlError::Query);
    }
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], Some(&rest[i..])),
        None => (rest, None),
    };
    if authority.contains('@') {
        return Err(UrlError::UserInfo);
    }
    let (host, port) = split_host_port(authority)?;
    let host = parse_url_host(host).map_err(UrlError::Host)?;
    let port = port.map(parse_port).transpose()?;
    if let Some(path) = path {
        check_path(path)?;
    }
    Ok(UrlParts {
        scheme: scheme.to_ascii_lowercase(),
        host,
        port,
        path: path.map(str::to_owned),
    })
}

/// RFC 3986: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ).
fn is_valid_scheme(scheme: &str) -> bool {
    scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// Splits `host[:port]`, where an IPv6 host is bracketed.
fn split_host_port(authority: &str) -> Result<(&str, Option<&str>), UrlError> {
    if authority.starts_with('[') {
        let Some(end) = authority.find(']') else {
            return Err(UrlError::Host(format!(
                "\"{authority}\" has an unclosed '['"
            )));
        };
        let (host, after) = authority.split_at(end + 1);
        return match after {
            "" => Ok((host, None)),
            _ => match after.strip_prefix(':') {
                Some(port) => Ok((host, Some(port))),
                None => Err(UrlError::Host(format!(
                    "unexpected \"{after}\" after the IPv6 address"
                ))),
            },
        };
    }
    Ok(match authority.split_once(':') {
        Some((host, port)) if !port.contains(':') => (host, Some(port)),
        // More than one ':' outside brackets: let the host parser explain.
        Some(_) => (authority, None),
        None => (authority, None),
    })
}

fn parse_port(port: &str) -> Result<u16, UrlError> {
    let bad = || UrlError::Port(port.to_owned());
    if port.is_empty() || port.len() > 5 || !port.chars().all(|c| c.is_ascii_digit()) {
        return Err(bad());
    }
    match port.parse::<u16>() {
        Ok(0) | Err(_) => Err(bad()),
        Ok(p) => Ok(p),
    }
}

/// RFC 3986 path characters: unreserved, sub-delims, ':', '@', '/', and
/// percent-encoded octets.
fn check_path(path: &str) -> Result<(), UrlError> {
    let bytes = path.as_bytes();
    let mut chars = path.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '-' | '.' | '_' | '~' => {}
            '!' | '$' | '&' | '\'' | '(' | ')' | '*' | '+' | ',' | ';' | '=' | ':' | '@' | '/' => {}
            '%' => {
                let hex = bytes.get(i + 1..i + 3);
                if !hex.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) {
                    return Err(UrlError::PercentEncoding);
                }
                chars.next();
                chars.next();
            }
            other => return Err(UrlError::Path(other)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_endpoint_urls() {
        let u = EndpointUrl::parse("ws://localhost:8080/echo").unwrap();
        assert_eq!(
            (u.scheme, u.host.as_str(), u.port, u.path.as_str()),
            (Scheme::Ws, "localhost", 8080, "/echo")
        );
        let u = EndpointUrl::parse("WSS://[::1]").unwrap();
        assert_eq!(
            (u.scheme, u.host.as_str(), u.port, u.path.as_str()),
            (Scheme::Wss, "[::1]", 443, "/")
        );
        let u = EndpointUrl::parse("ws://10.0.0.1/a%20b/c").unwrap();
        assert_eq!((u.port, u.path.as_str()), (80, "/a%20b/c"));
        assert_eq!(u.normalized(), "ws://10.0.0.1:80/a%20b/c");
    }

    #[test]
    fn refuses_what_an_endpoint_url_cannot_have() {
        let cases: &[(&str, UrlError)] = &[
            ("example.com/x", UrlError::MissingScheme),
            (
                "http://example.com",
                UrlError::UnsupportedScheme("http".into()),
            ),
            ("ws://u@example.com", UrlError::UserInfo),
            ("ws://example.com/?a=1", UrlError::Query),
            ("ws://example.com/#top", UrlError::Fragment),
            ("ws://example.com:0/", UrlError::Port("0".into())),
            ("ws://example.com:65536/", UrlError::Port("65536".into())),
            ("ws://example.com:/", UrlError::Port("".into())),
            ("ws://example.com:+80/", UrlError::Port("+80".into())),
            ("ws://example.com/a b", UrlError::Whitespace),
            ("ws://example.com/é", UrlError::Path('é')),
            ("ws://example.com/%zz", UrlError::PercentEncoding),
            ("ws://example.com/%2", UrlError::PercentEncoding),
        ];
        for (raw, expected) in cases {
            assert_eq!(&EndpointUrl::parse(raw).unwrap_err(), expected, "{raw}");
        }
        assert!(matches!(
            EndpointUrl::parse("ws:///x"),
            Err(UrlError::Host(_))
        ));
        assert!(matches!(
            EndpointUrl::parse("ws://::1/x"),
            Err(UrlError::Host(_))
        ));
        assert!(matches!(
            EndpointUrl::parse("ws://[::1]x/"),
            Err(UrlError::Host(_))
        ));
    }

    #[test]
    fn origins_keep_raw_and_serialize_like_browsers() {
        let o = AllowedOrigin::parse("http://localhost:8080").unwrap();
        assert_eq!(o.origin, "http://localhost:8080");
        let o = AllowedOrigin::parse("https://example.com/foo").unwrap();
        assert_eq!(
            (o.raw.as_str(), o.origin.as_str()),
            ("https://example.com/foo", "https://example.com")
        );
        let o = AllowedOrigin::parse("http://example.com:80").unwrap();
        assert_eq!(o.origin, "http://example.com");
        let o = AllowedOrigin::parse("chrome-extension://abcdef").unwrap();
        assert_eq!(o.origin, "chrome-extension://abcdef");
        assert!(!o.is_any());
        assert!(AllowedOrigin::parse("*").unwrap().is_any());
        assert_eq!(
            AllowedOrigin::parse("**").unwrap_err(),
            UrlError::MissingScheme
        );
        assert_eq!(
            AllowedOrigin::parse("null").unwrap_err(),
            UrlError::MissingScheme
        );
        assert_eq!(
            AllowedOrigin::parse("https://a.org?x").unwrap_err(),
            UrlError::Query
        );
        assert_eq!(
            AllowedOrigin::parse("1http://a.org").unwrap_err(),
            UrlError::UnsupportedScheme("1http".into())
        );
    }
}
