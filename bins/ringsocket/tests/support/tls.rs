//! `wss://` for the tests: certificate authorities and certificates made
//! here (rcgen), a configuration with a TLS port, and a rustls client that
//! verifies the server against the test's own CA.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use tungstenite::protocol::WebSocketConfig;
use tungstenite::{Message, WebSocket};

use super::{Server, Tcp, app_path, free_port, run_as_user};

pub type TlsStream = StreamOwned<ClientConnection, Tcp>;
pub type WssClient = WebSocket<TlsStream>;

/// A certificate authority of the test's own.
pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pub root: CertificateDer<'static>,
}

impl Ca {
    pub fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().unwrap();
        let root = params.self_signed(&key).unwrap().der().clone();
        Self {
            issuer: Issuer::new(params, key),
            root,
        }
    }

    /// A certificate for `names`: its private key and chain, PEM.
    pub fn issue(&self, names: &[&str]) -> (String, String) {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(names)
            .unwrap()
            .signed_by(&key, &self.issuer)
            .unwrap();
        (key.serialize_pem(), cert.pem())
    }
}

/// A folder for a configuration and certificates, readable by the user the
/// server switches to (it re-reads both on SIGHUP).
pub fn shared_dir() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// Writes a file readable by everyone.
pub fn write(path: &Path, contents: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, contents).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).unwrap();
}

/// One `certs` element: hostnames, and the (key, chain) PEM to write.
pub struct CertFiles {
    pub hostnames: Vec<&'static str>,
    pub key: String,
    pub chain: String,
}

