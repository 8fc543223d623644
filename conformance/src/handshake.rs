//! The client side of the opening handshake (RFC 6455 §4.1), checked as
//! strictly as a client must: status 101, `Upgrade: websocket`,
//! `Connection: upgrade` and the right `Sec-WebSocket-Accept`.

use std::io::{Read, Write};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha1::{Digest as _, Sha1};

use crate::target::Target;

/// The largest response head the runner reads.
const MAX_RESPONSE_HEAD: usize = 16 * 1024;

/// The `Sec-WebSocket-Accept` value for a key (RFC 6455 §4.2.2 step 5.4).
///
/// ```
/// // The RFC's own example.
/// assert_eq!(
///     rs_conformance::handshake::accept_for("dGhlIHNhbXBsZSBub25jZQ=="),
///     "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
/// );
/// ```
pub fn accept_for(key: &str) -> String {
    let mut sha1 = Sha1::new();
    sha1.update(key.as_bytes());
    sha1.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    STANDARD.encode(sha1.finalize())
}

/// The request the runner sends, with a base64 key of 16 `nonce` bytes.
/// Returns the request and the key.
pub fn request(target: &Target, nonce: [u8; 16]) -> (String, String) {
    let key = STANDARD.encode(nonce);
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n",
        target.path, target.host
    );
    (request, key)
}

/// Performs the handshake on `stream`, plain TCP or TLS (whose timeouts
/// the caller set). Returns the bytes received after the response head: the
/// first frames.
pub fn perform(
    stream: &mut (impl Read + Write),
    target: &Target,
    nonce: [u8; 16],
) -> Result<Vec<u8>, String> {
    let (request, key) = request(target, nonce);
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("sending the upgrade request failed: {e}"))?;
    let mut received = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_len = loop {
        if let Some(i) = received.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if received.len() > MAX_RESPONSE_HEAD {
            return Err(format!(
                "no end of the response head in {MAX_RESPONSE_HEAD} bytes"
            ));
        }
        match stream.read(&mut chunk) {
            Ok(0) => {
                return Err(format!(
                    "the server closed the connection during the handshake after {:?}",
                    String::from_utf8_lossy(&received)
                ));
            }
            Ok(n) => received.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("reading the handshake response failed: {e}")),
        }
    };
    let head = String::from_utf8_lossy(&received[..head_len]).into_owned();
    check_response(&head, &accept_for(&key))?;
    Ok(received[head_len..].to_vec())
}

/// Checks a response head against what RFC 6455 §4.1 requires of it.
pub fn check_response(head: &str, expected_accept: &str) -> Result<(), String> {
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or_default();
    let mut parts = status.splitn(3, ' ');
    if parts.next() != Some("HTTP/1.1") || parts.next() != Some("101") {
        return Err(format!("expected status 101, got {status:?}"));
    }
    let header = |name: &str| -> Vec<String> {
        head.split("\r\n")
            .skip(1)
            .filter_map(|line| line.split_once(':'))
            .filter(|(n, _)| n.trim().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_owned())
            .collect()
    };
    if !header("upgrade")
        .iter()
        .any(|v| v.eq_ignore_ascii_case("websocket"))
    {
        return Err(format!("no `Upgrade: websocket` in {head:?}"));
    }
    if !header("connection")
        .iter()
        .flat_map(|v| {
            v.split(',')
                .map(|t| t.trim().to_owned())
                .collect::<Vec<_>>()
        })
        .any(|t| t.eq_ignore_ascii_case("upgrade"))
    {
        return Err(format!("no `Connection: upgrade` in {head:?}"));
    }
    let accept = header("sec-websocket-accept");
    if accept.len() != 1 || accept[0] != expected_accept {
        return Err(format!(
            "Sec-WebSocket-Accept {accept:?}, expected {expected_accept:?}"
        ));
    }
    for forbidden in ["sec-websocket-extensions", "sec-websocket-protocol"] {
        if !header(forbidden).is_empty() {
            return Err(format!(
                "the server answered with {forbidden} although the client offered none"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: WebSocket\r\n\
        Connection: keep-alive, Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";

    #[test]
    fn a_correct_response_passes() {
        assert_eq!(check_response(GOOD, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), Ok(()));
    }

    #[test]
    fn each_broken_part_is_named() {
        let bad_status = GOOD.replace("101 Switching Protocols", "200 OK");
        assert!(
            check_response(&bad_status, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
                .unwrap_err()
                .contains("101")
        );
        let no_upgrade = GOOD.replace("Upgrade: WebSocket\r\n", "");
        assert!(
            check_response(&no_upgrade, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
                .unwrap_err()
                .contains("Upgrade")
        );
        let no_connection = GOOD.replace("keep-alive, Upgrade", "keep-alive");
        assert!(
            check_response(&no_connection, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
                .unwrap_err()
                .contains("Connection")
        );
        assert!(
            check_response(GOOD, "other")
                .unwrap_err()
                .contains("Accept")
        );
        let extension = GOOD.replace("\r\n\r\n", "\r\nSec-WebSocket-Extensions: x\r\n\r\n");
        assert!(check_response(&extension, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=").is_err());
    }
}
