//! End-to-end load test: thousands of concurrent WebSocket connections on
//! one server, each doing a round trip while all are open.

mod support;

use std::time::{Duration, Instant};

use support::*;
use tungstenite::Message;

const CONNECTIONS: usize = 5000;
/// Client threads (each holds a share of the connections).
const THREADS: usize = 4;

/// The soft limit on open files of this process, which the server inherits.
fn open_file_limit() -> usize {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let soft = line.split_whitespace().nth(3).unwrap();
    soft.parse().unwrap_or(usize::MAX) // "unlimited"
}

#[test]
fn five_thousand_concurrent_connections_each_do_a_round_trip() {
    // The client ends and the server's ends each need a descriptor; both
    // processes have the same limit. Leave room for everything else.
    let limit = open_file_limit();
    let connections = CONNECTIONS.min(limit.saturating_sub(200));
    assert!(
        connections >= 1000,
        "RLIMIT_NOFILE is {limit}: raise it (ulimit -n) to run this test"
    );
    if connections < CONNECTIONS {
        eprintln!(
            "RLIMIT_NOFILE is {limit}: testing {connections} connections instead of {CONNECTIONS}"
        );
    }
    let mut server = Server::start_with(
        1,
        &[AppSpec::simple("echo")],
        &format!(r#""worker_c": 2, "fd_alloc_c": {},"#, connections + 100),
    );
    let log = server.capture_stderr();
    let addr = server.addr();
    let start = Instant::now();
    let deadline = start + Duration::from_secs(15);

    // Open every connection (each thread its share, one after the other).
    let opening: Vec<_> = (0..THREADS)
        .map(|t| {
            std::thread::spawn(move || {
                (t..connections)
                    .step_by(THREADS)
                    .map(|i| {
                        assert!(
                            Instant::now() < deadline,
                            "connection {i} not opened in time"
                        );
                        let client = try_connect_small(addr, "/echo")
                            .unwrap_or_else(|e| panic!("connection {i}: {e}"));
                        (i, client)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let shares: Vec<Vec<(usize, Client)>> =
        opening.into_iter().map(|t| t.join().unwrap()).collect();
    let opened = start.elapsed();
    // All are open at once: the server holds a descriptor for each.
    assert!(
        server.fd_count() >= connections,
        "the server holds {} descriptors",
        server.fd_count()
    );

    // Now a round trip on each: every thread sends on all its connections,
    // then reads every answer.
    let round_trips: Vec<_> = shares
        .into_iter()
        .map(|mut share| {
            std::thread::spawn(move || {
                for (i, client) in &mut share {
                    client
                        .send(Message::text(format!("hello from {i}")))
                        .unwrap();
                }
                for (i, client) in &mut share {
                    assert!(Instant::now() < deadline, "round trips not done in time");
                    assert_eq!(
                        next_message(client),
                        Message::text(format!("hello from {i}"))
                    );
                }
                share.len()
            })
        })
        .collect();
    let done: usize = round_trips.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(done, connections);
    eprintln!(
        "{connections} connections opened in {opened:?}, all round trips done after {:?}",
        start.elapsed()
    );
    // Nothing was refused or failed on the way.
    let log = log.text();
    assert!(
        !log.contains("refus") && !log.contains("WARN") && !log.contains("ERROR"),
        "{log}"
    );
}

/// The payload of message `n` of client `c` in the pipelined test: mostly
/// 1 KiB to 8 KiB (long enough that the echo lends it), every third one
/// 100 to 149 bytes (copied: the two kinds of reply records interleave),
/// bytes from both numbers.
fn pipelined_payload(c: usize, n: usize) -> Vec<u8> {
    let len = if n.is_multiple_of(3) {
        100 + (n + c) % 50
    } else {
        1024 + (n * 997 + c * 331) % 7000
    };
    (0..len).map(|i| (i * 31 + n * 7 + c) as u8).collect()
}

#[test]
fn pipelined_long_echoes_through_small_rings_come_back_whole_and_in_order() {
    const CLIENTS: usize = 4;
    const MESSAGES: usize = 300;
    // Rings that hold one or two of these messages: the worker finds its
    // app's ring full again and again while the app holds messages whose
    // echoes it lent to the worker.
    let mut server = Server::start_with(
        1,
        &[AppSpec::simple("echo")],
        r#""worker_c": 1, "max_ws_msg_size": 8192,
           "inbound_ring_buf_size": 4096, "outbound_ring_buf_size": 4096,"#,
    );
    // Each pause and resumption is logged: keep the pipe drained.
    let _log = server.capture_stderr();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let mut reader = support::raw::RawWs::connect(server.addr(), "/echo");
            let mut writer = reader.stream.try_clone().unwrap();
            let sending = std::thread::spawn(move || {
                for n in 0..MESSAGES {
                    let frame =
                        support::raw::masked(support::raw::BINARY, &pipelined_payload(c, n));
                    std::io::Write::write_all(&mut writer, &frame).unwrap();
                }
            });
            let reading = std::thread::spawn(move || {
                // Late, so that the first echoes wait in the server.
                std::thread::sleep(Duration::from_millis(200));
                for n in 0..MESSAGES {
                    let frame = reader.frame();
                    assert_eq!(frame.opcode, support::raw::BINARY);
                    assert!(
                        frame.payload == pipelined_payload(c, n),
                        "client {c}, echo {n}: {} bytes, not the {} sent",
                        frame.payload.len(),
                        pipelined_payload(c, n).len()
                    );
                }
            });
            (sending, reading)
        })
        .collect();
    for (sending, reading) in clients {
        sending.join().expect("the server takes every message");
        reading
            .join()
            .expect("every echo comes back whole and in order");
    }
    drop(server);
}
