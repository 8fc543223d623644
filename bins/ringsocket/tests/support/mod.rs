//! Starting the real `ringsocket` binary on a free loopback port with the
//! example apps, and talking to it with tungstenite (an independent client).

#![allow(dead_code, unreachable_pub)]

pub mod probe;
pub mod raw;
pub mod tls;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tungstenite::protocol::WebSocketConfig;
use tungstenite::{Message, WebSocket};

pub type Client = WebSocket<Tcp>;

/// A TCP stream that makes interrupted reads and writes again.
///
/// Linux fails a read or write on a socket with a timeout with `EINTR` when
/// the process is stopped and resumed (signal(7)), as a CI machine may do
/// to it. Nothing was transferred then, so the call is simply made again
/// (with its whole timeout); tungstenite and rustls would otherwise report
/// the interruption as a failure.
#[derive(Debug)]
pub struct Tcp(pub TcpStream);

impl Read for Tcp {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        read_some(&mut self.0, buf)
    }
}

impl Write for Tcp {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        loop {
            match self.0.write(buf) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                done => return done,
            }
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// The folder holding the example apps' shared objects.
pub fn examples_dir() -> PathBuf {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_ringsocket"));
    bin.parent().unwrap().join("examples")
}

/// The shared object of an example app, which must have been built
/// (`cargo test --workspace` builds them; alone: `cargo build -p rs-examples --examples`).
pub fn app_path(name: &str) -> PathBuf {
    let path = examples_dir().join(format!("lib{name}.so"));
    assert!(
        path.exists(),
        "{} is missing: run `cargo build -p rs-examples --examples` first",
        path.display()
    );
    path
}

/// Whether the tests run as root (effective user id 0).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"))
}

/// The user a server started by root switches to: `rstest`, created if
/// missing (the default, `ringsock`, is the operator's to create). Empty
/// when not root, where no switch happens.
pub fn run_as_user() -> String {
    if !is_root() {
        return String::new();
    }
    ensure_system_user("rstest", &[]);
    "\"user\": \"rstest\", ".to_owned()
}

/// Creates the system user `name` (no home, no shell; `useradd` with
/// `options` too) unless it exists. Root only.
pub fn ensure_system_user(name: &str, options: &[&str]) {
    let exists = || {
        Command::new("id")
            .args(["-u", name])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !exists() {
        // Several tests may race to create it; any of them succeeding is enough.
        let _ = Command::new("useradd")
            .args([
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
            ])
            .args(options)
            .arg(name)
            .status();
        assert!(exists(), "cannot create the test user {name}");
    }
}

/// A port free a moment ago, never handed out before by this process.
///
/// `bind(0)` could give two tests running side by side the same port
/// between one's probe and its server's `listen`, and the servers' listeners
/// share a port with `SO_REUSEPORT`: one server would then take the other's
/// connections, and reset them when it stops. So ports come from a range
/// below Linux's ephemeral ports (32768 and up, which clients' connections
/// and `bind(0)` use), each once per process, spread by process id.
pub fn free_port() -> u16 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let base = std::process::id() % 100 * 100;
    for _ in 0..10_000 {
        let port = 20_000 + (base + NEXT.fetch_add(1, Ordering::Relaxed)) % 10_000;
        let port = u16::try_from(port).expect("below 30000");
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port on 127.0.0.1 between 20000 and 29999");
}

/// One app of a test server: its name, its shared object, its endpoints
/// as (endpoint id, path, port index), and JSON5 members added to each
/// endpoint (e.g. `"subprotocols": ["chat"],`).
pub struct AppSpec {
    pub name: &'static str,
    pub path: PathBuf,
    pub endpoints: Vec<(u16, String, usize)>,
    pub endpoint_members: &'static str,
}

impl AppSpec {
    /// An example app with one endpoint `/<name>` on the first port.
    pub fn simple(name: &'static str) -> Self {
        Self::at(name, app_path(name))
    }

    /// The app `name` in the shared object at `path`, with one endpoint
    /// `/<name>` on the first port.
    pub fn at(name: &'static str, path: PathBuf) -> Self {
        Self {
            name,
            path,
            endpoints: vec![(0, format!("/{name}"), 0)],
            endpoint_members: "",
        }
    }
}

/// A configuration with plaintext `ports` on 127.0.0.1, the example `apps`
/// and `globals` (JSON5 root members, each followed by a comma).
pub fn config_text(ports: &[u16], apps: &[AppSpec], globals: &str) -> String {
    let ports_json: Vec<String> = ports
        .iter()
        .map(|p| {
            format!(
                r#"{{ "port_number": {p}, "is_unencrypted": true, "ip_addrs": ["127.0.0.1"] }}"#
            )
        })
        .collect();
    let apps_json: Vec<String> = apps
        .iter()
        .map(|app| {
            let endpoints: Vec<String> = app
                .endpoints
                .iter()
                .map(|(id, path, port)| {
                    format!(
                        r#"{{ {} "endpoint_id": {id}, "url": "ws://localhost:{}{path}", "allowed_origins": ["http://allowed.example"] }}"#,
                        app.endpoint_members,
                        ports[*port]
                    )
                })
                .collect();
            format!(
                r#"{{ "name": "{}", "app_path": "{}", "endpoints": [{}] }}"#,
                app.name,
                app.path.display(),
                endpoints.join(", ")
            )
        })
        .collect();
    format!(
        "{{\n  \"ports\": [{}],\n  \"apps\": [{}],\n  {globals}\n  \"log_level\": \"debug\"\n}}\n",
        ports_json.join(", "),
        apps_json.join(", "),
    )
}

/// The server binary, killed (SIGKILL) when the thread that starts it
/// ends: a test that is itself killed, not unwound, leaves no server
/// behind (the server keeps the signal when it switches user).
pub fn server_command() -> Command {
    server_command_dying_by(libc::SIGKILL)
}

/// The server binary, sent `signal` when the thread that starts it ends.
pub fn server_command_dying_by(signal: libc::c_int) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ringsocket"));
    let test = std::process::id() as libc::pid_t;
    // SAFETY: the closure runs in the forked child before exec, where only
    // async-signal-safe calls are allowed: prctl and getppid are system
    // calls, and building the errors allocates nothing.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, signal as libc::c_ulong, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The test died between the fork and the prctl: no signal will
            // come, so do not start.
            if libc::getppid() != test {
                return Err(std::io::ErrorKind::NotFound.into());
            }
            Ok(())
        });
    }
    command
}

