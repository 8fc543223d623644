//! The app thread: one per app, consuming the inbound ring of every worker
//! and calling the app's callbacks.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rs_proto::CloseCode;
use rs_ring::{Consumer, Parker, Producer, Waker};

use super::api::{CallbackKind, CurrentClient, HostState};
use super::load::App;
use super::pace::{self, Pace};
use crate::abi::{self, STATUS_PANICKED};
use crate::layout::Violation;
use crate::wire::{InboundKind, OpenDetails, read_inbound};

/// Messages taken from one worker's ring before moving to the next, so that
/// a busy worker cannot starve the others.
const BATCH: usize = 64;

/// Messages held for their worker at most, per worker: past it, echoes are
/// copied rather than lent until the worker catches up.
const MAX_HOLDS: usize = 256;

/// How often an app thread that sleeps with a grown outbound ring or write
/// buffer looks whether it can give the memory back (see
/// `HostState::trim`): a burst's memory is not kept for good, and a ring
/// in steady use is not shrunk and grown again more often than this.
const TRIM_PERIOD: Duration = Duration::from_secs(5);

/// What an app thread needs to know from the configuration.
#[derive(Clone, Debug)]
pub struct AppSettings {
    /// The app's `name`, prefixed to its log lines.
    pub name: String,
    /// The number of worker threads (one inbound and one outbound ring each).
    pub worker_c: u32,
    /// The app's `wbuf_size`: the initial capacity of its write buffer.
    pub wbuf_size: usize,
    /// `max_ws_msg_size`, shown to the app through `conf()`.
    pub max_ws_msg_size: u64,
    /// `fd_alloc_c`, shown to the app.
    pub fd_alloc_c: u64,
    /// `shutdown_wait_ws`, shown to the app.
    pub shutdown_wait_ws: u32,
    /// The app's `close_client_on_panic`: a panic in open or read closes
    /// that client with 1011 and one in close is passed over, instead of
    /// stopping the server.
    pub close_client_on_panic: bool,
    /// The app's `no_close_cb`: the close callback is not called for
    /// clients that send a close frame either (a worker tells the app of
    /// those, so that it answers the frame).
    pub no_close_cb: bool,
}

impl AppSettings {
    /// The settings of `app` in `config`, with `worker_c` workers.
    pub fn from_config(config: &rs_conf::Config, app: &rs_conf::AppConfig, worker_c: u32) -> Self {
        Self {
            name: app.name.clone(),
            worker_c,
            wbuf_size: app.wbuf_size,
            max_ws_msg_size: config.max_ws_msg_size as u64,
            fd_alloc_c: config.fd_alloc_c as u64,
            shutdown_wait_ws: config.shutdown_wait_ws,
            close_client_on_panic: app.close_client_on_panic,
            no_close_cb: app.no_close_cb,
        }
    }
}

/// An app stopped the server: a callback returned -1, panicked, or returned
/// a value its kind of callback may not return.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppError {
    /// The app's name.
    pub app: String,
    /// Which callback: `init`, `open`, `read`, `close` or `timer`.
    pub callback: &'static str,
    /// What happened.
    pub reason: String,
}

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "app '{}': {} callback {}",
            self.app, self.callback, self.reason
        )
    }
}

impl std::error::Error for AppError {}

/// Stops an app thread from another thread (at shutdown).
#[derive(Clone, Debug)]
pub struct StopHandle {
    stop: Arc<AtomicBool>,
    waker: Waker,
}

impl StopHandle {
    /// Asks the thread to return from [`AppThread::run`] after its current
    /// pass over the rings (at most a batch of messages per worker and a due
    /// timer); wakes it if it sleeps.
    pub fn stop(&self) {
        // A read-modify-write, paired with the one in the thread's sleep
        // re-check, so the wake-up below cannot be lost (see rs-ring's wake).
        self.stop.swap(true, Ordering::AcqRel);
        self.waker.wake();
    }
}

/// One app's thread: its callbacks, the inbound ring of every worker, and
/// the outbound ring to every worker.
pub struct AppThread {
    app: App,
    inbound: Vec<Consumer>,
    /// Per worker, the messages of its inbound ring that replies lent to it,
    /// oldest first: (the message's ring position, the outbound ring
    /// position after the reply). The inbound ring is held at the oldest
    /// until the worker has released its reply.
    holds: Vec<VecDeque<(u64, u64)>>,
    parker: Parker,
    stop: Arc<AtomicBool>,
    pace: Pace,
    /// Boxed so that its address, handed to the app in every `Ctx`, is stable.
    host: Box<HostState>,
}

