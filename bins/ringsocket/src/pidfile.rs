//! The pidfile: written at start, locked while the server serves (a
//! second server given the same pidfile is refused), removed at exit if
//! it is still this server's. Creating, replacing and removing it are
//! each done under its lock, so that two servers started at once with one
//! pidfile cannot both run.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A pidfile, removed when dropped (if the process still may).
pub(crate) struct PidFile {
    path: PathBuf,
    /// The pidfile, open and locked (`flock`) while the server serves: a
    /// second server given the same pidfile is refused instead of taking
    /// it over. Let go when shutdown begins, so that a new server may
    /// start while this one drains.
    lock: Option<File>,
}

impl PidFile {
    /// Writes this process's id to a new file at `path`, readable by all and
    /// owned by the starting user (root, usually): the server's user must
    /// not be able to write to it, or a compromised server could have root's
    /// `kill $(cat pidfile)` signal any process (in a folder the server's
    /// user may write to, it can still replace the file with one of its
    /// own, which start-stop-daemon and systemd refuse). The server removes
    /// it at exit if its folder lets the server's user do so.
    ///
    /// It is written as root, often in a folder the server's user may write
    /// to: a symbolic or hard link planted there must not make root write
    /// another file. So a previous file is removed only if it is a regular
    /// file with no other name, and the pidfile is created anew, never
    /// through a link.
    pub(crate) fn create(path: &Path) -> Result<PidFile, String> {
        let error = |e: io::Error| format!("pidfile {}: {e}", path.display());
        let link = || {
            format!(
                "pidfile {}: a symbolic link; remove it (the pidfile is never written through \
                 one)",
                path.display()
            )
        };
        let not_a_file = || {
            format!(
                "pidfile {}: not a regular file with one name (a device, a FIFO or a hard link \
                 to another file); remove it",
                path.display()
            )
        };
        let is_plain = |m: &std::fs::Metadata| m.file_type().is_file() && m.nlink() == 1;
        // Looked at before it is opened: opening a device can act on it (a
        // terminal would become the server's controlling terminal).
        match std::fs::symlink_metadata(path) {
            Ok(m) if m.file_type().is_symlink() => return Err(link()),
            Ok(m) if m.is_dir() => {
                return Err(format!(
                    "pidfile {}: a directory; give the path of a file (in it, say)",
                    path.display()
                ));
            }
            Ok(m) if !is_plain(&m) => return Err(not_a_file()),
            // A previous run's: made anew rather than written over, as it may
            // belong to another user (the server's, from a version that gave
            // it the pidfile, or planted), who could go on writing to it.
            // Unless a server still serves with it.
            Ok(_) => remove_previous(path)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(error(e)),
        }
        // A new file, never one put at the path in between (a link
        // included). Not blocking on a FIFO, nor taking a terminal.
        let mut file = File::options()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(path)
            .map_err(|e| match e.kind() {
                io::ErrorKind::AlreadyExists => format!(
                    "pidfile {}: made by another process as this one started (another server \
                     starting with it?); give this one a --pidfile of its own, or remove it",
                    path.display()
                ),
                _ => error(e),
            })?;
        // Locked at once, so that a server starting at the same time finds
        // it held, and still the file at the path once locked (that server
        // may have removed it first). Readable by all whatever the umask
        // (the server's user reads it before removing it at exit).
        lock_new(path, &file, LOOK_PATIENCE)?;
        let written = file
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .and_then(|()| file.set_len(0))
            .and_then(|()| file.write_all(format!("{}\n", std::process::id()).as_bytes()));
        if let Err(e) = written {
            // Not left naming no process, or a part of this one's id. (Still
            // this one's: locked, no other server removes it.)
            let _ = std::fs::remove_file(path);
            return Err(error(e));
        }
        *WRITTEN.lock().unwrap_or_else(|e| e.into_inner()) = Some(path.to_owned());
        Ok(PidFile {
            path: path.to_owned(),
            lock: Some(file),
        })
    }

    /// Lets go of the lock as shutdown begins: a new server may take the
    /// path while this one drains (the file stays until this one exits,
    /// and is left to the new one if it has written its own there).
    pub(crate) fn release(&mut self) {
        drop(self.lock.take());
    }
}

