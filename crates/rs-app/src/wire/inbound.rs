//! Inbound messages (worker → app): the 32-byte header, the payload, an
//! open notice's details, and the peer address as apps get it.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use super::{ClientId, WireError};
use crate::abi::{DATA_BIN, DATA_UTF8, PeerAddr};

/// What an inbound message reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum InboundKind {
    /// The client completed its handshake. The payload says how (see
    /// [`OpenDetails`]).
    Open,
    /// The client sent a complete message (the payload).
    Read,
    /// The client's connection ended.
    Close,
    /// The client sent a close frame, or broke the protocol: the app's
    /// close callback runs (as for [`Close`](Self::Close)), then the app
    /// thread sends the client a close frame behind everything it sent the
    /// client before, which the worker writes and then closes the
    /// connection. The payload is that frame's payload: empty, or a status
    /// code (two bytes, big-endian; the client's, to answer its close
    /// frame) and a UTF-8 reason of at most 123 bytes (the worker's, for a
    /// protocol error).
    CloseFrame,
}

impl InboundKind {
    const fn to_u8(self) -> u8 {
        match self {
            InboundKind::Open => 1,
            InboundKind::Read => 2,
            InboundKind::Close => 3,
            InboundKind::CloseFrame => 4,
        }
    }

    const fn from_u8(byte: u8) -> Option<InboundKind> {
        match byte {
            1 => Some(InboundKind::Open),
            2 => Some(InboundKind::Read),
            3 => Some(InboundKind::Close),
            4 => Some(InboundKind::CloseFrame),
            _ => None,
        }
    }
}

impl fmt::Display for InboundKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            InboundKind::Open => "open",
            InboundKind::Read => "read",
            InboundKind::Close => "close",
            InboundKind::CloseFrame => "close frame",
        })
    }
}

/// One inbound message (worker → app).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Inbound<'a> {
    /// Open, read or close.
    pub kind: InboundKind,
    /// The client.
    pub client: ClientId,
    /// The endpoint the client connected to.
    pub endpoint_id: u16,
    /// [`DATA_BIN`] or [`DATA_UTF8`] for a read, 0 otherwise.
    pub data_kind: u8,
    /// The client's address (an IPv6 flow label and scope id are not kept;
    /// see [`peer_addr`] and [`socket_addr`]).
    pub peer: PeerAddr,
    /// The message for a read (validated and unmasked); empty otherwise.
    pub payload: &'a [u8],
}

/// The size of an inbound message's header.
pub const INBOUND_HEADER_LEN: usize = 32;

/// What an open message's payload tells of the handshake: empty when the
/// handshake chose no subprotocol, the URL had no query (or an empty one)
/// and the request sent none of the endpoint's `app_headers`; otherwise
/// the subprotocol (one byte of length, 0 for none), the query (four bytes
/// of length, little-endian), then each header given to the app: its name
/// (one byte of length) and its value (four bytes of length).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpenDetails<'a> {
    /// The subprotocol the handshake chose (at most 255 bytes).
    pub subprotocol: Option<&'a str>,
    /// The request's query, without the `?`; `None` when absent or empty.
    pub query: Option<&'a str>,
    /// The request headers the app is given.
    pub headers: AppHeaders<'a>,
}

