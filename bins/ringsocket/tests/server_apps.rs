//! End-to-end tests of what apps see and send: the chat example with 200
//! clients, endpoint routing over two apps and two ports, and client ids
//! that outlive their clients (with the `probe` test app, which can address
//! any id).

mod support;

use std::collections::{HashMap, HashSet};
use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use support::probe::{id_parts, probe_client, probe_close, probe_target};
use support::*;
use tungstenite::Message;

/// Sends an upgrade request for `path` and resets the connection at once
/// (SO_LINGER 0), so that the server's `101` finds it gone.
fn request_and_reset(addr: std::net::SocketAddr, path: &str) {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .write_all(upgrade_request(path, "Sec-WebSocket-Version: 13\r\n").as_bytes())
        .unwrap();
    socket2::SockRef::from(&stream)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
}

#[test]
fn a_client_gone_before_its_101_joins_the_chat_before_it_leaves() {
    let mut server = Server::start(&[AppSpec::simple("chat")]);
    let log = server.capture_stderr();
    let mut observer = connect(&server.url("/chat"));
    for _ in 0..50 {
        request_and_reset(server.addr(), "/chat");
    }
    // A last client marks the end: the app handles the others' notices
    // before its message.
    let mut marker = connect(&server.url("/chat"));
    marker.send(Message::text("end")).unwrap();
    let mut events: HashMap<String, Vec<String>> = HashMap::new();
    let marker_id = loop {
        let Message::Text(text) = next_message(&mut observer) else {
            panic!("chat sends text")
        };
        if let Some(id) = text.strip_suffix(": end") {
            break id.to_owned();
        }
        let (id, what) = text.split_once(' ').expect("'<id> joined' or '<id> left'");
        events
            .entry(id.to_owned())
            .or_default()
            .push(what.to_owned());
    };
    assert_eq!(events.remove(&marker_id), Some(vec!["joined".to_owned()]));
    // Each client gone before its 101 was written joined, then left: none
    // stays a member for good.
    for (id, what) in &events {
        assert_eq!(what, &["joined", "left"], "client {id}");
    }
    let failed = log.text().matches("write failed").count();
    assert!(
        failed > 0,
        "no 101 found its client gone: the test proved nothing"
    );
}

// ---------------------------------------------------------------- chat

const CHAT_CLIENTS: usize = 200;
const CHAT_MESSAGES: usize = 5;

/// What one chat client received, in order.
#[derive(Default)]
struct Heard {
    /// Ids announced as "<id> joined".
    joined: Vec<u64>,
    /// Relayed messages: (sender id, sender index, message number).
    said: Vec<(u64, usize, usize)>,
    /// Anything else (should stay empty).
    other: Vec<String>,
}

impl Heard {
    fn take(&mut self, text: &str) {
        let parsed = if let Some((id, body)) = text.split_once(": ") {
            parse_body(body)
                .and_then(|(sender, n)| Some((id.parse().ok()?, sender, n)))
                .map(|m| self.said.push(m))
        } else if let Some(id) = text.strip_suffix(" joined") {
            id.parse().ok().map(|id| self.joined.push(id))
        } else {
            None
        };
        if parsed.is_none() {
            self.other.push(text.to_owned());
        }
    }
}

/// "c<sender> m<n>" → (sender, n).
fn parse_body(body: &str) -> Option<(usize, usize)> {
    let (sender, n) = body.split_once(' ')?;
    Some((
        sender.strip_prefix('c')?.parse().ok()?,
        n.strip_prefix('m')?.parse().ok()?,
    ))
}

/// One client's thread: counts the joins it hears, sends its messages once
/// `go` is set, and reads until it heard every other client's messages.
fn chat_client(
    mut client: Client,
    me: usize,
    go: Arc<AtomicBool>,
    joins: Arc<AtomicUsize>,
    deadline: Instant,
) -> (Client, Heard) {
    set_timeout(&client, Duration::from_millis(50));
    let mut heard = Heard::default();
    let mut sent = false;
    let expected = (CHAT_CLIENTS - 1) * CHAT_MESSAGES;
    while !(sent && heard.said.len() >= expected) {
        assert!(
            Instant::now() < deadline,
            "client {me}: heard {} of {expected} messages in time",
            heard.said.len()
        );
        if !sent && go.load(Ordering::Acquire) {
            for n in 0..CHAT_MESSAGES {
                client.send(Message::text(format!("c{me} m{n}"))).unwrap();
            }
            sent = true;
        }
        match client.read() {
            Ok(Message::Text(text)) => {
                let before = heard.joined.len();
                heard.take(text.as_str());
                joins.fetch_add(heard.joined.len() - before, Ordering::AcqRel);
            }
            Ok(other) => heard.other.push(format!("{other:?}")),
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => panic!("client {me}: {e}"),
        }
    }
    set_timeout(&client, Duration::from_secs(10));
    (client, heard)
}

