//! An app thread's lifecycle: timers in both modes and their return values,
//! init and fini, fatal statuses, panics, SIGTERM while a callback runs, and
//! every client's close callback before fini. Uses a C app compiled at test
//! time, configured through the server's environment.

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use support::*;
use tungstenite::Message;

/// A C app configured by environment variables (read in
/// `ringsocket_app_v1`, before the descriptor is handed over):
/// - `ZZ_TMODE` 0/1/2 (none, sleep, wake), `ZZ_TINT` the first interval in
///   µs, `ZZ_TRET` what the timer returns, `ZZ_TMAX` the tick after which it
///   returns 0 instead;
/// - `ZZ_EVENTS` a file to which init, open, read, close, timer (its first
///   100 ticks) and fini append a line each;
/// - `ZZ_INIT_FAIL` the name of an app whose init returns -1;
/// - `ZZ_OPEN_ID`: open sends the client its id (u64, network order);
/// - `ZZ_CLOSE_EVERY`: once a read has slept (`s`), close sends every
///   client 1000 bytes.
///
/// The timer logs `zz tick N` for N <= 10 and every power of two.
/// Read (binary): `e...` echoes, `s` + u16 ms sleeps then replies "slept",
/// `L` never returns, `x` + i32 returns that value, `P` prints 4 MiB to
/// stdout, anything else returns 0.
const APP_C: &str = r#"
#define _DEFAULT_SOURCE
#include <ringsocket_app.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>

static unsigned long long ticks;
static int32_t tret;
static unsigned long long tmax;
static char name[64];

static void event(const char *what)
{
    const char *path = getenv("ZZ_EVENTS");
    if (!path) return;
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0644);
    if (fd < 0) return;
    char line[128];
    int n = snprintf(line, sizeof line, "%s %s\n", name, what);
    if (write(fd, line, (size_t)n) < 0) { /* nothing to do */ }
    close(fd);
}

static int32_t zz_init(rs_t *rs)
{
    if (getenv("ZZ_INIT_SLEEP_MS")) usleep((useconds_t)atoi(getenv("ZZ_INIT_SLEEP_MS")) * 1000u);
    const rs_app_conf *conf = rs_get_conf(rs);
    size_t len = conf->name_len < 63 ? conf->name_len : 63;
    memcpy(name, conf->name, len);
    name[len] = 0;
    event("init");
    const char *fail = getenv("ZZ_INIT_FAIL");
    if (fail && strcmp(fail, name) == 0) return -1;
    return 0;
}

static int armed;
static uint8_t kilobyte[1000];

static int32_t zz_open(rs_t *rs)
{
    event("open");
    if (getenv("ZZ_OPEN_ID")) {
        rs_w_uint64_hton(rs, rs_get_client_id(rs));
        rs_to_cur(rs, RS_DATA_BIN);
    }
    return 0;
}

static int32_t zz_close(rs_t *rs)
{
    event("close");
    if (armed && getenv("ZZ_CLOSE_EVERY")) {
        rs_w_p(rs, kilobyte, sizeof kilobyte);
        rs_to_every(rs, RS_DATA_BIN);
    }
    return 0;
}
static void zz_fini(rs_t *rs) { (void)rs; event("fini"); }

static int32_t zz_timer(rs_t *rs)
{
    ticks++;
    if (ticks <= 100) event("timer");
    if (ticks <= 10 || (ticks & (ticks - 1)) == 0)
        rs_log(rs, RS_LOG_NOTICE, "zz tick %llu", ticks);
    if (tmax && ticks >= tmax) return 0;
    return tret;
}

