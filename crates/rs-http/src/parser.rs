//! Incremental parsing of the request head: bytes in, a validated
//! [`UpgradeRequest`] (or the error to answer with) out.

use crate::error::HandshakeError;
use crate::request::{UpgradeRequest, validate};

/// Default limit on the request head: request line, headers and the blank
/// line that ends them.
pub const DEFAULT_MAX_HEAD_LEN: usize = 8 * 1024;

/// Most header lines a request may have (browsers send about 15).
pub const MAX_HEADERS: usize = 64;

/// What a [`RequestParser::push`] achieved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// The head is not complete yet: push more bytes.
    Incomplete,
    /// The head is complete and valid.
    Complete {
        /// The validated request.
        request: UpgradeRequest,
        /// How many bytes of the input just pushed belonged to the request.
        /// `input[consumed..]` arrived after it (a pipelined first frame) and
        /// belongs to the WebSocket frame decoder.
        consumed: usize,
    },
}

/// An incremental, sans-IO parser for the WebSocket upgrade request.
///
/// Push bytes as they arrive, in chunks of any size: one byte at a time
/// gives exactly the same outcome as one buffer. The parser answers as soon
/// as the outcome is known: a complete valid request, or a
/// [`HandshakeError`]. Syntax errors are found when the line containing
/// them ends, not only at the end of the head, and a first byte that cannot
/// start a request (e.g. a TLS handshake sent to a plain-text port) is
/// refused at once.
///
/// Memory: when the whole head arrives in one push (the usual case) it is
/// parsed straight from the caller's slice, without copying. Only a partial
/// head is buffered, never more than the limit, and the buffer is freed as
/// soon as an outcome is known. After an outcome the parser is back in its
/// initial state and would parse a new request.
///
/// The head (request line, headers and the blank line that ends them, plus
/// any empty lines before the request line) may be at most
/// [`max_head_len`](Self::max_head_len) bytes ([`DEFAULT_MAX_HEAD_LEN`]
/// unless configured); a longer one is refused with
/// [`HandshakeError::TooLarge`] (431), or, when the limit cuts its request
/// line, [`HandshakeError::UriTooLong`] (414) for a request target that
/// does not end within it and [`HandshakeError::MethodNotImplemented`]
/// (501) for a method that does not.
///
/// ```
/// use rs_http::{Progress, RequestParser};
///
/// let mut parser = RequestParser::new();
/// let head = b"GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n\
///     Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
///     Sec-WebSocket-Version: 13\r\n\r\n";
/// let (first, rest) = head.split_at(10);
/// assert_eq!(parser.push(first), Ok(Progress::Incomplete));
/// match parser.push(rest) {
///     Ok(Progress::Complete { request, consumed }) => {
///         assert_eq!(request.path(), "/chat");
///         assert_eq!(consumed, rest.len());
///     }
///     other => panic!("unexpected {other:?}"),
/// }
/// ```
#[derive(Debug, Clone)]
pub struct RequestParser {
    /// The partial head; empty (and unallocated) unless a head is split
    /// across pushes.
    buffer: Vec<u8>,
    max_head_len: usize,
    /// Whether a byte other than CR/LF has been seen, i.e. the request line
    /// has started.
    started: bool,
    /// Whether the request the last push refused is a HEAD request.
    refused_head: bool,
}

impl Default for RequestParser {
    fn default() -> Self {
        Self::new()
    }
}

impl RequestParser {
    /// A parser with the [`DEFAULT_MAX_HEAD_LEN`] limit.
    pub fn new() -> Self {
        Self::with_max_head_len(DEFAULT_MAX_HEAD_LEN)
    }

    /// A parser refusing heads longer than `max_head_len` bytes (431, or
    /// 414 or 501; see [`RequestParser`]).
    pub fn with_max_head_len(max_head_len: usize) -> Self {
        Self {
            buffer: Vec::new(),
            max_head_len,
            started: false,
            refused_head: false,
        }
    }

