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
//! | 0         | 1     | target: `abi::TARGET_SINGLE`, `MULTI`, `EVERY`, `EVERY_EXCEPT_SINGLE` or `EVERY_EXCEPT_MULTI`, or [`TARGET_JOIN`] |
//! | 1         | 1     | flags: bit 0 [`FLAG_CLOSE_AFTER`], bit 1 [`FLAG_LENT`], others 0 |
//! | 2         | 2     | reserved, 0                                        |
//! | 4         | 4     | id count `n`: 1 for the single targets and join, 0 for every |
//! | 8         | 8 × n | client ids (none 0)                                |
//! | 8 + 8n    | rest  | the frame (at least one byte; none for join), or a lent payload's place (below) |
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

mod client_id;
mod error;
mod inbound;
mod outbound;

pub use client_id::*;
pub use error::*;
pub use inbound::*;
pub use outbound::*;

/// Builders the tests of every part share.
#[cfg(test)]
mod testing {
    use super::*;
    use crate::abi::PeerAddr;
    use proptest::prelude::*;

    pub(super) fn id(worker: u16, slot: u32, generation: u32) -> ClientId {
        ClientId::new(worker, slot, generation).expect("valid id")
    }

    pub(super) fn addr(text: &str) -> PeerAddr {
        peer_addr(text.parse().expect("address"))
    }

    pub(super) fn any_client() -> impl Strategy<Value = ClientId> {
        (0..MAX_WORKERS, 0..MAX_SLOTS, 1..=MAX_GENERATION).prop_map(|(w, s, g)| id(w, s, g))
    }
}