/// Takes `file`'s exclusive `flock`, or fails (`EWOULDBLOCK`) if another
/// open file description holds it.
fn flock_now(file: &File) -> io::Result<()> {
    // SAFETY: flock on a descriptor the caller owns; it only takes a lock.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// How long a new pidfile's lock is waited for: another server's look at
/// it takes microseconds.
const LOOK_PATIENCE: Duration = Duration::from_secs(1);

/// Locks `file`, just created at `path`, and checks that it is still the
/// file there. Another server starting with the same pidfile may have
/// opened it in the meantime to see whether a server holds it (it then
/// holds the lock for a moment: waited for up to `patience`), and found it
/// not held, removed it and made its own: that one runs, this one is
/// refused. Nothing at the path is removed on failure: it is the other
/// server's.
fn lock_new(path: &Path, file: &File, patience: Duration) -> Result<(), String> {
    lock_within(file, patience).map_err(|e| match e.kind() {
        io::ErrorKind::WouldBlock => format!(
            "pidfile {}: another process kept it locked as it was created (another server \
             starting with it?); give this one a --pidfile of its own",
            path.display()
        ),
        // No lock to be had (a file system without flock): not left
        // behind, where every later start would fail on it the same way.
        _ => {
            if is_at(path, file) {
                let _ = std::fs::remove_file(path);
            }
            format!("pidfile {}: cannot lock it: {e}", path.display())
        }
    })?;
    if is_at(path, file) {
        Ok(())
    } else {
        Err(started_at_once(path))
    }
}

/// Removes the previous pidfile at `path`, unless a server still serves
/// with it (and holds it locked). It is locked while it is checked to be
/// the file at the path and removed: a server starting at the same time
/// with the same pidfile, looking at it too, waits for that, then finds it
/// gone, and cannot remove what this one creates next. A file that cannot
/// be opened to find out is left alone (the start fails, saying why).
fn remove_previous(path: &Path) -> Result<(), String> {
    let error = |e: io::Error| format!("pidfile {}: {e}", path.display());
    let mut file = match open_to_look(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        // Made a symbolic link since it was looked at: removing the link
        // follows nothing.
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return std::fs::remove_file(path).map_err(error);
        }
        Err(e) => {
            return Err(format!(
                "pidfile {}: cannot open it to see whether a running server holds it: {e}; \
                 remove it, or give a --pidfile of its own",
                path.display()
            ));
        }
    };
    match lock_within(&file, LOOK_PATIENCE) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
            return Err(format!(
                "pidfile {}: a running server holds it{}; give this one a --pidfile of its own, \
                 or stop that one first",
                path.display(),
                named_in(&mut file)
            ));
        }
        Err(e) => return Err(error(e)),
    }
    if !is_at(path, &file) {
        return Err(started_at_once(path));
    }
    // The lock goes with `file`, once the path no longer leads to it.
    std::fs::remove_file(path).map_err(error)
}

/// The refusal of a server whose pidfile another server starting at the
/// same time took over.
fn started_at_once(path: &Path) -> String {
    format!(
        "pidfile {}: another server started with it at the same time{}; give this one a \
         --pidfile of its own",
        path.display(),
        locked_by_another(path).unwrap_or_default()
    )
}

/// Takes `file`'s exclusive `flock`, trying every millisecond for up to
/// `patience` while another open file description holds it.
fn lock_within(file: &File, patience: Duration) -> io::Result<()> {
    let give_up = Instant::now() + patience;
    loop {
        match flock_now(file) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < give_up => {
                std::thread::sleep(Duration::from_millis(1));
            }
            result => return result,
        }
    }
}

/// Whether `file` is still the file at `path`.
fn is_at(path: &Path, file: &File) -> bool {
    let at_path = std::fs::symlink_metadata(path);
    file.metadata()
        .ok()
        .zip(at_path.ok())
        .is_some_and(|(f, p)| (f.dev(), f.ino()) == (p.dev(), p.ino()))
}

/// Opens the pidfile at `path` to read it: never through a link, never
/// blocking on a FIFO or taking a terminal.
fn open_to_look(path: &Path) -> io::Result<File> {
    File::options()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
}

/// " (pid N)" as the pidfile `file` names it, or "".
fn named_in(file: &mut File) -> String {
    let mut text = String::new();
    let _ = file.take(32).read_to_string(&mut text);
    match text.trim().parse::<u32>() {
        Ok(pid) => format!(" (pid {pid})"),
        Err(_) => String::new(),
    }
}

/// Whether a server holds the pidfile at `path` locked: " (pid N)" as it
/// names it (or "" if it names none), else `None`. A file that cannot be
/// opened to find out is not taken for a running server's.
fn locked_by_another(path: &Path) -> Option<String> {
    let mut file = open_to_look(path).ok()?;
    // The lock, if taken, goes with the descriptor.
    if flock_now(&file).is_ok() {
        return None;
    }
    Some(named_in(&mut file))
}

impl Drop for PidFile {
    fn drop(&mut self) {
        WRITTEN.lock().unwrap_or_else(|e| e.into_inner()).take();
        remove_if_ours(&self.path);
    }
}

/// The pidfile this process wrote, for [`remove_pidfile_now`].
static WRITTEN: Mutex<Option<PathBuf>> = Mutex::new(None);

/// Removes the pidfile this process wrote, if any and still its own: for
/// an exit that skips the [`PidFile`]'s drop (a second SIGTERM).
pub(crate) fn remove_pidfile_now() {
    if let Some(path) = WRITTEN.lock().unwrap_or_else(|e| e.into_inner()).take() {
        remove_if_ours(&path);
    }
}

