//! Apps written in C against `crates/rs-app/include/ringsocket_app.h`
//! (`crates/rs-examples/c/`), built with the system's C compiler and run by
//! the real server: the ABI works without the Rust SDK.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use support::*;
use tungstenite::Message;

/// Builds the C app `source` (under the repository's root) into
/// `dir/lib<its name>.so` as the examples' comments say, with warnings as
/// errors.
fn build_c_app(dir: &Path, source: &str) -> PathBuf {
    let name = Path::new(source).file_stem().unwrap().to_str().unwrap();
    let out = dir.join(format!("lib{name}.so"));
    build_c(source, &out, &["-Wpedantic", "-I", "crates/rs-app/include"]);
    out
}

/// Builds the example `crates/rs-examples/c/<name>.c`.
fn build_example(dir: &Path, name: &str) -> PathBuf {
    build_c_app(dir, &format!("crates/rs-examples/c/{name}.c"))
}

#[test]
fn the_c_echo_app_echoes_every_size_and_kind_and_logs_through_the_host() {
    let build = tempfile::tempdir().unwrap();
    let mut server = Server::start_with(
        1,
        &[AppSpec::at("echo_c", build_example(build.path(), "echo"))],
        r#""worker_c": 1,"#,
    );
    let log = server.capture_stderr();
    let mut client = connect(&server.url("/echo_c"));
    for size in [0, 1, 125, 126, 65_535, 65_536, 1 << 20] {
        let text: String = (0..size)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        let binary: Vec<u8> = (0..size).map(|i| (i * 7 % 251) as u8).collect();
        for message in [Message::text(text.clone()), Message::binary(binary.clone())] {
            client.send(message.clone()).unwrap();
            assert_eq!(next_message(&mut client), message, "{size} bytes");
        }
    }
    // The init callback's rs_log, with rs_get_conf's worker count.
    assert!(
        log.wait_for(
            "echo_c: echo (C) ready on 1 worker(s)",
            Duration::from_secs(5)
        ),
        "{}",
        log.text()
    );
}

/// One silly_calc request: an `i32` and `u16`s, in network byte order.
fn calc_request(i32v: i32, u16s: &[u16]) -> Vec<u8> {
    let mut bytes = i32v.to_be_bytes().to_vec();
    for v in u16s {
        bytes.extend_from_slice(&v.to_be_bytes());
    }
    bytes
}

/// What one silly_calc implementation at `url` answers: for each valid
/// request, the sender's reply and the sum the other client got; then the
/// close code of a client sending each invalid message.
fn calc_transcript(
    url: &str,
    valid: &[Vec<u8>],
    invalid: &[Message],
) -> (Vec<(Message, Message)>, Vec<u16>) {
    let mut sender = connect(url);
    let mut other = connect(url);
    let answers = valid
        .iter()
        .map(|request| {
            sender.send(Message::binary(request.clone())).unwrap();
            (next_message(&mut sender), next_message(&mut other))
        })
        .collect();
    let codes = invalid
        .iter()
        .map(|message| {
            let mut client = connect(url);
            client.send(message.clone()).unwrap();
            close_code(&mut client)
        })
        .collect();
    (answers, codes)
}

#[test]
fn the_c_silly_calc_answers_exactly_as_the_rust_one() {
    let build = tempfile::tempdir().unwrap();
    let server = Server::start(&[
        AppSpec::simple("silly_calc"),
        AppSpec::at("silly_calc_c", build_example(build.path(), "silly_calc")),
    ]);
    let cases: [(i32, &[u16]); 5] = [
        (7, &[5]),
        (-1, &[1, 2, 3]),
        (i32::MIN, &[u16::MAX; 10]),
        (i32::MAX, &[u16::MAX, 1]),
        (0, &[0]),
    ];
    let valid: Vec<Vec<u8>> = cases.iter().map(|(i, u)| calc_request(*i, u)).collect();
    let invalid = [
        Message::binary(calc_request(7, &[])),      // no u16: 4900
        Message::binary(calc_request(7, &[1; 11])), // eleven: 4900
        Message::binary(vec![0; 7]),                // half a u16: 4900
        Message::text("12345678"),                  // text: 4901
    ];
    let rust = calc_transcript(&server.url("/silly_calc"), &valid, &invalid);
    let c = calc_transcript(&server.url("/silly_calc_c"), &valid, &invalid);
    assert_eq!(c, rust, "the C and the Rust silly_calc differ");
    // And both are right.
    for ((reply, sum), (i32v, u16s)) in rust.0.iter().zip(cases) {
        let expected = i64::from(i32v) + u16s.iter().map(|&v| i64::from(v)).sum::<i64>();
        assert_eq!(*reply, Message::text("笑笑?"));
        assert_eq!(*sum, Message::binary(expected.to_be_bytes().to_vec()));
    }
    assert_eq!(rust.1, [4900, 4900, 4900, 4901]);
}

