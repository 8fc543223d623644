//! The worker event loop and the per-connection state machine.
//!
//! This file is the skeleton: what a worker is made of ([`WorkerSetup`]),
//! the [`Worker`] itself, its event loop, which hands each event to the
//! file that handles it, and its shutdown. The rest, by what it handles:
//!
//! - `accept`: new connections from the listeners, within the
//!   [`ConnectionBudget`], and the refusals.
//! - `conn`: where a connection lives: its state, its slot, its setup.
//! - `read`: reading a connection's socket in turns, and handing the bytes
//!   to the handshake or to the frames.
//! - `handshake`: the HTTP upgrade, up to a session with an app.
//! - `frames`: a client's frames: messages for the app, pings, closes, and
//!   the bytes held in unfinished messages.
//! - `to_apps`: relaying to the apps: their inbound rings, and the
//!   backlogs of what waits for room in them.
//! - `from_apps`: relaying from the apps: the frames on their outbound
//!   rings, delivered to the recipients here.
//! - `write`: writing to a connection, and closing slow consumers.
//! - `close`: ending a connection: our close frames, finishing, dropping,
//!   deadlines.

mod accept;
mod close;
mod conn;
mod error;
mod frames;
mod from_apps;
mod handshake;
mod idle;
mod read;
mod to_apps;
mod write;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::io;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mio::net::TcpListener;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use rs_http::Scheme;
use rs_proto::CloseCode;
use rs_ring::{Consumer, Notifier, Producer, Waker};

use crate::listen::Listener;
use crate::output::Held;
use crate::routes::Routes;
use crate::ticker::Ticker;
use crate::tls::TlsConfig;

use accept::RefusalLog;
use conn::{Phase, Slot};
use read::MAX_READ;
use to_apps::Link;

pub use accept::ConnectionBudget;
pub use error::WorkerError;

const NOTIFY: Token = Token(0);
/// The idle check's ticker (see `idle`).
const IDLE_TICK: Token = Token(1);
/// The ticker that gives back what bursts grew (see `to_apps`).
const TRIM_TICK: Token = Token(2);
const LISTENER_BASE: usize = 3;

/// How often the inbound rings that a burst grew and the apps drained since
/// are shrunk back: a burst's memory is not kept for good, and a ring in
/// steady use is not shrunk and grown again more often than this.
const TRIM_PERIOD: Duration = Duration::from_secs(5);

/// How soon to retry messages waiting for room in an app's ring.
const RETRY: Duration = Duration::from_millis(1);

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
    /// `idle_timeout`: the period of the idle check (see `idle`): a client
    /// silent for one to two periods is pinged, and closed if it stays
    /// silent until the next; zero: never.
    pub idle_timeout: Duration,
    /// `max_pending_output`: the output a client may leave unread before it
    /// is closed with 1008.
    pub max_pending_output: usize,
    /// `max_pending_output_total`: the output this worker holds for all its
    /// clients together (each frame copy once); past it, the clients with
    /// the most unread output are closed with 1013.
    pub max_pending_output_total: usize,
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
    pub routes: Arc<Routes>,
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

/// A listening socket of a worker's.
struct Listening {
    socket: TcpListener,
    /// The configured port it serves.
    port: u16,
    scheme: Scheme,
}