#[test]
fn chat_with_200_clients_relays_every_message_to_every_other_client_once_in_order() {
    let server = Server::start_with(1, &[AppSpec::simple("chat")], r#""worker_c": 2,"#);
    let url = server.url("/chat");
    let clients: Vec<Client> = (0..CHAT_CLIENTS).map(|_| connect(&url)).collect();
    let go = Arc::new(AtomicBool::new(false));
    let joins = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(15);
    let threads: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(me, client)| {
            let (go, joins) = (go.clone(), joins.clone());
            std::thread::spawn(move || chat_client(client, me, go, joins, deadline))
        })
        .collect();
    // Whatever order the app saw the opens in, the k-th join is announced
    // to the k - 1 clients before it: n(n-1)/2 announcements in all. Once
    // they all arrived, every client is a member of the room.
    let all_joins = CHAT_CLIENTS * (CHAT_CLIENTS - 1) / 2;
    while joins.load(Ordering::Acquire) < all_joins {
        assert!(
            Instant::now() < deadline,
            "{} of {all_joins} joins announced",
            joins.load(Ordering::Acquire)
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    go.store(true, Ordering::Release);
    let (mut clients, heard): (Vec<Client>, Vec<Heard>) =
        threads.into_iter().map(|t| t.join().unwrap()).unzip();

    // Every sender's id, as its messages carry it, consistently.
    let mut ids: HashMap<usize, u64> = HashMap::new();
    for h in &heard {
        for &(id, sender, _) in &h.said {
            assert_eq!(
                *ids.entry(sender).or_insert(id),
                id,
                "client {sender} relayed under two ids"
            );
        }
    }
    assert_eq!(ids.len(), CHAT_CLIENTS);
    assert_eq!(
        ids.values().collect::<HashSet<_>>().len(),
        CHAT_CLIENTS,
        "ids are distinct"
    );
    for (me, h) in heard.iter().enumerate() {
        assert!(
            h.other.is_empty(),
            "client {me} got unexpected messages: {:?}",
            &h.other[..h.other.len().min(5)]
        );
        // Each other client's messages, exactly once each, in the order sent.
        let mut per_sender: HashMap<usize, Vec<usize>> = HashMap::new();
        for &(_, sender, n) in &h.said {
            per_sender.entry(sender).or_default().push(n);
        }
        assert!(
            !per_sender.contains_key(&me),
            "client {me} got its own messages back"
        );
        assert_eq!(
            per_sender.len(),
            CHAT_CLIENTS - 1,
            "client {me} heard from {} others",
            per_sender.len()
        );
        for (sender, numbers) in &per_sender {
            assert_eq!(
                numbers,
                &(0..CHAT_MESSAGES).collect::<Vec<_>>(),
                "client {me} from client {sender}"
            );
        }
        // Joins: only others, each at most once.
        let joined: HashSet<u64> = h.joined.iter().copied().collect();
        assert_eq!(
            joined.len(),
            h.joined.len(),
            "client {me} heard a join twice"
        );
        assert!(
            !joined.contains(&ids[&me]),
            "client {me} heard its own join"
        );
    }
    // For every pair, exactly one heard the other join: the one that was
    // in the room first.
    for a in 0..CHAT_CLIENTS {
        for b in a + 1..CHAT_CLIENTS {
            let a_heard_b = heard[a].joined.contains(&ids[&b]);
            let b_heard_a = heard[b].joined.contains(&ids[&a]);
            assert!(
                a_heard_b != b_heard_a,
                "clients {a} and {b}: {a_heard_b} {b_heard_a}"
            );
        }
    }

    // Leaving is announced to everyone else, and nothing else is pending.
    clients[0].close(None).unwrap();
    assert_eq!(close_code(&mut clients[0]), 1005);
    let left = Message::text(format!("{} left", ids[&0]));
    for other in &mut clients[1..] {
        assert_eq!(next_message(other), left);
    }
}

#[test]
fn chat_clients_go_by_the_name_their_url_gives() {
    let server = Server::start(&[AppSpec::simple("chat")]);
    let mut bob = connect(&server.url("/chat?name=Bob"));
    let mut next = || match next_message(&mut bob) {
        Message::Text(text) => text.as_str().to_owned(),
        other => panic!("chat sends text, not {other:?}"),
    };
    // Form-decoded (`+`, `%XX`), trimmed, at most 32 characters (not bytes).
    let mut named = connect(&server.url("/chat?room=1&name=+J%C3%BCrgen+M+"));
    assert_eq!(next(), "Jürgen M joined");
    named.send(Message::text("hi")).unwrap();
    assert_eq!(next(), "Jürgen M: hi");
    // A text cannot fake another member's line (a line break, a bidi
    // override), while what emoji and scripts need passes.
    named
        .send(Message::text("hi\nBob: send me \u{202e}your password"))
        .unwrap();
    assert_eq!(
        next(),
        "Jürgen M: hi\u{fffd}Bob: send me \u{fffd}your password"
    );
    let ordinary = [
        "I \u{2764}\u{fe0f} it",
        "\u{1f468}\u{200d}\u{1f469}\u{200d}\u{1f467}",
        "\u{1f3f4}\u{e0067}\u{e0062}\u{e0073}\u{e0063}\u{e0074}\u{e007f}",
        "\u{645}\u{6cc}\u{200c}\u{62e}\u{648}\u{627}\u{647}\u{645}",
        "\u{915}\u{94d}\u{200d}\u{937}",
    ];
    for text in ordinary {
        named.send(Message::text(text)).unwrap();
        assert_eq!(next(), format!("Jürgen M: {text}"));
    }
    drop(named);
    assert_eq!(next(), "Jürgen M left");
    for name in ["x".repeat(32), "ü".repeat(32)] {
        let named = connect(&server.url(&format!("/chat?name={name}")));
        assert_eq!(next(), format!("{name} joined"));
        drop(named);
        assert_eq!(next(), format!("{name} left"));
    }
    // A name that is too long, empty, could pass for an id, fakes a sender
    // or breaks a line is not taken: the client's id stands in.
    let long = "x".repeat(33);
    for query in [
        format!("?name={long}"),
        String::new(),
        "?name=+".to_owned(),
        "?name=12345".to_owned(),
        "?name=Bob:+ok".to_owned(),
        "?name=a%0Ab".to_owned(),
        "?name=a%E2%80%A8b".to_owned(),
        // Invisible: "Bob" and a zero-width space, a soft hyphen.
        "?name=Bob%E2%80%8B".to_owned(),
        "?name=a%C2%ADb".to_owned(),
        // Digits of another script: full-width "12".
        "?name=%EF%BC%91%EF%BC%92".to_owned(),
    ] {
        let anonymous = connect(&server.url(&format!("/chat{query}")));
        let joined = next();
        let id = joined
            .strip_suffix(" joined")
            .unwrap_or_else(|| panic!("{joined}"));
        assert!(
            id.parse::<u64>().is_ok() && id != "12345",
            "{query}: {joined}"
        );
        drop(anonymous);
        assert_eq!(next(), format!("{id} left"));
    }
}

// ------------------------------------------------------------- routing

#[test]
fn two_apps_on_two_ports_are_reachable_exactly_where_configured() {
    let server = Server::start_with(
        2,
        &[
            AppSpec {
                endpoints: vec![(0, "/echo".into(), 0), (1, "/echo2".into(), 1)],
                ..AppSpec::simple("echo")
            },
            AppSpec {
                endpoints: vec![(0, "/calc".into(), 1)],
                ..AppSpec::simple("silly_calc")
            },
        ],
        "",
    );
    // echo on port 0 at /echo, and on port 1 at /echo2 (a second endpoint).
    for url in [server.url_on(0, "/echo"), server.url_on(1, "/echo2")] {
        let mut client = connect(&url);
        client.send(Message::text("ping")).unwrap();
        assert_eq!(next_message(&mut client), Message::text("ping"), "{url}");
    }
    // silly_calc on port 1 at /calc.
    let mut calc = connect(&server.url_on(1, "/calc"));
    let mut request = 7i32.to_be_bytes().to_vec();
    request.extend_from_slice(&5u16.to_be_bytes());
    calc.send(Message::binary(request)).unwrap();
    assert_eq!(next_message(&mut calc), Message::text("笑笑?"));
    // Each path only on its own port.
    for (port, path) in [
        (0, "/calc"),
        (0, "/echo2"),
        (1, "/echo"),
        (0, "/"),
        (1, "/calc/"),
    ] {
        let response = raw_http(
            server.addr_on(port),
            &upgrade_request(path, "Sec-WebSocket-Version: 13\r\n"),
        );
        assert!(
            response.starts_with("HTTP/1.1 404 "),
            "port {port} {path}: {response}"
        );
    }
}

#[test]
fn each_endpoint_gives_the_app_its_own_endpoint_id_whichever_port_it_is_on() {
    // The probe app's case 8 tells what the server told it about the client.
    let server = Server::start_with(
        2,
        &[AppSpec {
            endpoints: vec![
                (3, "/a".into(), 0),
                (7, "/b".into(), 1),
                (11, "/c".into(), 0),
            ],
            ..AppSpec::simple("probe")
        }],
        "",
    );
    // All stay connected: the probe tells everyone when a client leaves.
    let mut clients = Vec::new();
    for (port, path, endpoint_id) in [(0, "/a", 3), (1, "/b", 7), (0, "/c", 11)] {
        clients.push(connect(&server.url_on(port, path)));
        let client = clients.last_mut().unwrap();
        let Message::Text(welcome) = next_message(client) else {
            panic!("no welcome")
        };
        assert!(welcome.starts_with("welcome "), "{welcome}");
        client.send(Message::binary(vec![8])).unwrap();
        let Message::Text(info) = next_message(client) else {
            panic!("no info")
        };
        assert!(
            info.contains(&format!(" endpoint={endpoint_id} ")),
            "port {port} {path}: {info}"
        );
    }
}

// ---------------------------------------------------------- client ids

/// The probe app on `/probe`, one worker (so that a freed slot is reused).
fn probe_server() -> Server {
    Server::start_with(1, &[AppSpec::simple("probe")], r#""worker_c": 1,"#)
}

#[test]
fn the_open_callback_is_told_the_chosen_subprotocol_and_the_query() {
    let server = Server::start(&[AppSpec {
        endpoint_members: r#""subprotocols": ["chat.v2", "chat.v1"],"#,
        ..AppSpec::simple("probe")
    }]);
    // The probe's welcome names them: " speaking <subprotocol>" and
    // " asking <query>".
    let welcome = |target: &str, offer: Option<&str>| {
        let offer = offer.map(|offer| ("Sec-WebSocket-Protocol", offer.as_bytes()));
        welcome_with_headers(&server, target, offer.as_slice())
    };
    assert!(welcome("/probe", Some("chat.v1")).ends_with(" speaking chat.v1"));
    assert!(welcome("/probe", Some("x, chat.v1, chat.v2")).ends_with(" speaking chat.v2"));
    assert!(
        welcome("/probe?room=7&t=%2F", Some("chat.v1"))
            .ends_with(" speaking chat.v1 asking room=7&t=%2F")
    );
    assert!(welcome("/probe?room=7", None).ends_with(" asking room=7"));
    // (A client offering only others would get no subprotocol, which
    // tungstenite refuses: see the server tests.)
    for target in ["/probe", "/probe?"] {
        let text = welcome(target, None);
        assert!(
            !text.contains("speaking") && !text.contains("asking"),
            "{text}"
        );
    }
}

/// The probe's welcome to a client of `server` that sends `headers` with
/// its request for `target`.
fn welcome_with_headers(server: &Server, target: &str, headers: &[(&str, &[u8])]) -> String {
    let (mut client, _) = connect_sending_headers(server, target, headers);
    // The probe tells every client when one leaves: the previous client's
    // farewell may come first.
    loop {
        if let Message::Text(text) = next_message(&mut client)
            && text.starts_with("welcome ")
        {
            return text.as_str().to_owned();
        }
    }
}

#[test]
fn the_open_callback_reads_the_request_headers_its_endpoint_lists() {
    // Listed in another case than the client's and the app's.
    let server = Server::start(&[AppSpec {
        endpoint_members: r#""app_headers": ["cookie", "X-FORWARDED-FOR"],"#,
        ..AppSpec::simple("probe")
    }]);
    // The probe's welcome ends with " with <name>: <value>" for Cookie and
    // X-Forwarded-For.
    let welcome = welcome_with_headers(
        &server,
        "/probe",
        &[
            ("Cookie", b"a=1"),
            ("X-Forwarded-For", b"192.0.2.7"),
            ("Accept-Language", b"fr"),
            ("cookie", b"b=2"),
        ],
    );
    assert!(
        welcome.ends_with(" with Cookie: a=1; b=2 with X-Forwarded-For: 192.0.2.7"),
        "{welcome}"
    );
    // Bytes as sent, not necessarily UTF-8; sent empty is not absent.
    let welcome = welcome_with_headers(
        &server,
        "/probe",
        &[("Cookie", b"caf\xe9"), ("X-Forwarded-For", b"")],
    );
    assert!(
        welcome.ends_with(" with Cookie: caf\\xe9 with X-Forwarded-For: "),
        "{welcome}"
    );
    assert!(!welcome_with_headers(&server, "/probe", &[]).contains(" with "));
}

#[test]
fn an_app_reads_only_the_headers_of_its_clients_endpoint() {
    // One endpoint lists Cookie, the other X-Forwarded-For: each request is
    // parsed keeping both, before it is routed.
    let ports = vec![free_port()];
    let members = r#""app_headers": ["Cookie"],"#;
    let config = config_text(
        &ports,
        &[AppSpec {
            endpoint_members: members,
            endpoints: vec![(0, "/probe".to_owned(), 0), (1, "/other".to_owned(), 0)],
            ..AppSpec::simple("probe")
        }],
        &run_as_user(),
    )
    .replacen(
        &format!(r#"{members} "endpoint_id": 1"#),
        r#""app_headers": ["X-Forwarded-For"], "endpoint_id": 1"#,
        1,
    );
    let server = Server::start_config(tempfile::tempdir().unwrap(), &config, ports);
    let sent: &[(&str, &[u8])] = &[("Cookie", b"a=1"), ("X-Forwarded-For", b"h")];
    let welcome = welcome_with_headers(&server, "/probe", sent);
    assert!(welcome.ends_with(" with Cookie: a=1"), "{welcome}");
    let welcome = welcome_with_headers(&server, "/other", sent);
    assert!(welcome.ends_with(" with X-Forwarded-For: h"), "{welcome}");
    assert!(!welcome.contains("Cookie"), "{welcome}");
}

#[test]
fn cookies_for_an_app_that_any_origin_may_reach_are_warned_about() {
    let ports = vec![free_port()];
    let config = config_text(
        &ports,
        &[AppSpec {
            endpoint_members: r#""app_headers": ["cookie"],"#,
            ..AppSpec::simple("probe")
        }],
        &run_as_user(),
    );
    let any = config.replace(r#"["http://allowed.example"]"#, r#"["*"]"#);
    assert_ne!(any, config, "the test configuration lists an origin");
    let warning = "its app reads the Cookie header and allowed_origins has \"*\": any web site";
    for (text, warned) in [(any, true), (config, false)] {
        let mut server = Server::start_config(tempfile::tempdir().unwrap(), &text, ports.clone());
        welcome_with_headers(&server, "/probe", &[]);
        server.signal(15);
        let log = server.stderr(); // to its end: the server exited
        assert!(server.wait_exit(Duration::from_secs(40)).success(), "{log}");
        assert_eq!(log.contains(warning), warned, "{log}");
    }
}

#[test]
fn no_open_cb_for_an_app_that_has_an_open_callback_is_warned_about() {
    let warning =
        "\"no_open_cb\" is true but the app has that callback, which will never be called";
    // The probe has an open callback; echo has none.
    for (app, warned) in [("probe", true), ("echo", false)] {
        let ports = vec![free_port()];
        let config = config_text(&ports, &[AppSpec::simple(app)], &run_as_user())
            .replace(r#""app_path": "#, r#""no_open_cb": true, "app_path": "#);
        assert!(config.contains("no_open_cb"));
        let mut server = Server::start_config(tempfile::tempdir().unwrap(), &config, ports);
        server.signal(15);
        let log = server.stderr(); // to its end: the server exited
        assert!(server.wait_exit(Duration::from_secs(40)).success(), "{log}");
        assert_eq!(log.contains(warning), warned, "{app}: {log}");
    }
}

#[test]
fn replies_of_slow_callbacks_go_out_as_they_are_made() {
    use support::raw::{self, RawWs};
    let server = Server::start_with(1, &[AppSpec::simple("probe")], r#""worker_c": 1,"#);
    let mut client = RawWs::connect(server.addr(), "/probe");
    client.frame(); // its welcome
    // Four requests the probe answers after 100 ms each (case 12), sent
    // together: one batch of the app thread. Replies wait for the end of a
    // batch, but once callbacks are seen to be slow (after the first
    // batch) they go out as they are made.
    let burst: Vec<u8> = (0..4)
        .flat_map(|_| raw::masked(raw::BINARY, &[12, 0, 100]))
        .collect();
    for round in 0..2 {
        let start = Instant::now();
        client.send_raw(&burst);
        let arrivals: Vec<Duration> = (0..4)
            .map(|_| {
                assert_eq!(client.frame().opcode, raw::BINARY);
                start.elapsed()
            })
            .collect();
        if round == 1 {
            assert!(
                arrivals[0] < Duration::from_millis(300),
                "the first reply came after {:?}, with the last ({arrivals:?})",
                arrivals[0]
            );
        }
    }
}

#[test]
fn every_client_except_a_list_reaches_exactly_the_others_on_every_worker() {
    // A short list (scanned for each member) and a long one (sorted once
    // and searched), each with an id of no client, over two workers.
    let server = Server::start_with(1, &[AppSpec::simple("probe")], r#""worker_c": 2,"#);
    let mut clients: Vec<(Client, u64)> = (0..40).map(|_| probe_client(&server)).collect();
    let workers: HashSet<u64> = clients.iter().map(|&(_, id)| id_parts(id).0).collect();
    assert_eq!(workers.len(), 2, "the kernel put 40 clients on one worker");
    for excepted in [3, 30] {
        let mut ids: Vec<u64> = clients[..excepted].iter().map(|&(_, id)| id).collect();
        ids.push(clients[39].1 + 1);
        let sender = &mut clients[excepted].0;
        sender.send(probe_target(5, &ids)).unwrap();
        // The sender is not excepted: its copy shows the app sent it,
        // before the marker that everyone gets.
        assert_eq!(next_message(sender), Message::text("t5"));
        clients[39].0.send(probe_target(3, &[])).unwrap();
        for (i, (client, _)) in clients.iter_mut().enumerate() {
            if i > excepted {
                assert_eq!(next_message(client), Message::text("t5"), "client {i}");
            }
            assert_eq!(next_message(client), Message::text("t3"), "client {i}");
        }
    }
}

/// `a` connects and leaves (seen by `observer` as "bye"), then `b` takes
/// its slot with a new generation. Returns (a's id, b, b's id).
fn reuse_a_slot(server: &Server, observer: &mut Client) -> (u64, Client, u64) {
    let (mut a, a_id) = probe_client(server);
    a.close(None).unwrap();
    assert_eq!(close_code(&mut a), 1005);
    // The app heard the close, so the worker had freed the slot.
    assert_eq!(next_message(observer), Message::text(format!("bye {a_id}")));
    let (b, b_id) = probe_client(server);
    let ((a_worker, a_slot, a_generation), (b_worker, b_slot, b_generation)) =
        (id_parts(a_id), id_parts(b_id));
    assert_eq!(
        (b_worker, b_slot),
        (a_worker, a_slot),
        "b reuses a's slot: {a_id} {b_id}"
    );
    assert_ne!(b_generation, a_generation);
    (a_id, b, b_id)
}

#[test]
fn frames_an_app_sends_one_client_in_one_callback_arrive_whole_and_in_order() {
    // The worker writes the first frame a client gets in a delivery pass at
    // once and gathers the others into one vectored write; 700 frames
    // span three passes (256 records each), and two clients' bursts share
    // the ring.
    let server = probe_server();
    let (mut a, _) = probe_client(&server);
    let (mut b, _) = probe_client(&server);
    let burst = |count: u16| {
        let mut request = vec![11];
        request.extend_from_slice(&count.to_be_bytes());
        Message::binary(request)
    };
    for round in 0..3 {
        a.send(burst(700)).unwrap();
        b.send(burst(300)).unwrap();
        for (client, count) in [(&mut a, 700u16), (&mut b, 300)] {
            for i in 0..count {
                assert_eq!(
                    next_message(client),
                    Message::binary(i.to_be_bytes().to_vec()),
                    "round {round}, frame {i} of {count}"
                );
            }
        }
    }
    // A lone reply afterwards still arrives.
    a.send(burst(1)).unwrap();
    assert_eq!(next_message(&mut a), Message::binary(vec![0, 0]));
}

#[test]
fn the_slot_free_the_longest_is_reused_first() {
    // So that churn spreads over the slots rather than spending one slot's
    // generations, after which a kept id would match a new client.
    let server = probe_server();
    let (mut observer, _) = probe_client(&server);
    let (mut a, a_id) = probe_client(&server);
    let (mut b, b_id) = probe_client(&server);
    for (client, id) in [(&mut a, a_id), (&mut b, b_id)] {
        client.close(None).unwrap();
        assert_eq!(close_code(client), 1005);
        assert_eq!(
            next_message(&mut observer),
            Message::text(format!("bye {id}"))
        );
    }
    let (_c, c_id) = probe_client(&server);
    assert_eq!(
        id_parts(c_id).1,
        id_parts(a_id).1,
        "a left first ({a_id}), then b ({b_id}); c got {c_id}"
    );
}

#[test]
fn a_message_for_a_closed_clients_id_does_not_reach_the_client_in_its_slot() {
    let server = probe_server();
    let (mut observer, _) = probe_client(&server);
    let (a_id, mut b, b_id) = reuse_a_slot(&server, &mut observer);
    // To a's old id, alone (to_single) and in a list (to_multi)...
    observer.send(probe_target(0, &[a_id])).unwrap();
    observer.send(probe_target(1, &[a_id])).unwrap();
    // ...then to b's id, the same two ways.
    observer.send(probe_target(0, &[b_id])).unwrap();
    observer.send(probe_target(1, &[b_id])).unwrap();
    assert_eq!(next_message(&mut b), Message::text("t0"));
    assert_eq!(next_message(&mut b), Message::text("t1"));
    assert_silent(&mut b, "b");
    // The observer got nothing either (its next message is its own reply).
    observer.send(probe_target(2, &[])).unwrap();
    assert_eq!(next_message(&mut observer), Message::text("t2"));
}

#[test]
fn a_close_for_a_closed_clients_id_does_not_close_the_client_in_its_slot() {
    let server = probe_server();
    let (mut observer, _) = probe_client(&server);
    let (a_id, mut b, b_id) = reuse_a_slot(&server, &mut observer);
    // The app cannot know that the id is stale: it accepts the request.
    observer.send(probe_close(a_id, 4000)).unwrap();
    assert_eq!(next_message(&mut observer), Message::binary(vec![1]));
    // b is still open and reachable...
    observer.send(probe_target(0, &[b_id])).unwrap();
    assert_eq!(next_message(&mut b), Message::text("t0"));
    // ...and closing it by its own id works.
    observer.send(probe_close(b_id, 4000)).unwrap();
    assert_eq!(next_message(&mut observer), Message::binary(vec![1]));
    assert_eq!(close_code(&mut b), 4000);
}

/// A raw client of the probe app that the app has just closed with 4321:
/// the server's close frame is read, the client's is not sent yet.
fn closed_by_the_probe(server: &Server) -> raw::RawWs {
    use support::raw::{self, RawWs};
    let mut client = RawWs::connect(server.addr(), "/probe");
    // The probe tells every client who left: an earlier client's farewell
    // may come before the welcome or after it.
    let welcome = loop {
        let text = String::from_utf8(client.frame().payload).unwrap();
        if text.starts_with("welcome ") {
            break text;
        }
    };
    let id = welcome_id(&welcome);
    let Message::Binary(request) = probe_close(id, 4321) else {
        unreachable!()
    };
    client.send(raw::BINARY, &request);
    let close = loop {
        let frame = client.frame();
        if !frame.payload.starts_with(b"bye ") {
            break frame;
        }
    };
    assert_eq!(close.close_code(), 4321);
    client
}

#[test]
fn a_protocol_error_after_the_servers_close_ends_the_connection_without_a_second_close() {
    use support::raw;
    let server = Server::start_with(
        1,
        &[AppSpec::simple("probe")],
        r#""worker_c": 1, "shutdown_wait_ws": 2,"#,
    );
    let long_invalid = [&[b'a'; 300][..], &[0xff]].concat();
    for violation in [
        // RSV1 set, a short and a long text that is not UTF-8.
        raw::encode(0xc2, b"x", Some(raw::MASK)),
        raw::masked(raw::TEXT, &[0xff, 0xfe]),
        raw::masked(raw::TEXT, &long_invalid),
    ] {
        let mut client = closed_by_the_probe(&server);
        client.send_raw(&violation);
        let took = client.wait_closed(Duration::from_secs(5));
        assert!(took < Duration::from_secs(3), "closed after {took:?}");
    }
    // Valid data after the server's close is discarded, whatever its
    // length; the client's close then completes the handshake.
    let mut client = closed_by_the_probe(&server);
    client.send(raw::TEXT, "é".repeat(200).as_bytes());
    client.send(raw::BINARY, b"ignored");
    client.send(raw::CLOSE, &4321u16.to_be_bytes());
    client.wait_closed(Duration::from_secs(5));
}

#[test]
fn with_close_client_on_panic_a_panicking_read_closes_its_client_with_1011_and_the_app_goes_on() {
    let port = free_port();
    let config = config_text(
        &[port],
        &[AppSpec::simple("probe")],
        &format!(r#"{}"worker_c": 1,"#, run_as_user()),
    )
    .replace(
        r#""app_path""#,
        r#""close_client_on_panic": true, "app_path""#,
    );
    let mut server = Server::start_config(tempfile::tempdir().unwrap(), &config, vec![port]);
    let log = server.capture_stderr();
    let (mut observer, _) = probe_client(&server);
    let (mut client, id) = probe_client(&server);
    let local = client.get_ref().0.local_addr().unwrap();
    client.send(Message::binary(vec![9])).unwrap(); // the probe panics
    assert_eq!(close_code(&mut client), 1011);
    assert!(
        log.wait_for(
            &format!(
                "app 'probe': read callback panicked (see the log line before this one); \
                 closing client {id} ({local}) with 1011 (close_client_on_panic)"
            ),
            Duration::from_secs(10)
        ),
        "{}",
        log.text()
    );
    // The app hears that the client left, and serves the others.
    assert_eq!(
        next_message(&mut observer),
        Message::text(format!("bye {id}"))
    );
    observer.send(probe_target(2, &[])).unwrap();
    assert_eq!(next_message(&mut observer), Message::text("t2"));
}

// ------------------------------------------------- closes from clients

#[test]
fn a_message_and_a_close_sent_together_get_the_reply_and_then_the_close() {
    use support::raw::{self, RawWs};
    let server = Server::start(&[AppSpec::simple("echo")]);
    for i in 0..20 {
        // One write: the app's reply must still come before the close.
        let mut bytes = raw::masked(raw::TEXT, format!("last words {i}").as_bytes());
        bytes.extend(raw::masked(raw::CLOSE, &1000u16.to_be_bytes()));
        let mut client = RawWs::connect(server.addr(), "/echo");
        client.send_raw(&bytes);
        if i % 2 == 1 {
            // Closing its side at once too: it still waits for both.
            client.stream.shutdown(std::net::Shutdown::Write).unwrap();
        }
        let echo = client.frame();
        assert_eq!(
            (echo.opcode, echo.payload),
            (raw::TEXT, format!("last words {i}").into_bytes()),
            "round {i}"
        );
        let close = client.frame();
        assert_eq!((close.close_code(), close.payload.len()), (1000, 2));
        client.wait_closed(Duration::from_secs(5));
    }
}

#[test]
fn a_client_that_sends_a_close_frame_is_told_of_once_and_answered_with_its_code() {
    use support::raw::{self, RawWs};
    let server = probe_server();
    let (mut observer, _) = probe_client(&server);
    let mut client = RawWs::connect(server.addr(), "/probe");
    let welcome = client.frame();
    let id = welcome_id(&String::from_utf8(welcome.payload).unwrap());
    // Asks for an echo of its close code, then leaves without waiting.
    client.send(raw::CLOSE, &4321u16.to_be_bytes());
    assert_eq!(client.frame().close_code(), 4321);
    client.wait_closed(Duration::from_secs(5));
    // The app's close callback ran once (the probe tells everyone).
    assert_eq!(
        next_message(&mut observer),
        Message::text(format!("bye {id}"))
    );
    assert_silent(&mut observer, "the observer");
}

#[test]
fn a_close_frame_the_app_does_not_answer_in_time_is_answered_by_the_server() {
    use support::raw::{self, RawWs};
    let server = Server::start_with(
        1,
        &[AppSpec::simple("probe")],
        r#""worker_c": 1, "shutdown_wait_ws": 1,"#,
    );
    let (mut sleeper, _) = probe_client(&server);
    let mut client = RawWs::connect(server.addr(), "/probe");
    client.frame(); // its welcome
    // The app sleeps 4 s in a callback; the close waits for it at most
    // shutdown_wait_ws.
    sleeper
        .send(Message::binary(
            [&[12][..], &4000u16.to_be_bytes()].concat(),
        ))
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let sent = Instant::now();
    client.send(raw::CLOSE, &1001u16.to_be_bytes());
    assert_eq!(client.frame().close_code(), 1001);
    let waited = sent.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(3),
        "answered after {waited:?}"
    );
    client.wait_closed(Duration::from_secs(5));
}

#[test]
fn a_close_frame_waiting_for_a_busy_app_at_shutdown_is_still_answered() {
    use support::raw::{self, RawWs};
    let mut server = Server::start_with(
        1,
        &[AppSpec::simple("probe")],
        r#""worker_c": 1, "shutdown_wait_ws": 1,"#,
    );
    let mut client = RawWs::connect(server.addr(), "/probe");
    client.frame(); // its welcome
    // The app sleeps 3 s; the close frame waits for it; then SIGTERM.
    let mut bytes = raw::masked(raw::BINARY, &[12, 0x0b, 0xb8]);
    bytes.extend(raw::masked(raw::CLOSE, &4444u16.to_be_bytes()));
    client.send_raw(&bytes);
    std::thread::sleep(Duration::from_millis(200));
    let stopping = Instant::now();
    server.signal(15);
    // Answered (by the worker: the app is still asleep), then closed.
    assert_eq!(client.frame().close_code(), 4444);
    client.wait_closed(Duration::from_secs(5));
    assert!(server.wait_exit(Duration::from_secs(20)).success());
    assert!(
        stopping.elapsed() < Duration::from_secs(10),
        "{:?}",
        stopping.elapsed()
    );
}

/// A probe server with a ring of about a hundred notices (and `extra`
/// configuration members), whose app sleeps 8 s from now (case 12): far
/// longer than the clients of the tests below take to come and go. Also
/// the client that put it to sleep, and the server's log.
fn sleeping_probe(extra: &str) -> (Server, Log, Client) {
    let mut server = Server::start_with(
        1,
        &[AppSpec::simple("probe")],
        &format!(
            r#""worker_c": 1, "max_ws_msg_size": 1024, "inbound_ring_buf_size": 4096, {extra}"#
        ),
    );
    let log = server.capture_stderr();
    let (mut observer, _) = probe_client(&server);
    observer
        .send(Message::binary(vec![12, 0x1f, 0x40]))
        .unwrap();
    (server, log, observer)
}

/// Sends `handshake` on new connections until one is not accepted (each
/// accepted client leaves at once: an open and a close notice); the number
/// accepted and the refusal. Fails past `limit` clients.
fn handshakes_until_refused(server: &Server, handshake: &str, limit: usize) -> (usize, String) {
    let mut served = 0;
    loop {
        let response = raw_http(server.addr(), handshake);
        if !response.starts_with("HTTP/1.1 101 ") {
            return (served, response);
        }
        served += 1;
        assert!(served < limit, "no client refused");
    }
}

/// Waits until the sleeping probe wakes up, answers `observer`, and tells
/// it of the `served` clients that left.
fn wait_for_the_probe_to_catch_up(observer: &mut Client, served: usize) {
    assert_eq!(next_message(observer), Message::binary(Vec::new()));
    for byes in 0..served {
        match next_message(observer) {
            Message::Text(text) if text.starts_with("bye ") => {}
            other => panic!("after {byes} byes: {other:?}"),
        }
    }
}

#[test]
fn open_notices_with_long_queries_stop_new_clients_by_their_bytes() {
    // Each open notice carries its 60,000-byte query: the backlog's 32 MiB
    // are reached long before its 4096 messages.
    let (server, log, mut observer) = sleeping_probe(r#""max_http_request_size": 65536,"#);
    let query = "q".repeat(60_000);
    let handshake = upgrade_request(&format!("/probe?{query}"), "Sec-WebSocket-Version: 13\r\n");
    let (served, refusal) = handshakes_until_refused(&server, &handshake, 1000);
    assert!(refusal.starts_with("HTTP/1.1 503 "), "{refusal}");
    // About 32 MiB / 60 kB.
    assert!(served >= 500, "refused after {served} clients");
    assert!(
        log.wait_for("bytes) waiting for its ring", Duration::from_secs(10)),
        "{}",
        log.text()
    );
    // Caught up, with the backlog's bytes counted down: new clients are
    // taken again.
    wait_for_the_probe_to_catch_up(&mut observer, served);
    let response = raw_http(server.addr(), &handshake);
    assert!(response.starts_with("HTTP/1.1 101 "), "{response}");
}

#[test]
fn a_stuck_apps_clients_are_not_read_past_32_mib_waiting() {
    use support::raw::{self, RawWs};
    // The app sleeps 8 s. Each of 96 clients sends a message of a million
    // bytes: one waits in the app's ring, the next ones in the worker's
    // backlog until it holds 32 MiB; the clients after them are not read.
    // (Unbounded, the backlog held all 96: 96 MB more memory.)
    const CLIENTS: usize = 96;
    let server = Server::start_with(
        1,
        &[AppSpec::simple("probe")],
        r#""worker_c": 1, "max_ws_msg_size": 1048576, "max_partial_msgs_size": 134217728,
            "inbound_ring_buf_size": 4096,"#,
    );
    let (mut observer, _) = probe_client(&server);
    let clients: Vec<RawWs> = (0..CLIENTS)
        .map(|_| RawWs::connect(server.addr(), "/probe"))
        .collect();
    let before = server.rss_kib();
    observer
        .send(Message::binary(vec![12, 0x1f, 0x40]))
        .unwrap();
    // Case 0xC3 of the probe (a text message starting "é"): the rest goes
    // back as text, which is not UTF-8 without its first byte, so the
    // probe answers [1] (refused).
    let mut message = "é".as_bytes().to_vec();
    message.resize(1_000_000, b'a');
    let message = Arc::new(raw::masked(raw::TEXT, &message));
    let senders: Vec<_> = clients
        .into_iter()
        .map(|mut client| {
            let message = Arc::clone(&message);
            // One after the other: each message is read whole before the
            // next comes, if it is read.
            std::thread::sleep(Duration::from_millis(15));
            std::thread::spawn(move || {
                client.send_raw(&message);
                client
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let grown_mib = server.rss_kib().saturating_sub(before) / 1024;
    assert!(
        grown_mib < 56,
        "the server grew by {grown_mib} MiB with the app asleep"
    );
    // Nothing is lost: once the app wakes, every client gets its welcome
    // and its answer. (All kept open: one that left would be announced.)
    let mut clients: Vec<RawWs> = senders.into_iter().map(|s| s.join().unwrap()).collect();
    for client in &mut clients {
        let welcome = client.read_within(Duration::from_secs(30));
        assert!(
            matches!(&welcome, raw::Received::Frame(f) if f.payload.starts_with(b"welcome ")),
            "{welcome:?}"
        );
        let answer = client.read_within(Duration::from_secs(30));
        assert!(
            matches!(&answer, raw::Received::Frame(f) if f.opcode == raw::BINARY && f.payload == [1]),
            "{answer:?}"
        );
    }
}

#[test]
fn an_app_that_stops_consuming_takes_no_new_clients_until_it_catches_up() {
    // The notices wait in the worker's backlog, which takes no new clients
    // past 4096 messages.
    let (server, log, mut observer) = sleeping_probe("");
    let handshake = upgrade_request("/probe", "Sec-WebSocket-Version: 13\r\n");
    let (served, refusal) = handshakes_until_refused(&server, &handshake, 6000);
    assert!(
        refusal.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
        "{refusal}"
    );
    assert!(refusal.contains("\r\nRetry-After: 1\r\n"), "{refusal}");
    // Not before the backlog was long: two notices per client served.
    assert!(served >= 2000, "refused after {served} clients");
    assert!(log.wait_for(
        "waiting for its ring (at most 4096, 33554432 bytes); refusing its new clients with 503",
        Duration::from_secs(10)
    ));
    // 4096, or one more if a client's close came in before the next
    // handshake was refused.
    let text = log.text();
    let waiting: usize = text
        .split_once("the app at /probe has ")
        .and_then(|(_, rest)| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count of waiting messages: {text}"));
    assert!((4096..=4097).contains(&waiting), "{waiting}");
    // Caught up, it takes new clients again.
    wait_for_the_probe_to_catch_up(&mut observer, served);
    let (mut client, _) = probe_client(&server);
    client.send(probe_target(2, &[])).unwrap();
    assert_eq!(next_message(&mut client), Message::text("t2"));
}

#[test]
fn a_ping_after_our_close_frame_is_still_answered() {
    use support::raw::{self, RawWs};
    // RFC 6455 §5.5.2: a pong is owed until the client's close frame has
    // come, even after ours.
    let server = probe_server();
    let (mut observer, _) = probe_client(&server);
    let mut client = RawWs::connect(server.addr(), "/probe");
    let id = welcome_id(&String::from_utf8(client.frame().payload).unwrap());
    observer.send(probe_close(id, 4000)).unwrap();
    assert_eq!(client.frame().close_code(), 4000);
    client.send(raw::PING, b"still there?");
    let pong = client.frame();
    assert_eq!(
        (pong.opcode, pong.payload.as_slice()),
        (raw::PONG, &b"still there?"[..])
    );
    client.send(raw::CLOSE, &4000u16.to_be_bytes());
    client.wait_closed(Duration::from_secs(10));
}

#[test]
fn a_client_being_closed_that_passes_max_partial_msgs_size_gets_no_second_close() {
    use support::raw::{self, RawWs};
    let mut server = Server::start_with(
        1,
        &[AppSpec::simple("probe")],
        r#""worker_c": 1, "max_ws_msg_size": 65536, "max_partial_msgs_size": 65536,"#,
    );
    let log = server.capture_stderr();
    let (mut observer, _) = probe_client(&server);
    let mut client = RawWs::connect(server.addr(), "/probe");
    let welcome = client.frame();
    let id = welcome_id(&String::from_utf8(welcome.payload).unwrap());
    // Two messages begun, 30,000 bytes each (a pong shows each was read)...
    let begin = |client: &mut RawWs| {
        client.send_raw(&raw::encode(raw::BINARY, &[1; 30_000], Some(raw::MASK)));
        client.send(raw::PING, b"read?");
        assert_eq!(client.frame().payload, b"read?");
    };
    let mut other = RawWs::connect(server.addr(), "/probe");
    other.frame(); // its welcome
    begin(&mut client);
    begin(&mut other);
    // ...then the app closes one client...
    observer.send(probe_close(id, 4000)).unwrap();
    assert_eq!(next_message(&mut observer), Message::binary(vec![1]));
    assert_eq!(client.frame().close_code(), 4000);
    // ...which goes on with its message, taking the worker past 65,536
    // bytes: the server ends the connection without a second close frame.
    client.send_raw(&raw::encode(
        raw::CONTINUATION,
        &[2; 10_000],
        Some(raw::MASK),
    ));
    client.wait_closed(Duration::from_secs(10));
    assert!(
        log.wait_for(
            "ending the closing connection: its unfinished message of",
            Duration::from_secs(10)
        ),
        "{}",
        log.text()
    );
}

/// The address the probe app reports for a client connecting to `url`,
/// and the client's own address as it sees it.
fn address_seen(url: &str) -> (String, std::net::SocketAddr) {
    let mut client = connect(url);
    let local = client.get_ref().0.local_addr().unwrap();
    let Message::Text(welcome) = next_message(&mut client) else {
        panic!("no welcome")
    };
    let from = welcome
        .split(" from ")
        .nth(1)
        .expect("a welcome naming the address");
    (from.to_owned(), local)
}

#[test]
fn apps_see_client_addresses_in_the_family_their_port_listens_in() {
    let (plain, embedded, v6) = (free_port(), free_port(), free_port());
    // ::1 may be missing where IPv6 is disabled: that port is then left out.
    let has_v6 = std::net::TcpListener::bind(("::1", 0)).is_ok();
    let v6_port = if has_v6 {
        format!(r#", {{ "port_number": {v6}, "is_unencrypted": true, "ip_addrs": ["::1"] }}"#)
    } else {
        String::new()
    };
    let endpoint = |id: u16, host: &str, port: u16| {
        format!(r#"{{ "endpoint_id": {id}, "url": "ws://{host}:{port}/probe" }}"#)
    };
    let mut endpoints = vec![
        endpoint(0, "127.0.0.1", plain),
        endpoint(1, "127.0.0.1", embedded),
    ];
    if has_v6 {
        endpoints.push(endpoint(2, "[::1]", v6));
    }
    let config = format!(
        r#"{{ {user}
  "ports": [
    {{ "port_number": {plain}, "is_unencrypted": true, "ip_addrs": ["127.0.0.1"] }},
    {{ "port_number": {embedded}, "is_unencrypted": true, "ip_addrs": ["127.0.0.1"],
       "ipv4_is_embedded_in_ipv6": true }}{v6_port}
  ],
  "apps": [{{ "name": "probe", "app_path": "{app}", "endpoints": [{endpoints}] }}]
}}"#,
        user = run_as_user(),
        app = app_path("probe").display(),
        endpoints = endpoints.join(", "),
    );
    let _server =
        Server::start_config(tempfile::tempdir().unwrap(), &config, vec![plain, embedded]);

    let (seen, local) = address_seen(&format!("ws://127.0.0.1:{plain}/probe"));
    assert_eq!(seen, local.to_string());
    // An IPv4 client of a port with ipv4_is_embedded_in_ipv6 appears mapped
    // into IPv6, listed addresses included (they were bound as IPv4).
    let (seen, local) = address_seen(&format!("ws://127.0.0.1:{embedded}/probe"));
    assert_eq!(seen, format!("[::ffff:127.0.0.1]:{}", local.port()));
    if has_v6 {
        // Listening last (the server was waited for on the others' ports).
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("::1", v6)).is_err() {
            assert!(Instant::now() < deadline, "nothing listens on [::1]:{v6}");
            std::thread::sleep(Duration::from_millis(20));
        }
        let (seen, local) = address_seen(&format!("ws://[::1]:{v6}/probe"));
        assert_eq!(seen, format!("[::1]:{}", local.port()));
    }
}

#[test]
fn what_an_app_logs_of_a_clients_text_cannot_forge_lines_or_flood_the_log() {
    let mut server = Server::start(&[AppSpec::simple("probe")]);
    let log = server.capture_stderr();
    let mut client = connect(&server.url("/probe"));
    next_message(&mut client); // welcome
    // Case 15 logs the rest at notice, as an app logging what a client
    // sent: a forged line, terminal escapes, a line separator, a bidi
    // override.
    let text =
        "hi\n[2026-01-01T00:00:00Z ERROR ringsocket::serve] forged\r\u{1b}[31m\u{2028}\u{202e}";
    let send = |client: &mut support::Client, rest: &[u8]| {
        client
            .send(Message::binary([&[15], rest].concat()))
            .unwrap();
    };
    send(&mut client, text.as_bytes());
    let escaped = r"probe: hi\n[2026-01-01T00:00:00Z ERROR ringsocket::serve] forged\r\u{1b}[31m\u{2028}\u{202e}";
    assert!(
        log.wait_for(escaped, Duration::from_secs(10)),
        "{}",
        log.text()
    );
    assert!(!log.text().contains("\nforged") && !log.text().contains('\u{1b}'));
    // A long line is cut.
    send(&mut client, &[b'y'; 10_000]);
    let cut = format!("probe: {}… (1808 bytes cut)", "y".repeat(8192));
    assert!(log.wait_for(&cut, Duration::from_secs(10)), "no cut line");
    // At most 100 lines a second: the rest are counted, and the count is
    // logged once the second is over, with no later line to bring it. (The
    // burst starts a second of its own, after the lines above.)
    std::thread::sleep(Duration::from_millis(1100));
    for i in 0..150 {
        send(&mut client, format!("line {i}").as_bytes());
    }
    let dropped = "probe: 50 log lines dropped (an app logs at most 100 lines a second)";
    assert!(
        log.wait_for(dropped, Duration::from_secs(10)),
        "{}",
        log.text()
    );
    let text = log.text();
    let logged = text.lines().filter(|l| l.contains("probe: line ")).count();
    assert_eq!(logged, 100);
    assert!(!text.contains("probe: line 100"), "{text}");
}
