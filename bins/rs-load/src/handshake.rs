//! The client side of the opening handshake (RFC 6455 §4.1): the upgrade
//! request, built from a template without allocating, and the check of the
//! server's 101 answer.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha1::{Digest as _, Sha1};

use crate::rng::Rng;

/// A `Sec-WebSocket-Key`: base64 of 16 random bytes.
pub(crate) type Key = [u8; 24];
/// A `Sec-WebSocket-Accept`: base64 of a 20-byte SHA-1.
pub(crate) type Accept = [u8; 28];

/// The most bytes a response head may have before it is refused.
pub(crate) const MAX_RESPONSE_HEAD: usize = 8192;

const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Why the server's answer is not a valid upgrade.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HandshakeError {
    /// The status line is not `HTTP/1.1 101 …` (it is quoted).
    Status(String),
    /// No `Sec-WebSocket-Accept` header.
    MissingAccept,
    /// A `Sec-WebSocket-Accept` that does not match the key.
    WrongAccept(String),
    /// No `Upgrade: websocket` (RFC 6455 §4.1: the client must fail).
    MissingUpgrade,
    /// No `Connection` header listing `Upgrade` (likewise).
    MissingConnection,
    /// An extension or subprotocol header, though none was offered (the
    /// header's line is quoted).
    NotOffered(String),
    /// No end of the head within 8 KiB (`MAX_RESPONSE_HEAD`).
    TooLong,
    /// The server closed the connection before the end of its answer
    /// (what came of it, if anything, is quoted).
    Closed(String),
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Status(line) => write!(f, "expected 101 Switching Protocols, got {line:?}"),
            Self::MissingAccept => f.write_str("no Sec-WebSocket-Accept header"),
            Self::WrongAccept(value) => write!(f, "wrong Sec-WebSocket-Accept {value:?}"),
            Self::MissingUpgrade => f.write_str("no \"Upgrade: websocket\" header"),
            Self::MissingConnection => f.write_str("no \"Connection: Upgrade\" header"),
            Self::NotOffered(line) => write!(f, "{line:?} answers nothing that was offered"),
            Self::TooLong => write!(
                f,
                "no end of the response head in {MAX_RESPONSE_HEAD} bytes"
            ),
            Self::Closed(received) if received.is_empty() => {
                f.write_str("the server closed the connection without answering the upgrade")
            }
            Self::Closed(received) => write!(
                f,
                "the server closed the connection in the middle of its answer: {received:?}"
            ),
        }
    }
}

impl std::error::Error for HandshakeError {}

/// The upgrade request for one target, with a placeholder for the key.
#[derive(Clone, Debug)]
pub(crate) struct RequestTemplate {
    bytes: Vec<u8>,
    key_at: usize,
}

impl RequestTemplate {
    /// The request for `path` with a `Host` and optional `Origin` header.
    pub(crate) fn new(path: &str, host: &str, origin: Option<&str>) -> Self {
        let mut text = format!(
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        );
        if let Some(origin) = origin {
            text.push_str(&format!("Origin: {origin}\r\n"));
        }
        text.push_str("Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ");
        let key_at = text.len();
        text.push_str(&"A".repeat(24));
        text.push_str("\r\n\r\n");
        Self {
            bytes: text.into_bytes(),
            key_at,
        }
    }

