//! The host side of the ABI: the state behind every `Ctx`, and the
//! [`HostApi`] functions apps call with it.

use std::alloc::{Layout, alloc_zeroed, dealloc};
use std::collections::HashSet;
use std::ffi::c_void;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rs_proto::{
    CloseCode, FrameHeader, MAX_HEADER_LEN, Opcode, encode_close, write_header_in_headroom,
};
use rs_ring::{Producer, PushError};

use super::app_log::{self, LogLimit};
use super::closed::ClosedClients;
use super::load::App;
use super::thread::AppSettings;
use crate::abi::{self, AppConf, Ctx, HostApi, PeerAddr};
use crate::wire::{
    AppHeaders, CLIENT_ID_LEN, ClientId, MAX_SLOTS, MAX_WORKERS, OUTBOUND_JOIN_LEN, OpenDetails,
    outbound_len, outbound_lent_len, write_outbound_join, write_outbound_lent,
    write_outbound_parts, write_outbound_reply,
};

/// The shortest echoed payload sent by reference to the inbound ring
/// instead of copied into the outbound one: below it, a copy costs less
/// than the hold that lending takes.
const MIN_LENT: usize = 1024;

/// The most ids a send takes: one per client a server can hold (a longer
/// list, from a count of -1, say, is a mistake, and may not even be a
/// length a slice can have).
const MAX_IDS: usize = MAX_WORKERS as usize * MAX_SLOTS as usize;

/// The longest log line an app may pass (the first `app_log::MAX_LINE`
/// bytes of it are logged); past it, the length is taken for a mistake.
const MAX_LOG_LEN: usize = 1 << 20;

/// Which callback is running; decides which helpers are available.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CallbackKind {
    Init,
    Open,
    Read,
    Close,
    Timer,
    Fini,
}

impl CallbackKind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Init => "init",
            Self::Open => "open",
            Self::Read => "read",
            Self::Close => "close",
            Self::Timer => "timer",
            Self::Fini => "fini",
        }
    }

    /// The statuses the seed allows this callback to return.
    pub(crate) fn allowed(self) -> &'static str {
        match self {
            Self::Open | Self::Read => "0, -1 or 4000-4899",
            Self::Timer => "-1, 0 or a positive number of microseconds",
            Self::Init | Self::Close => "0 or -1",
            // Its status is never checked.
            Self::Fini => "nothing: fini returns no status",
        }
    }
}

/// The client an open, read or close callback is about.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CurrentClient {
    pub(crate) id: ClientId,
    pub(crate) endpoint_id: u16,
    pub(crate) peer: PeerAddr,
    pub(crate) data_kind: u8,
}

/// Everything the host functions reach through `Ctx::host`.
pub(crate) struct HostState {
    pub(crate) name: String,
    /// The app's `close_client_on_panic` (see `AppSettings`).
    pub(crate) close_client_on_panic: bool,
    /// The app's `no_close_cb` (see `AppSettings`).
    pub(crate) no_close_cb: bool,
    /// Apart from the state: apps may keep this pointer from init to fini,
    /// across host calls that each borrow the state mutably.
    conf: Box<AppConf>,
    app_data: Option<(std::ptr::NonNull<u8>, Layout)>,
    /// The write buffer, after `MAX_HEADER_LEN` bytes of headroom for the
    /// frame header, so that a frame is built without moving the payload.
    wbuf: Vec<u8>,
    /// The payload of the running read callback, as the app got it: it stays
    /// in the inbound ring, unchanged, until the callback returns.
    message: (*const u8, usize),
    /// The running read callback's case byte in switch mode (its message
    /// is that byte and the payload), 0 in the other modes.
    case_byte: u8,
    /// A write of bytes that lie inside `message`, not copied (offset,
    /// length): an echo's payload goes from the inbound ring straight to
    /// the outbound one. Copied into `wbuf` if anything is written after it.
    lent: Option<(usize, usize)>,
    /// The writes since the last send added up to more than `max_write`:
    /// their bytes were dropped as they came, and the send is refused.
    overflowed: bool,
    /// The longest payload a send can deliver (the largest message an
    /// outbound ring holds): a longer write can never be sent.
    max_write: usize,
    /// The worker whose inbound ring holds the running read callback's
    /// payload, when that payload may be lent to it (the app thread can
    /// hold it); set while a read callback runs. Only that worker's replies
    /// lend it: the hold is on that worker's ring, and is lifted by how far
    /// that worker has released its outbound ring.
    lend_to: Option<usize>,
    /// Set when the callback lent its payload to a reply: the outbound ring
    /// position after that reply's record. The app thread then holds the
    /// message in its inbound ring until the worker has released that far.
    pub(crate) lent_until: Option<u64>,
    /// Recipient ids of one worker, reused between sends.
    ids: Vec<ClientId>,
    /// The ids an app passed to `send`, reused between sends.
    send_ids: Vec<ClientId>,
    /// The ids of a `TARGET_MULTI` send already listed, reused between
    /// sends.
    send_seen: HashSet<ClientId>,
    /// Close frames, built apart from the write buffer.
    close_frame: Vec<u8>,
    /// The subprotocol and the query of the running open callback's
    /// client ([`SUBPROTOCOL`], [`QUERY`]; null when none): they stay in the
    /// inbound ring until the callback returns.
    open_details: [(*const u8, usize); 2],
    /// The request headers given to the running open callback, likewise
    /// (see `AppHeaders`).
    app_headers: (*const u8, usize),
    callback: Option<CallbackKind>,
    client: Option<CurrentClient>,
    outbound: Vec<Producer>,
    /// When back-pressure was last reported, to log it once per second.
    last_full_warning: Option<Instant>,
    /// The app's log lines this second (see `app_log`).
    pub(crate) log_limit: LogLimit,
    /// The clients the app closed: their messages are read no more.
    pub(crate) closed: ClosedClients,
    /// Set at shutdown: stop waiting for full outbound rings.
    stop: Arc<AtomicBool>,
}

