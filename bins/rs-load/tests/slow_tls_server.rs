//! rs-load over `wss://` against a small rustls server written here that
//! makes the edge-triggered corner cases of TLS likely:
//!
//! - it leaves each connection's first message unread for a while, so the
//!   client's socket and rustls's 64 KiB of records fill up and writing a
//!   frame resumes on writable events;
//! - it echoes in 1000-byte TLS records, each written on its own, so the
//!   client's reads end in the middle of records and messages;
//! - it pings before every echo, so pongs go out over TLS between frames.
//!
//! It can also end sessions without close_notify, which rs-load reports.
//!
//! A byte left behind in rustls (plaintext no event comes back for, or
//! records never written) would stall the run until `--duration` ends it.

use std::io::{self, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rs_load::{Command, ConnError, LoadError, Options, Report};
use rs_proto::{CloseCode, Decoder, Event, Limits, Opcode, encode_close, encode_frame};
use rustls::{ServerConfig, ServerConnection, StreamOwned};
use rustls_pki_types::{CertificateDer, PrivatePkcs8KeyDer};

mod support;

type Tls = StreamOwned<ServerConnection, TcpStream>;

/// How long the first message is left unread.
const STALL: Duration = Duration::from_millis(300);
/// The plaintext per TLS record of an echo.
const RECORD: usize = 1000;

/// A CA (PEM) and a server configuration with a certificate it issued for
/// `localhost`.
fn certificates() -> (String, Arc<ServerConfig>) {
    let mut ca_params = CertificateParams::new(Vec::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().unwrap();
    let ca_pem = ca_params.self_signed(&ca_key).unwrap().pem();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(cert.der().to_vec())],
                PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
            )
            .unwrap();
    (ca_pem, Arc::new(config))
}

/// Starts the server on a free loopback port; returns the port. Without
/// `close_notify` it answers a close frame and closes TCP, without ending
/// the TLS session first.
fn serve(config: Arc<ServerConfig>, close_notify: bool) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for tcp in listener.incoming().flatten() {
            let config = Arc::clone(&config);
            std::thread::spawn(move || {
                let tls = ServerConnection::new(config).unwrap();
                let _ = connection(&mut StreamOwned::new(tls, tcp), close_notify);
            });
        }
    });
    port
}

fn connection(tls: &mut Tls, close_notify: bool) -> io::Result<()> {
    tls.sock.set_read_timeout(Some(Duration::from_secs(20)))?;
    tls.sock.set_nodelay(true)?;
    let Some(request) = support::Request::read(tls)? else {
        return Ok(());
    };
    tls.write_all(request.switching_protocols().as_bytes())?;
    std::thread::sleep(STALL);
    let mut decoder = Decoder::new(Limits::default());
    let mut pending = request.rest;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let mut pos = 0;
        while pos < pending.len() {
            let decoded = decoder.decode(&mut pending[pos..]).expect("a valid client");
            pos += decoded.consumed;
            let mut out = Vec::new();
            match decoded.event {
                Some(Event::Message { kind, payload }) => {
                    encode_frame(&mut out, Opcode::Ping, b"are you there").unwrap();
                    encode_frame(&mut out, kind.opcode(), payload).unwrap();
                    for record in out.chunks(RECORD) {
                        tls.write_all(record)?;
                        tls.flush()?;
                    }
                }
                Some(Event::Close(_)) => {
                    encode_close(&mut out, CloseCode::NORMAL, "");
                    tls.write_all(&out)?;
                    if close_notify {
                        tls.conn.send_close_notify();
                    }
                    tls.flush()?;
                    return tls.sock.shutdown(std::net::Shutdown::Both);
                }
                _ => {}
            }
        }
        let n = support::read_some(tls, &mut buf)?;
        if n == 0 {
            return Ok(());
        }
        pending.clear();
        pending.extend_from_slice(&buf[..n]);
    }
}

fn run(args: &[&str], close_notify: bool) -> Result<Report, LoadError> {
    let (ca_pem, config) = certificates();
    let dir = tempfile::tempdir().unwrap();
    let ca_path = dir.path().join("ca.pem");
    std::fs::write(&ca_path, ca_pem).unwrap();
    let port = serve(config, close_notify);
    let mut all = vec![
        "--url".to_owned(),
        format!("wss://localhost:{port}/echo"),
        "--ca".to_owned(),
        ca_path.display().to_string(),
        "--duration".to_owned(),
        "30".to_owned(),
    ];
    all.extend(args.iter().map(|s| s.to_string()));
    let Command::Run(options) = Options::parse(all).unwrap() else {
        panic!("not a run");
    };
    rs_load::run(&options, &mut Vec::new())
}

#[test]
fn messages_larger_than_the_socket_buffers_wait_for_writable_events() {
    // 6 MB: more than the client's socket can hold (4 MiB at most here)
    // while the server does not read.
    let report = run(
        &["echo", "--conns", "2", "--size", "6000000", "--count", "4"],
        true,
    )
    .unwrap();
    assert_eq!(report.total, 4);
}

#[test]
fn small_messages_echoed_in_many_records_all_arrive() {
    let report = run(
        &["echo", "--conns", "3", "--size", "5000", "--count", "300"],
        true,
    )
    .unwrap();
    assert_eq!(report.total, 300);
}

#[test]
fn handshakes_complete_against_a_server_that_stalls() {
    let report = run(&["connect", "--conns", "2", "--count", "6"], true).unwrap();
    assert_eq!(report.total, 6);
}

#[test]
fn a_session_closed_without_close_notify_fails_the_run() {
    let error = run(&["connect", "--conns", "1", "--count", "1"], false).unwrap_err();
    assert!(
        matches!(
            error,
            LoadError::Conn {
                conn: 0,
                error: ConnError::NoCloseNotify
            }
        ),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "connection 0: the server closed TCP without a TLS close_notify"
    );
}
