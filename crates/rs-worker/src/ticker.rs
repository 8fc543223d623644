//! A periodic timer that the event loop polls like a socket (Linux's
//! `timerfd`). Checks that run every few seconds over all connections cost
//! nothing in between, where asking the clock on every pass of the loop
//! would cost a clock read per pass.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// A descriptor that becomes readable every `period` (non-blocking,
/// close-on-exec).
#[derive(Debug)]
pub(crate) struct Ticker {
    fd: OwnedFd,
}

impl Ticker {
    /// A ticker whose first tick comes one `period` from now. `period`
    /// must not be zero (a zero timer is a stopped one).
    pub(crate) fn new(period: Duration) -> io::Result<Self> {
        debug_assert!(!period.is_zero(), "a zero period never ticks");
        // SAFETY: timerfd_create takes no pointers; the result is checked.
        let raw = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a descriptor just made for us, owned by nothing
        // else.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let every = libc::timespec {
            tv_sec: period.as_secs().try_into().unwrap_or(libc::time_t::MAX),
            tv_nsec: period.subsec_nanos().into(),
        };
        let spec = libc::itimerspec {
            it_interval: every,
            it_value: every,
        };
        // SAFETY: `spec` is a valid itimerspec for the call; the old value
        // is not asked for (null).
        if unsafe { libc::timerfd_settime(fd.as_raw_fd(), 0, &spec, std::ptr::null_mut()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Self { fd })
    }

    /// Takes the ticks that came, so that the next one is announced again
    /// (edge-triggered polling); how many there were (0 if none).
    pub(crate) fn take(&self) -> u64 {
        let mut ticks = [0u8; 8];
        // SAFETY: read writes at most 8 bytes into `ticks`, valid and
        // exclusively borrowed for the call.
        let n = unsafe { libc::read(self.fd.as_raw_fd(), ticks.as_mut_ptr().cast(), 8) };
        if n == 8 { u64::from_ne_bytes(ticks) } else { 0 }
    }
}

impl AsRawFd for Ticker {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn it_ticks_every_period_and_take_counts_the_ticks_since_the_last() {
        let start = Instant::now();
        let ticker = Ticker::new(Duration::from_millis(20)).unwrap();
        std::thread::sleep(Duration::from_millis(70));
        let first = ticker.take();
        std::thread::sleep(Duration::from_millis(50));
        let second = ticker.take();
        let elapsed = start.elapsed().as_millis() as u64;
        // However late this thread ran: at least the ticks its sleeps
        // cover, at most those of the whole time.
        assert!(first >= 3 && second >= 1, "{first} then {second} ticks");
        assert!(
            first + second <= elapsed / 20,
            "{first} + {second} ticks in {elapsed} ms"
        );
    }
}
