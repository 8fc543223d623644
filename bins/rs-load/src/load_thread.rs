//! What every load thread shares: its event loop, the state it shares with
//! the main thread, opening its connections, and the start gate.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use mio::{Events, Poll, Token};

use crate::conn::{Conn, Session, State};
use crate::error::{ConnError, LoadError};
use crate::histogram::Histogram;
use crate::rng::Rng;
use crate::target::Target;

/// Connection attempts a thread keeps in flight while opening (more would
/// only overflow the server's accept queue).
const MAX_OPENING: usize = 128;
/// Each thread's read buffer.
const READ_BUFFER: usize = 256 * 1024;
/// Readiness events taken per `epoll_wait`.
const EVENTS: usize = 1024;
/// The longest a thread blocks in `epoll_wait` before it checks the clock
/// and the stop flag again.
const MAX_WAIT: Duration = Duration::from_millis(50);
/// How long the end of a run waits for what is still in flight (the last
/// echoes of a timed run), then for the server's side of the closing
/// handshakes.
pub(crate) const END_GRACE: Duration = Duration::from_secs(5);

/// The measurement window, set by the main thread when every load thread
/// is ready.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Window {
    /// When sending starts.
    pub(crate) start: Instant,
    /// When every thread stops.
    pub(crate) deadline: Instant,
}

impl Window {
    /// How long something awaited since `since` has waited at `now`, if
    /// that is more than half the run: the server lost it or stopped
    /// serving its connection. (The slowest round trip of a loaded server
    /// takes a small fraction of any run; counting on only the connections
    /// that kept going would report a rate that is not the server's.)
    pub(crate) fn stalled(&self, since: Instant, now: Instant) -> Option<Duration> {
        let waited = now.saturating_duration_since(since);
        (waited > (self.deadline - self.start) / 2).then_some(waited)
    }
}

/// One thread's progress, on its own cache lines so that the main thread's
/// reads do not slow the load thread's writes.
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct Progress {
    /// Messages (echo), deliveries (broadcast) or handshakes (connect) done.
    pub(crate) total: AtomicU64,
    /// Set when the thread ran out of work (`--count`) or stopped.
    pub(crate) finished: AtomicBool,
}

/// State shared by the main thread and the load threads.
#[derive(Debug)]
pub(crate) struct Shared {
    /// Set on the first error, or by the main thread to end the run.
    pub(crate) stop: AtomicBool,
    /// Load threads whose connections are all open.
    pub(crate) ready: AtomicUsize,
    /// Set once, when the measurement starts.
    pub(crate) window: OnceLock<Window>,
    /// One per load thread.
    pub(crate) progress: Box<[Progress]>,
    /// How long opening connections may take.
    pub(crate) setup_timeout: Duration,
    /// When opening connections must be over.
    pub(crate) setup_deadline: Instant,
}

impl Shared {
    /// Shared state for `threads` load threads.
    pub(crate) fn new(threads: usize, setup_timeout: Duration) -> Self {
        Self {
            stop: AtomicBool::new(false),
            ready: AtomicUsize::new(0),
            window: OnceLock::new(),
            progress: (0..threads).map(|_| Progress::default()).collect(),
            setup_timeout,
            setup_deadline: Instant::now() + setup_timeout,
        }
    }

    /// Whether the run is to end.
    pub(crate) fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

/// What a load thread hands back.
#[derive(Debug)]
pub(crate) struct ThreadResult {
    /// Latencies in nanoseconds (echo: round trips; broadcast: rounds;
    /// connect: handshakes).
    pub(crate) latency: Histogram,
    /// Messages, deliveries or handshakes done.
    pub(crate) total: u64,
    /// When the thread ran out of work, if it did before the deadline.
    pub(crate) finished_at: Option<Instant>,
}

/// One load thread's event loop and what it needs to open connections.
pub(crate) struct LoadThread {
    /// The thread's number.
    pub(crate) thread: usize,
    pub(crate) poll: Poll,
    pub(crate) events: Events,
    pub(crate) rbuf: Box<[u8]>,
    pub(crate) rng: Rng,
    pub(crate) target: Arc<Target>,
    pub(crate) shared: Arc<Shared>,
}

impl LoadThread {
    /// A thread's context.
    pub(crate) fn new(
        thread: usize,
        target: Arc<Target>,
        shared: Arc<Shared>,
    ) -> Result<Self, LoadError> {
        Ok(Self {
            thread,
            poll: Poll::new().map_err(LoadError::Poll)?,
            events: Events::with_capacity(EVENTS),
            rbuf: vec![0; READ_BUFFER].into_boxed_slice(),
            rng: Rng::new(thread as u64),
            target,
            shared,
        })
    }

    /// Waits for readiness events, at most until `until` (and never longer
    /// than [`MAX_WAIT`]).
    pub(crate) fn wait(&mut self, until: Instant) -> Result<(), LoadError> {
        let timeout = until
            .saturating_duration_since(Instant::now())
            .min(MAX_WAIT);
        match self.poll.poll(&mut self.events, Some(timeout)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                self.events.clear();
                Ok(())
            }
            Err(e) => Err(LoadError::Poll(e)),
        }
    }

    /// This thread's progress counters.
    pub(crate) fn progress(&self) -> &Progress {
        &self.shared.progress[self.thread]
    }