/// The server binary on `config`, its stderr piped, with `env` added to
/// its environment.
fn spawn_server(config: &Path, env: &[(&str, &str)]) -> Child {
    spawn_server_with(server_command(), config, env)
}

fn spawn_server_with(mut command: Command, config: &Path, env: &[(&str, &str)]) -> Child {
    command
        .arg(config)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Whether something listens on `port` of 127.0.0.1. A connection to an
/// unused port can meet itself (TCP simultaneous open, when the kernel
/// picks that very port as the source): that is not a listener.
pub fn accepts(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port))
        .is_ok_and(|stream| stream.local_addr().ok() != stream.peer_addr().ok())
}

/// Runs the server on a configuration that cannot start; returns its exit
/// code and stderr. While it starts and fails, it connects to `port` as
/// fast as it can and asserts that no connection is ever accepted: a port
/// listens only once everything that can stop startup has passed.
pub fn start_failing(config: &str, dir: &Path, port: u16) -> (Option<i32>, String) {
    let path = dir.join("ringsocket.json5");
    std::fs::write(&path, config).unwrap();
    let mut child = spawn_server(&path, &[]);
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut accepted = 0;
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the server did not exit");
        accepted += usize::from(accepts(port));
    }
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(
        accepted, 0,
        "a failing server accepted connections: {stderr}"
    );
    (output.status.code(), stderr)
}

/// A running server; killed when dropped.
pub struct Server {
    child: Option<Child>,
    pub ports: Vec<u16>,
    _dir: tempfile::TempDir,
    pub config_path: PathBuf,
}

impl Server {
    /// Starts a server with one plaintext port and `apps`.
    pub fn start(apps: &[AppSpec]) -> Self {
        Self::start_with(1, apps, "")
    }

    /// Starts a server with `port_count` plaintext ports on 127.0.0.1, the
    /// given apps, and `globals` (JSON5 members, e.g. `"fd_alloc_c": 10,`).
    pub fn start_with(port_count: usize, apps: &[AppSpec], globals: &str) -> Self {
        let ports: Vec<u16> = (0..port_count).map(|_| free_port()).collect();
        let config = config_text(&ports, apps, &format!("{}{globals}", run_as_user()));
        Self::start_config(tempfile::tempdir().unwrap(), &config, ports)
    }

