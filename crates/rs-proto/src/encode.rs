//! Frame encoding: server frames (never masked) and, for clients such as
//! load generators and tests, masked frames.

use std::fmt;

use crate::{CloseCode, Opcode, apply_mask};

/// The longest header of an unmasked (server) frame: 2 bytes plus a 64-bit
/// length. Reserve this much headroom in front of a payload to prepend a
/// header later with [`write_header_in_headroom`].
pub const MAX_HEADER_LEN: usize = 10;

/// The longest header of a masked (client) frame.
pub const MAX_MASKED_HEADER_LEN: usize = MAX_HEADER_LEN + 4;

/// The largest payload of a control frame (§5.5).
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// The longest close reason: the control payload limit minus the 2-byte code.
pub const MAX_CLOSE_REASON: usize = MAX_CONTROL_PAYLOAD - 2;

/// An encoded frame header, built on the stack.
///
/// ```
/// use rs_proto::{FrameHeader, Opcode};
/// assert_eq!(FrameHeader::new(Opcode::Text, true, 5).as_bytes(), [0x81, 5]);
/// assert_eq!(FrameHeader::new(Opcode::Binary, false, 256).as_bytes(), [0x02, 126, 1, 0]);
/// assert_eq!(FrameHeader::new(Opcode::Binary, true, 65536).as_bytes().len(), 10);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    bytes: [u8; MAX_MASKED_HEADER_LEN],
    len: u8,
}

impl FrameHeader {
    /// An unmasked header, as servers send. It is up to the caller to keep
    /// control frames at most 125 bytes long and unfragmented.
    pub const fn new(opcode: Opcode, fin: bool, payload_len: u64) -> Self {
        let mut bytes = [0u8; MAX_MASKED_HEADER_LEN];
        bytes[0] = (fin as u8) << 7 | opcode as u8;
        let len = if payload_len < 126 {
            bytes[1] = payload_len as u8;
            2
        } else if payload_len <= u16::MAX as u64 {
            bytes[1] = 126;
            let be = (payload_len as u16).to_be_bytes();
            bytes[2] = be[0];
            bytes[3] = be[1];
            4
        } else {
            bytes[1] = 127;
            let be = payload_len.to_be_bytes();
            let mut i = 0;
            while i < 8 {
                bytes[2 + i] = be[i];
                i += 1;
            }
            10
        };
        Self { bytes, len }
    }

    /// A masked header, as clients send: the MASK bit set and `key` appended.
    /// The payload must be masked with the same key ([`apply_mask`]).
    pub const fn masked(opcode: Opcode, fin: bool, payload_len: u64, key: [u8; 4]) -> Self {
        let mut header = Self::new(opcode, fin, payload_len);
        header.bytes[1] |= 0x80;
        let at = header.len as usize;
        header.bytes[at] = key[0];
        header.bytes[at + 1] = key[1];
        header.bytes[at + 2] = key[2];
        header.bytes[at + 3] = key[3];
        header.len += 4;
        header
    }

    /// The header's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// The length of an unmasked header for a payload of `payload_len` bytes:
/// 2, 4 or 10.
///
/// ```
/// assert_eq!(rs_proto::header_len(125), 2);
/// assert_eq!(rs_proto::header_len(126), 4);
/// assert_eq!(rs_proto::header_len(65536), 10);
/// ```
pub const fn header_len(payload_len: u64) -> usize {
    if payload_len < 126 {
        2
    } else if payload_len <= u16::MAX as u64 {
        4
    } else {
        10
    }
}

/// A frame that cannot be encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EncodeError {
    /// A control frame payload longer than [`MAX_CONTROL_PAYLOAD`].
    ControlPayloadTooLong(usize),
    /// Less headroom in front of the payload than the header needs.
    HeadroomTooSmall {
        /// Bytes available in front of the payload.
        available: usize,
        /// Bytes the header needs.
        needed: usize,
    },
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ControlPayloadTooLong(len) => write!(
                f,
                "control frame payload of {len} bytes exceeds {MAX_CONTROL_PAYLOAD}"
            ),
            Self::HeadroomTooSmall { available, needed } => write!(
                f,
                "frame header needs {needed} bytes of headroom, {available} available"
            ),
        }
    }
}

impl std::error::Error for EncodeError {}

