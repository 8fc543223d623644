//! Writing to a connection: at once, or queued for one vectored write at
//! the end of a delivery pass, and the rest when the socket takes more;
//! ending a finishing connection once its output is out; closing clients
//! whose unread output passes `max_pending_output`.

use std::io;

use rs_proto::CloseCode;

use crate::output::Frame;

use super::Worker;
use super::conn::{Conn, Phase};

/// The rank, in [`Worker::shed_pending_output`], of connections whose
/// unstarted data is dropped rather than closed with 1013.
const LEAVING: u8 = 0;

impl Worker {
    /// Whether a writable event has work for `slot`: output waiting, or a
    /// finishing connection to end. (Most writable events only report the
    /// client's ACK of what went out at once.)
    pub(super) fn has_output(&self, slot: u32) -> bool {
        let conn = self.slots.get(slot as usize).and_then(|s| s.conn.as_ref());
        conn.is_some_and(|c| {
            !c.output.is_empty()
                || c.stream.has_buffered()
                || matches!(c.phase, Phase::Finishing { .. })
        })
    }

    pub(super) fn on_writable(&mut self, slot: u32) {
        let Some(conn) = self.conn(slot) else { return };
        // TLS records first, then what waits behind them.
        let flushed = conn.stream.send_buffered();
        if let Err(e) = flushed.and_then(|()| conn.output.flush(&mut conn.stream)) {
            log::debug!("client {} ({}): write failed: {e}", conn.id, conn.peer);
            self.drop_conn(slot);
            return;
        }
        if conn.output_paused {
            self.resume_if_output_drained(slot);
        }
        self.after_output(slot);
    }

    /// Ends a finishing connection once its output is out.
    pub(super) fn after_output(&mut self, slot: u32) {
        let Some(conn) = self.conn(slot) else { return };
        let Phase::Finishing { drain } = conn.phase else {
            return;
        };
        if !conn.output.is_empty() || conn.write_shut {
            return;
        }
        // TLS: close_notify goes out before TCP is shut down or closed.
        if let Err(e) = conn.stream.close_notify() {
            log::debug!("client {} ({}): write failed: {e}", conn.id, conn.peer);
            self.drop_conn(slot);
            return;
        }
        if conn.stream.has_buffered() {
            return; // the rest when the socket is writable
        }
        // The close handshake is complete: the server closes the TCP
        // connection first (RFC 6455 §7.1.1); by shutting its side down
        // when the client sent data after its close frame (against
        // §5.5.1), or more than was read, so that no reset overtakes our
        // close frame.
        if !drain && conn.discarded == 0 && !conn.stream.has_unread_input() {
            self.drop_conn(slot);
            return;
        }
        conn.write_shut = true;
        // A client that closed its side already is done with: closed now,
        // rather than on the read that sees its end again after our
        // shutdown (the kernel reports it anew).
        if conn.peer_closed || conn.stream.shutdown_write().is_err() {
            self.drop_conn(slot);
        }
    }

    /// Writes a frame (or HTTP response) to one connection, closing it
    /// with 1008 if its unread output passes `max_pending_output`.
    pub(super) fn send(&mut self, slot: u32, frame: &mut Frame<'_>) {
        let max_pending = self.limits.max_pending_output;
        let Some(conn) = self
            .slots
            .get_mut(slot as usize)
            .and_then(|s| s.conn.as_mut())
        else {
            return;
        };
        match conn.output.send(&mut conn.stream, frame, &self.held) {
            Ok(()) => {
                if pending_over(conn, max_pending).is_some() {
                    // Queued behind output the socket may have taken since
                    // the last poll: judged on what it does not take now.
                    self.on_writable(slot);
                    self.check_pending(slot);
                }
            }
            Err(e) => self.write_failed(slot, &e),
        }
    }

    #[cold]
    fn write_failed(&mut self, slot: u32, error: &io::Error) {
        if let Some(conn) = self.conn(slot) {
            log::debug!("client {} ({}): write failed: {error}", conn.id, conn.peer);
        }
        self.drop_conn(slot);
    }

    /// Queues a frame for `slot`, written when the delivery pass ends.
    pub(super) fn queue(&mut self, slot: u32, frame: &mut Frame<'_>) {
        let Some(conn) = self.slots[slot as usize].conn.as_mut() else {
            return;
        };
        if !conn.queued {
            conn.queued = true;
            self.to_flush.push(slot);
        }
        conn.output.queue(frame, &self.held);
        // Past the limit: write now and judge, as an unbatched send would,
        // so the limit is never passed by more than this frame.
        if conn.output.pending() + conn.stream.buffered() > self.limits.max_pending_output {
            self.on_writable(slot);
            self.check_pending(slot);
        }
    }

    /// Writes what the delivery pass queued, one vectored write per client.
    pub(super) fn flush_queued(&mut self) {
        let mut to_flush = std::mem::take(&mut self.to_flush);
        for slot in to_flush.drain(..) {
            let Some(conn) = self.conn(slot) else {
                continue;
            };
            conn.queued = false;
            self.on_writable(slot);
            self.check_pending(slot);
        }
        self.to_flush = to_flush;
    }

