//! rs-load against a small WebSocket server written here (one blocking
//! thread per connection, framing by rs-proto): every mode completes with
//! exact totals, and every misbehaviour of the server is reported.
//! Runs against the real RingSocket server: over `wss://` in
//! `wss_server.rs`, benchmarks in `bench/`.

use std::io::Write;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use rs_load::{Command, ConnError, HandshakeError, LoadError, Options, Report};
use rs_proto::{CloseCode, Decoder, Event, Limits, Opcode, encode_close, encode_frame};

mod support;

/// How the test server treats messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Behaviour {
    /// Sends every message back.
    Echo,
    /// Sends every message back, but flips a bit of byte `offset` of the
    /// `message`-th one (counted from 0 across the connection).
    Corrupt { message: usize, offset: usize },
    /// Pings before each echo and echoes only once the matching pong came.
    PingFirst,
    /// Sends every message to every connection.
    Broadcast,
    /// Answers the upgrade with 403.
    Forbid,
    /// Answers the first message with a close frame (1011).
    CloseOnMessage,
    /// Echoes every message but the `message`-th of each connection, which
    /// it reads and drops (the connection stays open).
    Lose { message: usize },
    /// Echoes every message, the `message`-th of each connection twice
    /// (the copy 200 ms later).
    Duplicate { message: usize },
    /// Echoes until `after_ms` after the connection's first message, then
    /// reads and drops every message.
    LoseLate { after_ms: u64 },
    /// Broadcasts, but never delivers a connection's first message to the
    /// first connection.
    BroadcastLosingFirst,
    /// Broadcasts, but never delivers to the first connection a
    /// connection's first message after `after_ms` since its first.
    BroadcastLosingLate { after_ms: u64 },
    /// Echoes, and answers a close frame with 1011 instead of 1000.
    CloseAnswerError,
    /// Reads the upgrade request and never answers it.
    UpgradeUnanswered,
    /// Never answers a close frame.
    CloseUnanswered,
    /// Answers a close frame but never ends the TCP stream.
    StaysOpenAfterClose,
}

type Clients = Arc<Mutex<Vec<TcpStream>>>;

/// Starts the server on a free loopback port; returns the port.
fn serve(behaviour: Behaviour) -> u16 {
    serve_listing(behaviour).0
}

/// [`serve`], also returning the list of clients (kept by the broadcast
/// behaviours).
fn serve_listing(behaviour: Behaviour) -> (u16, Clients) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let clients: Clients = Arc::default();
    let listed = Arc::clone(&clients);
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let clients = Arc::clone(&clients);
            thread::spawn(move || {
                let _ = connection(stream, behaviour, &clients);
            });
        }
    });
    (port, listed)
}