    /// Starts a server on the configuration text `config`, written to
    /// `ringsocket.json5` in `dir` (kept until the server is dropped), and
    /// waits until every port in `ports` accepts TCP connections.
    pub fn start_config(dir: tempfile::TempDir, config: &str, ports: Vec<u16>) -> Self {
        let mut server = Self::spawn_config(dir, config, ports);
        server.wait_until_listening();
        server
    }

    /// As [`Server::start_config`], without waiting for the ports.
    pub fn spawn_config(dir: tempfile::TempDir, config: &str, ports: Vec<u16>) -> Self {
        Self::spawn_config_env(dir, config, ports, &[])
    }

    /// As [`Server::spawn_config`], with `env` added to the server's
    /// environment.
    pub fn spawn_config_env(
        dir: tempfile::TempDir,
        config: &str,
        ports: Vec<u16>,
        env: &[(&str, &str)],
    ) -> Self {
        let config_path = dir.path().join("ringsocket.json5");
        std::fs::write(&config_path, config).unwrap();
        let child = spawn_server(&config_path, env);
        Server {
            child: Some(child),
            ports,
            _dir: dir,
            config_path,
        }
    }

    /// As [`Server::spawn_config_env`], the server started with the
    /// open-files limit (`RLIMIT_NOFILE`) at `soft` and `hard`.
    pub fn spawn_config_with_open_files(
        dir: tempfile::TempDir,
        config: &str,
        ports: Vec<u16>,
        env: &[(&str, &str)],
        (soft, hard): (u64, u64),
    ) -> Self {
        let config_path = dir.path().join("ringsocket.json5");
        std::fs::write(&config_path, config).unwrap();
        let mut command = server_command();
        // SAFETY: the closure runs in the forked child before exec, where
        // only async-signal-safe calls are allowed: setrlimit is a system
        // call, and building the error allocates nothing.
        unsafe {
            command.pre_exec(move || {
                let limit = libc::rlimit {
                    rlim_cur: soft,
                    rlim_max: hard,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = spawn_server_with(command, &config_path, env);
        Server {
            child: Some(child),
            ports,
            _dir: dir,
            config_path,
        }
    }

    /// Waits (up to 20 s) until every port accepts TCP connections; panics
    /// if the server exits first.
    pub fn wait_until_listening(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        for &port in &self.ports {
            while !accepts(port) {
                if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                    panic!(
                        "the server exited with {status} before listening: {}",
                        self.stderr()
                    );
                }
                assert!(
                    Instant::now() < deadline,
                    "the server did not listen on {port} in time"
                );
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }

    /// `ws://127.0.0.1:<first port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("ws://127.0.0.1:{}{path}", self.ports[0])
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.ports[0]))
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Sends a signal to the server.
    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc_kill(self.pid() as i32, signal) };
    }

    /// Sends SIGTERM and waits (bounded) for the exit status.
    pub fn terminate(mut self) -> ExitStatus {
        self.signal(15);
        self.wait_exit(Duration::from_secs(40))
    }

    /// Waits for the server to exit on its own (bounded).
    pub fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let child = self.child.as_mut().unwrap();
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                self.child = None;
                return status;
            }
            assert!(Instant::now() < deadline, "the server did not exit in time");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// What the server wrote to stderr so far (only after it exited).
    pub fn stderr(&mut self) -> String {
        let mut text = String::new();
        if let Some(mut err) = self.child.as_mut().and_then(|child| child.stderr.take()) {
            let _ = err.read_to_string(&mut text);
        }
        text
    }

    /// `ws://127.0.0.1:<port of index port><path>`.
    pub fn url_on(&self, port: usize, path: &str) -> String {
        format!("ws://127.0.0.1:{}{path}", self.ports[port])
    }

    /// The loopback address of the port of index `port`.
    pub fn addr_on(&self, port: usize) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.ports[port]))
    }

    /// Reads the server's stderr from now on in a background thread (so
    /// that a chatty server never blocks on a full pipe); [`Server::stderr`]
    /// returns nothing afterwards.
    pub fn capture_stderr(&mut self) -> Log {
        let log = Log::default();
        if let Some(mut err) = self.child.as_mut().and_then(|c| c.stderr.take()) {
            let text = log.0.clone();
            std::thread::spawn(move || {
                let mut chunk = [0u8; 4096];
                while let Ok(n) = err.read(&mut chunk) {
                    if n == 0 {
                        break;
                    }
                    text.lock().unwrap().extend_from_slice(&chunk[..n]);
                }
            });
        }
        log
    }

    /// How many file descriptors the server holds, from /proc.
    pub fn fd_count(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .unwrap()
            .count()
    }

    /// The server's resident memory in KiB, from /proc.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

