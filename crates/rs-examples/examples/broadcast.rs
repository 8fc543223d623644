//! broadcast: sends every message to every client of the app, its sender
//! included, keeping its kind. Used by the broadcast benchmark.

use rs_app::prelude::*;

fn broadcast(rs: &mut Read, payload: &[u8]) -> i32 {
    rs.w_bytes(payload);
    let kind = rs.read_data_kind();
    match rs.to_every(kind) {
        Ok(()) => 0,
        Err(e) => e.status(),
    }
}

rs_app! {
    init: none,
    open: none,
    read: any(broadcast, bytes()),
    close: none,
    timer: none,
}
