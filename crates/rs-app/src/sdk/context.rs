//! The contexts callbacks receive: one type per callback, each offering
//! exactly the helpers that the seed allows there, so that a misuse the seed
//! calls a fatal error (replying to the current client from a timer, asking
//! a timer for its client id, sending from init) does not compile.
//!
//! | helper | `Init` | `Open` | `Read` | `Close` | `Timer` |
//! |---|---|---|---|---|---|
//! | `state`, `conf`, `log` | ✓ | ✓ | ✓ | ✓ | ✓ |
//! | `w_*`, `to_single`, `to_multi`, `to_every`, `to_every_except_*` (by id), `close_client`, `split` (the state and an [`Outbox`] with those) | | ✓ | ✓ | ✓ | ✓ |
//! | `client_id`, `endpoint_id` | | ✓ | ✓ | ✓ | |
//! | `to_cur`, `to_every_except_cur`, `client_addr` | | ✓ | ✓ | | |
//! | `subprotocol`, `query`, `header`, `query_param`, `cookie` | | ✓ | | | |
//! | `read_data_kind` | | | ✓ | | |
//!
//! In a close callback the closing client is no longer one of the app's
//! clients: `to_every` skips it, and usually its connection is gone, so
//! sending to its id reaches nobody. A client that sent a close frame is
//! the exception: it waits for the answer, which comes after the close
//! callback, and what the callback sends to its id reaches it first.

use std::fmt;
use std::marker::PhantomData;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::abi::{
    self, Ctx, HostApi, PeerAddr, SEND_INVALID_ARGUMENT, SEND_INVALID_UTF8, SEND_OK,
    SEND_SHUTTING_DOWN, SEND_TOO_LARGE,
};
use crate::wire::ClientId;

/// A host function giving one of an open callback's details.
type OpenDetailFn = unsafe extern "C" fn(*mut Ctx, *mut usize) -> *const u8;
/// The host function giving a request header.
type HeaderFn = unsafe extern "C" fn(*mut Ctx, *const u8, usize, *mut usize) -> *const u8;

/// `Raw::open_detail` for the host function `$field`, added to the table
/// after ABI 1's first version: its offset and its read come from one name.
macro_rules! open_detail {
    ($raw:expr, $field:ident) => {
        $raw.open_detail(std::mem::offset_of!(HostApi, $field), |api| {
            // SAFETY: called only for a table long enough to hold the field.
            unsafe { (*api).$field }
        })
    };
}

/// The kind of a message the app sends or receives (`RS_BIN`, `RS_UTF8`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DataKind {
    /// Binary.
    Bin,
    /// Text: the bytes must be UTF-8.
    Utf8,
}

impl DataKind {
    pub(crate) const fn abi(self) -> u8 {
        match self {
            Self::Bin => abi::DATA_BIN,
            Self::Utf8 => abi::DATA_UTF8,
        }
    }
}

/// A log level (`RS_LOG`), from most to least important.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Something failed.
    Error,
    /// Something looks wrong.
    Warning,
    /// Something normal but significant (the default `log_level`).
    Notice,
    /// Something informative.
    Info,
    /// Detail for debugging.
    Debug,
}

/// Why a message could not be sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendError {
    /// A text message whose bytes are not UTF-8; nothing was sent.
    InvalidUtf8,
    /// Larger than the outbound rings can hold (see `outbound_ring_buf_size`).
    TooLarge,
    /// An argument the server refused: a close code outside 4000-4899
    /// (an id that is no client's cannot be made with this SDK).
    InvalidArgument,
    /// The server is shutting down and a worker no longer takes messages:
    /// its clients did not get this one (a message to clients of several
    /// workers may have reached some of them).
    ShuttingDown,
    /// The server reported a status this SDK does not know.
    Other(i32),
}

