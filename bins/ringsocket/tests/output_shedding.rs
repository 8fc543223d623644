//! Shedding past max_pending_output_total (configuration.md: "the output of
//! connections already closing (a client that asked for much, then sent
//! its close frame) that they have not started to read is dropped first,
//! all but our close frames; then the client with the most unread output
//! is closed with 1013"), for the cases the tests in server_limits.rs do
//! not reach: pongs queued behind our close frame, and a client whose
//! close frame waits for its app's answer. Two clients of one worker leave
//! most of what they asked for unread.

mod support;

use std::time::Duration;

use support::probe::{big_case, close_case, stall_case};
use support::raw::{self, RawWs, Received};
use support::{AppSpec, Server, welcome_id, wmem_max};

/// A raw probe client with a small receive buffer, and its id.
fn client(server: &Server) -> (RawWs, u64) {
    let mut c = RawWs::connect_with_receive_buffer(server.addr(), "/probe", 64 << 10);
    let welcome = String::from_utf8(c.frame().payload).unwrap();
    (c, welcome_id(&welcome))
}

/// A server of the probe app (and a second app from the same library,
/// `probe2`) with one worker, whose clients may each leave `mib` MiB
/// unread, as may all together.
fn shedding_server(mib: usize) -> (Server, support::Log) {
    let limit = mib << 20;
    let mut server = Server::start_with(
        1,
        &[
            AppSpec::simple("probe"),
            AppSpec::at("probe2", support::app_path("probe")),
        ],
        &format!(
            r#""worker_c": 1, "max_ws_msg_size": 1048576, "max_pending_output": {limit},
               "max_pending_output_total": {limit}, "shutdown_wait_ws": 20,"#
        ),
    );
    let log = server.capture_stderr();
    (server, log)
}

// A client whose unread output passes half its limit is not read (see
// server_limits.rs): what these clients send after what piles up their
// output is read before the output comes (sent while their app sleeps), or
// while it is under half their limit.

#[test]
fn shedding_a_closing_client_that_asked_for_a_pong_keeps_its_close_frame() {
    // The unread part of `mib` 1 MiB frames (what the kernel does not take)
    // is under max_pending_output; two clients' pass the total.
    let mib = (wmem_max() >> 20) + 12;
    let (server, log) = shedding_server(14);
    let (mut x_client, x_id) = client(&server);
    let (mut y_client, _) = probe_at(&server, "/probe2");
    let (mut z_client, _) = client(&server);
    // While the app sleeps, x asks for big frames it does not read, then
    // to be closed with 4000 (close_client): the close frame comes behind
    // the frames' unread part.
    z_client.send(raw::BINARY, &stall_case(1000));
    std::thread::sleep(Duration::from_millis(200));
    for _ in 0..mib {
        x_client.send(raw::BINARY, &big_case(1024));
    }
    x_client.send(raw::BINARY, &close_case(x_id, 4000));
    std::thread::sleep(Duration::from_millis(1500));
    // x pings: the pong is owed after our close frame (RFC 6455 §5.5.2).
    x_client.send(raw::PING, b"p1");
    std::thread::sleep(Duration::from_millis(300));
    // y asks for as much: the worker now holds more than the total.
    for _ in 0..mib {
        y_client.send(raw::BINARY, &big_case(1024));
    }
    std::thread::sleep(Duration::from_millis(1000));
    // x reads everything it gets.
    let mut got = Vec::new();
    loop {
        match x_client.read_within(Duration::from_secs(10)) {
            Received::Frame(f) => {
                let desc = match f.opcode {
                    raw::CLOSE => format!("close {}", f.close_code()),
                    raw::PONG => format!("pong {:?}", String::from_utf8_lossy(&f.payload)),
                    raw::BINARY => format!("binary {}", f.payload.len()),
                    raw::TEXT => format!("text {}", String::from_utf8_lossy(&f.payload)),
                    o => format!("opcode {o}"),
                };
                let is_pong = f.opcode == raw::PONG;
                got.push(desc);
                if is_pong {
                    break;
                }
            }
            Received::Closed { trailing, reset } => {
                got.push(format!("tcp closed (trailing {trailing}, reset {reset})"));
                break;
            }
        }
    }
    let text = log.text();
    let shed_lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("max_pending_output_total"))
        .collect();
    assert!(
        !shed_lines.is_empty(),
        "no shedding happened: the setup failed"
    );
    // The frames' unread part dropped, our close frame and the pong owed
    // after it kept.
    let tail: Vec<&str> = got.iter().rev().take(2).rev().map(String::as_str).collect();
    assert_eq!(
        tail,
        ["close 4000", "pong \"p1\""],
        "{} frames\n{shed_lines:#?}",
        got.len()
    );
}

