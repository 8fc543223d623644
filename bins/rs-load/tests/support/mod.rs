//! The HTTP side of the small WebSocket servers these tests write, and
//! their frame reading.

// Each test binary uses its own part of this.
#![allow(dead_code)]

use std::io::{self, Read};
use std::ops::Range;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha1::{Digest as _, Sha1};

/// `read`, repeated when interrupted. These servers' sockets have a read
/// timeout, and Linux fails such a read with `EINTR` when the process is
/// stopped and resumed (signal(7)), as a CI machine may do to it.
pub(crate) fn read_some(stream: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match stream.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            done => return done,
        }
    }
}

/// A client's upgrade request as read from its stream.
pub(crate) struct Request {
    /// The request head, up to and including the blank line.
    pub(crate) head: String,
    /// What the client sent after the head (its first frames, maybe).
    pub(crate) rest: Vec<u8>,
}

impl Request {
    /// Reads until the end of the request head; `None` if the client closed
    /// the connection first.
    pub(crate) fn read(stream: &mut impl Read) -> io::Result<Option<Self>> {
        let mut buf = vec![0u8; 1 << 16];
        let mut bytes = Vec::new();
        loop {
            let n = read_some(stream, &mut buf)?;
            if n == 0 {
                return Ok(None);
            }
            bytes.extend_from_slice(&buf[..n]);
            if let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
                let rest = bytes.split_off(end + 4);
                let head = String::from_utf8_lossy(&bytes).into_owned();
                return Ok(Some(Self { head, rest }));
            }
        }
    }

    /// The 101 response accepting this request (RFC 6455 §4.2.2).
    pub(crate) fn switching_protocols(&self) -> String {
        let key = self
            .head
            .lines()
            .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
            .expect("a key")
            .trim();
        let mut sha1 = Sha1::new();
        sha1.update(key.as_bytes());
        sha1.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
        let accept = STANDARD.encode(sha1.finalize());
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {accept}\r\n\r\n"
        )
    }
}

/// The first frame in `buf` if it holds the whole of it (a client's: masked,
/// with a payload of less than 64 KiB): its opcode and where its payload
/// lies in `buf`, unmasked in place.
pub(crate) fn unmask_first_frame(buf: &mut [u8]) -> Option<(u8, Range<usize>)> {
    if buf.len() < 2 {
        return None;
    }
    let (op, short) = (buf[0] & 0x0f, usize::from(buf[1] & 0x7f));
    let (len, header) = match short {
        126 if buf.len() >= 4 => (usize::from(u16::from_be_bytes([buf[2], buf[3]])), 4),
        127 | 126 => return None,
        n => (n, 2),
    };
    if buf.len() < header + 4 + len {
        return None;
    }
    let key = [
        buf[header],
        buf[header + 1],
        buf[header + 2],
        buf[header + 3],
    ];
    let payload = header + 4..header + 4 + len;
    for (i, byte) in buf[payload.clone()].iter_mut().enumerate() {
        *byte ^= key[i % 4];
    }
    Some((op, payload))
}

/// Moves what is left unread of `buf[..len]`, from `pos` on, to the front,
/// and reads more after it: the new length, or `None` at the end of the
/// stream.
pub(crate) fn refill(
    stream: &mut impl Read,
    buf: &mut [u8],
    pos: usize,
    len: usize,
) -> io::Result<Option<usize>> {
    buf.copy_within(pos..len, 0);
    let left = len - pos;
    assert!(left < buf.len(), "a frame longer than the read buffer");
    let n = read_some(stream, &mut buf[left..])?;
    Ok((n > 0).then_some(left + n))
}
