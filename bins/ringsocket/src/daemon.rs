//! Daemon mode: double fork, a new session, standard streams on /dev/null,
//! and a pipe through which the detached server tells the process the
//! operator started whether it came up, so that `ringsocket --daemon` only
//! exits 0 once the server runs, and prints the reason if it did not.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// The detached server's end of the pipe to the starting process.
pub(crate) struct Detached {
    report: File,
}

impl Detached {
    /// Tells the starting process that the server runs; it exits 0.
    pub(crate) fn started(mut self) {
        let _ = self.report.write_all(b"\0");
    }

    /// Tells the starting process why the server did not start; it prints
    /// the message and exits 1.
    pub(crate) fn failed(mut self, message: &str) {
        let _ = self.report.write_all(message.as_bytes());
    }
}

/// Closes every descriptor above the standard streams that the process
/// was started with: a daemon must not keep its starter's files, pipes or
/// sockets open (a pipe a script waits on would never see its end). Call
/// first, before the process opens anything of its own. Without `/proc`,
/// nothing is closed.
pub(crate) fn close_inherited_descriptors() {
    let Ok(entries) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    let inherited: Vec<libc::c_int> = entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .filter(|&fd| fd > 2)
        .collect();
    // The listing's own descriptor is among them, closed by now (EBADF).
    for fd in inherited {
        // SAFETY: closes a descriptor nothing in this process uses yet:
        // nothing was opened before this call but the listing, closed
        // already, and no other thread exists.
        unsafe { libc::close(fd) };
    }
}

/// Detaches. Returns in the detached server only; the starting process
/// waits for its report and exits. Call before any thread is started: a
/// process with other threads is refused (an app's library, or one
/// preloaded, may start one when it is loaded, before this). Without
/// `/proc` to count them by, that cannot be checked, and is not.
pub(crate) fn detach() -> io::Result<Detached> {
    let threads = std::fs::read_dir("/proc/self/task").map_or(1, Iterator::count);
    if threads > 1 {
        return Err(io::Error::other(format!(
            "{threads} threads run already (started by an app's shared object, or a \
             preloaded library, when it was loaded): a process with threads cannot fork \
             safely; run the server in the foreground (under systemd, say) instead of with \
             --daemon"
        )));
    }
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two descriptors.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fresh descriptors nothing else owns.
    let (read_end, write_end) =
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    match fork()? {
        Some(_) => {
            drop(write_end);
            // Only waits: Ctrl-C should stop the wait (the server goes on).
            let _ = crate::signals::unblock_stops();
            std::process::exit(wait_for_report(File::from(read_end)))
        }
        None => {
            drop(read_end);
            // SAFETY: no preconditions; makes this process a session leader
            // without a controlling terminal.
            if unsafe { libc::setsid() } < 0 {
                return Err(io::Error::last_os_error());
            }
            // The second fork: the server is not a session leader, so it can
            // never acquire a terminal again.
            if fork()?.is_some() {
                // SAFETY: leaving the intermediate process without running
                // destructors or atexit handlers that belong to the server.
                unsafe { libc::_exit(0) };
            }
            std::env::set_current_dir("/")?;
            // SAFETY: umask cannot fail.
            unsafe { libc::umask(0o027) };
            redirect_standard_streams()?;
            Ok(Detached {
                report: File::from(write_end),
            })
        }
    }
}

/// `Some(child pid)` in the parent, `None` in the child.
fn fork() -> io::Result<Option<libc::pid_t>> {
    // SAFETY: called while the process has a single thread (`detach` checks
    // it; the first fork's child has one thread too), so no lock another
    // thread holds is copied held into the child.
    match unsafe { libc::fork() } {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(None),
        pid => Ok(Some(pid)),
    }
}

fn wait_for_report(mut report: File) -> i32 {
    let mut message = Vec::new();
    let _ = report.read_to_end(&mut message);
    match message.as_slice() {
        b"\0" => 0,
        [] => {
            report!("ringsocket: the server exited while starting (see the system log)");
            1
        }
        text => {
            report!("ringsocket: {}", String::from_utf8_lossy(text));
            1
        }
    }
}

fn redirect_standard_streams() -> io::Result<()> {
    let null = File::options().read(true).write(true).open("/dev/null")?;
    for fd in 0..=2 {
        // SAFETY: dup2 onto the standard descriptors, which this process owns.
        if unsafe { libc::dup2(null.as_raw_fd(), fd) } < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}