fn connection(
    mut stream: TcpStream,
    behaviour: Behaviour,
    clients: &Clients,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(20)))?;
    stream.set_nodelay(true)?;
    let Some(request) = support::Request::read(&mut stream)? else {
        return Ok(());
    };
    if behaviour == Behaviour::Forbid {
        return stream.write_all(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
    }
    if behaviour == Behaviour::UpgradeUnanswered {
        // Held open, silent, until the client goes.
        while support::read_some(&mut stream, &mut [0; 256])? > 0 {}
        return Ok(());
    }
    if matches!(
        behaviour,
        Behaviour::Broadcast
            | Behaviour::BroadcastLosingFirst
            | Behaviour::BroadcastLosingLate { .. }
    ) {
        // Registered before the 101, so no message can miss this client.
        clients.lock().unwrap().push(stream.try_clone()?);
    }
    stream.write_all(request.switching_protocols().as_bytes())?;
    let mut decoder = Decoder::new(Limits::default());
    let mut pending = request.rest;
    let mut buf = vec![0u8; 1 << 16];
    let mut messages = 0usize;
    let mut awaiting_pong: Option<(Vec<u8>, Vec<u8>)> = None;
    let mut first_at = None;
    let mut lost_late = false;
    loop {
        let mut pos = 0;
        while pos < pending.len() {
            let decoded = decoder.decode(&mut pending[pos..]).expect("a valid client");
            pos += decoded.consumed;
            let mut out = Vec::new();
            match decoded.event {
                Some(Event::Message { kind, payload }) => {
                    let mut echo = payload.to_vec();
                    let since_first = first_at.get_or_insert_with(Instant::now).elapsed();
                    match behaviour {
                        Behaviour::Corrupt { message, offset } if message == messages => {
                            echo[offset] ^= 1;
                        }
                        Behaviour::PingFirst => {
                            let token = format!("ping {messages}").into_bytes();
                            encode_frame(&mut out, Opcode::Ping, &token).unwrap();
                            awaiting_pong = Some((token, echo));
                            stream.write_all(&out)?;
                            messages += 1;
                            continue;
                        }
                        Behaviour::CloseOnMessage => {
                            encode_close(&mut out, CloseCode::new(1011), "no");
                            stream.write_all(&out)?;
                            return Ok(());
                        }
                        Behaviour::Lose { message } if message == messages => {
                            messages += 1;
                            continue;
                        }
                        Behaviour::LoseLate { after_ms }
                            if since_first > Duration::from_millis(after_ms) =>
                        {
                            continue;
                        }
                        Behaviour::Duplicate { message } if message == messages => {
                            // The copy follows later, in a read of its own.
                            encode_frame(&mut out, kind.opcode(), &echo).unwrap();
                            stream.write_all(&out)?;
                            out.clear();
                            thread::sleep(Duration::from_millis(200));
                        }
                        _ => {}
                    }
                    let first = messages == 0;
                    messages += 1;
                    encode_frame(&mut out, kind.opcode(), &echo).unwrap();
                    if matches!(
                        behaviour,
                        Behaviour::Broadcast
                            | Behaviour::BroadcastLosingFirst
                            | Behaviour::BroadcastLosingLate { .. }
                    ) {
                        let losing = match behaviour {
                            Behaviour::BroadcastLosingFirst => first,
                            Behaviour::BroadcastLosingLate { after_ms }
                                if !lost_late && since_first >= Duration::from_millis(after_ms) =>
                            {
                                lost_late = true;
                                true
                            }
                            _ => false,
                        };
                        for (to, client) in clients.lock().unwrap().iter_mut().enumerate() {
                            if !(losing && to == 0) {
                                client.write_all(&out)?;
                            }
                        }
                        continue;
                    }
                    // The frame in two writes, so the client reads it in pieces.
                    let half = out.len() / 2;
                    stream.write_all(&out[..half])?;
                    stream.write_all(&out[half..])?;
                }
                Some(Event::Pong(payload)) => {
                    let (token, echo) = awaiting_pong.take().expect("a pong we asked for");
                    assert_eq!(payload, &token[..], "the pong carries the ping's payload");
                    encode_frame(&mut out, Opcode::Binary, &echo).unwrap();
                    stream.write_all(&out)?;
                }
                Some(Event::Close(_)) if behaviour == Behaviour::CloseUnanswered => {}
                Some(Event::Close(_)) => {
                    let code = match behaviour {
                        Behaviour::CloseAnswerError => CloseCode::INTERNAL_ERROR,
                        _ => CloseCode::NORMAL,
                    };
                    encode_close(&mut out, code, "");
                    stream.write_all(&out)?;
                    if behaviour != Behaviour::StaysOpenAfterClose {
                        return stream.shutdown(Shutdown::Both);
                    }
                }
                _ => {}
            }
        }
        let n = support::read_some(&mut stream, &mut buf)?;
        if n == 0 {
            return Ok(());
        }
        pending.clear();
        pending.extend_from_slice(&buf[..n]);
    }
}

fn run(port: u16, args: &[&str]) -> Result<Report, LoadError> {
    run_for(port, 20, args)
}

/// [`run`] with a `--duration` of `seconds`.
fn run_for(port: u16, seconds: u32, args: &[&str]) -> Result<Report, LoadError> {
    run_for_with_progress(port, seconds, args).0
}