impl<'a> OpenDetails<'a> {
    /// Appends the payload describing a handshake to `out`: its
    /// `subprotocol`, `query` and the `headers` for the app, as (name,
    /// value) pairs.
    ///
    /// ```
    /// use rs_app::wire::OpenDetails;
    /// let mut payload = Vec::new();
    /// let cookie: (&str, &[u8]) = ("Cookie", b"session=42");
    /// OpenDetails::write(&mut payload, Some("chat.v1"), Some("room=3"), [cookie]);
    /// let details = OpenDetails::read(&payload).unwrap();
    /// assert_eq!(details.subprotocol, Some("chat.v1"));
    /// assert_eq!(details.query, Some("room=3"));
    /// assert_eq!(details.headers.get("cookie"), Some(&b"session=42"[..]));
    /// ```
    ///
    /// # Panics
    ///
    /// If the subprotocol or a header's name is longer than 255 bytes (no
    /// configured one is: `rs_conf::MAX_SUBPROTOCOL_LEN`,
    /// `rs_conf::MAX_APP_HEADER_LEN`), a header's name is empty, or the
    /// query or a value is 4 GiB (no request is:
    /// `rs_conf::defaults::MAX_MAX_HTTP_REQUEST_SIZE`).
    pub fn write<'h>(
        out: &mut Vec<u8>,
        subprotocol: Option<&str>,
        query: Option<&str>,
        headers: impl IntoIterator<Item = (&'h str, &'h [u8])>,
    ) {
        let start = out.len();
        let subprotocol = subprotocol.unwrap_or_default();
        let query = query.unwrap_or_default();
        push_part::<1>(out, subprotocol.as_bytes());
        push_part::<4>(out, query.as_bytes());
        let mut any_header = false;
        for (name, value) in headers {
            assert!(!name.is_empty(), "a header name is not empty");
            push_part::<1>(out, name.as_bytes());
            push_part::<4>(out, value);
            any_header = true;
        }
        if subprotocol.is_empty() && query.is_empty() && !any_header {
            out.truncate(start);
        }
    }

    /// Reads an open message's payload. `None` if it is not one
    /// [`write`](Self::write) makes.
    pub fn read(payload: &'a [u8]) -> Option<Self> {
        if payload.is_empty() {
            return Some(Self::default());
        }
        // Empty: none; otherwise UTF-8 or not made by `write`.
        let text = |bytes: &'a [u8]| -> Option<Option<&'a str>> {
            if bytes.is_empty() {
                Some(None)
            } else {
                std::str::from_utf8(bytes).ok().map(Some)
            }
        };
        let (subprotocol, rest) = split_part::<1>(payload)?;
        let (query, headers) = split_part::<4>(rest)?;
        Some(Self {
            subprotocol: text(subprotocol)?,
            query: text(query)?,
            headers: AppHeaders::from_bytes(headers)?,
        })
    }
}

/// The request headers an app is given in its open callback (its
/// endpoint's `app_headers` that the request sent), as [`OpenDetails`]
/// carries them. Its `Debug` shows the names only: values such as cookies
/// are secrets.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct AppHeaders<'a>(&'a [u8]);

impl<'a> AppHeaders<'a> {
    /// The headers part of an [`OpenDetails`] that was read, given back by
    /// [`as_bytes`](Self::as_bytes); `None` if `bytes` are not the headers
    /// part of what [`OpenDetails::write`] makes.
    pub fn from_bytes(bytes: &'a [u8]) -> Option<Self> {
        let mut rest = bytes;
        while !rest.is_empty() {
            (_, _, rest) = split_header(rest)?;
        }
        Some(Self(bytes))
    }

    /// The headers part as written, to be read again with
    /// [`from_bytes`](Self::from_bytes).
    pub fn as_bytes(&self) -> &'a [u8] {
        self.0
    }

    /// The value of the header `name` (ASCII case-insensitive), if given.
    pub fn get(&self, name: &str) -> Option<&'a [u8]> {
        self.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
    }

    /// Each header's name (as configured) and value.
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, &'a [u8])> + use<'a> {
        let mut rest = self.0;
        std::iter::from_fn(move || {
            // Checked by `from_bytes`: `None` only at the end.
            let (name, value, after) = split_header(rest)?;
            rest = after;
            Some((name, value))
        })
    }
}

impl std::fmt::Debug for AppHeaders<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.iter().map(|(name, _)| name))
            .finish()
    }
}

/// Splits the first header [`OpenDetails::write`] wrote off `bytes`: its
/// name (UTF-8, not empty), its value and what follows.
fn split_header(bytes: &[u8]) -> Option<(&str, &[u8], &[u8])> {
    let (name, rest) = split_part::<1>(bytes)?;
    let name = std::str::from_utf8(name).ok().filter(|n| !n.is_empty())?;
    let (value, rest) = split_part::<4>(rest)?;
    Some((name, value, rest))
}

/// Appends `bytes` behind their length in `N` little-endian bytes.
fn push_part<const N: usize>(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = u64::try_from(bytes.len()).expect("a length fits 64 bits");
    assert!(
        len < 1 << (8 * N),
        "{len} bytes do not fit a {N}-byte length"
    );
    out.extend_from_slice(&len.to_le_bytes()[..N]);
    out.extend_from_slice(bytes);
}

