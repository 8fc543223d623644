//! Endpoint selection and the Origin check.

mod common;

use common::parse_with;
use rs_http::{AllowedOrigins, HandshakeError, OriginErrorKind, Router, Scheme, UpgradeRequest};

/// A valid request for `target` with this `Host` (and `Origin`, if any).
fn request(host: &str, target: &str, origin: Option<&str>) -> UpgradeRequest {
    parse_with(target, |h| {
        h[0] = format!("Host: {host}");
        if let Some(origin) = origin {
            h.push(format!("Origin: {origin}"));
        }
    })
    .unwrap()
}

fn any() -> AllowedOrigins {
    AllowedOrigins::any()
}

fn two_hosts_on_8080() -> Router<&'static str> {
    let mut router = Router::new();
    router
        .add(
            Scheme::Ws,
            "localhost",
            8080,
            "/echo",
            any(),
            "localhost echo",
        )
        .add(
            Scheme::Ws,
            "chat.example",
            8080,
            "/echo",
            any(),
            "chat echo",
        )
        .add(
            Scheme::Ws,
            "localhost",
            8080,
            "/chat",
            any(),
            "localhost chat",
        )
        .add(Scheme::Ws, "localhost", 9090, "/echo", any(), "9090 echo");
    router
}

// Routing

#[test]
fn exact_host_and_port_win() {
    let router = two_hosts_on_8080();
    let req = request("chat.example:8080", "/echo", None);
    assert_eq!(router.route(&req, 8080, Scheme::Ws), Ok(&"chat echo"));
    let req = request("localhost:8080", "/echo", None);
    assert_eq!(router.route(&req, 8080, Scheme::Ws), Ok(&"localhost echo"));
}

#[test]
fn unknown_host_falls_back_to_first_route_with_the_path() {
    let router = two_hosts_on_8080();
    let req = request("127.0.0.1:8080", "/echo", None);
    assert_eq!(router.route(&req, 8080, Scheme::Ws), Ok(&"localhost echo"));
}

#[test]
fn fallback_is_the_first_added() {
    let mut router = Router::new();
    router
        .add(Scheme::Ws, "b.example", 8080, "/x", any(), 'b')
        .add(Scheme::Ws, "a.example", 8080, "/x", any(), 'a');
    let req = request("c.example:8080", "/x", None);
    assert_eq!(router.route(&req, 8080, Scheme::Ws), Ok(&'b'));
}

#[test]
fn unknown_path_is_404() {
    let router = two_hosts_on_8080();
    let req = request("localhost:8080", "/nope", None);
    let result = router.route(&req, 8080, Scheme::Ws);
    assert_eq!(result, Err(HandshakeError::NotFound));
    assert_eq!(result.unwrap_err().status(), 404);
}

#[test]
fn path_must_match_exactly() {
    let router = two_hosts_on_8080();
    for path in ["/echo/", "/Echo", "/ech", "/echo/x", "/%65cho"] {
        let req = request("localhost:8080", path, None);
        assert_eq!(
            router.route(&req, 8080, Scheme::Ws),
            Err(HandshakeError::NotFound),
            "{path}"
        );
    }
}

#[test]
fn path_on_another_port_is_404() {
    let router = two_hosts_on_8080();
    let req = request("localhost:7070", "/echo", None);
    assert_eq!(
        router.route(&req, 7070, Scheme::Ws),
        Err(HandshakeError::NotFound)
    );
    let req = request("localhost:9090", "/chat", None);
    assert_eq!(
        router.route(&req, 9090, Scheme::Ws),
        Err(HandshakeError::NotFound)
    );
}

#[test]
fn listening_port_selects_the_routes() {
    let router = two_hosts_on_8080();
    let req = request("localhost:9090", "/echo", None);
    assert_eq!(router.route(&req, 9090, Scheme::Ws), Ok(&"9090 echo"));
}

