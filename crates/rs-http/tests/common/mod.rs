//! Helpers shared by the integration tests.
#![allow(dead_code)] // each test file uses a subset

use rs_http::{HandshakeError, Progress, RequestParser, UpgradeRequest};

pub(crate) const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
pub(crate) const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/// The header lines of a minimal valid request, without the request line.
pub(crate) fn valid_headers() -> Vec<String> {
    vec![
        "Host: example.com".to_owned(),
        "Upgrade: websocket".to_owned(),
        "Connection: Upgrade".to_owned(),
        format!("Sec-WebSocket-Key: {KEY}"),
        "Sec-WebSocket-Version: 13".to_owned(),
    ]
}

/// A request head from a request line and header lines.
pub(crate) fn head(request_line: &str, headers: &[String]) -> Vec<u8> {
    let mut text = format!("{request_line}\r\n");
    for header in headers {
        text.push_str(header);
        text.push_str("\r\n");
    }
    text.push_str("\r\n");
    text.into_bytes()
}

/// A valid head for `GET {target}`, with `edit` applied to the header lines.
pub(crate) fn head_with(target: &str, edit: impl FnOnce(&mut Vec<String>)) -> Vec<u8> {
    let mut headers = valid_headers();
    edit(&mut headers);
    head(&format!("GET {target} HTTP/1.1"), &headers)
}

/// Removes the header lines starting with `name:` (case-insensitive).
pub(crate) fn without(headers: &mut Vec<String>, name: &str) {
    let prefix = format!("{}:", name.to_ascii_lowercase());
    headers.retain(|line| !line.to_ascii_lowercase().starts_with(&prefix));
}

/// Parses a complete head in one push; the request or the error.
pub(crate) fn parse(bytes: &[u8]) -> Result<UpgradeRequest, HandshakeError> {
    match RequestParser::new().push(bytes)? {
        Progress::Complete { request, consumed } => {
            assert_eq!(consumed, bytes.len(), "the whole head is the request");
            Ok(request)
        }
        Progress::Incomplete => panic!("head unexpectedly incomplete"),
    }
}

/// Parses a valid head for `GET {target}` with edited headers.
pub(crate) fn parse_with(
    target: &str,
    edit: impl FnOnce(&mut Vec<String>),
) -> Result<UpgradeRequest, HandshakeError> {
    parse(&head_with(target, edit))
}

/// Asserts the refusal and its status.
#[track_caller]
pub(crate) fn assert_refused(
    result: Result<UpgradeRequest, HandshakeError>,
    expected: HandshakeError,
    status: u16,
) {
    assert_eq!(result, Err(expected));
    assert_eq!(expected.status(), status);
}
