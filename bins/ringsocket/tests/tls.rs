//! `wss://` end to end: the real binary with certificates made here (rcgen),
//! and a rustls client that verifies them against the test's own CAs.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustls::AlertDescription;
use support::tls::*;
use support::*;
use tungstenite::Message;

// ------------------------------------------------------------- SNI

#[test]
fn two_certs_on_one_port_are_each_selected_by_sni() {
    let (ca_a, ca_b) = (Ca::new("CA a"), Ca::new("CA b"));
    let a = CertFiles::new(&ca_a, &["a.test"]);
    let b = CertFiles::new(&ca_b, &["b.test", "*.b.test"]);
    let (leaf_a, leaf_b) = (leaf_of(&a.chain), leaf_of(&b.chain));
    let server = start(&[a, b], false, "");
    let port = server.ports[0];

    let mut client = wss_connect(port, "a.test", &ca_a.root).unwrap();
    assert_eq!(presented(&client), leaf_a);
    assert_echoes(&mut client, "to a");
    let mut client = wss_connect(port, "b.test", &ca_b.root).unwrap();
    assert_eq!(presented(&client), leaf_b);
    assert_echoes(&mut client, "to b");
    // The wildcard: one more label.
    let mut client = wss_connect(port, "www.b.test", &ca_b.root).unwrap();
    assert_eq!(presented(&client), leaf_b);
    assert_echoes(&mut client, "to www.b");
    // Each name gets its own certificate, which the other CA did not sign.
    assert!(matches!(
        wss_connect(port, "b.test", &ca_a.root).unwrap_err(),
        rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer)
    ));
}

#[test]
fn an_unknown_name_or_no_sni_fails_the_handshake_with_an_alert() {
    let ca = Ca::new("CA");
    let server = start(&[CertFiles::new(&ca, &["a.test"])], false, "");
    let port = server.ports[0];
    assert_eq!(
        wss_connect(port, "c.test", &ca.root).unwrap_err(),
        rustls::Error::AlertReceived(AlertDescription::AccessDenied)
    );
    // Connecting by IP address, a client sends no SNI; no cert lists the
    // address.
    assert_eq!(
        wss_connect(port, "127.0.0.1", &ca.root).unwrap_err(),
        rustls::Error::AlertReceived(AlertDescription::AccessDenied)
    );
    // And the server goes on serving.
    assert_echoes(
        &mut wss_connect(port, "a.test", &ca.root).unwrap(),
        "still here",
    );
}

/// A client connecting to an IP address sends no SNI; a cert listing the
/// address (a certificate with an IP address SAN) is presented then.
#[test]
fn a_client_connecting_by_ip_address_gets_the_cert_listing_it() {
    let ca = Ca::new("CA");
    let by_ip = CertFiles::new(&ca, &["127.0.0.1"]);
    let leaf = leaf_of(&by_ip.chain);
    let server = start(&[CertFiles::new(&ca, &["a.test"]), by_ip], false, "");
    let port = server.ports[0];
    let mut client = wss_connect(port, "127.0.0.1", &ca.root).unwrap();
    assert_eq!(presented(&client), leaf);
    assert_echoes(&mut client, "by address");
    assert_ne!(
        presented(&wss_connect(port, "a.test", &ca.root).unwrap()),
        leaf
    );
}

// ---------------------------------------------- the wrong protocol

/// What rustls warns about is what a client sent (warning alerts, an IP
/// address as SNI, unexpected messages): one line per connection at the
/// default log level, for anyone to fill the log with. Our own line for
/// the failed handshake, at debug, says enough.
#[test]
fn rustls_warnings_about_what_a_client_sent_are_not_logged() {
    let ca = Ca::new("CA");
    let mut server = start(&[CertFiles::new(&ca, &["a.test"])], false, "");
    let log = server.capture_stderr();
    let mut tcp = TcpStream::connect(server.addr()).unwrap();
    // Plaintext alert records, level warning (1), no_renegotiation (100),
    // then no TLS at all, which fails the handshake.
    let mut bytes = [21, 3, 3, 0, 2, 1, 100].repeat(2);
    bytes.extend_from_slice(b"GET / HTTP/1.1\r\n\r\n");
    tcp.write_all(&bytes).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = tcp.read_to_end(&mut Vec::new());
    assert!(
        log.wait_for("read failed", Duration::from_secs(5)),
        "{}",
        log.text()
    );
    assert!(!log.text().contains("rustls"), "{}", log.text());
}

