//! Panics in a Rust app's callbacks, beyond the plain ones the probe apps
//! cover: with `panic = "abort"`, while unwinding, with a huge message,
//! after one the app caught itself, and a callback returning the status
//! that reports a panic. The app crate is written to CARGO_TARGET_TMPDIR
//! and built with cargo (offline: rs-app's SDK has no dependencies), once
//! unwinding and once with `panic = "abort"`.

mod support;

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use support::{AppSpec, Log, Server, config_text, connect, free_port, next_message, run_as_user};
use tungstenite::Message;

const APP: &str = r#"
use rs_app::prelude::*;

fn panic_str(_: &mut Read, _: &[u8]) -> i32 { panic!("zz asked to panic") }
fn panic_big(_: &mut Read, _: &[u8]) -> i32 { panic!("zz big {}", "x".repeat(2 << 20)) }
fn double_panic(_: &mut Read, _: &[u8]) -> i32 {
    struct Bomb;
    impl Drop for Bomb { fn drop(&mut self) { panic!("zz panic in drop while unwinding") } }
    let _b = Bomb;
    panic!("zz first panic")
}
fn ret_min(_: &mut Read, _: &[u8]) -> i32 { i32::MIN }
extern "C" fn ffi_callback() { panic!("zz extern boom") }
fn extern_panic(_: &mut Read, _: &[u8]) -> i32 {
    let f: extern "C" fn() = std::hint::black_box(ffi_callback);
    f();
    0
}
fn null_deref(_: &mut Read, _: &[u8]) -> i32 {
    // Checked in a debug build.
    let p: *const u8 = std::hint::black_box(std::ptr::null());
    i32::from(unsafe { *p })
}
#[repr(u8)]
#[derive(Clone, Copy)]
enum Two { A = 0, B = 1 }
fn bad_enum(_: &mut Read, _: &[u8]) -> i32 {
    // Checked in a debug build.
    let two: Two = unsafe { std::mem::transmute(std::hint::black_box(7u8)) };
    match two { Two::A => 0, Two::B => 1 }
}
fn precondition(_: &mut Read, _: &[u8]) -> i32 {
    // Checked in a debug build, before anything is read.
    let p: *const u8 = std::hint::black_box(std::ptr::null());
    let s = unsafe { std::slice::from_raw_parts(p, 1) };
    i32::from(s[0])
}
fn caught(rs: &mut Read, _: &[u8]) -> i32 {
    let r = std::panic::catch_unwind(|| -> u8 { panic!("zz caught inside the app") }); // CAUGHT_LINE
    let again = std::panic::catch_unwind(|| -> u8 { panic!("zz caught again") });
    rs.w_str(&format!("caught {} {}", r.is_err(), again.is_err()));
    rs.to_cur(DataKind::Utf8).map_or_else(SendError::status, |()| 0)
}
struct PayloadBomb;
impl Drop for PayloadBomb { fn drop(&mut self) { panic!("zz panic in the payload's drop") } }
fn payload_bomb(_: &mut Read, _: &[u8]) -> i32 { std::panic::panic_any(PayloadBomb) }
fn resumed(_: &mut Read, _: &[u8]) -> i32 { std::panic::resume_unwind(Box::new("zz resumed")) }
fn ok(rs: &mut Read, _: &[u8]) -> i32 {
    rs.w_str("ok");
    rs.to_cur(DataKind::Utf8).map_or_else(SendError::status, |()| 0)
}

rs_app! {
    init: none,
    open: none,
    read: switch {
        112 => bin(panic_str, bytes()),  // 'p'
        98 => bin(panic_big, bytes()),   // 'b'
        68 => bin(double_panic, bytes()),// 'D'
        77 => bin(ret_min, bytes()),     // 'M'
        113 => bin(caught, bytes()),     // 'q'
        114 => bin(resumed, bytes()),    // 'r'
        66 => bin(payload_bomb, bytes()),// 'B'
        69 => bin(extern_panic, bytes()),// 'E'
        85 => bin(precondition, bytes()),// 'U'
        78 => bin(null_deref, bytes()),  // 'N'
        86 => bin(bad_enum, bytes()),    // 'V'
        111 => bin(ok, bytes()),         // 'o'
    },
    close: none,
    timer: none,
}
"#;

