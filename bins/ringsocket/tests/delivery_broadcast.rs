//! Broadcasts (to_every) while clients join and leave,
//! and with a slow consumer among the recipients, over several workers.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use support::raw::{self, RawWs, Received};
use support::{AppSpec, Server, connect, next_message, set_timeout};
use tungstenite::Message;

fn num(message: &Message) -> u32 {
    match message {
        Message::Binary(b) => u32::from_be_bytes(b[..4].try_into().unwrap()),
        other => panic!("not a numbered broadcast: {other:?}"),
    }
}

#[test]
fn joiners_and_leavers_during_broadcasts_get_a_contiguous_run_and_stayers_get_all() {
    let server = Server::start_with(1, &[AppSpec::simple("broadcast")], r#""worker_c": 3,"#);
    let url = server.url("/broadcast");
    let mut stayers: Vec<_> = (0..6).map(|_| connect(&url)).collect();
    // Let the app have heard of all of them (their open notices) before
    // the first broadcast: a round trip through the app.
    stayers[0]
        .send(Message::binary(u32::MAX.to_be_bytes().to_vec()))
        .unwrap();
    for s in &mut stayers {
        assert_eq!(num(&next_message(s)), u32::MAX);
    }
    const N: u32 = 1500;
    let done = Arc::new(AtomicBool::new(false));
    let churn = {
        let (url, done) = (url.clone(), done.clone());
        std::thread::spawn(move || {
            let mut report = Vec::new();
            for round in 0..200 {
                if done.load(Ordering::Relaxed) {
                    break;
                }
                let mut c = connect(&url);
                set_timeout(&c, Duration::from_millis(500));
                let mut got = Vec::new();
                let want = 1 + round % 7;
                while got.len() < want {
                    match c.read() {
                        Ok(Message::Binary(b)) => {
                            got.push(u32::from_be_bytes(b[..4].try_into().unwrap()))
                        }
                        Ok(_) => {}
                        Err(_) => break,
                    }
                }
                // Leave: close, and read until the close answer (more
                // broadcasts may still come before it).
                let _ = c.close(None);
                let deadline = Instant::now() + Duration::from_secs(5);
                while Instant::now() < deadline {
                    match c.read() {
                        Ok(Message::Binary(b)) => {
                            got.push(u32::from_be_bytes(b[..4].try_into().unwrap()))
                        }
                        Ok(_) => {}
                        Err(_) => break,
                    }
                }
                report.push(got);
            }
            report
        })
    };
    // The sender (a stayer) sends numbered messages, a few at a time.
    let start = Instant::now();
    for n in 0..N {
        stayers[0]
            .send(Message::binary(n.to_be_bytes().to_vec()))
            .unwrap();
        if n % 10 == 9 {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(start.elapsed() < Duration::from_secs(60));
    }
    for (i, s) in stayers.iter_mut().enumerate() {
        for n in 0..N {
            assert_eq!(num(&next_message(s)), n, "stayer {i}");
        }
    }
    done.store(true, Ordering::Relaxed);
    let report = churn.join().unwrap();
    let mut joined = 0;
    for (round, got) in report.iter().enumerate() {
        if got.is_empty() {
            continue;
        }
        joined += 1;
        for w in got.windows(2) {
            assert_eq!(
                w[1],
                w[0] + 1,
                "joiner {round}: a gap, a duplicate or a reordering: {got:?}"
            );
        }
    }
    assert!(joined > 10, "too few joiners saw broadcasts: {joined}");
}

#[test]
fn a_slow_consumer_among_broadcast_recipients_holds_up_nobody_and_gets_an_ordered_prefix() {
    let mut server = Server::start_with(
        1,
        &[AppSpec::simple("broadcast")],
        r#""worker_c": 2, "max_ws_msg_size": 65536, "max_pending_output": 1048576,
           "max_pending_output_total": 2097152,"#,
    );
    let log = server.capture_stderr();
    let addr = server.addr();
    // The slow one: a tiny receive buffer, and it does not read.
    let mut slow = RawWs::connect_with_receive_buffer(addr, "/broadcast", 4096);
    // Fast readers, each reading in a thread of its own.
    const N: usize = 300;
    const SIZE: usize = 32 * 1024;
    let payload = |n: usize| {
        let mut p = vec![(n % 251) as u8; SIZE];
        p[..4].copy_from_slice(&(n as u32).to_be_bytes());
        p
    };
    let readers: Vec<_> = (0..6)
        .map(|r| {
            let mut c = RawWs::connect(addr, "/broadcast");
            std::thread::spawn(move || {
                for n in 0..N {
                    let f = c.frame();
                    assert_eq!(f.opcode, raw::BINARY, "reader {r} at {n}: {f:?}");
                    assert!(f.payload == payload(n), "reader {r}: message {n} differs");
                }
                c
            })
        })
        .collect();
    // A round trip through the app so that all are members.
    let mut sender = RawWs::connect(addr, "/broadcast");
    std::thread::sleep(Duration::from_millis(300));
    for n in 0..N {
        sender.send(raw::BINARY, &payload(n));
        let f = sender.frame();
        assert!(f.payload == payload(n), "sender: echo {n}");
    }
    for r in readers {
        r.join().unwrap();
    }
    // The slow one: an ordered prefix, then 1008.
    let mut n = 0;
    let end = loop {
        match slow.read_within(Duration::from_secs(10)) {
            Received::Frame(f) if f.opcode == raw::CLOSE => {
                break format!("close {}", f.close_code());
            }
            Received::Frame(f) => {
                assert!(f.payload == payload(n), "slow: message {n} differs");
                n += 1;
            }
            Received::Closed { trailing, reset } => {
                break format!("closed trailing {trailing} reset {reset}");
            }
        }
    };
    assert_eq!(end, "close 1008", "after {n} messages");
    let text = log.text();
    assert!(
        !text.contains("closing with 1013"),
        "a fast reader was shed: {text}"
    );
}