#[test]
fn a_plaintext_client_on_a_wss_port_gets_a_tls_alert_and_the_connection_closes() {
    let ca = Ca::new("CA");
    let server = start(&[CertFiles::new(&ca, &["a.test"])], false, "");
    let port = server.ports[0];
    let response = raw_http(server.addr(), &upgrade_request("/echo", ""));
    // A TLS alert record (content type 21), not HTTP; then the end.
    let bytes = response.as_bytes();
    assert_eq!(bytes.first(), Some(&21), "{response:?}");
    assert!(!response.contains("HTTP/"), "{response:?}");
    assert_echoes(
        &mut wss_connect(port, "a.test", &ca.root).unwrap(),
        "still here",
    );
}

#[test]
fn a_wss_client_on_a_ws_port_fails_cleanly() {
    let ca = Ca::new("CA");
    let server = start(&[CertFiles::new(&ca, &["a.test"])], true, "");
    let plain_port = server.ports[1];
    // The server answers the ClientHello as a bad HTTP request, which is
    // no TLS record.
    let error = tls_connect(plain_port, "a.test", &ca.root).unwrap_err();
    assert!(
        matches!(error, rustls::Error::InvalidMessage(_)),
        "{error:?}"
    );
    // Both ports go on serving.
    let mut plain = connect(&server.url_on(1, "/echo"));
    plain.send(Message::text("plain")).unwrap();
    assert_eq!(next_message(&mut plain), Message::text("plain"));
    assert_echoes(
        &mut wss_connect(server.ports[0], "a.test", &ca.root).unwrap(),
        "tls",
    );
}

