//! One client connection: non-blocking connect, the upgrade, frames in and
//! out, pongs, and the closing handshake. What the messages mean is left to
//! a [`Session`] (echo, broadcast, …). The bytes go through a
//! [`Transport`]: plain TCP, or TLS (whose handshake happens inside it,
//! while the connection waits for the 101).
//!
//! Every buffer is sized when the connection is created and reused, so
//! sending and receiving messages never allocates (over TLS, rustls
//! allocates per record inside it). Sockets are registered once,
//! edge-triggered for both directions, so the hot path makes no
//! `epoll_ctl` calls: a message costs one `write` and one `read`.

use std::io::{self, Read, Write};
use std::time::Instant;

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use rs_proto::{
    CloseCode, DataKind, FrameHeader, MAX_CONTROL_PAYLOAD, MAX_MASKED_HEADER_LEN, Opcode,
    apply_mask,
};

use crate::error::{ConnError, LoadError};
use crate::frame::{Control, FrameReader, FrameSink};
use crate::handshake::{self, Accept, HandshakeError, MAX_RESPONSE_HEAD};
use crate::rng::Rng;
use crate::target::Target;
use crate::transport::{ReadEnd, TlsStream, Transport};

/// What a mode does with the data messages a connection receives.
pub(crate) trait Session {
    /// Payload bytes of a message, `offset` bytes into it.
    fn data(&mut self, kind: DataKind, offset: u64, chunk: &[u8]) -> Result<(), ConnError>;
    /// The message ended after `len` bytes.
    fn message_end(&mut self, kind: DataKind, len: u64) -> Result<(), ConnError>;
}

/// A session that accepts and ignores every message (connect, idle).
#[derive(Debug, Default)]
pub(crate) struct Ignore;

impl Session for Ignore {
    fn data(&mut self, _: DataKind, _: u64, _: &[u8]) -> Result<(), ConnError> {
        Ok(())
    }
    fn message_end(&mut self, _: DataKind, _: u64) -> Result<(), ConnError> {
        Ok(())
    }
}

/// Where a connection is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum State {
    /// No socket.
    Idle,
    /// TCP connect in progress.
    Connecting,
    /// Request sent (or being sent; over TLS, behind the TLS handshake),
    /// waiting for the 101.
    Upgrading,
    /// WebSocket open.
    Open,
    /// Our close frame is queued or sent (over TLS, close_notify after it);
    /// waiting for the server's close and its end of TCP (over TLS, with
    /// close_notify before it).
    Closing,
    /// The closing handshake finished; the socket can be dropped.
    Closed,
}

/// One masked control frame: at most 131 bytes (a 6-byte header and 125
/// of payload) in a buffer of the longest masked header's room.
#[derive(Clone, Copy, Debug)]
struct ControlFrame {
    bytes: [u8; MAX_MASKED_HEADER_LEN + MAX_CONTROL_PAYLOAD],
    len: usize,
}

impl ControlFrame {
    fn new(opcode: Opcode, payload: &[u8], key: [u8; 4]) -> Self {
        let payload = &payload[..payload.len().min(MAX_CONTROL_PAYLOAD)];
        let header = FrameHeader::masked(opcode, true, payload.len() as u64, key);
        let header = header.as_bytes();
        let mut bytes = [0; MAX_MASKED_HEADER_LEN + MAX_CONTROL_PAYLOAD];
        bytes[..header.len()].copy_from_slice(header);
        let end = header.len() + payload.len();
        bytes[header.len()..end].copy_from_slice(payload);
        apply_mask(&mut bytes[header.len()..end], key);
        Self { bytes, len: end }
    }
}

/// The pending control frames (pongs, our close): the one being written,
/// and the one to write after it.
#[derive(Clone, Copy, Debug)]
struct ControlOut {
    current: Option<ControlFrame>,
    /// How much of `current` is written.
    pos: usize,
    next: Option<ControlFrame>,
}

impl ControlOut {
    const EMPTY: Self = Self {
        current: None,
        pos: 0,
        next: None,
    };

