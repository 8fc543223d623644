//! The `Origin` check (RFC 6455 §4.2.2 step 4, RFC 6454): which web pages
//! may open a WebSocket to an endpoint.

use std::fmt;

use crate::authority::{AuthorityError, origin_hosts_match, parse_authority};
use crate::error::HandshakeError;

/// The origins allowed to connect to one endpoint.
///
/// Built from the configuration's `allowed_origins` strings, e.g.
/// `"https://example.com"`, `"http://localhost:8080"` or
/// `"https://example.com/foo"` (a path is accepted and ignored: an `Origin`
/// header never carries one).
///
/// Rules of [`check`](Self::check):
///
/// - A request **without** `Origin` is allowed: only browsers send it, and
///   the check exists to stop other sites' pages from using a visitor's
///   browser.
/// - The entry `"*"` allows **every** origin (no check).
/// - An **empty** list allows no origin: only clients without `Origin`.
/// - Otherwise the `Origin` must equal one of the list's entries: scheme and
///   host compared ASCII case-insensitively, ports compared after filling in
///   the scheme's default (80 for `http`/`ws`, 443 for `https`/`wss`), so
///   `https://example.com` and `https://EXAMPLE.com:443` are the same
///   origin. Anything else, including the opaque origin `null` and an
///   unparsable value, is refused with [`HandshakeError::ForbiddenOrigin`]
///   (403).
///
/// ```
/// use rs_http::{AllowedOrigins, HandshakeError};
///
/// let allowed = AllowedOrigins::parse(["http://localhost:8080", "https://example.com/foo"])?;
/// assert_eq!(allowed.check(Some("https://example.com")), Ok(()));
/// assert_eq!(allowed.check(Some("http://LOCALHOST:8080")), Ok(()));
/// assert_eq!(allowed.check(None), Ok(()));
/// assert_eq!(allowed.check(Some("https://evil.example")), Err(HandshakeError::ForbiddenOrigin));
/// assert_eq!(allowed.check(Some("null")), Err(HandshakeError::ForbiddenOrigin));
///
/// assert!(AllowedOrigins::parse(["*"])?.allows(Some("https://anywhere.example")));
/// assert!(!AllowedOrigins::parse::<[&str; 0], &str>([])?.allows(Some("https://example.com")));
/// # Ok::<(), rs_http::OriginParseError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedOrigins {
    any: bool,
    origins: Vec<AllowedOrigin>,
}

/// One allowed origin, normalized: lowercase scheme and host, port filled
/// in when the scheme has a default.
#[derive(Debug, Clone, PartialEq, Eq)]
struct AllowedOrigin {
    scheme: Box<str>,
    host: Box<str>,
    port: Option<u16>,
}

impl AllowedOrigins {
    /// Allows every origin (the same as the list `["*"]`).
    pub fn any() -> Self {
        Self {
            any: true,
            origins: Vec::new(),
        }
    }

    /// Allows no origin: only clients that send no `Origin` header (the
    /// same as an empty list).
    pub fn none() -> Self {
        Self::default()
    }

    /// Parses a list of allowed origins; `"*"` allows every origin.
    ///
    /// # Errors
    ///
    /// [`OriginParseError`] naming the first string that is neither `"*"`
    /// nor `scheme://host[:port][/path]`.
    pub fn parse<I, S>(origins: I) -> Result<Self, OriginParseError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut any = false;
        let origins = origins
            .into_iter()
            .filter(|text| {
                let wildcard = text.as_ref() == "*";
                any |= wildcard;
                !wildcard
            })
            .map(|text| {
                let text = text.as_ref();
                let parts = parse_origin(text).map_err(|kind| OriginParseError {
                    origin: text.to_owned(),
                    kind,
                })?;
                Ok(AllowedOrigin {
                    scheme: parts.scheme.to_ascii_lowercase().into_boxed_str(),
                    host: parts.host.to_ascii_lowercase().into_boxed_str(),
                    port: parts.port,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { any, origins })
    }

    /// Whether every origin is allowed (the list holds `"*"`).
    pub fn allows_any(&self) -> bool {
        self.any
    }

    /// Whether a request with this `Origin` header (or none) may connect.
    pub fn allows(&self, origin: Option<&str>) -> bool {
        let Some(origin) = origin else { return true };
        if self.allows_any() {
            return true;
        }
        let Ok(origin) = parse_origin(origin) else {
            return false;
        };
        self.origins.iter().any(|allowed| {
            allowed.scheme.eq_ignore_ascii_case(origin.scheme)
                && origin_hosts_match(&allowed.host, origin.host)
                && allowed.port == origin.port
        })
    }

    /// [`allows`](Self::allows) as a `Result`.
    ///
    /// # Errors
    ///
    /// [`HandshakeError::ForbiddenOrigin`] (403) when not allowed.
    pub fn check(&self, origin: Option<&str>) -> Result<(), HandshakeError> {
        if self.allows(origin) {
            Ok(())
        } else {
            Err(HandshakeError::ForbiddenOrigin)
        }
    }
}

/// An origin split into its parts; `port` has the scheme's default filled
/// in.
#[derive(Debug, PartialEq, Eq)]
struct OriginParts<'a> {
    scheme: &'a str,
    host: &'a str,
    port: Option<u16>,
}

fn parse_origin(text: &str) -> Result<OriginParts<'_>, OriginErrorKind> {
    if text == "null" {
        return Err(OriginErrorKind::Opaque);
    }
    let (scheme, rest) = text
        .split_once("://")
        .ok_or(OriginErrorKind::MissingScheme)?;
    if !is_scheme(scheme) {
        return Err(OriginErrorKind::InvalidScheme);
    }
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    if authority.contains('@') {
        return Err(OriginErrorKind::UserInfo);
    }
    let authority = parse_authority(authority).map_err(|error| match error {
        AuthorityError::EmptyHost => OriginErrorKind::EmptyHost,
        AuthorityError::InvalidHost => OriginErrorKind::InvalidHost,
        AuthorityError::InvalidPort => OriginErrorKind::InvalidPort,
    })?;
    Ok(OriginParts {
        scheme,
        host: authority.host,
        port: authority.port.or_else(|| default_port(scheme)),
    })
}

