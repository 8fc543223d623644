//! The reader of the server's frames: bytes in, messages and control frames
//! out, with every rule RFC 6455 sets for what a server sends checked on
//! the way (a server's own violations fail the case that provoked them).

use crate::frame::{opcode, opcode_name, preview};

/// The largest message the reader assembles; a server sending more is
/// broken (the runner never sends messages that large).
pub const MAX_MESSAGE: usize = 64 << 20;

/// Something complete the server sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A data message, reassembled; a text message is valid UTF-8.
    Message {
        /// Text (true) or binary.
        text: bool,
        /// The whole payload.
        payload: Vec<u8>,
    },
    /// A ping from the server.
    Ping(Vec<u8>),
    /// A pong from the server.
    Pong(Vec<u8>),
    /// A close frame: its status code (none when the payload was empty) and
    /// its reason, both already checked.
    Close {
        /// The status code.
        code: Option<u16>,
        /// The UTF-8 reason.
        reason: String,
    },
}

impl Event {
    /// A short description for transcripts and failure reports.
    pub fn describe(&self) -> String {
        match self {
            Event::Message {
                text: true,
                payload,
            } => format!(
                "text message of {} bytes: {:?}",
                payload.len(),
                String::from_utf8_lossy(&payload[..payload.len().min(40)])
            ),
            Event::Message {
                text: false,
                payload,
            } => format!(
                "binary message of {} bytes: {}",
                payload.len(),
                preview(payload, 16)
            ),
            Event::Ping(payload) => format!("ping {}", preview(payload, 16)),
            Event::Pong(payload) => {
                format!("pong of {} bytes {}", payload.len(), preview(payload, 16))
            }
            Event::Close { code: None, .. } => "close frame without status code".into(),
            Event::Close {
                code: Some(code),
                reason,
            } => format!("close {code} {reason:?}"),
        }
    }
}

/// A frame or message from the server that breaks RFC 6455.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation(pub String);

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Violation {}