impl SendError {
    /// The status for a callback to return after this error: 0 for
    /// `ShuttingDown` (the server stops anyway, and a clean stop should not
    /// end with an app's fatal error), -1 (fatal) for the others, which
    /// are the app's mistakes.
    ///
    /// ```
    /// use rs_app::prelude::*;
    ///
    /// fn echo(rs: &mut Read, payload: &[u8]) -> i32 {
    ///     rs.w_bytes(payload);
    ///     let kind = rs.read_data_kind();
    ///     rs.to_cur(kind).map_or_else(SendError::status, |()| 0)
    /// }
    /// # rs_app! { init: none, open: none, read: any(echo, bytes()), close: none, timer: none }
    /// ```
    pub fn status(self) -> i32 {
        match self {
            Self::ShuttingDown => 0,
            _ => -1,
        }
    }

    fn check(status: i32) -> Result<(), Self> {
        match status {
            SEND_OK => Ok(()),
            SEND_INVALID_UTF8 => Err(Self::InvalidUtf8),
            SEND_TOO_LARGE => Err(Self::TooLarge),
            SEND_INVALID_ARGUMENT => Err(Self::InvalidArgument),
            SEND_SHUTTING_DOWN => Err(Self::ShuttingDown),
            other => Err(Self::Other(other)),
        }
    }
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidUtf8 => f.write_str("text message is not valid UTF-8"),
            Self::TooLarge => f.write_str("message is larger than the outbound rings can hold"),
            Self::InvalidArgument => {
                f.write_str("invalid argument (a close code outside 4000-4899?)")
            }
            Self::ShuttingDown => f.write_str("the server is shutting down"),
            Self::Other(status) => write!(f, "send failed with status {status}"),
        }
    }
}

impl std::error::Error for SendError {}

/// Configuration values an app may read (`rs_get_conf`).
#[derive(Clone, Copy, Debug)]
pub struct Conf<'a> {
    /// The app's configured name.
    pub name: &'a str,
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

/// The host pointers behind every context. Valid for the callback only: the
/// contexts are handed out as `&mut` borrows that cannot outlive it.
pub(crate) struct Raw<'a, S> {
    ctx: *mut Ctx,
    /// The host's table, read field by field (`(*api).write`), never made a
    /// `&HostApi`: an older server's table is shorter than this SDK's type.
    /// The fields up to `log` are in every table of ABI 1.
    api: *const HostApi,
    state: *mut S,
    _callback: PhantomData<&'a mut S>,
}

/// Where the app's state `S` lives: in the app data, or, for a type of no
/// bytes (for which the server gives no app data), at a dangling address,
/// which is where every value of such a type may be.
///
/// # Safety
/// `ctx` is the live context the host passed to the running callback.
pub(crate) unsafe fn state_ptr<S>(ctx: *mut Ctx) -> *mut S {
    if size_of::<S>() == 0 {
        return std::ptr::NonNull::<S>::dangling().as_ptr();
    }
    // SAFETY: a host function called with its own live context.
    unsafe { ((*(*ctx).api).app_data)(ctx) }.cast::<S>()
}

impl<'a, S> Raw<'a, S> {
    /// # Safety
    /// `ctx` is the live context the host passed to the running callback,
    /// and the app data was initialised with an `S` (by the init trampoline).
    pub(crate) unsafe fn new(ctx: *mut Ctx) -> Self {
        // SAFETY: per the contract, `ctx` and its `api` are valid for the callback.
        let api = unsafe { (*ctx).api };
        // SAFETY: per the contract.
        let state = unsafe { state_ptr::<S>(ctx) };
        Self {
            ctx,
            api,
            state,
            _callback: PhantomData,
        }
    }