fn probe_at(server: &Server, path: &str) -> (RawWs, u64) {
    let mut c = RawWs::connect_with_receive_buffer(server.addr(), path, 64 << 10);
    let welcome = String::from_utf8(c.frame().payload).unwrap();
    (c, welcome_id(&welcome))
}

/// How a client whose close frame waits for its app fares when the worker
/// holds more than max_pending_output_total: x asks for 12 MiB it does not
/// read, then sends `x_last` while its app is busy (3 s); y, another app's
/// client, then asks for 20 MiB it does not read. The shed lines, x's id,
/// the close code x got and the frames before it, and what y got ("all 20"
/// or its close). The limits are 24 MiB, each client's and the total: a
/// client is read until its unread output is over half its own.
fn shed_while_waiting_for_the_app(x_last: &[u8]) -> (Vec<String>, u64, Option<u16>, usize, String) {
    let (server, log) = shedding_server(24);
    let (mut x, x_id) = probe_at(&server, "/probe");
    let (mut z, _) = probe_at(&server, "/probe");
    let (mut y, _) = probe_at(&server, "/probe2");
    for _ in 0..12 {
        x.send(raw::BINARY, &big_case(1024));
    }
    std::thread::sleep(Duration::from_millis(500));
    // The probe app sleeps 3 s (case 12, from z); x ends meanwhile.
    z.send(raw::BINARY, &stall_case(3000));
    std::thread::sleep(Duration::from_millis(200));
    x.send_raw(x_last);
    std::thread::sleep(Duration::from_millis(200));
    for _ in 0..20 {
        y.send(raw::BINARY, &big_case(1024));
    }
    std::thread::sleep(Duration::from_millis(1000));
    let shed = log
        .text()
        .lines()
        .filter(|l| l.contains("max_pending_output_total"))
        .map(str::to_owned)
        .collect();
    // x reads what it gets, until the close.
    let mut x_end = None;
    let mut x_frames = 0;
    loop {
        match x.read_within(Duration::from_secs(15)) {
            Received::Frame(f) if f.opcode == raw::CLOSE => {
                x_end = Some(f.close_code());
                break;
            }
            Received::Frame(_) => x_frames += 1,
            Received::Closed { .. } => break,
        }
    }
    let mut y_end = "all 20".to_owned();
    for n in 0..20 {
        let f = y.frame();
        if f.opcode == raw::CLOSE {
            y_end = format!("close {} after {n}", f.close_code());
            break;
        }
    }
    (shed, x_id, x_end, x_frames, y_end)
}

#[test]
fn a_client_waiting_for_its_close_answer_is_shed_before_clients_in_session() {
    let (shed, x_id, x_end, x_frames, y_end) =
        shed_while_waiting_for_the_app(&raw::masked(raw::CLOSE, &1000u16.to_be_bytes()));
    assert!(
        !shed.is_empty(),
        "no shedding happened: the setup failed; x: {x_frames} frames, {x_end:?}; y: {y_end}"
    );
    // x goes first (it kept its output, and y, within its own limit, was
    // closed with 1013): with 1013 as the answer to its close frame, its
    // unread output dropped (not a hole in its stream, which the app's
    // later frames would follow); y, under the total then, keeps all.
    assert!(
        shed[0].contains(&format!("client {x_id} ")) && shed[0].contains("closing with 1013"),
        "{shed:#?}"
    );
    assert_eq!(x_end, Some(1013), "{x_frames} frames; {y_end}\n{shed:#?}");
    assert!(x_frames < 12, "x kept all its output: {shed:#?}");
    assert_eq!(y_end, "all 20", "{shed:#?}");
    // The server sheds load: said at the default level too, counted.
    assert!(
        shed.iter().any(|l| l.contains(
            "WARN  rs_worker::worker::accept] worker 0: closing clients with 1013: the output it \
             holds for its clients passed max_pending_output_total (25165824 bytes) (1 closed \
             with 1013 since the last report)"
        )),
        "{shed:#?}"
    );
}

/// The same for a client that broke the protocol, whose close frame waits
/// for its app's replies: shed first too, it keeps its error's code (1013
/// would invite it to try again what failed by its own fault).
#[test]
fn a_client_failed_for_a_protocol_error_is_shed_with_its_own_code() {
    let rsv = raw::encode(0xA1, b"x", Some(raw::MASK));
    let (shed, x_id, x_end, x_frames, y_end) = shed_while_waiting_for_the_app(&rsv);
    assert!(
        shed.first().is_some_and(
            |l| l.contains(&format!("client {x_id} ")) && l.contains("closing with 1002")
        ),
        "{shed:#?}"
    );
    assert_eq!(x_end, Some(1002), "{x_frames} frames; {y_end}\n{shed:#?}");
    assert!(x_frames < 12, "x kept all its output: {shed:#?}");
    assert_eq!(y_end, "all 20", "{shed:#?}");
}
