//! The incremental frame decoder: client bytes in, complete messages and
//! control frames out.

use crate::encode::{MAX_CONTROL_PAYLOAD, MAX_MASKED_HEADER_LEN};
use crate::mask::mask_short;
use crate::utf8::Utf8Stream;
use crate::{CloseCode, DataKind, Opcode, ProtocolError, apply_mask, mask_into, rotate_key};

/// A message buffer whose capacity grew beyond this is freed once its message
/// was delivered, so one large message does not pin memory on an idle
/// connection.
const RETAINED_CAPACITY: usize = 16 * 1024;

/// The shortest message a [`Decoder::lending_masked`] lends masked: below
/// it, unmasking in place and copying costs less than the fused pass's setup.
pub const LEND_MASKED_MIN: usize = 256;

/// The header of a masked frame with a 7-bit length.
const SHORT_HEADER_LEN: usize = 6;

/// Size limits applied while decoding (the `max_ws_msg_size` and
/// `max_ws_frame_chain_size` configuration keys).
///
/// ```
/// use rs_proto::Limits;
/// let limits = Limits::default();
/// assert_eq!(limits.max_message_size, 16 * 1024 * 1024);
/// assert_eq!(limits.max_frame_chain_size, 18_454_937); // 1.1 × the above
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The largest total payload of one message, in bytes.
    pub max_message_size: u64,
    /// The largest size of one message on the wire, in bytes: every frame
    /// header and every control frame interleaved between its fragments
    /// included.
    pub max_frame_chain_size: u64,
}

impl Limits {
    /// The default `max_ws_msg_size`: 16 MiB.
    pub const DEFAULT_MAX_MESSAGE_SIZE: u64 = 16 * 1024 * 1024;
    /// The default `max_ws_frame_chain_size`: 1.1 × the default message size.
    pub const DEFAULT_MAX_FRAME_CHAIN_SIZE: u64 = Self::DEFAULT_MAX_MESSAGE_SIZE * 11 / 10;
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_size: Self::DEFAULT_MAX_MESSAGE_SIZE,
            max_frame_chain_size: Self::DEFAULT_MAX_FRAME_CHAIN_SIZE,
        }
    }
}

/// Something the client sent, complete and validated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// A complete data message, reassembled and unmasked. A text message's
    /// payload is valid UTF-8.
    Message {
        /// Text or binary.
        kind: DataKind,
        /// The whole message payload.
        payload: &'a [u8],
    },
    /// A ping: answer with a pong carrying the same payload (at most 125 bytes).
    Ping(&'a [u8]),
    /// A pong (solicited or not).
    Pong(&'a [u8]),
    /// A close frame: `None` when it carried no status code. Answer with a
    /// close frame, then close the connection. The decoder ignores all input
    /// after it.
    Close(Option<CloseFrame<'a>>),
    /// A complete data message that arrived whole in one frame, still
    /// masked; only from a decoder built with
    /// [`lending_masked`](Decoder::lending_masked), in place of a
    /// [`Message`](Event::Message).
    MaskedMessage(MaskedMessage<'a>),
}

/// A whole data message still masked, lent out of the input by a decoder
/// built with [`Decoder::lending_masked`], so that the one pass over its
/// bytes that unmasks it can also copy it where it goes. Its size is within
/// the [`Limits`]; a text message's UTF-8 is checked by
/// [`unmask_into`](Self::unmask_into), the only way to its bytes.
///
/// ```
/// use rs_proto::{DataKind, Decoder, Event, Limits};
///
/// use rs_proto::{encode_masked_frame, Opcode};
///
/// let text = "Hello ".repeat(50);
/// let mut wire = Vec::new();
/// encode_masked_frame(&mut wire, Opcode::Text, true, text.as_bytes(), [0x37, 0xfa, 0x21, 0x3d]);
/// let mut decoder = Decoder::new(Limits::default()).lending_masked();
/// let Some(Event::MaskedMessage(message)) = decoder.decode(&mut wire).unwrap().event else {
///     panic!("a whole frame is lent masked");
/// };
/// assert_eq!((message.kind(), message.len()), (DataKind::Text, 300));
/// let mut plain = vec![0; 300];
/// message.unmask_into(&mut plain).unwrap();
/// assert_eq!(plain, text.as_bytes());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MaskedMessage<'a> {
    kind: DataKind,
    masked: &'a [u8],
    key: [u8; 4],
}

impl MaskedMessage<'_> {
    /// Text or binary.
    pub fn kind(&self) -> DataKind {
        self.kind
    }

    /// The payload's length.
    pub fn len(&self) -> usize {
        self.masked.len()
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.masked.is_empty()
    }

    /// Writes the unmasked payload into `dst`, which must be
    /// [`len`](Self::len) bytes long. A text message that is not valid UTF-8
    /// is [`ProtocolError::InvalidUtf8`] (`dst` then holds garbage): fail
    /// the connection with its close code, as for an error of
    /// [`Decoder::decode`]. The decoder does not learn of it (its
    /// [`is_finished`](Decoder::is_finished) stays false): stop feeding it.
    ///
    /// # Panics
    ///
    /// If `dst` has another length.
    pub fn unmask_into(&self, dst: &mut [u8]) -> Result<(), ProtocolError> {
        mask_into(dst, self.masked, self.key);
        if self.kind == DataKind::Text && simdutf8::basic::from_utf8(dst).is_err() {
            return Err(ProtocolError::InvalidUtf8);
        }
        Ok(())
    }

    /// The unmasked payload in a new buffer; errors as
    /// [`unmask_into`](Self::unmask_into).
    pub fn to_vec(&self) -> Result<Vec<u8>, ProtocolError> {
        let mut payload = vec![0; self.len()];
        self.unmask_into(&mut payload)?;
        Ok(payload)
    }
}

/// The status code and reason of a received close frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CloseFrame<'a> {
    /// A code that is valid on the wire.
    pub code: CloseCode,
    /// The UTF-8 reason, possibly empty.
    pub reason: &'a str,
}

