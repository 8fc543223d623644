//! The command line: `--port N` (required) and `--threads N` (default 1).

use std::fmt;

/// The usage text, printed with `--help` and after a usage error.
pub(crate) const USAGE: &str = "\
options:
  --port N      listen on 127.0.0.1:N (required)
  --threads N   tokio worker threads (default 1)
  --help        this text
";

/// What the command line asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// The port to listen on, on `127.0.0.1`.
    pub port: u16,
    /// The number of tokio worker threads.
    pub threads: usize,
}

/// A command line that cannot be run, or `--help`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UsageError {
    /// `--help` was given.
    Help,
    /// What is wrong with the arguments.
    Invalid(String),
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Help => f.write_str(USAGE),
            Self::Invalid(why) => write!(f, "{why}\n{USAGE}"),
        }
    }
}

impl std::error::Error for UsageError {}

impl Options {
    /// Parses the arguments after the program name.
    ///
    /// ```
    /// use peer_common::{Options, UsageError};
    ///
    /// let options = Options::parse(["--port", "8080"].map(String::from)).unwrap();
    /// assert_eq!(options.threads, 1);
    /// assert!(matches!(Options::parse(Vec::new()), Err(UsageError::Invalid(_))));
    /// ```
    pub fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Self, UsageError> {
        let invalid = |why: String| UsageError::Invalid(why);
        let mut args = args.into_iter();
        let mut port = None;
        let mut threads = 1usize;
        while let Some(arg) = args.next() {
            let mut value = |name: &str| {
                args.next()
                    .ok_or_else(|| invalid(format!("{name} needs a value")))
            };
            match arg.as_str() {
                "--help" | "-h" => return Err(UsageError::Help),
                "--port" => {
                    let v = value("--port")?;
                    port =
                        Some(v.parse().ok().filter(|&p: &u16| p > 0).ok_or_else(|| {
                            invalid(format!("--port {v:?}: expected 1 to 65535"))
                        })?);
                }
                "--threads" => {
                    let v = value("--threads")?;
                    threads =
                        v.parse().ok().filter(|&t: &usize| t > 0).ok_or_else(|| {
                            invalid(format!("--threads {v:?}: expected at least 1"))
                        })?;
                }
                other => return Err(invalid(format!("unexpected argument {other:?}"))),
            }
        }
        let port = port.ok_or_else(|| invalid("--port is required".into()))?;
        Ok(Self { port, threads })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Options, UsageError> {
        Options::parse(args.iter().map(|a| a.to_string()))
    }

    #[test]
    fn port_and_threads_are_read() {
        assert_eq!(
            parse(&["--threads", "3", "--port", "443"]),
            Ok(Options {
                port: 443,
                threads: 3
            })
        );
    }

    #[test]
    fn threads_default_to_one() {
        assert_eq!(parse(&["--port", "1"]).map(|o| o.threads), Ok(1));
    }

    #[test]
    fn help_is_not_an_error_message() {
        assert_eq!(parse(&["--port", "1", "--help"]), Err(UsageError::Help));
    }

    #[test]
    fn bad_values_are_refused() {
        for args in [
            &["--port", "0"][..],
            &["--port", "65536"],
            &["--port", "x"],
            &["--port"],
            &["--port", "1", "--threads", "0"],
            &["--port", "1", "--bogus"],
            &[],
        ] {
            assert!(
                matches!(parse(args), Err(UsageError::Invalid(_))),
                "{args:?}"
            );
        }
    }
}