// SAFETY: the raw pointers in a host state point into memory it owns (its
// name, its app data allocation), or, only while a callback runs on the app
// thread (null otherwise), into that thread's inbound rings (`message`,
// `open_details`, `app_headers`). It is built on one thread and then used
// only by the app thread it moves to, with no callback running: moving it
// moves that ownership, and no borrowed pointer goes along.
unsafe impl Send for HostState {}

impl HostState {
    pub(crate) fn new(
        app: &App,
        settings: AppSettings,
        outbound: Vec<Producer>,
        stop: Arc<AtomicBool>,
    ) -> Self {
        let app_data = (app.app_data_size > 0).then(|| {
            let layout = Layout::from_size_align(app.app_data_size, app.app_data_align)
                .expect("checked at load: at most 1 GiB, aligned to a power of two up to 4096");
            // SAFETY: the layout has a non-zero size.
            let data = unsafe { alloc_zeroed(layout) };
            let data = std::ptr::NonNull::new(data)
                .unwrap_or_else(|| std::alloc::handle_alloc_error(layout));
            (data, layout)
        });
        let mut wbuf = Vec::with_capacity(MAX_HEADER_LEN + settings.wbuf_size);
        wbuf.resize(MAX_HEADER_LEN, 0);
        let name = settings.name;
        let max_write = outbound
            .iter()
            .map(Producer::max_message_len)
            .max()
            .unwrap_or(0);
        Self {
            conf: Box::new(AppConf {
                name: name.as_ptr(),
                name_len: name.len(),
                worker_c: settings.worker_c,
                max_ws_msg_size: settings.max_ws_msg_size,
                wbuf_size: settings.wbuf_size as u64,
                fd_alloc_c: settings.fd_alloc_c,
                shutdown_wait_ws: settings.shutdown_wait_ws,
            }),
            name,
            close_client_on_panic: settings.close_client_on_panic,
            no_close_cb: settings.no_close_cb,
            app_data,
            wbuf,
            message: (std::ptr::null(), 0),
            case_byte: 0,
            lent: None,
            overflowed: false,
            max_write,
            lend_to: None,
            lent_until: None,
            ids: Vec::new(),
            send_ids: Vec::new(),
            send_seen: HashSet::new(),
            close_frame: Vec::new(),
            open_details: [(std::ptr::null(), 0); 2],
            app_headers: (std::ptr::null(), 0),
            callback: None,
            client: None,
            outbound,
            last_full_warning: None,
            log_limit: LogLimit::default(),
            closed: ClosedClients::new(settings.worker_c as usize, settings.fd_alloc_c),
            stop,
        }
    }

    /// Runs `f` with a context for `callback` about `client`.
    pub(crate) fn call(
        &mut self,
        callback: CallbackKind,
        client: Option<CurrentClient>,
        f: impl FnOnce(*mut Ctx) -> i32,
    ) -> i32 {
        self.callback = Some(callback);
        self.client = client;
        let mut ctx = Ctx {
            api: &HOST_API,
            host: std::ptr::from_mut(self).cast::<c_void>(),
        };
        let status = f(&mut ctx);
        self.callback = None;
        self.client = None;
        // What the app wrote but did not send (an overflow included) does
        // not leak into the next callback's message.
        self.forget_written();
        self.lend_to = None;
        status
    }

    /// Runs an open callback `f` about `client`, with the handshake's
    /// `details` (none if its notice's were malformed) lent to it until it
    /// returns.
    pub(crate) fn call_open(
        &mut self,
        details: Option<OpenDetails<'_>>,
        client: CurrentClient,
        f: impl FnOnce(*mut Ctx) -> i32,
    ) -> i32 {
        if let Some(details) = details {
            let lend =
                |text: Option<&str>| text.map_or((std::ptr::null(), 0), |t| (t.as_ptr(), t.len()));
            self.open_details = [lend(details.subprotocol), lend(details.query)];
            let headers = details.headers.as_bytes();
            self.app_headers = (headers.as_ptr(), headers.len());
        }
        let status = self.call(CallbackKind::Open, Some(client), f);
        self.open_details = [(std::ptr::null(), 0); 2];
        self.app_headers = (std::ptr::null(), 0);
        status
    }