/// Splits the part [`push_part`] wrote off the front of `bytes`: the part
/// and what follows it.
fn split_part<const N: usize>(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, rest) = bytes.split_first_chunk::<N>()?;
    let mut le = [0; 8];
    le[..N].copy_from_slice(len);
    rest.split_at_checked(usize::try_from(u64::from_le_bytes(le)).ok()?)
}

/// The bytes an inbound message with `payload_len` bytes of payload takes
/// (saturating, so an impossible size never matches a real buffer).
pub const fn inbound_len(payload_len: usize) -> usize {
    INBOUND_HEADER_LEN.saturating_add(payload_len)
}

/// Writes `msg` into `buf`, which must be exactly
/// [`inbound_len`]`(msg.payload.len())` bytes (as reserved on the ring).
///
/// Errors: [`WireError::WrongBufferLength`], [`WireError::BadDataKind`],
/// [`WireError::UnexpectedPayload`]; `buf` is untouched then.
pub fn write_inbound(buf: &mut [u8], msg: &Inbound<'_>) -> Result<(), WireError> {
    let expected = inbound_len(msg.payload.len());
    if buf.len() != expected {
        return Err(WireError::WrongBufferLength {
            expected,
            len: buf.len(),
        });
    }
    write_inbound_header(buf, msg)?.copy_from_slice(msg.payload);
    Ok(())
}

/// Writes the header of `msg` into `buf` (at least [`INBOUND_HEADER_LEN`]
/// bytes) and returns the rest of `buf`, the payload's place, for the caller
/// to fill: for a payload produced straight into the ring, such as one
/// unmasked while it is copied. `msg.payload` itself is ignored.
///
/// ```
/// use rs_app::wire::{self, ClientId, Inbound, InboundKind};
/// # let peer = wire::peer_addr("127.0.0.1:9".parse().unwrap());
/// let message = Inbound {
///     kind: InboundKind::Read,
///     client: ClientId::new(0, 1, 1).unwrap(),
///     endpoint_id: 0,
///     data_kind: rs_app::abi::DATA_BIN,
///     peer,
///     payload: &[],
/// };
/// let mut buf = vec![0; wire::inbound_len(2)];
/// wire::write_inbound_header(&mut buf, &message)?.copy_from_slice(b"hi");
/// assert_eq!(wire::read_inbound(&buf)?.payload, b"hi");
/// # Ok::<(), wire::WireError>(())
/// ```
///
/// Errors: [`WireError::TooShort`], [`WireError::BadDataKind`],
/// [`WireError::UnexpectedPayload`] (for a payload's place that is not
/// empty); `buf` is untouched then.
pub fn write_inbound_header<'b>(
    buf: &'b mut [u8],
    msg: &Inbound<'_>,
) -> Result<&'b mut [u8], WireError> {
    check_data_kind(msg.kind, msg.data_kind)?;
    let len = buf.len();
    let Some((header, payload)) = buf.split_first_chunk_mut::<INBOUND_HEADER_LEN>() else {
        return Err(WireError::TooShort {
            needed: INBOUND_HEADER_LEN,
            len,
        });
    };
    check_payload(msg.kind, payload)?;
    let peer = &msg.peer;
    // Readers check it; a wrong one here is a bug in the writer.
    debug_assert!(
        peer.version == 4 || peer.version == 6,
        "peer address version {}",
        peer.version
    );
    header[0] = msg.kind.to_u8();
    header[1] = msg.data_kind;
    header[2..4].copy_from_slice(&msg.endpoint_id.to_ne_bytes());
    header[4..6].copy_from_slice(&peer.port.to_ne_bytes());
    header[6] = peer.version;
    header[7] = 0;
    header[8..16].copy_from_slice(&msg.client.get().to_ne_bytes());
    header[16..32].copy_from_slice(&peer.ip);
    Ok(payload)
}

