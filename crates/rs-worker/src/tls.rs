//! TLS certificates for `wss://` ports: loading the configured PEM files,
//! choosing a certificate by SNI, and swapping them on reload.
//!
//! Every worker shares one [`TlsConfig`]. A new connection takes the
//! server configuration current at its accept, so a reload changes the
//! certificates of later handshakes only; connections already open keep
//! theirs.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rs_conf::CertConfig;
use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use crate::current::Current;

/// The TLS server configuration all workers share, replaced as a whole on
/// reload: [`prepare`](Self::prepare), then [`install`](Self::install).
///
/// ```no_run
/// # fn certs() -> Vec<rs_conf::CertConfig> { unimplemented!() }
/// # fn new_router() -> rs_http::Router<rs_worker::Endpoint> { unimplemented!() }
/// # let routes = rs_worker::Routes::new(rs_http::Router::new());
/// use rs_worker::TlsConfig;
/// let tls = TlsConfig::load(&certs())?;
/// // On SIGHUP: new handshakes use the new files with the new endpoints; a
/// // failure keeps the old.
/// match TlsConfig::prepare(&certs()) {
///     Ok(prepared) => routes.replace_with(Some(new_router()), || tls.install(prepared)),
///     Err(e) => log::error!("certificates not reloaded: {e}"),
/// }
/// # Ok::<(), rs_worker::CertError>(())
/// ```
#[derive(Debug)]
pub struct TlsConfig {
    current: Current<Configs>,
}

/// One version of the certificates, as rustls configurations.
#[derive(Debug)]
struct Configs {
    /// Chooses by SNI only.
    by_name: Arc<ServerConfig>,
    /// For connections to an address some cert lists among its
    /// `hostnames`: the same, but a client sending no SNI (clients send
    /// none when they connect to an IP address) gets that cert.
    by_local_addr: HashMap<IpAddr, Arc<ServerConfig>>,
}

impl TlsConfig {
    /// Reads every cert's key and chain and builds the configuration:
    /// TLS 1.2 and 1.3 with rustls's safe defaults (on the `ring`
    /// provider), ALPN `http/1.1`, and the certificate chosen by the
    /// client's SNI (see [`CertError`] for what can fail).
    pub fn load(certs: &[CertConfig]) -> Result<Self, CertError> {
        Ok(Self {
            current: Current::new(build(certs)?),
        })
    }

    /// A reload's first half: reads the files again and builds the
    /// configuration, to be [installed](Self::install) if all is well (on
    /// error the certificates in use stay).
    pub fn prepare(certs: &[CertConfig]) -> Result<PreparedCerts, CertError> {
        Ok(PreparedCerts(build(certs)?))
    }

    /// Makes new handshakes use `certs`. Called within
    /// [`Routes::replace_with`](crate::Routes::replace_with), so that a
    /// connection accepted meanwhile gets endpoints and certificates of one
    /// version.
    pub fn install(&self, certs: PreparedCerts) {
        self.current.set(certs.0);
    }

    /// The configuration for a connection accepted now on the address
    /// `local` (if known).
    pub(crate) fn current(&self, local: Option<IpAddr>) -> Arc<ServerConfig> {
        let configs = self.current.get();
        local
            .and_then(|ip| configs.by_local_addr.get(&ip.to_canonical()))
            .unwrap_or(&configs.by_name)
            .clone()
    }
}

/// Certificates read and checked by [`TlsConfig::prepare`], not in use yet.
#[derive(Debug)]
pub struct PreparedCerts(Configs);