    /// Makes `client` one of this app's members on its worker, whom "every
    /// client" messages reach, from this point in the worker's ring: called
    /// before the open callback, so that what the app sent every client
    /// before it knew of this one does not reach it (see
    /// [`write_outbound_join`]). At shutdown, with the ring full, it is
    /// given up: the client is going anyway.
    pub(crate) fn join(&mut self, client: ClientId) {
        let worker = usize::from(client.worker());
        if worker >= self.outbound.len() {
            return;
        }
        loop {
            match self.outbound[worker].reserve(OUTBOUND_JOIN_LEN) {
                Ok(mut record) => {
                    write_outbound_join(&mut record, client);
                    record.commit();
                    return;
                }
                Err(PushError::TooLarge { .. }) => return,
                Err(PushError::Full { .. }) => {
                    if !self.wait_for_room(worker) {
                        return;
                    }
                }
            }
        }
    }

    /// Runs a read callback `f` about `client`, with `payload`, the message
    /// it reads, lent to the host until it returns, so that writes of its
    /// bytes need not copy them. In switch mode `payload` follows the
    /// message's `case_byte` (0 in the other modes). A reply may lend the
    /// payload to worker `lend_to` only.
    pub(crate) fn call_read(
        &mut self,
        case_byte: u8,
        payload: &[u8],
        client: CurrentClient,
        lend_to: Option<usize>,
        f: impl FnOnce(*mut Ctx) -> i32,
    ) -> i32 {
        self.message = (payload.as_ptr(), payload.len());
        self.case_byte = case_byte;
        self.lend_to = lend_to;
        let status = self.call(CallbackKind::Read, Some(client), f);
        self.message = (std::ptr::null(), 0);
        status
    }

    /// Whether the running read callback's payload is valid UTF-8 because
    /// its text message was (its worker checked it): the whole message, or
    /// the message less an ASCII case byte. (A non-ASCII one, a UTF-8 lead
    /// byte, leaves a continuation byte in front.) Only while a read
    /// callback runs.
    fn payload_is_checked_text(&self, data_kind: u8) -> bool {
        debug_assert!(!self.message.0.is_null(), "no read callback runs");
        data_kind == abi::DATA_UTF8 && self.case_byte.is_ascii()
    }

    /// Appends `bytes` to what the next send sends. A first write of bytes
    /// from the read's own payload (an echo) is only noted: the send copies
    /// them from the inbound ring into the outbound one directly.
    fn write(&mut self, bytes: &[u8]) {
        // (After an overflow, what is written still stays within
        // `max_write`, and the send refuses it.)
        if self.wbuf.len() == MAX_HEADER_LEN
            && self.lent.is_none()
            && let Some(offset) = self.offset_in_message(bytes)
        {
            self.lent = Some((offset, bytes.len()));
            return;
        }
        self.write_copy(bytes);
    }

    /// [`write`](Self::write)'s copy, out of line: the echo's path above,
    /// inlined into the host function, then needs few registers saved.
    #[inline(never)]
    fn write_copy(&mut self, bytes: &[u8]) {
        if let Some(lent) = self.take_lent() {
            self.wbuf.extend_from_slice(lent);
        }
        if self.wbuf.len() - MAX_HEADER_LEN + bytes.len() > self.max_write {
            self.overflow();
            return;
        }
        self.wbuf.extend_from_slice(bytes);
    }

    /// Drops what was written since the last send, and makes the next send
    /// refuse the buffer with `SEND_TOO_LARGE`: it could never be sent, and
    /// the buffer stays bounded.
    #[cold]
    #[inline(never)]
    fn overflow(&mut self) {
        self.wbuf.truncate(MAX_HEADER_LEN);
        self.wbuf.shrink_to(self.kept_wbuf());
        self.lent = None;
        self.overflowed = true;
    }

    /// The write buffer's capacity outside of bursts: the app's `wbuf_size`.
    fn kept_wbuf(&self) -> usize {
        MAX_HEADER_LEN + usize::try_from(self.conf.wbuf_size).unwrap_or(0)
    }

    /// Whether a burst left anything larger than it started: an outbound
    /// ring, or the write buffer.
    pub(crate) fn has_grown(&self) -> bool {
        self.wbuf.capacity() > self.kept_wbuf() || self.outbound.iter().any(Producer::has_grown)
    }

    /// Gives back what a burst grew and is unused now: the outbound rings
    /// their workers have drained go back to their initial size (see
    /// [`Producer::shrink_if_drained`]), the write buffer to `wbuf_size`,
    /// and when one of them shrank (a burst of long replies ended) the
    /// allocator gives back what it holds free: the copies the workers made
    /// of the replies their clients were slow to take, say, which glibc
    /// would keep. Between callbacks only. Returns whether anything is
    /// still grown.
    pub(crate) fn trim(&mut self) -> bool {
        let wbuf = self.wbuf.capacity();
        self.wbuf.shrink_to(self.kept_wbuf());
        let mut shrank = self.wbuf.capacity() < wbuf;
        for ring in &mut self.outbound {
            shrank |= ring.shrink_if_drained();
        }
        if shrank {
            release_free_heap();
        }
        self.has_grown()
    }

    /// Where `bytes` start in the read's payload, if they lie inside it.
    fn offset_in_message(&self, bytes: &[u8]) -> Option<usize> {
        let (start, len) = self.message;
        let offset = (bytes.as_ptr() as usize).checked_sub(start as usize)?;
        (!start.is_null() && offset.checked_add(bytes.len())? <= len).then_some(offset)
    }