/// The outcome of one [`Decoder::decode`] call.
#[derive(Debug, PartialEq, Eq)]
pub struct Decoded<'a> {
    /// How many bytes of the input were used. When `event` is `None`, this is
    /// the whole input: partial frames are kept inside the decoder.
    pub consumed: usize,
    /// The next event, if one completed.
    pub event: Option<Event<'a>>,
    /// [`Decoder::partial_len`] after this call: what the decoder holds of
    /// a data message not yet received whole.
    pub partial_len: usize,
}

/// An incremental decoder for the frames a client sends to a server.
///
/// Feed it bytes as they arrive, in chunks of any size: one byte at a time
/// gives exactly the same events as one large buffer. Each call returns at
/// most one event and says how many input bytes it used; call again with the
/// rest. Every rule of RFC 6455 §5-§7 that a server checks is enforced, plus
/// the size [`Limits`]; a violation is a [`ProtocolError`] carrying the close
/// code to send, after which the decoder ignores further input. Lengths in a
/// longer form than needed are accepted: the RFC asks senders for the
/// minimal form but does not ask receivers to fail on others, and common
/// clients and test suites do the same.
///
/// A message that arrives whole in one unfragmented frame is unmasked in
/// place and lent out of the input without a copy; a fragmented or partial
/// message is assembled in a buffer the decoder owns. Control frames never
/// allocate.
///
/// ```
/// use rs_proto::{DataKind, Decoder, Event, Limits};
///
/// // "Hello" as a masked client text frame (RFC 6455 §5.7), split in two reads.
/// let mut wire = *b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58";
/// let (first, second) = wire.split_at_mut(4);
/// let mut decoder = Decoder::new(Limits::default());
///
/// let decoded = decoder.decode(first).unwrap();
/// assert_eq!((decoded.consumed, decoded.event), (4, None));
///
/// let decoded = decoder.decode(second).unwrap();
/// assert_eq!(decoded.event, Some(Event::Message { kind: DataKind::Text, payload: b"Hello" }));
/// ```
#[derive(Clone, Debug)]
pub struct Decoder {
    limits: Limits,
    header: PartialHeader,
    /// The frame whose payload is being received piece by piece.
    frame: Option<FrameProgress>,
    /// The data message whose frames are being received.
    message: Option<MessageProgress>,
    /// The payload of a message that did not arrive in one piece.
    payload: Vec<u8>,
    /// The payload of a control frame that did not arrive in one piece.
    control: ControlPayload,
    utf8: Utf8Stream,
    /// `payload` was lent out by the previous call and is cleared by the next.
    payload_lent: bool,
    /// Whole one-frame messages are lent still masked.
    lend_masked: bool,
    /// A close frame or an error ended the stream.
    finished: bool,
}

