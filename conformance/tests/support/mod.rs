//! A small WebSocket echo server written for these tests (std only, one
//! thread per connection), correct enough to pass the runner, with
//! switchable flaws that break one rule each.

#![allow(dead_code, unreachable_pub)]

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha1::{Digest as _, Sha1};

/// Ways the mini server breaks RFC 6455; the default breaks nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct Flaws {
    /// Echoes text messages without checking their UTF-8.
    pub accepts_invalid_utf8: bool,
    /// Checks UTF-8 only once a text message is complete (allowed, not preferred).
    pub checks_utf8_at_message_end: bool,
    /// Never answers pings.
    pub ignores_pings: bool,
    /// Echoes any close code, even one that may not be sent.
    pub echoes_invalid_close_codes: bool,
    /// Ignores RSV1-RSV3.
    pub ignores_reserved_bits: bool,
    /// Fails connections by closing TCP, without a close frame.
    pub drops_without_close: bool,
    /// Answers every valid close frame with close 1000 (allowed, not preferred).
    pub answers_close_with_1000: bool,
}

/// Starts a mini server on 127.0.0.1 with the given flaws and message size
/// limit; it runs until the test process ends.
pub fn start(flaws: Flaws, max_message_size: usize) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for tcp in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut connection = Connection {
                    tcp,
                    flaws,
                    max_message_size,
                };
                let _ = connection.serve();
            });
        }
    });
    addr
}

struct Connection {
    tcp: TcpStream,
    flaws: Flaws,
    max_message_size: usize,
}

/// Why a connection ended.
enum End {
    Io,
    /// Fail the connection with this close code.
    Fail(u16),
}

impl From<std::io::Error> for End {
    fn from(_: std::io::Error) -> Self {
        End::Io
    }
}

impl Connection {
    fn serve(&mut self) -> Result<(), End> {
        self.tcp.set_read_timeout(Some(Duration::from_secs(20)))?;
        self.tcp.set_nodelay(true)?;
        self.handshake()?;
        match self.frames() {
            Err(End::Fail(code)) => {
                if !self.flaws.drops_without_close {
                    self.send(0x8, &code.to_be_bytes())?;
                }
                self.finish();
                Ok(())
            }
            other => other,
        }
    }

