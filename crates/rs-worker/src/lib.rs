//! RingSocket's worker threads: each owns a mio poll, its own listening
//! sockets (one per configured address, bound with `SO_REUSEPORT`), its
//! connections, and for every app one inbound ring (to the app) and one
//! outbound ring (from the app).
//!
//! A connection goes through the HTTP upgrade ([`rs_http`]), then exchanges
//! frames ([`rs_proto`]): complete messages go to the app's inbound ring,
//! pings are answered here, and a client's close frame is answered by its
//! app, behind its replies, and the connection shut down (or by the worker
//! if the app takes too long). What apps send comes back on the outbound rings as ready frames with
//! their recipients; a worker writes each frame to every recipient it holds
//! without copying it per recipient (see `output`). Slow clients, stalled
//! handshakes and unanswered closes are dropped on configured limits.
//!
//! A `wss://` listener wraps each connection in TLS (rustls on `ring`);
//! the state machine reads and writes plaintext through the same byte
//! stream either way (see `transport`). The certificates, chosen by SNI,
//! are one [`TlsConfig`] shared by all workers, and the endpoints one
//! [`Routes`]. A reload prepares the certificates ([`TlsConfig::prepare`])
//! and swaps them with the endpoints in one step ([`Routes::replace_with`]
//! around [`TlsConfig::install`]): a connection takes both at its accept,
//! of one version.
//!
//! Logging goes through `log`: refusals of new connections at `warn`,
//! per-client events (protocol errors, timeouts, clients closed on a
//! limit) at `debug`, details (reads paused and resumed) at `trace`. The
//! daemon's `log_level` names sit one step off below `warn`: its `notice`
//! is `log`'s `Info`, its `info` `Debug` and its `debug` `Trace`.
//!
//! A worker is built from a [`WorkerSetup`] (its listeners, rings and
//! limits: the daemon makes one per worker from the configuration), runs
//! on a thread of its own, and stops through its handle:
//!
//! ```no_run
//! use rs_worker::{Worker, WorkerSetup};
//! # fn setup() -> WorkerSetup { unimplemented!() }
//! let worker = Worker::new(setup()).unwrap();
//! let handle = worker.handle();
//! let thread = std::thread::spawn(move || worker.run());
//! // ... later, at shutdown:
//! handle.stop();
//! thread.join().unwrap().unwrap();
//! ```

mod current;
mod listen;
mod output;
mod routes;
mod sys;
mod ticker;
mod tls;
mod transport;
mod worker;

pub use listen::{BindError, Listener};
pub use routes::{Endpoint, Routes};
pub use tls::{CertError, PreparedCerts, TlsConfig};
pub use worker::{
    AppLink, ConnectionBudget, Limits, Worker, WorkerError, WorkerHandle, WorkerSetup,
};
