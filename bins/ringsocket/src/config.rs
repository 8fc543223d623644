//! Loading the configuration the way both `--check` and the server need it:
//! parsed, validated, and every file it names present and readable.

use std::path::Path;

use rs_conf::{Config, ConfigErrors};

/// Loads and fully checks a configuration file.
pub(crate) fn load_checked(path: &Path) -> Result<Config, ConfigErrors> {
    let config = Config::load(path)?;
    config.check_files()?;
    Ok(config)
}

/// Prints every error on stderr, one per line, then a count.
pub(crate) fn report(errors: &ConfigErrors) {
    report!("{errors}");
    let n = errors.len();
    report!(
        "ringsocket: {n} configuration error{}",
        if n == 1 { "" } else { "s" }
    );
}
