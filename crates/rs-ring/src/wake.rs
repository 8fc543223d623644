//! Sleeping consumers and the producers that wake them, without lost
//! wake-ups and without syscalls while the consumer is awake.
//!
//! # The protocol
//!
//! A consumer about to sleep *announces* it (swaps SLEEPING into its wake
//! word), *re-checks* every ring it consumes with a read-modify-write of the
//! ring's write index ([`Consumer::is_empty`](crate::Consumer::is_empty)), and
//! only then *waits*. A producer *publishes* with a read-modify-write of the
//! write index (every `publish_batch` commits, and in
//! [`Producer::flush`](crate::Producer::flush)), then, in the next `flush`,
//! *checks* the word, and wakes the consumer only if it finds SLEEPING and is
//! the one to swap it back to AWAKE. The check may come any time after the
//! publication: the argument below needs only their order.
//!
//! The two read-modify-writes (both AcqRel) hit the same location, so they
//! are ordered in its modification order, one way or the other. If the
//! producer's comes first, the consumer's reads the published position: it
//! sees the message and does not sleep. If the consumer's comes first, the
//! producer's reads from it and so synchronises with it: the announcement
//! happens-before the producer's check, which sees SLEEPING and wakes it.
//! Either way no message is left unseen. This needs no SeqCst fence (which
//! loom cannot model), so loom checks the very code that runs.
//!
//! A consumer that is awake has the word at AWAKE, so publishing costs one
//! read-modify-write on the producer's own index line and a load, never a
//! syscall.

use std::fmt;
use std::time::{Duration, Instant};

use crate::futex::Futex;
use crate::sync::{Arc, Ordering};

const AWAKE: u32 = 0;
const SLEEPING: u32 = 1;

/// How a sleeping consumer is woken.
enum Signal {
    /// It waits on the futex word itself.
    Futex,
    /// It waits in epoll on this eventfd.
    #[cfg(not(loom))]
    EventFd(std::os::fd::OwnedFd),
}

/// A consumer's wake word and how to wake it.
struct WakeTarget {
    futex: Futex,
    signal: Signal,
}

impl WakeTarget {
    fn new(signal: Signal) -> Arc<Self> {
        Arc::new(Self {
            futex: Futex::new(AWAKE),
            signal,
        })
    }

    /// Consumer: say "I am going to sleep" before the final re-check. The
    /// re-check's read-modify-write (release) orders this before it. A swap
    /// rather than a plain store also orders it after every wake-up claim it
    /// overwrites; loom finds a lost wake-up with a relaxed store here, and
    /// this path runs only when the consumer is about to sleep.
    fn announce(&self) {
        self.futex.word.swap(SLEEPING, Ordering::AcqRel);
    }

    /// Consumer: back to awake. `false` if a producer claimed the wake-up first.
    fn withdraw(&self) -> bool {
        self.futex.word.swap(AWAKE, Ordering::Relaxed) == SLEEPING
    }

    fn is_sleeping(&self) -> bool {
        self.futex.word.load(Ordering::Relaxed) == SLEEPING
    }

    /// Producer, after publishing with a read-modify-write: wake the
    /// consumer if it announced sleep.
    fn wake(&self) {
        if self.is_sleeping() && self.withdraw() {
            match &self.signal {
                Signal::Futex => self.futex.wake_one(),
                #[cfg(not(loom))]
                Signal::EventFd(fd) => eventfd_write(fd),
            }
        }
    }
}

/// Wakes one consumer: give a clone to every ring that feeds it (see
/// [`ring`](crate::ring)); many producers may share one consumer. A
/// [`Producer::flush`](crate::Producer::flush) after a publication wakes the
/// consumer if it announced sleep.
#[derive(Clone)]
pub struct Waker(Arc<WakeTarget>);

