//! The command line: `ringsocket [--check | --daemon [--pidfile PATH]] [CONFIG]`,
//! `--help`, `--version`. A handful of flags do not need an
//! argument-parsing library.

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;

/// What the user asked for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Command {
    /// Print the help text.
    Help,
    /// Print the version.
    Version,
    /// Validate the configuration (and the files it names), print a summary.
    Check(PathBuf),
    /// Run the server.
    Serve(ServeOptions),
}

/// How to run the server.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ServeOptions {
    /// The configuration file.
    pub(crate) config: PathBuf,
    /// Detach into the background (double fork, new session, syslog).
    pub(crate) daemon: bool,
    /// Where to write the process id, if anywhere.
    pub(crate) pidfile: Option<PathBuf>,
}

impl ServeOptions {
    /// These options with the configuration and pidfile paths made absolute
    /// against the current folder, as a daemon needs them: it moves to `/`,
    /// and later re-reads the configuration (SIGHUP) and removes the
    /// pidfile (at exit).
    pub(crate) fn absolute(&self) -> std::io::Result<Self> {
        Ok(Self {
            config: std::path::absolute(&self.config)?,
            daemon: self.daemon,
            pidfile: self.pidfile.as_ref().map(std::path::absolute).transpose()?,
        })
    }
}

/// The pidfile of `--daemon` when `--pidfile` is not given.
pub(crate) const DEFAULT_PIDFILE: &str = "/run/ringsocket.pid";

/// A command line that cannot be understood.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum CliError {
    /// An option this program does not have.
    UnknownOption(String),
    /// A second configuration path.
    ExtraArgument(String),
    /// An option that needs a value got none.
    MissingValue(&'static str),
    /// Options that do not go together.
    Conflict(&'static str, &'static str),
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::UnknownOption(o) => write!(f, "unknown option '{o}'"),
            CliError::MissingValue(o) => write!(f, "option '{o}' needs a value"),
            CliError::Conflict(a, b) => write!(f, "'{a}' and '{b}' cannot be used together"),
            CliError::ExtraArgument(a) => {
                write!(
                    f,
                    "unexpected argument '{a}': only one configuration file can be given"
                )
            }
        }
    }
}

impl std::error::Error for CliError {}

/// The help text, printed by `--help`.
pub(crate) fn help() -> String {
    format!(
        "\
RingSocket {version}: a WebSocket server for Linux whose backend logic runs as plugin apps.

Usage: ringsocket [--check] [CONFIG]
       ringsocket [--daemon] [--pidfile PATH] [CONFIG]

Arguments:
  CONFIG         the JSON5 configuration file (default: {default})

Options:
  --check        validate CONFIG and the files it names, print a summary and exit
                 (0 if valid; 2 with every error listed on stderr if not)
  -d, --daemon   run in the background: detach, log to syslog, write a pidfile
                 (default {pidfile}); errors found while starting still go to
                 stderr before detaching. Without it the server stays in the
                 foreground and logs to stderr (for systemd and development)
  --pidfile PATH write the process id to PATH (removed on exit, if the server
                 still may after switching user)
  -h, --help     print this help and exit
  -V, --version  print the version and exit

Relative paths in CONFIG resolve against CONFIG's folder.
Signals: SIGTERM/SIGINT shut down gracefully (a second one exits at once);
SIGHUP reloads log_level, the TLS certificates and the endpoints.
",
        version = env!("CARGO_PKG_VERSION"),
        default = rs_conf::DEFAULT_CONFIG_PATH,
        pidfile = DEFAULT_PIDFILE,
    )
}

