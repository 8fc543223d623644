//! The validated configuration the daemon, workers and apps read.
//!
//! Every value here has passed validation: numbers are in range, URLs parsed,
//! paths resolved. Structs are `#[non_exhaustive]` so they can only be made
//! by parsing a file or a string (see [`Config::from_json5_str`]).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;

use crate::url::{AllowedOrigin, EndpointUrl};

/// The minimum importance of log messages that are recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    /// `"error"`: only errors.
    Error,
    /// `"warning"`.
    Warning,
    /// `"notice"` (the default).
    Notice,
    /// `"info"`.
    Info,
    /// `"debug"`: everything.
    Debug,
}

impl LogLevel {
    /// All levels, from most to least important.
    pub const ALL: [LogLevel; 5] = [
        LogLevel::Error,
        LogLevel::Warning,
        LogLevel::Notice,
        LogLevel::Info,
        LogLevel::Debug,
    ];

    /// The configuration spelling, e.g. `"notice"`.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warning => "warning",
            LogLevel::Notice => "notice",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
        }
    }

    /// The level with this configuration spelling (exact, lowercase).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.as_str() == name)
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A whole, validated configuration file.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Config {
    /// The file this configuration was read from, as given.
    pub file: PathBuf,
    /// `"ports"`: at least one.
    pub ports: Vec<PortConfig>,
    /// `"certs"`: at least one when any port is encrypted, else possibly none.
    pub certs: Vec<CertConfig>,
    /// `"apps"`: at least one.
    pub apps: Vec<AppConfig>,
    /// `"log_level"`.
    pub log_level: LogLevel,
    /// `"worker_c"` as configured (≥ 1), or `None` to compute it at startup;
    /// see [`Config::effective_worker_c`].
    pub worker_c: Option<usize>,
    /// `"shutdown_wait_http"`, seconds (≥ 1). Also bounds the opening
    /// handshake.
    pub shutdown_wait_http: u32,
    /// `"shutdown_wait_ws"`, seconds (≥ 1).
    pub shutdown_wait_ws: u32,
    /// `"idle_timeout"` (this project), seconds: a client that sends
    /// nothing for that long is pinged, and closed with 1001 if it still
    /// sends nothing for as long again; 0 never.
    pub idle_timeout: u32,
    /// `"fd_alloc_c"`: maximum simultaneous file descriptors (≥ 1).
    pub fd_alloc_c: usize,
    /// `"max_ws_msg_size"`: maximum payload bytes of one message (≥ 1).
    pub max_ws_msg_size: usize,
    /// `"max_ws_frame_chain_size"`: maximum bytes of one message including
    /// frame headers and interleaved control frames (≥ `max_ws_msg_size`).
    pub max_ws_frame_chain_size: usize,
    /// `"realloc_multiplier"`: the C original's growth factor of full
    /// buffers (> 1, finite); accepted for its configuration files, unused
    /// by this server (rings double).
    pub realloc_multiplier: f64,
    /// `"worker_rbuf_size"`: worker read buffer bytes (≥ 1; a worker uses
    /// 4 KiB to 64 KiB of it, see rs-worker).
    pub worker_rbuf_size: usize,
    /// `"inbound_ring_buf_size"`: the most bytes a worker→app ring grows
    /// to, unless a maximum-size message needs more (≥ 1).
    pub inbound_ring_buf_size: usize,
    /// `"outbound_ring_buf_size"`: the most bytes an app→worker ring grows
    /// to, unless a maximum-size message needs more (≥ 1).
    pub outbound_ring_buf_size: usize,
    /// `"owrefs_elem_c"`: the C original's initial outbound write
    /// reference slots (≥ 1); accepted for its configuration files, unused
    /// by this server (each connection queues the frames it still owes).
    pub owrefs_elem_c: usize,
    /// `"epoll_buf_elem_c"`: events per `epoll_wait` call (≥ 1).
    pub epoll_buf_elem_c: usize,
    /// `"update_queue_size"`: global ring publication batch (≥ 1).
    pub update_queue_size: usize,
    /// `"user"` (this project): the user to switch to when started as root.
    pub user: String,
    /// `"max_pending_output"` (this project): bytes queued for one client
    /// and not yet written before it is closed as a slow consumer
    /// (≥ `max_ws_msg_size`).
    pub max_pending_output: usize,
    /// `"max_pending_output_total"` (this project): bytes queued for all
    /// the clients of one worker together, each frame counted once however
    /// many clients it waits for; past it, the clients with the most
    /// pending are closed as slow consumers (≥ `max_pending_output`).
    pub max_pending_output_total: usize,
    /// `"max_partial_msgs_size"` (this project): payload bytes of messages
    /// not yet received whole that one worker holds for all its clients
    /// together; past it, the clients holding the most are closed with
    /// 1013 (≥ `max_ws_msg_size`).
    pub max_partial_msgs_size: usize,
    /// `"max_http_request_size"` (this project): maximum bytes of an opening
    /// handshake request head (≥ 256).
    pub max_http_request_size: usize,
    /// `"max_conns_per_ip"` (this project): the most connections one
    /// client address may hold across all workers (an IPv6 address counted
    /// by its /64 prefix); `None` (the default): no limit below
    /// `fd_alloc_c`.
    pub max_conns_per_ip: Option<usize>,
}