/// Appends one unfragmented, unmasked frame to `out`.
///
/// ```
/// use rs_proto::{encode_frame, Opcode};
/// let mut out = Vec::new();
/// encode_frame(&mut out, Opcode::Text, b"Hello").unwrap();
/// assert_eq!(out, b"\x81\x05Hello"); // RFC 6455 §5.7
/// assert!(encode_frame(&mut out, Opcode::Ping, &[0; 126]).is_err());
/// ```
pub fn encode_frame(out: &mut Vec<u8>, opcode: Opcode, payload: &[u8]) -> Result<(), EncodeError> {
    if opcode.is_control() && payload.len() > MAX_CONTROL_PAYLOAD {
        return Err(EncodeError::ControlPayloadTooLong(payload.len()));
    }
    out.extend_from_slice(FrameHeader::new(opcode, true, payload.len() as u64).as_bytes());
    out.extend_from_slice(payload);
    Ok(())
}

/// Appends one masked frame (as a client sends it) to `out`.
///
/// ```
/// use rs_proto::{encode_masked_frame, Opcode};
/// let mut out = Vec::new();
/// encode_masked_frame(&mut out, Opcode::Text, true, b"Hello", [0x37, 0xfa, 0x21, 0x3d]);
/// assert_eq!(out, b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"); // RFC 6455 §5.7
/// ```
pub fn encode_masked_frame(
    out: &mut Vec<u8>,
    opcode: Opcode,
    fin: bool,
    payload: &[u8],
    key: [u8; 4],
) {
    out.extend_from_slice(FrameHeader::masked(opcode, fin, payload.len() as u64, key).as_bytes());
    let start = out.len();
    out.extend_from_slice(payload);
    apply_mask(&mut out[start..], key);
}

/// Appends a close frame with `code` and `reason` to `out`. A reason longer
/// than [`MAX_CLOSE_REASON`] bytes is cut at the last character boundary
/// that fits, so the frame is always valid.
///
/// ```
/// use rs_proto::{encode_close, CloseCode};
/// let mut out = Vec::new();
/// encode_close(&mut out, CloseCode::GOING_AWAY, "bye");
/// assert_eq!(out, b"\x88\x05\x03\xe9bye");
/// ```
pub fn encode_close(out: &mut Vec<u8>, code: CloseCode, reason: &str) {
    let mut cut = reason.len().min(MAX_CLOSE_REASON);
    while !reason.is_char_boundary(cut) {
        cut -= 1;
    }
    let reason = &reason.as_bytes()[..cut];
    out.extend_from_slice(
        FrameHeader::new(Opcode::Close, true, 2 + reason.len() as u64).as_bytes(),
    );
    out.extend_from_slice(&code.get().to_be_bytes());
    out.extend_from_slice(reason);
}