#[test]
fn query_is_ignored() {
    let router = two_hosts_on_8080();
    let req = request("chat.example:8080", "/echo?a=1", None);
    assert_eq!(router.route(&req, 8080, Scheme::Ws), Ok(&"chat echo"));
}

#[test]
fn empty_router_is_404() {
    let router: Router<()> = Router::new();
    assert!(router.is_empty());
    let req = request("h", "/", None);
    assert_eq!(
        router.route(&req, 80, Scheme::Ws),
        Err(HandshakeError::NotFound)
    );
}

#[test]
fn empty_route_path_means_root() {
    let mut router = Router::new();
    router.add(Scheme::Ws, "h", 80, "", any(), ());
    assert_eq!(router.routes()[0].path(), "/");
    let req = request("h", "/", None);
    assert_eq!(router.route(&req, 80, Scheme::Ws), Ok(&()));
}

#[test]
fn host_is_case_insensitive() {
    let mut router = Router::new();
    router.add(Scheme::Ws, "first", 8080, "/", any(), 1).add(
        Scheme::Ws,
        "Chat.Example",
        8080,
        "/",
        any(),
        2,
    );
    let req = request("CHAT.example:8080", "/", None);
    assert_eq!(router.route(&req, 8080, Scheme::Ws), Ok(&2));
}

#[test]
fn trailing_dot_is_ignored() {
    let mut router = Router::new();
    router
        .add(Scheme::Ws, "first", 8080, "/", any(), 1)
        .add(Scheme::Ws, "chat.example", 8080, "/", any(), 2)
        .add(Scheme::Ws, "first", 8080, "/d", any(), 3)
        .add(Scheme::Ws, "dotted.example.", 8080, "/d", any(), 4);
    let req = request("chat.example.:8080", "/", None);
    assert_eq!(router.route(&req, 8080, Scheme::Ws), Ok(&2));
    let req = request("dotted.example:8080", "/d", None);
    assert_eq!(router.route(&req, 8080, Scheme::Ws), Ok(&4));
    assert_eq!(router.routes()[3].host(), "dotted.example");
}

#[test]
fn missing_port_means_80_for_ws() {
    let mut router = Router::new();
    router.add(Scheme::Ws, "first", 80, "/", any(), 1).add(
        Scheme::Ws,
        "chat.example",
        80,
        "/",
        any(),
        2,
    );
    let req = request("chat.example", "/", None);
    assert_eq!(router.route(&req, 80, Scheme::Ws), Ok(&2));
}

#[test]
fn missing_port_means_443_for_wss() {
    let mut router = Router::new();
    router
        .add(Scheme::Wss, "first", 443, "/", any(), 1)
        .add(Scheme::Wss, "chat.example", 443, "/", any(), 2)
        .add(Scheme::Ws, "first", 443, "/", any(), 3)
        .add(Scheme::Ws, "chat.example", 443, "/", any(), 4);
    let req = request("chat.example", "/", None);
    assert_eq!(router.route(&req, 443, Scheme::Wss), Ok(&2));
    // The same request on a ws listener on 443 means port 80: no exact
    // match, so the first ws endpoint of the port.
    assert_eq!(router.route(&req, 443, Scheme::Ws), Ok(&3));
}

#[test]
fn a_listener_reaches_only_the_endpoints_of_its_scheme() {
    // One port number, TLS on one address and plain text on another.
    let mut router = Router::new();
    router.add(Scheme::Wss, "localhost", 8443, "/secret", any(), "secret");
    router.add(Scheme::Ws, "localhost", 8443, "/open", any(), "open");
    let secret = request("localhost:8443", "/secret", None);
    let open = request("localhost:8443", "/open", None);
    assert_eq!(router.route(&secret, 8443, Scheme::Wss), Ok(&"secret"));
    assert_eq!(
        router.route(&secret, 8443, Scheme::Ws),
        Err(HandshakeError::NotFound)
    );
    assert_eq!(router.route(&open, 8443, Scheme::Ws), Ok(&"open"));
    assert_eq!(
        router.route(&open, 8443, Scheme::Wss),
        Err(HandshakeError::NotFound)
    );
}

