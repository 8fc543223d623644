//! The worker event loop and the per-connection state machine.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::io::{self, Read};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use rs_app::abi::PeerAddr;
use rs_app::abi::{DATA_BIN, DATA_UTF8};
use rs_app::wire::{
    ClientId, Inbound, InboundKind, MAX_SLOTS, Recipients, inbound_len, peer_addr, read_outbound,
    socket_addr, write_inbound_header,
};
use rs_http::{
    HandshakeError, Progress, RequestParser, Router, Scheme, switching_protocols,
    write_error_response,
};
use rs_proto::{
    CloseCode, DataKind, Decoder, Event, MaskedMessage, Opcode, ProtocolError, encode_close,
    encode_frame,
};
use rs_ring::{Consumer, Notifier, Producer, PushError, Waker};

use crate::listen::Listener;
use crate::output::{Frame, Output};
use crate::tls::TlsConfig;
use crate::transport::Transport;

const NOTIFY: Token = Token(0);
const LISTENER_BASE: usize = 1;
/// `errno` values for "too many open files" (process, system).
const EMFILE: i32 = 24;
const ENFILE: i32 = 23;

/// How soon to retry messages waiting for room in an app's ring.
const RETRY: Duration = Duration::from_millis(1);
/// Outbound messages taken from one app's ring before looking at the others.
const OUTBOUND_BATCH: usize = 256;
/// Reads from one connection before the others get their turn: a client
/// that keeps its socket full (of pings, say) is read in turns of at most
/// `READS_PER_TURN` × `MAX_READ` bytes, not until it stops.
const READS_PER_TURN: u32 = 4;
/// The most one read takes (the read buffer's size, whatever
/// `worker_rbuf_size` asks for above it).
const MAX_READ: usize = 64 * 1024;
/// Messages an app's backlog may hold before the app's endpoints answer new
/// handshakes with 503 (`HandshakeError::AppBusy`), until it is shorter.
const MAX_BACKLOG: usize = 4096;

/// Where a request was routed: an app (by index) and its endpoint id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// The app's index in the configuration's `apps`.
    pub app: u16,
    /// The endpoint's `endpoint_id`.
    pub endpoint_id: u16,
}

/// This worker's two rings with one app.
pub struct AppLink {
    /// Worker → app: open, read and close notices.
    pub inbound: Producer,
    /// App → worker: frames and their recipients.
    pub outbound: Consumer,
    /// Tell the app about new clients (it has an open callback and
    /// `no_open_cb` is false).
    pub send_open: bool,
    /// Tell the app about closed clients.
    pub send_close: bool,
}

/// The limits a worker applies, from the configuration.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// `max_ws_msg_size` and `max_ws_frame_chain_size`.
    pub frames: rs_proto::Limits,
    /// `max_http_request_size`.
    pub max_http_request_size: usize,
    /// `shutdown_wait_http`: how long a handshake (and an HTTP error
    /// response's shutdown) may take.
    pub handshake_timeout: Duration,
    /// `shutdown_wait_ws`: how long a close handshake may take.
    pub close_timeout: Duration,
    /// `max_pending_output`: the output a client may leave unread before it
    /// is closed with 1008.
    pub max_pending_output: usize,
    /// `max_partial_msgs_size`: the payload bytes of unfinished messages
    /// this worker holds for all its clients together; past it, the
    /// clients holding the most are closed with 1013.
    pub max_partial_msgs_size: usize,
    /// `epoll_buf_elem_c`.
    pub events: usize,
    /// `worker_rbuf_size`: bytes read from a socket at once, used between
    /// 4 KiB and 64 KiB (a read is a share of a client's turn).
    pub read_buffer: usize,
}

/// The connections all workers may hold together (`fd_alloc_c`).
#[derive(Debug)]
pub struct ConnectionBudget {
    open: AtomicUsize,
    max: usize,
}

impl ConnectionBudget {
    /// A budget of `max` connections.
    pub fn new(max: usize) -> Self {
        Self {
            open: AtomicUsize::new(0),
            max,
        }
    }

    fn acquire(&self) -> bool {
        self.open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            })
            .is_ok()
    }

    fn release(&self) {
        self.open.fetch_sub(1, Ordering::AcqRel);
    }

    /// Connections open now, across all workers.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }
}

/// Everything a worker is made of.
pub struct WorkerSetup {
    /// This worker's index (encoded in its clients' ids).
    pub index: u16,
    /// Its listening sockets, each with the configured port it serves.
    pub listeners: Vec<Listener>,
    /// The certificates of `wss://` listeners, shared by all workers;
    /// required when a listener serves `wss://`.
    pub tls: Option<Arc<TlsConfig>>,
    /// Endpoint routing, shared by all workers.
    pub router: Arc<Router<Endpoint>>,
    /// Its rings with each app, in configuration order.
    pub apps: Vec<AppLink>,
    /// Its eventfd, whose waker every outbound ring's producer holds.
    pub notifier: Notifier,
    /// The limits to apply.
    pub limits: Limits,
    /// The connection budget shared by all workers.
    pub budget: Arc<ConnectionBudget>,
}

/// Stops a worker from another thread.
#[derive(Clone, Debug)]
pub struct WorkerHandle {
    stop: Arc<AtomicBool>,
    waker: Waker,
}

impl WorkerHandle {
    /// Starts the worker's shutdown: it stops accepting, sends 1001 to every
    /// client, and returns from `run` once all are closed or
    /// `shutdown_wait_ws` has passed.
    pub fn stop(&self) {
        // Paired with the read-modify-write in the worker's sleep re-check.
        self.stop.swap(true, Ordering::AcqRel);
        self.waker.wake();
    }
}

