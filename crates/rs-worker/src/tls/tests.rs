//! Loading certificates, choosing them by SNI, and reloading, checked with
//! in-memory handshakes against a rustls client.

use std::path::{Path, PathBuf};

use rcgen::{CertificateParams, KeyPair, PKCS_ECDSA_P256_SHA256, PKCS_RSA_SHA256};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::{
    AlertDescription, ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore,
    ServerConnection, SignatureScheme,
};
use rustls_pki_types::{ServerName, UnixTime};

use super::*;

/// A folder for PEM files.
struct Files(tempfile::TempDir);

impl Files {
    fn new() -> Self {
        Self(tempfile::tempdir().unwrap())
    }

    fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.0.path().join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    /// A self-signed certificate for `names` with a new P-256 key: the
    /// paths of its key and chain files, and the certificate.
    fn self_signed(
        &self,
        stem: &str,
        names: &[&str],
    ) -> (PathBuf, PathBuf, CertificateDer<'static>) {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        self.self_signed_with(stem, names, &key, &key.serialize_pem())
    }

    /// The same with a given key, written to the key file as `key_pem`.
    fn self_signed_with(
        &self,
        stem: &str,
        names: &[&str],
        key: &KeyPair,
        key_pem: &str,
    ) -> (PathBuf, PathBuf, CertificateDer<'static>) {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let cert = CertificateParams::new(names)
            .unwrap()
            .self_signed(key)
            .unwrap();
        let key_path = self.write(&format!("{stem}.key.pem"), key_pem);
        let chain_path = self.write(&format!("{stem}.chain.pem"), &cert.pem());
        (key_path, chain_path, cert.der().clone())
    }
}

/// The `certs` of a configuration listing `(hostnames, key, chain)`.
fn certs(entries: &[(&[&str], &Path, &Path)]) -> Vec<CertConfig> {
    let certs: Vec<String> = entries
        .iter()
        .map(|(names, key, chain)| {
            format!(
                r#"{{ hostnames: {names:?}, privkey_path: {:?}, pubchain_path: {:?} }}"#,
                key.display().to_string(),
                chain.display().to_string()
            )
        })
        .collect();
    // One endpoint per cert, on a host it covers, as validation requires.
    let endpoints: Vec<String> = entries
        .iter()
        .enumerate()
        .map(|(i, (names, _, _))| {
            let host = names[0].replace("*.", "any.");
            format!(r#"{{ endpoint_id: {i}, url: "wss://{host}/" }}"#)
        })
        .collect();
    let text = format!(
        r#"{{ ports: [{{ port_number: 443 }}], certs: [{}],
              apps: [{{ name: "a", app_path: "/a.so", endpoints: [{}] }}] }}"#,
        certs.join(", "),
        endpoints.join(", ")
    );
    rs_conf::Config::from_json5_str(&text, "/test.json5")
        .unwrap()
        .certs
}

/// Accepts any server certificate: the tests look at which one was sent.
#[derive(Debug)]
struct AnyCert;

impl ServerCertVerifier for AnyCert {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = rustls::crypto::ring::default_provider().signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, &algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = rustls::crypto::ring::default_provider().signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, &algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        rustls::crypto::ring::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

fn client_builder(
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> rustls::ConfigBuilder<ClientConfig, rustls::WantsVerifier> {
    ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_protocol_versions(versions)
        .unwrap()
}

/// A client that trusts any certificate (and checks its signatures).
fn any_cert_client() -> ClientConfig {
    client_builder(rustls::DEFAULT_VERSIONS)
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCert))
        .with_no_client_auth()
}

/// A client that trusts `root` only.
fn trusting(root: &CertificateDer<'static>) -> ClientConfig {
    let mut roots = RootCertStore::empty();
    roots.add(root.clone()).unwrap();
    client_builder(rustls::DEFAULT_VERSIONS)
        .with_root_certificates(roots)
        .with_no_client_auth()
}

/// Runs a handshake in memory. Returns the client (to inspect what was
/// negotiated) or the client's error.
fn handshake(
    tls: &TlsConfig,
    client: ClientConfig,
    server_name: &str,
) -> Result<ClientConnection, rustls::Error> {
    handshake_at(tls, client, server_name, None)
}

