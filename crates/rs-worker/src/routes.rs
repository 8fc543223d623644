//! Where new connections go: the endpoints, one table shared by all workers
//! and replaced whole when the configuration is reloaded. A connection
//! takes the table in use when it is accepted, with the certificates of
//! then, and routes its request by it however late that comes.

use std::sync::Arc;

use rs_http::Router;

use crate::current::Current;

/// Where a request was routed: an app (by index), its endpoint id, the
/// subprotocols the endpoint speaks and the request headers its app gets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// The app's index in the configuration's `apps`.
    pub app: u16,
    /// The endpoint's `endpoint_id`.
    pub endpoint_id: u16,
    /// The endpoint's `subprotocols`, in order of preference.
    pub subprotocols: Box<[Box<str>]>,
    /// The endpoint's `app_headers`: the request headers its app's open
    /// callback may read.
    pub app_headers: Box<[Box<str>]>,
}

/// The endpoints new connections are routed to.
///
/// ```
/// use rs_http::Router;
/// use rs_worker::Routes;
/// let routes = Routes::new(Router::new());
/// assert_eq!(routes.len(), 0);
/// routes.replace(Router::new()); // what SIGHUP does with a new table
/// ```
#[derive(Debug)]
pub struct Routes {
    current: Current<RouteTable>,
}

/// One version of the routes.
#[derive(Debug)]
pub(crate) struct RouteTable {
    pub(crate) router: Router<Endpoint>,
    /// Every endpoint's `app_headers`, each name once (in any case): what
    /// a request's parser keeps, before the request is routed to one.
    pub(crate) kept_headers: Box<[Box<str>]>,
}

impl RouteTable {
    fn new(router: Router<Endpoint>) -> Self {
        let mut kept_headers: Vec<Box<str>> = Vec::new();
        for name in router.routes().iter().flat_map(|r| &r.value().app_headers) {
            if !kept_headers.iter().any(|n| n.eq_ignore_ascii_case(name)) {
                kept_headers.push(name.clone());
            }
        }
        Self {
            router,
            kept_headers: kept_headers.into_boxed_slice(),
        }
    }
}

impl Routes {
    /// Routes to the endpoints of `router`.
    pub fn new(router: Router<Endpoint>) -> Self {
        Self {
            current: Current::new(RouteTable::new(router)),
        }
    }

    /// Routes connections accepted from now on to the endpoints of `router`.
    pub fn replace(&self, router: Router<Endpoint>) {
        self.current.set(RouteTable::new(router));
    }

    /// How many endpoints there are.
    pub fn len(&self) -> usize {
        self.current().router.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The table in use: one handshake uses one version throughout.
    pub(crate) fn current(&self) -> Arc<RouteTable> {
        self.current.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(app_headers: &[&str]) -> Endpoint {
        Endpoint {
            app: 0,
            endpoint_id: 0,
            subprotocols: Box::new([]),
            app_headers: app_headers.iter().map(|&h| h.into()).collect(),
        }
    }

    #[test]
    fn the_parser_keeps_every_endpoints_headers_once() {
        let mut router = Router::new();
        let any = rs_http::AllowedOrigins::any();
        router.add("a", 80, "/x", any.clone(), endpoint(&["Cookie", "X-A"]));
        router.add("a", 80, "/y", any, endpoint(&["cookie", "X-B"]));
        let routes = Routes::new(router);
        assert_eq!(
            &*routes.current().kept_headers,
            ["Cookie".into(), "X-A".into(), "X-B".into()]
        );
        routes.replace(Router::new());
        assert!(routes.current().kept_headers.is_empty());
        assert!(routes.is_empty());
    }
}
