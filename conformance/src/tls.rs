//! The runner's TLS client settings for `wss://` targets: the server name
//! it sends (SNI) and verifies, and the certificate authorities it trusts.
//! rustls on the `ring` provider, TLS 1.2 and 1.3, ALPN `http/1.1`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::pem::{self, PemObject as _};
use rustls_pki_types::{CertificateDer, ServerName};

/// How to reach a `wss://` server: the name it is asked for and checked
/// against, and the CAs its certificate must chain to.
///
/// ```
/// use rs_conformance::certs::LocalCerts;
/// use rs_conformance::tls::TlsClient;
///
/// let certs = LocalCerts::generate("localhost")?;
/// let client = TlsClient::new("localhost", &[certs.ca])?;
/// assert_eq!(client.server_name_text(), "localhost");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct TlsClient {
    server_name: ServerName<'static>,
    config: Arc<ClientConfig>,
}

impl fmt::Debug for TlsClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsClient")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

impl TlsClient {
    /// A client that asks for `server_name` (a DNS name is sent as SNI; an
    /// IP address is not) and trusts exactly `roots`.
    pub fn new(server_name: &str, roots: &[CertificateDer<'static>]) -> Result<Self, TlsError> {
        let server_name = ServerName::try_from(server_name.to_owned())
            .map_err(|_| TlsError::ServerName(server_name.to_owned()))?;
        if roots.is_empty() {
            return Err(TlsError::NoRoots);
        }
        let mut store = RootCertStore::empty();
        for root in roots {
            store
                .add(root.clone())
                .map_err(|e| TlsError::BadRoot(e.to_string()))?;
        }
        let mut config =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .map_err(|e| TlsError::Config(e.to_string()))?
                .with_root_certificates(store)
                .with_no_client_auth();
        // What a browser offers for a WebSocket connection.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            server_name,
            config: Arc::new(config),
        })
    }

    /// The name asked for and verified.
    pub fn server_name(&self) -> &ServerName<'static> {
        &self.server_name
    }

    /// The name asked for, as text.
    pub fn server_name_text(&self) -> String {
        self.server_name.to_str().into_owned()
    }

    /// The rustls client configuration.
    pub fn config(&self) -> &Arc<ClientConfig> {
        &self.config
    }
}

/// Why the TLS client cannot be set up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TlsError {
    /// No CA certificate to trust.
    NoRoots,
    /// A CA certificate rustls cannot use, and why.
    BadRoot(String),
    /// Neither a DNS name nor an IP address.
    ServerName(String),
    /// rustls refused the configuration.
    Config(String),
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoRoots => {
                f.write_str("wss:// needs the CA certificate that signed the server's (--ca PATH)")
            }
            Self::BadRoot(why) => write!(f, "a CA certificate cannot be used: {why}"),
            Self::ServerName(name) => write!(f, "{name:?} is not a valid TLS server name"),
            Self::Config(why) => write!(f, "the TLS client configuration: {why}"),
        }
    }
}

impl std::error::Error for TlsError {}

/// Why a CA file could not be used.
#[derive(Debug)]
pub enum CaFileError {
    /// Reading or parsing the PEM failed.
    Pem(PathBuf, pem::Error),
    /// The file holds no `BEGIN CERTIFICATE` section.
    Empty(PathBuf),
}

impl fmt::Display for CaFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Pem(path, e) => write!(f, "CA file {}: {e}", path.display()),
            Self::Empty(path) => write!(
                f,
                "CA file {}: no certificate (BEGIN CERTIFICATE) in it",
                path.display()
            ),
        }
    }
}

impl std::error::Error for CaFileError {}

/// Reads every certificate of a PEM file (`--ca`).
pub fn load_ca(path: &Path) -> Result<Vec<CertificateDer<'static>>, CaFileError> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| CaFileError::Pem(path.to_owned(), e))?;
    if certs.is_empty() {
        return Err(CaFileError::Empty(path.to_owned()));
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certs::LocalCerts;

    #[test]
    fn a_client_needs_roots_and_a_valid_name() {
        let certs = LocalCerts::generate("localhost").unwrap();
        assert_eq!(
            TlsClient::new("localhost", &[]).unwrap_err(),
            TlsError::NoRoots
        );
        assert_eq!(
            TlsClient::new("not a name", std::slice::from_ref(&certs.ca)).unwrap_err(),
            TlsError::ServerName("not a name".into())
        );
        let garbage = CertificateDer::from(vec![1, 2, 3]);
        assert!(matches!(
            TlsClient::new("localhost", &[garbage]).unwrap_err(),
            TlsError::BadRoot(_)
        ));
    }

    #[test]
    fn ca_files_are_read_and_their_errors_named() {
        let certs = LocalCerts::generate("localhost").unwrap();
        let dir = std::env::temp_dir().join(format!("rs-conformance-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("ca.pem");
        std::fs::write(&good, &certs.ca_pem).unwrap();
        assert_eq!(load_ca(&good).unwrap(), vec![certs.ca.clone()]);

        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "no PEM here\n").unwrap();
        let error = load_ca(&empty).unwrap_err();
        assert!(matches!(&error, CaFileError::Empty(p) if *p == empty));
        assert!(error.to_string().contains("no certificate"), "{error}");

        let missing = dir.join("missing.pem");
        let error = load_ca(&missing).unwrap_err();
        assert!(matches!(&error, CaFileError::Pem(p, _) if *p == missing));
        assert!(error.to_string().starts_with("CA file "), "{error}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
