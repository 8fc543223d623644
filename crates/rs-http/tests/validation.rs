//! Every rule of the opening handshake, with the exact answer.

mod common;

use common::{KEY, assert_refused, head, head_with, parse, parse_with, valid_headers, without};
use rs_http::{HandshakeError, Progress, RequestParser, UpgradeRequest};

#[test]
fn valid_request_exposes_its_parts() {
    let request = parse_with("/chat?room=1&x", |h| {
        h[0] = "Host: Example.COM:9000".to_owned();
        h.push("Origin: https://example.com".to_owned());
        h.push("User-Agent: test".to_owned());
    })
    .unwrap();
    assert_eq!(request.path(), "/chat");
    assert_eq!(request.query(), Some("room=1&x"));
    assert_eq!(request.host(), "example.com");
    assert_eq!(request.port(), Some(9000));
    assert_eq!(request.origin(), Some("https://example.com"));
    assert_eq!(request.key(), KEY);
    assert_eq!(request.accept_key().as_str(), common::ACCEPT);
}

#[test]
fn minimal_request_has_no_query_port_or_origin() {
    let request = parse_with("/", |_| {}).unwrap();
    assert_eq!(request.path(), "/");
    assert_eq!(request.query(), None);
    assert_eq!(request.host(), "example.com");
    assert_eq!(request.port(), None);
    assert_eq!(request.origin(), None);
}

#[test]
fn header_names_are_case_insensitive() {
    let lower: Vec<String> = valid_headers()
        .iter()
        .map(|line| {
            let (name, value) = line.split_once(':').unwrap();
            format!("{}:{value}", name.to_ascii_lowercase())
        })
        .collect();
    let upper: Vec<String> = valid_headers()
        .iter()
        .map(|line| {
            let (name, value) = line.split_once(':').unwrap();
            format!("{}:{value}", name.to_ascii_uppercase())
        })
        .collect();
    assert!(parse(&head("GET / HTTP/1.1", &lower)).is_ok());
    assert!(parse(&head("GET / HTTP/1.1", &upper)).is_ok());
}

#[test]
fn token_values_are_case_insensitive() {
    let request = parse_with("/", |h| {
        h[1] = "Upgrade: WebSocket".to_owned();
        h[2] = "Connection: UPGRADE".to_owned();
    });
    assert!(request.is_ok());
}

#[test]
fn bare_lf_line_endings_are_accepted() {
    let text = String::from_utf8(head_with("/", |_| {})).unwrap();
    assert!(parse(text.replace("\r\n", "\n").as_bytes()).is_ok());
}

#[test]
fn empty_lines_before_the_request_line_are_ignored() {
    let mut bytes = b"\r\n\r\n".to_vec();
    bytes.extend(head_with("/", |_| {}));
    assert!(parse(&bytes).is_ok());
}

// Method

#[test]
fn method_other_than_get_is_405() {
    for method in [
        "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
    ] {
        let bytes = head(&format!("{method} / HTTP/1.1"), &valid_headers());
        assert_refused(parse(&bytes), HandshakeError::MethodNotAllowed, 405);
    }
}

#[test]
fn a_method_http_does_not_define_is_501() {
    // Methods are case-sensitive (RFC 9110 §9.1): `get` is not GET.
    for method in ["get", "Get", "FOO", "GETS", "PRI"] {
        let bytes = head(&format!("{method} / HTTP/1.1"), &valid_headers());
        assert_refused(parse(&bytes), HandshakeError::MethodNotImplemented, 501);
    }
}

/// Refuses `bytes` (in one push, then split after `split` bytes): the
/// error, and whether the parser knew the request as HEAD.
fn refused(bytes: &[u8], split: usize) -> (HandshakeError, bool) {
    let mut whole = RequestParser::new();
    let error = whole.push(bytes).expect_err("refused");
    let mut parts = RequestParser::new();
    assert_eq!(parts.push(&bytes[..split]), Ok(Progress::Incomplete));
    assert_eq!(parts.push(&bytes[split..]), Err(error));
    assert_eq!(parts.refused_head(), whole.refused_head());
    (error, whole.refused_head())
}

