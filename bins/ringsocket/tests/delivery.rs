//! What reaches which client, in which order, exactly once, from an app's
//! sends: every target mixed, over one and two workers, lists split over
//! records, close_client, and who counts as "every client" when (probe and
//! chat examples on the real binary).

mod support;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use support::probe::{id_parts, probe_client, probe_close, probe_stall, probe_target, text};
use support::raw::{self, RawWs};
use support::{
    AppSpec, Client, Server, assert_silent, close_code, connect, next_message, set_timeout,
    welcome_id,
};
use tungstenite::Message;

/// The worker of a client id.
fn worker_of(id: u64) -> u64 {
    id_parts(id).0
}

/// The probe app on `/probe` with `workers` workers and `globals`.
fn probe_server(workers: usize, globals: &str) -> Server {
    Server::start_with(
        1,
        &[AppSpec::simple("probe")],
        &format!(r#""worker_c": {workers}, {globals}"#),
    )
}

/// At least `count` probe clients, and more if it takes more to have one on
/// each of the two workers (the kernel picks a worker by a hash of each
/// connection's addresses: all of ten on one is a 1 in 512 chance).
fn clients_on_two_workers(server: &Server, count: usize) -> Vec<(Client, u64)> {
    let mut clients: Vec<(Client, u64)> = (0..count).map(|_| probe_client(server)).collect();
    let on_both = |clients: &[(Client, u64)]| {
        let first = worker_of(clients[0].1);
        clients.iter().any(|&(_, id)| worker_of(id) != first)
    };
    while !on_both(&clients) {
        assert!(
            clients.len() < count + 64,
            "the kernel put {} clients on one worker",
            clients.len()
        );
        clients.push(probe_client(server));
    }
    clients
}

// ------------------------------------------------------------ join race

#[test]
fn a_broadcast_sent_before_a_clients_open_callback_does_not_reach_it() {
    // The app is busy (case 12, 400 ms) with a request whose follow-up
    // broadcasts to every client (case 5, target 3). A client that
    // completes its handshake meanwhile is not yet a client as far as the
    // app knows (its open callback, the welcome, runs after the broadcast
    // was sent), so the broadcast must not reach it, and its welcome must
    // be the first thing it gets.
    let server = probe_server(1, "");
    let (mut sender, _) = probe_client(&server);
    sender.send(probe_stall(400)).unwrap();
    sender.send(probe_target(3, &[])).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let mut late = connect(&server.url("/probe"));
    // The sender gets the stall's reply, then the broadcast.
    assert_eq!(next_message(&mut sender), Message::binary(Vec::<u8>::new()));
    assert_eq!(next_message(&mut sender), Message::text("t3"));
    let first = text(&next_message(&mut late));
    assert!(
        first.starts_with("welcome "),
        "the late client's first message is {first:?}, sent before its open callback ran"
    );
    assert_silent(&mut late, "the late client after its welcome");
}

#[test]
fn a_client_its_open_callback_refuses_gets_no_broadcast_sent_before_that_callback() {
    // Endpoint 99: the probe's open callback refuses the client (4099), as
    // an app checking a token in the query would. A broadcast the app sent
    // before that callback ran must not reach the refused client.
    let server = Server::start_with(
        1,
        &[AppSpec {
            endpoints: vec![(0, "/probe".into(), 0), (99, "/refused".into(), 0)],
            ..AppSpec::simple("probe")
        }],
        r#""worker_c": 1,"#,
    );
    let (mut sender, _) = probe_client(&server);
    sender.send(probe_stall(400)).unwrap();
    sender.send(probe_target(3, &[])).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let mut refused = connect(&server.url("/refused"));
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        match refused.read() {
            Ok(Message::Close(frame)) => {
                got.push(format!("close {:?}", frame.map(|f| u16::from(f.code))));
            }
            Ok(message) => got.push(text(&message)),
            Err(_) => break,
        }
    }
    assert_eq!(got, ["close Some(4099)"], "what the refused client got");
}

/// The probe with `/refused` (endpoint 99, refused by its open callback)
/// beside `/probe`, on one worker: every client's messages go through one
/// ring, in order. Its stderr is captured: case 15 logs what follows it.
fn probe_refusing_server() -> (Server, support::Log) {
    let mut server = Server::start_with(
        1,
        &[AppSpec {
            endpoints: vec![(0, "/probe".into(), 0), (99, "/refused".into(), 0)],
            ..AppSpec::simple("probe")
        }],
        r#""worker_c": 1,"#,
    );
    let log = server.capture_stderr();
    (server, log)
}

