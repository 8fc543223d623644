//! `ringsocket`: the RingSocket WebSocket server daemon.
//!
//! ```text
//! ringsocket [--check] [CONFIG]
//! ringsocket [--daemon] [--pidfile PATH] [CONFIG]
//! ```
//!
//! This binary wires the crates together: it reads the command line,
//! loads the configuration with `rs_conf`, and runs the startup sequence
//! (see `serve`), and it holds what belongs to a daemon alone (detaching
//! and the pidfile, privileges, logging to stderr or syslog). `--check`
//! validates a configuration without starting anything. Exit status: 0 success, 1 the server failed, 2 invalid command
//! line or configuration.

/// `eprintln!` that never panics: a full or closed stderr (`2>/dev/full`, a
/// pipe whose reader is gone) loses the message, but must not turn an exit
/// status of 1 or 2 into a panic's 101.
macro_rules! report {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

mod cli;
mod config;
mod daemon;
mod exit;
mod logging;
mod pidfile;
mod privileges;
mod serve;
mod signals;
mod summary;

use std::process::ExitCode;

use cli::Command;

fn main() -> ExitCode {
    let command = match cli::parse(std::env::args_os().skip(1)) {
        Ok(command) => command,
        Err(error) => {
            report!("ringsocket: {error}\nTry 'ringsocket --help' for more information.");
            return exit::invalid();
        }
    };
    match command {
        Command::Help => print_out(&cli::help()),
        Command::Version => print_out(&format!("ringsocket {}\n", env!("CARGO_PKG_VERSION"))),
        Command::Check(path) => check(&path),
        Command::Serve(options) => {
            let status = serve::run(&options);
            logging::flush(std::time::Duration::from_secs(2));
            status
        }
    }
}

/// `--check`: validate, print the summary, exit 0; or list errors, exit 2.
fn check(path: &std::path::Path) -> ExitCode {
    match config::load_checked(path) {
        Ok(config) => {
            // The "user" is switched to only when started as root: refused
            // then as startup would refuse it, a note otherwise.
            if let Err(message) = privileges::lookup_user(&config.user) {
                if privileges::is_root() {
                    report!("{}: {message}", config.file.display());
                    report!("ringsocket: 1 configuration error");
                    return exit::invalid();
                }
                report!(
                    "ringsocket: note: {message} (this matters only when the server is \
                     started as root)"
                );
            }
            for warning in config.warnings() {
                report!("ringsocket: note: {}: {warning}", config.file.display());
            }
            let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
            print_out(&summary::summary(&config, cpus))
        }
        Err(errors) => {
            config::report(&errors);
            exit::invalid()
        }
    }
}

/// Writes `text` to stdout. A reader that went away (`| grep -q OK`) is
/// not an error: what it wanted is decided (`print!` would panic).
fn print_out(text: &str) -> ExitCode {
    use std::io::Write;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            report!("ringsocket: cannot write to standard output: {e}");
            exit::failure()
        }
        _ => ExitCode::SUCCESS,
    }
}
