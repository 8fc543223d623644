//! The messages on the rings between worker threads and app threads, and the
//! client id they carry.
//!
//! A ring hands out exactly-sized byte slices that are only 4-byte aligned,
//! so every field is read and written with `from_ne_bytes`/`to_ne_bytes`,
//! never by casting. Native byte order is right: both ends are threads of
//! the same process. Decoding checks every byte it gives meaning to and
//! never panics; writing refuses what decoding would refuse.
//!
//! # Client ids
//!
//! A [`ClientId`] is a `u64` that is never 0:
//!
//! | bits  | field      | range                                   |
//! |-------|------------|-----------------------------------------|
//! | 63-54 | worker     | `0..MAX_WORKERS` (1024)                 |
//! | 53-32 | slot       | `0..MAX_SLOTS` (2^22)                   |
//! | 31-0  | generation | `1..=MAX_GENERATION` (2^32 - 1), never 0 |
//!
//! A worker bumps a slot's generation with [`ClientId::next_generation`]
//! each time the slot gets a new connection, so an id kept by an app after
//! its client closed matches no later client of that slot. Free slots are
//! reused oldest first, so a generation comes round again only after
//! 2^32 - 1 connections per free slot: with a single free slot and 20,000
//! new connections a second (about what a worker takes here), 2.5 days.
//!
//! # Inbound messages (worker → app)
//!
//! A 32-byte header, then for [`InboundKind::Read`] the complete message
//! payload (the rest of the slice, possibly empty), for
//! [`InboundKind::Open`] the subprotocol the handshake chose, the URL's
//! query and the request headers for the app (see [`OpenDetails`]), and
//! for [`InboundKind::CloseFrame`] the payload of the close frame to send:
//! nothing, or a close code (2 bytes) and a reason. Close messages are
//! exactly 32 bytes.
//!
//! | offset | size | field                                                  |
//! |--------|------|--------------------------------------------------------|
//! | 0      | 1    | kind: 1 open, 2 read, 3 close, 4 close frame           |
//! | 1      | 1    | data kind: `abi::DATA_BIN`/`DATA_UTF8` for read, else 0 |
//! | 2      | 2    | endpoint id                                            |
//! | 4      | 2    | peer port                                              |
//! | 6      | 1    | peer address version: 4 or 6                           |
//! | 7      | 1    | reserved, 0                                            |
//! | 8      | 8    | client id (never 0)                                    |
//! | 16     | 16   | peer address: IPv4 in bytes 16-19 (20-31 ignored), or IPv6 |
//! | 32     | n    | payload (read, open, close frame)                      |
//!
//! The address is an [`abi::PeerAddr`](crate::abi::PeerAddr), as apps get
//! it: an IPv4 peer stays IPv4 and an IPv6 peer stays IPv6, v4-mapped ones
//! included (see [`peer_addr`]). An IPv6 flow label and scope id are not
//! carried. A worker converts a connection's address once, when it accepts
//! it; the bytes then travel with every message unconverted.
//!
//! # Outbound messages (app → worker)
//!
//! One ready-to-send WebSocket frame and who gets it. The id array starts at
//! offset 8, a multiple of 8 from the start of the message.
//!
//! | offset    | size  | field                                              |
//! |-----------|-------|----------------------------------------------------|
//! | 0         | 1     | target: `abi::TARGET_SINGLE`, `MULTI`, `EVERY`, `EVERY_EXCEPT_SINGLE` or `EVERY_EXCEPT_MULTI` |
//! | 1         | 1     | flags: bit 0 [`FLAG_CLOSE_AFTER`], others 0        |
//! | 2         | 2     | reserved, 0                                        |
//! | 4         | 4     | id count `n`: 1 for the single targets, 0 for every |
//! | 8         | 8 × n | client ids (none 0)                                |
//! | 8 + 8n    | rest  | the frame (at least one byte)                      |
//!
//! `TARGET_CUR` and `TARGET_EVERY_EXCEPT_CUR` never appear: the app thread
//! resolves them to the single targets with the current client's id.
//!
//! A *join record* ([`TARGET_JOIN`], no flags, one id, no frame) carries
//! no frame: it makes its client one of the app's members from there on in
//! the ring ([`write_outbound_join`]).
//!
//! ## Lent payloads
//!
//! A reply to one client whose payload lies in the app's inbound ring (an
//! echo) need not be copied: with flag [`FLAG_LENT`] the message carries
//! the payload's address instead ([`write_outbound_lent`]). The target is
//! `TARGET_SINGLE` with one id, the close flag is clear, and after the id:
//!
//! | offset | size | field                                          |
//! |--------|------|------------------------------------------------|
//! | 16     | 8    | the payload's address                          |
//! | 24     | 8    | the payload's length                           |
//! | 32     | rest | the frame header (the payload follows it on the wire) |
//!
//! The app thread holds the inbound message those bytes lie in (an
//! `rs_ring` hold) until the worker has released this record, so they stay
//! in place, unchanged, for as long as the worker may read them
//! ([`LentPayload::bytes`]).
//!
//! # Example
//!
//! ```
//! use rs_app::abi;
//! use rs_app::wire::{self, ClientId, Inbound, InboundKind, Recipients};
//!
//! let client = ClientId::new(2, 17, 1).expect("in range");
//!
//! // A worker passes a text message to an app.
//! let msg = Inbound {
//!     kind: InboundKind::Read,
//!     client,
//!     endpoint_id: 0,
//!     data_kind: abi::DATA_UTF8,
//!     peer: wire::peer_addr("192.0.2.1:50000".parse().expect("an address")),
//!     payload: b"hi",
//! };
//! let mut buf = vec![0; wire::inbound_len(msg.payload.len())];
//! wire::write_inbound(&mut buf, &msg)?;
//! assert_eq!(wire::read_inbound(&buf)?, msg);
//!
//! // The app answers that client with a text frame.
//! let frame = [0x81, 0x02, b'h', b'o'];
//! let mut buf = vec![0; wire::outbound_len(1, frame.len())];
//! wire::write_outbound(&mut buf, abi::TARGET_SINGLE, false, &[client], &frame)?;
//! let out = wire::read_outbound(&buf)?;
//! assert_eq!(out.recipients, Recipients::Single(client));
//! assert!(!out.close_after);
//! assert_eq!(out.frame, frame);
//! # Ok::<(), wire::WireError>(())
//! ```

use std::error::Error;
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::num::NonZeroU64;

use crate::abi::{
    DATA_BIN, DATA_UTF8, PeerAddr, TARGET_CUR, TARGET_EVERY, TARGET_EVERY_EXCEPT_CUR,
    TARGET_EVERY_EXCEPT_MULTI, TARGET_EVERY_EXCEPT_SINGLE, TARGET_MULTI, TARGET_SINGLE,
};

const SLOT_BITS: u32 = 22;
const GENERATION_BITS: u32 = 32;
const SLOT_SHIFT: u32 = GENERATION_BITS;
const WORKER_SHIFT: u32 = GENERATION_BITS + SLOT_BITS;