/// Reads an inbound message from the exact bytes the ring returned.
pub fn read_inbound(buf: &[u8]) -> Result<Inbound<'_>, WireError> {
    let Some((header, payload)) = buf.split_first_chunk::<INBOUND_HEADER_LEN>() else {
        return Err(WireError::TooShort {
            needed: INBOUND_HEADER_LEN,
            len: buf.len(),
        });
    };
    let [
        kind,
        data_kind,
        e0,
        e1,
        p0,
        p1,
        version,
        reserved,
        c0,
        c1,
        c2,
        c3,
        c4,
        c5,
        c6,
        c7,
        ip @ ..,
    ] = *header;
    let kind = InboundKind::from_u8(kind).ok_or(WireError::UnknownKind(kind))?;
    check_data_kind(kind, data_kind)?;
    if reserved != 0 {
        return Err(WireError::NonZeroPadding { offset: 7 });
    }
    let raw = u64::from_ne_bytes([c0, c1, c2, c3, c4, c5, c6, c7]);
    let client = ClientId::from_u64(raw).ok_or(WireError::BadClientId(raw))?;
    if version != 4 && version != 6 {
        return Err(WireError::BadAddressVersion(version));
    }
    let peer = PeerAddr {
        ip,
        port: u16::from_ne_bytes([p0, p1]),
        version,
        reserved: 0,
    };
    check_payload(kind, payload)?;
    Ok(Inbound {
        kind,
        client,
        endpoint_id: u16::from_ne_bytes([e0, e1]),
        data_kind,
        peer,
        payload,
    })
}

fn check_data_kind(kind: InboundKind, data_kind: u8) -> Result<(), WireError> {
    let valid = match kind {
        InboundKind::Read => data_kind == DATA_BIN || data_kind == DATA_UTF8,
        InboundKind::Open | InboundKind::Close | InboundKind::CloseFrame => data_kind == 0,
    };
    if valid {
        Ok(())
    } else {
        Err(WireError::BadDataKind { kind, data_kind })
    }
}

fn check_payload(kind: InboundKind, payload: &[u8]) -> Result<(), WireError> {
    let fits = match kind {
        InboundKind::Read | InboundKind::Open => true,
        InboundKind::CloseFrame => matches!(payload.len(), 0 | 2..=125),
        InboundKind::Close => payload.is_empty(),
    };
    if !fits {
        return Err(WireError::UnexpectedPayload {
            kind,
            len: payload.len(),
        });
    }
    Ok(())
}

/// `addr` as the ABI gives it to apps: IPv4 as IPv4 (first 4 bytes, the
/// rest zero), IPv6 as IPv6; the port in host byte order.
pub fn peer_addr(addr: SocketAddr) -> PeerAddr {
    let mut ip = [0; 16];
    let version = match addr {
        SocketAddr::V4(v4) => {
            ip[..4].copy_from_slice(&v4.ip().octets());
            4
        }
        SocketAddr::V6(v6) => {
            ip = v6.ip().octets();
            6
        }
    };
    PeerAddr {
        ip,
        port: addr.port(),
        version,
        reserved: 0,
    }
}

/// The socket address in an ABI [`PeerAddr`]; [`WireError::BadAddressVersion`]
/// unless its version is 4 or 6. Unused and reserved bytes are ignored.
pub fn socket_addr(peer: &PeerAddr) -> Result<SocketAddr, WireError> {
    match peer.version {
        4 => {
            let [a, b, c, d, ..] = peer.ip;
            Ok(SocketAddrV4::new(Ipv4Addr::new(a, b, c, d), peer.port).into())
        }
        6 => Ok(SocketAddrV6::new(Ipv6Addr::from(peer.ip), peer.port, 0, 0).into()),
        version => Err(WireError::BadAddressVersion(version)),
    }
}

impl fmt::Display for PeerAddr {
    /// As a socket address (`192.0.2.1:50000`, `[::1]:9`), for logs; an
    /// address of no known version as [`socket_addr`]'s error says.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match socket_addr(self) {
            Ok(addr) => addr.fmt(f),
            Err(error) => error.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::testing::{addr, any_client, id};
    use crate::wire::{MAX_GENERATION, MAX_SLOTS, MAX_WORKERS};
    use proptest::prelude::*;

    const V4: &str = "192.0.2.1:50000";