    /// Ends the thread's work: publishes its final count, marks it finished
    /// for the reporter, and makes its result.
    pub(crate) fn finish(
        &self,
        latency: Histogram,
        total: u64,
        finished_at: Option<Instant>,
    ) -> ThreadResult {
        let progress = self.progress();
        progress.total.store(total, Ordering::Relaxed);
        progress.finished.store(true, Ordering::Release);
        ThreadResult {
            latency,
            total,
            finished_at,
        }
    }

    /// Opens every connection in `conns` (token = index) and completes its
    /// upgrade, a bounded number at a time.
    pub(crate) fn open_all<S: Session>(&mut self, conns: &mut [Conn<S>]) -> Result<(), LoadError> {
        let (mut next, mut opening, mut open) = (0, 0, 0);
        while open < conns.len() {
            while next < conns.len() && opening < MAX_OPENING {
                let conn = &mut conns[next];
                conn.open(
                    &self.target,
                    self.poll.registry(),
                    Token(next),
                    &mut self.rng,
                )
                .map_err(|error| conn.fail(error))?;
                next += 1;
                opening += 1;
            }
            if self.shared.stopped() {
                return Ok(());
            }
            if Instant::now() >= self.shared.setup_deadline {
                return Err(LoadError::Timeout {
                    what: "opening the connections",
                    waited: self.shared.setup_timeout,
                });
            }
            self.wait(self.shared.setup_deadline)?;
            self.dispatch(conns, |_, now| {
                if now == State::Open {
                    open += 1;
                    opening -= 1;
                }
            })?;
        }
        Ok(())
    }

    /// Ends the run as a client should: runs the closing handshake on every
    /// open connection and waits, at most [`END_GRACE`], for the server's
    /// close frame and its end of TCP. What the server sends before its
    /// close still goes to the sessions, which refuse a message nobody
    /// waits for: a server that sends more than it was asked for fails the
    /// run here.
    pub(crate) fn close_all<S: Session>(&mut self, conns: &mut [Conn<S>]) -> Result<(), LoadError> {
        let deadline = Instant::now() + END_GRACE;
        let mut closing = 0usize;
        for conn in conns.iter_mut().filter(|c| c.state() == State::Open) {
            conn.close().map_err(|error| conn.fail(error))?;
            closing += 1;
        }
        while closing > 0 && !self.shared.stopped() {
            if Instant::now() >= deadline {
                let conn = conns.iter().find(|c| c.state() == State::Closing);
                return Err(LoadError::Conn {
                    conn: conn.map_or(0, |c| c.index),
                    error: ConnError::Unanswered {
                        what: "the server's close",
                        waited: END_GRACE,
                    },
                });
            }
            self.wait(deadline)?;
            self.dispatch(conns, |before, now| {
                if (before, now) == (State::Closing, State::Closed) {
                    closing -= 1;
                }
            })?;
        }
        Ok(())
    }

    /// Reports this thread ready and waits for the measurement window,
    /// answering pings meanwhile. `None`: the run was stopped first.
    pub(crate) fn wait_for_start<S: Session>(
        &mut self,
        conns: &mut [Conn<S>],
    ) -> Result<Option<Window>, LoadError> {
        self.shared.ready.fetch_add(1, Ordering::SeqCst);
        loop {
            if let Some(window) = self.shared.window.get() {
                return Ok(Some(*window));
            }
            if self.shared.stopped() {
                return Ok(None);
            }
            let until = Instant::now() + Duration::from_millis(1);
            self.wait(until)?;
            self.dispatch(conns, |_, _| {})?;
        }
    }

    /// Handles the last batch of events with nothing but the connections'
    /// own logic (upgrades, pongs, closes); `moved` sees the states before
    /// and after of each connection whose state an event changed.
    pub(crate) fn dispatch<S: Session>(
        &mut self,
        conns: &mut [Conn<S>],
        mut moved: impl FnMut(State, State),
    ) -> Result<(), LoadError> {
        for event in self.events.iter() {
            if let Some(conn) = conns.get_mut(event.token().0) {
                let before = conn.state();
                conn.on_ready(&mut self.rbuf, hangup(event))
                    .map_err(|error| conn.fail(error))?;
                if conn.state() != before {
                    moved(before, conn.state());
                }
            }
        }
        Ok(())
    }
}

/// Whether `event` reports the end of the peer's stream (or an error), so
/// that reading must go on until it is seen.
pub(crate) fn hangup(event: &mio::event::Event) -> bool {
    event.is_read_closed() || event.is_error()
}

/// Connection `index`'s share of `total` when it is spread over `conns`
/// connections as evenly as possible.
pub(crate) fn share(total: u64, conns: usize, index: usize) -> u64 {
    let conns = conns as u64;
    total / conns + u64::from((index as u64) < total % conns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up_and_differ_by_at_most_one() {
        for (total, conns) in [(0u64, 3usize), (10, 3), (100_000, 10), (7, 10)] {
            let shares: Vec<u64> = (0..conns).map(|i| share(total, conns, i)).collect();
            assert_eq!(shares.iter().sum::<u64>(), total);
            let (min, max) = (shares.iter().min().unwrap(), shares.iter().max().unwrap());
            assert!(max - min <= 1, "{shares:?}");
        }
    }
}
