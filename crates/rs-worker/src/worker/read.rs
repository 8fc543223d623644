//! Reading a connection's socket, in turns so that no client holds up the
//! others, and handing what is read to the handshake or to the frames.

use std::io::{self, Read};

use crate::transport::Transport;

use super::Worker;
use super::conn::Phase;

/// Reads from one connection before the others get their turn: a client
/// that keeps its socket full (of pings, say) is read in turns of at most
/// `READS_PER_TURN` × `MAX_READ` bytes, not until it stops.
const READS_PER_TURN: u32 = 4;

/// The most one read takes (the read buffer's size, whatever
/// `worker_rbuf_size` asks for above it).
pub(super) const MAX_READ: usize = 64 * 1024;
/// The shortest read after which the worker checks whether the client's
/// app is behind (see `Worker::pause_if_app_behind`).
const CHECKED_READ: usize = 4096;

/// A read at least this long (or filling a shorter buffer) is a heavy
/// sender's (see `Link::behind_for`). Not the buffer's length: over TLS a
/// read gives at most one record's plaintext, 16 KiB.
const HEAVY_READ: usize = 8192;

/// The least a client that is finishing, or sent its close frame, may send
/// (thrown away) before its connection is dropped without waiting further;
/// a maximum-size message fits too (see `Worker::discard`).
const MIN_DISCARDED: usize = 16 << 20;

