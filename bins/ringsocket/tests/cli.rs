//! Runs the real `ringsocket` binary: `--help`, `--version`, usage errors,
//! `--check` on valid and invalid configurations (including every example
//! configuration, and the "user" the server would switch to), and that
//! serving validates the configuration first.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs the binary with these arguments.
fn ringsocket(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ringsocket"))
        .args(args)
        .output()
        .expect("run ringsocket")
}

fn run(args: &[&str]) -> Output {
    let args: Vec<&std::ffi::OsStr> = args.iter().map(std::ffi::OsStr::new).collect();
    ringsocket(&args)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A fresh, empty temporary folder for one test, removed when dropped.
/// A fresh temporary folder, removed when dropped.
fn temp_dir(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("ringsocket-cli-test-{name}-"))
        .tempdir()
        .unwrap()
}

/// A folder holding `rs.json5` with `text`, and an empty `app.so`.
fn config_dir(name: &str, text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = temp_dir(name);
    std::fs::write(dir.path().join("app.so"), b"").unwrap();
    let file = dir.path().join("rs.json5");
    std::fs::write(&file, text).unwrap();
    (dir, file)
}

const VALID: &str = r#"{
  // A comment, as JSON5 allows.
  ports: [{port_number: 8080, is_unencrypted: true, ip_addrs: ["127.0.0.1"]}],
  apps: [{
    name: "echo",
    app_path: "app.so",
    endpoints: [{endpoint_id: 0, url: "ws://localhost:8080/echo"},
                {endpoint_id: 1, url: "ws://localhost:8080/echo2"}],
  }],
  worker_c: 3,
  user: "nobody",
}"#;

#[test]
fn help_prints_usage_and_exits_0() {
    for flag in ["--help", "-h"] {
        let out = run(&[flag]);
        assert_eq!(out.status.code(), Some(0));
        let text = stdout(&out);
        assert!(
            text.contains("Usage: ringsocket [--check] [CONFIG]"),
            "{text}"
        );
        assert!(text.contains("default: /etc/ringsocket.json"), "{text}");
        assert!(text.contains("--check"), "{text}");
        assert!(text.contains("--version"), "{text}");
        assert_eq!(stderr(&out), "");
    }
}

#[test]
fn version_prints_name_and_version() {
    for flag in ["--version", "-V"] {
        let out = run(&[flag]);
        assert_eq!(out.status.code(), Some(0));
        assert_eq!(
            stdout(&out),
            format!("ringsocket {}\n", env!("CARGO_PKG_VERSION"))
        );
    }
}