impl Config {
    /// The number of worker threads to run on a machine with
    /// `available_cpus` CPUs: `worker_c` if configured, else CPUs minus apps,
    /// at least 1 and at most [`MAX_WORKER_C`](crate::defaults::MAX_WORKER_C).
    ///
    /// ```
    /// let conf = rs_conf::Config::from_json5_str(r#"{
    ///     ports: [{port_number: 8080, is_unencrypted: true}],
    ///     apps: [{name: "a", app_path: "/a.so", endpoints: [{endpoint_id: 0, url: "ws://localhost:8080/"}]}],
    /// }"#, "x.json5").unwrap();
    /// assert_eq!(conf.effective_worker_c_for(4), 3);
    /// assert_eq!(conf.effective_worker_c_for(1), 1);
    /// assert_eq!(conf.effective_worker_c_for(5000), 1024);
    /// ```
    pub fn effective_worker_c_for(&self, available_cpus: usize) -> usize {
        self.worker_c.unwrap_or_else(|| {
            available_cpus
                .saturating_sub(self.apps.len())
                .clamp(1, crate::defaults::MAX_WORKER_C)
        })
    }

    /// [`effective_worker_c_for`](Self::effective_worker_c_for) with this
    /// machine's available parallelism (1 if it cannot be determined).
    pub fn effective_worker_c(&self) -> usize {
        self.effective_worker_c_for(std::thread::available_parallelism().map_or(1, |n| n.get()))
    }

    /// What is valid but works other than it reads, each naming its key:
    /// a port no endpoint is on (every request to it is answered 404), and
    /// certs without a port that serves `wss://` (never loaded, so their
    /// contents are not checked).
    ///
    /// ```
    /// let conf = rs_conf::Config::from_json5_str(r#"{
    ///     ports: [{port_number: 8080, is_unencrypted: true}, {port_number: 8081, is_unencrypted: true}],
    ///     apps: [{name: "a", app_path: "/a.so", endpoints: [{endpoint_id: 0, url: "ws://localhost:8080/"}]}],
    /// }"#, "x.json5").unwrap();
    /// assert_eq!(
    ///     conf.warnings(),
    ///     ["ports[1]: no endpoint's url is on port 8081 (ws://): every request to it is answered 404"]
    /// );
    /// ```
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        let endpoints = || self.apps.iter().flat_map(|app| &app.endpoints);
        for (i, port) in self.ports.iter().enumerate() {
            let scheme = if port.is_unencrypted { "ws" } else { "wss" };
            let served = endpoints().any(|e| {
                e.url.port == port.port_number && e.url.is_secure() != port.is_unencrypted
            });
            if !served {
                warnings.push(format!(
                    "ports[{i}]: no endpoint's url is on port {} ({scheme}://): every request to \
                     it is answered 404",
                    port.port_number
                ));
            }
        }
        if !self.certs.is_empty() && self.ports.iter().all(|p| p.is_unencrypted) {
            warnings.push(
                "certs: no port serves wss:// (all have \"is_unencrypted\": true), so the certs \
                 are not loaded (nor their contents checked)"
                    .to_owned(),
            );
        }
        warnings
    }
}

/// One `"ports"` element: a TCP port to listen on.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PortConfig {
    /// `"port_number"`: 1-65535.
    pub port_number: u16,
    /// `"is_unencrypted"`: `true` serves `ws://` only, `false` (default)
    /// serves `wss://` only.
    pub is_unencrypted: bool,
    /// `"ip_addrs"`, or `None` for every address (see [`Self::bind_addrs`]).
    /// Never `Some` together with `interface`.
    pub ip_addrs: Option<Vec<IpAddr>>,
    /// `"interface"`: accept only connections to this network interface.
    pub interface: Option<String>,
    /// `"ipv4only"`: accept IPv4 only. Never together with `ipv6only`.
    pub ipv4only: bool,
    /// `"ipv6only"`: accept IPv6 only.
    pub ipv6only: bool,
    /// `"ipv4_is_embedded_in_ipv6"`: one dual-stack IPv6 socket with
    /// IPv4-mapped addresses instead of separate IPv4 and IPv6 sockets.
    /// Never together with `ipv4only` or `ipv6only`.
    pub ipv4_is_embedded_in_ipv6: bool,
}