    /// Queues a masked control frame. An unstarted frame is replaced (a
    /// pong answers the latest ping, as §5.5.3 allows; our close goes
    /// before an unsent pong); a frame partly written is finished first,
    /// then this one follows.
    fn set(&mut self, opcode: Opcode, payload: &[u8], key: [u8; 4]) {
        let frame = ControlFrame::new(opcode, payload, key);
        if self.pos > 0 {
            self.next = Some(frame);
        } else {
            self.current = Some(frame);
        }
    }

    /// What is left to write of the current frame; empty when none is
    /// pending.
    fn unwritten(&self) -> &[u8] {
        self.current
            .as_ref()
            .map_or(&[], |frame| &frame.bytes[self.pos..frame.len])
    }

    /// `n` more bytes of the current frame are written.
    fn wrote(&mut self, n: usize) {
        self.pos += n;
        if self.current.is_some_and(|frame| self.pos == frame.len) {
            (self.current, self.next, self.pos) = (self.next.take(), None, 0);
        }
    }

    fn pending(&self) -> bool {
        self.current.is_some()
    }
}

/// One client connection driven by a mode's [`Session`].
pub(crate) struct Conn<S> {
    /// This connection's number across all threads (for error messages).
    pub(crate) index: usize,
    /// The mode's state.
    pub(crate) session: S,
    /// When the current connection attempt started.
    pub(crate) started: Instant,
    state: State,
    sock: Option<Transport>,
    /// The request, then the data frame being sent.
    out: Vec<u8>,
    out_pos: usize,
    control: ControlOut,
    /// The response head received so far.
    head: Vec<u8>,
    accept: Accept,
    reader: FrameReader,
    mask_key: [u8; 4],
    /// The server's close frame arrived during our closing handshake.
    close_received: bool,
}

impl<S> Conn<S> {
    /// `error`, as this connection's failure of the run.
    pub(crate) fn fail(&self, error: ConnError) -> LoadError {
        LoadError::Conn {
            conn: self.index,
            error,
        }
    }
}

impl<S: Session> Conn<S> {
    /// A connection with no socket yet; `out_capacity` is the largest frame
    /// it will send.
    pub(crate) fn new(index: usize, session: S, out_capacity: usize) -> Self {
        Self {
            index,
            session,
            started: Instant::now(),
            state: State::Idle,
            sock: None,
            out: Vec::with_capacity(out_capacity),
            out_pos: 0,
            control: ControlOut::EMPTY,
            head: Vec::new(),
            accept: [0; 28],
            reader: FrameReader::new(),
            mask_key: [0; 4],
            close_received: false,
        }
    }

    /// Where the connection is.
    pub(crate) fn state(&self) -> State {
        self.state
    }

    /// The key this connection masks its frames with (fixed per connection
    /// attempt: the server's unmasking cost does not depend on the key).
    pub(crate) fn mask_key(&self) -> [u8; 4] {
        self.mask_key
    }

    /// Starts connecting to `target` (and for `wss://` a TLS session) and
    /// queues the upgrade request.
    pub(crate) fn open(
        &mut self,
        target: &Target,
        registry: &Registry,
        token: Token,
        rng: &mut Rng,
    ) -> Result<(), ConnError> {
        let mut tcp = TcpStream::connect(target.addr).map_err(ConnError::Connect)?;
        registry
            .register(&mut tcp, token, Interest::READABLE | Interest::WRITABLE)
            .map_err(ConnError::Connect)?;
        let sock = match &target.tls {
            None => Transport::Plain(tcp),
            Some(client) => {
                let session = client.session().map_err(ConnError::Tls)?;
                Transport::Tls(Box::new(TlsStream::new(tcp, session)))
            }
        };
        let key = handshake::new_key(rng);
        self.accept = handshake::accept_for(&key);
        target.request.write(&mut self.out, &key);
        self.out_pos = 0;
        self.control = ControlOut::EMPTY;
        self.head.clear();
        self.reader = FrameReader::new();
        self.mask_key = rng.mask_key();
        self.close_received = false;
        self.sock = Some(sock);
        self.state = State::Connecting;
        self.started = Instant::now();
        Ok(())
    }

    /// Closes the socket at once (no closing handshake).
    pub(crate) fn drop_socket(&mut self) {
        self.sock = None;
        self.state = State::Idle;
    }

