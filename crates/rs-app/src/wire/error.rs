//! Why a ring message could not be read or written.

use std::error::Error;
use std::fmt;

use super::InboundKind;
use crate::abi::{TARGET_EVERY, TARGET_EVERY_EXCEPT_SINGLE, TARGET_SINGLE};

/// Why a ring message could not be read or written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WireError {
    /// The message ends before its header (or its id array) does.
    TooShort {
        /// The bytes needed.
        needed: usize,
        /// The bytes there are.
        len: usize,
    },
    /// A writer was given a buffer of the wrong size.
    WrongBufferLength {
        /// The message's exact size.
        expected: usize,
        /// The buffer's size.
        len: usize,
    },
    /// An inbound kind byte other than 1 (open), 2 (read) or 3 (close).
    UnknownKind(u8),
    /// A data kind other than `DATA_BIN`/`DATA_UTF8` on a read, or not 0 on
    /// an open or close.
    BadDataKind {
        /// The message kind.
        kind: InboundKind,
        /// The data kind found.
        data_kind: u8,
    },
    /// A client id whose generation bits are 0 (0 included).
    BadClientId(u64),
    /// A peer address version other than 4 or 6.
    BadAddressVersion(u8),
    /// An open or close message with payload bytes, or a close frame's
    /// with other than a 2-byte status code.
    UnexpectedPayload {
        /// The message kind.
        kind: InboundKind,
        /// The payload's length.
        len: usize,
    },
    /// A reserved byte (or an address byte IPv4 does not use) is not 0.
    NonZeroPadding {
        /// Its offset from the start of the message.
        offset: usize,
    },
    /// A target byte that is no `abi::TARGET_*` value.
    UnknownTarget(u8),
    /// `abi::TARGET_CUR` or `abi::TARGET_EVERY_EXCEPT_CUR`, which must be
    /// resolved to a single target before writing.
    UnresolvedTarget(u8),
    /// An id count the target does not take.
    WrongIdCount {
        /// The target.
        target: u8,
        /// The number of ids.
        count: usize,
    },
    /// Outbound flag bits other than
    /// [`FLAG_CLOSE_AFTER`](super::FLAG_CLOSE_AFTER) and
    /// [`FLAG_LENT`](super::FLAG_LENT).
    UnknownFlags(u8),
    /// A message with [`FLAG_LENT`](super::FLAG_LENT) that is not a
    /// non-closing frame header for exactly one client (`TARGET_SINGLE`)
    /// after a lent payload's address and length.
    MalformedLent,
    /// A join record ([`TARGET_JOIN`](super::TARGET_JOIN)) with flags or
    /// frame bytes.
    MalformedJoin,
    /// An outbound message without frame bytes.
    EmptyFrame,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            WireError::TooShort { needed, len } => {
                write!(
                    f,
                    "ring message too short: {len} bytes, at least {needed} needed"
                )
            }
            WireError::WrongBufferLength { expected, len } => {
                write!(
                    f,
                    "buffer of {len} bytes for a ring message of exactly {expected}"
                )
            }
            WireError::UnknownKind(kind) => write!(f, "unknown inbound message kind {kind}"),
            WireError::BadDataKind { kind, data_kind } => {
                write!(
                    f,
                    "data kind {data_kind} is invalid on an inbound {kind} message"
                )
            }
            WireError::BadClientId(raw) => {
                write!(f, "invalid client id {raw}: its generation bits are 0")
            }
            WireError::BadAddressVersion(version) => {
                write!(f, "peer address version {version}, expected 4 or 6")
            }
            WireError::UnexpectedPayload { kind, len } => {
                write!(
                    f,
                    "{kind} message with a {len}-byte payload; only reads and opens carry \
                     any, and close frames 0 or 2 to 125 bytes (a close frame's payload)"
                )
            }
            WireError::NonZeroPadding { offset } => {
                write!(f, "reserved byte at offset {offset} is not 0")
            }
            WireError::UnknownTarget(target) => write!(f, "unknown send target {target}"),
            WireError::UnresolvedTarget(target) => write!(
                f,
                "send target {target} names the current client and must be resolved to its id first"
            ),
            WireError::WrongIdCount { target, count } => {
                let takes = match target {
                    TARGET_SINGLE | TARGET_EVERY_EXCEPT_SINGLE => "exactly 1 client id",
                    TARGET_EVERY => "no client ids",
                    _ => "at most 4294967295 client ids",
                };
                write!(f, "send target {target} takes {takes}, not {count}")
            }
            WireError::UnknownFlags(flags) => write!(f, "unknown outbound flags {flags:#04x}"),
            WireError::MalformedLent => f.write_str(
                "an outbound message with a lent payload must be a non-closing frame header for one client after the payload's address and length",
            ),
            WireError::MalformedJoin => {
                f.write_str("a join record must hold one client id and nothing else")
            }
            WireError::EmptyFrame => f.write_str("outbound message without a frame"),
        }
    }
}

impl Error for WireError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_display_what_is_wrong() {
        let cases = [
            (
                WireError::TooShort { needed: 32, len: 3 },
                "ring message too short: 3 bytes, at least 32 needed",
            ),
            (
                WireError::WrongBufferLength {
                    expected: 35,
                    len: 34,
                },
                "buffer of 34 bytes for a ring message of exactly 35",
            ),
            (WireError::UnknownKind(9), "unknown inbound message kind 9"),
            (
                WireError::BadDataKind {
                    kind: InboundKind::Open,
                    data_kind: 1,
                },
                "data kind 1 is invalid on an inbound open message",
            ),
            (
                WireError::BadClientId(0),
                "invalid client id 0: its generation bits are 0",
            ),
            (
                WireError::BadAddressVersion(5),
                "peer address version 5, expected 4 or 6",
            ),
            (
                WireError::UnexpectedPayload {
                    kind: InboundKind::Close,
                    len: 2,
                },
                "close message with a 2-byte payload; only reads and opens carry any, and close \
                 frames 0 or 2 to 125 bytes (a close frame's payload)",
            ),
            (
                WireError::NonZeroPadding { offset: 7 },
                "reserved byte at offset 7 is not 0",
            ),
            (WireError::UnknownTarget(0), "unknown send target 0"),
            (
                WireError::UnresolvedTarget(3),
                "send target 3 names the current client and must be resolved to its id first",
            ),
            (
                WireError::WrongIdCount {
                    target: TARGET_SINGLE,
                    count: 2,
                },
                "send target 1 takes exactly 1 client id, not 2",
            ),
            (
                WireError::WrongIdCount {
                    target: TARGET_EVERY,
                    count: 2,
                },
                "send target 4 takes no client ids, not 2",
            ),
            (WireError::UnknownFlags(0x82), "unknown outbound flags 0x82"),
            (WireError::EmptyFrame, "outbound message without a frame"),
        ];
        for (error, text) in cases {
            assert_eq!(error.to_string(), text);
        }
    }
}
