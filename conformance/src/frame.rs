//! The client frame writer: every field of a frame is chosen by the caller,
//! so it can produce well-formed frames as well as every malformed one
//! (reserved bits and opcodes, unmasked frames, fragmented or oversized
//! control frames, non-minimal or impossible lengths).

use std::fmt::Write as _;

/// RFC 6455 opcodes, as the raw 4-bit values the writer puts on the wire.
pub mod opcode {
    /// Continuation frame (0x0).
    pub const CONTINUATION: u8 = 0x0;
    /// Text frame (0x1).
    pub const TEXT: u8 = 0x1;
    /// Binary frame (0x2).
    pub const BINARY: u8 = 0x2;
    /// Close frame (0x8).
    pub const CLOSE: u8 = 0x8;
    /// Ping frame (0x9).
    pub const PING: u8 = 0x9;
    /// Pong frame (0xA).
    pub const PONG: u8 = 0xA;
}

/// How the payload length is written in the header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Length {
    /// The shortest form the RFC asks for (7 bits, 16 bits or 64 bits).
    Minimal,
    /// The 16-bit extended form (126), whatever the length.
    Extended16,
    /// The 64-bit extended form (127), whatever the length.
    Extended64,
    /// The 64-bit form announcing this length, whatever the payload sent
    /// (for lengths the client never intends to send in full).
    Announce64(u64),
}

/// Whether and how the payload is masked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mask {
    /// Masked with a key chosen when the frame is encoded (the normal case).
    Auto,
    /// Masked with this key.
    Key([u8; 4]),
    /// Not masked: MASK bit clear, no key (a protocol error from a client).
    Unmasked,
}

/// One client frame, any field of which may break the RFC.
///
/// ```
/// use rs_conformance::frame::{Frame, opcode};
///
/// // "Hello" as in RFC 6455 §5.7, with the example's masking key.
/// let frame = Frame::text("Hello").key([0x37, 0xfa, 0x21, 0x3d]);
/// assert_eq!(
///     frame.encode([0; 4]),
///     b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58".to_vec()
/// );
/// // A ping with RSV1 set and no FIN: two violations in one header.
/// let bad = Frame::new(opcode::PING, b"x".to_vec()).fin(false).rsv(0b100);
/// assert_eq!(bad.encode([0; 4])[0], 0x49);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// The FIN bit.
    pub fin: bool,
    /// RSV1-RSV3 as a 3-bit number: 0b100 is RSV1, 0b010 RSV2, 0b001 RSV3.
    pub rsv: u8,
    /// The 4-bit opcode (any value, reserved ones included).
    pub opcode: u8,
    /// The masking.
    pub mask: Mask,
    /// The payload bytes actually sent (unmasked here).
    pub payload: Vec<u8>,
    /// How the length is written.
    pub length: Length,
}

impl Frame {
    /// A final, masked frame with this opcode and payload.
    pub fn new(opcode: u8, payload: Vec<u8>) -> Self {
        Self {
            fin: true,
            rsv: 0,
            opcode,
            mask: Mask::Auto,
            payload,
            length: Length::Minimal,
        }
    }

    /// A final text frame.
    pub fn text(payload: impl Into<Vec<u8>>) -> Self {
        Self::new(opcode::TEXT, payload.into())
    }

    /// A final binary frame.
    pub fn binary(payload: impl Into<Vec<u8>>) -> Self {
        Self::new(opcode::BINARY, payload.into())
    }

    /// A continuation frame (final unless [`Frame::fin`] says otherwise).
    pub fn continuation(payload: impl Into<Vec<u8>>) -> Self {
        Self::new(opcode::CONTINUATION, payload.into())
    }

    /// A ping.
    pub fn ping(payload: impl Into<Vec<u8>>) -> Self {
        Self::new(opcode::PING, payload.into())
    }

    /// A pong.
    pub fn pong(payload: impl Into<Vec<u8>>) -> Self {
        Self::new(opcode::PONG, payload.into())
    }

    /// A close frame with a status code and a reason.
    pub fn close(code: u16, reason: impl AsRef<[u8]>) -> Self {
        let mut payload = code.to_be_bytes().to_vec();
        payload.extend_from_slice(reason.as_ref());
        Self::new(opcode::CLOSE, payload)
    }

    /// A close frame with exactly this payload (e.g. empty, or 1 byte).
    pub fn close_raw(payload: impl Into<Vec<u8>>) -> Self {
        Self::new(opcode::CLOSE, payload.into())
    }

    /// Sets the FIN bit.
    pub fn fin(mut self, fin: bool) -> Self {
        self.fin = fin;
        self
    }

    /// Sets the reserved bits (0..=7; RSV1 is 0b100).
    pub fn rsv(mut self, rsv: u8) -> Self {
        self.rsv = rsv & 0b111;
        self
    }

    /// Sends the frame without a mask.
    pub fn unmasked(mut self) -> Self {
        self.mask = Mask::Unmasked;
        self
    }

    /// Masks with this key.
    pub fn key(mut self, key: [u8; 4]) -> Self {
        self.mask = Mask::Key(key);
        self
    }

    /// Writes the length in this form.
    pub fn length(mut self, length: Length) -> Self {
        self.length = length;
        self
    }

