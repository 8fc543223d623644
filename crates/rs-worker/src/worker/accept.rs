//! Taking new connections: accepting from the listeners within the
//! connection budget all workers share (in all, and per client address),
//! and refusing, with a log line at most once a second, when descriptors,
//! slots or the budget run out.

use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use rs_app::abi::PeerAddr;
use rs_app::wire::peer_addr;

use super::Worker;

/// How soon to try a listener again after an error that may pass (out of
/// memory or buffers, out of descriptors with no spare to shed with):
/// edge-triggered, its waiting connections would not be announced again.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// Connections one listener accepts at most before the worker's clients
/// get their turn: a flood of connections (refused ones included) must not
/// starve them. The rest are accepted after the next poll.
const ACCEPTS_PER_TURN: usize = 64;

/// Whether `error` from `accept` belongs to one connection that failed
/// while it waited (accept(2) says to go on as for EAGAIN).
fn is_connection_error(error: &io::Error) -> bool {
    matches!(
        error.raw_os_error(),
        Some(
            libc::ECONNABORTED
                | libc::EPROTO
                | libc::ENETDOWN
                | libc::ENOPROTOOPT
                | libc::EHOSTDOWN
                | libc::ENONET
                | libc::EHOSTUNREACH
                | libc::EOPNOTSUPP
                | libc::ENETUNREACH
                | libc::EPERM
        )
    )
}

/// The connections all workers may hold together (`fd_alloc_c`), and
/// those of each client address (`max_conns_per_ip`).
///
/// ```
/// use rs_worker::ConnectionBudget;
/// let budget = ConnectionBudget::new(4096).per_address(100);
/// assert_eq!(budget.open(), 0);
/// ```
#[derive(Debug)]
pub struct ConnectionBudget {
    open: AtomicUsize,
    max: usize,
    per_address: Option<PerAddress>,
}

/// The connections each client address holds, when they are limited.
#[derive(Debug)]
struct PerAddress {
    max: usize,
    /// Only addresses that hold some: an entry goes with its last one.
    open: Mutex<HashMap<AddressKey, usize>>,
}

/// What a client address is counted by: an IPv4 address, or an IPv6
/// address's /64 prefix (what one subscriber is usually given: counting
/// each of its addresses apart would limit nothing), or a whole link-local
/// IPv6 address (every host of a link shares the prefix `fe80::/64`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum AddressKey {
    V4(u32),
    V6(u64),
    LinkLocal(u128),
}

impl std::fmt::Display for AddressKey {
    /// An IPv4 address, an IPv6 prefix as `2001:db8:1:2::/64`, or a
    /// link-local address.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Self::V4(ip) => write!(f, "{}", std::net::Ipv4Addr::from(ip)),
            Self::V6(prefix) => {
                let ip = std::net::Ipv6Addr::from(u128::from(prefix) << 64);
                write!(f, "{ip}/64")
            }
            Self::LinkLocal(ip) => write!(f, "{}", std::net::Ipv6Addr::from(ip)),
        }
    }
}

impl AddressKey {
    fn of(peer: &PeerAddr) -> Self {
        let [a, b, c, d, rest @ ..] = peer.ip;
        if peer.version == 4 {
            return Self::V4(u32::from_be_bytes([a, b, c, d]));
        }
        // An IPv4 client of a dual-stack socket, ::ffff:a.b.c.d, is the
        // IPv4 client it is.
        let v6 = std::net::Ipv6Addr::from(peer.ip);
        if let Some(v4) = v6.to_ipv4_mapped() {
            return Self::V4(u32::from(v4));
        }
        if v6.is_unicast_link_local() {
            return Self::LinkLocal(u128::from(v6));
        }
        let [e, f, g, h, ..] = rest;
        Self::V6(u64::from_be_bytes([a, b, c, d, e, f, g, h]))
    }
}

/// Why the budget refused a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Refused {
    /// `fd_alloc_c` connections are open.
    Full,
    /// The client's address holds `max_conns_per_ip` connections.
    Address(AddressKey, usize),
}

impl ConnectionBudget {
    /// A budget of `max` connections.
    pub fn new(max: usize) -> Self {
        Self {
            open: AtomicUsize::new(0),
            max,
            per_address: None,
        }
    }

    /// The same, with at most `max` connections per client address (an
    /// IPv6 address counted by its /64 prefix).
    #[must_use]
    pub fn per_address(self, max: usize) -> Self {
        Self {
            per_address: Some(PerAddress {
                max,
                open: Mutex::new(HashMap::new()),
            }),
            ..self
        }
    }

