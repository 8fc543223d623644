//! Clients that close their side of the connection (TCP FIN) right after
//! their close frame, as a client may: they still get every reply owed to
//! them and the close answer, over plain TCP and over TLS (with or without
//! close_notify). And the drain mode (a connection failed with a protocol
//! error: our close frame goes out, then our side is shut down) when the
//! client has ended its stream already while output was queued for it: it
//! gets all of it and our close, and the server lets go of the connection
//! as soon as that is sent, not when its close times out.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use rustls::{ClientConnection, StreamOwned};
use support::probe::{big_case, burst_case, stall_case};
use support::raw::{BINARY, CLOSE, TEXT, encode, masked};
use support::tls::*;
use support::*;
use tungstenite::{Message, WebSocket};

/// One frame from the server: (opcode, payload).
type Frame = (u8, Vec<u8>);

/// Parses one complete server frame at the start of `buf`.
fn parse(buf: &[u8]) -> Option<(Frame, usize)> {
    support::raw::parse(buf).map(|(frame, len)| ((frame.opcode, frame.payload), len))
}

/// What a client read until the server closed: the frames, and whether the
/// stream ended (EOF, reset or a TLS error) rather than timing out.
#[derive(Debug)]
struct Transcript {
    frames: Vec<Frame>,
    ended: String,
}

impl Transcript {
    fn binary_count(&self) -> usize {
        self.frames.iter().filter(|(op, _)| *op == BINARY).count()
    }

    fn close_code(&self) -> Option<u16> {
        self.frames
            .iter()
            .find(|(op, _)| *op == CLOSE)
            .map(|(_, p)| match p.as_slice() {
                [hi, lo, ..] => u16::from_be_bytes([*hi, *lo]),
                _ => 1005,
            })
    }
}

/// Reads `stream` until it ends (or `limit` passes), parsing frames.
fn read_all(stream: &mut impl Read, mut buf: Vec<u8>, limit: Duration) -> Transcript {
    let deadline = Instant::now() + limit;
    let mut frames = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let ended = loop {
        while let Some((frame, len)) = parse(&buf) {
            buf.drain(..len);
            frames.push(frame);
        }
        if Instant::now() > deadline {
            break "timed out".to_owned();
        }
        match stream.read(&mut chunk) {
            Ok(0) => break format!("EOF ({} trailing bytes)", buf.len()),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => break format!("error: {e} ({} trailing bytes)", buf.len()),
        }
    };
    Transcript { frames, ended }
}

/// A TCP connection with a small fixed receive buffer (the server's output
/// waits on its side sooner), with a 1 s read timeout.
fn small_window_tcp(addr: SocketAddr) -> TcpStream {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        None,
    )
    .unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(&addr.into()).unwrap();
    let tcp: TcpStream = socket.into();
    tcp.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    tcp
}

/// Sends the upgrade request for `path` through `stream` and reads the
/// response head; returns what followed it.
fn upgrade(stream: &mut (impl Read + Write), host: &str, path: &str) -> Vec<u8> {
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).unwrap();
    stream.flush().unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..i]).into_owned();
            assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
            return buf.split_off(i + 4);
        }
        assert!(Instant::now() < deadline, "no 101");
        match stream.read(&mut chunk) {
            Ok(0) => panic!("closed during the handshake"),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => panic!("handshake read failed: {e}"),
        }
    }
}

/// Reads the probe's welcome after the 101 (`buf`: what followed it);
/// returns the client id it gives and what followed it.
fn welcome(stream: &mut impl Read, mut buf: Vec<u8>) -> (u64, Vec<u8>) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(((opcode, text), len)) = parse(&buf) {
            assert_eq!(opcode, TEXT, "the welcome is text");
            buf.drain(..len);
            return (welcome_id(&String::from_utf8(text).unwrap()), buf);
        }
        assert!(Instant::now() < deadline, "no welcome");
        match stream.read(&mut chunk) {
            Ok(0) => panic!("closed before the welcome"),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => panic!("read failed before the welcome: {e}"),
        }
    }
}

