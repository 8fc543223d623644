//! Message payloads: a fixed pattern with a short counter in front, so every
//! echo can be checked byte for byte and a stale or reordered message is
//! caught by its counter (an echo's digits least significant first, so that
//! a message shorter than the counter keeps the digits that change).

use rs_proto::DataKind;

use crate::error::ConnError;

/// Bytes of a counter written in front of a payload: 8 lowercase hex digits.
pub(crate) const COUNTER_LEN: usize = 8;

/// The payload pattern of `len` bytes. Text is printable ASCII (valid
/// UTF-8, the server's fast path); binary cycles through every byte value.
pub(crate) fn pattern(len: usize, text: bool) -> Box<[u8]> {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,-";
    (0..len)
        .map(|i| {
            if text {
                ALPHABET[i % ALPHABET.len()]
            } else {
                (i.wrapping_mul(131) ^ (i >> 8)) as u8
            }
        })
        .collect()
}

/// `value` as 8 lowercase hex digits.
pub(crate) fn hex_u32(value: u32) -> [u8; COUNTER_LEN] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; COUNTER_LEN];
    for (i, digit) in out.iter_mut().enumerate() {
        *digit = DIGITS[((value >> (28 - 4 * i)) & 0xf) as usize];
    }
    out
}

/// The value of 8 lowercase hex digits, or `None` if any is not one.
pub(crate) fn parse_hex_u32(digits: &[u8; COUNTER_LEN]) -> Option<u32> {
    let mut value = 0u32;
    for &d in digits {
        let nibble = match d {
            b'0'..=b'9' => d - b'0',
            b'a'..=b'f' => d - b'a' + 10,
            _ => return None,
        };
        value = value << 4 | u32::from(nibble);
    }
    Some(value)
}

/// The offset of the first byte where `got` differs from `expected`.
/// Checks a piece of an incoming message against the one expected: its
/// kind, and that it stays within `size` bytes. Returns its start offset.
pub(crate) fn check_chunk(
    expected: DataKind,
    got: DataKind,
    size: usize,
    offset: u64,
    len: usize,
) -> Result<usize, ConnError> {
    if got != expected {
        return Err(ConnError::WrongKind { expected, got });
    }
    let end = offset.saturating_add(len as u64);
    if end > size as u64 {
        return Err(ConnError::WrongLength {
            expected: size as u64,
            got: end,
        });
    }
    Ok(offset as usize)
}

pub(crate) fn first_difference(expected: &[u8], got: &[u8]) -> usize {
    expected
        .iter()
        .zip(got)
        .position(|(a, b)| a != b)
        .unwrap_or(expected.len().min(got.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_patterns_are_ascii_and_binary_ones_use_every_byte() {
        assert!(
            pattern(10_000, true)
                .iter()
                .all(u8::is_ascii_graphic_or_space)
        );
        let binary = pattern(65_536, false);
        let mut seen = [false; 256];
        for &b in binary.iter() {
            seen[usize::from(b)] = true;
        }
        assert!(seen.iter().all(|&s| s));
    }

    trait GraphicOrSpace {
        fn is_ascii_graphic_or_space(&self) -> bool;
    }
    impl GraphicOrSpace for u8 {
        fn is_ascii_graphic_or_space(&self) -> bool {
            self.is_ascii_graphic() || *self == b' '
        }
    }

    #[test]
    fn hex_counters_round_trip() {
        for v in [0, 1, 0xdead_beef, u32::MAX] {
            assert_eq!(parse_hex_u32(&hex_u32(v)), Some(v));
        }
        assert_eq!(&hex_u32(0x0123_abcd), b"0123abcd");
        assert_eq!(parse_hex_u32(b"0123ABCD"), None, "uppercase is not ours");
        assert_eq!(parse_hex_u32(b"0123abc "), None);
    }

    #[test]
    fn first_difference_points_at_the_byte() {
        assert_eq!(first_difference(b"abcd", b"abxd"), 2);
        assert_eq!(first_difference(b"abcd", b"abcd"), 4);
        assert_eq!(first_difference(b"abcd", b"ab"), 2);
    }
}
