//! The server side of the WebSocket opening handshake (RFC 6455 §4), sans-IO.
//!
//! RingSocket's worker threads read bytes from a new connection and hand them
//! to this crate, which answers with either a request to accept or the exact
//! error response to send before closing. No sockets, no threads, no
//! knowledge of the rest of the server:
//!
//! - [`RequestParser`] parses the HTTP/1.1 upgrade request incrementally, in
//!   chunks of any size, under a size limit (431; 414 for a request target
//!   that runs past it), and validates it ([`UpgradeRequest`]): GET
//!   (another method HTTP defines gets 405, one it does not 501), HTTP/1.1
//!   (a later HTTP/1 minor version is read as 1.1; HTTP/2 and later get
//!   505), `Host`, `Upgrade: websocket`, `Connection: upgrade`,
//!   `Sec-WebSocket-Version: 13` (else 426) and a 16-byte base64
//!   `Sec-WebSocket-Key`, and that any offered subprotocols
//!   (`Sec-WebSocket-Protocol`) are tokens. Bytes after the request (a
//!   pipelined first frame) are left to the caller.
//! - [`Router`] picks the endpoint from the request target and `Host` (404)
//!   and checks `Origin` against the endpoint's [`AllowedOrigins`] (403).
//! - [`accept_key`], [`switching_protocols`] and [`write_error_response`]
//!   produce the answer: `101 Switching Protocols` with
//!   `Sec-WebSocket-Accept` (and the subprotocol
//!   [`UpgradeRequest::select_subprotocol`] chose), or an error status with
//!   `Connection: close`, a `Date` ([`HttpDate`], from the time the caller
//!   passes) and a short plain-text body. Every refusal is a [`HandshakeError`] with its
//!   [`status`](HandshakeError::status).
//!
//! # Example
//!
//! ```
//! use rs_http::{AllowedOrigins, HttpDate, Progress, RequestParser, Router, Scheme};
//! use std::time::SystemTime;
//!
//! // Endpoints of a `ws://` listener on port 8080; the values are endpoint ids.
//! let mut router = Router::new();
//! router.add(Scheme::Ws, "localhost", 8080, "/echo", AllowedOrigins::any(), 7_u16);
//! let origins = AllowedOrigins::parse(["https://example.com"])?;
//! router.add(Scheme::Ws, "localhost", 8080, "/chat", origins, 8_u16);
//!
//! // A request arrives, followed by the client's first frame.
//! let received = b"GET /chat?room=1 HTTP/1.1\r\n\
//!     Host: LOCALHOST:8080\r\n\
//!     Upgrade: websocket\r\n\
//!     Connection: keep-alive, Upgrade\r\n\
//!     Origin: https://example.com\r\n\
//!     Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
//!     Sec-WebSocket-Version: 13\r\n\
//!     \r\n\
//!     \x81\x80\x00\x00\x00\x00";
//!
//! let mut parser = RequestParser::new();
//! let mut out = Vec::new();
//! let now = HttpDate::from(SystemTime::now());
//! match parser.push(received) {
//!     Ok(Progress::Complete { request, consumed }) => {
//!         assert_eq!(request.query(), Some("room=1"));
//!         match router.route(&request, 8080, Scheme::Ws) {
//!             Ok(&endpoint_id) => {
//!                 assert_eq!(endpoint_id, 8);
//!                 rs_http::write_switching_protocols(&request.accept_key(), None, &mut out);
//!                 // The rest is WebSocket frames.
//!                 assert_eq!(&received[consumed..], b"\x81\x80\x00\x00\x00\x00");
//!             }
//!             // A GET, routed nowhere (404) or from a foreign origin (403).
//!             Err(error) => rs_http::write_error_response(&error, false, now, &mut out),
//!         }
//!     }
//!     Ok(Progress::Incomplete) => { /* read more */ }
//!     Err(error) => {
//!         rs_http::write_error_response(&error, parser.refused_head(), now, &mut out)
//!     }
//! }
//! assert_eq!(
//!     out,
//!     b"HTTP/1.1 101 Switching Protocols\r\n\
//!       Upgrade: websocket\r\n\
//!       Connection: Upgrade\r\n\
//!       Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
//! );
//! # Ok::<(), rs_http::OriginParseError>(())
//! ```

mod accept;
mod authority;
mod date;
mod error;
mod origin;
mod parser;
mod request;
mod response;
mod router;
mod target;

pub use accept::{ACCEPT_KEY_LEN, AcceptKey, accept_key};
pub use date::HttpDate;
pub use error::HandshakeError;
pub use origin::{AllowedOrigins, OriginErrorKind, OriginParseError};
pub use parser::{DEFAULT_MAX_HEAD_LEN, MAX_HEADERS, Progress, RequestParser};
pub use request::{Subprotocol, UpgradeRequest};
pub use response::{
    SWITCHING_PROTOCOLS_LEN, switching_protocols, write_error_response, write_switching_protocols,
};
pub use router::{Route, Router, Scheme};