/// What a connection is doing.
enum Phase {
    /// Reading the HTTP upgrade request.
    Handshake(RequestParser),
    /// A WebSocket session with an app.
    Open(Session),
    /// We sent a close frame and wait for the client's.
    Closing(Decoder),
    /// Writing what is left, then closing. With `drain` (after an HTTP error
    /// or a protocol error, when the client may still be sending), our side
    /// is shut down first and the connection dropped when the client closes
    /// its side, so that unread input cannot reset what we sent.
    Finishing { drain: bool },
}

struct Session {
    decoder: Decoder,
    app: u16,
    endpoint_id: u16,
    /// Position in the app's member list.
    member: usize,
}

/// A message the app's ring had no room for, and the input after it.
struct Stalled {
    app: u16,
    rest: Vec<u8>,
}

struct Conn {
    /// Plain TCP or TLS: the state machine reads and writes plaintext.
    stream: Transport,
    /// Converted once, for the app messages that carry it.
    peer: PeerAddr,
    port: u16,
    id: ClientId,
    phase: Phase,
    output: Output,
    deadline: Option<Instant>,
    stalled: Option<Stalled>,
    /// Our side is shut down (Finishing).
    write_shut: bool,
    /// Frames were queued for it in this delivery pass (see `to_flush`).
    queued: bool,
    /// The last delivery pass that wrote it a one-client frame at once (the
    /// pass's later ones are queued).
    sent_pass: u32,
    /// It used up its read turn and waits in `unread`: `Some(until_blocked)`
    /// for the read that resumes it (see `on_readable`).
    read_deferred: Option<bool>,
    /// Its decoder's [`partial_len`](Decoder::partial_len) as last counted
    /// in the worker's `partial_total`.
    partial: usize,
}

struct Slot {
    generation: u32,
    conn: Option<Conn>,
}

/// One worker thread's state.
pub struct Worker {
    index: u16,
    poll: Poll,
    events: Events,
    listeners: Vec<Option<(TcpListener, u16)>>,
    /// What each listener serves, by index.
    schemes: Vec<Scheme>,
    tls: Option<Arc<TlsConfig>>,
    notifier: Notifier,
    router: Arc<Router<Endpoint>>,
    apps: Vec<Link>,
    /// Each app's outbound ring, apart from `apps` so that it can be read
    /// while deliveries update the rest of the worker.
    outbound: Vec<Consumer>,
    /// Each app's open clients here, by slot.
    members: Vec<Vec<u32>>,
    slots: Vec<Slot>,
    free: Vec<u32>,
    deadlines: BinaryHeap<Reverse<(Instant, u32, u32)>>,
    /// Connections whose app ring was full, to retry.
    stalled: Vec<(u32, u32)>,
    /// Connections that used up their read turn with bytes left to read
    /// (slot, generation), read again after the next poll.
    unread: Vec<(u32, u32)>,
    /// The `unread` of the previous loop, being resumed (kept for its
    /// allocation).
    resuming: Vec<(u32, u32)>,
    /// Connections with frames queued in this delivery pass.
    to_flush: Vec<u32>,
    /// Pongs owed to the connection whose input is being handled, written
    /// together when it is (see `process`).
    pongs: Vec<u8>,
    /// The sum of the connections' `partial`: payload bytes of unfinished
    /// messages held (see [`recount_partial`]), kept under
    /// `max_partial_msgs_size` by `shed_partial_messages`.
    partial_total: usize,
    /// The delivery pass, counted (wrapping), to tell which connections
    /// got a frame in this one.
    pass: u32,
    rbuf: Vec<u8>,
    limits: Limits,
    budget: Arc<ConnectionBudget>,
    stop: Arc<AtomicBool>,
    shutting_down: Option<Instant>,
    /// Connections refused for want of a descriptor or a place
    /// (`fd_alloc_c`), and handshakes refused because an app is behind
    /// (503): counted apart, so a log line says which.
    accept_refusals: RefusalLog,
    busy_refusals: RefusalLog,
    /// A descriptor kept in reserve, given up to refuse a connection
    /// cleanly when the process runs out of descriptors.
    spare_fd: Option<std::fs::File>,
}

impl Worker {
    /// Registers the listeners and the notifier with a new poll.
    pub fn new(setup: WorkerSetup) -> io::Result<Self> {
        let poll = Poll::new()?;
        poll.registry().register(
            &mut SourceFd(&setup.notifier.as_raw_fd()),
            NOTIFY,
            Interest::READABLE,
        )?;
        let mut listeners = Vec::new();
        let mut schemes = Vec::new();
        for (i, listener) in setup.listeners.into_iter().enumerate() {
            if listener.scheme == Scheme::Wss && setup.tls.is_none() {
                return Err(io::Error::other(format!(
                    "port {} serves wss:// but no TLS certificates were given",
                    listener.port
                )));
            }
            let (port, scheme) = (listener.port, listener.scheme);
            let mut socket = TcpListener::from_std(listener.listen().map_err(io::Error::other)?);
            poll.registry()
                .register(&mut socket, Token(LISTENER_BASE + i), Interest::READABLE)?;
            listeners.push(Some((socket, port)));
            schemes.push(scheme);
        }
        let app_count = setup.apps.len();
        let (apps, outbound) = setup
            .apps
            .into_iter()
            .map(|link| {
                let AppLink {
                    inbound,
                    outbound,
                    send_open,
                    send_close,
                } = link;
                (
                    Link {
                        inbound,
                        backlog: VecDeque::new(),
                        send_open,
                        send_close,
                    },
                    outbound,
                )
            })
            .unzip();
        Ok(Self {
            index: setup.index,
            poll,
            events: Events::with_capacity(setup.limits.events.max(1)),
            listeners,
            schemes,
            tls: setup.tls,
            notifier: setup.notifier,
            router: setup.router,
            apps,
            outbound,
            members: vec![Vec::new(); app_count],
            slots: Vec::new(),
            free: Vec::new(),
            deadlines: BinaryHeap::new(),
            stalled: Vec::new(),
            unread: Vec::new(),
            resuming: Vec::new(),
            to_flush: Vec::new(),
            pongs: Vec::new(),
            partial_total: 0,
            pass: 0,
            rbuf: Vec::new(),
            limits: setup.limits,
            budget: setup.budget,
            stop: Arc::new(AtomicBool::new(false)),
            shutting_down: None,
            accept_refusals: RefusalLog::default(),
            busy_refusals: RefusalLog::default(),
            spare_fd: Some(std::fs::File::open("/dev/null")?),
        })
    }

