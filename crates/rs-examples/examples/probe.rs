//! probe: a test app that exercises every part of the app ABI in switch
//! mode. Each case replies to the sender with what it received, in a form
//! the tests (tests/app_thread.rs) check byte for byte.

use rs_app::prelude::*;

#[derive(Default)]
struct Counters {
    reads: u32,
}

fn reply(rs: &mut Read<Counters>, kind: DataKind) -> i32 {
    match rs.to_cur(kind) {
        Ok(()) => 0,
        Err(_) => -1,
    }
}

/// Case 0: one of each scalar form; echoed back in network byte order.
#[allow(clippy::too_many_arguments)]
fn scalars(
    rs: &mut Read<Counters>,
    a: u8,
    b: u16,
    c: u16,
    d: u32,
    e: u64,
    f: i8,
    g: i16,
    h: i32,
    i: i64,
    j: i64,
    k: f32,
    l: f64,
) -> i32 {
    rs.w_u8(a);
    rs.w_u16_hton(b);
    rs.w_u16_hton(c);
    rs.w_u32_hton(d);
    rs.w_u64_hton(e);
    rs.w_i8(f);
    rs.w_i16_hton(g);
    rs.w_i32_hton(h);
    rs.w_i64_hton(i);
    rs.w_i64_hton(j);
    rs.w_u32_hton(k.to_bits());
    rs.w_u64_hton(l.to_bits());
    reply(rs, DataKind::Bin)
}

/// Case 1: fixed-size arrays.
fn arrays(rs: &mut Read<Counters>, u16s: [u16; 3], bytes: [u8; 2]) -> i32 {
    for v in u16s {
        rs.w_u16_hton(v);
    }
    rs.w_bytes(&bytes);
    reply(rs, DataKind::Bin)
}

/// Case 2: a trailing range of 0 to 16 u16s: replies the count, then them.
fn range(rs: &mut Read<Counters>, values: Elems<u16>) -> i32 {
    rs.w_u8(values.len() as u8);
    for v in values.iter() {
        rs.w_u16_hton(v);
    }
    reply(rs, DataKind::Bin)
}

/// Case 3 (text): a string of 1 to 8 bytes, echoed twice as text with a
/// `|` between (the host lends the first write from the message and must
/// copy it once more is written).
fn string(rs: &mut Read<Counters>, text: &str) -> i32 {
    rs.w_str(text);
    rs.w_str("|");
    rs.w_str(text);
    reply(rs, DataKind::Utf8)
}

/// Case 4: fifteen arguments, the most allowed; replies their sum.
#[allow(clippy::too_many_arguments)]
fn fifteen(
    rs: &mut Read<Counters>,
    a: u8,
    b: u8,
    c: u8,
    d: u8,
    e: u8,
    f: u8,
    g: u8,
    h: u8,
    i: u8,
    j: u8,
    k: u8,
    l: u8,
    m: u8,
    n: u8,
    o: u8,
) -> i32 {
    let sum: u32 = [a, b, c, d, e, f, g, h, i, j, k, l, m, n, o]
        .iter()
        .map(|&v| u32::from(v))
        .sum();
    rs.w_u32_hton(sum);
    reply(rs, DataKind::Bin)
}

/// Case 5: sends "t<target>" as text to the target chosen by the first
/// byte, with the ids that follow.
fn targets(rs: &mut Read<Counters>, target: u8, ids: Elems<u64>) -> i32 {
    let ids: Vec<ClientId> = ids.iter().filter_map(ClientId::from_u64).collect();
    rs.w_str(&format!("t{target}"));
    let sent = match target {
        0 => rs.to_single(DataKind::Utf8, ids[0]),
        1 => rs.to_multi(DataKind::Utf8, &ids),
        2 => rs.to_cur(DataKind::Utf8),
        3 => rs.to_every(DataKind::Utf8),
        4 => rs.to_every_except_single(DataKind::Utf8, ids[0]),
        5 => rs.to_every_except_multi(DataKind::Utf8, &ids),
        _ => rs.to_every_except_cur(DataKind::Utf8),
    };
    if sent.is_ok() { 0 } else { -1 }
}

/// Case 6: returns the number it is given, whatever it is.
fn returns(_rs: &mut Read<Counters>, status: i32) -> i32 {
    status
}

/// Case 7: closes the client with the given id and code; replies whether
/// the server accepted (1) or refused (0) the request.
fn close_other(rs: &mut Read<Counters>, id: u64, code: u16) -> i32 {
    let accepted = ClientId::from_u64(id).is_some_and(|id| rs.close_client(id, code).is_ok());
    rs.w_u8(u8::from(accepted));
    reply(rs, DataKind::Bin)
}

/// Case 8: what the getters say, as text.
fn info(rs: &mut Read<Counters>) -> i32 {
    rs.state().reads += 1;
    let reads = rs.state().reads;
    let line = format!(
        "id={} endpoint={} addr={} kind={:?} name={} workers={} reads={}",
        rs.client_id(),
        rs.endpoint_id(),
        rs.client_addr(),
        rs.read_data_kind(),
        rs.conf().name,
        rs.conf().worker_c,
        reads,
    );
    // Least important first: when the notice shows, so would the others
    // if the log level let them.
    rs.log(Level::Debug, &format!("debug {line}"));
    rs.log(Level::Info, &format!("info {line}"));
    rs.log(Level::Notice, &line);
    rs.w_str(&line);
    reply(rs, DataKind::Utf8)
}

/// Case 9: panics.
fn panics(_rs: &mut Read<Counters>) -> i32 {
    panic!("probe was asked to panic");
}