    fn handshake(&mut self) -> Result<(), End> {
        let mut request = Vec::new();
        let mut byte = [0u8; 1];
        while !request.ends_with(b"\r\n\r\n") {
            self.tcp.read_exact(&mut byte)?;
            request.push(byte[0]);
        }
        let request = String::from_utf8_lossy(&request).into_owned();
        let key = request
            .lines()
            .filter_map(|line| line.split_once(':'))
            .find(|(name, _)| name.eq_ignore_ascii_case("sec-websocket-key"))
            .map(|(_, value)| value.trim().to_owned())
            .ok_or(End::Io)?;
        let mut sha1 = Sha1::new();
        sha1.update(key.as_bytes());
        sha1.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
        let response = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {}\r\n\r\n",
            STANDARD.encode(sha1.finalize())
        );
        self.tcp.write_all(response.as_bytes())?;
        Ok(())
    }

    /// Reads frames until the client closes or breaks a rule.
    fn frames(&mut self) -> Result<(), End> {
        // The message in progress: text or not, its payload, and the bytes
        // of an incomplete code point at its end.
        let mut message: Option<(bool, Vec<u8>)> = None;
        let mut utf8_tail = Vec::new();
        loop {
            let mut head = [0u8; 2];
            self.tcp.read_exact(&mut head)?;
            let fin = head[0] & 0x80 != 0;
            let opcode = head[0] & 0x0f;
            if head[0] & 0x70 != 0 && !self.flaws.ignores_reserved_bits {
                return Err(End::Fail(1002));
            }
            if !matches!(opcode, 0x0..=0x2 | 0x8..=0xa) || head[1] & 0x80 == 0 {
                return Err(End::Fail(1002));
            }
            let len = match head[1] & 0x7f {
                126 => {
                    let mut ext = [0u8; 2];
                    self.tcp.read_exact(&mut ext)?;
                    u64::from(u16::from_be_bytes(ext))
                }
                127 => {
                    let mut ext = [0u8; 8];
                    self.tcp.read_exact(&mut ext)?;
                    u64::from_be_bytes(ext)
                }
                n => u64::from(n),
            };
            if len >> 63 != 0 {
                return Err(End::Fail(1002));
            }
            let control = opcode >= 0x8;
            if control && (!fin || len > 125) {
                return Err(End::Fail(1002));
            }
            match (opcode, &message) {
                (0x0, None) | (0x1 | 0x2, Some(_)) => return Err(End::Fail(1002)),
                _ => {}
            }
            let so_far = message.as_ref().map_or(0, |(_, p)| p.len() as u64);
            if !control && so_far + len > self.max_message_size as u64 {
                return Err(End::Fail(1009));
            }
            let mut key = [0u8; 4];
            self.tcp.read_exact(&mut key)?;
            let mut payload = vec![0u8; len as usize];
            self.tcp.read_exact(&mut payload)?;
            for (i, byte) in payload.iter_mut().enumerate() {
                *byte ^= key[i % 4];
            }
            match opcode {
                0x9 if !self.flaws.ignores_pings => self.send(0xa, &payload)?,
                0x9 | 0xa => {}
                0x8 => return self.close(&payload),
                _ => {
                    let (text, assembled) =
                        message.get_or_insert_with(|| (opcode == 0x1, Vec::new()));
                    assembled.extend_from_slice(&payload);
                    let text = *text;
                    let check_now = text
                        && !self.flaws.accepts_invalid_utf8
                        && !self.flaws.checks_utf8_at_message_end;
                    if check_now && !utf8_feed(&mut utf8_tail, &payload) {
                        return Err(End::Fail(1007));
                    }
                    if fin {
                        let (_, whole) = message.take().unwrap_or_default();
                        let incomplete = !std::mem::take(&mut utf8_tail).is_empty();
                        let invalid = text
                            && !self.flaws.accepts_invalid_utf8
                            && (incomplete || std::str::from_utf8(&whole).is_err());
                        if invalid {
                            return Err(End::Fail(1007));
                        }
                        self.send(if text { 0x1 } else { 0x2 }, &whole)?;
                    }
                }
            }
        }
    }

    /// Answers a close frame, or fails the connection if it is malformed.
    fn close(&mut self, payload: &[u8]) -> Result<(), End> {
        if payload.len() == 1 {
            return Err(End::Fail(1002));
        }
        if payload.len() >= 2 {
            let code = u16::from_be_bytes([payload[0], payload[1]]);
            let sendable = matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999);
            if !sendable && !self.flaws.echoes_invalid_close_codes {
                return Err(End::Fail(1002));
            }
            if std::str::from_utf8(&payload[2..]).is_err() {
                return Err(End::Fail(1007));
            }
        }
        if self.flaws.answers_close_with_1000 {
            self.send(0x8, &1000u16.to_be_bytes())?;
        } else {
            self.send(0x8, &payload[..payload.len().min(2)])?;
        }
        self.finish();
        Ok(())
    }

    /// Closes our side, then waits for the client to close (bounded).
    fn finish(&mut self) {
        let _ = self.tcp.shutdown(Shutdown::Write);
        let _ = self.tcp.set_read_timeout(Some(Duration::from_secs(5)));
        let mut sink = [0u8; 4096];
        loop {
            match self.tcp.read(&mut sink) {
                Ok(0) => return,
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        }
    }

    /// Sends one unmasked frame with the minimal length form.
    fn send(&mut self, opcode: u8, payload: &[u8]) -> std::io::Result<()> {
        let mut frame = vec![0x80 | opcode];
        match payload.len() {
            n @ 0..=125 => frame.push(n as u8),
            n @ 126..=65535 => {
                frame.push(126);
                frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                frame.push(127);
                frame.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        frame.extend_from_slice(payload);
        self.tcp.write_all(&frame)
    }
}

/// Validates the next piece of a text message; `tail` carries an incomplete
/// code point between pieces.
fn utf8_feed(tail: &mut Vec<u8>, piece: &[u8]) -> bool {
    tail.extend_from_slice(piece);
    match std::str::from_utf8(tail) {
        Ok(_) => {
            tail.clear();
            true
        }
        Err(e) if e.error_len().is_none() => {
            tail.drain(..e.valid_up_to());
            true
        }
        Err(_) => false,
    }
}