#[test]
fn head_is_405_and_known_as_head() {
    let bytes = head("HEAD / HTTP/1.1", &valid_headers());
    assert_refused(parse(&bytes), HandshakeError::MethodNotAllowed, 405);
    assert_eq!(refused(&bytes, 3), (HandshakeError::MethodNotAllowed, true));
}

#[test]
fn a_head_request_refused_for_any_reason_is_known_as_head() {
    // Its answer must carry no content (RFC 9110 §9.3.2).
    let mut malformed = valid_headers();
    malformed.push("Not a header line".to_owned());
    let many: Vec<String> = (0..200).map(|i| format!("X-{i}: y")).collect();
    let mut large = valid_headers();
    large.push(format!(
        "X-Big: {}",
        "y".repeat(rs_http::DEFAULT_MAX_HEAD_LEN)
    ));
    for (bytes, error) in [
        (
            head("HEAD / HTTP/1.0", &valid_headers()),
            HandshakeError::MethodNotAllowed,
        ),
        (
            head("HEAD / HTTP/1.1", &malformed),
            HandshakeError::MalformedHeader,
        ),
        (
            head("HEAD / HTTP/1.1", &many),
            HandshakeError::TooManyHeaders,
        ),
        (
            head("HEAD / HTTP/1.1", &large),
            HandshakeError::TooLarge {
                limit: rs_http::DEFAULT_MAX_HEAD_LEN,
            },
        ),
        // Empty lines may come before the request line.
        (
            [&b"\r\n\n"[..], &head("HEAD / HTTP/1.1", &malformed)].concat(),
            HandshakeError::MalformedHeader,
        ),
    ] {
        assert_eq!(
            refused(&bytes, 7),
            (error, true),
            "{:?}",
            String::from_utf8_lossy(&bytes[..20])
        );
    }
    // Nor is anything else.
    for line in ["GET / HTTP/1.0", "HEADER / HTTP/1.1", "head / HTTP/1.1"] {
        assert!(!refused(&head(line, &malformed), 7).1, "{line}");
    }
}

// HTTP version

#[test]
fn http_1_0_is_400() {
    let bytes = head("GET / HTTP/1.0", &valid_headers());
    assert_refused(parse(&bytes), HandshakeError::UnsupportedHttpVersion, 400);
}

#[test]
fn versions_below_1_1_and_malformed_ones_are_400() {
    for version in ["HTTP/0.9", "HTTP/11", "HTTP/1.", "HTTP/1.x", "http/1.1"] {
        let bytes = head(&format!("GET / {version}"), &valid_headers());
        assert_refused(parse(&bytes), HandshakeError::UnsupportedHttpVersion, 400);
    }
}

#[test]
fn later_minor_versions_of_http_1_are_read_as_http_1_1() {
    // RFC 9110 §2.5; RFC 6455 §4.1 asks for "at least 1.1".
    for version in ["HTTP/1.2", "HTTP/1.9"] {
        let bytes = head(&format!("GET /chat?room=1 {version}"), &valid_headers());
        let request = parse(&bytes).unwrap_or_else(|e| panic!("{version}: {e}"));
        assert_eq!(request.path(), "/chat", "{version}");
        assert_eq!(request.query(), Some("room=1"), "{version}");
    }
    // Behind empty lines too, and one byte at a time.
    let mut bytes = b"\r\n".to_vec();
    bytes.extend(head("GET / HTTP/1.3", &valid_headers()));
    let mut parser = RequestParser::new();
    let mut complete = false;
    for byte in bytes.chunks(1) {
        match parser.push(byte).unwrap() {
            Progress::Incomplete => {}
            Progress::Complete { .. } => complete = true,
        }
    }
    assert!(complete);
}

#[test]
fn http_2_and_later_are_505() {
    for version in ["HTTP/2.0", "HTTP/3.0", "HTTP/9.9"] {
        let bytes = head(&format!("GET / {version}"), &valid_headers());
        assert_refused(parse(&bytes), HandshakeError::HttpVersionNotSupported, 505);
    }
}

// Syntax

