//! The Rust app SDK: the `rs_app!` macro, the callback contexts and the
//! typed read arguments.

pub mod args;
mod context;
mod macros;
pub mod request;

pub use context::{Close, Conf, DataKind, Init, Level, Open, Outbox, Read, SendError, Timer};

/// What `rs_app!` expands to calls; not part of the API.
#[doc(hidden)]
pub mod __private {
    use std::any::Any;
    use std::cell::{Cell, RefCell};
    use std::io::Write;
    use std::panic::{AssertUnwindSafe, catch_unwind};
    use std::sync::Once;

    use super::context::{Raw, state_ptr};
    use super::{Close, Init, Level, Open, Read, Timer};
    use crate::abi::{Ctx, STATUS_PANICKED};

    /// The largest state `rs_app!` accepts: `T::default()` is built on the
    /// app thread's stack (2 MiB) before it is moved into the app data
    /// (at least in a debug build), perhaps more than once.
    pub const MAX_STATE_SIZE: usize = 256 << 10;

    /// The longest panic message the guard's log line quotes whole: the
    /// server drops a log line over 1 MiB, and this one must get through.
    const MAX_PANIC_MESSAGE: usize = 4096;

    /// Runs a callback, turning a panic into [`STATUS_PANICKED`] after
    /// logging it: a panic must never unwind into the server's C ABI.
    ///
    /// # Safety
    /// `ctx` is the live context the host passed to the running callback.
    pub unsafe fn guard(ctx: *mut Ctx, callback: &str, f: impl FnOnce() -> i32) -> i32 {
        let log = |message: &str| {
            // SAFETY: per the contract; `()` needs no app data.
            let raw = unsafe { Raw::<()>::new(ctx) };
            raw.log(Level::Error, message);
        };
        match catch_unwind(AssertUnwindSafe(f)) {
            Ok(STATUS_PANICKED) => {
                // The server would take it for a panic and point at a line
                // about it: this is that line.
                log(&format!(
                    "the {callback} callback returned i32::MIN, the status that reports a \
                     panic: taken as one"
                ));
                STATUS_PANICKED
            }
            Ok(status) => status,
            Err(panic) => {
                let message = shortened(panic_message(&*panic));
                // The hook's record of this panic: the latest with its
                // message. (Absent if the hook did not run, for
                // `resume_unwind`; earlier ones are panics the app caught.
                // Not cleared before each callback: thread-locals cost a
                // call in a shared object, a sixtieth of a short echo.)
                let place = PANICS.take().into_iter().rev().find(|(m, _)| *m == message);
                let place = place.map(|(_, place)| place);
                // Logging must not panic again: a panic here would abort,
                // which is still better than unwinding into C.
                log(&format!(
                    "panicked in the {callback} callback: {message}{}",
                    place.unwrap_or_default()
                ));
                // Nor may the payload's drop unwind into C: if it panics
                // too, that second payload is leaked.
                if let Err(again) = catch_unwind(AssertUnwindSafe(|| drop(panic))) {
                    log(&format!(
                        "and dropping that panic's payload panicked: {}",
                        shortened(panic_message(&*again))
                    ));
                    std::mem::forget(again);
                }
                STATUS_PANICKED
            }
        }
    }