/// Builds the app (`abort`: with panic = "abort"); the path of its .so.
fn build(abort: bool) -> PathBuf {
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let name = if abort {
        "panics_abort"
    } else {
        "panics_unwind"
    };
    let dir = tmp.join(name);
    std::fs::create_dir_all(dir.join("src")).unwrap();
    let profile = if abort {
        "\n[profile.dev]\npanic = \"abort\"\n"
    } else {
        ""
    };
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"{name}\"\nversion = \"0.0.0\"\nedition = \"2024\"\npublish = false\n\n\
             [lib]\ncrate-type = [\"cdylib\"]\n\n[dependencies]\n\
             rs-app = {{ path = \"{}\", default-features = false }}\n\n[workspace]\n{profile}",
            root.join("crates/rs-app").display()
        ),
    )
    .unwrap();
    std::fs::write(dir.join("src/lib.rs"), APP).unwrap();
    std::fs::copy(root.join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    let target = tmp.join(format!("{name}_target"));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["build", "--offline", "-j1", "-q"])
        .env("CARGO_TARGET_DIR", &target)
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    target.join(format!("debug/lib{name}.so"))
}

fn app(abort: bool) -> PathBuf {
    static UNWIND: OnceLock<PathBuf> = OnceLock::new();
    static ABORT: OnceLock<PathBuf> = OnceLock::new();
    (if abort { &ABORT } else { &UNWIND })
        .get_or_init(|| build(abort))
        .clone()
}

