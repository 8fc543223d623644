//! Ending a connection: the close frames this side sends (failing a
//! client, or closing it), leaving the app's session, finishing (writing
//! what is left, then closing), dropping, and the deadlines that drop a
//! connection that takes too long.

use std::cmp::Reverse;
use std::time::{Duration, Instant};

use rs_app::wire::{Inbound, InboundKind};
use rs_proto::{CloseCode, Opcode, encode_close, encode_frame};

use crate::output::Frame;

use super::Worker;
use super::accept::take_back_spare;
use super::conn::{Conn, NOT_MEMBER, Phase};
use super::to_apps::{Payload, enqueue, notify};

/// Deadlines no longer in force the heap may hold beyond twice its slots
/// before it is cleaned (see [`Worker::push_deadline`]).
const STALE_DEADLINES: usize = 1024;

/// The close frame a client in [`Phase::Answering`] is owed: its own status
/// code (or none) answering its close frame, or the code and reason its
/// protocol error fails it with.
fn answer_for(phase: &Phase) -> Vec<u8> {
    let mut frame = Vec::new();
    match phase {
        Phase::Answering {
            status: Some(code),
            failure,
            ..
        } => encode_close(&mut frame, *code, failure.as_deref().unwrap_or("")),
        _ => encode_frame(&mut frame, Opcode::Close, &[]).expect("an empty close fits"),
    }
    frame
}

impl Worker {
    /// Fails an open connection: our close frame with `code`, then the end
    /// of the connection once what is pending is written.
    ///
    /// A client failed already for its own error, whose close frame waits
    /// for its app's replies, gets that one.
    pub(super) fn fail_with(&mut self, slot: u32, code: CloseCode, reason: &str) {
        let close = match self.conn(slot).map(|c| &c.phase) {
            Some(
                answering @ Phase::Answering {
                    failure: Some(_), ..
                },
            ) => answer_for(answering),
            _ => {
                let mut close = Vec::new();
                encode_close(&mut close, code, reason);
                close
            }
        };
        self.leave_session(slot);
        // On its way out before the close frame goes: a client answering
        // its own close frame (`Answering`) and over its output limit
        // would otherwise be judged a slow consumer again by this very
        // send, and failed again, without end.
        if let Some(conn) = self.conn(slot) {
            conn.phase = Phase::Finishing { drain: true };
        }
        self.send(slot, &mut Frame::new(&close));
        self.finish(slot, self.limits.close_timeout, true);
    }

    /// Sends a close frame we initiate and waits for the client's answer.
    pub(super) fn start_close(&mut self, slot: u32, code: CloseCode, reason: &str) {
        let mut frame = Vec::new();
        encode_close(&mut frame, code, reason);
        self.start_close_with(slot, &frame);
    }

    /// Sends `frame`, a close frame, to an open session, which then waits
    /// (closing) for the client's answer until `close_timeout`, unless
    /// sending it ended the connection already.
    pub(super) fn start_close_with(&mut self, slot: u32, frame: &[u8]) {
        self.leave_session(slot);
        self.send(slot, &mut Frame::new(frame));
        if matches!(self.conn(slot).map(|c| &c.phase), Some(Phase::Closing(_))) {
            self.set_deadline(slot, self.limits.close_timeout);
        }
    }

    /// Ends an open session (if it is one): the client leaves its app's
    /// members, and the app is told.
    pub(super) fn leave_session(&mut self, slot: u32) {
        let Some(conn) = self.slots[slot as usize].conn.as_mut() else {
            return;
        };
        let session = match std::mem::replace(&mut conn.phase, Phase::Finishing { drain: true }) {
            Phase::Open(session) => session,
            other => {
                conn.phase = other;
                return;
            }
        };
        let (id, peer) = (conn.id, conn.peer);
        conn.phase = Phase::Closing(session.decoder);
        let app = usize::from(session.app);
        self.leave_members(app, session.member);
        if self.apps[app].send_close {
            notify(
                &mut self.apps[app],
                InboundKind::Close,
                id,
                session.endpoint_id,
                peer,
                &[],
            );
        }
    }

    /// Writes what is pending, then closes (see [`Phase::Finishing`]; with
    /// `drain`, for a client that may still be sending, our side is shut
    /// down first), or drops the connection when `timeout` passes.
    pub(super) fn finish(&mut self, slot: u32, timeout: Duration, drain: bool) {
        self.leave_session(slot);
        self.release_partial(slot);
        self.forget_stall(slot);
        let Some(conn) = self.conn(slot) else { return };
        conn.phase = Phase::Finishing { drain };
        self.set_deadline(slot, timeout);
        self.after_output(slot);
    }

    fn set_deadline(&mut self, slot: u32, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let Some(conn) = self.conn(slot) else { return };
        conn.deadline = Some(deadline);
        let generation = conn.id.generation();
        self.push_deadline(deadline, slot, generation);
    }

    /// Puts a connection's deadline in the heap. An entry outlives what it
    /// times (a handshake that succeeded, a connection that closed) until
    /// it falls due; past twice as many entries as slots (and some), the
    /// heap keeps only those in force, so that a long timeout under heavy
    /// churn does not hold an entry for every connection of its span.
    pub(super) fn push_deadline(&mut self, deadline: Instant, slot: u32, generation: u32) {
        if self.deadlines.len() >= 2 * self.slots.len() + STALE_DEADLINES {
            let slots = &self.slots;
            self.deadlines
                .retain(|&Reverse((deadline, slot, generation))| {
                    slots
                        .get(slot as usize)
                        .and_then(|s| s.conn.as_ref())
                        .is_some_and(|c| {
                            c.id.generation() == generation && c.deadline == Some(deadline)
                        })
                });
        }
        self.deadlines.push(Reverse((deadline, slot, generation)));
    }

