//! Frame opcodes (RFC 6455 §5.2) and the two kinds of data message.

/// The opcode of a WebSocket frame.
///
/// Only the six opcodes RFC 6455 defines exist here; the reserved values
/// 0x3-0x7 and 0xB-0xF are rejected by [`Opcode::from_u4`].
///
/// ```
/// use rs_proto::Opcode;
/// assert_eq!(Opcode::from_u4(0x9), Some(Opcode::Ping));
/// assert!(Opcode::Ping.is_control());
/// assert_eq!(Opcode::from_u4(0x3), None);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Opcode {
    /// A continuation fragment of a data message.
    Continuation = 0x0,
    /// The first frame of a text (UTF-8) message.
    Text = 0x1,
    /// The first frame of a binary message.
    Binary = 0x2,
    /// A close frame.
    Close = 0x8,
    /// A ping frame.
    Ping = 0x9,
    /// A pong frame.
    Pong = 0xA,
}

impl Opcode {
    /// Maps the low four bits of a frame's first byte to an opcode, or `None`
    /// for a reserved value.
    pub const fn from_u4(value: u8) -> Option<Self> {
        Some(match value {
            0x0 => Self::Continuation,
            0x1 => Self::Text,
            0x2 => Self::Binary,
            0x8 => Self::Close,
            0x9 => Self::Ping,
            0xA => Self::Pong,
            _ => return None,
        })
    }

    /// Whether this is a control opcode (close, ping, pong): the high bit of
    /// the opcode nibble is set.
    pub const fn is_control(self) -> bool {
        self as u8 & 0x8 != 0
    }
}

/// The kind of a data message: text (valid UTF-8) or binary.
///
/// ```
/// use rs_proto::{DataKind, Opcode};
/// assert_eq!(DataKind::Text.opcode(), Opcode::Text);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DataKind {
    /// A text message; its payload is valid UTF-8.
    Text,
    /// A binary message.
    Binary,
}

impl DataKind {
    /// The opcode of the first frame of a message of this kind.
    pub const fn opcode(self) -> Opcode {
        match self {
            Self::Text => Opcode::Text,
            Self::Binary => Opcode::Binary,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_nibble_maps_to_its_opcode_or_none() {
        for value in 0u8..16 {
            let opcode = Opcode::from_u4(value);
            match value {
                0x0..=0x2 | 0x8..=0xA => assert_eq!(opcode.map(|o| o as u8), Some(value)),
                _ => assert_eq!(opcode, None, "nibble {value:#x} is reserved"),
            }
        }
    }

    #[test]
    fn control_opcodes_are_the_high_half() {
        assert!(!Opcode::Continuation.is_control());
        assert!(!Opcode::Text.is_control());
        assert!(!Opcode::Binary.is_control());
        assert!(Opcode::Close.is_control());
        assert!(Opcode::Ping.is_control());
        assert!(Opcode::Pong.is_control());
    }
}
