//! Relaying to the apps: what a worker puts on their inbound rings (read
//! messages, open and close notices), and the backlogs where it waits
//! while a ring is full, since a worker never blocks on an app. A client
//! whose message waits is not read until its app's backlog drains; past
//! [`MAX_BACKLOG_BYTES`], no client of the app is.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rs_app::abi::PeerAddr;
use rs_app::wire::{ClientId, Inbound, InboundKind, inbound_len, write_inbound_header};
use rs_proto::{MaskedMessage, ProtocolError};
use rs_ring::{Producer, PushError};

use super::Worker;
use super::conn::{Phase, Stalled};
use crate::sys;

/// Messages an app's backlog may hold before the app's endpoints answer new
/// handshakes with 503 (`HandshakeError::AppBusy`), until it is shorter.
pub(super) const MAX_BACKLOG: usize = 4096;
/// Likewise in bytes: open notices carry the request's query, up to
/// `max_http_request_size` each. Past it, the app's clients are not read
/// either (see [`Link::holds_too_much`]).
pub(super) const MAX_BACKLOG_BYTES: usize = 32 << 20;
/// The most of this worker's messages an app may leave unread in its ring
/// (see [`Link::behind_for`]); less for a smaller ring.
const MAX_WINDOW: u64 = 4 << 20;
/// The longest a client is paused for its app's replies alone: an app
/// whose replies stay behind for long of its own accord (a feed) must not
/// keep a client that once sent much unread, its pings and close frame
/// unanswered; a flooder is slowed to a read per this much.
const REPLIES_WAIT: Duration = Duration::from_millis(50);

/// The inbound half of an [`AppLink`](super::AppLink).
pub(super) struct Link {
    pub(super) inbound: Producer,
    /// Messages for the app that found its ring full, in order; they go
    /// first once it has room. Bounded: a read only lands here when its
    /// connection stops reading, and past [`MAX_BACKLOG_BYTES`] no client
    /// of the app is read; a connection has one open and one close notice,
    /// and past [`MAX_BACKLOG`] messages or [`MAX_BACKLOG_BYTES`] no new
    /// connection is taken.
    pub(super) backlog: VecDeque<Queued>,
    /// The payload bytes in `backlog`, and the input read past them from
    /// the clients paused until it drains (`Stalled::rest`).
    pub(super) backlog_bytes: usize,
    pub(super) send_open: bool,
    pub(super) send_close: bool,
    /// The bytes of messages the app may leave unread on the ring before
    /// the clients read next are paused: [`MAX_WINDOW`], or half the most
    /// the ring grows to. The same for the app's replies on its outbound
    /// ring, which this worker delivers in batches.
    pub(super) window: u64,
    /// The last delivery pass left more than `window` bytes of the app's
    /// replies on its outbound ring.
    pub(super) replies_behind: bool,
}

impl Link {
    /// A link with an empty backlog.
    pub(super) fn new(inbound: Producer, send_open: bool, send_close: bool) -> Self {
        let window = (inbound.max_message_len() as u64 / 2).min(MAX_WINDOW);
        Self {
            inbound,
            backlog: VecDeque::new(),
            backlog_bytes: 0,
            send_open,
            send_close,
            window,
            replies_behind: false,
        }
    }

    /// Whether a client just read should be paused until the app has
    /// caught up, and if so whether it waits for the app's replies too
    /// ([`Wait`]):
    /// when the app has more than its window of this worker's messages
    /// unread, or, for a client whose read was long (`heavy`, 8 KiB),
    /// when this worker has more than that of the app's replies to deliver.
    /// A client that sends faster than the app answers, or than its answers
    /// are delivered, then adds a read's worth at a time, not a ring's
    /// worth (which the ring would grow to, and others' messages would wait
    /// behind for seconds), and the paused clients take turns. (Replies
    /// pause only heavy senders: an app that pushes more than is delivered
    /// of its own accord would otherwise keep its clients unread, their
    /// pings and close frames unanswered.)
    #[inline(always)]
    fn behind_for(&mut self, heavy: bool) -> Option<Wait> {
        if heavy && self.replies_behind {
            Some(Wait::ForReplies)
        } else {
            self.inbound
                .unreleased_exceeds(self.window)
                .then_some(Wait::ForApp)
        }
    }