/// [`handshake`] on a connection to the server's address `local`.
fn handshake_at(
    tls: &TlsConfig,
    client: ClientConfig,
    server_name: &str,
    local: Option<IpAddr>,
) -> Result<ClientConnection, rustls::Error> {
    let name = ServerName::try_from(server_name.to_owned()).unwrap();
    let mut client = ClientConnection::new(Arc::new(client), name)?;
    let mut server = ServerConnection::new(tls.current(local)).unwrap();
    let mut buf = Vec::new();
    for _ in 0..10 {
        buf.clear();
        while client.wants_write() {
            client.write_tls(&mut buf).unwrap();
        }
        let mut input = &buf[..];
        while !input.is_empty() {
            server.read_tls(&mut input).unwrap();
        }
        // A server error still leaves its alert to send to the client.
        let _ = server.process_new_packets();
        buf.clear();
        while server.wants_write() {
            server.write_tls(&mut buf).unwrap();
        }
        let mut input = &buf[..];
        while !input.is_empty() {
            client.read_tls(&mut input).unwrap();
        }
        client.process_new_packets()?;
        if !client.is_handshaking() && !server.is_handshaking() {
            return Ok(client);
        }
    }
    panic!("the handshake did not end");
}

/// The certificate the server presented.
fn presented(client: &ClientConnection) -> CertificateDer<'static> {
    client.peer_certificates().unwrap()[0].clone()
}

#[test]
fn sni_selects_the_cert_of_each_hostname() {
    let files = Files::new();
    let (key_a, chain_a, cert_a) = files.self_signed("a", &["a.test"]);
    let (key_b, chain_b, cert_b) = files.self_signed("b", &["b.test"]);
    let tls = TlsConfig::load(&certs(&[
        (&["a.test"], &key_a, &chain_a),
        (&["b.test"], &key_b, &chain_b),
    ]))
    .unwrap();
    let a = handshake(&tls, trusting(&cert_a), "a.test").unwrap();
    assert_eq!(presented(&a), cert_a);
    let b = handshake(&tls, trusting(&cert_b), "b.test").unwrap();
    assert_eq!(presented(&b), cert_b);
}

#[test]
fn a_client_without_sni_gets_an_access_denied_alert() {
    let files = Files::new();
    let (key, chain, _) = files.self_signed("a", &["a.test"]);
    let tls = TlsConfig::load(&certs(&[(&["a.test"], &key, &chain)])).unwrap();
    // rustls clients send no SNI for an IP address.
    let error = handshake(&tls, any_cert_client(), "127.0.0.1").unwrap_err();
    assert_eq!(
        error,
        rustls::Error::AlertReceived(AlertDescription::AccessDenied)
    );
}

/// Clients connecting to an IP address send no SNI; a cert listing the
/// address the connection came to is chosen then (IPv4-mapped addresses
/// as their IPv4 form), and only for connections to that address.
#[test]
fn a_client_without_sni_gets_the_cert_of_the_address_it_connected_to() {
    let files = Files::new();
    let (key_a, chain_a, _) = files.self_signed("a", &["a.test"]);
    let (key_ip, chain_ip, cert_ip) = files.self_signed("ip", &["127.0.0.1", "::1"]);
    let (key_v6, chain_v6, cert_v6) = files.self_signed("v6", &["::2"]);
    let tls = TlsConfig::load(&certs(&[
        (&["a.test"], &key_a, &chain_a),
        (&["127.0.0.1", "[::1]"], &key_ip, &chain_ip),
        (&["[::2]"], &key_v6, &chain_v6),
    ]))
    .unwrap();
    let at = |ip: &str, name: &str| {
        handshake_at(&tls, any_cert_client(), name, Some(ip.parse().unwrap()))
    };
    for local in ["127.0.0.1", "::ffff:127.0.0.1", "::1"] {
        let client = at(local, "127.0.0.1").unwrap();
        assert_eq!(presented(&client), cert_ip, "{local}");
    }
    assert_eq!(presented(&at("::2", "::2").unwrap()), cert_v6);
    // SNI still chooses where the client sends it.
    assert_ne!(presented(&at("127.0.0.1", "a.test").unwrap()), cert_ip);
    for local in ["127.0.0.2", "::3"] {
        assert_eq!(
            at(local, "127.0.0.2").unwrap_err(),
            rustls::Error::AlertReceived(AlertDescription::AccessDenied),
            "{local}"
        );
    }
}

