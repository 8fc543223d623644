//! rs-load over `wss://` against the real `ringsocket` server: a CA and a
//! certificate for `localhost` made here (rcgen), the echo and broadcast
//! example apps on one TLS port, and the `rs-load` binary run as a user
//! would run it (exit status, stdout, stderr).
//!
//! The server and the apps come from another package: they are found next
//! to this test in `<target>/<profile>/` (`cargo test --workspace` builds
//! them; alone: `cargo build -p ringsocket && cargo build -p rs-examples
//! --examples`).

use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

/// `<target>/<profile>/`, where cargo puts every package's binaries and
/// examples (this test runs from its `deps/`).
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    exe.parent()
        .and_then(Path::parent)
        .expect("the test binary lives in <target>/<profile>/deps")
        .to_owned()
}

/// A file another package builds, which must exist.
fn built(path: PathBuf) -> PathBuf {
    assert!(
        path.exists(),
        "{} is missing: run `cargo build -p ringsocket && cargo build -p rs-examples --examples` \
         with the same target dir and profile first (`cargo test --workspace` builds both)",
        path.display()
    );
    path
}

/// A certificate authority of the test's own, PEM.
struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

impl Ca {
    fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().unwrap();
        let pem = params.self_signed(&key).unwrap().pem();
        Self {
            issuer: Issuer::new(params, key),
            pem,
        }
    }

    /// A certificate for `hostname` signed by this CA: (key, chain) PEM.
    fn issue(&self, hostname: &str) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec![hostname.to_owned()])
            .unwrap()
            .signed_by(&key, &self.issuer)
            .unwrap();
        (key.serialize_pem(), cert.pem())
    }
}

/// A file readable by everyone (a server started as root reads its
/// certificates as the user it switched to).
fn write(path: &Path, contents: &str) {
    std::fs::write(path, contents).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).unwrap();
}