#[test]
fn a_c_app_gets_the_handshake_details_in_open_and_each_error_of_a_wrong_call() {
    let build = tempfile::tempdir().unwrap();
    let source = "bins/ringsocket/tests/support/abi_misuse.c";
    let mut server = Server::start(&[AppSpec {
        endpoint_members: r#""subprotocols": ["v1"], "app_headers": ["Cookie"],"#,
        ..AppSpec::at("misuse", build_c_app(build.path(), source))
    }]);
    let log = server.capture_stderr();
    let (mut client, _) = connect_sending_headers(
        &server,
        "/misuse?token=a%20b&x",
        &[("Sec-WebSocket-Protocol", b"v0, v1"), ("Cookie", b"s=1")],
    );
    // Open: the subprotocol, the query and the cookie as sent, the endpoint
    // id, the address's version and port, through the getters.
    let port = client.get_ref().0.local_addr().unwrap().port();
    assert_eq!(
        next_message(&mut client),
        Message::text(format!("open v1 token=a%20b&x s=1 0 4 {port}"))
    );
    // And a client that offered none, with an empty query and no cookie.
    let mut plain = connect(&server.url("/misuse?"));
    let port = plain.get_ref().0.local_addr().unwrap().port();
    assert_eq!(
        next_message(&mut plain),
        Message::text(format!("open - - - 0 4 {port}"))
    );
    // In init: send 5 (not available), close_client 5. In read: target 99,
    // kind RS_DATA_ANY, two ids for one, close code 3999: 4 (invalid
    // argument); text 0xff: 2 (not UTF-8); id 0: 4. And not one "junk"
    // written before a refused send. Then 1, 1, 1: no subprotocol, query or
    // header outside open. Then, given a length of -1: the write makes
    // the send 3 (too large), the ids' count 4.
    let expected = Message::binary(vec![5, 5, 4, 4, 4, 4, 2, 4, 1, 1, 1, 3, 4]);
    for _ in 0..2 {
        client.send(Message::binary(vec![1])).unwrap();
        assert_eq!(next_message(&mut client), expected);
    }
    let dropped = format!(
        "misuse: a log line of {} bytes, more than 1048576, was dropped",
        usize::MAX
    );
    assert!(
        log.wait_for(&dropped, Duration::from_secs(5)),
        "{}",
        log.text()
    );
    // Those lines count with the app's lines a second, as any it logs: a
    // client cannot make it fill the log.
    for _ in 0..400 {
        client.send(Message::binary(vec![1])).unwrap();
    }
    for _ in 0..400 {
        assert_eq!(next_message(&mut client), expected);
    }
    let logged = log.text().matches(&dropped).count();
    // 402 calls within a second or two: 100 lines each second at most.
    assert!(logged <= 300, "{logged} lines logged");
}

#[test]
fn the_c_echo_listing_in_app_abi_md_is_the_example_file() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let doc = std::fs::read_to_string(root.join("docs/app-abi.md")).unwrap();
    let echo = std::fs::read_to_string(root.join("crates/rs-examples/c/echo.c")).unwrap();
    assert!(
        doc.contains(&format!("```c\n{echo}```")),
        "docs/app-abi.md must show crates/rs-examples/c/echo.c as it is"
    );
}

