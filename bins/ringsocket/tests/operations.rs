//! Operating the daemon: privilege dropping, capabilities, limits, daemon
//! mode, and errors reported before detaching. Tests that need root (CI
//! runs as root) skip with a printed reason otherwise.

mod support;

use std::os::fd::AsRawFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::*;

/// A configuration file in a temporary folder.
struct ConfigFile {
    dir: tempfile::TempDir,
    path: std::path::PathBuf,
}

impl ConfigFile {
    fn raw(text: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        // Readable by the test user the server may switch to.
        Command::new("chmod")
            .arg("755")
            .arg(dir.path())
            .status()
            .unwrap();
        let path = dir.path().join("ringsocket.json5");
        std::fs::write(&path, text).unwrap();
        ConfigFile { dir, path }
    }

    /// Plaintext ports on 127.0.0.1 and example apps, each at `/<name>` on
    /// the first port.
    fn new(ports: &[u16], apps: &[AppSpec], globals: &str) -> Self {
        Self::raw(&config_text(ports, apps, globals))
    }

    /// The echo app, loaded from `app_path`.
    fn with_app_path(port: u16, app_path_text: &str) -> Self {
        let text = config_text(&[port], &[AppSpec::simple("echo")], "");
        Self::raw(&text.replace(&app_path("echo").display().to_string(), app_path_text))
    }
}

/// A server started in the foreground on a configuration; killed on drop.
struct Foreground {
    child: std::process::Child,
    _config: ConfigFile,
}

impl Foreground {
    fn start(config: ConfigFile, port: u16) -> Self {
        Self::start_dying_by(config, port, libc::SIGKILL)
    }

    /// Started with `signal` as its parent-death signal (see
    /// `server_command_dying_by`).
    fn start_dying_by(config: ConfigFile, port: u16, signal: libc::c_int) -> Self {
        Self::start_command(server_command_dying_by(signal), config, port)
    }

