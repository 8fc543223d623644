//! The byte stream under a case: plain TCP for `ws://`, or a rustls client
//! over TCP for `wss://`. Timeouts are set on the TCP socket, so a case's
//! deadline bounds TLS reads and writes as it bounds plain ones.
//!
//! The TLS side mirrors what a plain socket does for the session: a read
//! returns the bytes the server sent before it closed (even if a write of
//! ours has already failed), 0 once it closed with `close_notify`, and
//! `UnexpectedEof` when TCP ended without one; a write returns only once
//! its records reached the socket, with the socket's own errors (a timeout
//! stays `WouldBlock`/`TimedOut`). A TLS protocol error is `InvalidData`.

use std::fmt;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use rustls::ClientConnection;

use crate::target::Target;
use crate::tls::TlsClient;

/// A connection to the server, plain or TLS.
pub enum Stream {
    /// `ws://`.
    Plain(TcpStream),
    /// `wss://`.
    Tls(Box<TlsStream>),
}

/// A rustls client session over its TCP socket.
pub struct TlsStream {
    conn: ClientConnection,
    tcp: TcpStream,
}

/// Why a connection could not be opened.
#[derive(Debug)]
pub enum ConnectError {
    /// The TCP connection failed.
    Tcp(SocketAddr, io::Error),
    /// The TLS handshake failed (a rustls error, a timeout or the server
    /// closing the connection).
    Tls(String, io::Error),
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tcp(addr, e) => write!(f, "cannot connect to {addr}: {e}"),
            Self::Tls(name, e) => write!(f, "TLS handshake with {name:?}: {e}"),
        }
    }
}

impl std::error::Error for ConnectError {}

impl Stream {
    /// Connects to `target` and, for `wss://`, completes the TLS handshake:
    /// each step within `timeout`. TCP_NODELAY is on.
    pub fn connect(target: &Target, timeout: Duration) -> Result<Self, ConnectError> {
        let tcp = TcpStream::connect_timeout(&target.addr, timeout)
            .map_err(|e| ConnectError::Tcp(target.addr, e))?;
        let _ = tcp.set_nodelay(true);
        let _ = tcp.set_read_timeout(Some(timeout));
        let _ = tcp.set_write_timeout(Some(timeout));
        match &target.tls {
            None => Ok(Self::Plain(tcp)),
            Some(client) => TlsStream::handshake(client, tcp).map(|s| Self::Tls(Box::new(s))),
        }
    }

    /// The TCP socket underneath.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Self::Plain(tcp) => tcp,
            Self::Tls(tls) => &tls.tcp,
        }
    }

    /// Whether this is a TLS connection.
    pub fn is_tls(&self) -> bool {
        matches!(self, Self::Tls(_))
    }

    /// Bounds each blocking read of the socket.
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.tcp().set_read_timeout(timeout)
    }

    /// Bounds each blocking write to the socket.
    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.tcp().set_write_timeout(timeout)
    }
}

impl TlsStream {
    fn handshake(client: &TlsClient, mut tcp: TcpStream) -> Result<Self, ConnectError> {
        let name = client.server_name_text();
        let failed = |e| ConnectError::Tls(name.clone(), e);
        let mut conn = ClientConnection::new(client.config().clone(), client.server_name().clone())
            .map_err(|e| failed(io::Error::new(ErrorKind::InvalidData, e)))?;
        while conn.is_handshaking() {
            conn.complete_io(&mut tcp).map_err(failed)?;
        }
        let mut stream = Self { conn, tcp };
        stream.flush_tls().map_err(failed)?;
        Ok(stream)
    }

    /// Writes every pending TLS record to the socket.
    fn flush_tls(&mut self) -> io::Result<()> {
        while self.conn.wants_write() {
            if self.conn.write_tls(&mut self.tcp)? == 0 {
                return Err(ErrorKind::WriteZero.into());
            }
        }
        Ok(())
    }
}

impl Read for TlsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            // Plaintext already decrypted comes first, as a socket's receive
            // buffer does; then 0 after close_notify, or UnexpectedEof.
            match self.conn.reader().read(buf) {
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                done => return done,
            }
            // Socket errors (timeouts included) pass through unchanged.
            self.conn.read_tls(&mut self.tcp)?;
            if let Err(e) = self.conn.process_new_packets() {
                // rustls queued the alert that tells the server why.
                let _ = self.flush_tls();
                return Err(io::Error::new(ErrorKind::InvalidData, e));
            }
        }
    }
}

impl Write for TlsStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.flush_tls()?;
        let taken = self.conn.writer().write(buf)?;
        self.flush_tls()?;
        Ok(taken)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.flush_tls()
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Plain(tcp) => tcp.read(buf),
            Self::Tls(tls) => tls.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Plain(tcp) => tcp.write(buf),
            Self::Tls(tls) => tls.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Plain(tcp) => tcp.flush(),
            Self::Tls(tls) => tls.flush(),
        }
    }
}
