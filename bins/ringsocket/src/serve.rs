//! Running the server: the startup sequence, one step per function as the
//! later steps arrive (bind ports, load apps, drop privileges, set limits,
//! spawn workers and app threads, wait for signals).

use std::path::Path;
use std::process::ExitCode;

use crate::{config, exit};

/// Starts the server with the configuration at `path`.
pub(crate) fn run(path: &Path) -> ExitCode {
    let _config = match config::load_checked(path) {
        Ok(config) => config,
        Err(errors) => {
            config::report(&errors);
            return exit::invalid();
        }
    };
    // Next steps (later issues): bind the ports, load the apps, drop to
    // `config.user`, set RLIMIT_NOFILE from `fd_alloc_c`, spawn workers and
    // app threads, handle SIGTERM/SIGINT.
    eprintln!(
        "ringsocket: {}: configuration OK, but the server is not implemented yet (use --check to validate only)",
        path.display()
    );
    exit::failure()
}