    /// Whether the request that the last [`push`](Self::push) refused is a
    /// HEAD request, so that its answer must carry no content (RFC 9110
    /// §9.3.2; pass it to [`write_error_response`](crate::write_error_response)).
    /// Known from its first bytes, whatever made it fail: a HEAD request
    /// with a malformed header or too large a head is still one.
    ///
    /// ```
    /// use rs_http::{HandshakeError, RequestParser};
    /// let mut parser = RequestParser::new();
    /// let refused = parser.push(b"HEAD / HTTP/1.1\r\nHost: a\r\nNot a header\r\n\r\n");
    /// assert_eq!(refused, Err(HandshakeError::MalformedHeader));
    /// assert!(parser.refused_head());
    /// ```
    pub fn refused_head(&self) -> bool {
        self.refused_head
    }

    /// The configured head size limit in bytes.
    pub fn max_head_len(&self) -> usize {
        self.max_head_len
    }

    /// How many bytes of a partial head are buffered.
    pub fn buffered_len(&self) -> usize {
        self.buffer.len()
    }

    /// Feeds the next bytes received from the client.
    ///
    /// Returns [`Progress::Incomplete`] until the head is complete, then
    /// [`Progress::Complete`] with the request and how many bytes of `input`
    /// it used. On `Err`, answer with
    /// [`write_error_response`](crate::write_error_response) and close.
    ///
    /// # Errors
    ///
    /// Every [`HandshakeError`] of status 400, 405, 414, 426, 431, 501 or
    /// 505; see the variants for the rules.
    pub fn push(&mut self, input: &[u8]) -> Result<Progress, HandshakeError> {
        self.push_keeping(input, &[] as &[&str])
    }

    /// [`push`](Self::push), keeping in the request the headers named in
    /// `keep` (ASCII case-insensitive), for [`UpgradeRequest::header`]; the
    /// others are not kept once the request is checked.
    ///
    /// ```
    /// use rs_http::{Progress, RequestParser};
    /// let head = b"GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\
    ///     Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
    ///     Sec-WebSocket-Version: 13\r\nCookie: session=42\r\nAccept-Language: fr\r\n\r\n";
    /// let Ok(Progress::Complete { request, .. }) =
    ///     RequestParser::new().push_keeping(head, &["cookie"])
    /// else {
    ///     panic!("a valid request")
    /// };
    /// assert_eq!(request.header("Cookie").as_deref(), Some(&b"session=42"[..]));
    /// assert_eq!(request.header("Accept-Language"), None);
    /// ```
    ///
    /// # Errors
    ///
    /// As [`push`](Self::push).
    pub fn push_keeping<S: AsRef<str>>(
        &mut self,
        input: &[u8],
        keep: &[S],
    ) -> Result<Progress, HandshakeError> {
        self.refused_head = false;
        let held = self.buffer.len();
        // Bytes past the limit are never looked at: the head must end before.
        let room = self.max_head_len.saturating_sub(held);
        let over_limit = input.len() > room;
        let input_in_limit = &input[..input.len().min(room)];
        let parse_point = self.last_parse_point(input_in_limit);
        let parse_len = if over_limit {
            input_in_limit.len()
        } else if let Some(point) = parse_point {
            point
        } else {
            self.buffer_more(input);
            return Ok(Progress::Incomplete);
        };
        let outcome = if held == 0 {
            parse_head(&input_in_limit[..parse_len], keep)
        } else {
            self.buffer_more(input_in_limit);
            parse_head(&self.buffer[..held + parse_len], keep)
        };
        match outcome {
            Ok(None) if !over_limit => {
                if held == 0 {
                    self.buffer_more(input_in_limit);
                }
                Ok(Progress::Incomplete)
            }
            Ok(None) => {
                // Over the limit, the whole head up to it was parsed.
                let error = self.too_large(if held == 0 {
                    input_in_limit
                } else {
                    &self.buffer
                });
                self.refuse(held, input_in_limit);
                Err(error)
            }
            Ok(Some((request, head_len))) => {
                self.reset();
                Ok(Progress::Complete {
                    request,
                    // A buffered part never holds a complete head (it would
                    // have been parsed), so `head_len > held`.
                    consumed: head_len.saturating_sub(held),
                })
            }
            Err(error) => {
                self.refuse(held, input_in_limit);
                Err(error)
            }
        }
    }