    /// The lent bytes, forgotten here (the slice stays valid for the rest of
    /// the callback).
    fn take_lent<'a>(&mut self) -> Option<&'a [u8]> {
        let (offset, len) = self.lent.take()?;
        // SAFETY: `lent` is set only for bytes inside `message`, the payload
        // of the running read callback, which stays in the inbound ring,
        // unchanged, until the callback returns; `call` clears `lent` and
        // `call_read` `message` before that, and the slice is used only by
        // the host function that took it.
        Some(unsafe { std::slice::from_raw_parts(self.message.0.add(offset), len) })
    }

    /// How far `worker` has released its outbound ring (see
    /// [`Producer::released`]).
    pub(crate) fn outbound_released(&mut self, worker: usize) -> u64 {
        self.outbound[worker].released()
    }

    /// Publishes every outbound message written so far.
    pub(crate) fn flush_outbound(&mut self) {
        for ring in &mut self.outbound {
            ring.flush();
        }
    }

    /// Sends a close frame with `code` to `client`, which closes it (its
    /// messages are read no more); the status of the send (0, or 6 when the
    /// ring stays full at shutdown).
    pub(crate) fn close_client(&mut self, client: ClientId, code: u16) -> i32 {
        self.closed.close(client);
        self.close_frame.clear();
        encode_close(&mut self.close_frame, CloseCode::new(code), "");
        self.push_close_frame(client)
    }

    /// Sends `client` a close frame with `payload` (empty, or a status code,
    /// big-endian, and a reason: the client's own code, to answer its close
    /// frame, or the worker's for a protocol error), behind what the app
    /// sent it before.
    pub(crate) fn answer_close(&mut self, client: ClientId, payload: &[u8]) {
        self.close_frame.clear();
        self.close_frame.extend_from_slice(
            FrameHeader::new(Opcode::Close, true, payload.len() as u64).as_bytes(),
        );
        self.close_frame.extend_from_slice(payload);
        // At shutdown with a full ring it cannot go: the worker closes the
        // connection anyway.
        let _ = self.push_close_frame(client);
    }

    /// Sends the close frame in `close_frame` to `client`, closing it after;
    /// the status of the send.
    fn push_close_frame(&mut self, client: ClientId) -> i32 {
        let frame = std::mem::take(&mut self.close_frame);
        let worker = usize::from(client.worker());
        let status = if worker < self.outbound.len() {
            self.push(worker, abi::TARGET_SINGLE, true, &[client], [&frame, &[]])
        } else {
            abi::SEND_OK
        };
        self.close_frame = frame;
        status
    }

    /// Sends what was written and forgets it, whatever the outcome.
    #[inline(always)]
    fn send(&mut self, data_kind: u8, target: u8, ids: &[ClientId]) -> i32 {
        let status = self.send_buffer(data_kind, target, ids);
        self.forget_written();
        status
    }

    /// Empties the write buffer.
    #[inline(always)]
    fn forget_written(&mut self) {
        self.wbuf.truncate(MAX_HEADER_LEN);
        self.lent = None;
        self.overflowed = false;
    }

    #[inline(always)]
    fn send_buffer(&mut self, data_kind: u8, target: u8, ids: &[ClientId]) -> i32 {
        let opcode = match data_kind {
            abi::DATA_BIN => Opcode::Binary,
            abi::DATA_UTF8 => Opcode::Text,
            _ => return abi::SEND_INVALID_ARGUMENT,
        };
        if self.overflowed {
            return abi::SEND_TOO_LARGE;
        }
        if target == abi::TARGET_CUR
            && self.callback != Some(CallbackKind::Close)
            && let Some(client) = self.client
            && let Some(status) = self.reply(opcode, client.id, client.data_kind)
        {
            return status;
        }
        // The current client as a one-element list, without allocating.
        let current: [ClientId; 1];
        let (target, ids): (u8, &[ClientId]) = match (target, self.client) {
            (abi::TARGET_CUR, Some(client)) if self.callback != Some(CallbackKind::Close) => {
                current = [client.id];
                (abi::TARGET_SINGLE, &current)
            }
            (abi::TARGET_EVERY_EXCEPT_CUR, Some(client))
                if self.callback != Some(CallbackKind::Close) =>
            {
                current = [client.id];
                (abi::TARGET_EVERY_EXCEPT_SINGLE, &current)
            }
            (abi::TARGET_CUR | abi::TARGET_EVERY_EXCEPT_CUR, _) => {
                return abi::SEND_NO_CURRENT_CLIENT;
            }
            (abi::TARGET_EVERY, _) if !ids.is_empty() => return abi::SEND_INVALID_ARGUMENT,
            (abi::TARGET_SINGLE | abi::TARGET_EVERY_EXCEPT_SINGLE, _) if ids.len() != 1 => {
                return abi::SEND_INVALID_ARGUMENT;
            }
            (
                abi::TARGET_SINGLE
                | abi::TARGET_MULTI
                | abi::TARGET_EVERY
                | abi::TARGET_EVERY_EXCEPT_SINGLE
                | abi::TARGET_EVERY_EXCEPT_MULTI,
                _,
            ) => (target, ids),
            _ => return abi::SEND_INVALID_ARGUMENT,
        };
        if let Some(payload) = self.take_lent() {
            if opcode == Opcode::Text && simdutf8::basic::from_utf8(payload).is_err() {
                return abi::SEND_INVALID_UTF8;
            }
            let header = FrameHeader::new(opcode, true, payload.len() as u64);
            return self.deliver(target, ids, [header.as_bytes(), payload]);
        }
        if opcode == Opcode::Text
            && simdutf8::basic::from_utf8(&self.wbuf[MAX_HEADER_LEN..]).is_err()
        {
            return abi::SEND_INVALID_UTF8;
        }
        let mut wbuf = std::mem::take(&mut self.wbuf);
        let status = match write_header_in_headroom(&mut wbuf, MAX_HEADER_LEN, opcode) {
            Ok(start) => self.deliver(target, ids, [&wbuf[start..], &[]]),
            Err(_) => abi::SEND_TOO_LARGE,
        };
        wbuf.truncate(MAX_HEADER_LEN);
        self.wbuf = wbuf;
        status
    }

