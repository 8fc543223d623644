//! Exit statuses, in one place so scripts and tests can rely on them.

use std::process::ExitCode;

/// The command line or the configuration is invalid (the usual status for
/// usage errors).
pub(crate) const INVALID: u8 = 2;
/// The configuration is valid but the server could not run.
pub(crate) const FAILURE: u8 = 1;

pub(crate) fn invalid() -> ExitCode {
    ExitCode::from(INVALID)
}

pub(crate) fn failure() -> ExitCode {
    ExitCode::from(FAILURE)
}
