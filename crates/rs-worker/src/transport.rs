//! A connection's byte stream: plain TCP, or TLS over TCP. The connection
//! state machine reads and writes plaintext through it either way; TLS
//! records, the TLS handshake and close_notify stay in here.

use std::io::{self, IoSlice, Read, Write};
use std::net::Shutdown;
use std::os::fd::AsFd;
use std::sync::Arc;

use mio::net::TcpStream;
use rs_http::Scheme;
use rustls::{ServerConfig, ServerConnection};

use crate::sys;

/// Plaintext rustls takes before the socket has sent the previous records:
/// a small, fixed amount, so that unsent output waits in the connection's
/// `Output` queue (shared between recipients, and counted against
/// `max_pending_output`) rather than encrypted in per-connection buffers.
const TLS_BUFFER_LIMIT: usize = 64 * 1024;

pub(crate) enum Transport {
    Plain(TcpStream),
    Tls(Box<TlsStream>),
}

impl Transport {
    /// A TLS server connection over `tcp`, with the certificates of `config`.
    pub(crate) fn tls(tcp: TcpStream, config: Arc<ServerConfig>) -> io::Result<Self> {
        let mut tls = ServerConnection::new(config).map_err(io::Error::other)?;
        tls.set_buffer_limit(Some(TLS_BUFFER_LIMIT));
        Ok(Self::Tls(Box::new(TlsStream {
            tcp,
            tls,
            took_input: false,
            unsent: 0,
        })))
    }

    /// The socket, to register with the poll.
    pub(crate) fn tcp_mut(&mut self) -> &mut TcpStream {
        match self {
            Self::Plain(tcp) => tcp,
            Self::Tls(stream) => &mut stream.tcp,
        }
    }

    pub(crate) fn scheme(&self) -> Scheme {
        match self {
            Self::Plain(_) => Scheme::Ws,
            Self::Tls(_) => Scheme::Wss,
        }
    }

    /// Output written to this stream but not yet to the socket (encrypted
    /// records rustls holds); at most about [`TLS_BUFFER_LIMIT`].
    pub(crate) fn buffered(&self) -> usize {
        match self {
            Self::Plain(_) => 0,
            Self::Tls(stream) if stream.tls.wants_write() => stream.unsent,
            Self::Tls(_) => 0,
        }
    }

    /// Whether a read took bytes from the socket since this was last
    /// asked, that made no plaintext yet (part of a TLS record): the client
    /// is sending, if slowly. Never for plain TCP, whose bytes are read
    /// as they come.
    pub(crate) fn took_partial_input(&mut self) -> bool {
        match self {
            Self::Plain(_) => false,
            Self::Tls(stream) => std::mem::take(&mut stream.took_input),
        }
    }

    /// Whether bytes wait inside this stream for the socket (then a
    /// writable event will come to [`send_buffered`](Self::send_buffered)
    /// them).
    pub(crate) fn has_buffered(&self) -> bool {
        match self {
            Self::Plain(_) => false,
            Self::Tls(stream) => stream.tls.wants_write(),
        }
    }

    /// Writes the TLS records waiting for the socket, as far as it takes
    /// them now (a full socket is not an error).
    pub(crate) fn send_buffered(&mut self) -> io::Result<()> {
        match self {
            Self::Plain(_) => Ok(()),
            Self::Tls(stream) => stream.send_records(),
        }
    }

    /// Ends the TLS session: queues close_notify (once) and writes what the
    /// socket takes now. Nothing to do for plain TCP, nor before the TLS
    /// handshake is done (a failed one has sent its alert already).
    pub(crate) fn close_notify(&mut self) -> io::Result<()> {
        match self {
            Self::Tls(stream) if !stream.tls.is_handshaking() => {
                stream.tls.send_close_notify();
                stream.send_records()
            }
            _ => Ok(()),
        }
    }

    /// Whether the client sent bytes the socket holds unread: closing over
    /// them resets the connection (RST), which may throw away what the
    /// client has not read of ours yet.
    pub(crate) fn has_unread_input(&mut self) -> bool {
        sys::unread_len(self.tcp_mut().as_fd()).is_ok_and(|n| n > 0)
    }

    /// Shuts down the sending side of the socket (after
    /// [`close_notify`](Self::close_notify) for TLS).
    pub(crate) fn shutdown_write(&mut self) -> io::Result<()> {
        self.tcp_mut().shutdown(Shutdown::Write)
    }
}

impl Read for Transport {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Plain(tcp) => sys::recv(tcp.as_fd(), buf),
            Self::Tls(stream) => stream.read(buf),
        }
    }
}

impl Write for Transport {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Plain(tcp) => sys::send(tcp.as_fd(), buf),
            Self::Tls(stream) => stream.write(buf),
        }
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Self::Plain(tcp) => sys::send_vectored(tcp.as_fd(), bufs),
            Self::Tls(stream) => stream.write_vectored(bufs),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send_buffered()
    }
}

pub(crate) struct TlsStream {
    tcp: TcpStream,
    tls: ServerConnection,
    /// Plaintext bytes handed to rustls whose records have not all gone to
    /// the socket yet (an estimate of what it buffers: records add a few
    /// bytes each).
    unsent: usize,
    /// See [`Transport::took_partial_input`].
    took_input: bool,
}

impl TlsStream {
    /// Writes buffered records until the socket would block or all are out.
    fn send_records(&mut self) -> io::Result<()> {
        while self.tls.wants_write() {
            match self.tls.write_tls(&mut self.tcp) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.unsent = self.unsent.saturating_sub(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.unsent = 0;
        Ok(())
    }

    /// Plaintext from the client: what rustls has decrypted, else what the
    /// socket has (handshake records are answered on the way). `Ok(0)` at
    /// the end of the stream: close_notify, or TCP closed.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.tls.reader().read(buf) {
                Ok(n) => return Ok(n),
                // Nothing decrypted yet: read more records below.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // TCP closed without close_notify (rustls says so from the
                // second read on): the end of the stream as over plain TCP.
                // Nothing can be truncated unnoticed: frames carry their
                // lengths, and a cut message never reaches an app.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(e),
            }
            match self.tls.read_tls(&mut self.tcp) {
                Ok(0) => return Ok(0),
                Ok(_) => self.took_input = true,
                Err(e) => return Err(e),
            }
            let processed = self.tls.process_new_packets();
            // Handshake messages, or the alert telling the client why not.
            let sent = self.send_records();
            if let Err(error) = processed {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("TLS: {error}"),
                ));
            }
            sent?;
        }
    }

    /// [`write`](Self::write) for several buffers: rustls takes what fits,
    /// and the records go to the socket together.
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.send_records()?;
        let n = self.tls.writer().write_vectored(bufs)?;
        self.unsent += n;
        self.send_records()?;
        if n == 0 && bufs.iter().any(|b| !b.is_empty()) {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
    }

    /// Encrypts as much of `buf` as rustls takes (bounded by
    /// [`TLS_BUFFER_LIMIT`]) and sends what the socket takes. `WouldBlock`
    /// when rustls takes nothing: its records wait for a full socket.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.send_records()?;
        let n = self.tls.writer().write(buf)?;
        self.unsent += n;
        self.send_records()?;
        if n == 0 && !buf.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
    }
}
