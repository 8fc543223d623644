//! The C ABI between the server and an app, version 1.
//!
//! An app is a shared object that exports [`ENTRY_SYMBOL`], a function
//! taking nothing and returning a pointer to a static [`AppDescriptor`]:
//! which callbacks exist, how read payloads are laid out, the timer, and the
//! size of the app's private data. The server calls the callbacks on the
//! app's own thread with a [`Ctx`], whose [`HostApi`] table is how the app
//! writes, sends, and asks about the current client.
//!
//! Every type here is `#[repr(C)]` with fixed-width fields, so an app can be
//! written in C (`include/ringsocket_app.h`, checked against this module by
//! `tests/c_header.rs`; see `docs/app-abi.md`) as well as with the Rust SDK. A
//! server refuses an app whose `abi_version` or `descriptor_size` differ
//! from its own.

use std::ffi::c_void;

/// The ABI version described by this module.
pub const ABI_VERSION: u32 = 1;

/// The symbol every app exports: `const AppDescriptor *ringsocket_app_v1(void)`.
/// The version is part of the name so that an app built for another ABI is
/// refused by name before any layout is trusted.
pub const ENTRY_SYMBOL: &str = "ringsocket_app_v1";

/// The type of [`ENTRY_SYMBOL`].
pub type EntryFn = unsafe extern "C" fn() -> *const AppDescriptor;

/// An init, open, close or timer callback. Returns a status; see
/// [`AppDescriptor`] for which statuses each callback may return.
pub type Callback = unsafe extern "C" fn(ctx: *mut Ctx) -> i32;

/// A read callback: the payload of one message (after the case byte in
/// switch mode), already validated against the case's [`ArgSpec`]s.
pub type ReadCallback = unsafe extern "C" fn(ctx: *mut Ctx, payload: *const u8, len: usize) -> i32;

/// Called once when the app thread ends, after every other callback, so that
/// the app can drop what it keeps in its app data.
pub type FiniCallback = unsafe extern "C" fn(ctx: *mut Ctx);

/// What an app is made of. Returned by [`ENTRY_SYMBOL`]; must stay valid and
/// unchanged for as long as the shared object is loaded.
///
/// Callback statuses:
/// - init, close: 0 (ok) or -1 (fatal: the server stops).
/// - open, read: 0, -1, or 4000-4899 (close the client with that code).
/// - timer: 0 (do not call again), -1, or `t > 0` (call again in `t` µs).
/// - [`STATUS_PANICKED`] from any: a Rust callback panicked (logged by the SDK).
#[repr(C)]
#[derive(Debug)]
pub struct AppDescriptor {
    /// [`ABI_VERSION`].
    pub abi_version: u32,
    /// `size_of::<AppDescriptor>()` as the app was built.
    pub descriptor_size: u32,
    /// Called once before any client connects.
    pub init: Option<Callback>,
    /// Called when a client completed its handshake.
    pub open: Option<Callback>,
    /// Called when a client's connection ended, for whatever reason.
    pub close: Option<Callback>,
    /// The timer callback; see `timer_mode`.
    pub timer: Option<Callback>,
    /// Called once when the app thread ends.
    pub fini: Option<FiniCallback>,
    /// [`READ_BIN`], [`READ_UTF8`], [`READ_ANY`] or [`READ_SWITCH`].
    pub read_mode: u8,
    /// [`TIMER_NONE`], [`TIMER_SLEEP`] or [`TIMER_WAKE`].
    pub timer_mode: u8,
    /// Zero.
    pub reserved: [u8; 6],
    /// The first timer interval in microseconds (> 0 when a timer is set).
    pub timer_interval_us: u64,
    /// Bytes of zeroed app data the server allocates for the app.
    pub app_data_size: usize,
    /// Their alignment: a power of two, at most 4096.
    pub app_data_align: usize,
    /// The read cases: exactly one unless `read_mode` is [`READ_SWITCH`]
    /// (1 to 255, each with a distinct `value`).
    pub cases: *const ReadCase,
    /// The number of `cases`.
    pub case_count: usize,
}

// SAFETY: a descriptor is immutable static data (the pointers point at other
// immutable statics), so sharing it between threads is sound.
unsafe impl Sync for AppDescriptor {}

/// One read callback and the layout of the payloads it accepts.
#[repr(C)]
#[derive(Debug)]
pub struct ReadCase {
    /// In switch mode, the first payload byte that selects this case.
    pub value: u8,
    /// [`DATA_BIN`], [`DATA_UTF8`] or [`DATA_ANY`]: the message kinds accepted
    /// (others are closed with 4901).
    pub data_kind: u8,
    /// Zero.
    pub reserved: [u8; 6],
    /// The callback; never null (the server refuses a case without one).
    pub read: Option<ReadCallback>,
    /// The arguments, in payload order (at most [`MAX_ARGS`]).
    pub args: *const ArgSpec,
    /// The number of `args`.
    pub arg_count: usize,
}

// SAFETY: as for `AppDescriptor`: immutable static data.
unsafe impl Sync for ReadCase {}