impl fmt::Debug for AppThread {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppThread")
            .field("app", &self.host.name)
            .finish_non_exhaustive()
    }
}

impl AppThread {
    /// Prepares an app thread. `inbound[w]` and `outbound[w]` are the rings
    /// shared with worker `w`; the inbound rings' producers must have been
    /// created with `parker.waker()` so that workers wake this thread.
    pub fn new(
        app: App,
        settings: AppSettings,
        inbound: Vec<Consumer>,
        outbound: Vec<Producer>,
        parker: Parker,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let host = Box::new(HostState::new(&app, settings, outbound, stop.clone()));
        Self {
            app,
            holds: inbound
                .iter()
                .map(|_| VecDeque::with_capacity(MAX_HOLDS))
                .collect(),
            inbound,
            parker,
            stop,
            pace: Pace::default(),
            host,
        }
    }

    /// A handle that stops [`AppThread::run`].
    pub fn stop_handle(&self) -> StopHandle {
        StopHandle {
            stop: self.stop.clone(),
            waker: self.parker.waker(),
        }
    }

    /// Runs the app until stopped: init, then messages and timers, then
    /// fini. Calls `initialized` once init has succeeded (or at once, for an
    /// app without one), so that the server can wait for every app before
    /// it accepts clients; a failing init returns its error without calling
    /// it. Returns the error that ends the server if a callback fails.
    pub fn run(mut self, initialized: impl FnOnce()) -> Result<(), AppError> {
        if let Some(init) = self.app.init {
            let status = self
                .host
                .call(CallbackKind::Init, None, |ctx| call_callback(init, ctx));
            check_status(&self.host.name, CallbackKind::Init, status)?;
        }
        initialized();
        let result = self.event_loop();
        if let Some(fini) = self.app.fini {
            self.host.call(CallbackKind::Fini, None, |ctx| {
                // SAFETY: the ABI's fini callback with a live context, after
                // a successful init, once, on the app's own thread.
                unsafe { fini(ctx) };
                0
            });
        }
        self.host.flush_outbound();
        let host = &mut *self.host;
        host.log_limit.report(&host.name);
        result
    }

    fn event_loop(&mut self) -> Result<(), AppError> {
        let interval = Duration::from_micros(self.app.timer_interval_us);
        let mut next_timer =
            (self.app.timer_mode != abi::TIMER_NONE).then(|| Instant::now() + interval);
        let mut next_trim: Option<Instant> = None;
        loop {
            if self.stop.load(Ordering::Acquire) {
                // The workers are done: what they left (the close notices of
                // a shutdown, say) is still handed to the app, then it stops.
                while self.dispatch_batch()? {}
                self.host.flush_outbound();
                return Ok(());
            }
            let mut worked = self.dispatch_batch()?;
            self.host.flush_outbound();
            self.pace.batch_ended(pace::now);
            let host = &mut *self.host;
            host.log_limit.report_if_due(&host.name);
            // A sleeping timer runs only after traffic (RS_TIMER_SLEEP): not
            // when the sleep ended without any (a trim, a worker's wake-up).
            if (worked || self.app.timer_mode == abi::TIMER_WAKE)
                && next_timer.is_some_and(|due| Instant::now() >= due)
            {
                next_timer = self.run_timer()?;
                self.host.flush_outbound();
                // A sleeping timer waits for traffic even when it is due
                // again at once (a tiny interval): it is no work of its own.
                worked |= self.app.timer_mode == abi::TIMER_WAKE;
            }
            if !worked {
                // Only a waking timer bounds the sleep; a sleeping timer waits
                // for traffic (RS_TIMER_SLEEP).
                let timer = match (self.app.timer_mode, next_timer) {
                    (abi::TIMER_WAKE, Some(due)) => Some(due),
                    _ => None,
                };
                if next_trim.is_none() && self.host.has_grown() {
                    next_trim = Some(Instant::now() + TRIM_PERIOD);
                }
                let timeout = timer
                    .into_iter()
                    .chain(next_trim)
                    .chain(self.host.log_limit.summary_due())
                    .min()
                    .map(|due| due.saturating_duration_since(Instant::now()));
                let (inbound, stop) = (&mut self.inbound, &self.stop);
                self.parker.park(timeout, || {
                    inbound.iter_mut().any(|ring| !ring.is_empty())
                        || stop.fetch_or(false, Ordering::AcqRel)
                });
                self.pace.woke();
                if next_trim.is_some_and(|due| Instant::now() >= due) {
                    next_trim = self.host.trim().then(|| Instant::now() + TRIM_PERIOD);
                }
            }
        }
    }