/// Waits until the app has read a message sent behind whatever came
/// before it, then asserts that it never logged `unread`.
fn assert_never_read(server: &Server, log: &support::Log, unread: &str) {
    let (mut other, _) = probe_client(server);
    other
        .send(Message::binary(b"\x0fread in its turn".to_vec()))
        .unwrap();
    assert!(
        log.wait_for("probe: read in its turn", Duration::from_secs(10)),
        "{}",
        log.text()
    );
    assert!(!log.text().contains(unread), "{}", log.text());
}

#[test]
fn what_a_client_sent_behind_a_handshake_its_open_callback_refuses_is_not_read() {
    // An app checking a token in open must not see the refused client's
    // messages reach its read callback, even those it sent at once.
    let (server, log) = probe_refusing_server();
    let sneaked = raw::masked(raw::BINARY, b"\x0fsneaked in");
    let mut refused = RawWs::connect_sending(server.addr(), "/refused", &sneaked);
    assert_eq!(refused.frame().close_code(), 4099);
    assert_never_read(&server, &log, "sneaked in");
}

#[test]
fn what_a_client_sent_before_its_app_closed_it_is_not_read() {
    let (server, log) = probe_refusing_server();
    let mut client = RawWs::connect(server.addr(), "/probe");
    assert!(client.frame().payload.starts_with(b"welcome "));
    // Case 6 returns 4321 (closing it), then text the app would log, in
    // one write.
    let mut burst = raw::masked(raw::BINARY, &[&[6u8][..], &4321i32.to_be_bytes()].concat());
    burst.extend(raw::masked(raw::BINARY, b"\x0fsent before it knew"));
    client.send_raw(&burst);
    assert_eq!(client.frame().close_code(), 4321);
    assert_never_read(&server, &log, "sent before it knew");
}

#[test]
fn what_a_client_sent_before_another_clients_callback_closed_it_is_not_read() {
    let (server, log) = probe_refusing_server();
    let (mut kicker, _) = probe_client(&server);
    let mut kicked = RawWs::connect(server.addr(), "/probe");
    let welcome = kicked.frame().payload;
    let id = welcome_id(std::str::from_utf8(&welcome).unwrap());
    // The app is kept busy while both requests wait in its ring: the
    // kick (case 7: close that id with 4322), then what the kicked client
    // sends before it learns.
    kicker.send(probe_stall(300)).unwrap();
    let kick = [&[7u8][..], &id.to_be_bytes(), &4322u16.to_be_bytes()].concat();
    kicker.send(Message::binary(kick)).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    kicked.send(raw::BINARY, b"\x0fsent as it was kicked");
    assert_eq!(kicked.frame().close_code(), 4322);
    assert_never_read(&server, &log, "sent as it was kicked");
}

#[test]
fn closing_an_id_no_client_has_yet_silences_no_later_client() {
    // Ids are predictable: the next client of a slot has its generation
    // plus one. The app accepts to close such an id (the worker ignores
    // it); the client that later gets it must still be read.
    let server = probe_server(1, "");
    let (mut a, id) = probe_client(&server);
    let future = id + 1;
    let close = [&[7u8][..], &future.to_be_bytes(), &4322u16.to_be_bytes()].concat();
    a.send(Message::binary(close)).unwrap();
    assert_eq!(next_message(&mut a), Message::binary(vec![1u8]));
    a.close(None).unwrap();
    while a.read().is_ok() {}
    drop(a);
    std::thread::sleep(Duration::from_millis(300)); // its slot freed
    let mut held = Vec::new();
    for _ in 0..16 {
        let (mut client, got) = probe_client(&server);
        if got == future {
            client.send(Message::binary(vec![8u8])).unwrap();
            let info = text(&next_message(&mut client));
            assert!(info.starts_with(&format!("id={future} ")), "{info}");
            return;
        }
        held.push(client);
    }
    panic!("no client got the id {future} among 16");
}

// --------------------------------------------------------- target mixes

#[test]
fn mixed_targets_reach_each_client_in_send_order_on_both_workers() {
    let server = probe_server(2, "");
    let mut clients = clients_on_two_workers(&server, 12);
    let ids: Vec<u64> = clients.iter().map(|&(_, id)| id).collect();
    // Pick a client on each worker as special targets.
    let w0 = ids.iter().position(|&id| worker_of(id) == 0).unwrap();
    let w1 = ids.iter().position(|&id| worker_of(id) == 1).unwrap();
    let sender = (0..ids.len()).find(|&i| i != w0 && i != w1).unwrap();
    // (target, ids) in the order sent, all pipelined from `sender`.
    let plan: Vec<(u8, Vec<u64>)> = vec![
        (3, vec![]),
        (0, vec![ids[w0]]),
        (1, vec![ids[w1], ids[w0], ids[w1]]),
        (2, vec![]),
        (4, vec![ids[w1]]),
        (5, vec![ids[w0], ids[w1]]),
        (6, vec![]),
        (0, vec![ids[w1]]),
        (3, vec![]),
        (1, vec![ids[w0], ids[sender]]),
        (5, vec![ids[sender]]),
        (2, vec![]),
    ];
    for round in 0..5 {
        for (target, list) in &plan {
            clients[sender].0.send(probe_target(*target, list)).unwrap();
        }
        for (i, (client, id)) in clients.iter_mut().enumerate() {
            let expected: Vec<String> = plan
                .iter()
                .filter(|(target, list)| match target {
                    0 | 1 => list.contains(id),
                    2 => i == sender,
                    3 => true,
                    4 | 5 => !list.contains(id),
                    _ => i != sender,
                })
                .map(|(target, _)| format!("t{target}"))
                .collect();
            let got: Vec<String> = expected
                .iter()
                .map(|_| text(&next_message(client)))
                .collect();
            assert_eq!(got, expected, "round {round}, client {i} (id {id})");
        }
        for (client, _) in clients.iter_mut().take(3) {
            assert_silent(client, "after the plan");
        }
    }
}

