//! The server under test: where to connect, what to ask for, and for
//! `wss://` how to speak TLS to it.

use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};

use rustls_pki_types::CertificateDer;

use crate::tls::{TlsClient, TlsError};

/// A `ws://` or `wss://` endpoint, resolved.
///
/// ```
/// use rs_conformance::Target;
///
/// let target = Target::parse("ws://127.0.0.1:9001/echo")?;
/// assert_eq!(target.addr.port(), 9001);
/// assert_eq!(target.host, "127.0.0.1:9001");
/// assert_eq!(target.path, "/echo");
/// assert!(target.tls.is_none());
/// # Ok::<(), rs_conformance::target::UrlError>(())
/// ```
///
/// A `wss://` target trusts the CA certificates it is given:
///
/// ```
/// use rs_conformance::{Target, certs::LocalCerts};
///
/// let certs = LocalCerts::generate("localhost")?;
/// let target = Target::parse_trusting("wss://localhost:9443/echo", &[certs.ca])?;
/// assert_eq!(target.tls.unwrap().server_name_text(), "localhost");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct Target {
    /// The address to connect to.
    pub addr: SocketAddr,
    /// The `Host` header value.
    pub host: String,
    /// The request target (path and query).
    pub path: String,
    /// For `wss://`: the TLS client (server name and trusted CAs).
    pub tls: Option<TlsClient>,
}

/// A URL the runner cannot use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UrlError {
    /// Not `ws://…` or `wss://…`.
    Scheme(String),
    /// The port is not a number from 1 to 65535.
    Port(String),
    /// The host did not resolve to any address.
    Resolve(String),
    /// A `wss://` URL whose TLS client cannot be set up.
    Tls(String, TlsError),
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Scheme(url) => write!(
                f,
                "{url:?}: only ws:// and wss://HOST[:PORT][/PATH] URLs are supported"
            ),
            Self::Port(url) => write!(f, "{url:?}: the port must be a number from 1 to 65535"),
            Self::Resolve(url) => write!(f, "{url:?}: the host does not resolve"),
            Self::Tls(url, e) => write!(f, "{url:?}: {e}"),
        }
    }
}

impl std::error::Error for UrlError {}

impl Target {
    /// Parses and resolves `ws://HOST[:PORT][/PATH]` (a `wss://` URL needs
    /// CAs to trust: see [`Target::parse_trusting`]).
    pub fn parse(url: &str) -> Result<Self, UrlError> {
        Self::parse_trusting(url, &[])
    }

    /// Parses and resolves `ws://` or `wss://HOST[:PORT][/PATH]`; a `wss://`
    /// target asks for HOST (SNI) and trusts exactly the CAs in `roots`.
    /// `roots` is ignored for `ws://`.
    pub fn parse_trusting(url: &str, roots: &[CertificateDer<'static>]) -> Result<Self, UrlError> {
        let (rest, secure) = if let Some(rest) = url.strip_prefix("ws://") {
            (rest, false)
        } else if let Some(rest) = url.strip_prefix("wss://") {
            (rest, true)
        } else {
            return Err(UrlError::Scheme(url.to_owned()));
        };
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
            _ => (authority, if secure { 443 } else { 80 }),
        };
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let tls = secure
            .then(|| TlsClient::new(bare, roots))
            .transpose()
            .map_err(|e| UrlError::Tls(url.to_owned(), e))?;
        let addr = (bare, port)
            .to_socket_addrs()
            .ok()
            .and_then(|mut addrs| addrs.next())
            .ok_or_else(|| UrlError::Resolve(url.to_owned()))?;
        Ok(Self {
            addr,
            host: authority.to_owned(),
            path: path.to_owned(),
            tls,
        })
    }

    /// `ws` or `wss`.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "wss" } else { "ws" }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}://{}{} ({})",
            self.scheme(),
            self.host,
            self.path,
            self.addr
        )
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
            Target::parse("http://x/"),
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

    #[test]
    fn wss_needs_roots_and_defaults_to_port_443() {
        assert_eq!(
            Target::parse("wss://localhost/").unwrap_err(),
            UrlError::Tls("wss://localhost/".into(), TlsError::NoRoots)
        );
        let certs = crate::certs::LocalCerts::generate("localhost").unwrap();
        let target = Target::parse_trusting("wss://localhost/echo", &[certs.ca]).unwrap();
        assert_eq!(target.addr.port(), 443);
        assert_eq!(
            target.to_string(),
            format!("wss://localhost/echo ({})", target.addr)
        );
        let target = Target::parse("ws://127.0.0.1:9/").unwrap();
        assert_eq!(target.to_string(), "ws://127.0.0.1:9/ (127.0.0.1:9)");
    }
}