    /// The most common send, a reply to the current client: its record is
    /// written straight into the outbound ring of the client's worker, the
    /// frame header included. An echo of at least [`MIN_LENT`] bytes is not
    /// copied: the record lends the payload where it lies in the inbound
    /// ring (see `rs_app::wire`), and [`lent_until`](Self::lent_until) tells
    /// the app thread to hold it there. `None` when the ring is full: the
    /// general path then waits for room.
    #[inline(always)]
    fn reply(&mut self, opcode: Opcode, client: ClientId, data_kind: u8) -> Option<i32> {
        let payload: &[u8] = match self.lent {
            // SAFETY: as in `take_lent`: the lent bytes lie inside the
            // running read callback's payload, unchanged until it returns.
            Some((offset, len)) => unsafe {
                std::slice::from_raw_parts(self.message.0.add(offset), len)
            },
            None => &self.wbuf[MAX_HEADER_LEN..],
        };
        if opcode == Opcode::Text
            // The whole payload of a text message is UTF-8 already.
            && !(self.lent == Some((0, self.message.1)) && self.payload_is_checked_text(data_kind))
            && simdutf8::basic::from_utf8(payload).is_err()
        {
            return Some(abi::SEND_INVALID_UTF8);
        }
        // An id of a worker that does not exist reaches nobody.
        let Some(ring) = self.outbound.get_mut(usize::from(client.worker())) else {
            return Some(abi::SEND_OK);
        };
        let header = FrameHeader::new(opcode, true, payload.len() as u64);
        let head = header.as_bytes();
        let copied_len = outbound_len(1, head.len() + payload.len());
        if payload.len() >= MIN_LENT
            && self.lend_to == Some(usize::from(client.worker()))
            && self.lent.is_some()
        {
            // Too large is a matter of the frame's size, lent or copied,
            // not of how far behind the worker is.
            if copied_len > ring.max_message_len() {
                return Some(abi::SEND_TOO_LARGE);
            }
            return match ring.reserve(outbound_lent_len(head.len())) {
                Ok(mut record) => {
                    write_outbound_lent(&mut record, client, head, payload);
                    record.commit();
                    self.lent_until = Some(ring.position());
                    Some(abi::SEND_OK)
                }
                Err(PushError::TooLarge { .. }) => Some(abi::SEND_TOO_LARGE),
                Err(PushError::Full { .. }) => None,
            };
        }
        match ring.reserve(copied_len) {
            Ok(mut record) => {
                write_outbound_reply(&mut record, client, [head, payload]);
                record.commit();
                Some(abi::SEND_OK)
            }
            Err(PushError::TooLarge { .. }) => Some(abi::SEND_TOO_LARGE),
            Err(PushError::Full { .. }) => None,
        }
    }