#[test]
fn malformed_request_lines_are_400() {
    for line in [
        "GET  / HTTP/1.1",
        "GET /",
        "GET",
        " GET / HTTP/1.1",
        "G(T / HTTP/1.1",
        // Not a line ending gone wrong: the version does not end the line.
        "GET / HTTP/1.10",
        "GET / HTTP/1.1 ",
        "GET / HTTP/1.1\t",
    ] {
        let bytes = head(line, &valid_headers());
        assert_refused(parse(&bytes), HandshakeError::MalformedRequestLine, 400);
    }
}

#[test]
fn space_in_target_is_400() {
    // "b" is read where the version belongs.
    let bytes = head("GET /a b HTTP/1.1", &valid_headers());
    assert_refused(parse(&bytes), HandshakeError::UnsupportedHttpVersion, 400);
}

#[test]
fn non_utf8_target_is_400() {
    let mut bytes = b"GET /\xff HTTP/1.1\r\n".to_vec();
    bytes.extend(&head_with("/", |_| {})[16..]);
    assert_refused(parse(&bytes), HandshakeError::MalformedRequestLine, 400);
}

#[test]
fn malformed_header_lines_are_400() {
    for line in ["Bad Name: x", "NoColon", "Name : x", "Ctl: a\x01b"] {
        let result = parse_with("/", |h| h.push(line.to_owned()));
        assert_refused(result, HandshakeError::MalformedHeader, 400);
    }
}

#[test]
fn bare_cr_is_400() {
    let bytes = b"GET / HTTP/1.1\rHost: h\r\n\r\n";
    assert_refused(parse(bytes), HandshakeError::MalformedLineEnding, 400);
}

#[test]
fn a_bare_cr_is_refused_once_the_next_byte_comes_with_no_lf_in_sight() {
    // RFC 9112 §2.2. Lines ended with CR alone never end: refused at the
    // byte after the first bare CR, not when the size limit is reached.
    let head = b"GET / HTTP/1.1\rHost: h\rUpgrade: websocket\r\r";
    for split in 0..=head.len() {
        let mut parser = RequestParser::new();
        let (a, b) = head.split_at(split);
        // (An empty push between the parts changes nothing.)
        let got = match (parser.push(a), parser.push(b"")) {
            (Ok(Progress::Incomplete), Ok(Progress::Incomplete)) => parser.push(b),
            (first, _) => first,
        };
        assert_eq!(
            got,
            Err(HandshakeError::MalformedLineEnding),
            "split at {split}"
        );
    }
    // Byte by byte: at the "H" after the first CR.
    let mut parser = RequestParser::new();
    let refused_at = head.iter().position(|b| parser.push(&[*b]).is_err());
    assert_eq!(refused_at, Some("GET / HTTP/1.1\rH".len() - 1));
    // In the version, and before the request line: the same, at once.
    for head in [&b"GET / HTTP/1\rX"[..], b"GET / HTT\rP", b"\r\r"] {
        let mut parser = RequestParser::new();
        assert_eq!(
            parser.push(head),
            Err(HandshakeError::MalformedLineEnding),
            "{head:?}"
        );
        // Refused, the parser starts afresh: no CR is remembered.
        assert_eq!(parser.push(b"\nGET"), Ok(Progress::Incomplete));
    }
    // In a header's value, a CR is a byte a value may not hold.
    let mut parser = RequestParser::new();
    assert_eq!(
        parser.push(b"GET / HTTP/1.1\r\nHost: h\rX"),
        Err(HandshakeError::MalformedHeader)
    );
}

#[test]
fn too_many_headers_is_400() {
    let result = parse_with("/", |h| {
        for i in 0..rs_http::MAX_HEADERS {
            h.push(format!("X-Filler-{i}: x"));
        }
    });
    assert_refused(result, HandshakeError::TooManyHeaders, 431);
}

#[test]
fn max_headers_are_accepted() {
    let result = parse_with("/", |h| {
        for i in h.len()..rs_http::MAX_HEADERS {
            h.push(format!("X-Filler-{i}: x"));
        }
    });
    assert!(result.is_ok());
}

// Size limit