/// Parses the arguments after the program name. `--help` and `--version`
/// win over everything else, as users expect from any position.
pub(crate) fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Command, CliError> {
    let mut check = false;
    let mut daemon = false;
    let mut pidfile: Option<PathBuf> = None;
    let mut config: Option<OsString> = None;
    let mut error = None;
    let mut options_ended = false;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let text = arg.to_string_lossy();
        let is_option = !options_ended && text.starts_with('-') && text != "-";
        if is_option {
            match text.as_ref() {
                "-h" | "--help" => return Ok(Command::Help),
                "-V" | "--version" => return Ok(Command::Version),
                "--check" => check = true,
                "-d" | "--daemon" => daemon = true,
                "--pidfile" => match args.next() {
                    // An empty path is no path (`--pidfile "$UNSET"`).
                    Some(path) if !path.is_empty() => pidfile = Some(PathBuf::from(path)),
                    _ => {
                        error.get_or_insert(CliError::MissingValue("--pidfile"));
                    }
                },
                "--pidfile=" => {
                    error.get_or_insert(CliError::MissingValue("--pidfile"));
                }
                other if other.starts_with("--pidfile=") => {
                    pidfile = Some(PathBuf::from(&other["--pidfile=".len()..]));
                }
                "--" => options_ended = true,
                other => {
                    error.get_or_insert(CliError::UnknownOption(other.to_owned()));
                }
            }
        } else if config.is_none() {
            config = Some(arg);
        } else {
            error.get_or_insert(CliError::ExtraArgument(text.into_owned()));
        }
    }
    if let Some(error) = error {
        return Err(error);
    }
    if check && daemon {
        return Err(CliError::Conflict("--check", "--daemon"));
    }
    // --check starts nothing, so it would write no pidfile.
    if check && pidfile.is_some() {
        return Err(CliError::Conflict("--check", "--pidfile"));
    }
    let config = config.map_or_else(
        || PathBuf::from(rs_conf::DEFAULT_CONFIG_PATH),
        PathBuf::from,
    );
    if check {
        return Ok(Command::Check(config));
    }
    if daemon && pidfile.is_none() {
        pidfile = Some(PathBuf::from(DEFAULT_PIDFILE));
    }
    Ok(Command::Serve(ServeOptions {
        config,
        daemon,
        pidfile,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_strs(args: &[&str]) -> Result<Command, CliError> {
        parse(args.iter().map(OsString::from))
    }

    fn serve(config: &str) -> Command {
        Command::Serve(ServeOptions {
            config: config.into(),
            daemon: false,
            pidfile: None,
        })
    }

    #[test]
    fn defaults_to_serving_the_default_path() {
        assert_eq!(parse_strs(&[]), Ok(serve(rs_conf::DEFAULT_CONFIG_PATH)));
    }

    #[test]
    fn check_takes_an_optional_path_in_any_order() {
        assert_eq!(
            parse_strs(&["--check"]),
            Ok(Command::Check(rs_conf::DEFAULT_CONFIG_PATH.into()))
        );
        assert_eq!(
            parse_strs(&["--check", "a.json"]),
            Ok(Command::Check("a.json".into()))
        );
        assert_eq!(
            parse_strs(&["a.json", "--check"]),
            Ok(Command::Check("a.json".into()))
        );
        assert_eq!(parse_strs(&["a.json"]), Ok(serve("a.json")));
    }

    #[test]
    fn a_daemon_gets_absolute_paths_from_relative_ones() {
        let options = ServeOptions {
            config: "conf/rs.json5".into(),
            daemon: true,
            pidfile: Some("rs.pid".into()),
        };
        let here = std::env::current_dir().unwrap();
        assert_eq!(
            options.absolute().unwrap(),
            ServeOptions {
                config: here.join("conf/rs.json5"),
                daemon: true,
                pidfile: Some(here.join("rs.pid")),
            }
        );
        let options = ServeOptions {
            config: "/etc/rs.json5".into(),
            daemon: true,
            pidfile: None,
        };
        assert_eq!(options.absolute().unwrap(), options);
    }

    #[test]
    fn help_and_version_win() {
        assert_eq!(parse_strs(&["--check", "x", "--help"]), Ok(Command::Help));
        assert_eq!(parse_strs(&["--bogus", "-h"]), Ok(Command::Help));
        assert_eq!(parse_strs(&["-V"]), Ok(Command::Version));
        assert_eq!(parse_strs(&["--version", "--help"]), Ok(Command::Version));
    }

    #[test]
    fn double_dash_ends_options() {
        assert_eq!(parse_strs(&["--", "--check"]), Ok(serve("--check")));
        assert_eq!(
            parse_strs(&["--check", "--", "-odd.json"]),
            Ok(Command::Check("-odd.json".into()))
        );
    }

    #[test]
    fn daemon_mode_takes_a_pidfile_or_uses_the_default() {
        let daemon = |pidfile: &str| {
            Command::Serve(ServeOptions {
                config: "a.json".into(),
                daemon: true,
                pidfile: Some(pidfile.into()),
            })
        };
        assert_eq!(
            parse_strs(&["--daemon", "a.json"]),
            Ok(daemon(DEFAULT_PIDFILE))
        );
        assert_eq!(
            parse_strs(&["-d", "--pidfile", "/tmp/p", "a.json"]),
            Ok(daemon("/tmp/p"))
        );
        assert_eq!(
            parse_strs(&["a.json", "--daemon", "--pidfile=/tmp/q"]),
            Ok(daemon("/tmp/q"))
        );
        assert_eq!(
            parse_strs(&["--pidfile", "/tmp/p", "a.json"]),
            Ok(Command::Serve(ServeOptions {
                config: "a.json".into(),
                daemon: false,
                pidfile: Some("/tmp/p".into())
            }))
        );
        for args in [
            &["--pidfile"][..],
            &["--pidfile", ""],
            &["-d", "--pidfile="],
        ] {
            assert_eq!(
                parse_strs(args),
                Err(CliError::MissingValue("--pidfile")),
                "{args:?}"
            );
        }
        assert_eq!(
            parse_strs(&["--check", "--daemon"]),
            Err(CliError::Conflict("--check", "--daemon"))
        );
        assert_eq!(
            parse_strs(&["--pidfile=x.pid", "--check"]),
            Err(CliError::Conflict("--check", "--pidfile"))
        );
    }

    #[test]
    fn refuses_unknown_options_and_extra_paths() {
        assert_eq!(
            parse_strs(&["--chek"]),
            Err(CliError::UnknownOption("--chek".into()))
        );
        assert_eq!(
            parse_strs(&["a", "b"]),
            Err(CliError::ExtraArgument("b".into()))
        );
        assert_eq!(
            CliError::ExtraArgument("b".into()).to_string(),
            "unexpected argument 'b': only one configuration file can be given"
        );
    }
}