/// Why the certificates could not be loaded. Each names the cert (its index
/// in `certs`), the file and the reason.
#[derive(Debug)]
#[non_exhaustive]
pub enum CertError {
    /// No certificates are configured.
    NoCerts,
    /// A file could not be read (missing, unreadable, a folder...).
    Read {
        /// The cert's index in `certs`.
        cert: usize,
        /// `privkey_path` or `pubchain_path`.
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// What the system said.
        error: io::Error,
    },
    /// A file is not valid PEM.
    Pem {
        /// The cert's index in `certs`.
        cert: usize,
        /// `privkey_path` or `pubchain_path`.
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// What the PEM parser said.
        error: pem::Error,
    },
    /// The chain file holds no `CERTIFICATE` section.
    NoCertificate {
        /// The cert's index in `certs`.
        cert: usize,
        /// The chain file.
        path: PathBuf,
    },
    /// The key file holds no PKCS#8, RSA (PKCS#1) or SEC1 private key.
    NoKey {
        /// The cert's index in `certs`.
        cert: usize,
        /// The key file.
        path: PathBuf,
    },
    /// The key file holds an encrypted PKCS#8 key, which needs a
    /// passphrase the server cannot ask for.
    EncryptedKey {
        /// The cert's index in `certs`.
        cert: usize,
        /// The key file.
        path: PathBuf,
    },
    /// The key is of a kind or algorithm that cannot be used.
    BadKey {
        /// The cert's index in `certs`.
        cert: usize,
        /// The key file.
        path: PathBuf,
        /// What rustls said.
        error: rustls::Error,
    },
    /// The first certificate of the chain cannot be parsed.
    BadCertificate {
        /// The cert's index in `certs`.
        cert: usize,
        /// The chain file.
        path: PathBuf,
        /// What rustls said.
        error: rustls::Error,
    },
    /// The private key is not the one of the chain's first certificate.
    KeyMismatch {
        /// The cert's index in `certs`.
        cert: usize,
        /// The key file.
        key_path: PathBuf,
        /// The chain file.
        chain_path: PathBuf,
    },
    /// rustls refused the configuration (not expected with its defaults).
    Config(rustls::Error),
}

impl fmt::Display for CertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = |f: &mut fmt::Formatter<'_>, cert: &usize, key: &str, path: &Path| {
            write!(f, "certs[{cert}].{key} \"{}\": ", path.display())
        };
        match self {
            Self::NoCerts => f.write_str("no certs are configured, but a port serves wss://"),
            Self::Read {
                cert,
                key,
                path,
                error,
            } => {
                file(f, cert, key, path)?;
                match error.kind() {
                    io::ErrorKind::NotFound => f.write_str("no such file"),
                    io::ErrorKind::PermissionDenied => {
                        write!(f, "cannot be read by the server's user: {error}")
                    }
                    _ => write!(f, "cannot be read: {error}"),
                }
            }
            Self::Pem {
                cert,
                key,
                path,
                error,
            } => {
                file(f, cert, key, path)?;
                write!(f, "not a valid PEM file: {error}")
            }
            Self::NoCertificate { cert, path } => {
                file(f, cert, "pubchain_path", path)?;
                f.write_str("no certificate (\"BEGIN CERTIFICATE\") found in the PEM file")
            }
            Self::NoKey { cert, path } => {
                file(f, cert, "privkey_path", path)?;
                f.write_str("no private key (PKCS#8, RSA or SEC1) found in the PEM file")
            }
            Self::EncryptedKey { cert, path } => {
                file(f, cert, "privkey_path", path)?;
                f.write_str(
                    "the private key is encrypted (\"BEGIN ENCRYPTED PRIVATE KEY\") and the \
                     server cannot ask for its passphrase: store it decrypted, readable by root \
                     only (openssl pkey -in KEY -out KEY.plain)",
                )
            }
            Self::BadKey { cert, path, error } => {
                file(f, cert, "privkey_path", path)?;
                write!(
                    f,
                    "unusable private key (the server takes RSA keys of 2048 to 8192 bits, \
                     ECDSA P-256 or P-384, and Ed25519): {error}"
                )
            }
            Self::BadCertificate { cert, path, error } => {
                file(f, cert, "pubchain_path", path)?;
                write!(f, "the first certificate cannot be parsed: {error}")
            }
            Self::KeyMismatch {
                cert,
                key_path,
                chain_path,
            } => {
                file(f, cert, "privkey_path", key_path)?;
                write!(
                    f,
                    "the private key does not match the certificate in \"{}\"",
                    chain_path.display()
                )
            }
            Self::Config(error) => write!(f, "TLS configuration refused: {error}"),
        }
    }
}

