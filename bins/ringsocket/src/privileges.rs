//! Dropping privileges once the ports are bound and the apps loaded: the
//! configured user and its group, no supplementary groups, no capabilities
//! in any set, no_new_privs; and the open-files limit from `fd_alloc_c`.

use std::ffi::CString;
use std::io;

/// File descriptors beyond the connections and the workers' own: standard
/// streams, the apps' own files, logging.
pub(crate) const RESERVED_FDS: u64 = 64;

/// Descriptors each worker holds whatever its connections: its epoll, its
/// eventfd, its two timers (the idle check and the ring trim) and a spare
/// (besides one listener per bound address).
pub(crate) const FDS_PER_WORKER: u64 = 5;

/// The user the server runs as.
#[derive(Debug, Clone)]
pub(crate) struct User {
    pub(crate) name: String,
    pub(crate) uid: libc::uid_t,
    pub(crate) gid: libc::gid_t,
}

/// Whether the process runs as root (and so must switch users).
pub(crate) fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Looks up `name` in the user database.
pub(crate) fn lookup_user(name: &str) -> Result<User, String> {
    let c_name =
        CString::new(name).map_err(|_| format!("user '{name}': the name contains a NUL byte"))?;
    let mut buffer = vec![0u8; 16 * 1024];
    // SAFETY: a zeroed passwd is a valid out-parameter for getpwnam_r.
    let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call; the buffer's length is given.
    let status = unsafe {
        libc::getpwnam_r(
            c_name.as_ptr(),
            &mut entry,
            buffer.as_mut_ptr().cast(),
            buffer.len(),
            &mut found,
        )
    };
    if status != 0 {
        return Err(format!(
            "user '{name}': {}",
            io::Error::from_raw_os_error(status)
        ));
    }
    if found.is_null() {
        return Err(format!(
            "user '{name}' (configuration key \"user\") does not exist: create it (see docs/operations.md) or name another user"
        ));
    }
    if entry.pw_uid == 0 {
        // Apps' callbacks never run as root: that is what the switch is for.
        return Err(format!(
            "user '{name}' (configuration key \"user\") is root (uid 0): name an \
             unprivileged user for the server to switch to"
        ));
    }
    Ok(User {
        name: name.to_owned(),
        uid: entry.pw_uid,
        gid: entry.pw_gid,
    })
}

/// Room above what `fd_alloc_c` needs that the open-files limits go to,
/// for the apps' files.
const HARD_LIMIT_HEADROOM: u64 = 65_536;

/// The hard open-files limit systemd gives services: the limits go at
/// least that far.
const SYSTEMD_HARD_LIMIT: u64 = 524_288;

/// The descriptors `fd_alloc_c` connections need with the workers' own
/// (`worker_fds`) and [`RESERVED_FDS`].
pub(crate) fn descriptors_needed(fd_alloc_c: usize, worker_fds: u64) -> u64 {
    fd_alloc_c as u64 + worker_fds + RESERVED_FDS
}