impl Waker {
    /// Wakes the consumer if it announced sleep. Rings call this on every
    /// [`Producer::flush`](crate::Producer::flush) that follows a
    /// publication; call it yourself only after publishing some other state
    /// (a stop flag, say) with an AcqRel read-modify-write that the
    /// consumer's re-check reads with one too, which is what makes the
    /// wake-up impossible to lose (see the module docs).
    ///
    /// ```
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use rs_ring::Parker;
    ///
    /// let parker = Parker::new();
    /// let stop = AtomicBool::new(false);
    /// // Another thread: publish, then wake.
    /// stop.swap(true, Ordering::AcqRel);
    /// parker.waker().wake();
    /// // The consumer's re-check uses a read-modify-write as well.
    /// parker.park(None, || stop.fetch_or(false, Ordering::AcqRel));
    /// ```
    pub fn wake(&self) {
        self.0.wake();
    }
}

impl fmt::Debug for Waker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Waker")
            .field("sleeping", &self.0.is_sleeping())
            .finish()
    }
}

/// Why [`Parker::park`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wakeup {
    /// The re-check after the announcement found work: it did not sleep.
    Work,
    /// A producer woke it.
    Woken,
    /// The timeout passed.
    TimedOut,
}

/// Puts a consumer thread to sleep on a futex until a producer wakes it, for
/// threads that have nothing else to wait on (RingSocket's app threads).
///
/// ```
/// use rs_ring::{ring, Parker, RingConfig, Wakeup};
/// use std::time::Duration;
///
/// let parker = Parker::new();
/// let (mut producer, mut consumer) = ring(RingConfig::new(1024), Some(parker.waker()));
/// let thread = std::thread::spawn(move || {
///     producer.push(b"wake up").unwrap();
///     producer.flush(); // publishes, then wakes the parked consumer
/// });
/// loop {
///     if let Some(message) = consumer.peek() {
///         assert_eq!(message, b"wake up");
///         break;
///     }
///     parker.park(Some(Duration::from_secs(5)), || !consumer.is_empty());
/// }
/// thread.join().unwrap();
/// ```
pub struct Parker(Arc<WakeTarget>);

impl Parker {
    /// A parker with nobody asleep.
    pub fn new() -> Self {
        Self(WakeTarget::new(Signal::Futex))
    }

    /// A waker for the producers that feed this consumer.
    pub fn waker(&self) -> Waker {
        Waker(self.0.clone())
    }

    /// Announces sleep, re-checks `has_work`, and sleeps until woken or
    /// `timeout` passes. `has_work` must call
    /// [`Consumer::is_empty`](crate::Consumer::is_empty) on every ring this
    /// thread consumes: that call is the protocol's re-check.
    pub fn park(&self, timeout: Option<Duration>, has_work: impl FnOnce() -> bool) -> Wakeup {
        self.0.announce();
        if has_work() {
            self.0.withdraw();
            return Wakeup::Work;
        }
        // A timeout beyond what the clock can represent (`Duration::MAX` for
        // "forever") is no deadline at all.
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        loop {
            let remaining = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            let in_time =
                remaining != Some(Duration::ZERO) && self.0.futex.wait(SLEEPING, remaining);
            if !self.0.is_sleeping() {
                return Wakeup::Woken;
            }
            if !in_time {
                // A producer may claim the wake-up right now: then it is ours.
                return if self.0.withdraw() {
                    Wakeup::TimedOut
                } else {
                    Wakeup::Woken
                };
            }
        }
    }
}

impl Default for Parker {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Parker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Parker")
            .field("sleeping", &self.0.is_sleeping())
            .finish()
    }
}

#[cfg(not(loom))]
pub use notifier::Notifier;

#[cfg(not(loom))]
mod notifier {
    use std::io;
    use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

    use super::{Signal, WakeTarget, Waker, eventfd_read};
    use crate::sync::Arc;

