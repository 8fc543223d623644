//! Endpoint selection: which configured endpoint URL a request is for.

use crate::authority::{host_for_comparison, hosts_match};
use crate::error::HandshakeError;
use crate::origin::AllowedOrigins;
use crate::request::UpgradeRequest;

/// The scheme a listening port serves, which decides the port a request
/// means when its `Host` names none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// Plain-text `ws://` (default port 80).
    Ws,
    /// TLS `wss://` (default port 443).
    Wss,
}

impl Scheme {
    /// 80 for `ws`, 443 for `wss`.
    pub fn default_port(self) -> u16 {
        match self {
            Self::Ws => 80,
            Self::Wss => 443,
        }
    }
}

/// One endpoint URL (`scheme://host:port/path`, already split) with its
/// allowed origins and the caller's value for it (e.g. an endpoint id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route<T> {
    scheme: Scheme,
    host: Box<str>,
    port: u16,
    path: Box<str>,
    allowed_origins: AllowedOrigins,
    value: T,
}

impl<T> Route<T> {
    /// The scheme: only a listener serving it reaches the endpoint.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The host, as compared: lowercase, without a trailing dot or IPv6
    /// brackets.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port (the listening port the endpoint is served on).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The path (`/` when the URL had none).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The origins allowed to connect.
    pub fn allowed_origins(&self) -> &AllowedOrigins {
        &self.allowed_origins
    }

    /// The caller's value.
    pub fn value(&self) -> &T {
        &self.value
    }
}

/// Picks the endpoint a request is for, among the endpoint URLs of any
/// number of listening ports.
///
/// # Policy
///
/// A request that arrived on listening port `P`, a listener serving scheme
/// `S`, is matched against the routes of scheme `S` whose port is `P` and
/// whose path equals the request's path exactly (byte for byte, no
/// percent-decoding; the query is ignored). So a `wss://` endpoint is never
/// reached in plain text, even through a plain-text listener on the same
/// port number (on another address):
///
/// 1. If one of them has the requested host and port, it is chosen. Hosts
///    are compared case-insensitively, ignoring a trailing dot (and IPv6
///    brackets). The requested host and port come from the `Host` header, or
///    from an absolute-form request target, which takes precedence; a
///    missing port means the listener's default port (80 for `ws`, 443 for
///    `wss`, see [`Scheme`]).
/// 2. Otherwise the first-added of them is chosen, whatever the requested
///    host, as nginx does with the default server of a port. So
///    `ws://127.0.0.1:8080/echo` reaches an endpoint configured as
///    `ws://localhost:8080/echo`: the host only chooses between endpoints
///    that share a port and a path.
/// 3. If there is none, the answer is 404 ([`HandshakeError::NotFound`]).
///
/// [`route`](Self::route) then applies the chosen endpoint's
/// [`AllowedOrigins`] (403, [`HandshakeError::ForbiddenOrigin`]).
///
/// Routes are kept in a list and searched in order; endpoint lists are
/// short. An exact duplicate (same host, port and path) of an earlier route
/// is never chosen.
///
/// ```
/// use rs_http::{AllowedOrigins, HandshakeError, Router, Scheme};
///
/// let mut router = Router::new();
/// router.add(Scheme::Ws, "localhost", 8080, "/echo", AllowedOrigins::any(), 1);
/// router.add(Scheme::Ws, "chat.example", 8080, "/echo", AllowedOrigins::any(), 2);
/// assert_eq!(router.len(), 2);
/// # let parse = |host: &str, path: &str| {
/// #     let head = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n\
/// #         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
/// #         Sec-WebSocket-Version: 13\r\n\r\n");
/// #     match rs_http::RequestParser::new().push(head.as_bytes()) {
/// #         Ok(rs_http::Progress::Complete { request, .. }) => request,
/// #         other => panic!("{other:?}"),
/// #     }
/// # };
/// // `parse` stands for a RequestParser run over a request with this Host and target.
/// assert_eq!(router.route(&parse("CHAT.example:8080", "/echo"), 8080, Scheme::Ws), Ok(&2));
/// assert_eq!(router.route(&parse("127.0.0.1:8080", "/echo?x=1"), 8080, Scheme::Ws), Ok(&1));
/// assert_eq!(
///     router.route(&parse("localhost:8080", "/other"), 8080, Scheme::Ws),
///     Err(HandshakeError::NotFound)
/// );
/// // A TLS listener on port 8080 (on another address) serves none of them.
/// assert_eq!(
///     router.route(&parse("localhost:8080", "/echo"), 8080, Scheme::Wss),
///     Err(HandshakeError::NotFound)
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Router<T> {
    routes: Vec<Route<T>>,
}

impl<T> Default for Router<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Router<T> {
    /// A router without routes (every request gets 404).
    pub fn new() -> Self {
        Self { routes: Vec::new() }
    }

    /// Adds the endpoint `scheme://host:port/path`. `host` is as in a URL
    /// (`example.com`, `127.0.0.1`, `[::1]` or `::1`); an empty `path`
    /// means `/`. Order matters for the fallback (see the policy above).
    pub fn add(
        &mut self,
        scheme: Scheme,
        host: &str,
        port: u16,
        path: &str,
        allowed_origins: AllowedOrigins,
        value: T,
    ) -> &mut Self {
        let path = if path.is_empty() { "/" } else { path };
        self.routes.push(Route {
            scheme,
            host: host_for_comparison(host)
                .to_ascii_lowercase()
                .into_boxed_str(),
            port,
            path: path.into(),
            allowed_origins,
            value,
        });
        self
    }

    /// The routes, in the order they were added.
    pub fn routes(&self) -> &[Route<T>] {
        &self.routes
    }

    /// How many routes there are.
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    /// Whether there are no routes.
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// The route for a request that arrived on `local_port`, a listener
    /// serving `scheme`, without the origin check; `None` means 404.
    pub fn find(
        &self,
        request: &UpgradeRequest,
        local_port: u16,
        scheme: Scheme,
    ) -> Option<&Route<T>> {
        let requested_port = request.port().unwrap_or(scheme.default_port());
        let mut fallback = None;
        for route in &self.routes {
            if route.scheme != scheme || route.port != local_port || *route.path != *request.path()
            {
                continue;
            }
            if route.port == requested_port && hosts_match(&route.host, request.host()) {
                return Some(route);
            }
            fallback.get_or_insert(route);
        }
        fallback
    }

    /// The value of the endpoint a request is for, once its origin is
    /// checked: [`find`](Self::find), then
    /// [`AllowedOrigins::check`] with the request's `Origin`.
    ///
    /// # Errors
    ///
    /// [`HandshakeError::NotFound`] (404) when no endpoint has the path on
    /// this port, [`HandshakeError::ForbiddenOrigin`] (403) when the
    /// endpoint does not allow the request's origin.
    pub fn route(
        &self,
        request: &UpgradeRequest,
        local_port: u16,
        scheme: Scheme,
    ) -> Result<&T, HandshakeError> {
        let route = self
            .find(request, local_port, scheme)
            .ok_or(HandshakeError::NotFound)?;
        route.allowed_origins.check(request.origin())?;
        Ok(&route.value)
    }
}
