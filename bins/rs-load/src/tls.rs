//! The TLS client setup for `wss://`: the CAs to trust (`--ca`), the name
//! to check the server's certificate against (the URL's host), and one
//! rustls configuration shared by every connection.

use std::path::Path;
use std::sync::Arc;

use rustls::client::Resumption;
use rustls::{ClientConfig, ClientConnection, RootCertStore};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, ServerName};

use crate::error::{CaError, LoadError};

/// The protocol offered through ALPN: WebSocket runs over HTTP/1.1.
const ALPN_HTTP_1_1: &[u8] = b"http/1.1";

/// What every `wss://` connection of a run starts from.
#[derive(Debug)]
pub(crate) struct TlsClient {
    config: Arc<ClientConfig>,
    server_name: ServerName<'static>,
}

impl TlsClient {
    /// A client trusting the CA certificates in the PEM file `ca_path`
    /// (only those) and expecting a certificate for `server_name`.
    pub(crate) fn new(ca_path: &Path, server_name: ServerName<'static>) -> Result<Self, LoadError> {
        let ca_error = |error| LoadError::Ca {
            path: ca_path.to_owned(),
            error,
        };
        let roots = trust_anchors(ca_path).map_err(ca_error)?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(LoadError::TlsSetup)?
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![ALPN_HTTP_1_1.to_vec()];
        // Every handshake is a full one: `connect` measures those, and the
        // other modes open each connection once anyway.
        config.resumption = Resumption::disabled();
        Ok(Self {
            config: Arc::new(config),
            server_name,
        })
    }

    /// A new client session (its ClientHello is queued at once).
    pub(crate) fn session(&self) -> Result<ClientConnection, rustls::Error> {
        ClientConnection::new(Arc::clone(&self.config), self.server_name.clone())
    }
}

/// Every certificate in the PEM file at `path`, as trust anchors.
fn trust_anchors(path: &Path) -> Result<RootCertStore, CaError> {
    let pem = std::fs::read(path).map_err(CaError::Read)?;
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        roots
            .add(cert.map_err(CaError::Pem)?)
            .map_err(CaError::Rejected)?;
    }
    if roots.is_empty() {
        return Err(CaError::NoCertificates);
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ca_error(contents: &[u8]) -> String {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, contents).unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        match TlsClient::new(&path, name) {
            Err(LoadError::Ca { path: p, error }) => {
                assert_eq!(p, path);
                error.to_string()
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_ca_file_is_read_and_trusted() {
        let ca = rcgen::generate_simple_self_signed(vec!["Test CA".into()]).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        // Two certificates and text around them.
        let other = rcgen::generate_simple_self_signed(vec!["Other".into()]).unwrap();
        let pem = format!("a comment\n{}{}", ca.cert.pem(), other.cert.pem());
        std::fs::write(&path, pem).unwrap();
        assert_eq!(trust_anchors(&path).unwrap().len(), 2);
        let client = TlsClient::new(&path, ServerName::try_from("localhost").unwrap()).unwrap();
        assert_eq!(client.config.alpn_protocols, [b"http/1.1".to_vec()]);
        assert!(client.session().unwrap().is_handshaking());
    }

    #[test]
    fn a_missing_ca_file_is_named_with_the_reason() {
        let path = Path::new("/nonexistent/ca.pem");
        let error = TlsClient::new(path, ServerName::try_from("localhost").unwrap()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "--ca \"/nonexistent/ca.pem\": No such file or directory (os error 2)"
        );
    }

    #[test]
    fn a_file_without_certificates_is_refused() {
        assert_eq!(
            ca_error(b"not pem at all\n"),
            "no CERTIFICATE in the PEM file"
        );
        let key = rcgen::KeyPair::generate().unwrap();
        assert_eq!(
            ca_error(key.serialize_pem().as_bytes()),
            "no CERTIFICATE in the PEM file"
        );
    }

    #[test]
    fn broken_pem_is_refused() {
        assert!(
            ca_error(b"-----BEGIN CERTIFICATE-----\nAAAA\n")
                .starts_with("not a PEM file: missing section end marker"),
        );
    }

    #[test]
    fn a_certificate_that_is_not_x509_is_refused() {
        let error = ca_error(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
        assert!(
            error.starts_with("a certificate rustls cannot use: "),
            "{error}"
        );
    }
}
