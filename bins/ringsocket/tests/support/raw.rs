//! A hand-written WebSocket client on a plain `TcpStream`, for what a
//! well-behaved library will not do: stop halfway through a handshake,
//! send unmasked frames or reserved opcodes, never answer a close, never
//! read. Frames from the server are parsed strictly (they must be unmasked).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

pub const CONTINUATION: u8 = 0x0;
pub const TEXT: u8 = 0x1;
pub const BINARY: u8 = 0x2;
pub const CLOSE: u8 = 0x8;
pub const PING: u8 = 0x9;
pub const PONG: u8 = 0xA;

/// The mask every frame of this client uses (any non-trivial value will do).
pub const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// One frame from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawFrame {
    pub fin: bool,
    /// The three RSV bits, as the top bits of the first byte (0 expected).
    pub rsv: u8,
    pub opcode: u8,
    pub payload: Vec<u8>,
}

impl RawFrame {
    /// The status code of a close frame (1005 for an empty one).
    pub fn close_code(&self) -> u16 {
        assert_eq!(self.opcode, CLOSE, "not a close frame: {self:?}");
        match self.payload.as_slice() {
            [] => 1005,
            [hi, lo, ..] => u16::from_be_bytes([*hi, *lo]),
            _ => panic!("a 1-byte close payload: {self:?}"),
        }
    }
}

/// What reading from the server gave.
#[derive(Debug)]
pub enum Received {
    Frame(RawFrame),
    /// The server closed its side (or reset the connection); `trailing`
    /// bytes of an incomplete frame came before.
    Closed {
        trailing: usize,
        reset: bool,
    },
}

/// A WebSocket connection driven byte by byte.
pub struct RawWs {
    pub stream: TcpStream,
    buf: Vec<u8>,
    /// The most one read takes, and the pause after each (a slow reader).
    read_chunk: usize,
    read_pause: Duration,
}