    /// The buffer of the next data frame, to be filled while nothing is
    /// being sent ([`Conn::is_sending`] false), then sent with
    /// [`Conn::send`].
    pub(crate) fn out_mut(&mut self) -> &mut Vec<u8> {
        &mut self.out
    }

    /// Whether a data frame is still being written.
    pub(crate) fn is_sending(&self) -> bool {
        self.out_pos < self.out.len()
    }

    /// Marks the frame in [`Conn::out_mut`] as written (tests without a socket).
    #[cfg(test)]
    pub(crate) fn mark_sent(&mut self) {
        self.out_pos = self.out.len();
    }

    /// Sends the frame in [`Conn::out_mut`] from its start.
    pub(crate) fn send(&mut self) -> Result<(), ConnError> {
        self.out_pos = 0;
        self.flush()
    }

    /// Starts the closing handshake with status 1000 (over TLS, close_notify
    /// follows the close frame).
    pub(crate) fn close(&mut self) -> Result<(), ConnError> {
        self.control.set(
            Opcode::Close,
            &CloseCode::NORMAL.get().to_be_bytes(),
            self.mask_key,
        );
        self.state = State::Closing;
        self.flush()
    }

    /// Handles a readiness event: finishes connecting, writes what is
    /// pending, reads and dispatches everything available. `hangup`: the
    /// event reports the peer's end of stream (read until it is seen).
    pub(crate) fn on_ready(&mut self, rbuf: &mut [u8], hangup: bool) -> Result<(), ConnError> {
        if self.state == State::Connecting && !self.finish_connect()? {
            return Ok(());
        }
        if matches!(self.state, State::Idle | State::Closed) {
            return Ok(());
        }
        self.flush()?;
        self.read_all(rbuf, hangup)?;
        if self.control.pending() {
            self.flush()?;
        }
        Ok(())
    }

