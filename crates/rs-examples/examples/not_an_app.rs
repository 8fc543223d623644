//! not_an_app: a shared object that is not a RingSocket app (it exports no
//! entry symbol). The server must refuse it with a clear error.

/// Something exported, so that the library is not empty.
#[unsafe(no_mangle)]
pub extern "C" fn not_an_app_marker() -> u32 {
    42
}