#[test]
fn an_app_compiles_pedantic_against_the_header_as_c99_c11_cpp11_and_cpp17() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = tempfile::tempdir().unwrap();
    // An app's usual parts, in the C that is C++ too: positional
    // initializers (C++ has designated ones only from C++20), the entry
    // symbol defined after the header declared it (C linkage in C++).
    let body = "#include <ringsocket_app.h>\n\
        static int32_t on_read(rs_t *rs, const uint8_t *bytes, size_t len) {\n\
            enum rs_data_kind kind = RS_BIN;\n\
            rs_w_p(rs, bytes, len);\n\
            rs_w_uint16_hton(rs, 7);\n\
            return rs_to_cur(rs, kind) == RS_SEND_OK ? 0 : -1;\n\
        }\n\
        static const rs_read_case cases[] = {\n\
            { 0, RS_DATA_BIN, {0, 0, 0, 0, 0, 0}, on_read, NULL, 0 },\n\
        };\n\
        const rs_app_descriptor *ringsocket_app_v1(void) {\n\
            static rs_app_descriptor d;\n\
            d.abi_version = RS_ABI_VERSION;\n\
            d.descriptor_size = sizeof d;\n\
            d.read_mode = RS_READ_BIN;\n\
            d.app_data_align = 1;\n\
            d.cases = cases;\n\
            d.case_count = 1;\n\
            return &d;\n\
        }\n";
    for (compiler, std, file) in [
        ("cc", "-std=c99", "t.c"),
        ("cc", "-std=c11", "t.c"),
        ("c++", "-std=c++11", "t.cpp"),
        ("c++", "-std=c++17", "t.cpp"),
    ] {
        // A machine with only the Rust toolchain has a C compiler (to link)
        // but maybe no C++ one (CI installs it).
        let found = std::process::Command::new(compiler)
            .arg("--version")
            .output();
        if !found.is_ok_and(|o| o.status.success()) {
            eprintln!("skipping {std}: no {compiler} on this machine");
            continue;
        }
        let source = dir.path().join(file);
        std::fs::write(&source, body).unwrap();
        let output = std::process::Command::new(compiler)
            .args([std, "-Wall", "-Wextra", "-Werror", "-pedantic", "-c", "-o"])
            .arg(dir.path().join("t.o"))
            .arg("-I")
            .arg(root.join("crates/rs-app/include"))
            .arg(&source)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{compiler} {std}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[test]
fn a_c_app_built_with_hidden_visibility_still_exports_its_entry() {
    // Build systems often hide every symbol by default; the header's
    // declaration keeps the entry symbol exported.
    let build = tempfile::tempdir().unwrap();
    let out = build.path().join("libecho_hidden.so");
    let flags = ["-fvisibility=hidden", "-I", "crates/rs-app/include"];
    build_c("crates/rs-examples/c/echo.c", &out, &flags);
    let server = Server::start(&[AppSpec::at("echo_hidden", out)]);
    let mut client = connect(&server.url("/echo_hidden"));
    client.send(Message::text("seen")).unwrap();
    assert_eq!(next_message(&mut client), Message::text("seen"));
}

#[test]
fn the_helpers_answer_in_timer_close_and_fini_as_the_docs_table_says() {
    let build = tempfile::tempdir().unwrap();
    let source = "bins/ringsocket/tests/support/abi_where.c";
    let mut server = Server::start(&[AppSpec::at("where", build_c_app(build.path(), source))]);
    let log = server.capture_stderr();
    let mut watcher = connect(&server.url("/where"));
    let mut leaver = connect(&server.url("/where"));
    // Timer: no client id, endpoint -1, no address (-1), no read kind (-1),
    // both current-client targets 1 (no current client), and a close of a
    // client nobody has 0; none of the "junk" in front.
    let timer = vec![b'T', 0, 0xff, 0xff, 0xff, 1, 1, 0];
    assert_eq!(next_message(&mut watcher), Message::binary(timer.clone()));
    assert_eq!(next_message(&mut leaver), Message::binary(timer));
    leaver.close(None).unwrap();
    // Close: the closed client's id and endpoint 0, no address, no read
    // kind, the current-client targets 1.
    assert_eq!(
        next_message(&mut watcher),
        Message::binary(vec![b'C', 1, 0, 0xff, 0xff, 1, 1, 0])
    );
    // Fini, at shutdown: send and close_client 5 (not available), no
    // client, endpoint -1, the app data still there.
    drop((watcher, leaver));
    server.signal(libc::SIGTERM);
    assert!(
        log.wait_for("where: fini 5 5 0 -1 1", Duration::from_secs(20)),
        "{}",
        log.text()
    );
    assert!(server.wait_exit(Duration::from_secs(20)).success());
}

/// The test app. Open: sends the client its id (8 bytes, big-endian).
/// Read, 8 bytes: the id of a client to aim at. Sends it "intruder" with
/// rs_to_single and rs_to_multi, closes it with 4444, and answers the
/// sender with the three statuses (one byte each).
/// Read, 1 byte 'X': closes the sender with 4003, then sends it (and
/// everyone) what must not follow the close frame, and 4004 on top.
const ISOLATION_APP: &str = r#"
#include <ringsocket_app.h>
static uint64_t rd64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = (v << 8) | p[i];
    return v;
}
static int32_t iso_open(rs_t *rs)
{
    rs_w_uint64_hton(rs, rs_get_client_id(rs));
    return rs_to_cur(rs, RS_BIN) == RS_SEND_OK ? 0 : -1;
}
static int32_t iso_read(rs_t *rs, const uint8_t *p, size_t len)
{
    if (len == 1 && p[0] == 'X') {
        uint64_t me = rs_get_client_id(rs);
        int32_t s = rs_close_client(rs, me, 4003);
        rs_w_str(rs, "after-every"); s |= rs_to_every(rs, RS_UTF8);
        rs_w_str(rs, "after-multi"); s |= rs_to_multi(rs, RS_UTF8, &me, 1);
        rs_w_str(rs, "after-except"); s |= rs_to_every_except_multi(rs, RS_UTF8, NULL, 0);
        rs_w_str(rs, "after-single"); s |= rs_to_single(rs, RS_UTF8, me);
        rs_w_str(rs, "after-cur"); s |= rs_to_cur(rs, RS_UTF8);
        s |= rs_close_client(rs, me, 4004);
        return s == RS_SEND_OK ? 0 : -1;
    }
    if (len != 8) return -1;
    uint64_t id = rd64(p);
    rs_w_str(rs, "intruder");
    int32_t a = rs_to_single(rs, RS_UTF8, id);
    rs_w_str(rs, "intruder");
    int32_t b = rs_to_multi(rs, RS_UTF8, &id, 1);
    int32_t c = rs_close_client(rs, id, 4444);
    rs_w_int8(rs, (int8_t)a); rs_w_int8(rs, (int8_t)b); rs_w_int8(rs, (int8_t)c);
    return rs_to_cur(rs, RS_BIN) == RS_SEND_OK ? 0 : -1;
}
static const rs_arg_spec iso_args[] = {
    { .kind = RS_ARG_NET, .shape = RS_SHAPE_RANGE, .elem_size = 1, .min = 1, .max = 8 },
};
static const rs_read_case iso_cases[] = {
    { .data_kind = RS_DATA_BIN, .read = iso_read, .args = iso_args, .arg_count = 1 },
};
static const rs_app_descriptor iso_descriptor = {
    .abi_version = RS_ABI_VERSION,
    .descriptor_size = sizeof(rs_app_descriptor),
    .open = iso_open,
    .read_mode = RS_READ_BIN,
    .timer_mode = RS_TIMER_NONE,
    .app_data_align = 1,
    .cases = iso_cases,
    .case_count = 1,
};
const rs_app_descriptor *ringsocket_app_v1(void) { return &iso_descriptor; }
"#;

