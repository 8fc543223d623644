//! What can go wrong: bad options, a target that is not loopback, a CA
//! file that cannot be used, and everything a connection can see from the
//! server under test.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use rs_proto::DataKind;

use crate::frame::FrameError;
use crate::handshake::HandshakeError;

/// Why a run failed.
#[derive(Debug)]
pub enum LoadError {
    /// The command line is wrong; the message says how.
    Usage(String),
    /// The target's host did not resolve.
    Resolve {
        /// The host as given.
        host: String,
        /// The resolver's error.
        source: io::Error,
    },
    /// The target resolved to no loopback address: rs-load only loads
    /// servers on this machine.
    NotLoopback {
        /// The host as given.
        host: String,
        /// What it resolved to.
        addrs: Vec<SocketAddr>,
    },
    /// The `--ca` file cannot be used.
    Ca {
        /// The file.
        path: PathBuf,
        /// Why.
        error: CaError,
    },
    /// rustls refused the client configuration (no protocol version its
    /// provider supports: a bug in rs-load).
    TlsSetup(rustls::Error),
    /// Creating or polling the event queue failed.
    Poll(io::Error),
    /// Reading `/proc/<pid>/stat` or `/proc/<pid>/status` failed.
    Proc {
        /// The file.
        path: String,
        /// Why.
        source: io::Error,
    },
    /// Connection number `conn` failed (numbered from 0 across threads).
    Conn {
        /// The connection.
        conn: usize,
        /// What happened to it.
        error: ConnError,
    },
    /// The idle mode's warm-up connection (opened before the server's
    /// memory is first read) failed.
    WarmUp(ConnError),
    /// A phase did not finish in time.
    Timeout {
        /// What was being waited for.
        what: &'static str,
        /// How long.
        waited: Duration,
    },
    /// A load thread panicked (a bug in rs-load).
    ThreadPanicked,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Usage(message) => write!(f, "{message} (see --help)"),
            Self::Resolve { host, source } => write!(f, "cannot resolve {host:?}: {source}"),
            Self::NotLoopback { host, addrs } => write!(
                f,
                "{host:?} resolves to {addrs:?}, no loopback address: rs-load only targets this machine"
            ),
            Self::Ca { path, error } => write!(f, "--ca {:?}: {error}", path.display().to_string()),
            Self::TlsSetup(e) => write!(f, "TLS client setup: {e}"),
            Self::Poll(source) => write!(f, "event queue: {source}"),
            Self::Proc { path, source } => write!(f, "{path}: {source}"),
            Self::Conn { conn, error } => write!(f, "connection {conn}: {error}"),
            Self::WarmUp(error) => write!(
                f,
                "the warm-up connection (opened before the server's memory is read): {error}"
            ),
            Self::Timeout { what, waited } => {
                write!(
                    f,
                    "{what} did not finish within {:.1} s",
                    waited.as_secs_f64()
                )
            }
            Self::ThreadPanicked => f.write_str("a load thread panicked"),
        }
    }
}

impl std::error::Error for LoadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Resolve { source, .. } | Self::Poll(source) | Self::Proc { source, .. } => {
                Some(source)
            }
            Self::Conn { error, .. } | Self::WarmUp(error) => Some(error),
            Self::Ca { error, .. } => Some(error),
            Self::TlsSetup(error) => Some(error),
            _ => None,
        }
    }
}

/// Why the `--ca` file cannot be used.
#[derive(Debug)]
pub enum CaError {
    /// It cannot be read.
    Read(io::Error),
    /// It is not valid PEM.
    Pem(rustls_pki_types::pem::Error),
    /// It holds no `CERTIFICATE` section.
    NoCertificates,
    /// A certificate in it is not one rustls can trust (not X.509 DER).
    Rejected(rustls::Error),
}

impl fmt::Display for CaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Read(e) => write!(f, "{e}"),
            Self::Pem(e) => write!(f, "not a PEM file: {e}"),
            Self::NoCertificates => f.write_str("no CERTIFICATE in the PEM file"),
            Self::Rejected(e) => write!(f, "a certificate rustls cannot use: {e}"),
        }
    }
}

impl std::error::Error for CaError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Read(e) => Some(e),
            Self::Pem(e) => Some(e),
            Self::NoCertificates => None,
            Self::Rejected(e) => Some(e),
        }
    }
}

