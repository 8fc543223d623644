//! A server that loses a message fails a timed run, as a wrong byte does,
//! instead of the run reporting a rate over the connections that happened
//! to keep going.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use rs_load::{Command, LoadError, Options, Report};
use rs_proto::{Decoder, Event, Limits, encode_frame};

mod support;

/// How the test server loses a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Loss {
    /// Echoes every message except message 3 of the first connection,
    /// which it reads and drops (the connection stays open).
    EchoDropsOne,
    /// Sends every message to every client, except that client 0 never
    /// gets client 1's first message.
    BroadcastDropsOne,
}

type Clients = Arc<Mutex<Vec<TcpStream>>>;

fn serve(loss: Loss) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let clients: Clients = Arc::default();
    let accepted = Arc::new(AtomicUsize::new(0));
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let clients = Arc::clone(&clients);
            let index = accepted.fetch_add(1, Ordering::SeqCst);
            thread::spawn(move || {
                let _ = connection(stream, index, loss, &clients);
            });
        }
    });
    port
}

fn connection(
    mut stream: TcpStream,
    index: usize,
    loss: Loss,
    clients: &Clients,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(20)))?;
    stream.set_nodelay(true)?;
    let Some(request) = support::Request::read(&mut stream)? else {
        return Ok(());
    };
    if loss == Loss::BroadcastDropsOne {
        let mut all = clients.lock().unwrap();
        all.push(stream.try_clone()?);
        // The 101 under the lock, so no broadcast reaches this client first.
        stream.write_all(request.switching_protocols().as_bytes())?;
    } else {
        stream.write_all(request.switching_protocols().as_bytes())?;
    }
    let mut decoder = Decoder::new(Limits::default());
    let mut pending = request.rest;
    let mut buf = vec![0u8; 1 << 16];
    let mut messages = 0usize;
    loop {
        let mut pos = 0;
        while pos < pending.len() {
            let decoded = decoder.decode(&mut pending[pos..]).expect("a valid client");
            pos += decoded.consumed;
            if let Some(Event::Message { kind, payload }) = decoded.event {
                let mut out = Vec::new();
                encode_frame(&mut out, kind.opcode(), payload).unwrap();
                let this = messages;
                messages += 1;
                match loss {
                    Loss::EchoDropsOne => {
                        if !(index == 0 && this == 3) {
                            stream.write_all(&out)?;
                        }
                    }
                    Loss::BroadcastDropsOne => {
                        // The sender field (8 hex digits) names the client.
                        let sender = std::str::from_utf8(&payload[..8]).unwrap().to_owned();
                        for (to, client) in clients.lock().unwrap().iter_mut().enumerate() {
                            if !(to == 0 && sender == "00000001" && this == 0) {
                                client.write_all(&out)?;
                            }
                        }
                    }
                }
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

fn run(port: u16, path: &str, args: &[&str]) -> Result<Report, LoadError> {
    let mut all = vec![
        "--url".to_owned(),
        format!("ws://127.0.0.1:{port}{path}"),
        "--duration".to_owned(),
        "1".to_owned(),
    ];
    all.extend(args.iter().map(|s| s.to_string()));
    let Command::Run(options) = Options::parse(all)? else {
        panic!("not a run");
    };
    rs_load::run(&options, &mut Vec::new())
}

/// Connection 0 waits for the echo of its message 3 for the rest of the
/// run, while connection 1 goes on.
#[test]
fn an_echo_that_never_comes_fails_a_timed_run() {
    let port = serve(Loss::EchoDropsOne);
    let result = run(port, "/echo", &["echo", "--conns", "2", "--size", "20"]);
    let error = result.expect_err("a lost echo went unreported").to_string();
    assert!(
        error.contains("still waiting for an echo") && error.contains("connection 0"),
        "{error}"
    );
}

/// Client 0 never completes round 0, so no client gets past round 1: a
/// handful of deliveries in the run's second, which must not pass for the
/// server's rate.
#[test]
fn a_broadcast_delivery_that_never_comes_fails_a_timed_run() {
    let port = serve(Loss::BroadcastDropsOne);
    let result = run(
        port,
        "/broadcast",
        &["broadcast", "--conns", "3", "--size", "20"],
    );
    let error = result
        .expect_err("a lost delivery went unreported")
        .to_string();
    assert!(
        error.contains("still waiting for a broadcast round"),
        "{error}"
    );
}