/// One worker thread's state.
pub struct Worker {
    index: u16,
    poll: Poll,
    events: Events,
    /// Its listening sockets (none once its shutdown began).
    listeners: Vec<Option<Listening>>,
    tls: Option<Arc<TlsConfig>>,
    notifier: Notifier,
    routes: Arc<Routes>,
    apps: Vec<Link>,
    /// Each app's outbound ring, apart from `apps` so that it can be read
    /// while deliveries update the rest of the worker.
    outbound: Vec<Consumer>,
    /// Each app's open clients here, by slot.
    members: Vec<Vec<u32>>,
    slots: Vec<Slot>,
    /// Slots without a connection, the longest free first: reusing the
    /// slot freed last would spend one slot's generations (2^32 - 1 of
    /// them) on every reconnection, where an id an app kept could match
    /// a new client after a day or two of heavy churn.
    free: VecDeque<u32>,
    deadlines: BinaryHeap<Reverse<(Instant, u32, u32)>>,
    /// Connections whose app ring was full, to retry.
    stalled: Vec<(u32, u32)>,
    /// Whether some app's backlog [holds too
    /// much](to_apps::Link::holds_too_much): its clients are not read.
    backlog_full: bool,
    /// Connections that used up their read turn with bytes left to read
    /// (slot, generation), read again after the next poll.
    unread: Vec<(u32, u32)>,
    /// The `unread` of the previous loop, being resumed (kept for its
    /// allocation).
    resuming: Vec<(u32, u32)>,
    /// Connections with frames queued in this delivery pass.
    to_flush: Vec<u32>,
    /// A long "every client except these" list, sorted (see `from_apps`);
    /// kept for its allocation.
    excepted: Vec<u64>,
    /// Pongs owed to the connection whose input is being handled, written
    /// together when it is (see `process`).
    pongs: Vec<u8>,
    /// The sum of the connections' `partial`: payload bytes of unfinished
    /// messages held (see [`recount_partial`](frames::recount_partial)),
    /// kept under `max_partial_msgs_size` by `shed_partial_messages`.
    partial_total: usize,
    /// The frame copies the connections' output holds, counted together
    /// and kept under `max_pending_output_total` by `shed_pending_output`.
    held: Held,
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
    /// Clients closed with 1013 past `max_pending_output_total` or
    /// `max_partial_msgs_size`: the server sheds load, which an operator
    /// should hear of at the default level.
    shed_clients: RefusalLog,
    /// A descriptor kept in reserve, given up to refuse a connection
    /// cleanly when the process runs out of descriptors.
    spare_fd: Option<std::fs::File>,
    /// When to try the listeners again after an accept error that may pass.
    accept_retry: Option<Instant>,
    /// Ticks every `idle_timeout`, unless that is zero (see `idle`).
    idle_ticker: Option<Ticker>,
    /// Ticks every [`TRIM_PERIOD`].
    trim_ticker: Ticker,
}

