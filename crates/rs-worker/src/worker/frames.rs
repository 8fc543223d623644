//! A client's frames, once its session is open (or closing): messages go
//! to the app, pings are answered with pongs, a close frame goes to the app
//! to be answered behind its replies (see `close`), and a
//! protocol error fails the connection. Also the count of the bytes this
//! worker holds in unfinished messages, and the clients shed past its limit.

use rs_app::abi::PeerAddr;
use rs_app::abi::{DATA_BIN, DATA_UTF8};
use rs_app::wire::{ClientId, Inbound, InboundKind};
use rs_proto::{CloseCode, DataKind, Event, Opcode, ProtocolError, encode_frame};

use crate::output::Frame;

use super::Worker;
use super::conn::{Phase, Stalled};
use super::to_apps::{Payload, enqueue};

impl Worker {
    /// Decodes `slot`'s `input` (unmasked in place) and hands on what it
    /// holds, until it is used up or something stops it (see
    /// [`stop_processing`](Self::stop_processing)).
    pub(super) fn process_frames(&mut self, slot: u32, input: &mut [u8]) {
        let mut pos = 0;
        while pos < input.len() {
            let Some(conn) = self.slots[slot as usize].conn.as_mut() else {
                return;
            };
            let (decoder, session) = match &mut conn.phase {
                Phase::Open(session) => (
                    &mut session.decoder,
                    Some((session.app, session.endpoint_id)),
                ),
                Phase::Closing(decoder) => (decoder, None),
                _ => return,
            };
            let reply = match decoder.decode(&mut input[pos..]) {
                Ok(decoded) => {
                    // The count of unfinished messages' bytes (checked by
                    // `process`); a whole message in one read leaves it alone.
                    if decoded.partial_len != conn.partial {
                        recount_partial(
                            &mut self.partial_total,
                            &mut conn.partial,
                            decoded.partial_len,
                        );
                    }
                    pos += decoded.consumed;
                    let client = conn.id;
                    match (decoded.event, session) {
                        (None, _) => continue,
                        (Some(Event::Message { kind, payload }), Some((app, endpoint_id))) => {
                            let message = read_message(client, conn.peer, endpoint_id, kind);
                            let link = &mut self.apps[usize::from(app)];
                            let handed = enqueue(link, &message, Payload::Plain(payload));
                            // Copied (to the ring or the backlog): a long
                            // message's buffer goes now, not when the client
                            // next sends, which a quiet one may never do.
                            decoder.release_message();
                            match handed {
                                Ok(true) => continue,
                                handed => Reply::not_handed(handed, app, &message),
                            }
                        }
                        (Some(Event::MaskedMessage(masked)), Some((app, endpoint_id))) => {
                            let message =
                                read_message(client, conn.peer, endpoint_id, masked.kind());
                            let link = &mut self.apps[usize::from(app)];
                            match enqueue(link, &message, Payload::Masked(masked)) {
                                Ok(true) => continue,
                                handed => Reply::not_handed(handed, app, &message),
                            }
                        }
                        // Data after our close frame is discarded (RFC 6455 §1.4),
                        // but still checked, whatever its length.
                        (Some(Event::MaskedMessage(masked)), None) => match masked.to_vec() {
                            Ok(_) => continue,
                            Err(error) => Reply::fail_closing(conn.id, &conn.peer, &error),
                        },
                        (Some(Event::Message { .. }), None) => {
                            // Let go now: a client that goes quiet after it
                            // would keep the buffer (uncounted) until its
                            // close timeout.
                            decoder.release_message();
                            continue;
                        }
                        (Some(Event::Ping(payload)), _) => {
                            // Answered once this input is handled, with the
                            // other pongs it asks for: one write, however
                            // many pings a client sends at once. After our
                            // close frame too: a pong is owed until the
                            // client's close comes (RFC 6455 §5.5.2); only
                            // data frames end with ours (§5.5.1).
                            owe_pong(&mut self.pongs, payload);
                            continue;
                        }
                        (Some(Event::Pong(_)), _) => continue,
                        (Some(Event::Close(frame)), Some(_)) => {
                            Reply::ClientClose(frame.map(|f| f.code))
                        }
                        (Some(Event::Close(_)), None) => Reply::ClosingDone,
                    }
                }
                Err(error) if session.is_none() => Reply::fail_closing(conn.id, &conn.peer, &error),
                Err(error) => Reply::fail(conn.id, &conn.peer, &error),
            };
            self.stop_processing(slot, reply, &input[pos..]);
            return;
        }
    }