    fn inbound(kind: InboundKind, data_kind: u8, payload: &[u8]) -> Inbound<'_> {
        Inbound {
            kind,
            client: id(1, 2, 3),
            endpoint_id: 513,
            data_kind,
            peer: addr(V4),
            payload,
        }
    }

    fn encode_in(msg: &Inbound<'_>) -> Vec<u8> {
        let mut buf = vec![0; inbound_len(msg.payload.len())];
        write_inbound(&mut buf, msg).expect("write");
        buf
    }

    fn any_peer() -> impl Strategy<Value = PeerAddr> {
        prop_oneof![
            (any::<[u8; 4]>(), any::<u16>()).prop_map(|(ip, port)| SocketAddr::from((ip, port))),
            (any::<[u8; 16]>(), any::<u16>()).prop_map(|(ip, port)| SocketAddr::from((ip, port))),
        ]
        .prop_map(peer_addr)
    }

    fn any_kind() -> impl Strategy<Value = (InboundKind, u8)> {
        prop_oneof![
            Just((InboundKind::Open, 0)),
            Just((InboundKind::Close, 0)),
            Just((InboundKind::Read, DATA_BIN)),
            Just((InboundKind::Read, DATA_UTF8)),
        ]
    }

    #[test]
    fn inbound_len_adds_header() {
        assert_eq!(INBOUND_HEADER_LEN, 32);
        assert_eq!(inbound_len(0), 32);
        assert_eq!(inbound_len(5), 37);
        assert_eq!(inbound_len(usize::MAX), usize::MAX);
    }

    #[test]
    fn inbound_layout_is_as_documented() {
        let msg = Inbound {
            peer: addr("[2001:db8::1]:443"),
            ..inbound(InboundKind::Read, DATA_UTF8, b"ab")
        };
        let buf = encode_in(&msg);
        let mut expected = vec![2, DATA_UTF8];
        expected.extend(513u16.to_ne_bytes());
        expected.extend(443u16.to_ne_bytes());
        expected.extend([6, 0]);
        expected.extend(id(1, 2, 3).get().to_ne_bytes());
        expected.extend([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        expected.extend(b"ab");
        assert_eq!(buf, expected);
    }

    #[test]
    fn inbound_v4_address_uses_first_four_bytes() {
        let buf = encode_in(&inbound(InboundKind::Open, 0, b""));
        assert_eq!(buf.len(), 32);
        assert_eq!(buf[0], 1);
        assert_eq!(buf[6], 4);
        assert_eq!(
            &buf[16..32],
            &[192, 0, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        );
    }

    #[test]
    fn inbound_open_round_trips() {
        let msg = inbound(InboundKind::Open, 0, b"");
        assert_eq!(read_inbound(&encode_in(&msg)), Ok(msg));
    }

    #[test]
    fn inbound_close_round_trips() {
        let msg = inbound(InboundKind::Close, 0, b"");
        assert_eq!(read_inbound(&encode_in(&msg)), Ok(msg));
    }

    #[test]
    fn inbound_close_frame_round_trips_with_or_without_status_code_and_reason() {
        let longest = [&1002u16.to_be_bytes()[..], &[b'r'; 123]].concat();
        for status in [&[][..], &1000u16.to_be_bytes(), &longest] {
            let msg = inbound(InboundKind::CloseFrame, 0, status);
            assert_eq!(read_inbound(&encode_in(&msg)), Ok(msg));
        }
    }

    #[test]
    fn a_close_frame_notice_carries_a_close_frames_payload() {
        for len in [1, 126, 1000] {
            let payload = vec![3; len];
            let msg = inbound(InboundKind::CloseFrame, 0, &payload);
            let mut buf = vec![0; inbound_len(len)];
            let refused = WireError::UnexpectedPayload {
                kind: InboundKind::CloseFrame,
                len,
            };
            assert_eq!(write_inbound(&mut buf, &msg), Err(refused));
            let mut buf = encode_in(&inbound(InboundKind::CloseFrame, 0, b""));
            buf.extend(&payload);
            assert_eq!(read_inbound(&buf), Err(refused));
        }
        let refused = WireError::UnexpectedPayload {
            kind: InboundKind::CloseFrame,
            len: 126,
        };
        assert_eq!(
            refused.to_string(),
            "close frame message with a 126-byte payload; only reads and opens carry any, and \
             close frames 0 or 2 to 125 bytes (a close frame's payload)"
        );
    }

    #[test]
    fn inbound_read_binary_round_trips() {
        let msg = inbound(InboundKind::Read, DATA_BIN, &[0, 1, 2, 255]);
        assert_eq!(read_inbound(&encode_in(&msg)), Ok(msg));
    }

    #[test]
    fn inbound_read_text_round_trips() {
        let msg = inbound(InboundKind::Read, DATA_UTF8, "héllo".as_bytes());
        assert_eq!(read_inbound(&encode_in(&msg)), Ok(msg));
    }

    #[test]
    fn inbound_read_empty_payload_round_trips() {
        for data_kind in [DATA_BIN, DATA_UTF8] {
            let msg = inbound(InboundKind::Read, data_kind, b"");
            assert_eq!(read_inbound(&encode_in(&msg)), Ok(msg));
        }
    }

    #[test]
    fn inbound_v6_and_v4_mapped_stay_v6() {
        for text in ["[2001:db8::1]:1", "[::ffff:192.0.2.1]:65535", "[::]:0"] {
            let msg = Inbound {
                peer: addr(text),
                ..inbound(InboundKind::Open, 0, b"")
            };
            let buf = encode_in(&msg);
            let read = read_inbound(&buf).expect("read");
            assert!(socket_addr(&read.peer).expect("valid").is_ipv6(), "{text}");
            assert_eq!(read, msg);
        }
    }

    #[test]
    fn inbound_drops_v6_scope_and_flow() {
        let peer = SocketAddrV6::new(Ipv6Addr::LOCALHOST, 80, 7, 3);
        let msg = Inbound {
            peer: peer_addr(peer.into()),
            ..inbound(InboundKind::Open, 0, b"")
        };
        let buf = encode_in(&msg);
        let read = read_inbound(&buf).expect("read");
        assert_eq!(
            socket_addr(&read.peer),
            Ok(SocketAddr::from(SocketAddrV6::new(
                Ipv6Addr::LOCALHOST,
                80,
                0,
                0
            )))
        );
    }

    #[test]
    fn inbound_max_ids_and_endpoint_round_trip() {
        let msg = Inbound {
            client: id(MAX_WORKERS - 1, MAX_SLOTS - 1, MAX_GENERATION),
            endpoint_id: u16::MAX,
            ..inbound(InboundKind::Read, DATA_BIN, b"x")
        };
        assert_eq!(read_inbound(&encode_in(&msg)), Ok(msg));
    }

    #[test]
    fn peer_addr_matches_abi() {
        let v4 = peer_addr(V4.parse().expect("address"));
        assert_eq!(v4.version, 4);
        assert_eq!(v4.port, 50000);
        assert_eq!(v4.ip[..4], [192, 0, 2, 1]);
        assert_eq!(v4.ip[4..], [0; 12]);
        assert_eq!(socket_addr(&v4), Ok(V4.parse().expect("address")));
    }

    #[test]
    fn inbound_write_refuses_wrong_length() {
        let msg = inbound(InboundKind::Read, DATA_BIN, b"abc");
        for len in [0, 34, 36] {
            let mut buf = vec![0xEE; len];
            assert_eq!(
                write_inbound(&mut buf, &msg),
                Err(WireError::WrongBufferLength { expected: 35, len })
            );
            assert!(buf.iter().all(|&b| b == 0xEE));
        }
    }

    #[test]
    fn inbound_write_refuses_payload_on_close() {
        let msg = inbound(InboundKind::Close, 0, b"xy");
        let mut buf = vec![0; 34];
        assert_eq!(
            write_inbound(&mut buf, &msg),
            Err(WireError::UnexpectedPayload {
                kind: InboundKind::Close,
                len: 2
            })
        );
    }

    /// The payload `OpenDetails::write` makes.
    fn details_payload(
        subprotocol: Option<&str>,
        query: Option<&str>,
        headers: &[(&str, &[u8])],
    ) -> Vec<u8> {
        let mut payload = Vec::new();
        OpenDetails::write(&mut payload, subprotocol, query, headers.iter().copied());
        payload
    }

    #[test]
    fn an_open_message_carries_the_subprotocol_query_and_headers() {
        let payload = details_payload(
            Some("chat.v2"),
            Some("token=a%20b&x"),
            &[("Cookie", b"a=1; b=2"), ("X-Empty", b"")],
        );
        assert_eq!(
            payload,
            b"\x07chat.v2\x0d\0\0\0token=a%20b&x\
              \x06Cookie\x08\0\0\0a=1; b=2\x07X-Empty\0\0\0\0"
        );
        let msg = inbound(InboundKind::Open, 0, &payload);
        let buf = encode_in(&msg);
        assert_eq!(buf.len(), 32 + payload.len());
        let read = read_inbound(&buf).unwrap();
        assert_eq!(read, msg);
        let details = OpenDetails::read(read.payload).unwrap();
        assert_eq!(details.subprotocol, Some("chat.v2"));
        assert_eq!(details.query, Some("token=a%20b&x"));
        assert_eq!(
            details.headers.iter().collect::<Vec<_>>(),
            [("Cookie", &b"a=1; b=2"[..]), ("X-Empty", &b""[..])]
        );
        // By name in any case; sent but empty is not absent.
        assert_eq!(details.headers.get("COOKIE"), Some(&b"a=1; b=2"[..]));
        assert_eq!(details.headers.get("x-empty"), Some(&b""[..]));
        assert_eq!(details.headers.get("Origin"), None);
        let bytes = details.headers.as_bytes();
        assert_eq!(AppHeaders::from_bytes(bytes), Some(details.headers));
        // Debug shows the names, not the values.
        let shown = format!("{details:?}");
        assert!(
            shown.contains(r#"headers: ["Cookie", "X-Empty"]"#),
            "{shown}"
        );
        assert!(!shown.contains("a=1"), "{shown}");
    }

    #[test]
    fn open_details_carry_a_subprotocol_and_a_header_name_of_255_bytes() {
        let name = "x".repeat(255);
        let payload = details_payload(Some(&name), Some("q"), &[(&name, b"v")]);
        assert_eq!(payload.len(), 1 + 255 + 4 + 1 + 1 + 255 + 4 + 1);
        let details = OpenDetails::read(&payload).unwrap();
        assert_eq!(details.subprotocol, Some(&name[..]));
        assert_eq!(details.headers.get(&name), Some(&b"v"[..]));
    }

    #[test]
    fn open_details_round_trip_and_stay_empty_when_there_are_none() {
        type Headers<'a> = &'a [(&'a str, &'a [u8])];
        let cases: [(Option<&str>, Option<&str>, Headers<'_>); 4] = [
            (None, None, &[]),
            (Some("v1"), None, &[]),
            (None, Some("a=1"), &[]),
            (None, None, &[("Cookie", b"")]),
        ];
        for (subprotocol, query, headers) in cases {
            let payload = details_payload(subprotocol, query, headers);
            assert_eq!(
                payload.is_empty(),
                subprotocol.is_none() && query.is_none() && headers.is_empty()
            );
            let details = OpenDetails::read(&payload).unwrap();
            assert_eq!(details.subprotocol, subprotocol);
            assert_eq!(details.query, query);
            assert_eq!(details.headers.iter().collect::<Vec<_>>(), headers);
        }
        // An empty query is no query.
        assert!(details_payload(None, Some(""), &[]).is_empty());
        // Written after other bytes: only appended.
        let mut payload = b"before".to_vec();
        OpenDetails::write(&mut payload, None, None, []);
        assert_eq!(payload, b"before");
    }

    #[test]
    fn open_details_not_made_by_write_are_refused() {
        for payload in [
            &b"\x05ab"[..],                  // a length past the end
            b"\x01\xff\0\0\0\0",             // a subprotocol not UTF-8
            b"\x00\x01\0\0\0\xff",           // a query not UTF-8
            b"\x00\x00\0\0",                 // a query length cut short
            b"\x00\0\0\0\0\x01",             // a header name past the end
            b"\x00\0\0\0\0\x00\0\0\0\0",     // an empty header name
            b"\x00\0\0\0\0\x01\xff\0\0\0\0", // a header name not UTF-8
            b"\x00\0\0\0\0\x01a\x02\0\0\0x", // a value past the end
        ] {
            assert_eq!(OpenDetails::read(payload), None, "{payload:?}");
        }
        assert_eq!(AppHeaders::from_bytes(b"\x01a"), None);
    }

    #[test]
    fn inbound_write_refuses_bad_data_kind() {
        let mut buf = vec![0; 32];
        let msg = inbound(InboundKind::Read, 0, b"");
        assert_eq!(
            write_inbound(&mut buf, &msg),
            Err(WireError::BadDataKind {
                kind: InboundKind::Read,
                data_kind: 0
            })
        );
        let msg = inbound(InboundKind::Open, DATA_BIN, b"");
        assert_eq!(
            write_inbound(&mut buf, &msg),
            Err(WireError::BadDataKind {
                kind: InboundKind::Open,
                data_kind: DATA_BIN
            })
        );
    }

    #[test]
    fn inbound_read_too_short() {
        let buf = encode_in(&inbound(InboundKind::Open, 0, b""));
        assert_eq!(
            read_inbound(&buf[..31]),
            Err(WireError::TooShort {
                needed: 32,
                len: 31
            })
        );
        assert_eq!(
            read_inbound(&[]),
            Err(WireError::TooShort { needed: 32, len: 0 })
        );
    }

    #[test]
    fn inbound_read_unknown_kind() {
        for kind in [0, 5, 255] {
            let mut buf = encode_in(&inbound(InboundKind::Open, 0, b""));
            buf[0] = kind;
            assert_eq!(read_inbound(&buf), Err(WireError::UnknownKind(kind)));
        }
    }

    #[test]
    fn inbound_read_bad_data_kind() {
        let mut buf = encode_in(&inbound(InboundKind::Read, DATA_BIN, b"a"));
        buf[1] = 3;
        assert_eq!(
            read_inbound(&buf),
            Err(WireError::BadDataKind {
                kind: InboundKind::Read,
                data_kind: 3
            })
        );
        let mut buf = encode_in(&inbound(InboundKind::Close, 0, b""));
        buf[1] = DATA_UTF8;
        assert_eq!(
            read_inbound(&buf),
            Err(WireError::BadDataKind {
                kind: InboundKind::Close,
                data_kind: DATA_UTF8
            })
        );
    }

    #[test]
    fn inbound_read_reserved_byte() {
        let mut buf = encode_in(&inbound(InboundKind::Open, 0, b""));
        buf[7] = 1;
        assert_eq!(
            read_inbound(&buf),
            Err(WireError::NonZeroPadding { offset: 7 })
        );
    }

    #[test]
    fn inbound_read_ignores_the_bytes_an_ipv4_address_leaves_unused() {
        let mut buf = encode_in(&inbound(InboundKind::Open, 0, b""));
        buf[25] = 9;
        let read = read_inbound(&buf).expect("read");
        assert_eq!(socket_addr(&read.peer), Ok(V4.parse().expect("address")));
    }

    #[test]
    fn inbound_read_bad_client_id() {
        let mut buf = encode_in(&inbound(InboundKind::Open, 0, b""));
        buf[8..16].copy_from_slice(&0u64.to_ne_bytes());
        assert_eq!(read_inbound(&buf), Err(WireError::BadClientId(0)));
        buf[8..16].copy_from_slice(&(5u64 << 32).to_ne_bytes());
        assert_eq!(read_inbound(&buf), Err(WireError::BadClientId(5 << 32)));
    }

    #[test]
    fn inbound_read_bad_address_version() {
        for version in [0, 5, 46] {
            let mut buf = encode_in(&inbound(InboundKind::Open, 0, b""));
            buf[6] = version;
            assert_eq!(
                read_inbound(&buf),
                Err(WireError::BadAddressVersion(version))
            );
        }
    }

    #[test]
    fn inbound_read_payload_on_close() {
        let mut buf = encode_in(&inbound(InboundKind::Close, 0, b""));
        buf.push(0);
        assert_eq!(
            read_inbound(&buf),
            Err(WireError::UnexpectedPayload {
                kind: InboundKind::Close,
                len: 1
            })
        );
    }

    proptest! {
        #[test]
        fn read_inbound_never_panics(buf in proptest::collection::vec(any::<u8>(), 0..96)) {
            let _ = read_inbound(&buf);
        }

        #[test]
        fn inbound_round_trips(
            (kind, data_kind) in any_kind(),
            client in any_client(),
            endpoint_id in any::<u16>(),
            peer in any_peer(),
            payload in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let payload = if kind == InboundKind::Read { &payload[..] } else { &[][..] };
            let msg = Inbound { kind, client, endpoint_id, data_kind, peer, payload };
            let buf = encode_in(&msg);
            prop_assert_eq!(buf.len(), inbound_len(payload.len()));
            prop_assert_eq!(read_inbound(&buf), Ok(msg));
        }
    }
}
