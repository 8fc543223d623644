//! End-to-end tests of the daemon: the real binary, real sockets on
//! loopback, the example apps, and tungstenite as the client.

mod support;

use std::time::Duration;

use support::*;
use tungstenite::Message;
use tungstenite::protocol::CloseFrame;
use tungstenite::protocol::frame::coding::CloseCode;

#[test]
fn echo_returns_text_as_text_and_binary_as_binary() {
    let server = Server::start(&[AppSpec::simple("echo")]);
    let mut client = connect(&server.url("/echo"));
    for message in [
        Message::text("hello"),
        Message::binary(vec![0u8, 1, 2, 255]),
        Message::text(""),
        Message::binary(Vec::new()),
        Message::text("κόσμε ✓ 笑笑"),
    ] {
        client.send(message.clone()).unwrap();
        assert_eq!(next_message(&mut client), message);
    }
    client.close(None).unwrap();
    assert_eq!(close_code(&mut client), 1005);
}

#[test]
fn echo_reassembles_fragmented_messages() {
    let server = Server::start(&[AppSpec::simple("echo")]);
    let mut client = connect(&server.url("/echo"));
    use tungstenite::protocol::frame::Frame;
    use tungstenite::protocol::frame::coding::{Data, OpCode};
    let parts: [&[u8]; 3] = [b"frag", b"men", b"ted"];
    for (i, part) in parts.iter().enumerate() {
        let opcode = if i == 0 {
            OpCode::Data(Data::Text)
        } else {
            OpCode::Data(Data::Continue)
        };
        let frame = Frame::message(part.to_vec(), opcode, i == parts.len() - 1);
        client.write(Message::Frame(frame)).unwrap();
    }
    client.flush().unwrap();
    assert_eq!(next_message(&mut client), Message::text("fragmented"));
}