    /// `command` (a server, or what runs one) with `config` added.
    fn start_command(mut command: Command, config: ConfigFile, port: u16) -> Self {
        command.arg(&config.path);
        Foreground {
            child: spawn_listening(command, port),
            _config: config,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, then the exit status (bounded wait).
    fn terminate(mut self) -> std::process::ExitStatus {
        // SAFETY: kill(2) on our own child.
        unsafe { kill(self.child.id() as i32, 15) };
        self.exit_status("the server did not exit")
    }

    /// The exit status once the server exits (bounded wait; `late` if not).
    fn exit_status(&mut self, late: &str) -> std::process::ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "{late}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Foreground {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The user the root tests switch to; created if missing.
const TEST_USER: &str = "rstest";

/// Whether the test runs as root; says that it is skipped if not.
fn root_or_skip() -> bool {
    let root = is_root();
    if !root {
        eprintln!("skipped: needs root (CI runs as root)");
    }
    root
}

/// Ensures the test user exists (see `run_as_user`); returns its uid and gid.
fn test_user() -> (u32, u32) {
    assert!(run_as_user().contains(TEST_USER));
    let id = |flag: &str| Command::new("id").args([flag, TEST_USER]).output().unwrap();
    let number = |flag: &str| {
        String::from_utf8(id(flag).stdout)
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    (number("-u"), number("-g"))
}

/// Gives `dir` to the user the server runs as (the test user as root), as
/// an operator gives it a folder for its pidfile (`/run/ringsocket/`): the
/// server may then remove the pidfile, which root owns, at exit.
fn give_to_server_user(dir: &std::path::Path) {
    if is_root() {
        let (uid, gid) = test_user();
        std::os::unix::fs::chown(dir, Some(uid), Some(gid)).unwrap();
    }
}

fn status_field(pid: u32, name: &str) -> String {
    field(
        &std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap(),
        name,
    )
}

/// The field `name` of a /proc status file's text, its words joined by
/// one space.
fn field(status: &str, name: &str) -> String {
    let line = status
        .lines()
        .find(|l| l.starts_with(&format!("{name}:")))
        .unwrap();
    line[name.len() + 1..]
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The echo app echoes `text` to `client`.
fn assert_client_echoes(client: &mut Client, text: &str) {
    client.send(tungstenite::Message::text(text)).unwrap();
    assert_eq!(next_message(client), tungstenite::Message::text(text));
}

/// The echo app on `port` echoes `text` to a new client.
fn assert_echoes(port: u16, text: &str) {
    assert_client_echoes(&mut connect(&format!("ws://127.0.0.1:{port}/echo")), text);
}

/// A free port below 1024, or None. (Port 0 gives none of those: the scan
/// starts at a place of this process's own, so that copies of the tests
/// run at once do not all find the same port free and race for it.)
fn free_privileged_port() -> Option<u16> {
    let start = std::process::id() as u16 % 124;
    (0..124)
        .map(|i| 900 + (start + i) % 124)
        .find(|&p| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok())
}

#[test]
fn started_as_root_it_runs_as_the_configured_user_with_no_capabilities() {
    if !root_or_skip() {
        return;
    }
    let (uid, gid) = test_user();
    let port = free_privileged_port().expect("a free port below 1024");
    // The C echo app, whose library starts a thread of its own as it loads
    // (before the server leaves root), as a library may.
    let build = tempfile::tempdir().unwrap();
    let starts_a_thread = build.path().join("starts_a_thread.c");
    std::fs::write(
        &starts_a_thread,
        "#define _POSIX_C_SOURCE 200809L\n\
         #include <pthread.h>\n\
         #include <unistd.h>\n\
         static void *idle(void *arg) { for (;;) pause(); return arg; }\n\
         __attribute__((constructor)) static void start(void) {\n\
             pthread_t thread;\n\
             pthread_create(&thread, NULL, idle, NULL);\n\
         }\n",
    )
    .unwrap();
    let app = build.path().join("libecho.so");
    let extra = [
        "-I",
        "crates/rs-app/include",
        starts_a_thread.to_str().unwrap(),
        "-pthread",
    ];
    build_c("crates/rs-examples/c/echo.c", &app, &extra);
    let config = ConfigFile::new(
        &[port],
        &[AppSpec::at("echo", app)],
        &format!(r#""user": "{TEST_USER}", "fd_alloc_c": 1000, "worker_c": 1,"#),
    );
    // Started with an inheritable capability, as a supervisor may give
    // (setpriv --inh-caps, systemd's AmbientCapabilities=), where util-linux's
    // setpriv is there (it is on Debian).
    let has_setpriv = Command::new("setpriv")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let command = if has_setpriv {
        let mut command = Command::new("setpriv");
        command.args([
            "--inh-caps",
            "+net_bind_service",
            env!("CARGO_BIN_EXE_ringsocket"),
        ]);
        command
    } else {
        eprintln!("setpriv not found: started without an inheritable capability");
        server_command()
    };
    let server = Foreground::start_command(command, config, port);
    let pid = server.pid();
    // Every thread: ids and groups are set process-wide, capabilities and
    // no_new_privs thread by thread (the app's thread inherited them).
    let tasks: Vec<_> = std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .map(|task| std::fs::read_to_string(task.unwrap().path().join("status")).unwrap())
        .collect();
    // Main, log, signals, app, worker, and the library's own thread.
    assert!(tasks.len() >= 6, "{} threads", tasks.len());
    for status in &tasks {
        let name = field(status, "Name");
        assert_eq!(
            field(status, "Uid"),
            format!("{uid} {uid} {uid} {uid}"),
            "{name}"
        );
        assert_eq!(
            field(status, "Gid"),
            format!("{gid} {gid} {gid} {gid}"),
            "{name}"
        );
        assert_eq!(field(status, "Groups"), "", "{name}");
        for set in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
            assert_eq!(field(status, set), "0000000000000000", "{name}: {set}");
        }
        assert_eq!(field(status, "NoNewPrivs"), "1", "{name}");
    }
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let open_files = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let numbers: Vec<&str> = open_files.split_whitespace().skip(3).take(2).collect();
    // fd_alloc_c 1000 + one worker's epoll, eventfd, two timers, spare and
    // listener (6) + 64 reserved: 1070 at least. Connections are counted,
    // so the rest up to the hard limit (never lowered) is the apps', up to
    // 512 Ki (1070 + 64 Ki is less), unless this process's was higher.
    let number = |text: &str| text.trim().parse::<u64>().unwrap();
    let (soft, hard) = (number(numbers[0]), number(numbers[1]));
    let own_soft = number(
        std::fs::read_to_string("/proc/self/limits")
            .unwrap()
            .lines()
            .find(|l| l.starts_with("Max open files"))
            .unwrap()
            .split_whitespace()
            .nth(3)
            .unwrap(),
    );
    assert!(hard >= 1070, "{open_files}");
    assert_eq!(
        soft,
        hard.min(524_288).max(own_soft.min(hard)),
        "{open_files}"
    );
    // The port below 1024 still serves after the switch.
    assert_echoes(port, "still here");
    assert!(server.terminate().success());
}

#[test]
fn started_as_root_with_a_user_of_group_0_it_runs_and_warns() {
    if !root_or_skip() {
        return;
    }
    // Created like the test user, in group 0 (root).
    const USER: &str = "rstest0";
    ensure_system_user(USER, &["--gid", "0"]);
    let port = free_port();
    let config = config_text(
        &[port],
        &[AppSpec::simple("echo")],
        &format!(r#""user": "{USER}","#),
    );
    let mut server = Server::start_config(tempfile::tempdir().unwrap(), &config, vec![port]);
    let log = server.capture_stderr();
    assert!(
        log.wait_for(
            &format!(
                "user '{USER}' has group 0 (root) as its primary group: the server keeps what \
                 that group may read and write; give the user a group of its own"
            ),
            Duration::from_secs(10)
        ),
        "{}",
        log.text()
    );
    assert_echoes(port, "in group 0");
}

#[test]
fn started_as_root_it_keeps_its_parent_death_signal_when_it_switches_user() {
    if !root_or_skip() {
        return;
    }
    let (uid, _) = test_user();
    // SIGKILL ends it at once; SIGTERM, which every thread blocks, reaches
    // the signal thread and shuts it down cleanly.
    for signal in [libc::SIGKILL, libc::SIGTERM] {
        let port = free_port();
        let config = ConfigFile::new(&[port], &[AppSpec::simple("echo")], &run_as_user());
        // Started by a thread that ends once the server runs as the test
        // user: the kernel cleared the signal at the switch, the server
        // set it again.
        let starter = std::thread::spawn(move || {
            let server = Foreground::start_dying_by(config, port, signal);
            let deadline = Instant::now() + Duration::from_secs(20);
            while status_field(server.pid(), "Uid") != format!("{uid} {uid} {uid} {uid}") {
                assert!(Instant::now() < deadline, "the server did not switch user");
                std::thread::sleep(Duration::from_millis(20));
            }
            server
        });
        let mut server = starter.join().unwrap();
        let status = server.exit_status("the server outlived the thread that started it");
        if signal == libc::SIGKILL {
            assert_eq!(status.signal(), Some(libc::SIGKILL), "{status}");
        } else {
            assert!(status.success(), "{status}");
        }
    }
}

#[test]
fn started_as_root_with_a_missing_user_it_says_so_and_exits_1() {
    if !root_or_skip() {
        return;
    }
    let config = ConfigFile::new(
        &[free_port()],
        &[AppSpec::simple("echo")],
        r#""user": "no-such-user-rs","#,
    );
    let output = Command::new(env!("CARGO_BIN_EXE_ringsocket"))
        .arg(&config.path)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("user 'no-such-user-rs'") && stderr.contains("does not exist"),
        "{stderr}"
    );
}

#[test]
fn started_as_root_with_root_as_its_user_it_refuses_and_exits_1() {
    if !root_or_skip() {
        return;
    }
    let port = free_port();
    let config = config_text(&[port], &[AppSpec::simple("echo")], r#""user": "root","#);
    // Spawned, not run to its end: a server that took root would not stop.
    let mut server = Server::spawn_config(tempfile::tempdir().unwrap(), &config, vec![port]);
    let log = server.capture_stderr();
    assert_eq!(server.wait_exit(Duration::from_secs(10)).code(), Some(1));
    assert!(
        log.wait_for(
            "user 'root' (configuration key \"user\") is root (uid 0)",
            Duration::from_secs(5)
        ),
        "{}",
        log.text()
    );
}

#[test]
fn daemon_mode_detaches_writes_the_pidfile_and_stops_on_sigterm() {
    let port = free_port();
    let config = ConfigFile::new(&[port], &[AppSpec::simple("echo")], &run_as_user());
    let pidfile = config.dir.path().join("ringsocket.pid");
    give_to_server_user(config.dir.path());
    // A previous run's pidfile, the server's user's (as versions that gave
    // it the pidfile left it): replaced, not written over.
    std::fs::write(&pidfile, "1\n").unwrap();
    if is_root() {
        let (uid, gid) = test_user();
        std::os::unix::fs::chown(&pidfile, Some(uid), Some(gid)).unwrap();
    }
    let started = Instant::now();
    // Relative paths, as typed in the config's folder: they must still name
    // the same files once the daemon has moved to "/".
    let mut command = Command::new(env!("CARGO_BIN_EXE_ringsocket"));
    command
        .args(["--daemon", "--pidfile", "ringsocket.pid"])
        .arg(config.path.file_name().unwrap())
        .current_dir(config.dir.path())
        .stdin(Stdio::null());
    // A pipe the starting command inherits as descriptor 100, as a script's
    // may (one that waits for its end would wait for the daemon's exit).
    let (reader, writer) = std::io::pipe().unwrap();
    let pipe = std::fs::read_link(format!("/proc/self/fd/{}", reader.as_raw_fd())).unwrap();
    let writer_fd = writer.as_raw_fd();
    // SAFETY: dup2 is async-signal-safe, as the forked child requires.
    unsafe {
        command.pre_exec(move || {
            if libc::dup2(writer_fd, 100) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let output = command.output().unwrap();
    drop(writer);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(started.elapsed() < Duration::from_secs(20));
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let stop = KillOnDrop(pid);
    // Owned by the starting user (root, where the server's user must not be
    // able to change which process it names), readable by all whatever the
    // umask (the daemon's is 027).
    let metadata = std::fs::metadata(&pidfile).unwrap();
    use std::os::unix::fs::MetadataExt as _;
    // SAFETY: geteuid has no preconditions.
    assert_eq!(metadata.uid(), unsafe { geteuid() });
    assert_eq!(metadata.mode() & 0o777, 0o644);
    // Nothing inherited beyond the standard streams is kept.
    for fd in std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap() {
        let target = std::fs::read_link(fd.unwrap().path()).unwrap_or_default();
        assert_ne!(target, pipe, "the daemon kept the inherited pipe");
    }
    drop(reader);
    // Detached: its own session, and not our child.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    let (ppid, session): (i32, i32) = (fields[1].parse().unwrap(), fields[3].parse().unwrap());
    assert_ne!(ppid, std::process::id() as i32);
    assert_ne!(
        session, pid,
        "after the second fork the server is not a session leader"
    );
    // It serves.
    assert_echoes(port, "daemon");
    // SIGTERM through the pidfile stops it, and the pidfile goes away.
    // SAFETY: kill(2) on the pid the daemon wrote.
    assert_eq!(unsafe { kill(pid, 15) }, 0);
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::path::Path::new(&format!("/proc/{pid}")).exists() {
        assert!(Instant::now() < deadline, "the daemon did not stop");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Gone: its pid may be another process's by now.
    std::mem::forget(stop);
    assert!(!pidfile.exists(), "the pidfile was not removed");
}

unsafe extern "C" {
    fn kill(pid: i32, signal: i32) -> i32;
    fn geteuid() -> u32;
}

/// Kills a daemon (not our child) if a test fails before it stopped it;
/// forgotten once the daemon is gone.
struct KillOnDrop(i32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        // SAFETY: kill(2) on the daemon's pid; ESRCH once it is gone.
        unsafe { kill(self.0, 9) };
    }
}

/// Runs the server with `--pidfile pidfile` until it exits (10 s at most);
/// returns its exit code and stderr.
fn run_with_pidfile(config: &ConfigFile, pidfile: &std::path::Path) -> (Option<i32>, String) {
    let mut child = server_command()
        .arg("--pidfile")
        .arg(pidfile)
        .arg(&config.path)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the server started with the pidfile {}", pidfile.display());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.code(), stderr)
}

#[test]
fn a_pidfile_that_is_a_link_or_a_directory_is_refused_and_the_file_left_alone() {
    // Root writes the pidfile, often in a folder the server's user may
    // write to: a link planted there must not make it write (or give away)
    // another file.
    let config = ConfigFile::new(&[free_port()], &[AppSpec::simple("echo")], &run_as_user());
    let precious = config.dir.path().join("precious");
    std::fs::write(&precious, "precious\n").unwrap();
    let symlink = config.dir.path().join("by-symlink.pid");
    std::os::unix::fs::symlink(&precious, &symlink).unwrap();
    let hard_link = config.dir.path().join("by-hard-link.pid");
    std::fs::hard_link(&precious, &hard_link).unwrap();
    let folder = config.dir.path().join("run");
    std::fs::create_dir(&folder).unwrap();
    for (pidfile, reason) in [
        (&symlink, "a symbolic link"),
        (&hard_link, "not a regular file with one name"),
        (&folder, "a directory; give the path of a file"),
    ] {
        let (code, stderr) = run_with_pidfile(&config, pidfile);
        assert_eq!(code, Some(1), "{stderr}");
        assert!(
            stderr.contains(&format!("pidfile {}: {reason}", pidfile.display())),
            "{stderr}"
        );
    }
    assert_eq!(std::fs::read_to_string(&precious).unwrap(), "precious\n");
    let metadata = std::fs::metadata(&precious).unwrap();
    assert_eq!(
        std::os::unix::fs::MetadataExt::uid(&metadata),
        // SAFETY: getuid has no preconditions.
        unsafe { libc::getuid() },
        "the file was given away"
    );
}

/// Why anything at the pidfile's path that is not a regular file with one
/// name is refused.
const NOT_A_FILE: &str = "not a regular file with one name (a device, a FIFO or a hard link \
                          to another file); remove it";

/// `mkfifo` or `mknod` of `path`, with `mode` and `device`.
fn make_node(path: &std::path::Path, mode: libc::mode_t, device: libc::dev_t) -> i32 {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: a NUL-terminated path that outlives the call.
    unsafe { libc::mknod(c_path.as_ptr(), mode, device) }
}

#[test]
fn a_fifo_as_pidfile_is_refused_at_once_and_nothing_written_to_it() {
    use std::io::Read;
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let config = ConfigFile::new(&[free_port()], &[AppSpec::simple("echo")], &run_as_user());
    let fifo = config.dir.path().join("fifo.pid");
    assert_eq!(make_node(&fifo, libc::S_IFIFO | 0o666, 0), 0);
    // Opened for writing, a FIFO nobody reads would block for ever; with a
    // reader, it would take the pid.
    for reader in [false, true] {
        let mut reading = reader.then(|| {
            std::fs::File::options()
                .read(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(&fifo)
                .unwrap()
        });
        let started = Instant::now();
        let (code, stderr) = run_with_pidfile(&config, &fifo);
        assert_eq!(code, Some(1), "{stderr}");
        assert_eq!(
            stderr.trim_end(),
            format!("ringsocket: pidfile {}: {NOT_A_FILE}", fifo.display())
        );
        assert!(started.elapsed() < Duration::from_secs(5));
        if let Some(reading) = &mut reading {
            let mut got = Vec::new();
            let _ = reading.read_to_end(&mut got);
            assert_eq!(got, b"", "the server wrote to the FIFO");
        }
        let metadata = std::fs::symlink_metadata(&fifo).unwrap();
        assert!(metadata.file_type().is_fifo(), "{metadata:?}");
    }
}

#[test]
fn a_device_as_pidfile_is_refused_and_left_alone() {
    use std::os::unix::fs::MetadataExt;
    let config = ConfigFile::new(&[free_port()], &[AppSpec::simple("echo")], &run_as_user());
    let null = std::fs::metadata("/dev/null").unwrap();
    // A node of the null device of its own first (mknod may be refused in a
    // container): should the server take a device, the test stops before
    // /dev/null is at stake.
    let own = config.dir.path().join("null.pid");
    let mut devices = vec![];
    if make_node(&own, libc::S_IFCHR | 0o666, null.rdev()) == 0 {
        devices.push(own);
    }
    devices.push("/dev/null".into());
    for device in &devices {
        let before = std::fs::symlink_metadata(device).unwrap();
        let (code, stderr) = run_with_pidfile(&config, device);
        assert_eq!(code, Some(1), "{stderr}");
        assert_eq!(
            stderr.trim_end(),
            format!("ringsocket: pidfile {}: {NOT_A_FILE}", device.display())
        );
        let after = std::fs::symlink_metadata(device).unwrap();
        let identity = |m: &std::fs::Metadata| (m.rdev(), m.ino(), m.mode(), m.uid(), m.gid());
        assert_eq!(identity(&after), identity(&before), "{}", device.display());
    }
}

/// Runs `ringsocket --daemon` with a pidfile in the config's folder.
fn start_daemon(config: &ConfigFile) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ringsocket"))
        .arg("--daemon")
        .arg("--pidfile")
        .arg(config.dir.path().join("p"))
        .arg(&config.path)
        .output()
        .unwrap()
}

#[test]
fn startup_errors_exit_non_zero_with_one_clear_line_before_detaching() {
    // A configuration error.
    let config = ConfigFile::raw("{ ports: [], apps: [] }");
    let output = start_daemon(&config);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("ports"));
    // A missing app file.
    let config = ConfigFile::with_app_path(free_port(), "/nonexistent/libecho.so");
    let output = start_daemon(&config);
    assert_ne!(output.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("/nonexistent/libecho.so"), "{stderr}");
    // A port already in use.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let config = ConfigFile::new(&[port], &[AppSpec::simple("echo")], &run_as_user());
    let output = start_daemon(&config);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(&format!("cannot listen on 127.0.0.1:{port}")) && stderr.contains("in use"),
        "{stderr}"
    );
    assert!(
        !config.dir.path().join("p").exists(),
        "no pidfile for a server that never started"
    );
}

#[test]
fn daemon_mode_refuses_to_fork_once_an_apps_library_started_a_thread() {
    // A thread started by a shared object's constructor (when the app is
    // loaded, before the fork) would not exist in the forked server, and
    // any lock it held there would stay held for ever: refused, saying why
    // and what to do instead.
    let dir = tempfile::tempdir().unwrap();
    let constructor = dir.path().join("thread_at_load.c");
    std::fs::write(
        &constructor,
        "#include <pthread.h>\n#include <unistd.h>\n\
         static void *idle(void *arg) { for (;;) pause(); return arg; }\n\
         __attribute__((constructor)) static void start(void)\n\
         { pthread_t t; pthread_create(&t, 0, idle, 0); }\n",
    )
    .unwrap();
    let so = dir.path().join("libthreaded.so");
    build_c(
        "crates/rs-examples/c/echo.c",
        &so,
        &[
            "-I",
            "crates/rs-app/include",
            constructor.to_str().unwrap(),
            "-pthread",
        ],
    );
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let config = ConfigFile::new(
        &[free_port()],
        &[AppSpec::at("threaded", so)],
        &run_as_user(),
    );
    let output = start_daemon(&config);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        stderr,
        "ringsocket: cannot detach: 2 threads run already (started by an app's shared object, \
         or a preloaded library, when it was loaded): a process with threads cannot fork \
         safely; run the server in the foreground (under systemd, say) instead of with \
         --daemon\n"
    );
}

#[test]
fn a_second_server_on_the_same_port_is_refused_not_given_half_the_clients() {
    // SO_REUSEPORT lets sockets of the same user share a port: the second
    // server must find the first one's before it joins in.
    let port = free_port();
    let first = Foreground::start(
        ConfigFile::new(&[port], &[AppSpec::simple("echo")], &run_as_user()),
        port,
    );
    let config = ConfigFile::new(&[port], &[AppSpec::simple("echo")], &run_as_user());
    let mut second = server_command()
        .arg(&config.path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = second.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            second.kill().unwrap();
            second.wait().unwrap();
            panic!("the second server started on the first one's port");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(1));
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut second.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(
        stderr.contains(&format!(
            "cannot listen on 127.0.0.1:{port}: Address already in use (os error 98) \
             (another process, perhaps another ringsocket, listens on it)"
        )),
        "{stderr}"
    );
    // The first one serves on.
    assert_echoes(port, "still");
    assert!(first.terminate().success());
}

#[test]
fn a_port_released_within_a_second_of_startup_is_taken() {
    // As in a restart: the old server, told to stop a moment ago, closes
    // its listener a little after the new one starts.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let config = ConfigFile::new(&[port], &[AppSpec::simple("echo")], &run_as_user());
    let release = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        drop(taken);
    });
    // (Foreground::start sees the port accept at once: the holder's.)
    let server = Foreground::start(config, port);
    release.join().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while let Err(e) = try_connect_small(([127, 0, 0, 1], port).into(), "/echo") {
        assert!(
            Instant::now() < deadline,
            "the server never took the port: {e}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_echoes(port, "mine");
    assert!(server.terminate().success());
}

#[test]
fn an_app_whose_init_fails_stops_startup_before_any_port_listens() {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let config = config_text(
        &[port],
        &[AppSpec::simple("echo"), AppSpec::simple("probe_init_fails")],
        &run_as_user(),
    );
    let (code, stderr) = start_failing(&config, dir.path(), port);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr
            .ends_with("\nringsocket: app 'probe_init_fails': init callback returned -1 (fatal)\n"),
        "{stderr}"
    );
    // A daemon reports it before detaching.
    let config = ConfigFile::new(
        &[port],
        &[AppSpec::simple("probe_init_fails")],
        &run_as_user(),
    );
    let output = start_daemon(&config);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("init callback returned -1 (fatal)"),
        "{stderr}"
    );
}

/// A server whose app's init takes two seconds, not waited for, once that
/// init has begun; and its log.
fn slow_starting_server() -> (Server, Log) {
    let port = free_port();
    let config = config_text(
        &[port],
        &[AppSpec::simple("probe_init_slow")],
        &run_as_user(),
    );
    let mut server = Server::spawn_config(tempfile::tempdir().unwrap(), &config, vec![port]);
    let log = server.capture_stderr();
    // (A signal before the server blocks signals, first thing, would kill
    // it: the default action, for a process that has not started yet.)
    assert!(
        log.wait_for("run their init", Duration::from_secs(20)),
        "{}",
        log.text()
    );
    (server, log)
}

#[test]
fn a_sighup_that_arrives_while_the_server_starts_is_handled_once_it_runs() {
    // A signal that comes while the apps run their init must wait, neither
    // killing the server (its default action) nor being lost.
    let (mut server, log) = slow_starting_server();
    assert!(!accepts(server.ports[0]), "listening during the init");
    server.signal(1);
    server.wait_until_listening();
    assert!(
        log.wait_for("SIGHUP: log_level is now", Duration::from_secs(10)),
        "{}",
        log.text()
    );
    let mut client = connect(&server.url("/probe_init_slow"));
    client
        .send(tungstenite::Message::binary(&b"alive"[..]))
        .unwrap();
    assert_eq!(
        client.read().unwrap(),
        tungstenite::Message::binary(&b"alive"[..])
    );
    drop(client);
    assert!(server.terminate().success());
}

#[test]
fn sigterm_during_the_apps_init_stops_startup_and_a_second_exits_at_once() {
    // One SIGTERM: startup ends once the init returns, no port ever listens.
    let (mut server, log) = slow_starting_server();
    server.signal(15);
    let status = server.wait_exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(1), "{}", log.text());
    assert!(
        log.text()
            .contains("ringsocket: SIGTERM while the apps ran their init: stopped"),
        "{}",
        log.text()
    );
    // Two: the server exits without waiting for an init that may never end.
    let (mut server, _log) = slow_starting_server();
    let started = Instant::now();
    server.signal(15);
    std::thread::sleep(Duration::from_millis(200));
    server.signal(15);
    assert_eq!(server.wait_exit(Duration::from_secs(10)).code(), Some(1));
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "exited after {:?}, the init takes 2 s",
        started.elapsed()
    );
}

#[test]
fn refused_handshakes_and_messages_are_logged_with_what_was_asked_for() {
    // An operator must tell a missing allowed_origins entry or a wrong URL
    // from noise: the line names the client, the path and why.
    let mut server = Server::start(&[AppSpec::simple("echo"), AppSpec::simple("probe")]);
    let log = server.capture_stderr();
    let port = server.ports[0];
    for (request, line) in [
        (
            upgrade_request(
                "/echo",
                "Sec-WebSocket-Version: 13\r\nOrigin: http://evil.example\r\n",
            ),
            "refusing a handshake for \"/echo\" (Origin \"http://evil.example\" is not among the \
             endpoint's allowed_origins): 403 origin not allowed"
                .to_owned(),
        ),
        (
            upgrade_request("/ecoh", "Sec-WebSocket-Version: 13\r\n"),
            format!(
                "refusing a handshake for \"/ecoh\" on port {port} (Host \"localhost\"): 404 no \
                 WebSocket endpoint at this URL"
            ),
        ),
        (
            "BREW /echo HTTP/1.1\r\n\r\n".to_owned(),
            "refusing a handshake: 501 unknown method".to_owned(),
        ),
    ] {
        raw_http(server.addr(), &request);
        // "… rs_worker::worker::handshake] 127.0.0.1:PORT: refusing …"
        let line = format!(": {line}");
        assert!(
            log.wait_until(Duration::from_secs(10), |text| text
                .lines()
                .any(|l| { l.contains(&line) && l.contains("handshake] 127.0.0.1:") })),
            "{line}\n{}",
            log.text()
        );
    }
    // A client closed for a message its app's read cases do not take.
    let mut client = connect(&server.url("/probe"));
    let local = client.get_ref().0.local_addr().unwrap();
    let id = welcome_id(next_message(&mut client).to_text().unwrap());
    client
        .send(tungstenite::Message::binary(vec![200]))
        .unwrap();
    assert_eq!(close_code(&mut client), 4902);
    let line = format!(
        "app 'probe': closing client {id} ({local}) with 4902: no read case takes the message's \
         first byte"
    );
    assert!(
        log.wait_for(&line, Duration::from_secs(10)),
        "{line}\n{}",
        log.text()
    );
    // A client failed for a protocol error (an unmasked frame).
    let mut client = connect(&server.url("/probe"));
    let local = client.get_ref().0.local_addr().unwrap();
    let id = welcome_id(next_message(&mut client).to_text().unwrap());
    std::io::Write::write_all(&mut client.get_mut().0, &[0x82, 0x01, 9]).unwrap();
    let line = format!("client {id} ({local}): client frame is not masked");
    assert!(
        log.wait_for(&line, Duration::from_secs(10)),
        "{line}\n{}",
        log.text()
    );
}

#[test]
fn each_log_level_shows_the_levels_above_it_and_no_more() {
    let mut server = Server::start(&[AppSpec::simple("probe")]);
    let log = server.capture_stderr();
    let mut client = connect(&server.url("/probe"));
    next_message(&mut client); // its welcome
    let config = std::fs::read_to_string(&server.config_path).unwrap();
    // The probe's case 8 logs one line at debug, info and notice, in that
    // order: once the notice shows, the others would have if let through.
    for (reads, level, info, debug) in [
        (1, "notice", false, false),
        (2, "info", true, false),
        (3, "debug", true, true),
    ] {
        std::fs::write(
            &server.config_path,
            config.replace(
                "\"log_level\": \"debug\"",
                &format!("\"log_level\": \"{level}\""),
            ),
        )
        .unwrap();
        server.signal(1);
        assert!(
            log.wait_for(
                &format!("SIGHUP: log_level is now \"{level}\""),
                Duration::from_secs(10)
            ),
            "{}",
            log.text()
        );
        client.send(tungstenite::Message::binary(vec![8])).unwrap();
        next_message(&mut client);
        let suffix = format!(" reads={reads}");
        let line = |text: &str, prefix: &str| {
            text.lines()
                .any(|l| l.contains(&format!("probe: {prefix}id=")) && l.ends_with(&suffix))
        };
        // (The lines may reach the log in more than one read.)
        assert!(
            log.wait_until(Duration::from_secs(10), |text| line(text, "")),
            "{level}: no notice line\n{}",
            log.text()
        );
        let text = log.text();
        let has = |prefix: &str| line(&text, prefix);
        assert_eq!(has("info "), info, "{level}: the info line\n{text}");
        assert_eq!(has("debug "), debug, "{level}: the debug line\n{text}");
    }
    // Libraries' own details (mio's registrations, say) stay out even at
    // "debug": their levels are not ours.
    assert!(!log.text().contains(" mio::"), "{}", log.text());
}

#[test]
fn sighup_applies_a_new_log_level_and_keeps_clients() {
    let mut server = Server::start(&[AppSpec::simple("echo")]);
    let log = server.capture_stderr();
    let mut client = connect(&server.url("/echo"));
    // Quieter: only errors from now on; then back to debug.
    let config = std::fs::read_to_string(&server.config_path).unwrap();
    std::fs::write(
        &server.config_path,
        config.replace("\"log_level\": \"debug\"", "\"log_level\": \"error\""),
    )
    .unwrap();
    server.signal(1);
    std::fs::write(&server.config_path, &config).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    server.signal(1);
    assert!(
        log.wait_for(
            "SIGHUP: log_level is now \"debug\"",
            Duration::from_secs(10)
        ),
        "{}",
        log.text()
    );
    // An invalid configuration changes nothing and is reported.
    std::fs::write(&server.config_path, "{ ports: [] }").unwrap();
    server.signal(1);
    assert!(
        log.wait_for(
            "SIGHUP: the configuration is invalid",
            Duration::from_secs(10)
        ),
        "{}",
        log.text()
    );
    // The client was never disturbed.
    assert_client_echoes(&mut client, "after reload");
    drop(client);
    assert!(server.terminate().success());
}

#[test]
fn sighup_with_a_fifo_for_configuration_reloads_nothing_and_the_server_still_stops() {
    let mut server = Server::start(&[AppSpec::simple("echo")]);
    let log = server.capture_stderr();
    let mut client = connect(&server.url("/echo"));
    // Opening a FIFO nobody writes to would wait for ever, and the signals
    // after this one (SIGTERM) with it.
    std::fs::remove_file(&server.config_path).unwrap();
    assert_eq!(make_node(&server.config_path, libc::S_IFIFO | 0o666, 0), 0);
    server.signal(1);
    let reason = format!(
        "{}: is a FIFO (named pipe), not a configuration file",
        server.config_path.display()
    );
    assert!(
        log.wait_for(&reason, Duration::from_secs(10)),
        "{}",
        log.text()
    );
    assert!(
        log.text()
            .contains("SIGHUP: the configuration is invalid, nothing reloaded")
    );
    assert_client_echoes(&mut client, "after the refused reload");
    drop(client);
    assert!(server.terminate().success());
}

/// The status line the server answers an upgrade request for `path` from a
/// page of `origin` with.
fn status_for(server: &Server, path: &str, origin: &str) -> String {
    status_on(server.ports[0], path, origin)
}

/// [`status_for`] the server on `port`.
fn status_on(port: u16, path: &str, origin: &str) -> String {
    use std::io::Write;
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let extra = format!("Sec-WebSocket-Version: 13\r\nOrigin: {origin}\r\n");
    stream
        .write_all(upgrade_request(path, &extra).as_bytes())
        .unwrap();
    let mut head = [0u8; 64];
    let n = read_some(&mut stream, &mut head).unwrap();
    let head = String::from_utf8_lossy(&head[..n]).into_owned();
    head.lines().next().unwrap_or_default().to_owned()
}

#[test]
fn sighup_applies_new_endpoints_to_new_handshakes_and_keeps_clients() {
    let mut server = Server::start(&[AppSpec::simple("echo")]);
    let log = server.capture_stderr();
    let mut client = connect(&server.url("/echo"));
    let (old, new) = ("http://allowed.example", "http://new.example");
    assert!(status_for(&server, "/echo", new).starts_with("HTTP/1.1 403 "));
    // Another path and another allowed origin.
    let config = std::fs::read_to_string(&server.config_path).unwrap();
    let moved = config.replace(old, new).replace("/echo\"", "/moved\"");
    assert_ne!(moved, config);
    std::fs::write(&server.config_path, &moved).unwrap();
    server.signal(1);
    // The line says what changed.
    let configured = |path: &str| format!("ws://localhost:{}{path}", server.ports[0]);
    let (echo, moved_url) = (configured("/echo"), configured("/moved"));
    let reloaded = format!("SIGHUP: endpoints reloaded (1; added {moved_url}, removed {echo});");
    assert!(
        log.wait_for(&reloaded, Duration::from_secs(10)),
        "{}",
        log.text()
    );
    assert!(status_for(&server, "/moved", new).starts_with("HTTP/1.1 101 "));
    assert!(status_for(&server, "/moved", old).starts_with("HTTP/1.1 403 "));
    // The same URL with other settings; then the same file again.
    std::fs::write(&server.config_path, moved.replace(new, old)).unwrap();
    server.signal(1);
    let changed = format!("SIGHUP: endpoints reloaded (1; changed {moved_url} (allowed_origins));");
    assert!(
        log.wait_for(&changed, Duration::from_secs(10)),
        "{}",
        log.text()
    );
    assert!(status_for(&server, "/moved", old).starts_with("HTTP/1.1 101 "));
    server.signal(1);
    assert!(
        log.wait_for(
            "SIGHUP: endpoints reloaded (1; unchanged);",
            Duration::from_secs(10)
        ),
        "{}",
        log.text()
    );
    std::fs::write(&server.config_path, &moved).unwrap();
    server.signal(1);
    assert!(
        log.wait_until(Duration::from_secs(10), |text| text
            .matches(&changed)
            .count()
            == 2),
        "{}",
        log.text()
    );
    assert!(
        !log.text().contains("apply only at a restart"),
        "{}",
        log.text()
    );
    assert!(status_for(&server, "/echo", new).starts_with("HTTP/1.1 404 "));
    // Other apps than those running: the endpoints stay, and why is said.
    std::fs::write(
        &server.config_path,
        moved.replace(r#""name": "echo""#, r#""name": "other""#),
    )
    .unwrap();
    server.signal(1);
    assert!(
        log.wait_for(
            "SIGHUP: endpoints not reloaded: \"ports\" or the apps",
            Duration::from_secs(10)
        ),
        "{}",
        log.text()
    );
    // The warning names the app's setting that changed.
    assert!(
        log.text()
            .contains("SIGHUP: changed settings that apply only at a restart: apps[0].name"),
        "{}",
        log.text()
    );
    assert!(status_for(&server, "/moved", new).starts_with("HTTP/1.1 101 "));
    // Other ports likewise; settings a reload does not apply are named.
    let ip_addrs = r#""ip_addrs": ["127.0.0.1"]"#;
    let other_ports = moved
        .replace(ip_addrs, r#""ip_addrs": ["127.0.0.1", "127.0.0.2"]"#)
        .replace(r#""log_level""#, r#""idle_timeout": 7, "log_level""#);
    assert!(other_ports.contains("127.0.0.2") && other_ports.contains("\"idle_timeout\""));
    std::fs::write(
        &server.config_path,
        other_ports.replace("/moved\"", "/elsewhere\""),
    )
    .unwrap();
    server.signal(1);
    let warning = "SIGHUP: changed settings that apply only at a restart: ports, idle_timeout";
    assert!(
        log.wait_for(warning, Duration::from_secs(10)),
        "{}",
        log.text()
    );
    assert!(status_for(&server, "/elsewhere", new).starts_with("HTTP/1.1 404 "));
    // The client of the old endpoint was never disturbed.
    assert_client_echoes(&mut client, "after reload");
}

#[test]
fn a_second_sigterm_exits_at_once() {
    let mut server = Server::start(&[AppSpec::simple("echo")]);
    // A client that never answers the 1001 keeps the shutdown waiting for
    // shutdown_wait_ws (30 s by default).
    let _client = connect(&server.url("/echo"));
    let started = Instant::now();
    server.signal(15);
    std::thread::sleep(Duration::from_millis(300));
    server.signal(15);
    let status = server.wait_exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(1));
    assert!(started.elapsed() < Duration::from_secs(10));
}

/// A server started with `--pidfile pidfile` in `config`'s folder (given
/// to the server's user, which may then remove the pidfile), listening on
/// `port`.
fn start_with_pidfile(
    config: &ConfigFile,
    port: u16,
    pidfile: &std::path::Path,
) -> std::process::Child {
    give_to_server_user(config.dir.path());
    let mut command = server_command();
    command.arg("--pidfile").arg(pidfile).arg(&config.path);
    spawn_listening(command, port)
}

/// Runs `command` (a server, its output discarded) until it listens on
/// `port`; killed if it exits or takes over 20 s.
fn spawn_listening(mut command: Command, port: u16) -> std::process::Child {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !accepts(port) {
        if child.try_wait().unwrap().is_some() || Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the server exited or did not listen on {port} in time");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child
}

/// Waits for `child` to exit (`limit` at most, then kills it).
fn exit_of(child: &mut std::process::Child, limit: Duration) -> Option<i32> {
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let exited = child.try_wait().unwrap().is_some();
    let _ = child.kill();
    let status = child.wait().unwrap();
    exited.then(|| status.code()).flatten()
}

#[test]
fn a_second_sigterm_exits_at_once_and_still_removes_the_pidfile() {
    let port = free_port();
    let config = ConfigFile::new(&[port], &[AppSpec::simple("echo")], &run_as_user());
    let pidfile = config.dir.path().join("ringsocket.pid");
    let mut child = start_with_pidfile(&config, port, &pidfile);
    assert!(pidfile.exists());
    // A client that never answers the 1001 keeps the shutdown waiting.
    let _client = connect(&format!("ws://127.0.0.1:{port}/echo"));
    for _ in 0..2 {
        // SAFETY: kill(2) on our own child, which it has not been reaped.
        unsafe { kill(child.id() as i32, libc::SIGTERM) };
        std::thread::sleep(Duration::from_millis(300));
    }
    assert_eq!(exit_of(&mut child, Duration::from_secs(10)), Some(1));
    assert!(!pidfile.exists(), "the pidfile stayed behind");
}

#[test]
fn a_second_server_given_a_serving_ones_pidfile_is_refused() {
    let (port, other_port) = (free_port(), free_port());
    let config = ConfigFile::new(&[port], &[AppSpec::simple("echo")], &run_as_user());
    let pidfile = config.dir.path().join("ringsocket.pid");
    let mut first = start_with_pidfile(&config, port, &pidfile);
    // Another configuration (another port), the same pidfile.
    let other = ConfigFile::new(&[other_port], &[AppSpec::simple("echo")], &run_as_user());
    let mut second = server_command()
        .arg("--pidfile")
        .arg(&pidfile)
        .arg(&other.path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Killed if it runs on (it took the pidfile over, before).
    let code = exit_of(&mut second, Duration::from_secs(20));
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut second.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "pidfile {}: a running server holds it (pid {}); give this one a --pidfile of its \
             own, or stop that one first",
            pidfile.display(),
            first.id()
        )),
        "{stderr}"
    );
    // The first one's pidfile still names it, and it still serves.
    let named = std::fs::read_to_string(&pidfile).unwrap();
    assert_eq!(named.trim_end(), first.id().to_string());
    assert_echoes(port, "still first");
    // SAFETY: kill(2) on our own child, not reaped yet.
    unsafe { kill(first.id() as i32, libc::SIGTERM) };
    assert_eq!(exit_of(&mut first, Duration::from_secs(20)), Some(0));
}

#[test]
fn a_draining_server_leaves_the_pidfile_of_the_server_that_replaced_it() {
    // docs/operations.md: the new server may start while the old drains.
    let port = free_port();
    let globals = format!("{}\"shutdown_wait_ws\": 3,", run_as_user());
    let config = ConfigFile::new(&[port], &[AppSpec::simple("echo")], &globals);
    let pidfile = config.dir.path().join("ringsocket.pid");
    let mut old = start_with_pidfile(&config, port, &pidfile);
    // A client that never answers the close keeps the old one draining.
    let _client = connect(&format!("ws://127.0.0.1:{port}/echo"));
    // SAFETY: kill(2) on our own child, not reaped yet.
    unsafe { kill(old.id() as i32, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(10);
    while accepts(port) {
        assert!(Instant::now() < deadline, "the old server kept listening");
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut new = start_with_pidfile(&config, port, &pidfile);
    let new_pid = new.id().to_string();
    assert!(
        old.try_wait().unwrap().is_none(),
        "the old one drains still"
    );
    let old_exit = exit_of(&mut old, Duration::from_secs(20));
    let after = std::fs::read_to_string(&pidfile);
    // SAFETY: as above.
    unsafe { kill(new.id() as i32, libc::SIGTERM) };
    let new_exit = exit_of(&mut new, Duration::from_secs(10));
    assert_eq!(old_exit, Some(0));
    assert_eq!(
        after.ok().map(|text| text.trim_end().to_owned()),
        Some(new_pid),
        "the old server removed the new one's pidfile"
    );
    assert_eq!(new_exit, Some(0));
    assert!(!pidfile.exists(), "the new server removes its own");
}

#[test]
fn check_with_a_closed_stdout_pipe_exits_0_without_panicking() {
    // `ringsocket --check CONFIG | grep -q OK`: the reader may be gone.
    let config = ConfigFile::new(&[free_port()], &[AppSpec::simple("echo")], &run_as_user());
    for args in [&["--check", config.path.to_str().unwrap()][..], &["--help"]] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let output = Command::new(env!("CARGO_BIN_EXE_ringsocket"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(writer)
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!((output.status.code(), stderr.as_ref()), (Some(0), ""));
    }
}

/// A detached server, by its pid: stopped (SIGTERM, SIGKILL after 20 s)
/// when dropped, so that no test leaves one running.
struct Daemon(i32);

impl Drop for Daemon {
    fn drop(&mut self) {
        // SAFETY: kill(2) on the pid the daemon wrote.
        unsafe { kill(self.0, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::path::Path::new(&format!("/proc/{}", self.0)).exists() {
            if Instant::now() > deadline {
                // SAFETY: as above.
                unsafe { kill(self.0, libc::SIGKILL) };
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A C source for a constructor linked into an app: it creates the file
/// named by `RS_TEST_LOAD_MARK`, then sleeps 2 s, so that loading the app
/// (before daemon mode forks) takes that long.
const SLOW_LOAD_C: &str = r#"
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

__attribute__((constructor)) static void slow_load(void)
{
    const char *mark = getenv("RS_TEST_LOAD_MARK");
    FILE *file = mark != NULL ? fopen(mark, "w") : NULL;
    if (file != NULL) {
        fclose(file);
    }
    struct timespec pause = { 2, 0 };
    nanosleep(&pause, NULL);
}
"#;

#[test]
fn daemon_mode_a_sighup_while_the_apps_load_is_applied_once_the_server_runs() {
    // A signal pending before the fork stays with the starting process:
    // the server would never reload, and the starting process, once it
    // unblocked signals to wait, was killed by it (exit by signal 1).
    let port = free_port();
    let build = tempfile::tempdir().unwrap();
    let ctor = build.path().join("slow_load.c");
    std::fs::write(&ctor, SLOW_LOAD_C).unwrap();
    let app = build.path().join("libecho_slow.so");
    let include = ["-I", "crates/rs-app/include", ctor.to_str().unwrap()];
    build_c("crates/rs-examples/c/echo.c", &app, &include);
    let spec = AppSpec {
        name: "echo_slow",
        path: app,
        endpoints: vec![(0, "/before".to_owned(), 0)],
        endpoint_members: "",
    };
    let text = config_text(&[port], &[spec], &run_as_user());
    let config = ConfigFile::raw(&text);
    give_to_server_user(config.dir.path());
    let (mark, pidfile) = (
        config.dir.path().join("loading"),
        config.dir.path().join("ringsocket.pid"),
    );
    let mut starter = Command::new(env!("CARGO_BIN_EXE_ringsocket"))
        .arg("--daemon")
        .arg("--pidfile")
        .arg(&pidfile)
        .arg(&config.path)
        .env("RS_TEST_LOAD_MARK", &mark)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !mark.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    if !mark.exists() {
        let _ = starter.kill();
        let _ = starter.wait();
        panic!("the app was never loaded");
    }
    // The operator moves the endpoint and reloads while the server starts.
    std::fs::write(&config.path, text.replace("/before\"", "/after\"")).unwrap();
    // SAFETY: kill(2) on our own child, not yet reaped.
    unsafe { kill(starter.id() as i32, libc::SIGHUP) };
    let status = exit_of(&mut starter, Duration::from_secs(30));
    let deadline = Instant::now() + Duration::from_secs(20);
    let daemon = loop {
        let pid = std::fs::read_to_string(&pidfile).ok();
        if let Some(pid) = pid.and_then(|text| text.trim().parse::<i32>().ok()) {
            break Daemon(pid);
        }
        assert!(Instant::now() < deadline, "no pidfile");
        std::thread::sleep(Duration::from_millis(20));
    };
    let origin = "http://allowed.example";
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut after = String::new();
    while !after.starts_with("HTTP/1.1 101 ") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        after = if accepts(port) {
            status_on(port, "/after", origin)
        } else {
            String::new()
        };
    }
    let before = status_on(port, "/before", origin);
    drop(daemon);
    assert_eq!(status, Some(0), "the starting process failed");
    assert!(after.starts_with("HTTP/1.1 101 "), "/after: {after:?}");
    assert!(before.starts_with("HTTP/1.1 404 "), "/before: {before:?}");
}

#[test]
fn the_log_names_every_address_the_server_listens_on() {
    let ports = [free_port(), free_port()];
    let config = config_text(&ports, &[AppSpec::simple("echo")], &run_as_user());
    let mut server = Server::start_config(tempfile::tempdir().unwrap(), &config, ports.to_vec());
    let log = server.capture_stderr();
    let line = format!(
        "listening on ws://127.0.0.1:{}, ws://127.0.0.1:{}\n",
        ports[0], ports[1]
    );
    assert!(
        log.wait_for(&line, Duration::from_secs(10)),
        "{}",
        log.text()
    );
}

/// Fills the server's stderr pipe, which nobody reads: at "debug" each
/// refused handshake logs a line, and 3000 make ~200 KB.
fn fill_the_log(server: &Server) {
    use std::io::{Read, Write};
    for i in 0..3000 {
        let mut stream = std::net::TcpStream::connect(server.addr()).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        stream.write_all(b"GET /echo HTTP/1.1\r\n\r\n").unwrap();
        let mut response = Vec::new();
        let _ = stream.read_to_end(&mut response);
        assert!(
            response.starts_with(b"HTTP/1.1 400 "),
            "request {i}: {:?}",
            String::from_utf8_lossy(&response)
        );
    }
}

#[test]
fn a_log_nobody_reads_does_not_stall_the_server() {
    // The server's stderr is a pipe this test never reads. Once its 64 KiB
    // were full, the next line blocked the thread that logged it: a worker,
    // in the middle of serving its clients. Lines are dropped instead.
    let server = Server::start(&[AppSpec::simple("echo")]);
    fill_the_log(&server);
    let mut client = connect(&server.url("/echo"));
    set_timeout(&client, Duration::from_secs(5));
    client
        .send(tungstenite::Message::text("still here"))
        .unwrap();
    assert_eq!(
        client.read().unwrap(),
        tungstenite::Message::text("still here")
    );
}

#[test]
fn a_panic_in_a_callback_does_not_stall_its_app_while_nobody_reads_the_log() {
    // The default panic hook of the app's own `std` wrote the panic to
    // stderr itself, blocking on the full pipe: the app, whose
    // close_client_on_panic lets it go on, served nobody any more. The
    // SDK's hook leaves the report to its log line, which may be dropped.
    let port = free_port();
    let config = config_text(&[port], &[AppSpec::simple("probe")], &run_as_user()).replace(
        r#""name": "probe","#,
        r#""name": "probe", "close_client_on_panic": true,"#,
    );
    let server = Server::start_config(tempfile::tempdir().unwrap(), &config, vec![port]);
    fill_the_log(&server);
    let mut panicking = connect(&server.url("/probe"));
    next_message(&mut panicking); // its welcome
    panicking
        .send(tungstenite::Message::binary(vec![9]))
        .unwrap();
    let mut client = connect(&server.url("/probe"));
    set_timeout(&client, Duration::from_secs(5));
    next_message(&mut client); // its welcome
    client.send(tungstenite::Message::text("\u{3}ab")).unwrap();
    // Its reply, perhaps after the "bye" for the client that panicked.
    loop {
        match client.read() {
            Ok(tungstenite::Message::Text(t)) if t.starts_with("bye ") => {}
            Ok(tungstenite::Message::Text(t)) => break assert_eq!(t.as_str(), "ab|ab"),
            other => panic!("the app stopped answering: {other:?}"),
        }
    }
}

#[test]
fn every_line_the_log_drops_is_counted_in_a_later_line() {
    // The writer reported drops through its own queue, full again by then
    // while the server kept logging: the report was dropped too, and the
    // count it carried lost. The log is read slowly here while the probe
    // logs three lines per request (case 8), one at notice level.
    use std::io::Read;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    let port = free_port();
    let config = config_text(&[port], &[AppSpec::simple("probe")], &run_as_user());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ringsocket.json5");
    std::fs::write(&path, config).unwrap();
    let mut child = server_command()
        .arg(&path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let slow = Arc::new(AtomicBool::new(true));
    let text = Arc::new(Mutex::new(Vec::new()));
    let reader = {
        let (slow, text) = (slow.clone(), text.clone());
        std::thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            while let Ok(n @ 1..) = stderr.read(&mut chunk) {
                text.lock().unwrap().extend_from_slice(&chunk[..n]);
                if slow.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        })
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while !accepts(port) {
        assert!(child.try_wait().unwrap().is_none(), "the server exited");
        assert!(Instant::now() < deadline, "the server did not listen");
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut client = connect(&format!("ws://127.0.0.1:{port}/probe"));
    next_message(&mut client); // its welcome
    let mut logged = 0u64;
    let load = Instant::now();
    while load.elapsed() < Duration::from_secs(2) {
        for _ in 0..32 {
            client.send(tungstenite::Message::binary(vec![8])).unwrap();
        }
        for _ in 0..32 {
            next_message(&mut client);
        }
        logged += 32;
    }
    slow.store(false, Ordering::Relaxed);
    drop(client);
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert_eq!(exit_of(&mut child, Duration::from_secs(20)), Some(0));
    reader.join().unwrap();
    let text = String::from_utf8_lossy(&text.lock().unwrap()).into_owned();
    // The notice line of each request, not its debug and info lines.
    let written = text
        .lines()
        .filter(|l| l.contains(" reads=") && !l.contains("debug id=") && !l.contains("info id="))
        .count() as u64;
    let dropped: u64 = text
        .lines()
        .filter_map(|l| {
            let (before, _) = l.split_once(" log lines dropped")?;
            before.rsplit(' ').next()?.parse::<u64>().ok()
        })
        .sum();
    assert!(dropped > 0, "nothing was dropped: the test proves nothing");
    assert!(
        written + dropped >= logged,
        "{logged} notice lines logged, {written} written and {dropped} counted as dropped"
    );
}

/// A reload checks the files a configuration names, as --check and startup
/// do. Apps are not reloaded, so an app file gone is a warning (the next
/// start would fail), and the rest is applied. (A session refused the
/// reload for it; before that, it applied the endpoints without a word.)
#[test]
fn a_reload_whose_app_file_is_missing_warns_and_applies_the_rest() {
    let dir = support::tls::shared_dir();
    let port = free_port();
    let so = dir.path().join("libecho.so");
    std::fs::copy(app_path("echo"), &so).unwrap();
    let config = |path: &str| {
        format!(
            r#"{{ "ports": [{{ "port_number": {port}, "is_unencrypted": true, "ip_addrs": ["127.0.0.1"] }}],
  "apps": [{{ "name": "echo", "app_path": "libecho.so",
              "endpoints": [{{ "endpoint_id": 0, "url": "ws://localhost:{port}{path}" }}] }}],
  {} "worker_c": 1, "log_level": "debug" }}"#,
            run_as_user()
        )
    };
    let config_path = dir.path().join("ringsocket.json5");
    let mut server = Server::start_config(dir, &config("/a"), vec![port]);
    let log = server.capture_stderr();
    std::fs::remove_file(&so).unwrap();
    support::tls::write(&config_path, &config("/b"));
    server.signal(libc::SIGHUP);
    assert!(
        log.wait_until(Duration::from_secs(10), |t| t.contains(
            "SIGHUP: the running apps are not affected, but a restart would fail"
        ) && t
            .contains("libecho.so\": no such file")
            && t.contains("SIGHUP: endpoints reloaded")),
        "{}",
        log.text()
    );
    let old = raw_http(
        server.addr(),
        &upgrade_request("/a", "Sec-WebSocket-Version: 13\r\n"),
    );
    let new = raw_http(
        server.addr(),
        &upgrade_request("/b", "Sec-WebSocket-Version: 13\r\n"),
    );
    assert!(
        old.starts_with("HTTP/1.1 404") && new.starts_with("HTTP/1.1 101"),
        "after a reload of a configuration with a missing app file: /a -> {:?}, /b -> {:?}\n{}",
        old.lines().next(),
        new.lines().next(),
        log.text()
    );
}

#[test]
fn a_reload_with_the_same_ports_in_another_order_reloads_the_endpoints() {
    // The listening sockets do not depend on the order the ports are
    // listed in: a reordered list is no reason to keep the old endpoints.
    let mut server = Server::start_with(2, &[AppSpec::simple("echo")], "");
    let log = server.capture_stderr();
    let [a, b] = [server.ports[0], server.ports[1]];
    let config = std::fs::read_to_string(&server.config_path).unwrap();
    let port = |p: u16| {
        format!(r#"{{ "port_number": {p}, "is_unencrypted": true, "ip_addrs": ["127.0.0.1"] }}"#)
    };
    let (first, second) = (port(a), port(b));
    let swapped = config
        .replacen(&first, "FIRST", 1)
        .replacen(&second, &first, 1)
        .replacen("FIRST", &second, 1)
        .replace("/echo\"", "/moved\"");
    assert_ne!(swapped, config);
    std::fs::write(&server.config_path, swapped).unwrap();
    server.signal(1);
    assert!(
        log.wait_for("SIGHUP: endpoints reloaded (1; ", Duration::from_secs(10)),
        "{}",
        log.text()
    );
    assert!(
        !log.text().contains("apply only at a restart"),
        "{}",
        log.text()
    );
    let response = raw_http(
        server.addr(),
        &upgrade_request("/moved", "Sec-WebSocket-Version: 13\r\n"),
    );
    assert!(response.starts_with("HTTP/1.1 101 "), "{response}");
}
