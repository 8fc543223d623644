//! The catalogue of cases, one module per category.

mod close;
mod fragmentation;
mod framing;
mod limits;
mod opcodes;
mod pings;
mod rsv;
mod utf8;

use crate::case::Case;

/// What the catalogue needs to know about the server under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// The server's largest message (its `max_ws_msg_size`); the limits
    /// cases send messages of exactly this size and one byte more.
    pub max_message_size: usize,
}

impl Default for Settings {
    /// RingSocket's default: 16 MiB.
    fn default() -> Self {
        Self {
            max_message_size: 16 << 20,
        }
    }
}

/// Every case, in table order.
///
/// ```
/// use rs_conformance::cases::{all, Settings};
///
/// let cases = all(&Settings::default());
/// assert!(cases.len() >= 300);
/// assert!(cases.iter().any(|c| c.id == "utf8.invalid.surrogate-d800.fail-fast"));
/// ```
pub fn all(settings: &Settings) -> Vec<Case> {
    let mut cases = Vec::new();
    framing::add(&mut cases);
    pings::add(&mut cases);
    rsv::add(&mut cases);
    opcodes::add(&mut cases);
    fragmentation::add(&mut cases);
    utf8::add(&mut cases);
    close::add(&mut cases);
    limits::add(&mut cases, settings);
    cases
}

/// Valid UTF-8 of exactly `len` bytes, mixing 1- to 4-byte sequences so
/// that chunk and fragment boundaries fall inside code points.
pub fn text_payload(len: usize) -> Vec<u8> {
    const PATTERN: &str = "Hello-µ@ßöäüàá-UTF-8!! κόσμε € 𝄞 ";
    let mut out = Vec::with_capacity(len);
    while out.len() + PATTERN.len() <= len {
        out.extend_from_slice(PATTERN.as_bytes());
    }
    for c in PATTERN.chars() {
        if out.len() + c.len_utf8() > len {
            break;
        }
        out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
    }
    out.resize(len, b'*');
    out
}

/// `len` bytes covering every byte value.
pub fn binary_payload(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i.wrapping_mul(131) ^ (i >> 8)) as u8)
        .collect()
}

/// Splits `payload` into `n` pieces of (almost) equal size, empty pieces
/// allowed when `n` exceeds the length.
pub fn split_even(payload: &[u8], n: usize) -> Vec<Vec<u8>> {
    let n = n.max(1);
    (0..n)
        .map(|i| payload[payload.len() * i / n..payload.len() * (i + 1) / n].to_vec())
        .collect()
}

/// The frames of a message sent in `pieces` fragments: the first with
/// `opcode`, the rest continuations, FIN on the last.
pub fn fragments(opcode: u8, pieces: Vec<Vec<u8>>) -> Vec<crate::Frame> {
    let count = pieces.len();
    pieces
        .into_iter()
        .enumerate()
        .map(|(i, piece)| {
            let op = if i == 0 {
                opcode
            } else {
                crate::frame::opcode::CONTINUATION
            };
            crate::Frame::new(op, piece).fin(i + 1 == count)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn payload_helpers_give_exact_sizes() {
        for len in [0, 1, 2, 3, 4, 5, 125, 126, 65536, 100_003] {
            let text = text_payload(len);
            assert_eq!(text.len(), len);
            assert!(std::str::from_utf8(&text).is_ok());
            assert_eq!(binary_payload(len).len(), len);
        }
        let pieces = split_even(b"abcdefg", 3);
        assert_eq!(pieces.concat(), b"abcdefg");
        assert_eq!(pieces.len(), 3);
        assert_eq!(split_even(b"ab", 4).len(), 4);
    }

    #[test]
    fn ids_are_unique_and_prefixed_by_their_category() {
        let cases = all(&Settings::default());
        let mut seen = HashSet::new();
        for case in &cases {
            assert!(seen.insert(case.id.clone()), "duplicate id {}", case.id);
            assert!(
                case.id.starts_with(&format!("{}.", case.category.name())),
                "{} is not in {}",
                case.id,
                case.category
            );
            assert!(!case.expectation.is_empty() && !case.title.is_empty());
        }
    }

    #[test]
    fn the_catalogue_covers_every_category_with_enough_cases() {
        let cases = all(&Settings::default());
        assert!(cases.len() >= 300, "{} cases", cases.len());
        for category in crate::Category::ALL {
            assert!(
                cases.iter().filter(|c| c.category == category).count() >= 10,
                "{category}"
            );
        }
    }

    #[test]
    fn the_readmes_give_the_number_of_cases() {
        let count = format!("{} cases", all(&Settings::default()).len());
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        for readme in [root.join("README.md"), root.join("../README.md")] {
            let text = std::fs::read_to_string(&readme).unwrap();
            // Line breaks in the text are spaces for this purpose.
            let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
            assert!(
                text.contains(&count),
                "{} must say \"{count}\"",
                readme.display()
            );
        }
    }
}
