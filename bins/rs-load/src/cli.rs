//! The command line: a mode and its options, checked before anything runs.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use rustls_pki_types::ServerName;

use crate::error::LoadError;

/// The usage text printed by `--help`.
pub const USAGE: &str = "\
usage: rs-load MODE [OPTIONS]

modes:
  echo       closed loop: each connection sends a message and waits for its echo
  broadcast  each round every client sends one message and receives everyone's
  connect    handshakes per second: open, upgrade, close, repeat
  idle       open idle connections and report the server's memory per connection

options:
  --url URL          ws://HOST[:PORT][/PATH] or wss://HOST[:PORT][/PATH], loopback
                     only (default ws://127.0.0.1:8080/echo; /broadcast for broadcast)
  --ca PATH          wss:// only, and required: the CA certificates to trust (PEM);
                     the server's certificate must be valid for the URL's host,
                     which is also the name sent in SNI (an IP address sends none)
  --host VALUE       Host header (default: the URL's host and port)
  --origin VALUE     send this Origin header
  --conns N          connections (connect: concurrent handshakes) (default 100)
  --size BYTES       message payload size (default 20; broadcast: at least 16)
  --text             send text messages (default binary)
  --threads N        load threads (default 1)
  --duration SECS    how long to run; bounds every mode (default 10)
  --count N          send exactly N messages in total (connect: N handshakes;
                     broadcast: a multiple of --conns), verify, exit
  --server-pid PID   report the server's CPU use (and, for idle, memory; required)
  --help             this text
";

/// What to measure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Closed-loop echo.
    Echo,
    /// N² deliveries per round.
    Broadcast,
    /// Handshakes per second.
    Connect,
    /// Server memory per idle connection.
    Idle,
}

impl Mode {
    /// The mode's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Echo => "echo",
            Self::Broadcast => "broadcast",
            Self::Connect => "connect",
            Self::Idle => "idle",
        }
    }

    /// What one unit of progress is, for reports.
    pub fn unit(self) -> &'static str {
        match self {
            Self::Echo => "messages",
            Self::Broadcast => "deliveries",
            Self::Connect => "handshakes",
            Self::Idle => "connections",
        }
    }
}

/// Why a `wss://` URL without `--ca` is refused.
pub(crate) const WSS_NEEDS_CA: &str =
    "wss:// needs --ca PATH: the PEM file of the CA certificates to trust";

/// A `ws://` or `wss://` URL split into its parts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WsUrl {
    /// `wss://`: the connections run over TLS.
    pub tls: bool,
    /// The host as written (brackets removed from an IPv6 address).
    pub host: String,
    /// The port (80 if none; 443 for `wss://`).
    pub port: u16,
    /// The request target: the path and any query (`/` if none).
    pub target: String,
    /// `host[:port]` as written, the default `Host` header.
    pub authority: String,
}

impl WsUrl {
    /// Parses `ws://HOST[:PORT][/PATH]` or `wss://HOST[:PORT][/PATH]`.
    ///
    /// ```
    /// let url = rs_load::WsUrl::parse("ws://[::1]:9000/echo?x=1").unwrap();
    /// assert_eq!((url.host.as_str(), url.port, url.target.as_str()), ("::1", 9000, "/echo?x=1"));
    /// assert_eq!(url.authority, "[::1]:9000");
    /// let url = rs_load::WsUrl::parse("wss://localhost/echo").unwrap();
    /// assert_eq!((url.tls, url.port), (true, 443));
    /// assert!(rs_load::WsUrl::parse("https://localhost/").is_err());
    /// ```
    pub fn parse(url: &str) -> Result<Self, LoadError> {
        let usage = |why: &str| LoadError::Usage(format!("--url {url:?}: {why}"));
        let lower = url.to_ascii_lowercase();
        let (tls, rest) = if lower.starts_with("wss://") {
            (true, &url["wss://".len()..])
        } else if lower.starts_with("ws://") {
            (false, &url["ws://".len()..])
        } else {
            return Err(usage(
                "expected ws://HOST[:PORT][/PATH] or wss://HOST[:PORT][/PATH]",
            ));
        };
        let (authority, path) = match rest.find(['/', '?']) {
            Some(at) if rest.as_bytes()[at] == b'/' => (&rest[..at], rest[at..].to_owned()),
            Some(at) => (&rest[..at], format!("/{}", &rest[at..])),
            None => (rest, "/".to_owned()),
        };
        let (host, port) = if let Some(inner) = authority.strip_prefix('[') {
            let (host, after) = inner.split_once(']').ok_or_else(|| usage("unclosed '['"))?;
            (host, after.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(usage("no host"));
        }
        let port = match port {
            None if tls => 443,
            None => 80,
            Some(p) => p
                .parse()
                .ok()
                .filter(|&p| p > 0)
                .ok_or_else(|| usage("bad port"))?,
        };
        if path
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
        {
            return Err(usage("whitespace or control characters in the path"));
        }
        Ok(Self {
            tls,
            host: host.to_owned(),
            port,
            target: path,
            authority: authority.to_owned(),
        })
    }

    /// The name a TLS client checks the server's certificate against (and
    /// sends in SNI, unless it is an IP address): the host, which must be a
    /// DNS name or an IP address.
    pub fn server_name(&self) -> Result<ServerName<'static>, LoadError> {
        ServerName::try_from(self.host.clone()).map_err(|_| {
            LoadError::Usage(format!(
                "--url host {:?} is neither a DNS name nor an IP address, which TLS needs",
                self.host
            ))
        })
    }