/// Encodes a frame. `mask: None` sends it unmasked (a protocol error from a
/// client).
pub fn encode(first_byte: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut frame = vec![first_byte];
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => frame.push(mask_bit | n as u8),
        n if n <= 0xffff => {
            frame.push(mask_bit | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            frame.push(mask_bit | 127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    match mask {
        Some(key) => {
            frame.extend_from_slice(&key);
            frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        }
        None => frame.extend_from_slice(payload),
    }
    frame
}

/// A masked frame with FIN set and no RSV bits.
pub fn masked(opcode: u8, payload: &[u8]) -> Vec<u8> {
    encode(0x80 | opcode, payload, Some(MASK))
}

/// Parses one complete server frame at the start of `buf`: the frame and
/// its length on the wire, or `None` if more bytes are needed.
pub fn parse(buf: &[u8]) -> Option<(RawFrame, usize)> {
    let [b0, b1, rest @ ..] = buf else {
        return None;
    };
    assert_eq!(b1 & 0x80, 0, "a masked frame from the server");
    let (len, header) = match b1 & 0x7f {
        126 => (
            u16::from_be_bytes(rest.get(..2)?.try_into().ok()?) as usize,
            4,
        ),
        127 => (
            u64::from_be_bytes(rest.get(..8)?.try_into().ok()?) as usize,
            10,
        ),
        n => (usize::from(n), 2),
    };
    let payload = buf.get(header..header + len)?.to_vec();
    let frame = RawFrame {
        fin: b0 & 0x80 != 0,
        rsv: b0 & 0x70,
        opcode: b0 & 0x0f,
        payload,
    };
    Some((frame, header + len))
}

impl RawWs {
    /// Connects and completes an opening handshake for `path` (asserting
    /// 101), keeping whatever came after the response head.
    pub fn connect(addr: SocketAddr, path: &str) -> Self {
        Self::connect_sending(addr, path, &[])
    }

    /// Like [`RawWs::connect`], but sends `after` in the same write as the
    /// request (frames pipelined behind the handshake).
    pub fn connect_sending(addr: SocketAddr, path: &str, after: &[u8]) -> Self {
        Self::handshake(TcpStream::connect(addr).unwrap(), path, after)
    }

    /// Like [`RawWs::connect`], with a receive buffer fixed at `bytes`
    /// (no autotuning): what the server sends waits on its side sooner.
    pub fn connect_with_receive_buffer(addr: SocketAddr, path: &str, bytes: usize) -> Self {
        let socket = socket2::Socket::new(
            socket2::Domain::for_address(addr),
            socket2::Type::STREAM,
            None,
        )
        .unwrap();
        socket.set_recv_buffer_size(bytes).unwrap();
        socket.connect(&addr.into()).unwrap();
        Self::handshake(socket.into(), path, &[])
    }

    /// Reads at most `chunk` bytes at a time from now on, pausing `pause`
    /// after each read: a client that reads steadily, but slowly.
    pub fn read_slowly(&mut self, chunk: usize, pause: Duration) {
        (self.read_chunk, self.read_pause) = (chunk, pause);
    }

    fn handshake(mut stream: TcpStream, path: &str, after: &[u8]) -> Self {
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut request =
            super::upgrade_request(path, "Sec-WebSocket-Version: 13\r\n").into_bytes();
        request.extend_from_slice(after);
        stream.write_all(&request).unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let n = super::read_some(&mut stream, &mut chunk).unwrap();
            assert!(
                n > 0,
                "the server closed during the handshake: {}",
                String::from_utf8_lossy(&buf)
            );
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
        buf.drain(..head_end);
        Self {
            stream,
            buf,
            read_chunk: 64 * 1024,
            read_pause: Duration::ZERO,
        }
    }

    /// Sends bytes as they are.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// Sends a masked, final frame.
    pub fn send(&mut self, opcode: u8, payload: &[u8]) {
        self.send_raw(&masked(opcode, payload));
    }

    /// Whether nothing at all (no byte, no end) comes for `wait`.
    pub fn is_silent_for(&mut self, wait: Duration) -> bool {
        if !self.buf.is_empty() {
            return false;
        }
        self.stream.set_read_timeout(Some(wait)).unwrap();
        let mut byte = [0u8; 1];
        loop {
            return match self.stream.read(&mut byte) {
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    true
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                _ => false,
            };
        }
    }

    /// Reads the next frame, or how the connection ended. Panics if nothing
    /// happens within `limit`.
    pub fn read_within(&mut self, limit: Duration) -> Received {
        let deadline = Instant::now() + limit;
        let mut chunk = vec![0u8; self.read_chunk];
        loop {
            if let Some((frame, len)) = parse(&self.buf) {
                self.buf.drain(..len);
                return Received::Frame(frame);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "nothing from the server within {limit:?}");
            self.stream.set_read_timeout(Some(left)).unwrap();
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    return Received::Closed {
                        trailing: self.buf.len(),
                        reset: false,
                    };
                }
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    std::thread::sleep(self.read_pause);
                }
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {
                    return Received::Closed {
                        trailing: self.buf.len(),
                        reset: true,
                    };
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => panic!("read failed: {e}"),
            }
        }
    }

    /// The next frame, which must come within 10 s.
    pub fn frame(&mut self) -> RawFrame {
        match self.read_within(Duration::from_secs(10)) {
            Received::Frame(frame) => frame,
            closed => panic!("expected a frame, got {closed:?}"),
        }
    }

    /// Waits (at most `limit`) for the server to close the connection,
    /// asserting that no more frames come; returns how long it took.
    pub fn wait_closed(&mut self, limit: Duration) -> Duration {
        let start = Instant::now();
        match self.read_within(limit) {
            Received::Closed { trailing: 0, .. } => start.elapsed(),
            other => panic!("expected the connection to end cleanly, got {other:?}"),
        }
    }
}
