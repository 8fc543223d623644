//! Configuration errors: one [`ConfigError`] per problem, all of a file's
//! problems collected in [`ConfigErrors`].

use std::fmt;
use std::path::{Path, PathBuf};

/// Which rule an error breaks. Lets callers and tests tell errors apart
/// without parsing messages; the message says the same thing for humans.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The file could not be read.
    Read,
    /// The file is larger than [`MAX_FILE_SIZE`](crate::MAX_FILE_SIZE).
    FileTooLarge,
    /// The file is not valid UTF-8.
    NotUtf8,
    /// The file is not valid JSON5.
    Syntax,
    /// Arrays and objects are nested deeper than
    /// [`MAX_NESTING`](crate::MAX_NESTING).
    NestingTooDeep,
    /// An object has the same key twice.
    DuplicateKey,
    /// An object has a key this configuration does not know.
    UnknownKey,
    /// A required key is absent.
    MissingKey,
    /// A value has the wrong JSON type.
    WrongType,
    /// A number is outside its allowed range (or not an integer).
    OutOfRange,
    /// An array that must have elements is empty, or has too many.
    ArrayLength,
    /// A string that must not be empty is empty or otherwise malformed.
    InvalidString,
    /// `log_level` is not one of the known levels.
    InvalidLogLevel,
    /// An `ip_addrs` element is not an IP address, or is listed twice.
    InvalidIpAddr,
    /// An `ip_addrs` element is of an IP family the port excludes.
    IpFamilyMismatch,
    /// `interface` is not a valid network interface name.
    InvalidInterface,
    /// A port has both `ip_addrs` and `interface`.
    IpAddrsWithInterface,
    /// A port combines IP family flags that contradict each other.
    ConflictingFamilyFlags,
    /// Two ports with the same number, or two addresses in one port's
    /// `ip_addrs`, listen on overlapping addresses (`0.0.0.0` takes
    /// `127.0.0.1`, say).
    DuplicatePort,
    /// `certs` is absent or empty although some port is encrypted.
    CertsRequired,
    /// A cert's hostname is not a valid hostname or wildcard.
    InvalidHostname,
    /// Two certs claim the same hostname.
    DuplicateHostname,
    /// Two apps have the same name.
    DuplicateAppName,
    /// An endpoint `url` is not a valid `ws://` or `wss://` URL.
    InvalidUrl,
    /// An endpoint's scheme does not match its port's `is_unencrypted`.
    SchemePortMismatch,
    /// An endpoint's port is not a configured `port_number`.
    UnconfiguredPort,
    /// A `wss://` endpoint's host is covered by no cert's `hostnames`.
    UncoveredHost,
    /// Two endpoints have the same URL.
    DuplicateUrl,
    /// An `allowed_origins` element is not a valid origin.
    InvalidOrigin,
    /// A `subprotocols` element is not an HTTP token, or appears twice.
    InvalidSubprotocol,
    /// An `app_headers` element is not an HTTP token, or appears twice.
    InvalidHeaderName,
    /// Two limits contradict each other (e.g. a frame chain limit smaller
    /// than the message size limit).
    InconsistentLimits,
    /// `user` is not a valid user name.
    InvalidUser,
    /// A file named by the configuration is missing or unreadable.
    FileNotUsable,
    /// A bug in this crate: validation failed without saying why.
    Internal,
}

/// Where in the file an error is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// The file as a whole (e.g. it cannot be read).
    File,
    /// A line and column (1-based), for syntax errors.
    Position {
        /// 1-based line.
        line: usize,
        /// 1-based column (in characters).
        column: usize,
    },
    /// A JSON path like `apps[0].endpoints[1].url`, or `(root)`.
    JsonPath(String),
}

/// One problem in a configuration file.
///
/// Displays as one line: the file, where in it, the offending value (when
/// there is one) and what is wrong including what would be valid, e.g.
/// `/etc/ringsocket.json: apps[0].endpoints[1].url: "wss://x.org:99/a": port 99 is not a configured port (configured: 8080, 443)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    file: PathBuf,
    place: Place,
    value: Option<String>,
    kind: ErrorKind,
    message: String,
}

impl ConfigError {
    pub(crate) fn new(
        file: &Path,
        place: Place,
        value: Option<String>,
        kind: ErrorKind,
        message: String,
    ) -> Self {
        Self {
            file: file.to_path_buf(),
            place,
            value,
            kind,
            message,
        }
    }