/// Sets `RLIMIT_NOFILE` for `needed` descriptors ([`descriptors_needed`]
/// by `fd_alloc_c`). Connections are counted and refused past `fd_alloc_c`
/// whatever the limit, so the limit only has to leave room: what
/// connections do not take is the apps' (a file or a socket per client,
/// say). The soft limit goes up to the hard limit, but not past `needed`
/// plus 64 Ki, or systemd's 512 Ki if more (what the process starts
/// inherits it: some programs close every descriptor up to it); it is
/// never lowered. As root the hard limit is raised first, if lower, to
/// that bound. Both stay within `fs.nr_open`. Where the hard limit is
/// below `needed` (not root, or root without `CAP_SYS_RESOURCE`, as in
/// many containers), the warning returned says what to change.
pub(crate) fn set_open_files_limit(
    needed: u64,
    fd_alloc_c: usize,
) -> Result<Option<String>, String> {
    let (soft, hard) = open_files_limit()?;
    let nr_open = nr_open();
    // A hard limit above fs.nr_open (lowered since it was set) could not
    // be set again.
    let hard = nr_open.map_or(hard, |most| hard.min(most));
    let bound = limit_bound(needed, nr_open);
    let hard = if hard < bound && is_root() && set_open_files(soft.min(bound), bound).is_ok() {
        bound
    } else {
        hard
    };
    let top = soft_limit(bound, soft, hard);
    set_open_files(top, hard).map_err(|e| format!("setrlimit(RLIMIT_NOFILE, {top}): {e}"))?;
    Ok((top < needed).then(|| {
        let (why, raise) = match nr_open.filter(|&nr_open| needed > nr_open) {
            Some(nr_open) => (
                format!(" (above fs.nr_open, {nr_open}, which caps every process)"),
                "raise fs.nr_open (sysctl) and the hard limit",
            ),
            None if is_root() => (
                " (root without CAP_SYS_RESOURCE cannot raise the hard limit)".to_owned(),
                "raise the hard limit (e.g. LimitNOFILE= in the systemd unit)",
            ),
            None => (
                String::new(),
                "raise the hard limit (e.g. LimitNOFILE= in the systemd unit)",
            ),
        };
        format!(
            "the open-files limit is {top}, below the {needed} that fd_alloc_c = {fd_alloc_c} \
             needs{why}: {raise} or lower fd_alloc_c"
        )
    }))
}

/// How far the open-files limits go for `needed` descriptors: 64 Ki more,
/// or 512 Ki if more, within `fs.nr_open` (if known).
fn limit_bound(needed: u64, nr_open: Option<u64>) -> u64 {
    let bound = needed
        .saturating_add(HARD_LIMIT_HEADROOM)
        .max(SYSTEMD_HARD_LIMIT);
    nr_open.map_or(bound, |most| bound.min(most))
}

/// The soft limit under `hard`: up to `bound`, never below the `soft`
/// one there was.
fn soft_limit(bound: u64, soft: u64, hard: u64) -> u64 {
    hard.min(bound).max(soft.min(hard))
}

/// A warning when the open-files limit leaves less room than `held`, the
/// descriptors the apps opened in their init and keep (a database pool,
/// say), beside the `needed` descriptors of `fd_alloc_c` connections: they
/// would take the place of connections. (The limit cannot be raised by
/// then: the server no longer has the privilege.)
pub(crate) fn app_files_warning(
    held: u64,
    needed: u64,
    fd_alloc_c: usize,
) -> Result<Option<String>, String> {
    let (soft, _) = open_files_limit()?;
    let room = soft.saturating_sub(needed);
    Ok((room < held).then(|| {
        format!(
            "the apps opened {held} files in their init, and the open-files limit ({soft}) \
             leaves room for only {room} of them beside fd_alloc_c = {fd_alloc_c} connections: \
             raise the hard limit (e.g. LimitNOFILE= in the systemd unit) or lower fd_alloc_c"
        )
    }))
}

/// `fs.nr_open`, the most descriptors any process may have open.
fn nr_open() -> Option<u64> {
    std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|text| text.trim().parse().ok())
}

/// The descriptors this process has open, or `None` without /proc.
pub(crate) fn open_descriptors() -> Option<u64> {
    // Less the one reading the folder.
    let count = std::fs::read_dir("/proc/self/fd").ok()?.count() as u64;
    Some(count.saturating_sub(1))
}

/// The soft and hard `RLIMIT_NOFILE`.
fn open_files_limit() -> Result<(u64, u64), String> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: a valid out-parameter.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(format!(
            "getrlimit(RLIMIT_NOFILE): {}",
            io::Error::last_os_error()
        ));
    }
    Ok((limit.rlim_cur, limit.rlim_max))
}

