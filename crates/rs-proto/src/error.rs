//! Protocol violations by a client, each mapped to the close code to send.

use std::fmt;

use crate::CloseCode;

/// A frame sequence that breaks RFC 6455 or a configured limit.
///
/// The connection must be failed: send a close frame with
/// [`ProtocolError::close_code`] and close the TCP connection.
///
/// ```
/// use rs_proto::{CloseCode, ProtocolError};
/// let error = ProtocolError::ReservedOpcode(0x3);
/// assert_eq!(error.close_code(), CloseCode::PROTOCOL_ERROR);
/// assert_eq!(error.to_string(), "reserved opcode 0x3");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProtocolError {
    /// A client frame without the MASK bit (§5.1).
    UnmaskedFrame,
    /// RSV1-3 set although no extension was negotiated; holds the three bits
    /// as they stand in the first byte (0x70 mask).
    ReservedBits(u8),
    /// An opcode of 0x3-0x7 or 0xB-0xF.
    ReservedOpcode(u8),
    /// A control frame with a payload longer than 125 bytes.
    ControlFrameTooLong(u64),
    /// A control frame without FIN: control frames cannot be fragmented.
    FragmentedControlFrame,
    /// A continuation frame while no fragmented message was in progress.
    UnexpectedContinuation,
    /// A new text or binary frame while a fragmented message was in progress.
    ExpectedContinuation,
    /// A 64-bit payload length with its most significant bit set.
    LengthOverflow,
    /// A text message (or a part of one) that is not valid UTF-8.
    InvalidUtf8,
    /// A close frame with a one-byte payload: too short for a status code.
    CloseFrameTooShort,
    /// A close frame carrying a code that may not be sent on the wire.
    InvalidCloseCode(u16),
    /// A close frame whose reason is not valid UTF-8.
    InvalidCloseReason,
    /// A message whose payload would exceed the configured maximum.
    MessageTooLarge {
        /// The configured maximum payload size of one message, in bytes.
        limit: u64,
        /// The payload size the message would reach with the frame that
        /// passed the limit, in bytes (its later frames are not known).
        size: u64,
    },
    /// A message whose frames (headers and interleaved control frames
    /// included) would exceed the configured maximum.
    FrameChainTooLarge {
        /// The configured maximum size on the wire, in bytes.
        limit: u64,
        /// The size on the wire the message would reach, in bytes.
        size: u64,
    },
}

impl ProtocolError {
    /// The close code RFC 6455 prescribes for this violation: 1007 for
    /// invalid UTF-8, 1009 for size limits, 1002 for everything else.
    pub const fn close_code(&self) -> CloseCode {
        match self {
            Self::InvalidUtf8 | Self::InvalidCloseReason => CloseCode::INVALID_PAYLOAD,
            Self::MessageTooLarge { .. } | Self::FrameChainTooLarge { .. } => {
                CloseCode::MESSAGE_TOO_BIG
            }
            _ => CloseCode::PROTOCOL_ERROR,
        }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnmaskedFrame => f.write_str("client frame is not masked"),
            Self::ReservedBits(bits) => {
                write!(
                    f,
                    "reserved bits {bits:#04x} set without a negotiated extension"
                )
            }
            Self::ReservedOpcode(opcode) => write!(f, "reserved opcode {opcode:#x}"),
            Self::ControlFrameTooLong(len) => {
                write!(f, "control frame payload of {len} bytes exceeds 125")
            }
            Self::FragmentedControlFrame => f.write_str("control frame without FIN"),
            Self::UnexpectedContinuation => {
                f.write_str("continuation frame without a message in progress")
            }
            Self::ExpectedContinuation => {
                f.write_str("new data frame while a fragmented message is in progress")
            }
            Self::LengthOverflow => f.write_str("64-bit payload length has its top bit set"),
            Self::InvalidUtf8 => f.write_str("text message is not valid UTF-8"),
            Self::CloseFrameTooShort => f.write_str("close frame payload of 1 byte"),
            Self::InvalidCloseCode(code) => write!(f, "close code {code} may not be sent"),
            Self::InvalidCloseReason => f.write_str("close reason is not valid UTF-8"),
            Self::MessageTooLarge { limit, size } => {
                write!(
                    f,
                    "message of at least {size} bytes exceeds max_ws_msg_size ({limit})"
                )
            }
            Self::FrameChainTooLarge { limit, size } => write!(
                f,
                "message frames of at least {size} bytes exceed max_ws_frame_chain_size ({limit})"
            ),
        }
    }
}

impl std::error::Error for ProtocolError {}