#[test]
fn a_name_no_cert_covers_gets_an_access_denied_alert() {
    let files = Files::new();
    let (key, chain, _) = files.self_signed("a", &["a.test"]);
    let tls = TlsConfig::load(&certs(&[(&["a.test"], &key, &chain)])).unwrap();
    let error = handshake(&tls, any_cert_client(), "other.test").unwrap_err();
    assert_eq!(
        error,
        rustls::Error::AlertReceived(AlertDescription::AccessDenied)
    );
}

#[test]
fn a_wildcard_covers_exactly_one_more_label() {
    let files = Files::new();
    let (key, chain, cert) = files.self_signed("w", &["*.w.test"]);
    let tls = TlsConfig::load(&certs(&[(&["*.w.test"], &key, &chain)])).unwrap();
    let client = handshake(&tls, any_cert_client(), "x.w.test").unwrap();
    assert_eq!(presented(&client), cert);
    for uncovered in ["w.test", "a.x.w.test"] {
        assert_eq!(
            handshake(&tls, any_cert_client(), uncovered).unwrap_err(),
            rustls::Error::AlertReceived(AlertDescription::AccessDenied),
            "{uncovered}"
        );
    }
}

#[test]
fn resolver_matching_rules() {
    let files = Files::new();
    let (key_w, chain_w, _) = files.self_signed("w", &["*.w.test"]);
    let (key_x, chain_x, _) = files.self_signed("x", &["x.w.test"]);
    let config = certs(&[
        (&["*.w.test"], &key_w, &chain_w),
        (&["x.w.test"], &key_x, &chain_x),
    ]);
    let provider = rustls::crypto::ring::default_provider();
    let mut resolver = SniResolver::default();
    let wildcard = Arc::new(load_cert(0, &config[0], &provider).unwrap());
    let exact = Arc::new(load_cert(1, &config[1], &provider).unwrap());
    resolver.wildcard.insert("w.test".into(), wildcard.clone());
    resolver.exact.insert("x.w.test".into(), exact.clone());
    let is = |name: &str, key: &Arc<CertifiedKey>| {
        resolver.find(name).is_some_and(|k| Arc::ptr_eq(&k, key))
    };
    // An exact name wins over a wildcard that also covers it.
    assert!(is("x.w.test", &exact));
    assert!(is("y.w.test", &wildcard));
    // Case-insensitive, and a trailing dot is the same name.
    assert!(is("X.W.Test", &exact));
    assert!(is("y.w.test.", &wildcard));
    for none in ["w.test", ".w.test", "a.y.w.test", "other.test", ""] {
        assert!(resolver.find(none).is_none(), "{none:?}");
    }
}

#[test]
fn the_handshake_offers_http_1_1_through_alpn() {
    let files = Files::new();
    let (key, chain, _) = files.self_signed("a", &["a.test"]);
    let tls = TlsConfig::load(&certs(&[(&["a.test"], &key, &chain)])).unwrap();
    let mut client = any_cert_client();
    client.alpn_protocols = vec![b"http/1.1".to_vec()];
    let connected = handshake(&tls, client, "a.test").unwrap();
    assert_eq!(connected.alpn_protocol(), Some(&b"http/1.1"[..]));
    let mut h2_only = any_cert_client();
    h2_only.alpn_protocols = vec![b"h2".to_vec()];
    assert_eq!(
        handshake(&tls, h2_only, "a.test").unwrap_err(),
        rustls::Error::AlertReceived(AlertDescription::NoApplicationProtocol)
    );
}

#[test]
fn tls_1_2_and_1_3_are_both_accepted() {
    let files = Files::new();
    let (key, chain, _) = files.self_signed("a", &["a.test"]);
    let tls = TlsConfig::load(&certs(&[(&["a.test"], &key, &chain)])).unwrap();
    for version in [&rustls::version::TLS12, &rustls::version::TLS13] {
        let client = client_builder(&[version])
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCert))
            .with_no_client_auth();
        let connected = handshake(&tls, client, "a.test").unwrap();
        assert_eq!(connected.protocol_version(), Some(version.version));
    }
}

/// Test-only keys made with openssl (see testdata/README.md).
fn testdata(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(name);
    std::fs::read_to_string(path).unwrap()
}

