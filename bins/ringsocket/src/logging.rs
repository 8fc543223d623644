//! Logging through `log`: to stderr in the foreground, to syslog once the
//! server detached (daemon mode). The configured `log_level` applies unless
//! `RUST_LOG` is set, which then decides (and SIGHUP no longer changes the
//! level).
//!
//! Once the server runs, lines are written by a thread of their own
//! ([`start_writer`]): a log reader that stalls (a pipe nobody empties, a
//! stuck journald) must not stall a worker in the middle of serving its
//! clients. Past [`QUEUE_LINES`] lines waiting, lines are dropped, and how
//! many is logged once the writer catches up.

use std::ffi::CString;
use std::io::{self, Write};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::time::{Duration, Instant};

use log::{Level, LevelFilter, Log, Metadata, Record};
use rs_conf::LogLevel;

/// `log` has no "notice": the configuration's five levels sit on `log`'s
/// five, notice on `Info`, info on `Debug` and debug on `Trace` (as
/// rs-worker and rs-app log them).
fn filter(level: LogLevel) -> LevelFilter {
    match level {
        LogLevel::Error => LevelFilter::Error,
        LogLevel::Warning => LevelFilter::Warn,
        LogLevel::Notice => LevelFilter::Info,
        LogLevel::Info => LevelFilter::Debug,
        LogLevel::Debug => LevelFilter::Trace,
    }
}

/// The modules whose lines `log_level` governs in full.
const OUR_CRATES: [&str; 7] = [
    "ringsocket",
    "rs_app",
    "rs_conf",
    "rs_http",
    "rs_proto",
    "rs_ring",
    "rs_worker",
];

fn rust_log() -> Option<String> {
    std::env::var("RUST_LOG").ok().filter(|s| !s.is_empty())
}

/// The most lines that wait for the writer thread.
const QUEUE_LINES: usize = 4096;

/// The process's logger: env_logger's filtering and format on stderr, or
/// syslog.
struct Logger {
    stderr: OnceLock<env_logger::Logger>,
    syslog: AtomicBool,
    /// To the writer thread, once it runs.
    queue: OnceLock<SyncSender<Entry>>,
    /// Lines dropped since the writer last said so.
    dropped: AtomicU64,
}

static LOGGER: Logger = Logger {
    stderr: OnceLock::new(),
    syslog: AtomicBool::new(false),
    queue: OnceLock::new(),
    dropped: AtomicU64::new(0),
};

/// What the writer thread is given.
enum Entry {
    /// A line formatted for stderr.
    Stderr(Vec<u8>),
    /// A syslog priority and message.
    Syslog(libc::c_int, CString),
    /// Acknowledged once everything queued before it is written.
    Flush(SyncSender<()>),
}

impl Entry {
    fn write(self) {
        match self {
            Entry::Stderr(line) => {
                let _ = io::stderr().write_all(&line);
            }
            // SAFETY: a constant format string with one C string argument.
            Entry::Syslog(priority, message) => unsafe {
                libc::syslog(priority, c"%s".as_ptr(), message.as_ptr());
            },
            Entry::Flush(done) => {
                let _ = done.try_send(());
            }
        }
    }
}

/// Hands `entry` to the writer thread, or writes it here before that
/// thread runs (startup: the main thread alone, and stderr still the
/// operator's terminal). A full queue drops it.
fn emit(entry: Entry) {
    let Some(queue) = LOGGER.queue.get().filter(|_| !ON_WRITER.get()) else {
        entry.write();
        return;
    };
    match queue.try_send(entry) {
        Ok(()) => {}
        Err(TrySendError::Full(_)) => {
            LOGGER.dropped.fetch_add(1, Ordering::Relaxed);
        }
        Err(TrySendError::Disconnected(entry)) => entry.write(),
    }
}

/// Where env_logger writes its formatted lines: one `write` per line.
struct ToWriter;

