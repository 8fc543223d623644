//! Logging through `log`: to stderr in the foreground, to syslog once the
//! server detached (daemon mode). The configured `log_level` applies unless
//! `RUST_LOG` is set, which then decides (and SIGHUP no longer changes the
//! level).

use std::ffi::CString;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

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

/// The process's logger: env_logger's filtering and format on stderr, or
/// syslog.
struct Logger {
    stderr: OnceLock<env_logger::Logger>,
    syslog: AtomicBool,
}

static LOGGER: Logger = Logger {
    stderr: OnceLock::new(),
    syslog: AtomicBool::new(false),
};

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
        // mean ours: warnings and errors only.
        None => {
            builder.filter_level(LevelFilter::Warn);
            for ours in OUR_CRATES {
                builder.filter_module(ours, LevelFilter::Trace);
            }
        }
    }
    let logger = builder.format_timestamp_millis().build();
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
        let text = record.args().to_string().replace('\0', "\\0");
        let Ok(message) = CString::new(text) else {
            return;
        };
        // SAFETY: a constant format string with one C string argument.
        unsafe { libc::syslog(priority, c"%s".as_ptr(), message.as_ptr()) };
    }

    fn flush(&self) {
        if let Some(stderr) = self.stderr.get() {
            stderr.flush();
        }
    }
}
