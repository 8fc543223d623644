//! One case's connection to the server: sending frames (whole or in
//! chunks), receiving the server's events under the case's deadline, and the
//! checks that turn what came back into a verdict.

use std::fmt;
use std::io::{ErrorKind, Read, Write};
use std::time::{Duration, Instant};

use crate::frame::{Frame, preview};
use crate::handshake;
use crate::reader::{Event, FrameReader};
use crate::stream::Stream;
use crate::target::Target;

/// Why a case failed: what was expected, what happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure(pub String);

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Failure {}

/// The result of one step of a case: `Err` ends the case as FAILED.
pub type Check = Result<(), Failure>;

fn fail<T>(text: impl Into<String>) -> Result<T, Failure> {
    Err(Failure(text.into()))
}

/// What a case expects next from the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expected {
    /// A data message with exactly this payload (text when `text`).
    Message {
        /// Text (true) or binary.
        text: bool,
        /// The exact payload.
        payload: Vec<u8>,
    },
    /// A pong with exactly this payload.
    Pong(Vec<u8>),
}

impl Expected {
    /// The echo of a text message.
    pub fn text(payload: impl Into<Vec<u8>>) -> Self {
        Self::Message {
            text: true,
            payload: payload.into(),
        }
    }

    /// The echo of a binary message.
    pub fn binary(payload: impl Into<Vec<u8>>) -> Self {
        Self::Message {
            text: false,
            payload: payload.into(),
        }
    }

    fn matches(&self, event: &Event) -> bool {
        match (self, event) {
            (
                Expected::Message { text, payload },
                Event::Message {
                    text: got_text,
                    payload: got,
                },
            ) => text == got_text && payload == got,
            (Expected::Pong(payload), Event::Pong(got)) => payload == got,
            _ => false,
        }
    }

    fn describe(&self) -> String {
        match self {
            Expected::Message { text, payload } => format!(
                "the {} message of {} bytes echoed",
                if *text { "text" } else { "binary" },
                payload.len()
            ),
            Expected::Pong(payload) => {
                format!("a pong of {} bytes {}", payload.len(), preview(payload, 16))
            }
        }
    }

    /// Why `event` is not this expectation, beyond its kind.
    fn difference(&self, event: &Event) -> String {
        let (Expected::Message { payload, .. } | Expected::Pong(payload)) = self;
        let got = match event {
            Event::Message { payload, .. } | Event::Pong(payload) => payload,
            _ => return String::new(),
        };
        if got.len() != payload.len() {
            return format!(" ({} bytes instead of {})", got.len(), payload.len());
        }
        match payload.iter().zip(got.iter()).position(|(a, b)| a != b) {
            Some(i) => format!(
                " (first difference at byte {i}: {:#04x} instead of {:#04x})",
                got[i], payload[i]
            ),
            None => String::new(),
        }
    }
}

/// What arrived from the server, or why nothing did.
enum Incoming {
    Event(Event),
    /// The server closed the TCP connection (EOF or reset).
    Closed(String),
    Timeout,
    Violation(String),
}

/// One connection to the server (plain TCP or TLS), with the case's
/// deadline, its transcript and its NON-STRICT observations.
pub struct Session {
    stream: Stream,
    reader: FrameReader,
    deadline: Instant,
    timeout: Duration,
    fail_fast_window: Duration,
    rng: u64,
    transcript: Vec<String>,
    notes: Vec<String>,
    /// Set once the server's end of the TCP connection is gone.
    closed: Option<String>,
    /// Set once a write failed: nothing more is sent, but what the server
    /// sent before is still read and judged.
    write_broken: bool,
    /// The read buffer, kept between reads.
    buf: Vec<u8>,
    /// We sent a close frame (pings are no longer answered).
    sent_close: bool,
}

impl Session {
    /// Connects (for `wss://`, with the TLS handshake) and performs the
    /// opening handshake, all within `timeout`. `seed` makes the masking
    /// keys (and so the bytes sent) reproducible.
    pub fn connect(
        target: &Target,
        timeout: Duration,
        fail_fast_window: Duration,
        seed: u64,
    ) -> Result<Self, Failure> {
        let deadline = Instant::now() + timeout;
        let mut stream = Stream::connect(target, timeout).or_else(|e| fail(e.to_string()))?;
        let mut rng = seed | 1;
        let mut nonce = [0u8; 16];
        for chunk in nonce.chunks_mut(8) {
            chunk.copy_from_slice(&next_random(&mut rng).to_le_bytes());
        }
        let rest = handshake::perform(&mut stream, target, nonce)
            .or_else(|e| fail(format!("opening handshake: {e}")))?;
        let mut reader = FrameReader::default();
        reader.push(&rest);
        Ok(Self {
            stream,
            reader,
            deadline,
            timeout,
            fail_fast_window,
            rng,
            transcript: vec![format!("handshake with {target} done")],
            notes: Vec::new(),
            closed: None,
            write_broken: false,
            buf: vec![0; 256 * 1024],
            sent_close: false,
        })
    }