    /// A handle that stops this worker.
    pub fn handle(&self) -> WorkerHandle {
        WorkerHandle {
            stop: self.stop.clone(),
            waker: self.notifier.waker(),
        }
    }

    fn conn_base(&self) -> usize {
        LISTENER_BASE + self.listeners.len()
    }

    /// Runs the event loop until stopped and every connection is closed.
    pub fn run(mut self) -> io::Result<()> {
        // Lazily: zeroed memory is only mapped where reads touch it.
        // At most MAX_READ: a read is a turn's share (see READS_PER_TURN).
        self.rbuf = vec![0; self.limits.read_buffer.clamp(4096, MAX_READ)];
        loop {
            let busy = self.deliver_outbound();
            self.retry_stalled();
            if self.stop.load(Ordering::Acquire) && self.shutting_down.is_none() {
                self.begin_shutdown();
            }
            // Before sleeping: what the steps above queued for the apps
            // (resumed reads, close notices) wakes them now.
            self.flush_inbound();
            if let Some(started) = self.shutting_down {
                let open = self.slots.iter().any(|s| s.conn.is_some());
                if !open || started.elapsed() > self.limits.close_timeout {
                    self.close_all();
                    return Ok(());
                }
            }
            // Apps do not signal freed ring space: while something waits for
            // it, poll again within a millisecond rather than spin.
            let waiting =
                !self.stalled.is_empty() || self.apps.iter().any(|a| !a.backlog.is_empty());
            let timeout = if busy || !self.unread.is_empty() {
                Some(Duration::ZERO)
            } else {
                let (outbound, stop) = (&mut self.outbound, &self.stop);
                let sleep = self.notifier.prepare_sleep(|| {
                    outbound.iter_mut().any(|ring| !ring.is_empty())
                        || stop.fetch_or(false, Ordering::AcqRel)
                });
                match (sleep, waiting) {
                    (false, _) => Some(Duration::ZERO),
                    (true, false) => self.next_timeout(),
                    (true, true) => Some(self.next_timeout().map_or(RETRY, |t| t.min(RETRY))),
                }
            };
            match self.poll.poll(&mut self.events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
            self.notifier.awake();
            // Who used up a read turn before this poll gets the next after
            // its events (a read deferred from here on waits for the next
            // poll): one turn per client and loop.
            std::mem::swap(&mut self.unread, &mut self.resuming);
            // Taken out while the handlers borrow `self`; no allocation.
            let events = std::mem::replace(&mut self.events, Events::with_capacity(0));
            for event in &events {
                match event.token().0 {
                    // An app published: its rings are read at the top of
                    // the loop.
                    t if t == NOTIFY.0 => self.notifier.drain(),
                    t if t < self.conn_base() => self.accept(t - LISTENER_BASE),
                    t => {
                        let slot = (t - self.conn_base()) as u32;
                        if event.is_writable() && self.has_output(slot) {
                            self.on_writable(slot);
                        }
                        let closed = event.is_read_closed() || event.is_error();
                        if event.is_readable() || closed {
                            self.on_readable(slot, closed);
                        }
                    }
                }
            }
            self.events = events;
            self.resume_reads();
            self.expire_deadlines();
            // The messages just read wake their apps before this thread
            // delivers the next pass of outbound frames.
            self.flush_inbound();
        }
    }

    /// Publishes what was pushed on the apps' inbound rings and wakes the
    /// apps that sleep (one wake-up per app and batch).
    fn flush_inbound(&mut self) {
        for app in &mut self.apps {
            app.inbound.flush();
        }
    }

    /// How long the poll may sleep: until the next deadline.
    fn next_timeout(&self) -> Option<Duration> {
        let next = self.deadlines.peek().map(|Reverse((t, _, _))| *t);
        let shutdown = self.shutting_down.map(|t| t + self.limits.close_timeout);
        [next, shutdown]
            .into_iter()
            .flatten()
            .min()
            .map(|t| t.saturating_duration_since(Instant::now()))
    }

    fn accept(&mut self, listener: usize) {
        loop {
            let Some((socket, port)) = &self.listeners[listener] else {
                return;
            };
            let port = *port;
            let (stream, peer) = match socket.accept() {
                Ok(accepted) => accepted,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if matches!(e.raw_os_error(), Some(code) if code == EMFILE || code == ENFILE) =>
                {
                    // Out of descriptors. Left in the backlog, the connection
                    // would never be announced again (edge-triggered): free
                    // the spare descriptor, accept it, close it, take the
                    // spare back.
                    self.accept_refusals.record(self.index, || {
                        format!("accept failed: {e}; refusing new connections")
                    });
                    if self.spare_fd.take().is_none() {
                        return;
                    }
                    if let Some((socket, _)) = &self.listeners[listener] {
                        drop(socket.accept());
                    }
                    self.spare_fd = std::fs::File::open("/dev/null").ok();
                    continue;
                }
                Err(e) => {
                    self.accept_refusals
                        .record(self.index, || format!("accept failed: {e}"));
                    return;
                }
            };
            if !self.budget.acquire() {
                // Accepted and closed at once: fd_alloc_c is reached.
                drop(stream);
                self.accept_refusals.record(self.index, || {
                    "fd_alloc_c connections reached; refusing new connections".to_owned()
                });
                continue;
            }
            if let Err(e) = self.add_conn(stream, peer, port, self.schemes[listener]) {
                log::warn!(
                    "worker {}: dropping a new connection from {peer}: {e}",
                    self.index
                );
                self.budget.release();
            }
        }
    }

    fn add_conn(
        &mut self,
        stream: TcpStream,
        peer: SocketAddr,
        port: u16,
        scheme: Scheme,
    ) -> io::Result<()> {
        stream.set_nodelay(true)?;
        // The TLS handshake, like the HTTP one, must end by the deadline.
        let mut stream = match (scheme, &self.tls) {
            (Scheme::Wss, Some(tls)) => Transport::tls(stream, tls.current())?,
            (Scheme::Wss, None) => return Err(io::Error::other("no TLS certificates")),
            (Scheme::Ws, _) => Transport::Plain(stream),
        };
        let slot = match self.free.pop() {
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
            self.free.push(slot);
            return Err(e);
        }
        let deadline = Instant::now() + self.limits.handshake_timeout;
        self.slots[slot as usize].conn = Some(Conn {
            stream,
            peer: peer_addr(peer),
            port,
            id,
            phase: Phase::Handshake(RequestParser::with_max_head_len(
                self.limits.max_http_request_size,
            )),
            output: Output::default(),
            deadline: Some(deadline),
            stalled: None,
            write_shut: false,
            queued: false,
            sent_pass: self.pass.wrapping_sub(1),
            read_deferred: None,
            partial: 0,
        });
        self.deadlines
            .push(Reverse((deadline, slot, id.generation())));
        Ok(())
    }

    fn conn(&mut self, slot: u32) -> Option<&mut Conn> {
        self.slots.get_mut(slot as usize)?.conn.as_mut()
    }

    /// Whether a writable event has work for `slot`: output waiting, or a
    /// finishing connection to end. (Most writable events only report the
    /// client's ACK of what went out at once.)
    fn has_output(&self, slot: u32) -> bool {
        let conn = self.slots.get(slot as usize).and_then(|s| s.conn.as_ref());
        conn.is_some_and(|c| {
            !c.output.is_empty()
                || c.stream.has_buffered()
                || matches!(c.phase, Phase::Finishing { .. })
        })
    }

    fn on_writable(&mut self, slot: u32) {
        let Some(conn) = self.conn(slot) else { return };
        // TLS records first, then what waits behind them.
        let flushed = conn.stream.send_buffered();
        if let Err(e) = flushed.and_then(|()| conn.output.flush(&mut conn.stream)) {
            log::debug!("client {}: write failed: {e}", conn.id);
            self.close(slot);
            return;
        }
        self.after_output(slot);
    }

    /// Ends a finishing connection once its output is out.
    fn after_output(&mut self, slot: u32) {
        let Some(conn) = self.conn(slot) else { return };
        let Phase::Finishing { drain } = conn.phase else {
            return;
        };
        if !conn.output.is_empty() || conn.write_shut {
            return;
        }
        // TLS: close_notify goes out before TCP is shut down or closed.
        if let Err(e) = conn.stream.close_notify() {
            log::debug!("client {}: write failed: {e}", conn.id);
            self.close(slot);
            return;
        }
        if conn.stream.has_buffered() {
            return; // the rest when the socket is writable
        }
        if !drain {
            // The close handshake is complete: the server closes the TCP
            // connection first (RFC 6455 §7.1.1).
            self.close(slot);
            return;
        }
        conn.write_shut = true;
        if conn.stream.shutdown_write().is_err() {
            self.close(slot);
        }
    }

    /// Reads what `slot`'s socket has, in at most [`READS_PER_TURN`] reads;
    /// the rest is read after the next poll. `until_blocked`: read until
    /// the socket says so even after a short read (the event said the client
    /// closed its side, or events may have been missed).
    fn on_readable(&mut self, slot: u32, until_blocked: bool) {
        let mut rbuf = std::mem::take(&mut self.rbuf);
        let mut reads = 0;
        while let Some(conn) = self.conn(slot) {
            // A stalled connection is resumed by retry_stalled. One waiting
            // for its next turn (only ever on entry: a deferral ends the
            // loop) is read then, remembering what this event said: the end
            // of its stream is announced once.
            if conn.stalled.is_some() || conn.read_deferred.is_some() {
                if let Some(deferred_until_blocked) = &mut conn.read_deferred {
                    *deferred_until_blocked |= until_blocked;
                }
                break;
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
                Ok(0) => {
                    // The client closed its side (or went away).
                    self.close(slot);
                    break;
                }
                Ok(n) => {
                    self.process(slot, &mut rbuf[..n]);
                    if plain && !until_blocked && n < rbuf.len() {
                        break;
                    }
                    reads += 1;
                    if reads == READS_PER_TURN {
                        self.defer_read(slot, until_blocked);
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    log::debug!("read failed: {e}");
                    self.close(slot);
                    break;
                }
            }
        }
        self.rbuf = rbuf;
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
    fn resume_reads(&mut self) {
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

    /// Handles bytes read from a connection.
    #[inline(always)]
    fn process(&mut self, slot: u32, input: &mut [u8]) {
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
            Phase::Handshake(_) => self.process_handshake(slot, input),
            // Anything a finishing client still sends is discarded.
            Phase::Finishing { .. } => {}
        }
    }

    /// Brings the bytes held in unfinished messages back under
    /// `max_partial_msgs_size` by closing the clients that hold the most,
    /// with 1013 (Try Again Later). The largest holder, not the client
    /// whose read crossed the limit: a client that holds a little should
    /// not pay for one that holds much. The scan over all connections runs
    /// only past the limit, which each closed client's bytes push back.
    #[cold]
    fn shed_partial_messages(&mut self) {
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
                shown(&conn.peer),
                if open {
                    "closing with 1013"
                } else {
                    "ending the closing connection"
                },
            );
            if open {
                self.fail_with(slot, CloseCode::TRY_AGAIN_LATER, "server busy");
            } else {
                // Our close frame went out already: never a second one.
                self.finish(slot, self.limits.close_timeout, true);
            }
        }
    }

    /// Forgets what `slot` held of an unfinished message (its decoder is
    /// being dropped).
    fn release_partial(&mut self, slot: u32) {
        if let Some(conn) = self.slots[slot as usize].conn.as_mut() {
            self.partial_total -= std::mem::take(&mut conn.partial);
        }
    }

    /// Writes the pongs that the input just handled asked for.
    #[cold]
    fn send_pongs(&mut self, slot: u32) {
        let pongs = std::mem::take(&mut self.pongs);
        self.send(slot, &mut Frame::new(&pongs));
        self.give_back_pongs(pongs);
    }

    /// Keeps the pong buffer's allocation for the next pings.
    fn give_back_pongs(&mut self, mut pongs: Vec<u8>) {
        pongs.clear();
        self.pongs = pongs;
    }

    /// Handles bytes read from a connection still in its HTTP handshake.
    #[inline(never)]
    fn process_handshake(&mut self, slot: u32, input: &mut [u8]) {
        let Some(conn) = self.conn(slot) else { return };
        let (port, scheme) = (conn.port, conn.stream.scheme());
        let Phase::Handshake(parser) = &mut conn.phase else {
            return;
        };
        let progress = parser.push(input);
        match progress {
            Ok(Progress::Incomplete) => {}
            Ok(Progress::Complete { request, consumed }) => {
                match self.router.route(&request, port, scheme) {
                    Ok(&endpoint) if self.apps[usize::from(endpoint.app)].is_swamped() => {
                        self.busy_refusals.record(self.index, || {
                            format!(
                                "the app at {} has at least {MAX_BACKLOG} messages waiting for \
                                 its ring; refusing its new clients with 503",
                                request.path()
                            )
                        });
                        self.refuse_handshake(slot, HandshakeError::AppBusy);
                    }
                    Ok(&endpoint) => {
                        let response = switching_protocols(&request.accept_key());
                        self.open_session(slot, endpoint, &response);
                        self.process(slot, &mut input[consumed..]);
                    }
                    Err(error) => self.refuse_handshake(slot, error),
                }
            }
            Err(error) => self.refuse_handshake(slot, error),
        }
    }

    fn refuse_handshake(&mut self, slot: u32, error: HandshakeError) {
        let mut response = Vec::new();
        write_error_response(&error, &mut response);
        log::debug!("refusing a handshake: {error}");
        self.send(slot, &mut Frame::new(&response));
        self.finish(slot, self.limits.handshake_timeout, true);
    }

    fn open_session(&mut self, slot: u32, endpoint: Endpoint, response: &[u8]) {
        let app = endpoint.app;
        let member = self.members[usize::from(app)].len();
        self.members[usize::from(app)].push(slot);
        let frames = self.limits.frames;
        let Some(conn) = self.conn(slot) else { return };
        conn.phase = Phase::Open(Session {
            decoder: Decoder::new(frames).lending_masked(),
            app,
            endpoint_id: endpoint.endpoint_id,
            member,
        });
        conn.deadline = None;
        let (id, peer) = (conn.id, conn.peer);
        self.send(slot, &mut Frame::new(response));
        if self.apps[usize::from(app)].send_open {
            notify(
                &mut self.apps[usize::from(app)],
                InboundKind::Open,
                id,
                endpoint.endpoint_id,
                peer,
            );
        }
    }

    fn process_frames(&mut self, slot: u32, input: &mut [u8]) {
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
                            match enqueue(link, &message, Payload::Plain(payload)) {
                                Ok(true) => continue,
                                handed => Reply::not_handed(handed, app, client),
                            }
                        }
                        (Some(Event::MaskedMessage(masked)), Some((app, endpoint_id))) => {
                            let message =
                                read_message(client, conn.peer, endpoint_id, masked.kind());
                            let link = &mut self.apps[usize::from(app)];
                            match enqueue(link, &message, Payload::Masked(masked)) {
                                Ok(true) => continue,
                                handed => Reply::not_handed(handed, app, client),
                            }
                        }
                        // Data after our close frame is discarded (RFC 6455 §1.4),
                        // but still checked, whatever its length.
                        (Some(Event::MaskedMessage(masked)), None) => match masked.to_vec() {
                            Ok(_) => continue,
                            Err(error) => Reply::fail_closing(conn.id, &error),
                        },
                        (Some(Event::Message { .. }), None) => continue,
                        (Some(Event::Ping(payload)), Some(_)) => {
                            // Answered once this input is handled, with the
                            // other pongs it asks for: one write, however
                            // many pings a client sends at once.
                            owe_pong(&mut self.pongs, payload);
                            continue;
                        }
                        (Some(Event::Ping(_) | Event::Pong(_)), _) => continue,
                        (Some(Event::Close(frame)), Some(_)) => {
                            Reply::CloseEcho(frame.map(|f| f.code))
                        }
                        (Some(Event::Close(_)), None) => Reply::ClosingDone,
                    }
                }
                Err(error) if session.is_none() => Reply::fail_closing(conn.id, &error),
                Err(error) => Reply::fail(conn.id, &error),
            };
            match reply {
                Reply::CloseEcho(code) => {
                    // Answer with the same code (RFC 6455 §5.5.1), then close;
                    // the pongs owed go first, in the same write.
                    let mut frames = std::mem::take(&mut self.pongs);
                    match code {
                        Some(code) => encode_close(&mut frames, code, ""),
                        None => encode_frame(&mut frames, Opcode::Close, &[])
                            .expect("an empty close fits"),
                    }
                    self.leave_session(slot);
                    self.send(slot, &mut Frame::new(&frames));
                    self.give_back_pongs(frames);
                    self.finish(slot, self.limits.close_timeout, false);
                    return;
                }
                Reply::ClosingDone => {
                    self.finish(slot, self.limits.close_timeout, false);
                    return;
                }
                Reply::Abandon => {
                    // Our close frame went out already: never a second one.
                    self.finish(slot, self.limits.close_timeout, true);
                    return;
                }
                Reply::Pause(app) => {
                    // The app's ring is full: the message waits in its
                    // backlog; keep the rest of the input and stop reading
                    // this client until it drains.
                    let Some(conn) = self.conn(slot) else { return };
                    log::trace!("client {}: app ring full, reading paused", conn.id);
                    conn.stalled = Some(Stalled {
                        app,
                        rest: input[pos..].to_vec(),
                    });
                    let generation = conn.id.generation();
                    self.stalled.push((slot, generation));
                    return;
                }
                Reply::Fail(code, reason) => {
                    let mut frames = std::mem::take(&mut self.pongs);
                    encode_close(&mut frames, code, &reason);
                    self.leave_session(slot);
                    self.send(slot, &mut Frame::new(&frames));
                    self.give_back_pongs(frames);
                    self.finish(slot, self.limits.close_timeout, true);
                    return;
                }
            }
        }
    }

    /// Writes a frame (or HTTP response) to one connection, closing it
    /// with 1008 if its unread output passes `max_pending_output`.
    fn send(&mut self, slot: u32, frame: &mut Frame<'_>) {
        let max_pending = self.limits.max_pending_output;
        let Some(conn) = self.conn(slot) else { return };
        match conn.output.send(&mut conn.stream, frame) {
            Ok(()) => {
                if let Some(pending) = pending_over(conn, max_pending) {
                    self.close_slow_consumer(slot, pending);
                }
            }
            Err(e) => self.write_failed(slot, &e),
        }
    }

    #[cold]
    fn write_failed(&mut self, slot: u32, error: &io::Error) {
        if let Some(conn) = self.conn(slot) {
            log::debug!("client {}: write failed: {error}", conn.id);
        }
        self.close(slot);
    }

    /// Queues a frame for `slot`, written when the delivery pass ends.
    fn queue(&mut self, slot: u32, frame: &mut Frame<'_>) {
        let Some(conn) = self.slots[slot as usize].conn.as_mut() else {
            return;
        };
        if !conn.queued {
            conn.queued = true;
            self.to_flush.push(slot);
        }
        conn.output.queue(frame);
        // Past the limit: write now and judge, as an unbatched send would,
        // so the limit is never passed by more than this frame.
        if conn.output.pending() + conn.stream.buffered() > self.limits.max_pending_output {
            self.on_writable(slot);
            self.check_pending(slot);
        }
    }

    /// Writes what the delivery pass queued, one vectored write per client.
    fn flush_queued(&mut self) {
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
        let Some(conn) = self.conn(slot) else { return };
        log::debug!(
            "client {} ({}): closing a slow consumer with {pending} bytes of unread output",
            conn.id,
            shown(&conn.peer),
        );
        conn.output.drop_unstarted();
        self.fail_with(slot, CloseCode::POLICY_VIOLATION, "too much unread output");
    }

    /// Fails an open connection: our close frame with `code`, then the end
    /// of the connection once what is pending is written.
    fn fail_with(&mut self, slot: u32, code: CloseCode, reason: &str) {
        let mut close = Vec::new();
        encode_close(&mut close, code, reason);
        self.leave_session(slot);
        self.send(slot, &mut Frame::new(&close));
        self.finish(slot, self.limits.close_timeout, true);
    }

    /// Sends a close frame we initiate and waits for the client's answer.
    fn start_close(&mut self, slot: u32, code: CloseCode, reason: &str) {
        let mut frame = Vec::new();
        encode_close(&mut frame, code, reason);
        self.start_close_with(slot, &frame);
    }

    fn start_close_with(&mut self, slot: u32, frame: &[u8]) {
        self.leave_session(slot);
        self.send(slot, &mut Frame::new(frame));
        let (timeout, frames) = (self.limits.close_timeout, self.limits.frames);
        if let Some(conn) = self
            .conn(slot)
            .filter(|c| !matches!(c.phase, Phase::Finishing { .. }))
        {
            let decoder = match std::mem::replace(&mut conn.phase, Phase::Finishing { drain: true })
            {
                Phase::Closing(decoder) => decoder,
                _ => Decoder::new(frames),
            };
            conn.phase = Phase::Closing(decoder);
            self.set_deadline(slot, timeout);
        }
    }

    /// Ends an open session (if it is one): the client leaves its app's
    /// members, and the app is told.
    fn leave_session(&mut self, slot: u32) {
        let Some(conn) = self.slots[slot as usize].conn.as_mut() else {
            return;
        };
        let Phase::Open(session) =
            std::mem::replace(&mut conn.phase, Phase::Finishing { drain: true })
        else {
            return;
        };
        let (id, peer) = (conn.id, conn.peer);
        conn.phase = Phase::Closing(session.decoder);
        let app = usize::from(session.app);
        let members = &mut self.members[app];
        members.swap_remove(session.member);
        if let Some(&moved) = members.get(session.member)
            && let Some(Conn {
                phase: Phase::Open(s),
                ..
            }) = self.slots[moved as usize].conn.as_mut()
        {
            s.member = session.member;
        }
        if self.apps[app].send_close {
            notify(
                &mut self.apps[app],
                InboundKind::Close,
                id,
                session.endpoint_id,
                peer,
            );
        }
    }

    /// Writes what is pending, then closes (see [`Phase::Finishing`]), or
    /// drops the connection when `timeout` passes.
    fn finish(&mut self, slot: u32, timeout: Duration, drain: bool) {
        self.leave_session(slot);
        self.release_partial(slot);
        let Some(conn) = self.conn(slot) else { return };
        conn.phase = Phase::Finishing { drain };
        conn.stalled = None;
        self.set_deadline(slot, timeout);
        self.after_output(slot);
    }

    fn set_deadline(&mut self, slot: u32, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let Some(conn) = self.conn(slot) else { return };
        conn.deadline = Some(deadline);
        let generation = conn.id.generation();
        self.deadlines.push(Reverse((deadline, slot, generation)));
    }

    /// Drops a connection now.
    fn close(&mut self, slot: u32) {
        self.leave_session(slot);
        self.release_partial(slot);
        let Some(mut conn) = self.slots[slot as usize].conn.take() else {
            return;
        };
        // Best effort: a client that is still there learns the TLS session
        // ended on purpose.
        let _ = conn.stream.close_notify();
        let _ = self.poll.registry().deregister(conn.stream.tcp_mut());
        drop(conn);
        self.free.push(slot);
        self.budget.release();
    }

    fn expire_deadlines(&mut self) {
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
                log::debug!("client {} ({}): timed out", conn.id, shown(&conn.peer));
                self.close(slot);
            }
        }
    }

    /// Retries messages that found their app's ring full.
    fn retry_stalled(&mut self) {
        for link in &mut self.apps {
            while let Some(queued) = link.backlog.front() {
                let message = queued.as_inbound();
                let pushed =
                    push_inbound(&mut link.inbound, &message, Payload::Plain(message.payload))
                        .expect("a queued payload was checked");
                if !pushed {
                    break;
                }
                link.backlog.pop_front();
            }
        }
        let stalled = std::mem::take(&mut self.stalled);
        for (slot, generation) in stalled {
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
            let Some(stall) = conn
                .stalled
                .take_if(|s| self.apps[usize::from(s.app)].backlog.is_empty())
            else {
                if conn.stalled.is_some() {
                    self.stalled.push((slot, generation));
                }
                continue;
            };
            let mut rest = stall.rest;
            log::trace!("client {}: reading resumed", conn.id);
            self.process(slot, &mut rest);
            // Edge-triggered: what arrived meanwhile (data, or the end of
            // the stream) will not be announced again.
            if self.conn(slot).is_some_and(|c| c.stalled.is_none()) {
                self.on_readable(slot, true);
            }
        }
    }

    /// Sends what apps wrote to their recipients here. Returns whether any
    /// ring had more than a batch waiting (poll without sleeping then).
    fn deliver_outbound(&mut self) -> bool {
        let mut busy = false;
        self.pass = self.pass.wrapping_add(1);
        let mut outbound = std::mem::take(&mut self.outbound);
        for (app, ring) in outbound.iter_mut().enumerate() {
            let mut delivered = 0;
            while let Some(bytes) = ring.peek() {
                self.deliver(app, bytes);
                ring.advance();
                delivered += 1;
                if delivered == OUTBOUND_BATCH {
                    busy = true;
                    break;
                }
            }
            ring.release();
        }
        self.outbound = outbound;
        self.flush_queued();
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
            // not take was copied into the connection's queue).
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
            Recipients::Every | Recipients::EveryExcept(_) | Recipients::EveryExceptMulti(_) => {
                // Backwards: sending may close a slow member, whose removal
                // moves the last member (already served) into its place.
                let mut i = self.members[app].len();
                while i > 0 {
                    i -= 1;
                    let Some(&slot) = self.members[app].get(i) else {
                        continue;
                    };
                    let Some(id) = self.conn(slot).map(|c| c.id) else {
                        continue;
                    };
                    if !message.recipients.includes(id) {
                        continue;
                    }
                    self.deliver_to(app, id, &mut frame, message.close_after, true);
                }
            }
        }
    }

    /// Sends one frame to one client of `app`, if it is still that client.
    /// `batch` (a frame for many clients), or a frame for a client that got
    /// one already in this pass: queued, to be written with the client's
    /// other frames of this pass in one vectored write.
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
        let member_of_app = matches!(&conn.phase, Phase::Open(s) if usize::from(s.app) == app);
        if conn.id != id || !member_of_app {
            return; // a closed client's id reaches nobody
        }
        if close_after {
            let bytes = frame.to_vec();
            self.start_close_with(slot, &bytes);
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

    fn begin_shutdown(&mut self) {
        self.shutting_down = Some(Instant::now());
        for listener in &mut self.listeners {
            if let Some((mut socket, _)) = listener.take() {
                let _ = self.poll.registry().deregister(&mut socket);
            }
        }
        for slot in 0..self.slots.len() as u32 {
            match self.conn(slot).map(|c| matches!(c.phase, Phase::Open(_))) {
                Some(true) => self.start_close(slot, CloseCode::GOING_AWAY, "server shutting down"),
                Some(false)
                    if matches!(self.conn(slot).map(|c| &c.phase), Some(Phase::Handshake(_))) =>
                {
                    self.close(slot)
                }
                _ => {}
            }
        }
    }

    fn close_all(&mut self) {
        for slot in 0..self.slots.len() as u32 {
            self.close(slot);
        }
        for app in &mut self.apps {
            app.inbound.flush();
        }
    }
}