    /// The length of every request from this template.
    pub(crate) fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Replaces `out` with the request carrying `key` (no allocation when
    /// `out` has the capacity).
    pub(crate) fn write(&self, out: &mut Vec<u8>, key: &Key) {
        out.clear();
        out.extend_from_slice(&self.bytes);
        out[self.key_at..self.key_at + key.len()].copy_from_slice(key);
    }
}

/// A fresh random key.
pub(crate) fn new_key(rng: &mut Rng) -> Key {
    let mut raw = [0u8; 16];
    raw[..8].copy_from_slice(&rng.next_u64().to_le_bytes());
    raw[8..].copy_from_slice(&rng.next_u64().to_le_bytes());
    let mut key = [0u8; 24];
    // 16 bytes always encode to exactly 24 characters.
    let _ = STANDARD.encode_slice(raw, &mut key);
    key
}

/// The `Sec-WebSocket-Accept` a server must answer `key` with.
pub(crate) fn accept_for(key: &Key) -> Accept {
    let mut sha1 = Sha1::new();
    sha1.update(key);
    sha1.update(GUID);
    let mut accept = [0u8; 28];
    // 20 bytes always encode to exactly 28 characters.
    let _ = STANDARD.encode_slice(sha1.finalize().as_slice(), &mut accept);
    accept
}

/// Checks the response head received so far. `Ok(None)`: incomplete;
/// `Ok(Some(len))`: a valid upgrade whose head is `received[..len]` (bytes
/// after it are already WebSocket frames).
pub(crate) fn check_response(
    received: &[u8],
    accept: &Accept,
) -> Result<Option<usize>, HandshakeError> {
    let Some(end) = received.windows(4).position(|w| w == b"\r\n\r\n") else {
        return if received.len() > MAX_RESPONSE_HEAD {
            Err(HandshakeError::TooLong)
        } else {
            Ok(None)
        };
    };
    let head = &received[..end];
    let mut lines = head
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let status = lines.next().unwrap_or_default();
    if !status.starts_with(b"HTTP/1.1 101") || status.get(12).is_some_and(|&b| b != b' ') {
        return Err(HandshakeError::Status(
            String::from_utf8_lossy(&status[..status.len().min(200)]).into_owned(),
        ));
    }
    let quote = |bytes: &[u8], max: usize| {
        String::from_utf8_lossy(&bytes[..bytes.len().min(max)]).into_owned()
    };
    let (mut upgrade, mut connection, mut accepted) = (false, false, None);
    for line in lines {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (name, value) = (&line[..colon], line[colon + 1..].trim_ascii());
        if name.eq_ignore_ascii_case(b"sec-websocket-accept") {
            accepted.get_or_insert(value);
        } else if name.eq_ignore_ascii_case(b"upgrade") {
            upgrade |= value.eq_ignore_ascii_case(b"websocket");
        } else if name.eq_ignore_ascii_case(b"connection") {
            connection |= value
                .split(|&b| b == b',')
                .any(|token| token.trim_ascii().eq_ignore_ascii_case(b"upgrade"));
        } else if (name.eq_ignore_ascii_case(b"sec-websocket-extensions")
            || name.eq_ignore_ascii_case(b"sec-websocket-protocol"))
            && !value.is_empty()
        {
            // This client offers neither (RFC 6455 §4.1, items 5 and 6:
            // what is chosen must have been offered; an empty value
            // chooses nothing).
            return Err(HandshakeError::NotOffered(quote(line, 200)));
        }
    }
    match accepted {
        None => Err(HandshakeError::MissingAccept),
        Some(value) if value != accept => Err(HandshakeError::WrongAccept(quote(value, 100))),
        Some(_) if !upgrade => Err(HandshakeError::MissingUpgrade),
        Some(_) if !connection => Err(HandshakeError::MissingConnection),
        Some(_) => Ok(Some(end + 4)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC_KEY: &Key = b"dGhlIHNhbXBsZSBub25jZQ==";

    #[test]
    fn accept_matches_the_rfc_example() {
        assert_eq!(&accept_for(RFC_KEY), b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn requests_carry_every_header_and_the_key() {
        let template = RequestTemplate::new("/echo", "localhost:8080", Some("http://a.test"));
        let mut out = Vec::new();
        template.write(&mut out, RFC_KEY);
        assert_eq!(
            String::from_utf8(out.clone()).unwrap(),
            "GET /echo HTTP/1.1\r\nHost: localhost:8080\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nOrigin: http://a.test\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        );
        assert_eq!(out.len(), template.len());
        let without = RequestTemplate::new("/", "h", None);
        without.write(&mut out, RFC_KEY);
        assert!(!String::from_utf8(out).unwrap().contains("Origin"));
    }

    #[test]
    fn keys_are_16_random_bytes_in_base64() {
        let mut rng = Rng::new(1);
        let (a, b) = (new_key(&mut rng), new_key(&mut rng));
        assert_ne!(a, b);
        assert_eq!(STANDARD.decode(a).unwrap().len(), 16);
    }

    fn response(accept: &str) -> Vec<u8> {
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             sec-websocket-ACCEPT:  {accept} \r\n\r\n"
        )
        .into_bytes()
    }

    #[test]
    fn a_valid_101_is_accepted_and_its_head_length_given() {
        let accept = accept_for(RFC_KEY);
        let mut wire = response("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        let head = wire.len();
        wire.extend_from_slice(b"\x81\x00");
        assert_eq!(check_response(&wire, &accept), Ok(Some(head)));
        for cut in 0..head {
            assert_eq!(check_response(&wire[..cut], &accept), Ok(None), "cut {cut}");
        }
    }

    #[test]
    fn another_status_is_refused_with_its_line() {
        let accept = accept_for(RFC_KEY);
        assert_eq!(
            check_response(b"HTTP/1.1 403 Forbidden\r\n\r\n", &accept),
            Err(HandshakeError::Status("HTTP/1.1 403 Forbidden".into()))
        );
        assert_eq!(
            check_response(b"HTTP/1.1 1010\r\n\r\n", &accept),
            Err(HandshakeError::Status("HTTP/1.1 1010".into()))
        );
    }

    #[test]
    fn a_wrong_or_missing_accept_is_refused() {
        let accept = accept_for(RFC_KEY);
        assert_eq!(
            check_response(&response("AAAA"), &accept),
            Err(HandshakeError::WrongAccept("AAAA".into()))
        );
        assert_eq!(
            check_response(b"HTTP/1.1 101 OK\r\nUpgrade: websocket\r\n\r\n", &accept),
            Err(HandshakeError::MissingAccept)
        );
    }

    #[test]
    fn a_101_must_upgrade_to_websocket_and_choose_nothing_not_offered() {
        // RFC 6455 §4.1: the client must fail the connection otherwise.
        let accept = accept_for(RFC_KEY);
        let with = |headers: &str| {
            let head = format!(
                "HTTP/1.1 101 Switching Protocols\r\n{headers}\
                 Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
            );
            check_response(head.as_bytes(), &accept)
        };
        assert_eq!(
            with("Connection: Upgrade\r\n"),
            Err(HandshakeError::MissingUpgrade)
        );
        assert_eq!(
            with("Upgrade: h2c\r\nConnection: Upgrade\r\n"),
            Err(HandshakeError::MissingUpgrade)
        );
        assert_eq!(
            with("Upgrade: websocket\r\n"),
            Err(HandshakeError::MissingConnection)
        );
        assert_eq!(
            with("Upgrade: websocket\r\nConnection: close\r\n"),
            Err(HandshakeError::MissingConnection)
        );
        assert!(matches!(
            with("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Extensions: x\r\n"),
            Err(HandshakeError::NotOffered(line)) if line == "Sec-WebSocket-Extensions: x"
        ));
        assert!(matches!(
            with("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Protocol: chat\r\n"),
            Err(HandshakeError::NotOffered(_))
        ));
        // An empty choice chooses nothing.
        let head =
            with("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Protocol: \r\n");
        assert!(head.unwrap().is_some());
        // Case-insensitive, and a token list.
        let head = with("UPGRADE: WebSocket\r\nconnection: keep-alive, upgrade\r\n").unwrap();
        assert!(head.is_some());
    }

    #[test]
    fn an_endless_head_is_refused() {
        let accept = accept_for(RFC_KEY);
        let wire = vec![b'x'; MAX_RESPONSE_HEAD + 1];
        assert_eq!(check_response(&wire, &accept), Err(HandshakeError::TooLong));
    }
}
