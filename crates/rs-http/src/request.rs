//! The validated upgrade request (RFC 6455 §4.2.1) and the rules that
//! produce it from a parsed HTTP head.

use std::borrow::Cow;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::accept::{AcceptKey, accept_key};
use crate::authority::parse_authority;
use crate::error::HandshakeError;
use crate::target::parse_target;

/// Length of a valid `Sec-WebSocket-Key`: base64 of 16 bytes, padded.
const KEY_LEN: usize = 24;

/// A valid WebSocket upgrade request, reduced to what a server needs.
///
/// Produced by [`RequestParser`](crate::RequestParser). Owned and small:
/// the request line's and the handshake's fields share one allocation,
/// the headers kept for the app another.
///
/// `host` and `port` are the request's authority: taken from an
/// absolute-form target (`GET ws://host:port/path HTTP/1.1`) when there is
/// one, which takes precedence over `Host` (RFC 7230 §5.4), otherwise from
/// the `Host` header (which is required and checked in both cases).
#[derive(Clone, PartialEq, Eq)]
pub struct UpgradeRequest {
    /// path, query, host (lowercased), origin, key, offered subprotocols
    /// (comma-separated), back to back.
    text: Box<str>,
    path_end: usize,
    query_end: Option<usize>,
    host_end: usize,
    origin_end: Option<usize>,
    key_end: usize,
    port: Option<u16>,
    kept: KeptHeaders,
}

impl UpgradeRequest {
    /// The request target's path, without the query, exactly as sent (no
    /// percent-decoding, no dot-segment removal). Never empty; starts with
    /// `/`.
    pub fn path(&self) -> &str {
        &self.text[..self.path_end]
    }

    /// The query (after `?`, possibly empty), if the target had one.
    pub fn query(&self) -> Option<&str> {
        self.query_end.map(|end| &self.text[self.path_end..end])
    }

    /// The requested host name, ASCII-lowercased (an IPv6 literal keeps its
    /// brackets, a trailing dot is kept).
    pub fn host(&self) -> &str {
        &self.text[self.host_start()..self.host_end]
    }

    /// The requested port, if the authority names one.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// The `Origin` header as sent (browsers send it; other clients usually
    /// do not).
    pub fn origin(&self) -> Option<&str> {
        self.origin_end.map(|end| &self.text[self.host_end..end])
    }

    /// The `Sec-WebSocket-Key` header as sent (24 base64 characters).
    pub fn key(&self) -> &str {
        &self.text[self.origin_end.unwrap_or(self.host_end)..self.key_end]
    }