    /// Why `head`, the bytes up to the size limit and valid so far, is
    /// refused: 501 if the method has not ended (no method is that long),
    /// 414 if the request target has not (RFC 9112 §3), 431 otherwise.
    fn too_large(&self, head: &[u8]) -> HandshakeError {
        let line = &head[leading_empty_lines(head)..];
        if line.is_empty() || line.contains(&b'\n') {
            return HandshakeError::TooLarge {
                limit: self.max_head_len,
            };
        }
        match line.iter().filter(|&&b| b == b' ').count() {
            0 => HandshakeError::MethodNotImplemented,
            1 => HandshakeError::UriTooLong {
                limit: self.max_head_len,
            },
            _ => HandshakeError::TooLarge {
                limit: self.max_head_len,
            },
        }
    }

    /// Forgets the refused request, noting whether it was HEAD; `input` is
    /// this push's part of it, after `held` buffered bytes.
    fn refuse(&mut self, held: usize, input: &[u8]) {
        let request = if held == 0 { input } else { &self.buffer[..] };
        self.refused_head = request[leading_empty_lines(request)..].starts_with(b"HEAD ");
        self.reset();
    }

    /// Where in these new bytes to parse up to, if anywhere: after the
    /// first byte of the request line (so garbage is refused at once),
    /// after the last LF (a line ended; maybe the head), and after the byte
    /// that follows the last bare CR (a CR must come before an LF, RFC 9112
    /// §2.2: a bare CR ends no line, and is refused at once rather than
    /// when the size limit or the handshake's time runs out).
    ///
    /// Parsing only at these points keeps the outcome a function of the
    /// bytes received, whatever the chunking: bytes after the last LF are
    /// looked at once their line ends (or the limit is reached). It also
    /// keeps a client that sends one byte at a time from making the parser
    /// re-parse the head for every byte.
    fn last_parse_point(&mut self, new: &[u8]) -> Option<usize> {
        // After the last bare CR's next byte. (Every byte of an unfinished
        // head is buffered: the last one buffered came before `new`.)
        let after_cr =
            new.windows(2)
                .rposition(|w| w[0] == b'\r' && w[1] != b'\n')
                .map(|cr| cr + 2)
                .or((self.buffer.last() == Some(&b'\r')
                    && new.first().is_some_and(|&b| b != b'\n'))
                .then_some(1));
        let mut first_byte_point = None;
        let mut lines_from = 0;
        if !self.started {
            // Empty lines before the request line are allowed (RFC 9112
            // §2.2) and are part of the head.
            let Some(first) = new.iter().position(|&b| b != b'\r' && b != b'\n') else {
                return after_cr;
            };
            self.started = true;
            first_byte_point = Some(first + 1);
            lines_from = first + 1;
        }
        let line_point = new[lines_from..]
            .iter()
            .rposition(|&b| b == b'\n')
            .map(|lf| lines_from + lf + 1)
            .or(first_byte_point);
        line_point.max(after_cr)
    }

    /// Appends to the partial head, growing the buffer as a `Vec` would but
    /// never beyond the limit (the caller keeps `bytes` within it).
    fn buffer_more(&mut self, bytes: &[u8]) {
        let needed = self.buffer.len() + bytes.len();
        if needed > self.buffer.capacity() {
            let target = needed
                .max(self.buffer.capacity().saturating_mul(2))
                .min(self.max_head_len)
                .max(needed);
            self.buffer.reserve_exact(target - self.buffer.len());
        }
        self.buffer.extend_from_slice(bytes);
    }