#[test]
fn close_client_on_another_worker_comes_after_the_sends_and_later_sends_reach_nobody() {
    let server = probe_server(2, "");
    let mut clients = clients_on_two_workers(&server, 10);
    let sender = 0;
    let sender_worker = worker_of(clients[0].1);
    let victim = (1..clients.len())
        .find(|&i| worker_of(clients[i].1) != sender_worker)
        .unwrap();
    let victim_id = clients[victim].1;
    // Pipelined: three sends to the victim, the close, then more sends.
    let requests = [
        probe_target(0, &[victim_id]),
        probe_target(1, &[victim_id, victim_id]),
        probe_target(5, &[clients[sender].1]),
        probe_close(victim_id, 4321),
        probe_target(0, &[victim_id]),
        probe_target(1, &[victim_id]),
    ];
    for request in requests {
        clients[sender].0.send(request).unwrap();
    }
    let victim_client = &mut clients[victim].0;
    for expected in ["t0", "t1", "t5"] {
        assert_eq!(text(&next_message(victim_client)), expected);
    }
    assert_eq!(close_code(victim_client), 4321);
    // The sender: its close request's reply (accepted).
    assert_eq!(
        next_message(&mut clients[sender].0),
        Message::binary(vec![1])
    );
    // Everyone else but the victim and the sender: t5, then "bye <victim>".
    for (i, (client, _)) in clients.iter_mut().enumerate() {
        if i == victim {
            continue;
        }
        if i != sender {
            assert_eq!(text(&next_message(client)), "t5", "client {i}");
        }
        assert_eq!(
            text(&next_message(client)),
            format!("bye {victim_id}"),
            "client {i}"
        );
    }
}

#[test]
fn the_close_callbacks_bye_reaches_every_remaining_client_once_on_both_workers() {
    let server = probe_server(2, "");
    let mut clients = clients_on_two_workers(&server, 12);
    // Two leave, one from each worker; every other client hears each once.
    let mut leaving = Vec::new();
    for w in [0, 1] {
        let i = clients
            .iter()
            .position(|&(_, id)| worker_of(id) == w)
            .unwrap();
        leaving.push(clients.remove(i));
    }
    let mut left = Vec::new();
    for (mut client, id) in leaving {
        client.close(None).unwrap();
        assert_eq!(close_code(&mut client), 1005);
        left.push(format!("bye {id}"));
        for (i, (other, _)) in clients.iter_mut().enumerate() {
            assert_eq!(
                text(&next_message(other)),
                *left.last().unwrap(),
                "client {i}"
            );
        }
    }
    // Nothing more (no second copy), then a marker from everyone.
    clients[0].0.send(probe_target(3, &[])).unwrap();
    for (i, (client, _)) in clients.iter_mut().enumerate() {
        assert_eq!(text(&next_message(client)), "t3", "client {i}");
    }
}

// ------------------------------------------------------ a split TARGET_MULTI

/// A chat server with `workers` workers, small messages and small
/// outbound rings (each ring's largest record: 16380 bytes, the power of
/// two above max_ws_msg_size + 4096, less its 4-byte header).
fn chat_server(workers: usize) -> Server {
    Server::start_with(
        1,
        &[AppSpec::simple("chat")],
        &format!(
            r#""worker_c": {workers}, "max_ws_msg_size": 8192, "outbound_ring_buf_size": 1, "max_pending_output": 1000000,"#
        ),
    )
}

/// A chat text of 8192 bytes that the chat app shows as `shown` bytes: each
/// control character (1 byte) is shown as U+FFFD (3 bytes).
fn chat_text(shown: usize) -> String {
    let controls = (shown - 8192) / 2;
    assert_eq!(8192 + 2 * controls, shown);
    let mut text = "\u{1}".repeat(controls);
    text.push_str(&"x".repeat(8192 - controls));
    text
}