/// Writes an unfragmented, unmasked frame header into the headroom in front
/// of a payload that is already in place, and returns the index at which the
/// frame starts. `buf[..payload_start]` is headroom and `buf[payload_start..]`
/// the payload; the payload is not moved. Reserving [`MAX_HEADER_LEN`] bytes
/// of headroom always suffices.
///
/// ```
/// use rs_proto::{write_header_in_headroom, Opcode, MAX_HEADER_LEN};
/// let mut buf = vec![0u8; MAX_HEADER_LEN];
/// buf.extend_from_slice(b"Hello");
/// let start = write_header_in_headroom(&mut buf, MAX_HEADER_LEN, Opcode::Text).unwrap();
/// assert_eq!(&buf[start..], b"\x81\x05Hello");
/// ```
pub fn write_header_in_headroom(
    buf: &mut [u8],
    payload_start: usize,
    opcode: Opcode,
) -> Result<usize, EncodeError> {
    let payload_len = buf.len().saturating_sub(payload_start);
    if opcode.is_control() && payload_len > MAX_CONTROL_PAYLOAD {
        return Err(EncodeError::ControlPayloadTooLong(payload_len));
    }
    let header = FrameHeader::new(opcode, true, payload_len as u64);
    let header = header.as_bytes();
    let start = payload_start
        .checked_sub(header.len())
        .filter(|_| payload_start <= buf.len());
    let Some(start) = start else {
        return Err(EncodeError::HeadroomTooSmall {
            available: payload_start.min(buf.len()),
            needed: header.len(),
        });
    };
    buf[start..payload_start].copy_from_slice(header);
    Ok(start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_length_boundaries() {
        for (len, expected) in [
            (0u64, &[0x82u8, 0][..]),
            (125, &[0x82, 125]),
            (126, &[0x82, 126, 0, 126]),
            (65535, &[0x82, 126, 0xff, 0xff]),
            (65536, &[0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0]),
            (
                u64::MAX >> 1,
                &[0x82, 127, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
            ),
        ] {
            let header = FrameHeader::new(Opcode::Binary, true, len);
            assert_eq!(header.as_bytes(), expected, "length {len}");
            assert_eq!(header_len(len), expected.len(), "length {len}");
        }
    }

    #[test]
    fn fin_and_opcode_bits() {
        assert_eq!(
            FrameHeader::new(Opcode::Continuation, false, 0).as_bytes()[0],
            0x00
        );
        assert_eq!(
            FrameHeader::new(Opcode::Continuation, true, 0).as_bytes()[0],
            0x80
        );
        assert_eq!(FrameHeader::new(Opcode::Pong, true, 0).as_bytes()[0], 0x8a);
    }

    #[test]
    fn masked_headers_append_the_key_after_each_length_form() {
        let key = [1, 2, 3, 4];
        assert_eq!(
            FrameHeader::masked(Opcode::Text, true, 3, key).as_bytes(),
            [0x81, 0x83, 1, 2, 3, 4]
        );
        assert_eq!(
            FrameHeader::masked(Opcode::Text, true, 300, key).as_bytes(),
            [0x81, 0xfe, 1, 44, 1, 2, 3, 4]
        );
        assert_eq!(
            FrameHeader::masked(Opcode::Text, true, 1 << 16, key)
                .as_bytes()
                .len(),
            14
        );
    }

    #[test]
    fn control_frames_over_125_bytes_are_refused() {
        let mut out = Vec::new();
        assert_eq!(encode_frame(&mut out, Opcode::Pong, &[0; 125]), Ok(()));
        assert_eq!(out.len(), 127);
        assert_eq!(
            encode_frame(&mut out, Opcode::Close, &[0; 126]),
            Err(EncodeError::ControlPayloadTooLong(126))
        );
        assert_eq!(out.len(), 127, "nothing appended on error");
        assert_eq!(encode_frame(&mut out, Opcode::Binary, &[0; 126]), Ok(()));
    }

    #[test]
    fn close_reasons_are_cut_at_a_character_boundary() {
        // 61 two-byte characters = 122 bytes, then a 3-byte one that does not fit.
        let reason = "é".repeat(61) + "€";
        let mut out = Vec::new();
        encode_close(&mut out, CloseCode::NORMAL, &reason);
        assert_eq!(out[1], 2 + 122);
        assert_eq!(&out[2..4], &[0x03, 0xe8]);
        assert!(std::str::from_utf8(&out[4..]).is_ok());
        let mut out = Vec::new();
        encode_close(&mut out, CloseCode::NORMAL, &"x".repeat(500));
        assert_eq!(out.len(), 2 + 125);
    }

    #[test]
    fn headroom_header_lands_right_before_the_payload() {
        for len in [0usize, 125, 126, 65535, 65536] {
            let mut buf = vec![0xee; MAX_HEADER_LEN + len];
            let start = write_header_in_headroom(&mut buf, MAX_HEADER_LEN, Opcode::Binary).unwrap();
            let mut expected = Vec::new();
            encode_frame(&mut expected, Opcode::Binary, &vec![0xee; len]).unwrap();
            assert_eq!(&buf[start..], &expected[..], "length {len}");
        }
    }

    #[test]
    fn headroom_too_small_or_out_of_range_is_an_error() {
        let mut buf = vec![0u8; 3 + 200];
        assert_eq!(
            write_header_in_headroom(&mut buf, 3, Opcode::Text),
            Err(EncodeError::HeadroomTooSmall {
                available: 3,
                needed: 4
            })
        );
        let mut buf = vec![0u8; 5];
        assert_eq!(
            write_header_in_headroom(&mut buf, 9, Opcode::Text),
            Err(EncodeError::HeadroomTooSmall {
                available: 5,
                needed: 2
            })
        );
        let mut buf = vec![0u8; MAX_HEADER_LEN + 126];
        assert_eq!(
            write_header_in_headroom(&mut buf, MAX_HEADER_LEN, Opcode::Ping),
            Err(EncodeError::ControlPayloadTooLong(126))
        );
    }
}
