//! Loading an app's shared object and checking its descriptor.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::abi::{
    self, ABI_VERSION, AppDescriptor, Callback, ENTRY_SYMBOL, EntryFn, FiniCallback, ReadCallback,
};
use crate::layout::{LayoutError, PayloadCheck, check_args};

/// An app that could not be loaded; names the file and the reason.
#[derive(Debug)]
pub struct LoadError {
    /// The `app_path` from the configuration.
    pub path: PathBuf,
    /// What went wrong.
    pub kind: LoadErrorKind,
}

/// Why an app could not be loaded.
#[derive(Debug)]
pub enum LoadErrorKind {
    /// No file at the path.
    NotFound,
    /// The dynamic loader refused the file (not a shared object, wrong
    /// architecture, missing dependencies…); holds its message.
    NotLoadable(String),
    /// The file does not export [`ENTRY_SYMBOL`]: not a RingSocket app, or one
    /// built for another ABI version.
    MissingEntry,
    /// The entry function returned a null descriptor.
    NullDescriptor,
    /// The app was built for another ABI version.
    AbiVersion {
        /// The version in the app's descriptor.
        app: u32,
        /// The version this server speaks.
        server: u32,
    },
    /// The descriptor's size differs from this server's.
    DescriptorSize {
        /// The size the app declares.
        app: u32,
        /// The size this server expects.
        server: u32,
    },
    /// A descriptor field that makes no sense; says which and why.
    Invalid(String),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.path.display())?;
        match &self.kind {
            LoadErrorKind::NotFound => f.write_str("no such file"),
            LoadErrorKind::NotLoadable(reason) => {
                write!(f, "cannot be loaded as a shared object: {reason}")?;
                // Most often a static library or an rlib named by mistake.
                if reason.contains("invalid ELF header") || reason.contains("file too short") {
                    f.write_str(
                        " (an app is a shared object: build a Rust app with crate-type = \
                         [\"cdylib\"] and name its lib*.so, a C app with -shared -fPIC)",
                    )?;
                }
                Ok(())
            }
            LoadErrorKind::MissingEntry => write!(
                f,
                "does not export `{ENTRY_SYMBOL}`: not a RingSocket app for ABI version {ABI_VERSION} (Rust apps declare themselves with rs_app!; a C app defines `{ENTRY_SYMBOL}` with default visibility, extern \"C\" in C++)"
            ),
            LoadErrorKind::NullDescriptor => write!(f, "`{ENTRY_SYMBOL}` returned no descriptor"),
            LoadErrorKind::AbiVersion { app, server } => write!(
                f,
                "app built for ABI version {app}, this server speaks version {server}: rebuild the app against this server's rs-app"
            ),
            LoadErrorKind::DescriptorSize { app, server } => write!(
                f,
                "app descriptor is {app} bytes, this server expects {server}: rebuild the app against this server's rs-app"
            ),
            LoadErrorKind::Invalid(reason) => write!(f, "invalid app descriptor: {reason}"),
        }
    }
}

impl std::error::Error for LoadError {}

/// One read case, copied out of the descriptor.
#[derive(Clone, Debug)]
pub(crate) struct Case {
    pub(crate) data_kind: u8,
    pub(crate) read: ReadCallback,
    /// The payload check for its arguments.
    pub(crate) check: PayloadCheck,
}

/// A loaded, checked app. The callbacks stay valid while it lives.
pub struct App {
    pub(crate) init: Option<Callback>,
    pub(crate) open: Option<Callback>,
    pub(crate) close: Option<Callback>,
    pub(crate) timer: Option<Callback>,
    pub(crate) fini: Option<FiniCallback>,
    pub(crate) read_mode: u8,
    pub(crate) timer_mode: u8,
    pub(crate) timer_interval_us: u64,
    pub(crate) app_data_size: usize,
    pub(crate) app_data_align: usize,
    /// Indexed by case value in switch mode; one entry at 0 otherwise.
    pub(crate) cases: Box<[Option<Case>; 256]>,
    pub(crate) path: PathBuf,
    // Last: the library must be unloaded after everything pointing into it.
    _library: libloading::Library,
}