    /// The subprotocols the client offers (`Sec-WebSocket-Protocol`, every
    /// such header in order).
    pub fn subprotocols(&self) -> impl Iterator<Item = Subprotocol<'_>> {
        self.text[self.key_end..]
            .split(',')
            .filter(|protocol| !protocol.is_empty())
            .map(Subprotocol)
    }

    /// The first of `supported` (the server's order of preference) that the
    /// client offers, compared exactly: what the `101` response names in
    /// `Sec-WebSocket-Protocol` (RFC 6455 §4.2.2). `None` when the client
    /// offers none of them; the response then names none, and the client
    /// decides whether to go on (browsers do not).
    ///
    /// ```
    /// # let request = |protocols: &str| {
    /// #     let head = format!("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\
    /// #         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
    /// #         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: {protocols}\r\n\r\n");
    /// #     match rs_http::RequestParser::new().push(head.as_bytes()) {
    /// #         Ok(rs_http::Progress::Complete { request, .. }) => request,
    /// #         other => panic!("{other:?}"),
    /// #     }
    /// # };
    /// // `request` stands for a parsed request with this Sec-WebSocket-Protocol.
    /// let offered = request("chat.v1, chat.v2");
    /// let chosen = offered.select_subprotocol(&["chat.v2", "chat.v1"]);
    /// assert_eq!(chosen.map(|s| s.as_str()), Some("chat.v2"));
    /// assert_eq!(offered.select_subprotocol(&["Chat.v1"]), None);
    /// ```
    pub fn select_subprotocol<'s, S: AsRef<str>>(
        &self,
        supported: &'s [S],
    ) -> Option<Subprotocol<'s>> {
        supported
            .iter()
            .map(AsRef::as_ref)
            .find(|wanted| self.subprotocols().any(|offered| offered.0 == *wanted))
            // Equal to an offered one, so a token.
            .map(Subprotocol)
    }

    /// The value of the header `name` (ASCII case-insensitive), if the
    /// request sent it and the parser was asked to keep it
    /// ([`RequestParser::push_keeping`](crate::RequestParser::push_keeping)):
    /// trimmed of surrounding spaces and tabs, as bytes (a value may hold
    /// any byte from 0x80 up, RFC 9110 §5.5). A header sent on several
    /// lines is one value, its non-empty lines joined with `"; "` for
    /// `Cookie` (RFC 6265 §5.4) and `", "` for any other (RFC 9110 §5.3).
    pub fn header(&self, name: &str) -> Option<Cow<'_, [u8]>> {
        let mut lines = self
            .kept
            .lines()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()));
        let (_, first_line) = lines.next()?;
        let mut values = std::iter::once(first_line)
            .chain(lines.map(|(_, value)| value))
            .filter(|value| !value.is_empty());
        let Some(first) = values.next() else {
            return Some(Cow::Borrowed(&[])); // sent, empty
        };
        let Some(second) = values.next() else {
            return Some(Cow::Borrowed(first));
        };
        let separator: &[u8] = if name.eq_ignore_ascii_case("cookie") {
            b"; "
        } else {
            b", "
        };
        let mut joined = first.to_vec();
        for value in std::iter::once(second).chain(values) {
            joined.extend_from_slice(separator);
            joined.extend_from_slice(value);
        }
        Some(Cow::Owned(joined))
    }

    /// The `Sec-WebSocket-Accept` value answering this request's key.
    pub fn accept_key(&self) -> AcceptKey {
        accept_key(self.key())
    }

    fn host_start(&self) -> usize {
        self.query_end.unwrap_or(self.path_end)
    }
}

impl std::fmt::Debug for UpgradeRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpgradeRequest")
            .field("path", &self.path())
            .field("query", &self.query())
            .field("host", &self.host())
            .field("port", &self.port())
            .field("origin", &self.origin())
            .field("key", &self.key())
            .field("subprotocols", &self.subprotocols().collect::<Vec<_>>())
            // Names only: values such as cookies are secrets.
            .field(
                "kept_headers",
                &self
                    .kept
                    .lines()
                    .map(|(name, _)| String::from_utf8_lossy(name))
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// A subprotocol name that is an HTTP token, so that a response can name
/// it: one a client offered ([`UpgradeRequest::subprotocols`],
/// [`UpgradeRequest::select_subprotocol`]) or one checked by
/// [`Subprotocol::new`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Subprotocol<'a>(&'a str);

impl<'a> Subprotocol<'a> {
    /// `name` if it is an HTTP token (RFC 7230 §3.2.6), as a subprotocol
    /// must be (RFC 6455 §4.1).
    ///
    /// ```
    /// use rs_http::Subprotocol;
    /// assert_eq!(Subprotocol::new("chat.v2").map(|s| s.as_str()), Some("chat.v2"));
    /// assert_eq!(Subprotocol::new("x\r\nSet-Cookie: a=b"), None);
    /// ```
    pub fn new(name: &'a str) -> Option<Self> {
        is_token(name).then_some(Self(name))
    }

    /// The name.
    pub fn as_str(&self) -> &'a str {
        self.0
    }
}

/// The header lines kept for [`UpgradeRequest::header`]: each name and
/// value back to back in `bytes`, where `ends` says where each ends.
#[derive(Clone, Default, PartialEq, Eq)]
struct KeptHeaders {
    bytes: Box<[u8]>,
    ends: Box<[(usize, usize)]>,
}