/// A port number can be TLS on one address and plain text on another;
/// a `wss://` endpoint is reached only through TLS (it answered 101 in
/// plain text).
#[test]
fn a_wss_endpoint_is_not_served_by_a_plaintext_listener_on_the_same_port_number() {
    let ca = Ca::new("CA");
    let dir = shared_dir();
    let certs = [CertFiles::new(&ca, &["a.test"])];
    let (config, ports) = tls_config(dir.path(), APP, &certs, false, "");
    let port = ports[0];
    let tls_entry = format!(r#"{{ "port_number": {port}, "ip_addrs": ["127.0.0.1"] }}"#);
    let plain_entry = format!(
        r#"{{ "port_number": {port}, "is_unencrypted": true, "ip_addrs": ["127.0.0.2"] }}"#
    );
    let both = config.replace(&tls_entry, &format!("{tls_entry}, {plain_entry}"));
    assert_ne!(both, config);
    let server = Server::start_config(dir, &both, ports);
    let plain = std::net::SocketAddr::from(([127, 0, 0, 2], port));
    let request = upgrade_request("/echo", "Sec-WebSocket-Version: 13\r\n")
        .replace("Host: localhost", &format!("Host: a.test:{port}"));
    let response = raw_http(plain, &request);
    assert!(response.starts_with("HTTP/1.1 404 "), "{response}");
    assert_echoes(&mut wss_connect(port, "a.test", &ca.root).unwrap(), "tls");
    drop(server);
}

/// Bytes of a TLS record that is not complete yet count as hearing from
/// the client (configuration.md: any byte does): a message trickled over
/// a slow link for four idle periods is not cut off. (Over wss:// the idle
/// check heard only decrypted bytes: pinged, then closed with 1001.)
#[test]
fn a_client_trickling_a_tls_record_is_not_closed_as_idle() {
    let ca = Ca::new("CA");
    let server = start(
        &[CertFiles::new(&ca, &["a.test"])],
        false,
        r#""idle_timeout": 1,"#,
    );
    let mut client = wss_connect(server.ports[0], "a.test", &ca.root).unwrap();
    let text = "t".repeat(4000);
    let frame = support::raw::masked(support::raw::TEXT, text.as_bytes());
    let mut records = Vec::new();
    {
        let stream = client.get_mut();
        stream.conn.writer().write_all(&frame).unwrap();
        while stream.conn.wants_write() {
            stream.conn.write_tls(&mut records).unwrap();
        }
        // About 4.1 KB over 4 s, in pieces 100 ms apart.
        for piece in records.chunks(records.len().div_ceil(40)) {
            stream.sock.write_all(piece).unwrap();
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    match client.read().unwrap() {
        Message::Text(echoed) => assert_eq!(echoed.as_str(), text),
        other => panic!("expected the echo, got {other:?}"),
    }
}

// ------------------------------------------------------------ data

#[test]
fn a_16_mib_message_is_echoed_over_tls() {
    let ca = Ca::new("CA");
    let server = start(&[CertFiles::new(&ca, &["a.test"])], false, "");
    let mut client = wss_connect(server.ports[0], "a.test", &ca.root).unwrap();
    let payload: Vec<u8> = (0..16u32 << 20).map(|i| (i % 251) as u8).collect();
    client.send(Message::binary(payload.clone())).unwrap();
    match client.read().unwrap() {
        Message::Binary(echoed) => {
            assert_eq!(echoed.len(), payload.len());
            assert!(echoed[..] == payload[..], "the echo differs");
        }
        other => panic!("expected a binary echo, got {:?}", other.len()),
    }
}

#[test]
fn a_slow_tls_consumer_is_closed_with_1008_once_its_pending_output_passes_the_limit() {
    const MAX_PENDING: usize = 1 << 20;
    const MESSAGE: usize = 64 * 1024;
    let ca = Ca::new("CA");
    let dir = shared_dir();
    let globals = format!(
        r#""worker_c": 1, "max_ws_msg_size": 131072, "max_pending_output": {MAX_PENDING},
           "shutdown_wait_ws": 15,"#
    );
    let (config, ports) = tls_config(
        dir.path(),
        "chat",
        &[CertFiles::new(&ca, &["a.test"])],
        false,
        &globals,
    );
    let mut server = Server::start_config(dir, &config, ports);
    let log = server.capture_stderr();
    let port = server.ports[0];
    let mut slow = wss_connect_to(port, "a.test", "chat", &ca.root).unwrap();
    let mut sender = wss_connect_to(port, "a.test", "chat", &ca.root).unwrap();
    // Far more than the limit and the sockets' buffers, unless closed first.
    let text = "x".repeat(MESSAGE);
    for _ in 0..512 {
        if log.text().contains("closing a slow consumer") {
            break;
        }
        sender.send(Message::text(text.clone())).unwrap();
    }
    assert!(
        log.wait_for("closing a slow consumer", Duration::from_secs(10)),
        "never closed: {}",
        log.text()
    );
    // What is counted: the queue and what rustls holds, passed by at most
    // the frame that crossed the limit.
    let line = log
        .text()
        .lines()
        .find(|l| l.contains("closing a slow consumer"))
        .unwrap()
        .to_owned();
    let pending: usize = line
        .split("with ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no byte count in {line:?}"));
    assert!(
        pending > MAX_PENDING && pending <= MAX_PENDING + MESSAGE + 16,
        "{line}"
    );
    // The slow client reads whole messages, then the close.
    let code = loop {
        match slow.read().unwrap() {
            // "<id> joined", then "<id>: <text>" messages.
            Message::Text(t) if t.ends_with(" joined") || t.ends_with(&text) => {}
            Message::Close(Some(frame)) => break u16::from(frame.code),
            other => panic!("unexpected {:?}", other.len()),
        }
    };
    assert_eq!(code, 1008);
}

#[test]
fn the_server_ends_the_tls_session_with_close_notify() {
    let ca = Ca::new("CA");
    let server = start(&[CertFiles::new(&ca, &["a.test"])], false, "");
    let mut client = wss_connect(server.ports[0], "a.test", &ca.root).unwrap();
    client.close(None).unwrap();
    loop {
        match client.read() {
            Ok(_) => {}
            Err(tungstenite::Error::ConnectionClosed) => break,
            Err(e) => panic!("the close handshake failed: {e}"),
        }
    }
    // rustls reads a clean end only after close_notify; a bare TCP close
    // would be UnexpectedEof.
    let mut byte = [0u8; 1];
    assert_eq!(client.get_mut().read(&mut byte).unwrap(), 0);
}

#[test]
fn a_stalled_tls_handshake_is_dropped_after_shutdown_wait_http() {
    let ca = Ca::new("CA");
    let server = start(
        &[CertFiles::new(&ca, &["a.test"])],
        false,
        r#""shutdown_wait_http": 1,"#,
    );
    let start = Instant::now();
    let mut tcp = TcpStream::connect(server.addr()).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    // Half a ClientHello record header, then nothing.
    tcp.write_all(&[22, 3, 1]).unwrap();
    let mut byte = [0u8; 1];
    loop {
        match tcp.read(&mut byte) {
            Ok(0) => break,
            Err(e) if e.kind() == ErrorKind::ConnectionReset => break,
            // A signal meant for another test's child can interrupt the read.
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            other => panic!("expected the connection to close, got {other:?}"),
        }
    }
    let elapsed = start.elapsed();
    assert!(
        elapsed >= Duration::from_millis(800) && elapsed < Duration::from_secs(3),
        "closed after {elapsed:?}"
    );
}

// ------------------------------------------------------------ SIGHUP

/// A server for `a.test` with a cert from `ca`, its folder's paths, and its
/// log.
fn reloadable(ca: &Ca) -> (Server, PathBuf, PathBuf, Log) {
    let dir = shared_dir();
    let (config, ports) = tls_config(
        dir.path(),
        APP,
        &[CertFiles::new(ca, &["a.test"])],
        false,
        "",
    );
    let (key_path, chain_path) = cert_paths(dir.path(), 0);
    let mut server = Server::start_config(dir, &config, ports);
    let log = server.capture_stderr();
    (server, key_path, chain_path, log)
}

#[test]
fn sighup_switches_new_connections_to_the_new_certificate_and_keeps_open_ones() {
    let (old_ca, new_ca) = (Ca::new("old CA"), Ca::new("new CA"));
    let (server, key_path, chain_path, log) = reloadable(&old_ca);
    let port = server.ports[0];
    let mut open = wss_connect(port, "a.test", &old_ca.root).unwrap();
    assert_echoes(&mut open, "before");

    let (key, chain) = new_ca.issue(&["a.test"]);
    write(&key_path, &key);
    write(&chain_path, &chain);
    server.signal(1);
    assert!(
        log.wait_for("SIGHUP: TLS certificates reloaded", Duration::from_secs(10)),
        "{}",
        log.text()
    );

    let mut renewed = wss_connect(port, "a.test", &new_ca.root).unwrap();
    assert_eq!(presented(&renewed), leaf_of(&chain));
    assert_echoes(&mut renewed, "renewed");
    assert!(matches!(
        wss_connect(port, "a.test", &old_ca.root).unwrap_err(),
        rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer)
    ));
    // The connection made before the reload goes on.
    assert_echoes(&mut open, "after");
}

#[test]
fn a_reload_that_keeps_the_endpoints_keeps_the_certificates_they_need() {
    let ca = Ca::new("CA");
    let (server, key_path, chain_path, log) = reloadable(&ca);
    let config = std::fs::read_to_string(&server.config_path).unwrap();
    // Valid on its own: its cert and its endpoint for b.test. But its app
    // is renamed, so the endpoints in use (wss://a.test) stay, and the new
    // cert does not cover them.
    let (key, chain) = ca.issue(&["b.test"]);
    write(&key_path, &key);
    write(&chain_path, &chain);
    let renamed = format!("\"name\": \"{APP}2\"");
    let new_config = config
        .replace("a.test", "b.test")
        .replace(&format!("\"name\": \"{APP}\""), &renamed);
    assert_ne!(
        new_config.replace("b.test", "a.test"),
        config,
        "the app is renamed"
    );
    std::fs::write(&server.config_path, &new_config).unwrap();
    server.signal(1);
    assert!(
        log.wait_for(
            "SIGHUP: TLS certificates not reloaded, the old ones stay: no cert's \"hostnames\" \
             covers \"a.test\", the host of a wss:// endpoint in use",
            Duration::from_secs(10)
        ),
        "{}",
        log.text()
    );
    assert!(
        log.text().contains("SIGHUP: endpoints not reloaded"),
        "{}",
        log.text()
    );
    assert_echoes(
        &mut wss_connect(server.ports[0], "a.test", &ca.root).unwrap(),
        "still served",
    );
}

/// Sends SIGHUP and checks that the key at `key_path` was refused for
/// `why` and that the certificate from `ca` is still served.
fn assert_key_reload_refused(server: &Server, log: &Log, ca: &Ca, key_path: &Path, why: &str) {
    server.signal(1);
    let expected = format!(
        "SIGHUP: TLS certificates not reloaded, the old ones stay, and so do the endpoints: \
         certs[0].privkey_path \"{}\": {why}",
        key_path.display()
    );
    assert!(
        log.wait_for(&expected, Duration::from_secs(10)),
        "{}",
        log.text()
    );
    assert_echoes(
        &mut wss_connect(server.ports[0], "a.test", &ca.root).unwrap(),
        "old cert",
    );
}

#[test]
fn a_failed_reload_keeps_the_certificates_in_use_and_says_why() {
    let ca = Ca::new("CA");
    let (server, key_path, _, log) = reloadable(&ca);
    write(&key_path, "not a key\n");
    // A setting that needs a restart is named even though the reload
    // stops at the certificates.
    let config = std::fs::read_to_string(&server.config_path).unwrap();
    let changed = config.replace("\"log_level\"", "\"idle_timeout\": 7, \"log_level\"");
    assert_ne!(changed, config);
    std::fs::write(&server.config_path, &changed).unwrap();
    let why = "no private key (PKCS#8, RSA or SEC1) found in the PEM file";
    assert_key_reload_refused(&server, &log, &ca, &key_path, why);
    assert!(
        log.text()
            .contains("SIGHUP: changed settings that apply only at a restart: idle_timeout"),
        "{}",
        log.text()
    );
}

#[test]
fn a_reload_that_meets_a_fifo_for_a_key_keeps_the_certificates_and_sigterm_still_stops() {
    // Opening a FIFO nobody writes to would wait for ever on the main
    // thread, and the SIGTERM after it with it. The configuration's file
    // checks refuse it first, as --check does.
    let ca = Ca::new("CA");
    let (mut server, key_path, _, log) = reloadable(&ca);
    std::fs::remove_file(&key_path).unwrap();
    let c_path = std::ffi::CString::new(key_path.to_str().unwrap()).unwrap();
    // SAFETY: a NUL-terminated path that outlives the call.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o666) }, 0);
    server.signal(1);
    let why = format!(
        "certs[0].privkey_path: \"{}\": is a FIFO (named pipe); expected a regular file",
        key_path.display()
    );
    assert!(
        log.wait_for(&why, Duration::from_secs(10)),
        "{}",
        log.text()
    );
    assert!(
        log.text()
            .contains("SIGHUP: the configuration is invalid, nothing reloaded"),
        "{}",
        log.text()
    );
    assert_echoes(
        &mut wss_connect(server.ports[0], "a.test", &ca.root).unwrap(),
        "old cert",
    );
    server.signal(15);
    assert_eq!(server.wait_exit(Duration::from_secs(10)).code(), Some(0));
}

// ---------------------------------------------------- startup errors

#[test]
fn a_key_that_does_not_match_its_certificate_stops_startup_naming_the_file() {
    let ca = Ca::new("CA");
    let mut cert = CertFiles::new(&ca, &["a.test"]);
    cert.key = CertFiles::new(&ca, &["a.test"]).key;
    let dir = shared_dir();
    let (config, ports) = tls_config(dir.path(), APP, &[cert], false, "");
    let config = config.replace(r#""log_level": "debug""#, r#""log_level": "error""#);
    let (code, stderr) = start_failing(&config, dir.path(), ports[0]);
    let (key_path, chain_path) = cert_paths(dir.path(), 0);
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(
        stderr,
        format!(
            "ringsocket: certs[0].privkey_path \"{}\": the private key does not match the certificate in \"{}\"\n",
            key_path.display(),
            chain_path.display()
        )
    );
}

#[test]
fn a_key_file_without_a_key_stops_startup_naming_the_file() {
    let ca = Ca::new("CA");
    let mut cert = CertFiles::new(&ca, &["a.test"]);
    cert.key = cert.chain.clone();
    let dir = shared_dir();
    let (config, ports) = tls_config(dir.path(), APP, &[cert], false, "");
    let config = config.replace(r#""log_level": "debug""#, r#""log_level": "error""#);
    let (code, stderr) = start_failing(&config, dir.path(), ports[0]);
    let (key_path, _) = cert_paths(dir.path(), 0);
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(
        stderr,
        format!(
            "ringsocket: certs[0].privkey_path \"{}\": no private key (PKCS#8, RSA or SEC1) found in the PEM file\n",
            key_path.display()
        )
    );
}

#[test]
fn a_missing_key_file_is_a_configuration_error_naming_the_file() {
    let ca = Ca::new("CA");
    let dir = shared_dir();
    let (config, ports) = tls_config(
        dir.path(),
        APP,
        &[CertFiles::new(&ca, &["a.test"])],
        false,
        "",
    );
    let (key_path, _) = cert_paths(dir.path(), 0);
    std::fs::remove_file(&key_path).unwrap();
    let (code, stderr) = start_failing(&config, dir.path(), ports[0]);
    // Checked with the configuration, like every file it names (as
    // `--check` does): status 2.
    assert_eq!(code, Some(2), "{stderr}");
    let first = stderr.lines().next().unwrap();
    assert!(
        first.contains("certs[0].privkey_path")
            && first.contains(&key_path.display().to_string())
            && first.contains("no such file"),
        "{stderr}"
    );
}

/// A connection takes the certificates and the endpoints in use at its
/// accept: a TLS session opened for b.test before a reload that removes
/// b.test's cert and endpoint is still routed to b.test's endpoint. (Routed
/// by the new endpoints, it fell back to a.test's, of another app: an
/// outcome neither version gives.)
#[test]
fn a_tls_session_opened_before_a_reload_is_routed_by_the_old_endpoints() {
    let ca = Ca::new("CA");
    let dir = shared_dir();
    let port = free_port();
    let (key_a, chain_a) = ca.issue(&["a.test"]);
    let (key_b, chain_b) = ca.issue(&["b.test"]);
    for (name, text) in [
        ("a.key", &key_a),
        ("a.crt", &chain_a),
        ("b.key", &key_b),
        ("b.crt", &chain_b),
    ] {
        write(&dir.path().join(name), text);
    }
    let config = |with_b: bool| {
        let (cert_b, endpoint_b) = if with_b {
            (
                r#", { "hostnames": ["b.test"], "privkey_path": "b.key", "pubchain_path": "b.crt" }"#
                    .to_owned(),
                format!(r#", {{ "endpoint_id": 2, "url": "wss://b.test:{port}/x" }}"#),
            )
        } else {
            (String::new(), String::new())
        };
        format!(
            r#"{{ "ports": [{{ "port_number": {port}, "ip_addrs": ["127.0.0.1"] }}],
  "certs": [{{ "hostnames": ["a.test"], "privkey_path": "a.key", "pubchain_path": "a.crt" }}{cert_b}],
  "apps": [
    {{ "name": "echo", "app_path": "{}", "endpoints": [{{ "endpoint_id": 1, "url": "wss://a.test:{port}/x" }}] }},
    {{ "name": "probe", "app_path": "{}",
       "endpoints": [{{ "endpoint_id": 3, "url": "wss://a.test:{port}/other" }}{endpoint_b}] }}
  ],
  {} "worker_c": 1, "log_level": "debug" }}"#,
            app_path("echo").display(),
            app_path("probe").display(),
            run_as_user(),
        )
    };
    let config_path = dir.path().join("ringsocket.json5");
    let mut server = Server::start_config(dir, &config(true), vec![port]);
    let log = server.capture_stderr();

    // TLS session for b.test, established before the reload.
    let stream = tls_connect(port, "b.test", &ca.root).unwrap();

    write(&config_path, &config(false));
    server.signal(libc::SIGHUP);
    assert!(
        log.wait_for("SIGHUP: endpoints reloaded", Duration::from_secs(10)),
        "{}",
        log.text()
    );
    // A new b.test connection is refused now (no cert): the new version.
    assert!(tls_connect(port, "b.test", &ca.root).is_err());

    let url = format!("wss://b.test:{port}/x");
    let (mut client, response) = tungstenite::client::client(url, stream).unwrap();
    assert_eq!(response.status(), 101);
    client.send(Message::text("hello")).unwrap();
    let first = client.read().unwrap();
    // The old version routes b.test/x to probe (endpoint 2), whose first
    // message is its welcome; the echo app answers "hello".
    assert!(
        matches!(&first, Message::Text(t) if t.as_str().starts_with("welcome")),
        "the session opened for b.test before the reload reached {first:?}"
    );
}
