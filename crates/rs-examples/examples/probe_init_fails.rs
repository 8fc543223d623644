//! probe_init_fails: a test app whose init callback reports a fatal error
//! after reading its configuration.

use rs_app::prelude::*;

fn init(rs: &mut Init) -> i32 {
    rs.log(
        Level::Error,
        &format!("{} refuses to start", rs.conf().name),
    );
    -1
}

fn ignore(_rs: &mut Read, _payload: &[u8]) -> i32 {
    0
}

rs_app! {
    init: init,
    open: none,
    read: bin(ignore, bytes()),
    close: none,
    timer: none,
}
