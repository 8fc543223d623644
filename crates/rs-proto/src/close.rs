//! Close status codes (RFC 6455 §7.4).

use std::fmt;

/// A close status code.
///
/// Any `u16` can be held; [`CloseCode::is_valid_on_wire`] says whether it may
/// appear in a close frame. Received close frames with other codes are
/// protocol errors, and a server must not send them either.
///
/// ```
/// use rs_proto::CloseCode;
/// assert!(CloseCode::NORMAL.is_valid_on_wire());
/// assert!(CloseCode::new(4000).is_valid_on_wire()); // private use
/// assert!(!CloseCode::NO_STATUS.is_valid_on_wire()); // 1005 is never sent
/// assert_eq!(u16::from(CloseCode::MESSAGE_TOO_BIG), 1009);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CloseCode(u16);

impl CloseCode {
    /// 1000: the purpose of the connection has been fulfilled.
    pub const NORMAL: Self = Self(1000);
    /// 1001: the server is going down or the client navigated away.
    pub const GOING_AWAY: Self = Self(1001);
    /// 1002: the peer broke the protocol.
    pub const PROTOCOL_ERROR: Self = Self(1002);
    /// 1003: a kind of data the endpoint cannot accept.
    pub const UNSUPPORTED_DATA: Self = Self(1003);
    /// 1005: reported locally when a close frame had no code; never sent.
    pub const NO_STATUS: Self = Self(1005);
    /// 1006: reported locally when the connection dropped; never sent.
    pub const ABNORMAL: Self = Self(1006);
    /// 1007: a text message (or close reason) was not valid UTF-8.
    pub const INVALID_PAYLOAD: Self = Self(1007);
    /// 1008: a message violated the endpoint's policy.
    pub const POLICY_VIOLATION: Self = Self(1008);
    /// 1009: a message was too big to process.
    pub const MESSAGE_TOO_BIG: Self = Self(1009);
    /// 1010: the client expected an extension the server did not negotiate.
    pub const MANDATORY_EXTENSION: Self = Self(1010);
    /// 1011: the server met an unexpected condition.
    pub const INTERNAL_ERROR: Self = Self(1011);
    /// 1012: the service is restarting (IANA registry).
    pub const SERVICE_RESTART: Self = Self(1012);
    /// 1013: try again later (IANA registry).
    pub const TRY_AGAIN_LATER: Self = Self(1013);
    /// 1014: bad gateway (IANA registry).
    pub const BAD_GATEWAY: Self = Self(1014);

    /// Wraps any code; see [`CloseCode::is_valid_on_wire`] for which are sendable.
    pub const fn new(code: u16) -> Self {
        Self(code)
    }

    /// The numeric code.
    pub const fn get(self) -> u16 {
        self.0
    }

    /// Whether the code may appear in a close frame: 1000-1003, 1007-1014
    /// (defined by RFC 6455 or registered with IANA) and 3000-4999 (libraries
    /// and applications). 0-999, 1004-1006, 1015-2999 and 5000+ may not.
    pub const fn is_valid_on_wire(self) -> bool {
        matches!(self.0, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }
}

impl From<CloseCode> for u16 {
    fn from(code: CloseCode) -> u16 {
        code.0
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_validity_matches_rfc_6455_and_the_iana_registry() {
        for code in 0..=u16::MAX {
            let expected = matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999);
            assert_eq!(
                CloseCode::new(code).is_valid_on_wire(),
                expected,
                "code {code}"
            );
        }
    }

    #[test]
    fn boundaries_of_each_range() {
        let valid = [1000, 1003, 1007, 1014, 3000, 4999];
        let invalid = [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, u16::MAX];
        assert!(valid.iter().all(|&c| CloseCode::new(c).is_valid_on_wire()));
        assert!(
            invalid
                .iter()
                .all(|&c| !CloseCode::new(c).is_valid_on_wire())
        );
    }
}