impl std::error::Error for CertError {}

/// The protocol offered through ALPN: WebSocket runs over HTTP/1.1.
const ALPN_HTTP_1_1: &[u8] = b"http/1.1";

fn build(certs: &[CertConfig]) -> Result<Configs, CertError> {
    if certs.is_empty() {
        return Err(CertError::NoCerts);
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut resolver = SniResolver::default();
    let mut by_ip = Vec::new();
    for (index, cert) in certs.iter().enumerate() {
        let key = Arc::new(load_cert(index, cert, &provider)?);
        for hostname in &cert.hostnames {
            // rs-conf guarantees each hostname belongs to one cert only.
            match hostname.strip_prefix("*.") {
                Some(parent) => resolver.wildcard.insert(parent.to_owned(), key.clone()),
                None => resolver.exact.insert(hostname.clone(), key.clone()),
            };
            if let Ok(ip) = unbracketed(hostname).parse::<IpAddr>() {
                by_ip.push((ip.to_canonical(), key.clone()));
            }
        }
    }
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(CertError::Config)?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(resolver.clone()));
    config.alpn_protocols = vec![ALPN_HTTP_1_1.to_vec()];
    let by_local_addr = by_ip
        .into_iter()
        .map(|(ip, key)| {
            let mut for_ip = config.clone();
            for_ip.cert_resolver = Arc::new(SniResolver {
                without_sni: Some(key),
                ..resolver.clone()
            });
            (ip, Arc::new(for_ip))
        })
        .collect();
    Ok(Configs {
        by_name: Arc::new(config),
        by_local_addr,
    })
}

/// The `hostnames` the certificate `leaf` is not valid for, as a client
/// checks it; a wildcard `*.example.com` stands for any one label before
/// `example.com`. (A certificate that cannot be parsed is reported when it
/// is used; here it covers nothing.)
fn uncovered_hostnames<'h>(leaf: &CertificateDer<'_>, hostnames: &'h [String]) -> Vec<&'h str> {
    let parsed = webpki::EndEntityCert::try_from(leaf);
    hostnames
        .iter()
        .filter(|host| {
            let name = match host.strip_prefix('*') {
                Some(suffix) => format!("ringsocket-check{suffix}"),
                None => unbracketed(host).to_owned(),
            };
            let covered = parsed.as_ref().is_ok_and(|cert| {
                ServerName::try_from(name.as_str())
                    .is_ok_and(|name| cert.verify_is_valid_for_subject_name(&name).is_ok())
            });
            !covered
        })
        .map(String::as_str)
        .collect()
}

/// A hostname as a client names it: an IPv6 address is configured in
/// brackets, as in a Host header.
fn unbracketed(hostname: &str) -> &str {
    hostname.trim_start_matches('[').trim_end_matches(']')
}

/// The PEM label of an encrypted PKCS#8 key (RFC 7468 §11).
const ENCRYPTED_KEY_LABEL: &[u8] = b"-----BEGIN ENCRYPTED PRIVATE KEY-----";

