//! The one error type of the handshake: every way a request can be refused,
//! each with its HTTP status and a short explanation for the client.

use std::fmt;

/// Why an upgrade request was refused.
///
/// Every variant maps to one HTTP status ([`status`](Self::status)) and its
/// [`Display`](fmt::Display) text is the plain-text body sent to the client
/// (see [`write_error_response`](crate::write_error_response)).
///
/// ```
/// use rs_http::HandshakeError;
///
/// let err = HandshakeError::MissingKey;
/// assert_eq!(err.status(), 400);
/// assert_eq!(err.to_string(), "missing Sec-WebSocket-Key header");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HandshakeError {
    /// 400: the request line is not `METHOD SP request-target SP HTTP-version`
    /// (invalid method or target character, missing parts, non-UTF-8 target).
    MalformedRequestLine,
    /// 400: a header line has an invalid name or value byte.
    MalformedHeader,
    /// 400: a line does not end in CRLF (or a bare LF).
    MalformedLineEnding,
    /// 431: more than [`MAX_HEADERS`](crate::MAX_HEADERS) header lines
    /// (Request Header Fields Too Large, RFC 6585 §5).
    TooManyHeaders,
    /// 400: the HTTP version is below HTTP/1.1 (RFC 6455 §4.1), or not
    /// `HTTP/` DIGIT `.` DIGIT. (HTTP/1.2 and later minor versions are
    /// read as HTTP/1.1, RFC 9110 §2.5.)
    UnsupportedHttpVersion,
    /// 505: the request line names HTTP/2 or later, whose messages do not
    /// look like this one (HTTP Version Not Supported, RFC 9110 §15.6.6).
    HttpVersionNotSupported,
    /// 405: the method is one HTTP defines (RFC 9110 §9, RFC 5789), not GET.
    /// The response carries `Allow: GET`.
    MethodNotAllowed,
    /// 501: the method is none HTTP defines (methods are case-sensitive:
    /// `get` is not GET), or longer than the head's size limit (Not
    /// Implemented, RFC 9110 §9.1 and §15.6.2).
    MethodNotImplemented,
    /// 414: the request target did not end within the head's size limit
    /// (URI Too Long, RFC 9112 §3).
    UriTooLong {
        /// The configured limit in bytes.
        limit: usize,
    },
    /// 400: the request announces a body (`Content-Length` other than 0, or
    /// any `Transfer-Encoding`).
    UnexpectedBody,
    /// 400: the request target is neither origin-form (`/path?query`) nor
    /// absolute-form with a `ws`, `wss`, `http` or `https` scheme, or it has
    /// a fragment or user information.
    BadRequestTarget,
    /// 400: no `Host` header.
    MissingHost,
    /// 400: the `Host` header is not a valid `host[:port]`.
    BadHost,
    /// 400: a header that must appear at most once appeared several times.
    /// Carries the header's name.
    DuplicateHeader(&'static str),
    /// 400: a header this crate interprets is not valid text (not UTF-8) or
    /// has an invalid value. Carries the header's name.
    InvalidHeader(&'static str),
    /// 400: no `Upgrade` header containing the token `websocket`.
    MissingUpgrade,
    /// 400: no `Connection` header containing the token `upgrade`.
    MissingConnectionUpgrade,
    /// 426: no `Sec-WebSocket-Version` header. The response carries
    /// `Sec-WebSocket-Version: 13`.
    MissingVersion,
    /// 426: `Sec-WebSocket-Version` is not 13. The response carries
    /// `Sec-WebSocket-Version: 13`.
    UnsupportedVersion,
    /// 400: no `Sec-WebSocket-Key` header.
    MissingKey,
    /// 400: `Sec-WebSocket-Key` is not the base64 encoding of 16 bytes.
    BadKey,
    /// 431: the request head did not end within `limit` bytes (its request
    /// line did: else 414 or 501, see [`UriTooLong`](Self::UriTooLong)).
    TooLarge {
        /// The configured limit in bytes.
        limit: usize,
    },
    /// 404: no endpoint is configured for the requested path on this port.
    NotFound,
    /// 403: the `Origin` header is not among the endpoint's allowed origins.
    ForbiddenOrigin,
    /// 503: the endpoint's app is not keeping up with the connections it
    /// already has, so no new ones are taken for now. The response carries
    /// `Retry-After: 1`.
    AppBusy,
}

impl HandshakeError {
    /// The HTTP status code to answer with.
    pub fn status(&self) -> u16 {
        match self {
            Self::MethodNotAllowed => 405,
            Self::MethodNotImplemented => 501,
            Self::UriTooLong { .. } => 414,
            Self::MissingVersion | Self::UnsupportedVersion => 426,
            Self::TooLarge { .. } | Self::TooManyHeaders => 431,
            Self::NotFound => 404,
            Self::ForbiddenOrigin => 403,
            Self::AppBusy => 503,
            Self::HttpVersionNotSupported => 505,
            Self::MalformedRequestLine
            | Self::MalformedHeader
            | Self::MalformedLineEnding
            | Self::UnsupportedHttpVersion
            | Self::UnexpectedBody
            | Self::BadRequestTarget
            | Self::MissingHost
            | Self::BadHost
            | Self::DuplicateHeader(_)
            | Self::InvalidHeader(_)
            | Self::MissingUpgrade
            | Self::MissingConnectionUpgrade
            | Self::MissingKey
            | Self::BadKey => 400,
        }
    }

    /// The reason phrase of [`status`](Self::status), e.g. `"Bad Request"`.
    pub fn reason_phrase(&self) -> &'static str {
        match self.status() {
            403 => "Forbidden",
            404 => "Not Found",
            405 => "Method Not Allowed",
            414 => "URI Too Long",
            426 => "Upgrade Required",
            431 => "Request Header Fields Too Large",
            501 => "Not Implemented",
            503 => "Service Unavailable",
            505 => "HTTP Version Not Supported",
            _ => "Bad Request",
        }
    }
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MalformedRequestLine => f.write_str("malformed request line"),
            Self::MalformedHeader => f.write_str("malformed header line"),
            Self::MalformedLineEnding => f.write_str("malformed line ending"),
            Self::TooManyHeaders => {
                write!(f, "too many headers (at most {})", crate::MAX_HEADERS)
            }
            Self::UnsupportedHttpVersion => f.write_str("HTTP/1.1 or a later HTTP/1 is required"),
            Self::HttpVersionNotSupported => {
                f.write_str("HTTP/2 and later are not supported for upgrade requests")
            }
            Self::MethodNotAllowed => f.write_str("only GET can open a WebSocket"),
            Self::MethodNotImplemented => {
                f.write_str("unknown method (only GET can open a WebSocket)")
            }
            Self::UriTooLong { limit } => {
                write!(f, "the request target exceeds {limit} bytes")
            }
            Self::UnexpectedBody => f.write_str("an upgrade request must not have a body"),
            Self::BadRequestTarget => f.write_str("invalid request target"),
            Self::MissingHost => f.write_str("missing Host header"),
            Self::BadHost => f.write_str("invalid Host header"),
            Self::DuplicateHeader(name) => write!(f, "duplicate {name} header"),
            Self::InvalidHeader(name) => write!(f, "invalid {name} header"),
            Self::MissingUpgrade => f.write_str("missing \"Upgrade: websocket\" header"),
            Self::MissingConnectionUpgrade => f.write_str("missing \"Connection: Upgrade\" header"),
            Self::MissingVersion => {
                f.write_str("missing Sec-WebSocket-Version header (supported: 13)")
            }
            Self::UnsupportedVersion => {
                f.write_str("unsupported Sec-WebSocket-Version (supported: 13)")
            }
            Self::MissingKey => f.write_str("missing Sec-WebSocket-Key header"),
            Self::BadKey => {
                f.write_str("invalid Sec-WebSocket-Key header (must be base64 of 16 bytes)")
            }
            Self::TooLarge { limit } => {
                write!(f, "request header fields exceed {limit} bytes")
            }
            Self::NotFound => f.write_str("no WebSocket endpoint at this URL"),
            Self::ForbiddenOrigin => f.write_str("origin not allowed"),
            Self::AppBusy => f.write_str("the server is busy; try again later"),
        }
    }
}

impl std::error::Error for HandshakeError {}