fn close_1000() -> Vec<u8> {
    masked(CLOSE, &1000u16.to_be_bytes())
}

#[test]
fn a_slow_consumer_that_sent_its_close_frame_is_failed_once() {
    // The client asks for 16 MiB (more than the kernel's buffers take)
    // and closes at once, reading nothing: the replies pass
    // max_pending_output while the app is to answer the close.
    // Failing it queues our close frame behind the part of the reply
    // already on its way, still over the limit: judged again, it was failed
    // again, recursively, until the worker's stack overflowed.
    let mut server = Server::start_with(
        1,
        &[AppSpec::simple("probe")],
        r#""worker_c": 1, "max_ws_msg_size": 65536, "max_pending_output": 65642,"#,
    );
    let log = server.capture_stderr();
    let mut tcp = small_window_tcp(server.addr());
    let buf = upgrade(&mut tcp, "localhost", "/probe");
    let (client_id, _) = welcome(&mut tcp, buf);
    let mut requests = masked(BINARY, &big_case(4096)).repeat(4);
    requests.extend(close_1000());
    tcp.write_all(&requests).unwrap();
    let failed = format!("client {client_id} (");
    assert!(
        log.wait_for("closing a slow consumer", Duration::from_secs(10)),
        "{}",
        log.text()
    );
    std::thread::sleep(Duration::from_millis(300));
    let text = log.text();
    let times = text
        .lines()
        .filter(|l| l.contains(&failed) && l.contains("closing a slow consumer"))
        .count();
    assert_eq!(times, 1, "{text}");
    // The server serves on.
    let mut other = connect(&server.url("/probe"));
    let _ = next_text(&mut other);
    other.send(Message::binary(vec![12, 0, 0])).unwrap();
    assert_eq!(next_message(&mut other), Message::binary(Vec::new()));
    drop(tcp);
}

// ------------------------------------------------- half-closed clients

/// One worker, and room for a client's pending output of two million tiny
/// frames (about a hundred bytes each against `max_pending_output`): no
/// client here is a slow consumer.
const ROOMY: &str = r#""worker_c": 1, "max_pending_output": 268435456,"#;