/// Whether a server may put this code in a close frame: RFC 6455 §7.4.1
/// (1000-1003, 1007-1011), the IANA registry (1012-1014), libraries and
/// applications (3000-4999).
pub fn close_code_is_sendable(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// Assembles server frames from bytes fed in pieces.
///
/// ```
/// use rs_conformance::reader::{Event, FrameReader};
///
/// let mut reader = FrameReader::default();
/// reader.push(b"\x01\x03Hel"); // a first text fragment
/// assert_eq!(reader.next_event(), Ok(None));
/// reader.push(b"\x80\x02lo\x8a\x00"); // the last fragment and a pong
/// assert_eq!(
///     reader.next_event(),
///     Ok(Some(Event::Message { text: true, payload: b"Hello".to_vec() }))
/// );
/// assert_eq!(reader.next_event(), Ok(Some(Event::Pong(Vec::new()))));
/// ```
#[derive(Debug, Default)]
pub struct FrameReader {
    buf: Vec<u8>,
    pos: usize,
    /// The fragmented message in progress: text or not, payload so far.
    message: Option<(bool, Vec<u8>)>,
}

impl FrameReader {
    /// Appends bytes received from the server.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.pos > 0 && self.pos >= self.buf.len() / 2 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Whether bytes of an incomplete frame are waiting.
    pub fn has_partial_frame(&self) -> bool {
        self.pos < self.buf.len() || self.message.is_some()
    }

    /// The next complete event, `None` if more bytes are needed, or the
    /// server's violation.
    pub fn next_event(&mut self) -> Result<Option<Event>, Violation> {
        loop {
            let Some((head, payload)) = self.next_frame()? else {
                return Ok(None);
            };
            match head.opcode {
                opcode::CONTINUATION => {
                    let Some((_, assembled)) = self.message.as_mut() else {
                        return Err(Violation(
                            "the server sent a continuation frame without a message in progress"
                                .into(),
                        ));
                    };
                    if assembled.len() + payload.len() > MAX_MESSAGE {
                        return Err(Violation(format!(
                            "the server sent a message larger than {MAX_MESSAGE} bytes"
                        )));
                    }
                    assembled.extend_from_slice(&payload);
                    if head.fin {
                        let (text, payload) = self.message.take().unwrap_or_default();
                        return finish_message(text, payload).map(Some);
                    }
                }
                opcode::TEXT | opcode::BINARY => {
                    if self.message.is_some() {
                        return Err(Violation(format!(
                            "the server started a new {} message inside a fragmented one",
                            opcode_name(head.opcode)
                        )));
                    }
                    let text = head.opcode == opcode::TEXT;
                    if head.fin {
                        return finish_message(text, payload).map(Some);
                    }
                    self.message = Some((text, payload));
                }
                opcode::PING => return Ok(Some(Event::Ping(payload))),
                opcode::PONG => return Ok(Some(Event::Pong(payload))),
                // Only close remains: next_frame refuses reserved opcodes.
                _ => return parse_close(&payload).map(Some),
            }
        }
    }

    /// The next whole frame: its header and unmasked payload.
    fn next_frame(&mut self) -> Result<Option<(Head, Vec<u8>)>, Violation> {
        let bytes = &self.buf[self.pos..];
        let Some(head) = parse_head(bytes)? else {
            return Ok(None);
        };
        if head.payload_len > MAX_MESSAGE as u64 {
            return Err(Violation(format!(
                "the server announced a frame of {} bytes",
                head.payload_len
            )));
        }
        let end = head.header_len + head.payload_len as usize;
        if bytes.len() < end {
            return Ok(None);
        }
        let payload = bytes[head.header_len..end].to_vec();
        self.pos += end;
        Ok(Some((head, payload)))
    }
}

struct Head {
    fin: bool,
    opcode: u8,
    payload_len: u64,
    header_len: usize,
}

fn parse_head(bytes: &[u8]) -> Result<Option<Head>, Violation> {
    let [b0, b1, ..] = *bytes else {
        return Ok(None);
    };
    let fin = b0 & 0x80 != 0;
    let opcode = b0 & 0x0f;
    if b0 & 0x70 != 0 {
        return Err(Violation(format!(
            "the server set reserved bits ({:#04x}) in a frame header",
            b0 & 0x70
        )));
    }
    if !matches!(opcode, 0x0..=0x2 | 0x8..=0xa) {
        return Err(Violation(format!(
            "the server sent reserved opcode {opcode:#x}"
        )));
    }
    if b1 & 0x80 != 0 {
        return Err(Violation(
            "the server sent a masked frame (RFC 6455 §5.1: a server MUST NOT mask)".into(),
        ));
    }
    let (payload_len, header_len) = match b1 & 0x7f {
        126 => {
            let Some(ext) = bytes.get(2..4) else {
                return Ok(None);
            };
            let len = u64::from(u16::from_be_bytes([ext[0], ext[1]]));
            if len < 126 {
                return Err(non_minimal(len));
            }
            (len, 4)
        }
        127 => {
            let Some(ext) = bytes.get(2..10) else {
                return Ok(None);
            };
            let mut be = [0u8; 8];
            be.copy_from_slice(ext);
            let len = u64::from_be_bytes(be);
            if len <= u64::from(u16::MAX) {
                return Err(non_minimal(len));
            }
            (len, 10)
        }
        len => (u64::from(len), 2),
    };
    if opcode >= 0x8 && (!fin || payload_len > 125) {
        return Err(Violation(format!(
            "the server sent a {} frame with fin={} and {payload_len} payload bytes \
             (control frames are unfragmented and at most 125 bytes)",
            opcode_name(opcode),
            u8::from(fin)
        )));
    }
    Ok(Some(Head {
        fin,
        opcode,
        payload_len,
        header_len,
    }))
}

fn non_minimal(len: u64) -> Violation {
    Violation(format!(
        "the server wrote the length {len} in a longer form than needed (RFC 6455 §5.2)"
    ))
}

fn finish_message(text: bool, payload: Vec<u8>) -> Result<Event, Violation> {
    if text && std::str::from_utf8(&payload).is_err() {
        return Err(Violation(format!(
            "the server sent a text message that is not valid UTF-8 ({} bytes: {})",
            payload.len(),
            preview(&payload, 24)
        )));
    }
    Ok(Event::Message { text, payload })
}

fn parse_close(payload: &[u8]) -> Result<Event, Violation> {
    match payload {
        [] => Ok(Event::Close {
            code: None,
            reason: String::new(),
        }),
        [_] => Err(Violation(
            "the server sent a close frame with a 1-byte payload".into(),
        )),
        [hi, lo, reason @ ..] => {
            let code = u16::from_be_bytes([*hi, *lo]);
            if !close_code_is_sendable(code) {
                return Err(Violation(format!(
                    "the server sent close code {code}, which may not be sent (RFC 6455 §7.4)"
                )));
            }
            let reason = std::str::from_utf8(reason).map_err(|_| {
                Violation(format!(
                    "the server sent close {code} with a reason that is not UTF-8: {}",
                    preview(reason, 24)
                ))
            })?;
            Ok(Event::Close {
                code: Some(code),
                reason: reason.to_owned(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(bytes: &[u8]) -> Vec<Result<Option<Event>, Violation>> {
        let mut reader = FrameReader::default();
        reader.push(bytes);
        let mut out = Vec::new();
        loop {
            let next = reader.next_event();
            let stop = !matches!(next, Ok(Some(_)));
            out.push(next);
            if stop {
                return out;
            }
        }
    }

    #[test]
    fn a_frame_fed_one_byte_at_a_time_completes_once() {
        let mut wire = vec![0x82, 126, 0, 200];
        wire.extend(std::iter::repeat_n(7u8, 200));
        let mut reader = FrameReader::default();
        for (i, byte) in wire.iter().enumerate() {
            reader.push(std::slice::from_ref(byte));
            let event = reader.next_event().unwrap();
            assert_eq!(event.is_some(), i == wire.len() - 1, "byte {i}");
        }
    }

    #[test]
    fn close_frames_are_checked() {
        assert_eq!(
            events(b"\x88\x02\x03\xe8")[0],
            Ok(Some(Event::Close {
                code: Some(1000),
                reason: String::new()
            }))
        );
        assert!(events(b"\x88\x01\x03")[0].is_err());
        assert!(
            events(b"\x88\x02\x03\xed")[0].is_err(),
            "1005 is never sent"
        );
        assert!(
            events(b"\x88\x03\x03\xe8\xff")[0].is_err(),
            "reason not UTF-8"
        );
    }

    #[test]
    fn server_violations_are_reported() {
        for bad in [
            &b"\x81\x82\0\0\0\0ab"[..], // masked
            b"\xc1\x00",                // RSV1
            b"\x83\x00",                // reserved opcode
            b"\x09\x00",                // fragmented ping
            b"\x80\x00",                // continuation without start
            b"\x81\x02\xc3\x28",        // invalid UTF-8 text
            b"\x81\x7e\x00\x05hello",   // non-minimal length
            b"\x01\x01a\x01\x01b",      // new message inside a fragmented one
        ] {
            let all = events(bad);
            assert!(all.iter().any(Result::is_err), "{bad:x?}: {all:?}");
        }
    }
}
