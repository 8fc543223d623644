//! UTF-8 validation of text that arrives in pieces.

/// Validates a UTF-8 byte stream fed piece by piece, so that an invalid
/// sequence is reported by the piece that contains it, while a code point
/// split across two pieces stays valid.
///
/// At most three bytes (an incomplete code point) are carried between pieces.
#[derive(Clone, Debug, Default)]
pub(crate) struct Utf8Stream {
    pending: [u8; 4],
    pending_len: u8,
}

/// The stream can never become valid UTF-8.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct InvalidUtf8;

impl Utf8Stream {
    /// Validates the next piece of the stream.
    pub(crate) fn feed(&mut self, mut piece: &[u8]) -> Result<(), InvalidUtf8> {
        if self.pending_len > 0 {
            let have = usize::from(self.pending_len);
            let needed = sequence_len(self.pending[0]) - have;
            let take = needed.min(piece.len());
            self.pending[have..have + take].copy_from_slice(&piece[..take]);
            self.pending_len += take as u8;
            piece = &piece[take..];
            match simdutf8::compat::from_utf8(&self.pending[..usize::from(self.pending_len)]) {
                Ok(_) => self.pending_len = 0,
                // Still a valid prefix: the piece ran out before the code point ended.
                Err(e) if e.error_len().is_none() => return Ok(()),
                Err(_) => return Err(InvalidUtf8),
            }
        }
        match simdutf8::compat::from_utf8(piece) {
            Ok(_) => Ok(()),
            Err(e) if e.error_len().is_none() => {
                let rest = &piece[e.valid_up_to()..];
                self.pending[..rest.len()].copy_from_slice(rest);
                self.pending_len = rest.len() as u8;
                Ok(())
            }
            Err(_) => Err(InvalidUtf8),
        }
    }

    /// Ends the stream: an unfinished code point is invalid. Resets the
    /// stream for the next message either way.
    pub(crate) fn finish(&mut self) -> Result<(), InvalidUtf8> {
        let complete = self.pending_len == 0;
        self.pending_len = 0;
        if complete { Ok(()) } else { Err(InvalidUtf8) }
    }
}

/// The length of the sequence a valid lead byte starts. Only called on bytes
/// that simdutf8 reported as the start of a valid, incomplete sequence.
fn sequence_len(lead: u8) -> usize {
    match lead {
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        _ => 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validate_in_pieces(bytes: &[u8], splits: &[usize]) -> Result<(), InvalidUtf8> {
        let mut stream = Utf8Stream::default();
        let mut start = 0;
        for &end in splits.iter().chain(std::iter::once(&bytes.len())) {
            stream.feed(&bytes[start..end])?;
            start = end;
        }
        stream.finish()
    }

    #[test]
    fn a_code_point_split_at_every_position_is_valid() {
        let text = "a\u{7ff}b\u{ffff}c\u{10ffff}κόσμε";
        let bytes = text.as_bytes();
        for i in 0..=bytes.len() {
            for j in i..=bytes.len() {
                assert_eq!(validate_in_pieces(bytes, &[i, j]), Ok(()), "splits {i} {j}");
            }
        }
    }

    #[test]
    fn one_byte_at_a_time_is_valid() {
        let bytes = "€𝄞 Hello-µ@ßöäüàá-UTF-8!!".as_bytes();
        let splits: Vec<usize> = (1..bytes.len()).collect();
        assert_eq!(validate_in_pieces(bytes, &splits), Ok(()));
    }

    #[test]
    fn an_invalid_byte_fails_in_the_piece_that_holds_it() {
        let mut stream = Utf8Stream::default();
        assert_eq!(stream.feed(b"valid so far"), Ok(()));
        assert_eq!(
            stream.feed(b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80"),
            Err(InvalidUtf8)
        );
    }

    #[test]
    fn an_invalid_continuation_of_a_pending_prefix_fails_at_once() {
        // 0xE0 must be followed by 0xA0..=0xBF: 0x80 is an overlong form.
        let mut stream = Utf8Stream::default();
        assert_eq!(stream.feed(b"\xe0"), Ok(()));
        assert_eq!(stream.feed(b"\x80"), Err(InvalidUtf8));
        // A surrogate (U+D800) whose lead arrived in an earlier piece.
        let mut stream = Utf8Stream::default();
        assert_eq!(stream.feed(b"ok\xed"), Ok(()));
        assert_eq!(stream.feed(b"\xa0"), Err(InvalidUtf8));
    }

    #[test]
    fn bytes_that_can_never_start_a_sequence_fail_at_once() {
        for bad in [&b"\xff"[..], b"\xfe", b"\xc0", b"\xc1", b"\xf5", b"\x80"] {
            let mut stream = Utf8Stream::default();
            assert_eq!(stream.feed(bad), Err(InvalidUtf8), "{bad:x?}");
        }
        // Above U+10FFFF: F4 90 is never valid.
        let mut stream = Utf8Stream::default();
        assert_eq!(stream.feed(b"\xf4"), Ok(()));
        assert_eq!(stream.feed(b"\x90"), Err(InvalidUtf8));
    }

    #[test]
    fn a_truncated_sequence_at_the_end_fails_on_finish_and_resets() {
        let mut stream = Utf8Stream::default();
        assert_eq!(stream.feed(b"abc\xf0\x9f\x98"), Ok(()));
        assert_eq!(stream.finish(), Err(InvalidUtf8));
        assert_eq!(stream.feed(b"fresh"), Ok(()));
        assert_eq!(stream.finish(), Ok(()));
    }
}
