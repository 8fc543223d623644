//! Where a connection lives: its state ([`Conn`], and what it is doing,
//! its [`Phase`]), the [`Slot`] that holds it (its id's slot and
//! generation), and its setup once accepted.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use mio::net::TcpStream;
use mio::{Interest, Token};
use rs_app::abi::PeerAddr;
use rs_app::wire::{ClientId, MAX_SLOTS, MAX_WORKERS, peer_addr};
use rs_http::{RequestParser, Scheme};
use rs_proto::{CloseCode, Decoder};

use crate::output::Output;
use crate::routes::RouteTable;
use crate::transport::Transport;

use super::Worker;

// Every worker the configuration allows can name its clients (see the
// `expect` in `Worker::add_conn`; `Worker::new` refuses other indexes).
const _: () = assert!(rs_conf::defaults::MAX_WORKER_C <= MAX_WORKERS as usize);

/// What a connection is doing.
pub(super) enum Phase {
    /// Reading the HTTP upgrade request, to route it by the endpoints in use
    /// when the connection was accepted (with the certificates of then, for
    /// `wss://`: a reload between the TLS handshake and the request must
    /// not route a request by endpoints its certificate was not chosen
    /// with).
    Handshake(RequestParser, Arc<RouteTable>),
    /// A WebSocket session with an app.
    Open(Session),
    /// The client sent a close frame (`status`: its status code, if any),
    /// or broke the protocol (`failure`: why, and `status` the code we fail
    /// it with), and its `app` answers with the close frame behind its
    /// replies to what came before (`InboundKind::CloseFrame`). No longer
    /// among the app's members (what the app sends every client passes it
    /// by), but what it sends this client by id still reaches it; what the
    /// client sends is not read.
    Answering {
        app: u16,
        status: Option<CloseCode>,
        failure: Option<Box<str>>,
    },
    /// We sent a close frame and wait for the client's.
    Closing(Decoder),
    /// Writing what is left, then closing. With `drain` (after an HTTP error
    /// or a protocol error, when the client may still be sending), our side
    /// is shut down first and the connection dropped when the client closes
    /// its side, so that unread input cannot reset what we sent.
    Finishing { drain: bool },
}

impl Phase {
    /// The app that may send this client frames: while open, or answering
    /// its close frame.
    pub(super) fn app(&self) -> Option<u16> {
        match *self {
            Phase::Open(ref session) => Some(session.app),
            Phase::Answering { app, .. } => Some(app),
            _ => None,
        }
    }
}

pub(super) struct Session {
    pub(super) decoder: Decoder,
    pub(super) app: u16,
    pub(super) endpoint_id: u16,
    /// Position in the app's member list, or [`NOT_MEMBER`] until the app
    /// knows of the client (see `rs_app::wire::write_outbound_join`).
    pub(super) member: usize,
}

/// A session whose client is not among its app's members yet.
pub(super) const NOT_MEMBER: usize = usize::MAX;

/// A connection that waits for its app's backlog to drain: its message is
/// there (the app's ring had no room), or the backlog holds too much to
/// read more (see `to_apps`). `rest`: what was read after the message.
pub(super) struct Stalled {
    pub(super) app: u16,
    pub(super) rest: Vec<u8>,
    /// It waits for the app's replies to be delivered too (it sent faster
    /// than they were), until this at most.
    pub(super) until_replies: Option<Instant>,
}