    /// The host pointers without the state, for an [`Outbox`] lent
    /// beside it.
    fn without_state(&self) -> Raw<'a, ()> {
        Raw {
            ctx: self.ctx,
            api: self.api,
            state: std::ptr::null_mut(),
            _callback: PhantomData,
        }
    }

    fn state(&mut self) -> &mut S {
        assert!(
            !self.state.is_null(),
            "the server gave no app data for the declared state"
        );
        // SAFETY: the app data holds an initialised `S` (written by the init
        // trampoline before any other callback), only this thread touches
        // it, and `&mut self` makes this borrow unique for its lifetime.
        unsafe { &mut *self.state }
    }

    pub(crate) fn conf(&self) -> Conf<'_> {
        // SAFETY: host call with the live context; the returned struct and
        // the name it points at live as long as the app is loaded.
        let conf = unsafe { &*((*self.api).conf)(self.ctx) };
        // SAFETY: as above; the host wrote the name from a Rust `str`.
        let name = unsafe { std::slice::from_raw_parts(conf.name, conf.name_len) };
        Conf {
            name: std::str::from_utf8(name).unwrap_or("?"),
            worker_c: conf.worker_c,
            max_ws_msg_size: conf.max_ws_msg_size,
            wbuf_size: conf.wbuf_size,
            fd_alloc_c: conf.fd_alloc_c,
            shutdown_wait_ws: conf.shutdown_wait_ws,
        }
    }

    pub(crate) fn log(&self, level: Level, message: &str) {
        let level = match level {
            Level::Error => abi::LOG_ERROR,
            Level::Warning => abi::LOG_WARNING,
            Level::Notice => abi::LOG_NOTICE,
            Level::Info => abi::LOG_INFO,
            Level::Debug => abi::LOG_DEBUG,
        };
        // SAFETY: host call with the live context and a valid byte slice.
        unsafe { ((*self.api).log)(self.ctx, level, message.as_ptr(), message.len()) }
    }

    fn write(&mut self, bytes: &[u8]) {
        // SAFETY: host call with the live context and a valid byte slice.
        unsafe { ((*self.api).write)(self.ctx, bytes.as_ptr(), bytes.len()) }
    }

    fn send(&mut self, kind: DataKind, target: u8, ids: &[ClientId]) -> Result<(), SendError> {
        // SAFETY: host call with the live context; `ClientId` is a
        // `repr(transparent)` `NonZeroU64`, laid out as a `u64`, so the id
        // slice is a valid `count`-long array of `u64`.
        let status = unsafe {
            ((*self.api).send)(self.ctx, kind.abi(), target, ids.as_ptr().cast(), ids.len())
        };
        // SEND_NO_CURRENT_CLIENT and SEND_NOT_AVAILABLE only through a host
        // bug (the types rule them out): `Other`, as any unknown status.
        SendError::check(status)
    }

    fn close_client(&mut self, client: ClientId, code: u16) -> Result<(), SendError> {
        // SAFETY: host call with the live context.
        SendError::check(unsafe { ((*self.api).close_client)(self.ctx, client.get(), code) })
    }

    fn client_id(&self) -> ClientId {
        // SAFETY: host call with the live context.
        let id = unsafe { ((*self.api).client_id)(self.ctx) };
        ClientId::from_u64(id).expect("the server gives open, read and close callbacks a client")
    }

    fn endpoint_id(&self) -> u16 {
        // SAFETY: host call with the live context.
        let id = unsafe { ((*self.api).endpoint_id)(self.ctx) };
        u16::try_from(id).expect("the server gives open, read and close callbacks an endpoint")
    }

    fn subprotocol(&self) -> Option<&str> {
        open_detail!(self, subprotocol)
    }

    fn query(&self) -> Option<&str> {
        open_detail!(self, query)
    }

    /// An open callback's detail from the host function at `offset` in the
    /// table, which `field` reads, if the table is long enough to have it
    /// (see [`open_detail!`]).
    fn open_detail(
        &self,
        offset: usize,
        field: impl FnOnce(*const HostApi) -> OpenDetailFn,
    ) -> Option<&str> {
        if !self.table_has(offset + size_of::<OpenDetailFn>()) {
            return None;
        }
        let get = field(self.api);
        let mut len = 0;
        // SAFETY: host call with the live context and a valid out pointer.
        let start = unsafe { get(self.ctx, &mut len) };
        if start.is_null() {
            return None;
        }
        // SAFETY: the host returns `len` readable bytes that stay put until
        // the callback returns, which `&self` does not outlive.
        let bytes = unsafe { std::slice::from_raw_parts(start, len) };
        std::str::from_utf8(bytes).ok()
    }

    fn header(&self, name: &str) -> Option<&[u8]> {
        if !self.table_has(std::mem::offset_of!(HostApi, header) + size_of::<HeaderFn>()) {
            return None;
        }
        let mut len = 0;
        // SAFETY: the table holds the field (checked above); a host call
        // with the live context, `name`'s bytes and a valid out pointer.
        let start = unsafe { ((*self.api).header)(self.ctx, name.as_ptr(), name.len(), &mut len) };
        if start.is_null() {
            return None;
        }
        // SAFETY: the host returns `len` readable bytes that stay put until
        // the callback returns, which `&self` does not outlive.
        Some(unsafe { std::slice::from_raw_parts(start, len) })
    }

    /// Whether the host's table is at least `end` bytes long: a server
    /// older than a function appended to it has a shorter one, and the
    /// function must not be read.
    fn table_has(&self, end: usize) -> bool {
        // SAFETY: `size` is in the table of every version.
        let size = unsafe { (*self.api).size } as usize;
        size >= end
    }

    fn client_addr(&self) -> SocketAddr {
        let mut addr = PeerAddr::default();
        // SAFETY: host call with the live context and a valid out pointer.
        let status = unsafe { ((*self.api).client_addr)(self.ctx, &mut addr) };
        assert_eq!(
            status, 0,
            "the server gives open and read callbacks an address"
        );
        let ip = if addr.version == 4 {
            IpAddr::V4(Ipv4Addr::new(
                addr.ip[0], addr.ip[1], addr.ip[2], addr.ip[3],
            ))
        } else {
            IpAddr::V6(Ipv6Addr::from(addr.ip))
        };
        SocketAddr::new(ip, addr.port)
    }

    fn read_data_kind(&self) -> DataKind {
        // SAFETY: host call with the live context.
        match unsafe { ((*self.api).read_data_kind)(self.ctx) } {
            k if k == i32::from(abi::DATA_UTF8) => DataKind::Utf8,
            _ => DataKind::Bin,
        }
    }
}