impl KeptHeaders {
    /// The lines of `headers` named in `keep`, values trimmed.
    fn collect<S: AsRef<str>>(headers: &[httparse::Header<'_>], keep: &[S]) -> Self {
        let kept = |header: &&httparse::Header<'_>| {
            keep.iter()
                .any(|name| name.as_ref().eq_ignore_ascii_case(header.name))
        };
        if !headers.iter().any(|h| kept(&h)) {
            return Self::default();
        }
        let mut bytes = Vec::new();
        let mut ends = Vec::new();
        for header in headers.iter().filter(kept) {
            bytes.extend_from_slice(header.name.as_bytes());
            let name_end = bytes.len();
            // Spaces and tabs: a value holds no other ASCII whitespace
            // (httparse refuses control characters but tabs).
            bytes.extend_from_slice(header.value.trim_ascii());
            ends.push((name_end, bytes.len()));
        }
        Self {
            bytes: bytes.into_boxed_slice(),
            ends: ends.into_boxed_slice(),
        }
    }

    /// Each kept line's name and value, in the request's order.
    fn lines(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        let starts = std::iter::once(0).chain(self.ends.iter().map(|&(_, end)| end));
        starts
            .zip(self.ends.iter())
            .map(|(start, &(name_end, end))| {
                (&self.bytes[start..name_end], &self.bytes[name_end..end])
            })
    }
}

/// The headers the handshake looks at, collected in one pass.
#[derive(Default)]
struct Fields<'a> {
    host: Option<&'a [u8]>,
    key: Option<&'a [u8]>,
    version: Option<&'a [u8]>,
    origin: Option<&'a [u8]>,
    /// Every `Sec-WebSocket-Protocol` value, in order (rarely more than one).
    protocols: Vec<&'a [u8]>,
    upgrade_websocket: bool,
    connection_upgrade: bool,
    has_body: bool,
}

impl<'a> Fields<'a> {
    fn collect(headers: &[httparse::Header<'a>]) -> Result<Self, HandshakeError> {
        let mut fields = Fields::default();
        for header in headers {
            let name = header.name;
            let value = header.value;
            if name.eq_ignore_ascii_case("host") {
                set_once(&mut fields.host, value, "Host")?;
            } else if name.eq_ignore_ascii_case("sec-websocket-key") {
                set_once(&mut fields.key, value, "Sec-WebSocket-Key")?;
            } else if name.eq_ignore_ascii_case("sec-websocket-version") {
                set_once(&mut fields.version, value, "Sec-WebSocket-Version")?;
            } else if name.eq_ignore_ascii_case("origin") {
                set_once(&mut fields.origin, value, "Origin")?;
            } else if name.eq_ignore_ascii_case("sec-websocket-protocol") {
                fields.protocols.push(value);
            } else if name.eq_ignore_ascii_case("upgrade") {
                fields.upgrade_websocket |= has_token(value, "websocket", "Upgrade")?;
            } else if name.eq_ignore_ascii_case("connection") {
                fields.connection_upgrade |= has_token(value, "upgrade", "Connection")?;
            } else if name.eq_ignore_ascii_case("content-length") {
                fields.has_body |= content_length(value)? != 0;
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                fields.has_body = true;
            }
        }
        Ok(fields)
    }
}

fn set_once<'a>(
    slot: &mut Option<&'a [u8]>,
    value: &'a [u8],
    name: &'static str,
) -> Result<(), HandshakeError> {
    if slot.replace(value).is_some() {
        return Err(HandshakeError::DuplicateHeader(name));
    }
    Ok(())
}

/// Whether a comma-separated header value lists `token` (ASCII
/// case-insensitive, optional whitespace around elements).
fn has_token(value: &[u8], token: &str, name: &'static str) -> Result<bool, HandshakeError> {
    let value = text(value).ok_or(HandshakeError::InvalidHeader(name))?;
    Ok(value
        .split(',')
        .any(|element| trim_ows(element).eq_ignore_ascii_case(token)))
}

/// `Content-Length = 1*DIGIT`; saturates instead of overflowing since only
/// "zero or not" matters.
fn content_length(value: &[u8]) -> Result<u64, HandshakeError> {
    let invalid = HandshakeError::InvalidHeader("Content-Length");
    let digits = text(value).ok_or(invalid)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid);
    }
    Ok(digits.bytes().fold(0u64, |n, b| {
        n.saturating_mul(10).saturating_add(u64::from(b - b'0'))
    }))
}