    /// The first loopback address the host resolves to.
    pub fn resolve_loopback(&self) -> Result<SocketAddr, LoadError> {
        let addrs: Vec<SocketAddr> = (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map_err(|source| LoadError::Resolve {
                host: self.host.clone(),
                source,
            })?
            .collect();
        addrs
            .iter()
            .copied()
            .find(|a| a.ip().is_loopback())
            .ok_or(LoadError::NotLoopback {
                host: self.host.clone(),
                addrs,
            })
    }
}

/// Everything a run needs, as given on the command line.
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    /// What to measure.
    pub mode: Mode,
    /// The target.
    pub url: WsUrl,
    /// The `Host` header.
    pub host_header: String,
    /// The `Origin` header, if any.
    pub origin: Option<String>,
    /// `wss://`: the PEM file of the CA certificates to trust.
    pub ca: Option<PathBuf>,
    /// Connections (connect: concurrent handshakes).
    pub conns: usize,
    /// Payload bytes per message.
    pub size: usize,
    /// Text instead of binary messages.
    pub text: bool,
    /// Load threads.
    pub threads: usize,
    /// The bound on the measurement.
    pub duration: Duration,
    /// Exactly this many messages (handshakes) in total.
    pub count: Option<u64>,
    /// The server's process, for its CPU use and memory.
    pub server_pid: Option<u32>,
}

/// What the command line asks for.
#[derive(Clone, Debug, PartialEq)]
// Made once per process: boxing the options would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum Command {
    /// Run with these options.
    Run(Options),
    /// Print [`USAGE`].
    Help,
}

/// The largest `--size`: more than any server's default limit, and a bound
/// on the memory the frames take.
const MAX_SIZE: usize = 64 << 20;
/// The longest `--duration`: an hour.
const MAX_DURATION: f64 = 3600.0;

impl Options {
    /// Parses the arguments after the program name.
    ///
    /// ```
    /// use rs_load::{Command, Mode, Options};
    /// let args = ["echo", "--conns", "10", "--size", "512", "--count", "1000"];
    /// let Command::Run(options) = Options::parse(args.map(String::from)).unwrap() else {
    ///     unreachable!()
    /// };
    /// assert_eq!((options.mode, options.conns, options.size), (Mode::Echo, 10, 512));
    /// assert_eq!(options.count, Some(1000));
    /// assert_eq!(options.url.target, "/echo");
    /// ```
    pub fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Command, LoadError> {
        match Flags::read(args)? {
            Some(flags) => flags.check().map(Command::Run),
            None => Ok(Command::Help),
        }
    }
}

/// The command line as given, each value read but not yet checked against
/// the others.
struct Flags {
    mode: Option<Mode>,
    url: Option<String>,
    host_header: Option<String>,
    origin: Option<String>,
    ca: Option<PathBuf>,
    conns: usize,
    size: usize,
    text: bool,
    threads: usize,
    duration: f64,
    count: Option<u64>,
    server_pid: Option<u32>,
}

