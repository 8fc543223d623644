//! `rs_app!`: the seed's `RS_APP`, declaring an app's callbacks.

/// Declares a RingSocket app: its state, its five callbacks and how read
/// payloads are laid out. Invoke it exactly once, at the root of a `cdylib`
/// crate. It exports the ABI entry symbol the server loads.
///
/// ```
/// use rs_app::prelude::*;
///
/// // The seed's silly_calc: an i32 and 1 to 10 u16s, in network byte order.
/// fn silly_calc(rs: &mut Read, i32v: i32, u16s: Elems<u16>) -> i32 {
///     let sum = u16s.iter().fold(i64::from(i32v), |sum, v| sum + i64::from(v));
///     rs.w_i64_hton(sum);
///     if rs.to_every_except_cur(DataKind::Bin).is_err() {
///         return -1;
///     }
///     rs.w_str("笑笑");
///     rs.w_u8(b'?');
///     if rs.to_cur(DataKind::Utf8).is_err() { -1 } else { 0 }
/// }
///
/// rs_app! {
///     init: none,
///     open: none,
///     read: bin(silly_calc, ntoh(i32), ntoh(u16; 1..=10)),
///     close: none,
///     timer: none,
/// }
/// ```
///
/// The slots, in this order:
/// - `state: T,` (optional): the app's state, `T: Default`, created before
///   init, reached with `ctx.state()` in every callback, dropped at the end
///   (the seed's `app_data`).
/// - `init:` `none` or `f` with `fn f(&mut Init<T>) -> i32`.
/// - `open:` `none` or `f` with `fn f(&mut Open<T>) -> i32`.
/// - `read:` one of `bin(f, args…)`, `utf8(f, args…)`, `any(f, args…)`, or
///   `switch { 0 => bin(f, args…), 1 => utf8(g, args…), … }` (1 to 255
///   cases). `f` is `fn f(&mut Read<T>, arg…) -> i32`; the argument forms are
///   listed in [`args`](crate::args).
/// - `close:` `none` or `f` with `fn f(&mut Close<T>) -> i32`.
/// - `timer:` `none`, `sleep(f, µs)` or `wake(f, µs)` with
///   `fn f(&mut Timer<T>) -> i32`.
///
/// Return values are the seed's: `0` ok, `-1` fatal (the server stops),
/// `4000..=4899` from open and read closes the client with that code, and
/// from a timer `t > 0` calls it again after `t` µs (`0` stops it).
///
/// The names the app's crate uses do not disturb the expansion (it names
/// `Option`'s variants in full), and a callback may tie its context's
/// lifetime to its arguments':
///
/// ```
/// use rs_app::prelude::*;
///
/// #[allow(dead_code)]
/// enum Auth { None, Some }
/// use Auth::*;
///
/// fn say<'a>(rs: &mut Read<'a>, text: &'a str) -> i32 {
///     rs.w_str(text);
///     if rs.to_cur(DataKind::Utf8).is_err() { -1 } else { 0 }
/// }
///
/// rs_app! { init: none, open: none, read: utf8(say, text()), close: none, timer: none }
/// ```
///
/// The state is built on the app thread's stack before init, so it may take
/// at most 256 KiB; a larger one does not compile:
///
/// ```compile_fail
/// use rs_app::prelude::*;
///
/// struct Big([u8; 300_000]);
/// impl Default for Big {
///     fn default() -> Self { Big([0; 300_000]) }
/// }
///
/// fn ignore(_: &mut Read<Big>, _: &[u8]) -> i32 { 0 }
///
/// rs_app! { state: Big, init: none, open: none, read: bin(ignore, bytes()), close: none, timer: none }
/// ```
///
/// Nor does a timer interval of 0 µs (0 is what a timer returns to stop):
///
/// ```compile_fail
/// use rs_app::prelude::*;
///
/// fn ignore(_: &mut Read, _: &[u8]) -> i32 { 0 }
/// fn tick(_: &mut Timer) -> i32 { 1_000 }
///
/// rs_app! { init: none, open: none, read: bin(ignore, bytes()), close: none, timer: wake(tick, 0) }
/// ```
///
/// A timer has no current client to reply to:
///
/// ```compile_fail
/// use rs_app::prelude::*;
///
/// fn ignore(_: &mut Read, _: &[u8]) -> i32 { 0 }
/// fn tick(rs: &mut Timer) -> i32 {
///     rs.w_str("tick");
///     if rs.to_cur(DataKind::Utf8).is_err() { -1 } else { 1_000 }
/// }
///
/// rs_app! { init: none, open: none, read: bin(ignore, bytes()), close: none, timer: wake(tick, 1_000) }
/// ```
#[macro_export]
macro_rules! rs_app {
    (
        $(state: $state:ty,)?
        // Callbacks as `ident(::ident)*` rather than `path` fragments, so that
        // the helper macros can still match the literal `none`.
        init: $init:ident $(:: $init_rest:ident)*,
        open: $open:ident $(:: $open_rest:ident)*,
        read: $mode:ident $read:tt,
        close: $close:ident $(:: $close_rest:ident)*,
        timer: $timer:ident $(($tcb:path, $tus:expr))? $(,)?
    ) => {
        #[doc(hidden)]
        type __RsAppState = $crate::__rs_state!($($state)?);

        const _: () = ::core::assert!(
            ::core::mem::size_of::<__RsAppState>() <= $crate::sdk::__private::MAX_STATE_SIZE,
            "rs_app!: a state over 256 KiB would be built on the app thread's stack; keep large \
             tables in a Box or a Vec"
        );

        /// The RingSocket app entry point.
        ///
        /// # Safety
        /// Called by the server, which only reads the returned descriptor.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn ringsocket_app_v1() -> *const $crate::abi::AppDescriptor {
            &__RS_APP_DESCRIPTOR
        }

        #[doc(hidden)]
        const __RS_APP_CASES: &[$crate::abi::ReadCase] = $crate::__rs_read_cases!($mode $read);

        #[doc(hidden)]
        static __RS_APP_DESCRIPTOR: $crate::abi::AppDescriptor = $crate::abi::AppDescriptor {
            abi_version: $crate::abi::ABI_VERSION,
            descriptor_size: ::core::mem::size_of::<$crate::abi::AppDescriptor>() as u32,
            init: {
                unsafe extern "C" fn __rs_init_trampoline(ctx: *mut $crate::abi::Ctx) -> i32 {
                    // SAFETY: the server calls this with the init context.
                    unsafe { $crate::sdk::__private::init::<__RsAppState>(ctx, $crate::__rs_option!($init $(:: $init_rest)*)) }
                }
                ::core::option::Option::Some(__rs_init_trampoline)
            },
            open: $crate::__rs_callback!(open, $open $(:: $open_rest)*),
            close: $crate::__rs_callback!(close, $close $(:: $close_rest)*),
            timer: $crate::__rs_timer!(callback $timer $(($tcb, $tus))?),
            fini: {
                unsafe extern "C" fn __rs_fini_trampoline(ctx: *mut $crate::abi::Ctx) {
                    // SAFETY: the server calls this last, after a successful init.
                    unsafe { $crate::sdk::__private::fini::<__RsAppState>(ctx) }
                }
                ::core::option::Option::Some(__rs_fini_trampoline)
            },
            read_mode: $crate::__rs_read_mode!($mode),
            timer_mode: $crate::__rs_timer!(mode $timer $(($tcb, $tus))?),
            reserved: [0; 6],
            timer_interval_us: $crate::__rs_timer!(interval $timer $(($tcb, $tus))?),
            app_data_size: ::core::mem::size_of::<__RsAppState>(),
            app_data_align: ::core::mem::align_of::<__RsAppState>(),
            cases: __RS_APP_CASES.as_ptr(),
            case_count: __RS_APP_CASES.len(),
        };
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __rs_state {
    () => {
        ()
    };
    ($state:ty) => {
        $state
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __rs_option {
    (none) => {
        ::core::option::Option::None
    };
    ($f:path) => {
        ::core::option::Option::Some($f)
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __rs_callback {
    ($which:ident, none) => {
        ::core::option::Option::None
    };
    ($which:ident, $f:path) => {{
        unsafe extern "C" fn __rs_callback_trampoline(ctx: *mut $crate::abi::Ctx) -> i32 {
            // SAFETY: the server calls this with the context of this callback.
            unsafe { $crate::sdk::__private::$which::<__RsAppState>(ctx, $f) }
        }
        ::core::option::Option::Some(__rs_callback_trampoline)
    }};
}

#[doc(hidden)]
#[macro_export]
macro_rules! __rs_timer {
    (callback none) => {
        ::core::option::Option::None
    };
    (mode none) => {
        $crate::abi::TIMER_NONE
    };
    (interval none) => {
        0
    };
    (callback $mode:ident ($f:path, $us:expr)) => {
        $crate::__rs_callback!(timer, $f)
    };
    (mode sleep ($f:path, $us:expr)) => {
        $crate::abi::TIMER_SLEEP
    };
    (mode wake ($f:path, $us:expr)) => {
        $crate::abi::TIMER_WAKE
    };
    (interval $mode:ident ($f:path, $us:expr)) => {{
        const INTERVAL: u64 = $us;
        const _: () = ::core::assert!(
            INTERVAL > 0,
            "rs_app!: the timer interval must be at least 1 µs"
        );
        INTERVAL
    }};
}

#[doc(hidden)]
#[macro_export]
macro_rules! __rs_read_mode {
    (bin) => {
        $crate::abi::READ_BIN
    };
    (utf8) => {
        $crate::abi::READ_UTF8
    };
    (any) => {
        $crate::abi::READ_ANY
    };
    (switch) => {
        $crate::abi::READ_SWITCH
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __rs_switch_kind {
    (bin) => {
        $crate::abi::DATA_BIN
    };
    (utf8) => {
        $crate::abi::DATA_UTF8
    };
    ($other:ident) => {
        compile_error!("rs_app!: switch cases are bin(...) or utf8(...)")
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __rs_data_kind {
    (bin) => {
        $crate::abi::DATA_BIN
    };
    (utf8) => {
        $crate::abi::DATA_UTF8
    };
    (any) => {
        $crate::abi::DATA_ANY
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __rs_read_cases {
    (switch { $($value:literal => $kind:ident ($($case:tt)*)),+ $(,)? }) => {
        &[$($crate::__rs_read_case!($value, $crate::__rs_switch_kind!($kind), $($case)*)),+]
    };
    ($kind:ident ($($case:tt)*)) => {
        &[$crate::__rs_read_case!(0, $crate::__rs_data_kind!($kind), $($case)*)]
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __rs_read_case {
    ($value:literal, $data_kind:expr, $f:path $(, $arg:ident ($($inner:tt)*))* $(,)?) => {{
        // Items in macro_rules expansions are not hygienic: every name here
        // carries a prefix no app function will use.
        const __RS_ARGS: &[$crate::abi::ArgSpec] =
            &[$(<$crate::__rs_arg_type!($arg($($inner)*)) as $crate::args::Arg<'static>>::SPEC),*];
        const _: () = if let ::core::option::Option::Some(problem) =
            $crate::layout::args_problem(__RS_ARGS)
        {
            ::core::panic!("{}", problem)
        };
        unsafe extern "C" fn __rs_read_trampoline(ctx: *mut $crate::abi::Ctx, payload: *const u8, len: usize) -> i32 {
            // SAFETY: the server calls this with the read context and the
            // payload it validated against __RS_ARGS.
            unsafe {
                $crate::sdk::__private::read::<__RsAppState>(ctx, payload, len, |rs, rest| {
                    $crate::__rs_call!(
                        rs, $f, rest, []
                        [__a0 __a1 __a2 __a3 __a4 __a5 __a6 __a7 __a8 __a9 __a10 __a11 __a12 __a13 __a14]
                        $($arg($($inner)*))*
                    )
                })
            }
        }
        $crate::abi::ReadCase {
            value: $value,
            data_kind: $data_kind,
            reserved: [0; 6],
            read: ::core::option::Option::Some(__rs_read_trampoline),
            args: __RS_ARGS.as_ptr(),
            arg_count: __RS_ARGS.len(),
        }
    }};
}

#[doc(hidden)]
#[macro_export]
macro_rules! __rs_call {
    ($rs:ident, $f:path, $rest:ident, [$($done:ident)*] [$next:ident $($names:ident)*]
        $arg:ident($($inner:tt)*) $($more:tt)*) => {{
        let ::core::option::Option::Some(($next, $rest)) =
            <$crate::__rs_arg_type!($arg($($inner)*)) as $crate::args::Arg<'_>>::take($rest)
        else {
            return $crate::sdk::__private::arguments_mismatch($rs);
        };
        $crate::__rs_call!($rs, $f, $rest, [$($done)* $next] [$($names)*] $($more)*)
    }};
    ($rs:ident, $f:path, $rest:ident, [$($done:ident)*] [$($names:ident)*]) => {{
        if !$rest.is_empty() {
            return $crate::sdk::__private::arguments_mismatch($rs);
        }
        $f($rs $(, $done)*)
    }};
}

#[doc(hidden)]
#[macro_export]
macro_rules! __rs_arg_type {
    (net($t:ty; $min:literal ..= $max:literal)) => { $crate::args::NetRange<$t, $min, $max> };
    (ntoh($t:ty; $min:literal ..= $max:literal)) => { $crate::args::NtohRange<$t, $min, $max> };
    (net($t:ty; $n:expr)) => { $crate::args::NetArray<$t, { $n }> };
    (ntoh($t:ty; $n:expr)) => { $crate::args::NtohArray<$t, { $n }> };
    (net($t:ty)) => { $crate::args::Net<$t> };
    (ntoh($t:ty)) => { $crate::args::Ntoh<$t> };
    (str($min:literal ..= $max:literal)) => { $crate::args::Str<$min, $max> };
    (bytes()) => { $crate::args::Bytes };
    (text()) => { $crate::args::Text };
}