impl fmt::Debug for App {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("App")
            .field("path", &self.path)
            .field("read_mode", &self.read_mode)
            .finish_non_exhaustive()
    }
}

/// The largest app data an app may ask for.
const MAX_APP_DATA: usize = 1 << 30;
/// The largest alignment app data may ask for: a page. Together with
/// [`MAX_APP_DATA`] this keeps every app data layout one the allocator takes.
const MAX_APP_DATA_ALIGN: usize = 4096;

impl App {
    /// Loads the shared object at `path` and checks its descriptor.
    ///
    /// Loading runs the library's initialisers: only load files you trust,
    /// which the operator vouches for by listing them in the configuration.
    pub fn load(path: &Path) -> Result<App, LoadError> {
        let error = |kind| LoadError {
            path: path.to_owned(),
            kind,
        };
        if !path.exists() {
            return Err(error(LoadErrorKind::NotFound));
        }
        // Every symbol is resolved now (RTLD_NOW): one the app uses but
        // nothing defines is refused here, not found missing by the dynamic
        // loader in the middle of a callback, which ends the process.
        let flags = libloading::os::unix::RTLD_NOW | libloading::os::unix::RTLD_LOCAL;
        // SAFETY: loading a library runs its initialisers; the operator named
        // this file in the configuration as an app to run in this process.
        let library = unsafe { libloading::os::unix::Library::open(Some(path), flags) }
            .map(libloading::Library::from)
            .map_err(|e| error(LoadErrorKind::NotLoadable(error_chain(&e))))?;
        // SAFETY: the symbol is declared by the ABI with exactly this type.
        let entry = unsafe { library.get::<EntryFn>(ENTRY_SYMBOL.as_bytes()) }
            .map_err(|_| error(LoadErrorKind::MissingEntry))?;
        // SAFETY: calling the ABI entry function, which takes no arguments.
        let descriptor = unsafe { entry() };
        if descriptor.is_null() {
            return Err(error(LoadErrorKind::NullDescriptor));
        }
        // SAFETY: non-null; the ABI says it points at a static descriptor
        // that lives as long as the library. Only the version and size are
        // read before they are checked, and they are the first fields of
        // every version.
        let (abi_version, descriptor_size) =
            unsafe { ((*descriptor).abi_version, (*descriptor).descriptor_size) };
        if abi_version != ABI_VERSION {
            return Err(error(LoadErrorKind::AbiVersion {
                app: abi_version,
                server: ABI_VERSION,
            }));
        }
        let server_size = size_of::<AppDescriptor>() as u32;
        if descriptor_size != server_size {
            return Err(error(LoadErrorKind::DescriptorSize {
                app: descriptor_size,
                server: server_size,
            }));
        }
        // SAFETY: version and size match, so the layout is this module's.
        let descriptor = unsafe { &*descriptor };
        let cases =
            read_cases(descriptor).map_err(|reason| error(LoadErrorKind::Invalid(reason)))?;
        check_descriptor(descriptor).map_err(|reason| error(LoadErrorKind::Invalid(reason)))?;
        Ok(App {
            init: descriptor.init,
            open: descriptor.open,
            close: descriptor.close,
            timer: descriptor.timer,
            fini: descriptor.fini,
            read_mode: descriptor.read_mode,
            timer_mode: descriptor.timer_mode,
            timer_interval_us: descriptor.timer_interval_us,
            app_data_size: descriptor.app_data_size,
            app_data_align: descriptor.app_data_align,
            cases,
            path: path.to_owned(),
            _library: library,
        })
    }

    /// Whether the app has an open callback (`no_open_cb` can be true).
    pub fn has_open(&self) -> bool {
        self.open.is_some()
    }

    /// Whether the app has a close callback (`no_close_cb` can be true).
    pub fn has_close(&self) -> bool {
        self.close.is_some()
    }