    /// Whether a client paused for this app may be read again
    /// (`until_replies`: it waits for the app's replies too, until then;
    /// `now`: the time).
    fn has_caught_up(&mut self, until_replies: Option<Instant>, now: Instant) -> bool {
        let for_replies = until_replies.is_some_and(|until| now < until);
        if !self.backlog.is_empty() || (for_replies && self.replies_behind) {
            return false;
        }
        if self.inbound.unreleased_exceeds(self.window) {
            // Woken even if it has nothing new to read: it may be asleep
            // holding messages whose lent replies this worker has sent
            // (as when its ring is full, see `push_inbound`).
            self.inbound.wake_consumer();
            return false;
        }
        true
    }

    /// Whether the app's backlog is too long to take new clients: with the
    /// app stuck, every client that came and went would add two notices.
    pub(super) fn is_swamped(&self) -> bool {
        self.backlog.len() >= MAX_BACKLOG || self.backlog_bytes >= MAX_BACKLOG_BYTES
    }

    /// Whether the backlog holds so many bytes that the app's clients are
    /// not read until it drains. Each client that has a message waiting
    /// stops anyway; without this, thousands of them, each with a message
    /// of up to `max_ws_msg_size`, would hold that many times as much.
    pub(super) fn holds_too_much(&self) -> bool {
        self.backlog_bytes >= MAX_BACKLOG_BYTES
    }
}

/// What a client paused for its app waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Wait {
    /// The app: its backlog drained and its ring read below the window.
    ForApp,
    /// The app, and its replies delivered too (for [`REPLIES_WAIT`] at
    /// most).
    ForReplies,
}

/// An inbound message waiting in a backlog.
pub(super) struct Queued {
    kind: InboundKind,
    client: ClientId,
    endpoint_id: u16,
    data_kind: u8,
    peer: PeerAddr,
    payload: Vec<u8>,
}

impl Queued {
    fn as_inbound(&self) -> Inbound<'_> {
        Inbound {
            kind: self.kind,
            client: self.client,
            endpoint_id: self.endpoint_id,
            data_kind: self.data_kind,
            peer: self.peer,
            payload: &self.payload,
        }
    }
}

/// A read message's payload: unmasked already, or still masked (unmasked
/// while it is copied into the app's ring).
#[derive(Clone, Copy)]
pub(super) enum Payload<'a> {
    Plain(&'a [u8]),
    Masked(MaskedMessage<'a>),
}

impl Payload<'_> {
    fn len(self) -> usize {
        match self {
            Self::Plain(bytes) => bytes.len(),
            Self::Masked(masked) => masked.len(),
        }
    }

    /// Writes the payload into `dst`, of its length.
    #[inline(always)]
    fn write_to(self, dst: &mut [u8]) -> Result<(), ProtocolError> {
        match self {
            Self::Plain(bytes) => {
                dst.copy_from_slice(bytes);
                Ok(())
            }
            Self::Masked(masked) => masked.unmask_into(dst),
        }
    }
}

/// Puts a message, with `payload` in place of its own, on an app's inbound
/// ring; `Ok(false)` if the ring is full. A text payload that turns out not
/// to be UTF-8 while it is unmasked is the error, and nothing is put.
#[inline(always)]
fn push_inbound(
    ring: &mut Producer,
    message: &Inbound<'_>,
    payload: Payload<'_>,
) -> Result<bool, ProtocolError> {
    match ring.reserve(inbound_len(payload.len())) {
        Ok(mut reservation) => {
            let place = write_inbound_header(&mut reservation, message)
                .expect("a worker writes valid inbound headers");
            // Dropped uncommitted on error: the ring forgets it.
            payload.write_to(place)?;
            reservation.commit();
            Ok(true)
        }
        Err(PushError::Full { .. }) => {
            // Woken even if nothing new was published: the app may be
            // asleep holding messages whose lent replies this worker has
            // sent since (see rs_app's app thread), and only it can give
            // their space back. A stalled worker retries every millisecond,
            // so a wake-up that comes before the app sleeps is repeated.
            ring.wake_consumer();
            Ok(false)
        }
        Err(PushError::TooLarge { len, max }) => {
            // The ring's maximum is sized above max_ws_msg_size; only a
            // misconfiguration gets here. The message is dropped, loudly.
            log::error!(
                "dropping a {len}-byte message: the app's inbound ring holds at most {max} bytes"
            );
            Ok(true)
        }
    }
}

