//! Starting the server under test: the `ringsocket` binary with the echo
//! app on a free loopback port, plain or TLS, from a configuration (and
//! certificates) the runner writes and removes once the server listens. The
//! server is killed when this handle is dropped, on every exit path of the
//! runner.

use std::collections::VecDeque;
use std::fmt;
use std::io::{BufRead as _, BufReader};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::certs::LocalCerts;
use crate::target::Target;
use crate::tls::{TlsClient, TlsError};

/// How long the server may take to listen.
const STARTUP_LIMIT: Duration = Duration::from_secs(20);
/// How many of the server's last log lines are kept for reports.
const LOG_LINES: usize = 40;

/// Why the server could not be started.
#[derive(Debug)]
pub enum StartError {
    /// A path given does not exist.
    Missing(PathBuf),
    /// Writing the configuration or starting the process failed.
    Io(String, std::io::Error),
    /// Generating the certificates for `--tls` failed.
    Certificates(rcgen::Error),
    /// The TLS client trusting the generated CA could not be set up.
    Tls(TlsError),
    /// The server exited before it listened: its status and log.
    Exited(String),
    /// It did not listen within the startup limit.
    NotListening(u16),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing(path) => write!(f, "{} does not exist", path.display()),
            Self::Io(what, e) => write!(f, "{what}: {e}"),
            Self::Certificates(e) => write!(f, "generating the TLS certificates: {e}"),
            Self::Tls(e) => write!(f, "the TLS client: {e}"),
            Self::Exited(report) => write!(f, "before listening, {report}"),
            Self::NotListening(port) => write!(
                f,
                "the server did not listen on port {port} within {STARTUP_LIMIT:?}"
            ),
        }
    }
}

impl std::error::Error for StartError {}

/// The host name the certificate of a `--tls` server is issued for, and
/// the name the runner asks for (SNI).
pub const TLS_HOSTNAME: &str = "localhost";

/// A running server started by the runner.
#[derive(Debug)]
pub struct ManagedServer {
    child: Option<Child>,
    port: u16,
    /// Where and how to reach its echo endpoint.
    target: Target,
    /// The last lines the server wrote to stderr.
    log: Arc<Mutex<VecDeque<String>>>,
}

