//! probe_timer_wake: a test app with a waking timer: it ticks every 20 ms
//! even with no traffic, three times, then stops its timer (returns 0).

use rs_app::prelude::*;

#[derive(Default)]
struct Ticks(u32);

fn tick(rs: &mut Timer<Ticks>) -> i32 {
    rs.state().0 += 1;
    let n = rs.state().0;
    rs.w_str(&format!("tick {n}"));
    if rs.to_every(DataKind::Utf8).is_err() {
        return -1;
    }
    if n < 3 { 20_000 } else { 0 }
}

fn echo(rs: &mut Read<Ticks>, payload: &[u8]) -> i32 {
    rs.w_bytes(payload);
    if rs.to_cur(DataKind::Bin).is_ok() {
        0
    } else {
        -1
    }
}

rs_app! {
    state: Ticks,
    init: none,
    open: none,
    read: bin(echo, bytes()),
    close: none,
    timer: wake(tick, 20_000),
}