impl Flags {
    /// Reads `args`; `None` if help is asked for.
    fn read<I: IntoIterator<Item = String>>(args: I) -> Result<Option<Self>, LoadError> {
        let usage = |message: String| LoadError::Usage(message);
        let mut args = args.into_iter();
        let mut flags = Self {
            mode: None,
            url: None,
            host_header: None,
            origin: None,
            ca: None,
            conns: 100,
            size: 20,
            text: false,
            threads: 1,
            duration: 10.0,
            count: None,
            server_pid: None,
        };
        while let Some(arg) = args.next() {
            let mut value = |name: &str| {
                args.next()
                    .ok_or_else(|| usage(format!("{name} needs a value")))
            };
            match arg.as_str() {
                "--help" | "-h" => return Ok(None),
                "--url" => flags.url = Some(value("--url")?),
                "--host" => flags.host_header = Some(header_value("--host", value("--host")?)?),
                "--origin" => flags.origin = Some(header_value("--origin", value("--origin")?)?),
                "--ca" => flags.ca = Some(PathBuf::from(value("--ca")?)),
                "--conns" => flags.conns = number(&value("--conns")?, "--conns")?,
                "--size" => flags.size = number(&value("--size")?, "--size")?,
                "--text" => flags.text = true,
                "--threads" => flags.threads = number(&value("--threads")?, "--threads")?,
                "--duration" => {
                    let v = value("--duration")?;
                    flags.duration = v
                        .parse()
                        .ok()
                        .filter(|d: &f64| *d > 0.0 && *d <= MAX_DURATION)
                        .ok_or_else(|| {
                            usage(format!("--duration {v:?}: expected seconds, more than 0 and at most {MAX_DURATION}"))
                        })?;
                }
                "--count" => flags.count = Some(number(&value("--count")?, "--count")?),
                "--server-pid" => {
                    flags.server_pid = Some(number(&value("--server-pid")?, "--server-pid")?)
                }
                "echo" | "broadcast" | "connect" | "idle" if flags.mode.is_none() => {
                    flags.mode = Some(match arg.as_str() {
                        "echo" => Mode::Echo,
                        "broadcast" => Mode::Broadcast,
                        "connect" => Mode::Connect,
                        _ => Mode::Idle,
                    });
                }
                other => return Err(usage(format!("unexpected argument {other:?}"))),
            }
        }
        Ok(Some(flags))
    }

    /// The options, once the flags are checked against each other.
    fn check(self) -> Result<Options, LoadError> {
        let usage = |message: String| LoadError::Usage(message);
        let Self {
            mode,
            url,
            host_header,
            origin,
            ca,
            conns,
            size,
            text,
            threads,
            duration,
            count,
            server_pid,
        } = self;
        let mode = mode.ok_or_else(|| usage("no mode: echo, broadcast, connect or idle".into()))?;
        let url = WsUrl::parse(url.as_deref().unwrap_or(match mode {
            Mode::Broadcast => "ws://127.0.0.1:8080/broadcast",
            _ => "ws://127.0.0.1:8080/echo",
        }))?;
        match (url.tls, &ca) {
            (true, None) => return Err(usage(WSS_NEEDS_CA.into())),
            (false, Some(_)) => return Err(usage("--ca applies to wss:// URLs only".into())),
            (true, Some(_)) => {
                url.server_name()?;
            }
            (false, None) => {}
        }
        if conns == 0 {
            return Err(usage("--conns must be at least 1".into()));
        }
        if threads == 0 {
            return Err(usage("--threads must be at least 1".into()));
        }
        if size > MAX_SIZE {
            return Err(usage(format!("--size must be at most {MAX_SIZE}")));
        }
        if mode == Mode::Broadcast && size < crate::broadcast::PREFIX_LEN {
            return Err(usage(format!(
                "broadcast messages carry a {}-byte sender and round: --size must be at least {}",
                crate::broadcast::PREFIX_LEN,
                crate::broadcast::PREFIX_LEN
            )));
        }
        if mode == Mode::Broadcast && conns > u32::MAX as usize {
            return Err(usage("--conns too large".into()));
        }
        match (mode, count) {
            (Mode::Idle, Some(_)) => return Err(usage("--count does not apply to idle".into())),
            (Mode::Broadcast, Some(n)) if n % conns as u64 != 0 => {
                return Err(usage(format!(
                    "broadcast --count {n} is not a multiple of --conns {conns} (whole rounds only)"
                )));
            }
            _ => {}
        }
        if mode == Mode::Idle && server_pid.is_none() {
            return Err(usage(
                "idle measures the server's memory: give --server-pid".into(),
            ));
        }
        Ok(Options {
            mode,
            host_header: host_header.unwrap_or_else(|| url.authority.clone()),
            url,
            origin,
            ca,
            conns,
            size,
            text,
            threads: threads.min(conns),
            duration: Duration::from_secs_f64(duration),
            count,
            server_pid,
        })
    }
}