    /// Acts on what stops the processing of `slot`'s input (`rest` is
    /// what is left of it): the client's close frame, the end of a close
    /// handshake, a message its app's ring cannot take now, or a failure.
    #[cold]
    fn stop_processing(&mut self, slot: u32, reply: Reply, rest: &[u8]) {
        match reply {
            Reply::ClientClose(code) => {
                // Answered with the same code (RFC 6455 §5.5.1), by the
                // app behind its replies to the messages before it, so
                // that a client that sends a request and closes at once
                // still gets the answer. The pongs owed go now.
                if !self.pongs.is_empty() {
                    self.send_pongs(slot);
                }
                self.await_close_answer(slot, code);
                self.discard_rest(slot, rest);
            }
            Reply::ClosingDone => {
                self.finish(slot, self.limits.close_timeout, false);
            }
            Reply::Abandon => {
                // Our close frame went out already: never a second one.
                self.finish(slot, self.limits.close_timeout, true);
            }
            Reply::Pause(app) => {
                // The app's ring is full: the message waits in its
                // backlog; keep the rest of the input and stop reading
                // this client until it drains. The rest counts in the
                // backlog's bytes: thousands of paused clients could
                // each hold a read's worth.
                let Some(conn) = self.conn(slot) else { return };
                log::trace!("client {}: app ring full, reading paused", conn.id);
                let rest = rest.to_vec();
                let held = rest.len();
                conn.stalled = Some(Stalled {
                    app,
                    rest,
                    until_replies: None,
                });
                let generation = conn.id.generation();
                self.stalled.push((slot, generation));
                let link = &mut self.apps[usize::from(app)];
                link.backlog_bytes += held;
                self.backlog_full |= link.holds_too_much();
            }
            Reply::Fail(code, reason) => {
                if !self.pongs.is_empty() {
                    self.send_pongs(slot);
                }
                self.fail_behind_replies(slot, code, &reason);
                self.discard_rest(slot, rest);
            }
        }
    }

    /// What came in the same read after a client's close frame or error
    /// counts as sent since it was closed (see `discard`).
    #[cold]
    fn discard_rest(&mut self, slot: u32, rest: &[u8]) {
        if !rest.is_empty() {
            self.discard(slot, rest.len());
        }
    }

    /// Writes the pongs that the input just handled asked for.
    #[cold]
    pub(super) fn send_pongs(&mut self, slot: u32) {
        let pongs = std::mem::take(&mut self.pongs);
        self.send(slot, &mut Frame::new(&pongs));
        self.give_back_pongs(pongs);
    }

    /// Keeps the pong buffer's allocation for the next pings.
    fn give_back_pongs(&mut self, mut pongs: Vec<u8>) {
        pongs.clear();
        self.pongs = pongs;
    }