/// `ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )` (RFC 3986 §3.1).
fn is_scheme(scheme: &str) -> bool {
    let mut bytes = scheme.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
}

fn default_port(scheme: &str) -> Option<u16> {
    if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("ws") {
        Some(80)
    } else if scheme.eq_ignore_ascii_case("https") || scheme.eq_ignore_ascii_case("wss") {
        Some(443)
    } else {
        None
    }
}

/// An allowed-origin string that is not `scheme://host[:port][/path]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginParseError {
    origin: String,
    kind: OriginErrorKind,
}

impl OriginParseError {
    /// The string that was rejected.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// What is wrong with it.
    pub fn kind(&self) -> OriginErrorKind {
        self.kind
    }
}

impl fmt::Display for OriginParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid allowed origin {:?}: {}", self.origin, self.kind)
    }
}

impl std::error::Error for OriginParseError {}

/// What is wrong with an allowed-origin string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OriginErrorKind {
    /// `null`: the opaque origin of sandboxed pages and local files, which
    /// cannot name anyone to allow.
    Opaque,
    /// No `scheme://` prefix.
    MissingScheme,
    /// The scheme has characters a scheme cannot have.
    InvalidScheme,
    /// `user@host`: origins carry no user information.
    UserInfo,
    /// Nothing between `://` and the port or path.
    EmptyHost,
    /// The host has characters a host cannot have.
    InvalidHost,
    /// The port is not a number from 0 to 65535.
    InvalidPort,
}

impl fmt::Display for OriginErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Opaque => "the opaque origin \"null\" cannot be allowed",
            Self::MissingScheme => "expected scheme://host[:port]",
            Self::InvalidScheme => "invalid scheme",
            Self::UserInfo => "an origin cannot contain user information",
            Self::EmptyHost => "missing host",
            Self::InvalidHost => "invalid host",
            Self::InvalidPort => "invalid port",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(
        scheme: &'static str,
        host: &'static str,
        port: Option<u16>,
    ) -> Result<OriginParts<'static>, OriginErrorKind> {
        Ok(OriginParts { scheme, host, port })
    }

    #[test]
    fn parses_with_default_ports() {
        assert_eq!(parse_origin("http://a"), parts("http", "a", Some(80)));
        assert_eq!(parse_origin("ws://a"), parts("ws", "a", Some(80)));
        assert_eq!(parse_origin("https://a"), parts("https", "a", Some(443)));
        assert_eq!(parse_origin("WSS://a"), parts("WSS", "a", Some(443)));
        assert_eq!(
            parse_origin("chrome-extension://abc"),
            parts("chrome-extension", "abc", None)
        );
    }

    #[test]
    fn parses_explicit_port_and_ignores_path() {
        assert_eq!(
            parse_origin("http://a:8080/x/y?z#w"),
            parts("http", "a", Some(8080))
        );
        assert_eq!(
            parse_origin("https://[::1]:9/"),
            parts("https", "[::1]", Some(9))
        );
    }

    #[test]
    fn rejects() {
        let cases = [
            ("null", OriginErrorKind::Opaque),
            ("example.com", OriginErrorKind::MissingScheme),
            ("", OriginErrorKind::MissingScheme),
            ("1http://a", OriginErrorKind::InvalidScheme),
            ("://a", OriginErrorKind::InvalidScheme),
            ("http://u:p@a", OriginErrorKind::UserInfo),
            ("http://", OriginErrorKind::EmptyHost),
            ("http:///p", OriginErrorKind::EmptyHost),
            ("http://a b", OriginErrorKind::InvalidHost),
            ("http://a:99999", OriginErrorKind::InvalidPort),
        ];
        for (text, kind) in cases {
            assert_eq!(parse_origin(text), Err(kind), "{text}");
        }
    }
}