/// A header value given on the command line: no control characters (a
/// line break would end the header and start another).
fn header_value(name: &str, value: String) -> Result<String, LoadError> {
    if value.bytes().any(|b| b.is_ascii_control()) {
        return Err(LoadError::Usage(format!(
            "{name} {value:?}: control characters in a header value"
        )));
    }
    Ok(value)
}

fn number<T: std::str::FromStr>(value: &str, name: &str) -> Result<T, LoadError> {
    value
        .parse()
        .map_err(|_| LoadError::Usage(format!("{name} {value:?}: expected a whole number")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, LoadError> {
        Options::parse(args.iter().map(|s| s.to_string()))
    }

    fn options(args: &[&str]) -> Options {
        match parse(args) {
            Ok(Command::Run(options)) => options,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_host_or_origin_with_a_line_break_is_refused() {
        for option in ["--host", "--origin"] {
            assert_eq!(
                usage_error(&[option, "a\r\nX-Injected: 1"]),
                format!("{option} \"a\\r\\nX-Injected: 1\": control characters in a header value")
            );
        }
    }

    fn usage_error(args: &[&str]) -> String {
        match parse(args) {
            Err(LoadError::Usage(message)) => message,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn defaults() {
        let o = options(&["echo"]);
        assert_eq!(o.url.authority, "127.0.0.1:8080");
        assert_eq!(o.url.target, "/echo");
        assert_eq!(o.host_header, "127.0.0.1:8080");
        assert_eq!((o.conns, o.size, o.text, o.threads), (100, 20, false, 1));
        assert_eq!(o.duration, Duration::from_secs(10));
        assert_eq!((o.count, o.server_pid, o.origin), (None, None, None));
        assert_eq!((o.url.tls, o.ca), (false, None));
        assert_eq!(options(&["broadcast"]).url.target, "/broadcast");
    }

    #[test]
    fn every_option_is_read() {
        let o = options(&[
            "--text",
            "connect",
            "--url",
            "ws://localhost:9/x",
            "--host",
            "h:1",
            "--origin",
            "http://o",
            "--conns",
            "3",
            "--size",
            "7",
            "--threads",
            "2",
            "--duration",
            "0.5",
            "--count",
            "9",
            "--server-pid",
            "42",
        ]);
        assert_eq!(o.mode, Mode::Connect);
        assert_eq!((o.url.host.as_str(), o.url.port), ("localhost", 9));
        assert_eq!(o.host_header, "h:1");
        assert_eq!(o.origin.as_deref(), Some("http://o"));
        assert_eq!((o.conns, o.size, o.text, o.threads), (3, 7, true, 2));
        assert_eq!(o.duration, Duration::from_millis(500));
        assert_eq!((o.count, o.server_pid), (Some(9), Some(42)));
    }

    #[test]
    fn threads_are_capped_at_connections() {
        assert_eq!(
            options(&["echo", "--conns", "2", "--threads", "8"]).threads,
            2
        );
    }

    #[test]
    fn help_wins() {
        assert_eq!(parse(&["echo", "--help"]).unwrap(), Command::Help);
    }

    #[test]
    fn bad_command_lines_say_what_is_wrong() {
        assert_eq!(
            usage_error(&[]),
            "no mode: echo, broadcast, connect or idle"
        );
        assert_eq!(usage_error(&["echo", "--conns"]), "--conns needs a value");
        assert_eq!(
            usage_error(&["echo", "--conns", "x"]),
            "--conns \"x\": expected a whole number"
        );
        assert_eq!(
            usage_error(&["echo", "--conns", "0"]),
            "--conns must be at least 1"
        );
        assert_eq!(
            usage_error(&["echo", "--threads", "0"]),
            "--threads must be at least 1"
        );
        assert_eq!(
            usage_error(&["echo", "--bogus"]),
            "unexpected argument \"--bogus\""
        );
        assert_eq!(
            usage_error(&["echo", "echo"]),
            "unexpected argument \"echo\""
        );
        assert_eq!(
            usage_error(&["echo", "--duration", "0"]),
            "--duration \"0\": expected seconds, more than 0 and at most 3600"
        );
        assert_eq!(
            usage_error(&["echo", "--size", "67108865"]),
            "--size must be at most 67108864"
        );
        assert_eq!(
            usage_error(&["broadcast", "--size", "15"]),
            "broadcast messages carry a 16-byte sender and round: --size must be at least 16"
        );
        assert_eq!(
            usage_error(&["broadcast", "--conns", "3", "--count", "10"]),
            "broadcast --count 10 is not a multiple of --conns 3 (whole rounds only)"
        );
        assert_eq!(
            usage_error(&["idle", "--count", "1"]),
            "--count does not apply to idle"
        );
        assert_eq!(
            usage_error(&["idle"]),
            "idle measures the server's memory: give --server-pid"
        );
    }

    #[test]
    fn urls() {
        let u = WsUrl::parse("ws://localhost").unwrap();
        assert_eq!((u.port, u.target.as_str()), (80, "/"));
        let u = WsUrl::parse("WS://127.0.0.1:8080?q").unwrap();
        assert_eq!((u.host.as_str(), u.target.as_str()), ("127.0.0.1", "/?q"));
        for (url, why) in [
            (
                "http://x/",
                "expected ws://HOST[:PORT][/PATH] or wss://HOST[:PORT][/PATH]",
            ),
            ("wss://:443/", "no host"),
            ("ws://:80/", "no host"),
            ("ws://x:0/", "bad port"),
            ("ws://x:99999/", "bad port"),
            ("ws://[::1/", "unclosed '['"),
            ("ws://x/a b", "whitespace or control characters in the path"),
        ] {
            match WsUrl::parse(url) {
                Err(LoadError::Usage(m)) => assert_eq!(m, format!("--url {url:?}: {why}")),
                other => panic!("{url}: {other:?}"),
            }
        }
    }

    #[test]
    fn wss_urls_default_to_port_443() {
        let u = WsUrl::parse("WSS://localhost/echo").unwrap();
        assert!(u.tls);
        assert_eq!(
            (u.host.as_str(), u.port, u.target.as_str()),
            ("localhost", 443, "/echo")
        );
        assert_eq!(u.authority, "localhost");
        assert_eq!(WsUrl::parse("wss://[::1]:9443").unwrap().port, 9443);
        assert!(!WsUrl::parse("ws://localhost").unwrap().tls);
    }

    #[test]
    fn wss_takes_the_ca_file() {
        let o = options(&[
            "echo",
            "--url",
            "wss://localhost:9443/echo",
            "--ca",
            "ca.pem",
        ]);
        assert!(o.url.tls);
        assert_eq!(o.ca, Some(PathBuf::from("ca.pem")));
        assert_eq!(o.host_header, "localhost:9443");
    }

    #[test]
    fn wss_without_a_ca_is_a_usage_error() {
        assert_eq!(
            usage_error(&["echo", "--url", "wss://localhost:9443/echo"]),
            "wss:// needs --ca PATH: the PEM file of the CA certificates to trust"
        );
        assert_eq!(
            usage_error(&["connect", "--url", "wss://localhost/", "--ca"]),
            "--ca needs a value"
        );
    }

    #[test]
    fn a_ca_without_wss_is_a_usage_error() {
        assert_eq!(
            usage_error(&["echo", "--ca", "ca.pem"]),
            "--ca applies to wss:// URLs only"
        );
    }

    #[test]
    fn the_tls_server_name_is_the_host() {
        let u = WsUrl::parse("wss://localhost:1/").unwrap();
        assert_eq!(
            u.server_name().unwrap(),
            ServerName::try_from("localhost").unwrap()
        );
        let v6 = WsUrl::parse("wss://[::1]:1/").unwrap();
        assert!(matches!(
            v6.server_name().unwrap(),
            ServerName::IpAddress(_)
        ));
        assert_eq!(
            usage_error(&["echo", "--url", "wss://a..b:1/", "--ca", "ca.pem"]),
            "--url host \"a..b\" is neither a DNS name nor an IP address, which TLS needs"
        );
    }

    #[test]
    fn only_loopback_targets_resolve() {
        let local = WsUrl::parse("ws://127.0.0.1:8080/").unwrap();
        assert_eq!(
            local.resolve_loopback().unwrap(),
            "127.0.0.1:8080".parse().unwrap()
        );
        let v6 = WsUrl::parse("ws://[::1]:8080/").unwrap();
        assert!(v6.resolve_loopback().unwrap().ip().is_loopback());
        let named = WsUrl::parse("wss://localhost:8443/").unwrap();
        assert!(named.resolve_loopback().unwrap().ip().is_loopback());
        let remote = WsUrl::parse("ws://192.0.2.1:8080/").unwrap();
        assert!(matches!(
            remote.resolve_loopback(),
            Err(LoadError::NotLoopback { addrs, .. }) if addrs == ["192.0.2.1:8080".parse().unwrap()]
        ));
    }
}
