//! The test harness: plays the worker threads around one real app thread.
//!
//! Each test binary uses part of it, so unused helpers are expected.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rs_app::abi::{DATA_BIN, DATA_UTF8};
use rs_app::host::{App, AppError, AppSettings, AppThread, StopHandle};
use rs_app::wire::{self, ClientId, Inbound, InboundKind, Recipients};
use rs_ring::{Consumer, Parker, Producer, RingConfig, ring};

/// How long any wait for the app thread may take before the test fails.
pub(crate) const DEADLINE: Duration = Duration::from_secs(3);

/// How long the rings must stay empty for "nothing else was sent".
pub(crate) const QUIET: Duration = Duration::from_millis(50);

/// The pause between two polls of the outbound rings.
const POLL: Duration = Duration::from_millis(1);

/// The name the app is configured with in these tests.
pub(crate) const APP_NAME: &str = "under-test";

/// The shared object `cargo test` built for the example `name`:
/// `<target>/<profile>/examples/lib<name>.so`, next to `deps/` where the
/// test binary is.
pub(crate) fn example_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test binary lives in <target>/<profile>/deps");
    profile_dir.join("examples").join(format!("lib{name}.so"))
}

/// A client id, panicking on out-of-range parts (test input only).
pub(crate) fn id(worker: u16, slot: u32, generation: u32) -> ClientId {
    ClientId::new(worker, slot, generation).expect("a valid client id")
}

/// A connected client as a worker knows it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Client {
    pub(crate) id: ClientId,
    pub(crate) endpoint: u16,
    pub(crate) peer: SocketAddr,
}

impl Client {
    /// Client `slot` of `worker` on endpoint 0, from an IPv4 address.
    pub(crate) fn new(worker: u16, slot: u32) -> Self {
        Self::on(worker, slot, 0)
    }

    /// Client `slot` of `worker` on `endpoint`.
    pub(crate) fn on(worker: u16, slot: u32, endpoint: u16) -> Self {
        let peer = format!("192.0.2.{}:{}", slot % 250 + 1, 50_000 + u32::from(worker))
            .parse()
            .expect("an address");
        Self {
            id: id(worker, slot, 1),
            endpoint,
            peer,
        }
    }

    /// The same client seen from `peer`.
    pub(crate) fn with_peer(mut self, peer: &str) -> Self {
        self.peer = peer.parse().expect("an address");
        self
    }

    /// The worker that holds the client.
    pub(crate) fn worker(&self) -> usize {
        usize::from(self.id.worker())
    }
}

/// Who gets an outbound frame; an owned [`Recipients`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum To {
    Single(ClientId),
    Multi(Vec<ClientId>),
    Every,
    EveryExcept(ClientId),
    EveryExceptMulti(Vec<ClientId>),
}

impl From<Recipients<'_>> for To {
    fn from(recipients: Recipients<'_>) -> Self {
        match recipients {
            Recipients::Single(id) => To::Single(id),
            Recipients::Multi(ids) => To::Multi(ids.iter().collect()),
            Recipients::Every => To::Every,
            Recipients::EveryExcept(id) => To::EveryExcept(id),
            Recipients::EveryExceptMulti(ids) => To::EveryExceptMulti(ids.iter().collect()),
            Recipients::Join(id) => panic!("a join record for {id} is not a frame"),
        }
    }
}

/// Whether an outbound record is a join record (a client joining its app's
/// members before its open callback, bookkeeping for the worker): the
/// harness, which plays the workers, passes over them.
pub(crate) fn is_join(bytes: &[u8]) -> bool {
    matches!(
        wire::read_outbound(bytes),
        Ok(out) if matches!(out.recipients, Recipients::Join(_))
    )
}

/// One outbound message, owned: which worker's ring it was on, who gets
/// it, whether the connection closes after it, and the frame bytes.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Out {
    pub(crate) worker: usize,
    pub(crate) to: To,
    pub(crate) close_after: bool,
    pub(crate) frame: Vec<u8>,
}

