//! The exact bytes of every response.

mod common;

use common::{ACCEPT, KEY};
use rs_http::{
    HandshakeError, HttpDate, SWITCHING_PROTOCOLS_LEN, Subprotocol, accept_key,
    switching_protocols, write_error_response, write_switching_protocols,
};

fn error_response(error: HandshakeError) -> String {
    answer(error, false)
}

/// The answer to a request refused with `error`, HEAD if `head`.
fn answer(error: HandshakeError, head: bool) -> String {
    let mut out = Vec::new();
    // RFC 9110's example date.
    write_error_response(
        &error,
        head,
        HttpDate::from_unix_secs(784_111_777),
        &mut out,
    );
    String::from_utf8(out).unwrap()
}

const SWITCHING_PROTOCOLS: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\n\
    Upgrade: websocket\r\n\
    Connection: Upgrade\r\n\
    Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
    \r\n";

#[test]
fn rfc_6455_accept_example() {
    assert_eq!(accept_key(KEY).as_str(), ACCEPT);
}

#[test]
fn switching_protocols_bytes() {
    let response = switching_protocols(&accept_key(KEY));
    assert_eq!(&response[..], SWITCHING_PROTOCOLS);
    assert_eq!(SWITCHING_PROTOCOLS_LEN, SWITCHING_PROTOCOLS.len());
}

#[test]
fn switching_protocols_appends_without_reallocating() {
    let mut out = Vec::with_capacity(4 + SWITCHING_PROTOCOLS_LEN);
    out.extend_from_slice(b"old:");
    let capacity = out.capacity();
    write_switching_protocols(&accept_key(KEY), None, &mut out);
    assert_eq!(&out[..4], b"old:");
    assert_eq!(&out[4..], SWITCHING_PROTOCOLS);
    assert_eq!(out.capacity(), capacity);
}

#[test]
fn switching_protocols_with_a_subprotocol_names_it_last() {
    let mut out = Vec::new();
    write_switching_protocols(&accept_key(KEY), Subprotocol::new("chat.v2"), &mut out);
    let expected = [
        &SWITCHING_PROTOCOLS[..SWITCHING_PROTOCOLS.len() - 2],
        b"Sec-WebSocket-Protocol: chat.v2\r\n\r\n",
    ]
    .concat();
    assert_eq!(out, expected);
}

#[test]
fn only_a_token_can_be_named_as_subprotocol() {
    // What could end the header early is no subprotocol at all (the rest
    // of the token rule: the unit tests).
    assert_eq!(Subprotocol::new("x\r\nSet-Cookie: a=b"), None);
    assert_eq!(Subprotocol::new(""), None);
}

#[test]
fn bad_request_bytes() {
    assert_eq!(
        error_response(HandshakeError::MissingKey),
        "HTTP/1.1 400 Bad Request\r\n\
         Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
         Connection: close\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Length: 33\r\n\
         \r\n\
         missing Sec-WebSocket-Key header\n"
    );
}

#[test]
fn method_not_allowed_bytes() {
    assert_eq!(
        error_response(HandshakeError::MethodNotAllowed),
        "HTTP/1.1 405 Method Not Allowed\r\n\
         Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
         Connection: close\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Length: 30\r\n\
         Allow: GET\r\n\
         \r\n\
         only GET can open a WebSocket\n"
    );
}

#[test]
fn the_405_answering_head_has_no_content() {
    // RFC 9110 §9.3.2: no content for HEAD, though its length is given.
    assert_eq!(
        answer(HandshakeError::MethodNotAllowed, true),
        "HTTP/1.1 405 Method Not Allowed\r\n\
         Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
         Connection: close\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Length: 30\r\n\
         Allow: GET\r\n\
         \r\n"
    );
}

#[test]
fn upgrade_required_bytes() {
    assert_eq!(
        error_response(HandshakeError::UnsupportedVersion),
        // RFC 9110 §15.5.22: a 426 names the protocol to upgrade to, and
        // §7.8: with the upgrade connection option.
        "HTTP/1.1 426 Upgrade Required\r\n\
         Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
         Connection: Upgrade, close\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Length: 50\r\n\
         Upgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\n\
         \r\n\
         unsupported Sec-WebSocket-Version (supported: 13)\n"
    );
    assert!(
        error_response(HandshakeError::MissingVersion)
            .contains("\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n")
    );
}

#[test]
fn too_large_bytes() {
    assert_eq!(
        error_response(HandshakeError::TooLarge { limit: 8192 }),
        "HTTP/1.1 431 Request Header Fields Too Large\r\n\
         Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
         Connection: close\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Length: 40\r\n\
         \r\n\
         request header fields exceed 8192 bytes\n"
    );
}