impl Decoder {
    /// A decoder enforcing `limits`.
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            header: PartialHeader::default(),
            frame: None,
            message: None,
            payload: Vec::new(),
            control: ControlPayload::default(),
            utf8: Utf8Stream::default(),
            payload_lent: false,
            lend_masked: false,
            finished: false,
        }
    }

    /// This decoder, lending each data message of at least
    /// [`LEND_MASKED_MIN`] bytes that arrives whole in one frame as an
    /// [`Event::MaskedMessage`], still masked, instead of unmasking it in
    /// place: for a caller that copies messages elsewhere (a server handing
    /// them to another thread), the copy then unmasks them too, one pass
    /// over the bytes instead of two. Every other message, and every rule,
    /// is as without it.
    pub fn lending_masked(mut self) -> Self {
        self.lend_masked = true;
        self
    }

    /// The limits this decoder enforces.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Payload bytes this decoder holds of a data message not yet received
    /// whole (0 between messages, and once a message is handed out): the
    /// memory a client can make a server keep by not finishing a message.
    ///
    /// ```
    /// use rs_proto::{Decoder, Limits};
    /// // The first 3 of 5 bytes of a masked text frame (zero mask key).
    /// let mut wire = [0x81, 0x85, 0, 0, 0, 0, b'H', b'e', b'l'];
    /// let mut decoder = Decoder::new(Limits::default());
    /// decoder.decode(&mut wire).unwrap();
    /// assert_eq!(decoder.partial_len(), 3);
    /// ```
    #[inline]
    pub fn partial_len(&self) -> usize {
        if self.payload_lent {
            0
        } else {
            self.payload.len()
        }
    }

    /// Lets go of the message last handed out, as the next
    /// [`decode`](Self::decode) does first: for a caller done with it that
    /// may not decode again for a while. (A client that goes quiet after a
    /// long message would otherwise keep its buffer, which
    /// [`partial_len`](Self::partial_len) no longer counts.)
    ///
    /// ```
    /// use rs_proto::{Decoder, Event, Limits};
    /// // "Hi" in two masked frames (zero mask key): the decoder gathers it.
    /// let mut wire = [0x01, 0x81, 0, 0, 0, 0, b'H', 0x80, 0x81, 0, 0, 0, 0, b'i'];
    /// let mut decoder = Decoder::new(Limits::default());
    /// let mut pos = 0;
    /// let message = loop {
    ///     let decoded = decoder.decode(&mut wire[pos..])?;
    ///     pos += decoded.consumed;
    ///     if let Some(Event::Message { payload, .. }) = decoded.event {
    ///         break payload.to_vec();
    ///     }
    /// };
    /// assert_eq!(message, b"Hi");
    /// decoder.release_message();
    /// assert_eq!(decoder.partial_len(), 0);
    /// # Ok::<(), rs_proto::ProtocolError>(())
    /// ```
    #[inline]
    pub fn release_message(&mut self) {
        if self.payload_lent {
            self.payload_lent = false;
            self.payload.clear();
            if self.payload.capacity() > RETAINED_CAPACITY {
                self.payload = Vec::new();
            }
        }
    }

    /// Whether a close frame or a protocol error ended the stream; all input
    /// is ignored from then on.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Decodes `input` up to the next event. Unmasks payloads in place, so
    /// the input is mutable; the returned event borrows from the input or
    /// from the decoder.
    pub fn decode<'a>(&'a mut self, input: &'a mut [u8]) -> Result<Decoded<'a>, ProtocolError> {
        self.release_message();
        if self.finished {
            return Ok(Decoded {
                consumed: input.len(),
                event: None,
                partial_len: self.partial_len(),
            });
        }
        match self.short_message(input) {
            Some(Ok((kind, end))) => {
                // Only taken between messages: nothing is held.
                return Ok(Decoded {
                    consumed: end,
                    event: Some(Event::Message {
                        kind,
                        payload: &input[SHORT_HEADER_LEN..end],
                    }),
                    partial_len: 0,
                });
            }
            Some(Err(error)) => {
                self.finished = true;
                return Err(error);
            }
            None => {}
        }
        let (consumed, ready) = match self.step(input) {
            Ok(step) => step,
            Err(error) => {
                self.finished = true;
                return Err(error);
            }
        };
        let partial_len = self.partial_len();
        let event = ready.map(|ready| {
            let place = match ready {
                Ready::Message(_, place) | Ready::Control(_, place) => place,
                Ready::Masked(_, start, end, _) => Place::Input { start, end },
            };
            let bytes: &'a [u8] = match place {
                Place::Input { start, end } => &input[start..end],
                Place::Payload => &self.payload,
                Place::Control => self.control.as_slice(),
            };
            match ready {
                Ready::Message(kind, _) => Event::Message {
                    kind,
                    payload: bytes,
                },
                Ready::Masked(kind, _, _, key) => Event::MaskedMessage(MaskedMessage {
                    kind,
                    masked: bytes,
                    key,
                }),
                Ready::Control(Opcode::Ping, _) => Event::Ping(bytes),
                Ready::Control(Opcode::Pong, _) => Event::Pong(bytes),
                // Only close remains; its payload was validated by `step`.
                Ready::Control(..) => Event::Close(close_frame(bytes)),
            }
        });
        Ok(Decoded {
            consumed,
            event,
            partial_len,
        })
    }

    /// The fast path of the most common input: a whole unfragmented text or
    /// binary frame of at most 125 bytes at the start of `input`, with no
    /// frame or message in progress. Unmasks it in place and returns its
    /// kind and end (the payload starts at [`SHORT_HEADER_LEN`]); `None`
    /// for anything else, left to [`step`](Self::step), which would reach
    /// the same outcome (every rule it checks holds here, or this declines).
    #[inline(always)]
    fn short_message(
        &mut self,
        input: &mut [u8],
    ) -> Option<Result<(DataKind, usize), ProtocolError>> {
        if self.header.len != 0 || self.frame.is_some() || self.message.is_some() {
            return None;
        }
        let [b0, b1, k0, k1, k2, k3, rest @ ..] = input else {
            return None;
        };
        let kind = match *b0 {
            0x81 => DataKind::Text,
            0x82 => DataKind::Binary,
            _ => return None,
        };
        // The MASK bit and a 7-bit length.
        if *b1 & 0x80 == 0 || *b1 & 0x7f > 125 {
            return None;
        }
        let len = usize::from(*b1 & 0x7f);
        if len > rest.len()
            || len as u64 > self.limits.max_message_size
            || (SHORT_HEADER_LEN + len) as u64 > self.limits.max_frame_chain_size
        {
            return None;
        }
        let payload = &mut rest[..len];
        mask_short(payload, [*k0, *k1, *k2, *k3]);
        if kind == DataKind::Text && simdutf8::basic::from_utf8(payload).is_err() {
            return Some(Err(ProtocolError::InvalidUtf8));
        }
        Some(Ok((kind, SHORT_HEADER_LEN + len)))
    }

    /// The state machine, in positions rather than borrows so that errors can
    /// finish the decoder before an event borrows it.
    fn step(&mut self, input: &mut [u8]) -> Result<(usize, Option<Ready>), ProtocolError> {
        let mut pos = 0;
        loop {
            let mut frame = match self.frame.take() {
                Some(frame) => frame,
                None => {
                    let Some(head) = self.next_head(input, &mut pos)? else {
                        return Ok((input.len(), None));
                    };
                    self.begin_frame(&head)?;
                    let len = head.payload_len;
                    // Fast path: a whole control frame or a whole unfragmented
                    // data message is here; unmask it in place and lend it out.
                    let whole_message = head.fin && head.opcode != Opcode::Continuation;
                    let control = head.opcode.is_control();
                    if len <= (input.len() - pos) as u64 && (control || whole_message) {
                        let (start, end) = (pos, pos + len as usize);
                        if self.lend_masked && !control && len >= LEND_MASKED_MIN as u64 {
                            let kind = self.end_message();
                            return Ok((end, Some(Ready::Masked(kind, start, end, head.key))));
                        }
                        let payload = &mut input[start..end];
                        apply_mask(payload, head.key);
                        let place = Place::Input { start, end };
                        let ready = if control {
                            if head.opcode == Opcode::Close {
                                validate_close(payload)?;
                                self.finished = true;
                            }
                            Ready::Control(head.opcode, place)
                        } else {
                            let kind = self.end_message();
                            if kind == DataKind::Text
                                && simdutf8::basic::from_utf8(payload).is_err()
                            {
                                return Err(ProtocolError::InvalidUtf8);
                            }
                            Ready::Message(kind, place)
                        };
                        return Ok((end, Some(ready)));
                    }
                    if control {
                        self.control.len = 0;
                    }
                    FrameProgress { head, received: 0 }
                }
            };
            let head = frame.head;
            let take = (head.payload_len - frame.received).min((input.len() - pos) as u64) as usize;
            let piece = &mut input[pos..pos + take];
            apply_mask(piece, rotate_key(head.key, frame.received));
            frame.received += take as u64;
            pos += take;
            if head.opcode.is_control() {
                self.control.extend(piece);
            } else {
                if self.message_kind() == Some(DataKind::Text) {
                    self.utf8
                        .feed(piece)
                        .map_err(|_| ProtocolError::InvalidUtf8)?;
                }
                self.payload.extend_from_slice(piece);
            }
            if frame.received < head.payload_len {
                self.frame = Some(frame);
                return Ok((pos, None));
            }
            if head.opcode.is_control() {
                if head.opcode == Opcode::Close {
                    validate_close(self.control.as_slice())?;
                    self.finished = true;
                }
                return Ok((pos, Some(Ready::Control(head.opcode, Place::Control))));
            }
            if head.fin {
                let kind = self.end_message();
                if kind == DataKind::Text {
                    self.utf8.finish().map_err(|_| ProtocolError::InvalidUtf8)?;
                }
                self.payload_lent = true;
                return Ok((pos, Some(Ready::Message(kind, Place::Payload))));
            }
        }
    }

    /// Parses the next frame header from `input[*pos..]`, completing a header
    /// split across calls. `None` when the input ran out first (it was kept).
    fn next_head(&mut self, input: &[u8], pos: &mut usize) -> Result<Option<Head>, ProtocolError> {
        let rest = &input[*pos..];
        if self.header.len == 0 {
            let head = parse_head(rest)?;
            match head {
                Some(head) => *pos += head.header_len,
                None => self.header.push(rest),
            }
            return Ok(head);
        }
        let before = self.header.len;
        self.header.push(rest);
        let head = parse_head(self.header.as_slice())?;
        if let Some(head) = head {
            // The header buffer can hold the longest header, so a complete
            // header means it took at least `header_len - before` bytes here.
            *pos += head.header_len - before;
            self.header.len = 0;
        }
        Ok(head)
    }

    /// Applies the fragmentation rules and size limits to a new frame header.
    fn begin_frame(&mut self, head: &Head) -> Result<(), ProtocolError> {
        let wire = head.header_len as u64 + head.payload_len;
        let progress = match (head.opcode, &mut self.message) {
            (Opcode::Continuation, None) => return Err(ProtocolError::UnexpectedContinuation),
            (Opcode::Text | Opcode::Binary, Some(_)) => {
                return Err(ProtocolError::ExpectedContinuation);
            }
            (Opcode::Text | Opcode::Binary, None) => {
                let kind = if head.opcode == Opcode::Text {
                    DataKind::Text
                } else {
                    DataKind::Binary
                };
                self.message.insert(MessageProgress {
                    kind,
                    size: 0,
                    wire: 0,
                })
            }
            (_, Some(progress)) => progress,
            // A control frame outside a message counts toward no limit but its own.
            (_, None) => return Ok(()),
        };
        if !head.opcode.is_control() {
            progress.size = progress.size.saturating_add(head.payload_len);
        }
        progress.wire = progress.wire.saturating_add(wire);
        if progress.size > self.limits.max_message_size {
            return Err(ProtocolError::MessageTooLarge {
                limit: self.limits.max_message_size,
                size: progress.size,
            });
        }
        if progress.wire > self.limits.max_frame_chain_size {
            return Err(ProtocolError::FrameChainTooLarge {
                limit: self.limits.max_frame_chain_size,
                size: progress.wire,
            });
        }
        Ok(())
    }

    fn message_kind(&self) -> Option<DataKind> {
        self.message.as_ref().map(|m| m.kind)
    }

    /// Ends the data message in progress and returns its kind.
    fn end_message(&mut self) -> DataKind {
        self.message.take().map_or(DataKind::Binary, |m| m.kind)
    }
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new(Limits::default())
    }
}

