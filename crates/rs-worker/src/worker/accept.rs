//! Taking new connections: accepting from the listeners within the
//! connection budget all workers share, and refusing, with a log line at
//! most once a second, when descriptors, slots or the budget run out.

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::Worker;

/// `errno` values for "too many open files" (process, system).
const EMFILE: i32 = 24;
const ENFILE: i32 = 23;

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

    pub(super) fn release(&self) {
        self.open.fetch_sub(1, Ordering::AcqRel);
    }

    /// Connections open now, across all workers.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }
}

impl Worker {
    pub(super) fn accept(&mut self, listener: usize) {
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
}

/// Refusals of one kind: each is counted, and logged at most once per
/// second with the count since the last line (a flood of them would
/// otherwise flood the log).
#[derive(Default)]
pub(super) struct RefusalLog {
    last_logged: Option<Instant>,
    since: u64,
}

impl RefusalLog {
    /// Counts a refusal by `worker`; `what` describes it if a line is due.
    pub(super) fn record(&mut self, worker: u16, what: impl FnOnce() -> String) {
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