    /// The file the app was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// An error and its sources ("dlopen failed: <the loader's reason>").
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// A data kind as the C header names it, with its value.
fn data_kind_name(kind: u8) -> String {
    match kind {
        abi::DATA_BIN => "RS_DATA_BIN (1)".into(),
        abi::DATA_UTF8 => "RS_DATA_UTF8 (2)".into(),
        abi::DATA_ANY => "RS_DATA_ANY (3)".into(),
        other => other.to_string(),
    }
}

/// A read mode as the C header names it, with its value.
fn read_mode_name(mode: u8) -> &'static str {
    match mode {
        abi::READ_BIN => "RS_READ_BIN (1)",
        abi::READ_UTF8 => "RS_READ_UTF8 (2)",
        abi::READ_ANY => "RS_READ_ANY (3)",
        _ => "RS_READ_SWITCH (4)",
    }
}

fn check_descriptor(d: &AppDescriptor) -> Result<(), String> {
    match (d.timer_mode, d.timer.is_some()) {
        (abi::TIMER_NONE, false) => {}
        (abi::TIMER_NONE, true) => return Err("a timer callback without a timer mode".into()),
        (abi::TIMER_SLEEP | abi::TIMER_WAKE, true) if d.timer_interval_us > 0 => {}
        (abi::TIMER_SLEEP | abi::TIMER_WAKE, true) => return Err("a timer interval of 0 µs".into()),
        (abi::TIMER_SLEEP | abi::TIMER_WAKE, false) => {
            return Err("a timer mode without a timer callback".into());
        }
        (mode, _) => return Err(format!("unknown timer mode {mode}")),
    }
    if !d.app_data_align.is_power_of_two() {
        return Err(format!(
            "app data alignment {} is not a power of two{}",
            d.app_data_align,
            if d.app_data_align == 0 {
                " (app_data_align is 1 for an app that keeps no app data)"
            } else {
                ""
            }
        ));
    }
    if d.app_data_align > MAX_APP_DATA_ALIGN {
        return Err(format!(
            "app data alignment {} exceeds {MAX_APP_DATA_ALIGN}",
            d.app_data_align
        ));
    }
    if d.app_data_size > MAX_APP_DATA {
        return Err(format!(
            "app data of {} bytes exceeds {MAX_APP_DATA}",
            d.app_data_size
        ));
    }
    if d.reserved != [0; 6] {
        return Err("reserved bytes are not zero".into());
    }
    Ok(())
}