impl PortConfig {
    /// The socket addresses to bind. With `ip_addrs`, those addresses; else
    /// the unspecified address of each accepted family: `[::]` alone when
    /// `ipv4_is_embedded_in_ipv6` (a dual-stack socket: `IPV6_V6ONLY` off),
    /// `0.0.0.0` for `ipv4only`, `[::]` for `ipv6only`, and both otherwise
    /// (the IPv6 socket then with `IPV6_V6ONLY` on). With
    /// `ipv4_is_embedded_in_ipv6`, an IPv4 address is bound in its mapped
    /// form (`::ffff:a.b.c.d`) on such a socket, so its clients appear
    /// mapped as the option says.
    ///
    /// ```
    /// use std::net::SocketAddr;
    /// let text = r#"{
    ///     ports: [{ port_number: 8080, is_unencrypted: true, ip_addrs: ["127.0.0.1"],
    ///               ipv4_is_embedded_in_ipv6: true }],
    ///     apps: [{ name: "echo", app_path: "/opt/echo.so",
    ///              endpoints: [{ endpoint_id: 0, url: "ws://localhost:8080/echo" }] }],
    /// }"#;
    /// let config = rs_conf::Config::from_json5_str(text, "/etc/ringsocket.json")?;
    /// let mapped: SocketAddr = "[::ffff:127.0.0.1]:8080".parse().unwrap();
    /// assert_eq!(config.ports[0].bind_addrs(), [mapped]);
    /// # Ok::<(), rs_conf::ConfigErrors>(())
    /// ```
    pub fn bind_addrs(&self) -> Vec<SocketAddr> {
        let v4 = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
        let v6 = IpAddr::V6(Ipv6Addr::UNSPECIFIED);
        let ips = match &self.ip_addrs {
            Some(ips) => ips.clone(),
            None if self.ipv4_is_embedded_in_ipv6 || self.ipv6only => vec![v6],
            None if self.ipv4only => vec![v4],
            None => vec![v4, v6],
        };
        ips.into_iter()
            .map(|ip| match ip {
                IpAddr::V4(v4) if self.ipv4_is_embedded_in_ipv6 => IpAddr::V6(v4.to_ipv6_mapped()),
                ip => ip,
            })
            .map(|ip| SocketAddr::new(ip, self.port_number))
            .collect()
    }
}

/// One `"certs"` element: a TLS certificate and the hosts it serves.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CertConfig {
    /// `"hostnames"`, normalized (lowercase; IPv6 literals as `[::1]`); may
    /// include `*.example.com` wildcards. At least one.
    pub hostnames: Vec<String>,
    /// `"privkey_path"`, resolved against the configuration file's folder.
    pub privkey_path: PathBuf,
    /// `"pubchain_path"`, resolved against the configuration file's folder.
    pub pubchain_path: PathBuf,
}

impl CertConfig {
    /// Whether this cert serves `host` (a normalized host as in
    /// [`EndpointUrl::host`]): an exact hostname or a `*.` wildcard covering
    /// exactly one more label.
    pub fn covers(&self, host: &str) -> bool {
        self.hostnames
            .iter()
            .any(|pattern| crate::host::hostname_covers(pattern, host))
    }
}

/// One `"apps"` element: a shared object loaded at startup.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AppConfig {
    /// `"name"`: non-empty, unique among apps; prefixes the app's logs.
    pub name: String,
    /// `"app_path"`, resolved against the configuration file's folder.
    pub app_path: PathBuf,
    /// `"endpoints"`: 1 to 65535 of them.
    pub endpoints: Vec<EndpointConfig>,
    /// `"no_open_cb"`: workers need not report new connections.
    pub no_open_cb: bool,
    /// `"no_close_cb"`: workers need not report closed connections.
    pub no_close_cb: bool,
    /// `"wbuf_size"`: initial write buffer bytes (≥ 1).
    pub wbuf_size: usize,
    /// `"update_queue_size"` for this app, already resolved: the app's own
    /// value, or the global one when the app sets none.
    pub update_queue_size: usize,
    /// `"close_client_on_panic"` (this project): a panic in the app's open
    /// or read callback closes only that client (1011) instead of stopping
    /// the server; one in its close callback is logged and passed over.
    pub close_client_on_panic: bool,
}

/// One `"endpoints"` element: a URL through which clients reach an app.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EndpointConfig {
    /// `"endpoint_id"`: what `rs_get_endpoint_id()` returns to the app.
    pub endpoint_id: u16,
    /// `"url"`: unique among all endpoints; its port is a configured port
    /// of the matching encryption; a `wss://` host is covered by a cert.
    pub url: EndpointUrl,
    /// `"allowed_origins"`: browsers whose `Origin` is not listed are
    /// refused. Empty (the default) refuses every request with an `Origin`.
    pub allowed_origins: Vec<AllowedOrigin>,
    /// `"subprotocols"`: the subprotocols this endpoint speaks, in order
    /// of preference; the handshake names the first one the client offers.
    /// Empty (the default): none is ever named.
    pub subprotocols: Vec<String>,
    /// `"app_headers"`: the request headers the app may read in its open
    /// callback (names as configured, matched ASCII case-insensitively).
    /// Empty (the default): none.
    pub app_headers: Vec<String>,
}