    fn reset(&mut self) {
        self.buffer = Vec::new();
        self.started = false;
    }
}

/// Parses what has been received of the head: `Ok(None)` while incomplete.
fn parse_head<S: AsRef<str>>(
    head: &[u8],
    keep: &[S],
) -> Result<Option<(UpgradeRequest, usize)>, HandshakeError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(head) {
        Ok(httparse::Status::Complete(len)) => {
            validate(&request, keep).map(|valid| Some((valid, len)))
        }
        Ok(httparse::Status::Partial) => Ok(None),
        Err(httparse::Error::Version) => {
            // A bare CR in the request line (parsed at the byte after it,
            // whether or not the line has ended since).
            let end = head.iter().position(|&b| b == b'\n').unwrap_or(head.len());
            if head[..end]
                .windows(2)
                .any(|w| w[0] == b'\r' && w[1] != b'\n')
            {
                return Err(HandshakeError::MalformedLineEnding);
            }
            let Some(line) = request_line(head) else {
                // Cut off by the size limit before its line ended: judged
                // like any request line cut there (431), not by a version
                // that may not be whole.
                return Ok(None);
            };
            match http_version(line) {
                // A later minor version of HTTP/1 is read as HTTP/1.1 (RFC
                // 9110 §2.5); httparse knows only 1.0 and 1.1.
                Some((b'1', minor_at)) if head[minor_at] >= b'2' => {
                    let mut as_1_1 = head.to_vec();
                    as_1_1[minor_at] = b'1';
                    parse_head(&as_1_1, keep)
                }
                Some((major, _)) if major >= b'2' => Err(HandshakeError::HttpVersionNotSupported),
                _ => Err(HandshakeError::UnsupportedHttpVersion),
            }
        }
        // httparse reads a request line that does not end right after its
        // version (`HTTP/1.10`, a space after `HTTP/1.1`) as a line ending
        // gone wrong: it is the line that is malformed (unless a bare CR
        // is what broke it).
        Err(httparse::Error::NewLine)
            if request_line(head)
                .is_some_and(|line| http_version(line).is_none() && !line.contains(&b'\r')) =>
        {
            Err(HandshakeError::MalformedRequestLine)
        }
        Err(error) => Err(map_syntax_error(error)),
    }
}

/// How many bytes of `head` the empty lines before its request line take
/// (allowed, RFC 9112 §2.2): all of it if the request line has not started.
fn leading_empty_lines(head: &[u8]) -> usize {
    head.iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(head.len())
}

/// The head up to the end of its request line (the empty lines before it
/// included, its CR and LF not), or `None` if that line has not ended.
fn request_line(head: &[u8]) -> Option<&[u8]> {
    let start = leading_empty_lines(head);
    if start == head.len() {
        return None;
    }
    let end = start + head[start..].iter().position(|&b| b == b'\n')?;
    Some(head[..end].strip_suffix(b"\r").unwrap_or(&head[..end]))
}

/// The major version digit of a request line (from [`request_line`]) that
/// ends in ` HTTP/` DIGIT `.` DIGIT, and the index of its minor digit.
fn http_version(line: &[u8]) -> Option<(u8, usize)> {
    match line.get(line.len().checked_sub(9)?..)? {
        [b' ', b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            Some((*major, line.len() - 1))
        }
        _ => None,
    }
}