#[test]
fn head_over_the_limit_is_431() {
    let bytes = head_with("/", |_| {});
    let mut parser = RequestParser::with_max_head_len(bytes.len() - 1);
    let result = parser.push(&bytes);
    assert_eq!(
        result,
        Err(HandshakeError::TooLarge {
            limit: bytes.len() - 1
        })
    );
    assert_eq!(result.unwrap_err().status(), 431);
}

#[test]
fn a_request_target_that_does_not_end_within_the_limit_is_414() {
    // RFC 9112 §3: a request-target longer than any URI the server
    // parses is answered with 414, whatever follows (here: nothing yet).
    let line = format!("GET /{} HTTP/1.1", "a".repeat(9000));
    let bytes = head(&line, &valid_headers());
    for input in [&bytes[..], &bytes[..9000]] {
        let mut parser = RequestParser::new();
        assert_refused(
            parser.push(input).map(|_| unreachable!()),
            HandshakeError::UriTooLong {
                limit: rs_http::DEFAULT_MAX_HEAD_LEN,
            },
            414,
        );
    }
    // Byte by byte, with empty lines first: the same.
    let mut parser = RequestParser::new();
    let bytes = [&b"\r\n"[..], &bytes].concat();
    let refused = bytes.iter().find_map(|b| parser.push(&[*b]).err());
    assert_eq!(
        refused,
        Some(HandshakeError::UriTooLong {
            limit: rs_http::DEFAULT_MAX_HEAD_LEN
        })
    );
}

#[test]
fn a_method_that_does_not_end_within_the_limit_is_501() {
    let bytes = head(
        &format!("{} / HTTP/1.1", "G".repeat(9000)),
        &valid_headers(),
    );
    let mut parser = RequestParser::new();
    assert_refused(
        parser.push(&bytes).map(|_| unreachable!()),
        HandshakeError::MethodNotImplemented,
        501,
    );
}

#[test]
fn empty_lines_up_to_the_limit_are_431() {
    let mut parser = RequestParser::with_max_head_len(256);
    assert_eq!(
        parser.push(&b"\r\n".repeat(200)),
        Err(HandshakeError::TooLarge { limit: 256 })
    );
}

#[test]
fn a_request_line_whose_target_ended_within_the_limit_is_431() {
    // The target ended; the version and the headers are what is long.
    let bytes = head("GET /chat HTTP/1.1", &valid_headers());
    let mut parser = RequestParser::with_max_head_len("GET /chat HTT".len());
    assert_eq!(
        parser.push(&bytes),
        Err(HandshakeError::TooLarge {
            limit: "GET /chat HTT".len()
        })
    );
}

#[test]
fn head_at_the_limit_is_accepted() {
    let bytes = head_with("/", |_| {});
    let mut parser = RequestParser::with_max_head_len(bytes.len());
    assert!(matches!(parser.push(&bytes), Ok(Progress::Complete { .. })));
}

#[test]
fn default_limit_is_8_kib() {
    assert_eq!(RequestParser::new().max_head_len(), 8192);
    let long_header = format!("X-Long: {}", "a".repeat(8192));
    let result = parse_with("/", |h| h.push(long_header));
    assert_refused(result, HandshakeError::TooLarge { limit: 8192 }, 431);
}

#[test]
fn unterminated_head_is_431_once_past_the_limit() {
    let mut parser = RequestParser::with_max_head_len(100);
    let mut head = b"GET / HTTP/1.1\r\nX-A: ".to_vec();
    head.resize(100, b'a');
    assert_eq!(parser.push(&head), Ok(Progress::Incomplete));
    assert_eq!(
        parser.push(b"a"),
        Err(HandshakeError::TooLarge { limit: 100 })
    );
}

// Body

#[test]
fn content_length_above_zero_is_400() {
    let result = parse_with("/", |h| h.push("Content-Length: 5".to_owned()));
    assert_refused(result, HandshakeError::UnexpectedBody, 400);
}

#[test]
fn content_length_zero_is_accepted() {
    assert!(parse_with("/", |h| h.push("Content-Length: 0".to_owned())).is_ok());
}

