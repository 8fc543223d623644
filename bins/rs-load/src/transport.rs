//! A connection's byte stream below the WebSocket code: plain TCP, or TLS
//! over TCP. The connection ([`Conn`](crate::conn::Conn)) writes and reads
//! plaintext either way; TLS records, the TLS handshake and close_notify
//! stay in here.
//!
//! TLS is rustls's sans-IO `ClientConnection` driven by the thread's own
//! mio loop: `read_tls` / `process_new_packets` / `reader()` on the way
//! in, `writer()` / `write_tls` on the way out.
//!
//! # Readiness with edge-triggered polling
//!
//! A socket raises an event only when something changes: bytes arrive, or
//! its send buffer gets room after a write would block. So nothing may be
//! left waiting where no event will come back for it:
//!
//! - Reading: every byte read from the socket is fed to rustls in the same
//!   call (`read_tls` takes a few KiB at a time, so in a loop), and after
//!   each `process_new_packets` the plaintext is handed on until rustls
//!   has none left (`fill_buf` says `WouldBlock`). What stays in rustls is
//!   at most a partial record, which only more bytes from the socket can
//!   complete, and those raise an event. The bug this avoids: plaintext
//!   sitting in rustls's `reader()` while the socket is empty, so that no
//!   event ever comes to collect it. The socket itself is read as plain TCP
//!   is: until a read that does not fill the buffer (it emptied the socket)
//!   or, on hangup, until its end.
//! - Records rustls makes while reading (the handshake's Finished with the
//!   upgrade request queued behind it, alerts) are written at once: the
//!   socket may have been writable all along, so no writable event would
//!   come for them.
//! - Writing: plaintext goes into rustls (encrypted at once after the
//!   handshake, buffered during it), and once the connection has handed
//!   over all it has, the records go to the socket until rustls holds none
//!   or the socket would block (one `writev` for everything written
//!   together: a message, or a close frame with close_notify behind it).
//!   Only `WouldBlock` leaves records in rustls, and then a writable event
//!   comes once the socket has room: every flush of the connection first
//!   writes what rustls holds, then more. rustls holds at most 64 KiB of
//!   records (its default limit); when full, `write` says `WouldBlock`
//!   and the connection keeps the rest of its frame for that event.

use std::io::{self, BufRead as _, Read as _, Write};

use mio::net::TcpStream;
use rustls::ClientConnection;

use crate::error::ConnError;

/// Plain TCP or TLS over TCP.
pub(crate) enum Transport {
    /// `ws://`.
    Plain(TcpStream),
    /// `wss://` (boxed: rustls's state is large, a plain connection stays
    /// small).
    Tls(Box<TlsStream>),
}

impl Transport {
    /// The socket.
    pub(crate) fn tcp(&self) -> &TcpStream {
        match self {
            Self::Plain(tcp) => tcp,
            Self::Tls(stream) => &stream.tcp,
        }
    }
}

/// How reading a TLS stream ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReadEnd {
    /// The socket has nothing more for now.
    Drained,
    /// The server closed TCP; `close_notify`: it ended the TLS session
    /// properly first.
    Eof {
        /// close_notify arrived before the end of TCP.
        close_notify: bool,
    },
}

/// A TLS client session over a socket.
pub(crate) struct TlsStream {
    tcp: TcpStream,
    tls: ClientConnection,
    close_notify_sent: bool,
    close_notify_received: bool,
}

impl TlsStream {
    /// `tls` (with its ClientHello queued) over `tcp`.
    pub(crate) fn new(tcp: TcpStream, tls: ClientConnection) -> Self {
        Self {
            tcp,
            tls,
            close_notify_sent: false,
            close_notify_received: false,
        }
    }

    /// Writes the records rustls holds until none are left or the socket
    /// would block (then its writable event calls this again).
    pub(crate) fn send_records(&mut self) -> io::Result<()> {
        while self.tls.wants_write() {
            match self.tls.write_tls(&mut self.tcp) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Ends the TLS session: queues close_notify (once) behind what was
    /// written, for [`TlsStream::send_records`].
    pub(crate) fn queue_close_notify(&mut self) {
        if !self.close_notify_sent {
            self.close_notify_sent = true;
            self.tls.send_close_notify();
        }
    }

    /// Reads what the socket has into `rbuf`, decrypts it, and hands every
    /// piece of plaintext to `deliver` in order, until the socket is
    /// drained (a read shorter than `rbuf`, unless `hangup`: then until its
    /// end) or closed.
    pub(crate) fn read_all<F>(
        &mut self,
        rbuf: &mut [u8],
        hangup: bool,
        mut deliver: F,
    ) -> Result<ReadEnd, ConnError>
    where
        F: FnMut(&[u8]) -> Result<(), ConnError>,
    {
        loop {
            let n = match self.tcp.read(rbuf) {
                Ok(0) => {
                    return Ok(ReadEnd::Eof {
                        close_notify: self.close_notify_received,
                    });
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(ReadEnd::Drained),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(ConnError::Io(e)),
            };
            let decrypted = self.decrypt(&rbuf[..n], &mut deliver);
            // Whatever the records asked for (or the alert saying why not).
            let sent = self.send_records();
            decrypted?;
            sent.map_err(ConnError::Io)?;
            if n < rbuf.len() && !hangup {
                return Ok(ReadEnd::Drained);
            }
        }
    }

    /// Feeds all of `input` to rustls, handing on the plaintext after each
    /// piece.
    fn decrypt<F>(&mut self, mut input: &[u8], deliver: &mut F) -> Result<(), ConnError>
    where
        F: FnMut(&[u8]) -> Result<(), ConnError>,
    {
        while !input.is_empty() {
            // Takes what fits rustls's buffer and advances `input`.
            let taken = self.tls.read_tls(&mut input).map_err(ConnError::Io)?;
            if taken == 0 {
                // After close_notify rustls takes nothing: the rest is
                // ignored, as TLS says.
                return Ok(());
            }
            self.tls.process_new_packets().map_err(ConnError::Tls)?;
            self.deliver_plaintext(deliver)?;
        }
        Ok(())
    }

    /// Hands on every byte of plaintext rustls has, straight from its
    /// buffer.
    fn deliver_plaintext<F>(&mut self, deliver: &mut F) -> Result<(), ConnError>
    where
        F: FnMut(&[u8]) -> Result<(), ConnError>,
    {
        loop {
            let mut reader = self.tls.reader();
            match reader.fill_buf() {
                Ok([]) => {
                    self.close_notify_received = true;
                    return Ok(());
                }
                Ok(chunk) => {
                    let len = chunk.len();
                    deliver(chunk)?;
                    reader.consume(len);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                // Unexpected EOF cannot come: rustls is never shown the end
                // of TCP (it is handled above it).
                Err(e) => return Err(ConnError::Io(e)),
            }
        }
    }
}

/// Plaintext in: handed to rustls, as much as it takes now (first making
/// room by writing the records it holds), encrypted at once after the
/// handshake. The records are left for [`TlsStream::send_records`], so
/// that what is written together goes out in one system call.
impl Write for TlsStream {
    /// `WouldBlock` when rustls takes nothing: its buffer is full because
    /// the socket would block, so a writable event will come.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.send_records()?;
        let n = self.tls.writer().write(buf)?;
        if n == 0 && !buf.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
    }

    /// Writes the records rustls holds, as far as the socket takes them.
    fn flush(&mut self) -> io::Result<()> {
        self.send_records()
    }
}