/// The inbound half of an [`AppLink`].
struct Link {
    inbound: Producer,
    /// Messages for the app that found its ring full, in order; they go
    /// first once it has room. Bounded: a read only lands here when its
    /// connection stops reading, a connection has one open and one close
    /// notice, and past [`MAX_BACKLOG`] no new connection is taken.
    backlog: VecDeque<Queued>,
    send_open: bool,
    send_close: bool,
}

impl Link {
    /// Whether the app's backlog is too long to take new clients: with the
    /// app stuck, every client that came and went would add two notices.
    fn is_swamped(&self) -> bool {
        self.backlog.len() >= MAX_BACKLOG
    }
}

/// An inbound message waiting in a backlog.
struct Queued {
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

/// Refusals of one kind: each is counted, and logged at most once per
/// second with the count since the last line (a flood of them would
/// otherwise flood the log).
#[derive(Default)]
struct RefusalLog {
    last_logged: Option<Instant>,
    since: u64,
}

impl RefusalLog {
    /// Counts a refusal by `worker`; `what` describes it if a line is due.
    fn record(&mut self, worker: u16, what: impl FnOnce() -> String) {
        if let Some(count) = self.count(Instant::now()) {
            log::warn!(
                "worker {worker}: {} ({count} refused since the last report)",
                what()
            );
        }
    }

