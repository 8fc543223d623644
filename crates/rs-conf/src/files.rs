//! The file-system check `ringsocket --check` adds to validation: every
//! path the configuration names is an existing, readable regular file.
//! Kept apart from parsing so validation stays pure (and testable without
//! the files); loading the apps and parsing the certificates happen at
//! startup, not here. Also how such a file is read ([`read_named_file`]).

use std::fs::{File, Metadata};
use std::io::{self, Read};
use std::path::Path;

use crate::error::{ErrorKind, Errors};
use crate::model::Config;
use crate::path::JsonPath;
use crate::value::quote;

pub(crate) fn check(config: &Config, errs: &mut Errors<'_>) {
    check_certs(config, errs);
    check_apps(config, errs);
}

/// The certs' files of [`check`].
pub(crate) fn check_certs(config: &Config, errs: &mut Errors<'_>) {
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
}

/// The apps' files of [`check`].
pub(crate) fn check_apps(config: &Config, errs: &mut Errors<'_>) {
    let apps = JsonPath::root().key("apps");
    for (i, app) in config.apps.iter().enumerate() {
        check_file(errs, &apps.index(i).key("app_path"), &app.app_path);
    }
}

fn check_file(errs: &mut Errors<'_>, path: &JsonPath, file: &Path) {
    let problem = match std::fs::metadata(file) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some("no such file".to_owned()),
        Err(e) => Some(format!("cannot access the file: {e}")),
        Ok(m) if !m.is_file() => Some(format!("is {}; expected a regular file", file_type(&m))),
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

/// Reads a file the configuration names (a TLS key or certificate chain),
/// of at most `max_len` bytes. What is not a regular file is refused before
/// it is opened: a FIFO would wait for a writer (for ever on a reload, and
/// the signals that stop the server with it), a device could be endless.
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let key = dir.path().join("key.pem");
/// std::fs::write(&key, "-----BEGIN PRIVATE KEY-----")?;
/// assert_eq!(rs_conf::read_named_file(&key, 1024)?.len(), 27);
/// let error = rs_conf::read_named_file(dir.path(), 1024).unwrap_err();
/// assert_eq!(error.to_string(), "a directory, not a regular file");
/// let error = rs_conf::read_named_file(&key, 10).unwrap_err();
/// assert_eq!(error.to_string(), "larger than the 10 bytes such a file may have");
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn read_named_file(path: &Path, max_len: u64) -> io::Result<Vec<u8>> {
    let not_a_file = |metadata: &Metadata| {
        (!metadata.is_file()).then(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{}, not a regular file", file_type(metadata)),
            )
        })
    };
    if let Some(error) = not_a_file(&std::fs::metadata(path)?) {
        return Err(error);
    }
    let file = open_nonblocking(path)?;
    // Again through the descriptor, in case the path changed in between.
    if let Some(error) = not_a_file(&file.metadata()?) {
        return Err(error);
    }
    let mut bytes = Vec::new();
    file.take(max_len.saturating_add(1))
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max_len {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("larger than the {max_len} bytes such a file may have"),
        ));
    }
    Ok(bytes)
}

/// Opens `path` for reading without waiting: a FIFO put there after it was
/// looked at opens at once (and is then refused), where a plain open
/// would wait for a writer. Reading a regular file is the same either way.
pub(crate) fn open_nonblocking(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    File::options()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
}

/// What a file that is not a regular one is, for an error message.
pub(crate) fn file_type(metadata: &Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let kind = metadata.file_type();
    if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a FIFO (named pipe)"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_char_device() || kind.is_block_device() {
        "a device"
    } else {
        "not a regular file"
    }
}