macro_rules! context {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        pub struct $name<'a, S = ()> {
            pub(crate) raw: Raw<'a, S>,
        }

        impl<'a, S> $name<'a, S> {
            /// The app's state (declared with `state:` in `rs_app!`, the
            /// seed's app data); `()` if none was declared.
            pub fn state(&mut self) -> &mut S {
                self.raw.state()
            }

            /// The configuration values an app may read (`rs_get_conf`).
            pub fn conf(&self) -> Conf<'_> {
                self.raw.conf()
            }

            /// Logs `message` through the server's log, prefixed with the
            /// app's name (`RS_LOG`).
            pub fn log(&self, level: Level, message: &str) {
                self.raw.log(level, message)
            }
        }
    };
}

context!(
    /// The context of the init callback: configuration and state only.
    Init
);
context!(
    /// The context of the open callback: a client just connected.
    Open
);
context!(
    /// The context of a read callback: a client sent a message.
    Read
);
context!(
    /// The context of the close callback: a client is gone.
    Close
);
context!(
    /// The context of the timer callback: no current client.
    Timer
);

macro_rules! writers {
    ($($name:ident, $hton:ident: $t:ty, $seed:literal;)*) => {$(
        #[doc = concat!("Appends a `", stringify!($t), "` in native byte order (`rs_w_", $seed, "`).")]
        pub fn $name(&mut self, value: $t) {
            self.raw.write(&value.to_ne_bytes())
        }

        #[doc = concat!("Appends a `", stringify!($t), "` in network byte order (`rs_w_", $seed, "_hton`).")]
        pub fn $hton(&mut self, value: $t) {
            self.raw.write(&value.to_be_bytes())
        }
    )*};
}