    /// Counts a refusal at `now`; the count to report if a line is due.
    fn count(&mut self, now: Instant) -> Option<u64> {
        self.since += 1;
        if self
            .last_logged
            .is_some_and(|t| now - t < Duration::from_secs(1))
        {
            return None;
        }
        self.last_logged = Some(now);
        Some(std::mem::take(&mut self.since))
    }
}

/// What to do after a decoded event, once the decoder is no longer borrowed.
enum Reply {
    CloseEcho(Option<CloseCode>),
    ClosingDone,
    Fail(CloseCode, String),
    /// The message went to the backlog of this app: pause reading.
    Pause(u16),
    /// A protocol error after our close frame: end the connection.
    Abandon,
}

impl Reply {
    /// Failing the connection for a protocol error.
    fn fail(client: ClientId, error: &ProtocolError) -> Self {
        log::debug!("client {client}: {error}");
        Self::Fail(error.close_code(), error.to_string())
    }

    /// A protocol error while closing: the close frame was sent already.
    fn fail_closing(client: ClientId, error: &ProtocolError) -> Self {
        log::debug!("client {client}: {error} after our close frame");
        Self::Abandon
    }

    /// For a read message that [`enqueue`] did not put on the ring.
    #[cold]
    fn not_handed(handed: Result<bool, ProtocolError>, app: u16, client: ClientId) -> Self {
        match handed {
            Ok(_) => Self::Pause(app),
            Err(error) => Self::fail(client, &error),
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

/// A read message's payload: unmasked already, or still masked (unmasked
/// while it is copied into the app's ring).
#[derive(Clone, Copy)]
enum Payload<'a> {
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

/// Brings a worker's `total` of bytes held in unfinished messages up to
/// date with one connection's, `counted` before and `now`. Called only when
/// the two differ, which a whole message in one read never makes them do.
#[cold]
fn recount_partial(total: &mut usize, counted: &mut usize, now: usize) {
    *total = *total - *counted + now;
    *counted = now;
}

/// Tells an app that a client connected or left. Never waits: a full ring
/// leaves the notice in the app's backlog.
fn notify(link: &mut Link, kind: InboundKind, client: ClientId, endpoint_id: u16, peer: PeerAddr) {
    let message = Inbound {
        kind,
        client,
        endpoint_id,
        data_kind: 0,
        peer,
        payload: &[],
    };
    enqueue(link, &message, Payload::Plain(&[])).expect("a notice has no payload to check");
}

/// Puts a message with `payload` on an app's ring behind its backlog;
/// `Ok(false)` if it had to wait in the backlog. A worker never blocks on an
/// app: the app may itself be waiting for this worker to drain its outbound
/// ring. Errors as [`push_inbound`].
#[inline(always)]
fn enqueue(
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

/// A session's unwritten output, if it is more than `max`. With TLS, the
/// records rustls holds for the socket count too.
#[inline(always)]
fn pending_over(conn: &Conn, max: usize) -> Option<usize> {
    let pending = conn.output.pending() + conn.stream.buffered();
    (pending > max && matches!(conn.phase, Phase::Open(_))).then_some(pending)
}

/// Appends the pong that answers a ping with `payload` to `pongs`.
#[cold]
#[inline(never)]
fn owe_pong(pongs: &mut Vec<u8>, payload: &[u8]) {
    encode_frame(pongs, Opcode::Pong, payload).expect("a ping payload fits a pong");
}

/// A connection's address for the log.
fn shown(peer: &PeerAddr) -> String {
    socket_addr(peer).map_or_else(|e| e.to_string(), |addr| addr.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_reported_at_most_once_a_second_with_the_count_since() {
        let start = Instant::now();
        let at = |ms| start + Duration::from_millis(ms);
        let mut log = RefusalLog::default();
        assert_eq!(log.count(at(0)), Some(1));
        assert_eq!(log.count(at(10)), None);
        assert_eq!(log.count(at(999)), None);
        assert_eq!(log.count(at(1000)), Some(3));
        assert_eq!(log.count(at(1500)), None);
        assert_eq!(log.count(at(5000)), Some(2));
    }
}