    /// Puts one frame on the outbound ring of every worker that holds a
    /// recipient, each with the recipients it holds.
    #[inline(always)]
    fn deliver(&mut self, target: u8, ids: &[ClientId], frame: [&[u8]; 2]) -> i32 {
        // The common case, a reply to one client (or to clients of one
        // worker): one ring, the ids as they are.
        if let (abi::TARGET_SINGLE | abi::TARGET_MULTI, Some(first)) = (target, ids.first()) {
            let worker = usize::from(first.worker());
            if ids[1..].iter().all(|id| usize::from(id.worker()) == worker) {
                // An id of a worker that does not exist reaches nobody.
                return if worker >= self.outbound.len() {
                    abi::SEND_OK
                } else if target == abi::TARGET_MULTI {
                    self.push_multi(worker, ids, frame)
                } else {
                    self.push(worker, target, false, ids, frame)
                };
            }
        }
        // All or nothing: a record too large for its worker's ring is
        // refused before any worker has the frame (a list of recipients is
        // split as needed: only one of them needs to fit).
        let frame_len = frame[0].len().saturating_add(frame[1].len());
        for (worker, ring) in self.outbound.iter().enumerate() {
            let count = ids
                .iter()
                .filter(|id| usize::from(id.worker()) == worker)
                .count();
            let count = if target == abi::TARGET_MULTI {
                count.min(1)
            } else {
                count
            };
            if outbound_len(count, frame_len) > ring.max_message_len() {
                return abi::SEND_TOO_LARGE;
            }
        }
        for worker in 0..self.outbound.len() {
            let mut mine = std::mem::take(&mut self.ids);
            mine.clear();
            mine.extend(ids.iter().filter(|id| usize::from(id.worker()) == worker));
            let worker_target = match target {
                abi::TARGET_EVERY => Some(abi::TARGET_EVERY),
                abi::TARGET_SINGLE | abi::TARGET_MULTI if mine.is_empty() => None,
                abi::TARGET_SINGLE => Some(abi::TARGET_SINGLE),
                abi::TARGET_MULTI => Some(abi::TARGET_MULTI),
                // Every client but some: plain "every" where none of them is.
                _ if mine.is_empty() => Some(abi::TARGET_EVERY),
                abi::TARGET_EVERY_EXCEPT_SINGLE => Some(abi::TARGET_EVERY_EXCEPT_SINGLE),
                _ => Some(abi::TARGET_EVERY_EXCEPT_MULTI),
            };
            let status = match worker_target {
                Some(abi::TARGET_MULTI) => self.push_multi(worker, &mine, frame),
                Some(t) => self.push(worker, t, false, &mine, frame),
                None => abi::SEND_OK,
            };
            self.ids = mine;
            if status != abi::SEND_OK {
                return status;
            }
        }
        abi::SEND_OK
    }

    /// A message to the clients `ids` of `worker`: one record, or as many
    /// as it takes when the ids do not fit the ring's largest record with
    /// the frame (a room of many members in a ring sized for one message).
    fn push_multi(&mut self, worker: usize, ids: &[ClientId], frame: [&[u8]; 2]) -> i32 {
        let frame_len = frame[0].len().saturating_add(frame[1].len());
        let max = self.outbound[worker].max_message_len();
        let room = max.saturating_sub(outbound_len(0, frame_len)) / CLIENT_ID_LEN;
        if ids.len() <= room {
            return self.push(worker, abi::TARGET_MULTI, false, ids, frame);
        }
        if room == 0 {
            return abi::SEND_TOO_LARGE;
        }
        for part in ids.chunks(room) {
            let status = self.push(worker, abi::TARGET_MULTI, false, part, frame);
            if status != abi::SEND_OK {
                return status;
            }
        }
        abi::SEND_OK
    }

    /// Writes one outbound message, waiting while the worker's ring is full
    /// (back-pressure: the worker drains it independently).
    #[inline(always)]
    fn push(
        &mut self,
        worker: usize,
        target: u8,
        close_after: bool,
        ids: &[ClientId],
        frame: [&[u8]; 2],
    ) -> i32 {
        let len = outbound_len(ids.len(), frame[0].len().saturating_add(frame[1].len()));
        loop {
            match self.outbound[worker].reserve(len) {
                Ok(mut message) => {
                    if write_outbound_parts(&mut message, target, close_after, ids, frame).is_err()
                    {
                        return abi::SEND_INVALID_ARGUMENT;
                    }
                    message.commit();
                    return abi::SEND_OK;
                }
                Err(PushError::TooLarge { .. }) => return abi::SEND_TOO_LARGE,
                Err(PushError::Full { .. }) => {
                    if !self.wait_for_room(worker) {
                        return abi::SEND_SHUTTING_DOWN;
                    }
                }
            }
        }
    }

    /// Back-pressure: a worker's ring is full. Publishes what is in it and
    /// waits a little for the worker to drain it; `false` at shutdown (the
    /// worker may be gone: do not wait forever).
    #[cold]
    fn wait_for_room(&mut self, worker: usize) -> bool {
        self.outbound[worker].flush();
        // A worker that exited (at shutdown, with no clients left) never
        // makes room: what is for its clients, who are gone, is dropped.
        if self.stop.load(Ordering::Acquire) || self.outbound[worker].is_abandoned() {
            return false;
        }
        let now = Instant::now();
        if self
            .last_full_warning
            .is_none_or(|t| now - t > Duration::from_secs(1))
        {
            log::warn!(
                "app '{}': outbound ring of worker {worker} is full; waiting",
                self.name
            );
            self.last_full_warning = Some(now);
        }
        std::thread::sleep(Duration::from_micros(50));
        true
    }
}

impl Drop for HostState {
    fn drop(&mut self) {
        if let Some((data, layout)) = self.app_data {
            // SAFETY: allocated in `new` with this layout, freed once.
            unsafe { dealloc(data.as_ptr(), layout) };
        }
    }
}

/// Where `HostState::open_details` keeps the subprotocol.
const SUBPROTOCOL: usize = 0;
/// Where `HostState::open_details` keeps the query.
const QUERY: usize = 1;

/// The table every `Ctx` points at.
static HOST_API: HostApi = HostApi {
    abi_version: abi::ABI_VERSION,
    size: size_of::<HostApi>() as u32,
    write: host_write,
    send: host_send,
    close_client: host_close_client,
    client_id: host_client_id,
    endpoint_id: host_endpoint_id,
    client_addr: host_client_addr,
    read_data_kind: host_read_data_kind,
    conf: host_conf,
    app_data: host_app_data,
    log: host_log,
    subprotocol: host_open_detail::<SUBPROTOCOL>,
    query: host_open_detail::<QUERY>,
    header: host_header,
};