#[test]
fn missing_port_on_a_non_default_port_falls_back() {
    let mut router = Router::new();
    router.add(Scheme::Ws, "first", 8080, "/", any(), 1).add(
        Scheme::Ws,
        "chat.example",
        8080,
        "/",
        any(),
        2,
    );
    let req = request("chat.example", "/", None);
    assert_eq!(router.route(&req, 8080, Scheme::Ws), Ok(&1));
}

#[test]
fn absolute_form_authority_routes() {
    let mut router = Router::new();
    router.add(Scheme::Ws, "first", 8080, "/p", any(), 1).add(
        Scheme::Ws,
        "chat.example",
        8080,
        "/p",
        any(),
        2,
    );
    let req = request("first:8080", "ws://chat.example:8080/p", None);
    assert_eq!(router.route(&req, 8080, Scheme::Ws), Ok(&2));
}

#[test]
fn ipv6_hosts_match_with_or_without_brackets() {
    let mut router = Router::new();
    router.add(Scheme::Ws, "first", 8080, "/", any(), 1).add(
        Scheme::Ws,
        "::1",
        8080,
        "/",
        any(),
        2,
    );
    let req = request("[::1]:8080", "/", None);
    assert_eq!(router.route(&req, 8080, Scheme::Ws), Ok(&2));
}

#[test]
fn find_skips_the_origin_check() {
    let mut router = Router::new();
    router.add(
        Scheme::Ws,
        "h",
        80,
        "/",
        AllowedOrigins::parse(["https://a.example"]).unwrap(),
        1,
    );
    let req = request("h", "/", Some("https://evil.example"));
    let route = router.find(&req, 80, Scheme::Ws).unwrap();
    assert_eq!(
        (route.host(), route.port(), route.path(), route.value()),
        ("h", 80, "/", &1)
    );
    assert_eq!(
        router.route(&req, 80, Scheme::Ws),
        Err(HandshakeError::ForbiddenOrigin)
    );
}

// Origin

fn router_allowing(origins: &[&str]) -> Router<()> {
    let mut router = Router::new();
    router.add(
        Scheme::Ws,
        "h",
        80,
        "/",
        AllowedOrigins::parse(origins).unwrap(),
        (),
    );
    router
}

fn origin_result<'a>(
    router: &'a Router<()>,
    origin: Option<&str>,
) -> Result<&'a (), HandshakeError> {
    router.route(&request("h", "/", origin), 80, Scheme::Ws)
}

#[test]
fn an_ipv6_origin_is_compared_as_an_address() {
    // A browser writes the shortest form (RFC 6454 §6.2, RFC 5952); the
    // configuration may have written another.
    let router = router_allowing(&["http://[0:0:0:0:0:0:0:1]:8080", "https://[2001:DB8:0::01]"]);
    for origin in ["http://[::1]:8080", "https://[2001:db8::1]"] {
        assert_eq!(origin_result(&router, Some(origin)), Ok(&()), "{origin}");
    }
    assert_eq!(
        origin_result(&router, Some("http://[::2]:8080")),
        Err(HandshakeError::ForbiddenOrigin)
    );
}

#[test]
fn absent_origin_is_allowed() {
    let router = router_allowing(&["https://example.com"]);
    assert_eq!(origin_result(&router, None), Ok(&()));
}

#[test]
fn listed_origin_is_allowed() {
    let router = router_allowing(&["http://localhost:8080", "https://example.com"]);
    assert_eq!(
        origin_result(&router, Some("http://localhost:8080")),
        Ok(&())
    );
    assert_eq!(origin_result(&router, Some("https://example.com")), Ok(&()));
}