fn read_cases(d: &AppDescriptor) -> Result<Box<[Option<Case>; 256]>, String> {
    let count = d.case_count;
    let allowed = match d.read_mode {
        abi::READ_SWITCH => 1..=255,
        abi::READ_BIN | abi::READ_UTF8 | abi::READ_ANY => 1..=1,
        mode => return Err(format!("unknown read mode {mode}")),
    };
    if d.cases.is_null() {
        return Err("the read cases pointer is null".into());
    }
    if !allowed.contains(&count) {
        return Err(format!(
            "{count} read cases for read mode {} (expected {allowed:?})",
            d.read_mode
        ));
    }
    // SAFETY: non-null, and the ABI says it points at `case_count` static cases.
    let raw_cases = unsafe { std::slice::from_raw_parts(d.cases, count) };
    let mut cases: Box<[Option<Case>; 256]> = Box::new([const { None }; 256]);
    let mut seen = HashSet::new();
    for (i, case) in raw_cases.iter().enumerate() {
        let expected_kind = match d.read_mode {
            abi::READ_BIN => case.data_kind == abi::DATA_BIN,
            abi::READ_UTF8 => case.data_kind == abi::DATA_UTF8,
            abi::READ_ANY => case.data_kind == abi::DATA_ANY,
            _ => matches!(case.data_kind, abi::DATA_BIN | abi::DATA_UTF8),
        };
        let Some(read) = case.read else {
            return Err(format!("read case {i} has no read callback"));
        };
        if case.reserved != [0; 6] {
            return Err(format!("read case {i}: reserved bytes are not zero"));
        }
        if !expected_kind {
            let takes = match d.read_mode {
                abi::READ_BIN => "RS_DATA_BIN",
                abi::READ_UTF8 => "RS_DATA_UTF8",
                abi::READ_ANY => "RS_DATA_ANY",
                _ => "RS_DATA_BIN or RS_DATA_UTF8",
            };
            return Err(format!(
                "read case {i}: data kind {} does not fit read mode {}, whose cases take {takes}",
                data_kind_name(case.data_kind),
                read_mode_name(d.read_mode)
            ));
        }
        if case.arg_count > abi::MAX_ARGS || (case.arg_count > 0 && case.args.is_null()) {
            return Err(format!("read case {i}: {} arguments", case.arg_count));
        }
        let args = if case.arg_count == 0 {
            Vec::new()
        } else {
            // SAFETY: non-null and at most MAX_ARGS long, per the ABI static.
            unsafe { std::slice::from_raw_parts(case.args, case.arg_count) }.to_vec()
        };
        check_args(&args).map_err(|e: LayoutError| format!("read case {i}: {e}"))?;
        if let Some(j) = args.iter().position(|a| a.reserved != 0) {
            return Err(format!(
                "read case {i}: argument {j}: reserved byte is not zero"
            ));
        }
        let value = if d.read_mode == abi::READ_SWITCH {
            case.value
        } else {
            0
        };
        if !seen.insert(value) {
            return Err(format!("read case {i}: case value {value} appears twice"));
        }
        cases[usize::from(value)] = Some(Case {
            data_kind: case.data_kind,
            read,
            check: PayloadCheck::new(&args),
        });
    }
    Ok(cases)
}

#[cfg(test)]
mod tests {
    //! One test per load-time rule of docs/app-abi.md (7-20; the argument
    //! rules of step 14 in detail are `layout`'s), with the exact reason.

    use super::*;
    use crate::abi::{ArgSpec, Ctx, ReadCase};

    unsafe extern "C" fn read(_: *mut Ctx, _: *const u8, _: usize) -> i32 {
        0
    }

    unsafe extern "C" fn timer(_: *mut Ctx) -> i32 {
        0
    }

    fn case(value: u8, data_kind: u8) -> ReadCase {
        ReadCase {
            value,
            data_kind,
            reserved: [0; 6],
            read: Some(read),
            args: std::ptr::null(),
            arg_count: 0,
        }
    }

    fn descriptor(read_mode: u8, cases: &[ReadCase]) -> AppDescriptor {
        AppDescriptor {
            abi_version: ABI_VERSION,
            descriptor_size: size_of::<AppDescriptor>() as u32,
            init: None,
            open: None,
            close: None,
            timer: None,
            fini: None,
            read_mode,
            timer_mode: abi::TIMER_NONE,
            reserved: [0; 6],
            timer_interval_us: 0,
            app_data_size: 0,
            app_data_align: 1,
            cases: cases.as_ptr(),
            case_count: cases.len(),
        }
    }

    /// Why the server refuses `d`, if it does.
    fn refusal(d: &AppDescriptor) -> Option<String> {
        read_cases(d).and_then(|_| check_descriptor(d)).err()
    }

    fn refused(d: &AppDescriptor, reason: &str) {
        assert_eq!(refusal(d).as_deref(), Some(reason));
    }

    #[test]
    fn a_valid_descriptor_of_each_mode_is_taken() {
        for (mode, kind) in [
            (abi::READ_BIN, abi::DATA_BIN),
            (abi::READ_UTF8, abi::DATA_UTF8),
            (abi::READ_ANY, abi::DATA_ANY),
            (abi::READ_SWITCH, abi::DATA_UTF8),
        ] {
            let cases = [case(0, kind)];
            assert_eq!(refusal(&descriptor(mode, &cases)), None, "mode {mode}");
        }
        let cases: Vec<ReadCase> = (0..255).map(|v| case(v, abi::DATA_BIN)).collect();
        assert_eq!(refusal(&descriptor(abi::READ_SWITCH, &cases)), None);
    }