/// A header value as trimmed UTF-8 text, `None` if it is not UTF-8.
fn text(value: &[u8]) -> Option<&str> {
    std::str::from_utf8(value).ok().map(trim_ows)
}

fn trim_ows(text: &str) -> &str {
    text.trim_matches([' ', '\t'])
}

/// Whether `text` is an HTTP token (RFC 7230 §3.2.6), as a subprotocol
/// must be (RFC 6455 §4.1). (rs-conf checks configured names the same way;
/// it does not depend on this crate.)
fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// The subprotocols offered by `values` (each a comma-separated list, empty
/// elements skipped), joined by commas.
fn offered_subprotocols(values: &[&[u8]]) -> Result<String, HandshakeError> {
    let invalid = HandshakeError::InvalidHeader("Sec-WebSocket-Protocol");
    let mut joined = String::new();
    for value in values {
        for element in text(value).ok_or(invalid)?.split(',').map(trim_ows) {
            if element.is_empty() {
                continue;
            }
            if !is_token(element) {
                return Err(invalid);
            }
            if !joined.is_empty() {
                joined.push(',');
            }
            joined.push_str(element);
        }
    }
    Ok(joined)
}

fn is_valid_key(key: &str) -> bool {
    // 16 bytes always encode to 24 characters ending in "=="; the length
    // check also keeps the decoder's work bounded.
    let mut decoded = [0u8; 18];
    key.len() == KEY_LEN && STANDARD.decode_slice(key, &mut decoded) == Ok(16)
}