/// Builds [`ISOLATION_APP`] into `dir`.
fn build_isolation_app(dir: &Path) -> PathBuf {
    let source = dir.join("isolation.c");
    std::fs::write(&source, ISOLATION_APP).unwrap();
    build_c_app(dir, source.to_str().unwrap())
}

/// The id an isolation app client is sent on open.
fn isolation_id(client: &mut Client) -> [u8; 8] {
    match next_message(client) {
        Message::Binary(bytes) => bytes[..].try_into().expect("an 8-byte id"),
        other => panic!("expected the id, got {other:?}"),
    }
}

#[test]
fn a_c_app_cannot_send_to_or_close_another_apps_client() {
    let build_dir = tempfile::tempdir().unwrap();
    let so = build_isolation_app(build_dir.path());
    let server = Server::start(&[AppSpec::at("iso_a", so.clone()), AppSpec::at("iso_b", so)]);
    let mut a = connect(&server.url("/iso_a"));
    let mut b = connect(&server.url("/iso_b"));
    let _ = isolation_id(&mut a);
    let b_id = isolation_id(&mut b);
    // App a aims at b's client: the calls succeed (an id of no client of
    // this app reaches nobody), and b's client hears nothing.
    a.send(Message::binary(b_id.to_vec())).unwrap();
    assert_eq!(next_message(&mut a), Message::binary(vec![0, 0, 0]));
    assert_silent(&mut b, "b's client, aimed at by app a");
    // The same calls from its own app do reach it.
    b.send(Message::binary(b_id.to_vec())).unwrap();
    assert_eq!(next_message(&mut b), Message::text("intruder"));
    assert_eq!(next_message(&mut b), Message::text("intruder"));
    assert_eq!(close_code(&mut b), 4444);
}

#[test]
fn nothing_follows_the_close_frame_a_c_app_sent() {
    let build_dir = tempfile::tempdir().unwrap();
    let so = build_isolation_app(build_dir.path());
    let server = Server::start(&[AppSpec::at("iso_a", so)]);
    let mut watcher = connect(&server.url("/iso_a"));
    let _ = isolation_id(&mut watcher);
    let mut closer = connect(&server.url("/iso_a"));
    let _ = isolation_id(&mut closer);
    closer.send(Message::binary(b"X".to_vec())).unwrap();
    // The first close frame, and nothing before or after it (RFC 6455
    // section 5.5.1); tungstenite would fail on a data frame after it.
    match closer.read() {
        Ok(Message::Close(Some(frame))) => assert_eq!(u16::from(frame.code), 4003),
        other => panic!("expected close 4003, got {other:?}"),
    }
    // The other client gets the messages for everyone.
    assert_eq!(next_message(&mut watcher), Message::text("after-every"));
    assert_eq!(next_message(&mut watcher), Message::text("after-except"));
}
