//! What `/proc` says about a process: CPU time and resident memory.

use std::fs;

use crate::error::LoadError;

/// Clock ticks per second in `/proc/<pid>/stat` (`USER_HZ`, fixed at 100 by
/// the kernel's ABI on x86 and ARM, whatever the kernel's own tick rate).
const USER_HZ: f64 = 100.0;

/// CPU time a process has used so far, in seconds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct CpuTime {
    /// In user space.
    pub(crate) user: f64,
    /// In the kernel on its behalf (system calls, and softirqs that ran in
    /// its context).
    pub(crate) system: f64,
}

/// `pid`'s CPU time (all threads), or this process's with `None`.
pub(crate) fn cpu_time(pid: Option<u32>) -> Result<CpuTime, LoadError> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/stat"),
        None => "/proc/self/stat".to_owned(),
    };
    let text = fs::read_to_string(&path).map_err(|source| LoadError::Proc {
        path: path.clone(),
        source,
    })?;
    parse_stat(&text).ok_or_else(|| LoadError::Proc {
        path,
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, "no utime/stime fields"),
    })
}

/// `utime` and `stime` (fields 14 and 15) from a `stat` line. The command
/// name in parentheses may hold spaces, so fields count from its `)`.
fn parse_stat(text: &str) -> Option<CpuTime> {
    let after_name = &text[text.rfind(')')? + 1..];
    let mut fields = after_name.split_ascii_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some(CpuTime {
        user: user as f64 / USER_HZ,
        system: system as f64 / USER_HZ,
    })
}

/// `pid`'s resident memory (`VmRSS`), in KiB.
pub(crate) fn vm_rss_kib(pid: u32) -> Result<u64, LoadError> {
    let path = format!("/proc/{pid}/status");
    let text = fs::read_to_string(&path).map_err(|source| LoadError::Proc {
        path: path.clone(),
        source,
    })?;
    parse_vm_rss(&text).ok_or_else(|| LoadError::Proc {
        path,
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, "no VmRSS line"),
    })
}

fn parse_vm_rss(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("VmRSS:"))?;
    line["VmRSS:".len()..]
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_count_from_the_end_of_the_name() {
        let line = "1234 (a) b (c) S 1 2 3 4 5 6 7 8 9 10 250 75 0 0 20 0 3 0";
        assert_eq!(
            parse_stat(line),
            Some(CpuTime {
                user: 2.5,
                system: 0.75
            })
        );
        assert_eq!(parse_stat("1234 (x) S 1 2"), None);
    }

    #[test]
    fn vm_rss_is_read_in_kib() {
        let status = "Name:\tringsocket\nVmPeak:\t  9000 kB\nVmRSS:\t    4321 kB\nThreads:\t3\n";
        assert_eq!(parse_vm_rss(status), Some(4321));
        assert_eq!(parse_vm_rss("Name:\tx\n"), None);
    }

    #[test]
    fn this_process_can_be_read() {
        assert!(cpu_time(None).is_ok());
        assert!(vm_rss_kib(std::process::id()).unwrap() > 0);
    }

    #[test]
    fn a_missing_process_is_an_error_naming_the_file() {
        let error = vm_rss_kib(u32::MAX).unwrap_err();
        assert!(
            error.to_string().starts_with("/proc/4294967295/status: "),
            "{error}"
        );
    }
}