#[test]
fn service_unavailable_bytes() {
    assert_eq!(
        error_response(HandshakeError::AppBusy),
        "HTTP/1.1 503 Service Unavailable\r\n\
         Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
         Connection: close\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Length: 36\r\n\
         Retry-After: 1\r\n\
         \r\n\
         the server is busy; try again later\n"
    );
}

#[test]
fn uri_too_long_and_not_implemented_status_lines() {
    assert!(
        error_response(HandshakeError::UriTooLong { limit: 8192 })
            .starts_with("HTTP/1.1 414 URI Too Long\r\n")
    );
    assert!(
        error_response(HandshakeError::MethodNotImplemented)
            .starts_with("HTTP/1.1 501 Not Implemented\r\n")
    );
}

#[test]
fn not_found_and_forbidden_status_lines() {
    assert!(error_response(HandshakeError::NotFound).starts_with("HTTP/1.1 404 Not Found\r\n"));
    assert!(
        error_response(HandshakeError::ForbiddenOrigin).starts_with("HTTP/1.1 403 Forbidden\r\n")
    );
}

const ALL_ERRORS: [HandshakeError; 24] = [
    HandshakeError::MalformedRequestLine,
    HandshakeError::MalformedHeader,
    HandshakeError::MalformedLineEnding,
    HandshakeError::TooManyHeaders,
    HandshakeError::UnsupportedHttpVersion,
    HandshakeError::MethodNotAllowed,
    HandshakeError::MethodNotImplemented,
    HandshakeError::UriTooLong { limit: 1 },
    HandshakeError::UnexpectedBody,
    HandshakeError::BadRequestTarget,
    HandshakeError::MissingHost,
    HandshakeError::BadHost,
    HandshakeError::DuplicateHeader("Host"),
    HandshakeError::InvalidHeader("Origin"),
    HandshakeError::MissingUpgrade,
    HandshakeError::MissingConnectionUpgrade,
    HandshakeError::MissingVersion,
    HandshakeError::UnsupportedVersion,
    HandshakeError::MissingKey,
    HandshakeError::BadKey,
    HandshakeError::TooLarge { limit: 1 },
    HandshakeError::NotFound,
    HandshakeError::ForbiddenOrigin,
    HandshakeError::AppBusy,
];

#[test]
fn every_error_response_is_well_formed() {
    for error in ALL_ERRORS {
        let response = error_response(error);
        // To HEAD: the same head, no content.
        let (head, _) = response.split_once("\r\n\r\n").unwrap();
        assert_eq!(answer(error, true), format!("{head}\r\n\r\n"));
        let (head, body) = response.split_once("\r\n\r\n").unwrap();
        let status_line = format!("HTTP/1.1 {} {}", error.status(), error.reason_phrase());
        assert!(head.starts_with(&status_line), "{head}");
        // RFC 9110 §6.6.1: every 4xx (and here the 503 too) carries Date.
        assert!(
            head.contains("\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n"),
            "{head}"
        );
        assert!(
            head.contains("\r\nConnection: ") && head.contains("close\r\n"),
            "{head}"
        );
        assert!(
            head.contains(&format!("\r\nContent-Length: {}", body.len())),
            "{head}"
        );
        assert_eq!(body, format!("{error}\n"));
        assert_eq!(
            head.contains("\r\nAllow: GET"),
            error.status() == 405,
            "{head}"
        );
        assert_eq!(
            head.contains("\r\nSec-WebSocket-Version: 13")
                && head.contains("\r\nUpgrade: websocket"),
            error.status() == 426,
            "{head}"
        );
        assert_eq!(
            head.contains("\r\nRetry-After: 1"),
            error.status() == 503,
            "{head}"
        );
    }
}

#[test]
fn every_status_is_an_error_status() {
    for error in ALL_ERRORS {
        assert!(
            [400, 403, 404, 405, 414, 426, 431, 501, 503, 505].contains(&error.status()),
            "{error:?}"
        );
    }
}

#[test]
fn error_messages() {
    assert_eq!(
        HandshakeError::DuplicateHeader("Host").to_string(),
        "duplicate Host header"
    );
    assert_eq!(
        HandshakeError::InvalidHeader("Content-Length").to_string(),
        "invalid Content-Length header"
    );
    assert_eq!(
        HandshakeError::TooManyHeaders.to_string(),
        "too many headers (at most 64)"
    );
    assert_eq!(
        HandshakeError::MissingHost.to_string(),
        "missing Host header"
    );
}