#[test]
fn echo_carries_a_16_mib_message_and_refuses_one_byte_more_with_1009() {
    let server = Server::start(&[AppSpec::simple("echo")]);
    let mut client = connect(&server.url("/echo"));
    let big: Vec<u8> = (0..16 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    client.send(Message::binary(big.clone())).unwrap();
    assert_eq!(next_message(&mut client), Message::binary(big));
    client
        .send(Message::binary(vec![0u8; 16 * 1024 * 1024 + 1]))
        .unwrap();
    assert_eq!(close_code(&mut client), 1009);
}

/// A protocol error fails the connection behind the app's replies to the
/// valid messages before it (Autobahn's cases 3.2, 4.1.3 and 5.15 would
/// rate failing first NON-STRICT): each error after 100 messages in one
/// write, and the close frame carries the error's code and reason.
#[test]
fn a_protocol_error_closes_behind_the_replies_to_the_messages_before_it() {
    use support::raw::{self, RawWs, Received};
    let server = Server::start(&[AppSpec::simple("echo")]);
    let errors: [(&str, Vec<u8>, u16); 4] = [
        // RSV2 set.
        (
            "reserved bits",
            raw::encode(0xA1, b"x", Some([1, 2, 3, 4])),
            1002,
        ),
        // Opcode 0x5.
        ("opcode", raw::masked(0x5, b"x"), 1002),
        ("orphan continuation", raw::masked(0x0, b"x"), 1002),
        ("invalid UTF-8", raw::masked(raw::TEXT, b"\xff"), 1007),
    ];
    for (what, error, code) in errors {
        let mut bytes = Vec::new();
        for i in 0..100 {
            bytes.extend(raw::masked(raw::TEXT, format!("message {i}").as_bytes()));
        }
        bytes.extend(error);
        let mut c = RawWs::connect(server.addr(), "/echo");
        c.send_raw(&bytes);
        for i in 0..100 {
            let f = c.frame();
            assert_eq!(
                (f.opcode, f.payload),
                (raw::TEXT, format!("message {i}").into_bytes()),
                "{what}"
            );
        }
        let close = c.frame();
        assert_eq!(
            (close.opcode, close.close_code()),
            (raw::CLOSE, code),
            "{what}"
        );
        assert!(close.payload.len() > 2, "{what}: the reason is given");
        // The server shuts its side down after the close frame.
        assert!(matches!(
            c.read_within(Duration::from_secs(10)),
            Received::Closed { trailing: 0, .. }
        ));
    }
}

#[test]
fn silly_calc_answers_the_sender_and_tells_the_others_the_sum() {
    let server = Server::start(&[AppSpec::simple("silly_calc")]);
    let mut clients: Vec<Client> = (0..3)
        .map(|_| connect(&server.url("/silly_calc")))
        .collect();
    let mut request = (-100i32).to_be_bytes().to_vec();
    for v in [1u16, 2, 65535] {
        request.extend_from_slice(&v.to_be_bytes());
    }
    clients[0].send(Message::binary(request)).unwrap();
    assert_eq!(next_message(&mut clients[0]), Message::text("笑笑?"));
    let sum = (-100i64 + 1 + 2 + 65535).to_be_bytes().to_vec();
    for other in &mut clients[1..] {
        assert_eq!(next_message(other), Message::binary(sum.clone()));
    }
    // Wrong sizes: no u16 at all, then (on another client) a text message.
    clients[1].send(Message::binary(vec![0, 0, 0, 1])).unwrap();
    assert_eq!(close_code(&mut clients[1]), 4900);
    clients[2].send(Message::text("1+1")).unwrap();
    assert_eq!(close_code(&mut clients[2]), 4901);
}

#[test]
fn a_head_request_is_answered_without_content_whatever_refuses_it() {
    // RFC 9110 §9.3.2: the head a GET would get, no content.
    let server = Server::start(&[AppSpec::simple("echo")]);
    for (request, status) in [
        ("HEAD /echo HTTP/1.1\r\nHost: localhost\r\n\r\n", "405"),
        (
            "HEAD /echo HTTP/1.1\r\nHost: localhost\r\nNot a header\r\n\r\n",
            "400",
        ),
    ] {
        let response = raw_http(server.addr(), request);
        assert!(
            response.starts_with(&format!("HTTP/1.1 {status} ")),
            "{response}"
        );
        assert!(response.ends_with("\r\n\r\n"), "{response:?}");
        assert!(response.contains("\r\nContent-Length: "), "{response}");
    }
}

#[test]
fn a_request_target_too_long_gets_414_and_an_unknown_method_501() {
    let server = Server::start(&[AppSpec::simple("echo")]);
    let long = format!("/echo?{}", "a".repeat(9000));
    let response = raw_http(server.addr(), &upgrade_request(&long, ""));
    assert!(
        response.starts_with("HTTP/1.1 414 URI Too Long\r\n"),
        "{response}"
    );
    let lowercase = upgrade_request("/echo", "").replacen("GET", "get", 1);
    let response = raw_http(server.addr(), &lowercase);
    assert!(
        response.starts_with("HTTP/1.1 501 Not Implemented\r\n"),
        "{response}"
    );
}

#[test]
fn unknown_paths_get_404_disallowed_origins_403_and_wrong_versions_426() {
    let server = Server::start(&[AppSpec::simple("echo")]);
    let response = raw_http(
        server.addr(),
        &upgrade_request("/nowhere", "Sec-WebSocket-Version: 13\r\n"),
    );
    assert!(response.starts_with("HTTP/1.1 404 "), "{response}");
    // RFC 9110 §6.6.1: a 4xx response carries the server's Date.
    let now = std::time::SystemTime::now();
    let seconds = std::time::Duration::from_secs(5);
    let dates: Vec<_> = (0..=10)
        .map(|s| rs_http::HttpDate::from(now - seconds + std::time::Duration::from_secs(s)))
        .collect();
    assert!(
        dates
            .iter()
            .any(|date| response.contains(&format!("\r\nDate: {date}\r\n"))),
        "{response}"
    );
    let response = raw_http(
        server.addr(),
        &upgrade_request(
            "/echo",
            "Sec-WebSocket-Version: 13\r\nOrigin: http://evil.example\r\n",
        ),
    );
    assert!(response.starts_with("HTTP/1.1 403 "), "{response}");
    let response = raw_http(
        server.addr(),
        &upgrade_request(
            "/echo",
            "Sec-WebSocket-Version: 13\r\nOrigin: http://allowed.example\r\n",
        ),
    );
    assert!(response.starts_with("HTTP/1.1 101 "), "{response}");
    let response = raw_http(
        server.addr(),
        &upgrade_request("/echo", "Sec-WebSocket-Version: 8\r\n"),
    );
    assert!(response.starts_with("HTTP/1.1 426 "), "{response}");
    assert!(
        response.contains("Sec-WebSocket-Version: 13\r\n"),
        "{response}"
    );
}

#[test]
fn the_handshake_names_the_endpoints_preferred_subprotocol_among_those_offered() {
    let server = Server::start(&[
        AppSpec {
            endpoint_members: r#""subprotocols": ["chat.v2", "chat.v1"],"#,
            ..AppSpec::simple("echo")
        },
        AppSpec::simple("broadcast"),
    ]);
    // A client library that checks the answer against its offer.
    let (mut client, response) = connect_offering(&server, "/echo", Some("chat.v1, chat.v2"));
    assert_eq!(
        response.headers()["sec-websocket-protocol"],
        "chat.v2",
        "the endpoint's first choice, not the client's"
    );
    client.send(Message::text("spoken")).unwrap();
    assert_eq!(client.read().unwrap(), Message::text("spoken"));

    let subprotocol_line = |path: &str, offer: &str| {
        let response = raw_http(
            server.addr(),
            &upgrade_request(path, &format!("Sec-WebSocket-Version: 13\r\n{offer}")),
        );
        assert!(response.starts_with("HTTP/1.1 101 "), "{offer}: {response}");
        response
            .lines()
            .find(|line| {
                line.to_ascii_lowercase()
                    .starts_with("sec-websocket-protocol:")
            })
            .map(str::to_owned)
    };
    // Offers over two header lines are read as one list.
    assert_eq!(
        subprotocol_line(
            "/echo",
            "Sec-WebSocket-Protocol: x\r\nSec-WebSocket-Protocol: chat.v1\r\n"
        )
        .as_deref(),
        Some("Sec-WebSocket-Protocol: chat.v1")
    );
    // Nothing in common, nothing offered, nothing configured: none named
    // (the client decides; browsers give up).
    for (path, offer) in [
        ("/echo", "Sec-WebSocket-Protocol: CHAT.V2, mqtt\r\n"),
        ("/echo", ""),
        ("/broadcast", "Sec-WebSocket-Protocol: chat.v2\r\n"),
    ] {
        assert_eq!(subprotocol_line(path, offer), None, "{path} {offer}");
    }
    // An offer that is not a list of tokens is refused.
    let response = raw_http(
        server.addr(),
        &upgrade_request(
            "/echo",
            "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: chat v2\r\n",
        ),
    );
    assert!(response.starts_with("HTTP/1.1 400 "), "{response}");
}

#[test]
fn sigterm_sends_1001_to_every_client_and_exits_0() {
    let server = Server::start(&[AppSpec::simple("echo")]);
    let mut clients: Vec<Client> = (0..5).map(|_| connect(&server.url("/echo"))).collect();
    server.signal(15);
    for client in &mut clients {
        assert_eq!(close_code(client), 1001);
        // Answer the close so that the server need not wait.
        let _ = client.close(Some(CloseFrame {
            code: CloseCode::Away,
            reason: "".into(),
        }));
        let _ = client.flush();
    }
    let status = {
        let mut server = server;
        server.wait_exit(Duration::from_secs(30))
    };
    assert!(status.success(), "{status}");
}