#[test]
fn pkcs8_rsa_pkcs1_and_sec1_keys_are_accepted() {
    let files = Files::new();
    let cases = [
        ("rsa-pkcs8", "rsa-pkcs8.pem", &PKCS_RSA_SHA256),
        ("rsa-pkcs1", "rsa-pkcs1.pem", &PKCS_RSA_SHA256),
        ("ec-pkcs8", "ec-pkcs8.pem", &PKCS_ECDSA_P256_SHA256),
        ("ec-sec1", "ec-sec1.pem", &PKCS_ECDSA_P256_SHA256),
    ];
    for (stem, key_file, algorithm) in cases {
        // rcgen signs with the PKCS#8 form of the same key.
        let pkcs8 = testdata(&key_file.replace("pkcs1", "pkcs8").replace("sec1", "pkcs8"));
        let key = KeyPair::from_pkcs8_pem_and_sign_algo(&pkcs8, algorithm).unwrap();
        let (key_path, chain_path, cert) =
            files.self_signed_with(stem, &["k.test"], &key, &testdata(key_file));
        let tls = TlsConfig::load(&certs(&[(&["k.test"], &key_path, &chain_path)]))
            .unwrap_or_else(|e| panic!("{key_file}: {e}"));
        // The server signs with it: the client checks the signature.
        let connected = handshake(&tls, trusting(&cert), "k.test").unwrap();
        assert_eq!(presented(&connected), cert, "{key_file}");
    }
}

#[test]
fn a_missing_file_is_named_with_its_key() {
    let files = Files::new();
    let (_, chain, _) = files.self_signed("a", &["a.test"]);
    let missing = files.0.path().join("missing.pem");
    let error = TlsConfig::load(&certs(&[(&["a.test"], &missing, &chain)])).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "certs[0].privkey_path \"{}\": no such file",
            missing.display()
        )
    );
}

#[test]
fn a_folder_instead_of_a_file_cannot_be_read() {
    let files = Files::new();
    let (key, _, _) = files.self_signed("a", &["a.test"]);
    let folder = files.0.path();
    let error = TlsConfig::load(&certs(&[(&["a.test"], &key, folder)])).unwrap_err();
    assert!(
        matches!(
            &error,
            CertError::Read {
                key: "pubchain_path",
                ..
            }
        ),
        "{error:?}"
    );
    assert!(
        error.to_string().starts_with(&format!(
            "certs[0].pubchain_path \"{}\": cannot be read: ",
            folder.display()
        )),
        "{error}"
    );
}

#[test]
fn a_chain_file_without_a_certificate_is_refused() {
    let files = Files::new();
    let (key, _, _) = files.self_signed("a", &["a.test"]);
    // The key file holds a key and no certificate.
    let error = TlsConfig::load(&certs(&[(&["a.test"], &key, &key)])).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "certs[0].pubchain_path \"{}\": no certificate (\"BEGIN CERTIFICATE\") found in the PEM file",
            key.display()
        )
    );
}

#[test]
fn a_key_file_without_a_key_is_refused() {
    let files = Files::new();
    let (_, chain, _) = files.self_signed("a", &["a.test"]);
    let error = TlsConfig::load(&certs(&[(&["a.test"], &chain, &chain)])).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "certs[0].privkey_path \"{}\": no private key (PKCS#8, RSA or SEC1) found in the PEM file",
            chain.display()
        )
    );
}

#[test]
fn an_encrypted_key_or_one_of_another_algorithm_is_refused_saying_why() {
    let files = Files::new();
    let (_, chain, _) = files.self_signed("a", &["a.test"]);
    // What `openssl pkcs8 -topk8` writes with a passphrase (contents cut).
    let encrypted = files.write(
        "encrypted.pem",
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIFHDBOBgkqhkiG9w0BBQ0wQTApBgkqhkiG9w0BBQwwHAQI\n\
         -----END ENCRYPTED PRIVATE KEY-----\n",
    );
    let error = TlsConfig::load(&certs(&[(&["a.test"], &encrypted, &chain)])).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "certs[0].privkey_path \"{}\": the private key is encrypted (\"BEGIN ENCRYPTED \
             PRIVATE KEY\") and the server cannot ask for its passphrase: store it decrypted, \
             readable by root only (openssl pkey -in KEY -out KEY.plain)",
            encrypted.display()
        )
    );
    // A PKCS#8 key no provider takes (here: not a key at all inside).
    let odd = files.write(
        "odd.pem",
        "-----BEGIN PRIVATE KEY-----\nMAMCAQA=\n-----END PRIVATE KEY-----\n",
    );
    let error = TlsConfig::load(&certs(&[(&["a.test"], &odd, &chain)])).unwrap_err();
    assert!(matches!(error, CertError::BadKey { .. }), "{error:?}");
    assert!(
        error.to_string().contains(
            "unusable private key (the server takes RSA keys of 2048 to 8192 bits, ECDSA P-256 \
             or P-384, and Ed25519): "
        ),
        "{error}"
    );
}