#[test]
fn invalid_content_length_is_400() {
    let result = parse_with("/", |h| h.push("Content-Length: five".to_owned()));
    assert_refused(result, HandshakeError::InvalidHeader("Content-Length"), 400);
}

#[test]
fn transfer_encoding_is_400() {
    let result = parse_with("/", |h| h.push("Transfer-Encoding: chunked".to_owned()));
    assert_refused(result, HandshakeError::UnexpectedBody, 400);
}

// Request target

#[test]
fn absolute_form_authority_takes_precedence_over_host() {
    let request = parse_with("ws://Chat.Example:9000/room?id=3", |_| {}).unwrap();
    assert_eq!(request.path(), "/room");
    assert_eq!(request.query(), Some("id=3"));
    assert_eq!(request.host(), "chat.example");
    assert_eq!(request.port(), Some(9000));
}

#[test]
fn absolute_form_accepts_ws_wss_http_https() {
    for scheme in ["ws", "wss", "http", "https"] {
        let request = parse_with(&format!("{scheme}://h/p"), |_| {}).unwrap();
        assert_eq!(
            (request.host(), request.port(), request.path()),
            ("h", None, "/p")
        );
    }
}

#[test]
fn absolute_form_without_path_is_root() {
    let request = parse_with("wss://h:1", |_| {}).unwrap();
    assert_eq!(request.path(), "/");
}

#[test]
fn other_targets_are_400() {
    for target in [
        "*",
        "example.com:443",
        "ftp://h/p",
        "ws://u@h/p",
        "/p#f",
        "ws://h:x/p",
    ] {
        let result = parse_with(target, |_| {});
        assert_refused(result, HandshakeError::BadRequestTarget, 400);
    }
}

// Host

#[test]
fn missing_host_is_400() {
    let result = parse_with("/", |h| without(h, "Host"));
    assert_refused(result, HandshakeError::MissingHost, 400);
}

#[test]
fn missing_host_is_400_with_absolute_form_too() {
    let result = parse_with("ws://h/p", |h| without(h, "Host"));
    assert_refused(result, HandshakeError::MissingHost, 400);
}

#[test]
fn duplicate_host_is_400() {
    let result = parse_with("/", |h| h.push("Host: example.com".to_owned()));
    assert_refused(result, HandshakeError::DuplicateHeader("Host"), 400);
}

#[test]
fn invalid_host_is_400() {
    // Brackets hold an IPv6 address (RFC 3986 §3.2.2): a name or an IPv4
    // address in them is no host, in the Host header or a target.
    for host in [
        "",
        "a b",
        "h:99999",
        "h:x",
        "[::1",
        "u@h",
        "h\u{e9}",
        "[::1::2]:80",
        "[cafe]",
        "[127.0.0.1]:80",
    ] {
        let result = parse_with("/", |h| h[0] = format!("Host: {host}"));
        assert_refused(result, HandshakeError::BadHost, 400);
    }
    for host in ["[::1::2]:80", "[cafe]", "[127.0.0.1]:80"] {
        let result = parse_with(&format!("ws://{host}/"), |_| {});
        assert_refused(result, HandshakeError::BadRequestTarget, 400);
    }
}

#[test]
fn a_host_with_an_empty_port_has_the_default_port() {
    // Host = uri-host [ ":" port ], port = *DIGIT (RFC 9110 §7.2, RFC 3986
    // §3.2.3): a colon alone is allowed, and means the default port.
    for host in ["example.com:", "[::1]:"] {
        let request = parse_with("/", |h| h[0] = format!("Host: {host}")).unwrap();
        assert_eq!(request.port(), None, "{host}");
        assert_eq!(format!("{}:", request.host()), host);
    }
}

#[test]
fn non_utf8_host_is_400() {
    let mut bytes = b"GET / HTTP/1.1\r\nHost: h\xff\r\n".to_vec();
    bytes.extend(&head_with("/", |h| without(h, "Host"))[16..]);
    assert_refused(parse(&bytes), HandshakeError::BadHost, 400);
}

#[test]
fn ipv6_host() {
    let request = parse_with("/", |h| h[0] = "Host: [::1]:8080".to_owned()).unwrap();
    assert_eq!((request.host(), request.port()), ("[::1]", Some(8080)));
}

