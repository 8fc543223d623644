//! The command line: `ringsocket [--check] [CONFIG]`, `--help`, `--version`.
//! Three flags do not need an argument-parsing library.

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
    /// Run the server with this configuration.
    Serve(PathBuf),
}

/// A command line that cannot be understood.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum CliError {
    /// An option this program does not have.
    UnknownOption(String),
    /// A second configuration path.
    ExtraArgument(String),
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::UnknownOption(o) => write!(f, "unknown option '{o}'"),
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

Arguments:
  CONFIG         the JSON5 configuration file (default: {default})

Options:
  --check        validate CONFIG and the files it names, print a summary and exit
                 (0 if valid; 2 with every error listed on stderr if not)
  -h, --help     print this help and exit
  -V, --version  print the version and exit

Relative paths in CONFIG resolve against CONFIG's folder.
",
        version = env!("CARGO_PKG_VERSION"),
        default = rs_conf::DEFAULT_CONFIG_PATH,
    )
}

/// Parses the arguments after the program name. `--help` and `--version`
/// win over everything else, as users expect from any position.
pub(crate) fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Command, CliError> {
    let mut check = false;
    let mut config: Option<OsString> = None;
    let mut error = None;
    let mut options_ended = false;
    for arg in args {
        let text = arg.to_string_lossy();
        let is_option = !options_ended && text.starts_with('-') && text != "-";
        if is_option {
            match text.as_ref() {
                "-h" | "--help" => return Ok(Command::Help),
                "-V" | "--version" => return Ok(Command::Version),
                "--check" => check = true,
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
    let config = config.map_or_else(
        || PathBuf::from(rs_conf::DEFAULT_CONFIG_PATH),
        PathBuf::from,
    );
    Ok(if check {
        Command::Check(config)
    } else {
        Command::Serve(config)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_strs(args: &[&str]) -> Result<Command, CliError> {
        parse(args.iter().map(OsString::from))
    }

    #[test]
    fn defaults_to_serving_the_default_path() {
        assert_eq!(
            parse_strs(&[]),
            Ok(Command::Serve(rs_conf::DEFAULT_CONFIG_PATH.into()))
        );
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
        assert_eq!(parse_strs(&["a.json"]), Ok(Command::Serve("a.json".into())));
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
        assert_eq!(
            parse_strs(&["--", "--check"]),
            Ok(Command::Serve("--check".into()))
        );
        assert_eq!(
            parse_strs(&["--check", "--", "-odd.json"]),
            Ok(Command::Check("-odd.json".into()))
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