    /// Hands up to [`BATCH`] messages of each worker's ring to the app;
    /// returns whether there were any.
    fn dispatch_batch(&mut self) -> Result<bool, AppError> {
        let mut callbacks = 0u32;
        for worker in 0..self.inbound.len() {
            if !self.holds[worker].is_empty() {
                self.lift_holds(worker);
            }
            for _ in 0..BATCH {
                let Some(bytes) = self.inbound[worker].peek() else {
                    break;
                };
                if callbacks == 1 {
                    self.pace.second_callback(pace::now());
                }
                // Read callbacks get the payload straight from the ring; it
                // stays in place until `advance` below, or longer if a reply
                // lends it to the worker.
                let lend_to = (self.holds[worker].len() < MAX_HOLDS).then_some(worker);
                let result = dispatch(&self.app, &mut self.host, bytes, lend_to);
                if let Some(until) = self.host.lent_until.take() {
                    let position = self.inbound[worker]
                        .hold_peeked()
                        .expect("the lent message is still peeked");
                    self.holds[worker].push_back((position, until));
                }
                self.inbound[worker].advance();
                result?;
                callbacks += 1;
                if self.pace.flush_due(pace::now) {
                    self.host.flush_outbound();
                }
            }
            self.inbound[worker].release();
        }
        Ok(callbacks > 0)
    }

    /// Gives back to `worker` the messages whose lent replies it has
    /// released (sent or copied): the hold moves to the oldest still lent.
    fn lift_holds(&mut self, worker: usize) {
        let released = self.host.outbound_released(worker);
        let holds = &mut self.holds[worker];
        while holds.front().is_some_and(|&(_, until)| until <= released) {
            holds.pop_front();
        }
        self.inbound[worker].set_hold(holds.front().map(|&(position, _)| position));
    }

    /// Calls the timer; returns when to call it next.
    fn run_timer(&mut self) -> Result<Option<Instant>, AppError> {
        let Some(timer) = self.app.timer else {
            return Ok(None);
        };
        let status = self
            .host
            .call(CallbackKind::Timer, None, |ctx| call_callback(timer, ctx));
        check_status(&self.host.name, CallbackKind::Timer, status)?;
        Ok((status > 0).then(|| Instant::now() + Duration::from_micros(status as u64)))
    }
}

/// Calls an init, open, close or timer callback of the loaded app.
fn call_callback(f: abi::Callback, ctx: *mut abi::Ctx) -> i32 {
    // SAFETY: an ABI callback of the loaded app, called on its thread with
    // the context the host built for this call.
    unsafe { f(ctx) }
}

