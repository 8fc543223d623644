//! `Sec-WebSocket-Accept`: base64(SHA-1(key + GUID)), RFC 6455 §4.2.2,
//! computed into a fixed-size array (no allocation).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha1::{Digest as _, Sha1};

/// The GUID RFC 6455 appends to the client's key before hashing.
const WEBSOCKET_GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Length of a `Sec-WebSocket-Accept` value: base64 of a 20-byte SHA-1.
pub const ACCEPT_KEY_LEN: usize = 28;

/// A `Sec-WebSocket-Accept` header value, held inline (28 ASCII bytes).
///
/// ```
/// let accept = rs_http::accept_key("dGhlIHNhbXBsZSBub25jZQ==");
/// assert_eq!(accept.as_str(), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct AcceptKey([u8; ACCEPT_KEY_LEN]);

impl AcceptKey {
    /// The value as bytes.
    pub fn as_bytes(&self) -> &[u8; ACCEPT_KEY_LEN] {
        &self.0
    }

    /// The value as text.
    pub fn as_str(&self) -> &str {
        // Base64 output is ASCII, so this never falls back.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl fmt::Display for AcceptKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for AcceptKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AcceptKey({:?})", self.as_str())
    }
}

/// Computes the `Sec-WebSocket-Accept` value for a `Sec-WebSocket-Key`
/// value, exactly as the client sent it (the key is hashed as text, not
/// decoded). Allocation-free.
///
/// [`UpgradeRequest::accept_key`](crate::UpgradeRequest::accept_key) calls
/// this for a validated request.
///
/// ```
/// let accept = rs_http::accept_key("dGhlIHNhbXBsZSBub25jZQ==");
/// assert_eq!(accept.to_string(), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
/// ```
pub fn accept_key(key: &str) -> AcceptKey {
    let mut sha1 = Sha1::new();
    sha1.update(key.as_bytes());
    sha1.update(WEBSOCKET_GUID);
    let digest = sha1.finalize();
    let mut out = [0u8; ACCEPT_KEY_LEN];
    // 20 bytes always encode to exactly 28 characters, so this cannot fail.
    let written = STANDARD.encode_slice(digest.as_slice(), &mut out);
    debug_assert_eq!(written, Ok(ACCEPT_KEY_LEN));
    AcceptKey(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_6455_example() {
        let accept = accept_key("dGhlIHNhbXBsZSBub25jZQ==");
        assert_eq!(accept.as_str(), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert_eq!(accept.as_bytes(), b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn debug_shows_value() {
        let accept = accept_key("dGhlIHNhbXBsZSBub25jZQ==");
        assert_eq!(
            format!("{accept:?}"),
            "AcceptKey(\"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\")"
        );
    }
}