impl Worker {
    /// Reads what `slot`'s socket has, in at most [`READS_PER_TURN`] reads;
    /// the rest is read after the next poll. `until_blocked`: read until
    /// the socket says so even after a short read (the event said the client
    /// closed its side, or events may have been missed).
    pub(super) fn on_readable(&mut self, slot: u32, until_blocked: bool) {
        if self.backlog_full && self.stall_for_backlog(slot) {
            return;
        }
        let mut rbuf = std::mem::take(&mut self.rbuf);
        let mut reads = 0;
        while let Some(mut conn) = self.conn(slot) {
            // A stalled connection is resumed by retry_stalled. One waiting
            // for its next turn (only ever on entry: a deferral ends the
            // loop) is read then, remembering what this event said: the end
            // of its stream may not be announced again.
            if conn.stalled.is_some() || conn.read_deferred.is_some() || conn.output_paused {
                if let Some(deferred_until_blocked) = &mut conn.read_deferred {
                    *deferred_until_blocked |= until_blocked;
                }
                break;
            }
            if !conn.output.is_empty() {
                if self.pause_for_output(slot) {
                    break;
                }
                let Some(same) = self.conn(slot) else { break };
                conn = same;
            }
            // A short read from a plain socket emptied it: anything that
            // arrives later raises a new edge-triggered event, so the read
            // that would only say "would block" is skipped (one system call
            // per message instead of two). Not for TLS, whose read can be
            // short while records wait in rustls. (A read also stops short
            // at TCP urgent data, which leaves the rest of what that client
            // sent until it sends more: only its own connection waits.)
            let plain = matches!(conn.stream, Transport::Plain(_));
            match conn.stream.read(&mut rbuf) {
                Ok(0)
                    if matches!(conn.phase, Phase::Answering { .. })
                        || (matches!(conn.phase, Phase::Finishing { .. })
                            && (!conn.output.is_empty() || conn.stream.has_buffered())) =>
                {
                    // A client may close its side right after its close
                    // frame (TLS: with close_notify, or not): it still
                    // waits for the answer, and for what comes before it.
                    conn.peer_closed = true;
                    break;
                }
                Ok(0) => {
                    // The client closed its side (or went away).
                    self.drop_conn(slot);
                    break;
                }
                Ok(n) => {
                    conn.heard = true;
                    // Only a read of a few KiB can have put much on the
                    // app's ring (short ones, an echo's, skip the check);
                    // and not a handshake: a client that only connected and
                    // left is not held on to while its app is behind.
                    let checked = n >= CHECKED_READ && matches!(conn.phase, Phase::Open(_));
                    self.process(slot, &mut rbuf[..n]);
                    let heavy = n >= HEAVY_READ.min(rbuf.len());
                    if checked && self.pause_if_app_behind(slot, heavy) {
                        break;
                    }
                    if plain && !until_blocked && n < rbuf.len() {
                        break;
                    }
                    reads += 1;
                    if reads == READS_PER_TURN {
                        self.defer_read(slot, until_blocked);
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    // Part of a TLS record counts as hearing from the
                    // client too (idle_timeout): it is still sending.
                    if conn.stream.took_partial_input() {
                        conn.heard = true;
                    }
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    log::debug!("client {} ({}): read failed: {e}", conn.id, conn.peer);
                    self.drop_conn(slot);
                    break;
                }
            }
        }
        self.rbuf = rbuf;
    }

    /// Stops reading a client in session whose unread output is over half
    /// `max_pending_output`, until it is under a quarter: what it asks for
    /// waits in its socket (TCP's back-pressure), so a client that sends
    /// faster than it reads (a burst of uploads whose answers it reads
    /// meanwhile) is slowed down, not closed as a slow consumer. Output it
    /// does not cause (messages its app sends it of its own accord, replies
    /// to what was read before) still closes it past the limit. Whether it
    /// stopped.
    #[cold]
    fn pause_for_output(&mut self, slot: u32) -> bool {
        let high = self.limits.max_pending_output / 2;
        let Some(conn) = self.conn(slot) else {
            return false;
        };
        // The queue alone, which only a flush (then `on_writable`, which
        // resumes) or the end of the session empties: not what rustls
        // holds, which a write of a new frame may send at once.
        if conn.output.pending() > high && matches!(conn.phase, Phase::Open(_)) {
            log::trace!("client {}: reading paused for its unread output", conn.id);
            conn.output_paused = true;
        }
        conn.output_paused
    }

    /// Reads a client paused for its unread output (see
    /// [`pause_for_output`](Self::pause_for_output)) again once that is
    /// under a quarter of `max_pending_output`: after the next poll (a
    /// write may come in the middle of another client's read, whose buffer
    /// is in use), until its socket is empty (edge-triggered, what arrived
    /// meanwhile is not announced again).
    #[cold]
    pub(super) fn resume_if_output_drained(&mut self, slot: u32) {
        let low = self.limits.max_pending_output / 4;
        let Some(conn) = self.conn(slot) else { return };
        if conn.output.pending() > low {
            return;
        }
        log::trace!("client {}: reading resumed", conn.id);
        conn.output_paused = false;
        // Its strikes for not reading (see `check_idle`) end with it.
        conn.struck = false;
        self.defer_read(slot, true);
    }

    /// Puts `slot` in line to be read again after the next poll (which then
    /// does not wait): edge-triggered, its socket will not be announced
    /// again for what it holds already.
    #[cold]
    fn defer_read(&mut self, slot: u32, until_blocked: bool) {
        let Some(conn) = self.conn(slot) else { return };
        debug_assert!(conn.read_deferred.is_none(), "deferred while deferred");
        conn.read_deferred = Some(until_blocked);
        let generation = conn.id.generation();
        self.unread.push((slot, generation));
    }

    /// Gives the connections that used up their read turn before the last
    /// poll their next one.
    pub(super) fn resume_reads(&mut self) {
        if self.resuming.is_empty() {
            return;
        }
        let mut resuming = std::mem::take(&mut self.resuming);
        for &(slot, generation) in &resuming {
            let Some(conn) = self.conn(slot) else {
                continue;
            };
            if conn.id.generation() != generation {
                continue;
            }
            if let Some(until_blocked) = conn.read_deferred.take() {
                self.on_readable(slot, until_blocked);
            }
        }
        resuming.clear();
        self.resuming = resuming;
    }

    /// Throws away `len` bytes a finishing client (or one whose close frame
    /// waits for its app) still sent, up to a point: one that goes on
    /// sending would keep this worker reading for it until its close
    /// timeout. Room is left for a maximum-size message it was sending when
    /// it was closed, and for reading our close frame meanwhile. Past it,
    /// the close frame still owed is sent first (the app has not yet).
    #[cold]
    pub(super) fn discard(&mut self, slot: u32, len: usize) {
        let most = usize::try_from(self.limits.frames.max_message_size)
            .unwrap_or(usize::MAX)
            .saturating_add(rs_proto::MAX_HEADER_LEN)
            .max(MIN_DISCARDED);
        let Some(conn) = self.conn(slot) else { return };
        conn.discarded = conn.discarded.saturating_add(len);
        if conn.discarded > most {
            log::debug!(
                "client {} ({}): ending the connection: it sent {} bytes since it was closed",
                conn.id,
                conn.peer,
                conn.discarded
            );
            if matches!(conn.phase, Phase::Answering { .. }) {
                // As much again for the time the answer takes to be
                // written behind what is queued (a close would drop it).
                conn.discarded = 0;
                self.answer_close_now(slot);
            } else {
                self.drop_conn(slot);
            }
        }
    }

    /// Handles bytes read from a connection.
    #[inline(always)]
    pub(super) fn process(&mut self, slot: u32, input: &mut [u8]) {
        let Some(conn) = self.conn(slot) else { return };
        match &conn.phase {
            Phase::Open(_) | Phase::Closing(_) => {
                self.process_frames(slot, input);
                if !self.pongs.is_empty() {
                    self.send_pongs(slot);
                }
                if self.partial_total > self.limits.max_partial_msgs_size {
                    self.shed_partial_messages();
                }
            }
            Phase::Handshake(..) => self.process_handshake(slot, input),
            Phase::Finishing { .. } | Phase::Answering { .. } => self.discard(slot, input.len()),
        }
    }
}