/// Worker indexes a [`ClientId`] can hold: `0..MAX_WORKERS`.
pub const MAX_WORKERS: u16 = 1 << (64 - WORKER_SHIFT);
/// Connection slots per worker a [`ClientId`] can hold: `0..MAX_SLOTS`.
pub const MAX_SLOTS: u32 = 1 << SLOT_BITS;
/// The largest generation; generations run `1..=MAX_GENERATION`.
pub const MAX_GENERATION: u32 = ((1u64 << GENERATION_BITS) - 1) as u32;

/// A client, as apps see it: worker, connection slot and generation packed
/// into a `u64` that is never 0 (see the [module docs](self)).
///
/// `repr(transparent)`: a `&[ClientId]` is a valid `u64` array, which is how
/// the SDK passes recipient lists through the C ABI.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(transparent)]
pub struct ClientId(NonZeroU64);

impl ClientId {
    /// Packs an id, or `None` if `worker >= MAX_WORKERS`, `slot >= MAX_SLOTS`,
    /// or `generation` is 0.
    ///
    /// ```
    /// use rs_app::wire::ClientId;
    /// let id = ClientId::new(3, 1000, 7).unwrap();
    /// assert_eq!((id.worker(), id.slot(), id.generation()), (3, 1000, 7));
    /// assert_eq!(ClientId::new(3, 1000, 0), None);
    /// ```
    pub const fn new(worker: u16, slot: u32, generation: u32) -> Option<ClientId> {
        // Every nonzero u32 is a generation (MAX_GENERATION is u32::MAX).
        if worker >= MAX_WORKERS || slot >= MAX_SLOTS || generation == 0 {
            return None;
        }
        let raw = (worker as u64) << WORKER_SHIFT | (slot as u64) << SLOT_SHIFT | generation as u64;
        ClientId::from_u64(raw)
    }

    /// The id whose number is `raw`, or `None` if its generation bits are 0
    /// (which includes `raw == 0`): no client ever has such an id.
    pub const fn from_u64(raw: u64) -> Option<ClientId> {
        if raw & MAX_GENERATION as u64 == 0 {
            return None;
        }
        match NonZeroU64::new(raw) {
            Some(raw) => Some(ClientId(raw)),
            None => None,
        }
    }

    /// The number apps see (`rs_get_client_id`).
    pub const fn get(self) -> u64 {
        self.0.get()
    }

    /// The index of the worker thread that holds the connection.
    pub const fn worker(self) -> u16 {
        (self.get() >> WORKER_SHIFT) as u16
    }

    /// The connection slot within that worker.
    pub const fn slot(self) -> u32 {
        ((self.get() >> SLOT_SHIFT) & (MAX_SLOTS as u64 - 1)) as u32
    }

    /// The slot's generation when this client got it: 1..=[`MAX_GENERATION`].
    pub const fn generation(self) -> u32 {
        (self.get() & MAX_GENERATION as u64) as u32
    }

    /// The generation that follows `generation`: one more, wrapping from
    /// [`MAX_GENERATION`] to 1 so that it is never 0. Any input gives a
    /// valid generation.
    ///
    /// ```
    /// use rs_app::wire::{ClientId, MAX_GENERATION};
    /// assert_eq!(ClientId::next_generation(1), 2);
    /// assert_eq!(ClientId::next_generation(MAX_GENERATION), 1);
    /// ```
    pub const fn next_generation(generation: u32) -> u32 {
        match generation.wrapping_add(1) {
            0 => 1,
            next => next,
        }
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.get(), f)
    }
}

impl From<ClientId> for u64 {
    fn from(id: ClientId) -> u64 {
        id.get()
    }
}

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

/// The size of an outbound message's header; the id array starts here.
pub const OUTBOUND_HEADER_LEN: usize = 8;

/// The size of one client id in an outbound id array.
pub const CLIENT_ID_LEN: usize = 8;

/// Outbound flag: the frame is a close frame; close the connection once it
/// is sent.
pub const FLAG_CLOSE_AFTER: u8 = 1;

/// Outbound flag: the frame's payload is lent, not carried (see "Lent
/// payloads" above).
pub const FLAG_LENT: u8 = 2;

/// The bytes of a lent payload's address and length.
pub const LENT_LEN: usize = 16;

/// The bytes an outbound message with a lent payload and a frame header of
/// `head_len` bytes takes.
pub const fn outbound_lent_len(head_len: usize) -> usize {
    outbound_len(1, LENT_LEN.saturating_add(head_len))
}

/// Where the payload of a message with [`FLAG_LENT`] lies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LentPayload {
    address: usize,
    len: usize,
}

impl LentPayload {
    /// The payload's length in bytes.
    pub const fn len(&self) -> usize {
        self.len
    }

    /// Whether the payload is empty (never, as written by the app thread).
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The payload's bytes.
    ///
    /// # Safety
    ///
    /// The message was written by [`write_outbound_lent`] on an app thread
    /// from a payload it holds in its inbound ring, and the outbound ring's
    /// record it was read from is not released yet: until then the app
    /// thread keeps the bytes where they are and unchanged. The slice must
    /// not be used after that release.
    pub unsafe fn bytes<'a>(&self) -> &'a [u8] {
        // The address crossed the ring as an integer: the pointer takes the
        // provenance `write_outbound_lent` exposed.
        let start = std::ptr::with_exposed_provenance::<u8>(self.address);
        // SAFETY: per the contract the address and length describe live,
        // initialised bytes nobody writes while the slice is used.
        unsafe { std::slice::from_raw_parts(start, self.len) }
    }
}

/// The target of a join record ([`write_outbound_join`]): not an ABI target,
/// apps cannot send it.
pub const TARGET_JOIN: u8 = 0x10;

/// The bytes a join record takes.
pub const OUTBOUND_JOIN_LEN: usize = outbound_len(1, 0);

/// Writes a join record into `buf` ([`OUTBOUND_JOIN_LEN`] bytes): from here
/// on in the ring, `client` is among its app's members, whom "every
/// client" messages reach. An app thread writes it before it calls the
/// open callback, so that what the app sent every client before it knew of
/// the client does not reach it, and what it sends from then on does.
pub fn write_outbound_join(buf: &mut [u8], client: ClientId) {
    assert_eq!(
        buf.len(),
        OUTBOUND_JOIN_LEN,
        "write_outbound_join: wrong buffer length"
    );
    let [c0, c1, c2, c3] = 1u32.to_ne_bytes();
    buf[..OUTBOUND_HEADER_LEN].copy_from_slice(&[TARGET_JOIN, 0, 0, 0, c0, c1, c2, c3]);
    buf[OUTBOUND_HEADER_LEN..].copy_from_slice(&client.get().to_ne_bytes());
}