impl CertFiles {
    pub fn new(ca: &Ca, hostnames: &[&'static str]) -> Self {
        let (key, chain) = ca.issue(hostnames);
        Self {
            hostnames: hostnames.to_vec(),
            key,
            chain,
        }
    }
}

/// The paths of cert `i`'s files in `dir`.
pub fn cert_paths(dir: &Path, i: usize) -> (PathBuf, PathBuf) {
    (
        dir.join(format!("cert{i}.key.pem")),
        dir.join(format!("cert{i}.chain.pem")),
    )
}

/// The example app the servers here run, at `/<APP>`, unless said otherwise.
pub const APP: &str = "echo";

/// A configuration with one `wss://` port (and a `ws://` one with
/// `with_plain`), the example `app` at `/<app>` on each of the certs' exact
/// hostnames, and `certs` written into `dir`. Returns the text and ports.
pub fn tls_config(
    dir: &Path,
    app: &str,
    certs: &[CertFiles],
    with_plain: bool,
    globals: &str,
) -> (String, Vec<u16>) {
    let tls_port = free_port();
    let mut ports = vec![tls_port];
    let mut ports_json = vec![format!(
        r#"{{ "port_number": {tls_port}, "ip_addrs": ["127.0.0.1"] }}"#
    )];
    let mut endpoints = Vec::new();
    let mut certs_json = Vec::new();
    for (i, cert) in certs.iter().enumerate() {
        let (key_path, chain_path) = cert_paths(dir, i);
        write(&key_path, &cert.key);
        write(&chain_path, &cert.chain);
        certs_json.push(format!(
            r#"{{ "hostnames": {:?}, "privkey_path": {:?}, "pubchain_path": {:?} }}"#,
            cert.hostnames,
            key_path.display().to_string(),
            chain_path.display().to_string()
        ));
        for host in cert.hostnames.iter().filter(|h| !h.starts_with('*')) {
            endpoints.push(format!(r#""wss://{host}:{tls_port}/{app}""#));
        }
    }
    if with_plain {
        let plain_port = free_port();
        ports.push(plain_port);
        ports_json.push(format!(
            r#"{{ "port_number": {plain_port}, "is_unencrypted": true, "ip_addrs": ["127.0.0.1"] }}"#
        ));
        endpoints.push(format!(r#""ws://localhost:{plain_port}/{app}""#));
    }
    let endpoints: Vec<String> = endpoints
        .iter()
        .enumerate()
        .map(|(id, url)| format!(r#"{{ "endpoint_id": {id}, "url": {url} }}"#))
        .collect();
    let config = format!(
        r#"{{
  "ports": [{}],
  "certs": [{}],
  "apps": [{{ "name": "{app}", "app_path": "{}", "endpoints": [{}] }}],
  {}{globals}
  "log_level": "debug"
}}
"#,
        ports_json.join(", "),
        certs_json.join(", "),
        app_path(app).display(),
        endpoints.join(", "),
        run_as_user()
    );
    (config, ports)
}

/// Starts a server with a `wss://` port (`ports[0]`) serving `certs`.
pub fn start(certs: &[CertFiles], with_plain: bool, globals: &str) -> Server {
    let dir = shared_dir();
    let (config, ports) = tls_config(dir.path(), APP, certs, with_plain, globals);
    Server::start_config(dir, &config, ports)
}

/// A client configuration trusting `root` only, offering ALPN `http/1.1`.
pub fn client_config(root: &CertificateDer<'static>) -> ClientConfig {
    let mut roots = RootCertStore::empty();
    roots.add(root.clone()).unwrap();
    let mut config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config
}

/// Connects to `port` over TLS with SNI `server_name` and completes the TLS
/// handshake. Fails with the rustls error, if there is one.
pub fn tls_connect(
    port: u16,
    server_name: &str,
    root: &CertificateDer<'static>,
) -> Result<TlsStream, rustls::Error> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    tcp.set_write_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let name = ServerName::try_from(server_name.to_owned()).unwrap();
    let conn = ClientConnection::new(Arc::new(client_config(root)), name)?;
    let mut stream = StreamOwned::new(conn, Tcp(tcp));
    while stream.conn.is_handshaking() {
        if let Err(e) = stream.conn.complete_io(&mut stream.sock) {
            return Err(rustls_error(&e)
                .unwrap_or_else(|| panic!("the handshake failed without a TLS error: {e}")));
        }
    }
    Ok(stream)
}

/// The rustls error inside an I/O error, if that is what it is.
pub fn rustls_error(error: &std::io::Error) -> Option<rustls::Error> {
    error
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>())
        .cloned()
}

/// A `wss://<server_name>:<port>/<APP>` WebSocket client.
pub fn wss_connect(
    port: u16,
    server_name: &str,
    root: &CertificateDer<'static>,
) -> Result<WssClient, rustls::Error> {
    wss_connect_to(port, server_name, APP, root)
}

/// A `wss://<server_name>:<port>/<app>` WebSocket client.
pub fn wss_connect_to(
    port: u16,
    server_name: &str,
    app: &str,
    root: &CertificateDer<'static>,
) -> Result<WssClient, rustls::Error> {
    let stream = tls_connect(port, server_name, root)?;
    let config = WebSocketConfig::default()
        .max_message_size(Some(64 << 20))
        .max_frame_size(Some(64 << 20));
    let url = format!("wss://{server_name}:{port}/{app}");
    let (client, response) =
        tungstenite::client::client_with_config(url, stream, Some(config)).unwrap();
    assert_eq!(response.status(), 101);
    Ok(client)
}

/// Sends `text` and expects it back.
pub fn assert_echoes(client: &mut WssClient, text: &str) {
    client.send(Message::text(text)).unwrap();
    match client.read().unwrap() {
        Message::Text(echoed) => assert_eq!(echoed.as_str(), text),
        other => panic!("expected the echo of {text:?}, got {other:?}"),
    }
}

/// The certificate the server presented.
pub fn presented(client: &WssClient) -> CertificateDer<'static> {
    client.get_ref().conn.peer_certificates().unwrap()[0].clone()
}

pub fn leaf_of(chain_pem: &str) -> CertificateDer<'static> {
    use rustls::pki_types::pem::PemObject;
    CertificateDer::from_pem_slice(chain_pem.as_bytes()).unwrap()
}
