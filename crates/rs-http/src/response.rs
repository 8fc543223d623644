//! The server's answer to the upgrade request: `101 Switching Protocols`,
//! or an error status whose body says what was wrong.

use std::fmt::{self, Write as _};

use crate::accept::{ACCEPT_KEY_LEN, AcceptKey};
use crate::date::HttpDate;
use crate::error::HandshakeError;
use crate::request::Subprotocol;

const SWITCHING_PROTOCOLS_HEAD: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\n\
    Upgrade: websocket\r\n\
    Connection: Upgrade\r\n\
    Sec-WebSocket-Accept: ";
const SWITCHING_PROTOCOLS_TAIL: &[u8] = b"\r\n\r\n";

/// Length of every `101 Switching Protocols` response in bytes.
pub const SWITCHING_PROTOCOLS_LEN: usize =
    SWITCHING_PROTOCOLS_HEAD.len() + ACCEPT_KEY_LEN + SWITCHING_PROTOCOLS_TAIL.len();

/// The `101 Switching Protocols` response accepting the connection, in a
/// fixed-size array (no allocation). No subprotocol or extension is
/// negotiated.
///
/// ```
/// let response = rs_http::switching_protocols(&rs_http::accept_key("dGhlIHNhbXBsZSBub25jZQ=="));
/// assert_eq!(
///     &response[..],
///     b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
///       Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
/// );
/// ```
pub fn switching_protocols(accept: &AcceptKey) -> [u8; SWITCHING_PROTOCOLS_LEN] {
    let mut response = [0u8; SWITCHING_PROTOCOLS_LEN];
    let (head, rest) = response.split_at_mut(SWITCHING_PROTOCOLS_HEAD.len());
    let (key, tail) = rest.split_at_mut(ACCEPT_KEY_LEN);
    head.copy_from_slice(SWITCHING_PROTOCOLS_HEAD);
    key.copy_from_slice(accept.as_bytes());
    tail.copy_from_slice(SWITCHING_PROTOCOLS_TAIL);
    response
}

/// Appends the `101 Switching Protocols` response to `out`: the
/// [`switching_protocols`] response, and with a `subprotocol` (usually
/// [`UpgradeRequest::select_subprotocol`](crate::UpgradeRequest::select_subprotocol)'s
/// choice) a `Sec-WebSocket-Protocol` header naming it.
///
/// ```
/// use rs_http::Subprotocol;
/// let accept = rs_http::accept_key("dGhlIHNhbXBsZSBub25jZQ==");
/// let mut out = Vec::new();
/// rs_http::write_switching_protocols(&accept, Subprotocol::new("chat"), &mut out);
/// assert_eq!(
///     out,
///     b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
///       Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
///       Sec-WebSocket-Protocol: chat\r\n\r\n"
/// );
/// ```
pub fn write_switching_protocols(
    accept: &AcceptKey,
    subprotocol: Option<Subprotocol<'_>>,
    out: &mut Vec<u8>,
) {
    let response = switching_protocols(accept);
    let Some(subprotocol) = subprotocol else {
        out.extend_from_slice(&response);
        return;
    };
    // A token: it cannot end the header early.
    let head = &response[..response.len() - 2];
    out.extend_from_slice(head);
    out.extend_from_slice(b"Sec-WebSocket-Protocol: ");
    out.extend_from_slice(subprotocol.as_str().as_bytes());
    out.extend_from_slice(b"\r\n\r\n");
}

/// Appends the response refusing a handshake to `out`: the error's status
/// line, the `Date` header with `date` (the current time: RFC 9110 §6.6.1
/// requires it of a 4xx response), `Connection: close`, a plain-text body
/// with the error's [`Display`](fmt::Display) text and a newline (none
/// when `head`, the request was HEAD, RFC 9110 §9.3.2, though its length
/// is given: see [`RequestParser::refused_head`](crate::RequestParser::refused_head)),
/// and the headers some
/// statuses require: `Allow: GET` for 405, `Upgrade: websocket` (with the
/// `upgrade` connection option, RFC 9110 §7.8 and §15.5.22) and
/// `Sec-WebSocket-Version: 13` for 426, and `Retry-After: 1` for 503. Send
/// it, then close the connection.
///
/// ```
/// use rs_http::{HandshakeError, HttpDate};
/// let mut out = Vec::new();
/// let date = HttpDate::from_unix_secs(784_111_777); // HttpDate::from(SystemTime::now())
/// rs_http::write_error_response(&HandshakeError::NotFound, false, date, &mut out);
/// assert_eq!(
///     out,
///     b"HTTP/1.1 404 Not Found\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\nConnection: close\r\n\
///       Content-Type: text/plain; charset=utf-8\r\nContent-Length: 34\r\n\r\n\
///       no WebSocket endpoint at this URL\n"
/// );
/// ```
pub fn write_error_response(error: &HandshakeError, head: bool, date: HttpDate, out: &mut Vec<u8>) {
    let mut body_len = ByteCounter(1); // the final newline
    // Counting and appending to a Vec cannot fail.
    let _ = write!(body_len, "{error}");
    let mut out = VecWriter(out);
    let connection = match error.status() {
        426 => "Upgrade, close",
        _ => "close",
    };
    let _ = write!(
        out,
        "HTTP/1.1 {} {}\r\n\
         Date: {date}\r\n\
         Connection: {connection}\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Length: {}\r\n",
        error.status(),
        error.reason_phrase(),
        body_len.0
    );
    match error.status() {
        405 => out.0.extend_from_slice(b"Allow: GET\r\n"),
        426 => out
            .0
            .extend_from_slice(b"Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"),
        503 => out.0.extend_from_slice(b"Retry-After: 1\r\n"),
        _ => {}
    }
    out.0.extend_from_slice(b"\r\n");
    if !head {
        let _ = writeln!(out, "{error}");
    }
}

/// Measures formatted text without storing it.
struct ByteCounter(usize);

impl fmt::Write for ByteCounter {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        self.0 += text.len();
        Ok(())
    }
}

/// Formats straight into a byte vector.
struct VecWriter<'a>(&'a mut Vec<u8>);

impl fmt::Write for VecWriter<'_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        self.0.extend_from_slice(text.as_bytes());
        Ok(())
    }
}