    /// `message`, cut after [`MAX_PANIC_MESSAGE`] bytes (at a character's
    /// start) with its length said.
    fn shortened(message: &str) -> std::borrow::Cow<'_, str> {
        if message.len() <= MAX_PANIC_MESSAGE {
            return message.into();
        }
        let mut end = MAX_PANIC_MESSAGE;
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}... ({} bytes in all)", &message[..end], message.len()).into()
    }

    thread_local! {
        /// This is the app's thread, where every callback runs, guarded.
        static APP_THREAD: Cell<bool> = const { Cell::new(false) };
        /// The first and the latest few panics since a guard last caught
        /// one, as the hook saw them: each message and where
        /// (` (at src/lib.rs:12:5)`).
        static PANICS: RefCell<Vec<(String, String)>> = const { RefCell::new(Vec::new()) };
        /// The app's name (the thread's name is the server's, which this
        /// copy of `std` does not see).
        static APP_NAME: RefCell<String> = const { RefCell::new(String::new()) };
    }

    /// Called by init, on the app's thread: the panic hook of the app's copy
    /// of `std` (its own, apart from the server's) says nothing of a panic
    /// on this thread, in a callback, whose guard logs it through the
    /// server's log instead. The default hook would write it to stderr
    /// itself, blocking while that is a pipe nobody reads, with the app's
    /// clients waiting. Other panics (the app's own threads) go to the hook
    /// there was, and so do those no guard will log because the process
    /// aborts after the hook: all of them with `panic = "abort"`, and the
    /// runtime's aborts ([`is_runtime_abort`]), with the panics recorded
    /// before them.
    fn quiet_panics_in_callbacks(app: &str) {
        APP_THREAD.set(true);
        APP_NAME.set(app.to_owned());
        static INSTALLED: Once = Once::new();
        INSTALLED.call_once(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                if !APP_THREAD.get() {
                    return previous(info);
                }
                let place = info
                    .location()
                    .map(|l| format!(" (at {}:{}:{})", l.file(), l.line(), l.column()))
                    .unwrap_or_default();
                let message = shortened(panic_message(info.payload())).into_owned();
                if cfg!(panic = "abort") {
                    return previous(info);
                }
                if is_runtime_abort(&message) {
                    // The process aborts once this returns, and no guard
                    // logs the panics that led here. (Written as the
                    // default hook writes, ignoring errors: a panic here
                    // aborts at once.)
                    let name = APP_NAME.take();
                    for (message, place) in PANICS.take() {
                        let _ = writeln!(
                            std::io::stderr(),
                            "{name}: an earlier panic on this thread (being unwound, or caught \
                             by the app): {message}{place}"
                        );
                    }
                    return previous(info);
                }
                PANICS.with_borrow_mut(|panics| {
                    // The first and the latest few are enough to tell.
                    if panics.len() == 4 {
                        panics.remove(1);
                    }
                    panics.push((message, place));
                });
            }));
        });
    }

    /// Whether `message` is one the Rust runtime panics with right before
    /// it aborts the process (a panic that cannot unwind): a destructor
    /// that panicked while unwinding, a panic out of a function that may
    /// not unwind (an `extern "C" fn`), and the checks of debug builds: an
    /// unsafe function's preconditions, a null or misaligned pointer
    /// dereferenced, an enum made from an invalid value. (The messages of
    /// rustc 1.95's library; `PanicHookInfo::can_unwind` would say it once
    /// stable.)
    fn is_runtime_abort(message: &str) -> bool {
        matches!(
            message,
            "panic in a destructor during cleanup"
                | "panic in a function that cannot unwind"
                | "null pointer dereference occurred"
        ) || [
            "unsafe precondition",
            "misaligned pointer dereference",
            "trying to construct an enum from an invalid value",
            "is_nonoverlapping:",
        ]
        .iter()
        .any(|start| message.starts_with(start))
    }

    fn panic_message(panic: &(dyn Any + Send)) -> &str {
        panic
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("(no message)")
    }

    /// Writes the default state into the app data, then runs the app's init.
    ///
    /// # Safety
    /// `ctx` is the live context of the init callback, whose app data is
    /// `size_of::<S>()` bytes aligned for `S`.
    pub unsafe fn init<S: Default>(
        ctx: *mut Ctx,
        user: Option<fn(&mut Init<'_, S>) -> i32>,
    ) -> i32 {
        // SAFETY: per the contract; `()` needs no app data.
        quiet_panics_in_callbacks(unsafe { Raw::<()>::new(ctx) }.conf().name);
        // SAFETY: per the contract.
        unsafe {
            guard(ctx, "init", || {
                // A state of no bytes is created too: its `Default` and its
                // `Drop` may do things.
                let state = state_ptr::<S>(ctx);
                assert!(
                    !state.is_null(),
                    "the server gave no app data for the declared state"
                );
                state.write(S::default());
                match user {
                    Some(f) => f(&mut Init { raw: Raw::new(ctx) }),
                    None => 0,
                }
            })
        }
    }

    /// What a read callback does with a payload its declared arguments do
    /// not fit, which the server checked against them: impossible unless
    /// the server and this SDK disagree on a layout. Fatal, and said so.
    #[cold]
    pub fn arguments_mismatch<S>(rs: &mut Read<'_, S>) -> i32 {
        rs.log(
            Level::Error,
            "a message that does not fit the declared arguments reached the read callback \
             (the server and the app's SDK disagree on their layout: rebuild the app)",
        );
        -1
    }

    /// Drops the state in place.
    ///
    /// # Safety
    /// `ctx` is the live context of the fini callback, and init wrote the state.
    pub unsafe fn fini<S>(ctx: *mut Ctx) {
        // SAFETY: per the contract.
        unsafe {
            guard(ctx, "fini", || {
                std::ptr::drop_in_place(state_ptr::<S>(ctx));
                0
            });
        }
    }

    /// # Safety
    /// `ctx` is the live context of an open callback.
    pub unsafe fn open<S>(ctx: *mut Ctx, user: fn(&mut Open<'_, S>) -> i32) -> i32 {
        // SAFETY: per the contract.
        unsafe { guard(ctx, "open", || user(&mut Open { raw: Raw::new(ctx) })) }
    }

    /// # Safety
    /// `ctx` is the live context of a close callback.
    pub unsafe fn close<S>(ctx: *mut Ctx, user: fn(&mut Close<'_, S>) -> i32) -> i32 {
        // SAFETY: per the contract.
        unsafe { guard(ctx, "close", || user(&mut Close { raw: Raw::new(ctx) })) }
    }

    /// # Safety
    /// `ctx` is the live context of a timer callback.
    pub unsafe fn timer<S>(ctx: *mut Ctx, user: fn(&mut Timer<'_, S>) -> i32) -> i32 {
        // SAFETY: per the contract.
        unsafe { guard(ctx, "timer", || user(&mut Timer { raw: Raw::new(ctx) })) }
    }

    /// # Safety
    /// `ctx` is the live context of a read callback and `payload` points at
    /// `len` readable bytes (or `len` is 0).
    pub unsafe fn read<S>(
        ctx: *mut Ctx,
        payload: *const u8,
        len: usize,
        call: impl for<'p> FnOnce(&mut Read<'p, S>, &'p [u8]) -> i32,
    ) -> i32 {
        // SAFETY: per the contract.
        unsafe {
            guard(ctx, "read", || {
                let bytes: &[u8] = if len == 0 {
                    &[]
                } else {
                    std::slice::from_raw_parts(payload, len)
                };
                call(&mut Read { raw: Raw::new(ctx) }, bytes)
            })
        }
    }
}