unsafe extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, signal: i32) -> i32;
}

/// What the server wrote to stderr, collected by [`Server::capture_stderr`].
#[derive(Clone, Default)]
pub struct Log(Arc<Mutex<Vec<u8>>>);

impl Log {
    /// Everything so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    /// Waits (at most `limit`) until a line contains `needle`; returns
    /// whether one did.
    pub fn wait_for(&self, needle: &str, limit: Duration) -> bool {
        self.wait_until(limit, |text| text.contains(needle))
    }

    /// Waits (at most `limit`) until `done` holds for everything so far;
    /// returns whether it did.
    pub fn wait_until(&self, limit: Duration, done: impl Fn(&str) -> bool) -> bool {
        let deadline = Instant::now() + limit;
        while !done(&self.text()) {
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        true
    }
}

/// Connects a WebSocket client with small buffers (for tests holding
/// thousands of them), with a 10 s read timeout. Returns the handshake
/// error instead of panicking.
pub fn try_connect_small(addr: SocketAddr, path: &str) -> Result<Client, String> {
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0);
    handshake(addr, &format!("ws://{addr}{path}"), config)
}

/// Connects a WebSocket client to a `ws://<address>/<path>` URL, with a
/// 10 s read timeout so that tests fail rather than hang.
pub fn connect(url: &str) -> Client {
    let addr = url
        .strip_prefix("ws://")
        .and_then(|rest| rest.split('/').next())
        .and_then(|authority| authority.parse().ok())
        .unwrap_or_else(|| panic!("not a ws://<ip>:<port>/ URL: {url}"));
    let config = WebSocketConfig::default()
        .max_message_size(Some(64 << 20))
        .max_frame_size(Some(64 << 20));
    handshake(addr, url, config).unwrap()
}

/// Connects a WebSocket client to `target` (a path and query) on the
/// server's first port, offering the subprotocols `offer` (a
/// `Sec-WebSocket-Protocol` value) if given, with a 10 s read timeout.
/// tungstenite checks the answer against the offer. Returns the client and
/// the `101` response.
pub fn connect_offering(
    server: &Server,
    target: &str,
    offer: Option<&str>,
) -> (Client, tungstenite::handshake::client::Response) {
    let offer = offer.map(|offer| ("Sec-WebSocket-Protocol", offer.as_bytes()));
    connect_sending_headers(server, target, offer.as_slice())
}