/// Hands the message `bytes` from a worker's ring to the app; a read's
/// payload may be lent to the worker `lend_to` (see `HostState::lend_to`).
fn dispatch(
    app: &App,
    host: &mut HostState,
    bytes: &[u8],
    lend_to: Option<usize>,
) -> Result<(), AppError> {
    let message = match read_inbound(bytes) {
        Ok(message) => message,
        Err(error) => {
            // Workers write these messages; a malformed one is a server bug,
            // never client input. Skip it rather than take the app down.
            log::error!(
                "app '{}': skipping a malformed inbound message: {error}",
                host.name
            );
            return Ok(());
        }
    };
    let client = CurrentClient {
        id: message.client,
        endpoint_id: message.endpoint_id,
        peer: message.peer,
        data_kind: message.data_kind,
    };
    match message.kind {
        InboundKind::Open => {
            // A member from here on in its worker's ring, before anything
            // the open callback sends.
            host.join(client.id);
            host.closed.note(client.id);
            let status = app.open.map(|f| {
                let details = OpenDetails::read(message.payload);
                if details.is_none() {
                    // A worker's bug; the app still learns of its client.
                    log::error!(
                        "app '{}': an open notice with malformed details ({} bytes)",
                        host.name,
                        message.payload.len()
                    );
                }
                host.call_open(details, client, |ctx| call_callback(f, ctx))
            });
            client_status(host, CallbackKind::Open, status.unwrap_or(0), client)
        }
        InboundKind::Close => close_callback(app, host, client),
        InboundKind::CloseFrame => {
            let result = close_callback(app, host, client);
            // Behind everything the app sent the client so far.
            host.answer_close(client.id, message.payload);
            result
        }
        InboundKind::Read => {
            if !host.closed.may_read(client.id) {
                // Sent before the client learnt it was closed (see `closed`).
                return Ok(());
            }
            let (case, case_byte, payload) =
                match select_case(app, message.data_kind, message.payload) {
                    Ok(found) => found,
                    Err(violation) => {
                        close_for(host, client, violation);
                        return Ok(());
                    }
                };
            let read = case.read;
            let status = host.call_read(case_byte, payload, client, lend_to, |ctx| {
                // SAFETY: the app's read callback, with the live context and
                // the payload validated against the case's arguments.
                unsafe { read(ctx, payload.as_ptr(), payload.len()) }
            });
            client_status(host, CallbackKind::Read, status, client)
        }
    }
}

/// Picks the read case for a message and checks its payload (4900-4902):
/// the case, its case byte (0 unless in switch mode) and the payload.
fn select_case<'a>(
    app: &'a App,
    data_kind: u8,
    payload: &'a [u8],
) -> Result<(&'a super::load::Case, u8, &'a [u8]), Violation> {
    let (case_byte, rest) = if app.read_mode == abi::READ_SWITCH {
        let (&value, rest) = payload.split_first().ok_or(Violation::UnknownCase)?;
        (value, rest)
    } else {
        (0, payload)
    };
    let case = app.cases[usize::from(case_byte)]
        .as_ref()
        .ok_or(Violation::UnknownCase)?;
    if case.data_kind != abi::DATA_ANY && case.data_kind != data_kind {
        return Err(Violation::WrongDataKind);
    }
    case.check.check(rest)?;
    Ok((case, case_byte, rest))
}

/// Closes `client`, whose message no read case takes, with the code for
/// why: the client's mistake, or the app's declaration's, so logged (at
/// `log_level` `info`, `log`'s `Debug`) for whoever looks into clients
/// closed at once.
#[cold]
#[inline(never)]
fn close_for(host: &mut HostState, client: CurrentClient, violation: Violation) {
    log::debug!(
        "app '{}': closing client {} ({}) with {}: {violation}",
        host.name,
        client.id,
        client.peer,
        violation.close_code()
    );
    let _ = host.close_client(client.id, violation.close_code());
}

/// Calls the close callback for `client`, if the app has one and wants it.
fn close_callback(app: &App, host: &mut HostState, client: CurrentClient) -> Result<(), AppError> {
    let Some(close) = app.close.filter(|_| !host.no_close_cb) else {
        return Ok(());
    };
    let status = host.call(CallbackKind::Close, Some(client), |ctx| {
        call_callback(close, ctx)
    });
    match check_status(&host.name, CallbackKind::Close, status) {
        Ok(_) => Ok(()),
        Err(error) => survive_panic(host, error, status, None),
    }
}

/// Applies an open or read status: 4000-4899 closes the client.
fn client_status(
    host: &mut HostState,
    which: CallbackKind,
    status: i32,
    client: CurrentClient,
) -> Result<(), AppError> {
    match check_status(&host.name, which, status) {
        // At shutdown with a full ring the worker closes it anyway.
        Ok(Some(code)) => {
            let _ = host.close_client(client.id, code);
        }
        Ok(None) => {}
        Err(error) => return survive_panic(host, error, status, Some(client)),
    }
    Ok(())
}

