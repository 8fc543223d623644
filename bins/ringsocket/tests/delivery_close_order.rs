//! A close frame queued by close_client comes after
//! everything the app sent the client before it (replies, bursts that
//! span delivery passes), and nothing the app sends after it arrives.

mod support;

use std::time::Duration;

use support::raw::{self, RawWs, Received};
use support::{AppSpec, Server, welcome_id};

#[test]
fn close_client_after_replies_and_a_long_burst_comes_last_on_every_worker() {
    let server = Server::start_with(1, &[AppSpec::simple("probe")], r#""worker_c": 3,"#);
    for round in 0..6 {
        let mut c = RawWs::connect(server.addr(), "/probe");
        let welcome = loop {
            let f = c.frame();
            let t = String::from_utf8(f.payload).unwrap();
            if t.starts_with("welcome ") {
                break t;
            }
        };
        let id = welcome_id(&welcome);
        let mut bytes = Vec::new();
        // Three case 0xC3 requests (the echo of the rest is refused: not
        // UTF-8 without its lead byte; the reply is a binary 1).
        for k in 0..3u8 {
            let mut t = vec![0xC3, 0xA9];
            t.extend(std::iter::repeat_n(b'a' + k, 2000));
            bytes.extend(raw::masked(raw::TEXT, &t));
        }
        // A burst of 700 frames (spans several delivery passes).
        bytes.extend(raw::masked(raw::BINARY, &[11, 0x02, 0xbc]));
        // close_client on itself with 4000 + round.
        let mut close = vec![7];
        close.extend_from_slice(&id.to_be_bytes());
        close.extend_from_slice(&(4000 + round as u16).to_be_bytes());
        bytes.extend(raw::masked(raw::BINARY, &close));
        // After it: more that must not arrive.
        bytes.extend(raw::masked(raw::BINARY, &[11, 0, 5]));
        bytes.extend(raw::masked(raw::BINARY, &[5, 2]));
        c.send_raw(&bytes);
        let mut got = Vec::new();
        let end = loop {
            match c.read_within(Duration::from_secs(10)) {
                Received::Frame(f) if f.opcode == raw::CLOSE => break Some(f.close_code()),
                Received::Frame(f) => got.push(f),
                Received::Closed { .. } => break None,
            }
        };
        let mut expected = Vec::new();
        for _ in 0..3u8 {
            // The rest starts with a continuation byte: refused (1).
            expected.push((raw::BINARY, vec![1]));
        }
        for i in 0..700u16 {
            expected.push((raw::BINARY, i.to_be_bytes().to_vec()));
        }
        let got: Vec<(u8, Vec<u8>)> = got
            .into_iter()
            .filter(|f| !f.payload.starts_with(b"bye "))
            .map(|f| (f.opcode, f.payload))
            .collect();
        assert_eq!(got.len(), expected.len(), "round {round}");
        assert!(got == expected, "round {round}: order or content differs");
        assert_eq!(end, Some(4000 + round as u16), "round {round}");
        c.send(raw::CLOSE, &(4000 + round as u16).to_be_bytes());
        c.wait_closed(Duration::from_secs(10));
    }
}