// Upgrade

#[test]
fn missing_upgrade_is_400() {
    let result = parse_with("/", |h| without(h, "Upgrade"));
    assert_refused(result, HandshakeError::MissingUpgrade, 400);
}

#[test]
fn upgrade_without_websocket_token_is_400() {
    let result = parse_with("/", |h| h[1] = "Upgrade: h2c".to_owned());
    assert_refused(result, HandshakeError::MissingUpgrade, 400);
}

#[test]
fn upgrade_list_containing_websocket_is_accepted() {
    assert!(parse_with("/", |h| h[1] = "Upgrade: h2c, websocket".to_owned()).is_ok());
}

#[test]
fn non_utf8_upgrade_is_400() {
    let mut bytes = head_with("/", |h| without(h, "Upgrade"));
    let end = bytes.len() - 2;
    bytes.splice(end..end, b"Upgrade: websocket\xff\r\n".iter().copied());
    assert_refused(parse(&bytes), HandshakeError::InvalidHeader("Upgrade"), 400);
}

// Connection

#[test]
fn missing_connection_is_400() {
    let result = parse_with("/", |h| without(h, "Connection"));
    assert_refused(result, HandshakeError::MissingConnectionUpgrade, 400);
}

#[test]
fn connection_without_upgrade_token_is_400() {
    for value in ["keep-alive", "upgrades", "keep-alive upgrade"] {
        let result = parse_with("/", |h| h[2] = format!("Connection: {value}"));
        assert_refused(result, HandshakeError::MissingConnectionUpgrade, 400);
    }
}

#[test]
fn connection_comma_list_is_accepted() {
    assert!(parse_with("/", |h| h[2] = "Connection: keep-alive, Upgrade".to_owned()).is_ok());
    assert!(parse_with("/", |h| h[2] = "Connection: keep-alive,upgrade,".to_owned()).is_ok());
}

#[test]
fn connection_over_several_lines_is_accepted() {
    let result = parse_with("/", |h| {
        h[2] = "Connection: keep-alive".to_owned();
        h.push("Connection: Upgrade".to_owned());
    });
    assert!(result.is_ok());
}

// Sec-WebSocket-Version

#[test]
fn missing_version_is_426() {
    let result = parse_with("/", |h| without(h, "Sec-WebSocket-Version"));
    assert_refused(result, HandshakeError::MissingVersion, 426);
}

#[test]
fn other_version_is_426() {
    for value in ["8", "14", "13, 8", "", "thirteen"] {
        let result = parse_with("/", |h| h[4] = format!("Sec-WebSocket-Version: {value}"));
        assert_refused(result, HandshakeError::UnsupportedVersion, 426);
    }
}

#[test]
fn duplicate_version_is_400() {
    let result = parse_with("/", |h| h.push("Sec-WebSocket-Version: 13".to_owned()));
    assert_refused(
        result,
        HandshakeError::DuplicateHeader("Sec-WebSocket-Version"),
        400,
    );
}

// Sec-WebSocket-Key

#[test]
fn missing_key_is_400() {
    let result = parse_with("/", |h| without(h, "Sec-WebSocket-Key"));
    assert_refused(result, HandshakeError::MissingKey, 400);
}

#[test]
fn duplicate_key_is_400() {
    let result = parse_with("/", |h| h.push(format!("Sec-WebSocket-Key: {KEY}")));
    assert_refused(
        result,
        HandshakeError::DuplicateHeader("Sec-WebSocket-Key"),
        400,
    );
}

#[test]
fn key_not_16_bytes_of_base64_is_400() {
    for key in [
        "",
        "not base64!",
        "dGhlIHNhbXBsZSBub25jZQ",       // unpadded
        "dGhlIHNhbXBsZSBub25j",         // 15 bytes
        "dGhlIHNhbXBsZSBub25jZSE=",     // 17 bytes
        "dGhlIHNhbXBsZSBub25jZQ==dGhl", // trailing data
    ] {
        let result = parse_with("/", |h| h[3] = format!("Sec-WebSocket-Key: {key}"));
        assert_refused(result, HandshakeError::BadKey, 400);
    }
}

