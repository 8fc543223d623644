//! Outbound messages (app → worker): one ready-to-send frame and who gets
//! it, lent payloads and join records.

use std::fmt;

use super::{ClientId, WireError};
use crate::abi::{
    TARGET_CUR, TARGET_EVERY, TARGET_EVERY_EXCEPT_CUR, TARGET_EVERY_EXCEPT_MULTI,
    TARGET_EVERY_EXCEPT_SINGLE, TARGET_MULTI, TARGET_SINGLE,
};

/// The size of an outbound message's header; the id array starts here.
pub const OUTBOUND_HEADER_LEN: usize = 8;

/// The size of one client id in an outbound id array.
pub const CLIENT_ID_LEN: usize = 8;

/// Outbound flag: the frame is a close frame; close the connection once it
/// is sent.
pub const FLAG_CLOSE_AFTER: u8 = 1;

/// Outbound flag: the frame's payload is lent, not carried (see "Lent
/// payloads" in the [module docs](super)).
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
    // The most common messages in one step; anything else, errors
    // included, takes the general way.
    match read_single(header, rest) {
        Some(message) => Ok(message),
        None => read_general(buf.len(), header, rest),
    }
}

/// A well-formed frame for one client, with its payload or a lent one
/// (`header` and the `rest` of the message); `None` for anything else.
#[inline(always)]
fn read_single<'a>(header: &[u8; OUTBOUND_HEADER_LEN], rest: &'a [u8]) -> Option<Outbound<'a>> {
    let [target, flags, r0, r1, c0, c1, c2, c3] = *header;
    if target != TARGET_SINGLE || [r0, r1] != [0, 0] || u32::from_ne_bytes([c0, c1, c2, c3]) != 1 {
        return None;
    }
    let (raw, frame) = rest.split_first_chunk::<CLIENT_ID_LEN>()?;
    let recipients = Recipients::Single(ClientId::from_u64(u64::from_ne_bytes(*raw))?);
    match flags {
        0 | FLAG_CLOSE_AFTER if !frame.is_empty() => Some(Outbound {
            recipients,
            close_after: flags != 0,
            frame,
            lent: None,
        }),
        FLAG_LENT => {
            let (lent, head) = frame.split_first_chunk::<LENT_LEN>()?;
            if head.is_empty() {
                return None;
            }
            let (address, len) = lent.split_at(8);
            let lent = LentPayload {
                address: u64::from_ne_bytes(address.try_into().expect("8 bytes")) as usize,
                len: u64::from_ne_bytes(len.try_into().expect("8 bytes")) as usize,
            };
            Some(Outbound {
                recipients,
                close_after: false,
                frame: head,
                lent: Some(lent),
            })
        }
        _ => None,
    }
}

/// Any message of `len` bytes (`header` and the `rest`), checked field by
/// field: each error names what is wrong.
fn read_general<'a>(
    len: usize,
    header: &[u8; OUTBOUND_HEADER_LEN],
    rest: &'a [u8],
) -> Result<Outbound<'a>, WireError> {
    let [target, flags, r0, r1, c0, c1, c2, c3] = *header;
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
        len,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::testing::{any_client, id};
    use crate::wire::{MAX_GENERATION, MAX_SLOTS, MAX_WORKERS};
    use proptest::prelude::*;

    fn encode_out(target: u8, close_after: bool, ids: &[ClientId], frame: &[u8]) -> Vec<u8> {
        let mut buf = vec![0; outbound_len(ids.len(), frame.len())];
        write_outbound(&mut buf, target, close_after, ids, frame).expect("write");
        buf
    }

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

    proptest! {
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
    }
}