/// Who gets an outbound frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recipients<'a> {
    /// One client (`abi::TARGET_SINGLE`).
    Single(ClientId),
    /// These clients (`abi::TARGET_MULTI`); possibly none.
    Multi(Ids<'a>),
    /// Every client of the app (`abi::TARGET_EVERY`).
    Every,
    /// Every client but this one (`abi::TARGET_EVERY_EXCEPT_SINGLE`).
    EveryExcept(ClientId),
    /// Every client but these (`abi::TARGET_EVERY_EXCEPT_MULTI`).
    EveryExceptMulti(Ids<'a>),
    /// Nobody: this client joins its app's members ([`TARGET_JOIN`]; the
    /// message has no frame).
    Join(ClientId),
}

impl Recipients<'_> {
    /// The `abi::TARGET_*` value these recipients are written with.
    pub const fn target(&self) -> u8 {
        match self {
            Recipients::Single(_) => TARGET_SINGLE,
            Recipients::Multi(_) => TARGET_MULTI,
            Recipients::Every => TARGET_EVERY,
            Recipients::EveryExcept(_) => TARGET_EVERY_EXCEPT_SINGLE,
            Recipients::EveryExceptMulti(_) => TARGET_EVERY_EXCEPT_MULTI,
            Recipients::Join(_) => TARGET_JOIN,
        }
    }

    /// Whether `client` is one of the recipients.
    pub fn includes(&self, client: ClientId) -> bool {
        match self {
            Recipients::Single(id) => *id == client,
            Recipients::Multi(ids) => ids.contains(client),
            Recipients::Every => true,
            Recipients::EveryExcept(id) => *id != client,
            Recipients::EveryExceptMulti(ids) => !ids.contains(client),
            Recipients::Join(_) => false,
        }
    }
}

/// The client ids of an outbound message, read in place from the ring.
/// Every id was checked when the message was read.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ids<'a> {
    raw: &'a [[u8; CLIENT_ID_LEN]],
}

impl<'a> Ids<'a> {
    /// The number of ids.
    pub const fn len(&self) -> usize {
        self.raw.len()
    }

    /// Whether there are none.
    pub const fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// The ids, in message order.
    pub fn iter(&self) -> impl Iterator<Item = ClientId> + 'a {
        // `filter_map` drops nothing: `read_outbound` refused invalid ids.
        self.raw
            .iter()
            .filter_map(|raw| ClientId::from_u64(u64::from_ne_bytes(*raw)))
    }

    /// Whether `client` is among the ids (a linear scan).
    pub fn contains(&self, client: ClientId) -> bool {
        self.raw.contains(&client.get().to_ne_bytes())
    }
}

impl fmt::Debug for Ids<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// One outbound message (app → worker).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outbound<'a> {
    /// Who gets the frame.
    pub recipients: Recipients<'a>,
    /// The frame is a close frame: close each recipient's connection after it.
    pub close_after: bool,
    /// The complete WebSocket frame (header and unmasked payload), sent as
    /// is; with [`lent`](Self::lent), the frame header only.
    pub frame: &'a [u8],
    /// The payload that follows `frame` on the wire, if the message lends it
    /// ([`FLAG_LENT`]) rather than carries it.
    pub lent: Option<LentPayload>,
}

/// The bytes an outbound message with `id_count` ids and a frame of
/// `frame_len` bytes takes (saturating, so an impossible size never matches
/// a real buffer).
pub const fn outbound_len(id_count: usize, frame_len: usize) -> usize {
    OUTBOUND_HEADER_LEN
        .saturating_add(id_count.saturating_mul(CLIENT_ID_LEN))
        .saturating_add(frame_len)
}

/// Writes an outbound message into `buf`, which must be exactly
/// [`outbound_len`]`(ids.len(), frame.len())` bytes (as reserved on the ring).
///
/// `target` is an `abi::TARGET_*` value other than the `CUR` ones, which the
/// caller resolves first. The single targets take exactly one id, `EVERY`
/// none, the multi targets any number up to `u32::MAX`.
///
/// Errors: [`WireError::UnresolvedTarget`], [`WireError::UnknownTarget`],
/// [`WireError::WrongIdCount`], [`WireError::EmptyFrame`],
/// [`WireError::WrongBufferLength`]; `buf` is untouched then.
pub fn write_outbound(
    buf: &mut [u8],
    target: u8,
    close_after: bool,
    ids: &[ClientId],
    frame: &[u8],
) -> Result<(), WireError> {
    write_outbound_parts(buf, target, close_after, ids, [frame, &[]])
}

/// [`write_outbound`] with the frame given in two parts, written one after
/// the other (a frame header, then a payload that lies elsewhere), so that
/// the frame need not be assembled first. `buf` must be exactly
/// [`outbound_len`]`(ids.len(), head.len() + body.len())` bytes.
///
/// ```
/// use rs_app::abi;
/// use rs_app::wire::{self, ClientId, Recipients};
///
/// let client = ClientId::new(0, 1, 1).expect("in range");
/// let mut buf = vec![0; wire::outbound_len(1, 4)];
/// wire::write_outbound_parts(&mut buf, abi::TARGET_SINGLE, false, &[client], [&[0x82, 2], b"hi"])?;
/// assert_eq!(wire::read_outbound(&buf)?.frame, [0x82, 2, b'h', b'i']);
/// # Ok::<(), wire::WireError>(())
/// ```
pub fn write_outbound_parts(
    buf: &mut [u8],
    target: u8,
    close_after: bool,
    ids: &[ClientId],
    [head, body]: [&[u8]; 2],
) -> Result<(), WireError> {
    check_id_count(target, ids.len())?;
    let count = u32::try_from(ids.len()).map_err(|_| WireError::WrongIdCount {
        target,
        count: ids.len(),
    })?;
    if head.is_empty() && body.is_empty() {
        return Err(WireError::EmptyFrame);
    }
    let expected = outbound_len(ids.len(), head.len().saturating_add(body.len()));
    let wrong_length = WireError::WrongBufferLength {
        expected,
        len: buf.len(),
    };
    if buf.len() != expected {
        return Err(wrong_length);
    }
    let Some((header, rest)) = buf.split_first_chunk_mut::<OUTBOUND_HEADER_LEN>() else {
        return Err(wrong_length);
    };
    let split = ids
        .len()
        .checked_mul(CLIENT_ID_LEN)
        .and_then(|ids_len| rest.split_at_mut_checked(ids_len));
    let Some((id_bytes, frame_bytes)) = split else {
        return Err(wrong_length);
    };
    let [c0, c1, c2, c3] = count.to_ne_bytes();
    let flags = if close_after { FLAG_CLOSE_AFTER } else { 0 };
    *header = [target, flags, 0, 0, c0, c1, c2, c3];
    for (slot, id) in id_bytes
        .as_chunks_mut::<CLIENT_ID_LEN>()
        .0
        .iter_mut()
        .zip(ids)
    {
        *slot = id.get().to_ne_bytes();
    }
    if body.is_empty() {
        frame_bytes.copy_from_slice(head);
    } else {
        let (head_bytes, body_bytes) = frame_bytes.split_at_mut(head.len());
        head_bytes.copy_from_slice(head);
        body_bytes.copy_from_slice(body);
    }
    Ok(())
}

