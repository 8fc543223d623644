//! The RingSocket configuration: the JSON5 file an operator writes, read
//! into a validated, typed model the daemon, its workers and its apps use.
//!
//! * **Parsing.** JSON5 (comments, trailing commas, unquoted keys) through
//!   `serde_json5`, into a generic value tree, then read by hand so that
//!   *every* problem of a file is reported at once, not only the first.
//! * **Errors.** Each [`ConfigError`] names the file, the JSON path
//!   (`apps[0].endpoints[1].url`) or for syntax errors the line and column,
//!   the offending value and what would be valid. Unknown keys suggest the
//!   closest known one.
//! * **Defaults** are those of the RingSocket reference (see [`defaults`]);
//!   relative paths (`app_path`, `privkey_path`, `pubchain_path`) resolve
//!   against the configuration file's folder.
//! * **Validation** covers every rule of the reference and those it implies;
//!   [`Config::check_files`] adds the file-system check (named files exist
//!   and are readable) separately, so validation itself stays pure.
//!
//! The full reference of keys, defaults and rules is
//! `docs/configuration.md` in the repository.
//!
//! # Example
//!
//! ```
//! use rs_conf::{Config, Scheme};
//!
//! let text = r#"{
//!     // Comments are allowed.
//!     ports: [{ port_number: 8080, is_unencrypted: true }],
//!     apps: [{
//!         name: "echo",
//!         app_path: "/usr/local/lib/libecho.so",
//!         endpoints: [{ endpoint_id: 0, url: "ws://localhost:8080/echo" }],
//!     }],
//! }"#;
//! let config = Config::from_json5_str(text, "/etc/ringsocket.json")?;
//! let url = &config.apps[0].endpoints[0].url;
//! assert_eq!((url.scheme, url.host.as_str(), url.port, url.path.as_str()),
//!            (Scheme::Ws, "localhost", 8080, "/echo"));
//! assert_eq!(config.max_ws_msg_size, 16_777_216); // a default
//!
//! // All errors at once, one line each.
//! let bad = r#"{ ports: [{ port_numbr: 8080, is_unencrypted: true }], apps: [] }"#;
//! let errors = Config::from_json5_str(bad, "bad.json5").unwrap_err();
//! assert_eq!(errors.to_string(), "\
//! bad.json5: ports[0].port_numbr: unknown key in ports[0]; did you mean \"port_number\"?
//! bad.json5: ports[0]: missing required key \"port_number\" (an integer from 1 to 65535)
//! bad.json5: apps: []: must not be empty; expected a non-empty array of app objects");
//! # Ok::<(), rs_conf::ConfigErrors>(())
//! ```

pub mod defaults;
mod diff;
mod error;
mod extract;
mod files;
mod hint;
mod host;
mod model;
mod parse;
mod path;
mod rules;
mod source;
mod suggest;
mod url;
mod value;

use std::path::Path;

pub use error::{ConfigError, ConfigErrors, ErrorKind, Place};
pub use files::read_named_file;
pub use model::{AppConfig, CertConfig, Config, EndpointConfig, LogLevel, PortConfig};
pub use parse::{MAX_APP_HEADER_LEN, MAX_ENDPOINTS_PER_APP, MAX_SUBPROTOCOL_LEN};
pub use source::{MAX_FILE_SIZE, MAX_NESTING};
pub use url::{AllowedOrigin, EndpointUrl, Scheme, UrlError};

/// Where the daemon looks for its configuration when given no path.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/ringsocket.json";

impl Config {
    /// Reads and validates a configuration file. Does not check the files
    /// the configuration names; see [`check_files`](Self::check_files).
    ///
    /// ```no_run
    /// let config = rs_conf::Config::load(rs_conf::DEFAULT_CONFIG_PATH)?;
    /// println!("{} workers", config.effective_worker_c());
    /// # Ok::<(), rs_conf::ConfigErrors>(())
    /// ```
    pub fn load(file: impl AsRef<Path>) -> Result<Config, ConfigErrors> {
        let file = file.as_ref();
        let bytes = source::read_file(file).map_err(one)?;
        let value = source::parse_bytes(&bytes, file).map_err(one)?;
        from_value(&value, file)
    }

    /// Validates configuration text as if read from `file`: errors name
    /// `file`, and relative paths resolve against its folder. Reads nothing
    /// from disk.
    pub fn from_json5_str(text: &str, file: impl AsRef<Path>) -> Result<Config, ConfigErrors> {
        let file = file.as_ref();
        let value = source::parse_text(text, file).map_err(one)?;
        from_value(&value, file)
    }

    /// Checks that every `app_path`, `privkey_path` and `pubchain_path`
    /// names an existing, readable regular file; reports every one that
    /// does not.
    pub fn check_files(&self) -> Result<(), ConfigErrors> {
        let mut errs = error::Errors::new(&self.file);
        files::check(self, &mut errs);
        errs.into_result()
    }

    /// [`check_files`](Self::check_files) for the certs' files alone.
    pub fn check_cert_files(&self) -> Result<(), ConfigErrors> {
        let mut errs = error::Errors::new(&self.file);
        files::check_certs(self, &mut errs);
        errs.into_result()
    }

    /// [`check_files`](Self::check_files) for the apps' files alone.
    pub fn check_app_files(&self) -> Result<(), ConfigErrors> {
        let mut errs = error::Errors::new(&self.file);
        files::check_apps(self, &mut errs);
        errs.into_result()
    }
}

fn one(error: ConfigError) -> ConfigErrors {
    ConfigErrors::single(error)
}

fn from_value(value: &value::Value, file: &Path) -> Result<Config, ConfigErrors> {
    let mut errs = error::Errors::new(file);
    match parse::config_from_value(value, file, &mut errs) {
        Some(config) if errs.is_empty() => Ok(config),
        _ if !errs.is_empty() => Err(errs.into_errors()),
        // Every path that yields no config records why; this guards against
        // a missed case rather than handling an expected outcome.
        _ => Err(ConfigErrors::single(ConfigError::new(
            file,
            Place::File,
            None,
            ErrorKind::Internal,
            "the configuration could not be read (internal error; please report it)".to_owned(),
        ))),
    }
}