/// The writers and the sends by id, alike on every context that sends and
/// on [`Outbox`].
macro_rules! io_methods {
    () => {
        /// Appends bytes to the write buffer (`rs_w_p`).
        pub fn w_bytes(&mut self, bytes: &[u8]) {
            self.raw.write(bytes)
        }

        /// Appends a string's bytes, without a terminator (`rs_w_str`).
        pub fn w_str(&mut self, text: &str) {
            self.raw.write(text.as_bytes())
        }

        /// Appends one byte (`rs_w_uint8`).
        pub fn w_u8(&mut self, value: u8) {
            self.raw.write(&[value])
        }

        /// Appends one byte (`rs_w_int8`).
        pub fn w_i8(&mut self, value: i8) {
            self.raw.write(&value.to_ne_bytes())
        }

        writers! {
            w_u16, w_u16_hton: u16, "uint16";
            w_u32, w_u32_hton: u32, "uint32";
            w_u64, w_u64_hton: u64, "uint64";
            w_i16, w_i16_hton: i16, "int16";
            w_i32, w_i32_hton: i32, "int32";
            w_i64, w_i64_hton: i64, "int64";
        }

        /// Sends the write buffer to one client (`rs_to_single`). An id
        /// whose client has gone reaches nobody.
        pub fn to_single(&mut self, kind: DataKind, client: ClientId) -> Result<(), SendError> {
            self.raw.send(kind, abi::TARGET_SINGLE, &[client])
        }

        /// Sends the write buffer to several clients (`rs_to_multi`).
        pub fn to_multi(&mut self, kind: DataKind, clients: &[ClientId]) -> Result<(), SendError> {
            self.raw.send(kind, abi::TARGET_MULTI, clients)
        }

        /// Sends the write buffer to every client of the app (`rs_to_every`).
        pub fn to_every(&mut self, kind: DataKind) -> Result<(), SendError> {
            self.raw.send(kind, abi::TARGET_EVERY, &[])
        }

        /// Sends the write buffer to every client but one
        /// (`rs_to_every_except_single`).
        pub fn to_every_except_single(
            &mut self,
            kind: DataKind,
            client: ClientId,
        ) -> Result<(), SendError> {
            self.raw
                .send(kind, abi::TARGET_EVERY_EXCEPT_SINGLE, &[client])
        }

        /// Sends the write buffer to every client but some
        /// (`rs_to_every_except_multi`).
        pub fn to_every_except_multi(
            &mut self,
            kind: DataKind,
            clients: &[ClientId],
        ) -> Result<(), SendError> {
            self.raw.send(kind, abi::TARGET_EVERY_EXCEPT_MULTI, clients)
        }

        /// Closes a client with a close frame carrying `code`, which
        /// must be in 4000-4899 (`rs_close_client`, an addition to
        /// the seed's helpers).
        pub fn close_client(&mut self, client: ClientId, code: u16) -> Result<(), SendError> {
            self.raw.close_client(client, code)
        }
    };
}

macro_rules! io {
    ($($name:ident),*) => {$(
        impl<S> $name<'_, S> {
            io_methods!();

            /// The state and an [`Outbox`] at once: what the state holds
            /// (a room's members, say) can then be given to a send, which
            /// `self.to_multi(kind, &self.state().members)` cannot do, the
            /// state borrowing the whole context.
            pub fn split(&mut self) -> (&mut S, Outbox<'_>) {
                let outbox = Outbox {
                    raw: self.raw.without_state(),
                };
                (self.raw.state(), outbox)
            }
        }

        /// `write!` appends to the write buffer, as `w_str` does, without
        /// allocating.
        impl<S> fmt::Write for $name<'_, S> {
            fn write_str(&mut self, text: &str) -> fmt::Result {
                self.w_str(text);
                Ok(())
            }
        }
    )*};
}

io!(Open, Read, Close, Timer);