/// Chat members m0 and m1, both in the room. On two workers, the app may
/// hear of m1 first even though m0's handshake was complete (each worker
/// has its own ring to it): the one it heard of second is announced to the
/// other.
fn first_two_members(server: &Server) -> Vec<Client> {
    let mut members = vec![
        connect(&server.url("/chat?name=m0")),
        connect(&server.url("/chat?name=m1")),
    ];
    for member in &mut members {
        set_timeout(member, Duration::from_millis(20));
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let (heard, announced) = 'heard: loop {
        for (i, member) in members.iter_mut().enumerate() {
            match member.read() {
                Ok(message) => break 'heard (i, text(&message)),
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => panic!("member m{i}: {e}"),
            }
        }
        assert!(Instant::now() < deadline, "neither member was announced");
    };
    assert_eq!(announced, format!("m{} joined", 1 - heard), "to m{heard}");
    for member in &mut members {
        assert_silent(member, "after the one announcement");
    }
    members
}

#[test]
fn a_chat_message_split_over_several_records_reaches_each_member_once() {
    let server = chat_server(2);
    let mut members = first_two_members(&server);
    for i in 2..10 {
        let client = connect(&server.url(&format!("/chat?name=m{i}")));
        members.push(client);
        for (j, other) in members.iter_mut().enumerate().take(i) {
            assert_eq!(
                text(&next_message(other)),
                format!("m{i} joined"),
                "member {j}"
            );
        }
    }
    // "s: " + shown + a 4-byte header: 16348 + 7 = 16355 bytes of frame;
    // with the record's 8-byte header, room for (16380 - 16363) / 8 = 2
    // ids per record, so each worker's list of up to 9 is split.
    let mut sender = connect(&server.url("/chat?name=s"));
    for (j, other) in members.iter_mut().enumerate() {
        assert_eq!(text(&next_message(other)), "s joined", "member {j}");
    }
    let message = chat_text(16348);
    for round in 0..3 {
        sender.send(Message::text(message.clone())).unwrap();
        sender.send(Message::text(format!("end {round}"))).unwrap();
        for (j, member) in members.iter_mut().enumerate() {
            let first = text(&next_message(member));
            assert_eq!(
                first.len(),
                3 + 16348,
                "round {round}, member {j}: {:.40}",
                first
            );
            assert_eq!(
                text(&next_message(member)),
                format!("s: end {round}"),
                "round {round}, member {j}: a second copy or a lost marker"
            );
        }
    }
    assert_silent(&mut sender, "the sender");
}

// ----------------------------------------------------- TARGET_MULTI dedup

#[test]
fn a_client_listed_many_times_in_a_multi_send_gets_it_once_on_each_worker() {
    let server = probe_server(2, "");
    let mut clients = clients_on_two_workers(&server, 10);
    let ids: Vec<u64> = clients.iter().map(|&(_, id)| id).collect();
    let mut list = Vec::new();
    for _ in 0..6 {
        list.extend_from_slice(&ids[1..]);
    }
    list.truncate(64);
    clients[0].0.send(probe_target(1, &list)).unwrap();
    clients[0].0.send(probe_target(3, &[])).unwrap();
    let listed: HashSet<u64> = list.iter().copied().collect();
    for (i, (client, id)) in clients.iter_mut().enumerate() {
        if listed.contains(id) {
            assert_eq!(text(&next_message(client)), "t1", "client {i}");
        }
        assert_eq!(
            text(&next_message(client)),
            "t3",
            "client {i}: a second copy?"
        );
    }
}

// ------------------------------------------------------- apps apart

#[test]
fn an_app_busy_in_a_callback_holds_up_only_its_own_clients() {
    // One worker serves both apps: the probe sleeps 2 s in a callback (case
    // 12) while the echo app goes on answering; the probe's other client
    // is answered once it wakes, not dropped.
    let server = Server::start_with(
        1,
        &[AppSpec::simple("probe"), AppSpec::simple("echo")],
        r#""worker_c": 1,"#,
    );
    let (mut sleeper, _) = probe_client(&server);
    let (mut waiter, _) = probe_client(&server);
    let mut echo = connect(&server.url("/echo"));
    let asleep = Instant::now();
    sleeper.send(probe_stall(2000)).unwrap();
    waiter.send(Message::binary(vec![8])).unwrap();
    let start = Instant::now();
    for i in 0..20 {
        echo.send(Message::text(format!("{i}"))).unwrap();
        assert_eq!(next_message(&mut echo), Message::text(format!("{i}")));
    }
    assert!(
        start.elapsed() < Duration::from_millis(1000),
        "the echo app waited for the busy probe: {:?}",
        start.elapsed()
    );
    assert_eq!(next_message(&mut sleeper), Message::binary(vec![]));
    assert!(asleep.elapsed() >= Duration::from_millis(1900));
    assert!(next_message(&mut waiter).is_text());
}
