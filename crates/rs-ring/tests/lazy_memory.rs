//! A ring takes memory as it is written, not as it is sized: the pages of a
//! large buffer are the kernel's zero pages until a record lands on them.
//! A ring that grew to its maximum (128 MiB for a RingSocket outbound ring)
//! used to take all of it at once, its producer stopped meanwhile to zero
//! it.
//!
//! Its own test binary: it measures the process's resident memory, which
//! other tests' threads would move (its own tests take turns).
#![cfg(target_os = "linux")]

use rs_ring::{RingConfig, ring};

/// Held by each test: one measures at a time.
static ALONE: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The process's resident memory, in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("a VmRSS line")
}

#[test]
fn a_large_ring_takes_memory_only_where_it_is_written() {
    let _alone = ALONE.lock().unwrap_or_else(|e| e.into_inner());
    let before = rss_kib();
    // (Growing into a larger segment is the same allocation.)
    let (mut producer, mut consumer) = ring(RingConfig::new(64 << 20), None);
    let sized = rss_kib().saturating_sub(before);
    assert!(sized < 4 << 10, "an empty 64 MiB ring took {sized} KiB");
    // A megabyte of messages takes about a megabyte.
    for _ in 0..1024 {
        producer.push(&[7; 1020]).unwrap();
    }
    producer.flush();
    while consumer.peek().is_some() {
        consumer.advance();
    }
    let written = rss_kib().saturating_sub(before);
    assert!(
        (1 << 10..3 << 10).contains(&written),
        "a 64 MiB ring took {written} KiB for a megabyte of messages"
    );
}

#[test]
fn a_ring_gives_its_memory_back_each_time_it_is_freed() {
    let _alone = ALONE.lock().unwrap_or_else(|e| e.into_inner());
    // glibc raises its threshold for mapping a block to the size of each
    // mapped block freed (up to 32 MiB): after one 16 MiB segment was
    // freed, the next came from its heap, and stayed there when freed.
    let write_through = |capacity: usize| {
        let (mut producer, mut consumer) = ring(RingConfig::new(capacity), None);
        for _ in 0..capacity / 1024 - 1 {
            producer.push(&[7; 1000]).unwrap();
            producer.flush();
            consumer.peek().unwrap();
            consumer.advance();
            consumer.release();
        }
    };
    let before = rss_kib();
    for round in 0..3 {
        write_through(16 << 20);
        let kept = rss_kib().saturating_sub(before);
        assert!(kept < 4 << 10, "freed 16 MiB ring {round} left {kept} KiB");
    }
}
