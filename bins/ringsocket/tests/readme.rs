//! What the README promises a newcomer: the example configuration it
//! starts (`crates/rs-examples/conf/all.json5`) serves what it says, and
//! the example apps stay up whatever their clients send.

mod support;

use std::time::{Duration, Instant};

use support::{
    AppSpec, Client, Server, close_code, connect, examples_dir, free_port, next_message,
    run_as_user, set_timeout, try_connect_small,
};
use tungstenite::Message;

/// The text of the next data message, panicking on anything else.
fn next_text(client: &mut Client) -> String {
    match next_message(client) {
        Message::Text(text) => text.as_str().to_owned(),
        other => panic!("expected text, got {other:?}"),
    }
}

/// The README's `crates/rs-examples/conf/all.json5`, with its ports replaced
/// by free ones and its app paths pointing at this build's examples.
fn all_json5(ports: [u16; 2]) -> String {
    let text = include_str!("../../../crates/rs-examples/conf/all.json5");
    assert!(text.contains("8080") && text.contains("8081"));
    // One worker: the app hears of clients on two in no set order (see
    // app-guide.md), and the checks below follow one client's joining with
    // another's message.
    assert!(text.contains(r#""worker_c": 2,"#));
    let mut text = text
        .replace(r#""worker_c": 2,"#, r#""worker_c": 1,"#)
        .replace("8080", &ports[0].to_string())
        .replace("8081", &ports[1].to_string())
        .replace(
            "../../../target/debug/examples",
            &examples_dir().display().to_string(),
        );
    // Switch to the test user rather than "nobody" when run as root, as
    // the other tests do.
    let user = run_as_user();
    if !user.is_empty() {
        text = text.replace(r#""user": "nobody""#, user.trim().trim_end_matches(','));
    }
    text
}

#[test]
fn all_json5_serves_what_the_readme_says() {
    let ports = [free_port(), free_port()];
    let config = all_json5(ports);
    let mut server = Server::start_config(tempfile::tempdir().unwrap(), &config, ports.to_vec());

    // Echo on both ports, text as text and binary as binary.
    for port in 0..2 {
        let mut echo = connect(&server.url_on(port, "/echo"));
        echo.send(Message::text("hé")).unwrap();
        assert_eq!(next_text(&mut echo), "hé");
        echo.send(Message::binary(vec![0u8, 1, 2])).unwrap();
        assert_eq!(next_message(&mut echo), Message::binary(vec![0u8, 1, 2]));
    }

    // The browser snippet: other chat clients see "Ann: hello".
    let mut other = connect(&server.url("/chat?name=Other"));
    let mut ann = connect(&server.url("/chat?name=Ann"));
    assert_eq!(next_text(&mut other), "Ann joined");
    ann.send(Message::text("hello")).unwrap();
    assert_eq!(next_text(&mut other), "Ann: hello");

    // broadcast: every client, its sender included.
    let mut b1 = connect(&server.url("/broadcast"));
    let mut b2 = connect(&server.url("/broadcast"));
    b1.send(Message::text("to all")).unwrap();
    assert_eq!(next_text(&mut b1), "to all");
    assert_eq!(next_text(&mut b2), "to all");

    // silly_calc, the app guide's example payload.
    let mut s1 = connect(&server.url("/silly_calc"));
    let mut s2 = connect(&server.url("/silly_calc"));
    s1.send(Message::binary(vec![0u8, 0, 0, 5, 0, 1, 0, 2]))
        .unwrap();
    assert_eq!(next_text(&mut s1), "笑笑?");
    assert_eq!(
        next_message(&mut s2),
        Message::binary(vec![0u8, 0, 0, 0, 0, 0, 0, 8])
    );

    // Any page's origin may connect ("*").
    let addr = server.addr();
    let response = support::raw_http(
        addr,
        &support::upgrade_request(
            "/chat?name=Page",
            "Sec-WebSocket-Version: 13\r\nOrigin: https://example.com\r\n",
        ),
    );
    assert!(response.starts_with("HTTP/1.1 101"), "{response}");

    // Ctrl-C: every client gets 1001, and the server exits 0.
    server.signal(2);
    for client in [&mut other, &mut ann, &mut b1] {
        set_timeout(client, Duration::from_secs(10));
        assert_eq!(close_code(client), 1001);
    }
    drop((other, ann, b1, b2, s1, s2));
    let status = server.wait_exit(Duration::from_secs(20));
    assert!(status.success(), "{status}");
}

#[test]
fn a_message_of_the_largest_size_reaches_a_room_too_large_for_one_record() {
    // A ring is only sure to hold max_ws_msg_size + 4 KiB: a message near
    // that size with 8 bytes per recipient id does not fit one record for
    // 520 members. Refused (TooLarge), it made chat return -1, and one
    // client's message stopped the server; the ids are split now.
    const MAX_MSG: usize = 60 << 10;
    const MEMBERS: usize = 520;
    let mut server = Server::start_with(
        1,
        &[AppSpec::simple("chat")],
        &format!(r#""worker_c": 1, "max_ws_msg_size": {MAX_MSG}, "outbound_ring_buf_size": 1,"#),
    );
    let log = server.capture_stderr();
    let mut members = Vec::with_capacity(MEMBERS);
    let deadline = Instant::now() + Duration::from_secs(60);
    for _ in 0..MEMBERS {
        assert!(Instant::now() < deadline, "connecting took too long");
        members.push(try_connect_small(server.addr(), "/chat?name=m").unwrap());
    }
    // The last join reached everyone, so every member is in the room.
    set_timeout(&members[0], Duration::from_secs(20));
    for _ in 1..MEMBERS {
        assert_eq!(next_text(&mut members[0]), "m joined");
    }
    let text = "x".repeat(MAX_MSG);
    members[0].send(Message::text(text.clone())).unwrap();
    let expected = format!("m: {text}");
    for (i, member) in members.iter_mut().enumerate().skip(1) {
        set_timeout(member, Duration::from_secs(20));
        // Its own "joined" lines for those who came after it, then the text.
        let got = loop {
            let got = next_text(member);
            if got != "m joined" {
                break got;
            }
        };
        assert!(got == expected, "member {i} got {} bytes", got.len());
    }
    assert!(!log.text().contains("fatal"), "{}", log.text());
    // 520 members leave at once while the server stops: announcing that
    // may meet a worker that no longer takes messages, which is no failure.
    drop(members);
    let status = server.terminate();
    assert!(status.success(), "{status}: {}", log.text());
}

#[test]
fn a_chat_text_too_large_once_shown_closes_its_sender_not_the_server() {
    // Each control character is shown as U+FFFD, three bytes for one: a
    // text of max_ws_msg_size of them no longer fits an outbound ring of
    // that size, and chat returned -1 (fatal) for that send.
    let server = Server::start_with(
        1,
        &[AppSpec::simple("chat")],
        r#""worker_c": 1, "max_ws_msg_size": 8192, "outbound_ring_buf_size": 1,"#,
    );
    let mut a = connect(&server.url("/chat?name=a"));
    let mut b = connect(&server.url("/chat?name=b"));
    assert_eq!(next_text(&mut a), "b joined");
    b.send(Message::text("\u{1}".repeat(8192))).unwrap();
    assert_eq!(close_code(&mut b), 4009);
    assert_eq!(next_text(&mut a), "b left");
    let mut c = connect(&server.url("/chat?name=c"));
    assert_eq!(next_text(&mut a), "c joined");
    c.send(Message::text("still here")).unwrap();
    assert_eq!(next_text(&mut a), "c: still here");
}