/// The writers and the sends by id of a callback's context, apart from its
/// state (see `split` on [`Open`], [`Read`], [`Close`] and [`Timer`]). Code
/// that sends from several kinds of callback can take one.
///
/// ```
/// use rs_app::prelude::*;
///
/// #[derive(Default)]
/// struct Room {
///     members: Vec<ClientId>,
/// }
///
/// /// Tells the whole room; callable from open, read, close or the timer.
/// fn announce(out: &mut Outbox, room: &Room, text: &str) -> Result<(), SendError> {
///     out.w_str(text);
///     out.to_multi(DataKind::Utf8, &room.members)
/// }
///
/// fn join(rs: &mut Open<Room>) -> i32 {
///     let me = rs.client_id();
///     let (room, mut out) = rs.split();
///     room.members.push(me);
///     announce(&mut out, room, &format!("{me} joined")).map_or_else(SendError::status, |()| 0)
/// }
/// # fn say(rs: &mut Read<Room>, _: &[u8]) -> i32 { 0 }
/// # rs_app! { state: Room, init: none, open: join, read: any(say, bytes()), close: none, timer: none }
/// ```
pub struct Outbox<'a> {
    raw: Raw<'a, ()>,
}

impl Outbox<'_> {
    io_methods!();
}

/// `write!` appends to the write buffer, as `w_str` does, without
/// allocating.
///
/// ```
/// use rs_app::prelude::*;
///
/// fn join(rs: &mut Open) -> i32 {
///     let me = rs.client_id();
///     let (_, mut out) = rs.split();
///     let _ = write!(out, "{me} joined");
///     out.to_every(DataKind::Utf8).map_or_else(SendError::status, |()| 0)
/// }
/// # fn say(_: &mut Read, _: &[u8]) -> i32 { 0 }
/// # rs_app! { init: none, open: join, read: any(say, bytes()), close: none, timer: none }
/// ```
impl fmt::Write for Outbox<'_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        self.w_str(text);
        Ok(())
    }
}

macro_rules! client {
    ($($name:ident),*) => {$(
        impl<S> $name<'_, S> {
            /// The current client's id (`rs_get_client_id`), always > 0.
            pub fn client_id(&self) -> ClientId {
                self.raw.client_id()
            }

            /// The endpoint the current client connected through
            /// (`rs_get_endpoint_id`).
            pub fn endpoint_id(&self) -> u16 {
                self.raw.endpoint_id()
            }
        }
    )*};
}

client!(Open, Read, Close);

macro_rules! current {
    ($($name:ident),*) => {$(
        impl<S> $name<'_, S> {
            /// Sends the write buffer to the current client (`rs_to_cur`).
            pub fn to_cur(&mut self, kind: DataKind) -> Result<(), SendError> {
                self.raw.send(kind, abi::TARGET_CUR, &[])
            }

            /// Sends the write buffer to every client but the current one
            /// (`rs_to_every_except_cur`).
            pub fn to_every_except_cur(&mut self, kind: DataKind) -> Result<(), SendError> {
                self.raw.send(kind, abi::TARGET_EVERY_EXCEPT_CUR, &[])
            }

            /// The current client's address (`rs_get_client_addr`).
            pub fn client_addr(&self) -> SocketAddr {
                self.raw.client_addr()
            }
        }
    )*};
}

current!(Open, Read);