impl std::fmt::Debug for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (opcode, payload) = parse_frame(&self.frame);
        let payload = match std::str::from_utf8(payload) {
            Ok(text) if opcode == 1 => format!("{text:?}"),
            _ => format!("{payload:02x?}"),
        };
        write!(
            f,
            "Out {{ worker: {}, to: {:?}, close_after: {}, opcode: {opcode}, payload: {payload}, frame: {:02x?} }}",
            self.worker, self.to, self.close_after, self.frame
        )
    }
}

impl Out {
    /// A frame for `to` on `worker`'s ring that does not close.
    pub(crate) fn new(worker: usize, to: To, frame: Vec<u8>) -> Self {
        Self {
            worker,
            to,
            close_after: false,
            frame,
        }
    }

    /// A frame for one client, on its worker's ring.
    pub(crate) fn single(client: ClientId, frame: Vec<u8>) -> Self {
        Self::new(usize::from(client.worker()), To::Single(client), frame)
    }

    /// A close frame with `code` for one client, which closes it.
    pub(crate) fn close(client: ClientId, code: u16) -> Self {
        Self {
            close_after: true,
            ..Self::single(client, close_frame(code))
        }
    }
}

/// An outbound message as an [`Out`] (a lent payload put back after its
/// frame header: the caller has not released the record yet), and whether
/// its payload was lent.
fn read_out(worker: usize, bytes: &[u8]) -> (Out, bool) {
    let out = wire::read_outbound(bytes).expect("a valid outbound message");
    let mut frame = out.frame.to_vec();
    let lent = out.lent.is_some();
    if let Some(lent) = out.lent {
        // SAFETY: the record is not released yet, so the app thread still
        // holds the lent bytes in its inbound ring.
        frame.extend_from_slice(unsafe { lent.bytes() });
    }
    let out = Out {
        worker,
        to: out.recipients.into(),
        close_after: out.close_after,
        frame,
    };
    (out, lent)
}

