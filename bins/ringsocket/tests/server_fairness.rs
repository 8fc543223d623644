//! End-to-end test of fairness between the clients of one worker: a client
//! that floods it gets turns, not the worker. Alone in its file, so that
//! its load does not disturb the timing tests of the others.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::time::{Duration, Instant};

use support::raw::{self, RawWs};
use support::*;
use tungstenite::Message;

#[test]
fn a_client_flooding_pings_does_not_starve_the_others_on_its_worker() {
    // One worker: the flooder and the other client share its loop. The
    // flooder keeps its socket full of pings (each answered with a pong,
    // which it reads as fast as it can) for two seconds. (Before the
    // worker read in turns and answered a read's pings in one write, one
    // read of pings took seconds to answer: an echo waited 6.7 s.)
    let server = Server::start_with(1, &[AppSpec::simple("echo")], r#""worker_c": 1,"#);
    let mut flooder = RawWs::connect(server.addr(), "/echo");
    let mut reader = flooder.stream.try_clone().unwrap();
    let flood_for = Duration::from_secs(2);
    let reading = std::thread::spawn(move || {
        let mut sink = vec![0u8; 1 << 16];
        reader
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut total = 0usize;
        loop {
            match reader.read(&mut sink) {
                Ok(0) => return total,
                Ok(n) => total += n,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return total;
                }
                Err(_) => return total,
            }
        }
    });
    let flooding = std::thread::spawn(move || {
        let pings = raw::masked(0x9, b"").repeat(8192);
        let started = Instant::now();
        while started.elapsed() < flood_for {
            if flooder.stream.write_all(&pings).is_err() {
                break;
            }
        }
        flooder
    });
    std::thread::sleep(Duration::from_millis(300));
    let mut other = connect(&server.url("/echo"));
    let mut slowest = Duration::ZERO;
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(1500) {
        let sent = Instant::now();
        other.send(Message::text("still there?")).unwrap();
        assert_eq!(next_message(&mut other), Message::text("still there?"));
        slowest = slowest.max(sent.elapsed());
        std::thread::sleep(Duration::from_millis(50));
    }
    let _flooder = flooding.join().unwrap();
    let pongs = reading.join().unwrap();
    assert!(pongs > 0, "the flooder got no pongs");
    assert!(
        slowest < Duration::from_millis(500),
        "an echo took {slowest:?} while another client flooded pings"
    );
}
