//! `rs-load`: the load generator of RingSocket's benchmarks.
//!
//! It drives a WebSocket server on this machine with many connections from
//! a few threads, each an edge-triggered mio event loop, and measures what
//! the server delivers:
//!
//! - `echo`: a closed loop per connection (send one masked message, wait for
//!   its complete echo, send the next), reporting messages per second and
//!   round-trip latency percentiles from a fixed-bucket [`Histogram`];
//!   every echoed byte is checked.
//! - `broadcast`: each round every client sends one message and receives
//!   all N clients' messages (N² deliveries per round).
//! - `connect`: opening handshakes per second (open, upgrade, close).
//! - `idle`: the server's resident memory per idle connection.
//!
//! Every mode runs over `ws://` or `wss://` (TLS through rustls's sans-IO
//! client, driven by the same event loops, trusting only the CAs given
//! with `--ca`).
//!
//! Sending and receiving messages never allocates: every frame buffer is
//! sized up front, a message differs from the previous one only in its
//! 8-byte counter (masked in place), and server frames are checked as they
//! stream through one read buffer per thread ([`FrameReader`]). Over TLS,
//! rustls allocates inside per record (its encrypted output, and a copy of
//! the plaintext it decrypted); rs-load hands it the same buffers.
//!
//! # Example
//!
//! Parse a command line, then [`run`] it (here against nothing, so it only
//! shows the shape):
//!
//! ```
//! use rs_load::{Command, Options};
//!
//! let args = ["echo", "--url", "ws://127.0.0.1:8080/echo", "--conns", "100", "--size", "20"];
//! match Options::parse(args.map(String::from)) {
//!     Ok(Command::Run(options)) => {
//!         assert_eq!(options.conns, 100);
//!         // rs_load::run(&options, &mut std::io::stdout()) would start the load.
//!     }
//!     Ok(Command::Help) => println!("{}", rs_load::USAGE),
//!     Err(e) => eprintln!("rs-load: {e}"),
//! }
//! ```

mod broadcast;
mod cli;
mod conn;
mod connect;
mod echo;
mod error;
mod frame;
mod handshake;
mod histogram;
mod idle;
mod load_thread;
mod payload;
mod procfs;
mod rng;
mod run;
mod target;
mod tls;
mod transport;

pub use cli::{Command, Mode, Options, USAGE, WsUrl};
pub use error::{CaError, ConnError, LoadError};
pub use frame::{Control, FrameError, FrameReader, FrameSink};
pub use handshake::HandshakeError;
pub use histogram::Histogram;
pub use run::{CpuUse, IdleMemory, Report, run};