    /// Wakes a consumer that sleeps in `epoll_wait` (RingSocket's worker
    /// threads) through an eventfd: register [`Notifier::as_raw_fd`] for
    /// readability in the poll, edge-triggered (as mio does, with
    /// `SourceFd`; level-triggered, the poll would report it until
    /// [`Notifier::drain`]ed), and bracket each wait:
    ///
    /// ```
    /// use rs_ring::{ring, Notifier, RingConfig};
    ///
    /// let notifier = Notifier::new().unwrap();
    /// let (mut producer, mut consumer) = ring(RingConfig::new(1024), Some(notifier.waker()));
    /// // The event loop, before it blocks:
    /// if notifier.prepare_sleep(|| !consumer.is_empty()) {
    ///     // ... epoll_wait(...) — a producer's flush makes the eventfd readable.
    /// }
    /// notifier.awake(); // after the wait returns, whatever woke it
    /// // ... and if the wait reported the eventfd readable:
    /// notifier.drain();
    /// # producer.push(b"x").unwrap();
    /// ```
    pub struct Notifier(Arc<WakeTarget>);

    impl Notifier {
        /// Creates the eventfd (non-blocking, close-on-exec).
        pub fn new() -> io::Result<Self> {
            // SAFETY: eventfd takes no pointers; the result is checked below.
            let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: `fd` is a fresh descriptor that nothing else owns.
            let fd = unsafe { OwnedFd::from_raw_fd(fd) };
            Ok(Self(WakeTarget::new(Signal::EventFd(fd))))
        }

        /// A waker for the producers that feed this consumer.
        pub fn waker(&self) -> Waker {
            Waker(self.0.clone())
        }

        /// Announces sleep and re-checks `has_work`, which must call
        /// [`Consumer::is_empty`](crate::Consumer::is_empty) on every ring this
        /// thread consumes. `true`: block in the poll now, a
        /// producer that publishes from here on will signal the eventfd.
        /// `false`: there is work; do not block (poll with a zero timeout).
        pub fn prepare_sleep(&self, has_work: impl FnOnce() -> bool) -> bool {
            self.0.announce();
            if has_work() {
                self.0.withdraw();
                return false;
            }
            true
        }

        /// Marks the consumer awake after the poll returned, whatever woke
        /// it; producers stop signalling.
        pub fn awake(&self) {
            self.0.withdraw();
        }

        /// Resets the eventfd, when the poll reported it readable. Only
        /// then: a wait that something else ended costs no system call. (An
        /// edge-triggered registration, mio's, reports every later signal
        /// whether or not the counter was reset; resetting it keeps it from
        /// growing.)
        pub fn drain(&self) {
            if let Signal::EventFd(fd) = &self.0.signal {
                eventfd_read(fd);
            }
        }
    }

    impl AsFd for Notifier {
        fn as_fd(&self) -> BorrowedFd<'_> {
            match &self.0.signal {
                Signal::EventFd(fd) => fd.as_fd(),
                Signal::Futex => unreachable!("a Notifier is always built on an eventfd"),
            }
        }
    }

    impl AsRawFd for Notifier {
        fn as_raw_fd(&self) -> RawFd {
            self.as_fd().as_raw_fd()
        }
    }

    impl std::fmt::Debug for Notifier {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Notifier")
                .field("fd", &self.as_raw_fd())
                .field("sleeping", &self.0.is_sleeping())
                .finish()
        }
    }
}

/// Adds one to the eventfd counter. EAGAIN (the counter is near its maximum)
/// means the fd is readable already, which is all a wake-up needs.
#[cfg(not(loom))]
fn eventfd_write(fd: &std::os::fd::OwnedFd) {
    use std::os::fd::AsRawFd;
    let one = 1u64.to_ne_bytes();
    // SAFETY: writes 8 bytes from a live local buffer to a descriptor we own.
    unsafe { libc::write(fd.as_raw_fd(), one.as_ptr().cast(), one.len()) };
}

/// Resets the eventfd counter to zero. EAGAIN (already zero) is fine.
#[cfg(not(loom))]
fn eventfd_read(fd: &std::os::fd::OwnedFd) {
    use std::os::fd::AsRawFd;
    let mut counter = [0u8; 8];
    // SAFETY: reads at most 8 bytes into a live local buffer from a
    // descriptor we own.
    unsafe { libc::read(fd.as_raw_fd(), counter.as_mut_ptr().cast(), counter.len()) };
}
