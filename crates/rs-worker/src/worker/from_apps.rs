//! Relaying from the apps: the frames they put on their outbound rings,
//! written to each recipient this worker holds without a copy per
//! recipient, in batches so that no app's ring holds up the others.

use rs_app::wire::{ClientId, Recipients, read_outbound};

use crate::output::Frame;

use super::Worker;
use super::conn::{NOT_MEMBER, Phase};

/// Outbound messages taken from one app's ring before looking at the others.
const OUTBOUND_BATCH: usize = 256;

/// Past this many ids, an "every client except these" list is sorted once
/// and searched, rather than scanned for each member: thousands of
/// exceptions among thousands of members would hold up the worker.
const SCANNED_EXCEPTIONS: usize = 16;

impl Worker {
    /// Sends what apps wrote to their recipients here. Returns whether any
    /// ring had more than a batch waiting (poll without sleeping then).
    pub(super) fn deliver_outbound(&mut self) -> bool {
        let mut busy = false;
        self.pass = self.pass.wrapping_add(1);
        let mut outbound = std::mem::take(&mut self.outbound);
        for (app, ring) in outbound.iter_mut().enumerate() {
            let mut delivered = 0;
            let mut behind = false;
            while let Some(bytes) = ring.peek() {
                self.deliver(app, bytes);
                ring.advance();
                delivered += 1;
                if delivered == OUTBOUND_BATCH {
                    busy = true;
                    behind = ring.unread_exceeds(self.apps[app].window);
                    break;
                }
            }
            ring.release();
            self.apps[app].replies_behind = behind;
        }
        self.outbound = outbound;
        self.flush_queued();
        // After the pass: closing clients in the middle of it would move
        // members it has not served yet.
        self.check_held();
        busy
    }

    fn deliver(&mut self, app: usize, bytes: &[u8]) {
        let message = match read_outbound(bytes) {
            Ok(message) => message,
            Err(error) => {
                log::error!(
                    "worker {}: skipping a malformed outbound message: {error}",
                    self.index
                );
                return;
            }
        };
        let mut frame = match message.lent {
            // SAFETY: a lent payload is the app thread's (see
            // `rs_app::wire`): it holds these bytes in its inbound ring until
            // this record is released, which `deliver_outbound` does only
            // after this call, when `frame` is gone (a part the socket did
            // not take was copied into the connection's queue). The slice's
            // lifetime is unbounded: `frame` must never be kept (`Output`
            // copies what it queues).
            Some(lent) => Frame::in_parts(message.frame, unsafe { lent.bytes() }),
            None => Frame::new(message.frame),
        };
        match message.recipients {
            Recipients::Single(id) => {
                self.deliver_to(app, id, &mut frame, message.close_after, false);
            }
            Recipients::Multi(ids) => {
                for id in ids.iter() {
                    self.deliver_to(app, id, &mut frame, message.close_after, true);
                }
            }
            recipients @ (Recipients::Every
            | Recipients::EveryExcept(_)
            | Recipients::EveryExceptMulti(_)) => {
                self.deliver_to_members(app, recipients, &mut frame, message.close_after);
            }
            Recipients::Join(id) => self.join_members(app, id),
        }
    }

    /// Makes `id` one of `app`'s members, whom "every client" messages
    /// reach, if it is still its open client and not one already.
    #[cold]
    fn join_members(&mut self, app: usize, id: ClientId) {
        if id.worker() != self.index {
            return;
        }
        let slot = id.slot();
        let members = &mut self.members[app];
        if let Some(conn) = self
            .slots
            .get_mut(slot as usize)
            .and_then(|s| s.conn.as_mut())
            && conn.id == id
            && let Phase::Open(session) = &mut conn.phase
            && usize::from(session.app) == app
            && session.member == NOT_MEMBER
        {
            session.member = members.len();
            members.push(slot);
        }
    }

    /// Sends one frame to every client of `app` that `recipients` includes.
    /// Out of line: a reply to one client, the common message, stays short.
    #[inline(never)]
    fn deliver_to_members(
        &mut self,
        app: usize,
        recipients: Recipients<'_>,
        frame: &mut Frame<'_>,
        close_after: bool,
    ) {
        let mut excepted = std::mem::take(&mut self.excepted);
        excepted.clear();
        if let Recipients::EveryExceptMulti(ids) = recipients
            && ids.len() > SCANNED_EXCEPTIONS
        {
            excepted.extend(ids.iter().map(ClientId::get));
            excepted.sort_unstable();
        }
        // Backwards: sending may close a slow member, whose removal moves
        // the last member (already served) into its place.
        let mut i = self.members[app].len();
        while i > 0 {
            i -= 1;
            let Some(&slot) = self.members[app].get(i) else {
                continue;
            };
            let Some(id) = self.conn(slot).map(|c| c.id) else {
                continue;
            };
            let included = if excepted.is_empty() {
                recipients.includes(id)
            } else {
                excepted.binary_search(&id.get()).is_err()
            };
            if included {
                self.deliver_to(app, id, frame, close_after, true);
            }
        }
        self.excepted = excepted;
    }

    /// Sends one frame to one client of `app`, if it is still that client.
    /// `batch` (a frame for many clients), or a frame for a client that got
    /// one already in this pass: queued, to be written with the client's
    /// other frames of this pass in one vectored write.
    #[inline(always)]
    fn deliver_to(
        &mut self,
        app: usize,
        id: ClientId,
        frame: &mut Frame<'_>,
        close_after: bool,
        batch: bool,
    ) {
        if id.worker() != self.index {
            return;
        }
        let (slot, pass) = (id.slot(), self.pass);
        let Some(conn) = self.conn(slot) else { return };
        let member_of_app = conn.phase.app().is_some_and(|a| usize::from(a) == app);
        if conn.id != id || !member_of_app {
            return; // a closed client's id reaches nobody
        }
        if close_after {
            self.deliver_close(slot, frame);
        } else if batch || conn.sent_pass == pass {
            // A second frame for the client in this pass (an app sending it
            // several, say): it joins one vectored write at the pass's end.
            self.queue(slot, frame);
        } else {
            // The first: written at once, from the ring.
            conn.sent_pass = pass;
            self.send(slot, frame);
        }
    }

    /// A close frame from the app: it answers the client's own close frame
    /// (see [`Phase::Answering`]), or starts the closing handshake.
    #[cold]
    fn deliver_close(&mut self, slot: u32, frame: &mut Frame<'_>) {
        if matches!(
            self.conn(slot).map(|c| &c.phase),
            Some(Phase::Answering { .. })
        ) {
            self.answer_close(slot, frame);
        } else {
            let bytes = frame.to_vec();
            self.start_close_with(slot, &bytes);
        }
    }
}
