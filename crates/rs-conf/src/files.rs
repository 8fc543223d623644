//! The file-system check `ringsocket --check` adds to validation: every
//! path the configuration names is an existing, readable regular file.
//! Kept apart from parsing so validation stays pure (and testable without
//! the files); loading the apps and parsing the certificates happen at
//! startup, not here.

use std::fs::File;
use std::path::Path;

use crate::error::{ErrorKind, Errors};
use crate::model::Config;
use crate::path::JsonPath;
use crate::value::quote;

pub(crate) fn check(config: &Config, errs: &mut Errors<'_>) {
    let certs = JsonPath::root().key("certs");
    for (i, cert) in config.certs.iter().enumerate() {
        check_file(
            errs,
            &certs.index(i).key("privkey_path"),
            &cert.privkey_path,
        );
        check_file(
            errs,
            &certs.index(i).key("pubchain_path"),
            &cert.pubchain_path,
        );
    }
    let apps = JsonPath::root().key("apps");
    for (i, app) in config.apps.iter().enumerate() {
        check_file(errs, &apps.index(i).key("app_path"), &app.app_path);
    }
}

fn check_file(errs: &mut Errors<'_>, path: &JsonPath, file: &Path) {
    let problem = match std::fs::metadata(file) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some("no such file".to_owned()),
        Err(e) => Some(format!("cannot access the file: {e}")),
        Ok(m) if m.is_dir() => Some("is a directory; expected a regular file".to_owned()),
        Ok(m) if !m.is_file() => Some("is not a regular file".to_owned()),
        Ok(_) => File::open(file)
            .err()
            .map(|e| format!("cannot be opened for reading: {e}")),
    };
    if let Some(problem) = problem {
        errs.at(
            path,
            Some(quote(&file.to_string_lossy())),
            ErrorKind::FileNotUsable,
            format!("{problem} (relative paths resolve against the configuration file's folder)"),
        );
    }
}