/// A running `ringsocket` with a `wss://localhost:<port>/` TLS port; killed
/// when dropped.
struct Server {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Server {
    /// Starts the server with a certificate for `localhost` from `ca`.
    fn start(ca: &Ca) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let (key, chain) = ca.issue("localhost");
        let (key_path, chain_path) = (dir.path().join("key.pem"), dir.path().join("chain.pem"));
        write(&key_path, &key);
        write(&chain_path, &chain);
        let port = free_port();
        let examples = profile_dir().join("examples");
        let app = |name: &str| {
            let path = built(examples.join(format!("lib{name}.so")));
            format!(
                r#"{{ "name": "{name}", "app_path": {:?}, "endpoints": [{{ "endpoint_id": 0, "url": "wss://localhost:{port}/{name}" }}] }}"#,
                path.display().to_string()
            )
        };
        // Started as root, the server must switch to another user.
        let user = if is_root() {
            r#""user": "nobody","#
        } else {
            ""
        };
        let config = format!(
            r#"{{
  "ports": [{{ "port_number": {port}, "ip_addrs": ["127.0.0.1"] }}],
  "certs": [{{ "hostnames": ["localhost"], "privkey_path": {:?}, "pubchain_path": {:?} }}],
  "apps": [{}, {}],
  "worker_c": 1,
  {user}
  "log_level": "warning"
}}
"#,
            key_path.display().to_string(),
            chain_path.display().to_string(),
            app("echo"),
            app("broadcast"),
        );
        let config_path = dir.path().join("ringsocket.json5");
        write(&config_path, &config);
        let log = std::fs::File::create(dir.path().join("server.log")).unwrap();
        let child = Command::new(built(profile_dir().join("ringsocket")))
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut server = Self { child, port, dir };
        server.wait_until_listening();
        server
    }

    fn wait_until_listening(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("the server exited with {status}: {}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "the server did not listen in time"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// `wss://localhost:<port>/<app>`.
    fn url(&self, app: &str) -> String {
        format!("wss://localhost:{}/{app}", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port free a moment ago, below Linux's ephemeral range (32768 and up):
/// rs-load's client connections and `bind(0)` elsewhere cannot take it
/// before the server binds it, and each test of this process gets its own.
fn free_port() -> u16 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let base = std::process::id() % 1000 * 10;
    for _ in 0..10_000 {
        let port = 20_000 + (base + NEXT.fetch_add(1, Ordering::Relaxed)) % 10_000;
        let port = u16::try_from(port).expect("below 30000");
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port on 127.0.0.1 between 20000 and 29999");
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"))
}

/// Writes `ca`'s certificate where rs-load's `--ca` can read it.
fn ca_file(dir: &Path, name: &str, ca: &Ca) -> String {
    let path = dir.join(name);
    write(&path, &ca.pem);
    path.display().to_string()
}

/// Runs the rs-load binary (bounded by `--duration`).
fn rs_load(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rs-load"))
        .args(args)
        .args(["--duration", "30"])
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// The `RESULT` line of a successful run.
fn result_line(output: &Output, server: &Server) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(0),
        "stdout: {stdout}\nstderr: {stderr}\nserver: {}",
        server.log()
    );
    stdout
        .lines()
        .find(|l| l.starts_with("RESULT "))
        .unwrap_or_else(|| panic!("no RESULT line in {stdout}"))
        .to_owned()
}

#[test]
fn echo_over_wss_sends_and_checks_every_message() {
    let ca = Ca::new("rs-load test CA");
    let server = Server::start(&ca);
    let ca_path = ca_file(server.dir.path(), "ca.pem", &ca);
    let url = server.url("echo");
    let output = rs_load(&[
        "echo",
        "--url",
        &url,
        "--ca",
        &ca_path,
        "--conns",
        "4",
        "--threads",
        "2",
        "--size",
        "100",
        "--count",
        "400",
    ]);
    let result = result_line(&output, &server);
    assert!(
        result.starts_with("RESULT mode=echo conns=4 size=100 kind=binary threads=2 total=400 "),
        "{result}"
    );
    assert!(result.ends_with(" scheme=wss"), "{result}");
}

#[test]
fn echo_over_wss_of_messages_larger_than_rustls_buffers() {
    // 200 KB frames: more than the 64 KiB of records rustls holds ahead of
    // the socket, so writing waits for writable events in the middle of a
    // frame, and echoes span many records and reads.
    let ca = Ca::new("rs-load test CA");
    let server = Server::start(&ca);
    let ca_path = ca_file(server.dir.path(), "ca.pem", &ca);
    let url = server.url("echo");
    let output = rs_load(&[
        "echo", "--url", &url, "--ca", &ca_path, "--conns", "2", "--size", "200000", "--text",
        "--count", "20",
    ]);
    let result = result_line(&output, &server);
    assert!(
        result.starts_with("RESULT mode=echo conns=2 size=200000 kind=text threads=1 total=20 "),
        "{result}"
    );
}

#[test]
fn connect_over_wss_counts_full_handshakes_and_closes() {
    let ca = Ca::new("rs-load test CA");
    let server = Server::start(&ca);
    let ca_path = ca_file(server.dir.path(), "ca.pem", &ca);
    let url = server.url("echo");
    let output = rs_load(&[
        "connect", "--url", &url, "--ca", &ca_path, "--conns", "4", "--count", "100",
    ]);
    let result = result_line(&output, &server);
    // Each one ended with close frames both ways, then close_notify from
    // the server before its end of TCP (checked by rs-load).
    assert!(
        result.starts_with("RESULT mode=connect conns=4 size=20 kind=binary threads=1 total=100 "),
        "{result}"
    );
}

#[test]
fn broadcast_over_wss_delivers_every_message() {
    let ca = Ca::new("rs-load test CA");
    let server = Server::start(&ca);
    let ca_path = ca_file(server.dir.path(), "ca.pem", &ca);
    let url = server.url("broadcast");
    let output = rs_load(&[
        "broadcast",
        "--url",
        &url,
        "--ca",
        &ca_path,
        "--conns",
        "5",
        "--count",
        "50",
    ]);
    let result = result_line(&output, &server);
    // 10 rounds of 5 messages, each delivered to 5 clients.
    assert!(result.contains(" total=250 "), "{result}");
}

#[test]
fn idle_over_wss_holds_the_connections() {
    let ca = Ca::new("rs-load test CA");
    let server = Server::start(&ca);
    let ca_path = ca_file(server.dir.path(), "ca.pem", &ca);
    let url = server.url("echo");
    let pid = server.child.id().to_string();
    let output = Command::new(env!("CARGO_BIN_EXE_rs-load"))
        .args(["idle", "--url", &url, "--ca", &ca_path, "--conns", "20"])
        .args(["--duration", "0.2", "--server-pid", &pid])
        .output()
        .unwrap();
    let result = result_line(&output, &server);
    assert!(result.contains(" total=20 "), "{result}");
}

#[test]
fn a_ca_that_did_not_issue_the_certificate_fails_the_run() {
    let server = Server::start(&Ca::new("the server's CA"));
    let other = Ca::new("another CA");
    let ca_path = ca_file(server.dir.path(), "other.pem", &other);
    let url = server.url("echo");
    let output = rs_load(&[
        "echo", "--url", &url, "--ca", &ca_path, "--conns", "1", "--count", "1",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "rs-load: connection 0: TLS: invalid peer certificate: UnknownIssuer \
         (no CA in --ca issued the server's certificate)\n",
        "server: {}",
        server.log()
    );
    assert_eq!(output.status.code(), Some(1));
}

#[test]
fn an_alert_from_the_server_fails_the_run_naming_it() {
    let ca = Ca::new("rs-load test CA");
    let server = Server::start(&ca);
    let ca_path = ca_file(server.dir.path(), "ca.pem", &ca);
    // By IP address a client sends no SNI, and no cert lists the address:
    // the server refuses the handshake for want of a certificate to choose.
    let url = format!("wss://127.0.0.1:{}/echo", server.port);
    let output = rs_load(&[
        "echo", "--url", &url, "--ca", &ca_path, "--conns", "1", "--count", "1",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "rs-load: connection 0: TLS: received fatal alert: AccessDenied\n",
        "server: {}",
        server.log()
    );
    assert_eq!(output.status.code(), Some(1));
}

#[test]
fn wss_without_a_ca_is_a_usage_error() {
    // Refused before anything connects: no server needed.
    let output = rs_load(&["echo", "--url", "wss://localhost:9/echo", "--count", "1"]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "rs-load: wss:// needs --ca PATH: the PEM file of the CA certificates to trust (see --help)\n"
    );
    assert!(output.stdout.is_empty());
}

#[test]
fn an_unreadable_ca_file_fails_the_run_naming_it() {
    let output = rs_load(&[
        "echo",
        "--url",
        "wss://localhost:9/echo",
        "--ca",
        "/nonexistent/ca.pem",
        "--count",
        "1",
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "rs-load: --ca \"/nonexistent/ca.pem\": No such file or directory (os error 2)\n"
    );
}