    /// The configuration file, as given by the caller.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// Where in the file the problem is.
    pub fn place(&self) -> &Place {
        &self.place
    }

    /// The JSON path of the offending value, if the error has one.
    pub fn json_path(&self) -> Option<&str> {
        match &self.place {
            Place::JsonPath(path) => Some(path),
            _ => None,
        }
    }

    /// The offending value rendered as JSON (cut when long), if any.
    pub fn value(&self) -> Option<&str> {
        self.value.as_deref()
    }

    /// Which rule is broken.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// What is wrong and what would be valid.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = self.file.display();
        match &self.place {
            Place::File => write!(f, "{file}: ")?,
            Place::Position { line, column } => write!(f, "{file}:{line}:{column}: ")?,
            Place::JsonPath(path) => write!(f, "{file}: {path}: ")?,
        }
        if let Some(value) = &self.value {
            write!(f, "{value}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Every problem found in one configuration file (never empty).
///
/// Displays one error per line, in file order as far as the checks allow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors {
    errors: Vec<ConfigError>,
}

impl ConfigErrors {
    /// A list of one.
    pub(crate) fn single(error: ConfigError) -> Self {
        Self {
            errors: vec![error],
        }
    }

    /// The individual errors.
    pub fn errors(&self) -> &[ConfigError] {
        &self.errors
    }

    /// How many errors there are (at least 1).
    pub fn len(&self) -> usize {
        self.errors.len()
    }

    /// Always false: a `ConfigErrors` holds at least one error.
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// The errors, by value.
    pub fn into_vec(self) -> Vec<ConfigError> {
        self.errors
    }
}

impl IntoIterator for ConfigErrors {
    type Item = ConfigError;
    type IntoIter = std::vec::IntoIter<ConfigError>;

    fn into_iter(self) -> Self::IntoIter {
        self.errors.into_iter()
    }
}

impl<'a> IntoIterator for &'a ConfigErrors {
    type Item = &'a ConfigError;
    type IntoIter = std::slice::Iter<'a, ConfigError>;

    fn into_iter(self) -> Self::IntoIter {
        self.errors.iter()
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Collects errors for one file while it is being checked.
pub(crate) struct Errors<'f> {
    file: &'f Path,
    list: Vec<ConfigError>,
}

impl<'f> Errors<'f> {
    pub(crate) fn new(file: &'f Path) -> Self {
        Self {
            file,
            list: Vec::new(),
        }
    }

    /// Records an error at a JSON path.
    pub(crate) fn at(
        &mut self,
        path: &crate::path::JsonPath,
        value: Option<String>,
        kind: ErrorKind,
        message: impl Into<String>,
    ) {
        self.list.push(ConfigError::new(
            self.file,
            Place::JsonPath(path.to_string()),
            value,
            kind,
            message.into(),
        ));
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub(crate) fn count(&self) -> usize {
        self.list.len()
    }

    /// `Ok(())` when nothing was recorded, else every recorded error.
    pub(crate) fn into_result(self) -> Result<(), ConfigErrors> {
        if self.list.is_empty() {
            Ok(())
        } else {
            Err(self.into_errors())
        }
    }

    /// The recorded errors; callers check [`is_empty`](Self::is_empty) first.
    pub(crate) fn into_errors(self) -> ConfigErrors {
        ConfigErrors { errors: self.list }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_file_path_value_and_message_on_one_line() {
        let e = ConfigError::new(
            Path::new("/etc/ringsocket.json"),
            Place::JsonPath("apps[0].endpoints[1].url".into()),
            Some("\"wss://x.org:99/a\"".into()),
            ErrorKind::UnconfiguredPort,
            "port 99 is not a configured port (configured: 8080, 443)".into(),
        );
        assert_eq!(
            e.to_string(),
            "/etc/ringsocket.json: apps[0].endpoints[1].url: \"wss://x.org:99/a\": port 99 is not a configured port (configured: 8080, 443)"
        );
    }

    #[test]
    fn displays_positions_like_a_compiler() {
        let e = ConfigError::new(
            Path::new("a.json5"),
            Place::Position { line: 3, column: 7 },
            None,
            ErrorKind::Syntax,
            "syntax error".into(),
        );
        assert_eq!(e.to_string(), "a.json5:3:7: syntax error");
    }
}
