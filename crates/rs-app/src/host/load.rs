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
                write!(f, "cannot be loaded as a shared object: {reason}")
            }
            LoadErrorKind::MissingEntry => write!(
                f,
                "does not export `{ENTRY_SYMBOL}`: not a RingSocket app for ABI version {ABI_VERSION} (apps declare themselves with rs_app!)"
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
        // SAFETY: loading a library runs its initialisers; the operator named
        // this file in the configuration as an app to run in this process.
        let library = unsafe { libloading::Library::new(path) }
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
            "app data alignment {} is not a power of two",
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
            return Err(format!(
                "read case {i}: data kind {} does not fit read mode {}",
                case.data_kind, d.read_mode
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