impl ManagedServer {
    /// Starts `server_bin` with the echo app `app` on a free loopback port,
    /// endpoint `/echo`, with `max_ws_msg_size` set to `max_message_size`.
    /// When `user` is given it becomes the configuration's `"user"`: the
    /// account a server started as root switches to.
    ///
    /// With `tls` the port is encrypted (`wss://localhost:<port>/echo`): a
    /// CA and a certificate for [`TLS_HOSTNAME`] are generated into the
    /// temporary configuration folder (readable by everyone, as the
    /// server's `user` may need), and [`ManagedServer::target`] trusts that
    /// CA only.
    pub fn start(
        server_bin: &Path,
        app: &Path,
        max_message_size: usize,
        user: Option<&str>,
        tls: bool,
    ) -> Result<Self, StartError> {
        let server_bin = absolute(server_bin)?;
        let app = absolute(app)?;
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| StartError::Io("finding a free port".into(), e))?
            .port();
        let dir =
            std::env::temp_dir().join(format!("rs-conformance-{}-{port}", std::process::id()));
        let written = write_setup(&dir, port, &app, max_message_size, user, tls);
        let spawned = written.and_then(|(config_path, target)| {
            Command::new(&server_bin)
                .arg(&config_path)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .map(|child| (child, target))
                .map_err(|e| StartError::Io(format!("starting {}", server_bin.display()), e))
        });
        let mut server = match spawned {
            Ok((child, target)) => Self {
                child: Some(child),
                port,
                target,
                log: Arc::default(),
            },
            Err(error) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(error);
            }
        };
        server.collect_log();
        let listening = server.wait_until_listening();
        // The server read its configuration and certificates at startup.
        let _ = std::fs::remove_dir_all(&dir);
        listening.map(|()| server)
    }

    /// The URL of the echo endpoint.
    pub fn url(&self) -> String {
        format!(
            "{}://{}{}",
            self.target.scheme(),
            self.target.host,
            self.target.path
        )
    }

    /// The echo endpoint: the loopback address, and for TLS the name
    /// [`TLS_HOSTNAME`] and the generated CA.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// `Err` with the exit status and log if the server is no longer running.
    pub fn check_running(&mut self) -> Result<(), String> {
        let Some(child) = self.child.as_mut() else {
            return Err("the server was stopped".into());
        };
        match child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => {
                // Let the log reader take the last lines.
                std::thread::sleep(Duration::from_millis(100));
                Err(format!(
                    "the server exited ({status}); its log:\n{}",
                    self.log_tail()
                ))
            }
            Err(e) => Err(format!("cannot check the server: {e}")),
        }
    }

    /// Keeps the last lines of the server's stderr, read by a thread.
    fn collect_log(&mut self) {
        let Some(stderr) = self.child.as_mut().and_then(|c| c.stderr.take()) else {
            return;
        };
        let log = Arc::clone(&self.log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Ok(mut log) = log.lock() {
                    if log.len() == LOG_LINES {
                        log.pop_front();
                    }
                    log.push_back(line);
                }
            }
        });
    }

    fn wait_until_listening(&mut self) -> Result<(), StartError> {
        let deadline = Instant::now() + STARTUP_LIMIT;
        // A connection that meets itself (the kernel picked the unused
        // port as the source) is not the server.
        let accepts = |port| {
            TcpStream::connect(("127.0.0.1", port))
                .is_ok_and(|stream| stream.local_addr().ok() != stream.peer_addr().ok())
        };
        while !accepts(self.port) {
            if let Err(exited) = self.check_running() {
                return Err(StartError::Exited(exited));
            }
            if Instant::now() > deadline {
                return Err(StartError::NotListening(self.port));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// The last lines the server logged.
    pub fn log_tail(&self) -> String {
        self.log
            .lock()
            .map(|log| log.iter().cloned().collect::<Vec<_>>().join("\n"))
            .unwrap_or_default()
    }
}

impl Drop for ManagedServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn absolute(path: &Path) -> Result<PathBuf, StartError> {
    path.canonicalize()
        .map_err(|_| StartError::Missing(path.to_owned()))
}

/// Whether the runner runs as root: then the server it starts switches to
/// an unprivileged user, which must exist.
pub fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt as _;
    // /proc/self belongs to the process's effective user.
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// A JSON string literal.
fn json_string(text: &str) -> String {
    let mut out = String::from('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Writes the configuration (and with `tls` the certificates) into `dir`,
/// everything readable by everyone. Returns the configuration's path and
/// the target to test.
fn write_setup(
    dir: &Path,
    port: u16,
    app: &Path,
    max_message_size: usize,
    user: Option<&str>,
    tls: bool,
) -> Result<(PathBuf, Target), StartError> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)))
        .map_err(|e| StartError::Io(format!("creating {}", dir.display()), e))?;
    let loopback = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let (certs, target) = if tls {
        let generated = LocalCerts::generate(TLS_HOSTNAME).map_err(StartError::Certificates)?;
        let key_path = dir.join(format!("{TLS_HOSTNAME}.key.pem"));
        let chain_path = dir.join(format!("{TLS_HOSTNAME}.chain.pem"));
        write_readable(&dir.join("ca.pem"), &generated.ca_pem)?;
        write_readable(&key_path, &generated.key_pem)?;
        write_readable(&chain_path, &generated.chain_pem)?;
        let client = TlsClient::new(TLS_HOSTNAME, std::slice::from_ref(&generated.ca))
            .map_err(StartError::Tls)?;
        let target = Target {
            addr: loopback,
            host: format!("{TLS_HOSTNAME}:{port}"),
            path: "/echo".into(),
            tls: Some(client),
        };
        (Some((key_path, chain_path)), target)
    } else {
        let target = Target {
            addr: loopback,
            host: loopback.to_string(),
            path: "/echo".into(),
            tls: None,
        };
        (None, target)
    };
    let config_path = dir.join("conformance.json5");
    let text = config(port, app, max_message_size, user, certs.as_ref());
    write_readable(&config_path, &text)?;
    Ok((config_path, target))
}

/// Writes a file with mode 644.
fn write_readable(path: &Path, contents: &str) -> Result<(), StartError> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::write(path, contents)
        .and_then(|()| std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)))
        .map_err(|e| StartError::Io(format!("writing {}", path.display()), e))
}

/// The server's configuration (JSON, which JSON5 includes). With `certs`
/// (key and chain paths) the port is encrypted and serves [`TLS_HOSTNAME`].
fn config(
    port: u16,
    app: &Path,
    max_message_size: usize,
    user: Option<&str>,
    certs: Option<&(PathBuf, PathBuf)>,
) -> String {
    let app = json_string(&app.display().to_string());
    let user = user.map_or_else(String::new, |u| {
        format!("\n  \"user\": {},", json_string(u))
    });
    let (unencrypted, scheme, certs) = match certs {
        None => (true, "ws", String::new()),
        Some((key, chain)) => (
            false,
            "wss",
            format!(
                "\n  \"certs\": [{{ \"hostnames\": [{}], \"privkey_path\": {}, \"pubchain_path\": {} }}],",
                json_string(TLS_HOSTNAME),
                json_string(&key.display().to_string()),
                json_string(&chain.display().to_string())
            ),
        ),
    };
    format!(
        r#"{{
  "ports": [{{ "port_number": {port}, "is_unencrypted": {unencrypted}, "ip_addrs": ["127.0.0.1"] }}],{certs}
  "apps": [{{
    "name": "echo",
    "app_path": {app},
    "endpoints": [{{ "endpoint_id": 0, "url": "{scheme}://{TLS_HOSTNAME}:{port}/echo" }}]
  }}],
  "max_ws_msg_size": {max_message_size},{user}
  "log_level": "warning"
}}
"#
    )
}