// Origin

#[test]
fn duplicate_origin_is_400() {
    let result = parse_with("/", |h| {
        h.push("Origin: https://a.example".to_owned());
        h.push("Origin: https://b.example".to_owned());
    });
    assert_refused(result, HandshakeError::DuplicateHeader("Origin"), 400);
}

#[test]
fn non_utf8_origin_is_400() {
    let mut bytes = head_with("/", |_| {});
    let end = bytes.len() - 2;
    bytes.splice(end..end, b"Origin: https://\xff\r\n".iter().copied());
    assert_refused(parse(&bytes), HandshakeError::InvalidHeader("Origin"), 400);
}

// Order: the first broken rule answers.

#[test]
fn version_is_checked_before_key() {
    let result = parse_with("/", |h| {
        without(h, "Sec-WebSocket-Version");
        without(h, "Sec-WebSocket-Key");
    });
    assert_refused(result, HandshakeError::MissingVersion, 426);
}

#[test]
fn method_is_checked_before_headers() {
    let bytes = head("PUT / HTTP/1.1", &[]);
    assert_refused(parse(&bytes), HandshakeError::MethodNotAllowed, 405);
}

// Pipelined bytes

#[test]
fn bytes_after_the_head_are_left_to_the_caller() {
    let mut bytes = head_with("/", |_| {});
    let head_len = bytes.len();
    bytes.extend_from_slice(b"\x81\x85\x01\x02\x03\x04abcde");
    match RequestParser::new().push(&bytes) {
        Ok(Progress::Complete { consumed, .. }) => assert_eq!(consumed, head_len),
        other => panic!("{other:?}"),
    }
}