/// The host state behind a context.
///
/// # Safety
/// `ctx` is a context built by [`HostState::call`] for the callback that is
/// running: its `host` points at the live `HostState`, which nothing else
/// borrows while the app runs.
unsafe fn host<'a>(ctx: *mut Ctx) -> &'a mut HostState {
    // SAFETY: per the contract.
    unsafe { &mut *(*ctx).host.cast::<HostState>() }
}

/// glibc's `malloc_trim`: gives back to the system the memory the
/// allocator holds free (it returns only the top of a heap by itself).
/// Walks every arena: for when a burst ended, never per message. (The
/// workers do the same when their inbound rings shrink.)
fn release_free_heap() {
    // SAFETY: malloc_trim takes no pointers and may be called from any
    // thread at any time (it locks each arena it walks).
    #[cfg(target_env = "gnu")]
    unsafe {
        libc::malloc_trim(0);
    }
}

unsafe extern "C" fn host_write(ctx: *mut Ctx, bytes: *const u8, len: usize) {
    // SAFETY: called by the app with the context of the running callback.
    let host = unsafe { host(ctx) };
    if len > host.max_write {
        // Never sendable, and (from a length of -1, say) maybe not even
        // a length a slice can have.
        host.overflow();
    } else if len > 0 && !bytes.is_null() {
        // SAFETY: the app passes `len` readable bytes (ABI contract), and
        // `len` is at most a ring's size, below `isize::MAX`.
        host.write(unsafe { std::slice::from_raw_parts(bytes, len) });
    }
}

unsafe extern "C" fn host_send(
    ctx: *mut Ctx,
    data_kind: u8,
    target: u8,
    ids: *const u64,
    count: usize,
) -> i32 {
    // SAFETY: called by the app with the context of the running callback.
    let host = unsafe { host(ctx) };
    // Refused or not, what was written is gone: a later send in the same
    // callback starts afresh.
    if matches!(host.callback, Some(CallbackKind::Init | CallbackKind::Fini)) {
        host.forget_written();
        return abi::SEND_NOT_AVAILABLE;
    }
    if count == 0 || ids.is_null() {
        // The current client, or everyone: no id list to build. A count
        // without its ids is a wrong argument for the targets that take
        // ids (TARGET_EVERY takes none: a count is wrong there too).
        if count != 0 && !matches!(target, abi::TARGET_CUR | abi::TARGET_EVERY_EXCEPT_CUR) {
            host.forget_written();
            return abi::SEND_INVALID_ARGUMENT;
        }
        return host.send(data_kind, target, &[]);
    }
    if count > MAX_IDS {
        host.forget_written();
        return abi::SEND_INVALID_ARGUMENT;
    }
    // SAFETY: the app passes `count` readable ids (ABI contract), and
    // `count` ids take less than `isize::MAX` bytes.
    let raw: &[u64] = unsafe { std::slice::from_raw_parts(ids, count) };
    // Reuse one list between sends: sending must not allocate per message.
    let mut ids = std::mem::take(&mut host.send_ids);
    ids.clear();
    // A client listed twice gets the message once.
    let multi = target == abi::TARGET_MULTI;
    let seen = &mut host.send_seen;
    if multi {
        seen.clear();
    }
    for &id in raw {
        match ClientId::from_u64(id) {
            Some(id) if !multi || seen.insert(id) => ids.push(id),
            Some(_) => {}
            None => {
                host.send_ids = ids;
                host.forget_written();
                return abi::SEND_INVALID_ARGUMENT;
            }
        }
    }
    let status = host.send(data_kind, target, &ids);
    host.send_ids = ids;
    status
}

unsafe extern "C" fn host_close_client(ctx: *mut Ctx, client_id: u64, code: u16) -> i32 {
    // SAFETY: called by the app with the context of the running callback.
    let host = unsafe { host(ctx) };
    if matches!(host.callback, Some(CallbackKind::Init | CallbackKind::Fini)) {
        return abi::SEND_NOT_AVAILABLE;
    }
    match ClientId::from_u64(client_id) {
        Some(client) if abi::close_codes::APP_RANGE.contains(&code) => {
            host.close_client(client, code)
        }
        _ => abi::SEND_INVALID_ARGUMENT,
    }
}

unsafe extern "C" fn host_client_id(ctx: *mut Ctx) -> u64 {
    // SAFETY: called by the app with the context of the running callback.
    unsafe { host(ctx) }.client.map_or(0, |c| c.id.get())
}

unsafe extern "C" fn host_endpoint_id(ctx: *mut Ctx) -> i32 {
    // SAFETY: called by the app with the context of the running callback.
    unsafe { host(ctx) }
        .client
        .map_or(-1, |c| i32::from(c.endpoint_id))
}

unsafe extern "C" fn host_client_addr(ctx: *mut Ctx, addr: *mut PeerAddr) -> i32 {
    // SAFETY: called by the app with the context of the running callback.
    let host = unsafe { host(ctx) };
    match (host.callback, host.client) {
        (Some(CallbackKind::Open | CallbackKind::Read), Some(client)) if !addr.is_null() => {
            // SAFETY: the app passes a writable `PeerAddr` (ABI contract).
            unsafe { addr.write(client.peer) };
            0
        }
        _ => -1,
    }
}

