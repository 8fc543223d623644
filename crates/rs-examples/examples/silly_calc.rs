//! silly_calc: the seed's example app, with the same semantics.
//!
//! A binary message holds an `i32` and 1 to 10 `u16`s, all in network byte
//! order. The app sends their sum as an `i64` in network byte order to every
//! other client (binary), and replies "笑笑?" to the sender (text).

use rs_app::prelude::*;

fn silly_calc(rs: &mut Read, i32v: i32, u16s: Elems<u16>) -> i32 {
    // RingSocket checked the sizes before calling: 0 < u16s.len() < 11.
    let sum = u16s
        .iter()
        .fold(i64::from(i32v), |sum, v| sum + i64::from(v));
    rs.w_i64_hton(sum);
    if let Err(e) = rs.to_every_except_cur(DataKind::Bin) {
        return e.status();
    }
    rs.w_str("笑笑");
    rs.w_u8(b'?'); // just to show that writes can be chained
    match rs.to_cur(DataKind::Utf8) {
        Ok(()) => 0,
        Err(e) => e.status(),
    }
}

rs_app! {
    init: none,
    open: none,
    read: bin(silly_calc, ntoh(i32), ntoh(u16; 1..=10)),
    close: none,
    timer: none,
}