    /// The frame's bytes; `auto_key` masks it unless the frame chose its
    /// own key or none.
    pub fn encode(&self, auto_key: [u8; 4]) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.payload.len() + 14);
        self.encode_into(&mut out, auto_key);
        out
    }

    /// Appends the frame's bytes to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>, auto_key: [u8; 4]) {
        let b0 = (u8::from(self.fin) << 7) | ((self.rsv & 0b111) << 4) | (self.opcode & 0x0f);
        out.push(b0);
        let key = match self.mask {
            Mask::Auto => Some(auto_key),
            Mask::Key(key) => Some(key),
            Mask::Unmasked => None,
        };
        let mask_bit = if key.is_some() { 0x80 } else { 0 };
        let len = self.payload.len() as u64;
        match self.length {
            Length::Minimal if len < 126 => out.push(mask_bit | len as u8),
            Length::Minimal if len <= u64::from(u16::MAX) => {
                out.push(mask_bit | 126);
                out.extend_from_slice(&(len as u16).to_be_bytes());
            }
            Length::Minimal | Length::Extended64 => {
                out.push(mask_bit | 127);
                out.extend_from_slice(&len.to_be_bytes());
            }
            Length::Extended16 => {
                out.push(mask_bit | 126);
                out.extend_from_slice(&(len.min(u64::from(u16::MAX)) as u16).to_be_bytes());
            }
            Length::Announce64(announced) => {
                out.push(mask_bit | 127);
                out.extend_from_slice(&announced.to_be_bytes());
            }
        }
        let start = out.len();
        if let Some(key) = key {
            out.extend_from_slice(&key);
            out.extend_from_slice(&self.payload);
            apply_mask(&mut out[start + 4..], key);
        } else {
            out.extend_from_slice(&self.payload);
        }
    }

    /// A one-line description for transcripts, e.g.
    /// `text fin=1 rsv=0 len=5 masked`.
    pub fn describe(&self) -> String {
        let mut text = format!(
            "{} fin={} rsv={:03b} len={}",
            opcode_name(self.opcode),
            u8::from(self.fin),
            self.rsv,
            self.payload.len()
        );
        match self.length {
            Length::Minimal => {}
            Length::Extended16 => text.push_str(" (16-bit length)"),
            Length::Extended64 => text.push_str(" (64-bit length)"),
            Length::Announce64(n) => {
                let _ = write!(text, " (announces {n})");
            }
        }
        if self.mask == Mask::Unmasked {
            text.push_str(" UNMASKED");
        }
        if !self.payload.is_empty() {
            let _ = write!(text, " payload {}", preview(&self.payload, 24));
        }
        text
    }
}

/// XORs `bytes` with the repeating `key` (RFC 6455 §5.3), eight bytes at a
/// time where it can.
pub fn apply_mask(bytes: &mut [u8], key: [u8; 4]) {
    let word = u64::from_ne_bytes([
        key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3],
    ]);
    let mut chunks = bytes.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut value = [0u8; 8];
        value.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u64::from_ne_bytes(value) ^ word).to_ne_bytes());
    }
    // The remainder starts at a multiple of 8, so at key byte 0.
    for (byte, k) in chunks.into_remainder().iter_mut().zip(key.iter().cycle()) {
        *byte ^= k;
    }
}

/// The name of an opcode, or `opcode 0xN` for reserved ones.
pub fn opcode_name(opcode: u8) -> String {
    match opcode {
        opcode::CONTINUATION => "continuation".into(),
        opcode::TEXT => "text".into(),
        opcode::BINARY => "binary".into(),
        opcode::CLOSE => "close".into(),
        opcode::PING => "ping".into(),
        opcode::PONG => "pong".into(),
        other => format!("opcode {other:#x}"),
    }
}

/// At most `max` bytes of `bytes` in hex, with the total when cut.
pub fn preview(bytes: &[u8], max: usize) -> String {
    let mut text = String::new();
    for (i, byte) in bytes.iter().take(max).enumerate() {
        if i > 0 {
            text.push(' ');
        }
        let _ = write!(text, "{byte:02x}");
    }
    if bytes.len() > max {
        let _ = write!(text, " … ({} bytes)", bytes.len());
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_lengths_switch_forms_at_126_and_65536() {
        let header_len = |len: usize| {
            let frame = Frame::binary(vec![0; len]);
            frame.encode([0; 4]).len() - len
        };
        assert_eq!(header_len(125), 6);
        assert_eq!(header_len(126), 8);
        assert_eq!(header_len(65535), 8);
        assert_eq!(header_len(65536), 14);
    }

    #[test]
    fn forced_forms_and_announced_lengths_are_written_as_asked() {
        let bytes = Frame::text("ab").length(Length::Extended64).encode([0; 4]);
        assert_eq!(&bytes[..10], &[0x81, 0xff, 0, 0, 0, 0, 0, 0, 0, 2]);
        let bytes = Frame::text("ab").length(Length::Extended16).encode([0; 4]);
        assert_eq!(&bytes[..4], &[0x81, 0xfe, 0, 2]);
        let bytes = Frame::binary("")
            .length(Length::Announce64(1 << 63))
            .encode([0; 4]);
        assert_eq!(&bytes[..3], &[0x82, 0xff, 0x80]);
    }

    #[test]
    fn unmasked_frames_carry_no_key() {
        assert_eq!(Frame::text("hi").unmasked().encode([9; 4]), b"\x81\x02hi");
    }

    #[test]
    fn masking_xors_byte_i_with_key_byte_i_mod_4() {
        let key = [0x11, 0x22, 0x44, 0x88];
        for len in 0..40 {
            let mut bytes = vec![0u8; len];
            apply_mask(&mut bytes, key);
            let expected: Vec<u8> = (0..len).map(|i| key[i % 4]).collect();
            assert_eq!(bytes, expected, "length {len}");
        }
    }

    #[test]
    fn masking_twice_restores_every_length() {
        for len in 0..40 {
            let original: Vec<u8> = (0..len as u8).collect();
            let mut bytes = original.clone();
            apply_mask(&mut bytes, [1, 2, 3, 4]);
            if len > 0 {
                assert_ne!(bytes, original);
            }
            apply_mask(&mut bytes, [1, 2, 3, 4]);
            assert_eq!(bytes, original);
        }
    }
}
