//! The server under test: where to connect and what to ask for.

use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};

/// A `ws://` endpoint, resolved.
///
/// ```
/// use rs_conformance::Target;
///
/// let target = Target::parse("ws://127.0.0.1:9001/echo")?;
/// assert_eq!(target.addr.port(), 9001);
/// assert_eq!(target.host, "127.0.0.1:9001");
/// assert_eq!(target.path, "/echo");
/// # Ok::<(), rs_conformance::target::UrlError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The address to connect to.
    pub addr: SocketAddr,
    /// The `Host` header value.
    pub host: String,
    /// The request target (path and query).
    pub path: String,
}

/// A URL the runner cannot use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UrlError {
    /// Not `ws://…` (`wss://` is not supported yet).
    Scheme(String),
    /// The port is not a number from 1 to 65535.
    Port(String),
    /// The host did not resolve to any address.
    Resolve(String),
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Scheme(url) => write!(
                f,
                "{url:?}: only ws://HOST[:PORT][/PATH] URLs are supported"
            ),
            Self::Port(url) => write!(f, "{url:?}: the port must be a number from 1 to 65535"),
            Self::Resolve(url) => write!(f, "{url:?}: the host does not resolve"),
        }
    }
}

impl std::error::Error for UrlError {}

impl Target {
    /// Parses and resolves `ws://HOST[:PORT][/PATH]`.
    pub fn parse(url: &str) -> Result<Self, UrlError> {
        let rest = url
            .strip_prefix("ws://")
            .ok_or_else(|| UrlError::Scheme(url.to_owned()))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.is_empty() {
            return Err(UrlError::Scheme(url.to_owned()));
        }
        // The last colon outside IPv6 brackets separates the port.
        let (host, port) = match authority.rfind(':') {
            Some(i) if !authority[i..].contains(']') => {
                let port: u16 = authority[i + 1..]
                    .parse()
                    .ok()
                    .filter(|&p| p != 0)
                    .ok_or_else(|| UrlError::Port(url.to_owned()))?;
                (&authority[..i], port)
            }
            _ => (authority, 80),
        };
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let addr = (bare, port)
            .to_socket_addrs()
            .ok()
            .and_then(|mut addrs| addrs.next())
            .ok_or_else(|| UrlError::Resolve(url.to_owned()))?;
        Ok(Self {
            addr,
            host: authority.to_owned(),
            path: path.to_owned(),
        })
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ws://{}{} ({})", self.host, self.path, self.addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_errors() {
        let target = Target::parse("ws://127.0.0.1").unwrap();
        assert_eq!((target.addr.port(), target.path.as_str()), (80, "/"));
        assert!(matches!(
            Target::parse("wss://x/"),
            Err(UrlError::Scheme(_))
        ));
        assert!(matches!(
            Target::parse("ws://127.0.0.1:0/"),
            Err(UrlError::Port(_))
        ));
        assert!(matches!(
            Target::parse("ws://127.0.0.1:x/"),
            Err(UrlError::Port(_))
        ));
        assert!(matches!(
            Target::parse("ws:///echo"),
            Err(UrlError::Scheme(_))
        ));
        let v6 = Target::parse("ws://[::1]:9/a?b").unwrap();
        assert_eq!((v6.addr.port(), v6.path.as_str()), (9, "/a?b"));
    }
}
