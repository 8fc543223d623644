//! Decoding throughput of rs-proto next to tungstenite, on the same input.
//!
//! Run with `cargo bench -p rs-proto --bench decode`. Prints, per row, the
//! median over several rounds of messages/s and GB/s (wire bytes), and the
//! ratio of rs-proto to each tungstenite codec. Rounds of the two decoders
//! are interleaved so that machine noise hits both alike.
//!
//! Both sides pay one copy per 64 KiB "read" from the simulated socket into
//! their read buffer, as a server does, and both produce complete, unmasked,
//! validated messages:
//! - `tungstenite WebSocket`: its server-side protocol stack (frame codec,
//!   unmasking, reassembly, UTF-8 checks) reading from an in-memory stream.
//! - `tungstenite FrameSocket`: its bare frame codec, which parses frames but
//!   does not unmask or validate them (less work than rs-proto does).

use std::hint::black_box;
use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use rs_proto::{Decoder, Event, Limits, Opcode, encode_masked_frame};
use tungstenite::protocol::frame::FrameSocket;
use tungstenite::protocol::{Role, WebSocket, WebSocketConfig};

const READ_SIZE: usize = 64 * 1024;
const ROUNDS: usize = 9;
/// Wire bytes per round: large enough to leave the caches, small enough to be quick.
const ROUND_BYTES: usize = 64 * 1024 * 1024;

struct Row {
    name: &'static str,
    opcode: Opcode,
    payload: Vec<u8>,
}

fn main() {
    let text: Vec<u8> = "Hello, wörld! κόσμε ✓ 🚀 "
        .repeat(1024)
        .into_bytes()
        .into_iter()
        .take(16 * 1024)
        .collect();
    let text = String::from_utf8_lossy(&text).into_owned().into_bytes();
    let rows = [
        Row {
            name: "binary 20 B",
            opcode: Opcode::Binary,
            payload: vec![0x5a; 20],
        },
        Row {
            name: "binary 16 KiB",
            opcode: Opcode::Binary,
            payload: vec![0x5a; 16 * 1024],
        },
        Row {
            name: "text 16 KiB",
            opcode: Opcode::Text,
            payload: text,
        },
    ];
    println!(
        "{:<15} {:<26} {:>14} {:>9} {:>10} {:>10}",
        "input", "decoder", "msgs/s", "GB/s", "vs WS", "vs Frames"
    );
    for row in &rows {
        bench_row(row);
    }
}

fn bench_row(row: &Row) {
    let mut wire = Vec::new();
    let mut count = 0usize;
    while wire.len() < ROUND_BYTES {
        let key = [count as u8, 0x5b, 0xc3, 0x17];
        encode_masked_frame(&mut wire, row.opcode, true, &row.payload, key);
        count += 1;
    }
    let mut times: [Vec<Duration>; 3] = Default::default();
    for _ in 0..ROUNDS {
        times[0].push(time(|| assert_eq!(rs_proto_decode(&wire), count)));
        times[1].push(time(|| assert_eq!(tungstenite_websocket(&wire), count)));
        times[2].push(time(|| assert_eq!(tungstenite_frames(&wire), count)));
    }
    let medians: Vec<Duration> = times.iter_mut().map(|t| median(t)).collect();
    let names = [
        "rs-proto Decoder",
        "tungstenite WebSocket",
        "tungstenite FrameSocket",
    ];
    for (i, name) in names.iter().enumerate() {
        let secs = medians[i].as_secs_f64();
        let ratios = if i == 0 {
            format!(
                "{:>9.2}x {:>9.2}x",
                medians[1].as_secs_f64() / secs,
                medians[2].as_secs_f64() / secs
            )
        } else {
            String::new()
        };
        println!(
            "{:<15} {:<26} {:>14.0} {:>9.2} {}",
            if i == 0 { row.name } else { "" },
            name,
            count as f64 / secs,
            wire.len() as f64 / secs / 1e9,
            ratios
        );
    }
}

fn time(f: impl FnOnce()) -> Duration {
    let start = Instant::now();
    f();
    start.elapsed()
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort_unstable();
    times[times.len() / 2]
}

/// Copies the wire into a read buffer 64 KiB at a time, as `read()` would,
/// and decodes each read completely.
fn rs_proto_decode(wire: &[u8]) -> usize {
    let mut decoder = Decoder::new(Limits::default());
    let mut rbuf = vec![0u8; READ_SIZE];
    let mut messages = 0;
    for chunk in wire.chunks(READ_SIZE) {
        let rbuf = &mut rbuf[..chunk.len()];
        rbuf.copy_from_slice(chunk);
        let mut pos = 0;
        while pos < rbuf.len() {
            let decoded = decoder.decode(&mut rbuf[pos..]).expect("valid input");
            pos += decoded.consumed;
            if let Some(Event::Message { payload, .. }) = decoded.event {
                black_box(payload);
                messages += 1;
            }
        }
    }
    messages
}

/// An in-memory socket: reads hand out the wire 64 KiB at most per call,
/// writes are discarded.
struct MemoryStream<'a> {
    wire: &'a [u8],
}

impl Read for MemoryStream<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(READ_SIZE).min(self.wire.len());
        if n == 0 && !buf.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        buf[..n].copy_from_slice(&self.wire[..n]);
        self.wire = &self.wire[n..];
        Ok(n)
    }
}

impl Write for MemoryStream<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn tungstenite_websocket(wire: &[u8]) -> usize {
    let config = WebSocketConfig::default()
        .max_message_size(Some(16 << 20))
        .read_buffer_size(READ_SIZE);
    let mut socket = WebSocket::from_raw_socket(MemoryStream { wire }, Role::Server, Some(config));
    let mut messages = 0;
    loop {
        match socket.read() {
            Ok(message) => {
                black_box(&message);
                messages += 1;
            }
            Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                return messages;
            }
            Err(e) => panic!("tungstenite failed: {e}"),
        }
    }
}

fn tungstenite_frames(wire: &[u8]) -> usize {
    let mut socket = FrameSocket::new(MemoryStream { wire });
    let mut frames = 0;
    loop {
        match socket.read(Some(16 << 20)) {
            Ok(Some(frame)) => {
                black_box(&frame);
                frames += 1;
            }
            Ok(None) => return frames,
            Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                return frames;
            }
            Err(e) => panic!("tungstenite failed: {e}"),
        }
    }
}
