//! Listening sockets: one per worker per configured address, all bound with
//! `SO_REUSEPORT` so that the kernel spreads new connections over workers.
//!
//! Binding and listening are two steps. The daemon binds first (ports below
//! 1024 need privileges it drops later) but listens only once the worker
//! starts, so a port that accepts connections belongs to a server that has
//! loaded its certificates and apps: a client, a health check or a test never
//! connects to a server that is about to fail its startup.

use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use rs_conf::PortConfig;
use rs_http::Scheme;
use socket2::{Domain, Protocol, Socket, Type};

/// The listen backlog of each socket.
const BACKLOG: i32 = 1024;
/// How long a port another server listens on is given to be released (a
/// restart's old server may still be closing its listeners).
const RELEASE_WAIT: Duration = Duration::from_secs(1);

/// One of a worker's sockets, bound but not yet listening, and what it
/// serves.
#[derive(Debug)]
pub struct Listener {
    socket: Socket,
    addr: SocketAddr,
    interface: Option<String>,
    /// The configured `port_number` (endpoint URLs are routed by it).
    pub port: u16,
    /// [`Scheme::Wss`]: only TLS connections (`"is_unencrypted": false`);
    /// [`Scheme::Ws`]: only plaintext ones.
    pub scheme: Scheme,
}

impl Listener {
    /// Binds `addr` (one of the port's
    /// [`bind_addrs`](PortConfig::bind_addrs)) for one worker, serving what
    /// the port's `is_unencrypted` says.
    pub fn bind(port: &PortConfig, addr: SocketAddr) -> Result<Self, BindError> {
        Ok(Self {
            socket: bind(port, addr)?,
            addr,
            interface: port.interface.clone(),
            port: port.port_number,
            scheme: if port.is_unencrypted {
                Scheme::Ws
            } else {
                Scheme::Wss
            },
        })
    }

    /// Starts accepting connections (non-blocking).
    pub(crate) fn listen(self) -> Result<TcpListener, BindError> {
        self.socket.listen(BACKLOG).map_err(|error| BindError {
            addr: self.addr,
            interface: self.interface,
            error,
        })?;
        Ok(self.socket.into())
    }
}

/// A port that could not be listened on; names the address and the reason.
#[derive(Debug)]
pub struct BindError {
    /// The address.
    pub addr: SocketAddr,
    /// The interface, when the port has one.
    pub interface: Option<String>,
    /// What the system said.
    pub error: io::Error,
}

impl fmt::Display for BindError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot listen on {}", self.addr)?;
        if let Some(interface) = &self.interface {
            write!(f, " (interface {interface})")?;
        }
        write!(f, ": {}", self.error)?;
        if self.error.kind() == io::ErrorKind::PermissionDenied && self.addr.port() < 1024 {
            f.write_str(" (ports below 1024 need root or CAP_NET_BIND_SERVICE)")?;
        }
        if self.error.kind() == io::ErrorKind::AddrInUse {
            f.write_str(" (another process, perhaps another ringsocket, listens on it)")?;
        }
        if self.error.kind() == io::ErrorKind::AddrNotAvailable {
            f.write_str(" (no network interface of this machine has that address)")?;
        }
        if self.error.raw_os_error() == Some(libc::EAFNOSUPPORT) && self.addr.is_ipv6() {
            // A port without ip_addrs listens on :: as well as 0.0.0.0.
            f.write_str(
                " (IPv6 is disabled on this machine: set \"ipv4only\": true on this port, or \
                 list IPv4 \"ip_addrs\" only)",
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for BindError {}

/// Binds one non-blocking socket for `addr` with the port's options, without
/// listening yet.
///
/// `SO_REUSEPORT` would also let a second server started by the same user
/// join the group and take half of the new connections without a word: a
/// socket bound first without it finds such a server, since a listening
/// socket refuses it. With `SO_REUSEADDR` set, nothing else does: neither
/// this server's own sockets for the same address (bound, not yet
/// listening: every worker's is bound before any listens, which is why
/// this works for more than one), nor a previous run's connections still
/// draining or waiting out `TIME_WAIT`. A listener still there is given
/// [`RELEASE_WAIT`] to go: a server told to stop a moment ago closes its
/// own in milliseconds. Two servers starting at the same instant can still
/// both pass before either listens.
fn bind(port: &PortConfig, addr: SocketAddr) -> Result<Socket, BindError> {
    let error = |error| BindError {
        addr,
        interface: port.interface.clone(),
        error,
    };
    let deadline = Instant::now() + RELEASE_WAIT;
    loop {
        match unbound_socket(port, addr, false).and_then(|probe| probe.bind(&addr.into())) {
            Ok(()) => break,
            Err(e) if e.kind() == io::ErrorKind::AddrInUse && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return Err(error(e)),
        }
    }
    let socket = unbound_socket(port, addr, true).map_err(error)?;
    socket.bind(&addr.into()).map_err(error)?;
    Ok(socket)
}

/// A socket for `addr` with the port's options, `SO_REUSEPORT` if `shared`.
fn unbound_socket(port: &PortConfig, addr: SocketAddr, shared: bool) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(shared)?;
    socket.set_nonblocking(true)?;
    if addr.is_ipv6() {
        // Separate stacks unless the operator asked for IPv4 inside IPv6.
        socket.set_only_v6(!port.ipv4_is_embedded_in_ipv6)?;
    }
    if let Some(interface) = &port.interface {
        socket.bind_device(Some(interface.as_bytes()))?;
    }
    Ok(socket)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(addr: &str, errno: i32) -> String {
        BindError {
            addr: addr.parse().unwrap(),
            interface: None,
            error: io::Error::from_raw_os_error(errno),
        }
        .to_string()
    }

    #[test]
    fn a_bind_error_says_what_to_change() {
        assert!(message("[::]:8080", libc::EAFNOSUPPORT).ends_with(
            "(IPv6 is disabled on this machine: set \"ipv4only\": true on this port, or list \
             IPv4 \"ip_addrs\" only)"
        ));
        assert!(
            message("192.0.2.1:8080", libc::EADDRNOTAVAIL)
                .starts_with("cannot listen on 192.0.2.1:8080: ")
        );
        assert!(
            message("192.0.2.1:8080", libc::EADDRNOTAVAIL)
                .ends_with("(no network interface of this machine has that address)")
        );
        assert!(
            message("0.0.0.0:80", libc::EACCES).ends_with("need root or CAP_NET_BIND_SERVICE)")
        );
        assert!(message("0.0.0.0:8080", libc::EADDRINUSE).ends_with("listens on it)"));
    }
}