#[test]
fn hostnames_the_certificate_does_not_cover_are_found() {
    let files = Files::new();
    let (_, _, leaf) = files.self_signed("a", &["a.test", "*.w.test", "::1"]);
    let hostnames = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
    let configured = hostnames(&[
        "a.test", "x.w.test", "*.w.test", "[::1]", "b.test", "*.a.test", "[::2]",
    ]);
    assert_eq!(
        uncovered_hostnames(&leaf, &configured),
        ["b.test", "*.a.test", "[::2]"]
    );
    // What cannot be parsed covers nothing.
    let garbage = CertificateDer::from(vec![0x30, 0x00]);
    assert_eq!(
        uncovered_hostnames(&garbage, &hostnames(&["a.test"])),
        ["a.test"]
    );
}

#[test]
fn malformed_pem_is_refused() {
    let files = Files::new();
    let (key, _, _) = files.self_signed("a", &["a.test"]);
    let chain = files.write("cut.pem", "-----BEGIN CERTIFICATE-----\nAAAA\n");
    let error = TlsConfig::load(&certs(&[(&["a.test"], &key, &chain)])).unwrap_err();
    assert!(
        matches!(
            &error,
            CertError::Pem {
                key: "pubchain_path",
                ..
            }
        ),
        "{error:?}"
    );
    assert!(
        error.to_string().starts_with(&format!(
            "certs[0].pubchain_path \"{}\": not a valid PEM file: missing section end marker",
            chain.display()
        )),
        "{error}"
    );
}

#[test]
fn a_key_that_is_not_the_certificates_is_refused() {
    let files = Files::new();
    let (_, chain_a, _) = files.self_signed("a", &["a.test"]);
    let (key_b, _, _) = files.self_signed("b", &["b.test"]);
    let error = TlsConfig::load(&certs(&[
        (&["b.test"], &key_b, &files.0.path().join("b.chain.pem")),
        (&["a.test"], &key_b, &chain_a),
    ]))
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "certs[1].privkey_path \"{}\": the private key does not match the certificate in \"{}\"",
            key_b.display(),
            chain_a.display()
        )
    );
}

#[test]
fn no_certs_is_an_error() {
    assert_eq!(
        TlsConfig::load(&[]).unwrap_err().to_string(),
        "no certs are configured, but a port serves wss://"
    );
}

#[test]
fn a_reload_serves_new_handshakes_with_the_new_files() {
    let files = Files::new();
    let (key, chain, old) = files.self_signed("a", &["a.test"]);
    let config = certs(&[(&["a.test"], &key, &chain)]);
    let tls = TlsConfig::load(&config).unwrap();
    let (_, _, new) = files.self_signed("a", &["a.test"]); // same paths
    assert_eq!(
        presented(&handshake(&tls, any_cert_client(), "a.test").unwrap()),
        old
    );
    tls.install(TlsConfig::prepare(&config).unwrap());
    assert_eq!(
        presented(&handshake(&tls, any_cert_client(), "a.test").unwrap()),
        new
    );
}

#[test]
fn a_failed_reload_keeps_the_certificates_in_use() {
    let files = Files::new();
    let (key, chain, cert) = files.self_signed("a", &["a.test"]);
    let config = certs(&[(&["a.test"], &key, &chain)]);
    let tls = TlsConfig::load(&config).unwrap();
    std::fs::write(&key, "not a key").unwrap();
    assert!(matches!(
        TlsConfig::prepare(&config).unwrap_err(),
        CertError::NoKey { cert: 0, .. }
    ));
    assert_eq!(
        presented(&handshake(&tls, any_cert_client(), "a.test").unwrap()),
        cert
    );
}
