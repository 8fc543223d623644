//! RingSocket's app side: the C ABI between the server and an app, the Rust
//! SDK apps are written with, the messages on the rings between workers and
//! apps, and (with the default `host` feature) the app thread that loads an
//! app and calls its callbacks.
//!
//! An app is a `cdylib` that depends on this crate without default features
//! and declares itself with [`rs_app!`](crate::rs_app), the seed's `RS_APP`:
//!
//! ```
//! use rs_app::prelude::*;
//!
//! fn echo(rs: &mut Read, payload: &[u8]) -> i32 {
//!     rs.w_bytes(payload);
//!     let kind = rs.read_data_kind();
//!     if rs.to_cur(kind).is_err() { -1 } else { 0 }
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
//!
//! - [`abi`]: the versioned `#[repr(C)]` ABI (documented for C authors in
//!   `docs/app-abi.md`).
//! - [`sdk`] and [`args`]: the callback contexts (each offers exactly the
//!   helpers the seed allows in that callback) and the typed arguments.
//! - [`layout`]: checking read payloads against declared arguments
//!   (close codes 4900, 4901).
//! - [`wire`]: client ids and the inbound/outbound ring message formats.
//! - `host` (feature): loading apps and running app threads.

pub mod abi;
pub mod layout;
pub mod sdk;
pub mod wire;

#[cfg(feature = "host")]
pub mod host;

pub use sdk::args;

/// Everything an app needs: `use rs_app::prelude::*;`.
pub mod prelude {
    pub use crate::args::Elems;
    pub use crate::rs_app;
    pub use crate::sdk::{
        Close, Conf, DataKind, Init, Level, Open, Outbox, Read, SendError, Timer,
    };
    pub use crate::wire::ClientId;
    /// For `write!` into a context or an [`Outbox`].
    pub use std::fmt::Write as _;
}

/// The Rust samples of the app guide (docs/app-guide.md), built and run as
/// doctests so that the guide cannot drift from the SDK.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/app-guide.md")]
pub struct AppGuideSamples;