/// Connects to `target` on the server's first port, adding the header
/// lines `headers` (a name twice makes two lines) to the request.
pub fn connect_sending_headers(
    server: &Server,
    target: &str,
    headers: &[(&str, &[u8])],
) -> (Client, tungstenite::handshake::client::Response) {
    use tungstenite::client::IntoClientRequest;
    let mut request = server.url(target).into_client_request().unwrap();
    for &(name, value) in headers {
        let name = tungstenite::http::HeaderName::from_bytes(name.as_bytes()).unwrap();
        let value = tungstenite::http::HeaderValue::from_bytes(value).unwrap();
        request.headers_mut().append(name, value);
    }
    let stream = TcpStream::connect(server.addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    tungstenite::client(request, Tcp(stream)).unwrap()
}

/// Spawns a server on the echo app with `globals` and the test shim
/// (`support/fail_accept.c`: accept4, /dev/null opens and TCP_INFO as its
/// variables `env` plan them) preloaded. The shim's folder, returned, must
/// outlive the server. Not waited for: see `Server::wait_until_listening`.
pub fn spawn_echo_with_shim(globals: &str, env: &[(&str, &str)]) -> (Server, tempfile::TempDir) {
    let build = tempfile::tempdir().unwrap();
    let shim = build.path().join("libfail_accept.so");
    build_c(
        "bins/ringsocket/tests/support/fail_accept.c",
        &shim,
        &["-ldl"],
    );
    let port = free_port();
    let globals = format!("{}{globals}", run_as_user());
    let config = config_text(&[port], &[AppSpec::simple("echo")], &globals);
    let mut vars = vec![("LD_PRELOAD", shim.to_str().unwrap())];
    vars.extend_from_slice(env);
    let server = Server::spawn_config_env(tempfile::tempdir().unwrap(), &config, vec![port], &vars);
    (server, build)
}

/// Builds the C file `source` (under the repository's root) into the
/// shared object `out` with `cc`, warnings as errors, and `extra`
/// arguments after the source; panics with the compiler's output if it
/// fails.
pub fn build_c(source: &str, out: &Path, extra: &[&str]) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let output = Command::new("cc")
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-O2"])
        .args(["-shared", "-fPIC", "-o"])
        .arg(out)
        .arg(root.join(source))
        .args(extra)
        .current_dir(&root)
        .output()
        .unwrap_or_else(|e| panic!("cannot run `cc` (a C compiler is needed): {e}"));
    assert!(
        output.status.success(),
        "{source} does not build:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Opens a TCP connection with a 10 s read timeout and upgrades it.
fn handshake(addr: SocketAddr, url: &str, config: WebSocketConfig) -> Result<Client, String> {
    let stream = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    match tungstenite::client::client_with_config(url, Tcp(stream), Some(config)) {
        Ok((client, response)) if response.status() == 101 => Ok(client),
        Ok((_, response)) => Err(format!("status {}", response.status())),
        Err(e) => Err(e.to_string()),
    }
}

pub fn set_timeout(client: &Client, timeout: Duration) {
    client.get_ref().0.set_read_timeout(Some(timeout)).unwrap();
}

/// `read`, repeated when interrupted. Linux fails a read on a socket with
/// a timeout with `EINTR` when the process is stopped and resumed
/// (signal(7)), as a CI machine may do to it; nothing was read then.
pub fn read_some(stream: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        match stream.read(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            done => return done,
        }
    }
}

/// Reads the next data message (answering pings on the way).
pub fn next_message(client: &mut Client) -> Message {
    loop {
        match client.read().expect("a message") {
            Message::Ping(_) | Message::Pong(_) => {}
            message => return message,
        }
    }
}

/// Reads until the server's close frame and returns its code.
pub fn close_code(client: &mut Client) -> u16 {
    loop {
        match client.read() {
            Ok(Message::Close(Some(frame))) => return u16::from(frame.code),
            Ok(Message::Close(None)) => return 1005,
            Ok(_) => {}
            Err(e) => panic!("no close frame: {e}"),
        }
    }
}

/// Sends a raw HTTP request and returns the response head and body.
pub fn raw_http(addr: SocketAddr, request: &str) -> String {
    let mut stream = Tcp(TcpStream::connect(addr).unwrap());
    stream
        .0
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = Vec::new();
    let mut chunk = [0u8; 4096];
    // Until the server closes, or the response is whole: a 101 ends with
    // its head, other responses with their Content-Length body.
    while !http_response_is_whole(&response) {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => response.extend_from_slice(&chunk[..n]),
        }
    }
    String::from_utf8_lossy(&response).into_owned()
}

fn http_response_is_whole(response: &[u8]) -> bool {
    let Some(end) = response.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&response[..end]).to_ascii_lowercase();
    if head.starts_with("http/1.1 101 ") {
        return true;
    }
    let body_len = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|len| len.trim().parse::<usize>().ok());
    body_len.is_some_and(|len| response.len() >= end + 4 + len)
}

/// An upgrade request for `path` with extra header lines.
pub fn upgrade_request(path: &str, extra_headers: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{extra_headers}\r\n"
    )
}

/// The client id in the probe app's welcome ("welcome ID ...").
pub fn welcome_id(welcome: &str) -> u64 {
    welcome
        .strip_prefix("welcome ")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("a welcome with an id: {welcome}"))
}

/// Asserts that nothing arrives on `client` (named `what`) for 300 ms.
pub fn assert_silent(client: &mut Client, what: &str) {
    set_timeout(client, Duration::from_millis(300));
    match client.read() {
        Err(tungstenite::Error::Io(e))
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) => {}
        other => panic!("{what}: expected silence, got {other:?}"),
    }
    set_timeout(client, Duration::from_secs(10));
}

/// The most a TCP socket's send buffer grows to (tcp_wmem's maximum).
pub fn wmem_max() -> usize {
    std::fs::read_to_string("/proc/sys/net/ipv4/tcp_wmem")
        .unwrap()
        .split_whitespace()
        .nth(2)
        .unwrap()
        .parse()
        .unwrap()
}