impl Write for ToWriter {
    fn write(&mut self, line: &[u8]) -> io::Result<usize> {
        emit(Entry::Stderr(line.to_vec()));
        Ok(line.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

thread_local! {
    /// This is the writer thread: what it logs it writes itself.
    static ON_WRITER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// The writer thread's loop: writes what comes, and says how many lines
/// were dropped while it was blocked.
fn write_entries(entries: Receiver<Entry>) {
    ON_WRITER.set(true);
    for entry in entries {
        entry.write();
        let dropped = LOGGER.dropped.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            // Written here and now: queued, it could be dropped too, and
            // its count lost with it.
            log::warn!("{dropped} log lines dropped: the log was not read fast enough");
        }
    }
}

/// From now on, lines are written by a thread of their own. Called once
/// the process will not fork again (after daemon mode detached); if the
/// thread cannot start, lines go on being written where they are logged.
pub(crate) fn start_writer() {
    let (queue, entries) = mpsc::sync_channel(QUEUE_LINES);
    let spawned = std::thread::Builder::new()
        .name("log".into())
        .spawn(move || write_entries(entries));
    if spawned.is_ok() {
        let _ = LOGGER.queue.set(queue);
        // The default hook writes a panic to stderr itself, blocking the
        // panicking thread (a worker, say) while nobody reads it.
        std::panic::set_hook(Box::new(|info| {
            let thread = std::thread::current();
            log::error!("thread '{}' {info}", thread.name().unwrap_or("?"));
        }));
    }
}

/// Waits, at most `wait`, until the lines logged so far are written: before
/// the process exits, or a message goes to stderr directly.
pub(crate) fn flush(wait: Duration) {
    let Some(queue) = LOGGER.queue.get() else {
        return;
    };
    let deadline = Instant::now() + wait;
    let (done, written) = mpsc::sync_channel(1);
    let mut entry = Entry::Flush(done);
    loop {
        match queue.try_send(entry) {
            Ok(()) => break,
            Err(TrySendError::Full(back)) if Instant::now() < deadline => {
                entry = back;
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(_) => return,
        }
    }
    let _ = written.recv_timeout(deadline.saturating_duration_since(Instant::now()));
}

/// Starts logging to stderr at `level` (or as `RUST_LOG` says).
pub(crate) fn init(level: LogLevel) {
    let mut builder = env_logger::Builder::new();
    match rust_log() {
        Some(spec) => {
            builder.parse_filters(&spec);
        }
        // The server's and apps' lines pass env_logger; the global maximum
        // decides, so that SIGHUP can change it. Libraries' (mio, rustls)
        // speak of their own insides below warnings, in levels that do not
        // mean ours: warnings and errors only (rustls: errors).
        None => {
            builder.filter_level(LevelFilter::Warn);
            // rustls warns of what clients send (warning alerts, an IP
            // address as SNI, unexpected messages): per connection, for
            // anyone to fill the log with; our line for the failed
            // handshake (debug) tells of them.
            builder.filter_module("rustls", LevelFilter::Error);
            for ours in OUR_CRATES {
                builder.filter_module(ours, LevelFilter::Trace);
            }
        }
    }
    let logger = builder
        .format_timestamp_millis()
        .target(env_logger::Target::Pipe(Box::new(ToWriter)))
        .build();
    let max = if rust_log().is_some() {
        logger.filter()
    } else {
        filter(level)
    };
    if LOGGER.stderr.set(logger).is_ok() && log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(max);
    }
}

/// Sends everything to syslog from now on (facility daemon, tag `ringsocket`).
pub(crate) fn switch_to_syslog() {
    // SAFETY: the identity is a static string, as openlog requires.
    unsafe {
        libc::openlog(
            c"ringsocket".as_ptr(),
            libc::LOG_PID | libc::LOG_NDELAY,
            libc::LOG_DAEMON,
        )
    };
    LOGGER.syslog.store(true, Ordering::Release);
}

/// Applies a reloaded `log_level`; `false` if `RUST_LOG` governs instead.
pub(crate) fn set_level(level: LogLevel) -> bool {
    if rust_log().is_some() {
        return false;
    }
    log::set_max_level(filter(level));
    true
}

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        self.stderr
            .get()
            .is_some_and(|logger| logger.enabled(metadata))
    }

    fn log(&self, record: &Record<'_>) {
        let Some(stderr) = self.stderr.get() else {
            return;
        };
        if !stderr.matches(record) {
            return;
        }
        if !self.syslog.load(Ordering::Acquire) {
            stderr.log(record);
            return;
        }
        let priority = match record.level() {
            Level::Error => libc::LOG_ERR,
            Level::Warn => libc::LOG_WARNING,
            Level::Info => libc::LOG_NOTICE,
            Level::Debug => libc::LOG_INFO,
            Level::Trace => libc::LOG_DEBUG,
        };
        // The source, as stderr's lines name it (syslog adds the time, the
        // tag and the priority).
        let text = format!("[{}] {}", record.target(), record.args()).replace('\0', "\\0");
        let Ok(message) = CString::new(text) else {
            return;
        };
        emit(Entry::Syslog(priority, message));
    }

    fn flush(&self) {
        if let Some(stderr) = self.stderr.get() {
            stderr.flush();
        }
    }
}