/// Removes the pidfile at `path` unless it is another server's by now: a
/// server started while this one still drained (see docs/operations.md)
/// has made its own there, which it holds locked (or it holds this one's
/// while it removes it). Locked while it is checked and removed, as at
/// start.
fn remove_if_ours(path: &Path) {
    let shown = path.display();
    let mut file = match open_to_look(path) {
        Ok(file) => file,
        Err(e) => return log::debug!("cannot read the pidfile {shown}: {e}"),
    };
    if flock_now(&file).is_err() {
        return log::info!("the pidfile {shown} is another server's now: left in place");
    }
    if named_in(&mut file) != format!(" (pid {})", std::process::id()) {
        return log::info!("the pidfile {shown} names another process now: left in place");
    }
    if is_at(path, &file)
        && let Err(e) = std::fs::remove_file(path)
    {
        log::debug!("cannot remove the pidfile {shown}: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A new file at `path` with `text`, locked as a server holds its
    /// pidfile (or as one looks whether a server holds it).
    fn locked_file(path: &Path, text: &str) -> File {
        let mut file = File::create_new(path).unwrap();
        file.write_all(text.as_bytes()).unwrap();
        flock_now(&file).unwrap();
        file
    }

    /// Plays another server starting with the pidfile at `path`, while this
    /// one runs `step` on it: the other holds the file's lock (`held`),
    /// removes the file, makes its own (naming pid 4242) and lets go.
    /// `step` must refuse, naming the other, and leave its file in place.
    fn another_server_takes_it_during(
        path: &Path,
        held: File,
        step: impl FnOnce(&Path) -> Result<(), String> + Send + 'static,
    ) {
        let stepping = {
            let path = path.to_owned();
            std::thread::spawn(move || step(&path))
        };
        std::thread::sleep(Duration::from_millis(20));
        std::fs::remove_file(path).unwrap();
        let _theirs = locked_file(path, "4242\n");
        drop(held);
        let refused = stepping.join().unwrap().unwrap_err();
        // (A `step` that started late finds the other's file, held.)
        assert!(
            refused.contains("another server started with it at the same time (pid 4242)")
                || refused.contains("a running server holds it (pid 4242)"),
            "{refused}"
        );
        assert_eq!(std::fs::read_to_string(path).unwrap(), "4242\n");
    }

    #[test]
    fn a_pidfile_another_server_took_as_it_was_created_is_left_to_that_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ringsocket.pid");
        // Made by this server; before it locks it, the other one opens it to
        // see whether a server holds it, and locks it for a moment.
        let ours = File::create_new(&path).unwrap();
        let look = File::open(&path).unwrap();
        flock_now(&look).unwrap();
        another_server_takes_it_during(&path, look, move |path| {
            lock_new(path, &ours, Duration::from_secs(10))
        });
    }

    #[test]
    fn a_previous_pidfile_another_server_is_replacing_is_left_to_that_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ringsocket.pid");
        // A previous run's, which the other server is looking at (locked
        // while it checks it and removes it).
        let previous = locked_file(&path, "1\n");
        another_server_takes_it_during(&path, previous, remove_previous);
    }

    #[test]
    fn at_exit_the_pidfile_is_removed_only_if_still_this_ones_and_free() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ringsocket.pid");
        let ours = format!("{}\n", std::process::id());
        // Held by a server that started while this one drained (looking
        // at it, or having made it its own): left.
        let held = locked_file(&path, &ours);
        remove_if_ours(&path);
        assert!(path.exists());
        drop(held);
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, "4242\n").unwrap();
        remove_if_ours(&path);
        assert!(path.exists(), "another process's");
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, &ours).unwrap();
        remove_if_ours(&path);
        assert!(!path.exists());
    }

    #[test]
    fn a_previous_pidfile_no_server_holds_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ringsocket.pid");
        std::fs::write(&path, "1\n").unwrap();
        remove_previous(&path).unwrap();
        assert!(!path.exists());
        // Gone already: nothing to do.
        remove_previous(&path).unwrap();
    }

    #[test]
    fn a_new_pidfile_kept_locked_by_another_process_is_refused_in_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ringsocket.pid");
        let ours = File::create_new(&path).unwrap();
        let _held = {
            let file = File::open(&path).unwrap();
            flock_now(&file).unwrap();
            file
        };
        let refused = lock_new(&path, &ours, Duration::from_millis(50)).unwrap_err();
        assert!(
            refused.contains("another process kept it locked"),
            "{refused}"
        );
        // Let go, it is taken: a third looker finds it held (empty yet).
        drop(_held);
        lock_new(&path, &ours, Duration::ZERO).unwrap();
        assert_eq!(locked_by_another(&path).as_deref(), Some(""));
    }
}
