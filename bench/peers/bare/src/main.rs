//! `peer-bare`: the floor for `bench/compare.sh`, not a server to run.
//!
//! One thread and one epoll loop (mio) that reads a socket, unmasks each
//! client frame in the read buffer and writes it straight back with a server
//! header, in one `writev`. It checks nothing (no UTF-8, no reserved bits,
//! no fragmentation rules, no limits) and has no app, no rings and no other
//! thread: what it costs per message is what the kernel leaves to any
//! WebSocket server on this machine. A server that comes close to its rate is
//! limited by the kernel and the load generator, not by its own work.
//!
//! It answers the HTTP upgrade, echoes text and binary frames, answers pings
//! and echoes a close frame before closing, which is all `rs-load`'s echo,
//! connect and idle modes need.
//!
//! ```text
//! peer-bare --port 9001
//! ```

use std::io::{self, IoSlice, Read, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use tungstenite::handshake::derive_accept_key;

const NAME: &str = "peer-bare";
const LISTENER: Token = Token(usize::MAX);
/// One read's buffer, shared by all connections.
const READ_SIZE: usize = 256 * 1024;
/// The longest upgrade request accepted.
const MAX_REQUEST: usize = 8 * 1024;

fn main() -> ExitCode {
    let options = match peer_common::options(NAME) {
        Ok(options) => options,
        Err(code) => return code,
    };
    // SIGTERM and SIGINT end the process by their default action.
    match serve(SocketAddr::from((Ipv4Addr::LOCALHOST, options.port))) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{NAME}: {e}");
            ExitCode::FAILURE
        }
    }
}

fn serve(addr: SocketAddr) -> io::Result<()> {
    // mio's listener: SO_REUSEADDR and a backlog of 1024, as RingSocket's.
    let mut listener = TcpListener::bind(addr)?;
    let mut poll = Poll::new()?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    eprintln!("{NAME}: listening on {addr}");
    let mut events = Events::with_capacity(1024);
    let mut conns: Vec<Option<Conn>> = Vec::new();
    let mut free = Vec::new();
    let mut scratch = vec![0u8; READ_SIZE];
    loop {
        if let Err(e) = poll.poll(&mut events, None) {
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        for event in &events {
            if event.token() == LISTENER {
                accept(&listener, &poll, &mut conns, &mut free);
                continue;
            }
            let slot = event.token().0;
            let Some(conn) = conns.get_mut(slot).and_then(Option::as_mut) else {
                continue;
            };
            let mut open = true;
            if event.is_writable() {
                open = conn.flush().is_ok();
            }
            if open && event.is_readable() {
                open = conn.on_readable(&mut scratch).unwrap_or(false);
            }
            if !open {
                // Closing the socket takes it out of the epoll set.
                conns[slot] = None;
                free.push(slot);
            }
        }
    }
}

fn accept(
    listener: &TcpListener,
    poll: &Poll,
    conns: &mut Vec<Option<Conn>>,
    free: &mut Vec<usize>,
) {
    loop {
        let mut stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) => {
                eprintln!("{NAME}: accept: {e}");
                return;
            }
        };
        let slot = free.pop().unwrap_or_else(|| {
            conns.push(None);
            conns.len() - 1
        });
        // Edge-triggered: a writable event comes only once output was held back.
        let registered = stream.set_nodelay(true).and_then(|()| {
            poll.registry().register(
                &mut stream,
                Token(slot),
                Interest::READABLE | Interest::WRITABLE,
            )
        });
        match registered {
            Ok(()) => conns[slot] = Some(Conn::new(stream)),
            Err(e) => {
                eprintln!("{NAME}: new connection: {e}");
                free.push(slot);
            }
        }
    }
}

struct Conn {
    stream: TcpStream,
    upgraded: bool,
    /// Bytes of an incomplete request or frame.
    input: Vec<u8>,
    /// Bytes the socket did not take yet.
    output: Vec<u8>,
}

impl Conn {
    fn new(stream: TcpStream) -> Self {
        Self {
            stream,
            upgraded: false,
            input: Vec::new(),
            output: Vec::new(),
        }
    }

