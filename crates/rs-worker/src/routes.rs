//! Where new connections go: the endpoints, one table shared by all workers
//! and replaced whole when the configuration is reloaded. A connection
//! takes the table in use when it is accepted, with the certificates of
//! then, and routes its request by it however late that comes.

use std::sync::{Arc, PoisonError, RwLock};

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
/// // What SIGHUP does with a new table (and the new certificates, if any).
/// routes.replace_with(Some(Router::new()), || {});
/// ```
#[derive(Debug)]
pub struct Routes {
    current: Current<RouteTable>,
    /// Held to read the table together with another value a reload swaps
    /// with it (the certificates), and to swap them together: a connection
    /// never gets one version of each.
    together: RwLock<()>,
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
            together: RwLock::new(()),
        }
    }

    /// Routes connections accepted from now on to the endpoints of
    /// `router`, if given, and at once with what `also` swaps (the
    /// certificates, see [`TlsConfig::install`](crate::TlsConfig::install)):
    /// a connection accepted meanwhile gets both old or both new. `also`
    /// should only swap; prepare before.
    ///
    /// ```
    /// use rs_http::Router;
    /// use rs_worker::Routes;
    /// let routes = Routes::new(Router::new());
    /// let mut swapped = false;
    /// routes.replace_with(Some(Router::new()), || swapped = true);
    /// assert!(swapped);
    /// ```
    pub fn replace_with(&self, router: Option<Router<Endpoint>>, also: impl FnOnce()) {
        let table = router.map(RouteTable::new);
        let _together = self
            .together
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        also();
        if let Some(table) = table {
            self.current.set(table);
        }
    }

    /// The table in use: one handshake uses one version throughout.
    pub(crate) fn current(&self) -> Arc<RouteTable> {
        self.current.get()
    }

    /// The table in use and what `also` reads (the certificates), of one
    /// version (see [`replace_with`](Self::replace_with)).
    pub(crate) fn current_with<T>(&self, also: impl FnOnce() -> T) -> (Arc<RouteTable>, T) {
        let _together = self.together.read().unwrap_or_else(PoisonError::into_inner);
        (self.current(), also())
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
        router.add(
            rs_http::Scheme::Ws,
            "a",
            80,
            "/x",
            any.clone(),
            endpoint(&["Cookie", "X-A"]),
        );
        router.add(
            rs_http::Scheme::Ws,
            "a",
            80,
            "/y",
            any,
            endpoint(&["cookie", "X-B"]),
        );
        let routes = Routes::new(router);
        assert_eq!(
            &*routes.current().kept_headers,
            ["Cookie".into(), "X-A".into(), "X-B".into()]
        );
        routes.replace_with(Some(Router::new()), || {});
        assert!(routes.current().kept_headers.is_empty());
        assert_eq!(routes.current().router.len(), 0);
    }

    /// A router with `n` endpoints.
    fn router_of(n: usize) -> Router<Endpoint> {
        let mut router = Router::new();
        for i in 0..n {
            let path = format!("/{i}");
            router.add(
                rs_http::Scheme::Ws,
                "a",
                80,
                &path,
                rs_http::AllowedOrigins::any(),
                endpoint(&[]),
            );
        }
        router
    }

    #[test]
    fn a_reader_gets_the_table_and_what_is_swapped_with_it_of_one_version() {
        // The version is the table's endpoint count, and a second value
        // swapped with it: a reader must never see them differ.
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
        let routes = Arc::new(Routes::new(router_of(0)));
        let other = Arc::new(AtomicUsize::new(0));
        let reads = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let reader = {
            let (routes, other) = (routes.clone(), other.clone());
            let (reads, stop) = (reads.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let (table, value) = routes.current_with(|| other.load(Ordering::SeqCst));
                    assert_eq!(table.router.len(), value, "one of each version");
                    reads.fetch_add(1, Ordering::Relaxed);
                }
            })
        };
        // Swaps while the reader reads: 20,000 reads, 5 s at most.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let mut version = 0;
        while reads.load(Ordering::Relaxed) < 20_000 && std::time::Instant::now() < deadline {
            version = (version + 1) % 4;
            // The other value is swapped with the table: unless the two
            // swaps are one to readers, the reader sees a mix.
            let router = router_of(version);
            routes.replace_with(Some(router), || other.store(version, Ordering::SeqCst));
        }
        stop.store(true, Ordering::Relaxed);
        reader.join().unwrap();
        assert!(reads.load(Ordering::Relaxed) >= 20_000);
    }
}
