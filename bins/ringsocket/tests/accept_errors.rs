//! accept(2)'s rarer errors, made on demand by an LD_PRELOAD shim
//! (`support/fail_accept.c`): none may leave a client waiting in the
//! listen queue, where an edge-triggered poll would not announce it again
//! until another client came.

mod support;

use std::time::{Duration, Instant};

use support::*;
use tungstenite::Message;

/// A server on the echo app whose first accept4 calls fail with `errors`,
/// in order, and the log it writes once it has started (the shim is built
/// in the folder returned).
fn server_failing_accepts(errors: &[i32]) -> (Server, Log, tempfile::TempDir) {
    server_failing(errors, &[])
}

/// The same, its opens of /dev/null also planned (`devnull`: an errno or 0
/// for each), with one worker: open 0 is its spare descriptor's.
fn server_failing(errors: &[i32], devnull: &[i32]) -> (Server, Log, tempfile::TempDir) {
    let plan = |errors: &[i32]| {
        errors
            .iter()
            .map(i32::to_string)
            .collect::<Vec<_>>()
            .join(",")
    };
    let (mut server, build) = spawn_echo_with_shim(
        "\"worker_c\": 1,",
        &[
            ("RS_FAIL_ACCEPT", &plan(errors)),
            ("RS_FAIL_DEVNULL", &plan(devnull)),
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
    (server, log, build)
}

/// A new connection is closed at once, not left waiting in the listen
/// queue for an event that never comes, nor served (the read would time
/// out).
fn assert_refused(server: &Server, client: &str) {
    let mut refused = std::net::TcpStream::connect(server.addr()).unwrap();
    refused
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let result = read_some(&mut refused, &mut [0u8; 256]);
    assert!(
        matches!(result, Ok(0))
            || matches!(&result, Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset),
        "the {client} client was not refused: {result:?}"
    );
}

/// The server's descriptors open on /dev/null (its spare among them).
fn devnull_fds(server: &Server) -> usize {
    std::fs::read_dir(format!("/proc/{}/fd", server.pid()))
        .unwrap()
        .filter(|fd| {
            std::fs::read_link(fd.as_ref().unwrap().path())
                .is_ok_and(|target| target == std::path::Path::new("/dev/null"))
        })
        .count()
}

/// The echo app answers a new client.
fn assert_echoes(server: &Server) {
    let mut client = connect(&server.url("/echo"));
    client.send(Message::text("through")).unwrap();
    assert_eq!(next_message(&mut client), Message::text("through"));
}

#[test]
fn accept_errors_neither_strand_a_waiting_client_nor_stop_the_listener() {
    // For the first client: an error of that one connection (accept(2):
    // go on as for EAGAIN), then one of the system's (try again shortly),
    // then the real accept.
    let (server, log, _build) = server_failing_accepts(&[libc::ECONNABORTED, libc::ENOBUFS]);
    let start = Instant::now();
    assert_echoes(&server);
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

#[test]
fn a_connection_that_finds_no_descriptor_is_refused_at_once_and_the_spare_taken_back() {
    // Out of descriptors for the first client: the server frees its spare,
    // accepts the client with it and closes it, takes the spare back, and
    // finds no one else waiting (the 0s: the real accept4). Then out of
    // descriptors again for the second: it is refused the same way only if
    // the spare was taken back (otherwise the server waits, and serves it).
    // The second connects once the server has looked for more after the
    // first (its third accept4), which would otherwise take it normally.
    let (server, log, _build) = server_failing_accepts(&[libc::EMFILE, 0, 0, libc::EMFILE]);
    for (client, after) in [
        ("first", None),
        ("second", Some("fail_accept: call 2 done")),
    ] {
        if let Some(after) = after {
            assert!(
                log.wait_for(after, Duration::from_secs(5)),
                "{}",
                log.text()
            );
        }
        assert_refused(&server, client);
    }
    assert_echoes(&server);
    let line = "accept failed: Too many open files (os error 24); refusing new connections";
    assert!(
        log.wait_for(line, Duration::from_secs(5)),
        "no '{line}':\n{}",
        log.text()
    );
}

#[test]
fn a_failed_accept_with_the_spare_leaves_no_client_waiting() {
    // Out of descriptors, the spare freed, and its accept fails too: with
    // EMFILE (another worker took the descriptor) or a system error the
    // client is taken up at the retry; with an error of its own connection,
    // the loop goes on. (The first two stranded the client until another
    // came, for one commit; the system error was then retried at once,
    // unlogged, until it passed.)
    for second in [libc::EMFILE, libc::ECONNABORTED, libc::ENOBUFS] {
        let (server, log, _build) = server_failing_accepts(&[libc::EMFILE, second]);
        let start = Instant::now();
        assert_echoes(&server);
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "after {second}: served after {:?}\n{}",
            start.elapsed(),
            log.text()
        );
        if second == libc::ENOBUFS {
            let line = "accept failed: No buffer space available";
            assert!(log.wait_for(line, Duration::from_secs(5)), "{}", log.text());
        }
    }
}

#[test]
fn a_spare_descriptor_lost_to_another_thread_is_taken_back_once_a_connection_closes() {
    // Out of descriptors for the first client, which is refused with the
    // spare; reopening the spare then fails (/dev/null open 1), as when
    // another worker took the descriptor the spare gave up. It was never
    // taken back until the next time descriptors ran out, when opening a
    // file fails by definition.
    let (server, log, _build) = server_failing(&[libc::EMFILE], &[0, libc::EMFILE]);
    let held = devnull_fds(&server);
    assert_refused(&server, "first");
    assert!(
        log.wait_for("/dev/null open 1 done", Duration::from_secs(5)),
        "{}",
        log.text()
    );
    assert_eq!(devnull_fds(&server), held - 1);
    // A client comes and goes: the descriptor its connection held is free.
    assert_echoes(&server);
    let deadline = Instant::now() + Duration::from_secs(5);
    while devnull_fds(&server) < held {
        assert!(
            Instant::now() < deadline,
            "the spare was not taken back\n{}",
            log.text()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}
