//! probe_timer_sleep: a test app with a sleeping timer: it ticks every 20 ms
//! only while messages arrive, and fails fatally (-1) on its fifth tick.

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
    if n < 5 { 20_000 } else { -1 }
}

fn ignore(_rs: &mut Read<Ticks>, _payload: &[u8]) -> i32 {
    0
}

rs_app! {
    state: Ticks,
    init: none,
    open: none,
    read: bin(ignore, bytes()),
    close: none,
    timer: sleep(tick, 20_000),
}