    #[test]
    fn rule_7_an_unknown_read_mode() {
        refused(
            &descriptor(5, &[case(0, abi::DATA_BIN)]),
            "unknown read mode 5",
        );
    }

    #[test]
    fn rule_8_no_read_cases() {
        let mut d = descriptor(abi::READ_BIN, &[]);
        (d.cases, d.case_count) = (std::ptr::null(), 1);
        refused(&d, "the read cases pointer is null");
    }

    #[test]
    fn rule_9_a_case_count_the_mode_does_not_allow() {
        let two = [case(0, abi::DATA_BIN), case(1, abi::DATA_BIN)];
        refused(
            &descriptor(abi::READ_BIN, &two),
            "2 read cases for read mode 1 (expected 1..=1)",
        );
        refused(
            &descriptor(abi::READ_SWITCH, &[]),
            "0 read cases for read mode 4 (expected 1..=255)",
        );
        let all: Vec<ReadCase> = (0..=255).map(|v| case(v, abi::DATA_BIN)).collect();
        refused(
            &descriptor(abi::READ_SWITCH, &all),
            "256 read cases for read mode 4 (expected 1..=255)",
        );
    }

    #[test]
    fn rule_10_a_case_without_a_callback() {
        let mut cases = [case(0, abi::DATA_BIN), case(1, abi::DATA_BIN)];
        cases[1].read = None;
        refused(
            &descriptor(abi::READ_SWITCH, &cases),
            "read case 1 has no read callback",
        );
    }

    #[test]
    fn rule_11_a_case_with_reserved_bytes_set() {
        let mut cases = [case(0, abi::DATA_BIN)];
        cases[0].reserved[5] = 1;
        refused(
            &descriptor(abi::READ_BIN, &cases),
            "read case 0: reserved bytes are not zero",
        );
    }

    #[test]
    fn rule_12_a_data_kind_that_does_not_fit_the_mode() {
        for (mode, kind, message) in [
            (
                abi::READ_BIN,
                abi::DATA_UTF8,
                "data kind RS_DATA_UTF8 (2) does not fit read mode RS_READ_BIN (1), whose cases \
                 take RS_DATA_BIN",
            ),
            (
                abi::READ_UTF8,
                abi::DATA_ANY,
                "data kind RS_DATA_ANY (3) does not fit read mode RS_READ_UTF8 (2), whose cases \
                 take RS_DATA_UTF8",
            ),
            (
                abi::READ_ANY,
                abi::DATA_BIN,
                "data kind RS_DATA_BIN (1) does not fit read mode RS_READ_ANY (3), whose cases \
                 take RS_DATA_ANY",
            ),
            (
                abi::READ_SWITCH,
                abi::DATA_ANY,
                "data kind RS_DATA_ANY (3) does not fit read mode RS_READ_SWITCH (4), whose \
                 cases take RS_DATA_BIN or RS_DATA_UTF8",
            ),
            (
                abi::READ_SWITCH,
                0,
                "data kind 0 does not fit read mode RS_READ_SWITCH (4), whose cases take \
                 RS_DATA_BIN or RS_DATA_UTF8",
            ),
        ] {
            refused(
                &descriptor(mode, &[case(0, kind)]),
                &format!("read case 0: {message}"),
            );
        }
    }

    #[test]
    fn rule_13_too_many_arguments_or_none_where_some_are_counted() {
        let mut cases = [case(0, abi::DATA_BIN)];
        cases[0].arg_count = 1;
        refused(
            &descriptor(abi::READ_BIN, &cases),
            "read case 0: 1 arguments",
        );
        let args = [ArgSpec {
            kind: abi::ARG_NET,
            shape: abi::SHAPE_SCALAR,
            elem_size: 1,
            reserved: 0,
            min: 1,
            max: 1,
        }; 16];
        (cases[0].args, cases[0].arg_count) = (args.as_ptr(), 16);
        refused(
            &descriptor(abi::READ_BIN, &cases),
            "read case 0: 16 arguments",
        );
        cases[0].arg_count = 15;
        assert_eq!(refusal(&descriptor(abi::READ_BIN, &cases)), None);
    }