    /// Closes `slot` as a slow consumer if its unsent output passed the limit.
    fn check_pending(&mut self, slot: u32) {
        let max_pending = self.limits.max_pending_output;
        let Some(conn) = self.conn(slot) else { return };
        if let Some(pending) = pending_over(conn, max_pending) {
            self.close_slow_consumer(slot, pending);
        }
    }

    /// Closes a client with 1008 whose unread output passed the limit.
    #[cold]
    fn close_slow_consumer(&mut self, slot: u32, pending: usize) {
        let max = self.limits.max_pending_output;
        let Some(conn) = self.conn(slot) else { return };
        log::debug!(
            "client {} ({}): closing a slow consumer with {pending} bytes of unread output \
             (max_pending_output {})",
            conn.id,
            conn.peer,
            max,
        );
        if matches!(conn.phase, Phase::Closing(_)) {
            // Our close frame is queued already (perhaps behind the pongs'
            // start): no second one, and nothing dropped that could be it.
            // Finishing, the client's input no longer asks for pongs.
            self.finish(slot, self.limits.close_timeout, true);
        } else {
            conn.output.drop_unstarted();
            self.fail_with(slot, CloseCode::POLICY_VIOLATION, "too much unread output");
        }
    }

    /// Keeps the output this worker holds for its clients together under
    /// `max_pending_output_total`. Checked once per pass of the event loop,
    /// after the apps' frames are delivered (closing clients in the middle
    /// of a delivery would move members it has not served yet).
    #[inline(always)]
    pub(super) fn check_held(&mut self) {
        if self.held.bytes() > self.limits.max_pending_output_total {
            self.shed_pending_output();
        }
    }

    /// Until what the worker holds past `max_pending_output_total` is made
    /// up, drops what connections on their way out still had to send (a
    /// client that sent its close frame after asking for much keeps it
    /// until it reads it or its close times out), all but their close
    /// frames, then closes the clients with the most unread output with
    /// 1013 (Try Again Later): each client stays under its own limit, but
    /// many of them could otherwise hold `fd_alloc_c` times it. A frame copy
    /// shared with clients that stay is not freed with one that goes; what
    /// is still held past the limit then is shed on the next pass, rather
    /// than closing everyone now on a count that has not moved.
    #[cold]
    fn shed_pending_output(&mut self) {
        let (max, held) = (self.limits.max_pending_output_total, self.held.bytes());
        // (rank, pending, slot): those leaving (our close frame queued)
        // first, then those whose close frame waits for their app (they
        // sent one, or broke the protocol), then those in session; the
        // most unread first in each.
        let mut most: Vec<(u8, usize, u32)> = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(slot, s)| {
                let conn = s.conn.as_ref()?;
                let pending = conn.output.pending() + conn.stream.buffered();
                let rank = match conn.phase {
                    Phase::Closing(_) | Phase::Finishing { .. } => LEAVING,
                    Phase::Answering { .. } => 1,
                    Phase::Open(_) => 2,
                    Phase::Handshake(..) => return None,
                };
                (pending > 0).then_some((rank, pending, slot as u32))
            })
            .collect();
        most.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        let mut excess = held.saturating_sub(max);
        for (rank, pending, slot) in most {
            if excess == 0 {
                break;
            }
            let Some(conn) = self.conn(slot) else {
                continue;
            };
            if rank == LEAVING {
                let before = conn.output.pending();
                conn.output.drop_unstarted_data();
                let dropped = before - conn.output.pending();
                if dropped > 0 {
                    log::debug!(
                        "client {} ({}): dropping {dropped} bytes of output it has not started \
                         to read, as it is closing, when this worker holds {held} bytes for \
                         its clients, past max_pending_output_total ({max} bytes)",
                        conn.id,
                        conn.peer,
                    );
                }
                excess = excess.saturating_sub(dropped);
                continue;
            }
            excess = excess.saturating_sub(pending);
            // One failed for a protocol error keeps that error's code.
            let code = match conn.phase {
                Phase::Answering {
                    status: Some(code),
                    failure: Some(_),
                    ..
                } => code,
                _ => CloseCode::TRY_AGAIN_LATER,
            };
            log::debug!(
                "client {} ({}): closing with {code}: its {pending} bytes of unread output are \
                 among the most when this worker holds {held} bytes for its clients, past \
                 max_pending_output_total ({max} bytes)",
                conn.id,
                conn.peer,
            );
            conn.output.drop_unstarted();
            self.fail_with(slot, CloseCode::TRY_AGAIN_LATER, "server busy");
            self.shed_clients.record(self.index, || {
                format!(
                    "closing clients with 1013: the output it holds for its clients passed \
                     max_pending_output_total ({max} bytes)"
                )
            });
        }
    }
}

/// A session's unwritten output, if it is more than `max` (also while it
/// waits for its app to answer its close frame, and after our close frame,
/// while the pongs a client asks for until its close comes pile up). With
/// TLS, the records rustls holds for the socket count too.
#[inline(always)]
fn pending_over(conn: &Conn, max: usize) -> Option<usize> {
    let pending = conn.output.pending() + conn.stream.buffered();
    let limited = || conn.phase.app().is_some() || matches!(conn.phase, Phase::Closing(_));
    (pending > max && limited()).then_some(pending)
}
