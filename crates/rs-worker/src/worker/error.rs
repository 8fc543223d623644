//! Why a worker could not be made.

use std::{fmt, io};

use crate::listen::BindError;

/// Why [`Worker::new`](super::Worker::new) failed: a setup the worker
/// cannot run with, a port that cannot listen, or the system refusing a
/// poll, a timer or a registration.
///
/// ```
/// use rs_worker::WorkerError;
/// let error = WorkerError::NoCertificates { port: 443 };
/// assert_eq!(error.to_string(), "port 443 serves wss:// but no TLS certificates were given");
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum WorkerError {
    /// The worker's index is beyond what its clients' ids can hold.
    IndexTooLarge {
        /// The index given.
        index: u16,
        /// The largest index an id holds.
        max: u16,
    },
    /// A listener serves `wss://`, and the setup has no certificates.
    NoCertificates {
        /// The listener's port.
        port: u16,
    },
    /// A listening socket could not listen.
    Listen(BindError),
    /// The system refused the poll, a timer or a registration with the poll.
    Io(io::Error),
}

impl fmt::Display for WorkerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::IndexTooLarge { index, max } => write!(
                f,
                "worker index {index} is beyond what a client id can hold (at most {max})"
            ),
            Self::NoCertificates { port } => {
                write!(
                    f,
                    "port {port} serves wss:// but no TLS certificates were given"
                )
            }
            Self::Listen(error) => error.fmt(f),
            Self::Io(error) => error.fmt(f),
        }
    }
}

impl std::error::Error for WorkerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        // Listen and Io display their error as theirs: what it came from
        // is its source.
        match self {
            Self::Listen(error) => error.source(),
            Self::Io(error) => error.source(),
            Self::IndexTooLarge { .. } | Self::NoCertificates { .. } => None,
        }
    }
}

impl From<io::Error> for WorkerError {
    fn from(error: io::Error) -> Self {
        Self::Io(error)
    }
}
