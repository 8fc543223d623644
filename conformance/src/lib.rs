//! RFC 6455 conformance runner for RingSocket.
//!
//! It drives a running WebSocket server whose endpoint echoes every message
//! (text as text, binary as binary) over raw TCP or TLS (`wss://`, see
//! [`stream`] and [`tls`]), case by case, and judges each reaction by the
//! RFC. It shares no code with the server: it writes its own frames
//! ([`frame`], able to produce every malformed frame), reads the server's
//! with its own checks ([`reader`]) and performs its own handshake
//! ([`handshake`]). Every case runs unchanged over either transport.
//!
//! Each [`Case`] states what the RFC expects and gets a [`Verdict`]: OK,
//! NON-STRICT (allowed by the RFC but not preferred, e.g. failing invalid
//! UTF-8 only at the message end, or dropping TCP without a close frame
//! where one SHOULD be sent) or FAILED. The catalogue ([`cases::all`]) has
//! eight categories: framing, pings, reserved bits, opcodes, fragmentation,
//! UTF-8, close handling and limits. Every case runs on its own connection
//! with a time bound; [`runner::run`] runs several at once and
//! [`report`] prints the table.
//!
//! The `rs-conformance` binary starts the server itself or tests one that
//! is running; see the crate's README.
//!
//! ```no_run
//! use rs_conformance::{RunConfig, Target, Verdict, cases, report, runner};
//!
//! let target = Target::parse("ws://127.0.0.1:9001/echo")?;
//! let cases = cases::all(&cases::Settings::default());
//! let results = runner::run(&target, &cases, &RunConfig::default(), &|_| {});
//! print!("{}", report::table(&results));
//! assert!(results.iter().all(|r| r.verdict != Verdict::Failed));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A single case, against a server of one's own:
//!
//! ```
//! use std::io::{Read, Write};
//! use std::net::TcpListener;
//! use rs_conformance::{Case, Category, Frame, RunConfig, Target, Verdict, handshake, runner};
//!
//! // A "server" that completes the handshake, then answers any frame with close 1002.
//! let listener = TcpListener::bind("127.0.0.1:0")?;
//! let addr = listener.local_addr()?;
//! std::thread::spawn(move || {
//!     let (mut tcp, _) = listener.accept().unwrap();
//!     let mut request = Vec::new();
//!     let mut buf = [0u8; 1024];
//!     while !request.ends_with(b"\r\n\r\n") {
//!         let n = tcp.read(&mut buf).unwrap();
//!         request.extend_from_slice(&buf[..n]);
//!     }
//!     let request = String::from_utf8_lossy(&request).into_owned();
//!     let key = request.lines().find_map(|l| l.strip_prefix("Sec-WebSocket-Key: ")).unwrap();
//!     let response = format!(
//!         "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
//!          Sec-WebSocket-Accept: {}\r\n\r\n",
//!         handshake::accept_for(key)
//!     );
//!     tcp.write_all(response.as_bytes()).unwrap();
//!     let _ = tcp.read(&mut buf);
//!     tcp.write_all(b"\x88\x02\x03\xea").unwrap(); // close 1002
//! });
//!
//! let case = Case::new("opcodes.demo", Category::Opcodes, "opcode 0x3", "close 1002", |s| {
//!     s.send(&[Frame::new(0x3, Vec::new())])?;
//!     s.expect_fail(&[1002])
//! });
//! let target = Target::parse(&format!("ws://{addr}/"))?;
//! let result = runner::run_one(&target, &case, &RunConfig::default());
//! assert_eq!(result.verdict, Verdict::Ok, "{}", result.detail);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod case;
pub mod cases;
pub mod certs;
pub mod frame;
pub mod handshake;
pub mod reader;
pub mod report;
pub mod runner;
pub mod server;
pub mod session;
pub mod stream;
pub mod target;
pub mod tls;

pub use case::{Case, Category};
pub use frame::Frame;
pub use runner::{CaseResult, RunConfig, Verdict};
pub use session::{Check, Expected, Failure, Session};
pub use target::Target;
