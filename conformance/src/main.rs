//! `rs-conformance`: runs the RFC 6455 conformance cases against an echo
//! endpoint and prints the table. Exit status: 0 when no case FAILED, 1 when
//! one did (or the server died), 2 for a usage or setup error.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use rs_conformance::cases::{self, Settings};
use rs_conformance::server::{self, ManagedServer};
use rs_conformance::tls;
use rs_conformance::{RunConfig, Target, Verdict, report, runner};

const USAGE: &str = "\
usage: rs-conformance (--url ws[s]://HOST:PORT/PATH [--ca PATH] | --server-bin PATH --app PATH [--tls]) [options]

The endpoint must echo every message: text as text, binary as binary.

  --url URL               test a server that is already running (ws:// or wss://)
  --ca PATH               for a wss:// URL: the CA certificate(s) to trust (PEM)
  --server-bin PATH       start this ringsocket binary on a free loopback port
  --app PATH              ... with this echo app (libecho.so); stopped at the end
  --tls                   ... serving wss:// with a CA and certificate for
                          localhost generated at startup
  --server-user NAME      the user a server started as root switches to
                          (default when running as root: nobody)
  --max-message-size N    the server's max_ws_msg_size in bytes (default 16777216)
  --jobs N                cases run at once (default 4)
  --case-timeout SECS     time bound of each case (default 5; large messages: 60)
  --fail-fast-window MS   how long to wait for an early close (default 2000)
  --filter TEXT           only cases whose id contains TEXT (repeatable)
  --list                  list the cases and exit
  --verbose               print every case's verdict as it finishes
  --help                  this text
";

struct Options {
    url: Option<String>,
    ca: Option<PathBuf>,
    tls: bool,
    server_bin: Option<PathBuf>,
    app: Option<PathBuf>,
    server_user: Option<String>,
    settings: Settings,
    config: RunConfig,
    filters: Vec<String>,
    list: bool,
    verbose: bool,
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<Option<Options>, String> {
    let mut options = Options {
        url: None,
        ca: None,
        tls: false,
        server_bin: None,
        app: None,
        server_user: None,
        settings: Settings::default(),
        config: RunConfig::default(),
        filters: Vec::new(),
        list: false,
        verbose: false,
    };
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        let number = |name: &str, text: String| -> Result<u64, String> {
            text.parse::<u64>()
                .ok()
                .filter(|&n| n > 0)
                .ok_or(format!("{name}: {text:?} is not a positive whole number"))
        };
        match arg.as_str() {
            "--help" | "-h" => return Ok(None),
            "--url" => options.url = Some(value("--url")?),
            "--ca" => options.ca = Some(value(&arg)?.into()),
            "--tls" => options.tls = true,
            "--server-bin" => options.server_bin = Some(value("--server-bin")?.into()),
            "--app" => options.app = Some(value("--app")?.into()),
            "--server-user" => options.server_user = Some(value(&arg)?),
            "--max-message-size" => {
                let n = number(&arg, value(&arg)?)?;
                options.settings.max_message_size =
                    usize::try_from(n).map_err(|_| format!("{arg}: {n} is too large"))?;
            }
            "--jobs" => options.config.jobs = number(&arg, value(&arg)?)? as usize,
            "--case-timeout" => {
                options.config.case_timeout = Duration::from_secs(number(&arg, value(&arg)?)?);
            }
            "--fail-fast-window" => {
                options.config.fail_fast_window =
                    Duration::from_millis(number(&arg, value(&arg)?)?);
            }
            "--filter" => options.filters.push(value(&arg)?),
            "--list" => options.list = true,
            "--verbose" => options.verbose = true,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    let managed = options.server_bin.is_some() || options.app.is_some();
    if !options.list {
        match (&options.url, managed) {
            (Some(_), true) => {
                return Err("give either --url or --server-bin/--app, not both".into());
            }
            (None, false) => return Err("give --url or --server-bin and --app".into()),
            (None, true) if options.server_bin.is_none() || options.app.is_none() => {
                return Err("--server-bin and --app go together".into());
            }
            _ => {}
        }
        let wss = options
            .url
            .as_deref()
            .is_some_and(|u| u.starts_with("wss://"));
        if options.tls && !managed {
            return Err(
                "--tls goes with --server-bin/--app; for --url give wss:// and --ca".into(),
            );
        }
        if options.ca.is_some() && !wss {
            return Err("--ca goes with a wss:// --url (--tls makes its own CA)".into());
        }
        if wss && options.ca.is_none() {
            return Err(
                "a wss:// --url needs --ca PATH: the CA that signed the server's certificate"
                    .into(),
            );
        }
    }
    Ok(Some(options))
}

fn main() -> ExitCode {
    let options = match parse(std::env::args().skip(1)) {
        Ok(Some(options)) => options,
        Ok(None) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            eprintln!("rs-conformance: {error}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let cases: Vec<_> = cases::all(&options.settings)
        .into_iter()
        .filter(|c| options.filters.is_empty() || options.filters.iter().any(|f| c.id.contains(f)))
        .collect();
    if options.list {
        for case in &cases {
            println!(
                "{}\n    sent:     {}\n    expected: {}",
                case.id, case.title, case.expectation
            );
        }
        println!("{} cases", cases.len());
        return ExitCode::SUCCESS;
    }

    // Dropped at the end of main, whatever happens: the server never outlives the run.
    let mut server = None;
    let target = match (&options.server_bin, &options.app) {
        (Some(bin), Some(app)) => {
            let user = options
                .server_user
                .clone()
                .or_else(|| server::running_as_root().then(|| "nobody".to_owned()));
            let max = options.settings.max_message_size;
            match ManagedServer::start(bin, app, max, user.as_deref(), options.tls) {
                Ok(started) => server.insert(started).target().clone(),
                Err(error) => {
                    eprintln!("rs-conformance: cannot start the server: {error}");
                    return ExitCode::from(2);
                }
            }
        }
        _ => match target_of(
            options.url.as_deref().unwrap_or_default(),
            options.ca.as_deref(),
        ) {
            Ok(target) => target,
            Err(error) => {
                eprintln!("rs-conformance: {error}");
                return ExitCode::from(2);
            }
        },
    };

    if server.is_none() {
        // A server started just before the runner may need a moment to listen.
        if let Err(error) = wait_until_reachable(&target, Duration::from_secs(10)) {
            eprintln!("rs-conformance: {error}");
            return ExitCode::from(2);
        }
    }

    println!(
        "RFC 6455 conformance: {} cases against {target}",
        cases.len()
    );
    let started = Instant::now();
    let verbose = options.verbose;
    let results = runner::run(&target, &cases, &options.config, &|result| {
        if verbose {
            println!("{}", report::line(result));
        }
    });
    let elapsed = started.elapsed();

    let alive = runner::run_one(&target, &alive_probe(), &options.config);
    let mut server_trouble = (alive.verdict == Verdict::Failed)
        .then(|| format!("the server does not answer after the run: {}", alive.detail));
    if let Some(Err(exited)) = server.as_mut().map(ManagedServer::check_running) {
        server_trouble = Some(exited);
    }

    let non_strict = report::non_strict(&results);
    if !non_strict.is_empty() {
        println!("\nNON-STRICT cases:\n{non_strict}");
    }
    let failures = report::failures(&results);
    if !failures.is_empty() {
        println!("\n{failures}");
    }
    println!("\n{}", report::table(&results));
    println!("{} cases in {:.1} s", results.len(), elapsed.as_secs_f64());
    let any_failed = results.iter().any(|r| r.verdict == Verdict::Failed);
    if let Some(trouble) = &server_trouble {
        println!("SERVER: {trouble}");
    }
    drop(server);
    if any_failed || server_trouble.is_some() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// The target of `--url`, trusting the CAs of `--ca` for `wss://`.
fn target_of(url: &str, ca: Option<&std::path::Path>) -> Result<Target, String> {
    let roots = match ca {
        Some(path) => tls::load_ca(path).map_err(|e| e.to_string())?,
        None => Vec::new(),
    };
    Target::parse_trusting(url, &roots).map_err(|e| e.to_string())
}

/// Connects (and disconnects) until the server accepts or `limit` passes.
fn wait_until_reachable(target: &Target, limit: Duration) -> Result<(), String> {
    let deadline = Instant::now() + limit;
    loop {
        match std::net::TcpStream::connect_timeout(&target.addr, limit) {
            Ok(_) => return Ok(()),
            Err(e) if Instant::now() >= deadline => {
                return Err(format!("cannot connect to {target} within {limit:?}: {e}"));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// A last echo, to notice a server that died or hangs after the cases.
fn alive_probe() -> rs_conformance::Case {
    rs_conformance::Case::new(
        "framing.alive-after-run",
        rs_conformance::Category::Framing,
        "a text message after every case ran",
        "the message echoed",
        |s| {
            s.send(&[rs_conformance::Frame::text("still there?")])?;
            s.expect_message(true, b"still there?")?;
            s.close_normally()
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_args(args: &[&str]) -> Result<Option<Options>, String> {
        parse(args.iter().map(|a| (*a).to_owned()))
    }

    #[test]
    fn a_url_or_a_server_to_start_is_required() {
        assert_eq!(
            parse_args(&[]).err().unwrap(),
            "give --url or --server-bin and --app"
        );
        assert_eq!(
            parse_args(&["--url", "ws://x/", "--app", "a.so"])
                .err()
                .unwrap(),
            "give either --url or --server-bin/--app, not both"
        );
        assert_eq!(
            parse_args(&["--server-bin", "ringsocket"]).err().unwrap(),
            "--server-bin and --app go together"
        );
        assert!(parse_args(&["--list"]).unwrap().is_some());
    }

    #[test]
    fn tls_options_go_with_their_mode() {
        assert_eq!(
            parse_args(&["--url", "ws://x/", "--tls"]).err().unwrap(),
            "--tls goes with --server-bin/--app; for --url give wss:// and --ca"
        );
        assert_eq!(
            parse_args(&["--url", "ws://x/", "--ca", "ca.pem"])
                .err()
                .unwrap(),
            "--ca goes with a wss:// --url (--tls makes its own CA)"
        );
        assert_eq!(
            parse_args(&["--server-bin", "b", "--app", "a", "--ca", "ca.pem"])
                .err()
                .unwrap(),
            "--ca goes with a wss:// --url (--tls makes its own CA)"
        );
        assert_eq!(
            parse_args(&["--url", "wss://x/"]).err().unwrap(),
            "a wss:// --url needs --ca PATH: the CA that signed the server's certificate"
        );
        let options = parse_args(&["--url", "wss://x/", "--ca", "ca.pem"])
            .unwrap()
            .unwrap();
        assert_eq!(options.ca, Some(PathBuf::from("ca.pem")));
        let options = parse_args(&["--server-bin", "b", "--app", "a", "--tls"])
            .unwrap()
            .unwrap();
        assert!(options.tls);
        assert_eq!(
            target_of(
                "wss://localhost/",
                Some(std::path::Path::new("/no/such/ca.pem"))
            )
            .err()
            .unwrap()
            .split(':')
            .next(),
            Some("CA file /no/such/ca.pem")
        );
    }

    #[test]
    fn numbers_must_be_positive_and_values_present() {
        assert_eq!(
            parse_args(&["--url", "ws://x/", "--jobs", "0"])
                .err()
                .unwrap(),
            "--jobs: \"0\" is not a positive whole number"
        );
        assert_eq!(parse_args(&["--url"]).err().unwrap(), "--url needs a value");
        assert_eq!(
            parse_args(&["--bogus"]).err().unwrap(),
            "unknown argument \"--bogus\""
        );
    }

    #[test]
    fn every_option_is_read() {
        let options = parse_args(&[
            "--server-bin",
            "bin",
            "--app",
            "app.so",
            "--server-user",
            "someone",
            "--max-message-size",
            "1000",
            "--jobs",
            "2",
            "--case-timeout",
            "7",
            "--fail-fast-window",
            "300",
            "--filter",
            "utf8.",
            "--filter",
            "close.",
            "--verbose",
        ])
        .unwrap()
        .unwrap();
        assert_eq!(options.server_bin, Some(PathBuf::from("bin")));
        assert_eq!(options.app, Some(PathBuf::from("app.so")));
        assert_eq!(options.server_user.as_deref(), Some("someone"));
        assert_eq!(options.settings.max_message_size, 1000);
        assert_eq!(options.config.jobs, 2);
        assert_eq!(options.config.case_timeout, Duration::from_secs(7));
        assert_eq!(options.config.fail_fast_window, Duration::from_millis(300));
        assert_eq!(options.filters, ["utf8.", "close."]);
        assert!(options.verbose && !options.list);
        assert!(parse_args(&["--help"]).unwrap().is_none());
    }
}