pub(super) struct Conn {
    /// Plain TCP or TLS: the state machine reads and writes plaintext.
    pub(super) stream: Transport,
    /// Converted once, for the app messages that carry it.
    pub(super) peer: PeerAddr,
    pub(super) port: u16,
    pub(super) id: ClientId,
    pub(super) phase: Phase,
    pub(super) output: Output,
    pub(super) deadline: Option<Instant>,
    pub(super) stalled: Option<Stalled>,
    /// What the client sent that was thrown away, finishing or after its
    /// close frame (see `Worker::discard`).
    pub(super) discarded: usize,
    /// Our side is shut down (Finishing).
    pub(super) write_shut: bool,
    /// Frames were queued for it in this delivery pass (see `to_flush`).
    pub(super) queued: bool,
    /// The last delivery pass that wrote it a one-client frame at once (the
    /// pass's later ones are queued).
    pub(super) sent_pass: u32,
    /// It used up its read turn and waits in `unread`: `Some(until_blocked)`
    /// for the read that resumes it (see `on_readable`).
    pub(super) read_deferred: Option<bool>,
    /// Its decoder's [`partial_len`](Decoder::partial_len) as last counted
    /// in the worker's `partial_total`.
    pub(super) partial: usize,
    /// It sent something since the last idle check (see `idle`).
    pub(super) heard: bool,
    /// The last idle check held one strike against it: it was silent (and
    /// was pinged), or its output was paused and its peer acknowledged
    /// none of it. A second strike in a row closes it.
    pub(super) struck: bool,
    /// The bytes its peer had acknowledged at the last idle check that
    /// found it silent (see `idle`).
    pub(super) acked: u64,
    /// The client closed its side (we read the end of its stream) while we
    /// still had something to send it: the connection ends once that is
    /// sent, not at once.
    pub(super) peer_closed: bool,
    /// Not read while its unread output is over half its limit (see
    /// `Worker::pause_for_output`).
    pub(super) output_paused: bool,
}

pub(super) struct Slot {
    pub(super) generation: u32,
    pub(super) conn: Option<Conn>,
}

impl Worker {
    pub(super) fn add_conn(
        &mut self,
        stream: TcpStream,
        peer: SocketAddr,
        port: u16,
        scheme: Scheme,
    ) -> io::Result<()> {
        stream.set_nodelay(true)?;
        // The endpoints and certificates in use now are this connection's:
        // of one version (a reload swaps them together).
        let (routes, certs) = self.routes.current_with(|| match (scheme, &self.tls) {
            // A client connecting to an IP address sends no SNI: the
            // address it came to chooses the cert then.
            (Scheme::Wss, Some(tls)) => Some(tls.current(stream.local_addr().ok().map(|a| a.ip()))),
            _ => None,
        });
        // The TLS handshake, like the HTTP one, must end by the deadline.
        let mut stream = match (scheme, certs) {
            (Scheme::Wss, Some(certs)) => Transport::tls(stream, certs)?,
            (Scheme::Wss, None) => return Err(io::Error::other("no TLS certificates")),
            (Scheme::Ws, _) => Transport::Plain(stream),
        };
        let slot = match self.free.pop_front() {
            Some(slot) => slot,
            None if self.slots.len() < MAX_SLOTS as usize => {
                self.slots.push(Slot {
                    generation: 0,
                    conn: None,
                });
                (self.slots.len() - 1) as u32
            }
            None => return Err(io::Error::other("no free connection slot")),
        };
        let entry = &mut self.slots[slot as usize];
        entry.generation = ClientId::next_generation(entry.generation);
        let id = ClientId::new(self.index, slot, entry.generation)
            .expect("worker, slot and generation in range");
        let token = Token(self.conn_base() + slot as usize);
        if let Err(e) = self.poll.registry().register(
            stream.tcp_mut(),
            token,
            Interest::READABLE | Interest::WRITABLE,
        ) {
            self.free.push_back(slot);
            return Err(e);
        }
        let deadline = Instant::now() + self.limits.handshake_timeout;
        self.slots[slot as usize].conn = Some(Conn {
            stream,
            peer: peer_addr(peer),
            port,
            id,
            phase: Phase::Handshake(
                RequestParser::with_max_head_len(self.limits.max_http_request_size),
                routes,
            ),
            output: Output::default(),
            deadline: Some(deadline),
            stalled: None,
            discarded: 0,
            write_shut: false,
            queued: false,
            sent_pass: self.pass.wrapping_sub(1),
            read_deferred: None,
            partial: 0,
            heard: true,
            struck: false,
            acked: 0,
            peer_closed: false,
            output_paused: false,
        });
        self.push_deadline(deadline, slot, id.generation());
        Ok(())
    }

    pub(super) fn conn(&mut self, slot: u32) -> Option<&mut Conn> {
        self.slots.get_mut(slot as usize)?.conn.as_mut()
    }
}