/// What `step` found, by position.
#[derive(Clone, Copy)]
enum Ready {
    Message(DataKind, Place),
    Control(Opcode, Place),
    /// A whole message still masked in `input[start..end]`, with its key.
    Masked(DataKind, usize, usize, [u8; 4]),
}

#[derive(Clone, Copy)]
enum Place {
    Input { start: usize, end: usize },
    Payload,
    Control,
}

/// A parsed frame header.
#[derive(Clone, Copy, Debug)]
struct Head {
    fin: bool,
    opcode: Opcode,
    key: [u8; 4],
    payload_len: u64,
    header_len: usize,
}

#[derive(Clone, Copy, Debug)]
struct FrameProgress {
    head: Head,
    received: u64,
}

#[derive(Clone, Copy, Debug)]
struct MessageProgress {
    kind: DataKind,
    /// Payload bytes announced so far.
    size: u64,
    /// Wire bytes announced so far, headers and control frames included.
    wire: u64,
}

/// The bytes of a header that arrived split across calls.
#[derive(Clone, Debug, Default)]
struct PartialHeader {
    bytes: [u8; MAX_MASKED_HEADER_LEN],
    len: usize,
}

impl PartialHeader {
    /// Appends as much of `bytes` as fits.
    fn push(&mut self, bytes: &[u8]) {
        let take = bytes.len().min(MAX_MASKED_HEADER_LEN - self.len);
        self.bytes[self.len..self.len + take].copy_from_slice(&bytes[..take]);
        self.len += take;
    }

    fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// The payload of a control frame that arrived split across calls.
#[derive(Clone, Debug)]
struct ControlPayload {
    bytes: [u8; MAX_CONTROL_PAYLOAD],
    len: usize,
}

impl Default for ControlPayload {
    fn default() -> Self {
        Self {
            bytes: [0; MAX_CONTROL_PAYLOAD],
            len: 0,
        }
    }
}

impl ControlPayload {
    /// Appends a piece; the header check keeps the total within 125 bytes.
    fn extend(&mut self, piece: &[u8]) {
        self.bytes[self.len..self.len + piece.len()].copy_from_slice(piece);
        self.len += piece.len();
    }

    fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// Parses a client frame header, checking each rule as soon as the bytes it
/// needs are there. `Ok(None)`: more bytes are needed.
fn parse_head(bytes: &[u8]) -> Result<Option<Head>, ProtocolError> {
    let Some(&b0) = bytes.first() else {
        return Ok(None);
    };
    let reserved = b0 & 0x70;
    if reserved != 0 {
        return Err(ProtocolError::ReservedBits(reserved));
    }
    let opcode = Opcode::from_u4(b0 & 0x0f).ok_or(ProtocolError::ReservedOpcode(b0 & 0x0f))?;
    let fin = b0 & 0x80 != 0;
    if opcode.is_control() && !fin {
        return Err(ProtocolError::FragmentedControlFrame);
    }
    let Some(&b1) = bytes.get(1) else {
        return Ok(None);
    };
    if b1 & 0x80 == 0 {
        return Err(ProtocolError::UnmaskedFrame);
    }
    let (length_len, header_len) = match b1 & 0x7f {
        126 => (2, 8),
        127 => (8, 14),
        _ => (0, 6),
    };
    if bytes.len() < header_len {
        return Ok(None);
    }
    let payload_len = match length_len {
        0 => u64::from(b1 & 0x7f),
        2 => u64::from(u16::from_be_bytes([bytes[2], bytes[3]])),
        _ => {
            let mut be = [0u8; 8];
            be.copy_from_slice(&bytes[2..10]);
            let len = u64::from_be_bytes(be);
            if len >> 63 != 0 {
                return Err(ProtocolError::LengthOverflow);
            }
            len
        }
    };
    if opcode.is_control() && payload_len > MAX_CONTROL_PAYLOAD as u64 {
        return Err(ProtocolError::ControlFrameTooLong(payload_len));
    }
    let mut key = [0u8; 4];
    key.copy_from_slice(&bytes[header_len - 4..header_len]);
    Ok(Some(Head {
        fin,
        opcode,
        key,
        payload_len,
        header_len,
    }))
}

/// Checks a close payload: empty, or a sendable code and a UTF-8 reason.
fn validate_close(payload: &[u8]) -> Result<(), ProtocolError> {
    match payload {
        [] => Ok(()),
        [_] => Err(ProtocolError::CloseFrameTooShort),
        [hi, lo, reason @ ..] => {
            let code = u16::from_be_bytes([*hi, *lo]);
            if !CloseCode::new(code).is_valid_on_wire() {
                return Err(ProtocolError::InvalidCloseCode(code));
            }
            simdutf8::basic::from_utf8(reason).map_err(|_| ProtocolError::InvalidCloseReason)?;
            Ok(())
        }
    }
}

/// Reads a close payload that `validate_close` accepted.
fn close_frame(payload: &[u8]) -> Option<CloseFrame<'_>> {
    let [hi, lo, reason @ ..] = payload else {
        return None;
    };
    Some(CloseFrame {
        code: CloseCode::new(u16::from_be_bytes([*hi, *lo])),
        // Validated before the event was built; the fallback is unreachable.
        reason: simdutf8::basic::from_utf8(reason).unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode_masked_frame;

    #[test]
    fn a_decoder_is_small_enough_for_idle_connections() {
        // Every connection holds one; the server targets < 1 KiB per idle connection.
        assert!(
            size_of::<Decoder>() <= 320,
            "{} bytes",
            size_of::<Decoder>()
        );
    }

    #[test]
    fn a_large_assembled_message_does_not_pin_its_buffer() {
        let mut wire = Vec::new();
        encode_masked_frame(&mut wire, Opcode::Binary, false, &[1; 40_000], [1, 2, 3, 4]);
        encode_masked_frame(
            &mut wire,
            Opcode::Continuation,
            true,
            &[2; 40_000],
            [1, 2, 3, 4],
        );
        let mut decoder = Decoder::default();
        let mut pos = 0;
        while pos < wire.len() {
            pos += decoder.decode(&mut wire[pos..]).unwrap().consumed;
        }
        assert!(decoder.payload.capacity() >= 80_000);
        assert!(decoder.decode(&mut []).unwrap().event.is_none());
        assert_eq!(decoder.payload.capacity(), 0);
    }

    #[test]
    fn partial_len_counts_the_unfinished_message_only() {
        let mut wire = Vec::new();
        encode_masked_frame(&mut wire, Opcode::Binary, false, &[1; 300], [1, 2, 3, 4]);
        encode_masked_frame(&mut wire, Opcode::Ping, true, b"p", [1, 2, 3, 4]);
        encode_masked_frame(
            &mut wire,
            Opcode::Continuation,
            true,
            &[2; 200],
            [1, 2, 3, 4],
        );
        let mut decoder = Decoder::default();
        // Byte by byte: the count follows the payload received so far,
        // control frames aside.
        let mut seen = Vec::new();
        let mut delivered = None;
        for i in 0..wire.len() {
            let decoded = decoder.decode(&mut wire[i..=i]).unwrap();
            let reported = decoded.partial_len;
            if let Some(Event::Message { payload, .. }) = decoded.event {
                delivered = Some(payload.len());
            }
            assert_eq!(reported, decoder.partial_len(), "byte {i}");
            seen.push(reported);
        }
        assert_eq!(delivered, Some(500));
        assert_eq!(seen.iter().max(), Some(&499));
        assert_eq!(
            seen.last(),
            Some(&0),
            "the delivered message is not partial"
        );
        assert!(seen.windows(2).all(|w| w[1] >= w[0] || w[1] == 0));
        assert!(decoder.decode(&mut []).unwrap().event.is_none());
        assert_eq!(decoder.partial_len(), 0);
    }

    #[test]
    fn a_small_assembled_message_keeps_its_buffer_for_reuse() {
        let mut wire = Vec::new();
        encode_masked_frame(&mut wire, Opcode::Text, false, b"ab", [1, 2, 3, 4]);
        encode_masked_frame(&mut wire, Opcode::Continuation, true, b"cd", [1, 2, 3, 4]);
        let mut decoder = Decoder::default();
        let mut pos = 0;
        while pos < wire.len() {
            pos += decoder.decode(&mut wire[pos..]).unwrap().consumed;
        }
        assert!(decoder.decode(&mut []).unwrap().event.is_none());
        assert!(decoder.payload.is_empty());
        assert!(decoder.payload.capacity() > 0);
    }
}