/// A server frame: FIN, `opcode`, no mask, the shortest length form.
/// Written by hand (not with rs-proto) so that the tests check the app
/// thread's framing independently.
pub(crate) fn frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0x80 | opcode];
    match payload.len() {
        len @ 0..=125 => out.push(len as u8),
        len @ 126..=0xffff => {
            out.push(126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        len => {
            out.push(127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(payload);
    out
}

/// A text frame.
pub(crate) fn text(payload: &str) -> Vec<u8> {
    frame(0x1, payload.as_bytes())
}

/// A binary frame.
pub(crate) fn bin(payload: &[u8]) -> Vec<u8> {
    frame(0x2, payload)
}

/// A close frame with a code and no reason.
pub(crate) fn close_frame(code: u16) -> Vec<u8> {
    let [hi, lo] = code.to_be_bytes();
    vec![0x88, 0x02, hi, lo]
}

/// Splits a complete, unmasked, unfragmented server frame into its opcode
/// and payload, asserting that it is exactly one such frame.
pub(crate) fn parse_frame(frame: &[u8]) -> (u8, &[u8]) {
    assert!(frame.len() >= 2, "a frame of {} bytes", frame.len());
    assert_eq!(
        frame[0] & 0xf0,
        0x80,
        "FIN set, RSV bits clear: {frame:02x?}"
    );
    assert_eq!(frame[1] & 0x80, 0, "server frames are not masked");
    let (len, header) = match frame[1] & 0x7f {
        126 => (usize::from(u16::from_be_bytes([frame[2], frame[3]])), 4),
        127 => {
            let len = u64::from_be_bytes(frame[2..10].try_into().expect("8 bytes"));
            (usize::try_from(len).expect("a length that fits"), 10)
        }
        len => (usize::from(len), 2),
    };
    assert_eq!(frame.len(), header + len, "the frame is exactly one frame");
    (frame[0] & 0x0f, &frame[header..])
}

/// Worker-side ring sizes: large enough for every message the tests send.
fn ring_config() -> RingConfig {
    RingConfig::new(1 << 16).max_capacity(1 << 20)
}

/// An app thread running a real app, and the worker ends of its rings.
pub(crate) struct Harness {
    /// Worker `w` writes to the app through `inbound[w]`.
    inbound: Vec<Producer>,
    /// Worker `w` reads what the app sends through `outbound[w]`.
    outbound: Vec<Consumer>,
    stop: StopHandle,
    /// The app thread before [`Harness::run`].
    pending: Option<AppThread>,
    thread: Option<JoinHandle<Result<(), AppError>>>,
}

impl Harness {
    /// Loads the example app `name` and runs it with two workers.
    pub(crate) fn start(name: &str) -> Self {
        let mut harness = Self::new(name, 2);
        harness.run();
        harness
    }

    /// Loads the example app `name` and prepares its thread, with
    /// `workers` workers, without running it yet: messages pushed now wait
    /// on the inbound rings.
    pub(crate) fn new(name: &str, workers: u16) -> Self {
        Self::with_rings(name, workers, ring_config(), ring_config())
    }

    /// As [`Harness::start`], for an app configured with
    /// `close_client_on_panic`.
    pub(crate) fn start_closing_clients_on_panic(name: &str) -> Self {
        let mut harness = Self::build(name, 2, ring_config(), ring_config(), true);
        harness.run();
        harness
    }

    /// As [`Harness::new`], with the given sizes for the inbound and the
    /// outbound rings.
    pub(crate) fn with_rings(
        name: &str,
        workers: u16,
        inbound_config: RingConfig,
        outbound_config: RingConfig,
    ) -> Self {
        Self::build(name, workers, inbound_config, outbound_config, false)
    }

    fn build(
        name: &str,
        workers: u16,
        inbound_config: RingConfig,
        outbound_config: RingConfig,
        close_client_on_panic: bool,
    ) -> Self {
        let path = example_path(name);
        let app = App::load(&path).unwrap_or_else(|e| panic!("loading {name}: {e}"));
        let parker = Parker::new();
        let (mut inbound, mut from_workers) = (Vec::new(), Vec::new());
        let (mut to_workers, mut outbound) = (Vec::new(), Vec::new());
        for _ in 0..workers {
            let (producer, consumer) = ring(inbound_config, Some(parker.waker()));
            inbound.push(producer);
            from_workers.push(consumer);
            let (producer, consumer) = ring(outbound_config, None);
            to_workers.push(producer);
            outbound.push(consumer);
        }
        let settings = AppSettings {
            name: APP_NAME.to_owned(),
            worker_c: u32::from(workers),
            wbuf_size: 64,
            max_ws_msg_size: 1 << 20,
            fd_alloc_c: 1000,
            shutdown_wait_ws: 5,
            close_client_on_panic,
            no_close_cb: false,
        };
        let app_thread = AppThread::new(app, settings, from_workers, to_workers, parker);
        let stop = app_thread.stop_handle();
        Self {
            inbound,
            outbound,
            stop,
            pending: Some(app_thread),
            thread: None,
        }
    }

    /// Runs the app thread on its own thread.
    pub(crate) fn run(&mut self) {
        let app_thread = self.pending.take().expect("run once");
        let thread = std::thread::Builder::new()
            .name("app under test".to_owned())
            .spawn(move || app_thread.run(|| {}))
            .expect("spawning the app thread");
        self.thread = Some(thread);
    }

    /// Passes one message from `worker` to the app, as a worker does:
    /// reserve exactly, write, commit, flush.
    fn push(&mut self, worker: usize, message: &Inbound<'_>) {
        let ring = &mut self.inbound[worker];
        let mut slot = ring
            .reserve(wire::inbound_len(message.payload.len()))
            .expect("room on the inbound ring");
        wire::write_inbound(&mut slot, message).expect("a valid inbound message");
        slot.commit();
        ring.flush();
    }

    /// Pushes raw bytes on `worker`'s inbound ring, as a buggy worker could.
    pub(crate) fn push_raw(&mut self, worker: usize, bytes: &[u8]) {
        let ring = &mut self.inbound[worker];
        ring.push(bytes).expect("room on the inbound ring");
        ring.flush();
    }

    fn event(&mut self, client: &Client, kind: InboundKind, data_kind: u8, payload: &[u8]) {
        self.event_from(client.worker(), client, kind, data_kind, payload);
    }

    fn event_from(
        &mut self,
        worker: usize,
        client: &Client,
        kind: InboundKind,
        data_kind: u8,
        payload: &[u8],
    ) {
        let message = Inbound {
            kind,
            client: client.id,
            endpoint_id: client.endpoint,
            data_kind,
            peer: wire::peer_addr(client.peer),
            payload,
        };
        self.push(worker, &message);
    }

    /// A binary message from `client`, on `worker`'s ring whatever the
    /// client's worker is (as no worker sends; the app must not rely on it).
    pub(crate) fn bin_from(&mut self, worker: usize, client: &Client, payload: &[u8]) {
        self.event_from(worker, client, InboundKind::Read, DATA_BIN, payload);
    }

    /// The client completed its handshake.
    pub(crate) fn open(&mut self, client: &Client) {
        self.event(client, InboundKind::Open, 0, &[]);
    }

    /// The client's connection ended.
    pub(crate) fn close(&mut self, client: &Client) {
        self.event(client, InboundKind::Close, 0, &[]);
    }

    /// The client sent a close frame with `status` (its code's two bytes,
    /// or none).
    pub(crate) fn close_frame(&mut self, client: &Client, status: &[u8]) {
        self.event(client, InboundKind::CloseFrame, 0, status);
    }

    /// The client sent a binary message.
    pub(crate) fn bin(&mut self, client: &Client, payload: &[u8]) {
        self.event(client, InboundKind::Read, DATA_BIN, payload);
    }

    /// The client sent a text message (workers validate UTF-8, hence `&str`).
    pub(crate) fn text(&mut self, client: &Client, payload: &str) {
        self.event(client, InboundKind::Read, DATA_UTF8, payload.as_bytes());
    }

    /// Moves every published outbound message into `got[worker]`.
    fn drain(&mut self, got: &mut [Vec<Out>]) {
        for (worker, ring) in self.outbound.iter_mut().enumerate() {
            while let Some(bytes) = ring.peek() {
                if !is_join(bytes) {
                    got[worker].push(read_out(worker, bytes).0);
                }
                ring.advance();
            }
            ring.release();
        }
    }

    /// Waits (at most [`DEADLINE`]) for the next message from `worker`'s
    /// ring and reads it without releasing its space, as a worker that has
    /// not sent it yet; also says whether its payload is lent.
    pub(crate) fn take_unreleased(&mut self, worker: usize) -> (Out, bool) {
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(bytes) = self.outbound[worker].peek() {
                if is_join(bytes) {
                    self.outbound[worker].advance();
                    continue;
                }
                let out = read_out(worker, bytes);
                self.outbound[worker].advance();
                return out;
            }
            assert!(Instant::now() < deadline, "nothing from the app");
            std::thread::sleep(POLL);
        }
    }

    /// Releases what [`take_unreleased`](Self::take_unreleased) read.
    pub(crate) fn release_outbound(&mut self, worker: usize) {
        self.outbound[worker].release();
    }

    /// Wakes the app thread as `worker` does when it waits for room, with
    /// nothing new on the ring.
    pub(crate) fn wake(&mut self, worker: usize) {
        self.inbound[worker].wake_consumer();
    }

    /// Whether the app has released everything `worker` wrote to it.
    pub(crate) fn inbound_released(&mut self, worker: usize) -> bool {
        let ring = &mut self.inbound[worker];
        ring.released() == ring.position()
    }

    /// Waits (at most [`DEADLINE`]) for `n` outbound messages and returns
    /// them, worker 0's first, each worker's in ring order.
    pub(crate) fn take(&mut self, n: usize) -> Vec<Out> {
        let mut got = vec![Vec::new(); self.outbound.len()];
        let deadline = Instant::now() + DEADLINE;
        loop {
            self.drain(&mut got);
            let count: usize = got.iter().map(Vec::len).sum();
            if count >= n {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "waited {DEADLINE:?} for {n} outbound messages, got {count}: {got:#?}"
            );
            std::thread::sleep(POLL);
        }
        got.concat()
    }

    /// Collects what arrives during `period`.
    pub(crate) fn gather(&mut self, period: Duration) -> Vec<Out> {
        let mut got = vec![Vec::new(); self.outbound.len()];
        let end = Instant::now() + period;
        while Instant::now() < end {
            self.drain(&mut got);
            std::thread::sleep(POLL);
        }
        self.drain(&mut got);
        got.concat()
    }

    /// Asserts that nothing is sent during `period`.
    pub(crate) fn assert_silent(&mut self, period: Duration) {
        let got = self.gather(period);
        assert!(got.is_empty(), "expected nothing, got {got:#?}");
    }

    /// Exactly `n` messages: waits for them, then checks that nothing
    /// follows within [`QUIET`].
    pub(crate) fn expect(&mut self, n: usize) -> Vec<Out> {
        let got = self.take(n);
        assert_eq!(got.len(), n, "more messages than expected: {got:#?}");
        self.assert_silent(QUIET);
        got
    }

    /// Expects the one message that closes `client` with `code` (`what`
    /// says which case failed), then makes `client` its slot's next one:
    /// a client the app closed is read no more, as it would be gone.
    pub(crate) fn expect_closed(&mut self, client: &mut Client, code: u16, what: &str) {
        assert_eq!(self.expect(1), [Out::close(client.id, code)], "{what}");
        client.id = id(
            client.id.worker(),
            client.id.slot(),
            client.id.generation() + 1,
        );
    }

    /// Waits (at most [`DEADLINE`]) for the next message, and returns when it
    /// was seen with it.
    pub(crate) fn next_timed(&mut self) -> (Instant, Out) {
        let out = self.take(1).remove(0);
        (Instant::now(), out)
    }

    /// Whether the app thread has returned.
    pub(crate) fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Waits (at most [`DEADLINE`]) for the app thread to return by itself.
    pub(crate) fn join(&mut self) -> Result<(), AppError> {
        let deadline = Instant::now() + DEADLINE;
        while !self.is_finished() {
            assert!(
                Instant::now() < deadline,
                "the app thread did not return within {DEADLINE:?}"
            );
            std::thread::sleep(POLL);
        }
        let thread = self.thread.take().expect("joined once");
        thread.join().expect("the app thread itself never panics")
    }

    /// Stops the app thread and returns what `run` returned, failing if it
    /// takes longer than `within`.
    pub(crate) fn stop_within(&mut self, within: Duration) -> Result<(), AppError> {
        let asked = Instant::now();
        self.stop.stop();
        let result = self.join();
        let took = asked.elapsed();
        assert!(
            took < within,
            "stopping took {took:?}, more than {within:?}"
        );
        result
    }

    /// The app thread's stop handle.
    pub(crate) fn stop_handle(&self) -> &StopHandle {
        &self.stop
    }

    /// Stops the app thread and returns what `run` returned.
    pub(crate) fn stop(&mut self) -> Result<(), AppError> {
        self.stop_within(DEADLINE)
    }
}

impl Drop for Harness {
    /// Never leaves an app thread running behind a failed test (and never
    /// waits for one forever).
    fn drop(&mut self) {
        if let Some(thread) = self.thread.take() {
            self.stop.stop();
            let deadline = Instant::now() + DEADLINE;
            while !thread.is_finished() && Instant::now() < deadline {
                std::thread::sleep(POLL);
            }
            if thread.is_finished() {
                let _ = thread.join();
            }
        }
    }
}

/// The error `run` must return when the app's `callback` failed with `reason`.
pub(crate) fn app_error(callback: &'static str, reason: &str) -> AppError {
    AppError {
        app: APP_NAME.to_owned(),
        callback,
        reason: reason.to_owned(),
    }
}