#[test]
fn usage_errors_exit_2_with_a_hint() {
    let out = run(&["--chek", "x.json"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "ringsocket: unknown option '--chek'\nTry 'ringsocket --help' for more information.\n"
    );
    assert_eq!(stdout(&out), "");
    let out = run(&["a.json", "b.json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).starts_with("ringsocket: unexpected argument 'b.json'"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn check_prints_a_summary_and_exits_0() {
    let (dir, file) = config_dir("check-ok", VALID);
    let out = run(&["--check", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        format!(
            "\
{file}: configuration OK
ports:
  8080 ws:// (plaintext) on 127.0.0.1:8080
apps:
  echo ({app})
    endpoint 0: ws://localhost:8080/echo
    endpoint 1: ws://localhost:8080/echo2
workers: 3 (from worker_c)
",
            file = file.display(),
            app = dir.path().join("app.so").display()
        )
    );
    assert_eq!(stderr(&out), "");
}

#[test]
fn check_refuses_a_user_that_startup_as_root_would_refuse() {
    // Started as root, the server switches to "user": one that does not
    // exist, or root itself, stops startup; --check says so first. Not
    // as root, no switch happens: a note, and the check passes.
    for (user, why) in [
        (
            "rs-no-such-user",
            "user 'rs-no-such-user' (configuration key \"user\") does not exist: create it \
             (see docs/operations.md) or name another user",
        ),
        (
            "root",
            "user 'root' (configuration key \"user\") is root (uid 0): name an unprivileged \
             user for the server to switch to",
        ),
    ] {
        let text = VALID.replace("\"nobody\"", &format!("\"{user}\""));
        let (_dir, file) = config_dir("check-user", &text);
        let out = run(&["--check", file.to_str().unwrap()]);
        if support::is_root() {
            assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
            assert_eq!(
                stderr(&out),
                format!(
                    "{}: {why}\nringsocket: 1 configuration error\n",
                    file.display()
                )
            );
        } else {
            assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
            assert_eq!(
                stderr(&out),
                format!(
                    "ringsocket: note: {why} (this matters only when the server is started \
                     as root)\n"
                )
            );
        }
    }
}

#[test]
fn check_notes_what_is_valid_but_works_other_than_it_reads() {
    let text = VALID.replace(
        r#"ip_addrs: ["127.0.0.1"]}],"#,
        r#"ip_addrs: ["127.0.0.1"]}, {port_number: 8081, is_unencrypted: true}],
  certs: [{hostnames: ["a.test"], privkey_path: "app.so", pubchain_path: "app.so"}],"#,
    );
    assert_ne!(text, VALID);
    let (_dir, file) = config_dir("check-notes", &text);
    let out = run(&["--check", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let file = file.display();
    assert!(
        stderr(&out).contains(&format!(
            "ringsocket: note: {file}: ports[1]: no endpoint's url is on port 8081 (ws://): every \
             request to it is answered 404\n"
        )),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains(&format!(
            "ringsocket: note: {file}: certs: no port serves wss:// (all have \"is_unencrypted\": \
             true), so the certs are not loaded (nor their contents checked)\n"
        )),
        "{}",
        stderr(&out)
    );
}

#[test]
fn check_computes_the_worker_count_when_not_configured() {
    let (_dir, file) = config_dir("check-workers", &VALID.replace("worker_c: 3,", ""));
    let out = run(&[file.to_str().unwrap(), "--check"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let workers = cpus.saturating_sub(1).max(1);
    let cpu_word = if cpus == 1 { "CPU" } else { "CPUs" };
    assert!(
        stdout(&out).ends_with(&format!(
            "workers: {workers} ({cpus} {cpu_word} minus 1 app, at least 1)\n"
        )),
        "{}",
        stdout(&out)
    );
}

#[test]
fn check_lists_every_error_on_stderr_and_exits_2() {
    let text = VALID
        .replace("port_number: 8080,", "port_numbr: 8080,")
        .replace("ws://localhost:8080/echo2", "ws://localhost:9999/echo2")
        .replace("worker_c: 3", "worker_c: 0");
    let (_dir, file) = config_dir("check-errors", &text);
    let out = run(&["--check", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stdout(&out), "");
    let f = file.display();
    assert_eq!(
        stderr(&out),
        format!(
            "\
{f}: ports[0].port_numbr: unknown key in ports[0]; did you mean \"port_number\"?
{f}: ports[0]: missing required key \"port_number\" (an integer from 1 to 65535)
{f}: worker_c: 0: must be an integer from 1 to 1024
ringsocket: 3 configuration errors
"
        )
    );
}

#[test]
fn check_reports_cross_rules_with_paths() {
    let text = VALID.replace("ws://localhost:8080/echo2", "wss://x.org:99/a");
    let (_dir, file) = config_dir("check-cross", &text);
    let out = run(&["--check", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let f = file.display();
    assert_eq!(
        stderr(&out),
        format!(
            "\
{f}: apps[0].endpoints[1].url: \"wss://x.org:99/a\": port 99 is not a configured port (configured: 8080)
{f}: apps[0].endpoints[1].url: \"wss://x.org:99/a\": host \"x.org\" is not covered by any cert's \"hostnames\" (no certs are configured)
ringsocket: 2 configuration errors
"
        )
    );
}

#[test]
fn check_verifies_that_named_files_exist() {
    let (dir, file) = config_dir("check-files", VALID);
    std::fs::remove_file(dir.path().join("app.so")).unwrap();
    let out = run(&["--check", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        format!(
            "{}: apps[0].app_path: \"{}\": no such file (relative paths resolve against the configuration file's folder)\nringsocket: 1 configuration error\n",
            file.display(),
            dir.path().join("app.so").display()
        )
    );
}

#[test]
fn check_reports_syntax_errors_with_line_and_column() {
    let (_dir, file) = config_dir("check-syntax", "{\n  ports: [\n}\n");
    let out = run(&["--check", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        format!(
            "{}:3:1: syntax error: expected array, boolean, null, number, object, or string\nringsocket: 1 configuration error\n",
            file.display()
        )
    );
}

#[test]
fn check_reports_a_missing_configuration_file() {
    let dir = temp_dir("check-missing");
    let file = dir.path().join("absent.json");
    let out = run(&["--check", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        format!(
            "{}: cannot read the configuration file: No such file or directory (os error 2)\nringsocket: 1 configuration error\n",
            file.display()
        )
    );
}

#[test]
fn serving_validates_the_configuration_first() {
    let (_dir, file) = config_dir(
        "serve-invalid",
        &VALID.replace("worker_c: 3", "worker_c: 0"),
    );
    let out = run(&[file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("worker_c: 0: must be an integer from 1 to 1024"),
        "{}",
        stderr(&out)
    );
}

/// Every example configuration passes `--check` once the app files it names
/// exist: each is copied into a temporary tree shaped like the workspace
/// (`crates/rs-examples/conf/` and `target/debug/examples/`), with empty app files.
#[test]
fn every_example_configuration_passes_check() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../crates/rs-examples/conf");
    let root = temp_dir("examples");
    let conf = root.path().join("crates/rs-examples/conf");
    std::fs::create_dir_all(&conf).unwrap();
    std::fs::create_dir_all(root.path().join("target/debug/examples")).unwrap();
    let mut checked = 0;
    for entry in std::fs::read_dir(&examples).unwrap() {
        let source = entry.unwrap().path();
        if source.extension().is_none_or(|e| e != "json5") {
            continue;
        }
        let copy = conf.join(source.file_name().unwrap());
        std::fs::copy(&source, &copy).unwrap();
        let config = rs_conf::Config::load(&copy).unwrap_or_else(|e| panic!("{e}"));
        for app in &config.apps {
            assert!(
                app.app_path.starts_with(&conf),
                "{}",
                app.app_path.display()
            );
            std::fs::write(&app.app_path, b"").unwrap();
        }
        let out = ringsocket(&[std::ffi::OsStr::new("--check"), copy.as_os_str()]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}: {}",
            source.display(),
            stderr(&out)
        );
        assert!(
            stdout(&out).contains("configuration OK"),
            "{}",
            stdout(&out)
        );
        // Nothing in them works other than it reads.
        let errors = stderr(&out);
        let notes: Vec<&str> = errors.lines().filter(|l| l.contains(".json5: ")).collect();
        assert!(notes.is_empty(), "{}: {notes:?}", source.display());
        checked += 1;
    }
    assert_eq!(checked, 4);
}

#[test]
fn exit_statuses_hold_when_stderr_cannot_be_written() {
    // A full device or a closed pipe loses the messages; the status stays
    // what a script relies on (it was a panic's 101).
    let run_to_full = |args: &[&str]| {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        Command::new(env!("CARGO_BIN_EXE_ringsocket"))
            .args(args)
            .stderr(full)
            .output()
            .expect("run ringsocket")
            .status
            .code()
    };
    let (_dir, bad) = config_dir(
        "stderr-full-bad",
        &VALID.replace("worker_c: 3", "worker_c: 0"),
    );
    let bad = bad.to_str().unwrap();
    assert_eq!(run_to_full(&["--bogus"]), Some(2));
    assert_eq!(run_to_full(&["--check", bad]), Some(2));
    assert_eq!(run_to_full(&[bad]), Some(2));
    // A valid configuration with a note (an unused port).
    let noted = VALID.replace(
        r#"ip_addrs: ["127.0.0.1"]}],"#,
        r#"ip_addrs: ["127.0.0.1"]}, {port_number: 8081, is_unencrypted: true}],"#,
    );
    let (_dir, noted) = config_dir("stderr-full-note", &noted);
    assert_eq!(run_to_full(&["--check", noted.to_str().unwrap()]), Some(0));
}