fn map_syntax_error(error: httparse::Error) -> HandshakeError {
    match error {
        httparse::Error::HeaderName | httparse::Error::HeaderValue => {
            HandshakeError::MalformedHeader
        }
        httparse::Error::NewLine => HandshakeError::MalformedLineEnding,
        httparse::Error::TooManyHeaders => HandshakeError::TooManyHeaders,
        // `Token` (method or target) and `Status` (responses only);
        // `Version` is told apart by `parse_head`.
        _ => HandshakeError::MalformedRequestLine,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &[u8] = b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\
        Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
        Sec-WebSocket-Version: 13\r\n\r\n";

    #[test]
    fn whole_head_is_parsed_without_buffering() {
        let mut parser = RequestParser::new();
        let progress = parser.push(HEAD);
        assert!(
            matches!(progress, Ok(Progress::Complete { consumed, .. }) if consumed == HEAD.len())
        );
        assert_eq!(parser.buffer.capacity(), 0);
    }

    #[test]
    fn partial_head_is_buffered_then_freed() {
        let mut parser = RequestParser::new();
        assert_eq!(parser.push(&HEAD[..20]), Ok(Progress::Incomplete));
        assert_eq!(parser.buffered_len(), 20);
        let progress = parser.push(&HEAD[20..]);
        assert!(
            matches!(progress, Ok(Progress::Complete { consumed, .. }) if consumed == HEAD.len() - 20)
        );
        assert_eq!(parser.buffer.capacity(), 0);
    }

    #[test]
    fn buffer_is_freed_after_an_error() {
        let mut parser = RequestParser::new();
        assert_eq!(parser.push(b"GET / HTTP/1.1\r\n"), Ok(Progress::Incomplete));
        assert_eq!(
            parser.push(b"Bad Name: x\r\n"),
            Err(HandshakeError::MalformedHeader)
        );
        assert_eq!(parser.buffer.capacity(), 0);
    }

    #[test]
    fn buffer_never_exceeds_the_limit() {
        let mut parser = RequestParser::with_max_head_len(32);
        assert_eq!(parser.push(&HEAD[..31]), Ok(Progress::Incomplete));
        assert_eq!(
            parser.push(&HEAD[31..]),
            Err(HandshakeError::TooLarge { limit: 32 })
        );
        assert_eq!(parser.buffer.capacity(), 0);
    }

    #[test]
    fn buffer_capacity_stays_within_the_limit() {
        let mut parser = RequestParser::with_max_head_len(100);
        for _ in 0..99 {
            assert_eq!(parser.push(b"a"), Ok(Progress::Incomplete));
        }
        assert!(
            parser.buffer.capacity() <= 100,
            "{}",
            parser.buffer.capacity()
        );
    }

    #[test]
    fn parser_starts_over_after_an_outcome() {
        let mut parser = RequestParser::new();
        assert_eq!(
            parser.push(b"\x16\x03\x01"),
            Err(HandshakeError::MalformedRequestLine)
        );
        assert!(matches!(parser.push(HEAD), Ok(Progress::Complete { .. })));
        assert!(matches!(parser.push(HEAD), Ok(Progress::Complete { .. })));
    }

    #[test]
    fn garbage_first_byte_is_refused_at_once() {
        let mut parser = RequestParser::new();
        assert_eq!(
            parser.push(b"\x16"),
            Err(HandshakeError::MalformedRequestLine)
        );
    }

    #[test]
    fn a_line_is_checked_once_it_ends() {
        let mut parser = RequestParser::new();
        assert_eq!(parser.push(b"G"), Ok(Progress::Incomplete));
        assert_eq!(
            parser.push(b"E\x01T / HTTP/1.1\r"),
            Ok(Progress::Incomplete)
        );
        assert_eq!(
            parser.push(b"\n"),
            Err(HandshakeError::MalformedRequestLine)
        );
    }

    #[test]
    fn parse_points() {
        let mut parser = RequestParser::new();
        assert_eq!(parser.last_parse_point(b"\r\n\r\n"), None);
        assert_eq!(parser.last_parse_point(b"\r\nGE"), Some(3));
        assert_eq!(parser.last_parse_point(b"T / HTTP/1.1"), None);
        assert_eq!(parser.last_parse_point(b"\r\nA: b\r\nC"), Some(8));
        // A bare CR: after the byte that shows it is one.
        assert_eq!(parser.last_parse_point(b"A: b\rC: d"), Some(6));
        let mut parser = RequestParser::new();
        assert_eq!(parser.last_parse_point(b"\r\r"), Some(2));
    }
}