    /// Takes a place for a connection from `peer`: its address's share
    /// first, so that an address past it never holds a place of the total,
    /// even for a moment.
    fn acquire(&self, peer: &PeerAddr) -> Result<(), Refused> {
        let key = AddressKey::of(peer);
        if let Some(per) = &self.per_address {
            let mut open = per.open.lock().unwrap_or_else(PoisonError::into_inner);
            let held = open.entry(key).or_insert(0);
            if *held == per.max {
                return Err(Refused::Address(key, per.max));
            }
            *held += 1;
        }
        let taken = self
            .open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            });
        if taken.is_err() {
            self.release_share(key);
            return Err(Refused::Full);
        }
        Ok(())
    }

    pub(super) fn release(&self, peer: &PeerAddr) {
        self.open.fetch_sub(1, Ordering::AcqRel);
        self.release_share(AddressKey::of(peer));
    }

    /// Gives back a place of `key`'s share, if shares are kept.
    fn release_share(&self, key: AddressKey) {
        let Some(per) = &self.per_address else {
            return;
        };
        let mut open = per.open.lock().unwrap_or_else(PoisonError::into_inner);
        match open.get_mut(&key) {
            Some(1) => {
                open.remove(&key);
            }
            Some(held) => *held -= 1,
            None => debug_assert!(false, "a connection released twice"),
        }
    }

    /// Connections open now, across all workers.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }
}

impl Worker {
    pub(super) fn accept(&mut self, listener: usize) {
        for _ in 0..ACCEPTS_PER_TURN {
            let Some(listening) = &self.listeners[listener] else {
                return;
            };
            let (port, scheme) = (listening.port, listening.scheme);
            let (stream, peer) = match listening.socket.accept() {
                Ok(accepted) => accepted,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if is_connection_error(&e) => {
                    log::debug!(
                        "worker {}: a connection failed before it was accepted: {e}",
                        self.index
                    );
                    continue;
                }
                Err(e) if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) => {
                    if self.refuse_without_descriptors(listener, &e) {
                        continue;
                    }
                    return;
                }
                Err(e) => {
                    self.accept_refusals
                        .record(self.index, || format!("accept failed: {e}"));
                    self.retry_accept_at(Instant::now() + ACCEPT_RETRY);
                    return;
                }
            };
            let address = peer_addr(peer);
            if let Err(refused) = self.budget.acquire(&address) {
                // Accepted and closed at once.
                drop(stream);
                self.accept_refusals.record(self.index, || match refused {
                    Refused::Full => {
                        "fd_alloc_c connections reached; refusing new connections".to_owned()
                    }
                    Refused::Address(key, max) => format!(
                        "{key} holds max_conns_per_ip ({max}) connections; refusing its new ones"
                    ),
                });
                continue;
            }
            if let Err(e) = self.add_conn(stream, peer, port, scheme) {
                // Out of slots or epoll watches, say: as likely as the
                // others to come in a flood.
                self.accept_refusals.record(self.index, || {
                    format!("dropping a new connection from {peer}: {e}")
                });
                self.budget.release(&address);
            }
        }
        // More may wait and, edge-triggered, would not be announced again:
        // taken up at the end of this pass of the event loop, after the
        // clients' events, and from then on once per pass.
        self.retry_accept_at(Instant::now());
    }

    /// Out of descriptors (`error`, which accept gives whether or not a
    /// connection waits). Left in the backlog, a connection would never be
    /// announced again (edge-triggered): frees the spare descriptor,
    /// accepts it, closes it, takes the spare back. Another thread may have
    /// taken the spare's place when it was last freed: it is taken back
    /// first. Whether to go on accepting.
    #[cold]
    fn refuse_without_descriptors(&mut self, listener: usize, error: &io::Error) -> bool {
        take_back_spare(&mut self.spare_fd);
        let Some(listening) = &self.listeners[listener] else {
            return false;
        };
        let Some(spare) = self.spare_fd.take() else {
            // None to be had: what waits, waits until a retry finds one.
            self.retry_accept_at(Instant::now() + ACCEPT_RETRY);
            return false;
        };
        drop(spare);
        // A connection accepted is closed at once, before the spare is
        // taken back, which may need its descriptor.
        let failed = listening.socket.accept().err();
        take_back_spare(&mut self.spare_fd);
        match failed {
            None => self.accept_refusals.record(self.index, || {
                format!("accept failed: {error}; refusing new connections")
            }),
            // None waits: the next comes with an event.
            Some(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
            // Another thread took the descriptor the spare gave back: what
            // waits is taken up at the retry.
            Some(e) if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) => {
                self.retry_accept_at(Instant::now() + ACCEPT_RETRY);
                return false;
            }
            // That connection failed on its own; more may wait.
            Some(e) if e.kind() == io::ErrorKind::Interrupted || is_connection_error(&e) => {}
            // One of the system's (ENOBUFS): as for accept's own errors.
            Some(e) => {
                self.accept_refusals
                    .record(self.index, || format!("accept failed: {e}"));
                self.retry_accept_at(Instant::now() + ACCEPT_RETRY);
                return false;
            }
        }
        true
    }

    /// Tries the listeners again at `at`, or sooner if another listener
    /// asked for that.
    fn retry_accept_at(&mut self, at: Instant) {
        self.accept_retry = Some(self.accept_retry.map_or(at, |t| t.min(at)));
    }
}

