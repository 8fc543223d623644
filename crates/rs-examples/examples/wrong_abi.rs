//! wrong_abi: a shared object that claims to be an app for ABI version 999.
//! The server must refuse it, naming both versions.

use rs_app::abi::{AppDescriptor, READ_BIN, TIMER_NONE};

static DESCRIPTOR: AppDescriptor = AppDescriptor {
    abi_version: 999,
    descriptor_size: size_of::<AppDescriptor>() as u32,
    init: None,
    open: None,
    close: None,
    timer: None,
    fini: None,
    read_mode: READ_BIN,
    timer_mode: TIMER_NONE,
    reserved: [0; 6],
    timer_interval_us: 0,
    app_data_size: 0,
    app_data_align: 1,
    cases: std::ptr::null(),
    case_count: 0,
};

/// The entry point, with a version this server does not speak.
///
/// # Safety
/// Only reads a static.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ringsocket_app_v1() -> *const AppDescriptor {
    &DESCRIPTOR
}