impl<S> Open<'_, S> {
    /// The subprotocol the handshake chose for this client: the first of
    /// its endpoint's `subprotocols` that the client offered. `None` when
    /// the endpoint lists none or the client offered none of them (or the
    /// server is older than this function).
    pub fn subprotocol(&self) -> Option<&str> {
        self.raw.subprotocol()
    }

    /// The query of the URL the client connected to: what follows `?`, as
    /// sent (usually percent-encoded). `None` when there was none or it was
    /// empty (or the server is older than this function).
    /// Where a browser client can put a token for the app to check.
    pub fn query(&self) -> Option<&str> {
        self.raw.query()
    }

    /// The value of the request header `name` (any case), if the client
    /// sent it and its endpoint lists it in `app_headers`; `None`
    /// otherwise (or if the server is older than this function). Bytes as
    /// sent, without surrounding spaces; a header sent on several lines
    /// is one value (`Cookie` lines joined with `"; "`, others with
    /// `", "`). Where a browser client's cookies reach the app.
    ///
    /// ```
    /// # use rs_app::sdk::Open;
    /// /// The client's address as the proxy in front of the server saw it.
    /// fn forwarded_for<'a, S>(rs: &'a Open<'_, S>) -> Option<&'a [u8]> {
    ///     let list = rs.header("X-Forwarded-For")?;
    ///     // The last entry is the one the proxy added.
    ///     list.rsplit(|&b| b == b',').next().map(<[u8]>::trim_ascii)
    /// }
    /// ```
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.raw.header(name)
    }

    /// The first parameter called `name` of the URL's query, form-decoded
    /// (see [`request::query_param`](super::request::query_param)): where a
    /// browser page puts a token for the app.
    pub fn query_param(&self, name: &str) -> Option<std::borrow::Cow<'_, str>> {
        super::request::query_param(self.query()?, name)
    }

    /// The value of the cookie called `name` (see
    /// [`request::cookie`](super::request::cookie)), if the endpoint lists
    /// `Cookie` in its `app_headers` and the client sent that cookie.
    pub fn cookie(&self, name: &str) -> Option<&[u8]> {
        super::request::cookie(self.header("Cookie")?, name)
    }
}

