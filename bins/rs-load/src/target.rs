//! Where every connection of a run goes and how it asks for the upgrade:
//! built once from the options, shared by the load threads.

use std::net::SocketAddr;

use crate::cli::{Options, WSS_NEEDS_CA};
use crate::error::LoadError;
use crate::handshake::RequestTemplate;
use crate::tls::TlsClient;

/// The server under test.
#[derive(Debug)]
pub(crate) struct Target {
    /// Its loopback address.
    pub(crate) addr: SocketAddr,
    /// The upgrade request, without its key.
    pub(crate) request: RequestTemplate,
    /// For `wss://`: the TLS client every connection starts a session from.
    pub(crate) tls: Option<TlsClient>,
}

impl Target {
    /// The target of `options`: the URL's host resolved (loopback only)
    /// and, for `wss://`, the `--ca` file read.
    pub(crate) fn new(options: &Options) -> Result<Self, LoadError> {
        let addr = options.url.resolve_loopback()?;
        let request = RequestTemplate::new(
            &options.url.target,
            &options.host_header,
            options.origin.as_deref(),
        );
        let tls = match (options.url.tls, &options.ca) {
            (true, Some(ca)) => Some(TlsClient::new(ca, options.url.server_name()?)?),
            (true, None) => return Err(LoadError::Usage(WSS_NEEDS_CA.into())),
            (false, _) => None,
        };
        Ok(Self { addr, request, tls })
    }
}