/// Writes the most common outbound message, a frame for one client
/// ([`TARGET_SINGLE`], not closing), with none of
/// [`write_outbound_parts`]'s checks: for a caller that reserved exactly
/// [`outbound_len`]`(1, head.len() + body.len())` bytes and passes a
/// server frame header of 2, 4 or 10 bytes as `head`.
///
/// ```
/// use rs_app::{abi, wire::{self, ClientId}};
/// let client = ClientId::new(0, 5, 1).unwrap();
/// let mut fast = vec![0; wire::outbound_len(1, 4)];
/// wire::write_outbound_reply(&mut fast, client, [&[0x82, 2], b"hi"]);
/// let mut checked = vec![0; wire::outbound_len(1, 4)];
/// wire::write_outbound_parts(&mut checked, abi::TARGET_SINGLE, false, &[client], [&[0x82, 2], b"hi"])?;
/// assert_eq!(fast, checked);
/// # Ok::<(), wire::WireError>(())
/// ```
///
/// # Panics
///
/// If `buf` has another length, or `head` another length.
pub fn write_outbound_reply(buf: &mut [u8], client: ClientId, [head, body]: [&[u8]; 2]) {
    assert_eq!(
        buf.len(),
        outbound_len(1, head.len() + body.len()),
        "write_outbound_reply: wrong buffer length"
    );
    let frame = write_single_target(buf, 0, client);
    let (frame_head, frame_body) = frame.split_at_mut(head.len());
    // Fixed lengths, so the header is stored rather than memcpy'd.
    match head.len() {
        2 => frame_head[..2].copy_from_slice(&head[..2]),
        4 => frame_head[..4].copy_from_slice(&head[..4]),
        10 => frame_head[..10].copy_from_slice(&head[..10]),
        other => panic!("write_outbound_reply: a {other}-byte frame header"),
    }
    frame_body.copy_from_slice(body);
}

/// Writes the header and the one id of a `TARGET_SINGLE` message with
/// `flags` at the start of `buf` (which its caller checked is long enough);
/// returns the rest.
#[inline(always)]
fn write_single_target(buf: &mut [u8], flags: u8, client: ClientId) -> &mut [u8] {
    let (header, rest) = buf
        .split_first_chunk_mut::<OUTBOUND_HEADER_LEN>()
        .expect("checked by the caller");
    let [c0, c1, c2, c3] = 1u32.to_ne_bytes();
    *header = [TARGET_SINGLE, flags, 0, 0, c0, c1, c2, c3];
    let (id, rest) = rest
        .split_first_chunk_mut::<CLIENT_ID_LEN>()
        .expect("checked by the caller");
    *id = client.get().to_ne_bytes();
    rest
}

/// Writes a reply to one client whose payload is lent ([`FLAG_LENT`]):
/// `buf` gets `head`, the frame header, and the address and length of
/// `payload`, which must stay in place and unchanged until the worker has
/// released the record (the app thread holds it in its inbound ring).
/// Unchecked like [`write_outbound_reply`]: `buf` is exactly
/// [`outbound_lent_len`]`(head.len())` bytes.
///
/// ```
/// use rs_app::wire::{self, ClientId, Recipients};
/// let client = ClientId::new(0, 5, 1).unwrap();
/// let payload = b"echo".to_vec();
/// let mut buf = vec![0; wire::outbound_lent_len(2)];
/// wire::write_outbound_lent(&mut buf, client, &[0x82, 4], &payload);
/// let message = wire::read_outbound(&buf)?;
/// assert_eq!(message.recipients, Recipients::Single(client));
/// assert_eq!(message.frame, [0x82, 4]);
/// // SAFETY: `payload` is alive and unchanged while the slice is used.
/// assert_eq!(unsafe { message.lent.unwrap().bytes() }, b"echo");
/// # Ok::<(), wire::WireError>(())
/// ```
///
/// # Panics
///
/// If `buf` has another length.
pub fn write_outbound_lent(buf: &mut [u8], client: ClientId, head: &[u8], payload: &[u8]) {
    assert_eq!(
        buf.len(),
        outbound_lent_len(head.len()),
        "write_outbound_lent: wrong buffer length"
    );
    let rest = write_single_target(buf, FLAG_LENT, client);
    let (lent, frame_head) = rest
        .split_first_chunk_mut::<LENT_LEN>()
        .expect("checked above");
    // Exposed, so that the worker's `LentPayload::bytes` may use it again.
    let address = (payload.as_ptr().expose_provenance() as u64).to_ne_bytes();
    let len = (payload.len() as u64).to_ne_bytes();
    lent[..8].copy_from_slice(&address);
    lent[8..].copy_from_slice(&len);
    frame_head.copy_from_slice(head);
}

/// Reads an outbound message from the exact bytes the ring returned.
pub fn read_outbound(buf: &[u8]) -> Result<Outbound<'_>, WireError> {
    let Some((header, rest)) = buf.split_first_chunk::<OUTBOUND_HEADER_LEN>() else {
        return Err(WireError::TooShort {
            needed: OUTBOUND_HEADER_LEN,
            len: buf.len(),
        });
    };
    let [target, flags, r0, r1, c0, c1, c2, c3] = *header;
    // The most common messages, a frame for one client with its payload or
    // with a lent one, read in one step; anything else, errors included,
    // takes the general way below.
    if target == TARGET_SINGLE
        && [r0, r1] == [0, 0]
        && u32::from_ne_bytes([c0, c1, c2, c3]) == 1
        && let Some((raw, frame)) = rest.split_first_chunk::<CLIENT_ID_LEN>()
        && let Some(client) = ClientId::from_u64(u64::from_ne_bytes(*raw))
    {
        let recipients = Recipients::Single(client);
        match flags {
            0 | FLAG_CLOSE_AFTER if !frame.is_empty() => {
                return Ok(Outbound {
                    recipients,
                    close_after: flags != 0,
                    frame,
                    lent: None,
                });
            }
            FLAG_LENT => {
                if let Some((lent, head)) = frame.split_first_chunk::<LENT_LEN>()
                    && !head.is_empty()
                {
                    let (address, len) = lent.split_at(8);
                    let lent = LentPayload {
                        address: u64::from_ne_bytes(address.try_into().expect("8 bytes")) as usize,
                        len: u64::from_ne_bytes(len.try_into().expect("8 bytes")) as usize,
                    };
                    return Ok(Outbound {
                        recipients,
                        close_after: false,
                        frame: head,
                        lent: Some(lent),
                    });
                }
            }
            _ => {}
        }
    }
    if flags & !(FLAG_CLOSE_AFTER | FLAG_LENT) != 0 {
        return Err(WireError::UnknownFlags(flags));
    }
    if r0 != 0 {
        return Err(WireError::NonZeroPadding { offset: 2 });
    }
    if r1 != 0 {
        return Err(WireError::NonZeroPadding { offset: 3 });
    }
    // On a 16-bit target a count past usize::MAX could not fit anyway.
    let count = usize::try_from(u32::from_ne_bytes([c0, c1, c2, c3])).unwrap_or(usize::MAX);
    check_id_count(target, count)?;
    let too_short = WireError::TooShort {
        needed: outbound_len(count, 0),
        len: buf.len(),
    };
    let ids_len = count.checked_mul(CLIENT_ID_LEN).ok_or(too_short)?;
    let (id_bytes, frame) = rest.split_at_checked(ids_len).ok_or(too_short)?;
    let (raw_ids, _) = id_bytes.as_chunks::<CLIENT_ID_LEN>();
    for raw in raw_ids {
        let raw = u64::from_ne_bytes(*raw);
        if ClientId::from_u64(raw).is_none() {
            return Err(WireError::BadClientId(raw));
        }
    }
    if flags & FLAG_LENT != 0 {
        // A well-formed one took the way above.
        let bare = flags == FLAG_LENT && target == TARGET_SINGLE && frame.len() == LENT_LEN;
        return Err(if bare {
            WireError::EmptyFrame
        } else {
            WireError::MalformedLent
        });
    }
    let ids = Ids { raw: raw_ids };
    if target == TARGET_JOIN {
        if !frame.is_empty() || flags != 0 {
            return Err(WireError::MalformedJoin);
        }
        let client = ids
            .iter()
            .next()
            .ok_or(WireError::WrongIdCount { target, count })?;
        return Ok(Outbound {
            recipients: Recipients::Join(client),
            close_after: false,
            frame,
            lent: None,
        });
    }
    if frame.is_empty() {
        return Err(WireError::EmptyFrame);
    }
    let wrong_count = WireError::WrongIdCount { target, count };
    let recipients = match target {
        TARGET_SINGLE => Recipients::Single(ids.iter().next().ok_or(wrong_count)?),
        TARGET_MULTI => Recipients::Multi(ids),
        TARGET_EVERY => Recipients::Every,
        TARGET_EVERY_EXCEPT_SINGLE => {
            Recipients::EveryExcept(ids.iter().next().ok_or(wrong_count)?)
        }
        TARGET_EVERY_EXCEPT_MULTI => Recipients::EveryExceptMulti(ids),
        // `check_id_count` refused every other target.
        _ => return Err(WireError::UnknownTarget(target)),
    };
    Ok(Outbound {
        recipients,
        close_after: flags & FLAG_CLOSE_AFTER != 0,
        frame,
        lent: None,
    })
}