/// Reads one cert's chain and key and checks that they belong together.
fn load_cert(
    index: usize,
    cert: &CertConfig,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, CertError> {
    let (chain_path, key_path) = (&cert.pubchain_path, &cert.privkey_path);
    let chain_pem = read(index, "pubchain_path", chain_path)?;
    let pem_error = |key, path: &Path, error| CertError::Pem {
        cert: index,
        key,
        path: path.to_owned(),
        error,
    };
    let chain = CertificateDer::pem_slice_iter(&chain_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| pem_error("pubchain_path", chain_path, error))?;
    if chain.is_empty() {
        return Err(CertError::NoCertificate {
            cert: index,
            path: chain_path.clone(),
        });
    }
    let key_pem = read(index, "privkey_path", key_path)?;
    let key = match PrivateKeyDer::from_pem_slice(&key_pem) {
        Ok(key) => key,
        Err(pem::Error::NoItemsFound)
            if key_pem
                .windows(ENCRYPTED_KEY_LABEL.len())
                .any(|w| w == ENCRYPTED_KEY_LABEL) =>
        {
            return Err(CertError::EncryptedKey {
                cert: index,
                path: key_path.clone(),
            });
        }
        Err(pem::Error::NoItemsFound) => {
            return Err(CertError::NoKey {
                cert: index,
                path: key_path.clone(),
            });
        }
        Err(error) => return Err(pem_error("privkey_path", key_path, error)),
    };
    let signing_key = provider
        .key_provider
        .load_private_key(key)
        .map_err(|error| CertError::BadKey {
            cert: index,
            path: key_path.clone(),
            error,
        })?;
    for host in uncovered_hostnames(&chain[0], &cert.hostnames) {
        log::warn!(
            "certs[{index}].hostnames: the certificate in \"{}\" does not cover \"{host}\": \
             clients will refuse it for that name",
            chain_path.display()
        );
    }
    let certified = CertifiedKey::new(chain, signing_key);
    match certified.keys_match() {
        // Unknown: the key cannot tell its public half; nothing to compare.
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {
            Ok(certified)
        }
        Err(rustls::Error::InconsistentKeys(_)) => Err(CertError::KeyMismatch {
            cert: index,
            key_path: key_path.clone(),
            chain_path: chain_path.clone(),
        }),
        Err(error) => Err(CertError::BadCertificate {
            cert: index,
            path: chain_path.clone(),
            error,
        }),
    }
}

/// The largest key or certificate chain file read: real ones are a few
/// kilobytes; the cap keeps a wrong path from being read whole.
const MAX_PEM_FILE: u64 = 4 << 20;

fn read(cert: usize, key: &'static str, path: &Path) -> Result<Vec<u8>, CertError> {
    rs_conf::read_named_file(path, MAX_PEM_FILE).map_err(|error| CertError::Read {
        cert,
        key,
        path: path.to_owned(),
        error,
    })
}

/// Picks the certificate whose `hostnames` cover the client's SNI: an exact
/// name first, else a `*.` wildcard covering its first label. Without SNI,
/// the cert listing the address the client connected to, if any. Otherwise
/// there is none and the handshake fails.
#[derive(Debug, Default, Clone)]
struct SniResolver {
    exact: HashMap<String, Arc<CertifiedKey>>,
    /// By the part after `*.`.
    wildcard: HashMap<String, Arc<CertifiedKey>>,
    /// The cert of the local address the connection came to.
    without_sni: Option<Arc<CertifiedKey>>,
}

impl SniResolver {
    fn find(&self, server_name: &str) -> Option<Arc<CertifiedKey>> {
        let name = server_name.trim_end_matches('.').to_ascii_lowercase();
        if let Some(key) = self.exact.get(&name) {
            return Some(key.clone());
        }
        let (label, parent) = name.split_once('.')?;
        if label.is_empty() {
            return None;
        }
        self.wildcard.get(parent).cloned()
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let Some(name) = client_hello.server_name() else {
            if self.without_sni.is_none() {
                log::debug!("TLS handshake without SNI: no certificate to offer");
            }
            return self.without_sni.clone();
        };
        let key = self.find(name);
        if key.is_none() {
            log::debug!("TLS handshake for \"{name}\": no cert covers this name");
        }
        key
    }
}

#[cfg(test)]
mod tests;