impl Worker {
    /// What accepting left for later, if its time has come: listeners to
    /// try again after an error, refusals (and clients shed) to report.
    #[inline(always)]
    pub(super) fn accept_later(&mut self) {
        // Three comparisons in the common case, once per loop.
        if self.accept_retry.is_none()
            && !self.accept_refusals.pending()
            && !self.busy_refusals.pending()
            && !self.shed_clients.pending()
        {
            return;
        }
        self.accept_timers_due();
    }

    #[cold]
    fn accept_timers_due(&mut self) {
        let now = Instant::now();
        if self.accept_retry.is_some_and(|t| t <= now) {
            self.accept_retry = None;
            for listener in 0..self.listeners.len() {
                self.accept(listener);
            }
        }
        self.accept_refusals.flush(self.index, now);
        self.busy_refusals.flush(self.index, now);
        self.shed_clients.flush(self.index, now);
    }

    /// When [`accept_later`](Self::accept_later) has something to do.
    pub(super) fn accept_wakeup(&self) -> Option<Instant> {
        [
            self.accept_retry,
            self.accept_refusals.due(),
            self.busy_refusals.due(),
            self.shed_clients.due(),
        ]
        .into_iter()
        .flatten()
        .min()
    }
}

/// Refusals of one kind (new connections refused, clients closed to shed
/// load): each is counted; the first is logged at once, the rest at most
/// once per second with their count (a flood of them would otherwise flood
/// the log), by [`record`](Self::record) or, when no more come, by
/// [`flush`](Self::flush).
pub(super) struct RefusalLog {
    /// What is refused, for the lines that report a count alone.
    what: &'static str,
    /// What was done to them: "refused", "closed with 1013".
    done: &'static str,
    last_logged: Option<Instant>,
    since: u64,
}

/// The shortest time between two lines of one [`RefusalLog`].
const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(1);

impl RefusalLog {
    /// Refusals of `what`, e.g. "new connections", `done` to them, e.g.
    /// "refused".
    pub(super) const fn new(what: &'static str, done: &'static str) -> Self {
        Self {
            what,
            done,
            last_logged: None,
            since: 0,
        }
    }

    /// Counts a refusal by `worker`; `why` describes it if a line is due.
    pub(super) fn record(&mut self, worker: u16, why: impl FnOnce() -> String) {
        if let Some(count) = self.count(Instant::now()) {
            log::warn!(
                "worker {worker}: {} ({count} {} since the last report)",
                why(),
                self.done
            );
        }
    }

    /// Whether refusals wait to be reported.
    #[inline(always)]
    pub(super) fn pending(&self) -> bool {
        self.since > 0
    }

    /// When the refusals not yet reported are due to be, if there are any.
    pub(super) fn due(&self) -> Option<Instant> {
        (self.since > 0)
            .then_some(self.last_logged)
            .flatten()
            .map(|t| t + REFUSAL_LOG_EVERY)
    }

    /// Reports the refusals `worker` counted since the last line, if it is
    /// time: they end up in the log even when no refusal follows them.
    pub(super) fn flush(&mut self, worker: u16, now: Instant) {
        if let Some(count) = self.take_due(now) {
            log::warn!(
                "worker {worker}: {count} more {} {} since the last report",
                self.what,
                self.done
            );
        }
    }

    /// Counts a refusal at `now`; the count to report if a line is due.
    fn count(&mut self, now: Instant) -> Option<u64> {
        self.since += 1;
        if self
            .last_logged
            .is_some_and(|t| now - t < REFUSAL_LOG_EVERY)
        {
            return None;
        }
        self.last_logged = Some(now);
        Some(std::mem::take(&mut self.since))
    }

    /// The count to report at `now` without a new refusal, if one is due.
    fn take_due(&mut self, now: Instant) -> Option<u64> {
        if self.due().is_none_or(|due| now < due) {
            return None;
        }
        self.last_logged = Some(now);
        Some(std::mem::take(&mut self.since))
    }
}

