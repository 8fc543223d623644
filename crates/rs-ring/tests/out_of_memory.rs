//! A ring that cannot get the memory to grow: a message the current buffer
//! can hold waits for the consumer (`Full`, then room once it has caught
//! up); for a larger one no wait would help, and a producer that retries
//! (as an app thread does) would hang for good, so the process aborts, as
//! `Vec` does.
//!
//! Its own test binary: it installs an allocator that refuses large
//! allocations on demand (on the thread that asks), and runs the aborting
//! case in a child process.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::process::Command;

use rs_ring::{PushError, RingConfig, ring};

/// Refuses allocations of 4 KiB or more on a thread while its `REFUSING`
/// is set (the other tests' threads allocate as usual).
struct Refusing;

thread_local! {
    static REFUSING: Cell<bool> = const { Cell::new(false) };
}

impl Refusing {
    fn refuses(layout: Layout) -> bool {
        layout.size() >= 4096 && REFUSING.try_with(Cell::get).unwrap_or(false)
    }
}

fn refusing(on: bool) {
    REFUSING.with(|r| r.set(on));
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
        refusing(true);
        let result = producer.push(&message);
        refusing(false);
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

#[test]
fn a_growth_without_memory_for_a_message_the_ring_can_hold_waits_for_room() {
    // Two 1,000-byte messages in a 4 KiB ring; a 3,000-byte one does not fit
    // the 2,080 bytes left at the end: it must go at the start, or in an
    // 8 KiB buffer the allocator refuses.
    let (mut producer, mut consumer) = ring(RingConfig::new(4096).max_capacity(1 << 20), None);
    let (first, second, large) = (vec![1; 1000], vec![2; 1000], vec![3; 3000]);
    producer.push(&first).unwrap();
    producer.push(&second).unwrap();
    producer.flush();
    assert_eq!(consumer.peek(), Some(&first[..]));
    consumer.advance();
    consumer.release();
    refusing(true);
    // It waits...
    assert_eq!(producer.push(&large), Err(PushError::Full { len: 3000 }));
    assert_eq!(consumer.peek(), Some(&second[..]));
    consumer.advance();
    assert_eq!(consumer.peek(), None);
    consumer.release();
    // ...and goes at the start of the buffer the ring had once the
    // consumer has caught up (before, it asked for memory again, for good).
    let pushed = producer.push(&large);
    refusing(false);
    assert_eq!(pushed, Ok(()));
    producer.flush();
    assert_eq!(consumer.peek(), Some(&large[..]));
    assert_eq!(producer.capacity(), 4096);
}