/// Tells an app that a client connected (`payload`: the handshake's
/// details, see `OpenDetails`) or left. Never waits: a full ring
/// leaves the notice in the app's backlog.
pub(super) fn notify(
    link: &mut Link,
    kind: InboundKind,
    client: ClientId,
    endpoint_id: u16,
    peer: PeerAddr,
    payload: &[u8],
) {
    let message = Inbound {
        kind,
        client,
        endpoint_id,
        data_kind: 0,
        peer,
        payload,
    };
    enqueue(link, &message, Payload::Plain(payload))
        .expect("a notice's payload is not checked: only a read's text is");
}

/// Puts a message with `payload` on an app's ring behind its backlog;
/// `Ok(false)` if it had to wait in the backlog. A worker never blocks on an
/// app: the app may itself be waiting for this worker to drain its outbound
/// ring. Errors as [`push_inbound`].
#[inline(always)]
pub(super) fn enqueue(
    link: &mut Link,
    message: &Inbound<'_>,
    payload: Payload<'_>,
) -> Result<bool, ProtocolError> {
    if link.backlog.is_empty() && push_inbound(&mut link.inbound, message, payload)? {
        return Ok(true);
    }
    enqueue_backlog(link, message, payload)
}

/// The rest of [`enqueue`]: the message waits in the backlog.
#[cold]
fn enqueue_backlog(
    link: &mut Link,
    message: &Inbound<'_>,
    payload: Payload<'_>,
) -> Result<bool, ProtocolError> {
    let payload = match payload {
        Payload::Plain(bytes) => bytes.to_vec(),
        Payload::Masked(masked) => masked.to_vec()?,
    };
    link.backlog_bytes += payload.len();
    link.backlog.push_back(Queued {
        kind: message.kind,
        client: message.client,
        endpoint_id: message.endpoint_id,
        data_kind: message.data_kind,
        peer: message.peer,
        payload,
    });
    Ok(false)
}

impl Worker {
    /// Publishes what was pushed on the apps' inbound rings and wakes the
    /// apps that sleep (one wake-up per app and batch).
    pub(super) fn flush_inbound(&mut self) {
        for app in &mut self.apps {
            app.inbound.flush();
        }
    }

    /// The trim ticker ticked: what a burst grew and is unused now is given
    /// back. An inbound ring its app has read to the end goes back to its
    /// initial size (the app frees the large segment as it follows), an
    /// empty backlog gives back its room, and when a ring shrank (a burst
    /// of long messages ended) the allocator gives back what it holds free.
    ///
    /// A grown ring its app has not released to the end may only be held:
    /// an app gives back the messages whose echoes it lent when it next
    /// reads its rings, and an app asleep after its last echo does not.
    /// It is woken, so that the next tick finds the ring released.
    #[cold]
    pub(super) fn trim_inbound(&mut self) {
        self.trim_ticker.take();
        let mut shrank = false;
        for app in &mut self.apps {
            if app.inbound.has_grown() {
                if app.inbound.shrink_if_drained() {
                    shrank = true;
                } else {
                    app.inbound.wake_consumer();
                }
            }
            if app.backlog.is_empty() {
                app.backlog.shrink_to_fit();
            }
        }
        if shrank {
            sys::release_free_heap();
        }
    }

    /// Empties the backlogs of apps whose thread is gone (it dropped its
    /// end of the ring): nothing will take them.
    #[cold]
    pub(super) fn drop_backlogs_of_gone_apps(&mut self) {
        for app in &mut self.apps {
            if !app.backlog.is_empty() && app.inbound.is_abandoned() {
                log::debug!(
                    "worker {}: {} notices for an app that is gone dropped",
                    self.index,
                    app.backlog.len()
                );
                // What paused clients read past them stays counted, until
                // they are let go.
                app.backlog_bytes -= app.backlog.iter().map(|q| q.payload.len()).sum::<usize>();
                app.backlog.clear();
            }
        }
    }

    /// Stops reading `slot` if its app's backlog [holds too
    /// much](Link::holds_too_much); it is read again once the backlog has
    /// drained. Whether it stopped.
    #[cold]
    pub(super) fn stall_for_backlog(&mut self, slot: u32) -> bool {
        self.pause_if(
            slot,
            |link| link.holds_too_much().then_some(Wait::ForApp),
            "its app's backlog is full",
        )
    }