    /// Whether the TCP connection is established (`false`: not yet).
    fn finish_connect(&mut self) -> Result<bool, ConnError> {
        let Some(sock) = self.sock.as_ref().map(Transport::tcp) else {
            return Ok(false);
        };
        if let Some(e) = sock.take_error().map_err(ConnError::Connect)? {
            return Err(ConnError::Connect(e));
        }
        match sock.peer_addr() {
            Ok(_) => {
                // Nagle would hold back every small frame behind the last.
                sock.set_nodelay(true).map_err(ConnError::Connect)?;
                self.state = State::Upgrading;
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
            Err(e) => Err(ConnError::Connect(e)),
        }
    }

    /// Writes the pending control frame and data, as far as the socket takes
    /// them. A control frame goes first unless it would cut into a data frame.
    /// Over TLS, records rustls still holds go first; the new ones go out
    /// together at the end, in `Closing` with close_notify behind them (in
    /// the same segment as our close frame: a server that closes once it
    /// has answered that frame has then read close_notify too, rather than
    /// resetting the connection over unread bytes).
    fn flush(&mut self) -> Result<(), ConnError> {
        if self.state == State::Connecting {
            return Ok(());
        }
        let (control, out, out_pos) = (&mut self.control, &self.out[..], &mut self.out_pos);
        match &mut self.sock {
            Some(Transport::Plain(tcp)) => write_pending(tcp, control, out, out_pos),
            Some(Transport::Tls(tls)) => {
                tls.send_records().map_err(ConnError::Io)?;
                write_pending(&mut **tls, control, out, out_pos)?;
                if control.pending() || *out_pos < out.len() {
                    // rustls is full: the rest when the socket has room.
                    return Ok(());
                }
                if self.state == State::Closing {
                    tls.queue_close_notify();
                }
                tls.send_records().map_err(ConnError::Io)
            }
            None => Ok(()),
        }
    }

    /// Reads until the socket is drained. A short read means it is: with
    /// edge-triggered polling, data arriving later raises a new event, so
    /// the extra `read` that would return `WouldBlock` is saved. An end of
    /// stream that arrived before the event was taken raises no new one,
    /// though: the event says so (`hangup`), and then reading goes on to it.
    fn read_all(&mut self, rbuf: &mut [u8], hangup: bool) -> Result<(), ConnError> {
        loop {
            let sock = match &mut self.sock {
                Some(Transport::Plain(sock)) => sock,
                Some(Transport::Tls(_)) => return self.read_all_tls(rbuf, hangup),
                None => return Ok(()),
            };
            let n = match sock.read(rbuf) {
                Ok(0) => return self.on_eof(),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(ConnError::Io(e)),
            };
            self.on_bytes(&rbuf[..n])?;
            if n < rbuf.len() && !hangup {
                return Ok(());
            }
        }
    }

    /// [`Conn::read_all`] over TLS: the same reading (see [`crate::transport`]
    /// for how nothing stays behind in rustls), with the plaintext handed to
    /// the same [`Conn::on_bytes`] straight from rustls's buffer.
    fn read_all_tls(&mut self, rbuf: &mut [u8], hangup: bool) -> Result<(), ConnError> {
        // Out of `self` while it reads, so that the plaintext it lends can go
        // to `self.on_bytes`; nothing there touches the socket.
        let mut stream = match self.sock.take() {
            Some(Transport::Tls(stream)) => stream,
            other => {
                self.sock = other;
                return Ok(());
            }
        };
        let end = stream.read_all(rbuf, hangup, |bytes| self.on_bytes(bytes));
        self.sock = Some(Transport::Tls(stream));
        match end? {
            ReadEnd::Drained => Ok(()),
            // A closing handshake that ends with TCP but without TLS's own
            // close is a truncated session.
            ReadEnd::Eof {
                close_notify: false,
            } if self.state == State::Closing && self.close_received => {
                Err(ConnError::NoCloseNotify)
            }
            ReadEnd::Eof { .. } => self.on_eof(),
        }
    }

    fn on_eof(&mut self) -> Result<(), ConnError> {
        if self.state == State::Closing && self.close_received && self.reader.is_idle() {
            self.sock = None;
            self.state = State::Closed;
            return Ok(());
        }
        if self.state == State::Upgrading {
            let line = self.head.split(|&b| b == b'\n').next().unwrap_or_default();
            let received = String::from_utf8_lossy(&line[..line.len().min(200)]);
            return Err(ConnError::Handshake(HandshakeError::Closed(
                received.trim_end().to_owned(),
            )));
        }
        Err(ConnError::Eof)
    }

    // Inlined into both readers (plain and TLS): the per-read hot path.
    #[inline(always)]
    fn on_bytes(&mut self, bytes: &[u8]) -> Result<(), ConnError> {
        match self.state {
            State::Upgrading => {
                // The head is kept up to one byte past its limit (enough to
                // tell it is too long); frames behind it in this read are
                // handed on from `bytes`, whatever their length.
                let taken = bytes
                    .len()
                    .min((MAX_RESPONSE_HEAD + 1).saturating_sub(self.head.len()));
                self.head.extend_from_slice(&bytes[..taken]);
                let Some(head_len) = handshake::check_response(&self.head, &self.accept)
                    .map_err(ConnError::Handshake)?
                else {
                    return Ok(());
                };
                self.state = State::Open;
                let head = std::mem::take(&mut self.head);
                let result = self
                    .dispatch(&head[head_len..])
                    .and_then(|()| self.dispatch(&bytes[taken..]));
                self.head = head;
                self.head.clear();
                result
            }
            State::Open | State::Closing => self.dispatch(bytes),
            State::Idle | State::Connecting | State::Closed => Ok(()),
        }
    }

    fn dispatch(&mut self, bytes: &[u8]) -> Result<(), ConnError> {
        let mut sink = Dispatch {
            session: &mut self.session,
            control: &mut self.control,
            key: self.mask_key,
            closing: self.state == State::Closing,
            close_received: false,
        };
        self.reader.feed(bytes, &mut sink)?;
        self.close_received |= sink.close_received;
        Ok(())
    }
}

/// Writes the pending control frame, then the data frame `out` from
/// `out_pos`, to `sink` as far as it takes them (the rest waits for the
/// sink's writable event). A control frame goes first unless it would cut
/// into a data frame.
// Inlined into `flush` for each transport: the per-message hot path.
#[inline(always)]
fn write_pending<W: Write>(
    sink: &mut W,
    control: &mut ControlOut,
    out: &[u8],
    out_pos: &mut usize,
) -> Result<(), ConnError> {
    loop {
        let data_started = *out_pos > 0 && *out_pos < out.len();
        let sending_control = control.pending() && !data_started;
        let buf = if sending_control {
            control.unwritten()
        } else if *out_pos < out.len() {
            &out[*out_pos..]
        } else {
            return Ok(());
        };
        match sink.write(buf) {
            Ok(0) => return Err(ConnError::Io(io::ErrorKind::WriteZero.into())),
            Ok(n) if sending_control => control.wrote(n),
            Ok(n) => *out_pos += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(ConnError::Io(e)),
        }
    }
}

/// Routes what the frame reader finds: data to the session, pings to a pong.
struct Dispatch<'a, S> {
    session: &'a mut S,
    control: &'a mut ControlOut,
    key: [u8; 4],
    closing: bool,
    close_received: bool,
}