/// Case 10 (text): tries to send invalid UTF-8 as text; replies 1 if the
/// server refused it as it should.
fn bad_text(rs: &mut Read<Counters>) -> i32 {
    rs.w_bytes(&[0xff, 0xfe]);
    let refused = rs.to_cur(DataKind::Utf8) == Err(SendError::InvalidUtf8);
    rs.w_u8(u8::from(refused));
    reply(rs, DataKind::Bin)
}

/// Case 0xC3: echoes the rest of a text message, as text, then replies
/// (binary) whether that was refused. A text message that starts with
/// 0xC3 (a UTF-8 lead byte) continues with a continuation byte: without its
/// first byte it is not UTF-8, so the echo must be refused.
fn text_rest(rs: &mut Read<Counters>, rest: &[u8]) -> i32 {
    rs.w_bytes(rest);
    let refused = rs.to_cur(DataKind::Utf8) == Err(SendError::InvalidUtf8);
    rs.w_u8(u8::from(refused));
    reply(rs, DataKind::Bin)
}

/// Case 11: sends the client `count` binary frames, one per send, each
/// holding its index (u16, network byte order).
fn burst(rs: &mut Read<Counters>, count: u16) -> i32 {
    for i in 0..count {
        rs.w_u16_hton(i);
        if rs.to_cur(DataKind::Bin).is_err() {
            return -1;
        }
    }
    0
}

/// Case 15: logs the rest of the message (lossy UTF-8) at notice, as an
/// app that logs what a client sent (a name, a message) does.
fn log_text(rs: &mut Read<Counters>, rest: &[u8]) -> i32 {
    rs.log(Level::Notice, &String::from_utf8_lossy(rest));
    0
}

/// Case 13: replies one binary frame of `kib` KiB (zeros).
fn big(rs: &mut Read<Counters>, kib: u16) -> i32 {
    rs.w_bytes(&vec![0; usize::from(kib) << 10]);
    reply(rs, DataKind::Bin)
}

/// Case 14: writes `kib` KiB and sends nothing: the app changed its mind.
fn unsent(rs: &mut Read<Counters>, kib: u16) -> i32 {
    rs.w_bytes(&vec![0; usize::from(kib) << 10]);
    0
}

/// Case 12: sleeps `ms` milliseconds (an app that stops consuming for a
/// while), then replies with nothing.
fn stall(rs: &mut Read<Counters>, ms: u16) -> i32 {
    std::thread::sleep(std::time::Duration::from_millis(u64::from(ms)));
    reply(rs, DataKind::Bin)
}

/// Open: welcomes the client (naming the subprotocol the handshake chose,
/// the URL's query and its `Cookie` and `X-Forwarded-For` headers, if
/// given), except on endpoints 97 (panics), 98 (fatal) and 99 (closed with
/// 4099).
fn open(rs: &mut Open<Counters>) -> i32 {
    match rs.endpoint_id() {
        97 => panic!("probe was asked to panic in open"),
        98 => -1,
        99 => 4099,
        _ => {
            let mut line = format!("welcome {} from {}", rs.client_id(), rs.client_addr());
            if let Some(subprotocol) = rs.subprotocol() {
                line.push_str(&format!(" speaking {subprotocol}"));
            }
            if let Some(query) = rs.query() {
                line.push_str(&format!(" asking {query}"));
            }
            for name in ["Cookie", "X-Forwarded-For"] {
                if let Some(value) = rs.header(name) {
                    line.push_str(&format!(" with {name}: {}", value.escape_ascii()));
                }
            }
            rs.w_str(&line);
            if rs.to_cur(DataKind::Utf8).is_ok() {
                0
            } else {
                -1
            }
        }
    }
}

/// Close: tells every client who left, except on endpoint 97 (panics).
fn close(rs: &mut Close<Counters>) -> i32 {
    if rs.endpoint_id() == 97 {
        panic!("probe was asked to panic in close");
    }
    let line = format!("bye {}", rs.client_id());
    rs.w_str(&line);
    if rs.to_every(DataKind::Utf8).is_ok() {
        0
    } else {
        -1
    }
}

rs_app! {
    state: Counters,
    init: none,
    open: open,
    read: switch {
        0 => bin(scalars, net(u8), net(u16), ntoh(u16), ntoh(u32), ntoh(u64), ntoh(i8), ntoh(i16),
                 ntoh(i32), ntoh(i64), net(i64), ntoh(f32), ntoh(f64)),
        1 => bin(arrays, ntoh(u16; 3), net(u8; 2)),
        2 => bin(range, ntoh(u16; 0..=16)),
        3 => utf8(string, str(1..=8)),
        4 => bin(fifteen, net(u8), net(u8), net(u8), net(u8), net(u8), net(u8), net(u8), net(u8),
                 net(u8), net(u8), net(u8), net(u8), net(u8), net(u8), net(u8)),
        5 => bin(targets, net(u8), ntoh(u64; 0..=64)),
        6 => bin(returns, ntoh(i32)),
        7 => bin(close_other, ntoh(u64), ntoh(u16)),
        8 => bin(info),
        9 => bin(panics),
        10 => utf8(bad_text),
        11 => bin(burst, ntoh(u16)),
        12 => bin(stall, ntoh(u16)),
        13 => bin(big, ntoh(u16)),
        14 => bin(unsent, ntoh(u16)),
        15 => bin(log_text, bytes()),
        0xC3 => utf8(text_rest, bytes()),
    },
    close: close,
    timer: none,
}