/// [`run_for`], also returning the progress lines.
fn run_for_with_progress(
    port: u16,
    seconds: u32,
    args: &[&str],
) -> (Result<Report, LoadError>, String) {
    let mut all = vec![
        "--url".to_owned(),
        format!("ws://127.0.0.1:{port}/echo"),
        "--duration".to_owned(),
        seconds.to_string(),
    ];
    all.extend(args.iter().map(|s| s.to_string()));
    let Command::Run(options) = Options::parse(all).unwrap() else {
        panic!("not a run");
    };
    let mut progress = Vec::new();
    let report = rs_load::run(&options, &mut progress);
    (report, String::from_utf8(progress).unwrap())
}

#[test]
fn a_timed_run_reports_every_second_of_it() {
    // One line a second, the last second's included (it was not).
    let port = serve(Behaviour::Echo);
    let (report, progress) = run_for_with_progress(port, 3, &["echo", "--conns", "2"]);
    report.unwrap();
    // (Each a little late when the machine is busy.)
    let seconds: Vec<f64> = progress
        .lines()
        .map(|line| line.split_whitespace().next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(seconds.len(), 3, "{progress}");
    for (i, at) in seconds.iter().enumerate() {
        assert!((1.0 + i as f64..1.5 + i as f64).contains(at), "{progress}");
    }
}

#[test]
fn echo_with_a_count_sends_exactly_that_many_and_checks_them() {
    let port = serve(Behaviour::Echo);
    let report = run(
        port,
        &[
            "echo",
            "--conns",
            "4",
            "--threads",
            "2",
            "--size",
            "300",
            "--count",
            "1001",
            "--text",
        ],
    )
    .unwrap();
    assert_eq!(report.total, 1001);
    assert_eq!(report.latency.count(), 1001);
    let summary = report.to_string();
    assert!(
        summary.contains("RESULT mode=echo conns=4 size=300 kind=text threads=2 total=1001 "),
        "{summary}"
    );
}

#[test]
fn echo_of_large_binary_messages() {
    let port = serve(Behaviour::Echo);
    let report = run(
        port,
        &["echo", "--conns", "2", "--size", "70000", "--count", "20"],
    )
    .unwrap();
    assert_eq!(report.total, 20);
}

#[test]
fn a_count_of_zero_only_connects() {
    let port = serve(Behaviour::Echo);
    let report = run(port, &["echo", "--conns", "3", "--count", "0"]).unwrap();
    assert_eq!(report.total, 0);
}

#[test]
fn a_changed_byte_fails_the_run_naming_message_and_offset() {
    let port = serve(Behaviour::Corrupt {
        message: 5,
        offset: 12,
    });
    let error = run(
        port,
        &["echo", "--conns", "1", "--size", "64", "--count", "10"],
    )
    .unwrap_err();
    match error {
        LoadError::Conn {
            conn: 0,
            error:
                ConnError::Mismatch {
                    message: 5,
                    offset: 12,
                    expected,
                    got,
                },
        } => assert_eq!(expected ^ 1, got),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_changed_counter_byte_is_caught_too() {
    let port = serve(Behaviour::Corrupt {
        message: 0,
        offset: 7,
    });
    let error = run(port, &["echo", "--conns", "1", "--count", "3"]).unwrap_err();
    assert!(
        matches!(
            error,
            LoadError::Conn {
                error: ConnError::Mismatch {
                    message: 0,
                    offset: 7,
                    expected: b'0',
                    got: b'1'
                },
                ..
            }
        ),
        "{error:?}"
    );
}

#[test]
fn pings_are_answered_with_matching_pongs() {
    let port = serve(Behaviour::PingFirst);
    let report = run(port, &["echo", "--conns", "2", "--count", "50"]).unwrap();
    assert_eq!(report.total, 50);
}

#[test]
fn broadcast_delivers_every_message_to_every_client() {
    let port = serve(Behaviour::Broadcast);
    let report = run(
        port,
        &[
            "broadcast",
            "--conns",
            "5",
            "--threads",
            "2",
            "--count",
            "50",
        ],
    )
    .unwrap();
    // 10 rounds of 5 messages, each delivered to 5 clients.
    assert_eq!(report.total, 250);
    assert_eq!(
        report.latency.count(),
        50,
        "one round time per client and round"
    );
}

#[test]
fn connect_counts_complete_handshakes() {
    let port = serve(Behaviour::Echo);
    let report = run(
        port,
        &["connect", "--conns", "4", "--threads", "2", "--count", "40"],
    )
    .unwrap();
    assert_eq!(report.total, 40);
    assert_eq!(report.latency.count(), 40);
}

#[test]
fn a_refused_upgrade_is_reported_with_its_status() {
    let port = serve(Behaviour::Forbid);
    let error = run(port, &["echo", "--conns", "1", "--count", "1"]).unwrap_err();
    match error {
        LoadError::Conn {
            error: ConnError::Handshake(HandshakeError::Status(line)),
            ..
        } => assert_eq!(line, "HTTP/1.1 403 Forbidden"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_close_answered_with_another_code_than_1000_fails_the_run() {
    // connect's closing handshakes: a 1011 is the server's error, not a
    // handshake done.
    let port = serve(Behaviour::CloseAnswerError);
    match run(port, &["connect", "--conns", "1", "--count", "1"]) {
        Err(LoadError::Conn {
            error: ConnError::ServerClosed(Some(1011)),
            ..
        }) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn idle_opens_one_warm_up_connection_more_than_it_measures() {
    // This process is the server: its memory is what idle reads.
    let (port, clients) = serve_listing(Behaviour::Broadcast);
    let pid = std::process::id().to_string();
    let report = run_for(port, 1, &["idle", "--conns", "3", "--server-pid", &pid]).unwrap();
    assert_eq!(report.total, 3);
    assert_eq!(report.memory.unwrap().conns, 3);
    assert_eq!(clients.lock().unwrap().len(), 4);
}

#[test]
fn a_refused_warm_up_connection_fails_idle_naming_it() {
    let port = serve(Behaviour::Forbid);
    let pid = std::process::id().to_string();
    let error = run_for(port, 1, &["idle", "--conns", "1", "--server-pid", &pid]).unwrap_err();
    assert!(
        matches!(
            &error,
            LoadError::WarmUp(ConnError::Handshake(HandshakeError::Status(line)))
                if line == "HTTP/1.1 403 Forbidden"
        ),
        "{error:?}"
    );
    assert!(
        error.to_string().starts_with("the warm-up connection "),
        "{error}"
    );
}

#[test]
fn a_close_from_the_server_fails_the_run_with_its_code() {
    let port = serve(Behaviour::CloseOnMessage);
    let error = run(port, &["echo", "--conns", "1", "--count", "1"]).unwrap_err();
    assert!(
        matches!(
            error,
            LoadError::Conn {
                error: ConnError::ServerClosed(Some(1011)),
                ..
            }
        ),
        "{error:?}"
    );
}

#[test]
fn a_handshake_or_close_that_never_ends_fails_a_timed_connect_run() {
    for behaviour in [
        Behaviour::UpgradeUnanswered,
        Behaviour::CloseUnanswered,
        Behaviour::StaysOpenAfterClose,
    ] {
        let port = serve(behaviour);
        let error = run_for(port, 1, &["connect", "--conns", "1"]).unwrap_err();
        let message = error.to_string();
        match error {
            LoadError::Conn {
                conn: 0,
                error: ConnError::Stalled { what, waited },
            } => {
                assert_eq!(what, "a handshake and its close", "{behaviour:?}");
                assert!(
                    waited > Duration::from_millis(500) && waited < Duration::from_secs(5),
                    "{behaviour:?}: {waited:?}"
                );
            }
            other => panic!("{behaviour:?}: {other:?}"),
        }
        assert!(
            message.contains("still waiting for a handshake and its close after "),
            "{message}"
        );
    }
}

#[test]
fn duration_bounds_an_unlimited_run() {
    let port = serve(Behaviour::Echo);
    let started = std::time::Instant::now();
    let Command::Run(options) = Options::parse(
        [
            "echo",
            "--url",
            &format!("ws://127.0.0.1:{port}/"),
            "--conns",
            "2",
            "--duration",
            "0.5",
        ]
        .map(String::from),
    )
    .unwrap() else {
        panic!()
    };
    let report = rs_load::run(&options, &mut Vec::new()).unwrap();
    assert!(report.total > 0);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        (report.elapsed.as_secs_f64() - 0.5).abs() < 0.1,
        "{:?}",
        report.elapsed
    );
}

#[test]
fn an_echo_that_never_comes_fails_a_timed_run() {
    // Reported as a rate over the connections that kept going, a lost
    // message would pass for the server's throughput.
    let port = serve(Behaviour::Lose { message: 3 });
    let result = run_for(port, 1, &["echo", "--conns", "2", "--size", "20"]);
    let error = result.expect_err("a lost echo went unreported").to_string();
    assert!(error.contains("still waiting for an echo"), "{error}");
}

#[test]
fn a_broadcast_delivery_that_never_comes_fails_a_timed_run() {
    // One lost delivery stops every client: a near-zero rate must not
    // pass for the server's.
    let port = serve(Behaviour::BroadcastLosingFirst);
    let result = run_for(port, 1, &["broadcast", "--conns", "3", "--size", "20"]);
    let error = result
        .expect_err("a lost delivery went unreported")
        .to_string();
    assert!(
        error.contains("still waiting for a broadcast round"),
        "{error}"
    );
}

#[test]
fn a_broadcast_delivery_lost_late_in_a_timed_run_fails_it() {
    // Lost after three quarters of the run: the rounds stop, too late to
    // have waited half of it at the deadline, but far longer than any
    // round before. (A run of 4 s: the wait, 1 s, stays above ten times
    // the slowest round even when a loaded machine held one up 40 ms,
    // which a 1 s run's 250 ms did not.)
    let port = serve(Behaviour::BroadcastLosingLate { after_ms: 3000 });
    let result = run_for(port, 4, &["broadcast", "--conns", "3", "--size", "20"]);
    let error = result
        .expect_err("a lost delivery went unreported")
        .to_string();
    assert!(
        error.contains("still waiting for a broadcast round"),
        "{error}"
    );
}

#[test]
fn a_message_more_than_a_count_asked_for_fails_the_run() {
    // The extra echo comes after the last one awaited: only the closing
    // handshake at the end of the run sees it.
    let port = serve(Behaviour::Duplicate { message: 4 });
    let result = run(
        port,
        &["echo", "--conns", "1", "--count", "5", "--size", "20"],
    );
    let error = result
        .expect_err("an extra echo went unreported")
        .to_string();
    assert!(
        error.contains("a message arrived while none was expected"),
        "{error}"
    );
}

#[test]
fn an_echo_lost_late_in_a_timed_run_fails_it() {
    // Lost after three quarters of the run: too late to have waited half
    // of it at the deadline, so only the grace period after it catches it.
    let port = serve(Behaviour::LoseLate { after_ms: 750 });
    let result = run_for(port, 1, &["echo", "--conns", "1", "--size", "20"]);
    let error = result.expect_err("a lost echo went unreported").to_string();
    assert!(
        error.contains("the echo of the last message did not come within 5.0 s"),
        "{error}"
    );
}

#[test]
fn a_close_that_never_comes_fails_an_echo_run() {
    let port = serve(Behaviour::CloseUnanswered);
    let result = run(port, &["echo", "--conns", "2", "--count", "10"]);
    let error = result
        .expect_err("a missing close went unreported")
        .to_string();
    assert!(
        error.contains("the server's close did not come within 5.0 s"),
        "{error}"
    );
}
