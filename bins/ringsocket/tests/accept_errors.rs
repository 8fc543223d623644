//! accept(2)'s rarer errors, made on demand by an LD_PRELOAD shim
//! (`support/fail_accept.c`): neither kind may leave a client waiting in
//! the listen queue, where an edge-triggered poll would not announce it
//! again until another client came.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use support::*;
use tungstenite::Message;

/// Builds the shim into `dir`.
fn build_shim(dir: &Path) -> PathBuf {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/fail_accept.c");
    let out = dir.join("libfail_accept.so");
    let output = Command::new("cc")
        .args([
            "-std=c11", "-Wall", "-Wextra", "-Werror", "-O2", "-shared", "-fPIC",
        ])
        .arg("-o")
        .arg(&out)
        .arg(&source)
        .arg("-ldl")
        .output()
        .unwrap_or_else(|e| panic!("cannot run `cc` (a C compiler is needed): {e}"));
    assert!(
        output.status.success(),
        "fail_accept.c does not build:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    out
}

#[test]
fn accept_errors_neither_strand_a_waiting_client_nor_stop_the_listener() {
    let build = tempfile::tempdir().unwrap();
    let shim = build_shim(build.path());
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