    /// Brings the bytes held in unfinished messages back under
    /// `max_partial_msgs_size` by closing the clients that hold the most,
    /// with 1013 (Try Again Later). The largest holder, not the client
    /// whose read crossed the limit: a client that holds a little should
    /// not pay for one that holds much. The scan over all connections runs
    /// only past the limit, which each closed client's bytes push back.
    #[cold]
    pub(super) fn shed_partial_messages(&mut self) {
        let max = self.limits.max_partial_msgs_size;
        while self.partial_total > max {
            let largest = self
                .slots
                .iter()
                .enumerate()
                .filter_map(|(slot, s)| Some((s.conn.as_ref()?.partial, slot as u32)))
                .max();
            let Some((held, slot)) = largest.filter(|&(held, _)| held > 0) else {
                debug_assert!(false, "{} bytes counted but none held", self.partial_total);
                return;
            };
            let Some(conn) = self.conn(slot) else { return };
            let open = matches!(conn.phase, Phase::Open(_));
            log::debug!(
                "client {} ({}): {}: its unfinished message of {held} bytes is the largest \
                 when this worker passes max_partial_msgs_size ({max} bytes)",
                conn.id,
                conn.peer,
                if open {
                    "closing with 1013"
                } else {
                    "ending the closing connection"
                },
            );
            if open {
                self.fail_with(slot, CloseCode::TRY_AGAIN_LATER, "server busy");
                self.shed_clients.record(self.index, || {
                    format!(
                        "closing clients with 1013: the unfinished messages it holds passed \
                         max_partial_msgs_size ({max} bytes)"
                    )
                });
            } else {
                // Our close frame went out already: never a second one.
                self.finish(slot, self.limits.close_timeout, true);
            }
        }
    }

    /// Forgets what `slot` held of an unfinished message (its decoder is
    /// being dropped).
    pub(super) fn release_partial(&mut self, slot: u32) {
        if let Some(conn) = self.slots[slot as usize].conn.as_mut() {
            self.partial_total -= std::mem::take(&mut conn.partial);
        }
    }
}

/// What to do after a decoded event, once the decoder is no longer borrowed.
enum Reply {
    /// The client's close frame, with its status code: for the app to
    /// answer.
    ClientClose(Option<CloseCode>),
    ClosingDone,
    Fail(CloseCode, String),
    /// The message went to the backlog of this app: pause reading.
    Pause(u16),
    /// A protocol error after our close frame: end the connection.
    Abandon,
}

impl Reply {
    /// Failing the connection for a protocol error.
    fn fail(client: ClientId, peer: &PeerAddr, error: &ProtocolError) -> Self {
        log::debug!("client {client} ({}): {error}", peer);
        Self::Fail(error.close_code(), error.to_string())
    }

    /// A protocol error while closing: the close frame was sent already.
    fn fail_closing(client: ClientId, peer: &PeerAddr, error: &ProtocolError) -> Self {
        log::debug!("client {client} ({}): {error} after our close frame", peer);
        Self::Abandon
    }

    /// For a read message that [`enqueue`] did not put on the ring.
    #[cold]
    fn not_handed(handed: Result<bool, ProtocolError>, app: u16, message: &Inbound<'_>) -> Self {
        match handed {
            Ok(_) => Self::Pause(app),
            Err(error) => Self::fail(message.client, &message.peer, &error),
        }
    }
}

/// The inbound header of a read message (its payload is given apart).
fn read_message(
    client: ClientId,
    peer: PeerAddr,
    endpoint_id: u16,
    kind: DataKind,
) -> Inbound<'static> {
    Inbound {
        kind: InboundKind::Read,
        client,
        endpoint_id,
        data_kind: match kind {
            DataKind::Text => DATA_UTF8,
            DataKind::Binary => DATA_BIN,
        },
        peer,
        payload: &[],
    }
}

/// Brings a worker's `total` of bytes held in unfinished messages up to
/// date with one connection's, `counted` before and `now`. Called only when
/// the two differ, which a whole message in one read never makes them do.
#[cold]
pub(super) fn recount_partial(total: &mut usize, counted: &mut usize, now: usize) {
    *total = *total - *counted + now;
    *counted = now;
}

/// Appends the pong that answers a ping with `payload` to `pongs`.
#[cold]
#[inline(never)]
fn owe_pong(pongs: &mut Vec<u8>, payload: &[u8]) {
    encode_frame(pongs, Opcode::Pong, payload).expect("a ping payload fits a pong");
}