    /// The client sent a close frame: its app answers it (see
    /// [`Phase::Answering`]), or this worker does if the app has not by
    /// `close_timeout`. Anything more the client sends is not read.
    #[cold]
    pub(super) fn await_close_answer(&mut self, slot: u32, status: Option<CloseCode>) {
        let code = status.map(|code| code.get().to_be_bytes());
        let payload = code.as_ref().map_or(&[][..], |code| &code[..]);
        self.await_app_close(slot, status, payload, None);
    }

    /// Fails a client in session for a protocol error: our close frame
    /// with `code` and `reason` goes behind the app's replies to the
    /// messages the client sent before the error (a client's valid
    /// requests are answered before the connection fails, as when it
    /// closes), sent by its app as for a close frame the client sent.
    #[cold]
    pub(super) fn fail_behind_replies(&mut self, slot: u32, code: CloseCode, reason: &str) {
        let mut frame = Vec::new();
        encode_close(&mut frame, code, reason);
        // A close frame's header is two bytes: its payload is at most 125.
        self.await_app_close(slot, Some(code), &frame[2..], Some(reason.into()));
    }

    /// Hands the client's app the close frame to answer with, `payload`,
    /// behind its replies (see [`Phase::Answering`]).
    fn await_app_close(
        &mut self,
        slot: u32,
        status: Option<CloseCode>,
        payload: &[u8],
        failure: Option<Box<str>>,
    ) {
        self.release_partial(slot);
        let Some(conn) = self.slots[slot as usize].conn.as_mut() else {
            return;
        };
        let session = match std::mem::replace(&mut conn.phase, Phase::Finishing { drain: false }) {
            Phase::Open(session) => session,
            other => {
                conn.phase = other;
                return;
            }
        };
        conn.phase = Phase::Answering {
            app: session.app,
            status,
            failure,
        };
        let message = Inbound {
            kind: InboundKind::CloseFrame,
            client: conn.id,
            endpoint_id: session.endpoint_id,
            data_kind: 0,
            peer: conn.peer,
            payload,
        };
        let app = usize::from(session.app);
        self.leave_members(app, session.member);
        enqueue(&mut self.apps[app], &message, Payload::Plain(payload))
            .expect("a close frame notice has nothing to check");
        self.set_deadline(slot, self.limits.close_timeout);
    }

    /// Takes the member at `index` out of `app`'s members (what the app
    /// sends every client goes to them).
    fn leave_members(&mut self, app: usize, index: usize) {
        if index == NOT_MEMBER {
            return;
        }
        let members = &mut self.members[app];
        members.swap_remove(index);
        if let Some(&moved) = members.get(index)
            && let Some(Conn {
                phase: Phase::Open(s),
                ..
            }) = self.slots[moved as usize].conn.as_mut()
        {
            s.member = index;
        }
    }

    /// Answers a client's close frame (see [`Phase::Answering`]) with
    /// `frame`, the app's answer or this worker's, and closes the
    /// connection once it is written: the close handshake is complete. (A
    /// failed client, which may still be sending, is drained: see
    /// [`Phase::Finishing`].)
    #[cold]
    pub(super) fn answer_close(&mut self, slot: u32, frame: &mut Frame<'_>) {
        let drain = matches!(
            self.conn(slot).map(|c| &c.phase),
            Some(Phase::Answering {
                failure: Some(_),
                ..
            })
        );
        self.send(slot, frame);
        self.finish(slot, self.limits.close_timeout, drain);
    }

    /// Answers for the app (see [`Phase::Answering`]): it did not in time.
    #[cold]
    pub(super) fn answer_close_now(&mut self, slot: u32) {
        let Some(conn) = self.conn(slot) else { return };
        let frame = answer_for(&conn.phase);
        self.answer_close(slot, &mut Frame::new(&frame));
    }

    /// Drops a connection now.
    pub(super) fn drop_conn(&mut self, slot: u32) {
        self.leave_session(slot);
        self.release_partial(slot);
        self.forget_stall(slot);
        let Some(mut conn) = self.slots[slot as usize].conn.take() else {
            return;
        };
        // Best effort: a client that is still there learns the TLS session
        // ended on purpose.
        let _ = conn.stream.close_notify();
        let _ = self.poll.registry().deregister(conn.stream.tcp_mut());
        let peer = conn.peer;
        drop(conn);
        // A descriptor is free now, for a spare lost to another thread.
        take_back_spare(&mut self.spare_fd);
        self.free.push_back(slot);
        self.budget.release(&peer);
    }

    pub(super) fn expire_deadlines(&mut self) {
        // Once handshakes and closes are over, no clock reading per pass.
        if self.deadlines.is_empty() {
            return;
        }
        let now = Instant::now();
        while let Some(&Reverse((deadline, slot, generation))) = self.deadlines.peek() {
            if deadline > now {
                break;
            }
            self.deadlines.pop();
            let current = self.slots.get(slot as usize).and_then(|s| s.conn.as_ref());
            if let Some(conn) = current
                && conn.id.generation() == generation
                && conn.deadline == Some(deadline)
            {
                log::debug!("client {} ({}): timed out", conn.id, conn.peer);
                if matches!(conn.phase, Phase::Answering { .. }) {
                    // The app did not answer the close frame in time.
                    self.answer_close_now(slot);
                } else {
                    self.drop_conn(slot);
                }
            }
        }
    }
}