#[test]
fn unlisted_origin_is_403() {
    let router = router_allowing(&["https://example.com"]);
    for origin in [
        "https://evil.example",
        "http://example.com",
        "https://example.com:8443",
        "https://sub.example.com",
        "https://example.com.evil.example",
    ] {
        let result = origin_result(&router, Some(origin));
        assert_eq!(result, Err(HandshakeError::ForbiddenOrigin), "{origin}");
        assert_eq!(result.unwrap_err().status(), 403);
    }
}

#[test]
fn null_origin_is_403() {
    let router = router_allowing(&["https://example.com"]);
    assert_eq!(
        origin_result(&router, Some("null")),
        Err(HandshakeError::ForbiddenOrigin)
    );
}

#[test]
fn unparsable_origin_is_403() {
    let router = router_allowing(&["https://example.com"]);
    for origin in ["", "example.com", "https://", "https://a b"] {
        let result = origin_result(&router, Some(origin));
        assert_eq!(result, Err(HandshakeError::ForbiddenOrigin), "{origin:?}");
    }
}

#[test]
fn origin_comparison_ignores_case() {
    let router = router_allowing(&["HTTPS://Example.COM"]);
    assert_eq!(origin_result(&router, Some("https://example.com")), Ok(&()));
    assert_eq!(origin_result(&router, Some("Https://EXAMPLE.com")), Ok(&()));
}

#[test]
fn origin_default_ports_are_normalized() {
    let router = router_allowing(&["https://example.com", "http://plain.example:80"]);
    assert_eq!(
        origin_result(&router, Some("https://example.com:443")),
        Ok(&())
    );
    assert_eq!(
        origin_result(&router, Some("http://plain.example")),
        Ok(&())
    );
    let router = router_allowing(&["http://localhost:8080"]);
    assert_eq!(
        origin_result(&router, Some("http://localhost")),
        Err(HandshakeError::ForbiddenOrigin)
    );
}

#[test]
fn allowed_origin_path_is_ignored() {
    let router = router_allowing(&["https://example.com/foo"]);
    assert_eq!(origin_result(&router, Some("https://example.com")), Ok(&()));
}

#[test]
fn a_wildcard_allows_every_origin() {
    for list in [&["*"][..], &["https://a.example", "*"]] {
        let router = router_allowing(list);
        assert!(router.routes()[0].allowed_origins().allows_any());
        for origin in ["https://anything.example", "null", "garbage"] {
            assert_eq!(origin_result(&router, Some(origin)), Ok(&()), "{origin}");
        }
    }
}

#[test]
fn an_empty_list_allows_only_clients_without_origin() {
    let router = router_allowing(&[]);
    assert!(!router.routes()[0].allowed_origins().allows_any());
    assert_eq!(origin_result(&router, None), Ok(&()));
    for origin in ["https://anything.example", "null", "garbage"] {
        assert_eq!(
            origin_result(&router, Some(origin)),
            Err(HandshakeError::ForbiddenOrigin),
            "{origin}"
        );
    }
    assert_eq!(
        AllowedOrigins::none(),
        AllowedOrigins::parse::<[&str; 0], &str>([]).unwrap()
    );
}

#[test]
fn unparsable_allowed_origins_are_errors() {
    let error = AllowedOrigins::parse(["https://ok.example", "example.com"]).unwrap_err();
    assert_eq!(error.origin(), "example.com");
    assert_eq!(error.kind(), OriginErrorKind::MissingScheme);
    assert_eq!(
        error.to_string(),
        "invalid allowed origin \"example.com\": expected scheme://host[:port]"
    );
    let error = AllowedOrigins::parse(["null"]).unwrap_err();
    assert_eq!(error.kind(), OriginErrorKind::Opaque);
    let error = AllowedOrigins::parse(["https://h:70000"]).unwrap_err();
    assert_eq!(error.kind(), OriginErrorKind::InvalidPort);
    assert_eq!(
        error.to_string(),
        "invalid allowed origin \"https://h:70000\": invalid port"
    );
}
