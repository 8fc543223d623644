//! Example RingSocket apps, each a `cdylib` example of this package:
//!
//! | app | read mode | what it does |
//! |---|---|---|
//! | `echo` | any | sends every message back to its sender, text as text, binary as binary |
//! | `silly_calc` | bin | the seed's example: sums an `i32` and 1-10 `u16`s (network byte order), sends the `i64` sum to every other client and "笑笑?" to the sender |
//! | `chat` | utf8 | relays each text message as `"<who>: <text>"` to the other clients of the same endpoint, and announces `"<who> joined"` / `"<who> left"`; `<who>` is the name from `?name=`, or the client id |
//! | `broadcast` | any | sends every message to every client of the app, sender included |
//!
//! Build them with `cargo build -p rs-examples --examples`; the shared
//! objects land in `target/debug/examples/` (`libecho.so`, …), where the
//! configurations in `conf/` look for them. The `probe*`, `not_an_app` and
//! `wrong_abi` examples are test apps (the probes for this crate's and the
//! server's integration tests, the other two for its loading tests).
//!
//! `c/echo.c` and `c/silly_calc.c` are the same two apps written in C
//! against `rs-app`'s `include/ringsocket_app.h`; each says how to build it
//! (cargo does not), and `bins/ringsocket/tests/c_apps.rs` runs them.
//!
//! The whole echo app:
//!
//! ```
//! use rs_app::prelude::*;
//!
//! fn echo(rs: &mut Read, payload: &[u8]) -> i32 {
//!     rs.w_bytes(payload);
//!     let kind = rs.read_data_kind();
//!     match rs.to_cur(kind) {
//!         Ok(()) => 0,
//!         Err(e) => e.status(),
//!     }
//! }
//!
//! rs_app! {
//!     init: none,
//!     open: none,
//!     read: any(echo, bytes()),
//!     close: none,
//!     timer: none,
//! }
//! # // What the server calls first: the entry symbol, for the descriptor.
//! # let descriptor = unsafe { &*ringsocket_app_v1() };
//! # assert_eq!(descriptor.abi_version, rs_app::abi::ABI_VERSION);
//! # assert_eq!(descriptor.read_mode, rs_app::abi::READ_ANY);
//! ```
