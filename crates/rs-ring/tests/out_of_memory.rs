//! A ring that must grow when memory is out aborts, as `Vec` does. It used
//! to report `Full`, which tells the producer to wait for the consumer:
//! for a message larger than the current buffer no wait helps, and a
//! producer that retries (as an app thread does) hung for good.
//!
//! Its own test binary: it installs an allocator that refuses large
//! allocations on demand, and runs the aborting case in a child process.

use std::alloc::{GlobalAlloc, Layout, System};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};

use rs_ring::{RingConfig, ring};

/// Refuses allocations of 4 KiB or more while `REFUSING` is set.
struct Refusing;

static REFUSING: AtomicBool = AtomicBool::new(false);

impl Refusing {
    fn refuses(layout: Layout) -> bool {
        REFUSING.load(Ordering::Relaxed) && layout.size() >= 4096
    }
}

// SAFETY: forwards to the system allocator, or returns null, which the
// `GlobalAlloc` contract allows for a failed allocation.
unsafe impl GlobalAlloc for Refusing {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if Self::refuses(layout) {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller keeps `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if Self::refuses(layout) {
            return std::ptr::null_mut();
        }
        // SAFETY: as in `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` with this layout (null is never
        // handed out, so never freed).
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Refusing = Refusing;

const CHILD: &str = "RS_RING_OUT_OF_MEMORY_CHILD";

#[test]
fn a_growth_without_memory_aborts_rather_than_say_full() {
    if std::env::var_os(CHILD).is_some() {
        // A 5,000-byte message for a 1 KiB ring that may grow to 1 MiB:
        // only a larger buffer (8 KiB) can take it.
        let (mut producer, _consumer) = ring(RingConfig::new(1024).max_capacity(1 << 20), None);
        let message = vec![7u8; 5000];
        REFUSING.store(true, Ordering::Relaxed);
        let result = producer.push(&message);
        REFUSING.store(false, Ordering::Relaxed);
        println!("push returned {result:?}");
        return;
    }
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_growth_without_memory_aborts_rather_than_say_full",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stdout.contains("push returned"),
        "the push returned: {stdout}"
    );
    assert!(
        stderr.contains("memory allocation of 8192 bytes failed"),
        "{:?}\n{stderr}",
        output.status
    );
    // SIGABRT (6 on Linux), which `handle_alloc_error` ends the process with.
    use std::os::unix::process::ExitStatusExt as _;
    assert_eq!(output.status.signal(), Some(6), "{stderr}");
}
