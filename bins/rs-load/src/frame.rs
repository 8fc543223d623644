//! An incremental reader of the frames a server sends (never masked).
//!
//! Payload bytes are handed to a [`FrameSink`] as they arrive, straight from
//! the read buffer, so a message of any size is checked without being
//! buffered or copied. Only a partial header (at most 10 bytes) and a
//! control frame's payload (at most 125 bytes) are kept between reads.

use std::fmt;

use rs_proto::{DataKind, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN, Opcode};

/// A frame that breaks RFC 6455's rules for servers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// The MASK bit is set: servers must not mask (§5.1).
    Masked,
    /// An RSV bit is set without a negotiated extension (the bits as in byte 0).
    ReservedBits(u8),
    /// An opcode RFC 6455 does not define.
    UnknownOpcode(u8),
    /// A control frame longer than 125 bytes.
    ControlTooLong(u64),
    /// A control frame without FIN.
    FragmentedControl(Opcode),
    /// A continuation frame with no message in progress.
    UnexpectedContinuation,
    /// A new text or binary frame while a fragmented message is in progress.
    ExpectedContinuation,
    /// A 64-bit length with its most significant bit set.
    LengthTooLarge(u64),
    /// A close frame with a 1-byte payload.
    CloseTooShort,
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Masked => f.write_str("the server sent a masked frame"),
            Self::ReservedBits(bits) => write!(f, "reserved bits {bits:#04x} set"),
            Self::UnknownOpcode(op) => write!(f, "unknown opcode {op:#x}"),
            Self::ControlTooLong(len) => write!(f, "a {len}-byte control frame (at most 125)"),
            Self::FragmentedControl(op) => write!(f, "a fragmented {op:?} frame"),
            Self::UnexpectedContinuation => f.write_str("a continuation frame outside a message"),
            Self::ExpectedContinuation => {
                f.write_str("a new data frame inside a fragmented message")
            }
            Self::LengthTooLarge(len) => write!(f, "a frame length of {len} (MSB set)"),
            Self::CloseTooShort => f.write_str("a close frame with a 1-byte payload"),
        }
    }
}

impl std::error::Error for FrameError {}