    #[test]
    fn rules_14_and_15_an_argument_is_checked_and_named_by_its_case() {
        let mut args = [ArgSpec {
            kind: 9,
            shape: abi::SHAPE_SCALAR,
            elem_size: 1,
            reserved: 0,
            min: 1,
            max: 1,
        }];
        let mut cases = [case(0, abi::DATA_BIN), case(7, abi::DATA_BIN)];
        (cases[1].args, cases[1].arg_count) = (args.as_ptr(), 1);
        refused(
            &descriptor(abi::READ_SWITCH, &cases),
            "read case 1: argument 0: unknown kind 9",
        );
        args[0].kind = abi::ARG_NET;
        args[0].reserved = 1;
        cases[1].args = args.as_ptr();
        refused(
            &descriptor(abi::READ_SWITCH, &cases),
            "read case 1: argument 0: reserved byte is not zero",
        );
    }

    #[test]
    fn rule_16_a_case_value_twice() {
        let cases = [case(3, abi::DATA_BIN), case(3, abi::DATA_UTF8)];
        refused(
            &descriptor(abi::READ_SWITCH, &cases),
            "read case 1: case value 3 appears twice",
        );
    }

    #[test]
    fn rule_17_a_timer_mode_and_callback_that_do_not_agree() {
        let cases = [case(0, abi::DATA_BIN)];
        let mut d = descriptor(abi::READ_BIN, &cases);
        d.timer = Some(timer);
        refused(&d, "a timer callback without a timer mode");
        d.timer_mode = abi::TIMER_SLEEP;
        refused(&d, "a timer interval of 0 µs");
        d.timer_interval_us = 1;
        assert_eq!(refusal(&d), None);
        d.timer = None;
        d.timer_mode = abi::TIMER_WAKE;
        refused(&d, "a timer mode without a timer callback");
        d.timer_mode = 3;
        refused(&d, "unknown timer mode 3");
    }

    #[test]
    fn rule_18_an_alignment_that_is_not_a_power_of_two_or_above_a_page() {
        let cases = [case(0, abi::DATA_BIN)];
        let mut d = descriptor(abi::READ_BIN, &cases);
        for align in [3, 4097] {
            d.app_data_align = align;
            refused(
                &d,
                &format!("app data alignment {align} is not a power of two"),
            );
        }
        // Left at 0 (a C designated initializer without it): the fix said.
        d.app_data_align = 0;
        refused(
            &d,
            "app data alignment 0 is not a power of two (app_data_align is 1 for an app that \
             keeps no app data)",
        );
        d.app_data_align = 4096;
        assert_eq!(refusal(&d), None);
        for align in [8192, 1 << 40, 1 << (usize::BITS - 1)] {
            d.app_data_align = align;
            refused(&d, &format!("app data alignment {align} exceeds 4096"));
        }
    }

    #[test]
    fn rule_19_too_much_app_data() {
        let cases = [case(0, abi::DATA_BIN)];
        let mut d = descriptor(abi::READ_BIN, &cases);
        d.app_data_size = 1 << 30;
        assert_eq!(refusal(&d), None);
        d.app_data_size += 1;
        refused(&d, "app data of 1073741825 bytes exceeds 1073741824");
    }

    #[test]
    fn every_app_data_layout_that_passes_is_one_the_allocator_takes() {
        assert!(std::alloc::Layout::from_size_align(MAX_APP_DATA, MAX_APP_DATA_ALIGN).is_ok());
    }

    #[test]
    fn rule_20_reserved_descriptor_bytes_set() {
        let cases = [case(0, abi::DATA_BIN)];
        let mut d = descriptor(abi::READ_BIN, &cases);
        d.reserved[0] = 1;
        refused(&d, "reserved bytes are not zero");
    }
}