    /// Reads until the socket is drained; `false` to close the connection.
    fn on_readable(&mut self, scratch: &mut [u8]) -> io::Result<bool> {
        loop {
            let n = match self.stream.read(scratch) {
                Ok(0) => return Ok(false),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(true),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let open = if self.input.is_empty() {
                // The common case: whole frames, handled in the read buffer.
                let (used, open) = self.handle(&mut scratch[..n])?;
                self.input.extend_from_slice(&scratch[used..n]);
                open
            } else {
                let mut input = std::mem::take(&mut self.input);
                input.extend_from_slice(&scratch[..n]);
                let (used, open) = self.handle(&mut input)?;
                input.drain(..used);
                self.input = input;
                open
            };
            // A short read drained the socket: edge-triggered epoll reports
            // what comes next.
            if !open || n < scratch.len() {
                return Ok(open);
            }
        }
    }

    /// Handles what `buf` holds completely: returns the bytes used and
    /// whether the connection stays open.
    fn handle(&mut self, buf: &mut [u8]) -> io::Result<(usize, bool)> {
        let mut pos = 0;
        if !self.upgraded {
            let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                return Ok((0, buf.len() <= MAX_REQUEST));
            };
            let Some(key) = websocket_key(&buf[..end]) else {
                return Ok((0, false));
            };
            let response = format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
                derive_accept_key(key)
            );
            self.send(response.as_bytes(), &[])?;
            self.upgraded = true;
            pos = end + 4;
        }
        while let Some((b0, header_len, len, key)) = frame_head(&buf[pos..]) {
            if len > buf.len() - pos - header_len {
                break;
            }
            let start = pos + header_len;
            pos = start + len;
            let payload = &mut buf[start..pos];
            unmask(payload, key);
            let reply_b0 = match b0 & 0x0f {
                0xa => continue,
                // A ping's pong.
                0x9 => 0x8a,
                _ => b0,
            };
            let (header, header_len) = server_header(reply_b0, len);
            self.send(&header[..header_len], payload)?;
            if b0 & 0x0f == 0x8 {
                // A close, echoed: done.
                return Ok((pos, false));
            }
        }
        Ok((pos, true))
    }

    /// Writes `header` and `payload` in one `writev`, keeping what the socket
    /// does not take.
    fn send(&mut self, header: &[u8], payload: &[u8]) -> io::Result<()> {
        if !self.output.is_empty() {
            self.output.extend_from_slice(header);
            self.output.extend_from_slice(payload);
            return self.flush();
        }
        let written = match self
            .stream
            .write_vectored(&[IoSlice::new(header), IoSlice::new(payload)])
        {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
            Err(e) => return Err(e),
        };
        if written < header.len() {
            self.output.extend_from_slice(&header[written..]);
            self.output.extend_from_slice(payload);
        } else {
            self.output
                .extend_from_slice(&payload[written - header.len()..]);
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        while !self.output.is_empty() {
            match self.stream.write(&self.output) {
                Ok(n) => {
                    self.output.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// The `Sec-WebSocket-Key` of an upgrade request's head.
fn websocket_key(head: &[u8]) -> Option<&[u8]> {
    head.split(|&b| b == b'\n').find_map(|line| {
        let colon = line.iter().position(|&b| b == b':')?;
        let (name, value) = line.split_at(colon);
        name.eq_ignore_ascii_case(b"sec-websocket-key")
            .then(|| value[1..].trim_ascii())
    })
}

/// A client frame's first byte, header length, payload length and masking
/// key, once the whole header is in `buf`.
fn frame_head(buf: &[u8]) -> Option<(u8, usize, usize, [u8; 4])> {
    let (&b0, rest) = buf.split_first()?;
    let (&b1, rest) = rest.split_first()?;
    let (len, rest, extended) = match b1 & 0x7f {
        126 => {
            let (bytes, rest) = rest.split_first_chunk::<2>()?;
            (usize::from(u16::from_be_bytes(*bytes)), rest, 2)
        }
        127 => {
            let (bytes, rest) = rest.split_first_chunk::<8>()?;
            (usize::try_from(u64::from_be_bytes(*bytes)).ok()?, rest, 8)
        }
        short => (usize::from(short), rest, 0),
    };
    let (key, _) = rest.split_first_chunk::<4>()?;
    Some((b0, 2 + extended + 4, len, *key))
}

/// A server frame header, `b0` and the length (unmasked), and its length.
fn server_header(b0: u8, len: usize) -> ([u8; 10], usize) {
    let mut header = [0; 10];
    header[0] = b0;
    match len {
        0..=125 => {
            header[1] = len as u8;
            (header, 2)
        }
        126..=0xffff => {
            header[1] = 126;
            header[2..4].copy_from_slice(&(len as u16).to_be_bytes());
            (header, 4)
        }
        _ => {
            header[1] = 127;
            header[2..10].copy_from_slice(&(len as u64).to_be_bytes());
            (header, 10)
        }
    }
}

/// XORs `payload` with the key, eight bytes at a time.
fn unmask(payload: &mut [u8], key: [u8; 4]) {
    let key64 = u64::from_ne_bytes([
        key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3],
    ]);
    let (words, tail) = payload.as_chunks_mut::<8>();
    for word in words {
        *word = (u64::from_ne_bytes(*word) ^ key64).to_ne_bytes();
    }
    for (byte, k) in tail.iter_mut().zip(key.into_iter().cycle()) {
        *byte ^= k;
    }
}