/// One typed argument in a read payload.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArgSpec {
    /// [`ARG_NET`], [`ARG_NTOH`] or [`ARG_STR`].
    pub kind: u8,
    /// [`SHAPE_SCALAR`], [`SHAPE_ARRAY`] or [`SHAPE_RANGE`] (last argument only).
    pub shape: u8,
    /// Bytes per element: 1, 2, 4 or 8 (1 for strings).
    pub elem_size: u8,
    /// Zero.
    pub reserved: u8,
    /// Elements: 1 for a scalar, the count for an array, the minimum for a range.
    pub min: u32,
    /// Elements: equal to `min` except for a range.
    pub max: u32,
}

/// What every callback receives: the host's function table and its state.
#[repr(C)]
#[derive(Debug)]
pub struct Ctx {
    /// The host functions.
    pub api: *const HostApi,
    /// The host's private state; opaque to the app.
    pub host: *mut c_void,
}

/// The functions an app calls through its [`Ctx`] (the seed's helpers).
#[repr(C)]
#[derive(Debug)]
pub struct HostApi {
    /// [`ABI_VERSION`].
    pub abi_version: u32,
    /// `size_of::<HostApi>()` as the host was built.
    pub size: u32,
    /// Appends bytes to the write buffer (`rs_w_p`; every `rs_w_*` is built on it).
    pub write: unsafe extern "C" fn(ctx: *mut Ctx, bytes: *const u8, len: usize),
    /// Sends the write buffer as one message of `data_kind` to `target`
    /// (`rs_to_*`), with `count` client ids at `ids` for the targets that take
    /// them (exactly 1 for the single targets, none for every/cur), and
    /// empties the buffer whatever the outcome. Returns 0 or a `SEND_*` error.
    pub send: unsafe extern "C" fn(
        ctx: *mut Ctx,
        data_kind: u8,
        target: u8,
        ids: *const u64,
        count: usize,
    ) -> i32,
    /// Closes a client with a close frame carrying `code` (4000-4899).
    /// Returns 0 or a `SEND_*` error.
    pub close_client: unsafe extern "C" fn(ctx: *mut Ctx, client_id: u64, code: u16) -> i32,
    /// The current client's id, or 0 in init and timer callbacks.
    pub client_id: unsafe extern "C" fn(ctx: *mut Ctx) -> u64,
    /// The current client's endpoint id, or -1 in init and timer callbacks.
    pub endpoint_id: unsafe extern "C" fn(ctx: *mut Ctx) -> i32,
    /// Writes the current client's address; 0, or -1 outside open and read.
    pub client_addr: unsafe extern "C" fn(ctx: *mut Ctx, addr: *mut PeerAddr) -> i32,
    /// [`DATA_BIN`] or [`DATA_UTF8`] in a read callback, -1 elsewhere.
    pub read_data_kind: unsafe extern "C" fn(ctx: *mut Ctx) -> i32,
    /// The configuration values an app may read.
    pub conf: unsafe extern "C" fn(ctx: *mut Ctx) -> *const AppConf,
    /// The app data (see `app_data_size`), or null if it has none.
    pub app_data: unsafe extern "C" fn(ctx: *mut Ctx) -> *mut c_void,
    /// Logs a UTF-8 message at a `LOG_*` level, prefixed with the app's name.
    pub log: unsafe extern "C" fn(ctx: *mut Ctx, level: u8, message: *const u8, len: usize),
    /// In an open callback, the subprotocol the handshake chose (an ASCII
    /// token, not NUL-terminated), with its length written to `len`; null
    /// (and 0) when it chose none, and outside open callbacks.
    pub subprotocol: unsafe extern "C" fn(ctx: *mut Ctx, len: *mut usize) -> *const u8,
    /// In an open callback, the query of the URL the client connected to
    /// (what follows `?`, as sent: UTF-8, usually percent-encoded, not
    /// NUL-terminated),
    /// with its length written to `len`; null (and 0) when the URL had none
    /// or an empty one, and outside open callbacks.
    pub query: unsafe extern "C" fn(ctx: *mut Ctx, len: *mut usize) -> *const u8,
    /// In an open callback, the value of the request header named by the
    /// `name_len` bytes at `name` (ASCII case-insensitive) if the request
    /// sent it and the endpoint lists it in `app_headers`: bytes as sent,
    /// trimmed, several lines joined (not NUL-terminated), with its length
    /// written to `len` unless that is null; null (and 0) otherwise, and
    /// outside open callbacks. A header sent empty is not null.
    pub header: unsafe extern "C" fn(
        ctx: *mut Ctx,
        name: *const u8,
        name_len: usize,
        len: *mut usize,
    ) -> *const u8,
}

/// A client's address: IPv4 addresses are given as such, not mapped.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PeerAddr {
    /// The address bytes: 4 used for IPv4, 16 for IPv6.
    pub ip: [u8; 16],
    /// The port, in host byte order.
    pub port: u16,
    /// 4 or 6.
    pub version: u8,
    /// Zero.
    pub reserved: u8,
}