unsafe extern "C" fn host_read_data_kind(ctx: *mut Ctx) -> i32 {
    // SAFETY: called by the app with the context of the running callback.
    let host = unsafe { host(ctx) };
    match (host.callback, &host.client) {
        (Some(CallbackKind::Read), Some(client)) => i32::from(client.data_kind),
        _ => -1,
    }
}

unsafe extern "C" fn host_conf(ctx: *mut Ctx) -> *const AppConf {
    // SAFETY: called by the app with the context of the running callback.
    &*unsafe { host(ctx) }.conf
}

unsafe extern "C" fn host_app_data(ctx: *mut Ctx) -> *mut c_void {
    // SAFETY: called by the app with the context of the running callback.
    unsafe { host(ctx) }
        .app_data
        .map_or(std::ptr::null_mut(), |(data, _)| data.as_ptr().cast())
}

/// `subprotocol` and `query`: the open callback's detail `WHICH` (an
/// index into `HostState::open_details`), none outside open callbacks; its
/// length is written to `len` unless that is null.
unsafe extern "C" fn host_open_detail<const WHICH: usize>(
    ctx: *mut Ctx,
    len: *mut usize,
) -> *const u8 {
    // SAFETY: called by the app with the context of the running callback.
    let host = unsafe { host(ctx) };
    let (start, n) = match host.callback {
        Some(CallbackKind::Open) => host.open_details[WHICH],
        _ => (std::ptr::null(), 0),
    };
    if !len.is_null() {
        // SAFETY: the app passes a writable `usize` or null (ABI contract).
        unsafe { len.write(n) };
    }
    start
}

/// `header`: the value of the request header `name` (`name_len` bytes)
/// that the running open callback's client sent and its endpoint lists,
/// none otherwise (a name that is null or not UTF-8 names none); its length
/// is written to `len` unless that is null.
unsafe extern "C" fn host_header(
    ctx: *mut Ctx,
    name: *const u8,
    name_len: usize,
    len: *mut usize,
) -> *const u8 {
    // SAFETY: called by the app with the context of the running callback.
    let host = unsafe { host(ctx) };
    let value = match (host.callback, host.app_headers) {
        // A name longer than the headers names none of them: not read.
        (Some(CallbackKind::Open), (start, n))
            if !start.is_null() && !name.is_null() && name_len <= n =>
        {
            // SAFETY: lent by `call_open` for this callback: the
            // headers part of its open message, in the inbound ring until
            // the callback returns.
            let bytes = unsafe { std::slice::from_raw_parts(start, n) };
            // SAFETY: the app passes `name_len` readable bytes (ABI
            // contract), and it is at most the headers' length.
            let name = unsafe { std::slice::from_raw_parts(name, name_len) };
            let name = std::str::from_utf8(name).ok();
            AppHeaders::from_bytes(bytes)
                .zip(name)
                .and_then(|(headers, name)| headers.get(name))
        }
        _ => None,
    };
    if !len.is_null() {
        // SAFETY: the app passes a writable `usize` or null (ABI contract).
        unsafe { len.write(value.map_or(0, <[u8]>::len)) };
    }
    value.map_or(std::ptr::null(), <[u8]>::as_ptr)
}

unsafe extern "C" fn host_log(ctx: *mut Ctx, level: u8, message: *const u8, len: usize) {
    // SAFETY: called by the app with the context of the running callback.
    let host = unsafe { host(ctx) };
    let level = match level {
        abi::LOG_ERROR => log::Level::Error,
        abi::LOG_WARNING => log::Level::Warn,
        // `log` has no notice level: each level from notice down is
        // logged one step lower, as the server's own lines are.
        abi::LOG_NOTICE => log::Level::Info,
        abi::LOG_INFO => log::Level::Debug,
        _ => log::Level::Trace,
    };
    if len > MAX_LOG_LEN {
        // No app logs that much: a length gone wrong (-1, say), whose bytes
        // may not all be there to read. Said at error whatever the line's
        // level, within the app's lines a second.
        if host.log_limit.admit(&host.name) {
            log::error!(
                "{}: a log line of {len} bytes, more than {MAX_LOG_LEN}, was dropped",
                host.name
            );
        }
        return;
    }
    if !log::log_enabled!(level) || !host.log_limit.admit(&host.name) {
        return;
    }
    // No bytes without a pointer.
    let len = if message.is_null() { 0 } else { len };
    // Only what is kept is read (a cut may split a character: replaced).
    let kept = len.min(app_log::MAX_LINE);
    let bytes = if kept == 0 {
        &[][..]
    } else {
        // SAFETY: the app passes `len` readable bytes (ABI contract), of
        // which `kept` are read.
        unsafe { std::slice::from_raw_parts(message, kept) }
    };
    let message = String::from_utf8_lossy(bytes);
    let message = app_log::escaped(&message);
    if kept < len {
        log::log!(
            level,
            "{}: {message}… ({} bytes cut)",
            host.name,
            len - kept
        );
    } else {
        log::log!(level, "{}: {message}", host.name);
    }
}
