//! Small two-thread runs of the ring, sized for Miri (data-race, weak-memory
//! and use-after-free checks on the segment bytes): growth and wrap with a
//! concurrent consumer, and the echo-by-reference hold protocol of the app
//! thread and the worker (holds lifted by a second ring's release) through a
//! growing inbound ring, so that held segments are freed while the other
//! thread may still read them if the protocol were wrong.
//!
//! `MIRIFLAGS="-Zmiri-many-seeds=0..8" cargo +nightly miri test -p rs-ring --test miri`
//! (a nightly toolchain with the miri component; also runs natively, in
//! well under a second). With the app side's holds taken out, Miri finds
//! the dangling reads here on some seeds.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rs_ring::{Parker, PushError, RingConfig, ring};

fn checksum(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5u32, |h, &b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// Loop bound: a stall fails instead of hanging (Miri's clock is virtual,
/// so a step count rather than a deadline).
const MAX_STEPS: u64 = 200_000;

#[test]
fn a_concurrent_consumer_sees_every_byte_across_wraps_and_growths() {
    const COUNT: u32 = 120;
    let (mut producer, mut consumer) =
        ring(RingConfig::new(64).max_capacity(512).publish_batch(3), None);
    let writer = std::thread::spawn(move || {
        let mut steps = 0u64;
        for i in 0..COUNT {
            let len = 4 + (i as usize * 7) % 60;
            loop {
                steps += 1;
                assert!(steps < MAX_STEPS, "producer stuck at {i}");
                match producer.reserve(len) {
                    Ok(mut m) => {
                        m[..4].copy_from_slice(&i.to_le_bytes());
                        for (k, b) in m[4..].iter_mut().enumerate() {
                            *b = (i as usize + k) as u8;
                        }
                        m.commit();
                        break;
                    }
                    Err(PushError::Full { .. }) => {
                        producer.flush();
                        std::thread::yield_now();
                    }
                    Err(e) => panic!("{e}"),
                }
            }
        }
        producer.flush();
    });
    let mut steps = 0u64;
    let mut i = 0u32;
    while i < COUNT {
        steps += 1;
        assert!(steps < MAX_STEPS, "consumer stuck at {i}");
        match consumer.peek() {
            Some(m) => {
                let len = 4 + (i as usize * 7) % 60;
                assert_eq!(m.len(), len);
                assert_eq!(&m[..4], &i.to_le_bytes());
                for (k, &b) in m[4..].iter().enumerate() {
                    assert_eq!(b, (i as usize + k) as u8);
                }
                consumer.advance();
                if i.is_multiple_of(2) {
                    consumer.release();
                }
                i += 1;
            }
            None => std::thread::yield_now(),
        }
    }
    writer.join().unwrap();
}

/// As `echo_by_reference` in stress.rs, at Miri scale: the worker pushes
/// messages on the inbound ring; the app holds some and hands their
/// address back on the outbound ring; the worker reads the held bytes
/// through that address, then releases the record; the app lifts a hold
/// once the outbound ring is released past it.
#[test]
fn held_bytes_lent_to_the_other_thread_stay_valid_through_growth() {
    const COUNT: u64 = 150;
    let parker = Parker::new();
    let (mut to_app, mut from_worker) =
        ring(RingConfig::new(64).max_capacity(1024), Some(parker.waker()));
    let (mut to_worker, mut from_app) = ring(RingConfig::new(128), None);
    let app_done = Arc::new(AtomicBool::new(false));
    let done = app_done.clone();
    let worker = std::thread::spawn(move || {
        let mut checked = 0u64;
        let mut seq = 0u64;
        let mut steps = 0u64;
        while seq < COUNT || !done.load(Ordering::Acquire) {
            steps += 1;
            assert!(steps < MAX_STEPS, "worker stuck at {seq}");
            if seq < COUNT {
                let len = 8 + (seq as usize * 13) % 90;
                match to_app.reserve(len) {
                    Ok(mut message) => {
                        message[..8].copy_from_slice(&seq.to_le_bytes());
                        for (k, b) in message[8..].iter_mut().enumerate() {
                            *b = (seq as usize ^ k) as u8;
                        }
                        message.commit();
                        seq += 1;
                        if seq.is_multiple_of(3) {
                            to_app.flush();
                        }
                    }
                    Err(PushError::Full { .. }) => {
                        to_app.flush();
                        to_app.wake_consumer();
                        std::thread::yield_now();
                    }
                    Err(e) => panic!("{e}"),
                }
            } else {
                to_app.flush();
                to_app.wake_consumer();
                std::thread::yield_now();
            }
            while let Some(record) = from_app.peek() {
                let ptr = std::ptr::with_exposed_provenance::<u8>(usize::from_ne_bytes(
                    record[..8].try_into().unwrap(),
                ));
                let len = usize::from_ne_bytes(record[8..16].try_into().unwrap());
                let sum = u32::from_ne_bytes(record[16..20].try_into().unwrap());
                // SAFETY: the app holds this message until this record is
                // released.
                let held = unsafe { std::slice::from_raw_parts(ptr, len) };
                assert_eq!(checksum(held), sum, "a held message changed");
                from_app.advance();
                checked += 1;
            }
            from_app.release();
        }
        to_app.flush();
        (to_app, checked)
    });
    let mut expected = 0u64;
    let mut holds: VecDeque<(u64, u64)> = VecDeque::new();
    let mut lent = 0u64;
    let mut steps = 0u64;
    while expected < COUNT {
        steps += 1;
        assert!(steps < MAX_STEPS, "app stuck at {expected}");
        let released = to_worker.released();
        while holds.front().is_some_and(|&(_, until)| until <= released) {
            holds.pop_front();
        }
        from_worker.set_hold(holds.front().map(|&(p, _)| p));
        let mut worked = false;
        for _ in 0..8 {
            let Some(message) = from_worker.peek() else {
                break;
            };
            worked = true;
            let seq = u64::from_le_bytes(message[..8].try_into().unwrap());
            assert_eq!(seq, expected, "lost or reordered");
            expected += 1;
            if holds.len() < 4 && seq.is_multiple_of(2) {
                let mut record = [0u8; 20];
                record[..8].copy_from_slice(&message.as_ptr().expose_provenance().to_ne_bytes());
                record[8..16].copy_from_slice(&message.len().to_ne_bytes());
                record[16..20].copy_from_slice(&checksum(message).to_ne_bytes());
                if to_worker.push(&record).is_ok() {
                    let until = to_worker.position();
                    let position = from_worker.hold_peeked().unwrap();
                    holds.push_back((position, until));
                    lent += 1;
                }
            }
            from_worker.advance();
        }
        from_worker.release();
        to_worker.flush();
        if !worked {
            std::thread::yield_now();
        }
    }
    // As the app thread does at its end: nothing lifts the holds, the
    // consumer is dropped while the worker may still read lent records.
    drop(from_worker);
    drop(to_worker);
    app_done.store(true, Ordering::Release);
    let (_to_app, checked) = worker.join().unwrap();
    assert!(checked > 0 && lent > 0);
}