/// What went wrong on one connection.
#[derive(Debug)]
pub enum ConnError {
    /// The TCP connection could not be made.
    Connect(io::Error),
    /// Reading or writing failed.
    Io(io::Error),
    /// The server's answer to the upgrade request was not a valid 101.
    Handshake(HandshakeError),
    /// TLS failed: the handshake (an untrusted certificate, an alert from
    /// the server) or a record that does not decrypt.
    Tls(rustls::Error),
    /// The server closed TCP after the closing handshake without ending the
    /// TLS session with close_notify first.
    NoCloseNotify,
    /// The server broke the framing rules.
    Frame(FrameError),
    /// An echoed or broadcast byte differs from the one sent.
    Mismatch {
        /// The message's counter (echo) or round (broadcast).
        message: u32,
        /// The byte's offset in the payload.
        offset: u64,
        /// The byte sent.
        expected: u8,
        /// The byte received.
        got: u8,
    },
    /// A message came back as text instead of binary or the reverse.
    WrongKind {
        /// The kind sent.
        expected: DataKind,
        /// The kind received.
        got: DataKind,
    },
    /// A message came back with a different length (`got` may be a lower
    /// bound when the message was cut short by the check).
    WrongLength {
        /// The length sent.
        expected: u64,
        /// The length received.
        got: u64,
    },
    /// A broadcast message that does not fit the rounds: the reason says why.
    Broadcast(String),
    /// A data message arrived while none was expected (a duplicate echo).
    UnexpectedMessage,
    /// The server sent a close frame (`None`: without a status code).
    ServerClosed(Option<u16>),
    /// The server closed TCP without a close frame.
    Eof,
    /// At the end of a timed run, something had been awaited for more than
    /// half of it: lost by the server, or its connection no longer served.
    Stalled {
        /// What: an echo, a broadcast round, a handshake.
        what: &'static str,
        /// For how long.
        waited: Duration,
    },
    /// After the run, something awaited did not come within the grace
    /// period: an echo sent before the deadline, or the server's close.
    Unanswered {
        /// What was awaited.
        what: &'static str,
        /// For how long.
        waited: Duration,
    },
}

impl fmt::Display for ConnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Connect(e) => write!(f, "connect: {e}"),
            Self::Io(e) => write!(f, "I/O: {e}"),
            Self::Handshake(e) => write!(f, "handshake: {e}"),
            Self::Tls(
                e @ rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
            ) => {
                write!(
                    f,
                    "TLS: {e} (no CA in --ca issued the server's certificate)"
                )
            }
            Self::Tls(e) => write!(f, "TLS: {e}"),
            Self::NoCloseNotify => f.write_str("the server closed TCP without a TLS close_notify"),
            Self::Frame(e) => write!(f, "bad frame: {e}"),
            Self::Mismatch {
                message,
                offset,
                expected,
                got,
            } => write!(
                f,
                "message {message}: byte {offset} is {got:#04x}, sent {expected:#04x}"
            ),
            Self::WrongKind { expected, got } => {
                write!(f, "sent a {expected:?} message, received a {got:?} one")
            }
            Self::WrongLength { expected, got } => {
                write!(f, "sent {expected} payload bytes, received {got}")
            }
            Self::Broadcast(reason) => write!(f, "broadcast: {reason}"),
            Self::UnexpectedMessage => f.write_str("a message arrived while none was expected"),
            Self::ServerClosed(Some(code)) => write!(f, "the server closed with code {code}"),
            Self::ServerClosed(None) => f.write_str("the server closed without a code"),
            Self::Eof => f.write_str("the server closed TCP without a close frame"),
            Self::Stalled { what, waited } => write!(
                f,
                "still waiting for {what} after {:.1} s, more than half the run: the server \
                 lost it or stopped serving this connection",
                waited.as_secs_f64()
            ),
            Self::Unanswered { what, waited } => write!(
                f,
                "{what} did not come within {:.1} s of the run's end",
                waited.as_secs_f64()
            ),
        }
    }
}

impl std::error::Error for ConnError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Connect(e) | Self::Io(e) => Some(e),
            Self::Handshake(e) => Some(e),
            Self::Tls(e) => Some(e),
            Self::Frame(e) => Some(e),
            _ => None,
        }
    }
}

impl From<FrameError> for ConnError {
    fn from(error: FrameError) -> Self {
        Self::Frame(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_connection_and_the_byte() {
        let error = LoadError::Conn {
            conn: 7,
            error: ConnError::Mismatch {
                message: 3,
                offset: 12,
                expected: 0x41,
                got: 0x42,
            },
        };
        assert_eq!(
            error.to_string(),
            "connection 7: message 3: byte 12 is 0x42, sent 0x41"
        );
    }

    #[test]
    fn an_unknown_issuer_points_at_the_ca_file() {
        let error = ConnError::Tls(rustls::Error::InvalidCertificate(
            rustls::CertificateError::UnknownIssuer,
        ));
        assert_eq!(
            error.to_string(),
            "TLS: invalid peer certificate: UnknownIssuer (no CA in --ca issued the server's certificate)"
        );
        let error = ConnError::Tls(rustls::Error::AlertReceived(
            rustls::AlertDescription::AccessDenied,
        ));
        assert_eq!(error.to_string(), "TLS: received fatal alert: AccessDenied");
    }

    #[test]
    fn ca_errors_name_the_file() {
        let error = LoadError::Ca {
            path: "/x/ca.pem".into(),
            error: CaError::NoCertificates,
        };
        assert_eq!(
            error.to_string(),
            "--ca \"/x/ca.pem\": no CERTIFICATE in the PEM file"
        );
    }

    #[test]
    fn not_loopback_lists_the_addresses() {
        let error = LoadError::NotLoopback {
            host: "example.com".into(),
            addrs: vec!["93.184.216.34:80".parse().unwrap()],
        };
        assert_eq!(
            error.to_string(),
            "\"example.com\" resolves to [93.184.216.34:80], no loopback address: rs-load only targets this machine"
        );
    }
}
