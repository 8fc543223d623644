//! What the two peer servers of `bench/compare.sh` share, so that they
//! differ only in their WebSocket library: the command line
//! (`--port N --threads N`), a multi-thread tokio runtime with that many
//! worker threads, a listener on `127.0.0.1` that sets `TCP_NODELAY` on
//! every accepted socket, stopping on SIGTERM or SIGINT, which endpoint a
//! request path names, and the [`Hub`] through which a broadcast message
//! reaches every client.
//!
//! ```
//! use peer_common::{Options, Route};
//!
//! let args = ["--port", "9001", "--threads", "2"].map(String::from);
//! let options = Options::parse(args).unwrap();
//! assert_eq!((options.port, options.threads), (9001, 2));
//! assert_eq!(Route::of("/broadcast"), Route::Broadcast);
//! assert_eq!(Route::of("/echo"), Route::Echo);
//! ```

mod cli;
mod hub;
mod route;
mod server;

pub use cli::{Options, UsageError};
pub use hub::{Gone, Hub, Member};
pub use route::Route;
pub use server::{ServeError, options, run, serve};