/// Opens the spare descriptor (see `Worker::accept`) if it is not held. It
/// is lost when another thread takes its place between its release and its
/// reopening, and then tried again whenever a connection closes.
pub(super) fn take_back_spare(spare: &mut Option<std::fs::File>) {
    if spare.is_none() {
        *spare = std::fs::File::open("/dev/null").ok();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_reported_at_most_once_a_second_with_the_count_since() {
        let start = Instant::now();
        let at = |ms| start + Duration::from_millis(ms);
        let mut log = RefusalLog::new("new connections", "refused");
        assert_eq!(log.due(), None);
        assert_eq!(log.count(at(0)), Some(1));
        assert_eq!(log.due(), None);
        assert_eq!(log.count(at(10)), None);
        assert_eq!(log.count(at(999)), None);
        assert_eq!(log.count(at(1000)), Some(3));
        assert_eq!(log.count(at(1500)), None);
        assert_eq!(log.count(at(5000)), Some(2));
    }

    #[test]
    fn refusals_that_no_other_follows_are_reported_when_due() {
        let start = Instant::now();
        let at = |ms| start + Duration::from_millis(ms);
        let mut log = RefusalLog::new("new connections", "refused");
        assert_eq!(log.count(at(0)), Some(1));
        for ms in 1..=49 {
            assert_eq!(log.count(at(ms)), None);
        }
        assert_eq!(log.due(), Some(at(1000)));
        assert_eq!(log.take_due(at(999)), None);
        assert_eq!(log.take_due(at(1000)), Some(49));
        // All told: nothing more is due until another refusal.
        assert_eq!(log.due(), None);
        assert_eq!(log.take_due(at(9000)), None);
        assert_eq!(log.count(at(1200)), None);
        assert_eq!(log.due(), Some(at(2000)));
    }

    fn address(text: &str) -> PeerAddr {
        peer_addr(std::net::SocketAddr::new(text.parse().unwrap(), 9))
    }

    #[test]
    fn each_address_holds_at_most_its_share_and_gets_it_back() {
        let budget = ConnectionBudget::new(10).per_address(2);
        let (a, b) = (address("192.0.2.1"), address("192.0.2.2"));
        assert_eq!(budget.acquire(&a), Ok(()));
        assert_eq!(budget.acquire(&a), Ok(()));
        let key = AddressKey::of(&a);
        assert_eq!(budget.acquire(&a), Err(Refused::Address(key, 2)));
        // Another address is not affected, and a refusal holds nothing.
        assert_eq!(budget.acquire(&b), Ok(()));
        assert_eq!(budget.open(), 3);
        budget.release(&a);
        assert_eq!(budget.acquire(&a), Ok(()));
        for peer in [&a, &a, &b] {
            budget.release(peer);
        }
        assert_eq!(budget.open(), 0);
        let per = budget.per_address.as_ref().unwrap();
        assert!(per.open.lock().unwrap().is_empty(), "entries left behind");
    }

    #[test]
    fn the_total_is_checked_first_and_without_a_share_there_is_no_limit() {
        let budget = ConnectionBudget::new(1).per_address(5);
        let a = address("192.0.2.1");
        assert_eq!(budget.acquire(&a), Ok(()));
        assert_eq!(budget.acquire(&address("192.0.2.2")), Err(Refused::Full));
        // The refused one's share was given back.
        let per = budget.per_address.as_ref().unwrap();
        assert_eq!(per.open.lock().unwrap().len(), 1);
        let unlimited = ConnectionBudget::new(100);
        for _ in 0..100 {
            assert_eq!(unlimited.acquire(&a), Ok(()));
        }
        assert_eq!(unlimited.acquire(&a), Err(Refused::Full));
    }

    #[test]
    fn how_client_addresses_are_counted() {
        let key = |text| AddressKey::of(&address(text));
        assert_eq!(key("2001:db8:1:2::1"), key("2001:db8:1:2:ffff::9"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("::ffff:192.0.2.1"), key("192.0.2.1"));
        assert_ne!(key("192.0.2.1"), key("192.0.2.2"));
        // As the refusals' log lines name them.
        assert_eq!(key("2001:db8:1:2:3::9").to_string(), "2001:db8:1:2::/64");
        assert_eq!(key("::ffff:192.0.2.1").to_string(), "192.0.2.1");
        // Every host of a link has a link-local address in fe80::/64.
        assert_ne!(key("fe80::1"), key("fe80::2"));
        assert_eq!(key("fe80::1"), key("fe80::0:1"));
        assert_eq!(key("fe80::1:2").to_string(), "fe80::1:2");
    }
}
