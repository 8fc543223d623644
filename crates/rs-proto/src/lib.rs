//! RFC 6455 WebSocket framing for servers, without I/O.
//!
//! `rs-proto` is the protocol layer of RingSocket: client bytes go in, complete
//! validated messages and control frames come out, and server frames are
//! encoded into buffers. It owns no sockets and no threads, so every rule is
//! tested byte by byte.
//!
//! - [`Decoder`]: an incremental decoder of the frames a client sends. It
//!   enforces masking, reserved bits and opcodes, control-frame rules,
//!   fragmentation, incremental UTF-8 validation of text (an invalid fragment
//!   fails before its message ends), close-frame validation and the
//!   [`Limits`] on message size. Each violation is a [`ProtocolError`] that
//!   names the [`CloseCode`] to send (1002, 1007 or 1009).
//! - [`encode_frame`], [`encode_close`], [`FrameHeader`] and
//!   [`write_header_in_headroom`]: server frames, including a header written in
//!   front of a payload that is already in place. [`encode_masked_frame`]
//!   builds client frames for load generators and tests.
//! - [`apply_mask`] and [`mask_into`]: block-at-a-time (un)masking, in
//!   place or while copying.
//!
//! # Example
//!
//! A server loop answers pings and echoes messages:
//!
//! ```
//! use rs_proto::{encode_frame, encode_masked_frame, Decoder, Event, Opcode};
//!
//! // What a client might send: a ping, then "hi" in two fragments.
//! let mut wire = Vec::new();
//! encode_masked_frame(&mut wire, Opcode::Ping, true, b"p", [1, 2, 3, 4]);
//! encode_masked_frame(&mut wire, Opcode::Text, false, b"h", [5, 6, 7, 8]);
//! encode_masked_frame(&mut wire, Opcode::Continuation, true, b"i", [9, 9, 9, 9]);
//!
//! let mut decoder = Decoder::default();
//! let mut replies = Vec::new();
//! let mut pos = 0;
//! while pos < wire.len() {
//!     let decoded = decoder.decode(&mut wire[pos..]).expect("a valid client");
//!     pos += decoded.consumed;
//!     match decoded.event {
//!         Some(Event::Ping(payload)) => encode_frame(&mut replies, Opcode::Pong, payload).unwrap(),
//!         Some(Event::Message { kind, payload }) => {
//!             encode_frame(&mut replies, kind.opcode(), payload).unwrap()
//!         }
//!         _ => {}
//!     }
//! }
//! assert_eq!(replies, b"\x8a\x01p\x81\x02hi");
//! ```

mod close;
mod decode;
mod encode;
mod error;
mod mask;
mod opcode;
mod utf8;

pub use close::CloseCode;
pub use decode::{CloseFrame, Decoded, Decoder, Event, LEND_MASKED_MIN, Limits, MaskedMessage};
pub use encode::{
    EncodeError, FrameHeader, MAX_CLOSE_REASON, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN,
    MAX_MASKED_HEADER_LEN, encode_close, encode_frame, encode_masked_frame, header_len,
    write_header_in_headroom,
};
pub use error::ProtocolError;
pub use mask::{apply_mask, mask_into, rotate_key};
pub use opcode::{DataKind, Opcode};
