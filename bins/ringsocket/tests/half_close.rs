//! Clients that close their side of the connection (TCP FIN) right after
//! their close frame, as a client may: they still get every reply owed to
//! them and the close answer, over plain TCP and over TLS (with or without
//! close_notify).

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use rustls::{ClientConnection, StreamOwned};
use support::raw::{BINARY, CLOSE, masked};
use support::tls::*;
use support::*;

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

/// Probe case 11: `count` binary frames of 2 bytes each.
fn burst(count: u16) -> Vec<u8> {
    let [hi, lo] = count.to_be_bytes();
    masked(BINARY, &[11, hi, lo])
}

/// Probe case 12: the app sleeps `ms`, then replies an empty binary frame.
fn stall(ms: u16) -> Vec<u8> {
    let [hi, lo] = ms.to_be_bytes();
    masked(BINARY, &[12, hi, lo])
}

fn close_1000() -> Vec<u8> {
    masked(CLOSE, &1000u16.to_be_bytes())
}

// ------------------------------------------------- half-closed clients

/// Once the app's close answer is queued behind output the socket has not
/// taken yet, each later writable event also reports the client's FIN as
/// readable: reading it must not drop the connection with its output
/// unsent.
#[test]
fn a_half_closed_client_gets_all_its_replies_and_the_close_answer() {
    let mut server = Server::start_with(1, &[AppSpec::simple("probe")], r#""worker_c": 1,"#);
    let log = server.capture_stderr();
    let mut tcp = small_window_tcp(server.addr());
    let mut buf = upgrade(&mut tcp, "localhost", "/probe");
    // The probe's welcome.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut chunk = [0u8; 4096];
    while parse(&buf).is_none() {
        assert!(Instant::now() < deadline, "no welcome");
        if let Ok(n) = tcp.read(&mut chunk) {
            buf.extend_from_slice(&chunk[..n]);
        }
    }
    let (_, len) = parse(&buf).unwrap();
    buf.drain(..len);

    const BURSTS: usize = 32;
    let mut requests = Vec::new();
    for _ in 0..BURSTS {
        requests.extend(burst(u16::MAX));
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

/// A probe server on a `wss://` port with a cert for `half.test`.
fn tls_probe_server(ca: &Ca) -> Server {
    let dir = shared_dir();
    let certs = [CertFiles::new(ca, &["half.test"])];
    let (config, ports) = tls_config(dir.path(), "probe", &certs, false, r#""worker_c": 1,"#);
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
        bursts.extend(burst(u16::MAX));
    }
    stream.write_all(&bursts).unwrap();
    stream.flush().unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    let mut last = stall(1500);
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
    let mut server = tls_probe_server(&ca);
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