/// Configuration values an app may read (`rs_get_conf`).
#[repr(C)]
#[derive(Debug)]
pub struct AppConf {
    /// The app's `name` (UTF-8, not NUL-terminated).
    pub name: *const u8,
    /// Its length in bytes.
    pub name_len: usize,
    /// The number of worker threads.
    pub worker_c: u32,
    /// `max_ws_msg_size`.
    pub max_ws_msg_size: u64,
    /// The app's `wbuf_size`.
    pub wbuf_size: u64,
    /// `fd_alloc_c`.
    pub fd_alloc_c: u64,
    /// `shutdown_wait_ws`, in seconds.
    pub shutdown_wait_ws: u32,
}

/// Read mode: binary messages only.
pub const READ_BIN: u8 = 1;
/// Read mode: text messages only.
pub const READ_UTF8: u8 = 2;
/// Read mode: both kinds.
pub const READ_ANY: u8 = 3;
/// Read mode: the first payload byte selects one of up to 255 cases.
pub const READ_SWITCH: u8 = 4;

/// Timer mode: no timer.
pub const TIMER_NONE: u8 = 0;
/// Timer mode: the timer runs only while messages arrive; an idle app sleeps.
pub const TIMER_SLEEP: u8 = 1;
/// Timer mode: the timer runs on time even when the app is idle.
pub const TIMER_WAKE: u8 = 2;

/// Message kind: binary (`RS_BIN`).
pub const DATA_BIN: u8 = 1;
/// Message kind: text (`RS_UTF8`).
pub const DATA_UTF8: u8 = 2;
/// Read case kind: either.
pub const DATA_ANY: u8 = 3;

/// Argument kind: integers as sent, without byte-order conversion (`RS_NET`).
pub const ARG_NET: u8 = 1;
/// Argument kind: integers converted from network byte order (`RS_NTOH`).
pub const ARG_NTOH: u8 = 2;
/// Argument kind: a UTF-8 string (`RS_STR`).
pub const ARG_STR: u8 = 3;

/// Argument shape: one value.
pub const SHAPE_SCALAR: u8 = 1;
/// Argument shape: exactly `min` elements.
pub const SHAPE_ARRAY: u8 = 2;
/// Argument shape: `min` to `max` elements; the last argument only.
pub const SHAPE_RANGE: u8 = 3;

/// The most arguments a read case may declare (as in the seed).
pub const MAX_ARGS: usize = 15;

/// Send target: the client in `ids[0]`.
pub const TARGET_SINGLE: u8 = 1;
/// Send target: the clients in `ids` (once each, however often listed).
pub const TARGET_MULTI: u8 = 2;
/// Send target: the current client (open and read callbacks).
pub const TARGET_CUR: u8 = 3;
/// Send target: every client of the app.
pub const TARGET_EVERY: u8 = 4;
/// Send target: every client but `ids[0]`.
pub const TARGET_EVERY_EXCEPT_SINGLE: u8 = 5;
/// Send target: every client but those in `ids`.
pub const TARGET_EVERY_EXCEPT_MULTI: u8 = 6;
/// Send target: every client but the current one (open and read callbacks).
pub const TARGET_EVERY_EXCEPT_CUR: u8 = 7;

/// `send`/`close_client` succeeded.
pub const SEND_OK: i32 = 0;
/// No current client here (init, close or timer callback).
pub const SEND_NO_CURRENT_CLIENT: i32 = 1;
/// A text message whose bytes are not UTF-8.
pub const SEND_INVALID_UTF8: i32 = 2;
/// A message larger than the outbound rings can ever hold.
pub const SEND_TOO_LARGE: i32 = 3;
/// An unknown target, data kind, or close code, or ids missing.
pub const SEND_INVALID_ARGUMENT: i32 = 4;
/// Sending is not available in this callback (init).
pub const SEND_NOT_AVAILABLE: i32 = 5;
/// The server is shutting down and a worker's ring stayed full: the
/// clients of that worker (and of the workers after it) did not get the
/// message; those of workers before it, for a message to several, did.
pub const SEND_SHUTTING_DOWN: i32 = 6;

/// The status an SDK returns when a callback panicked (and it logged why).
pub const STATUS_PANICKED: i32 = i32::MIN;

/// Log level: error.
pub const LOG_ERROR: u8 = 0;
/// Log level: warning.
pub const LOG_WARNING: u8 = 1;
/// Log level: notice.
pub const LOG_NOTICE: u8 = 2;
/// Log level: info.
pub const LOG_INFO: u8 = 3;
/// Log level: debug.
pub const LOG_DEBUG: u8 = 4;

/// Close codes the server uses itself when a payload does not fit the app.
pub mod close_codes {
    /// 4900: the payload size does not match the read callback's arguments.
    pub const WRONG_SIZE: u16 = 4900;
    /// 4901: a binary message for a text callback or vice versa (or a string
    /// argument that is not UTF-8).
    pub const WRONG_DATA_KIND: u16 = 4901;
    /// 4902: the first byte selects no case of a switch.
    pub const UNKNOWN_CASE: u16 = 4902;
    /// The codes apps may use: 4000-4899.
    pub const APP_RANGE: std::ops::RangeInclusive<u16> = 4000..=4899;
}
