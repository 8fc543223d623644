//! accept(2)'s rarer errors, made on demand by an LD_PRELOAD shim
//! (`support/fail_accept.c`): neither kind may leave a client waiting in
//! the listen queue, where an edge-triggered poll would not announce it
//! again until another client came.

mod support;

use std::time::{Duration, Instant};

use support::*;
use tungstenite::Message;

#[test]
fn accept_errors_neither_strand_a_waiting_client_nor_stop_the_listener() {
    let build = tempfile::tempdir().unwrap();
    let shim = build.path().join("libfail_accept.so");
    build_c(
        "bins/ringsocket/tests/support/fail_accept.c",
        &shim,
        &["-ldl"],
    );
    let port = free_port();
    let config = config_text(&[port], &[AppSpec::simple("echo")], &run_as_user());
    // For the first client: an error of that one connection (accept(2):
    // go on as for EAGAIN), then one of the system's (try again shortly),
    // then the real accept.
    let plan = format!("{},{}", libc::ECONNABORTED, libc::ENOBUFS);
    let mut server = Server::spawn_config_env(
        tempfile::tempdir().unwrap(),
        &config,
        vec![port],
        &[
            ("LD_PRELOAD", shim.to_str().unwrap()),
            ("RS_FAIL_ACCEPT", &plan),
        ],
    );
    let log = server.capture_stderr();
    // Not `wait_until_listening`: its probe connections would take the
    // planned errors, and the client after them would find a poll that
    // announces the queue again.
    assert!(
        log.wait_for(" started: ", Duration::from_secs(20)),
        "{}",
        log.text()
    );
    let start = Instant::now();
    let mut client = connect(&server.url("/echo"));
    client.send(Message::text("through")).unwrap();
    assert_eq!(next_message(&mut client), Message::text("through"));
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "served after {:?}",
        start.elapsed()
    );
    for line in [
        "a connection failed before it was accepted: Software caused connection abort",
        "accept failed: No buffer space available",
    ] {
        assert!(
            log.wait_for(line, Duration::from_secs(5)),
            "no '{line}':\n{}",
            log.text()
        );
    }
}