    /// Stops reading `slot`, just read (`heavy`: a long read), while its
    /// app [is behind](Link::behind_for). Whether it stopped.
    #[inline(always)]
    pub(super) fn pause_if_app_behind(&mut self, slot: u32, heavy: bool) -> bool {
        self.pause_if(slot, |link| link.behind_for(heavy), "its app is behind")
    }

    /// Stops reading `slot`, a client in session not paused yet, if `test`
    /// says so for its app's link (and what it waits for). Whether it
    /// stopped.
    #[inline(always)]
    fn pause_if(
        &mut self,
        slot: u32,
        test: impl FnOnce(&mut Link) -> Option<Wait>,
        why: &str,
    ) -> bool {
        let Some(conn) = self.slots[slot as usize].conn.as_ref() else {
            return false;
        };
        let Phase::Open(session) = &conn.phase else {
            return false;
        };
        let app = session.app;
        if conn.stalled.is_some() {
            return false;
        }
        let Some(wait) = test(&mut self.apps[usize::from(app)]) else {
            return false;
        };
        self.pause(slot, app, wait, why);
        true
    }

    /// Stops reading `slot` (of `app`) until [`retry_stalled`](Self::retry_stalled)
    /// finds the app caught up.
    #[cold]
    fn pause(&mut self, slot: u32, app: u16, wait: Wait, why: &str) {
        let Some(conn) = self.conn(slot) else { return };
        log::trace!("client {}: {why}, reading paused", conn.id);
        conn.stalled = Some(Stalled {
            app,
            rest: Vec::new(),
            until_replies: (wait == Wait::ForReplies).then(|| Instant::now() + REPLIES_WAIT),
        });
        let generation = conn.id.generation();
        self.stalled.push((slot, generation));
    }

    /// Forgets `slot`'s paused input (it is finishing or going), and its
    /// bytes in its app's backlog count.
    pub(super) fn forget_stall(&mut self, slot: u32) {
        let Some(conn) = self.conn(slot) else { return };
        if let Some(stall) = conn.stalled.take() {
            self.apps[usize::from(stall.app)].backlog_bytes -= stall.rest.len();
        }
    }

    /// Retries messages that found their app's ring full.
    pub(super) fn retry_stalled(&mut self) {
        for link in &mut self.apps {
            while let Some(queued) = link.backlog.front() {
                let message = queued.as_inbound();
                let pushed =
                    push_inbound(&mut link.inbound, &message, Payload::Plain(message.payload))
                        .expect("a queued payload was checked");
                if !pushed {
                    break;
                }
                link.backlog_bytes -= queued.payload.len();
                link.backlog.pop_front();
            }
        }
        if self.backlog_full {
            self.backlog_full = self.apps.iter().any(Link::holds_too_much);
        }
        let mut waiting = std::mem::take(&mut self.stalled);
        let now = Instant::now();
        let mut kept = 0;
        for i in 0..waiting.len() {
            let (slot, generation) = waiting[i];
            let Some(conn) = self
                .slots
                .get_mut(slot as usize)
                .and_then(|s| s.conn.as_mut())
            else {
                continue;
            };
            if conn.id.generation() != generation {
                continue;
            }
            // Once we sent our close frame, nothing the client sends goes to
            // the app: its close answer need not wait for the app.
            let closing = matches!(conn.phase, Phase::Closing(_));
            let apps = &mut self.apps;
            let Some(stall) = conn.stalled.take_if(|s| {
                closing || apps[usize::from(s.app)].has_caught_up(s.until_replies, now)
            }) else {
                if conn.stalled.is_some() {
                    waiting[kept] = (slot, generation);
                    kept += 1;
                }
                continue;
            };
            let mut rest = stall.rest;
            self.apps[usize::from(stall.app)].backlog_bytes -= rest.len();
            log::trace!("client {}: reading resumed", conn.id);
            self.process(slot, &mut rest);
            // Edge-triggered: what arrived meanwhile (data, or the end of
            // the stream) will not be announced again.
            if self.conn(slot).is_some_and(|c| c.stalled.is_none()) {
                self.on_readable(slot, true);
            }
        }
        // Those still waiting keep their places ahead of those paused again
        // just now: the paused clients take turns. (In the order they were
        // paused, a client that fills the app's ring at each turn, resumed
        // first, would pause the others for as long as it went on.)
        waiting.truncate(kept);
        waiting.append(&mut self.stalled);
        self.stalled = waiting;
    }
}