/// A server with the app `zz` on `/zz`, `app_keys` in its app object.
fn start(abort: bool, app_keys: &str) -> (Server, Log) {
    let port = free_port();
    let spec = AppSpec::at("zz", app(abort));
    let config = config_text(&[port], &[spec], &run_as_user())
        .replace(r#""name": "zz","#, &format!(r#""name": "zz", {app_keys}"#));
    let mut server = Server::spawn_config(tempfile::tempdir().unwrap(), &config, vec![port]);
    let log = server.capture_stderr();
    server.wait_until_listening();
    (server, log)
}

fn send(server: &Server, case: u8) -> support::Client {
    let mut client = connect(&server.url("/zz"));
    client.send(Message::Binary(vec![case].into())).unwrap();
    client
}

/// With panic = "abort" the server aborts (as documented), and the panic
/// still reaches stderr: the SDK's hook, quiet about the panics its guard
/// logs, passes on those no guard will see.
#[test]
fn a_panic_abort_app_says_what_panicked_before_the_server_aborts() {
    let (mut server, log) = start(true, "");
    let _client = send(&server, b'p');
    let status = server.wait_exit(Duration::from_secs(20));
    std::thread::sleep(Duration::from_millis(200));
    let text = log.text();
    assert_eq!(status.code(), None, "aborted by a signal: {text}");
    assert!(
        text.contains("zz asked to panic"),
        "no word of the panic: {text}"
    );
}

/// A panic while unwinding (a Drop that panics) aborts the whole server:
/// both panics are said first, not only Rust's "thread caused
/// non-unwinding panic. aborting.".
#[test]
fn a_panic_while_unwinding_says_what_panicked_before_the_server_aborts() {
    let (mut server, log) = start(false, r#""close_client_on_panic": true,"#);
    let _client = send(&server, b'D');
    let status = server.wait_exit(Duration::from_secs(20));
    std::thread::sleep(Duration::from_millis(200));
    let text = log.text();
    assert_eq!(status.code(), None, "aborted by a signal: {text}");
    for panic in ["zz first panic", "zz panic in drop while unwinding"] {
        assert!(text.contains(panic), "no word of {panic:?}: {text}");
    }
}

/// The runtime's other aborts of a panic that cannot unwind: one out of an
/// `extern "C"` function, a failed check of an unsafe function's
/// preconditions, a null pointer dereferenced, an invalid enum. Each is said before the abort (only Rust's "thread
/// caused non-unwinding panic. aborting." reached stderr).
#[test]
fn the_runtimes_aborts_say_what_panicked() {
    let cases = [
        (b'E', "zz extern boom"),
        (b'U', "unsafe precondition"),
        (b'N', "null pointer dereference"),
        (b'V', "an enum from an invalid value"),
    ];
    for (case, said) in cases {
        let (mut server, log) = start(false, r#""close_client_on_panic": true,"#);
        let _client = send(&server, case);
        let status = server.wait_exit(Duration::from_secs(20));
        std::thread::sleep(Duration::from_millis(200));
        let text = log.text();
        assert_eq!(status.code(), None, "aborted by a signal: {text}");
        assert!(text.contains(said), "no word of {said:?}: {text}");
    }
}

/// A panic message over 1 MiB is cut, not the line: the server drops a
/// log line that long whole, and "see the log line before this one" would
/// point at nothing.
#[test]
fn a_panic_with_a_long_message_still_logs_the_callback_and_place() {
    let (server, log) = start(false, r#""close_client_on_panic": true,"#);
    let mut client = send(&server, b'b');
    let _ = next_message(&mut client); // the 1011 close
    assert!(
        log.wait_for("closing client", Duration::from_secs(10)),
        "{}",
        log.text()
    );
    let text = log.text();
    assert!(
        text.contains("zz: panicked in the read callback: zz big"),
        "{}",
        &text[..text.len().min(4000)]
    );
    drop(server);
}

/// A panic the app caught itself leaves nothing behind: a later panic that
/// does not run the hook (resume_unwind) is not logged at its place.
#[test]
fn a_resumed_panic_is_not_logged_at_an_earlier_caught_panics_place() {
    let (server, log) = start(false, r#""close_client_on_panic": true,"#);
    let mut a = send(&server, b'q');
    assert_eq!(next_message(&mut a), Message::text("caught true true"));
    let mut b = send(&server, b'r');
    let _ = next_message(&mut b);
    assert!(
        log.wait_for("zz resumed", Duration::from_secs(10)),
        "{}",
        log.text()
    );
    let line = log
        .text()
        .lines()
        .find(|l| l.contains("zz resumed"))
        .unwrap()
        .to_owned();
    let caught_line = APP.lines().position(|l| l.contains("CAUGHT_LINE")).unwrap() + 1;
    assert!(
        !line.contains(&format!("src/lib.rs:{caught_line}:")),
        "{line}"
    );
}

/// Panics the app catches itself stay quiet, however many (each would be
/// a write to stderr, which may be a pipe nobody reads); a panic in the
/// Drop of a panic's payload is logged after the panic.
#[test]
fn caught_panics_are_quiet_and_a_payloads_drop_panic_is_logged() {
    let (server, log) = start(false, r#""close_client_on_panic": true,"#);
    let mut a = send(&server, b'q');
    assert_eq!(next_message(&mut a), Message::text("caught true true"));
    let mut b = send(&server, b'B');
    match next_message(&mut b) {
        Message::Close(Some(frame)) => assert_eq!(u16::from(frame.code), 1011),
        other => panic!("expected a 1011 close, got {other:?}"),
    }
    assert!(
        log.wait_for(
            "zz: and dropping that panic's payload panicked: zz panic in the payload's drop",
            Duration::from_secs(10)
        ),
        "{}",
        log.text()
    );
    let text = log.text();
    assert!(!text.contains("zz caught"), "{text}");
    drop(server);
}

/// i32::MIN is the ABI's status for a panic, so the server takes it for
/// one (here: 1011 with close_client_on_panic) and points at the line
/// before; the SDK writes that line.
#[test]
fn returning_i32_min_is_taken_for_a_panic_and_says_so() {
    let (server, log) = start(false, r#""close_client_on_panic": true,"#);
    let mut client = send(&server, b'M');
    match next_message(&mut client) {
        Message::Close(Some(frame)) => assert_eq!(u16::from(frame.code), 1011),
        other => panic!("expected a 1011 close, got {other:?}"),
    }
    assert!(
        log.wait_for(
            "zz: the read callback returned i32::MIN, the status that reports a panic: taken as one",
            Duration::from_secs(10)
        ),
        "{}",
        log.text()
    );
    drop(server);
}