/// A control frame from the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control<'a> {
    /// A ping, to be answered with a pong carrying `payload`.
    Ping(&'a [u8]),
    /// A pong.
    Pong(&'a [u8]),
    /// A close frame; `code` is `None` for an empty one.
    Close {
        /// The status code.
        code: Option<u16>,
        /// The reason (not checked for UTF-8 here).
        reason: &'a [u8],
    },
}

/// What a [`FrameReader`] reports to.
pub trait FrameSink {
    /// The error that stops reading; frame errors convert into it.
    type Error: From<FrameError>;

    /// Payload bytes of a data message, `offset` bytes into the message
    /// (across fragments). Called once per contiguous piece.
    fn data(&mut self, kind: DataKind, offset: u64, chunk: &[u8]) -> Result<(), Self::Error>;

    /// The message that began with `kind` ended after `len` payload bytes.
    fn message_end(&mut self, kind: DataKind, len: u64) -> Result<(), Self::Error>;

    /// A complete control frame.
    fn control(&mut self, control: Control<'_>) -> Result<(), Self::Error>;
}

/// Where the reader is in the current frame.
#[derive(Clone, Copy, Debug)]
enum Phase {
    /// Collecting header bytes into `head`.
    Header,
    /// Inside a frame's payload.
    Payload {
        opcode: Opcode,
        fin: bool,
        remaining: u64,
    },
}

/// An incremental reader of server frames (about 150 bytes of state).
///
/// ```
/// use rs_load::{Control, FrameError, FrameReader, FrameSink};
/// use rs_proto::DataKind;
///
/// #[derive(Default)]
/// struct Collect(Vec<u8>, usize);
/// impl FrameSink for Collect {
///     type Error = FrameError;
///     fn data(&mut self, _: DataKind, _: u64, chunk: &[u8]) -> Result<(), FrameError> {
///         Ok(self.0.extend_from_slice(chunk))
///     }
///     fn message_end(&mut self, _: DataKind, _: u64) -> Result<(), FrameError> {
///         Ok(self.1 += 1)
///     }
///     fn control(&mut self, _: Control<'_>) -> Result<(), FrameError> { Ok(()) }
/// }
///
/// let mut reader = FrameReader::new();
/// let mut sink = Collect::default();
/// reader.feed(b"\x01\x03Hel", &mut sink).unwrap(); // a first fragment
/// reader.feed(b"\x80\x02lo", &mut sink).unwrap(); // the last one
/// assert_eq!((&sink.0[..], sink.1), (&b"Hello"[..], 1));
/// assert_eq!(reader.feed(b"\x81\x85", &mut sink), Err(FrameError::Masked));
/// ```
#[derive(Clone, Debug)]
pub struct FrameReader {
    phase: Phase,
    head: [u8; MAX_HEADER_LEN],
    head_len: usize,
    /// The data message in progress: its kind and payload bytes so far.
    message: Option<(DataKind, u64)>,
    control: [u8; MAX_CONTROL_PAYLOAD],
    control_len: usize,
}

impl Default for FrameReader {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameReader {
    /// A reader expecting the first byte of a frame.
    pub const fn new() -> Self {
        Self {
            phase: Phase::Header,
            head: [0; MAX_HEADER_LEN],
            head_len: 0,
            message: None,
            control: [0; MAX_CONTROL_PAYLOAD],
            control_len: 0,
        }
    }

    /// Whether the reader stands between frames and messages (nothing partial).
    pub fn is_idle(&self) -> bool {
        matches!(self.phase, Phase::Header) && self.head_len == 0 && self.message.is_none()
    }

    /// Reads all of `data`, reporting to `sink`. After an error the reader's
    /// state is unspecified: drop the connection.
    pub fn feed<S: FrameSink>(&mut self, data: &[u8], sink: &mut S) -> Result<(), S::Error> {
        let mut pos = 0;
        loop {
            let (opcode, fin, remaining) = match self.phase {
                Phase::Payload {
                    opcode,
                    fin,
                    remaining,
                } => (opcode, fin, remaining),
                Phase::Header => {
                    pos += self.take_header_bytes(&data[pos..]);
                    let Some((opcode, fin, len)) = self.parse_header()? else {
                        return Ok(());
                    };
                    self.start_frame(opcode, fin, len)?;
                    (opcode, fin, len)
                }
            };
            let take = remaining.min((data.len() - pos) as u64) as usize;
            let chunk = &data[pos..pos + take];
            pos += take;
            if opcode.is_control() {
                self.control[self.control_len..self.control_len + take].copy_from_slice(chunk);
                self.control_len += take;
            } else if take > 0 {
                let (kind, offset) = self
                    .message
                    .as_mut()
                    .ok_or(FrameError::UnexpectedContinuation)?;
                sink.data(*kind, *offset, chunk)?;
                *offset += take as u64;
            }
            let remaining = remaining - take as u64;
            if remaining > 0 {
                self.phase = Phase::Payload {
                    opcode,
                    fin,
                    remaining,
                };
                return Ok(());
            }
            self.phase = Phase::Header;
            self.end_frame(opcode, fin, sink)?;
            if pos == data.len() {
                return Ok(());
            }
        }
    }

    /// How many header bytes the frame being read has: 2 until the length
    /// form is known, then 2, 4 or 10.
    fn header_len(&self) -> usize {
        if self.head_len < 2 {
            return 2;
        }
        match self.head[1] & 0x7f {
            126 => 4,
            127 => 10,
            _ => 2,
        }
    }

    /// Copies the header bytes still missing from `data`; returns how many
    /// were taken.
    fn take_header_bytes(&mut self, data: &[u8]) -> usize {
        let mut taken = 0;
        // Twice at most: the first two bytes tell whether more follow.
        while self.head_len < self.header_len() && taken < data.len() {
            let take = (self.header_len() - self.head_len).min(data.len() - taken);
            self.head[self.head_len..self.head_len + take]
                .copy_from_slice(&data[taken..taken + take]);
            self.head_len += take;
            taken += take;
        }
        taken
    }

    /// The opcode, FIN bit and payload length of the frame whose header is
    /// complete in `head`, or `None` while header bytes are missing.
    fn parse_header(&mut self) -> Result<Option<(Opcode, bool, u64)>, FrameError> {
        if self.head_len < self.header_len() {
            return Ok(None);
        }
        let (b0, b1) = (self.head[0], self.head[1]);
        let len = match b1 & 0x7f {
            126 => u64::from(u16::from_be_bytes([self.head[2], self.head[3]])),
            127 => {
                let mut be = [0u8; 8];
                be.copy_from_slice(&self.head[2..10]);
                u64::from_be_bytes(be)
            }
            short => u64::from(short),
        };
        self.head_len = 0;
        if b0 & 0x70 != 0 {
            return Err(FrameError::ReservedBits(b0 & 0x70));
        }
        let opcode = Opcode::from_u4(b0 & 0x0f).ok_or(FrameError::UnknownOpcode(b0 & 0x0f))?;
        if b1 & 0x80 != 0 {
            return Err(FrameError::Masked);
        }
        if len >> 63 != 0 {
            return Err(FrameError::LengthTooLarge(len));
        }
        Ok(Some((opcode, b0 & 0x80 != 0, len)))
    }

    /// Checks a new frame against the message in progress and enters it.
    fn start_frame(&mut self, opcode: Opcode, fin: bool, len: u64) -> Result<(), FrameError> {
        match opcode {
            Opcode::Close | Opcode::Ping | Opcode::Pong => {
                if len > MAX_CONTROL_PAYLOAD as u64 {
                    return Err(FrameError::ControlTooLong(len));
                }
                if !fin {
                    return Err(FrameError::FragmentedControl(opcode));
                }
                self.control_len = 0;
            }
            Opcode::Continuation if self.message.is_none() => {
                return Err(FrameError::UnexpectedContinuation);
            }
            Opcode::Continuation => {}
            Opcode::Text | Opcode::Binary if self.message.is_some() => {
                return Err(FrameError::ExpectedContinuation);
            }
            Opcode::Text => self.message = Some((DataKind::Text, 0)),
            Opcode::Binary => self.message = Some((DataKind::Binary, 0)),
        }
        self.phase = Phase::Payload {
            opcode,
            fin,
            remaining: len,
        };
        Ok(())
    }

    /// Reports what a completed frame completes.
    fn end_frame<S: FrameSink>(
        &mut self,
        opcode: Opcode,
        fin: bool,
        sink: &mut S,
    ) -> Result<(), S::Error> {
        let payload = &self.control[..self.control_len];
        match opcode {
            Opcode::Ping => sink.control(Control::Ping(payload)),
            Opcode::Pong => sink.control(Control::Pong(payload)),
            Opcode::Close => match payload {
                [] => sink.control(Control::Close {
                    code: None,
                    reason: &[],
                }),
                [_] => Err(FrameError::CloseTooShort.into()),
                [hi, lo, reason @ ..] => sink.control(Control::Close {
                    code: Some(u16::from_be_bytes([*hi, *lo])),
                    reason,
                }),
            },
            Opcode::Text | Opcode::Binary | Opcode::Continuation if fin => {
                match self.message.take() {
                    Some((kind, len)) => sink.message_end(kind, len),
                    None => Err(FrameError::UnexpectedContinuation.into()),
                }
            }
            Opcode::Text | Opcode::Binary | Opcode::Continuation => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Everything a reader reported, in order.
    #[derive(Debug, Default, PartialEq, Eq)]
    struct Log {
        events: Vec<String>,
        payload: Vec<u8>,
        message_start: usize,
    }

    impl FrameSink for Log {
        type Error = FrameError;
        fn data(&mut self, kind: DataKind, offset: u64, chunk: &[u8]) -> Result<(), FrameError> {
            assert_eq!(
                offset as usize,
                self.payload.len() - self.message_start,
                "offsets are contiguous"
            );
            let _ = kind;
            self.payload.extend_from_slice(chunk);
            Ok(())
        }
        fn message_end(&mut self, kind: DataKind, len: u64) -> Result<(), FrameError> {
            assert_eq!(len as usize, self.payload.len() - self.message_start);
            self.message_start = self.payload.len();
            self.events.push(format!("{kind:?} {len}"));
            Ok(())
        }
        fn control(&mut self, control: Control<'_>) -> Result<(), FrameError> {
            self.events.push(format!("{control:?}"));
            Ok(())
        }
    }

    fn frame(first: u8, payload: &[u8]) -> Vec<u8> {
        let opcode = Opcode::from_u4(first & 0x0f).unwrap();
        let mut out = rs_proto::FrameHeader::new(opcode, first & 0x80 != 0, payload.len() as u64)
            .as_bytes()
            .to_vec();
        out.extend_from_slice(payload);
        out
    }

    fn read_in_pieces(wire: &[u8], piece: usize) -> Result<Log, FrameError> {
        let mut reader = FrameReader::new();
        let mut log = Log::default();
        for chunk in wire.chunks(piece) {
            reader.feed(chunk, &mut log)?;
        }
        assert!(reader.is_idle());
        Ok(log)
    }

    #[test]
    fn every_length_form_reads_back_in_any_piece_size() {
        let big: Vec<u8> = (0..70_000u32).map(|i| (i * 7) as u8).collect();
        let mut wire = Vec::new();
        for len in [0usize, 1, 125, 126, 65535, 65536, 70_000] {
            wire.extend(frame(0x82, &big[..len]));
        }
        let expected_events: Vec<String> = [0, 1, 125, 126, 65535, 65536, 70_000]
            .iter()
            .map(|len| format!("Binary {len}"))
            .collect();
        for piece in [1, 2, 3, 7, 10, 4096, wire.len()] {
            let log = read_in_pieces(&wire, piece).unwrap();
            assert_eq!(log.events, expected_events, "piece {piece}");
            assert_eq!(log.payload.len(), 1 + 125 + 126 + 65535 + 65536 + 70_000);
        }
    }

    #[test]
    fn fragments_form_one_message_with_controls_between() {
        let mut wire = frame(0x01, b"Hel");
        wire.extend(frame(0x89, b"p"));
        wire.extend(frame(0x00, b""));
        wire.extend(frame(0x80, b"lo"));
        for piece in 1..wire.len() {
            let log = read_in_pieces(&wire, piece).unwrap();
            assert_eq!(log.events, ["Ping([112])", "Text 5"], "piece {piece}");
            assert_eq!(log.payload, b"Hello");
        }
    }

    #[test]
    fn close_frames_report_code_and_reason() {
        let log = read_in_pieces(&frame(0x88, b"\x03\xe9bye"), 1).unwrap();
        assert_eq!(
            log.events,
            ["Close { code: Some(1001), reason: [98, 121, 101] }"]
        );
        let log = read_in_pieces(&frame(0x88, b""), 1).unwrap();
        assert_eq!(log.events, ["Close { code: None, reason: [] }"]);
        assert_eq!(
            read_in_pieces(&frame(0x88, b"\x03"), 1),
            Err(FrameError::CloseTooShort)
        );
    }

    #[test]
    fn pongs_are_reported() {
        let log = read_in_pieces(&frame(0x8a, b"xy"), 1).unwrap();
        assert_eq!(log.events, ["Pong([120, 121])"]);
    }

    fn first_error(wire: &[u8]) -> FrameError {
        let mut reader = FrameReader::new();
        reader.feed(wire, &mut Log::default()).unwrap_err()
    }

    #[test]
    fn a_masked_server_frame_is_refused() {
        assert_eq!(
            first_error(b"\x81\x81\x00\x00\x00\x00a"),
            FrameError::Masked
        );
    }

    #[test]
    fn reserved_bits_are_refused() {
        assert_eq!(first_error(b"\xc1\x00"), FrameError::ReservedBits(0x40));
        assert_eq!(first_error(b"\x91\x00"), FrameError::ReservedBits(0x10));
    }

    #[test]
    fn unknown_opcodes_are_refused() {
        assert_eq!(first_error(b"\x83\x00"), FrameError::UnknownOpcode(3));
        assert_eq!(first_error(b"\x8b\x00"), FrameError::UnknownOpcode(0xb));
    }

    #[test]
    fn long_or_fragmented_control_frames_are_refused() {
        assert_eq!(
            first_error(b"\x89\x7e\x00\x7e"),
            FrameError::ControlTooLong(126)
        );
        assert_eq!(
            first_error(b"\x09\x00"),
            FrameError::FragmentedControl(Opcode::Ping)
        );
    }

    #[test]
    fn continuation_rules_are_enforced() {
        assert_eq!(first_error(b"\x80\x00"), FrameError::UnexpectedContinuation);
        assert_eq!(
            first_error(b"\x01\x00\x81\x00"),
            FrameError::ExpectedContinuation
        );
    }

    #[test]
    fn a_64_bit_length_with_its_top_bit_is_refused() {
        assert_eq!(
            first_error(b"\x82\x7f\x80\x00\x00\x00\x00\x00\x00\x00"),
            FrameError::LengthTooLarge(1 << 63)
        );
    }

    #[test]
    fn a_partial_header_waits_for_more_bytes() {
        let mut reader = FrameReader::new();
        let mut log = Log::default();
        reader.feed(b"\x82\x7e\x00", &mut log).unwrap();
        assert!(!reader.is_idle());
        assert!(log.events.is_empty());
        reader.feed(b"\x01z", &mut log).unwrap();
        assert_eq!(log.events, ["Binary 1"]);
    }

    #[test]
    fn sink_errors_stop_reading() {
        struct Refuse;
        impl FrameSink for Refuse {
            type Error = FrameError;
            fn data(&mut self, _: DataKind, _: u64, _: &[u8]) -> Result<(), FrameError> {
                Err(FrameError::CloseTooShort)
            }
            fn message_end(&mut self, _: DataKind, _: u64) -> Result<(), FrameError> {
                Ok(())
            }
            fn control(&mut self, _: Control<'_>) -> Result<(), FrameError> {
                Ok(())
            }
        }
        let mut reader = FrameReader::new();
        assert_eq!(
            reader.feed(b"\x82\x01x", &mut Refuse),
            Err(FrameError::CloseTooShort)
        );
    }
}
