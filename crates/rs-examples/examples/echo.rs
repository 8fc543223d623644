//! echo: sends every message back to its sender, text as text and binary as
//! binary. Used by the conformance runner and the benchmarks.

use rs_app::prelude::*;

fn echo(rs: &mut Read, payload: &[u8]) -> i32 {
    rs.w_bytes(payload);
    let kind = rs.read_data_kind();
    match rs.to_cur(kind) {
        Ok(()) => 0,
        Err(e) => e.status(),
    }
}

rs_app! {
    init: none,
    open: none,
    read: any(echo, bytes()),
    close: none,
    timer: none,
}
