//! A 32-bit word threads can sleep on until it changes: Linux futexes, or a
//! mutex and condition variable under loom (which cannot model syscalls).

use std::time::Duration;

use crate::sync::AtomicU32;

#[derive(Debug)]
pub(crate) struct Futex {
    pub(crate) word: AtomicU32,
    #[cfg(loom)]
    lock: loom::sync::Mutex<()>,
    #[cfg(loom)]
    changed: loom::sync::Condvar,
}

impl Futex {
    pub(crate) fn new(value: u32) -> Self {
        Self {
            word: AtomicU32::new(value),
            #[cfg(loom)]
            lock: loom::sync::Mutex::new(()),
            #[cfg(loom)]
            changed: loom::sync::Condvar::new(),
        }
    }

    /// Sleeps while the word equals `expected`, for at most `timeout`.
    /// Returns `false` if the timeout expired. May return early (signals,
    /// spurious wake-ups): callers re-check the word.
    #[cfg(not(loom))]
    pub(crate) fn wait(&self, expected: u32, timeout: Option<Duration>) -> bool {
        let timespec = timeout.map(|t| libc::timespec {
            tv_sec: t.as_secs().try_into().unwrap_or(libc::time_t::MAX),
            tv_nsec: t.subsec_nanos().into(),
        });
        let timespec_ptr = timespec
            .as_ref()
            .map_or(std::ptr::null(), |t| t as *const libc::timespec);
        // SAFETY: the word is a live, aligned u32 for the whole call (it is
        // borrowed from `self`); FUTEX_WAIT only reads it, and the timespec
        // pointer is null or points at a local that outlives the call.
        let result = unsafe {
            libc::syscall(
                libc::SYS_futex,
                self.word.as_ptr(),
                libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
                expected,
                timespec_ptr,
            )
        };
        !(result == -1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ETIMEDOUT))
    }

    /// Wakes one thread sleeping on the word.
    #[cfg(not(loom))]
    pub(crate) fn wake_one(&self) {
        // SAFETY: the word is a live, aligned u32; FUTEX_WAKE does not access
        // memory, it only wakes waiters queued on this address.
        unsafe {
            libc::syscall(
                libc::SYS_futex,
                self.word.as_ptr(),
                libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
                1,
            );
        }
    }

    /// Loom: checks the word under the lock that `wake_one` takes, so a
    /// change followed by a wake cannot slip between the check and the wait.
    /// A timed wait times out at once (loom has no clock).
    #[cfg(loom)]
    pub(crate) fn wait(&self, expected: u32, timeout: Option<Duration>) -> bool {
        let guard = self.lock.lock().unwrap();
        if self.word.load(crate::sync::Ordering::SeqCst) != expected {
            return true;
        }
        if timeout.is_some() {
            return false;
        }
        drop(self.changed.wait(guard).unwrap());
        true
    }

    #[cfg(loom)]
    pub(crate) fn wake_one(&self) {
        let _guard = self.lock.lock().unwrap();
        self.changed.notify_one();
    }
}