#[test]
fn consumed_counts_only_the_last_push() {
    let mut bytes = head_with("/", |_| {});
    let head_len = bytes.len();
    bytes.extend_from_slice(b"\x88\x80\0\0\0\0");
    let mut parser = RequestParser::new();
    assert_eq!(parser.push(&bytes[..40]), Ok(Progress::Incomplete));
    match parser.push(&bytes[40..]) {
        Ok(Progress::Complete { consumed, .. }) => {
            assert_eq!(consumed, head_len - 40);
            assert_eq!(&bytes[40 + consumed..], b"\x88\x80\0\0\0\0");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(parser.buffered_len(), 0);
}

#[test]
fn no_sec_websocket_protocol_offers_no_subprotocol() {
    let request = parse_with("/", |_| {}).unwrap();
    assert_eq!(request.subprotocols().count(), 0);
    assert_eq!(request.select_subprotocol(&["chat"]), None);
    // The key is unchanged by what follows it in the request's text.
    assert_eq!(request.key(), KEY);
}

#[test]
fn subprotocols_come_from_every_sec_websocket_protocol_header_in_order() {
    let request = parse_with("/", |h| {
        h.push("Sec-WebSocket-Protocol: chat.v1, chat.v2".to_owned());
        h.push("sec-websocket-protocol:  ,mqtt,\t".to_owned());
    })
    .unwrap();
    assert_eq!(
        request
            .subprotocols()
            .map(|s| s.as_str())
            .collect::<Vec<_>>(),
        ["chat.v1", "chat.v2", "mqtt"]
    );
    assert_eq!(request.key(), KEY);
    // The server's order of preference decides; names compare exactly.
    let chosen = |supported: &[&'static str]| {
        request
            .select_subprotocol(supported)
            .map(|s| s.as_str().to_owned())
    };
    assert_eq!(chosen(&["mqtt", "chat.v1"]).as_deref(), Some("mqtt"));
    assert_eq!(chosen(&["x", "chat.v2"]).as_deref(), Some("chat.v2"));
    assert_eq!(request.select_subprotocol(&["MQTT", "chat"]), None);
    assert_eq!(request.select_subprotocol::<&str>(&[]), None);
}

#[test]
fn a_subprotocol_that_is_not_a_token_is_400() {
    for value in ["chat v1", "chat/1", "\"chat\"", "a, b;c"] {
        assert_refused(
            parse_with("/", |h| h.push(format!("Sec-WebSocket-Protocol: {value}"))),
            HandshakeError::InvalidHeader("Sec-WebSocket-Protocol"),
            400,
        );
    }
    let mut bytes = head_with("/", |_| {});
    let at = bytes.len() - 2;
    bytes.splice(at..at, b"Sec-WebSocket-Protocol: \xff\r\n".iter().copied());
    assert_refused(
        parse(&bytes),
        HandshakeError::InvalidHeader("Sec-WebSocket-Protocol"),
        400,
    );
}

/// Parses a valid head with edited headers, keeping those named in `keep`.
fn parse_keeping(keep: &[&str], edit: impl FnOnce(&mut Vec<String>)) -> UpgradeRequest {
    let bytes = head_with("/", edit);
    match RequestParser::new().push_keeping(&bytes, keep) {
        Ok(Progress::Complete { request, .. }) => request,
        other => panic!("{other:?}"),
    }
}

#[test]
fn only_the_headers_asked_for_are_kept_whatever_their_case() {
    let request = parse_keeping(&["cookie", "X-Forwarded-For"], |h| {
        h.push("COOKIE: a=1".to_owned());
        h.push("x-forwarded-for: 192.0.2.7".to_owned());
        h.push("Accept-Language: fr".to_owned());
    });
    assert_eq!(request.header("Cookie").as_deref(), Some(&b"a=1"[..]));
    assert_eq!(request.header("cookie").as_deref(), Some(&b"a=1"[..]));
    assert_eq!(
        request.header("X-FORWARDED-FOR").as_deref(),
        Some(&b"192.0.2.7"[..])
    );
    assert_eq!(request.header("Accept-Language"), None);
    // Kept or not, the handshake's own reading is unchanged.
    assert_eq!(request.key(), KEY);
    // Nothing is kept unless asked for.
    let request = parse_with("/", |h| h.push("Cookie: a=1".to_owned())).unwrap();
    assert_eq!(request.header("Cookie"), None);
}

#[test]
fn a_kept_header_on_several_lines_is_one_value() {
    let request = parse_keeping(&["Cookie", "X-Forwarded-For", "X-Empty"], |h| {
        h.push("Cookie: a=1".to_owned());
        h.push("X-Forwarded-For: 192.0.2.7".to_owned());
        h.push("cookie:\t b=2 \t".to_owned());
        h.push("Cookie: ".to_owned());
        h.push("X-Forwarded-For: 10.0.0.1, 10.0.0.2".to_owned());
        h.push("X-Empty:".to_owned());
    });
    // Cookies with "; " (RFC 6265 §5.4), others with ", " (RFC 9110 §5.3);
    // empty lines add nothing; spaces and tabs around a value are not part
    // of it.
    assert_eq!(request.header("Cookie").as_deref(), Some(&b"a=1; b=2"[..]));
    assert_eq!(
        request.header("x-forwarded-for").as_deref(),
        Some(&b"192.0.2.7, 10.0.0.1, 10.0.0.2"[..])
    );
    // Sent but empty is not absent.
    assert_eq!(request.header("X-Empty").as_deref(), Some(&b""[..]));
}

#[test]
fn a_kept_value_is_bytes_not_necessarily_utf8() {
    let mut bytes = head_with("/", |_| {});
    let at = bytes.len() - 2;
    bytes.splice(at..at, b"X-Name: caf\xe9\r\n".iter().copied());
    let Ok(Progress::Complete { request, .. }) =
        RequestParser::new().push_keeping(&bytes, &["x-name"])
    else {
        panic!("obs-text is allowed in a value");
    };
    assert_eq!(request.header("X-Name").as_deref(), Some(&b"caf\xe9"[..]));
}

#[test]
fn debug_shows_the_kept_names_but_not_their_values() {
    let request = parse_keeping(&["Cookie"], |h| h.push("Cookie: secret=42".to_owned()));
    let shown = format!("{request:?}");
    assert!(shown.contains("kept_headers: [\"Cookie\"]"), "{shown}");
    assert!(!shown.contains("secret"), "{shown}");
}
