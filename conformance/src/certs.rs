//! Throwaway certificates for a `wss://` server the runner starts itself
//! (`--tls`): a certificate authority of the run's own and a server
//! certificate it signed, made with rcgen at startup.

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls_pki_types::{CertificateDer, PrivatePkcs8KeyDer};

/// A new CA and a server certificate it signed for one hostname.
///
/// ```
/// use rs_conformance::certs::LocalCerts;
///
/// let certs = LocalCerts::generate("localhost")?;
/// assert!(certs.ca_pem.starts_with("-----BEGIN CERTIFICATE-----"));
/// assert!(certs.key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
/// # Ok::<(), rcgen::Error>(())
/// ```
pub struct LocalCerts {
    /// The CA's certificate: what the runner trusts.
    pub ca: CertificateDer<'static>,
    /// The CA's certificate, PEM.
    pub ca_pem: String,
    /// The server's certificate.
    pub cert: CertificateDer<'static>,
    /// The server's certificate, PEM: the whole chain the server presents.
    pub chain_pem: String,
    /// The server's private key (ECDSA P-256).
    pub key: PrivatePkcs8KeyDer<'static>,
    /// The server's private key, PEM (PKCS#8).
    pub key_pem: String,
}

impl LocalCerts {
    /// Makes a CA and a certificate for `hostname` signed by it; the CA's
    /// key is forgotten, so nothing else can be signed with it.
    pub fn generate(hostname: &str) -> Result<Self, rcgen::Error> {
        let mut ca_params = CertificateParams::new(Vec::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        // A name of its own: a client trusting another run's CA then
        // reports an unknown issuer, not a bad signature.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        ca_params.distinguished_name.push(
            DnType::CommonName,
            format!("rs-conformance throwaway CA {}-{nanos}", std::process::id()),
        );
        let ca_key = KeyPair::generate()?;
        let ca_cert = ca_params.self_signed(&ca_key)?;
        let issuer = Issuer::new(ca_params, ca_key);

        let key = KeyPair::generate()?;
        let cert = CertificateParams::new(vec![hostname.to_owned()])?.signed_by(&key, &issuer)?;
        Ok(Self {
            ca: ca_cert.der().clone(),
            ca_pem: ca_cert.pem(),
            cert: cert.der().clone(),
            chain_pem: cert.pem(),
            key: PrivatePkcs8KeyDer::from(key.serialize_der()),
            key_pem: key.serialize_pem(),
        })
    }
}