    /// What happened so far, one line per frame sent or event received.
    pub fn transcript(&self) -> &[String] {
        &self.transcript
    }

    /// The NON-STRICT observations so far.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// Records behaviour the RFC allows but does not prefer.
    pub fn note(&mut self, text: impl Into<String>) {
        let text = text.into();
        self.transcript.push(format!("NON-STRICT: {text}"));
        self.notes.push(text);
    }

    fn next_key(&mut self) -> [u8; 4] {
        (next_random(&mut self.rng) as u32).to_le_bytes()
    }

    fn encode(&mut self, frames: &[Frame]) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(frames.iter().map(|f| f.payload.len() + 14).sum());
        for frame in frames {
            let start = bytes.len();
            let key = self.next_key();
            frame.encode_into(&mut bytes, key);
            if frame.opcode == crate::frame::opcode::CLOSE {
                self.sent_close = true;
            }
            self.transcript.push(format!(
                "→ {} | {}",
                frame.describe(),
                preview(&bytes[start..], 20)
            ));
        }
        bytes
    }

    /// Sends the frames in one write.
    pub fn send(&mut self, frames: &[Frame]) -> Check {
        let bytes = self.encode(frames);
        self.write(&bytes)
    }

    /// Sends the frames' bytes in writes of at most `chunk` bytes, waiting
    /// `pause` between writes (TCP_NODELAY is on, so small writes leave as
    /// small segments).
    pub fn send_chunked(&mut self, frames: &[Frame], chunk: usize, pause: Duration) -> Check {
        let bytes = self.encode(frames);
        let chunk = chunk.max(1);
        self.transcript.push(format!(
            "  (sent as {} writes of at most {chunk} bytes)",
            bytes.len().div_ceil(chunk)
        ));
        for (i, piece) in bytes.chunks(chunk).enumerate() {
            if i > 0 && !pause.is_zero() {
                std::thread::sleep(pause);
            }
            self.write(piece)?;
            if self.write_broken {
                break;
            }
        }
        Ok(())
    }

    /// Encodes frames (logging them) without sending, for cases that send
    /// their bytes in planned pieces with [`Session::send_bytes`].
    pub fn encode_frames(&mut self, frames: &[Frame]) -> Vec<u8> {
        self.encode(frames)
    }

    /// Sends bytes from [`Session::encode_frames`] in one write.
    pub fn send_bytes(&mut self, bytes: &[u8]) -> Check {
        self.transcript.push(format!(
            "  (write of {} bytes: {})",
            bytes.len(),
            preview(bytes, 12)
        ));
        self.write(bytes)
    }

    /// Waits between writes (bounded by the case's deadline).
    pub fn pause(&mut self, duration: Duration) {
        let left = self
            .deadline
            .saturating_duration_since(Instant::now())
            .min(duration);
        std::thread::sleep(left);
    }

    /// Writes raw bytes. A failed write (the server closed) is recorded, not
    /// a failure: what the server sent before is judged by the next check.
    fn write(&mut self, bytes: &[u8]) -> Check {
        if self.write_broken {
            return Ok(());
        }
        let Some(left) = self.deadline.checked_duration_since(Instant::now()) else {
            return fail(format!("the case did not finish within {:?}", self.timeout));
        };
        let _ = self
            .stream
            .set_write_timeout(Some(left.max(Duration::from_millis(1))));
        if let Err(e) = self.stream.write_all(bytes) {
            if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) {
                return fail(format!(
                    "the server stopped reading: a write did not complete within {:?}",
                    self.timeout
                ));
            }
            self.transcript.push(format!("→ write failed: {e}"));
            self.write_broken = true;
        }
        Ok(())
    }

    /// Waits for the next event until `until`, answering server pings.
    fn receive(&mut self, until: Instant) -> Incoming {
        let mut buf = std::mem::take(&mut self.buf);
        let incoming = self.receive_into(&mut buf, until);
        self.buf = buf;
        incoming
    }

    fn receive_into(&mut self, buf: &mut [u8], until: Instant) -> Incoming {
        loop {
            match self.reader.next_event() {
                Err(violation) => {
                    self.transcript.push(format!("← VIOLATION: {violation}"));
                    return Incoming::Violation(violation.0);
                }
                Ok(Some(Event::Ping(payload))) => {
                    self.transcript
                        .push(format!("← ping {}", preview(&payload, 16)));
                    if !self.sent_close {
                        let pong = Frame::pong(payload);
                        let bytes = self.encode(&[pong]);
                        if let Err(failure) = self.write(&bytes) {
                            return Incoming::Violation(failure.0);
                        }
                    }
                    continue;
                }
                Ok(Some(event)) => {
                    self.transcript.push(format!("← {}", event.describe()));
                    return Incoming::Event(event);
                }
                Ok(None) => {}
            }
            if let Some(how) = &self.closed {
                return Incoming::Closed(how.clone());
            }
            let Some(left) = until.checked_duration_since(Instant::now()) else {
                return Incoming::Timeout;
            };
            let _ = self
                .stream
                .set_read_timeout(Some(left.max(Duration::from_millis(1))));
            match self.stream.read(buf) {
                Ok(0) => {
                    let how = if self.reader.has_partial_frame() {
                        "the server closed the TCP connection in the middle of a frame"
                    } else {
                        "the server closed the TCP connection"
                    };
                    self.transcript.push(format!("← {how}"));
                    self.closed = Some(how.to_owned());
                }
                Ok(n) => self.reader.push(&buf[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                    ) => {}
                // TLS only: TCP ended without close_notify. Still a close,
                // as for plain TCP; the transcript says how.
                Err(e) if e.kind() == ErrorKind::UnexpectedEof && self.stream.is_tls() => {
                    let how = if self.reader.has_partial_frame() {
                        "the server closed the TCP connection in the middle of a frame \
                         (without TLS close_notify)"
                    } else {
                        "the server closed the TCP connection (without TLS close_notify)"
                    };
                    self.transcript.push(format!("← {how}"));
                    self.closed = Some(how.to_owned());
                }
                // TLS only: the server's records broke the TLS protocol.
                Err(e) if e.kind() == ErrorKind::InvalidData && self.stream.is_tls() => {
                    let violation = format!("TLS error: {e}");
                    self.transcript.push(format!("← VIOLATION: {violation}"));
                    return Incoming::Violation(violation);
                }
                Err(e) => {
                    let how = format!("the TCP connection was reset ({e})");
                    self.transcript.push(format!("← {how}"));
                    self.closed = Some(how);
                }
            }
        }
    }

    fn timeout_text(&self) -> String {
        format!("nothing more arrived within the case's {:?}", self.timeout)
    }

    /// Expects these events next, in order.
    pub fn expect(&mut self, expected: &[Expected]) -> Check {
        for item in expected {
            match self.receive(self.deadline) {
                Incoming::Event(event) if item.matches(&event) => {}
                Incoming::Event(event) => {
                    let difference = item.difference(&event);
                    return fail(format!(
                        "expected {}, got {}{difference}",
                        item.describe(),
                        event.describe()
                    ));
                }
                other => return self.missing(&item.describe(), other),
            }
        }
        Ok(())
    }

    /// Expects these events next, in any order.
    pub fn expect_unordered(&mut self, expected: &[Expected]) -> Check {
        let mut left: Vec<&Expected> = expected.iter().collect();
        while !left.is_empty() {
            match self.receive(self.deadline) {
                Incoming::Event(event) => match left.iter().position(|e| e.matches(&event)) {
                    Some(i) => {
                        left.remove(i);
                    }
                    None => {
                        return fail(format!(
                            "expected one of [{}], got {}",
                            describe_all(&left),
                            event.describe()
                        ));
                    }
                },
                other => return self.missing(&describe_all(&left), other),
            }
        }
        Ok(())
    }

    /// Expects one echoed message.
    pub fn expect_message(&mut self, text: bool, payload: &[u8]) -> Check {
        self.expect(&[Expected::Message {
            text,
            payload: payload.to_vec(),
        }])
    }

    /// Expects one pong.
    pub fn expect_pong(&mut self, payload: &[u8]) -> Check {
        self.expect(&[Expected::Pong(payload.to_vec())])
    }

    /// Expects pongs for pings sent in a row: all of them in order is OK;
    /// a subsequence ending with the last ping's pong is NON-STRICT
    /// (RFC 6455 §5.5.3 lets an endpoint answer only the most recent ping).
    pub fn expect_pongs_for_burst(&mut self, payloads: &[Vec<u8>]) -> Check {
        let Some(last) = payloads.last() else {
            return Ok(());
        };
        let mut next = 0;
        let mut answered = 0;
        loop {
            match self.receive(self.deadline) {
                Incoming::Event(Event::Pong(got)) => {
                    let Some(offset) = payloads[next..].iter().position(|p| *p == got) else {
                        return fail(format!(
                            "got a pong {} that answers none of the pings still unanswered, in order",
                            preview(&got, 16)
                        ));
                    };
                    next += offset + 1;
                    answered += 1;
                    if got == *last && next == payloads.len() {
                        break;
                    }
                }
                Incoming::Event(event) => {
                    return fail(format!(
                        "expected pongs for {} pings, got {}",
                        payloads.len(),
                        event.describe()
                    ));
                }
                other => return self.missing("the pong of the last ping", other),
            }
        }
        if answered < payloads.len() {
            self.note(format!(
                "answered only {answered} of {} pings sent in a row (allowed for pings not yet answered)",
                payloads.len()
            ));
        }
        Ok(())
    }

    fn missing(&mut self, expected: &str, incoming: Incoming) -> Check {
        match incoming {
            Incoming::Event(event) => {
                fail(format!("expected {expected}, got {}", event.describe()))
            }
            Incoming::Closed(how) => fail(format!("expected {expected}, but {how}")),
            Incoming::Timeout => fail(format!("expected {expected}, but {}", self.timeout_text())),
            Incoming::Violation(violation) => fail(violation),
        }
    }

    /// Expects the server to fail the connection with one of `codes`: a
    /// close frame with such a code then a TCP close is OK; a TCP close
    /// without a close frame is NON-STRICT (RFC 6455 §7.1.7: the close frame
    /// is a SHOULD); a message, another code or silence FAILS.
    pub fn expect_fail(&mut self, codes: &[u16]) -> Check {
        self.expect_fail_with(codes, &[])
    }

    /// Like [`Session::expect_fail`], but the `lenient` codes are NON-STRICT
    /// instead of FAILED (a defensible but less precise code).
    pub fn expect_fail_with(&mut self, codes: &[u16], lenient: &[u16]) -> Check {
        let incoming = self.receive(self.deadline);
        self.judge_fail(incoming, codes, lenient)
    }

    /// For a violation the server can see before the message ends: waits
    /// the fail-fast window for the connection to be failed. `Ok(true)`: it
    /// was (and judged like [`Session::expect_fail`]); `Ok(false)`: nothing
    /// came yet, the case goes on sending.
    pub fn expect_fail_fast(&mut self, codes: &[u16]) -> Result<bool, Failure> {
        let until = self.deadline.min(Instant::now() + self.fail_fast_window);
        match self.receive(until) {
            Incoming::Timeout => {
                self.transcript.push(format!(
                    "  (no close within the {:?} fail-fast window)",
                    self.fail_fast_window
                ));
                Ok(false)
            }
            incoming => self.judge_fail(incoming, codes, &[]).map(|()| true),
        }
    }

    fn judge_fail(&mut self, incoming: Incoming, codes: &[u16], lenient: &[u16]) -> Check {
        let wanted = format!("the connection failed with close {}", codes_text(codes));
        match incoming {
            Incoming::Event(Event::Close { code, .. }) => {
                match code {
                    Some(code) if codes.contains(&code) => {}
                    Some(code) if lenient.contains(&code) => self.note(format!(
                        "failed the connection with close {code}; {} is the precise code",
                        codes_text(codes)
                    )),
                    Some(code) => return fail(format!("expected {wanted}, got close {code}")),
                    None => self.note(format!(
                        "failed the connection with a close frame without status code; {} expected",
                        codes_text(codes)
                    )),
                }
                self.answer_close(code)
            }
            Incoming::Closed(how) => {
                self.note(format!(
                    "{how} without a close frame (RFC 6455 §7.1.7: it SHOULD send close {} first)",
                    codes_text(codes)
                ));
                Ok(())
            }
            other => self.missing(&wanted, other),
        }
    }

    /// After the server's close frame: answers it (unless we closed first)
    /// and expects the server to close TCP with nothing else sent.
    fn answer_close(&mut self, code: Option<u16>) -> Check {
        if !self.sent_close {
            let reply = match code {
                Some(code) => Frame::close(code, ""),
                None => Frame::close_raw(Vec::new()),
            };
            self.send(&[reply])?;
        }
        match self.receive(self.deadline) {
            Incoming::Closed(_) => Ok(()),
            Incoming::Event(event) => fail(format!(
                "the server sent {} after its close frame",
                event.describe()
            )),
            Incoming::Timeout => {
                self.note(
                    "the server did not close the TCP connection after the closing handshake \
                     (RFC 6455 §7.1.1: the server SHOULD close it first)",
                );
                Ok(())
            }
            Incoming::Violation(violation) => fail(violation),
        }
    }

    /// Sends close 1000 and expects it echoed, then the TCP close.
    pub fn close_normally(&mut self) -> Check {
        self.send(&[Frame::close(1000, "")])?;
        self.expect_close_echo(Some(1000))
    }

    /// After sending a close frame with `sent` (none: empty payload):
    /// expects the server's close frame, the same code (OK), another
    /// sendable code (NON-STRICT: §5.5.1 says the code is typically echoed),
    /// then the TCP close. Anything else first FAILS.
    pub fn expect_close_echo(&mut self, sent: Option<u16>) -> Check {
        let incoming = self.receive(self.deadline);
        self.judge_close_echo(incoming, sent)
    }

    fn judge_close_echo(&mut self, incoming: Incoming, sent: Option<u16>) -> Check {
        match incoming {
            Incoming::Event(Event::Close { code, .. }) => {
                let same = code == sent || (sent.is_none() && code == Some(1000));
                if !same {
                    self.note(format!(
                        "answered close {} with close {} (RFC 6455 §5.5.1: typically the same code)",
                        code_text(sent),
                        code_text(code)
                    ));
                }
                self.answer_close(code)
            }
            Incoming::Closed(how) => fail(format!(
                "{how} without answering the close frame (RFC 6455 §5.5.1: it MUST send a close frame in response)"
            )),
            other => self.missing(&format!("close {} echoed", code_text(sent)), other),
        }
    }

    /// After a valid message and a violation sent in one write: the echo
    /// should come first, then the connection must be failed with `codes`.
    /// Failing it before the echo (before the server's app answered) is
    /// NON-STRICT: RFC 6455 §7.1.7 allows it, but the client's valid
    /// message goes unanswered (Autobahn's cases 3.2, 4.1.3, 5.15).
    pub fn expect_fail_after_optional(&mut self, optional: &Expected, codes: &[u16]) -> Check {
        match self.receive(self.deadline) {
            Incoming::Event(event) if optional.matches(&event) => self.expect_fail(codes),
            incoming => {
                self.note("failed the connection without answering the valid message before the violation");
                self.judge_fail(incoming, codes, &[])
            }
        }
    }

    /// For a case where the RFC allows two reactions: the `expected` events
    /// then a normal close, or failing the connection with `codes`.
    pub fn expect_or_fail(&mut self, expected: &[Expected], codes: &[u16]) -> Check {
        let Some(first) = expected.first() else {
            return self.close_normally();
        };
        match self.receive(self.deadline) {
            Incoming::Event(event) if first.matches(&event) => {
                self.expect(&expected[1..])?;
                self.close_normally()
            }
            incoming @ (Incoming::Event(Event::Close { .. }) | Incoming::Closed(_)) => {
                self.judge_fail(incoming, codes, &[])
            }
            Incoming::Event(event) => fail(format!(
                "expected {} or the connection failed with close {}, got {}{}",
                first.describe(),
                codes_text(codes),
                event.describe(),
                first.difference(&event)
            )),
            other => self.missing(
                &format!(
                    "{} or the connection failed with close {}",
                    first.describe(),
                    codes_text(codes)
                ),
                other,
            ),
        }
    }

    /// After sending a close frame with `sent`: its echo (as in
    /// [`Session::expect_close_echo`]) or failing with `codes` are both OK.
    pub fn expect_close_echo_or_fail(&mut self, sent: u16, codes: &[u16]) -> Check {
        match self.receive(self.deadline) {
            Incoming::Event(Event::Close {
                code: Some(code), ..
            }) if codes.contains(&code) => self.answer_close(Some(code)),
            incoming => self.judge_close_echo(incoming, Some(sent)),
        }
    }
}

fn describe_all(items: &[&Expected]) -> String {
    items
        .iter()
        .map(|e| e.describe())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `1002` or `1002/1007`.
pub fn codes_text(codes: &[u16]) -> String {
    codes
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join("/")
}

fn code_text(code: Option<u16>) -> String {
    code.map_or_else(|| "(no code)".to_owned(), |c| c.to_string())
}

/// xorshift64*: reproducible masking keys without a dependency.
fn next_random(state: &mut u64) -> u64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_f491_4f6c_dd1d)
}