/// Checks that `target` is writable and takes `count` ids.
fn check_id_count(target: u8, count: usize) -> Result<(), WireError> {
    let valid = match target {
        TARGET_SINGLE | TARGET_EVERY_EXCEPT_SINGLE | TARGET_JOIN => count == 1,
        TARGET_EVERY => count == 0,
        TARGET_MULTI | TARGET_EVERY_EXCEPT_MULTI => u32::try_from(count).is_ok(),
        TARGET_CUR | TARGET_EVERY_EXCEPT_CUR => return Err(WireError::UnresolvedTarget(target)),
        _ => return Err(WireError::UnknownTarget(target)),
    };
    if valid {
        Ok(())
    } else {
        Err(WireError::WrongIdCount { target, count })
    }
}

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
    /// Outbound flag bits other than [`FLAG_CLOSE_AFTER`] and [`FLAG_LENT`].
    UnknownFlags(u8),
    /// A message with [`FLAG_LENT`] that is not a non-closing frame header
    /// for exactly one client (`TARGET_SINGLE`) after a lent payload's
    /// address and length.
    MalformedLent,
    /// A join record ([`TARGET_JOIN`]) with flags or frame bytes.
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
mod join_tests {
    use super::*;

    #[test]
    fn a_join_record_reads_back_and_nothing_else_passes_for_one() {
        let client = ClientId::new(3, 7, 9).unwrap();
        let mut buf = vec![0; OUTBOUND_JOIN_LEN];
        write_outbound_join(&mut buf, client);
        let read = read_outbound(&buf).unwrap();
        assert_eq!(read.recipients, Recipients::Join(client));
        assert!(read.frame.is_empty() && !read.close_after && read.lent.is_none());
        // With a frame, or a flag, it is refused.
        let mut framed = buf.clone();
        framed.push(0x81);
        assert_eq!(read_outbound(&framed), Err(WireError::MalformedJoin));
        let mut flagged = buf.clone();
        flagged[1] = FLAG_CLOSE_AFTER;
        assert_eq!(read_outbound(&flagged), Err(WireError::MalformedJoin));
        // An app cannot write one through the frame writers.
        let mut out = vec![0; outbound_len(1, 0)];
        assert_eq!(
            write_outbound(&mut out, TARGET_JOIN, false, &[client], &[]),
            Err(WireError::EmptyFrame)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn id(worker: u16, slot: u32, generation: u32) -> ClientId {
        ClientId::new(worker, slot, generation).expect("valid id")
    }

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

    fn addr(text: &str) -> PeerAddr {
        peer_addr(text.parse().expect("address"))
    }

    fn encode_in(msg: &Inbound<'_>) -> Vec<u8> {
        let mut buf = vec![0; inbound_len(msg.payload.len())];
        write_inbound(&mut buf, msg).expect("write");
        buf
    }

    fn encode_out(target: u8, close_after: bool, ids: &[ClientId], frame: &[u8]) -> Vec<u8> {
        let mut buf = vec![0; outbound_len(ids.len(), frame.len())];
        write_outbound(&mut buf, target, close_after, ids, frame).expect("write");
        buf
    }

    #[test]
    fn a_reply_record_is_the_checked_single_record_for_every_header_length() {
        let client = id(3, 77, 9);
        for (head, body_len) in [
            (&[0x81, 5][..], 5),
            (&[0x82, 126, 0x01, 0x00], 256),
            (&[0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0], 65536),
        ] {
            let body: Vec<u8> = (0..body_len).map(|i| i as u8).collect();
            let len = outbound_len(1, head.len() + body.len());
            let mut fast = vec![0xee; len];
            write_outbound_reply(&mut fast, client, [head, &body]);
            let mut checked = vec![0; len];
            write_outbound_parts(&mut checked, TARGET_SINGLE, false, &[client], [head, &body])
                .expect("write");
            assert_eq!(fast, checked, "header of {} bytes", head.len());
        }
    }

    #[test]
    #[should_panic(expected = "wrong buffer length")]
    fn a_reply_record_in_a_buffer_of_another_length_panics() {
        write_outbound_reply(&mut [0; 20], id(0, 1, 1), [&[0x82, 1], b"x"]);
    }

    // --- ClientId ---

    #[test]
    fn client_id_smallest_is_one() {
        let id = id(0, 0, 1);
        assert_eq!(id.get(), 1);
        assert_eq!((id.worker(), id.slot(), id.generation()), (0, 0, 1));
    }

    #[test]
    fn client_id_largest_is_all_ones() {
        let id = id(MAX_WORKERS - 1, MAX_SLOTS - 1, MAX_GENERATION);
        assert_eq!(id.get(), u64::MAX);
        assert_eq!(id.worker(), 1023);
        assert_eq!(id.slot(), 0x003F_FFFF);
        assert_eq!(id.generation(), 0xFFFF_FFFF);
    }

    #[test]
    fn client_id_fields_sit_at_their_bits() {
        assert_eq!(id(1, 0, 1).get(), 1 << 54 | 1);
        assert_eq!(id(0, 1, 1).get(), 1 << 32 | 1);
        assert_eq!(
            id(0x02AB, 0x0012_3456, 0x89AB_CDEF).get(),
            0xAAD2_3456_89AB_CDEF
        );
    }

    #[test]
    fn client_id_constants() {
        assert_eq!(MAX_WORKERS, 1024);
        assert_eq!(MAX_SLOTS, 1 << 22);
        assert_eq!(MAX_GENERATION, u32::MAX);
    }

    #[test]
    fn client_id_new_refuses_out_of_range() {
        assert_eq!(ClientId::new(MAX_WORKERS, 0, 1), None);
        assert_eq!(ClientId::new(0, MAX_SLOTS, 1), None);
        assert_eq!(ClientId::new(0, 0, 0), None);
    }

    #[test]
    fn client_id_from_u64_refuses_zero_generation() {
        assert_eq!(ClientId::from_u64(0), None);
        assert_eq!(ClientId::from_u64(1 << 32), None);
        assert_eq!(ClientId::from_u64(u64::MAX << 32), None);
    }

    #[test]
    fn client_id_from_u64_round_trips() {
        let id = ClientId::from_u64(0xAAD2_3456_89AB_CDEF).expect("valid");
        assert_eq!(id, self::id(0x02AB, 0x0012_3456, 0x89AB_CDEF));
        assert_eq!(u64::from(id), 0xAAD2_3456_89AB_CDEF);
    }

    #[test]
    fn client_id_displays_the_number() {
        assert_eq!(id(0, 1, 5).to_string(), "4294967301");
        assert_eq!(
            id(MAX_WORKERS - 1, MAX_SLOTS - 1, MAX_GENERATION).to_string(),
            u64::MAX.to_string()
        );
    }

    #[test]
    fn next_generation_increments() {
        assert_eq!(ClientId::next_generation(1), 2);
        assert_eq!(
            ClientId::next_generation(MAX_GENERATION - 1),
            MAX_GENERATION
        );
    }

    #[test]
    fn next_generation_wraps_to_one() {
        assert_eq!(ClientId::next_generation(MAX_GENERATION), 1);
    }

    #[test]
    fn next_generation_of_invalid_input_is_valid() {
        assert_eq!(ClientId::next_generation(0), 1);
        assert_eq!(ClientId::next_generation(u32::MAX), 1);
    }

    // --- Inbound ---

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

    // --- Outbound ---

    const FRAME: &[u8] = &[0x82, 0x03, 1, 2, 3];

    #[test]
    fn outbound_len_counts_ids() {
        assert_eq!(OUTBOUND_HEADER_LEN, 8);
        assert_eq!(outbound_len(0, 2), 10);
        assert_eq!(outbound_len(3, 2), 34);
        assert_eq!(outbound_len(usize::MAX, 1), usize::MAX);
    }

    #[test]
    fn outbound_layout_is_as_documented() {
        let ids = [id(1, 1, 1), id(2, 2, 2)];
        let buf = encode_out(TARGET_MULTI, true, &ids, FRAME);
        let mut expected = vec![TARGET_MULTI, FLAG_CLOSE_AFTER, 0, 0];
        expected.extend(2u32.to_ne_bytes());
        expected.extend(ids[0].get().to_ne_bytes());
        expected.extend(ids[1].get().to_ne_bytes());
        expected.extend(FRAME);
        assert_eq!(buf, expected);
    }

    #[test]
    fn outbound_single_round_trips() {
        let client = id(3, 4, 5);
        let buf = encode_out(TARGET_SINGLE, false, &[client], FRAME);
        let out = read_outbound(&buf).expect("read");
        assert_eq!(
            out,
            Outbound {
                recipients: Recipients::Single(client),
                close_after: false,
                frame: FRAME,
                lent: None,
            }
        );
    }

    #[test]
    fn a_lent_payload_round_trips_for_every_header_length() {
        let client = id(3, 4, 5);
        let payload = vec![0xAB; 70_000];
        for head in [
            &[0x82, 9][..],
            &[0x82, 126, 1, 0],
            &[0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0],
        ] {
            let mut buf = vec![0; outbound_lent_len(head.len())];
            write_outbound_lent(&mut buf, client, head, &payload[..9]);
            assert_eq!(&buf[..8], [TARGET_SINGLE, FLAG_LENT, 0, 0, 1, 0, 0, 0]);
            let out = read_outbound(&buf).expect("read");
            assert_eq!(out.recipients, Recipients::Single(client));
            assert!(!out.close_after);
            assert_eq!(out.frame, head);
            let lent = out.lent.expect("lent");
            assert_eq!(lent.len(), 9);
            // SAFETY: `payload` is alive and unchanged here.
            let bytes = unsafe { lent.bytes() };
            assert_eq!(bytes.as_ptr(), payload.as_ptr());
            assert_eq!(bytes, &payload[..9]);
        }
    }

    /// A lent record with its first bytes replaced.
    fn lent_record(header: [u8; 8], rest_len: usize) -> Vec<u8> {
        let mut buf = vec![0; outbound_lent_len(2)];
        write_outbound_lent(&mut buf, id(1, 2, 3), &[0x82, 4], b"abcd");
        buf[..8].copy_from_slice(&header);
        buf.truncate(16 + rest_len);
        buf
    }

    #[test]
    fn a_lent_payload_is_refused_unless_single_non_closing_and_complete() {
        let cases = [
            // Closing.
            (
                lent_record(
                    [
                        TARGET_SINGLE,
                        FLAG_LENT | FLAG_CLOSE_AFTER,
                        0,
                        0,
                        1,
                        0,
                        0,
                        0,
                    ],
                    18,
                ),
                WireError::MalformedLent,
            ),
            // Several recipients.
            (
                lent_record([TARGET_MULTI, FLAG_LENT, 0, 0, 1, 0, 0, 0], 18),
                WireError::MalformedLent,
            ),
            // No room for the address and length.
            (
                lent_record([TARGET_SINGLE, FLAG_LENT, 0, 0, 1, 0, 0, 0], 15),
                WireError::MalformedLent,
            ),
            // No frame header after them.
            (
                lent_record([TARGET_SINGLE, FLAG_LENT, 0, 0, 1, 0, 0, 0], 16),
                WireError::EmptyFrame,
            ),
            // Unknown flags next to it.
            (
                lent_record([TARGET_SINGLE, FLAG_LENT | 4, 0, 0, 1, 0, 0, 0], 18),
                WireError::UnknownFlags(FLAG_LENT | 4),
            ),
        ];
        for (buf, error) in cases {
            assert_eq!(read_outbound(&buf), Err(error), "{buf:?}");
        }
        let mut bad_id = lent_record([TARGET_SINGLE, FLAG_LENT, 0, 0, 1, 0, 0, 0], 18);
        bad_id[8..16].copy_from_slice(&0u64.to_ne_bytes());
        assert_eq!(read_outbound(&bad_id), Err(WireError::BadClientId(0)));
    }

    #[test]
    fn outbound_single_close_round_trips() {
        let client = id(3, 4, 5);
        let close = [0x88, 0x02, 0x0F, 0xA0];
        let buf = encode_out(TARGET_SINGLE, true, &[client], &close);
        let out = read_outbound(&buf).expect("read");
        assert_eq!(out.recipients, Recipients::Single(client));
        assert!(out.close_after);
        assert_eq!(out.frame, close);
    }

    #[test]
    fn outbound_multi_round_trips() {
        let ids = [
            id(0, 0, 1),
            id(7, 8, 9),
            id(MAX_WORKERS - 1, MAX_SLOTS - 1, MAX_GENERATION),
        ];
        let buf = encode_out(TARGET_MULTI, false, &ids, FRAME);
        let out = read_outbound(&buf).expect("read");
        let Recipients::Multi(read) = out.recipients else {
            panic!("not multi: {out:?}");
        };
        assert_eq!(read.len(), 3);
        assert!(!read.is_empty());
        assert_eq!(read.iter().collect::<Vec<_>>(), ids);
        assert!(ids.iter().all(|&c| read.contains(c)));
        assert!(!read.contains(id(7, 8, 10)));
        assert_eq!(out.frame, FRAME);
    }

    #[test]
    fn outbound_multi_may_be_empty() {
        let buf = encode_out(TARGET_MULTI, false, &[], FRAME);
        let out = read_outbound(&buf).expect("read");
        let Recipients::Multi(read) = out.recipients else {
            panic!("not multi: {out:?}");
        };
        assert!(read.is_empty());
        assert_eq!(read.len(), 0);
        assert_eq!(read.iter().count(), 0);
    }

    #[test]
    fn outbound_multi_many_ids_round_trip() {
        let ids: Vec<ClientId> = (0..10_000)
            .map(|slot| id(9, slot, MAX_GENERATION))
            .collect();
        let buf = encode_out(TARGET_EVERY_EXCEPT_MULTI, false, &ids, FRAME);
        let out = read_outbound(&buf).expect("read");
        let Recipients::EveryExceptMulti(read) = out.recipients else {
            panic!("not every-except-multi: {out:?}");
        };
        assert_eq!(read.iter().collect::<Vec<_>>(), ids);
        assert_eq!(out.frame, FRAME);
    }

    #[test]
    fn outbound_every_round_trips() {
        let buf = encode_out(TARGET_EVERY, false, &[], FRAME);
        assert_eq!(buf.len(), 8 + FRAME.len());
        let out = read_outbound(&buf).expect("read");
        assert_eq!(
            out,
            Outbound {
                recipients: Recipients::Every,
                close_after: false,
                frame: FRAME,
                lent: None,
            }
        );
    }

    #[test]
    fn outbound_every_except_round_trips() {
        let client = id(1, 1, 1);
        let buf = encode_out(TARGET_EVERY_EXCEPT_SINGLE, false, &[client], FRAME);
        let out = read_outbound(&buf).expect("read");
        assert_eq!(out.recipients, Recipients::EveryExcept(client));
    }

    #[test]
    fn outbound_every_except_multi_round_trips() {
        let ids = [id(1, 1, 1), id(1, 2, 1)];
        let buf = encode_out(TARGET_EVERY_EXCEPT_MULTI, true, &ids, FRAME);
        let out = read_outbound(&buf).expect("read");
        let Recipients::EveryExceptMulti(read) = out.recipients else {
            panic!("not every-except-multi: {out:?}");
        };
        assert_eq!(read.iter().collect::<Vec<_>>(), ids);
        assert!(out.close_after);
    }

    #[test]
    fn recipients_target_and_includes() {
        let (a, b) = (id(0, 1, 1), id(0, 2, 1));
        let buf = encode_out(TARGET_MULTI, false, &[a], FRAME);
        let Recipients::Multi(only_a) = read_outbound(&buf).expect("read").recipients else {
            panic!("not multi");
        };
        let cases = [
            (Recipients::Single(a), TARGET_SINGLE, true, false),
            (Recipients::Multi(only_a), TARGET_MULTI, true, false),
            (Recipients::Every, TARGET_EVERY, true, true),
            (
                Recipients::EveryExcept(a),
                TARGET_EVERY_EXCEPT_SINGLE,
                false,
                true,
            ),
            (
                Recipients::EveryExceptMulti(only_a),
                TARGET_EVERY_EXCEPT_MULTI,
                false,
                true,
            ),
        ];
        for (recipients, target, has_a, has_b) in cases {
            assert_eq!(recipients.target(), target);
            assert_eq!(recipients.includes(a), has_a, "{recipients:?}");
            assert_eq!(recipients.includes(b), has_b, "{recipients:?}");
        }
    }

    #[test]
    fn ids_debug_lists_ids() {
        let buf = encode_out(TARGET_MULTI, false, &[id(0, 0, 1), id(0, 0, 2)], FRAME);
        let Recipients::Multi(ids) = read_outbound(&buf).expect("read").recipients else {
            panic!("not multi");
        };
        assert_eq!(format!("{ids:?}"), "[ClientId(1), ClientId(2)]");
    }

    #[test]
    fn outbound_write_refuses_unresolved_targets() {
        for target in [TARGET_CUR, TARGET_EVERY_EXCEPT_CUR] {
            let mut buf = vec![0; outbound_len(0, FRAME.len())];
            assert_eq!(
                write_outbound(&mut buf, target, false, &[], FRAME),
                Err(WireError::UnresolvedTarget(target))
            );
        }
    }

    #[test]
    fn outbound_write_refuses_unknown_target() {
        for target in [0, 8, 255] {
            let mut buf = vec![0; outbound_len(0, FRAME.len())];
            assert_eq!(
                write_outbound(&mut buf, target, false, &[], FRAME),
                Err(WireError::UnknownTarget(target))
            );
        }
    }

    #[test]
    fn outbound_write_refuses_wrong_id_count() {
        let two = [id(0, 0, 1), id(0, 0, 2)];
        let cases: [(u8, &[ClientId]); 5] = [
            (TARGET_SINGLE, &[]),
            (TARGET_SINGLE, &two),
            (TARGET_EVERY_EXCEPT_SINGLE, &[]),
            (TARGET_EVERY_EXCEPT_SINGLE, &two),
            (TARGET_EVERY, &two[..1]),
        ];
        for (target, ids) in cases {
            let mut buf = vec![0; outbound_len(ids.len(), FRAME.len())];
            assert_eq!(
                write_outbound(&mut buf, target, false, ids, FRAME),
                Err(WireError::WrongIdCount {
                    target,
                    count: ids.len()
                })
            );
        }
    }

    #[test]
    fn outbound_write_refuses_empty_frame() {
        let mut buf = vec![0; outbound_len(0, 0)];
        assert_eq!(
            write_outbound(&mut buf, TARGET_EVERY, false, &[], &[]),
            Err(WireError::EmptyFrame)
        );
    }

    #[test]
    fn outbound_write_refuses_wrong_length() {
        let client = [id(0, 0, 1)];
        for len in [0, 8, 20, 22] {
            let mut buf = vec![0xEE; len];
            assert_eq!(
                write_outbound(&mut buf, TARGET_SINGLE, false, &client, FRAME),
                Err(WireError::WrongBufferLength { expected: 21, len })
            );
            assert!(buf.iter().all(|&b| b == 0xEE));
        }
    }

    #[test]
    fn outbound_read_too_short_header() {
        assert_eq!(
            read_outbound(&[TARGET_EVERY, 0, 0]),
            Err(WireError::TooShort { needed: 8, len: 3 })
        );
    }

    #[test]
    fn outbound_read_ids_past_end() {
        let mut buf = encode_out(TARGET_MULTI, false, &[id(0, 0, 1)], FRAME);
        buf[4..8].copy_from_slice(&3u32.to_ne_bytes());
        assert_eq!(
            read_outbound(&buf),
            Err(WireError::TooShort {
                needed: 32,
                len: 21
            })
        );
        buf[4..8].copy_from_slice(&u32::MAX.to_ne_bytes());
        assert_eq!(
            read_outbound(&buf),
            Err(WireError::TooShort {
                needed: outbound_len(u32::MAX as usize, 0),
                len: 21
            })
        );
    }

    #[test]
    fn outbound_read_unknown_target() {
        let mut buf = encode_out(TARGET_EVERY, false, &[], FRAME);
        buf[0] = 0;
        assert_eq!(read_outbound(&buf), Err(WireError::UnknownTarget(0)));
        buf[0] = 200;
        assert_eq!(read_outbound(&buf), Err(WireError::UnknownTarget(200)));
    }

    #[test]
    fn outbound_read_unresolved_target() {
        let mut buf = encode_out(TARGET_SINGLE, false, &[id(0, 0, 1)], FRAME);
        buf[0] = TARGET_CUR;
        assert_eq!(
            read_outbound(&buf),
            Err(WireError::UnresolvedTarget(TARGET_CUR))
        );
    }

    #[test]
    fn outbound_read_wrong_id_count() {
        let mut buf = encode_out(TARGET_MULTI, false, &[id(0, 0, 1), id(0, 0, 2)], FRAME);
        buf[0] = TARGET_SINGLE;
        assert_eq!(
            read_outbound(&buf),
            Err(WireError::WrongIdCount {
                target: TARGET_SINGLE,
                count: 2
            })
        );
        buf[0] = TARGET_EVERY;
        assert_eq!(
            read_outbound(&buf),
            Err(WireError::WrongIdCount {
                target: TARGET_EVERY,
                count: 2
            })
        );
    }

    #[test]
    fn outbound_read_unknown_flags() {
        let mut buf = encode_out(TARGET_EVERY, false, &[], FRAME);
        buf[1] = 0x82;
        assert_eq!(read_outbound(&buf), Err(WireError::UnknownFlags(0x82)));
    }

    #[test]
    fn outbound_read_reserved_bytes() {
        for offset in [2, 3] {
            let mut buf = encode_out(TARGET_EVERY, false, &[], FRAME);
            buf[offset] = 1;
            assert_eq!(
                read_outbound(&buf),
                Err(WireError::NonZeroPadding { offset })
            );
        }
    }

    #[test]
    fn outbound_read_bad_client_id() {
        let mut buf = encode_out(TARGET_MULTI, false, &[id(0, 0, 1), id(0, 0, 2)], FRAME);
        buf[16..24].copy_from_slice(&0u64.to_ne_bytes());
        assert_eq!(read_outbound(&buf), Err(WireError::BadClientId(0)));
    }

    #[test]
    fn outbound_read_empty_frame() {
        let buf = encode_out(TARGET_SINGLE, false, &[id(0, 0, 1)], FRAME);
        assert_eq!(read_outbound(&buf[..16]), Err(WireError::EmptyFrame));
    }

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

    // --- Properties ---

    fn any_client() -> impl Strategy<Value = ClientId> {
        (0..MAX_WORKERS, 0..MAX_SLOTS, 1..=MAX_GENERATION).prop_map(|(w, s, g)| id(w, s, g))
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

    proptest! {
        #[test]
        fn read_inbound_never_panics(buf in proptest::collection::vec(any::<u8>(), 0..96)) {
            let _ = read_inbound(&buf);
        }

        #[test]
        fn read_outbound_never_panics(buf in proptest::collection::vec(any::<u8>(), 0..96)) {
            let _ = read_outbound(&buf);
        }

        #[test]
        fn read_outbound_never_panics_on_plausible_headers(
            target in 0u8..9,
            flags in 0u8..2,
            count in prop_oneof![0u32..6, Just(u32::MAX), Just(u32::MAX / 8 + 1)],
            rest in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let mut buf = vec![target, flags, 0, 0];
            buf.extend(count.to_ne_bytes());
            buf.extend(rest);
            let _ = read_outbound(&buf);
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

        #[test]
        fn outbound_round_trips(
            target in prop_oneof![
                Just(TARGET_SINGLE), Just(TARGET_MULTI), Just(TARGET_EVERY),
                Just(TARGET_EVERY_EXCEPT_SINGLE), Just(TARGET_EVERY_EXCEPT_MULTI),
            ],
            close_after in any::<bool>(),
            one in any_client(),
            ids in proptest::collection::vec(any_client(), 0..16),
            frame in proptest::collection::vec(any::<u8>(), 1..64),
        ) {
            let ids = match target {
                TARGET_SINGLE | TARGET_EVERY_EXCEPT_SINGLE => vec![one],
                TARGET_EVERY => Vec::new(),
                _ => ids,
            };
            let buf = encode_out(target, close_after, &ids, &frame);
            prop_assert_eq!(buf.len(), outbound_len(ids.len(), frame.len()));
            let out = read_outbound(&buf).expect("read");
            prop_assert_eq!(out.recipients.target(), target);
            prop_assert_eq!(out.close_after, close_after);
            prop_assert_eq!(out.frame, &frame[..]);
            let read_ids: Vec<ClientId> = match out.recipients {
                Recipients::Single(id) | Recipients::EveryExcept(id) | Recipients::Join(id) => {
                    vec![id]
                }
                Recipients::Multi(ids) | Recipients::EveryExceptMulti(ids) => ids.iter().collect(),
                Recipients::Every => Vec::new(),
            };
            prop_assert_eq!(read_ids, ids);
        }

        #[test]
        fn client_id_packs_and_unpacks(w in 0..MAX_WORKERS, s in 0..MAX_SLOTS, g in 1..=MAX_GENERATION) {
            let id = id(w, s, g);
            prop_assert_eq!((id.worker(), id.slot(), id.generation()), (w, s, g));
            prop_assert_eq!(ClientId::from_u64(id.get()), Some(id));
        }

        #[test]
        fn next_generation_is_never_zero_and_in_range(g in any::<u32>()) {
            let next = ClientId::next_generation(g);
            prop_assert!((1..=MAX_GENERATION).contains(&next));
        }
    }
}
