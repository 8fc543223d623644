//! Signals: SIGINT, SIGTERM and SIGHUP are blocked in every thread and
//! received by one thread with `sigwait`, which forwards them to the main
//! thread as events.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;

use crate::serve::Event;

/// A signal the server acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Signal {
    /// SIGTERM: shut down.
    Terminate,
    /// SIGINT: shut down.
    Interrupt,
    /// SIGHUP: reload what can be reloaded.
    Reload,
}

impl std::fmt::Display for Signal {
    /// The signal's name, as operators send it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Terminate => "SIGTERM",
            Self::Interrupt => "SIGINT",
            Self::Reload => "SIGHUP",
        })
    }
}

/// Set once shutdown started, or a SIGTERM/SIGINT was taken (the main
/// thread may be busy, in a reload, say): the next one exits at once.
static EXIT_ON_NEXT: AtomicBool = AtomicBool::new(false);

pub(crate) fn exit_on_next_signal() {
    EXIT_ON_NEXT.store(true, Ordering::SeqCst);
}

/// The signals the server acts on.
const SIGNALS: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

fn signal_set(signals: &[libc::c_int]) -> libc::sigset_t {
    // SAFETY: sigemptyset/sigaddset initialise and fill a local set.
    unsafe {
        let mut set = std::mem::zeroed::<libc::sigset_t>();
        libc::sigemptyset(&mut set);
        for &signal in signals {
            libc::sigaddset(&mut set, signal);
        }
        set
    }
}

/// Blocks the signals in this thread (and so in every thread it starts
/// afterwards). Called first thing, so a signal that arrives while the
/// server starts (a SIGHUP from log rotation, say) waits for [`forward`]
/// instead of killing the process with the default action.
pub(crate) fn block() -> std::io::Result<()> {
    set_mask(libc::SIG_BLOCK, &SIGNALS)
}

/// Unblocks SIGINT and SIGTERM: for the starting process of daemon mode,
/// which only waits for the server and should stay interruptible. SIGHUP
/// stays blocked: a terminal that hangs up must not kill it (the server,
/// in its own session, goes on) and make `ringsocket --daemon` look failed.
pub(crate) fn unblock_stops() -> std::io::Result<()> {
    set_mask(libc::SIG_UNBLOCK, &[libc::SIGINT, libc::SIGTERM])
}

/// Whether SIGINT or SIGTERM arrived while blocked and waits. Daemon mode
/// asks before forking: a pending signal stays with the process that got
/// it, and the detached server would never see it.
pub(crate) fn stop_pending() -> bool {
    // SAFETY: sigpending fills a local set; sigismember only reads it.
    unsafe {
        let mut pending = std::mem::zeroed::<libc::sigset_t>();
        libc::sigpending(&mut pending) == 0
            && (libc::sigismember(&pending, libc::SIGINT) == 1
                || libc::sigismember(&pending, libc::SIGTERM) == 1)
    }
}

/// Takes a SIGHUP that arrived while blocked, if one waits. Daemon mode
/// takes it before forking, for the reason [`stop_pending`] gives, and
/// hands it to the detached server with [`resend_reload`].
pub(crate) fn take_pending_reload() -> bool {
    let set = signal_set(&[libc::SIGHUP]);
    let now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid, initialised set; no siginfo wanted; a zero timeout
    // only polls.
    unsafe { libc::sigtimedwait(&set, std::ptr::null_mut(), &now) == libc::SIGHUP }
}

/// Sends this process a SIGHUP, which waits (blocked) for [`forward`].
/// Process-directed, so that the signal thread's `sigwait` takes it.
pub(crate) fn resend_reload() -> std::io::Result<()> {
    // SAFETY: signals this process; SIGHUP is blocked in every thread.
    if unsafe { libc::kill(libc::getpid(), libc::SIGHUP) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

fn set_mask(how: libc::c_int, signals: &[libc::c_int]) -> std::io::Result<()> {
    let set = signal_set(signals);
    // SAFETY: a valid, initialised set; the old mask is not needed.
    let result = unsafe { libc::pthread_sigmask(how, &set, std::ptr::null_mut()) };
    if result != 0 {
        return Err(std::io::Error::from_raw_os_error(result));
    }
    Ok(())
}

/// Starts the thread that receives the signals [`block`] blocked (including
/// any that arrived since) and forwards them as events.
pub(crate) fn forward(events: Sender<Event>) -> std::io::Result<()> {
    let set = signal_set(&SIGNALS);
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            loop {
                let mut signal = 0;
                // SAFETY: waits for one of the blocked signals in `set`.
                if unsafe { libc::sigwait(&set, &mut signal) } != 0 {
                    continue;
                }
                let signal = match signal {
                    libc::SIGHUP => Signal::Reload,
                    libc::SIGINT => Signal::Interrupt,
                    _ => Signal::Terminate,
                };
                if signal == Signal::Reload && EXIT_ON_NEXT.load(Ordering::SeqCst) {
                    // The main thread takes no more events: said here.
                    log::info!("SIGHUP during shutdown: nothing reloaded");
                    continue;
                }
                if signal != Signal::Reload && EXIT_ON_NEXT.swap(true, Ordering::SeqCst) {
                    log::warn!("{signal} during shutdown: exiting now");
                    // At once, as promised: what the log can take now.
                    crate::logging::flush(std::time::Duration::from_millis(100));
                    crate::pidfile::remove_pidfile_now();
                    // _exit, not exit: exit flushes every stdio stream,
                    // an app's too, whose thread may be blocked writing to
                    // it (a full pipe) with the stream locked, and runs the
                    // apps' atexit handlers while their threads still run.
                    // SAFETY: ends the process; nothing is used after it.
                    unsafe { libc::_exit(crate::exit::FAILURE.into()) };
                }
                if events.send(Event::Signal(signal)).is_err() {
                    return;
                }
            }
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blocked_sigterm_is_seen_pending_until_taken() {
        // The mask is per thread: this test thread's only.
        block().unwrap();
        assert!(!stop_pending());
        // SAFETY: signals this very thread, where SIGTERM is blocked, so it
        // only becomes pending.
        unsafe { libc::pthread_kill(libc::pthread_self(), libc::SIGTERM) };
        assert!(stop_pending());
        let set = signal_set(&SIGNALS);
        let mut signal = 0;
        // SAFETY: takes the pending signal of a valid, initialised set.
        assert_eq!(unsafe { libc::sigwait(&set, &mut signal) }, 0);
        assert_eq!(signal, libc::SIGTERM);
        assert!(!stop_pending());
        set_mask(libc::SIG_UNBLOCK, &SIGNALS).unwrap();
    }

    #[test]
    fn a_blocked_sighup_is_taken_once() {
        // The mask is per thread: this test thread's only.
        block().unwrap();
        assert!(!take_pending_reload());
        // SAFETY: signals this very thread, where SIGHUP is blocked, so it
        // only becomes pending.
        unsafe { libc::pthread_kill(libc::pthread_self(), libc::SIGHUP) };
        assert!(!stop_pending());
        assert!(take_pending_reload());
        assert!(!take_pending_reload());
        set_mask(libc::SIG_UNBLOCK, &SIGNALS).unwrap();
    }
}
