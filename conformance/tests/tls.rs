//! Cases over `wss://`: a tiny rustls WebSocket server made here, with a
//! certificate from `LocalCerts`, is judged exactly as a plain one would be.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use rs_conformance::certs::LocalCerts;
use rs_conformance::tls::TlsClient;
use rs_conformance::{Case, Category, Frame, RunConfig, Target, Verdict, handshake, runner};
use rustls::{ServerConfig, ServerConnection, StreamOwned};

/// What the tiny server does after the opening handshake.
#[derive(Clone, Copy)]
enum Behaviour {
    /// Echoes text frames, echoes the close frame, then sends close_notify.
    Echo,
    /// Sends nothing and keeps the connection open for a while.
    Silent,
    /// Reads a frame, then closes TCP: no close frame, no close_notify.
    DropsTcp,
}

type ServerStream = StreamOwned<ServerConnection, std::net::TcpStream>;

fn server_config(certs: &LocalCerts) -> Arc<ServerConfig> {
    let config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![certs.cert.clone()], certs.key.clone_key().into())
            .unwrap();
    Arc::new(config)
}

/// Starts the tiny server on 127.0.0.1; it runs until the test ends.
fn start(certs: &LocalCerts, behaviour: Behaviour) -> SocketAddr {
    let config = server_config(certs);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for tcp in listener.incoming().flatten() {
            let config = Arc::clone(&config);
            std::thread::spawn(move || {
                let conn = ServerConnection::new(config).unwrap();
                let _ = serve(&mut StreamOwned::new(conn, tcp), behaviour);
            });
        }
    });
    addr
}

fn serve(tls: &mut ServerStream, behaviour: Behaviour) -> std::io::Result<()> {
    let mut request = Vec::new();
    let mut byte = [0u8; 1];
    while !request.ends_with(b"\r\n\r\n") {
        tls.read_exact(&mut byte)?;
        request.push(byte[0]);
    }
    let request = String::from_utf8_lossy(&request).into_owned();
    let key = request
        .lines()
        .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
        .unwrap_or_default();
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n\r\n",
        handshake::accept_for(key)
    );
    tls.write_all(response.as_bytes())?;
    match behaviour {
        Behaviour::Silent => std::thread::sleep(Duration::from_secs(3)),
        Behaviour::DropsTcp => {
            read_frame(tls)?;
            tls.sock.shutdown(std::net::Shutdown::Both)?;
        }
        Behaviour::Echo => loop {
            let (opcode, payload) = read_frame(tls)?;
            let mut frame = vec![0x80 | opcode, payload.len() as u8];
            frame.extend_from_slice(&payload);
            tls.write_all(&frame)?;
            if opcode == 0x8 {
                tls.conn.send_close_notify();
                tls.flush()?;
                return tls.sock.shutdown(std::net::Shutdown::Write);
            }
        },
    }
    Ok(())
}

/// One masked client frame of at most 125 bytes: its opcode and payload.
fn read_frame(tls: &mut ServerStream) -> std::io::Result<(u8, Vec<u8>)> {
    let mut head = [0u8; 6];
    tls.read_exact(&mut head)?;
    let mut payload = vec![0u8; usize::from(head[1] & 0x7f)];
    tls.read_exact(&mut payload)?;
    for (i, byte) in payload.iter_mut().enumerate() {
        *byte ^= head[2 + i % 4];
    }
    Ok((head[0] & 0x0f, payload))
}

fn target(addr: SocketAddr, ca: &LocalCerts) -> Target {
    Target {
        addr,
        host: format!("localhost:{}", addr.port()),
        path: "/echo".into(),
        tls: Some(TlsClient::new("localhost", std::slice::from_ref(&ca.ca)).unwrap()),
    }
}

fn echo_case() -> Case {
    Case::new(
        "framing.tls-demo",
        Category::Framing,
        "a text message, then close 1000",
        "the message echoed, close 1000 echoed",
        |s| {
            s.send(&[Frame::text("over TLS")])?;
            s.expect_message(true, b"over TLS")?;
            s.close_normally()
        },
    )
}

const CONFIG: RunConfig = RunConfig {
    jobs: 1,
    case_timeout: Duration::from_millis(1500),
    fail_fast_window: Duration::from_millis(500),
};

#[test]
fn a_case_runs_over_tls_as_over_tcp() {
    let certs = LocalCerts::generate("localhost").unwrap();
    let addr = start(&certs, Behaviour::Echo);
    let result = runner::run_one(&target(addr, &certs), &echo_case(), &CONFIG);
    assert_eq!(result.verdict, Verdict::Ok, "{}", result.detail);
    assert_eq!(
        result.transcript.first().unwrap(),
        &format!(
            "handshake with wss://localhost:{}/echo ({addr}) done",
            addr.port()
        )
    );
    // close_notify then the TCP close: the close the session expects.
    assert_eq!(
        result.transcript.last().unwrap(),
        "← the server closed the TCP connection"
    );
}

#[test]
fn a_certificate_from_another_ca_fails_the_case_at_the_tls_handshake() {
    let certs = LocalCerts::generate("localhost").unwrap();
    let other = LocalCerts::generate("localhost").unwrap();
    let addr = start(&certs, Behaviour::Echo);
    let result = runner::run_one(&target(addr, &other), &echo_case(), &CONFIG);
    assert_eq!(result.verdict, Verdict::Failed);
    assert!(
        result.detail.starts_with(
            "TLS handshake with \"localhost\": invalid peer certificate: UnknownIssuer"
        ),
        "{}",
        result.detail
    );
}

#[test]
fn a_silent_tls_server_fails_the_case_within_its_time_bound() {
    let certs = LocalCerts::generate("localhost").unwrap();
    let addr = start(&certs, Behaviour::Silent);
    let result = runner::run_one(&target(addr, &certs), &echo_case(), &CONFIG);
    assert_eq!(result.verdict, Verdict::Failed);
    assert_eq!(
        result.detail,
        "expected the text message of 8 bytes echoed, but nothing more arrived within the case's 1.5s"
    );
    assert!(
        result.elapsed < Duration::from_millis(2500),
        "{:?}",
        result.elapsed
    );
}

#[test]
fn tcp_closed_without_close_notify_is_judged_as_a_plain_tcp_close() {
    let certs = LocalCerts::generate("localhost").unwrap();
    let addr = start(&certs, Behaviour::DropsTcp);
    let case = Case::new(
        "opcodes.tls-demo",
        Category::Opcodes,
        "opcode 0x3",
        "close 1002",
        |s| {
            s.send(&[Frame::new(0x3, Vec::new())])?;
            s.expect_fail(&[1002])
        },
    );
    let result = runner::run_one(&target(addr, &certs), &case, &CONFIG);
    assert_eq!(result.verdict, Verdict::NonStrict, "{}", result.detail);
    assert_eq!(
        result.detail,
        "the server closed the TCP connection (without TLS close_notify) without a close frame \
         (RFC 6455 §7.1.7: it SHOULD send close 1002 first)"
    );
}