static int32_t zz_read(rs_t *rs, const uint8_t *p, size_t len)
{
    event("read");
    if (len == 0) return 0;
    switch (p[0]) {
    case 'e':
        rs_w_p(rs, p, len);
        break;
    case 's': {
        unsigned ms = len >= 3 ? ((unsigned)p[1] << 8 | p[2]) : 0;
        armed = 1;
        usleep(ms * 1000u);
        rs_w_str(rs, "slept");
        break;
    }
    case 'L':
        for (;;) sleep(1);
    case 'P':
        for (int i = 0; i < 65536; i++)
            printf("diagnostic line %08d ......................................\n", i);
        fflush(stdout);
        return 0;
    case 'x': {
        uint32_t v = len >= 5 ? ((uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 8 | p[4]) : 0;
        return (int32_t)v;
    }
    default:
        return 0;
    }
    int32_t sent = rs_to_cur(rs, RS_DATA_BIN);
    return sent == RS_SEND_OK || sent == RS_SEND_SHUTTING_DOWN ? 0 : -1;
}

static const rs_arg_spec zz_args[] = {
    { .kind = RS_ARG_NET, .shape = RS_SHAPE_RANGE, .elem_size = 1, .min = 0, .max = 65536 },
};
static const rs_read_case zz_cases[] = {
    { .data_kind = RS_DATA_BIN, .read = zz_read, .args = zz_args, .arg_count = 1 },
};
static rs_app_descriptor zz_descriptor = {
    .abi_version = RS_ABI_VERSION,
    .descriptor_size = sizeof(rs_app_descriptor),
    .init = zz_init,
    .open = zz_open,
    .close = zz_close,
    .fini = zz_fini,
    .read_mode = RS_READ_BIN,
    .timer_mode = RS_TIMER_NONE,
    .app_data_align = 1,
    .cases = zz_cases,
    .case_count = 1,
};

const rs_app_descriptor *ringsocket_app_v1(void)
{
    const char *mode = getenv("ZZ_TMODE");
    if (mode && atoi(mode) != 0) {
        zz_descriptor.timer_mode = (uint8_t)atoi(mode);
        zz_descriptor.timer = zz_timer;
        zz_descriptor.timer_interval_us = strtoull(getenv("ZZ_TINT"), NULL, 10);
        tret = (int32_t)strtol(getenv("ZZ_TRET") ? getenv("ZZ_TRET") : "0", NULL, 10);
        tmax = strtoull(getenv("ZZ_TMAX") ? getenv("ZZ_TMAX") : "0", NULL, 10);
    }
    return &zz_descriptor;
}
"#;

/// Builds the C app into `dir/libzz.so` (and a copy per extra name, so
/// that two apps do not share its globals).
fn build_app(dir: &Path) -> PathBuf {
    let source = dir.join("zz_app.c");
    std::fs::write(&source, APP_C).unwrap();
    let out = dir.join("zz_built.so");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let include = root.join("crates/rs-app/include");
    build_c(
        source.to_str().unwrap(),
        &out,
        &["-Wno-unused-parameter", "-I", include.to_str().unwrap()],
    );
    out
}

/// A running server with the C app(s) `names` (each its own copy of the
/// shared object), `env` in its environment, `globals` in its config.
struct Zz {
    server: Server,
    log: Log,
    events: PathBuf,
    _build: tempfile::TempDir,
}

fn start(names: &[&'static str], env: &[(&str, &str)], globals: &str, wait: bool) -> Zz {
    let build = tempfile::tempdir().unwrap();
    let so = build_app(build.path());
    let apps: Vec<AppSpec> = names
        .iter()
        .map(|name| {
            let copy = build.path().join(format!("lib{name}.so"));
            std::fs::copy(&so, &copy).unwrap();
            AppSpec::at(name, copy)
        })
        .collect();
    // The server may run as another user (rstest, when the tests run as
    // root): the events file must be writable by it.
    let events = build.path().join("events.txt");
    std::fs::write(&events, "").unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(build.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&events, std::fs::Permissions::from_mode(0o666)).unwrap();
    }
    let mut env: Vec<(&str, &str)> = env.to_vec();
    let events_str = events.to_str().unwrap().to_owned();
    env.push(("ZZ_EVENTS", &events_str));
    let ports = vec![free_port()];
    // One worker unless `globals` says otherwise.
    let workers = if globals.contains("\"worker_c\"") {
        ""
    } else {
        "\"worker_c\": 1, "
    };
    let config = config_text(
        &ports,
        &apps,
        &format!(
            "{}{workers}\"shutdown_wait_ws\": 2, {globals}",
            run_as_user()
        ),
    );
    let mut server = Server::spawn_config_env(tempfile::tempdir().unwrap(), &config, ports, &env);
    if wait {
        // (stderr is still in its pipe: the log below gets all of it.)
        server.wait_until_listening();
    }
    let log = server.capture_stderr();
    Zz {
        server,
        log,
        events,
        _build: build,
    }
}

impl Zz {
    fn events(&self) -> Vec<String> {
        std::fs::read_to_string(&self.events)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn count(&self, what: &str) -> usize {
        self.events().iter().filter(|l| l.ends_with(what)).count()
    }

    /// CPU time (user + system, in clock ticks of 10 ms) of the server's
    /// thread whose name starts with `prefix`.
    fn thread_cpu(&self, prefix: &str) -> u64 {
        let pid = self.server.pid();
        let mut total = 0;
        for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
            let Ok(stat) = std::fs::read_to_string(task.unwrap().path().join("stat")) else {
                continue;
            };
            let (open, close) = (stat.find('(').unwrap(), stat.rfind(')').unwrap());
            if !stat[open + 1..close].starts_with(prefix) {
                continue;
            }
            let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
            // utime and stime: fields 14 and 15 of stat, 12 and 13 here.
            total += fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        }
        total
    }

    /// The app thread's CPU share (percent) over `period`.
    fn app_cpu_percent(&self, period: Duration) -> u64 {
        let before = self.thread_cpu("app ");
        std::thread::sleep(period);
        let after = self.thread_cpu("app ");
        (after - before) * 10 * 100 / period.as_millis() as u64
    }

    fn url(&self, name: &str) -> String {
        self.server.url(&format!("/{name}"))
    }
}

fn echo(client: &mut Client, bytes: &[u8]) -> Duration {
    let start = Instant::now();
    client.send(Message::binary(bytes.to_vec())).unwrap();
    assert_eq!(next_message(client), Message::binary(bytes.to_vec()));
    start.elapsed()
}

// ---- Timers ---------------------------------------------------------------

#[test]
fn a_sleeping_timer_waits_for_traffic() {
    let zz = start(
        &["zz"],
        &[
            ("ZZ_TMODE", "1"),
            ("ZZ_TINT", "20000"),
            ("ZZ_TRET", "20000"),
        ],
        "",
        true,
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(zz.count("timer"), 0, "no traffic, yet: {:?}", zz.events());
    // An open notice wakes the thread: the due timer runs, once.
    let _client = connect(&zz.url("zz"));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(zz.count("timer"), 1, "{:?}", zz.events());
}

/// A sleeping timer re-armed for 1 µs is due again as soon as it returns:
/// without traffic it still waits (it ran back to back, the thread never
/// sleeping).
#[test]
fn a_sleeping_timer_with_a_tiny_interval_still_waits_for_traffic() {
    let zz = start(
        &["zz"],
        &[("ZZ_TMODE", "1"), ("ZZ_TINT", "1"), ("ZZ_TRET", "1")],
        "",
        true,
    );
    let mut client = connect(&zz.url("zz"));
    echo(&mut client, b"e-wake");
    std::thread::sleep(Duration::from_millis(200));
    let ticks = zz.count("timer");
    let cpu = zz.app_cpu_percent(Duration::from_secs(1));
    assert!(cpu < 20, "{cpu}% CPU without traffic");
    assert_eq!(
        zz.count("timer"),
        ticks,
        "the timer ran without traffic: {:?}",
        zz.events()
    );
    // Traffic: the due timer runs again.
    echo(&mut client, b"e-again");
    std::thread::sleep(Duration::from_millis(100));
    assert!(zz.count("timer") > ticks, "{:?}", zz.events());
}

#[test]
fn huge_timer_intervals_neither_overflow_nor_spin() {
    for (tint, tret, tmode) in [
        (u64::MAX.to_string(), "1", "2"),
        (u64::MAX.to_string(), "1", "1"),
        ("1000".to_owned(), &*i32::MAX.to_string(), "2"),
    ] {
        let tret = tret.to_owned();
        let zz = start(
            &["zz"],
            &[("ZZ_TMODE", tmode), ("ZZ_TINT", &tint), ("ZZ_TRET", &tret)],
            "",
            true,
        );
        let mut client = connect(&zz.url("zz"));
        echo(&mut client, b"e-huge");
        std::thread::sleep(Duration::from_millis(200));
        let cpu = zz.app_cpu_percent(Duration::from_secs(1));
        echo(&mut client, b"e-again");
        assert!(cpu < 20, "{tint}/{tret}: {cpu}% CPU");
        assert!(!zz.log.text().contains("panicked"), "{}", zz.log.text());
        assert!(zz.count("timer") <= 1, "{tint}/{tret}: {:?}", zz.events());
        drop(client);
        let status = zz.server.terminate();
        assert!(status.success(), "{tint}/{tret}: {status}");
    }
}

#[test]
fn a_timer_returning_0_is_never_called_again_and_minus_5_is_fatal() {
    let zz = start(
        &["zz"],
        &[
            ("ZZ_TMODE", "2"),
            ("ZZ_TINT", "10000"),
            ("ZZ_TRET", "10000"),
            ("ZZ_TMAX", "3"),
        ],
        "",
        true,
    );
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(zz.count("timer"), 3);
    drop(zz);
    let mut zz = start(
        &["zz"],
        &[("ZZ_TMODE", "2"), ("ZZ_TINT", "10000"), ("ZZ_TRET", "-5")],
        "",
        false,
    );
    let status = zz.server.wait_exit(Duration::from_secs(20));
    assert_eq!(status.code(), Some(1), "{}", zz.log.text());
    assert!(
        zz.log.wait_for(
            "app 'zz': timer callback returned -5; timer callbacks may return -1, 0 or a positive number of microseconds",
            Duration::from_secs(2)
        ),
        "{}",
        zz.log.text()
    );
    assert_eq!(zz.count("fini"), 1, "{:?}", zz.events());
}

// ---- CPU of an idle app thread ---------------------------------------------

// ---- init and fini ------------------------------------------------------------

#[test]
fn fini_runs_once_at_shutdown_after_the_last_close_callback() {
    let zz = start(&["zz"], &[], "", true);
    let mut a = connect(&zz.url("zz"));
    let mut b = connect(&zz.url("zz"));
    echo(&mut a, b"ea");
    echo(&mut b, b"eb");
    let events_path = zz.events.clone();
    let status = zz.server.terminate();
    assert!(status.success(), "{status}");
    drop((a, b));
    let events: Vec<String> = std::fs::read_to_string(events_path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_fini_once_and_last(&events);
    assert_eq!(
        events.iter().filter(|l| *l == "zz close").count(),
        2,
        "{events:?}"
    );
}

/// Asserts that the app's events end with its one fini.
fn assert_fini_once_and_last(events: &[String]) {
    let finis = events.iter().filter(|l| *l == "zz fini").count();
    assert_eq!(finis, 1, "{events:?}");
    assert_eq!(
        events.last().map(String::as_str),
        Some("zz fini"),
        "{events:?}"
    );
}

#[test]
fn a_fatal_read_status_runs_fini_once_then_exits_1_with_the_documented_line() {
    let mut zz = start(&["zz"], &[], "", true);
    let mut a = connect(&zz.url("zz"));
    a.send(Message::binary(b"x\xff\xff\xff\xff".to_vec()))
        .unwrap();
    let status = zz.server.wait_exit(Duration::from_secs(20));
    assert_eq!(status.code(), Some(1), "{}", zz.log.text());
    assert!(
        zz.log
            .text()
            .contains("app 'zz': read callback returned -1 (fatal)"),
        "{}",
        zz.log.text()
    );
    let events = zz.events();
    assert_fini_once_and_last(&events);
}

#[test]
fn an_app_that_failed_with_its_ring_full_is_not_waited_for_at_shutdown() {
    // The failed app's ring stays full: the close notices of the shutdown
    // wait in its worker's backlog for an app that will never take them.
    let mut server = Server::start_with(
        1,
        &[AppSpec::simple("probe")],
        r#""worker_c": 1, "max_ws_msg_size": 4096, "inbound_ring_buf_size": 1,
           "shutdown_wait_ws": 3,"#,
    );
    let log = server.capture_stderr();
    let mut failing = support::raw::RawWs::connect(server.addr(), "/probe");
    failing.frame(); // welcome
    // Case 12 sleeps 1 s, then case 6 returns -1: fatal (in one write,
    // ahead of what fills the ring).
    let mut fatal = support::raw::masked(support::raw::BINARY, &[12, 0x03, 0xe8]);
    let minus_1 = [&[6u8][..], &(-1i32).to_be_bytes()].concat();
    fatal.extend(support::raw::masked(support::raw::BINARY, &minus_1));
    failing.send_raw(&fatal);
    // Meanwhile others fill its ring (case 15: text it would log).
    let mut others: Vec<Client> = (0..20).map(|_| connect(&server.url("/probe"))).collect();
    for client in &mut others {
        client
            .send(Message::binary([&[15u8][..], &[b'x'; 3000]].concat()))
            .unwrap();
    }
    assert!(
        log.wait_for("shutting down", Duration::from_secs(10)),
        "{}",
        log.text()
    );
    let shutdown = Instant::now();
    let status = server.wait_exit(Duration::from_secs(30));
    let took = shutdown.elapsed();
    assert_eq!(status.code(), Some(1), "{}", log.text());
    assert!(
        log.text()
            .contains("notices for an app that is gone dropped"),
        "nothing waited for the failed app: {}",
        log.text()
    );
    // The clients it paused are let go after shutdown_wait_ws (3 s); the
    // notices for the failed app are not waited for as long again.
    assert!(
        took < Duration::from_millis(5000),
        "exited {took:?} after: {}",
        log.text()
    );
}

#[test]
fn a_failed_init_skips_its_fini_and_the_other_apps_fini_runs() {
    let mut zz = start(&["good", "bad"], &[("ZZ_INIT_FAIL", "bad")], "", false);
    let status = zz.server.wait_exit(Duration::from_secs(20));
    assert_eq!(status.code(), Some(1), "{}", zz.log.text());
    let events = zz.events();
    assert!(events.contains(&"bad init".to_owned()), "{events:?}");
    assert!(!events.contains(&"bad fini".to_owned()), "{events:?}");
    assert_eq!(
        events.iter().filter(|l| *l == "good fini").count(),
        1,
        "{events:?}"
    );
}

// ---- SIGTERM while a callback runs ------------------------------------------

#[test]
fn sigterm_during_a_long_callback_waits_for_it_then_exits_0_after_fini() {
    let zz = start(&["zz"], &[], "", true);
    let mut a = connect(&zz.url("zz"));
    set_timeout(&a, Duration::from_secs(20));
    a.send(Message::binary(vec![b's', 0x0b, 0xb8])).unwrap(); // 3000 ms
    std::thread::sleep(Duration::from_millis(300));
    let start = Instant::now();
    zz.server.signal(libc::SIGTERM);
    // A reload asked for meanwhile is not applied, and the log says so.
    std::thread::sleep(Duration::from_millis(200));
    zz.server.signal(libc::SIGHUP);
    let mut server = zz.server;
    let status = server.wait_exit(Duration::from_secs(30));
    let took = start.elapsed();
    assert!(status.success(), "{status}: {}", zz.log.text());
    let events = std::fs::read_to_string(&zz.events).unwrap();
    assert!(events.ends_with("zz fini\n"), "{events}");
    assert!(took >= Duration::from_millis(2000), "exited after {took:?}");
    assert!(
        zz.log
            .text()
            .contains("SIGHUP during shutdown: nothing reloaded"),
        "{}",
        zz.log.text()
    );
}

/// The escape hatch for an app stuck in a callback: here one blocked
/// writing to its stdout, a pipe nobody reads (a stalled journald, say).
/// The exit flushed every stdio stream, the app's too, and blocked on it.
#[test]
fn a_second_sigterm_exits_at_once_while_an_app_is_blocked_on_its_stdout() {
    let build = tempfile::tempdir().unwrap();
    let so = build_app(build.path());
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(build.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let port = free_port();
    let config = config_text(
        &[port],
        &[AppSpec::at("zz", so)],
        &format!("{}\"worker_c\": 1,", run_as_user()),
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ringsocket.json5");
    std::fs::write(&path, config).unwrap();
    // Killed when this thread ends, whatever happens.
    let mut child = server_command()
        .arg(&path)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped()) // never read
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !accepts(port) {
        assert!(Instant::now() < deadline, "the server did not listen");
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut client = connect(&format!("ws://127.0.0.1:{port}/zz"));
    echo(&mut client, b"e1");
    client.send(Message::binary(b"P".to_vec())).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let sigterm = || {
        // SAFETY: kill(2) on our own child, not reaped yet.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    };
    sigterm(); // waits for the app, for ever
    std::thread::sleep(Duration::from_millis(500));
    sigterm();
    let deadline = Instant::now() + Duration::from_secs(5);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "still running 5 s after the second SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(1));
}

#[test]
fn sigterm_during_init_stops_after_it_with_status_1_and_runs_fini() {
    let zz = start(&["zz"], &[("ZZ_INIT_SLEEP_MS", "1500")], "", false);
    std::thread::sleep(Duration::from_millis(300));
    zz.server.signal(libc::SIGTERM);
    let mut server = zz.server;
    let status = server.wait_exit(Duration::from_secs(20));
    assert_eq!(status.code(), Some(1), "{}", zz.log.text());
    assert!(
        zz.log
            .text()
            .contains("SIGTERM while the apps ran their init: stopped"),
        "{}",
        zz.log.text()
    );
    let events = std::fs::read_to_string(&zz.events).unwrap();
    assert_eq!(events, "zz init\nzz fini\n");
}

/// The probe app on `/probe` (endpoint 0) and `/p97` (endpoint 97, where
/// its open and close callbacks panic), with `app_keys` in its app object;
/// and the server's log.
fn probe_97(app_keys: &str) -> (Server, Log) {
    let port = free_port();
    let spec = AppSpec {
        endpoints: vec![(0, "/probe".into(), 0), (97, "/p97".into(), 0)],
        ..AppSpec::simple("probe")
    };
    let config = config_text(&[port], &[spec], &run_as_user()).replace(
        r#""name": "probe","#,
        &format!(r#""name": "probe", {app_keys}"#),
    );
    let mut server = Server::spawn_config(tempfile::tempdir().unwrap(), &config, vec![port]);
    let log = server.capture_stderr();
    server.wait_until_listening();
    (server, log)
}

#[test]
fn a_panic_in_open_stops_the_server_with_1_and_the_documented_line() {
    let (mut server, log) = probe_97("");
    let url = server.url("/p97");
    let _ = std::thread::spawn(move || {
        let _ = tungstenite::connect(url);
    });
    let status = server.wait_exit(Duration::from_secs(20));
    assert_eq!(status.code(), Some(1), "{}", log.text());
    let text = log.text();
    assert!(
        text.contains("probe: panicked in the open callback: probe was asked to panic in open"),
        "{text}"
    );
    assert!(
        text.contains("app 'probe': open callback panicked (see the log line before this one)"),
        "{text}"
    );
}

#[test]
fn with_close_client_on_panic_panics_in_open_and_close_spare_the_others() {
    let (server, log) = probe_97(r#""close_client_on_panic": true,"#);
    let mut observer = connect(&server.url("/probe"));
    next_message(&mut observer); // welcome
    let mut victim = connect(&server.url("/p97"));
    assert_eq!(close_code(&mut victim), 1011);
    assert!(
        log.wait_for(
            "the client has left already, going on (close_client_on_panic)",
            Duration::from_secs(10)
        ),
        "{}",
        log.text()
    );
    // The app goes on.
    observer.send(Message::binary(vec![6, 0, 0, 0, 0])).unwrap(); // returns 0
    observer.send(Message::binary(vec![8])).unwrap();
    assert!(matches!(next_message(&mut observer), Message::Text(t) if t.contains("reads=1")));
    // (Left open, they would keep the shutdown waiting for close frames.)
    drop((observer, victim));
    assert!(server.terminate().success());
}

/// Keeps the app busy for `busy_ms` in a read callback, fills its inbound
/// ring (1 MiB) behind it from ten more clients, and sends SIGTERM: the
/// close notices of the shutdown wait in the worker's backlog. Returns the
/// threads that read each client to its end.
fn fill_the_ring_then_sigterm(zz: &Zz, busy_ms: u16) -> Vec<std::thread::JoinHandle<()>> {
    fn read_to_end(mut client: Client) -> std::thread::JoinHandle<()> {
        std::thread::spawn(move || {
            set_timeout(&client, Duration::from_secs(15));
            let deadline = Instant::now() + Duration::from_secs(15);
            while client.read().is_ok() && Instant::now() < deadline {}
        })
    }
    let mut busy = connect(&zz.url("zz"));
    let [hi, lo] = busy_ms.to_be_bytes();
    busy.send(Message::binary(vec![b's', hi, lo])).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let mut readers: Vec<_> = (0..10)
        .map(|_| {
            let mut client = connect(&zz.url("zz"));
            for _ in 0..4 {
                let mut m = vec![b'x'; 8000];
                m[0] = b'n'; // read returns 0, no reply
                client.send(Message::binary(m)).unwrap();
            }
            read_to_end(client)
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    zz.server.signal(libc::SIGTERM);
    readers.push(read_to_end(busy));
    readers
}

const FULL_RING: &str = r#""inbound_ring_buf_size": 1, "max_ws_msg_size": 16384,"#;

/// docs/app-abi.md: close is called "for each client whose connection
/// ended, for any reason", and thread.rs hands the app "what the workers
/// left (the close notices of a shutdown, say)" before fini. With the
/// app busy in a long callback at SIGTERM and its inbound ring full, the
/// close notices wait in the worker's backlog, which the worker drops when
/// it ends.
#[test]
fn every_client_gets_its_close_callback_before_fini_even_when_the_ring_was_full_at_sigterm() {
    let zz = start(&["zz"], &[], FULL_RING, true);
    let readers = fill_the_ring_then_sigterm(&zz, 3000);
    let mut server = zz.server;
    let status = server.wait_exit(Duration::from_secs(30));
    for reader in readers {
        let _ = reader.join();
    }
    let events = std::fs::read_to_string(&zz.events).unwrap();
    let (opens, closes, reads) = (
        events.matches("zz open\n").count(),
        events.matches("zz close\n").count(),
        events.matches("zz read\n").count(),
    );
    eprintln!("opens {opens}, closes {closes}, reads {reads}, status {status}");
    assert!(events.ends_with("zz fini\n"), "{events}");
    assert_eq!(
        closes, opens,
        "{opens} clients opened, {closes} close callbacks before fini ({reads} reads)"
    );
}

/// A worker with no clients left ends as soon as the shutdown begins, and
/// nothing reads the app's ring to it after that. An app whose close
/// callbacks send every client something filled that ring and waited for
/// room for good, so it never took the close notices the other worker held
/// for it: those clients had no close callback before fini.
#[test]
fn an_app_sending_to_a_worker_that_ended_still_gets_every_close_before_fini() {
    let zz = start(
        &["zz"],
        &[("ZZ_OPEN_ID", "1"), ("ZZ_CLOSE_EVERY", "1")],
        r#""worker_c": 2, "max_ws_msg_size": 4096, "inbound_ring_buf_size": 1,
           "outbound_ring_buf_size": 1, "max_http_request_size": 1024,"#,
        true,
    );
    // 400 clients on worker 0; those the kernel puts on worker 1 leave.
    let mut kept = Vec::new();
    for _ in 0..3000 {
        if kept.len() == 400 {
            break;
        }
        let mut client = try_connect_small(zz.server.addr(), "/zz").unwrap();
        let Message::Binary(id) = next_message(&mut client) else {
            panic!("no id")
        };
        let id = u64::from_be_bytes(id[..8].try_into().unwrap());
        if support::probe::id_parts(id).0 == 0 {
            kept.push(client);
        }
    }
    assert_eq!(kept.len(), 400, "too few clients on worker 0");
    std::thread::sleep(Duration::from_millis(300));
    // Busy for 1.5 s across the SIGTERM (and armed): worker 0's close
    // notices wait for the app, and worker 1 ends at once.
    kept[0]
        .send(Message::binary(vec![b's', 0x05, 0xdc]))
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    zz.server.signal(libc::SIGTERM);
    let Zz {
        mut server, events, ..
    } = zz;
    let status = server.wait_exit(Duration::from_secs(30));
    drop(kept);
    let events = std::fs::read_to_string(events).unwrap();
    assert!(status.success(), "{status}");
    assert!(events.ends_with("zz fini\n"), "{events}");
    assert_eq!(
        events.matches("zz close\n").count(),
        events.matches("zz open\n").count(),
        "close callbacks before fini, against opens"
    );
}

/// While it waits at shutdown, for its clients' closing handshakes (up to
/// close_timeout, 2 s here) and then for a busy app to take the notices in
/// its backlog (as long again), the worker polls every millisecond: it
/// must not spin (it did, woken by the stop flag and, past close_timeout,
/// by a deadline already passed).
#[test]
fn a_worker_waiting_at_shutdown_sleeps_between_polls() {
    let zz = start(&["zz"], &[], FULL_RING, true);
    let readers = fill_the_ring_then_sigterm(&zz, 8000);
    let sigterm = Instant::now();
    let cpu_ms_over = |from: Duration, to: Duration| {
        while sigterm.elapsed() < from {
            std::thread::sleep(Duration::from_millis(10));
        }
        let before = zz.thread_cpu("worker ");
        std::thread::sleep(to - from);
        (zz.thread_cpu("worker ") - before) * 10
    };
    let before_close_timeout = cpu_ms_over(Duration::from_millis(500), Duration::from_millis(1800));
    let after_close_timeout = cpu_ms_over(Duration::from_millis(2300), Duration::from_millis(3600));
    let Zz {
        mut server, log, ..
    } = zz;
    server.wait_exit(Duration::from_secs(30));
    for reader in readers {
        let _ = reader.join();
    }
    assert!(
        log.text()
            .contains("notices its apps did not take in time are dropped"),
        "the app was to be busy past twice close_timeout: {}",
        log.text()
    );
    // 1.3 s each; a spinning worker uses all of it.
    for (when, used) in [
        ("before", before_close_timeout),
        ("after", after_close_timeout),
    ] {
        assert!(
            used < 400,
            "the worker used {used} ms of CPU in 1.3 s {when} close_timeout"
        );
    }
}