impl<S: Session> FrameSink for Dispatch<'_, S> {
    type Error = ConnError;

    #[inline]
    fn data(&mut self, kind: DataKind, offset: u64, chunk: &[u8]) -> Result<(), ConnError> {
        self.session.data(kind, offset, chunk)
    }

    #[inline]
    fn message_end(&mut self, kind: DataKind, len: u64) -> Result<(), ConnError> {
        self.session.message_end(kind, len)
    }

    fn control(&mut self, control: Control<'_>) -> Result<(), ConnError> {
        match control {
            Control::Ping(payload) => {
                // While our close is queued no pong may follow it.
                if !self.closing {
                    self.control.set(Opcode::Pong, payload, self.key);
                }
                Ok(())
            }
            Control::Pong(_) => Ok(()),
            // The answer to our 1000 (RFC 6455 §5.5.1: it echoes the code,
            // or has none); any other code is the server's own close.
            Control::Close {
                code: None | Some(1000),
                ..
            } if self.closing => {
                self.close_received = true;
                Ok(())
            }
            Control::Close { code, .. } => Err(ConnError::ServerClosed(code)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A socket that takes `room` bytes, then would block.
    struct Sink {
        written: Vec<u8>,
        room: usize,
    }

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let n = buf.len().min(self.room);
            if n == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            self.room -= n;
            self.written.extend_from_slice(&buf[..n]);
            Ok(n)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn frame(opcode: Opcode, payload: &[u8]) -> Vec<u8> {
        let frame = ControlFrame::new(opcode, payload, [1, 2, 3, 4]);
        frame.bytes[..frame.len].to_vec()
    }

    #[test]
    fn a_control_frame_set_while_one_is_half_written_follows_it() {
        let mut control = ControlOut::EMPTY;
        let mut sink = Sink {
            written: Vec::new(),
            room: 3,
        };
        let mut out_pos = 0;
        control.set(Opcode::Pong, b"first", [1, 2, 3, 4]);
        write_pending(&mut sink, &mut control, &[], &mut out_pos).unwrap();
        // Three bytes of the pong are out; a ping and our close come.
        control.set(Opcode::Pong, b"second", [1, 2, 3, 4]);
        control.set(Opcode::Close, &1000u16.to_be_bytes(), [1, 2, 3, 4]);
        sink.room = usize::MAX;
        write_pending(&mut sink, &mut control, &[], &mut out_pos).unwrap();
        let expected = [
            frame(Opcode::Pong, b"first"),
            frame(Opcode::Close, &1000u16.to_be_bytes()),
        ]
        .concat();
        assert_eq!(sink.written, expected);
        assert!(!control.pending());
    }

    #[test]
    fn an_unstarted_pong_is_replaced_by_the_latest() {
        let mut control = ControlOut::EMPTY;
        control.set(Opcode::Pong, b"old", [1, 2, 3, 4]);
        control.set(Opcode::Pong, b"new", [1, 2, 3, 4]);
        let mut sink = Sink {
            written: Vec::new(),
            room: usize::MAX,
        };
        write_pending(&mut sink, &mut control, b"data", &mut 0).unwrap();
        // Control first (no data frame was started), then the data.
        assert_eq!(
            sink.written,
            [frame(Opcode::Pong, b"new"), b"data".to_vec()].concat()
        );
    }
}