/// Applies every rule of the opening handshake to a complete HTTP head.
///
/// Checks run in this order, so a request breaking several rules gets the
/// first answer: method, HTTP version, duplicate or unreadable headers, body,
/// request target, Host, Upgrade, Connection, Sec-WebSocket-Version,
/// Sec-WebSocket-Key, Origin, Sec-WebSocket-Protocol.
pub(crate) fn validate<S: AsRef<str>>(
    request: &httparse::Request<'_, '_>,
    keep: &[S],
) -> Result<UpgradeRequest, HandshakeError> {
    // Methods are case-sensitive (RFC 9110 §9.1).
    match request.method {
        Some("GET") => {}
        Some("HEAD" | "POST" | "PUT" | "DELETE" | "CONNECT" | "OPTIONS" | "TRACE" | "PATCH") => {
            return Err(HandshakeError::MethodNotAllowed);
        }
        _ => return Err(HandshakeError::MethodNotImplemented),
    }
    if request.version != Some(1) {
        return Err(HandshakeError::UnsupportedHttpVersion);
    }
    let fields = Fields::collect(request.headers)?;
    if fields.has_body {
        return Err(HandshakeError::UnexpectedBody);
    }
    let target = request
        .path
        .and_then(parse_target)
        .ok_or(HandshakeError::BadRequestTarget)?;
    let host_header = fields.host.ok_or(HandshakeError::MissingHost)?;
    let host_header = text(host_header).ok_or(HandshakeError::BadHost)?;
    let host_header = parse_authority(host_header).map_err(|_| HandshakeError::BadHost)?;
    let authority = target.authority.unwrap_or(host_header);
    if !fields.upgrade_websocket {
        return Err(HandshakeError::MissingUpgrade);
    }
    if !fields.connection_upgrade {
        return Err(HandshakeError::MissingConnectionUpgrade);
    }
    let version = fields.version.ok_or(HandshakeError::MissingVersion)?;
    if text(version) != Some("13") {
        return Err(HandshakeError::UnsupportedVersion);
    }
    let key = fields.key.ok_or(HandshakeError::MissingKey)?;
    let key = text(key).ok_or(HandshakeError::BadKey)?;
    if !is_valid_key(key) {
        return Err(HandshakeError::BadKey);
    }
    let origin = match fields.origin {
        Some(origin) => Some(text(origin).ok_or(HandshakeError::InvalidHeader("Origin"))?),
        None => None,
    };
    let subprotocols = offered_subprotocols(&fields.protocols)?;

    let query_len = target.query.map_or(0, str::len);
    let origin_len = origin.map_or(0, str::len);
    let mut all = String::with_capacity(
        target.path.len()
            + query_len
            + authority.host.len()
            + origin_len
            + key.len()
            + subprotocols.len(),
    );
    all.push_str(target.path);
    let path_end = all.len();
    let query_end = target.query.map(|query| {
        all.push_str(query);
        all.len()
    });
    all.extend(authority.host.chars().map(|c| c.to_ascii_lowercase()));
    let host_end = all.len();
    let origin_end = origin.map(|origin| {
        all.push_str(origin);
        all.len()
    });
    all.push_str(key);
    let key_end = all.len();
    all.push_str(&subprotocols);
    Ok(UpgradeRequest {
        text: all.into_boxed_str(),
        path_end,
        query_end,
        host_end,
        origin_end,
        key_end,
        port: authority.port,
        kept: KeptHeaders::collect(request.headers, keep),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_lists() {
        assert_eq!(has_token(b"keep-alive, Upgrade", "upgrade", "C"), Ok(true));
        assert_eq!(
            has_token(b"keep-alive,\tUPGRADE ,x", "upgrade", "C"),
            Ok(true)
        );
        assert_eq!(has_token(b"upgrade-insecure", "upgrade", "C"), Ok(false));
        assert_eq!(has_token(b"", "upgrade", "C"), Ok(false));
        assert_eq!(
            has_token(b"upgrade, \xff", "upgrade", "Connection"),
            Err(HandshakeError::InvalidHeader("Connection"))
        );
    }

    #[test]
    fn content_length_values() {
        assert_eq!(content_length(b"0"), Ok(0));
        assert_eq!(content_length(b"000"), Ok(0));
        assert_eq!(content_length(b"12"), Ok(12));
        assert_eq!(content_length(b"99999999999999999999999"), Ok(u64::MAX));
        let invalid = Err(HandshakeError::InvalidHeader("Content-Length"));
        assert_eq!(content_length(b""), invalid);
        assert_eq!(content_length(b"+1"), invalid);
        assert_eq!(content_length(b"1, 1"), invalid);
    }

    #[test]
    fn tokens() {
        assert!(is_token("chat.v2"));
        assert!(is_token("a!#$%&'*+-.^_`|~9"));
        for not in ["", "a b", "a,b", "a/b", "a\"b", "é", "a;b", "(a)"] {
            assert!(!is_token(not), "{not}");
        }
    }

    #[test]
    fn offered_subprotocols_join_every_header_and_skip_empty_elements() {
        assert_eq!(offered_subprotocols(&[]), Ok(String::new()));
        assert_eq!(
            offered_subprotocols(&[b"a, b", b" ,c,\t", b""]),
            Ok("a,b,c".to_owned())
        );
        let invalid = Err(HandshakeError::InvalidHeader("Sec-WebSocket-Protocol"));
        assert_eq!(offered_subprotocols(&[b"a, b c"]), invalid);
        assert_eq!(offered_subprotocols(&[b"a", b"\xff"]), invalid);
    }

    #[test]
    fn keys() {
        assert!(is_valid_key("dGhlIHNhbXBsZSBub25jZQ=="));
        assert!(!is_valid_key("dGhlIHNhbXBsZSBub25jZQ"));
        assert!(!is_valid_key("dGhlIHNhbXBsZSBub25jZQ=")); // 23 chars
        assert!(!is_valid_key("dGhlIHNhbXBsZSBub25jZSE=")); // 17 bytes
        assert!(!is_valid_key("dGhlIHNhbXBsZSBub25jZQ=A"));
        assert!(!is_valid_key("dGhlIHNhbXBsZSBub25j*Q=="));
        assert!(!is_valid_key("dGhlIHNhbXBsZSBub25jZR==")); // non-canonical bits
        assert!(!is_valid_key("YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXo="));
    }
}