/// Once the app's close answer is queued behind output the socket has not
/// taken yet, each later writable event also reports the client's FIN as
/// readable: reading it must not drop the connection with its output
/// unsent.
#[test]
fn a_half_closed_client_gets_all_its_replies_and_the_close_answer() {
    let mut server = Server::start_with(1, &[AppSpec::simple("probe")], ROOMY);
    let log = server.capture_stderr();
    let mut tcp = small_window_tcp(server.addr());
    let buf = upgrade(&mut tcp, "localhost", "/probe");
    let (_, buf) = welcome(&mut tcp, buf);

    const BURSTS: usize = 32;
    let mut requests = Vec::new();
    for _ in 0..BURSTS {
        requests.extend(masked(BINARY, &burst_case(u16::MAX)));
    }
    requests.extend(close_1000());
    tcp.write_all(&requests).unwrap();
    tcp.shutdown(Shutdown::Write).unwrap();
    // The app replies and answers the close while the client reads nothing.
    std::thread::sleep(Duration::from_secs(2));

    let transcript = read_all(&mut tcp, buf, Duration::from_secs(30));
    std::thread::sleep(Duration::from_millis(300));
    // No line: none of the logged ways to close (write failed, timed out,
    // slow consumer) was taken.
    assert_eq!(
        (transcript.binary_count(), transcript.close_code()),
        (BURSTS * usize::from(u16::MAX), Some(1000)),
        "the stream ended with {}; the server said about clients:\n{}",
        transcript.ended,
        log.text()
            .lines()
            .filter(|l| l.contains("client"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// A TLS client: the upgrade through `tls`, trusting `ca`, with SNI `name`.
fn tls_client(port: u16, name: &str, ca: &Ca) -> (StreamOwned<ClientConnection, Tcp>, Vec<u8>) {
    let tcp = small_window_tcp(SocketAddr::from(([127, 0, 0, 1], port)));
    let server_name = ServerName::try_from(name.to_owned()).unwrap();
    let conn = ClientConnection::new(Arc::new(client_config(&ca.root)), server_name).unwrap();
    let mut stream = StreamOwned::new(conn, Tcp(tcp));
    while stream.conn.is_handshaking() {
        stream.conn.complete_io(&mut stream.sock).unwrap();
    }
    let rest = upgrade(&mut stream, name, "/probe");
    (stream, rest)
}

/// A probe server on a `wss://` port with a cert for `half.test`, with
/// the settings `globals`.
fn tls_probe_server(ca: &Ca, globals: &str) -> Server {
    let dir = shared_dir();
    let certs = [CertFiles::new(ca, &["half.test"])];
    let (config, ports) = tls_config(dir.path(), "probe", &certs, false, globals);
    Server::start_config(dir, &config, ports)
}

const ANSWERING_BURSTS: usize = 24;

/// What the client sends: first bursts that fill the socket while it does
/// not read; then, in a batch of their own, a request the app answers 1.5 s
/// later and the close frame, and the client's FIN; the client reads from
/// then on, while its close frame waits for the app.
fn run_answering(
    stream: &mut (impl Read + Write),
    shut: impl FnOnce(),
    buf: Vec<u8>,
) -> Transcript {
    let mut bursts = Vec::new();
    for _ in 0..ANSWERING_BURSTS {
        bursts.extend(masked(BINARY, &burst_case(u16::MAX)));
    }
    stream.write_all(&bursts).unwrap();
    stream.flush().unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    let mut last = masked(BINARY, &stall_case(1500));
    last.extend(close_1000());
    stream.write_all(&last).unwrap();
    stream.flush().unwrap();
    shut();
    read_all(stream, buf, Duration::from_secs(30))
}

/// Over TLS, TCP closed without close_notify while the app has not
/// answered the close frame yet: rustls answers the second read after the
/// end of the stream with `UnexpectedEof`, which must end the stream as
/// over plain TCP, not fail the connection before the app's last reply and
/// its close answer.
#[test]
fn over_tls_a_client_that_half_closes_without_close_notify_gets_its_replies() {
    let ca = Ca::new("half-close CA");
    let mut server = tls_probe_server(&ca, ROOMY);
    let log = server.capture_stderr();
    let (mut stream, buf) = tls_client(server.ports[0], "half.test", &ca);
    let tcp = stream.sock.0.try_clone().unwrap();
    // TCP FIN, no close_notify.
    let transcript = run_answering(&mut stream, || tcp.shutdown(Shutdown::Write).unwrap(), buf);
    std::thread::sleep(Duration::from_millis(300));
    let lines: Vec<String> = log
        .text()
        .lines()
        .filter(|l| l.contains("client"))
        .map(str::to_owned)
        .collect();
    // The bursts and the stall's empty reply (the welcome is text).
    assert_eq!(
        (transcript.binary_count(), transcript.close_code()),
        (ANSWERING_BURSTS * usize::from(u16::MAX) + 1, Some(1000)),
        "the stream ended with {}; the server said:\n{}",
        transcript.ended,
        lines.join("\n")
    );
}

// ------------------------------------ the drain mode after the end of stream

/// Probe case 5, target 0: "t0" sent as text to the client `id`.
fn tell(id: u64) -> Vec<u8> {
    let mut payload = vec![5, 0];
    payload.extend_from_slice(&id.to_be_bytes());
    payload
}

/// Reads the next text message of a tungstenite client.
fn next_text<S: Read + Write>(client: &mut WebSocket<S>) -> String {
    loop {
        match client.read().expect("a message") {
            Message::Text(text) => return text.as_str().to_owned(),
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("expected text, got {other:?}"),
        }
    }
}

/// Waits (at most `limit`) until the server holds `count` descriptors;
/// returns how long that took, or `None`.
fn wait_for_fds(server: &Server, count: usize, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    while server.fd_count() != count {
        if start.elapsed() > limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Some(start.elapsed())
}

/// Probe bursts of u16::MAX frames of 4 bytes on the wire each: more than
/// the sockets can hold by 2 MiB, which waits in the worker while the
/// client reads nothing.
fn bursts() -> usize {
    (wmem_max() + (2 << 20)) / (4 * usize::from(u16::MAX)) + 1
}

/// The server, the log of what it said, and an observer client (with its
/// id) on the probe app, which tells the test when the app has handled the
/// client's requests.
struct Setup<O: Read + Write> {
    server: Server,
    log: Log,
    observer: WebSocket<O>,
    observer_id: u64,
}

/// The client (`stream`, upgraded and welcomed as `client_id`, with `buf`
/// read past the welcome) asks for more than the sockets can hold and
/// reads nothing; once that is all queued, it sends a protocol error (an
/// unmasked frame: 1002, and the drain mode) and ends its stream with
/// `shut`, so that the server reads its end of stream while still owing it
/// most of the output. Asserts that it gets all of it, whole and in order,
/// then the close frame alone, then the end of the stream (over TLS:
/// close_notify), and that the server lets go of the connection at once,
/// with none of its logged ways to close taken. `fds_without_client`: the
/// server's descriptors before the client connected.
fn drain_after_end_of_stream<O: Read + Write, S: Read + Write>(
    setup: &mut Setup<O>,
    fds_without_client: usize,
    stream: &mut S,
    (client_id, buf): (u64, Vec<u8>),
    shut: impl FnOnce(&mut S),
) {
    let Setup {
        server,
        log,
        observer,
        observer_id,
    } = setup;
    let bursts = bursts();
    let mut requests = Vec::new();
    for _ in 0..bursts {
        requests.extend(masked(BINARY, &burst_case(u16::MAX)));
    }
    requests.extend(masked(BINARY, &tell(*observer_id)));
    stream.write_all(&requests).unwrap();
    stream.flush().unwrap();
    // The app handles one client's messages in order, and the worker
    // delivers one app's frames in order: once the observer is told, every
    // burst frame is in the client's output.
    assert_eq!(next_text(observer), "t0");

    // An unmasked frame (a protocol error: our close frame with 1002, then
    // the drain mode), a close frame the server must not read, and the
    // client's end of stream, read while that output is still queued.
    let mut last = encode(0x80 | BINARY, b"unmasked", None);
    last.extend(masked(CLOSE, &1000u16.to_be_bytes()));
    stream.write_all(&last).unwrap();
    stream.flush().unwrap();
    shut(stream);
    // The app hears the client left (the probe tells everyone): the worker
    // failed the connection before the client reads a byte of its output.
    assert_eq!(next_text(observer), format!("bye {client_id}"));
    // Kept while it has output (had the sockets taken it all, the
    // connection would have ended at the client's end of stream, and this
    // test would test nothing).
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        server.fd_count(),
        fds_without_client + 1,
        "the connection must be kept while it has output"
    );

    let transcript = read_all(stream, buf, Duration::from_secs(30));
    let let_go = wait_for_fds(server, fds_without_client, Duration::from_secs(10));
    let about_client = || -> Vec<String> {
        log.text()
            .lines()
            .filter(|l| {
                l.contains(&format!("client {client_id}:"))
                    || l.contains(&format!("client {client_id} ("))
            })
            .map(str::to_owned)
            .collect()
    };
    let data_len = transcript
        .frames
        .iter()
        .take_while(|(op, _)| *op == BINARY)
        .count();
    let (data, rest) = transcript.frames.split_at(data_len);
    assert_eq!(
        data.len(),
        bursts * usize::from(u16::MAX),
        "the stream ended with {}; the server said about the client: {:#?}",
        transcript.ended,
        about_client()
    );
    // Whole and in order: burst after burst of indices 0, 1, 2...
    for (n, (_, payload)) in data.iter().enumerate() {
        let index = (n % usize::from(u16::MAX)) as u16;
        assert_eq!(payload[..], index.to_be_bytes(), "frame {n}");
    }
    let codes: Vec<Option<u16>> = rest
        .iter()
        .map(|(op, p)| (*op == CLOSE && p.len() >= 2).then(|| u16::from_be_bytes([p[0], p[1]])))
        .collect();
    // (Over TLS, rustls reports an end of stream without close_notify as
    // an error, not as EOF.)
    assert_eq!(
        (codes, transcript.ended.as_str()),
        (vec![Some(1002)], "EOF (0 trailing bytes)"),
        "after the data: our close frame alone, then the end of the stream"
    );
    // Let go of as soon as it was all sent: not when the close times out.
    assert!(
        let_go.is_some_and(|took| took < Duration::from_secs(2)),
        "the server still held the connection {let_go:?} after the client read its end \
         ({} descriptors, {fds_without_client} without it); it said about the client: {:#?}",
        server.fd_count(),
        about_client()
    );
    // The protocol error only: none of the logged ways to close (timed
    // out, write or read failed, slow consumer).
    let lines = about_client();
    assert!(
        lines.len() == 1 && lines[0].ends_with("client frame is not masked"),
        "{lines:#?}"
    );
    // The server serves on.
    observer.send(Message::binary(tell(*observer_id))).unwrap();
    assert_eq!(next_text(observer), "t0");
}

/// A close that would time out takes 30 s: far longer than letting go.
const GLOBALS: &str = r#""worker_c": 1, "shutdown_wait_ws": 30, "max_pending_output": 268435456,"#;

#[test]
fn a_client_that_ended_its_stream_gets_its_output_and_our_close_then_is_let_go_at_once() {
    let mut server = Server::start_with(1, &[AppSpec::simple("probe")], GLOBALS);
    let log = server.capture_stderr();
    let mut observer = connect(&server.url("/probe"));
    // The app takes a while over the bursts on a loaded machine.
    set_timeout(&observer, Duration::from_secs(30));
    let observer_id = welcome_id(&next_text(&mut observer));
    let mut setup = Setup {
        server,
        log,
        observer,
        observer_id,
    };
    let fds_without_client = setup.server.fd_count();
    let mut tcp = small_window_tcp(setup.server.addr());
    let buf = upgrade(&mut tcp, "localhost", "/probe");
    let welcomed = welcome(&mut tcp, buf);
    drain_after_end_of_stream(&mut setup, fds_without_client, &mut tcp, welcomed, |tcp| {
        tcp.shutdown(Shutdown::Write).unwrap()
    });
}

#[test]
fn over_tls_a_client_that_ended_its_stream_gets_its_output_our_close_and_close_notify() {
    let ca = Ca::new("drain CA");
    let mut server = tls_probe_server(&ca, GLOBALS);
    let port = server.ports[0];
    let log = server.capture_stderr();
    let mut observer = wss_connect_to(port, "half.test", "probe", &ca.root).unwrap();
    // The app takes a while over the bursts on a loaded machine.
    let observer_tcp = &observer.get_ref().sock.0;
    observer_tcp
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let observer_id = welcome_id(&next_text(&mut observer));
    let mut setup = Setup {
        server,
        log,
        observer,
        observer_id,
    };
    // Its end of stream with TLS's own close first, and without (TCP's
    // alone, which rustls reports as an unexpected end).
    for close_notify in [true, false] {
        let fds_without_client = setup.server.fd_count();
        let (mut stream, buf) = tls_client(port, "half.test", &ca);
        let welcomed = welcome(&mut stream, buf);
        drain_after_end_of_stream(
            &mut setup,
            fds_without_client,
            &mut stream,
            welcomed,
            |stream| {
                if close_notify {
                    stream.conn.send_close_notify();
                    stream.flush().unwrap();
                }
                stream.sock.0.shutdown(Shutdown::Write).unwrap();
            },
        );
    }
}