impl Worker {
    /// Registers the listeners and the notifier with a new poll. Fails if
    /// `setup.index` is not below `rs_app::wire::MAX_WORKERS`: its clients'
    /// ids could not name it.
    pub fn new(setup: WorkerSetup) -> Result<Self, WorkerError> {
        if setup.index >= rs_app::wire::MAX_WORKERS {
            return Err(WorkerError::IndexTooLarge {
                index: setup.index,
                max: rs_app::wire::MAX_WORKERS - 1,
            });
        }
        let poll = Poll::new()?;
        poll.registry().register(
            &mut SourceFd(&setup.notifier.as_raw_fd()),
            NOTIFY,
            Interest::READABLE,
        )?;
        let idle_ticker = match setup.limits.idle_timeout {
            Duration::ZERO => None,
            period => {
                let ticker = Ticker::new(period)?;
                poll.registry().register(
                    &mut SourceFd(&ticker.as_raw_fd()),
                    IDLE_TICK,
                    Interest::READABLE,
                )?;
                Some(ticker)
            }
        };
        let trim_ticker = Ticker::new(TRIM_PERIOD)?;
        poll.registry().register(
            &mut SourceFd(&trim_ticker.as_raw_fd()),
            TRIM_TICK,
            Interest::READABLE,
        )?;
        let mut listeners = Vec::new();
        for (i, listener) in setup.listeners.into_iter().enumerate() {
            if listener.scheme == Scheme::Wss && setup.tls.is_none() {
                return Err(WorkerError::NoCertificates {
                    port: listener.port,
                });
            }
            let (port, scheme) = (listener.port, listener.scheme);
            let mut socket = TcpListener::from_std(listener.listen().map_err(WorkerError::Listen)?);
            poll.registry()
                .register(&mut socket, Token(LISTENER_BASE + i), Interest::READABLE)?;
            listeners.push(Some(Listening {
                socket,
                port,
                scheme,
            }));
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
                (Link::new(inbound, send_open, send_close), outbound)
            })
            .unzip();
        Ok(Self {
            index: setup.index,
            poll,
            events: Events::with_capacity(setup.limits.events.max(1)),
            listeners,
            tls: setup.tls,
            notifier: setup.notifier,
            routes: setup.routes,
            apps,
            outbound,
            members: vec![Vec::new(); app_count],
            slots: Vec::new(),
            free: VecDeque::new(),
            deadlines: BinaryHeap::new(),
            stalled: Vec::new(),
            excepted: Vec::new(),
            backlog_full: false,
            unread: Vec::new(),
            resuming: Vec::new(),
            to_flush: Vec::new(),
            pongs: Vec::new(),
            partial_total: 0,
            held: Held::default(),
            pass: 0,
            rbuf: Vec::new(),
            limits: setup.limits,
            budget: setup.budget,
            stop: Arc::new(AtomicBool::new(false)),
            shutting_down: None,
            accept_refusals: RefusalLog::new("new connections", "refused"),
            busy_refusals: RefusalLog::new("handshakes for a busy app", "refused"),
            shed_clients: RefusalLog::new("clients", "closed with 1013"),
            spare_fd: Some(std::fs::File::open("/dev/null")?),
            accept_retry: None,
            idle_ticker,
            trim_ticker,
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
            if let Some(started) = self.shutting_down
                && self.shutdown_done(started)
            {
                return Ok(());
            }
            let timeout = self.poll_timeout(busy);
            match self.poll.poll(&mut self.events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
            self.notifier.awake();
            self.handle_events();
            self.resume_reads();
            self.expire_deadlines();
            self.accept_later();
            // The messages just read wake their apps before this thread
            // delivers the next pass of outbound frames.
            self.flush_inbound();
        }
    }

    /// A shutdown's step, begun at `started`: closes what is left once
    /// `close_timeout` has passed, and whether the worker is done (every
    /// connection closed, and the apps took their notices or had as long
    /// again to).
    #[cold]
    fn shutdown_done(&mut self, started: Instant) -> bool {
        let waited = started.elapsed();
        if waited > self.limits.close_timeout {
            self.drop_all();
        }
        // The notices an app's full ring left in its backlog (the close
        // notices of this shutdown, say) are still handed to it as it makes
        // room, for as long again at most: an app hears of every client it
        // was told of before its fini. Not an app that is gone (its failure
        // stops the server): its ring is never read again.
        self.drop_backlogs_of_gone_apps();
        let open = self.slots.iter().any(|s| s.conn.is_some());
        let waiting: usize = self.apps.iter().map(|a| a.backlog.len()).sum();
        if open || (waiting > 0 && waited <= 2 * self.limits.close_timeout) {
            return false;
        }
        if waiting > 0 {
            log::warn!(
                "worker {}: {waiting} open or close notices its apps did not take in time are \
                 dropped",
                self.index
            );
        }
        self.drop_all();
        true
    }

    /// How long the next poll may sleep: not at all while there is work
    /// (`busy`: outbound frames were delivered), else until the next
    /// deadline, or a millisecond while something waits for ring space.
    #[inline(always)]
    fn poll_timeout(&mut self, busy: bool) -> Option<Duration> {
        if busy || !self.unread.is_empty() {
            return Some(Duration::ZERO);
        }
        // Apps do not signal freed ring space: while something waits for
        // it, poll again within a millisecond rather than spin.
        let waiting = !self.stalled.is_empty() || self.apps.iter().any(|a| !a.backlog.is_empty());
        // A stop request is work until the shutdown began; from then on
        // the flag stays set and would keep the loop awake.
        let (outbound, stop) = (&mut self.outbound, &self.stop);
        let stop_unseen = self.shutting_down.is_none();
        let sleep = self.notifier.prepare_sleep(|| {
            outbound.iter_mut().any(|ring| !ring.is_empty())
                || (stop_unseen && stop.fetch_or(false, Ordering::AcqRel))
        });
        match (sleep, waiting) {
            (false, _) => Some(Duration::ZERO),
            (true, false) => self.next_timeout(),
            (true, true) => Some(self.next_timeout().map_or(RETRY, |t| t.min(RETRY))),
        }
    }

    /// Handles what the poll returned.
    #[inline(always)]
    fn handle_events(&mut self) {
        // Who used up a read turn before this poll gets the next after its
        // events (a read deferred from here on waits for the next poll):
        // one turn per client and loop.
        std::mem::swap(&mut self.unread, &mut self.resuming);
        // Taken out while the handlers borrow `self`; no allocation.
        let events = std::mem::replace(&mut self.events, Events::with_capacity(0));
        for event in &events {
            match event.token().0 {
                // An app published: its rings are read at the top of the
                // loop.
                t if t == NOTIFY.0 => self.notifier.drain(),
                t if t == IDLE_TICK.0 => self.check_idle(),
                t if t == TRIM_TICK.0 => self.trim_inbound(),
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
    }

    /// How long the poll may sleep: until the next deadline.
    fn next_timeout(&self) -> Option<Duration> {
        let next = self.deadlines.peek().map(|Reverse((t, _, _))| *t);
        // A shutdown's deadlines: close_timeout for the connections, then
        // as long again for the apps' backlogs (see `run`).
        let close_timeout = self.limits.close_timeout;
        let shutdown = self.shutting_down.map(|t| match t + close_timeout {
            closed if closed > Instant::now() => closed,
            closed => closed + close_timeout,
        });
        [next, shutdown, self.accept_wakeup()]
            .into_iter()
            .flatten()
            .min()
            .map(|t| t.saturating_duration_since(Instant::now()))
    }

    fn begin_shutdown(&mut self) {
        self.shutting_down = Some(Instant::now());
        for listener in &mut self.listeners {
            if let Some(mut listening) = listener.take() {
                let _ = self.poll.registry().deregister(&mut listening.socket);
            }
        }
        for slot in 0..self.slots.len() as u32 {
            match self.conn(slot).map(|c| matches!(c.phase, Phase::Open(_))) {
                Some(true) => self.start_close(slot, CloseCode::GOING_AWAY, "server shutting down"),
                Some(false)
                    if matches!(
                        self.conn(slot).map(|c| &c.phase),
                        Some(Phase::Handshake(..))
                    ) =>
                {
                    self.drop_conn(slot)
                }
                _ => {}
            }
        }
    }

    /// Drops every connection now (a shutdown's end), and publishes the
    /// close notices that go to the apps.
    fn drop_all(&mut self) {
        for slot in 0..self.slots.len() as u32 {
            self.drop_conn(slot);
        }
        for app in &mut self.apps {
            app.inbound.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup(index: u16) -> WorkerSetup {
        WorkerSetup {
            index,
            listeners: Vec::new(),
            tls: None,
            routes: Arc::new(Routes::new(rs_http::Router::new())),
            apps: Vec::new(),
            notifier: Notifier::new().unwrap(),
            limits: Limits {
                frames: rs_proto::Limits {
                    max_message_size: 1024,
                    max_frame_chain_size: 1024,
                },
                max_http_request_size: 4096,
                handshake_timeout: Duration::from_secs(1),
                close_timeout: Duration::from_secs(1),
                idle_timeout: Duration::ZERO,
                max_pending_output: 1 << 20,
                max_pending_output_total: 1 << 20,
                max_partial_msgs_size: 1 << 20,
                events: 16,
                read_buffer: 4096,
            },
            budget: Arc::new(ConnectionBudget::new(10)),
        }
    }

    #[test]
    fn deadlines_no_longer_in_force_do_not_pile_up() {
        // Entries for slots without a connection (closed ones): the heap is
        // cleaned once it holds 1024 more than twice its slots (none here).
        let mut worker = Worker::new(setup(0)).unwrap();
        let due = Instant::now() + Duration::from_secs(3600);
        for n in 0..10_000 {
            worker.push_deadline(due, n % 7, 1);
            assert!(
                worker.deadlines.len() <= 1025,
                "{n}: {}",
                worker.deadlines.len()
            );
        }
    }

    #[test]
    fn a_worker_index_a_client_id_cannot_hold_is_refused() {
        let max = rs_app::wire::MAX_WORKERS;
        let error = Worker::new(setup(max)).err().expect("refused");
        assert!(matches!(
            error,
            WorkerError::IndexTooLarge {
                index: 1024,
                max: 1023
            }
        ));
        assert_eq!(
            error.to_string(),
            "worker index 1024 is beyond what a client id can hold (at most 1023)"
        );
        assert!(Worker::new(setup(max - 1)).is_ok());
    }

    #[test]
    fn a_wss_listener_without_certificates_is_refused() {
        let text = r#"{ ports: [{ port_number: 8443 }],
            certs: [{ hostnames: ["a.test"], privkey_path: "/k.pem", pubchain_path: "/c.pem" }],
            apps: [{ name: "a", app_path: "/a.so",
                     endpoints: [{ endpoint_id: 0, url: "wss://a.test:8443/" }] }] }"#;
        let config = rs_conf::Config::from_json5_str(text, "/test.json5").unwrap();
        // Port 0 (any): the test binds nothing it did not ask the OS for.
        let listener = Listener::bind(&config.ports[0], "127.0.0.1:0".parse().unwrap()).unwrap();
        let mut setup = setup(0);
        setup.listeners.push(listener);
        let error = Worker::new(setup).err().expect("refused");
        assert!(matches!(error, WorkerError::NoCertificates { port: 8443 }));
        assert_eq!(
            error.to_string(),
            "port 8443 serves wss:// but no TLS certificates were given"
        );
    }
}