impl<S> Read<'_, S> {
    /// The kind of the message being read (`rs_get_read_data_kind`); useful
    /// with `any` read callbacks.
    pub fn read_data_kind(&self) -> DataKind {
        self.raw.read_data_kind()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::{AppConf, HostApi};
    use std::ffi::c_void;

    unsafe extern "C" fn write(_: *mut Ctx, _: *const u8, _: usize) {}
    unsafe extern "C" fn send(_: *mut Ctx, _: u8, _: u8, _: *const u64, _: usize) -> i32 {
        0
    }
    unsafe extern "C" fn close_client(_: *mut Ctx, _: u64, _: u16) -> i32 {
        0
    }
    unsafe extern "C" fn client_id(_: *mut Ctx) -> u64 {
        1
    }
    unsafe extern "C" fn int(_: *mut Ctx) -> i32 {
        0
    }
    unsafe extern "C" fn client_addr(_: *mut Ctx, _: *mut PeerAddr) -> i32 {
        0
    }
    unsafe extern "C" fn conf(_: *mut Ctx) -> *const AppConf {
        // Leaked: one small table per call, for the test's few calls.
        Box::leak(Box::new(AppConf {
            name: b"test".as_ptr(),
            name_len: 4,
            worker_c: 1,
            max_ws_msg_size: 1 << 20,
            wbuf_size: 4096,
            fd_alloc_c: 16,
            shutdown_wait_ws: 1,
        }))
    }
    unsafe extern "C" fn app_data(_: *mut Ctx) -> *mut c_void {
        std::ptr::null_mut()
    }
    unsafe extern "C" fn log(_: *mut Ctx, _: u8, _: *const u8, _: usize) {}
    unsafe extern "C" fn subprotocol(_: *mut Ctx, len: *mut usize) -> *const u8 {
        // SAFETY: the SDK passes a valid out pointer.
        unsafe { len.write(2) };
        b"v1".as_ptr()
    }
    unsafe extern "C" fn query(_: *mut Ctx, len: *mut usize) -> *const u8 {
        // SAFETY: the SDK passes a valid out pointer.
        unsafe { len.write(3) };
        b"a=1".as_ptr()
    }
    unsafe extern "C" fn header(
        _: *mut Ctx,
        name: *const u8,
        n: usize,
        len: *mut usize,
    ) -> *const u8 {
        // SAFETY: the SDK passes its name's bytes and a valid out pointer.
        unsafe {
            assert_eq!(std::slice::from_raw_parts(name, n), b"Cookie");
            len.write(4);
        }
        b"s=42".as_ptr()
    }

    /// A host table of `size` bytes whose `subprotocol` answers "v1",
    /// `query` "a=1" and `header` "s=42" for "Cookie".
    fn table(size: usize) -> HostApi {
        HostApi {
            abi_version: abi::ABI_VERSION,
            size: size as u32,
            write,
            send,
            close_client,
            client_id,
            endpoint_id: int,
            client_addr,
            read_data_kind: int,
            conf,
            app_data,
            log,
            subprotocol,
            query,
            header,
        }
    }

    /// The subprotocol, query and cookie a context with a table of `size`
    /// bytes gives.
    fn details(size: usize) -> (Option<String>, Option<String>, Option<Vec<u8>>) {
        let api = table(size);
        let mut ctx = Ctx {
            api: &api,
            host: std::ptr::null_mut(),
        };
        // SAFETY: a context with a valid table, and no state (`()`).
        let raw = unsafe { Raw::<()>::new(&mut ctx) };
        (
            raw.subprotocol().map(str::to_owned),
            raw.query().map(str::to_owned),
            raw.header("Cookie").map(<[u8]>::to_vec),
        )
    }

    #[test]
    fn a_state_of_no_bytes_is_created_before_init_and_dropped_after_fini() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static CREATED: AtomicUsize = AtomicUsize::new(0);
        static DROPPED: AtomicUsize = AtomicUsize::new(0);
        struct Marker;
        impl Default for Marker {
            fn default() -> Self {
                CREATED.fetch_add(1, Ordering::Relaxed);
                Marker
            }
        }
        impl Drop for Marker {
            fn drop(&mut self) {
                DROPPED.fetch_add(1, Ordering::Relaxed);
            }
        }
        let counts = || {
            (
                CREATED.load(Ordering::Relaxed),
                DROPPED.load(Ordering::Relaxed),
            )
        };
        // The server gives an app whose state has no bytes no app data.
        let api = table(size_of::<HostApi>());
        let mut ctx = Ctx {
            api: &api,
            host: std::ptr::null_mut(),
        };
        // SAFETY: a context with a valid table; `Marker` needs no app data.
        let status = unsafe { crate::sdk::__private::init::<Marker>(&mut ctx, None) };
        assert_eq!(status, 0);
        assert_eq!(counts(), (1, 0));
        // SAFETY: as above, after init.
        unsafe { crate::sdk::__private::fini::<Marker>(&mut ctx) };
        assert_eq!(counts(), (1, 1));
    }

    #[test]
    fn a_panic_whose_payload_panics_when_dropped_stays_in_the_app() {
        struct Bomb;
        impl Drop for Bomb {
            fn drop(&mut self) {
                panic!("the payload's drop panicked too");
            }
        }
        let api = table(size_of::<HostApi>());
        let mut ctx = Ctx {
            api: &api,
            host: std::ptr::null_mut(),
        };
        // Unwinding out of `guard` would abort the server from its C ABI
        // callback; here it would fail the test.
        // SAFETY: a context with a valid table.
        let status = unsafe {
            crate::sdk::__private::guard(&mut ctx, "read", || std::panic::panic_any(Bomb))
        };
        assert_eq!(status, abi::STATUS_PANICKED);
    }

    #[test]
    fn open_details_are_asked_only_of_a_table_that_has_them() {
        let (v1, a1) = (Some("v1".to_owned()), Some("a=1".to_owned()));
        let all = (v1.clone(), a1.clone(), Some(b"s=42".to_vec()));
        assert_eq!(details(size_of::<HostApi>()), all);
        // Servers from before the fields: never called.
        assert_eq!(
            details(std::mem::offset_of!(HostApi, header)),
            (v1.clone(), a1, None)
        );
        assert_eq!(
            details(std::mem::offset_of!(HostApi, query)),
            (v1, None, None)
        );
        assert_eq!(
            details(std::mem::offset_of!(HostApi, subprotocol)),
            (None, None, None)
        );
    }
}