/// A callback's `error` ends the app, unless it is a panic in an open,
/// read or close callback and the app's configuration says to close only
/// the client involved (`client`, gone already for close) with 1011.
#[cold]
fn survive_panic(
    host: &mut HostState,
    error: AppError,
    status: i32,
    client: Option<CurrentClient>,
) -> Result<(), AppError> {
    if status != STATUS_PANICKED || !host.close_client_on_panic {
        return Err(error);
    }
    // Clients may be what makes it panic, each: counted with the app's own
    // lines (its SDK has just logged the panic).
    let logged = host.log_limit.admit(&host.name);
    match client {
        Some(client) => {
            if logged {
                log::error!(
                    "{error}; closing client {} ({}) with 1011 (close_client_on_panic)",
                    client.id,
                    client.peer
                );
            }
            let _ = host.close_client(client.id, CloseCode::INTERNAL_ERROR.get());
        }
        None if logged => {
            log::error!("{error}; the client has left already, going on (close_client_on_panic)")
        }
        None => {}
    }
    Ok(())
}

/// Checks a callback's status against what the seed allows it to return;
/// `Ok(Some(code))` for an open or read status that closes the client.
#[inline(always)]
fn check_status(app: &str, which: CallbackKind, status: i32) -> Result<Option<u16>, AppError> {
    // Nearly every callback returns 0: decide that without the call.
    if status == 0 {
        return Ok(None);
    }
    check_other_status(app, which, status)
}

#[cold]
fn check_other_status(
    app: &str,
    which: CallbackKind,
    status: i32,
) -> Result<Option<u16>, AppError> {
    let error = |reason: String| AppError {
        app: app.to_owned(),
        callback: which.name(),
        reason,
    };
    match (which, status) {
        (_, 0) => Ok(None),
        (_, -1) => Err(error("returned -1 (fatal)".into())),
        (_, STATUS_PANICKED) => Err(error("panicked (see the log line before this one)".into())),
        (CallbackKind::Open | CallbackKind::Read, code) if (4000..=4899).contains(&code) => {
            Ok(Some(code as u16))
        }
        (CallbackKind::Timer, t) if t > 0 => Ok(None),
        (which, other) => Err(error(format!(
            "returned {other}; {} callbacks may return {}",
            which.name(),
            which.allowed()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Return values at and around each edge of what the seed allows each
    /// callback: the close code to act on, or why the server stops.
    #[test]
    fn each_callback_accepts_exactly_the_statuses_the_seed_allows() {
        // The callback, what it returns, and the close code or the error.
        type Case = (CallbackKind, i32, Result<Option<u16>, &'static str>);
        let cases: &[Case] = &[
            (CallbackKind::Init, 0, Ok(None)),
            (
                CallbackKind::Init,
                1,
                Err("init callback returned 1; init callbacks may return 0 or -1"),
            ),
            (
                CallbackKind::Init,
                -1,
                Err("init callback returned -1 (fatal)"),
            ),
            (CallbackKind::Open, 4000, Ok(Some(4000))),
            (CallbackKind::Open, 4899, Ok(Some(4899))),
            (
                CallbackKind::Open,
                3999,
                Err("open callback returned 3999; open callbacks may return 0, -1 or 4000-4899"),
            ),
            (
                CallbackKind::Open,
                1000,
                Err("open callback returned 1000; open callbacks may return 0, -1 or 4000-4899"),
            ),
            (
                CallbackKind::Read,
                4900,
                Err("read callback returned 4900; read callbacks may return 0, -1 or 4000-4899"),
            ),
            (
                CallbackKind::Read,
                -2,
                Err("read callback returned -2; read callbacks may return 0, -1 or 4000-4899"),
            ),
            (
                CallbackKind::Read,
                i32::MIN,
                Err("read callback panicked (see the log line before this one)"),
            ),
            (
                CallbackKind::Close,
                4000,
                Err("close callback returned 4000; close callbacks may return 0 or -1"),
            ),
            (CallbackKind::Timer, 1, Ok(None)),
            (CallbackKind::Timer, 4000, Ok(None)),
            (CallbackKind::Timer, i32::MAX, Ok(None)),
            (
                CallbackKind::Timer,
                -2,
                Err(
                    "timer callback returned -2; timer callbacks may return -1, 0 or a positive number of microseconds",
                ),
            ),
        ];
        for &(which, status, expected) in cases {
            let result = check_status("zz", which, status)
                .map_err(|e| format!("{} callback {}", e.callback, e.reason));
            assert_eq!(
                result,
                expected.map_err(str::to_owned),
                "{} returning {status}",
                which.name()
            );
        }
    }
}