fn set_open_files(soft: u64, hard: u64) -> io::Result<()> {
    let limit = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: a valid, initialised rlimit.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Switches to `user` for good and drops every capability. Must run as
/// root, after [`forbid_new_privileges`]. (glibc changes the ids of every
/// thread of the process, not only the caller's.) A parent-death signal
/// the server was started with (`setpriv --pdeathsig`, a supervisor's
/// `prctl`) is kept: the kernel clears it when the user changes.
pub(crate) fn drop_to(user: &User) -> Result<(), String> {
    let death_signal = ParentDeathSignal::current();
    let fail = |what: &str| {
        format!(
            "cannot switch to user '{}': {what}: {}",
            user.name,
            io::Error::last_os_error()
        )
    };
    // SAFETY: setgroups with an empty list.
    if unsafe { libc::setgroups(0, std::ptr::null()) } != 0 {
        return Err(fail("setgroups"));
    }
    // SAFETY: plain integer arguments.
    if unsafe { libc::setresgid(user.gid, user.gid, user.gid) } != 0 {
        return Err(fail("setresgid"));
    }
    // SAFETY: plain integer arguments. Leaving uid 0 clears the effective and
    // permitted capability sets.
    if unsafe { libc::setresuid(user.uid, user.uid, user.uid) } != 0 {
        return Err(fail("setresuid"));
    }
    clear_capabilities().map_err(|e| format!("cannot drop capabilities: {e}"))?;
    // Regaining root must be impossible: check it (`lookup_user` refuses
    // uid 0 as the target).
    // SAFETY: setuid(0) only fails here, which is what is checked.
    if unsafe { libc::setuid(0) } == 0 {
        return Err(format!(
            "switched to user '{}' but could become root again",
            user.name
        ));
    }
    death_signal.restore();
    Ok(())
}

/// The signal this process gets when its parent dies (`PR_SET_PDEATHSIG`),
/// and that parent.
struct ParentDeathSignal {
    signal: libc::c_int,
    parent: libc::pid_t,
}

impl ParentDeathSignal {
    fn current() -> Self {
        let mut signal: libc::c_int = 0;
        // SAFETY: PR_GET_PDEATHSIG writes one c_int through the pointer,
        // which points at one.
        unsafe { libc::prctl(libc::PR_GET_PDEATHSIG, &mut signal as *mut libc::c_int) };
        // SAFETY: getppid has no preconditions.
        let parent = unsafe { libc::getppid() };
        Self { signal, parent }
    }

    /// Sets the signal again. If the parent died while it was cleared, no
    /// one will send it: the process sends it to itself. (Only the parent
    /// process's death is seen here, not that of the thread that started
    /// this one, which also sends the signal.)
    fn restore(&self) {
        if self.signal == 0 {
            return;
        }
        // SAFETY: prctl with integer arguments; a signal number read back
        // from the kernel is valid.
        unsafe {
            libc::prctl(
                libc::PR_SET_PDEATHSIG,
                self.signal as libc::c_ulong,
                0,
                0,
                0,
            )
        };
        // SAFETY: getppid has no preconditions.
        if unsafe { libc::getppid() } != self.parent {
            // To the process, as the kernel sends it: the shutdown signals
            // are blocked in every thread and taken by the signal thread's
            // sigwait, which would never see one raised for this thread.
            // SAFETY: kill on this process with a signal the kernel gave.
            unsafe { libc::kill(libc::getpid(), self.signal) };
        }
    }
}

/// Sets no_new_privs, empties the inheritable and ambient capability sets
/// and, as root, the bounding set, before anything else runs: nothing this
/// process executes can then gain privileges (a set-user-ID program would
/// otherwise give root back once the server has left it). All are per
/// thread and inherited by the threads started afterwards, including those
/// an app's library starts as it loads, which run before the server leaves
/// root. None takes away what the process holds now: it can still bind
/// ports, read keys and switch users.
pub(crate) fn forbid_new_privileges() -> io::Result<()> {
    // The bounding set can only shrink while CAP_SETPCAP is held (as root);
    // without it, there is nothing to gain from it either.
    if is_root() {
        for cap in 0..=last_capability() {
            // SAFETY: prctl with integer arguments; EINVAL for unknown
            // caps is fine.
            unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0) };
        }
    }
    // Leaving root empties the effective, permitted and ambient sets of
    // every thread, but not the inheritable set (a supervisor may have
    // filled it: setpriv --inh-caps, systemd's AmbientCapabilities=).
    set_capabilities(CapSets {
        inheritable: 0,
        ..get_capabilities()?
    })?;
    // SAFETY: prctl with integer arguments.
    if unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        )
    } != 0
    {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: prctl with integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Empties the effective and permitted sets (already empty after leaving
/// root) and the inheritable set. (no_new_privs, the ambient set and the
/// bounding set were dealt with from the start: [`forbid_new_privileges`].)
pub(crate) fn clear_capabilities() -> io::Result<()> {
    set_capabilities(CapSets::default())
}

/// The capability sets of the calling thread, one bit per capability
/// (capget/capset version 3: two 32-bit words per set).
#[derive(Clone, Copy, Default)]
struct CapSets {
    effective: u64,
    permitted: u64,
    inheritable: u64,
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const CAP_VERSION_3: u32 = 0x2008_0522;

fn get_capabilities() -> io::Result<CapSets> {
    let mut header = CapHeader {
        version: CAP_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: capget with a version-3 header and room for the two data
    // elements it writes.
    if unsafe { libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let join = |low: u32, high: u32| u64::from(low) | (u64::from(high) << 32);
    Ok(CapSets {
        effective: join(data[0].effective, data[1].effective),
        permitted: join(data[0].permitted, data[1].permitted),
        inheritable: join(data[0].inheritable, data[1].inheritable),
    })
}

fn set_capabilities(sets: CapSets) -> io::Result<()> {
    let mut header = CapHeader {
        version: CAP_VERSION_3,
        pid: 0,
    };
    let word = |set: u64, high: bool| if high { (set >> 32) as u32 } else { set as u32 };
    let data = [false, true].map(|high| CapData {
        effective: word(sets.effective, high),
        permitted: word(sets.permitted, high),
        inheritable: word(sets.inheritable, high),
    });
    // SAFETY: capset with a version-3 header and two data elements, as the
    // kernel expects; it only reads them.
    if unsafe { libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn last_capability() -> libc::c_ulong {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_limit_goes_to_the_hard_one_within_its_bound_and_is_never_lowered() {
        assert_eq!(limit_bound(4_160, Some(1 << 20)), 524_288);
        assert_eq!(limit_bound(1_000_000, Some(1 << 20)), 1 << 20);
        assert_eq!(limit_bound(1_000_000, None), 1_065_536);
        let bound = limit_bound(4_160, Some(1 << 20));
        // A unit's LimitNOFILE=65536, a shell's 1024:
        assert_eq!(soft_limit(bound, 1_024, 65_536), 65_536);
        // Docker's infinity (soft and hard ~1 Gi) is left as it is; a
        // hard one alone does not lift the soft one past the bound.
        assert_eq!(soft_limit(bound, 1 << 30, 1 << 30), 1 << 30);
        assert_eq!(soft_limit(bound, 1_024, 1 << 30), 524_288);
        // Below what connections need, the hard limit is all there is.
        assert_eq!(soft_limit(bound, 1_024, 2_000), 2_000);
    }

    #[test]
    fn files_beyond_the_room_the_limit_leaves_are_warned_about() {
        let (soft, _) = open_files_limit().unwrap();
        let needed = soft - 10;
        assert_eq!(app_files_warning(10, needed, 5).unwrap(), None);
        assert_eq!(
            app_files_warning(11, needed, 5).unwrap().unwrap(),
            format!(
                "the apps opened 11 files in their init, and the open-files limit ({soft}) leaves \
                 room for only 10 of them beside fd_alloc_c = 5 connections: raise the hard \
                 limit (e.g. LimitNOFILE= in the systemd unit) or lower fd_alloc_c"
            )
        );
        let warning = app_files_warning(1, soft + 1, 5).unwrap().unwrap();
        assert!(
            warning.contains("leaves room for only 0 of them"),
            "{warning}"
        );
    }
}
