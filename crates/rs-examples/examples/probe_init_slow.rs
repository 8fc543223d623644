//! probe_init_slow: a test app whose init takes two seconds (as one that
//! connects to a database might), then succeeds; it echoes binary messages.

use rs_app::prelude::*;

fn init(_rs: &mut Init) -> i32 {
    std::thread::sleep(std::time::Duration::from_secs(2));
    0
}

fn echo(rs: &mut Read, payload: &[u8]) -> i32 {
    rs.w_bytes(payload);
    match rs.to_cur(DataKind::Bin) {
        Ok(()) => 0,
        Err(_) => -1,
    }
}

rs_app! {
    init: init,
    open: none,
    read: bin(echo, bytes()),
    close: none,
    timer: none,
}
